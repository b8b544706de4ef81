/*
 * layers.c: unpacking image layers into the content-addressed layer store
 * (see layers.h for the contract).
 *
 * One pass over the input: a first libarchive reader (format "raw", filters
 * gzip and zstd) decompresses the bytes read from the fd, hashing them on
 * the way in (the blob's digest); a second reader (format tar, no filter)
 * reads its tar from the first one's output, hashed on the way through (the
 * diff_id). Entries are written with *at() calls relative to directory fds
 * opened one component at a time with O_NOFOLLOW, never by path, so nothing
 * an entry does can reach outside the layer directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/layers.h"
#include "agent/libarchive.h"
#include "core/cleanup.h"
#include "core/util.h"
#include "core/digest.h"
#include "core/banned.h"

#define IO_BUF_SIZE (128u << 10)

/* A directory entry's metadata, applied once every entry is written. */
struct dir_meta {
	char *path; /* normalized, relative; "" for the layer's root */
	mode_t mode;
	struct timespec mtime;
};

struct unpack {
	const struct libarchive *la; /* loaded for the unpack (libarchive.h) */
	const struct layer_limits *lim;
	int root; /* the temporary layer directory */
	bool is_root;
	struct layer_info *info;
	/* the decompressing reader and its input */
	int fd;
	struct archive *raw;
	EVP_MD_CTX *blob_md; /* NULL when no digest is to be checked */
	EVP_MD_CTX *tar_md;
	uint64_t bytes;
	bool too_big;
	unsigned char *inbuf;
	unsigned char *outbuf;
	/* deferred directory metadata, recorded whiteouts */
	struct dir_meta *dirs;
	size_t ndirs, dirs_cap;
	struct buf whiteouts;
};

bool layer_digest_valid(const char *s)
{
	return digest_valid(s);
}

static void digest_final(EVP_MD_CTX *md, char ret[LAYER_DIGEST_SIZE])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_DigestFinal_ex(md, h, &len);
	digest_format(h, ret);
}

int layer_path(const char *store_dir, const char *diff_id, struct buf *ret_path, struct err *err)
{
	if (!layer_digest_valid(diff_id))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "invalid layer diff_id '%.80s'",
			       diff_id ? diff_id : "(null)");
	buf_printf(ret_path, "%s/layers/sha256/%s", store_dir, diff_id + 7);
	return 0;
}

bool layer_exists(const char *store_dir, const char *diff_id)
{
	struct buf p = BUF_INIT;
	struct stat st;
	bool ok;

	if (layer_path(store_dir, diff_id, &p, NULL) < 0)
		return false;
	ok = lstat(buf_str(&p), &st) == 0 && S_ISDIR(st.st_mode);
	buf_release(&p);
	return ok;
}

/* mkdir -p of STORE/layers/sha256. */
static int make_store_dirs(const char *store_dir, struct buf *ret_dir, struct err *err)
{
	static const char *const parts[] = { "/layers", "/sha256" };

	buf_puts(ret_dir, store_dir);
	if (mkdir(buf_str(ret_dir), 0755) < 0 && errno != EEXIST)
		return err_set(err, -errno, E_SERVER, "creating '%s': %s", buf_str(ret_dir),
			       strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		buf_puts(ret_dir, parts[i]);
		if (mkdir(buf_str(ret_dir), 0700) < 0 && errno != EEXIST)
			return err_set(err, -errno, E_SERVER, "creating '%s': %s", buf_str(ret_dir),
				       strerror(errno));
	}
	return 0;
}

/*
 * Remove name in dirfd and everything under it, never following a symbolic
 * link. Depth is bounded by LAYER_MAX_DEPTH-deep layers plus a little.
 */
static int remove_at(int dirfd, const char *name, unsigned depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, r = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (depth > LAYER_MAX_DEPTH + 8)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES) {
		/* a layer's 0000 directory, when not root */
		fchmodat(dirfd, name, 0700, 0);
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int q = remove_at(fd, de->d_name, depth + 1);
		if (q < 0 && r == 0)
			r = q;
	}
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

/* Create a fresh ".tmp-*" directory in dir; its name goes to ret_name. */
static int make_tmp_dir(const char *dir, char ret_name[32], struct err *err)
{
	for (int tries = 0; tries < 16; tries++) {
		char hex[17];
		struct buf p = BUF_INIT;
		int r;

		random_hex(hex, 8);
		snprintf(ret_name, 32, ".tmp-%s", hex);
		buf_printf(&p, "%s/%s", dir, ret_name);
		r = mkdir(buf_str(&p), 0700);
		buf_release(&p);
		if (r == 0)
			return 0;
		if (errno != EEXIST)
			return err_set(err, -errno, E_SERVER, "creating a directory in '%s': %s",
				       dir, strerror(errno));
	}
	return err_set(err, -EEXIST, E_SERVER, "creating a directory in '%s': no free name", dir);
}

int layer_remove(const char *store_dir, const char *diff_id, struct err *err)
{
	struct buf dir = BUF_INIT, from = BUF_INIT, to = BUF_INIT;
	char tmp[32];
	int r, dfd = -1;

	r = layer_path(store_dir, diff_id, &from, err);
	if (r < 0)
		goto out;
	buf_printf(&dir, "%s/layers/sha256", store_dir);
	if (!layer_exists(store_dir, diff_id)) {
		r = err_set(err, -ENOENT, E_LAYERS_NOT_FOUND, "layer '%s' is not in the store",
			    diff_id);
		goto out;
	}
	r = make_tmp_dir(buf_str(&dir), tmp, err);
	if (r < 0)
		goto out;
	buf_printf(&to, "%s/%s", buf_str(&dir), tmp);
	/* replaces the empty temporary directory: the layer disappears at once */
	if (rename(buf_str(&from), buf_str(&to)) < 0) {
		r = -errno;
		rmdir(buf_str(&to));
		if (r == -ENOENT)
			err_set(err, r, E_LAYERS_NOT_FOUND, "layer '%s' is not in the store",
				diff_id);
		else
			err_set(err, r, E_SERVER, "removing layer '%s': %s", diff_id, strerror(-r));
		goto out;
	}
	dfd = open(buf_str(&dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dfd < 0 ? -errno : remove_at(dfd, tmp, 0);
	if (r < 0)
		err_set(err, r, E_SERVER, "removing layer '%s': %s", diff_id, strerror(-r));
out:
	if (dfd >= 0)
		close(dfd);
	buf_release(&dir);
	buf_release(&from);
	buf_release(&to);
	return r;
}

/* --- reading: fd -> raw (decompress) -> tar --- */

static la_ssize_t raw_read(struct archive *a, void *data, const void **ret_buf)
{
	struct unpack *u = data;
	ssize_t n;

	do
		n = read(u->fd, u->inbuf, IO_BUF_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		u->la->archive_set_error(a, errno, "reading the layer: %s", strerror(errno));
		return -1;
	}
	if (n > 0 && u->blob_md)
		EVP_DigestUpdate(u->blob_md, u->inbuf, (size_t)n);
	*ret_buf = u->inbuf;
	return n;
}

static la_ssize_t tar_read(struct archive *a, void *data, const void **ret_buf)
{
	struct unpack *u = data;
	la_ssize_t n = u->la->archive_read_data(u->raw, u->outbuf, IO_BUF_SIZE);

	if (n < 0) {
		u->la->archive_set_error(
			a, u->la->archive_errno(u->raw) ? u->la->archive_errno(u->raw) : EIO, "%s",
			u->la->archive_error_string(u->raw) ? u->la->archive_error_string(u->raw)
							    : "decompressing the layer");
		return -1;
	}
	u->bytes += (uint64_t)n;
	if (u->bytes > u->lim->max_bytes) {
		u->too_big = true;
		u->la->archive_set_error(a, EFBIG, "layer too large");
		return -1;
	}
	if (n > 0)
		EVP_DigestUpdate(u->tar_md, u->outbuf, (size_t)n);
	*ret_buf = u->outbuf;
	return n;
}

/* Read what the tar reader left (end-of-archive padding, the compressed trailer). */
static int drain(struct unpack *u, struct err *err)
{
	la_ssize_t n;
	ssize_t m;
	const void *p;

	while ((n = tar_read(u->raw, u, &p)) > 0)
		;
	if (n < 0)
		return u->too_big ? err_set(err, -EFBIG, E_LIMIT_EXCEEDED,
					    "layer larger than %llu bytes uncompressed",
					    (unsigned long long)u->lim->max_bytes)
				  : err_set(err, -EBADMSG, E_INVALID_LAYER, "reading the layer: %s",
					    u->la->archive_error_string(u->raw));
	if (!u->blob_md)
		return 0;
	while ((m = raw_read(u->raw, u, &p)) > 0)
		;
	return m < 0 ? err_set(err, -EIO, E_SERVER, "reading the layer: %s", strerror(errno)) : 0;
}

/* --- paths --- */

struct path {
	char buf[LAYER_MAX_PATH + 1];
	const char *comp[LAYER_MAX_DEPTH];
	size_t n;
};

/*
 * Split name into components: leading '/' and empty and "." components
 * dropped; ".." refused.
 */
static int path_split(struct unpack *u, const char *what, const char *name, struct path *p,
		      struct err *err)
{
	size_t len = strlen(name), max_path = u->lim->max_path, max_depth = u->lim->max_depth;
	char *s, *save = NULL;

	if (max_path > LAYER_MAX_PATH)
		max_path = LAYER_MAX_PATH;
	if (max_depth > LAYER_MAX_DEPTH)
		max_depth = LAYER_MAX_DEPTH;
	if (len > max_path)
		return err_set(err, -E2BIG, E_LIMIT_EXCEEDED,
			       "layer %s '%.64s...' longer than %zu bytes", what, name, max_path);
	memcpy(p->buf, name, len + 1);
	p->n = 0;
	for (s = strtok_r(p->buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (!strcmp(s, "."))
			continue;
		if (!strcmp(s, ".."))
			return err_set(err, -EPERM, E_INVALID_LAYER,
				       "layer %s '%.200s' has a '..' component", what, name);
		if (p->n == max_depth)
			return err_set(err, -E2BIG, E_LIMIT_EXCEEDED,
				       "layer %s '%.200s' deeper than %zu components", what, name,
				       max_depth);
		p->comp[p->n++] = s;
	}
	return 0;
}

/* The components' path, joined by '/'. */
static void path_join(const struct path *p, size_t n, struct buf *ret)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(ret, '/');
		buf_puts(ret, p->comp[i]);
	}
}

/*
 * Open the directory made of p's first n components, one component at a time
 * from the layer's root, never following a symbolic link; missing ones are
 * created (0755) when create is set. Returns the fd or a negative errno.
 */
static int open_dir(struct unpack *u, const struct path *p, size_t n, bool create, const char *name,
		    struct err *err)
{
	int fd = fcntl(u->root, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "dup: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		int next = openat(fd, p->comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p->comp[i], 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return err_set(err, -e, E_SERVER, "layer entry '%.200s': mkdir: %s",
					       name, strerror(e));
			}
			fchmodat(fd, p->comp[i], 0755, 0); /* whatever the umask */
			next = openat(fd, p->comp[i],
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			close(fd);
			if (e == ELOOP || e == ENOTDIR)
				return err_set(err, -EPERM, E_INVALID_LAYER,
					       "layer entry '%.200s' is under '%s', which is not a "
					       "directory (a symbolic link?)",
					       name, p->comp[i]);
			return err_set(err, -e, E_SERVER, "layer entry '%.200s': opening '%s': %s",
				       name, p->comp[i], strerror(e));
		}
		close(fd);
		fd = next;
	}
	return fd;
}

/* Make room for a new entry called name in dir: remove what is there, unless keep_dir. */
static int clear_slot(int dir, const char *name, bool keep_dir, bool *ret_is_dir)
{
	struct stat st;

	*ret_is_dir = false;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir) {
			*ret_is_dir = true;
			return 0;
		}
		return remove_at(dir, name, 0);
	}
	return unlinkat(dir, name, 0) < 0 ? -errno : 0;
}

/* --- entries --- */

static int sys_fail(struct err *err, const char *name, const char *op, int e)
{
	return err_set(err, -e, E_SERVER, "layer entry '%.200s': %s: %s", name, op, strerror(e));
}

static int set_owner_times(struct unpack *u, int dir, const char *base, struct archive_entry *e,
			   bool times, const char *name, struct err *err)
{
	if (u->is_root && fchownat(dir, base, (uid_t)u->la->archive_entry_uid(e),
				   (gid_t)u->la->archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return sys_fail(err, name, "chown", errno);
	if (times) {
		struct timespec ts[2];

		ts[1].tv_sec = u->la->archive_entry_mtime(e);
		ts[1].tv_nsec = u->la->archive_entry_mtime_nsec(e);
		ts[0] = ts[1];
		if (utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return sys_fail(err, name, "utimensat", errno);
	}
	return 0;
}

static int write_file(struct unpack *u, struct archive *a, int dir, const char *base,
		      struct archive_entry *e, const char *name, struct err *err)
{
	int fd, r = 0;
	const void *block;
	size_t size;
	la_int64_t off, end = 0;
	struct timespec ts[2];

	fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sys_fail(err, name, "create", errno);
	for (;;) {
		int q = u->la->archive_read_data_block(a, &block, &size, &off);

		if (q == ARCHIVE_EOF)
			break;
		if (q < ARCHIVE_WARN) {
			r = u->too_big ? err_set(err, -EFBIG, E_LIMIT_EXCEEDED,
						 "layer larger than %llu bytes uncompressed",
						 (unsigned long long)u->lim->max_bytes)
				       : err_set(err, -EBADMSG, E_INVALID_LAYER,
						 "layer entry '%.200s': %s", name,
						 u->la->archive_error_string(a));
			goto out;
		}
		for (size_t done = 0; done < size;) {
			ssize_t n = pwrite(fd, (const char *)block + done, size - done,
					   off + (off_t)done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = sys_fail(err, name, "write", errno);
				goto out;
			}
			done += (size_t)n;
		}
		end = off + (la_int64_t)size;
	}
	/* a sparse file's trailing hole */
	if (u->la->archive_entry_size(e) > end && ftruncate(fd, u->la->archive_entry_size(e)) < 0) {
		r = sys_fail(err, name, "truncate", errno);
		goto out;
	}
	if (u->is_root && fchown(fd, (uid_t)u->la->archive_entry_uid(e),
				 (gid_t)u->la->archive_entry_gid(e)) < 0) {
		r = sys_fail(err, name, "chown", errno);
		goto out;
	}
	/* after chown, which clears setuid */
	if (fchmod(fd, u->la->archive_entry_perm(e) & 07777) < 0) {
		r = sys_fail(err, name, "chmod", errno);
		goto out;
	}
	ts[1].tv_sec = u->la->archive_entry_mtime(e);
	ts[1].tv_nsec = u->la->archive_entry_mtime_nsec(e);
	ts[0] = ts[1];
	if (futimens(fd, ts) < 0)
		r = sys_fail(err, name, "utimens", errno);
out:
	close(fd);
	return r;
}

static void record_whiteout(struct unpack *u, char kind, const struct path *p, size_t n)
{
	buf_putc(&u->whiteouts, kind);
	buf_putc(&u->whiteouts, ' ');
	path_join(p, n, &u->whiteouts);
	buf_putc(&u->whiteouts, '\0');
	u->info->recorded_whiteouts++;
}

/* `.wh.NAME` or `.wh..wh..opq` in the directory p[0..n-1] (open as dir). */
static int whiteout(struct unpack *u, int dir, struct path *p, const char *base, const char *name,
		    struct err *err)
{
	bool is_dir;
	int r;

	if (!strcmp(base, ".wh..wh..opq")) {
		if (fsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0) < 0)
			record_whiteout(u, 'o', p, p->n - 1);
		return 0;
	}
	if (startswith(base, ".wh..wh."))
		return 0; /* aufs metadata */
	base += 4;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return err_set(err, -EPERM, E_INVALID_LAYER, "layer whiteout '%.200s' is invalid",
			       name);
	r = clear_slot(dir, base, false, &is_dir);
	if (r < 0)
		return sys_fail(err, name, "removing the whited-out entry", -r);
	if (mknodat(dir, base, S_IFCHR, makedev(0, 0)) == 0)
		return 0;
	/* record it as the path of the deleted entry */
	p->comp[p->n - 1] = base;
	record_whiteout(u, 'w', p, p->n);
	return 0;
}

static int add_dir_meta(struct unpack *u, const struct path *p, struct archive_entry *e)
{
	struct buf b = BUF_INIT;
	struct dir_meta *m;

	if (u->ndirs == u->dirs_cap) {
		size_t cap = u->dirs_cap ? u->dirs_cap * 2 : 64;
		struct dir_meta *d = realloc(u->dirs, cap * sizeof(*d));

		if (!d)
			abort();
		u->dirs = d;
		u->dirs_cap = cap;
	}
	path_join(p, p->n, &b);
	m = &u->dirs[u->ndirs++];
	m->path = strdup(buf_str(&b));
	buf_release(&b);
	if (!m->path)
		abort();
	m->mode = u->la->archive_entry_perm(e) & 07777;
	m->mtime.tv_sec = u->la->archive_entry_mtime(e);
	m->mtime.tv_nsec = u->la->archive_entry_mtime_nsec(e);
	return 0;
}

static int unpack_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
			struct err *err)
{
	const char *name = u->la->archive_entry_pathname(e);
	const char *hardlink = u->la->archive_entry_hardlink(e);
	mode_t type = u->la->archive_entry_filetype(e);
	_cleanup_free_ struct path *p = NULL;
	const char *base;
	bool is_dir = false;
	int dir = -1, r = 0;

	if (!name)
		return err_set(err, -EBADMSG, E_INVALID_LAYER, "layer entry without a name");
	p = malloc(sizeof(*p));
	if (!p)
		abort();
	r = path_split(u, "entry", name, p, err);
	if (r < 0)
		return r;
	if (p->n == 0) {
		/* "./" itself: the layer's root */
		if (type == AE_IFDIR && !hardlink)
			return add_dir_meta(u, p, e);
		return err_set(err, -EPERM, E_INVALID_LAYER,
			       "layer entry '%.200s' would replace the layer's root", name);
	}
	if (p->n == 1 && !strcmp(p->comp[0], LAYER_WHITEOUTS_FILE))
		return err_set(err, -EPERM, E_INVALID_LAYER, "layer entry '%s' is reserved",
			       LAYER_WHITEOUTS_FILE);
	base = p->comp[p->n - 1];
	dir = open_dir(u, p, p->n - 1, true, name, err);
	if (dir < 0)
		return dir;

	if (startswith(base, ".wh.")) {
		r = whiteout(u, dir, p, base, name, err);
		goto out;
	}

	if (hardlink) {
		_cleanup_free_ struct path *t = malloc(sizeof(*t));
		int tdir;

		if (!t)
			abort();
		r = path_split(u, "hard link target", hardlink, t, err);
		if (r < 0)
			goto out;
		if (t->n == 0) {
			r = err_set(err, -EPERM, E_INVALID_LAYER,
				    "layer hard link '%.200s' points at the layer's root", name);
			goto out;
		}
		tdir = open_dir(u, t, t->n - 1, false, name, err);
		if (tdir == -ENOENT) {
			r = err_set(err, -EPERM, E_INVALID_LAYER,
				    "layer hard link '%.200s' -> '%.200s': target missing", name,
				    hardlink);
			goto out;
		}
		if (tdir < 0) {
			r = tdir;
			goto out;
		}
		if (clear_slot(dir, base, false, &is_dir) < 0 ||
		    linkat(tdir, t->comp[t->n - 1], dir, base, 0) < 0) {
			int e2 = errno;

			close(tdir);
			if (e2 == ENOENT || e2 == EPERM)
				r = err_set(err, -EPERM, E_INVALID_LAYER,
					    "layer hard link '%.200s' -> '%.200s': target missing "
					    "or a directory",
					    name, hardlink);
			else
				r = sys_fail(err, name, "link", e2);
			goto out;
		}
		close(tdir);
		goto out;
	}

	r = clear_slot(dir, base, type == AE_IFDIR, &is_dir);
	if (r < 0) {
		r = sys_fail(err, name, "replacing", -r);
		goto out;
	}
	switch (type) {
	case AE_IFDIR:
		if (!is_dir && mkdirat(dir, base, 0755) < 0) {
			r = sys_fail(err, name, "mkdir", errno);
			goto out;
		}
		r = set_owner_times(u, dir, base, e, false, name, err);
		if (r == 0)
			r = add_dir_meta(u, p, e);
		break;
	case AE_IFREG: r = write_file(u, a, dir, base, e, name, err); break;
	case AE_IFLNK: {
		const char *target = u->la->archive_entry_symlink(e);

		if (!target || strlen(target) > u->lim->max_path) {
			r = err_set(err, -E2BIG, E_LIMIT_EXCEEDED,
				    "layer symbolic link '%.200s': target missing or too long",
				    name);
			goto out;
		}
		if (symlinkat(target, dir, base) < 0) {
			r = sys_fail(err, name, "symlink", errno);
			goto out;
		}
		r = set_owner_times(u, dir, base, e, true, name, err);
		break;
	}
	case AE_IFIFO:
	case AE_IFCHR:
	case AE_IFBLK: {
		mode_t mode = u->la->archive_entry_perm(e) & 07777;
		dev_t dev = makedev(u->la->archive_entry_rdevmajor(e),
				    u->la->archive_entry_rdevminor(e));

		if (type != AE_IFIFO && !u->is_root) {
			u->info->skipped_devices++;
			break;
		}
		if (mknodat(dir, base, type | mode, type == AE_IFIFO ? 0 : dev) < 0) {
			if (type != AE_IFIFO && (errno == EPERM || errno == EACCES)) {
				u->info->skipped_devices++;
				break;
			}
			r = sys_fail(err, name, "mknod", errno);
			goto out;
		}
		r = set_owner_times(u, dir, base, e, false, name, err);
		if (r == 0 && fchmodat(dir, base, mode, 0) < 0)
			r = sys_fail(err, name, "chmod", errno);
		if (r == 0)
			r = set_owner_times(u, dir, base, e, true, name, err);
		break;
	}
	default:
		r = err_set(err, -EBADMSG, E_INVALID_LAYER,
			    "layer entry '%.200s' has an unsupported type (0%o)", name,
			    (unsigned)type);
	}
out:
	close(dir);
	return r;
}

/* Directory modes and mtimes, last: writing children would change them. */
static int apply_dir_meta(struct unpack *u, struct err *err)
{
	for (size_t i = u->ndirs; i-- > 0;) {
		struct dir_meta *m = &u->dirs[i];
		_cleanup_free_ struct path *p = malloc(sizeof(*p));
		struct timespec ts[2];
		struct err ignored = ERR_INIT;
		int fd;

		if (!p)
			abort();
		if (path_split(u, "entry", m->path, p, &ignored) < 0)
			continue;
		fd = open_dir(u, p, p->n, false, m->path, &ignored);
		if (fd < 0)
			continue; /* replaced by a later entry */
		ts[0] = ts[1] = m->mtime;
		if (fchmod(fd, m->mode) < 0 || futimens(fd, ts) < 0) {
			int e = errno;

			close(fd);
			return sys_fail(err, m->path, "setting directory metadata", e);
		}
		close(fd);
	}
	return 0;
}

static int write_whiteouts(struct unpack *u, struct err *err)
{
	int fd;
	size_t done = 0;

	if (u->whiteouts.len == 0)
		return 0;
	fd = openat(u->root, LAYER_WHITEOUTS_FILE,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sys_fail(err, LAYER_WHITEOUTS_FILE, "create", errno);
	while (done < u->whiteouts.len) {
		ssize_t n = write(fd, u->whiteouts.data + done, u->whiteouts.len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return sys_fail(err, LAYER_WHITEOUTS_FILE, "write", e);
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

static int tar_error(struct unpack *u, struct archive *a, struct err *err)
{
	if (u->too_big)
		return err_set(err, -EFBIG, E_LIMIT_EXCEEDED,
			       "layer larger than %llu bytes uncompressed",
			       (unsigned long long)u->lim->max_bytes);
	return err_set(err, -EBADMSG, E_INVALID_LAYER, "reading the layer tar: %s",
		       u->la->archive_error_string(a) ? u->la->archive_error_string(a)
						      : "unknown error");
}

/* Read the whole input into u->root. */
static int unpack_all(struct unpack *u, struct err *err)
{
	struct archive *tar = NULL;
	struct archive_entry *e;
	int r = 0, q;

	u->raw = u->la->archive_read_new();
	tar = u->la->archive_read_new();
	if (!u->raw || !tar)
		abort();
	u->la->archive_read_support_filter_gzip(u->raw);
	u->la->archive_read_support_filter_zstd(u->raw);
	u->la->archive_read_support_format_raw(u->raw);
	u->la->archive_read_support_format_empty(u->raw);
	if (u->la->archive_read_open(u->raw, u, NULL, raw_read, NULL) != ARCHIVE_OK) {
		r = err_set(err, -EBADMSG, E_INVALID_LAYER, "reading the layer: %s",
			    u->la->archive_error_string(u->raw));
		goto out;
	}
	q = u->la->archive_read_next_header(u->raw, &e);
	if (q == ARCHIVE_EOF) {
		r = err_set(err, -EBADMSG, E_INVALID_LAYER, "the layer is empty");
		goto out;
	}
	if (q < ARCHIVE_WARN) {
		r = err_set(err, -EBADMSG, E_INVALID_LAYER, "reading the layer: %s",
			    u->la->archive_error_string(u->raw));
		goto out;
	}

	u->la->archive_read_support_format_tar(tar);
	if (u->la->archive_read_open(tar, u, NULL, tar_read, NULL) != ARCHIVE_OK) {
		r = tar_error(u, tar, err);
		goto out;
	}
	for (;;) {
		q = u->la->archive_read_next_header(tar, &e);
		if (q == ARCHIVE_EOF)
			break;
		if (q < ARCHIVE_WARN) {
			r = tar_error(u, tar, err);
			goto out;
		}
		if (++u->info->entries > u->lim->max_entries) {
			r = err_set(err, -E2BIG, E_LIMIT_EXCEEDED,
				    "layer has more than %llu entries",
				    (unsigned long long)u->lim->max_entries);
			goto out;
		}
		r = unpack_entry(u, tar, e, err);
		if (r < 0)
			goto out;
	}
	r = drain(u, err);
	if (r == 0)
		r = apply_dir_meta(u, err);
	if (r == 0)
		r = write_whiteouts(u, err);
out:
	u->la->archive_read_free(tar);
	u->la->archive_read_free(u->raw);
	u->raw = NULL;
	return r;
}

int layer_unpack(const char *store_dir, int fd, const struct layer_unpack_opts *opts,
		 struct layer_info *ret_info, struct err *err)
{
	static const struct layer_limits default_limits = LAYER_LIMITS_DEFAULT;
	struct layer_unpack_opts none = { 0 };
	struct layer_info info = { 0 };
	struct unpack u = { .root = -1 };
	struct buf dir = BUF_INIT, tmp_path = BUF_INIT, final = BUF_INIT;
	char tmp[32] = "", got[LAYER_DIGEST_SIZE];
	int r, dfd = -1;

	if (!opts)
		opts = &none;
	if (opts->diff_id && !layer_digest_valid(opts->diff_id))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "invalid layer diff_id '%.80s'",
			       opts->diff_id);
	if (opts->digest && !layer_digest_valid(opts->digest))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "invalid layer digest '%.80s'",
			       opts->digest);
	r = make_store_dirs(store_dir, &dir, err);
	if (r < 0)
		goto out;
	if (opts->diff_id && layer_exists(store_dir, opts->diff_id)) {
		snprintf(info.diff_id, sizeof(info.diff_id), "%s", opts->diff_id);
		info.reused = true;
		goto done;
	}
	r = libarchive_acquire(&u.la, err);
	if (r < 0)
		goto out;
	r = make_tmp_dir(buf_str(&dir), tmp, err);
	if (r < 0)
		goto out;
	buf_printf(&tmp_path, "%s/%s", buf_str(&dir), tmp);
	dfd = open(buf_str(&dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = err_set(err, -errno, E_SERVER, "opening '%s': %s", buf_str(&dir),
			    strerror(errno));
		goto out;
	}

	u.lim = opts->limits ? opts->limits : &default_limits;
	u.is_root = geteuid() == 0;
	u.info = &info;
	u.fd = fd;
	u.root = openat(dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	u.tar_md = EVP_MD_CTX_new();
	u.blob_md = opts->digest ? EVP_MD_CTX_new() : NULL;
	u.inbuf = malloc(IO_BUF_SIZE);
	u.outbuf = malloc(IO_BUF_SIZE);
	if (u.root < 0) {
		r = err_set(err, -errno, E_SERVER, "opening '%s': %s", buf_str(&tmp_path),
			    strerror(errno));
		goto out;
	}
	if (!u.tar_md || (opts->digest && !u.blob_md) || !u.inbuf || !u.outbuf ||
	    !EVP_DigestInit_ex(u.tar_md, EVP_sha256(), NULL) ||
	    (u.blob_md && !EVP_DigestInit_ex(u.blob_md, EVP_sha256(), NULL)))
		abort();

	r = unpack_all(&u, err);
	if (r < 0)
		goto out;
	info.bytes = u.bytes;
	if (u.blob_md) {
		digest_final(u.blob_md, got);
		if (strcmp(got, opts->digest) != 0) {
			r = err_set(err, -EBADMSG, E_INVALID_LAYER,
				    "layer digest mismatch: expected %s, got %s", opts->digest,
				    got);
			goto out;
		}
	}
	digest_final(u.tar_md, got);
	if (opts->diff_id && strcmp(got, opts->diff_id) != 0) {
		r = err_set(err, -EBADMSG, E_INVALID_LAYER,
			    "layer diff_id mismatch: expected %s, got %s", opts->diff_id, got);
		goto out;
	}
	snprintf(info.diff_id, sizeof(info.diff_id), "%s", got);

	/* the files' data reach the disk before the name does */
	if (syncfs(u.root) < 0) {
		r = err_set(err, -errno, E_SERVER, "syncing the layer: %s", strerror(errno));
		goto out;
	}
	buf_printf(&final, "%s/%s", buf_str(&dir), info.diff_id + 7);
	if (renameat2(dfd, tmp, dfd, info.diff_id + 7, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY) {
			/* another unpack of this layer finished first: keep its copy */
			info.reused = true;
		} else {
			r = err_set(err, -errno, E_SERVER, "renaming '%s' to '%s': %s",
				    buf_str(&tmp_path), buf_str(&final), strerror(errno));
			goto out;
		}
	} else {
		tmp[0] = '\0';
		fsync(dfd);
	}
done:
	if (ret_info)
		*ret_info = info;
out:
	if (tmp[0] && dfd >= 0)
		remove_at(dfd, tmp, 0);
	if (u.root >= 0)
		close(u.root);
	if (dfd >= 0)
		close(dfd);
	EVP_MD_CTX_free(u.tar_md);
	EVP_MD_CTX_free(u.blob_md);
	free(u.inbuf);
	free(u.outbuf);
	for (size_t i = 0; i < u.ndirs; i++)
		free(u.dirs[i].path);
	free(u.dirs);
	buf_release(&u.whiteouts);
	buf_release(&dir);
	buf_release(&tmp_path);
	buf_release(&final);
	if (u.la)
		libarchive_release();
	return r;
}

int layer_unpack_file(const char *store_dir, const char *path, const struct layer_unpack_opts *opts,
		      struct layer_info *ret_info, struct err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "opening layer '%s': %s", path,
			       strerror(errno));
	r = layer_unpack(store_dir, fd, opts, ret_info, err);
	close(fd);
	return r;
}
