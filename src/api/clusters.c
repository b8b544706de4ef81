/*
 * clusters.c: CreateCluster, DescribeClusters, ListClusters, UpdateCluster,
 * UpdateClusterSettings and DeleteCluster.
 *
 * A cluster is the document under cluster/NAME. Deleting one marks it
 * INACTIVE, as ECS does: it can still be described, is no longer listed, and
 * creating it again makes it ACTIVE. Its counts (instances, tasks, services)
 * are derived from what the cluster holds when it is described.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/ecs.h"
#include "api/task_state.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "core/banned.h"

#define CLUSTER_PREFIX "cluster/"
/* Commit attempts before giving up when other processes keep winning. */
#define COMMIT_ATTEMPTS 64

bool ecs_valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > ECS_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

cJSON *ecs_doc_array(cJSON *doc, const char *name)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, name);

	if (cJSON_IsArray(a))
		return a;
	cJSON_DeleteItemFromObjectCaseSensitive(doc, name);
	return cJSON_AddArrayToObject(doc, name);
}

int ecs_cluster_name(const struct api_ctx *ctx, const char *ref, char *ret_name, struct err *err)
{
	const char *name;

	if (!ref || !*ref)
		ref = "default";
	name = api_arn_resource(ctx->srv, "ecs", ref);
	if (name && name != ref) {
		if (!startswith(name, "cluster/"))
			name = NULL;
		else
			name += strlen("cluster/");
	}
	if (!name || !ecs_valid_name(name))
		return err_set(err, -ENOENT, E_CLUSTER_NOT_FOUND, "Cluster not found.");
	snprintf(ret_name, ECS_NAME_MAX + 1, "%s", name);
	return 0;
}

static void cluster_key(struct buf *key, const char *name)
{
	buf_printf(key, CLUSTER_PREFIX "%s", name);
}

static void cluster_arn(const struct api_ctx *ctx, struct buf *out, const char *name)
{
	struct buf res = BUF_INIT;

	buf_printf(&res, "cluster/%s", name);
	api_arn(ctx->srv, out, "ecs", buf_str(&res));
	buf_release(&res);
}

int ecs_cluster_load(const struct api_ctx *ctx, const char *name, bool allow_inactive,
		     cJSON **ret_doc, uint64_t *ret_version, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	const char *status;
	cJSON *doc = NULL;
	int r;

	cluster_key(&key, name);
	r = store_get(ctx->srv->store, buf_str(&key), &value, ret_version, err);
	buf_release(&key);
	if (r == -ENOENT)
		r = err_set(err, -ENOENT, E_CLUSTER_NOT_FOUND, "Cluster not found.");
	if (r == 0) {
		doc = cJSON_ParseWithLength(buf_str(&value), value.len);
		if (!doc)
			r = err_set(err, -EIO, E_SERVER, "cluster '%s' is stored damaged", name);
	}
	buf_release(&value);
	if (r < 0)
		return r;
	status = json_str(doc, "status");
	if (!allow_inactive && (!status || strcmp(status, "ACTIVE") != 0)) {
		cJSON_Delete(doc);
		return err_set(err, -ENOENT, E_CLUSTER_NOT_FOUND, "Cluster not found.");
	}
	*ret_doc = doc;
	return 0;
}

/* Write doc back under its key, if the key is still at version. */
static int cluster_save(const struct api_ctx *ctx, const char *name, const cJSON *doc,
			uint64_t version, struct err *err)
{
	struct store_txn t = STORE_TXN_INIT;
	struct buf key = BUF_INIT, value = BUF_INIT;
	int r;

	cluster_key(&key, name);
	json_print(&value, doc);
	store_txn_check(&t, buf_str(&key), version);
	store_txn_put(&t, buf_str(&key), value.data, value.len);
	r = store_commit(ctx->srv->store, &t, NULL, err);
	store_txn_release(&t);
	buf_release(&key);
	buf_release(&value);
	return r;
}

/* What a cluster holds, counted from its resources. */
struct cluster_counts {
	int64_t instances;
	int64_t running_tasks;
	int64_t pending_tasks;
	int64_t active_services;
	int64_t draining_services;
};

struct count_ctx {
	int64_t *a, *b;
	const char *field;
	const char *value_a, *value_b;
};

static int count_by_status(void *arg, const struct store_kv *kv)
{
	struct count_ctx *c = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *status = json_str(doc, c->field);

	if (!status)
		return 0;
	if (c->value_a && !strcmp(status, c->value_a))
		(*c->a)++;
	else if (c->value_b && !strcmp(status, c->value_b))
		(*c->b)++;
	return 0;
}

/*
 * A task that has not STOPPED counts as running from RUNNING on (while it
 * deactivates and stops too), as pending before: the way its container
 * instance counts it (task_state.c), so that every live task keeps its
 * cluster from being deleted.
 */
static int count_task(void *arg, const struct store_kv *kv)
{
	struct cluster_counts *n = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	int rank = task_status_rank(json_str(doc, "lastStatus"));

	if (!doc || rank == task_status_rank("STOPPED"))
		return 0;
	if (rank >= task_status_rank("RUNNING"))
		n->running_tasks++;
	else
		n->pending_tasks++;
	return 0;
}

static int cluster_count(const struct api_ctx *ctx, const char *name, struct cluster_counts *ret,
			 struct err *err)
{
	struct buf prefix = BUF_INIT;
	struct count_ctx c;
	int64_t draining_instances = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	buf_printf(&prefix, "instance/%s/", name);
	c = (struct count_ctx){ &ret->instances, &draining_instances, "status", "ACTIVE",
				"DRAINING" };
	r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, count_by_status, &c, err);
	ret->instances += draining_instances;
	buf_reset(&prefix);
	buf_printf(&prefix, "task/%s/", name);
	if (r == 0)
		r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, count_task, ret, err);
	buf_reset(&prefix);
	buf_printf(&prefix, "service/%s/", name);
	c = (struct count_ctx){ &ret->active_services, &ret->draining_services, "status", "ACTIVE",
				"DRAINING" };
	if (r == 0)
		r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, count_by_status, &c, err);
	buf_release(&prefix);
	return r;
}

enum {
	INCLUDE_ATTACHMENTS = 1,
	INCLUDE_CONFIGURATIONS = 2,
	INCLUDE_SETTINGS = 4,
	INCLUDE_STATISTICS = 8,
	INCLUDE_TAGS = 16,
	INCLUDE_ALL = 31,
	/* what CreateCluster answers with: no statistics, no empty attachments */
	INCLUDE_CREATE = INCLUDE_CONFIGURATIONS | INCLUDE_SETTINGS | INCLUDE_TAGS,
};

static void write_stat(struct jsonw *w, const char *name, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	jsonw_obj_begin(w);
	jsonw_key_str(w, "name", name);
	jsonw_key_str(w, "value", s);
	jsonw_obj_end(w);
}

/* Write a cluster object: what ECS returns, with the parts `include` asks for. */
static int write_cluster(struct api_ctx *ctx, const cJSON *doc, unsigned include, struct err *err)
{
	struct jsonw *w = ctx->out;
	struct cluster_counts n;
	const char *name = json_str(doc, "clusterName");
	const cJSON *v;
	int r;

	r = cluster_count(ctx, name, &n, err);
	if (r < 0)
		return r;
	jsonw_obj_begin(w);
	jsonw_key_str(w, "clusterArn", json_str(doc, "clusterArn"));
	jsonw_key_str(w, "clusterName", name);
	if ((include & INCLUDE_CONFIGURATIONS) && (v = json_obj(doc, "configuration")))
		json_write(w, "configuration", v);
	jsonw_key_str(w, "status", json_str(doc, "status"));
	jsonw_key_int(w, "registeredContainerInstancesCount", n.instances);
	jsonw_key_int(w, "runningTasksCount", n.running_tasks);
	jsonw_key_int(w, "pendingTasksCount", n.pending_tasks);
	jsonw_key_int(w, "activeServicesCount", n.active_services);
	jsonw_key(w, "statistics");
	jsonw_arr_begin(w);
	if (include & INCLUDE_STATISTICS) {
		/* berth runs every task on its own hosts: the EC2 launch type */
		write_stat(w, "runningEC2TasksCount", n.running_tasks);
		write_stat(w, "runningFargateTasksCount", 0);
		write_stat(w, "pendingEC2TasksCount", n.pending_tasks);
		write_stat(w, "pendingFargateTasksCount", 0);
		write_stat(w, "activeEC2ServiceCount", n.active_services);
		write_stat(w, "activeFargateServiceCount", 0);
		write_stat(w, "drainingEC2ServiceCount", n.draining_services);
		write_stat(w, "drainingFargateServiceCount", 0);
	}
	jsonw_arr_end(w);
	jsonw_key(w, "tags");
	if ((include & INCLUDE_TAGS) && (v = json_arr(doc, "tags")))
		json_write(w, NULL, v);
	else
		jsonw_raw(w, "[]", 2);
	if ((include & INCLUDE_SETTINGS) && (v = json_arr(doc, "settings")))
		json_write(w, "settings", v);
	jsonw_key(w, "capacityProviders");
	jsonw_raw(w, "[]", 2);
	jsonw_key(w, "defaultCapacityProviderStrategy");
	jsonw_raw(w, "[]", 2);
	if (include & INCLUDE_ATTACHMENTS) {
		jsonw_key(w, "attachments");
		jsonw_raw(w, "[]", 2);
	}
	if ((v = json_obj(doc, "serviceConnectDefaults")))
		json_write(w, "serviceConnectDefaults", v);
	jsonw_obj_end(w);
	return 0;
}

/* Check settings ([{name, value}]) and merge them into doc's "settings". */
static int merge_settings(cJSON *doc, const cJSON *settings, struct err *err)
{
	cJSON *have = ecs_doc_array(doc, "settings");
	const cJSON *s;

	cJSON_ArrayForEach(s, settings) {
		const char *name = json_str(s, "name");
		const char *value = json_str(s, "value");
		cJSON *item, *found;

		if (!name || strcmp(name, "containerInsights") != 0)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "Cluster setting name must be 'containerInsights'");
		if (!value || (strcmp(value, "enabled") && strcmp(value, "disabled") &&
			       strcmp(value, "enhanced")))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "containerInsights value '%s' is not one of "
				       "enabled, disabled, enhanced",
				       value ? value : "");
		found = json_array_find(have, "name", name);
		if (found) {
			cJSON_ReplaceItemInObjectCaseSensitive(found, "value",
							       cJSON_CreateString(value));
		} else {
			item = cJSON_CreateObject();
			cJSON_AddStringToObject(item, "name", name);
			cJSON_AddStringToObject(item, "value", value);
			cJSON_AddItemToArray(have, item);
		}
	}
	return 0;
}

/* Check the parts of CreateCluster and UpdateCluster that berth cannot honour. */
static int check_unsupported(const cJSON *in, struct err *err)
{
	const cJSON *a = json_arr(in, "capacityProviders");
	const cJSON *ns = json_obj(in, "serviceConnectDefaults");

	if (a && cJSON_GetArraySize(a) > 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The specified capacity provider '%s' is not in an ACTIVE state: "
			       "berth has no capacity providers",
			       cJSON_IsString(a->child) ? a->child->valuestring : "");
	a = json_arr(in, "defaultCapacityProviderStrategy");
	if (a && cJSON_GetArraySize(a) > 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "defaultCapacityProviderStrategy: berth has no capacity providers");
	if (ns)
		return err_set(err, -ENOENT, E_NAMESPACE_NOT_FOUND,
			       "Namespace '%s' is not found: berth has no Cloud Map namespaces",
			       json_str(ns, "namespace") ? json_str(ns, "namespace") : "");
	return 0;
}

static int create_locked(struct api_ctx *ctx, const char *name, struct err *err);

int ecs_create_cluster(struct api_ctx *ctx, struct err *err)
{
	const char *name = json_str(ctx->in, "clusterName");
	const cJSON *tags = json_arr(ctx->in, "tags");
	struct buf key = BUF_INIT;
	int r;

	if (!name || !*name)
		name = "default";
	if (!ecs_valid_name(name))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Cluster name '%.300s' is invalid: up to 255 letters (uppercase "
			       "and lowercase), numbers, underscores and hyphens are allowed",
			       name);
	r = ecs_tags_validate(tags, err);
	if (r == 0)
		r = check_unsupported(ctx->in, err);
	if (r < 0)
		return r;
	buf_printf(&key, CLUSTER_PREFIX "%s", name);
	api_lock(buf_str(&key));
	r = create_locked(ctx, name, err);
	api_unlock(buf_str(&key));
	buf_release(&key);
	return r;
}

/* CreateCluster's read-modify-write, under the cluster's lock. */
static int create_locked(struct api_ctx *ctx, const char *name, struct err *err)
{
	const cJSON *tags = json_arr(ctx->in, "tags");
	const cJSON *settings = json_arr(ctx->in, "settings");
	const cJSON *config = json_obj(ctx->in, "configuration");
	_cleanup_json_ cJSON *doc = NULL;
	struct buf arn = BUF_INIT;
	uint64_t version = 0;
	int r = 0;

	for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		cJSON_Delete(doc);
		doc = NULL;
		r = ecs_cluster_load(ctx, name, true, &doc, &version, err);
		if (r == -ENOENT) {
			version = 0;
			doc = NULL;
		} else if (r < 0) {
			break;
		}
		if (doc &&
		    !strcmp(json_str(doc, "status") ? json_str(doc, "status") : "", "ACTIVE"))
			break; /* CreateCluster is idempotent: an ACTIVE cluster is returned as is */
		cJSON_Delete(doc);
		doc = cJSON_CreateObject();
		buf_reset(&arn);
		cluster_arn(ctx, &arn, name);
		cJSON_AddStringToObject(doc, "clusterArn", buf_str(&arn));
		cJSON_AddStringToObject(doc, "clusterName", name);
		cJSON_AddStringToObject(doc, "status", "ACTIVE");
		if (config)
			cJSON_AddItemToObject(doc, "configuration", cJSON_Duplicate(config, true));
		r = merge_settings(doc, settings, err);
		if (r == 0 && !settings) {
			cJSON *dflt = cJSON_Parse("[{\"name\":\"containerInsights\","
						  "\"value\":\"disabled\"}]");

			r = merge_settings(doc, dflt, err);
			cJSON_Delete(dflt);
		}
		cJSON_AddArrayToObject(doc, "tags");
		if (r == 0)
			r = ecs_tags_merge(doc, tags, err);
		cJSON_AddNumberToObject(doc, "createdAt", (double)ctx->now_ms);
		if (r == 0)
			r = cluster_save(ctx, name, doc, version, err);
		if (r != -ECANCELED)
			break;
	}
	buf_release(&arn);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "cluster");
	return write_cluster(ctx, doc, INCLUDE_CREATE, err);
}

static int parse_include(const cJSON *in, unsigned *ret)
{
	static const char *names[] = { "ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS",
				       "TAGS" };
	const cJSON *v;
	unsigned i;

	*ret = 0;
	cJSON_ArrayForEach(v, json_arr(in, "include")) {
		for (i = 0; i < ARRAY_SIZE(names); i++)
			if (cJSON_IsString(v) && !strcmp(v->valuestring, names[i]))
				*ret |= 1u << i;
	}
	return 0;
}

int ecs_describe_clusters(struct api_ctx *ctx, struct err *err)
{
	const cJSON *list = json_arr(ctx->in, "clusters");
	_cleanup_json_ cJSON *default_list = NULL;
	struct buf failures = BUF_INIT;
	struct jsonw fw;
	unsigned include;
	const cJSON *v;
	int r = 0, n = 0;

	if (list && cJSON_GetArraySize(list) > 100)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "clusters can name at most 100 clusters");
	parse_include(ctx->in, &include);
	jsonw_init(&fw, &failures);
	jsonw_key(ctx->out, "clusters");
	jsonw_arr_begin(ctx->out);
	jsonw_arr_begin(&fw);
	if (!list || cJSON_GetArraySize(list) == 0) {
		/* no names: ECS describes the default cluster */
		static const char *dflt = "default";

		default_list = cJSON_CreateStringArray(&dflt, 1);
		list = default_list;
	}
	cJSON_ArrayForEach(v, list) {
		char name[ECS_NAME_MAX + 1];
		_cleanup_json_ cJSON *doc = NULL;
		struct err e2 = ERR_INIT;
		const char *ref = cJSON_IsString(v) ? v->valuestring : "";

		n++;
		r = ecs_cluster_name(ctx, ref, name, &e2);
		if (r == 0)
			r = ecs_cluster_load(ctx, name, true, &doc, NULL, &e2);
		if (r == -ENOENT) {
			struct buf arn = BUF_INIT;

			if (startswith(ref, "arn:"))
				buf_puts(&arn, ref);
			else
				cluster_arn(ctx, &arn, ref);
			jsonw_obj_begin(&fw);
			jsonw_key_str(&fw, "arn", buf_str(&arn));
			jsonw_key_str(&fw, "reason", "MISSING");
			jsonw_obj_end(&fw);
			buf_release(&arn);
			r = 0;
			continue;
		}
		if (r < 0) {
			*err = e2;
			break;
		}
		r = write_cluster(ctx, doc, include, err);
		if (r < 0)
			break;
	}
	jsonw_arr_end(ctx->out);
	jsonw_arr_end(&fw);
	if (r == 0)
		jsonw_key_raw(ctx->out, "failures", failures.data, failures.len);
	buf_release(&failures);
	return r;
}

static int list_one(void *arg, const struct store_kv *kv)
{
	struct api_page *p = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *status = json_str(doc, "status");

	if (!status || strcmp(status, "ACTIVE") != 0)
		return 0;
	return api_page_add(p, kv->key, json_str(doc, "clusterArn"));
}

int ecs_list_clusters(struct api_ctx *ctx, struct err *err)
{
	struct api_page p = { .w = ctx->out };
	struct buf after = BUF_INIT;
	const char *token = json_str(ctx->in, "nextToken");
	int r;

	r = api_max_results(ctx, 100, 100, &p.limit, err);
	if (r == 0 && token)
		r = api_token_decode(token, CLUSTER_PREFIX, &after, err);
	if (r == 0) {
		jsonw_key(ctx->out, "clusterArns");
		jsonw_arr_begin(ctx->out);
		r = store_scan(ctx->srv->store, CLUSTER_PREFIX, token ? buf_str(&after) : NULL,
			       list_one, &p, err);
		jsonw_arr_end(ctx->out);
	}
	if (r == 0)
		api_page_end(&p);
	buf_release(&p.last_key);
	buf_release(&after);
	return r;
}

/* Load, change with fn, save; retried when another writer got there first. */
static int cluster_update(struct api_ctx *ctx, const char *ref,
			  int (*fn)(struct api_ctx *ctx, cJSON *doc, struct err *err),
			  unsigned include, struct err *err)
{
	char name[ECS_NAME_MAX + 1];
	struct buf key = BUF_INIT;
	int r, attempt;

	r = ecs_cluster_name(ctx, ref, name, err);
	if (r < 0)
		return r;
	buf_printf(&key, CLUSTER_PREFIX "%s", name);
	api_lock(buf_str(&key));
	for (attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		_cleanup_json_ cJSON *doc = NULL;
		uint64_t version;

		r = ecs_cluster_load(ctx, name, false, &doc, &version, err);
		if (r == 0)
			r = fn(ctx, doc, err);
		if (r == 0)
			r = cluster_save(ctx, name, doc, version, err);
		if (r == 0) {
			jsonw_key(ctx->out, "cluster");
			r = write_cluster(ctx, doc, include, err);
		}
		if (r != -ECANCELED)
			break;
	}
	api_unlock(buf_str(&key));
	buf_release(&key);
	return r;
}

static int apply_update(struct api_ctx *ctx, cJSON *doc, struct err *err)
{
	const cJSON *settings = json_arr(ctx->in, "settings");
	const cJSON *config = json_obj(ctx->in, "configuration");
	int r;

	r = check_unsupported(ctx->in, err);
	if (r == 0 && settings)
		r = merge_settings(doc, settings, err);
	if (r == 0 && config) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "configuration");
		cJSON_AddItemToObject(doc, "configuration", cJSON_Duplicate(config, true));
	}
	return r;
}

int ecs_update_cluster(struct api_ctx *ctx, struct err *err)
{
	return cluster_update(ctx, json_str(ctx->in, "cluster"), apply_update,
			      INCLUDE_CONFIGURATIONS | INCLUDE_SETTINGS, err);
}

static int apply_settings(struct api_ctx *ctx, cJSON *doc, struct err *err)
{
	return merge_settings(doc, json_arr(ctx->in, "settings"), err);
}

int ecs_update_cluster_settings(struct api_ctx *ctx, struct err *err)
{
	return cluster_update(ctx, json_str(ctx->in, "cluster"), apply_settings,
			      INCLUDE_CONFIGURATIONS | INCLUDE_SETTINGS, err);
}

static int refuse_if_busy(struct api_ctx *ctx, cJSON *doc, struct err *err)
{
	struct cluster_counts n;
	int r;

	r = cluster_count(ctx, json_str(doc, "clusterName"), &n, err);
	if (r < 0)
		return r;
	if (n.instances > 0)
		return err_set(err, -EBUSY, E_CLUSTER_CONTAINS_INSTANCES,
			       "The Cluster cannot be deleted while Container Instances are "
			       "active or draining.");
	if (n.active_services + n.draining_services > 0)
		return err_set(err, -EBUSY, E_CLUSTER_CONTAINS_SERVICES,
			       "The Cluster cannot be deleted while Services are active.");
	if (n.running_tasks + n.pending_tasks > 0)
		return err_set(err, -EBUSY, E_CLUSTER_CONTAINS_TASKS,
			       "The Cluster cannot be deleted while Tasks are active.");
	cJSON_ReplaceItemInObjectCaseSensitive(doc, "status", cJSON_CreateString("INACTIVE"));
	return 0;
}

int ecs_delete_cluster(struct api_ctx *ctx, struct err *err)
{
	return cluster_update(ctx, json_str(ctx->in, "cluster"), refuse_if_busy,
			      INCLUDE_CONFIGURATIONS | INCLUDE_SETTINGS, err);
}
