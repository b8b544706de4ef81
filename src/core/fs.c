/*
 * fs.c: the file-system helpers of fs.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/util.h"
#include "core/banned.h"

int fs_read_file(const char *path, size_t max, struct buf *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t total = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		buf_grow(ret, 4096);
		n = read(fd, ret->data + ret->len, ret->cap - ret->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > max) {
			close(fd);
			return -EFBIG;
		}
		ret->len += (size_t)n;
		ret->data[ret->len] = 0;
	}
	close(fd);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_replace(const char *path, const void *data, size_t len, bool durable)
{
	struct buf tmp = BUF_INIT, dir = BUF_INIT;
	char hex[17];
	int fd, r;

	random_hex(hex, 8);
	buf_printf(&tmp, "%s.tmp-%s", path, hex);
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, data, len);
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(buf_str(&tmp), path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(buf_str(&tmp));
		goto out;
	}
	if (!durable)
		goto out;
	buf_puts(&dir, path);
	fd = open(dirname(dir.data), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
out:
	buf_release(&tmp);
	buf_release(&dir);
	return r;
}

int fs_write_atomic(const char *path, const void *data, size_t len)
{
	return write_replace(path, data, len, true);
}

int fs_write_replace(const char *path, const void *data, size_t len)
{
	return write_replace(path, data, len, false);
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	struct buf p = BUF_INIT;
	int r = 0;

	buf_puts(&p, path);
	for (char *s = p.data + 1; s && *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p.data, mode) < 0 && errno != EEXIST)
			r = -errno;
		*s = '/';
		if (r < 0)
			goto out;
	}
	if (mkdir(p.data, mode) < 0 && errno != EEXIST)
		r = -errno;
out:
	buf_release(&p);
	return r;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path)
{
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return errno == ENOENT ? 0 : -errno;
	return 0;
}
