/*
 * api.h: what the JSON APIs (ECS now; ECR and Logs later) share: the
 * server's state, the context a handler runs in, and the tables that map
 * operation names to handlers. Adding an operation is adding a row to its
 * service's table (ecs.c) and a function.
 */
#ifndef BERTH_API_H
#define BERTH_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/credentials.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "store/store.h"

struct http_request;
struct http_response;
struct model_service;
struct model_operation;
struct registry;
struct api_metrics;
struct logdb;

/* Defaults for what appears in every ARN. */
#define API_DEFAULT_REGION     "us-east-1"
#define API_DEFAULT_ACCOUNT_ID "000000000000"

/* The state every handler may use; lives as long as the server. */
struct api_server {
	struct store *store; /* borrowed */
	struct credentials creds;
	char region[32];
	char account_id[16];
	struct registry *registry;   /* borrowed: the image registry (ECR, /v2/) */
	struct agent_hub *agents;    /* long polls and liveness of agents (agent_protocol.c) */
	struct api_metrics *metrics; /* /metrics (metrics.c); NULL: none kept (tests) */
	struct logdb *logs;	     /* CloudWatch Logs' groups, streams and events (logs.c) */
	struct service_scheduler *scheduler; /* service_scheduler.h; NULL in unit tests */
};

/* One request as a handler sees it. */
struct api_ctx {
	struct api_server *srv;
	const cJSON *in;   /* the request body, checked against the model */
	struct jsonw *out; /* inside the response object: handlers write members */
	int64_t now_ms;
	const char *access_key; /* who signed the request */
	const char *operation;
	/*
	 * The HTTP request (NULL outside a server, in tests): a handler that
	 * answers later sets it up for resumption (http.h) and sets suspend.
	 */
	struct http_request *http;
	bool suspend;
	/*
	 * Set by the service scheduler when it starts a service's tasks: as on
	 * ECS, a service keeps using a task definition deregistered since.
	 */
	bool scheduler;
};

typedef int (*api_fn)(struct api_ctx *ctx, struct err *err);

struct api_operation {
	const char *name;
	api_fn fn;
};

struct api_service {
	const char *target_prefix; /* "AmazonEC2ContainerServiceV20141113" */
	const char *signing_name;  /* "ecs": the service in the credential scope */
	const struct model_service *model;
	const struct api_operation *ops; /* sorted by name */
	size_t n_ops;
	const char *metrics_name; /* its /metrics label when not signing_name ("agent") */
};

extern const struct api_service api_ecs;
extern const struct api_service api_ecr;   /* registry/ecr.c */
extern const struct api_service api_agent; /* agent_protocol.c: berth's agents */
extern const struct api_service api_logs;  /* logs.c: CloudWatch Logs */

/* Answer one POST / request of the JSON protocol (routing, auth, errors). */
void api_handle(struct api_server *srv, struct http_request *req, struct http_response *resp);

/*
 * Find the service and operation an X-Amz-Target names ("<prefix>.<Op>"):
 * ret_op points into target. UnknownOperationException for a missing
 * target or an unknown prefix (an unknown operation is found later).
 */
int api_route(const char *target, const struct api_service **ret_svc, const char **ret_op,
	      struct err *err);

/*
 * Run operation `op` of service svc on body (what api_handle does after
 * authenticating). Writes the whole response (body, status) into resp.
 * Exposed for the fuzz target and unit tests.
 */
void api_dispatch(struct api_server *srv, const struct api_service *svc, const char *op,
		  const char *body, size_t body_len, const char *access_key,
		  struct http_request *req, struct http_response *resp);

/* Fill resp with a 200 answer whose JSON body is body (an answer given after a suspension). */
void api_answer(struct http_response *resp, const char *body, size_t len);

/* Fill resp with an error answer. */
void api_answer_error(struct http_response *resp, const struct err *err);

/*
 * Hold the in-process lock of a resource's key around a read-modify-write
 * of it (locks.c). A thread holds one such lock at a time.
 */
void api_lock(const char *key);
void api_unlock(const char *key);

/* Append the ARN of an ECS resource ("cluster/NAME") to out. */
void api_arn(const struct api_server *srv, struct buf *out, const char *service,
	     const char *resource);

/*
 * If id is an ARN of this server's region and account for `service`, return
 * the resource part after "arn:aws:SERVICE:REGION:ACCOUNT:"; if it is an ARN
 * of another region, account or service, NULL; if it is not an ARN, id.
 */
const char *api_arn_resource(const struct api_server *srv, const char *service, const char *id);

/*
 * Pagination: a nextToken is the base64url of the last key returned. Decode
 * token into ret_key (appended), or fail with InvalidParameterException.
 */
int api_token_decode(const char *token, const char *prefix, struct buf *ret_key, struct err *err);
void api_token_write(struct jsonw *w, const char *last_key);

/*
 * One page of a List operation's results: strings written into the open
 * array of w, and the store key of the last one, where the next page
 * resumes.
 */
struct api_page {
	struct jsonw *w;
	int64_t limit;
	int64_t n;
	struct buf last_key;
	bool more;
};

/*
 * Write s (the item found under store key `key`) into the page. When the
 * page already holds `limit` items, write nothing, note that more follow
 * and return 1: the caller's scan stops there. Otherwise 0.
 */
int api_page_add(struct api_page *p, const char *key, const char *s);

/* After the array: write nextToken when more items follow; release p. */
void api_page_end(struct api_page *p);

/*
 * maxResults as given (1..max), or def when absent; out of range is an
 * InvalidParameterException.
 */
int api_max_results(const struct api_ctx *ctx, int64_t max, int64_t def, int64_t *ret,
		    struct err *err);

#endif
