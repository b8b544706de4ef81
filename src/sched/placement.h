/*
 * placement.h: choosing container instances for tasks, as ECS places
 * tasks on the EC2 launch type. Pure logic over the documents the caller
 * read from the store (no store, no HTTP): RunTask and StartTask use it,
 * and so will the service scheduler.
 *
 * A task needs CPU units, MiB of memory and its static host ports (TCP and
 * UDP); an instance offers what its remainingResources hold. As the
 * developer guide's "Amazon ECS task placement" orders it, the candidates
 * for a task are the ACTIVE instances whose agent is connected that have
 * room for it, have every attribute its task definition's
 * requiresAttributes names, and satisfy every constraint (distinctInstance;
 * memberOf with a cluster query language expression). Strategies then narrow the
 * candidates in the order given, as ECS chains them: spread (instanceId,
 * host or attribute:NAME) keeps those whose value holds the fewest tasks of
 * the group, binpack (cpu or memory) those with the least of it left, random
 * picks one. Constraints bind; strategies are a preference among those
 * that qualify. Nothing here allocates per task placed.
 */
#ifndef BERTH_SCHED_PLACEMENT_H
#define BERTH_SCHED_PLACEMENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PLACEMENT_PORTS_MAX	  100
#define PLACEMENT_EXPR_MAX	  2000 /* PlacementConstraint.expression, per the API reference */
#define PLACEMENT_CONSTRAINTS_MAX 10
#define PLACEMENT_STRATEGIES_MAX  5
#define PLACEMENT_COUNT_MAX	  10 /* RunTask's count */

/*
 * The reasons placement_choose reports, as ECS words them in RunTask's
 * and StartTask's failures (developer guide, "API failure reasons"; the
 * constraint ones as ECS answers them).
 */
#define PLACEMENT_REASON_CPU	   "RESOURCE:CPU"
#define PLACEMENT_REASON_MEMORY	   "RESOURCE:MEMORY"
#define PLACEMENT_REASON_PORTS	   "RESOURCE:PORTS"
#define PLACEMENT_REASON_PORTS_UDP "RESOURCE:PORTS_UDP"
#define PLACEMENT_REASON_AGENT	   "AGENT"
#define PLACEMENT_REASON_ATTRIBUTE "ATTRIBUTE"
#define PLACEMENT_REASON_MEMBER_OF "MemberOf placement constraint unsatisfied."
#define PLACEMENT_REASON_DISTINCT  "DistinctInstance placement constraint unsatisfied."

/* What one task takes from the instance it runs on. */
struct placement_needs {
	int64_t cpu;	/* CPU units (1024 per core) */
	int64_t memory; /* MiB */
	uint16_t tcp[PLACEMENT_PORTS_MAX], udp[PLACEMENT_PORTS_MAX];
	size_t n_tcp, n_udp;
};

/*
 * What a task of task_definition (a TaskDefinition document; overrides, a
 * TaskOverride, may be NULL) needs, as ECS reserves it:
 *   cpu:    the task-level cpu when set ("512", "1 vCPU"; overrides.cpu
 *           first), else the sum of the containers' cpu;
 *   memory: the task-level memory when set ("1024", "2 GB"; overrides.memory
 *           first), else the sum over the containers of memoryReservation
 *           when the container has one, else of its memory (the container
 *           definition's reference: "If you specify memoryReservation, then
 *           that value is subtracted from the available memory resources
 *           for the container instance ... Otherwise, the value of memory
 *           is used"), each as its containerOverrides entry overrides it;
 *   ports:  each portMapping's hostPort, or its containerPort in host and
 *           awsvpc network modes; hostPort 0 or absent in bridge mode is a
 *           dynamic port, chosen on the instance and not reserved here.
 * A memory of 0 is returned as is (the caller refuses such a task).
 * InvalidParameterException for a host port mapped twice, or more than
 * PLACEMENT_PORTS_MAX of them.
 */
int placement_task_needs(const cJSON *task_definition, const cJSON *overrides,
			 struct placement_needs *ret, struct err *err);

/*
 * needs as a JSON object ({"cpu","memory","tcp":[...],"udp":[...]}), owned by
 * the caller, and back (for a task document to remember what it reserved).
 */
cJSON *placement_needs_to_json(const struct placement_needs *needs);
void placement_needs_from_json(const cJSON *doc, struct placement_needs *ret);

/*
 * Take needs from (RunTask), or give them back to (the task STOPPED), an
 * instance document's remainingResources: CPU and MEMORY integerValue, and
 * the ports added to or removed from PORTS and PORTS_UDP stringSetValue.
 * In place; resources the document lacks are left alone.
 */
void placement_reserve(cJSON *instance_doc, const struct placement_needs *needs);
void placement_release(cJSON *instance_doc, const struct placement_needs *needs);

/* One candidate, filled by the caller; placement only reads it. */
struct placement_instance {
	const cJSON *doc;	   /* the ContainerInstance document as stored */
	const cJSON *const *tasks; /* its tasks that are not STOPPED (Task documents) */
	size_t n_tasks;
};

struct placement_request {
	const struct placement_needs *needs; /* each task's, from placement_task_needs */
	const char *group;		     /* the tasks' group ("family:NAME", "service:NAME") */
	const cJSON *constraints;	     /* the request's placementConstraints, or NULL */
	/*
	 * The task definition's placementConstraints (memberOf only), or NULL:
	 * ECS applies them together with the request's.
	 */
	const cJSON *definition_constraints;
	/*
	 * The task definition's requiresAttributes, or NULL: an instance
	 * qualifies only with an attribute of each name (and of the value,
	 * when one is given); the others are turned down with
	 * PLACEMENT_REASON_ATTRIBUTE, as ECS turns them down.
	 */
	const cJSON *required_attributes;
	/*
	 * placementStrategy, or NULL or empty for the default: spread over
	 * attribute:ecs.availability-zone, then over instanceId (the service
	 * default, and the console's "AZ balanced spread" for RunTask).
	 */
	const cJSON *strategy;
	unsigned count; /* tasks to place: RunTask's 1..PLACEMENT_COUNT_MAX, or a service's more */
};

/*
 * Choose an instance for each of req->count tasks: ret_choice[i] is an
 * index into instances, or -1 when task i could not be placed. Choices made
 * for earlier tasks count for later ones: their resources and ports are
 * taken (on placement's own tallies; instances[] is not modified), and
 * spread and distinctInstance count them with the group's tasks already
 * running. Spread counts the group's tasks on instances that are ACTIVE.
 *
 * When some task could not be placed, each instance that turned it down is
 * added once to ret_failures (a cJSON array) as {"arn": its
 * containerInstanceArn, "reason": one of the PLACEMENT_REASON_* above};
 * instances that are not ACTIVE are not listed. When every task was
 * placed, ret_failures is left as it was.
 *
 * Returns 0, or InvalidParameterException for constraints or strategies
 * ECS would refuse (see placement_validate), or -ENOMEM.
 */
int placement_choose(const struct placement_request *req,
		     const struct placement_instance *instances, size_t n, int *ret_choice,
		     cJSON *ret_failures, struct err *err);

/*
 * Check placementConstraints and placementStrategy (either may be NULL) as
 * RunTask, CreateService and UpdateService take them: at most 10
 * constraints, distinctInstance without an expression, memberOf with one
 * that parses; at most 5 strategies, binpack on cpu or memory, spread on
 * instanceId, host or attribute:NAME, random. InvalidParameterException
 * naming what is wrong.
 */
int placement_validate(const cJSON *constraints, const cJSON *strategy, struct err *err);

/*
 * The cluster query language (developer guide, "Cluster query language"),
 * for memberOf constraints and ListContainerInstances' filter:
 *
 *   subjects   attribute:NAME, agentConnected, agentVersion, ec2InstanceId,
 *              registeredAt, runningTasksCount, task:group
 *   operators  ==, equals; !=, not_equals; >, greater_than; >=,
 *              greater_than_equal; <, less_than; <=, less_than_equal;
 *              exists; !exists, not_exists; in, !in, not_in [a, b, ...];
 *              =~, matches; !~, not_matches (a regular expression that must
 *              match the whole value)
 *   compound   and, &&; or, ||; not, !; parentheses
 *
 * Values are words or 'quoted' / "quoted" strings. The order comparisons
 * compare numbers as numbers, agentVersion as dotted versions, registeredAt
 * as dates (2018-06-18T22:28:28+00:00, ...Z, 2018-06-18T22:28:28 in UTC,
 * 2018-06-18), anything else as strings. task:group holds when a task on
 * the instance has a matching group; its negative operators (!=, !in,
 * !~) hold when none has.
 */
struct placement_expr;

/*
 * Parse s (at most PLACEMENT_EXPR_MAX characters) into *ret, owned by the
 * caller (placement_expr_free). InvalidParameterException with a message
 * naming the problem and where it is.
 */
int placement_expr_parse(const char *s, struct placement_expr **ret, struct err *err);

/* Whether the instance (its document, and its tasks for task:group) matches. */
bool placement_expr_match(const struct placement_expr *e, const struct placement_instance *inst);

/* Whether e reads task:group, so that its caller needs the instances' tasks. */
bool placement_expr_uses_tasks(const struct placement_expr *e);

void placement_expr_free(struct placement_expr *e);

#endif
