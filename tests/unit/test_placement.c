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

#include "core/cleanup.h"
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
	assert_string_equal(json_str(f->child, "reason"), PLACEMENT_REASON_MEMBER_OF);
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

/* The reason ret_failures gives for the instance whose id is id, or NULL. */
static const char *reason_for(const cJSON *failures, const char *id)
{
	for (const cJSON *f = failures->child; f; f = f->next) {
		const char *arn = json_str(f, "arn");
		size_t n = strlen(arn), k = strlen(id);

		if (n > k && arn[n - k - 1] == '/' && !strcmp(arn + n - k, id))
			return json_str(f, "reason");
	}
	return NULL;
}

static void test_needs_as_ecs_reserves(void **state)
{
	struct placement_needs n;
	struct err err = ERR_INIT;
	cJSON *td, *over;

	(void)state;
	/* memoryReservation is what a container takes from the instance, when it has one */
	td = parse("{\"containerDefinitions\":["
		   "{\"name\":\"a\",\"memory\":512,\"memoryReservation\":128},"
		   "{\"name\":\"b\",\"memory\":256},{\"name\":\"c\",\"memoryReservation\":64}]}");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.memory, 128 + 256 + 64);
	assert_int_equal(n.cpu, 0);
	over = parse("{\"containerOverrides\":[{\"name\":\"a\",\"memoryReservation\":300},"
		     "{\"name\":\"b\",\"memoryReservation\":100,\"cpu\":2048}]}");
	assert_int_equal(placement_task_needs(td, over, &n, &err), 0);
	assert_int_equal(n.memory, 300 + 100 + 64);
	assert_int_equal(n.cpu, 2048);
	cJSON_Delete(over);
	/* task-level sizes in vCPU and GB, the overrides' first */
	cJSON_AddStringToObject(td, "cpu", "1 vCPU");
	cJSON_AddStringToObject(td, "memory", "2 GB");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.cpu, 1024);
	assert_int_equal(n.memory, 2048);
	over = parse("{\"cpu\":\"0.5 vcpu\",\"memory\":\"3072\"}");
	assert_int_equal(placement_task_needs(td, over, &n, &err), 0);
	assert_int_equal(n.cpu, 512);
	assert_int_equal(n.memory, 3072);
	cJSON_Delete(over);
	cJSON_Delete(td);

	/* host mode reserves the containerPort; bridge only static hostPorts; awsvpc none */
	td = parse("{\"networkMode\":\"host\",\"containerDefinitions\":[{\"name\":\"a\","
		   "\"memory\":8,\"portMappings\":[{\"containerPort\":80},"
		   "{\"containerPort\":54,\"protocol\":\"udp\"}]}]}");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.n_tcp, 1);
	assert_int_equal(n.tcp[0], 80);
	assert_int_equal(n.n_udp, 1);
	assert_int_equal(n.udp[0], 54);
	cJSON_Delete(td);
	td = parse("{\"networkMode\":\"awsvpc\",\"containerDefinitions\":[{\"name\":\"a\","
		   "\"memory\":8,\"portMappings\":[{\"containerPort\":80,\"hostPort\":80}]}]}");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.n_tcp, 0);
	assert_int_equal(n.n_udp, 0);
	cJSON_Delete(td);
	td = parse("{\"containerDefinitions\":[{\"name\":\"a\",\"memory\":8,\"portMappings\":["
		   "{\"containerPort\":80},{\"containerPort\":81,\"hostPort\":0}]}]}");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.n_tcp, 0);
	cJSON_Delete(td);
	/* the same port once for tcp and once for udp is fine */
	td = parse("{\"networkMode\":\"host\",\"containerDefinitions\":[{\"name\":\"a\","
		   "\"memory\":8,\"portMappings\":[{\"containerPort\":53},"
		   "{\"containerPort\":53,\"protocol\":\"udp\"}]}]}");
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	assert_int_equal(n.n_tcp + n.n_udp, 2);
	cJSON_Delete(td);
}

static void test_each_resource_runs_out(void **state)
{
	static const struct {
		const char *td, *reason;
	} cases[] = {
		{ "{\"containerDefinitions\":[{\"name\":\"a\",\"cpu\":4096,\"memory\":8}]}",
		  PLACEMENT_REASON_CPU },
		{ "{\"containerDefinitions\":[{\"name\":\"a\",\"cpu\":8,\"memory\":9000}]}",
		  PLACEMENT_REASON_MEMORY },
		{ "{\"containerDefinitions\":[{\"name\":\"a\",\"memory\":8,\"portMappings\":["
		  "{\"containerPort\":80,\"hostPort\":22}]}]}",
		  PLACEMENT_REASON_PORTS },
		{ "{\"containerDefinitions\":[{\"name\":\"a\",\"memory\":8,\"portMappings\":["
		  "{\"containerPort\":53,\"hostPort\":5353,\"protocol\":\"udp\"}]}]}",
		  PLACEMENT_REASON_PORTS_UDP },
	};
	struct err err = ERR_INIT;

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		struct cluster c = { 0 };
		cJSON *f, *udp;
		int choice[1];

		add(&c, instance("i1", 2048, 4096, "\"22\"", "z1", "ACTIVE", true));
		udp = cJSON_GetArrayItem(json_get(c.docs[0], "remainingResources"), 3);
		cJSON_AddItemToArray((cJSON *)json_arr(udp, "stringSetValue"),
				     cJSON_CreateString("5353"));
		assert_int_equal(choose(&c, cases[k].td, NULL, NULL, NULL, 1, choice, &f, &err), 0);
		assert_int_equal(choice[0], -1);
		assert_int_equal(cJSON_GetArraySize(f), 1);
		assert_string_equal(reason_for(f, "i1"), cases[k].reason);
		cJSON_Delete(f);
		release_cluster(&c);
	}
}

static void test_count_beyond_capacity(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *f;
	int choice[10], per[3] = { 0 }, placed = 0;

	(void)state;
	/* room for 2, 2 and 1 tasks of 1024 MiB; an instance whose agent is gone */
	add(&c, instance("i1", 8192, 2048, "", "z1", "ACTIVE", true));
	add(&c, instance("i2", 8192, 2500, "", "z1", "ACTIVE", true));
	add(&c, instance("i3", 8192, 1024, "", "z1", "ACTIVE", true));
	add(&c, instance("i4", 8192, 8192, "", "z1", "ACTIVE", false));
	add(&c, instance("i5", 8192, 8192, "", "z1", "DRAINING", true));
	assert_int_equal(choose(&c, SMALL, NULL, NULL, NULL, 10, choice, &f, &err), 0);
	for (int t = 0; t < 10; t++) {
		assert_true(choice[t] >= -1 && choice[t] <= 2);
		if (choice[t] >= 0) {
			per[choice[t]]++;
			placed++;
			assert_int_equal(t, placed - 1); /* the placed ones come first */
		}
	}
	assert_int_equal(placed, 5);
	assert_int_equal(per[0], 2);
	assert_int_equal(per[1], 2);
	assert_int_equal(per[2], 1);
	/* each instance once, with its reason; the draining one not at all */
	assert_int_equal(cJSON_GetArraySize(f), 4);
	assert_string_equal(reason_for(f, "i1"), PLACEMENT_REASON_MEMORY);
	assert_string_equal(reason_for(f, "i2"), PLACEMENT_REASON_MEMORY);
	assert_string_equal(reason_for(f, "i3"), PLACEMENT_REASON_MEMORY);
	assert_string_equal(reason_for(f, "i4"), PLACEMENT_REASON_AGENT);
	assert_null(reason_for(f, "i5"));
	cJSON_Delete(f);
	release_cluster(&c);
}

static void test_failures_of_the_caller_kept(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *td = parse(SMALL), *failures = parse("[{\"arn\":\"x\",\"reason\":\"MISSING\"}]");
	struct placement_needs n;
	struct placement_request req = { .needs = &n, .group = "family:web", .count = 1 };
	int choice[1];

	(void)state;
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	add(&c, instance("i1", 4096, 4096, "", "z1", "ACTIVE", true));
	add(&c, instance("i2", 4096, 4096, "", "z1", "ACTIVE", false));
	/* StartTask shares one failures list between its instances */
	assert_int_equal(placement_choose(&req, c.pi, 1, choice, failures, &err), 0);
	assert_int_equal(choice[0], 0);
	assert_int_equal(cJSON_GetArraySize(failures), 1);
	assert_int_equal(placement_choose(&req, c.pi + 1, 1, choice, failures, &err), 0);
	assert_int_equal(choice[0], -1);
	assert_int_equal(cJSON_GetArraySize(failures), 2);
	assert_string_equal(json_str(cJSON_GetArrayItem(failures, 0), "reason"), "MISSING");
	assert_string_equal(reason_for(failures, "i2"), PLACEMENT_REASON_AGENT);
	/* no instances: nothing placed, nothing added */
	assert_int_equal(placement_choose(&req, c.pi, 0, choice, failures, &err), 0);
	assert_int_equal(choice[0], -1);
	assert_int_equal(cJSON_GetArraySize(failures), 2);
	cJSON_Delete(failures);
	cJSON_Delete(td);
	release_cluster(&c);
}

/* n tasks documents of group g, for an instance's tasks. */
struct tasks {
	cJSON *docs[8];
	const cJSON *ptrs[8];
};

static void make_tasks(struct tasks *t, const char *group, size_t n)
{
	char s[128];

	snprintf(s, sizeof(s), "{\"group\":\"%s\",\"lastStatus\":\"RUNNING\"}", group);
	for (size_t i = 0; i < n; i++) {
		t->docs[i] = parse(s);
		t->ptrs[i] = t->docs[i];
	}
}

static void release_tasks(struct tasks *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(t->docs[i]);
}

static void test_spread_counts_the_group(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	struct tasks web, other;
	cJSON *f;
	int choice[4];

	(void)state;
	make_tasks(&web, "family:web", 2);
	make_tasks(&other, "family:other", 3);
	add(&c, instance("i1", 8192, 8192, "", "a", "ACTIVE", true));
	add(&c, instance("i2", 8192, 8192, "", "a", "ACTIVE", true));
	add(&c, instance("i3", 8192, 8192, "", "b", "ACTIVE", true));
	add(&c, instance("i4", 8192, 8192, "", "b", "DRAINING", true));
	/* i1 runs two of the group, i3 three of another group, the draining i4 two */
	c.pi[0].tasks = web.ptrs;
	c.pi[0].n_tasks = 2;
	c.pi[2].tasks = other.ptrs;
	c.pi[2].n_tasks = 3;
	c.pi[3].tasks = web.ptrs;
	c.pi[3].n_tasks = 2;
	assert_int_equal(choose(&c, SMALL, NULL, "[{\"type\":\"spread\",\"field\":\"instanceId\"}]",
				NULL, 4, choice, &f, &err),
			 0);
	/* i2 and i3 have none: one each, then again one each; i1 only after them */
	assert_true((choice[0] == 1 && choice[1] == 2) || (choice[0] == 2 && choice[1] == 1));
	assert_true((choice[2] == 1 && choice[3] == 2) || (choice[2] == 2 && choice[3] == 1));
	cJSON_Delete(f);
	/* the default spreads over zones first: a holds 2 of the group, b none */
	assert_int_equal(choose(&c, SMALL, NULL, NULL, NULL, 3, choice, &f, &err), 0);
	assert_int_equal(choice[0], 2);
	assert_int_equal(choice[1], 2);
	/* now 2 and 2: the zone tie goes to a, and within a to i2, which has none */
	assert_int_equal(choice[2], 1);
	cJSON_Delete(f);
	/* spread by a zone attribute that only some instances have: the rest share a value */
	cJSON_AddItemToArray((cJSON *)json_arr(c.docs[0], "attributes"),
			     parse("{\"name\":\"rack\",\"value\":\"r1\"}"));
	assert_int_equal(choose(&c, SMALL, NULL,
				"[{\"type\":\"spread\",\"field\":\"attribute:rack\"}]", NULL, 1,
				choice, &f, &err),
			 0);
	assert_true(choice[0] == 1 || choice[0] == 2); /* r1 holds 2, the rest none */
	cJSON_Delete(f);
	release_tasks(&web, 2);
	release_tasks(&other, 3);
	release_cluster(&c);
}

static void test_binpack_cpu_and_chains(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *f;
	int choice[4];

	(void)state;
	add(&c, instance("i1", 1024, 8192, "", "a", "ACTIVE", true));
	add(&c, instance("i2", 4096, 2048, "", "a", "ACTIVE", true));
	add(&c, instance("i3", 600, 8192, "", "b", "ACTIVE", true));
	/* least CPU left that still fits: i3 (600) once, then i1 (1024, then 512) */
	assert_int_equal(choose(&c, SMALL, NULL, "[{\"type\":\"binpack\",\"field\":\"cpu\"}]", NULL,
				4, choice, &f, &err),
			 0);
	assert_int_equal(choice[0], 2);
	assert_int_equal(choice[1], 0);
	assert_int_equal(choice[2], 0);
	assert_int_equal(choice[3], 1);
	cJSON_Delete(f);
	/* spread over zones, then over instances within a zone */
	assert_int_equal(
		choose(&c, SMALL, NULL,
		       "[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},"
		       "{\"type\":\"spread\",\"field\":\"host\"}]",
		       NULL, 4, choice, &f, &err),
		0);
	assert_int_equal(choice[0], 0); /* a and b tie, i1 and i2 tie: the first */
	assert_int_equal(choice[1], 2); /* b has fewer */
	assert_int_equal(choice[2], 1); /* a and b tie again; in a, i2 has fewer */
	/* i3 is out of CPU: spread is a preference, so a takes it though it holds more */
	assert_int_equal(choice[3], 0);
	cJSON_Delete(f);
	release_cluster(&c);
}

static void test_random_reaches_every_instance(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	int seen[3] = { 0 };

	(void)state;
	for (int i = 0; i < 3; i++) {
		char id[8];

		snprintf(id, sizeof(id), "i%d", i);
		add(&c, instance(id, 8192, 8192, "", "a", "ACTIVE", true));
	}
	for (int round = 0; round < 200; round++) {
		cJSON *f;
		int choice[1];

		assert_int_equal(choose(&c, SMALL, NULL, "[{\"type\":\"random\"}]", NULL, 1, choice,
					&f, &err),
				 0);
		assert_true(choice[0] >= 0 && choice[0] < 3);
		seen[choice[0]]++;
		cJSON_Delete(f);
	}
	assert_true(seen[0] > 20 && seen[1] > 20 && seen[2] > 20);
	release_cluster(&c);
}

static void test_definition_constraints(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	cJSON *td = parse(SMALL), *failures = cJSON_CreateArray();
	cJSON *mine = parse("[{\"type\":\"memberOf\",\"expression\":\"attribute:ecs.os-type == "
			    "linux\"}]");
	cJSON *def = parse("[{\"type\":\"memberOf\",\"expression\":"
			   "\"attribute:ecs.availability-zone == b\"}]");
	cJSON *bad = parse("[{\"type\":\"memberOf\",\"expression\":\"nonsense\"}]");
	struct placement_needs n;
	struct placement_request req = {
		.needs = &n,
		.group = "family:web",
		.constraints = mine,
		.definition_constraints = def,
		.count = 2,
	};
	int choice[2];

	(void)state;
	assert_int_equal(placement_task_needs(td, NULL, &n, &err), 0);
	add(&c, instance("i1", 8192, 8192, "", "a", "ACTIVE", true));
	add(&c, instance("i2", 8192, 8192, "", "b", "ACTIVE", true));
	assert_int_equal(placement_choose(&req, c.pi, c.n, choice, failures, &err), 0);
	assert_int_equal(choice[0], 1);
	assert_int_equal(choice[1], 1);
	req.definition_constraints = bad;
	assert_int_equal(placement_choose(&req, c.pi, c.n, choice, failures, &err), -EINVAL);
	assert_int_equal(err.kind, E_INVALID_PARAMETER);
	assert_int_equal(choice[0], -1);
	assert_int_equal(cJSON_GetArraySize(failures), 0);
	cJSON_Delete(mine);
	cJSON_Delete(def);
	cJSON_Delete(bad);
	cJSON_Delete(failures);
	cJSON_Delete(td);
	release_cluster(&c);
}

static void test_distinct_instance_reason(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	struct tasks web;
	cJSON *f;
	int choice[2];

	(void)state;
	make_tasks(&web, "family:web", 1);
	add(&c, instance("i1", 8192, 8192, "", "a", "ACTIVE", true));
	add(&c, instance("i2", 8192, 8192, "", "a", "ACTIVE", true));
	c.pi[0].tasks = web.ptrs;
	c.pi[0].n_tasks = 1;
	assert_int_equal(choose(&c, SMALL, "[{\"type\":\"distinctInstance\"}]", NULL, NULL, 2,
				choice, &f, &err),
			 0);
	assert_int_equal(choice[0], 1);
	assert_int_equal(choice[1], -1);
	assert_string_equal(reason_for(f, "i1"), PLACEMENT_REASON_DISTINCT);
	assert_string_equal(reason_for(f, "i2"), PLACEMENT_REASON_DISTINCT);
	cJSON_Delete(f);
	/* another group's tasks do not count */
	assert_int_equal(choose(&c, SMALL, "[{\"type\":\"distinctInstance\"}]", NULL,
				"family:other", 2, choice, &f, &err),
			 0);
	assert_true(choice[0] >= 0 && choice[1] >= 0 && choice[0] != choice[1]);
	cJSON_Delete(f);
	release_tasks(&web, 1);
	release_cluster(&c);
}

/*
 * requiresAttributes: only instances with each attribute (of the value, when
 * one is given) qualify; the others are turned down with ATTRIBUTE, before
 * their resources are looked at.
 */
static void test_required_attributes(void **state)
{
	struct cluster c = { 0 };
	struct err err = ERR_INIT;
	struct placement_needs needs = { .cpu = 10, .memory = 10 };
	cJSON *failures = cJSON_CreateArray();
	cJSON *need_gpu = parse("[{\"name\":\"gpu\"}]");
	cJSON *need_linux = parse("[{\"name\":\"ecs.os-type\",\"value\":\"linux\"},"
				  "{\"name\":\"gpu\",\"targetType\":\"container-instance\"}]");
	cJSON *need_windows = parse("[{\"name\":\"ecs.os-type\",\"value\":\"windows\"}]");
	cJSON *need_missing = parse("[{\"name\":\"ecs.capability.task-eni\"}]");
	struct placement_request req = { .needs = &needs, .group = "family:web", .count = 2 };
	int choice[2];

	(void)state;
	add(&c, instance("i1", 8192, 8192, "", "a", "ACTIVE", true));
	add(&c, instance("i2", 0, 0, "", "a", "ACTIVE", true)); /* no room at all */
	cJSON_DeleteItemFromArray(cJSON_GetObjectItemCaseSensitive(c.docs[0], "attributes"), 2);
	/* i1 lacks gpu, i2 has it but no room: the reasons say which is which */
	req.required_attributes = need_gpu;
	assert_int_equal(placement_choose(&req, c.pi, c.n, choice, failures, &err), 0);
	assert_int_equal(choice[0], -1);
	assert_string_equal(reason_for(failures, "i1"), PLACEMENT_REASON_ATTRIBUTE);
	assert_string_equal(reason_for(failures, "i2"), PLACEMENT_REASON_CPU);
	cJSON_Delete(failures);
	failures = cJSON_CreateArray();
	/* a value must match; a name alone is enough without one */
	req.required_attributes = need_windows;
	assert_int_equal(placement_choose(&req, c.pi, c.n, choice, failures, &err), 0);
	assert_int_equal(choice[0], -1);
	assert_string_equal(reason_for(failures, "i1"), PLACEMENT_REASON_ATTRIBUTE);
	assert_string_equal(reason_for(failures, "i2"), PLACEMENT_REASON_ATTRIBUTE);
	cJSON_Delete(failures);
	failures = cJSON_CreateArray();
	req.required_attributes = need_missing;
	assert_int_equal(placement_choose(&req, c.pi, c.n, choice, failures, &err), 0);
	assert_int_equal(cJSON_GetArraySize(failures), 2);
	cJSON_Delete(failures);
	failures = cJSON_CreateArray();
	/* i1 given gpu and both requirements hold there */
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(c.docs[0], "attributes"),
			     parse("{\"name\":\"gpu\"}"));
	req.required_attributes = need_linux;
	assert_int_equal(placement_choose(&req, c.pi, c.n, choice, failures, &err), 0);
	assert_int_equal(choice[0], 0);
	assert_int_equal(choice[1], 0);
	assert_int_equal(cJSON_GetArraySize(failures), 0);
	cJSON_Delete(failures);
	cJSON_Delete(need_gpu);
	cJSON_Delete(need_linux);
	cJSON_Delete(need_windows);
	cJSON_Delete(need_missing);
	release_cluster(&c);
}

/* An instance with a bit of everything the query language looks at, and two tasks. */
static const char QUERY_INSTANCE[] =
	"{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:000000000000:container-instance/c/q\","
	"\"ec2InstanceId\":\"i-0abc\",\"status\":\"ACTIVE\",\"agentConnected\":true,"
	"\"registeredAt\":1529360908000,\"runningTasksCount\":2,"
	"\"versionInfo\":{\"agentVersion\":\"1.14.5\"},"
	"\"attributes\":[{\"name\":\"ecs.instance-type\",\"value\":\"g2.2xlarge\"},"
	"{\"name\":\"ecs.availability-zone\",\"value\":\"us-east-1a\"},"
	"{\"name\":\"ecs.os-type\",\"value\":\"linux\"},{\"name\":\"stack\",\"value\":\"prod\"},"
	"{\"name\":\"cores\",\"value\":\"16\"},{\"name\":\"gpu\"}]}";

static bool matches_with(const char *expr, const cJSON *doc, const char *const *groups,
			 size_t n_groups)
{
	struct placement_expr *e;
	struct err err = ERR_INIT;
	cJSON *tasks[4];
	const cJSON *ptrs[4];
	struct placement_instance inst = { .doc = doc, .tasks = ptrs, .n_tasks = n_groups };
	bool m;

	for (size_t i = 0; i < n_groups; i++) {
		tasks[i] = cJSON_CreateObject();
		cJSON_AddStringToObject(tasks[i], "group", groups[i]);
		ptrs[i] = tasks[i];
	}
	if (placement_expr_parse(expr, &e, &err) < 0)
		fail_msg("'%s' refused: %s", expr, err.msg);
	m = placement_expr_match(e, &inst);
	placement_expr_free(e);
	for (size_t i = 0; i < n_groups; i++)
		cJSON_Delete(tasks[i]);
	return m;
}

static void test_query_language(void **state)
{
	static const char *const groups[] = { "service:production", "family:db" };
	cJSON *doc = parse(QUERY_INSTANCE);
	static const struct {
		const char *expr;
		bool want;
	} cases[] = {
		/* the developer guide's examples */
		{ "attribute:ecs.instance-type == t2.small", false },
		{ "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true },
		{ "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != "
		  "us-east-1d",
		  true },
		{ "task:group == service:production", true },
		{ "not(task:group == database)", true },
		{ "runningTasksCount == 1", false },
		{ "agentVersion < 1.14.5", false },
		{ "registeredAt < 2018-02-13", false },
		{ "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", false },
		{ "attribute:stack != prod", false },
		/* equality, every spelling */
		{ "attribute:ecs.os-type == linux", true },
		{ "attribute:ecs.os-type equals linux", true },
		{ "attribute:ecs.os-type EQUALS linux", true },
		{ "attribute:ecs.os-type != windows", true },
		{ "attribute:ecs.os-type not_equals linux", false },
		{ "attribute:ecs.os-type == \"linux\"", true },
		{ "attribute:ecs.os-type == 'Linux'", false },
		{ "attribute:ecs.os-type==linux&&agentConnected==true", true },
		/* order: numbers, versions, dates, strings */
		{ "runningTasksCount > 1", true },
		{ "runningTasksCount greater_than 2", false },
		{ "runningTasksCount >= 2", true },
		{ "runningTasksCount greater_than_equal 3", false },
		{ "runningTasksCount < 10", true },
		{ "runningTasksCount less_than 2", false },
		{ "runningTasksCount <= 2", true },
		{ "runningTasksCount less_than_equal 1", false },
		{ "runningTasksCount != 2", false },
		{ "attribute:cores > 9", true },
		{ "agentVersion > 1.9.0", true },
		{ "agentVersion >= 1.14.5", true },
		{ "agentVersion < 1.14.10", true },
		{ "agentVersion == 1.14.5", true },
		{ "registeredAt > 2018-06-18", true },
		{ "registeredAt < 2018-06-19", true },
		{ "registeredAt == 2018-06-18T22:28:28Z", true },
		{ "registeredAt == 2018-06-18T22:28:28", true },
		{ "registeredAt == 2018-06-19T00:28:28+02:00", true },
		{ "registeredAt >= 2018-06-18T22:28:29Z", false },
		{ "attribute:ecs.availability-zone > us-east-1", true },
		/* lists */
		{ "attribute:ecs.availability-zone not_in [us-east-1a]", false },
		{ "attribute:ecs.availability-zone !in [us-east-1b, us-east-1c]", true },
		{ "agentConnected in [true]", true },
		/* patterns: a regular expression over the whole value */
		{ "attribute:ecs.availability-zone matches us-east-.*", true },
		{ "attribute:ecs.availability-zone =~ us-east", false },
		{ "attribute:ecs.availability-zone =~ .*east.*", true },
		{ "attribute:ecs.availability-zone !~ us-west-.*", true },
		{ "attribute:ecs.availability-zone not_matches us-east-1[ab]", false },
		{ "attribute:ecs.instance-type =~ (g2|p3)\\.[0-9]?x?large", true },
		{ "attribute:ecs.instance-type =~ '(t2|t3)\\..*'", false },
		{ "(attribute:ecs.instance-type =~ g2.*)", true },
		{ "(attribute:ecs.instance-type =~ (g2).*) and agentConnected == true", true },
		{ "attribute:cores =~ \\d+", true },
		{ "attribute:cores =~ \\d{3}", false },
		{ "attribute:cores =~ (\\d{1,2})", true },
		{ "attribute:cores =~ (1|2)+6*", true },
		{ "attribute:cores =~ (1[0-9]|2[0-9]){1}", true },
		{ "ec2InstanceId =~ i-[0-9a-f]+", true },
		{ "agentConnected matches t.*", true },
		/* presence */
		{ "attribute:gpu exists", true },
		{ "attribute:gpu == ''", true },
		{ "attribute:nothere exists", false },
		{ "attribute:nothere !exists", true },
		{ "attribute:nothere not_exists", true },
		{ "attribute:nothere != x", true },
		{ "attribute:nothere == x", false },
		{ "attribute:nothere !~ x", true },
		{ "ec2InstanceId exists", true },
		/* task:group: any task in it; the negatives: no task in it */
		{ "task:group exists", true },
		{ "task:group != service:production", false },
		{ "task:group != database", true },
		{ "task:group in [family:db, x]", true },
		{ "task:group not_in [family:db]", false },
		{ "task:group =~ service:.*", true },
		{ "task:group !~ service:.*", false },
		/* compounds */
		{ "attribute:ecs.os-type == linux and agentConnected == true", true },
		{ "attribute:ecs.os-type == windows or runningTasksCount == 2", true },
		{ "attribute:ecs.os-type == windows OR runningTasksCount == 0", false },
		{ "not (attribute:ecs.os-type == linux)", false },
		{ "! attribute:ecs.os-type == windows", true },
		{ "!attribute:ecs.os-type == linux", false },
		{ "!(attribute:ecs.os-type == windows) && (runningTasksCount<1 || "
		  "agentConnected==true)",
		  true },
		{ "attribute:a exists or attribute:b exists and attribute:c exists", false },
		{ "attribute:gpu exists or attribute:b exists and attribute:c exists", true },
		{ "(attribute:gpu exists or attribute:b exists) and attribute:c exists", false },
		{ "not not attribute:gpu exists", true },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (matches_with(cases[i].expr, doc, groups, 2) != cases[i].want)
			fail_msg("'%s' should be %s", cases[i].expr,
				 cases[i].want ? "true" : "false");
	/* an instance without tasks: no task is in any group */
	assert_false(matches_with("task:group exists", doc, NULL, 0));
	assert_true(matches_with("task:group !exists", doc, NULL, 0));
	assert_true(matches_with("task:group != service:production", doc, NULL, 0));
	assert_false(matches_with("task:group == service:production", doc, NULL, 0));
	cJSON_Delete(doc);
}

static void test_query_refused(void **state)
{
	static const struct {
		const char *expr, *msg; /* msg: a part of the message */
	} bad[] = {
		{ "", "empty" },
		{ "   ", "expected attribute:NAME" },
		{ "attribute:", "expected attribute:NAME" },
		{ "ram == 4", "found 'ram'" },
		{ "attribute:x", "expected an operator" },
		{ "attribute:x ==", "expected a value" },
		{ "attribute:x == )", "expected a value" },
		{ "attribute:x === y", "expected an operator" },
		{ "attribute:x in a", "expected a list" },
		{ "attribute:x in [a, b", "expected ',' or ']'" },
		{ "attribute:x in []", "expected a value in the list" },
		{ "attribute:x in [a,,b]", "expected a value in the list" },
		{ "(attribute:x exists", "expected ')'" },
		{ "attribute:x exists)", "expected and, or or the end" },
		{ "attribute:x == a and", "expected attribute:NAME" },
		{ "attribute:x == \"open", "unterminated quote" },
		{ "and attribute:x exists", "found 'and'" },
		{ "attribute:x exists attribute:y exists", "offset 19" },
		{ "'attribute:x' exists", "expected attribute:NAME" },
		{ "attribute:x =~ (a", "not a valid regular expression" },
		{ "attribute:x =~ a\\1", "backreferences" },
		{ "attribute:x =~ a{3000}", "too large" },
		{ "attribute:x =~ (abcdefghij){101}", "too large" },
		{ "attribute:x =~ (a{50}){50}", "repeats a repetition" },
		{ "attribute:x =~ a+*+++++", "repeats a repetition" },
		{ "attribute:x =~ a**", "repeats a repetition" },
		{ "attribute:x =~ ((b|(a*)))+", "repeats a repetition" },
		{ "attribute:x =~ 'a)|(b'", "did not open" },
		{ "attribute:x =~ a\\", "backslash" },
		{ "agentConnected > 1", "agentConnected takes no '>'" },
		{ "task:group <= a", "task:group takes no '<='" },
		{ "runningTasksCount in [1, 2]", "runningTasksCount takes no 'in'" },
		{ "agentVersion =~ 1.*", "agentVersion takes no '=~'" },
		{ "registeredAt < yesterday", "registeredAt takes a date" },
		{ "registeredAt < 2018-02-30", "registeredAt takes a date" },
		{ "registeredAt < 2018-02-13T25:00:00Z", "registeredAt takes a date" },
		{ "runningTasksCount == two", "runningTasksCount takes a number" },
		{ "not", "expected attribute:NAME" },
		{ "attribute:x == a b", "expected and, or or the end" },
		{ "!!attribute:x exists", "found '!!'" },
	};
	char big[PLACEMENT_EXPR_MAX + 10], token[300];
	char deep[400] = { 0 };
	struct placement_expr *e;
	struct err err = ERR_INIT;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err = (struct err)ERR_INIT;
		if (placement_expr_parse(bad[i].expr, &e, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i].expr);
		assert_int_equal(err.kind, E_INVALID_PARAMETER);
		assert_null(e);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].expr, err.msg, bad[i].msg);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(placement_expr_parse(big, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 2000"));
	snprintf(token, sizeof(token), "attribute:x == %0280d", 0);
	assert_int_equal(placement_expr_parse(token, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
	for (int i = 0; i < 100; i++)
		deep[i] = '(';
	snprintf(deep + 100, sizeof(deep) - 100, "agentConnected == true");
	assert_int_equal(placement_expr_parse(deep, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nested"));
	/* 32 deep is fine, and 2000 characters are */
	memset(deep, 0, sizeof(deep));
	for (int i = 0; i < 31; i++)
		deep[i] = '(';
	snprintf(deep + 31, sizeof(deep) - 31, "agentConnected == true");
	for (int i = 0; i < 31; i++)
		strncat(deep, ")", sizeof(deep) - strlen(deep) - 1);
	assert_int_equal(placement_expr_parse(deep, &e, &err), 0);
	placement_expr_free(e);
	memset(big, ' ', PLACEMENT_EXPR_MAX);
	memcpy(big, "agentConnected exists", 21);
	big[PLACEMENT_EXPR_MAX] = 0;
	assert_int_equal(placement_expr_parse(big, &e, &err), 0);
	placement_expr_free(e);
}

static void test_validate(void **state)
{
	static const struct {
		const char *constraints, *strategy, *msg; /* msg NULL: accepted */
	} cases[] = {
		{ NULL,
		  "[{\"type\":\"spread\",\"field\":\"instanceId\"},{\"type\":\"spread\","
		  "\"field\":\"host\"},{\"type\":\"binpack\",\"field\":\"cpu\"},"
		  "{\"type\":\"binpack\",\"field\":\"MEMORY\"},{\"type\":\"random\"}]",
		  NULL },
		{ NULL, "[]", NULL },
		{ "[]", NULL, NULL },
		{ NULL, "[{\"type\":\"binpack\",\"field\":\"disk\"}]", "binpack's field 'disk'" },
		{ NULL, "[{\"type\":\"binpack\"}]", "binpack's field ''" },
		{ NULL, "[{\"type\":\"spread\",\"field\":\"attribute:\"}]", "spread's field" },
		{ NULL, "[{\"type\":\"spread\",\"field\":\"zone\"}]", "spread's field 'zone'" },
		{ NULL, "[{\"type\":\"pack\"}]", "type 'pack'" },
		{ NULL, "[{\"field\":\"cpu\"}]", "type ''" },
		{ NULL, "{\"type\":\"random\"}", "must be a list" },
		{ NULL,
		  "[{\"type\":\"random\"},{\"type\":\"random\"},{\"type\":\"random\"},"
		  "{\"type\":\"random\"},{\"type\":\"random\"},{\"type\":\"random\"}]",
		  "maximum of 5 placement strategies" },
		{ "[{\"type\":\"memberOf\"}]", NULL, "requires an expression" },
		{ "[{\"type\":\"memberOf\",\"expression\":\"attribute:x ==\"}]", NULL,
		  "expected a value" },
		{ "[{\"type\":\"distinctInstance\",\"expression\":\"x\"}]", NULL, "no expression" },
		{ "[{\"type\":\"spreadInstance\"}]", NULL, "'spreadInstance' is not" },
		{ "[{\"type\":\"distinctInstance\"},{\"type\":\"memberOf\",\"expression\":"
		  "\"attribute:x exists\"}]",
		  NULL, NULL },
		{ "[{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		  "{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		  "{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		  "{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		  "{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		  "{\"type\":\"distinctInstance\"}]",
		  NULL, "maximum of 10 placement constraints" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cJSON *c = cases[i].constraints ? parse(cases[i].constraints) : NULL;
		cJSON *s = cases[i].strategy ? parse(cases[i].strategy) : NULL;
		struct err err = ERR_INIT;
		int r = placement_validate(c, s, &err);

		if (!cases[i].msg && r != 0)
			fail_msg("case %zu refused: %s", i, err.msg);
		if (cases[i].msg && (r != -EINVAL || err.kind != E_INVALID_PARAMETER ||
				     !strstr(err.msg, cases[i].msg)))
			fail_msg("case %zu: %d '%s', wanted '%s'", i, r, err.msg, cases[i].msg);
		cJSON_Delete(c);
		cJSON_Delete(s);
	}
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
		cmocka_unit_test(test_needs_as_ecs_reserves),
		cmocka_unit_test(test_each_resource_runs_out),
		cmocka_unit_test(test_count_beyond_capacity),
		cmocka_unit_test(test_failures_of_the_caller_kept),
		cmocka_unit_test(test_spread_counts_the_group),
		cmocka_unit_test(test_binpack_cpu_and_chains),
		cmocka_unit_test(test_random_reaches_every_instance),
		cmocka_unit_test(test_definition_constraints),
		cmocka_unit_test(test_distinct_instance_reason),
		cmocka_unit_test(test_required_attributes),
		cmocka_unit_test(test_query_language),
		cmocka_unit_test(test_query_refused),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
