/*
 * agent.c: `berth agent`: options, registration as a container instance,
 * and the poll loop that hands each task the server places here to its
 * thread (task.c). The protocol is in docs/agent-protocol.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/network.h"
#include "agent/images.h"
#include "core/cleanup.h"
#include "core/credentials.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

#define DEFAULT_DATA_DIR      "/var/lib/berth/agent"
#define DEFAULT_REGION	      "us-east-1"
#define DEFAULT_POLL_WAIT_S   20
#define DEFAULT_IMAGE_CLEANUP 3 * 3600
#define IMAGE_GC_INTERVAL_MS  60000
#define BACKOFF_MIN_MS	      200
#define BACKOFF_MAX_MS	      15000

/* The ports ECS reserves on every instance (ECS_RESERVED_PORTS's default). */
static const char *const reserved_ports[] = { "22", "2375", "2376", "51678", "51679" };

static void usage(FILE *f, const char *self)
{
	fprintf(f,
		"usage: %s --server URL [options]\n"
		"\n"
		"  --server URL          the berth server (http://HOST:PORT)\n"
		"  --cluster NAME        the cluster to join (default \"default\")\n"
		"  --data-dir DIR        the agent's state (default " DEFAULT_DATA_DIR ")\n"
		"  --credentials FILE    the key pair to sign with, 'ACCESS_KEY_ID SECRET' (the\n"
		"                        first line); without it, BERTH_ACCESS_KEY_ID and\n"
		"                        BERTH_SECRET_ACCESS_KEY\n"
		"  --region NAME         the region to sign for (default " DEFAULT_REGION ")\n"
		"  --memory-reserve MIB  memory kept back from tasks (default 0)\n"
		"  --attribute NAME=VALUE\n"
		"                        a custom attribute of the instance (repeatable)\n"
		"  --image-pull-behavior default|always|once|prefer-cached\n"
		"                        as ECS_IMAGE_PULL_BEHAVIOR (default: default)\n"
		"  --image-cleanup-delay SECONDS\n"
		"                        an image no container used for this long is removed\n"
		"                        (default 10800)\n"
		"  --image-pull-inactivity-timeout SECONDS\n"
		"                        a registry that sends nothing for this long fails the\n"
		"                        request, which is tried again (default 60)\n"
		"  --runtime PATH        the OCI runtime (default runc)\n"
		"  --insecure-registry HOST:PORT\n"
		"                        a registry reached over plain HTTP (repeatable;\n"
		"                        loopback ones always are)\n"
		"  --poll-wait SECONDS   how long one long poll may wait (default 20)\n"
		"  --metrics-listen HOST:PORT\n"
		"                        serve /metrics (Prometheus text) there (port 0 picks\n"
		"                        one, logged); default: no listener\n"
		"  --bridge NAME         the bridge of bridge and awsvpc tasks "
		"(default " NET_DEFAULT_BRIDGE ")\n"
		"  --bridge-subnet CIDR  its IPv4 subnet (default " NET_DEFAULT_SUBNET ")\n"
		"  --host-port-range LOW-HIGH\n"
		"                        dynamic host ports (default " NET_DEFAULT_PORT_RANGE ")\n"
		"  --introspection-port PORT\n"
		"                        the introspection API (/v1/metadata, /v1/tasks) on\n"
		"                        127.0.0.1 (default 51678; 0: any free port; -1: none)\n"
		"  --metadata-port PORT  the task metadata endpoint v4 on 127.0.0.1 (default\n"
		"                        51679; 0: any free port; -1: none)\n"
		"  --simulate N          run N simulated container instances instead: they\n"
		"                        register, take tasks and report them RUNNING and\n"
		"                        STOPPED without running containers (1 to 10000)\n"
		"  --simulate-cpu UNITS  each simulated instance's CPU (default 4096)\n"
		"  --simulate-memory MIB each simulated instance's memory (default 16384)\n"
		"  --log-level LEVEL     debug, info, warn or error (default info)\n",
		self);
}

int agent_client_init(const struct agent *a, struct awsclient *ret, struct err *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->http = httpc_new(NULL);
	if (!ret->http)
		return err_set(err, -ENOMEM, E_SERVER, "cannot start an HTTP client");
	ret->endpoint = a->cfg.server;
	ret->region = a->cfg.region;
	ret->cred.access_key = a->cfg.access_key;
	ret->cred.secret = a->cfg.secret_key;
	ret->cancel = &a->stopping;
	return 0;
}

void agent_client_release(struct awsclient *c)
{
	httpc_free(c->http);
	c->http = NULL;
}

/* Sleep ms milliseconds, or less when the agent stops. */
void agent_nap(const struct agent *a, int64_t ms)
{
	while (ms > 0 && !a->stopping) {
		int64_t step = ms > 100 ? 100 : ms;
		struct timespec ts = { 0, step * 1000000 };

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

int agent_call(struct agent *a, struct awsclient *c, const char *target, const char *body,
	       long timeout_ms, struct buf *ret_body, struct err *err)
{
	return agent_call_service(a, c, "ecs", target, body, timeout_ms, ret_body, err);
}

int agent_call_service(struct agent *a, struct awsclient *c, const char *service,
		       const char *target, const char *body, long timeout_ms, struct buf *ret_body,
		       struct err *err)
{
	int64_t backoff = BACKOFF_MIN_MS;

	for (;;) {
		int r;

		err_clear(err);
		r = awsclient_call(c, service, target, body, timeout_ms, ret_body, err);
		if (r == 0 || a->stopping)
			return r;
		/* An answer other than a server failure is final. */
		if (r == -EPROTO && err->kind != E_SERVER && err->kind != E_THROTTLING)
			return r;
		log_warn("agent: %s: %s; retrying in %lld ms", target, err->msg,
			 (long long)backoff);
		agent_nap(a, backoff + (int64_t)(mono_ns() / 1000 % (uint64_t)(backoff / 4 + 1)));
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

/* MemTotal of /proc/meminfo, in MiB. */
static int64_t memory_mib(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long long kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lld kB", &kib) == 1)
			break;
	fclose(f);
	return kib / 1024;
}

static const char *go_arch(void)
{
	static struct utsname u;

	if (uname(&u) < 0)
		return "unknown";
	if (!strcmp(u.machine, "x86_64"))
		return "x86_64";
	if (!strcmp(u.machine, "aarch64"))
		return "arm64";
	return u.machine;
}

void agent_write_attribute(struct jsonw *w, const char *name, const char *value)
{
	jsonw_obj_begin(w);
	jsonw_key_str(w, "name", name);
	if (value)
		jsonw_key_str(w, "value", value);
	jsonw_obj_end(w);
}

static void write_resource_int(struct jsonw *w, const char *name, int64_t v)
{
	jsonw_obj_begin(w);
	jsonw_key_str(w, "name", name);
	jsonw_key_str(w, "type", "INTEGER");
	jsonw_key_int(w, "integerValue", v);
	jsonw_obj_end(w);
}

void agent_write_resources(struct jsonw *w, int64_t cpu, int64_t memory_mib,
			   const char *const *ports, size_t n_ports)
{
	jsonw_key(w, "totalResources");
	jsonw_arr_begin(w);
	write_resource_int(w, "CPU", cpu);
	write_resource_int(w, "MEMORY", memory_mib);
	jsonw_obj_begin(w);
	jsonw_key_str(w, "name", "PORTS");
	jsonw_key_str(w, "type", "STRINGSET");
	jsonw_key(w, "stringSetValue");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n_ports; i++)
		jsonw_str(w, ports[i]);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	jsonw_obj_begin(w);
	jsonw_key_str(w, "name", "PORTS_UDP");
	jsonw_key_str(w, "type", "STRINGSET");
	jsonw_key(w, "stringSetValue");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	jsonw_arr_end(w);
}

/* Capability attributes: what the agent does of what a task definition may require. */
static const char *const capabilities[] = {
	"ecs.capability.container-health-check", /* healthCheck */
	"ecs.capability.container-ordering",	 /* dependsOn, startTimeout, stopTimeout */
	"ecs.capability.task-eni",		 /* networkMode awsvpc (network.c) */
};

void agent_write_capabilities(struct jsonw *w)
{
	/*
	 * The capabilities berth's task engine implements, named as ECS's
	 * RegisterTaskDefinition names them in requiresAttributes (see
	 * task_definition_validate.c): the server places a task only on an
	 * instance with every attribute its definition requires. Not claimed,
	 * since berth does not do them: task-iam-role, logging drivers other
	 * than awslogs (below), execution-role-awslogs, secrets, env-files and
	 * private-registry-authentication.
	 */
	for (size_t i = 0; i < ARRAY_SIZE(capabilities); i++)
		agent_write_attribute(w, capabilities[i], NULL);
	/*
	 * The Docker remote API levels ECS derives from dockerLabels, ulimits,
	 * memoryReservation and healthCheck: berth implements those fields.
	 */
	for (int v = 17; v <= 44; v++) {
		char name[64];

		snprintf(name, sizeof(name), "com.amazonaws.ecs.capability.docker-remote-api.1.%d",
			 v);
		agent_write_attribute(w, name, NULL);
	}
	/* the log drivers it ships logs with (besides its own file) */
	agent_write_attribute(w, "com.amazonaws.ecs.capability.logging-driver.awslogs", NULL);
}

/* The RegisterContainerInstance request: what this host offers. */
static void registration_body(const struct agent *a, struct buf *out)
{
	struct jsonw w;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int64_t mem = memory_mib() - a->cfg.memory_reserve_mib;
	char identity[256];

	if (ncpu < 1)
		ncpu = 1;
	if (mem < 0)
		mem = 0;
	snprintf(identity, sizeof(identity), "{\"instanceId\":\"%s\"}", a->host_id);

	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", a->cfg.cluster);
	if (a->instance_arn[0])
		jsonw_key_str(&w, "containerInstanceArn", a->instance_arn);
	jsonw_key_str(&w, "instanceIdentityDocument", identity);
	agent_write_resources(&w, (int64_t)ncpu * 1024, mem, reserved_ports,
			      ARRAY_SIZE(reserved_ports));

	jsonw_key(&w, "versionInfo");
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "agentVersion", BERTH_VERSION);
	jsonw_key_str(&w, "agentHash", "berth");
	jsonw_key_str(&w, "dockerVersion", "runc");
	jsonw_obj_end(&w);

	jsonw_key(&w, "attributes");
	jsonw_arr_begin(&w);
	agent_write_attribute(&w, "ecs.os-type", "linux");
	agent_write_attribute(&w, "ecs.os-family", "LINUX");
	agent_write_attribute(&w, "ecs.cpu-architecture", go_arch());
	agent_write_attribute(&w, "ecs.instance-id", a->host_id);
	agent_write_capabilities(&w);
	for (const cJSON *at = a->cfg.attributes ? a->cfg.attributes->child : NULL; at;
	     at = at->next)
		agent_write_attribute(&w, json_str(at, "name"), json_str(at, "value"));
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
}

static int load_state(struct agent *a, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	int r;

	buf_printf(&path, "%s/agent.json", a->cfg.data_dir);
	r = fs_read_file(buf_str(&path), 1 << 20, &data);
	if (r == -ENOENT) {
		char hex[19];

		random_hex(hex, 9);
		hex[17] = 0;
		snprintf(a->host_id, sizeof(a->host_id), "i-%s", hex);
		return 0;
	}
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
	doc = cJSON_ParseWithLength(data.data, data.len);
	if (!json_str(doc, "hostId"))
		return err_set(err, -EINVAL, E_SERVER, "%s: not an agent state file",
			       buf_str(&path));
	snprintf(a->host_id, sizeof(a->host_id), "%s", json_str(doc, "hostId"));
	if (json_str(doc, "containerInstanceArn") &&
	    !strcmp(json_str(doc, "cluster") ? json_str(doc, "cluster") : "", a->cfg.cluster))
		snprintf(a->instance_arn, sizeof(a->instance_arn), "%s",
			 json_str(doc, "containerInstanceArn"));
	return 0;
}

static int save_state(const struct agent *a, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	struct jsonw w;
	int r;

	jsonw_init(&w, &data);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "hostId", a->host_id);
	jsonw_key_str(&w, "cluster", a->cfg.cluster);
	jsonw_key_str(&w, "containerInstanceArn", a->instance_arn);
	jsonw_obj_end(&w);
	buf_printf(&path, "%s/agent.json", a->cfg.data_dir);
	r = fs_write_atomic(buf_str(&path), data.data, data.len);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
	return 0;
}

static int register_instance(struct agent *a, struct awsclient *c, struct err *err)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	const cJSON *ci;
	int r;

	registration_body(a, &body);
	r = agent_call(a, c, ECS_TARGET("RegisterContainerInstance"), buf_str(&body), 0, &answer,
		       err);
	if (r < 0 && err->kind == E_CLUSTER_NOT_FOUND && !strcmp(a->cfg.cluster, "default")) {
		/* As ECS's agent does, the default cluster is created on first use. */
		log_info("agent: creating the default cluster");
		r = agent_call(a, c, ECS_TARGET("CreateCluster"), "{\"clusterName\":\"default\"}",
			       0, &answer, err);
		if (r == 0)
			r = agent_call(a, c, ECS_TARGET("RegisterContainerInstance"),
				       buf_str(&body), 0, &answer, err);
	}
	if (r < 0 && a->instance_arn[0] && err->kind != E_CLUSTER_NOT_FOUND) {
		/* The instance we knew is gone (deregistered): register anew. */
		log_warn("agent: re-registering %s failed (%s); registering a new instance",
			 a->instance_arn, err->msg);
		a->instance_arn[0] = 0;
		buf_reset(&body);
		registration_body(a, &body);
		r = agent_call(a, c, ECS_TARGET("RegisterContainerInstance"), buf_str(&body), 0,
			       &answer, err);
	}
	if (r < 0)
		return err_wrap(err, "registering with %s", a->cfg.server);
	doc = cJSON_ParseWithLength(answer.data, answer.len);
	ci = json_obj(doc, "containerInstance");
	if (!json_str(ci, "containerInstanceArn"))
		return err_set(err, -EPROTO, E_SERVER,
			       "RegisterContainerInstance: no ARN answered");
	snprintf(a->instance_arn, sizeof(a->instance_arn), "%s",
		 json_str(ci, "containerInstanceArn"));
	log_info("agent: registered as %s", a->instance_arn);
	return save_state(a, err);
}

/* One long poll and the reconciliation of its answer. */
static int poll_once(struct agent *a, struct awsclient *c, int64_t *since, struct err *err)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	const char *status;
	struct jsonw w;
	int r;

	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "cluster", a->cfg.cluster);
	jsonw_key_str(&w, "containerInstance", a->instance_arn);
	jsonw_key_int(&w, "since", *since);
	jsonw_key_int(&w, "waitSeconds", a->cfg.poll_wait_s);
	jsonw_obj_end(&w);
	r = agent_call(a, c, AGENT_TARGET("Poll"), buf_str(&body),
		       (long)(a->cfg.poll_wait_s + 15) * 1000, &answer, err);
	if (r < 0)
		return r;
	doc = cJSON_ParseWithLength(answer.data, answer.len);
	if (!doc || !cJSON_IsArray(json_get(doc, "tasks")))
		return err_set(err, -EPROTO, E_SERVER, "Poll: the answer is not a poll answer");
	*since = json_int(doc, "seq", 0);
	status = json_str(doc, "containerInstanceStatus");
	if (status && !strcmp(status, "INACTIVE"))
		return err_set(err, -ENOENT, E_CLIENT, "container instance %s was deregistered",
			       a->instance_arn);

	const cJSON *tasks = json_get(doc, "tasks");

	for (const cJSON *t = tasks->child; t; t = t->next)
		agent_task_update(a, t);
	agent_task_forget_unlisted(a, tasks);
	agent_task_reap(a);
	if (!a->swept) {
		agent_task_sweep(a);
		a->swept = true;
	}
	return 0;
}

static void *poll_thread(void *arg)
{
	struct agent *a = arg;
	struct awsclient c;
	int64_t since = 0, last_gc = now_ms();
	int r;

	r = agent_client_init(a, &c, &a->poll_err);
	if (r < 0)
		goto out;
	r = register_instance(a, &c, &a->poll_err);
	while (r == 0 && !a->stopping) {
		r = poll_once(a, &c, &since, &a->poll_err);
		if (r < 0 && a->poll_err.kind != E_SERVER && !a->stopping) {
			/* The server refused the poll: its instance or cluster went away. */
			log_error("agent: %s", a->poll_err.msg);
			break;
		}
		if (a->stopping)
			r = 0;
		/*
		 * As ECS's agent, prefer-cached turns the image clean-up off, so
		 * that the cached image it prefers is never removed.
		 */
		if (r == 0 && now_ms() - last_gc >= IMAGE_GC_INTERVAL_MS &&
		    strcmp(a->cfg.pull_behavior, "prefer-cached") != 0) {
			struct err gc_err = ERR_INIT;
			unsigned removed = 0;

			last_gc = now_ms();
			if (image_gc(a->images, a->cfg.image_cleanup_delay_s * 1000, &removed,
				     &gc_err) < 0)
				log_warn("agent: image cleanup: %s", gc_err.msg);
			else if (removed)
				log_info("agent: removed %u unused images", removed);
		}
	}
	agent_client_release(&c);
out:
	a->poll_rc = a->stopping ? 0 : r;
	/* Tell whoever waits for the agent that it ended on its own. */
	if (!a->stopping && a->on_exit)
		a->on_exit(a);
	return NULL;
}

/*
 * Whether this host has the hybrid cgroup layout: the v1 hierarchies under
 * a tmpfs at /sys/fs/cgroup, and cgroup2 mounted at /sys/fs/cgroup/unified.
 */
static bool cgroup_hybrid(void)
{
	struct statfs root, unified;

	return statfs("/sys/fs/cgroup", &root) == 0 && root.f_type == TMPFS_MAGIC &&
	       statfs("/sys/fs/cgroup/unified", &unified) == 0 &&
	       unified.f_type == CGROUP2_SUPER_MAGIC;
}

/* name as execvp would find it: a path as is, a bare name along PATH; "" when not found. */
static void find_program(const char *name, struct buf *ret)
{
	const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

	if (strchr(name, '/')) {
		buf_puts(ret, name);
		return;
	}
	while (*path) {
		size_t n = strcspn(path, ":");

		buf_reset(ret);
		buf_printf(ret, "%.*s/%s", (int)n, path, name);
		if (n && access(buf_str(ret), X_OK) == 0)
			return;
		path += n + (path[n] == ':');
	}
	buf_reset(ret);
}

/*
 * crun refuses the hybrid cgroup layout ("cgroups in hybrid mode not
 * supported") that runc accepts. On such a host, with --runtime crun, the
 * agent runs crun through a wrapper it writes into its data directory,
 * DATA-DIR/crun-legacy-cgroups: each crun call gets a private mount
 * namespace (unshare(1)) in which the cgroup2 mount at
 * /sys/fs/cgroup/unified is unmounted, so that crun sees the v1 layout
 * alone and manages the container's cgroups there, as runc does here. The
 * host's mounts are untouched; the mounts the agent makes (the container's
 * root) are in the host's namespace and so seen by every crun call.
 */
static int runtime_prepare(struct agent *a, struct err *err)
{
	const char *base =
		strrchr(a->cfg.runtime, '/') ? strrchr(a->cfg.runtime, '/') + 1 : a->cfg.runtime;
	_cleanup_buf_ struct buf crun = BUF_INIT, script = BUF_INIT;
	int r;

	buf_init(&a->runtime_wrapper);
	if (strcmp(base, "crun") != 0 || !cgroup_hybrid())
		return 0;
	find_program(a->cfg.runtime, &crun);
	if (!crun.len || strchr(buf_str(&crun), '\''))
		return err_set(err, -ENOENT, E_INVALID_PARAMETER,
			       "--runtime %s: no such program along PATH", a->cfg.runtime);
	buf_printf(&script,
		   "#!/bin/sh\n"
		   "# Written by berth agent: crun refuses this host's hybrid cgroup layout, so\n"
		   "# each call runs in a private mount namespace without the cgroup2 mount.\n"
		   "exec unshare --mount --propagation private /bin/sh -c "
		   "'umount -l /sys/fs/cgroup/unified && exec \"$0\" \"$@\"' '%s' \"$@\"\n",
		   buf_str(&crun));
	buf_printf(&a->runtime_wrapper, "%s/crun-legacy-cgroups", a->cfg.data_dir);
	r = fs_write_atomic(buf_str(&a->runtime_wrapper), script.data, script.len);
	if (r == 0 && chmod(buf_str(&a->runtime_wrapper), 0700) < 0)
		r = -errno;
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&a->runtime_wrapper),
			       strerror(-r));
	log_info("agent: crun runs through %s (this host's cgroups are hybrid v1/v2)",
		 buf_str(&a->runtime_wrapper));
	a->cfg.runtime = buf_str(&a->runtime_wrapper);
	return 0;
}

static int make_dirs(struct agent *a, struct err *err)
{
	const char *dirs[] = { a->cfg.data_dir, buf_str(&a->tasks_dir),
			       buf_str(&a->containers_dir) };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		int r = fs_mkdir_p(dirs[i], 0700);

		if (r < 0)
			return err_set(err, r, E_SERVER, "%s: %s", dirs[i], strerror(-r));
	}
	return 0;
}

int agent_start(struct agent *a, struct err *err)
{
	int r;

	buf_init(&a->tasks_dir);
	buf_init(&a->containers_dir);
	buf_init(&a->registry_token);
	buf_printf(&a->tasks_dir, "%s/tasks", a->cfg.data_dir);
	buf_printf(&a->containers_dir, "%s/containers", a->cfg.data_dir);
	pthread_mutex_init(&a->lock, NULL);
	a->poll_err = (struct err)ERR_INIT;
	r = make_dirs(a, err);
	if (r == 0)
		r = runtime_prepare(a, err);
	if (r == 0)
		r = load_state(a, err);
	if (r == 0) {
		struct net_config nc = {
			.data_dir = a->cfg.data_dir,
			.bridge = a->cfg.bridge,
			.subnet = a->cfg.bridge_subnet,
			.port_range = a->cfg.host_port_range,
		};

		r = net_open(&nc, &a->net, err);
	}
	if (r == 0)
		r = images_open(a->cfg.data_dir, &a->images, err);
	if (r == 0) {
		images_set_insecure(a->images, a->cfg.insecure_registries, a->cfg.n_insecure);
		images_set_pull_inactivity(a->images, a->cfg.pull_inactivity_s);
	}
	if (r == 0)
		r = agent_listen_start(a, err);
	if (r == 0)
		r = agent_endpoints_start(a, err);
	if (r == 0 && pthread_create(&a->poll_thread, NULL, poll_thread, a) != 0)
		r = err_set(err, -EAGAIN, E_SERVER, "cannot start the agent's poll thread");
	if (r < 0) {
		agent_endpoints_stop(a);
		agent_listen_stop(a);
		images_close(a->images);
		a->images = NULL;
		net_close(a->net);
		a->net = NULL;
		buf_release(&a->tasks_dir);
		buf_release(&a->containers_dir);
		buf_release(&a->runtime_wrapper);
		pthread_mutex_destroy(&a->lock);
		return r;
	}
	a->started = true;
	return 0;
}

int agent_stop(struct agent *a, struct err *err)
{
	int r;

	if (!a->started)
		return 0;
	a->stopping = 1;
	pthread_join(a->poll_thread, NULL);
	agent_endpoints_stop(a);
	/* The containers keep running under their shims; a restarted agent carries on. */
	agent_task_shutdown(a);
	r = a->poll_rc;
	if (r < 0)
		err_set(err, r, a->poll_err.kind, "%s", a->poll_err.msg);
	agent_listen_stop(a);
	images_close(a->images);
	/* the bridge and its rules go too when no task uses them */
	net_close(a->net);
	a->net = NULL;
	buf_release(&a->tasks_dir);
	buf_release(&a->containers_dir);
	buf_release(&a->runtime_wrapper);
	buf_release(&a->registry_token);
	pthread_mutex_destroy(&a->lock);
	a->started = false;
	return r;
}

static int parse_attribute(cJSON *list, const char *arg)
{
	const char *eq = strchr(arg, '=');
	cJSON *at = cJSON_CreateObject();
	char name[129];

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
		cJSON_Delete(at);
		return -EINVAL;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = 0;
	cJSON_AddStringToObject(at, "name", name);
	if (eq[1])
		cJSON_AddStringToObject(at, "value", eq + 1);
	cJSON_AddItemToArray(list, at);
	return 0;
}

static int load_keys(struct agent_config *cfg, const char *path, struct credentials *keys,
		     struct err *err)
{
	if (path) {
		int r = credentials_load(keys, path, err);

		if (r < 0)
			return r;
		if (keys->n == 0)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER, "%s holds no key", path);
		cfg->access_key = keys->pairs[0].access_key;
		cfg->secret_key = keys->pairs[0].secret_key;
		return 0;
	}
	cfg->access_key = getenv("BERTH_ACCESS_KEY_ID");
	cfg->secret_key = getenv("BERTH_SECRET_ACCESS_KEY");
	if (!cfg->access_key || !cfg->secret_key || !*cfg->access_key || !*cfg->secret_key)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "no key pair: give --credentials FILE, or set "
			       "BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY");
	return 0;
}

static void wake_main(struct agent *a)
{
	(void)a;
	kill(getpid(), SIGTERM);
}

int cmd_agent(int argc, char **argv)
{
	enum {
		OPT_SERVER = 1,
		OPT_CLUSTER,
		OPT_DATA_DIR,
		OPT_CREDENTIALS,
		OPT_REGION,
		OPT_MEMORY_RESERVE,
		OPT_ATTRIBUTE,
		OPT_PULL,
		OPT_CLEANUP,
		OPT_INACTIVITY,
		OPT_RUNTIME,
		OPT_POLL_WAIT,
		OPT_INSECURE,
		OPT_LOG_LEVEL,
		OPT_BRIDGE,
		OPT_BRIDGE_SUBNET,
		OPT_PORT_RANGE,
		OPT_INTROSPECTION_PORT,
		OPT_METADATA_PORT,
		OPT_SIMULATE,
		OPT_SIMULATE_CPU,
		OPT_SIMULATE_MEMORY,
		OPT_HELP,
		OPT_METRICS_LISTEN,
	};
	static const struct option options[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "cluster", required_argument, NULL, OPT_CLUSTER },
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "credentials", required_argument, NULL, OPT_CREDENTIALS },
		{ "region", required_argument, NULL, OPT_REGION },
		{ "memory-reserve", required_argument, NULL, OPT_MEMORY_RESERVE },
		{ "attribute", required_argument, NULL, OPT_ATTRIBUTE },
		{ "image-pull-behavior", required_argument, NULL, OPT_PULL },
		{ "image-cleanup-delay", required_argument, NULL, OPT_CLEANUP },
		{ "image-pull-inactivity-timeout", required_argument, NULL, OPT_INACTIVITY },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "poll-wait", required_argument, NULL, OPT_POLL_WAIT },
		{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "bridge", required_argument, NULL, OPT_BRIDGE },
		{ "bridge-subnet", required_argument, NULL, OPT_BRIDGE_SUBNET },
		{ "host-port-range", required_argument, NULL, OPT_PORT_RANGE },
		{ "introspection-port", required_argument, NULL, OPT_INTROSPECTION_PORT },
		{ "metadata-port", required_argument, NULL, OPT_METADATA_PORT },
		{ "simulate", required_argument, NULL, OPT_SIMULATE },
		{ "simulate-cpu", required_argument, NULL, OPT_SIMULATE_CPU },
		{ "simulate-memory", required_argument, NULL, OPT_SIMULATE_MEMORY },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN },
		{ 0 },
	};
	struct agent a = { 0 };
	struct agent_simulation sim = { .cpu = 4096, .memory_mib = 16384 };
	struct agent_simulation_state *simulated = NULL;
	int64_t v;
	struct credentials keys = { 0 };
	const char *credentials_path = NULL;
	struct err err = ERR_INIT;
	sigset_t sigs;
	int opt, sig, r, level;

	a.cfg.cluster = "default";
	a.cfg.data_dir = DEFAULT_DATA_DIR;
	a.cfg.region = DEFAULT_REGION;
	a.cfg.runtime = "runc";
	a.cfg.pull_behavior = "default";
	a.cfg.poll_wait_s = DEFAULT_POLL_WAIT_S;
	a.cfg.image_cleanup_delay_s = DEFAULT_IMAGE_CLEANUP;
	a.cfg.attributes = cJSON_CreateArray();
	a.cfg.introspection_port = AGENT_INTROSPECTION_PORT;
	a.cfg.metadata_port = AGENT_METADATA_PORT;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SERVER: a.cfg.server = optarg; break;
		case OPT_CLUSTER: a.cfg.cluster = optarg; break;
		case OPT_DATA_DIR: a.cfg.data_dir = optarg; break;
		case OPT_CREDENTIALS: credentials_path = optarg; break;
		case OPT_REGION: a.cfg.region = optarg; break;
		case OPT_MEMORY_RESERVE:
			if (parse_int64(optarg, 0, INT64_C(1) << 40, &a.cfg.memory_reserve_mib) < 0)
				goto bad_value;
			break;
		case OPT_ATTRIBUTE:
			if (parse_attribute(a.cfg.attributes, optarg) < 0)
				goto bad_value;
			break;
		case OPT_PULL: a.cfg.pull_behavior = optarg; break;
		case OPT_CLEANUP:
			if (parse_int64(optarg, 0, INT64_C(1) << 31, &a.cfg.image_cleanup_delay_s) <
			    0)
				goto bad_value;
			break;
		case OPT_INACTIVITY:
			if (parse_int64(optarg, 1, 3600, &a.cfg.pull_inactivity_s) < 0)
				goto bad_value;
			break;
		case OPT_RUNTIME: a.cfg.runtime = optarg; break;
		case OPT_METRICS_LISTEN: a.cfg.listen = optarg; break;
		case OPT_INSECURE:
			if (a.cfg.n_insecure == AGENT_INSECURE_MAX || !*optarg)
				goto bad_value;
			a.cfg.insecure_registries[a.cfg.n_insecure++] = optarg;
			break;
		case OPT_POLL_WAIT:
			if (parse_int64(optarg, 0, 60, &a.cfg.poll_wait_s) < 0)
				goto bad_value;
			break;
		case OPT_INTROSPECTION_PORT:
			if (parse_int64(optarg, -1, 65535, &a.cfg.introspection_port) < 0)
				goto bad_value;
			break;
		case OPT_METADATA_PORT:
			if (parse_int64(optarg, -1, 65535, &a.cfg.metadata_port) < 0)
				goto bad_value;
			break;
		case OPT_LOG_LEVEL:
			level = log_level_parse(optarg);
			if (level < 0)
				goto bad_value;
			log_set_level((enum log_level)level);
			break;
		case OPT_BRIDGE: a.cfg.bridge = optarg; break;
		case OPT_BRIDGE_SUBNET: a.cfg.bridge_subnet = optarg; break;
		case OPT_PORT_RANGE: a.cfg.host_port_range = optarg; break;
		case OPT_SIMULATE:
			if (parse_int64(optarg, 1, 10000, &v) < 0)
				goto bad_value;
			sim.n = (unsigned)v;
			break;
		case OPT_SIMULATE_CPU:
			if (parse_int64(optarg, 1, INT64_C(1) << 30, &sim.cpu) < 0)
				goto bad_value;
			break;
		case OPT_SIMULATE_MEMORY:
			if (parse_int64(optarg, 1, INT64_C(1) << 40, &sim.memory_mib) < 0)
				goto bad_value;
			break;
		case OPT_HELP:
			usage(stdout, "berth agent");
			cJSON_Delete(a.cfg.attributes);
			return 0;
		default:
			usage(stderr, "berth agent");
			cJSON_Delete(a.cfg.attributes);
			return 2;
		}
	}
	if (!a.cfg.server || optind != argc) {
		usage(stderr, "berth agent");
		cJSON_Delete(a.cfg.attributes);
		return 2;
	}

	{
		struct net_config nc = { .bridge = a.cfg.bridge,
					 .subnet = a.cfg.bridge_subnet,
					 .port_range = a.cfg.host_port_range };

		if (net_config_check(&nc, &err) < 0) {
			fprintf(stderr, "berth agent: %s\n", err.msg);
			cJSON_Delete(a.cfg.attributes);
			return 2;
		}
	}
	r = load_keys(&a.cfg, credentials_path, &keys, &err);
	if (r < 0) {
		fprintf(stderr, "berth agent: %s\n", err.msg);
		goto out;
	}

	/* Signals go to this thread's sigwait; every other thread blocks them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/*
	 * A task thread each, mostly asleep and allocating little: glibc would
	 * give up to 16 of them an arena of their own (about 1 MiB resident
	 * more with 20 tasks, measured). `berth dev` keeps the server's arenas.
	 */
	mallopt(M_ARENA_MAX, 2);
	if (sim.n) {
		r = agent_simulate_start(&a, &sim, &simulated, &err);
		if (r < 0) {
			fprintf(stderr, "berth agent: %s\n", err.msg);
			goto out;
		}
		sigwait(&sigs, &sig);
		a.stopping = 1;
		agent_simulate_stop(simulated);
		log_info("agent: stopped");
		goto out;
	}
	a.on_exit = wake_main;
	r = agent_start(&a, &err);
	if (r < 0) {
		fprintf(stderr, "berth agent: %s\n", err.msg);
		goto out;
	}
	if (a.http)
		log_info("serving /metrics on port %u", a.listen_port);
	sigwait(&sigs, &sig);
	r = agent_stop(&a, &err);
	if (r < 0)
		fprintf(stderr, "berth agent: %s\n", err.msg);
	else
		log_info("agent: stopped");
out:
	credentials_release(&keys);
	cJSON_Delete(a.cfg.attributes);
	return r < 0 ? 1 : 0;

bad_value:
	fprintf(stderr, "berth agent: bad value for --%s: %s\n", options[opt - 1].name, optarg);
	cJSON_Delete(a.cfg.attributes);
	return 2;
}
