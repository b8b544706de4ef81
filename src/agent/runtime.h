/*
 * runtime.h: containers on this host, through an OCI runtime (runc by
 * default). The task engine describes a container (struct container_spec);
 * the runtime assembles its root file system (overlayfs over the image's
 * layers), writes its OCI bundle, and starts a shim (`berth shim`) that
 * owns it from then on: the shim runs `runc create` and `runc start`,
 * writes the container's stdout and stderr to its log, waits for it to
 * exit, records the exit and has runc delete it. The agent may stop, crash
 * or restart meanwhile: the container and its shim do not depend on it.
 *
 * Each container has a directory STATE/ID (STATE is the agent's
 * DATA-DIR/containers; runc's own state is kept in DATA-DIR/runc):
 *   config.json            the OCI bundle's configuration
 *   rootfs/                the overlay mount (upper/ and work/ beside it)
 *   hosts, hostname, resolv.conf   bind-mounted into the container
 *   log                    the container's output, one JSON record per line:
 *                          {"t": epoch ms, "s": "stdout"|"stderr", "l": "text"}
 *                          (lines over 16 KiB are split; a last line
 *                          without a newline is written when the stream ends)
 *   shim.pid               the shim's pid
 *   started                written once the container's process runs:
 *                          {"pid": N, "startedAt": ms}
 *   exit                   written (atomically) when it has ended:
 *                          {"exitCode": N, "finishedAt": ms, "reason": "..."}
 *                          exitCode is 128+N for a death by signal N, as
 *                          Docker and ECS report it
 *
 * Ownership: a spec is borrowed for the call; results go to caller storage.
 */
#ifndef BERTH_AGENT_RUNTIME_H
#define BERTH_AGENT_RUNTIME_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

#define CONTAINER_ID_MAX     64
#define CONTAINER_REASON_MAX 256

enum container_network {
	CONTAINER_NET_PRIVATE, /* a network namespace of its own: loopback only */
	CONTAINER_NET_HOST,    /* the host's network */
	CONTAINER_NET_JOIN,    /* the namespace at netns_path */
};

/* A directory of the host bind-mounted into the container. */
struct container_mount {
	const char *source;	 /* absolute path on the host */
	const char *destination; /* absolute path in the container */
	bool readonly;
};

struct container_spec {
	const char *id;		     /* [A-Za-z0-9_.-], at most CONTAINER_ID_MAX */
	const char *layers_dir;	     /* the layer store (layers.h's store_dir) */
	const char *const *diff_ids; /* the image's layers, bottom first */
	size_t n_layers;
	const cJSON *image_config;  /* the image's config document ("config": Env, Cmd, ...) */
	const cJSON *container_def; /* ECS's ContainerDefinition, overrides merged */
	const char *hostname;	    /* NULL: the container's id, cut to 12 characters */
	enum container_network network;
	const char *netns_path;		      /* for CONTAINER_NET_JOIN */
	const char *const *extra_env;	      /* "NAME=VALUE", NULL-terminated; may be NULL */
	const struct container_mount *mounts; /* volumes, in order */
	size_t n_mounts;
	const char *runtime; /* the OCI runtime binary; NULL: "runc" */
	const char *berth;   /* the berth binary to run the shim; NULL: this program */
};

struct container_state {
	pid_t pid; /* the container's first process, 0 before it started */
	bool exited;
	int exit_code;
	int64_t started_at_ms, finished_at_ms;
	char reason[CONTAINER_REASON_MAX];
};

/*
 * Create and start container spec->id under state_dir and return once its
 * process runs (ret filled), or once it failed to: then -EIO with E_CLIENT
 * and a message that starts "CannotStartContainerError: " with the
 * runtime's words (an executable that is not in the image, say), and
 * nothing is left behind.
 */
int container_start(const char *state_dir, const struct container_spec *spec,
		    struct container_state *ret, struct err *err);

/* What is known of container id: -ENOENT when there is no such container. */
int container_state(const char *state_dir, const char *id, struct container_state *ret,
		    struct err *err);

/*
 * Send SIGTERM to the container's process, wait up to timeout_s seconds for
 * it to exit, then SIGKILL. Returns once it has exited (0), -ENOENT when
 * there is no such container.
 */
int container_stop(const char *state_dir, const char *id, int timeout_s, struct err *err);

/*
 * Remove container id: kill it if it still runs, have the runtime delete
 * it, unmount its root and remove its directory. -ENOENT when there is none.
 */
int container_remove(const char *state_dir, const char *id, struct err *err);

/*
 * Run argv inside running container id (`runc exec`), as a health check
 * does: *ret_exit gets its exit status (128+N for a signal), and 137 when
 * it ran past timeout_s and was killed. -ENOENT when there is no such
 * container.
 */
int container_exec(const char *state_dir, const char *id, char *const argv[], int timeout_s,
		   int *ret_exit, struct err *err);

/* The OCI configuration of a container (bundle.c): appended to ret as JSON. */
int container_bundle_config(const struct container_spec *spec, const char *bundle_dir,
			    const char *rootfs, struct buf *ret, struct err *err);

/* The shim's entry point: `berth shim STATE-DIR ID RUNTIME RUNTIME-ROOT` (internal). */
int cmd_shim(int argc, char **argv);

#endif
