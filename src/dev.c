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
	const char *agent_listen; /* --agent-metrics-listen */
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
 * berth dev takes the server's options and --cluster NAME, the cluster its
 * agent joins (default "default", created when missing).
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
		if (!strcmp(argv[i], "--cluster") && i + 1 < argc) {
			d.cluster = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--cluster=", 10)) {
			d.cluster = argv[i] + 10;
			continue;
		}
		if (!strcmp(argv[i], "--agent-metrics-listen") && i + 1 < argc) {
			d.agent_listen = argv[++i];
			continue;
		}
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
