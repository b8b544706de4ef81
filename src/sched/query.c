/*
 * query.c: ECS's cluster query language (developer guide, "Cluster query
 * language"), for memberOf constraints and ListContainerInstances' filter:
 *
 *   expression := term (("or" | "||") term)*
 *   term       := factor (("and" | "&&") factor)*
 *   factor     := ("not" | "!") factor | "(" expression ")" | comparison
 *   comparison := subject ("exists" | "!exists" | "not_exists")
 *               | subject ("in" | "!in" | "not_in") "[" value ("," value)* "]"
 *               | subject ("=~" | "matches" | "!~" | "not_matches") pattern
 *               | subject operator value
 *   operator   := "==" | "equals" | "!=" | "not_equals" | ">" | "greater_than"
 *               | ">=" | "greater_than_equal" | "<" | "less_than"
 *               | "<=" | "less_than_equal"
 *
 * Words and keywords are case-insensitive; subjects and values are not.
 * A value is a word or a 'quoted' or "quoted" string. A pattern is a
 * regular expression (ECS documents Java's; berth compiles it as a POSIX
 * extended one, with \d and \D, which covers what placement expressions
 * use) that must match the whole value; unquoted, it runs to the next
 * space outside its parentheses and brackets, or to a ')' that closes the
 * expression's own parenthesis. Patterns are compiled when the expression
 * is parsed, so a bad one is an InvalidParameterException then. As
 * expressions come from any client, backreferences (what makes matching
 * exponential) are refused, and so are repetitions of repetitions
 * ("(a+)*", "a+*") and copies of more than 1000 nodes ("a{2000}"), which
 * make regcomp's work explode.
 */
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "sched/placement.h"
#include "core/banned.h"

#define MAX_VALUES	 64 /* in one [list] */
#define MAX_DEPTH	 32 /* nested factors */
#define TOKEN_MAX	 256
#define PATTERN_COST_MAX 1000 /* see struct cost */

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

enum subject {
	SUBJ_ATTRIBUTE,
	SUBJ_AGENT_CONNECTED,
	SUBJ_AGENT_VERSION,
	SUBJ_EC2_INSTANCE_ID,
	SUBJ_REGISTERED_AT,
	SUBJ_RUNNING_TASKS_COUNT,
	SUBJ_TASK_GROUP
};

enum node_kind { N_AND, N_OR, N_NOT, N_CMP };

struct placement_expr {
	enum node_kind kind;
	struct placement_expr *a, *b; /* N_AND, N_OR: both; N_NOT: a */
	/* N_CMP */
	enum subject subject;
	char *attribute; /* SUBJ_ATTRIBUTE: its name */
	enum op op;
	char *values[MAX_VALUES];
	size_t n_values;
	int64_t when_ms; /* SUBJ_REGISTERED_AT: the value as a time */
	regex_t re;	 /* OP_MATCH, OP_NOT_MATCH */
	bool has_re;
};

struct parser {
	const char *s, *p; /* the expression, and where the next token starts */
	const char *at;	   /* where the current token started */
	int depth;
	struct err *err;
	char tok[TOKEN_MAX];
	bool quoted;
};

static const struct {
	const char *name;
	enum op op;
} ops[] = {
	{ "==", OP_EQ },
	{ "equals", OP_EQ },
	{ "!=", OP_NE },
	{ "not_equals", OP_NE },
	{ ">", OP_GT },
	{ "greater_than", OP_GT },
	{ ">=", OP_GE },
	{ "greater_than_equal", OP_GE },
	{ "<", OP_LT },
	{ "less_than", OP_LT },
	{ "<=", OP_LE },
	{ "less_than_equal", OP_LE },
	{ "=~", OP_MATCH },
	{ "matches", OP_MATCH },
	{ "!~", OP_NOT_MATCH },
	{ "not_matches", OP_NOT_MATCH },
	{ "in", OP_IN },
	{ "!in", OP_NOT_IN },
	{ "not_in", OP_NOT_IN },
	{ "exists", OP_EXISTS },
	{ "!exists", OP_NOT_EXISTS },
	{ "not_exists", OP_NOT_EXISTS },
};

static const struct {
	const char *name;
	enum subject subject;
} subjects[] = {
	{ "agentConnected", SUBJ_AGENT_CONNECTED },	   { "agentVersion", SUBJ_AGENT_VERSION },
	{ "ec2InstanceId", SUBJ_EC2_INSTANCE_ID },	   { "registeredAt", SUBJ_REGISTERED_AT },
	{ "runningTasksCount", SUBJ_RUNNING_TASKS_COUNT }, { "task:group", SUBJ_TASK_GROUP },
};

void placement_expr_free(struct placement_expr *e)
{
	if (!e)
		return;
	placement_expr_free(e->a);
	placement_expr_free(e->b);
	free(e->attribute);
	for (size_t i = 0; i < e->n_values; i++)
		free(e->values[i]);
	if (e->has_re)
		regfree(&e->re);
	free(e);
}

/* --- tokens ------------------------------------------------------------ */

static int syntax(struct parser *ps, const char *what)
{
	return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
		       "expression: %s at offset %ld, found '%.64s'", what, (long)(ps->at - ps->s),
		       ps->tok[0] || ps->quoted ? ps->tok : "the end");
}

static bool punct(char c)
{
	return c == '(' || c == ')' || c == '[' || c == ']' || c == ',';
}

static bool symbol(char c)
{
	return c && strchr("=!<>&|~", c) != NULL;
}

static int set_token(struct parser *ps, const char *start, size_t n, const char *end, bool quoted)
{
	ps->at = start;
	if (n >= TOKEN_MAX)
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: token longer than %d characters at offset %ld",
			       TOKEN_MAX - 1, (long)(start - ps->s));
	memcpy(ps->tok, start + quoted, n);
	ps->tok[n] = 0;
	ps->quoted = quoted;
	ps->p = end;
	return 0;
}

/* A quoted string starting at p into the token. */
static int quoted(struct parser *ps, const char *p)
{
	const char *end = strchr(p + 1, *p);

	if (!end) {
		ps->at = p;
		ps->tok[0] = 0;
		ps->quoted = false;
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: unterminated quote at offset %ld", (long)(p - ps->s));
	}
	return set_token(ps, p, (size_t)(end - p - 1), end + 1, true);
}

/* Read the next token into ps->tok; "" at the end. */
static int next(struct parser *ps)
{
	const char *p = ps->p;
	size_t n;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return set_token(ps, p, 0, p, false);
	if (punct(*p))
		return set_token(ps, p, 1, p + 1, false);
	if (*p == '"' || *p == '\'')
		return quoted(ps, p);
	if (symbol(*p)) {
		n = strspn(p, "=!<>&|~");
		/* "!exists", "!in": one operator; "!attribute:x exists": "!" and a subject */
		if (n == 1 && *p == '!' && isalpha((unsigned char)p[1])) {
			size_t w = strcspn(p + 1, " \t\n\r()[],\"'=!<>&|~");

			if ((w == 6 && !strncasecmp(p + 1, "exists", 6)) ||
			    (w == 2 && !strncasecmp(p + 1, "in", 2)))
				n = 1 + w;
		}
		return set_token(ps, p, n, p + n, false);
	}
	n = strcspn(p, " \t\n\r()[],\"'=!<>&|~");
	return set_token(ps, p, n, p + n, false);
}

/*
 * Read a pattern: quoted, or up to the next space (or "&&", "||") outside
 * the pattern's own parentheses and brackets, or to a ')' it did not open.
 */
static int next_pattern(struct parser *ps)
{
	const char *p = ps->p, *q;
	int depth = 0;
	bool bracket = false;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '"' || *p == '\'')
		return quoted(ps, p);
	for (q = p; *q; q++) {
		if (*q == '\\' && q[1]) {
			q++;
			continue;
		}
		if (bracket) {
			/* "[]a]" and "[^]a]": a ']' first in a bracket is one of its characters */
			if (*q == ']' && q[-1] != '[' && !(q[-1] == '^' && q[-2] == '['))
				bracket = false;
			continue;
		}
		if (*q == '[')
			bracket = true;
		else if (*q == '(')
			depth++;
		else if (*q == ')' && depth-- == 0)
			break;
		else if (depth == 0 && (isspace((unsigned char)*q) || !strncmp(q, "&&", 2) ||
					!strncmp(q, "||", 2)))
			break;
	}
	return set_token(ps, p, (size_t)(q - p), q, false);
}

static bool tok_is(const struct parser *ps, const char *a, const char *b)
{
	return !ps->quoted && (!strcasecmp(ps->tok, a) || (b && !strcasecmp(ps->tok, b)));
}

static bool at_value(const struct parser *ps)
{
	return ps->quoted || (ps->tok[0] && !punct(ps->tok[0]) && !symbol(ps->tok[0]));
}

/* --- values ------------------------------------------------------------ */

static bool whole_number(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno)
		return false;
	*ret = v;
	return true;
}

static bool digits(const char **p, int n, int *ret)
{
	*ret = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return false;
		*ret = *ret * 10 + (**p - '0');
	}
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * The dates registeredAt compares with, as milliseconds since the epoch:
 * 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28
 * (UTC), 2018-06-18.
 */
static bool parse_date(const char *s, int64_t *ret_ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	const char *p = s;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return false;
	if (*p == 'T') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
		    !digits(&p, 2, &sec))
			return false;
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p++ == '+' ? 1 : -1;
			if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 ||
			    om > 59)
				return false;
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return false;
	*ret_ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
		   sign * (oh * 3600 + om * 60)) *
		  1000;
	return true;
}

/*
 * What a pattern costs glibc's regcomp. Two things make it explode:
 * repetitions of repetitions ("(a*)+", "a+*+++"), whose epsilon closures
 * grow exponentially with their nesting (measured: "a+*+++++" takes
 * seconds), and copies: "x+" holds x twice and "x{n,m}" m + 1 times. So
 * a repetition may not apply to what already repeats, and the pattern may
 * hold at most PATTERN_COST_MAX nodes, roughly counted; the count
 * saturates just above it.
 */
struct cost {
	int64_t sum[MAX_DEPTH + 1];  /* per open group: its nodes so far */
	bool repeats[MAX_DEPTH + 1]; /* per open group: it holds a repetition */
	int64_t last;		     /* the last atom's, or group's, nodes */
	bool last_repeats;	     /* the last atom is, or holds, a repetition */
	int depth;
};

static int64_t sat(int64_t v)
{
	return v > PATTERN_COST_MAX ? PATTERN_COST_MAX + 1 : v;
}

static void cost_atom(struct cost *c, int64_t nodes, bool repeats)
{
	c->last = nodes;
	c->last_repeats = repeats;
	c->sum[c->depth] = sat(c->sum[c->depth] + nodes);
}

/* Repeat the last atom, with up to copies more copies of it. */
static const char *cost_repeat(struct cost *c, int64_t copies)
{
	if (c->last_repeats)
		return "it repeats a repetition ((a+)*, a*+ ...)";
	c->sum[c->depth] = sat(c->sum[c->depth] + sat(c->last * copies));
	c->last = sat(c->last * (copies + 1));
	c->last_repeats = c->repeats[c->depth] = true;
	return NULL;
}

/* The larger bound of the interval at p ("{3}", "{2,5}", "{2,}"), or -1. */
static int64_t interval(const char *p)
{
	int64_t max = -1, v;

	for (p++;; p++) {
		if (*p == '}')
			return max;
		if (*p == ',')
			continue;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (v = 0; isdigit((unsigned char)*p); p++)
			v = sat(v * 10 + (*p - '0'));
		max = v > max ? v : max;
		p--;
	}
}

/*
 * Check a pattern and write it anchored, with Java's \d and \D as POSIX
 * brackets, into out. Returns NULL, or what is wrong with it.
 */
static const char *rewrite_pattern(const char *pat, char *out, size_t n)
{
	struct cost c = { .depth = 0 };
	const char *why = NULL;
	size_t o = 0;
	bool bracket = false;

#define PUT(str)                                          \
	do {                                              \
		size_t l_ = strlen(str);                  \
		if (o + l_ >= n)                          \
			return "the pattern is too long"; \
		memcpy(out + o, str, l_);                 \
		o += l_;                                  \
	} while (0)

	PUT("^(");
	for (const char *p = pat; *p && !why; p++) {
		char one[2] = { *p, 0 };

		if (*p == '\\') {
			if (!p[1])
				return "the pattern ends with a backslash";
			if (p[1] >= '1' && p[1] <= '9')
				return "backreferences are not supported";
			if (!bracket && (p[1] == 'd' || p[1] == 'D')) {
				PUT(p[1] == 'd' ? "[0-9]" : "[^0-9]");
			} else {
				char two[3] = { p[0], p[1], 0 };

				PUT(two);
			}
			if (!bracket)
				cost_atom(&c, 1, false);
			p++;
			continue;
		}
		PUT(one);
		if (bracket) {
			if (*p == ']' && p[-1] != '[' && !(p[-1] == '^' && p[-2] == '['))
				bracket = false;
			continue;
		}
		switch (*p) {
		case '[':
			bracket = true;
			cost_atom(&c, 1, false);
			break;
		case '(':
			if (c.depth == MAX_DEPTH)
				return "its groups are nested too deeply";
			c.depth++;
			c.sum[c.depth] = 0;
			c.repeats[c.depth] = false;
			break;
		case ')':
			/* one the anchoring "^(...)$" would take for its own */
			if (c.depth == 0)
				return "it closes a parenthesis it did not open";
			c.depth--;
			cost_atom(&c, c.sum[c.depth + 1] ? c.sum[c.depth + 1] : 1,
				  c.repeats[c.depth + 1]);
			c.repeats[c.depth] |= c.repeats[c.depth + 1];
			break;
		case '*':
		case '?': why = cost_repeat(&c, 0); break;
		case '+': why = cost_repeat(&c, 1); break;
		case '{':
			if (interval(p) >= 0)
				why = cost_repeat(&c, interval(p));
			else
				cost_atom(&c, 1, false);
			break;
		case '|':
		case '^':
		case '$': c.last_repeats = false; break;
		default: cost_atom(&c, 1, false);
		}
		if (c.sum[c.depth] > PATTERN_COST_MAX || c.last > PATTERN_COST_MAX)
			return "it is too large (its repetitions copy too much)";
	}
	if (why)
		return why;
	PUT(")$");
	out[o] = 0;
	return NULL;
#undef PUT
}

static int compile_pattern(struct parser *ps, struct placement_expr *e)
{
	char anchored[2 * TOKEN_MAX + 16];
	const char *why = rewrite_pattern(e->values[0], anchored, sizeof(anchored));
	int r;

	if (!why) {
		r = regcomp(&e->re, anchored, REG_EXTENDED | REG_NOSUB);
		if (r == 0) {
			e->has_re = true;
			return 0;
		}
		why = r == REG_ESPACE ? "it is too large" : "it is not a valid regular expression";
	}
	return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
		       "expression: pattern '%.64s' at offset %ld: %s", e->values[0],
		       (long)(ps->at - ps->s), why);
}

/* --- parsing ----------------------------------------------------------- */

static int add_value(struct parser *ps, struct placement_expr *e)
{
	if (e->n_values >= MAX_VALUES)
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: more than %d values in a list at offset %ld",
			       MAX_VALUES, (long)(ps->at - ps->s));
	e->values[e->n_values] = strdup(ps->tok);
	if (!e->values[e->n_values])
		return err_set(ps->err, -ENOMEM, E_SERVER, "out of memory");
	e->n_values++;
	return 0;
}

static int parse_subject(struct parser *ps, struct placement_expr *e)
{
	if (!ps->quoted && !strncmp(ps->tok, "attribute:", 10) && ps->tok[10]) {
		e->subject = SUBJ_ATTRIBUTE;
		e->attribute = strdup(ps->tok + 10);
		return e->attribute ? 0 : err_set(ps->err, -ENOMEM, E_SERVER, "out of memory");
	}
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]) && !ps->quoted; i++)
		if (!strcmp(ps->tok, subjects[i].name)) {
			e->subject = subjects[i].subject;
			return 0;
		}
	return syntax(ps, "expected attribute:NAME, agentConnected, agentVersion, "
			  "ec2InstanceId, registeredAt, runningTasksCount or task:group");
}

static const char *subject_name(enum subject subject)
{
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
		if (subjects[i].subject == subject)
			return subjects[i].name;
	return "attribute:NAME";
}

/* Whether the developer guide lets op test subject (it lists them per subject). */
static bool op_allowed(enum subject subject, enum op op)
{
	bool order = op == OP_GT || op == OP_GE || op == OP_LT || op == OP_LE;
	bool set = op == OP_IN || op == OP_NOT_IN || op == OP_MATCH || op == OP_NOT_MATCH;

	switch (subject) {
	case SUBJ_AGENT_CONNECTED:
	case SUBJ_EC2_INSTANCE_ID:
	case SUBJ_TASK_GROUP: return !order;
	case SUBJ_AGENT_VERSION:
	case SUBJ_REGISTERED_AT:
	case SUBJ_RUNNING_TASKS_COUNT: return !set;
	case SUBJ_ATTRIBUTE: break;
	}
	return true;
}

/* Check the values against what the subject holds. */
static int check_values(struct parser *ps, struct placement_expr *e)
{
	int64_t n;

	if (e->op == OP_MATCH || e->op == OP_NOT_MATCH)
		return compile_pattern(ps, e);
	if (e->subject == SUBJ_REGISTERED_AT && !parse_date(e->values[0], &e->when_ms))
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: registeredAt takes a date (2018-06-18T22:28:28Z, "
			       "2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28 or 2018-06-18), "
			       "not '%.64s'",
			       e->values[0]);
	if (e->subject == SUBJ_RUNNING_TASKS_COUNT && !whole_number(e->values[0], &n))
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: runningTasksCount takes a number, not '%.64s'",
			       e->values[0]);
	return 0;
}

static int parse_list(struct parser *ps, struct placement_expr *e)
{
	int r;

	if (!tok_is(ps, "[", NULL))
		return syntax(ps, "expected a list [a, b, ...] after in");
	for (;;) {
		r = next(ps);
		if (r < 0)
			return r;
		if (!at_value(ps))
			return syntax(ps, "expected a value in the list");
		r = add_value(ps, e);
		if (r == 0)
			r = next(ps);
		if (r < 0)
			return r;
		if (tok_is(ps, "]", NULL))
			return next(ps);
		if (!tok_is(ps, ",", NULL))
			return syntax(ps, "expected ',' or ']' in the list");
	}
}

static int parse_comparison(struct parser *ps, struct placement_expr **ret)
{
	struct placement_expr *e = calloc(1, sizeof(*e));
	bool found = false;
	int r;

	if (!e)
		return err_set(ps->err, -ENOMEM, E_SERVER, "out of memory");
	e->kind = N_CMP;
	r = parse_subject(ps, e);
	if (r == 0)
		r = next(ps);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !ps->quoted && !found; i++)
		if (!strcasecmp(ps->tok, ops[i].name)) {
			e->op = ops[i].op;
			found = true;
		}
	if (!found) {
		r = syntax(ps, "expected an operator");
		goto fail;
	}
	if (!op_allowed(e->subject, e->op)) {
		r = err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			    "expression: %s takes no '%s' at offset %ld", subject_name(e->subject),
			    ps->tok, (long)(ps->at - ps->s));
		goto fail;
	}
	if (e->op == OP_EXISTS || e->op == OP_NOT_EXISTS) {
		r = next(ps);
	} else if (e->op == OP_IN || e->op == OP_NOT_IN) {
		r = next(ps);
		if (r == 0)
			r = parse_list(ps, e);
	} else {
		bool pattern = e->op == OP_MATCH || e->op == OP_NOT_MATCH;

		r = pattern ? next_pattern(ps) : next(ps);
		if (r == 0 && (pattern ? !ps->quoted && !ps->tok[0] : !at_value(ps)))
			r = syntax(ps, "expected a value after the operator");
		if (r == 0)
			r = add_value(ps, e);
		if (r == 0)
			r = check_values(ps, e);
		if (r == 0)
			r = next(ps);
	}
	if (r < 0)
		goto fail;
	*ret = e;
	return 0;
fail:
	placement_expr_free(e);
	return r;
}

static int parse_expression(struct parser *ps, struct placement_expr **ret);

static int parse_factor(struct parser *ps, struct placement_expr **ret)
{
	int r;

	if (++ps->depth > MAX_DEPTH)
		return err_set(ps->err, -EINVAL, E_INVALID_PARAMETER,
			       "expression: nested more than %d deep at offset %ld", MAX_DEPTH,
			       (long)(ps->at - ps->s));
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
		r = tok_is(ps, ")", NULL) ? next(ps) : syntax(ps, "expected ')'");
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
	struct parser ps = { .s = s, .p = s, .at = s, .err = err };
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
	if (r == 0 && (ps.tok[0] || ps.quoted)) {
		placement_expr_free(*ret);
		*ret = NULL;
		r = syntax(&ps, "expected and, or or the end");
	}
	return r;
}

/* --- evaluation -------------------------------------------------------- */

/* Compare dotted versions ("1.14.5" < "1.9" is false) component by component. */
static bool version_cmp(const char *a, const char *b, int *ret)
{
	if (!*a || !*b || strspn(a, "0123456789.") != strlen(a) ||
	    strspn(b, "0123456789.") != strlen(b))
		return false;
	while (*a || *b) {
		char *end_a, *end_b;
		unsigned long long x = strtoull(a, &end_a, 10);
		unsigned long long y = strtoull(b, &end_b, 10);

		if (x != y) {
			*ret = x < y ? -1 : 1;
			return true;
		}
		a = end_a + (*end_a == '.');
		b = end_b + (*end_b == '.');
	}
	*ret = 0;
	return true;
}

static int order(const struct placement_expr *e, const char *have)
{
	int64_t x, y;
	int c;

	if (e->subject == SUBJ_REGISTERED_AT) {
		x = strtoll(have, NULL, 10);
		return (x > e->when_ms) - (x < e->when_ms);
	}
	if (whole_number(have, &x) && whole_number(e->values[0], &y))
		return (x > y) - (x < y);
	if (version_cmp(have, e->values[0], &c))
		return c;
	c = strcmp(have, e->values[0]);
	return (c > 0) - (c < 0);
}

/* Whether have satisfies the comparison (op is not a negative one). */
static bool holds(const struct placement_expr *e, enum op op, const char *have)
{
	switch (op) {
	case OP_EQ:
		return e->subject == SUBJ_REGISTERED_AT ? order(e, have) == 0
							: !strcmp(have, e->values[0]);
	case OP_MATCH: return regexec(&e->re, have, 0, NULL, 0) == 0;
	case OP_IN:
		for (size_t i = 0; i < e->n_values; i++)
			if (!strcmp(have, e->values[i]))
				return true;
		return false;
	case OP_GT: return order(e, have) > 0;
	case OP_GE: return order(e, have) >= 0;
	case OP_LT: return order(e, have) < 0;
	case OP_LE: return order(e, have) <= 0;
	default: return false;
	}
}

/* The subject's value on inst into buf; false when the instance has none. */
static bool subject_value(const struct placement_expr *e, const struct placement_instance *inst,
			  char *buf, size_t n)
{
	const cJSON *doc = inst->doc;
	const char *v = NULL;

	switch (e->subject) {
	case SUBJ_ATTRIBUTE: {
		const cJSON *attrs = json_arr(doc, "attributes");

		for (const cJSON *a = attrs ? attrs->child : NULL; a; a = a->next)
			if (json_str(a, "name") && !strcmp(json_str(a, "name"), e->attribute)) {
				snprintf(buf, n, "%s", json_str(a, "value") ?: "");
				return true;
			}
		return false;
	}
	case SUBJ_AGENT_CONNECTED:
		snprintf(buf, n, "%s", json_bool(doc, "agentConnected", false) ? "true" : "false");
		return true;
	case SUBJ_AGENT_VERSION: v = json_str(json_obj(doc, "versionInfo"), "agentVersion"); break;
	case SUBJ_EC2_INSTANCE_ID: v = json_str(doc, "ec2InstanceId"); break;
	case SUBJ_REGISTERED_AT:
		if (!json_has(doc, "registeredAt"))
			return false;
		snprintf(buf, n, "%lld", (long long)json_int(doc, "registeredAt", 0));
		return true;
	case SUBJ_RUNNING_TASKS_COUNT:
		snprintf(buf, n, "%lld", (long long)json_int(doc, "runningTasksCount", 0));
		return true;
	case SUBJ_TASK_GROUP: break;
	}
	if (v)
		snprintf(buf, n, "%s", v);
	return v != NULL;
}

static enum op positive(enum op op)
{
	switch (op) {
	case OP_NE: return OP_EQ;
	case OP_NOT_MATCH: return OP_MATCH;
	case OP_NOT_IN: return OP_IN;
	case OP_NOT_EXISTS: return OP_EXISTS;
	default: return op;
	}
}

static bool eval_cmp(const struct placement_expr *e, const struct placement_instance *inst)
{
	enum op op = positive(e->op);
	bool negative = op != e->op, yes = false;
	char have[TOKEN_MAX];

	if (e->subject == SUBJ_TASK_GROUP) {
		/* one of the instance's tasks in the group; the negative: none of them */
		for (size_t i = 0; i < inst->n_tasks && !yes; i++) {
			const char *g = json_str(inst->tasks[i], "group");

			yes = g && (op == OP_EXISTS || holds(e, op, g));
		}
		return yes != negative;
	}
	if (!subject_value(e, inst, have, sizeof(have)))
		return negative; /* no value: only the negative operators hold */
	return (op == OP_EXISTS || holds(e, op, have)) != negative;
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

bool placement_expr_uses_tasks(const struct placement_expr *e)
{
	if (!e)
		return false;
	if (e->kind == N_CMP)
		return e->subject == SUBJ_TASK_GROUP;
	return placement_expr_uses_tasks(e->a) || placement_expr_uses_tasks(e->b);
}
