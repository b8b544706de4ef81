/*
 * tasks.c: RunTask, StartTask, StopTask, DescribeTasks and ListTasks.
 *
 * A task is the document under task/CLUSTER/ID (ID 32 hex digits), in
 * ECS's Task shape with times in milliseconds, plus members berth keeps for
 * itself, which the API never shows (their names start with '_'):
 *   _instanceId   the container instance it is placed on
 *   _needs        what it reserved there (placement.h), given back once,
 *                 when it reaches STOPPED
 *   _counted      "pending" or "running": which of the instance's counts
 *                 it is in, "" once in none
 *   _networkConfiguration  the request's, kept for the agent (Task has no
 *                 such member)
 *
 * A task of an awsvpc task definition gets an ElasticNetworkInterface
 * attachment, as on ECS: PRECREATED with its subnetId (the first of the
 * request's awsvpcConfiguration.subnets) until its agent reports the
 * interface it made (task_state.c).
 *
 * RunTask places with the task definition's placementConstraints and the
 * request's; propagateTags TASK_DEFINITION gives the task its task
 * definition's tags, then the request's.
 *
 * Placing tasks reserves their resources on the chosen instances in the
 * same transaction that writes the tasks, under the cluster's instance
 * lock (ecs_instance_lock_key), which every write of a task of the cluster
 * also holds: two RunTasks never promise the same memory twice. Each change
 * to a task wakes the long poll of the agent of its instance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/agent_hub.h"
#include "api/ecs.h"
#include "api/metrics.h"
#include "api/task_state.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "sched/placement.h"
#include "store/store.h"
#include "core/banned.h"

#define TASK_PREFIX	    "task/"
#define RUN_COUNT_MAX	    10
#define START_INSTANCES_MAX 10
#define DESCRIBE_MAX	    100
#define LIST_MAX	    100
#define STARTED_BY_MAX	    128
#define GROUP_MAX	    255

void ecs_task_key(struct buf *key, const char *cluster, const char *id)
{
	buf_printf(key, TASK_PREFIX "%s/%s", cluster, id);
}

void ecs_instance_task_key(struct buf *key, const char *cluster, const char *instance_id,
			   const char *id)
{
	buf_printf(key, "itask/%s/%s/%s", cluster, instance_id, id);
}

static bool is_time_member(const char *key)
{
	static const char *const times[] = {
		"createdAt",  "pullStartedAt", "pullStoppedAt",	     "startedAt",
		"stoppingAt", "stoppedAt",     "executionStoppedAt", "connectivityAt",
	};

	for (size_t i = 0; i < ARRAY_SIZE(times); i++)
		if (!strcmp(key, times[i]))
			return true;
	return false;
}

void ecs_task_write(struct jsonw *w, const cJSON *doc, bool tags)
{
	const cJSON *v;

	jsonw_obj_begin(w);
	cJSON_ArrayForEach(v, doc) {
		if (v->string[0] == '_' || (!tags && !strcmp(v->string, "tags")))
			continue;
		if (is_time_member(v->string) && cJSON_IsNumber(v))
			jsonw_key_time_ms(w, v->string, (int64_t)v->valuedouble);
		else
			json_write(w, v->string, v);
	}
	if (tags && !json_get(doc, "tags")) {
		jsonw_key(w, "tags");
		jsonw_arr_begin(w);
		jsonw_arr_end(w);
	}
	jsonw_obj_end(w);
}

struct each {
	const char *instance_id;
	int (*fn)(void *arg, const cJSON *task);
	void *arg;
	struct err *err;
};

static int each_one(void *arg, const struct store_kv *kv)
{
	struct each *e = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (!doc)
		return err_set(e->err, -EIO, E_SERVER, "'%s' is stored damaged", kv->key);
	if (e->instance_id &&
	    strcmp(json_str(doc, "_instanceId") ? json_str(doc, "_instanceId") : "",
		   e->instance_id))
		return 0;
	return e->fn(e->arg, doc);
}

struct each_indexed {
	const struct api_ctx *ctx;
	const char *cluster;
	int (*fn)(void *arg, const cJSON *task);
	void *arg;
	struct err *err;
};

static int each_indexed(void *arg, const struct store_kv *kv)
{
	struct each_indexed *e = arg;
	const char *id = strrchr(kv->key, '/');
	_cleanup_json_ cJSON *doc = NULL;
	uint64_t version;
	int r;

	if (!id)
		return 0;
	r = ecs_task_load(e->ctx, e->cluster, id + 1, &doc, &version, e->err);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : e->fn(e->arg, doc);
}

int ecs_live_tasks_each(const struct api_ctx *ctx, const char *cluster,
			int (*fn)(void *arg, const cJSON *task), void *arg, struct err *err)
{
	_cleanup_buf_ struct buf prefix = BUF_INIT;
	struct each_indexed x = { ctx, cluster, fn, arg, err };

	buf_printf(&prefix, "itask/%s/", cluster);
	return store_scan(ctx->srv->store, buf_str(&prefix), NULL, each_indexed, &x, err);
}

int ecs_tasks_each(const struct api_ctx *ctx, const char *cluster, const char *instance_id,
		   int (*fn)(void *arg, const cJSON *task), void *arg, struct err *err)
{
	_cleanup_buf_ struct buf prefix = BUF_INIT;
	struct each e = { instance_id, fn, arg, err };

	if (instance_id) {
		/* the instance's live tasks, from their index (ecs.h) */
		struct each_indexed x = { ctx, cluster, fn, arg, err };

		buf_printf(&prefix, "itask/%s/%s/", cluster, instance_id);
		return store_scan(ctx->srv->store, buf_str(&prefix), NULL, each_indexed, &x, err);
	}
	buf_printf(&prefix, TASK_PREFIX "%s/", cluster);
	return store_scan(ctx->srv->store, buf_str(&prefix), NULL, each_one, &e, err);
}

/* --- naming tasks ------------------------------------------------------ */

/*
 * The id of the task ref names in cluster: an id, or an ARN of the long form
 * task/CLUSTER/ID (cluster must match) or the old task/ID. -EINVAL when it
 * names none.
 */
int ecs_task_id(const struct api_ctx *ctx, const char *cluster, const char *ref,
		char ret[ECS_TASK_ID_MAX + 1])
{
	const char *s = ref ? api_arn_resource(ctx->srv, "ecs", ref) : NULL;
	const char *id;

	if (!s)
		return -EINVAL;
	id = s;
	if (s != ref) {
		const char *slash;

		if (!startswith(s, "task/"))
			return -EINVAL;
		s += 5;
		slash = strchr(s, '/');
		if (slash) {
			if ((size_t)(slash - s) != strlen(cluster) ||
			    strncmp(s, cluster, strlen(cluster)))
				return -EINVAL;
			s = slash + 1;
		}
		id = s;
	}
	if (!*id || strlen(id) > ECS_TASK_ID_MAX)
		return -EINVAL;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return -EINVAL;
	snprintf(ret, ECS_TASK_ID_MAX + 1, "%s", id);
	return 0;
}

int ecs_task_load(const struct api_ctx *ctx, const char *cluster, const char *id, cJSON **ret_doc,
		  uint64_t *ret_version, struct err *err)
{
	_cleanup_buf_ struct buf key = BUF_INIT, value = BUF_INIT;
	int r;

	ecs_task_key(&key, cluster, id);
	r = store_get(ctx->srv->store, buf_str(&key), &value, ret_version, err);
	if (r < 0)
		return r;
	*ret_doc = cJSON_ParseWithLength(value.data, value.len);
	if (!*ret_doc)
		return err_set(err, -EIO, E_SERVER, "'%s' is stored damaged", buf_str(&key));
	return 0;
}

/* --- building a task --------------------------------------------------- */

/* A string member of an integer (ECS shows a container's cpu and memory as strings). */
static void add_int_string(cJSON *obj, const char *key, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	cJSON_AddStringToObject(obj, key, s);
}

/* What RunTask and StartTask check before placing. */
struct launch {
	char cluster[ECS_NAME_MAX + 1];
	cJSON *td;
	struct placement_needs needs;
	char group[GROUP_MAX + 1];
	cJSON *tags; /* the task's: propagated from its task definition, then the request's */
};

static void launch_release(struct launch *l)
{
	cJSON_Delete(l->td);
	cJSON_Delete(l->tags);
	memset(l, 0, sizeof(*l));
}

/* An awsvpc task's ElasticNetworkInterface attachment, as RunTask shows it on ECS. */
static void add_eni_attachment(cJSON *doc, const cJSON *netconf)
{
	const cJSON *subnets = json_arr(json_obj(netconf, "awsvpcConfiguration"), "subnets");
	cJSON *list = cJSON_AddArrayToObject(doc, "attachments");
	cJSON *at = cJSON_CreateObject(), *details, *d;
	char uuid[37];

	uuid_v4(uuid);
	cJSON_AddStringToObject(at, "id", uuid);
	cJSON_AddStringToObject(at, "type", "ElasticNetworkInterface");
	cJSON_AddStringToObject(at, "status", "PRECREATED");
	details = cJSON_AddArrayToObject(at, "details");
	if (subnets && cJSON_IsString(subnets->child)) {
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "name", "subnetId");
		cJSON_AddStringToObject(d, "value", subnets->child->valuestring);
		cJSON_AddItemToArray(details, d);
	}
	cJSON_AddItemToArray(list, at);
}

int ecs_network_configuration_check(const cJSON *td, const cJSON *netconf, struct err *err)
{
	const cJSON *vpc = json_obj(netconf, "awsvpcConfiguration");
	const cJSON *subnets = json_arr(vpc, "subnets"), *groups = json_arr(vpc, "securityGroups");
	const cJSON *s;
	bool awsvpc = !strcmp(json_str(td, "networkMode") ?: "", "awsvpc");
	int n = 0;

	if (!awsvpc) {
		if (netconf)
			return err_set(
				err, -EINVAL, E_INVALID_PARAMETER,
				"Network Configuration is not valid for the given networkMode "
				"of this task definition.");
		return 0;
	}
	if (!vpc)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Network Configuration must be provided when networkMode 'awsvpc' "
			       "is specified.");
	cJSON_ArrayForEach(s, subnets) {
		if (!cJSON_IsString(s) || !*s->valuestring)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "subnets can not be empty.");
		n++;
	}
	if (n == 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "subnets can not be empty.");
	if (n > 16)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "subnets can have at most 16 items.");
	n = 0;
	cJSON_ArrayForEach(s, groups)
		n++;
	if (n > 5)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "securityGroups can have at most 5 items.");
	if (!strcmp(json_str(vpc, "assignPublicIp") ?: "", "ENABLED"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Assign public IP is not supported for this launch type.");
	return 0;
}

static cJSON *new_task(const struct api_ctx *ctx, const struct launch *l, const cJSON *instance,
		       const char *instance_id)
{
	const char *cluster = l->cluster, *group = l->group;
	const cJSON *td = l->td;
	const struct placement_needs *needs = &l->needs;
	const cJSON *in = ctx->in, *overrides = json_obj(in, "overrides");
	const cJSON *defs = json_arr(td, "containerDefinitions");
	_cleanup_buf_ struct buf res = BUF_INIT, arn = BUF_INIT, carn = BUF_INIT;
	cJSON *doc = cJSON_CreateObject(), *containers, *attrs, *a;
	char id[33], uuid[37];
	const char *az = NULL;

	random_hex(id, 16);
	buf_printf(&res, "task/%s/%s", cluster, id);
	api_arn(ctx->srv, &arn, "ecs", buf_str(&res));
	buf_reset(&res);
	buf_printf(&res, "cluster/%s", cluster);
	api_arn(ctx->srv, &carn, "ecs", buf_str(&res));

	cJSON_AddStringToObject(doc, "taskArn", buf_str(&arn));
	cJSON_AddStringToObject(doc, "clusterArn", buf_str(&carn));
	cJSON_AddStringToObject(doc, "taskDefinitionArn", json_str(td, "taskDefinitionArn"));
	cJSON_AddStringToObject(doc, "containerInstanceArn",
				json_str(instance, "containerInstanceArn"));
	cJSON_AddItemToObject(doc, "overrides",
			      overrides ? cJSON_Duplicate(overrides, true)
					: cJSON_Parse("{\"containerOverrides\":[]}"));
	if (!json_get(json_obj(doc, "overrides"), "containerOverrides"))
		cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(doc, "overrides"),
				       "containerOverrides");
	cJSON_AddStringToObject(doc, "lastStatus", "PENDING");
	cJSON_AddStringToObject(doc, "desiredStatus", "RUNNING");
	add_int_string(doc, "cpu", needs->cpu);
	add_int_string(doc, "memory", needs->memory);
	containers = cJSON_AddArrayToObject(doc, "containers");
	for (const cJSON *d = defs ? defs->child : NULL; d; d = d->next) {
		const char *name = json_str(d, "name");
		const cJSON *o =
			json_array_find(json_arr(overrides, "containerOverrides"), "name", name);
		cJSON *c = cJSON_CreateObject();
		_cleanup_buf_ struct buf cres = BUF_INIT, cArn = BUF_INIT;

		uuid_v4(uuid);
		buf_printf(&cres, "container/%s/%s/%s", cluster, id, uuid);
		api_arn(ctx->srv, &cArn, "ecs", buf_str(&cres));
		cJSON_AddStringToObject(c, "containerArn", buf_str(&cArn));
		cJSON_AddStringToObject(c, "taskArn", buf_str(&arn));
		cJSON_AddStringToObject(c, "name", name ? name : "");
		cJSON_AddStringToObject(c, "image",
					json_str(d, "image") ? json_str(d, "image") : "");
		cJSON_AddStringToObject(c, "lastStatus", "PENDING");
		cJSON_AddArrayToObject(c, "networkBindings");
		cJSON_AddArrayToObject(c, "networkInterfaces");
		cJSON_AddStringToObject(c, "healthStatus", "UNKNOWN");
		add_int_string(c, "cpu", json_int(o && json_has(o, "cpu") ? o : d, "cpu", 0));
		if (json_has(o, "memory") || json_has(d, "memory"))
			add_int_string(c, "memory",
				       json_int(o && json_has(o, "memory") ? o : d, "memory", 0));
		if (json_has(o, "memoryReservation") || json_has(d, "memoryReservation"))
			add_int_string(c, "memoryReservation",
				       json_int(o && json_has(o, "memoryReservation") ? o : d,
						"memoryReservation", 0));
		cJSON_AddItemToArray(containers, c);
	}
	if (json_str(in, "startedBy"))
		cJSON_AddStringToObject(doc, "startedBy", json_str(in, "startedBy"));
	cJSON_AddStringToObject(doc, "group", group);
	cJSON_AddStringToObject(doc, "launchType", "EC2");
	cJSON_AddNumberToObject(doc, "createdAt", (double)ctx->now_ms);
	cJSON_AddNumberToObject(doc, "version", 1);
	cJSON_AddStringToObject(doc, "healthStatus", "UNKNOWN");
	cJSON_AddBoolToObject(doc, "enableExecuteCommand",
			      json_bool(in, "enableExecuteCommand", false));
	attrs = cJSON_AddArrayToObject(doc, "attributes");
	cJSON_ArrayForEach(a, json_arr(instance, "attributes")) {
		const char *n = json_str(a, "name");

		if (n && !strcmp(n, "ecs.cpu-architecture")) {
			cJSON *x = cJSON_CreateObject();

			cJSON_AddStringToObject(x, "name", n);
			cJSON_AddStringToObject(x, "value", json_str(a, "value") ?: "");
			cJSON_AddItemToArray(attrs, x);
		}
		if (n && !strcmp(n, "ecs.availability-zone"))
			az = json_str(a, "value");
	}
	if (az)
		cJSON_AddStringToObject(doc, "availabilityZone", az);
	if (l->tags && l->tags->child)
		cJSON_AddItemToObject(doc, "tags", cJSON_Duplicate(l->tags, true));
	if (json_obj(in, "networkConfiguration"))
		cJSON_AddItemToObject(doc, "_networkConfiguration",
				      cJSON_Duplicate(json_obj(in, "networkConfiguration"), true));
	if (!strcmp(json_str(td, "networkMode") ?: "", "awsvpc"))
		add_eni_attachment(doc, json_obj(in, "networkConfiguration"));
	cJSON_AddStringToObject(doc, "_instanceId", instance_id);
	cJSON_AddItemToObject(doc, "_needs", placement_needs_to_json(needs));
	cJSON_AddStringToObject(doc, "_counted", "pending");
	return doc;
}

/* --- RunTask and StartTask --------------------------------------------- */

/*
 * The task's tags: with propagateTags TASK_DEFINITION, its task
 * definition's first; then the request's, which win for the same key.
 */
static int launch_tags(const struct api_ctx *ctx, struct launch *l, struct err *err)
{
	const char *propagate = json_str(ctx->in, "propagateTags");
	_cleanup_json_ cJSON *holder = cJSON_CreateObject();
	int r = 0;

	if (!holder)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	if (propagate && !strcmp(propagate, "TASK_DEFINITION") && json_arr(l->td, "tags"))
		r = ecs_tags_merge(holder, json_arr(l->td, "tags"), err);
	if (r == 0 && json_arr(ctx->in, "tags"))
		r = ecs_tags_merge(holder, json_arr(ctx->in, "tags"), err);
	if (r < 0)
		return r;
	l->tags = cJSON_DetachItemFromObjectCaseSensitive(holder, "tags");
	return 0;
}

/*
 * ECS counts the task definition's placement constraints with the
 * request's: at most PLACEMENT_CONSTRAINTS_MAX in all for a task.
 * (placement_choose applies both lists.)
 */
static int check_constraint_count(const struct api_ctx *ctx, const struct launch *l,
				  struct err *err)
{
	int n = cJSON_GetArraySize(json_arr(l->td, "placementConstraints")) +
		cJSON_GetArraySize(json_arr(ctx->in, "placementConstraints"));

	if (n > PLACEMENT_CONSTRAINTS_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "You can specify a maximum of %d placement constraints, the task "
			       "definition's and the request's together.",
			       PLACEMENT_CONSTRAINTS_MAX);
	return 0;
}

static int launch_prepare(struct api_ctx *ctx, struct launch *l, struct err *err)
{
	const cJSON *in = ctx->in, *overrides = json_obj(in, "overrides");
	const char *launch_type = json_str(in, "launchType");
	const char *started_by = json_str(in, "startedBy"), *group = json_str(in, "group");
	const cJSON *compat, *o;
	_cleanup_json_ cJSON *cluster = NULL;
	uint64_t version;
	int r;

	r = ecs_cluster_name(ctx, json_str(in, "cluster"), l->cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, l->cluster, false, &cluster, &version, err);
	if (r < 0)
		return r;
	if (launch_type && strcmp(launch_type, "EC2") != 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth runs tasks on the container instances of its clusters: "
			       "launchType %s is not available, use EC2",
			       launch_type);
	if (json_arr(in, "capacityProviderStrategy") &&
	    json_arr(in, "capacityProviderStrategy")->child)
		return err_set(
			err, -EINVAL, E_INVALID_PARAMETER,
			"berth has no capacity providers: leave capacityProviderStrategy out");
	if (started_by && strlen(started_by) > STARTED_BY_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "startedBy must be at most %d characters", STARTED_BY_MAX);
	if (group && (!*group || strlen(group) > GROUP_MAX))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "group must be 1 to %d characters", GROUP_MAX);
	r = ecs_tags_validate(json_arr(in, "tags"), err);
	if (r < 0)
		return r;
	if (!strcmp(json_str(in, "propagateTags") ?: "NONE", "SERVICE"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "propagateTags SERVICE is only for a service's tasks: a task run "
			       "alone takes TASK_DEFINITION or NONE");
	r = ecs_task_definition_resolve(ctx, json_str(in, "taskDefinition"), &l->td, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, E_CLIENT, "TaskDefinition not found.");
	if (r < 0)
		return r;
	if (strcmp(json_str(l->td, "status") ?: "", "ACTIVE") != 0 && !ctx->scheduler)
		return err_set(err, -EINVAL, E_CLIENT, "TaskDefinition is inactive");
	compat = json_arr(l->td, "requiresCompatibilities");
	if (compat && compat->child) {
		bool ec2 = false;

		for (const cJSON *c = compat->child; c; c = c->next)
			ec2 = ec2 || (cJSON_IsString(c) && !strcmp(c->valuestring, "EC2"));
		if (!ec2)
			return err_set(err, -EINVAL, E_CLIENT,
				       "Task definition does not support launch_type EC2.");
	}
	cJSON_ArrayForEach(o, json_arr(overrides, "containerOverrides")) {
		const char *name = json_str(o, "name");

		if (!name ||
		    !json_array_find(json_arr(l->td, "containerDefinitions"), "name", name))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "Override for container named %s is not a container in the "
				       "TaskDefinition.",
				       name ? name : "(none)");
	}
	r = ecs_network_configuration_check(l->td, json_obj(in, "networkConfiguration"), err);
	if (r == 0)
		r = placement_task_needs(l->td, overrides, &l->needs, err);
	if (r < 0)
		return r;
	if (l->needs.memory <= 0)
		return err_set(err, -EINVAL, E_CLIENT,
			       "Invalid setting for container: at least one of 'memory' or "
			       "'memoryReservation' must be specified.");
	snprintf(l->group, sizeof(l->group), "%.*s", GROUP_MAX, group ? group : "");
	if (!group) {
		_cleanup_buf_ struct buf g = BUF_INIT;

		buf_printf(&g, "family:%s", json_str(l->td, "family") ?: "");
		snprintf(l->group, sizeof(l->group), "%.*s", GROUP_MAX, buf_str(&g));
	}
	r = launch_tags(ctx, l, err);
	if (r == 0)
		r = check_constraint_count(ctx, l, err);
	if (r < 0)
		return r;
	return placement_validate(json_arr(in, "placementConstraints"),
				  json_arr(in, "placementStrategy"), err);
}

/* The cluster's instances and their live tasks, for placement. */
struct cluster_view {
	cJSON *instances; /* array of instance documents */
	uint64_t *versions;
	size_t n;
	cJSON *tasks; /* array of live task documents */
	struct placement_instance *pi;
	const cJSON **task_ptrs;
};

static int collect_instance(void *arg, const struct store_kv *kv)
{
	struct cluster_view *v = arg;
	cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	uint64_t *versions;

	if (!doc)
		return 0;
	versions = realloc(v->versions, (v->n + 1) * sizeof(*versions));
	if (!versions) {
		cJSON_Delete(doc);
		return -ENOMEM;
	}
	v->versions = versions;
	v->versions[v->n++] = kv->version;
	cJSON_AddItemToArray(v->instances, doc);
	return 0;
}

static int collect_task(void *arg, const cJSON *task)
{
	struct cluster_view *v = arg;

	if (!strcmp(json_str(task, "lastStatus") ?: "", "STOPPED"))
		return 0;
	cJSON_AddItemToArray(v->tasks, cJSON_Duplicate(task, true));
	return 0;
}

static void view_release(struct cluster_view *v)
{
	cJSON_Delete(v->instances);
	cJSON_Delete(v->tasks);
	free(v->versions);
	free(v->pi);
	free(v->task_ptrs);
	memset(v, 0, sizeof(*v));
}

static const char *instance_id_of(const cJSON *instance)
{
	const char *arn = json_str(instance, "containerInstanceArn");
	const char *slash = arn ? strrchr(arn, '/') : NULL;

	return slash ? slash + 1 : "";
}

static int view_load(const struct api_ctx *ctx, const char *cluster, struct cluster_view *v,
		     struct err *err)
{
	_cleanup_buf_ struct buf prefix = BUF_INIT;
	size_t n_tasks = 0, k = 0;
	int r;

	memset(v, 0, sizeof(*v));
	v->instances = cJSON_CreateArray();
	v->tasks = cJSON_CreateArray();
	buf_printf(&prefix, "instance/%s/", cluster);
	r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, collect_instance, v, err);
	if (r == 0)
		r = ecs_live_tasks_each(ctx, cluster, collect_task, v, err);
	if (r < 0)
		return r == -ENOMEM ? err_set(err, r, E_SERVER, "out of memory") : r;
	for (const cJSON *t = v->tasks->child; t; t = t->next)
		n_tasks++;
	v->pi = calloc(v->n ? v->n : 1, sizeof(*v->pi));
	v->task_ptrs = calloc(n_tasks ? n_tasks : 1, sizeof(*v->task_ptrs));
	if (!v->pi || !v->task_ptrs)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	/* each instance's tasks are one run of task_ptrs */
	size_t i = 0;

	for (const cJSON *inst = v->instances->child; inst; inst = inst->next, i++) {
		const char *id = instance_id_of(inst);

		v->pi[i].doc = inst;
		v->pi[i].tasks = &v->task_ptrs[k];
		for (const cJSON *t = v->tasks->child; t; t = t->next)
			if (!strcmp(json_str(t, "_instanceId") ?: "", id)) {
				v->task_ptrs[k++] = t;
				v->pi[i].n_tasks++;
			}
	}
	return 0;
}

static cJSON *view_instance(struct cluster_view *v, size_t i)
{
	return cJSON_GetArrayItem(v->instances, (int)i);
}

/*
 * Write the placed tasks and their instances' reservations in one
 * transaction, then answer with the tasks and failures.
 */
static int launch_commit(struct api_ctx *ctx, struct launch *l, struct cluster_view *v,
			 const int *choice, unsigned count, cJSON *failures, cJSON *ret_tasks,
			 struct err *err)
{
	_cleanup_json_ cJSON *tasks = cJSON_CreateArray();
	struct store_txn txn = STORE_TXN_INIT;
	bool *touched = calloc(v->n ? v->n : 1, sizeof(bool));
	int r = 0;

	if (!touched)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	for (unsigned t = 0; t < count; t++) {
		cJSON *inst, *task;
		_cleanup_buf_ struct buf key = BUF_INIT;
		char *json;

		if (choice[t] < 0)
			continue;
		inst = view_instance(v, (size_t)choice[t]);
		task = new_task(ctx, l, inst, instance_id_of(inst));
		placement_reserve(inst, &l->needs);
		json_set_num(inst, "pendingTasksCount",
			     (double)(json_int(inst, "pendingTasksCount", 0) + 1));
		if (!touched[choice[t]])
			json_set_num(inst, "version", (double)(json_int(inst, "version", 0) + 1));
		touched[choice[t]] = true;
		ecs_task_key(&key, l->cluster, strrchr(json_str(task, "taskArn"), '/') + 1);
		json = cJSON_PrintUnformatted(task);
		store_txn_check(&txn, buf_str(&key), 0);
		store_txn_put(&txn, buf_str(&key), json, strlen(json));
		free(json);
		buf_reset(&key);
		ecs_instance_task_key(&key, l->cluster, instance_id_of(inst),
				      strrchr(json_str(task, "taskArn"), '/') + 1);
		store_txn_put(&txn, buf_str(&key), "", 0);
		cJSON_AddItemToArray(tasks, task);
	}
	for (size_t i = 0; i < v->n; i++)
		if (touched[i])
			ecs_instance_put(&txn, l->cluster, instance_id_of(view_instance(v, i)),
					 view_instance(v, i), v->versions[i]);
	if (tasks->child)
		r = store_commit(ctx->srv->store, &txn, NULL, err);
	store_txn_release(&txn);
	if (r == 0) {
		for (size_t i = 0; i < v->n; i++)
			if (touched[i])
				agent_hub_notify(ctx->srv->agents, l->cluster,
						 instance_id_of(view_instance(v, i)));
	}
	if (r == 0 && ret_tasks) {
		while (tasks->child)
			cJSON_AddItemToArray(ret_tasks,
					     cJSON_DetachItemViaPointer(tasks, tasks->child));
	} else if (r == 0) {
		jsonw_key(ctx->out, "tasks");
		jsonw_arr_begin(ctx->out);
		for (const cJSON *t = tasks->child; t; t = t->next)
			ecs_task_write(ctx->out, t, true);
		jsonw_arr_end(ctx->out);
		jsonw_key(ctx->out, "failures");
		json_write(ctx->out, NULL, failures);
	}
	free(touched);
	return r;
}

int ecs_run_task(struct api_ctx *ctx, struct err *err)
{
	struct launch l = { 0 };
	struct cluster_view v = { 0 };
	_cleanup_buf_ struct buf lock = BUF_INIT;
	_cleanup_json_ cJSON *failures = cJSON_CreateArray();
	int64_t count = json_int(ctx->in, "count", 1);
	int choice[RUN_COUNT_MAX];
	uint64_t placing;
	int r;

	if (count < 1 || count > RUN_COUNT_MAX) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "count must be between 1 and %d",
			    RUN_COUNT_MAX);
		goto out;
	}
	r = launch_prepare(ctx, &l, err);
	if (r < 0)
		goto out;
	ecs_instance_lock_key(&lock, l.cluster);
	api_lock(buf_str(&lock));
	placing = mono_ns();
	r = view_load(ctx, l.cluster, &v, err);
	if (r == 0) {
		size_t live = 0;

		for (size_t i = 0; i < v.n; i++)
			if (strcmp(json_str(view_instance(&v, i), "status") ?: "", "INACTIVE") != 0)
				live++;
		if (live == 0)
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "No Container Instances were found in your cluster.");
	}
	if (r == 0) {
		struct placement_request req = {
			.needs = &l.needs,
			.group = l.group,
			.constraints = json_arr(ctx->in, "placementConstraints"),
			.definition_constraints = json_arr(l.td, "placementConstraints"),
			.required_attributes = json_arr(l.td, "requiresAttributes"),
			.strategy = json_arr(ctx->in, "placementStrategy"),
			.count = (unsigned)count,
		};

		r = placement_choose(&req, v.pi, v.n, choice, failures, err);
		api_metrics_scheduler(ctx->srv->metrics, "placement", mono_ns() - placing);
	}
	if (r == 0)
		r = launch_commit(ctx, &l, &v, choice, (unsigned)count, failures, NULL, err);
	api_unlock(buf_str(&lock));
out:
	view_release(&v);
	launch_release(&l);
	return r;
}

static void add_failure(cJSON *failures, const char *arn, const char *reason)
{
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "arn", arn ? arn : "");
	cJSON_AddStringToObject(f, "reason", reason);
	cJSON_AddItemToArray(failures, f);
}

/*
 * Whether one more task fits on instance i of the view, beside the `taken`
 * tasks this StartTask placed there already: placement on that one
 * instance, its document with their reservations made. 1 yes, 0 no (its
 * failure added), negative on failure.
 */
static int start_fits(const struct launch *l, struct cluster_view *v, size_t i, unsigned taken,
		      cJSON *failures, struct err *err)
{
	struct placement_request req = {
		.needs = &l->needs,
		.group = l->group,
		.required_attributes = json_arr(l->td, "requiresAttributes"),
		.count = 1,
	};
	struct placement_instance one = v->pi[i];
	_cleanup_json_ cJSON *doc = NULL;
	int c, r;

	if (taken) {
		doc = cJSON_Duplicate(one.doc, true);
		if (!doc)
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		for (unsigned k = 0; k < taken; k++)
			placement_reserve(doc, &l->needs);
		one.doc = doc;
	}
	r = placement_choose(&req, &one, 1, &c, failures, err);
	return r < 0 ? r : c == 0;
}

/*
 * StartTask: one task on each instance named, in order. An instance named
 * twice gets two tasks when it has room for both (each takes its share, as
 * RunTask's count does). Failures as the developer guide's "API failure
 * reasons" give them for StartTask: MISSING for an instance the cluster
 * does not have, INACTIVE for one deregistered; RESOURCE:*, AGENT and
 * ATTRIBUTE from placement; and DRAINING for a draining instance, which
 * ECS does not launch new tasks on.
 */
int ecs_start_task(struct api_ctx *ctx, struct err *err)
{
	struct launch l = { 0 };
	struct cluster_view v = { 0 };
	_cleanup_buf_ struct buf lock = BUF_INIT;
	_cleanup_json_ cJSON *failures = cJSON_CreateArray();
	_cleanup_free_ unsigned *taken = NULL;
	const cJSON *named = json_arr(ctx->in, "containerInstances");
	int choice[START_INSTANCES_MAX];
	unsigned count = 0;
	int r;

	for (const cJSON *n = named ? named->child : NULL; n; n = n->next)
		count++;
	if (count < 1 || count > START_INSTANCES_MAX) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "containerInstances must name 1 to %d instances", START_INSTANCES_MAX);
		goto out;
	}
	r = launch_prepare(ctx, &l, err);
	if (r < 0)
		goto out;
	ecs_instance_lock_key(&lock, l.cluster);
	api_lock(buf_str(&lock));
	r = view_load(ctx, l.cluster, &v, err);
	if (r == 0) {
		taken = calloc(v.n ? v.n : 1, sizeof(*taken));
		if (!taken)
			r = err_set(err, -ENOMEM, E_SERVER, "out of memory");
	}
	count = 0;
	for (const cJSON *n = named->child; r == 0 && n; n = n->next, count++) {
		char id[ECS_INSTANCE_ID_MAX + 1];
		const char *status, *arn;
		size_t i;

		choice[count] = -1;
		if (!cJSON_IsString(n) || ecs_instance_id(ctx, l.cluster, n->valuestring, id) < 0)
			i = v.n;
		else
			for (i = 0; i < v.n; i++)
				if (!strcmp(instance_id_of(view_instance(&v, i)), id))
					break;
		if (i == v.n) {
			add_failure(failures, cJSON_IsString(n) ? n->valuestring : "", "MISSING");
			continue;
		}
		status = json_str(view_instance(&v, i), "status") ?: "";
		arn = json_str(view_instance(&v, i), "containerInstanceArn");
		if (!strcmp(status, "INACTIVE") || !strcmp(status, "DRAINING")) {
			add_failure(failures, arn, status);
			continue;
		}
		r = start_fits(&l, &v, i, taken[i], failures, err);
		if (r > 0) {
			choice[count] = (int)i;
			taken[i]++;
		}
		r = r < 0 ? r : 0;
	}
	if (r == 0)
		r = launch_commit(ctx, &l, &v, choice, count, failures, NULL, err);
	api_unlock(buf_str(&lock));
out:
	view_release(&v);
	launch_release(&l);
	return r;
}

int ecs_tasks_launch(struct api_ctx *ctx, unsigned count, const char *instance_id, cJSON *ret_tasks,
		     cJSON *ret_failures, struct err *err)
{
	struct launch l = { 0 };
	struct cluster_view v = { 0 };
	_cleanup_buf_ struct buf lock = BUF_INIT;
	_cleanup_free_ int *choice = NULL;
	int r;

	if (count == 0)
		return 0;
	choice = calloc(count, sizeof(*choice));
	if (!choice)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	r = launch_prepare(ctx, &l, err);
	if (r < 0)
		goto out;
	ecs_instance_lock_key(&lock, l.cluster);
	api_lock(buf_str(&lock));
	r = view_load(ctx, l.cluster, &v, err);
	if (r == 0) {
		struct placement_request req = {
			.needs = &l.needs,
			.group = l.group,
			.constraints = json_arr(ctx->in, "placementConstraints"),
			.definition_constraints = json_arr(l.td, "placementConstraints"),
			.required_attributes = json_arr(l.td, "requiresAttributes"),
			.strategy = json_arr(ctx->in, "placementStrategy"),
			.count = count,
		};
		size_t i = 0;

		/* one named instance: placement over it alone (constraints and resources hold) */
		if (instance_id)
			for (i = 0; i < v.n; i++)
				if (!strcmp(instance_id_of(view_instance(&v, i)), instance_id))
					break;
		if (instance_id && i == v.n) {
			for (unsigned t = 0; t < count; t++)
				choice[t] = -1;
		} else if (instance_id) {
			r = placement_choose(&req, &v.pi[i], 1, choice, ret_failures, err);
			for (unsigned t = 0; r == 0 && t < count; t++)
				choice[t] = choice[t] == 0 ? (int)i : -1;
		} else {
			r = placement_choose(&req, v.pi, v.n, choice, ret_failures, err);
		}
	}
	if (r == 0)
		r = launch_commit(ctx, &l, &v, choice, count, ret_failures, ret_tasks, err);
	api_unlock(buf_str(&lock));
out:
	view_release(&v);
	launch_release(&l);
	return r;
}

/* --- StopTask ---------------------------------------------------------- */

int ecs_task_stop(const struct api_ctx *ctx, const char *cluster, const char *id,
		  const char *stop_code, const char *reason, cJSON **ret_doc, struct err *err)
{
	_cleanup_buf_ struct buf lock = BUF_INIT;
	cJSON *doc = NULL;
	uint64_t version;
	int r;

	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	r = ecs_task_load(ctx, cluster, id, &doc, &version, err);
	if (r == 0 && strcmp(json_str(doc, "desiredStatus") ?: "", "STOPPED") != 0) {
		json_set_str(doc, "desiredStatus", "STOPPED");
		json_set_str(doc, "stopCode", stop_code);
		json_set_str(doc, "stoppedReason", reason);
		json_set_num(doc, "stoppingAt", (double)ctx->now_ms);
		r = task_state_commit(ctx, cluster, id, doc, version, err);
	}
	api_unlock(buf_str(&lock));
	if (r == 0 && ret_doc)
		*ret_doc = doc;
	else
		cJSON_Delete(doc);
	return r;
}

int ecs_stop_task(struct api_ctx *ctx, struct err *err)
{
	char cluster[ECS_NAME_MAX + 1], id[ECS_TASK_ID_MAX + 1];
	_cleanup_json_ cJSON *doc = NULL;
	const char *reason = json_str(ctx->in, "reason");
	int r;

	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r < 0)
		return r;
	if (reason && strlen(reason) > 1024)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "reason must be at most 1024 characters");
	if (ecs_task_id(ctx, cluster, json_str(ctx->in, "task"), id) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The referenced task was not found.");
	r = ecs_task_stop(ctx, cluster, id, "UserInitiated",
			  reason && *reason ? reason : "Task stopped by user", &doc, err);
	if (r == -ENOENT) {
		_cleanup_json_ cJSON *c = NULL;
		uint64_t cv;

		r = ecs_cluster_load(ctx, cluster, true, &c, &cv, err);
		if (r == 0)
			r = err_set(err, -ENOENT, E_INVALID_PARAMETER,
				    "The referenced task was not found.");
	}
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "task");
	ecs_task_write(ctx->out, doc, false);
	return 0;
}

/* --- orphans of a deregistered instance ------------------------------- */

struct orphans {
	const char *instance_arn;
	struct buf ids; /* "ID\n" each */
};

static int collect_orphan(void *arg, const struct store_kv *kv)
{
	struct orphans *o = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *slash = strrchr(kv->key, '/');

	if (!doc || !slash ||
	    strcmp(json_str(doc, "containerInstanceArn") ?: "", o->instance_arn) ||
	    !strcmp(json_str(doc, "lastStatus") ?: "", "STOPPED"))
		return 0;
	buf_puts(&o->ids, slash + 1);
	buf_putc(&o->ids, '\n');
	return 0;
}

int ecs_tasks_orphan(const struct api_ctx *ctx, const char *cluster, const char *instance_arn,
		     struct err *err)
{
	_cleanup_buf_ struct buf prefix = BUF_INIT;
	struct orphans o = { .instance_arn = instance_arn ? instance_arn : "" };
	static const char report[] = "{\"status\":\"STOPPED\"}";
	_cleanup_json_ cJSON *stopped = cJSON_Parse(report);
	int r;

	buf_init(&o.ids);
	buf_printf(&prefix, TASK_PREFIX "%s/", cluster);
	r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, collect_orphan, &o, err);
	for (char *id = o.ids.data, *nl; r == 0 && id && (nl = strchr(id, '\n')); id = nl + 1) {
		_cleanup_json_ cJSON *doc = NULL;
		uint64_t version;

		*nl = '\0';
		r = ecs_task_load(ctx, cluster, id, &doc, &version, err);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		json_set_str(doc, "desiredStatus", "STOPPED");
		if (!json_str(doc, "stopCode"))
			json_set_str(doc, "stopCode", "UserInitiated");
		if (!json_str(doc, "stoppedReason"))
			json_set_str(doc, "stoppedReason",
				     "Container instance deregistered with force: the task is no "
				     "longer tracked");
		task_state_apply(doc, stopped, ctx->now_ms);
		r = task_state_commit(ctx, cluster, id, doc, version, err);
	}
	buf_release(&o.ids);
	return r;
}

/* --- purging stopped tasks -------------------------------------------- */

#define PURGE_BATCH 100

struct purge {
	int64_t before_ms;
	struct buf found; /* "CLUSTER ID VERSION\n" each, in key order */
};

static int collect_purgeable(void *arg, const struct store_kv *kv)
{
	struct purge *p = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *rest = kv->key + strlen(TASK_PREFIX), *slash = strchr(rest, '/');
	int64_t stopped;

	if (!doc || !slash || strcmp(json_str(doc, "lastStatus") ?: "", "STOPPED") != 0)
		return 0;
	stopped = json_int(doc, "stoppedAt", 0);
	if (stopped <= 0)
		stopped = json_int(doc, "createdAt", 0);
	if (stopped > p->before_ms)
		return 0;
	buf_printf(&p->found, "%.*s %s %llu\n", (int)(slash - rest), rest, slash + 1,
		   (unsigned long long)kv->version);
	return 0;
}

/* Delete the n tasks of cluster listed in lines (each "CLUSTER ID VERSION"). */
static int purge_batch(const struct api_ctx *ctx, const char *cluster, char **lines, size_t n,
		       unsigned *removed, struct err *err)
{
	_cleanup_buf_ struct buf lock = BUF_INIT;
	struct store_txn txn = STORE_TXN_INIT;
	int r;

	for (size_t i = 0; i < n; i++) {
		_cleanup_buf_ struct buf key = BUF_INIT;
		char *id = strchr(lines[i], ' ') + 1, *sp = strchr(id, ' ');

		*sp = '\0';
		ecs_task_key(&key, cluster, id);
		store_txn_check(&txn, buf_str(&key), strtoull(sp + 1, NULL, 10));
		store_txn_delete(&txn, buf_str(&key));
	}
	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	r = store_commit(ctx->srv->store, &txn, NULL, err);
	api_unlock(buf_str(&lock));
	store_txn_release(&txn);
	if (r == 0)
		*removed += (unsigned)n;
	return r;
}

int ecs_tasks_purge(const struct api_ctx *ctx, int64_t retention_ms, unsigned *ret_removed,
		    struct err *err)
{
	struct purge p = { .before_ms = ctx->now_ms - retention_ms };
	char *lines[PURGE_BATCH];
	size_t n = 0;
	int r, failed = 0;

	*ret_removed = 0;
	buf_init(&p.found);
	r = store_scan(ctx->srv->store, TASK_PREFIX, NULL, collect_purgeable, &p, err);
	for (char *line = p.found.data, *nl; r == 0 && line && (nl = strchr(line, '\n'));
	     line = nl + 1) {
		*nl = '\0';
		/* a batch is one cluster's: flush when the cluster changes or it is full */
		if (n && (n == PURGE_BATCH || strcspn(line, " ") != strcspn(lines[0], " ") ||
			  strncmp(line, lines[0], strcspn(line, " ")) != 0)) {
			char cluster[ECS_NAME_MAX + 1];

			snprintf(cluster, sizeof(cluster), "%.*s", (int)strcspn(lines[0], " "),
				 lines[0]);
			if (purge_batch(ctx, cluster, lines, n, ret_removed, err) < 0)
				failed = -EAGAIN; /* written meanwhile: the next call */
			n = 0;
		}
		lines[n++] = line;
	}
	if (r == 0 && n) {
		char cluster[ECS_NAME_MAX + 1];

		snprintf(cluster, sizeof(cluster), "%.*s", (int)strcspn(lines[0], " "), lines[0]);
		if (purge_batch(ctx, cluster, lines, n, ret_removed, err) < 0)
			failed = -EAGAIN;
	}
	buf_release(&p.found);
	return r < 0 ? r : failed;
}

/* --- DescribeTasks and ListTasks --------------------------------------- */

int ecs_describe_tasks(struct api_ctx *ctx, struct err *err)
{
	char cluster[ECS_NAME_MAX + 1];
	const cJSON *refs = json_arr(ctx->in, "tasks"), *ref, *inc;
	_cleanup_json_ cJSON *failures = cJSON_CreateArray();
	_cleanup_json_ cJSON *c = NULL;
	uint64_t cv;
	bool tags = false;
	size_t n = 0;
	int r;

	cJSON_ArrayForEach(inc, json_arr(ctx->in, "include"))
		tags |= cJSON_IsString(inc) && !strcmp(inc->valuestring, "TAGS");
	cJSON_ArrayForEach(ref, refs)
		n++;
	if (n == 0 || n > DESCRIBE_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "tasks must name 1 to %d tasks",
			       DESCRIBE_MAX);
	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, true, &c, &cv, err);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "tasks");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(ref, refs) {
		_cleanup_json_ cJSON *doc = NULL;
		char id[ECS_TASK_ID_MAX + 1];
		uint64_t version;

		r = -ENOENT;
		if (cJSON_IsString(ref) && ecs_task_id(ctx, cluster, ref->valuestring, id) == 0)
			r = ecs_task_load(ctx, cluster, id, &doc, &version, err);
		if (r == -ENOENT) {
			cJSON *f = cJSON_CreateObject();

			cJSON_AddStringToObject(f, "arn",
						cJSON_IsString(ref) ? ref->valuestring : "");
			cJSON_AddStringToObject(f, "reason", "MISSING");
			cJSON_AddItemToArray(failures, f);
			continue;
		}
		if (r < 0)
			return r;
		ecs_task_write(ctx->out, doc, tags);
	}
	jsonw_arr_end(ctx->out);
	jsonw_key(ctx->out, "failures");
	json_write(ctx->out, NULL, failures);
	return 0;
}

struct list {
	struct api_page page;
	const char *instance_id, *family, *started_by, *service, *desired, *launch_type;
};

static int list_one(void *arg, const struct store_kv *kv)
{
	struct list *l = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *td = json_str(doc, "taskDefinitionArn");
	const char *fam = td ? strstr(td, ":task-definition/") : NULL;

	if (!doc)
		return 0;
	if (l->instance_id && strcmp(json_str(doc, "_instanceId") ?: "", l->instance_id))
		return 0;
	if (strcmp(json_str(doc, "desiredStatus") ?: "", l->desired))
		return 0;
	if (l->started_by && strcmp(json_str(doc, "startedBy") ?: "", l->started_by))
		return 0;
	if (l->launch_type && strcmp(l->launch_type, "EC2"))
		return 0;
	if (l->service) {
		_cleanup_buf_ struct buf g = BUF_INIT;

		buf_printf(&g, "service:%s", l->service);
		if (strcmp(json_str(doc, "group") ?: "", buf_str(&g)))
			return 0;
	}
	if (l->family) {
		const char *colon;

		if (!fam)
			return 0;
		fam += strlen(":task-definition/");
		colon = strrchr(fam, ':');
		if (!colon || (size_t)(colon - fam) != strlen(l->family) ||
		    strncmp(fam, l->family, strlen(l->family)))
			return 0;
	}
	return api_page_add(&l->page, kv->key, json_str(doc, "taskArn") ?: "");
}

int ecs_list_tasks(struct api_ctx *ctx, struct err *err)
{
	char cluster[ECS_NAME_MAX + 1], instance[ECS_INSTANCE_ID_MAX + 1];
	_cleanup_buf_ struct buf prefix = BUF_INIT, start = BUF_INIT;
	_cleanup_json_ cJSON *c = NULL;
	const char *token = json_str(ctx->in, "nextToken");
	const char *desired = json_str(ctx->in, "desiredStatus");
	struct list l = { .page = { .w = ctx->out } };
	uint64_t cv;
	int r;

	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, true, &c, &cv, err);
	if (r == 0)
		r = api_max_results(ctx, LIST_MAX, LIST_MAX, &l.page.limit, err);
	if (r < 0)
		return r;
	if (json_str(ctx->in, "containerInstance")) {
		if (ecs_instance_id(ctx, cluster, json_str(ctx->in, "containerInstance"),
				    instance) < 0)
			return err_set(
				err, -EINVAL, E_INVALID_PARAMETER,
				"containerInstance '%.200s' is not an instance of cluster %s",
				json_str(ctx->in, "containerInstance"), cluster);
		l.instance_id = instance;
	}
	l.family = json_str(ctx->in, "family");
	l.started_by = json_str(ctx->in, "startedBy");
	l.service = json_str(ctx->in, "serviceName");
	l.launch_type = json_str(ctx->in, "launchType");
	/*
	 * ECS never sets a task's desiredStatus to PENDING (only its lastStatus
	 * is ever PENDING): filtering on it is allowed and finds nothing.
	 */
	l.desired = desired ? desired : "RUNNING";
	if (l.family && l.service)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "family and serviceName cannot be given together");
	buf_printf(&prefix, TASK_PREFIX "%s/", cluster);
	if (token) {
		r = api_token_decode(token, buf_str(&prefix), &start, err);
		if (r < 0)
			return r;
	}
	jsonw_key(ctx->out, "taskArns");
	jsonw_arr_begin(ctx->out);
	r = store_scan(ctx->srv->store, buf_str(&prefix), token ? buf_str(&start) : NULL, list_one,
		       &l, err);
	jsonw_arr_end(ctx->out);
	if (r < 0) {
		buf_release(&l.page.last_key);
		return r;
	}
	api_page_end(&l.page);
	return 0;
}
