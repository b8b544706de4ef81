/*
 * push.c: pushing a local image to a registry (push.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/pull.h"
#include "agent/push.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/banned.h"

#define HEADER_MAX	   8192
#define REQUEST_TIMEOUT_MS (30 * 60 * 1000)

struct pusher {
	struct httpc *http;
	const char *scheme, *host, *repository;
	const struct image_auth *auth;
	struct buf authorization;
};

/*
 * One request to the registry (url absolute, or a path on it), answering
 * one auth challenge; the body from fd (rewound for a second attempt) or
 * from body. Returns 0 with any status but 401.
 */
static int request(struct pusher *p, const char *method, const char *url, const char *content_type,
		   int fd, const void *body, size_t len, struct httpc_response *resp,
		   struct err *err)
{
	_cleanup_buf_ struct buf full = BUF_INIT, ct = BUF_INIT;

	if (url[0] == '/')
		buf_printf(&full, "%s://%s%s", p->scheme, p->host, url);
	else
		buf_puts(&full, url);
	if (content_type)
		buf_printf(&ct, "Content-Type: %s", content_type);
	for (int attempt = 0;; attempt++) {
		struct httpc_request req = HTTPC_REQUEST_INIT;
		const char *headers[3] = { NULL, NULL, NULL };
		char challenge[HEADER_MAX];
		size_t n = 0;
		int r;

		if (p->authorization.len)
			headers[n++] = buf_str(&p->authorization);
		if (content_type)
			headers[n++] = buf_str(&ct);
		req.method = method;
		req.url = buf_str(&full);
		req.headers = headers;
		req.body = body;
		req.body_len = len;
		req.body_fd = fd;
		req.max_body = 1 << 20;
		req.timeout_ms = REQUEST_TIMEOUT_MS;
		if (fd >= 0 && lseek(fd, 0, SEEK_SET) < 0)
			return err_set(err, -errno, E_SERVER, "rewinding a blob: %s",
				       strerror(errno));
		httpc_response_release(resp);
		httpc_response_init(resp);
		r = httpc_do(p->http, &req, resp, err);
		if (r < 0)
			return r;
		if (resp->status != 401)
			return 0;
		if (attempt > 0 ||
		    !httpc_header(resp, "WWW-Authenticate", challenge, sizeof(challenge)))
			return err_set(
				err, -EACCES, E_ACCESS_DENIED,
				"%s/%s: the registry refused %s (401)%s", p->host, p->repository,
				p->auth && p->auth->username ? "the credentials"
							     : "an anonymous push",
				p->auth && p->auth->username ? "" : ": credentials are needed");
		r = pull_auth_answer(p->http, p->host, p->repository, p->auth, challenge,
				     "pull,push", &p->authorization, err);
		if (r < 0)
			return r;
	}
}

static int status_error(const struct pusher *p, const struct httpc_response *resp, const char *what,
			struct err *err)
{
	return err_set(err, resp->status == 403 ? -EACCES : -EPROTO,
		       resp->status == 403   ? E_ACCESS_DENIED
		       : resp->status == 404 ? E_REPOSITORY_NOT_FOUND
					     : E_SERVER,
		       "%s/%s: %s: the registry answered %ld %.200s", p->host, p->repository, what,
		       resp->status, resp->body.data ? resp->body.data : "");
}

/* Upload blob digest from the store unless the registry has it. 1 when it had it. */
static int push_blob(struct pusher *p, const char *dir, const char *digest, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, url = BUF_INIT;
	struct httpc_response resp;
	char location[HEADER_MAX];
	struct stat sb;
	int fd, r;

	httpc_response_init(&resp);
	buf_printf(&url, "/v2/%s/blobs/%s", p->repository, digest);
	r = request(p, "HEAD", buf_str(&url), NULL, -1, NULL, 0, &resp, err);
	if (r == 0 && resp.status == 200) {
		httpc_response_release(&resp);
		return 1;
	}
	images_blob_path(dir, digest, &path);
	fd = open(buf_str(&path), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		r = err_set(err, -errno, E_CLIENT, "blob %s is missing from the store: %s", digest,
			    strerror(errno));
		goto out;
	}
	buf_reset(&url);
	buf_printf(&url, "/v2/%s/blobs/uploads/", p->repository);
	if (r == 0)
		r = request(p, "POST", buf_str(&url), NULL, -1, "", 0, &resp, err);
	if (r == 0 && resp.status != 202)
		r = status_error(p, &resp, "starting an upload", err);
	if (r == 0 && !httpc_header(&resp, "Location", location, sizeof(location)))
		r = err_set(err, -EPROTO, E_SERVER, "%s: an upload without a Location", p->host);
	if (r < 0)
		goto out;
	buf_reset(&url);
	buf_printf(&url, "%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?", digest);
	r = request(p, "PUT", buf_str(&url), "application/octet-stream", fd, NULL,
		    (size_t)sb.st_size, &resp, err);
	if (r == 0 && resp.status != 201)
		r = status_error(p, &resp, "uploading a blob", err);
out:
	if (fd >= 0)
		close(fd);
	httpc_response_release(&resp);
	return r;
}

int image_push(struct images *s, const char *local, const char *remote,
	       const struct image_auth *auth, bool insecure, FILE *progress,
	       char ret_digest[LAYER_DIGEST_SIZE], struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL, *manifest = NULL;
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT, url = BUF_INIT;
	struct pusher p = { 0 };
	struct image_ref ref;
	struct httpc_response resp;
	const cJSON *layers;
	const char *dir = images_dir(s), *mt;
	char got[HEADER_MAX];
	int r;

	r = image_record_get(s, local, &rec, err);
	if (r < 0)
		return r;
	r = image_ref_parse(remote ? remote : local, &ref, err);
	if (r < 0)
		return r;
	if (!ref.tag[0] && !ref.digest[0])
		snprintf(ref.tag, sizeof(ref.tag), "latest");
	layers = json_arr(rec, "layers");
	if (!layers || !json_str(rec, "configDigest"))
		return err_set(err, -ENOENT, E_CLIENT,
			       "image %s has no blobs in this store (the agent pulled it): "
			       "pull it with `berth image pull` or build it to push it",
			       local);
	images_blob_path(dir, json_str(rec, "digest"), &path);
	r = fs_read_file(buf_str(&path), PULL_DOC_MAX, &data);
	if (r < 0)
		return err_set(err, r, E_CLIENT, "the manifest of %s is missing from the store: %s",
			       local, strerror(-r));
	manifest = cJSON_ParseWithLength(data.data ? data.data : "", data.len);
	mt = json_str(manifest, "mediaType") ?: "application/vnd.oci.image.manifest.v1+json";

	p.http = httpc_new(NULL);
	if (!p.http)
		return err_set(err, -ENOMEM, E_SERVER, "cannot start an HTTP client");
	p.scheme = insecure || pull_host_is_loopback(ref.registry) ? "http" : "https";
	p.host = !strcmp(ref.registry, "docker.io") ? "registry-1.docker.io" : ref.registry;
	p.repository = ref.repository;
	p.auth = auth;
	buf_init(&p.authorization);
	httpc_response_init(&resp);
	for (const cJSON *l = layers->child; l && r >= 0; l = l->next) {
		const char *d = json_str(l, "digest");

		if (!d || !layer_digest_valid(d)) {
			r = err_set(err, -EINVAL, E_CLIENT, "a bad layer in the record of %s",
				    local);
			break;
		}
		r = push_blob(&p, dir, d, err);
		if (r >= 0 && progress)
			fprintf(progress, "%s %s\n", r == 1 ? "exists" : "pushed", d);
	}
	if (r >= 0) {
		r = push_blob(&p, dir, json_str(rec, "configDigest"), err);
		if (r >= 0 && progress)
			fprintf(progress, "%s %s (config)\n", r == 1 ? "exists" : "pushed",
				json_str(rec, "configDigest"));
	}
	if (r >= 0) {
		buf_printf(&url, "/v2/%s/manifests/%s", ref.repository,
			   ref.tag[0] ? ref.tag : ref.digest);
		r = request(&p, "PUT", buf_str(&url), mt, -1, data.data, data.len, &resp, err);
		if (r == 0 && resp.status != 201)
			r = status_error(&p, &resp, "putting the manifest", err);
	}
	if (r >= 0) {
		snprintf(ret_digest, LAYER_DIGEST_SIZE, "%s", json_str(rec, "digest"));
		if (httpc_header(&resp, "Docker-Content-Digest", got, sizeof(got)) &&
		    strcmp(got, ret_digest))
			r = err_set(err, -EPROTO, E_SERVER, "%s stored the manifest as %s, not %s",
				    p.host, got, ret_digest);
	}
	httpc_response_release(&resp);
	buf_release(&p.authorization);
	httpc_free(p.http);
	return r < 0 ? r : 0;
}
