/*
 * test_placement.c: what a task needs, reserving and releasing it, each
 * strategy and their chains, every resource running out with ECS's reason,
 * port conflicts, distinctInstance, memberOf with the cluster query
 * language, and expressions the parser must refuse.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "sched/placement.h"

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	if (!j)
		fail_msg("bad JSON in test: %s", s);
	return j;
}

/* An instance document: id, cpu, memory, used ports, zone attribute, status, connected. */
static cJSON *instance(const char *id, int cpu, int mem, const char *ports, const char *zone,
		       const char *status, bool connected)
{
	char s[2048];

	snprintf(s, sizeof(s),
		 "{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:000000000000:container-"
		 "instance/c/%s\",\"status\":\"%s\",\"agentConnected\":%s,"
		 "\"remainingResources\":[{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":%"
		 "d},"
		 "{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":%d},"
		 "{\"name\":\"PORTS\",\"type\":\"STRINGSET\",\"stringSetValue\":[%s]},"
		 "{\"name\":\"PORTS_UDP\",\"type\":\"STRINGSET\",\"stringSetValue\":[]}],"
		 "\"attributes\":[{\"name\":\"ecs.os-type\",\"value\":\"linux\"},"
		 "{\"name\":\"ecs.availability-zone\",\"value\":\"%s\"},{\"name\":\"gpu\"}],"
		 "\"versionInfo\":{\"agentVersion\":\"0.1.0\"},\"runningTasksCount\":0}",
		 id, status, connected ? "true" : "false", cpu, mem, ports, zone);
	return parse(s);
}

struct cluster {
	cJSON *docs[8];
	struct placement_instance pi[8];
	size_t n;
};

static void add(struct cluster *c, cJSON *doc)
{
	c->docs[c->n] = doc;
	c->pi[c->n] = (struct placement_instance){ .doc = doc };
	c->n++;
}

static void release_cluster(struct cluster *c)
{
	for (size_t i = 0; i < c->n; i++)
		cJSON_Delete(c->docs[i]);
}

static const char TD[] = "{\"family\":\"web\",\"networkMode\":\"bridge\",\"containerDefinitions\":["
			 "{\"name\":\"a\",\"cpu\":256,\"memory\":512,\"portMappings\":["
			 "{\"containerPort\":80,\"hostPort\":8080},{\"containerPort\":81}]},"
			 "{\"name\":\"b\",\"cpu\":128,\"memoryReservation\":128,\"portMappings\":["
			 "{\"containerPort\":53,\"hostPort\":53,\"protocol\":\"udp\"}]}]}";

static void test_needs(void **state)
{
	cJSON *td = parse(TD), *over, *j;
	struct placement_needs n, back;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.cpu, 384);
	assert_int_equal(n.memory, 640);
	assert_int_equal(n.n_tcp, 1);
	assert_int_equal(n.tcp[0], 8080);
	assert_int_equal(n.n_udp, 1);
	assert_int_equal(n.udp[0], 53);
	over = parse("{\"containerOverrides\":[{\"name\":\"a\",\"memory\":1024,\"cpu\":10}]}");
	assert_int_equal(placement_task_needs(td, over, &n, &err), 0);
	assert_int_equal(n.cpu, 138);
	assert_int_equal(n.memory, 1152);
	cJSON_Delete(over);
	/* task-level sizes win */
	cJSON_AddStringToObject(td, "memory", "2048");
	cJSON_AddStringToObject(td, "cpu", "1024");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.memory, 2048);
	assert_int_equal(n.cpu, 1024);
	j = placement_needs_to_json(&n);
	placement_needs_from_json(j, &back);
	assert_int_equal(back.memory, 2048);
	assert_int_equal(back.tcp[0], 8080);
	assert_int_equal(back.udp[0], 53);
	cJSON_Delete(j);
	cJSON_Delete(td);

	td = parse(
		"{\"networkMode\":\"host\",\"containerDefinitions\":[{\"name\":\"a\",\"memory\":8,"
		"\"portMappings\":[{\"containerPort\":9000},{\"containerPort\":9000}]}]}");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "9000"));
	cJSON_Delete(td);
}

static void test_reserve_release(void **state)
{
	cJSON *inst = instance("i1", 2048, 4096, "\"22\"", "z1", "ACTIVE", true);
	cJSON *td = parse(TD);
	struct placement_needs n;
	struct err err = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	placement_reserve(inst, &n);
	s = cJSON_PrintUnformatted(json_get(inst, "remainingResources"));
	assert_non_null(strstr(s, "\"integerValue\":1664"));
	assert_non_null(strstr(s, "\"integerValue\":3456"));
	assert_non_null(strstr(s, "[\"22\",\"8080\"]"));
	assert_non_null(strstr(s, "[\"53\"]"));
	free(s);
	placement_release(inst, &n);
	s = cJSON_PrintUnformatted(json_get(inst, "remainingResources"));
	assert_non_null(strstr(s, "\"integerValue\":2048"));
	assert_non_null(strstr(s, "\"integerValue\":4096"));
	assert_non_null(strstr(s, "[\"22\"]"));
	free(s);
	cJSON_Delete(inst);
	cJSON_Delete(td);
}

static int choose(struct cluster *c, const char *td_json, const char *constraints,
		  const char *strategy, const char *group, unsigned count, int *choice,
		  cJSON **ret_failures, struct err *err)
{
	cJSON *td = parse(td_json);
	cJSON *cons = constraints ? parse(constraints) : NULL;
	cJSON *strat = strategy ? parse(strategy) : NULL;
	struct placement_needs n;
	int r = placement_task_needs(td, NULL, &n, err);
	struct placement_request req = {
		.needs = &n,
		.group = group ? group : "family:web",
		.constraints = cons,
		.strategy = strat,
		.count = count,
	};

	*ret_failures = cJSON_CreateArray();
	if (r == 0)
		r = placement_choose(&req, c->pi, c->n, choice, *ret_failures, err);
	cJSON_Delete(td);
	cJSON_Delete(cons);
	cJSON_Delete(strat);
	return r;
}

static const char SMALL[] =
	"{\"containerDefinitions\":[{\"name\":\"a\",\"cpu\":512,\"memory\":1024}]}";

static void test_spread_default_and_resources(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *f;
	int choice[10];

	(void)state;
	add(&c, instance("i1", 2048, 2048, "", "z1", "ACTIVE", true));
	add(&c, instance("i2", 2048, 2048, "", "z2", "ACTIVE", true));
	assert_int_equal(choose(&c, SMALL, NULL, NULL, NULL, 4, choice, &f, &err), 0);
	/* spread over instances by default: two each */
	assert_int_equal((choice[0] == 0) + (choice[1] == 0) + (choice[2] == 0) + (choice[3] == 0),
			 2);
	assert_null(f->child);
	cJSON_Delete(f);
	/* a fifth task finds no memory */
	assert_int_equal(choose(&c, SMALL, NULL, NULL, NULL, 5, choice, &f, &err), 0);
	assert_int_equal(choice[4], -1);
	assert_non_null(f->child);
	assert_string_equal(json_str(f->child, "reason"), "RESOURCE:MEMORY");
	cJSON_Delete(f);
	release_cluster(&c);

	memset(&c, 0, sizeof(c));
	add(&c, instance("i1", 256, 8192, "", "z1", "ACTIVE", true));
	assert_int_equal(choose(&c, SMALL, NULL, NULL, NULL, 1, choice, &f, &err), 0);
	assert_int_equal(choice[0], -1);
	assert_string_equal(json_str(f->child, "reason"), "RESOURCE:CPU");
	cJSON_Delete(f);
	release_cluster(&c);
}

static void test_ports_agent_status(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *f;
	int choice[2];
	static const char web[] = "{\"containerDefinitions\":[{\"name\":\"a\",\"memory\":64,"
				  "\"portMappings\":[{\"containerPort\":80,\"hostPort\":8081}]}]}";

	(void)state;
	add(&c, instance("i1", 4096, 4096, "\"22\",\"8081\"", "z1", "ACTIVE", true));
	add(&c, instance("i2", 4096, 4096, "", "z1", "ACTIVE", false));
	add(&c, instance("i3", 4096, 4096, "", "z1", "DRAINING", true));
	assert_int_equal(choose(&c, web, NULL, NULL, NULL, 1, choice, &f, &err), 0);
	assert_int_equal(choice[0], -1);
	{
		bool ports = false, agent = false;

		for (const cJSON *x = f->child; x; x = x->next) {
			ports |= !strcmp(json_str(x, "reason"), "RESOURCE:PORTS");
			agent |= !strcmp(json_str(x, "reason"), "AGENT");
		}
		assert_true(ports);
		assert_true(agent);
	}
	cJSON_Delete(f);
	release_cluster(&c);

	/* two tasks with one static port: the second needs another instance */
	memset(&c, 0, sizeof(c));
	add(&c, instance("i1", 4096, 4096, "", "z1", "ACTIVE", true));
	assert_int_equal(choose(&c, web, NULL, NULL, NULL, 2, choice, &f, &err), 0);
	assert_int_equal(choice[0], 0);
	assert_int_equal(choice[1], -1);
	assert_string_equal(json_str(f->child, "reason"), "RESOURCE:PORTS");
	cJSON_Delete(f);
	release_cluster(&c);
}

static void test_binpack_and_chains(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *f;
	int choice[4];

	(void)state;
	add(&c, instance("i1", 4096, 8192, "", "z1", "ACTIVE", true));
	add(&c, instance("i2", 4096, 2048, "", "z1", "ACTIVE", true));
	add(&c, instance("i3", 4096, 4096, "", "z2", "ACTIVE", true));
	/* binpack memory: the fullest that fits, again and again */
	assert_int_equal(choose(&c, SMALL, NULL, "[{\"type\":\"binpack\",\"field\":\"memory\"}]",
				NULL, 2, choice, &f, &err),
			 0);
	assert_int_equal(choice[0], 1);
	assert_int_equal(choice[1], 1);
	cJSON_Delete(f);
	/* spread over zones first, then binpack memory inside each */
	assert_int_equal(
		choose(&c, SMALL, NULL,
		       "[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},"
		       "{\"type\":\"binpack\",\"field\":\"memory\"}]",
		       NULL, 2, choice, &f, &err),
		0);
	assert_int_equal(choice[0], 1); /* z1 and z2 tie; z1's fullest is i2 */
	assert_int_equal(choice[1], 2); /* z2 now has fewer */
	cJSON_Delete(f);
	/* random picks one of those that fit */
	assert_int_equal(
		choose(&c, SMALL, NULL, "[{\"type\":\"random\"}]", NULL, 3, choice, &f, &err), 0);
	for (int i = 0; i < 3; i++)
		assert_true(choice[i] >= 0 && choice[i] < 3);
	cJSON_Delete(f);
	release_cluster(&c);
}

static void test_constraints(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *f, *task = parse("{\"group\":\"family:web\"}");
	const cJSON *tasks[1] = { task };
	int choice[3];

	(void)state;
	add(&c, instance("i1", 4096, 8192, "", "z1", "ACTIVE", true));
	add(&c, instance("i2", 4096, 8192, "", "z2", "ACTIVE", true));
	assert_int_equal(choose(&c, SMALL, "[{\"type\":\"distinctInstance\"}]", NULL, NULL, 3,
				choice, &f, &err),
			 0);
	assert_true(choice[0] >= 0 && choice[1] >= 0 && choice[0] != choice[1]);
	assert_int_equal(choice[2], -1);
	cJSON_Delete(f);
	assert_int_equal(choose(&c, SMALL,
				"[{\"type\":\"memberOf\",\"expression\":"
				"\"attribute:ecs.availability-zone == z2\"}]",
				NULL, NULL, 2, choice, &f, &err),
			 0);
	assert_int_equal(choice[0], 1);
	assert_int_equal(choice[1], 1);
	cJSON_Delete(f);
	assert_int_equal(choose(&c, SMALL,
				"[{\"type\":\"memberOf\",\"expression\":"
				"\"attribute:ecs.availability-zone in [z9, z8]\"}]",
				NULL, NULL, 1, choice, &f, &err),
			 0);
	assert_int_equal(choice[0], -1);
	assert_string_equal(json_str(f->child, "reason"), "ATTRIBUTE");
	cJSON_Delete(f);
	/* distinctInstance also counts the group's tasks already running */
	c.pi[0].tasks = tasks;
	c.pi[0].n_tasks = 1;
	assert_int_equal(choose(&c, SMALL, "[{\"type\":\"distinctInstance\"}]", NULL, NULL, 1,
				choice, &f, &err),
			 0);
	assert_int_equal(choice[0], 1);
	cJSON_Delete(f);
	/* task:group */
	assert_int_equal(
		choose(&c, SMALL,
		       "[{\"type\":\"memberOf\",\"expression\":\"task:group == family:web\"}]",
		       NULL, NULL, 1, choice, &f, &err),
		0);
	assert_int_equal(choice[0], 0);
	cJSON_Delete(f);
	cJSON_Delete(task);
	release_cluster(&c);
}

static bool matches(const char *expr, const cJSON *doc)
{
	struct placement_expr *e;
	struct err err = ERR_INIT;
	struct placement_instance inst = { .doc = doc };
	bool m;

	if (placement_expr_parse(expr, &e, &err) < 0)
		fail_msg("'%s' refused: %s", expr, err.msg);
	m = placement_expr_match(e, &inst);
	placement_expr_free(e);
	return m;
}

static void test_query_language(void **state)
{
	cJSON *doc = instance("i1", 1, 1, "", "us-east-1a", "ACTIVE", true);
	static const struct {
		const char *expr;
		bool want;
	} cases[] = {
		{ "attribute:ecs.os-type == linux", true },
		{ "attribute:ecs.os-type equals windows", false },
		{ "attribute:ecs.os-type != windows", true },
		{ "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true },
		{ "attribute:ecs.availability-zone not_in [us-east-1a]", false },
		{ "attribute:ecs.availability-zone matches us-east-*", true },
		{ "attribute:ecs.availability-zone !matches us-west-*", true },
		{ "attribute:gpu exists", true },
		{ "attribute:nothere exists", false },
		{ "attribute:nothere !exists", true },
		{ "attribute:nothere not_exists", true },
		{ "agentConnected == true", true },
		{ "runningTasksCount < 3", true },
		{ "runningTasksCount >= 1", false },
		{ "agentVersion == 0.1.0", true },
		{ "ec2InstanceId exists", false },
		{ "attribute:ecs.os-type == linux and agentConnected == true", true },
		{ "attribute:ecs.os-type == windows or runningTasksCount == 0", true },
		{ "not (attribute:ecs.os-type == linux)", false },
		{ "!(attribute:ecs.os-type == windows) && (runningTasksCount<1 || "
		  "agentConnected==false)",
		  true },
		{ "attribute:ecs.availability-zone == \"us-east-1a\"", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (matches(cases[i].expr, doc) != cases[i].want)
			fail_msg("'%s' should be %s", cases[i].expr,
				 cases[i].want ? "true" : "false");
	cJSON_Delete(doc);
}

static void test_query_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"attribute:",
		"ram == 4",
		"attribute:x",
		"attribute:x ==",
		"attribute:x in a",
		"attribute:x in [a, b",
		"attribute:x in []",
		"(attribute:x exists",
		"attribute:x exists)",
		"attribute:x == a and",
		"attribute:x == \"open",
		"and attribute:x exists",
		"attribute:x exists attribute:y exists",
	};
	char big[PLACEMENT_EXPR_MAX + 10];
	char deep[400] = { 0 };
	struct placement_expr *e;
	struct err err = ERR_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (placement_expr_parse(bad[i], &e, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.kind, E_INVALID_PARAMETER);
		assert_null(e);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(placement_expr_parse(big, &e, &err), -EINVAL);
	for (int i = 0; i < 100; i++)
		strcat(deep, "(");
	strcat(deep, "agentConnected exists");
	assert_int_equal(placement_expr_parse(deep, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nested"));
}

static void test_validate(void **state)
{
	struct err err = ERR_INIT;
	cJSON *ok = parse("[{\"type\":\"spread\",\"field\":\"instanceId\"},"
			  "{\"type\":\"binpack\",\"field\":\"cpu\"},{\"type\":\"random\"}]");
	cJSON *bad1 = parse("[{\"type\":\"binpack\",\"field\":\"disk\"}]");
	cJSON *bad2 = parse("[{\"type\":\"memberOf\"}]");
	cJSON *bad3 = parse("[{\"type\":\"distinctInstance\",\"expression\":\"x\"}]");

	(void)state;
	assert_int_equal(placement_validate(NULL, ok, &err), 0);
	assert_int_equal(placement_validate(NULL, bad1, &err), -EINVAL);
	assert_int_equal(placement_validate(bad2, NULL, &err), -EINVAL);
	assert_int_equal(placement_validate(bad3, NULL, &err), -EINVAL);
	cJSON_Delete(ok);
	cJSON_Delete(bad1);
	cJSON_Delete(bad2);
	cJSON_Delete(bad3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_reserve_release),
		cmocka_unit_test(test_spread_default_and_resources),
		cmocka_unit_test(test_ports_agent_status),
		cmocka_unit_test(test_binpack_and_chains),
		cmocka_unit_test(test_constraints),
		cmocka_unit_test(test_query_language),
		cmocka_unit_test(test_query_refused),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
