/*
 * metrics.c: the server's metrics (metrics.h). Counters and histograms are
 * updated lock-free on the request path; the gauges of tasks and container
 * instances are read from the store when /metrics is scraped (one prefix
 * scan each), so keeping them costs the request path nothing.
 */
#include "api/metrics.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/cleanup.h"
#include "core/metrics.h"
#include "core/util.h"
#include "main.h"
#include "store/store.h"
#include "core/banned.h"

/* Per cluster and state, counted while the store is scanned. */
#define TALLY_MAX 4096

struct api_metrics {
	struct api_server *srv;
	struct metrics *m;
	struct metric_family *requests, *duration, *reg_requests, *scheduler, *commit, *commits;
	struct metric_series *reg_in, *reg_out, *commit_ok, *commit_failed, *commit_time;
	int64_t start_s;
};

struct tally {
	char cluster[256];
	char state[32];
	uint64_t n;
};

struct tallies {
	struct tally *v;
	size_t n, cap;
	const char *prefix;
	const char *field;
};

static void tally_add(struct tallies *t, const char *cluster, size_t cluster_len, const char *state)
{
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->v[i].cluster) == cluster_len &&
		    !strncmp(t->v[i].cluster, cluster, cluster_len) &&
		    !strcmp(t->v[i].state, state)) {
			t->v[i].n++;
			return;
		}
	if (t->n == TALLY_MAX)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct tally *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			abort();
		t->v = v;
		t->cap = cap;
	}
	snprintf(t->v[t->n].cluster, sizeof(t->v[0].cluster), "%.*s", (int)cluster_len, cluster);
	snprintf(t->v[t->n].state, sizeof(t->v[0].state), "%s", state);
	t->v[t->n].n = 1;
	t->n++;
}

/* "task/CLUSTER/ID" or "instance/CLUSTER/ID": count the document's state field. */
static int count_one(void *ctx, const struct store_kv *kv)
{
	struct tallies *t = ctx;
	const char *cluster = kv->key + strlen(t->prefix), *slash = strchr(cluster, '/');
	_cleanup_json_ cJSON *doc = NULL;
	const char *state;

	if (!slash)
		return 0; /* not one resource (an index key of the kind) */
	doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	state = json_str(doc, t->field);
	if (state)
		tally_add(t, cluster, (size_t)(slash - cluster), state);
	return 0;
}

static void write_tallies(struct buf *out, struct store *store, const char *prefix,
			  const char *field, const char *name, const char *help)
{
	struct tallies t = { .prefix = prefix, .field = field };
	struct err err = ERR_INIT;

	metrics_write_header(out, name, help, METRIC_GAUGE);
	if (store_scan(store, prefix, NULL, count_one, &t, &err) == 0) {
		for (size_t i = 0; i < t.n; i++) {
			_cleanup_buf_ struct buf labels = BUF_INIT;

			metrics_label(&labels, "cluster", t.v[i].cluster);
			metrics_label(&labels, field[0] == 'l' ? "state" : "status", t.v[i].state);
			metrics_write_sample(out, name, buf_str(&labels), (double)t.v[i].n);
		}
	}
	free(t.v);
}

static void collect(void *ctx, struct buf *out)
{
	struct api_metrics *am = ctx;
	_cleanup_buf_ struct buf labels = BUF_INIT;

	write_tallies(out, am->srv->store, "task/", "lastStatus", "berth_tasks",
		      "Tasks by cluster and last status.");
	write_tallies(out, am->srv->store, "instance/", "status", "berth_container_instances",
		      "Container instances by cluster and status.");
	metrics_write_header(out, "berth_build_info", "The version of berth serving.",
			     METRIC_GAUGE);
	metrics_label(&labels, "version", BERTH_VERSION);
	metrics_write_sample(out, "berth_build_info", buf_str(&labels), 1);
	metrics_write_header(out, "berth_process_start_time_seconds",
			     "When the server started, in seconds since the epoch.", METRIC_GAUGE);
	metrics_write_sample(out, "berth_process_start_time_seconds", NULL, (double)am->start_s);
}

struct api_metrics *api_metrics_new(struct api_server *srv)
{
	struct api_metrics *am = calloc(1, sizeof(*am));
	const double *lat = metrics_latency_buckets;
	size_t n_lat = metrics_latency_buckets_n;

	if (!am)
		abort();
	am->srv = srv;
	am->start_s = now_ms() / 1000;
	am->m = metrics_new();
	am->requests = metrics_family(am->m, METRIC_COUNTER, "berth_api_requests_total",
				      "Requests of the JSON APIs answered, by service, action "
				      "and HTTP status.",
				      "service,action,code", NULL, 0);
	am->duration = metrics_family(am->m, METRIC_HISTOGRAM, "berth_api_request_duration_seconds",
				      "Time from a JSON API request's headers to its answer.",
				      "service,action", lat, n_lat);
	am->reg_requests = metrics_family(am->m, METRIC_COUNTER, "berth_registry_requests_total",
					  "Requests of the registry (/v2/) answered, by method "
					  "and HTTP status.",
					  "method,code", NULL, 0);
	am->reg_in = metric_series(
		metrics_family(am->m, METRIC_COUNTER, "berth_registry_received_bytes_total",
			       "Bytes of request bodies the registry received (pushes).", NULL,
			       NULL, 0),
		NULL);
	am->reg_out = metric_series(
		metrics_family(am->m, METRIC_COUNTER, "berth_registry_sent_bytes_total",
			       "Bytes of response bodies the registry sent (pulls).", NULL, NULL,
			       0),
		NULL);
	am->scheduler = metrics_family(
		am->m, METRIC_HISTOGRAM, "berth_scheduler_loop_duration_seconds",
		"Time one pass of a scheduler loop took, by loop.", "loop", lat, n_lat);
	am->commit = metrics_family(am->m, METRIC_HISTOGRAM, "berth_store_commit_duration_seconds",
				    "Time a store commit took until durable.", NULL, lat, n_lat);
	am->commits = metrics_family(am->m, METRIC_COUNTER, "berth_store_commits_total",
				     "Store commits, by result.", "result", NULL, 0);
	am->commit_ok = metric_series(am->commits, (const char *const[]){ "ok" });
	am->commit_failed = metric_series(am->commits, (const char *const[]){ "failed" });
	am->commit_time = metric_series(am->commit, NULL); /* shown before any commit */
	metrics_add_collector(am->m, collect, am);
	return am;
}

void api_metrics_free(struct api_metrics *am)
{
	if (!am)
		return;
	metrics_free(am->m);
	free(am);
}

static const char *status_str(int status, char buf[8])
{
	snprintf(buf, 8, "%d", status >= 100 && status <= 999 ? status : 0);
	return buf;
}

void api_metrics_request(struct api_metrics *am, const char *service, const char *action,
			 int status, uint64_t ns)
{
	char code[8];

	if (!am)
		return;
	metric_add(metric_series(am->requests, (const char *const[]){ service, action,
								      status_str(status, code) }),
		   1);
	metric_observe(metric_series(am->duration, (const char *const[]){ service, action }),
		       (double)ns / 1e9);
}

void api_metrics_registry(struct api_metrics *am, const char *method, int status, uint64_t bytes_in,
			  uint64_t bytes_out)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };
	const char *m = "other";
	char code[8];

	if (!am)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (!strcmp(method, methods[i]))
			m = methods[i];
	metric_add(metric_series(am->reg_requests,
				 (const char *const[]){ m, status_str(status, code) }),
		   1);
	metric_add(am->reg_in, bytes_in);
	metric_add(am->reg_out, bytes_out);
}

void api_metrics_scheduler(struct api_metrics *am, const char *loop, uint64_t ns)
{
	if (am)
		metric_observe(metric_series(am->scheduler, (const char *const[]){ loop }),
			       (double)ns / 1e9);
}

void api_metrics_commit(void *ctx, uint64_t ns, int result)
{
	struct api_metrics *am = ctx;

	metric_add(result < 0 ? am->commit_failed : am->commit_ok, 1);
	metric_observe(am->commit_time, (double)ns / 1e9);
}

void api_metrics_render(struct api_metrics *am, struct buf *out)
{
	metrics_render(am->m, out);
}
