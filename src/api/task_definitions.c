/*
 * task_definitions.c: RegisterTaskDefinition, DescribeTaskDefinition,
 * ListTaskDefinitions, ListTaskDefinitionFamilies, DeregisterTaskDefinition
 * and DeleteTaskDefinitions.
 *
 * A revision is the document under td/FAMILY/REVISION, written once and
 * then only changed in status (ACTIVE, INACTIVE, DELETE_IN_PROGRESS) and
 * tags. Each family has a record tdfam/FAMILY, {"last": N, "active": A,
 * "inactive": I}: the last revision given out (revisions start at 1 and are
 * never reused, even after deletion) and how many revisions are ACTIVE and
 * INACTIVE (a family with neither is no longer listed). Every change of a
 * revision's status writes the family record in the same transaction,
 * checked against the version it was read at, so concurrent registrations
 * of one family get distinct, consecutive revisions and the counts stay
 * exact; a writer that loses the race reads again and retries.
 *
 * What RegisterTaskDefinition accepts and the document it stores come from
 * task_definition_validate.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/ecs.h"
#include "api/task_definition.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "core/banned.h"

#define TD_PREFIX     "td/"
#define FAMILY_PREFIX "tdfam/"
/* Attempts at a compare-and-swap commit before giving up. */
#define COMMIT_ATTEMPTS 64
#define REVISION_MAX	INT32_MAX
#define DELETE_MAX	10

/* The task definition a request names. */
struct td_ref {
	char family[ECS_NAME_MAX + 1];
	int64_t revision; /* 0: none given */
};

/* A family's record. */
struct family {
	int64_t last, active, inactive;
	uint64_t version; /* 0: no record yet */
};

static void td_key(struct buf *key, const char *family, int64_t revision)
{
	buf_printf(key, TD_PREFIX "%s/%010lld", family, (long long)revision);
}

static void family_key(struct buf *key, const char *family)
{
	buf_printf(key, FAMILY_PREFIX "%s", family);
}

/*
 * Parse "family", "family:revision" or a task definition ARN of this region
 * and account: -ERANGE when the revision is not a number from 1, -EINVAL
 * when it is none of these (an ARN of another account included).
 */
static int parse_ref(const struct api_ctx *ctx, const char *ref, struct td_ref *ret)
{
	const char *s = ref ? api_arn_resource(ctx->srv, "ecs", ref) : NULL;
	const char *colon;
	size_t n;

	if (!s)
		return -EINVAL;
	if (s != ref) {
		if (!startswith(s, "task-definition/"))
			return -EINVAL;
		s += strlen("task-definition/");
	}
	colon = strrchr(s, ':');
	n = colon ? (size_t)(colon - s) : strlen(s);
	if (n > ECS_NAME_MAX)
		return -EINVAL;
	snprintf(ret->family, sizeof(ret->family), "%.*s", (int)n, s);
	ret->revision = 0;
	if (!ecs_valid_name(ret->family))
		return -EINVAL;
	if (colon && parse_int64(colon + 1, 1, REVISION_MAX, &ret->revision) < 0)
		return -ERANGE;
	return 0;
}

static int parse_doc(const struct buf *value, const char *key, cJSON **ret, struct err *err)
{
	*ret = cJSON_ParseWithLength(buf_str(value), value->len);
	if (!*ret)
		return err_set(err, -EIO, E_SERVER, "'%s' is stored damaged", key);
	return 0;
}

static int family_load(const struct api_ctx *ctx, const char *name, struct family *ret,
		       struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	family_key(&key, name);
	r = store_get(ctx->srv->store, buf_str(&key), &value, &ret->version, err);
	if (r == -ENOENT) {
		ret->version = 0;
		r = 0;
	} else if (r == 0) {
		r = parse_doc(&value, buf_str(&key), &doc, err);
		ret->last = json_int(doc, "last", 0);
		ret->active = json_int(doc, "active", 0);
		ret->inactive = json_int(doc, "inactive", 0);
	}
	buf_release(&key);
	buf_release(&value);
	return r;
}

/* Add the family record's check and write to t. */
static void family_save(struct store_txn *t, const char *name, const struct family *f)
{
	struct buf key = BUF_INIT, value = BUF_INIT;

	family_key(&key, name);
	buf_printf(&value, "{\"last\":%lld,\"active\":%lld,\"inactive\":%lld}", (long long)f->last,
		   (long long)f->active, (long long)f->inactive);
	store_txn_check(t, buf_str(&key), f->version);
	store_txn_put(t, buf_str(&key), value.data, value.len);
	buf_release(&key);
	buf_release(&value);
}

/* Load one revision; -ENOENT (err untouched) when absent. */
static int revision_load(const struct api_ctx *ctx, const char *family, int64_t revision,
			 cJSON **ret_doc, uint64_t *ret_version, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	int r;

	td_key(&key, family, revision);
	r = store_get(ctx->srv->store, buf_str(&key), &value, ret_version, err);
	if (r == 0)
		r = parse_doc(&value, buf_str(&key), ret_doc, err);
	buf_release(&key);
	buf_release(&value);
	return r;
}

struct find_active {
	cJSON *doc;
	int r;
	struct err *err;
};

static int find_active_one(void *arg, const struct store_kv *kv)
{
	struct find_active *c = arg;
	cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *status = json_str(doc, "status");

	if (!doc)
		return err_set(c->err, -EIO, E_SERVER, "'%s' is stored damaged", kv->key);
	if (status && !strcmp(status, "ACTIVE")) {
		c->doc = doc;
		return 1;
	}
	cJSON_Delete(doc);
	return 0;
}

/* The family's latest ACTIVE revision; -ENOENT when it has none. */
static int latest_active(const struct api_ctx *ctx, const char *family, cJSON **ret_doc,
			 struct err *err)
{
	struct find_active c = { .err = err };
	struct buf prefix = BUF_INIT;
	int r;

	buf_printf(&prefix, TD_PREFIX "%s/", family);
	r = store_scan_desc(ctx->srv->store, buf_str(&prefix), NULL, find_active_one, &c, err);
	buf_release(&prefix);
	if (r == 0 && !c.doc)
		r = -ENOENT;
	if (r == 0)
		*ret_doc = c.doc;
	return r;
}

static bool is_time_member(const char *key)
{
	return !strcmp(key, "registeredAt") || !strcmp(key, "deregisteredAt") ||
	       !strcmp(key, "deleteRequestedAt");
}

/* Write a stored revision as a TaskDefinition: all but its tags, times in seconds. */
void ecs_task_definition_write(struct jsonw *w, const cJSON *doc)
{
	const cJSON *v;

	jsonw_obj_begin(w);
	cJSON_ArrayForEach(v, doc) {
		if (!strcmp(v->string, "tags"))
			continue;
		if (is_time_member(v->string) && cJSON_IsNumber(v))
			jsonw_key_time_ms(w, v->string, (int64_t)v->valuedouble);
		else
			json_write(w, v->string, v);
	}
	jsonw_obj_end(w);
}

static void write_tags(struct jsonw *w, const cJSON *doc)
{
	const cJSON *tags = json_arr(doc, "tags");

	jsonw_key(w, "tags");
	if (tags)
		json_write(w, NULL, tags);
	else
		jsonw_raw(w, "[]", 2);
}

static void set_member(cJSON *doc, const char *key, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(doc, key))
		cJSON_ReplaceItemInObjectCaseSensitive(doc, key, v);
	else
		cJSON_AddItemToObject(doc, key, v);
}

/* Give doc the family's next revision and store both; retried on conflict. */
static int register_revision(const struct api_ctx *ctx, cJSON *doc, struct err *err)
{
	const char *family = json_str(doc, "family");
	struct buf key = BUF_INIT, value = BUF_INIT, arn = BUF_INIT, res = BUF_INIT;
	struct buf lock = BUF_INIT;
	int r = 0;

	buf_printf(&lock, "tdfam/%s", family);
	api_lock(buf_str(&lock));
	for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct store_txn t = STORE_TXN_INIT;
		struct family f;

		r = family_load(ctx, family, &f, err);
		if (r < 0)
			break;
		if (f.last >= REVISION_MAX) {
			r = err_set(err, -EOVERFLOW, E_LIMIT_EXCEEDED,
				    "Family '%s' has used all its revisions", family);
			break;
		}
		f.last++;
		f.active++;
		buf_reset(&res);
		buf_reset(&arn);
		buf_printf(&res, "task-definition/%s:%lld", family, (long long)f.last);
		api_arn(ctx->srv, &arn, "ecs", buf_str(&res));
		set_member(doc, "taskDefinitionArn", cJSON_CreateString(buf_str(&arn)));
		set_member(doc, "revision", cJSON_CreateNumber((double)f.last));
		buf_reset(&key);
		buf_reset(&value);
		td_key(&key, family, f.last);
		json_print(&value, doc);
		family_save(&t, family, &f);
		store_txn_check(&t, buf_str(&key), 0);
		store_txn_put(&t, buf_str(&key), value.data, value.len);
		r = store_commit(ctx->srv->store, &t, NULL, err);
		store_txn_release(&t);
		if (r != -ECANCELED)
			break;
	}
	api_unlock(buf_str(&lock));
	buf_release(&lock);
	buf_release(&key);
	buf_release(&value);
	buf_release(&arn);
	buf_release(&res);
	return r;
}

int ecs_register_task_definition(struct api_ctx *ctx, struct err *err)
{
	_cleanup_json_ cJSON *doc = NULL;
	int r;

	r = ecs_task_definition_build(ctx, &doc, err);
	if (r == 0)
		r = register_revision(ctx, doc, err);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "taskDefinition");
	ecs_task_definition_write(ctx->out, doc);
	write_tags(ctx->out, doc);
	return 0;
}

int ecs_task_definition_resolve(const struct api_ctx *ctx, const char *ref, cJSON **ret_doc,
				struct err *err)
{
	struct td_ref parsed;
	int r = parse_ref(ctx, ref, &parsed);

	if (r == 0 && parsed.revision)
		r = revision_load(ctx, parsed.family, parsed.revision, ret_doc, NULL, err);
	else if (r == 0)
		r = latest_active(ctx, parsed.family, ret_doc, err);
	return r == -EINVAL || r == -ERANGE ? -ENOENT : r;
}

int ecs_describe_task_definition(struct api_ctx *ctx, struct err *err)
{
	_cleanup_json_ cJSON *doc = NULL;
	const cJSON *inc;
	struct td_ref ref;
	bool tags = false;
	int r;

	cJSON_ArrayForEach(inc, json_arr(ctx->in, "include"))
		tags |= cJSON_IsString(inc) && !strcmp(inc->valuestring, "TAGS");
	r = parse_ref(ctx, json_str(ctx->in, "taskDefinition"), &ref);
	if (r == 0 && ref.revision)
		r = revision_load(ctx, ref.family, ref.revision, &doc, NULL, err);
	else if (r == 0)
		r = latest_active(ctx, ref.family, &doc, err);
	/* ECS's answer for anything it cannot find */
	if (r == -EINVAL || r == -ERANGE || r == -ENOENT)
		return err_set(err, -ENOENT, E_CLIENT, "Unable to describe task definition.");
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "taskDefinition");
	ecs_task_definition_write(ctx->out, doc);
	if (tags)
		write_tags(ctx->out, doc);
	return 0;
}

/* Listing: one page of revisions or families, with the key to resume after. */
struct page {
	struct api_page page;
	const char *status; /* revisions: the status listed */
	struct err *err;
};

static int list_revision(void *arg, const struct store_kv *kv)
{
	struct page *p = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *status = json_str(doc, "status");

	if (!doc)
		return err_set(p->err, -EIO, E_SERVER, "'%s' is stored damaged", kv->key);
	if (!status || strcmp(status, p->status) != 0)
		return 0;
	return api_page_add(&p->page, kv->key, json_str(doc, "taskDefinitionArn"));
}

struct next_family {
	char name[ECS_NAME_MAX + 1];
	bool found;
};

static int take_family(void *arg, const struct store_kv *kv)
{
	struct next_family *c = arg;

	snprintf(c->name, sizeof(c->name), "%s", kv->key + strlen(FAMILY_PREFIX));
	c->found = true;
	return 1;
}

/*
 * List revisions family by family. Families are walked through their
 * records (tdfam/NAME sorts "web" before "web-api", as ECS sorts names,
 * where td/web/ would sort after td/web-api/), then each family's revisions
 * in revision order; DESC reverses both. Resuming after a token's key
 * first finishes that key's family.
 */
static int list_revisions(const struct api_ctx *ctx, struct page *p, const char *only_family,
			  bool desc, const char *after, struct err *err)
{
	char family[ECS_NAME_MAX + 1] = "";
	struct buf prefix = BUF_INIT, from = BUF_INIT;
	int r = 0;

	if (after) {
		const char *slash = strrchr(after, '/');

		snprintf(family, sizeof(family), "%.*s", (int)(slash - after - strlen(TD_PREFIX)),
			 after + strlen(TD_PREFIX));
	}
	if (only_family && !after)
		snprintf(family, sizeof(family), "%s", only_family);
	for (;;) {
		struct next_family next = { .found = false };

		if (*family) {
			buf_reset(&prefix);
			buf_printf(&prefix, TD_PREFIX "%s/", family);
			r = (desc ? store_scan_desc : store_scan)(ctx->srv->store, buf_str(&prefix),
								  after, list_revision, p, err);
			after = NULL;
			if (r < 0 || p->page.more || only_family)
				break;
		}
		buf_reset(&from);
		if (*family)
			family_key(&from, family);
		r = (desc ? store_scan_desc : store_scan)(ctx->srv->store, FAMILY_PREFIX,
							  *family ? buf_str(&from) : NULL,
							  take_family, &next, err);
		if (r < 0 || !next.found)
			break;
		snprintf(family, sizeof(family), "%s", next.name);
	}
	buf_release(&prefix);
	buf_release(&from);
	return r;
}

/* Whether a token's key names a revision (of family, when one is given). */
static bool token_fits(const char *key, const char *family)
{
	const char *name = key + strlen(TD_PREFIX);
	const char *slash = strchr(name, '/');

	if (!slash || strchr(slash + 1, '/') || slash == name ||
	    (size_t)(slash - name) > ECS_NAME_MAX)
		return false;
	return !family || (strlen(family) == (size_t)(slash - name) &&
			   !strncmp(name, family, (size_t)(slash - name)));
}

int ecs_list_task_definitions(struct api_ctx *ctx, struct err *err)
{
	const char *token = json_str(ctx->in, "nextToken");
	const char *family = json_str(ctx->in, "familyPrefix");
	const char *sort = json_str(ctx->in, "sort");
	struct page p = { .page = { .w = ctx->out }, .err = err };
	struct buf after = BUF_INIT;
	int r;

	p.status = json_str(ctx->in, "status") ? json_str(ctx->in, "status") : "ACTIVE";
	r = api_max_results(ctx, 100, 100, &p.page.limit, err);
	if (r == 0 && token)
		r = api_token_decode(token, TD_PREFIX, &after, err);
	if (r == 0 && token && !token_fits(buf_str(&after), family))
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "The nextToken '%.100s' is not valid for this request", token);
	if (r < 0) {
		buf_release(&after);
		return r;
	}
	jsonw_key(ctx->out, "taskDefinitionArns");
	jsonw_arr_begin(ctx->out);
	/* familyPrefix is a whole family name (the API reference); no such family: nothing */
	if (!family || ecs_valid_name(family))
		r = list_revisions(ctx, &p, family, sort && !strcmp(sort, "DESC"),
				   token ? buf_str(&after) : NULL, err);
	jsonw_arr_end(ctx->out);
	if (r == 0)
		api_page_end(&p.page);
	buf_release(&after);
	buf_release(&p.page.last_key);
	return r;
}

struct family_page {
	struct page p;
	const char *status; /* ACTIVE, INACTIVE or ALL */
};

static int list_family(void *arg, const struct store_kv *kv)
{
	struct family_page *fp = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	int64_t active = json_int(doc, "active", 0);
	int64_t inactive = json_int(doc, "inactive", 0);

	if (!doc)
		return err_set(fp->p.err, -EIO, E_SERVER, "'%s' is stored damaged", kv->key);
	/* a family whose revisions were all deleted is no longer listed */
	if (active + inactive == 0)
		return 0;
	if ((!strcmp(fp->status, "ACTIVE") && active == 0) ||
	    (!strcmp(fp->status, "INACTIVE") && active > 0))
		return 0;
	return api_page_add(&fp->p.page, kv->key, kv->key + strlen(FAMILY_PREFIX));
}

int ecs_list_task_definition_families(struct api_ctx *ctx, struct err *err)
{
	const char *token = json_str(ctx->in, "nextToken");
	const char *prefix = json_str(ctx->in, "familyPrefix");
	struct family_page fp = { .p = { .page = { .w = ctx->out }, .err = err } };
	struct buf after = BUF_INIT, scan = BUF_INIT;
	int r;

	/*
	 * The API reference: "By default, both ACTIVE and INACTIVE task
	 * definition families are listed."
	 */
	fp.status = json_str(ctx->in, "status") ? json_str(ctx->in, "status") : "ALL";
	r = api_max_results(ctx, 100, 100, &fp.p.page.limit, err);
	buf_printf(&scan, FAMILY_PREFIX "%s", prefix ? prefix : "");
	if (r == 0 && token)
		r = api_token_decode(token, buf_str(&scan), &after, err);
	if (r == 0) {
		jsonw_key(ctx->out, "families");
		jsonw_arr_begin(ctx->out);
		r = store_scan(ctx->srv->store, buf_str(&scan), token ? buf_str(&after) : NULL,
			       list_family, &fp, err);
		jsonw_arr_end(ctx->out);
	}
	if (r == 0)
		api_page_end(&fp.p.page);
	buf_release(&after);
	buf_release(&scan);
	buf_release(&fp.p.page.last_key);
	return r;
}

/*
 * Move revision ref to status `to` (INACTIVE or DELETE_IN_PROGRESS), with
 * the time member `stamp`, adjusting the family's counts in the same
 * transaction. A revision already there is left as it is. ret_doc gets the
 * revision's document either way. -ENOENT when there is no such revision;
 * -EBUSY when a deletion finds it still ACTIVE.
 */
static int change_status(const struct api_ctx *ctx, const struct td_ref *ref, const char *to,
			 const char *stamp, cJSON **ret_doc, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	int r = 0;

	struct buf lock = BUF_INIT;

	td_key(&key, ref->family, ref->revision);
	buf_printf(&lock, "tdfam/%s", ref->family);
	api_lock(buf_str(&lock));
	for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct store_txn t = STORE_TXN_INIT;
		cJSON *doc = NULL;
		const char *status;
		uint64_t version;
		struct family f;

		r = revision_load(ctx, ref->family, ref->revision, &doc, &version, err);
		if (r == 0)
			r = family_load(ctx, ref->family, &f, err);
		if (r < 0) {
			cJSON_Delete(doc);
			break;
		}
		status = json_str(doc, "status") ? json_str(doc, "status") : "";
		if (!strcmp(status, to) || !strcmp(status, "DELETE_IN_PROGRESS")) {
			*ret_doc = doc;
			break;
		}
		if (!strcmp(to, "DELETE_IN_PROGRESS") && !strcmp(status, "ACTIVE")) {
			cJSON_Delete(doc);
			r = -EBUSY;
			break;
		}
		if (!strcmp(status, "ACTIVE"))
			f.active--;
		else
			f.inactive--;
		if (!strcmp(to, "INACTIVE"))
			f.inactive++;
		set_member(doc, "status", cJSON_CreateString(to));
		set_member(doc, stamp, cJSON_CreateNumber((double)ctx->now_ms));
		buf_reset(&value);
		json_print(&value, doc);
		family_save(&t, ref->family, &f);
		store_txn_check(&t, buf_str(&key), version);
		store_txn_put(&t, buf_str(&key), value.data, value.len);
		r = store_commit(ctx->srv->store, &t, NULL, err);
		store_txn_release(&t);
		if (r == 0)
			*ret_doc = doc;
		else
			cJSON_Delete(doc);
		if (r != -ECANCELED)
			break;
	}
	api_unlock(buf_str(&lock));
	buf_release(&lock);
	buf_release(&key);
	buf_release(&value);
	return r;
}

int ecs_deregister_task_definition(struct api_ctx *ctx, struct err *err)
{
	const char *s = json_str(ctx->in, "taskDefinition");
	_cleanup_json_ cJSON *doc = NULL;
	struct td_ref ref;
	int r;

	/* the wordings moto reproduces from ECS */
	r = parse_ref(ctx, s, &ref);
	if (r == -ERANGE)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid revision number. Number: %.64s", strrchr(s, ':') + 1);
	if (r == 0 && !ref.revision)
		return err_set(err, -EINVAL, E_CLIENT, "Revision is missing.");
	if (r == 0)
		r = change_status(ctx, &ref, "INACTIVE", "deregisteredAt", &doc, err);
	if (r == -EINVAL || r == -ENOENT)
		return err_set(err, -ENOENT, E_CLIENT, "Unable to describe task definition.");
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "taskDefinition");
	ecs_task_definition_write(ctx->out, doc);
	return 0;
}

static void write_failure(struct jsonw *w, const struct api_ctx *ctx, const char *given,
			  const struct td_ref *ref, const char *reason)
{
	struct buf arn = BUF_INIT, res = BUF_INIT;

	if (ref) {
		buf_printf(&res, "task-definition/%s:%lld", ref->family, (long long)ref->revision);
		api_arn(ctx->srv, &arn, "ecs", buf_str(&res));
	} else {
		buf_puts(&arn, given);
	}
	jsonw_obj_begin(w);
	jsonw_key_str(w, "arn", buf_str(&arn));
	jsonw_key_str(w, "reason", reason);
	jsonw_obj_end(w);
	buf_release(&arn);
	buf_release(&res);
}

int ecs_delete_task_definitions(struct api_ctx *ctx, struct err *err)
{
	const cJSON *list = json_arr(ctx->in, "taskDefinitions");
	struct buf failures = BUF_INIT;
	struct jsonw fw;
	const cJSON *v;
	int r = 0;

	/* the wordings moto reproduces from ECS */
	if (cJSON_GetArraySize(list) == 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "size of TaskDefinition references list must be greater than 0");
	if (cJSON_GetArraySize(list) > DELETE_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Size of TaskDefinition references list cannot exceed %d",
			       DELETE_MAX);
	jsonw_init(&fw, &failures);
	jsonw_arr_begin(&fw);
	jsonw_key(ctx->out, "taskDefinitions");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(v, list) {
		_cleanup_json_ cJSON *doc = NULL;
		struct td_ref ref;

		if (parse_ref(ctx, v->valuestring, &ref) < 0 || !ref.revision) {
			write_failure(&fw, ctx, v->valuestring, NULL,
				      "The specified task definition identifier is invalid. "
				      "Specify a valid name or ARN and try again.");
			continue;
		}
		r = change_status(ctx, &ref, "DELETE_IN_PROGRESS", "deleteRequestedAt", &doc, err);
		if (r == -ENOENT)
			write_failure(&fw, ctx, v->valuestring, &ref,
				      "The specified task definition does not exist. Specify a "
				      "valid account, family, revision and try again.");
		else if (r == -EBUSY)
			write_failure(&fw, ctx, v->valuestring, &ref,
				      "The specified task definition is still in ACTIVE status. "
				      "Please deregister the target and try again.");
		else if (r == 0)
			ecs_task_definition_write(ctx->out, doc);
		if (r < 0 && r != -ENOENT && r != -EBUSY)
			break;
		r = 0;
	}
	jsonw_arr_end(ctx->out);
	jsonw_arr_end(&fw);
	if (r == 0)
		jsonw_key_raw(ctx->out, "failures", failures.data, failures.len);
	buf_release(&failures);
	return r;
}
