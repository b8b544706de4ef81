/*
 * logdb.h: where the CloudWatch Logs API (api/logs.c) keeps log groups,
 * log streams and their events: one SQLite database, DATA-DIR/logs.db, in
 * WAL mode with synchronous=FULL, apart from the control plane's store so
 * that a flood of log lines never queues behind (or in front of) a RunTask.
 *
 * Tables:
 *   groups(name, created, retention, kms, class)
 *   streams(id, grp, name, created, first_ts, last_ts, last_ingest, seq, bytes)
 *   events(stream, ts, seq, ingest, msg)  WITHOUT ROWID, key (stream, ts, seq)
 *
 * An event's place in its stream is (ts, seq): its timestamp, then the
 * order it was accepted in (seq counts the stream's events from 0, so it
 * never repeats). That is the order GetLogEvents reads in, and an index
 * lookup. A stream's `seq` is also its sequence token: the number of events
 * it has accepted (see logdb_put).
 *
 * Why SQLite rows: one PutLogEvents batch (up to 10,000 events) is one
 * transaction of prepared inserts that append to the stream's part of the
 * key space, durable with one fsync; reads by stream and time are index
 * ranges; retention deletes a key range. Measured (bench/README.md): the
 * whole PutLogEvents path, parsing and checking included, costs the server
 * about 5.7 us of CPU an event, 0.57 s per 100,000.
 *
 * Thread safety: every function may be called from any thread; writes are
 * serialized on one connection, reads use another (WAL lets them run
 * beside a write).
 */
#ifndef BERTH_STORE_LOGDB_H
#define BERTH_STORE_LOGDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct logdb;

/* A position in a stream: events are ordered by (ts, seq). */
struct logdb_pos {
	int64_t ts;
	int64_t seq;
};

struct logdb_group {
	const char *name;
	int64_t created_ms;
	int64_t retention_days; /* 0: kept forever */
	int64_t stored_bytes;
	const char *kms_key_id; /* NULL when none */
	const char *log_class;	/* "STANDARD" ... */
};

struct logdb_stream {
	int64_t id;
	const char *name;
	int64_t created_ms;
	int64_t first_ts, last_ts, last_ingest_ms; /* 0 when the stream has no events */
	int64_t seq;				   /* events accepted so far: the sequence token */
	int64_t bytes;
	int64_t retention_days; /* its group's */
};

/* One event as read: borrowed for the callback's duration. */
struct logdb_event {
	int64_t stream_id;
	const char *stream_name; /* only for logdb_filter */
	struct logdb_pos pos;
	int64_t ingest_ms;
	const char *msg;
	size_t msg_len;
};

/* An event to write: msg is msg_len bytes of UTF-8 (not NUL-terminated). */
struct logdb_input {
	int64_t ts;
	const char *msg;
	size_t msg_len;
};

/* Open (creating) DIR/logs.db. The caller owns *ret and logdb_free()s it. */
int logdb_open(const char *dir, struct logdb **ret, struct err *err);
void logdb_free(struct logdb *db);

/* ResourceAlreadyExistsException when the group exists. */
int logdb_group_create(struct logdb *db, const char *name, int64_t now_ms, const char *kms_key_id,
		       const char *log_class, struct err *err);
/* Delete the group with its streams and events; ResourceNotFoundException when absent. */
int logdb_group_delete(struct logdb *db, const char *name, struct err *err);
/* -ENOENT (err untouched) when absent; *ret's strings live until the next call on this thread. */
int logdb_group_get(struct logdb *db, const char *name,
		    int (*fn)(void *ctx, const struct logdb_group *g), void *ctx, struct err *err);
/*
 * Call fn with each group whose name starts with prefix (NULL: any) and
 * contains pattern (NULL: any; case-insensitive), sorting after `after`
 * (NULL: from the first), in name order, until fn returns non-zero.
 */
int logdb_groups_each(struct logdb *db, const char *prefix, const char *pattern, const char *after,
		      int (*fn)(void *ctx, const struct logdb_group *g), void *ctx,
		      struct err *err);
/* Set (days > 0) or remove (days 0) a group's retention, deleting what it expires. */
int logdb_group_retention(struct logdb *db, const char *name, int64_t days, int64_t now_ms,
			  struct err *err);

/* ResourceNotFoundException without the group, ResourceAlreadyExistsException when there. */
int logdb_stream_create(struct logdb *db, const char *group, const char *name, int64_t now_ms,
			struct err *err);
/* Delete a stream and its events; ResourceNotFoundException when absent. */
int logdb_stream_delete(struct logdb *db, const char *group, const char *name, struct err *err);
/*
 * Find stream `name` of group: ResourceNotFoundException naming which is
 * missing. ret's name is NULL (the caller knows it).
 */
int logdb_stream_get(struct logdb *db, const char *group, const char *name,
		     struct logdb_stream *ret, struct err *err);

enum logdb_stream_order {
	LOGDB_BY_NAME,
	LOGDB_BY_LAST_EVENT,
};
/*
 * Call fn with each stream of group (which must exist) whose name starts
 * with prefix (NULL: any), in the order asked, resuming after the stream
 * `after_name` / `after_ts` (NULL: from the first), until fn returns
 * non-zero.
 */
int logdb_streams_each(struct logdb *db, const char *group, const char *prefix,
		       enum logdb_stream_order order, bool descending, const char *after_name,
		       int64_t after_ts, int (*fn)(void *ctx, const struct logdb_stream *s),
		       void *ctx, struct err *err);

/*
 * Append n events (sorted by timestamp, stable) to stream `name` of group in
 * one durable transaction: those the API accepted of a batch of n_batch
 * (the others were rejected as too old or too new). token (NULL: none, as
 * AWS's clients now send) must then be the stream's sequence token: a
 * smaller one means the batch was accepted before
 * (DataAlreadyAcceptedException), another one is
 * InvalidSequenceTokenException; both messages end with the expected token
 * as AWS's do. The token counts the events of every batch accepted, the
 * rejected ones included, so that a sender can tell how many events of a
 * batch it sent the stream holds. *ret_seq gets the stream's new token.
 */
int logdb_put(struct logdb *db, const char *group, const char *name, const char *token,
	      const struct logdb_input *events, size_t n, size_t n_batch, int64_t now_ms,
	      int64_t *ret_seq, struct err *err);

/*
 * Read events of stream id with ts in [start, end) in (ts, seq) order:
 * forward, those after `from`; backward (descending), those before `from`.
 * fn returns non-zero to stop.
 */
int logdb_read(struct logdb *db, int64_t stream_id, int64_t start, int64_t end,
	       struct logdb_pos from, bool backward,
	       int (*fn)(void *ctx, const struct logdb_event *e), void *ctx, struct err *err);

/*
 * Read the events of group's streams (all of them, those named in names[],
 * or those whose names start with prefix) with ts in [start, end), after
 * position (ts, stream id, seq) `after`, ordered by time then stream then
 * seq. fn returns non-zero to stop.
 */
struct logdb_filter_pos {
	int64_t ts, stream, seq;
};
int logdb_filter(struct logdb *db, const char *group, const char *const *names, size_t n_names,
		 const char *prefix, int64_t start, int64_t end, struct logdb_filter_pos after,
		 int (*fn)(void *ctx, const struct logdb_event *e), void *ctx, struct err *err);

/* Delete the events older than each group's retention. */
int logdb_expire(struct logdb *db, int64_t now_ms, struct err *err);

/* The oldest timestamp group still keeps (0: every one). */
int64_t logdb_retention_cutoff(int64_t retention_days, int64_t now_ms);

#endif
