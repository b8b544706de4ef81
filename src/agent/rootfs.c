/*
 * rootfs.c: a container's root, an overlayfs over its image's layers
 * (rootfs.h): the short layer links, the recorded whiteouts carried out in
 * the upper directory, and the mount itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/layers.h"
#include "agent/rootfs.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/banned.h"

#define WHITEOUTS_FILE_MAX (64u << 20)

/* The layers of one root, bottom first, and its upper directory, all open. */
struct stack {
	int *fd;
	size_t n;
	int upper;
};

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ __attribute__((cleanup(closep)))

/* openat2 without following any symbolic link and without leaving root. */
static int open_beneath(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!*path)
		path = ".";
	fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/*
 * lstat of path (relative, '/'-separated) inside the tree at root, no
 * component followed if it is a symbolic link: 0, or -ENOENT when path is
 * not there (a symbolic link or non-directory on the way counts as absent).
 */
static int lstat_beneath(int root, const char *path, struct stat *ret)
{
	const char *slash = strrchr(path, '/');
	_cleanup_close_ int dir = -1;

	if (!slash)
		return fstatat(root, path, ret, AT_SYMLINK_NOFOLLOW) < 0 ? -ENOENT : 0;
	{
		_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));

		if (!parent)
			return -ENOMEM;
		dir = open_beneath(root, parent, O_PATH | O_DIRECTORY);
	}
	if (dir < 0)
		return -ENOENT;
	return fstatat(dir, slash + 1, ret, AT_SYMLINK_NOFOLLOW) < 0 ? -ENOENT : 0;
}

/* The topmost layer in [from, s->n) that has path (its stat in ret), or -1. */
static long topmost(const struct stack *s, size_t from, const char *path, struct stat *ret)
{
	for (size_t i = s->n; i-- > from;)
		if (lstat_beneath(s->fd[i], path, ret) == 0)
			return (long)i;
	return -1;
}

static void path_child(const char *path, const char *name, struct buf *ret)
{
	buf_reset(ret);
	if (*path)
		buf_printf(ret, "%s/%s", path, name);
	else
		buf_puts(ret, name);
}

/*
 * Make the upper directory's copy of directory path (each missing
 * ancestor too), with the owner, mode and times of the topmost layer's.
 * Returns 1 when done, 0 when there is nothing to hide under path (a layer
 * shadows it with a non-directory, or it is hidden already), -errno.
 */
static int upper_dir(const struct stack *s, const char *path)
{
	_cleanup_buf_ struct buf prefix = BUF_INIT;
	const char *p = path;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		struct stat st;

		buf_reset(&prefix);
		buf_append(&prefix, path, len);
		if (lstat_beneath(s->upper, buf_str(&prefix), &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				return 0; /* a whiteout made for an ancestor hides all */
		} else {
			struct timespec ts[2];
			_cleanup_close_ int parent = -1;
			const char *base = strrchr(buf_str(&prefix), '/');
			_cleanup_free_ char *pdir =
				strndup(buf_str(&prefix), base ? (size_t)(base - prefix.data) : 0);

			if (topmost(s, 0, buf_str(&prefix), &st) < 0 || !S_ISDIR(st.st_mode))
				return 0;
			if (!pdir)
				return -ENOMEM;
			base = base ? base + 1 : buf_str(&prefix);
			parent = open_beneath(s->upper, pdir, O_PATH | O_DIRECTORY);
			if (parent < 0)
				return parent;
			if (mkdirat(parent, base, st.st_mode & 07777) < 0)
				return -errno;
			if (fchownat(parent, base, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
			    fchmodat(parent, base, st.st_mode & 07777, 0) < 0)
				return -errno;
			ts[0] = st.st_atim;
			ts[1] = st.st_mtim;
			utimensat(parent, base, ts, AT_SYMLINK_NOFOLLOW);
		}
		p = slash ? slash + 1 : p + strlen(p);
	}
	return 1;
}

/* A whiteout (char device 0/0) at path in the upper directory. */
static int upper_whiteout(const struct stack *s, const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *parent = strndup(path, slash ? (size_t)(slash - path) : 0);
	_cleanup_close_ int fd = -1;
	int r;

	if (!parent)
		return -ENOMEM;
	r = upper_dir(s, parent);
	if (r <= 0)
		return r;
	fd = open_beneath(s->upper, parent, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if (mknodat(fd, slash ? slash + 1 : path, S_IFCHR | 0000, makedev(0, 0)) < 0 &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct names in directory path of the layers [0, m), sorted; -errno. */
static int children_below(const struct stack *s, size_t m, const char *path, char ***ret,
			  size_t *ret_n)
{
	char **names = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < m; i++) {
		int fd = open_beneath(s->fd[i], path, O_RDONLY | O_DIRECTORY);
		DIR *d;
		struct dirent *de;

		if (fd < 0)
			continue;
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    (!*path && !strcmp(de->d_name, LAYER_WHITEOUTS_FILE)))
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 32;
				names = realloc(names, cap * sizeof(*names));
				if (!names)
					abort();
			}
			names[n] = strdup(de->d_name);
			if (!names[n])
				abort();
			n++;
		}
		closedir(d);
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	{
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			if (k && !strcmp(names[k - 1], names[i])) {
				free(names[i]);
				continue;
			}
			names[k++] = names[i];
		}
		n = k;
	}
	*ret = names;
	*ret_n = n;
	return 0;
}

/*
 * Hide what the layers below m have at path, keeping what the layers from
 * m up have: a whiteout when none of those has path, else, when the
 * topmost one's is a directory, the same for each entry below it.
 */
static int hide_below(const struct stack *s, size_t m, const char *path, unsigned depth)
{
	struct stat st;
	long j;
	char **names = NULL;
	size_t n = 0;
	int r = 0;

	if (depth > LAYER_MAX_DEPTH)
		return -ELOOP;
	{
		bool below = false;

		for (size_t i = 0; !below && i < m; i++)
			below = lstat_beneath(s->fd[i], path, &st) == 0;
		if (!below)
			return 0; /* nothing below m to hide */
	}
	j = topmost(s, m, path, &st);
	if (j < 0)
		return upper_whiteout(s, path);
	if (!S_ISDIR(st.st_mode))
		return 0; /* a higher non-directory shadows everything below */
	r = children_below(s, m, path, &names, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_buf_ struct buf child = BUF_INIT;

		path_child(path, names[i], &child);
		r = hide_below(s, m, buf_str(&child), depth + 1);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* Whether a recorded path is one a layer could have written: relative, no "." or "..". */
static bool record_path_valid(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *c = p; *c;) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);

		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += len + (slash ? 1 : 0);
		if (slash && !*c)
			return false;
	}
	return true;
}

/* Carry out layer k's recorded whiteouts (if it has any) in the upper directory. */
static int apply_recorded(const struct stack *s, size_t k, const char *diff_id, bool *ret_had,
			  struct err *err)
{
	_cleanup_buf_ struct buf data = BUF_INIT;
	_cleanup_close_ int fd =
		openat(s->fd[k], LAYER_WHITEOUTS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	size_t off = 0;

	if (fd < 0)
		return 0;
	*ret_had = true;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > WHITEOUTS_FILE_MAX)
		return err_set(err, -EBADMSG, E_CLIENT,
			       "CannotCreateContainerError: layer %s: unusable %s", diff_id,
			       LAYER_WHITEOUTS_FILE);
	buf_grow(&data, (size_t)st.st_size + 1);
	while (data.len < (size_t)st.st_size) {
		ssize_t n = read(fd, data.data + data.len, (size_t)st.st_size - data.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		data.len += (size_t)n;
	}
	data.data[data.len] = 0;
	while (off < data.len) {
		const char *rec = data.data + off;
		size_t len = strnlen(rec, data.len - off);
		_cleanup_buf_ struct buf child = BUF_INIT;
		char **names = NULL;
		size_t n = 0;
		int r = 0;

		if (len == data.len - off || len < 3 || (rec[0] != 'w' && rec[0] != 'o') ||
		    rec[1] != ' ' || !record_path_valid(rec + 2))
			return err_set(err, -EBADMSG, E_CLIENT,
				       "CannotCreateContainerError: layer %s: bad record in %s",
				       diff_id, LAYER_WHITEOUTS_FILE);
		if (rec[0] == 'w') {
			r = hide_below(s, k, rec + 2, 0);
		} else {
			r = children_below(s, k, rec + 2, &names, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				path_child(rec + 2, names[i], &child);
				r = hide_below(s, k, buf_str(&child), 0);
			}
			for (size_t i = 0; i < n; i++)
				free(names[i]);
			free(names);
		}
		if (r < 0)
			return err_set(err, r, E_SERVER,
				       "applying the recorded whiteout '%s' of layer %s: %s", rec,
				       diff_id, strerror(-r));
		off += len + 1;
	}
	return 0;
}

static int apply_all_recorded(const char *dir, const char *const *diff_ids, size_t n,
			      struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	_cleanup_free_ int *fds = calloc(n, sizeof(int));
	struct stack s = { .fd = fds, .n = n, .upper = -1 };
	bool had = false;
	int r = 0;

	if (!fds)
		abort();
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	buf_printf(&path, "%s/upper", dir);
	s.upper = open(buf_str(&path), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s.upper < 0) {
		r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path), strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		buf_reset(&path);
		buf_printf(&path, "%s/l/%zu", dir, i);
		fds[i] = open(buf_str(&path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0) {
			r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path),
				    strerror(errno));
			goto out;
		}
	}
	for (size_t k = 0; r == 0 && k < n; k++)
		r = apply_recorded(&s, k, diff_ids[k], &had, err);
	if (r == 0 && had) {
		/* the record files are the store's, not the image's */
		r = upper_whiteout(&s, LAYER_WHITEOUTS_FILE);
		if (r < 0)
			err_set(err, r, E_SERVER, "hiding %s: %s", LAYER_WHITEOUTS_FILE,
				strerror(-r));
	}
out:
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (s.upper >= 0)
		close(s.upper);
	return r;
}

/* mkdir dir/name, an existing one accepted. */
static int make_subdir(const char *dir, const char *name, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT;

	buf_printf(&path, "%s/%s", dir, name);
	if (mkdir(buf_str(&path), 0755) < 0 && errno != EEXIST)
		return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path), strerror(errno));
	return 0;
}

int rootfs_mount(const char *dir, const char *layers_dir, const char *const *diff_ids,
		 size_t n_layers, struct err *err)
{
	static const char *const subdirs[] = { "rootfs", "upper", "work", "l" };
	_cleanup_buf_ struct buf opts = BUF_INIT, link = BUF_INIT;
	_cleanup_free_ char *store = NULL;
	int here, r;

	if (n_layers == 0)
		return err_set(err, -EINVAL, E_CLIENT,
			       "CannotCreateContainerError: an image without layers");
	if (n_layers > ROOTFS_MAX_LAYERS)
		return err_set(err, -E2BIG, E_CLIENT,
			       "CannotCreateContainerError: %zu layers, more than the %d one "
			       "overlay mount takes",
			       n_layers, ROOTFS_MAX_LAYERS);
	for (size_t i = 0; i < n_layers; i++)
		if (!layer_exists(layers_dir, diff_ids[i]))
			return err_set(err, -ENOENT, E_CLIENT,
				       "CannotCreateContainerError: layer %s is not in the store",
				       diff_ids[i] ? diff_ids[i] : "(null)");
	store = realpath(layers_dir, NULL);
	if (!store)
		return err_set(err, -errno, E_SERVER, "%s: %s", layers_dir, strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		r = make_subdir(dir, subdirs[i], err);
		if (r < 0)
			return r;
	}
	/* l/I -> the layer's directory, so that the options name each layer in a few bytes */
	buf_puts(&opts, "lowerdir=");
	for (size_t i = 0; i < n_layers; i++) {
		_cleanup_buf_ struct buf layer = BUF_INIT;

		r = layer_path(store, diff_ids[i], &layer, err);
		if (r < 0)
			return r;
		buf_reset(&link);
		buf_printf(&link, "%s/l/%zu", dir, i);
		if (symlink(buf_str(&layer), buf_str(&link)) < 0 && errno != EEXIST)
			return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&link),
				       strerror(errno));
	}
	for (size_t i = n_layers; i-- > 0;)
		buf_printf(&opts, "l/%zu%s", i, i ? ":" : "");
	buf_puts(&opts, ",upperdir=upper,workdir=work");

	r = apply_all_recorded(dir, diff_ids, n_layers, err);
	if (r < 0)
		return r;

	/*
	 * The names are relative to dir: this thread moves there to mount.
	 * unshare(CLONE_FS) gives it a working directory of its own first, so
	 * the agent's other threads never see it move (a forked child, the
	 * other way, costs milliseconds per container on a busy host).
	 */
	here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (here < 0)
		return err_set(err, -errno, E_SERVER, "opening the working directory: %s",
			       strerror(errno));
	if (unshare(CLONE_FS) < 0 || chdir(dir) < 0)
		r = -errno;
	else if (mount("overlay", "rootfs", "overlay", 0, buf_str(&opts)) < 0)
		r = -errno;
	if (fchdir(here) < 0 && r == 0)
		r = -errno;
	close(here);
	if (r < 0)
		return err_set(err, r, E_SERVER,
			       "CannotCreateContainerError: mounting the root file system: %s",
			       strerror(-r));
	return 0;
}

int rootfs_unmount(const char *dir, struct err *err)
{
	_cleanup_buf_ struct buf rootfs = BUF_INIT;

	buf_printf(&rootfs, "%s/rootfs", dir);
	if (umount2(buf_str(&rootfs), MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		return err_set(err, -errno, E_SERVER, "unmounting %s: %s", buf_str(&rootfs),
			       strerror(errno));
	return 0;
}
