/*
 * cli.c: what every verb of the CLI does the same way (cli.h): options,
 * connecting, calling the server and reporting its errors, printing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/banned.h"

static const struct option common[] = {
	{ "json", no_argument, NULL, CLI_OPT_JSON },
	{ "endpoint-url", required_argument, NULL, CLI_OPT_ENDPOINT },
	{ "region", required_argument, NULL, CLI_OPT_REGION },
	{ "profile", required_argument, NULL, CLI_OPT_PROFILE },
	{ "cluster", required_argument, NULL, CLI_OPT_CLUSTER },
	{ "help", no_argument, NULL, CLI_OPT_HELP },
};

void cli_init(struct cli *c, const char *prog, const struct option *own)
{
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	c->prog = prog;
	for (; own && own[n].name; n++)
		c->options[n] = own[n];
	for (size_t i = 0; i < ARRAY_SIZE(common); i++)
		c->options[n++] = common[i];
	c->options[n] = (struct option){ 0 };
	optind = 1;
	opterr = 1;
}

int cli_getopt(struct cli *c, int argc, char **argv)
{
	int opt;

	for (;;) {
		opt = getopt_long(argc, argv, c->shortopts ? c->shortopts : "", c->options, NULL);
		switch (opt) {
		case CLI_OPT_JSON: c->json = true; continue;
		case CLI_OPT_ENDPOINT: c->o.endpoint = optarg; continue;
		case CLI_OPT_REGION: c->o.region = optarg; continue;
		case CLI_OPT_PROFILE: c->o.profile = optarg; continue;
		case CLI_OPT_CLUSTER: c->o.cluster = optarg; continue;
		case CLI_OPT_HELP: return 'h';
		case ':': return '?';
		default: return opt;
		}
	}
}

int cli_usage_error(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee '%s --help'\n", c->prog);
	return 2;
}

int cli_connect(struct cli *c)
{
	struct err err = ERR_INIT;

	if (cli_config_load(&c->o, &c->cfg, &err) < 0) {
		fprintf(stderr, "%s: %s\n", c->prog, err.msg);
		return 1;
	}
	c->aws.http = httpc_new(NULL);
	if (!c->aws.http) {
		fprintf(stderr, "%s: cannot start an HTTP client\n", c->prog);
		return 1;
	}
	c->aws.endpoint = c->cfg.endpoint;
	c->aws.region = c->cfg.region;
	c->aws.cred.access_key = c->cfg.access_key;
	c->aws.cred.secret = c->cfg.secret_key;
	c->aws.cred.session_token = c->cfg.session_token[0] ? c->cfg.session_token : NULL;
	c->aws.timeout_ms = 60000;
	c->connected = true;
	return 0;
}

void cli_release(struct cli *c)
{
	if (c->connected)
		httpc_free(c->aws.http);
	c->connected = false;
}

int cli_call_quiet(struct cli *c, const char *prefix, const char *service, const char *op,
		   const char *body, cJSON **ret, struct err *ret_err)
{
	_cleanup_buf_ struct buf target = BUF_INIT, answer = BUF_INIT;
	struct err err = ERR_INIT;
	int r;

	buf_printf(&target, "%s%s", prefix, op);
	c->aws.endpoint = !strcmp(service, "logs") ? c->cfg.endpoint_logs : c->cfg.endpoint;
	r = awsclient_call(&c->aws, service, buf_str(&target), body, 0, &answer, &err);
	c->aws.endpoint = c->cfg.endpoint;
	if (r == 0) {
		*ret = cJSON_ParseWithLength(answer.data ? answer.data : "{}",
					     answer.data ? answer.len : 2);
		if (!*ret)
			r = err_set(&err, -EBADMSG, E_SERVER, "%s: the answer is not JSON", op);
	}
	if (r < 0) {
		if (ret_err)
			*ret_err = err;
		return 1;
	}
	return 0;
}

int cli_call(struct cli *c, const char *prefix, const char *service, const char *op,
	     const char *body, cJSON **ret, struct err *ret_err)
{
	struct err err = ERR_INIT;

	if (cli_call_quiet(c, prefix, service, op, body, ret, &err) == 0)
		return 0;
	/* the message is the server's: no escape sequence of its reaches the terminal */
	for (char *p = err.msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (err.code == -EPROTO)
		fprintf(stderr, "%s: %s: %s\n", c->prog, err_kind_type(err.kind), err.msg);
	else /* no answer: the transport's message names the endpoint */
		fprintf(stderr, "%s: %s (endpoint %s)\n", c->prog, err.msg,
			!strcmp(service, "logs") ? c->cfg.endpoint_logs : c->cfg.endpoint);
	if (ret_err)
		*ret_err = err;
	return 1;
}

int cli_ecs(struct cli *c, const char *op, const char *body, cJSON **ret)
{
	return cli_call(c, ECS_PREFIX, "ecs", op, body, ret, NULL);
}

int cli_ecs_req(struct cli *c, const char *op, const cJSON *req, cJSON **ret)
{
	_cleanup_buf_ struct buf body = BUF_INIT;

	json_print(&body, req);
	return cli_ecs(c, op, buf_str(&body), ret);
}

int cli_usage(int opt, const char *usage)
{
	fputs(usage, opt == 'h' ? stdout : stderr);
	return opt == 'h' ? 0 : 2;
}

void cli_print_json(const cJSON *doc)
{
	char *s = cJSON_Print(doc);

	if (!s)
		abort();
	printf("%s\n", s);
	free(s);
}

void cli_print_answer(const struct cli *c, const cJSON *answer, const char *obj, const char *member,
		      bool short_form)
{
	const char *s = json_str(json_obj(answer, obj), member);

	if (c->json)
		cli_print_json(answer);
	else
		printf("%s\n", (short_form ? cli_short(s) : s) ?: "");
}

void cli_print_table(const struct table *t)
{
	_cleanup_buf_ struct buf out = BUF_INIT;

	table_format(t, &out);
	fwrite(buf_str(&out), 1, out.len, stdout);
}

const char *cli_short(const char *arn)
{
	const char *slash = arn ? strrchr(arn, '/') : NULL;

	return slash ? slash + 1 : arn;
}

void cli_time(const cJSON *v, char *out, size_t size)
{
	struct tm tm;
	time_t t;

	if (!cJSON_IsNumber(v) || v->valuedouble <= 0 || v->valuedouble > 253402300799.0) {
		snprintf(out, size, "-");
		return;
	}
	t = (time_t)v->valuedouble;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

void cli_json_str(struct buf *b, const char *s)
{
	json_escape(b, s, strlen(s));
}

int cli_dispatch(const char *noun, const struct cli_verb *verbs, size_t n, int argc, char **argv)
{
	FILE *f = argc < 2 ? stderr : stdout;

	if (argc >= 2 && strcmp(argv[1], "help") != 0 && strcmp(argv[1], "--help") != 0) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(argv[1], verbs[i].name))
				return verbs[i].fn(argc - 1, argv + 1);
		fprintf(stderr, "berth %s: '%s' is not a verb; see 'berth %s --help'\n", noun,
			argv[1], noun);
		return 2;
	}
	fprintf(f, "usage: berth %s <verb> [options]\n\nverbs:\n", noun);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\n'berth %s VERB --help' tells more.\n", noun);
	return argc < 2 ? 2 : 0;
}

int cli_ecs_list(struct cli *c, const char *op, cJSON *req, const char *key, cJSON **ret)
{
	cJSON *all = cJSON_CreateArray();
	_cleanup_free_ char *token = NULL;

	for (unsigned pages = 0;; pages++) {
		_cleanup_json_ cJSON *answer = NULL;
		const cJSON *items, *next;

		if (pages == CLI_PAGES_MAX) {
			fprintf(stderr, "%s: %s: more than %d pages\n", c->prog, op, CLI_PAGES_MAX);
			cJSON_Delete(all);
			return 1;
		}
		if (token)
			json_set_str(req, "nextToken", token);
		if (cli_ecs_req(c, op, req, &answer)) {
			cJSON_Delete(all);
			return 1;
		}
		items = json_arr(answer, key);
		for (const cJSON *x = items ? items->child : NULL; x; x = x->next)
			cJSON_AddItemToArray(all, cJSON_Duplicate(x, true));
		next = json_get(answer, "nextToken");
		if (!cJSON_IsString(next) || !next->valuestring[0])
			break;
		if (token && !strcmp(token, next->valuestring)) {
			fprintf(stderr, "%s: %s: the server sent the same nextToken twice\n",
				c->prog, op);
			cJSON_Delete(all);
			return 1;
		}
		free(token);
		token = strdup(next->valuestring);
		if (!token)
			abort();
	}
	*ret = all;
	return 0;
}

int cli_ecs_describe(struct cli *c, const char *op, const cJSON *req, const char *arns_key,
		     const cJSON *arns, size_t batch, const char *result_key, cJSON **ret)
{
	cJSON *all = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(all, result_key),
	      *failures = cJSON_AddArrayToObject(all, "failures");
	const cJSON *x = arns ? arns->child : NULL;

	while (x) {
		_cleanup_json_ cJSON *one = cJSON_Duplicate(req, true), *answer = NULL;
		cJSON *list = cJSON_CreateArray();
		const cJSON *got;

		for (size_t n = 0; x && n < batch; x = x->next, n++)
			cJSON_AddItemToArray(list, cJSON_Duplicate(x, true));
		json_set(one, arns_key, list);
		if (cli_ecs_req(c, op, one, &answer)) {
			cJSON_Delete(all);
			return 1;
		}
		got = json_arr(answer, result_key);
		for (const cJSON *y = got ? got->child : NULL; y; y = y->next)
			cJSON_AddItemToArray(items, cJSON_Duplicate(y, true));
		got = json_arr(answer, "failures");
		for (const cJSON *y = got ? got->child : NULL; y; y = y->next)
			cJSON_AddItemToArray(failures, cJSON_Duplicate(y, true));
	}
	*ret = all;
	return 0;
}

int cli_report_failures(struct cli *c, const cJSON *answer)
{
	const cJSON *f = json_arr(answer, "failures");
	int n = 0;

	for (const cJSON *x = f ? f->child : NULL; x; x = x->next, n++)
		fprintf(stderr, "%s: %s: %s%s%s\n", c->prog, json_str(x, "arn") ?: "-",
			json_str(x, "reason") ?: "failed", json_str(x, "detail") ? ": " : "",
			json_str(x, "detail") ?: "");
	return n ? 1 : 0;
}

void cli_int(const cJSON *obj, const char *key, char *out, size_t size)
{
	const cJSON *v = json_get(obj, key);

	if (cJSON_IsNumber(v))
		snprintf(out, size, "%lld", (long long)v->valuedouble);
	else
		snprintf(out, size, "-");
}

int cli_one_run(const struct cli_one *v, int argc, char **argv)
{
	static const struct option force[] = {
		{ "force", no_argument, NULL, 1 },
		{ 0 },
	};
	_cleanup_json_ cJSON *req = cJSON_CreateObject(), *answer = NULL;
	struct cli c;
	int opt, r;

	cli_init(&c, v->prog, v->force ? force : NULL);
	while ((opt = cli_getopt(&c, argc, argv)) != -1) {
		if (opt == 1 && v->force)
			cJSON_AddBoolToObject(req, "force", true);
		else
			return cli_usage(opt, v->usage);
	}
	if (optind != argc - 1)
		return cli_usage_error(&c, "expected one %s", v->what);
	if (cli_connect(&c))
		return 1;
	if (v->in_cluster)
		json_set_str(req, "cluster", c.cfg.cluster);
	json_set_str(req, v->key, argv[optind]);
	r = cli_ecs_req(&c, v->op, req, &answer);
	cli_release(&c);
	if (r == 0)
		cli_print_answer(&c, answer, v->obj, v->member, v->short_form);
	return r;
}
