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

#define ECS_TARGET(op)	 "AmazonEC2ContainerServiceV20141113." op
#define AGENT_TARGET(op) "BerthAgent_V1." op

struct images;

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
	const char *insecure_registries[AGENT_INSECURE_MAX]; /* HOST:PORT reached over http */
	size_t n_insecure;
	cJSON *attributes; /* custom attributes [{name, value}] */
};

struct agent_task;

struct agent {
	struct agent_config cfg;
	char instance_arn[AGENT_ARN_MAX];
	char cluster_arn[AGENT_ARN_MAX];
	char host_id[AGENT_ID_MAX];
	struct images *images;
	struct buf tasks_dir;	   /* DATA-DIR/tasks */
	struct buf containers_dir; /* DATA-DIR/containers */
	pthread_mutex_t lock;	   /* guards tasks and the registry token */
	struct agent_task *tasks;  /* list of the tasks this agent runs */
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
	volatile int stopping; /* set once, by the signal thread */
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

#endif
