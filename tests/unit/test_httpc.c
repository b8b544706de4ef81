/*
 * test_httpc.c: the HTTP client and the AWS JSON client over it, against a
 * small server on 127.0.0.1 run by the test: status and headers of the last
 * response, bodies into memory or a file, the body limit, request bodies
 * from a file, cancellation, no server at all, and an AWS error answer
 * turned back into its kind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/awsclient.h"
#include "core/httpc.h"

/* One connection per canned answer; the server keeps what it was sent. */
struct server {
	int fd;
	int port;
	pthread_t thread;
	const char *answer;  /* the whole response */
	unsigned delay_ms;   /* before answering */
	char request[65536]; /* the last request read */
	size_t request_len;
};

static size_t content_length(const char *req)
{
	const char *p = strcasestr(req, "\r\ncontent-length:");

	return p ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	char *end;

	if (c < 0)
		return NULL;
	s->request_len = 0;
	for (;;) {
		ssize_t n = read(c, s->request + s->request_len,
				 sizeof(s->request) - 1 - s->request_len);

		if (n <= 0)
			break;
		s->request_len += (size_t)n;
		s->request[s->request_len] = 0;
		end = strstr(s->request, "\r\n\r\n");
		if (end &&
		    s->request_len >= (size_t)(end + 4 - s->request) + content_length(s->request))
			break;
	}
	if (s->delay_ms)
		usleep(s->delay_ms * 1000);
	if (write(c, s->answer, strlen(s->answer)) < 0)
		s->request_len = 0;
	close(c);
	return NULL;
}

static void server_start(struct server *s, const char *answer, unsigned delay_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	s->answer = answer;
	s->delay_ms = delay_ms;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static void url_of(const struct server *s, char *out, size_t n, const char *path)
{
	snprintf(out, n, "http://127.0.0.1:%d%s", s->port, path);
}

static void test_status_headers_body(void **state)
{
	struct server s = { 0 };
	struct httpc *c = httpc_new(NULL);
	struct httpc_request req = HTTPC_REQUEST_INIT;
	struct httpc_response resp;
	struct err err = ERR_INIT;
	const char *headers[] = { "X-Test: one", NULL };
	char url[128], v[64];

	(void)state;
	server_start(&s,
		     "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Thing:  a value \r\n"
		     "Connection: close\r\n\r\nhello",
		     0);
	url_of(&s, url, sizeof(url), "/p?q=1");
	req.method = "PUT";
	req.url = url;
	req.headers = headers;
	req.body = "abc";
	req.body_len = 3;
	httpc_response_init(&resp);
	assert_int_equal(httpc_do(c, &req, &resp, &err), 0);
	server_stop(&s);
	assert_int_equal(resp.status, 201);
	assert_string_equal(buf_str(&resp.body), "hello");
	assert_int_equal(resp.body_bytes, 5);
	assert_string_equal(httpc_header(&resp, "x-thing", v, sizeof(v)), "a value");
	assert_null(httpc_header(&resp, "x-missing", v, sizeof(v)));
	assert_non_null(strstr(s.request, "PUT /p?q=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "X-Test: one\r\n"));
	assert_non_null(strstr(s.request, "\r\n\r\nabc"));
	httpc_response_release(&resp);
	httpc_free(c);
}

static void test_body_limit_and_sink(void **state)
{
	struct server s = { 0 };
	struct httpc *c = httpc_new(NULL);
	struct httpc_request req = HTTPC_REQUEST_INIT;
	struct httpc_response resp;
	struct err err = ERR_INIT;
	char url[128], path[] = "/tmp/berth-test-httpc-XXXXXX", back[16] = { 0 };
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	httpc_response_init(&resp);
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0);
	url_of(&s, url, sizeof(url), "/");
	req.method = "GET";
	req.url = url;
	req.max_body = 4;
	assert_int_equal(httpc_do(c, &req, &resp, &err), -EFBIG);
	assert_int_equal(err.kind, E_LIMIT_EXCEEDED);
	server_stop(&s);

	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0);
	url_of(&s, url, sizeof(url), "/");
	req.sink_fd = fd;
	assert_int_equal(httpc_do(c, &req, &resp, &err), 0);
	server_stop(&s);
	assert_int_equal(resp.body_bytes, 10);
	assert_int_equal(resp.body.len, 0);
	assert_int_equal(pread(fd, back, sizeof(back) - 1, 0), 10);
	assert_string_equal(back, "0123456789");

	/* a sink's own limit: a registry sending more than the blob's size */
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0);
	url_of(&s, url, sizeof(url), "/");
	req.max_sink = 9;
	assert_int_equal(httpc_do(c, &req, &resp, &err), -EFBIG);
	assert_int_equal(err.kind, E_LIMIT_EXCEEDED);
	server_stop(&s);
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0);
	url_of(&s, url, sizeof(url), "/");
	req.max_sink = 10;
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(httpc_do(c, &req, &resp, &err), 0);
	server_stop(&s);
	assert_int_equal(resp.body_bytes, 10);
	close(fd);
	httpc_response_release(&resp);
	httpc_free(c);
}

static void test_body_from_fd(void **state)
{
	struct server s = { 0 };
	struct httpc *c = httpc_new(NULL);
	struct httpc_request req = HTTPC_REQUEST_INIT;
	struct httpc_response resp;
	struct err err = ERR_INIT;
	char url[128], path[] = "/tmp/berth-test-httpc-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "from a file", 11), 11);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	httpc_response_init(&resp);
	server_start(&s, "HTTP/1.1 204 No Content\r\n\r\n", 0);
	url_of(&s, url, sizeof(url), "/up");
	req.method = "PATCH";
	req.url = url;
	req.body_fd = fd;
	req.body_len = 11;
	assert_int_equal(httpc_do(c, &req, &resp, &err), 0);
	server_stop(&s);
	assert_int_equal(resp.status, 204);
	assert_non_null(strstr(s.request, "PATCH /up HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\n\r\nfrom a file"));
	close(fd);
	httpc_response_release(&resp);
	httpc_free(c);
}

static void test_no_server_and_cancel(void **state)
{
	struct server s = { 0 };
	struct httpc *c = httpc_new(NULL);
	struct httpc_request req = HTTPC_REQUEST_INIT;
	struct httpc_response resp;
	struct err err = ERR_INIT;
	volatile int cancel = 1;
	char url[128];
	int port;

	(void)state;
	httpc_response_init(&resp);
	/* a port nothing listens on: bind one, close it */
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
	port = s.port;
	server_stop(&s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	req.method = "GET";
	req.url = url;
	assert_int_equal(httpc_do(c, &req, &resp, &err), -ECONNREFUSED);
	assert_int_equal(err.kind, E_SERVER);

	/* a server that closes the connection without an answer */
	server_start(&s, "", 0);
	url_of(&s, url, sizeof(url), "/");
	assert_int_equal(httpc_do(c, &req, &resp, &err), -ECONNRESET);
	server_stop(&s);

	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3000);
	url_of(&s, url, sizeof(url), "/");
	req.cancel = &cancel;
	assert_int_equal(httpc_do(c, &req, &resp, &err), -ECANCELED);
	server_stop(&s);
	httpc_response_release(&resp);
	httpc_free(c);
}

/*
 * A server that answers nothing for longer than stall_timeout_s: the
 * request ends with -ETIMEDOUT and a message saying the server stalled,
 * long before its whole-request timeout.
 */
static void test_stall_timeout(void **state)
{
	struct server s = { 0 };
	struct httpc *c = httpc_new(NULL);
	struct httpc_request req = HTTPC_REQUEST_INIT;
	struct httpc_response resp;
	struct err err = ERR_INIT;
	char url[128];

	(void)state;
	httpc_response_init(&resp);
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4000);
	url_of(&s, url, sizeof(url), "/stall");
	req.method = "GET";
	req.url = url;
	req.timeout_ms = 60000;
	req.stall_timeout_s = 1;
	assert_int_equal(httpc_do(c, &req, &resp, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "nothing received for 1 s: the server stalled"));
	assert_non_null(strstr(err.msg, "/stall"));
	server_stop(&s);
	httpc_response_release(&resp);
	httpc_free(c);
}

static void retry_after_is(const char *header, int64_t now_ms_epoch, int64_t want)
{
	struct httpc_response r;

	httpc_response_init(&r);
	buf_puts(&r.headers, "Content-Type: text/plain\r\n");
	if (header)
		buf_puts(&r.headers, header);
	assert_int_equal(httpc_retry_after_ms(&r, now_ms_epoch), want);
	httpc_response_release(&r);
}

static void test_retry_after(void **state)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example date) */
	const int64_t date_ms = INT64_C(784111777) * 1000;

	(void)state;
	retry_after_is(NULL, 0, -1);
	retry_after_is("Retry-After: 120\r\n", 0, 120000);
	retry_after_is("retry-after:  0 \r\n", 0, 0);
	retry_after_is("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n", date_ms - 5000, 5000);
	retry_after_is("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n", date_ms + 5000, 0);
	retry_after_is("Retry-After: soon\r\n", 0, -1);
	retry_after_is("Retry-After: -3\r\n", 0, -1);
	retry_after_is("Retry-After:\r\n", 0, -1);
}

static void test_awsclient_error_and_answer(void **state)
{
	struct server s = { 0 };
	struct awsclient c = { 0 };
	struct buf out = BUF_INIT;
	struct err err = ERR_INIT;
	char endpoint[64];

	(void)state;
	c.http = httpc_new(NULL);
	c.region = "us-east-1";
	c.cred.access_key = "AKIDEXAMPLE";
	c.cred.secret = "secret";
	server_start(&s,
		     "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n"
		     "Content-Length: 77\r\n\r\n"
		     "{\"__type\":\"com.amazon#ClusterNotFoundException\",\"message\":\"no such "
		     "cluster\"} ",
		     0);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", s.port);
	c.endpoint = endpoint;
	assert_int_equal(awsclient_call(&c, "ecs", "AmazonEC2ContainerServiceV20141113.ListTasks",
					"{\"cluster\":\"x\"}", 0, &out, &err),
			 -EPROTO);
	server_stop(&s);
	assert_int_equal(err.kind, E_CLUSTER_NOT_FOUND);
	assert_string_equal(err.msg, "no such cluster");
	assert_non_null(
		strstr(s.request, "X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListTasks"));
	assert_non_null(
		strstr(s.request, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
	assert_non_null(strstr(s.request, "/us-east-1/ecs/aws4_request"));

	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}", 0);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", s.port);
	assert_int_equal(awsclient_call(&c, "ecs", "X.Y", NULL, 0, &out, &err), 0);
	server_stop(&s);
	assert_string_equal(buf_str(&out), "{\"ok\":true}");
	assert_non_null(strstr(s.request, "\r\n\r\n{}"));
	buf_release(&out);
	httpc_free(c.http);
}

static void test_err_kind_from_type(void **state)
{
	(void)state;
	assert_int_equal(err_kind_from_type("InvalidParameterException"), E_INVALID_PARAMETER);
	assert_int_equal(err_kind_from_type("a.b#ServerException"), E_SERVER);
	assert_int_equal(err_kind_from_type("NoSuchThingException"), E_CLIENT);
	assert_int_equal(err_kind_from_type(NULL), E_CLIENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_headers_body),
		cmocka_unit_test(test_body_limit_and_sink),
		cmocka_unit_test(test_body_from_fd),
		cmocka_unit_test(test_no_server_and_cancel),
		cmocka_unit_test(test_stall_timeout),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_awsclient_error_and_answer),
		cmocka_unit_test(test_err_kind_from_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
