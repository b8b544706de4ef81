/*
 * test_task_definitions.c: the task definition operations through
 * api_dispatch, on a SQLite store in a temporary directory: what
 * RegisterTaskDefinition stores and answers (defaults, conversions,
 * derived attributes), every validation rule and that a refused request
 * stores nothing, revision numbering (per family, never reused, under
 * concurrent registrations), the three ways to name a revision, listing
 * (filters, order, pagination), families, deregistration and deletion.
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
		.dir_template = "/tmp/berth-test-td-XXXXXX",
		.service = &api_ecs,
	};

	return api_fixture_setup(state, &opts);
}

#define ARN(rest) "arn:aws:ecs:us-east-1:000000000000:task-definition/" rest

/* Register a small definition of family; return its revision. */
static int64_t reg(struct fixture *f, const char *family)
{
	char body[512];
	cJSON *out;
	int64_t rev;

	snprintf(body, sizeof(body),
		 "{'family':'%s','containerDefinitions':[{'name':'app','image':'busybox',"
		 "'memory':64}],'tags':[{'key':'team','value':'blue'}]}",
		 family);
	out = ok(f, "RegisterTaskDefinition", body);
	rev = json_int(json_obj(out, "taskDefinition"), "revision", -1);
	cJSON_Delete(out);
	return rev;
}

static void call_ok(struct fixture *f, const char *op, const char *body)
{
	cJSON_Delete(ok(f, op, body));
}

static const cJSON *first(const cJSON *arr)
{
	assert_non_null(arr);
	return arr->child;
}

static bool has_attribute(const cJSON *td, const char *name)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, json_arr(td, "requiresAttributes"))
		if (!strcmp(json_str(v, "name"), name))
			return true;
	return false;
}

/* The array printed compactly, for comparing small lists. */
static void assert_json(const cJSON *v, const char *want)
{
	char *s = cJSON_PrintUnformatted(v);
	char *w = strdup(want);

	for (char *p = w; *p; p++)
		if (*p == '\'')
			*p = '"';
	if (!s || strcmp(s, w))
		fail_msg("got %s\nwant %s", s ? s : "(null)", w);
	free(s);
	free(w);
}

static void test_register_minimal(void **state)
{
	struct fixture *f = *state;
	int64_t before = now_ms();
	cJSON *out = ok(f, "RegisterTaskDefinition",
			"{'family':'web','containerDefinitions':[{'name':'web','image':'busybox',"
			"'memory':128,'bogus':1}]}");
	const cJSON *td = json_obj(out, "taskDefinition");
	const cJSON *c = first(json_arr(td, "containerDefinitions"));

	assert_string_equal(json_str(td, "taskDefinitionArn"), ARN("web:1"));
	assert_string_equal(json_str(td, "family"), "web");
	assert_int_equal(json_int(td, "revision", 0), 1);
	assert_string_equal(json_str(td, "status"), "ACTIVE");
	assert_false(json_has(td, "networkMode"));
	assert_false(json_has(td, "tags"));
	assert_json(json_get(td, "compatibilities"), "['EXTERNAL','EC2']");
	assert_json(json_get(td, "volumes"), "[]");
	assert_json(json_get(td, "placementConstraints"), "[]");
	assert_json(json_get(td, "requiresAttributes"), "[]");
	assert_true(cJSON_IsNumber(json_get(td, "registeredAt")));
	assert_true(json_get(td, "registeredAt")->valuedouble >= (double)(before / 1000));
	assert_true(json_get(td, "registeredAt")->valuedouble < (double)(now_ms() / 1000 + 1));
	assert_string_equal(json_str(td, "registeredBy"), "arn:aws:iam::000000000000:user/AKID");
	assert_json(c, "{'name':'web','image':'busybox','cpu':0,'memory':128,'portMappings':[],"
		       "'essential':true,'environment':[],'mountPoints':[],'volumesFrom':[],"
		       "'systemControls':[]}");
	assert_json(json_get(out, "tags"), "[]");
	cJSON_Delete(out);
	assert_int_equal(count_keys(f, "td/web/"), 1);
}

static void test_register_full(void **state)
{
	struct fixture *f = *state;
	cJSON *out = ok(
		f, "RegisterTaskDefinition",
		"{'family':'shop','taskRoleArn':'arn:aws:iam::000000000000:role/task',"
		"'executionRoleArn':'arn:aws:iam::000000000000:role/exec','networkMode':'bridge',"
		"'volumes':[{'name':'data'},{'name':'logs','host':{'sourcePath':'/var/log'}}],"
		"'placementConstraints':[{'type':'memberOf','expression':'attribute:x == y'}],"
		"'pidMode':'task','ipcMode':'none','tags':[{'key':'a','value':'b'},{'key':'c'}],"
		"'containerDefinitions':["
		"{'name':'web','image':'registry.local/web:1','cpu':256,'memory':512,"
		"'memoryReservation':256,'links':['db:database'],"
		"'portMappings':[{'containerPort':8080,'hostPort':8081},"
		"{'containerPort':9000,'protocol':'udp'}],'entryPoint':['/bin/sh','-c'],"
		"'command':['exec httpd -f'],'environment':[{'name':'A','value':'1'}],"
		"'environmentFiles':[{'value':'arn:aws:s3:::b/x.env','type':'s3'}],"
		"'workingDirectory':'/srv','user':'1000:1000',"
		"'healthCheck':{'command':['CMD-SHELL','wget -q localhost:8080'],'startPeriod':10},"
		"'dependsOn':[{'containerName':'db','condition':'HEALTHY'},"
		"{'containerName':'init','condition':'SUCCESS'}],"
		"'stopTimeout':20,'startTimeout':30,"
		"'logConfiguration':{'logDriver':'awslogs','options':{'awslogs-group':'g',"
		"'awslogs-region':'us-east-1'}},"
		"'mountPoints':[{'sourceVolume':'data','containerPath':'/data'}],"
		"'volumesFrom':[{'sourceContainer':'db','readOnly':true}],"
		"'ulimits':[{'name':'nofile','softLimit':1024,'hardLimit':4096}],"
		"'linuxParameters':{'initProcessEnabled':true},'readonlyRootFilesystem':true,"
		"'privileged':false,'dockerLabels':{'x':'y'},'hostname':'web',"
		"'dnsServers':['10.0.0.2'],'extraHosts':[{'hostname':'h','ipAddress':'10.0.0.3'}],"
		"'secrets':[{'name':'S','valueFrom':'arn:aws:secretsmanager:us-east-1:0:secret:s'}]"
		"},"
		"{'name':'db','image':'postgres','memoryReservation':128,"
		"'healthCheck':{'command':['CMD','pg_isready']}},"
		"{'name':'init','image':'busybox','memory':32,'essential':false}]}");
	const cJSON *td = json_obj(out, "taskDefinition");
	const cJSON *web = first(json_arr(td, "containerDefinitions"));
	const cJSON *db = web->next;

	assert_string_equal(json_str(td, "networkMode"), "bridge");
	assert_string_equal(json_str(td, "taskRoleArn"), "arn:aws:iam::000000000000:role/task");
	assert_string_equal(json_str(td, "pidMode"), "task");
	assert_json(json_get(td, "volumes"),
		    "[{'name':'data','host':{}},{'name':'logs','host':{'sourcePath':'/var/log'}}]");
	assert_json(json_get(web, "portMappings"),
		    "[{'containerPort':8080,'hostPort':8081,'protocol':'tcp'},"
		    "{'containerPort':9000,'protocol':'udp'}]");
	assert_json(json_get(web, "healthCheck"),
		    "{'command':['CMD-SHELL','wget -q localhost:8080'],'interval':30,'timeout':5,"
		    "'retries':3,'startPeriod':10}");
	assert_json(json_get(db, "healthCheck"),
		    "{'command':['CMD','pg_isready'],'interval':30,'timeout':5,'retries':3}");
	assert_json(json_get(web, "links"), "['db:database']");
	assert_json(json_get(web, "ulimits"),
		    "[{'name':'nofile','softLimit':1024,'hardLimit':4096}]");
	assert_json(json_get(web, "dockerLabels"), "{'x':'y'}");
	assert_json(json_get(web, "linuxParameters"), "{'initProcessEnabled':true}");
	assert_int_equal(json_int(web, "memoryReservation", 0), 256);
	assert_int_equal(json_int(web, "stopTimeout", 0), 20);
	assert_string_equal(json_str(web, "user"), "1000:1000");
	assert_true(json_bool(web, "readonlyRootFilesystem", false));
	assert_false(json_bool(json_get(db, "essential") ? db : web, "essential", false) == false);
	assert_false(json_bool(web->next->next, "essential", true));
	assert_true(has_attribute(td, "com.amazonaws.ecs.capability.task-iam-role"));
	assert_true(has_attribute(td, "com.amazonaws.ecs.capability.logging-driver.awslogs"));
	assert_true(has_attribute(td, "com.amazonaws.ecs.capability.docker-remote-api.1.18"));
	assert_true(has_attribute(td, "com.amazonaws.ecs.capability.docker-remote-api.1.19"));
	assert_true(has_attribute(td, "com.amazonaws.ecs.capability.docker-remote-api.1.21"));
	assert_true(has_attribute(td, "ecs.capability.container-health-check"));
	assert_true(has_attribute(td, "ecs.capability.container-ordering"));
	assert_true(has_attribute(td, "ecs.capability.execution-role-awslogs"));
	assert_true(has_attribute(td, "ecs.capability.secrets.asm.environment-variables"));
	assert_true(has_attribute(td, "ecs.capability.env-files.s3"));
	assert_false(has_attribute(td, "ecs.capability.task-eni"));
	assert_json(json_get(out, "tags"), "[{'key':'a','value':'b'},{'key':'c','value':''}]");
	cJSON_Delete(out);
}

static void test_task_size_conversion(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *cpu, *memory, *want_cpu, *want_memory;
	} cases[] = {
		{ "256", "512", "256", "512" },	       { "1 vCPU", "1GB", "1024", "1024" },
		{ "0.5 vCPU", "2 GB", "512", "2048" }, { ".25 vcpu", "0.5GB", "256", "512" },
		{ "2vCPU", "4 gb", "2048", "4096" },   { "192 vCPU", "3072", "196608", "3072" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[512];
		cJSON *out;

		snprintf(body, sizeof(body),
			 "{'family':'size','cpu':'%s','memory':'%s','containerDefinitions':"
			 "[{'name':'a','image':'busybox'}]}",
			 cases[i].cpu, cases[i].memory);
		out = ok(f, "RegisterTaskDefinition", body);
		assert_string_equal(json_str(json_obj(out, "taskDefinition"), "cpu"),
				    cases[i].want_cpu);
		assert_string_equal(json_str(json_obj(out, "taskDefinition"), "memory"),
				    cases[i].want_memory);
		cJSON_Delete(out);
	}
}

static void test_fargate(void **state)
{
	struct fixture *f = *state;
	cJSON *out =
		ok(f, "RegisterTaskDefinition",
		   "{'family':'fg','networkMode':'awsvpc','requiresCompatibilities':['FARGATE'],"
		   "'cpu':'256','memory':'512','containerDefinitions':[{'name':'a',"
		   "'image':'busybox','portMappings':[{'containerPort':80}]}]}");
	const cJSON *td = json_obj(out, "taskDefinition");

	assert_json(json_get(td, "compatibilities"), "['EC2','FARGATE']");
	assert_json(json_get(td, "requiresCompatibilities"), "['FARGATE']");
	assert_json(json_get(first(json_arr(td, "containerDefinitions")), "portMappings"),
		    "[{'containerPort':80,'hostPort':80,'protocol':'tcp'}]");
	assert_true(has_attribute(td, "ecs.capability.task-eni"));
	cJSON_Delete(out);

	/* awsvpc without Fargate's sizes: EC2 only */
	out = ok(f, "RegisterTaskDefinition",
		 "{'family':'vpc','networkMode':'awsvpc','containerDefinitions':[{'name':'a',"
		 "'image':'busybox','memory':64}]}");
	assert_json(json_get(json_obj(out, "taskDefinition"), "compatibilities"), "['EC2']");
	cJSON_Delete(out);

	fails(f, "RegisterTaskDefinition",
	      "{'family':'fg','requiresCompatibilities':['FARGATE'],'cpu':'256','memory':'512',"
	      "'containerDefinitions':[{'name':'a','image':'busybox'}]}",
	      "ClientException", "Fargate only supports network mode \u2018awsvpc\u2019.");
	fails(f, "RegisterTaskDefinition",
	      "{'family':'fg','networkMode':'awsvpc','requiresCompatibilities':['FARGATE'],"
	      "'memory':'512','containerDefinitions':[{'name':'a','image':'busybox'}]}",
	      "ClientException", "Fargate requires that 'cpu' be defined at the task level.");
	fails(f, "RegisterTaskDefinition",
	      "{'family':'fg','networkMode':'awsvpc','requiresCompatibilities':['FARGATE'],"
	      "'cpu':'256','memory':'4096','containerDefinitions':[{'name':'a','image':'busybox'}]"
	      "}",
	      "ClientException", "No Fargate configuration exists for given values.");
	fails(f, "RegisterTaskDefinition",
	      "{'family':'fg','networkMode':'awsvpc','requiresCompatibilities':['FARGATE'],"
	      "'cpu':'1 vCPU','memory':'2GB','containerDefinitions':[{'name':'a','image':'busybox',"
	      "'privileged':true}]}",
	      "ClientException",
	      "Fargate compatible task definitions do not support privileged containers.");
	fails(f, "RegisterTaskDefinition",
	      "{'family':'fg','networkMode':'awsvpc','requiresCompatibilities':['FARGATE'],"
	      "'cpu':'1 vCPU','memory':'2GB','volumes':[{'name':'v','host':{'sourcePath':'/x'}}],"
	      "'containerDefinitions':[{'name':'a','image':'busybox'}]}",
	      "ClientException", "Fargate compatible task definitions do not support sourcePath");
	fails(f, "RegisterTaskDefinition",
	      "{'family':'ext','networkMode':'awsvpc','requiresCompatibilities':['EXTERNAL'],"
	      "'containerDefinitions':[{'name':'a','image':'busybox','memory':64}]}",
	      "ClientException",
	      "External compatible task definitions do not support network mode 'awsvpc'.");
	assert_int_equal(count_keys(f, "td/fg/"), 1);
	assert_int_equal(count_keys(f, "td/ext/"), 0);
}

/* One refused request: its body, __type and message. */
struct refusal {
	const char *body, *type, *msg;
};

#define FAM    "'family':'bad',"
#define WEB    "{'name':'web','image':'busybox','memory':128}"
#define CLIENT "ClientException"

static const struct refusal refusals[] = {
	/* family */
	{ "{'family':'bad name','containerDefinitions':[" WEB "]}", CLIENT,
	  "Invalid family 'bad name'. Up to 255 letters (uppercase and lowercase), numbers, "
	  "underscores, and hyphens are allowed." },
	{ "{'family':'','containerDefinitions':[" WEB "]}", CLIENT,
	  "Invalid family ''. Up to 255 letters (uppercase and lowercase), numbers, "
	  "underscores, and hyphens are allowed." },
	/* container count */
	{ "{" FAM "'containerDefinitions':[]}", CLIENT, "Container list cannot be empty." },
	{ "{" FAM "'containerDefinitions':[" WEB "," WEB "," WEB "," WEB "," WEB "," WEB "," WEB
	  "," WEB "," WEB "," WEB "," WEB "]}",
	  CLIENT, "Too many containers." },
	/* names and images */
	{ "{" FAM "'containerDefinitions':[{'image':'busybox','memory':64}]}", CLIENT,
	  "Container.name should not be null or empty." },
	{ "{" FAM "'containerDefinitions':[{'name':'we b','image':'busybox','memory':64}]}", CLIENT,
	  "Container.name contains invalid characters." },
	{ "{" FAM "'containerDefinitions':[" WEB "," WEB "]}", CLIENT,
	  "Container names must be unique within a Task Definition." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','memory':64}]}", CLIENT,
	  "Container.image should not be null or empty." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'','memory':64}]}", CLIENT,
	  "Container.image should not be null or empty." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'bad image','memory':64}]}",
	  CLIENT, "Container.image contains invalid characters." },
	/* memory and cpu */
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox'}]}", CLIENT,
	  "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' "
	  "must be specified." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':5}]}", CLIENT,
	  "Invalid 'memory' setting for container 'web'. The minimum is 6 MiB." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memoryReservation':4}]}",
	  CLIENT,
	  "Invalid 'memoryReservation' setting for container 'web'. The minimum is 6 MiB." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':256,"
	  "'memoryReservation':300}]}",
	  CLIENT,
	  "Invalid 'memoryReservation' setting for container 'web'. It must not be greater than "
	  "'memory'." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'cpu':-1}]}",
	  CLIENT, "Invalid 'cpu' setting for container 'web'." },
	{ "{" FAM "'memory':'512','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':1024}]}",
	  CLIENT, "The 'memory' setting for container 'web' is greater than for the task." },
	{ "{" FAM "'cpu':'256','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':64,'cpu':200},{'name':'b','image':'busybox','memory':64,'cpu':100}]}",
	  CLIENT,
	  "The sum of all container 'cpu' values cannot be greater than the value of the task "
	  "'cpu'." },
	{ "{" FAM "'memory':'512','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memoryReservation':300},{'name':'b','image':'busybox','memory':300}]}",
	  CLIENT,
	  "The sum of all container 'memoryReservation' values cannot be greater than the value "
	  "of the task 'memory'." },
	{ "{" FAM "'cpu':'1.3 vCPU','containerDefinitions':[" WEB "]}", CLIENT,
	  "Invalid 'cpu' setting for task." },
	{ "{" FAM "'cpu':'64','containerDefinitions':[" WEB "]}", CLIENT,
	  "Invalid 'cpu' setting for task." },
	{ "{" FAM "'cpu':'lots','containerDefinitions':[" WEB "]}", CLIENT,
	  "Invalid 'cpu' setting for task." },
	{ "{" FAM "'memory':'1TB','containerDefinitions':[" WEB "]}", CLIENT,
	  "Invalid 'memory' setting for task." },
	{ "{" FAM "'memory':'','containerDefinitions':[" WEB "]}", CLIENT,
	  "Invalid 'memory' setting for task." },
	/* essential */
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'essential':false}]}",
	  CLIENT, "Task definition doesn't have any essential container." },
	/* port mappings */
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'hostPort':80}]}]}",
	  CLIENT, "Invalid 'containerPort' setting for container 'web'." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'containerPort':70000}]}]}",
	  CLIENT, "Invalid 'containerPort' setting for container 'web'." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'containerPort':80,'hostPort':65536}]}]}",
	  CLIENT, "Invalid 'hostPort' setting for container 'web'." },
	{ "{" FAM "'networkMode':'awsvpc','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':64,'portMappings':[{'containerPort':80,'hostPort':8080}]}]}",
	  CLIENT,
	  "When networkMode=awsvpc, the host ports and container ports in port mappings "
	  "must match." },
	{ "{" FAM "'networkMode':'host','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':64,'portMappings':[{'containerPort':80,'hostPort':8080}]}]}",
	  CLIENT,
	  "When networkMode=host, the host ports and container ports in port mappings "
	  "must match." },
	{ "{" FAM "'networkMode':'none','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':64,'portMappings':[{'containerPort':80}]}]}",
	  CLIENT,
	  "Invalid 'portMappings' setting for container 'web'. Port mappings are not "
	  "supported when networkMode=none." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'containerPort':80,'hostPort':8080}]},{'name':'b','image':'busybox',"
	  "'memory':64,'portMappings':[{'containerPort':81,'hostPort':8080}]}]}",
	  CLIENT,
	  "Invalid 'portMappings' setting for container 'b'. Host port 8080/tcp is "
	  "already used by container 'web'." },
	{ "{" FAM "'networkMode':'awsvpc','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':64,'portMappings':[{'containerPort':80}]},{'name':'b','image':'busybox',"
	  "'memory':64,'portMappings':[{'containerPort':80}]}]}",
	  CLIENT,
	  "Invalid 'portMappings' setting for container 'b'. Host port 80/tcp is already "
	  "used by container 'web'." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'containerPort':53},{'containerPort':53,'protocol':'udp'}]}]}",
	  CLIENT,
	  "Invalid 'portMappings' setting for container 'web'. Container port 53 is in "
	  "more than one port mapping." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'containerPortRange':'9000-9100','hostPort':9000}]}]}",
	  CLIENT,
	  "Invalid 'containerPortRange' setting for container 'web'. containerPort and "
	  "hostPort must not be specified with a containerPortRange." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'containerPortRange':'9100-9000'}]}]}",
	  CLIENT, "Invalid 'containerPortRange' setting for container 'web'." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'portMappings':[{'containerPort':80,'name':'-http'}]}]}",
	  CLIENT,
	  "Invalid 'portMappings' setting for container 'web'. The name '-http' must be up "
	  "to 64 lowercase letters, numbers, underscores and hyphens, and not start with a "
	  "hyphen." },
	/* links */
	{ "{" FAM "'networkMode':'awsvpc','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':64,'links':['b']},{'name':'b','image':'busybox','memory':64}]}",
	  CLIENT, "Links are not supported when networkMode=awsvpc." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'links':['nobody:alias']}]}",
	  CLIENT,
	  "Invalid 'links' setting for container 'web'. 'nobody:alias' does not name "
	  "another container of the task definition (name or name:alias)." },
	/* dependsOn */
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'dependsOn':[{'containerName':'nobody','condition':'START'}]}]}",
	  CLIENT,
	  "Invalid 'dependsOn' setting for container 'web'. 'nobody' is not another "
	  "container of the task definition." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'dependsOn':[{'containerName':'web','condition':'START'}]}]}",
	  CLIENT,
	  "Invalid 'dependsOn' setting for container 'web'. 'web' is not another "
	  "container of the task definition." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'dependsOn':[{'containerName':'b','condition':'COMPLETE'}]},"
	  "{'name':'b','image':'busybox','memory':64}]}",
	  CLIENT,
	  "A dependency container with SUCCESS or COMPLETE condition cannot be an "
	  "essential container" },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'dependsOn':[{'containerName':'b','condition':'HEALTHY'}]},"
	  "{'name':'b','image':'busybox','memory':64}]}",
	  CLIENT,
	  "Invalid 'dependsOn' setting for container 'web'. Container 'b' has no "
	  "healthCheck for the HEALTHY condition." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'dependsOn':[{'containerName':'b','condition':'START'}]},"
	  "{'name':'b','image':'busybox','memory':64,"
	  "'dependsOn':[{'containerName':'web','condition':'START'}]}]}",
	  CLIENT,
	  "Invalid 'dependsOn' setting for container 'web'. The dependencies form a "
	  "cycle." },
	/* health checks */
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'healthCheck':{'command':['true']}}]}",
	  CLIENT,
	  "Invalid 'healthCheck' setting for container 'web'. The command must start with "
	  "CMD or CMD-SHELL followed by what to run." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'healthCheck':{'command':['CMD','true'],'interval':4}}]}",
	  CLIENT,
	  "Invalid 'healthCheck' setting for container 'web'. 'interval' must be between "
	  "5 and 300 seconds." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'healthCheck':{'command':['CMD','true'],'timeout':61}}]}",
	  CLIENT,
	  "Invalid 'healthCheck' setting for container 'web'. 'timeout' must be between "
	  "2 and 60 seconds." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'healthCheck':{'command':['CMD','true'],'retries':0}}]}",
	  CLIENT,
	  "Invalid 'healthCheck' setting for container 'web'. 'retries' must be between "
	  "1 and 10." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'healthCheck':{'command':['CMD','true'],'startPeriod':301}}]}",
	  CLIENT,
	  "Invalid 'healthCheck' setting for container 'web'. 'startPeriod' must be "
	  "between 0 and 300 seconds." },
	/* volumes, mount points, volumesFrom */
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'mountPoints':[{'sourceVolume':'data','containerPath':'/d'}]}]}",
	  CLIENT, "Unknown volume 'data'." },
	{ "{" FAM "'volumes':[{'name':'data'}],'containerDefinitions':[{'name':'web',"
	  "'image':'busybox','memory':64,'mountPoints':[{'containerPath':'/d'}]}]}",
	  CLIENT, "Unknown volume 'null'." },
	{ "{" FAM "'volumes':[{'name':'data'}],'containerDefinitions':[{'name':'web',"
	  "'image':'busybox','memory':64,'mountPoints':[{'sourceVolume':'data'}]}]}",
	  CLIENT,
	  "Invalid 'mountPoints' setting for container 'web'. containerPath should not be "
	  "blank." },
	{ "{" FAM "'volumes':[{'name':'data'},{'name':'data'}],'containerDefinitions':[" WEB "]}",
	  CLIENT, "Volume names must be unique within a Task Definition." },
	{ "{" FAM "'volumes':[{'name':'da ta'}],'containerDefinitions':[" WEB "]}", CLIENT,
	  "Volume.name contains invalid characters." },
	{ "{" FAM "'volumes':[{'host':{}}],'containerDefinitions':[" WEB "]}", CLIENT,
	  "Volume.name should not be null or empty." },
	{ "{" FAM
	  "'volumes':[{'name':'v','host':{'sourcePath':'rel'}}],'containerDefinitions':[" WEB "]}",
	  CLIENT, "Invalid setting for volume 'v'. host.sourcePath must be an absolute path." },
	{ "{" FAM "'volumes':[{'name':'v','host':{},'dockerVolumeConfiguration':{}}],"
	  "'containerDefinitions':[" WEB "]}",
	  CLIENT,
	  "Invalid setting for volume 'v'. Only one of 'host', 'dockerVolumeConfiguration', "
	  "'efsVolumeConfiguration', 's3filesVolumeConfiguration', "
	  "'fsxWindowsFileServerVolumeConfiguration' or 'configuredAtLaunch' can be "
	  "specified." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'volumesFrom':[{'sourceContainer':'nobody'}]}]}",
	  CLIENT,
	  "Invalid 'volumesFrom' setting for container 'web'. sourceContainer 'nobody' is "
	  "not another container of the task definition." },
	/* ulimits, logs, networking options */
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'ulimits':[{'name':'nofile','softLimit':10,'hardLimit':5}]}]}",
	  CLIENT,
	  "Invalid 'ulimits' setting for container 'web'. The softLimit of 'nofile' is "
	  "greater than its hardLimit." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'ulimits':[{'name':'nofile','softLimit':1,'hardLimit':5},"
	  "{'name':'nofile','softLimit':1,'hardLimit':5}]}]}",
	  CLIENT,
	  "Invalid 'ulimits' setting for container 'web'. 'nofile' is given more than "
	  "once." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'logConfiguration':{'logDriver':'awslogs'}}]}",
	  CLIENT, "Log driver awslogs requires options: awslogs-region, awslogs-group" },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'logConfiguration':{'logDriver':'awslogs','options':{'awslogs-region':'r'}}}]}",
	  CLIENT, "Log driver awslogs requires options: awslogs-group" },
	{ "{" FAM "'networkMode':'awsvpc','containerDefinitions':[{'name':'web','image':'busybox',"
	  "'memory':64,'hostname':'h'}]}",
	  CLIENT,
	  "Invalid 'hostname' setting for container 'web'. hostname is not supported when "
	  "networkMode=awsvpc." },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':64,"
	  "'stopTimeout':-1}]}",
	  CLIENT, "Invalid 'stopTimeout' setting for container 'web'." },
	/* task level */
	{ "{" FAM "'placementConstraints':[{'type':'memberOf'}],'containerDefinitions':[" WEB "]}",
	  CLIENT, "A memberOf placement constraint requires an expression." },
	{ "{" FAM "'proxyConfiguration':{'containerName':'nobody'},'containerDefinitions':[" WEB
	  "]}",
	  CLIENT,
	  "Invalid 'proxyConfiguration' setting. containerName 'nobody' is not a "
	  "container of the task definition." },
	/* tags, checked by tags.c's rules */
	{ "{" FAM "'tags':[{'key':'aws:x','value':'y'}],'containerDefinitions':[" WEB "]}",
	  "InvalidParameterException",
	  "Tag keys starting with 'aws:' are reserved for AWS use: 'aws:x'" },
	/* the model's checks still come first */
	{ "{" FAM "'networkMode':'nat','containerDefinitions':[" WEB "]}",
	  "InvalidParameterException", NULL },
	{ "{" FAM "'containerDefinitions':[{'name':'web','image':'busybox','memory':'lots'}]}",
	  "SerializationException", NULL },
};

static void test_refusals_store_nothing(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		fails(f, "RegisterTaskDefinition", refusals[i].body, refusals[i].type,
		      refusals[i].msg);
	assert_int_equal(count_keys(f, "td/"), 0);
	assert_int_equal(count_keys(f, "tdfam/"), 0);
	/* and the same bodies made valid are accepted: the checks are not too strict */
	call_ok(f, "RegisterTaskDefinition",
		"{'family':'bad','networkMode':'awsvpc','containerDefinitions':[{'name':'web',"
		"'image':'busybox','memory':64,'portMappings':[{'containerPort':80,'hostPort':80}]}"
		","
		"{'name':'b','image':'busybox','memory':64,'memoryReservation':64,"
		"'portMappings':[{'containerPort':81}]}]}");
	call_ok(f, "RegisterTaskDefinition",
		"{'family':'bad','memory':'512','cpu':'256','containerDefinitions':[{'name':'web',"
		"'image':'busybox','memoryReservation':256,'cpu':128},{'name':'b',"
		"'image':'busybox@sha256:0123','memory':256,'cpu':128,'essential':false,"
		"'portMappings':[{'containerPortRange':'9000-9100'},{'containerPort':53},"
		"{'containerPort':54,'protocol':'udp','name':'dns_1'}],'links':['web:w']}]}");
	assert_int_equal(count_keys(f, "td/bad/"), 2);
}

static void test_revisions(void **state)
{
	struct fixture *f = *state;
	struct buf v = BUF_INIT;
	struct err err = ERR_INIT;
	cJSON *fam;

	assert_int_equal(reg(f, "web"), 1);
	assert_int_equal(reg(f, "web"), 2);
	assert_int_equal(reg(f, "api"), 1);
	assert_int_equal(reg(f, "web"), 3);
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:3'}");
	call_ok(f, "DeleteTaskDefinitions", "{'taskDefinitions':['web:3']}");
	/* never reused, even after deletion */
	assert_int_equal(reg(f, "web"), 4);
	assert_int_equal(store_get(f->store, "tdfam/web", &v, NULL, &err), 0);
	fam = cJSON_Parse(buf_str(&v));
	assert_int_equal(json_int(fam, "last", 0), 4);
	assert_int_equal(json_int(fam, "active", -1), 3);
	assert_int_equal(json_int(fam, "inactive", -1), 0);
	cJSON_Delete(fam);
	buf_release(&v);
}

#define THREADS	   4
#define PER_THREAD 6

static void *register_many(void *arg)
{
	struct fixture *f = arg;
	int64_t *got = calloc(PER_THREAD, sizeof(*got));

	for (int i = 0; i < PER_THREAD; i++)
		got[i] = reg(f, "busy");
	return got;
}

static void test_concurrent_registrations(void **state)
{
	struct fixture *f = *state;
	pthread_t th[THREADS];
	bool seen[THREADS * PER_THREAD + 1] = { false };

	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, register_many, f);
	for (int i = 0; i < THREADS; i++) {
		int64_t *got;

		pthread_join(th[i], (void **)&got);
		for (int j = 0; j < PER_THREAD; j++) {
			assert_in_range(got[j], 1, THREADS * PER_THREAD);
			assert_false(seen[got[j]]);
			seen[got[j]] = true;
		}
		free(got);
	}
	assert_int_equal(count_keys(f, "td/busy/"), THREADS * PER_THREAD);
}

static void assert_describes(struct fixture *f, const char *ref, const char *want_arn)
{
	char body[512];
	cJSON *out;

	snprintf(body, sizeof(body), "{'taskDefinition':'%s'}", ref);
	out = ok(f, "DescribeTaskDefinition", body);
	assert_string_equal(json_str(json_obj(out, "taskDefinition"), "taskDefinitionArn"),
			    want_arn);
	assert_false(json_has(out, "tags"));
	cJSON_Delete(out);
}

static void test_describe(void **state)
{
	struct fixture *f = *state;
	cJSON *out;

	reg(f, "web");
	reg(f, "web");
	reg(f, "web");
	assert_describes(f, "web", ARN("web:3"));
	assert_describes(f, "web:2", ARN("web:2"));
	assert_describes(f, ARN("web:1"), ARN("web:1"));
	assert_describes(f, ARN("web"), ARN("web:3"));
	/* the family names its latest ACTIVE revision; INACTIVE ones by revision */
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:3'}");
	assert_describes(f, "web", ARN("web:2"));
	out = ok(f, "DescribeTaskDefinition", "{'taskDefinition':'web:3','include':['TAGS']}");
	assert_string_equal(json_str(json_obj(out, "taskDefinition"), "status"), "INACTIVE");
	assert_true(cJSON_IsNumber(json_get(json_obj(out, "taskDefinition"), "deregisteredAt")));
	assert_json(json_get(out, "tags"), "[{'key':'team','value':'blue'}]");
	cJSON_Delete(out);
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:2'}");
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:1'}");

	static const char *const missing[] = {
		"web",
		"web:4",
		"nope",
		"nope:1",
		"web:x",
		"web:0",
		"bad name",
		"arn:aws:ecs:us-east-1:111111111111:task-definition/web:1",
		"arn:aws:ecs:eu-west-1:000000000000:task-definition/web:1",
		"arn:aws:ecs:us-east-1:000000000000:cluster/web",
	};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		char body[256];

		snprintf(body, sizeof(body), "{'taskDefinition':'%s'}", missing[i]);
		fails(f, "DescribeTaskDefinition", body, CLIENT,
		      "Unable to describe task definition.");
	}
}

/* The ARNs ListTaskDefinitions answers for body, following nextToken to the end. */
static void list_all(struct fixture *f, const char *op, const char *key, const char *body,
		     struct buf *ret, int *ret_pages)
{
	char *token = NULL;

	*ret_pages = 0;
	do {
		struct buf req = BUF_INIT;
		cJSON *out;
		const cJSON *v;

		buf_puts(&req, body);
		if (token) {
			req.len--; /* drop the closing brace */
			buf_printf(&req, "%s'nextToken':'%s'}", req.len > 1 ? "," : "", token);
		}
		out = ok(f, op, buf_str(&req));
		(*ret_pages)++;
		cJSON_ArrayForEach(v, json_arr(out, key)) {
			const char *s = v->valuestring;
			const char *slash = strrchr(s, '/');

			buf_printf(ret, "%s ", slash ? slash + 1 : s);
		}
		free(token);
		token = json_str(out, "nextToken") ? strdup(json_str(out, "nextToken")) : NULL;
		cJSON_Delete(out);
		buf_release(&req);
		assert_true(*ret_pages < 100);
	} while (token);
}

static void setup_families(struct fixture *f)
{
	/* web-api sorts after web as ECS sorts names, though td/web-api/ < td/web/ */
	reg(f, "web");
	reg(f, "web-api");
	reg(f, "api");
	reg(f, "web");
	reg(f, "web");
	reg(f, "web-api");
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:2'}");
	reg(f, "old");
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'old:1'}");
}

static void assert_list(struct fixture *f, const char *body, const char *want)
{
	struct buf got = BUF_INIT;
	int pages;

	list_all(f, "ListTaskDefinitions", "taskDefinitionArns", body, &got, &pages);
	assert_string_equal(buf_str(&got), want);
	buf_release(&got);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct buf got = BUF_INIT;
	int pages;

	setup_families(f);
	assert_list(f, "{}", "api:1 web:1 web:3 web-api:1 web-api:2 ");
	assert_list(f, "{'sort':'ASC'}", "api:1 web:1 web:3 web-api:1 web-api:2 ");
	assert_list(f, "{'sort':'DESC'}", "web-api:2 web-api:1 web:3 web:1 api:1 ");
	assert_list(f, "{'familyPrefix':'web'}", "web:1 web:3 ");
	assert_list(f, "{'familyPrefix':'web','sort':'DESC'}", "web:3 web:1 ");
	/* a whole family name, not a prefix */
	assert_list(f, "{'familyPrefix':'we'}", "");
	assert_list(f, "{'familyPrefix':'no such'}", "");
	assert_list(f, "{'status':'INACTIVE'}", "old:1 web:2 ");
	assert_list(f, "{'status':'DELETE_IN_PROGRESS'}", "");

	/* pages of every size walk the same list, each page but the last full */
	for (int n = 1; n <= 6; n++) {
		char body[64];

		buf_reset(&got);
		snprintf(body, sizeof(body), "{'maxResults':%d}", n);
		list_all(f, "ListTaskDefinitions", "taskDefinitionArns", body, &got, &pages);
		assert_string_equal(buf_str(&got), "api:1 web:1 web:3 web-api:1 web-api:2 ");
		assert_int_equal(pages, (5 + n - 1) / n);
		buf_reset(&got);
		snprintf(body, sizeof(body), "{'maxResults':%d,'sort':'DESC'}", n);
		list_all(f, "ListTaskDefinitions", "taskDefinitionArns", body, &got, &pages);
		assert_string_equal(buf_str(&got), "web-api:2 web-api:1 web:3 web:1 api:1 ");
	}
	buf_reset(&got);
	list_all(f, "ListTaskDefinitions", "taskDefinitionArns",
		 "{'maxResults':1,'familyPrefix':'web'}", &got, &pages);
	assert_string_equal(buf_str(&got), "web:1 web:3 ");
	buf_release(&got);

	fails(f, "ListTaskDefinitions", "{'maxResults':0}", "InvalidParameterException",
	      "maxResults must be between 1 and 100, not 0");
	fails(f, "ListTaskDefinitions", "{'maxResults':101}", "InvalidParameterException",
	      "maxResults must be between 1 and 100, not 101");
	fails(f, "ListTaskDefinitions", "{'nextToken':'!!'}", "InvalidParameterException",
	      "The nextToken '!!' is not valid for this request");
	/* a token of another family's list */
	{
		cJSON *out = ok(f, "ListTaskDefinitions", "{'maxResults':1,'familyPrefix':'web'}");
		char body[256];

		snprintf(body, sizeof(body), "{'familyPrefix':'api','nextToken':'%s'}",
			 json_str(out, "nextToken"));
		fails(f, "ListTaskDefinitions", body, "InvalidParameterException", NULL);
		cJSON_Delete(out);
	}
}

static void assert_families(struct fixture *f, const char *body, const char *want)
{
	struct buf got = BUF_INIT;
	int pages;

	list_all(f, "ListTaskDefinitionFamilies", "families", body, &got, &pages);
	assert_string_equal(buf_str(&got), want);
	buf_release(&got);
}

static void test_families(void **state)
{
	struct fixture *f = *state;

	setup_families(f);
	/* the API reference: both ACTIVE and INACTIVE families by default */
	assert_families(f, "{}", "api old web web-api ");
	assert_families(f, "{'status':'ALL'}", "api old web web-api ");
	assert_families(f, "{'status':'ACTIVE'}", "api web web-api ");
	assert_families(f, "{'status':'INACTIVE'}", "old ");
	assert_families(f, "{'familyPrefix':'we'}", "web web-api ");
	assert_families(f, "{'familyPrefix':'web-'}", "web-api ");
	assert_families(f, "{'familyPrefix':'x'}", "");
	for (int n = 1; n <= 4; n++) {
		char body[64];

		snprintf(body, sizeof(body), "{'maxResults':%d}", n);
		assert_families(f, body, "api old web web-api ");
	}
	/* a family whose revisions are all deleted is no longer listed */
	call_ok(f, "DeleteTaskDefinitions", "{'taskDefinitions':['old:1']}");
	assert_families(f, "{}", "api web web-api ");
	assert_families(f, "{'status':'INACTIVE'}", "");
	fails(f, "ListTaskDefinitionFamilies", "{'maxResults':101}", "InvalidParameterException",
	      NULL);
}

static void test_deregister(void **state)
{
	struct fixture *f = *state;
	cJSON *out;
	const cJSON *td;
	double at;

	reg(f, "web");
	reg(f, "web");
	out = ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'" ARN("web:1") "'}");
	td = json_obj(out, "taskDefinition");
	assert_string_equal(json_str(td, "status"), "INACTIVE");
	assert_int_equal(json_int(td, "revision", 0), 1);
	assert_true(cJSON_IsNumber(json_get(td, "deregisteredAt")));
	at = json_get(td, "deregisteredAt")->valuedouble;
	assert_false(json_has(out, "tags"));
	cJSON_Delete(out);
	/* again: answered as it is, unchanged */
	out = ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:1'}");
	assert_string_equal(json_str(json_obj(out, "taskDefinition"), "status"), "INACTIVE");
	assert_true(json_get(json_obj(out, "taskDefinition"), "deregisteredAt")->valuedouble == at);
	cJSON_Delete(out);

	fails(f, "DeregisterTaskDefinition", "{'taskDefinition':'web'}", CLIENT,
	      "Revision is missing.");
	fails(f, "DeregisterTaskDefinition", "{'taskDefinition':'" ARN("web") "'}", CLIENT,
	      "Revision is missing.");
	fails(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:x'}",
	      "InvalidParameterException", "Invalid revision number. Number: x");
	fails(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:9'}", CLIENT,
	      "Unable to describe task definition.");
	fails(f, "DeregisterTaskDefinition", "{'taskDefinition':'nope:1'}", CLIENT,
	      "Unable to describe task definition.");
	fails(f, "DeregisterTaskDefinition",
	      "{'taskDefinition':'arn:aws:ecs:us-east-1:111111111111:task-definition/web:2'}",
	      CLIENT, "Unable to describe task definition.");
	assert_list(f, "{}", "web:2 ");
	assert_list(f, "{'status':'INACTIVE'}", "web:1 ");
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	cJSON *out;
	const cJSON *v;

	reg(f, "web");
	reg(f, "web");
	reg(f, "web");
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:1'}");
	call_ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:3'}");
	out = ok(f, "DeleteTaskDefinitions",
		 "{'taskDefinitions':['web:1','" ARN("web:2") "','web:9','web','bad name:1',"
							      "'" ARN("web:3") "']}");
	v = json_arr(out, "taskDefinitions");
	assert_int_equal(cJSON_GetArraySize(v), 2);
	assert_string_equal(json_str(v->child, "taskDefinitionArn"), ARN("web:1"));
	assert_string_equal(json_str(v->child, "status"), "DELETE_IN_PROGRESS");
	assert_true(cJSON_IsNumber(json_get(v->child, "deleteRequestedAt")));
	assert_string_equal(json_str(v->child->next, "taskDefinitionArn"), ARN("web:3"));
	assert_json(
		json_get(out, "failures"),
		"[{'arn':'" ARN(
			"web:2") "','reason':'The specified task definition is still in "
				 "ACTIVE status. Please deregister the target and try again.'},"
				 "{'arn':'" ARN(
					 "web:9") "','reason':'The specified task definition does "
						  "not "
						  "exist. Specify a valid account, family, "
						  "revision and try again.'},"
						  "{'arn':'web','reason':'The specified task "
						  "definition identifier is invalid. "
						  "Specify a valid name or ARN and try again.'},"
						  "{'arn':'bad name:1','reason':'The specified "
						  "task definition identifier is "
						  "invalid. Specify a valid name or ARN and try "
						  "again.'}]");
	cJSON_Delete(out);
	/* still describable, listed under its status, and deleting again is harmless */
	out = ok(f, "DescribeTaskDefinition", "{'taskDefinition':'web:1'}");
	assert_string_equal(json_str(json_obj(out, "taskDefinition"), "status"),
			    "DELETE_IN_PROGRESS");
	cJSON_Delete(out);
	assert_list(f, "{'status':'DELETE_IN_PROGRESS'}", "web:1 web:3 ");
	assert_list(f, "{'status':'INACTIVE'}", "");
	out = ok(f, "DeleteTaskDefinitions", "{'taskDefinitions':['web:1']}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "taskDefinitions")), 1);
	assert_json(json_get(out, "failures"), "[]");
	cJSON_Delete(out);
	/* deregistering a deleted revision leaves it deleted */
	out = ok(f, "DeregisterTaskDefinition", "{'taskDefinition':'web:1'}");
	assert_string_equal(json_str(json_obj(out, "taskDefinition"), "status"),
			    "DELETE_IN_PROGRESS");
	cJSON_Delete(out);

	fails(f, "DeleteTaskDefinitions", "{'taskDefinitions':[]}", "InvalidParameterException",
	      "size of TaskDefinition references list must be greater than 0");
	fails(f, "DeleteTaskDefinitions",
	      "{'taskDefinitions':['a:1','a:2','a:3','a:4','a:5','a:6','a:7','a:8','a:9','a:10',"
	      "'a:11']}",
	      "InvalidParameterException",
	      "Size of TaskDefinition references list cannot exceed 10");
}

static void test_tags(void **state)
{
	struct fixture *f = *state;
	cJSON *out;

	reg(f, "web");
	call_ok(f, "TagResource",
		"{'resourceArn':'" ARN("web:1") "','tags':[{'key':'env','value':'prod'}]}");
	out = ok(f, "ListTagsForResource", "{'resourceArn':'" ARN("web:1") "'}");
	assert_json(json_get(out, "tags"),
		    "[{'key':'team','value':'blue'},{'key':'env','value':'prod'}]");
	cJSON_Delete(out);
	call_ok(f, "UntagResource", "{'resourceArn':'" ARN("web:1") "','tagKeys':['team']}");
	out = ok(f, "DescribeTaskDefinition", "{'taskDefinition':'web','include':['TAGS']}");
	assert_json(json_get(out, "tags"), "[{'key':'env','value':'prod'}]");
	/* tagging leaves the task definition as it was */
	assert_string_equal(json_str(json_obj(out, "taskDefinition"), "status"), "ACTIVE");
	assert_false(json_has(json_obj(out, "taskDefinition"), "tags"));
	cJSON_Delete(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_size_conversion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fargate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_store_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_registrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
	};

	return cmocka_run_group_tests_name("task_definitions", tests, NULL, NULL);
}
