/*
 * pack.c: a directory tree into a layer blob and the layer store
 * (pack.h). The tree is walked first (lstat only, nothing followed), its
 * entries sorted, then streamed through libarchive's tar writer into a
 * callback that hashes the tar (the diff_id), gzips it with zlib and
 * hashes and writes the compressed bytes (the digest) to a temporary file
 * beside the blob's final place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "agent/images.h"
#include "build/pack.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/util.h"
#include "core/banned.h"

struct entry {
	char *path; /* relative, no leading '/' */
	struct stat st;
	bool opaque; /* an overlay directory marked opaque */
};

struct walk {
	struct entry *v;
	size_t n, cap;
	unsigned flags;
	struct err *err;
};

static int add_entry(struct walk *w, const char *path, const struct stat *st, bool opaque)
{
	if (w->n >= LAYER_MAX_ENTRIES)
		return err_set(w->err, -E2BIG, E_LIMIT_EXCEEDED, "a layer of more than %d entries",
			       LAYER_MAX_ENTRIES);
	if (strlen(path) > LAYER_MAX_PATH)
		return err_set(w->err, -ENAMETOOLONG, E_LIMIT_EXCEEDED,
			       "a path longer than %d bytes in a layer", LAYER_MAX_PATH);
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct entry *v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			abort();
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n].path = strdup(path);
	if (!w->v[w->n].path)
		abort();
	w->v[w->n].st = *st;
	w->v[w->n].opaque = opaque;
	w->n++;
	return 0;
}

/* What the runtime made in a container's root, not the RUN. */
static bool runtime_made(const char *rel, const struct stat *st, int dfd, const char *name)
{
	if (S_ISREG(st->st_mode) && st->st_size == 0 &&
	    (!strcmp(rel, "etc/hosts") || !strcmp(rel, "etc/hostname") ||
	     !strcmp(rel, "etc/resolv.conf")))
		return true;
	if (S_ISDIR(st->st_mode) &&
	    (!strcmp(rel, "proc") || !strcmp(rel, "sys") || !strcmp(rel, "dev"))) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *e;
		bool empty = true;

		if (!d) {
			if (fd >= 0)
				close(fd);
			return false;
		}
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				empty = false;
		closedir(d);
		return empty;
	}
	return false;
}

static int walk_dir(struct walk *w, int dfd, const char *rel, size_t depth)
{
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (depth > LAYER_MAX_DEPTH)
		return err_set(w->err, -E2BIG, E_LIMIT_EXCEEDED, "a layer deeper than %d",
			       LAYER_MAX_DEPTH);
	d = fdopendir(dfd);
	if (!d) {
		r = -errno;
		close(dfd);
		return err_set(w->err, r, E_SERVER, "reading %s: %s", rel[0] ? rel : ".",
			       strerror(-r));
	}
	while (r == 0 && (e = readdir(d))) {
		_cleanup_buf_ struct buf path = BUF_INIT;
		struct stat st;
		bool opaque = false;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = err_set(w->err, -errno, E_SERVER, "%s/%s: %s", rel, e->d_name,
				    strerror(errno));
			break;
		}
		if (rel[0])
			buf_printf(&path, "%s/%s", rel, e->d_name);
		else
			buf_puts(&path, e->d_name);
		if ((w->flags & PACK_RUNTIME) &&
		    runtime_made(buf_str(&path), &st, dirfd(d), e->d_name))
			continue;
		if (!rel[0] && !strcmp(e->d_name, LAYER_WHITEOUTS_FILE))
			continue;
		if (S_ISDIR(st.st_mode) && (w->flags & PACK_WHITEOUTS)) {
			char v[4];
			_cleanup_buf_ struct buf full = BUF_INIT;

			buf_printf(&full, "/proc/self/fd/%d/%s", dirfd(d), e->d_name);
			opaque = getxattr(buf_str(&full), "trusted.overlay.opaque", v, sizeof(v)) ==
					 1 &&
				 v[0] == 'y';
		}
		r = add_entry(w, buf_str(&path), &st, opaque);
		if (r == 0 && S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), e->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0)
				r = err_set(w->err, -errno, E_SERVER, "%s: %s", buf_str(&path),
					    strerror(errno));
			else
				r = walk_dir(w, fd, buf_str(&path), depth + 1);
		}
	}
	closedir(d);
	return r;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* --- the output: tar -> sha256 -> gzip -> sha256 -> file ---------------- */

struct sink {
	EVP_MD_CTX *tar_md, *gz_md;
	z_stream z;
	int fd;
	uint64_t size;
	int error; /* negative errno */
};

static int sink_write(struct sink *s, const void *data, size_t n)
{
	const char *p = data;

	while (n > 0) {
		ssize_t w = write(s->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		EVP_DigestUpdate(s->gz_md, p, (size_t)w);
		s->size += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int deflate_some(struct sink *s, const void *data, size_t n, int flush)
{
	unsigned char out[65536];
	int zr;

	s->z.next_in = (unsigned char *)(uintptr_t)data;
	s->z.avail_in = (uInt)n;
	do {
		s->z.next_out = out;
		s->z.avail_out = sizeof(out);
		zr = deflate(&s->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		int r = sink_write(s, out, sizeof(out) - s->z.avail_out);

		if (r < 0)
			return r;
	} while (s->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static la_ssize_t tar_write(struct archive *a, void *ctx, const void *data, size_t n)
{
	struct sink *s = ctx;
	int r;

	(void)a;
	EVP_DigestUpdate(s->tar_md, data, n);
	r = deflate_some(s, data, n, Z_NO_FLUSH);
	if (r < 0) {
		s->error = r;
		return -1;
	}
	return (la_ssize_t)n;
}

/* An OCI whiteout entry: an empty file with no permissions. */
static void marker(struct archive_entry *ae, const char *name, time_t mtime)
{
	archive_entry_copy_pathname(ae, name);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0);
	archive_entry_set_size(ae, 0);
	archive_entry_set_mtime(ae, mtime, 0);
}

static int write_entry(struct archive *a, const char *dir, const struct entry *e,
		       const char *link_target, struct err *err)
{
	struct archive_entry *ae = archive_entry_new();
	const struct stat *st = &e->st;
	bool whiteout = false;
	int r = 0;

	if (!ae)
		abort();
	/* an overlay whiteout: a character device 0/0 */
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) {
		const char *slash = strrchr(e->path, '/');
		_cleanup_buf_ struct buf name = BUF_INIT;

		if (slash)
			buf_printf(&name, "%.*s/.wh.%s", (int)(slash - e->path), e->path,
				   slash + 1);
		else
			buf_printf(&name, ".wh.%s", e->path);
		marker(ae, buf_str(&name), st->st_mtim.tv_sec);
		whiteout = true;
	}
	if (!whiteout) {
		archive_entry_copy_pathname(ae, e->path);
		archive_entry_set_mode(ae, st->st_mode);
		archive_entry_set_uid(ae, st->st_uid);
		archive_entry_set_gid(ae, st->st_gid);
		archive_entry_set_mtime(ae, st->st_mtim.tv_sec, 0);
		if (link_target) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_copy_hardlink(ae, link_target);
			archive_entry_set_size(ae, 0);
		} else if (S_ISREG(st->st_mode)) {
			archive_entry_set_size(ae, st->st_size);
		} else if (S_ISLNK(st->st_mode)) {
			char target[LAYER_MAX_PATH + 1];
			_cleanup_buf_ struct buf full = BUF_INIT;
			ssize_t n;

			buf_printf(&full, "%s/%s", dir, e->path);
			n = readlink(buf_str(&full), target, sizeof(target) - 1);
			if (n < 0) {
				archive_entry_free(ae);
				return err_set(err, -errno, E_SERVER, "%s: %s", e->path,
					       strerror(errno));
			}
			target[n] = 0;
			archive_entry_copy_symlink(ae, target);
			archive_entry_set_size(ae, 0);
		} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
			archive_entry_set_rdevmajor(ae, major(st->st_rdev));
			archive_entry_set_rdevminor(ae, minor(st->st_rdev));
			archive_entry_set_size(ae, 0);
		} else if (S_ISDIR(st->st_mode) || S_ISFIFO(st->st_mode)) {
			archive_entry_set_size(ae, 0);
		} else {
			archive_entry_free(ae); /* sockets: not part of an image */
			return 0;
		}
	}
	if (archive_write_header(a, ae) != ARCHIVE_OK) {
		r = err_set(err, -EIO, E_SERVER, "writing %s: %s", e->path,
			    archive_error_string(a) ?: "tar error");
		archive_entry_free(ae);
		return r;
	}
	archive_entry_free(ae);
	if (!whiteout && !link_target && S_ISREG(st->st_mode) && st->st_size > 0) {
		_cleanup_buf_ struct buf full = BUF_INIT;
		char chunk[65536];
		int fd;
		off_t left = st->st_size;

		buf_printf(&full, "%s/%s", dir, e->path);
		fd = open(buf_str(&full), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return err_set(err, -errno, E_SERVER, "%s: %s", e->path, strerror(errno));
		while (left > 0) {
			ssize_t n = read(fd, chunk, sizeof(chunk));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				r = err_set(err, n < 0 ? -errno : -EIO, E_SERVER,
					    "%s: %s while packing", e->path,
					    n < 0 ? strerror(errno) : "it shrank");
				break;
			}
			if ((off_t)n > left)
				n = (ssize_t)left;
			if (archive_write_data(a, chunk, (size_t)n) < 0) {
				r = err_set(err, -EIO, E_SERVER, "writing %s: %s", e->path,
					    archive_error_string(a) ?: "tar error");
				break;
			}
			left -= n;
		}
		close(fd);
	}
	if (r == 0 && e->opaque) {
		struct archive_entry *o = archive_entry_new();
		_cleanup_buf_ struct buf name = BUF_INIT;

		buf_printf(&name, "%s/.wh..wh..opq", e->path);
		marker(o, buf_str(&name), st->st_mtim.tv_sec);
		if (archive_write_header(a, o) != ARCHIVE_OK)
			r = err_set(err, -EIO, E_SERVER, "writing %s: %s", buf_str(&name),
				    archive_error_string(a) ?: "tar error");
		archive_entry_free(o);
	}
	return r;
}

/* Move tmp (an open, written file) to its blob path, synced. */
static int commit_blob(const char *store_dir, int fd, const char *tmp, const char *digest,
		       struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT;

	if (fsync(fd) < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", tmp, strerror(errno));
	images_blob_path(store_dir, digest, &path);
	if (rename(tmp, buf_str(&path)) < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path), strerror(errno));
	return 0;
}

static int open_tmp(const char *store_dir, struct buf *ret_tmp, struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	char rnd[17];
	int fd, r;

	buf_printf(&dir, "%s/blobs/sha256", store_dir);
	r = fs_mkdir_p(buf_str(&dir), 0700);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&dir), strerror(-r));
	random_hex(rnd, 8);
	buf_printf(ret_tmp, "%s/.tmp-%s", buf_str(&dir), rnd);
	fd = open(buf_str(ret_tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(ret_tmp), strerror(errno));
	return fd;
}

int pack_blob_write(const char *store_dir, const void *data, size_t len,
		    char ret_digest[LAYER_DIGEST_SIZE], struct err *err)
{
	_cleanup_buf_ struct buf tmp = BUF_INIT, path = BUF_INIT;
	struct sink s = { .fd = -1 };
	int fd, r;

	digest_sha256(data, len, ret_digest);
	images_blob_path(store_dir, ret_digest, &path);
	if (access(buf_str(&path), F_OK) == 0)
		return 0;
	fd = open_tmp(store_dir, &tmp, err);
	if (fd < 0)
		return fd;
	s.fd = fd;
	s.gz_md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(s.gz_md, EVP_sha256(), NULL);
	r = sink_write(&s, data, len);
	EVP_MD_CTX_free(s.gz_md);
	if (r < 0)
		err_set(err, r, E_SERVER, "%s: %s", buf_str(&tmp), strerror(-r));
	else
		r = commit_blob(store_dir, fd, buf_str(&tmp), ret_digest, err);
	close(fd);
	if (r < 0)
		unlink(buf_str(&tmp));
	return r;
}

int pack_layer(const char *store_dir, const char *dir, unsigned flags, struct packed_layer *ret,
	       struct err *err)
{
	_cleanup_buf_ struct buf tmp = BUF_INIT, blob = BUF_INIT;
	struct walk w = { .flags = flags, .err = err };
	struct sink s = { .fd = -1 };
	struct archive *a = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;
	int dfd, r;

	memset(ret, 0, sizeof(*ret));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", dir, strerror(errno));
	r = walk_dir(&w, dfd, "", 0);
	if (r < 0)
		goto out;
	if (w.n)
		qsort(w.v, w.n, sizeof(*w.v), entry_cmp);

	r = open_tmp(store_dir, &tmp, err);
	if (r < 0)
		goto out;
	s.fd = r;
	s.tar_md = EVP_MD_CTX_new();
	s.gz_md = EVP_MD_CTX_new();
	if (!s.tar_md || !s.gz_md ||
	    deflateInit2(&s.z, Z_BEST_SPEED, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	EVP_DigestInit_ex(s.tar_md, EVP_sha256(), NULL);
	EVP_DigestInit_ex(s.gz_md, EVP_sha256(), NULL);

	a = archive_write_new();
	if (!a)
		abort();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_per_block(a, 10240);
	if (archive_write_open2(a, &s, NULL, tar_write, NULL, NULL) != ARCHIVE_OK) {
		r = err_set(err, -EIO, E_SERVER, "tar: %s", archive_error_string(a) ?: "error");
		goto out;
	}
	for (size_t i = 0; i < w.n; i++) {
		const char *link = NULL;

		/* a second name of a regular file: a hard link to the first */
		if (S_ISREG(w.v[i].st.st_mode) && w.v[i].st.st_nlink > 1)
			for (size_t j = 0; j < i; j++)
				if (w.v[j].st.st_ino == w.v[i].st.st_ino &&
				    w.v[j].st.st_dev == w.v[i].st.st_dev &&
				    S_ISREG(w.v[j].st.st_mode)) {
					link = w.v[j].path;
					break;
				}
		r = write_entry(a, dir, &w.v[i], link, err);
		if (r < 0)
			goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK || s.error) {
		r = err_set(err, s.error ? s.error : -EIO, E_SERVER, "writing a layer: %s",
			    s.error ? strerror(-s.error) : archive_error_string(a) ?: "tar error");
		goto out;
	}
	r = deflate_some(&s, NULL, 0, Z_FINISH);
	if (r < 0) {
		err_set(err, r, E_SERVER, "writing a layer: %s", strerror(-r));
		goto out;
	}
	EVP_DigestFinal_ex(s.tar_md, md, &mdlen);
	digest_format(md, ret->diff_id);
	EVP_DigestFinal_ex(s.gz_md, md, &mdlen);
	digest_format(md, ret->digest);
	ret->size = s.size;
	r = commit_blob(store_dir, s.fd, buf_str(&tmp), ret->digest, err);
	if (r < 0)
		goto out;
	buf_reset(&tmp);
	images_blob_path(store_dir, ret->digest, &blob);
	{
		struct layer_unpack_opts uo = { .diff_id = ret->diff_id, .digest = ret->digest };

		r = layer_unpack_file(store_dir, buf_str(&blob), &uo, NULL, err);
	}
out:
	if (a)
		archive_write_free(a);
	if (s.tar_md) {
		deflateEnd(&s.z);
		EVP_MD_CTX_free(s.tar_md);
		EVP_MD_CTX_free(s.gz_md);
	}
	if (s.fd >= 0)
		close(s.fd);
	if (tmp.len)
		unlink(buf_str(&tmp));
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i].path);
	free(w.v);
	return r;
}
