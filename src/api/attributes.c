/*
 * attributes.c: PutAttributes, DeleteAttributes and ListAttributes, and the
 * attribute rules RegisterContainerInstance shares.
 *
 * Attributes belong to container instances (ECS's only targetType) and
 * live in the instance's document, as an "attributes" list of {name,
 * value}. A request may change several instances: all of them are changed
 * in one transaction, or none (a missing target, a limit exceeded).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/ecs.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "core/banned.h"

#define ATTR_NAME_MAX  128
#define ATTR_VALUE_MAX 128
/* "You can specify up to 10 attributes in a single call." */
#define CALL_MAX	10
#define COMMIT_ATTEMPTS 64
#define TARGET_TYPE	"container-instance"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ATTR_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("-_/\\.", s[i]))
			return false;
	return true;
}

static bool valid_value(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ATTR_VALUE_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("-_.@/\\: ", s[i]))
			return false;
	return true;
}

int ecs_attributes_validate(const cJSON *attrs, struct err *err)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, attrs) {
		const char *name = json_str(a, "name");
		const char *value = json_str(a, "value");

		if (!name || !valid_name(name))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "Attribute name '%.200s' is invalid: 1 to %d letters, "
				       "numbers, hyphens, underscores, slashes, back slashes and "
				       "periods are allowed",
				       name ? name : "", ATTR_NAME_MAX);
		if (value && !valid_value(value))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "Attribute value '%.200s' of '%s' is invalid: 1 to %d "
				       "letters, numbers, hyphens, underscores, periods, at signs, "
				       "slashes, back slashes, colons and spaces are allowed, not "
				       "starting or ending with a space",
				       value, name, ATTR_VALUE_MAX);
	}
	return 0;
}

static int count_custom(const cJSON *attrs)
{
	const cJSON *a;
	int n = 0;

	cJSON_ArrayForEach(a, attrs) {
		const char *name = json_str(a, "name");

		n += name && !startswith(name, "ecs.") && !startswith(name, "com.amazonaws.ecs.");
	}
	return n;
}

int ecs_attributes_merge(cJSON *doc, const cJSON *attrs, struct err *err)
{
	cJSON *have = ecs_doc_array(doc, "attributes");
	const cJSON *a;

	cJSON_ArrayForEach(a, attrs) {
		const char *name = json_str(a, "name");
		const char *value = json_str(a, "value");
		cJSON *item = json_array_find(have, "name", name);

		if (!item) {
			item = cJSON_CreateObject();
			cJSON_AddStringToObject(item, "name", name);
			cJSON_AddItemToArray(have, item);
		}
		cJSON_DeleteItemFromObjectCaseSensitive(item, "value");
		if (value)
			cJSON_AddStringToObject(item, "value", value);
	}
	if (count_custom(have) > ECS_CUSTOM_ATTRIBUTES_MAX)
		return err_set(err, -E2BIG, E_ATTRIBUTE_LIMIT_EXCEEDED,
			       "You can apply up to %d custom attributes per resource.",
			       ECS_CUSTOM_ATTRIBUTES_MAX);
	return 0;
}

static void remove_attribute(cJSON *doc, const char *name)
{
	cJSON *have = ecs_doc_array(doc, "attributes");
	int i = 0;
	const cJSON *a;

	cJSON_ArrayForEach(a, have) {
		const char *s = json_str(a, "name");

		if (s && !strcmp(s, name)) {
			cJSON_DeleteItemFromArray(have, i);
			return;
		}
		i++;
	}
}

/* A target of the request, with the document being changed. */
struct target {
	char id[ECS_INSTANCE_ID_MAX + 1];
	cJSON *doc;
	uint64_t version;
};

/* The instance id an attribute's targetId (and targetType) names. */
static int target_id(const struct api_ctx *ctx, const char *cluster, const cJSON *a, char *ret_id,
		     struct err *err)
{
	const char *target = json_str(a, "targetId");
	const char *type = json_str(a, "targetType");

	if (!target || !*target)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "Attribute '%s' has no targetId",
			       json_str(a, "name"));
	if (type && strcmp(type, TARGET_TYPE) != 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "targetType '%.64s' is not supported: only " TARGET_TYPE, type);
	if (!startswith(target, "arn:") && !type)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "targetType is required when targetId '%.200s' is not an ARN",
			       target);
	if (ecs_instance_id(ctx, cluster, target, ret_id) < 0)
		return err_set(err, -ENOENT, E_TARGET_NOT_FOUND,
			       "Could not find target '%.300s' in cluster '%s'", target, cluster);
	return 0;
}

/* Apply the request's attributes to their targets (put or delete), in one transaction. */
static int change_locked(struct api_ctx *ctx, const char *cluster, struct target *targets,
			 int n_targets, bool put, struct err *err)
{
	const cJSON *attrs = json_arr(ctx->in, "attributes");
	int r = 0;

	for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct store_txn t = STORE_TXN_INIT;
		const cJSON *a;

		for (int i = 0; i < n_targets && r == 0; i++) {
			cJSON_Delete(targets[i].doc);
			targets[i].doc = NULL;
			r = ecs_instance_load(ctx, cluster, targets[i].id, &targets[i].doc,
					      &targets[i].version, err);
			if (r == 0 && strcmp(json_str(targets[i].doc, "status")
						     ? json_str(targets[i].doc, "status")
						     : "",
					     "INACTIVE") == 0)
				r = -ENOENT;
			if (r == -ENOENT)
				r = err_set(err, -ENOENT, E_TARGET_NOT_FOUND,
					    "Could not find container instance '%s' in cluster "
					    "'%s'",
					    targets[i].id, cluster);
		}
		cJSON_ArrayForEach(a, attrs) {
			char id[ECS_INSTANCE_ID_MAX + 1];
			struct target *tg = NULL;
			cJSON *one;

			if (r < 0)
				break;
			r = target_id(ctx, cluster, a, id, err);
			for (int i = 0; r == 0 && i < n_targets; i++)
				if (!strcmp(targets[i].id, id))
					tg = &targets[i];
			if (r < 0)
				break;
			if (!put) {
				remove_attribute(tg->doc, json_str(a, "name"));
				continue;
			}
			one = cJSON_CreateArray();
			cJSON_AddItemReferenceToArray(one, (cJSON *)a);
			r = ecs_attributes_merge(tg->doc, one, err);
			cJSON_Delete(one);
		}
		for (int i = 0; i < n_targets && r == 0; i++) {
			struct buf key = BUF_INIT, value = BUF_INIT;

			ecs_instance_key(&key, cluster, targets[i].id);
			json_print(&value, targets[i].doc);
			store_txn_check(&t, buf_str(&key), targets[i].version);
			store_txn_put(&t, buf_str(&key), value.data, value.len);
			buf_release(&key);
			buf_release(&value);
		}
		if (r == 0)
			r = store_commit(ctx->srv->store, &t, NULL, err);
		store_txn_release(&t);
		if (r != -ECANCELED)
			break;
		r = 0;
	}
	return r;
}

static int change_attributes(struct api_ctx *ctx, bool put, struct err *err)
{
	const cJSON *attrs = json_arr(ctx->in, "attributes");
	char cluster[ECS_NAME_MAX + 1];
	struct target targets[CALL_MAX];
	_cleanup_json_ cJSON *cdoc = NULL;
	struct buf lock = BUF_INIT;
	int n_targets = 0, r;
	const cJSON *a;

	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, false, &cdoc, NULL, err);
	if (r < 0)
		return r;
	if (cJSON_GetArraySize(attrs) == 0 || cJSON_GetArraySize(attrs) > CALL_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "attributes must name 1 to %d attributes", CALL_MAX);
	r = ecs_attributes_validate(attrs, err);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(a, attrs) {
		char id[ECS_INSTANCE_ID_MAX + 1];
		bool seen = false;

		r = target_id(ctx, cluster, a, id, err);
		if (r < 0)
			return r;
		for (int i = 0; i < n_targets; i++)
			seen |= !strcmp(targets[i].id, id);
		if (!seen) {
			snprintf(targets[n_targets].id, sizeof(targets[n_targets].id), "%s", id);
			targets[n_targets++].doc = NULL;
		}
	}
	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	r = change_locked(ctx, cluster, targets, n_targets, put, err);
	api_unlock(buf_str(&lock));
	buf_release(&lock);
	for (int i = 0; i < n_targets; i++)
		cJSON_Delete(targets[i].doc);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "attributes");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(a, attrs) {
		jsonw_obj_begin(ctx->out);
		jsonw_key_str(ctx->out, "name", json_str(a, "name"));
		if (put && json_str(a, "value"))
			jsonw_key_str(ctx->out, "value", json_str(a, "value"));
		jsonw_key_str(ctx->out, "targetType", TARGET_TYPE);
		jsonw_key_str(ctx->out, "targetId", json_str(a, "targetId"));
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	return 0;
}

int ecs_put_attributes(struct api_ctx *ctx, struct err *err)
{
	return change_attributes(ctx, true, err);
}

int ecs_delete_attributes(struct api_ctx *ctx, struct err *err)
{
	return change_attributes(ctx, false, err);
}

/*
 * ListAttributes pages over (instance, attribute) pairs: a page's last key
 * is the instance's key, "/" and the attribute's name, and the next page
 * resumes after that attribute of that instance (or at the next instance
 * when it is gone).
 */
struct list_page {
	struct jsonw *w;
	int64_t limit, n;
	bool more;
	struct buf last_key;
	const char *resume_key; /* the instance key of the token, or NULL */
	const char *resume_name;
	const char *name, *value; /* filters */
};

static int list_one(void *arg, const struct store_kv *kv)
{
	struct list_page *p = arg;
	_cleanup_json_ cJSON *doc = NULL;
	const char *status;
	bool skipping = false;
	const cJSON *a;

	if (p->resume_key) {
		int c = strcmp(kv->key, p->resume_key);

		if (c < 0)
			return 0;
		skipping = c == 0;
	}
	doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	status = json_str(doc, "status");
	if (!status || !strcmp(status, "INACTIVE"))
		return 0;
	cJSON_ArrayForEach(a, json_arr(doc, "attributes")) {
		const char *name = json_str(a, "name");
		const char *value = json_str(a, "value");

		if (!name)
			continue;
		if (skipping) {
			skipping = strcmp(name, p->resume_name) != 0;
			continue;
		}
		if ((p->name && strcmp(name, p->name)) ||
		    (p->value && (!value || strcmp(value, p->value))))
			continue;
		if (p->n == p->limit) {
			p->more = true;
			return 1;
		}
		jsonw_obj_begin(p->w);
		jsonw_key_str(p->w, "name", name);
		if (value)
			jsonw_key_str(p->w, "value", value);
		jsonw_key_str(p->w, "targetType", TARGET_TYPE);
		jsonw_key_str(p->w, "targetId", json_str(doc, "containerInstanceArn"));
		jsonw_obj_end(p->w);
		p->n++;
		buf_reset(&p->last_key);
		buf_printf(&p->last_key, "%s/%s", kv->key, name);
	}
	return 0;
}

int ecs_list_attributes(struct api_ctx *ctx, struct err *err)
{
	const char *token = json_str(ctx->in, "nextToken");
	const char *type = json_str(ctx->in, "targetType");
	struct list_page p = { .w = ctx->out };
	char cluster[ECS_NAME_MAX + 1];
	_cleanup_json_ cJSON *cdoc = NULL;
	struct buf prefix = BUF_INIT, after = BUF_INIT;
	int r;

	p.name = json_str(ctx->in, "attributeName");
	p.value = json_str(ctx->in, "attributeValue");
	if (!type || strcmp(type, TARGET_TYPE) != 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "targetType must be " TARGET_TYPE);
	if (p.value && !p.name)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "attributeValue needs attributeName");
	r = api_max_results(ctx, 100, 100, &p.limit, err);
	if (r == 0)
		r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, false, &cdoc, NULL, err);
	if (r < 0)
		return r;
	ecs_instance_key(&prefix, cluster, "");
	if (token) {
		char *slash;

		r = api_token_decode(token, buf_str(&prefix), &after, err);
		slash = r == 0 ? strchr(after.data + prefix.len, '/') : NULL;
		if (r == 0 && !slash)
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "The nextToken '%.100s' is not valid for this request", token);
		if (r == 0) {
			*slash = 0;
			p.resume_key = after.data;
			p.resume_name = slash + 1;
		}
	}
	if (r == 0) {
		jsonw_key(ctx->out, "attributes");
		jsonw_arr_begin(ctx->out);
		r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, list_one, &p, err);
		jsonw_arr_end(ctx->out);
	}
	if (r == 0 && p.more)
		api_token_write(ctx->out, buf_str(&p.last_key));
	buf_release(&p.last_key);
	buf_release(&prefix);
	buf_release(&after);
	return r;
}
