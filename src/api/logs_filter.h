/*
 * logs_filter.h: CloudWatch Logs filter patterns for unstructured events,
 * as FilterLogEvents takes them (its `filterPattern`):
 *
 *   ERROR              events that contain the term
 *   ERROR Exception    events that contain every term
 *   "out of memory"    a quoted phrase, matched as it is (\" and \\ inside)
 *   ?ERROR ?WARN       events that contain at least one of the ?-terms
 *   ERROR -Exiting     "-" excludes the events that contain a term
 *
 * Matching is case-sensitive and by substring, as CloudWatch's. An empty
 * pattern matches every event. JSON patterns ({ $.x = ... }), space-
 * delimited patterns ([a, b]) and regular expressions (%...%) are refused
 * with InvalidParameterException.
 *
 * A parsed filter points into nothing: it owns its terms, and is freed
 * with logs_filter_release.
 */
#ifndef BERTH_API_LOGS_FILTER_H
#define BERTH_API_LOGS_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define LOGS_FILTER_PATTERN_MAX 1024
#define LOGS_FILTER_TERMS_MAX	64

enum logs_term_kind {
	LOGS_TERM_ALL,	   /* must be there */
	LOGS_TERM_ANY,	   /* ?term: one of these must be there */
	LOGS_TERM_EXCLUDE, /* -term: must not be there */
};

struct logs_term {
	enum logs_term_kind kind;
	char *text; /* owned */
	size_t len;
};

struct logs_filter {
	struct logs_term terms[LOGS_FILTER_TERMS_MAX];
	size_t n;
	size_t n_any;
};

/*
 * Parse pattern (len bytes, NUL not needed) into f (initialised here).
 * InvalidParameterException, with what is wrong, when it is not a pattern
 * berth matches; f then holds nothing.
 */
int logs_filter_parse(const char *pattern, size_t len, struct logs_filter *f, struct err *err);

/* Whether msg (len bytes) matches f. */
bool logs_filter_match(const struct logs_filter *f, const char *msg, size_t len);

void logs_filter_release(struct logs_filter *f);

#endif
