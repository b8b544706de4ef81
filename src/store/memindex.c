/*
 * memindex.c: the skip list behind the in-memory index. Level 0 is doubly
 * linked so descending scans walk back as cheaply as ascending ones walk
 * forward. Keys compare with strcmp (bytewise, as unsigned), the order
 * SQLite's BINARY collation and etcd use.
 */
#include "store/memindex.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define MAX_LEVEL 24

struct node {
	char *key;
	char *value;
	size_t len;
	uint64_t version;
	struct node *prev; /* level 0 only; NULL for the first node */
	int level;
	struct node *next[];
};

struct memindex {
	pthread_rwlock_t lock;
	struct node *head; /* sentinel with MAX_LEVEL links, no key */
	int level;	   /* levels in use */
	size_t count;
	uint64_t rng;
};

static struct node *node_new(int level)
{
	struct node *n = calloc(1, sizeof(*n) + (size_t)level * sizeof(n->next[0]));

	if (!n)
		abort();
	n->level = level;
	return n;
}

static void node_free(struct node *n)
{
	free(n->key);
	free(n->value);
	free(n);
}

struct memindex *memindex_new(void)
{
	struct memindex *m = calloc(1, sizeof(*m));
	pthread_rwlockattr_t attr;

	if (!m)
		abort();
	pthread_rwlockattr_init(&attr);
	/* a steady stream of readers must not keep the writer waiting */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	m->head = node_new(MAX_LEVEL);
	m->level = 1;
	m->rng = 0x9e3779b97f4a7c15ull;
	return m;
}

void memindex_free(struct memindex *m)
{
	struct node *n, *next;

	if (!m)
		return;
	for (n = m->head->next[0]; n; n = next) {
		next = n->next[0];
		node_free(n);
	}
	free(m->head);
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

void memindex_write_lock(struct memindex *m)
{
	pthread_rwlock_wrlock(&m->lock);
}

void memindex_write_unlock(struct memindex *m)
{
	pthread_rwlock_unlock(&m->lock);
}

/* A level with probability 1/4 of each step up (xorshift64; writer only). */
static int random_level(struct memindex *m)
{
	int level = 1;

	for (;;) {
		m->rng ^= m->rng << 13;
		m->rng ^= m->rng >> 7;
		m->rng ^= m->rng << 17;
		if ((m->rng & 3) != 0 || level == MAX_LEVEL)
			return level;
		level++;
	}
}

/*
 * Fill update[i] with the last node at level i whose key is below key (the
 * head when none is); returns the first node with a key >= key, or NULL.
 */
static struct node *seek(struct memindex *m, const char *key, struct node **update)
{
	struct node *x = m->head;
	int i;

	for (i = m->level - 1; i >= 0; i--) {
		while (x->next[i] && strcmp(x->next[i]->key, key) < 0)
			x = x->next[i];
		if (update)
			update[i] = x;
	}
	return x->next[0];
}

void memindex_put(struct memindex *m, const char *key, const char *value, size_t len,
		  uint64_t version)
{
	struct node *update[MAX_LEVEL];
	struct node *x = seek(m, key, update);
	char *copy = malloc(len + 1);
	int level, i;

	if (!copy)
		abort();
	memcpy(copy, value, len);
	copy[len] = '\0';
	if (x && !strcmp(x->key, key)) {
		free(x->value);
		x->value = copy;
		x->len = len;
		x->version = version;
		return;
	}
	level = random_level(m);
	for (i = m->level; i < level; i++)
		update[i] = m->head;
	if (level > m->level)
		m->level = level;
	x = node_new(level);
	x->key = strdup(key);
	if (!x->key)
		abort();
	x->value = copy;
	x->len = len;
	x->version = version;
	for (i = 0; i < level; i++) {
		x->next[i] = update[i]->next[i];
		update[i]->next[i] = x;
	}
	x->prev = update[0] == m->head ? NULL : update[0];
	if (x->next[0])
		x->next[0]->prev = x;
	m->count++;
}

void memindex_delete(struct memindex *m, const char *key)
{
	struct node *update[MAX_LEVEL];
	struct node *x = seek(m, key, update);
	int i;

	if (!x || strcmp(x->key, key) != 0)
		return;
	for (i = 0; i < x->level; i++)
		if (update[i]->next[i] == x)
			update[i]->next[i] = x->next[i];
	if (x->next[0])
		x->next[0]->prev = x->prev;
	while (m->level > 1 && !m->head->next[m->level - 1])
		m->level--;
	node_free(x);
	m->count--;
}

int memindex_get(struct memindex *m, const char *key, struct buf *ret_value, uint64_t *ret_version)
{
	struct node *x;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&m->lock);
	x = seek(m, key, NULL);
	if (x && !strcmp(x->key, key)) {
		if (ret_value)
			buf_append(ret_value, x->value, x->len);
		if (ret_version)
			*ret_version = x->version;
		r = 0;
	}
	pthread_rwlock_unlock(&m->lock);
	return r;
}

/* The last node with a key below key, or NULL. */
static struct node *last_below(struct memindex *m, const char *key)
{
	struct node *update[MAX_LEVEL];

	seek(m, key, update);
	return update[0] == m->head ? NULL : update[0];
}

/* Entries copied out of the index, so that callbacks run without its lock. */
#define SCAN_BATCH 64

struct copied {
	char *key;
	char *value;
	size_t len;
	uint64_t version;
};

/*
 * Copy up to SCAN_BATCH entries of the scan into out, starting at x; returns
 * how many, and where the next batch starts (NULL at the end of the prefix).
 */
static int copy_batch(struct node *x, const char *prefix, size_t n, bool descending,
		      struct copied *out, struct node **ret_next)
{
	int i = 0;

	while (x && !strncmp(x->key, prefix, n) && i < SCAN_BATCH) {
		out[i].key = strdup(x->key);
		out[i].value = malloc(x->len + 1);
		if (!out[i].key || !out[i].value)
			abort();
		memcpy(out[i].value, x->value, x->len + 1);
		out[i].len = x->len;
		out[i].version = x->version;
		i++;
		x = descending ? x->prev : x->next[0];
	}
	*ret_next = x && !strncmp(x->key, prefix, n) ? x : NULL;
	return i;
}

int memindex_scan(struct memindex *m, const char *prefix, const char *from, bool descending,
		  int (*fn)(void *ctx, const struct store_kv *kv), void *ctx)
{
	struct copied batch[SCAN_BATCH];
	size_t n = strlen(prefix);
	char *upper = malloc(n + 2), *resume = NULL;
	struct node *x, *next;
	int r = 0, count, i;

	if (!upper)
		abort();
	/* the keys starting with prefix sort below prefix + 0xff */
	memcpy(upper, prefix, n);
	upper[n] = (char)0xff;
	upper[n + 1] = '\0';
	for (;;) {
		const char *after = resume ? resume : from;

		pthread_rwlock_rdlock(&m->lock);
		if (descending) {
			x = last_below(m, after && strcmp(after, upper) < 0 ? after : upper);
		} else if (after && strcmp(after, prefix) >= 0) {
			x = seek(m, after, NULL);
			if (x && !strcmp(x->key, after))
				x = x->next[0];
		} else {
			x = seek(m, prefix, NULL);
		}
		count = copy_batch(x, prefix, n, descending, batch, &next);
		pthread_rwlock_unlock(&m->lock);

		for (i = 0; i < count && r == 0; i++) {
			struct store_kv kv = { batch[i].key, batch[i].value, batch[i].len,
					       batch[i].version };

			r = fn(ctx, &kv);
		}
		free(resume);
		resume = count ? strdup(batch[count - 1].key) : NULL;
		for (i = 0; i < count; i++) {
			free(batch[i].key);
			free(batch[i].value);
		}
		if (r != 0 || !next || !resume)
			break;
	}
	free(resume);
	free(upper);
	return r > 0 ? 0 : r;
}

size_t memindex_count(struct memindex *m)
{
	size_t n;

	pthread_rwlock_rdlock(&m->lock);
	n = m->count;
	pthread_rwlock_unlock(&m->lock);
	return n;
}
