/*
 * pull.c: pulling one image from an OCI distribution registry (pull.h).
 *
 * Auth follows the registry's 401 challenge: `Basic` is answered with the
 * credentials given; `Bearer realm=...,service=...,scope=...` with a token
 * fetched from the realm (with the credentials as Basic auth when there are
 * some), as the Docker token protocol has it. The Authorization found is
 * kept for the rest of the pull.
 *
 * Nothing is trusted before it is checked: a manifest asked for by digest
 * must hash to it, one asked for by tag must hash to Docker-Content-Digest
 * when the registry sends one; the config must hash to the manifest's
 * config descriptor, list as many diff_ids as there are layers; each layer
 * is written to a temporary file and unpacked by layer_unpack, which checks
 * both its compressed digest and its diff_id before it becomes visible.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/pull.h"
#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/banned.h"

static _Atomic uint64_t layers_downloaded, bytes_downloaded;

uint64_t pull_layers_downloaded(void)
{
	return atomic_load(&layers_downloaded);
}

uint64_t pull_bytes_downloaded(void)
{
	return atomic_load(&bytes_downloaded);
}

#define MT_OCI_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_CONFIG	   "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define ACCEPT_MANIFESTS \
	"Accept: " MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST

#define REQUEST_TIMEOUT_MS (30L * 60 * 1000)
#define HEADER_MAX	   4096

struct client {
	struct httpc *http;
	const struct pull_target *t;
	const char *scheme;
	const char *host;
	struct buf authorization; /* "Authorization: ..." once known */
};

static int fetch_retry(struct httpc *http, const char *host, const char *repository,
		       const struct httpc_request *req, struct httpc_response *resp,
		       struct err *err);

/* --- auth -------------------------------------------------------------- */

/*
 * A challenge is `SCHEME key=value, key="quoted \" value", ...` (RFC 7235's
 * auth-param list): walk it pair by pair, so that a key inside another's
 * quoted value is not taken for a parameter.
 */
bool pull_challenge_param(const char *ch, const char *name, struct buf *out)
{
	size_t n = strlen(name);
	const char *p = ch + strcspn(ch, " "); /* past the scheme */

	for (;;) {
		const char *key;
		size_t klen;
		bool match;

		p += strspn(p, " ,\t");
		if (!*p)
			return false;
		key = p;
		p += strcspn(p, "= ,\t");
		klen = (size_t)(p - key);
		p += strspn(p, " \t");
		if (*p != '=')
			continue; /* a bare token (token68): no value */
		p++;
		p += strspn(p, " \t");
		match = klen == n && !strncasecmp(key, name, n);
		if (*p == '"') {
			size_t start = out->len;

			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (match)
					buf_putc(out, *p);
			}
			if (!*p) {
				/* an unclosed quote: nothing is taken from it */
				out->len = start;
				if (out->data)
					out->data[start] = 0;
				return false;
			}
			p++;
		} else {
			const char *v = p;

			p += strcspn(p, " ,\t");
			if (match)
				buf_append(out, v, (size_t)(p - v));
		}
		if (match)
			return true;
	}
}

/* Percent-encode s for a query string. */
static void query_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			buf_putc(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

static void basic_header(const struct image_auth *auth, struct buf *out)
{
	_cleanup_buf_ struct buf pair = BUF_INIT;

	buf_printf(&pair, "%s:%s", auth->username, auth->password ? auth->password : "");
	buf_puts(out, "Authorization: Basic ");
	base64_encode(out, pair.data, pair.len, false);
}

int pull_auth_answer(struct httpc *http, const char *host, const char *repository,
		     const struct image_auth *auth, const char *challenge, const char *actions,
		     struct buf *ret_authorization, struct err *err)
{
	_cleanup_buf_ struct buf realm = BUF_INIT, service = BUF_INIT, scope = BUF_INIT,
				 url = BUF_INIT, basic = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	struct httpc_response resp;
	struct httpc_request req = HTTPC_REQUEST_INIT;
	const char *headers[2] = { NULL, NULL };
	const char *token;
	int r;

	buf_reset(ret_authorization);
	if (!strncasecmp(challenge, "Basic", 5)) {
		if (!auth || !auth->username)
			return err_set(
				err, -EACCES, E_ACCESS_DENIED,
				"%s/%s: the registry asks for credentials and none were given",
				host, repository);
		basic_header(auth, ret_authorization);
		return 0;
	}
	if (strncasecmp(challenge, "Bearer", 6) != 0 ||
	    !pull_challenge_param(challenge, "realm", &realm))
		return err_set(err, -EACCES, E_ACCESS_DENIED,
			       "%s answers with an authentication challenge berth does not know: "
			       "%.100s",
			       host, challenge);
	if (strncmp(buf_str(&realm), "http://", 7) != 0 &&
	    strncmp(buf_str(&realm), "https://", 8) != 0)
		return err_set(err, -EACCES, E_ACCESS_DENIED, "%s: bad token realm %.200s", host,
			       buf_str(&realm));
	buf_puts(&url, buf_str(&realm));
	buf_putc(&url, strchr(buf_str(&realm), '?') ? '&' : '?');
	if (pull_challenge_param(challenge, "service", &service)) {
		buf_puts(&url, "service=");
		query_escape(&url, buf_str(&service));
		buf_putc(&url, '&');
	}
	if (!pull_challenge_param(challenge, "scope", &scope))
		buf_printf(&scope, "repository:%s:%s", repository, actions);
	buf_puts(&url, "scope=");
	query_escape(&url, buf_str(&scope));
	if (auth && auth->username) {
		basic_header(auth, &basic);
		headers[0] = buf_str(&basic);
	}
	req.method = "GET";
	req.url = buf_str(&url);
	req.headers = headers;
	req.max_body = 1 << 20;
	req.timeout_ms = 60000;
	req.stall_timeout_s = PULL_INACTIVITY_DEFAULT_S;
	req.follow_redirects = true;
	httpc_response_init(&resp);
	r = fetch_retry(http, host, repository, &req, &resp, err);
	if (r == 0 && resp.status != 200)
		r = err_set(err, -EACCES,
			    resp.status == 401 || resp.status == 403 ? E_ACCESS_DENIED : E_SERVER,
			    "%s: the token service %s answered %ld", host, buf_str(&realm),
			    resp.status);
	if (r == 0) {
		doc = cJSON_ParseWithLength(resp.body.data ? resp.body.data : "", resp.body.len);
		token = json_str(doc, "token") ? json_str(doc, "token")
					       : json_str(doc, "access_token");
		if (!token || !*token || strlen(token) > 16384)
			r = err_set(err, -EPROTO, E_SERVER,
				    "%s: the token service answered no token", host);
		else
			buf_printf(ret_authorization, "Authorization: Bearer %s", token);
	}
	httpc_response_release(&resp);
	return r;
}

/* Answer a challenge: set c->authorization, or fail. */
static int authenticate(struct client *c, const char *challenge, struct err *err)
{
	return pull_auth_answer(c->http, c->host, c->t->ref->repository, c->t->auth, challenge,
				"pull", &c->authorization, err);
}

/* --- requests ---------------------------------------------------------- */

static void pause_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int64_t pull_retry_delay_ms(int attempt, int64_t retry_after_ms)
{
	int64_t d = PULL_BACKOFF_MS;

	if (retry_after_ms >= 0)
		return retry_after_ms < PULL_RETRY_AFTER_MAX_MS ? retry_after_ms
								: PULL_RETRY_AFTER_MAX_MS;
	for (int i = 1; i < attempt && d < PULL_RETRY_AFTER_MAX_MS; i++)
		d *= 2;
	return d < PULL_RETRY_AFTER_MAX_MS ? d : PULL_RETRY_AFTER_MAX_MS;
}

/* Whether a request that ended so is worth another attempt. */
static bool transient(int r, const struct httpc_response *resp)
{
	if (r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ECONNRESET)
		return true; /* no answer: refused, broken off, stalled (httpc.h) */
	return r == 0 && (resp->status >= 500 || resp->status == 429);
}

/*
 * One request, tried again while it fails in a way that may pass
 * (transient()), PULL_ATTEMPTS times at most; a download into sink_fd
 * starts over each time. host and repository name the pull in the log.
 */
static int fetch_retry(struct httpc *http, const char *host, const char *repository,
		       const struct httpc_request *req, struct httpc_response *resp,
		       struct err *err)
{
	for (int attempt = 1;; attempt++) {
		int64_t delay;
		int r;

		if (req->sink_fd >= 0 &&
		    (ftruncate(req->sink_fd, 0) < 0 || lseek(req->sink_fd, 0, SEEK_SET) < 0))
			return err_set(err, -errno, E_SERVER, "truncating a download: %s",
				       strerror(errno));
		r = httpc_do(http, req, resp, err);
		if (!transient(r, resp) || attempt >= PULL_ATTEMPTS)
			return r;
		delay = pull_retry_delay_ms(attempt,
					    r == 0 ? httpc_retry_after_ms(resp, now_ms()) : -1);
		if (r == 0)
			log_debug("pull %s/%s: HTTP %ld from %s, trying again in %lld ms", host,
				  repository, resp->status, req->url, (long long)delay);
		else
			log_debug("pull %s/%s: %s; trying again in %lld ms", host, repository,
				  err->msg, (long long)delay);
		pause_ms(delay);
	}
}

/* fetch_retry for the pull c. */
static int fetch(struct client *c, const struct httpc_request *req, struct httpc_response *resp,
		 struct err *err)
{
	return fetch_retry(c->http, c->host, c->t->ref->repository, req, resp, err);
}

/*
 * GET path of the registry (answering one auth challenge), into resp's body
 * or sink_fd. Returns 0 with any status but 401.
 */
static int get(struct client *c, const char *path, const char *accept, int sink_fd, size_t max_body,
	       uint64_t max_sink, struct httpc_response *resp, struct err *err)
{
	_cleanup_buf_ struct buf url = BUF_INIT;

	buf_printf(&url, "%s://%s%s", c->scheme, c->host, path);
	for (int attempt = 0;; attempt++) {
		struct httpc_request req = HTTPC_REQUEST_INIT;
		const char *headers[3] = { NULL, NULL, NULL };
		char challenge[HEADER_MAX];
		size_t n = 0;
		int r;

		if (c->authorization.len)
			headers[n++] = buf_str(&c->authorization);
		if (accept)
			headers[n++] = accept;
		req.method = "GET";
		req.url = buf_str(&url);
		req.headers = headers;
		req.sink_fd = sink_fd;
		req.max_body = max_body;
		req.max_sink = max_sink;
		req.timeout_ms = REQUEST_TIMEOUT_MS;
		req.stall_timeout_s =
			c->t->inactivity_s > 0 ? c->t->inactivity_s : PULL_INACTIVITY_DEFAULT_S;
		req.follow_redirects = true;
		r = fetch(c, &req, resp, err);
		if (r < 0)
			return r;
		if (resp->status != 401)
			return 0;
		if (attempt > 0 ||
		    !httpc_header(resp, "WWW-Authenticate", challenge, sizeof(challenge))) {
			if (!c->t->auth || !c->t->auth->username)
				return err_set(err, -EACCES, E_ACCESS_DENIED,
					       "%s/%s: the registry refuses anonymous pulls (401): "
					       "credentials are needed",
					       c->host, c->t->ref->repository);
			return err_set(
				err, -EACCES, E_ACCESS_DENIED,
				"%s/%s: the registry refused the credentials of user '%.64s' "
				"(401)",
				c->host, c->t->ref->repository, c->t->auth->username);
		}
		r = authenticate(c, challenge, err);
		if (r < 0)
			return r;
	}
}

/* The registry's error for a status that is not 200. */
static int status_error(const struct client *c, const struct httpc_response *resp, const char *what,
			struct err *err)
{
	if (resp->status == 404)
		return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND, "%s/%s: %s not found (404)",
			       c->host, c->t->ref->repository, what);
	if (resp->status == 403)
		return err_set(err, -EACCES, E_ACCESS_DENIED, "%s/%s: access to %s denied", c->host,
			       c->t->ref->repository, what);
	return err_set(err, -EIO, E_SERVER, "%s/%s: %s: HTTP %ld", c->host, c->t->ref->repository,
		       what, resp->status);
}

/* Keep data (checked: its sha256 is digest) as a blob of the store. */
static int keep_doc(struct client *c, const char *digest, const void *data, size_t len,
		    struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, dir = BUF_INIT;
	int r;

	if (!c->t->keep_blobs)
		return 0;
	buf_printf(&dir, "%s/blobs/sha256", c->t->store_dir);
	r = fs_mkdir_p(buf_str(&dir), 0700);
	images_blob_path(c->t->store_dir, digest, &path);
	if (r == 0)
		r = fs_write_atomic(buf_str(&path), data, len);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
	return 0;
}

/*
 * Keep the downloaded blob in fd as digest, checking it when check (the
 * unpack did not read it): copied, since fd's file has no name.
 */
static int keep_layer(struct client *c, const char *digest, int fd, bool check, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, tmp = BUF_INIT, dir = BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	char got[DIGEST_SIZE], hex[17], chunk[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned mdlen;
	ssize_t n;
	int out, r = 0;

	buf_printf(&dir, "%s/blobs/sha256", c->t->store_dir);
	r = fs_mkdir_p(buf_str(&dir), 0700);
	random_hex(hex, 8);
	buf_printf(&tmp, "%s/.tmp-%s", buf_str(&dir), hex);
	out = r < 0 ? r : open(buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || !ctx || lseek(fd, 0, SEEK_SET) < 0) {
		EVP_MD_CTX_free(ctx);
		if (out >= 0)
			close(out);
		unlink(buf_str(&tmp));
		return err_set(err, -EIO, E_SERVER, "%s: %s", buf_str(&tmp), strerror(errno));
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (r == 0 && (n = read(fd, chunk, sizeof(chunk))) > 0) {
		EVP_DigestUpdate(ctx, chunk, (size_t)n);
		if (write(out, chunk, (size_t)n) != n)
			r = err_set(err, -EIO, E_SERVER, "%s: %s", buf_str(&tmp), strerror(errno));
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	digest_format(md, got);
	if (r == 0 && check && strcmp(got, digest) != 0)
		r = err_set(err, -EBADMSG, E_INVALID_LAYER, "the layer's content is %s, not %s",
			    got, digest);
	if (r == 0 && fsync(out) < 0)
		r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&tmp), strerror(errno));
	close(out);
	images_blob_path(c->t->store_dir, digest, &path);
	if (r == 0 && rename(buf_str(&tmp), buf_str(&path)) < 0)
		r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path), strerror(errno));
	if (r < 0)
		unlink(buf_str(&tmp));
	return r;
}

/* A manifest or index by tag or digest, checked; ret_digest is its digest. */
static int get_manifest(struct client *c, const char *reference, const char *expect_digest,
			cJSON **ret_doc, char ret_digest[DIGEST_SIZE], struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	struct httpc_response resp;
	char header[256];
	int r;

	buf_printf(&path, "/v2/%s/manifests/%s", c->t->ref->repository, reference);
	httpc_response_init(&resp);
	r = get(c, buf_str(&path), ACCEPT_MANIFESTS, -1, PULL_DOC_MAX, 0, &resp, err);
	if (r == -EFBIG)
		err_set(err, r, E_LIMIT_EXCEEDED, "%s/%s: the manifest is over %u bytes", c->host,
			c->t->ref->repository, PULL_DOC_MAX);
	if (r == 0 && resp.status != 200) {
		char what[128 + 16];

		snprintf(what, sizeof(what), "manifest '%s'", reference);
		r = status_error(c, &resp, what, err);
	}
	if (r == 0) {
		digest_sha256(resp.body.data ? resp.body.data : "", resp.body.len, ret_digest);
		if (expect_digest && strcmp(expect_digest, ret_digest) != 0)
			r = err_set(err, -EBADMSG, E_INVALID_LAYER,
				    "%s/%s: the manifest's content is %s, not the %s asked for",
				    c->host, c->t->ref->repository, ret_digest, expect_digest);
		else if (!expect_digest &&
			 httpc_header(&resp, "Docker-Content-Digest", header, sizeof(header)) &&
			 digest_valid(header) && strcmp(header, ret_digest) != 0)
			r = err_set(err, -EBADMSG, E_INVALID_LAYER,
				    "%s/%s: the manifest's content is %s, the registry says %s",
				    c->host, c->t->ref->repository, ret_digest, header);
	}
	if (r == 0) {
		r = keep_doc(c, ret_digest, resp.body.data ? resp.body.data : "", resp.body.len,
			     err);
		*ret_doc = r < 0 ? NULL
				 : cJSON_ParseWithLength(resp.body.data ? resp.body.data : "",
							 resp.body.len);
		if (!cJSON_IsObject(*ret_doc)) {
			cJSON_Delete(*ret_doc);
			*ret_doc = NULL;
			r = err_set(err, -EBADMSG, E_SERVER, "%s/%s: the manifest is not JSON",
				    c->host, c->t->ref->repository);
		}
	}
	httpc_response_release(&resp);
	return r;
}

static bool is_index(const cJSON *doc)
{
	const char *mt = json_str(doc, "mediaType");

	if (mt)
		return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
	return cJSON_IsArray(json_get(doc, "manifests")) && !json_get(doc, "layers");
}

const char *pull_machine_arch(const char **ret_variant)
{
	static struct utsname u;

	*ret_variant = NULL;
	if (uname(&u) < 0)
		return "amd64";
	if (!strcmp(u.machine, "x86_64"))
		return "amd64";
	if (!strcmp(u.machine, "aarch64")) {
		*ret_variant = "v8";
		return "arm64";
	}
	if (!strncmp(u.machine, "armv7", 5)) {
		*ret_variant = "v7";
		return "arm";
	}
	if (!strcmp(u.machine, "i686") || !strcmp(u.machine, "i386"))
		return "386";
	return u.machine;
}

int pull_select_platform(const cJSON *index, const char *os, const char *arch, const char *variant,
			 char ret_digest[LAYER_DIGEST_SIZE], const char **ret_media_type,
			 struct err *err)
{
	const cJSON *list = json_arr(index, "manifests"), *best = NULL;

	for (const cJSON *m = list ? list->child : NULL; m; m = m->next) {
		const cJSON *p = json_obj(m, "platform");
		const char *v = json_str(p, "variant");

		if (!p || !json_str(p, "os") || !json_str(p, "architecture") ||
		    strcmp(json_str(p, "os"), os) != 0 ||
		    strcmp(json_str(p, "architecture"), arch) != 0)
			continue;
		if (!digest_valid(json_str(m, "digest")))
			continue;
		/* an exact variant wins; an entry without one does when nothing better comes */
		if (variant && v && !strcmp(v, variant)) {
			best = m;
			break;
		}
		if (!best && (!v || !variant))
			best = m;
	}
	if (!best)
		return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND,
			       "no manifest for platform %s/%s%s%s in the image index", os, arch,
			       variant ? "/" : "", variant ? variant : "");
	snprintf(ret_digest, LAYER_DIGEST_SIZE, "%s", json_str(best, "digest"));
	if (ret_media_type)
		*ret_media_type = json_str(best, "mediaType");
	return 0;
}

/* The image config, checked against its descriptor. */
static int get_config(struct client *c, const cJSON *descriptor, cJSON **ret, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	const char *digest = json_str(descriptor, "digest");
	struct httpc_response resp;
	char got[DIGEST_SIZE];
	int r;

	if (!digest_valid(digest))
		return err_set(err, -EBADMSG, E_SERVER, "%s/%s: the manifest has no valid config",
			       c->host, c->t->ref->repository);
	buf_printf(&path, "/v2/%s/blobs/%s", c->t->ref->repository, digest);
	httpc_response_init(&resp);
	r = get(c, buf_str(&path), NULL, -1, PULL_DOC_MAX, 0, &resp, err);
	if (r == -EFBIG)
		err_set(err, r, E_LIMIT_EXCEEDED, "%s/%s: the config is over %u bytes", c->host,
			c->t->ref->repository, PULL_DOC_MAX);
	if (r == 0 && resp.status != 200)
		r = status_error(c, &resp, "config", err);
	if (r == 0) {
		digest_sha256(resp.body.data ? resp.body.data : "", resp.body.len, got);
		if (strcmp(got, digest) != 0)
			r = err_set(err, -EBADMSG, E_INVALID_LAYER,
				    "%s/%s: the config's content is %s, not %s", c->host,
				    c->t->ref->repository, got, digest);
	}
	if (r == 0)
		r = keep_doc(c, digest, resp.body.data ? resp.body.data : "", resp.body.len, err);
	if (r == 0) {
		*ret = cJSON_ParseWithLength(resp.body.data, resp.body.len);
		if (!cJSON_IsObject(*ret)) {
			cJSON_Delete(*ret);
			*ret = NULL;
			r = err_set(err, -EBADMSG, E_SERVER, "%s/%s: the config is not JSON",
				    c->host, c->t->ref->repository);
		}
	}
	httpc_response_release(&resp);
	return r;
}

/*
 * Download layer descriptor and unpack it as diff_id (skipped when the store
 * has it); a layer unpacked here is added to unpacked.
 */
static int get_layer(struct client *c, const cJSON *descriptor, const char *diff_id,
		     cJSON *unpacked, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, file = BUF_INIT;
	const char *digest = json_str(descriptor, "digest");
	const cJSON *size = json_get(descriptor, "size");
	struct layer_unpack_opts opts = { .diff_id = diff_id, .digest = digest };
	struct layer_info info = { 0 };
	struct httpc_response resp;
	uint64_t max = 0;
	char hex[17];
	int fd, r;

	bool have = layer_exists(c->t->store_dir, diff_id);

	if (have && !c->t->keep_blobs)
		return 0;
	if (have && digest_valid(digest)) {
		_cleanup_buf_ struct buf blob = BUF_INIT;

		images_blob_path(c->t->store_dir, digest, &blob);
		if (access(buf_str(&blob), F_OK) == 0)
			return 0;
	}
	if (!digest_valid(digest))
		return err_set(err, -EBADMSG, E_SERVER, "%s/%s: a layer has no valid digest",
			       c->host, c->t->ref->repository);
	if (size && (!cJSON_IsNumber(size) || size->valuedouble < 0 ||
		     size->valuedouble > (double)LAYER_MAX_BYTES))
		return err_set(err, -EBADMSG, E_SERVER, "%s/%s: layer %s has a bad size", c->host,
			       c->t->ref->repository, digest);
	if (size && size->valuedouble > 0)
		max = (uint64_t)size->valuedouble;
	random_hex(hex, 8);
	buf_printf(&file, "%s/%s.%s", c->t->downloads_dir, digest + 7, hex);
	fd = open(buf_str(&file), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&file), strerror(errno));
	unlink(buf_str(&file)); /* only this fd holds it: nothing is left whatever happens */
	buf_printf(&path, "/v2/%s/blobs/%s", c->t->ref->repository, digest);
	httpc_response_init(&resp);
	r = get(c, buf_str(&path), NULL, fd, 0, max, &resp, err);
	if (r == -EFBIG)
		err_set(err, r, E_INVALID_LAYER,
			"the registry sent more than the %llu bytes its "
			"manifest says",
			(unsigned long long)max);
	if (r == 0 && resp.status != 200)
		r = status_error(c, &resp, "blob", err);
	httpc_response_release(&resp);
	if (r == 0) {
		off_t got = lseek(fd, 0, SEEK_END);

		atomic_fetch_add(&layers_downloaded, 1);
		if (got > 0)
			atomic_fetch_add(&bytes_downloaded, (uint64_t)got);
	}
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = err_set(err, -errno, E_SERVER, "seek: %s", strerror(errno));
	if (r == 0 && !have)
		r = layer_unpack(c->t->store_dir, fd, &opts, &info, err);
	else if (r == 0)
		info.reused = true;
	/* a layer unpacked here was checked on the way; one the store had was not */
	if (r == 0 && c->t->keep_blobs)
		r = keep_layer(c, digest, fd, have, err);
	close(fd);
	if (r < 0)
		return err_wrap(err, "%s/%s: layer %s", c->host, c->t->ref->repository, digest);
	if (!info.reused)
		cJSON_AddItemToArray(unpacked, cJSON_CreateString(diff_id));
	return 0;
}

bool pull_host_is_loopback(const char *host)
{
	size_t n = strcspn(host, ":");
	unsigned dots = 0;

	if (!strncmp(host, "[::1]", 5))
		return host[5] == 0 || host[5] == ':';
	if (n == 9 && !strncmp(host, "localhost", 9))
		return true;
	/* an IPv4 literal 127.x.y.z, not a name such as 127.example.com */
	if (n < 7 || strncmp(host, "127.", 4) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (host[i] == '.')
			dots++;
		else if (host[i] < '0' || host[i] > '9')
			return false;
	}
	return dots == 3;
}

bool pull_config_type_ok(const char *media_type)
{
	return !media_type || !strcmp(media_type, MT_OCI_CONFIG) ||
	       !strcmp(media_type, MT_DOCKER_CONFIG);
}

int pull_image(struct httpc *http, const struct pull_target *t, struct pulled *ret, struct err *err)
{
	struct client c = { .http = http, .t = t };
	_cleanup_json_ cJSON *doc = NULL;
	char digest[DIGEST_SIZE];
	const cJSON *layers, *diff_ids;
	const char *variant, *arch = pull_machine_arch(&variant);
	size_t n_layers = 0, n_diff = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->unpacked = cJSON_CreateArray();
	if (!ret->unpacked)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	buf_init(&c.authorization);
	if (t->auth && t->auth->username && t->auth->basic_first)
		basic_header(t->auth, &c.authorization);
	c.host = !strcmp(t->ref->registry, "docker.io") ? "registry-1.docker.io" : t->ref->registry;
	c.scheme = t->insecure || pull_host_is_loopback(c.host) ? "http" : "https";

	r = get_manifest(&c, t->ref->digest[0] ? t->ref->digest : t->ref->tag,
			 t->ref->digest[0] ? t->ref->digest : NULL, &doc, digest, err);
	if (r == 0 && is_index(doc)) {
		char child[DIGEST_SIZE];
		const char *mt;

		r = pull_select_platform(doc, "linux", arch, variant, child, &mt, err);
		if (r < 0)
			err_wrap(err, "%s/%s", c.host, t->ref->repository);
		cJSON_Delete(doc);
		doc = NULL;
		if (r == 0)
			r = get_manifest(&c, child, child, &doc, digest, err);
		if (r == 0 && is_index(doc))
			r = err_set(err, -EBADMSG, E_SERVER, "%s/%s: an index inside an index",
				    c.host, t->ref->repository);
	}
	if (r < 0)
		goto out;
	if (t->cached_digest && !strcmp(t->cached_digest, digest)) {
		snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
		ret->unchanged = true;
		goto out;
	}
	layers = json_arr(doc, "layers");
	if (!layers || !json_obj(doc, "config")) {
		r = err_set(err, -EBADMSG, E_SERVER, "%s/%s: not an image manifest (%s)", c.host,
			    t->ref->repository, json_str(doc, "mediaType") ?: "no media type");
		goto out;
	}
	if (!pull_config_type_ok(json_str(json_obj(doc, "config"), "mediaType"))) {
		r = err_set(err, -EBADMSG, E_INVALID_PARAMETER,
			    "%s/%s: not a container image: its config is a %.100s", c.host,
			    t->ref->repository, json_str(json_obj(doc, "config"), "mediaType"));
		goto out;
	}
	r = get_config(&c, json_obj(doc, "config"), &ret->config, err);
	if (r < 0)
		goto out;
	diff_ids = json_arr(json_obj(ret->config, "rootfs"), "diff_ids");
	for (const cJSON *l = layers->child; l; l = l->next, n_layers++)
		if (!cJSON_IsObject(l)) {
			r = err_set(err, -EBADMSG, E_SERVER,
				    "%s/%s: a layer descriptor is not an "
				    "object",
				    c.host, t->ref->repository);
			goto out;
		}
	for (const cJSON *d = diff_ids ? diff_ids->child : NULL; d; d = d->next, n_diff++)
		if (!cJSON_IsString(d) || !digest_valid(d->valuestring)) {
			r = err_set(
				err, -EBADMSG, E_INVALID_LAYER,
				"%s/%s: the config's diff_ids hold something not a sha256 digest",
				c.host, t->ref->repository);
			goto out;
		}
	if (n_layers == 0 || n_layers != n_diff) {
		r = err_set(err, -EBADMSG, E_INVALID_LAYER,
			    "%s/%s: the manifest has %zu layers and the config %zu diff_ids",
			    c.host, t->ref->repository, n_layers, n_diff);
		goto out;
	}
	if (n_layers > PULL_MAX_LAYERS) {
		r = err_set(err, -E2BIG, E_LIMIT_EXCEEDED, "%s/%s: %zu layers, over the %u allowed",
			    c.host, t->ref->repository, n_layers, PULL_MAX_LAYERS);
		goto out;
	}
	{
		const cJSON *l = layers->child, *d = diff_ids->child;

		for (; l && d && r == 0; l = l->next, d = d->next) {
			r = get_layer(&c, l, d->valuestring, ret->unpacked, err);
			ret->size += (uint64_t)json_int(l, "size", 0);
		}
	}
	if (r < 0)
		goto out;
	ret->diff_ids = cJSON_Duplicate(diff_ids, true);
	if (!ret->diff_ids)
		r = err_set(err, -ENOMEM, E_SERVER, "out of memory");
	snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
	if (r == 0 && t->keep_blobs) {
		ret->layers = cJSON_Duplicate(layers, true);
		snprintf(ret->config_digest, sizeof(ret->config_digest), "%s",
			 json_str(json_obj(doc, "config"), "digest"));
	}
out:
	buf_release(&c.authorization);
	if (r < 0) {
		/* what a failed pull leaves: only the layers it unpacked */
		cJSON_Delete(ret->config);
		cJSON_Delete(ret->diff_ids);
		ret->config = NULL;
		ret->diff_ids = NULL;
		ret->digest[0] = 0;
		ret->size = 0;
	}
	return r;
}

void pulled_release(struct pulled *p)
{
	cJSON_Delete(p->config);
	cJSON_Delete(p->diff_ids);
	cJSON_Delete(p->unpacked);
	cJSON_Delete(p->layers);
	p->layers = NULL;
	p->config = NULL;
	p->diff_ids = NULL;
	p->unpacked = NULL;
}
