/*
 * task_purge.h: the server's thread that removes stopped tasks once they
 * are older than the retention (`berth server --task-retention`), as ECS
 * shows a stopped task for a while (DescribeTasks: "at least one hour")
 * and then forgets it. See ecs_tasks_purge (ecs.h) for what is removed.
 */
#ifndef BERTH_API_TASK_PURGE_H
#define BERTH_API_TASK_PURGE_H

#include <stdint.h>

#include "api/api.h"

#define TASK_RETENTION_DEFAULT_S 3600
#define TASK_RETENTION_MAX_S	 (30 * 86400)

struct task_purge;

/*
 * Start the thread: a pass every retention/10, at least every second and at
 * most every minute. *ret is owned by the caller (task_purge_stop).
 */
int task_purge_start(struct api_server *srv, int64_t retention_ms, struct task_purge **ret,
		     struct err *err);

/* Stop the thread (a pass under way finishes first) and free p; NULL is fine. */
void task_purge_stop(struct task_purge *p);

#endif
