/*
 * httpc.c: the HTTP client over libcurl's easy interface (httpc.h).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/httpc.h"
#include "core/util.h"
#include "core/banned.h"

#define DEFAULT_MAX_BODY   (16u << 20)
#define DEFAULT_USER_AGENT "berth/0.1"

struct httpc {
	CURL *curl;
	char *user_agent;
};

struct transfer {
	const struct httpc_request *req;
	struct httpc_response *resp;
	size_t max_body;
	bool too_large;
	int write_errno;
	/* request body from a file descriptor */
	size_t fd_left;
	int read_errno;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct httpc *httpc_new(const char *user_agent)
{
	struct httpc *c;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->curl = curl_easy_init();
	c->user_agent = strdup(user_agent ? user_agent : DEFAULT_USER_AGENT);
	if (!c->curl || !c->user_agent) {
		httpc_free(c);
		return NULL;
	}
	return c;
}

void httpc_free(struct httpc *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->user_agent);
	free(c);
}

void httpc_response_init(struct httpc_response *r)
{
	r->status = 0;
	r->body_bytes = 0;
	buf_init(&r->headers);
	buf_init(&r->body);
}

void httpc_response_release(struct httpc_response *r)
{
	buf_release(&r->headers);
	buf_release(&r->body);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;

	/* A new status line starts a new response (redirect, 100 Continue): keep only the last. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		buf_reset(&t->resp->headers);
	buf_append(&t->resp->headers, data, len);
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;

	t->resp->body_bytes += len;
	if (t->req->sink_fd >= 0) {
		size_t done = 0;

		if (t->req->max_sink && t->resp->body_bytes > t->req->max_sink) {
			t->too_large = true;
			return 0;
		}

		while (done < len) {
			ssize_t w = write(t->req->sink_fd, data + done, len - done);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				t->write_errno = errno;
				return 0;
			}
			done += (size_t)w;
		}
		return len;
	}
	if (t->resp->body.len + len > t->max_body) {
		t->too_large = true;
		return 0;
	}
	buf_append(&t->resp->body, data, len);
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const struct transfer *t = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return *t->req->cancel ? 1 : 0;
}

static size_t on_read(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t want = size * n;
	ssize_t r;

	if (want > t->fd_left)
		want = t->fd_left;
	if (want == 0)
		return 0;
	do
		r = read(t->req->body_fd, data, want);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		t->read_errno = errno;
		return CURL_READFUNC_ABORT;
	}
	if (r == 0) {
		t->read_errno = EIO; /* the file is shorter than body_len */
		return CURL_READFUNC_ABORT;
	}
	t->fd_left -= (size_t)r;
	return (size_t)r;
}

int httpc_do(struct httpc *c, const struct httpc_request *req, struct httpc_response *ret,
	     struct err *err)
{
	struct transfer t = { .req = req, .resp = ret };
	struct curl_slist *headers = NULL;
	CURL *h = c->curl;
	CURLcode rc;
	uint64_t started;
	int r = 0;

	buf_reset(&ret->headers);
	buf_reset(&ret->body);
	ret->status = 0;
	ret->body_bytes = 0;
	t.max_body = req->max_body ? req->max_body : DEFAULT_MAX_BODY;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (req->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	if (req->stall_timeout_s > 0) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, req->stall_timeout_s);
	}
	if (req->cancel) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
	}
	if (req->follow_redirects) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	}

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body_fd >= 0) {
			t.fd_left = req->body_len;
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(h, CURLOPT_READDATA, &t);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		} else {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		}
	}

	/* No "Expect: 100-continue" round trip; callers' headers come after. */
	headers = curl_slist_append(headers, "Expect:");
	for (const char *const *p = req->headers; p && *p; p++) {
		struct curl_slist *n = curl_slist_append(headers, *p);

		if (!n) {
			curl_slist_free_all(headers);
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		}
		headers = n;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

	started = mono_ns();
	rc = curl_easy_perform(h);
	curl_slist_free_all(headers);
	if (t.too_large)
		return err_set(err, -EFBIG, E_LIMIT_EXCEEDED,
			       "%s %s: response body over %llu bytes", req->method, req->url,
			       req->sink_fd >= 0 ? (unsigned long long)req->max_sink
						 : (unsigned long long)t.max_body);
	if (t.write_errno)
		return err_set(err, -t.write_errno, E_SERVER, "%s %s: writing the body: %s",
			       req->method, req->url, strerror(t.write_errno));
	if (t.read_errno)
		return err_set(err, -t.read_errno, E_SERVER, "%s %s: reading the request body: %s",
			       req->method, req->url, strerror(t.read_errno));
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return err_set(err, -ECANCELED, E_SERVER, "%s %s: cancelled", req->method,
			       req->url);
	if (rc == CURLE_OPERATION_TIMEDOUT && req->stall_timeout_s > 0 &&
	    (req->timeout_ms <= 0 || (mono_ns() - started) / 1000000 < (uint64_t)req->timeout_ms))
		return err_set(err, -ETIMEDOUT, E_SERVER,
			       "%s %s: nothing received for %ld s: the server stalled", req->method,
			       req->url, req->stall_timeout_s);
	if (rc != CURLE_OK) {
		r = rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
		    : rc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
		    : rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
				    rc == CURLE_PARTIAL_FILE
			    ? -ECONNRESET
			    : -EIO;
		return err_set(err, r, E_SERVER, "%s %s: %s", req->method, req->url,
			       curl_easy_strerror(rc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
	return 0;
}

int64_t httpc_retry_after_ms(const struct httpc_response *r, int64_t now_ms_epoch)
{
	char v[128];
	int64_t secs;
	time_t when;

	if (!httpc_header(r, "Retry-After", v, sizeof(v)) || !v[0])
		return -1;
	if (parse_int64(v, 0, INT64_C(1) << 31, &secs) == 0)
		return secs * 1000;
	when = curl_getdate(v, NULL);
	if (when < 0)
		return -1;
	return (int64_t)when * 1000 > now_ms_epoch ? (int64_t)when * 1000 - now_ms_epoch : 0;
}

const char *httpc_header(const struct httpc_response *r, const char *name, char *out, size_t n)
{
	const char *p = r->headers.data, *end = p + r->headers.len;
	size_t nlen = strlen(name);

	if (!p || n == 0)
		return NULL;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end;

		if ((size_t)(line_end - p) > nlen && strncasecmp(p, name, nlen) == 0 &&
		    p[nlen] == ':') {
			const char *v = p + nlen + 1, *ve = line_end;
			size_t len;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			len = (size_t)(ve - v);
			if (len >= n)
				len = n - 1;
			memcpy(out, v, len);
			out[len] = 0;
			return out;
		}
		p = eol ? eol + 1 : end;
	}
	return NULL;
}
