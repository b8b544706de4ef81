/*
 * logdb.c: log groups, streams and events in SQLite (logdb.h says why and
 * how they are laid out).
 */
#include "store/logdb.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cleanup.h"
#include "core/banned.h"

struct logdb {
	pthread_mutex_t wlock, rlock;
	sqlite3 *w, *r;		/* the writer's and the readers' connections */
	sqlite3_stmt *insert;	/* the writer's event insert */
	sqlite3_stmt *stream_q; /* the writer's stream lookup */
};

static int sql_err(sqlite3 *db, struct err *err, const char *what)
{
	return err_set(err, -EIO, E_SERVER, "logs store: %s: %s", what,
		       db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *sql, struct err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, -EIO, E_SERVER, "logs store: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static int open_conn(const char *path, sqlite3 **ret, struct err *err)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		int r = sql_err(db, err, "open");

		sqlite3_close(db);
		return r;
	}
	sqlite3_busy_timeout(db, 10000);
	*ret = db;
	return 0;
}

int logdb_open(const char *dir, struct logdb **ret, struct err *err)
{
	struct logdb *db = calloc(1, sizeof(*db));
	_cleanup_buf_ struct buf path = BUF_INIT;
	int r;

	if (!db)
		return err_set(err, -ENOMEM, E_SERVER, "logs store: out of memory");
	pthread_mutex_init(&db->wlock, NULL);
	pthread_mutex_init(&db->rlock, NULL);
	buf_printf(&path, "%s/logs.db", dir);
	r = open_conn(buf_str(&path), &db->w, err);
	if (r == 0)
		r = exec(db->w,
			 "PRAGMA journal_mode=WAL;"
			 "PRAGMA synchronous=FULL;"
			 "CREATE TABLE IF NOT EXISTS groups ("
			 "  name TEXT PRIMARY KEY, created INTEGER NOT NULL,"
			 "  retention INTEGER NOT NULL DEFAULT 0, kms TEXT, class TEXT"
			 ") WITHOUT ROWID;"
			 "CREATE TABLE IF NOT EXISTS streams ("
			 "  id INTEGER PRIMARY KEY, grp TEXT NOT NULL, name TEXT NOT NULL,"
			 "  created INTEGER NOT NULL, first_ts INTEGER NOT NULL DEFAULT 0,"
			 "  last_ts INTEGER NOT NULL DEFAULT 0, last_ingest INTEGER NOT NULL "
			 "  DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL "
			 "  DEFAULT 0, UNIQUE (grp, name));"
			 "CREATE TABLE IF NOT EXISTS events ("
			 "  stream INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,"
			 "  ingest INTEGER NOT NULL, msg TEXT NOT NULL,"
			 "  PRIMARY KEY (stream, ts, seq)) WITHOUT ROWID;",
			 err);
	if (r == 0 &&
	    sqlite3_prepare_v3(db->w, "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5)", -1,
			       SQLITE_PREPARE_PERSISTENT, &db->insert, NULL) != SQLITE_OK)
		r = sql_err(db->w, err, "prepare");
	if (r == 0 &&
	    sqlite3_prepare_v3(db->w,
			       "SELECT id, seq, first_ts, last_ts FROM streams "
			       "WHERE grp = ?1 AND name = ?2",
			       -1, SQLITE_PREPARE_PERSISTENT, &db->stream_q, NULL) != SQLITE_OK)
		r = sql_err(db->w, err, "prepare");
	if (r == 0)
		r = open_conn(buf_str(&path), &db->r, err);
	if (r < 0) {
		logdb_free(db);
		return r;
	}
	*ret = db;
	return 0;
}

void logdb_free(struct logdb *db)
{
	if (!db)
		return;
	sqlite3_finalize(db->insert);
	sqlite3_finalize(db->stream_q);
	sqlite3_close(db->w);
	sqlite3_close(db->r);
	pthread_mutex_destroy(&db->wlock);
	pthread_mutex_destroy(&db->rlock);
	free(db);
}

int64_t logdb_retention_cutoff(int64_t retention_days, int64_t now_ms)
{
	return retention_days > 0 ? now_ms - retention_days * 86400000 : 0;
}

/* Run one statement with text/int parameters ("s" or "i" per parameter). */
static int run(sqlite3 *db, const char *sql, const char *types, const void *const *args,
	       int *ret_changes, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_err(db, err, "prepare");
	for (int i = 0; types[i]; i++) {
		if (types[i] == 's')
			sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, i + 1, *(const int64_t *)args[i]);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return sql_err(db, err, "step");
	if (ret_changes)
		*ret_changes = sqlite3_changes(db);
	return 0;
}

int logdb_group_create(struct logdb *db, const char *name, int64_t now_ms, const char *kms_key_id,
		       const char *log_class, struct err *err)
{
	const void *args[] = { name, &now_ms, kms_key_id, log_class };
	int r;

	pthread_mutex_lock(&db->wlock);
	r = run(db->w, "INSERT INTO groups (name, created, kms, class) VALUES (?1, ?2, ?3, ?4)",
		kms_key_id ? (log_class ? "siss" : "sis") : "si", args, NULL, err);
	if (r == 0 && !kms_key_id && log_class) {
		const void *a2[] = { log_class, name };

		r = run(db->w, "UPDATE groups SET class = ?1 WHERE name = ?2", "ss", a2, NULL, err);
	}
	pthread_mutex_unlock(&db->wlock);
	if (r == -EEXIST)
		return err_set(err, -EEXIST, E_RESOURCE_ALREADY_EXISTS,
			       "The specified log group already exists");
	return r;
}

int logdb_group_delete(struct logdb *db, const char *name, struct err *err)
{
	const void *args[] = { name };
	int r, n = 0;

	pthread_mutex_lock(&db->wlock);
	r = exec(db->w, "BEGIN IMMEDIATE", err);
	if (r == 0)
		r = run(db->w,
			"DELETE FROM events WHERE stream IN (SELECT id FROM streams WHERE grp = "
			"?1)",
			"s", args, NULL, err);
	if (r == 0)
		r = run(db->w, "DELETE FROM streams WHERE grp = ?1", "s", args, NULL, err);
	if (r == 0)
		r = run(db->w, "DELETE FROM groups WHERE name = ?1", "s", args, &n, err);
	if (r == 0 && n == 0)
		r = err_set(err, -ENOENT, E_RESOURCE_NOT_FOUND,
			    "The specified log group does not exist.");
	if (r == 0)
		r = exec(db->w, "COMMIT", err);
	else
		exec(db->w, "ROLLBACK", NULL);
	pthread_mutex_unlock(&db->wlock);
	return r;
}

static void row_group(sqlite3_stmt *st, struct logdb_group *g)
{
	g->name = (const char *)sqlite3_column_text(st, 0);
	g->created_ms = sqlite3_column_int64(st, 1);
	g->retention_days = sqlite3_column_int64(st, 2);
	g->kms_key_id = (const char *)sqlite3_column_text(st, 3);
	g->log_class = (const char *)sqlite3_column_text(st, 4);
	g->stored_bytes = sqlite3_column_int64(st, 5);
}

#define GROUP_COLUMNS                                             \
	"SELECT g.name, g.created, g.retention, g.kms, g.class, " \
	"(SELECT coalesce(sum(bytes), 0) FROM streams s WHERE s.grp = g.name) FROM groups g "

int logdb_group_get(struct logdb *db, const char *name,
		    int (*fn)(void *ctx, const struct logdb_group *g), void *ctx, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int r = -ENOENT, rc;

	pthread_mutex_lock(&db->rlock);
	if (sqlite3_prepare_v2(db->r, GROUP_COLUMNS "WHERE g.name = ?1", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = sql_err(db->r, err, "prepare");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct logdb_group g;

		row_group(st, &g);
		r = fn ? fn(ctx, &g) : 0;
		if (r > 0)
			r = 0;
	} else if (rc != SQLITE_DONE) {
		r = sql_err(db->r, err, "step");
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->rlock);
	return r;
}

int logdb_groups_each(struct logdb *db, const char *prefix, const char *pattern, const char *after,
		      int (*fn)(void *ctx, const struct logdb_group *g), void *ctx, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	pthread_mutex_lock(&db->rlock);
	if (sqlite3_prepare_v2(db->r,
			       GROUP_COLUMNS
			       "WHERE (?1 IS NULL OR substr(g.name, 1, length(?1)) = ?1) "
			       "AND (?2 IS NULL OR instr(lower(g.name), lower(?2)) > 0) "
			       "AND (?3 IS NULL OR g.name > ?3) ORDER BY g.name",
			       -1, &st, NULL) != SQLITE_OK) {
		r = sql_err(db->r, err, "prepare");
		goto out;
	}
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pattern, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, after, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct logdb_group g;

		row_group(st, &g);
		r = fn(ctx, &g);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sql_err(db->r, err, "step");
	if (r > 0)
		r = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->rlock);
	return r;
}

/* Delete the events of group's streams older than cutoff (writer lock held). */
static int expire_group(struct logdb *db, const char *group, int64_t cutoff, struct err *err)
{
	const void *args[] = { group, &cutoff };

	return run(db->w,
		   "DELETE FROM events WHERE stream IN (SELECT id FROM streams WHERE grp = ?1) "
		   "AND ts < ?2",
		   "si", args, NULL, err);
}

int logdb_group_retention(struct logdb *db, const char *name, int64_t days, int64_t now_ms,
			  struct err *err)
{
	const void *args[] = { &days, name };
	int r, n = 0;

	pthread_mutex_lock(&db->wlock);
	r = run(db->w, "UPDATE groups SET retention = ?1 WHERE name = ?2", "is", args, &n, err);
	if (r == 0 && n == 0)
		r = err_set(err, -ENOENT, E_RESOURCE_NOT_FOUND,
			    "The specified log group does not exist.");
	if (r == 0 && days > 0)
		r = expire_group(db, name, logdb_retention_cutoff(days, now_ms), err);
	pthread_mutex_unlock(&db->wlock);
	return r;
}

int logdb_expire(struct logdb *db, int64_t now_ms, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	pthread_mutex_lock(&db->wlock);
	if (sqlite3_prepare_v2(db->w, "SELECT name, retention FROM groups WHERE retention > 0", -1,
			       &st, NULL) != SQLITE_OK) {
		r = sql_err(db->w, err, "prepare");
		goto out;
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		_cleanup_free_ char *name = strdup((const char *)sqlite3_column_text(st, 0));

		if (!name)
			r = err_set(err, -ENOMEM, E_SERVER, "out of memory");
		else
			r = expire_group(
				db, name,
				logdb_retention_cutoff(sqlite3_column_int64(st, 1), now_ms), err);
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->wlock);
	return r;
}

static int group_exists(sqlite3 *conn, const char *group, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(conn, "SELECT 1 FROM groups WHERE name = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return sql_err(conn, err, "prepare");
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sql_err(conn, err, "step");
}

static int no_group(struct err *err)
{
	return err_set(err, -ENOENT, E_RESOURCE_NOT_FOUND,
		       "The specified log group does not exist.");
}

static int no_stream(struct err *err)
{
	return err_set(err, -ENOENT, E_RESOURCE_NOT_FOUND,
		       "The specified log stream does not exist.");
}

int logdb_stream_create(struct logdb *db, const char *group, const char *name, int64_t now_ms,
			struct err *err)
{
	const void *args[] = { group, name, &now_ms };
	int r;

	pthread_mutex_lock(&db->wlock);
	r = group_exists(db->w, group, err);
	if (r == 0)
		r = no_group(err);
	else if (r > 0)
		r = run(db->w, "INSERT INTO streams (grp, name, created) VALUES (?1, ?2, ?3)",
			"ssi", args, NULL, err);
	pthread_mutex_unlock(&db->wlock);
	if (r == -EEXIST)
		return err_set(err, -EEXIST, E_RESOURCE_ALREADY_EXISTS,
			       "The specified log stream already exists");
	return r;
}

int logdb_stream_delete(struct logdb *db, const char *group, const char *name, struct err *err)
{
	const void *args[] = { group, name };
	int r, n = 0;

	pthread_mutex_lock(&db->wlock);
	r = group_exists(db->w, group, err);
	if (r == 0) {
		r = no_group(err);
		goto out;
	}
	if (r < 0)
		goto out;
	r = exec(db->w, "BEGIN IMMEDIATE", err);
	if (r == 0)
		r = run(db->w,
			"DELETE FROM events WHERE stream = "
			"(SELECT id FROM streams WHERE grp = ?1 AND name = ?2)",
			"ss", args, NULL, err);
	if (r == 0)
		r = run(db->w, "DELETE FROM streams WHERE grp = ?1 AND name = ?2", "ss", args, &n,
			err);
	if (r == 0 && n == 0)
		r = no_stream(err);
	if (r == 0)
		r = exec(db->w, "COMMIT", err);
	else
		exec(db->w, "ROLLBACK", NULL);
out:
	pthread_mutex_unlock(&db->wlock);
	return r;
}

static void row_stream(sqlite3_stmt *st, struct logdb_stream *s)
{
	s->id = sqlite3_column_int64(st, 0);
	s->name = (const char *)sqlite3_column_text(st, 1);
	s->created_ms = sqlite3_column_int64(st, 2);
	s->first_ts = sqlite3_column_int64(st, 3);
	s->last_ts = sqlite3_column_int64(st, 4);
	s->last_ingest_ms = sqlite3_column_int64(st, 5);
	s->seq = sqlite3_column_int64(st, 6);
	s->bytes = sqlite3_column_int64(st, 7);
	s->retention_days = sqlite3_column_int64(st, 8);
}

#define STREAM_COLUMNS                                                           \
	"SELECT id, name, created, first_ts, last_ts, last_ingest, seq, bytes, " \
	"(SELECT retention FROM groups WHERE groups.name = streams.grp) "

int logdb_stream_get(struct logdb *db, const char *group, const char *name,
		     struct logdb_stream *ret, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	pthread_mutex_lock(&db->rlock);
	r = group_exists(db->r, group, err);
	if (r == 0)
		r = no_group(err);
	if (r < 0)
		goto out;
	if (sqlite3_prepare_v2(db->r, STREAM_COLUMNS "FROM streams WHERE grp = ?1 AND name = ?2",
			       -1, &st, NULL) != SQLITE_OK) {
		r = sql_err(db->r, err, "prepare");
		goto out;
	}
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_stream(st, ret);
		ret->name = NULL;
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = no_stream(err);
	} else {
		r = sql_err(db->r, err, "step");
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->rlock);
	return r;
}

int logdb_streams_each(struct logdb *db, const char *group, const char *prefix,
		       enum logdb_stream_order order, bool descending, const char *after_name,
		       int64_t after_ts, int (*fn)(void *ctx, const struct logdb_stream *s),
		       void *ctx, struct err *err)
{
	_cleanup_buf_ struct buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	const char *cmp = descending ? "<" : ">";
	const char *dir = descending ? "DESC" : "ASC";
	int r, rc = SQLITE_DONE;

	pthread_mutex_lock(&db->rlock);
	r = group_exists(db->r, group, err);
	if (r == 0)
		r = no_group(err);
	if (r < 0)
		goto out;
	r = 0;
	buf_puts(&sql, STREAM_COLUMNS "FROM streams WHERE grp = ?1 "
				      "AND (?2 IS NULL OR substr(name, 1, length(?2)) = ?2) ");
	if (order == LOGDB_BY_NAME)
		buf_printf(&sql, "AND (?3 IS NULL OR name %s ?3) ORDER BY name %s", cmp, dir);
	else
		buf_printf(&sql,
			   "AND (?3 IS NULL OR last_ts %s ?4 OR (last_ts = ?4 AND name %s ?3)) "
			   "ORDER BY last_ts %s, name %s",
			   cmp, cmp, dir, dir);
	if (sqlite3_prepare_v2(db->r, buf_str(&sql), -1, &st, NULL) != SQLITE_OK) {
		r = sql_err(db->r, err, "prepare");
		goto out;
	}
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, after_name, -1, SQLITE_STATIC);
	if (order == LOGDB_BY_LAST_EVENT)
		sqlite3_bind_int64(st, 4, after_ts);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct logdb_stream s;

		row_stream(st, &s);
		r = fn(ctx, &s);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(db->r, err, "step");
	if (r > 0)
		r = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->rlock);
	return r;
}

/* A stable sort of the batch by timestamp: the order of an index array. */
static void sort_batch(const struct logdb_input *ev, size_t n, size_t *idx, size_t *tmp)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	/* bottom-up merge sort: stable, and O(n) when the batch is already in order */
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t a = lo, b = mid, k = lo;

			if (mid >= hi || ev[idx[mid - 1]].ts <= ev[idx[mid]].ts)
				continue;
			while (a < mid && b < hi)
				tmp[k++] = ev[idx[b]].ts < ev[idx[a]].ts ? idx[b++] : idx[a++];
			while (a < mid)
				tmp[k++] = idx[a++];
			while (b < hi)
				tmp[k++] = idx[b++];
			memcpy(idx + lo, tmp + lo, (hi - lo) * sizeof(*idx));
		}
	}
}

int logdb_put(struct logdb *db, const char *group, const char *name, const char *token,
	      const struct logdb_input *events, size_t n, size_t n_batch, int64_t now_ms,
	      int64_t *ret_seq, struct err *err)
{
	_cleanup_free_ size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	_cleanup_free_ size_t *tmp = calloc(n ? n : 1, sizeof(*tmp));
	int64_t id, seq, first_ts, last_ts, bytes = 0;
	int r, rc;

	if (!idx || !tmp)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	sort_batch(events, n, idx, tmp);
	pthread_mutex_lock(&db->wlock);
	r = exec(db->w, "BEGIN IMMEDIATE", err);
	if (r < 0)
		goto unlock;
	sqlite3_bind_text(db->stream_q, 1, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(db->stream_q, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(db->stream_q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(db->stream_q);
		if (rc != SQLITE_DONE)
			r = sql_err(db->w, err, "step");
		else if (group_exists(db->w, group, err) == 0)
			r = no_group(err);
		else
			r = no_stream(err);
		goto rollback;
	}
	id = sqlite3_column_int64(db->stream_q, 0);
	seq = sqlite3_column_int64(db->stream_q, 1);
	first_ts = sqlite3_column_int64(db->stream_q, 2);
	last_ts = sqlite3_column_int64(db->stream_q, 3);
	sqlite3_reset(db->stream_q);
	if (token) {
		char *end = NULL;
		long long t;

		errno = 0;
		t = strtoll(token, &end, 10);
		if (errno || end == token || *end || t < 0 || t > seq) {
			r = err_set(err, -EINVAL, E_INVALID_SEQUENCE_TOKEN,
				    "The given sequenceToken is invalid. The next expected "
				    "sequenceToken is: %lld",
				    (long long)seq);
			goto rollback;
		}
		if (t < seq) {
			r = err_set(err, -EALREADY, E_DATA_ALREADY_ACCEPTED,
				    "The given batch of log events has already been accepted. The "
				    "next batch can be sent with sequenceToken: %lld",
				    (long long)seq);
			goto rollback;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct logdb_input *e = &events[idx[i]];

		sqlite3_bind_int64(db->insert, 1, id);
		sqlite3_bind_int64(db->insert, 2, e->ts);
		sqlite3_bind_int64(db->insert, 3, seq + (int64_t)i);
		sqlite3_bind_int64(db->insert, 4, now_ms);
		sqlite3_bind_text(db->insert, 5, e->msg, (int)e->msg_len, SQLITE_STATIC);
		rc = sqlite3_step(db->insert);
		sqlite3_reset(db->insert);
		if (rc != SQLITE_DONE) {
			r = sql_err(db->w, err, "insert");
			goto rollback;
		}
		bytes += (int64_t)e->msg_len;
		if (first_ts == 0 || e->ts < first_ts)
			first_ts = e->ts;
		if (e->ts > last_ts)
			last_ts = e->ts;
	}
	seq += (int64_t)(n_batch > n ? n_batch : n);
	{
		const void *args[] = { &first_ts, &last_ts, &now_ms, &seq, &bytes, &id };

		r = run(db->w,
			"UPDATE streams SET first_ts = ?1, last_ts = ?2, last_ingest = ?3, "
			"seq = ?4, bytes = bytes + ?5 WHERE id = ?6",
			"iiiiii", args, NULL, err);
	}
	if (r == 0)
		r = exec(db->w, "COMMIT", err);
	if (r == 0) {
		*ret_seq = seq;
		goto unlock;
	}
rollback:
	exec(db->w, "ROLLBACK", NULL);
unlock:
	pthread_mutex_unlock(&db->wlock);
	return r;
}

static void row_event(sqlite3_stmt *st, int col, struct logdb_event *e)
{
	e->pos.ts = sqlite3_column_int64(st, col);
	e->pos.seq = sqlite3_column_int64(st, col + 1);
	e->ingest_ms = sqlite3_column_int64(st, col + 2);
	e->msg = (const char *)sqlite3_column_text(st, col + 3);
	e->msg_len = (size_t)sqlite3_column_bytes(st, col + 3);
	if (!e->msg)
		e->msg = "";
}

int logdb_read(struct logdb *db, int64_t stream_id, int64_t start, int64_t end,
	       struct logdb_pos from, bool backward,
	       int (*fn)(void *ctx, const struct logdb_event *e), void *ctx, struct err *err)
{
	static const char *const sql[2] = {
		"SELECT ts, seq, ingest, msg FROM events WHERE stream = ?1 AND ts >= ?2 AND ts < "
		"?3 "
		"AND (ts, seq) > (?4, ?5) ORDER BY ts, seq",
		"SELECT ts, seq, ingest, msg FROM events WHERE stream = ?1 AND ts >= ?2 AND ts < "
		"?3 "
		"AND (ts, seq) < (?4, ?5) ORDER BY ts DESC, seq DESC",
	};
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	pthread_mutex_lock(&db->rlock);
	if (sqlite3_prepare_v3(db->r, sql[backward], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
	    SQLITE_OK) {
		r = sql_err(db->r, err, "prepare");
		goto out;
	}
	sqlite3_bind_int64(st, 1, stream_id);
	sqlite3_bind_int64(st, 2, start);
	sqlite3_bind_int64(st, 3, end);
	sqlite3_bind_int64(st, 4, from.ts);
	sqlite3_bind_int64(st, 5, from.seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct logdb_event e = { .stream_id = stream_id };

		row_event(st, 0, &e);
		r = fn(ctx, &e);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(db->r, err, "step");
	if (r > 0)
		r = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->rlock);
	return r;
}

int logdb_filter(struct logdb *db, const char *group, const char *const *names, size_t n_names,
		 const char *prefix, int64_t start, int64_t end, struct logdb_filter_pos after,
		 int (*fn)(void *ctx, const struct logdb_event *e), void *ctx, struct err *err)
{
	_cleanup_buf_ struct buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int r, rc = SQLITE_DONE;

	pthread_mutex_lock(&db->rlock);
	r = group_exists(db->r, group, err);
	if (r == 0)
		r = no_group(err);
	if (r < 0)
		goto out;
	r = 0;
	buf_puts(&sql, "SELECT s.id, s.name, e.ts, e.seq, e.ingest, e.msg FROM streams s "
		       "JOIN events e ON e.stream = s.id WHERE s.grp = ?1 "
		       "AND (?2 IS NULL OR substr(s.name, 1, length(?2)) = ?2) "
		       "AND e.ts >= ?3 AND e.ts < ?4 AND (e.ts, e.stream, e.seq) > (?5, ?6, ?7) ");
	if (n_names) {
		buf_puts(&sql, "AND s.name IN (");
		for (size_t i = 0; i < n_names; i++)
			buf_printf(&sql, "%s?%zu", i ? ", " : "", i + 8);
		buf_puts(&sql, ") ");
	}
	buf_puts(&sql, "ORDER BY e.ts, e.stream, e.seq");
	if (sqlite3_prepare_v2(db->r, buf_str(&sql), -1, &st, NULL) != SQLITE_OK) {
		r = sql_err(db->r, err, "prepare");
		goto out;
	}
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, start);
	sqlite3_bind_int64(st, 4, end);
	sqlite3_bind_int64(st, 5, after.ts);
	sqlite3_bind_int64(st, 6, after.stream);
	sqlite3_bind_int64(st, 7, after.seq);
	for (size_t i = 0; i < n_names; i++)
		sqlite3_bind_text(st, (int)i + 8, names[i], -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct logdb_event e = { 0 };

		e.stream_id = sqlite3_column_int64(st, 0);
		e.stream_name = (const char *)sqlite3_column_text(st, 1);
		row_event(st, 2, &e);
		r = fn(ctx, &e);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_err(db->r, err, "step");
	if (r > 0)
		r = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->rlock);
	return r;
}
