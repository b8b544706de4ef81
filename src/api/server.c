/*
 * server.c: `berth server`, the control plane, and `berth dev`, the same
 * with embedded defaults (it will also run an agent in-process). Parses the
 * options, opens the store, loads the access keys and serves the HTTP
 * endpoint until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/agent_hub.h"
#include "api/service_scheduler.h"
#include "api/api.h"
#include "api/http.h"
#include "api/metrics.h"
#include "api/task_purge.h"
#include "core/metrics.h"
#include "core/log.h"
#include "core/util.h"
#include "main.h"
#include "registry/blobs.h"
#include "registry/distribution.h"
#include "registry/registry.h"
#include "store/logdb.h"
#include "core/banned.h"

/* What the HTTP handlers share: the JSON APIs' state and the registry. */
struct server {
	struct api_server api;
	struct registry registry;
};

/* The registry's collector, run every interval_s until stopped. */
struct gc_thread {
	struct registry *registry;
	int64_t interval_s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

static void usage(FILE *f, const char *self)
{
	fprintf(f,
		"usage: %s [options]\n"
		"\n"
		"  --listen HOST:PORT    address to serve on (default 127.0.0.1:9400; port 0 picks "
		"one)\n"
		"  --data-dir DIR        where the state lives (default ./berth-data)\n"
		"  --credentials FILE    access keys, one 'ACCESS_KEY_ID SECRET_ACCESS_KEY' a "
		"line;\n"
		"                        without it, BERTH_ACCESS_KEY_ID and "
		"BERTH_SECRET_ACCESS_KEY\n"
		"  --region NAME         region in every ARN (default " API_DEFAULT_REGION ")\n"
		"  --account-id ID       12-digit account id in every ARN "
		"(default " API_DEFAULT_ACCOUNT_ID ")\n"
		"  --threads N           HTTP worker threads (default: one per CPU, at least 2)\n"
		"  --log-level LEVEL     debug, info, warn or error (default info)\n"
		"  --registry-create-on-push\n"
		"                        a push to a repository that does not exist creates it\n"
		"  --registry-gc-interval SECONDS\n"
		"                        how often unreferenced blobs and abandoned uploads are\n"
		"                        removed (default 600)\n"
		"  --registry-gc-grace SECONDS\n"
		"                        blobs written or mounted less than this ago are\n"
		"                        never collected, referenced or not (0 to 2592000,\n"
		"                        default 3600)\n"
		"  --agent-timeout SECONDS\n"
		"                        an agent that has not polled for this long is marked\n"
		"                        agentConnected=false (1 to 86400, default 60)\n"
		"  --service-backoff-max SECONDS\n"
		"                        the longest a service waits before starting again a\n"
		"                        task that keeps failing (1 to 86400, default 900)\n"
		"  --registry-upload-max-age SECONDS\n"
		"                        a blob upload idle this long is removed (1 to 2592000,\n"
		"                        default 3600)\n"
		"  --task-retention SECONDS\n"
		"                        a task stopped this long ago is removed (1 to 2592000,\n"
		"                        default 3600)\n"
		"\n"
		"berth dev, when given no keys, generates a pair into DATA-DIR/credentials, and\n"
		"runs an agent (state in DATA-DIR/agent) that joins the cluster --cluster NAME\n"
		"(default \"default\", created when missing); --agent-metrics-listen HOST:PORT\n"
		"serves that agent's /metrics.\n",
		self);
}

/* The largest body of a CloudWatch Logs request. */
#define LOGS_HTTP_BODY_MAX (8u << 20)

static void begin(void *ctx, struct http_request *req)
{
	struct server *srv = ctx;
	const char *target;

	if (registry_http_path(req->path)) {
		registry_http_begin(&srv->registry, req);
		return;
	}
	/*
	 * A PutLogEvents batch holds up to 1 MiB of messages, and JSON escapes
	 * a control character in six bytes: its body may be well over 1 MiB.
	 */
	target = http_header(req, "X-Amz-Target");
	if (target && startswith(target, "Logs_20140328."))
		req->body_max = LOGS_HTTP_BODY_MAX;
}

/* Count each answered request of the JSON APIs and of the registry. */
static void done(void *ctx, struct http_request *req, const struct http_response *resp)
{
	struct server *srv = ctx;
	uint64_t out;

	if (registry_http_path(req->path)) {
		out = !strcmp(req->method, "HEAD") ? 0
		      : resp->has_fd		   ? resp->fd_length
						   : resp->body.len;
		api_metrics_registry(srv->api.metrics, req->method, resp->status,
				     req->body_received, out);
	} else if (!strcmp(req->path, "/")) {
		api_metrics_request(srv->api.metrics, req->tag_service ?: "unknown",
				    req->tag_action ?: "unknown", resp->status,
				    mono_ns() - req->start_ns);
	}
}

static void handle(void *ctx, struct http_request *req, struct http_response *resp)
{
	struct server *srv = ctx;

	if (registry_http_path(req->path)) {
		registry_http_handle(&srv->registry, req, resp);
		return;
	}
	if (!strcmp(req->path, "/healthz") && !strcmp(req->method, "GET")) {
		resp->status = 200;
		resp->content_type = "text/plain";
		buf_puts(&resp->body, "ok\n");
		return;
	}
	if (!strcmp(req->path, "/")) {
		api_handle(&srv->api, req, resp);
		return;
	}
	if (!strcmp(req->path, "/metrics") && !strcmp(req->method, "GET")) {
		resp->status = 200;
		resp->content_type = METRICS_CONTENT_TYPE;
		api_metrics_render(srv->api.metrics, &resp->body);
		return;
	}
	resp->status = 404;
	resp->content_type = "text/plain";
	buf_puts(&resp->body, "not found\n");
}

/*
 * One event-loop thread per CPU: each serves many connections, and more
 * threads than CPUs only add context switches to every request's latency.
 * A commit blocks its thread until durable, so at least two.
 */
static int64_t default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : n > 64 ? 64 : n;
}

static int valid_region(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 25)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * Make sure DIR/credentials holds a key pair, generating one on first use,
 * so that `berth dev` never serves without authentication. Returns the
 * file's path in ret_path.
 */
static int dev_credentials(const char *data_dir, struct buf *ret_path, struct err *err)
{
	char key[21], secret[41];
	FILE *f;
	int fd;

	if (mkdir(data_dir, 0700) < 0 && errno != EEXIST)
		return err_set(err, -errno, E_SERVER, "creating '%s': %m", data_dir);
	buf_printf(ret_path, "%s/credentials", data_dir);
	if (access(buf_str(ret_path), F_OK) == 0)
		return 0;
	/* AKIA-like 20 characters and a 40-character secret, like AWS's */
	snprintf(key, sizeof(key), "BERTH");
	random_hex(key + 5, 7);
	key[19] = 'A';
	key[20] = '\0';
	for (char *p = key; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	random_hex(secret, 20);
	fd = open(buf_str(ret_path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "creating '%s': %m", buf_str(ret_path));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return err_set(err, -errno, E_SERVER, "writing '%s': %m", buf_str(ret_path));
	}
	fprintf(f, "# berth dev's generated key pair: ACCESS_KEY_ID SECRET_ACCESS_KEY\n%s %s\n",
		key, secret);
	if (fclose(f) != 0)
		return err_set(err, -EIO, E_SERVER, "writing '%s': %m", buf_str(ret_path));
	return 0;
}

/*
 * Run every interval: a line when something was removed, and a failure
 * once until it changes or the collector succeeds again, so that a pass
 * every second never fills the log with the same line.
 */
static void *gc_main(void *arg)
{
	struct gc_thread *g = arg;
	struct timespec until;
	struct err err = ERR_INIT;
	char failed[sizeof(err.msg)] = "";
	unsigned uploads, blobs;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += g->interval_s;
		while (!g->stop && pthread_cond_timedwait(&g->cond, &g->lock, &until) != ETIMEDOUT)
			;
		if (g->stop)
			break;
		pthread_mutex_unlock(&g->lock);
		uploads = blobs = 0;
		if (registry_upload_sweep(g->registry, now_ms(), &uploads, &err) < 0 ||
		    registry_gc(g->registry, now_ms(), &blobs, &err) < 0) {
			if (strcmp(failed, err.msg) != 0)
				log_warn("registry garbage collection: %s", err.msg);
			snprintf(failed, sizeof(failed), "%s", err.msg);
		} else {
			if (failed[0])
				log_info("registry garbage collection works again");
			failed[0] = '\0';
			if (uploads || blobs)
				log_info("registry garbage collection: removed %u blobs and %u "
					 "upload files",
					 blobs, uploads);
		}
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static void gc_stop(struct gc_thread *g)
{
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
}

/* The address clients reach /v2/ at: the listen address, or this host's name for a wildcard. */
static void registry_endpoint(char *out, size_t size, const char *listen, unsigned port)
{
	const char *colon = strrchr(listen, ':');
	size_t hl = colon ? (size_t)(colon - listen) : 0;
	char host[128] = "";

	if (hl > 0 && hl < sizeof(host)) {
		memcpy(host, listen, hl);
		host[hl] = '\0';
	}
	if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "[::]"))
		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			snprintf(host, sizeof(host), "127.0.0.1");
	snprintf(out, size, "%s:%u", host, port);
}

int server_run(int argc, char **argv, bool dev, const struct server_hooks *hooks)
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "credentials", required_argument, NULL, 'c' },
		{ "region", required_argument, NULL, 'r' },
		{ "account-id", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "registry-create-on-push", no_argument, NULL, 'P' },
		{ "registry-gc-interval", required_argument, NULL, 'G' },
		{ "registry-gc-grace", required_argument, NULL, 'g' },
		{ "registry-upload-max-age", required_argument, NULL, 'U' },
		{ "agent-timeout", required_argument, NULL, 'A' },
		{ "task-retention", required_argument, NULL, 'R' },
		{ "service-backoff-max", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = "127.0.0.1:9400", *data_dir = "berth-data", *cred_file = NULL;
	const char *region = API_DEFAULT_REGION, *account = API_DEFAULT_ACCOUNT_ID;
	const char *self = dev ? "berth dev" : "berth server";
	static struct server server;
	struct api_server *srv = &server.api;
	struct gc_thread gc = { .lock = PTHREAD_MUTEX_INITIALIZER,
				.cond = PTHREAD_COND_INITIALIZER };
	bool create_on_push = false;
	int64_t gc_interval = 600;
	int64_t gc_grace_s = REGISTRY_GC_GRACE_MS / 1000;
	int64_t upload_max_age_s = REGISTRY_UPLOAD_MAX_AGE_MS / 1000;
	int64_t agent_timeout_s = 60;
	int64_t task_retention_s = TASK_RETENTION_DEFAULT_S;
	struct task_purge *purge = NULL;
	int64_t backoff_max_s = SERVICE_BACKOFF_MAX_MS_DEFAULT / 1000;
	struct http_server *http = NULL;
	struct http_options hopts;
	struct err err = ERR_INIT;
	struct buf dev_creds = BUF_INIT;
	sigset_t stop_signals;
	int64_t threads = default_threads(), level;
	unsigned port = 0;
	int c, r, status = 1;

	if (getenv("BERTH_LOG") && (level = log_level_parse(getenv("BERTH_LOG"))) >= 0)
		log_set_level((enum log_level)level);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'c': cred_file = optarg; break;
		case 'r': region = optarg; break;
		case 'a': account = optarg; break;
		case 't':
			if (parse_int64(optarg, 1, 256, &threads) < 0) {
				fprintf(stderr, "%s: --threads takes 1 to 256\n", self);
				return 2;
			}
			break;
		case 'L':
			level = log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "%s: unknown log level '%s'\n", self, optarg);
				return 2;
			}
			log_set_level((enum log_level)level);
			break;
		case 'P': create_on_push = true; break;
		case 'G':
			if (parse_int64(optarg, 1, 86400 * 7, &gc_interval) < 0) {
				fprintf(stderr, "%s: --registry-gc-interval takes 1 to 604800\n",
					self);
				return 2;
			}
			break;
		case 'g':
			if (parse_int64(optarg, 0, REGISTRY_AGE_MAX_S, &gc_grace_s) < 0) {
				fprintf(stderr,
					"%s: --registry-gc-grace takes 0 to %d seconds, not '%s'\n",
					self, REGISTRY_AGE_MAX_S, optarg);
				return 2;
			}
			break;
		case 'U':
			if (parse_int64(optarg, 1, REGISTRY_AGE_MAX_S, &upload_max_age_s) < 0) {
				fprintf(stderr,
					"%s: --registry-upload-max-age takes 1 to %d seconds, not "
					"'%s'\n",
					self, REGISTRY_AGE_MAX_S, optarg);
				return 2;
			}
			break;
		case 'A':
			if (parse_int64(optarg, 1, 86400, &agent_timeout_s) < 0) {
				fprintf(stderr,
					"%s: --agent-timeout takes 1 to 86400 seconds, not '%s'\n",
					self, optarg);
				return 2;
			}
			break;
		case 'R':
			if (parse_int64(optarg, 1, TASK_RETENTION_MAX_S, &task_retention_s) < 0) {
				fprintf(stderr,
					"%s: --task-retention takes 1 to %d seconds, not '%s'\n",
					self, TASK_RETENTION_MAX_S, optarg);
				return 2;
			}
			break;
		case 'B':
			if (parse_int64(optarg, 1, 86400, &backoff_max_s) < 0) {
				fprintf(stderr,
					"%s: --service-backoff-max takes 1 to 86400 seconds, not "
					"'%s'\n",
					self, optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout, self); return 0;
		default: usage(stderr, self); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", self, argv[optind]);
		return 2;
	}
	if (!valid_region(region)) {
		fprintf(stderr, "%s: region '%s' is not like 'us-east-1'\n", self, region);
		return 2;
	}
	if (strlen(account) != 12 || strspn(account, "0123456789") != 12) {
		fprintf(stderr, "%s: account id '%s' is not 12 digits\n", self, account);
		return 2;
	}
	if (dev && !cred_file &&
	    !(getenv("BERTH_ACCESS_KEY_ID") && getenv("BERTH_SECRET_ACCESS_KEY"))) {
		r = dev_credentials(data_dir, &dev_creds, &err);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", self, err.msg);
			return 1;
		}
		cred_file = buf_str(&dev_creds);
	}

	/*
	 * SIGINT and SIGTERM are blocked before any thread starts (threads
	 * inherit the mask), so none of them takes the signal: the main thread
	 * waits for it with sigwait() below, without a check-then-pause race.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&server, 0, sizeof(server));
	snprintf(srv->region, sizeof(srv->region), "%s", region);
	snprintf(srv->account_id, sizeof(srv->account_id), "%s", account);
	r = credentials_load(&srv->creds, cred_file, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", self, err.msg);
		buf_release(&dev_creds);
		return 1;
	}
	r = store_open_sqlite(data_dir, &srv->store, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", self, err.msg);
		credentials_release(&srv->creds);
		buf_release(&dev_creds);
		return 1;
	}

	srv->metrics = api_metrics_new(srv);
	srv->store->commit_observer = api_metrics_commit;
	srv->store->commit_observer_ctx = srv->metrics;
	r = logdb_open(data_dir, &srv->logs, &err);
	if (r < 0)
		goto fail_store;

	r = registry_init(&server.registry, srv, data_dir, &err);
	if (r < 0)
		goto fail_logs;
	server.registry.create_on_push = create_on_push;
	server.registry.gc_grace_ms = gc_grace_s * 1000;
	server.registry.upload_max_age_ms = upload_max_age_s * 1000;
	srv->registry = &server.registry; /* the ECR handlers' */
	r = agent_hub_new(srv, agent_timeout_s * 1000, &srv->agents, &err);
	if (r < 0)
		goto fail_registry;

	hopts = (struct http_options){
		.listen = listen,
		.threads = (unsigned)threads,
		.timeout_s = 30,
		.handler = handle,
		.begin = begin,
		.done = done,
		.ctx = &server,
	};
	r = http_server_start(&hopts, &http, &port, &err);
	if (r < 0)
		goto fail_hub;
	registry_endpoint(server.registry.endpoint, sizeof(server.registry.endpoint), listen, port);
	gc.registry = &server.registry;
	gc.interval_s = gc_interval;
	if (pthread_create(&gc.thread, NULL, gc_main, &gc) != 0) {
		err_set(&err, -EAGAIN, E_SERVER, "cannot start the registry's collector thread");
		goto fail_http;
	}
	r = task_purge_start(srv, task_retention_s * 1000, &purge, &err);
	if (r < 0)
		goto fail_gc;
	r = service_scheduler_new(srv, backoff_max_s * 1000, &srv->scheduler, &err);
	if (r < 0)
		goto fail_purge;
	log_info("berth %s serving on port %u (region %s, account %s, data in '%s')", BERTH_VERSION,
		 port, srv->region, srv->account_id, data_dir);
	printf("listening on port %u\n", port);
	if (dev && dev_creds.len)
		printf("\nberth dev is ready. To use it with the aws CLI:\n"
		       "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n"
		       "  export AWS_DEFAULT_REGION=%s AWS_EC2_METADATA_DISABLED=true\n"
		       "  aws --endpoint-url http://127.0.0.1:%u ecs list-clusters\n",
		       srv->creds.pairs[0].access_key, srv->creds.pairs[0].secret_key, srv->region,
		       port);
	fflush(stdout);

	if (hooks && hooks->started) {
		char endpoint[64];

		snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", port);
		hooks->started(hooks->ctx, endpoint, srv->creds.pairs[0].access_key,
			       srv->creds.pairs[0].secret_key, srv->region, data_dir);
	}

	while (sigwait(&stop_signals, &c) != 0)
		;

	log_info("stopping");
	if (hooks && hooks->stopping)
		hooks->stopping(hooks->ctx);
	service_scheduler_free(srv->scheduler);
	srv->scheduler = NULL;
	status = 0;
	/* a failure to start undoes what was started, in reverse order, from its label */
fail_purge:
	task_purge_stop(purge);
fail_gc:
	gc_stop(&gc);
fail_http:
	agent_hub_close(srv->agents);
	http_server_stop(http);
fail_hub:
	agent_hub_free(srv->agents);
fail_registry:
	registry_release(&server.registry);
fail_logs:
	logdb_free(srv->logs);
fail_store:
	if (status)
		fprintf(stderr, "%s: %s\n", self, err.msg);
	store_free(srv->store);
	api_metrics_free(srv->metrics);
	credentials_release(&srv->creds);
	buf_release(&dev_creds);
	return status;
}

int cmd_server(int argc, char **argv)
{
	return server_run(argc, argv, false, NULL);
}
