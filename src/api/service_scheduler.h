/*
 * service_scheduler.h: the service scheduler, a reconcile loop on its own
 * thread of the server (docs/services.md). Each pass reads every ACTIVE or
 * DRAINING service with its cluster's container instances and tasks, and
 * makes the tasks what the service says: it starts the tasks a
 * deployment lacks (placed as RunTask places them), stops the ones beyond
 * the desired count, replaces tasks that stopped, turned unhealthy or
 * were lost with their instance's agent, moves tasks off DRAINING
 * instances, rolls deployments within minimumHealthyPercent and
 * maximumPercent, trips the deployment circuit breaker, and writes the
 * service's counts, deployments and events. Everything it decides from is
 * in the store, so a restarted server carries on where it stopped.
 *
 * A pass runs when something changes (service_scheduler_wake: a task's
 * state, a service, an agent's connection) and every second.
 */
#ifndef BERTH_API_SERVICE_SCHEDULER_H
#define BERTH_API_SERVICE_SCHEDULER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "api/api.h"

struct service_scheduler;

/* The restart back-off's ceiling by default (a task that keeps failing waits at most this). */
#define SERVICE_BACKOFF_MAX_MS_DEFAULT (15 * 60 * 1000)

/* Start the scheduler of srv on its thread. */
int service_scheduler_new(struct api_server *srv, int64_t backoff_max_ms,
			  struct service_scheduler **ret, struct err *err);

/* Stop the thread (after the pass under way) and free; NULL is fine. */
void service_scheduler_free(struct service_scheduler *s);

/* Ask for a pass soon. s may be NULL (a server without a scheduler: unit tests). */
void service_scheduler_wake(struct service_scheduler *s);

/*
 * How many container instances of cluster a DAEMON service (its document,
 * and its task definition's) places a task on now: the ACTIVE ones whose
 * agent is connected that satisfy its memberOf constraints. Negative on
 * failure.
 */
int64_t service_scheduler_daemon_count(struct api_server *srv, const char *cluster,
				       const cJSON *service, const cJSON *task_definition,
				       struct err *err);

/*
 * One pass over every service at now_ms (what the thread runs; exposed for
 * unit tests). ret_next_ms (may be NULL) gets the earliest time a task
 * held back by the restart back-off may start, or 0.
 */
int service_scheduler_pass(struct api_server *srv, int64_t backoff_max_ms, int64_t now_ms,
			   int64_t *ret_next_ms, struct err *err);

#endif
