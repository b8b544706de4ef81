/*
 * test_logs_filter.c: FilterLogEvents' term patterns (api/logs_filter.c):
 * terms, quoted phrases with escapes, ?any and -exclude terms, what is
 * refused, and the limits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/logs_filter.h"

static bool matches(const char *pattern, const char *msg)
{
	struct logs_filter f;
	struct err err = ERR_INIT;
	bool m;

	assert_int_equal(logs_filter_parse(pattern, strlen(pattern), &f, &err), 0);
	m = logs_filter_match(&f, msg, strlen(msg));
	logs_filter_release(&f);
	return m;
}

static void refused(const char *pattern, const char *why)
{
	struct logs_filter f;
	struct err err = ERR_INIT;

	assert_int_equal(logs_filter_parse(pattern, strlen(pattern), &f, &err), -EINVAL);
	assert_int_equal(err.kind, E_INVALID_PARAMETER);
	assert_non_null(strstr(err.msg, why));
	assert_int_equal(f.n, 0);
}

static void test_terms(void **state)
{
	(void)state;
	assert_true(matches("", "anything"));
	assert_true(matches("   ", "anything"));
	assert_true(matches("\"\"", "anything"));
	assert_true(matches("ERROR", "an ERROR here"));
	assert_false(matches("ERROR", "an error here")); /* case-sensitive */
	assert_true(matches("ERROR disk", "disk: ERROR"));
	assert_false(matches("ERROR disk", "ERROR memory"));
	assert_true(matches("\"out of memory\"", "ERROR out of memory!"));
	assert_false(matches("\"out of memory\"", "out of  memory"));
	assert_true(matches("\"say \\\"hi\\\"\"", "they say \"hi\" twice"));
	assert_true(matches("\"back\\\\slash\"", "a back\\slash"));
}

static void test_any_and_exclude(void **state)
{
	(void)state;
	assert_true(matches("?WARN ?ERROR", "WARN slow"));
	assert_true(matches("?WARN ?ERROR", "ERROR bad"));
	assert_false(matches("?WARN ?ERROR", "INFO fine"));
	assert_true(matches("ERROR -Exiting", "ERROR disk full"));
	assert_false(matches("ERROR -Exiting", "ERROR Exiting now"));
	assert_false(matches("-debug", "a debug line"));
	assert_true(matches("-debug", "an info line"));
	/* plain terms all, one of the ?-terms, none of the -terms */
	assert_true(matches("GET ?200 ?404 -health", "GET /x 404"));
	assert_false(matches("GET ?200 ?404 -health", "GET /health 200"));
	assert_false(matches("GET ?200 ?404", "GET /x 500"));
	assert_true(matches("?\"two words\" ?x", "has two words"));
}

static void test_refusals(void **state)
{
	char big[LOGS_FILTER_PATTERN_MAX + 2];
	char many[LOGS_FILTER_TERMS_MAX * 3 + 8];
	size_t n = 0;

	(void)state;
	refused("{ $.level = \"error\" }", "JSON");
	refused("  [ip, user, ...]", "space-delimited");
	refused("%ERROR%", "regular expression");
	refused("\"unclosed", "not closed");
	refused("\"a\"b", "must end its term");
	refused("ab\"c", "quote inside a term");
	refused("ERROR ?", "must be followed");
	refused("- x", "must be followed");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	refused(big, "longer than 1024");
	for (int i = 0; i <= LOGS_FILTER_TERMS_MAX; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "a ");
	refused(many, "more than 64 terms");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terms),
		cmocka_unit_test(test_any_and_exclude),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests_name("logs_filter", tests, NULL, NULL);
}
