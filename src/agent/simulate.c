/*
 * simulate.c: `berth agent --simulate N`: N simulated container instances
 * in one process, as Nomad's node simulator and Kubernetes's hollow nodes
 * do, to measure the control plane at scale. Each speaks the real agent
 * protocol on its own thread (docs/agent-protocol.md): it registers with
 * resources of its own (--simulate-cpu, --simulate-memory), long-polls,
 * reports every task placed on it RUNNING, and STOPPED once it is desired
 * STOPPED, with SubmitTaskStateChange. No image is pulled and no container
 * runs; nothing is written to disk.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

#define SIM_STACK     (256 * 1024)
#define SIM_ZONES     3
#define SIM_TASKS_MAX 4096 /* tasks one instance remembers having reported */

struct sim_instance {
	struct agent *a;
	const struct agent_simulation *sim;
	unsigned index;
	pthread_t thread;
	bool started;
	char arn[AGENT_ARN_MAX];
	/* the tasks reported, "ARN STATUS" each, and their count */
	cJSON *reported; /* object: task ARN -> "RUNNING" or "STOPPED" */
};

/* The ports a simulated instance holds (its only reserved one: ssh). */
static const char *const sim_ports[] = { "22" };

struct agent_simulation_state {
	struct sim_instance *instances;
	unsigned n;
};

static void registration(const struct sim_instance *s, struct buf *out)
{
	const struct agent *a = s->a;
	struct jsonw w;
	char id[64], zone[32], identity[128];

	snprintf(id, sizeof(id), "i-sim%012x", s->index);
	snprintf(zone, sizeof(zone), "sim-%c", 'a' + (int)(s->index % SIM_ZONES));
	snprintf(identity, sizeof(identity), "{\"instanceId\":\"%s\"}", id);
	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", a->cfg.cluster);
	jsonw_key_str(&w, "instanceIdentityDocument", identity);
	agent_write_resources(&w, s->sim->cpu, s->sim->memory_mib, sim_ports,
			      ARRAY_SIZE(sim_ports));
	jsonw_key(&w, "versionInfo");
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "agentVersion", BERTH_VERSION);
	jsonw_key_str(&w, "agentHash", "berth-simulated");
	jsonw_obj_end(&w);
	jsonw_key(&w, "attributes");
	jsonw_arr_begin(&w);
	agent_write_attribute(&w, "ecs.os-type", "linux");
	agent_write_attribute(&w, "ecs.instance-id", id);
	agent_write_attribute(&w, "ecs.availability-zone", zone);
	agent_write_capabilities(&w);
	for (const cJSON *at = a->cfg.attributes ? a->cfg.attributes->child : NULL; at;
	     at = at->next)
		agent_write_attribute(&w, json_str(at, "name"), json_str(at, "value"));
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
}

static int sim_register(struct sim_instance *s, struct awsclient *c, struct err *err)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	const char *arn;
	int r;

	registration(s, &body);
	r = agent_call(s->a, c, ECS_TARGET("RegisterContainerInstance"), buf_str(&body), 0, &answer,
		       err);
	if (r < 0 && err->kind == E_CLUSTER_NOT_FOUND && !strcmp(s->a->cfg.cluster, "default")) {
		buf_reset(&answer);
		r = agent_call(s->a, c, ECS_TARGET("CreateCluster"),
			       "{\"clusterName\":\"default\"}", 0, &answer, err);
		buf_reset(&answer);
		if (r == 0)
			r = agent_call(s->a, c, ECS_TARGET("RegisterContainerInstance"),
				       buf_str(&body), 0, &answer, err);
	}
	if (r < 0)
		return r;
	doc = cJSON_ParseWithLength(answer.data, answer.len);
	arn = json_str(json_obj(doc, "containerInstance"), "containerInstanceArn");
	if (!arn)
		return err_set(err, -EPROTO, E_SERVER,
			       "RegisterContainerInstance: no ARN answered");
	snprintf(s->arn, sizeof(s->arn), "%s", arn);
	return 0;
}

/* Report task t (a poll's) as status: its containers follow. */
static int sim_report(struct sim_instance *s, struct awsclient *c, const cJSON *t,
		      const char *status, struct err *err)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	struct jsonw w;
	const cJSON *ct;

	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", s->a->cfg.cluster);
	jsonw_key_str(&w, "task", json_str(t, "taskArn"));
	jsonw_key_str(&w, "status", status);
	if (!strcmp(status, "STOPPED"))
		jsonw_key_str(&w, "reason", "Simulated task stopped");
	jsonw_key(&w, "containers");
	jsonw_arr_begin(&w);
	cJSON_ArrayForEach(ct, json_arr(t, "containers")) {
		jsonw_obj_begin(&w);
		jsonw_key_str(&w, "containerName", json_str(ct, "name") ?: "");
		jsonw_key_str(&w, "status", status);
		jsonw_key_str(&w, "runtimeId", "simulated");
		if (!strcmp(status, "STOPPED"))
			jsonw_key_int(&w, "exitCode", 0);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	return agent_call(s->a, c, ECS_TARGET("SubmitTaskStateChange"), buf_str(&body), 0, &answer,
			  err);
}

/* One poll, and a report for each task whose state the instance has not reported yet. */
static int sim_poll(struct sim_instance *s, struct awsclient *c, int64_t *since, struct err *err)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL, *seen = cJSON_CreateObject();
	const cJSON *t;
	struct jsonw w;
	int r;

	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", s->a->cfg.cluster);
	jsonw_key_str(&w, "containerInstance", s->arn);
	jsonw_key_int(&w, "since", *since);
	jsonw_key_int(&w, "waitSeconds", s->a->cfg.poll_wait_s);
	jsonw_obj_end(&w);
	r = agent_call(s->a, c, AGENT_TARGET("Poll"), buf_str(&body),
		       (long)(s->a->cfg.poll_wait_s + 15) * 1000, &answer, err);
	if (r < 0)
		return r;
	doc = cJSON_ParseWithLength(answer.data, answer.len);
	if (!doc || !cJSON_IsArray(json_get(doc, "tasks")))
		return err_set(err, -EPROTO, E_SERVER, "Poll: the answer is not a poll answer");
	*since = json_int(doc, "seq", 0);
	if (!strcmp(json_str(doc, "containerInstanceStatus") ?: "", "INACTIVE"))
		return err_set(err, -ENOENT, E_CLIENT, "container instance %s was deregistered",
			       s->arn);
	cJSON_ArrayForEach(t, json_get(doc, "tasks")) {
		const char *arn = json_str(t, "taskArn"), *have;
		const char *want = !strcmp(json_str(t, "desiredStatus") ?: "", "STOPPED")
					   ? "STOPPED"
					   : "RUNNING";

		if (!arn)
			continue;
		have = json_str(s->reported, arn);
		if (!have || strcmp(have, want) != 0) {
			r = sim_report(s, c, t, want, err);
			if (r < 0)
				return r;
		}
		if (!json_get(seen, arn))
			cJSON_AddStringToObject(seen, arn, want);
	}
	/* what the poll no longer lists is forgotten */
	cJSON_Delete(s->reported);
	s->reported = TAKE_PTR(seen);
	return 0;
}

static void *sim_thread(void *arg)
{
	struct sim_instance *s = arg;
	struct awsclient c;
	struct err err = ERR_INIT;
	int64_t since = 0;
	int r;

	s->reported = cJSON_CreateObject();
	r = agent_client_init(s->a, &c, &err);
	if (r < 0) {
		log_error("agent: simulated instance %u: %s", s->index, err.msg);
		return NULL;
	}
	r = sim_register(s, &c, &err);
	while (r == 0 && !s->a->stopping) {
		r = sim_poll(s, &c, &since, &err);
		if (r < 0 && err.kind == E_SERVER && !s->a->stopping)
			r = 0; /* agent_call retried it as long as it could: go on */
	}
	if (r < 0 && !s->a->stopping)
		log_error("agent: simulated instance %u: %s", s->index, err.msg);
	agent_client_release(&c);
	cJSON_Delete(s->reported);
	s->reported = NULL;
	return NULL;
}

int agent_simulate_start(struct agent *a, const struct agent_simulation *sim,
			 struct agent_simulation_state **ret, struct err *err)
{
	struct agent_simulation_state *st = calloc(1, sizeof(*st));
	pthread_attr_t attr;

	if (!st || !(st->instances = calloc(sim->n, sizeof(*st->instances)))) {
		free(st);
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	}
	st->n = sim->n;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SIM_STACK);
	for (unsigned i = 0; i < sim->n; i++) {
		struct sim_instance *s = &st->instances[i];

		s->a = a;
		s->sim = sim;
		s->index = i;
		if (pthread_create(&s->thread, &attr, sim_thread, s) != 0) {
			pthread_attr_destroy(&attr);
			a->stopping = 1;
			agent_simulate_stop(st);
			return err_set(err, -EAGAIN, E_SERVER,
				       "cannot start the thread of simulated instance %u", i);
		}
		s->started = true;
	}
	pthread_attr_destroy(&attr);
	log_info("agent: simulating %u container instances in cluster %s", sim->n, a->cfg.cluster);
	*ret = st;
	return 0;
}

void agent_simulate_stop(struct agent_simulation_state *st)
{
	if (!st)
		return;
	for (unsigned i = 0; i < st->n; i++)
		if (st->instances[i].started)
			pthread_join(st->instances[i].thread, NULL);
	free(st->instances);
	free(st);
}
