/*
 * task_state.c: a task's changes of state. Agents report them with ECS's
 * own SubmitTaskStateChange and SubmitContainerStateChange; StopTask asks
 * for one. Reports are idempotent and only move forward: a report that
 * repeats the current state, or would move it back in ECS's lifecycle,
 * is acknowledged and changes nothing (the agent retries reports until
 * they are acknowledged, so any of them may arrive twice, or late).
 *
 * Reaching RUNNING sets startedAt and connectivity; reaching STOPPED sets
 * stoppedAt, executionStoppedAt, desiredStatus STOPPED, and a stopCode
 * when none was set (task_stop_code): TaskFailedToStart when no container
 * ever ran or the reason says one could not start, EssentialContainerExited
 * otherwise; the resources the task reserved return to its instance.
 * An awsvpc task's ElasticNetworkInterface attachment follows the agent's
 * reports (ATTACHED with the interface's details), DELETED once stopped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/agent_hub.h"
#include "api/ecs.h"
#include "api/service_scheduler.h"
#include "api/task_state.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "sched/placement.h"
#include "store/store.h"
#include "core/banned.h"

static const char *const lifecycle[] = {
	"PROVISIONING", "PENDING",  "ACTIVATING",     "RUNNING",
	"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED",
};

int task_status_rank(const char *status)
{
	for (size_t i = 0; status && i < ARRAY_SIZE(lifecycle); i++)
		if (!strcmp(status, lifecycle[i]))
			return (int)i;
	return -1;
}

/* Which of its instance's counts a task in doc's state belongs in. */
static const char *count_class(const cJSON *doc)
{
	int rank = task_status_rank(json_str(doc, "lastStatus"));

	if (rank == task_status_rank("STOPPED"))
		return "";
	return rank >= task_status_rank("RUNNING") ? "running" : "pending";
}

static void count_add(cJSON *inst, const char *cls, int delta)
{
	const char *key = !strcmp(cls, "running")   ? "runningTasksCount"
			  : !strcmp(cls, "pending") ? "pendingTasksCount"
						    : NULL;
	int64_t n;

	if (!key)
		return;
	n = json_int(inst, key, 0) + delta;
	json_set_num(inst, key, (double)(n < 0 ? 0 : n));
}

int task_state_commit(const struct api_ctx *ctx, const char *cluster, const char *id, cJSON *doc,
		      uint64_t version, struct err *err)
{
	_cleanup_buf_ struct buf key = BUF_INIT;
	_cleanup_json_ cJSON *inst = NULL;
	const char *instance_id = json_str(doc, "_instanceId");
	const char *was = json_str(doc, "_counted") ? json_str(doc, "_counted") : "";
	const char *now = count_class(doc);
	bool stopped = !strcmp(json_str(doc, "lastStatus") ?: "", "STOPPED");
	struct store_txn txn = STORE_TXN_INIT;
	uint64_t iversion = 0;
	char *json;
	int r;

	json_set_num(doc, "version", (double)(json_int(doc, "version", 0) + 1));
	if (instance_id && (strcmp(was, now) != 0 || (stopped && json_get(doc, "_needs")))) {
		r = ecs_instance_load(ctx, cluster, instance_id, &inst, &iversion, err);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (inst) {
		/* the instance changes with its counts: its version follows, as on ECS */
		json_set_num(inst, "version", (double)(json_int(inst, "version", 0) + 1));
		count_add(inst, was, -1);
		count_add(inst, now, 1);
		if (stopped && json_get(doc, "_needs")) {
			struct placement_needs needs;

			placement_needs_from_json(json_get(doc, "_needs"), &needs);
			placement_release(inst, &needs);
		}
		ecs_instance_put(&txn, cluster, instance_id, inst, iversion);
	}
	json_set_str(doc, "_counted", now);
	if (stopped)
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "_needs");
	if (stopped && instance_id) {
		_cleanup_buf_ struct buf index = BUF_INIT;

		ecs_instance_task_key(&index, cluster, instance_id, id);
		store_txn_delete(&txn, buf_str(&index));
	}
	ecs_task_key(&key, cluster, id);
	json = cJSON_PrintUnformatted(doc);
	store_txn_check(&txn, buf_str(&key), version);
	store_txn_put(&txn, buf_str(&key), json, strlen(json));
	free(json);
	r = store_commit(ctx->srv->store, &txn, NULL, err);
	store_txn_release(&txn);
	if (r == 0 && instance_id)
		agent_hub_notify(ctx->srv->agents, cluster, instance_id);
	if (r == 0 && startswith(json_str(doc, "group") ?: "", "service:"))
		service_scheduler_wake(ctx->srv->scheduler);
	return r;
}

/* --- applying reports -------------------------------------------------- */

/* A report's time (epoch seconds) as milliseconds, or 0. */
static int64_t report_time(const cJSON *in, const char *key)
{
	const cJSON *v = json_get(in, key);

	return cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)(v->valuedouble * 1000) : 0;
}

static cJSON *find_container(cJSON *doc, const char *name)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "containers");

	for (cJSON *c = list ? list->child : NULL; c; c = c->next)
		if (name && json_str(c, "name") && !strcmp(json_str(c, "name"), name))
			return c;
	return NULL;
}

/* Apply one container's report; whether it changed anything. */
static bool apply_container(cJSON *c, const cJSON *change)
{
	const char *status = json_str(change, "status");
	int have = task_status_rank(json_str(c, "lastStatus"));
	int want = task_status_rank(status);
	bool changed = false;

	if (!status || want <= have)
		return false;
	json_set_str(c, "lastStatus", status);
	changed = true;
	if (json_str(change, "runtimeId"))
		json_set_str(c, "runtimeId", json_str(change, "runtimeId"));
	if (json_str(change, "imageDigest"))
		json_set_str(c, "imageDigest", json_str(change, "imageDigest"));
	if (cJSON_IsNumber(json_get(change, "exitCode")))
		json_set_num(c, "exitCode", json_get(change, "exitCode")->valuedouble);
	if (json_str(change, "reason"))
		json_set_str(c, "reason", json_str(change, "reason"));
	if (cJSON_IsArray(json_get(change, "networkBindings")))
		json_set(c, "networkBindings",
			 cJSON_Duplicate(json_get(change, "networkBindings"), true));
	/* berth's agent reports an awsvpc task's interface with each container */
	if (cJSON_IsArray(json_get(change, "networkInterfaces")))
		json_set(c, "networkInterfaces",
			 cJSON_Duplicate(json_get(change, "networkInterfaces"), true));
	return changed;
}

/* Whether a container of the task is running or has run (it reached RUNNING, or exited). */
static bool ever_ran(const cJSON *doc)
{
	const cJSON *c;

	if (json_has(doc, "startedAt"))
		return true;
	cJSON_ArrayForEach(c, json_arr(doc, "containers"))
		if (json_has(c, "exitCode") || !strcmp(json_str(c, "lastStatus") ?: "", "RUNNING"))
			return true;
	return false;
}

/*
 * The first words of the reasons ECS gives a task whose containers could
 * not be pulled, created or started (its "stopped task errors"), and the
 * one berth's agent gives when an essential container fails to start.
 */
static const char *const failed_to_start[] = {
	"CannotPullContainerError",
	"CannotCreateContainerError",
	"CannotStartContainerError",
	"CannotInspectContainerError",
	"ResourceInitializationError",
	"ContainerRuntimeError",
	"ContainerRuntimeTimeoutError",
	"TaskFailedToStart",
	"Essential container in task failed to start",
};

const char *task_stop_code(bool ran, const char *reason)
{
	for (size_t i = 0; reason && i < ARRAY_SIZE(failed_to_start); i++)
		if (startswith(reason, failed_to_start[i]))
			return "TaskFailedToStart";
	return ran ? "EssentialContainerExited" : "TaskFailedToStart";
}

static const char *const attachment_lifecycle[] = {
	"PRECREATED", "CREATED", "ATTACHING", "ATTACHED", "DETACHING", "DETACHED", "DELETED",
};

static int attachment_rank(const char *status)
{
	for (size_t i = 0; status && i < ARRAY_SIZE(attachment_lifecycle); i++)
		if (!strcmp(status, attachment_lifecycle[i]))
			return (int)i;
	return -1;
}

/*
 * The report's attachments (ECS's AttachmentStateChange: attachmentArn,
 * status; berth's agent adds the interface's details, which it chose):
 * each moves its attachment forward and sets the details it names.
 */
static bool apply_attachments(cJSON *doc, const cJSON *in)
{
	const cJSON *change;
	bool changed = false;

	cJSON_ArrayForEach(change, json_arr(in, "attachments")) {
		const char *arn = json_str(change, "attachmentArn");
		const char *slash = arn ? strrchr(arn, '/') : NULL;
		const char *id = slash ? slash + 1 : arn;
		const char *status = json_str(change, "status");
		cJSON *at = NULL, *details;
		const cJSON *d;

		cJSON_ArrayForEach(at, cJSON_GetObjectItemCaseSensitive(doc, "attachments"))
			if (id && !strcmp(json_str(at, "id") ?: "", id))
				break;
		if (!at || attachment_rank(status) <= attachment_rank(json_str(at, "status")))
			continue;
		json_set_str(at, "status", status);
		changed = true;
		details = cJSON_GetObjectItemCaseSensitive(at, "details");
		if (!cJSON_IsArray(details)) {
			details = cJSON_CreateArray();
			json_set(at, "details", details);
		}
		cJSON_ArrayForEach(d, json_arr(change, "details")) {
			const char *name = json_str(d, "name"), *value = json_str(d, "value");
			cJSON *old = NULL, *item;

			if (!name || !value || !strcmp(name, "subnetId"))
				continue;
			cJSON_ArrayForEach(old, details)
				if (!strcmp(json_str(old, "name") ?: "", name))
					break;
			if (old) {
				json_set_str(old, "value", value);
				continue;
			}
			item = cJSON_CreateObject();
			cJSON_AddStringToObject(item, "name", name);
			cJSON_AddStringToObject(item, "value", value);
			cJSON_AddItemToArray(details, item);
		}
	}
	return changed;
}

bool task_state_apply(cJSON *doc, const cJSON *in, int64_t now_ms)
{
	const char *status = json_str(in, "status");
	const char *reason = json_str(in, "reason");
	int have = task_status_rank(json_str(doc, "lastStatus"));
	int want = task_status_rank(status);
	bool changed = false, ran = ever_ran(doc);
	const cJSON *change;
	static const char *const times[] = { "pullStartedAt", "pullStoppedAt" };

	if (have == task_status_rank("STOPPED"))
		return false; /* a stopped task is final */
	cJSON_ArrayForEach(change, json_arr(in, "containers")) {
		cJSON *c = find_container(doc, json_str(change, "containerName"));

		if (c && apply_container(c, change))
			changed = true;
	}
	ran = ran || ever_ran(doc);
	if (apply_attachments(doc, in))
		changed = true;
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		int64_t t = report_time(in, times[i]);

		if (t && !json_has(doc, times[i])) {
			json_set_num(doc, times[i], (double)t);
			changed = true;
		}
	}
	if (want > have) {
		changed = true;
		json_set_str(doc, "lastStatus", status);
		if (want >= task_status_rank("RUNNING") && !json_has(doc, "startedAt") &&
		    want < task_status_rank("STOPPED")) {
			json_set_num(doc, "startedAt", (double)now_ms);
			json_set_str(doc, "connectivity", "CONNECTED");
			json_set_num(doc, "connectivityAt", (double)now_ms);
		}
		if (want >= task_status_rank("DEACTIVATING") && !json_has(doc, "stoppingAt"))
			json_set_num(doc, "stoppingAt", (double)now_ms);
		if (want == task_status_rank("STOPPED")) {
			int64_t exec = report_time(in, "executionStoppedAt");
			cJSON *c;

			json_set_str(doc, "desiredStatus", "STOPPED");
			json_set_num(doc, "stoppedAt", (double)now_ms);
			json_set_num(doc, "executionStoppedAt", (double)(exec ? exec : now_ms));
			if (!json_str(doc, "stopCode"))
				json_set_str(doc, "stopCode", task_stop_code(ran, reason));
			if (!json_str(doc, "stoppedReason"))
				json_set_str(doc, "stoppedReason",
					     reason && *reason ? reason : "Task stopped");
			/* containers the agent did not report are stopped with their task */
			cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "containers"))
				if (strcmp(json_str(c, "lastStatus") ?: "", "STOPPED"))
					json_set_str(c, "lastStatus", "STOPPED");
			/* and so are its interfaces */
			cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "attachments"))
				json_set_str(c, "status", "DELETED");
		}
	}
	return changed;
}

/* The task a report names ({cluster, task, ...}), loaded under its cluster's instance lock. */
struct reported {
	char cluster[ECS_NAME_MAX + 1], id[ECS_TASK_ID_MAX + 1];
	struct buf lock; /* the lock's key, held when not empty */
	cJSON *doc;
	uint64_t version;
};

static int reported_load(struct api_ctx *ctx, struct reported *t, struct err *err)
{
	int r;

	memset(t, 0, sizeof(*t));
	buf_init(&t->lock);
	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), t->cluster, err);
	if (r < 0)
		return r;
	if (ecs_task_id(ctx, t->cluster, json_str(ctx->in, "task"), t->id) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The referenced task was not found.");
	ecs_instance_lock_key(&t->lock, t->cluster);
	api_lock(buf_str(&t->lock));
	r = ecs_task_load(ctx, t->cluster, t->id, &t->doc, &t->version, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, E_INVALID_PARAMETER,
			       "The referenced task was not found.");
	return r;
}

static void reported_release(struct reported *t)
{
	if (t->lock.len)
		api_unlock(buf_str(&t->lock));
	buf_release(&t->lock);
	cJSON_Delete(t->doc);
	t->doc = NULL;
}

/* Load the task a report names, apply the report, commit. */
static int report(struct api_ctx *ctx, const cJSON *in, struct err *err)
{
	struct reported t;
	int r = reported_load(ctx, &t, err);

	if (r == 0 && task_state_apply(t.doc, in, ctx->now_ms))
		r = task_state_commit(ctx, t.cluster, t.id, t.doc, t.version, err);
	reported_release(&t);
	if (r < 0)
		return r;
	jsonw_key_str(ctx->out, "acknowledgment", "ACK");
	return 0;
}

int ecs_submit_task_state_change(struct api_ctx *ctx, struct err *err)
{
	const char *status = json_str(ctx->in, "status");

	if (status && task_status_rank(status) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "status '%.32s' is not a task status", status);
	return report(ctx, ctx->in, err);
}

int ecs_submit_container_state_change(struct api_ctx *ctx, struct err *err)
{
	_cleanup_json_ cJSON *in = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(in, "containers"), *c = cJSON_Duplicate(ctx->in, true);
	const char *status = json_str(ctx->in, "status");

	if (!status || task_status_rank(status) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "status must be PENDING, RUNNING or STOPPED");
	cJSON_AddItemToArray(list, c);
	return report(ctx, in, err);
}

/* --- health ------------------------------------------------------------ */

static bool essential(const cJSON *td, const char *name)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, json_arr(td, "containerDefinitions"))
		if (json_str(d, "name") && !strcmp(json_str(d, "name"), name))
			return json_bool(d, "essential", true);
	return false;
}

/*
 * BerthAgent_V1.ReportHealth {cluster, task, containers: [{containerName,
 * healthStatus}]}: the health of the containers with a healthCheck. The
 * task's healthStatus follows ECS's rule: UNHEALTHY when an essential
 * container is, HEALTHY when every essential container with a check is,
 * UNKNOWN otherwise.
 */
int agent_report_health(struct api_ctx *ctx, struct err *err)
{
	struct reported t;
	_cleanup_json_ cJSON *td = NULL;
	const cJSON *change;
	bool changed = false, any = false, all_healthy = true, unhealthy = false;
	int r;

	if (!json_str(ctx->in, "task") || !cJSON_IsArray(json_get(ctx->in, "containers")))
		return err_set(err, -EINVAL, E_SERIALIZATION,
			       "ReportHealth takes {cluster, task, containers: [...]}");
	r = reported_load(ctx, &t, err);
	if (r == 0)
		r = ecs_task_definition_resolve(ctx, json_str(t.doc, "taskDefinitionArn"), &td,
						err);
	if (r < 0 || !strcmp(json_str(t.doc, "lastStatus") ?: "", "STOPPED"))
		goto out; /* a stopped task's health is what it was */
	cJSON_ArrayForEach(change, json_get(ctx->in, "containers")) {
		cJSON *c = find_container(t.doc, json_str(change, "containerName"));
		const char *h = json_str(change, "healthStatus");

		if (!c || !h ||
		    (strcmp(h, "HEALTHY") && strcmp(h, "UNHEALTHY") && strcmp(h, "UNKNOWN")))
			continue;
		if (strcmp(json_str(c, "healthStatus") ?: "", h) != 0) {
			json_set_str(c, "healthStatus", h);
			changed = true;
		}
		if (essential(td, json_str(c, "name"))) {
			any = true;
			all_healthy = all_healthy && !strcmp(h, "HEALTHY");
			unhealthy = unhealthy || !strcmp(h, "UNHEALTHY");
		}
	}
	{
		const char *task_health = unhealthy	       ? "UNHEALTHY"
					  : any && all_healthy ? "HEALTHY"
							       : "UNKNOWN";

		if (strcmp(json_str(t.doc, "healthStatus") ?: "", task_health) != 0) {
			json_set_str(t.doc, "healthStatus", task_health);
			changed = true;
		}
	}
	if (changed)
		r = task_state_commit(ctx, t.cluster, t.id, t.doc, t.version, err);
out:
	reported_release(&t);
	if (r < 0)
		return r;
	jsonw_key_str(ctx->out, "acknowledgment", "ACK");
	return 0;
}
