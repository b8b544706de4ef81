/*
 * sqlite.c: the embedded store backend, one SQLite database in WAL mode.
 *
 * SQLite holds the durable copy. Every read is served from an in-memory copy
 * of all keys (memindex.c), loaded when the store opens and updated by the
 * writer after each durable commit, so reads never touch SQLite's locks or
 * pages and never see a write before it is durable.
 *
 * Writes go through one writer thread: callers queue their transaction and
 * wait; the writer takes everything queued, applies it in one SQLite
 * transaction (each caller's part inside its own savepoint, so one failed
 * check does not undo the others) and commits with synchronous=FULL, then
 * publishes the batch to the in-memory copy and wakes every caller of the
 * batch. One fsync thus serves many requests (group commit), and no caller
 * is answered before its write is durable.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cleanup.h"
#include "store/memindex.h"
#include "store/store.h"
#include "core/banned.h"

/* A transaction waiting for the writer. Lives on the caller's stack. */
struct pending {
	const struct store_txn *txn;
	struct pending *next;
	bool done;
	int result;
	uint64_t revision;
	struct err err;
};

/* The writer's connection with its prepared statements. */
struct conn {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *put;
	sqlite3_stmt *del;
	sqlite3_stmt *set_rev;
};

struct sqlite_store {
	struct store base;
	char *path;
	struct memindex *index; /* what readers read: the committed state */

	pthread_mutex_t lock; /* guards the queue, stopping */
	pthread_cond_t wake_writer;
	pthread_cond_t wake_waiters;
	struct pending *queue_head, *queue_tail;
	bool stopping;
	pthread_t writer;
	bool writer_started;
	struct conn *wconn;
	uint64_t revision; /* last committed revision (writer thread only) */
};

static int sql_err(sqlite3 *db, struct err *err, const char *what)
{
	return err_set(err, -EIO, E_SERVER, "store: %s: %s", what,
		       db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *sql, struct err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, -EIO, E_SERVER, "store: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->get);
	sqlite3_finalize(c->put);
	sqlite3_finalize(c->del);
	sqlite3_finalize(c->set_rev);
	sqlite3_close(c->db);
	free(c);
}

static int prepare(struct conn *c, const char *sql, sqlite3_stmt **ret, struct err *err)
{
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK)
		return sql_err(c->db, err, "prepare");
	return 0;
}

/* SQLite's memory statistics take a global mutex on every allocation. */
static pthread_once_t configure_once = PTHREAD_ONCE_INIT;

static void configure(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_initialize();
}

static int conn_open(const char *path, struct conn **ret, struct err *err)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return err_set(err, -ENOMEM, E_SERVER, "store: out of memory");
	pthread_once(&configure_once, configure);
	if (sqlite3_open_v2(path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		r = sql_err(c->db, err, "open");
		conn_free(c);
		return r;
	}
	sqlite3_busy_timeout(c->db, 10000);
	r = exec(c->db,
		 "PRAGMA journal_mode=WAL;"
		 "PRAGMA synchronous=FULL;"
		 "CREATE TABLE IF NOT EXISTS kv ("
		 "  key TEXT PRIMARY KEY, value BLOB NOT NULL, version INTEGER NOT NULL"
		 ") WITHOUT ROWID;"
		 "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
		 "INSERT OR IGNORE INTO meta VALUES ('revision', 0);",
		 err);
	if (r == 0)
		r = prepare(c,
			    "INSERT INTO kv (key, value, version) VALUES (?1, ?2, ?3) "
			    "ON CONFLICT(key) DO UPDATE SET value = ?2, version = ?3",
			    &c->put, err);
	if (r == 0)
		r = prepare(c, "DELETE FROM kv WHERE key = ?1", &c->del, err);
	if (r == 0)
		r = prepare(c, "UPDATE meta SET value = ?1 WHERE name = 'revision'", &c->set_rev,
			    err);
	if (r == 0)
		r = prepare(c, "SELECT value, version FROM kv WHERE key = ?1", &c->get, err);
	if (r < 0) {
		conn_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* Read one key on the writer's connection (inside its open transaction). */
static int conn_get(struct conn *c, const char *key, uint64_t *ret_version, struct err *err)
{
	int r, rc;

	sqlite3_bind_text(c->get, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->get);
	if (rc == SQLITE_ROW) {
		*ret_version = (uint64_t)sqlite3_column_int64(c->get, 1);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sql_err(c->db, err, "get");
	}
	sqlite3_reset(c->get);
	sqlite3_clear_bindings(c->get);
	return r;
}

/* Load every row into the in-memory index, in key order. */
static int load_index(struct sqlite_store *s, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->wconn->db, "SELECT key, value, version FROM kv ORDER BY key", -1,
			       &st, NULL) != SQLITE_OK)
		return sql_err(s->wconn->db, err, "loading");
	memindex_write_lock(s->index);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = sqlite3_column_blob(st, 1);

		memindex_put(s->index, (const char *)sqlite3_column_text(st, 0), v ? v : "",
			     (size_t)sqlite3_column_bytes(st, 1),
			     (uint64_t)sqlite3_column_int64(st, 2));
	}
	memindex_write_unlock(s->index);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_err(s->wconn->db, err, "loading");
	return 0;
}

static int sqlite_get(struct store *base, const char *key, struct buf *ret_value,
		      uint64_t *ret_version, struct err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	(void)err;
	return memindex_get(s->index, key, ret_value, ret_version);
}

static int sqlite_scan(struct store *base, const char *prefix, const char *from, bool descending,
		       int (*fn)(void *ctx, const struct store_kv *kv), void *ctx, struct err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	(void)err;
	return memindex_scan(s->index, prefix, from, descending, fn, ctx);
}

static int step_done(struct conn *c, sqlite3_stmt *st, struct err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return sql_err(c->db, err, "write");
	return 0;
}

/* Apply one transaction inside the writer's open SQLite transaction. */
static int apply(struct sqlite_store *s, const struct store_txn *txn, uint64_t rev, struct err *err)
{
	struct conn *c = s->wconn;
	size_t i;
	int r;

	for (i = 0; i < txn->n_ops; i++) {
		const struct store_op *op = &txn->ops[i];
		uint64_t version = 0;

		if (op->kind != STORE_OP_CHECK)
			continue;
		r = conn_get(c, op->key, &version, err);
		if (r == -ENOENT)
			version = 0;
		else if (r < 0)
			return r;
		if (version != op->version)
			return err_set(err, -ECANCELED, E_CONFLICT,
				       "'%s' changed while the request was served; try again",
				       op->key);
	}
	for (i = 0; i < txn->n_ops; i++) {
		const struct store_op *op = &txn->ops[i];

		if (op->kind == STORE_OP_PUT) {
			sqlite3_bind_text(c->put, 1, op->key, -1, SQLITE_STATIC);
			sqlite3_bind_blob(c->put, 2, op->value, (int)op->value_len, SQLITE_STATIC);
			sqlite3_bind_int64(c->put, 3, (sqlite3_int64)rev);
			r = step_done(c, c->put, err);
		} else if (op->kind == STORE_OP_DELETE) {
			sqlite3_bind_text(c->del, 1, op->key, -1, SQLITE_STATIC);
			r = step_done(c, c->del, err);
		} else {
			r = 0;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Make a durable batch visible to readers: its successful transactions, in order. */
static void publish(struct sqlite_store *s, struct pending *batch)
{
	struct pending *p;
	size_t i;

	memindex_write_lock(s->index);
	for (p = batch; p; p = p->next) {
		if (p->result < 0)
			continue;
		for (i = 0; i < p->txn->n_ops; i++) {
			const struct store_op *op = &p->txn->ops[i];

			if (op->kind == STORE_OP_PUT)
				memindex_put(s->index, op->key, op->value, op->value_len,
					     p->revision);
			else if (op->kind == STORE_OP_DELETE)
				memindex_delete(s->index, op->key);
		}
	}
	memindex_write_unlock(s->index);
}

/* Run one batch: everything queued at the time the writer woke. */
static void write_batch(struct sqlite_store *s, struct pending *batch)
{
	struct err err = ERR_INIT;
	uint64_t rev = s->revision;
	struct pending *p;
	bool any = false;
	int r;

	r = exec(s->wconn->db, "BEGIN IMMEDIATE", &err);
	for (p = batch; p; p = p->next) {
		if (r < 0) {
			p->result = r;
			p->err = err;
			continue;
		}
		if (exec(s->wconn->db, "SAVEPOINT t", &p->err) < 0) {
			p->result = -EIO;
			continue;
		}
		p->result = apply(s, p->txn, rev + 1, &p->err);
		if (p->result < 0) {
			exec(s->wconn->db, "ROLLBACK TO t; RELEASE t", &err);
			continue;
		}
		exec(s->wconn->db, "RELEASE t", &err);
		p->revision = ++rev;
		any = true;
	}
	if (r == 0 && any) {
		sqlite3_bind_int64(s->wconn->set_rev, 1, (sqlite3_int64)rev);
		r = step_done(s->wconn, s->wconn->set_rev, &err);
		if (r == 0)
			r = exec(s->wconn->db, "COMMIT", &err);
		if (r < 0) {
			exec(s->wconn->db, "ROLLBACK", NULL);
			for (p = batch; p; p = p->next)
				if (p->result == 0) {
					p->result = r;
					p->err = err;
				}
		} else {
			s->revision = rev;
			publish(s, batch);
		}
	} else if (r == 0) {
		exec(s->wconn->db, "ROLLBACK", NULL);
	}
}

static void *writer_main(void *arg)
{
	struct sqlite_store *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct pending *batch, *p, *next;

		while (!s->queue_head && !s->stopping)
			pthread_cond_wait(&s->wake_writer, &s->lock);
		if (!s->queue_head)
			break;
		batch = s->queue_head;
		s->queue_head = s->queue_tail = NULL;
		pthread_mutex_unlock(&s->lock);

		write_batch(s, batch);

		pthread_mutex_lock(&s->lock);
		for (p = batch; p; p = next) {
			next = p->next;
			p->done = true;
		}
		pthread_cond_broadcast(&s->wake_waiters);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int sqlite_commit(struct store *base, const struct store_txn *txn, uint64_t *ret_revision,
			 struct err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct pending p = { .txn = txn, .err = ERR_INIT };

	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, -ESHUTDOWN, E_SERVER, "store: closing");
	}
	if (s->queue_tail)
		s->queue_tail->next = &p;
	else
		s->queue_head = &p;
	s->queue_tail = &p;
	pthread_cond_signal(&s->wake_writer);
	while (!p.done)
		pthread_cond_wait(&s->wake_waiters, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (p.result < 0) {
		if (err)
			*err = p.err;
		return p.result;
	}
	if (ret_revision)
		*ret_revision = p.revision;
	return 0;
}

static void sqlite_free(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	if (s->writer_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->wake_writer);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->writer, NULL);
	}
	conn_free(s->wconn);
	memindex_free(s->index);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake_writer);
	pthread_cond_destroy(&s->wake_waiters);
	free(s->path);
	free(s);
}

static const struct store_backend sqlite_backend = {
	.name = "sqlite",
	.get = sqlite_get,
	.scan = sqlite_scan,
	.commit = sqlite_commit,
	.free = sqlite_free,
};

int store_open_sqlite(const char *dir, struct store **ret_store, struct err *err)
{
	struct sqlite_store *s;
	sqlite3_stmt *st = NULL;
	struct buf path = BUF_INIT;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(err, -errno, E_SERVER, "creating data directory '%s': %m", dir);
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, E_SERVER, "store: out of memory");
	s->base.backend = &sqlite_backend;
	buf_printf(&path, "%s/berth.db", dir);
	s->path = buf_detach(&path, NULL);
	s->index = memindex_new();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake_writer, NULL);
	pthread_cond_init(&s->wake_waiters, NULL);

	r = conn_open(s->path, &s->wconn, err);
	if (r < 0)
		goto fail;
	if (sqlite3_prepare_v2(s->wconn->db, "SELECT value FROM meta WHERE name = 'revision'", -1,
			       &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		r = sql_err(s->wconn->db, err, "reading the revision");
		sqlite3_finalize(st);
		goto fail;
	}
	s->revision = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	r = load_index(s, err);
	if (r < 0)
		goto fail;
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		r = err_set(err, -EAGAIN, E_SERVER, "store: starting the writer thread failed");
		goto fail;
	}
	s->writer_started = true;
	*ret_store = &s->base;
	return 0;
fail:
	err_wrap(err, "opening store '%s'", s->path);
	sqlite_free(&s->base);
	return r;
}
