/*
 * task_state.h: writing a changed task, with what its change means for
 * its container instance (task counts, resources given back at STOPPED),
 * and the ECS lifecycle order that state reports may only move forward in.
 */
#ifndef BERTH_API_TASK_STATE_H
#define BERTH_API_TASK_STATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"

/*
 * The rank of a task status in ECS's lifecycle (PROVISIONING 0, PENDING,
 * ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED 7),
 * -1 for anything else. A container's PENDING, RUNNING and STOPPED rank
 * the same way.
 */
int task_status_rank(const char *status);

/*
 * The stopCode of a task reaching STOPPED without one: TaskFailedToStart
 * when none of its containers ran (ran false) or when reason says a
 * container could not be pulled, created or started (ECS's
 * CannotPullContainerError, CannotStartContainerError, ...),
 * EssentialContainerExited otherwise.
 */
const char *task_stop_code(bool ran, const char *reason);

/*
 * Apply an agent's report to the task document doc, at now_ms: a
 * SubmitTaskStateChange body (status, reason, containers [{containerName,
 * status, runtimeId, exitCode, reason, networkBindings, imageDigest}],
 * pullStartedAt, pullStoppedAt, executionStoppedAt). Statuses only move
 * forward in ECS's lifecycle, for the task and for each container; a
 * STOPPED task changes no more. Whether doc changed (a repeated, late or
 * backward report changes nothing).
 */
bool task_state_apply(cJSON *doc, const cJSON *report, int64_t now_ms);

/*
 * Write doc, changed by the caller from the stored version `version`, as
 * task id of cluster: its version member goes up by one; when its status
 * moved between pending, running and stopped its instance's counts follow,
 * and at STOPPED the resources it reserved are given back, once. The
 * caller holds the cluster's instance lock. Wakes the agent's long poll.
 */
int task_state_commit(const struct api_ctx *ctx, const char *cluster, const char *id, cJSON *doc,
		      uint64_t version, struct err *err);

/* BerthAgent_V1.ReportHealth (docs/agent-protocol.md). */
int agent_report_health(struct api_ctx *ctx, struct err *err);

#endif
