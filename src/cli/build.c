/*
 * cli/build.c: `berth build`, the CLI of the builder (build/build.h):
 *
 *   berth build [-t NAME[:TAG]] [-f DOCKERFILE] [--build-arg NAME[=VALUE]]...
 *               [--target STAGE] [--no-cache] [-q] [--data-dir DIR]
 *               [--username USER --password-stdin] [--insecure-registry HOST:PORT]...
 *               CONTEXT
 *
 * The image lands in the image store of DIR (default: the agent's,
 * /var/lib/berth/agent), so the agent on this host runs it without a pull.
 * Prints the steps as they run (with "cached" for those the cache
 * answered), then the image's digest on the last line (alone with -q).
 * Exit status: 0, 1 when the build failed (the message names the
 * Dockerfile's line), 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/build.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

#define DEFAULT_DATA_DIR "/var/lib/berth/agent"
#define MAX_INSECURE	 16

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: berth build [options] CONTEXT\n"
		   "\n"
		   "Build an image from a Dockerfile into this host's image store.\n"
		   "\n"
		   "  -t, --tag NAME[:TAG]        name the image\n"
		   "  -f, --file PATH             the Dockerfile (default CONTEXT/Dockerfile)\n"
		   "  --build-arg NAME[=VALUE]    set a build argument (repeatable)\n"
		   "  --target STAGE              build up to this stage\n"
		   "  --no-cache                  run every step\n"
		   "  -q, --quiet                 print only the image digest\n"
		   "  --data-dir DIR              the image store (default " DEFAULT_DATA_DIR ")\n"
		   "  --username USER --password-stdin\n"
		   "                              credentials for pulling FROM images\n"
		   "  --insecure-registry HOST:PORT  reach it over plain HTTP (repeatable)\n");
}

int cmd_build(int argc, char **argv)
{
	enum {
		OPT_BUILD_ARG = 256,
		OPT_TARGET,
		OPT_NO_CACHE,
		OPT_DATA_DIR,
		OPT_USERNAME,
		OPT_PASSWORD_STDIN,
		OPT_INSECURE,
		OPT_HELP
	};
	static const struct option options[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "file", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "build-arg", required_argument, NULL, OPT_BUILD_ARG },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "username", required_argument, NULL, OPT_USERNAME },
		{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
		{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	static const char *build_args[BUILD_MAX_ARGS];
	const char *insecure[MAX_INSECURE];
	struct build_opts o = { .data_dir = DEFAULT_DATA_DIR, .out = stdout };
	struct build_result res;
	struct image_auth auth = { 0 };
	_cleanup_buf_ struct buf password = BUF_INIT;
	struct err err = ERR_INIT;
	bool quiet = false, password_stdin = false;
	int64_t t0 = (int64_t)(mono_ns() / 1000000);
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "t:f:q", options, NULL)) != -1) {
		switch (opt) {
		case 't': o.tag = optarg; break;
		case 'f': o.dockerfile = optarg; break;
		case 'q': quiet = true; break;
		case OPT_BUILD_ARG:
			if (o.n_build_args == BUILD_MAX_ARGS) {
				fprintf(stderr, "berth build: at most %d --build-arg\n",
					BUILD_MAX_ARGS);
				return 2;
			}
			build_args[o.n_build_args++] = optarg;
			break;
		case OPT_TARGET: o.target = optarg; break;
		case OPT_NO_CACHE: o.no_cache = true; break;
		case OPT_DATA_DIR: o.data_dir = optarg; break;
		case OPT_USERNAME: auth.username = optarg; break;
		case OPT_PASSWORD_STDIN: password_stdin = true; break;
		case OPT_INSECURE:
			if (o.n_insecure == MAX_INSECURE) {
				fprintf(stderr, "berth build: at most %d --insecure-registry\n",
					MAX_INSECURE);
				return 2;
			}
			insecure[o.n_insecure++] = optarg;
			break;
		case OPT_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	r = cli_credentials("berth build", auth.username, password_stdin, &password, &auth);
	if (r)
		return r;
	if (auth.password)
		o.auth = &auth;
	o.context = argv[optind];
	o.build_args = build_args;
	o.insecure = insecure;
	if (quiet)
		o.out = NULL;
	/* Ctrl-C stops the build cleanly: no RUN container or scratch directory is left */
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		o.cancel = &interrupted;
	}
	r = build_run(&o, &res, &err);
	if (r < 0) {
		fprintf(stderr, "berth build: %s\n", err.msg);
		return 1;
	}
	if (!quiet)
		printf("built %s%s%s in %lld ms: %u steps, %u layers cached, %u built\n",
		       res.digest, o.tag ? " as " : "", o.tag ? o.tag : "",
		       (long long)((int64_t)(mono_ns() / 1000000) - t0), res.steps, res.cached,
		       res.built);
	printf("%s\n", res.digest);
	return 0;
}
