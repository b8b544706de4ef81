/*
 * container_instances.c: RegisterContainerInstance, DescribeContainerInstances,
 * ListContainerInstances, DeregisterContainerInstance and
 * UpdateContainerInstancesState: the server side of a host running
 * `berth agent`.
 *
 * A container instance is the document under instance/CLUSTER/ID, ID 32
 * hex digits as ECS gives. Its ARN has ECS's long form,
 * container-instance/CLUSTER/ID. The document holds the ContainerInstance
 * as ECS returns it (registeredAt in milliseconds) plus its "tags" and the
 * agent's "platformDevices". Deregistering marks it INACTIVE, as ECS does:
 * it can still be described but is no longer listed, counted in its
 * cluster, or changed. It is refused while tasks that have not STOPPED
 * are placed on it, unless forced: its tasks are then orphaned (ECS no
 * longer accounts for them) and berth marks them STOPPED. Either way, and
 * when the status changes, the agent's long poll is woken to learn it.
 *
 * ec2InstanceId: berth hosts are not EC2 instances. An agent names its
 * host the way ECS's agent does, by the instanceId of the
 * instanceIdentityDocument it sends, or by an attribute ecs.instance-id;
 * without either berth makes one up ("i-" and 17 hex digits). A
 * registration without containerInstanceArn whose instance id matches an
 * ACTIVE or DRAINING instance of the cluster re-registers that one, so an
 * agent that lost its state gets its container instance back.
 *
 * Every write to a cluster's instances holds the lock ecs_instance_lock_key
 * names and commits with a compare-and-swap on the instance's key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/agent_hub.h"
#include "api/ecs.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "sched/placement.h"
#include "core/banned.h"

#define INSTANCE_PREFIX "instance/"
#define COMMIT_ATTEMPTS 64
/* DescribeContainerInstances and UpdateContainerInstancesState name at most this many. */
#define DESCRIBE_MAX	 100
#define UPDATE_STATE_MAX 10
#define EC2_ID_MAX	 64

static bool valid_instance_id(const char *s, size_t n)
{
	if (n == 0 || n > ECS_INSTANCE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

int ecs_instance_id(const struct api_ctx *ctx, const char *cluster, const char *ref, char *ret_id)
{
	const char *s = ref ? api_arn_resource(ctx->srv, "ecs", ref) : NULL;
	const char *slash;

	if (!s)
		return -EINVAL;
	if (s != ref) {
		if (!startswith(s, "container-instance/"))
			return -EINVAL;
		s += strlen("container-instance/");
		slash = strchr(s, '/');
		if (slash) {
			if ((size_t)(slash - s) != strlen(cluster) ||
			    strncmp(s, cluster, (size_t)(slash - s)) != 0)
				return -EINVAL;
			s = slash + 1;
		}
	}
	if (!valid_instance_id(s, strlen(s)))
		return -EINVAL;
	snprintf(ret_id, ECS_INSTANCE_ID_MAX + 1, "%s", s);
	return 0;
}

void ecs_instance_key(struct buf *key, const char *cluster, const char *id)
{
	buf_printf(key, INSTANCE_PREFIX "%s/%s", cluster, id);
}

void ecs_instance_put(struct store_txn *txn, const char *cluster, const char *id, const cJSON *doc,
		      uint64_t version)
{
	_cleanup_buf_ struct buf key = BUF_INIT, value = BUF_INIT;

	ecs_instance_key(&key, cluster, id);
	json_print(&value, doc);
	store_txn_check(txn, buf_str(&key), version);
	store_txn_put(txn, buf_str(&key), value.data, value.len);
}

void ecs_instance_lock_key(struct buf *key, const char *cluster)
{
	buf_printf(key, INSTANCE_PREFIX "%s", cluster);
}

void ecs_instance_arn(const struct api_ctx *ctx, struct buf *out, const char *cluster,
		      const char *id)
{
	struct buf res = BUF_INIT;

	buf_printf(&res, "container-instance/%s/%s", cluster, id);
	api_arn(ctx->srv, out, "ecs", buf_str(&res));
	buf_release(&res);
}

int ecs_instance_load(const struct api_ctx *ctx, const char *cluster, const char *id,
		      cJSON **ret_doc, uint64_t *ret_version, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	int r;

	ecs_instance_key(&key, cluster, id);
	r = store_get(ctx->srv->store, buf_str(&key), &value, ret_version, err);
	if (r == 0) {
		*ret_doc = cJSON_ParseWithLength(buf_str(&value), value.len);
		if (!*ret_doc)
			r = err_set(err, -EIO, E_SERVER, "'%s' is stored damaged", buf_str(&key));
	}
	buf_release(&key);
	buf_release(&value);
	return r;
}

static int instance_save(const struct api_ctx *ctx, const char *cluster, const char *id,
			 const cJSON *doc, uint64_t version, struct err *err)
{
	struct store_txn t = STORE_TXN_INIT;
	int r;

	ecs_instance_put(&t, cluster, id, doc, version);
	r = store_commit(ctx->srv->store, &t, NULL, err);
	store_txn_release(&t);
	return r;
}

static void set_member(cJSON *doc, const char *key, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(doc, key))
		cJSON_ReplaceItemInObjectCaseSensitive(doc, key, v);
	else
		cJSON_AddItemToObject(doc, key, v);
}

static const char *status_of(const cJSON *doc)
{
	const char *s = json_str(doc, "status");

	return s ? s : "";
}

static bool is_live(const cJSON *doc)
{
	return !strcmp(status_of(doc), "ACTIVE") || !strcmp(status_of(doc), "DRAINING");
}

enum {
	WRITE_TAGS = 1,
	WRITE_HEALTH = 2,
};

/* Write a stored instance as a ContainerInstance. */
static void write_instance(struct jsonw *w, const cJSON *doc, unsigned what)
{
	static const char *const members[] = {
		"containerInstanceArn",
		"ec2InstanceId",
		"version",
		"versionInfo",
		"remainingResources",
		"registeredResources",
		"status",
		"statusReason",
		"agentConnected",
		"runningTasksCount",
		"pendingTasksCount",
		"attributes",
	};
	const cJSON *v;
	bool connected = json_bool(doc, "agentConnected", false);

	jsonw_obj_begin(w);
	for (size_t i = 0; i < ARRAY_SIZE(members); i++)
		if ((v = json_get(doc, members[i])))
			json_write(w, members[i], v);
	if (json_has(doc, "registeredAt"))
		jsonw_key_time_ms(w, "registeredAt", json_int(doc, "registeredAt", 0));
	jsonw_key(w, "attachments");
	jsonw_raw(w, "[]", 2);
	if (what & WRITE_TAGS) {
		jsonw_key(w, "tags");
		if ((v = json_arr(doc, "tags")))
			json_write(w, NULL, v);
		else
			jsonw_raw(w, "[]", 2);
	}
	if (what & WRITE_HEALTH) {
		/* berth checks no more than the agent's connection, for now */
		jsonw_key(w, "healthStatus");
		jsonw_obj_begin(w);
		jsonw_key_str(w, "overallStatus", connected ? "OK" : "INSUFFICIENT_DATA");
		jsonw_key(w, "details");
		jsonw_raw(w, "[]", 2);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

/* --- RegisterContainerInstance --- */

static bool valid_port(const char *s)
{
	int64_t n;

	return parse_int64(s, 0, 65535, &n) == 0;
}

/*
 * Check totalResources and normalise them into ECS's Resource shape (every
 * numeric member present, stringSetValue for STRINGSET), in ret. CPU and
 * MEMORY are INTEGER, PORTS and PORTS_UDP STRINGSETs of port numbers; the
 * four are added, empty, when not given. Other resources (GPU, ...) are
 * kept as given.
 */
static int normalise_resources(const cJSON *in, cJSON **ret, struct err *err)
{
	static const char *const base[] = { "CPU", "MEMORY", "PORTS", "PORTS_UDP" };
	cJSON *out = cJSON_CreateArray();
	const cJSON *res;

	cJSON_ArrayForEach(res, in) {
		const char *name = json_str(res, "name");
		const char *type = json_str(res, "type");
		bool ports = name && (!strcmp(name, "PORTS") || !strcmp(name, "PORTS_UDP"));
		bool integer = name && (!strcmp(name, "CPU") || !strcmp(name, "MEMORY"));
		cJSON *item;

		if (!name || !*name) {
			cJSON_Delete(out);
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "totalResources: every resource needs a name");
		}
		if (json_array_find(out, "name", name)) {
			cJSON_Delete(out);
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "totalResources: resource '%.64s' is given twice", name);
		}
		if (!type)
			type = json_has(res, "stringSetValue") ? "STRINGSET" : "INTEGER";
		if ((ports && strcmp(type, "STRINGSET")) || (integer && strcmp(type, "INTEGER")) ||
		    (strcmp(type, "INTEGER") && strcmp(type, "LONG") && strcmp(type, "DOUBLE") &&
		     strcmp(type, "STRINGSET"))) {
			cJSON_Delete(out);
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "totalResources: resource '%.64s' cannot have type '%.32s'",
				       name, type);
		}
		if (json_int(res, "integerValue", 0) < 0 || json_int(res, "longValue", 0) < 0) {
			cJSON_Delete(out);
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "totalResources: resource '%.64s' cannot be negative", name);
		}
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "name", name);
		cJSON_AddStringToObject(item, "type", type);
		cJSON_AddNumberToObject(item, "doubleValue",
					cJSON_IsNumber(json_get(res, "doubleValue"))
						? json_get(res, "doubleValue")->valuedouble
						: 0.0);
		cJSON_AddNumberToObject(item, "longValue", (double)json_int(res, "longValue", 0));
		cJSON_AddNumberToObject(item, "integerValue",
					(double)json_int(res, "integerValue", 0));
		if (!strcmp(type, "STRINGSET")) {
			cJSON *set = cJSON_AddArrayToObject(item, "stringSetValue");
			const cJSON *s;

			cJSON_ArrayForEach(s, json_arr(res, "stringSetValue")) {
				if (!cJSON_IsString(s) || (ports && !valid_port(s->valuestring))) {
					cJSON_Delete(item);
					cJSON_Delete(out);
					return err_set(err, -EINVAL, E_INVALID_PARAMETER,
						       "totalResources: '%.32s' in %s is not a "
						       "port number",
						       cJSON_IsString(s) ? s->valuestring : "",
						       name);
				}
				cJSON_AddItemToArray(set, cJSON_CreateString(s->valuestring));
			}
		}
		cJSON_AddItemToArray(out, item);
	}
	for (size_t i = 0; i < ARRAY_SIZE(base); i++) {
		cJSON *item;
		bool set = i >= 2;

		if (json_array_find(out, "name", base[i]))
			continue;
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "name", base[i]);
		cJSON_AddStringToObject(item, "type", set ? "STRINGSET" : "INTEGER");
		cJSON_AddNumberToObject(item, "doubleValue", 0.0);
		cJSON_AddNumberToObject(item, "longValue", 0);
		cJSON_AddNumberToObject(item, "integerValue", 0);
		if (set)
			cJSON_AddArrayToObject(item, "stringSetValue");
		cJSON_AddItemToArray(out, item);
	}
	*ret = out;
	return 0;
}

static bool set_has(const cJSON *set, const char *s)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, set)
		if (cJSON_IsString(v) && !strcmp(v->valuestring, s))
			return true;
	return false;
}

/*
 * What remains of resources reg (normalised) given what is in use: the old
 * registration less what remained of it. A re-registering agent keeps its
 * tasks' reservations; a number never goes below 0.
 */
static cJSON *remaining_after(const cJSON *reg, const cJSON *old_reg, const cJSON *old_rem)
{
	static const char *const nums[] = { "integerValue", "longValue", "doubleValue" };
	cJSON *rem = cJSON_Duplicate(reg, true);
	cJSON *item;

	cJSON_ArrayForEach(item, rem) {
		const char *name = json_str(item, "name");
		cJSON *o_reg = json_array_find(old_reg, "name", name);
		cJSON *o_rem = json_array_find(old_rem, "name", name);
		cJSON *set = cJSON_GetObjectItemCaseSensitive(item, "stringSetValue");
		const cJSON *v;

		if (!o_reg || !o_rem)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
			const cJSON *a = json_get(o_reg, nums[i]), *b = json_get(o_rem, nums[i]);
			cJSON *mine = cJSON_GetObjectItemCaseSensitive(item, nums[i]);
			double used = (cJSON_IsNumber(a) ? a->valuedouble : 0) -
				      (cJSON_IsNumber(b) ? b->valuedouble : 0);
			double left = mine->valuedouble - (used > 0 ? used : 0);

			cJSON_SetNumberValue(mine, left > 0 ? left : 0);
		}
		if (!cJSON_IsArray(set))
			continue;
		/* a port registered before and no longer remaining is in use */
		cJSON_ArrayForEach(v, json_arr(o_reg, "stringSetValue")) {
			int n = cJSON_GetArraySize(set);

			if (!cJSON_IsString(v) ||
			    set_has(json_arr(o_rem, "stringSetValue"), v->valuestring))
				continue;
			for (int i = 0; i < n; i++)
				if (!strcmp(cJSON_GetArrayItem(set, i)->valuestring,
					    v->valuestring)) {
					cJSON_DeleteItemFromArray(set, i);
					break;
				}
		}
	}
	return rem;
}

static bool valid_ec2_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EC2_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/*
 * The instance id the agent gives (instanceIdentityDocument's instanceId,
 * else the attribute ecs.instance-id) in ret (EC2_ID_MAX + 1 bytes), "" when
 * it gives none.
 */
static int given_ec2_id(const cJSON *in, char *ret, struct err *err)
{
	const char *doc = json_str(in, "instanceIdentityDocument");
	const cJSON *attr = json_array_find(json_arr(in, "attributes"), "name", "ecs.instance-id");
	_cleanup_json_ cJSON *parsed = NULL;
	const char *id = NULL;

	if (doc && *doc) {
		parsed = cJSON_Parse(doc);
		if (!cJSON_IsObject(parsed))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "instanceIdentityDocument is not a JSON object");
		id = json_str(parsed, "instanceId");
	}
	if (!id && attr)
		id = json_str(attr, "value");
	*ret = 0;
	if (!id)
		return 0;
	if (!valid_ec2_id(id))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Instance id '%.80s' is invalid: up to %d letters, numbers, "
			       "hyphens, underscores and periods are allowed",
			       id, EC2_ID_MAX);
	snprintf(ret, EC2_ID_MAX + 1, "%s", id);
	return 0;
}

struct find_ec2 {
	const char *ec2_id;
	char id[ECS_INSTANCE_ID_MAX + 1];
};

static int find_ec2_one(void *arg, const struct store_kv *kv)
{
	struct find_ec2 *c = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *ec2 = json_str(doc, "ec2InstanceId");
	const char *slash = strrchr(kv->key, '/');

	if (!ec2 || strcmp(ec2, c->ec2_id) || !is_live(doc))
		return 0;
	snprintf(c->id, sizeof(c->id), "%s", slash + 1);
	return 1;
}

/* The request's changes to doc (new or re-registered). */
static int apply_registration(struct api_ctx *ctx, cJSON *doc, const cJSON *reg, const char *ec2_id,
			      struct err *err)
{
	const cJSON *attrs = json_arr(ctx->in, "attributes");
	const cJSON *version_info = json_obj(ctx->in, "versionInfo");
	const cJSON *devices = json_arr(ctx->in, "platformDevices");
	cJSON *rem;
	int r;

	if (json_arr(doc, "registeredResources"))
		rem = remaining_after(reg, json_arr(doc, "registeredResources"),
				      json_arr(doc, "remainingResources"));
	else
		rem = cJSON_Duplicate(reg, true);
	set_member(doc, "ec2InstanceId", cJSON_CreateString(ec2_id));
	set_member(doc, "version", cJSON_CreateNumber((double)(json_int(doc, "version", 0) + 1)));
	set_member(doc, "versionInfo",
		   version_info ? cJSON_Duplicate(version_info, true) : cJSON_CreateObject());
	set_member(doc, "remainingResources", rem);
	set_member(doc, "registeredResources", cJSON_Duplicate(reg, true));
	if (!is_live(doc))
		set_member(doc, "status", cJSON_CreateString("ACTIVE"));
	set_member(doc, "agentConnected", cJSON_CreateTrue());
	if (!json_has(doc, "runningTasksCount"))
		set_member(doc, "runningTasksCount", cJSON_CreateNumber(0));
	if (!json_has(doc, "pendingTasksCount"))
		set_member(doc, "pendingTasksCount", cJSON_CreateNumber(0));
	ecs_doc_array(doc, "attributes");
	if (!json_array_find(ecs_doc_array(doc, "attributes"), "name", "ecs.os-type")) {
		cJSON *os = cJSON_CreateObject();

		/* ECS adds the OS type of every instance; berth's hosts are Linux */
		cJSON_AddStringToObject(os, "name", "ecs.os-type");
		cJSON_AddStringToObject(os, "value", "linux");
		cJSON_AddItemToArray(ecs_doc_array(doc, "attributes"), os);
	}
	r = ecs_attributes_merge(doc, attrs, err);
	if (r == 0) {
		ecs_doc_array(doc, "tags");
		r = ecs_tags_merge(doc, json_arr(ctx->in, "tags"), err);
	}
	if (r == 0 && devices)
		set_member(doc, "platformDevices", cJSON_Duplicate(devices, true));
	if (r == 0 && !json_has(doc, "registeredAt"))
		set_member(doc, "registeredAt", cJSON_CreateNumber((double)ctx->now_ms));
	return r;
}

/* RegisterContainerInstance's read-modify-write, under the cluster's instance lock. */
static int register_locked(struct api_ctx *ctx, const char *cluster, const cJSON *reg,
			   const char *given_id, const char *ec2_given, cJSON **ret_doc,
			   struct err *err)
{
	int r = 0;

	for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		_cleanup_json_ cJSON *cdoc = NULL;
		cJSON *doc = NULL;
		char id[ECS_INSTANCE_ID_MAX + 1] = "";
		char ec2_id[EC2_ID_MAX + 1];
		uint64_t version = 0;

		r = ecs_cluster_load(ctx, cluster, false, &cdoc, NULL, err);
		if (r < 0)
			break;
		if (given_id) {
			snprintf(id, sizeof(id), "%s", given_id);
			r = ecs_instance_load(ctx, cluster, id, &doc, &version, err);
			if (r == -ENOENT || (r == 0 && !is_live(doc))) {
				cJSON_Delete(doc);
				r = err_set(err, -ENOENT, E_INVALID_PARAMETER,
					    "Container instance '%s' is not registered in cluster "
					    "'%s': register it without containerInstanceArn",
					    id, cluster);
			}
			if (r < 0)
				break;
		} else if (*ec2_given) {
			struct find_ec2 c = { .ec2_id = ec2_given };
			struct buf prefix = BUF_INIT;

			buf_printf(&prefix, INSTANCE_PREFIX "%s/", cluster);
			r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, find_ec2_one, &c,
				       err);
			buf_release(&prefix);
			if (r == 0 && *c.id) {
				snprintf(id, sizeof(id), "%s", c.id);
				r = ecs_instance_load(ctx, cluster, id, &doc, &version, err);
				if (r == -ENOENT) /* deregistered and gone meanwhile: again */
					continue;
			}
			if (r < 0)
				break;
		}
		if (!doc) {
			struct buf arn = BUF_INIT;

			random_hex(id, 16);
			id[32] = 0;
			doc = cJSON_CreateObject();
			ecs_instance_arn(ctx, &arn, cluster, id);
			cJSON_AddStringToObject(doc, "containerInstanceArn", buf_str(&arn));
			buf_release(&arn);
		}
		if (*ec2_given) {
			snprintf(ec2_id, sizeof(ec2_id), "%s", ec2_given);
		} else if (json_str(doc, "ec2InstanceId")) {
			snprintf(ec2_id, sizeof(ec2_id), "%s", json_str(doc, "ec2InstanceId"));
		} else {
			ec2_id[0] = 'i';
			ec2_id[1] = '-';
			random_hex(ec2_id + 2, 9);
			ec2_id[19] = 0; /* i- and 17 hex digits, as EC2's */
		}
		r = apply_registration(ctx, doc, reg, ec2_id, err);
		if (r == 0)
			r = instance_save(ctx, cluster, id, doc, version, err);
		if (r == 0)
			*ret_doc = doc;
		else
			cJSON_Delete(doc);
		if (r != -ECANCELED)
			break;
	}
	return r;
}

int ecs_register_container_instance(struct api_ctx *ctx, struct err *err)
{
	const char *arn = json_str(ctx->in, "containerInstanceArn");
	char cluster[ECS_NAME_MAX + 1], id[ECS_INSTANCE_ID_MAX + 1], ec2_id[EC2_ID_MAX + 1];
	_cleanup_json_ cJSON *reg = NULL, *doc = NULL;
	struct buf lock = BUF_INIT;
	int r;

	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r < 0)
		return r;
	if (arn && ecs_instance_id(ctx, cluster, arn, id) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "containerInstanceArn '%.300s' is not a container instance of "
			       "cluster '%s'",
			       arn, cluster);
	r = normalise_resources(json_arr(ctx->in, "totalResources"), &reg, err);
	if (r == 0)
		r = ecs_attributes_validate(json_arr(ctx->in, "attributes"), err);
	if (r == 0)
		r = ecs_tags_validate(json_arr(ctx->in, "tags"), err);
	if (r == 0)
		r = given_ec2_id(ctx->in, ec2_id, err);
	if (r < 0)
		return r;
	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	r = register_locked(ctx, cluster, reg, arn ? id : NULL, ec2_id, &doc, err);
	api_unlock(buf_str(&lock));
	buf_release(&lock);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "containerInstance");
	write_instance(ctx->out, doc, WRITE_TAGS);
	return 0;
}

/* --- DescribeContainerInstances, UpdateContainerInstancesState --- */

static void write_failure(struct jsonw *w, const struct api_ctx *ctx, const char *cluster,
			  const char *ref, const char *id, const char *reason)
{
	struct buf arn = BUF_INIT;

	if (id)
		ecs_instance_arn(ctx, &arn, cluster, id);
	else
		buf_puts(&arn, ref);
	jsonw_obj_begin(w);
	jsonw_key_str(w, "arn", buf_str(&arn));
	jsonw_key_str(w, "reason", reason);
	jsonw_obj_end(w);
	buf_release(&arn);
}

static unsigned parse_include(const cJSON *in)
{
	const cJSON *v;
	unsigned what = 0;

	cJSON_ArrayForEach(v, json_arr(in, "include")) {
		if (!cJSON_IsString(v))
			continue;
		if (!strcmp(v->valuestring, "TAGS"))
			what |= WRITE_TAGS;
		else if (!strcmp(v->valuestring, "CONTAINER_INSTANCE_HEALTH"))
			what |= WRITE_HEALTH;
	}
	return what;
}

int ecs_describe_container_instances(struct api_ctx *ctx, struct err *err)
{
	const cJSON *list = json_arr(ctx->in, "containerInstances");
	char cluster[ECS_NAME_MAX + 1];
	_cleanup_json_ cJSON *cdoc = NULL;
	unsigned what = parse_include(ctx->in);
	struct buf failures = BUF_INIT;
	struct jsonw fw;
	const cJSON *v;
	int r;

	if (cJSON_GetArraySize(list) > DESCRIBE_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "containerInstances can name at most %d container instances",
			       DESCRIBE_MAX);
	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, false, &cdoc, NULL, err);
	if (r < 0)
		return r;
	jsonw_init(&fw, &failures);
	jsonw_arr_begin(&fw);
	jsonw_key(ctx->out, "containerInstances");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(v, list) {
		const char *ref = cJSON_IsString(v) ? v->valuestring : "";
		char id[ECS_INSTANCE_ID_MAX + 1];
		_cleanup_json_ cJSON *doc = NULL;

		if (ecs_instance_id(ctx, cluster, ref, id) < 0) {
			write_failure(&fw, ctx, cluster, ref, NULL, "MISSING");
			continue;
		}
		r = ecs_instance_load(ctx, cluster, id, &doc, NULL, err);
		if (r == -ENOENT) {
			write_failure(&fw, ctx, cluster, ref, id, "MISSING");
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		write_instance(ctx->out, doc, what);
	}
	jsonw_arr_end(ctx->out);
	jsonw_arr_end(&fw);
	if (r == 0)
		jsonw_key_raw(ctx->out, "failures", failures.data, failures.len);
	buf_release(&failures);
	return r;
}

int ecs_update_container_instances_state(struct api_ctx *ctx, struct err *err)
{
	const cJSON *list = json_arr(ctx->in, "containerInstances");
	const char *status = json_str(ctx->in, "status");
	char cluster[ECS_NAME_MAX + 1];
	_cleanup_json_ cJSON *cdoc = NULL;
	struct buf failures = BUF_INIT, lock = BUF_INIT;
	struct jsonw fw;
	const cJSON *v;
	int r;

	if (!status || (strcmp(status, "ACTIVE") && strcmp(status, "DRAINING")))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Container instances status can only be updated to ACTIVE or "
			       "DRAINING");
	if (cJSON_GetArraySize(list) > UPDATE_STATE_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "containerInstances can name at most %d container instances",
			       UPDATE_STATE_MAX);
	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, false, &cdoc, NULL, err);
	if (r < 0)
		return r;
	jsonw_init(&fw, &failures);
	jsonw_arr_begin(&fw);
	jsonw_key(ctx->out, "containerInstances");
	jsonw_arr_begin(ctx->out);
	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	cJSON_ArrayForEach(v, list) {
		const char *ref = cJSON_IsString(v) ? v->valuestring : "";
		char id[ECS_INSTANCE_ID_MAX + 1];

		if (ecs_instance_id(ctx, cluster, ref, id) < 0) {
			write_failure(&fw, ctx, cluster, ref, NULL, "MISSING");
			continue;
		}
		for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
			_cleanup_json_ cJSON *doc = NULL;
			uint64_t version;

			r = ecs_instance_load(ctx, cluster, id, &doc, &version, err);
			if (r == 0 && !is_live(doc)) {
				/* ECS changes only ACTIVE and DRAINING instances */
				write_failure(&fw, ctx, cluster, ref, id, status_of(doc));
				break;
			}
			if (r == 0 && strcmp(status_of(doc), status) != 0) {
				set_member(doc, "status", cJSON_CreateString(status));
				set_member(doc, "version",
					   cJSON_CreateNumber(
						   (double)(json_int(doc, "version", 0) + 1)));
				r = instance_save(ctx, cluster, id, doc, version, err);
				if (r == 0)
					agent_hub_notify(ctx->srv->agents, cluster, id);
			}
			if (r == 0)
				write_instance(ctx->out, doc, 0);
			if (r != -ECANCELED)
				break;
		}
		if (r == -ENOENT) {
			write_failure(&fw, ctx, cluster, ref, id, "MISSING");
			r = 0;
		}
		if (r < 0)
			break;
	}
	api_unlock(buf_str(&lock));
	buf_release(&lock);
	jsonw_arr_end(ctx->out);
	jsonw_arr_end(&fw);
	if (r == 0)
		jsonw_key_raw(ctx->out, "failures", failures.data, failures.len);
	buf_release(&failures);
	return r;
}

/* --- ListContainerInstances --- */

/*
 * The filter is a cluster query language expression (sched/query.c). When
 * it reads task:group, the cluster's tasks that are not STOPPED are
 * loaded once for the whole listing.
 */
static int collect_live_task(void *arg, const cJSON *task)
{
	cJSON *tasks = arg, *dup;

	if (!strcmp(json_str(task, "lastStatus") ?: "", "STOPPED"))
		return 0;
	dup = cJSON_Duplicate(task, true);
	if (!dup)
		return -ENOMEM;
	cJSON_AddItemToArray(tasks, dup);
	return 0;
}

struct list_page {
	struct api_page page;
	const char *status; /* NULL: ACTIVE and DRAINING */
	const struct placement_expr *filter;
	const cJSON *tasks;	 /* the cluster's live tasks, when the filter reads them */
	const cJSON **task_ptrs; /* room for as many */
};

/* Whether the instance under key (instance/CLUSTER/ID) passes the filter. */
static bool filter_match(const struct list_page *p, const char *key, const cJSON *doc)
{
	const char *id = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
	struct placement_instance inst = { .doc = doc, .tasks = p->task_ptrs };

	for (const cJSON *t = p->tasks ? p->tasks->child : NULL; t; t = t->next)
		if (!strcmp(json_str(t, "_instanceId") ?: "", id))
			p->task_ptrs[inst.n_tasks++] = t;
	return placement_expr_match(p->filter, &inst);
}

static int list_one(void *arg, const struct store_kv *kv)
{
	struct list_page *p = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (!doc)
		return 0;
	if (p->status ? strcmp(status_of(doc), p->status) != 0 : !is_live(doc))
		return 0;
	if (p->filter && !filter_match(p, kv->key, doc))
		return 0;
	return api_page_add(&p->page, kv->key, json_str(doc, "containerInstanceArn"));
}

int ecs_list_container_instances(struct api_ctx *ctx, struct err *err)
{
	const char *token = json_str(ctx->in, "nextToken");
	const char *expr = json_str(ctx->in, "filter");
	struct list_page p = { .page = { .w = ctx->out } };
	char cluster[ECS_NAME_MAX + 1];
	_cleanup_json_ cJSON *cdoc = NULL;
	struct buf prefix = BUF_INIT, after = BUF_INIT;
	struct placement_expr *filter = NULL;
	_cleanup_json_ cJSON *tasks = NULL;
	_cleanup_free_ const cJSON **task_ptrs = NULL;
	int r;

	p.status = json_str(ctx->in, "status");
	r = api_max_results(ctx, 100, 100, &p.page.limit, err);
	if (r == 0 && expr)
		r = placement_expr_parse(expr, &filter, err);
	p.filter = filter;
	if (r == 0)
		r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, false, &cdoc, NULL, err);
	if (r == 0 && placement_expr_uses_tasks(filter)) {
		tasks = cJSON_CreateArray();
		r = tasks ? ecs_tasks_each(ctx, cluster, NULL, collect_live_task, tasks, err)
			  : -ENOMEM;
		if (r == 0) {
			task_ptrs =
				calloc((size_t)cJSON_GetArraySize(tasks) + 1, sizeof(*task_ptrs));
			r = task_ptrs ? 0 : -ENOMEM;
		}
		if (r == -ENOMEM)
			r = err_set(err, r, E_SERVER, "out of memory");
		p.tasks = tasks;
		p.task_ptrs = task_ptrs;
	}
	if (r < 0) {
		placement_expr_free(filter);
		return r;
	}
	buf_printf(&prefix, INSTANCE_PREFIX "%s/", cluster);
	if (token)
		r = api_token_decode(token, buf_str(&prefix), &after, err);
	if (r == 0) {
		jsonw_key(ctx->out, "containerInstanceArns");
		jsonw_arr_begin(ctx->out);
		r = store_scan(ctx->srv->store, buf_str(&prefix), token ? buf_str(&after) : NULL,
			       list_one, &p, err);
		jsonw_arr_end(ctx->out);
	}
	if (r == 0)
		api_page_end(&p.page);
	buf_release(&p.page.last_key);
	buf_release(&prefix);
	buf_release(&after);
	placement_expr_free(filter);
	return r;
}

/* --- DeregisterContainerInstance --- */

struct count_tasks {
	const char *arn;
	int64_t n;
};

static int count_task(void *arg, const struct store_kv *kv)
{
	struct count_tasks *c = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *on = json_str(doc, "containerInstanceArn");
	const char *last = json_str(doc, "lastStatus");

	if (on && !strcmp(on, c->arn) && (!last || strcmp(last, "STOPPED") != 0))
		c->n++;
	return 0;
}

/* How many tasks of cluster, not yet STOPPED, run on the instance named arn. */
static int running_tasks(const struct api_ctx *ctx, const char *cluster, const char *arn,
			 int64_t *ret, struct err *err)
{
	struct count_tasks c = { .arn = arn };
	struct buf prefix = BUF_INIT;
	int r;

	buf_printf(&prefix, "task/%s/", cluster);
	r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, count_task, &c, err);
	buf_release(&prefix);
	*ret = c.n;
	return r;
}

static int deregister_locked(struct api_ctx *ctx, const char *cluster, const char *id, bool force,
			     cJSON **ret_doc, struct err *err)
{
	int r = 0;

	for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		cJSON *doc = NULL;
		uint64_t version;
		int64_t tasks = 0;

		r = ecs_instance_load(ctx, cluster, id, &doc, &version, err);
		if (r == -ENOENT)
			return err_set(err, -ENOENT, E_INVALID_PARAMETER,
				       "Container instance '%s' not found in cluster '%s'", id,
				       cluster);
		if (r < 0)
			return r;
		if (!is_live(doc)) { /* deregistered already: answered as it is */
			*ret_doc = doc;
			return 0;
		}
		r = running_tasks(ctx, cluster, json_str(doc, "containerInstanceArn"), &tasks, err);
		if (r == 0 && tasks > 0 && !force)
			r = err_set(err, -EBUSY, E_INVALID_PARAMETER,
				    "Found running tasks on the instance.");
		if (r == 0 && tasks > 0) {
			/* forced: its tasks are orphaned (which changes it), then it goes */
			r = ecs_tasks_orphan(ctx, cluster, json_str(doc, "containerInstanceArn"),
					     err);
			cJSON_Delete(doc);
			doc = NULL;
			if (r == 0)
				r = ecs_instance_load(ctx, cluster, id, &doc, &version, err);
			if (r < 0)
				return r;
		}
		if (r == 0) {
			set_member(doc, "status", cJSON_CreateString("INACTIVE"));
			set_member(doc, "agentConnected", cJSON_CreateFalse());
			set_member(doc, "version",
				   cJSON_CreateNumber((double)(json_int(doc, "version", 0) + 1)));
			r = instance_save(ctx, cluster, id, doc, version, err);
		}
		if (r == 0) {
			*ret_doc = doc;
			return 0;
		}
		cJSON_Delete(doc);
		if (r != -ECANCELED)
			break;
	}
	return r;
}

int ecs_deregister_container_instance(struct api_ctx *ctx, struct err *err)
{
	const char *ref = json_str(ctx->in, "containerInstance");
	char cluster[ECS_NAME_MAX + 1], id[ECS_INSTANCE_ID_MAX + 1];
	_cleanup_json_ cJSON *cdoc = NULL, *doc = NULL;
	struct buf lock = BUF_INIT;
	int r;

	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, false, &cdoc, NULL, err);
	if (r < 0)
		return r;
	if (ecs_instance_id(ctx, cluster, ref, id) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "containerInstance '%.300s' is not a container instance id or ARN "
			       "of cluster '%s'",
			       ref ? ref : "", cluster);
	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	r = deregister_locked(ctx, cluster, id, json_bool(ctx->in, "force", false), &doc, err);
	api_unlock(buf_str(&lock));
	buf_release(&lock);
	if (r < 0)
		return r;
	agent_hub_notify(ctx->srv->agents, cluster, id); /* its agent learns it is INACTIVE */
	jsonw_key(ctx->out, "containerInstance");
	write_instance(ctx->out, doc, 0);
	return 0;
}
