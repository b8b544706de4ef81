/*
 * sigv4.h: AWS Signature Version 4, both sides. The API server verifies the
 * Authorization header (or the presigned query) of every request against the
 * secret of the access key it names; berth's agent, its CLI and the tests sign
 * their requests with the same code. HMAC-SHA256 and SHA-256 come from
 * libcrypto.
 *
 * Canonicalisation follows AWS's documentation and botocore's behaviour for
 * every service but S3: the path is normalised (empty, "." and ".." segments
 * removed) and the path as sent, already percent-encoded, is encoded once
 * more; query names and values are decoded and re-encoded the RFC 3986 way
 * (a '+' is a literal plus) and sorted; the signed headers are exactly those
 * `SignedHeaders` lists, their values trimmed.
 *
 * berth has no STS: an X-Amz-Security-Token is accepted, signed or not, and
 * never checked. Header-signed requests must sign their payload (an
 * `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD` does not verify); presigned
 * requests may sign either UNSIGNED-PAYLOAD or the body's hash.
 *
 * Every size a client controls is bounded by the limits below; the parsers
 * accept any bytes.
 */
#ifndef BERTH_SIGV4_H
#define BERTH_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"

#define SIGV4_ALGORITHM	       "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* Limits on what a client sends. */
#define SIGV4_MAX_AUTHORIZATION	 4096	   /* Authorization header, bytes */
#define SIGV4_MAX_SIGNED_HEADERS 64	   /* names in SignedHeaders */
#define SIGV4_MAX_HEADER_NAME	 128	   /* one signed header's name */
#define SIGV4_MAX_HEADER_VALUE	 8192	   /* one signed header's value */
#define SIGV4_MAX_PATH		 8192	   /* request path, bytes */
#define SIGV4_MAX_QUERY		 16384	   /* query string, bytes */
#define SIGV4_MAX_QUERY_PARAMS	 256	   /* parameters in the query */
#define SIGV4_MAX_SKEW		 (15 * 60) /* seconds between the client's clock and ours */
#define SIGV4_MAX_EXPIRES	 604800	   /* X-Amz-Expires of a presigned request, seconds */

/* "20150830T123600Z" and its NUL. */
#define SIGV4_DATE_SIZE 17

/*
 * A request as the verifier reads it. Header lookup is case-insensitive and
 * gets lowercase names; when a header was sent several times the caller joins
 * the values with ",". Everything is borrowed for the duration of the call.
 */
struct sigv4_request {
	const char *method; /* "POST" */
	const char *path;   /* raw path as sent, undecoded: "/" or "/v2/a%20b/" */
	const char *query;  /* raw query string without '?', or NULL */
	const char *(*header)(void *ctx, const char *name); /* NULL when absent */
	void *header_ctx;
	const void *body;
	size_t body_len;
};

/*
 * Returns the secret access key of access_key, or NULL if the key is unknown.
 * The string is borrowed until sigv4_verify returns. Called at most once per
 * verification.
 */
typedef const char *(*sigv4_secret_fn)(void *ctx, const char *access_key);

/* Who signed a request, from its credential scope. */
struct sigv4_identity {
	char access_key[129];
	char region[65];
	char service[65];
};

/*
 * Verify the SigV4 signature of req, by Authorization header or presigned
 * query, at time now. On success fill ret_id (which may be NULL) and return
 * 0. On failure return a negative errno and fill err with the kind AWS answers
 * with: E_MISSING_AUTH_TOKEN (no authentication at all),
 * E_INCOMPLETE_SIGNATURE (malformed), E_UNRECOGNIZED_CLIENT (unknown access
 * key), E_INVALID_SIGNATURE (wrong signature, expired, bad date),
 * E_INVALID_PARAMETER (a size over the limits), E_SERVER (libcrypto failed).
 * Which service and region are acceptable is the caller's decision: it reads
 * them from ret_id. Thread-safe; derived signing keys are cached.
 */
int sigv4_verify(const struct sigv4_request *req, sigv4_secret_fn secret, void *secret_ctx,
		 time_t now, struct sigv4_identity *ret_id, struct err *err);

/* A header to sign: lowercase name, value as it is sent. */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* A request as the signer sees it. Everything is borrowed. */
struct sigv4_sign_request {
	const char *method;
	const char *path;		    /* as it will be sent, already encoded */
	const char *query;		    /* as it will be sent, without '?', or NULL */
	const struct sigv4_header *headers; /* must include "host"; not "x-amz-date" */
	size_t n_headers;
	const void *body;
	size_t body_len;
	/*
	 * NULL: the SHA-256 of the body (for sigv4_sign) or UNSIGNED-PAYLOAD
	 * (for sigv4_presign). Otherwise used as is; send it as
	 * X-Amz-Content-Sha256 too.
	 */
	const char *payload_hash;
};

struct sigv4_credentials {
	const char *access_key;
	const char *secret;
	const char *session_token; /* NULL without one */
};

/*
 * Sign req for region and service at time now. Fill ret_amz_date with the
 * X-Amz-Date value and ret_authorization (appended to) with the Authorization
 * value; the caller must send both headers, and X-Amz-Security-Token with
 * the session token when the credentials have one (it is signed). Returns 0,
 * or a negative errno with E_INVALID_PARAMETER for a request it cannot sign
 * (E_SERVER if libcrypto fails).
 */
int sigv4_sign(const struct sigv4_sign_request *req, const struct sigv4_credentials *cred,
	       const char *region, const char *service, time_t now,
	       char ret_amz_date[SIGV4_DATE_SIZE], struct buf *ret_authorization, struct err *err);

/*
 * Presign req for region and service at time now, valid for expires seconds
 * (1 to SIGV4_MAX_EXPIRES). Append to ret_query the query string to send in
 * place of req->query: the request's own parameters followed by the X-Amz-*
 * ones, X-Amz-Signature last. Returns 0 or a negative errno, as sigv4_sign.
 */
int sigv4_presign(const struct sigv4_sign_request *req, const struct sigv4_credentials *cred,
		  const char *region, const char *service, time_t now, unsigned expires,
		  struct buf *ret_query, struct err *err);

/*
 * Append to ret the canonical request SigV4 hashes: headers are the signed
 * ones, lowercase and sorted by name, with their values as sent; presigned
 * leaves X-Amz-Signature out of the canonical query. For tests and for
 * explaining a mismatch to a client's author. Returns 0, or -E2BIG with
 * E_INVALID_PARAMETER for a path or query over the limits.
 */
int sigv4_canonical_request(const char *method, const char *path, const char *query, bool presigned,
			    const struct sigv4_header *headers, size_t n_headers,
			    const char *payload_hash, struct buf *ret, struct err *err);

/*
 * Derive the signing key kSigning from a secret and a credential scope
 * (date "YYYYMMDD", region, service) into ret_key, uncached. Returns 0, or
 * -EIO with E_SERVER if libcrypto fails.
 */
int sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
		      uint8_t ret_key[32], struct err *err);

#endif
