/*
 * distribution.c: the OCI Distribution v2 API (the distribution spec's
 * end-1 to end-13): version check, blobs (HEAD/GET with Range, DELETE),
 * uploads (monolithic POST, chunked PATCH, PUT, status, cancel,
 * cross-repository mount), manifests (HEAD/GET/PUT/DELETE by tag or
 * digest), tag listing and the catalog.
 *
 * Every request needs the ECR token as basic auth. The begin hook runs
 * before the body is read: it authenticates, routes and, for an upload,
 * checks the session out and points the request's sink at it, so a layer
 * flows from the socket into its file and its hash without ever being
 * buffered whole. Errors are the spec's {"errors":[{code, message}]}.
 */
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/util.h"
#include "registry/blobs.h"
#include "registry/distribution.h"
#include "registry/images.h"
#include "core/banned.h"

#define REF_MAX 256
/* Most entries a tags or catalog page holds. */
#define PAGE_MAX 10000

enum route {
	R_NONE,
	R_BASE,	    /* /v2/ */
	R_CATALOG,  /* /v2/_catalog */
	R_TAGS,	    /* /v2/NAME/tags/list */
	R_MANIFEST, /* /v2/NAME/manifests/REF */
	R_BLOB,	    /* /v2/NAME/blobs/DIGEST */
	R_UPLOADS,  /* /v2/NAME/blobs/uploads/ */
	R_UPLOAD,   /* /v2/NAME/blobs/uploads/UUID */
};

/* One /v2/ request, from its begin hook to its answer (the sink's context). */
struct dist_req {
	struct registry *r;
	enum route route;
	char name[REGISTRY_NAME_MAX + 1];
	char ref[REF_MAX];
	int64_t now_ms;
	bool failed; /* err holds what to answer, whatever the body */
	struct err err;
	struct registry_upload *upload; /* checked out for this request */
	bool collect;			/* a manifest: gather the body here */
	struct buf body;
	bool too_large;
};

bool registry_http_path(const char *path)
{
	return !strcmp(path, "/v2") || startswith(path, "/v2/");
}

static void dist_req_free(void *ctx)
{
	struct dist_req *d = ctx;

	if (!d)
		return;
	/* a request cut short (client gone) leaves its session for a retry */
	registry_upload_close(d->upload);
	buf_release(&d->body);
	free(d);
}

static int fail(struct dist_req *d, int rc)
{
	d->failed = true;
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (appended); a NUL byte is refused. */
static int url_decode(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == '\0')
			return -EINVAL;
		buf_putc(out, c);
	}
	return 0;
}

/* The decoded value of query parameter `key` into ret (reset); 0, or -ENOENT. */
static int query_get(const struct http_request *req, const char *key, struct buf *ret)
{
	const char *p = req->query ? req->query : "";
	size_t klen = strlen(key);

	buf_reset(ret);
	while (*p) {
		size_t len = strcspn(p, "&");

		if (len >= klen && !strncmp(p, key, klen) && (p[klen] == '=' || len == klen)) {
			if (len > klen && url_decode(ret, p + klen + 1, len - klen - 1) < 0)
				return -EINVAL;
			if (!ret->data)
				buf_grow(ret, 0);
			return 0;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return -ENOENT;
}

/* Split the path into route, name and reference. */
static int parse_route(struct dist_req *d, const char *raw_path, struct err *err)
{
	static const struct {
		const char *suffix;
		enum route route;
	} routes[] = {
		{ "/tags", R_TAGS },
		{ "/manifests", R_MANIFEST },
		{ "/blobs/uploads", R_UPLOAD },
		{ "/blobs", R_BLOB },
	};
	struct buf path = BUF_INIT;
	const char *rest, *slash, *tail;
	size_t i, head_len;
	int rc = 0;

	if (url_decode(&path, raw_path, strlen(raw_path)) < 0) {
		buf_release(&path);
		return err_set(err, -EINVAL, E_OCI_NAME_INVALID, "invalid path");
	}
	rest = buf_str(&path);
	d->route = R_NONE;
	if (!strcmp(rest, "/v2") || !strcmp(rest, "/v2/")) {
		d->route = R_BASE;
		goto out;
	}
	rest += 4;
	if (!strcmp(rest, "_catalog")) {
		d->route = R_CATALOG;
		goto out;
	}
	slash = strrchr(rest, '/');
	if (!slash)
		goto out;
	tail = slash + 1;
	for (i = 0; i < ARRAY_SIZE(routes); i++) {
		size_t sl = strlen(routes[i].suffix);

		head_len = (size_t)(slash - rest);
		if (head_len > sl && !strncmp(slash - sl, routes[i].suffix, sl)) {
			d->route = routes[i].route;
			head_len -= sl;
			break;
		}
	}
	if (d->route == R_NONE)
		goto out;
	if (d->route == R_TAGS && strcmp(tail, "list") != 0) {
		d->route = R_NONE;
		goto out;
	}
	if (d->route == R_BLOB && !strcmp(tail, "uploads"))
		d->route = R_UPLOADS;
	if (d->route == R_UPLOAD && !*tail)
		d->route = R_UPLOADS;
	if (head_len > REGISTRY_NAME_MAX) {
		rc = err_set(err, -EINVAL, E_OCI_NAME_INVALID, "invalid repository name");
		goto out;
	}
	memcpy(d->name, rest, head_len);
	d->name[head_len] = '\0';
	snprintf(d->ref, sizeof(d->ref), "%.*s", (int)(sizeof(d->ref) - 1), tail);
	if (!registry_name_valid(d->name))
		rc = err_set(err, -EINVAL, E_OCI_NAME_INVALID, "invalid repository name '%s'",
			     d->name);
out:
	buf_release(&path);
	return rc;
}

static bool method_allowed(enum route route, const char *m)
{
	bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");

	switch (route) {
	case R_BASE:
	case R_CATALOG:
	case R_TAGS: return get;
	case R_MANIFEST: return get || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
	case R_BLOB: return get || !strcmp(m, "DELETE");
	case R_UPLOADS: return !strcmp(m, "POST");
	case R_UPLOAD:
		return !strcmp(m, "GET") || !strcmp(m, "PATCH") || !strcmp(m, "PUT") ||
		       !strcmp(m, "DELETE");
	default: return false;
	}
}

/* Whether the request's Content-Length is given and is not n. */
static bool content_length_differs(struct http_request *req, int64_t n)
{
	const char *cl = http_header(req, "Content-Length");
	int64_t len;

	return cl && (parse_int64(cl, 0, INT64_MAX, &len) < 0 || len != n);
}

/* Content-Range of a chunk: "START-END" (with "bytes " or "bytes=" allowed). */
static int parse_content_range(const char *s, int64_t *ret_start, int64_t *ret_end)
{
	char a[32], b[32];
	const char *dash;

	if (!strncasecmp(s, "bytes", 5) && (s[5] == ' ' || s[5] == '='))
		s += 6;
	dash = strchr(s, '-');
	if (!dash || (size_t)(dash - s) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
		return -EINVAL;
	memcpy(a, s, (size_t)(dash - s));
	a[dash - s] = '\0';
	snprintf(b, sizeof(b), "%s", dash + 1);
	if (strchr(b, '/'))
		*strchr(b, '/') = '\0';
	if (parse_int64(a, 0, INT64_MAX, ret_start) < 0 ||
	    parse_int64(b, 0, INT64_MAX, ret_end) < 0 || *ret_end < *ret_start)
		return -EINVAL;
	return 0;
}

static int dist_sink(void *ctx, const char *data, size_t n)
{
	struct dist_req *d = ctx;
	int rc;

	if (d->failed)
		return 0; /* read and dropped: the answer is the error already found */
	if (d->upload) {
		rc = registry_upload_write(d->upload, data, n, &d->err);
		if (rc < 0)
			fail(d, rc);
		return 0;
	}
	if (d->collect) {
		if (d->body.len + n > REGISTRY_MANIFEST_MAX)
			d->too_large = true;
		else
			buf_append(&d->body, data, n);
	}
	return 0;
}

void registry_http_begin(struct registry *r, struct http_request *req)
{
	struct dist_req *d = calloc(1, sizeof(*d));
	struct buf q = BUF_INIT;
	const char *m = req->method;
	bool presigned;
	int rc;

	if (!d)
		abort();
	d->r = r;
	d->now_ms = now_ms();
	req->sink = dist_sink;
	req->sink_ctx = d;
	req->sink_free = dist_req_free;

	rc = registry_auth_request(r, req, d->now_ms / 1000, &presigned, &d->err);
	if (rc == 0)
		rc = parse_route(d, req->path, &d->err);
	if (rc == 0 && presigned &&
	    !(d->route == R_BLOB && (!strcmp(m, "GET") || !strcmp(m, "HEAD"))))
		rc = err_set(&d->err, -EACCES, E_OCI_DENIED,
			     "a presigned URL only reads the blob it was made for");
	if (rc == 0 && d->route == R_NONE)
		rc = err_set(&d->err, -ENOENT, E_OCI_NAME_UNKNOWN, "no such endpoint");
	if (rc == 0 && !method_allowed(d->route, m))
		rc = err_set(&d->err, -EINVAL, E_OCI_UNSUPPORTED, "method %s is not supported here",
			     m);
	if (rc < 0) {
		fail(d, rc);
		return;
	}
	if (d->route == R_UPLOAD && (!strcmp(m, "PATCH") || !strcmp(m, "PUT"))) {
		const char *cr = http_header(req, "Content-Range");
		int64_t start, end;

		rc = registry_upload_open(r, d->name, d->ref, d->now_ms, &d->upload, &d->err);
		if (rc == 0 && cr && *cr) {
			if (parse_content_range(cr, &start, &end) < 0)
				rc = err_set(&d->err, -EINVAL, E_OCI_RANGE_INVALID,
					     "invalid Content-Range '%.64s'", cr);
			else if ((uint64_t)start != registry_upload_offset(d->upload))
				rc = err_set(&d->err, -EINVAL, E_OCI_RANGE_INVALID,
					     "chunk starts at %lld, the upload holds %llu bytes",
					     (long long)start,
					     (unsigned long long)registry_upload_offset(d->upload));
			else if (content_length_differs(req, end - start + 1))
				rc = err_set(&d->err, -EINVAL, E_OCI_RANGE_INVALID,
					     "Content-Range '%.64s' is not the chunk's %s bytes",
					     cr, http_header(req, "Content-Length"));
		}
	} else if (d->route == R_UPLOADS && query_get(req, "digest", &q) == 0 &&
		   query_get(req, "mount", &q) < 0) {
		/* a monolithic upload: POST ?digest= with the blob as its body */
		rc = registry_repo_ensure(r, d->name, d->now_ms, &d->err);
		if (rc == 0)
			rc = registry_upload_start(r, d->name, d->now_ms, &d->upload, &d->err);
	} else if (d->route == R_MANIFEST && !strcmp(m, "PUT")) {
		d->collect = true;
	}
	buf_release(&q);
	if (rc < 0)
		fail(d, rc);
}

/* Errors */

static enum err_kind oci_kind(enum err_kind k)
{
	switch (k) {
	case E_REPOSITORY_NOT_FOUND: return E_OCI_NAME_UNKNOWN;
	case E_IMAGE_NOT_FOUND: return E_OCI_MANIFEST_UNKNOWN;
	case E_IMAGE_TAG_ALREADY_EXISTS: return E_OCI_TAG_INVALID;
	case E_UPLOAD_NOT_FOUND: return E_OCI_BLOB_UPLOAD_UNKNOWN;
	case E_LAYERS_NOT_FOUND: return E_OCI_BLOB_UNKNOWN;
	default: return k;
	}
}

static void write_error(struct http_response *resp, const struct err *err)
{
	enum err_kind k = oci_kind(err->kind);
	bool oci = k >= E_OCI_BLOB_UNKNOWN && k < E__MAX;
	const char *code = oci ? err_kind_type(k) : "UNKNOWN";
	struct jsonw w;

	resp->status = err_kind_status(k);
	if (k == E_OCI_MANIFEST_INVALID && err->code == -EFBIG)
		resp->status = 413;
	if (resp->status >= 500)
		log_warn("registry: %s", err->msg);
	resp->content_type = "application/json";
	buf_reset(&resp->body);
	jsonw_init(&w, &resp->body);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "errors");
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "code", code);
	jsonw_key_str(&w, "message", err->msg);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	if (k == E_OCI_UNAUTHORIZED)
		http_response_header(resp, "WWW-Authenticate", "Basic realm=\"berth\"");
}

static void header_printf(struct http_response *resp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void header_printf(struct http_response *resp, const char *name, const char *fmt, ...)
{
	struct buf v = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&v, fmt, ap);
	va_end(ap);
	http_response_header(resp, name, buf_str(&v));
	buf_release(&v);
}

/* Where an upload goes on, and how much it holds (Location, Range, Docker-Upload-UUID). */
static void upload_headers(struct http_response *resp, const struct dist_req *d, const char *uuid,
			   uint64_t offset)
{
	header_printf(resp, "Location", "/v2/%s/blobs/uploads/%s", d->name, uuid);
	header_printf(resp, "Range", "0-%llu", (unsigned long long)(offset ? offset - 1 : 0));
	http_response_header(resp, "Docker-Upload-UUID", uuid);
}

static void empty(struct http_response *resp, int status)
{
	resp->status = status;
	resp->content_type = NULL;
	buf_reset(&resp->body);
}

/* Handlers: each returns 0 with resp filled, or an error for write_error. */

static int get_base(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	(void)d;
	(void)req;
	resp->status = 200;
	resp->content_type = "application/json";
	buf_puts(&resp->body, "{}");
	return 0;
}

/* The n and last parameters of a paginated list. */
static int page_params(struct http_request *req, int64_t *ret_n, struct buf *ret_last,
		       struct err *err)
{
	struct buf n = BUF_INIT;

	*ret_n = -1;
	if (query_get(req, "n", &n) == 0 && parse_int64(buf_str(&n), 0, PAGE_MAX, ret_n) < 0) {
		buf_release(&n);
		return err_set(err, -EINVAL, E_OCI_PAGINATION_NUMBER_INVALID, "n must be 0 to %d",
			       PAGE_MAX);
	}
	buf_release(&n);
	if (query_get(req, "last", ret_last) < 0)
		buf_reset(ret_last);
	return 0;
}

static void write_list(struct http_response *resp, const char *name, const char *key,
		       const cJSON *items, bool more, int64_t n)
{
	const cJSON *last = cJSON_GetArrayItem(items, cJSON_GetArraySize(items) - 1);
	const cJSON *item;
	struct jsonw w;

	resp->status = 200;
	resp->content_type = "application/json";
	jsonw_init(&w, &resp->body);
	jsonw_obj_begin(&w);
	if (name)
		jsonw_key_str(&w, "name", name);
	jsonw_key(&w, key);
	jsonw_arr_begin(&w);
	cJSON_ArrayForEach(item, items) {
		jsonw_str(&w, item->valuestring);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	if (more && last && cJSON_IsString(last)) {
		if (name)
			header_printf(resp, "Link",
				      "</v2/%s/tags/list?n=%lld&last=%s>; rel=\"next\"", name,
				      (long long)n, last->valuestring);
		else
			header_printf(resp, "Link", "</v2/_catalog?n=%lld&last=%s>; rel=\"next\"",
				      (long long)n, last->valuestring);
	}
}

static int get_catalog(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct buf last = BUF_INIT;
	cJSON *names = NULL;
	bool more = false;
	int64_t n;
	int rc;

	rc = page_params(req, &n, &last, &d->err);
	if (rc == 0)
		rc = registry_catalog(d->r, buf_str(&last), n, &names, &more, &d->err);
	if (rc == 0)
		write_list(resp, NULL, "repositories", names, more, n);
	cJSON_Delete(names);
	buf_release(&last);
	return rc;
}

static int get_tags(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct buf last = BUF_INIT;
	cJSON *tags = NULL;
	bool more = false;
	int64_t n;
	int rc;

	rc = page_params(req, &n, &last, &d->err);
	if (rc == 0)
		rc = registry_tags_list(d->r, d->name, buf_str(&last), n, &tags, &more, &d->err);
	if (rc == 0)
		write_list(resp, d->name, "tags", tags, more, n);
	cJSON_Delete(tags);
	buf_release(&last);
	return rc;
}

/* "bytes=A-B", "bytes=A-" or "bytes=-N" against size: 1 and the span, 0 to ignore it, or -1. */
static int parse_range(const char *s, uint64_t size, uint64_t *ret_off, uint64_t *ret_len)
{
	int64_t a = -1, b = -1;
	char first[32], second[32];
	const char *dash;

	if (strncasecmp(s, "bytes=", 6) != 0 || strchr(s, ','))
		return 0;
	s += 6;
	dash = strchr(s, '-');
	if (!dash || (size_t)(dash - s) >= sizeof(first) || strlen(dash + 1) >= sizeof(second))
		return -1;
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	snprintf(second, sizeof(second), "%s", dash + 1);
	if ((*first && parse_int64(first, 0, INT64_MAX, &a) < 0) ||
	    (*second && parse_int64(second, 0, INT64_MAX, &b) < 0) || (!*first && !*second))
		return -1;
	if (a < 0) { /* the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		if ((uint64_t)b > size)
			b = (int64_t)size;
		*ret_off = size - (uint64_t)b;
		*ret_len = (uint64_t)b;
		return 1;
	}
	if ((uint64_t)a >= size || (b >= 0 && b < a))
		return -1;
	if (b < 0 || (uint64_t)b >= size)
		b = (int64_t)size - 1;
	*ret_off = (uint64_t)a;
	*ret_len = (uint64_t)(b - a + 1);
	return 1;
}

static int get_blob(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	const char *range = http_header(req, "Range");
	uint64_t size, off = 0, len;
	int fd, rc, ranged = 0;

	if (!registry_digest_valid(d->ref))
		return err_set(&d->err, -EINVAL, E_OCI_DIGEST_INVALID, "invalid digest '%s'",
			       d->ref);
	rc = registry_repo_load(d->r, d->name, NULL, NULL, &d->err);
	/*
	 * A client that finds the blob here may skip its upload and put a
	 * manifest naming it a moment later: the look renews the blob's age
	 * (under the lock a collection holds for its whole pass, so the look
	 * finds the blob gone or leaves it young), and the collector's grace
	 * period covers that moment.
	 */
	registry_gc_block(d->r);
	if (rc == 0)
		rc = registry_blob_in_repo(d->r, d->name, d->ref, NULL, &d->err);
	if (rc == 0)
		rc = registry_blob_open(d->r, d->ref, &fd, &size, &d->err);
	if (rc == 0)
		futimens(fd, NULL);
	registry_gc_unblock(d->r);
	if (rc < 0)
		return rc;
	len = size;
	if (range && *range) {
		ranged = parse_range(range, size, &off, &len);
		if (ranged < 0) {
			close(fd);
			header_printf(resp, "Content-Range", "bytes */%llu",
				      (unsigned long long)size);
			return err_set(&d->err, -EINVAL, E_OCI_RANGE_INVALID,
				       "range '%.64s' is not satisfiable", range);
		}
	}
	resp->status = ranged ? 206 : 200;
	resp->content_type = "application/octet-stream";
	resp->has_fd = true;
	resp->fd = fd;
	resp->fd_offset = off;
	resp->fd_length = len;
	http_response_header(resp, "Docker-Content-Digest", d->ref);
	header_printf(resp, "ETag", "\"%s\"", d->ref);
	http_response_header(resp, "Accept-Ranges", "bytes");
	if (ranged)
		header_printf(resp, "Content-Range", "bytes %llu-%llu/%llu",
			      (unsigned long long)off, (unsigned long long)(off + len - 1),
			      (unsigned long long)size);
	return 0;
}

static int delete_blob(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	int rc;

	(void)req;
	if (!registry_digest_valid(d->ref))
		return err_set(&d->err, -EINVAL, E_OCI_DIGEST_INVALID, "invalid digest '%s'",
			       d->ref);
	rc = registry_repo_load(d->r, d->name, NULL, NULL, &d->err);
	if (rc == 0)
		rc = registry_blob_unlink(d->r, d->name, d->ref, &d->err);
	if (rc == 0)
		empty(resp, 202);
	return rc;
}

static void blob_created(struct http_response *resp, const struct dist_req *d, const char *digest)
{
	empty(resp, 201);
	header_printf(resp, "Location", "/v2/%s/blobs/%s", d->name, digest);
	http_response_header(resp, "Docker-Content-Digest", digest);
}

static int post_upload(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct buf digest = BUF_INIT, from = BUF_INIT;
	struct registry_upload *u;
	int rc;

	if (d->upload) { /* monolithic: the body is in the session already */
		query_get(req, "digest", &digest);
		u = TAKE_PTR(d->upload);
		rc = registry_upload_commit(u, buf_str(&digest), &d->err);
		if (rc == 0)
			blob_created(resp, d, buf_str(&digest));
		buf_release(&digest);
		return rc;
	}
	rc = registry_repo_ensure(d->r, d->name, d->now_ms, &d->err);
	if (rc < 0)
		return rc;
	/* a cross-repository mount, done when the other repository holds the blob */
	if (query_get(req, "mount", &digest) == 0 && query_get(req, "from", &from) == 0 &&
	    registry_digest_valid(buf_str(&digest)) && registry_name_valid(buf_str(&from)) &&
	    registry_blob_in_repo(d->r, buf_str(&from), buf_str(&digest), NULL, NULL) == 0 &&
	    registry_blob_link(d->r, d->name, buf_str(&digest), NULL) == 0) {
		blob_created(resp, d, buf_str(&digest));
		buf_release(&digest);
		buf_release(&from);
		return 0;
	}
	buf_release(&digest);
	buf_release(&from);
	rc = registry_upload_start(d->r, d->name, d->now_ms, &u, &d->err);
	if (rc < 0)
		return rc;
	empty(resp, 202);
	upload_headers(resp, d, registry_upload_uuid(u), 0);
	registry_upload_close(u);
	return 0;
}

static int get_upload(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct registry_upload *u;
	int rc;

	(void)req;
	rc = registry_upload_open(d->r, d->name, d->ref, d->now_ms, &u, &d->err);
	if (rc < 0)
		return rc;
	empty(resp, 204);
	upload_headers(resp, d, d->ref, registry_upload_offset(u));
	registry_upload_close(u);
	return 0;
}

static int patch_upload(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	(void)req;
	empty(resp, 202);
	upload_headers(resp, d, d->ref, registry_upload_offset(d->upload));
	registry_upload_close(TAKE_PTR(d->upload));
	return 0;
}

static int put_upload(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct buf digest = BUF_INIT;
	int rc;

	if (query_get(req, "digest", &digest) < 0 || !registry_digest_valid(buf_str(&digest))) {
		rc = err_set(&d->err, -EINVAL, E_OCI_DIGEST_INVALID,
			     "a digest=sha256:HEX parameter must name the blob");
		buf_release(&digest);
		return rc;
	}
	rc = registry_upload_commit(TAKE_PTR(d->upload), buf_str(&digest), &d->err);
	if (rc == 0)
		blob_created(resp, d, buf_str(&digest));
	buf_release(&digest);
	return rc;
}

static int delete_upload(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct registry_upload *u;
	int rc;

	(void)req;
	rc = registry_upload_open(d->r, d->name, d->ref, d->now_ms, &u, &d->err);
	if (rc < 0)
		return rc;
	registry_upload_cancel(u);
	empty(resp, 204);
	return 0;
}

static int get_manifest(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct registry_image img;
	uint64_t size;
	int fd, rc;

	(void)req;
	rc = registry_repo_load(d->r, d->name, NULL, NULL, &d->err);
	if (rc == 0)
		rc = registry_manifest_stat(d->r, d->name, d->ref, &img, &d->err);
	if (rc == 0)
		rc = registry_blob_open(d->r, img.digest, &fd, &size, &d->err);
	if (rc < 0)
		return rc;
	resp->status = 200;
	/* the type it was pushed with, whatever Accept says: berth converts nothing */
	resp->content_type = NULL;
	http_response_header(resp, "Content-Type", img.media_type);
	resp->has_fd = true;
	resp->fd = fd;
	resp->fd_offset = 0;
	resp->fd_length = size;
	http_response_header(resp, "Docker-Content-Digest", img.digest);
	header_printf(resp, "ETag", "\"%s\"", img.digest);
	return 0;
}

static int put_manifest(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	struct registry_image img;
	int rc;

	if (d->too_large)
		return err_set(&d->err, -EFBIG, E_OCI_MANIFEST_INVALID,
			       "manifest is larger than %u bytes", REGISTRY_MANIFEST_MAX);
	rc = registry_repo_ensure(d->r, d->name, d->now_ms, &d->err);
	if (rc == 0)
		rc = registry_manifest_put(d->r, d->name, d->ref, http_header(req, "Content-Type"),
					   d->body.data ? d->body.data : "", d->body.len, d->now_ms,
					   &img, NULL, &d->err);
	if (rc < 0)
		return rc;
	empty(resp, 201);
	header_printf(resp, "Location", "/v2/%s/manifests/%s", d->name, img.digest);
	http_response_header(resp, "Docker-Content-Digest", img.digest);
	return 0;
}

static int delete_manifest(struct dist_req *d, struct http_request *req, struct http_response *resp)
{
	int rc;

	(void)req;
	rc = registry_repo_load(d->r, d->name, NULL, NULL, &d->err);
	if (rc == 0)
		rc = registry_manifest_delete(d->r, d->name, d->ref, NULL, NULL, &d->err);
	if (rc == 0)
		empty(resp, 202);
	return rc;
}

typedef int (*dist_fn)(struct dist_req *d, struct http_request *req, struct http_response *resp);

static const struct {
	enum route route;
	const char *method; /* GET also serves HEAD */
	dist_fn fn;
} handlers[] = {
	{ R_BASE, "GET", get_base },	       { R_CATALOG, "GET", get_catalog },
	{ R_TAGS, "GET", get_tags },	       { R_MANIFEST, "GET", get_manifest },
	{ R_MANIFEST, "PUT", put_manifest },   { R_MANIFEST, "DELETE", delete_manifest },
	{ R_BLOB, "GET", get_blob },	       { R_BLOB, "DELETE", delete_blob },
	{ R_UPLOADS, "POST", post_upload },    { R_UPLOAD, "GET", get_upload },
	{ R_UPLOAD, "PATCH", patch_upload },   { R_UPLOAD, "PUT", put_upload },
	{ R_UPLOAD, "DELETE", delete_upload },
};

void registry_http_handle(struct registry *r, struct http_request *req, struct http_response *resp)
{
	struct dist_req *d = req->sink_ctx;
	const char *m = !strcmp(req->method, "HEAD") ? "GET" : req->method;
	size_t i;
	int rc = -ENOENT;

	if (!d) {
		registry_http_begin(r, req);
		d = req->sink_ctx;
		if (req->body.len)
			dist_sink(d, req->body.data, req->body.len);
	}
	http_response_header(resp, "Docker-Distribution-API-Version", "registry/2.0");
	if (d->failed) {
		if (d->err.kind == E_OCI_RANGE_INVALID && d->upload)
			upload_headers(resp, d, d->ref, registry_upload_offset(d->upload));
		write_error(resp, &d->err);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(handlers); i++)
		if (handlers[i].route == d->route && !strcmp(handlers[i].method, m))
			break;
	if (i == ARRAY_SIZE(handlers))
		rc = err_set(&d->err, -EINVAL, E_OCI_UNSUPPORTED, "unsupported");
	else
		rc = handlers[i].fn(d, req, resp);
	if (rc < 0)
		write_error(resp, &d->err);
	log_debug("registry %s %s -> %d", req->method, req->path, resp->status);
}
