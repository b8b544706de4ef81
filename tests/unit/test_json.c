/*
 * test_json.c: the cJSON helpers of core/json: json_array_find over the
 * arrays berth keeps (container overrides, attributes, tags), and json_set
 * replacing a member in place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"

static void test_array_find(void **state)
{
	cJSON *doc = cJSON_Parse("{\"containerOverrides\": ["
				 "{\"name\": \"web\", \"cpu\": 1},"
				 "{\"cpu\": 2},"
				 "{\"name\": 7},"
				 "\"web\","
				 "{\"name\": \"app\", \"cpu\": 3},"
				 "{\"name\": \"web\", \"cpu\": 4}]}");
	const cJSON *list = json_arr(doc, "containerOverrides");
	cJSON *o;

	(void)state;
	assert_non_null(list);
	o = json_array_find(list, "name", "web");
	assert_non_null(o);
	assert_int_equal(json_int(o, "cpu", 0), 1); /* the first of two */
	o = json_array_find(list, "name", "app");
	assert_non_null(o);
	assert_int_equal(json_int(o, "cpu", 0), 3);
	assert_null(json_array_find(list, "name", "db"));
	assert_null(json_array_find(list, "name", "7")); /* a number is not a string */
	assert_null(json_array_find(list, "name", NULL));
	assert_null(json_array_find(list, "missing", "web"));
	/* not an array, or none */
	assert_null(json_array_find(doc, "name", "web"));
	assert_null(json_array_find(NULL, "name", "web"));
	assert_null(json_array_find(json_arr(doc, "nothing"), "name", "web"));
	/* the result belongs to the array and may be changed through it */
	o = json_array_find(list, "name", "app");
	json_set_num(o, "cpu", 9);
	assert_int_equal(json_int(json_array_find(list, "name", "app"), "cpu", 0), 9);
	cJSON_Delete(doc);
}

static void test_set_in_place(void **state)
{
	cJSON *doc = cJSON_Parse("{\"a\": 1, \"b\": \"x\", \"c\": true}");
	struct buf out = BUF_INIT;

	(void)state;
	json_set_str(doc, "b", "y");
	json_set_num(doc, "d", 4);
	json_set(doc, "a", NULL); /* nothing happens */
	json_print(&out, doc);
	assert_string_equal(buf_str(&out), "{\"a\":1,\"b\":\"y\",\"c\":true,\"d\":4}");
	buf_release(&out);
	cJSON_Delete(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_find),
		cmocka_unit_test(test_set_in_place),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
