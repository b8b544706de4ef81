/*
 * fuzz_query.c: libFuzzer target over the cluster query language
 * (src/sched/query.c), whose expressions come from any client's RunTask
 * and CreateService: parse the input, and when it parses, evaluate it
 * against an instance with a few attributes and a task.
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
	"\"registeredAt\":1700000000000,\"runningTasksCount\":2,"
	"\"versionInfo\":{\"agentVersion\":\"0.1.0\"},"
	"\"attributes\":[{\"name\":\"ecs.os-type\",\"value\":\"linux\"},"
	"{\"name\":\"ecs.availability-zone\",\"value\":\"us-east-1a\"},{\"name\":\"flag\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cJSON *doc, *task;
	struct placement_expr *e = NULL;
	struct err err = ERR_INIT;
	char *s;

	if (!doc) {
		doc = cJSON_Parse(INSTANCE);
		task = cJSON_Parse("{\"group\":\"service:web\"}");
	}
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (placement_expr_parse(s, &e, &err) == 0) {
		const cJSON *tasks[1] = { task };
		struct placement_instance inst = { .doc = doc, .tasks = tasks, .n_tasks = 1 };

		placement_expr_match(e, &inst);
		placement_expr_free(e);
	}
	free(s);
	return 0;
}
