/*
 * runtime.c: a container's life on this host (runtime.h): its directory,
 * root file system and bundle, starting its shim, and reading, stopping
 * and removing it afterwards. The shim itself is shim.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/layers.h"
#include "agent/runtime.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/banned.h"

extern char **environ;

#define START_TIMEOUT_MS 60000
#define POLL_MS		 20
#define STATE_FILE_MAX	 65536
#define KILL_WAIT_MS	 10000

static bool valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > CONTAINER_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void container_dir(const char *state_dir, const char *id, struct buf *out)
{
	buf_printf(out, "%s/%s", state_dir, id);
}

/* runc's --root: DATA-DIR/runc beside DATA-DIR/containers. */
static void runtime_root(const char *state_dir, struct buf *out)
{
	const char *slash = strrchr(state_dir, '/');

	if (slash)
		buf_printf(out, "%.*s/runc", (int)(slash - state_dir), state_dir);
	else
		buf_puts(out, "runc");
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Run argv to its end with stdio on /dev/null; its exit status, or -errno. */
static int run_quietly(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* --- the root file system ---------------------------------------------- */

/*
 * Mount the overlay of the layers at dir/rootfs. The lower directories are
 * named relative to the layer store, from a child process that changed
 * into it, so the mount options stay short (the kernel takes one page)
 * whatever the store's path; the agent's own working directory is not
 * touched.
 */
static int mount_rootfs(const struct container_spec *spec, const char *dir, struct err *err)
{
	_cleanup_buf_ struct buf opts = BUF_INIT, layers = BUF_INIT, target = BUF_INIT;
	pid_t pid;
	int status;

	buf_printf(&layers, "%s/layers/sha256", spec->layers_dir);
	buf_puts(&opts, "lowerdir=");
	for (size_t i = spec->n_layers; i-- > 0;) {
		const char *d = spec->diff_ids[i];

		if (!layer_digest_valid(d) || !layer_exists(spec->layers_dir, d))
			return err_set(err, -ENOENT, E_CLIENT,
				       "CannotCreateContainerError: layer %s is not in the store",
				       d ? d : "(null)");
		buf_printf(&opts, "%s%s", i + 1 == spec->n_layers ? "" : ":", d + 7);
	}
	buf_printf(&opts, ",upperdir=%s/upper,workdir=%s/work", dir, dir);
	buf_printf(&target, "%s/rootfs", dir);
	if (spec->n_layers == 0)
		return err_set(err, -EINVAL, E_CLIENT,
			       "CannotCreateContainerError: an image without layers");
	if (opts.len >= 4000)
		return err_set(
			err, -E2BIG, E_CLIENT,
			"CannotCreateContainerError: too many layers (%zu) for one overlay mount",
			spec->n_layers);
	pid = fork();
	if (pid < 0)
		return err_set(err, -errno, E_SERVER, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (chdir(buf_str(&layers)) < 0 ||
		    mount("overlay", buf_str(&target), "overlay", 0, buf_str(&opts)) < 0)
			_exit(errno & 0xff);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(err, -errno, E_SERVER, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		int e = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;

		return err_set(err, -e, E_SERVER,
			       "CannotCreateContainerError: mounting the root: %s", strerror(e));
	}
	return 0;
}

/* --- /etc files -------------------------------------------------------- */

static int write_etc_files(const struct container_spec *spec, const char *dir, struct err *err)
{
	_cleanup_buf_ struct buf hosts = BUF_INIT, hostname = BUF_INIT, resolv = BUF_INIT,
				 path = BUF_INIT;
	const cJSON *dns = json_arr(spec->container_def, "dnsServers");
	const cJSON *search = json_arr(spec->container_def, "dnsSearchDomains");
	const cJSON *extra = json_arr(spec->container_def, "extraHosts");
	const char *name = json_str(spec->container_def, "hostname");
	struct {
		const char *file;
		struct buf *data;
	} files[] = { { "hosts", &hosts }, { "hostname", &hostname }, { "resolv.conf", &resolv } };

	if (!name)
		name = spec->hostname;
	buf_printf(&hostname, "%.*s\n", name ? 255 : 12, name ? name : spec->id);
	buf_puts(&hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	buf_printf(&hosts, "127.0.1.1\t%s", buf_str(&hostname));
	for (const cJSON *h = extra ? extra->child : NULL; h; h = h->next)
		if (json_str(h, "ipAddress") && json_str(h, "hostname"))
			buf_printf(&hosts, "%s\t%s\n", json_str(h, "ipAddress"),
				   json_str(h, "hostname"));
	if (dns && dns->child) {
		for (const cJSON *d = dns->child; d; d = d->next)
			if (cJSON_IsString(d))
				buf_printf(&resolv, "nameserver %s\n", d->valuestring);
	} else if (spec->network == CONTAINER_NET_HOST) {
		fs_read_file("/etc/resolv.conf", 65536, &resolv);
	}
	if (search && search->child) {
		buf_puts(&resolv, "search");
		for (const cJSON *d = search->child; d; d = d->next)
			if (cJSON_IsString(d))
				buf_printf(&resolv, " %s", d->valuestring);
		buf_putc(&resolv, '\n');
	}
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		int r;

		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir, files[i].file);
		r = fs_write_atomic(buf_str(&path), files[i].data->data ? files[i].data->data : "",
				    files[i].data->len);
		if (r == 0)
			chmod(buf_str(&path), 0644);
		if (r < 0)
			return err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
	}
	return 0;
}

/* --- removing ---------------------------------------------------------- */

static void remove_tree(const char *dir)
{
	fs_remove_tree(dir);
}

/* Undo the root mount and remove the directory. */
static void teardown(const char *dir)
{
	_cleanup_buf_ struct buf rootfs = BUF_INIT;

	buf_printf(&rootfs, "%s/rootfs", dir);
	if (umount2(buf_str(&rootfs), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		log_warn("runtime: unmounting %s: %s", buf_str(&rootfs), strerror(errno));
	remove_tree(dir);
}

/* --- state files ------------------------------------------------------- */

static cJSON *read_json(const char *dir, const char *name)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;

	buf_printf(&path, "%s/%s", dir, name);
	if (fs_read_file(buf_str(&path), STATE_FILE_MAX, &data) < 0 || !data.data)
		return NULL;
	return cJSON_ParseWithLength(data.data, data.len);
}

/* Whether the shim of the container in dir still runs. */
static bool shim_alive(const char *dir, const char *id)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT, cmdline = BUF_INIT;
	long pid;

	buf_printf(&path, "%s/shim.pid", dir);
	if (fs_read_file(buf_str(&path), 64, &data) < 0 || !data.data)
		return false;
	pid = strtol(data.data, NULL, 10);
	if (pid <= 0)
		return false;
	buf_printf(&cmdline, "/proc/%ld/cmdline", pid);
	buf_reset(&path);
	if (fs_read_file(buf_str(&cmdline), 65536, &path) < 0 || !path.data)
		return false;
	/* the cmdline is NUL-separated: look for the id among the arguments */
	for (size_t off = 0; off < path.len; off += strlen(path.data + off) + 1)
		if (!strcmp(path.data + off, id))
			return true;
	return false;
}

int container_state(const char *state_dir, const char *id, struct container_state *ret,
		    struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	_cleanup_json_ cJSON *started = NULL, *exited = NULL;
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (!valid_id(id))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "bad container id");
	container_dir(state_dir, id, &dir);
	if (stat(buf_str(&dir), &st) < 0)
		return err_set(err, -ENOENT, E_CLIENT, "no container %s", id);
	started = read_json(buf_str(&dir), "started");
	exited = read_json(buf_str(&dir), "exit");
	if (started) {
		ret->pid = (pid_t)json_int(started, "pid", 0);
		ret->started_at_ms = json_int(started, "startedAt", 0);
	}
	if (exited) {
		ret->exited = true;
		ret->exit_code = (int)json_int(exited, "exitCode", -1);
		ret->finished_at_ms = json_int(exited, "finishedAt", 0);
		snprintf(ret->reason, sizeof(ret->reason), "%s", json_str(exited, "reason") ?: "");
		return 0;
	}
	if (!shim_alive(buf_str(&dir), id)) {
		/* read again: the shim may have written its exit file and gone just now */
		cJSON_Delete(exited);
		exited = read_json(buf_str(&dir), "exit");
		if (exited) {
			ret->exited = true;
			ret->exit_code = (int)json_int(exited, "exitCode", -1);
			ret->finished_at_ms = json_int(exited, "finishedAt", 0);
			snprintf(ret->reason, sizeof(ret->reason), "%s",
				 json_str(exited, "reason") ?: "");
			return 0;
		}
		ret->exited = true;
		ret->exit_code = -1;
		snprintf(ret->reason, sizeof(ret->reason),
			 "the container's monitor (berth shim) ended without recording its exit");
	}
	return 0;
}

/* --- starting ---------------------------------------------------------- */

/* Start the shim; it detaches at once (the process we wait for here is gone in a moment). */
static int spawn_shim(const char *berth, const char *state_dir, const char *id, const char *runtime,
		      const char *root, struct err *err)
{
	char *argv[] = { "berth",      "shim", (char *)state_dir, (char *)id, (char *)runtime,
			 (char *)root, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int status, r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
	r = posix_spawn(&pid, berth ? berth : "/proc/self/exe", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return err_set(err, -r, E_SERVER, "starting berth shim: %s", strerror(r));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(err, -errno, E_SERVER, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(err, -EIO, E_SERVER, "berth shim failed to start (status %d)",
			       status);
	return 0;
}

int container_start(const char *state_dir, const struct container_spec *spec,
		    struct container_state *ret, struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT, path = BUF_INIT, config = BUF_INIT,
				 root = BUF_INIT;
	const char *runtime = spec->runtime ? spec->runtime : "runc";
	static const char *const subdirs[] = { "rootfs", "upper", "work" };
	int64_t deadline;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!valid_id(spec->id))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "bad container id '%s'",
			       spec->id ? spec->id : "");
	container_dir(state_dir, spec->id, &dir);
	runtime_root(state_dir, &root);
	r = fs_mkdir_p(state_dir, 0700);
	if (r == 0 && mkdir(buf_str(&dir), 0700) < 0)
		r = -errno;
	if (r == -EEXIST)
		return err_set(err, r, E_CLIENT, "container %s exists already", spec->id);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&dir), strerror(-r));
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		buf_reset(&path);
		buf_printf(&path, "%s/%s", buf_str(&dir), subdirs[i]);
		if (mkdir(buf_str(&path), 0755) < 0) {
			r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path),
				    strerror(errno));
			goto fail;
		}
	}
	r = mount_rootfs(spec, buf_str(&dir), err);
	if (r < 0)
		goto fail_dir;
	r = write_etc_files(spec, buf_str(&dir), err);
	if (r < 0)
		goto fail;
	buf_reset(&path);
	buf_printf(&path, "%s/rootfs", buf_str(&dir));
	r = container_bundle_config(spec, buf_str(&dir), buf_str(&path), &config, err);
	if (r < 0)
		goto fail;
	buf_reset(&path);
	buf_printf(&path, "%s/config.json", buf_str(&dir));
	r = fs_write_atomic(buf_str(&path), config.data, config.len);
	if (r < 0) {
		err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
		goto fail;
	}
	r = spawn_shim(spec->berth, state_dir, spec->id, runtime, buf_str(&root), err);
	if (r < 0)
		goto fail;

	/* Wait for the shim to say the container runs, or that it could not start it. */
	deadline = now_ms() + START_TIMEOUT_MS;
	for (;;) {
		r = container_state(state_dir, spec->id, ret, err);
		if (r < 0)
			goto fail;
		if (ret->exited && ret->pid == 0) {
			r = err_set(err, -EIO, E_CLIENT, "%s",
				    ret->reason[0]
					    ? ret->reason
					    : "CannotStartContainerError: the runtime failed");
			goto fail;
		}
		if (ret->pid > 0)
			return 0;
		if (now_ms() > deadline) {
			r = err_set(err, -ETIMEDOUT, E_SERVER,
				    "CannotStartContainerError: the container did not start within "
				    "%d s",
				    START_TIMEOUT_MS / 1000);
			goto fail;
		}
		sleep_ms(POLL_MS);
	}

fail : {
	struct err ignored = ERR_INIT;

	container_remove(state_dir, spec->id, &ignored);
}
	return r;
fail_dir:
	remove_tree(buf_str(&dir));
	return r;
}

/* --- stopping and removing --------------------------------------------- */

static int runtime_kill(const char *state_dir, const char *id, const char *sig)
{
	_cleanup_buf_ struct buf root = BUF_INIT, dir = BUF_INIT, runtime = BUF_INIT;
	_cleanup_json_ cJSON *meta = NULL;

	runtime_root(state_dir, &root);
	container_dir(state_dir, id, &dir);
	meta = read_json(buf_str(&dir), "started");
	buf_puts(&runtime, json_str(meta, "runtime") ? json_str(meta, "runtime") : "runc");
	char *argv[] = { runtime.data, "--root", root.data, "kill", (char *)id, (char *)sig, NULL };

	return run_quietly(argv);
}

/* Wait up to ms for the container to have exited. */
static bool wait_exit(const char *state_dir, const char *id, int64_t ms)
{
	int64_t deadline = now_ms() + ms;

	for (;;) {
		struct container_state st;
		struct err err = ERR_INIT;

		if (container_state(state_dir, id, &st, &err) < 0 || st.exited)
			return true;
		if (now_ms() >= deadline)
			return false;
		sleep_ms(POLL_MS);
	}
}

int container_stop(const char *state_dir, const char *id, int timeout_s, struct err *err)
{
	struct container_state st;
	int r = container_state(state_dir, id, &st, err);

	if (r < 0)
		return r;
	if (st.exited)
		return 0;
	runtime_kill(state_dir, id, "TERM");
	if (wait_exit(state_dir, id, (int64_t)timeout_s * 1000))
		return 0;
	runtime_kill(state_dir, id, "KILL");
	if (wait_exit(state_dir, id, KILL_WAIT_MS))
		return 0;
	return err_set(err, -ETIMEDOUT, E_SERVER, "container %s did not exit after SIGKILL", id);
}

int container_remove(const char *state_dir, const char *id, struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT, root = BUF_INIT, runtime = BUF_INIT;
	_cleanup_json_ cJSON *meta = NULL;
	struct container_state st;
	int r = container_state(state_dir, id, &st, err);

	if (r < 0)
		return r;
	container_dir(state_dir, id, &dir);
	runtime_root(state_dir, &root);
	if (!st.exited) {
		runtime_kill(state_dir, id, "KILL");
		wait_exit(state_dir, id, KILL_WAIT_MS);
	}
	meta = read_json(buf_str(&dir), "started");
	buf_puts(&runtime, json_str(meta, "runtime") ? json_str(meta, "runtime") : "runc");
	char *argv[] = { runtime.data, "--root", root.data, "delete", "--force", (char *)id, NULL };

	run_quietly(argv);
	teardown(buf_str(&dir));
	return 0;
}

int container_exec(const char *state_dir, const char *id, char *const argv[], int timeout_s,
		   int *ret_exit, struct err *err)
{
	_cleanup_buf_ struct buf root = BUF_INIT, dir = BUF_INIT, runtime = BUF_INIT;
	_cleanup_json_ cJSON *meta = NULL;
	posix_spawn_file_actions_t fa;
	char *args[64];
	size_t n = 0;
	int64_t deadline;
	pid_t pid;
	int status, r;

	if (!valid_id(id))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "bad container id");
	container_dir(state_dir, id, &dir);
	meta = read_json(buf_str(&dir), "started");
	if (!meta)
		return err_set(err, -ENOENT, E_CLIENT, "container %s is not running", id);
	runtime_root(state_dir, &root);
	buf_puts(&runtime, json_str(meta, "runtime") ? json_str(meta, "runtime") : "runc");
	args[n++] = runtime.data;
	args[n++] = "--root";
	args[n++] = root.data;
	args[n++] = "exec";
	args[n++] = (char *)id;
	for (size_t i = 0; argv[i] && n < ARRAY_SIZE(args) - 1; i++)
		args[n++] = argv[i];
	args[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, args[0], &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return err_set(err, -r, E_SERVER, "running %s: %s", args[0], strerror(r));
	deadline = now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return err_set(err, -errno, E_SERVER, "waitpid: %s", strerror(errno));
		if (now_ms() >= deadline) {
			/* runc exec passes the signal on to the process it runs */
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			*ret_exit = 137;
			return 0;
		}
		sleep_ms(POLL_MS);
	}
	*ret_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}
