/*
 * main.h: the entry points of berth's subcommands, one per world.
 */
#ifndef BERTH_MAIN_H
#define BERTH_MAIN_H

#include <stdbool.h>

#define BERTH_VERSION "0.1.0"

/* api/server.c */
int cmd_server(int argc, char **argv);

/*
 * What runs beside the server in one process (berth dev): started once it
 * listens (with its endpoint, its first key pair, its region and data
 * directory), stopping before it stops.
 */
struct server_hooks {
	void (*started)(void *ctx, const char *endpoint, const char *access_key,
			const char *secret_key, const char *region, const char *data_dir);
	void (*stopping)(void *ctx);
	void *ctx;
};

int server_run(int argc, char **argv, bool dev, const struct server_hooks *hooks);

/* dev.c */
int cmd_dev(int argc, char **argv);

/* agent/agent.c */
int cmd_agent(int argc, char **argv);

/* cli/container.c: internal, a debugging verb of the container runtime */
int cmd_container(int argc, char **argv);

/* cli/build.c: `berth build` */
int cmd_build(int argc, char **argv);

/* cli/images.c: `berth image VERB` and `berth images` */
int cmd_image(int argc, char **argv);
int cmd_images(int argc, char **argv);

/* cli/: the CLI for people, a client of the server's API (docs/cli.md) */
int cmd_cluster(int argc, char **argv);	 /* cli/cluster.c */
int cmd_taskdef(int argc, char **argv);	 /* cli/taskdef.c */
int cmd_task(int argc, char **argv);	 /* cli/task.c */
int cmd_ps(int argc, char **argv);	 /* cli/task.c: berth task ls */
int cmd_stop(int argc, char **argv);	 /* cli/task.c: berth task stop */
int cmd_service(int argc, char **argv);	 /* cli/service.c */
int cmd_instance(int argc, char **argv); /* cli/instance.c */
int cmd_logs(int argc, char **argv);	 /* cli/logs.c */

#endif
