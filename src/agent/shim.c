/*
 * shim.c: `berth shim STATE-DIR ID RUNTIME RUNTIME-ROOT`, the monitor of one
 * container (runtime.h). Started by the agent, it detaches into a session
 * of its own so that it outlives the agent, then:
 *
 *   1. becomes a child subreaper, so the container's first process, which
 *      `runc run --detach` leaves behind, is its child;
 *   2. runs `runc run --detach` (create and start in one runtime process)
 *      with the container's stdout and stderr on pipes it reads, and writes
 *      `started` once it runs (or `exit` with the runtime's own words when
 *      it could not start it);
 *   3. copies every line the container writes to `log` until both pipes
 *      close and the container's process has been reaped;
 *   4. writes `exit` (exit code, 128+N for a death by signal N, the
 *      signal, and whether the kernel's OOM killer struck, read from the
 *      container's memory cgroup before it goes), has the runtime delete
 *      the container, and ends.
 *
 * The runtime (and so the container) starts with every signal at its
 * default disposition and none blocked, whatever the shim itself ignores.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/runtime.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/jsonw.h"
#include "core/util.h"
#include "core/banned.h"

#define LINE_MAX_BYTES CONTAINER_LOG_LINE_MAX
/* How long output may still come once the container's first process is reaped. */
#define DRAIN_GRACE_MS 2000

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
	struct buf records; /* records not yet written to log_fd */
	struct stream out, err;
	char last_err[CONTAINER_REASON_MAX]; /* the last stderr line, for start failures */
	int wake_fd;	 /* polled with the pipes when >= 0: the runtime's pidfd */
	pid_t container; /* the container's first process */
	bool container_reaped;
	int container_status;
	char oom_file[512]; /* memory.oom_control (v1) or memory.events (v2), or "" */
};

/* The length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t k = 1; k < len; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	/* no overlong forms, surrogates or code points past U+10FFFF */
	if ((len == 2 && c < 0xC2) || (len == 3 && c == 0xE0 && s[1] < 0xA0) ||
	    (len == 3 && c == 0xED && s[1] >= 0xA0) || (len == 4 && c == 0xF0 && s[1] < 0x90) ||
	    (len == 4 && (c > 0xF4 || (c == 0xF4 && s[1] >= 0x90))))
		return 0;
	return len;
}

/* line as a JSON string, bytes that are not UTF-8 written as U+FFFD. */
static void escape_line(struct buf *out, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run = 0;

	buf_putc(out, '"');
	while (i < n) {
		unsigned char c = s[i];
		size_t len = utf8_len(s + i, n - i);

		if (len > 1 || (len == 1 && c >= 0x20 && c != '"' && c != '\\')) {
			i += len;
			continue;
		}
		buf_append(out, s + run, i - run);
		if (len == 0) {
			buf_puts(out, "\\ufffd");
		} else if (c == '"' || c == '\\') {
			buf_putc(out, '\\');
			buf_putc(out, (char)c);
		} else if (c == '\t') {
			buf_puts(out, "\\t");
		} else if (c == '\r') {
			buf_puts(out, "\\r");
		} else {
			buf_printf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		}
		run = ++i;
	}
	buf_append(out, s + run, n - run);
	buf_putc(out, '"');
}

/* Write out the records gathered in s->records (one write for many lines). */
static void flush_records(struct shim *s)
{
	ssize_t w;

	for (size_t off = 0; off < s->records.len; off += (size_t)w) {
		w = write(s->log_fd, s->records.data + off, s->records.len - off);
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w < 0)
			break;
	}
	buf_reset(&s->records);
}

static void write_record(struct shim *s, const char *stream, int64_t ts, const char *line, size_t n)
{
	buf_printf(&s->records, "{\"t\":%lld,\"s\":\"%s\",\"l\":", (long long)ts, stream);
	escape_line(&s->records, (const unsigned char *)line, n);
	buf_puts(&s->records, "}\n");
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
	int64_t ts = now_ms(); /* the lines of one read arrived together */

	if (st->pending.len == 0)
		return; /* and pending.data may still be NULL */
	for (;;) {
		const char *base = st->pending.data + start;
		size_t left = st->pending.len - start;
		const char *nl = left ? memchr(base, '\n', left) : NULL;

		if (nl && (size_t)(nl - base) <= LINE_MAX_BYTES) {
			write_record(s, st->name, ts, base, (size_t)(nl - base));
			start += (size_t)(nl - base) + 1;
		} else if (left >= LINE_MAX_BYTES) {
			size_t cut = LINE_MAX_BYTES;

			/* do not cut a UTF-8 sequence in two */
			while (cut > LINE_MAX_BYTES - 3 &&
			       ((unsigned char)base[cut] & 0xC0) == 0x80)
				cut--;
			write_record(s, st->name, ts, base, cut);
			start += cut;
		} else {
			if (flush && left)
				write_record(s, st->name, ts, base, left), start += left;
			break;
		}
	}
	flush_records(s);
	if (start) {
		memmove(st->pending.data, st->pending.data + start, st->pending.len - start);
		st->pending.len -= start;
		st->pending.data[st->pending.len] = 0;
	}
}

/* Read what is there on the pipes (waiting up to ms); closes a pipe at its end. */
static void pump(struct shim *s, int ms)
{
	struct pollfd p[3];
	struct stream *streams[2] = { &s->out, &s->err };
	nfds_t n = 0, pipes;

	for (int i = 0; i < 2; i++)
		if (streams[i]->fd >= 0)
			p[n++] = (struct pollfd){ .fd = streams[i]->fd, .events = POLLIN };
	pipes = n;
	if (s->wake_fd >= 0)
		p[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
	if (n == 0) {
		if (ms > 0)
			usleep((useconds_t)ms * 1000);
		return;
	}
	if (poll(p, n, ms) <= 0)
		return;
	for (nfds_t k = 0; k < pipes; k++) {
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

/*
 * Every signal back to its default disposition and none blocked: what the
 * shim ignores (SIGPIPE, SIGINT, SIGHUP, SIGTERM) must not reach the
 * container, and an exec keeps ignored signals ignored.
 */
static void default_signals(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
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

		default_signals();
		dup2(devnull, 0);
		dup2(out_w, 1);
		dup2(err_w, 2);
		if (!strcmp(cmd, "run"))
			execlp(s->runtime, s->runtime, "--root", s->root, "run", "--detach",
			       "--bundle", s->dir, "--pid-file", buf_str(&pidfile), s->id,
			       (char *)NULL);
		else
			execlp(s->runtime, s->runtime, "--root", s->root, cmd, s->id, (char *)NULL);
		dprintf(2, "cannot run %s: %s\n", s->runtime, strerror(errno));
		_exit(127);
	}
	/*
	 * Wait for it, reading the pipes meanwhile so it never blocks on them.
	 * Its pidfd wakes the poll the moment it ends (a start waits on
	 * that); without one (a kernel before 5.3) the poll is short instead.
	 */
	s->wake_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR)) {
			if (s->wake_fd >= 0)
				close(s->wake_fd);
			s->wake_fd = -1;
		}
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -errno;
		pump(s, s->wake_fd >= 0 ? 1000 : 2);
	}
}

/* Have the runtime delete the container (its state and cgroup), quietly, and wait. */
static void runtime_delete(const struct shim *s)
{
	pid_t pid = fork();

	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		default_signals();
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp(s->runtime, s->runtime, "--root", s->root, "delete", "--force", s->id,
		       (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

static void write_state(struct shim *s, const char *name, const struct buf *data)
{
	_cleanup_buf_ struct buf path = BUF_INIT;

	buf_printf(&path, "%s/%s", s->dir, name);
	fs_write_replace(buf_str(&path), data->data, data->len);
}

/*
 * The runtime's message from its last line on stderr: runc writes
 * `time="..." level=error msg="..."` with the message's quotes escaped.
 */
static void runtime_reason(const struct shim *s, struct buf *out)
{
	const char *msg = strstr(s->last_err, "msg=\"");

	buf_puts(out, "CannotStartContainerError: ");
	if (!msg) {
		buf_puts(out, s->last_err[0] ? s->last_err : "the runtime failed");
		return;
	}
	for (const char *p = msg + 5; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		buf_putc(out, *p);
	}
}

/*
 * Find the file of the container's memory cgroup that counts OOM kills:
 * memory.oom_control in cgroup v1's memory hierarchy, else memory.events
 * in the unified (v2) one. The cgroup is CONTAINER_CGROUP (/berth/ID, the
 * bundle's cgroupsPath) under the hierarchy's root; which hierarchy, the
 * shim's own /proc/self/cgroup tells (the container's own may be gone
 * already when it died at once).
 */
static void find_oom_file(struct shim *s)
{
	_cleanup_buf_ struct buf mine = BUF_INIT;

	if (fs_read_file("/proc/self/cgroup", 65536, &mine) < 0 || !mine.data)
		return;
	if (strstr(buf_str(&mine), ":memory:") || strstr(buf_str(&mine), ",memory:"))
		snprintf(s->oom_file, sizeof(s->oom_file),
			 "/sys/fs/cgroup/memory" CONTAINER_CGROUP "/memory.oom_control", s->id);
	else
		snprintf(s->oom_file, sizeof(s->oom_file),
			 "/sys/fs/cgroup" CONTAINER_CGROUP "/memory.events", s->id);
}

/* Whether the OOM killer killed a process of the container (its cgroup's oom_kill count). */
static bool oom_killed(const struct shim *s)
{
	_cleanup_buf_ struct buf data = BUF_INIT;
	const char *p;

	if (!s->oom_file[0] || fs_read_file(s->oom_file, 65536, &data) < 0 || !data.data)
		return false;
	p = strstr(data.data, "oom_kill ");
	return p && strtol(p + 9, NULL, 10) > 0;
}

/* Write `exit`: status is a wait status, or -1 when the container never ran. */
static void write_exit(struct shim *s, int status, const char *reason)
{
	struct buf data = BUF_INIT;
	bool oom = status != -1 && oom_killed(s);
	struct jsonw w;

	jsonw_init(&w, &data);
	jsonw_obj_begin(&w);
	if (status != -1 && WIFSIGNALED(status)) {
		jsonw_key_int(&w, "exitCode", 128 + WTERMSIG(status));
		jsonw_key_int(&w, "signal", WTERMSIG(status));
	} else if (status != -1) {
		jsonw_key_int(&w, "exitCode", WEXITSTATUS(status));
	}
	jsonw_key_int(&w, "finishedAt", now_ms());
	if (oom) {
		jsonw_key_bool(&w, "oomKilled", true);
		if (!reason)
			reason = "OutOfMemoryError: Container killed due to memory usage";
	}
	if (reason)
		jsonw_key_str(&w, "reason", reason);
	jsonw_obj_end(&w);
	write_state(s, "exit", &data);
	buf_release(&data);
}

static int shim_run(struct shim *s)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT, reason = BUF_INIT;
	int out[2], errp[2], r, lock;
	struct jsonw w;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		return 1;
	s->out = (struct stream){ .name = "stdout", .fd = out[0] };
	s->err = (struct stream){ .name = "stderr", .fd = errp[0] };
	buf_init(&s->out.pending);
	buf_init(&s->err.pending);
	buf_init(&s->records);

	/* see CONTAINER_CGROUP_LOCK: the cgroup's parent must stay while runc makes it */
	lock = open(CONTAINER_CGROUP_LOCK, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock >= 0)
		flock(lock, LOCK_SH);
	/* create and start in one runtime process: `runc run --detach` */
	r = run_runtime(s, "run", out[1], errp[1]);
	if (lock >= 0)
		close(lock);
	if (r == 0) {
		buf_printf(&path, "%s/pid", s->dir);
		if (fs_read_file(buf_str(&path), 64, &data) == 0 && data.data)
			s->container = (pid_t)strtol(data.data, NULL, 10);
		r = s->container > 0 ? 0 : 1;
	}
	/* only the container holds the write ends from now on */
	close(out[1]);
	close(errp[1]);
	if (r != 0) {
		pump(s, 0);
		runtime_reason(s, &reason);
		write_exit(s, -1, buf_str(&reason));
		runtime_delete(s);
		buf_release(&s->records);
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

	find_oom_file(s);
	/*
	 * Sleep until the container writes or ends (its pidfd), not in 100 ms
	 * polls: a host with fifty containers has fifty shims. runc's own
	 * intermediate processes (re-parented here) are reaped on the way;
	 * without a pidfd (a kernel before 5.3) the poll is short instead.
	 */
	s->wake_fd = (int)syscall(SYS_pidfd_open, s->container, 0);
	while (!s->container_reaped) {
		reap(s);
		if (s->container_reaped)
			break;
		pump(s, s->wake_fd >= 0 ? 10000 : 100);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	s->wake_fd = -1;
	/*
	 * The rest of the container's processes die with its first one (its
	 * pid namespace ends); read what they wrote until the pipes close, or
	 * a grace period for a pipe some process outside it still holds.
	 */
	for (int64_t end = now_ms() + DRAIN_GRACE_MS;
	     (s->out.fd >= 0 || s->err.fd >= 0) && now_ms() < end;)
		pump(s, 50);
	for (struct stream *st = &s->out; st; st = st == &s->out ? &s->err : NULL)
		if (st->fd >= 0)
			drain_lines(s, st, true);
	write_exit(s, s->container_status, NULL);
	runtime_delete(s);
	buf_release(&s->out.pending);
	buf_release(&s->err.pending);
	buf_release(&s->records);
	return 0;
}

int cmd_shim(int argc, char **argv)
{
	struct shim s = { .wake_fd = -1 };
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
		if (fs_write_replace(buf_str(&path), pid.data, pid.len) < 0) {
			kill(child, SIGKILL);
			return 1;
		}
		return 0;
	}
	setsid();
	if (close_range(3, ~0U, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	signal(SIGPIPE, SIG_IGN);
	/* the agent's signals are not the shim's business */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (chdir(s.dir) < 0)
		_exit(1);
	/* the shim's own complaints (and a sanitizer's) go to shim.log, not /dev/null */
	{
		int fd = open("shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0) {
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
