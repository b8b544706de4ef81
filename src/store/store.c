/*
 * store.c: the backend-independent part of the store: dispatch to the
 * backend, and building transactions.
 */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core/banned.h"

void store_free(struct store *s)
{
	if (s)
		s->backend->free(s);
}

static int check_key(const char *key, struct err *err)
{
	size_t n = strlen(key);

	if (n == 0 || n > STORE_KEY_MAX)
		return err_set(err, -EINVAL, E_SERVER, "store key of %zu bytes", n);
	return 0;
}

int store_get(struct store *s, const char *key, struct buf *ret_value, uint64_t *ret_version,
	      struct err *err)
{
	int r = check_key(key, err);

	if (r < 0)
		return r;
	return s->backend->get(s, key, ret_value, ret_version, err);
}

int store_scan(struct store *s, const char *prefix, const char *start_after,
	       int (*fn)(void *ctx, const struct store_kv *kv), void *ctx, struct err *err)
{
	return s->backend->scan(s, prefix, start_after, false, fn, ctx, err);
}

int store_scan_desc(struct store *s, const char *prefix, const char *start_before,
		    int (*fn)(void *ctx, const struct store_kv *kv), void *ctx, struct err *err)
{
	return s->backend->scan(s, prefix, start_before, true, fn, ctx, err);
}

static int stop_at_first(void *ctx, const struct store_kv *kv)
{
	(void)kv;
	*(int *)ctx = 1;
	return 1;
}

int store_has_prefix(struct store *s, const char *prefix, struct err *err)
{
	int found = 0;
	int r = store_scan(s, prefix, NULL, stop_at_first, &found, err);

	return r < 0 ? r : found;
}

int store_commit(struct store *s, const struct store_txn *txn, uint64_t *ret_revision,
		 struct err *err)
{
	uint64_t start;
	size_t i;
	int r;

	for (i = 0; i < txn->n_ops; i++) {
		r = check_key(txn->ops[i].key, err);
		if (r < 0)
			return r;
		if (txn->ops[i].value_len > STORE_VALUE_MAX)
			return err_set(err, -EFBIG, E_CLIENT,
				       "a value of %zu bytes is over the store's limit of %u",
				       txn->ops[i].value_len, STORE_VALUE_MAX);
	}
	if (!s->commit_observer)
		return s->backend->commit(s, txn, ret_revision, err);
	start = mono_ns();
	r = s->backend->commit(s, txn, ret_revision, err);
	s->commit_observer(s->commit_observer_ctx, mono_ns() - start, r);
	return r;
}

void store_txn_init(struct store_txn *t)
{
	memset(t, 0, sizeof(*t));
}

void store_txn_release(struct store_txn *t)
{
	size_t i;

	for (i = 0; i < t->n_ops; i++) {
		free(t->ops[i].key);
		free(t->ops[i].value);
	}
	free(t->ops);
	store_txn_init(t);
}

static struct store_op *add(struct store_txn *t, enum store_op_kind kind, const char *key)
{
	struct store_op *op;

	if (t->n_ops == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4;
		struct store_op *ops = realloc(t->ops, cap * sizeof(*ops));

		if (!ops)
			abort();
		t->ops = ops;
		t->cap = cap;
	}
	op = &t->ops[t->n_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->key = strdup(key);
	if (!op->key)
		abort();
	return op;
}

void store_txn_check(struct store_txn *t, const char *key, uint64_t version)
{
	add(t, STORE_OP_CHECK, key)->version = version;
}

void store_txn_put(struct store_txn *t, const char *key, const char *value, size_t len)
{
	struct store_op *op = add(t, STORE_OP_PUT, key);

	op->value = malloc(len + 1);
	if (!op->value)
		abort();
	memcpy(op->value, value, len);
	op->value[len] = '\0';
	op->value_len = len;
}

void store_txn_delete(struct store_txn *t, const char *key)
{
	add(t, STORE_OP_DELETE, key);
}
