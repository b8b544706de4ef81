/*
 * ecr.h: what the ECR API's two files share: ecr.c (the operation table,
 * repositories, their tags, authorization tokens, layers) and ecr_images.c
 * (ListImages, DescribeImages, BatchGetImage, BatchDeleteImage, PutImage).
 * Handlers find the registry through ctx->srv->registry and keep to the
 * store keys of registry.h.
 */
#ifndef BERTH_REGISTRY_ECR_H
#define BERTH_REGISTRY_ECR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"

/* Most items a List/Describe page holds, and how many when maxResults is absent. */
#define ECR_PAGE_MAX	 1000
#define ECR_PAGE_DEFAULT 100

/* Whether s is a repository name as ECR's model pattern has it. */
bool ecr_valid_repo_name(const char *s);

/* Whether s is a digest as ECR's pattern has it ("algorithm:hex"). */
bool ecr_valid_digest(const char *s);

/*
 * The repository a request names (its repositoryName, in ctx->in) after
 * checking its registryId: in ret_name (REGISTRY_NAME_MAX + 1 bytes).
 * RepositoryNotFoundException for another registry or a name that cannot
 * exist.
 */
int ecr_request_repo(const struct api_ctx *ctx, char *ret_name, struct err *err);

/*
 * registry_repo_load, with RepositoryNotFoundException worded as ECR words
 * it: repository `name`'s document (the caller owns it; ret_doc may be NULL
 * to check that it exists) and its key's version (ret_version may be NULL).
 */
int ecr_repo_load(const struct api_ctx *ctx, const char *name, cJSON **ret_doc,
		  uint64_t *ret_version, struct err *err);

/* The message of RepositoryNotFoundException, as ECR words it. */
int ecr_repo_not_found(const struct api_ctx *ctx, const char *name, const char *registry_id,
		       struct err *err);

/* Append the store key prefixes of a repository's manifests, tags and blobs. */
void ecr_manifest_prefix(struct buf *b, const char *name);
void ecr_tag_prefix(struct buf *b, const char *name);
void ecr_blob_prefix(struct buf *b, const char *name);

/* ecr_images.c */
int ecr_list_images(struct api_ctx *ctx, struct err *err);
int ecr_describe_images(struct api_ctx *ctx, struct err *err);
int ecr_batch_get_image(struct api_ctx *ctx, struct err *err);
int ecr_batch_delete_image(struct api_ctx *ctx, struct err *err);
int ecr_put_image(struct api_ctx *ctx, struct err *err);

#endif
