/*
 * test_container_instances.c: the container instance operations through
 * api_dispatch, on a SQLite store in a temporary directory: registration
 * (what is stored and answered, refusals that store nothing,
 * re-registration keeping what is in use), describing, listing (status,
 * attribute filters, pagination), draining, deregistration (refused while
 * tasks run, unless forced), DeleteCluster while instances are registered,
 * the attribute operations and their limits, and tags.
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
		.dir_template = "/tmp/berth-test-ci-XXXXXX",
		.service = &api_ecs,
	};

	return api_fixture_setup(state, &opts);
}

#define CI_ARN "arn:aws:ecs:us-east-1:000000000000:container-instance/"

#define RES                                                                                        \
	"'totalResources':[{'name':'CPU','type':'INTEGER','integerValue':2048},"                   \
	"{'name':'MEMORY','type':'INTEGER','integerValue':3900},"                                  \
	"{'name':'PORTS','type':'STRINGSET','stringSetValue':['22','2375','2376','51678','51679']" \
	"},"                                                                                       \
	"{'name':'PORTS_UDP','type':'STRINGSET','stringSetValue':[]}]"

static void put_raw(struct fixture *f, const char *key, const char *json)
{
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	char *s = strdup(json);

	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	store_txn_put(&t, key, s, strlen(s));
	assert_int_equal(store_commit(f->store, &t, NULL, &err), 0);
	store_txn_release(&t);
	free(s);
}

static void cluster(struct fixture *f, const char *name)
{
	char body[300];

	snprintf(body, sizeof(body), "{'clusterName':'%s'}", name);
	cJSON_Delete(ok(f, "CreateCluster", body));
}

/* Register an instance in cluster c1 with extra members; return its ARN (caller frees). */
static char *reg(struct fixture *f, const char *extra)
{
	char body[2048];
	cJSON *out;
	char *arn;

	snprintf(body, sizeof(body), "{'cluster':'c1'," RES "%s%s}", *extra ? "," : "", extra);
	out = ok(f, "RegisterContainerInstance", body);
	arn = strdup(json_str(json_obj(out, "containerInstance"), "containerInstanceArn"));
	cJSON_Delete(out);
	return arn;
}

static const char *id_of(const char *arn)
{
	return strrchr(arn, '/') + 1;
}

static const cJSON *resource(const cJSON *list, const char *name)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, list)
		if (!strcmp(json_str(r, "name"), name))
			return r;
	fail_msg("no resource %s", name);
	return NULL;
}

static const char *attr(const cJSON *ci, const char *name)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, json_arr(ci, "attributes"))
		if (!strcmp(json_str(a, "name"), name))
			return json_str(a, "value") ? json_str(a, "value") : "";
	return NULL;
}

static void test_register(void **state)
{
	struct fixture *f = *state;
	cJSON *out, *ci;
	const char *arn, *ec2;
	const cJSON *ports;

	cluster(f, "c1");
	out = ok(f, "RegisterContainerInstance",
		 "{'cluster':'c1'," RES ",'versionInfo':{'agentVersion':'0.1.0','agentHash':'abc'},"
		 "'attributes':[{'name':'ecs.cpu-architecture','value':'x86_64'},"
		 "{'name':'ecs.capability.privileged-container'},{'name':'stack','value':'prod'}],"
		 "'tags':[{'key':'team','value':'infra'}],"
		 "'platformDevices':[{'id':'gpu0','type':'GPU'}]}");
	ci = cJSON_GetObjectItem(out, "containerInstance");
	arn = json_str(ci, "containerInstanceArn");
	assert_true(startswith(arn, CI_ARN "c1/"));
	assert_int_equal(strlen(id_of(arn)), 32);
	assert_int_equal(strspn(id_of(arn), "0123456789abcdef"), 32);
	ec2 = json_str(ci, "ec2InstanceId");
	assert_true(startswith(ec2, "i-"));
	assert_int_equal(strlen(ec2), 19);
	assert_int_equal(json_int(ci, "version", 0), 1);
	assert_string_equal(json_str(ci, "status"), "ACTIVE");
	assert_true(json_bool(ci, "agentConnected", false));
	assert_int_equal(json_int(ci, "runningTasksCount", -1), 0);
	assert_int_equal(json_int(ci, "pendingTasksCount", -1), 0);
	assert_false(json_has(ci, "agentUpdateStatus"));
	assert_false(json_has(ci, "capacityProviderName"));
	assert_false(json_has(ci, "platformDevices"));
	assert_true(json_has(ci, "registeredAt"));
	assert_string_equal(json_str(json_obj(ci, "versionInfo"), "agentVersion"), "0.1.0");
	assert_int_equal(
		json_int(resource(json_arr(ci, "registeredResources"), "CPU"), "integerValue", 0),
		2048);
	assert_int_equal(
		json_int(resource(json_arr(ci, "remainingResources"), "MEMORY"), "integerValue", 0),
		3900);
	ports = json_arr(resource(json_arr(ci, "remainingResources"), "PORTS"), "stringSetValue");
	assert_int_equal(cJSON_GetArraySize(ports), 5);
	assert_true(cJSON_Compare(json_arr(ci, "registeredResources"),
				  json_arr(ci, "remainingResources"), true));
	assert_string_equal(attr(ci, "ecs.os-type"), "linux");
	assert_string_equal(attr(ci, "ecs.cpu-architecture"), "x86_64");
	assert_string_equal(attr(ci, "ecs.capability.privileged-container"), "");
	assert_string_equal(attr(ci, "stack"), "prod");
	assert_string_equal(json_str(cJSON_GetArrayItem(json_arr(ci, "tags"), 0), "value"),
			    "infra");
	assert_int_equal(count_keys(f, "instance/c1/"), 1);
	cJSON_Delete(out);

	/* resources given without a type, and none at all */
	out = ok(f, "RegisterContainerInstance",
		 "{'cluster':'c1','totalResources':[{'name':'CPU','integerValue':1024},"
		 "{'name':'PORTS','stringSetValue':['80']}]}");
	ci = cJSON_GetObjectItem(out, "containerInstance");
	assert_string_equal(json_str(resource(json_arr(ci, "registeredResources"), "CPU"), "type"),
			    "INTEGER");
	assert_string_equal(
		json_str(resource(json_arr(ci, "registeredResources"), "PORTS"), "type"),
		"STRINGSET");
	assert_int_equal(json_int(resource(json_arr(ci, "registeredResources"), "MEMORY"),
				  "integerValue", -1),
			 0);
	resource(json_arr(ci, "registeredResources"), "PORTS_UDP");
	cJSON_Delete(out);
}

static void test_register_refusals(void **state)
{
	struct fixture *f = *state;
	char body[4096];
	int n;

	fails(f, "RegisterContainerInstance", "{'cluster':'nope'}", "ClusterNotFoundException",
	      "Cluster not found.");
	cluster(f, "c1");
	cluster(f, "c2");
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','totalResources':[{'name':'PORTS','type':'STRINGSET',"
	      "'stringSetValue':['http']}]}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','totalResources':[{'name':'PORTS','type':'STRINGSET',"
	      "'stringSetValue':['65536']}]}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','totalResources':[{'name':'CPU','type':'STRINGSET'}]}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','totalResources':[{'name':'CPU','integerValue':-1}]}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','totalResources':[{'name':'CPU','integerValue':1},"
	      "{'name':'CPU','integerValue':2}]}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','attributes':[{'name':'bad name','value':'x'}]}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','attributes':[{'name':'a','value':' lead'}]}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','tags':[{'key':'aws:x','value':'y'}]}", "InvalidParameterException",
	      NULL);
	fails(f, "RegisterContainerInstance", "{'cluster':'c1','instanceIdentityDocument':'nope'}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','containerInstanceArn':'" CI_ARN
	      "c1/0123456789abcdef0123456789abcdef'}",
	      "InvalidParameterException", NULL);
	fails(f, "RegisterContainerInstance",
	      "{'cluster':'c1','containerInstanceArn':'" CI_ARN
	      "c2/0123456789abcdef0123456789abcdef'}",
	      "InvalidParameterException", NULL);
	/* eleven custom attributes; ecs.* ones do not count */
	n = snprintf(body, sizeof(body), "{'cluster':'c1','attributes':[");
	for (int i = 0; i < 11; i++)
		n += snprintf(body + n, sizeof(body) - n, "%s{'name':'a%d','value':'v'}",
			      i ? "," : "", i);
	snprintf(body + n, sizeof(body) - n, "]}");
	fails(f, "RegisterContainerInstance", body, "AttributeLimitExceededException", NULL);
	assert_int_equal(count_keys(f, "instance/"), 0);
	n = snprintf(body, sizeof(body), "{'cluster':'c1','attributes':[{'name':'ecs.x'}");
	for (int i = 0; i < 10; i++)
		n += snprintf(body + n, sizeof(body) - n, ",{'name':'a%d','value':'v'}", i);
	snprintf(body + n, sizeof(body) - n, "]}");
	cJSON_Delete(ok(f, "RegisterContainerInstance", body));
	assert_int_equal(count_keys(f, "instance/"), 1);
}

static void test_reregister(void **state)
{
	struct fixture *f = *state;
	char body[1024], key[128];
	char *arn, *arn2;
	cJSON *out, *ci;

	cluster(f, "c1");
	arn = reg(f, "'instanceIdentityDocument':'{\\'instanceId\\':\\'host-a\\'}'");
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstances':['%s']}", id_of(arn));
	out = ok(f, "DescribeContainerInstances", body);
	ci = cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0);
	assert_string_equal(json_str(ci, "ec2InstanceId"), "host-a");
	cJSON_Delete(out);

	/* the same host again without the ARN: the same instance */
	arn2 = reg(f, "'attributes':[{'name':'ecs.instance-id','value':'host-a'}]");
	assert_string_equal(arn, arn2);
	free(arn2);

	/* 1024 CPU, 1000 MiB and port 22 in use; re-registered with more of each */
	snprintf(key, sizeof(key), "instance/c1/%s", id_of(arn));
	out = ok(f, "DescribeContainerInstances", body);
	ci = cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0);
	{
		cJSON *rem = cJSON_GetObjectItem(ci, "remainingResources");
		cJSON *cpu = (cJSON *)resource(rem, "CPU"), *mem = (cJSON *)resource(rem, "MEMORY");
		cJSON *ports =
			cJSON_GetObjectItem((cJSON *)resource(rem, "PORTS"), "stringSetValue");
		char *s;

		cJSON_SetNumberValue(cJSON_GetObjectItem(cpu, "integerValue"), 1024);
		cJSON_SetNumberValue(cJSON_GetObjectItem(mem, "integerValue"), 2900);
		cJSON_DeleteItemFromArray(ports, 0);
		cJSON_AddNumberToObject(ci, "registeredAt", 1000);
		s = cJSON_PrintUnformatted(ci);
		put_raw(f, key, s);
		free(s);
	}
	cJSON_Delete(out);
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstanceArn':'%s','totalResources':["
		 "{'name':'CPU','integerValue':4096},{'name':'MEMORY','integerValue':8000},"
		 "{'name':'PORTS','stringSetValue':['22','80']}]}",
		 arn);
	out = ok(f, "RegisterContainerInstance", body);
	ci = cJSON_GetObjectItem(out, "containerInstance");
	assert_string_equal(json_str(ci, "containerInstanceArn"), arn);
	assert_int_equal(json_int(ci, "version", 0), 3);
	assert_string_equal(json_str(ci, "ec2InstanceId"), "host-a");
	assert_int_equal(
		json_int(resource(json_arr(ci, "remainingResources"), "CPU"), "integerValue", 0),
		3072);
	assert_int_equal(
		json_int(resource(json_arr(ci, "remainingResources"), "MEMORY"), "integerValue", 0),
		7000);
	assert_int_equal(
		cJSON_GetArraySize(json_arr(resource(json_arr(ci, "remainingResources"), "PORTS"),
					    "stringSetValue")),
		1);
	assert_int_equal(
		json_int(resource(json_arr(ci, "registeredResources"), "CPU"), "integerValue", 0),
		4096);
	cJSON_Delete(out);
	assert_int_equal(count_keys(f, "instance/c1/"), 1);
	free(arn);
}

static void test_describe(void **state)
{
	struct fixture *f = *state;
	char body[1024];
	char *a, *b;
	cJSON *out, *list, *fl;

	fails(f, "DescribeContainerInstances", "{'cluster':'nope','containerInstances':['x']}",
	      "ClusterNotFoundException", NULL);
	cluster(f, "c1");
	a = reg(f, "'tags':[{'key':'k','value':'v'}]");
	b = reg(f, "");
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s','%s','"
		 "0123456789abcdef0123456789abcdef',"
		 "'bad/id'],'include':['TAGS','CONTAINER_INSTANCE_HEALTH']}",
		 id_of(a), b);
	out = ok(f, "DescribeContainerInstances", body);
	list = cJSON_GetObjectItem(out, "containerInstances");
	assert_int_equal(cJSON_GetArraySize(list), 2);
	assert_string_equal(json_str(cJSON_GetArrayItem(list, 0), "containerInstanceArn"), a);
	assert_string_equal(json_str(cJSON_GetArrayItem(list, 1), "containerInstanceArn"), b);
	assert_int_equal(cJSON_GetArraySize(json_arr(cJSON_GetArrayItem(list, 0), "tags")), 1);
	assert_string_equal(
		json_str(json_obj(cJSON_GetArrayItem(list, 0), "healthStatus"), "overallStatus"),
		"OK");
	fl = cJSON_GetObjectItem(out, "failures");
	assert_int_equal(cJSON_GetArraySize(fl), 2);
	assert_string_equal(json_str(cJSON_GetArrayItem(fl, 0), "arn"),
			    CI_ARN "c1/0123456789abcdef0123456789abcdef");
	assert_string_equal(json_str(cJSON_GetArrayItem(fl, 0), "reason"), "MISSING");
	assert_string_equal(json_str(cJSON_GetArrayItem(fl, 1), "arn"), "bad/id");
	cJSON_Delete(out);
	/* without include: no tags, no health */
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstances':['%s']}", a);
	out = ok(f, "DescribeContainerInstances", body);
	list = cJSON_GetObjectItem(out, "containerInstances");
	assert_false(json_has(cJSON_GetArrayItem(list, 0), "tags"));
	assert_false(json_has(cJSON_GetArrayItem(list, 0), "healthStatus"));
	cJSON_Delete(out);
	free(a);
	free(b);
}

static int list_count(struct fixture *f, const char *body)
{
	cJSON *out = ok(f, "ListContainerInstances", body);
	int n = cJSON_GetArraySize(json_arr(out, "containerInstanceArns"));

	cJSON_Delete(out);
	return n;
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	char body[1024], *arns[5];
	cJSON *out;
	int seen = 0;

	fails(f, "ListContainerInstances", "{'cluster':'nope'}", "ClusterNotFoundException", NULL);
	cluster(f, "c1");
	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof(body), "'attributes':[{'name':'zone','value':'z%d'}%s]",
			 i % 2, i == 4 ? ",{'name':'gpu'}" : "");
		arns[i] = reg(f, body);
	}
	assert_int_equal(list_count(f, "{'cluster':'c1'}"), 5);
	/* pages of two */
	body[0] = 0;
	for (int page = 0; page < 3; page++) {
		char req[1024];
		const char *token;

		snprintf(req, sizeof(req), "{'cluster':'c1','maxResults':2%s%s%s}",
			 *body ? ",'nextToken':'" : "", body, *body ? "'" : "");
		out = ok(f, "ListContainerInstances", req);
		seen += cJSON_GetArraySize(json_arr(out, "containerInstanceArns"));
		token = json_str(out, "nextToken");
		assert_true(page == 2 ? token == NULL : token != NULL);
		snprintf(body, sizeof(body), "%s", token ? token : "");
		cJSON_Delete(out);
	}
	assert_int_equal(seen, 5);
	fails(f, "ListContainerInstances", "{'cluster':'c1','nextToken':'bm9wZQ'}",
	      "InvalidParameterException", NULL);
	fails(f, "ListContainerInstances", "{'cluster':'c1','maxResults':101}",
	      "InvalidParameterException", NULL);
	/* filters */
	assert_int_equal(list_count(f, "{'cluster':'c1','filter':'attribute:zone == z0'}"), 3);
	assert_int_equal(list_count(f, "{'cluster':'c1','filter':'attribute:zone != z0'}"), 2);
	assert_int_equal(list_count(f, "{'cluster':'c1','filter':'attribute:gpu exists'}"), 1);
	assert_int_equal(
		list_count(f, "{'cluster':'c1','filter':'attribute:zone == z0 and attribute:gpu "
			      "exists'}"),
		1);
	assert_int_equal(
		list_count(f, "{'cluster':'c1','filter':'attribute:ecs.os-type == linux'}"), 5);
	/* the whole cluster query language */
	assert_int_equal(list_count(f, "{'cluster':'c1','filter':'runningTasksCount == 0'}"), 5);
	assert_int_equal(list_count(f, "{'cluster':'c1','filter':'attribute:zone =~ z.*'}"), 5);
	assert_int_equal(list_count(f, "{'cluster':'c1','filter':'attribute:zone in [z1, z9]'}"),
			 2);
	assert_int_equal(
		list_count(f, "{'cluster':'c1','filter':'attribute:zone == z1 or attribute:gpu "
			      "exists'}"),
		3);
	assert_int_equal(list_count(f, "{'cluster':'c1','filter':'not (attribute:zone == z1) && "
				       "attribute:zone exists'}"),
			 3);
	/* task:group reads the cluster's tasks that are not STOPPED */
	{
		char task[512];
		const char *id0 = strrchr(arns[0], '/') + 1, *id1 = strrchr(arns[1], '/') + 1;

		snprintf(task, sizeof(task),
			 "{'_instanceId':'%s','group':'service:web','lastStatus':'RUNNING'}", id0);
		put_raw(f, "task/c1/g1", task);
		snprintf(task, sizeof(task),
			 "{'_instanceId':'%s','group':'service:web','lastStatus':'STOPPED'}", id1);
		put_raw(f, "task/c1/g2", task);
		assert_int_equal(
			list_count(f, "{'cluster':'c1','filter':'task:group == service:web'}"), 1);
		assert_int_equal(
			list_count(f, "{'cluster':'c1','filter':'not(task:group == service:web)'}"),
			4);
		put_raw(f, "task/c1/g1", "{'lastStatus':'STOPPED'}");
	}
	fails(f, "ListContainerInstances", "{'cluster':'c1','filter':'attribute:zone =='}",
	      "InvalidParameterException", NULL);
	fails(f, "ListContainerInstances", "{'cluster':'c1','filter':'ram > 4'}",
	      "InvalidParameterException", NULL);
	fails(f, "ListContainerInstances",
	      "{'cluster':'c1','filter':'attribute:zone == z0 or (attribute:gpu exists'}",
	      "InvalidParameterException", NULL);
	/* status */
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s'],"
		 "'status':'DRAINING'}",
		 arns[0]);
	cJSON_Delete(ok(f, "UpdateContainerInstancesState", body));
	assert_int_equal(list_count(f, "{'cluster':'c1','status':'DRAINING'}"), 1);
	assert_int_equal(list_count(f, "{'cluster':'c1','status':'ACTIVE'}"), 4);
	assert_int_equal(list_count(f, "{'cluster':'c1','status':'REGISTERING'}"), 0);
	assert_int_equal(list_count(f, "{'cluster':'c1'}"), 5);
	for (int i = 0; i < 5; i++)
		free(arns[i]);
}

static void test_update_state(void **state)
{
	struct fixture *f = *state;
	char body[1024];
	char *a;
	cJSON *out, *ci;

	cluster(f, "c1");
	a = reg(f, "");
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s','0123456789abcdef0123456789abcdef'],"
		 "'status':'DRAINING'}",
		 id_of(a));
	out = ok(f, "UpdateContainerInstancesState", body);
	ci = cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0);
	assert_string_equal(json_str(ci, "status"), "DRAINING");
	assert_int_equal(json_int(ci, "version", 0), 2);
	assert_string_equal(json_str(cJSON_GetArrayItem(json_arr(out, "failures"), 0), "reason"),
			    "MISSING");
	cJSON_Delete(out);
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s'],'status':'ACTIVE'}", a);
	out = ok(f, "UpdateContainerInstancesState", body);
	ci = cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0);
	assert_string_equal(json_str(ci, "status"), "ACTIVE");
	cJSON_Delete(out);
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s'],'status':'REGISTERING'}", a);
	fails(f, "UpdateContainerInstancesState", body, "InvalidParameterException", NULL);
	fails(f, "UpdateContainerInstancesState",
	      "{'cluster':'nope','containerInstances':['x'],'status':'ACTIVE'}",
	      "ClusterNotFoundException", NULL);
	/* a deregistered instance is not changed */
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s'}", a);
	cJSON_Delete(ok(f, "DeregisterContainerInstance", body));
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s'],'status':'ACTIVE'}", a);
	out = ok(f, "UpdateContainerInstancesState", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "containerInstances")), 0);
	assert_string_equal(json_str(cJSON_GetArrayItem(json_arr(out, "failures"), 0), "reason"),
			    "INACTIVE");
	cJSON_Delete(out);
	free(a);
}

static void test_deregister(void **state)
{
	struct fixture *f = *state;
	char body[1024], task[512];
	char *a;
	cJSON *out, *ci;

	cluster(f, "c1");
	a = reg(f, "");
	fails(f, "DeregisterContainerInstance",
	      "{'cluster':'c1','containerInstance':'0123456789abcdef0123456789abcdef'}",
	      "InvalidParameterException", NULL);
	fails(f, "DeregisterContainerInstance", "{'cluster':'nope','containerInstance':'x'}",
	      "ClusterNotFoundException", NULL);
	/* a task still running on it */
	snprintf(task, sizeof(task), "{'containerInstanceArn':'%s','lastStatus':'RUNNING'}", a);
	put_raw(f, "task/c1/t1", task);
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s'}", a);
	fails(f, "DeregisterContainerInstance", body, "InvalidParameterException",
	      "Found running tasks on the instance.");
	snprintf(task, sizeof(task), "{'containerInstanceArn':'%s','lastStatus':'STOPPED'}", a);
	put_raw(f, "task/c1/t1", task);
	out = ok(f, "DeregisterContainerInstance", body);
	ci = cJSON_GetObjectItem(out, "containerInstance");
	assert_string_equal(json_str(ci, "status"), "INACTIVE");
	assert_false(json_bool(ci, "agentConnected", true));
	cJSON_Delete(out);
	assert_int_equal(list_count(f, "{'cluster':'c1'}"), 0);
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstances':['%s']}", a);
	out = ok(f, "DescribeContainerInstances", body);
	assert_string_equal(
		json_str(cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0), "status"),
		"INACTIVE");
	cJSON_Delete(out);
	/* re-registering a deregistered instance by its ARN is refused */
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstanceArn':'%s'}", a);
	fails(f, "RegisterContainerInstance", body, "InvalidParameterException", NULL);
	free(a);

	/* force leaves the running task orphaned */
	a = reg(f, "");
	snprintf(task, sizeof(task), "{'containerInstanceArn':'%s','lastStatus':'PENDING'}", a);
	put_raw(f, "task/c1/t2", task);
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s'}", a);
	fails(f, "DeregisterContainerInstance", body, "InvalidParameterException", NULL);
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s','force':true}", a);
	cJSON_Delete(ok(f, "DeregisterContainerInstance", body));
	free(a);
	/* ECS accounts for it no more: stopped, so that the cluster can go */
	out = ok(f, "DescribeTasks", "{'cluster':'c1','tasks':['t2']}");
	ci = cJSON_GetArrayItem(json_arr(out, "tasks"), 0);
	assert_string_equal(json_str(ci, "lastStatus"), "STOPPED");
	assert_string_equal(json_str(ci, "desiredStatus"), "STOPPED");
	assert_string_equal(json_str(ci, "stopCode"), "UserInitiated");
	cJSON_Delete(out);
	cJSON_Delete(ok(f, "DeleteCluster", "{'cluster':'c1'}"));
}

static void test_delete_cluster(void **state)
{
	struct fixture *f = *state;
	char body[512];
	char *a;
	cJSON *out;

	cluster(f, "c1");
	a = reg(f, "");
	out = ok(f, "DescribeClusters", "{'clusters':['c1']}");
	assert_int_equal(json_int(cJSON_GetArrayItem(json_arr(out, "clusters"), 0),
				  "registeredContainerInstancesCount", -1),
			 1);
	cJSON_Delete(out);
	fails(f, "DeleteCluster", "{'cluster':'c1'}", "ClusterContainsContainerInstancesException",
	      NULL);
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s'],"
		 "'status':'DRAINING'}",
		 a);
	cJSON_Delete(ok(f, "UpdateContainerInstancesState", body));
	fails(f, "DeleteCluster", "{'cluster':'c1'}", "ClusterContainsContainerInstancesException",
	      NULL);
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s'}", a);
	cJSON_Delete(ok(f, "DeregisterContainerInstance", body));
	out = ok(f, "DescribeClusters", "{'clusters':['c1']}");
	assert_int_equal(json_int(cJSON_GetArrayItem(json_arr(out, "clusters"), 0),
				  "registeredContainerInstancesCount", -1),
			 0);
	cJSON_Delete(out);
	cJSON_Delete(ok(f, "DeleteCluster", "{'cluster':'c1'}"));
	free(a);
}

static int list_attrs(struct fixture *f, const char *body)
{
	cJSON *out = ok(f, "ListAttributes", body);
	int n = cJSON_GetArraySize(json_arr(out, "attributes"));

	cJSON_Delete(out);
	return n;
}

static void test_attributes(void **state)
{
	struct fixture *f = *state;
	char body[4096], token[512] = "";
	char *a, *b;
	cJSON *out, *ci;
	int n, seen = 0;

	cluster(f, "c1");
	a = reg(f, "");
	b = reg(f, "");
	/* put on two instances in one call, by ARN and by id */
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','attributes':[{'name':'stack','value':'prod','targetId':'%s'},"
		 "{'name':'flag','targetId':'%s','targetType':'container-instance'}]}",
		 a, id_of(b));
	out = ok(f, "PutAttributes", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "attributes")), 2);
	assert_string_equal(
		json_str(cJSON_GetArrayItem(json_arr(out, "attributes"), 0), "targetType"),
		"container-instance");
	cJSON_Delete(out);
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstances':['%s','%s']}", a, b);
	out = ok(f, "DescribeContainerInstances", body);
	ci = cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0);
	assert_string_equal(attr(ci, "stack"), "prod");
	ci = cJSON_GetArrayItem(json_arr(out, "containerInstances"), 1);
	assert_string_equal(attr(ci, "flag"), "");
	cJSON_Delete(out);
	/* a new value replaces the old one */
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','attributes':[{'name':'stack','value':'dev','targetId':'%s'}]}",
		 a);
	cJSON_Delete(ok(f, "PutAttributes", body));

	/* list: each instance has ecs.os-type too */
	assert_int_equal(list_attrs(f, "{'cluster':'c1','targetType':'container-instance'}"), 4);
	assert_int_equal(list_attrs(f, "{'cluster':'c1','targetType':'container-instance',"
				       "'attributeName':'stack'}"),
			 1);
	assert_int_equal(list_attrs(f, "{'cluster':'c1','targetType':'container-instance',"
				       "'attributeName':'stack','attributeValue':'dev'}"),
			 1);
	assert_int_equal(list_attrs(f, "{'cluster':'c1','targetType':'container-instance',"
				       "'attributeName':'stack','attributeValue':'prod'}"),
			 0);
	out = ok(f, "ListAttributes",
		 "{'cluster':'c1','targetType':'container-instance',"
		 "'attributeName':'stack'}");
	ci = cJSON_GetArrayItem(json_arr(out, "attributes"), 0);
	assert_string_equal(json_str(ci, "targetId"), a);
	assert_string_equal(json_str(ci, "value"), "dev");
	cJSON_Delete(out);
	for (int page = 0; page < 4; page++) {
		const char *t;

		snprintf(body, sizeof(body),
			 "{'cluster':'c1','targetType':'container-instance','maxResults':1%s%s%s}",
			 *token ? ",'nextToken':'" : "", token, *token ? "'" : "");
		out = ok(f, "ListAttributes", body);
		seen += cJSON_GetArraySize(json_arr(out, "attributes"));
		t = json_str(out, "nextToken");
		assert_true(page == 3 ? t == NULL : t != NULL);
		snprintf(token, sizeof(token), "%s", t ? t : "");
		cJSON_Delete(out);
	}
	assert_int_equal(seen, 4);
	fails(f, "ListAttributes",
	      "{'cluster':'c1','targetType':'container-instance',"
	      "'attributeValue':'dev'}",
	      "InvalidParameterException", NULL);
	fails(f, "ListAttributes", "{'cluster':'nope','targetType':'container-instance'}",
	      "ClusterNotFoundException", NULL);

	/* refusals */
	fails(f, "PutAttributes",
	      "{'cluster':'c1','attributes':[{'name':'x','targetId':'"
	      "0123456789abcdef0123456789abcdef',"
	      "'targetType':'container-instance'}]}",
	      "TargetNotFoundException", NULL);
	fails(f, "PutAttributes",
	      "{'cluster':'c1','attributes':[{'name':'x','targetId':'" CI_ARN "c2/abc'}]}",
	      "TargetNotFoundException", NULL);
	snprintf(body, sizeof(body), "{'cluster':'c1','attributes':[{'name':'x','targetId':'%s'}]}",
		 id_of(a));
	fails(f, "PutAttributes", body, "InvalidParameterException", NULL);
	fails(f, "PutAttributes", "{'cluster':'c1','attributes':[{'name':'x'}]}",
	      "InvalidParameterException", NULL);
	fails(f, "PutAttributes", "{'cluster':'nope','attributes':[{'name':'x','targetId':'y'}]}",
	      "ClusterNotFoundException", NULL);
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','attributes':[{'name':'x!','targetId':'%s'}]}", a);
	fails(f, "PutAttributes", body, "InvalidParameterException", NULL);
	/* a has one custom attribute: nine more fit, ten do not, and nothing is applied */
	n = snprintf(body, sizeof(body), "{'cluster':'c1','attributes':[");
	for (int i = 0; i < 10; i++)
		n += snprintf(body + n, sizeof(body) - n, "%s{'name':'n%d','targetId':'%s'}",
			      i ? "," : "", i, a);
	snprintf(body + n, sizeof(body) - n, "]}");
	fails(f, "PutAttributes", body, "AttributeLimitExceededException", NULL);
	assert_int_equal(list_attrs(f, "{'cluster':'c1','targetType':'container-instance'}"), 4);
	n = snprintf(body, sizeof(body), "{'cluster':'c1','attributes':[");
	for (int i = 0; i < 9; i++)
		n += snprintf(body + n, sizeof(body) - n, "%s{'name':'n%d','targetId':'%s'}",
			      i ? "," : "", i, a);
	snprintf(body + n, sizeof(body) - n, "]}");
	cJSON_Delete(ok(f, "PutAttributes", body));
	assert_int_equal(list_attrs(f, "{'cluster':'c1','targetType':'container-instance'}"), 13);

	/* delete */
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','attributes':[{'name':'stack','targetId':'%s'},"
		 "{'name':'flag','targetId':'%s'}]}",
		 a, b);
	out = ok(f, "DeleteAttributes", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "attributes")), 2);
	cJSON_Delete(out);
	assert_int_equal(list_attrs(f, "{'cluster':'c1','targetType':'container-instance'}"), 11);
	fails(f, "DeleteAttributes",
	      "{'cluster':'c1','attributes':[{'name':'x','targetId':'"
	      "0123456789abcdef0123456789abcdef',"
	      "'targetType':'container-instance'}]}",
	      "TargetNotFoundException", NULL);
	/* a deregistered instance is no target */
	snprintf(body, sizeof(body), "{'cluster':'c1','containerInstance':'%s'}", b);
	cJSON_Delete(ok(f, "DeregisterContainerInstance", body));
	snprintf(body, sizeof(body), "{'cluster':'c1','attributes':[{'name':'x','targetId':'%s'}]}",
		 b);
	fails(f, "PutAttributes", body, "TargetNotFoundException", NULL);
	free(a);
	free(b);
}

static void test_tags(void **state)
{
	struct fixture *f = *state;
	char body[1024];
	char *a;
	cJSON *out;

	cluster(f, "c1");
	a = reg(f, "'tags':[{'key':'one','value':'1'}]");
	snprintf(body, sizeof(body), "{'resourceArn':'%s','tags':[{'key':'two','value':'2'}]}", a);
	cJSON_Delete(ok(f, "TagResource", body));
	snprintf(body, sizeof(body), "{'resourceArn':'%s'}", a);
	out = ok(f, "ListTagsForResource", body);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "tags")), 2);
	cJSON_Delete(out);
	snprintf(body, sizeof(body),
		 "{'cluster':'c1','containerInstances':['%s'],"
		 "'include':['TAGS']}",
		 a);
	out = ok(f, "DescribeContainerInstances", body);
	assert_int_equal(
		cJSON_GetArraySize(json_arr(
			cJSON_GetArrayItem(json_arr(out, "containerInstances"), 0), "tags")),
		2);
	cJSON_Delete(out);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_cluster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
	};

	return cmocka_run_group_tests_name("container_instances", tests, NULL, NULL);
}
