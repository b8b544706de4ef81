/*
 * test_tasks.c: the task operations through api_dispatch, on a SQLite
 * store in a temporary directory: concurrent RunTasks never promise the
 * same memory twice, resources come back once however often STOPPED is
 * reported, the task definition's placement constraints and tags reach
 * the task, ListTasks with desiredStatus PENDING finds nothing, and a task
 * in any state before STOPPED keeps its cluster from being deleted.
 *
 * Request bodies are written with ' for " to keep them readable.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "api/ecs.h"
#include "api/http.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "store/store.h"

#include "api_fixture.h"

#include "core/banned.h"

static int setup(void **state)
{
	static const struct api_fixture_opts opts = {
		.dir_template = "/tmp/berth-test-tasks-XXXXXX",
		.service = &api_ecs,
	};

	return api_fixture_setup(state, &opts);
}

#define RES(MEM)                                                                 \
	"'totalResources':[{'name':'CPU','type':'INTEGER','integerValue':2048}," \
	"{'name':'MEMORY','type':'INTEGER','integerValue':" #MEM "},"            \
	"{'name':'PORTS','type':'STRINGSET','stringSetValue':['22']},"           \
	"{'name':'PORTS_UDP','type':'STRINGSET','stringSetValue':[]}]"

/*
 * Register an instance of cluster c1 with attributes ATTRS (a JSON list's
 * items) and mark its agent connected, as its first poll would; return its
 * ARN (caller frees).
 */
static char *instance_with(struct fixture *f, const char *attrs)
{
	char body[2048];
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	struct buf key = BUF_INIT, value = BUF_INIT;
	uint64_t version;
	cJSON *out, *doc;
	char *arn;

	snprintf(body, sizeof(body), "{'cluster':'c1'," RES(4096) ",'attributes':[%s]}", attrs);
	out = ok(f, "RegisterContainerInstance", body);
	arn = strdup(json_str(json_obj(out, "containerInstance"), "containerInstanceArn"));
	cJSON_Delete(out);
	buf_printf(&key, "instance/c1/%s", strrchr(arn, '/') + 1);
	assert_int_equal(store_get(f->store, buf_str(&key), &value, &version, &err), 0);
	doc = cJSON_Parse(buf_str(&value));
	cJSON_ReplaceItemInObject(doc, "agentConnected", cJSON_CreateTrue());
	buf_reset(&value);
	json_print(&value, doc);
	store_txn_check(&t, buf_str(&key), version);
	store_txn_put(&t, buf_str(&key), value.data, value.len);
	assert_int_equal(store_commit(f->store, &t, NULL, &err), 0);
	store_txn_release(&t);
	cJSON_Delete(doc);
	buf_release(&key);
	buf_release(&value);
	return arn;
}

/* An instance with attribute zone=ZONE, able to run awsvpc tasks (task-eni). */
static char *instance(struct fixture *f, const char *zone)
{
	char attrs[192];

	snprintf(attrs, sizeof(attrs),
		 "{'name':'zone','value':'%s'},{'name':'ecs.capability.task-eni'}", zone);
	return instance_with(f, attrs);
}

/* An instance's remaining MEMORY, and its pending and running counts. */
static int64_t remaining_memory(struct fixture *f, const char *arn, int64_t *ret_pending,
				int64_t *ret_running)
{
	char body[512];
	cJSON *out, *ci;
	const cJSON *r;
	int64_t mem = -1;

	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstances':['%s']}", arn);
	out = ok(f, "DescribeContainerInstances", body);
	ci = cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0);
	cJSON_ArrayForEach(r, json_arr(ci, "remainingResources"))
		if (!strcmp(json_str(r, "name"), "MEMORY"))
			mem = json_int(r, "integerValue", -1);
	if (ret_pending)
		*ret_pending = json_int(ci, "pendingTasksCount", -1);
	if (ret_running)
		*ret_running = json_int(ci, "runningTasksCount", -1);
	cJSON_Delete(out);
	return mem;
}

static void setup_cluster(struct fixture *f)
{
	cJSON_Delete(ok(f, "CreateCluster", "{'clusterName':'c1'}"));
	cJSON_Delete(ok(f, "RegisterTaskDefinition",
			"{'family':'web','containerDefinitions':[{'name':'app','image':'busybox',"
			"'memory':512,'cpu':128}],'tags':[{'key':'from','value':'td'},"
			"{'key':'both','value':'td'}]}"));
}

/* Run one task; its ARN (caller frees), or NULL when it was not placed. */
static char *run_one(struct fixture *f, const char *extra)
{
	char body[1024];
	cJSON *out;
	char *arn = NULL;

	snprintf(body, sizeof(body), "{'cluster':'c1','taskDefinition':'web'%s}", extra);
	out = ok(f, "RunTask", body);
	if (cJSON_GetArraySize(json_arr(out, "tasks")) == 1)
		arn = strdup(json_str(cJSON_GetArrayItem(json_arr(out, "tasks"), 0), "taskArn"));
	else
		assert_string_equal(
			json_str(cJSON_GetArrayItem(json_arr(out, "failures"), 0), "reason"),
			"RESOURCE:MEMORY");
	cJSON_Delete(out);
	return arn;
}

static void report(struct fixture *f, const char *task, const char *status)
{
	char body[512];

	snprintf(body, sizeof(body), "{'cluster':'c1','task':'%s','status':'%s'}", task, status);
	cJSON_Delete(ok(f, "SubmitTaskStateChange", body));
}

struct runner {
	struct fixture *f;
	int placed;
};

static void *run_many(void *arg)
{
	struct runner *r = arg;

	for (int i = 0; i < 6; i++) {
		char *arn = run_one(r->f, "");

		if (arn)
			r->placed++;
		free(arn);
	}
	return NULL;
}

static void test_concurrent_run_task(void **state)
{
	struct fixture *f = *state;
	struct runner runners[6];
	pthread_t threads[6];
	char *a, *b;
	int placed = 0;

	setup_cluster(f);
	a = instance(f, "a");
	b = instance(f, "b");
	/* 36 tasks of 512 MiB asked for at once; 2 x 4096 MiB hold 16 */
	for (int i = 0; i < 6; i++) {
		runners[i] = (struct runner){ .f = f };
		assert_int_equal(pthread_create(&threads[i], NULL, run_many, &runners[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		placed += runners[i].placed;
	}
	assert_int_equal(placed, 16);
	assert_int_equal(remaining_memory(f, a, NULL, NULL), 0);
	assert_int_equal(remaining_memory(f, b, NULL, NULL), 0);
	assert_int_equal(count_keys(f, "task/c1/"), 16);
	free(a);
	free(b);
}

static void test_release_once(void **state)
{
	struct fixture *f = *state;
	int64_t pending, running;
	char *a, *t1, *t2, body[512];
	cJSON *out;

	setup_cluster(f);
	a = instance(f, "a");
	t1 = run_one(f, "");
	t2 = run_one(f, "");
	assert_int_equal(remaining_memory(f, a, &pending, &running), 4096 - 1024);
	assert_int_equal(pending, 2);
	report(f, t1, "RUNNING");
	assert_int_equal(remaining_memory(f, a, &pending, &running), 4096 - 1024);
	assert_int_equal(pending, 1);
	assert_int_equal(running, 1);
	for (int i = 0; i < 3; i++)
		report(f, t1, "STOPPED");
	assert_int_equal(remaining_memory(f, a, &pending, &running), 4096 - 512);
	assert_int_equal(pending, 1);
	assert_int_equal(running, 0);
	/* StopTask of the one never started: the agent still has to report it */
	snprintf(body, sizeof(body), "{'cluster':'c1','task':'%s'}", t2);
	out = ok(f, "StopTask", body);
	assert_string_equal(json_str(json_obj(out, "task"), "desiredStatus"), "STOPPED");
	assert_string_equal(json_str(json_obj(out, "task"), "lastStatus"), "PENDING");
	assert_string_equal(json_str(json_obj(out, "task"), "stopCode"), "UserInitiated");
	assert_string_equal(json_str(json_obj(out, "task"), "stoppedReason"),
			    "Task stopped by user");
	cJSON_Delete(out);
	assert_int_equal(remaining_memory(f, a, NULL, NULL), 4096 - 512);
	report(f, t2, "STOPPED");
	report(f, t2, "STOPPED");
	assert_int_equal(remaining_memory(f, a, &pending, &running), 4096);
	assert_int_equal(pending, 0);
	assert_int_equal(running, 0);
	free(a);
	free(t1);
	free(t2);
}

static void test_task_definition_constraints_and_tags(void **state)
{
	struct fixture *f = *state;
	char *a, *b;
	cJSON *out;
	const cJSON *t, *at;

	setup_cluster(f);
	a = instance(f, "a");
	b = instance(f, "b");
	cJSON_Delete(ok(f, "RegisterTaskDefinition",
			"{'family':'pinned','networkMode':'awsvpc','containerDefinitions':[{'name':"
			"'app','image':'x','memory':8}],'placementConstraints':[{'type':'memberOf',"
			"'expression':'attribute:zone == b'}],'tags':[{'key':'from','value':'td'},"
			"{'key':'both','value':'td'}]}"));
	out = ok(f, "RunTask",
		 "{'cluster':'c1','taskDefinition':'pinned','count':4,"
		 "'propagateTags':'TASK_DEFINITION','tags':[{'key':'both','value':'run'}],"
		 "'networkConfiguration':{'awsvpcConfiguration':{'subnets':['s-1']}}}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 4);
	cJSON_ArrayForEach(t, json_arr(out, "tasks")) {
		const cJSON *tag;
		int n = 0;

		assert_string_equal(json_str(t, "containerInstanceArn"), b);
		cJSON_ArrayForEach(tag, json_arr(t, "tags")) {
			if (!strcmp(json_str(tag, "key"), "from"))
				assert_string_equal(json_str(tag, "value"), "td");
			if (!strcmp(json_str(tag, "key"), "both"))
				assert_string_equal(json_str(tag, "value"), "run");
			n++;
		}
		assert_int_equal(n, 2);
		/* kept for the agent, not part of ECS's Task */
		assert_null(json_get(t, "networkConfiguration"));
		assert_null(json_get(t, "_networkConfiguration"));
		/* an awsvpc task's interface, until its agent attaches it */
		at = cJSON_GetArrayItem(json_arr(t, "attachments"), 0);
		assert_string_equal(json_str(at, "type"), "ElasticNetworkInterface");
		assert_string_equal(json_str(at, "status"), "PRECREATED");
		assert_int_equal(strlen(json_str(at, "id")), 36);
		assert_string_equal(
			json_str(cJSON_GetArrayItem(json_arr(at, "details"), 0), "name"),
			"subnetId");
		assert_string_equal(
			json_str(cJSON_GetArrayItem(json_arr(at, "details"), 0), "value"), "s-1");
	}
	cJSON_Delete(out);
	/* awsvpc needs a networkConfiguration with subnets; no other mode takes one */
	fails(f, "RunTask", "{'cluster':'c1','taskDefinition':'pinned'}",
	      "InvalidParameterException",
	      "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
	fails(f, "RunTask",
	      "{'cluster':'c1','taskDefinition':'pinned','networkConfiguration':"
	      "{'awsvpcConfiguration':{'subnets':[]}}}",
	      "InvalidParameterException", "subnets can not be empty.");
	fails(f, "RunTask",
	      "{'cluster':'c1','taskDefinition':'pinned','networkConfiguration':"
	      "{'awsvpcConfiguration':{'subnets':['s-1'],'assignPublicIp':'ENABLED'}}}",
	      "InvalidParameterException", NULL);
	fails(f, "RunTask",
	      "{'cluster':'c1','taskDefinition':'web','networkConfiguration':"
	      "{'awsvpcConfiguration':{'subnets':['s-1']}}}",
	      "InvalidParameterException",
	      "Network Configuration is not valid for the given networkMode of this task "
	      "definition.");
	/* the request's constraint is added to the task definition's: nothing fits both */
	out = ok(f, "RunTask",
		 "{'cluster':'c1','taskDefinition':'pinned','placementConstraints':"
		 "[{'type':'memberOf','expression':'attribute:zone == a'}],"
		 "'networkConfiguration':{'awsvpcConfiguration':{'subnets':['s-1']}}}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 0);
	assert_string_equal(json_str(cJSON_GetArrayItem(json_arr(out, "failures"), 0), "reason"),
			    "MemberOf placement constraint unsatisfied.");
	cJSON_Delete(out);
	/* without propagateTags, only the request's tags */
	out = ok(f, "RunTask", "{'cluster':'c1','taskDefinition':'web'}");
	assert_int_equal(
		cJSON_GetArraySize(json_arr(cJSON_GetArrayItem(json_arr(out, "tasks"), 0), "tags")),
		0);
	cJSON_Delete(out);
	fails(f, "RunTask", "{'cluster':'c1','taskDefinition':'web','propagateTags':'SERVICE'}",
	      "InvalidParameterException", NULL);
	free(a);
	free(b);
}

/* failures[i] of out: its reason, and whether its arn is arn. */
static void assert_failure(const cJSON *out, int i, const char *reason, const char *arn)
{
	const cJSON *f = cJSON_GetArrayItem(json_arr(out, "failures"), i);

	assert_non_null(f);
	assert_string_equal(json_str(f, "reason"), reason);
	assert_string_equal(json_str(f, "arn"), arn);
}

/*
 * StartTask: an instance named twice takes a task for each name while it
 * has room, the reservations adding up; the failures are ECS's: MISSING,
 * INACTIVE (deregistered), DRAINING, RESOURCE:MEMORY.
 */
static void test_start_task(void **state)
{
	struct fixture *f = *state;
	char *a, *b, body[1024];
	const char *missing = "0123456789abcdef0123456789abcdef";
	cJSON *out;
	const cJSON *t;

	setup_cluster(f);
	a = instance(f, "a");
	b = instance(f, "b");
	cJSON_Delete(ok(f, "RegisterTaskDefinition",
			"{'family':'big','containerDefinitions':[{'name':'app','image':'x',"
			"'memory':1500}]}"));
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','taskDefinition':'big','containerInstances':['%s','%s','%s']}", a,
		 a, a);
	out = ok(f, "StartTask", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 2);
	cJSON_ArrayForEach(t, json_arr(out, "tasks"))
		assert_string_equal(json_str(t, "containerInstanceArn"), a);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "failures")), 1);
	assert_failure(out, 0, "RESOURCE:MEMORY", a);
	cJSON_Delete(out);
	{
		int64_t pending;

		assert_int_equal(remaining_memory(f, a, &pending, NULL), 4096 - 2 * 1500);
		assert_int_equal(pending, 2);
	}

	/* an instance the cluster does not have */
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','taskDefinition':'big','containerInstances':['%s']}", missing);
	out = ok(f, "StartTask", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 0);
	assert_failure(out, 0, "MISSING", missing);
	cJSON_Delete(out);

	/* a draining instance takes no new task */
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s'],'status':'DRAINING'}", b);
	cJSON_Delete(ok(f, "UpdateContainerInstancesState", body));
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','taskDefinition':'big','containerInstances':['%s','%s']}", b, a);
	out = ok(f, "StartTask", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 0);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "failures")), 2);
	assert_failure(out, 0, "DRAINING", b);
	assert_failure(out, 1, "RESOURCE:MEMORY", a);
	cJSON_Delete(out);

	/* a deregistered one is INACTIVE, not MISSING */
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s'}", b);
	cJSON_Delete(ok(f, "DeregisterContainerInstance", body));
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','taskDefinition':'big','containerInstances':['%s']}", b);
	out = ok(f, "StartTask", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 0);
	assert_failure(out, 0, "INACTIVE", b);
	cJSON_Delete(out);
	free(a);
	free(b);
}

/*
 * requiresAttributes: a task whose definition needs an attribute goes only
 * to instances that have it; without one, RunTask and StartTask fail with
 * reason ATTRIBUTE for each instance.
 */
static void test_requires_attributes(void **state)
{
	struct fixture *f = *state;
	char *plain, *capable, body[1024];
	cJSON *out;
	const cJSON *t;

	setup_cluster(f);
	plain = instance(f, "a");
	cJSON_Delete(ok(f, "RegisterTaskDefinition",
			"{'family':'checked','containerDefinitions':[{'name':'app','image':'x',"
			"'memory':8,'healthCheck':{'command':['CMD','true']}}]}"));
	out = ok(f, "RunTask", "{'cluster':'c1','taskDefinition':'checked'}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 0);
	assert_failure(out, 0, "ATTRIBUTE", plain);
	cJSON_Delete(out);
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','taskDefinition':'checked','containerInstances':['%s']}", plain);
	out = ok(f, "StartTask", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 0);
	assert_failure(out, 0, "ATTRIBUTE", plain);
	cJSON_Delete(out);

	/* one attribute of the two is not enough */
	free(instance_with(f, "{'name':'ecs.capability.container-health-check'}"));
	capable =
		instance_with(f, "{'name':'ecs.capability.container-health-check'},"
				 "{'name':'com.amazonaws.ecs.capability.docker-remote-api.1.24'}");
	out = ok(f, "RunTask", "{'cluster':'c1','taskDefinition':'checked','count':3}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 3);
	cJSON_ArrayForEach(t, json_arr(out, "tasks"))
		assert_string_equal(json_str(t, "containerInstanceArn"), capable);
	cJSON_Delete(out);
	/* a definition requiring nothing goes anywhere */
	out = ok(f, "RunTask", "{'cluster':'c1','taskDefinition':'web','count':3}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tasks")), 3);
	cJSON_Delete(out);
	free(plain);
	free(capable);
}

static int list_count(struct fixture *f, const char *body);

/* How many of the tasks DescribeTasks finds (the others are MISSING). */
static int described(struct fixture *f, char *const *arns, int n)
{
	char body[4096];
	size_t len;
	cJSON *out;
	int found;

	len = (size_t)snprintf(body, sizeof(body), "{'cluster':'c1','tasks':[");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s'%s'", i ? "," : "",
					arns[i]);
	snprintf(body + len, sizeof(body) - len, "]}");
	out = ok(f, "DescribeTasks", body);
	found = cJSON_GetArraySize(json_arr(out, "tasks"));
	assert_int_equal(found + cJSON_GetArraySize(json_arr(out, "failures")), n);
	cJSON_Delete(out);
	return found;
}

/*
 * ecs_tasks_purge removes the tasks STOPPED before the retention, in every
 * cluster, and nothing else: a running task, however old, and a task
 * stopped recently stay; the instance's counts and resources are as they
 * were.
 */
static void test_purge_stopped(void **state)
{
	struct fixture *f = *state;
	char *a, *arns[4];
	struct api_ctx ctx = { .srv = &f->srv };
	struct err err = ERR_INIT;
	unsigned removed;
	int64_t pending, running, mem;

	setup_cluster(f);
	a = instance(f, "a");
	for (int i = 0; i < 4; i++)
		assert_non_null(arns[i] = run_one(f, ""));
	report(f, arns[0], "RUNNING");
	report(f, arns[1], "RUNNING");
	report(f, arns[1], "STOPPED");
	report(f, arns[2], "STOPPED");
	mem = remaining_memory(f, a, &pending, &running);
	/* nothing is old enough yet */
	ctx.now_ms = now_ms();
	assert_int_equal(ecs_tasks_purge(&ctx, 60000, &removed, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(described(f, arns, 4), 4);
	/* an hour later: the two stopped ones go, the running and the pending stay */
	ctx.now_ms = now_ms() + 3600 * 1000;
	assert_int_equal(ecs_tasks_purge(&ctx, 60000, &removed, &err), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(described(f, arns, 4), 2);
	assert_int_equal(described(f, arns, 1), 1);
	assert_int_equal(described(f, arns + 3, 1), 1);
	assert_int_equal(list_count(f, "{'cluster':'c1','desiredStatus':'STOPPED'}"), 0);
	assert_int_equal(list_count(f, "{'cluster':'c1'}"), 2);
	{
		int64_t p2, r2;

		assert_int_equal(remaining_memory(f, a, &p2, &r2), mem);
		assert_int_equal(p2, pending);
		assert_int_equal(r2, running);
	}
	/* again: nothing more */
	assert_int_equal(ecs_tasks_purge(&ctx, 60000, &removed, &err), 0);
	assert_int_equal(removed, 0);
	for (int i = 0; i < 4; i++)
		free(arns[i]);
	free(a);
}

static int list_count(struct fixture *f, const char *body)
{
	cJSON *out = ok(f, "ListTasks", body);
	int n = cJSON_GetArraySize(json_arr(out, "taskArns"));

	cJSON_Delete(out);
	return n;
}

static void test_list_and_delete_cluster(void **state)
{
	struct fixture *f = *state;
	char *a, *t, body[512];
	cJSON *out, *task;

	setup_cluster(f);
	a = instance(f, "a");
	t = run_one(f, ",'startedBy':'me'");
	assert_int_equal(list_count(f, "{'cluster':'c1'}"), 1);
	assert_int_equal(list_count(f, "{'cluster':'c1','desiredStatus':'RUNNING'}"), 1);
	/* ECS never sets a desired status PENDING */
	assert_int_equal(list_count(f, "{'cluster':'c1','desiredStatus':'PENDING'}"), 0);
	assert_int_equal(list_count(f, "{'cluster':'c1','desiredStatus':'STOPPED'}"), 0);
	assert_int_equal(list_count(f, "{'cluster':'c1','launchType':'FARGATE'}"), 0);
	assert_int_equal(list_count(f, "{'cluster':'c1','startedBy':'me'}"), 1);
	assert_int_equal(list_count(f, "{'cluster':'c1','startedBy':'you'}"), 0);

	/* refused while the task lives; with force, the task is orphaned: stopped */
	report(f, t, "ACTIVATING");
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s'}", a);
	fails(f, "DeregisterContainerInstance", body, "InvalidParameterException",
	      "Found running tasks on the instance.");
	fails(f, "DeleteCluster", "{'cluster':'c1'}", "ClusterContainsContainerInstancesException",
	      NULL);
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s','force':true}", a);
	cJSON_Delete(ok(f, "DeregisterContainerInstance", body));
	snprintf(body, sizeof(body), "{'cluster':'c1','tasks':['%s']}", t);
	out = ok(f, "DescribeTasks", body);
	task = cJSON_GetArrayItem(json_arr(out, "tasks"), 0);
	assert_string_equal(json_str(task, "lastStatus"), "STOPPED");
	assert_string_equal(json_str(task, "desiredStatus"), "STOPPED");
	assert_string_equal(json_str(task, "stopCode"), "UserInitiated");
	assert_true(json_has(task, "stoppedAt"));
	cJSON_Delete(out);
	assert_int_equal(list_count(f, "{'cluster':'c1','desiredStatus':'STOPPED'}"), 1);
	cJSON_Delete(ok(f, "DeleteCluster", "{'cluster':'c1'}"));
	free(a);
	free(t);
}

static void test_delete_cluster_with_tasks(void **state)
{
	struct fixture *f = *state;
	char *a, *t, body[512];
	static const char *const states[] = { "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
					      "DEPROVISIONING" };
	struct store_txn txn = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	cJSON *out;

	setup_cluster(f);
	a = instance(f, "a");
	t = run_one(f, "");
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s','force':true}", a);
	/*
	 * The instance record alone goes (as an agent-less host would be
	 * removed from the store), so only the task can hold the cluster.
	 */
	{
		char key[256];

		snprintf(key, sizeof(key), "instance/c1/%s", strrchr(a, '/') + 1);
		store_txn_delete(&txn, key);
		assert_int_equal(store_commit(f->store, &txn, NULL, &err), 0);
		store_txn_release(&txn);
	}
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		report(f, t, states[i]);
		fails(f, "DeleteCluster", "{'cluster':'c1'}", "ClusterContainsTasksException",
		      NULL);
	}
	out = ok(f, "DescribeClusters", "{'clusters':['c1']}");
	assert_int_equal(
		json_int(cJSON_GetArrayItem(json_arr(out, "clusters"), 0), "runningTasksCount", -1),
		1);
	cJSON_Delete(out);
	report(f, t, "STOPPED");
	cJSON_Delete(ok(f, "DeleteCluster", "{'cluster':'c1'}"));
	free(a);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_run_task, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_definition_constraints_and_tags, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list_and_delete_cluster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_task, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requires_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_stopped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_cluster_with_tasks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
