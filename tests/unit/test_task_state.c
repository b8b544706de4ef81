/*
 * test_task_state.c: the pure part of a task's changes of state: ECS's
 * lifecycle order, the stopCode a stopped task is given, and applying
 * agents' reports to a task document (only forward, idempotent, what
 * RUNNING and STOPPED set, a stopped task final).
 *
 * JSON in tests is written with ' for " to keep it readable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "api/task_state.h"
#include "core/json.h"
#include "core/banned.h"

static cJSON *parse(const char *s)
{
	char *q = strdup(s);
	cJSON *j;

	for (char *p = q; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = cJSON_Parse(q);
	free(q);
	if (!j)
		fail_msg("bad JSON in test: %s", s);
	return j;
}

/* A task just placed: PENDING, desired RUNNING, two containers. */
static cJSON *new_task(void)
{
	return parse("{'lastStatus':'PENDING','desiredStatus':'RUNNING','version':1,"
		     "'containers':[{'name':'app','lastStatus':'PENDING'},"
		     "{'name':'side','lastStatus':'PENDING'}]}");
}

/* Apply a report written with ' for "; whether it changed the task. */
static bool apply(cJSON *task, const char *report, int64_t now_ms)
{
	cJSON *r = parse(report);
	bool changed = task_state_apply(task, r, now_ms);

	cJSON_Delete(r);
	return changed;
}

static const cJSON *container(const cJSON *task, int i)
{
	return cJSON_GetArrayItem(json_get(task, "containers"), i);
}

static void test_lifecycle_order(void **state)
{
	static const char *const order[] = {
		"PROVISIONING", "PENDING",  "ACTIVATING",     "RUNNING",
		"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED",
	};

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(task_status_rank(order[i]), i);
	assert_int_equal(task_status_rank(NULL), -1);
	assert_int_equal(task_status_rank("running"), -1);
	assert_int_equal(task_status_rank("DELETED"), -1);
	assert_int_equal(task_status_rank(""), -1);
}

static void test_stop_code(void **state)
{
	(void)state;
	assert_string_equal(task_stop_code(true, NULL), "EssentialContainerExited");
	assert_string_equal(task_stop_code(true, "Essential container in task exited"),
			    "EssentialContainerExited");
	assert_string_equal(task_stop_code(false, NULL), "TaskFailedToStart");
	assert_string_equal(task_stop_code(false, "Task stopped"), "TaskFailedToStart");
	/* a container failed to start though another one ran */
	assert_string_equal(task_stop_code(true, "CannotPullContainerError: pull access denied"),
			    "TaskFailedToStart");
	assert_string_equal(task_stop_code(true, "CannotStartContainerError: runc: exec failed"),
			    "TaskFailedToStart");
	assert_string_equal(task_stop_code(true, "ResourceInitializationError: no volume"),
			    "TaskFailedToStart");
	assert_string_equal(task_stop_code(true, "Essential container in task failed to start"),
			    "TaskFailedToStart");
	/* the words must lead the reason */
	assert_string_equal(task_stop_code(true, "exited: not a CannotPullContainerError"),
			    "EssentialContainerExited");
}

static void test_running_then_stopped(void **state)
{
	cJSON *t = new_task();

	(void)state;
	assert_true(apply(
		t,
		"{'status':'RUNNING','pullStartedAt':100.5,'pullStoppedAt':101,"
		"'containers':[{'containerName':'app','status':'RUNNING',"
		"'runtimeId':'r1','networkBindings':[{'hostPort':32768,'containerPort':80}]}]}",
		2000));
	assert_string_equal(json_str(t, "lastStatus"), "RUNNING");
	assert_string_equal(json_str(t, "desiredStatus"), "RUNNING");
	assert_int_equal(json_int(t, "startedAt", 0), 2000);
	assert_string_equal(json_str(t, "connectivity"), "CONNECTED");
	assert_int_equal(json_int(t, "connectivityAt", 0), 2000);
	assert_int_equal(json_int(t, "pullStartedAt", 0), 100500);
	assert_int_equal(json_int(t, "pullStoppedAt", 0), 101000);
	assert_string_equal(json_str(container(t, 0), "lastStatus"), "RUNNING");
	assert_string_equal(json_str(container(t, 0), "runtimeId"), "r1");
	assert_int_equal(cJSON_GetArraySize(json_get(container(t, 0), "networkBindings")), 1);
	assert_string_equal(json_str(container(t, 1), "lastStatus"), "PENDING");
	assert_false(json_has(t, "stopCode"));

	/* the same report again, and a late PENDING one, change nothing */
	assert_false(apply(t,
			   "{'status':'RUNNING','containers':[{'containerName':'app',"
			   "'status':'RUNNING','runtimeId':'other'}]}",
			   3000));
	assert_false(apply(t, "{'status':'PENDING'}", 3000));
	assert_int_equal(json_int(t, "startedAt", 0), 2000);
	assert_string_equal(json_str(container(t, 0), "runtimeId"), "r1");

	assert_true(apply(t,
			  "{'status':'STOPPED','reason':'Essential container in task exited',"
			  "'executionStoppedAt':4.25,"
			  "'containers':[{'containerName':'app','status':'STOPPED','exitCode':3}]}",
			  5000));
	assert_string_equal(json_str(t, "lastStatus"), "STOPPED");
	assert_string_equal(json_str(t, "desiredStatus"), "STOPPED");
	assert_string_equal(json_str(t, "stopCode"), "EssentialContainerExited");
	assert_string_equal(json_str(t, "stoppedReason"), "Essential container in task exited");
	assert_int_equal(json_int(t, "stoppedAt", 0), 5000);
	assert_int_equal(json_int(t, "stoppingAt", 0), 5000);
	assert_int_equal(json_int(t, "executionStoppedAt", 0), 4250);
	assert_int_equal(json_int(container(t, 0), "exitCode", -1), 3);
	/* the container nobody reported stops with its task */
	assert_string_equal(json_str(container(t, 1), "lastStatus"), "STOPPED");

	/* a stopped task is final: no report changes it */
	assert_false(apply(t, "{'status':'STOPPED','reason':'again'}", 6000));
	assert_false(apply(t, "{'status':'RUNNING'}", 6000));
	assert_false(apply(t,
			   "{'containers':[{'containerName':'side','status':'RUNNING'}],"
			   "'pullStartedAt':1}",
			   6000));
	assert_string_equal(json_str(t, "stoppedReason"), "Essential container in task exited");
	assert_int_equal(json_int(t, "stoppedAt", 0), 5000);
	/* nothing here touches the version: task_state_commit bumps it */
	assert_int_equal(json_int(t, "version", 0), 1);
	cJSON_Delete(t);
}

static void test_failed_to_start(void **state)
{
	cJSON *t = new_task();

	(void)state;
	/* straight from PENDING to STOPPED, no container ran */
	assert_true(apply(t,
			  "{'status':'STOPPED','reason':'CannotPullContainerError: not found',"
			  "'containers':[{'containerName':'app','status':'STOPPED',"
			  "'reason':'CannotPullContainerError: not found'}]}",
			  1000));
	assert_string_equal(json_str(t, "stopCode"), "TaskFailedToStart");
	assert_string_equal(json_str(t, "stoppedReason"), "CannotPullContainerError: not found");
	assert_false(json_has(t, "startedAt"));
	assert_false(json_has(t, "connectivity"));
	assert_string_equal(json_str(container(t, 0), "reason"),
			    "CannotPullContainerError: not found");
	cJSON_Delete(t);

	/* no reason and nothing ran */
	t = new_task();
	assert_true(apply(t, "{'status':'STOPPED'}", 1000));
	assert_string_equal(json_str(t, "stopCode"), "TaskFailedToStart");
	assert_string_equal(json_str(t, "stoppedReason"), "Task stopped");
	cJSON_Delete(t);

	/* a container ran (reported RUNNING alone), then the task stopped without exit codes */
	t = new_task();
	assert_true(apply(t, "{'containers':[{'containerName':'app','status':'RUNNING'}]}", 1000));
	assert_string_equal(json_str(t, "lastStatus"), "PENDING");
	assert_true(apply(t,
			  "{'status':'STOPPED','containers':[{'containerName':'app',"
			  "'status':'STOPPED'}]}",
			  2000));
	assert_string_equal(json_str(t, "stopCode"), "EssentialContainerExited");
	cJSON_Delete(t);
}

static void test_stop_asked_keeps_its_code(void **state)
{
	cJSON *t = new_task();

	(void)state;
	/* what StopTask sets before the agent reports */
	cJSON_ReplaceItemInObject(t, "desiredStatus", cJSON_CreateString("STOPPED"));
	cJSON_AddStringToObject(t, "stopCode", "UserInitiated");
	cJSON_AddStringToObject(t, "stoppedReason", "Task stopped by user");
	cJSON_AddNumberToObject(t, "stoppingAt", 500);
	assert_true(apply(t, "{'status':'STOPPED','reason':'Task stopped'}", 1000));
	assert_string_equal(json_str(t, "stopCode"), "UserInitiated");
	assert_string_equal(json_str(t, "stoppedReason"), "Task stopped by user");
	assert_int_equal(json_int(t, "stoppingAt", 0), 500);
	cJSON_Delete(t);
}

static void test_intermediate_states(void **state)
{
	cJSON *t = new_task();

	(void)state;
	assert_true(apply(t, "{'status':'ACTIVATING'}", 1000));
	assert_false(json_has(t, "startedAt"));
	assert_true(apply(t, "{'status':'DEACTIVATING'}", 2000));
	/* skipping RUNNING still records when the task started */
	assert_int_equal(json_int(t, "startedAt", 0), 2000);
	assert_int_equal(json_int(t, "stoppingAt", 0), 2000);
	assert_false(apply(t, "{'status':'RUNNING'}", 3000));
	assert_true(apply(t, "{'status':'STOPPING'}", 3000));
	assert_int_equal(json_int(t, "stoppingAt", 0), 2000);
	assert_string_equal(json_str(t, "desiredStatus"), "RUNNING");
	/* an unknown status or container changes nothing */
	assert_false(apply(t, "{'status':'DELETED'}", 4000));
	assert_false(
		apply(t, "{'containers':[{'containerName':'nope','status':'RUNNING'}]}", 4000));
	assert_false(apply(t, "{}", 4000));
	cJSON_Delete(t);
}

/* An awsvpc task's interface: attached with the agent's details, deleted with the task. */
static void test_eni_attachment(void **state)
{
	cJSON *t = parse("{'lastStatus':'PENDING','desiredStatus':'RUNNING','version':1,"
			 "'containers':[{'name':'app','lastStatus':'PENDING'}],"
			 "'attachments':[{'id':'a1','type':'ElasticNetworkInterface',"
			 "'status':'PRECREATED','details':[{'name':'subnetId','value':'s-1'}]}]}");
	const cJSON *at = cJSON_GetArrayItem(json_get(t, "attachments"), 0);
	const cJSON *d;

	(void)state;
	assert_true(apply(t,
			  "{'status':'RUNNING','containers':[{'containerName':'app','status':"
			  "'RUNNING','networkBindings':[],'networkInterfaces':[{'attachmentId':"
			  "'a1','privateIpv4Address':'10.0.0.2'}]}],'attachments':[{"
			  "'attachmentArn':'arn:aws:ecs:us-east-1:1:attachment/a1','status':"
			  "'ATTACHED','details':[{'name':'privateIPv4Address','value':'10.0.0.2'},"
			  "{'name':'subnetId','value':'forged'},{'name':'macAddress','value':"
			  "'02:42:0a:00:00:02'}]},{'attachmentArn':'arn:x:attachment/nope',"
			  "'status':'ATTACHED'}]}",
			  1000));
	assert_string_equal(json_str(at, "status"), "ATTACHED");
	d = json_get(at, "details");
	assert_int_equal(cJSON_GetArraySize(d), 3);
	/* the subnet stays the one RunTask was given */
	assert_string_equal(json_str(cJSON_GetArrayItem(d, 0), "value"), "s-1");
	assert_string_equal(json_str(cJSON_GetArrayItem(d, 1), "name"), "privateIPv4Address");
	assert_string_equal(json_str(cJSON_GetArrayItem(d, 2), "value"), "02:42:0a:00:00:02");
	assert_string_equal(
		json_str(cJSON_GetArrayItem(json_get(container(t, 0), "networkInterfaces"), 0),
			 "privateIpv4Address"),
		"10.0.0.2");
	/* backwards is ignored */
	assert_false(apply(t,
			   "{'attachments':[{'attachmentArn':'arn:aws:ecs:us-east-1:1:"
			   "attachment/a1','status':'PRECREATED'}]}",
			   1001));
	assert_string_equal(json_str(at, "status"), "ATTACHED");
	assert_true(apply(t, "{'status':'STOPPED'}", 2000));
	assert_string_equal(json_str(at, "status"), "DELETED");
	cJSON_Delete(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle_order),
		cmocka_unit_test(test_stop_code),
		cmocka_unit_test(test_running_then_stopped),
		cmocka_unit_test(test_failed_to_start),
		cmocka_unit_test(test_stop_asked_keeps_its_code),
		cmocka_unit_test(test_intermediate_states),
		cmocka_unit_test(test_eni_attachment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
