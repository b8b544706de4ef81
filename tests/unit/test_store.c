/*
 * test_store.c: the SQLite store: get, put, delete, prefix scans, checks
 * (compare-and-swap), revisions, durability across reopen, and concurrent
 * commits grouped by the writer.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

struct fixture {
	char dir[64];
	struct store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err err = ERR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open_sqlite(f->dir, &f->store, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	store_free(f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(struct store *s, const char *key, const char *value)
{
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;

	store_txn_put(&t, key, value, strlen(value));
	assert_int_equal(store_commit(s, &t, NULL, &err), 0);
	store_txn_release(&t);
}

static void test_get_put_delete(void **state)
{
	struct fixture *f = *state;
	struct buf v = BUF_INIT;
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	uint64_t version = 0, rev = 0;

	assert_int_equal(store_get(f->store, "a", &v, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_NONE);
	put(f->store, "a", "one");
	assert_int_equal(store_get(f->store, "a", &v, &version, &err), 0);
	assert_string_equal(buf_str(&v), "one");
	assert_true(version > 0);
	store_txn_delete(&t, "a");
	assert_int_equal(store_commit(f->store, &t, &rev, &err), 0);
	assert_true(rev > version);
	store_txn_release(&t);
	assert_int_equal(store_get(f->store, "a", NULL, NULL, &err), -ENOENT);
	buf_release(&v);
}

struct collected {
	char keys[16][32];
	int n;
	int stop_after;
};

static int collect(void *ctx, const struct store_kv *kv)
{
	struct collected *c = ctx;

	snprintf(c->keys[c->n++], 32, "%s", kv->key);
	return c->n == c->stop_after ? 1 : 0;
}

static void test_scan_prefix_and_order(void **state)
{
	struct fixture *f = *state;
	struct collected c = { .stop_after = 100 };
	struct err err = ERR_INIT;

	put(f->store, "td/b/2", "x");
	put(f->store, "td/a/1", "x");
	put(f->store, "td/b/1", "x");
	put(f->store, "tdfam/a", "x");
	put(f->store, "cluster/z", "x");
	assert_int_equal(store_scan(f->store, "td/", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.keys[0], "td/a/1");
	assert_string_equal(c.keys[1], "td/b/1");
	assert_string_equal(c.keys[2], "td/b/2");

	memset(&c, 0, sizeof(c));
	c.stop_after = 100;
	assert_int_equal(store_scan(f->store, "td/", "td/a/1", collect, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "td/b/1");

	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(store_scan(f->store, "td/", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 1);

	memset(&c, 0, sizeof(c));
	c.stop_after = 100;
	assert_int_equal(store_scan_desc(f->store, "td/", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.keys[0], "td/b/2");
	assert_string_equal(c.keys[2], "td/a/1");

	memset(&c, 0, sizeof(c));
	c.stop_after = 100;
	assert_int_equal(store_scan_desc(f->store, "td/", "td/b/2", collect, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "td/b/1");

	assert_int_equal(store_has_prefix(f->store, "cluster/", &err), 1);
	assert_int_equal(store_has_prefix(f->store, "service/", &err), 0);
}

static void test_check_conflict_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	uint64_t version = 0;

	put(f->store, "k", "v1");
	assert_int_equal(store_get(f->store, "k", NULL, &version, &err), 0);

	store_txn_check(&t, "k", version + 100);
	store_txn_put(&t, "other", "x", 1);
	assert_int_equal(store_commit(f->store, &t, NULL, &err), -ECANCELED);
	assert_int_equal(err.kind, E_CONFLICT);
	store_txn_release(&t);
	assert_int_equal(store_get(f->store, "other", NULL, NULL, &err), -ENOENT);

	/* a check for absence */
	store_txn_check(&t, "k", 0);
	store_txn_put(&t, "k", "v2", 2);
	assert_int_equal(store_commit(f->store, &t, NULL, &err), -ECANCELED);
	store_txn_release(&t);

	store_txn_check(&t, "k", version);
	store_txn_put(&t, "k", "v2", 2);
	assert_int_equal(store_commit(f->store, &t, NULL, &err), 0);
	store_txn_release(&t);
}

static void test_durable_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct buf v = BUF_INIT;
	struct err err = ERR_INIT;
	uint64_t rev1 = 0, rev2 = 0;
	struct store_txn t = STORE_TXN_INIT;

	put(f->store, "keep", "me");
	store_txn_put(&t, "x", "1", 1);
	assert_int_equal(store_commit(f->store, &t, &rev1, &err), 0);
	store_free(f->store);
	assert_int_equal(store_open_sqlite(f->dir, &f->store, &err), 0);
	assert_int_equal(store_get(f->store, "keep", &v, NULL, &err), 0);
	assert_string_equal(buf_str(&v), "me");
	/* revisions go on from where they were */
	assert_int_equal(store_commit(f->store, &t, &rev2, &err), 0);
	assert_true(rev2 > rev1);
	store_txn_release(&t);
	buf_release(&v);
}

#define THREADS	   8
#define PER_THREAD 50

static void *increment(void *arg)
{
	struct store *s = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		for (;;) {
			struct buf v = BUF_INIT;
			struct store_txn t = STORE_TXN_INIT;
			struct err err = ERR_INIT;
			uint64_t version = 0;
			char next[32];
			long n = 0;
			int r;

			r = store_get(s, "counter", &v, &version, &err);
			if (r == 0)
				n = strtol(buf_str(&v), NULL, 10);
			snprintf(next, sizeof(next), "%ld", n + 1);
			store_txn_check(&t, "counter", r == 0 ? version : 0);
			store_txn_put(&t, "counter", next, strlen(next));
			r = store_commit(s, &t, NULL, &err);
			store_txn_release(&t);
			buf_release(&v);
			if (r == 0)
				break;
			if (r != -ECANCELED)
				return (void *)1;
		}
	}
	return NULL;
}

static void test_concurrent_increments_lose_nothing(void **state)
{
	struct fixture *f = *state;
	pthread_t th[THREADS];
	struct buf v = BUF_INIT;
	struct err err = ERR_INIT;
	void *ret;
	int i;

	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, increment, f->store);
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	assert_int_equal(store_get(f->store, "counter", &v, NULL, &err), 0);
	assert_int_equal(strtol(buf_str(&v), NULL, 10), THREADS * PER_THREAD);
	buf_release(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_put_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_prefix_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_conflict_writes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_durable_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_increments_lose_nothing, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
