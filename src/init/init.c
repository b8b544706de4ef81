/*
 * init.c: `berth-init`, the first process of a container whose definition
 * sets linuxParameters.initProcessEnabled, as Docker's --init (tini) is:
 *
 *   berth-init -- COMMAND [ARG]...
 *
 * It runs COMMAND as its child, passes on every signal it gets (SIGTERM
 * from `docker stop`'s equivalent above all), reaps every process that
 * ends under it (the orphans a container's processes leave are re-parented
 * to it, pid 1, and would stay zombies otherwise), and exits with the
 * command's exit status once the command ends: its exit code, or 128+N
 * when a signal N killed it. 127 when COMMAND cannot be found, 126 when
 * it cannot be run.
 *
 * Built as a static binary (libc only, no sanitizer: it runs inside the
 * container, where none of the host's libraries are) and bind-mounted
 * read-only at /dev/init, as podman mounts its init. It uses no berth
 * code: a container's pid 1 is best small.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals the kernel sends a thread for its own faults: not passed on. */
static int synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	       sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT;
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int main(int argc, char **argv)
{
	sigset_t all, old;
	pid_t child;
	int first = 1;

	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	if (first >= argc) {
		fprintf(stderr, "usage: berth-init -- COMMAND [ARG]...\n");
		return 2;
	}
	/*
	 * Every signal waits in the queue for sigwaitinfo below: a pid 1
	 * would drop one it has no handler for, a blocked one it does not.
	 */
	sigfillset(&all);
	for (int sig = 1; sig < NSIG; sig++)
		if (synchronous(sig))
			sigdelset(&all, sig);
	sigprocmask(SIG_SETMASK, &all, &old);

	child = fork();
	if (child < 0) {
		fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[first], argv + first);
		fprintf(stderr, "berth-init: %s: %s\n", argv[first], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* the command's orphans come to the container's pid 1; when not pid 1, to us still */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);

		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);

			if (pid <= 0)
				break;
			if (pid == child)
				/* the rest of the container goes with its pid 1 */
				return status_code(status);
		}
	}
}
