/*
 * fuzz_query.c: libFuzzer target over the cluster query language
 * (src/sched/query.c), whose expressions come from any client's RunTask,
 * CreateService, RegisterTaskDefinition and ListContainerInstances: parse
 * the input, and when it parses, evaluate it against an instance with
 * attributes and tasks and against a bare one, then use it as a memberOf
 * constraint in a placement.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "sched/placement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char INSTANCE[] =
	"{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:000000000000:container-instance/c/i\","
	"\"ec2InstanceId\":\"i-0123\",\"status\":\"ACTIVE\",\"agentConnected\":true,"
	"\"registeredAt\":1529360908000,\"runningTasksCount\":2,"
	"\"versionInfo\":{\"agentVersion\":\"1.14.5\"},"
	"\"remainingResources\":[{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":1024},"
	"{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":1024}],"
	"\"attributes\":[{\"name\":\"ecs.os-type\",\"value\":\"linux\"},"
	"{\"name\":\"ecs.instance-type\",\"value\":\"g2.2xlarge\"},"
	"{\"name\":\"ecs.availability-zone\",\"value\":\"us-east-1a\"},{\"name\":\"flag\"},"
	"{\"name\":\"cores\",\"value\":\"16\"}]}";

static const char BARE[] = "{\"containerInstanceArn\":\"b\",\"status\":\"ACTIVE\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cJSON *doc, *bare, *tasks[2];
	struct placement_expr *e = NULL;
	struct err err = ERR_INIT;
	char *s;

	if (!doc) {
		doc = cJSON_Parse(INSTANCE);
		bare = cJSON_Parse(BARE);
		tasks[0] = cJSON_Parse("{\"group\":\"service:web\"}");
		tasks[1] = cJSON_Parse("{\"group\":\"family:db\"}");
	}
	if (size > PLACEMENT_EXPR_MAX + 16)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (placement_expr_parse(s, &e, &err) == 0) {
		const cJSON *const ptrs[2] = { tasks[0], tasks[1] };
		struct placement_instance inst[2] = {
			{ .doc = doc, .tasks = ptrs, .n_tasks = 2 },
			{ .doc = bare },
		};
		struct placement_needs needs = { .cpu = 256, .memory = 256 };
		cJSON *constraints = cJSON_CreateArray(), *c = cJSON_CreateObject();
		cJSON *failures = cJSON_CreateArray();
		struct placement_request req = {
			.needs = &needs,
			.group = "service:web",
			.constraints = constraints,
			.count = 2,
		};
		int choice[2];

		placement_expr_match(e, &inst[0]);
		placement_expr_match(e, &inst[1]);
		placement_expr_uses_tasks(e);
		placement_expr_free(e);
		cJSON_AddStringToObject(c, "type", "memberOf");
		cJSON_AddStringToObject(c, "expression", s);
		cJSON_AddItemToArray(constraints, c);
		if (placement_choose(&req, inst, 2, choice, failures, &err) != 0)
			abort(); /* it parsed once: it must parse again */
		cJSON_Delete(constraints);
		cJSON_Delete(failures);
	}
	free(s);
	return 0;
}
