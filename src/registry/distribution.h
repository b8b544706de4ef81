/*
 * distribution.h: the OCI Distribution v2 API under /v2/, as the server's
 * HTTP layer calls it: a begin hook, which authenticates and routes a
 * request as soon as its headers are read and streams an upload's body
 * straight into its session, and the handler that answers.
 */
#ifndef BERTH_REGISTRY_DISTRIBUTION_H
#define BERTH_REGISTRY_DISTRIBUTION_H

#include <stdbool.h>

#include "api/http.h"
#include "registry/registry.h"

/* Whether path is one of /v2/'s ("/v2" or "/v2/..."). */
bool registry_http_path(const char *path);

/* For http_options.begin: set up req (a /v2/ path) before its body arrives. */
void registry_http_begin(struct registry *r, struct http_request *req);

/*
 * Answer a /v2/ request. Works also when registry_http_begin did not run
 * (the body was then buffered in req->body).
 */
void registry_http_handle(struct registry *r, struct http_request *req, struct http_response *resp);

#endif
