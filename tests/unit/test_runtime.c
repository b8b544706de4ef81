/*
 * test_runtime.c: containers through runc. The bundle tests check the OCI
 * configuration written for a container definition and an image config
 * (how command and entrypoint merge, the environment, users looked up in
 * the root's passwd and group files, capabilities, limits). The run tests
 * (root and runc needed; skipped otherwise) start real containers from a
 * layer made of Debian's busybox-static: exit codes, the log, a stop that
 * escalates to SIGKILL, a command missing from the image, and removal
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

/* --- the bundle -------------------------------------------------------- */

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	assert_non_null(j);
	return j;
}

/* The config for def and image (JSON strings), parsed. rootfs is where passwd/group live. */
static cJSON *config_of(const char *def, const char *image, const char *rootfs, int *ret_r,
			struct err *err)
{
	cJSON *d = parse(def), *i = parse(image), *out = NULL;
	struct container_spec spec = { .id = "c1", .container_def = d, .image_config = i };
	struct buf b = BUF_INIT;

	*ret_r = container_bundle_config(&spec, "/bundle", rootfs ? rootfs : "/nonexistent", &b,
					 err);
	if (*ret_r == 0)
		out = parse(buf_str(&b));
	buf_release(&b);
	cJSON_Delete(d);
	cJSON_Delete(i);
	return out;
}

static char *args_of(const cJSON *config)
{
	struct buf b = BUF_INIT;

	json_print(&b, json_get(json_obj(config, "process"), "args"));
	return buf_detach(&b, NULL);
}

static void test_args_merge(void **state)
{
	static const struct {
		const char *def, *image, *args;
	} cases[] = {
		{ "{}", "{\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c\"]}}",
		  "[\"/e\",\"c\"]" },
		{ "{\"command\":[\"x\"]}", "{\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c\"]}}",
		  "[\"/e\",\"x\"]" },
		/* an entryPoint of the definition drops the image's Cmd */
		{ "{\"entryPoint\":[\"/d\"]}",
		  "{\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c\"]}}", "[\"/d\"]" },
		{ "{\"entryPoint\":[\"/d\"],\"command\":[\"y\"]}", "{\"config\":{\"Cmd\":[\"c\"]}}",
		  "[\"/d\",\"y\"]" },
		{ "{}", "{\"config\":{\"Cmd\":[\"sh\",\"-c\",\"true\"]}}",
		  "[\"sh\",\"-c\",\"true\"]" },
		{ "{\"command\":[]}", "{\"config\":{\"Cmd\":[\"c\"]}}", "[\"c\"]" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err err = ERR_INIT;
		int r;
		cJSON *c = config_of(cases[i].def, cases[i].image, NULL, &r, &err);
		char *args;

		assert_int_equal(r, 0);
		args = args_of(c);
		assert_string_equal(args, cases[i].args);
		free(args);
		cJSON_Delete(c);
	}
	{
		struct err err = ERR_INIT;
		int r;

		assert_null(config_of("{}", "{\"config\":{}}", NULL, &r, &err));
		assert_int_equal(r, -EINVAL);
		assert_non_null(strstr(err.msg, "no command"));
	}
}

static bool has_string(const cJSON *arr, const char *s)
{
	for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next)
		if (cJSON_IsString(e) && !strcmp(e->valuestring, s))
			return true;
	return false;
}

static void test_env_cwd_limits(void **state)
{
	struct err err = ERR_INIT;
	int r;
	cJSON *c = config_of(
		"{\"command\":[\"x\"],\"environment\":[{\"name\":\"A\",\"value\":\"def\"},"
		"{\"name\":\"B\",\"value\":\"b=1\"}],\"memory\":64,\"memoryReservation\":32,"
		"\"cpu\":0,\"readonlyRootFilesystem\":true,\"workingDirectory\":\"/w\","
		"\"ulimits\":[{\"name\":\"nofile\",\"softLimit\":100,\"hardLimit\":200}]}",
		"{\"config\":{\"Env\":[\"A=img\",\"PATH=/img\",\"C=c\"],\"WorkingDir\":\"/i\"}}",
		NULL, &r, &err);
	const cJSON *proc = json_obj(c, "process"), *env = json_arr(proc, "env");
	const cJSON *res = json_obj(json_obj(c, "linux"), "resources");
	const cJSON *rl = json_arr(proc, "rlimits");

	(void)state;
	assert_int_equal(r, 0);
	assert_true(has_string(env, "A=def"));
	assert_false(has_string(env, "A=img"));
	assert_true(has_string(env, "B=b=1"));
	assert_true(has_string(env, "C=c"));
	assert_true(has_string(env, "PATH=/img"));
	assert_true(has_string(env, "HOSTNAME=c1"));
	assert_string_equal(json_str(proc, "cwd"), "/w");
	assert_int_equal(json_int(json_obj(res, "memory"), "limit", 0), 64 << 20);
	assert_int_equal(json_int(json_obj(res, "memory"), "reservation", 0), 32 << 20);
	assert_int_equal(json_int(json_obj(res, "cpu"), "shares", 0), 2);
	assert_true(json_bool(json_obj(c, "root"), "readonly", false));
	assert_string_equal(json_str(rl->child, "type"), "RLIMIT_NOFILE");
	assert_int_equal(json_int(rl->child, "hard", 0), 200);
	assert_string_equal(json_str(json_obj(c, "linux"), "cgroupsPath"), "/berth/c1");
	cJSON_Delete(c);

	c = config_of("{\"command\":[\"x\"],\"ulimits\":[{\"name\":\"bogus\",\"softLimit\":1,"
		      "\"hardLimit\":1}]}",
		      "{}", NULL, &r, &err);
	assert_null(c);
	assert_non_null(strstr(err.msg, "bogus"));
}

static void test_capabilities(void **state)
{
	struct err err = ERR_INIT;
	int r;
	cJSON *c = config_of("{\"command\":[\"x\"],\"linuxParameters\":{\"capabilities\":{"
			     "\"add\":[\"SYS_ADMIN\"],\"drop\":[\"CAP_NET_RAW\",\"chown\"]}}}",
			     "{}", NULL, &r, &err);
	const cJSON *caps = json_obj(json_obj(c, "process"), "capabilities");

	(void)state;
	assert_int_equal(r, 0);
	assert_true(has_string(json_arr(caps, "bounding"), "CAP_SYS_ADMIN"));
	assert_true(has_string(json_arr(caps, "effective"), "CAP_KILL"));
	assert_false(has_string(json_arr(caps, "bounding"), "CAP_NET_RAW"));
	assert_false(has_string(json_arr(caps, "bounding"), "CAP_CHOWN"));
	assert_true(json_bool(json_obj(c, "process"), "noNewPrivileges", false));
	cJSON_Delete(c);

	c = config_of("{\"command\":[\"x\"],\"privileged\":true}", "{}", NULL, &r, &err);
	caps = json_obj(json_obj(c, "process"), "capabilities");
	assert_true(has_string(json_arr(caps, "bounding"), "CAP_SYS_MODULE"));
	assert_false(json_bool(json_obj(c, "process"), "noNewPrivileges", true));
	assert_null(json_get(json_obj(c, "linux"), "maskedPaths"));
	cJSON_Delete(c);
}

static void test_users(void **state)
{
	char root[] = "/tmp/berth-test-rootfs-XXXXXX";
	char path[128];
	static const struct {
		const char *user;
		long uid, gid;
	} ok[] = {
		{ "1000", 1000, 0 },	  { "1000:7", 1000, 7 }, { "app", 501, 20 },
		{ "app:wheel", 501, 10 }, { "0:wheel", 0, 10 },
	};
	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/etc", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	assert_int_equal(
		fs_write_atomic(path, "root:x:0:0::/root:/bin/sh\napp:x:501:20::/:/bin/sh\n", 50),
		0);
	snprintf(path, sizeof(path), "%s/etc/group", root);
	assert_int_equal(fs_write_atomic(path, "root:x:0:\nwheel:x:10:app\n", 25), 0);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char def[128];
		struct err err = ERR_INIT;
		int r;
		cJSON *c;

		snprintf(def, sizeof(def), "{\"command\":[\"x\"],\"user\":\"%s\"}", ok[i].user);
		c = config_of(def, "{}", root, &r, &err);
		assert_int_equal(r, 0);
		assert_int_equal(json_int(json_obj(json_obj(c, "process"), "user"), "uid", -1),
				 ok[i].uid);
		assert_int_equal(json_int(json_obj(json_obj(c, "process"), "user"), "gid", -1),
				 ok[i].gid);
		cJSON_Delete(c);
	}
	{
		struct err err = ERR_INIT;
		int r;

		/* the image's User is used when the definition has none */
		cJSON *c = config_of("{\"command\":[\"x\"]}", "{\"config\":{\"User\":\"app\"}}",
				     root, &r, &err);
		assert_int_equal(json_int(json_obj(json_obj(c, "process"), "user"), "uid", -1),
				 501);
		cJSON_Delete(c);
		assert_null(config_of("{\"command\":[\"x\"],\"user\":\"nobody\"}", "{}", root, &r,
				      &err));
		assert_non_null(strstr(err.msg, "unable to find user nobody"));
		assert_null(config_of("{\"command\":[\"x\"],\"user\":\"app:nogroup\"}", "{}", root,
				      &r, &err));
		assert_non_null(strstr(err.msg, "unable to find group nogroup"));
	}
	nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
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

static int start(struct fixture *f, const char *id, const char *def_json,
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
		.berth = berth_binary(),
	};
	int r = container_start(f->state, &spec, st, err);

	if (r < 0)
		print_message("container_start %s: %s\n", id, err->msg);

	cJSON_Delete(def);
	cJSON_Delete(img);
	return r;
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
		cmocka_unit_test(test_args_merge),
		cmocka_unit_test(test_env_cwd_limits),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_users),
		cmocka_unit_test_setup_teardown(test_run_exit_code_and_log, setup_run,
						teardown_run),
		cmocka_unit_test_setup_teardown(test_stop_escalates, setup_run, teardown_run),
		cmocka_unit_test_setup_teardown(test_missing_command, setup_run, teardown_run),
		cmocka_unit_test_setup_teardown(test_remove_running, setup_run, teardown_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
