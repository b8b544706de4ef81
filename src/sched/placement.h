/*
 * placement.h: choosing container instances for tasks, as ECS places
 * tasks on the EC2 launch type. Pure logic over the documents the caller
 * read from the store: RunTask uses it now, the service scheduler later.
 *
 * A task needs CPU units, MiB of memory and its static host ports (TCP and
 * UDP); an instance offers what its remainingResources hold. Candidates are
 * the ACTIVE instances whose agent is connected and that satisfy every
 * constraint (distinctInstance; memberOf with a cluster query language
 * expression) and have room. Strategies then narrow the candidates in the
 * order given, as ECS chains them: spread (an attribute, instanceId or
 * host) keeps those holding the fewest tasks of the group per value,
 * binpack (cpu or memory) those with the least of it left, random picks one
 * at random. Without a strategy, tasks are spread over instances.
 */
#ifndef BERTH_SCHED_PLACEMENT_H
#define BERTH_SCHED_PLACEMENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PLACEMENT_PORTS_MAX	  100
#define PLACEMENT_EXPR_MAX	  2000
#define PLACEMENT_CONSTRAINTS_MAX 10
#define PLACEMENT_STRATEGIES_MAX  5

struct placement_needs {
	int64_t cpu;	/* CPU units */
	int64_t memory; /* MiB */
	uint16_t tcp[PLACEMENT_PORTS_MAX], udp[PLACEMENT_PORTS_MAX];
	size_t n_tcp, n_udp;
};

/*
 * What a task of task_definition (with overrides, may be NULL) needs: the
 * task-level cpu and memory when set, else the sum over its containers of
 * cpu and of memory (memoryReservation when memory is not given), as
 * overridden; its static host ports: hostPort, or containerPort in host and
 * awsvpc network modes. InvalidParameterException for a task that asks for
 * no memory at all, or for a host port twice.
 */
int placement_task_needs(const cJSON *task_definition, const cJSON *overrides,
			 struct placement_needs *ret, struct err *err);

/* needs as a JSON object ({"cpu","memory","tcp":[...],"udp":[...]}) and back. */
cJSON *placement_needs_to_json(const struct placement_needs *needs);
void placement_needs_from_json(const cJSON *doc, struct placement_needs *ret);

/*
 * Take needs from, or give them back to, an instance document's
 * remainingResources (CPU, MEMORY, PORTS, PORTS_UDP), in place.
 */
void placement_reserve(cJSON *instance_doc, const struct placement_needs *needs);
void placement_release(cJSON *instance_doc, const struct placement_needs *needs);

struct placement_instance {
	const cJSON *doc;	   /* the ContainerInstance document */
	const cJSON *const *tasks; /* its tasks that are not STOPPED */
	size_t n_tasks;
};

struct placement_request {
	const struct placement_needs *needs;
	const char *group;	  /* the tasks' group ("family:NAME") */
	const cJSON *constraints; /* placementConstraints, or NULL */
	const cJSON *strategy;	  /* placementStrategy, or NULL */
	unsigned count;		  /* 1..10 */
};

/*
 * Choose an instance for each of req->count tasks: ret_choice[i] is an
 * index into instances, or -1 when task i could not be placed. Choices made
 * for earlier tasks count for later ones. For each instance that turned a
 * task down, {"arn": its ARN, "reason": "RESOURCE:MEMORY"} (or
 * RESOURCE:CPU, RESOURCE:PORTS, RESOURCE:PORTS_UDP, AGENT, ATTRIBUTE) is
 * added to ret_failures once. InvalidParameterException for a constraint
 * or strategy ECS would refuse.
 */
int placement_choose(const struct placement_request *req,
		     const struct placement_instance *instances, size_t n, int *ret_choice,
		     cJSON *ret_failures, struct err *err);

/* Check constraints and strategy as RunTask and CreateService take them. */
int placement_validate(const cJSON *constraints, const cJSON *strategy, struct err *err);

/* The cluster query language. */
struct placement_expr;

int placement_expr_parse(const char *s, struct placement_expr **ret, struct err *err);

/* Whether the instance (with its tasks, for task:group) matches. */
bool placement_expr_match(const struct placement_expr *e, const struct placement_instance *inst);

void placement_expr_free(struct placement_expr *e);

#endif
