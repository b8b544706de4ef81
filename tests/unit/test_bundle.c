/*
 * test_bundle.c: the OCI configuration (config.json) written for a
 * container definition and an image config, and the /etc files beside it:
 * how command and entrypoint merge (Docker's rules, as ECS uses them), the
 * environment, users looked up in the root's passwd and group files (and
 * only there), capabilities, cgroup values, ulimits (never above the
 * agent's own hard limit), mounts, readonly root and privileged.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/runtime.h"
#include "core/fs.h"
#include "core/json.h"

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

/* The config of def with an empty image, run through spec_fn first when given. */
static cJSON *config_spec(const char *def, const struct container_spec *base, int *ret_r,
			  struct err *err)
{
	cJSON *d = parse(def), *i = parse("{}"), *out = NULL;
	struct container_spec spec = *base;
	struct buf b = BUF_INIT;

	spec.id = spec.id ? spec.id : "c1";
	spec.container_def = d;
	spec.image_config = i;
	*ret_r = container_bundle_config(&spec, "/bundle", "/nonexistent", &b, err);
	if (*ret_r == 0)
		out = parse(buf_str(&b));
	buf_release(&b);
	cJSON_Delete(d);
	cJSON_Delete(i);
	return out;
}

static const cJSON *find_mount(const cJSON *config, const char *dest)
{
	for (const cJSON *m = json_arr(config, "mounts")->child; m; m = m->next)
		if (!strcmp(json_str(m, "destination"), dest))
			return m;
	return NULL;
}

static void test_supplementary_groups_and_root_confinement(void **state)
{
	char root[] = "/tmp/berth-test-rootfs-XXXXXX", host[] = "/tmp/berth-test-host-XXXXXX";
	char path[160];
	struct err err = ERR_INIT;
	const cJSON *user;
	cJSON *c;
	int r;

	(void)state;
	assert_non_null(mkdtemp(root));
	assert_non_null(mkdtemp(host));
	snprintf(path, sizeof(path), "%s/etc", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	assert_int_equal(fs_write_atomic(path, "app:x:501:20::/:/bin/sh\n", 24), 0);
	snprintf(path, sizeof(path), "%s/etc/group", root);
	assert_int_equal(
		fs_write_atomic(path, "staff:x:20:\nwheel:x:10:app\naudio:x:29:x,app\n", 44), 0);
	/* a uid alone takes its passwd entry's group, and the user's other groups */
	c = config_of("{\"command\":[\"x\"],\"user\":\"501\"}", "{}", root, &r, &err);
	assert_int_equal(r, 0);
	user = json_obj(json_obj(c, "process"), "user");
	assert_int_equal(json_int(user, "gid", -1), 20);
	assert_int_equal(cJSON_GetArraySize(json_arr(user, "additionalGids")), 2);
	assert_int_equal(json_arr(user, "additionalGids")->child->valueint, 10);
	assert_int_equal(json_arr(user, "additionalGids")->child->next->valueint, 29);
	cJSON_Delete(c);
	/* an explicit group: no supplementary groups (runc's own lookup does the same) */
	c = config_of("{\"command\":[\"x\"],\"user\":\"app:10\"}", "{}", root, &r, &err);
	user = json_obj(json_obj(c, "process"), "user");
	assert_int_equal(json_int(user, "gid", -1), 10);
	assert_null(json_get(user, "additionalGids"));
	cJSON_Delete(c);
	/* a uid without an entry: group 0 */
	c = config_of("{\"command\":[\"x\"],\"user\":\"4242\"}", "{}", root, &r, &err);
	user = json_obj(json_obj(c, "process"), "user");
	assert_int_equal(json_int(user, "uid", -1), 4242);
	assert_int_equal(json_int(user, "gid", -1), 0);
	cJSON_Delete(c);

	/* /etc/passwd a symbolic link out of the root: read inside the root, never the host's */
	snprintf(path, sizeof(path), "%s/passwd", host);
	assert_int_equal(fs_write_atomic(path, "evil:x:7:7::/:/bin/sh\n", 22), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	assert_int_equal(unlink(path), 0);
	{
		char target[160];

		snprintf(target, sizeof(target), "%s/passwd", host);
		assert_int_equal(symlink(target, path), 0);
	}
	assert_null(config_of("{\"command\":[\"x\"],\"user\":\"evil\"}", "{}", root, &r, &err));
	assert_non_null(strstr(err.msg, "CannotStartContainerError: unable to find user evil"));
	nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	nftw(host, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_ulimits_clamped(void **state)
{
	struct err err = ERR_INIT;
	struct rlimit own;
	const cJSON *rl;
	cJSON *c;
	int r;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &own), 0);
	c = config_of("{\"command\":[\"x\"],\"ulimits\":[{\"name\":\"nofile\",\"softLimit\":"
		      "999999999999,\"hardLimit\":999999999999},{\"name\":\"core\",\"softLimit\":"
		      "0,\"hardLimit\":0}]}",
		      "{}", NULL, &r, &err);
	assert_int_equal(r, 0);
	rl = json_arr(json_obj(c, "process"), "rlimits");
	assert_int_equal(cJSON_GetArraySize(rl), 2); /* only those asked for */
	assert_string_equal(json_str(rl->child, "type"), "RLIMIT_NOFILE");
	if (own.rlim_max != RLIM_INFINITY) {
		assert_true(rl->child->child->next->valuedouble >= 0);
		assert_int_equal((uint64_t)json_get(rl->child, "hard")->valuedouble, own.rlim_max);
		assert_int_equal((uint64_t)json_get(rl->child, "soft")->valuedouble, own.rlim_max);
	}
	assert_string_equal(json_str(rl->child->next, "type"), "RLIMIT_CORE");
	assert_int_equal(json_int(rl->child->next, "hard", -1), 0);
	cJSON_Delete(c);
	/* soft above hard comes down to hard */
	c = config_of("{\"command\":[\"x\"],\"ulimits\":[{\"name\":\"nofile\",\"softLimit\":"
		      "500,\"hardLimit\":100}]}",
		      "{}", NULL, &r, &err);
	rl = json_arr(json_obj(c, "process"), "rlimits");
	assert_int_equal(json_int(rl->child, "soft", -1), 100);
	cJSON_Delete(c);
	/* none asked for: none written (the container inherits the agent's) */
	c = config_of("{\"command\":[\"x\"]}", "{}", NULL, &r, &err);
	assert_null(json_get(json_obj(c, "process"), "rlimits"));
	cJSON_Delete(c);
}

static void test_resources(void **state)
{
	static const struct {
		const char *def;
		int64_t limit, reservation, swap, shares; /* -1: absent */
	} cases[] = {
		{ "{\"command\":[\"x\"]}", -1, -1, -1, -1 },
		{ "{\"command\":[\"x\"],\"memory\":128}", 128 << 20, -1, -1, -1 },
		{ "{\"command\":[\"x\"],\"memoryReservation\":50}", -1, 50 << 20, -1, -1 },
		{ "{\"command\":[\"x\"],\"memory\":128,\"linuxParameters\":{\"maxSwap\":0}}",
		  128 << 20, -1, 128 << 20, -1 },
		{ "{\"command\":[\"x\"],\"memory\":128,\"linuxParameters\":{\"maxSwap\":64}}",
		  128 << 20, -1, 192 << 20, -1 },
		{ "{\"command\":[\"x\"],\"cpu\":512}", -1, -1, -1, 512 },
		{ "{\"command\":[\"x\"],\"cpu\":1}", -1, -1, -1, 2 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err err = ERR_INIT;
		int r;
		cJSON *c = config_of(cases[i].def, "{}", NULL, &r, &err);
		const cJSON *res = json_obj(json_obj(c, "linux"), "resources");

		assert_int_equal(r, 0);
		assert_int_equal(json_int(json_obj(res, "memory"), "limit", -1), cases[i].limit);
		assert_int_equal(json_int(json_obj(res, "memory"), "reservation", -1),
				 cases[i].reservation);
		assert_int_equal(json_int(json_obj(res, "memory"), "swap", -1), cases[i].swap);
		assert_int_equal(json_int(json_obj(res, "cpu"), "shares", -1), cases[i].shares);
		/* every device denied but runc's defaults */
		assert_false(json_bool(json_arr(res, "devices")->child, "allow", true));
		cJSON_Delete(c);
	}
}

static void test_mounts_and_privileged(void **state)
{
	struct container_mount mounts[] = { { "/srv/data", "/data", true },
					    { "/srv/cache", "/cache", false } };
	struct container_spec spec = { .mounts = mounts, .n_mounts = 2 };
	struct err err = ERR_INIT;
	const cJSON *m;
	cJSON *c;
	int r;

	(void)state;
	c = config_spec("{\"command\":[\"x\"],\"linuxParameters\":{\"sharedMemorySize\":128,"
			"\"tmpfs\":[{\"containerPath\":\"/run\",\"size\":16}]},"
			"\"dockerLabels\":{\"team\":\"a\"},\"systemControls\":[{\"namespace\":"
			"\"net.core.somaxconn\",\"value\":\"1024\"}],\"workingDirectory\":\"app\"}",
			&spec, &r, &err);
	assert_int_equal(r, 0);
	m = find_mount(c, "/data");
	assert_string_equal(json_str(m, "source"), "/srv/data");
	assert_true(has_string(json_arr(m, "options"), "ro"));
	assert_true(has_string(json_arr(m, "options"), "rbind"));
	assert_true(has_string(json_arr(find_mount(c, "/cache"), "options"), "rw"));
	assert_true(has_string(json_arr(find_mount(c, "/dev/shm"), "options"), "size=128m"));
	assert_true(has_string(json_arr(find_mount(c, "/run"), "options"), "size=16m"));
	assert_true(has_string(json_arr(find_mount(c, "/sys"), "options"), "ro"));
	assert_string_equal(json_str(find_mount(c, "/etc/hosts"), "source"), "/bundle/hosts");
	assert_string_equal(json_str(json_obj(c, "annotations"), "team"), "a");
	assert_string_equal(
		json_str(json_obj(json_obj(c, "linux"), "sysctl"), "net.core.somaxconn"), "1024");
	assert_string_equal(json_str(json_obj(c, "process"), "cwd"), "/app");
	assert_false(json_bool(json_obj(c, "root"), "readonly", true));
	cJSON_Delete(c);

	/* a mount into the container's parent directories is refused */
	mounts[0].destination = "/data/../etc";
	assert_null(config_spec("{\"command\":[\"x\"]}", &spec, &r, &err));
	assert_non_null(strstr(err.msg, "CannotCreateContainerError: bad mount"));

	/* privileged: every device, a writable /sys, no masked paths */
	spec.n_mounts = 0;
	c = config_spec("{\"command\":[\"x\"],\"privileged\":true}", &spec, &r, &err);
	assert_true(
		json_bool(json_arr(json_obj(json_obj(c, "linux"), "resources"), "devices")->child,
			  "allow", false));
	assert_true(has_string(json_arr(find_mount(c, "/sys"), "options"), "rw"));
	assert_null(json_get(json_obj(c, "linux"), "readonlyPaths"));
	cJSON_Delete(c);
}

static void test_namespaces_and_hostname(void **state)
{
	struct container_spec spec = { .id = "0123456789abcdef-web" };
	struct err err = ERR_INIT;
	const cJSON *ns;
	cJSON *c;
	int r;
	bool net = false;

	(void)state;
	c = config_spec("{\"command\":[\"x\"]}", &spec, &r, &err);
	assert_string_equal(json_str(c, "hostname"), "0123456789ab");
	for (ns = json_arr(json_obj(c, "linux"), "namespaces")->child; ns; ns = ns->next)
		if (!strcmp(json_str(ns, "type"), "network")) {
			net = true;
			assert_null(json_get(ns, "path"));
		}
	assert_true(net);
	cJSON_Delete(c);

	spec.network = CONTAINER_NET_JOIN;
	spec.netns_path = "/run/netns/task1";
	c = config_spec("{\"command\":[\"x\"],\"hostname\":\"web\"}", &spec, &r, &err);
	assert_string_equal(json_str(c, "hostname"), "web");
	for (ns = json_arr(json_obj(c, "linux"), "namespaces")->child; ns; ns = ns->next)
		if (!strcmp(json_str(ns, "type"), "network"))
			assert_string_equal(json_str(ns, "path"), "/run/netns/task1");
	cJSON_Delete(c);

	spec.network = CONTAINER_NET_HOST;
	c = config_spec("{\"command\":[\"x\"]}", &spec, &r, &err);
	for (ns = json_arr(json_obj(c, "linux"), "namespaces")->child; ns; ns = ns->next)
		assert_string_not_equal(json_str(ns, "type"), "network");
	/* the host's /sys is bound: a new sysfs needs a network namespace of its own */
	assert_string_equal(json_str(find_mount(c, "/sys"), "type"), "bind");
	cJSON_Delete(c);
}

/* initProcessEnabled: berth-init from beside the berth binary at /dev/init, read-only, in front. */
static void test_init_process(void **state)
{
	char dir[] = "/tmp/berth-test-init-XXXXXX", berth[64], init[64];
	const char *def = "{\"command\":[\"sh\",\"-c\",\"x\"],"
			  "\"linuxParameters\":{\"initProcessEnabled\":true}}";
	struct container_spec base = { 0 };
	struct err err = ERR_INIT;
	const cJSON *m;
	char *args;
	cJSON *c;
	int r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(berth, sizeof(berth), "%s/berth", dir);
	snprintf(init, sizeof(init), "%s/berth-init", dir);
	assert_int_equal(fs_write_replace(init, "#!/bin/sh\n", 10), 0);
	assert_int_equal(chmod(init, 0755), 0);
	base.berth = berth;

	c = config_spec(def, &base, &r, &err);
	assert_int_equal(r, 0);
	args = args_of(c);
	assert_string_equal(args, "[\"/dev/init\",\"--\",\"sh\",\"-c\",\"x\"]");
	free(args);
	m = find_mount(c, "/dev/init");
	assert_non_null(m);
	assert_string_equal(json_str(m, "type"), "bind");
	assert_string_equal(json_str(m, "source"), init);
	assert_true(has_string(json_arr(m, "options"), "ro"));
	cJSON_Delete(c);

	/* not asked for: neither */
	c = config_spec("{\"command\":[\"sh\"],\"linuxParameters\":{\"initProcessEnabled\":false}}",
			&base, &r, &err);
	assert_int_equal(r, 0);
	args = args_of(c);
	assert_string_equal(args, "[\"sh\"]");
	free(args);
	assert_null(find_mount(c, "/dev/init"));
	cJSON_Delete(c);

	/* asked for, but no berth-init installed: the container is not created */
	unlink(init);
	assert_null(config_spec(def, &base, &r, &err));
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(err.msg, "CannotCreateContainerError: initProcessEnabled"));
	assert_non_null(strstr(err.msg, init));
	rmdir(dir);
}

static void test_bundle_files(void **state)
{
	char dir[] = "/tmp/berth-test-bundle-XXXXXX", path[128];
	cJSON *def = parse("{\"hostname\":\"web\",\"dnsServers\":[\"10.0.0.2\"],"
			   "\"dnsSearchDomains\":[\"corp.example\"],\"extraHosts\":[{\"hostname\":"
			   "\"db\",\"ipAddress\":\"10.0.0.9\"}]}");
	struct container_spec spec = { .id = "c1", .container_def = def };
	struct err err = ERR_INIT;
	struct buf b = BUF_INIT;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(container_bundle_files(&spec, dir, &err), 0);
	snprintf(path, sizeof(path), "%s/hosts", dir);
	assert_int_equal(fs_read_file(path, 65536, &b), 0);
	assert_non_null(strstr(buf_str(&b), "127.0.0.1\tlocalhost\n"));
	assert_non_null(strstr(buf_str(&b), "127.0.1.1\tweb\n"));
	assert_non_null(strstr(buf_str(&b), "10.0.0.9\tdb\n"));
	buf_reset(&b);
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	assert_int_equal(fs_read_file(path, 65536, &b), 0);
	assert_string_equal(buf_str(&b), "nameserver 10.0.0.2\nsearch corp.example\n");
	buf_reset(&b);
	snprintf(path, sizeof(path), "%s/hostname", dir);
	assert_int_equal(fs_read_file(path, 65536, &b), 0);
	assert_string_equal(buf_str(&b), "web\n");
	/* on a bridge: the hostname at the container's address, the task's other containers */
	spec.network = CONTAINER_NET_JOIN;
	spec.address = "10.9.0.5";
	spec.hosts_extra = "10.9.0.6\tdb webalias\n";
	assert_int_equal(container_bundle_files(&spec, dir, &err), 0);
	buf_reset(&b);
	snprintf(path, sizeof(path), "%s/hosts", dir);
	assert_int_equal(fs_read_file(path, 65536, &b), 0);
	assert_null(strstr(buf_str(&b), "127.0.1.1"));
	assert_non_null(strstr(buf_str(&b), "10.9.0.5\tweb\n10.9.0.6\tdb webalias\n"));
	buf_release(&b);
	cJSON_Delete(def);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_merge),
		cmocka_unit_test(test_env_cwd_limits),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_supplementary_groups_and_root_confinement),
		cmocka_unit_test(test_ulimits_clamped),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_mounts_and_privileged),
		cmocka_unit_test(test_namespaces_and_hostname),
		cmocka_unit_test(test_bundle_files),
		cmocka_unit_test(test_init_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
