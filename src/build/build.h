/*
 * build.h: `berth build`, an OCI image from a Dockerfile (dockerfile.h),
 * made in the image store the agent uses (agent/images.h), so that what
 * is built can run as a task, be the FROM of another build, be pushed and
 * saved.
 *
 * Each layer-making step (COPY, ADD, RUN, a WORKDIR that has to create its
 * directory) has a cache key: the sha256 of the key before it (starting
 * from the FROM image's manifest digest), the instruction with its
 * variables expanded, the config it runs with (environment, user, working
 * directory, build arguments) and the content of its inputs (for COPY and
 * ADD from the context: every file's path, type, mode, mtime and bytes;
 * from a stage or an image: its key and the sources as written). A key seen before, whose layer and blob are
 * still in the store, reuses that layer: an unchanged rebuild runs nothing,
 * and an edit rebuilds from the first step whose key changed. Cache
 * entries are DIR/build-cache/HEX.json: {"diffId", "digest", "size",
 * "created"}. The image's "created" and its history's times are those of
 * the cached steps, so an unchanged rebuild gives the same image digest.
 *
 * RUN runs in a container through the same runtime as tasks (runtime.h):
 * its root is an overlay of the layers so far with a fresh upper
 * directory, its network a namespace of its own with loopback only, its
 * output shown as it comes; the upper directory, once it exited 0, is
 * packed (pack.h) into the step's layer, deletions as whiteouts.
 *
 * Ownership: arguments are borrowed; results go to caller storage.
 */
#ifndef BERTH_BUILD_BUILD_H
#define BERTH_BUILD_BUILD_H

#include <stdbool.h>
#include <stdio.h>

#include "agent/images.h"
#include "core/err.h"

#define BUILD_MAX_ARGS 256

struct build_opts {
	const char *data_dir;	       /* the image store (and containers, for RUN) */
	const char *context;	       /* the build context directory */
	const char *dockerfile;	       /* NULL: CONTEXT/Dockerfile */
	const char *tag;	       /* NAME[:TAG] to record the image under; may be NULL */
	const char *target;	       /* the stage to build; NULL: the last */
	const char *const *build_args; /* "NAME=VALUE" (--build-arg) */
	size_t n_build_args;
	bool no_cache;		       /* run every step, but still record its result */
	const struct image_auth *auth; /* for pulling FROM images; may be NULL */
	const char *const *insecure;   /* registries over plain HTTP */
	size_t n_insecure;
	const char *runtime; /* the OCI runtime; NULL: runc */
	FILE *out;	     /* progress, RUN output; NULL: none */
	/*
	 * When not NULL and it becomes non-zero (a signal handler sets it),
	 * the build stops at the next step, or stops the RUN under way
	 * within about a second, removes what it started and fails with
	 * -ECANCELED.
	 */
	const volatile int *cancel;
};

struct build_result {
	char digest[LAYER_DIGEST_SIZE]; /* the image's manifest digest */
	unsigned steps;			/* instructions run or reused */
	unsigned cached;		/* layer steps taken from the cache */
	unsigned built;			/* layer steps run */
};

/*
 * Build. Errors name the Dockerfile line ("line 7: ...") for what the
 * Dockerfile asks that cannot be done: E_INVALID_PARAMETER for a bad
 * instruction or a source outside the context, E_CLIENT for a RUN that
 * failed (with its exit code), E_IMAGE_NOT_FOUND for a FROM image no
 * registry has; E_SERVER for the host's failures.
 */
int build_run(const struct build_opts *o, struct build_result *ret, struct err *err);

#endif
