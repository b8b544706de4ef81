/*
 * registry.h: the built-in image registry, what ECR is to ECS. The OCI
 * Distribution v2 API under /v2/ (distribution.c) and the ECR JSON API
 * (ecr.c) share one model of repositories, images and blobs (images.c,
 * blobs.c) and one kind of credential, the ECR authorization token (token.c).
 *
 * Storage:
 *   DATA-DIR/registry/blobs/sha256/HEX    content-addressed blobs (layers,
 *                                         configs, manifests), written to a
 *                                         temporary file, verified against
 *                                         their digest, renamed into place
 *   DATA-DIR/registry/uploads/UUID        blob uploads under way
 * Store keys (values are JSON documents):
 *   ecr/repo/NAME                  a repository: {repositoryArn, registryId,
 *                                  repositoryName, repositoryUri, createdAt,
 *                                  imageTagMutability,
 *                                  imageScanningConfiguration,
 *                                  encryptionConfiguration, tags}
 *   ecr/blob/NAME/DIGEST           the repository holds this blob: {size}
 *   ecr/manifest/NAME/DIGEST       an image manifest or index the repository
 *                                  holds (its bytes are the blob DIGEST):
 *                                  {mediaType, size, pushedAt, artifactType?,
 *                                   references: [DIGEST...]}
 *   ecr/tag/NAME/TAG               {digest}
 * Repository names are OCI names (lowercase path components separated by
 * '/', at most 256 characters), so NAME may hold '/': a key's last
 * component is found after the last '/'.
 */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/http.h"
#include "core/buf.h"
#include "core/err.h"

#define REGISTRY_NAME_MAX 256
#define REGISTRY_TAG_MAX  128
/* "sha256:" and 64 hex digits, and its NUL */
#define REGISTRY_DIGEST_SIZE 72
/* Largest manifest accepted (the distribution spec suggests 4 MiB) */
#define REGISTRY_MANIFEST_MAX (4u << 20)
/* How long an authorization token is valid, as ECR's: 12 hours */
#define REGISTRY_TOKEN_TTL (12 * 3600)

struct registry_blobs;

struct registry {
	struct api_server *api;	      /* borrowed: store, region, account id, keys */
	char *dir;		      /* DATA-DIR/registry */
	bool create_on_push;	      /* a push to a missing repository creates it */
	char endpoint[128];	      /* "127.0.0.1:9400", as clients reach /v2/ */
	int64_t upload_max_age_ms;    /* an upload idle this long is removed */
	int64_t gc_grace_ms;	      /* the collector spares blobs younger than this */
	struct registry_blobs *blobs; /* blobs.c: upload sessions, GC lock */
};

/*
 * Set up r for DATA-DIR (creating its directories), with the default upload
 * age and GC grace period (blobs.h). Release with registry_release.
 */
int registry_init(struct registry *r, struct api_server *api, const char *data_dir,
		  struct err *err);
void registry_release(struct registry *r);

/* token.c */

/*
 * Make an authorization token for access_key (which must be one of the
 * server's keys), valid until expires_at (epoch seconds). ret_token gets
 * what GetAuthorizationToken returns: base64 of "AWS:" and the password.
 */
int registry_token_new(const struct registry *r, const char *access_key, int64_t expires_at,
		       struct buf *ret_token, struct err *err);

/*
 * Check a password (the part after "AWS:") at time now: signed with the
 * secret of a key the server still has, and not expired. Fills
 * ret_access_key (at least 129 bytes) with the key it was issued to.
 */
int registry_token_check(const struct registry *r, const char *password, int64_t now,
			 char *ret_access_key, struct err *err);

/*
 * Check an HTTP Authorization header of the /v2/ API: "Basic
 * base64(AWS:password)". E_OCI_UNAUTHORIZED when missing or wrong.
 */
int registry_auth_basic(const struct registry *r, const char *authorization, int64_t now,
			struct err *err);

/*
 * Authenticate a /v2/ request: basic auth with a token, or, when the query
 * is a SigV4 presigned one (what GetDownloadUrlForLayer hands out), that
 * signature, for service "ecr" in the server's region. *ret_presigned says
 * which it was: a presigned URL only reads the blob it was made for.
 */
int registry_auth_request(const struct registry *r, struct http_request *req, int64_t now,
			  bool *ret_presigned, struct err *err);

/*
 * A URL (appended to ret_url) that lets its holder GET path on this server
 * for expires seconds without other credentials, presigned with
 * access_key's secret.
 */
int registry_presign_url(const struct registry *r, const char *access_key, const char *path,
			 int64_t now, unsigned expires, struct buf *ret_url, struct err *err);

#endif
