/*
 * archive.c: OCI archives of local images (archive.h). Saving streams the
 * store's blob files into a tar; loading streams the tar's blobs into the
 * store (hashed on the way, renamed into place once they match), then
 * reads the layout's index from the store like a registry's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "agent/archive.h"
#include "agent/pull.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"
#include "core/banned.h"

#define OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define DOCKER_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"

/* qsort's comparison of an array of strings. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* --- save ----------------------------------------------------------------- */

static int add_bytes(struct archive *a, const char *name, const void *data, size_t len,
		     struct err *err)
{
	struct archive_entry *e = archive_entry_new();
	int r = 0;

	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		r = err_set(err, -EIO, E_SERVER, "writing %s: %s", name,
			    archive_error_string(a) ?: "tar error");
	archive_entry_free(e);
	return r;
}

static int add_dir(struct archive *a, const char *name, struct err *err)
{
	struct archive_entry *e = archive_entry_new();
	int r = 0;

	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = err_set(err, -EIO, E_SERVER, "writing %s: %s", name,
			    archive_error_string(a) ?: "tar error");
	archive_entry_free(e);
	return r;
}

static int add_blob(struct archive *a, const char *dir, const char *digest, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, name = BUF_INIT;
	struct archive_entry *e;
	struct stat sb;
	char chunk[65536];
	ssize_t n;
	int fd, r = 0;

	images_blob_path(dir, digest, &path);
	fd = open(buf_str(&path), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		r = err_set(err, -errno, E_CLIENT, "blob %s is missing from the store: %s", digest,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	buf_printf(&name, "blobs/sha256/%s", digest + 7);
	e = archive_entry_new();
	archive_entry_copy_pathname(e, buf_str(&name));
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, sb.st_size);
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = -EIO;
	archive_entry_free(e);
	while (r == 0 && (n = read(fd, chunk, sizeof(chunk))) > 0)
		if (archive_write_data(a, chunk, (size_t)n) != n)
			r = -EIO;
	close(fd);
	if (r < 0)
		return err_set(err, r, E_SERVER, "writing %s: %s", buf_str(&name),
			       archive_error_string(a) ?: "tar error");
	return 0;
}

int image_save(struct images *s, const char *const *refs, size_t n, int fd, struct err *err)
{
	_cleanup_json_ cJSON *index = cJSON_CreateObject(), *blobs = cJSON_CreateObject();
	cJSON *manifests;
	struct archive *a = NULL;
	const char *dir = images_dir(s);
	int r = 0;

	cJSON_AddNumberToObject(index, "schemaVersion", 2);
	cJSON_AddStringToObject(index, "mediaType", OCI_INDEX);
	manifests = cJSON_AddArrayToObject(index, "manifests");
	for (size_t i = 0; i < n; i++) {
		_cleanup_json_ cJSON *rec = NULL;
		_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
		cJSON *desc, *ann;
		const cJSON *layers;
		struct image_ref ref;
		char canonical[IMAGE_REF_STR_MAX];
		struct stat sb;

		r = image_record_get(s, refs[i], &rec, err);
		if (r < 0)
			return r;
		layers = json_arr(rec, "layers");
		if (!layers || !json_str(rec, "configDigest"))
			return err_set(err, -ENOENT, E_CLIENT,
				       "image %s has no blobs in this store (the agent pulled it): "
				       "pull it with `berth image pull` or build it to save it",
				       refs[i]);
		images_blob_path(dir, json_str(rec, "digest"), &path);
		if (stat(buf_str(&path), &sb) < 0)
			return err_set(err, -errno, E_CLIENT, "the manifest of %s is missing: %s",
				       refs[i], strerror(errno));
		r = fs_read_file(buf_str(&path), ARCHIVE_DOC_MAX, &data);
		if (r < 0)
			return err_set(err, r, E_CLIENT, "the manifest of %s: %s", refs[i],
				       strerror(-r));
		{
			_cleanup_json_ cJSON *m = cJSON_ParseWithLength(data.data, data.len);

			desc = cJSON_CreateObject();
			cJSON_AddStringToObject(desc, "mediaType",
						json_str(m, "mediaType") ?: OCI_MANIFEST);
		}
		cJSON_AddStringToObject(desc, "digest", json_str(rec, "digest"));
		cJSON_AddNumberToObject(desc, "size", (double)sb.st_size);
		if (!digest_valid(refs[i]) && image_ref_parse(refs[i], &ref, NULL) == 0 &&
		    ref.tag[0]) {
			image_ref_format(&ref, canonical);
			ann = cJSON_AddObjectToObject(desc, "annotations");
			cJSON_AddStringToObject(ann, "io.containerd.image.name", canonical);
			cJSON_AddStringToObject(ann, "org.opencontainers.image.ref.name", ref.tag);
		}
		cJSON_AddItemToArray(manifests, desc);
		json_set(blobs, json_str(rec, "digest"), cJSON_CreateTrue());
		json_set(blobs, json_str(rec, "configDigest"), cJSON_CreateTrue());
		for (const cJSON *l = layers->child; l; l = l->next)
			if (layer_digest_valid(json_str(l, "digest")))
				json_set(blobs, json_str(l, "digest"), cJSON_CreateTrue());
	}
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		r = err_set(err, -EIO, E_SERVER, "%s", archive_error_string(a) ?: "tar error");
		goto out;
	}
	{
		static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
		_cleanup_buf_ struct buf idx = BUF_INIT;

		json_print(&idx, index);
		r = add_bytes(a, "oci-layout", layout, strlen(layout), err);
		if (r == 0)
			r = add_bytes(a, "index.json", idx.data, idx.len, err);
		if (r == 0)
			r = add_dir(a, "blobs/", err);
		if (r == 0)
			r = add_dir(a, "blobs/sha256/", err);
	}
	/* cJSON keeps insertion order: sort the digests for a reproducible archive */
	{
		size_t nb = (size_t)cJSON_GetArraySize(blobs), i = 0;
		_cleanup_free_ const char **names = calloc(nb + 1, sizeof(char *));

		if (!names)
			abort();
		for (const cJSON *b = blobs->child; b; b = b->next)
			names[i++] = b->string;
		if (nb)
			qsort(names, nb, sizeof(char *), str_cmp);
		for (i = 0; r == 0 && i < nb; i++)
			r = add_blob(a, dir, names[i], err);
	}
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = err_set(err, -EIO, E_SERVER, "%s", archive_error_string(a) ?: "tar error");
out:
	archive_write_free(a);
	return r;
}

/* --- load ----------------------------------------------------------------- */

/* Stream the current entry of a into the store as blob hex, checked. */
static int take_blob(struct archive *a, const char *dir, const char *hex, struct err *err)
{
	_cleanup_buf_ struct buf tmp = BUF_INIT, final = BUF_INIT, bdir = BUF_INIT;
	char digest[DIGEST_SIZE], got[DIGEST_SIZE], rnd[17];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;
	EVP_MD_CTX *ctx;
	uint64_t total = 0;
	int fd, r = 0;

	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	if (!digest_valid(digest))
		return 0; /* not a blob name: skipped */
	buf_printf(&bdir, "%s/blobs/sha256", dir);
	r = fs_mkdir_p(buf_str(&bdir), 0700);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&bdir), strerror(-r));
	random_hex(rnd, 8);
	buf_printf(&tmp, "%s/.tmp-%s", buf_str(&bdir), rnd);
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&tmp), strerror(errno));
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (;;) {
		char chunk[65536];
		la_ssize_t n = archive_read_data(a, chunk, sizeof(chunk));

		if (n == 0)
			break;
		if (n < 0) {
			r = err_set(err, -EBADMSG, E_INVALID_PARAMETER, "blob %s: %s", digest,
				    archive_error_string(a) ?: "a broken tar");
			break;
		}
		total += (uint64_t)n;
		if (total > LAYER_MAX_BYTES) {
			r = err_set(err, -EFBIG, E_LIMIT_EXCEEDED,
				    "blob %s: larger than %llu bytes", digest,
				    (unsigned long long)LAYER_MAX_BYTES);
			break;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)n);
		if (write(fd, chunk, (size_t)n) != n) {
			r = err_set(err, -EIO, E_SERVER, "%s: %s", buf_str(&tmp), strerror(errno));
			break;
		}
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	digest_format(md, got);
	if (r == 0 && strcmp(got, digest))
		r = err_set(err, -EBADMSG, E_INVALID_PARAMETER,
			    "blob %s does not match its digest (its content is %s)", digest, got);
	if (r == 0 && fsync(fd) < 0)
		r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&tmp), strerror(errno));
	close(fd);
	images_blob_path(dir, digest, &final);
	if (r == 0 && rename(buf_str(&tmp), buf_str(&final)) < 0)
		r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&final), strerror(errno));
	if (r < 0)
		unlink(buf_str(&tmp));
	return r;
}

static cJSON *read_doc(const char *dir, const char *digest, const char *what, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	char got[DIGEST_SIZE];
	cJSON *doc;
	int r;

	if (!digest || !digest_valid(digest)) {
		err_set(err, -EINVAL, E_INVALID_PARAMETER, "a %s with a bad digest", what);
		return NULL;
	}
	images_blob_path(dir, digest, &path);
	r = fs_read_file(buf_str(&path), ARCHIVE_DOC_MAX, &data);
	if (r < 0) {
		err_set(err, r, E_INVALID_PARAMETER, "the archive lacks the %s %s", what, digest);
		return NULL;
	}
	/* the blob was checked as it came in; a blob already in the store was checked then */
	digest_sha256(data.data ? data.data : "", data.len, got);
	if (strcmp(got, digest)) {
		err_set(err, -EBADMSG, E_INVALID_PARAMETER, "the %s %s does not match its digest",
			what, digest);
		return NULL;
	}
	doc = cJSON_ParseWithLength(data.data ? data.data : "", data.len);
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		err_set(err, -EBADMSG, E_INVALID_PARAMETER, "the %s %s is not a JSON object", what,
			digest);
		return NULL;
	}
	return doc;
}

/* Record one image of the index: desc is its descriptor. */
static int load_image(struct images *s, const cJSON *desc, const char *name,
		      void (*loaded)(const char *, const char *, void *), void *ctx,
		      struct err *err)
{
	const char *dir = images_dir(s);
	char digest[DIGEST_SIZE];
	_cleanup_json_ cJSON *m = NULL, *config = NULL;
	const cJSON *layers, *ids, *l, *d;
	uint64_t size = 0;
	int r;

	snprintf(digest, sizeof(digest), "%s", json_str(desc, "digest") ?: "");
	m = read_doc(dir, digest, "manifest", err);
	for (int depth = 0; m && json_arr(m, "manifests"); depth++) {
		const char *variant, *arch = pull_machine_arch(&variant);
		const char *mt;

		if (depth > 2) {
			err_set(err, -ELOOP, E_INVALID_PARAMETER, "image indexes nest too deep");
			return err->code;
		}
		r = pull_select_platform(m, "linux", arch, variant, digest, &mt, err);
		if (r < 0)
			return r;
		cJSON_Delete(m);
		m = read_doc(dir, digest, "manifest", err);
	}
	if (!m)
		return err->code;
	config = read_doc(dir, json_str(json_obj(m, "config"), "digest"), "config", err);
	if (!config)
		return err->code;
	layers = json_arr(m, "layers");
	ids = json_arr(json_obj(config, "rootfs"), "diff_ids");
	if (!layers || !ids || cJSON_GetArraySize(layers) != cJSON_GetArraySize(ids) ||
	    cJSON_GetArraySize(layers) > (int)PULL_MAX_LAYERS)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "image %s: its manifest's layers and its config's diff_ids differ",
			       digest);
	for (l = layers->child, d = ids->child; l && d; l = l->next, d = d->next) {
		_cleanup_buf_ struct buf path = BUF_INIT;
		struct layer_unpack_opts uo = { .diff_id = d->valuestring,
						.digest = json_str(l, "digest") };

		if (!cJSON_IsString(d) || !layer_digest_valid(d->valuestring) || !uo.digest ||
		    !layer_digest_valid(uo.digest))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "image %s: a layer with a bad digest", digest);
		images_blob_path(dir, uo.digest, &path);
		if (access(buf_str(&path), F_OK) < 0)
			return err_set(err, -ENOENT, E_INVALID_PARAMETER,
				       "image %s: the archive lacks layer %s", digest, uo.digest);
		r = layer_unpack_file(dir, buf_str(&path), &uo, NULL, err);
		if (r < 0)
			return err_wrap(err, "image %s", digest);
		size += (uint64_t)json_int(l, "size", 0);
	}
	{
		struct image_local img = {
			.digest = digest,
			.config_digest = json_str(json_obj(m, "config"), "digest"),
			.config = config,
			.diff_ids = ids,
			.layers = layers,
			.size = size,
		};

		r = image_add_local(s, name, &img, err);
	}
	if (r == 0 && loaded)
		loaded(name, digest, ctx);
	return r;
}

/* The name an index entry gives its image: a whole reference, or NULL. */
static const char *entry_name(const cJSON *desc)
{
	const cJSON *ann = json_obj(desc, "annotations");
	const char *n = json_str(ann, "io.containerd.image.name");
	struct image_ref ref;

	if (!n) {
		n = json_str(ann, "org.opencontainers.image.ref.name");
		/* a bare tag ("latest") is not a name */
		if (n && !strchr(n, '/') && !strchr(n, ':'))
			n = NULL;
	}
	if (n && image_ref_parse(n, &ref, NULL) < 0)
		n = NULL;
	return n;
}

int image_load(struct images *s, int fd, const char *name,
	       void (*loaded)(const char *ref, const char *digest, void *ctx), void *ctx,
	       struct err *err)
{
	_cleanup_buf_ struct buf index_data = BUF_INIT;
	_cleanup_json_ cJSON *index = NULL;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	const cJSON *ms;
	bool layout = false;
	int ar, r = 0, n = 0, hold = image_hold(s, err);

	if (hold < 0) {
		archive_read_free(a);
		return hold;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "not an OCI archive: %s",
			    archive_error_string(a) ?: "not a tar");
		goto out;
	}
	while (r == 0 && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e);

		while (p && (p[0] == '.' && p[1] == '/'))
			p += 2;
		if (!p || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (!strcmp(p, "index.json") || !strcmp(p, "oci-layout")) {
			_cleanup_buf_ struct buf doc = BUF_INIT;
			char chunk[65536];
			la_ssize_t k;

			while ((k = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
				buf_append(&doc, chunk, (size_t)k);
				if (doc.len > ARCHIVE_DOC_MAX) {
					r = err_set(err, -EFBIG, E_INVALID_PARAMETER,
						    "%s is larger than %u bytes", p,
						    ARCHIVE_DOC_MAX);
					break;
				}
			}
			if (r == 0 && k < 0)
				r = err_set(err, -EBADMSG, E_INVALID_PARAMETER, "%s: %s", p,
					    archive_error_string(a) ?: "a broken tar");
			if (r == 0 && !strcmp(p, "oci-layout")) {
				_cleanup_json_ cJSON *l =
					cJSON_ParseWithLength(doc.data ? doc.data : "", doc.len);

				if (!json_str(l, "imageLayoutVersion"))
					r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
						    "oci-layout has no imageLayoutVersion");
				layout = true;
			} else if (r == 0) {
				buf_reset(&index_data);
				buf_append(&index_data, doc.data ? doc.data : "", doc.len);
			}
			continue;
		}
		if (!strncmp(p, "blobs/sha256/", 13) && strlen(p + 13) == 64)
			r = take_blob(a, images_dir(s), p + 13, err);
	}
	if (r < 0)
		goto out;
	if (ar != ARCHIVE_EOF) {
		r = err_set(err, -EBADMSG, E_INVALID_PARAMETER, "not an OCI archive: %s",
			    archive_error_string(a) ?: "a broken tar");
		goto out;
	}
	if (!layout || !index_data.data) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "not an OCI archive: %s is missing",
			    layout ? "index.json" : "oci-layout");
		goto out;
	}
	index = cJSON_ParseWithLength(index_data.data, index_data.len);
	ms = json_arr(index, "manifests");
	if (!ms || !ms->child) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "not an OCI archive: index.json lists no image");
		goto out;
	}
	if (name && ms->child->next) {
		r = err_set(
			err, -EINVAL, E_INVALID_PARAMETER,
			"the archive holds several images: a name for all of them is ambiguous");
		goto out;
	}
	for (const cJSON *d = ms->child; d && r == 0; d = d->next) {
		const char *mt = json_str(d, "mediaType");

		if (++n > ARCHIVE_MAX_IMAGES) {
			r = err_set(err, -E2BIG, E_LIMIT_EXCEEDED, "more than %d images",
				    ARCHIVE_MAX_IMAGES);
			break;
		}
		if (mt && strcmp(mt, OCI_MANIFEST) && strcmp(mt, OCI_INDEX) &&
		    strcmp(mt, DOCKER_LIST) &&
		    strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json"))
			continue; /* another artifact */
		r = load_image(s, d, name ? name : entry_name(d), loaded, ctx, err);
	}
out:
	archive_read_free(a);
	image_unhold(hold);
	return r;
}
