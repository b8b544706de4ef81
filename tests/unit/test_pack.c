/*
 * test_pack.c: a directory tree into a layer (build/pack.h): the blob's
 * tar lists the tree sorted, with owners, modes, mtimes, symbolic and hard
 * links; overlay whiteouts (character devices 0/0, opaque directories)
 * become OCI whiteouts and the runtime's mount points are left out; the
 * same tree gives the same diff_id and digest; the blob is named by its
 * digest and the layer lands unpacked in the layer store.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "agent/images.h"
#include "build/pack.h"
#include "core/buf.h"
#include "core/digest.h"
#include "core/fs.h"

#define MTIME 1700000000

struct fixture {
	char dir[64];
	char tree[96];
	char store[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-pack-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->tree, sizeof(f->tree), "%s/tree", f->dir);
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	assert_int_equal(mkdir(f->tree, 0755), 0);
	assert_int_equal(mkdir(f->store, 0700), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fs_remove_tree(f->dir);
	free(f);
	return 0;
}

static void put(const struct fixture *f, const char *rel, const char *data, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->tree, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	chmod(path, mode);
}

static void sub(const struct fixture *f, const char *rel, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", f->tree, rel);
}

/* Every mtime in the tree set to MTIME, so that two packs compare. */
static void settle(const struct fixture *f, const char *const *rels, size_t n)
{
	struct timespec t[2] = { { MTIME, 0 }, { MTIME, 0 } };
	char path[256];

	for (size_t i = 0; i < n; i++) {
		sub(f, rels[i], path, sizeof(path));
		utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW);
	}
	utimensat(AT_FDCWD, f->tree, t, 0);
}

/* The entries of blob digest: "path type uid:gid mode mtime [link]" lines. */
static void listing(const struct fixture *f, const char *digest, struct buf *out)
{
	struct buf path = BUF_INIT;
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	images_blob_path(f->store, digest, &path);
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, buf_str(&path), 65536), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *link = archive_entry_symlink(e) ?: archive_entry_hardlink(e);

		buf_printf(out, "%s %o %lld:%lld %o %lld%s%s\n", archive_entry_pathname(e),
			   (unsigned)archive_entry_filetype(e) >> 12,
			   (long long)archive_entry_uid(e), (long long)archive_entry_gid(e),
			   (unsigned)archive_entry_perm(e), (long long)archive_entry_mtime(e),
			   link ? " -> " : "", link ? link : "");
		assert_false(archive_entry_atime_is_set(e));
		assert_false(archive_entry_ctime_is_set(e));
	}
	archive_read_free(a);
	buf_release(&path);
}

static void test_tree_into_layer(void **state)
{
	struct fixture *f = *state;
	static const char *const rels[] = { "bin",	"bin/tool", "bin/link",
					    "bin/hard", "etc",	    "etc/conf" };
	struct packed_layer l, again;
	struct err err = ERR_INIT;
	struct buf list = BUF_INIT, path = BUF_INIT, blob = BUF_INIT;
	char p[256], q[256];

	assert_int_equal(mkdir(f->tree, 0755) == 0 || errno == EEXIST, 1);
	sub(f, "bin", p, sizeof(p));
	assert_int_equal(mkdir(p, 0750), 0);
	sub(f, "etc", p, sizeof(p));
	assert_int_equal(mkdir(p, 0755), 0);
	put(f, "bin/tool", "#!/bin/sh\necho tool\n", 0755);
	put(f, "etc/conf", "x=1\n", 0640);
	sub(f, "etc/conf", p, sizeof(p));
	assert_int_equal(lchown(p, 1000, 1001), 0);
	sub(f, "bin/link", p, sizeof(p));
	assert_int_equal(symlink("tool", p), 0);
	sub(f, "bin/tool", q, sizeof(q));
	sub(f, "bin/hard", p, sizeof(p));
	assert_int_equal(link(q, p), 0);
	settle(f, rels, 6);

	assert_int_equal(pack_layer(f->store, f->tree, 0, &l, &err), 0);
	listing(f, l.digest, &list);
	assert_string_equal(buf_str(&list), "bin/ 4 0:0 750 1700000000\n"
					    "bin/hard 10 0:0 755 1700000000\n"
					    "bin/link 12 0:0 777 1700000000 -> tool\n"
					    "bin/tool 0 0:0 755 1700000000 -> bin/hard\n"
					    "etc/ 4 0:0 755 1700000000\n"
					    "etc/conf 10 1000:1001 640 1700000000\n");
	/* the blob is named by its digest, and is as large as said */
	images_blob_path(f->store, l.digest, &blob);
	{
		struct buf data = BUF_INIT;
		char d[DIGEST_SIZE];

		assert_int_equal(fs_read_file(buf_str(&blob), 1 << 20, &data), 0);
		digest_sha256(data.data, data.len, d);
		assert_string_equal(d, l.digest);
		assert_int_equal(data.len, l.size);
		buf_release(&data);
	}
	/* unpacked into the layer store */
	assert_true(layer_exists(f->store, l.diff_id));
	assert_int_equal(layer_path(f->store, l.diff_id, &path, &err), 0);
	buf_puts(&path, "/etc/conf");
	{
		struct stat sb;

		assert_int_equal(lstat(buf_str(&path), &sb), 0);
		assert_int_equal(sb.st_uid, 1000);
		assert_int_equal(sb.st_mode & 07777, 0640);
	}
	/* the same tree, the same layer */
	assert_int_equal(pack_layer(f->store, f->tree, 0, &again, &err), 0);
	assert_string_equal(again.diff_id, l.diff_id);
	assert_string_equal(again.digest, l.digest);
	buf_release(&list);
	buf_release(&path);
	buf_release(&blob);
}

static void test_overlay_whiteouts(void **state)
{
	struct fixture *f = *state;
	static const char *const rels[] = {
		"etc",	     "etc/gone",	"www",	       "www/new", "proc",
		"etc/hosts", "etc/resolv.conf", "etc/hostname"
	};
	struct packed_layer l;
	struct err err = ERR_INIT;
	struct buf list = BUF_INIT;
	char p[256];
	bool opaque;

	sub(f, "etc", p, sizeof(p));
	assert_int_equal(mkdir(p, 0755), 0);
	sub(f, "etc/gone", p, sizeof(p));
	if (mknod(p, S_IFCHR | 0, makedev(0, 0)) < 0) {
		skip(); /* not root: no whiteout devices to read */
		return;
	}
	sub(f, "www", p, sizeof(p));
	assert_int_equal(mkdir(p, 0755), 0);
	opaque = setxattr(p, "trusted.overlay.opaque", "y", 1, 0) == 0;
	put(f, "www/new", "new\n", 0644);
	/* what the runtime made: left out */
	sub(f, "proc", p, sizeof(p));
	assert_int_equal(mkdir(p, 0555), 0);
	put(f, "etc/hosts", "", 0644);
	put(f, "etc/resolv.conf", "", 0644);
	put(f, "etc/hostname", "", 0644);
	settle(f, rels, 8);

	assert_int_equal(pack_layer(f->store, f->tree, PACK_OVERLAY, &l, &err), 0);
	listing(f, l.digest, &list);
	if (opaque)
		assert_string_equal(buf_str(&list), "etc/ 4 0:0 755 1700000000\n"
						    "etc/.wh.gone 10 0:0 0 1700000000\n"
						    "www/ 4 0:0 755 1700000000\n"
						    "www/.wh..wh..opq 10 0:0 0 1700000000\n"
						    "www/new 10 0:0 644 1700000000\n");
	else
		assert_string_equal(buf_str(&list), "etc/ 4 0:0 755 1700000000\n"
						    "etc/.wh.gone 10 0:0 0 1700000000\n"
						    "www/ 4 0:0 755 1700000000\n"
						    "www/new 10 0:0 644 1700000000\n");
	buf_release(&list);
}

static void test_blob_write(void **state)
{
	struct fixture *f = *state;
	char d[DIGEST_SIZE], want[DIGEST_SIZE];
	struct err err = ERR_INIT;
	struct buf path = BUF_INIT, data = BUF_INIT;

	assert_int_equal(pack_blob_write(f->store, "{}", 2, d, &err), 0);
	digest_sha256("{}", 2, want);
	assert_string_equal(d, want);
	images_blob_path(f->store, d, &path);
	assert_int_equal(fs_read_file(buf_str(&path), 16, &data), 0);
	assert_string_equal(buf_str(&data), "{}");
	/* twice: the same blob, nothing else in the directory */
	assert_int_equal(pack_blob_write(f->store, "{}", 2, d, &err), 0);
	buf_release(&path);
	buf_release(&data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tree_into_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_whiteouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_write, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
