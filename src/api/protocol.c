/*
 * protocol.c: the AWS JSON 1.1 protocol. A request is `POST /` with
 * `X-Amz-Target: <prefix>.<Operation>`; berth finds the service by the
 * prefix, checks the SigV4 signature, finds the operation, parses the body,
 * checks it against AWS's model of the operation's input and calls the
 * handler. Every failure is answered as AWS answers it: a JSON body
 * `{"__type": ..., "message": ...}` with the kind's HTTP status.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/http.h"
#include "api/validate.h"
#include "core/base64.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/sigv4.h"
#include "core/util.h"
#include "core/banned.h"

#define CONTENT_TYPE "application/x-amz-json-1.1"

static const struct api_service *services[] = { &api_ecs, &api_ecr, &api_logs, &api_agent };

static void write_error(struct http_response *resp, const struct err *err)
{
	const char *type = err_kind_type(err->kind);

	resp->status = err_kind_status(err->kind);
	resp->content_type = CONTENT_TYPE;
	buf_reset(&resp->body);
	buf_puts(&resp->body, "{\"__type\":");
	json_escape(&resp->body, type, strlen(type));
	buf_puts(&resp->body, ",\"message\":");
	json_escape(&resp->body, err->msg, strlen(err->msg));
	buf_putc(&resp->body, '}');
	http_response_header(resp, "x-amzn-ErrorType", type);
}

static const struct api_operation *find_handler(const struct api_service *svc, const char *op)
{
	size_t lo = 0, hi = svc->n_ops;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(op, svc->ops[mid].name);

		if (c == 0)
			return &svc->ops[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Parse the body: it must be one JSON object and nothing else. */
static int parse_body(const char *body, size_t len, cJSON **ret, struct err *err)
{
	const char *end = NULL;
	cJSON *root;
	size_t i;

	for (i = 0; i < len; i++)
		if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n')
			break;
	if (i == len) {
		*ret = cJSON_CreateObject();
		return 0;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (!root)
		return err_set(err, -EINVAL, E_SERIALIZATION,
			       "Request body is not valid JSON (near byte %zu)",
			       end ? (size_t)(end - body) : (size_t)0);
	for (i = (size_t)(end - body); i < len; i++)
		if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n' &&
		    body[i] != '\0') {
			cJSON_Delete(root);
			return err_set(err, -EINVAL, E_SERIALIZATION,
				       "Request body has bytes after its JSON value");
		}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return err_set(err, -EINVAL, E_SERIALIZATION, "Request body must be a JSON object");
	}
	*ret = root;
	return 0;
}

void api_dispatch(struct api_server *srv, const struct api_service *svc, const char *op,
		  const char *body, size_t body_len, const char *access_key,
		  struct http_request *req, struct http_response *resp)
{
	const struct model_operation *mop;
	const struct api_operation *aop;
	struct err err = ERR_INIT;
	struct jsonw w;
	struct api_ctx ctx;
	cJSON *in = NULL;
	int r;

	mop = model_find_operation(svc->model, op);
	aop = find_handler(svc, op);
	if (!aop) {
		if (mop)
			err_set(&err, -ENOSYS, E_UNKNOWN_OPERATION,
				"Operation %s is not supported by berth", op);
		else
			err_set(&err, -ENOSYS, E_UNKNOWN_OPERATION, "Unknown operation %s", op);
		write_error(resp, &err);
		return;
	}
	r = parse_body(body, body_len, &in, &err);
	if (r == 0 && mop)
		r = model_validate(svc->model, mop, in, &err);
	if (r < 0) {
		cJSON_Delete(in);
		write_error(resp, &err);
		return;
	}

	buf_reset(&resp->body);
	jsonw_init(&w, &resp->body);
	jsonw_obj_begin(&w);
	ctx = (struct api_ctx){
		.srv = srv,
		.in = in,
		.out = &w,
		.now_ms = now_ms(),
		.access_key = access_key,
		.operation = op,
		.http = req,
	};
	r = aop->fn(&ctx, &err);
	cJSON_Delete(in);
	if (r < 0) {
		if (err.kind == E_NONE)
			err_set(&err, r, E_SERVER, "internal error (%s)", strerror(-r));
		if (err.kind == E_SERVER)
			log_error("%s: %s", op, err.msg);
		write_error(resp, &err);
		return;
	}
	if (ctx.suspend) {
		resp->suspend = true;
		return;
	}
	jsonw_obj_end(&w);
	resp->status = 200;
	resp->content_type = CONTENT_TYPE;
}

void api_answer(struct http_response *resp, const char *body, size_t len)
{
	buf_reset(&resp->body);
	buf_append(&resp->body, body, len);
	resp->status = 200;
	resp->content_type = CONTENT_TYPE;
}

void api_answer_error(struct http_response *resp, const struct err *err)
{
	write_error(resp, err);
}

int api_route(const char *target, const struct api_service **ret_svc, const char **ret_op,
	      struct err *err)
{
	const char *dot = target ? strrchr(target, '.') : NULL;
	size_t i;

	if (!target)
		return err_set(err, -ENOSYS, E_UNKNOWN_OPERATION, "Missing X-Amz-Target header");
	for (i = 0; dot && i < ARRAY_SIZE(services); i++)
		if (strlen(services[i]->target_prefix) == (size_t)(dot - target) &&
		    !strncmp(target, services[i]->target_prefix, (size_t)(dot - target))) {
			*ret_svc = services[i];
			*ret_op = dot + 1;
			return 0;
		}
	return err_set(err, -ENOSYS, E_UNKNOWN_OPERATION, "Unknown target '%.200s'", target);
}

struct secret_lookup {
	const struct credentials *creds;
};

static const char *lookup_secret(void *ctx, const char *access_key)
{
	return credentials_secret(ctx, access_key);
}

static const char *request_header(void *ctx, const char *name)
{
	return http_header(ctx, name);
}

void api_handle(struct api_server *srv, struct http_request *req, struct http_response *resp)
{
	const struct api_service *svc = NULL;
	struct sigv4_identity id;
	struct sigv4_request sreq;
	struct err err = ERR_INIT;
	const char *target, *op;
	char request_id[37];
	int r;

	uuid_v4(request_id);
	http_response_header(resp, "x-amzn-RequestId", request_id);

	target = http_header(req, "X-Amz-Target");
	if (api_route(target, &svc, &op, &err) < 0) {
		write_error(resp, &err);
		return;
	}
	/* metrics name only the operations berth has: a client cannot add series */
	req->tag_service = svc->metrics_name ? svc->metrics_name : svc->signing_name;
	if (find_handler(svc, op))
		req->tag_action = op;

	sreq = (struct sigv4_request){
		.method = req->method,
		.path = req->path,
		.query = req->query,
		.header = request_header,
		.header_ctx = req,
		.body = req->body.data,
		.body_len = req->body.len,
	};
	r = sigv4_verify(&sreq, lookup_secret, &srv->creds, time(NULL), &id, &err);
	if (r == 0 && strcmp(id.service, svc->signing_name) != 0)
		r = err_set(&err, -EACCES, E_INVALID_SIGNATURE,
			    "Credential should be scoped to correct service: '%s'. ",
			    svc->signing_name);
	if (r == 0 && strcmp(id.region, srv->region) != 0)
		r = err_set(&err, -EACCES, E_INVALID_SIGNATURE,
			    "Credential should be scoped to a valid region, not '%s'. "
			    "This server's region is '%s'.",
			    id.region, srv->region);
	if (r < 0) {
		write_error(resp, &err);
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		err_set(&err, -EINVAL, E_UNKNOWN_OPERATION,
			"The JSON API takes POST requests, not %s", req->method);
		write_error(resp, &err);
		return;
	}
	api_dispatch(srv, svc, op, req->body.data, req->body.len, id.access_key, req, resp);
	if (resp->suspend)
		log_debug("%s %s -> waiting", svc->signing_name, op);
	else
		log_debug("%s %s -> %d", svc->signing_name, op, resp->status);
}

void api_arn(const struct api_server *srv, struct buf *out, const char *service,
	     const char *resource)
{
	buf_printf(out, "arn:aws:%s:%s:%s:%s", service, srv->region, srv->account_id, resource);
}

const char *api_arn_resource(const struct api_server *srv, const char *service, const char *id)
{
	const char *p = id;
	size_t n;

	if (!startswith(id, "arn:"))
		return id;
	p += 4;
	/* partition */
	p = strchr(p, ':');
	if (!p)
		return NULL;
	p++;
	n = strlen(service);
	if (strncmp(p, service, n) || p[n] != ':')
		return NULL;
	p += n + 1;
	n = strlen(srv->region);
	if (strncmp(p, srv->region, n) || p[n] != ':')
		return NULL;
	p += n + 1;
	n = strlen(srv->account_id);
	if (strncmp(p, srv->account_id, n) || p[n] != ':')
		return NULL;
	return p + n + 1;
}

int api_token_decode(const char *token, const char *prefix, struct buf *ret_key, struct err *err)
{
	size_t start = ret_key->len;

	if (strlen(token) > 4 * STORE_KEY_MAX || base64_decode(ret_key, token, strlen(token)) < 0 ||
	    !startswith(buf_str(ret_key) + start, prefix) ||
	    strlen(buf_str(ret_key) + start) != ret_key->len - start)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The nextToken '%.100s' is not valid for this request", token);
	return 0;
}

void api_token_write(struct jsonw *w, const char *last_key)
{
	struct buf b = BUF_INIT;

	base64_encode(&b, last_key, strlen(last_key), true);
	jsonw_key_str(w, "nextToken", buf_str(&b));
	buf_release(&b);
}

int api_page_add(struct api_page *p, const char *key, const char *s)
{
	if (p->n == p->limit) {
		p->more = true;
		return 1;
	}
	jsonw_str(p->w, s);
	p->n++;
	buf_reset(&p->last_key);
	buf_puts(&p->last_key, key);
	return 0;
}

void api_page_end(struct api_page *p)
{
	if (p->more)
		api_token_write(p->w, buf_str(&p->last_key));
	buf_release(&p->last_key);
}

int api_max_results(const struct api_ctx *ctx, int64_t max, int64_t def, int64_t *ret,
		    struct err *err)
{
	int64_t n;

	if (!json_has(ctx->in, "maxResults")) {
		*ret = def;
		return 0;
	}
	n = json_int(ctx->in, "maxResults", 0);
	if (n < 1 || n > max)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "maxResults must be between 1 and %lld, not %lld", (long long)max,
			       (long long)n);
	*ret = n;
	return 0;
}
