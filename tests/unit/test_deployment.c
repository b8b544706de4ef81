/*
 * test_deployment.c: the service scheduler's arithmetic: the floor and
 * ceiling of a rolling deployment as the API reference rounds them, the
 * plan of one pass (scale in, replace within the floor, start within the
 * ceiling), the circuit breaker's threshold, the restart back-off, and
 * the events' wording.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "sched/deployment.h"
#include "sched/placement.h"
#include "core/banned.h"

static void test_floor_and_ceiling(void **state)
{
	(void)state;
	/* minimumHealthyPercent rounds up, maximumPercent down */
	assert_int_equal(deployment_min_healthy(4, 50), 2);
	assert_int_equal(deployment_min_healthy(3, 50), 2);
	assert_int_equal(deployment_min_healthy(1, 50), 1);
	assert_int_equal(deployment_min_healthy(5, 0), 0);
	assert_int_equal(deployment_min_healthy(0, 100), 0);
	assert_int_equal(deployment_max_total(4, 200), 8);
	assert_int_equal(deployment_max_total(3, 150), 4);
	assert_int_equal(deployment_max_total(1, 150), 1);
	assert_int_equal(deployment_max_total(0, 200), 0);
}

static void test_threshold(void **state)
{
	(void)state;
	/* 0.5 * desired rounded up, at least 3, at most 200 */
	assert_int_equal(deployment_failure_threshold(0), 3);
	assert_int_equal(deployment_failure_threshold(1), 3);
	assert_int_equal(deployment_failure_threshold(2), 3);
	assert_int_equal(deployment_failure_threshold(6), 3);
	assert_int_equal(deployment_failure_threshold(7), 4);
	assert_int_equal(deployment_failure_threshold(25), 13);
	assert_int_equal(deployment_failure_threshold(400), 200);
	assert_int_equal(deployment_failure_threshold(1000), 200);
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(deployment_backoff_ms(0, 900000), 0);
	assert_int_equal(deployment_backoff_ms(1, 900000), 1000);
	assert_int_equal(deployment_backoff_ms(2, 900000), 2000);
	assert_int_equal(deployment_backoff_ms(5, 900000), 16000);
	assert_int_equal(deployment_backoff_ms(40, 900000), 900000);
	assert_int_equal(deployment_backoff_ms(3, 1500), 1500);
}

static void plan(int64_t desired, int64_t min, int64_t max, int64_t primary,
		 int64_t primary_healthy, int64_t old, int64_t old_healthy,
		 struct deployment_plan *ret)
{
	struct deployment_counts c = {
		.desired = desired,
		.min_percent = min,
		.max_percent = max,
		.primary = primary,
		.primary_healthy = primary_healthy,
		.old = old,
		.old_healthy = old_healthy,
	};

	deployment_plan(&c, ret);
}

static void test_plan(void **state)
{
	struct deployment_plan p;

	(void)state;
	/* a new service: start them all */
	plan(3, 100, 200, 0, 0, 0, 0, &p);
	assert_int_equal(p.start, 3);
	assert_int_equal(p.stop_primary + p.stop_old_healthy + p.stop_old_unready, 0);
	/* steady: nothing */
	plan(3, 100, 200, 3, 3, 0, 0, &p);
	assert_int_equal(p.start + p.stop_primary + p.stop_old_healthy + p.stop_old_unready, 0);
	/* scale in 4 -> 1: three go, whatever the floor */
	plan(1, 100, 200, 4, 4, 0, 0, &p);
	assert_int_equal(p.stop_primary, 3);
	assert_int_equal(p.start, 0);
	/* one died: one more */
	plan(2, 100, 200, 1, 1, 0, 0, &p);
	assert_int_equal(p.start, 1);

	/* rolling 4 tasks, min 50 max 200: two old go at once, four new start */
	plan(4, 50, 200, 0, 0, 4, 4, &p);
	assert_int_equal(p.stop_old_healthy, 2);
	assert_int_equal(p.start, 4);
	/* the new ones pending: the floor (2) holds the rest */
	plan(4, 50, 200, 4, 0, 2, 2, &p);
	assert_int_equal(p.stop_old_healthy, 0);
	assert_int_equal(p.start, 0);
	/* the new ones healthy: the old ones go */
	plan(4, 50, 200, 4, 4, 2, 2, &p);
	assert_int_equal(p.stop_old_healthy, 2);

	/* min 100 max 200: nothing old goes before new ones are healthy */
	plan(2, 100, 200, 0, 0, 2, 2, &p);
	assert_int_equal(p.stop_old_healthy, 0);
	assert_int_equal(p.start, 2);
	plan(2, 100, 200, 2, 1, 2, 2, &p);
	assert_int_equal(p.stop_old_healthy, 1);
	assert_int_equal(p.start, 0);

	/* min 0 max 100: stop first, then start in the room made */
	plan(2, 0, 100, 0, 0, 2, 2, &p);
	assert_int_equal(p.stop_old_healthy, 2);
	assert_int_equal(p.start, 2);
	/* min 50 max 100: one at a time */
	plan(2, 50, 100, 0, 0, 2, 2, &p);
	assert_int_equal(p.stop_old_healthy, 1);
	assert_int_equal(p.start, 1);

	/* replaced tasks that are not healthy go at once */
	plan(2, 100, 200, 2, 2, 3, 0, &p);
	assert_int_equal(p.stop_old_unready, 3);
	/* the ceiling bounds starts */
	plan(10, 100, 150, 0, 0, 10, 10, &p);
	assert_int_equal(p.start, 5);
	assert_int_equal(p.stop_old_healthy, 0);
}

static void check(void (*fn)(struct buf *), const char *want)
{
	struct buf b = BUF_INIT;

	fn(&b);
	assert_string_equal(buf_str(&b), want);
	buf_release(&b);
}

static void started(struct buf *b)
{
	deployment_event_started(b, "web", 2, "abc def");
}

static void stopped(struct buf *b)
{
	deployment_event_stopped(b, "web", 1, "abc");
}

static void steady(struct buf *b)
{
	deployment_event_steady(b, "web");
}

static void impaired(struct buf *b)
{
	deployment_event_impaired(b, "web");
}

static void completed(struct buf *b)
{
	deployment_event_completed(b, "web", "ecs-svc/1234567890123456789");
}

static void failed(struct buf *b)
{
	deployment_event_failed(b, "web", "ecs-svc/1234567890123456789");
}

static void unplaced_memory(struct buf *b)
{
	deployment_event_unplaced(b, "web", PLACEMENT_REASON_MEMORY, "0123abcd");
}

static void unplaced(struct buf *b)
{
	deployment_event_unplaced(b, "web", NULL, NULL);
}

static void test_events(void **state)
{
	(void)state;
	check(started, "(service web) has started 2 tasks: (task abc) (task def).");
	check(stopped, "(service web) has stopped 1 running tasks: (task abc).");
	check(steady, "(service web) has reached a steady state.");
	check(impaired, "(service web) is unable to consistently start tasks successfully. For "
			"more information, see the Troubleshooting section of the Amazon ECS "
			"Developer Guide.");
	check(completed, "(service web) (deployment ecs-svc/1234567890123456789) deployment "
			 "completed.");
	check(failed, "(service web) (deployment ecs-svc/1234567890123456789) deployment "
		      "failed: tasks failed to start.");
	check(unplaced_memory, "(service web) was unable to place a task because no container "
			       "instance met all of its requirements. The closest matching "
			       "(container-instance 0123abcd) has insufficient memory "
			       "available.");
	check(unplaced, "(service web) was unable to place a task because no container instance "
			"met all of its requirements.");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor_and_ceiling),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
