/*
 * main.c: the table of berth's subcommands, and nothing more.
 */
#include <stdio.h>
#include <string.h>

#include "agent/runtime.h"
#include "main.h"
#include "core/banned.h"

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("berth %s\n", BERTH_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "cluster", cmd_cluster, "list, create and delete clusters" },
	{ "taskdef", cmd_taskdef, "register, list, show and deregister task definitions" },
	{ "task", cmd_task, "run, list, show and stop tasks" },
	{ "ps", cmd_ps, "list the cluster's tasks (berth task ls)" },
	{ "stop", cmd_stop, "stop tasks (berth task stop)" },
	{ "service", cmd_service, "create, scale, update, watch and delete services" },
	{ "instance", cmd_instance, "list, drain, activate and deregister container instances" },
	{ "logs", cmd_logs, "print (and follow) the logs of a task or a service" },
	{ "build", cmd_build, "build an image from a Dockerfile into this host's image store" },
	{ "image", cmd_image, "this host's images: pull, push, ls, tag, rm, save, load" },
	{ "images", cmd_images, "list the images in this host's image store" },
	{ "server", cmd_server, "run the control plane (ECS API, store, schedulers)" },
	{ "agent", cmd_agent, "run the agent of one host: its tasks' containers" },
	{ "dev", cmd_dev, "run berth on this machine alone, with embedded defaults" },
	{ "container", cmd_container, NULL },
	{ "shim", cmd_shim, NULL },
	{ "version", cmd_version, "print berth's version" },
	{ "help", cmd_help, "list the commands" },
};

static int cmd_help(int argc, char **argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	printf("usage: berth <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].help) /* internal commands have none */
			printf("  %-10s %s\n", commands[i].name, commands[i].help);
	printf("\n'berth COMMAND --help' tells more; docs/cli.md is the CLI's guide.\n");
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return cmd_help(argc, argv), 2;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc, argv);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc, argv);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "berth: '%s' is not a berth command; see 'berth help'\n", argv[1]);
	return 2;
}
