/*
 * metadata.c: the agent's two HTTP listeners, both on 127.0.0.1 and GET
 * only, answering JSON shaped as Amazon's ECS agent answers it:
 *
 *   introspection API (ECS agent's port 51678)
 *     /v1/metadata                {"Cluster", "ContainerInstanceArn", "Version"}
 *     /v1/tasks                   {"Tasks": [task, ...]}
 *     /v1/tasks?taskarn=ARN       one task; ?dockerid=ID the task of that container
 *
 *   task metadata endpoint version 4, the URI each container finds in
 *   ECS_CONTAINER_METADATA_URI_V4 (http://127.0.0.1:PORT/v4/RUNTIME-ID)
 *     ${URI}                      the container
 *     ${URI}/task                 the task with all its containers
 *     ${URI}/stats                the container's statistics (Docker's stats shape)
 *     ${URI}/task/stats           {"RUNTIME-ID": stats, ...} for the task's containers
 *
 * Statistics come from the containers' cgroups (/berth/ID in each cgroup v1
 * hierarchy, or /berth/ID of the unified v2 hierarchy).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/runtime.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* --- documents --------------------------------------------------------- */

static void write_rfc3339(struct jsonw *w, const char *key, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char out[64];

	if (ms <= 0 || !gmtime_r(&s, &tm))
		return;
	snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	jsonw_key_str(w, key, out);
}

/* The task definition's revision, from its ARN ("...:task-definition/FAMILY:REV"). */
static const char *td_revision(const cJSON *task)
{
	const char *arn = json_str(task, "taskDefinitionArn");
	const char *colon = arn ? strrchr(arn, ':') : NULL;

	return colon ? colon + 1 : "";
}

static const char *network_mode(const cJSON *snap)
{
	const char *m = json_str(json_obj(json_obj(snap, "task"), "taskDefinition"), "networkMode");

	return m ? m : "bridge";
}

/* The server's record of container `name` of the task (containerArn and the like). */
static const cJSON *task_container(const cJSON *task, const char *name)
{
	const cJSON *cs = json_arr(task, "containers");

	for (const cJSON *c = cs ? cs->child : NULL; c; c = c->next)
		if (json_str(c, "name") && !strcmp(json_str(c, "name"), name))
			return c;
	return NULL;
}

static void write_container(struct jsonw *w, const cJSON *snap, const cJSON *c)
{
	const cJSON *task = json_obj(snap, "task");
	const cJSON *td = json_obj(task, "taskDefinition");
	const cJSON *def = json_obj(c, "def");
	const cJSON *lc = json_obj(def, "logConfiguration");
	const char *name = json_str(c, "name");
	const char *phase = json_str(c, "phase");
	const cJSON *server = task_container(task, name);
	const char *task_arn = json_str(snap, "arn");
	const char *task_id = strrchr(task_arn, '/') ? strrchr(task_arn, '/') + 1 : task_arn;
	const char *cluster = json_str(task, "clusterArn");

	jsonw_obj_begin(w);
	jsonw_key_str(w, "DockerId", json_str(c, "runtimeId"));
	jsonw_key_str(w, "Name", name);
	jsonw_key_str(w, "DockerName", json_str(c, "runtimeId"));
	jsonw_key_str(w, "Image", json_str(def, "image") ?: "");
	if (json_str(c, "imageDigest") && *json_str(c, "imageDigest"))
		jsonw_key_str(w, "ImageID", json_str(c, "imageDigest"));
	jsonw_key(w, "Labels");
	jsonw_obj_begin(w);
	jsonw_key_str(w, "com.amazonaws.ecs.cluster", cluster ? cluster : "");
	jsonw_key_str(w, "com.amazonaws.ecs.container-name", name);
	jsonw_key_str(w, "com.amazonaws.ecs.task-arn", task_arn);
	jsonw_key_str(w, "com.amazonaws.ecs.task-definition-family", json_str(td, "family") ?: "");
	jsonw_key_str(w, "com.amazonaws.ecs.task-definition-version", td_revision(task));
	for (const cJSON *l = json_obj(def, "dockerLabels") ? json_obj(def, "dockerLabels")->child
							    : NULL;
	     l; l = l->next)
		if (cJSON_IsString(l))
			jsonw_key_str(w, l->string, l->valuestring);
	jsonw_obj_end(w);
	jsonw_key_str(w, "DesiredStatus", json_str(snap, "desired"));
	jsonw_key_str(w, "KnownStatus", phase);
	jsonw_key(w, "Limits");
	jsonw_obj_begin(w);
	jsonw_key_int(w, "CPU", json_int(def, "cpu", 0));
	if (json_has(def, "memory"))
		jsonw_key_int(w, "Memory", json_int(def, "memory", 0));
	else if (json_has(def, "memoryReservation"))
		jsonw_key_int(w, "Memory", json_int(def, "memoryReservation", 0));
	jsonw_obj_end(w);
	write_rfc3339(w, "CreatedAt", (int64_t)json_int(c, "startedAt", 0));
	write_rfc3339(w, "StartedAt", (int64_t)json_int(c, "startedAt", 0));
	if (json_has(c, "exitCode"))
		jsonw_key_int(w, "ExitCode", json_int(c, "exitCode", 0));
	jsonw_key_str(w, "Type", "NORMAL");
	if (json_obj(def, "healthCheck")) {
		jsonw_key(w, "Health");
		jsonw_obj_begin(w);
		jsonw_key_str(w, "status", json_str(c, "health"));
		jsonw_obj_end(w);
	}
	if (json_str(lc, "logDriver")) {
		const cJSON *opts = json_obj(lc, "options");
		const char *prefix = json_str(opts, "awslogs-stream-prefix");

		jsonw_key_str(w, "LogDriver", json_str(lc, "logDriver"));
		jsonw_key(w, "LogOptions");
		jsonw_obj_begin(w);
		for (const cJSON *o = opts ? opts->child : NULL; o; o = o->next)
			if (cJSON_IsString(o))
				jsonw_key_str(w, o->string, o->valuestring);
		if (!strcmp(json_str(lc, "logDriver"), "awslogs")) {
			_cleanup_buf_ struct buf stream = BUF_INIT;

			if (prefix)
				buf_printf(&stream, "%s/%s/%s", prefix, name, task_id);
			else
				buf_puts(&stream, json_str(c, "runtimeId"));
			jsonw_key_str(w, "awslogs-stream", buf_str(&stream));
		}
		jsonw_obj_end(w);
	}
	if (json_str(server, "containerArn"))
		jsonw_key_str(w, "ContainerARN", json_str(server, "containerArn"));
	jsonw_key(w, "Networks");
	jsonw_arr_begin(w);
	jsonw_obj_begin(w);
	jsonw_key_str(w, "NetworkMode", network_mode(snap));
	jsonw_obj_end(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void write_task(struct jsonw *w, const cJSON *snap)
{
	const cJSON *task = json_obj(snap, "task");
	const cJSON *td = json_obj(task, "taskDefinition");
	const char *group = json_str(task, "group");
	const cJSON *cs = json_arr(snap, "containers");

	jsonw_obj_begin(w);
	jsonw_key_str(w, "Cluster", json_str(task, "clusterArn") ?: "");
	jsonw_key_str(w, "TaskARN", json_str(snap, "arn"));
	jsonw_key_str(w, "Family", json_str(td, "family") ?: "");
	jsonw_key_str(w, "Revision", td_revision(task));
	if (group && startswith(group, "service:"))
		jsonw_key_str(w, "ServiceName", group + strlen("service:"));
	jsonw_key_str(w, "DesiredStatus", json_str(snap, "desired"));
	jsonw_key_str(w, "KnownStatus", json_str(snap, "known"));
	if (json_str(td, "cpu") || json_str(td, "memory")) {
		jsonw_key(w, "Limits");
		jsonw_obj_begin(w);
		if (json_str(td, "cpu")) {
			jsonw_key(w, "CPU");
			jsonw_double(w, strtod(json_str(td, "cpu"), NULL) / 1024.0);
		}
		if (json_str(td, "memory"))
			jsonw_key_int(w, "Memory", strtoll(json_str(td, "memory"), NULL, 10));
		jsonw_obj_end(w);
	}
	write_rfc3339(w, "PullStartedAt", (int64_t)json_int(snap, "pullStartedAt", 0));
	write_rfc3339(w, "PullStoppedAt", (int64_t)json_int(snap, "pullStoppedAt", 0));
	write_rfc3339(w, "ExecutionStoppedAt", (int64_t)json_int(snap, "stoppedAt", 0));
	jsonw_key_str(w, "LaunchType", "EC2");
	jsonw_key(w, "Containers");
	jsonw_arr_begin(w);
	for (const cJSON *c = cs ? cs->child : NULL; c; c = c->next)
		write_container(w, snap, c);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* --- statistics from cgroups ------------------------------------------- */

static bool cgroup_v2(void)
{
	return access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0;
}

/* The first number in file DIR/NAME of the container's cgroup; -1 when absent. */
static int64_t cg_num(const char *controller, const char *id, const char *file)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;

	if (cgroup_v2())
		buf_printf(&path, CGROUP_ROOT "/berth/%s/%s", id, file);
	else
		buf_printf(&path, CGROUP_ROOT "/%s/berth/%s/%s", controller, id, file);
	if (fs_read_file(buf_str(&path), 4096, &data) < 0 || data.len == 0)
		return -1;
	if (!strncmp(data.data, "max", 3))
		return INT64_MAX;
	return strtoll(data.data, NULL, 10);
}

/* Write the "key value" lines of a cgroup file as a JSON object of numbers. */
static void cg_keyed(struct jsonw *w, const char *controller, const char *id, const char *file,
		     int64_t *ret_a, const char *a_key, int64_t *ret_b, const char *b_key)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	char *save = NULL;

	if (cgroup_v2())
		buf_printf(&path, CGROUP_ROOT "/berth/%s/%s", id, file);
	else
		buf_printf(&path, CGROUP_ROOT "/%s/berth/%s/%s", controller, id, file);
	if (w)
		jsonw_obj_begin(w);
	if (fs_read_file(buf_str(&path), 1 << 16, &data) == 0 && data.len) {
		for (char *line = strtok_r(data.data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *sp = strchr(line, ' ');
			long long v;

			if (!sp)
				continue;
			*sp = 0;
			v = strtoll(sp + 1, NULL, 10);
			if (w)
				jsonw_key_int(w, line, v);
			if (ret_a && !strcmp(line, a_key))
				*ret_a = v;
			if (ret_b && !strcmp(line, b_key))
				*ret_b = v;
		}
	}
	if (w)
		jsonw_obj_end(w);
}

/* The host's CPU time so far in nanoseconds (the first line of /proc/stat), as Docker reports. */
static int64_t system_cpu_ns(void)
{
	_cleanup_buf_ struct buf data = BUF_INIT;
	long long v[8] = { 0 };
	long hz = sysconf(_SC_CLK_TCK);
	int64_t sum = 0;

	if (fs_read_file("/proc/stat", 1 << 16, &data) < 0 ||
	    sscanf(buf_str(&data), "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
		return 0;
	for (int i = 0; i < 8; i++)
		sum += v[i];
	return hz > 0 ? sum * (1000000000 / hz) : 0;
}

static void write_cpu(struct jsonw *w, const char *id)
{
	int64_t total, user = 0, sys = 0;

	jsonw_obj_begin(w);
	jsonw_key(w, "cpu_usage");
	jsonw_obj_begin(w);
	if (cgroup_v2()) {
		int64_t usage = 0;

		cg_keyed(NULL, "cpu", id, "cpu.stat", &usage, "usage_usec", &user, "user_usec");
		cg_keyed(NULL, "cpu", id, "cpu.stat", &sys, "system_usec", NULL, NULL);
		total = usage * 1000;
		user *= 1000;
		sys *= 1000;
	} else {
		total = cg_num("cpuacct", id, "cpuacct.usage");
		user = cg_num("cpuacct", id, "cpuacct.usage_user");
		sys = cg_num("cpuacct", id, "cpuacct.usage_sys");
	}
	jsonw_key_int(w, "total_usage", total < 0 ? 0 : total);
	jsonw_key_int(w, "usage_in_kernelmode", sys < 0 ? 0 : sys);
	jsonw_key_int(w, "usage_in_usermode", user < 0 ? 0 : user);
	jsonw_obj_end(w);
	jsonw_key_int(w, "system_cpu_usage", system_cpu_ns());
	jsonw_key_int(w, "online_cpus", sysconf(_SC_NPROCESSORS_ONLN));
	jsonw_key(w, "throttling_data");
	jsonw_obj_begin(w);
	jsonw_key_int(w, "periods", 0);
	jsonw_key_int(w, "throttled_periods", 0);
	jsonw_key_int(w, "throttled_time", 0);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
}

static void write_stats(struct jsonw *w, const char *id, const char *name)
{
	bool v2 = cgroup_v2();
	int64_t usage = cg_num("memory", id, v2 ? "memory.current" : "memory.usage_in_bytes");
	int64_t max_usage = cg_num("memory", id, v2 ? "memory.peak" : "memory.max_usage_in_bytes");
	int64_t limit = cg_num("memory", id, v2 ? "memory.max" : "memory.limit_in_bytes");
	int64_t pids = cg_num("pids", id, "pids.current");
	int64_t now = now_ms();
	_cleanup_buf_ struct buf cname = BUF_INIT;

	jsonw_obj_begin(w);
	write_rfc3339(w, "read", now);
	write_rfc3339(w, "preread", now);
	jsonw_key(w, "pids_stats");
	jsonw_obj_begin(w);
	if (pids >= 0)
		jsonw_key_int(w, "current", pids);
	jsonw_obj_end(w);
	jsonw_key_int(w, "num_procs", 0);
	jsonw_key(w, "cpu_stats");
	write_cpu(w, id);
	/* one reading: the previous one is the same (a client's delta is then 0) */
	jsonw_key(w, "precpu_stats");
	write_cpu(w, id);
	jsonw_key(w, "memory_stats");
	jsonw_obj_begin(w);
	if (usage >= 0)
		jsonw_key_int(w, "usage", usage);
	if (max_usage >= 0)
		jsonw_key_int(w, "max_usage", max_usage);
	jsonw_key(w, "stats");
	cg_keyed(w, "memory", id, "memory.stat", NULL, NULL, NULL, NULL);
	if (limit >= 0)
		jsonw_key_int(w, "limit", limit == INT64_MAX ? INT64_MAX : limit);
	jsonw_obj_end(w);
	buf_printf(&cname, "/%s", name);
	jsonw_key_str(w, "name", buf_str(&cname));
	jsonw_key_str(w, "id", id);
	jsonw_obj_end(w);
}

/* --- HTTP -------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, struct buf *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	_cleanup_buf_ struct buf body = BUF_INIT;

	buf_puts(&body, "{\"error\":");
	json_escape(&body, msg, strlen(msg));
	buf_putc(&body, '}');
	return answer(conn, status, &body);
}

/* The introspection API. */
static enum MHD_Result introspection(struct agent *a, struct MHD_Connection *conn, const char *url,
				     struct buf *body)
{
	struct jsonw w;

	jsonw_init(&w, body);
	if (!strcmp(url, "/v1/metadata")) {
		jsonw_obj_begin(&w);
		jsonw_key_str(&w, "Cluster", a->cfg.cluster);
		if (a->instance_arn[0])
			jsonw_key_str(&w, "ContainerInstanceArn", a->instance_arn);
		jsonw_key_str(&w, "Version", "Amazon ECS Agent - v1.0.0 (berth " BERTH_VERSION ")");
		jsonw_obj_end(&w);
		return answer(conn, MHD_HTTP_OK, body);
	}
	if (!strcmp(url, "/v1/tasks")) {
		const char *arn =
			MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "taskarn");
		const char *docker =
			MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "dockerid");
		_cleanup_json_ cJSON *snap = agent_tasks_snapshot(a, arn, docker);

		if (!snap)
			return answer_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		if (arn && docker)
			return answer_error(conn, MHD_HTTP_BAD_REQUEST,
					    "Request contains both taskarn and dockerid; specify "
					    "one");
		if ((arn || docker) && !snap->child)
			return answer_error(conn, MHD_HTTP_NOT_FOUND,
					    arn ? "No task found with that taskarn"
						: "No task found with that dockerid");
		if (!arn && !docker) {
			jsonw_obj_begin(&w);
			jsonw_key(&w, "Tasks");
			jsonw_arr_begin(&w);
		}
		for (const cJSON *t = snap->child; t; t = t->next) {
			const cJSON *td = json_obj(json_obj(t, "task"), "taskDefinition");
			const cJSON *cs = json_arr(t, "containers");

			jsonw_obj_begin(&w);
			jsonw_key_str(&w, "Arn", json_str(t, "arn"));
			jsonw_key_str(&w, "DesiredStatus", json_str(t, "desired"));
			jsonw_key_str(&w, "KnownStatus", json_str(t, "known"));
			jsonw_key_str(&w, "Family", json_str(td, "family") ?: "");
			jsonw_key_str(&w, "Version", td_revision(json_obj(t, "task")));
			jsonw_key(&w, "Containers");
			jsonw_arr_begin(&w);
			for (const cJSON *c = cs ? cs->child : NULL; c; c = c->next) {
				jsonw_obj_begin(&w);
				jsonw_key_str(&w, "DockerId", json_str(c, "runtimeId"));
				jsonw_key_str(&w, "DockerName", json_str(c, "runtimeId"));
				jsonw_key_str(&w, "Name", json_str(c, "name"));
				jsonw_obj_end(&w);
			}
			jsonw_arr_end(&w);
			jsonw_obj_end(&w);
			if (arn || docker)
				break;
		}
		if (!arn && !docker) {
			jsonw_arr_end(&w);
			jsonw_obj_end(&w);
		}
		return answer(conn, MHD_HTTP_OK, body);
	}
	return answer_error(conn, MHD_HTTP_NOT_FOUND, "no such path");
}

/* The task metadata endpoint v4: /v4/ID, /v4/ID/task, /v4/ID/stats, /v4/ID/task/stats. */
static enum MHD_Result task_metadata(struct agent *a, struct MHD_Connection *conn, const char *url,
				     struct buf *body)
{
	char id[CONTAINER_ID_MAX + 1];
	const char *rest;
	size_t n;
	struct jsonw w;
	_cleanup_json_ cJSON *snap = NULL;
	const cJSON *task, *me = NULL;

	if (!startswith(url, "/v4/"))
		return answer_error(conn, MHD_HTTP_NOT_FOUND, "no such path");
	url += 4;
	rest = strchr(url, '/');
	n = rest ? (size_t)(rest - url) : strlen(url);
	if (n == 0 || n >= sizeof(id))
		return answer_error(conn, MHD_HTTP_NOT_FOUND, "no such container");
	memcpy(id, url, n);
	id[n] = 0;
	rest = rest ? rest : "";
	snap = agent_tasks_snapshot(a, NULL, id);
	if (!snap)
		return answer_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	task = snap->child;
	if (!task)
		return answer_error(conn, MHD_HTTP_NOT_FOUND, "no such container");
	for (const cJSON *c = json_arr(task, "containers")->child; c && !me; c = c->next)
		if (!strcmp(json_str(c, "runtimeId"), id))
			me = c;
	jsonw_init(&w, body);
	if (!strcmp(rest, "") || !strcmp(rest, "/")) {
		write_container(&w, task, me);
	} else if (!strcmp(rest, "/task")) {
		write_task(&w, task);
	} else if (!strcmp(rest, "/stats")) {
		write_stats(&w, id, json_str(me, "name"));
	} else if (!strcmp(rest, "/task/stats")) {
		jsonw_obj_begin(&w);
		for (const cJSON *c = json_arr(task, "containers")->child; c; c = c->next) {
			if (strcmp(json_str(c, "phase"), "RUNNING") != 0)
				continue;
			jsonw_key(&w, json_str(c, "runtimeId"));
			write_stats(&w, json_str(c, "runtimeId"), json_str(c, "name"));
		}
		jsonw_obj_end(&w);
	} else {
		return answer_error(conn, MHD_HTTP_NOT_FOUND, "no such path");
	}
	return answer(conn, MHD_HTTP_OK, body);
}

/* The first call of a request: nothing to answer yet; a body is not read. */
static bool before_answer(const char *method, size_t *upload_data_size, void **con_cls)
{
	(void)method;
	if (!*con_cls) {
		*con_cls = (void *)1;
		return true;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return true;
	}
	return false;
}

static enum MHD_Result handle_introspection(void *cls, struct MHD_Connection *conn, const char *url,
					    const char *method, const char *version,
					    const char *upload_data, size_t *upload_data_size,
					    void **con_cls)
{
	_cleanup_buf_ struct buf body = BUF_INIT;

	(void)version;
	(void)upload_data;
	if (before_answer(method, upload_data_size, con_cls))
		return MHD_YES;
	if (strcmp(method, "GET") != 0)
		return answer_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is served");
	return introspection(cls, conn, url, &body);
}

static enum MHD_Result handle_metadata(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **con_cls)
{
	_cleanup_buf_ struct buf body = BUF_INIT;

	(void)version;
	(void)upload_data;
	if (before_answer(method, upload_data_size, con_cls))
		return MHD_YES;
	if (strcmp(method, "GET") != 0)
		return answer_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is served");
	return task_metadata(cls, conn, url, &body);
}

static struct MHD_Daemon *listen_on(struct agent *a, MHD_AccessHandlerCallback fn, int64_t port,
				    unsigned *ret_port, const char *what)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, fn, a,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!d) {
		log_warn("agent: cannot listen on 127.0.0.1:%lld for the %s: it is left out",
			 (long long)port, what);
		return NULL;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*ret_port = info ? info->port : (unsigned)port;
	log_info("agent: %s on 127.0.0.1:%u", what, *ret_port);
	return d;
}

int agent_endpoints_start(struct agent *a, struct err *err)
{
	(void)err;
	if (a->cfg.introspection_port >= 0)
		a->introspection = listen_on(a, handle_introspection, a->cfg.introspection_port,
					     &a->introspection_bound, "introspection API");
	if (a->cfg.metadata_port >= 0)
		a->metadata = listen_on(a, handle_metadata, a->cfg.metadata_port,
					&a->metadata_bound, "task metadata endpoint");
	return 0;
}

void agent_endpoints_stop(struct agent *a)
{
	if (a->introspection)
		MHD_stop_daemon(a->introspection);
	if (a->metadata)
		MHD_stop_daemon(a->metadata);
	a->introspection = a->metadata = NULL;
	a->introspection_bound = a->metadata_bound = 0;
}

bool agent_metadata_uri(const struct agent *a, const char *network_mode, const char *runtime_id,
			struct buf *ret)
{
	if (!a->metadata_bound)
		return false;
	/*
	 * Host networking shares the host's loopback, where the endpoint
	 * listens. Other modes have network namespaces of their own; they
	 * reach the agent once their networking gives the agent an address
	 * inside them (bridge: the bridge's; awsvpc: the task's gateway).
	 */
	if (!network_mode || strcmp(network_mode, "host") != 0)
		return false;
	buf_printf(ret, "http://127.0.0.1:%u/v4/%s", a->metadata_bound, runtime_id);
	return true;
}
