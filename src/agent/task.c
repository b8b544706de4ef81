/*
 * task.c: the task engine. Each task placed on this instance has a thread
 * that pulls its images, starts its containers through the runtime, watches
 * them, stops them when the server asks or when an essential one exits,
 * and reports each change (SubmitTaskStateChange, SubmitContainerStateChange).
 *
 * What the thread learns is written to DATA-DIR/tasks/ID.json before it is
 * reported, so an agent that restarts picks up a task where it was: its
 * containers kept running under their shims, and the last report is sent
 * again (the server ignores a repeated report).
 *
 * Container order: a container with dependsOn starts when its conditions
 * hold (START: the other container started; COMPLETE: it exited; SUCCESS:
 * it exited 0; HEALTHY is taken as START until health checks exist). A
 * condition that can no longer hold stops the task, as ECS does; so does
 * one whose container ran past its startTimeout without meeting it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/awslogs.h"
#include "agent/images.h"
#include "agent/network.h"
#include "agent/runtime.h"
#include "core/base64.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/util.h"
#include "core/banned.h"

#define WATCH_INTERVAL_MS    200
#define DEFAULT_STOP_TIMEOUT 30
#define TASK_RECORD_MAX	     (4u << 20)
#define CONTAINER_NAME_MAX   255
#define RUNTIME_ID_MAX	     128
#define STATUS_MAX	     16
#define REASON_MAX	     255

enum container_phase {
	C_PENDING, /* not started yet */
	C_RUNNING, /* started */
	C_STOPPED, /* exited, or never started and never will */
};

enum task_network {
	NET_MODE_BRIDGE, /* the default, as on ECS's EC2 launch type */
	NET_MODE_HOST,
	NET_MODE_AWSVPC,
	NET_MODE_NONE,
};

struct agent_container {
	char name[CONTAINER_NAME_MAX + 1];
	char runtime_id[RUNTIME_ID_MAX];
	char image_digest[LAYER_DIGEST_SIZE];
	char reason[REASON_MAX + 1];
	enum container_phase phase;
	bool essential;
	bool has_exit;
	int exit_code;
	cJSON *def; /* the container definition, overrides merged (owned) */
	/* its healthCheck, when it has one */
	char health[16];	 /* UNKNOWN, HEALTHY, UNHEALTHY */
	int64_t started_ms;	 /* when it started (this agent's clock) */
	int64_t next_check_ms;	 /* when to run the next check */
	int failures;		 /* consecutive failed checks */
	struct net_endpoint *ep; /* bridge mode: its network (owned), NULL before it has one */
	struct awslogs *logs;	 /* its awslogs shipper, when it logs through awslogs */
};

struct agent_task {
	struct agent_task *next;
	struct agent *agent;
	char arn[AGENT_ARN_MAX];
	char id[AGENT_ID_MAX];
	cJSON *doc; /* the server's Task document with its taskDefinition (owned) */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop_wanted; /* desiredStatus STOPPED */
	bool forgotten;	  /* the server no longer lists it */
	bool finished;	  /* the thread has ended */
	/* owned by the thread */
	struct agent_container *containers;
	size_t n_containers;
	char reported[STATUS_MAX]; /* the task status last acknowledged */
	char stop_reason[REASON_MAX + 1];
	int64_t pull_started_ms, pull_stopped_ms, stopped_ms;
	struct buf saved; /* the record as last written, not written again unchanged */
	struct awsclient api;
	enum task_network mode;
	struct net_endpoint *ep; /* awsvpc: the task's network (owned) */
	char attachment_id[64];	 /* awsvpc: the id of its ElasticNetworkInterface attachment */
};

static const char *phase_name(enum container_phase p)
{
	return p == C_PENDING ? "PENDING" : p == C_RUNNING ? "RUNNING" : "STOPPED";
}

static struct agent_container *find_container(struct agent_task *t, const char *name)
{
	for (size_t i = 0; i < t->n_containers; i++)
		if (!strcmp(t->containers[i].name, name))
			return &t->containers[i];
	return NULL;
}

static bool wants_stop(struct agent_task *t)
{
	bool stop;

	pthread_mutex_lock(&t->lock);
	stop = t->stop_wanted || t->forgotten;
	pthread_mutex_unlock(&t->lock);
	return stop;
}

static bool leaving(struct agent_task *t)
{
	return t->agent->stopping;
}

/* Wait up to ms, or until the task is told something. */
static void task_wait(struct agent_task *t, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t->lock);
	if (!t->stop_wanted && !t->forgotten && !t->agent->stopping)
		pthread_cond_timedwait(&t->cond, &t->lock, &ts);
	pthread_mutex_unlock(&t->lock);
}

/* --- the record under DATA-DIR/tasks ----------------------------------- */

static void record_path(const struct agent_task *t, struct buf *out)
{
	buf_printf(out, "%s/%s.json", buf_str(&t->agent->tasks_dir), t->id);
}

static void save_record(struct agent_task *t)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	struct jsonw w;
	int r;

	jsonw_init(&w, &data);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "taskArn", t->arn);
	jsonw_key_str(&w, "reported", t->reported);
	jsonw_key_str(&w, "stopReason", t->stop_reason);
	jsonw_key_int(&w, "pullStartedAt", t->pull_started_ms);
	jsonw_key_int(&w, "pullStoppedAt", t->pull_stopped_ms);
	jsonw_key_int(&w, "stoppedAt", t->stopped_ms);
	jsonw_key(&w, "containers");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < t->n_containers; i++) {
		const struct agent_container *c = &t->containers[i];

		jsonw_obj_begin(&w);
		jsonw_key_str(&w, "name", c->name);
		jsonw_key_str(&w, "runtimeId", c->runtime_id);
		jsonw_key_str(&w, "imageDigest", c->image_digest);
		jsonw_key_str(&w, "phase", phase_name(c->phase));
		jsonw_key_str(&w, "reason", c->reason);
		if (c->has_exit)
			jsonw_key_int(&w, "exitCode", c->exit_code);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	/* each write is two fsyncs, and a start saved the same record twice in a row */
	if (t->saved.len == data.len && !memcmp(t->saved.data, data.data, data.len))
		return;
	record_path(t, &path);
	r = fs_write_atomic(buf_str(&path), data.data, data.len);
	if (r < 0) {
		log_error("task %s: writing %s: %s", t->id, buf_str(&path), strerror(-r));
		buf_reset(&t->saved);
		return;
	}
	buf_reset(&t->saved);
	buf_append(&t->saved, data.data, data.len);
}

/* Copy src into dst of n bytes, cut to fit. */
static void copy_str(char *dst, size_t n, const char *src)
{
	size_t len = src ? strnlen(src, n - 1) : 0;

	if (len)
		memcpy(dst, src, len);
	dst[len] = 0;
}

/* Take back what a previous run of the agent knew of this task. */
static bool load_record(struct agent_task *t)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;

	record_path(t, &path);
	if (fs_read_file(buf_str(&path), TASK_RECORD_MAX, &data) < 0)
		return false;
	doc = cJSON_ParseWithLength(data.data, data.len);
	if (!doc)
		return false;
	copy_str(t->reported, sizeof(t->reported), json_str(doc, "reported"));
	copy_str(t->stop_reason, sizeof(t->stop_reason), json_str(doc, "stopReason"));
	t->pull_started_ms = json_int(doc, "pullStartedAt", 0);
	t->pull_stopped_ms = json_int(doc, "pullStoppedAt", 0);
	t->stopped_ms = json_int(doc, "stoppedAt", 0);
	for (const cJSON *c = json_arr(doc, "containers") ? json_arr(doc, "containers")->child
							  : NULL;
	     c; c = c->next) {
		struct agent_container *ac = find_container(t, json_str(c, "name") ?: "");
		const char *phase = json_str(c, "phase");

		if (!ac)
			continue;
		copy_str(ac->runtime_id, sizeof(ac->runtime_id), json_str(c, "runtimeId"));
		copy_str(ac->image_digest, sizeof(ac->image_digest), json_str(c, "imageDigest"));
		copy_str(ac->reason, sizeof(ac->reason), json_str(c, "reason"));
		ac->phase = !phase			? C_PENDING
			    : !strcmp(phase, "RUNNING") ? C_RUNNING
			    : !strcmp(phase, "STOPPED") ? C_STOPPED
							: C_PENDING;
		if (json_has(c, "exitCode")) {
			ac->has_exit = true;
			ac->exit_code = (int)json_int(c, "exitCode", 0);
		}
	}
	return true;
}

static void remove_record(struct agent_task *t)
{
	_cleanup_buf_ struct buf path = BUF_INIT;

	record_path(t, &path);
	unlink(buf_str(&path));
	buf_reset(&t->saved);
}

/* --- networks ---------------------------------------------------------- */

static enum task_network network_mode(const cJSON *task)
{
	const char *mode = json_str(json_obj(task, "taskDefinition"), "networkMode");

	if (!mode || !strcmp(mode, "bridge") || !strcmp(mode, "default"))
		return NET_MODE_BRIDGE;
	if (!strcmp(mode, "host"))
		return NET_MODE_HOST;
	if (!strcmp(mode, "awsvpc"))
		return NET_MODE_AWSVPC;
	return NET_MODE_NONE;
}

/*
 * The ports container definition def publishes: its portMappings
 * (containerPort, hostPort: 0 or absent for a dynamic one, protocol), a
 * containerPortRange as one dynamic host port per container port.
 */
static int published_ports(const cJSON *def, struct net_port *ports, size_t *n, struct err *err)
{
	const cJSON *pm;

	*n = 0;
	cJSON_ArrayForEach(pm, json_arr(def, "portMappings")) {
		const char *proto = json_str(pm, "protocol");
		const char *range = json_str(pm, "containerPortRange");
		int64_t cp = json_int(pm, "containerPort", 0), hp = json_int(pm, "hostPort", 0);
		uint16_t lo, hi;

		if (range && !json_has(pm, "containerPort")) {
			if (net_parse_port_range(range, &lo, &hi) < 0)
				return err_set(err, -EINVAL, E_CLIENT,
					       "ResourceInitializationError: bad "
					       "containerPortRange '%.50s'",
					       range);
		} else {
			if (cp < 1 || cp > 65535 || hp < 0 || hp > 65535)
				return err_set(err, -EINVAL, E_CLIENT,
					       "ResourceInitializationError: bad port mapping "
					       "%lld:%lld",
					       (long long)hp, (long long)cp);
			lo = hi = (uint16_t)cp;
		}
		for (uint32_t p = lo; p <= hi; p++) {
			if (*n == NET_PORTS_MAX)
				return err_set(err, -E2BIG, E_CLIENT,
					       "ResourceInitializationError: more than %d "
					       "published ports",
					       NET_PORTS_MAX);
			ports[(*n)++] = (struct net_port){
				.udp = proto && !strcmp(proto, "udp"),
				.container_port = (uint16_t)p,
				.host_port = lo == hi ? (uint16_t)hp : 0,
			};
		}
	}
	return 0;
}

/* The id of the task's ElasticNetworkInterface attachment (RunTask made it). */
static void find_attachment(struct agent_task *t)
{
	const cJSON *at;

	cJSON_ArrayForEach(at, json_arr(t->doc, "attachments"))
		if (!strcmp(json_str(at, "type") ?: "", "ElasticNetworkInterface") &&
		    json_str(at, "id")) {
			copy_str(t->attachment_id, sizeof(t->attachment_id), json_str(at, "id"));
			return;
		}
}

static bool any_started(const struct agent_task *t)
{
	for (size_t i = 0; i < t->n_containers; i++)
		if (t->containers[i].phase != C_PENDING)
			return true;
	return false;
}

/*
 * Give the task its networks: in bridge mode an endpoint per container
 * (its runtime id), in awsvpc one for the task (its id). After an agent
 * restart, the endpoints of containers that started are taken as they are;
 * those of containers that did not are made again (the agent may have
 * stopped half-way through making them). Failure leaves the reason in err
 * ("ResourceInitializationError: ...").
 */
static int setup_network_endpoints(struct agent_task *t, struct err *err)
{
	struct net *net = t->agent->net;
	struct err absent = ERR_INIT; /* an endpoint not made yet is no failure */
	int r;

	t->mode = network_mode(t->doc);
	if (t->mode == NET_MODE_AWSVPC) {
		find_attachment(t);
		if (!t->ep && !(t->ep = calloc(1, sizeof(*t->ep))))
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		if (net_endpoint_get(net, t->id, t->ep, &absent) == 0) {
			if (any_started(t))
				return 0;
			/* made by an agent that stopped before any container used it: perhaps half */
			net_endpoint_remove(net, t->id, &absent);
		}
		return net_endpoint_create(net, t->id, t->id, NULL, 0, t->ep, err);
	}
	if (t->mode != NET_MODE_BRIDGE)
		return 0;
	for (size_t i = 0; i < t->n_containers; i++) {
		struct agent_container *c = &t->containers[i];
		_cleanup_free_ struct net_port *ports = calloc(NET_PORTS_MAX, sizeof(*ports));
		size_t n;

		if (!ports || (!c->ep && !(c->ep = calloc(1, sizeof(*c->ep)))))
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		if (net_endpoint_get(net, c->runtime_id, c->ep, &absent) == 0) {
			if (c->phase != C_PENDING)
				continue;
			/* made by an agent that stopped before the container started: perhaps half */
			net_endpoint_remove(net, c->runtime_id, &absent);
		}
		r = published_ports(c->def, ports, &n, err);
		if (r == 0)
			r = net_endpoint_create(net, c->runtime_id, t->id, ports, n, c->ep, err);
		if (r < 0) {
			free(c->ep);
			c->ep = NULL;
			return r;
		}
		log_info("task %s: container %s has address %s", t->id, c->name, c->ep->address);
	}
	return 0;
}

/* setup_network_endpoints, timed (the figure bench/network reads). */
static int setup_network(struct agent_task *t, struct err *err)
{
	uint64_t start = mono_ns();
	int r = setup_network_endpoints(t, err);

	if (r == 0 && (t->mode == NET_MODE_BRIDGE || t->mode == NET_MODE_AWSVPC))
		log_info("task %s: network set up in %.2f ms", t->id,
			 (double)(mono_ns() - start) / 1e6);
	return r;
}

/* Remove the task's endpoints (what is gone already is fine). */
static void remove_network(struct agent_task *t)
{
	struct err err = ERR_INIT;

	for (size_t i = 0; i < t->n_containers; i++)
		net_endpoint_remove(t->agent->net, t->containers[i].runtime_id, &err);
	net_endpoint_remove(t->agent->net, t->id, &err);
}

/*
 * /etc/hosts lines for a bridge-mode container: every other container of
 * its task by name, and the aliases of its links ("name:alias").
 */
static void task_hosts(const struct agent_task *t, const struct agent_container *self,
		       struct buf *out)
{
	const cJSON *link;

	for (size_t i = 0; i < t->n_containers; i++) {
		const struct agent_container *o = &t->containers[i];

		if (o == self || !o->ep || strpbrk(o->name, " \t\n"))
			continue;
		buf_printf(out, "%s\t%s", o->ep->address, o->name);
		cJSON_ArrayForEach(link, json_arr(self->def, "links")) {
			const char *l = cJSON_IsString(link) ? link->valuestring : "";
			const char *colon = strchr(l, ':');
			size_t len = colon ? (size_t)(colon - l) : strlen(l);

			if (colon && len == strlen(o->name) && !strncmp(l, o->name, len) &&
			    colon[1] && !strpbrk(colon + 1, " \t\n"))
				buf_printf(out, " %s", colon + 1);
		}
		buf_putc(out, '\n');
	}
}

/* ECS's private DNS name of an address: ip-A-B-C-D.ec2.internal (REGION.compute.internal elsewhere). */
static void private_dns_name(const struct agent_task *t, const char *address, char *out, size_t n)
{
	char dashed[16];

	copy_str(dashed, sizeof(dashed), address);
	for (char *p = dashed; *p; p++)
		if (*p == '.')
			*p = '-';
	if (!strcmp(t->agent->cfg.region ?: "us-east-1", "us-east-1"))
		snprintf(out, n, "ip-%s.ec2.internal", dashed);
	else
		snprintf(out, n, "ip-%s.%s.compute.internal", dashed, t->agent->cfg.region);
}

/* What the task reports of its network: each container's networkBindings (and networkInterfaces). */
static void write_network(struct jsonw *w, const struct agent_task *t,
			  const struct agent_container *c)
{
	const cJSON *pm;

	if (t->mode == NET_MODE_AWSVPC && t->ep && t->attachment_id[0]) {
		jsonw_key(w, "networkInterfaces");
		jsonw_arr_begin(w);
		jsonw_obj_begin(w);
		jsonw_key_str(w, "attachmentId", t->attachment_id);
		jsonw_key_str(w, "privateIpv4Address", t->ep->address);
		jsonw_obj_end(w);
		jsonw_arr_end(w);
	}
	if (t->mode == NET_MODE_BRIDGE && c->ep) {
		jsonw_key(w, "networkBindings");
		jsonw_arr_begin(w);
		for (size_t i = 0; i < c->ep->n_ports; i++) {
			jsonw_obj_begin(w);
			jsonw_key_str(w, "bindIP", "0.0.0.0");
			jsonw_key_int(w, "containerPort", c->ep->ports[i].container_port);
			jsonw_key_int(w, "hostPort", c->ep->ports[i].host_port);
			jsonw_key_str(w, "protocol", c->ep->ports[i].udp ? "udp" : "tcp");
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
	}
	if (t->mode == NET_MODE_HOST && json_arr(c->def, "portMappings")) {
		/* the host's network: its container ports are its host ports */
		jsonw_key(w, "networkBindings");
		jsonw_arr_begin(w);
		cJSON_ArrayForEach(pm, json_arr(c->def, "portMappings")) {
			int64_t port = json_int(pm, "containerPort", 0);
			const char *proto = json_str(pm, "protocol");

			if (port < 1 || port > 65535)
				continue;
			jsonw_obj_begin(w);
			jsonw_key_str(w, "bindIP", "0.0.0.0");
			jsonw_key_int(w, "containerPort", port);
			jsonw_key_int(w, "hostPort", port);
			jsonw_key_str(w, "protocol",
				      proto && !strcmp(proto, "udp") ? "udp" : "tcp");
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
	}
}

/*
 * The task's ElasticNetworkInterface attachment, ATTACHED once its
 * namespace exists (DELETED when stopped), with what ECS lists in its
 * details: berth's agent chooses the address, so it reports them (a member
 * ECS's AttachmentStateChange does not have; the server takes it).
 */
static void write_attachments(struct jsonw *w, const struct agent_task *t, const char *status)
{
	char arn[AGENT_ARN_MAX + 64], eni[32], dns[96];
	const char *res = strstr(t->arn, ":task/");

	if (t->mode != NET_MODE_AWSVPC || !t->ep || !t->attachment_id[0] || !res)
		return;
	snprintf(arn, sizeof(arn), "%.*s:attachment/%s", (int)(res - t->arn), t->arn,
		 t->attachment_id);
	snprintf(eni, sizeof(eni), "eni-%.17s", t->id);
	private_dns_name(t, t->ep->address, dns, sizeof(dns));
	jsonw_key(w, "attachments");
	jsonw_arr_begin(w);
	jsonw_obj_begin(w);
	jsonw_key_str(w, "attachmentArn", arn);
	jsonw_key_str(w, "status", !strcmp(status, "STOPPED") ? "DELETED" : "ATTACHED");
	jsonw_key(w, "details");
	jsonw_arr_begin(w);
	{
		const char *const kv[][2] = {
			{ "networkInterfaceId", eni },
			{ "macAddress", t->ep->mac },
			{ "privateDnsName", dns },
			{ "privateIPv4Address", t->ep->address },
		};

		for (size_t i = 0; i < ARRAY_SIZE(kv); i++) {
			jsonw_obj_begin(w);
			jsonw_key_str(w, "name", kv[i][0]);
			jsonw_key_str(w, "value", kv[i][1]);
			jsonw_obj_end(w);
		}
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	jsonw_arr_end(w);
}

/* --- reports ----------------------------------------------------------- */

static void write_time(struct jsonw *w, const char *key, int64_t ms)
{
	if (ms > 0)
		jsonw_key_time_ms(w, key, ms);
}

static void write_container_change(struct jsonw *w, const struct agent_task *t,
				   const struct agent_container *c)
{
	write_network(w, t, c);
	if (c->runtime_id[0])
		jsonw_key_str(w, "runtimeId", c->runtime_id);
	if (c->image_digest[0])
		jsonw_key_str(w, "imageDigest", c->image_digest);
	jsonw_key_str(w, "status", phase_name(c->phase));
	if (c->has_exit)
		jsonw_key_int(w, "exitCode", c->exit_code);
	if (c->reason[0])
		jsonw_key_str(w, "reason", c->reason);
}

/*
 * Report the task's status with every container's: retried until the
 * server answers. Returns false when the server refused it for good (it no
 * longer knows the task) or the agent is stopping.
 */
static bool report_task(struct agent_task *t, const char *status)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	struct err err = ERR_INIT;
	struct jsonw w;
	int r;

	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", t->agent->cfg.cluster);
	jsonw_key_str(&w, "task", t->arn);
	jsonw_key_str(&w, "status", status);
	if (!strcmp(status, "STOPPED") && t->stop_reason[0])
		jsonw_key_str(&w, "reason", t->stop_reason);
	jsonw_key(&w, "containers");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < t->n_containers; i++) {
		jsonw_obj_begin(&w);
		jsonw_key_str(&w, "containerName", t->containers[i].name);
		write_container_change(&w, t, &t->containers[i]);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	write_attachments(&w, t, status);
	write_time(&w, "pullStartedAt", t->pull_started_ms);
	write_time(&w, "pullStoppedAt", t->pull_stopped_ms);
	if (!strcmp(status, "STOPPED"))
		write_time(&w, "executionStoppedAt", t->stopped_ms);
	jsonw_obj_end(&w);

	save_record(t);
	log_debug("task %s: reporting %s", t->id, status);
	r = agent_call(t->agent, &t->api, ECS_TARGET("SubmitTaskStateChange"), buf_str(&body), 0,
		       &answer, &err);
	if (r < 0) {
		if (!leaving(t))
			log_warn("task %s: reporting %s: %s", t->id, status, err.msg);
		return false;
	}
	copy_str(t->reported, sizeof(t->reported), status);
	save_record(t);
	log_info("task %s: %s", t->id, status);
	return true;
}

/* Report one container's change (its task's status stays what it is). */
static void report_container(struct agent_task *t, const struct agent_container *c)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	struct err err = ERR_INIT;
	struct jsonw w;

	save_record(t);
	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", t->agent->cfg.cluster);
	jsonw_key_str(&w, "task", t->arn);
	jsonw_key_str(&w, "containerName", c->name);
	write_container_change(&w, t, c);
	jsonw_obj_end(&w);
	if (agent_call(t->agent, &t->api, ECS_TARGET("SubmitContainerStateChange"), buf_str(&body),
		       0, &answer, &err) < 0 &&
	    !leaving(t))
		log_warn("task %s: reporting container %s: %s", t->id, c->name, err.msg);
}

/* --- building the containers ------------------------------------------- */

/*
 * A container definition with its override applied, as ECS applies one:
 * command replaces, environment adds to (and wins over) the definition's,
 * cpu, memory and memoryReservation replace.
 */
static cJSON *merge_override(const cJSON *def, const cJSON *override)
{
	static const char *const replaced[] = { "command", "cpu", "memory", "memoryReservation" };
	cJSON *out = cJSON_Duplicate(def, true);
	const cJSON *env = json_arr(override, "environment");

	if (!out || !override)
		return out;
	for (size_t i = 0; i < ARRAY_SIZE(replaced); i++)
		if (json_get(override, replaced[i]))
			json_set(out, replaced[i],
				 cJSON_Duplicate(json_get(override, replaced[i]), true));
	if (env) {
		cJSON *list = cJSON_GetObjectItemCaseSensitive(out, "environment");

		if (!list) {
			list = cJSON_AddArrayToObject(out, "environment");
		}
		for (const cJSON *e = env->child; e; e = e->next) {
			const char *name = json_str(e, "name");
			cJSON *old = NULL;
			int idx = 0;

			for (cJSON *o = list->child; name && o; o = o->next, idx++)
				if (json_str(o, "name") && !strcmp(json_str(o, "name"), name)) {
					old = o;
					break;
				}
			if (old)
				cJSON_DeleteItemFromArray(list, idx);
			cJSON_AddItemToArray(list, cJSON_Duplicate(e, true));
		}
	}
	return out;
}

/* The containers of the task, from its task definition and overrides. */
static int build_containers(struct agent_task *t, struct err *err)
{
	const cJSON *td = json_obj(t->doc, "taskDefinition");
	const cJSON *defs = json_arr(td, "containerDefinitions");
	size_t n = 0;

	for (const cJSON *d = defs ? defs->child : NULL; d; d = d->next)
		n++;
	t->mode = network_mode(t->doc);
	if (n == 0)
		return err_set(err, -EINVAL, E_CLIENT, "the task definition has no containers");
	t->containers = calloc(n, sizeof(*t->containers));
	if (!t->containers)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	for (const cJSON *d = defs->child; d; d = d->next) {
		struct agent_container *c = &t->containers[t->n_containers++];
		const char *name = json_str(d, "name") ?: "";

		copy_str(c->name, sizeof(c->name), name);
		copy_str(c->health, sizeof(c->health), "UNKNOWN");
		c->essential = json_bool(d, "essential", true);
		c->def = merge_override(d, json_array_find(json_arr(json_obj(t->doc, "overrides"),
								    "containerOverrides"),
							   "name", name));
		if (!c->def)
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		/* a runtime id unique on this host: the task id and the container's index */
		snprintf(c->runtime_id, sizeof(c->runtime_id), "%s-%zu", t->id,
			 t->n_containers - 1);
	}
	return 0;
}

/* --- images ------------------------------------------------------------ */

/* Whether image names a repository of the agent's own server's registry. */
static bool on_own_registry(const struct agent *a, const char *image)
{
	const char *host = strstr(a->cfg.server, "://");
	size_t n;

	if (!host)
		return false;
	host += 3;
	n = strcspn(host, "/");
	return !strncmp(image, host, n) && image[n] == '/';
}

/*
 * The ECR token of the agent's server (GetAuthorizationToken), for pulls
 * from its registry: user "AWS", the token as password, as `docker login`
 * with `aws ecr get-login-password` does. A token is kept and used again
 * until half an hour before it expires (half its life when that is
 * shorter), as the ECS agent keeps ECR's: a task start then asks the
 * registry for the manifest only, not the server for a token first.
 */
static int own_registry_token(struct agent_task *t, struct buf *ret_password, struct err *err)
{
	_cleanup_buf_ struct buf answer = BUF_INIT, decoded = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	struct agent *a = t->agent;
	const cJSON *data;
	const char *token, *colon;
	int64_t now = now_ms(), expires, margin;
	int r;

	pthread_mutex_lock(&a->lock);
	if (a->registry_token.len && now < a->registry_token_refresh_ms)
		buf_puts(ret_password, buf_str(&a->registry_token));
	pthread_mutex_unlock(&a->lock);
	if (ret_password->len)
		return 0;
	r = awsclient_call(&t->api, "ecr",
			   "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken", "{}", 0,
			   &answer, err);
	if (r < 0)
		return err_wrap(err, "getting the registry's token");
	doc = cJSON_ParseWithLength(answer.data, answer.len);
	data = json_arr(doc, "authorizationData");
	token = data && data->child ? json_str(data->child, "authorizationToken") : NULL;
	if (!token || base64_decode(&decoded, token, strlen(token)) < 0 ||
	    !(colon = strchr(buf_str(&decoded), ':')))
		return err_set(err, -EPROTO, E_SERVER, "GetAuthorizationToken: no token answered");
	buf_puts(ret_password, colon + 1);
	/* expiresAt: epoch seconds */
	expires = json_int(data->child, "expiresAt", 0) * 1000;
	margin = (expires - now) / 2 < 1800000 ? (expires - now) / 2 : 1800000;
	pthread_mutex_lock(&a->lock);
	buf_reset(&a->registry_token);
	if (expires > now) {
		buf_puts(&a->registry_token, colon + 1);
		a->registry_token_refresh_ms = expires - margin;
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* Forget the kept registry token: the registry refused a pull with it, maybe for it. */
static void forget_registry_token(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	buf_reset(&a->registry_token);
	pthread_mutex_unlock(&a->lock);
}

/* Pull every container's image; the first failure stops the task. */
static int pull_images(struct agent_task *t, struct err *err)
{
	enum image_pull_behavior behavior;
	int r = image_pull_behavior_parse(t->agent->cfg.pull_behavior, &behavior, err);

	if (r < 0)
		return r;
	t->pull_started_ms = now_ms();
	for (size_t i = 0; i < t->n_containers && !wants_stop(t) && !leaving(t); i++) {
		struct agent_container *c = &t->containers[i];
		const char *ref = json_str(c->def, "image");
		_cleanup_buf_ struct buf password = BUF_INIT;
		struct image_auth auth = { 0 };
		struct image *img = NULL;

		if (c->image_digest[0] || !ref)
			continue;
		if (on_own_registry(t->agent, ref)) {
			r = own_registry_token(t, &password, err);
			if (r < 0)
				goto failed;
			auth.username = "AWS";
			auth.password = buf_str(&password);
			auth.basic_first = true;
		}
		r = image_pull(t->agent->images, ref, auth.username ? &auth : NULL, behavior, &img,
			       err);
		if (r < 0 && auth.username)
			forget_registry_token(t->agent);
		if (r < 0)
			goto failed;
		copy_str(c->image_digest, sizeof(c->image_digest), img->digest);
		image_free(img);
		continue;
	failed:
		snprintf(c->reason, sizeof(c->reason), "CannotPullContainerError: %.220s",
			 err->msg);
		return r;
	}
	t->pull_stopped_ms = now_ms();
	log_debug("task %s: images ready in %lld ms", t->id,
		  (long long)(t->pull_stopped_ms - t->pull_started_ms));
	return 0;
}

/* --- volumes ----------------------------------------------------------- */

#define MOUNTS_MAX 64

/* DATA-DIR/volumes/TASK-ID: the directories of the task's own volumes. */
static void task_volumes_dir(const struct agent_task *t, struct buf *out)
{
	buf_printf(out, "%s/volumes/%s", t->agent->cfg.data_dir, t->id);
}

/*
 * The host directory of volume `name` of the task: its host.sourcePath (made
 * when missing, as Docker does), a directory shared by every task for a
 * docker volume of scope "shared", else one of the task's own.
 */
static int volume_source(struct agent_task *t, const char *name, struct buf *ret, struct err *err)
{
	const cJSON *vols = json_arr(json_obj(t->doc, "taskDefinition"), "volumes"), *v;
	const char *host_path = NULL, *scope = NULL;
	bool found = false;
	int r;

	cJSON_ArrayForEach(v, vols)
		if (json_str(v, "name") && !strcmp(json_str(v, "name"), name)) {
			host_path = json_str(json_obj(v, "host"), "sourcePath");
			scope = json_str(json_obj(v, "dockerVolumeConfiguration"), "scope");
			found = true;
			break;
		}
	if (!found)
		return err_set(err, -ENOENT, E_CLIENT,
			       "CannotCreateContainerError: no volume named '%s' in the task "
			       "definition",
			       name);
	if (host_path && *host_path)
		buf_puts(ret, host_path);
	else if (scope && !strcmp(scope, "shared"))
		buf_printf(ret, "%s/volumes/shared/%s", t->agent->cfg.data_dir, name);
	else {
		task_volumes_dir(t, ret);
		buf_printf(ret, "/%s", name);
	}
	r = fs_mkdir_p(buf_str(ret), 0755);
	if (r < 0)
		return err_set(err, r, E_SERVER, "CannotCreateContainerError: volume %s: %s: %s",
			       name, buf_str(ret), strerror(-r));
	return 0;
}

struct mounts {
	struct container_mount m[MOUNTS_MAX];
	struct buf src[MOUNTS_MAX];
	size_t n;
};

static int add_mount_points(struct agent_task *t, struct mounts *ms, const cJSON *points,
			    bool force_ro, struct err *err)
{
	const cJSON *mp;

	cJSON_ArrayForEach(mp, points) {
		const char *vol = json_str(mp, "sourceVolume"),
			   *path = json_str(mp, "containerPath");
		int r;

		if (!vol || !path || path[0] != '/')
			return err_set(err, -EINVAL, E_CLIENT,
				       "CannotCreateContainerError: a mount point needs a "
				       "sourceVolume and an absolute containerPath");
		if (ms->n == MOUNTS_MAX)
			return err_set(err, -E2BIG, E_CLIENT,
				       "CannotCreateContainerError: more than %d mount points",
				       MOUNTS_MAX);
		buf_init(&ms->src[ms->n]);
		r = volume_source(t, vol, &ms->src[ms->n], err);
		if (r < 0) {
			buf_release(&ms->src[ms->n]);
			return r;
		}
		ms->m[ms->n] = (struct container_mount){
			.source = buf_str(&ms->src[ms->n]),
			.destination = path,
			.readonly = force_ro || json_bool(mp, "readOnly", false),
		};
		ms->n++;
	}
	return 0;
}

/* The container's mounts: its mountPoints, then those of the containers in its volumesFrom. */
static int container_mounts(struct agent_task *t, const struct agent_container *c,
			    struct mounts *ms, struct err *err)
{
	const cJSON *from;
	int r = add_mount_points(t, ms, json_arr(c->def, "mountPoints"), false, err);

	cJSON_ArrayForEach(from, json_arr(c->def, "volumesFrom")) {
		const struct agent_container *src;

		if (r < 0)
			break;
		src = find_container(t, json_str(from, "sourceContainer") ?: "");
		if (!src) {
			r = err_set(err, -ENOENT, E_CLIENT,
				    "CannotCreateContainerError: volumesFrom names no container "
				    "'%s' of the task",
				    json_str(from, "sourceContainer") ?: "");
			break;
		}
		r = add_mount_points(t, ms, json_arr(src->def, "mountPoints"),
				     json_bool(from, "readOnly", false), err);
	}
	return r;
}

static void mounts_release(struct mounts *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		buf_release(&ms->src[i]);
	ms->n = 0;
}

/* --- running ----------------------------------------------------------- */

/* Ship c's log with its awslogs configuration cfg (taken over). */
static void start_shipping(struct agent_task *t, struct agent_container *c,
			   struct awslogs_config *cfg)
{
	struct err err = ERR_INIT;

	if (awslogs_start(t->agent, c->runtime_id, cfg, &c->logs, &err) < 0)
		log_error("task %s: %s: the log is not shipped: %s", t->id, c->name, err.msg);
}

/*
 * After an agent restart: ship on from where the last run stopped for the
 * containers that started (those that ended meanwhile too: what they
 * wrote after the last acknowledged batch is still to ship).
 */
static void resume_shipping(struct agent_task *t)
{
	for (size_t i = 0; i < t->n_containers; i++) {
		struct agent_container *c = &t->containers[i];
		struct awslogs_config cfg;
		struct err err = ERR_INIT;

		if (c->phase == C_PENDING || c->logs || !c->runtime_id[0])
			continue;
		if (awslogs_config_parse(c->def, t->agent->cfg.region, t->id, c->runtime_id, &cfg,
					 &err) > 0)
			start_shipping(t, c, &cfg);
	}
}

/*
 * Wait for every shipper to end: once their containers have exited and
 * everything is shipped, or at once when the agent stops.
 */
static void join_shipping(struct agent_task *t)
{
	for (size_t i = 0; i < t->n_containers; i++) {
		awslogs_join(t->containers[i].logs);
		t->containers[i].logs = NULL;
	}
}

static int start_container(struct agent_task *t, struct agent_container *c, struct err *err)
{
	const char *ref = json_str(c->def, "image");
	_cleanup_buf_ struct buf hosts = BUF_INIT;
	char host_name[96];
	struct image *img = NULL;
	struct container_spec spec = { 0 };
	struct container_state st;
	struct mounts *ms = calloc(1, sizeof(*ms));
	int r;

	if (!ms)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	struct awslogs_config logcfg;
	_cleanup_buf_ struct buf uri = BUF_INIT, env = BUF_INIT;
	const char *extra_env[2] = { NULL, NULL };
	int logs;

	logs = awslogs_config_parse(c->def, t->agent->cfg.region, t->id, c->runtime_id, &logcfg,
				    err);
	if (logs < 0) {
		free(ms);
		snprintf(c->reason, sizeof(c->reason), "%.250s", err->msg);
		c->phase = C_STOPPED;
		return logs;
	}
	r = image_get(t->agent->images, ref, &img, err);
	if (r == 0)
		r = container_mounts(t, c, ms, err);
	if (r < 0)
		goto out;
	spec.mounts = ms->m;
	spec.n_mounts = ms->n;
	spec.id = c->runtime_id;
	spec.layers_dir = t->agent->cfg.data_dir;
	spec.diff_ids = (const char *const *)img->diff_ids;
	spec.n_layers = img->n_layers;
	spec.image_config = img->config;
	spec.container_def = c->def;
	spec.hostname = json_str(c->def, "hostname");
	switch (t->mode) {
	case NET_MODE_HOST:
		/* the host's network, and its name unless the definition gives one */
		if (!spec.hostname && gethostname(host_name, sizeof(host_name)) == 0) {
			host_name[sizeof(host_name) - 1] = 0;
			spec.hostname = host_name;
		}
		spec.network = CONTAINER_NET_HOST;
		break;
	case NET_MODE_BRIDGE:
		/* a namespace of its own on the bridge; the task's containers by name */
		spec.network = CONTAINER_NET_JOIN;
		spec.netns_path = c->ep ? c->ep->netns : NULL;
		spec.address = c->ep ? c->ep->address : NULL;
		task_hosts(t, c, &hosts);
		spec.hosts_extra = buf_str(&hosts);
		break;
	case NET_MODE_AWSVPC:
		/* the task's namespace, shared by its containers, named as ECS names the ENI */
		spec.network = CONTAINER_NET_JOIN;
		spec.netns_path = t->ep ? t->ep->netns : NULL;
		spec.address = t->ep ? t->ep->address : NULL;
		if (t->ep) {
			private_dns_name(t, t->ep->address, host_name, sizeof(host_name));
			spec.hostname = host_name;
		}
		break;
	case NET_MODE_NONE:
		spec.network = CONTAINER_NET_PRIVATE; /* loopback only */
		break;
	}
	if (spec.network == CONTAINER_NET_JOIN && !spec.netns_path) {
		r = err_set(err, -ENOENT, E_SERVER, "the container's network is missing");
		goto out;
	}
	spec.runtime = t->agent->cfg.runtime;
	if (agent_metadata_uri(t->agent, t->mode == NET_MODE_HOST ? "host" : "bridge",
			       c->runtime_id, &uri)) {
		buf_printf(&env, "ECS_CONTAINER_METADATA_URI_V4=%s", buf_str(&uri));
		extra_env[0] = buf_str(&env);
		spec.extra_env = extra_env;
	}
	r = image_use(t->agent->images, img->digest, true, err);
	if (r == 0)
		r = container_start(buf_str(&t->agent->containers_dir), &spec, &st, err);
out:
	image_free(img);
	mounts_release(ms);
	free(ms);
	if (r < 0 && logs)
		awslogs_config_release(&logcfg);
	if (r == 0 && logs)
		start_shipping(t, c, &logcfg);
	if (r < 0) {
		/* the runtime's failures already say which kind they are */
		if (!strncmp(err->msg, "Cannot", 6))
			snprintf(c->reason, sizeof(c->reason), "%.250s", err->msg);
		else
			snprintf(c->reason, sizeof(c->reason), "CannotStartContainerError: %.220s",
				 err->msg);
		c->phase = C_STOPPED;
		return r;
	}
	c->phase = C_RUNNING;
	c->started_ms = now_ms();
	/* as Docker, the first check comes one interval after the start */
	c->next_check_ms =
		c->started_ms + json_int(json_obj(c->def, "healthCheck"), "interval", 30) * 1000;
	return 0;
}

/*
 * Whether o, a container others wait for, has run past its startTimeout
 * without being done: as ECS's agent has it, only for the COMPLETE,
 * SUCCESS and HEALTHY conditions, counted from o's start, and never once
 * o has stopped.
 */
static bool dependency_timed_out(const struct agent_container *o, const char *cond)
{
	int64_t timeout = json_int(o->def, "startTimeout", 0);

	if (timeout <= 0 || o->phase != C_RUNNING || !strcmp(cond, "START"))
		return false;
	return now_ms() > o->started_ms + timeout * 1000;
}

/* Whether c's dependsOn conditions hold; *ret_never when they never will. */
static bool dependencies_met(struct agent_task *t, const struct agent_container *c, bool *ret_never)
{
	const cJSON *deps = json_arr(c->def, "dependsOn");

	*ret_never = false;
	for (const cJSON *d = deps ? deps->child : NULL; d; d = d->next) {
		const struct agent_container *o =
			find_container(t, json_str(d, "containerName") ?: "");
		const char *cond = json_str(d, "condition") ?: "START";

		if (!o)
			continue; /* RegisterTaskDefinition refuses unknown names */
		if (dependency_timed_out(o, cond) &&
		    !(!strcmp(cond, "HEALTHY") && !strcmp(o->health, "HEALTHY"))) {
			*ret_never = true;
			return false;
		}
		if (!strcmp(cond, "HEALTHY")) {
			if (o->phase == C_STOPPED || !strcmp(o->health, "UNHEALTHY")) {
				*ret_never = true;
				return false;
			}
			if (strcmp(o->health, "HEALTHY") != 0)
				return false;
		} else if (!strcmp(cond, "START")) {
			if (o->phase == C_PENDING)
				return false;
			if (o->phase == C_STOPPED && !o->has_exit) {
				*ret_never = true;
				return false;
			}
		} else {
			if (o->phase != C_STOPPED)
				return false;
			if (!strcmp(cond, "SUCCESS") && (!o->has_exit || o->exit_code != 0)) {
				*ret_never = true;
				return false;
			}
			if (!strcmp(cond, "COMPLETE") && !o->has_exit) {
				*ret_never = true;
				return false;
			}
		}
	}
	return true;
}

/*
 * Start what can start now. Returns -1 when the task cannot go on (a
 * container failed to start, or a dependency can never be met), else the
 * number of containers still waiting.
 */
static int start_ready(struct agent_task *t)
{
	int waiting = 0;

	for (size_t i = 0; i < t->n_containers; i++) {
		struct agent_container *c = &t->containers[i];
		struct err err = ERR_INIT;
		bool never;

		if (c->phase != C_PENDING)
			continue;
		if (!dependencies_met(t, c, &never)) {
			if (never) {
				c->phase = C_STOPPED;
				snprintf(c->reason, sizeof(c->reason),
					 "DependencyConditionNotMet: a container it depends on did "
					 "not meet its condition");
				if (c->essential)
					return -1;
				report_container(t, c);
				continue;
			}
			waiting++;
			continue;
		}
		if (start_container(t, c, &err) < 0) {
			log_warn("task %s: container %s: %s", t->id, c->name, c->reason);
			return -1;
		}
		log_info("task %s: container %s started (%s)", t->id, c->name, c->runtime_id);
		save_record(t);
		if (!strcmp(t->reported, "RUNNING"))
			report_container(t, c);
	}
	return waiting;
}

/* Look at each running container; record those that exited. Returns whether an essential one did. */
static bool watch_containers(struct agent_task *t, bool *ret_changed)
{
	bool essential_exited = false;

	*ret_changed = false;
	for (size_t i = 0; i < t->n_containers; i++) {
		struct agent_container *c = &t->containers[i];
		struct container_state st;
		struct err err = ERR_INIT;

		if (c->phase != C_RUNNING)
			continue;
		if (container_state(buf_str(&t->agent->containers_dir), c->runtime_id, &st, &err) <
		    0) {
			if (err.code != -ENOENT)
				continue; /* cannot tell now; look again */
			c->phase = C_STOPPED;
			copy_str(c->reason, sizeof(c->reason), "the container's state is gone");
		} else if (st.exited) {
			c->phase = C_STOPPED;
			c->has_exit = true;
			c->exit_code = st.exit_code;
			if (st.reason[0])
				copy_str(c->reason, sizeof(c->reason), st.reason);
		} else {
			continue;
		}
		*ret_changed = true;
		log_info("task %s: container %s exited (%d)", t->id, c->name, c->exit_code);
		if (c->essential)
			essential_exited = true;
	}
	return essential_exited;
}

static int stop_timeout(const struct agent_container *c)
{
	int64_t s = json_int(c->def, "stopTimeout", DEFAULT_STOP_TIMEOUT);

	return s < 0 ? DEFAULT_STOP_TIMEOUT : (int)s;
}

/* Stop every running container (SIGTERM, then SIGKILL after its stopTimeout). */
static void stop_containers(struct agent_task *t)
{
	for (size_t i = 0; i < t->n_containers; i++) {
		struct agent_container *c = &t->containers[i];
		struct err err = ERR_INIT;

		if (c->phase != C_RUNNING)
			continue;
		if (container_stop(buf_str(&t->agent->containers_dir), c->runtime_id,
				   stop_timeout(c), &err) < 0 &&
		    err.code != -ENOENT)
			log_warn("task %s: stopping %s: %s", t->id, c->name, err.msg);
	}
	for (;;) {
		bool changed, running = false;

		watch_containers(t, &changed);
		for (size_t i = 0; i < t->n_containers; i++)
			if (t->containers[i].phase == C_RUNNING)
				running = true;
		if (!running || leaving(t))
			break;
		usleep(WATCH_INTERVAL_MS * 1000);
	}
	for (size_t i = 0; i < t->n_containers; i++)
		if (t->containers[i].phase == C_PENDING)
			t->containers[i].phase = C_STOPPED;
}

/* Remove what the task's containers leave on the host. */
static void remove_containers(struct agent_task *t)
{
	for (size_t i = 0; i < t->n_containers; i++) {
		struct agent_container *c = &t->containers[i];
		struct err err = ERR_INIT;

		if (container_remove(buf_str(&t->agent->containers_dir), c->runtime_id, &err) < 0 &&
		    err.code != -ENOENT)
			log_warn("task %s: removing %s: %s", t->id, c->name, err.msg);
		if (c->image_digest[0])
			image_use(t->agent->images, c->image_digest, false, &err);
	}
}

/* --- health checks ----------------------------------------------------- */

#define HEALTH_ARGS_MAX 32

/* Report every container's health (BerthAgent_V1.ReportHealth); the server derives the task's. */
static void report_health(struct agent_task *t)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	struct err err = ERR_INIT;
	struct jsonw w;

	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", t->agent->cfg.cluster);
	jsonw_key_str(&w, "task", t->arn);
	jsonw_key(&w, "containers");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < t->n_containers; i++) {
		if (!json_obj(t->containers[i].def, "healthCheck"))
			continue;
		jsonw_obj_begin(&w);
		jsonw_key_str(&w, "containerName", t->containers[i].name);
		jsonw_key_str(&w, "healthStatus", t->containers[i].health);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	if (agent_call(t->agent, &t->api, AGENT_TARGET("ReportHealth"), buf_str(&body), 0, &answer,
		       &err) < 0 &&
	    !leaving(t))
		log_warn("task %s: reporting health: %s", t->id, err.msg);
}

/*
 * Run the health check of c when it is due, as Docker does: every interval
 * seconds, each run given timeout seconds; retries failures in a row make
 * it UNHEALTHY, one success HEALTHY; failures in the startPeriod do not
 * count. Returns whether its health changed.
 */
static bool check_health(struct agent_task *t, struct agent_container *c)
{
	const cJSON *hc = json_obj(c->def, "healthCheck"), *cmd = json_arr(hc, "command");
	int64_t interval = json_int(hc, "interval", 30), timeout = json_int(hc, "timeout", 5);
	int64_t retries = json_int(hc, "retries", 3), start_period = json_int(hc, "startPeriod", 0);
	char *argv[HEALTH_ARGS_MAX + 1];
	const char *kind;
	struct err err = ERR_INIT;
	char before[16];
	size_t n = 0;
	int code = 1;

	if (!hc || !cmd || !cmd->child || c->phase != C_RUNNING || now_ms() < c->next_check_ms)
		return false;
	c->next_check_ms = now_ms() + interval * 1000;
	kind = cJSON_IsString(cmd->child) ? cmd->child->valuestring : "";
	if (!strcmp(kind, "CMD-SHELL")) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		for (const cJSON *a = cmd->child->next; a && n < HEALTH_ARGS_MAX; a = a->next)
			if (cJSON_IsString(a))
				argv[n++] = a->valuestring;
	} else {
		/* ["CMD", exe, args...], or the command alone */
		for (const cJSON *a = !strcmp(kind, "CMD") ? cmd->child->next : cmd->child;
		     a && n < HEALTH_ARGS_MAX; a = a->next)
			if (cJSON_IsString(a))
				argv[n++] = a->valuestring;
	}
	argv[n] = NULL;
	if (n == 0 || (!strcmp(kind, "CMD-SHELL") && n < 3))
		return false;
	if (container_exec(buf_str(&t->agent->containers_dir), c->runtime_id, argv, (int)timeout,
			   &code, &err) < 0)
		code = 1;
	copy_str(before, sizeof(before), c->health);
	if (code == 0) {
		c->failures = 0;
		copy_str(c->health, sizeof(c->health), "HEALTHY");
	} else if (now_ms() - c->started_ms >= start_period * 1000 && ++c->failures >= retries) {
		copy_str(c->health, sizeof(c->health), "UNHEALTHY");
	}
	if (strcmp(before, c->health) != 0) {
		log_info("task %s: container %s is %s", t->id, c->name, c->health);
		return true;
	}
	return false;
}

static void check_healths(struct agent_task *t)
{
	bool changed = false;

	for (size_t i = 0; i < t->n_containers && !wants_stop(t); i++)
		changed |= check_health(t, &t->containers[i]);
	if (changed)
		report_health(t);
}

/* --- the task's thread ------------------------------------------------- */

static bool any_running(const struct agent_task *t)
{
	for (size_t i = 0; i < t->n_containers; i++)
		if (t->containers[i].phase == C_RUNNING)
			return true;
	return false;
}

static bool all_stopped(const struct agent_task *t)
{
	for (size_t i = 0; i < t->n_containers; i++)
		if (t->containers[i].phase != C_STOPPED)
			return false;
	return true;
}

/* The task has ended: report it STOPPED and clean up. */
static void finish(struct agent_task *t)
{
	if (!t->stopped_ms)
		t->stopped_ms = now_ms();
	for (size_t i = 0; i < t->n_containers; i++)
		if (t->containers[i].phase == C_PENDING)
			t->containers[i].phase = C_STOPPED;
	/*
	 * Every line shipped before the task is reported STOPPED: once it is,
	 * a restarted agent no longer sees the task, and would remove its
	 * containers with what is left of their logs.
	 */
	join_shipping(t);
	if (leaving(t))
		return; /* a restarted agent ships the rest, then reports */
	/*
	 * The network goes before the report: once the server has STOPPED it
	 * gives the task's host ports to the next task, which must find them
	 * free here. The report keeps the bindings (the task's copies).
	 */
	remove_network(t);
	if (strcmp(t->reported, "STOPPED") != 0 && !report_task(t, "STOPPED"))
		if (leaving(t))
			return; /* a restarted agent reports it */
	remove_containers(t);
	{
		_cleanup_buf_ struct buf vols = BUF_INIT;

		task_volumes_dir(t, &vols);
		fs_remove_tree(buf_str(&vols));
	}
	remove_record(t);
}

static void run(struct agent_task *t)
{
	struct err err = ERR_INIT;
	bool recovered = load_record(t);

	if (recovered)
		resume_shipping(t);
	if (recovered && !strcmp(t->reported, "STOPPED")) {
		finish(t);
		return;
	}
	if (!recovered) {
		save_record(t);
		if (pull_images(t, &err) < 0) {
			log_warn("task %s: %s", t->id, err.msg);
			copy_str(t->stop_reason, sizeof(t->stop_reason),
				 "CannotPullContainerError");
			for (size_t i = 0; i < t->n_containers; i++)
				if (t->containers[i].reason[0])
					copy_str(t->stop_reason, sizeof(t->stop_reason),
						 t->containers[i].reason);
			finish(t);
			return;
		}
	}
	if (!leaving(t) && !wants_stop(t) && setup_network(t, &err) < 0) {
		log_warn("task %s: %s", t->id, err.msg);
		copy_str(t->stop_reason, sizeof(t->stop_reason), err.msg);
		finish(t);
		return;
	}

	while (!leaving(t)) {
		bool changed, essential_exited;
		int waiting;

		if (wants_stop(t)) {
			stop_containers(t);
			if (!t->stop_reason[0])
				copy_str(t->stop_reason, sizeof(t->stop_reason), "Task stopped");
			break;
		}
		waiting = start_ready(t);
		if (waiting < 0) {
			copy_str(t->stop_reason, sizeof(t->stop_reason),
				 "Essential container in task failed to start");
			for (size_t i = 0; i < t->n_containers; i++)
				if (t->containers[i].essential && t->containers[i].reason[0] &&
				    t->containers[i].phase == C_STOPPED &&
				    !t->containers[i].has_exit)
					copy_str(t->stop_reason, sizeof(t->stop_reason),
						 t->containers[i].reason);
			stop_containers(t);
			break;
		}
		if (strcmp(t->reported, "RUNNING") != 0 && waiting == 0 && any_running(t))
			report_task(t, "RUNNING");
		check_healths(t);
		essential_exited = watch_containers(t, &changed);
		if (changed) {
			for (size_t i = 0; i < t->n_containers; i++)
				if (t->containers[i].phase == C_STOPPED &&
				    t->containers[i].has_exit)
					report_container(t, &t->containers[i]);
		}
		if (essential_exited) {
			copy_str(t->stop_reason, sizeof(t->stop_reason),
				 "Essential container in task exited");
			stop_containers(t);
			break;
		}
		if (all_stopped(t)) {
			copy_str(t->stop_reason, sizeof(t->stop_reason),
				 "All containers in task exited");
			break;
		}
		task_wait(t, WATCH_INTERVAL_MS);
	}
	if (leaving(t)) {
		join_shipping(t);
		return; /* the containers run on; a restarted agent carries on */
	}
	finish(t);
}

static void *task_thread(void *arg)
{
	struct agent_task *t = arg;
	struct err err = ERR_INIT;

	if (agent_client_init(t->agent, &t->api, &err) < 0) {
		log_error("task %s: %s", t->id, err.msg);
	} else if (build_containers(t, &err) < 0) {
		log_error("task %s: %s", t->id, err.msg);
		copy_str(t->stop_reason, sizeof(t->stop_reason), err.msg);
		report_task(t, "STOPPED");
		remove_record(t);
	} else {
		run(t);
	}
	agent_client_release(&t->api);
	pthread_mutex_lock(&t->lock);
	t->finished = true;
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void task_free(struct agent_task *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_containers; i++) {
		cJSON_Delete(t->containers[i].def);
		free(t->containers[i].ep);
	}
	free(t->containers);
	free(t->ep);
	cJSON_Delete(t->doc);
	buf_release(&t->saved);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
}

/* The task id: the last component of its ARN. */
static const char *arn_id(const char *arn)
{
	const char *slash = strrchr(arn, '/');

	return slash ? slash + 1 : arn;
}

void agent_task_update(struct agent *a, const cJSON *task)
{
	const char *arn = json_str(task, "taskArn");
	const char *desired = json_str(task, "desiredStatus");
	struct agent_task *t;

	if (!arn || strlen(arn) >= AGENT_ARN_MAX || strlen(arn_id(arn)) >= AGENT_ID_MAX ||
	    !json_obj(task, "taskDefinition"))
		return;
	pthread_mutex_lock(&a->lock);
	for (t = a->tasks; t; t = t->next)
		if (!strcmp(t->arn, arn))
			break;
	if (t) {
		pthread_mutex_lock(&t->lock);
		if (desired && !strcmp(desired, "STOPPED") && !t->stop_wanted) {
			t->stop_wanted = true;
			pthread_cond_broadcast(&t->cond);
		}
		pthread_mutex_unlock(&t->lock);
		pthread_mutex_unlock(&a->lock);
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto out;
	t->agent = a;
	copy_str(t->arn, sizeof(t->arn), arn);
	copy_str(t->id, sizeof(t->id), arn_id(arn));
	t->doc = cJSON_Duplicate(task, true);
	t->stop_wanted = desired && !strcmp(desired, "STOPPED");
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (!t->doc || pthread_create(&t->thread, NULL, task_thread, t) != 0) {
		log_error("task %s: cannot start its thread", t->id);
		task_free(t);
		goto out;
	}
	log_debug("task %s: assigned", t->id);
	t->next = a->tasks;
	a->tasks = t;
out:
	pthread_mutex_unlock(&a->lock);
}

void agent_task_forget_unlisted(struct agent *a, const cJSON *listed)
{
	pthread_mutex_lock(&a->lock);
	for (struct agent_task *t = a->tasks; t; t = t->next) {
		bool found = false;

		for (const cJSON *l = listed ? listed->child : NULL; l && !found; l = l->next)
			found = json_str(l, "taskArn") && !strcmp(json_str(l, "taskArn"), t->arn);
		if (found)
			continue;
		pthread_mutex_lock(&t->lock);
		if (!t->forgotten) {
			t->forgotten = true;
			pthread_cond_broadcast(&t->cond);
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&a->lock);
}

void agent_task_reap(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	for (struct agent_task **p = &a->tasks; *p;) {
		struct agent_task *t = *p;
		bool done;

		pthread_mutex_lock(&t->lock);
		done = t->finished && t->forgotten;
		pthread_mutex_unlock(&t->lock);
		if (!done) {
			p = &t->next;
			continue;
		}
		*p = t->next;
		pthread_join(t->thread, NULL);
		task_free(t);
	}
	pthread_mutex_unlock(&a->lock);
}

void agent_task_shutdown(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	for (struct agent_task *t = a->tasks; t; t = t->next) {
		pthread_mutex_lock(&t->lock);
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
	}
	while (a->tasks) {
		struct agent_task *t = a->tasks;

		a->tasks = t->next;
		pthread_join(t->thread, NULL);
		task_free(t);
	}
	pthread_mutex_unlock(&a->lock);
}

/*
 * After the agent's first poll: the records of tasks the server no longer
 * lists belong to tasks that ended while the agent was away (or whose end
 * it reported just before it went): stop and remove what is left of them.
 */
static bool task_known(const char *task_id, void *userdata)
{
	struct agent *a = userdata;
	bool known = false;

	pthread_mutex_lock(&a->lock);
	for (struct agent_task *t = a->tasks; t && !known; t = t->next)
		known = !strcmp(t->id, task_id);
	pthread_mutex_unlock(&a->lock);
	return known;
}

static void sweep_records(struct agent *a, DIR *d)
{
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
		_cleanup_json_ cJSON *doc = NULL;
		const char *arn;
		bool known = false;
		size_t n = strlen(e->d_name);

		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		buf_printf(&path, "%s/%s", buf_str(&a->tasks_dir), e->d_name);
		if (fs_read_file(buf_str(&path), TASK_RECORD_MAX, &data) < 0)
			continue;
		doc = cJSON_ParseWithLength(data.data, data.len);
		arn = json_str(doc, "taskArn");
		pthread_mutex_lock(&a->lock);
		for (struct agent_task *t = a->tasks; t && arn && !known; t = t->next)
			known = !strcmp(t->arn, arn);
		pthread_mutex_unlock(&a->lock);
		if (known)
			continue;
		log_info("agent: cleaning up task %s, which ended while the agent was away",
			 arn ? arn_id(arn) : e->d_name);
		for (const cJSON *c = json_arr(doc, "containers")
					      ? json_arr(doc, "containers")->child
					      : NULL;
		     c; c = c->next) {
			const char *id = json_str(c, "runtimeId");
			struct err err = ERR_INIT;

			if (!id || !*id)
				continue;
			container_stop(buf_str(&a->containers_dir), id, 10, &err);
			container_remove(buf_str(&a->containers_dir), id, &err);
			if (json_str(c, "imageDigest") && *json_str(c, "imageDigest"))
				image_use(a->images, json_str(c, "imageDigest"), false, &err);
		}
		unlink(buf_str(&path));
	}
	closedir(d);
}

void agent_task_sweep(struct agent *a)
{
	DIR *d = opendir(buf_str(&a->tasks_dir));
	struct err err = ERR_INIT;

	sweep_records(a, d);
	/* then the networks of tasks that are gone, and the bridge when none is left */
	if (net_sweep(a->net, task_known, a, &err) < 0)
		log_warn("agent: cleaning up networks: %s", err.msg);
}

/* --- what the metadata endpoints show ---------------------------------- */

static void snapshot_task(cJSON *out, struct agent_task *t)
{
	cJSON *o = cJSON_CreateObject(), *cs = cJSON_CreateArray();
	bool running = false;

	if (!o || !cs) {
		cJSON_Delete(o);
		cJSON_Delete(cs);
		return;
	}
	pthread_mutex_lock(&t->lock);
	cJSON_AddStringToObject(o, "arn", t->arn);
	cJSON_AddItemToObject(o, "task", cJSON_Duplicate(t->doc, true));
	cJSON_AddStringToObject(o, "desired",
				t->stop_wanted || t->forgotten
					? "STOPPED"
					: (json_str(t->doc, "desiredStatus") ?: "RUNNING"));
	cJSON_AddNumberToObject(o, "pullStartedAt", (double)t->pull_started_ms);
	cJSON_AddNumberToObject(o, "pullStoppedAt", (double)t->pull_stopped_ms);
	cJSON_AddNumberToObject(o, "stoppedAt", (double)t->stopped_ms);
	for (size_t i = 0; i < t->n_containers; i++) {
		const struct agent_container *c = &t->containers[i];
		cJSON *co = cJSON_CreateObject();
		enum container_phase phase = c->phase;
		struct container_state st;
		struct err err = ERR_INIT;

		if (!co)
			continue;
		/*
		 * A container runs before its task thread (and even its shim)
		 * has noted it started: one that asks for its own metadata at
		 * once must see RUNNING. A container that exists and has not
		 * ended is taken as running.
		 */
		memset(&st, 0, sizeof(st));
		if (phase == C_PENDING &&
		    container_state(buf_str(&t->agent->containers_dir), c->runtime_id, &st, &err) ==
			    0 &&
		    !st.exited)
			phase = C_RUNNING;
		if (phase == C_RUNNING)
			running = true;
		cJSON_AddStringToObject(co, "name", c->name);
		cJSON_AddStringToObject(co, "runtimeId", c->runtime_id);
		cJSON_AddStringToObject(co, "phase", phase_name(phase));
		cJSON_AddStringToObject(co, "imageDigest", c->image_digest);
		cJSON_AddStringToObject(co, "reason", c->reason);
		cJSON_AddStringToObject(co, "health", c->health);
		cJSON_AddNumberToObject(co, "startedAt",
					(double)(c->started_ms ? c->started_ms : st.started_at_ms));
		if (c->has_exit)
			cJSON_AddNumberToObject(co, "exitCode", c->exit_code);
		cJSON_AddItemToObject(co, "def", cJSON_Duplicate(c->def, true));
		cJSON_AddItemToArray(cs, co);
	}
	/* what the agent knows, ahead of what it has reported: a started container runs */
	cJSON_AddStringToObject(o, "known",
				strcmp(t->reported, "STOPPED") && running ? "RUNNING"
				: t->reported[0]			  ? t->reported
									  : "PENDING");
	pthread_mutex_unlock(&t->lock);
	cJSON_AddItemToObject(o, "containers", cs);
	cJSON_AddItemToArray(out, o);
}

cJSON *agent_tasks_snapshot(struct agent *a, const char *arn, const char *runtime_id)
{
	cJSON *out = cJSON_CreateArray();

	if (!out)
		return NULL;
	pthread_mutex_lock(&a->lock);
	for (struct agent_task *t = a->tasks; t; t = t->next) {
		bool match = !arn || !strcmp(t->arn, arn);

		if (match && runtime_id) {
			match = false;
			for (size_t i = 0; i < t->n_containers && !match; i++)
				match = !strcmp(t->containers[i].runtime_id, runtime_id);
		}
		if (match)
			snapshot_task(out, t);
	}
	pthread_mutex_unlock(&a->lock);
	return out;
}
