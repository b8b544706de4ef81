/*
 * dockerfile.c: the Dockerfile parser (dockerfile.h). Two passes over the
 * text: physical lines become logical ones (directives, comments and
 * continuations handled, each remembering its first line), then each
 * logical line becomes an instruction whose form is checked. Word
 * splitting and variable expansion are one small lexer, used here to check
 * the syntax and by the builder, with the build's variables, to get the
 * values.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "build/dockerfile.h"
#include "core/cleanup.h"
#include "core/banned.h"

static const char *const kind_names[] = {
	[DF_FROM] = "FROM",
	[DF_RUN] = "RUN",
	[DF_COPY] = "COPY",
	[DF_ADD] = "ADD",
	[DF_ENV] = "ENV",
	[DF_ARG] = "ARG",
	[DF_WORKDIR] = "WORKDIR",
	[DF_USER] = "USER",
	[DF_EXPOSE] = "EXPOSE",
	[DF_LABEL] = "LABEL",
	[DF_ENTRYPOINT] = "ENTRYPOINT",
	[DF_CMD] = "CMD",
};

/* Known to Docker, not to berth: refused with a clear message. */
static const char *const unsupported[] = { "ONBUILD",	 "HEALTHCHECK", "SHELL",
					   "STOPSIGNAL", "VOLUME",	"MAINTAINER" };

const char *dockerfile_kind_name(enum df_kind kind)
{
	return (size_t)kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : "?";
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort(); /* as buf.h: out of memory ends the program */
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		abort();
	return p;
}

/* --- words and variables ------------------------------------------------ */

struct words {
	char **v;
	size_t n, cap;
};

static int words_add(struct words *w, struct buf *word, unsigned line, struct err *err)
{
	if (w->n == DOCKERFILE_MAX_WORDS)
		return err_set(err, -E2BIG, E_INVALID_PARAMETER, "line %u: more than %d words",
			       line, DOCKERFILE_MAX_WORDS);
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		char **v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			abort();
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = word->data ? buf_detach(word, NULL) : xstrndup("", 0);
	return 0;
}

void dockerfile_words_free(char **words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(words[i]);
	free(words);
}

static bool name_char(char c, bool first)
{
	return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

static int expand_into(const char *s, size_t len, char escape, df_lookup_fn lookup, void *ctx,
		       unsigned line, struct buf *out, struct err *err);

/*
 * A variable reference at s[0] == '$' (len bytes left): its value appended
 * to out; *used says how many bytes it took (1 for a lone '$', kept).
 */
static int expand_var(const char *s, size_t len, char escape, df_lookup_fn lookup, void *ctx,
		      unsigned line, struct buf *out, size_t *used, struct err *err)
{
	char name[256];
	size_t i = 1, n = 0;
	const char *val;

	if (len > 1 && s[1] == '{') {
		size_t start, end;
		char op = 0;

		i = 2;
		while (i < len && name_char(s[i], n == 0) && n + 1 < sizeof(name))
			name[n++] = s[i++];
		name[n] = 0;
		if (n == 0)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: bad variable reference '${' (expected a name)",
				       line);
		if (i + 1 < len && s[i] == ':' && (s[i + 1] == '-' || s[i + 1] == '+')) {
			op = s[i + 1];
			i += 2;
		} else if (i < len && s[i] != '}') {
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: unsupported modifier in '${%s%c...}' (only :- and "
				       ":+ are)",
				       line, name, s[i]);
		}
		start = i;
		while (i < len && s[i] != '}') {
			if (s[i] == escape && i + 1 < len)
				i++;
			i++;
		}
		if (i >= len)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: missing '}' after '${%s'", line, name);
		end = i++;
		val = lookup ? lookup(name, ctx) : NULL;
		if (op == '-' && (!val || !*val))
			return expand_into(s + start, end - start, escape, lookup, ctx, line, out,
					   err) < 0
				       ? err->code
				       : (*used = i, 0);
		if (op == '+') {
			if (val && *val)
				return expand_into(s + start, end - start, escape, lookup, ctx,
						   line, out, err) < 0
					       ? err->code
					       : (*used = i, 0);
			*used = i;
			return 0;
		}
		if (val)
			buf_puts(out, val);
		*used = i;
		return 0;
	}
	while (i < len && name_char(s[i], n == 0) && n + 1 < sizeof(name))
		name[n++] = s[i++];
	name[n] = 0;
	if (n == 0) {
		buf_putc(out, '$');
		*used = 1;
		return 0;
	}
	val = lookup ? lookup(name, ctx) : NULL;
	if (val)
		buf_puts(out, val);
	*used = i;
	return 0;
}

/* Expand variables in s (no quote handling): for the words of ${X:-words}. */
static int expand_into(const char *s, size_t len, char escape, df_lookup_fn lookup, void *ctx,
		       unsigned line, struct buf *out, struct err *err)
{
	for (size_t i = 0; i < len;) {
		if (s[i] == escape && i + 1 < len) {
			buf_putc(out, s[i + 1]);
			i += 2;
		} else if (s[i] == '$') {
			size_t used;
			int r = expand_var(s + i, len - i, escape, lookup, ctx, line, out, &used,
					   err);

			if (r < 0)
				return r;
			i += used;
		} else {
			buf_putc(out, s[i++]);
		}
	}
	return 0;
}

int dockerfile_words(const char *raw, char escape, bool split, df_lookup_fn lookup, void *ctx,
		     unsigned line, char ***ret, size_t *ret_n, struct err *err)
{
	struct words w = { .v = *ret, .n = *ret_n, .cap = *ret_n };
	_cleanup_buf_ struct buf word = BUF_INIT;
	size_t len = strlen(raw), i = 0;
	bool started = false;
	char quote = 0;
	int r = 0;

	/* the whole text as one word: no leading or trailing blanks */
	if (!split) {
		while (len && isspace((unsigned char)raw[len - 1]))
			len--;
		while (i < len && isspace((unsigned char)raw[i]))
			i++;
	}
	while (i < len) {
		char c = raw[i];

		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else
				buf_putc(&word, c);
			i++;
		} else if (c == escape) {
			if (i + 1 >= len) {
				buf_putc(&word, c);
				i++;
			} else if (quote == '"' && raw[i + 1] != '"' && raw[i + 1] != '$' &&
				   raw[i + 1] != escape) {
				buf_putc(&word, c);
				buf_putc(&word, raw[i + 1]);
				i += 2;
			} else {
				buf_putc(&word, raw[i + 1]);
				i += 2;
			}
			started = true;
		} else if (c == '$') {
			size_t used;

			r = expand_var(raw + i, len - i, escape, lookup, ctx, line, &word, &used,
				       err);
			if (r < 0)
				break;
			i += used;
			started = true;
		} else if (quote == '"') {
			if (c == '"')
				quote = 0;
			else
				buf_putc(&word, c);
			i++;
		} else if (c == '"' || c == '\'') {
			quote = c;
			started = true;
			i++;
		} else if (split && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
			if (started) {
				r = words_add(&w, &word, line, err);
				if (r < 0)
					break;
				buf_reset(&word);
				started = false;
			}
			i++;
		} else {
			buf_putc(&word, c);
			started = true;
			i++;
		}
	}
	if (r == 0 && quote)
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "line %u: unterminated %s quote",
			    line, quote == '"' ? "double" : "single");
	if (r == 0 && (started || (!split && w.n == *ret_n)))
		r = words_add(&w, &word, line, err);
	*ret = w.v;
	*ret_n = w.n;
	return r;
}

/* --- logical lines ------------------------------------------------------ */

struct logical {
	char *text;
	unsigned line;
};

struct lines {
	struct logical *v;
	size_t n, cap;
};

static void lines_release(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
}

/* Add the logical line in cur (emptied) that starts on line. */
static void lines_add(struct lines *l, unsigned line, struct buf *cur)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct logical *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			abort();
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].line = line;
	l->v[l->n].text = cur->data ? buf_detach(cur, NULL) : xstrndup("", 0);
	l->n++;
}

static const char *skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * A parser directive line "# name=value": its name and value, lowercase
 * name; false when the line is not one.
 */
static bool directive(const char *s, size_t len, char *name, size_t nlen, char *value, size_t vlen)
{
	const char *end = s + len, *p = s, *n0, *v0;
	size_t n;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p++ != '#')
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	n0 = p;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
		p++;
	n = (size_t)(p - n0);
	if (n == 0 || n >= nlen)
		return false;
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)n0[i]);
	name[n] = 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p++ != '=')
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	v0 = p;
	while (end > v0 && isspace((unsigned char)end[-1]))
		end--;
	if ((size_t)(end - v0) >= vlen)
		return false;
	memcpy(value, v0, (size_t)(end - v0));
	value[end - v0] = 0;
	return true;
}

static int split_lines(const char *text, size_t len, struct lines *out, char *escape,
		       struct err *err)
{
	_cleanup_buf_ struct buf cur = BUF_INIT;
	bool directives = true, continued = false;
	unsigned lineno = 0, start = 0;
	size_t pos = 0;

	*escape = '\\';
	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos, m;
		char name[32], value[256];
		const char *t;

		pos += nl ? n + 1 : n;
		lineno++;
		if (memchr(s, 0, n))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: a NUL byte (not a text file?)", lineno);
		if (directives) {
			if (directive(s, n, name, sizeof(name), value, sizeof(value)) &&
			    (!strcmp(name, "escape") || !strcmp(name, "syntax") ||
			     !strcmp(name, "check"))) {
				if (!strcmp(name, "escape")) {
					if (strcmp(value, "\\") && strcmp(value, "`"))
						return err_set(err, -EINVAL, E_INVALID_PARAMETER,
							       "line %u: invalid escape '%s' "
							       "(expected \\ or `)",
							       lineno, value);
					*escape = value[0];
				}
				continue;
			}
			directives = false;
		}
		/* the line without its blanks at either end */
		m = n;
		while (m && isspace((unsigned char)s[m - 1]))
			m--;
		/* the input need not end with a NUL: stay within the line */
		for (t = s; t < s + m && (*t == ' ' || *t == '\t');)
			t++;
		if (t == s + m || *t == '#') {
			/* empty or a comment: skipped, inside a continuation too */
			continue;
		}
		if (!continued)
			start = lineno;
		if (s[m - 1] == *escape) {
			buf_append(&cur, s, m - 1);
			continued = true;
			continue;
		}
		buf_append(&cur, s, m);
		continued = false;
		if (out->n == DOCKERFILE_MAX_INSTRUCTIONS)
			return err_set(err, -E2BIG, E_INVALID_PARAMETER,
				       "line %u: more than %d instructions", lineno,
				       DOCKERFILE_MAX_INSTRUCTIONS);
		lines_add(out, start, &cur);
	}
	/* a continuation at the end of the file ends the instruction */
	if (continued)
		lines_add(out, start, &cur);
	return 0;
}

/* --- instructions ------------------------------------------------------- */

static void instr_release(struct df_instr *in)
{
	dockerfile_words_free(in->args, in->n_args);
	free(in->from);
	free(in->chown);
	free(in->chmod);
	free(in->text);
}

void dockerfile_release(struct dockerfile *df)
{
	for (size_t i = 0; i < df->n; i++)
		instr_release(&df->v[i]);
	free(df->v);
	df->v = NULL;
	df->n = 0;
}

/* A JSON array of strings: the exec form. False when rest is not one. */
static bool exec_form(const char *rest, struct df_instr *in)
{
	cJSON *a, *x;
	size_t n = 0, i = 0;

	if (*rest != '[')
		return false;
	a = cJSON_Parse(rest);
	if (!cJSON_IsArray(a)) {
		cJSON_Delete(a);
		return false;
	}
	for (x = a->child; x; x = x->next, n++)
		if (!cJSON_IsString(x) || n >= DOCKERFILE_MAX_WORDS) {
			cJSON_Delete(a);
			return false;
		}
	in->args = xcalloc(n, sizeof(char *));
	for (x = a->child; x; x = x->next)
		in->args[i++] = xstrndup(x->valuestring, strlen(x->valuestring));
	in->n_args = n;
	in->json = true;
	cJSON_Delete(a);
	return true;
}

/* "<<EOF", "<<-EOF", "<<'EOF'": a heredoc, which berth does not do. */
static bool has_heredoc(const char *s)
{
	for (const char *p = strstr(s, "<<"); p; p = strstr(p + 2, "<<")) {
		const char *q = p + 2;

		if (*q == '-')
			q++;
		if (*q == '"' || *q == '\'')
			q++;
		if (isalpha((unsigned char)*q) || *q == '_')
			return true;
	}
	return false;
}

/* Take the leading --name=value flags of *rest that kind allows. */
static int take_flags(struct df_instr *in, const char **rest, struct err *err)
{
	const char *p = *rest;

	while (p[0] == '-' && p[1] == '-') {
		const char *end = p, *eq;
		char **slot = NULL;
		size_t n;

		while (*end && *end != ' ' && *end != '\t')
			end++;
		n = (size_t)(end - p);
		eq = memchr(p, '=', n);
		if (in->kind == DF_FROM && eq && eq - p == 10 && !strncmp(p, "--platform", 10))
			slot = &in->from;
		else if (in->kind != DF_FROM && eq && eq - p == 6 && !strncmp(p, "--from", 6))
			slot = &in->from;
		else if (in->kind != DF_FROM && eq && eq - p == 7 && !strncmp(p, "--chown", 7))
			slot = &in->chown;
		else if (in->kind != DF_FROM && eq && eq - p == 7 && !strncmp(p, "--chmod", 7))
			slot = &in->chmod;
		if (!slot)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: unknown flag '%.*s' for %s", in->line,
				       (int)(eq ? eq - p : (long)n), p,
				       dockerfile_kind_name(in->kind));
		if (*slot)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: flag '%.*s' given twice", in->line, (int)(eq - p),
				       p);
		if ((size_t)(eq + 1 - p) == n)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: flag '%.*s' needs a value", in->line,
				       (int)(eq - p), p);
		*slot = xstrndup(eq + 1, (size_t)(end - eq - 1));
		p = skip_blanks(end);
	}
	*rest = p;
	return 0;
}

bool dockerfile_env_legacy(const char *raw)
{
	size_t n = strcspn(raw, " \t");

	return memchr(raw, '=', n) == NULL;
}

/* Check the words of in's raw argument as the builder will split them. */
static int check_words(const struct df_instr *in, char escape, struct err *err)
{
	char **w = NULL;
	size_t n = 0;
	bool split = true;
	int r;

	if (in->kind == DF_WORKDIR || (in->kind == DF_ENV && dockerfile_env_legacy(in->args[0])))
		split = false;
	r = dockerfile_words(in->args[0], escape, split, NULL, NULL, in->line, &w, &n, err);
	if (r < 0)
		goto out;
	switch (in->kind) {
	case DF_FROM:
		if (!(n == 1 || (n == 3 && !strcasecmp(w[1], "as"))))
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: FROM takes IMAGE [AS NAME]", in->line);
		break;
	case DF_COPY:
	case DF_ADD:
		if (n < 2)
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: %s needs at least one source and a destination",
				    in->line, dockerfile_kind_name(in->kind));
		break;
	case DF_ARG:
		if (n != 1)
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: ARG takes one NAME[=DEFAULT]", in->line);
		break;
	case DF_USER:
		if (n != 1)
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: USER takes one USER[:GROUP]", in->line);
		break;
	case DF_ENV:
	case DF_LABEL:
		if (in->kind == DF_ENV && dockerfile_env_legacy(in->args[0])) {
			/* the legacy form ENV NAME VALUE: split is false, one word */
			if (!strpbrk(in->args[0], " \t"))
				r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
					    "line %u: ENV %s has no value", in->line, in->args[0]);
			break;
		}
		for (size_t i = 0; i < n && r == 0; i++)
			if (!strchr(w[i], '=') || w[i][0] == '=')
				r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
					    "line %u: %s expects NAME=VALUE, not '%s'", in->line,
					    dockerfile_kind_name(in->kind), w[i]);
		break;
	default: break;
	}
out:
	dockerfile_words_free(w, n);
	return r;
}

static int parse_instr(const struct logical *l, char escape, struct df_instr *in, struct err *err)
{
	const char *s = skip_blanks(l->text), *rest;
	char name[16];
	size_t n = 0;
	int r;

	in->line = l->line;
	in->text = xstrndup(s, strlen(s));
	while (s[n] && s[n] != ' ' && s[n] != '\t')
		n++;
	if (n >= sizeof(name))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "line %u: unknown instruction '%.*s'", l->line,
			       (int)(n > 40 ? 40 : n), s);
	for (size_t i = 0; i < n; i++)
		name[i] = (char)toupper((unsigned char)s[i]);
	name[n] = 0;
	rest = skip_blanks(s + n);
	for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++)
		if (!strcmp(name, unsupported[i]))
			return err_set(err, -ENOTSUP, E_INVALID_PARAMETER,
				       "line %u: %s is not supported by berth build", l->line,
				       name);
	for (n = 0; n < ARRAY_SIZE(kind_names); n++)
		if (!strcmp(name, kind_names[n]))
			break;
	if (n == ARRAY_SIZE(kind_names))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "line %u: unknown instruction '%s'", l->line, name);
	in->kind = (enum df_kind)n;
	if (in->kind == DF_FROM || in->kind == DF_COPY || in->kind == DF_ADD) {
		r = take_flags(in, &rest, err);
		if (r < 0)
			return r;
	}
	if (!*rest && in->kind != DF_CMD && in->kind != DF_ENTRYPOINT)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "line %u: %s needs an argument",
			       l->line, name);
	switch (in->kind) {
	case DF_RUN:
	case DF_CMD:
	case DF_ENTRYPOINT:
		if (exec_form(rest, in)) {
			if (in->kind == DF_RUN && in->n_args == 0)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "line %u: RUN [] has no command", l->line);
			return 0;
		}
		if (!*rest)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: %s needs an argument", l->line, name);
		if (in->kind == DF_RUN && has_heredoc(rest))
			return err_set(err, -ENOTSUP, E_INVALID_PARAMETER,
				       "line %u: heredocs (<<) are not supported by berth build",
				       l->line);
		in->args = xcalloc(1, sizeof(char *));
		in->args[0] = xstrndup(rest, strlen(rest));
		in->n_args = 1;
		return 0;
	case DF_COPY:
	case DF_ADD:
		if (has_heredoc(rest))
			return err_set(err, -ENOTSUP, E_INVALID_PARAMETER,
				       "line %u: heredocs (<<) are not supported by berth build",
				       l->line);
		if (exec_form(rest, in)) {
			if (in->n_args < 2)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "line %u: %s needs at least one source and a "
					       "destination",
					       l->line, name);
			return 0;
		}
		break;
	default: break;
	}
	in->args = xcalloc(1, sizeof(char *));
	in->args[0] = xstrndup(rest, strlen(rest));
	in->n_args = 1;
	return check_words(in, escape, err);
}

int dockerfile_parse(const char *text, size_t len, struct dockerfile *ret, struct err *err)
{
	struct lines lines = { 0 };
	struct dockerfile df = { 0 };
	bool from_seen = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len > DOCKERFILE_MAX_BYTES)
		return err_set(err, -EFBIG, E_INVALID_PARAMETER,
			       "the Dockerfile is larger than %u bytes", DOCKERFILE_MAX_BYTES);
	r = split_lines(text, len, &lines, &df.escape, err);
	if (r < 0)
		goto out;
	df.v = xcalloc(lines.n, sizeof(*df.v));
	for (size_t i = 0; i < lines.n; i++) {
		r = parse_instr(&lines.v[i], df.escape, &df.v[i], err);
		df.n = i + 1;
		if (r < 0)
			goto out;
		if (df.v[i].kind == DF_FROM)
			from_seen = true;
		else if (!from_seen && df.v[i].kind != DF_ARG) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: %s before the first FROM (only ARG may come "
				    "before it)",
				    df.v[i].line, dockerfile_kind_name(df.v[i].kind));
			goto out;
		}
	}
	if (!from_seen) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "line %u: the Dockerfile has no FROM", lines.n ? lines.v[0].line : 1);
		goto out;
	}
	*ret = df;
	df.v = NULL;
	df.n = 0;
out:
	dockerfile_release(&df);
	lines_release(&lines);
	return r;
}
