/*
 * test_layers.c: the agent's layer store: layers built here with libarchive's
 * writer (plain, gzip, zstd) land with their files, directories, links,
 * modes and times; digests and diff_ids are verified and a mismatch leaves
 * nothing; whiteouts and opaque directories; every way out of the layer
 * directory is refused with nothing written outside; limits; reuse of a
 * complete layer; two threads unpacking one layer end with one copy.
 *
 * With BERTH_LAYER_CORPUS set to a directory, the tars built are also saved
 * there (that is how tests/fuzz/corpus/fuzz_layer/ was made).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include <openssl/evp.h>

#include "agent/layers.h"
#include "agent/libarchive.h"
#include "core/cleanup.h"

#define MTIME 1600000000

struct fixture {
	char dir[64];
	char store[96];
	char outside[96];
	int seq;
};

/* One tar entry: 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'p' fifo, 'c' char device. */
struct ent {
	char type;
	const char *name;
	const char *data; /* file contents or link target */
	int mode;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-layers-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(f->store, 0755), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static la_ssize_t buf_writer(struct archive *a, void *data, const void *p, size_t n)
{
	(void)a;
	buf_append(data, p, n);
	return (la_ssize_t)n;
}

/* A tar of ents, through filter (ARCHIVE_FILTER_NONE, _GZIP, _ZSTD), appended to out. */
static void make_tar(const struct ent *ents, size_t n, int filter, struct buf *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (filter == ARCHIVE_FILTER_GZIP)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	else if (filter == ARCHIVE_FILTER_ZSTD)
		assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open(a, out, NULL, buf_writer, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const struct ent *x = &ents[i];
		size_t len = 0;

		archive_entry_clear(e);
		archive_entry_set_pathname(e, x->name);
		archive_entry_set_mtime(e, MTIME + (time_t)i, 0);
		archive_entry_set_uid(e, 1000 + (int64_t)i);
		archive_entry_set_gid(e, 2000 + (int64_t)i);
		archive_entry_set_perm(e, x->mode ? (mode_t)x->mode : 0644);
		switch (x->type) {
		case 'f':
			len = x->data ? strlen(x->data) : 0;
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)len);
			break;
		case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, x->data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, x->data);
			break;
		case 'p': archive_entry_set_filetype(e, AE_IFIFO); break;
		case 'c':
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdevmajor(e, 1);
			archive_entry_set_rdevminor(e, 3);
			break;
		default: fail();
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(a, x->data, len), (la_ssize_t)len);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
}

static void sha256_of(const struct buf *b, char ret[LAYER_DIGEST_SIZE])
{
	unsigned char h[32];
	unsigned int len = 0;
	int n;

	assert_true(EVP_Digest(b->data, b->len, h, &len, EVP_sha256(), NULL));
	n = snprintf(ret, LAYER_DIGEST_SIZE, "sha256:");
	for (int i = 0; i < 32; i++)
		n += snprintf(ret + n, LAYER_DIGEST_SIZE - (size_t)n, "%02x", h[i]);
}

/* Write b to a new file in the fixture (and to $BERTH_LAYER_CORPUS); return its fd. */
static int blob_fd(struct fixture *f, const struct buf *b)
{
	char path[160];
	const char *corpus = getenv("BERTH_LAYER_CORPUS");
	int fd;

	snprintf(path, sizeof(path), "%s/blob-%d", f->dir, f->seq++);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b->data, b->len), (ssize_t)b->len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	if (corpus) {
		char digest[LAYER_DIGEST_SIZE];
		FILE *c;

		sha256_of(b, digest);
		snprintf(path, sizeof(path), "%s/%.16s", corpus, digest + 7);
		c = fopen(path, "wb");
		assert_non_null(c);
		assert_int_equal(fwrite(b->data, 1, b->len, c), b->len);
		fclose(c);
	}
	return fd;
}

/* Unpack ents with filter; the layer's diff_id goes to ret_diff_id (may be NULL). */
static int unpack(struct fixture *f, const struct ent *ents, size_t n, int filter,
		  const struct layer_limits *lim, char *ret_diff_id, struct err *err)
{
	struct buf b = BUF_INIT;
	struct layer_unpack_opts o = { .limits = lim };
	struct layer_info info;
	int fd, r;

	make_tar(ents, n, filter, &b);
	fd = blob_fd(f, &b);
	r = layer_unpack(f->store, fd, &o, &info, err);
	if (r == 0 && ret_diff_id)
		snprintf(ret_diff_id, LAYER_DIGEST_SIZE, "%s", info.diff_id);
	close(fd);
	buf_release(&b);
	return r;
}

/* Entries in dir, "." and ".." left out. */
static int count_dir(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Nothing in the store but layers/sha256 with n layers (no temporaries); nothing outside. */
static void assert_store_holds(struct fixture *f, int n)
{
	char p[160];

	assert_int_equal(count_dir(f->store), 1);
	snprintf(p, sizeof(p), "%s/layers", f->store);
	assert_int_equal(count_dir(p), 1);
	snprintf(p, sizeof(p), "%s/layers/sha256", f->store);
	assert_int_equal(count_dir(p), n);
	assert_int_equal(count_dir(f->outside), 0);
	assert_int_equal(count_dir(f->dir), 2 + f->seq); /* store, outside, blobs */
}

static void lpath(struct fixture *f, const char *diff_id, const char *rel, char *out, size_t n)
{
	struct buf b = BUF_INIT;

	assert_int_equal(layer_path(f->store, diff_id, &b, NULL), 0);
	snprintf(out, n, "%s/%s", buf_str(&b), rel);
	buf_release(&b);
}

static const struct ent basic[] = {
	{ 'd', "./", NULL, 0755 },
	{ 'd', "etc/", NULL, 0750 },
	{ 'f', "etc/hostname", "berth\n", 0644 },
	{ 'f', "bin/tool", "#!/bin/sh\necho hi\n", 04755 }, /* implicit parent, setuid */
	{ 'l', "bin/sh", "/bin/busybox", 0777 },
	{ 'l', "etc/escape", "../../../../etc/passwd", 0777 },
	{ 'h', "etc/hostname2", "etc/hostname", 0 },
	{ 'p', "run/fifo", NULL, 0600 },
	{ 'f', "/abs/file", "abs", 0600 }, /* leading '/' stripped */
	{ 'd', "locked/", NULL, 0500 },
	{ 'f', "locked/inner", "x", 0400 },
	{ 'f', "empty", NULL, 0 },
};

static void check_basic(struct fixture *f, const char *diff_id)
{
	char p[256], q[256], target[64];
	struct stat st, st2;
	FILE *c;
	ssize_t n;

	lpath(f, diff_id, "etc/hostname", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 6);
	assert_int_equal(st.st_mtime, MTIME + 2);
	assert_int_equal(st.st_uid, 1002);
	assert_int_equal(st.st_gid, 2002);
	c = fopen(p, "r");
	assert_non_null(c);
	assert_non_null(fgets(target, sizeof(target), c));
	fclose(c);
	assert_string_equal(target, "berth\n");

	lpath(f, diff_id, "etc/hostname2", q, sizeof(q));
	assert_int_equal(lstat(q, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_int_equal(st2.st_nlink, 2);

	lpath(f, diff_id, "etc", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_mtime, MTIME + 1);

	lpath(f, diff_id, "bin/tool", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	lpath(f, diff_id, "bin", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	lpath(f, diff_id, "bin/sh", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "/bin/busybox");
	assert_int_equal(st.st_mtime, MTIME + 4);
	lpath(f, diff_id, "etc/escape", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));

	lpath(f, diff_id, "run/fifo", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	lpath(f, diff_id, "abs/file", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	lpath(f, diff_id, "locked/inner", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	lpath(f, diff_id, "locked", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0500);
	lpath(f, diff_id, "empty", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	lpath(f, diff_id, "", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_mtime, MTIME);
}

static void unpack_basic(void **state, int filter)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct buf plain = BUF_INIT;
	char diff_id[LAYER_DIGEST_SIZE], want[LAYER_DIGEST_SIZE];

	assert_int_equal(unpack(f, basic, ARRAY_SIZE(basic), filter, NULL, diff_id, &err), 0);
	/* named by the uncompressed tar's digest, whatever the compression */
	make_tar(basic, ARRAY_SIZE(basic), ARCHIVE_FILTER_NONE, &plain);
	sha256_of(&plain, want);
	assert_string_equal(diff_id, want);
	assert_true(layer_exists(f->store, diff_id));
	check_basic(f, diff_id);
	assert_store_holds(f, 1);
	buf_release(&plain);

	assert_int_equal(layer_remove(f->store, diff_id, &err), 0);
	assert_false(layer_exists(f->store, diff_id));
	assert_store_holds(f, 0);
	assert_int_equal(layer_remove(f->store, diff_id, &err), -ENOENT);
	assert_int_equal(err.kind, E_LAYERS_NOT_FOUND);
}

static void test_plain(void **state)
{
	unpack_basic(state, ARCHIVE_FILTER_NONE);
}

static void test_gzip(void **state)
{
	unpack_basic(state, ARCHIVE_FILTER_GZIP);
}

static void test_zstd(void **state)
{
	struct archive *a = archive_write_new();
	int ok = archive_write_add_filter_zstd(a) == ARCHIVE_OK;

	archive_write_free(a);
	if (!ok)
		skip();
	unpack_basic(state, ARCHIVE_FILTER_ZSTD);
}

static void test_digests_verified(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct buf plain = BUF_INIT, gz = BUF_INIT;
	char diff_id[LAYER_DIGEST_SIZE], digest[LAYER_DIGEST_SIZE];
	const char *wrong =
		"sha256:0000000000000000000000000000000000000000000000000000000000000000";
	struct layer_unpack_opts o = { 0 };
	struct layer_info info;
	int fd;

	make_tar(basic, ARRAY_SIZE(basic), ARCHIVE_FILTER_NONE, &plain);
	make_tar(basic, ARRAY_SIZE(basic), ARCHIVE_FILTER_GZIP, &gz);
	sha256_of(&plain, diff_id);
	sha256_of(&gz, digest);

	/* a wrong diff_id: refused, nothing left */
	o.diff_id = wrong;
	fd = blob_fd(f, &gz);
	assert_int_equal(layer_unpack(f->store, fd, &o, &info, &err), -EBADMSG);
	assert_int_equal(err.kind, E_INVALID_LAYER);
	assert_non_null(strstr(err.msg, "diff_id mismatch"));
	close(fd);
	assert_store_holds(f, 0);

	/* a wrong compressed digest */
	o.diff_id = diff_id;
	o.digest = wrong;
	fd = blob_fd(f, &gz);
	assert_int_equal(layer_unpack(f->store, fd, &o, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "digest mismatch"));
	close(fd);
	assert_store_holds(f, 0);

	/* an invalid one */
	o.digest = "sha256:abc";
	assert_int_equal(layer_unpack(f->store, fd, &o, &info, &err), -EINVAL);

	/* both right */
	o.digest = digest;
	fd = blob_fd(f, &gz);
	assert_int_equal(layer_unpack(f->store, fd, &o, &info, &err), 0);
	close(fd);
	assert_string_equal(info.diff_id, diff_id);
	assert_false(info.reused);
	assert_int_equal(info.entries, ARRAY_SIZE(basic));
	assert_int_equal(info.bytes, plain.len);
	assert_store_holds(f, 1);

	/* reused: the input is not even read */
	fd = open("/dev/null", O_RDONLY);
	assert_int_equal(layer_unpack(f->store, fd, &o, &info, &err), 0);
	assert_true(info.reused);
	close(fd);
	/* unnamed, it is unpacked again and the existing copy kept */
	fd = blob_fd(f, &gz);
	assert_int_equal(layer_unpack(f->store, fd, NULL, &info, &err), 0);
	assert_true(info.reused);
	assert_string_equal(info.diff_id, diff_id);
	close(fd);
	assert_store_holds(f, 1);
	check_basic(f, diff_id);

	/* not a tar; an empty input; truncated */
	fd = blob_fd(f, &(struct buf){ .data = "hello, world", .len = 12 });
	assert_int_equal(layer_unpack(f->store, fd, NULL, &info, &err), -EBADMSG);
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	assert_int_equal(layer_unpack(f->store, fd, NULL, &info, &err), -EBADMSG);
	close(fd);
	gz.len /= 2;
	fd = blob_fd(f, &gz);
	assert_int_equal(layer_unpack(f->store, fd, NULL, &info, &err), -EBADMSG);
	close(fd);
	assert_store_holds(f, 1);
	buf_release(&plain);
	buf_release(&gz);
}

static void test_whiteouts(void **state)
{
	static const struct ent ents[] = {
		{ 'd', "a/", NULL, 0755 },
		{ 'f', "a/.wh.gone", NULL, 0 },
		{ 'f', "a/keep", "k", 0 },
		{ 'd', "o/", NULL, 0755 },
		{ 'f', "o/.wh..wh..opq", NULL, 0 },
		{ 'f', ".wh..wh.plnk", NULL, 0 }, /* aufs: skipped */
		{ 'f', "top/.wh.dir", NULL, 0 },
	};
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char diff_id[LAYER_DIGEST_SIZE], p[256], val[8];
	struct stat st;
	ssize_t n;
	bool devices, opaque_xattr;

	assert_int_equal(
		unpack(f, ents, ARRAY_SIZE(ents), ARCHIVE_FILTER_GZIP, NULL, diff_id, &err), 0);
	lpath(f, diff_id, "a/.wh.gone", p, sizeof(p));
	assert_int_equal(lstat(p, &st), -1);
	lpath(f, diff_id, ".wh..wh.plnk", p, sizeof(p));
	assert_int_equal(lstat(p, &st), -1);
	lpath(f, diff_id, "a/gone", p, sizeof(p));
	devices = lstat(p, &st) == 0;
	if (devices) {
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_rdev, makedev(0, 0));
		lpath(f, diff_id, "top/dir", p, sizeof(p));
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISCHR(st.st_mode));
	}
	lpath(f, diff_id, "o", p, sizeof(p));
	n = lgetxattr(p, "trusted.overlay.opaque", val, sizeof(val));
	opaque_xattr = n == 1 && val[0] == 'y';
	lpath(f, diff_id, ".berth-whiteouts", p, sizeof(p));
	if (devices && opaque_xattr) {
		assert_int_equal(lstat(p, &st), -1);
	} else {
		/* the recorded list holds what could not be made */
		char list[256] = { 0 };
		FILE *c = fopen(p, "rb");
		size_t len;

		assert_non_null(c);
		len = fread(list, 1, sizeof(list) - 1, c);
		fclose(c);
		if (!opaque_xattr)
			assert_non_null(memmem(list, len, "o o\0", 4));
		if (!devices) {
			assert_non_null(memmem(list, len, "w a/gone\0", 9));
			assert_non_null(memmem(list, len, "w top/dir\0", 10));
		}
	}
	if (geteuid() == 0)
		print_message("whiteouts as devices: %s, opaque as xattr: %s\n",
			      devices ? "yes" : "no", opaque_xattr ? "yes" : "no");

	/* the list's name is reserved */
	static const struct ent reserved[] = { { 'f', ".berth-whiteouts", "w etc", 0 } };
	assert_int_equal(unpack(f, reserved, 1, ARCHIVE_FILTER_NONE, NULL, NULL, &err), -EPERM);
	assert_store_holds(f, 1);
}

/* Each of these must be refused, with nothing written outside and no layer left. */
static void test_escapes_refused(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char abs_link[160];
	const struct ent dotdot[] = { { 'f', "../x", "bad", 0 } };
	const struct ent abs_dotdot[] = { { 'f', "/abs/../../x", "bad", 0 } };
	const struct ent mid_dotdot[] = { { 'f', "a/../../x", "bad", 0 } };
	const struct ent deep_dotdot[] = { { 'f', "a/b/../../../../outside/x", "bad", 0 } };
	const struct ent via_symlink[] = {
		{ 'l', "s", abs_link, 0777 },
		{ 'f', "s/file", "bad", 0 },
	};
	const struct ent via_rel_symlink[] = {
		{ 'd', "d/", NULL, 0755 },
		{ 'l', "d/up", "../../../../outside", 0777 },
		{ 'f', "d/up/file", "bad", 0 },
	};
	const struct ent chain[] = {
		{ 'l', "a", "b", 0777 },
		{ 'l', "b", "c", 0777 },
		{ 'l', "c", abs_link, 0777 },
		{ 'f', "a/file", "bad", 0 },
	};
	const struct ent symlink_dir_entry[] = {
		{ 'l', "s", abs_link, 0777 },
		{ 'd', "s/sub/", NULL, 0755 },
	};
	const struct ent hardlink_out[] = { { 'h', "pw", "../../etc/passwd", 0 } };
	const struct ent hardlink_abs[] = { { 'h', "pw", "/etc/passwd", 0 } };
	const struct ent hardlink_via_symlink[] = {
		{ 'l', "s", "/etc", 0777 },
		{ 'h', "pw", "s/passwd", 0 },
	};
	const struct ent hardlink_missing[] = { { 'h', "h", "nothing", 0 } };
	const struct ent whiteout_via_symlink[] = {
		{ 'l', "s", abs_link, 0777 },
		{ 'f', "s/.wh.victim", NULL, 0 },
	};
	const struct ent whiteout_dotdot[] = { { 'f', "a/.wh...", NULL, 0 } };
	struct {
		const char *what;
		const struct ent *ents;
		size_t n;
	} cases[] = {
#define CASE(x) { #x, x, ARRAY_SIZE(x) }
		CASE(dotdot),
		CASE(abs_dotdot),
		CASE(mid_dotdot),
		CASE(deep_dotdot),
		CASE(via_symlink),
		CASE(via_rel_symlink),
		CASE(chain),
		CASE(symlink_dir_entry),
		CASE(hardlink_out),
		CASE(hardlink_abs),
		CASE(hardlink_via_symlink),
		CASE(hardlink_missing),
		CASE(whiteout_via_symlink),
		CASE(whiteout_dotdot),
#undef CASE
	};
	char victim[160];
	struct stat st;

	snprintf(abs_link, sizeof(abs_link), "%s", f->outside);
	snprintf(victim, sizeof(victim), "%s/victim", f->outside);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r;

		err_clear(&err);
		r = unpack(f, cases[i].ents, cases[i].n, ARCHIVE_FILTER_GZIP, NULL, NULL, &err);
		if (r != -EPERM)
			print_error("case %s: %d %s\n", cases[i].what, r, err.msg);
		assert_int_equal(r, -EPERM);
		assert_int_equal(err.kind, E_INVALID_LAYER);
		assert_store_holds(f, 0);
		assert_int_equal(lstat("/tmp/x", &st) == 0 && st.st_mtime == MTIME, 0);
		assert_int_equal(lstat(victim, &st), -1);
	}
	/* a hard link to a symbolic link pointing out is fine: it links the link */
	{
		const struct ent ok[] = {
			{ 'l', "s", "/etc/passwd", 0777 },
			{ 'h', "h", "s", 0 },
		};
		char diff_id[LAYER_DIGEST_SIZE], p[256];

		assert_int_equal(
			unpack(f, ok, ARRAY_SIZE(ok), ARCHIVE_FILTER_NONE, NULL, diff_id, &err), 0);
		lpath(f, diff_id, "h", p, sizeof(p));
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISLNK(st.st_mode));
		assert_store_holds(f, 1);
	}
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct layer_limits lim = LAYER_LIMITS_DEFAULT;
	char name[300];
	const struct ent deep[] = { { 'f', "a/b/c/d/e", "x", 0 } };
	const struct ent longname[] = { { 'f', name, "x", 0 } };
	const struct ent longlink[] = { { 'l', "l", name, 0777 } };

	lim.max_entries = 5;
	assert_int_equal(unpack(f, basic, ARRAY_SIZE(basic), ARCHIVE_FILTER_GZIP, &lim, NULL, &err),
			 -E2BIG);
	assert_int_equal(err.kind, E_LIMIT_EXCEEDED);
	assert_non_null(strstr(err.msg, "more than 5 entries"));
	assert_store_holds(f, 0);

	lim = (struct layer_limits)LAYER_LIMITS_DEFAULT;
	lim.max_bytes = 4096;
	assert_int_equal(unpack(f, basic, ARRAY_SIZE(basic), ARCHIVE_FILTER_GZIP, &lim, NULL, &err),
			 -EFBIG);
	assert_int_equal(err.kind, E_LIMIT_EXCEEDED);
	assert_store_holds(f, 0);

	lim = (struct layer_limits)LAYER_LIMITS_DEFAULT;
	lim.max_depth = 4;
	assert_int_equal(unpack(f, deep, 1, ARCHIVE_FILTER_NONE, &lim, NULL, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "deeper than 4"));

	lim = (struct layer_limits)LAYER_LIMITS_DEFAULT;
	lim.max_path = 200;
	memset(name, 'n', 250);
	name[250] = '\0';
	assert_int_equal(unpack(f, longname, 1, ARCHIVE_FILTER_NONE, &lim, NULL, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "longer than 200"));
	assert_int_equal(unpack(f, longlink, 1, ARCHIVE_FILTER_NONE, &lim, NULL, &err), -E2BIG);
	assert_store_holds(f, 0);
}

/* Replacing entries within one layer, and devices. */
static void test_replace_and_devices(void **state)
{
	static const struct ent ents[] = {
		{ 'f', "x", "first", 0 },	 { 'f', "x", "second", 0 },
		{ 'd', "d/", NULL, 0755 },	 { 'f', "d/f", "in d", 0 },
		{ 'l', "d", "elsewhere", 0777 }, { 'c', "dev/null", NULL, 0666 },
	};
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct layer_info info;
	struct buf b = BUF_INIT;
	char p[256], data[16] = { 0 };
	struct stat st;
	FILE *c;
	int fd;

	make_tar(ents, ARRAY_SIZE(ents), ARCHIVE_FILTER_NONE, &b);
	fd = blob_fd(f, &b);
	assert_int_equal(layer_unpack(f->store, fd, NULL, &info, &err), 0);
	close(fd);
	buf_release(&b);
	lpath(f, info.diff_id, "x", p, sizeof(p));
	c = fopen(p, "r");
	assert_non_null(c);
	assert_non_null(fgets(data, sizeof(data), c));
	fclose(c);
	assert_string_equal(data, "second");
	lpath(f, info.diff_id, "d", p, sizeof(p));
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	lpath(f, info.diff_id, "dev/null", p, sizeof(p));
	if (info.skipped_devices == 0) {
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_rdev, makedev(1, 3));
	} else {
		assert_int_equal(lstat(p, &st), -1);
	}
}

struct racer {
	struct fixture *f;
	int fd;
	const char *diff_id;
	int r;
	struct layer_info info;
	struct err err;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	struct layer_unpack_opts o = { .diff_id = x->diff_id };

	x->r = layer_unpack(x->f->store, x->fd, &o, &x->info, &x->err);
	return NULL;
}

static void test_concurrent_unpacks(void **state)
{
	struct fixture *f = *state;
	struct buf plain = BUF_INIT, gz = BUF_INIT;
	char diff_id[LAYER_DIGEST_SIZE];
	struct racer r[4];
	pthread_t t[4];
	int unpacked = 0;

	make_tar(basic, ARRAY_SIZE(basic), ARCHIVE_FILTER_NONE, &plain);
	make_tar(basic, ARRAY_SIZE(basic), ARCHIVE_FILTER_GZIP, &gz);
	sha256_of(&plain, diff_id);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ .f = f, .fd = blob_fd(f, &gz), .diff_id = diff_id };
		err_clear(&r[i].err);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].r, 0);
		assert_string_equal(r[i].info.diff_id, diff_id);
		unpacked += !r[i].info.reused;
		close(r[i].fd);
	}
	assert_true(unpacked >= 1);
	assert_store_holds(f, 1);
	check_basic(f, diff_id);
	buf_release(&plain);
	buf_release(&gz);
}

static void test_paths(void **state)
{
	struct err err = ERR_INIT;
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(layer_path("/s",
				    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
				    "95991b7852b855",
				    &b, &err),
			 0);
	assert_string_equal(buf_str(&b), "/s/layers/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e"
					 "4649b934ca495991b7852b855");
	assert_int_equal(layer_path("/s", "sha256:../../etc", &b, &err), -EINVAL);
	assert_int_equal(err.kind, E_INVALID_PARAMETER);
	assert_false(layer_exists("/s", "sha256:xyz"));
	assert_false(layer_digest_valid(NULL));
	assert_false(layer_digest_valid("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
					"95991b7852b855"));
	buf_release(&b);
}

/* libarchive is loaded on demand: every function found, acquisitions nest. */
static void test_libarchive_loaded_on_demand(void **state)
{
	const struct libarchive *a = NULL, *b = NULL;
	struct err err = ERR_INIT;
	struct archive *ar;

	(void)state;
	assert_int_equal(libarchive_acquire(&a, &err), 0);
#define CHECK_LOADED(name) assert_non_null(a->name);
	LIBARCHIVE_FUNCTIONS(CHECK_LOADED)
#undef CHECK_LOADED
	assert_int_equal(libarchive_acquire(&b, &err), 0);
	assert_ptr_equal(a, b);
	libarchive_release();
	ar = a->archive_read_new();
	assert_non_null(ar);
	a->archive_read_free(ar);
	libarchive_release();
	/* and again after the last release */
	assert_int_equal(libarchive_acquire(&a, &err), 0);
	assert_non_null(a->archive_read_new);
	libarchive_release();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libarchive_loaded_on_demand),
		cmocka_unit_test(test_paths),
		cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zstd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digests_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_and_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_unpacks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
