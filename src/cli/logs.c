/*
 * logs.c: `berth logs [-f] TASK|SERVICE`, a client of the CloudWatch Logs
 * API (GetLogEvents, FilterLogEvents) for containers whose task definition
 * uses the awslogs log driver. A task's streams are named as ECS names
 * them, PREFIX/CONTAINER/TASK-ID in the group of each container's
 * awslogs-group; a service's are every stream PREFIX/CONTAINER/ of its
 * task definition. -f follows: a task until it stopped and its streams
 * stayed quiet for DRAIN_MS after that, a service until interrupted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

#define POLL_MS	    1000
#define DRAIN_MS    3000 /* a stopped task's streams are read until quiet this long */
#define SOURCES_MAX 10	 /* containers of a task definition */
#define SEEN_MAX    4096

/* One container's logs: where they are and how far they were read. */
struct source {
	char container[256];
	char group[512];
	char stream[1024];    /* a task's stream; for a service, the streams' prefix */
	char *token;	      /* GetLogEvents' nextForwardToken */
	int64_t since_ms;     /* FilterLogEvents: events at or after this */
	char *seen[SEEN_MAX]; /* FilterLogEvents: eventIds at since_ms already printed */
	size_t n_seen;
	bool found; /* the stream exists */
};

struct logs {
	struct cli c;
	struct source src[SOURCES_MAX];
	size_t n;
	bool service;
};

static bool looks_like_task(const char *s)
{
	size_t n = strlen(s);

	if (strstr(s, ":task/"))
		return true;
	if (n != 32)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

/* The awslogs containers of a task definition, with the task id for streams (NULL: service). */
static int sources(struct logs *l, const char *taskdef, const char *task_id)
{
	_cleanup_json_ cJSON *answer = NULL;
	_cleanup_buf_ struct buf body = BUF_INIT;
	const cJSON *cs;

	buf_puts(&body, "{\"taskDefinition\":");
	cli_json_str(&body, taskdef);
	buf_putc(&body, '}');
	if (cli_ecs(&l->c, "DescribeTaskDefinition", buf_str(&body), &answer))
		return 1;
	cs = json_arr(json_obj(answer, "taskDefinition"), "containerDefinitions");
	for (const cJSON *x = cs ? cs->child : NULL; x && l->n < SOURCES_MAX; x = x->next) {
		const cJSON *lc = json_obj(x, "logConfiguration"), *opts = json_obj(lc, "options");
		const char *group = json_str(opts, "awslogs-group"),
			   *prefix = json_str(opts, "awslogs-stream-prefix");
		struct source *s = &l->src[l->n];
		const char *name;

		if (strcmp(json_str(lc, "logDriver") ?: "", "awslogs") != 0 || !group)
			continue;
		snprintf(s->container, sizeof(s->container), "%s", json_str(x, "name") ?: "");
		snprintf(s->group, sizeof(s->group), "%s", group);
		name = json_str(x, "name") ?: "";
		if (task_id)
			snprintf(s->stream, sizeof(s->stream), "%s%s%s/%s", prefix ?: "",
				 prefix ? "/" : "", name, task_id);
		else
			snprintf(s->stream, sizeof(s->stream), "%s%s%s/", prefix ?: "",
				 prefix ? "/" : "", name);
		l->n++;
	}
	if (l->n == 0) {
		fprintf(stderr,
			"%s: no container of '%s' uses the awslogs log driver: its logs are "
			"not kept on the server\n",
			l->c.prog, taskdef);
		return 1;
	}
	return 0;
}

static void print_event(struct logs *l, const struct source *s, const cJSON *e, const char *stream)
{
	if (l->c.json) {
		_cleanup_json_ cJSON *out = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(out, "container", s->container);
		cJSON_AddStringToObject(out, "logStreamName", stream);
		json_set(out, "timestamp", cJSON_Duplicate(json_get(e, "timestamp"), true));
		cJSON_AddStringToObject(out, "message", json_str(e, "message") ?: "");
		text = cJSON_PrintUnformatted(out);
		printf("%s\n", text ? text : "{}");
		free(text);
		return;
	}
	if (l->n > 1 || l->service) {
		/* a service's: which task; a task's: which container */
		const char *task = strrchr(stream, '/');

		if (l->service)
			printf("%s/%.8s | ", s->container, task ? task + 1 : stream);
		else
			printf("%s | ", s->container);
	}
	printf("%s\n", json_str(e, "message") ?: "");
}

/* GetLogEvents of a task's stream from where it was left: 1 on a failure (printed). */
static int read_stream(struct logs *l, struct source *s, bool *ret_any)
{
	for (;;) {
		_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
		_cleanup_buf_ struct buf body = BUF_INIT;
		struct err err = ERR_INIT;
		const cJSON *events;
		const char *next;
		bool any = false;

		json_set_str(req, "logGroupName", s->group);
		json_set_str(req, "logStreamName", s->stream);
		cJSON_AddBoolToObject(req, "startFromHead", true);
		if (s->token)
			json_set_str(req, "nextToken", s->token);
		json_print(&body, req);
		if (cli_call_quiet(&l->c, LOGS_PREFIX, "logs", "GetLogEvents", buf_str(&body),
				   &answer, &err)) {
			if (err.kind == E_RESOURCE_NOT_FOUND && !s->found)
				return 0; /* the container has not written yet */
			return cli_call(&l->c, LOGS_PREFIX, "logs", "GetLogEvents", buf_str(&body),
					&answer, NULL);
		}
		s->found = true;
		events = json_arr(answer, "events");
		for (const cJSON *e = events ? events->child : NULL; e; e = e->next) {
			print_event(l, s, e, s->stream);
			any = true;
		}
		fflush(stdout);
		next = json_str(answer, "nextForwardToken");
		if (next && (!s->token || strcmp(next, s->token) != 0)) {
			free(s->token);
			s->token = strdup(next);
			if (!s->token)
				abort();
		}
		if (!any)
			return 0; /* the same token again: the end for now */
		*ret_any = true;
	}
}

static bool seen(const struct source *s, const char *id)
{
	for (size_t i = 0; i < s->n_seen; i++)
		if (!strcmp(s->seen[i], id))
			return true;
	return false;
}

static void forget_seen(struct source *s)
{
	for (size_t i = 0; i < s->n_seen; i++)
		free(s->seen[i]);
	s->n_seen = 0;
}

/* FilterLogEvents of a service's streams since the last event printed. */
static int filter_streams(struct logs *l, struct source *s)
{
	_cleanup_free_ char *token = NULL;

	for (unsigned pages = 0; pages < CLI_PAGES_MAX; pages++) {
		_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
		_cleanup_buf_ struct buf body = BUF_INIT;
		struct err err = ERR_INIT;
		const cJSON *events, *next;

		json_set_str(req, "logGroupName", s->group);
		json_set_str(req, "logStreamNamePrefix", s->stream);
		if (s->since_ms)
			json_set_num(req, "startTime", (double)s->since_ms);
		if (token)
			json_set_str(req, "nextToken", token);
		json_print(&body, req);
		if (cli_call_quiet(&l->c, LOGS_PREFIX, "logs", "FilterLogEvents", buf_str(&body),
				   &answer, &err)) {
			if (err.kind == E_RESOURCE_NOT_FOUND)
				return 0; /* no group yet: nothing was written */
			return cli_call(&l->c, LOGS_PREFIX, "logs", "FilterLogEvents",
					buf_str(&body), &answer, NULL);
		}
		events = json_arr(answer, "events");
		for (const cJSON *e = events ? events->child : NULL; e; e = e->next) {
			const char *id = json_str(e, "eventId") ?: "";
			int64_t ts = json_int(e, "timestamp", 0);

			if (ts == s->since_ms && seen(s, id))
				continue;
			if (ts > s->since_ms) {
				forget_seen(s);
				s->since_ms = ts;
			}
			if (s->n_seen < SEEN_MAX) {
				s->seen[s->n_seen] = strdup(id);
				if (!s->seen[s->n_seen])
					abort();
				s->n_seen++;
			}
			print_event(l, s, e, json_str(e, "logStreamName") ?: "");
		}
		fflush(stdout);
		next = json_get(answer, "nextToken");
		if (!cJSON_IsString(next) || (token && !strcmp(token, next->valuestring)))
			return 0;
		free(token);
		token = strdup(next->valuestring);
		if (!token)
			abort();
	}
	return 0;
}

/* The task's lastStatus into status: 1 on a failure (printed). */
static int task_status(struct logs *l, const char *task, char *status, size_t size, char *ret_td,
		       size_t td_size, char *ret_id, size_t id_size)
{
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
	const cJSON *tasks;
	cJSON *list;

	json_set_str(req, "cluster", l->c.cfg.cluster);
	list = cJSON_AddArrayToObject(req, "tasks");
	cJSON_AddItemToArray(list, cJSON_CreateString(task));
	if (cli_ecs_req(&l->c, "DescribeTasks", req, &answer))
		return 1;
	tasks = json_arr(answer, "tasks");
	if (!tasks || !tasks->child) {
		fprintf(stderr, "%s: no task '%s' in cluster '%s'\n", l->c.prog, task,
			l->c.cfg.cluster);
		return 1;
	}
	snprintf(status, size, "%s", json_str(tasks->child, "lastStatus") ?: "");
	if (ret_td)
		snprintf(ret_td, td_size, "%s", json_str(tasks->child, "taskDefinitionArn") ?: "");
	if (ret_id)
		snprintf(ret_id, id_size, "%s", cli_short(json_str(tasks->child, "taskArn")) ?: "");
	return 0;
}

static int service_taskdef(struct logs *l, const char *name, char *ret, size_t size)
{
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
	const cJSON *list;
	cJSON *names;

	json_set_str(req, "cluster", l->c.cfg.cluster);
	names = cJSON_AddArrayToObject(req, "services");
	cJSON_AddItemToArray(names, cJSON_CreateString(name));
	if (cli_ecs_req(&l->c, "DescribeServices", req, &answer))
		return 1;
	list = json_arr(answer, "services");
	if (!list || !list->child) {
		fprintf(stderr, "%s: no task or service '%s' in cluster '%s'\n", l->c.prog, name,
			l->c.cfg.cluster);
		return 1;
	}
	snprintf(ret, size, "%s", json_str(list->child, "taskDefinition") ?: "");
	return 0;
}

static int run(struct logs *l, const char *target, bool follow)
{
	char status[32], td[2048], id[64];
	int64_t stopped_ms = 0;
	bool any;

	if (looks_like_task(target)) {
		if (task_status(l, target, status, sizeof(status), td, sizeof(td), id,
				sizeof(id)) ||
		    sources(l, td, id))
			return 1;
		for (;;) {
			bool stopped = !strcmp(status, "STOPPED");

			if (stopped && !stopped_ms)
				stopped_ms = now_ms();
			any = false;
			for (size_t i = 0; i < l->n; i++)
				if (read_stream(l, &l->src[i], &any))
					return 1;
			/*
			 * The agent ships a container's last lines as it ends, so they
			 * may land just after the task is reported STOPPED: the streams
			 * are complete once they stay quiet for DRAIN_MS after that.
			 */
			if (!follow || (stopped && !any && now_ms() - stopped_ms >= DRAIN_MS))
				return 0;
			if (!any)
				usleep(POLL_MS * 1000);
			if (!stopped &&
			    task_status(l, target, status, sizeof(status), NULL, 0, NULL, 0))
				return 1;
		}
	}
	l->service = true;
	if (service_taskdef(l, target, td, sizeof(td)) || sources(l, td, NULL))
		return 1;
	for (;;) {
		for (size_t i = 0; i < l->n; i++)
			if (filter_streams(l, &l->src[i]))
				return 1;
		if (!follow)
			return 0;
		usleep(POLL_MS * 1000);
	}
}

int cmd_logs(int argc, char **argv)
{
	enum { OPT_FOLLOW = 1 };
	static const struct option own[] = {
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth logs [options] TASK|SERVICE\n"
		"\n"
		"Print the logs of a task's containers (TASK: its id or ARN) or of a\n"
		"service's tasks, read from the server's CloudWatch Logs API: the\n"
		"containers must use the awslogs log driver. Lines are prefixed with\n"
		"their container (and task) when there are several.\n"
		"\n"
		"  -f, --follow          keep printing new lines: for a task until it has\n"
		"                        stopped and all its lines are printed, for a\n"
		"                        service until interrupted\n"
		"\n" CLI_COMMON_HELP;
	static struct logs l; /* large (the seen ids); one per process */
	bool follow = false;
	int opt, r;

	memset(&l, 0, sizeof(l));
	cli_init(&l.c, "berth logs", own);
	l.c.shortopts = "f";
	while ((opt = cli_getopt(&l.c, argc, argv)) != -1) {
		switch (opt) {
		case 'f':
		case OPT_FOLLOW: follow = true; break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(&l.c, "expected one task or service");
	if (cli_connect(&l.c))
		return 1;
	r = run(&l, argv[optind], follow);
	for (size_t i = 0; i < l.n; i++) {
		free(l.src[i].token);
		forget_seen(&l.src[i]);
	}
	cli_release(&l.c);
	return r;
}
