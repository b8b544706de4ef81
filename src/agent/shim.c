/*
 * shim.c: `berth shim STATE-DIR ID RUNTIME RUNTIME-ROOT`, the monitor of one
 * container (runtime.h). Started by the agent, it detaches into a session
 * of its own so that it outlives the agent, then:
 *
 *   1. becomes a child subreaper, so the container's first process, which
 *      `runc create` leaves behind, is its child;
 *   2. runs `runc create` then `runc start` with the container's stdout and
 *      stderr on pipes it reads, and writes `started` once it runs (or
 *      `exit` with the runtime's own words when it could not start it);
 *   3. copies every line the container writes to `log` until both pipes
 *      close and the container's process has been reaped;
 *   4. writes `exit` (exit code, 128+N for a death by signal N), has the
 *      runtime delete the container, and ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/runtime.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/jsonw.h"
#include "core/util.h"
#include "core/banned.h"

#define LINE_MAX_BYTES (16 * 1024)

struct stream {
	const char *name; /* "stdout" or "stderr" */
	int fd;		  /* read end; -1 once closed */
	struct buf pending;
};

struct shim {
	const char *dir; /* STATE-DIR/ID */
	const char *id;
	const char *runtime;
	const char *root;
	int log_fd;
	struct stream out, err;
	char last_err[CONTAINER_REASON_MAX]; /* the last stderr line, for start failures */
	pid_t container;		     /* the container's first process */
	bool container_reaped;
	int container_status;
};

static void write_record(struct shim *s, const char *stream, const char *line, size_t n)
{
	struct buf rec = BUF_INIT;
	ssize_t w;

	buf_printf(&rec, "{\"t\":%lld,\"s\":\"%s\",\"l\":", (long long)now_ms(), stream);
	json_escape(&rec, line, n);
	buf_puts(&rec, "}\n");
	for (size_t off = 0; off < rec.len; off += (size_t)w) {
		w = write(s->log_fd, rec.data + off, rec.len - off);
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w < 0)
			break;
	}
	buf_release(&rec);
	if (!strcmp(stream, "stderr") && n > 0) {
		size_t m = n < sizeof(s->last_err) - 1 ? n : sizeof(s->last_err) - 1;

		memcpy(s->last_err, line, m);
		s->last_err[m] = 0;
	}
}

/* Write out the complete lines of st (and the rest too when flush). */
static void drain_lines(struct shim *s, struct stream *st, bool flush)
{
	size_t start = 0;

	if (!st->pending.data)
		return;
	for (;;) {
		const char *base = st->pending.data + start;
		size_t left = st->pending.len - start;
		const char *nl = left ? memchr(base, '\n', left) : NULL;

		if (nl) {
			write_record(s, st->name, base, (size_t)(nl - base));
			start += (size_t)(nl - base) + 1;
		} else if (left >= LINE_MAX_BYTES) {
			write_record(s, st->name, base, LINE_MAX_BYTES);
			start += LINE_MAX_BYTES;
		} else {
			if (flush && left)
				write_record(s, st->name, base, left), start += left;
			break;
		}
	}
	if (start) {
		memmove(st->pending.data, st->pending.data + start, st->pending.len - start);
		st->pending.len -= start;
		st->pending.data[st->pending.len] = 0;
	}
}

/* Read what is there on the pipes (waiting up to ms); closes a pipe at its end. */
static void pump(struct shim *s, int ms)
{
	struct pollfd p[2];
	struct stream *streams[2] = { &s->out, &s->err };
	nfds_t n = 0;

	for (int i = 0; i < 2; i++)
		if (streams[i]->fd >= 0)
			p[n++] = (struct pollfd){ .fd = streams[i]->fd, .events = POLLIN };
	if (n == 0) {
		if (ms > 0)
			usleep((useconds_t)ms * 1000);
		return;
	}
	if (poll(p, n, ms) <= 0)
		return;
	for (nfds_t k = 0; k < n; k++) {
		struct stream *st = p[k].fd == s->out.fd ? &s->out : &s->err;
		char chunk[65536];
		ssize_t r;

		if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = read(st->fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(st->fd);
			st->fd = -1;
			drain_lines(s, st, true);
			continue;
		}
		buf_append(&st->pending, chunk, (size_t)r);
		drain_lines(s, st, false);
	}
}

/* Reap every child that has ended; note the container's status when it is among them. */
static void reap(struct shim *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;
		if (pid == s->container) {
			s->container_reaped = true;
			s->container_status = status;
		}
	}
}

/* Run the runtime with args, the container's pipes as its stdout and stderr; its status. */
static int run_runtime(struct shim *s, const char *cmd, int out_w, int err_w)
{
	_cleanup_buf_ struct buf pidfile = BUF_INIT;
	pid_t pid;

	buf_printf(&pidfile, "%s/pid", s->dir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(out_w, 1);
		dup2(err_w, 2);
		if (!strcmp(cmd, "create"))
			execlp(s->runtime, s->runtime, "--root", s->root, "create", "--bundle",
			       s->dir, "--pid-file", buf_str(&pidfile), s->id, (char *)NULL);
		else
			execlp(s->runtime, s->runtime, "--root", s->root, cmd, s->id, (char *)NULL);
		dprintf(2, "cannot run %s: %s\n", s->runtime, strerror(errno));
		_exit(127);
	}
	/* wait for it, reading the pipes meanwhile so it never blocks on them */
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -errno;
		pump(s, 20);
	}
}

static void write_state(struct shim *s, const char *name, const struct buf *data)
{
	_cleanup_buf_ struct buf path = BUF_INIT;

	buf_printf(&path, "%s/%s", s->dir, name);
	fs_write_atomic(buf_str(&path), data->data, data->len);
}

/* The runtime's message from one of its JSON log lines on stderr, or the line as it is. */
static void runtime_reason(const struct shim *s, struct buf *out)
{
	const char *msg = strstr(s->last_err, "msg=\"");

	buf_puts(out, "CannotStartContainerError: ");
	if (msg) {
		const char *end = strrchr(msg + 5, '"');

		buf_append(out, msg + 5, end ? (size_t)(end - msg - 5) : strlen(msg + 5));
	} else {
		buf_puts(out, s->last_err[0] ? s->last_err : "the runtime failed");
	}
}

/* ECS's words for a container the kernel killed for its memory limit. */
#define OOM_REASON "OutOfMemoryError: Container killed due to memory usage"

/*
 * Whether the kernel's OOM killer acted in the container's cgroup:
 * memory.oom_control's oom_kill (cgroup v1) or memory.events' oom_kill
 * (cgroup v2, alone or beside v1 under unified/).
 */
static bool oom_killed(const struct shim *s)
{
	static const struct {
		const char *dir, *file;
	} files[] = {
		{ "/sys/fs/cgroup/memory", "memory.oom_control" },
		{ "/sys/fs/cgroup", "memory.events" },
		{ "/sys/fs/cgroup/unified", "memory.events" },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
		const char *p;

		buf_printf(&path, "%s/berth-%s/%s", files[i].dir, s->id, files[i].file);
		if (fs_read_file(buf_str(&path), 65536, &data) < 0 || !data.data)
			continue;
		p = strstr(data.data, "oom_kill ");
		if (p && strtol(p + 9, NULL, 10) > 0)
			return true;
	}
	return false;
}

static void write_exit(struct shim *s, int code, const char *reason)
{
	struct buf data = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &data);
	jsonw_obj_begin(&w);
	if (code >= 0)
		jsonw_key_int(&w, "exitCode", code);
	jsonw_key_int(&w, "finishedAt", now_ms());
	if (reason)
		jsonw_key_str(&w, "reason", reason);
	jsonw_obj_end(&w);
	write_state(s, "exit", &data);
	buf_release(&data);
}

static int shim_run(struct shim *s)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT, reason = BUF_INIT;
	int out[2], errp[2], r;
	struct jsonw w;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		return 1;
	s->out = (struct stream){ .name = "stdout", .fd = out[0] };
	s->err = (struct stream){ .name = "stderr", .fd = errp[0] };
	buf_init(&s->out.pending);
	buf_init(&s->err.pending);

	r = run_runtime(s, "create", out[1], errp[1]);
	if (r == 0) {
		buf_printf(&path, "%s/pid", s->dir);
		if (fs_read_file(buf_str(&path), 64, &data) == 0 && data.data)
			s->container = (pid_t)strtol(data.data, NULL, 10);
		r = s->container > 0 ? run_runtime(s, "start", out[1], errp[1]) : 1;
	}
	/* only the container holds the write ends from now on */
	close(out[1]);
	close(errp[1]);
	if (r != 0) {
		pump(s, 0);
		runtime_reason(s, &reason);
		write_exit(s, -1, buf_str(&reason));
		char *argv_delete[] = {
			(char *)s->runtime, "--root", (char *)s->root, "delete", "--force",
			(char *)s->id,	    NULL
		};
		pid_t pid = fork();

		if (pid == 0) {
			int devnull = open("/dev/null", O_RDWR);

			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
			execvp(argv_delete[0], argv_delete);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return 0;
	}

	buf_reset(&data);
	jsonw_init(&w, &data);
	jsonw_obj_begin(&w);
	jsonw_key_int(&w, "pid", s->container);
	jsonw_key_int(&w, "startedAt", now_ms());
	jsonw_key_str(&w, "runtime", s->runtime);
	jsonw_obj_end(&w);
	write_state(s, "started", &data);

	while (!s->container_reaped || s->out.fd >= 0 || s->err.fd >= 0) {
		pump(s, 100);
		reap(s);
		/* the container is gone but something it started kept a pipe: stop waiting */
		if (s->container_reaped && kill(s->container, 0) < 0) {
			pump(s, 0);
			if (s->out.fd >= 0 || s->err.fd >= 0)
				break;
		}
	}
	{
		int st = s->container_status;
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);

		/* the cgroup still exists (runc deletes it below): did the kernel OOM-kill in it? */
		write_exit(s, code, oom_killed(s) ? OOM_REASON : NULL);
	}
	{
		pid_t pid = fork();

		if (pid == 0) {
			int devnull = open("/dev/null", O_RDWR);

			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
			execlp(s->runtime, s->runtime, "--root", s->root, "delete", "--force",
			       s->id, (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
	}
	buf_release(&s->out.pending);
	buf_release(&s->err.pending);
	return 0;
}

int cmd_shim(int argc, char **argv)
{
	struct shim s = { 0 };
	_cleanup_buf_ struct buf dir = BUF_INIT, path = BUF_INIT, pid = BUF_INIT;
	pid_t child;

	if (argc != 5) {
		fprintf(stderr, "usage: berth shim STATE-DIR ID RUNTIME RUNTIME-ROOT (internal)\n");
		return 2;
	}
	buf_printf(&dir, "%s/%s", argv[1], argv[2]);
	s.dir = buf_str(&dir);
	s.id = argv[2];
	s.runtime = argv[3];
	s.root = argv[4];

	/*
	 * Detach: the agent waits for this process, which records the shim's
	 * pid and ends; the shim goes on in a session of its own.
	 */
	child = fork();
	if (child < 0)
		return 1;
	if (child > 0) {
		buf_printf(&pid, "%d\n", child);
		buf_printf(&path, "%s/shim.pid", s.dir);
		if (fs_write_atomic(buf_str(&path), pid.data, pid.len) < 0) {
			kill(child, SIGKILL);
			return 1;
		}
		return 0;
	}
	setsid();
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	signal(SIGPIPE, SIG_IGN);
	/* the agent's signals are not the shim's business */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (chdir(s.dir) < 0)
		_exit(1);
	{
		/* the shim's own complaints (and a sanitizer's) go to shim.log */
		int fd = open("shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0 && fd != 2) {
			dup2(fd, 2);
			close(fd);
		}
	}
	buf_reset(&path);
	buf_printf(&path, "%s/log", s.dir);
	s.log_fd = open(buf_str(&path), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s.log_fd < 0)
		_exit(1);
	_exit(shim_run(&s));
}
