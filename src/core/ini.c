/*
 * ini.c: the aws CLI's INI dialect (ini.h).
 */
#include "core/ini.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trim [*s, *s + *n) of whitespace on both ends. */
static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

int ini_parse(const char *data, size_t len, ini_fn fn, void *ctx, struct err *err)
{
	char section[INI_SECTION_MAX + 1] = "", parent[INI_KEY_MAX + 1] = "";
	char key[2 * INI_KEY_MAX + 2], value[INI_LINE_MAX + 1];
	const char *p = data, *end = data + len;
	unsigned lineno = 0;
	bool nested_open = false; /* the previous key had an empty value: indented lines nest */
	int r;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p, *eq;
		bool indented;

		p += nl ? n + 1 : n;
		lineno++;
		if (n > INI_LINE_MAX)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u is longer than %d bytes", lineno, INI_LINE_MAX);
		if (memchr(line, '\0', n))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u holds a NUL byte", lineno);
		indented = n && (line[0] == ' ' || line[0] == '\t');
		trim(&line, &n);
		if (n == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			if (line[n - 1] != ']' || n < 3)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "line %u: a section is '[NAME]'", lineno);
			line++;
			n -= 2;
			trim(&line, &n);
			if (n == 0 || n > INI_SECTION_MAX)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "line %u: a section name is 1 to %d characters",
					       lineno, INI_SECTION_MAX);
			memcpy(section, line, n);
			section[n] = 0;
			nested_open = false;
			continue;
		}
		eq = memchr(line, '=', n);
		if (!eq)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u is not 'key = value', '[section]' or a comment",
				       lineno);
		{
			const char *k = line, *v = eq + 1;
			size_t kn = (size_t)(eq - line), vn = n - kn - 1;

			trim(&k, &kn);
			trim(&v, &vn);
			if (kn == 0 || kn > INI_KEY_MAX)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "line %u: a key is 1 to %d characters", lineno,
					       INI_KEY_MAX);
			if (indented && nested_open) {
				snprintf(key, sizeof(key), "%s.%.*s", parent, (int)kn, k);
			} else {
				snprintf(key, sizeof(key), "%.*s", (int)kn, k);
				nested_open = vn == 0;
				if (nested_open)
					snprintf(parent, sizeof(parent), "%.*s", (int)kn, k);
			}
			memcpy(value, v, vn);
			value[vn] = 0;
			r = fn(ctx, section, key, value);
			if (r)
				return r;
		}
	}
	return 0;
}

struct lookup {
	const char *section, *key;
	char *ret;
	size_t size;
	int found;
};

static int match(void *ctx, const char *section, const char *key, const char *value)
{
	struct lookup *l = ctx;

	if (strcmp(section, l->section) != 0 || strcmp(key, l->key) != 0)
		return 0;
	if (strlen(value) >= l->size) {
		l->found = -ENAMETOOLONG;
		return 0;
	}
	memcpy(l->ret, value, strlen(value) + 1);
	l->found = 1;
	return 0;
}

int ini_get(const char *data, size_t len, const char *section, const char *key, char *ret,
	    size_t size, struct err *err)
{
	struct lookup l = { section, key, ret, size, 0 };
	int r = ini_parse(data, len, match, &l, err);

	if (r < 0)
		return r;
	if (l.found == -ENAMETOOLONG)
		return err_set(err, -ENAMETOOLONG, E_INVALID_PARAMETER,
			       "the value of '%s' in [%s] is longer than %zu bytes", key, section,
			       size - 1);
	return l.found;
}
