/*
 * instance.c: `berth instance ls|drain|activate|rm`, over
 * ListContainerInstances, DescribeContainerInstances,
 * UpdateContainerInstancesState and DeregisterContainerInstance.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "main.h"
#include "core/banned.h"

/* "remaining/registered" of one resource (CPU, MEMORY). */
static void resource(const cJSON *ci, const char *name, char *out, size_t size)
{
	long long have[2] = { -1, -1 };
	const char *keys[2] = { "remainingResources", "registeredResources" };

	for (int i = 0; i < 2; i++) {
		const cJSON *list = json_arr(ci, keys[i]);

		for (const cJSON *r = list ? list->child : NULL; r; r = r->next)
			if (!strcmp(json_str(r, "name") ?: "", name))
				have[i] = (long long)json_int(r, "integerValue", 0);
	}
	if (have[1] < 0)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%lld/%lld", have[0] < 0 ? 0 : have[0], have[1]);
}

static int ls(int argc, char **argv)
{
	enum { OPT_FILTER = 1 };
	static const struct option own[] = {
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth instance ls [options]\n"
		"\n"
		"List the cluster's container instances: INSTANCE STATUS AGENT RUNNING\n"
		"PENDING CPU MEMORY (free/registered) HOST.\n"
		"\n"
		"  --filter EXPR         the cluster query language (attribute:ecs.os-type == "
		"linux)\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *dreq = cJSON_CreateObject(),
			     *arns = NULL, *all = NULL;
	const cJSON *list;
	struct table t;
	int opt, r;

	cli_init(&c, "berth instance ls", own);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case OPT_FILTER: json_set_str(req, "filter", optarg); break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc)
		return cli_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	if (cli_connect(&c))
		return 1;
	json_set_str(req, "cluster", c.cfg.cluster);
	json_set_str(dreq, "cluster", c.cfg.cluster);
	r = cli_ecs_list(&c, "ListContainerInstances", req, "containerInstanceArns", &arns);
	if (r == 0)
		r = cli_ecs_describe(&c, "DescribeContainerInstances", dreq, "containerInstances",
				     arns, 100, "containerInstances", &all);
	cli_release(&c);
	if (r)
		return r;
	if (c.json) {
		cli_print_json(all);
		return 0;
	}
	table_init(&t, 8,
		   (const char *const[]){ "INSTANCE", "STATUS", "AGENT", "RUNNING", "PENDING",
					  "CPU", "MEMORY", "HOST" });
	list = json_arr(all, "containerInstances");
	for (const cJSON *x = list ? list->child : NULL; x; x = x->next) {
		char run[24], pend[24], cpu[48], mem[48];

		cli_int(x, "runningTasksCount", run, sizeof(run));
		cli_int(x, "pendingTasksCount", pend, sizeof(pend));
		resource(x, "CPU", cpu, sizeof(cpu));
		resource(x, "MEMORY", mem, sizeof(mem));
		table_add(&t, (const char *const[]){
				      cli_short(json_str(x, "containerInstanceArn")),
				      json_str(x, "status"),
				      json_bool(x, "agentConnected", false) ? "connected"
									    : "disconnected",
				      run, pend, cpu, mem, json_str(x, "ec2InstanceId") });
	}
	cli_print_table(&t);
	table_release(&t);
	return 0;
}

static int set_state(int argc, char **argv, const char *prog, const char *status, const char *usage)
{
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
	cJSON *ids;
	const cJSON *list;
	int opt, r;

	cli_init(&c, prog, NULL);
	while ((opt = cli_getopt(&c, argc, argv)) != -1)
		return cli_usage(opt, usage);
	if (optind >= argc)
		return cli_usage_error(&c, "expected a container instance");
	if (argc - optind > 10)
		return cli_usage_error(&c, "at most 10 container instances at once");
	if (cli_connect(&c))
		return 1;
	json_set_str(req, "cluster", c.cfg.cluster);
	json_set_str(req, "status", status);
	ids = cJSON_AddArrayToObject(req, "containerInstances");
	for (int i = optind; i < argc; i++)
		cJSON_AddItemToArray(ids, cJSON_CreateString(argv[i]));
	r = cli_ecs_req(&c, "UpdateContainerInstancesState", req, &answer);
	cli_release(&c);
	if (r)
		return r;
	if (c.json) {
		cli_print_json(answer);
	} else {
		list = json_arr(answer, "containerInstances");
		for (const cJSON *x = list ? list->child : NULL; x; x = x->next)
			printf("%s %s\n", cli_short(json_str(x, "containerInstanceArn")),
			       json_str(x, "status") ?: "-");
	}
	return cli_report_failures(&c, answer);
}

static int drain(int argc, char **argv)
{
	return set_state(argc, argv, "berth instance drain", "DRAINING",
			 "usage: berth instance drain [options] INSTANCE...\n"
			 "\n"
			 "Set container instances DRAINING: no new tasks are placed on them, and\n"
			 "services replace the tasks they run.\n"
			 "\n" CLI_COMMON_HELP);
}

static int activate(int argc, char **argv)
{
	return set_state(argc, argv, "berth instance activate", "ACTIVE",
			 "usage: berth instance activate [options] INSTANCE...\n"
			 "\n"
			 "Set container instances ACTIVE again: tasks are placed on them.\n"
			 "\n" CLI_COMMON_HELP);
}

static int rm(int argc, char **argv)
{
	static const struct cli_one v = {
		.prog = "berth instance rm",
		.usage =
			"usage: berth instance rm [options] INSTANCE\n"
			"\n"
			"Deregister a container instance (its agent should be stopped first).\n"
			"The server refuses one that still runs tasks unless --force.\n"
			"\n"
			"  --force               deregister it even with tasks (they are stopped)\n"
			"\n" CLI_COMMON_HELP,
		.what = "container instance",
		.op = "DeregisterContainerInstance",
		.key = "containerInstance",
		.in_cluster = true,
		.force = true,
		.obj = "containerInstance",
		.member = "containerInstanceArn",
		.short_form = true,
	};

	return cli_one_run(&v, argc, argv);
}

static const struct cli_verb verbs[] = {
	{ "ls", ls, "list the cluster's container instances" },
	{ "drain", drain, "stop placing tasks on container instances" },
	{ "activate", activate, "place tasks on container instances again" },
	{ "rm", rm, "deregister a container instance" },
};

int cmd_instance(int argc, char **argv)
{
	return cli_dispatch("instance", verbs, ARRAY_SIZE(verbs), argc, argv);
}
