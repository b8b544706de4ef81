/*
 * awsclient.c: signed AWS JSON 1.1 calls over httpc (awsclient.h).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/awsclient.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/banned.h"

#define DEFAULT_TIMEOUT_MS 60000
#define MAX_ANSWER	   (64u << 20)

/* Split endpoint "http://host:port/base" into its host[:port] and its path prefix. */
static int split_endpoint(const char *endpoint, struct buf *ret_host, struct buf *ret_path,
			  struct err *err)
{
	const char *p = strstr(endpoint, "://"), *slash;

	if (!p || p == endpoint)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "endpoint %s: expected http://HOST[:PORT]", endpoint);
	p += 3;
	slash = strchr(p, '/');
	if (slash) {
		buf_append(ret_host, p, (size_t)(slash - p));
		buf_puts(ret_path, slash);
	} else {
		buf_puts(ret_host, p);
	}
	if (ret_path->len == 0 || ret_path->data[ret_path->len - 1] != '/')
		buf_putc(ret_path, '/');
	if (ret_host->len == 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "endpoint %s: no host", endpoint);
	return 0;
}

/* Turn an error answer into err. */
static int answer_error(const struct httpc_response *resp, const char *target, struct err *err)
{
	_cleanup_json_ cJSON *doc =
		cJSON_ParseWithLength(resp->body.data ? resp->body.data : "", resp->body.len);
	char header[256];
	const char *type = json_str(doc, "__type"), *msg = json_str(doc, "message");

	if (!type)
		type = httpc_header(resp, "x-amzn-ErrorType", header, sizeof(header));
	if (!msg)
		msg = json_str(doc, "Message");
	if (!type) {
		enum err_kind kind = resp->status >= 500 ? E_SERVER : E_CLIENT;

		return err_set(err, -EPROTO, kind, "%s: HTTP %ld", target, resp->status);
	}
	/* x-amzn-ErrorType may carry ":http://..." after the name */
	char name[128];
	size_t n = strcspn(type, ":");

	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, type, n);
	name[n] = 0;
	return err_set(err, -EPROTO, err_kind_from_type(name), "%s", msg ? msg : name);
}

int awsclient_call(struct awsclient *c, const char *service, const char *target, const char *body,
		   long timeout_ms, struct buf *ret_body, struct err *err)
{
	_cleanup_buf_ struct buf host = BUF_INIT, path = BUF_INIT, url = BUF_INIT, auth = BUF_INIT,
				 h_auth = BUF_INIT, h_date = BUF_INIT, h_target = BUF_INIT,
				 h_token = BUF_INIT;
	char amz_date[SIGV4_DATE_SIZE];
	const char *content_type = "application/x-amz-json-1.1";
	struct httpc_response resp;
	int r;

	if (!body)
		body = "{}";
	r = split_endpoint(c->endpoint, &host, &path, err);
	if (r < 0)
		return r;

	struct sigv4_header sh[] = {
		{ "content-type", content_type },
		{ "host", buf_str(&host) },
		{ "x-amz-target", target },
	};
	struct sigv4_sign_request sreq = {
		.method = "POST",
		.path = buf_str(&path),
		.headers = sh,
		.n_headers = sizeof(sh) / sizeof(sh[0]),
		.body = body,
		.body_len = strlen(body),
	};
	r = sigv4_sign(&sreq, &c->cred, c->region, service, time(NULL), amz_date, &auth, err);
	if (r < 0)
		return r;

	buf_printf(&url, "%.*s//%s%s", (int)(strstr(c->endpoint, "://") - c->endpoint + 1),
		   c->endpoint, buf_str(&host), buf_str(&path));
	buf_printf(&h_auth, "Authorization: %s", buf_str(&auth));
	buf_printf(&h_date, "X-Amz-Date: %s", amz_date);
	buf_printf(&h_target, "X-Amz-Target: %s", target);
	if (c->cred.session_token)
		buf_printf(&h_token, "X-Amz-Security-Token: %s", c->cred.session_token);
	const char *headers[] = {
		"Content-Type: application/x-amz-json-1.1",
		buf_str(&h_target),
		buf_str(&h_date),
		buf_str(&h_auth),
		c->cred.session_token ? buf_str(&h_token) : NULL,
		NULL,
	};
	struct httpc_request req = HTTPC_REQUEST_INIT;

	req.method = "POST";
	req.url = buf_str(&url);
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.max_body = MAX_ANSWER;
	req.cancel = c->cancel;
	req.timeout_ms = timeout_ms > 0	     ? timeout_ms
			 : c->timeout_ms > 0 ? c->timeout_ms
					     : DEFAULT_TIMEOUT_MS;

	httpc_response_init(&resp);
	r = httpc_do(c->http, &req, &resp, err);
	if (r == 0 && (resp.status < 200 || resp.status > 299))
		r = answer_error(&resp, target, err);
	if (r == 0) {
		buf_reset(ret_body);
		buf_append(ret_body, resp.body.data ? resp.body.data : "", resp.body.len);
	}
	httpc_response_release(&resp);
	return r;
}
