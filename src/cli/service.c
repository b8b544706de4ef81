/*
 * service.c: `berth service ls|create|scale|update|events|rm`, over
 * ListServices, DescribeServices, CreateService, UpdateService and
 * DeleteService. --wait follows a deployment until the service is stable
 * (one deployment left, as many tasks running as desired: what `aws ecs wait
 * services-stable` checks) or its rollout FAILED, with a live progress line
 * when stdout is a terminal.
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

#define POLL_MS		  1000
#define EVENTS_POLL_MS	  2000
#define DESCRIBE_BATCH	  10
#define DESIRED_COUNT_MAX 100000

/* DescribeServices of one service: its document in *ret (owned), or 1 (printed). */
static int describe_one(struct cli *c, const char *name, cJSON **ret, cJSON **ret_answer)
{
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
	cJSON *names, *list;

	json_set_str(req, "cluster", c->cfg.cluster);
	names = cJSON_AddArrayToObject(req, "services");
	cJSON_AddItemToArray(names, cJSON_CreateString(name));
	if (cli_ecs_req(c, "DescribeServices", req, &answer))
		return 1;
	list = cJSON_GetObjectItemCaseSensitive(answer, "services");
	if (!cJSON_IsArray(list) || !list->child) {
		const cJSON *f = json_arr(answer, "failures");

		fprintf(stderr, "%s: ServiceNotFoundException: service '%s' %s in cluster '%s'\n",
			c->prog, name,
			f && f->child ? json_str(f->child, "reason") ?: "MISSING" : "MISSING",
			c->cfg.cluster);
		return 1;
	}
	*ret = cJSON_DetachItemViaPointer(list, list->child);
	if (ret_answer)
		*ret_answer = TAKE_PTR(answer);
	return 0;
}

static const cJSON *primary(const cJSON *svc)
{
	const cJSON *d = json_arr(svc, "deployments");

	for (const cJSON *x = d ? d->child : NULL; x; x = x->next)
		if (!strcmp(json_str(x, "status") ?: "", "PRIMARY"))
			return x;
	return NULL;
}

/*
 * Follow a service until stable: 0 stable, 1 its rollout failed, it was
 * deleted, or the server failed.
 */
static int wait_stable(struct cli *c, const char *name)
{
	bool tty = isatty(STDOUT_FILENO) && !c->json;
	int64_t start = now_ms();

	for (;;) {
		_cleanup_json_ cJSON *svc = NULL;
		const cJSON *deps, *p;
		int n = 0;

		if (describe_one(c, name, &svc, NULL)) {
			if (tty)
				fputs("\n", stdout);
			return 1;
		}
		deps = json_arr(svc, "deployments");
		for (const cJSON *x = deps ? deps->child : NULL; x; x = x->next)
			n++;
		p = primary(svc);
		if (strcmp(json_str(svc, "status") ?: "", "ACTIVE") != 0) {
			if (tty)
				fputs("\r\033[K", stdout);
			fprintf(stderr, "%s: service '%s' is %s\n", c->prog, name,
				json_str(svc, "status") ?: "gone");
			return 1;
		}
		if (p && !strcmp(json_str(p, "rolloutState") ?: "", "FAILED")) {
			if (tty)
				fputs("\r\033[K", stdout);
			fprintf(stderr, "%s: the deployment of '%s' failed: %s\n", c->prog, name,
				json_str(p, "rolloutStateReason") ?: "-");
			return 1;
		}
		if (n == 1 &&
		    json_int(svc, "runningCount", -1) == json_int(svc, "desiredCount", -2)) {
			if (tty)
				fputs("\r\033[K", stdout);
			if (c->json)
				cli_print_json(svc);
			else
				printf("%s: stable, %lld running\n", name,
				       (long long)json_int(svc, "runningCount", 0));
			return 0;
		}
		if (tty) {
			printf("\r\033[Kwaiting: %lld/%lld running, %lld pending, %d deployments "
			       "(%llds)",
			       (long long)json_int(svc, "runningCount", 0),
			       (long long)json_int(svc, "desiredCount", 0),
			       (long long)json_int(svc, "pendingCount", 0), n,
			       (long long)((now_ms() - start) / 1000));
			fflush(stdout);
		}
		usleep(POLL_MS * 1000);
	}
}

/* Print what a create or update answered, then follow it when asked. */
static int answered(struct cli *c, const cJSON *answer, bool wait)
{
	const cJSON *svc = json_obj(answer, "service");

	if (!wait) {
		cli_print_answer(c, answer, "service", "serviceArn", false);
		return 0;
	}
	return wait_stable(c, json_str(svc, "serviceName") ?: "");
}

static int ls(int argc, char **argv)
{
	static const char usage[] =
		"usage: berth service ls [options]\n"
		"\n"
		"List the cluster's services: NAME STATUS DESIRED RUNNING PENDING\n"
		"TASK DEFINITION DEPLOYMENTS.\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *dreq = cJSON_CreateObject(),
			     *arns = NULL, *all = NULL;
	const cJSON *list;
	struct table t;
	int opt, r;

	cli_init(&c, "berth service ls", NULL);
	while ((opt = cli_getopt(&c, argc, argv)) != -1)
		return cli_usage(opt, usage);
	if (optind != argc)
		return cli_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	if (cli_connect(&c))
		return 1;
	json_set_str(req, "cluster", c.cfg.cluster);
	json_set_str(dreq, "cluster", c.cfg.cluster);
	r = cli_ecs_list(&c, "ListServices", req, "serviceArns", &arns);
	if (r == 0)
		r = cli_ecs_describe(&c, "DescribeServices", dreq, "services", arns, DESCRIBE_BATCH,
				     "services", &all);
	cli_release(&c);
	if (r)
		return r;
	if (c.json) {
		cli_print_json(all);
		return 0;
	}
	table_init(&t, 7,
		   (const char *const[]){ "NAME", "STATUS", "DESIRED", "RUNNING", "PENDING",
					  "TASK DEFINITION", "DEPLOYMENTS" });
	list = json_arr(all, "services");
	for (const cJSON *x = list ? list->child : NULL; x; x = x->next) {
		char want[24], run[24], pend[24], deps[24];
		const cJSON *d = json_arr(x, "deployments");
		int n = 0;

		for (const cJSON *y = d ? d->child : NULL; y; y = y->next)
			n++;
		snprintf(deps, sizeof(deps), "%d", n);
		cli_int(x, "desiredCount", want, sizeof(want));
		cli_int(x, "runningCount", run, sizeof(run));
		cli_int(x, "pendingCount", pend, sizeof(pend));
		table_add(&t, (const char *const[]){
				      json_str(x, "serviceName"), json_str(x, "status"), want, run,
				      pend, cli_short(json_str(x, "taskDefinition")), deps });
	}
	cli_print_table(&t);
	table_release(&t);
	return 0;
}

static int parse_count(struct cli *c, const char *s, int64_t *ret)
{
	if (parse_int64(s, 0, DESIRED_COUNT_MAX, ret) < 0)
		return cli_usage_error(c, "a count is 0 to %d, not '%s'", DESIRED_COUNT_MAX, s);
	return 0;
}

static int parse_percent(struct cli *c, const char *opt, const char *s, int64_t *ret)
{
	if (parse_int64(s, 0, 200, ret) < 0)
		return cli_usage_error(c, "%s takes a percentage (0 to 200), not '%s'", opt, s);
	return 0;
}

static int create(int argc, char **argv)
{
	enum { OPT_COUNT = 1, OPT_SCHED, OPT_MIN, OPT_MAX, OPT_BREAKER, OPT_WAIT };
	static const struct option own[] = {
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "scheduling", required_argument, NULL, OPT_SCHED },
		{ "min-healthy", required_argument, NULL, OPT_MIN },
		{ "max-percent", required_argument, NULL, OPT_MAX },
		{ "circuit-breaker", optional_argument, NULL, OPT_BREAKER },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth service create [options] NAME TASKDEF\n"
		"\n"
		"Create a service keeping tasks of a task definition running, and print its\n"
		"ARN.\n"
		"\n"
		"  --count N             desired tasks (default 1; DAEMON: one per instance)\n"
		"  --scheduling REPLICA|DAEMON   (default REPLICA)\n"
		"  --min-healthy PERCENT minimumHealthyPercent of deployments (default 100)\n"
		"  --max-percent PERCENT maximumPercent of deployments (default 200)\n"
		"  --circuit-breaker[=rollback]\n"
		"                        stop a deployment that keeps failing (and roll back)\n"
		"  --wait                follow the first deployment until the service is stable\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
	cJSON *dc = NULL;
	const char *sched = "REPLICA";
	int64_t count = 1, pct;
	bool wait = false, has_count = false;
	int opt, r;

	cli_init(&c, "berth service create", own);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case OPT_COUNT:
			if (parse_count(&c, optarg, &count))
				return 2;
			has_count = true;
			break;
		case OPT_SCHED:
			if (strcmp(optarg, "REPLICA") != 0 && strcmp(optarg, "DAEMON") != 0)
				return cli_usage_error(&c, "--scheduling is REPLICA or DAEMON");
			sched = optarg;
			break;
		case OPT_MIN:
		case OPT_MAX:
			if (parse_percent(&c, opt == OPT_MIN ? "--min-healthy" : "--max-percent",
					  optarg, &pct))
				return 2;
			if (!dc)
				dc = cJSON_AddObjectToObject(req, "deploymentConfiguration");
			json_set_num(dc,
				     opt == OPT_MIN ? "minimumHealthyPercent" : "maximumPercent",
				     (double)pct);
			break;
		case OPT_BREAKER:
			if (optarg && strcmp(optarg, "rollback") != 0)
				return cli_usage_error(&c,
						       "--circuit-breaker takes only =rollback");
			if (!dc)
				dc = cJSON_AddObjectToObject(req, "deploymentConfiguration");
			{
				cJSON *cb = cJSON_CreateObject();

				cJSON_AddBoolToObject(cb, "enable", true);
				cJSON_AddBoolToObject(cb, "rollback", optarg != NULL);
				json_set(dc, "deploymentCircuitBreaker", cb);
			}
			break;
		case OPT_WAIT: wait = true; break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc - 2)
		return cli_usage_error(&c, "expected a service name and a task definition");
	if (!strcmp(sched, "DAEMON") && has_count)
		return cli_usage_error(&c, "a DAEMON service takes no --count");
	if (cli_connect(&c))
		return 1;
	json_set_str(req, "cluster", c.cfg.cluster);
	json_set_str(req, "serviceName", argv[optind]);
	json_set_str(req, "taskDefinition", argv[optind + 1]);
	json_set_str(req, "schedulingStrategy", sched);
	if (!strcmp(sched, "REPLICA"))
		json_set_num(req, "desiredCount", (double)count);
	r = cli_ecs_req(&c, "CreateService", req, &answer);
	if (r == 0)
		r = answered(&c, answer, wait);
	cli_release(&c);
	return r;
}

static int update(struct cli *c, cJSON *req, const char *name, bool wait)
{
	_cleanup_json_ cJSON *answer = NULL;
	int r;

	json_set_str(req, "cluster", c->cfg.cluster);
	json_set_str(req, "service", name);
	r = cli_ecs_req(c, "UpdateService", req, &answer);
	if (r == 0)
		r = answered(c, answer, wait);
	return r;
}

static int scale(int argc, char **argv)
{
	enum { OPT_WAIT = 1 };
	static const struct option own[] = {
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth service scale [options] NAME COUNT\n"
		"\n"
		"Set a service's desired count: tasks are started or stopped to match.\n"
		"\n"
		"  --wait                follow until COUNT tasks run\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject();
	bool wait = false;
	int64_t count;
	int opt, r;

	cli_init(&c, "berth service scale", own);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case OPT_WAIT: wait = true; break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc - 2)
		return cli_usage_error(&c, "expected a service name and a count");
	if (parse_count(&c, argv[optind + 1], &count))
		return 2;
	if (cli_connect(&c))
		return 1;
	json_set_num(req, "desiredCount", (double)count);
	r = update(&c, req, argv[optind], wait);
	cli_release(&c);
	return r;
}

static int do_update(int argc, char **argv)
{
	enum { OPT_TD = 1, OPT_COUNT, OPT_FORCE, OPT_WAIT };
	static const struct option own[] = {
		{ "taskdef", required_argument, NULL, OPT_TD },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "force-new-deployment", no_argument, NULL, OPT_FORCE },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth service update [options] NAME\n"
		"\n"
		"Update a service: a new task definition starts a rolling deployment\n"
		"within the service's minimumHealthyPercent and maximumPercent.\n"
		"\n"
		"  --taskdef TASKDEF     the task definition to deploy (FAMILY[:REVISION], ARN)\n"
		"  --count N             the desired count\n"
		"  --force-new-deployment\n"
		"                        replace the tasks even when nothing changed\n"
		"  --wait                follow the deployment until the service is stable\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject();
	bool wait = false, any = false;
	int64_t count;
	int opt, r;

	cli_init(&c, "berth service update", own);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case OPT_TD:
			json_set_str(req, "taskDefinition", optarg);
			any = true;
			break;
		case OPT_COUNT:
			if (parse_count(&c, optarg, &count))
				return 2;
			json_set_num(req, "desiredCount", (double)count);
			any = true;
			break;
		case OPT_FORCE:
			cJSON_AddBoolToObject(req, "forceNewDeployment", true);
			any = true;
			break;
		case OPT_WAIT: wait = true; break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(&c, "expected one service name");
	if (!any)
		return cli_usage_error(&c, "nothing to update: give --taskdef, --count or "
					   "--force-new-deployment");
	if (cli_connect(&c))
		return 1;
	r = update(&c, req, argv[optind], wait);
	cli_release(&c);
	return r;
}

/* Print the events newer than *seen (ids), oldest first; remember them. */
static void print_events(const cJSON *svc, cJSON *seen, int64_t limit, bool json)
{
	const cJSON *ev = json_arr(svc, "events");
	const cJSON *fresh[1000];
	size_t n = 0;

	/* ECS lists the newest first */
	for (const cJSON *x = ev ? ev->child : NULL; x && n < ARRAY_SIZE(fresh); x = x->next) {
		const char *id = json_str(x, "id") ?: "";
		bool old = false;

		for (const cJSON *s = seen->child; s && !old; s = s->next)
			old = !strcmp(s->valuestring, id);
		if (old)
			break;
		fresh[n++] = x;
	}
	if (limit >= 0 && (size_t)limit < n)
		n = (size_t)limit;
	for (size_t i = n; i-- > 0;) {
		char when[32];

		cJSON_AddItemToArray(seen, cJSON_CreateString(json_str(fresh[i], "id") ?: ""));
		if (json) {
			char *s = cJSON_PrintUnformatted(fresh[i]);

			printf("%s\n", s ? s : "{}");
			free(s);
			continue;
		}
		cli_time(json_get(fresh[i], "createdAt"), when, sizeof(when));
		printf("%s  %s\n", when, json_str(fresh[i], "message") ?: "");
	}
	fflush(stdout);
}

static int events(int argc, char **argv)
{
	enum { OPT_FOLLOW = 1, OPT_LIMIT };
	static const struct option own[] = {
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth service events [options] NAME\n"
		"\n"
		"Print a service's events, oldest first: TIME MESSAGE (--json: one event\n"
		"object a line).\n"
		"\n"
		"  -f, --follow          keep printing new events until interrupted\n"
		"  -n, --limit N         only the N newest events at first\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *seen = cJSON_CreateArray();
	bool follow = false;
	int64_t limit = -1;
	int opt;

	cli_init(&c, "berth service events", own);
	c.shortopts = "fn:";
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case 'f':
		case OPT_FOLLOW: follow = true; break;
		case 'n':
		case OPT_LIMIT:
			if (parse_int64(optarg, 0, 1000000, &limit) < 0)
				return cli_usage_error(&c, "--limit takes a count, not '%s'",
						       optarg);
			break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(&c, "expected one service name");
	if (cli_connect(&c))
		return 1;
	for (;;) {
		_cleanup_json_ cJSON *svc = NULL;

		if (describe_one(&c, argv[optind], &svc, NULL)) {
			cli_release(&c);
			return 1;
		}
		print_events(svc, seen, limit, c.json);
		limit = -1;
		if (!follow)
			break;
		usleep(EVENTS_POLL_MS * 1000);
	}
	cli_release(&c);
	return 0;
}

static int rm(int argc, char **argv)
{
	static const struct cli_one v = {
		.prog = "berth service rm",
		.usage = "usage: berth service rm [options] NAME\n"
			 "\n"
			 "Delete a service. The server refuses one with a desired count above 0\n"
			 "unless --force (its tasks are then stopped).\n"
			 "\n"
			 "  --force               delete it even while it runs tasks\n"
			 "\n" CLI_COMMON_HELP,
		.what = "service name",
		.op = "DeleteService",
		.key = "service",
		.in_cluster = true,
		.force = true,
		.obj = "service",
		.member = "serviceArn",
	};

	return cli_one_run(&v, argc, argv);
}

static const struct cli_verb verbs[] = {
	{ "ls", ls, "list the cluster's services" },
	{ "create", create, "create a service" },
	{ "scale", scale, "set a service's desired count" },
	{ "update", do_update, "deploy a new task definition or count" },
	{ "events", events, "print (and follow) a service's events" },
	{ "rm", rm, "delete a service" },
};

int cmd_service(int argc, char **argv)
{
	return cli_dispatch("service", verbs, ARRAY_SIZE(verbs), argc, argv);
}
