/*
 * runtime.c: a container's life on this host (runtime.h): its directory,
 * root file system (rootfs.c) and bundle (bundle.c), starting its shim,
 * and reading, waiting for, stopping and removing it afterwards. The shim
 * itself is shim.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/layers.h"
#include "agent/rootfs.h"
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
#define START_POLL_MS	 2
#define STATE_FILE_MAX	 65536
#define KILL_WAIT_MS	 10000

bool container_id_valid(const char *id)
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

/* Spawn actions that put a child's stdin, stdout and stderr on /dev/null. */
static void stdio_to_devnull(posix_spawn_file_actions_t *fa)
{
	posix_spawn_file_actions_init(fa);
	posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(fa, 2, "/dev/null", O_WRONLY, 0);
}

/* Run argv to its end with stdio on /dev/null; its exit status, or -errno. */
static int run_quietly(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int status, r;

	/*
	 * In a process group of its own: a signal to the agent's group (^C, a
	 * service manager stopping it) must not kill a `runc kill` or `runc
	 * delete` half-way, leaving a container that was never signalled.
	 */
	stdio_to_devnull(&fa);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* --- removing ---------------------------------------------------------- */

/*
 * Remove what runc may have left of the container's cgroup /berth/ID in
 * each mounted hierarchy (it removes it itself when it deletes the
 * container; a runtime killed half-way may not have): processes still in
 * it are killed first.
 */
static void remove_cgroups(const char *id)
{
	_cleanup_buf_ struct buf info = BUF_INIT;
	char *save = NULL;
	int lock = open(CONTAINER_CGROUP_LOCK, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the parents too, unless a container's cgroup is being made right now */
	bool parents = lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0;

	if (fs_read_file("/proc/self/mountinfo", 1 << 20, &info) < 0 || !info.data)
		return;
	for (char *line = strtok_r(info.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		_cleanup_buf_ struct buf path = BUF_INIT, procs = BUF_INIT;
		char *f[5] = { NULL }, *p = line, *sep = strstr(line, " - ");

		if (!sep || (!startswith(sep, " - cgroup ") && !startswith(sep, " - cgroup2 ")))
			continue;
		for (int i = 0; i < 5 && p; i++) {
			f[i] = p;
			p = strchr(p, ' ');
			if (p)
				*p++ = 0;
		}
		if (!f[4])
			continue;
		buf_printf(&path, "%s/berth/%s", f[4], id);
		for (int attempt = 0; attempt < 50; attempt++) {
			if (rmdir(buf_str(&path)) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY)
				break;
			buf_reset(&procs);
			{
				_cleanup_buf_ struct buf file = BUF_INIT;
				char *s2 = NULL;

				buf_printf(&file, "%s/cgroup.procs", buf_str(&path));
				if (fs_read_file(buf_str(&file), 1 << 20, &procs) == 0 &&
				    procs.data)
					for (char *l = strtok_r(procs.data, "\n", &s2); l;
					     l = strtok_r(NULL, "\n", &s2))
						kill((pid_t)strtol(l, NULL, 10), SIGKILL);
			}
			sleep_ms(POLL_MS);
		}
		/* fails (EBUSY) while other containers use it */
		if (parents && path.len > strlen(id) + 1) {
			path.len -= strlen(id) + 1;
			path.data[path.len] = 0;
			rmdir(buf_str(&path));
		}
	}
	if (lock >= 0)
		close(lock); /* and so unlocked */
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

/* Whether pid runs and its NUL-separated command line holds the argument arg. */
static bool process_has_arg(long pid, const char *arg)
{
	_cleanup_buf_ struct buf path = BUF_INIT, cmdline = BUF_INIT;

	if (pid <= 0)
		return false;
	buf_printf(&path, "/proc/%ld/cmdline", pid);
	if (fs_read_file(buf_str(&path), 65536, &cmdline) < 0 || !cmdline.data)
		return false;
	for (size_t off = 0; off < cmdline.len; off += strlen(cmdline.data + off) + 1)
		if (!strcmp(cmdline.data + off, arg))
			return true;
	return false;
}

/* Whether the shim of the container in dir still runs. */
static bool shim_alive(const char *dir, const char *id)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;

	buf_printf(&path, "%s/shim.pid", dir);
	if (fs_read_file(buf_str(&path), 64, &data) < 0 || !data.data)
		return false;
	return process_has_arg(strtol(data.data, NULL, 10), id);
}

/* Whether pid is a process of container id (it is in its cgroup). */
static bool in_container(pid_t pid, const char *id)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT, want = BUF_INIT;

	if (pid <= 0)
		return false;
	buf_printf(&path, "/proc/%d/cgroup", (int)pid);
	if (fs_read_file(buf_str(&path), 65536, &data) < 0 || !data.data)
		return false;
	buf_printf(&want, "/berth/%s\n", id);
	return strstr(data.data, buf_str(&want)) != NULL;
}

static void read_exit(const cJSON *exited, struct container_state *ret)
{
	ret->exited = true;
	ret->running = false;
	ret->exit_code = (int)json_int(exited, "exitCode", -1);
	ret->signal = (int)json_int(exited, "signal", 0);
	ret->oom_killed = json_bool(exited, "oomKilled", false);
	ret->finished_at_ms = json_int(exited, "finishedAt", 0);
	snprintf(ret->reason, sizeof(ret->reason), "%s", json_str(exited, "reason") ?: "");
}

int container_state(const char *state_dir, const char *id, struct container_state *ret,
		    struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	_cleanup_json_ cJSON *started = NULL, *exited = NULL;
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (!container_id_valid(id))
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
		read_exit(exited, ret);
		return 0;
	}
	if (shim_alive(buf_str(&dir), id)) {
		ret->running = ret->pid > 0;
		return 0;
	}
	/* read again: the shim may have written its exit file and gone just now */
	exited = read_json(buf_str(&dir), "exit");
	if (exited) {
		read_exit(exited, ret);
		return 0;
	}
	if (in_container(ret->pid, id)) {
		/* the shim is gone (killed) but the container runs on, unwatched */
		ret->running = true;
		return 0;
	}
	ret->exited = true;
	ret->exit_code = -1;
	snprintf(ret->reason, sizeof(ret->reason),
		 ret->pid > 0 ? "the container's monitor (berth shim) ended without recording its "
				"exit: exit code unknown"
			      : "the container's monitor (berth shim) ended before the container "
				"started");
	return 0;
}

int container_wait(const char *state_dir, const char *id, int timeout_ms,
		   struct container_state *ret, struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	int fd, r;

	if (!container_id_valid(id))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "bad container id");
	container_dir(state_dir, id, &dir);
	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	/* the exit file is renamed into place; a failed watch falls back to polling */
	if (fd >= 0 && inotify_add_watch(fd, buf_str(&dir), IN_MOVED_TO | IN_CREATE) < 0) {
		close(fd);
		fd = -1;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left;
		char drain[4096];

		r = container_state(state_dir, id, ret, err);
		if (r < 0 || ret->exited)
			break;
		left = deadline - now_ms();
		if (left <= 0)
			break;
		/* look again at least every 200 ms: a shim that dies writes nothing */
		if (fd >= 0) {
			if (poll(&p, 1, left < 200 ? (int)left : 200) > 0)
				while (read(fd, drain, sizeof(drain)) > 0)
					;
		} else {
			sleep_ms(left < POLL_MS ? left : POLL_MS);
		}
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int container_list(const char *state_dir, int (*fn)(const char *id, void *userdata), void *userdata,
		   struct err *err)
{
	DIR *d = opendir(state_dir);
	struct dirent *de;
	int r = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, -errno, E_SERVER, "%s: %s", state_dir, strerror(errno));
	}
	while (r == 0 && (de = readdir(d)))
		if (container_id_valid(de->d_name) && de->d_type == DT_DIR)
			r = fn(de->d_name, userdata);
	closedir(d);
	return r;
}

/* --- starting ---------------------------------------------------------- */

int container_helper_path(const char *berth, const char *name, struct buf *ret)
{
	char self[PATH_MAX];
	const char *slash;

	if (!berth) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n <= 0)
			return -ENOENT;
		self[n] = 0;
		berth = self;
	}
	slash = strrchr(berth, '/');
	buf_reset(ret);
	if (slash)
		buf_printf(ret, "%.*s/%s", (int)(slash - berth), berth, name);
	else
		buf_puts(ret, name);
	return access(buf_str(ret), X_OK) == 0 ? 0 : -ENOENT;
}

/*
 * Start the shim; it detaches at once (the process we wait for here is
 * gone in a moment). The shim is berth-shim beside the berth binary, a
 * program of libc alone that starts in a millisecond; else the berth
 * binary's own `shim` verb (the same code), about ten times slower to
 * load. Either way its arguments are `shim STATE-DIR ID RUNTIME ROOT`.
 */
static int spawn_shim(const char *berth, const char *state_dir, const char *id, const char *runtime,
		      const char *root, struct err *err)
{
	_cleanup_buf_ struct buf program = BUF_INIT;
	char *argv[] = { "berth-shim", "shim", (char *)state_dir, (char *)id, (char *)runtime,
			 (char *)root, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int status, r;

	if (container_helper_path(berth, "berth-shim", &program) < 0) {
		argv[0] = "berth";
		buf_reset(&program);
		buf_puts(&program, berth ? berth : "/proc/self/exe");
	}
	stdio_to_devnull(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
	r = posix_spawn(&pid, buf_str(&program), &fa, &attr, argv, environ);
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
	int64_t deadline;
	int r, watch = -1;

	memset(ret, 0, sizeof(*ret));
	if (!container_id_valid(spec->id))
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
	log_debug("container %s: creating", spec->id);
	r = rootfs_mount(buf_str(&dir), spec->layers_dir, spec->diff_ids, spec->n_layers, err);
	if (r < 0)
		goto fail;
	log_debug("container %s: root mounted", spec->id);
	r = container_bundle_files(spec, buf_str(&dir), err);
	if (r < 0)
		goto fail;
	buf_printf(&path, "%s/rootfs", buf_str(&dir));
	r = container_bundle_config(spec, buf_str(&dir), buf_str(&path), &config, err);
	if (r < 0)
		goto fail;
	buf_reset(&path);
	buf_printf(&path, "%s/config.json", buf_str(&dir));
	r = fs_write_replace(buf_str(&path), config.data, config.len);
	if (r < 0) {
		err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
		goto fail;
	}
	log_debug("container %s: bundle written", spec->id);
	/* the shim renames `started` (or `exit`) into place: watched from before it runs */
	watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (watch >= 0 && inotify_add_watch(watch, buf_str(&dir), IN_MOVED_TO | IN_CREATE) < 0) {
		close(watch);
		watch = -1;
	}
	r = spawn_shim(spec->berth, state_dir, spec->id, runtime, buf_str(&root), err);
	if (r < 0)
		goto fail;
	log_debug("container %s: shim detached", spec->id);

	/* Wait for the shim to say the container runs, or that it could not start it. */
	deadline = now_ms() + START_TIMEOUT_MS;
	for (;;) {
		struct pollfd p = { .fd = watch, .events = POLLIN };
		char drain[4096];

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
		if (ret->pid > 0) {
			log_debug("container %s: running (pid %d)", spec->id, (int)ret->pid);
			if (watch >= 0)
				close(watch);
			return 0;
		}
		if (now_ms() > deadline) {
			r = err_set(err, -ETIMEDOUT, E_SERVER,
				    "CannotStartContainerError: the container did not start within "
				    "%d s",
				    START_TIMEOUT_MS / 1000);
			goto fail;
		}
		/* woken by the shim's files; a shim that dies writes none: look every 100 ms */
		if (watch < 0)
			sleep_ms(START_POLL_MS);
		else if (poll(&p, 1, 100) > 0)
			while (read(watch, drain, sizeof(drain)) > 0)
				;
	}

fail : {
	struct err ignored = ERR_INIT;

	if (watch >= 0)
		close(watch);
	container_remove(state_dir, spec->id, &ignored);
}
	return r;
}

/* --- stopping and removing --------------------------------------------- */

/* The runtime binary that runs container dir (recorded by its shim). */
static void runtime_of(const char *dir, struct buf *out)
{
	_cleanup_json_ cJSON *meta = read_json(dir, "started");

	buf_puts(out, json_str(meta, "runtime") ? json_str(meta, "runtime") : "runc");
}

static int runtime_kill(const char *state_dir, const char *id, const char *sig)
{
	_cleanup_buf_ struct buf root = BUF_INIT, dir = BUF_INIT, runtime = BUF_INIT;

	runtime_root(state_dir, &root);
	container_dir(state_dir, id, &dir);
	runtime_of(buf_str(&dir), &runtime);
	char *argv[] = { runtime.data, "--root", root.data, "kill", (char *)id, (char *)sig, NULL };

	return run_quietly(argv);
}

/* Wait up to ms for the container to have exited. */
static bool wait_exit(const char *state_dir, const char *id, int64_t ms)
{
	struct container_state st;
	struct err err = ERR_INIT;

	return container_wait(state_dir, id, (int)ms, &st, &err) < 0 || st.exited;
}

int container_stop(const char *state_dir, const char *id, int timeout_s, struct err *err)
{
	struct container_state st;
	int r = container_state(state_dir, id, &st, err);

	if (r < 0)
		return r;
	if (st.exited)
		return 0;
	if (timeout_s < 0)
		timeout_s = CONTAINER_STOP_TIMEOUT_DEFAULT;
	runtime_kill(state_dir, id, "TERM");
	if (wait_exit(state_dir, id, (int64_t)timeout_s * 1000))
		return 0;
	runtime_kill(state_dir, id, "KILL");
	/* a container whose shim is gone is not known to runc's kill by its state alone */
	if (container_state(state_dir, id, &st, err) == 0 && st.running && in_container(st.pid, id))
		kill(st.pid, SIGKILL);
	if (wait_exit(state_dir, id, KILL_WAIT_MS))
		return 0;
	return err_set(err, -ETIMEDOUT, E_SERVER, "container %s did not exit after SIGKILL", id);
}

int container_remove(const char *state_dir, const char *id, struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT, root = BUF_INIT, runtime = BUF_INIT;
	struct container_state st;
	int r = container_state(state_dir, id, &st, err);

	if (r < 0)
		return r;
	container_dir(state_dir, id, &dir);
	runtime_root(state_dir, &root);
	if (!st.exited) {
		runtime_kill(state_dir, id, "KILL");
		if (st.pid > 0 && in_container(st.pid, id))
			kill(st.pid, SIGKILL);
		wait_exit(state_dir, id, KILL_WAIT_MS);
	}
	/* let the shim finish (it has runc delete the container, then ends) */
	for (int64_t end = now_ms() + KILL_WAIT_MS;
	     shim_alive(buf_str(&dir), id) && now_ms() < end;)
		sleep_ms(POLL_MS);
	runtime_of(buf_str(&dir), &runtime);
	char *argv[] = { runtime.data, "--root", root.data, "delete", "--force", (char *)id, NULL };

	run_quietly(argv);
	remove_cgroups(id);
	r = rootfs_unmount(buf_str(&dir), err);
	if (r < 0)
		return r;
	r = fs_remove_tree(buf_str(&dir));
	if (r < 0)
		return err_set(err, r, E_SERVER, "removing %s: %s", buf_str(&dir), strerror(-r));
	return 0;
}

/*
 * SIGKILL the process group of check, a process started by exec in
 * container id: not when it is the group of the container's first process
 * (a runtime that left the check there) or the agent's own.
 */
static void kill_check_group(pid_t check, const char *state_dir, const char *id)
{
	struct container_state st;
	struct err err = ERR_INIT;
	pid_t group = getpgid(check);

	if (group <= 1 || group == getpgrp())
		return;
	if (container_state(state_dir, id, &st, &err) == 0 && st.pid > 0 &&
	    getpgid(st.pid) == group) {
		kill(check, SIGKILL);
		return;
	}
	kill(-group, SIGKILL);
}

int container_exec(const char *state_dir, const char *id, char *const argv[], int timeout_s,
		   int *ret_exit, struct err *err)
{
	_cleanup_buf_ struct buf root = BUF_INIT, dir = BUF_INIT, runtime = BUF_INIT;
	_cleanup_buf_ struct buf pid_file = BUF_INIT;
	_cleanup_json_ cJSON *meta = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char hex[17];
	char *args[64];
	size_t n = 0;
	int64_t deadline;
	pid_t pid;
	int status, r;

	if (!container_id_valid(id))
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
	/*
	 * The process the runtime's exec starts in the container is in a
	 * session and process group of its own (runc makes it their leader,
	 * crun an intermediate process that exits), which everything it
	 * starts inherits; its host pid is in the pid file. A check that
	 * outlives its timeout is killed with that whole group (children
	 * reparented to the container's init included, none of the
	 * container's own processes), and the runtime's exec with its own
	 * group, which it leads (in case the check had not started yet).
	 */
	random_hex(hex, 8);
	buf_printf(&pid_file, "%s/exec-%s.pid", buf_str(&dir), hex);
	args[n++] = "--pid-file";
	args[n++] = pid_file.data;
	args[n++] = (char *)id;
	for (size_t i = 0; argv[i] && n < ARRAY_SIZE(args) - 1; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	stdio_to_devnull(&fa);
	r = posix_spawnp(&pid, args[0], &fa, &attr, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
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
			_cleanup_buf_ struct buf data = BUF_INIT;
			int64_t check;

			if (fs_read_file(pid_file.data, 64, &data) == 0 &&
			    parse_int64(buf_str(&data), 2, INT32_MAX, &check) == 0)
				kill_check_group((pid_t)check, state_dir, id);
			/* runc exec is not reaped yet: its group's id is still its */
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			unlink(pid_file.data);
			*ret_exit = 137;
			return 0;
		}
		sleep_ms(POLL_MS);
	}
	unlink(pid_file.data);
	*ret_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}
