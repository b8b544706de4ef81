/*
 * taskdef.c: `berth taskdef register|ls|show|rm`, over
 * RegisterTaskDefinition (taking the very JSON that `aws ecs
 * register-task-definition --cli-input-json` takes), ListTaskDefinitions,
 * DescribeTaskDefinition and DeregisterTaskDefinition.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "main.h"
#include "core/banned.h"

/* RegisterTaskDefinition's input is at most what the server reads (http.h: 1 MiB). */
#define INPUT_MAX (1u << 20)

static int read_input(struct cli *c, const char *path, struct buf *ret)
{
	char chunk[8192];
	size_t n;
	int r;

	if (strcmp(path, "-") != 0) {
		r = fs_read_file(path, INPUT_MAX, ret);
		if (r < 0) {
			fprintf(stderr, "%s: reading '%s': %s\n", c->prog, path,
				r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
			return 1;
		}
		return 0;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		buf_append(ret, chunk, n);
		if (ret->len > INPUT_MAX) {
			fprintf(stderr, "%s: the standard input holds more than 1 MiB\n", c->prog);
			return 1;
		}
	}
	if (ferror(stdin)) {
		fprintf(stderr, "%s: reading the standard input: %s\n", c->prog, strerror(errno));
		return 1;
	}
	return 0;
}

static int do_register(int argc, char **argv)
{
	static const char usage[] =
		"usage: berth taskdef register [options] FILE.json|-\n"
		"\n"
		"Register a task definition from a JSON file (or the standard input): the\n"
		"document `aws ecs register-task-definition --cli-input-json` takes\n"
		"({\"family\", \"containerDefinitions\", ...}). Prints the new revision's ARN.\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_buf_ struct buf input = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL, *answer = NULL;
	const char *end = NULL;
	int opt, r;

	cli_init(&c, "berth taskdef register", NULL);
	while ((opt = cli_getopt(&c, argc, argv)) != -1)
		return cli_usage(opt, usage);
	if (optind != argc - 1)
		return cli_usage_error(&c, "expected one file (or - for the standard input)");
	if (read_input(&c, argv[optind], &input))
		return 1;
	doc = cJSON_ParseWithLengthOpts(input.data ? input.data : "", input.len, &end, false);
	if (!doc) {
		fprintf(stderr, "%s: '%s' is not JSON (near byte %zu)\n", c.prog, argv[optind],
			end && input.data ? (size_t)(end - input.data) : (size_t)0);
		return 1;
	}
	if (!cJSON_IsObject(doc)) {
		fprintf(stderr, "%s: '%s' must hold one JSON object\n", c.prog, argv[optind]);
		return 1;
	}
	if (cli_connect(&c))
		return 1;
	r = cli_ecs_req(&c, "RegisterTaskDefinition", doc, &answer);
	cli_release(&c);
	if (r)
		return r;
	cli_print_answer(&c, answer, "taskDefinition", "taskDefinitionArn", false);
	return 0;
}

static int ls(int argc, char **argv)
{
	enum { OPT_FAMILY = 1, OPT_ALL };
	static const struct option own[] = {
		{ "family", required_argument, NULL, OPT_FAMILY },
		{ "all", no_argument, NULL, OPT_ALL },
		{ 0 },
	};
	static const char usage[] =
		"usage: berth taskdef ls [options]\n"
		"\n"
		"List the task definitions' revisions: FAMILY REVISION ARN.\n"
		"\n"
		"  --family FAMILY       only the revisions of this family\n"
		"  --all                 INACTIVE (deregistered) revisions too\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *arns = NULL;
	bool all = false;
	struct table t;
	int opt, r;

	cli_init(&c, "berth taskdef ls", own);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		switch (opt) {
		case OPT_FAMILY:
			json_set_str(req, "familyPrefix", optarg) /* ECS: the whole name */;
			break;
		case OPT_ALL: all = true; break;
		default: return cli_usage(opt, usage);
		}
	}
	if (optind != argc)
		return cli_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	if (!all)
		json_set_str(req, "status", "ACTIVE");
	if (cli_connect(&c))
		return 1;
	r = cli_ecs_list(&c, "ListTaskDefinitions", req, "taskDefinitionArns", &arns);
	cli_release(&c);
	if (r)
		return r;
	if (c.json) {
		cJSON *out = cJSON_CreateObject();

		cJSON_AddItemToObject(out, "taskDefinitionArns", cJSON_Duplicate(arns, true));
		cli_print_json(out);
		cJSON_Delete(out);
		return 0;
	}
	table_init(&t, 3, (const char *const[]){ "FAMILY", "REVISION", "ARN" });
	for (const cJSON *x = arns->child; x; x = x->next) {
		char family[512];
		const char *name = cJSON_IsString(x) ? cli_short(x->valuestring) : "";
		const char *colon = strrchr(name, ':');

		snprintf(family, sizeof(family), "%.*s",
			 (int)(colon ? (size_t)(colon - name) : strlen(name)), name);
		table_add(&t, (const char *const[]){ family, colon ? colon + 1 : "-",
						     cJSON_IsString(x) ? x->valuestring : "" });
	}
	cli_print_table(&t);
	table_release(&t);
	return 0;
}

/* "80->8080/tcp, 53/udp" of a container's portMappings. */
static void ports(const cJSON *container, struct buf *out)
{
	const cJSON *pm = json_arr(container, "portMappings");

	for (const cJSON *p = pm ? pm->child : NULL; p; p = p->next) {
		if (out->len)
			buf_puts(out, ", ");
		if (json_int(p, "hostPort", 0))
			buf_printf(out, "%lld->", (long long)json_int(p, "hostPort", 0));
		buf_printf(out, "%lld/%s", (long long)json_int(p, "containerPort", 0),
			   json_str(p, "protocol") ?: "tcp");
	}
	if (!out->len)
		buf_puts(out, "-");
}

static int show(int argc, char **argv)
{
	static const char usage[] =
		"usage: berth taskdef show [options] FAMILY[:REVISION]|ARN\n"
		"\n"
		"Show a task definition (the latest ACTIVE revision of a family) and its\n"
		"containers: NAME IMAGE CPU MEMORY ESSENTIAL PORTS.\n"
		"\n" CLI_COMMON_HELP;
	struct cli c;
	_cleanup_json_ cJSON *answer = NULL;
	_cleanup_buf_ struct buf body = BUF_INIT;
	const cJSON *td, *list;
	struct table t;
	int opt, r;

	cli_init(&c, "berth taskdef show", NULL);
	while ((opt = cli_getopt(&c, argc, argv)) != -1)
		return cli_usage(opt, usage);
	if (optind != argc - 1)
		return cli_usage_error(&c, "expected one task definition");
	if (cli_connect(&c))
		return 1;
	buf_puts(&body, "{\"taskDefinition\":");
	cli_json_str(&body, argv[optind]);
	buf_putc(&body, '}');
	r = cli_ecs(&c, "DescribeTaskDefinition", buf_str(&body), &answer);
	cli_release(&c);
	if (r)
		return r;
	if (c.json) {
		cli_print_json(answer);
		return 0;
	}
	td = json_obj(answer, "taskDefinition");
	printf("ARN:          %s\n", json_str(td, "taskDefinitionArn") ?: "-");
	printf("Family:       %s\n", json_str(td, "family") ?: "-");
	printf("Revision:     %lld\n", (long long)json_int(td, "revision", 0));
	printf("Status:       %s\n", json_str(td, "status") ?: "-");
	printf("Network mode: %s\n", json_str(td, "networkMode") ?: "bridge");
	printf("CPU:          %s\n", json_str(td, "cpu") ?: "-");
	printf("Memory:       %s\n", json_str(td, "memory") ?: "-");
	printf("\n");
	table_init(&t, 6,
		   (const char *const[]){ "NAME", "IMAGE", "CPU", "MEMORY", "ESSENTIAL", "PORTS" });
	list = json_arr(td, "containerDefinitions");
	for (const cJSON *x = list ? list->child : NULL; x; x = x->next) {
		_cleanup_buf_ struct buf p = BUF_INIT;
		char cpu[24], mem[24];

		cli_int(x, "cpu", cpu, sizeof(cpu));
		cli_int(x, "memory", mem, sizeof(mem));
		if (!strcmp(mem, "-"))
			cli_int(x, "memoryReservation", mem, sizeof(mem));
		ports(x, &p);
		table_add(&t, (const char *const[]){ json_str(x, "name"), json_str(x, "image"), cpu,
						     mem,
						     json_bool(x, "essential", true) ? "yes" : "no",
						     buf_str(&p) });
	}
	cli_print_table(&t);
	table_release(&t);
	return 0;
}

static int rm(int argc, char **argv)
{
	static const struct cli_one v = {
		.prog = "berth taskdef rm",
		.usage = "usage: berth taskdef rm [options] FAMILY:REVISION|ARN\n"
			 "\n"
			 "Deregister a revision (it becomes INACTIVE: running tasks keep it).\n"
			 "\n" CLI_COMMON_HELP,
		.what = "FAMILY:REVISION",
		.op = "DeregisterTaskDefinition",
		.key = "taskDefinition",
		.obj = "taskDefinition",
		.member = "taskDefinitionArn",
	};

	return cli_one_run(&v, argc, argv);
}

static const struct cli_verb verbs[] = {
	{ "register", do_register, "register a task definition from its JSON" },
	{ "ls", ls, "list the task definitions" },
	{ "show", show, "show a task definition" },
	{ "rm", rm, "deregister a task definition revision" },
};

int cmd_taskdef(int argc, char **argv)
{
	return cli_dispatch("taskdef", verbs, ARRAY_SIZE(verbs), argc, argv);
}
