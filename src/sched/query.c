/*
 * query.c: ECS's cluster query language, for memberOf constraints:
 *
 *   expression := term (("or" | "||") term)*
 *   term       := factor (("and" | "&&") factor)*
 *   factor     := ("not" | "!") factor | "(" expression ")" | comparison
 *   comparison := subject ("exists" | "!exists" | "not_exists")
 *               | subject operator value
 *               | subject ("in" | "not_in") "[" value ("," value)* "]"
 *   operator   := "==" | "equals" | "!=" | "not_equals" | ">" | ">=" | "<" | "<="
 *               | "matches" | "!matches" | "not_matches"
 *
 * Subjects: attribute:NAME (the instance's attributes, built-in and
 * custom), agentConnected, agentVersion, ec2InstanceId, registeredAt,
 * runningTasksCount, task:group (true when any task on the instance has a
 * matching group). Values are words or "quoted strings"; `matches` takes
 * '*' as a wildcard; the order comparisons compare numbers when both sides
 * are numbers, else strings.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "sched/placement.h"
#include "core/banned.h"

#define MAX_VALUES 64
#define MAX_DEPTH  32
#define TOKEN_MAX  256

enum op {
	OP_EQ,
	OP_NE,
	OP_GT,
	OP_GE,
	OP_LT,
	OP_LE,
	OP_MATCH,
	OP_NOT_MATCH,
	OP_IN,
	OP_NOT_IN,
	OP_EXISTS,
	OP_NOT_EXISTS
};

enum node_kind { N_AND, N_OR, N_NOT, N_CMP };

struct placement_expr {
	enum node_kind kind;
	struct placement_expr *a, *b; /* N_AND, N_OR: both; N_NOT: a */
	/* N_CMP */
	char *subject;
	enum op op;
	char *values[MAX_VALUES];
	size_t n_values;
};

struct parser {
	const char *s, *p;
	int depth;
	struct err *err;
	char tok[TOKEN_MAX];
	bool quoted;
};

void placement_expr_free(struct placement_expr *e)
{
	if (!e)
		return;
	placement_expr_free(e->a);
	placement_expr_free(e->b);
	free(e->subject);
	for (size_t i = 0; i < e->n_values; i++)
		free(e->values[i]);
	free(e);
}

static void skip_space(struct parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

static bool punct(char c)
{
	return c == '(' || c == ')' || c == '[' || c == ']' || c == ',';
}

/* The next token into ps->tok without consuming it; length 0 at the end. */
static int peek(struct parser *ps, const char **ret_end)
{
	const char *p;
	size_t n;

	skip_space(ps);
	p = ps->p;
	ps->quoted = false;
	if (!*p) {
		ps->tok[0] = 0;
		*ret_end = p;
		return 0;
	}
	if (punct(*p)) {
		ps->tok[0] = *p;
		ps->tok[1] = 0;
		*ret_end = p + 1;
		return 0;
	}
	if (*p == '"' || *p == '\'') {
		const char *end = strchr(p + 1, *p);

		if (!end)
			return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
				       "expression: unterminated quote at offset %ld",
				       (long)(p - ps->s));
		n = (size_t)(end - p - 1);
		if (n >= TOKEN_MAX)
			return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
				       "expression: value too long");
		memcpy(ps->tok, p + 1, n);
		ps->tok[n] = 0;
		ps->quoted = true;
		*ret_end = end + 1;
		return 0;
	}
	/* operators made of symbols stand alone: "a==b" splits */
	if (strchr("=!<>&|", *p)) {
		n = strspn(p, "=!<>&|");
		if (*p == '!' && n == 1 && isalpha((unsigned char)p[1]))
			n = 1 + strcspn(p + 1, " \t\n\r()[],\"'=<>&|");
	} else {
		n = strcspn(p, " \t\n\r()[],\"'=!<>&|");
	}
	if (n >= TOKEN_MAX)
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER, "expression: token too long");
	memcpy(ps->tok, p, n);
	ps->tok[n] = 0;
	*ret_end = p + n;
	return 0;
}

static int next(struct parser *ps)
{
	const char *end;
	int r = peek(ps, &end);

	if (r == 0)
		ps->p = end;
	return r;
}

static bool tok_is(const struct parser *ps, const char *a, const char *b)
{
	return !ps->quoted && (!strcmp(ps->tok, a) || (b && !strcmp(ps->tok, b)));
}

static const struct {
	const char *name;
	enum op op;
} ops[] = {
	{ "==", OP_EQ },
	{ "equals", OP_EQ },
	{ "!=", OP_NE },
	{ "not_equals", OP_NE },
	{ ">", OP_GT },
	{ ">=", OP_GE },
	{ "<", OP_LT },
	{ "<=", OP_LE },
	{ "matches", OP_MATCH },
	{ "!matches", OP_NOT_MATCH },
	{ "not_matches", OP_NOT_MATCH },
	{ "in", OP_IN },
	{ "not_in", OP_NOT_IN },
	{ "exists", OP_EXISTS },
	{ "!exists", OP_NOT_EXISTS },
	{ "not_exists", OP_NOT_EXISTS },
};

static bool valid_subject(const char *s)
{
	static const char *const plain[] = { "agentConnected", "agentVersion",	    "ec2InstanceId",
					     "registeredAt",   "runningTasksCount", "task:group" };

	if (!strncmp(s, "attribute:", 10))
		return s[10] != 0;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(s, plain[i]))
			return true;
	return false;
}

static int add_value(struct parser *ps, struct placement_expr *e)
{
	if (e->n_values >= MAX_VALUES)
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: more than %d values in a list", MAX_VALUES);
	e->values[e->n_values] = strdup(ps->tok);
	if (!e->values[e->n_values])
		return err_set(ps->err, -ENOMEM, E_SERVER, "out of memory");
	e->n_values++;
	return 0;
}

static int parse_expression(struct parser *ps, struct placement_expr **ret);

static int parse_comparison(struct parser *ps, struct placement_expr **ret)
{
	struct placement_expr *e = calloc(1, sizeof(*e));
	bool found = false;
	int r;

	if (!e)
		return err_set(ps->err, -ENOMEM, E_SERVER, "out of memory");
	e->kind = N_CMP;
	if (!ps->tok[0] || (punct(ps->tok[0]) && !ps->quoted) || !valid_subject(ps->tok)) {
		r = err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			    "expression: '%.64s' is not something an expression can test "
			    "(attribute:NAME, agentConnected, agentVersion, ec2InstanceId, "
			    "registeredAt, runningTasksCount, task:group)",
			    ps->tok[0] ? ps->tok : "the end");
		goto fail;
	}
	e->subject = strdup(ps->tok);
	r = next(ps);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !ps->quoted; i++)
		if (!strcmp(ps->tok, ops[i].name)) {
			e->op = ops[i].op;
			found = true;
		}
	if (!found) {
		r = err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			    "expression: expected an operator after %s, found '%.64s'", e->subject,
			    ps->tok[0] ? ps->tok : "the end");
		goto fail;
	}
	if (e->op == OP_EXISTS || e->op == OP_NOT_EXISTS) {
		r = next(ps);
		goto done;
	}
	r = next(ps);
	if (r < 0)
		goto fail;
	if (e->op == OP_IN || e->op == OP_NOT_IN) {
		if (!tok_is(ps, "[", NULL)) {
			r = err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
				    "expression: '%s' takes a list [a, b, ...]",
				    e->op == OP_IN ? "in" : "not_in");
			goto fail;
		}
		for (;;) {
			r = next(ps);
			if (r < 0)
				goto fail;
			if (!ps->tok[0] || (!ps->quoted && punct(ps->tok[0]))) {
				r = err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
					    "expression: expected a value in the list");
				goto fail;
			}
			r = add_value(ps, e);
			if (r < 0)
				goto fail;
			r = next(ps);
			if (r < 0)
				goto fail;
			if (tok_is(ps, "]", NULL))
				break;
			if (!tok_is(ps, ",", NULL)) {
				r = err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
					    "expression: expected ',' or ']' in the list");
				goto fail;
			}
		}
		r = next(ps);
		goto done;
	}
	if (!ps->tok[0] || (!ps->quoted && punct(ps->tok[0]))) {
		r = err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			    "expression: expected a value after the operator");
		goto fail;
	}
	r = add_value(ps, e);
	if (r == 0)
		r = next(ps);
done:
	if (r < 0)
		goto fail;
	*ret = e;
	return 0;
fail:
	placement_expr_free(e);
	return r;
}

static int parse_factor(struct parser *ps, struct placement_expr **ret)
{
	int r;

	if (++ps->depth > MAX_DEPTH)
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: nested too deeply");
	if (tok_is(ps, "not", "!")) {
		struct placement_expr *e = calloc(1, sizeof(*e));

		if (!e)
			return err_set(ps->err, -ENOMEM, E_SERVER, "out of memory");
		e->kind = N_NOT;
		r = next(ps);
		if (r == 0)
			r = parse_factor(ps, &e->a);
		if (r < 0) {
			placement_expr_free(e);
			return r;
		}
		*ret = e;
	} else if (tok_is(ps, "(", NULL)) {
		r = next(ps);
		if (r == 0)
			r = parse_expression(ps, ret);
		if (r < 0)
			return r;
		if (!tok_is(ps, ")", NULL)) {
			placement_expr_free(*ret);
			*ret = NULL;
			return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
				       "expression: missing ')'");
		}
		r = next(ps);
		if (r < 0) {
			placement_expr_free(*ret);
			*ret = NULL;
			return r;
		}
	} else {
		r = parse_comparison(ps, ret);
		if (r < 0)
			return r;
	}
	ps->depth--;
	return 0;
}

static int parse_binary(struct parser *ps, struct placement_expr **ret, bool is_or)
{
	struct placement_expr *left = NULL;
	int r = is_or ? parse_binary(ps, &left, false) : parse_factor(ps, &left);

	if (r < 0)
		return r;
	while (is_or ? tok_is(ps, "or", "||") : tok_is(ps, "and", "&&")) {
		struct placement_expr *e = calloc(1, sizeof(*e));

		if (!e) {
			placement_expr_free(left);
			return err_set(ps->err, -ENOMEM, E_SERVER, "out of memory");
		}
		e->kind = is_or ? N_OR : N_AND;
		e->a = left;
		left = e;
		r = next(ps);
		if (r == 0)
			r = is_or ? parse_binary(ps, &e->b, false) : parse_factor(ps, &e->b);
		if (r < 0) {
			placement_expr_free(left);
			return r;
		}
	}
	*ret = left;
	return 0;
}

static int parse_expression(struct parser *ps, struct placement_expr **ret)
{
	return parse_binary(ps, ret, true);
}

int placement_expr_parse(const char *s, struct placement_expr **ret, struct err *err)
{
	struct parser ps = { .s = s, .p = s, .err = err };
	int r;

	*ret = NULL;
	if (!s || !*s)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "expression: empty");
	if (strlen(s) > PLACEMENT_EXPR_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: longer than %d characters", PLACEMENT_EXPR_MAX);
	r = next(&ps);
	if (r == 0)
		r = parse_expression(&ps, ret);
	if (r == 0 && ps.tok[0]) {
		placement_expr_free(*ret);
		*ret = NULL;
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "expression: unexpected '%.64s' at offset %ld", ps.tok,
			    (long)(ps.p - s - (long)strlen(ps.tok)));
	}
	return r;
}

/* --- evaluation -------------------------------------------------------- */

static bool number(const char *s, double *ret)
{
	char *end;

	if (!s || !*s)
		return false;
	*ret = strtod(s, &end);
	return *end == 0;
}

static bool compare(enum op op, const char *have, const struct placement_expr *e)
{
	double a, b;
	int c;

	switch (op) {
	case OP_EQ: return !strcmp(have, e->values[0]);
	case OP_NE: return strcmp(have, e->values[0]) != 0;
	case OP_MATCH: return fnmatch(e->values[0], have, 0) == 0;
	case OP_NOT_MATCH: return fnmatch(e->values[0], have, 0) != 0;
	case OP_IN:
	case OP_NOT_IN: {
		bool in = false;

		for (size_t i = 0; i < e->n_values && !in; i++)
			in = !strcmp(have, e->values[i]);
		return op == OP_IN ? in : !in;
	}
	default: break;
	}
	if (number(have, &a) && number(e->values[0], &b))
		c = a < b ? -1 : a > b ? 1 : 0;
	else
		c = strcmp(have, e->values[0]);
	return op == OP_GT ? c > 0 : op == OP_GE ? c >= 0 : op == OP_LT ? c < 0 : c <= 0;
}

/* The subject's value on inst into buf; false when the instance has none. */
static bool subject_value(const char *subject, const struct placement_instance *inst, char *buf,
			  size_t n)
{
	const cJSON *doc = inst->doc;

	if (!strncmp(subject, "attribute:", 10)) {
		const cJSON *attrs = json_arr(doc, "attributes");

		for (const cJSON *a = attrs ? attrs->child : NULL; a; a = a->next)
			if (json_str(a, "name") && !strcmp(json_str(a, "name"), subject + 10)) {
				snprintf(buf, n, "%s", json_str(a, "value") ?: "");
				return true;
			}
		return false;
	}
	if (!strcmp(subject, "agentConnected")) {
		snprintf(buf, n, "%s", json_bool(doc, "agentConnected", false) ? "true" : "false");
		return true;
	}
	if (!strcmp(subject, "agentVersion")) {
		const char *v = json_str(json_obj(doc, "versionInfo"), "agentVersion");

		snprintf(buf, n, "%s", v ?: "");
		return v != NULL;
	}
	if (!strcmp(subject, "ec2InstanceId")) {
		snprintf(buf, n, "%s", json_str(doc, "ec2InstanceId") ?: "");
		return json_str(doc, "ec2InstanceId") != NULL;
	}
	if (!strcmp(subject, "registeredAt")) {
		snprintf(buf, n, "%lld", (long long)json_int(doc, "registeredAt", 0));
		return true;
	}
	if (!strcmp(subject, "runningTasksCount")) {
		snprintf(buf, n, "%lld", (long long)json_int(doc, "runningTasksCount", 0));
		return true;
	}
	return false;
}

static bool eval_cmp(const struct placement_expr *e, const struct placement_instance *inst)
{
	char have[TOKEN_MAX];
	bool exists;

	if (!strcmp(e->subject, "task:group")) {
		/* true when one of the instance's tasks satisfies it */
		bool any = false;

		for (size_t i = 0; i < inst->n_tasks && !any; i++) {
			const char *g = json_str(inst->tasks[i], "group");

			if (e->op == OP_EXISTS)
				any = g != NULL;
			else if (g && e->op != OP_NOT_EXISTS)
				any = compare(e->op, g, e);
		}
		return e->op == OP_NOT_EXISTS ? inst->n_tasks == 0 : any;
	}
	exists = subject_value(e->subject, inst, have, sizeof(have));
	if (e->op == OP_EXISTS)
		return exists;
	if (e->op == OP_NOT_EXISTS)
		return !exists;
	if (!exists)
		return e->op == OP_NE || e->op == OP_NOT_IN || e->op == OP_NOT_MATCH;
	return compare(e->op, have, e);
}

bool placement_expr_match(const struct placement_expr *e, const struct placement_instance *inst)
{
	switch (e->kind) {
	case N_AND: return placement_expr_match(e->a, inst) && placement_expr_match(e->b, inst);
	case N_OR: return placement_expr_match(e->a, inst) || placement_expr_match(e->b, inst);
	case N_NOT: return !placement_expr_match(e->a, inst);
	case N_CMP: return eval_cmp(e, inst);
	}
	return false;
}
