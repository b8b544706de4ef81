/*
 * ecr.c: the Amazon ECR API (AWS JSON 1.1, target prefix
 * AmazonEC2ContainerRegistry_V20150921, signing name "ecr"): the table of
 * operations berth serves, and the operations on repositories
 * (CreateRepository, DescribeRepositories, DeleteRepository,
 * PutImageTagMutability), their tags (TagResource, UntagResource,
 * ListTagsForResource), authorization tokens (GetAuthorizationToken) and
 * layers (GetDownloadUrlForLayer, BatchCheckLayerAvailability). The image
 * operations are in ecr_images.c.
 *
 * A repository is the document under ecr/repo/NAME (registry.h), created,
 * changed and deleted through images.c as the OCI distribution API's are;
 * this file checks ECR's requests and words ECR's answers. Requests may name
 * a registryId: berth serves one registry, the server's account. Messages
 * follow ECR's wording where it is known.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "registry/ecr.h"
#include "registry/blobs.h"
#include "registry/images.h"
#include "api/model.h"
#include "api/resource_tags.h"
#include "core/banned.h"

#define REPO_PREFIX "ecr/repo/"

#define NAME_PATTERN   "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
#define DIGEST_PATTERN "[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+"

/* One path component of a repository name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool valid_component(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start = i;

		while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			i++;
		if (i == start)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n)
			return false;
	}
	return false;
}

bool ecr_valid_repo_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	const char *p = s, *slash;

	if (n < 2 || n > REGISTRY_NAME_MAX)
		return false;
	for (;;) {
		slash = strchr(p, '/');
		if (!valid_component(p, slash ? (size_t)(slash - p) : strlen(p)))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

bool ecr_valid_digest(const char *s)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	const char *p;

	if (!colon || colon == s || !colon[1] || strlen(s) > 1000)
		return false;
	for (p = s; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("-_+.", *p)))
			return false;
	for (p = colon + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

void ecr_manifest_prefix(struct buf *b, const char *name)
{
	buf_printf(b, "ecr/manifest/%s/", name);
}

void ecr_tag_prefix(struct buf *b, const char *name)
{
	buf_printf(b, "ecr/tag/%s/", name);
}

void ecr_blob_prefix(struct buf *b, const char *name)
{
	buf_printf(b, "ecr/blob/%s/", name);
}

int ecr_repo_not_found(const struct api_ctx *ctx, const char *name, const char *registry_id,
		       struct err *err)
{
	return err_set(err, -ENOENT, E_REPOSITORY_NOT_FOUND,
		       "The repository with name '%.256s' does not exist in the registry with id "
		       "'%.20s'",
		       name, registry_id ? registry_id : ctx->srv->account_id);
}

int ecr_request_repo(const struct api_ctx *ctx, char *ret_name, struct err *err)
{
	const char *name = json_str(ctx->in, "repositoryName");
	const char *registry_id = json_str(ctx->in, "registryId");

	if (!name)
		name = "";
	if (registry_id && strcmp(registry_id, ctx->srv->account_id) != 0)
		return ecr_repo_not_found(ctx, name, registry_id, err);
	if (!ecr_valid_repo_name(name))
		return err_set(
			err, -EINVAL, E_INVALID_PARAMETER,
			"Invalid parameter at 'repositoryName' failed to satisfy constraint: "
			"'must satisfy regular expression '" NAME_PATTERN "''");
	snprintf(ret_name, REGISTRY_NAME_MAX + 1, "%s", name);
	return 0;
}

/* The registry's answer about repository `name`, "not found" worded as ECR words it. */
static int repo_result(const struct api_ctx *ctx, const char *name, int r, struct err *err)
{
	if (r < 0 && err->kind == E_REPOSITORY_NOT_FOUND)
		return ecr_repo_not_found(ctx, name, NULL, err);
	return r;
}

int ecr_repo_load(const struct api_ctx *ctx, const char *name, cJSON **ret_doc,
		  uint64_t *ret_version, struct err *err)
{
	return repo_result(ctx, name,
			   registry_repo_load(ctx->srv->registry, name, ret_doc, ret_version, err),
			   err);
}

/*
 * Check imageTagMutability as CreateRepository and PutImageTagMutability take
 * it. The registry enforces MUTABLE and IMMUTABLE on every push (images.c);
 * the *_WITH_EXCLUSION modes and their filters are refused rather than
 * stored and ignored.
 */
static int check_mutability(const cJSON *in, struct err *err)
{
	const char *mode = json_str(in, "imageTagMutability");

	if (mode && strcmp(mode, "MUTABLE") && strcmp(mode, "IMMUTABLE"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid parameter at 'imageTagMutability': berth supports MUTABLE "
			       "and IMMUTABLE, not %s",
			       mode);
	if (json_has(in, "imageTagMutabilityExclusionFilters"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid parameter at 'imageTagMutabilityExclusionFilters': berth "
			       "supports no exclusion filters");
	return 0;
}

/* The URI clients push to: this server's registry endpoint and the name. */
static void repo_uri(const struct api_ctx *ctx, struct buf *out, const char *name)
{
	const struct registry *r = ctx->srv->registry;

	if (r && r->endpoint[0])
		buf_printf(out, "%s/%s", r->endpoint, name);
	else
		buf_printf(out, "%s.dkr.ecr.%s.localhost/%s", ctx->srv->account_id,
			   ctx->srv->region, name);
}

static void write_repository(const struct api_ctx *ctx, const cJSON *doc)
{
	struct jsonw *w = ctx->out;
	const char *name = json_str(doc, "repositoryName");
	struct buf uri = BUF_INIT;
	const cJSON *v;

	repo_uri(ctx, &uri, name);
	jsonw_obj_begin(w);
	jsonw_key_str(w, "repositoryArn", json_str(doc, "repositoryArn"));
	jsonw_key_str(w, "registryId", json_str(doc, "registryId"));
	jsonw_key_str(w, "repositoryName", name);
	jsonw_key_str(w, "repositoryUri", buf_str(&uri));
	jsonw_key_time_ms(w, "createdAt", json_int(doc, "createdAt", 0));
	jsonw_key_str(w, "imageTagMutability", json_str(doc, "imageTagMutability"));
	if ((v = json_obj(doc, "imageScanningConfiguration")))
		json_write(w, "imageScanningConfiguration", v);
	if ((v = json_obj(doc, "encryptionConfiguration")))
		json_write(w, "encryptionConfiguration", v);
	jsonw_obj_end(w);
	buf_release(&uri);
}

/*
 * ECR's tags: {Key, Value}, both required; a bad tag is InvalidTagParameterException,
 * one too many TooManyTagsException.
 */
static const struct resource_tag_style ecr_tag_style = {
	.key = "Key",
	.value = "Value",
	.value_required = true,
	.invalid = E_INVALID_TAG_PARAMETER,
	.too_many = E_TOO_MANY_TAGS,
};

/* CreateRepository */

static int create_repository(struct api_ctx *ctx, struct err *err)
{
	const cJSON *in = ctx->in;
	const char *name = json_str(in, "repositoryName");
	const char *registry_id = json_str(in, "registryId");
	const cJSON *enc = json_obj(in, "encryptionConfiguration");
	struct registry_repo_options opts = {
		.image_tag_mutability = json_str(in, "imageTagMutability"),
		.scan_on_push =
			json_bool(json_obj(in, "imageScanningConfiguration"), "scanOnPush", false),
		.encryption_type = json_str(enc, "encryptionType"),
		.kms_key = json_str(enc, "encryptionType") ? json_str(enc, "kmsKey") : NULL,
	};
	_cleanup_json_ cJSON *doc = NULL, *tagged = NULL;
	int r;

	if (registry_id && strcmp(registry_id, ctx->srv->account_id) != 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid parameter at 'registryId': this registry is '%s', not "
			       "'%.20s'",
			       ctx->srv->account_id, registry_id);
	if (!ecr_valid_repo_name(name))
		return err_set(
			err, -EINVAL, E_INVALID_PARAMETER,
			"Invalid parameter at 'repositoryName' failed to satisfy constraint: "
			"'must satisfy regular expression '" NAME_PATTERN "''");
	r = check_mutability(in, err);
	if (r == 0)
		r = resource_tags_validate(&ecr_tag_style, json_arr(in, "tags"), err);
	if (r < 0)
		return r;
	if (opts.encryption_type && strcmp(opts.encryption_type, "AES256"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid parameter at 'encryptionConfiguration': berth has no KMS; "
			       "encryptionType must be AES256");
	/* the request's tags as a repository keeps them: {Key, Value}, each key once */
	tagged = cJSON_CreateObject();
	r = resource_tags_merge(&ecr_tag_style, tagged, json_arr(in, "tags"), err);
	if (r < 0)
		return r;
	opts.tags = json_arr(tagged, "tags");

	r = registry_repo_create(ctx->srv->registry, name, &opts, ctx->now_ms, &doc, err);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "repository");
	write_repository(ctx, doc);
	return 0;
}

/* DescribeRepositories */

struct repo_page {
	const struct api_ctx *ctx;
	int64_t limit, n;
	struct buf last_key;
	bool more;
};

static int describe_one(void *arg, const char *name, const cJSON *doc)
{
	struct repo_page *p = arg;

	if (p->n == p->limit) {
		p->more = true;
		return 1;
	}
	write_repository(p->ctx, doc);
	p->n++;
	buf_reset(&p->last_key);
	buf_printf(&p->last_key, REPO_PREFIX "%s", name);
	return 0;
}

static int describe_repositories(struct api_ctx *ctx, struct err *err)
{
	const cJSON *names = json_arr(ctx->in, "repositoryNames");
	const char *registry_id = json_str(ctx->in, "registryId");
	const char *token = json_str(ctx->in, "nextToken");
	struct repo_page p = { .ctx = ctx };
	struct buf after = BUF_INIT;
	const cJSON *v;
	int r = 0;

	if (names && (token || json_has(ctx->in, "maxResults")))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid parameter: maxResults and nextToken cannot be used with "
			       "repositoryNames");
	if (names) {
		/* every named repository must exist, or the request fails */
		cJSON_ArrayForEach(v, names) {
			const char *name = cJSON_IsString(v) ? v->valuestring : "";
			_cleanup_json_ cJSON *doc = NULL;

			if (registry_id && strcmp(registry_id, ctx->srv->account_id))
				return ecr_repo_not_found(ctx, name, registry_id, err);
			if (!ecr_valid_repo_name(name))
				return ecr_repo_not_found(ctx, name, NULL, err);
			r = ecr_repo_load(ctx, name, &doc, NULL, err);
			if (r < 0)
				return r;
		}
		jsonw_key(ctx->out, "repositories");
		jsonw_arr_begin(ctx->out);
		cJSON_ArrayForEach(v, names) {
			_cleanup_json_ cJSON *doc = NULL;

			r = ecr_repo_load(ctx, v->valuestring, &doc, NULL, err);
			if (r < 0)
				break;
			write_repository(ctx, doc);
		}
		jsonw_arr_end(ctx->out);
		return r;
	}

	r = api_max_results(ctx, ECR_PAGE_MAX, ECR_PAGE_DEFAULT, &p.limit, err);
	if (r == 0 && token)
		r = api_token_decode(token, REPO_PREFIX, &after, err);
	if (r < 0) {
		buf_release(&after);
		return r;
	}
	jsonw_key(ctx->out, "repositories");
	jsonw_arr_begin(ctx->out);
	/* another account's registry holds nothing here */
	if (!registry_id || !strcmp(registry_id, ctx->srv->account_id))
		r = registry_repo_scan(ctx->srv->registry,
				       token ? buf_str(&after) + strlen(REPO_PREFIX) : NULL,
				       describe_one, &p, err);
	jsonw_arr_end(ctx->out);
	if (r == 0 && p.more)
		api_token_write(ctx->out, buf_str(&p.last_key));
	buf_release(&p.last_key);
	buf_release(&after);
	return r;
}

/* DeleteRepository */

static int delete_repository(struct api_ctx *ctx, struct err *err)
{
	char name[REGISTRY_NAME_MAX + 1];
	_cleanup_json_ cJSON *doc = NULL;
	int r;

	r = ecr_request_repo(ctx, name, err);
	if (r == 0)
		r = registry_repo_delete(ctx->srv->registry, name,
					 json_bool(ctx->in, "force", false), &doc, err);
	if (r < 0)
		return repo_result(ctx, name, r, err);
	jsonw_key(ctx->out, "repository");
	write_repository(ctx, doc);
	return 0;
}

/* Change repository `name`'s document with edit (registry_repo_update). */
static int repo_update(struct api_ctx *ctx, const char *name,
		       int (*edit)(cJSON *doc, void *arg, struct err *err), void *arg,
		       cJSON **ret_doc, struct err *err)
{
	return repo_result(ctx, name,
			   registry_repo_update(ctx->srv->registry, name, edit, arg, ret_doc, err),
			   err);
}

/* PutImageTagMutability */

/* Set imageTagMutability in doc from the request in. */
static int set_mutability(cJSON *doc, void *in, struct err *err)
{
	const char *mode = json_str(in, "imageTagMutability");

	(void)err;
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "imageTagMutability");
	cJSON_AddStringToObject(doc, "imageTagMutability", mode ? mode : "MUTABLE");
	return 0;
}

static int put_image_tag_mutability(struct api_ctx *ctx, struct err *err)
{
	char name[REGISTRY_NAME_MAX + 1];
	_cleanup_json_ cJSON *doc = NULL;
	int r;

	r = ecr_request_repo(ctx, name, err);
	if (r == 0)
		r = check_mutability(ctx->in, err);
	if (r == 0)
		r = repo_update(ctx, name, set_mutability, (void *)ctx->in, &doc, err);
	if (r < 0)
		return r;
	jsonw_key_str(ctx->out, "registryId", ctx->srv->account_id);
	jsonw_key_str(ctx->out, "repositoryName", name);
	jsonw_key_str(ctx->out, "imageTagMutability", json_str(doc, "imageTagMutability"));
	return 0;
}

/* TagResource, UntagResource, ListTagsForResource */

/* The repository a resourceArn names: arn:aws:ecr:REGION:ACCOUNT:repository/NAME. */
static int arn_repo(const struct api_ctx *ctx, char *ret_name, struct err *err)
{
	const char *arn = json_str(ctx->in, "resourceArn");
	const char *res = arn ? api_arn_resource(ctx->srv, "ecr", arn) : NULL;

	if (!arn || !startswith(arn, "arn:") || !res || !startswith(res, "repository/") ||
	    !ecr_valid_repo_name(res + strlen("repository/")))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid parameter at 'resourceArn' failed to satisfy constraint: "
			       "'Invalid ARN'");
	snprintf(ret_name, REGISTRY_NAME_MAX + 1, "%s", res + strlen("repository/"));
	return 0;
}

static int add_tags(cJSON *doc, void *tags, struct err *err)
{
	return resource_tags_merge(&ecr_tag_style, doc, tags, err);
}

static int tag_resource(struct api_ctx *ctx, struct err *err)
{
	char name[REGISTRY_NAME_MAX + 1];
	int r;

	r = arn_repo(ctx, name, err);
	if (r == 0)
		r = resource_tags_validate(&ecr_tag_style, json_arr(ctx->in, "tags"), err);
	if (r == 0)
		r = repo_update(ctx, name, add_tags, (void *)json_arr(ctx->in, "tags"), NULL, err);
	return r;
}

static int remove_tags(cJSON *doc, void *keys, struct err *err)
{
	return resource_tags_remove(&ecr_tag_style, doc, keys, err);
}

static int untag_resource(struct api_ctx *ctx, struct err *err)
{
	char name[REGISTRY_NAME_MAX + 1];
	int r;

	r = arn_repo(ctx, name, err);
	if (r == 0)
		r = repo_update(ctx, name, remove_tags, (void *)json_arr(ctx->in, "tagKeys"), NULL,
				err);
	return r;
}

static int list_tags_for_resource(struct api_ctx *ctx, struct err *err)
{
	char name[REGISTRY_NAME_MAX + 1];
	_cleanup_json_ cJSON *doc = NULL;
	const cJSON *tags;
	int r;

	r = arn_repo(ctx, name, err);
	if (r == 0)
		r = ecr_repo_load(ctx, name, &doc, NULL, err);
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

/* GetAuthorizationToken */

static int get_authorization_token(struct api_ctx *ctx, struct err *err)
{
	const struct registry *reg = ctx->srv->registry;
	const cJSON *ids = json_arr(ctx->in, "registryIds");
	int64_t expires = ctx->now_ms / 1000 + REGISTRY_TOKEN_TTL;
	struct buf token = BUF_INIT, endpoint = BUF_INIT;
	int i, n = ids ? cJSON_GetArraySize(ids) : 1;
	const cJSON *v;
	int r;

	if (!reg)
		return err_set(err, -ENOSYS, E_ECR_SERVER, "this server runs no registry");
	cJSON_ArrayForEach(v, ids)
		if (!cJSON_IsString(v) || strcmp(v->valuestring, ctx->srv->account_id))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "Invalid parameter at 'registryIds': this registry is '%s', "
				       "not '%.20s'",
				       ctx->srv->account_id,
				       cJSON_IsString(v) ? v->valuestring : "");
	r = registry_token_new(reg, ctx->access_key, expires, &token, err);
	if (r < 0)
		return r;
	buf_printf(&endpoint, "http://%s", reg->endpoint);
	jsonw_key(ctx->out, "authorizationData");
	jsonw_arr_begin(ctx->out);
	for (i = 0; i < n; i++) {
		jsonw_obj_begin(ctx->out);
		jsonw_key_str(ctx->out, "authorizationToken", buf_str(&token));
		jsonw_key_time_ms(ctx->out, "expiresAt", expires * 1000);
		jsonw_key_str(ctx->out, "proxyEndpoint", buf_str(&endpoint));
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	buf_release(&token);
	buf_release(&endpoint);
	return 0;
}

/* GetDownloadUrlForLayer, BatchCheckLayerAvailability */

/* The repository's link to blob digest ({size}), or -ENOENT. */
static int blob_link(const struct api_ctx *ctx, const char *name, const char *digest,
		     int64_t *ret_size, struct err *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	int r;

	if (!registry_digest_valid(digest))
		return -ENOENT;
	ecr_blob_prefix(&key, name);
	buf_puts(&key, digest);
	r = store_get(ctx->srv->store, buf_str(&key), &value, NULL, err);
	if (r == 0) {
		doc = cJSON_ParseWithLength(buf_str(&value), value.len);
		*ret_size = json_int(doc, "size", 0);
	}
	buf_release(&key);
	buf_release(&value);
	return r;
}

struct ref_search {
	size_t prefix_len;
	const char *digest;
	bool found;
};

static int find_reference(void *arg, const struct store_kv *kv)
{
	struct ref_search *s = arg;
	_cleanup_json_ cJSON *doc = NULL;
	const cJSON *v;

	if (strchr(kv->key + s->prefix_len, '/'))
		return 0;
	doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	cJSON_ArrayForEach(v, json_arr(doc, "references"))
		if (cJSON_IsString(v) && !strcmp(v->valuestring, s->digest)) {
			s->found = true;
			return 1;
		}
	return 0;
}

static int get_download_url_for_layer(struct api_ctx *ctx, struct err *err)
{
	const char *digest = json_str(ctx->in, "layerDigest");
	char name[REGISTRY_NAME_MAX + 1];
	_cleanup_json_ cJSON *doc = NULL;
	struct buf prefix = BUF_INIT, url = BUF_INIT;
	struct ref_search s = { 0 };
	int64_t size;
	int r;

	r = ecr_request_repo(ctx, name, err);
	if (r == 0)
		r = ecr_repo_load(ctx, name, &doc, NULL, err);
	if (r < 0)
		return r;
	if (!ecr_valid_digest(digest))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid parameter at 'layerDigest' failed to satisfy constraint: "
			       "'must satisfy regular expression '" DIGEST_PATTERN "''");
	r = blob_link(ctx, name, digest, &size, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, E_LAYERS_NOT_FOUND,
			       "The layer with digest '%.200s' does not exist in the repository "
			       "with name '%s' in the registry with id '%s'",
			       digest, name, ctx->srv->account_id);
	if (r < 0)
		return r;
	ecr_manifest_prefix(&prefix, name);
	s = (struct ref_search){ prefix.len, digest, false };
	r = store_scan(ctx->srv->store, buf_str(&prefix), NULL, find_reference, &s, err);
	buf_release(&prefix);
	if (r < 0)
		return r;
	if (!s.found)
		return err_set(err, -ENOENT, E_LAYER_INACCESSIBLE,
			       "The specified layer is not available because it is not associated "
			       "with an image. Unassociated image layers may be cleaned up at any "
			       "time.");
	/* as ECR's presigned URL: usable for an hour without other credentials */
	buf_printf(&prefix, "/v2/%s/blobs/%s", name, digest);
	r = registry_presign_url(ctx->srv->registry, ctx->access_key, buf_str(&prefix),
				 ctx->now_ms / 1000, 3600, &url, err);
	buf_release(&prefix);
	if (r < 0) {
		buf_release(&url);
		return r;
	}
	jsonw_key_str(ctx->out, "downloadUrl", buf_str(&url));
	jsonw_key_str(ctx->out, "layerDigest", digest);
	buf_release(&url);
	return 0;
}

static int batch_check_layer_availability(struct api_ctx *ctx, struct err *err)
{
	char name[REGISTRY_NAME_MAX + 1];
	_cleanup_json_ cJSON *doc = NULL;
	struct buf failures = BUF_INIT;
	struct jsonw fw;
	const cJSON *v;
	int r;

	r = ecr_request_repo(ctx, name, err);
	if (r == 0)
		r = ecr_repo_load(ctx, name, &doc, NULL, err);
	if (r < 0)
		return r;
	jsonw_init(&fw, &failures);
	jsonw_arr_begin(&fw);
	jsonw_key(ctx->out, "layers");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(v, json_arr(ctx->in, "layerDigests")) {
		const char *digest = cJSON_IsString(v) ? v->valuestring : "";
		int64_t size = 0;

		if (!*digest || !ecr_valid_digest(digest)) {
			jsonw_obj_begin(&fw);
			jsonw_key_str(&fw, "layerDigest", digest);
			jsonw_key_str(&fw, "failureCode",
				      *digest ? "InvalidLayerDigest" : "MissingLayerDigest");
			jsonw_key_str(&fw, "failureReason",
				      *digest ? "Invalid layer digest" : "Missing layer digest");
			jsonw_obj_end(&fw);
			continue;
		}
		r = blob_link(ctx, name, digest, &size, err);
		if (r == -ENOENT) {
			jsonw_obj_begin(&fw);
			jsonw_key_str(&fw, "layerDigest", digest);
			jsonw_key_str(&fw, "failureCode", "MissingLayerDigest");
			jsonw_key_str(&fw, "failureReason", "Could not find layer");
			jsonw_obj_end(&fw);
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		jsonw_obj_begin(ctx->out);
		jsonw_key_str(ctx->out, "layerDigest", digest);
		jsonw_key_str(ctx->out, "layerAvailability", "AVAILABLE");
		jsonw_key_int(ctx->out, "layerSize", size);
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	jsonw_arr_end(&fw);
	if (r == 0)
		jsonw_key_raw(ctx->out, "failures", failures.data, failures.len);
	buf_release(&failures);
	return r;
}

/* Sorted by name: protocol.c searches the table by bisection. */
static const struct api_operation ecr_ops[] = {
	{ "BatchCheckLayerAvailability", batch_check_layer_availability },
	{ "BatchDeleteImage", ecr_batch_delete_image },
	{ "BatchGetImage", ecr_batch_get_image },
	{ "CreateRepository", create_repository },
	{ "DeleteRepository", delete_repository },
	{ "DescribeImages", ecr_describe_images },
	{ "DescribeRepositories", describe_repositories },
	{ "GetAuthorizationToken", get_authorization_token },
	{ "GetDownloadUrlForLayer", get_download_url_for_layer },
	{ "ListImages", ecr_list_images },
	{ "ListTagsForResource", list_tags_for_resource },
	{ "PutImage", ecr_put_image },
	{ "PutImageTagMutability", put_image_tag_mutability },
	{ "TagResource", tag_resource },
	{ "UntagResource", untag_resource },
};

const struct api_service api_ecr = {
	.target_prefix = "AmazonEC2ContainerRegistry_V20150921",
	.signing_name = "ecr",
	.model = &model_ecr,
	.ops = ecr_ops,
	.n_ops = ARRAY_SIZE(ecr_ops),
};
