/*
 * deployment.h: the arithmetic of ECS's service scheduler, as pure
 * functions (no store, no HTTP): how many tasks a rolling deployment may
 * start and stop within minimumHealthyPercent and maximumPercent, the
 * deployment circuit breaker's failure threshold, the restart back-off of
 * a task that keeps failing to start, and the service events' wording.
 * src/api/service_scheduler.c applies them to the store.
 */
#ifndef BERTH_SCHED_DEPLOYMENT_H
#define BERTH_SCHED_DEPLOYMENT_H

#include <stdint.h>

#include "core/buf.h"

/* deploymentConfiguration's defaults for a REPLICA service, and a DAEMON's. */
#define DEPLOYMENT_MIN_HEALTHY_DEFAULT	      100
#define DEPLOYMENT_MAX_PERCENT_DEFAULT	      200
#define DEPLOYMENT_DAEMON_MIN_HEALTHY_DEFAULT 0
#define DEPLOYMENT_DAEMON_MAX_PERCENT_DEFAULT 100

/*
 * The floor of healthy tasks during a deployment (desired *
 * minimumHealthyPercent / 100 rounded up) and the ceiling of tasks
 * (desired * maximumPercent / 100 rounded down), as the API reference
 * rounds them.
 */
int64_t deployment_min_healthy(int64_t desired, int64_t min_percent);
int64_t deployment_max_total(int64_t desired, int64_t max_percent);

/*
 * The deployment circuit breaker's failure threshold for a desired count:
 * 0.5 * desired rounded up, at least 3 and at most 200 (the API
 * reference's ServiceDeploymentCircuitBreaker.threshold).
 */
int64_t deployment_failure_threshold(int64_t desired);

/* What one reconcile pass sees of a REPLICA service's tasks that are desired RUNNING. */
struct deployment_counts {
	int64_t desired;	 /* the service's desiredCount */
	int64_t min_percent;	 /* minimumHealthyPercent */
	int64_t max_percent;	 /* maximumPercent */
	int64_t primary;	 /* tasks of the PRIMARY deployment (to keep) */
	int64_t old;		 /* tasks to replace: other deployments', drained instances' */
	int64_t old_healthy;	 /* of those, how many are healthy */
	int64_t primary_healthy; /* of the primary's, how many are healthy */
};

/* What the pass does: tasks to start for the PRIMARY deployment, and tasks to stop. */
struct deployment_plan {
	int64_t start;
	int64_t stop_primary;	  /* the primary's tasks beyond desired (scale in) */
	int64_t stop_old_unready; /* replaced tasks that are not healthy: all of them */
	int64_t stop_old_healthy; /* replaced healthy tasks, as far as the floor allows */
};

/*
 * Plan one pass: scale in the primary beyond desired; stop replaced tasks
 * that are not healthy, and healthy ones as long as the healthy tasks left
 * stay at or above the floor; start the primary's missing tasks as long as
 * all tasks stay at or below the ceiling.
 */
void deployment_plan(const struct deployment_counts *c, struct deployment_plan *ret);

/*
 * The restart back-off after `failures` tasks in a row failed to start:
 * 0 for none, then 1 s doubling with each failure, at most max_ms.
 */
int64_t deployment_backoff_ms(int64_t failures, int64_t max_ms);

/*
 * Service events, as ECS words them ("(service NAME) ..."). ids is a list
 * of task ids separated by spaces; each is written "(task ID)".
 */
void deployment_event_started(struct buf *out, const char *service, int64_t n, const char *ids);
void deployment_event_stopped(struct buf *out, const char *service, int64_t n, const char *ids);
void deployment_event_steady(struct buf *out, const char *service);
void deployment_event_impaired(struct buf *out, const char *service);
void deployment_event_completed(struct buf *out, const char *service, const char *deployment);
void deployment_event_failed(struct buf *out, const char *service, const char *deployment);
void deployment_event_rollback(struct buf *out, const char *service, const char *deployment,
			       const char *task_definition);
/* reason: a PLACEMENT_REASON_* from placement.h, or NULL; instance: its id */
void deployment_event_unplaced(struct buf *out, const char *service, const char *reason,
			       const char *instance);

#endif
