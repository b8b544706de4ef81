/*
 * test_agent_images.c: the agent's image side (agent/images.h, pull.h):
 * references read as Docker reads them, good and bad; the platform chosen
 * from an index; which hosts are plain HTTP; the pull behaviours' choices;
 * then the store against a small registry served by the test on
 * 127.0.0.1 (anonymous, Connection: close): pulls by tag, digest and
 * through an index, two pulls of one reference at once asking the
 * registry once, behaviours with the registry gone, corrupt, truncated,
 * oversized and missing content refused with nothing stored, the
 * collector and its file lock, records found again after a reopen.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "agent/images.h"
#include "agent/pull.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	"application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG	"application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER	"application/vnd.oci.image.layer.v1.tar+gzip"

/* --- references ------------------------------------------------------------ */

static void test_references(void **state)
{
	static const struct {
		const char *in, *registry, *repository, *tag, *digest;
	} good[] = {
		{ "busybox", "docker.io", "library/busybox", "latest", "" },
		{ "busybox:1.36", "docker.io", "library/busybox", "1.36", "" },
		{ "team/web", "docker.io", "team/web", "latest", "" },
		{ "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest",
		  "" },
		{ "127.0.0.1:8080/web:1", "127.0.0.1:8080", "web", "1", "" },
		{ "localhost/a/b/c", "localhost", "a/b/c", "latest", "" },
		{ "localhost:5000/a__b/c-d.e:V_1.0-x", "localhost:5000", "a__b/c-d.e", "V_1.0-x",
		  "" },
		{ "registry.example.com/x/y@sha256:"
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "registry.example.com", "x/y", "",
		  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "host:1/repo:tag@sha256:"
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "host:1", "repo", "tag",
		  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "[::1]:5000/web", "[::1]:5000", "web", "latest", "" },
		{ "my-reg.example.com:443/a/b:c", "my-reg.example.com:443", "a/b", "c", "" },
		{ "Reg.IO/a", "Reg.IO", "a", "latest", "" },
	};
	static const char *const bad[] = {
		"",
		"UPPER/case",
		"busybox:",
		"busybox:-tag",
		"busybox:.tag",
		"busybox:ta/g",
		"busybox@sha256:short",
		"busybox@sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"/busybox",
		"busybox/",
		"a//b",
		"-a/b",
		"a./b",
		"a.._b/c",
		"a___b",
		"host:1/",
		"ho st/x",
		"host:/x",
		"host:ab/x",
		"host.io:123456/x",
		"ho_st:1/x",
		"-host.io/x",
		"host-.io/x",
		"host..io/x",
		"[::1/x",
		"[]:5000/x",
		"[::g]/x",
		"x:y:z",
		"busybox:" /* 129 characters */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char longref[IMAGE_REF_MAX + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct image_ref r;
		struct err err = ERR_INIT;

		if (image_ref_parse(good[i].in, &r, &err) != 0)
			fail_msg("'%s': %s", good[i].in, err.msg);
		assert_string_equal(r.registry, good[i].registry);
		assert_string_equal(r.repository, good[i].repository);
		assert_string_equal(r.tag, good[i].tag);
		assert_string_equal(r.digest, good[i].digest);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct image_ref r;
		struct err err = ERR_INIT;

		if (image_ref_parse(bad[i], &r, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.kind, E_INVALID_PARAMETER);
		assert_non_null(strstr(err.msg, "invalid reference format"));
	}
	memset(longref, 'a', sizeof(longref) - 1);
	longref[sizeof(longref) - 1] = 0;
	assert_int_equal(image_ref_parse(longref, &(struct image_ref){ 0 }, NULL), -EINVAL);
	assert_int_equal(image_ref_parse(NULL, &(struct image_ref){ 0 }, NULL), -EINVAL);
}

static void test_reference_format(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "busybox", "docker.io/library/busybox:latest" },
		{ "docker.io/library/busybox", "docker.io/library/busybox:latest" },
		{ "127.0.0.1:9/a/b:v2", "127.0.0.1:9/a/b:v2" },
		{ "h.io/r@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "h.io/"
		  "r@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "h.io/"
		  "r:t@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "h.io/"
		  "r:t@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	};

	(void)state;
	/* a long one-component name: "library/" counts in the repository's limit */
	{
		char name[300], out[IMAGE_REF_STR_MAX];
		struct image_ref r;

		memset(name, 'a', sizeof(name));
		name[247] = 0; /* library/ + 247 = 255 */
		assert_int_equal(image_ref_parse(name, &r, NULL), 0);
		image_ref_format(&r, out);
		assert_int_equal(image_ref_parse(out, &r, NULL), 0);
		name[247] = 'a';
		name[248] = 0;
		assert_int_equal(image_ref_parse(name, &r, NULL), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct image_ref r, again;
		char out[IMAGE_REF_STR_MAX], out2[IMAGE_REF_STR_MAX];

		assert_int_equal(image_ref_parse(cases[i].in, &r, NULL), 0);
		image_ref_format(&r, out);
		assert_string_equal(out, cases[i].out);
		/* the canonical form reads back as itself */
		assert_int_equal(image_ref_parse(out, &again, NULL), 0);
		image_ref_format(&again, out2);
		assert_string_equal(out, out2);
	}
}

static void test_hosts_and_types(void **state)
{
	(void)state;
	assert_true(pull_host_is_loopback("127.0.0.1:5000"));
	assert_true(pull_host_is_loopback("127.1.2.3"));
	assert_true(pull_host_is_loopback("localhost"));
	assert_true(pull_host_is_loopback("localhost:80"));
	assert_true(pull_host_is_loopback("[::1]:5000"));
	assert_true(pull_host_is_loopback("[::1]"));
	assert_false(pull_host_is_loopback("127.example.com"));
	assert_false(pull_host_is_loopback("127.0.0.1.nip.io:80"));
	assert_false(pull_host_is_loopback("localhost.example.com"));
	assert_false(pull_host_is_loopback("localhostx:5000"));
	assert_false(pull_host_is_loopback("[::1]x"));
	assert_false(pull_host_is_loopback("10.0.0.1:5000"));
	assert_false(pull_host_is_loopback("registry-1.docker.io"));
	assert_false(pull_host_is_loopback(""));

	assert_true(pull_config_type_ok(NULL));
	assert_true(pull_config_type_ok(MT_OCI_CONFIG));
	assert_true(pull_config_type_ok("application/vnd.docker.container.image.v1+json"));
	assert_false(pull_config_type_ok("application/vnd.cncf.helm.config.v1+json"));
	assert_false(pull_config_type_ok(""));
}

static void test_challenges(void **state)
{
	static const struct {
		const char *challenge, *name, *value; /* value NULL: absent */
	} cases[] = {
		{ "Bearer "
		  "realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
		  "scope=\"repository:a/b:pull\"",
		  "realm", "https://auth.example.com/token" },
		{ "Bearer realm=\"r\",service=\"s\",scope=\"repository:a/b:pull\"", "service",
		  "s" },
		{ "Bearer realm=\"r\",service=\"s\",scope=\"repository:a/b:pull\"", "scope",
		  "repository:a/b:pull" },
		{ "Bearer Realm=r, Service=s", "service", "s" },
		{ "Bearer realm = \"r\" , service=s", "service", "s" },
		{ "Basic realm=\"berth\"", "realm", "berth" },
		/* a key inside another's quoted value is not a parameter */
		{ "Bearer scope=\"x,realm=http://evil\",realm=\"http://good\"", "realm",
		  "http://good" },
		{ "Bearer scope=\"a\\\"b\"", "scope", "a\"b" },
		{ "Bearer xrealm=\"r\"", "realm", NULL },
		{ "Bearer realm=\"unclosed", "realm", NULL },
		{ "Bearer", "realm", NULL },
		{ "", "realm", NULL },
		{ "Bearer token68==, realm=x", "realm", "x" },
		{ "Bearer =, realm=", "realm", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out = BUF_INIT;
		bool found = pull_challenge_param(cases[i].challenge, cases[i].name, &out);

		if (found != (cases[i].value != NULL))
			fail_msg("'%s' %s: found %d", cases[i].challenge, cases[i].name, found);
		if (found)
			assert_string_equal(buf_str(&out), cases[i].value);
		else
			assert_int_equal(out.len, 0);
		buf_release(&out);
	}
}

/* --- platforms ------------------------------------------------------------- */

#define D(c)                                                                                      \
	"sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
		c c c c c c c c c c c c c c c c c c c c c c c c

static void test_platforms(void **state)
{
	const char *doc =
		"{\"manifests\": ["
		"{\"digest\": \"" D(
			"1") "\", \"platform\": {\"os\": \"linux\", "
			     "\"architecture\": \"arm64\", \"variant\": \"v8\"}},"
			     "{\"digest\": \"" D(
				     "2") "\", \"platform\": {\"os\": \"linux\", "
					  "\"architecture\": \"arm\", \"variant\": \"v6\"}},"
					  "{\"digest\": \"" D(
						  "3") "\", \"platform\": {\"os\": \"linux\", "
						       "\"architecture\": \"arm\", \"variant\": "
						       "\"v7\"}},"
						       "{\"digest\": \"sha256:bad\", \"platform\": "
						       "{\"os\": \"linux\", "
						       "\"architecture\": \"amd64\"}},"
						       "{\"digest\": \"" D(
							       "4") "\", \"platform\": {\"os\": "
								    "\"windows\", "
								    "\"architecture\": \"amd64\"}},"
								    "{\"digest\": \"" D(
									    "5") "\", "
										 "\"mediaType\": "
										 "\"" MT_OCI_MANIFEST
										 "\", "
										 "\"platform\": "
										 "{\"os\": "
										 "\"linux\", "
										 "\"architecture\":"
										 " \"amd64\"}},"
										 "{\"digest\": "
										 "\"" D("6") "\", "
											     "\"pla"
											     "tform"
											     "\": "
											     "{\"os"
											     "\": "
											     "\"unk"
											     "nown"
											     "\", "
											     "\"arc"
											     "hitec"
											     "ture"
											     "\": "
											     "\"unk"
											     "nown"
											     "\"}},"
											     "{\"di"
											     "gest"
											     "\": "
											     "\"" D("7") "\"}"
													 "]}";
	cJSON *index = cJSON_Parse(doc);
	char digest[LAYER_DIGEST_SIZE];
	const char *mt = NULL;
	struct err err = ERR_INIT;

	(void)state;
	assert_non_null(index);
	/* the first with a valid digest; its media type comes along */
	assert_int_equal(pull_select_platform(index, "linux", "amd64", NULL, digest, &mt, &err), 0);
	assert_string_equal(digest, D("5"));
	assert_string_equal(mt, MT_OCI_MANIFEST);
	/* variants: the exact one wins over the first of the architecture */
	assert_int_equal(pull_select_platform(index, "linux", "arm", "v7", digest, NULL, &err), 0);
	assert_string_equal(digest, D("3"));
	assert_int_equal(pull_select_platform(index, "linux", "arm64", "v8", digest, NULL, &err),
			 0);
	assert_string_equal(digest, D("1"));
	/* no variant asked: the first of the architecture */
	assert_int_equal(pull_select_platform(index, "linux", "arm", NULL, digest, NULL, &err), 0);
	assert_string_equal(digest, D("2"));
	assert_int_equal(pull_select_platform(index, "windows", "amd64", NULL, digest, NULL, &err),
			 0);
	assert_string_equal(digest, D("4"));
	/* nothing fits: a clear refusal */
	assert_int_equal(pull_select_platform(index, "linux", "arm", "v5", digest, NULL, &err),
			 -ENOENT);
	assert_int_equal(pull_select_platform(index, "linux", "s390x", NULL, digest, NULL, &err),
			 -ENOENT);
	assert_int_equal(err.kind, E_IMAGE_NOT_FOUND);
	assert_string_equal(err.msg, "no manifest for platform linux/s390x in the image index");
	cJSON_Delete(index);

	/* not an index at all */
	index = cJSON_Parse("{\"manifests\": 3}");
	assert_int_equal(pull_select_platform(index, "linux", "amd64", NULL, digest, NULL, &err),
			 -ENOENT);
	cJSON_Delete(index);

	/* this machine, as Go names it */
	{
		const char *variant, *arch = pull_machine_arch(&variant);

		assert_non_null(arch);
		assert_true(strlen(arch) > 0);
	}
}

/* --- behaviours ------------------------------------------------------------ */

static void test_behaviors(void **state)
{
	static const struct {
		const char *name;
		enum image_pull_behavior b;
		enum image_pull_action cached, by_digest_cached;
	} cases[] = {
		{ "default", IMAGE_PULL_DEFAULT, IMAGE_PULL_ELSE_CACHED, IMAGE_USE_CACHED },
		{ "always", IMAGE_PULL_ALWAYS, IMAGE_PULL, IMAGE_USE_CACHED },
		{ "once", IMAGE_PULL_ONCE, IMAGE_USE_CACHED, IMAGE_USE_CACHED },
		{ "prefer-cached", IMAGE_PULL_PREFER_CACHED, IMAGE_USE_CACHED, IMAGE_USE_CACHED },
	};
	enum image_pull_behavior b;
	struct err err = ERR_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(image_pull_behavior_parse(cases[i].name, &b, &err), 0);
		assert_int_equal(b, cases[i].b);
		/* what is not here is pulled, whatever the behaviour */
		assert_int_equal(image_pull_decide(b, false, false), IMAGE_PULL);
		assert_int_equal(image_pull_decide(b, false, true), IMAGE_PULL);
		assert_int_equal(image_pull_decide(b, true, false), cases[i].cached);
		assert_int_equal(image_pull_decide(b, true, true), cases[i].by_digest_cached);
	}
	assert_int_equal(image_pull_behavior_parse("Always", &b, &err), -EINVAL);
	assert_int_equal(err.kind, E_INVALID_PARAMETER);
	assert_int_equal(image_pull_behavior_parse(NULL, &b, &err), -EINVAL);
	assert_int_equal(image_pull_behavior_parse("", &b, &err), -EINVAL);
}

/* --- a registry on 127.0.0.1 ------------------------------------------------------- */

struct route {
	char path[256];
	int status;
	const char *content_type;
	char *body; /* owned */
	size_t len;
	unsigned delay_ms;
	unsigned hits;
};

struct registry {
	int fd, port;
	pthread_t thread;
	volatile int stop;
	bool running;
	pthread_mutex_t lock;
	struct route routes[32];
	size_t n_routes;
	unsigned requests;
};

static void route_add(struct registry *g, const char *path, int status, const char *content_type,
		      const void *body, size_t len)
{
	struct route *r = NULL;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->n_routes; i++)
		if (!strcmp(g->routes[i].path, path))
			r = &g->routes[i];
	if (!r) {
		assert_true(g->n_routes < sizeof(g->routes) / sizeof(g->routes[0]));
		r = &g->routes[g->n_routes++];
	}
	free(r->body);
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->status = status;
	r->content_type = content_type;
	r->body = malloc(len + 1);
	assert_non_null(r->body);
	memcpy(r->body, body, len);
	r->len = len;
	pthread_mutex_unlock(&g->lock);
}

static struct route *route_find(struct registry *g, const char *path)
{
	for (size_t i = 0; i < g->n_routes; i++)
		if (!strcmp(g->routes[i].path, path))
			return &g->routes[i];
	return NULL;
}

static unsigned hits(struct registry *g, const char *path)
{
	struct route *r;
	unsigned n;

	pthread_mutex_lock(&g->lock);
	r = route_find(g, path);
	n = r ? r->hits : 0;
	pthread_mutex_unlock(&g->lock);
	return n;
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return; /* the client went away (a refused body) */
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

static void serve_one(struct registry *g, int c)
{
	char req[8192], path[256], head[512];
	size_t len = 0;
	struct route *r;
	unsigned delay = 0;
	int status = 404;
	const char *ctype = "application/json";
	char *body = NULL;
	size_t body_len = 0;

	while (len < sizeof(req) - 1) {
		ssize_t n = read(c, req + len, sizeof(req) - 1 - len);

		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "GET %255s ", path) != 1)
		return;
	pthread_mutex_lock(&g->lock);
	g->requests++;
	r = route_find(g, path);
	if (r) {
		r->hits++;
		status = r->status;
		ctype = r->content_type;
		delay = r->delay_ms;
		body = malloc(r->len + 1);
		assert_non_null(body);
		memcpy(body, r->body, r->len);
		body_len = r->len;
	}
	pthread_mutex_unlock(&g->lock);
	if (delay)
		usleep(delay * 1000);
	if (!r) {
		static const char notfound[] = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}";

		body = strdup(notfound);
		body_len = strlen(notfound);
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 status, ctype, body_len);
	write_all(c, head, strlen(head));
	write_all(c, body, body_len);
	free(body);
}

static void *serve(void *arg)
{
	struct registry *g = arg;

	while (!g->stop) {
		struct pollfd p = { .fd = g->fd, .events = POLLIN };
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept(g->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(g, c);
		close(c);
	}
	return NULL;
}

static void registry_start(struct registry *g)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(g->fd >= 0);
	assert_int_equal(bind(g->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(g->fd, 16), 0);
	assert_int_equal(getsockname(g->fd, (struct sockaddr *)&a, &alen), 0);
	g->port = ntohs(a.sin_port);
	g->stop = 0;
	assert_int_equal(pthread_create(&g->thread, NULL, serve, g), 0);
	g->running = true;
}

/* Stop answering: connections are refused from now on. */
static void registry_stop(struct registry *g)
{
	if (!g->running)
		return;
	g->stop = 1;
	pthread_join(g->thread, NULL);
	close(g->fd);
	g->running = false;
}

/* --- images served by it -------------------------------------------------------- */

struct layer {
	struct buf tar, gz;
	char diff_id[LAYER_DIGEST_SIZE], digest[LAYER_DIGEST_SIZE];
};

static la_ssize_t buf_writer(struct archive *a, void *data, const void *p, size_t n)
{
	(void)a;
	buf_append(data, p, n);
	return (la_ssize_t)n;
}

/* A one-file tar, plain and gzipped. */
static void make_layer(struct layer *l, const char *name, const char *content)
{
	for (int gz = 0; gz < 2; gz++) {
		struct archive *a = archive_write_new();
		struct archive_entry *e = archive_entry_new();
		size_t n = strlen(content);

		assert_int_equal(archive_write_set_format_ustar(a), ARCHIVE_OK);
		if (gz)
			assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		archive_write_set_bytes_in_last_block(a, 1);
		assert_int_equal(
			archive_write_open(a, gz ? &l->gz : &l->tar, NULL, buf_writer, NULL),
			ARCHIVE_OK);
		archive_entry_set_pathname(e, name);
		archive_entry_set_mtime(e, 1600000000, 0);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)n);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, content, n), (la_ssize_t)n);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		archive_entry_free(e);
	}
	digest_sha256(l->tar.data, l->tar.len, l->diff_id);
	digest_sha256(l->gz.data, l->gz.len, l->digest);
}

struct fixture {
	char dir[64];
	struct registry reg;
	struct images *store;
	struct layer layers[2];
	char config_digest[LAYER_DIGEST_SIZE];
	char manifest_digest[LAYER_DIGEST_SIZE];
	char index_digest[LAYER_DIGEST_SIZE];
	struct buf config, manifest, index;
	char ref[128], by_digest[256], multi[128];
};

static void path_of(char *out, size_t n, const char *kind, const char *what)
{
	snprintf(out, n, "/v2/test/img/%s/%s", kind, what);
}

static void serve_blob(struct fixture *f, const char *digest, const void *data, size_t len)
{
	char path[256];

	path_of(path, sizeof(path), "blobs", digest);
	route_add(&f->reg, path, 200, "application/octet-stream", data, len);
}

static void serve_manifest(struct fixture *f, const char *ref, const char *mt, const struct buf *b)
{
	char path[256];

	path_of(path, sizeof(path), "manifests", ref);
	route_add(&f->reg, path, 200, mt, b->data, b->len);
}

/*
 * The manifest of f's layers with config, with layer sizes as given (-1:
 * the real ones). Sets f->manifest and its digest.
 */
static void make_manifest(struct fixture *f, long size0)
{
	buf_reset(&f->manifest);
	buf_printf(
		&f->manifest,
		"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
		"\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		"\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"%s\",\"size\":%ld},"
		"{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"%s\",\"size\":%zu}]}",
		f->config_digest, f->config.len, f->layers[0].digest,
		size0 >= 0 ? size0 : (long)f->layers[0].gz.len, f->layers[1].digest,
		f->layers[1].gz.len);
	digest_sha256(f->manifest.data, f->manifest.len, f->manifest_digest);
}

static void make_config(struct fixture *f, unsigned n_diff_ids)
{
	buf_reset(&f->config);
	buf_printf(&f->config,
		   "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"],"
		   "\"Env\":[\"PATH=/"
		   "bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"%s%s%s]}}",
		   f->layers[0].diff_id, n_diff_ids > 1 ? ",\"" : "",
		   n_diff_ids > 1 ? f->layers[1].diff_id : "", n_diff_ids > 1 ? "\"" : "");
	digest_sha256(f->config.data, f->config.len, f->config_digest);
}

static void serve_image(struct fixture *f)
{
	const char *variant, *arch = pull_machine_arch(&variant);

	serve_blob(f, f->config_digest, f->config.data, f->config.len);
	for (int i = 0; i < 2; i++)
		serve_blob(f, f->layers[i].digest, f->layers[i].gz.data, f->layers[i].gz.len);
	serve_manifest(f, "v1", MT_OCI_MANIFEST, &f->manifest);
	serve_manifest(f, f->manifest_digest, MT_OCI_MANIFEST, &f->manifest);
	/* an index: a platform nobody has first, then this machine's */
	buf_reset(&f->index);
	buf_printf(&f->index,
		   "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
		   "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D(
			   "9") "\",\"size\":1,"
				"\"platform\":{\"os\":\"linux\",\"architecture\":\"mips64\"}},"
				"{\"mediaType\":\"" MT_OCI_MANIFEST
				"\",\"digest\":\"%s\",\"size\":%zu,"
				"\"platform\":{\"os\":\"linux\",\"architecture\":\"%s\"%s%s%s}}]}",
		   f->manifest_digest, f->manifest.len, arch, variant ? ",\"variant\":\"" : "",
		   variant ? variant : "", variant ? "\"" : "");
	digest_sha256(f->index.data, f->index.len, f->index_digest);
	serve_manifest(f, "multi", MT_OCI_INDEX, &f->index);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err err = ERR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-images-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	pthread_mutex_init(&f->reg.lock, NULL);
	registry_start(&f->reg);
	make_layer(&f->layers[0], "bin/hello", "hello from layer one\n");
	make_layer(&f->layers[1], "etc/motd", "layer two\n");
	make_config(f, 2);
	make_manifest(f, -1);
	serve_image(f);
	snprintf(f->ref, sizeof(f->ref), "127.0.0.1:%d/test/img:v1", f->reg.port);
	snprintf(f->by_digest, sizeof(f->by_digest), "127.0.0.1:%d/test/img@%s", f->reg.port,
		 f->manifest_digest);
	snprintf(f->multi, sizeof(f->multi), "127.0.0.1:%d/test/img:multi", f->reg.port);
	if (images_open(f->dir, &f->store, &err) < 0)
		fail_msg("images_open: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	images_close(f->store);
	registry_stop(&f->reg);
	for (size_t i = 0; i < f->reg.n_routes; i++)
		free(f->reg.routes[i].body);
	pthread_mutex_destroy(&f->reg.lock);
	for (int i = 0; i < 2; i++) {
		buf_release(&f->layers[i].tar);
		buf_release(&f->layers[i].gz);
	}
	buf_release(&f->config);
	buf_release(&f->manifest);
	buf_release(&f->index);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Entries of dir that are not "." or ".." (0 when it does not exist). */
static unsigned count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static unsigned n_layers(struct fixture *f)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/layers/sha256", f->dir);
	return count_entries(path);
}

static unsigned n_records(struct fixture *f)
{
	char path[128];

	char lock[160];

	snprintf(path, sizeof(path), "%s/images", f->dir);
	snprintf(lock, sizeof(lock), "%s/.lock", path);
	return count_entries(path) - (access(lock, F_OK) == 0);
}

static void assert_nothing_stored(struct fixture *f)
{
	char path[128];

	assert_int_equal(n_records(f), 0);
	assert_int_equal(n_layers(f), 0);
	snprintf(path, sizeof(path), "%s/downloads", f->dir);
	assert_int_equal(count_entries(path), 0);
}

/* A pull that must fail with kind; returns the message. */
static const char *pull_fails(struct fixture *f, const char *ref, enum image_pull_behavior b,
			      enum err_kind kind, struct err *err)
{
	struct image *img = NULL;
	int r = image_pull(f->store, ref, NULL, b, &img, err);

	if (r == 0)
		fail_msg("pulling %s succeeded", ref);
	assert_null(img);
	if (err->kind != kind)
		fail_msg("pulling %s: kind %d, wanted %d: %s", ref, err->kind, kind, err->msg);
	return err->msg;
}

static struct image *pull_ok(struct fixture *f, const char *ref, enum image_pull_behavior b)
{
	struct image *img = NULL;
	struct err err = ERR_INIT;

	if (image_pull(f->store, ref, NULL, b, &img, &err) != 0)
		fail_msg("pulling %s: %s", ref, err.msg);
	assert_non_null(img);
	return img;
}

static void test_pull_by_tag_and_digest(void **state)
{
	struct fixture *f = *state;
	struct image *img = pull_ok(f, f->ref, IMAGE_PULL_DEFAULT);
	struct buf path = BUF_INIT;
	char blob[256], config[256], manifest[256];
	struct err err = ERR_INIT;

	assert_string_equal(img->digest, f->manifest_digest);
	assert_int_equal(img->n_layers, 2);
	assert_string_equal(img->diff_ids[0], f->layers[0].diff_id);
	assert_string_equal(img->diff_ids[1], f->layers[1].diff_id);
	assert_non_null(json_arr(json_obj(img->config, "config"), "Cmd"));
	assert_int_equal(img->size, f->layers[0].gz.len + f->layers[1].gz.len);
	assert_int_equal(layer_path(f->dir, img->diff_ids[0], &path, &err), 0);
	buf_puts(&path, "/bin/hello");
	assert_int_equal(access(buf_str(&path), F_OK), 0);
	buf_release(&path);
	image_free(img);
	assert_int_equal(n_records(f), 1);
	assert_int_equal(n_layers(f), 2);

	/* found locally by reference, by its canonical form, by digest */
	assert_int_equal(image_get(f->store, f->ref, &img, &err), 0);
	image_free(img);
	assert_int_equal(image_get(f->store, f->manifest_digest, &img, &err), 0);
	assert_string_equal(img->digest, f->manifest_digest);
	image_free(img);
	assert_int_equal(image_get(f->store, f->multi, &img, &err), -ENOENT);
	assert_int_equal(err.kind, E_IMAGE_NOT_FOUND);

	/* by digest: checked against the content, and nothing downloaded again */
	path_of(blob, sizeof(blob), "blobs", f->layers[0].digest);
	path_of(config, sizeof(config), "blobs", f->config_digest);
	assert_int_equal(hits(&f->reg, blob), 1);
	assert_int_equal(hits(&f->reg, config), 1);
	img = pull_ok(f, f->by_digest, IMAGE_PULL_ALWAYS);
	assert_string_equal(img->digest, f->manifest_digest);
	image_free(img);
	/*
	 * again by tag: the manifest is asked for and, being the one here,
	 * nothing more (neither config nor layers), as `docker pull` of an
	 * image that is up to date
	 */
	path_of(manifest, sizeof(manifest), "manifests", "v1");
	assert_int_equal(hits(&f->reg, manifest), 1);
	img = pull_ok(f, f->ref, IMAGE_PULL_ALWAYS);
	assert_string_equal(img->digest, f->manifest_digest);
	assert_non_null(json_arr(json_obj(img->config, "config"), "Cmd"));
	image_free(img);
	assert_int_equal(hits(&f->reg, manifest), 2);
	assert_int_equal(hits(&f->reg, blob), 1);
	assert_int_equal(hits(&f->reg, config), 1);
	assert_int_equal(n_records(f), 1);
}

static void test_pull_index(void **state)
{
	struct fixture *f = *state;
	struct image *img = pull_ok(f, f->multi, IMAGE_PULL_DEFAULT);
	char bad_ref[256];
	struct err err = ERR_INIT;

	/* the platform manifest's digest, not the index's */
	assert_string_equal(img->digest, f->manifest_digest);
	image_free(img);

	/* by the index's digest */
	snprintf(bad_ref, sizeof(bad_ref), "127.0.0.1:%d/test/img@%s", f->reg.port,
		 f->index_digest);
	serve_manifest(f, f->index_digest, MT_OCI_INDEX, &f->index);
	img = pull_ok(f, bad_ref, IMAGE_PULL_DEFAULT);
	assert_string_equal(img->digest, f->manifest_digest);
	image_free(img);
	assert_int_equal(image_get(f->store, bad_ref, &img, &err), 0);
	image_free(img);

	/* an index without this machine: refused by name, nothing stored */
	{
		struct buf only = BUF_INIT;
		char r2[128];

		buf_puts(&only,
			 "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
			 "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
			 "\",\"digest\":\"" D("9") "\",\"size\":1,\"platform\":{\"os\":"
						   "\"linux\",\"architecture\":\"mips64\"}}]}");
		serve_manifest(f, "mips", MT_OCI_INDEX, &only);
		buf_release(&only);
		snprintf(r2, sizeof(r2), "127.0.0.1:%d/test/img:mips", f->reg.port);
		pull_fails(f, r2, IMAGE_PULL_DEFAULT, E_IMAGE_NOT_FOUND, &err);
		assert_non_null(strstr(err.msg, "test/img: no manifest for platform linux/"));
	}
}

struct racer {
	struct fixture *f;
	struct image *img;
	int r;
	struct err err;
};

static void *race(void *arg)
{
	struct racer *x = arg;

	x->r = image_pull(x->f->store, x->f->ref, NULL, IMAGE_PULL_ALWAYS, &x->img, &x->err);
	return NULL;
}

static void test_joined_pulls(void **state)
{
	struct fixture *f = *state;
	struct racer x[4];
	pthread_t t[4];
	char manifest[256];

	path_of(manifest, sizeof(manifest), "manifests", "v1");
	pthread_mutex_lock(&f->reg.lock);
	route_find(&f->reg, manifest)->delay_ms = 300;
	pthread_mutex_unlock(&f->reg.lock);
	for (int i = 0; i < 4; i++) {
		x[i] = (struct racer){ .f = f, .err = ERR_INIT };
		assert_int_equal(pthread_create(&t[i], NULL, race, &x[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (x[i].r != 0)
			fail_msg("pull %d: %s", i, x[i].err.msg);
		assert_string_equal(x[i].img->digest, f->manifest_digest);
		image_free(x[i].img);
	}
	/* the registry was asked once: the others joined the pull in flight */
	assert_int_equal(hits(&f->reg, manifest), 1);

	/* a failure is shared the same way */
	route_add(&f->reg, manifest, 500, "text/plain", "boom", 4);
	pthread_mutex_lock(&f->reg.lock);
	route_find(&f->reg, manifest)->delay_ms = 300;
	pthread_mutex_unlock(&f->reg.lock);
	for (int i = 0; i < 4; i++) {
		x[i] = (struct racer){ .f = f, .err = ERR_INIT };
		assert_int_equal(pthread_create(&t[i], NULL, race, &x[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(x[i].r, -EIO);
		assert_int_equal(x[i].err.kind, E_SERVER);
		assert_non_null(strstr(x[i].err.msg, "HTTP 500"));
		assert_null(x[i].img);
	}
	/* by one pull, which tried a 500 PULL_ATTEMPTS times (pull.h) */
	assert_int_equal(hits(&f->reg, manifest), PULL_ATTEMPTS);
}

static void test_behaviors_offline(void **state)
{
	struct fixture *f = *state;
	struct image *img = pull_ok(f, f->ref, IMAGE_PULL_ONCE);
	struct err err = ERR_INIT;
	char other[128];

	image_free(img);
	registry_stop(&f->reg);
	/* the image is here: default falls back to it, once and prefer-cached never ask */
	image_free(pull_ok(f, f->ref, IMAGE_PULL_DEFAULT));
	image_free(pull_ok(f, f->ref, IMAGE_PULL_ONCE));
	image_free(pull_ok(f, f->ref, IMAGE_PULL_PREFER_CACHED));
	image_free(pull_ok(f, f->by_digest, IMAGE_PULL_ALWAYS));
	/* always fails with the registry gone */
	pull_fails(f, f->ref, IMAGE_PULL_ALWAYS, E_SERVER, &err);
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	/* what is not here is pulled whatever the behaviour, and fails */
	snprintf(other, sizeof(other), "127.0.0.1:%d/test/other:v1", f->reg.port);
	pull_fails(f, other, IMAGE_PULL_PREFER_CACHED, E_SERVER, &err);
	pull_fails(f, other, IMAGE_PULL_ONCE, E_SERVER, &err);
}

static void test_bad_content_refused(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char path[256];

	/* a bad reference */
	pull_fails(f, "127.0.0.1:1/UPPER:v1", IMAGE_PULL_DEFAULT, E_INVALID_PARAMETER, &err);

	/* a corrupt second layer: the first, unpacked already, is taken back */
	{
		struct buf bad = BUF_INIT;

		buf_append(&bad, f->layers[1].gz.data, f->layers[1].gz.len);
		bad.data[bad.len / 2] ^= 0x55;
		serve_blob(f, f->layers[1].digest, bad.data, bad.len);
		buf_release(&bad);
	}
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_INVALID_LAYER, &err);
	assert_non_null(strstr(err.msg, f->layers[1].digest));
	assert_nothing_stored(f);

	/* truncated */
	serve_blob(f, f->layers[1].digest, f->layers[1].gz.data, f->layers[1].gz.len - 10);
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_INVALID_LAYER, &err);
	assert_nothing_stored(f);

	/* missing (404) */
	path_of(path, sizeof(path), "blobs", f->layers[1].digest);
	route_add(&f->reg, path, 404, "application/json", "{}", 2);
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_IMAGE_NOT_FOUND, &err);
	assert_non_null(strstr(err.msg, "blob not found (404)"));
	assert_nothing_stored(f);
	serve_blob(f, f->layers[1].digest, f->layers[1].gz.data, f->layers[1].gz.len);

	/* longer than its descriptor says */
	make_manifest(f, (long)f->layers[0].gz.len - 1);
	serve_manifest(f, "v1", MT_OCI_MANIFEST, &f->manifest);
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_INVALID_LAYER, &err);
	assert_non_null(strstr(err.msg, "more than"));
	assert_nothing_stored(f);

	/* a manifest that is not what its digest says */
	make_manifest(f, -1);
	serve_manifest(f, "v1", MT_OCI_MANIFEST, &f->manifest);
	serve_manifest(f, f->manifest_digest, MT_OCI_MANIFEST, &f->index);
	pull_fails(f, f->by_digest, IMAGE_PULL_DEFAULT, E_INVALID_LAYER, &err);
	assert_non_null(strstr(err.msg, "not the"));
	serve_manifest(f, f->manifest_digest, MT_OCI_MANIFEST, &f->manifest);

	/* a config that is not what its descriptor says */
	serve_blob(f, f->config_digest, "{}", 2);
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_INVALID_LAYER, &err);
	assert_non_null(strstr(err.msg, "config"));
	assert_nothing_stored(f);

	/* fewer diff_ids than layers */
	make_config(f, 1);
	make_manifest(f, -1);
	serve_image(f);
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_INVALID_LAYER, &err);
	assert_non_null(strstr(err.msg, "2 layers and the config 1 diff_ids"));
	assert_nothing_stored(f);

	/* a huge manifest */
	{
		size_t n = PULL_DOC_MAX + 1;
		char *huge = malloc(n);

		assert_non_null(huge);
		memset(huge, ' ', n);
		huge[0] = '{';
		huge[n - 1] = '}';
		path_of(path, sizeof(path), "manifests", "v1");
		route_add(&f->reg, path, 200, MT_OCI_MANIFEST, huge, n);
		free(huge);
	}
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_LIMIT_EXCEEDED, &err);
	assert_non_null(strstr(err.msg, "manifest is over"));
	assert_nothing_stored(f);

	/* not JSON */
	route_add(&f->reg, path, 200, MT_OCI_MANIFEST, "nope", 4);
	pull_fails(f, f->ref, IMAGE_PULL_DEFAULT, E_SERVER, &err);
	assert_non_null(strstr(err.msg, "not JSON"));
	assert_nothing_stored(f);
}

static void test_collector(void **state)
{
	struct fixture *f = *state;
	struct image *img = pull_ok(f, f->ref, IMAGE_PULL_DEFAULT);
	char digest[LAYER_DIGEST_SIZE], lock_path[128];
	struct err err = ERR_INIT;
	unsigned removed = 99;
	int fd;

	snprintf(digest, sizeof(digest), "%s", img->digest);
	image_free(img);
	/* recently pulled: kept */
	assert_int_equal(image_gc(f->store, 3600 * 1000, &removed, &err), 0);
	assert_int_equal(removed, 0);
	/* in use: kept whatever the delay */
	assert_int_equal(image_use(f->store, digest, true, &err), 0);
	assert_int_equal(image_use(f->store, digest, true, &err), 0);
	assert_int_equal(image_use(f->store, digest, false, &err), 0);
	assert_int_equal(image_gc(f->store, -1000, &removed, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(n_layers(f), 2);
	assert_int_equal(image_use(f->store, digest, false, &err), 0);

	/* a pull under way elsewhere (another process's lock): nothing collected */
	snprintf(lock_path, sizeof(lock_path), "%s/images/.lock", f->dir);
	fd = open(lock_path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_SH), 0);
	assert_int_equal(image_gc(f->store, -1000, &removed, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(n_records(f), 1);
	close(fd);

	/* unused: removed, with its layers */
	assert_int_equal(image_gc(f->store, -1000, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(n_records(f), 0);
	assert_int_equal(n_layers(f), 0);
	assert_int_equal(image_get(f->store, f->ref, &img, &err), -ENOENT);
	assert_int_equal(image_use(f->store, "sha256:nope", true, &err), -EINVAL);
}

static void test_records_survive(void **state)
{
	struct fixture *f = *state;
	struct image *img = pull_ok(f, f->ref, IMAGE_PULL_DEFAULT);
	struct err err = ERR_INIT;

	image_free(img);
	images_close(f->store);
	f->store = NULL;
	registry_stop(&f->reg);
	assert_int_equal(images_open(f->dir, &f->store, &err), 0);
	assert_int_equal(image_get(f->store, f->ref, &img, &err), 0);
	assert_string_equal(img->digest, f->manifest_digest);
	image_free(img);
	/* prefer-cached needs no registry */
	image_free(pull_ok(f, f->ref, IMAGE_PULL_PREFER_CACHED));
	/* an image whose layer went missing is not there */
	{
		struct err e2 = ERR_INIT;

		assert_int_equal(layer_remove(f->dir, f->layers[1].diff_id, &e2), 0);
	}
	assert_int_equal(image_get(f->store, f->ref, &img, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing a layer"));
}

struct listed {
	char digest[4][LAYER_DIGEST_SIZE];
	unsigned n_refs[4];
	char ref[4][IMAGE_REF_STR_MAX];
	unsigned n;
};

static void list_one(const cJSON *rec, void *ctx)
{
	struct listed *l = ctx;
	const cJSON *refs = json_arr(rec, "references");

	assert_true(l->n < 4);
	snprintf(l->digest[l->n], sizeof(l->digest[0]), "%s", json_str(rec, "digest"));
	l->n_refs[l->n] = (unsigned)cJSON_GetArraySize(refs);
	if (l->n_refs[l->n])
		snprintf(l->ref[l->n], sizeof(l->ref[0]), "%s", refs->child->valuestring);
	l->n++;
}

static void test_list_and_moved_tags(void **state)
{
	struct fixture *f = *state;
	struct image *img = pull_ok(f, f->ref, IMAGE_PULL_DEFAULT);
	struct listed l = { 0 };
	struct err err = ERR_INIT;
	char first[LAYER_DIGEST_SIZE], spelled[160];

	snprintf(first, sizeof(first), "%s", img->digest);
	image_free(img);
	/* one image under two spellings of one reference: one name */
	snprintf(spelled, sizeof(spelled), "127.0.0.1:%d/test/img:v1", f->reg.port);
	image_free(pull_ok(f, spelled, IMAGE_PULL_DEFAULT));
	assert_int_equal(image_list(f->store, list_one, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.n_refs[0], 1);
	assert_string_equal(l.ref[0], spelled);

	/* the tag moves to a new image: the old one loses the reference */
	make_layer(&f->layers[1], "etc/motd", "layer two, second edition\n");
	make_config(f, 2);
	make_manifest(f, -1);
	serve_image(f);
	img = pull_ok(f, f->ref, IMAGE_PULL_DEFAULT);
	assert_string_equal(img->digest, f->manifest_digest);
	assert_string_not_equal(img->digest, first);
	image_free(img);
	memset(&l, 0, sizeof(l));
	assert_int_equal(image_list(f->store, list_one, &l, &err), 0);
	assert_int_equal(l.n, 2);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(l.n_refs[i], strcmp(l.digest[i], first) ? 1 : 0);
	/* the old image's own layer goes with it; the shared one stays */
	assert_int_equal(n_layers(f), 3);
	{
		unsigned removed = 0;

		assert_int_equal(image_use(f->store, f->manifest_digest, true, &err), 0);
		assert_int_equal(image_gc(f->store, -1000, &removed, &err), 0);
		assert_int_equal(removed, 1);
		assert_int_equal(n_layers(f), 2);
		assert_int_equal(image_get(f->store, f->ref, &img, &err), 0);
		image_free(img);
	}
}

/* pull.h's back-off: doubling from PULL_BACKOFF_MS, or Retry-After's, capped. */
static void test_retry_delays(void **state)
{
	(void)state;
	assert_int_equal(pull_retry_delay_ms(1, -1), PULL_BACKOFF_MS);
	assert_int_equal(pull_retry_delay_ms(2, -1), 2 * PULL_BACKOFF_MS);
	assert_int_equal(pull_retry_delay_ms(3, -1), 4 * PULL_BACKOFF_MS);
	assert_int_equal(pull_retry_delay_ms(40, -1), PULL_RETRY_AFTER_MAX_MS);
	assert_int_equal(pull_retry_delay_ms(1, 0), 0);
	assert_int_equal(pull_retry_delay_ms(3, 1500), 1500);
	assert_int_equal(pull_retry_delay_ms(1, INT64_C(1) << 40), PULL_RETRY_AFTER_MAX_MS);
}

/* --- local images: blobs kept, names, removal, the build cache ------------ */

static void put_blob(struct fixture *f, const char *digest, const struct buf *b)
{
	struct buf path = BUF_INIT, dir = BUF_INIT;

	buf_printf(&dir, "%s/blobs/sha256", f->dir);
	assert_int_equal(fs_mkdir_p(buf_str(&dir), 0700), 0);
	images_blob_path(f->dir, digest, &path);
	assert_int_equal(fs_write_atomic(buf_str(&path), b->data, b->len), 0);
	buf_release(&path);
	buf_release(&dir);
}

static bool blob_here(struct fixture *f, const char *digest)
{
	struct buf path = BUF_INIT;
	bool here;

	images_blob_path(f->dir, digest, &path);
	here = access(buf_str(&path), F_OK) == 0;
	buf_release(&path);
	return here;
}

/* The fixture's image, as `berth image load` would leave it: blobs, layers, a record. */
static void add_local(struct fixture *f, const char *ref)
{
	_cleanup_json_ cJSON *m = cJSON_ParseWithLength(f->manifest.data, f->manifest.len);
	_cleanup_json_ cJSON *c = cJSON_ParseWithLength(f->config.data, f->config.len);
	struct err err = ERR_INIT;

	put_blob(f, f->manifest_digest, &f->manifest);
	put_blob(f, f->config_digest, &f->config);
	for (int i = 0; i < 2; i++) {
		struct layer_unpack_opts uo = { .diff_id = f->layers[i].diff_id };
		int fd;
		struct buf path = BUF_INIT;

		put_blob(f, f->layers[i].digest, &f->layers[i].gz);
		images_blob_path(f->dir, f->layers[i].digest, &path);
		fd = open(buf_str(&path), O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(layer_unpack(f->dir, fd, &uo, NULL, &err), 0);
		close(fd);
		buf_release(&path);
	}
	struct image_local img = {
		.digest = f->manifest_digest,
		.config_digest = f->config_digest,
		.config = c,
		.diff_ids = json_arr(json_obj(c, "rootfs"), "diff_ids"),
		.layers = json_arr(m, "layers"),
		.size = 10,
	};
	assert_int_equal(image_add_local(f->store, ref, &img, &err), 0);
}

static void test_local_images(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char digest[LAYER_DIGEST_SIZE];
	unsigned layers, removed;
	struct image *img = NULL;
	cJSON *rec = NULL;

	add_local(f, "local/app:1");
	add_local(f, "local/app:2");
	assert_int_equal(n_records(f), 1);
	assert_int_equal(image_get(f->store, "local/app:1", &img, &err), 0);
	assert_string_equal(img->digest, f->manifest_digest);
	image_free(img);
	assert_int_equal(image_record_get(f->store, "docker.io/local/app:2", &rec, &err), 0);
	assert_string_equal(json_str(rec, "configDigest"), f->config_digest);
	assert_int_equal(cJSON_GetArraySize(json_arr(rec, "layers")), 2);
	assert_int_equal(cJSON_GetArraySize(json_arr(rec, "references")), 2);
	cJSON_Delete(rec);
	/* a digest is not a tag */
	assert_int_equal(image_add_local(f->store,
					 "local/app@sha256:"
					 "00000000000000000000000000000000000000000000"
					 "00000000000000000000",
					 &(struct image_local){ .digest = f->manifest_digest },
					 &err),
			 -EINVAL);

	/* a name goes; the image stays while another names it */
	assert_int_equal(image_remove(f->store, "local/app:1", digest, &layers, &err), 0);
	assert_string_equal(digest, f->manifest_digest);
	assert_int_equal(layers, 0);
	assert_int_equal(image_get(f->store, "local/app:1", &img, &err), -ENOENT);
	assert_int_equal(n_layers(f), 2);
	/* while a pull runs, nothing is removed */
	{
		char lock_path[128];
		int fd;

		snprintf(lock_path, sizeof(lock_path), "%s/images/.lock", f->dir);
		fd = open(lock_path, O_RDWR | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(flock(fd, LOCK_SH), 0);
		assert_int_equal(image_remove(f->store, "local/app:2", digest, &layers, &err),
				 -EBUSY);
		close(fd);
	}
	/* its last name: the image, its layers and its blobs */
	assert_int_equal(image_remove(f->store, "local/app:2", digest, &layers, &err), 0);
	assert_int_equal(layers, 2);
	assert_int_equal(n_records(f), 0);
	assert_int_equal(n_layers(f), 0);
	assert_false(blob_here(f, f->manifest_digest));
	assert_false(blob_here(f, f->layers[0].digest));
	assert_int_equal(image_remove(f->store, "local/app:2", digest, &layers, &err), -ENOENT);

	/* by digest: whatever its names */
	add_local(f, "local/app:3");
	assert_int_equal(image_remove(f->store, f->manifest_digest, digest, &layers, &err), 0);
	assert_int_equal(n_records(f), 0);

	/* a layer and blob only a build cache entry names: kept while it is used */
	add_local(f, NULL);
	assert_int_equal(image_remove(f->store, f->manifest_digest, digest, &layers, &err), 0);
	add_local(f, "local/app:4");
	{
		char path[160];
		struct buf entry = BUF_INIT;

		snprintf(path, sizeof(path), "%s/build-cache", f->dir);
		assert_int_equal(fs_mkdir_p(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/build-cache/%s.json", f->dir,
			 f->layers[0].diff_id + 7);
		buf_printf(&entry, "{\"diffId\":\"%s\",\"digest\":\"%s\",\"size\":1,\"created\":1}",
			   f->layers[0].diff_id, f->layers[0].digest);
		assert_int_equal(fs_write_atomic(path, entry.data, entry.len), 0);
		buf_release(&entry);
		/* everything unused for long: the image, the cache entry and its layer go */
		assert_int_equal(image_gc(f->store, -1000, &removed, &err), 0);
		assert_int_equal(removed, 1);
		assert_int_equal(n_layers(f), 0);
		assert_int_equal(access(path, F_OK), -1);
	}
	add_local(f, "local/app:5");
	{
		char path[160];
		struct buf entry = BUF_INIT;

		snprintf(path, sizeof(path), "%s/build-cache/%s.json", f->dir,
			 f->layers[0].diff_id + 7);
		buf_printf(&entry, "{\"diffId\":\"%s\",\"digest\":\"%s\",\"size\":1,\"created\":1}",
			   f->layers[0].diff_id, f->layers[0].digest);
		assert_int_equal(fs_write_atomic(path, entry.data, entry.len), 0);
		buf_release(&entry);
	}
	assert_int_equal(image_remove(f->store, "local/app:5", digest, &layers, &err), 0);
	/* rm takes what no image and no container uses; the collector then keeps
	 * what a cache entry used within its delay names */
	add_local(f, "local/app:6");
	{
		char rec_path[160];

		/* the record, unused since long ago; the cache entry just used */
		snprintf(rec_path, sizeof(rec_path), "%s/images/%s.json", f->dir,
			 f->manifest_digest + 7);
		assert_int_equal(unlink(rec_path), 0);
	}
	assert_int_equal(image_gc(f->store, 3600 * 1000, &removed, &err), 0);
	assert_true(blob_here(f, f->layers[0].digest));
	assert_true(layer_exists(f->dir, f->layers[0].diff_id));
	assert_false(layer_exists(f->dir, f->layers[1].diff_id));
	assert_false(blob_here(f, f->layers[1].digest));
}

/* A pull that keeps the blobs: they are there, checked, and the record says so. */
static void test_pull_keeps_blobs(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct image *img;
	cJSON *rec = NULL;
	struct buf path = BUF_INIT;

	/* the agent's way first: layers, no blobs */
	img = pull_ok(f, f->ref, IMAGE_PULL_ALWAYS);
	image_free(img);
	assert_false(blob_here(f, f->layers[0].digest));
	assert_int_equal(image_record_get(f->store, f->ref, &rec, &err), 0);
	assert_null(json_get(rec, "layers"));
	cJSON_Delete(rec);
	/* then the CLI's: the layers are here, their blobs are fetched and checked */
	images_keep_blobs(f->store, true);
	img = pull_ok(f, f->ref, IMAGE_PULL_ALWAYS);
	image_free(img);
	for (int i = 0; i < 2; i++) {
		struct buf data = BUF_INIT;
		char d[DIGEST_SIZE];

		buf_reset(&path);
		images_blob_path(f->dir, f->layers[i].digest, &path);
		assert_int_equal(fs_read_file(buf_str(&path), 1 << 20, &data), 0);
		digest_sha256(data.data, data.len, d);
		assert_string_equal(d, f->layers[i].digest);
		buf_release(&data);
	}
	assert_true(blob_here(f, f->manifest_digest));
	assert_true(blob_here(f, f->config_digest));
	assert_int_equal(image_record_get(f->store, f->ref, &rec, &err), 0);
	assert_string_equal(json_str(rec, "configDigest"), f->config_digest);
	assert_int_equal(cJSON_GetArraySize(json_arr(rec, "layers")), 2);
	cJSON_Delete(rec);
	buf_release(&path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_reference_format),
		cmocka_unit_test(test_hosts_and_types),
		cmocka_unit_test(test_challenges),
		cmocka_unit_test(test_retry_delays),
		cmocka_unit_test(test_platforms),
		cmocka_unit_test(test_behaviors),
		cmocka_unit_test_setup_teardown(test_pull_by_tag_and_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_joined_pulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_behaviors_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_content_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_survive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_moved_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull_keeps_blobs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
