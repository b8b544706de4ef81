/*
 * store.h: berth's state, as an ordered key-value store with transactions.
 *
 * Every resource is a JSON document under a key whose prefix names its kind
 * ("cluster/NAME", "td/FAMILY/0000000001"), so listing a kind is a prefix scan
 * in key order. Each committed transaction gets the next store revision, and
 * every key carries the revision that last wrote it: a transaction can check
 * that the keys it read are unchanged (compare-and-swap) before its writes
 * apply, which is how concurrent writers, and later several servers on the
 * etcd backend, avoid lost updates.
 *
 * A commit returns only once it is durable: a write acknowledged to a client
 * survives a crash of the process or the machine. Backends group concurrent
 * commits into one durable write (group commit).
 *
 * The store is safe to use from many threads at once.
 */
#ifndef BERTH_STORE_H
#define BERTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Longest key the store accepts. */
#define STORE_KEY_MAX 1024
/* Largest value the store accepts. */
#define STORE_VALUE_MAX (4u << 20)

struct store;

/* One key and its value, as a scan hands it out (borrowed for the call). */
struct store_kv {
	const char *key;
	const char *value;
	size_t value_len;
	uint64_t version; /* the revision that last wrote the key */
};

enum store_op_kind {
	STORE_OP_CHECK, /* the key's version must equal `version` (0: absent) */
	STORE_OP_PUT,
	STORE_OP_DELETE,
};

struct store_op {
	enum store_op_kind kind;
	char *key;
	char *value;
	size_t value_len;
	uint64_t version;
};

/* A transaction being built: checks, then writes, applied all or nothing. */
struct store_txn {
	struct store_op *ops;
	size_t n_ops;
	size_t cap;
};

#define STORE_TXN_INIT     \
	{                  \
		NULL, 0, 0 \
	}

/* The operations a backend provides. */
struct store_backend {
	const char *name;
	int (*get)(struct store *s, const char *key, struct buf *ret_value, uint64_t *ret_version,
		   struct err *err);
	int (*scan)(struct store *s, const char *prefix, const char *from, bool descending,
		    int (*fn)(void *ctx, const struct store_kv *kv), void *ctx, struct err *err);
	int (*commit)(struct store *s, const struct store_txn *txn, uint64_t *ret_revision,
		      struct err *err);
	void (*free)(struct store *s);
};

struct store {
	const struct store_backend *backend;
	/*
	 * Told of each commit's duration and result (metrics); NULL: nobody.
	 * Set before the store is shared between threads.
	 */
	void (*commit_observer)(void *ctx, uint64_t ns, int result);
	void *commit_observer_ctx;
};

/*
 * Open the SQLite backend in DIR (created if missing): DIR/berth.db in WAL
 * mode with synchronous=FULL. The caller owns the store; store_free() it.
 */
int store_open_sqlite(const char *dir, struct store **ret_store, struct err *err);

/* Close the store and free it; NULL is fine. */
void store_free(struct store *s);

/*
 * Read one key. Its value is appended to ret_value (the caller's buf) and
 * its version stored in ret_version (either may be NULL). Returns -ENOENT
 * when the key is absent (err is then left untouched).
 */
int store_get(struct store *s, const char *key, struct buf *ret_value, uint64_t *ret_version,
	      struct err *err);

/*
 * Call fn for each key that starts with prefix and sorts after start_after
 * (NULL: from the first), in key order. fn returns 0 to go on, a positive
 * number to stop early (store_scan then returns 0), or a negative errno to
 * fail (returned as is). The kv is borrowed for the call only. fn may read
 * the store; a scan over many keys is not one snapshot (a write committed
 * meanwhile may or may not be seen past the point it reached).
 */
int store_scan(struct store *s, const char *prefix, const char *start_after,
	       int (*fn)(void *ctx, const struct store_kv *kv), void *ctx, struct err *err);

/*
 * store_scan() in descending key order: the keys that start with prefix and
 * sort before start_before (NULL: from the last).
 */
int store_scan_desc(struct store *s, const char *prefix, const char *start_before,
		    int (*fn)(void *ctx, const struct store_kv *kv), void *ctx, struct err *err);

/* Whether any key starts with prefix: 1 yes, 0 no, negative on failure. */
int store_has_prefix(struct store *s, const char *prefix, struct err *err);

/*
 * Apply txn atomically and durably. Returns -ECANCELED (err filled with
 * E_CONFLICT) when one of its checks failed, in which case nothing was
 * written: re-read and retry. ret_revision (may be NULL) gets the revision
 * the transaction was committed at.
 */
int store_commit(struct store *s, const struct store_txn *txn, uint64_t *ret_revision,
		 struct err *err);

void store_txn_init(struct store_txn *t);
/* Free what the transaction holds; it can be used again afterwards. */
void store_txn_release(struct store_txn *t);
/* Require key to be at version (0: the key must not exist). */
void store_txn_check(struct store_txn *t, const char *key, uint64_t version);
/* Write value (copied) under key. */
void store_txn_put(struct store_txn *t, const char *key, const char *value, size_t len);
void store_txn_delete(struct store_txn *t, const char *key);

#endif
