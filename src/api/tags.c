/*
 * tags.c: TagResource, UntagResource and ListTagsForResource, and the tag
 * rules every resource's create operation shares (resource_tags.c, in ECS's
 * spelling). A resource keeps its tags in its own document, as a "tags" list
 * of {key, value} in the order they were first set.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/ecs.h"
#include "api/resource_tags.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "core/banned.h"

/* ECS's tags: {key, value}, the value optional; every mistake InvalidParameterException. */
static const struct resource_tag_style ecs_tag_style = {
	.key = "key",
	.value = "value",
	.value_required = false,
	.invalid = E_INVALID_PARAMETER,
	.too_many = E_INVALID_PARAMETER,
};

int ecs_tags_validate(const cJSON *tags, struct err *err)
{
	return resource_tags_validate(&ecs_tag_style, tags, err);
}

int ecs_tags_merge(cJSON *doc, const cJSON *tags, struct err *err)
{
	return resource_tags_merge(&ecs_tag_style, doc, tags, err);
}

/*
 * The store key of the resource an ARN names. Supported: clusters, task
 * definitions, services, tasks and container instances.
 */
static int resource_key(const struct api_ctx *ctx, const char *arn, struct buf *ret_key,
			enum err_kind *ret_missing, struct err *err)
{
	const char *res = api_arn_resource(ctx->srv, "ecs", arn);
	const char *slash, *colon;
	int64_t rev;

	if (!startswith(arn, "arn:") || !res)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "resourceArn '%.300s' is not the ARN of an ECS resource of "
			       "this region and account",
			       arn);
	slash = strchr(res, '/');
	if (!slash || !slash[1])
		goto bad;
	*ret_missing = E_RESOURCE_NOT_FOUND;
	if (startswith(res, "cluster/")) {
		if (!ecs_valid_name(slash + 1))
			goto bad;
		buf_printf(ret_key, "cluster/%s", slash + 1);
		*ret_missing = E_CLUSTER_NOT_FOUND;
		return 0;
	}
	if (startswith(res, "task-definition/")) {
		char family[ECS_NAME_MAX + 1];

		colon = strrchr(slash + 1, ':');
		if (!colon || (size_t)(colon - slash - 1) > ECS_NAME_MAX ||
		    parse_int64(colon + 1, 1, 999999999, &rev) < 0)
			goto bad;
		snprintf(family, sizeof(family), "%.*s", (int)(colon - slash - 1), slash + 1);
		if (!ecs_valid_name(family))
			goto bad;
		buf_printf(ret_key, "td/%s/%010lld", family, (long long)rev);
		return 0;
	}
	if (startswith(res, "service/") || startswith(res, "task/") ||
	    startswith(res, "container-instance/")) {
		const char *kind = startswith(res, "service/") ? "service"
				   : startswith(res, "task/")  ? "task"
							       : "instance";
		const char *second = strchr(slash + 1, '/');

		/* the ARN's long form names the cluster: service/CLUSTER/NAME */
		if (!second || !second[1] || strchr(second + 1, '/'))
			goto bad;
		buf_printf(ret_key, "%s/%.*s/%s", kind, (int)(second - slash - 1), slash + 1,
			   second + 1);
		return 0;
	}
bad:
	return err_set(err, -EINVAL, E_INVALID_PARAMETER,
		       "resourceArn '%.300s' does not name a resource that can be tagged", arn);
}

/* Load the tagged resource's document; not found as the resource's kind says. */
static int load(const struct api_ctx *ctx, const char *key, enum err_kind missing, cJSON **ret_doc,
		uint64_t *ret_version, struct err *err)
{
	struct buf value = BUF_INIT;
	const char *status;
	cJSON *doc;
	int r;

	r = store_get(ctx->srv->store, key, &value, ret_version, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, missing,
			       missing == E_CLUSTER_NOT_FOUND
				       ? "Cluster not found."
				       : "The specified resource could not be found.");
	if (r < 0) {
		buf_release(&value);
		return r;
	}
	doc = cJSON_ParseWithLength(buf_str(&value), value.len);
	buf_release(&value);
	if (!doc)
		return err_set(err, -EIO, E_SERVER, "'%s' is stored damaged", key);
	status = json_str(doc, "status");
	if (status && !strcmp(status, "DELETE_IN_PROGRESS")) {
		cJSON_Delete(doc);
		return err_set(err, -ENOENT, missing, "The specified resource could not be found.");
	}
	*ret_doc = doc;
	return 0;
}

/* Change the resource's tags with fn (retried when another writer won). */
static int update_tags(struct api_ctx *ctx,
		       int (*fn)(struct api_ctx *ctx, cJSON *doc, struct err *err), struct err *err)
{
	struct buf key = BUF_INIT;
	enum err_kind missing;
	int r, attempt;

	r = resource_key(ctx, json_str(ctx->in, "resourceArn"), &key, &missing, err);
	if (r < 0) {
		buf_release(&key);
		return r;
	}
	api_lock(buf_str(&key));
	for (attempt = 0; attempt < 64; attempt++) {
		_cleanup_json_ cJSON *doc = NULL;
		struct store_txn t = STORE_TXN_INIT;
		struct buf value = BUF_INIT;
		uint64_t version;

		r = load(ctx, buf_str(&key), missing, &doc, &version, err);
		if (r == 0)
			r = fn(ctx, doc, err);
		if (r < 0)
			break;
		json_print(&value, doc);
		store_txn_check(&t, buf_str(&key), version);
		store_txn_put(&t, buf_str(&key), value.data, value.len);
		r = store_commit(ctx->srv->store, &t, NULL, err);
		store_txn_release(&t);
		buf_release(&value);
		if (r != -ECANCELED)
			break;
	}
	api_unlock(buf_str(&key));
	buf_release(&key);
	return r;
}

static int add_tags(struct api_ctx *ctx, cJSON *doc, struct err *err)
{
	return ecs_tags_merge(doc, json_arr(ctx->in, "tags"), err);
}

int ecs_tag_resource(struct api_ctx *ctx, struct err *err)
{
	int r = ecs_tags_validate(json_arr(ctx->in, "tags"), err);

	return r < 0 ? r : update_tags(ctx, add_tags, err);
}

static int remove_tags(struct api_ctx *ctx, cJSON *doc, struct err *err)
{
	return resource_tags_remove(&ecs_tag_style, doc, json_arr(ctx->in, "tagKeys"), err);
}

int ecs_untag_resource(struct api_ctx *ctx, struct err *err)
{
	return update_tags(ctx, remove_tags, err);
}

int ecs_list_tags_for_resource(struct api_ctx *ctx, struct err *err)
{
	struct buf key = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	enum err_kind missing;
	const cJSON *tags;
	int r;

	r = resource_key(ctx, json_str(ctx->in, "resourceArn"), &key, &missing, err);
	if (r == 0)
		r = load(ctx, buf_str(&key), missing, &doc, NULL, err);
	buf_release(&key);
	if (r < 0)
		return r;
	tags = json_arr(doc, "tags");
	jsonw_key(ctx->out, "tags");
	if (tags)
		json_write(ctx->out, NULL, tags);
	else
		jsonw_raw(ctx->out, "[]", 2);
	return 0;
}
