/*
 * images.h: repositories, manifests and tags of the registry, over the
 * store keys registry.h lists. Both front ends use these functions: the OCI
 * distribution API (distribution.c) and the ECR JSON API (ecr.c).
 *
 * Errors: repository and image lookups fail with the ECR kinds
 * (E_REPOSITORY_NOT_FOUND, E_REPOSITORY_ALREADY_EXISTS,
 * E_REPOSITORY_NOT_EMPTY, E_IMAGE_NOT_FOUND, E_IMAGE_TAG_ALREADY_EXISTS);
 * checks of what a client sent fail with the OCI kinds (E_OCI_NAME_INVALID,
 * E_OCI_TAG_INVALID, E_OCI_DIGEST_INVALID, E_OCI_MANIFEST_INVALID,
 * E_OCI_MANIFEST_BLOB_UNKNOWN), with -EFBIG for a manifest over
 * REGISTRY_MANIFEST_MAX. Each front end maps them to its own: distribution
 * answers NAME_UNKNOWN, MANIFEST_UNKNOWN and TAG_INVALID for the ECR kinds;
 * ECR answers InvalidParameterException for the OCI ones but
 * LayersNotFoundException for E_OCI_MANIFEST_BLOB_UNKNOWN and
 * ImageDigestDoesNotMatchException for E_OCI_DIGEST_INVALID of a digest
 * reference.
 */
#ifndef BERTH_REGISTRY_IMAGES_H
#define BERTH_REGISTRY_IMAGES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"

#define REGISTRY_MEDIA_TYPE_MAX 256

#define REGISTRY_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define REGISTRY_MT_OCI_INDEX	    "application/vnd.oci.image.index.v1+json"
#define REGISTRY_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REGISTRY_MT_DOCKER_LIST	    "application/vnd.docker.distribution.manifest.list.v2+json"

/* An image (a manifest or an index) as a repository holds it. */
struct registry_image {
	char digest[REGISTRY_DIGEST_SIZE];
	char media_type[REGISTRY_MEDIA_TYPE_MAX];    /* imageManifestMediaType */
	char artifact_type[REGISTRY_MEDIA_TYPE_MAX]; /* artifactMediaType, "" if none */
	uint64_t size;				     /* bytes of the manifest itself */
	uint64_t image_size; /* imageSizeInBytes: config and layers (an index: its children) */
	int64_t pushed_at_ms;
};

/*
 * Repository names as the distribution spec's regular expression has them
 * (lowercase alphanumeric components separated by '.', '_', '__' or dashes,
 * joined by '/'), at most REGISTRY_NAME_MAX characters.
 */
bool registry_name_valid(const char *name);
/* Tags: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
bool registry_tag_valid(const char *tag);

/* What CreateRepository may set; NULL/false members take ECR's defaults. */
struct registry_repo_options {
	const char *image_tag_mutability; /* "MUTABLE" (default) or "IMMUTABLE" */
	bool scan_on_push;
	const char *encryption_type; /* "AES256" (default) or "KMS" */
	const char *kms_key;
	const cJSON *tags; /* [{"Key":..,"Value":..}], copied; NULL for none */
};

/*
 * Create repository `name` (ecr/repo/NAME), its document as registry.h
 * lists: repositoryArn arn:aws:ecr:REGION:ACCOUNT:repository/NAME,
 * registryId ACCOUNT, repositoryUri ENDPOINT/NAME (r->endpoint: the
 * server's own address, which clients push to), createdAt (epoch ms),
 * imageTagMutability, imageScanningConfiguration {scanOnPush},
 * encryptionConfiguration {encryptionType[, kmsKey]}, tags. opts may be
 * NULL. ret_doc (may be NULL) gets the document (the caller frees it).
 * E_REPOSITORY_ALREADY_EXISTS, E_OCI_NAME_INVALID, E_INVALID_PARAMETER.
 */
int registry_repo_create(struct registry *r, const char *name,
			 const struct registry_repo_options *opts, int64_t now_ms, cJSON **ret_doc,
			 struct err *err);

/*
 * Load repository `name`'s document (the caller frees it) and its store
 * version (may be NULL). E_REPOSITORY_NOT_FOUND.
 */
int registry_repo_load(const struct registry *r, const char *name, cJSON **ret_doc,
		       uint64_t *ret_version, struct err *err);

/*
 * Make sure repository `name` exists, creating it with defaults when
 * r->create_on_push (a push to a new name). E_REPOSITORY_NOT_FOUND otherwise.
 */
int registry_repo_ensure(struct registry *r, const char *name, int64_t now_ms, struct err *err);

/*
 * Change repository `name`'s document (PutImageTagMutability, TagResource,
 * ...): edit is called on a fresh copy, under the repository's lock, and
 * the result saved; a negative return from edit aborts with that error.
 * ret_doc (may be NULL) gets the saved document.
 */
int registry_repo_update(struct registry *r, const char *name,
			 int (*edit)(cJSON *doc, void *arg, struct err *err), void *arg,
			 cJSON **ret_doc, struct err *err);

/*
 * Delete repository `name` with its images, tags and blob links. Without
 * force, a repository holding images is E_REPOSITORY_NOT_EMPTY. ret_doc
 * (may be NULL) gets the deleted document. Blob files go with the next GC.
 */
int registry_repo_delete(struct registry *r, const char *name, bool force, cJSON **ret_doc,
			 struct err *err);

/*
 * Call fn with each repository's name and document in name order, starting
 * after start_after (NULL: from the first). fn returns 0 to go on, 1 to stop.
 */
int registry_repo_scan(const struct registry *r, const char *start_after,
		       int (*fn)(void *ctx, const char *name, const cJSON *doc), void *ctx,
		       struct err *err);

/*
 * The catalog: up to n repository names (n < 0: all) sorted, after `last`
 * (NULL: from the first), into *ret_names (a new cJSON array of strings);
 * *ret_more says whether more follow.
 */
int registry_catalog(const struct registry *r, const char *last, int64_t n, cJSON **ret_names,
		     bool *ret_more, struct err *err);

/*
 * Push a manifest into repo, under reference: a tag (the manifest is stored
 * and the tag set to it) or a digest (which must be the content's:
 * E_OCI_DIGEST_INVALID). content_type is the client's Content-Type or ECR's
 * imageManifestMediaType (NULL or "": from the manifest's mediaType).
 * Accepts OCI image manifests and indexes, Docker schema 2 manifests and
 * manifest lists, checked: schemaVersion 2, the mediaType member agreeing
 * with content_type, descriptors well formed (E_OCI_MANIFEST_INVALID);
 * every config and layer held by repo as a blob, every child of an index
 * held as a manifest (E_OCI_MANIFEST_BLOB_UNKNOWN). A manifest larger than
 * REGISTRY_MANIFEST_MAX is -EFBIG, E_OCI_MANIFEST_INVALID. An IMMUTABLE
 * repository refuses to move an existing tag to another digest
 * (E_IMAGE_TAG_ALREADY_EXISTS). E_REPOSITORY_NOT_FOUND when repo does not
 * exist (see registry_repo_ensure).
 *
 * ret_image (may be NULL) gets the stored image (pushedAt of its first
 * push); *ret_unchanged (may be NULL) is true when the repository already
 * held this manifest and the tag (if any) already named it, so nothing was
 * written (ECR's PutImage answers ImageAlreadyExistsException then).
 */
int registry_manifest_put(struct registry *r, const char *repo, const char *reference,
			  const char *content_type, const void *data, size_t n, int64_t now_ms,
			  struct registry_image *ret_image, bool *ret_unchanged, struct err *err);

/*
 * Look an image of repo up by reference (tag or digest), without its bytes.
 * E_IMAGE_NOT_FOUND when the repository holds no such tag or manifest,
 * E_OCI_TAG_INVALID/E_OCI_DIGEST_INVALID for a malformed reference.
 */
int registry_manifest_stat(const struct registry *r, const char *repo, const char *reference,
			   struct registry_image *ret_image, struct err *err);

/* registry_manifest_stat, and the manifest's bytes appended to ret_bytes. */
int registry_manifest_get(const struct registry *r, const char *repo, const char *reference,
			  struct buf *ret_bytes, struct registry_image *ret_image, struct err *err);

/*
 * Delete by digest: the manifest leaves the repository with every tag
 * naming it. Delete by tag: only the tag goes (untag), the manifest stays.
 * ret_image (may be NULL) gets the image; ret_tags (may be NULL) a new
 * array of the tags removed. E_IMAGE_NOT_FOUND.
 */
int registry_manifest_delete(struct registry *r, const char *repo, const char *reference,
			     struct registry_image *ret_image, cJSON **ret_tags, struct err *err);

/*
 * Whether a manifest of repo (an index or manifest list) names digest among
 * its manifests: 1 with the first such in ret_index, 0 when none does.
 */
int registry_manifest_referrer(const struct registry *r, const char *repo, const char *digest,
			       char ret_index[REGISTRY_DIGEST_SIZE], struct err *err);

/* The tags of repo naming digest, sorted, as a new cJSON array of strings. */
int registry_manifest_tags(const struct registry *r, const char *repo, const char *digest,
			   cJSON **ret_tags, struct err *err);

/*
 * Call fn with each image of repo in digest order, after start_after (a
 * digest; NULL: from the first). fn returns 0 to go on, 1 to stop.
 */
int registry_manifest_scan(const struct registry *r, const char *repo, const char *start_after,
			   int (*fn)(void *ctx, const struct registry_image *image), void *ctx,
			   struct err *err);

/*
 * Call fn with each tag of repo and the digest it names, in tag order,
 * after start_after (NULL: from the first). fn returns 0 to go on, 1 to stop.
 */
int registry_tag_scan(const struct registry *r, const char *repo, const char *start_after,
		      int (*fn)(void *ctx, const char *tag, const char *digest), void *ctx,
		      struct err *err);

/*
 * GET /v2/REPO/tags/list: up to n tags (n < 0: all), sorted, after `last`
 * (NULL: from the first), into *ret_tags (a new cJSON array); *ret_more
 * says whether more follow. E_REPOSITORY_NOT_FOUND.
 */
int registry_tags_list(const struct registry *r, const char *repo, const char *last, int64_t n,
		       cJSON **ret_tags, bool *ret_more, struct err *err);

#endif
