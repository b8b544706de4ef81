/*
 * task_definition_validate.c: the semantic checks ECS makes when a task
 * definition is registered, and the document it stores and answers with.
 *
 * The request has already been checked against AWS's model (types, required
 * members, enums), so what is left is what the model cannot say: names,
 * references between containers and volumes, memory and cpu rules, port
 * mappings per network mode, and the launch types the definition fits.
 *
 * Errors are ClientExceptions, as ECS answers RegisterTaskDefinition's
 * checks (tags keep tags.c's InvalidParameterExceptions). These messages
 * are ECS's own, word for word, as its answers are quoted in issues of the
 * aws CLI, SDKs, Terraform, CloudFormation and ECS tools:
 *   Container list cannot be empty. / Too many containers.
 *   Container.name should not be null or empty.
 *   Container.name contains invalid characters.
 *   Container names must be unique within a Task Definition.
 *   Container.image should not be null or empty.
 *   Invalid setting for container 'X'. At least one of 'memory' or
 *     'memoryReservation' must be specified.
 *   The 'memory' setting for container 'X' is greater than for the task.
 *   The sum of all container 'cpu' values cannot be greater than the value
 *     of the task 'cpu'. (and the same for 'memoryReservation'/'memory')
 *   Invalid 'cpu' setting for task. (the developer guide quotes it)
 *   Task definition doesn't have any essential container.
 *   Invalid 'containerPort' setting for container 'X'.
 *   When networkMode=awsvpc, the host ports and container ports in port
 *     mappings must match.
 *   Links are not supported when networkMode=awsvpc.
 *   A dependency container with SUCCESS or COMPLETE condition cannot be an
 *     essential container
 *   Unknown volume 'X'.
 *   Log driver awslogs requires options: awslogs-region, awslogs-group
 *   Fargate only supports network mode 'awsvpc'. (with typographic quotes)
 *   Fargate requires that 'cpu' be defined at the task level.
 *   No Fargate configuration exists for given values.
 *   Fargate compatible task definitions do not support sourcePath
 * The others are berth's wording in the same pattern ("Invalid 'X' setting
 * for container 'Y'. ..."); a few apply ECS's wording to a sibling case
 * (networkMode=host, 'memory' at the task level, Volume.name).
 *
 * Sources: the API reference (RegisterTaskDefinition, ContainerDefinition,
 * PortMapping, HealthCheck, Volume as shipped in botocore's model
 * documentation) and the developer guide's "Task definition parameters" and
 * "Troubleshoot invalid CPU or memory errors" pages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/ecs.h"
#include "api/task_definition.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "core/banned.h"

#define client_error(err, ...) err_set(err, -EINVAL, E_CLIENT, __VA_ARGS__)

/* The Docker 20.10 daemon refuses containers with less memory (MiB). */
#define CONTAINER_MEMORY_MIN 6
/* Task-level cpu bounds for EC2 (and EXTERNAL): 0.125 to 192 vCPU. */
#define TASK_CPU_MIN		  128
#define TASK_CPU_MAX		  196608
#define PLACEMENT_CONSTRAINTS_MAX 10
#define PORT_MAPPING_NAME_MAX	  64

/* A ContainerDefinition's members in the order ECS writes them. */
static const char *const container_members[] = {
	"name",
	"image",
	"repositoryCredentials",
	"cpu",
	"memory",
	"memoryReservation",
	"links",
	"portMappings",
	"essential",
	"restartPolicy",
	"entryPoint",
	"command",
	"environment",
	"environmentFiles",
	"mountPoints",
	"volumesFrom",
	"linuxParameters",
	"secrets",
	"dependsOn",
	"startTimeout",
	"stopTimeout",
	"versionConsistency",
	"hostname",
	"user",
	"workingDirectory",
	"disableNetworking",
	"privileged",
	"readonlyRootFilesystem",
	"dnsServers",
	"dnsSearchDomains",
	"extraHosts",
	"dockerSecurityOptions",
	"interactive",
	"pseudoTerminal",
	"dockerLabels",
	"ulimits",
	"logConfiguration",
	"healthCheck",
	"systemControls",
	"resourceRequirements",
	"firelensConfiguration",
	"credentialSpecs",
};

/* What the checks learn about one container. */
struct container {
	const cJSON *def;
	const char *name;
	bool essential;
	int64_t cpu;
	int64_t memory;	     /* -1: not set */
	int64_t reservation; /* -1: not set */
};

/* What the checks learn about the whole request. */
struct td {
	const cJSON *in;
	const char *network_mode; /* effective: "bridge" when not given */
	bool require_ec2, require_fargate, require_external, require_managed;
	int64_t cpu;	/* task-level cpu units, -1: not set */
	int64_t memory; /* task-level MiB, -1: not set */
	struct container c[TD_CONTAINERS_MAX];
	int n;
};

static bool mode_is(const struct td *td, const char *mode)
{
	return !strcmp(td->network_mode, mode);
}

static const struct container *find_container(const struct td *td, const char *name)
{
	for (int i = 0; i < td->n; i++)
		if (td->c[i].name && !strcmp(td->c[i].name, name))
			return &td->c[i];
	return NULL;
}

static bool has_item(const cJSON *arr, const char *s)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, arr)
		if (cJSON_IsString(v) && !strcmp(v->valuestring, s))
			return true;
	return false;
}

/*
 * Parse a decimal number with an optional fraction ("2", "0.5", ".25")
 * followed by optional spaces and a unit (case-insensitive), and return
 * number * scale when that is a whole number in [min, max]. No unit: the
 * number is taken as is and must be whole.
 */
static int parse_size(const char *s, const char *unit, int64_t scale, int64_t min, int64_t max,
		      int64_t *ret)
{
	int64_t whole = 0, frac = 0, div = 1;
	bool digits = false;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > 100000000)
			return -EINVAL;
		whole = whole * 10 + (*p - '0');
		digits = true;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (div >= 1000000)
				return -EINVAL;
			frac = frac * 10 + (*p - '0');
			div *= 10;
			digits = true;
		}
	}
	if (!digits)
		return -EINVAL;
	while (*p == ' ')
		p++;
	if (*p) {
		size_t n = strlen(unit);

		if (strncasecmp(p, unit, n) || p[n])
			return -EINVAL;
	} else {
		scale = 1;
	}
	if ((frac * scale) % div)
		return -EINVAL;
	*ret = whole * scale + frac * scale / div;
	return *ret < min || *ret > max ? -EINVAL : 0;
}

/*
 * Task-level cpu: CPU units ("256") or vCPUs ("1 vCPU", "0.5 vcpu"), stored
 * as units. Task-level memory: MiB ("512") or GB ("1GB", "2 GB"), stored as
 * MiB. ECS's message for both is the one its troubleshooting page quotes.
 */
static int parse_task_size(struct td *td, struct err *err)
{
	const char *cpu = json_str(td->in, "cpu");
	const char *memory = json_str(td->in, "memory");

	td->cpu = td->memory = -1;
	if (cpu && parse_size(cpu, "vcpu", 1024, TASK_CPU_MIN, TASK_CPU_MAX, &td->cpu) < 0)
		return client_error(err, "Invalid 'cpu' setting for task.");
	if (memory &&
	    parse_size(memory, "gb", 1024, CONTAINER_MEMORY_MIN, INT32_MAX, &td->memory) < 0)
		return client_error(err, "Invalid 'memory' setting for task.");
	return 0;
}

/* Whether cpu units and MiB are one of Fargate's task sizes (the guide's table). */
static bool fargate_size(int64_t cpu, int64_t memory)
{
	static const struct {
		int64_t cpu, min, max, step;
	} sizes[] = {
		{ 256, 512, 512, 1 },	      { 256, 1024, 2048, 1024 },
		{ 512, 1024, 4096, 1024 },    { 1024, 2048, 8192, 1024 },
		{ 2048, 4096, 16384, 1024 },  { 4096, 8192, 30720, 1024 },
		{ 8192, 16384, 61440, 4096 }, { 16384, 32768, 122880, 8192 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		if (cpu == sizes[i].cpu && memory >= sizes[i].min && memory <= sizes[i].max &&
		    (memory - sizes[i].min) % sizes[i].step == 0)
			return true;
	return false;
}

static int check_volumes(const struct td *td, struct err *err)
{
	const cJSON *v, *u;

	cJSON_ArrayForEach(v, json_arr(td->in, "volumes")) {
		const char *name = json_str(v, "name");
		int kinds = 0;

		/* berth's wording, after ECS's "Container.name should not be null or empty." */
		if (!name || !*name)
			return client_error(err, "Volume.name should not be null or empty.");
		if (!ecs_valid_name(name))
			return client_error(err, "Volume.name contains invalid characters.");
		for (u = json_arr(td->in, "volumes")->child; u != v; u = u->next)
			if (!strcmp(json_str(u, "name"), name))
				return client_error(err, "Volume names must be unique within a "
							 "Task Definition.");
		kinds = !!json_obj(v, "host") + !!json_obj(v, "dockerVolumeConfiguration") +
			!!json_obj(v, "efsVolumeConfiguration") +
			!!json_obj(v, "s3filesVolumeConfiguration") +
			!!json_obj(v, "fsxWindowsFileServerVolumeConfiguration") +
			json_bool(v, "configuredAtLaunch", false);
		if (kinds > 1)
			return client_error(
				err,
				"Invalid setting for volume '%s'. Only one of 'host', "
				"'dockerVolumeConfiguration', 'efsVolumeConfiguration', "
				"'s3filesVolumeConfiguration', "
				"'fsxWindowsFileServerVolumeConfiguration' or "
				"'configuredAtLaunch' can be specified.",
				name);
		if (json_obj(v, "host") && json_has(json_obj(v, "host"), "sourcePath")) {
			const char *path = json_str(json_obj(v, "host"), "sourcePath");

			if (!*path || path[0] != '/')
				return client_error(err,
						    "Invalid setting for volume '%s'. "
						    "host.sourcePath must be an absolute path.",
						    name);
		}
	}
	return 0;
}

/* A port mapping's container ports as a range; containerPortRange "lo-hi". */
static int mapping_ports(const cJSON *pm, int64_t *lo, int64_t *hi)
{
	const char *range = json_str(pm, "containerPortRange");
	char buf[32];
	char *dash;

	if (!range) {
		*lo = *hi = json_int(pm, "containerPort", -1);
		return *lo >= 1 && *lo <= 65535 ? 0 : -EINVAL;
	}
	if (strlen(range) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", range);
	dash = strchr(buf, '-');
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (parse_int64(buf, 1, 65535, lo) < 0 || parse_int64(dash + 1, 1, 65535, hi) < 0 ||
	    *lo >= *hi)
		return -EINVAL;
	return 0;
}

static bool valid_port_mapping_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PORT_MAPPING_NAME_MAX || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

/*
 * Port mappings of one container: ports in range; in awsvpc and host mode a
 * hostPort, when given, equals the containerPort (ECS's messages); none
 * allows no mapping; a container port is mapped once, whatever the protocol
 * (the PortMapping reference: "You can't expose the same container port for
 * multiple protocols").
 */
static int check_port_mappings(const struct td *td, const struct container *c, struct err *err)
{
	const cJSON *pms = json_arr(c->def, "portMappings");
	const cJSON *pm, *other;

	if (!pms || !pms->child)
		return 0;
	if (mode_is(td, "none"))
		return client_error(err,
				    "Invalid 'portMappings' setting for container '%s'. Port "
				    "mappings are not supported when networkMode=none.",
				    c->name);
	cJSON_ArrayForEach(pm, pms) {
		int64_t lo, hi, host = json_int(pm, "hostPort", -1);
		const char *name = json_str(pm, "name");

		if (mapping_ports(pm, &lo, &hi) < 0)
			return client_error(err, "Invalid '%s' setting for container '%s'.",
					    json_has(pm, "containerPortRange")
						    ? "containerPortRange"
						    : "containerPort",
					    c->name);
		if (json_has(pm, "hostPort") && (host < 0 || host > 65535))
			return client_error(err, "Invalid 'hostPort' setting for container '%s'.",
					    c->name);
		if (json_has(pm, "containerPortRange")) {
			if (json_has(pm, "containerPort") || json_has(pm, "hostPort"))
				return client_error(
					err,
					"Invalid 'containerPortRange' setting for container '%s'. "
					"containerPort and hostPort must not be specified with a "
					"containerPortRange.",
					c->name);
			if (!mode_is(td, "bridge") && !mode_is(td, "awsvpc"))
				return client_error(
					err,
					"Invalid 'containerPortRange' setting for container '%s'. "
					"Port ranges require networkMode bridge or awsvpc.",
					c->name);
		} else if (json_has(pm, "hostPort") && host != lo &&
			   (mode_is(td, "awsvpc") || mode_is(td, "host"))) {
			return client_error(err,
					    "When networkMode=%s, the host ports and container "
					    "ports in port mappings must match.",
					    td->network_mode);
		}
		if (name && !valid_port_mapping_name(name))
			return client_error(
				err,
				"Invalid 'portMappings' setting for container '%s'. The name "
				"'%.64s' "
				"must be up to 64 lowercase letters, numbers, underscores and "
				"hyphens, and not start with a hyphen.",
				c->name, name);
		for (other = pms->child; other != pm; other = other->next) {
			int64_t olo, ohi;

			mapping_ports(other, &olo, &ohi);
			if (lo <= ohi && olo <= hi)
				return client_error(
					err,
					"Invalid 'portMappings' setting for container '%s'. "
					"Container port %lld is in more than one port mapping.",
					c->name, (long long)(lo > olo ? lo : olo));
		}
	}
	return 0;
}

/* Host ports bound statically (hostPort, or containerPort in awsvpc and host mode). */
static int64_t static_host_port(const struct td *td, const cJSON *pm)
{
	if (json_has(pm, "containerPortRange"))
		return 0;
	if (json_int(pm, "hostPort", 0) > 0)
		return json_int(pm, "hostPort", 0);
	if (mode_is(td, "awsvpc") || mode_is(td, "host"))
		return json_int(pm, "containerPort", 0);
	return 0;
}

static const char *protocol_of(const cJSON *pm)
{
	return json_str(pm, "protocol") ? json_str(pm, "protocol") : "tcp";
}

/* No host port (and protocol) is bound by two mappings of the task. */
static int check_host_ports(const struct td *td, struct err *err)
{
	for (int i = 0; i < td->n; i++) {
		const cJSON *pm;

		cJSON_ArrayForEach(pm, json_arr(td->c[i].def, "portMappings")) {
			int64_t port = static_host_port(td, pm);

			if (port == 0)
				continue;
			for (int j = 0; j <= i; j++) {
				const cJSON *q;

				cJSON_ArrayForEach(q, json_arr(td->c[j].def, "portMappings")) {
					if (q == pm)
						break;
					if (static_host_port(td, q) == port &&
					    !strcmp(protocol_of(q), protocol_of(pm)))
						return client_error(
							err,
							"Invalid 'portMappings' setting for "
							"container '%s'. Host port %lld/%s is "
							"already used by container '%s'.",
							td->c[i].name, (long long)port,
							protocol_of(pm), td->c[j].name);
				}
			}
		}
	}
	return 0;
}

/* The health check's bounds, from the HealthCheck reference. */
static int check_health(const struct container *c, struct err *err)
{
	static const struct {
		const char *key;
		int64_t min, max;
		const char *unit;
	} bounds[] = {
		{ "interval", 5, 300, " seconds" },
		{ "timeout", 2, 60, " seconds" },
		{ "retries", 1, 10, "" },
		{ "startPeriod", 0, 300, " seconds" },
	};
	const cJSON *hc = json_obj(c->def, "healthCheck");
	const cJSON *cmd = json_arr(hc, "command");
	const char *first;

	if (!hc)
		return 0;
	first = cmd && cJSON_IsString(cmd->child) ? cmd->child->valuestring : "";
	if ((strcmp(first, "CMD") && strcmp(first, "CMD-SHELL")) || cJSON_GetArraySize(cmd) < 2)
		return client_error(err,
				    "Invalid 'healthCheck' setting for container '%s'. The "
				    "command must start with CMD or CMD-SHELL followed by what "
				    "to run.",
				    c->name);
	for (size_t i = 0; i < ARRAY_SIZE(bounds); i++) {
		int64_t v;

		if (!json_has(hc, bounds[i].key))
			continue;
		v = json_int(hc, bounds[i].key, 0);
		if (v < bounds[i].min || v > bounds[i].max)
			return client_error(err,
					    "Invalid 'healthCheck' setting for container '%s'. "
					    "'%s' must be between %lld and %lld%s.",
					    c->name, bounds[i].key, (long long)bounds[i].min,
					    (long long)bounds[i].max, bounds[i].unit);
	}
	return 0;
}

static int check_ulimits(const struct container *c, struct err *err)
{
	const cJSON *u, *v;

	cJSON_ArrayForEach(u, json_arr(c->def, "ulimits")) {
		const char *name = json_str(u, "name");

		if (json_int(u, "softLimit", 0) > json_int(u, "hardLimit", 0))
			return client_error(err,
					    "Invalid 'ulimits' setting for container '%s'. The "
					    "softLimit of '%s' is greater than its hardLimit.",
					    c->name, name);
		for (v = json_arr(c->def, "ulimits")->child; v != u; v = v->next)
			if (!strcmp(json_str(v, "name"), name))
				return client_error(err,
						    "Invalid 'ulimits' setting for container '%s'. "
						    "'%s' is given more than once.",
						    c->name, name);
	}
	return 0;
}

/* awslogs needs its group and region: ECS's message lists what is missing. */
static int check_log_configuration(const struct container *c, struct err *err)
{
	const cJSON *lc = json_obj(c->def, "logConfiguration");
	const cJSON *opts = json_obj(lc, "options");
	const char *driver = json_str(lc, "logDriver");
	bool region, group;

	if (!driver || strcmp(driver, "awslogs") != 0)
		return 0;
	region = json_str(opts, "awslogs-region") && *json_str(opts, "awslogs-region");
	group = json_str(opts, "awslogs-group") && *json_str(opts, "awslogs-group");
	if (!region || !group)
		return client_error(err, "Log driver awslogs requires options: %s%s%s",
				    region ? "" : "awslogs-region", !region && !group ? ", " : "",
				    group ? "" : "awslogs-group");
	return 0;
}

/* The checks of one container that need nothing from the others. */
static int check_container(struct td *td, struct container *c, struct err *err)
{
	const cJSON *d = c->def;
	const char *image = json_str(d, "image");
	const char *at;
	int r;

	/* ECS's messages, for these five */
	if (!c->name || !*c->name)
		return client_error(err, "Container.name should not be null or empty.");
	if (!ecs_valid_name(c->name))
		return client_error(err, "Container.name contains invalid characters.");
	if (find_container(td, c->name) != c)
		return client_error(err,
				    "Container names must be unique within a Task Definition.");
	if (!image || !*image)
		return client_error(err, "Container.image should not be null or empty.");
	if (!td->require_fargate && td->memory < 0 && c->memory < 0 && c->reservation < 0)
		return client_error(err,
				    "Invalid setting for container '%s'. At least one of 'memory' "
				    "or 'memoryReservation' must be specified.",
				    c->name);
	at = strchr(image, '@');
	if ((at ? (size_t)(at - image) : strlen(image)) > 255 || strpbrk(image, " \t\r\n"))
		return client_error(err, "Container.image contains invalid characters.");
	if (c->cpu < 0)
		return client_error(err, "Invalid 'cpu' setting for container '%s'.", c->name);
	if (json_has(d, "memory") && c->memory < CONTAINER_MEMORY_MIN)
		return client_error(err,
				    "Invalid 'memory' setting for container '%s'. The minimum "
				    "is %d MiB.",
				    c->name, CONTAINER_MEMORY_MIN);
	if (json_has(d, "memoryReservation") && c->reservation < CONTAINER_MEMORY_MIN)
		return client_error(err,
				    "Invalid 'memoryReservation' setting for container '%s'. "
				    "The minimum is %d MiB.",
				    c->name, CONTAINER_MEMORY_MIN);
	/* The reference says "greater than"; ECS accepts equal values. */
	if (c->memory >= 0 && c->reservation > c->memory)
		return client_error(err,
				    "Invalid 'memoryReservation' setting for container '%s'. It "
				    "must not be greater than 'memory'.",
				    c->name);
	if (td->memory >= 0 && c->memory > td->memory)
		return client_error(err,
				    "The 'memory' setting for container '%s' is greater than for "
				    "the task.",
				    c->name);
	if ((json_has(d, "startTimeout") && json_int(d, "startTimeout", 0) < 0) ||
	    (json_has(d, "stopTimeout") && json_int(d, "stopTimeout", 0) < 0))
		return client_error(err, "Invalid '%s' setting for container '%s'.",
				    json_int(d, "startTimeout", 0) < 0 ? "startTimeout"
								       : "stopTimeout",
				    c->name);
	if (json_arr(d, "links") && json_arr(d, "links")->child && !mode_is(td, "bridge"))
		return client_error(err, "Links are not supported when networkMode=%s.",
				    td->network_mode);
	if (mode_is(td, "awsvpc") && json_has(d, "hostname"))
		return client_error(err,
				    "Invalid 'hostname' setting for container '%s'. "
				    "hostname is not supported when networkMode=awsvpc.",
				    c->name);
	if (mode_is(td, "awsvpc") && json_arr(d, "extraHosts") && json_arr(d, "extraHosts")->child)
		return client_error(err,
				    "Invalid 'extraHosts' setting for container '%s'. extraHosts "
				    "is not supported when networkMode=awsvpc.",
				    c->name);
	r = check_port_mappings(td, c, err);
	if (r == 0)
		r = check_health(c, err);
	if (r == 0)
		r = check_ulimits(c, err);
	if (r == 0)
		r = check_log_configuration(c, err);
	return r;
}

static bool has_volume(const struct td *td, const char *name)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, json_arr(td->in, "volumes"))
		if (!strcmp(json_str(v, "name"), name))
			return true;
	return false;
}

/* dependsOn graph: a cycle would leave the task waiting forever. */
static bool depends_cycle(const struct td *td, int i, unsigned *on_path, unsigned *done)
{
	const cJSON *dep;

	if (*on_path & (1u << i))
		return true;
	if (*done & (1u << i))
		return false;
	*on_path |= 1u << i;
	cJSON_ArrayForEach(dep, json_arr(td->c[i].def, "dependsOn")) {
		const struct container *t = find_container(td, json_str(dep, "containerName"));

		if (t && depends_cycle(td, (int)(t - td->c), on_path, done))
			return true;
	}
	*on_path &= ~(1u << i);
	*done |= 1u << i;
	return false;
}

/* References from one container to others and to the task's volumes. */
static int check_references(const struct td *td, const struct container *c, struct err *err)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, json_arr(c->def, "mountPoints")) {
		const char *src = json_str(v, "sourceVolume");

		/* ECS's message (it prints 'null' when sourceVolume is missing) */
		if (!src || !has_volume(td, src))
			return client_error(err, "Unknown volume '%.255s'.", src ? src : "null");
		if (!json_str(v, "containerPath") || !*json_str(v, "containerPath"))
			return client_error(err,
					    "Invalid 'mountPoints' setting for container '%s'. "
					    "containerPath should not be blank.",
					    c->name);
	}
	cJSON_ArrayForEach(v, json_arr(c->def, "volumesFrom")) {
		const char *src = json_str(v, "sourceContainer");
		const struct container *t = src ? find_container(td, src) : NULL;

		if (!t || t == c)
			return client_error(err,
					    "Invalid 'volumesFrom' setting for container '%s'. "
					    "sourceContainer '%.255s' is not another container of "
					    "the task definition.",
					    c->name, src ? src : "null");
	}
	cJSON_ArrayForEach(v, json_arr(c->def, "links")) {
		char name[ECS_NAME_MAX + 1];
		const char *colon = strchr(v->valuestring, ':');
		size_t n = colon ? (size_t)(colon - v->valuestring) : strlen(v->valuestring);
		const struct container *t;

		snprintf(name, sizeof(name), "%.*s", (int)(n > ECS_NAME_MAX ? 0 : n),
			 v->valuestring);
		t = find_container(td, name);
		if (!t || t == c || (colon && !ecs_valid_name(colon + 1)))
			return client_error(err,
					    "Invalid 'links' setting for container '%s'. '%.255s' "
					    "does not name another container of the task "
					    "definition (name or name:alias).",
					    c->name, v->valuestring);
	}
	cJSON_ArrayForEach(v, json_arr(c->def, "dependsOn")) {
		const char *name = json_str(v, "containerName");
		const char *cond = json_str(v, "condition");
		const struct container *t = find_container(td, name);

		if (!t || t == c)
			return client_error(err,
					    "Invalid 'dependsOn' setting for container '%s'. "
					    "'%.255s' is not another container of the task "
					    "definition.",
					    c->name, name);
		if ((!strcmp(cond, "COMPLETE") || !strcmp(cond, "SUCCESS")) && t->essential)
			return client_error(err, "A dependency container with SUCCESS or COMPLETE "
						 "condition cannot be an essential container");
		if (!strcmp(cond, "HEALTHY") && !json_obj(t->def, "healthCheck"))
			return client_error(err,
					    "Invalid 'dependsOn' setting for container '%s'. "
					    "Container '%s' has no healthCheck for the HEALTHY "
					    "condition.",
					    c->name, t->name);
	}
	return 0;
}

/* Container totals within the task's size (ECS's messages). */
static int check_totals(const struct td *td, struct err *err)
{
	int64_t cpu = 0, reserved = 0;

	for (int i = 0; i < td->n; i++) {
		cpu += td->c[i].cpu;
		reserved += td->c[i].reservation >= 0 ? td->c[i].reservation
			    : td->c[i].memory >= 0    ? td->c[i].memory
						      : 0;
	}
	if (td->cpu >= 0 && cpu > td->cpu)
		return client_error(err, "The sum of all container 'cpu' values cannot be greater "
					 "than the value of the task 'cpu'.");
	if (td->memory >= 0 && reserved > td->memory)
		return client_error(err,
				    "The sum of all container 'memoryReservation' values cannot be "
				    "greater than the value of the task 'memory'.");
	return 0;
}

/*
 * Why the definition cannot run on Fargate, or NULL if it can: awsvpc, a
 * task size from Fargate's table, and none of the parameters the reference
 * says Fargate does not support. The messages are ECS's where known.
 */
static const char *fargate_refusal(const struct td *td)
{
	const char *pid = json_str(td->in, "pidMode");
	const cJSON *v;

	if (!mode_is(td, "awsvpc"))
		return "Fargate only supports network mode \u2018awsvpc\u2019.";
	if (td->cpu < 0)
		return "Fargate requires that 'cpu' be defined at the task level.";
	if (td->memory < 0)
		return "Fargate requires that 'memory' be defined at the task level.";
	if (!fargate_size(td->cpu, td->memory))
		return "No Fargate configuration exists for given values.";
	if (pid && strcmp(pid, "task") != 0)
		return "Fargate compatible task definitions only support pidMode 'task'.";
	if (json_has(td->in, "ipcMode"))
		return "Fargate compatible task definitions do not support ipcMode.";
	v = json_arr(td->in, "placementConstraints");
	if (v && v->child)
		return "Fargate compatible task definitions do not support placementConstraints.";
	cJSON_ArrayForEach(v, json_arr(td->in, "volumes")) {
		if (json_has(json_obj(v, "host"), "sourcePath"))
			return "Fargate compatible task definitions do not support sourcePath";
		if (json_obj(v, "dockerVolumeConfiguration"))
			return "Fargate compatible task definitions do not support "
			       "dockerVolumeConfiguration.";
	}
	for (int i = 0; i < td->n; i++) {
		if (json_bool(td->c[i].def, "privileged", false))
			return "Fargate compatible task definitions do not support privileged "
			       "containers.";
		v = json_arr(td->c[i].def, "dockerSecurityOptions");
		if (v && v->child)
			return "Fargate compatible task definitions do not support "
			       "dockerSecurityOptions.";
	}
	return NULL;
}

static int check_task(struct td *td, struct err *err)
{
	const cJSON *pcs = json_arr(td->in, "placementConstraints");
	const cJSON *v, *proxy = json_obj(td->in, "proxyConfiguration");

	if (cJSON_GetArraySize(pcs) > PLACEMENT_CONSTRAINTS_MAX)
		return client_error(err, "You can specify a maximum of %d placement constraints.",
				    PLACEMENT_CONSTRAINTS_MAX);
	cJSON_ArrayForEach(v, pcs) {
		const char *e = json_str(v, "expression");

		if (!e || !*e)
			return client_error(err, "A memberOf placement constraint requires an "
						 "expression.");
	}
	if (proxy && !find_container(td, json_str(proxy, "containerName")))
		return client_error(err,
				    "Invalid 'proxyConfiguration' setting. containerName '%.255s' "
				    "is not a container of the task definition.",
				    json_str(proxy, "containerName"));
	if (proxy && !mode_is(td, "awsvpc"))
		return client_error(err, "Invalid 'proxyConfiguration' setting. A proxy "
					 "configuration requires networkMode=awsvpc.");
	if (td->require_fargate && fargate_refusal(td))
		return client_error(err, "%s", fargate_refusal(td));
	if (td->require_external && mode_is(td, "awsvpc"))
		return client_error(err, "External compatible task definitions do not support "
					 "network mode 'awsvpc'.");
	return 0;
}

static int check(struct td *td, struct err *err)
{
	const cJSON *defs = json_arr(td->in, "containerDefinitions");
	const cJSON *req = json_arr(td->in, "requiresCompatibilities");
	const char *family = json_str(td->in, "family");
	const cJSON *d;
	bool essential = false;
	unsigned on_path = 0, done = 0;
	int r;

	if (!family || !ecs_valid_name(family))
		return client_error(err,
				    "Invalid family '%.300s'. Up to 255 letters (uppercase and "
				    "lowercase), numbers, underscores, and hyphens are allowed.",
				    family ? family : "");
	if (!defs || !defs->child)
		return client_error(err, "Container list cannot be empty.");
	if (cJSON_GetArraySize(defs) > TD_CONTAINERS_MAX)
		return client_error(err, "Too many containers.");
	td->network_mode =
		json_str(td->in, "networkMode") ? json_str(td->in, "networkMode") : "bridge";
	td->require_ec2 = has_item(req, "EC2");
	td->require_fargate = has_item(req, "FARGATE");
	td->require_external = has_item(req, "EXTERNAL");
	td->require_managed = has_item(req, "MANAGED_INSTANCES");
	r = parse_task_size(td, err);
	if (r == 0)
		r = check_volumes(td, err);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(d, defs) {
		struct container *c = &td->c[td->n++];

		c->def = d;
		c->name = json_str(d, "name");
		c->essential = json_bool(d, "essential", true);
		c->cpu = json_int(d, "cpu", 0);
		c->memory = json_has(d, "memory") ? json_int(d, "memory", 0) : -1;
		c->reservation =
			json_has(d, "memoryReservation") ? json_int(d, "memoryReservation", 0) : -1;
	}
	for (int i = 0; i < td->n; i++) {
		r = check_container(td, &td->c[i], err);
		if (r < 0)
			return r;
		essential |= td->c[i].essential;
	}
	if (!essential)
		return client_error(err, "Task definition doesn't have any essential container.");
	for (int i = 0; i < td->n; i++) {
		r = check_references(td, &td->c[i], err);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < td->n; i++)
		if (depends_cycle(td, i, &on_path, &done))
			return client_error(err,
					    "Invalid 'dependsOn' setting for container '%s'. The "
					    "dependencies form a cycle.",
					    td->c[i].name);
	r = check_host_ports(td, err);
	if (r == 0)
		r = check_totals(td, err);
	if (r == 0)
		r = check_task(td, err);
	if (r == 0)
		r = ecs_tags_validate(json_arr(td->in, "tags"), err);
	return r;
}

/* Building the document. */

static cJSON *dup(const cJSON *v)
{
	cJSON *d = cJSON_Duplicate(v, true);

	if (!d)
		abort();
	return d;
}

static void add_string(cJSON *obj, const char *key, const char *s)
{
	if (!cJSON_AddStringToObject(obj, key, s))
		abort();
}

static void add_number(cJSON *obj, const char *key, double n)
{
	if (!cJSON_AddNumberToObject(obj, key, n))
		abort();
}

static void add_item(cJSON *obj, const char *key, cJSON *item)
{
	if (!cJSON_AddItemToObject(obj, key, item))
		abort();
}

/* A port mapping as ECS stores it: protocol tcp by default, hostPort filled in awsvpc and host mode. */
static cJSON *build_port_mapping(const struct td *td, const cJSON *pm)
{
	static const char *const members[] = {
		"containerPort", "hostPort", "protocol", "name", "appProtocol", "containerPortRange"
	};
	cJSON *out = cJSON_CreateObject();

	for (size_t i = 0; i < ARRAY_SIZE(members); i++) {
		const cJSON *v = json_get(pm, members[i]);

		if (v)
			add_item(out, members[i], dup(v));
		else if (!strcmp(members[i], "protocol"))
			add_string(out, "protocol", "tcp");
		else if (!strcmp(members[i], "hostPort") && !json_has(pm, "containerPortRange") &&
			 (mode_is(td, "awsvpc") || mode_is(td, "host")))
			add_number(out, "hostPort", (double)json_int(pm, "containerPort", 0));
	}
	return out;
}

/* A health check with ECS's defaults: interval 30, timeout 5, retries 3. */
static cJSON *build_health_check(const cJSON *hc)
{
	cJSON *out = cJSON_CreateObject();

	add_item(out, "command", dup(json_get(hc, "command")));
	add_number(out, "interval", (double)json_int(hc, "interval", 30));
	add_number(out, "timeout", (double)json_int(hc, "timeout", 5));
	add_number(out, "retries", (double)json_int(hc, "retries", 3));
	if (json_has(hc, "startPeriod"))
		add_number(out, "startPeriod", (double)json_int(hc, "startPeriod", 0));
	return out;
}

/*
 * A container definition as ECS answers it: the members given, in ECS's
 * order, with cpu 0, essential true and empty portMappings, environment,
 * mountPoints, volumesFrom and systemControls when absent.
 */
static cJSON *build_container(const struct td *td, const cJSON *def)
{
	cJSON *out = cJSON_CreateObject();

	for (size_t i = 0; i < ARRAY_SIZE(container_members); i++) {
		const char *key = container_members[i];
		const cJSON *v = json_get(def, key);

		if (!strcmp(key, "portMappings")) {
			cJSON *arr = cJSON_AddArrayToObject(out, key);
			const cJSON *pm;

			cJSON_ArrayForEach(pm, v)
				cJSON_AddItemToArray(arr, build_port_mapping(td, pm));
		} else if (!strcmp(key, "healthCheck") && v) {
			add_item(out, key, build_health_check(v));
		} else if (v) {
			add_item(out, key, dup(v));
		} else if (!strcmp(key, "cpu")) {
			add_number(out, key, 0);
		} else if (!strcmp(key, "essential")) {
			cJSON_AddTrueToObject(out, key);
		} else if (!strcmp(key, "environment") || !strcmp(key, "mountPoints") ||
			   !strcmp(key, "volumesFrom") || !strcmp(key, "systemControls")) {
			cJSON_AddArrayToObject(out, key);
		}
	}
	return out;
}

/* A volume with no configuration is a host volume: ECS answers "host": {}. */
static cJSON *build_volume(const cJSON *v)
{
	cJSON *out = dup(v);

	if (!json_obj(v, "host") && !json_obj(v, "dockerVolumeConfiguration") &&
	    !json_obj(v, "efsVolumeConfiguration") && !json_obj(v, "s3filesVolumeConfiguration") &&
	    !json_obj(v, "fsxWindowsFileServerVolumeConfiguration") &&
	    !json_bool(v, "configuredAtLaunch", false)) {
		cJSON_DeleteItemFromObjectCaseSensitive(out, "host");
		add_item(out, "host", cJSON_CreateObject());
	}
	return out;
}

static void add_attribute(cJSON *attrs, const char *name)
{
	cJSON *a;

	cJSON_ArrayForEach(a, attrs)
		if (!strcmp(json_str(a, "name"), name))
			return;
	a = cJSON_CreateObject();
	add_string(a, "name", name);
	cJSON_AddItemToArray(attrs, a);
}

/*
 * requiresAttributes: the container instance attributes a task of this
 * definition needs, as ECS derives them from the features it uses. berth
 * derives this subset (attribute names from the developer guide's
 * "Amazon ECS container instance attributes"):
 *   dockerLabels, ulimits, logConfiguration  docker-remote-api.1.18
 *   awslogs                                  docker-remote-api.1.19
 *   memoryReservation                        docker-remote-api.1.21
 *   healthCheck                              docker-remote-api.1.24,
 *                                            ecs.capability.container-health-check
 *   logConfiguration                         logging-driver.DRIVER
 *   taskRoleArn                              task-iam-role
 *   executionRoleArn with awslogs            ecs.capability.execution-role-awslogs
 *   networkMode awsvpc                       ecs.capability.task-eni
 *   dependsOn, startTimeout, stopTimeout     ecs.capability.container-ordering
 *   secrets from SSM / Secrets Manager       ecs.capability.secrets.{ssm,asm}.environment-variables
 *   environmentFiles                         ecs.capability.env-files.s3
 *   repositoryCredentials                    private-registry-authentication.secretsmanager
 * RunTask and StartTask place a task only on instances that have every
 * one (sched/placement.c); berth's agent registers those of the features it
 * implements (agent.c: docker-remote-api.1.17 to 1.44,
 * container-health-check, container-ordering), so a definition asking for
 * another fails to place with reason ATTRIBUTE.
 */
static cJSON *build_requires_attributes(const struct td *td)
{
	cJSON *attrs = cJSON_CreateArray();
	const char *cap = "com.amazonaws.ecs.capability.";
	char name[128];

	if (json_has(td->in, "taskRoleArn")) {
		snprintf(name, sizeof(name), "%stask-iam-role", cap);
		add_attribute(attrs, name);
	}
	if (mode_is(td, "awsvpc"))
		add_attribute(attrs, "ecs.capability.task-eni");
	for (int i = 0; i < td->n; i++) {
		const cJSON *d = td->c[i].def, *s;
		const char *driver = json_str(json_obj(d, "logConfiguration"), "logDriver");

		if (json_has(d, "dockerLabels") || json_has(d, "ulimits") || driver) {
			snprintf(name, sizeof(name), "%sdocker-remote-api.1.18", cap);
			add_attribute(attrs, name);
		}
		if (driver) {
			snprintf(name, sizeof(name), "%slogging-driver.%s", cap, driver);
			add_attribute(attrs, name);
		}
		if (driver && !strcmp(driver, "awslogs")) {
			snprintf(name, sizeof(name), "%sdocker-remote-api.1.19", cap);
			add_attribute(attrs, name);
			if (json_has(td->in, "executionRoleArn"))
				add_attribute(attrs, "ecs.capability.execution-role-awslogs");
		}
		if (json_has(d, "memoryReservation")) {
			snprintf(name, sizeof(name), "%sdocker-remote-api.1.21", cap);
			add_attribute(attrs, name);
		}
		if (json_has(d, "healthCheck")) {
			snprintf(name, sizeof(name), "%sdocker-remote-api.1.24", cap);
			add_attribute(attrs, name);
			add_attribute(attrs, "ecs.capability.container-health-check");
		}
		if (json_has(d, "dependsOn") || json_has(d, "startTimeout") ||
		    json_has(d, "stopTimeout"))
			add_attribute(attrs, "ecs.capability.container-ordering");
		cJSON_ArrayForEach(s, json_arr(d, "secrets")) {
			const char *from = json_str(s, "valueFrom");

			add_attribute(attrs,
				      strstr(from, ":secretsmanager:")
					      ? "ecs.capability.secrets.asm.environment-variables"
					      : "ecs.capability.secrets.ssm.environment-variables");
		}
		if (json_has(d, "environmentFiles"))
			add_attribute(attrs, "ecs.capability.env-files.s3");
		if (json_has(d, "repositoryCredentials")) {
			snprintf(name, sizeof(name),
				 "%sprivate-registry-authentication.secretsmanager", cap);
			add_attribute(attrs, name);
		}
	}
	return attrs;
}

/*
 * compatibilities: the launch types the definition fits. EC2 always (berth
 * runs every task on its own hosts), EXTERNAL unless awsvpc (ECS Anywhere
 * has no awsvpc; ECS lists ["EXTERNAL", "EC2"] for such definitions),
 * FARGATE when the definition meets Fargate's rules, and MANAGED_INSTANCES
 * when asked for. moto answers ["EC2"] only.
 */
static cJSON *build_compatibilities(const struct td *td)
{
	cJSON *arr = cJSON_CreateArray();

	if (!mode_is(td, "awsvpc"))
		cJSON_AddItemToArray(arr, cJSON_CreateString("EXTERNAL"));
	cJSON_AddItemToArray(arr, cJSON_CreateString("EC2"));
	if (!fargate_refusal(td))
		cJSON_AddItemToArray(arr, cJSON_CreateString("FARGATE"));
	if (td->require_managed)
		cJSON_AddItemToArray(arr, cJSON_CreateString("MANAGED_INSTANCES"));
	return arr;
}

static cJSON *build(const struct api_ctx *ctx, const struct td *td)
{
	const cJSON *in = td->in, *v;
	cJSON *doc = cJSON_CreateObject(), *arr;
	char num[32];
	struct buf by = BUF_INIT;

	add_string(doc, "taskDefinitionArn", "");
	arr = cJSON_AddArrayToObject(doc, "containerDefinitions");
	for (int i = 0; i < td->n; i++)
		cJSON_AddItemToArray(arr, build_container(td, td->c[i].def));
	add_string(doc, "family", json_str(in, "family"));
	if ((v = json_get(in, "taskRoleArn")))
		add_item(doc, "taskRoleArn", dup(v));
	if ((v = json_get(in, "executionRoleArn")))
		add_item(doc, "executionRoleArn", dup(v));
	/*
	 * ECS leaves networkMode out when the request does (the default,
	 * bridge, is then implied); moto answers "bridge".
	 */
	if ((v = json_get(in, "networkMode")))
		add_item(doc, "networkMode", dup(v));
	add_number(doc, "revision", 0);
	arr = cJSON_AddArrayToObject(doc, "volumes");
	cJSON_ArrayForEach(v, json_arr(in, "volumes"))
		cJSON_AddItemToArray(arr, build_volume(v));
	add_string(doc, "status", "ACTIVE");
	add_item(doc, "requiresAttributes", build_requires_attributes(td));
	v = json_arr(in, "placementConstraints");
	add_item(doc, "placementConstraints", v ? dup(v) : cJSON_CreateArray());
	add_item(doc, "compatibilities", build_compatibilities(td));
	if ((v = json_get(in, "runtimePlatform")))
		add_item(doc, "runtimePlatform", dup(v));
	if ((v = json_get(in, "requiresCompatibilities")))
		add_item(doc, "requiresCompatibilities", dup(v));
	/* stored converted: "1 vCPU" as "1024", "2 GB" as "2048" */
	if (td->cpu >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)td->cpu);
		add_string(doc, "cpu", num);
	}
	if (td->memory >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)td->memory);
		add_string(doc, "memory", num);
	}
	if ((v = json_get(in, "inferenceAccelerators")))
		add_item(doc, "inferenceAccelerators", dup(v));
	if ((v = json_get(in, "pidMode")))
		add_item(doc, "pidMode", dup(v));
	if ((v = json_get(in, "ipcMode")))
		add_item(doc, "ipcMode", dup(v));
	if ((v = json_get(in, "proxyConfiguration")))
		add_item(doc, "proxyConfiguration", dup(v));
	add_number(doc, "registeredAt", (double)ctx->now_ms);
	/*
	 * berth has access keys, not IAM users: the principal is named after
	 * the key that signed the request.
	 */
	buf_printf(&by, "arn:aws:iam::%s:%s%s", ctx->srv->account_id,
		   ctx->access_key ? "user/" : "root", ctx->access_key ? ctx->access_key : "");
	add_string(doc, "registeredBy", buf_str(&by));
	buf_release(&by);
	if ((v = json_get(in, "ephemeralStorage")))
		add_item(doc, "ephemeralStorage", dup(v));
	if ((v = json_get(in, "enableFaultInjection")))
		add_item(doc, "enableFaultInjection", dup(v));
	/* checked above: merging cannot fail */
	cJSON_AddArrayToObject(doc, "tags");
	ecs_tags_merge(doc, json_arr(in, "tags"), NULL);
	return doc;
}

int ecs_task_definition_build(const struct api_ctx *ctx, cJSON **ret_doc, struct err *err)
{
	struct td *td = calloc(1, sizeof(*td));
	int r;

	if (!td)
		abort();
	td->in = ctx->in;
	r = check(td, err);
	if (r == 0)
		*ret_doc = build(ctx, td);
	free(td);
	return r;
}
