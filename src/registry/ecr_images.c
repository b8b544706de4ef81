/*
 * ecr_images.c: ECR's image operations (ListImages, DescribeImages,
 * BatchGetImage, BatchDeleteImage, PutImage) over the registry's images
 * (images.c), the same ones the OCI distribution API pushes and pulls.
 *
 * An image is a manifest (or an index) a repository holds, named by its
 * digest, with any number of tags. As in ECR, deleting an image's last tag
 * deletes the image, and deleting by digest removes the image with its tags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "registry/blobs.h"
#include "registry/ecr.h"
#include "registry/images.h"
#include "core/banned.h"

#define NOT_FOUND_REASON "Requested image not found"

/* A repository's tags and the digests they name, sorted by digest. */
struct tag_map {
	struct tag_pair {
		char *tag;
		char digest[REGISTRY_DIGEST_SIZE];
	} * pairs;
	size_t n, cap;
};

static int add_pair(void *arg, const char *tag, const char *digest)
{
	struct tag_map *m = arg;

	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->pairs = realloc(m->pairs, m->cap * sizeof(*m->pairs));
		if (!m->pairs)
			abort();
	}
	m->pairs[m->n].tag = strdup(tag);
	if (!m->pairs[m->n].tag)
		abort();
	snprintf(m->pairs[m->n].digest, sizeof(m->pairs[m->n].digest), "%s", digest);
	m->n++;
	return 0;
}

static int by_digest_then_tag(const void *a, const void *b)
{
	const struct tag_pair *x = a, *y = b;
	int c = strcmp(x->digest, y->digest);

	return c ? c : strcmp(x->tag, y->tag);
}

static int tag_map_load(const struct registry *r, const char *repo, struct tag_map *m,
			struct err *err)
{
	int ret;

	memset(m, 0, sizeof(*m));
	ret = registry_tag_scan(r, repo, NULL, add_pair, m, err);
	if (ret == 0 && m->n)
		qsort(m->pairs, m->n, sizeof(*m->pairs), by_digest_then_tag);
	return ret;
}

static void tag_map_release(struct tag_map *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->pairs[i].tag);
	free(m->pairs);
	memset(m, 0, sizeof(*m));
}

/* The tags naming digest: pairs [*ret_first, *ret_first + return value). */
static size_t tag_map_find(const struct tag_map *m, const char *digest, size_t *ret_first)
{
	size_t lo = 0, hi = m->n, n = 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(m->pairs[mid].digest, digest) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_first = lo;
	while (lo + n < m->n && !strcmp(m->pairs[lo + n].digest, digest))
		n++;
	return n;
}

/* The request's filter.tagStatus: TAGGED, UNTAGGED or ANY (the default). */
static const char *tag_status(const struct api_ctx *ctx)
{
	const char *s = json_str(json_obj(ctx->in, "filter"), "tagStatus");

	return s ? s : "ANY";
}

/* The repository named by the request, which must exist. */
static int request_repo(const struct api_ctx *ctx, char *ret_name, struct err *err)
{
	int r = ecr_request_repo(ctx, ret_name, err);

	if (r == 0)
		r = ecr_repo_load(ctx, ret_name, NULL, NULL, err);
	return r;
}

/*
 * A page of items written into an open array, resuming after the store-like
 * key of the last one: "ecr/tag/REPO/TAG" or "ecr/manifest/REPO/DIGEST".
 */
struct image_page {
	struct jsonw *w;
	const char *repo;
	const struct tag_map *tags;
	bool tagged, untagged;
	int64_t limit, n;
	struct buf last_key;
	bool more;
};

/* Room for one more item? When not, note that more follow. */
static bool page_room(struct image_page *p)
{
	if (p->n < p->limit)
		return true;
	p->more = true;
	return false;
}

static void page_took(struct image_page *p, const char *kind, const char *id)
{
	p->n++;
	buf_reset(&p->last_key);
	buf_printf(&p->last_key, "ecr/%s/%s/%s", kind, p->repo, id);
}

/* Where a nextToken resumes: after a tag (*ret_tag) or after a digest (*ret_digest). */
static int page_resume(const struct api_ctx *ctx, const char *repo, struct buf *key,
		       const char **ret_tag, const char **ret_digest, struct err *err)
{
	const char *token = json_str(ctx->in, "nextToken");
	struct buf prefix = BUF_INIT;
	int r = 0;

	*ret_tag = *ret_digest = NULL;
	if (!token)
		return 0;
	ecr_tag_prefix(&prefix, repo);
	r = api_token_decode(token, "ecr/", key, err);
	if (r == 0 && startswith(buf_str(key), buf_str(&prefix)) &&
	    !strchr(buf_str(key) + prefix.len, '/')) {
		*ret_tag = buf_str(key) + prefix.len;
	} else if (r == 0) {
		buf_reset(&prefix);
		ecr_manifest_prefix(&prefix, repo);
		if (startswith(buf_str(key), buf_str(&prefix)) &&
		    registry_digest_valid(buf_str(key) + prefix.len))
			*ret_digest = buf_str(key) + prefix.len;
		else
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "The nextToken '%.100s' is not valid for this request", token);
	}
	buf_release(&prefix);
	return r;
}

static int page_max_results(const struct api_ctx *ctx, int64_t *ret, struct err *err)
{
	return api_max_results(ctx, ECR_PAGE_MAX, ECR_PAGE_DEFAULT, ret, err);
}

/* ListImages */

static int list_tag(void *arg, const char *tag, const char *digest)
{
	struct image_page *p = arg;

	if (!page_room(p))
		return 1;
	jsonw_obj_begin(p->w);
	jsonw_key_str(p->w, "imageDigest", digest);
	jsonw_key_str(p->w, "imageTag", tag);
	jsonw_obj_end(p->w);
	page_took(p, "tag", tag);
	return 0;
}

static int list_untagged(void *arg, const struct registry_image *image)
{
	struct image_page *p = arg;
	size_t first;

	if (tag_map_find(p->tags, image->digest, &first) > 0)
		return 0;
	if (!page_room(p))
		return 1;
	jsonw_obj_begin(p->w);
	jsonw_key_str(p->w, "imageDigest", image->digest);
	jsonw_obj_end(p->w);
	page_took(p, "manifest", image->digest);
	return 0;
}

int ecr_list_images(struct api_ctx *ctx, struct err *err)
{
	const struct registry *reg = ctx->srv->registry;
	const char *status = tag_status(ctx);
	char name[REGISTRY_NAME_MAX + 1];
	struct image_page p = { .w = ctx->out, .repo = name };
	struct tag_map tags = { 0 };
	struct buf key = BUF_INIT;
	const char *after_tag, *after_digest;
	int r;

	r = request_repo(ctx, name, err);
	if (r == 0)
		r = page_max_results(ctx, &p.limit, err);
	if (r == 0)
		r = page_resume(ctx, name, &key, &after_tag, &after_digest, err);
	if (r == 0)
		r = tag_map_load(reg, name, &tags, err);
	if (r < 0)
		goto out;
	p.tags = &tags;
	jsonw_key(ctx->out, "imageIds");
	jsonw_arr_begin(ctx->out);
	/* the tagged images one entry per tag, then the untagged ones */
	if (strcmp(status, "UNTAGGED") && !after_digest)
		r = registry_tag_scan(reg, name, after_tag, list_tag, &p, err);
	if (r == 0 && !p.more && strcmp(status, "TAGGED"))
		r = registry_manifest_scan(reg, name, after_digest, list_untagged, &p, err);
	jsonw_arr_end(ctx->out);
	if (r == 0 && p.more)
		api_token_write(ctx->out, buf_str(&p.last_key));
out:
	tag_map_release(&tags);
	buf_release(&p.last_key);
	buf_release(&key);
	return r;
}

/* DescribeImages */

/*
 * ECR's artifactMediaType: the OCI artifactType when the manifest has one,
 * else the media type of an image's config (ECR answers
 * application/vnd.docker.container.image.v1+json for a Docker image). An
 * index has none. Into ret (REGISTRY_MEDIA_TYPE_MAX bytes), "" when none.
 */
static void artifact_media_type(const struct api_ctx *ctx, const char *repo,
				const struct registry_image *image, char *ret)
{
	struct buf bytes = BUF_INIT;
	struct err err = ERR_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	const char *mt;

	snprintf(ret, REGISTRY_MEDIA_TYPE_MAX, "%s", image->artifact_type);
	if (ret[0] || (strcmp(image->media_type, REGISTRY_MT_OCI_MANIFEST) &&
		       strcmp(image->media_type, REGISTRY_MT_DOCKER_MANIFEST)))
		return;
	if (registry_manifest_get(ctx->srv->registry, repo, image->digest, &bytes, NULL, &err) == 0)
		doc = cJSON_ParseWithLength(buf_str(&bytes), bytes.len);
	mt = json_str(json_obj(doc, "config"), "mediaType");
	if (mt)
		snprintf(ret, REGISTRY_MEDIA_TYPE_MAX, "%s", mt);
	buf_release(&bytes);
}

static void write_detail(struct jsonw *w, const struct api_ctx *ctx, const char *repo,
			 const struct registry_image *image, const struct tag_map *tags)
{
	size_t first, n = tag_map_find(tags, image->digest, &first), i;
	char artifact[REGISTRY_MEDIA_TYPE_MAX];

	jsonw_obj_begin(w);
	jsonw_key_str(w, "registryId", ctx->srv->account_id);
	jsonw_key_str(w, "repositoryName", repo);
	jsonw_key_str(w, "imageDigest", image->digest);
	if (n) {
		jsonw_key(w, "imageTags");
		jsonw_arr_begin(w);
		for (i = first; i < first + n; i++)
			jsonw_str(w, tags->pairs[i].tag);
		jsonw_arr_end(w);
	}
	jsonw_key_int(w, "imageSizeInBytes", (int64_t)image->image_size);
	jsonw_key_time_ms(w, "imagePushedAt", image->pushed_at_ms);
	jsonw_key_str(w, "imageManifestMediaType", image->media_type);
	artifact_media_type(ctx, repo, image, artifact);
	if (artifact[0])
		jsonw_key_str(w, "artifactMediaType", artifact);
	jsonw_obj_end(w);
}

struct describe_page {
	struct image_page p;
	const struct api_ctx *ctx;
};

static int describe_one(void *arg, const struct registry_image *image)
{
	struct describe_page *d = arg;
	size_t first;
	bool tagged = tag_map_find(d->p.tags, image->digest, &first) > 0;

	if ((tagged && !d->p.tagged) || (!tagged && !d->p.untagged))
		return 0;
	if (!page_room(&d->p))
		return 1;
	write_detail(d->p.w, d->ctx, d->p.repo, image, d->p.tags);
	page_took(&d->p, "manifest", image->digest);
	return 0;
}

/* "{imageDigest:'...', imageTag:'...'}" as ECR quotes an image id in messages. */
static void format_image_id(struct buf *b, const char *digest, const char *tag)
{
	buf_printf(b, "{imageDigest:'%.80s', imageTag:'%.140s'}", digest ? digest : "null",
		   tag ? tag : "null");
}

/*
 * Find the image an imageId names (by digest, by tag, or by both, which must
 * agree): -ENOENT when there is none, with the failure code in
 * *ret_code ("ImageNotFound", "InvalidImageDigest", ...) and its reason.
 */
static int resolve_id(const struct api_ctx *ctx, const char *repo, const cJSON *id,
		      struct registry_image *ret_image, const char **ret_code,
		      const char **ret_reason, struct err *err)
{
	const struct registry *reg = ctx->srv->registry;
	const char *digest = json_str(id, "imageDigest"), *tag = json_str(id, "imageTag");
	struct registry_image by_tag;
	struct err e2 = ERR_INIT;
	int r;

	*ret_code = *ret_reason = NULL;
	if (!digest && !tag) {
		*ret_code = "MissingDigestAndTag";
		*ret_reason = "Invalid request parameters: both tag and digest cannot be null";
		return -ENOENT;
	}
	if (digest && !ecr_valid_digest(digest)) {
		*ret_code = "InvalidImageDigest";
		*ret_reason = "Invalid request parameters: image digest should satisfy the regex "
			      "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'";
		return -ENOENT;
	}
	if (tag && !registry_tag_valid(tag)) {
		*ret_code = "InvalidImageTag";
		*ret_reason = "Invalid request parameters: image tag is not a valid tag";
		return -ENOENT;
	}
	if (digest && !registry_digest_valid(digest)) {
		*ret_code = "ImageNotFound";
		*ret_reason = NOT_FOUND_REASON;
		return -ENOENT;
	}
	r = registry_manifest_stat(reg, repo, digest ? digest : tag, ret_image, &e2);
	if (r == 0 && digest && tag) {
		r = registry_manifest_stat(reg, repo, tag, &by_tag, &e2);
		if (r == 0 && strcmp(by_tag.digest, ret_image->digest)) {
			*ret_code = "ImageTagDoesNotMatchDigest";
			*ret_reason = "Invalid request parameters: the image tag does not match "
				      "the digest";
			return -ENOENT;
		}
	}
	if (r < 0 && e2.kind == E_IMAGE_NOT_FOUND) {
		*ret_code = "ImageNotFound";
		*ret_reason = NOT_FOUND_REASON;
		return -ENOENT;
	}
	if (r < 0)
		*err = e2;
	return r;
}

static int describe_ids(struct api_ctx *ctx, const char *repo, const struct tag_map *tags,
			struct err *err)
{
	const cJSON *ids = json_arr(ctx->in, "imageIds"), *id;
	struct buf seen = BUF_INIT; /* digests written, NUL-separated */
	int r = 0;

	/* every image must exist, or the request fails */
	jsonw_key(ctx->out, "imageDetails");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(id, ids) {
		struct registry_image image;
		const char *code, *reason;
		bool dup = false;
		size_t i;

		r = resolve_id(ctx, repo, id, &image, &code, &reason, err);
		if (r == -ENOENT && code && strcmp(code, "ImageNotFound") &&
		    strcmp(code, "ImageTagDoesNotMatchDigest")) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "%s", reason);
			break;
		}
		if (r == -ENOENT && code) {
			struct buf b = BUF_INIT;

			format_image_id(&b, json_str(id, "imageDigest"), json_str(id, "imageTag"));
			r = err_set(err, -ENOENT, E_IMAGE_NOT_FOUND,
				    "The image with imageId %s does not exist within the "
				    "repository with name '%s' in the registry with id '%s'",
				    buf_str(&b), repo, ctx->srv->account_id);
			buf_release(&b);
			break;
		}
		if (r < 0)
			break;
		for (i = 0; i < seen.len; i += strlen(seen.data + i) + 1)
			if (!strcmp(seen.data + i, image.digest))
				dup = true;
		if (dup)
			continue;
		buf_append(&seen, image.digest, strlen(image.digest) + 1);
		write_detail(ctx->out, ctx, repo, &image, tags);
	}
	jsonw_arr_end(ctx->out);
	buf_release(&seen);
	return r;
}

int ecr_describe_images(struct api_ctx *ctx, struct err *err)
{
	const struct registry *reg = ctx->srv->registry;
	const char *status = tag_status(ctx);
	char name[REGISTRY_NAME_MAX + 1];
	struct describe_page d = { .p = { .w = ctx->out, .repo = name }, .ctx = ctx };
	struct tag_map tags = { 0 };
	struct buf key = BUF_INIT;
	const char *after_tag, *after_digest;
	int r;

	r = request_repo(ctx, name, err);
	if (r == 0 && json_arr(ctx->in, "imageIds") &&
	    (json_has(ctx->in, "nextToken") || json_has(ctx->in, "maxResults")))
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "Invalid parameter: maxResults and nextToken cannot be used with "
			    "imageIds");
	if (r == 0)
		r = tag_map_load(reg, name, &tags, err);
	if (r == 0 && json_arr(ctx->in, "imageIds")) {
		r = describe_ids(ctx, name, &tags, err);
		goto out;
	}
	if (r == 0)
		r = page_max_results(ctx, &d.p.limit, err);
	if (r == 0)
		r = page_resume(ctx, name, &key, &after_tag, &after_digest, err);
	if (r == 0 && after_tag)
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "The nextToken is not valid for this request");
	if (r < 0)
		goto out;
	d.p.tags = &tags;
	d.p.tagged = strcmp(status, "UNTAGGED") != 0;
	d.p.untagged = strcmp(status, "TAGGED") != 0;
	jsonw_key(ctx->out, "imageDetails");
	jsonw_arr_begin(ctx->out);
	r = registry_manifest_scan(reg, name, after_digest, describe_one, &d, err);
	jsonw_arr_end(ctx->out);
	if (r == 0 && d.p.more)
		api_token_write(ctx->out, buf_str(&d.p.last_key));
out:
	tag_map_release(&tags);
	buf_release(&d.p.last_key);
	buf_release(&key);
	return r;
}

/* BatchGetImage, BatchDeleteImage: failures */

static void write_failure(struct jsonw *w, const cJSON *id, const char *code, const char *reason)
{
	const char *digest = json_str(id, "imageDigest"), *tag = json_str(id, "imageTag");

	jsonw_obj_begin(w);
	jsonw_key(w, "imageId");
	jsonw_obj_begin(w);
	if (digest)
		jsonw_key_str(w, "imageDigest", digest);
	if (tag)
		jsonw_key_str(w, "imageTag", tag);
	jsonw_obj_end(w);
	jsonw_key_str(w, "failureCode", code);
	jsonw_key_str(w, "failureReason", reason);
	jsonw_obj_end(w);
}

static bool media_type_accepted(const cJSON *accepted, const char *media_type)
{
	const cJSON *v;

	if (!accepted)
		return true;
	cJSON_ArrayForEach(v, accepted)
		if (cJSON_IsString(v) && !strcmp(v->valuestring, media_type))
			return true;
	return false;
}

int ecr_batch_get_image(struct api_ctx *ctx, struct err *err)
{
	const struct registry *reg = ctx->srv->registry;
	const cJSON *accepted = json_arr(ctx->in, "acceptedMediaTypes"), *id;
	char name[REGISTRY_NAME_MAX + 1];
	struct buf failures = BUF_INIT, bytes = BUF_INIT;
	struct jsonw fw;
	int r;

	r = request_repo(ctx, name, err);
	if (r < 0)
		return r;
	jsonw_init(&fw, &failures);
	jsonw_arr_begin(&fw);
	jsonw_key(ctx->out, "images");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(id, json_arr(ctx->in, "imageIds")) {
		struct registry_image image;
		const char *code, *reason;

		r = resolve_id(ctx, name, id, &image, &code, &reason, err);
		if (r == -ENOENT && code) {
			write_failure(&fw, id, code, reason);
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		if (!media_type_accepted(accepted, image.media_type)) {
			write_failure(&fw, id, "ImageNotFound",
				      "The image's media type is not among the acceptedMediaTypes");
			continue;
		}
		buf_reset(&bytes);
		r = registry_manifest_get(reg, name, image.digest, &bytes, &image, err);
		if (r < 0)
			break;
		jsonw_obj_begin(ctx->out);
		jsonw_key_str(ctx->out, "registryId", ctx->srv->account_id);
		jsonw_key_str(ctx->out, "repositoryName", name);
		jsonw_key(ctx->out, "imageId");
		jsonw_obj_begin(ctx->out);
		jsonw_key_str(ctx->out, "imageDigest", image.digest);
		if (json_str(id, "imageTag"))
			jsonw_key_str(ctx->out, "imageTag", json_str(id, "imageTag"));
		jsonw_obj_end(ctx->out);
		jsonw_key(ctx->out, "imageManifest");
		jsonw_strn(ctx->out, bytes.data ? bytes.data : "", bytes.len);
		jsonw_key_str(ctx->out, "imageManifestMediaType", image.media_type);
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	jsonw_arr_end(&fw);
	if (r == 0)
		jsonw_key_raw(ctx->out, "failures", failures.data, failures.len);
	buf_release(&failures);
	buf_release(&bytes);
	return r;
}

/* BatchDeleteImage */

static void write_id(struct jsonw *w, const char *digest, const char *tag)
{
	jsonw_obj_begin(w);
	jsonw_key_str(w, "imageDigest", digest);
	if (tag)
		jsonw_key_str(w, "imageTag", tag);
	jsonw_obj_end(w);
}

/* Delete the image by digest; write an imageId for each of its tags (or one without). */
static int delete_by_digest(struct api_ctx *ctx, const char *repo, const char *digest,
			    struct err *err)
{
	_cleanup_json_ cJSON *removed = NULL;
	const cJSON *t;
	int r;

	r = registry_manifest_delete(ctx->srv->registry, repo, digest, NULL, &removed, err);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(t, removed)
		if (cJSON_IsString(t))
			write_id(ctx->out, digest, t->valuestring);
	if (cJSON_GetArraySize(removed) == 0)
		write_id(ctx->out, digest, NULL);
	return 0;
}

/* Remove one tag; the image goes with its last tag. */
static int delete_tag(struct api_ctx *ctx, const char *repo, const char *tag, const char *digest,
		      struct err *err)
{
	struct registry *reg = ctx->srv->registry;
	_cleanup_json_ cJSON *left = NULL;
	int r;

	r = registry_manifest_delete(reg, repo, tag, NULL, NULL, err);
	if (r == 0)
		r = registry_manifest_tags(reg, repo, digest, &left, err);
	if (r == 0 && cJSON_GetArraySize(left) == 0) {
		r = registry_manifest_delete(reg, repo, digest, NULL, NULL, err);
		if (r == -ENOENT) /* someone else deleted it meanwhile */
			r = 0;
	}
	if (r == 0)
		write_id(ctx->out, digest, tag);
	return r;
}

int ecr_batch_delete_image(struct api_ctx *ctx, struct err *err)
{
	const cJSON *id;
	char name[REGISTRY_NAME_MAX + 1];
	struct buf failures = BUF_INIT;
	struct jsonw fw;
	int r;

	r = request_repo(ctx, name, err);
	if (r < 0)
		return r;
	jsonw_init(&fw, &failures);
	jsonw_arr_begin(&fw);
	jsonw_key(ctx->out, "imageIds");
	jsonw_arr_begin(ctx->out);
	cJSON_ArrayForEach(id, json_arr(ctx->in, "imageIds")) {
		const char *tag = json_str(id, "imageTag");
		struct registry_image image;
		const char *code, *reason;
		struct err e2 = ERR_INIT;

		r = resolve_id(ctx, name, id, &image, &code, &reason, err);
		if (r == 0 && !tag) {
			/* an image an index still names stays, as ECR keeps it */
			char index[REGISTRY_DIGEST_SIZE];

			r = registry_manifest_referrer(ctx->srv->registry, name, image.digest,
						       index, err);
			if (r > 0) {
				code = "ImageReferencedByManifestList";
				reason = "Requested image is referenced by a manifest list";
				r = -ENOENT;
			}
		}
		if (r == 0) {
			/* with a tag, only that tag goes; with a digest alone, the image */
			if (tag)
				r = delete_tag(ctx, name, tag, image.digest, &e2);
			else
				r = delete_by_digest(ctx, name, image.digest, &e2);
			if (r < 0 && e2.kind == E_IMAGE_NOT_FOUND) {
				/* deleted by a concurrent request since it was found */
				code = "ImageNotFound";
				reason = NOT_FOUND_REASON;
				r = -ENOENT;
			} else if (r < 0) {
				*err = e2;
			}
		}
		if (r == -ENOENT && code) {
			write_failure(&fw, id, code, reason);
			r = 0;
			continue;
		}
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

/* PutImage */

int ecr_put_image(struct api_ctx *ctx, struct err *err)
{
	const char *manifest = json_str(ctx->in, "imageManifest");
	const char *media_type = json_str(ctx->in, "imageManifestMediaType");
	const char *tag = json_str(ctx->in, "imageTag");
	const char *want = json_str(ctx->in, "imageDigest");
	char name[REGISTRY_NAME_MAX + 1], digest[REGISTRY_DIGEST_SIZE];
	struct registry_image image;
	struct err e2 = ERR_INIT;
	bool unchanged = false;
	size_t n;
	int r;

	r = request_repo(ctx, name, err);
	if (r < 0)
		return r;
	if (!manifest)
		manifest = "";
	n = strlen(manifest);
	if (tag && !registry_tag_valid(tag))
		return err_set(
			err, -EINVAL, E_INVALID_PARAMETER,
			"Invalid parameter at 'imageTag' failed to satisfy constraint: "
			"'must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}''");
	registry_digest_of(manifest, n, digest);
	if (want && strcmp(want, digest))
		return err_set(
			err, -EINVAL, E_IMAGE_DIGEST_MISMATCH,
			"The provided image digest '%.100s' does not match the digest of the "
			"manifest, '%s'",
			want, digest);
	r = registry_manifest_put(ctx->srv->registry, name, tag ? tag : digest, media_type,
				  manifest, n, ctx->now_ms, &image, &unchanged, &e2);
	if (r < 0) {
		switch (e2.kind) {
		case E_OCI_MANIFEST_BLOB_UNKNOWN:
			return err_set(err, r, E_LAYERS_NOT_FOUND,
				       "The image manifest references layers or images the "
				       "repository does not hold: %s",
				       e2.msg);
		case E_IMAGE_TAG_ALREADY_EXISTS:
			return err_set(err, r, E_IMAGE_TAG_ALREADY_EXISTS,
				       "The image tag '%s' already exists in the '%s' repository "
				       "and cannot be overwritten because the repository is "
				       "immutable.",
				       tag ? tag : "", name);
		case E_OCI_MANIFEST_INVALID:
		case E_OCI_TAG_INVALID:
		case E_OCI_NAME_INVALID:
		case E_OCI_DIGEST_INVALID:
			return err_set(err, r, E_INVALID_PARAMETER,
				       "Invalid parameter at 'ImageManifest' failed to satisfy "
				       "constraint: %s",
				       e2.msg);
		case E_REPOSITORY_NOT_FOUND: return ecr_repo_not_found(ctx, name, NULL, err);
		default: *err = e2; return r;
		}
	}
	if (unchanged)
		return err_set(err, -EEXIST, E_IMAGE_ALREADY_EXISTS,
			       "Image with digest '%s' and tag '%s' already exists in the "
			       "repository with name '%s' in registry with id '%s'",
			       digest, tag ? tag : "null", name, ctx->srv->account_id);
	jsonw_key(ctx->out, "image");
	jsonw_obj_begin(ctx->out);
	jsonw_key_str(ctx->out, "registryId", ctx->srv->account_id);
	jsonw_key_str(ctx->out, "repositoryName", name);
	jsonw_key(ctx->out, "imageId");
	write_id(ctx->out, image.digest, tag);
	jsonw_key_str(ctx->out, "imageManifest", manifest);
	jsonw_key_str(ctx->out, "imageManifestMediaType", image.media_type);
	jsonw_obj_end(ctx->out);
	return 0;
}
