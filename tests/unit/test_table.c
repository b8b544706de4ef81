/*
 * test_table.c: the CLI's aligned tables: columns padded to their widest
 * cell, two spaces between, the last column unpadded, UTF-8 counted in
 * characters, absent cells as "-", control characters neutralised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"

static void test_alignment(void **state)
{
	struct table t;
	struct buf out = BUF_INIT;

	(void)state;
	table_init(&t, 3, (const char *const[]){ "NAME", "STATUS", "TASKS" });
	table_add(&t, (const char *const[]){ "a", "ACTIVE", "12" });
	table_add(&t, (const char *const[]){ "a-longer-name", "INACTIVE", "0" });
	table_format(&t, &out);
	assert_string_equal(buf_str(&out), "NAME           STATUS    TASKS\n"
					   "a              ACTIVE    12\n"
					   "a-longer-name  INACTIVE  0\n");
	table_release(&t);
	buf_release(&out);
}

static void test_header_only_and_missing_cells(void **state)
{
	struct table t;
	struct buf out = BUF_INIT;

	(void)state;
	table_init(&t, 2, (const char *const[]){ "A", "B" });
	table_format(&t, &out);
	assert_string_equal(buf_str(&out), "A  B\n");
	buf_reset(&out);
	table_add(&t, (const char *const[]){ NULL, "x" });
	table_format(&t, &out);
	assert_string_equal(buf_str(&out), "A  B\n-  x\n");
	table_release(&t);
	buf_release(&out);
}

static void test_utf8_and_control_characters(void **state)
{
	struct table t;
	struct buf out = BUF_INIT;

	(void)state;
	table_init(&t, 2, (const char *const[]){ "NAME", "MESSAGE" });
	table_add(&t, (const char *const[]){ "\xc3\xa9t\xc3\xa9", "two\nlines\tand\x1b[31m" });
	table_add(&t, (const char *const[]){ "abcde", "ok" });
	table_format(&t, &out);
	/* "été" is 3 characters wide, padded like "abc" */
	assert_string_equal(buf_str(&out), "NAME   MESSAGE\n"
					   "\xc3\xa9t\xc3\xa9    two lines and [31m\n"
					   "abcde  ok\n");
	table_release(&t);
	buf_release(&out);
}

static void test_many_rows(void **state)
{
	struct table t;
	struct buf out = BUF_INIT;
	char n[16];
	size_t lines = 0;

	(void)state;
	table_init(&t, 1, (const char *const[]){ "N" });
	for (int i = 0; i < 1000; i++) {
		snprintf(n, sizeof(n), "%d", i);
		table_add(&t, (const char *const[]){ n });
	}
	table_format(&t, &out);
	for (size_t i = 0; i < out.len; i++)
		lines += out.data[i] == '\n';
	assert_int_equal(lines, 1001);
	assert_non_null(strstr(buf_str(&out), "\n999\n"));
	table_release(&t);
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_header_only_and_missing_cells),
		cmocka_unit_test(test_utf8_and_control_characters),
		cmocka_unit_test(test_many_rows),
	};

	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
