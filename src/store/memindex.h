/*
 * memindex.h: an ordered in-memory copy of the store's keys and values (a
 * skip list), from which every read is served. The durable copy is the
 * backend's (SQLite); the writer applies each committed batch here, under
 * the write lock, before it answers the batch's callers, so a reader sees a
 * batch entirely or not at all, and never a write that is not yet durable.
 *
 * Readers share a read lock, which prefers the writer. A scan copies a
 * batch of entries under the lock and calls back without it, so callbacks
 * may read the store; a long scan thus sees each batch as committed when it
 * was copied, not one snapshot of the whole range.
 */
#ifndef BERTH_MEMINDEX_H
#define BERTH_MEMINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

struct memindex;

struct memindex *memindex_new(void);
void memindex_free(struct memindex *m);

/* The writer's side: take the write lock around a batch of puts and deletes. */
void memindex_write_lock(struct memindex *m);
void memindex_write_unlock(struct memindex *m);
/* Insert or replace (value copied). Call with the write lock held. */
void memindex_put(struct memindex *m, const char *key, const char *value, size_t len,
		  uint64_t version);
/* Remove key if present. Call with the write lock held. */
void memindex_delete(struct memindex *m, const char *key);

/* As store_get(): -ENOENT when absent. */
int memindex_get(struct memindex *m, const char *key, struct buf *ret_value, uint64_t *ret_version);

/* As store_scan() (descending: keys before `from`, last first). */
int memindex_scan(struct memindex *m, const char *prefix, const char *from, bool descending,
		  int (*fn)(void *ctx, const struct store_kv *kv), void *ctx);

/* Number of keys. */
size_t memindex_count(struct memindex *m);

#endif
