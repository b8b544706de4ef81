/*
 * test_runtime.c: containers through runc (the OCI configuration itself is
 * test_bundle.c's). Root and runc are needed (the tests are skipped
 * otherwise). The root file system: recorded whiteouts carried out in the
 * upper directory, and an overlay of more layers than absolute paths
 * would fit in the mount options. The run tests start real containers from
 * a layer made of Debian's busybox-static: exit codes, the log, a stop
 * that escalates to SIGKILL, a command missing from the image, and removal
 * leaving no mount, runc state or directory.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/layers.h"
#include "agent/rootfs.h"
#include "agent/runtime.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#define BUSYBOX "/bin/busybox"

struct fixture {
	char dir[64];
	char state[128];
	char diff_id[LAYER_DIGEST_SIZE];
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	assert_non_null(j);
	return j;
}

/* --- running ----------------------------------------------------------- */

static bool can_run(void)
{
	return geteuid() == 0 && access(BUSYBOX, X_OK) == 0 &&
	       system("runc --version >/dev/null 2>&1") == 0;
}

static void add_entry(struct archive *a, const char *name, mode_t type, mode_t perm,
		      const void *data, size_t len, const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
	if (link)
		archive_entry_set_symlink(e, link);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (type == AE_IFREG && len)
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* A layer: /bin/busybox, /bin/sh, /etc/passwd, /tmp. */
static void make_layer(struct fixture *f)
{
	char tar[128];
	struct buf bb = BUF_INIT;
	struct archive *a = archive_write_new();
	struct layer_info info;
	struct err err = ERR_INIT;
	static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n";

	snprintf(tar, sizeof(tar), "%s/layer.tar", f->dir);
	assert_int_equal(fs_read_file(BUSYBOX, 64u << 20, &bb), 0);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, tar), ARCHIVE_OK);
	add_entry(a, "bin", AE_IFDIR, 0755, NULL, 0, NULL);
	add_entry(a, "bin/busybox", AE_IFREG, 0755, bb.data, bb.len, NULL);
	add_entry(a, "bin/sh", AE_IFLNK, 0777, NULL, 0, "busybox");
	add_entry(a, "bin/sleep", AE_IFLNK, 0777, NULL, 0, "busybox");
	add_entry(a, "etc", AE_IFDIR, 0755, NULL, 0, NULL);
	add_entry(a, "etc/passwd", AE_IFREG, 0644, passwd, sizeof(passwd) - 1, NULL);
	add_entry(a, "tmp", AE_IFDIR, 01777, NULL, 0, NULL);
	archive_write_close(a);
	archive_write_free(a);
	buf_release(&bb);
	assert_int_equal(layer_unpack_file(f->dir, tar, NULL, &info, &err), 0);
	memcpy(f->diff_id, info.diff_id, sizeof(f->diff_id));
	unlink(tar);
}

static int setup_run(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-runtime-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/containers", f->dir);
	if (can_run())
		make_layer(f);
	*state = f;
	return 0;
}

static int teardown_run(void **state)
{
	struct fixture *f = *state;
	struct buf m = BUF_INIT;
	char *save = NULL;

	/* a failed test may leave its container: remove it and its mount */
	fs_read_file("/proc/self/mountinfo", 1u << 22, &m);
	for (char *line = strtok_r(m.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(line, f->dir), *end;

		if (!p)
			continue;
		end = strchr(p, ' ');
		if (end)
			*end = 0;
		umount2(p, MNT_DETACH);
	}
	buf_release(&m);

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(f);
	return 0;
}

/* The berth binary beside this test's directory (build/tests/test_runtime -> build/berth). */
static const char *berth_binary(void)
{
	static char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 16);
	char *slash;

	assert_true(n > 0);
	path[n] = 0;
	for (int i = 0; i < 2; i++) {
		slash = strrchr(path, '/');
		assert_non_null(slash);
		*slash = 0;
	}
	strcat(path, "/berth");
	return path;
}

static int start_with(struct fixture *f, const char *berth, const char *id, const char *def_json,
		      struct container_state *st, struct err *err)
{
	const char *diff_ids[] = { f->diff_id };
	cJSON *def = parse(def_json), *img = parse("{\"config\":{}}");
	struct container_spec spec = {
		.id = id,
		.layers_dir = f->dir,
		.diff_ids = diff_ids,
		.n_layers = 1,
		.image_config = img,
		.container_def = def,
		.berth = berth,
	};
	int r = container_start(f->state, &spec, st, err);

	if (r < 0) {
		char cmd[512];

		print_message("container_start %s: %s\n", id, err->msg);
		snprintf(cmd, sizeof(cmd), "cat %s/%s/shim.log 2>/dev/null", f->state, id);
		if (system(cmd) < 0)
			print_message("(no shim.log)\n");
	}

	cJSON_Delete(def);
	cJSON_Delete(img);
	return r;
}

static int start(struct fixture *f, const char *id, const char *def_json,
		 struct container_state *st, struct err *err)
{
	return start_with(f, berth_binary(), id, def_json, st, err);
}

static void wait_exited(struct fixture *f, const char *id, struct container_state *st)
{
	struct err err = ERR_INIT;

	for (int i = 0; i < 500; i++) {
		assert_int_equal(container_state(f->state, id, st, &err), 0);
		if (st->exited)
			return;
		usleep(20000);
	}
	fail_msg("container %s did not exit", id);
}

static bool mounted_under(const char *dir)
{
	struct buf m = BUF_INIT;
	bool found;

	fs_read_file("/proc/self/mountinfo", 1u << 22, &m);
	found = strstr(buf_str(&m), dir) != NULL;
	buf_release(&m);
	return found;
}

/* --- the root file system ---------------------------------------------- */

/* Write path (making its parents) under dir with contents s. */
static void put_file(const char *dir, const char *path, const char *s)
{
	struct buf p = BUF_INIT;

	buf_printf(&p, "%s/%s", dir, path);
	for (char *c = p.data + strlen(dir) + 1; (c = strchr(c, '/')); c++) {
		*c = 0;
		mkdir(p.data, 0755);
		*c = '/';
	}
	assert_int_equal(fs_write_atomic(buf_str(&p), s, strlen(s)), 0);
	buf_release(&p);
}

/* A hand-made layer directory in store named by n; its diff_id to ret (LAYER_DIGEST_SIZE). */
static void fake_layer(const char *store, unsigned n, char *ret, char *ret_dir, size_t dir_size)
{
	char hex[65];

	for (int i = 0; i < 64; i++)
		hex[i] = "0123456789abcdef"[(n >> ((i % 8) * 4)) & 15];
	hex[64] = 0;
	snprintf(ret, LAYER_DIGEST_SIZE, "sha256:%s", hex);
	snprintf(ret_dir, dir_size, "%s/layers/sha256/%s", store, hex);
	assert_int_equal(fs_mkdir_p(ret_dir, 0755), 0);
}

static bool exists_in(const char *dir, const char *path)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, path);
	return lstat(p, &st) == 0;
}

static void test_recorded_whiteouts(void **state)
{
	struct fixture *f = *state;
	char ids[3][LAYER_DIGEST_SIZE], dirs[3][256], cdir[160], rootfs[192], path[300];
	const char *idp[3] = { ids[0], ids[1], ids[2] };
	static const char rec1[] = "w a/x\0o d\0w f\0w gone/deep";
	static const char rec2[] = "o o";
	struct buf b = BUF_INIT;
	struct err err = ERR_INIT;

	if (!can_run())
		skip();
	for (unsigned i = 0; i < 3; i++)
		fake_layer(f->dir, i + 1, ids[i], dirs[i], sizeof(dirs[i]));
	put_file(dirs[0], "a/x", "old");
	put_file(dirs[0], "a/y", "y");
	put_file(dirs[0], "d/keep", "k");
	put_file(dirs[0], "d/sub/gone", "g");
	put_file(dirs[0], "f", "f");
	put_file(dirs[0], "o/one", "1");
	put_file(dirs[0], "gone/deep", "g");
	put_file(dirs[1], "d/new", "n");
	put_file(dirs[1], "o/two", "2");
	snprintf(path, sizeof(path), "%s/%s", dirs[1], LAYER_WHITEOUTS_FILE);
	assert_int_equal(fs_write_atomic(path, rec1, sizeof(rec1)), 0);
	put_file(dirs[2], "a/x", "again");
	put_file(dirs[2], "d/late", "l");
	put_file(dirs[2], "o/three", "3");
	snprintf(path, sizeof(path), "%s/%s", dirs[2], LAYER_WHITEOUTS_FILE);
	assert_int_equal(fs_write_atomic(path, rec2, sizeof(rec2)), 0);

	snprintf(cdir, sizeof(cdir), "%s/c", f->dir);
	assert_int_equal(mkdir(cdir, 0700), 0);
	if (rootfs_mount(cdir, f->dir, idp, 3, &err) < 0)
		fail_msg("rootfs_mount: %s", err.msg);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", cdir);
	/* deleted in layer 2, brought back by layer 3 */
	snprintf(path, sizeof(path), "%s/a/x", rootfs);
	assert_int_equal(fs_read_file(path, 64, &b), 0);
	assert_string_equal(buf_str(&b), "again");
	assert_true(exists_in(rootfs, "a/y"));
	/* opaque in layer 2: layer 1's entries gone, layer 2's and 3's kept */
	assert_false(exists_in(rootfs, "d/keep"));
	assert_false(exists_in(rootfs, "d/sub"));
	assert_true(exists_in(rootfs, "d/new"));
	assert_true(exists_in(rootfs, "d/late"));
	assert_false(exists_in(rootfs, "f"));
	assert_true(exists_in(rootfs, "gone"));
	assert_false(exists_in(rootfs, "gone/deep"));
	/* opaque in the top layer */
	assert_false(exists_in(rootfs, "o/one"));
	assert_false(exists_in(rootfs, "o/two"));
	assert_true(exists_in(rootfs, "o/three"));
	/* the record files are the store's business */
	assert_false(exists_in(rootfs, LAYER_WHITEOUTS_FILE));
	assert_int_equal(rootfs_unmount(cdir, &err), 0);
	assert_false(mounted_under(cdir));
	buf_release(&b);
}

static void test_many_layers(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	char store[256], cdir[300], dir[400], name[32];
	static char ids[N][LAYER_DIGEST_SIZE];
	const char *idp[N];
	struct err err = ERR_INIT;

	if (!can_run())
		skip();
	/* absolute names would need N * ~300 bytes of options: far past one page */
	snprintf(store, sizeof(store), "%s/%0160d", f->dir, 0);
	for (unsigned i = 0; i < N; i++) {
		fake_layer(store, i + 1000, ids[i], dir, sizeof(dir));
		snprintf(name, sizeof(name), "f%u", i);
		put_file(dir, name, "x");
		idp[i] = ids[i];
	}
	snprintf(cdir, sizeof(cdir), "%s/c", store);
	assert_int_equal(mkdir(cdir, 0700), 0);
	if (rootfs_mount(cdir, store, idp, N, &err) < 0)
		fail_msg("rootfs_mount: %s", err.msg);
	snprintf(dir, sizeof(dir), "%s/rootfs", cdir);
	assert_true(exists_in(dir, "f0"));
	assert_true(exists_in(dir, "f299"));
	assert_int_equal(rootfs_unmount(cdir, &err), 0);
	assert_false(mounted_under(cdir));
	/* past the kernel's stack limit: refused with the reason */
	assert_int_equal(rootfs_mount(cdir, store, idp, ROOTFS_MAX_LAYERS + 1, &err), -E2BIG);
}

static void test_run_exit_code_and_log(void **state)
{
	struct fixture *f = *state;
	struct container_state st;
	struct err err = ERR_INIT;
	struct buf log = BUF_INIT;
	char path[256];

	if (!can_run())
		skip();
	assert_int_equal(start(f, "exit3",
			       "{\"command\":[\"sh\",\"-c\",\"echo hello; echo oops >&2; exit 3\"],"
			       "\"memory\":32}",
			       &st, &err),
			 0);
	assert_true(st.pid > 0);
	wait_exited(f, "exit3", &st);
	assert_int_equal(st.exit_code, 3);
	assert_true(st.finished_at_ms >= st.started_at_ms);
	snprintf(path, sizeof(path), "%s/exit3/log", f->state);
	assert_int_equal(fs_read_file(path, 1 << 20, &log), 0);
	assert_non_null(strstr(buf_str(&log), "\"s\":\"stdout\",\"l\":\"hello\""));
	assert_non_null(strstr(buf_str(&log), "\"s\":\"stderr\",\"l\":\"oops\""));
	buf_release(&log);
	assert_int_equal(container_remove(f->state, "exit3", &err), 0);
	snprintf(path, sizeof(path), "%s/exit3", f->state);
	assert_int_equal(access(path, F_OK), -1);
	assert_false(mounted_under(path));
	assert_int_equal(container_state(f->state, "exit3", &st, &err), -ENOENT);
}

/* argv[0] of the shim of container id (its shim.pid's command line). */
static void shim_argv0(struct fixture *f, const char *id, struct buf *ret)
{
	struct buf path = BUF_INIT, pid = BUF_INIT;

	buf_printf(&path, "%s/%s/shim.pid", f->state, id);
	assert_int_equal(fs_read_file(buf_str(&path), 64, &pid), 0);
	buf_reset(&path);
	buf_printf(&path, "/proc/%ld/cmdline", strtol(buf_str(&pid), NULL, 10));
	assert_int_equal(fs_read_file(buf_str(&path), 4096, ret), 0);
	buf_release(&path);
	buf_release(&pid);
}

/*
 * The shim is berth-shim beside the berth binary; where there is none,
 * the berth binary's own `shim` verb runs the container just the same.
 */
static void test_shim_programs(void **state)
{
	struct fixture *f = *state;
	struct container_state st;
	struct err err = ERR_INIT;
	struct buf argv = BUF_INIT, alone = BUF_INIT;
	const char *def = "{\"command\":[\"sh\",\"-c\",\"sleep 30\"]}";

	if (!can_run())
		skip();
	assert_int_equal(start(f, "own", def, &st, &err), 0);
	shim_argv0(f, "own", &argv);
	assert_string_equal(buf_str(&argv), "berth-shim");
	assert_string_equal(argv.data + strlen(argv.data) + 1, "shim");
	assert_int_equal(container_remove(f->state, "own", &err), 0);

	/* a berth binary with no berth-shim beside it */
	buf_printf(&alone, "%s/alone", f->dir);
	assert_int_equal(mkdir(buf_str(&alone), 0755), 0);
	buf_puts(&alone, "/berth");
	assert_int_equal(symlink(berth_binary(), buf_str(&alone)), 0);
	assert_int_equal(start_with(f, buf_str(&alone), "verb", def, &st, &err), 0);
	assert_true(st.pid > 0);
	buf_reset(&argv);
	shim_argv0(f, "verb", &argv);
	assert_string_equal(buf_str(&argv), "berth");
	assert_string_equal(argv.data + strlen(argv.data) + 1, "shim");
	assert_int_equal(container_stop(f->state, "verb", 5, &err), 0);
	assert_int_equal(container_remove(f->state, "verb", &err), 0);
	buf_release(&argv);
	buf_release(&alone);
}

static void test_stop_escalates(void **state)
{
	struct fixture *f = *state;
	struct container_state st;
	struct err err = ERR_INIT;
	int64_t t0;

	if (!can_run())
		skip();
	assert_int_equal(start(f, "term",
			       "{\"command\":[\"sh\",\"-c\",\"trap 'exit 42' TERM; while true; do "
			       "sleep 0.1; done\"]}",
			       &st, &err),
			 0);
	usleep(200000);
	assert_int_equal(container_stop(f->state, "term", 10, &err), 0);
	assert_int_equal(container_state(f->state, "term", &st, &err), 0);

	assert_true(st.exited);
	assert_int_equal(st.exit_code, 42);
	assert_int_equal(container_remove(f->state, "term", &err), 0);

	assert_int_equal(start(f, "stubborn",
			       "{\"command\":[\"sh\",\"-c\",\"trap '' TERM; while true; do sleep "
			       "0.1; done\"]}",
			       &st, &err),
			 0);
	usleep(200000);
	t0 = now_ms();
	assert_int_equal(container_stop(f->state, "stubborn", 1, &err), 0);
	assert_true(now_ms() - t0 >= 1000);
	assert_int_equal(container_state(f->state, "stubborn", &st, &err), 0);
	assert_int_equal(st.exit_code, 137);
	assert_int_equal(container_remove(f->state, "stubborn", &err), 0);
}

static void test_missing_command(void **state)
{
	struct fixture *f = *state;
	struct container_state st;
	struct err err = ERR_INIT;
	char path[256];

	if (!can_run())
		skip();
	assert_int_equal(start(f, "nope", "{\"command\":[\"/bin/nope\"]}", &st, &err), -EIO);
	assert_non_null(strstr(err.msg, "CannotStartContainerError"));
	assert_non_null(strstr(err.msg, "/bin/nope"));
	snprintf(path, sizeof(path), "%s/nope", f->state);
	assert_int_equal(access(path, F_OK), -1);
	assert_false(mounted_under(path));
}

static void test_remove_running(void **state)
{
	struct fixture *f = *state;
	struct container_state st;
	struct err err = ERR_INIT;
	char path[256];

	if (!can_run())
		skip();
	assert_int_equal(start(f, "long", "{\"command\":[\"sleep\",\"1000\"]}", &st, &err), 0);
	assert_int_equal(container_state(f->state, "long", &st, &err), 0);
	assert_false(st.exited);
	assert_int_equal(container_remove(f->state, "long", &err), 0);
	snprintf(path, sizeof(path), "%s/long", f->state);
	assert_int_equal(access(path, F_OK), -1);
	assert_false(mounted_under(path));
	assert_int_equal(access("/sys/fs/cgroup/memory/berth/long", F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recorded_whiteouts, setup_run, teardown_run),
		cmocka_unit_test_setup_teardown(test_many_layers, setup_run, teardown_run),
		cmocka_unit_test_setup_teardown(test_run_exit_code_and_log, setup_run,
						teardown_run),
		cmocka_unit_test_setup_teardown(test_shim_programs, setup_run, teardown_run),
		cmocka_unit_test_setup_teardown(test_stop_escalates, setup_run, teardown_run),
		cmocka_unit_test_setup_teardown(test_missing_command, setup_run, teardown_run),
		cmocka_unit_test_setup_teardown(test_remove_running, setup_run, teardown_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
