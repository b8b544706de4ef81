/*
 * httpc.h: berth's HTTP client, a thin layer over libcurl's easy interface.
 * The agent talks to the server with it (awsclient.h signs on top of it),
 * and pulls images from registries with it.
 *
 * One request at a time per struct httpc; a struct httpc keeps its
 * connections alive between requests (libcurl's connection cache), so a
 * caller that makes many requests to one server reuses one httpc. Different
 * threads use different httpc objects.
 *
 * Ownership: everything in a request is borrowed for the call; the response
 * owns its buffers until httpc_response_release.
 */
#ifndef BERTH_CORE_HTTPC_H
#define BERTH_CORE_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

struct httpc;

struct httpc_request {
	const char *method; /* "GET", "HEAD", "POST", "PUT", ... */
	const char *url;    /* absolute http:// or https:// URL */
	/* Extra request headers, "Name: value", NULL-terminated; may be NULL. */
	const char *const *headers;
	/* The body: body/body_len, or, when body_fd >= 0, body_len bytes read from body_fd. */
	const void *body;
	size_t body_len;
	int body_fd;
	/*
	 * Where the response body goes: when sink_fd >= 0 it is written there
	 * (for blobs), else into response.body, which is refused past
	 * max_body bytes (0: 16 MiB) with -EFBIG (E_LIMIT_EXCEEDED).
	 */
	int sink_fd;
	size_t max_body;
	/*
	 * When sink_fd >= 0 and this is not 0: more body bytes than this are
	 * refused with -EFBIG (E_LIMIT_EXCEEDED), as max_body is for memory
	 * (a blob's descriptor says its size; a registry may not send more).
	 */
	uint64_t max_sink;
	/* Whole-request time limit in milliseconds; 0: no limit. */
	long timeout_ms;
	/*
	 * When not 0: a transfer that moves less than a byte a second for this
	 * many seconds (waiting for the answer included) is abandoned with
	 * -ETIMEDOUT, as a stalled server would otherwise hold it until
	 * timeout_ms.
	 */
	long stall_timeout_s;
	/* Follow redirects (registries redirect blob GETs to storage). */
	bool follow_redirects;
	/*
	 * When not NULL and it becomes non-zero (a signal handler or another
	 * thread sets it), the transfer is abandoned within about a second:
	 * -ECANCELED.
	 */
	const volatile int *cancel;
};

#define HTTPC_REQUEST_INIT                   \
	{                                    \
		.body_fd = -1, .sink_fd = -1 \
	}

struct httpc_response {
	long status;	     /* HTTP status of the last response (after redirects) */
	struct buf headers;  /* raw header lines of the last response, "Name: value\r\n" each */
	struct buf body;     /* body when no sink_fd was given */
	uint64_t body_bytes; /* bytes of body received (also when sent to sink_fd) */
};

/*
 * Create a client. user_agent may be NULL ("berth/VERSION"). Returns NULL only
 * when out of memory or when libcurl cannot start.
 */
struct httpc *httpc_new(const char *user_agent);
void httpc_free(struct httpc *c);

void httpc_response_init(struct httpc_response *r);
void httpc_response_release(struct httpc_response *r);

/*
 * Perform req. Returns 0 when an HTTP response arrived, whatever its
 * status (check ret->status); a negative errno with E_SERVER and libcurl's
 * message when none did: -ECONNREFUSED (nothing listening), -ETIMEDOUT
 * (timeout_ms or stall_timeout_s passed), -ECONNRESET (the connection
 * broke: nothing, or part of an answer, came back), -EIO otherwise (a bad
 * URL, TLS); or with E_LIMIT_EXCEEDED when the body passed max_body. ret
 * is reset first.
 */
int httpc_do(struct httpc *c, const struct httpc_request *req, struct httpc_response *ret,
	     struct err *err);

/*
 * Find response header name (case-insensitive) in r; copies its value,
 * trimmed, into out (truncated to n - 1 bytes) and returns out, or NULL when
 * absent. The first of repeated headers wins.
 */
const char *httpc_header(const struct httpc_response *r, const char *name, char *out, size_t n);

/*
 * What r's Retry-After header asks for, in milliseconds from now_ms_epoch
 * (the current time in milliseconds since the epoch): delta-seconds
 * ("120") or an HTTP date (0 when it is past). -1 when r has none or it
 * cannot be read.
 */
int64_t httpc_retry_after_ms(const struct httpc_response *r, int64_t now_ms_epoch);

#endif
