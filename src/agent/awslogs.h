/*
 * awslogs.h: the awslogs log driver. A container whose logConfiguration is
 * awslogs has the lines its shim writes to STATE/ID/log (runtime.h) shipped
 * to the server's CloudWatch Logs API by a thread of the agent, in order
 * and without loss or duplicates across agent and server restarts:
 *
 *   - the thread reads the log from an offset kept in STATE/ID/awslogs
 *     ({"offset": N, "token": "T"}), builds PutLogEvents batches of up to
 *     10,000 events and 1 MiB, sends one, and once the server has
 *     acknowledged it (the server answers after its write is durable)
 *     the new offset and token are what it records, at most once a second
 *     and when it ends (the record may lag: see below);
 *   - each batch carries the stream's sequence token. A batch the server
 *     had accepted before the agent could record it (a crash in between)
 *     is answered DataAlreadyAcceptedException with the token it expects:
 *     the difference is how many events past the recorded offset it
 *     holds, which the thread skips before sending the rest. So a batch is never stored
 *     twice, and nothing is skipped that was not stored.
 *
 * Options (logConfiguration.options), as ECS's agent reads them:
 *   awslogs-group          the log group (required)
 *   awslogs-region         the region (required by ECS; must be the agent's)
 *   awslogs-stream-prefix  stream PREFIX/CONTAINER-NAME/TASK-ID; without it
 *                          the stream is the container's runtime id, as
 *                          Docker names it by the container id
 *   awslogs-create-group   "true": create the group when missing
 *   awslogs-multiline-pattern  a POSIX extended regular expression: a line
 *                          that matches starts a new event, others are
 *                          appended to the event before them
 *   awslogs-datetime-format    a strftime-style format (%Y %m %d %H %M %S
 *                          %y %b %a %B %A %j %p %Z %z %L %f %T %D %F %e
 *                          %I %l %k %%): a line that starts with such a
 *                          date starts a new event (takes precedence over
 *                          the multiline pattern, as in Docker)
 *   mode, max-buffer-size, awslogs-force-flush-interval-seconds,
 *   awslogs-max-buffered-events   accepted and have no effect: the log is
 *                          a file, so the container never waits on shipping
 * Empty lines are not shipped (CloudWatch refuses empty messages).
 */
#ifndef BERTH_AGENT_AWSLOGS_H
#define BERTH_AGENT_AWSLOGS_H

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct agent;

#define AWSLOGS_NAME_MAX 512

struct awslogs_config {
	char group[AWSLOGS_NAME_MAX + 1];
	char stream[AWSLOGS_NAME_MAX + 1];
	bool create_group;
	bool multiline; /* `start` holds the compiled pattern */
	regex_t start;
};

/*
 * Whether container definition def logs through awslogs (1), not (0), or
 * its options are wrong (negative, E_CLIENT with a message starting with
 * "CannotStartContainerError: awslogs: "). On 1, ret is filled, and the
 * caller releases it with awslogs_config_release.
 */
int awslogs_config_parse(const cJSON *def, const char *region, const char *task_id,
			 const char *runtime_id, struct awslogs_config *ret, struct err *err);
void awslogs_config_release(struct awslogs_config *c);

/*
 * The regular expression (POSIX extended, anchored at the start) that an
 * awslogs-datetime-format stands for, appended to ret; -EINVAL for a
 * conversion it does not know.
 */
struct buf;
int awslogs_datetime_regex(const char *format, struct buf *ret, struct err *err);

struct awslogs;

/*
 * Start shipping the log of container runtime_id (under the agent's
 * containers directory) as cfg says (cfg is taken over: do not release
 * it). The thread goes on until the container has exited and everything
 * it wrote is shipped, or the agent stops.
 */
int awslogs_start(struct agent *a, const char *runtime_id, struct awslogs_config *cfg,
		  struct awslogs **ret, struct err *err);

/* Wait for the thread to end (see awslogs_start) and free it; NULL is fine. */
void awslogs_join(struct awslogs *l);

/* Events shipped by this thread so far (for tests and metrics). */
uint64_t awslogs_shipped(const struct awslogs *l);

#endif
