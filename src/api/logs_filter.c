/*
 * logs_filter.c: parsing and matching the term patterns of logs_filter.h.
 */
#include "api/logs_filter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void logs_filter_release(struct logs_filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->terms[i].text);
	f->n = 0;
	f->n_any = 0;
}

static int refuse(struct logs_filter *f, struct err *err, const char *what)
{
	logs_filter_release(f);
	return err_set(err, -EINVAL, E_INVALID_PARAMETER, "Invalid filter pattern: %s", what);
}

int logs_filter_parse(const char *p, size_t len, struct logs_filter *f, struct err *err)
{
	size_t i = 0;

	memset(f, 0, sizeof(*f));
	if (len > LOGS_FILTER_PATTERN_MAX)
		return refuse(f, err, "longer than 1024 characters");
	while (i < len && is_space(p[i]))
		i++;
	if (i < len && (p[i] == '{' || p[i] == '[' || p[i] == '%'))
		return refuse(f, err,
			      "JSON, space-delimited and regular expression patterns are not "
			      "supported by berth (terms, quoted phrases, ?term and -term are)");
	while (i < len) {
		enum logs_term_kind kind = LOGS_TERM_ALL;
		struct logs_term *t;
		char *text;
		size_t n = 0;

		while (i < len && is_space(p[i]))
			i++;
		if (i == len)
			break;
		if (p[i] == '?' || p[i] == '-') {
			kind = p[i] == '?' ? LOGS_TERM_ANY : LOGS_TERM_EXCLUDE;
			i++;
			if (i == len || is_space(p[i]))
				return refuse(f, err, "'?' or '-' must be followed by a term");
		}
		if (f->n == LOGS_FILTER_TERMS_MAX)
			return refuse(f, err, "more than 64 terms");
		text = malloc(len - i + 1);
		if (!text) {
			logs_filter_release(f);
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		}
		if (p[i] == '"') {
			bool closed = false;

			for (i++; i < len; i++) {
				if (p[i] == '"') {
					closed = true;
					i++;
					break;
				}
				if (p[i] == '\\' && i + 1 < len &&
				    (p[i + 1] == '"' || p[i + 1] == '\\'))
					i++;
				text[n++] = p[i];
			}
			if (!closed) {
				free(text);
				return refuse(f, err, "a quoted phrase is not closed");
			}
			if (i < len && !is_space(p[i])) {
				free(text);
				return refuse(f, err, "a quoted phrase must end its term");
			}
		} else {
			while (i < len && !is_space(p[i])) {
				if (p[i] == '"') {
					free(text);
					return refuse(f, err, "a quote inside a term");
				}
				text[n++] = p[i++];
			}
		}
		text[n] = 0;
		if (n == 0) {
			free(text);
			continue; /* "" matches everything: no constraint */
		}
		t = &f->terms[f->n++];
		t->kind = kind;
		t->text = text;
		t->len = n;
		if (kind == LOGS_TERM_ANY)
			f->n_any++;
	}
	return 0;
}

bool logs_filter_match(const struct logs_filter *f, const char *msg, size_t len)
{
	bool any = f->n_any == 0;

	for (size_t i = 0; i < f->n; i++) {
		const struct logs_term *t = &f->terms[i];
		bool found = t->len <= len && memmem(msg, len, t->text, t->len) != NULL;

		switch (t->kind) {
		case LOGS_TERM_ALL:
			if (!found)
				return false;
			break;
		case LOGS_TERM_EXCLUDE:
			if (found)
				return false;
			break;
		case LOGS_TERM_ANY: any = any || found; break;
		}
	}
	return any;
}
