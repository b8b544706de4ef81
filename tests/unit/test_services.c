/*
 * test_services.c: the service operations through api_dispatch and passes
 * of the service scheduler run by hand (service_scheduler_pass), on a
 * SQLite store in a temporary directory: a service's tasks are placed and
 * counted, a pass that changes nothing writes nothing, scaling in stops
 * tasks with ServiceSchedulerInitiated, a deployment completes and the
 * service reaches a steady state, the circuit breaker fails a deployment
 * whose tasks fail to start and rolls back, and the errors ECS answers.
 *
 * Request bodies are written with ' for " to keep them readable.
 */
#include <errno.h>
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
#include "api/http.h"
#include "api/service_scheduler.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "store/store.h"

#include "api_fixture.h"

#include "core/banned.h"

static int setup(void **state)
{
	static const struct api_fixture_opts opts = {
		.dir_template = "/tmp/berth-test-services-XXXXXX",
		.service = &api_ecs,
		.msg_substring = true,
	};

	return api_fixture_setup(state, &opts);
}

#define RES                                                                      \
	"'totalResources':[{'name':'CPU','type':'INTEGER','integerValue':2048}," \
	"{'name':'MEMORY','type':'INTEGER','integerValue':4096},"                \
	"{'name':'PORTS','type':'STRINGSET','stringSetValue':['22']},"           \
	"{'name':'PORTS_UDP','type':'STRINGSET','stringSetValue':[]}]"

/* Register an instance of cluster c1 and mark its agent connected, as its first poll would. */
static void instance(struct fixture *f)
{
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	struct buf key = BUF_INIT, value = BUF_INIT;
	uint64_t version;
	cJSON *out, *doc;
	const char *arn;

	out = ok(f, "RegisterContainerInstance", "{'cluster':'c1'," RES "}");
	arn = json_str(json_obj(out, "containerInstance"), "containerInstanceArn");
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
	cJSON_Delete(out);
	buf_release(&key);
	buf_release(&value);
}

static void setup_cluster(struct fixture *f)
{
	cJSON_Delete(ok(f, "CreateCluster", "{'clusterName':'c1'}"));
	instance(f);
	instance(f);
	cJSON_Delete(ok(f, "RegisterTaskDefinition",
			"{'family':'web','containerDefinitions':[{'name':'app','image':'busybox',"
			"'memory':128,'cpu':64}]}"));
	cJSON_Delete(ok(f, "RegisterTaskDefinition",
			"{'family':'web','containerDefinitions':[{'name':'app','image':'busybox:2',"
			"'memory':128,'cpu':64}]}"));
}

static void pass(struct fixture *f)
{
	struct err err = ERR_INIT;

	assert_int_equal(service_scheduler_pass(&f->srv, 1000, now_ms(), NULL, &err), 0);
}

/* The service s1 as DescribeServices answers it (caller frees the answer in *ret_out). */
static cJSON *describe(struct fixture *f, cJSON **ret_out)
{
	*ret_out = ok(f, "DescribeServices", "{'cluster':'c1','services':['s1']}");
	return cJSON_GetArrayItem(json_arr(*ret_out, "services"), 0);
}

struct tasks {
	cJSON *list; /* the tasks' documents as stored */
};

static int collect(void *arg, const struct store_kv *kv)
{
	cJSON_AddItemToArray(arg, cJSON_ParseWithLength(kv->value, kv->value_len));
	return 0;
}

static cJSON *stored_tasks(struct fixture *f)
{
	struct err err = ERR_INIT;
	cJSON *list = cJSON_CreateArray();

	assert_int_equal(store_scan(f->store, "task/c1/", NULL, collect, list, &err), 0);
	return list;
}

/* Report every live task desired RUNNING as `status` (RUNNING, or STOPPED with reason). */
static void report_all(struct fixture *f, const char *status, const char *reason)
{
	cJSON *list = stored_tasks(f), *t;
	char body[1024];

	cJSON_ArrayForEach(t, list) {
		const char *s = status;

		if (!strcmp(json_str(t, "lastStatus"), "STOPPED"))
			continue;
		if (!strcmp(json_str(t, "desiredStatus"), "STOPPED"))
			s = "STOPPED";
		snprintf(body, sizeof(body),
			 "{'cluster':'c1','task':'%s','status':'%s'%s%s%s,'containers':"
			 "[{'containerName':'app','status':'%s'}]}",
			 json_str(t, "taskArn"), s, reason ? ",'reason':'" : "",
			 reason ? reason : "", reason ? "'" : "", s);
		cJSON_Delete(ok(f, "SubmitTaskStateChange", body));
	}
	cJSON_Delete(list);
}

static int count_live(struct fixture *f, const char *desired)
{
	cJSON *list = stored_tasks(f), *t;
	int n = 0;

	cJSON_ArrayForEach(t, list)
		n += strcmp(json_str(t, "lastStatus"), "STOPPED") != 0 &&
		     !strcmp(json_str(t, "desiredStatus"), desired);
	cJSON_Delete(list);
	return n;
}

static bool has_event(const cJSON *svc, const char *prefix)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, json_arr(svc, "events"))
		if (startswith(json_str(e, "message"), prefix))
			return true;
	return false;
}

static void test_errors(void **state)
{
	struct fixture *f = *state;

	setup_cluster(f);
	fails(f, "CreateService", "{'cluster':'c1','serviceName':'s1','taskDefinition':'web'}",
	      "InvalidParameterException", "desiredCount is required");
	fails(f, "CreateService",
	      "{'cluster':'c1','serviceName':'s 1','taskDefinition':'web','desiredCount':1}",
	      "InvalidParameterException", "serviceName");
	fails(f, "CreateService",
	      "{'cluster':'c1','serviceName':'s1','taskDefinition':'nope','desiredCount':1}",
	      "ClientException", "TaskDefinition not found.");
	fails(f, "CreateService",
	      "{'cluster':'c1','serviceName':'s1','taskDefinition':'web','desiredCount':1,"
	      "'deploymentConfiguration':{'maximumPercent':50}}",
	      "InvalidParameterException", "maximumPercent");
	fails(f, "CreateService",
	      "{'cluster':'c1','serviceName':'s1','taskDefinition':'web','desiredCount':1,"
	      "'loadBalancers':[{'targetGroupArn':'x','containerName':'app','containerPort':80}]}",
	      "InvalidParameterException", "loadBalancers");
	fails(f, "CreateService",
	      "{'cluster':'c1','serviceName':'s1','taskDefinition':'web','desiredCount':-1}",
	      "InvalidParameterException", "desiredCount");
	fails(f, "CreateService",
	      "{'cluster':'c1','serviceName':'s1','taskDefinition':'web',"
	      "'schedulingStrategy':'DAEMON','placementStrategy':[{'type':'random'}]}",
	      "InvalidParameterException", "does not support placement strategies");
	fails(f, "CreateService",
	      "{'cluster':'c9','serviceName':'s1','taskDefinition':'web','desiredCount':1}",
	      "ClusterNotFoundException", NULL);
	fails(f, "UpdateService", "{'cluster':'c1','service':'s1','desiredCount':1}",
	      "ServiceNotFoundException", "Service not found.");
	fails(f, "DeleteService",
	      "{'cluster':'c1','service':'arn:aws:ecs:us-east-1:000000000000:"
	      "service/other/s1'}",
	      "ServiceNotFoundException", "Service not found.");
	fails(f, "DescribeServices", "{'cluster':'c1','services':[]}", "InvalidParameterException",
	      "services");
	fails(f, "ListServices", "{'cluster':'c1','maxResults':101}", "InvalidParameterException",
	      NULL);
	/* nothing was stored by any of them */
	assert_int_equal(count_keys(f, "service/"), 0);
}

static void test_replica_lifecycle(void **state)
{
	struct fixture *f = *state;
	cJSON *out, *svc;
	const cJSON *dep;

	setup_cluster(f);
	cJSON_Delete(ok(f, "CreateService",
			"{'cluster':'c1','serviceName':'s1',"
			"'taskDefinition':'web:1','desiredCount':3}"));
	pass(f);
	assert_int_equal(count_keys(f, "task/c1/"), 3);
	svc = describe(f, &out);
	assert_int_equal(json_int(svc, "pendingCount", -1), 3);
	assert_true(has_event(svc, "(service s1) has started 3 tasks: (task "));
	cJSON_Delete(out);
	/* a pass that sees no change starts nothing more */
	pass(f);
	assert_int_equal(count_keys(f, "task/c1/"), 3);

	report_all(f, "RUNNING", NULL);
	pass(f);
	svc = describe(f, &out);
	assert_int_equal(json_int(svc, "runningCount", -1), 3);
	dep = cJSON_GetArrayItem(json_arr(svc, "deployments"), 0);
	assert_string_equal(json_str(dep, "rolloutState"), "COMPLETED");
	assert_true(has_event(svc, "(service s1) has reached a steady state."));
	assert_true(has_event(svc, "(service s1) (deployment ecs-svc/"));
	cJSON_Delete(out);

	/* scale in */
	cJSON_Delete(ok(f, "UpdateService", "{'cluster':'c1','service':'s1','desiredCount':1}"));
	pass(f);
	assert_int_equal(count_live(f, "RUNNING"), 1);
	assert_int_equal(count_live(f, "STOPPED"), 2);
	svc = describe(f, &out);
	assert_true(has_event(svc, "(service s1) has stopped 2 running tasks: (task "));
	cJSON_Delete(out);
	report_all(f, "RUNNING", NULL); /* the stopped ones are reported STOPPED */
	assert_int_equal(count_live(f, "STOPPED"), 0);

	/* a new revision: replaced within 100%/200% */
	cJSON_Delete(ok(f, "UpdateService",
			"{'cluster':'c1','service':'s1',"
			"'taskDefinition':'web:2'}"));
	pass(f);
	assert_int_equal(count_live(f, "RUNNING"), 2); /* the old one stays until the new runs */
	report_all(f, "RUNNING", NULL);
	pass(f);
	report_all(f, "RUNNING", NULL);
	pass(f);
	svc = describe(f, &out);
	assert_int_equal(cJSON_GetArraySize(json_arr(svc, "deployments")), 1);
	dep = cJSON_GetArrayItem(json_arr(svc, "deployments"), 0);
	assert_true(strstr(json_str(dep, "taskDefinition"), "web:2") != NULL);
	assert_string_equal(json_str(dep, "rolloutState"), "COMPLETED");
	assert_int_equal(json_int(svc, "runningCount", -1), 1);
	cJSON_Delete(out);

	/* delete: not while scaled above 0, unless forced */
	fails(f, "DeleteService", "{'cluster':'c1','service':'s1'}", "InvalidParameterException",
	      "The service cannot be stopped while it is scaled above 0.");
	cJSON_Delete(ok(f, "DeleteService", "{'cluster':'c1','service':'s1','force':true}"));
	pass(f);
	report_all(f, "RUNNING", NULL);
	pass(f);
	svc = describe(f, &out);
	assert_string_equal(json_str(svc, "status"), "INACTIVE");
	cJSON_Delete(out);
	fails(f, "UpdateService", "{'cluster':'c1','service':'s1','desiredCount':1}",
	      "ServiceNotActiveException", "Service was not ACTIVE.");
}

static void test_circuit_breaker(void **state)
{
	struct fixture *f = *state;
	cJSON *out, *svc;
	const cJSON *d;
	bool failed = false;

	setup_cluster(f);
	cJSON_Delete(ok(f, "CreateService",
			"{'cluster':'c1','serviceName':'s1','taskDefinition':'web:1',"
			"'desiredCount':1,'deploymentConfiguration':{'deploymentCircuitBreaker':"
			"{'enable':true,'rollback':true}}}"));
	pass(f);
	report_all(f, "RUNNING", NULL);
	pass(f);
	cJSON_Delete(ok(f, "UpdateService",
			"{'cluster':'c1','service':'s1',"
			"'taskDefinition':'web:2'}"));
	/* each pass starts a web:2 task that fails; the back-off (1 s at most here) paces them */
	for (int i = 0; i < 200 && !failed; i++) {
		pass(f);
		report_all(f, "STOPPED", "CannotPullContainerError: no such image");
		svc = describe(f, &out);
		cJSON_ArrayForEach(d, json_arr(svc, "deployments"))
			failed |= !strcmp(json_str(d, "rolloutState"), "FAILED");
		cJSON_Delete(out);
		if (!failed)
			usleep(50000);
	}
	assert_true(failed);
	svc = describe(f, &out);
	d = cJSON_GetArrayItem(json_arr(svc, "deployments"), 1);
	assert_string_equal(json_str(d, "rolloutState"), "FAILED");
	assert_int_equal(json_int(d, "failedTasks", -1), 3);
	d = cJSON_GetArrayItem(json_arr(svc, "deployments"), 0);
	assert_string_equal(json_str(d, "status"), "PRIMARY");
	assert_true(strstr(json_str(d, "taskDefinition"), "web:1") != NULL);
	assert_true(strstr(json_str(svc, "taskDefinition"), "web:1") != NULL);
	assert_true(has_event(svc, "(service s1) is unable to consistently start tasks"));
	cJSON_Delete(out);
}

/* A service keeps starting tasks of a task definition deregistered since it was deployed. */
static void test_inactive_definition(void **state)
{
	struct fixture *f = *state;

	setup_cluster(f);
	cJSON_Delete(ok(f, "CreateService",
			"{'cluster':'c1','serviceName':'s1',"
			"'taskDefinition':'web:1','desiredCount':1}"));
	pass(f);
	cJSON_Delete(ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:1'}"));
	cJSON_Delete(ok(f, "UpdateService", "{'cluster':'c1','service':'s1','desiredCount':2}"));
	pass(f);
	assert_int_equal(count_live(f, "RUNNING"), 2);
	/* but a new deployment of it is refused */
	fails(f, "UpdateService",
	      "{'cluster':'c1','service':'s1','taskDefinition':'web:1',"
	      "'forceNewDeployment':true}",
	      "ClientException", "TaskDefinition is inactive");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replica_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_circuit_breaker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inactive_definition, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
