/*
 * main.h: the entry points of berth's subcommands, one per world.
 */
#ifndef BERTH_MAIN_H
#define BERTH_MAIN_H

#define BERTH_VERSION "0.1.0"

/* api/server.c */
int cmd_server(int argc, char **argv);
int cmd_dev(int argc, char **argv);

/* agent/agent.c */
int cmd_agent(int argc, char **argv);

/* cli/container.c: internal, a debugging verb of the container runtime */
int cmd_container(int argc, char **argv);

#endif
