/*
 * images.c: repositories, manifests and tags (see images.h). A manifest's
 * bytes are a blob; the store says which repositories hold it
 * (ecr/manifest/NAME/DIGEST) and which tags name it (ecr/tag/NAME/TAG).
 *
 * Repository names hold '/', so the keys of repository "a" share a prefix
 * with those of "a/b": a scan over one repository's keys skips every key
 * with a '/' after the repository's prefix.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "registry/blobs.h"
#include "registry/images.h"
#include "core/banned.h"

/* Commit attempts before giving up when other writers keep winning. */
#define COMMIT_ATTEMPTS 16

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool registry_name_valid(const char *name)
{
	const char *p = name;
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > REGISTRY_NAME_MAX)
		return false;
	for (;;) {
		/* a component: alnum runs joined by '.', '_', '__' or dashes */
		if (!is_lower_alnum(*p))
			return false;
		while (is_lower_alnum(*p))
			p++;
		if (*p == '\0')
			return true;
		if (*p == '/') {
			p++;
			continue;
		}
		if (*p == '.')
			p++;
		else if (*p == '_')
			p += p[1] == '_' ? 2 : 1;
		else if (*p == '-')
			while (*p == '-')
				p++;
		else
			return false;
	}
}

bool registry_tag_valid(const char *tag)
{
	size_t i, n = tag ? strlen(tag) : 0;

	if (n == 0 || n > REGISTRY_TAG_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = tag[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (i > 0 && (c == '.' || c == '-'))))
			return false;
	}
	return true;
}

static int check_name(const char *name, struct err *err)
{
	if (!registry_name_valid(name))
		return err_set(err, -EINVAL, E_OCI_NAME_INVALID, "invalid repository name '%.300s'",
			       name ? name : "");
	return 0;
}

static void repo_key(struct buf *k, const char *name)
{
	buf_printf(k, "ecr/repo/%s", name);
}

/* The key of a repository's tag, manifest or blob link ("tag", "manifest", "blob"). */
static void item_key(struct buf *k, const char *kind, const char *repo, const char *item)
{
	buf_printf(k, "ecr/%s/%s/%s", kind, repo, item);
}

static int parse_doc(const struct buf *value, const char *what, cJSON **ret, struct err *err)
{
	cJSON *doc = cJSON_ParseWithLength(buf_str(value), value->len);

	if (!doc)
		return err_set(err, -EIO, E_SERVER, "%s is stored damaged", what);
	*ret = doc;
	return 0;
}

int registry_repo_load(const struct registry *r, const char *name, cJSON **ret_doc,
		       uint64_t *ret_version, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	int rc;

	if (!registry_name_valid(name))
		return err_set(err, -ENOENT, E_REPOSITORY_NOT_FOUND,
			       "The repository with name '%.300s' does not exist in the registry "
			       "with id '%s'",
			       name ? name : "", r->api->account_id);
	repo_key(&key, name);
	rc = store_get(r->api->store, buf_str(&key), &value, ret_version, err);
	if (rc == -ENOENT)
		rc = err_set(err, -ENOENT, E_REPOSITORY_NOT_FOUND,
			     "The repository with name '%s' does not exist in the registry with "
			     "id '%s'",
			     name, r->api->account_id);
	if (rc == 0 && ret_doc)
		rc = parse_doc(&value, "repository", ret_doc, err);
	buf_release(&key);
	buf_release(&value);
	return rc;
}

int registry_repo_create(struct registry *r, const char *name,
			 const struct registry_repo_options *opts, int64_t now_ms, cJSON **ret_doc,
			 struct err *err)
{
	static const struct registry_repo_options defaults = { 0 };
	struct store_txn t = STORE_TXN_INIT;
	struct buf key = BUF_INIT, s = BUF_INIT, value = BUF_INIT;
	const char *mutability, *enc;
	cJSON *doc, *o;
	int rc;

	rc = check_name(name, err);
	if (rc < 0)
		return rc;
	if (!opts)
		opts = &defaults;
	mutability = opts->image_tag_mutability ? opts->image_tag_mutability : "MUTABLE";
	enc = opts->encryption_type ? opts->encryption_type : "AES256";
	if (strcmp(mutability, "MUTABLE") && strcmp(mutability, "IMMUTABLE"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "imageTagMutability '%.64s' is not MUTABLE or IMMUTABLE",
			       mutability);
	if (strcmp(enc, "AES256") && strcmp(enc, "KMS"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "encryptionType '%.64s' is not AES256 or KMS", enc);

	doc = cJSON_CreateObject();
	buf_printf(&s, "arn:aws:ecr:%s:%s:repository/%s", r->api->region, r->api->account_id, name);
	cJSON_AddStringToObject(doc, "repositoryArn", buf_str(&s));
	cJSON_AddStringToObject(doc, "registryId", r->api->account_id);
	cJSON_AddStringToObject(doc, "repositoryName", name);
	buf_reset(&s);
	buf_printf(&s, "%s/%s", r->endpoint[0] ? r->endpoint : "localhost", name);
	cJSON_AddStringToObject(doc, "repositoryUri", buf_str(&s));
	cJSON_AddNumberToObject(doc, "createdAt", (double)now_ms);
	cJSON_AddStringToObject(doc, "imageTagMutability", mutability);
	o = cJSON_AddObjectToObject(doc, "imageScanningConfiguration");
	cJSON_AddBoolToObject(o, "scanOnPush", opts->scan_on_push);
	o = cJSON_AddObjectToObject(doc, "encryptionConfiguration");
	cJSON_AddStringToObject(o, "encryptionType", enc);
	if (opts->kms_key)
		cJSON_AddStringToObject(o, "kmsKey", opts->kms_key);
	cJSON_AddItemToObject(doc, "tags",
			      opts->tags ? cJSON_Duplicate(opts->tags, true) : cJSON_CreateArray());

	repo_key(&key, name);
	json_print(&value, doc);
	store_txn_check(&t, buf_str(&key), 0);
	store_txn_put(&t, buf_str(&key), value.data, value.len);
	rc = store_commit(r->api->store, &t, NULL, err);
	if (rc == -ECANCELED)
		rc = err_set(err, -EEXIST, E_REPOSITORY_ALREADY_EXISTS,
			     "The repository with name '%s' already exists in the registry with "
			     "id '%s'",
			     name, r->api->account_id);
	store_txn_release(&t);
	buf_release(&key);
	buf_release(&s);
	buf_release(&value);
	if (rc == 0 && ret_doc)
		*ret_doc = doc;
	else
		cJSON_Delete(doc);
	return rc;
}

int registry_repo_ensure(struct registry *r, const char *name, int64_t now_ms, struct err *err)
{
	int rc = registry_repo_load(r, name, NULL, NULL, err);

	if (rc != -ENOENT || !r->create_on_push)
		return rc;
	rc = check_name(name, err);
	if (rc < 0)
		return rc;
	rc = registry_repo_create(r, name, NULL, now_ms, NULL, err);
	return rc == -EEXIST ? 0 : rc; /* created by a concurrent push */
}

int registry_repo_update(struct registry *r, const char *name,
			 int (*edit)(cJSON *doc, void *arg, struct err *err), void *arg,
			 cJSON **ret_doc, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	int rc = 0, attempt;

	repo_key(&key, name);
	api_lock(buf_str(&key));
	for (attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct store_txn t = STORE_TXN_INIT;
		uint64_t version;
		cJSON *doc = NULL;

		rc = registry_repo_load(r, name, &doc, &version, err);
		if (rc == 0)
			rc = edit(doc, arg, err);
		if (rc == 0) {
			buf_reset(&value);
			json_print(&value, doc);
			store_txn_check(&t, buf_str(&key), version);
			store_txn_put(&t, buf_str(&key), value.data, value.len);
			rc = store_commit(r->api->store, &t, NULL, err);
			store_txn_release(&t);
		}
		if (rc == 0 && ret_doc)
			*ret_doc = doc;
		else
			cJSON_Delete(doc);
		if (rc != -ECANCELED)
			break;
	}
	api_unlock(buf_str(&key));
	buf_release(&key);
	buf_release(&value);
	return rc;
}

/* Keys of one repository: collects the keys directly under a prefix. */
struct key_list {
	size_t prefix_len;
	char **keys;
	size_t n, cap;
};

static int collect_key(void *ctx, const struct store_kv *kv)
{
	struct key_list *l = ctx;

	if (strchr(kv->key + l->prefix_len, '/'))
		return 0; /* a nested repository's */
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->keys = realloc(l->keys, l->cap * sizeof(*l->keys));
		if (!l->keys)
			abort();
	}
	l->keys[l->n] = strdup(kv->key);
	if (!l->keys[l->n])
		abort();
	l->n++;
	return 0;
}

static void key_list_release(struct key_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	memset(l, 0, sizeof(*l));
}

static int list_keys(const struct registry *r, const char *kind, const char *repo,
		     struct key_list *l, struct err *err)
{
	struct buf prefix = BUF_INIT;
	int rc;

	buf_printf(&prefix, "ecr/%s/%s/", kind, repo);
	l->prefix_len = prefix.len;
	rc = store_scan(r->api->store, buf_str(&prefix), NULL, collect_key, l, err);
	buf_release(&prefix);
	return rc;
}

int registry_repo_delete(struct registry *r, const char *name, bool force, cJSON **ret_doc,
			 struct err *err)
{
	static const char *kinds[] = { "manifest", "tag", "blob" };
	struct buf key = BUF_INIT;
	int rc = 0, attempt;

	repo_key(&key, name);
	api_lock(buf_str(&key));
	for (attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct store_txn t = STORE_TXN_INIT;
		struct key_list lists[3] = { 0 };
		uint64_t version;
		cJSON *doc = NULL;
		size_t i, j;

		rc = registry_repo_load(r, name, &doc, &version, err);
		for (i = 0; rc == 0 && i < ARRAY_SIZE(kinds); i++)
			rc = list_keys(r, kinds[i], name, &lists[i], err);
		if (rc == 0 && !force && lists[0].n > 0)
			rc = err_set(err, -ENOTEMPTY, E_REPOSITORY_NOT_EMPTY,
				     "The repository with name '%s' in registry with id '%s' "
				     "cannot be deleted because it still contains images",
				     name, r->api->account_id);
		if (rc == 0) {
			store_txn_check(&t, buf_str(&key), version);
			store_txn_delete(&t, buf_str(&key));
			for (i = 0; i < ARRAY_SIZE(kinds); i++)
				for (j = 0; j < lists[i].n; j++)
					store_txn_delete(&t, lists[i].keys[j]);
			rc = store_commit(r->api->store, &t, NULL, err);
		}
		store_txn_release(&t);
		for (i = 0; i < ARRAY_SIZE(kinds); i++)
			key_list_release(&lists[i]);
		if (rc == 0 && ret_doc)
			*ret_doc = doc;
		else
			cJSON_Delete(doc);
		if (rc != -ECANCELED)
			break;
	}
	api_unlock(buf_str(&key));
	buf_release(&key);
	return rc;
}

struct repo_scan {
	int (*fn)(void *ctx, const char *name, const cJSON *doc);
	void *ctx;
};

static int repo_scan_one(void *ctx, const struct store_kv *kv)
{
	struct repo_scan *s = ctx;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (!doc)
		return 0;
	return s->fn(s->ctx, kv->key + strlen("ecr/repo/"), doc);
}

int registry_repo_scan(const struct registry *r, const char *start_after,
		       int (*fn)(void *ctx, const char *name, const cJSON *doc), void *ctx,
		       struct err *err)
{
	struct repo_scan s = { fn, ctx };
	struct buf from = BUF_INIT;
	int rc;

	if (start_after)
		repo_key(&from, start_after);
	rc = store_scan(r->api->store, "ecr/repo/", start_after ? buf_str(&from) : NULL,
			repo_scan_one, &s, err);
	buf_release(&from);
	return rc;
}

/* A page of strings: n of them at most (n < 0: all), and whether more follow. */
struct page {
	cJSON *items;
	int64_t n, count;
	bool more;
};

static int page_add(struct page *p, const char *s)
{
	if (p->n >= 0 && p->count >= p->n) {
		p->more = true;
		return 1;
	}
	cJSON_AddItemToArray(p->items, cJSON_CreateString(s));
	p->count++;
	return 0;
}

static int catalog_one(void *ctx, const char *name, const cJSON *doc)
{
	(void)doc;
	return page_add(ctx, name);
}

int registry_catalog(const struct registry *r, const char *last, int64_t n, cJSON **ret_names,
		     bool *ret_more, struct err *err)
{
	struct page p = { cJSON_CreateArray(), n, 0, false };
	int rc = registry_repo_scan(r, last && *last ? last : NULL, catalog_one, &p, err);

	if (rc < 0) {
		cJSON_Delete(p.items);
		return rc;
	}
	*ret_names = p.items;
	if (ret_more)
		*ret_more = p.more;
	return 0;
}

/* Manifests */

/* What validation finds in a manifest. */
struct manifest_facts {
	char media_type[REGISTRY_MEDIA_TYPE_MAX];
	char artifact_type[REGISTRY_MEDIA_TYPE_MAX];
	bool is_index;
	uint64_t image_size;
	cJSON *references; /* [{"digest","size","manifest":bool}] */
};

static bool known_type(const char *t)
{
	return !strcmp(t, REGISTRY_MT_OCI_MANIFEST) || !strcmp(t, REGISTRY_MT_OCI_INDEX) ||
	       !strcmp(t, REGISTRY_MT_DOCKER_MANIFEST) || !strcmp(t, REGISTRY_MT_DOCKER_LIST);
}

/* Check one descriptor ({mediaType, digest, size}) and note it as a reference. */
static int check_descriptor(const cJSON *d, const char *where, bool manifest,
			    struct manifest_facts *f, struct err *err)
{
	const cJSON *size = json_get(d, "size");
	const char *digest = json_str(d, "digest"), *mt = json_str(d, "mediaType");
	const cJSON *urls = json_get(d, "urls");
	cJSON *ref;

	if (!cJSON_IsObject(d))
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID, "%s is not an object", where);
	if (!mt || !*mt || strlen(mt) >= REGISTRY_MEDIA_TYPE_MAX)
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID, "%s has no valid mediaType",
			       where);
	if (!digest || !registry_digest_valid(digest))
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "%s has digest '%.100s', not sha256:HEX", where,
			       digest ? digest : "");
	if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 9.0e15 ||
	    size->valuedouble != (double)(int64_t)size->valuedouble)
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID, "%s has no valid size", where);
	f->image_size += (uint64_t)size->valuedouble;
	/* foreign (non-distributable) layers live elsewhere: nothing to hold */
	if (!manifest && cJSON_IsArray(urls) && cJSON_GetArraySize(urls) > 0)
		return 0;
	ref = cJSON_CreateObject();
	cJSON_AddStringToObject(ref, "digest", digest);
	cJSON_AddNumberToObject(ref, "size", size->valuedouble);
	cJSON_AddBoolToObject(ref, "manifest", manifest);
	cJSON_AddItemToArray(f->references, ref);
	return 0;
}

/*
 * Validate a manifest's JSON against content_type. Fills f (whose
 * references the caller frees).
 */
static int manifest_check(const char *content_type, const char *data, size_t n,
			  struct manifest_facts *f, struct err *err)
{
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(data, n);
	const char *field_type, *type;
	const cJSON *v, *item;
	char ct[REGISTRY_MEDIA_TYPE_MAX], where[64];
	size_t len;
	int rc, i = 0;

	memset(f, 0, sizeof(*f));
	f->references = cJSON_CreateArray();
	ct[0] = '\0';
	if (content_type) {
		while (*content_type == ' ')
			content_type++;
		len = strcspn(content_type, "; ");
		if (len >= sizeof(ct))
			return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
				       "unsupported manifest media type");
		memcpy(ct, content_type, len);
		ct[len] = '\0';
	}
	if (!doc || !cJSON_IsObject(doc))
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "manifest is not a JSON object");
	v = json_get(doc, "schemaVersion");
	if (!cJSON_IsNumber(v) || v->valuedouble != 2)
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "manifest schemaVersion must be 2 (schema 1 is not supported)");
	field_type = json_str(doc, "mediaType");
	/* a generic Content-Type says nothing: go by the manifest itself */
	if (!strcmp(ct, "application/json") || !strcmp(ct, "application/octet-stream"))
		ct[0] = '\0';
	if (ct[0] && field_type && strcmp(ct, field_type) != 0)
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "manifest mediaType '%.100s' does not match Content-Type '%.100s'",
			       field_type, ct);
	type = ct[0] ? ct : field_type;
	if (!type)
		type = json_get(doc, "manifests") ? REGISTRY_MT_OCI_INDEX
						  : REGISTRY_MT_OCI_MANIFEST;
	if (!known_type(type))
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "unsupported manifest media type '%.100s'", type);
	/* Docker's types always carry their mediaType */
	if (!field_type &&
	    (!strcmp(type, REGISTRY_MT_DOCKER_MANIFEST) || !strcmp(type, REGISTRY_MT_DOCKER_LIST)))
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "a Docker manifest must name its mediaType");
	snprintf(f->media_type, sizeof(f->media_type), "%s", type);
	f->is_index =
		!strcmp(type, REGISTRY_MT_OCI_INDEX) || !strcmp(type, REGISTRY_MT_DOCKER_LIST);
	if (json_str(doc, "artifactType"))
		snprintf(f->artifact_type, sizeof(f->artifact_type), "%s",
			 json_str(doc, "artifactType"));

	if (f->is_index) {
		v = json_get(doc, "manifests");
		if (!cJSON_IsArray(v))
			return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
				       "an index must have a manifests array");
		cJSON_ArrayForEach(item, v) {
			snprintf(where, sizeof(where), "manifests[%d]", i++);
			rc = check_descriptor(item, where, true, f, err);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	v = json_get(doc, "config");
	if (!v)
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "a manifest must have a config");
	rc = check_descriptor(v, "config", false, f, err);
	if (rc < 0)
		return rc;
	if (!f->artifact_type[0] && !strcmp(type, REGISTRY_MT_OCI_MANIFEST) &&
	    strcmp(json_str(v, "mediaType"), "application/vnd.oci.image.config.v1+json") != 0)
		snprintf(f->artifact_type, sizeof(f->artifact_type), "%s",
			 json_str(v, "mediaType"));
	v = json_get(doc, "layers");
	if (!cJSON_IsArray(v))
		return err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
			       "a manifest must have a layers array");
	cJSON_ArrayForEach(item, v) {
		snprintf(where, sizeof(where), "layers[%d]", i++);
		rc = check_descriptor(item, where, false, f, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Every reference must be held by repo: blobs as blobs, children as manifests. */
static int check_references(const struct registry *r, const char *repo, const cJSON *refs,
			    struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	const cJSON *ref;
	int rc = 0;

	cJSON_ArrayForEach(ref, refs) {
		const char *digest = json_str(ref, "digest");
		bool manifest = json_bool(ref, "manifest", false);
		uint64_t want = (uint64_t)json_int(ref, "size", -1), have = 0;
		_cleanup_json_ cJSON *doc = NULL;

		buf_reset(&key);
		buf_reset(&value);
		if (manifest) {
			item_key(&key, "manifest", repo, digest);
			rc = store_get(r->api->store, buf_str(&key), &value, NULL, err);
			if (rc == 0) {
				doc = cJSON_ParseWithLength(buf_str(&value), value.len);
				have = (uint64_t)json_int(doc, "size", -1);
			}
		} else {
			rc = registry_blob_in_repo(r, repo, digest, &have, err);
		}
		if (rc == -ENOENT) {
			rc = err_set(err, -ENOENT, E_OCI_MANIFEST_BLOB_UNKNOWN,
				     "%s %s is unknown to repository '%s'",
				     manifest ? "manifest" : "blob", digest, repo);
		} else if (rc == 0 && have != want) {
			/* a descriptor's size is exact: clients check what they pull against it */
			rc = err_set(err, -EINVAL, E_OCI_MANIFEST_INVALID,
				     "the descriptor of %s says %llu bytes, but it has %llu",
				     digest, (unsigned long long)want, (unsigned long long)have);
		}
		if (rc < 0)
			break;
	}
	buf_release(&key);
	buf_release(&value);
	return rc;
}

static void image_from_doc(struct registry_image *img, const char *digest, const cJSON *doc)
{
	memset(img, 0, sizeof(*img));
	snprintf(img->digest, sizeof(img->digest), "%s", digest);
	snprintf(img->media_type, sizeof(img->media_type), "%s",
		 json_str(doc, "mediaType") ? json_str(doc, "mediaType") : "");
	snprintf(img->artifact_type, sizeof(img->artifact_type), "%s",
		 json_str(doc, "artifactType") ? json_str(doc, "artifactType") : "");
	img->size = (uint64_t)json_int(doc, "size", 0);
	img->image_size = (uint64_t)json_int(doc, "imageSize", 0);
	img->pushed_at_ms = json_int(doc, "pushedAt", 0);
}

static int check_reference(const char *reference, bool *ret_is_digest, struct err *err)
{
	if (reference && !strncmp(reference, "sha256:", 7)) {
		if (!registry_digest_valid(reference))
			return err_set(err, -EINVAL, E_OCI_DIGEST_INVALID,
				       "invalid digest '%.100s'", reference);
		*ret_is_digest = true;
		return 0;
	}
	if (reference && strchr(reference, ':'))
		return err_set(err, -EINVAL, E_OCI_DIGEST_INVALID,
			       "unsupported digest '%.100s': only sha256 is", reference);
	if (!registry_tag_valid(reference))
		return err_set(err, -EINVAL, E_OCI_TAG_INVALID, "invalid tag '%.140s'",
			       reference ? reference : "");
	*ret_is_digest = false;
	return 0;
}

int registry_manifest_put(struct registry *r, const char *repo, const char *reference,
			  const char *content_type, const void *data, size_t n, int64_t now_ms,
			  struct registry_image *ret_image, bool *ret_unchanged, struct err *err)
{
	struct manifest_facts f = { 0 };
	char digest[REGISTRY_DIGEST_SIZE];
	struct buf rkey = BUF_INIT, mkey = BUF_INIT, tkey = BUF_INIT, value = BUF_INIT;
	bool is_digest, unchanged = false, locked = false, blocked = false;
	const char *mutability;
	int rc, attempt;

	rc = check_name(repo, err);
	if (rc == 0)
		rc = check_reference(reference, &is_digest, err);
	if (rc < 0)
		return rc;
	if (n > REGISTRY_MANIFEST_MAX)
		return err_set(err, -EFBIG, E_OCI_MANIFEST_INVALID,
			       "manifest is larger than %u bytes", REGISTRY_MANIFEST_MAX);
	registry_digest_of(data, n, digest);
	if (is_digest && strcmp(digest, reference) != 0)
		return err_set(err, -EINVAL, E_OCI_DIGEST_INVALID,
			       "manifest digest %s does not match the reference %s", digest,
			       reference);
	rc = registry_repo_load(r, repo, NULL, NULL, err);
	if (rc == 0)
		rc = manifest_check(content_type, data, n, &f, err);
	if (rc == 0) {
		/*
		 * From checking that the blobs it names are there to committing
		 * the manifest (which makes them roots) and linking its own blob,
		 * no collection may remove any of them.
		 */
		registry_gc_block(r);
		blocked = true;
		rc = check_references(r, repo, f.references, err);
	}
	if (rc == 0)
		rc = registry_blob_put(r, data, n, digest, err);
	if (rc < 0)
		goto out;

	repo_key(&rkey, repo);
	item_key(&mkey, "manifest", repo, digest);
	if (!is_digest) {
		item_key(&tkey, "tag", repo, reference);
		api_lock(buf_str(&tkey));
		locked = true;
	}
	for (attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct store_txn t = STORE_TXN_INIT;
		_cleanup_json_ cJSON *repo_doc = NULL, *tag_doc = NULL;
		uint64_t rversion = 0, mversion = 0, tversion = 0;
		bool write_tag = false;

		rc = registry_repo_load(r, repo, &repo_doc, &rversion, err);
		if (rc < 0)
			break;
		mutability = json_str(repo_doc, "imageTagMutability");
		buf_reset(&value);
		rc = store_get(r->api->store, buf_str(&mkey), &value, &mversion, err);
		if (rc == 0) {
			_cleanup_json_ cJSON *mdoc = NULL;

			rc = parse_doc(&value, "manifest", &mdoc, err);
			if (rc < 0)
				break;
			if (ret_image)
				image_from_doc(ret_image, digest, mdoc);
		} else if (rc == -ENOENT) {
			cJSON *mdoc = cJSON_CreateObject();

			cJSON_AddStringToObject(mdoc, "mediaType", f.media_type);
			cJSON_AddNumberToObject(mdoc, "size", (double)n);
			cJSON_AddNumberToObject(mdoc, "imageSize", (double)f.image_size);
			cJSON_AddNumberToObject(mdoc, "pushedAt", (double)now_ms);
			if (f.artifact_type[0])
				cJSON_AddStringToObject(mdoc, "artifactType", f.artifact_type);
			{
				cJSON *refs = cJSON_AddArrayToObject(mdoc, "references");
				const cJSON *ref;

				cJSON_ArrayForEach(ref, f.references) {
					cJSON_AddItemToArray(
						refs, cJSON_CreateString(json_str(ref, "digest")));
				}
			}
			buf_reset(&value);
			json_print(&value, mdoc);
			if (ret_image)
				image_from_doc(ret_image, digest, mdoc);
			cJSON_Delete(mdoc);
			store_txn_check(&t, buf_str(&mkey), 0);
			store_txn_put(&t, buf_str(&mkey), value.data, value.len);
		} else {
			break;
		}
		if (!is_digest) {
			buf_reset(&value);
			rc = store_get(r->api->store, buf_str(&tkey), &value, &tversion, err);
			if (rc == 0) {
				rc = parse_doc(&value, "tag", &tag_doc, err);
				if (rc < 0) {
					store_txn_release(&t);
					break;
				}
			} else if (rc != -ENOENT) {
				store_txn_release(&t);
				break;
			}
			rc = 0;
			if (!tag_doc || !json_str(tag_doc, "digest") ||
			    strcmp(json_str(tag_doc, "digest"), digest) != 0) {
				if (tag_doc && mutability && !strcmp(mutability, "IMMUTABLE")) {
					store_txn_release(&t);
					rc = err_set(
						err, -EEXIST, E_IMAGE_TAG_ALREADY_EXISTS,
						"The image tag '%s' already exists in the '%s' "
						"repository and cannot be overwritten because "
						"the repository is immutable.",
						reference, repo);
					break;
				}
				write_tag = true;
			}
		}
		if (t.n_ops == 0 && !write_tag) {
			unchanged = true;
			rc = 0;
			break;
		}
		/* the repository must still be there: no image outlives it */
		store_txn_check(&t, buf_str(&rkey), rversion);
		if (write_tag) {
			buf_reset(&value);
			buf_printf(&value, "{\"digest\":\"%s\"}", digest);
			store_txn_check(&t, buf_str(&tkey), tversion);
			store_txn_put(&t, buf_str(&tkey), value.data, value.len);
		}
		rc = store_commit(r->api->store, &t, NULL, err);
		store_txn_release(&t);
		if (rc != -ECANCELED)
			break;
	}
	if (locked)
		api_unlock(buf_str(&tkey));
out:
	if (blocked)
		registry_gc_unblock(r);
	if (rc == 0 && ret_unchanged)
		*ret_unchanged = unchanged;
	cJSON_Delete(f.references);
	buf_release(&rkey);
	buf_release(&mkey);
	buf_release(&tkey);
	buf_release(&value);
	return rc;
}

static int image_not_found(const char *repo, const char *reference, bool is_digest, struct err *err)
{
	return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND,
		       "The image with %s '%.140s' does not exist within the repository with "
		       "name '%s'",
		       is_digest ? "digest" : "tag", reference, repo);
}

/* Resolve reference to a digest (ret_digest) and the image's document. */
static int resolve(const struct registry *r, const char *repo, const char *reference,
		   char ret_digest[REGISTRY_DIGEST_SIZE], cJSON **ret_doc, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	bool is_digest;
	int rc;

	rc = check_name(repo, err);
	if (rc == 0)
		rc = check_reference(reference, &is_digest, err);
	if (rc < 0)
		return rc;
	if (is_digest) {
		snprintf(ret_digest, REGISTRY_DIGEST_SIZE, "%s", reference);
	} else {
		_cleanup_json_ cJSON *tag = NULL;
		const char *d;

		item_key(&key, "tag", repo, reference);
		rc = store_get(r->api->store, buf_str(&key), &value, NULL, err);
		if (rc == 0)
			rc = parse_doc(&value, "tag", &tag, err);
		d = json_str(tag, "digest");
		if (rc == 0 && !registry_digest_valid(d))
			rc = err_set(err, -EIO, E_SERVER, "tag '%s' is stored damaged", reference);
		if (rc == 0)
			snprintf(ret_digest, REGISTRY_DIGEST_SIZE, "%s", d);
		buf_reset(&key);
		buf_reset(&value);
	}
	if (rc == 0) {
		item_key(&key, "manifest", repo, ret_digest);
		rc = store_get(r->api->store, buf_str(&key), &value, NULL, err);
	}
	if (rc == 0)
		rc = parse_doc(&value, "manifest", ret_doc, err);
	buf_release(&key);
	buf_release(&value);
	if (rc == -ENOENT)
		return image_not_found(repo, reference, is_digest, err);
	return rc;
}

int registry_manifest_stat(const struct registry *r, const char *repo, const char *reference,
			   struct registry_image *ret_image, struct err *err)
{
	char digest[REGISTRY_DIGEST_SIZE];
	cJSON *doc = NULL;
	int rc = resolve(r, repo, reference, digest, &doc, err);

	if (rc == 0 && ret_image)
		image_from_doc(ret_image, digest, doc);
	cJSON_Delete(doc);
	return rc;
}

int registry_manifest_get(const struct registry *r, const char *repo, const char *reference,
			  struct buf *ret_bytes, struct registry_image *ret_image, struct err *err)
{
	struct registry_image img;
	int rc = registry_manifest_stat(r, repo, reference, &img, err);

	if (rc == 0)
		rc = registry_blob_read(r, img.digest, REGISTRY_MANIFEST_MAX, ret_bytes, err);
	if (rc == 0 && ret_image)
		*ret_image = img;
	return rc;
}

/*
 * Scan the keys ecr/KIND/REPO/ITEM after item start_after (NULL: from the
 * first), setting *ret_prefix_len to the length of "ecr/KIND/REPO/" first.
 */
static int scan_items(const struct registry *r, const char *kind, const char *repo,
		      const char *start_after, size_t *ret_prefix_len,
		      int (*fn)(void *ctx, const struct store_kv *kv), void *ctx, struct err *err)
{
	struct buf prefix = BUF_INIT, from = BUF_INIT;
	int rc;

	item_key(&prefix, kind, repo, "");
	*ret_prefix_len = prefix.len;
	if (start_after)
		item_key(&from, kind, repo, start_after);
	rc = store_scan(r->api->store, buf_str(&prefix), start_after ? buf_str(&from) : NULL, fn,
			ctx, err);
	buf_release(&prefix);
	buf_release(&from);
	return rc;
}

struct tag_scan {
	size_t prefix_len;
	int (*fn)(void *ctx, const char *tag, const char *digest);
	void *ctx;
};

static int tag_scan_one(void *ctx, const struct store_kv *kv)
{
	struct tag_scan *s = ctx;
	const char *tag = kv->key + s->prefix_len;
	_cleanup_json_ cJSON *doc = NULL;
	const char *digest;

	if (strchr(tag, '/'))
		return 0; /* a nested repository's */
	doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	digest = json_str(doc, "digest");
	if (!digest)
		return 0;
	return s->fn(s->ctx, tag, digest);
}

int registry_tag_scan(const struct registry *r, const char *repo, const char *start_after,
		      int (*fn)(void *ctx, const char *tag, const char *digest), void *ctx,
		      struct err *err)
{
	struct tag_scan s = { 0, fn, ctx };

	return scan_items(r, "tag", repo, start_after, &s.prefix_len, tag_scan_one, &s, err);
}

struct tags_of {
	const char *digest;
	cJSON *tags;
};

static int tag_of_one(void *ctx, const char *tag, const char *digest)
{
	struct tags_of *t = ctx;

	if (!strcmp(digest, t->digest))
		cJSON_AddItemToArray(t->tags, cJSON_CreateString(tag));
	return 0;
}

int registry_manifest_tags(const struct registry *r, const char *repo, const char *digest,
			   cJSON **ret_tags, struct err *err)
{
	struct tags_of t = { digest, cJSON_CreateArray() };
	int rc = registry_tag_scan(r, repo, NULL, tag_of_one, &t, err);

	if (rc < 0) {
		cJSON_Delete(t.tags);
		return rc;
	}
	*ret_tags = t.tags;
	return 0;
}

int registry_manifest_delete(struct registry *r, const char *repo, const char *reference,
			     struct registry_image *ret_image, cJSON **ret_tags, struct err *err)
{
	char digest[REGISTRY_DIGEST_SIZE];
	struct buf key = BUF_INIT;
	bool is_digest = false;
	int rc = 0, attempt;

	for (attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct store_txn t = STORE_TXN_INIT;
		cJSON *doc = NULL, *tags = NULL;
		const cJSON *tag;
		uint64_t version = 0;

		rc = check_reference(reference, &is_digest, err);
		if (rc == 0)
			rc = resolve(r, repo, reference, digest, &doc, err);
		if (rc < 0)
			break;
		buf_reset(&key);
		if (is_digest) {
			item_key(&key, "manifest", repo, digest);
			rc = store_get(r->api->store, buf_str(&key), NULL, &version, err);
			if (rc == 0)
				rc = registry_manifest_tags(r, repo, digest, &tags, err);
			if (rc == 0) {
				store_txn_check(&t, buf_str(&key), version);
				store_txn_delete(&t, buf_str(&key));
			}
			cJSON_ArrayForEach(tag, tags) {
				buf_reset(&key);
				item_key(&key, "tag", repo, tag->valuestring);
				store_txn_delete(&t, buf_str(&key));
			}
		} else {
			tags = cJSON_CreateArray();
			cJSON_AddItemToArray(tags, cJSON_CreateString(reference));
			item_key(&key, "tag", repo, reference);
			rc = store_get(r->api->store, buf_str(&key), NULL, &version, err);
			if (rc == 0) {
				store_txn_check(&t, buf_str(&key), version);
				store_txn_delete(&t, buf_str(&key));
			}
		}
		if (rc == 0)
			rc = store_commit(r->api->store, &t, NULL, err);
		store_txn_release(&t);
		if (rc == 0 && ret_image)
			image_from_doc(ret_image, digest, doc);
		if (rc == 0 && ret_tags)
			*ret_tags = TAKE_PTR(tags);
		cJSON_Delete(tags);
		cJSON_Delete(doc);
		if (rc == -ENOENT)
			rc = image_not_found(repo, reference, is_digest, err);
		if (rc != -ECANCELED)
			break;
	}
	buf_release(&key);
	return rc;
}

struct manifest_scan {
	size_t prefix_len;
	int (*fn)(void *ctx, const struct registry_image *image);
	void *ctx;
};

static int manifest_scan_one(void *ctx, const struct store_kv *kv)
{
	struct manifest_scan *s = ctx;
	const char *digest = kv->key + s->prefix_len;
	_cleanup_json_ cJSON *doc = NULL;
	struct registry_image img;

	if (!registry_digest_valid(digest))
		return 0; /* a nested repository's */
	doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	if (!doc)
		return 0;
	image_from_doc(&img, digest, doc);
	return s->fn(s->ctx, &img);
}

struct referrer_scan {
	size_t prefix_len;
	const char *digest;
	char *ret_index;
	bool found;
};

static int referrer_one(void *ctx, const struct store_kv *kv)
{
	struct referrer_scan *s = ctx;
	_cleanup_json_ cJSON *doc = NULL;
	const cJSON *ref;

	if (!registry_digest_valid(kv->key + s->prefix_len))
		return 0; /* a nested repository's */
	doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	cJSON_ArrayForEach(ref, json_arr(doc, "references")) {
		if (cJSON_IsString(ref) && !strcmp(ref->valuestring, s->digest)) {
			snprintf(s->ret_index, REGISTRY_DIGEST_SIZE, "%s", kv->key + s->prefix_len);
			s->found = true;
			return 1;
		}
	}
	return 0;
}

int registry_manifest_referrer(const struct registry *r, const char *repo, const char *digest,
			       char ret_index[REGISTRY_DIGEST_SIZE], struct err *err)
{
	struct referrer_scan s = { .digest = digest, .ret_index = ret_index };
	int rc = scan_items(r, "manifest", repo, NULL, &s.prefix_len, referrer_one, &s, err);

	return rc < 0 ? rc : s.found;
}

int registry_manifest_scan(const struct registry *r, const char *repo, const char *start_after,
			   int (*fn)(void *ctx, const struct registry_image *image), void *ctx,
			   struct err *err)
{
	struct manifest_scan s = { 0, fn, ctx };

	return scan_items(r, "manifest", repo, start_after, &s.prefix_len, manifest_scan_one, &s,
			  err);
}

static int tags_list_one(void *ctx, const char *tag, const char *digest)
{
	(void)digest;
	return page_add(ctx, tag);
}

int registry_tags_list(const struct registry *r, const char *repo, const char *last, int64_t n,
		       cJSON **ret_tags, bool *ret_more, struct err *err)
{
	struct page p = { NULL, n, 0, false };
	int rc = registry_repo_load(r, repo, NULL, NULL, err);

	if (rc < 0)
		return rc;
	p.items = cJSON_CreateArray();
	rc = registry_tag_scan(r, repo, last && *last ? last : NULL, tags_list_one, &p, err);
	if (rc < 0) {
		cJSON_Delete(p.items);
		return rc;
	}
	*ret_tags = p.items;
	if (ret_more)
		*ret_more = p.more;
	return 0;
}
