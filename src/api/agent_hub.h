/*
 * agent_hub.h: the server's side of its agents (docs/agent-protocol.md):
 * the long polls they wait in (BerthAgent_V1.Poll), woken when a task of
 * their instance changes, and their liveness: a poll is a heartbeat, and
 * an instance whose agent has not polled for the agent timeout is marked
 * agentConnected=false.
 *
 * A waiting poll holds no HTTP thread: its connection is suspended
 * (http.h) and resumed by agent_hub_notify or when its wait is over.
 */
#ifndef BERTH_API_AGENT_HUB_H
#define BERTH_API_AGENT_HUB_H

#include <stdint.h>

#include "api/api.h"

struct agent_hub;

/* Start the hub of srv (and its thread); agent_timeout_ms: see above. */
int agent_hub_new(struct api_server *srv, int64_t agent_timeout_ms, struct agent_hub **ret,
		  struct err *err);

/*
 * Answer every waiting poll now and stop suspending new ones: called before
 * the HTTP server stops (a suspended connection would hold it up).
 */
void agent_hub_close(struct agent_hub *h);

void agent_hub_free(struct agent_hub *h);

/* A task of instance_id of cluster changed: its agent's poll answers now. h may be NULL. */
void agent_hub_notify(struct agent_hub *h, const char *cluster, const char *instance_id);

#endif
