/*
 * agent_hub.c: BerthAgent_V1.Poll, the long poll of berth's agents, and
 * their liveness (agent_hub.h, docs/agent-protocol.md).
 *
 * Each instance that polls has an entry: its change counter (seq), seeded
 * at random so that a restarted server never answers with the seq an agent
 * already has, and the time it last polled. A poll whose `since` differs
 * from its instance's seq is answered at once with every task placed on the
 * instance that has not STOPPED, each with its task definition; otherwise
 * it waits, suspended, until agent_hub_notify bumps the seq or its wait
 * is over.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/agent_hub.h"
#include "api/ecs.h"
#include "api/service_scheduler.h"
#include "api/http.h"
#include "api/task_state.h"
#include "api/model.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "core/banned.h"

#define WAIT_MAX_S	 60
#define WAIT_DEFAULT_S	 20
#define TICK_MS		 200
#define LIVENESS_TICK_MS 2000

struct entry {
	char cluster[ECS_NAME_MAX + 1];
	char id[ECS_INSTANCE_ID_MAX + 1];
	int64_t seq;
	int64_t last_seen_ms;
};

struct waiter {
	struct waiter *next;
	struct agent_hub *hub;
	struct http_request *req;
	char cluster[ECS_NAME_MAX + 1];
	char id[ECS_INSTANCE_ID_MAX + 1];
	int64_t since;
	int64_t deadline_ms;
};

struct agent_hub {
	struct api_server *srv;
	int64_t timeout_ms;
	int64_t started_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct entry *entries;
	size_t n_entries, cap_entries;
	struct waiter *waiters;
	bool closing, stop;
	pthread_t thread;
};

/* The entry of an instance, created when missing. Under h->lock. */
static struct entry *entry_get(struct agent_hub *h, const char *cluster, const char *id)
{
	struct entry *e;

	for (size_t i = 0; i < h->n_entries; i++)
		if (!strcmp(h->entries[i].id, id) && !strcmp(h->entries[i].cluster, cluster))
			return &h->entries[i];
	if (h->n_entries == h->cap_entries) {
		size_t cap = h->cap_entries ? h->cap_entries * 2 : 16;
		struct entry *n = realloc(h->entries, cap * sizeof(*n));

		if (!n)
			return NULL;
		h->entries = n;
		h->cap_entries = cap;
	}
	e = &h->entries[h->n_entries++];
	memset(e, 0, sizeof(*e));
	snprintf(e->cluster, sizeof(e->cluster), "%s", cluster);
	snprintf(e->id, sizeof(e->id), "%s", id);
	random_bytes(&e->seq, sizeof(e->seq));
	e->seq &= INT64_C(0x7fffffff); /* a JSON number any client reads exactly */
	e->last_seen_ms = h->started_ms;
	return e;
}

void agent_hub_notify(struct agent_hub *h, const char *cluster, const char *instance_id)
{
	struct entry *e;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	e = entry_get(h, cluster, instance_id);
	if (e)
		e->seq = (e->seq + 1) & INT64_C(0x7fffffff);
	for (struct waiter **p = &h->waiters; *p;) {
		struct waiter *w = *p;

		if (!strcmp(w->id, instance_id) && !strcmp(w->cluster, cluster)) {
			*p = w->next;
			http_resume(w->req);
			continue;
		}
		p = &w->next;
	}
	pthread_mutex_unlock(&h->lock);
}

/* --- answering a poll -------------------------------------------------- */

struct answer {
	const struct api_ctx *ctx;
	struct jsonw *w;
	struct err *err;
};

static int write_task(void *arg, const cJSON *task)
{
	struct answer *a = arg;
	_cleanup_json_ cJSON *td = NULL;
	cJSON *copy;
	int r;

	if (!strcmp(json_str(task, "lastStatus") ?: "", "STOPPED"))
		return 0;
	r = ecs_task_definition_resolve(a->ctx, json_str(task, "taskDefinitionArn"), &td, a->err);
	if (r == -ENOENT)
		return 0; /* cannot happen: revisions are kept while tasks use them */
	if (r < 0)
		return r;
	/* the Task as DescribeTasks shows it, and its task definition inside */
	copy = cJSON_Duplicate(task, true);
	if (!copy)
		return err_set(a->err, -ENOMEM, E_SERVER, "out of memory");
	{
		_cleanup_buf_ struct buf tdjson = BUF_INIT, taskjson = BUF_INIT;
		struct jsonw tw;

		jsonw_init(&tw, &tdjson);
		ecs_task_definition_write(&tw, td);
		jsonw_init(&tw, &taskjson);
		ecs_task_write(&tw, copy, true);
		cJSON_Delete(copy);
		/* {...the task..., "taskDefinition": {...}, "networkConfiguration": {...}} */
		if (taskjson.len >= 2 && taskjson.data[taskjson.len - 1] == '}') {
			_cleanup_buf_ struct buf both = BUF_INIT;
			const cJSON *net = json_obj(task, "_networkConfiguration");

			buf_append(&both, taskjson.data, taskjson.len - 1);
			buf_puts(&both,
				 taskjson.len > 2 ? ",\"taskDefinition\":" : "\"taskDefinition\":");
			buf_append(&both, tdjson.data, tdjson.len);
			if (net) {
				char *s = cJSON_PrintUnformatted(net);

				if (!s)
					return err_set(a->err, -ENOMEM, E_SERVER, "out of memory");
				buf_puts(&both, ",\"networkConfiguration\":");
				buf_puts(&both, s);
				free(s);
			}
			buf_putc(&both, '}');
			jsonw_raw(a->w, both.data, both.len);
		}
	}
	return 0;
}

/* The members of the answer to a poll of instance id of cluster, written to w. */
static int poll_answer(struct api_server *srv, const char *cluster, const char *id, int64_t seq,
		       struct jsonw *w, struct err *err)
{
	struct api_ctx ctx = { .srv = srv, .now_ms = now_ms() };
	_cleanup_json_ cJSON *inst = NULL;
	struct answer a = { .ctx = &ctx, .err = err, .w = w };
	_cleanup_buf_ struct buf lock = BUF_INIT;
	uint64_t version;
	int r;

	/*
	 * Under the lock every write of the cluster's instances and tasks
	 * holds: the answer is one state, not half of a change made of several
	 * commits (a forced deregistration stops each task, then the instance).
	 */
	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	r = ecs_instance_load(&ctx, cluster, id, &inst, &version, err);
	if (r == -ENOENT)
		r = err_set(err, -ENOENT, E_INVALID_PARAMETER,
			    "Container instance '%s' not found in cluster '%s'", id, cluster);
	if (r == 0) {
		jsonw_key_int(w, "seq", seq);
		jsonw_key_str(w, "containerInstanceStatus", json_str(inst, "status") ?: "INACTIVE");
		jsonw_key(w, "tasks");
		jsonw_arr_begin(w);
		if (strcmp(json_str(inst, "status") ?: "", "INACTIVE") != 0)
			r = ecs_tasks_each(&ctx, cluster, id, write_task, &a, err);
		jsonw_arr_end(w);
	}
	api_unlock(buf_str(&lock));
	return r;
}

static void poll_resume(void *arg, struct http_request *req, struct http_response *resp)
{
	struct waiter *w = arg;
	struct err err = ERR_INIT;
	struct buf out = BUF_INIT;
	struct jsonw jw;
	struct entry *e;
	int64_t seq;
	int r;

	(void)req;
	pthread_mutex_lock(&w->hub->lock);
	e = entry_get(w->hub, w->cluster, w->id);
	seq = e ? e->seq : w->since;
	pthread_mutex_unlock(&w->hub->lock);
	jsonw_init(&jw, &out);
	jsonw_obj_begin(&jw);
	r = poll_answer(w->hub->srv, w->cluster, w->id, seq, &jw, &err);
	jsonw_obj_end(&jw);
	if (r < 0)
		api_answer_error(resp, &err);
	else
		api_answer(resp, out.data, out.len);
	buf_release(&out);
}

/* The connection is suspended: wait in the list, unless there is news already. */
static void poll_suspended(void *arg, struct http_request *req)
{
	struct waiter *w = arg;
	struct agent_hub *h = w->hub;
	struct entry *e;

	pthread_mutex_lock(&h->lock);
	e = entry_get(h, w->cluster, w->id);
	w->req = req;
	if (h->closing || !e || e->seq != w->since) {
		http_resume(req);
	} else {
		w->next = h->waiters;
		h->waiters = w;
	}
	pthread_mutex_unlock(&h->lock);
}

/*
 * Set instance id's agentConnected to `connected` when it is not so yet
 * (an INACTIVE instance is left as it is), under the cluster's instance
 * lock. -ENOENT, err untouched, when there is no such instance.
 */
static int set_agent_connected(const struct api_ctx *ctx, const char *cluster, const char *id,
			       bool connected, struct err *err)
{
	_cleanup_buf_ struct buf lock = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	struct store_txn txn = STORE_TXN_INIT;
	uint64_t version;
	int r;

	ecs_instance_lock_key(&lock, cluster);
	api_lock(buf_str(&lock));
	r = ecs_instance_load(ctx, cluster, id, &doc, &version, err);
	if (r == 0 && json_bool(doc, "agentConnected", false) != connected &&
	    strcmp(json_str(doc, "status") ?: "", "INACTIVE") != 0) {
		json_set(doc, "agentConnected", cJSON_CreateBool(connected));
		ecs_instance_put(&txn, cluster, id, doc, version);
		r = store_commit(ctx->srv->store, &txn, NULL, err);
		store_txn_release(&txn);
		if (r == 0)
			service_scheduler_wake(ctx->srv->scheduler);
		if (r == 0 && connected)
			log_info("agent of %s/%s connected", cluster, id);
		else if (r == 0)
			log_warn("agent of %s/%s stopped polling: agentConnected=false", cluster,
				 id);
	}
	api_unlock(buf_str(&lock));
	return r;
}

/*
 * Record a poll as the instance's heartbeat; set agentConnected when it was
 * false. An unknown instance is an error before the hub keeps anything
 * about it.
 */
static int heartbeat(const struct api_ctx *ctx, const char *cluster, const char *id,
		     struct err *err)
{
	int r = set_agent_connected(ctx, cluster, id, true, err);

	if (r == -ENOENT)
		return err_set(err, -ENOENT, E_INVALID_PARAMETER,
			       "Container instance '%s' not found in cluster '%s'", id, cluster);
	return r;
}

static int agent_poll(struct api_ctx *ctx, struct err *err)
{
	struct agent_hub *h = ctx->srv->agents;
	char cluster[ECS_NAME_MAX + 1], id[ECS_INSTANCE_ID_MAX + 1];
	const cJSON *since_v = json_get(ctx->in, "since"),
		    *wait_v = json_get(ctx->in, "waitSeconds");
	int64_t since = cJSON_IsNumber(since_v) ? (int64_t)since_v->valuedouble : 0;
	int64_t wait = cJSON_IsNumber(wait_v) ? (int64_t)wait_v->valuedouble : WAIT_DEFAULT_S;
	_cleanup_json_ cJSON *cdoc = NULL;
	struct waiter *w;
	uint64_t cv;
	int64_t seq;
	bool now;
	int r;

	if (!h)
		return err_set(err, -ENOSYS, E_UNKNOWN_OPERATION, "this server has no agent hub");
	if ((since_v && !cJSON_IsNumber(since_v)) || (wait_v && !cJSON_IsNumber(wait_v)) ||
	    (json_get(ctx->in, "cluster") && !json_str(ctx->in, "cluster")) ||
	    !json_str(ctx->in, "containerInstance"))
		return err_set(err, -EINVAL, E_SERIALIZATION,
			       "Poll takes {cluster, containerInstance, since, waitSeconds}");
	if (wait < 0 || wait > WAIT_MAX_S)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "waitSeconds must be between 0 and %d", WAIT_MAX_S);
	r = ecs_cluster_name(ctx, json_str(ctx->in, "cluster"), cluster, err);
	if (r == 0)
		r = ecs_cluster_load(ctx, cluster, true, &cdoc, &cv, err);
	if (r < 0)
		return r;
	if (ecs_instance_id(ctx, cluster, json_str(ctx->in, "containerInstance"), id) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Container instance '%.200s' not found in cluster '%s'",
			       json_str(ctx->in, "containerInstance"), cluster);
	r = heartbeat(ctx, cluster, id, err);
	if (r < 0)
		return r;

	pthread_mutex_lock(&h->lock);
	{
		struct entry *e = entry_get(h, cluster, id);

		if (!e) {
			pthread_mutex_unlock(&h->lock);
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		}
		e->last_seen_ms = now_ms();
		seq = e->seq;
	}
	now = h->closing || wait == 0 || seq != since || !ctx->http;
	pthread_mutex_unlock(&h->lock);

	if (!now) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		w->hub = h;
		snprintf(w->cluster, sizeof(w->cluster), "%s", cluster);
		snprintf(w->id, sizeof(w->id), "%s", id);
		w->since = since;
		w->deadline_ms = now_ms() + wait * 1000;
		ctx->http->resume_ctx = w;
		ctx->http->on_suspended = poll_suspended;
		ctx->http->resume = poll_resume;
		ctx->http->resume_free = free;
		ctx->suspend = true;
		return 0;
	}
	return poll_answer(ctx->srv, cluster, id, seq, ctx->out, err);
}

/* --- the hub's thread: ended waits, and liveness ----------------------- */

struct liveness {
	struct agent_hub *h;
	int64_t now;
	struct err *err;
	/* instances to mark disconnected, "CLUSTER\nID" each */
	struct buf stale;
};

static int check_instance(void *arg, const struct store_kv *kv)
{
	struct liveness *l = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *arn = json_str(doc, "containerInstanceArn");
	const char *rest = kv->key + strlen("instance/"), *slash = strchr(rest, '/');
	char cluster[ECS_NAME_MAX + 1];
	struct entry *e;

	if (!doc || !arn || !slash || !json_bool(doc, "agentConnected", false) ||
	    !strcmp(json_str(doc, "status") ?: "", "INACTIVE") ||
	    (size_t)(slash - rest) > ECS_NAME_MAX)
		return 0;
	snprintf(cluster, sizeof(cluster), "%.*s", (int)(slash - rest), rest);
	pthread_mutex_lock(&l->h->lock);
	e = entry_get(l->h, cluster, slash + 1);
	if (e && l->now - e->last_seen_ms > l->h->timeout_ms)
		buf_printf(&l->stale, "%s\n%s\n", cluster, slash + 1);
	pthread_mutex_unlock(&l->h->lock);
	return 0;
}

static void mark_disconnected(struct agent_hub *h, const char *cluster, const char *id)
{
	struct api_ctx ctx = { .srv = h->srv, .now_ms = now_ms() };
	struct err err = ERR_INIT;

	set_agent_connected(&ctx, cluster, id, false, &err);
}

static void check_liveness(struct agent_hub *h)
{
	struct err err = ERR_INIT;
	struct liveness l = { .h = h, .now = now_ms(), .err = &err };
	char *save = NULL;

	buf_init(&l.stale);
	store_scan(h->srv->store, "instance/", NULL, check_instance, &l, &err);
	for (char *c = l.stale.data ? strtok_r(l.stale.data, "\n", &save) : NULL; c;
	     c = strtok_r(NULL, "\n", &save)) {
		char *id = strtok_r(NULL, "\n", &save);

		if (id)
			mark_disconnected(h, c, id);
	}
	buf_release(&l.stale);
}

static void *hub_thread(void *arg)
{
	struct agent_hub *h = arg;
	int64_t last_liveness = now_ms();

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		struct timespec ts;
		int64_t now = now_ms();

		for (struct waiter **p = &h->waiters; *p;) {
			struct waiter *w = *p;

			if (w->deadline_ms <= now) {
				*p = w->next;
				http_resume(w->req);
				continue;
			}
			p = &w->next;
		}
		if (now - last_liveness >= LIVENESS_TICK_MS) {
			last_liveness = now;
			pthread_mutex_unlock(&h->lock);
			check_liveness(h);
			pthread_mutex_lock(&h->lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int agent_hub_new(struct api_server *srv, int64_t agent_timeout_ms, struct agent_hub **ret,
		  struct err *err)
{
	struct agent_hub *h = calloc(1, sizeof(*h));

	if (!h)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	h->srv = srv;
	h->timeout_ms = agent_timeout_ms;
	h->started_ms = now_ms();
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, hub_thread, h) != 0) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		free(h);
		return err_set(err, -EAGAIN, E_SERVER, "cannot start the agent hub's thread");
	}
	*ret = h;
	return 0;
}

void agent_hub_close(struct agent_hub *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->closing = true;
	while (h->waiters) {
		struct waiter *w = h->waiters;

		h->waiters = w->next;
		http_resume(w->req);
	}
	pthread_mutex_unlock(&h->lock);
}

void agent_hub_free(struct agent_hub *h)
{
	if (!h)
		return;
	agent_hub_close(h);
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->entries);
	free(h);
}

/* --- the service ------------------------------------------------------- */

static const struct api_operation agent_ops[] = {
	{ "Poll", agent_poll },
	{ "ReportHealth", agent_report_health },
};

const struct api_service api_agent = {
	.target_prefix = "BerthAgent_V1",
	.signing_name = "ecs",
	.model = NULL,
	.ops = agent_ops,
	.n_ops = ARRAY_SIZE(agent_ops),
	.metrics_name = "agent", /* signed as ecs, told apart in /metrics */
};
