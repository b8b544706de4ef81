/*
 * awsclient.h: a client of an AWS JSON 1.1 API (berth's own server, or any
 * endpoint speaking ECS/ECR/Logs): signs each request with SigV4 and turns
 * an error answer ({"__type", "message"}) back into a struct err whose kind
 * is err_kind_from_type of its __type, so the
 * agent and the CLI can act on ClusterNotFoundException and the like.
 */
#ifndef BERTH_CORE_AWSCLIENT_H
#define BERTH_CORE_AWSCLIENT_H

#include "core/buf.h"
#include "core/err.h"
#include "core/httpc.h"
#include "core/sigv4.h"

struct awsclient {
	struct httpc *http;
	const char *endpoint; /* "http://127.0.0.1:8080" (no trailing '/') */
	const char *region;
	struct sigv4_credentials cred;
	long timeout_ms;	    /* per request; 0: 60 s */
	const volatile int *cancel; /* see httpc_request.cancel; may be NULL */
};

/*
 * POST body (a JSON document; NULL means "{}") to the endpoint as
 * `X-Amz-Target: target` (e.g. "AmazonEC2ContainerServiceV20141113.RunTask"),
 * signed for service ("ecs", "ecr", "logs"). On a 2xx answer its body is in
 * ret_body and 0 is returned. An error answer returns -EPROTO with err
 * holding the answer's kind and message; no answer at all (connection
 * refused, timeout) returns the transport's error with E_SERVER, which a
 * caller retries. timeout_ms overrides c->timeout_ms when > 0 (long polls).
 */
int awsclient_call(struct awsclient *c, const char *service, const char *target, const char *body,
		   long timeout_ms, struct buf *ret_body, struct err *err);

#endif
