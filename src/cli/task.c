/*
 * task.c: `berth task run|ls|stop|show` and their short forms `berth ps`
 * and `berth stop`, over RunTask, ListTasks, DescribeTasks and StopTask.
 * `berth task run --wait` follows the tasks to their end with a live
 * progress line (only when stdout is a terminal) and exits 0 only when
 * every container exited 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

#define RUN_COUNT_MAX 10
#define WAIT_POLL_MS  1000

/* "family:revision" of a task's taskDefinitionArn. */
static const char *td_short(const cJSON *task)
{
	return cli_short(json_str(task, "taskDefinitionArn")) ?: "-";
}

static void task_row(struct table *t, const cJSON *x)
{
	char started[32], instance[64];
	const char *ci = json_str(x, "containerInstanceArn");

	cli_time(json_get(x, "startedAt"), started, sizeof(started));
	snprintf(instance, sizeof(instance), "%s", ci ? cli_short(ci) : "-");
	table_add(t, (const char *const[]){ cli_short(json_str(x, "taskArn")), td_short(x),
					    json_str(x, "lastStatus"), json_str(x, "desiredStatus"),
					    instance, started,
					    json_str(x, "group") ?: json_str(x, "startedBy") });
}

static void print_tasks(const cJSON *tasks)
{
	struct table t;

	table_init(&t, 7,
		   (const char *const[]){ "TASK", "TASK DEFINITION", "STATUS", "DESIRED",
					  "INSTANCE", "STARTED", "GROUP" });
	for (const cJSON *x = tasks ? tasks->child : NULL; x; x = x->next)
		task_row(&t, x);
	cli_print_table(&t);
	table_release(&t);
}

/* DescribeTasks of arns (the cluster's) into *ret ({"tasks", "failures"}). */
static int describe(struct cli *c, const cJSON *arns, cJSON **ret)
{
	_cleanup_json_ cJSON *req = cJSON_CreateObject();

	json_set_str(req, "cluster", c->cfg.cluster);
	return cli_ecs_describe(c, "DescribeTasks", req, "tasks", arns, 100, "tasks", ret);
}

static void progress(const cJSON *tasks, int64_t since_ms, bool tty)
{
	static const char *const states[] = { "PROVISIONING",	"PENDING",	"ACTIVATING",
					      "RUNNING",	"DEACTIVATING", "STOPPING",
					      "DEPROVISIONING", "STOPPED" };
	unsigned counts[ARRAY_SIZE(states)] = { 0 };
	_cleanup_buf_ struct buf line = BUF_INIT;

	if (!tty)
		return;
	for (const cJSON *x = tasks ? tasks->child : NULL; x; x = x->next)
		for (size_t i = 0; i < ARRAY_SIZE(states); i++)
			if (!strcmp(json_str(x, "lastStatus") ?: "", states[i]))
				counts[i]++;
	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		if (counts[i])
			buf_printf(&line, "%s%u %s", line.len ? ", " : "", counts[i], states[i]);
	fprintf(stdout, "\r\033[Kwaiting: %s (%llds)", buf_str(&line),
		(long long)((now_ms() - since_ms) / 1000));
	fflush(stdout);
}

/*
 * Follow arns until every task is STOPPED; then print how each container
 * ended. 0 when all exited 0, 1 otherwise (and when the server fails).
 */
static int wait_stopped(struct cli *c, const cJSON *arns)
{
	bool tty = isatty(STDOUT_FILENO) && !c->json;
	int64_t start = now_ms();
	cJSON *last = NULL;
	struct table t;
	int status = 0;

	for (;;) {
		cJSON *answer = NULL;
		const cJSON *tasks;
		bool all = true;

		if (describe(c, arns, &answer)) {
			if (tty)
				fputs("\n", stdout);
			cJSON_Delete(last);
			return 1;
		}
		tasks = json_arr(answer, "tasks");
		for (const cJSON *x = tasks ? tasks->child : NULL; x; x = x->next)
			if (strcmp(json_str(x, "lastStatus") ?: "", "STOPPED") != 0)
				all = false;
		cJSON_Delete(last);
		last = answer;
		if (all)
			break;
		progress(tasks, start, tty);
		usleep(WAIT_POLL_MS * 1000);
	}
	if (tty)
		fputs("\r\033[K", stdout);
	if (c->json) {
		cli_print_json(last);
		status = cli_report_failures(c, last);
	} else {
		table_init(&t, 4, (const char *const[]){ "TASK", "CONTAINER", "EXIT", "REASON" });
		for (const cJSON *x = json_arr(last, "tasks") ? json_arr(last, "tasks")->child
							      : NULL;
		     x; x = x->next) {
			const cJSON *cs = json_arr(x, "containers");

			for (const cJSON *k = cs ? cs->child : NULL; k; k = k->next) {
				char code[24];

				cli_int(k, "exitCode", code, sizeof(code));
				table_add(&t, (const char *const[]){
						      cli_short(json_str(x, "taskArn")),
						      json_str(k, "name"), code,
						      json_str(k, "reason")
							      ?: json_str(x, "stoppedReason") });
			}
		}
		cli_print_table(&t);
		table_release(&t);
		status = cli_report_failures(c, last);
	}
	for (const cJSON *x = json_arr(last, "tasks") ? json_arr(last, "tasks")->child : NULL; x;
	     x = x->next) {
		const cJSON *cs = json_arr(x, "containers");

		for (const cJSON *k = cs ? cs->child : NULL; k; k = k->next)
			if (json_int(k, "exitCode", -1) != 0) {
				fprintf(stderr, "%s: task %s: container %s %s\n", c->prog,
					cli_short(json_str(x, "taskArn")),
					json_str(k, "name") ?: "-",
					json_has(k, "exitCode") ? "exited with a failure"
								: "did not exit by itself");
				status = 1;
			}
	}
	cJSON_Delete(last);
	return status;
}

static int run(int argc, char **argv)
{
	enum { OPT_COUNT = 1, OPT_WAIT, OPT_STARTED_BY, OPT_GROUP };
	static const struct option own[] = {
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "started-by", required_argument, NULL, OPT_STARTED_BY },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth task run [options] TASKDEF\n"
		"\n"
		"Run a one-off task of a task definition (FAMILY, FAMILY:REVISION or ARN)\n"
		"and print its id; a task that ends is not restarted.\n"
		"\n"
		"  --count N             run N tasks (1 to 10, default 1)\n"
		"  --wait                follow the tasks until they stop, then show how each\n"
		"                        container ended; exit 0 only when all exited 0\n"
		"  --started-by TEXT     the task's startedBy\n"
		"  --group NAME          the task's group (default family:FAMILY)\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL, *arns = NULL;
	bool wait = false;
	int64_t count = 1;
	const cJSON *tasks;
	int opt, r;

	cli_init(&c, "berth task run", own);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case OPT_COUNT:
			if (parse_int64(optarg, 1, RUN_COUNT_MAX, &count) < 0)
				return cli_usage_error(&c, "--count takes 1 to %d, not '%s'",
						       RUN_COUNT_MAX, optarg);
			break;
		case OPT_WAIT: wait = true; break;
		case OPT_STARTED_BY: json_set_str(req, "startedBy", optarg); break;
		case OPT_GROUP: json_set_str(req, "group", optarg); break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(&c, "expected one task definition");
	if (cli_connect(&c))
		return 1;
	json_set_str(req, "cluster", c.cfg.cluster);
	json_set_str(req, "taskDefinition", argv[optind]);
	json_set_num(req, "count", (double)count);
	r = cli_ecs_req(&c, "RunTask", req, &answer);
	if (r) {
		cli_release(&c);
		return r;
	}
	tasks = json_arr(answer, "tasks");
	arns = cJSON_CreateArray();
	for (const cJSON *x = tasks ? tasks->child : NULL; x; x = x->next)
		cJSON_AddItemToArray(arns, cJSON_CreateString(json_str(x, "taskArn") ?: ""));
	if (!wait || !arns->child) {
		if (c.json)
			cli_print_json(answer);
		else
			for (const cJSON *x = arns->child; x; x = x->next)
				printf("%s\n", cli_short(x->valuestring));
		r = cli_report_failures(&c, answer);
		if (!arns->child && !r) {
			fprintf(stderr, "%s: no task was started\n", c.prog);
			r = 1;
		}
		cli_release(&c);
		return r;
	}
	if (!c.json)
		for (const cJSON *x = arns->child; x; x = x->next)
			printf("%s\n", cli_short(x->valuestring));
	fflush(stdout);
	r = cli_report_failures(&c, answer);
	r |= wait_stopped(&c, arns);
	cli_release(&c);
	return r;
}

/* ListTasks of the cluster with desiredStatus (NULL: the server's default) appended to arns. */
static int list(struct cli *c, const char *desired, const char *service, cJSON *arns)
{
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *got = NULL;

	json_set_str(req, "cluster", c->cfg.cluster);
	if (desired)
		json_set_str(req, "desiredStatus", desired);
	if (service)
		json_set_str(req, "serviceName", service);
	if (cli_ecs_list(c, "ListTasks", req, "taskArns", &got))
		return 1;
	for (const cJSON *x = got->child; x; x = x->next)
		cJSON_AddItemToArray(arns, cJSON_Duplicate(x, true));
	return 0;
}

static int do_ls(int argc, char **argv, const char *prog)
{
	enum { OPT_ALL = 1, OPT_SERVICE };
	static const struct option own[] = {
		{ "all", no_argument, NULL, OPT_ALL },
		{ "service", required_argument, NULL, OPT_SERVICE },
		{ 0 },
	};
	static const char usage[] =
		"usage: %s [options]   (berth ps, berth task ls)\n"
		"\n"
		"List the cluster's tasks that should run: TASK, TASK DEFINITION, STATUS,\n"
		"DESIRED, INSTANCE, STARTED, GROUP.\n"
		"\n"
		"  -a, --all             stopped tasks too (ECS keeps them about an hour)\n"
		"  --service NAME        only the tasks of this service\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *arns = cJSON_CreateArray(), *all = NULL;
	const char *service = NULL;
	bool stopped = false;
	int opt, r;

	cli_init(&c, prog, own);
	c.shortopts = "a";
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case 'a':
		case OPT_ALL: stopped = true; break;
		case OPT_SERVICE: service = optarg; break;
		case 'h': return printf(usage, prog), 0;
		default: return fprintf(stderr, usage, prog), 2;
		}
	}
	if (optind != argc)
		return cli_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	if (cli_connect(&c))
		return 1;
	r = list(&c, "RUNNING", service, arns);
	if (r == 0 && stopped)
		r = list(&c, "STOPPED", service, arns);
	if (r == 0)
		r = describe(&c, arns, &all);
	cli_release(&c);
	if (r)
		return r;
	if (c.json)
		cli_print_json(all);
	else
		print_tasks(json_arr(all, "tasks"));
	return 0;
}

static int ls(int argc, char **argv)
{
	return do_ls(argc, argv, "berth task ls");
}

static int do_stop(int argc, char **argv, const char *prog)
{
	enum { OPT_REASON = 1 };
	static const struct option own[] = {
		{ "reason", required_argument, NULL, OPT_REASON },
		{ 0 },
	};
	static const char usage[] =
		"usage: %s [options] TASK...   (berth stop, berth task stop)\n"
		"\n"
		"Stop tasks (by id or ARN): their containers get SIGTERM, then SIGKILL after\n"
		"their stopTimeout. Prints each task's id.\n"
		"\n"
		"  --reason TEXT         the stoppedReason (default: Task stopped by berth CLI)\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	const char *reason = "Task stopped by berth CLI";
	int opt, status = 0;

	cli_init(&c, prog, own);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case OPT_REASON: reason = optarg; break;
		case 'h': return printf(usage, prog), 0;
		default: return fprintf(stderr, usage, prog), 2;
		}
	}
	if (optind >= argc)
		return cli_usage_error(&c, "expected a task");
	if (cli_connect(&c))
		return 1;
	for (int i = optind; i < argc; i++) {
		_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;

		json_set_str(req, "cluster", c.cfg.cluster);
		json_set_str(req, "task", argv[i]);
		json_set_str(req, "reason", reason);
		if (cli_ecs_req(&c, "StopTask", req, &answer)) {
			status = 1;
			continue;
		}
		cli_print_answer(&c, answer, "task", "taskArn", true);
	}
	cli_release(&c);
	return status;
}

static int stop(int argc, char **argv)
{
	return do_stop(argc, argv, "berth task stop");
}

static int show(int argc, char **argv)
{
	static const char usage[] = "usage: berth task show [options] TASK\n"
				    "\n"
				    "Show a task and its containers.\n"
				    "\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *arns = cJSON_CreateArray(), *all = NULL;
	const cJSON *task, *cs;
	struct table t;
	char when[32];
	int opt, r;

	cli_init(&c, "berth task show", NULL);
	while ((opt = cli_getopt(&c, argc, argv)) != -1)
		return cli_usage(opt, usage);
	if (optind != argc - 1)
		return cli_usage_error(&c, "expected one task");
	if (cli_connect(&c))
		return 1;
	cJSON_AddItemToArray(arns, cJSON_CreateString(argv[optind]));
	r = describe(&c, arns, &all);
	cli_release(&c);
	if (r)
		return r;
	if (c.json) {
		cli_print_json(all);
		return cli_report_failures(&c, all);
	}
	if (cli_report_failures(&c, all))
		return 1;
	task = json_arr(all, "tasks") ? json_arr(all, "tasks")->child : NULL;
	if (!task) {
		fprintf(stderr, "%s: no such task\n", c.prog);
		return 1;
	}
	printf("Task:            %s\n", json_str(task, "taskArn") ?: "-");
	printf("Task definition: %s\n", td_short(task));
	printf("Status:          %s (desired %s)\n", json_str(task, "lastStatus") ?: "-",
	       json_str(task, "desiredStatus") ?: "-");
	printf("Instance:        %s\n", json_str(task, "containerInstanceArn") ?: "-");
	cli_time(json_get(task, "createdAt"), when, sizeof(when));
	printf("Created:         %s\n", when);
	cli_time(json_get(task, "startedAt"), when, sizeof(when));
	printf("Started:         %s\n", when);
	cli_time(json_get(task, "stoppedAt"), when, sizeof(when));
	printf("Stopped:         %s\n", when);
	if (json_str(task, "stoppedReason"))
		printf("Stopped reason:  %s\n", json_str(task, "stoppedReason"));
	printf("\n");
	table_init(&t, 5,
		   (const char *const[]){ "CONTAINER", "IMAGE", "STATUS", "EXIT", "REASON" });
	cs = json_arr(task, "containers");
	for (const cJSON *k = cs ? cs->child : NULL; k; k = k->next) {
		char code[24];

		cli_int(k, "exitCode", code, sizeof(code));
		table_add(&t, (const char *const[]){ json_str(k, "name"), json_str(k, "image"),
						     json_str(k, "lastStatus"), code,
						     json_str(k, "reason") });
	}
	cli_print_table(&t);
	table_release(&t);
	return 0;
}

static const struct cli_verb verbs[] = {
	{ "run", run, "run one-off tasks of a task definition" },
	{ "ls", ls, "list the cluster's tasks (also: berth ps)" },
	{ "show", show, "show a task and its containers" },
	{ "stop", stop, "stop tasks (also: berth stop)" },
};

int cmd_task(int argc, char **argv)
{
	return cli_dispatch("task", verbs, ARRAY_SIZE(verbs), argc, argv);
}

int cmd_ps(int argc, char **argv)
{
	return do_ls(argc, argv, "berth ps");
}

int cmd_stop(int argc, char **argv)
{
	return do_stop(argc, argv, "berth stop");
}
