/*
 * listen.c: the agent's own HTTP listener (--metrics-listen HOST:PORT),
 * served by api/http.c's libmicrohttpd glue. What it answers is a table of
 * routes: /metrics now; the task metadata endpoint and the introspection
 * API add their rows here.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "api/http.h"
#include "core/cleanup.h"
#include "core/metrics.h"
#include "core/banned.h"

static void serve_metrics(struct agent *a, struct http_request *req, struct http_response *resp)
{
	(void)req;
	resp->status = 200;
	resp->content_type = METRICS_CONTENT_TYPE;
	agent_metrics_render(a, &resp->body);
}

static const struct route {
	const char *method;
	const char *path;
	void (*fn)(struct agent *a, struct http_request *req, struct http_response *resp);
} routes[] = {
	{ "GET", "/metrics", serve_metrics },
};

static void handle(void *ctx, struct http_request *req, struct http_response *resp)
{
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		if (strcmp(req->path, routes[i].path) != 0)
			continue;
		if (strcmp(req->method, routes[i].method) != 0 &&
		    !(strcmp(req->method, "HEAD") == 0 && !strcmp(routes[i].method, "GET"))) {
			resp->status = 405;
			resp->content_type = "text/plain";
			http_response_header(resp, "Allow", routes[i].method);
			buf_printf(&resp->body, "%s takes %s\n", routes[i].path, routes[i].method);
			return;
		}
		routes[i].fn(ctx, req, resp);
		return;
	}
	resp->status = 404;
	resp->content_type = "text/plain";
	buf_puts(&resp->body, "not found\n");
}

int agent_listen_start(struct agent *a, struct err *err)
{
	struct http_options opts = {
		.listen = a->cfg.listen,
		.threads = 1,
		.timeout_s = 30,
		.handler = handle,
		.ctx = a,
	};
	unsigned port = 0;
	int r;

	if (!a->cfg.listen)
		return 0;
	r = http_server_start(&opts, &a->http, &port, err);
	if (r < 0)
		return err_wrap(err, "--metrics-listen");
	a->listen_port = port;
	return 0;
}

void agent_listen_stop(struct agent *a)
{
	http_server_stop(a->http);
	a->http = NULL;
}
