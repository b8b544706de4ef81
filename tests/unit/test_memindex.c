/*
 * test_memindex.c: the in-memory index against a plain sorted array, over
 * random puts and deletes: gets, prefix scans both ways, resuming after a
 * key, and early stops.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/memindex.h"

#define KEYS 400

struct model {
	char keys[KEYS][16];
	int present[KEYS];
	unsigned version[KEYS];
};

struct collect {
	char seen[KEYS][16];
	int n;
	int stop_after;
};

static int collect(void *ctx, const struct store_kv *kv)
{
	struct collect *c = ctx;

	snprintf(c->seen[c->n++], 16, "%s", kv->key);
	return c->n == c->stop_after ? 1 : 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The model's keys with prefix, sorted; returns how many. */
static int expected(const struct model *m, const char *prefix, char out[KEYS][16])
{
	int i, n = 0;

	for (i = 0; i < KEYS; i++)
		if (m->present[i] && !strncmp(m->keys[i], prefix, strlen(prefix)))
			memcpy(out[n++], m->keys[i], 16);
	qsort(out, (size_t)n, 16, cmp);
	return n;
}

static void check_scans(struct memindex *idx, const struct model *m, const char *prefix)
{
	static char want[KEYS][16];
	static struct collect c;
	int n = expected(m, prefix, want), i;

	memset(&c, 0, sizeof(c));
	c.stop_after = -1;
	assert_int_equal(memindex_scan(idx, prefix, NULL, false, collect, &c), 0);
	assert_int_equal(c.n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(c.seen[i], want[i]);

	memset(&c, 0, sizeof(c));
	c.stop_after = -1;
	assert_int_equal(memindex_scan(idx, prefix, NULL, true, collect, &c), 0);
	assert_int_equal(c.n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(c.seen[i], want[n - 1 - i]);

	if (n > 2) {
		/* resume after the second key, and before the second to last */
		memset(&c, 0, sizeof(c));
		c.stop_after = -1;
		memindex_scan(idx, prefix, want[1], false, collect, &c);
		assert_int_equal(c.n, n - 2);
		assert_string_equal(c.seen[0], want[2]);
		memset(&c, 0, sizeof(c));
		c.stop_after = 1;
		memindex_scan(idx, prefix, want[n - 2], true, collect, &c);
		assert_int_equal(c.n, 1);
		assert_string_equal(c.seen[0], want[n - 3]);
	}
}

static void test_random_against_sorted_array(void **state)
{
	static struct model m;
	struct memindex *idx = memindex_new();
	struct buf v = BUF_INIT;
	uint64_t version;
	int i, round;

	(void)state;
	srand(7);
	memset(&m, 0, sizeof(m));
	for (i = 0; i < KEYS; i++)
		snprintf(m.keys[i], 16, "%c/%c%d", "abc"[i % 3], "xyz"[i % 7 % 3], i);
	for (round = 0; round < 5000; round++) {
		int k = rand() % KEYS;

		memindex_write_lock(idx);
		if (rand() % 3) {
			char value[32];

			snprintf(value, sizeof(value), "v%d", round);
			memindex_put(idx, m.keys[k], value, strlen(value), (uint64_t)round + 1);
			m.present[k] = 1;
			m.version[k] = (unsigned)round + 1;
		} else {
			memindex_delete(idx, m.keys[k]);
			m.present[k] = 0;
		}
		memindex_write_unlock(idx);
		if (round % 500 == 0) {
			check_scans(idx, &m, "a/");
			check_scans(idx, &m, "b/y");
			check_scans(idx, &m, "");
		}
	}
	for (i = 0; i < KEYS; i++) {
		buf_reset(&v);
		if (m.present[i]) {
			assert_int_equal(memindex_get(idx, m.keys[i], &v, &version), 0);
			assert_int_equal(version, m.version[i]);
		} else {
			assert_int_equal(memindex_get(idx, m.keys[i], &v, &version), -ENOENT);
		}
	}
	check_scans(idx, &m, "c/");
	buf_release(&v);
	memindex_free(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_sorted_array),
	};

	return cmocka_run_group_tests_name("memindex", tests, NULL, NULL);
}
