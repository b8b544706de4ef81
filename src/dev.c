/*
 * dev.c: `berth dev`, the embedded default: the server and an agent in one
 * process on one machine, state under one data directory (the agent's in
 * DATA-DIR/agent), joined to the cluster "default" (or --cluster NAME). The agent needs root
 * and runc; without them berth dev serves the API alone and says why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "core/buf.h"
#include "core/log.h"
#include "main.h"
#include "core/banned.h"

struct dev {
	struct agent agent;
	const char *cluster;
	const char *agent_listen;			      /* --agent-metrics-listen */
	const char *bridge, *bridge_subnet, *host_port_range; /* the agent's (NULL: its defaults) */
	struct buf data_dir, server, access_key, secret_key, region;
	bool running;
};

static bool have_runc(void)
{
	const char *path = getenv("PATH");
	struct buf p = BUF_INIT;
	bool found = false;

	for (const char *s = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"; s && *s && !found;) {
		const char *colon = strchr(s, ':');
		size_t n = colon ? (size_t)(colon - s) : strlen(s);

		buf_reset(&p);
		buf_printf(&p, "%.*s/runc", (int)n, s);
		found = access(buf_str(&p), X_OK) == 0;
		s = colon ? colon + 1 : NULL;
	}
	buf_release(&p);
	return found;
}

static void started(void *ctx, const char *endpoint, const char *access_key, const char *secret_key,
		    const char *region, const char *data_dir)
{
	struct dev *d = ctx;
	struct err err = ERR_INIT;

	if (geteuid() != 0 || !have_runc()) {
		log_warn("berth dev: no agent on this machine (%s): the API serves, tasks will not "
			 "run",
			 geteuid() != 0 ? "it needs root" : "runc is not installed");
		return;
	}
	buf_printf(&d->data_dir, "%s/agent", data_dir);
	buf_puts(&d->server, endpoint);
	buf_puts(&d->access_key, access_key);
	buf_puts(&d->secret_key, secret_key);
	buf_puts(&d->region, region);
	d->agent.cfg = (struct agent_config){
		.server = buf_str(&d->server),
		.cluster = d->cluster ? d->cluster : "default",
		.data_dir = buf_str(&d->data_dir),
		.region = buf_str(&d->region),
		.access_key = buf_str(&d->access_key),
		.secret_key = buf_str(&d->secret_key),
		.runtime = "runc",
		.pull_behavior = "default",
		.poll_wait_s = 20,
		.image_cleanup_delay_s = 3 * 3600,
		.attributes = cJSON_CreateArray(),
		.listen = d->agent_listen,
		.bridge = d->bridge,
		.bridge_subnet = d->bridge_subnet,
		.host_port_range = d->host_port_range,
		.introspection_port = AGENT_INTROSPECTION_PORT,
		.metadata_port = AGENT_METADATA_PORT,
	};
	if (agent_start(&d->agent, &err) < 0) {
		log_error("berth dev: the agent did not start: %s", err.msg);
		cJSON_Delete(d->agent.cfg.attributes);
		return;
	}
	if (d->agent.http)
		log_info("berth dev: the agent serves /metrics on port %u", d->agent.listen_port);
	d->running = true;
}

static void stopping(void *ctx)
{
	struct dev *d = ctx;
	struct err err = ERR_INIT;

	if (d->running && agent_stop(&d->agent, &err) < 0)
		log_warn("berth dev: the agent: %s", err.msg);
	if (d->running)
		cJSON_Delete(d->agent.cfg.attributes);
	d->running = false;
}

/*
 * berth dev takes the server's options, --cluster NAME, the cluster its
 * agent joins (default "default", created when missing), and the agent's
 * --bridge, --bridge-subnet and --host-port-range.
 */
int cmd_dev(int argc, char **argv)
{
	static struct dev d;
	struct server_hooks hooks = { .started = started, .stopping = stopping, .ctx = &d };
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, r;

	if (!rest)
		return 1;
	d.cluster = "default";
	for (int i = 0; i < argc; i++) {
		const struct {
			const char *name;
			const char **value;
		} own[] = {
			{ "--cluster", &d.cluster },
			{ "--agent-metrics-listen", &d.agent_listen },
			{ "--bridge", &d.bridge },
			{ "--bridge-subnet", &d.bridge_subnet },
			{ "--host-port-range", &d.host_port_range },
		};
		size_t k;

		for (k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
			size_t len = strlen(own[k].name);

			if (!strcmp(argv[i], own[k].name) && i + 1 < argc) {
				*own[k].value = argv[++i];
				break;
			}
			if (!strncmp(argv[i], own[k].name, len) && argv[i][len] == '=') {
				*own[k].value = argv[i] + len + 1;
				break;
			}
		}
		if (k == sizeof(own) / sizeof(own[0]))
			rest[n++] = argv[i];
	}
	r = server_run(n, rest, true, &hooks);
	free(rest);
	buf_release(&d.data_dir);
	buf_release(&d.server);
	buf_release(&d.access_key);
	buf_release(&d.secret_key);
	buf_release(&d.region);
	return r;
}
