/*
 * services.c: CreateService, UpdateService, DeleteService,
 * DescribeServices and ListServices.
 *
 * A service is the document under service/CLUSTER/NAME, in ECS's Service
 * shape with times in milliseconds (createdAt, and each deployment's and
 * event's), plus members berth keeps for itself (names starting with '_'):
 *   _lastCompleted  the taskDefinition of the last deployment that
 *                   COMPLETED: where the circuit breaker rolls back to
 *   _steady         whether the "has reached a steady state." event was
 *                   given since the service last changed
 *   _impaired       whether the "is unable to consistently start tasks"
 *                   event was given since a task last started
 *   _clientToken    CreateService's, for its idempotency
 *
 * Its tasks carry group "service:NAME" and, as on ECS, startedBy the id of
 * the deployment that started them ("ecs-svc/" and 19 digits). The handlers
 * here change what the service should be; the service scheduler
 * (service_scheduler.c) makes it so, and writes the counts, the
 * deployments' rollout states and the events. Both write the document
 * under its key's lock with a version check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ecs.h"
#include "api/service_scheduler.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "sched/deployment.h"
#include "sched/placement.h"
#include "store/store.h"
#include "core/banned.h"

#define SERVICE_PREFIX	  "service/"
#define DESCRIBE_MAX	  10
#define LIST_MAX	  100
#define LIST_DEFAULT	  10
#define EVENTS_MAX	  100
#define DESIRED_MAX	  100000
#define GRACE_MAX	  2147483647
#define CLIENT_TOKEN_MAX  36
#define DEPLOYMENT_ID_MAX 64

void ecs_service_key(struct buf *key, const char *cluster, const char *name)
{
	buf_printf(key, SERVICE_PREFIX "%s/%s", cluster, name);
}

int ecs_service_load(const struct api_ctx *ctx, const char *cluster, const char *name,
		     cJSON **ret_doc, uint64_t *ret_version, struct err *err)
{
	_cleanup_buf_ struct buf key = BUF_INIT, value = BUF_INIT;
	int r;

	ecs_service_key(&key, cluster, name);
	r = store_get(ctx->srv->store, buf_str(&key), &value, ret_version, err);
	if (r < 0)
		return r;
	*ret_doc = cJSON_ParseWithLength(value.data, value.len);
	if (!*ret_doc)
		return err_set(err, -EIO, E_SERVER, "'%s' is stored damaged", buf_str(&key));
	return 0;
}

int ecs_service_save(const struct api_ctx *ctx, const char *cluster, cJSON *doc, uint64_t version,
		     struct err *err)
{
	_cleanup_buf_ struct buf key = BUF_INIT;
	struct store_txn txn = STORE_TXN_INIT;
	char *json = cJSON_PrintUnformatted(doc);
	int r;

	if (!json)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	ecs_service_key(&key, cluster, json_str(doc, "serviceName") ?: "");
	store_txn_check(&txn, buf_str(&key), version);
	store_txn_put(&txn, buf_str(&key), json, strlen(json));
	free(json);
	r = store_commit(ctx->srv->store, &txn, NULL, err);
	store_txn_release(&txn);
	return r;
}

void ecs_service_event(cJSON *doc, int64_t now_ms, const char *message)
{
	cJSON *events = ecs_doc_array(doc, "events"), *e = cJSON_CreateObject();
	char id[37];

	uuid_v4(id);
	cJSON_AddStringToObject(e, "id", id);
	cJSON_AddNumberToObject(e, "createdAt", (double)now_ms);
	cJSON_AddStringToObject(e, "message", message);
	cJSON_InsertItemInArray(events, 0, e); /* newest first */
	while (cJSON_GetArraySize(events) > EVENTS_MAX)
		cJSON_DeleteItemFromArray(events, EVENTS_MAX);
}

cJSON *ecs_service_new_deployment(cJSON *doc, const char *task_definition, int64_t now_ms)
{
	cJSON *list = ecs_doc_array(doc, "deployments"), *d = cJSON_CreateObject(), *old;
	_cleanup_buf_ struct buf reason = BUF_INIT;
	char id[DEPLOYMENT_ID_MAX];
	uint64_t n;

	/* ECS's deployment ids: ecs-svc/ and 19 digits */
	random_bytes(&n, sizeof(n));
	snprintf(id, sizeof(id), "ecs-svc/%019llu",
		 (unsigned long long)(n % UINT64_C(10000000000000000000)));
	cJSON_ArrayForEach(old, list)
		if (!strcmp(json_str(old, "status") ?: "", "PRIMARY")) {
			json_set_str(old, "status", "ACTIVE");
			json_set_num(old, "updatedAt", (double)now_ms);
		}
	cJSON_AddStringToObject(d, "id", id);
	cJSON_AddStringToObject(d, "status", "PRIMARY");
	cJSON_AddStringToObject(d, "taskDefinition", task_definition);
	cJSON_AddNumberToObject(d, "desiredCount", (double)json_int(doc, "desiredCount", 0));
	cJSON_AddNumberToObject(d, "pendingCount", 0);
	cJSON_AddNumberToObject(d, "runningCount", 0);
	cJSON_AddNumberToObject(d, "failedTasks", 0);
	cJSON_AddNumberToObject(d, "createdAt", (double)now_ms);
	cJSON_AddNumberToObject(d, "updatedAt", (double)now_ms);
	cJSON_AddStringToObject(d, "launchType", "EC2");
	if (json_obj(doc, "networkConfiguration"))
		cJSON_AddItemToObject(d, "networkConfiguration",
				      cJSON_Duplicate(json_obj(doc, "networkConfiguration"), true));
	cJSON_AddStringToObject(d, "rolloutState", "IN_PROGRESS");
	buf_printf(&reason, "ECS deployment %s in progress.", id);
	cJSON_AddStringToObject(d, "rolloutStateReason", buf_str(&reason));
	cJSON_InsertItemInArray(list, 0, d);
	json_set_str(doc, "taskDefinition", task_definition);
	json_set(doc, "_steady", cJSON_CreateFalse());
	return d;
}

/* --- writing a service -------------------------------------------------- */

static void write_timed_list(struct jsonw *w, const char *key, const cJSON *list)
{
	const cJSON *item, *v;

	jsonw_key(w, key);
	jsonw_arr_begin(w);
	cJSON_ArrayForEach(item, list) {
		jsonw_obj_begin(w);
		cJSON_ArrayForEach(v, item) {
			if (v->string[0] == '_')
				continue;
			if ((!strcmp(v->string, "createdAt") || !strcmp(v->string, "updatedAt")) &&
			    cJSON_IsNumber(v))
				jsonw_key_time_ms(w, v->string, (int64_t)v->valuedouble);
			else
				json_write(w, v->string, v);
		}
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

void ecs_service_write(struct jsonw *w, const cJSON *doc, bool tags)
{
	const cJSON *v;

	jsonw_obj_begin(w);
	cJSON_ArrayForEach(v, doc) {
		if (v->string[0] == '_' || (!tags && !strcmp(v->string, "tags")))
			continue;
		if (!strcmp(v->string, "createdAt") && cJSON_IsNumber(v))
			jsonw_key_time_ms(w, v->string, (int64_t)v->valuedouble);
		else if (!strcmp(v->string, "events") || !strcmp(v->string, "deployments"))
			write_timed_list(w, v->string, v);
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

/* --- naming a service --------------------------------------------------- */

/*
 * The name of the service ref names in cluster: a name, or an ARN of the
 * long form service/CLUSTER/NAME (of this cluster) or the old service/NAME.
 * -EINVAL when it names none.
 */
static int service_name(const struct api_ctx *ctx, const char *cluster, const char *ref,
			char ret[ECS_NAME_MAX + 1])
{
	const char *s = ref ? api_arn_resource(ctx->srv, "ecs", ref) : NULL;

	if (!s)
		return -EINVAL;
	if (s != ref) {
		const char *slash;

		if (!startswith(s, "service/"))
			return -EINVAL;
		s += strlen("service/");
		slash = strchr(s, '/');
		if (slash) {
			if ((size_t)(slash - s) != strlen(cluster) ||
			    strncmp(s, cluster, strlen(cluster)))
				return -EINVAL;
			s = slash + 1;
		}
	}
	if (!ecs_valid_name(s))
		return -EINVAL;
	snprintf(ret, ECS_NAME_MAX + 1, "%s", s);
	return 0;
}

/* --- checking a request ------------------------------------------------- */

static int check_unsupported(const cJSON *in, struct err *err)
{
	static const char *const lists[] = {
		"loadBalancers",	"serviceRegistries",	    "capacityProviderStrategy",
		"volumeConfigurations", "vpcLatticeConfigurations",
	};
	const char *controller = json_str(json_obj(in, "deploymentController"), "type");
	const char *launch_type = json_str(in, "launchType");

	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		const cJSON *l = json_arr(in, lists[i]);

		if (l && l->child)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "berth does not support %s: leave it out", lists[i]);
	}
	if (json_obj(in, "serviceConnectConfiguration") &&
	    json_bool(json_obj(in, "serviceConnectConfiguration"), "enabled", false))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth does not support Service Connect: leave "
			       "serviceConnectConfiguration out");
	if (controller && strcmp(controller, "ECS") != 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth deploys with the rolling update (ECS) deployment controller: "
			       "deploymentController type %s is not available",
			       controller);
	if (launch_type && strcmp(launch_type, "EC2") != 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth runs tasks on the container instances of its clusters: "
			       "launchType %s is not available, use EC2",
			       launch_type);
	return 0;
}

/*
 * Merge the request's deploymentConfiguration into doc's (created with the
 * defaults of the scheduling strategy when missing), checking the result.
 */
static int merge_deployment_configuration(cJSON *doc, const cJSON *in, bool daemon, struct err *err)
{
	cJSON *dc = cJSON_GetObjectItemCaseSensitive(doc, "deploymentConfiguration");
	const cJSON *req = json_obj(in, "deploymentConfiguration");
	const cJSON *cb = json_obj(req, "deploymentCircuitBreaker");
	int64_t min, max;

	if (!cJSON_IsObject(dc)) {
		cJSON *b;

		dc = cJSON_CreateObject();
		b = cJSON_AddObjectToObject(dc, "deploymentCircuitBreaker");
		cJSON_AddBoolToObject(b, "enable", false);
		cJSON_AddBoolToObject(b, "rollback", false);
		cJSON_AddNumberToObject(dc, "maximumPercent",
					daemon ? DEPLOYMENT_DAEMON_MAX_PERCENT_DEFAULT
					       : DEPLOYMENT_MAX_PERCENT_DEFAULT);
		cJSON_AddNumberToObject(dc, "minimumHealthyPercent",
					daemon ? DEPLOYMENT_DAEMON_MIN_HEALTHY_DEFAULT
					       : DEPLOYMENT_MIN_HEALTHY_DEFAULT);
		json_set(doc, "deploymentConfiguration", dc);
	}
	if (json_arr(req, "alarms") || json_obj(req, "alarms")) {
		if (json_bool(json_obj(req, "alarms"), "enable", false))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "berth has no CloudWatch alarms: deployment alarms cannot "
				       "be enabled");
	}
	if (json_str(req, "strategy") && strcmp(json_str(req, "strategy"), "ROLLING") != 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth deploys with the ROLLING strategy: %s is not available",
			       json_str(req, "strategy"));
	if (cb) {
		cJSON *b = cJSON_CreateObject();

		cJSON_AddBoolToObject(b, "enable", json_bool(cb, "enable", false));
		cJSON_AddBoolToObject(b, "rollback", json_bool(cb, "rollback", false));
		json_set(dc, "deploymentCircuitBreaker", b);
	}
	if (json_has(req, "maximumPercent"))
		json_set_num(dc, "maximumPercent", (double)json_int(req, "maximumPercent", 0));
	if (json_has(req, "minimumHealthyPercent"))
		json_set_num(dc, "minimumHealthyPercent",
			     (double)json_int(req, "minimumHealthyPercent", 0));
	min = json_int(dc, "minimumHealthyPercent", 0);
	max = json_int(dc, "maximumPercent", 0);
	if (min < 0 || min > 100)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "minimumHealthyPercent must be between 0 and 100, not %lld",
			       (long long)min);
	if (!daemon && max < 100)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "maximumPercent must be at least 100 for a REPLICA service, not "
			       "%lld",
			       (long long)max);
	if (daemon && (max < 1 || max > 100))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "maximumPercent of a DAEMON service must be between 1 and 100, "
			       "not %lld",
			       (long long)max);
	if (max > 2000)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "maximumPercent must be at most 2000, not %lld", (long long)max);
	return 0;
}

/* desiredCount's range; what a DAEMON service does not take (its own count, strategies). */
static int check_desired(const cJSON *in, bool daemon, struct err *err)
{
	int64_t n = json_int(in, "desiredCount", 0);
	const cJSON *strategy = json_arr(in, "placementStrategy");

	if (daemon && json_has(in, "desiredCount"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The daemon scheduling strategy does not support a desired count "
			       "for services.");
	if (daemon && strategy && strategy->child)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The daemon scheduling strategy does not support placement "
			       "strategies.");

	if (n < 0 || n > DESIRED_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "desiredCount must be between 0 and %d, not %lld", DESIRED_MAX,
			       (long long)n);
	return 0;
}

static int check_grace(const cJSON *in, struct err *err)
{
	int64_t n = json_int(in, "healthCheckGracePeriodSeconds", 0);

	if (n < 0 || n > GRACE_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "healthCheckGracePeriodSeconds must be between 0 and %d", GRACE_MAX);
	return 0;
}

/* The task definition a request names: ACTIVE, for EC2. The caller owns *ret. */
static int resolve_definition(const struct api_ctx *ctx, const char *ref, cJSON **ret,
			      struct err *err)
{
	const cJSON *compat;
	int r;

	if (!ref || !*ref)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "taskDefinition is required for a service deployed by ECS");
	r = ecs_task_definition_resolve(ctx, ref, ret, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, E_CLIENT, "TaskDefinition not found.");
	if (r < 0)
		return r;
	if (strcmp(json_str(*ret, "status") ?: "", "ACTIVE") != 0)
		return err_set(err, -EINVAL, E_CLIENT, "TaskDefinition is inactive");
	compat = json_arr(*ret, "requiresCompatibilities");
	if (compat && compat->child) {
		bool ec2 = false;

		for (const cJSON *c = compat->child; c; c = c->next)
			ec2 = ec2 || (cJSON_IsString(c) && !strcmp(c->valuestring, "EC2"));
		if (!ec2)
			return err_set(err, -EINVAL, E_CLIENT,
				       "Task definition does not support launch_type EC2.");
	}
	return 0;
}

static int check_propagate(const cJSON *in, struct err *err)
{
	const char *p = json_str(in, "propagateTags");

	if (p && strcmp(p, "TASK_DEFINITION") && strcmp(p, "SERVICE") && strcmp(p, "NONE"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "propagateTags must be TASK_DEFINITION, SERVICE or NONE");
	return 0;
}

/* --- CreateService ------------------------------------------------------ */

static cJSON *new_service(const struct api_ctx *ctx, const char *cluster, const char *name,
			  const char *td_arn, bool daemon)
{
	const cJSON *in = ctx->in, *v;
	_cleanup_buf_ struct buf res = BUF_INIT, arn = BUF_INIT, carn = BUF_INIT;
	cJSON *doc = cJSON_CreateObject(), *ctl;

	buf_printf(&res, "service/%s/%s", cluster, name);
	api_arn(ctx->srv, &arn, "ecs", buf_str(&res));
	buf_reset(&res);
	buf_printf(&res, "cluster/%s", cluster);
	api_arn(ctx->srv, &carn, "ecs", buf_str(&res));
	cJSON_AddStringToObject(doc, "serviceArn", buf_str(&arn));
	cJSON_AddStringToObject(doc, "serviceName", name);
	cJSON_AddStringToObject(doc, "clusterArn", buf_str(&carn));
	cJSON_AddArrayToObject(doc, "loadBalancers");
	cJSON_AddArrayToObject(doc, "serviceRegistries");
	cJSON_AddStringToObject(doc, "status", "ACTIVE");
	cJSON_AddNumberToObject(doc, "desiredCount",
				daemon ? 0 : (double)json_int(in, "desiredCount", 0));
	cJSON_AddNumberToObject(doc, "runningCount", 0);
	cJSON_AddNumberToObject(doc, "pendingCount", 0);
	cJSON_AddStringToObject(doc, "launchType", "EC2");
	cJSON_AddStringToObject(doc, "taskDefinition", td_arn);
	cJSON_AddArrayToObject(doc, "deployments");
	cJSON_AddArrayToObject(doc, "events");
	cJSON_AddNumberToObject(doc, "createdAt", (double)ctx->now_ms);
	cJSON_AddItemToObject(doc, "placementConstraints",
			      (v = json_arr(in, "placementConstraints")) ? cJSON_Duplicate(v, true)
									 : cJSON_CreateArray());
	cJSON_AddItemToObject(doc, "placementStrategy",
			      (v = json_arr(in, "placementStrategy")) ? cJSON_Duplicate(v, true)
								      : cJSON_CreateArray());
	if ((v = json_obj(in, "networkConfiguration")))
		cJSON_AddItemToObject(doc, "networkConfiguration", cJSON_Duplicate(v, true));
	if (json_has(in, "healthCheckGracePeriodSeconds"))
		cJSON_AddNumberToObject(doc, "healthCheckGracePeriodSeconds",
					(double)json_int(in, "healthCheckGracePeriodSeconds", 0));
	cJSON_AddStringToObject(doc, "schedulingStrategy", daemon ? "DAEMON" : "REPLICA");
	ctl = cJSON_AddObjectToObject(doc, "deploymentController");
	cJSON_AddStringToObject(ctl, "type", "ECS");
	cJSON_AddStringToObject(doc, "createdBy", "arn:aws:iam::");
	cJSON_AddBoolToObject(doc, "enableECSManagedTags",
			      json_bool(in, "enableECSManagedTags", false));
	cJSON_AddStringToObject(doc, "propagateTags", json_str(in, "propagateTags") ?: "NONE");
	cJSON_AddBoolToObject(doc, "enableExecuteCommand",
			      json_bool(in, "enableExecuteCommand", false));
	if (json_str(in, "clientToken"))
		cJSON_AddStringToObject(doc, "_clientToken", json_str(in, "clientToken"));
	return doc;
}

int ecs_create_service(struct api_ctx *ctx, struct err *err)
{
	const cJSON *in = ctx->in;
	const char *name = json_str(in, "serviceName"), *sched = json_str(in, "schedulingStrategy");
	const char *token = json_str(in, "clientToken");
	char cluster[ECS_NAME_MAX + 1];
	_cleanup_json_ cJSON *cdoc = NULL, *td = NULL, *doc = NULL, *existing = NULL;
	_cleanup_buf_ struct buf key = BUF_INIT;
	uint64_t cv, version = 0;
	bool daemon;
	int r;

	r = ecs_cluster_name(ctx, json_str(in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, false, &cdoc, &cv, err);
	if (r < 0)
		return r;
	if (!name || !ecs_valid_name(name))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "serviceName must be 1 to 255 letters, numbers, hyphens and "
			       "underscores");
	daemon = sched && !strcmp(sched, "DAEMON");
	if (token && strlen(token) > CLIENT_TOKEN_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "clientToken must be at most %d characters", CLIENT_TOKEN_MAX);
	if (!daemon && !json_has(in, "desiredCount"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "desiredCount is required for a REPLICA service");
	if ((r = check_unsupported(in, err)) < 0 || (r = check_desired(in, daemon, err)) < 0 ||
	    (r = check_grace(in, err)) < 0 || (r = check_propagate(in, err)) < 0 ||
	    (r = ecs_tags_validate(json_arr(in, "tags"), err)) < 0 ||
	    (r = placement_validate(json_arr(in, "placementConstraints"),
				    json_arr(in, "placementStrategy"), err)) < 0 ||
	    (r = resolve_definition(ctx, json_str(in, "taskDefinition"), &td, err)) < 0)
		return r;
	if (cJSON_GetArraySize(json_arr(td, "placementConstraints")) +
		    cJSON_GetArraySize(json_arr(in, "placementConstraints")) >
	    PLACEMENT_CONSTRAINTS_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "You can specify a maximum of %d placement constraints, the task "
			       "definition's and the request's together.",
			       PLACEMENT_CONSTRAINTS_MAX);
	doc = new_service(ctx, cluster, name, json_str(td, "taskDefinitionArn") ?: "", daemon);
	if (!doc)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	r = merge_deployment_configuration(doc, in, daemon, err);
	if (r == 0 && json_arr(in, "tags"))
		r = ecs_tags_merge(doc, json_arr(in, "tags"), err);
	if (r < 0)
		return r;
	if (daemon) {
		/* as ECS, a DAEMON's desiredCount is its instances' from the start */
		int64_t n = service_scheduler_daemon_count(ctx->srv, cluster, doc, td, err);

		if (n < 0)
			return (int)n;
		json_set_num(doc, "desiredCount", (double)n);
	}
	ecs_service_new_deployment(doc, json_str(td, "taskDefinitionArn") ?: "", ctx->now_ms);

	ecs_service_key(&key, cluster, name);
	api_lock(buf_str(&key));
	r = ecs_service_load(ctx, cluster, name, &existing, &version, err);
	if (r == -ENOENT) {
		r = 0;
		version = 0;
	}
	if (r == 0 && existing && strcmp(json_str(existing, "status") ?: "", "INACTIVE") != 0) {
		/* the same clientToken again: the service it created */
		if (token && json_str(existing, "_clientToken") &&
		    !strcmp(token, json_str(existing, "_clientToken"))) {
			cJSON_Delete(doc);
			doc = TAKE_PTR(existing);
			api_unlock(buf_str(&key));
			goto answer;
		}
		r = err_set(err, -EEXIST, E_INVALID_PARAMETER,
			    "Creation of service was not idempotent.");
	}
	if (r == 0)
		r = ecs_service_save(ctx, cluster, doc, version, err);
	api_unlock(buf_str(&key));
	if (r < 0)
		return r;
	service_scheduler_wake(ctx->srv->scheduler);
answer:
	jsonw_key(ctx->out, "service");
	ecs_service_write(ctx->out, doc, false);
	return 0;
}

/* --- UpdateService and DeleteService ------------------------------------ */

/* Load the service a request names, under its key's lock (held on success). */
struct named {
	char cluster[ECS_NAME_MAX + 1], name[ECS_NAME_MAX + 1];
	struct buf key;
	cJSON *doc;
	uint64_t version;
	bool locked;
};

static int named_load(struct api_ctx *ctx, struct named *s, struct err *err)
{
	_cleanup_json_ cJSON *cdoc = NULL;
	uint64_t cv;
	int r;

	memset(s, 0, sizeof(*s));
	buf_init(&s->key);
	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), s->cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, s->cluster, true, &cdoc, &cv, err);
	if (r < 0)
		return r;
	if (service_name(ctx, s->cluster, json_str(ctx->in, "service"), s->name) < 0)
		return err_set(err, -ENOENT, E_SERVICE_NOT_FOUND, "Service not found.");
	ecs_service_key(&s->key, s->cluster, s->name);
	api_lock(buf_str(&s->key));
	s->locked = true;
	r = ecs_service_load(ctx, s->cluster, s->name, &s->doc, &s->version, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, E_SERVICE_NOT_FOUND, "Service not found.");
	return r;
}

static void named_release(struct named *s)
{
	if (s->locked)
		api_unlock(buf_str(&s->key));
	buf_release(&s->key);
	cJSON_Delete(s->doc);
	memset(s, 0, sizeof(*s));
}

static const cJSON *primary_deployment(const cJSON *doc)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, json_arr(doc, "deployments"))
		if (!strcmp(json_str(d, "status") ?: "", "PRIMARY"))
			return d;
	return NULL;
}

static int update(struct api_ctx *ctx, struct named *s, struct err *err)
{
	const cJSON *in = ctx->in, *v;
	cJSON *doc = s->doc;
	bool daemon = !strcmp(json_str(doc, "schedulingStrategy") ?: "", "DAEMON");
	bool deploy = json_bool(in, "forceNewDeployment", false);
	_cleanup_json_ cJSON *td = NULL;
	const char *td_arn = json_str(doc, "taskDefinition");
	int r;

	if (strcmp(json_str(doc, "status") ?: "", "ACTIVE") != 0)
		return err_set(err, -EINVAL, E_SERVICE_NOT_ACTIVE, "Service was not ACTIVE.");
	if ((r = check_unsupported(in, err)) < 0 || (r = check_desired(in, daemon, err)) < 0 ||
	    (r = check_grace(in, err)) < 0 || (r = check_propagate(in, err)) < 0 ||
	    (r = placement_validate(json_arr(in, "placementConstraints"),
				    json_arr(in, "placementStrategy"), err)) < 0)
		return r;
	if (json_str(in, "taskDefinition")) {
		r = resolve_definition(ctx, json_str(in, "taskDefinition"), &td, err);
		if (r < 0)
			return r;
		td_arn = json_str(td, "taskDefinitionArn");
		if (!primary_deployment(doc) ||
		    strcmp(json_str(primary_deployment(doc), "taskDefinition") ?: "", td_arn))
			deploy = true;
	}
	r = merge_deployment_configuration(doc, in, daemon, err);
	if (r < 0)
		return r;
	if (json_has(in, "desiredCount")) {
		json_set_num(doc, "desiredCount", (double)json_int(in, "desiredCount", 0));
		json_set(doc, "_steady", cJSON_CreateFalse());
	}
	if ((v = json_arr(in, "placementConstraints")))
		json_set(doc, "placementConstraints", cJSON_Duplicate(v, true));
	if ((v = json_arr(in, "placementStrategy")))
		json_set(doc, "placementStrategy", cJSON_Duplicate(v, true));
	if ((v = json_obj(in, "networkConfiguration"))) {
		json_set(doc, "networkConfiguration", cJSON_Duplicate(v, true));
		deploy = true;
	}
	if (json_has(in, "healthCheckGracePeriodSeconds"))
		json_set_num(doc, "healthCheckGracePeriodSeconds",
			     (double)json_int(in, "healthCheckGracePeriodSeconds", 0));
	if (json_str(in, "propagateTags"))
		json_set_str(doc, "propagateTags", json_str(in, "propagateTags"));
	if (json_has(in, "enableECSManagedTags"))
		json_set(doc, "enableECSManagedTags",
			 cJSON_CreateBool(json_bool(in, "enableECSManagedTags", false)));
	if (json_has(in, "enableExecuteCommand"))
		json_set(doc, "enableExecuteCommand",
			 cJSON_CreateBool(json_bool(in, "enableExecuteCommand", false)));
	if (deploy)
		ecs_service_new_deployment(doc, td_arn ?: "", ctx->now_ms);
	else if (primary_deployment(doc))
		json_set_num((cJSON *)primary_deployment(doc), "desiredCount",
			     (double)json_int(doc, "desiredCount", 0));
	return ecs_service_save(ctx, s->cluster, doc, s->version, err);
}

int ecs_update_service(struct api_ctx *ctx, struct err *err)
{
	struct named s;
	int r = named_load(ctx, &s, err);

	if (r == 0)
		r = update(ctx, &s, err);
	if (r == 0) {
		service_scheduler_wake(ctx->srv->scheduler);
		jsonw_key(ctx->out, "service");
		ecs_service_write(ctx->out, s.doc, false);
	}
	named_release(&s);
	return r;
}

int ecs_delete_service(struct api_ctx *ctx, struct err *err)
{
	struct named s;
	int r = named_load(ctx, &s, err);
	bool daemon;

	if (r < 0)
		goto out;
	daemon = !strcmp(json_str(s.doc, "schedulingStrategy") ?: "", "DAEMON");
	if (strcmp(json_str(s.doc, "status") ?: "", "ACTIVE") != 0) {
		r = err_set(err, -EINVAL, E_SERVICE_NOT_ACTIVE, "Service was not ACTIVE.");
		goto out;
	}
	if (!daemon && !json_bool(ctx->in, "force", false) &&
	    json_int(s.doc, "desiredCount", 0) > 0) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "The service cannot be stopped while it is scaled above 0.");
		goto out;
	}
	json_set_str(s.doc, "status", "DRAINING");
	json_set_num(s.doc, "desiredCount", 0);
	r = ecs_service_save(ctx, s.cluster, s.doc, s.version, err);
	if (r == 0) {
		service_scheduler_wake(ctx->srv->scheduler);
		jsonw_key(ctx->out, "service");
		ecs_service_write(ctx->out, s.doc, false);
	}
out:
	named_release(&s);
	return r;
}

/* --- DescribeServices and ListServices ---------------------------------- */

int ecs_describe_services(struct api_ctx *ctx, struct err *err)
{
	char cluster[ECS_NAME_MAX + 1];
	const cJSON *refs = json_arr(ctx->in, "services"), *ref, *inc;
	_cleanup_json_ cJSON *failures = cJSON_CreateArray(), *c = NULL;
	uint64_t cv;
	bool tags = false;
	int n = cJSON_GetArraySize(refs);
	int r;

	cJSON_ArrayForEach(inc, json_arr(ctx->in, "include"))
		tags |= cJSON_IsString(inc) && !strcmp(inc->valuestring, "TAGS");
	if (n < 1 || n > DESCRIBE_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "services must name 1 to %d services", DESCRIBE_MAX);
	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, true, &c, &cv, err);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "services");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(ref, refs) {
		_cleanup_json_ cJSON *doc = NULL;
		char name[ECS_NAME_MAX + 1];
		uint64_t version;

		r = -ENOENT;
		if (cJSON_IsString(ref) && service_name(ctx, cluster, ref->valuestring, name) == 0)
			r = ecs_service_load(ctx, cluster, name, &doc, &version, err);
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
		ecs_service_write(ctx->out, doc, tags);
	}
	jsonw_arr_end(ctx->out);
	jsonw_key(ctx->out, "failures");
	json_write(ctx->out, NULL, failures);
	return 0;
}

struct list {
	struct api_page page;
	const char *launch_type, *strategy;
};

static int list_one(void *arg, const struct store_kv *kv)
{
	struct list *l = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (!doc || !strcmp(json_str(doc, "status") ?: "", "INACTIVE"))
		return 0;
	if (l->launch_type && strcmp(l->launch_type, "EC2") != 0)
		return 0;
	if (l->strategy && strcmp(json_str(doc, "schedulingStrategy") ?: "", l->strategy) != 0)
		return 0;
	return api_page_add(&l->page, kv->key, json_str(doc, "serviceArn") ?: "");
}

int ecs_list_services(struct api_ctx *ctx, struct err *err)
{
	char cluster[ECS_NAME_MAX + 1];
	_cleanup_buf_ struct buf prefix = BUF_INIT, start = BUF_INIT;
	_cleanup_json_ cJSON *c = NULL;
	const char *token = json_str(ctx->in, "nextToken");
	struct list l = { .page = { .w = ctx->out } };
	uint64_t cv;
	int r;

	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, true, &c, &cv, err);
	if (r == 0)
		r = api_max_results(ctx, LIST_MAX, LIST_DEFAULT, &l.page.limit, err);
	if (r < 0)
		return r;
	l.launch_type = json_str(ctx->in, "launchType");
	l.strategy = json_str(ctx->in, "schedulingStrategy");
	if (json_str(ctx->in, "resourceManagementType") &&
	    strcmp(json_str(ctx->in, "resourceManagementType"), "CUSTOMER") != 0)
		l.launch_type = "none"; /* berth's services are all the customer's own */
	buf_printf(&prefix, SERVICE_PREFIX "%s/", cluster);
	if (token) {
		r = api_token_decode(token, buf_str(&prefix), &start, err);
		if (r < 0)
			return r;
	}
	jsonw_key(ctx->out, "serviceArns");
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
