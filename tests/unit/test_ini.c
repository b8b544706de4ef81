/*
 * test_ini.c: the aws CLI's INI dialect: sections, keys, whitespace,
 * comments, nested blocks, repeated keys, and the refusals (a line that
 * is nothing, an unclosed section, a long line, a NUL byte).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/ini.h"

static int collect(void *ctx, const char *section, const char *key, const char *value)
{
	buf_printf(ctx, "[%s]%s=%s;", section, key, value);
	return 0;
}

static void test_dialect(void **state)
{
	static const char text[] = "top = 1\n"
				   "# a comment\n"
				   "; another\n"
				   "\n"
				   "[default]\n"
				   "aws_access_key_id=AKID\n"
				   "  aws_secret_access_key   =   s e c r e t  \r\n"
				   "[ profile dev ]\n"
				   "region = eu-west-1\n"
				   "s3 =\n"
				   "  max_concurrent_requests = 10\n"
				   "  addressing_style = path\n"
				   "output = json\n"
				   "empty =\n";
	struct buf got = BUF_INIT;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(ini_parse(text, strlen(text), collect, &got, &err), 0);
	assert_string_equal(buf_str(&got), "[]top=1;"
					   "[default]aws_access_key_id=AKID;"
					   "[default]aws_secret_access_key=s e c r e t;"
					   "[profile dev]region=eu-west-1;"
					   "[profile dev]s3=;"
					   "[profile dev]s3.max_concurrent_requests=10;"
					   "[profile dev]s3.addressing_style=path;"
					   "[profile dev]output=json;"
					   "[profile dev]empty=;");
	buf_release(&got);
}

static void test_get(void **state)
{
	static const char text[] = "[a]\nk = 1\nk = 2\n[b]\nk = 3\nlong = 0123456789\n";
	struct err err = ERR_INIT;
	char v[8];

	(void)state;
	assert_int_equal(ini_get(text, strlen(text), "a", "k", v, sizeof(v), &err), 1);
	assert_string_equal(v, "2"); /* the last one wins */
	assert_int_equal(ini_get(text, strlen(text), "b", "k", v, sizeof(v), &err), 1);
	assert_string_equal(v, "3");
	assert_int_equal(ini_get(text, strlen(text), "c", "k", v, sizeof(v), &err), 0);
	assert_int_equal(ini_get(text, strlen(text), "b", "long", v, sizeof(v), &err),
			 -ENAMETOOLONG);
	/* no section: the keys before the first one */
	assert_int_equal(ini_get("x=y", 3, "", "x", v, sizeof(v), &err), 1);
	assert_string_equal(v, "y");
	/* without a trailing line end, and not NUL-terminated */
	assert_int_equal(ini_get("x=yz!", 4, "", "x", v, sizeof(v), &err), 1);
	assert_string_equal(v, "yz");
}

static void test_refusals(void **state)
{
	struct err err = ERR_INIT;
	struct buf got = BUF_INIT, big = BUF_INIT;

	(void)state;
	assert_int_equal(ini_parse("[a]\njust words\n", 15, collect, &got, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 2"));
	assert_int_equal(ini_parse("[open\n", 6, collect, &got, &err), -EINVAL);
	assert_int_equal(ini_parse("[]\n", 3, collect, &got, &err), -EINVAL);
	assert_int_equal(ini_parse(" = v\n", 5, collect, &got, &err), -EINVAL);
	assert_int_equal(ini_parse("k\0=v\n", 5, collect, &got, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NUL"));
	for (int i = 0; i < INI_LINE_MAX + 1; i++)
		buf_putc(&big, 'x');
	assert_int_equal(ini_parse(big.data, big.len, collect, &got, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer"));
	buf_release(&got);
	buf_release(&big);
}

static int stop_at_b(void *ctx, const char *section, const char *key, const char *value)
{
	(void)ctx;
	(void)section;
	(void)value;
	return !strcmp(key, "b") ? 7 : 0;
}

static void test_stop(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(ini_parse("a=1\nb=2\nthis is not ini\n", 24, stop_at_b, NULL, &err), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dialect),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests_name("ini", tests, NULL, NULL);
}
