/*
 * cluster.c: `berth cluster ls|create|rm`, over ListClusters,
 * DescribeClusters, CreateCluster and DeleteCluster.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "main.h"
#include "core/banned.h"

static int ls(int argc, char **argv)
{
	static const char usage[] = "usage: berth cluster ls [options]\n"
				    "\n"
				    "List the clusters: NAME STATUS INSTANCES RUNNING PENDING "
				    "SERVICES.\n"
				    "\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *arns = NULL, *all = NULL,
			     *dreq = cJSON_CreateObject();
	struct table t;
	const cJSON *list;
	int opt, r;

	cli_init(&c, "berth cluster ls", NULL);
	while ((opt = cli_getopt(&c, argc, argv)) != -1)
		return cli_usage(opt, usage);
	if (optind != argc)
		return cli_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	if (cli_connect(&c))
		return 1;
	r = cli_ecs_list(&c, "ListClusters", req, "clusterArns", &arns);
	if (r == 0)
		r = cli_ecs_describe(&c, "DescribeClusters", dreq, "clusters", arns, 100,
				     "clusters", &all);
	cli_release(&c);
	if (r)
		return r;
	if (c.json) {
		cli_print_json(all);
		return 0;
	}
	table_init(&t, 6,
		   (const char *const[]){ "NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING",
					  "SERVICES" });
	list = json_arr(all, "clusters");
	for (const cJSON *x = list ? list->child : NULL; x; x = x->next) {
		char inst[24], run[24], pend[24], svc[24];

		cli_int(x, "registeredContainerInstancesCount", inst, sizeof(inst));
		cli_int(x, "runningTasksCount", run, sizeof(run));
		cli_int(x, "pendingTasksCount", pend, sizeof(pend));
		cli_int(x, "activeServicesCount", svc, sizeof(svc));
		table_add(&t, (const char *const[]){ json_str(x, "clusterName"),
						     json_str(x, "status"), inst, run, pend, svc });
	}
	cli_print_table(&t);
	table_release(&t);
	return 0;
}

static int create(int argc, char **argv)
{
	static const struct cli_one v = {
		.prog = "berth cluster create",
		.usage = "usage: berth cluster create [options] NAME\n"
			 "\n"
			 "Create a cluster (nothing happens when it exists) and print its ARN.\n"
			 "\n" CLI_COMMON_HELP,
		.what = "cluster name",
		.op = "CreateCluster",
		.key = "clusterName",
		.obj = "cluster",
		.member = "clusterArn",
	};

	return cli_one_run(&v, argc, argv);
}

static int rm(int argc, char **argv)
{
	static const struct cli_one v = {
		.prog = "berth cluster rm",
		.usage = "usage: berth cluster rm [options] NAME\n"
			 "\n"
			 "Delete a cluster and print its ARN. The server refuses while it has\n"
			 "container instances, services or tasks.\n"
			 "\n" CLI_COMMON_HELP,
		.what = "cluster name",
		.op = "DeleteCluster",
		.key = "cluster",
		.obj = "cluster",
		.member = "clusterArn",
	};

	return cli_one_run(&v, argc, argv);
}

static const struct cli_verb verbs[] = {
	{ "ls", ls, "list the clusters" },
	{ "create", create, "create a cluster" },
	{ "rm", rm, "delete a cluster" },
};

int cmd_cluster(int argc, char **argv)
{
	return cli_dispatch("cluster", verbs, ARRAY_SIZE(verbs), argc, argv);
}
