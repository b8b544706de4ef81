/*
 * test_metrics.c: the metric registry and its Prometheus text: exact
 * output of counters, gauges and histograms (cumulative buckets, +Inf,
 * _sum, _count), escaping of label values and HELP text, series found
 * again by their labels, refusals of bad names, a full family, and
 * updates from several threads at once adding up.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static void test_counter_and_gauge(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *c = metrics_family(m, METRIC_COUNTER, "x_requests_total", "Requests.",
						 "op,code", NULL, 0);
	struct metric_family *g = metrics_family(m, METRIC_GAUGE, "x_up", "Up.", NULL, NULL, 0);
	struct metric_series *a, *b;
	struct buf out = BUF_INIT;

	(void)state;
	assert_non_null(c);
	assert_non_null(g);
	a = metric_series(c, (const char *const[]){ "Run", "200" });
	b = metric_series(c, (const char *const[]){ "Run", "400" });
	assert_ptr_equal(a, metric_series(c, (const char *const[]){ "Run", "200" }));
	assert_ptr_not_equal(a, b);
	metric_add(a, 2);
	metric_add(a, 1);
	metric_add(b, 1);
	metric_set(metric_series(g, NULL), 5);
	metric_gauge_add(metric_series(g, NULL), -2);
	assert_int_equal(metric_value(a), 3);
	assert_int_equal(metric_value(metric_series(g, NULL)), 3);
	metrics_render(m, &out);
	assert_string_equal(
		buf_str(&out),
		"# HELP x_requests_total Requests.\n"
		"# TYPE x_requests_total counter\n"
		"x_requests_total{op=\"Run\",code=\"200\"} 3\n"
		"x_requests_total{op=\"Run\",code=\"400\"} 1\n"
		"# HELP x_up Up.\n"
		"# TYPE x_up gauge\n"
		"x_up 3\n"
		"# HELP berth_metrics_series_dropped_total Series lookups refused because "
		"their family had no room for a new series.\n"
		"# TYPE berth_metrics_series_dropped_total counter\n"
		"berth_metrics_series_dropped_total 0\n");
	buf_release(&out);
	metrics_free(m);
}

static void test_histogram(void **state)
{
	static const double bounds[] = { 0.1, 1, 2.5 };
	struct metrics *m = metrics_new();
	struct metric_family *h =
		metrics_family(m, METRIC_HISTOGRAM, "x_seconds", "Time.", "loop", bounds, 3);
	struct metric_series *s = metric_series(h, (const char *const[]){ "a" });
	struct buf out = BUF_INIT;

	(void)state;
	metric_observe(s, 0.05);
	metric_observe(s, 0.1); /* le is inclusive */
	metric_observe(s, 2);
	metric_observe(s, 30);
	assert_int_equal(metric_count(s), 4);
	metrics_render(m, &out);
	assert_non_null(strstr(buf_str(&out), "# TYPE x_seconds histogram\n"
					      "x_seconds_bucket{loop=\"a\",le=\"0.1\"} 2\n"
					      "x_seconds_bucket{loop=\"a\",le=\"1\"} 2\n"
					      "x_seconds_bucket{loop=\"a\",le=\"2.5\"} 3\n"
					      "x_seconds_bucket{loop=\"a\",le=\"+Inf\"} 4\n"
					      "x_seconds_sum{loop=\"a\"} 32.15\n"
					      "x_seconds_count{loop=\"a\"} 4\n"));
	buf_release(&out);
	metrics_free(m);
}

static void test_escaping(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *c = metrics_family(m, METRIC_COUNTER, "x_total",
						 "A \\ backslash\nand a line.", "v", NULL, 0);
	struct buf out = BUF_INIT;

	(void)state;
	metric_add(metric_series(c, (const char *const[]){ "a\"b\\c\nd" }), 1);
	metrics_render(m, &out);
	assert_non_null(strstr(buf_str(&out), "# HELP x_total A \\\\ backslash\\nand a line.\n"));
	assert_non_null(strstr(buf_str(&out), "x_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
	buf_release(&out);

	/* numbers: integers plain, fractions shortest, infinities named */
	metrics_write_number(&out, 3);
	buf_putc(&out, ' ');
	metrics_write_number(&out, 0.1);
	buf_putc(&out, ' ');
	metrics_write_number(&out, 1.0 / 0.0);
	buf_putc(&out, ' ');
	metrics_write_number(&out, 1e20);
	assert_string_equal(buf_str(&out), "3 0.1 +Inf 1e+20");
	buf_release(&out);
	metrics_free(m);
}

static void test_refusals(void **state)
{
	static const double bounds[] = { 2, 1 };
	struct metrics *m = metrics_new();

	(void)state;
	assert_null(metrics_family(m, METRIC_COUNTER, "1bad", "", NULL, NULL, 0));
	assert_null(metrics_family(m, METRIC_COUNTER, "bad-name", "", NULL, NULL, 0));
	assert_null(metrics_family(m, METRIC_COUNTER, "ok", "", "a,b-c", NULL, 0));
	assert_null(metrics_family(m, METRIC_COUNTER, "ok", "", "__reserved", NULL, 0));
	assert_null(metrics_family(m, METRIC_COUNTER, "ok", "", "a,b,c,d,e", NULL, 0));
	assert_null(metrics_family(m, METRIC_HISTOGRAM, "h", "", NULL, NULL, 0));
	assert_null(metrics_family(m, METRIC_HISTOGRAM, "h", "", NULL, bounds, 2));
	assert_null(metrics_family(m, METRIC_HISTOGRAM, "h", "", "le", bounds, 1));
	/* NULL series and families are accepted and do nothing */
	metric_add(metric_series(NULL, NULL), 1);
	metric_observe(NULL, 1);
	metrics_free(m);
	metrics_free(NULL);
}

static void test_full_family(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *c = metrics_family(m, METRIC_COUNTER, "x_total", "", "n", NULL, 0);
	struct buf out = BUF_INIT;
	char name[16];

	(void)state;
	for (int i = 0; i < METRICS_SERIES_MAX; i++) {
		snprintf(name, sizeof(name), "%d", i);
		assert_non_null(metric_series(c, (const char *const[]){ name }));
	}
	assert_null(metric_series(c, (const char *const[]){ "one more" }));
	/* the ones there are still found */
	assert_non_null(metric_series(c, (const char *const[]){ "7" }));
	metrics_render(m, &out);
	assert_non_null(strstr(buf_str(&out), "berth_metrics_series_dropped_total 1\n"));
	buf_release(&out);
	metrics_free(m);
}

/* Over-long label values are cut at a character boundary, or blanked, never breaking a line. */
static void test_long_values(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *c = metrics_family(m, METRIC_COUNTER, "x_total", "", "v", NULL, 0);
	char long_utf8[1001], quotes[301];
	struct buf out = BUF_INIT;
	const char *line, *end;

	(void)state;
	for (int i = 0; i < 1000; i += 2)
		memcpy(long_utf8 + i, "\xc3\xa9", 2);
	long_utf8[1000] = 0;
	memset(quotes, '"', 300);
	quotes[300] = 0;
	metric_add(metric_series(c, (const char *const[]){ long_utf8 }), 1);
	metric_add(metric_series(c, (const char *const[]){ quotes }), 2);
	metrics_render(m, &out);
	line = strstr(buf_str(&out), "x_total{v=\"\xc3\xa9");
	assert_non_null(line);
	end = strstr(line, "\"} 1\n");
	assert_non_null(end);
	/* cut at METRICS_LABELS_LEN / 2 bytes, on a whole character */
	assert_int_equal((size_t)(end - (line + strlen("x_total{v=\""))), METRICS_LABELS_LEN / 2);
	/* 300 quotes escape to 600 bytes: too long even cut, so blank */
	assert_non_null(strstr(buf_str(&out), "x_total{v=\"\"} 2\n"));
	buf_release(&out);
	metrics_free(m);
}

struct hammer {
	struct metric_family *c, *h;
};

static void *hammer(void *arg)
{
	struct hammer *x = arg;
	char name[8];

	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "%d", i % 7);
		metric_add(metric_series(x->c, (const char *const[]){ name }), 1);
		metric_observe(metric_series(x->h, NULL), 0.5);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct metrics *m = metrics_new();
	struct hammer x = {
		.c = metrics_family(m, METRIC_COUNTER, "x_total", "", "n", NULL, 0),
		.h = metrics_family(m, METRIC_HISTOGRAM, "x_seconds", "", NULL,
				    metrics_latency_buckets, metrics_latency_buckets_n),
	};
	pthread_t t[4];
	int64_t total = 0;
	char name[8];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &x), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "%d", i);
		total += metric_value(metric_series(x.c, (const char *const[]){ name }));
	}
	assert_int_equal(total, 80000);
	assert_int_equal(metric_count(metric_series(x.h, NULL)), 80000);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_and_gauge), cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_escaping),	  cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_full_family),	  cmocka_unit_test(test_threads),
		cmocka_unit_test(test_long_values),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
