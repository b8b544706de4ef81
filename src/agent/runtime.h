/*
 * runtime.h: containers on this host, through an OCI runtime (runc by
 * default). The task engine describes a container (struct container_spec);
 * the runtime assembles its root file system (overlayfs over the image's
 * layers, rootfs.c), writes its OCI bundle (bundle.c), and starts a shim
 * (berth-shim beside the berth binary, else `berth shim`: shim.c) that
 * owns it from then on: the shim runs `runc run --detach`, writes the container's stdout and stderr
 * to its log, reaps it (it is the container's subreaper), records the exit
 * and has runc delete it. The agent may stop, crash or restart meanwhile:
 * the container and its shim do not depend on it, and everything below is
 * read back from files, so every call works after an agent restart.
 *
 * Each container has a directory STATE/ID (STATE is the agent's
 * DATA-DIR/containers; runc's own state is kept in DATA-DIR/runc, the
 * sibling "runc" of STATE, so nothing collides with a system runc):
 *   config.json            the OCI bundle's configuration
 *   rootfs/                the overlay mount (upper/, work/ and the
 *                          layer links l/ beside it)
 *   hosts, hostname, resolv.conf   bind-mounted into the container's /etc
 *   log                    the container's output, one JSON record per line:
 *                          {"t": epoch ms, "s": "stdout"|"stderr", "l": "text"}
 *                          (the newline is not part of "l"; a line longer
 *                          than CONTAINER_LOG_LINE_MAX bytes is cut into
 *                          records of that size; a last line without a
 *                          newline is written when the stream ends; bytes
 *                          that are not UTF-8 are written as U+FFFD)
 *   shim.pid               the shim's pid
 *   shim.log               the shim's own stderr (empty unless it failed)
 *   started                written once the container's process runs:
 *                          {"pid": N, "startedAt": ms, "runtime": "runc"}
 *   exit                   written (atomically) when it has ended:
 *                          {"exitCode": N, "signal": S, "finishedAt": ms,
 *                           "oomKilled": true, "reason": "..."}
 *                          exitCode is 128+S for a death by signal S, as
 *                          Docker and ECS report it ("signal" is then S,
 *                          else absent); exitCode is absent when the
 *                          container never started (then "reason" says why)
 *
 * The container's cgroup is /berth/ID in each hierarchy (cgroupsPath
 * "/berth/ID", as Docker's /docker/ID); runc removes it when it deletes the
 * container, container_remove whatever runc left, and the parent /berth
 * once no container uses it. Creating a cgroup holds a shared flock on
 * CONTAINER_CGROUP_LOCK and removing the parent an exclusive one, so a
 * container being created never loses its parent, whichever agent on the
 * host (whatever its data directory) creates it.
 *
 * Learning of an exit: container_wait() blocks (inotify on the container's
 * directory) until the exit is recorded or a timeout; polling
 * container_state() also works (it reads two small files).
 *
 * Ownership: a spec is borrowed for the call; results go to caller storage.
 * Every function is safe to call from several threads at once for
 * different containers.
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

#define CONTAINER_ID_MAX       64
#define CONTAINER_REASON_MAX   256
#define CONTAINER_LOG_LINE_MAX (16 * 1024)
/* The container's cgroup in each hierarchy, a format of its id: the bundle's cgroupsPath. */
#define CONTAINER_CGROUP "/berth/%s"
/* Locked (flock) around creating a container's cgroup and removing /berth. */
#define CONTAINER_CGROUP_LOCK "/sys/fs/cgroup"
/* Default for container_stop's timeout (ECS's stopTimeout default). */
#define CONTAINER_STOP_TIMEOUT_DEFAULT 30

enum container_network {
	CONTAINER_NET_PRIVATE, /* a network namespace of its own: loopback only */
	CONTAINER_NET_HOST,    /* the host's network */
	CONTAINER_NET_JOIN,    /* the namespace at netns_path (bridge, awsvpc: network.h) */
};

/* A host path bind-mounted into the container (a task volume, resolved by the task engine). */
struct container_mount {
	const char *source;	 /* absolute host path (file or directory); must exist */
	const char *destination; /* absolute path in the container; created when missing */
	bool readonly;
};

struct container_spec {
	/* [A-Za-z0-9_.-], at most CONTAINER_ID_MAX, not starting with '.': the runtimeId */
	const char *id;
	const char *layers_dir;	     /* the layer store (layers.h's store_dir) */
	const char *const *diff_ids; /* the image's layers, bottom first */
	size_t n_layers;	     /* at most ROOTFS_MAX_LAYERS (rootfs.h) */
	/* The image's config document ("config": Env, Cmd, Entrypoint, WorkingDir, User). */
	const cJSON *image_config;
	/*
	 * ECS's ContainerDefinition, overrides merged. Read: command,
	 * entryPoint, environment, workingDirectory, user, memory (MiB, hard
	 * limit), memoryReservation (MiB, soft), cpu (shares), privileged,
	 * readonlyRootFilesystem, linuxParameters (capabilities add/drop,
	 * maxSwap, swappiness, sharedMemorySize, initProcessEnabled: see
	 * bundle.c), ulimits, hostname, dnsServers, dnsSearchDomains,
	 * extraHosts, dockerLabels (as OCI annotations). mountPoints and
	 * volumesFrom are the task engine's to resolve into mounts below.
	 */
	const cJSON *container_def;
	const char *hostname; /* NULL: the definition's "hostname", else the id cut to 12 */
	enum container_network network;
	const char *netns_path;	 /* for CONTAINER_NET_JOIN */
	const char *address;	 /* its IPv4 address, for /etc/hosts; NULL: 127.0.1.1 */
	const char *hosts_extra; /* lines added to /etc/hosts (other containers); may be NULL */
	/* "NAME=VALUE" added last (wins), NULL-terminated; may be NULL */
	const char *const *extra_env;
	const struct container_mount *mounts; /* may be NULL */
	size_t n_mounts;
	const char *runtime; /* the OCI runtime binary; NULL: "runc" */
	/* the berth binary, beside which berth-shim and berth-init are; NULL: this program */
	const char *berth;
};

struct container_state {
	pid_t pid;	 /* the container's first process (host pid), 0 before it started */
	bool running;	 /* started and not exited */
	bool exited;	 /* ended (or never started: then pid is 0) */
	int exit_code;	 /* when exited: 0-255; -1 when unknown (never started, shim died) */
	int signal;	 /* when exited by a signal: its number (exit_code is 128+signal); else 0 */
	bool oom_killed; /* the kernel's OOM killer killed a process of the container */
	int64_t started_at_ms, finished_at_ms; /* 0 when not (yet) known */
	/*
	 * Why it ended, when not by itself: ECS's words, e.g.
	 * "CannotStartContainerError: ...", "OutOfMemoryError: Container
	 * killed due to memory usage", or that the shim ended without
	 * recording the exit. Empty otherwise.
	 */
	char reason[CONTAINER_REASON_MAX];
};

/*
 * Create and start container spec->id under state_dir and return once its
 * process runs (ret filled), or once it failed to. Failure leaves nothing
 * behind and returns a negative errno with a message that starts with
 * ECS's words:
 *   -EINVAL/-ENOENT, E_CLIENT "CannotCreateContainerError: ..." for what the
 *     definition or image make impossible (no command at all, a layer
 *     missing from the store, an unknown ulimit, a bad mount path);
 *   -EINVAL/-EIO, E_CLIENT "CannotStartContainerError: ..." for a user or
 *     group the image does not have, and with the runtime's words when
 *     runc could not start it: an executable that is not in the image
 *     fails here, not as an exit code 127;
 *   -EEXIST, E_CLIENT when a container spec->id exists already;
 *   E_SERVER for the host's failures (mount, fork, disk).
 * state_dir is created when missing.
 */
int container_start(const char *state_dir, const struct container_spec *spec,
		    struct container_state *ret, struct err *err);

/* What is known of container id (never blocks): -ENOENT when there is no such container. */
int container_state(const char *state_dir, const char *id, struct container_state *ret,
		    struct err *err);

/*
 * Wait up to timeout_ms (-1: no limit) for container id to have exited,
 * then fill ret as container_state does. Returns 0 (look at ret->exited:
 * false after a timeout), -ENOENT when there is no such container.
 */
int container_wait(const char *state_dir, const char *id, int timeout_ms,
		   struct container_state *ret, struct err *err);

/*
 * Send SIGTERM to the container's first process, wait up to timeout_s
 * seconds for it to exit, then SIGKILL every process in it. Returns once
 * it has exited (0; at once when it had already), -ENOENT when there is no
 * such container, -ETIMEDOUT when it outlived SIGKILL by 10 s.
 */
int container_stop(const char *state_dir, const char *id, int timeout_s, struct err *err);

/*
 * Remove container id: kill it if it still runs, have the runtime delete
 * it (its runc state and cgroup), unmount its root, remove its directory.
 * -ENOENT when there is none.
 */
int container_remove(const char *state_dir, const char *id, struct err *err);

/*
 * Call fn for the id of every container under state_dir (in no order), for
 * recovery after an agent restart; stops at and returns fn's first
 * non-zero result. 0 when state_dir does not exist.
 */
int container_list(const char *state_dir, int (*fn)(const char *id, void *userdata), void *userdata,
		   struct err *err);

/* Whether id is a valid container id. */
bool container_id_valid(const char *id);

/*
 * The OCI configuration of a container (bundle.c), appended to ret as
 * JSON: the bundle's config.json. rootfs is the mounted root (its
 * /etc/passwd and /etc/group resolve user names); bundle_dir holds the
 * hosts, hostname and resolv.conf files it bind-mounts.
 */
int container_bundle_config(const struct container_spec *spec, const char *bundle_dir,
			    const char *rootfs, struct buf *ret, struct err *err);

/*
 * The files the bundle bind-mounts into the container's /etc, written into
 * bundle_dir (bundle.c): hosts (localhost, the hostname at its address,
 * hosts_extra, extraHosts), hostname, and resolv.conf (dnsServers and
 * dnsSearchDomains; without dnsServers, the host's own with the host's
 * network, the host's without its loopback nameservers in a joined
 * namespace, empty with loopback only).
 */
int container_bundle_files(const struct container_spec *spec, const char *bundle_dir,
			   struct err *err);

/*
 * The path of helper program name (berth-shim, berth-init) installed beside
 * the berth binary berth (NULL: this program) into ret; 0 when it is there
 * and executable, else -ENOENT (ret still names where it was looked for).
 */
int container_helper_path(const char *berth, const char *name, struct buf *ret);

/*
 * The shim's entry point: `berth shim STATE-DIR ID RUNTIME RUNTIME-ROOT`
 * (internal), also berth-shim's (src/shim/main.c).
 */
int cmd_shim(int argc, char **argv);

/*
 * Run argv inside running container id (`runc exec`), as a health check
 * does: *ret_exit gets its exit status (128+N for a signal), and 137 when
 * it ran past timeout_s and was killed, with every process it started
 * (its process group). -ENOENT when there is no such container.
 */
int container_exec(const char *state_dir, const char *id, char *const argv[], int timeout_s,
		   int *ret_exit, struct err *err);

#endif
