/*
 * agent.h: `berth agent`, one per host. It registers the host as a
 * container instance, long-polls the server for the tasks placed on it
 * (docs/agent-protocol.md), runs them and reports their state changes.
 *
 * Threads: the main thread polls and reconciles; each task has a thread
 * of its own (task.c) that pulls its images, starts its containers through
 * the runtime, watches them and reports. Everything the server must learn
 * is reported with retries until acknowledged: the server's handling of
 * reports is idempotent, so a report sent twice is harmless.
 *
 * The agent's own state lives under DATA-DIR:
 *   agent.json            the container instance ARN and host id
 *   tasks/ID.json         what the agent knows of task ID (its containers'
 *                         runtime ids and what was reported)
 *   containers/           the runtime's per-container state (runtime.h)
 *   images/ layers/ ...   the image store (images.h)
 *   network/ netns/       the tasks' network endpoints (network.h)
 * so a restarted agent finds its tasks, whose containers kept running under
 * their shims, and carries on.
 */
#ifndef BERTH_AGENT_AGENT_H
#define BERTH_AGENT_AGENT_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/awsclient.h"
#include "core/buf.h"
#include "core/err.h"

#define AGENT_ARN_MAX	   512
#define AGENT_ID_MAX	   64
#define AGENT_INSECURE_MAX 16

/* The agent's HTTP listeners' default ports (ECS's agent: 51678 and 51679). */
#define AGENT_INTROSPECTION_PORT 51678
#define AGENT_METADATA_PORT	 51679

#define ECS_TARGET(op)	 "AmazonEC2ContainerServiceV20141113." op
#define AGENT_TARGET(op) "BerthAgent_V1." op

struct images;
struct http_server;
struct net;
struct MHD_Daemon;

struct agent_config {
	const char *server; /* http://HOST:PORT */
	const char *cluster;
	const char *data_dir;
	const char *region;
	const char *access_key;
	const char *secret_key;
	const char *runtime; /* runc binary */
	const char *pull_behavior;
	int64_t memory_reserve_mib;
	int64_t poll_wait_s;
	int64_t image_cleanup_delay_s;
	int64_t pull_inactivity_s;			     /* 0: PULL_INACTIVITY_DEFAULT_S */
	const char *insecure_registries[AGENT_INSECURE_MAX]; /* HOST:PORT reached over http */
	size_t n_insecure;
	cJSON *attributes;  /* custom attributes [{name, value}] */
	const char *listen; /* HOST:PORT of the agent's HTTP listener (/metrics); NULL: none */
	const char *bridge; /* network.h; NULL: NET_DEFAULT_BRIDGE */
	const char *bridge_subnet;   /* NULL: NET_DEFAULT_SUBNET */
	const char *host_port_range; /* dynamic host ports; NULL: NET_DEFAULT_PORT_RANGE */
	int64_t introspection_port;  /* 51678 as ECS's agent; 0: any free port; -1: none */
	int64_t metadata_port;	     /* the task metadata endpoint's; 0: any; -1: none */
};

struct agent_task;

struct agent {
	struct agent_config cfg;
	char instance_arn[AGENT_ARN_MAX];
	char cluster_arn[AGENT_ARN_MAX];
	char host_id[AGENT_ID_MAX];
	struct images *images;
	struct net *net;	    /* bridge and awsvpc networks (network.h) */
	struct buf tasks_dir;	    /* DATA-DIR/tasks */
	struct buf containers_dir;  /* DATA-DIR/containers */
	struct buf runtime_wrapper; /* DATA-DIR/crun-legacy-cgroups when it is used */
	pthread_mutex_t lock;	    /* guards tasks and the registry token */
	struct agent_task *tasks;   /* list of the tasks this agent runs */
	/*
	 * The ECR token of the server's own registry (its password part), kept
	 * until registry_token_refresh_ms, some time before it expires, as
	 * the ECS agent caches ECR tokens; empty when there is none.
	 */
	struct buf registry_token;
	int64_t registry_token_refresh_ms;
	bool swept; /* agent_task_sweep has run */
	bool started;
	pthread_t poll_thread;
	int poll_rc; /* why the poll thread ended */
	struct err poll_err;
	/* Called from the poll thread when it ends on its own (NULL: nothing). */
	void (*on_exit)(struct agent *a);
	volatile int stopping;			      /* set once, by the signal thread */
	struct http_server *http;		      /* the listener (listen.c), when cfg.listen */
	unsigned listen_port;			      /* the port it bound */
	struct MHD_Daemon *introspection, *metadata;  /* metadata.c */
	unsigned introspection_bound, metadata_bound; /* their ports, 0 when not listening */
};

/*
 * Start the agent a->cfg describes: its directories and state, its image
 * store, and the thread that registers and polls. Returns once started;
 * registration and everything after go on in the background (a->on_exit
 * is called if that ends on its own: deregistered, refused).
 */
int agent_start(struct agent *a, struct err *err);

/*
 * Stop polling and let the task threads go, leaving the containers running
 * under their shims. Returns the poll thread's failure, if it had one.
 */
int agent_stop(struct agent *a, struct err *err);

/*
 * A new awsclient for the agent's server (each thread uses its own; the
 * caller frees it with agent_client_release).
 */
int agent_client_init(const struct agent *a, struct awsclient *ret, struct err *err);
void agent_client_release(struct awsclient *c);

/*
 * Call the server until it answers: transport failures and 5xx answers are
 * retried with back-off (0.2 s doubling to 15 s, with jitter) until the agent
 * stops; a 4xx answer is returned as it is.
 */
int agent_call(struct agent *a, struct awsclient *c, const char *target, const char *body,
	       long timeout_ms, struct buf *ret_body, struct err *err);

/* agent_call for another service of the server ("logs": the CloudWatch Logs API). */
int agent_call_service(struct agent *a, struct awsclient *c, const char *service,
		       const char *target, const char *body, long timeout_ms, struct buf *ret_body,
		       struct err *err);

/* Sleep ms milliseconds, or less when the agent stops. */
void agent_nap(const struct agent *a, int64_t ms);

/* task.c */

/*
 * Reconcile with the server's view of one task (a Task document with its
 * "taskDefinition"): start its thread when the agent does not run it yet
 * and it should run, tell its thread when its desiredStatus is STOPPED.
 */
void agent_task_update(struct agent *a, const cJSON *task);

/*
 * Tasks the server no longer lists (it knows them STOPPED, or forgot them):
 * stop what still runs of them and forget them. `listed` are the task ARNs
 * of the server's last answer.
 */
void agent_task_forget_unlisted(struct agent *a, const cJSON *listed);

/* Reap the threads of tasks that have finished and been forgotten. */
void agent_task_reap(struct agent *a);

/*
 * Clean up after tasks that ended while the agent was away: those with a
 * record under DATA-DIR/tasks that the server no longer lists. Called once,
 * after the first poll has been reconciled.
 */
void agent_task_sweep(struct agent *a);

/* Tell every task thread to finish (leaving containers running) and join them. */
void agent_task_shutdown(struct agent *a);

/* listen.c: the agent's HTTP listener, serving the routes of its table. */
int agent_listen_start(struct agent *a, struct err *err);
void agent_listen_stop(struct agent *a);

/*
 * metrics.c: the agent's /metrics body (Prometheus text): images and
 * layers in its store, bytes pulled, its tasks by status and their
 * containers by phase, read from its records when scraped.
 */
void agent_metrics_render(struct agent *a, struct buf *out);
/*
 * What the agent knows of its tasks now, for the metadata endpoints
 * (metadata.c): an array (the caller owns it) of
 *   {"arn", "task": the server's Task with its taskDefinition, "known" and
 *    "desired" (statuses), "pullStartedAt", "pullStoppedAt", "stoppedAt"
 *    (ms, 0 when not yet), "containers": [{"name", "runtimeId", "phase",
 *    "imageDigest", "reason", "health", "startedAt", "exitCode" (when
 *    known), "def": the definition with overrides}]}
 * of the tasks whose ARN is arn (NULL: any) and that have a container
 * runtime_id (NULL: any). NULL when out of memory.
 */
cJSON *agent_tasks_snapshot(struct agent *a, const char *arn, const char *runtime_id);

/* metadata.c */

/*
 * Start the agent's HTTP listeners on 127.0.0.1: the introspection API
 * (/v1/metadata, /v1/tasks) on cfg.introspection_port and the task
 * metadata endpoint v4 (/v4/RUNTIME-ID...) on cfg.metadata_port (0: a port
 * the kernel picks; -1: none). A port that cannot be had is logged and
 * left out: the agent runs on without it.
 */
int agent_endpoints_start(struct agent *a, struct err *err);
void agent_endpoints_stop(struct agent *a);

/*
 * The ECS_CONTAINER_METADATA_URI_V4 of container runtime_id of a task in
 * network_mode ("host", "bridge", "awsvpc", "none"), appended to ret:
 * false when a container of that mode cannot reach the endpoint (then it
 * gets no URI). The one place that decides where containers find the
 * agent: bridge and awsvpc networking extend it with the address the
 * agent listens on inside their networks.
 */
bool agent_metadata_uri(const struct agent *a, const char *network_mode, const char *runtime_id,
			struct buf *ret);
/*
 * Write, as RegisterContainerInstance attributes ({name} objects, into an
 * open array), the capabilities berth's agent has: what a task
 * definition's requiresAttributes may ask for (agent.c). Simulated
 * instances claim the same.
 */
struct jsonw;
void agent_write_capabilities(struct jsonw *w);

/* One {name[, value]} attribute of a RegisterContainerInstance request (value may be NULL). */
void agent_write_attribute(struct jsonw *w, const char *name, const char *value);

/*
 * The "totalResources" member of a RegisterContainerInstance request: CPU
 * units, MEMORY in MiB, the TCP ports held, no UDP port.
 */
void agent_write_resources(struct jsonw *w, int64_t cpu, int64_t memory_mib,
			   const char *const *ports, size_t n_ports);

/*
 * `berth agent --simulate N` (simulate.c): N simulated container instances,
 * each on its own thread, speaking the agent protocol without running
 * containers. a->cfg gives the server, cluster, keys, poll wait and custom
 * attributes; a->stopping ends them.
 */
struct agent_simulation {
	unsigned n;
	int64_t cpu;	    /* each instance's CPU units */
	int64_t memory_mib; /* and MiB of memory */
};

struct agent_simulation_state;

int agent_simulate_start(struct agent *a, const struct agent_simulation *sim,
			 struct agent_simulation_state **ret, struct err *err);

/* Wait for the instances' threads (after a->stopping is set) and free; NULL is fine. */
void agent_simulate_stop(struct agent_simulation_state *st);

#endif
