/*
 * service_scheduler.c: the service scheduler's reconcile loop
 * (service_scheduler.h, docs/services.md).
 *
 * A pass takes each cluster that has services in turn: it reads the
 * cluster's container instances and its tasks (those of services, stopped
 * ones included, and every live one, for placement's task:group), then
 * reconciles each service in two steps. First, from a snapshot of the
 * service, it decides and acts: tasks it stops are asked to stop with
 * stopCode ServiceSchedulerInitiated; tasks it starts are placed and
 * written by ecs_tasks_launch. Then, under the service's lock, it reloads
 * the service and records what it did and sees: events, counts, the
 * deployments' rollout states. The service's lock is never held while
 * tasks are written (a thread holds one lock at a time), so an
 * UpdateService may come between the two steps: what the second step
 * decides about deployments is then left to the next pass.
 *
 * Nothing is kept between passes but in the store: a deployment's failed
 * tasks and the restart back-off are counted from the stopped tasks
 * themselves, so a restarted server carries on as before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/ecs.h"
#include "api/service_scheduler.h"
#include "api/task_state.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "sched/deployment.h"
#include "sched/placement.h"
#include "store/store.h"
#include "core/banned.h"

#define PASS_INTERVAL_MS  1000
#define PASS_MIN_GAP_MS	  50
#define LAUNCH_MAX	  5000 /* tasks one service starts in one pass */
#define IMPAIRED_FAILURES 3

#define REASON_SCALE	"Scaling activity initiated by (deployment %s)"
#define REASON_HEALTH	"Task failed container health checks"
#define REASON_LOST	"Task stopped because the agent of its container instance is disconnected"
#define REASON_INSTANCE "Task stopped because its container instance is gone"
#define REASON_DAEMON \
	"Task stopped because its container instance no longer takes the daemon's tasks"

struct service_scheduler {
	struct api_server *srv;
	int64_t backoff_max_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool woken, stop;
	pthread_t thread;
};

/* --- a cluster's state, read once per pass ------------------------------ */

/* An instance's or a task's instance id, beside what it belongs to, for sorting. */
struct by_id {
	const char *id;
	const void *p;
};

struct view {
	const char *cluster;
	cJSON *instances; /* array of instance documents */
	cJSON *tasks;	  /* live tasks, and the stopped tasks of services */
	struct placement_instance *pi;
	const cJSON **task_ptrs;
	size_t n_instances;
	struct by_id *index; /* pi's, sorted by instance id */
};

static int collect_instance(void *arg, const struct store_kv *kv)
{
	struct view *v = arg;
	cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (doc)
		cJSON_AddItemToArray(v->instances, doc);
	return 0;
}

static bool is_stopped(const cJSON *task)
{
	return !strcmp(json_str(task, "lastStatus") ?: "", "STOPPED");
}

static int collect_live(void *arg, const cJSON *task)
{
	struct view *v = arg;

	cJSON_AddItemToArray(v->tasks, cJSON_Duplicate(task, true));
	return 0;
}

static bool has(const struct store_kv *kv, const char *s)
{
	return memmem(kv->value, kv->value_len, s, strlen(s)) != NULL;
}

/*
 * The stopped tasks of services that may count as failures (failed()):
 * the others (of no service, or stopped by the scheduler or a user for
 * another reason than health) are skipped without parsing, as
 * cJSON_PrintUnformatted wrote them. Live tasks come from the index.
 */
static int collect_stopped(void *arg, const struct store_kv *kv)
{
	struct view *v = arg;
	cJSON *doc;

	if (!has(kv, "\"lastStatus\":\"STOPPED\"") || !has(kv, "\"group\":\"service:") ||
	    ((has(kv, "\"stopCode\":\"ServiceSchedulerInitiated\"") ||
	      has(kv, "\"stopCode\":\"UserInitiated\"")) &&
	     !has(kv, REASON_HEALTH)))
		return 0;
	doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	if (doc && is_stopped(doc))
		cJSON_AddItemToArray(v->tasks, doc);
	else
		cJSON_Delete(doc);
	return 0;
}

static const char *id_of(const cJSON *doc, const char *arn_member)
{
	const char *arn = json_str(doc, arn_member);
	const char *slash = arn ? strrchr(arn, '/') : NULL;

	return slash ? slash + 1 : "";
}

static int by_id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct by_id *)a)->id, ((const struct by_id *)b)->id);
}

static void view_release(struct view *v)
{
	cJSON_Delete(v->instances);
	cJSON_Delete(v->tasks);
	free(v->pi);
	free(v->task_ptrs);
	free(v->index);
	memset(v, 0, sizeof(*v));
}

static int view_load(struct api_server *srv, const char *cluster, struct view *v, struct err *err)
{
	_cleanup_buf_ struct buf prefix = BUF_INIT;
	_cleanup_free_ struct by_id *live = NULL;
	size_t n_tasks, n_live = 0, k = 0, i = 0;
	int r;

	memset(v, 0, sizeof(*v));
	v->cluster = cluster;
	v->instances = cJSON_CreateArray();
	v->tasks = cJSON_CreateArray();
	buf_printf(&prefix, "instance/%s/", cluster);
	r = store_scan(srv->store, buf_str(&prefix), NULL, collect_instance, v, err);
	buf_reset(&prefix);
	buf_printf(&prefix, "task/%s/", cluster);
	if (r == 0) {
		struct api_ctx ctx = { .srv = srv, .now_ms = now_ms() };

		r = ecs_live_tasks_each(&ctx, cluster, collect_live, v, err);
	}
	if (r == 0)
		r = store_scan(srv->store, buf_str(&prefix), NULL, collect_stopped, v, err);
	if (r < 0)
		return r;
	v->n_instances = (size_t)cJSON_GetArraySize(v->instances);
	n_tasks = (size_t)cJSON_GetArraySize(v->tasks);
	v->pi = calloc(v->n_instances ? v->n_instances : 1, sizeof(*v->pi));
	v->task_ptrs = calloc(n_tasks ? n_tasks : 1, sizeof(*v->task_ptrs));
	v->index = calloc(v->n_instances ? v->n_instances : 1, sizeof(*v->index));
	live = calloc(n_tasks ? n_tasks : 1, sizeof(*live));
	if (!v->pi || !v->task_ptrs || !v->index || !live)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	/* each instance's live tasks: one run of task_ptrs, found by sorting, not by a scan each */
	for (const cJSON *t = v->tasks->child; t; t = t->next)
		if (!is_stopped(t))
			live[n_live++] = (struct by_id){ json_str(t, "_instanceId") ?: "", t };
	qsort(live, n_live, sizeof(*live), by_id_cmp);
	for (const cJSON *inst = v->instances->child; inst; inst = inst->next, i++) {
		struct by_id key = { id_of(inst, "containerInstanceArn"), NULL };
		size_t lo = 0, hi = n_live;

		v->pi[i].doc = inst;
		v->pi[i].tasks = &v->task_ptrs[k];
		v->index[i] = (struct by_id){ key.id, &v->pi[i] };
		while (lo < hi) { /* the first of the instance's tasks */
			size_t mid = lo + (hi - lo) / 2;

			if (by_id_cmp(&live[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n_live && !by_id_cmp(&live[lo], &key); lo++) {
			v->task_ptrs[k++] = live[lo].p;
			v->pi[i].n_tasks++;
		}
	}
	qsort(v->index, v->n_instances, sizeof(*v->index), by_id_cmp);
	return 0;
}

static const struct placement_instance *view_instance(const struct view *v, const char *id)
{
	struct by_id key = { id, NULL };
	const struct by_id *found =
		v->index ? bsearch(&key, v->index, v->n_instances, sizeof(key), by_id_cmp) : NULL;

	return found ? found->p : NULL;
}

/* --- one service's tasks ------------------------------------------------ */

enum fate { KEEP, STOP_LOST, STOP_HEALTH, STOP_SCALE, STOP_DAEMON };

struct stask {
	const cJSON *doc;
	const char *id, *instance_id, *deployment;
	bool running, healthy, primary, old;
	int64_t on_instance; /* the service's live tasks on its instance */
	enum fate fate;
};

struct svc {
	struct api_server *srv;
	struct view *v;
	const cJSON *doc; /* the snapshot decided from */
	const char *name, *primary_id;
	char group[ECS_NAME_MAX + 16];
	bool daemon, draining;
	int64_t now, backoff_max_ms;
	struct stask *tasks; /* live, desired RUNNING */
	size_t n;
	/* what the pass did, for the record */
	struct buf started, stopped; /* task ids, space separated */
	int64_t n_started, n_stopped;
	cJSON *failures; /* placement's, from the last launch */
	int64_t desired; /* DAEMON: the instances that take its tasks */
	int64_t next_ms;
	int64_t streak; /* tasks in a row that failed */
	/* the primary's tasks: whether one is running healthy */
	bool primary_success;
};

/* Whether a task definition has an essential container with a healthCheck. */
static bool has_health_check(const struct api_ctx *ctx, const char *td_arn)
{
	_cleanup_json_ cJSON *td = NULL;
	struct err err = ERR_INIT;
	const cJSON *d;

	if (!td_arn || ecs_task_definition_resolve(ctx, td_arn, &td, &err) < 0)
		return false;
	cJSON_ArrayForEach(d, json_arr(td, "containerDefinitions"))
		if (json_bool(d, "essential", true) && json_obj(d, "healthCheck"))
			return true;
	return false;
}

/*
 * Whether a stopped task of the service failed: it stopped on its own
 * (not asked to by the scheduler or a user), or the scheduler stopped it
 * for failing its health checks.
 */
static bool failed(const cJSON *task)
{
	const char *code = json_str(task, "stopCode") ?: "";

	if (startswith(json_str(task, "stoppedReason") ?: "", REASON_HEALTH))
		return true;
	return strcmp(code, "ServiceSchedulerInitiated") != 0 && strcmp(code, "UserInitiated") != 0;
}

static bool instance_takes_tasks(const cJSON *inst)
{
	return inst && !strcmp(json_str(inst, "status") ?: "", "ACTIVE") &&
	       json_bool(inst, "agentConnected", false);
}

static int classify(struct svc *s, struct err *err)
{
	struct api_ctx ctx = { .srv = s->srv, .now_ms = s->now };
	const cJSON *t;
	int64_t grace = json_int(s->doc, "healthCheckGracePeriodSeconds", 0) * 1000;
	int64_t last_success = 0, last_failure = 0;
	struct {
		const char *td;
		bool check;
	} cache[8];
	size_t n_cache = 0, cap = 0;

	cJSON_ArrayForEach(t, s->v->tasks)
		if (!strcmp(json_str(t, "group") ?: "", s->group))
			cap++;
	s->tasks = calloc(cap ? cap : 1, sizeof(*s->tasks));
	if (!s->tasks)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	cJSON_ArrayForEach(t, s->v->tasks) {
		struct stask *st;
		const struct placement_instance *pi;
		const char *td = json_str(t, "taskDefinitionArn");
		bool check = false;

		if (strcmp(json_str(t, "group") ?: "", s->group) != 0)
			continue;
		if (json_has(t, "startedAt") && json_int(t, "startedAt", 0) > last_success)
			last_success = json_int(t, "startedAt", 0);
		if (is_stopped(t)) {
			continue;
		}
		if (!strcmp(json_str(t, "desiredStatus") ?: "", "STOPPED"))
			continue;
		st = &s->tasks[s->n++];
		st->doc = t;
		st->id = id_of(t, "taskArn");
		st->instance_id = json_str(t, "_instanceId") ?: "";
		st->deployment = json_str(t, "startedBy") ?: "";
		st->running = !strcmp(json_str(t, "lastStatus") ?: "", "RUNNING");
		for (size_t i = 0; td && i < n_cache; i++)
			if (!strcmp(cache[i].td, td)) {
				check = cache[i].check;
				td = NULL;
			}
		if (td) {
			check = has_health_check(&ctx, td);
			if (n_cache < ARRAY_SIZE(cache))
				cache[n_cache++] = (typeof(cache[0])){ td, check };
		}
		st->healthy = st->running &&
			      (check ? !strcmp(json_str(t, "healthStatus") ?: "", "HEALTHY")
				     : strcmp(json_str(t, "healthStatus") ?: "", "UNHEALTHY") != 0);
		pi = view_instance(s->v, st->instance_id);
		st->on_instance = pi ? (int64_t)pi->n_tasks : 0;
		if (!pi || !strcmp(json_str(pi->doc, "status") ?: "", "INACTIVE"))
			st->fate = STOP_LOST;
		else if (!json_bool(pi->doc, "agentConnected", false))
			st->fate = STOP_LOST;
		else if (st->running && !strcmp(json_str(t, "healthStatus") ?: "", "UNHEALTHY") &&
			 s->now - json_int(t, "startedAt", s->now) >= grace)
			st->fate = STOP_HEALTH;
		st->primary =
			!strcmp(st->deployment, s->primary_id ?: "") &&
			strcmp(json_str(pi ? pi->doc : NULL, "status") ?: "", "DRAINING") != 0;
		st->old = !st->primary;
		if (st->primary && st->healthy)
			s->primary_success = true;
	}
	/* the restart back-off: failures since a task last started */
	cJSON_ArrayForEach(t, s->v->tasks) {
		int64_t at = json_int(t, "stoppedAt", 0);

		if (strcmp(json_str(t, "group") ?: "", s->group) != 0 || !is_stopped(t) ||
		    !failed(t) || at <= last_success)
			continue;
		s->streak++;
		if (at > last_failure)
			last_failure = at;
	}
	if (s->streak > 0) {
		int64_t at = last_failure + deployment_backoff_ms(s->streak, s->backoff_max_ms);

		s->next_ms = at > s->now ? at : 0;
	}
	return 0;
}

/* Candidates to stop, grouped by instance: within one, the not healthy first. */
static int by_instance(const void *a, const void *b)
{
	const struct stask *x = *(const struct stask *const *)a,
			   *y = *(const struct stask *const *)b;
	int c = strcmp(x->instance_id, y->instance_id);

	if (c)
		return c;
	if (x->healthy != y->healthy)
		return x->healthy ? 1 : -1;
	return strcmp(y->id, x->id);
}

struct stop_group {
	size_t next, end;  /* the group's candidates not chosen yet: c[next..end) */
	int64_t remaining; /* the service's live tasks left on the instance */
};

/*
 * Mark n of the kept tasks that match (primary or old; healthy 0 or 1, or
 * -1 for either) to stop: the not healthy first, each time from the
 * instance that holds most of the service's tasks (spread, undone).
 */
static void choose_stops(struct svc *s, bool primary, int healthy, int64_t n)
{
	_cleanup_free_ struct stask **c = NULL;
	_cleanup_free_ struct stop_group *g = NULL;
	size_t k = 0, n_groups = 0;

	if (n <= 0)
		return;
	c = calloc(s->n ? s->n : 1, sizeof(*c));
	g = calloc(s->n ? s->n : 1, sizeof(*g));
	if (!c || !g)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct stask *t = &s->tasks[i];

		if (t->fate != KEEP || t->primary != primary ||
		    (healthy >= 0 && t->healthy != (bool)healthy))
			continue;
		c[k++] = t;
	}
	qsort(c, k, sizeof(*c), by_instance);
	for (size_t i = 0; i < k; i++) {
		if (i == 0 || strcmp(c[i]->instance_id, c[i - 1]->instance_id) != 0)
			g[n_groups++] = (struct stop_group){ i, i, c[i]->on_instance };
		g[n_groups - 1].end = i + 1;
	}
	for (int want_healthy = 0; want_healthy <= 1 && n > 0; want_healthy++) {
		while (n > 0) {
			struct stop_group *best = NULL;

			for (size_t i = 0; i < n_groups; i++) {
				struct stop_group *x = &g[i];

				if (x->next == x->end || c[x->next]->healthy != (bool)want_healthy)
					continue;
				if (!best || x->remaining > best->remaining)
					best = x;
			}
			if (!best)
				break;
			c[best->next++]->fate = STOP_SCALE;
			best->remaining--;
			n--;
		}
	}
}

static int stop_tasks(struct svc *s, struct err *err)
{
	struct api_ctx ctx = { .srv = s->srv, .now_ms = s->now };
	_cleanup_buf_ struct buf reason = BUF_INIT;
	int r = 0;

	for (size_t i = 0; i < s->n && r == 0; i++) {
		struct stask *t = &s->tasks[i];
		const char *why;

		if (t->fate == KEEP)
			continue;
		buf_reset(&reason);
		switch (t->fate) {
		case STOP_LOST:
			why = view_instance(s->v, t->instance_id) ? REASON_LOST : REASON_INSTANCE;
			break;
		case STOP_HEALTH: why = REASON_HEALTH; break;
		case STOP_DAEMON: why = REASON_DAEMON; break;
		default:
			buf_printf(&reason, REASON_SCALE, s->primary_id ?: "");
			why = buf_str(&reason);
		}
		r = ecs_task_stop(&ctx, s->v->cluster, t->id, "ServiceSchedulerInitiated", why,
				  NULL, err);
		if (r == -ENOENT)
			r = 0;
		if (r < 0)
			break;
		if (t->running) {
			buf_printf(&s->stopped, "%s%s", s->n_stopped ? " " : "", t->id);
			s->n_stopped++;
		}
	}
	return r;
}

/* The request ecs_tasks_launch reads: RunTask's, for this service's deployment. */
static cJSON *launch_request(const struct svc *s, const char *task_definition)
{
	const cJSON *doc = s->doc, *v;
	cJSON *in = cJSON_CreateObject();
	const char *propagate = json_str(doc, "propagateTags") ?: "NONE";

	cJSON_AddStringToObject(in, "cluster", s->v->cluster);
	cJSON_AddStringToObject(in, "taskDefinition", task_definition);
	cJSON_AddStringToObject(in, "group", s->group);
	cJSON_AddStringToObject(in, "startedBy", s->primary_id);
	if ((v = json_arr(doc, "placementConstraints")))
		cJSON_AddItemToObject(in, "placementConstraints", cJSON_Duplicate(v, true));
	if ((v = json_arr(doc, "placementStrategy")))
		cJSON_AddItemToObject(in, "placementStrategy", cJSON_Duplicate(v, true));
	if ((v = json_obj(doc, "networkConfiguration")))
		cJSON_AddItemToObject(in, "networkConfiguration", cJSON_Duplicate(v, true));
	if (json_bool(doc, "enableExecuteCommand", false))
		cJSON_AddBoolToObject(in, "enableExecuteCommand", true);
	if (!strcmp(propagate, "TASK_DEFINITION"))
		cJSON_AddStringToObject(in, "propagateTags", "TASK_DEFINITION");
	else if (!strcmp(propagate, "SERVICE") && json_arr(doc, "tags"))
		cJSON_AddItemToObject(in, "tags", cJSON_Duplicate(json_arr(doc, "tags"), true));
	return in;
}

static int start_tasks(struct svc *s, int64_t n, const char *instance_id, struct err *err)
{
	const cJSON *primary = NULL, *d;
	_cleanup_json_ cJSON *in = NULL, *tasks = cJSON_CreateArray();
	struct api_ctx ctx = { .srv = s->srv, .now_ms = s->now };
	const cJSON *t;
	int r;

	if (n <= 0)
		return 0;
	if (s->next_ms > 0)
		return 0; /* backing off */
	if (n > LAUNCH_MAX)
		n = LAUNCH_MAX;
	cJSON_ArrayForEach(d, json_arr(s->doc, "deployments"))
		if (!strcmp(json_str(d, "id") ?: "", s->primary_id ?: ""))
			primary = d;
	if (!primary)
		return 0;
	in = launch_request(s, json_str(primary, "taskDefinition") ?: "");
	ctx.in = in;
	ctx.scheduler = true;
	if (!s->failures)
		s->failures = cJSON_CreateArray();
	r = ecs_tasks_launch(&ctx, (unsigned)n, instance_id, tasks, s->failures, err);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(t, tasks) {
		buf_printf(&s->started, "%s%s", s->n_started ? " " : "", id_of(t, "taskArn"));
		s->n_started++;
	}
	return 0;
}

/* --- REPLICA and DAEMON ------------------------------------------------- */

static int reconcile_replica(struct svc *s, struct err *err)
{
	const cJSON *dc = json_obj(s->doc, "deploymentConfiguration");
	struct deployment_counts c = {
		.desired = s->draining ? 0 : json_int(s->doc, "desiredCount", 0),
		.min_percent =
			json_int(dc, "minimumHealthyPercent", DEPLOYMENT_MIN_HEALTHY_DEFAULT),
		.max_percent = json_int(dc, "maximumPercent", DEPLOYMENT_MAX_PERCENT_DEFAULT),
	};
	struct deployment_plan plan;
	int r;

	for (size_t i = 0; i < s->n; i++) {
		const struct stask *t = &s->tasks[i];

		if (t->fate != KEEP)
			continue;
		if (t->primary) {
			c.primary++;
			c.primary_healthy += t->healthy;
		} else {
			c.old++;
			c.old_healthy += t->healthy;
		}
	}
	deployment_plan(&c, &plan);
	choose_stops(s, true, -1, plan.stop_primary);
	choose_stops(s, false, 0, plan.stop_old_unready);
	choose_stops(s, false, 1, plan.stop_old_healthy);
	r = stop_tasks(s, err);
	if (r == 0 && !s->draining)
		r = start_tasks(s, plan.start, NULL, err);
	s->desired = c.desired;
	return r;
}

/* Whether an instance satisfies the memberOf constraints of the service and its task definition. */
static bool daemon_eligible(const struct placement_instance *pi, const cJSON *lists[2])
{
	for (int l = 0; l < 2; l++) {
		const cJSON *c;

		cJSON_ArrayForEach(c, lists[l]) {
			struct placement_expr *e = NULL;
			struct err err = ERR_INIT;
			bool ok;

			if (strcmp(json_str(c, "type") ?: "", "memberOf") != 0)
				continue;
			if (placement_expr_parse(json_str(c, "expression") ?: "", &e, &err) < 0)
				return false;
			ok = placement_expr_match(e, pi);
			placement_expr_free(e);
			if (!ok)
				return false;
		}
	}
	return true;
}

static int reconcile_daemon(struct svc *s, struct err *err)
{
	struct api_ctx ctx = { .srv = s->srv, .now_ms = s->now };
	_cleanup_json_ cJSON *td = NULL;
	const cJSON *lists[2] = { json_arr(s->doc, "placementConstraints"), NULL };
	const cJSON *dc = json_obj(s->doc, "deploymentConfiguration");
	int64_t eligible = 0, healthy = 0, floor, may_stop;
	int r = 0;

	if (ecs_task_definition_resolve(&ctx, json_str(s->doc, "taskDefinition") ?: "", &td, err) ==
	    0)
		lists[1] = json_arr(td, "placementConstraints");
	for (size_t i = 0; i < s->n; i++) {
		struct stask *t = &s->tasks[i];
		const struct placement_instance *pi = view_instance(s->v, t->instance_id);

		if (t->fate != KEEP)
			continue;
		if (s->draining || !pi || !instance_takes_tasks(pi->doc) ||
		    !daemon_eligible(pi, lists))
			t->fate = STOP_DAEMON;
		else
			healthy += t->healthy;
	}
	for (size_t i = 0; i < s->v->n_instances; i++)
		if (!s->draining && instance_takes_tasks(s->v->pi[i].doc) &&
		    daemon_eligible(&s->v->pi[i], lists))
			eligible++;
	/* an instance's task of an older deployment goes first, within the floor */
	floor = deployment_min_healthy(eligible, json_int(dc, "minimumHealthyPercent",
							  DEPLOYMENT_DAEMON_MIN_HEALTHY_DEFAULT));
	may_stop = healthy - floor;
	for (size_t i = 0; i < s->n; i++) {
		struct stask *t = &s->tasks[i];

		if (t->fate != KEEP || t->primary)
			continue;
		if (!t->healthy)
			t->fate = STOP_SCALE;
		else if (may_stop > 0) {
			t->fate = STOP_SCALE;
			may_stop--;
		}
	}
	/* one task per instance: a second one of the same deployment goes */
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < i; j++)
			if (s->tasks[i].fate == KEEP && s->tasks[j].fate == KEEP &&
			    !strcmp(s->tasks[i].instance_id, s->tasks[j].instance_id) &&
			    s->tasks[i].primary && s->tasks[j].primary)
				s->tasks[i].fate = STOP_SCALE;
	r = stop_tasks(s, err);
	for (size_t i = 0; r == 0 && i < s->v->n_instances; i++) {
		const struct placement_instance *pi = &s->v->pi[i];
		const char *id = id_of(pi->doc, "containerInstanceArn");
		bool busy = false;

		if (s->draining || !instance_takes_tasks(pi->doc) || !daemon_eligible(pi, lists))
			continue;
		/* wait until the instance's older task is gone: ports and resources */
		for (size_t k = 0; k < s->n; k++)
			if (!strcmp(s->tasks[k].instance_id, id))
				busy = true;
		if (!busy)
			r = start_tasks(s, 1, id, err);
	}
	s->desired = eligible;
	return r;
}

int64_t service_scheduler_daemon_count(struct api_server *srv, const char *cluster,
				       const cJSON *service, const cJSON *task_definition,
				       struct err *err)
{
	const cJSON *lists[2] = { json_arr(service, "placementConstraints"),
				  json_arr(task_definition, "placementConstraints") };
	struct view v;
	int64_t n = 0;
	int r = view_load(srv, cluster, &v, err);

	for (size_t i = 0; r == 0 && i < v.n_instances; i++)
		if (instance_takes_tasks(v.pi[i].doc) && daemon_eligible(&v.pi[i], lists))
			n++;
	view_release(&v);
	return r < 0 ? r : n;
}

/* --- recording what the pass did and sees ------------------------------- */

static void add_event(cJSON *doc, int64_t now, const struct buf *msg)
{
	ecs_service_event(doc, now, buf_str(msg));
}

/* The deployment's failed tasks: its stopped tasks that failed since one of its tasks ran well. */
static int64_t deployment_failed(const struct svc *s, const cJSON *d)
{
	const char *id = json_str(d, "id") ?: "";
	int64_t since = json_int(d, "_successAt", 0), n = 0;
	const cJSON *t;

	cJSON_ArrayForEach(t, s->v->tasks)
		if (is_stopped(t) && !strcmp(json_str(t, "group") ?: "", s->group) &&
		    !strcmp(json_str(t, "startedBy") ?: "", id) && failed(t) &&
		    json_int(t, "stoppedAt", 0) > since)
			n++;
	return n;
}

/* Count the live tasks of deployment id after the pass (started ones are pending). */
static void deployment_counts(const struct svc *s, const char *id, int64_t *running,
			      int64_t *pending)
{
	*running = *pending = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct stask *t = &s->tasks[i];

		if (t->fate != KEEP || strcmp(t->deployment, id) != 0)
			continue;
		if (t->running)
			(*running)++;
		else
			(*pending)++;
	}
	if (s->primary_id && !strcmp(id, s->primary_id))
		*pending += s->n_started;
}

static void record(struct svc *s, cJSON *doc)
{
	_cleanup_buf_ struct buf msg = BUF_INIT;
	const char *name = s->name;
	cJSON *deps = cJSON_GetObjectItemCaseSensitive(doc, "deployments"), *d, *next;
	cJSON *primary = NULL;
	int64_t running = 0, pending = 0, others_live = 0, desired;
	bool same = false, changed = s->n_started || s->n_stopped;

	cJSON_ArrayForEach(d, deps)
		if (!strcmp(json_str(d, "status") ?: "", "PRIMARY"))
			primary = d;
	same = primary && s->primary_id && !strcmp(json_str(primary, "id") ?: "", s->primary_id);
	if (s->n_started) {
		deployment_event_started(&msg, name, s->n_started, buf_str(&s->started));
		add_event(doc, s->now, &msg);
	}
	if (s->n_stopped) {
		buf_reset(&msg);
		deployment_event_stopped(&msg, name, s->n_stopped, buf_str(&s->stopped));
		add_event(doc, s->now, &msg);
	}
	if (s->failures && s->failures->child) {
		const cJSON *f = s->failures->child;
		const cJSON *newest = cJSON_GetArrayItem(json_arr(doc, "events"), 0);

		buf_reset(&msg);
		deployment_event_unplaced(&msg, name, json_str(f, "reason"), id_of(f, "arn"));
		if (!newest || strcmp(json_str(newest, "message") ?: "", buf_str(&msg)) != 0)
			add_event(doc, s->now, &msg);
	}
	if (s->streak >= IMPAIRED_FAILURES && !json_bool(doc, "_impaired", false)) {
		buf_reset(&msg);
		deployment_event_impaired(&msg, name);
		add_event(doc, s->now, &msg);
		json_set(doc, "_impaired", cJSON_CreateTrue());
	} else if (s->streak == 0 && json_bool(doc, "_impaired", false)) {
		json_set(doc, "_impaired", cJSON_CreateFalse());
	}
	if (changed)
		json_set(doc, "_steady", cJSON_CreateFalse());

	/* the deployments' counts; the ones replaced and emptied leave the list */
	for (d = deps ? deps->child : NULL; d; d = next) {
		int64_t r_, p_;

		next = d->next;
		deployment_counts(s, json_str(d, "id") ?: "", &r_, &p_);
		/* a FAILED one stays in view until the deployment replacing it completes */
		if (d != primary && r_ + p_ == 0 &&
		    strcmp(json_str(d, "rolloutState") ?: "", "FAILED") != 0) {
			cJSON_Delete(cJSON_DetachItemViaPointer(deps, d));
			continue;
		}
		if (d != primary)
			others_live += r_ + p_;
		if (json_int(d, "runningCount", -1) != r_ || json_int(d, "pendingCount", -1) != p_)
			json_set_num(d, "updatedAt", (double)s->now);
		json_set_num(d, "runningCount", (double)r_);
		json_set_num(d, "pendingCount", (double)p_);
		json_set_num(d, "failedTasks", (double)deployment_failed(s, d));
		json_set_num(d, "desiredCount",
			     d == primary ? (double)s->desired : (double)(r_ + p_));
		running += r_;
		pending += p_;
	}
	/* tasks of no deployment listed (a service deleted and created again) */
	for (size_t i = 0; i < s->n; i++) {
		const struct stask *t = &s->tasks[i];

		if (t->fate == KEEP && !json_array_find(deps, "id", t->deployment)) {
			others_live++;
			if (t->running)
				running++;
			else
				pending++;
		}
	}
	desired = s->desired;
	if (s->daemon && !s->draining)
		json_set_num(doc, "desiredCount", (double)desired);
	json_set_num(doc, "runningCount", (double)running);
	json_set_num(doc, "pendingCount", (double)pending);

	if (!same || s->draining)
		return;
	if (s->primary_success && !json_has(primary, "_successAt"))
		json_set_num(primary, "_successAt", (double)s->now);
	if (!strcmp(json_str(primary, "rolloutState") ?: "", "IN_PROGRESS")) {
		const cJSON *cb = json_obj(json_obj(doc, "deploymentConfiguration"),
					   "deploymentCircuitBreaker");
		int64_t prim_running = json_int(primary, "runningCount", 0);
		int64_t healthy = 0;

		for (size_t i = 0; i < s->n; i++)
			healthy += s->tasks[i].fate == KEEP && s->tasks[i].primary &&
				   s->tasks[i].healthy;
		if (!changed && others_live == 0 && prim_running == desired &&
		    json_int(primary, "pendingCount", 0) == 0 && healthy == desired) {
			json_set_str(primary, "rolloutState", "COMPLETED");
			buf_reset(&msg);
			buf_printf(&msg, "ECS deployment %s completed.", s->primary_id);
			json_set_str(primary, "rolloutStateReason", buf_str(&msg));
			json_set_num(primary, "updatedAt", (double)s->now);
			json_set_str(doc, "_lastCompleted", json_str(primary, "taskDefinition"));
			for (d = deps->child; d; d = next) {
				next = d->next;
				if (d != primary)
					cJSON_Delete(cJSON_DetachItemViaPointer(deps, d));
			}
			buf_reset(&msg);
			deployment_event_completed(&msg, name, s->primary_id);
			add_event(doc, s->now, &msg);
		} else if (json_bool(cb, "enable", false) && !json_has(primary, "_successAt") &&
			   json_int(primary, "failedTasks", 0) >=
				   deployment_failure_threshold(desired)) {
			const char *last = json_str(doc, "_lastCompleted");
			bool rollback = json_bool(cb, "rollback", false) && last &&
					strcmp(last, json_str(primary, "taskDefinition") ?: "");
			_cleanup_free_ char *back = last ? strdup(last) : NULL;

			json_set_str(primary, "rolloutState", "FAILED");
			json_set_str(
				primary, "rolloutStateReason",
				rollback ? "ECS deployment circuit breaker: task failed to "
					   "start. Rolling back to the last completed deployment."
					 : "ECS deployment circuit breaker: task failed to "
					   "start.");
			json_set_num(primary, "updatedAt", (double)s->now);
			buf_reset(&msg);
			deployment_event_failed(&msg, name, s->primary_id);
			add_event(doc, s->now, &msg);
			if (rollback && back) {
				cJSON *nd = ecs_service_new_deployment(doc, back, s->now);

				buf_reset(&msg);
				deployment_event_rollback(&msg, name, json_str(nd, "id"), back);
				add_event(doc, s->now, &msg);
			}
		}
	}
	if (!changed && !json_bool(doc, "_steady", false) && running == desired && pending == 0 &&
	    cJSON_GetArraySize(deps) == 1 &&
	    !strcmp(json_str(primary, "rolloutState") ?: "", "COMPLETED")) {
		buf_reset(&msg);
		deployment_event_steady(&msg, name);
		add_event(doc, s->now, &msg);
		json_set(doc, "_steady", cJSON_CreateTrue());
	}
}

static int record_save(struct svc *s, const char *cluster, struct err *err)
{
	struct api_ctx ctx = { .srv = s->srv, .now_ms = s->now };
	_cleanup_buf_ struct buf key = BUF_INIT;
	int r;

	ecs_service_key(&key, cluster, s->name);
	for (int attempt = 0; attempt < 5; attempt++) {
		_cleanup_json_ cJSON *doc = NULL;
		_cleanup_free_ char *before = NULL, *after = NULL;
		uint64_t version;

		api_lock(buf_str(&key));
		r = ecs_service_load(&ctx, cluster, s->name, &doc, &version, err);
		if (r == 0) {
			before = cJSON_PrintUnformatted(doc);
			record(s, doc);
			if (s->draining && s->n == 0 && s->n_started == 0 &&
			    !strcmp(json_str(doc, "status") ?: "", "DRAINING"))
				json_set_str(doc, "status", "INACTIVE");
			after = cJSON_PrintUnformatted(doc);
			if (before && after && strcmp(before, after) != 0)
				r = ecs_service_save(&ctx, cluster, doc, version, err);
		}
		api_unlock(buf_str(&key));
		if (r != -ECANCELED)
			return r == -ENOENT ? 0 : r;
	}
	return r;
}

static int reconcile(struct api_server *srv, struct view *v, const char *name,
		     int64_t backoff_max_ms, int64_t now, int64_t *next_ms, struct err *err)
{
	struct api_ctx ctx = { .srv = srv, .now_ms = now };
	_cleanup_json_ cJSON *doc = NULL;
	struct svc s = {
		.srv = srv, .v = v, .name = name, .now = now, .backoff_max_ms = backoff_max_ms
	};
	const cJSON *d;
	uint64_t version;
	int r;

	r = ecs_service_load(&ctx, v->cluster, name, &doc, &version, err);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	s.doc = doc;
	s.draining = !strcmp(json_str(doc, "status") ?: "", "DRAINING");
	if (!s.draining && strcmp(json_str(doc, "status") ?: "", "ACTIVE") != 0)
		return 0;
	s.daemon = !strcmp(json_str(doc, "schedulingStrategy") ?: "", "DAEMON");
	snprintf(s.group, sizeof(s.group), "service:%s", name);
	cJSON_ArrayForEach(d, json_arr(doc, "deployments"))
		if (!strcmp(json_str(d, "status") ?: "", "PRIMARY"))
			s.primary_id = json_str(d, "id");
	buf_init(&s.started);
	buf_init(&s.stopped);
	r = classify(&s, err);
	if (r == 0)
		r = s.daemon ? reconcile_daemon(&s, err) : reconcile_replica(&s, err);
	if (r == 0)
		r = record_save(&s, v->cluster, err);
	if (s.next_ms && (!*next_ms || s.next_ms < *next_ms))
		*next_ms = s.next_ms;
	buf_release(&s.started);
	buf_release(&s.stopped);
	cJSON_Delete(s.failures);
	free(s.tasks);
	return r;
}

/* --- the pass ----------------------------------------------------------- */

struct names {
	struct buf list; /* "CLUSTER/NAME\n" each, in key order: by cluster */
};

static int collect_service(void *arg, const struct store_kv *kv)
{
	struct names *n = arg;
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const char *status = json_str(doc, "status") ?: "";

	if (doc && (!strcmp(status, "ACTIVE") || !strcmp(status, "DRAINING")))
		buf_printf(&n->list, "%s\n", kv->key + strlen("service/"));
	return 0;
}

int service_scheduler_pass(struct api_server *srv, int64_t backoff_max_ms, int64_t now_ms,
			   int64_t *ret_next_ms, struct err *err)
{
	struct names n;
	struct view v = { 0 };
	char cluster[ECS_NAME_MAX + 1] = "";
	int64_t next = 0;
	int r;

	buf_init(&n.list);
	r = store_scan(srv->store, "service/", NULL, collect_service, &n, err);
	for (char *line = n.list.data, *nl; r == 0 && line && (nl = strchr(line, '\n'));
	     line = nl + 1) {
		char *slash = strchr(line, '/');

		*nl = '\0';
		if (!slash || slash - line > ECS_NAME_MAX)
			continue;
		*slash = '\0';
		if (strcmp(cluster, line) != 0) {
			view_release(&v);
			snprintf(cluster, sizeof(cluster), "%s", line);
			r = view_load(srv, cluster, &v, err);
			if (r < 0)
				break;
		}
		r = reconcile(srv, &v, slash + 1, backoff_max_ms, now_ms, &next, err);
		if (r < 0) {
			/* one service's trouble must not stall the others */
			log_warn("service scheduler: service %s/%s: %s", cluster, slash + 1,
				 err->msg);
			err_clear(err);
			r = 0;
		}
	}
	view_release(&v);
	buf_release(&n.list);
	if (ret_next_ms)
		*ret_next_ms = next;
	return r;
}

/* --- the thread --------------------------------------------------------- */

/* at_ms, a now_ms() time (CLOCK_REALTIME), as pthread_cond_timedwait takes it. */
static void abs_time(struct timespec *ts, int64_t at_ms)
{
	ts->tv_sec = at_ms / 1000;
	ts->tv_nsec = (at_ms % 1000) * 1000000L;
}

/*
 * A pass, then a wait: until woken, but never sooner after the pass than
 * it took (with many tasks changing, the scheduler then uses at most about
 * half a CPU and each pass sees a batch of changes), or until the next
 * timer (every second, or when a task held back by the back-off may start).
 */
static void *scheduler_main(void *arg)
{
	struct service_scheduler *s = arg;
	char failed_msg[sizeof(((struct err *)0)->msg)] = "";

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct err err = ERR_INIT;
		int64_t next = 0, started = now_ms(), ended, timer, earliest;

		s->woken = false;
		pthread_mutex_unlock(&s->lock);
		if (service_scheduler_pass(s->srv, s->backoff_max_ms, started, &next, &err) < 0) {
			if (strcmp(failed_msg, err.msg) != 0)
				log_warn("service scheduler: %s", err.msg);
			snprintf(failed_msg, sizeof(failed_msg), "%s", err.msg);
		} else {
			failed_msg[0] = '\0';
		}
		ended = now_ms();
		earliest = ended +
			   (ended - started > PASS_MIN_GAP_MS ? ended - started : PASS_MIN_GAP_MS);
		timer = ended + PASS_INTERVAL_MS;
		if (next && next < timer)
			timer = next > earliest ? next : earliest;
		pthread_mutex_lock(&s->lock);
		while (!s->stop) {
			struct timespec ts;
			int64_t now = now_ms();

			if (now >= timer || (s->woken && now >= earliest))
				break;
			abs_time(&ts, s->woken ? earliest : timer);
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int service_scheduler_new(struct api_server *srv, int64_t backoff_max_ms,
			  struct service_scheduler **ret, struct err *err)
{
	struct service_scheduler *s = calloc(1, sizeof(*s));

	if (!s)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	s->srv = srv;
	s->backoff_max_ms = backoff_max_ms;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
		free(s);
		return err_set(err, -EAGAIN, E_SERVER,
			       "cannot start the service scheduler's thread");
	}
	*ret = s;
	return 0;
}

void service_scheduler_wake(struct service_scheduler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->woken = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void service_scheduler_free(struct service_scheduler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}
