/*
 * metrics.c: the lock-free metric registry and its Prometheus text
 * rendering (metrics.h).
 */
#include "core/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/banned.h"

const double metrics_latency_buckets[] = { 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					   0.1,	    0.25,   0.5,   1,	   2.5,	  5,	10 };
const size_t metrics_latency_buckets_n = ARRAY_SIZE(metrics_latency_buckets);

struct metric_family;

struct metric_series {
	const struct metric_family *family;
	char labels[METRICS_LABELS_LEN]; /* rendered: a="x",b="y" */
	uint64_t hash;
	_Atomic int64_t value;	    /* counter, gauge */
	_Atomic uint64_t count;	    /* histogram */
	_Atomic uint64_t sum_bits;  /* histogram: the sum, a double's bits */
	_Atomic uint64_t buckets[]; /* histogram: per bucket (not cumulative), +Inf last */
};

struct metric_family {
	struct metric_family *next;
	struct metrics *registry;
	enum metric_type type;
	char *name, *help;
	char *label_names[METRICS_LABELS_MAX];
	size_t n_labels;
	double *bounds;
	size_t n_bounds;
	_Atomic(struct metric_series *) slots[METRICS_SERIES_MAX];
	_Atomic uint64_t n_series;
};

struct collector {
	struct collector *next;
	metrics_collect_fn fn;
	void *ctx;
};

struct metrics {
	struct metric_family *families, **last_family;
	struct collector *collectors, **last_collector;
	_Atomic uint64_t dropped;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	m->last_family = &m->families;
	m->last_collector = &m->collectors;
	return m;
}

static void family_free(struct metric_family *f)
{
	for (size_t i = 0; i < METRICS_SERIES_MAX; i++)
		free(atomic_load(&f->slots[i]));
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->label_names[i]);
	free(f->name);
	free(f->help);
	free(f->bounds);
	free(f);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	while (m->families) {
		struct metric_family *f = m->families;

		m->families = f->next;
		family_free(f);
	}
	while (m->collectors) {
		struct collector *c = m->collectors;

		m->collectors = c->next;
		free(c);
	}
	free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; no ':' for label names. */
static bool valid_name(const char *s, size_t n, bool label)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (c == ':' && !label) || (i > 0 && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return !(label && n >= 2 && s[0] == '_' && s[1] == '_'); /* reserved */
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		abort();
	return d;
}

struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
				     const char *help, const char *label_names,
				     const double *bounds, size_t n_bounds)
{
	struct metric_family *f;

	if (!valid_name(name, strlen(name), false) ||
	    (type == METRIC_HISTOGRAM && (!bounds || n_bounds == 0)))
		return NULL;
	for (size_t i = 1; type == METRIC_HISTOGRAM && i < n_bounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	for (const char *p = label_names; p && *p;) {
		size_t n = strcspn(p, ",");

		if (f->n_labels == METRICS_LABELS_MAX || !valid_name(p, n, true) ||
		    (type == METRIC_HISTOGRAM && n == 2 && !strncmp(p, "le", 2))) {
			family_free(f);
			return NULL;
		}
		f->label_names[f->n_labels++] = xstrndup(p, n);
		p += n;
		if (*p == ',')
			p++;
	}
	f->registry = m;
	f->type = type;
	f->name = xstrndup(name, strlen(name));
	f->help = xstrndup(help ? help : "", strlen(help ? help : ""));
	if (type == METRIC_HISTOGRAM) {
		f->bounds = malloc(n_bounds * sizeof(*bounds));
		if (!f->bounds)
			abort();
		memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
		f->n_bounds = n_bounds;
	}
	*m->last_family = f;
	m->last_family = &f->next;
	return f;
}

/* Label values escape backslash, double quote and line feed. */
static void escape_label_value(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(out, "\\\\");
		else if (*s == '"')
			buf_puts(out, "\\\"");
		else if (*s == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *s);
	}
}

void metrics_label(struct buf *labels, const char *name, const char *value)
{
	if (labels->len)
		buf_putc(labels, ',');
	buf_puts(labels, name);
	buf_puts(labels, "=\"");
	escape_label_value(labels, value ? value : "");
	buf_putc(labels, '"');
}

/* FNV-1a, 64 bits. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A bounded string being built on the stack: the hot path allocates nothing. */
struct fixed {
	char *p;
	size_t n, cap;
	bool over;
};

static void put(struct fixed *x, const char *s, size_t n)
{
	if (x->over || x->n + n >= x->cap) {
		x->over = true;
		return;
	}
	memcpy(x->p + x->n, s, n);
	x->n += n;
}

static void put_label(struct fixed *x, const char *name, const char *v, size_t cut)
{
	if (x->n)
		put(x, ",", 1);
	put(x, name, strlen(name));
	put(x, "=\"", 2);
	for (size_t i = 0; i < cut; i++) {
		if (v[i] == '\\')
			put(x, "\\\\", 2);
		else if (v[i] == '"')
			put(x, "\\\"", 2);
		else if (v[i] == '\n')
			put(x, "\\n", 2);
		else
			put(x, v + i, 1);
	}
	put(x, "\"", 1);
}

/*
 * Render the label set into key: each value cut to half the room (at a
 * UTF-8 character boundary); when that still does not fit, the values are
 * left empty, so that the line stays valid.
 */
static void render_labels(const struct metric_family *f, const char *const *values,
			  char key[METRICS_LABELS_LEN])
{
	struct fixed x = { key, 0, METRICS_LABELS_LEN, false };

	for (size_t i = 0; i < f->n_labels; i++) {
		const char *v = values && values[i] ? values[i] : "";
		size_t cut = strlen(v);

		if (cut > METRICS_LABELS_LEN / 2) {
			cut = METRICS_LABELS_LEN / 2;
			while (cut > 0 && ((unsigned char)v[cut] & 0xc0) == 0x80)
				cut--;
		}
		put_label(&x, f->label_names[i], v, cut);
	}
	if (x.over) {
		x = (struct fixed){ key, 0, METRICS_LABELS_LEN, false };
		for (size_t i = 0; i < f->n_labels; i++)
			put_label(&x, f->label_names[i], "", 0);
		if (x.over)
			x.n = 0;
	}
	key[x.n] = 0;
}

struct metric_series *metric_series(struct metric_family *f, const char *const *values)
{
	char key[METRICS_LABELS_LEN];
	struct metric_series *s, *mine = NULL;
	uint64_t h;
	size_t i, size;

	if (!f)
		return NULL;
	render_labels(f, values, key);
	h = hash_str(key);
	for (size_t probe = 0; probe < METRICS_SERIES_MAX; probe++) {
		i = (size_t)((h + probe) % METRICS_SERIES_MAX);
		s = atomic_load_explicit(&f->slots[i], memory_order_acquire);
		if (!s) {
			if (!mine) {
				size = sizeof(*mine) +
				       (f->type == METRIC_HISTOGRAM ? (f->n_bounds + 1) : 0) *
					       sizeof(mine->buckets[0]);
				mine = calloc(1, size);
				if (!mine)
					abort();
				memcpy(mine->labels, key, strlen(key) + 1);
				mine->family = f;
				mine->hash = h;
			}
			struct metric_series *expected = NULL;

			if (atomic_compare_exchange_strong_explicit(&f->slots[i], &expected, mine,
								    memory_order_acq_rel,
								    memory_order_acquire)) {
				atomic_fetch_add(&f->n_series, 1);
				return mine;
			}
			s = expected; /* another thread filled this slot first */
		}
		if (s->hash == h && !strcmp(s->labels, key)) {
			free(mine);
			return s;
		}
	}
	free(mine);
	atomic_fetch_add_explicit(&f->registry->dropped, 1, memory_order_relaxed);
	return NULL;
}

void metric_add(struct metric_series *s, uint64_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->value, (int64_t)n, memory_order_relaxed);
}

void metric_set(struct metric_series *s, int64_t v)
{
	if (s)
		atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

void metric_gauge_add(struct metric_series *s, int64_t d)
{
	if (s)
		atomic_fetch_add_explicit(&s->value, d, memory_order_relaxed);
}

static uint64_t double_bits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double bits_double(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

void metric_observe(struct metric_series *s, double v)
{
	const struct metric_family *f;
	size_t i = 0;
	uint64_t old, next;

	if (!s || isnan(v) || !(f = s->family)->n_bounds)
		return;
	while (i < f->n_bounds && v > f->bounds[i])
		i++;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
	do
		next = double_bits(bits_double(old) + v);
	while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old, next,
						      memory_order_relaxed, memory_order_relaxed));
	atomic_fetch_add_explicit(&s->count, 1, memory_order_release);
}

int64_t metric_value(const struct metric_series *s)
{
	return s ? atomic_load((_Atomic int64_t *)&s->value) : 0;
}

uint64_t metric_count(const struct metric_series *s)
{
	return s ? atomic_load((_Atomic uint64_t *)&s->count) : 0;
}

void metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ctx)
{
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->fn = fn;
	c->ctx = ctx;
	*m->last_collector = c;
	m->last_collector = &c->next;
}

void metrics_write_number(struct buf *out, double v)
{
	char tmp[40];

	if (isinf(v)) {
		buf_puts(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (isnan(v)) {
		buf_puts(out, "NaN");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		buf_printf(out, "%lld", (long long)v);
		return;
	}
	/* the shortest of %.15g and %.17g that reads back as v */
	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	buf_puts(out, tmp);
}

void metrics_write_header(struct buf *out, const char *name, const char *help,
			  enum metric_type type)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };

	buf_printf(out, "# HELP %s ", name);
	for (const char *p = help; p && *p; p++) {
		if (*p == '\\')
			buf_puts(out, "\\\\");
		else if (*p == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *p);
	}
	buf_printf(out, "\n# TYPE %s %s\n", name, types[type]);
}

void metrics_write_sample(struct buf *out, const char *name, const char *labels, double v)
{
	buf_puts(out, name);
	if (labels && *labels)
		buf_printf(out, "{%s}", labels);
	buf_putc(out, ' ');
	metrics_write_number(out, v);
	buf_putc(out, '\n');
}

static int series_cmp(const void *a, const void *b)
{
	const struct metric_series *const *x = a, *const *y = b;

	return strcmp((*x)->labels, (*y)->labels);
}

static void render_histogram(struct buf *out, const struct metric_family *f,
			     struct metric_series *s)
{
	_cleanup_buf_ struct buf name = BUF_INIT, labels = BUF_INIT;
	uint64_t cumulative = 0, count;
	char le[40];

	/* count first (release on observe): buckets then hold at least as many */
	count = atomic_load_explicit(&s->count, memory_order_acquire);
	buf_printf(&name, "%s_bucket", f->name);
	for (size_t i = 0; i <= f->n_bounds; i++) {
		struct buf b = BUF_INIT;

		cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		buf_reset(&labels);
		if (s->labels[0])
			buf_puts(&labels, s->labels);
		if (i < f->n_bounds)
			metrics_write_number(&b, f->bounds[i]);
		else
			buf_puts(&b, "+Inf");
		snprintf(le, sizeof(le), "%s", buf_str(&b));
		buf_release(&b);
		metrics_label(&labels, "le", le);
		/*
		 * An observation between its bucket add and its count add is in
		 * the buckets but not the count: +Inf must equal _count, so the
		 * buckets are capped by the count read first.
		 */
		metrics_write_sample(out, buf_str(&name), buf_str(&labels),
				     (double)(cumulative < count ? cumulative : count));
	}
	buf_reset(&name);
	buf_printf(&name, "%s_sum", f->name);
	metrics_write_sample(out, buf_str(&name), s->labels,
			     bits_double(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
	buf_reset(&name);
	buf_printf(&name, "%s_count", f->name);
	metrics_write_sample(out, buf_str(&name), s->labels, (double)count);
}

void metrics_render(struct metrics *m, struct buf *out)
{
	struct metric_series **list = NULL;

	for (struct metric_family *f = m->families; f; f = f->next) {
		size_t n = 0;

		metrics_write_header(out, f->name, f->help, f->type);
		list = realloc(list, METRICS_SERIES_MAX * sizeof(*list));
		if (!list)
			abort();
		for (size_t i = 0; i < METRICS_SERIES_MAX; i++) {
			struct metric_series *s =
				atomic_load_explicit(&f->slots[i], memory_order_acquire);

			if (s)
				list[n++] = s;
		}
		if (n)
			qsort(list, n, sizeof(*list), series_cmp);
		for (size_t i = 0; i < n; i++) {
			if (f->type == METRIC_HISTOGRAM)
				render_histogram(out, f, list[i]);
			else
				metrics_write_sample(out, f->name, list[i]->labels,
						     (double)atomic_load(&list[i]->value));
		}
	}
	free(list);
	for (struct collector *c = m->collectors; c; c = c->next)
		c->fn(c->ctx, out);
	metrics_write_header(
		out, "berth_metrics_series_dropped_total",
		"Series lookups refused because their family had no room for a new series.",
		METRIC_COUNTER);
	metrics_write_sample(out, "berth_metrics_series_dropped_total", NULL,
			     (double)atomic_load(&m->dropped));
}
