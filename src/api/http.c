/*
 * http.c: the libmicrohttpd glue. Connections are served by a pool of
 * threads, each multiplexing many connections with epoll, so a slow client
 * never holds up another one; idle connections are closed after a timeout.
 */
#include "api/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <strings.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/util.h"
#include "core/banned.h"

struct http_merged {
	struct http_merged *next;
	char *name;
	char *value;
};

struct http_server {
	struct MHD_Daemon *daemon;
	http_handler_fn handler;
	http_begin_fn begin;
	http_done_fn done;
	void *ctx;
};

struct header_join {
	const char *name;
	struct buf joined;
	const char *first;
	int count;
};

static enum MHD_Result join_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct header_join *j = cls;

	(void)kind;
	if (strcasecmp(key, j->name) != 0)
		return MHD_YES;
	if (j->count == 1) {
		buf_puts(&j->joined, j->first);
	}
	if (j->count >= 1) {
		buf_putc(&j->joined, ',');
		buf_puts(&j->joined, value ? value : "");
	} else {
		j->first = value ? value : "";
	}
	j->count++;
	return MHD_YES;
}

const char *http_header(struct http_request *req, const char *name)
{
	struct header_join j = { .name = name };
	struct http_merged *m;

	for (m = req->merged; m; m = m->next)
		if (!strcasecmp(m->name, name))
			return m->value;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, join_header, &j);
	if (j.count <= 1)
		return j.first;
	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->name = strdup(name);
	if (!m->name)
		abort();
	m->value = buf_detach(&j.joined, NULL);
	m->next = req->merged;
	req->merged = m;
	return m->value;
}

void http_response_header(struct http_response *resp, const char *name, const char *value)
{
	if (resp->n_headers >= HTTP_HEADERS_MAX)
		return;
	snprintf(resp->headers[resp->n_headers].name, sizeof(resp->headers[0].name), "%s", name);
	snprintf(resp->headers[resp->n_headers].value, sizeof(resp->headers[0].value), "%s", value);
	resp->n_headers++;
}

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct buf *q = cls;

	(void)kind;
	if (q->len)
		buf_putc(q, '&');
	buf_puts(q, key);
	if (value) {
		buf_putc(q, '=');
		buf_puts(q, value);
	}
	return MHD_YES;
}

static void request_free(struct http_request *req)
{
	struct http_merged *m;

	if (!req)
		return;
	while ((m = req->merged)) {
		req->merged = m->next;
		free(m->name);
		free(m->value);
		free(m);
	}
	if (req->sink_free)
		req->sink_free(req->sink_ctx);
	if (req->resume_free)
		req->resume_free(req->resume_ctx);
	buf_release(&req->body);
	buf_release(&req->query_buf);
	free(req);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len;
	char *body;
	int i;

	if (resp->has_fd) {
		r = MHD_create_response_from_fd_at_offset64(resp->fd_length, resp->fd,
							    resp->fd_offset);
		if (!r) {
			close(resp->fd);
			return MHD_NO;
		}
	} else {
		body = buf_detach(&resp->body, &len);
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (!r) {
			free(body);
			return MHD_NO;
		}
	}
	if (resp->content_type)
		MHD_add_response_header(r, "Content-Type", resp->content_type);
	for (i = 0; i < resp->n_headers; i++)
		MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result too_large(struct MHD_Connection *conn, size_t max)
{
	struct http_response resp = { .status = 413, .content_type = "application/x-amz-json-1.1" };

	buf_printf(&resp.body,
		   "{\"__type\":\"RequestEntityTooLargeException\",\"message\":"
		   "\"Request body is larger than %zu bytes\"}",
		   max);
	http_response_header(&resp, "Connection", "close");
	return send_response(conn, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	struct http_response resp;
	enum MHD_Result ret;

	(void)version;
	if (!req) {
		const char *cl =
			MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		int64_t n;

		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->conn = conn;
		req->method = method;
		req->path = url;
		req->body_max = HTTP_BODY_MAX;
		req->start_ns = mono_ns();
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_query_arg,
					  &req->query_buf);
		req->query = buf_str(&req->query_buf);
		*con_cls = req;
		if (srv->begin)
			srv->begin(srv->ctx, req);
		if (!req->sink && cl &&
		    (parse_int64(cl, 0, INT64_MAX, &n) < 0 || (uint64_t)n > req->body_max))
			return too_large(conn, req->body_max);
		return MHD_YES;
	}
	if (*upload_data_size) {
		req->body_received += *upload_data_size;
		if (req->sink) {
			if (!req->sink_failed &&
			    req->sink(req->sink_ctx, upload_data, *upload_data_size) < 0)
				req->sink_failed = true;
		} else if (req->body.len + *upload_data_size > req->body_max) {
			req->body_too_large = true;
		} else {
			buf_append(&req->body, upload_data, *upload_data_size);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->body_too_large)
		return too_large(conn, req->body_max);

	if (!req->body.data)
		buf_grow(&req->body, 0);

	memset(&resp, 0, sizeof(resp));
	resp.status = 500;
	if (req->suspended) {
		/* back from a suspension: the one who resumed it has the answer */
		req->suspended = false;
		req->resume(req->resume_ctx, req, &resp);
	} else {
		srv->handler(srv->ctx, req, &resp);
	}
	if (resp.suspend && req->resume) {
		buf_release(&resp.body);
		req->suspended = true;
		MHD_suspend_connection(conn);
		if (req->on_suspended)
			req->on_suspended(req->resume_ctx, req);
		return MHD_YES;
	}
	if (srv->done)
		srv->done(srv->ctx, req, &resp);
	ret = send_response(conn, &resp);
	buf_release(&resp.body);
	return ret;
}

void http_resume(struct http_request *req)
{
	MHD_resume_connection(req->conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	request_free(*con_cls);
	*con_cls = NULL;
}

/* Leave paths and query arguments as the client sent them (SigV4 needs that). */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
			struct err *err)
{
	const char *colon = strrchr(listen, ':');
	char host[128];
	int64_t port;
	size_t hl;

	if (!colon || parse_int64(colon + 1, 0, 65535, &port) < 0)
		return err_set(err, -EINVAL, E_CLIENT, "listen address '%s' is not HOST:PORT",
			       listen);
	hl = (size_t)(colon - listen);
	if (hl >= sizeof(host))
		return err_set(err, -EINVAL, E_CLIENT, "listen host in '%s' is too long", listen);
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return err_set(err, -EINVAL, E_CLIENT, "bad IPv6 address in '%s'", listen);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (hl == 0 || !strcmp(host, "0.0.0.0"))
			a->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (!strcmp(host, "localhost"))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return err_set(err, -EINVAL, E_CLIENT, "bad IPv4 address in '%s'", listen);
		*len = sizeof(*a);
	}
	return 0;
}

/*
 * How many connections to serve at once: as many as the open-file limit
 * leaves room for (every agent holds one for its long poll, so a cluster
 * of a thousand hosts needs more than libmicrohttpd's default of about
 * 1,000), keeping 64 descriptors for the store, logs and clients.
 */
static unsigned connection_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 65536 + 64)
		return 65536;
	return rl.rlim_cur > 128 ? (unsigned)(rl.rlim_cur - 64) : 64;
}

int http_server_start(const struct http_options *opts, struct http_server **ret, unsigned *ret_port,
		      struct err *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct http_server *srv;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME;
	const union MHD_DaemonInfo *info;
	int r;

	r = parse_listen(opts->listen, &ss, &sslen, err);
	if (r < 0)
		return r;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	srv->handler = opts->handler;
	srv->begin = opts->begin;
	srv->done = opts->done;
	srv->ctx = opts->ctx;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(opts->threads ? opts->threads : 4),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(opts->timeout_s ? opts->timeout_s : 30),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_CONNECTION_LIMIT, connection_limit(), MHD_OPTION_LISTEN_BACKLOG_SIZE,
		(unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_END);
	if (!srv->daemon) {
		free(srv);
		return err_set(err, -EADDRINUSE, E_SERVER,
			       "cannot listen on '%s' (in use, or not an address of this host)",
			       opts->listen);
	}
	if (ret_port) {
		info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
		*ret_port = info ? info->port : 0;
	}
	*ret = srv;
	return 0;
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
