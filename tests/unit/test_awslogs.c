/*
 * test_awslogs.c: the awslogs driver's configuration (agent/awslogs.c):
 * stream names as ECS makes them, the options it takes and refuses, and
 * awslogs-datetime-format turned into a regular expression that matches
 * the lines that start events.
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/awslogs.h"
#include "core/buf.h"
#include "core/json.h"

static int parse(const char *def_json, struct awslogs_config *c, struct err *err)
{
	cJSON *def = cJSON_Parse(def_json);
	int r;

	assert_non_null(def);
	r = awslogs_config_parse(def, "us-east-1", "0123abcd", "0123abcd-0", c, err);
	cJSON_Delete(def);
	return r;
}

static void test_stream_names(void **state)
{
	struct awslogs_config c;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(parse("{\"name\":\"web\"}", &c, &err), 0);
	assert_int_equal(
		parse("{\"name\":\"web\",\"logConfiguration\":{\"logDriver\":\"json-file\"}}", &c,
		      &err),
		0);
	assert_int_equal(parse("{\"name\":\"web\",\"logConfiguration\":{\"logDriver\":\"awslogs\","
			       "\"options\":{\"awslogs-group\":\"/ecs/app\",\"awslogs-region\":"
			       "\"us-east-1\",\"awslogs-stream-prefix\":\"svc\"}}}",
			       &c, &err),
			 1);
	assert_string_equal(c.group, "/ecs/app");
	assert_string_equal(c.stream, "svc/web/0123abcd");
	assert_false(c.create_group);
	assert_false(c.multiline);
	awslogs_config_release(&c);
	/* without a prefix: the container's id, as Docker names the stream */
	assert_int_equal(parse("{\"name\":\"web\",\"logConfiguration\":{\"logDriver\":\"awslogs\","
			       "\"options\":{\"awslogs-group\":\"g\",\"awslogs-create-group\":"
			       "\"true\",\"mode\":\"non-blocking\"}}}",
			       &c, &err),
			 1);
	assert_string_equal(c.stream, "0123abcd-0");
	assert_true(c.create_group);
	awslogs_config_release(&c);
}

static void refused(const char *options, const char *why)
{
	struct awslogs_config c;
	struct err err = ERR_INIT;
	char def[1024];

	snprintf(def, sizeof(def),
		 "{\"name\":\"web\",\"logConfiguration\":{\"logDriver\":\"awslogs\","
		 "\"options\":%s}}",
		 options);
	assert_true(parse(def, &c, &err) < 0);
	assert_int_equal(err.kind, E_CLIENT);
	assert_non_null(strstr(err.msg, "CannotStartContainerError: awslogs: "));
	assert_non_null(strstr(err.msg, why));
}

static void test_refusals(void **state)
{
	(void)state;
	refused("{}", "awslogs-group");
	refused("{\"awslogs-group\":\"bad group!\"}", "not a valid log group name");
	refused("{\"awslogs-group\":\"g\",\"awslogs-region\":\"eu-west-1\"}", "'eu-west-1'");
	refused("{\"awslogs-group\":\"g\",\"awslogs-create-group\":\"yes\"}", "true or false");
	refused("{\"awslogs-group\":\"g\",\"awslogs-endpoint\":\"x\"}", "awslogs-endpoint");
	refused("{\"awslogs-group\":\"g\",\"awslogs-stream-prefix\":\"a:b\"}", "':' or '*'");
	refused("{\"awslogs-group\":\"g\",\"awslogs-multiline-pattern\":\"(\"}",
		"awslogs-multiline-pattern");
	refused("{\"awslogs-group\":\"g\",\"awslogs-datetime-format\":\"%Q\"}", "%Q");
}

static bool starts(const char *fmt, const char *line)
{
	struct buf re = BUF_INIT;
	struct err err = ERR_INIT;
	regex_t r;
	bool m;

	assert_int_equal(awslogs_datetime_regex(fmt, &re, &err), 0);
	assert_int_equal(regcomp(&r, buf_str(&re), REG_EXTENDED | REG_NOSUB), 0);
	m = regexec(&r, line, 0, NULL, 0) == 0;
	regfree(&r);
	buf_release(&re);
	return m;
}

static void test_datetime_format(void **state)
{
	(void)state;
	assert_true(starts("%Y-%m-%d %H:%M:%S", "2024-01-02 10:00:00 started"));
	assert_false(starts("%Y-%m-%d %H:%M:%S", "  at 2024-01-02 10:00:00"));
	assert_false(starts("%Y-%m-%d", "2024/01/02"));
	assert_true(starts("[%b %d, %Y %H:%M:%S]", "[May 01, 2017 19:00:01] x"));
	assert_true(starts("%a %B %e %T.%L %p %z", "Mon January  2 10:00:00.123 PM +0100"));
	assert_true(starts("%F %T%%", "2024-01-02 10:00:00%"));
	assert_true(starts("%D %I:%M", "01/02/24 09:30"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_names),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_datetime_format),
	};

	return cmocka_run_group_tests_name("awslogs", tests, NULL, NULL);
}
