/*
 * metrics.h: counters, gauges and histograms exposed in the Prometheus text
 * format (version 0.0.4) at /metrics by the server and the agent.
 *
 * A registry holds families (one metric name, its HELP text, TYPE and label
 * names), registered once at start-up. A family's series (one per set of
 * label values) are created on first use and never removed; finding one
 * takes no lock (a lock-free open-addressing table of pointers) and updating
 * it is an atomic add, so counting on a request's hot path costs a hash of
 * its label values and a few atomic instructions. A family holds at most
 * METRICS_SERIES_MAX series: past that, updates of new label sets are
 * dropped (and counted in berth_metrics_series_dropped_total).
 *
 * Values that are cheaper to read when scraped than to keep up to date
 * (tasks by state, images on disk) come from collectors: functions called
 * at render time that write their families with metrics_write_*.
 */
#ifndef BERTH_CORE_METRICS_H
#define BERTH_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define METRICS_SERIES_MAX 2048
#define METRICS_LABELS_MAX 4
/* Longest rendered label set of one series ('a="x",b="y"'); longer values are cut. */
#define METRICS_LABELS_LEN 384

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric_family;
struct metric_series;

/* Bucket bounds (seconds) for request and loop latencies: 0.25 ms to 10 s. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_n;

/* A new, empty registry; metrics_free(NULL) is fine. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * Register a family. name and help are copied; label_names is a
 * comma-separated list ("service,action,code") or NULL for none (at most
 * METRICS_LABELS_MAX). bounds (histograms only: ascending, without +Inf)
 * are copied. Call before the registry is shared between threads. Returns
 * NULL (and registers nothing) for a programmer error: a bad name or label
 * list, or no bounds for a histogram.
 */
struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
				     const char *help, const char *label_names,
				     const double *bounds, size_t n_bounds);

/*
 * The series of family f with these label values (as many as the family
 * has label names; NULL for none), created on first use. Lock-free; NULL
 * when the family is full (the update functions accept NULL and do nothing).
 */
struct metric_series *metric_series(struct metric_family *f, const char *const *values);

/* Counter: add n. */
void metric_add(struct metric_series *s, uint64_t n);
/* Gauge: set to v, or add d (negative to subtract). */
void metric_set(struct metric_series *s, int64_t v);
void metric_gauge_add(struct metric_series *s, int64_t d);
/* Histogram: one observation of v (seconds, bytes, ...). */
void metric_observe(struct metric_series *s, double v);

/* A counter's or gauge's current value (tests). */
int64_t metric_value(const struct metric_series *s);
/* A histogram's number of observations (tests). */
uint64_t metric_count(const struct metric_series *s);

/*
 * Called at render time, after the registered families, in the order added.
 * It appends whole families to out with the metrics_write_* helpers.
 */
typedef void (*metrics_collect_fn)(void *ctx, struct buf *out);
void metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ctx);

/* Render every family and collector: the body of a /metrics answer. */
void metrics_render(struct metrics *m, struct buf *out);
/* The Content-Type of that body. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* For collectors: the HELP and TYPE lines of a family (help escaped here). */
void metrics_write_header(struct buf *out, const char *name, const char *help,
			  enum metric_type type);
/*
 * One sample line: name, then {labels} when labels is not NULL nor empty
 * (a set built with metrics_label), then the value.
 */
void metrics_write_sample(struct buf *out, const char *name, const char *labels, double v);
/* Append name="value" (value escaped as the format requires) to a label set. */
void metrics_label(struct buf *labels, const char *name, const char *value);
/* Append v as the format writes numbers (integers without a fraction, +Inf). */
void metrics_write_number(struct buf *out, double v);

#endif
