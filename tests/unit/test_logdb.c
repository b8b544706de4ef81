/*
 * test_logdb.c: the log store (store/logdb.c): groups and streams, appends
 * sorted by timestamp, reads forward and backward from a position within
 * time bounds, sequence tokens (already accepted, invalid), filtering
 * across streams, retention, and that it all survives reopening.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fs.h"
#include "store/logdb.h"

struct seen {
	char msgs[64][32];
	int64_t ts[64];
	int n, stop_after;
};

static int collect(void *ctx, const struct logdb_event *e)
{
	struct seen *s = ctx;

	if (s->n == s->stop_after)
		return 1;
	snprintf(s->msgs[s->n], sizeof(s->msgs[0]), "%.*s", (int)e->msg_len, e->msg);
	s->ts[s->n++] = e->pos.ts;
	return 0;
}

static struct logdb_input ev(int64_t ts, const char *m)
{
	return (struct logdb_input){ ts, m, strlen(m) };
}

static char dir[] = "/tmp/berth-test-logdb-XXXXXX";

static void test_groups_streams_events(void **state)
{
	struct logdb *db;
	struct err err = ERR_INIT;
	struct logdb_stream st;
	struct logdb_input in[] = { ev(30, "c"), ev(10, "a"), ev(20, "b"), ev(30, "d") };
	struct seen s = { .stop_after = 64 };
	int64_t seq = 0;
	const struct logdb_pos start = { INT64_MIN, INT64_MIN }, end = { INT64_MAX, INT64_MAX };

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(logdb_open(dir, &db, &err), 0);
	assert_int_equal(logdb_group_create(db, "g", 1000, NULL, "STANDARD", &err), 0);
	assert_int_equal(logdb_group_create(db, "g", 1000, NULL, "STANDARD", &err), -EEXIST);
	assert_int_equal(err.kind, E_RESOURCE_ALREADY_EXISTS);
	assert_int_equal(logdb_stream_create(db, "nope", "s", 1000, &err), -ENOENT);
	assert_int_equal(err.kind, E_RESOURCE_NOT_FOUND);
	assert_int_equal(logdb_stream_create(db, "g", "s", 1000, &err), 0);
	assert_int_equal(logdb_stream_create(db, "g", "t", 1000, &err), 0);
	assert_int_equal(logdb_put(db, "g", "s", NULL, in, 4, 4, 5000, &seq, &err), 0);
	assert_int_equal(seq, 4);
	/* the token: the same one again is a batch accepted before, a bigger one invalid */
	assert_int_equal(logdb_put(db, "g", "s", "3", in, 1, 1, 5000, &seq, &err), -EALREADY);
	assert_int_equal(err.kind, E_DATA_ALREADY_ACCEPTED);
	assert_non_null(strstr(err.msg, "sequenceToken: 4"));
	assert_int_equal(logdb_put(db, "g", "s", "9", in, 1, 1, 5000, &seq, &err), -EINVAL);
	assert_int_equal(err.kind, E_INVALID_SEQUENCE_TOKEN);
	assert_int_equal(logdb_put(db, "g", "s", "x", in, 1, 1, 5000, &seq, &err), -EINVAL);
	/* rejected events count in the token, not in the stream */
	struct logdb_input more[] = { ev(40, "e") };
	assert_int_equal(logdb_put(db, "g", "s", "4", more, 1, 3, 5000, &seq, &err), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(logdb_put(db, "g", "nope", NULL, more, 1, 1, 5000, &seq, &err), -ENOENT);

	assert_int_equal(logdb_stream_get(db, "g", "s", &st, &err), 0);
	assert_int_equal(st.seq, 7);
	assert_int_equal(st.first_ts, 10);
	assert_int_equal(st.last_ts, 40);
	/* forward, in (timestamp, arrival) order */
	assert_int_equal(logdb_read(db, st.id, 0, INT64_MAX, start, false, collect, &s, &err), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.msgs[0], "a");
	assert_string_equal(s.msgs[1], "b");
	assert_string_equal(s.msgs[2], "c");
	assert_string_equal(s.msgs[3], "d");
	assert_string_equal(s.msgs[4], "e");
	/* backward, within [20, 40) */
	memset(&s, 0, sizeof(s));
	s.stop_after = 64;
	assert_int_equal(logdb_read(db, st.id, 20, 40, end, true, collect, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.msgs[0], "d");
	assert_string_equal(s.msgs[2], "b");
	/* after a position */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(logdb_read(db, st.id, 0, INT64_MAX, (struct logdb_pos){ 30, 2 }, false,
				    collect, &s, &err),
			 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msgs[0], "d");
	logdb_free(db);

	/* everything is still there after reopening */
	assert_int_equal(logdb_open(dir, &db, &err), 0);
	assert_int_equal(logdb_stream_get(db, "g", "s", &st, &err), 0);
	assert_int_equal(st.seq, 7);
	memset(&s, 0, sizeof(s));
	s.stop_after = 64;
	assert_int_equal(logdb_read(db, st.id, 0, INT64_MAX, start, false, collect, &s, &err), 0);
	assert_int_equal(s.n, 5);
	logdb_free(db);
}

static int count_filter(void *ctx, const struct logdb_event *e)
{
	struct seen *s = ctx;

	snprintf(s->msgs[s->n], sizeof(s->msgs[0]), "%s:%.*s", e->stream_name, (int)e->msg_len,
		 e->msg);
	s->n++;
	return 0;
}

static void test_filter_and_retention(void **state)
{
	struct logdb *db;
	struct err err = ERR_INIT;
	struct seen s = { 0 };
	int64_t seq, day = 86400000, now = 100 * day;
	struct logdb_input a[] = { ev(now - 3 * day, "old-a"), ev(now - 10, "new-a") };
	struct logdb_input b[] = { ev(now - 20, "new-b") };
	const char *names[] = { "b" };
	const struct logdb_filter_pos any = { INT64_MIN, INT64_MIN, INT64_MIN };

	(void)state;
	assert_int_equal(logdb_open(dir, &db, &err), 0);
	assert_int_equal(logdb_group_create(db, "f", now, NULL, NULL, &err), 0);
	assert_int_equal(logdb_stream_create(db, "f", "a", now, &err), 0);
	assert_int_equal(logdb_stream_create(db, "f", "b", now, &err), 0);
	assert_int_equal(logdb_put(db, "f", "a", NULL, a, 2, 2, now, &seq, &err), 0);
	assert_int_equal(logdb_put(db, "f", "b", NULL, b, 1, 1, now, &seq, &err), 0);
	assert_int_equal(
		logdb_filter(db, "f", NULL, 0, NULL, 0, INT64_MAX, any, count_filter, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.msgs[0], "a:old-a");
	assert_string_equal(s.msgs[1], "b:new-b");
	assert_string_equal(s.msgs[2], "a:new-a");
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		logdb_filter(db, "f", names, 1, NULL, 0, INT64_MAX, any, count_filter, &s, &err),
		0);
	assert_int_equal(s.n, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		logdb_filter(db, "nope", NULL, 0, NULL, 0, INT64_MAX, any, count_filter, &s, &err),
		-ENOENT);
	/* a retention of 1 day drops the 3-day-old event */
	assert_int_equal(logdb_group_retention(db, "f", 1, now, &err), 0);
	assert_int_equal(
		logdb_filter(db, "f", NULL, 0, NULL, 0, INT64_MAX, any, count_filter, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(logdb_group_retention(db, "nope", 1, now, &err), -ENOENT);
	assert_int_equal(logdb_expire(db, now, &err), 0);
	/* deleting the group takes its streams and events */
	assert_int_equal(logdb_group_delete(db, "f", &err), 0);
	assert_int_equal(logdb_group_delete(db, "f", &err), -ENOENT);
	assert_int_equal(logdb_stream_create(db, "f", "a", now, &err), -ENOENT);
	logdb_free(db);
	fs_remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_streams_events),
		cmocka_unit_test(test_filter_and_retention),
	};

	return cmocka_run_group_tests_name("logdb", tests, NULL, NULL);
}
