/*
 * blobs.c: the content-addressed blob store, upload sessions and the
 * garbage collector (see blobs.h for the contract).
 *
 * A blob becomes visible only by rename(2) of a synced file into
 * blobs/sha256/, which is atomic: two writers of the same blob each rename
 * their own copy of identical bytes, and a reader sees one whole file or the
 * other. The collector decides a file is garbage from the store's keys
 * (a blob no manifest is or names) and its age (older than the grace).
 * Everything that makes a blob live happens under gc_lock held shared:
 * committing an upload (stamp, rename, link), a mount (stamp, link), a
 * look (HEAD/GET stamps), and a manifest push from checking its blobs to
 * committing it. The collector holds gc_lock exclusive for its whole
 * pass, from reading the roots to the last unlink, so none of those can
 * fall between what it read and what it removes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/util.h"
#include "registry/blobs.h"
#include "core/digest.h"
#include "core/banned.h"

/* How long opening an upload waits for the request that holds it to finish. */
#define BUSY_WAIT_MS 1000

/* Bytes of an upload gathered in memory before a write(2). */
#define WRITE_BUF_SIZE (256u << 10)
#define INFO_MAX       1024

struct registry_upload {
	struct registry_upload *next;
	struct registry *r;
	char uuid[37];
	char repo[REGISTRY_NAME_MAX + 1];
	int64_t started_ms;
	int64_t touched_ms;  /* on the callers' clock: last checkout or checkin */
	int64_t checkout_ms; /* now_ms() when checked out, to advance touched_ms */
	uint64_t offset;     /* bytes taken, hashed, written or in wbuf */
	EVP_MD_CTX *md;
	bool busy;
	bool broken; /* a write failed: the file lags behind the hash */
	int fd;	     /* while checked out, else -1 */
	char *wbuf;
	size_t wlen;
};

struct registry_blobs {
	pthread_mutex_t lock;	 /* the session list */
	pthread_cond_t released; /* a session was checked in */
	pthread_rwlock_t gc_lock;
	struct registry_upload *sessions;
	size_t n_sessions;
};

int registry_blobs_init(struct registry *r, struct err *err)
{
	struct registry_blobs *b = calloc(1, sizeof(*b));
	pthread_rwlockattr_t attr;

	if (!b)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->released, NULL);
	/*
	 * A waiting collection goes before new readers: glibc's default lets
	 * readers in while a writer waits, and a registry busy with pulls
	 * (every blob GET takes the shared side) would never collect. Nobody
	 * takes the shared side twice, which this kind would deadlock.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&b->gc_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	r->blobs = b;
	return 0;
}

static void session_free(struct registry_upload *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	EVP_MD_CTX_free(u->md);
	free(u->wbuf);
	free(u);
}

void registry_blobs_release(struct registry *r)
{
	struct registry_blobs *b = r->blobs;
	struct registry_upload *u;

	if (!b)
		return;
	while ((u = b->sessions)) {
		b->sessions = u->next;
		session_free(u);
	}
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->released);
	pthread_rwlock_destroy(&b->gc_lock);
	free(b);
	r->blobs = NULL;
}

static bool is_hex64(const char *s)
{
	char d[DIGEST_SIZE + 8];

	return strlen(s) == 64 && snprintf(d, sizeof(d), "sha256:%s", s) > 0 && digest_valid(d);
}

bool registry_digest_valid(const char *s)
{
	return digest_valid(s);
}

void registry_digest_of(const void *data, size_t n, char ret_digest[REGISTRY_DIGEST_SIZE])
{
	digest_sha256(data, n, ret_digest);
}

void registry_blob_path(const struct registry *r, const char *digest, struct buf *ret_path)
{
	buf_printf(ret_path, "%s/blobs/sha256/%s", r->dir, digest + 7);
}

int registry_blob_open(const struct registry *r, const char *digest, int *ret_fd,
		       uint64_t *ret_size, struct err *err)
{
	struct buf path = BUF_INIT;
	struct stat st;
	int fd;

	if (!registry_digest_valid(digest))
		return err_set(err, -EINVAL, E_OCI_DIGEST_INVALID, "invalid digest '%s'",
			       digest ? digest : "");
	registry_blob_path(r, digest, &path);
	fd = open(buf_str(&path), O_RDONLY | O_CLOEXEC);
	buf_release(&path);
	if (fd < 0 && errno == ENOENT)
		return err_set(err, -ENOENT, E_OCI_BLOB_UNKNOWN, "blob unknown to registry");
	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "opening blob %s: %m", digest);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_set(err, -errno, E_SERVER, "reading blob %s: %m", digest);
	}
	*ret_fd = fd;
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	return 0;
}

int registry_blob_read(const struct registry *r, const char *digest, size_t max, struct buf *ret,
		       struct err *err)
{
	uint64_t size, got = 0;
	int fd, rc;

	rc = registry_blob_open(r, digest, &fd, &size, err);
	if (rc < 0)
		return rc;
	if (size > max) {
		close(fd);
		return err_set(err, -EFBIG, E_OCI_TOO_LARGE, "blob %s is larger than %zu bytes",
			       digest, max);
	}
	buf_grow(ret, (size_t)size);
	while (got < size) {
		ssize_t n = read(fd, ret->data + ret->len, (size_t)(size - got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(err, n < 0 ? -errno : -EIO, E_SERVER, "reading blob %s: %s",
				     digest, n < 0 ? strerror(errno) : "file shrank");
			close(fd);
			return rc;
		}
		got += (uint64_t)n;
		ret->len += (size_t)n;
		ret->data[ret->len] = '\0';
	}
	close(fd);
	return 0;
}

static int write_all(int fd, const char *data, size_t n)
{
	while (n) {
		ssize_t w = write(fd, data, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		data += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

void registry_gc_block(struct registry *r)
{
	pthread_rwlock_rdlock(&r->blobs->gc_lock);
}

void registry_gc_unblock(struct registry *r)
{
	pthread_rwlock_unlock(&r->blobs->gc_lock);
}

/*
 * The times that stamp a blob file young, from the clock registry_gc's
 * now_ms comes from: the kernel stamps files from a coarser clock that may
 * lag it by a tick, which would make a file committed just after a
 * collection began look older than that collection.
 */
static void young_times(struct timespec ret_ts[2])
{
	clock_gettime(CLOCK_REALTIME, &ret_ts[0]);
	ret_ts[1] = ret_ts[0];
}

/*
 * Make the file tmp_path (open as fd) blob `digest`: stamp it as young,
 * sync it, rename it into place, sync the directory. The caller holds
 * registry_gc_block until the blob is linked.
 */
static int commit_file(struct registry *r, int fd, const char *tmp_path, const char *digest,
		       struct err *err)
{
	struct buf path = BUF_INIT;
	struct timespec ts[2];
	int rc = 0;

	young_times(ts);
	if (futimens(fd, ts) < 0 || fsync(fd) < 0)
		return err_set(err, -errno, E_SERVER, "writing blob %s: %m", digest);
	registry_blob_path(r, digest, &path);
	if (rename(tmp_path, buf_str(&path)) < 0)
		rc = err_set(err, -errno, E_SERVER, "storing blob %s: %m", digest);
	buf_release(&path);
	if (rc == 0) {
		buf_printf(&path, "%s/blobs/sha256", r->dir);
		if (fsync_dir(buf_str(&path)) < 0)
			rc = err_set(err, -EIO, E_SERVER, "syncing '%s': %m", buf_str(&path));
		buf_release(&path);
	}
	return rc;
}

int registry_blob_put(struct registry *r, const void *data, size_t n,
		      char ret_digest[REGISTRY_DIGEST_SIZE], struct err *err)
{
	struct buf tmp = BUF_INIT;
	char id[33];
	int fd, rc;

	registry_digest_of(data, n, ret_digest);
	random_hex(id, 16);
	buf_printf(&tmp, "%s/uploads/tmp-%s", r->dir, id);
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = err_set(err, -errno, E_SERVER, "creating '%s': %m", buf_str(&tmp));
		buf_release(&tmp);
		return rc;
	}
	rc = write_all(fd, data, n);
	if (rc < 0)
		err_set(err, rc, E_SERVER, "writing '%s': %s", buf_str(&tmp), strerror(-rc));
	else
		rc = commit_file(r, fd, buf_str(&tmp), ret_digest, err);
	close(fd);
	if (rc < 0)
		unlink(buf_str(&tmp));
	buf_release(&tmp);
	return rc;
}

static void link_key(struct buf *key, const char *kind, const char *repo, const char *digest)
{
	buf_printf(key, "ecr/%s/%s/%s", kind, repo, digest);
}

int registry_blob_in_repo(const struct registry *r, const char *repo, const char *digest,
			  uint64_t *ret_size, struct err *err)
{
	static const char *kinds[] = { "blob", "manifest" };
	struct buf key = BUF_INIT, value = BUF_INIT;
	size_t i;
	int rc = -ENOENT;

	for (i = 0; i < ARRAY_SIZE(kinds) && rc == -ENOENT; i++) {
		buf_reset(&key);
		buf_reset(&value);
		link_key(&key, kinds[i], repo, digest);
		rc = store_get(r->api->store, buf_str(&key), &value, NULL, err);
	}
	if (rc == 0 && ret_size) {
		_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(value.data, value.len);

		*ret_size = (uint64_t)json_int(doc, "size", 0);
	}
	buf_release(&key);
	buf_release(&value);
	if (rc == -ENOENT)
		return err_set(err, -ENOENT, E_OCI_BLOB_UNKNOWN, "blob unknown to registry");
	return rc;
}

/* Write ecr/blob/REPO/DIGEST unless it is there already. */
static int put_link(struct registry *r, const char *repo, const char *digest, uint64_t size,
		    struct err *err)
{
	struct store_txn t = STORE_TXN_INIT;
	struct buf key = BUF_INIT, value = BUF_INIT;
	int rc;

	link_key(&key, "blob", repo, digest);
	rc = store_get(r->api->store, buf_str(&key), NULL, NULL, err);
	if (rc == -ENOENT) {
		buf_printf(&value, "{\"size\":%llu}", (unsigned long long)size);
		store_txn_put(&t, buf_str(&key), value.data, value.len);
		rc = store_commit(r->api->store, &t, NULL, err);
		store_txn_release(&t);
	}
	buf_release(&key);
	buf_release(&value);
	return rc;
}

int registry_blob_link(struct registry *r, const char *repo, const char *digest, struct err *err)
{
	struct buf path = BUF_INIT;
	struct timespec ts[2];
	struct stat st;
	int rc = 0;

	if (!registry_digest_valid(digest))
		return err_set(err, -EINVAL, E_OCI_DIGEST_INVALID, "invalid digest '%s'", digest);
	registry_blob_path(r, digest, &path);
	registry_gc_block(r);
	young_times(ts);
	if (stat(buf_str(&path), &st) < 0)
		rc = err_set(err, -ENOENT, E_OCI_BLOB_UNKNOWN, "blob unknown to registry");
	else
		utimensat(AT_FDCWD, buf_str(&path), ts, 0); /* young: a collection spares it */
	if (rc == 0)
		rc = put_link(r, repo, digest, (uint64_t)st.st_size, err);
	registry_gc_unblock(r);
	buf_release(&path);
	return rc;
}

int registry_blob_unlink(struct registry *r, const char *repo, const char *digest, struct err *err)
{
	struct store_txn t = STORE_TXN_INIT;
	struct buf key = BUF_INIT;
	uint64_t version = 0;
	int rc;

	link_key(&key, "blob", repo, digest);
	rc = store_get(r->api->store, buf_str(&key), NULL, &version, err);
	if (rc == -ENOENT)
		rc = err_set(err, -ENOENT, E_OCI_BLOB_UNKNOWN, "blob unknown to registry");
	if (rc == 0) {
		store_txn_check(&t, buf_str(&key), version);
		store_txn_delete(&t, buf_str(&key));
		rc = store_commit(r->api->store, &t, NULL, err);
		store_txn_release(&t);
	}
	buf_release(&key);
	return rc;
}

/* Upload sessions */

static bool valid_uuid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

static void session_path(const struct registry *r, const char *uuid, const char *suffix,
			 struct buf *ret)
{
	buf_printf(ret, "%s/uploads/%s%s", r->dir, uuid, suffix);
}

static void remove_files(const struct registry *r, const char *uuid)
{
	struct buf p = BUF_INIT;

	session_path(r, uuid, "", &p);
	unlink(buf_str(&p));
	buf_reset(&p);
	session_path(r, uuid, ".info", &p);
	unlink(buf_str(&p));
	buf_release(&p);
}

/* The real time, where a parameter named now_ms hides now_ms(). */
static int64_t clock_ms(void)
{
	return now_ms();
}

static struct registry_upload *session_new(struct registry *r)
{
	struct registry_upload *u = calloc(1, sizeof(*u));

	if (!u)
		abort();
	u->r = r;
	u->fd = -1;
	u->md = EVP_MD_CTX_new();
	if (!u->md || !EVP_DigestInit_ex(u->md, EVP_sha256(), NULL))
		abort();
	return u;
}

/* Open the session's data file for appending (checkout). */
static int session_open_fd(struct registry_upload *u, int flags, struct err *err)
{
	struct buf p = BUF_INIT;

	session_path(u->r, u->uuid, "", &p);
	u->fd = open(buf_str(&p), O_RDWR | O_APPEND | O_CLOEXEC | flags, 0600);
	if (u->fd < 0) {
		int rc = errno == ENOENT
				 ? err_set(err, -ENOENT, E_OCI_BLOB_UPLOAD_UNKNOWN,
					   "blob upload unknown to registry")
				 : err_set(err, -errno, E_SERVER, "opening '%s': %m", buf_str(&p));
		buf_release(&p);
		return rc;
	}
	buf_release(&p);
	return 0;
}

/* Unlink u from the session list (the caller holds the lock). */
static void session_remove_locked(struct registry_blobs *b, struct registry_upload *u)
{
	struct registry_upload **pp;

	for (pp = &b->sessions; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			b->n_sessions--;
			return;
		}
}

int registry_upload_start(struct registry *r, const char *repo, int64_t now_ms,
			  struct registry_upload **ret, struct err *err)
{
	struct registry_blobs *b = r->blobs;
	struct registry_upload *u;
	struct buf info = BUF_INIT, p = BUF_INIT;
	int fd, rc;

	if (strlen(repo) > REGISTRY_NAME_MAX)
		return err_set(err, -EINVAL, E_OCI_NAME_INVALID, "invalid repository name");
	u = session_new(r);
	uuid_v4(u->uuid);
	snprintf(u->repo, sizeof(u->repo), "%s", repo);
	u->started_ms = u->touched_ms = now_ms;
	u->checkout_ms = clock_ms();
	u->busy = true;

	pthread_mutex_lock(&b->lock);
	if (b->n_sessions >= REGISTRY_UPLOADS_MAX) {
		pthread_mutex_unlock(&b->lock);
		session_free(u);
		return err_set(err, -EAGAIN, E_OCI_DENIED,
			       "too many blob uploads under way (at most %d)",
			       REGISTRY_UPLOADS_MAX);
	}
	u->next = b->sessions;
	b->sessions = u;
	b->n_sessions++;
	pthread_mutex_unlock(&b->lock);

	/* the state beside the data, so the session survives a restart */
	buf_printf(&info, "%s\n%lld\n", repo, (long long)now_ms);
	session_path(r, u->uuid, ".info", &p);
	fd = open(buf_str(&p), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : write_all(fd, info.data, info.len);
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		rc = session_open_fd(u, O_CREAT | O_EXCL, err);
	else
		err_set(err, rc, E_SERVER, "creating '%s': %s", buf_str(&p), strerror(-rc));
	buf_release(&info);
	buf_release(&p);
	if (rc < 0) {
		registry_upload_cancel(u);
		return rc;
	}
	*ret = u;
	return 0;
}

/*
 * Rebuild a session the server no longer holds in memory (it restarted)
 * from its files: its repository from UUID.info, its hash from the data.
 */
static struct registry_upload *session_load(struct registry *r, const char *uuid, int64_t now_ms)
{
	struct registry_upload *u;
	struct buf p = BUF_INIT;
	char info[INFO_MAX + 1], *nl, *buf;
	int64_t started;
	ssize_t n;
	int fd;

	session_path(r, uuid, ".info", &p);
	fd = open(buf_str(&p), O_RDONLY | O_CLOEXEC);
	buf_release(&p);
	if (fd < 0)
		return NULL;
	n = read(fd, info, INFO_MAX);
	close(fd);
	if (n <= 0)
		return NULL;
	info[n] = '\0';
	nl = strchr(info, '\n');
	if (!nl || (size_t)(nl - info) > REGISTRY_NAME_MAX)
		return NULL;
	*nl = '\0';
	if (strchr(nl + 1, '\n'))
		*strchr(nl + 1, '\n') = '\0';
	if (parse_int64(nl + 1, 0, INT64_MAX, &started) < 0)
		return NULL;
	u = session_new(r);
	snprintf(u->uuid, sizeof(u->uuid), "%s", uuid);
	memcpy(u->repo, info, (size_t)(nl - info) + 1);
	u->started_ms = started;
	u->touched_ms = now_ms;
	session_path(r, uuid, "", &p);
	fd = open(buf_str(&p), O_RDONLY | O_CLOEXEC);
	buf_release(&p);
	if (fd < 0) {
		session_free(u);
		return NULL;
	}
	buf = malloc(WRITE_BUF_SIZE);
	if (!buf)
		abort();
	while ((n = read(fd, buf, WRITE_BUF_SIZE)) > 0 || (n < 0 && errno == EINTR)) {
		if (n > 0) {
			EVP_DigestUpdate(u->md, buf, (size_t)n);
			u->offset += (uint64_t)n;
		}
	}
	free(buf);
	close(fd);
	if (n < 0) {
		session_free(u);
		return NULL;
	}
	return u;
}

int registry_upload_open(struct registry *r, const char *repo, const char *uuid, int64_t now_ms,
			 struct registry_upload **ret, struct err *err)
{
	struct registry_blobs *b = r->blobs;
	struct registry_upload *u, *loaded = NULL;
	int64_t deadline;
	int rc;

	if (!valid_uuid(uuid))
		return err_set(err, -ENOENT, E_OCI_BLOB_UPLOAD_UNKNOWN,
			       "blob upload unknown to registry");
	deadline = clock_ms() + BUSY_WAIT_MS;
retry:
	for (;;) {
		pthread_mutex_lock(&b->lock);
		for (u = b->sessions; u; u = u->next)
			if (!strcmp(u->uuid, uuid))
				break;
		if (!u && loaded) {
			u = loaded;
			u->next = b->sessions;
			b->sessions = u;
			b->n_sessions++;
			loaded = NULL;
		}
		if (u || loaded)
			break;
		pthread_mutex_unlock(&b->lock);
		loaded = session_load(r, uuid, now_ms);
		if (!loaded)
			return err_set(err, -ENOENT, E_OCI_BLOB_UPLOAD_UNKNOWN,
				       "blob upload unknown to registry");
	}
	/* another request loaded it meanwhile: keep theirs */
	session_free(loaded);
	if (strcmp(u->repo, repo) != 0) {
		pthread_mutex_unlock(&b->lock);
		return err_set(err, -ENOENT, E_OCI_BLOB_UPLOAD_UNKNOWN,
			       "blob upload unknown to registry");
	}
	if (u->busy && clock_ms() < deadline) {
		/*
		 * The request holding it may have been answered already and
		 * not yet be finished with here (its client's next request can
		 * come first, on another connection): wait a little for it.
		 */
		struct timespec ts;

		loaded = NULL;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&b->released, &b->lock, &ts);
		pthread_mutex_unlock(&b->lock);
		goto retry; /* u may be gone by now: look it up again */
	}
	if (u->busy) {
		pthread_mutex_unlock(&b->lock);
		return err_set(err, -EBUSY, E_OCI_BLOB_UPLOAD_INVALID,
			       "blob upload is being written by another request");
	}
	u->busy = true;
	u->touched_ms = now_ms;
	u->checkout_ms = clock_ms();
	pthread_mutex_unlock(&b->lock);
	rc = session_open_fd(u, 0, err);
	if (rc < 0) {
		pthread_mutex_lock(&b->lock);
		session_remove_locked(b, u);
		pthread_mutex_unlock(&b->lock);
		remove_files(r, u->uuid);
		session_free(u);
		return rc;
	}
	*ret = u;
	return 0;
}

const char *registry_upload_uuid(const struct registry_upload *u)
{
	return u->uuid;
}

uint64_t registry_upload_offset(const struct registry_upload *u)
{
	return u->offset;
}

static int flush(struct registry_upload *u, struct err *err)
{
	int rc;

	if (u->broken)
		return err_set(err, -EIO, E_SERVER, "blob upload failed to write earlier");
	if (!u->wlen)
		return 0;
	rc = write_all(u->fd, u->wbuf, u->wlen);
	u->wlen = 0;
	if (rc < 0) {
		u->broken = true;
		return err_set(err, rc, E_SERVER, "writing blob upload: %s", strerror(-rc));
	}
	return 0;
}

int registry_upload_write(struct registry_upload *u, const void *data, size_t n, struct err *err)
{
	int rc;

	if (u->broken)
		return err_set(err, -EIO, E_SERVER, "blob upload failed to write earlier");
	if (u->offset + n > REGISTRY_BLOB_MAX)
		return err_set(err, -EFBIG, E_OCI_TOO_LARGE, "blob is larger than %llu bytes",
			       (unsigned long long)REGISTRY_BLOB_MAX);
	if (!EVP_DigestUpdate(u->md, data, n))
		abort();
	u->offset += n;
	if (u->wlen + n > WRITE_BUF_SIZE) {
		rc = flush(u, err);
		if (rc < 0)
			return rc;
		if (n >= WRITE_BUF_SIZE) {
			rc = write_all(u->fd, data, n);
			if (rc < 0) {
				u->broken = true;
				return err_set(err, rc, E_SERVER, "writing blob upload: %s",
					       strerror(-rc));
			}
			return 0;
		}
	}
	if (!u->wbuf) {
		u->wbuf = malloc(WRITE_BUF_SIZE);
		if (!u->wbuf)
			abort();
	}
	memcpy(u->wbuf + u->wlen, data, n);
	u->wlen += n;
	return 0;
}

/* Take u off the list for good: it is the caller's to free. */
static void session_end(struct registry_upload *u)
{
	struct registry_blobs *b = u->r->blobs;

	pthread_mutex_lock(&b->lock);
	session_remove_locked(b, u);
	pthread_mutex_unlock(&b->lock);
}

void registry_upload_cancel(struct registry_upload *u)
{
	if (!u)
		return;
	session_end(u);
	remove_files(u->r, u->uuid);
	session_free(u);
}

void registry_upload_close(struct registry_upload *u)
{
	struct registry_blobs *b;

	if (!u)
		return;
	if (flush(u, NULL) < 0) {
		/* the file and the hash disagree: the session cannot go on */
		registry_upload_cancel(u);
		return;
	}
	b = u->r->blobs;
	pthread_mutex_lock(&b->lock);
	close(u->fd);
	u->fd = -1;
	free(u->wbuf);
	u->wbuf = NULL;
	/*
	 * Idle from now, not from when the request began: a PATCH that took
	 * longer than the maximum age must not make the session look abandoned.
	 */
	u->touched_ms += clock_ms() - u->checkout_ms;
	u->busy = false;
	pthread_cond_broadcast(&b->released);
	pthread_mutex_unlock(&b->lock);
}

int registry_upload_commit(struct registry_upload *u, const char *digest, struct err *err)
{
	struct registry *r = u->r;
	unsigned char md[32];
	unsigned int len = 0;
	char got[REGISTRY_DIGEST_SIZE];
	struct buf p = BUF_INIT;
	uint64_t size = u->offset;
	int rc;

	if (!registry_digest_valid(digest)) {
		registry_upload_cancel(u);
		return err_set(err, -EINVAL, E_OCI_DIGEST_INVALID,
			       "invalid digest '%s': only sha256:HEX is supported",
			       digest ? digest : "");
	}
	rc = flush(u, err);
	if (rc < 0) {
		registry_upload_cancel(u);
		return rc;
	}
	if (!EVP_DigestFinal_ex(u->md, md, &len) || len != 32)
		abort();
	digest_format(md, got);
	if (strcmp(got, digest) != 0) {
		registry_upload_cancel(u);
		return err_set(err, -EINVAL, E_OCI_DIGEST_INVALID,
			       "provided digest %s did not match uploaded content (%s)", digest,
			       got);
	}
	session_path(r, u->uuid, "", &p);
	registry_gc_block(r);
	rc = commit_file(r, u->fd, buf_str(&p), digest, err);
	if (rc == 0)
		rc = put_link(r, u->repo, digest, size, err);
	registry_gc_unblock(r);
	buf_release(&p);
	registry_upload_cancel(u); /* the data file has moved: only the .info is left */
	return rc;
}

int registry_upload_sweep(struct registry *r, int64_t now_ms, unsigned *ret_removed,
			  struct err *err)
{
	struct registry_blobs *b = r->blobs;
	int64_t cutoff = now_ms - r->upload_max_age_ms;
	struct registry_upload **pp, *u, *dead = NULL;
	struct buf path = BUF_INIT;
	struct dirent *de;
	unsigned removed = 0;
	DIR *d;

	pthread_mutex_lock(&b->lock);
	for (pp = &b->sessions; (u = *pp);) {
		if (!u->busy && u->touched_ms < cutoff) {
			*pp = u->next;
			b->n_sessions--;
			u->next = dead;
			dead = u;
		} else {
			pp = &u->next;
		}
	}
	pthread_mutex_unlock(&b->lock);
	while ((u = dead)) {
		dead = u->next;
		remove_files(r, u->uuid);
		session_free(u);
		removed++;
	}

	/* files of no session held in memory: from before a restart, or a crash */
	buf_printf(&path, "%s/uploads", r->dir);
	d = opendir(buf_str(&path));
	if (!d) {
		int rc = err_set(err, -errno, E_SERVER, "reading '%s': %m", buf_str(&path));

		buf_release(&path);
		return rc;
	}
	while ((de = readdir(d))) {
		char uuid[37];
		struct stat st;
		bool held = false;

		if (de->d_name[0] == '.')
			continue;
		memcpy(uuid, de->d_name, sizeof(uuid) - 1);
		uuid[36] = '\0';
		pthread_mutex_lock(&b->lock);
		for (u = b->sessions; u && !held; u = u->next)
			held = !strcmp(u->uuid, uuid);
		pthread_mutex_unlock(&b->lock);
		if (held || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		if ((int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 >= cutoff)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	buf_release(&path);
	if (ret_removed)
		*ret_removed = removed;
	return 0;
}

/* Garbage collection */

struct digest_set {
	char (*hex)[65];
	size_t n, cap;
};

static void set_add_hex(struct digest_set *s, const char *hex)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->hex = realloc(s->hex, s->cap * sizeof(*s->hex));
		if (!s->hex)
			abort();
	}
	memcpy(s->hex[s->n], hex, 64);
	s->hex[s->n++][64] = 0;
}

static void set_add(struct digest_set *s, const char *digest)
{
	if (registry_digest_valid(digest))
		set_add_hex(s, digest + 7);
}

static int cmp_hex(const void *a, const void *b)
{
	return memcmp(a, b, 64);
}

static bool set_has(const struct digest_set *s, const char *hex)
{
	return s->n && bsearch(hex, s->hex, s->n, sizeof(*s->hex), cmp_hex);
}

struct roots {
	struct digest_set all; /* every digest a manifest is or references */
	struct buf repo_lines; /* "REPO HEX\n" for each of them, by repository */
	char **repo_pairs;     /* the lines, split and sorted */
	size_t n_pairs;
};

static void add_root(struct roots *r, const char *repo, size_t repo_len, const char *digest)
{
	if (!registry_digest_valid(digest))
		return;
	set_add(&r->all, digest);
	buf_printf(&r->repo_lines, "%.*s %s\n", (int)repo_len, repo, digest + 7);
}

/* Roots: every stored manifest (ecr/manifest/REPO/DIGEST) and everything it references. */
static int collect_root(void *ctx, const struct store_kv *kv)
{
	struct roots *roots = ctx;
	const char *repo = kv->key + strlen("ecr/manifest/");
	const char *d = strrchr(kv->key, '/');
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(kv->value, kv->value_len);
	const cJSON *ref;

	if (!d || d < repo)
		return 0;
	add_root(roots, repo, (size_t)(d - repo), d + 1);
	/* references: [DIGEST, ...] (registry.h) */
	cJSON_ArrayForEach(ref, json_arr(doc, "references"))
		if (cJSON_IsString(ref))
			add_root(roots, repo, (size_t)(d - repo), ref->valuestring);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void roots_index(struct roots *r)
{
	size_t n = 0;

	if (r->all.n)
		qsort(r->all.hex, r->all.n, sizeof(*r->all.hex), cmp_hex);
	for (size_t i = 0; i < r->repo_lines.len; i++)
		n += r->repo_lines.data[i] == '\n';
	r->repo_pairs = calloc(n ? n : 1, sizeof(char *));
	if (!r->repo_pairs)
		abort();
	for (char *p = r->repo_lines.data; p && *p;) {
		char *nl = strchr(p, '\n');

		*nl = 0;
		r->repo_pairs[r->n_pairs++] = p;
		p = nl + 1;
	}
	qsort(r->repo_pairs, r->n_pairs, sizeof(char *), cmp_str);
}

/* Whether a manifest of repo is or names the blob hex. */
static bool repo_root(const struct roots *r, const char *repo, size_t repo_len, const char *hex)
{
	_cleanup_buf_ struct buf k = BUF_INIT;
	const char *key;

	buf_printf(&k, "%.*s %s", (int)repo_len, repo, hex);
	key = buf_str(&k);
	return r->n_pairs && bsearch(&key, r->repo_pairs, r->n_pairs, sizeof(char *), cmp_str);
}

/* Links ecr/blob/REPO/DIGEST, each as a line "HEX KEY". */
static int collect_link(void *ctx, const struct store_kv *kv)
{
	struct buf *links = ctx;
	const char *d = strrchr(kv->key, '/');

	if (d && registry_digest_valid(d + 1))
		buf_printf(links, "%s %s\n", d + 8, kv->key);
	return 0;
}

/* The age of file name in dir, in ms since the epoch; -1 when it is not there. */
static int64_t file_mtime_ms(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, 0) < 0)
		return -1;
	return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Link keys deleted per transaction: a bound on one commit, however much goes. */
#define GC_TXN_OPS 512

/*
 * Delete the links no manifest of their repository names, to blobs older
 * than cutoff (or missing): a push under way holds its blobs younger.
 * Committed before any file goes, so that a crash in between leaves files
 * nothing links (the next pass removes them), never a link to no file.
 */
static int drop_stale_links(struct registry *r, const struct roots *roots, const struct buf *links,
			    int dirfd, int64_t cutoff, struct err *err)
{
	struct store_txn t = STORE_TXN_INIT;
	int rc = 0;

	for (const char *p = links->data; rc == 0 && p && *p;) {
		const char *nl = strchr(p, '\n');
		_cleanup_buf_ struct buf key = BUF_INIT;
		const char *repo, *slash;
		char hex[65];

		memcpy(hex, p, 64);
		hex[64] = 0;
		buf_append(&key, p + 65, (size_t)(nl - p - 65));
		repo = buf_str(&key) + strlen("ecr/blob/");
		slash = strrchr(buf_str(&key), '/');
		if (slash && slash > repo && !repo_root(roots, repo, (size_t)(slash - repo), hex) &&
		    file_mtime_ms(dirfd, hex) < cutoff) {
			store_txn_delete(&t, buf_str(&key));
			if (t.n_ops >= GC_TXN_OPS) {
				rc = store_commit(r->api->store, &t, NULL, err);
				store_txn_release(&t);
			}
		}
		p = nl + 1;
	}
	if (rc == 0 && t.n_ops > 0)
		rc = store_commit(r->api->store, &t, NULL, err);
	store_txn_release(&t);
	return rc;
}

int registry_gc(struct registry *r, int64_t now_ms, unsigned *ret_removed, struct err *err)
{
	struct roots roots = { 0 };
	int64_t cutoff = now_ms - r->gc_grace_ms;
	_cleanup_buf_ struct buf path = BUF_INIT, links = BUF_INIT, dead = BUF_INIT;
	struct dirent *de;
	unsigned removed = 0;
	DIR *d = NULL;
	int rc;

	/*
	 * One pass, held exclusive from reading the roots to the last unlink:
	 * a push checks its manifest's blobs and commits it under the shared
	 * side, so it either came before (its manifest is a root here) or
	 * comes after (and finds what this pass removed gone, and uploads it
	 * again); a blob it uploaded, mounted or looked at (HEAD) was stamped
	 * and linked under the shared side too, so it is younger than the
	 * grace here, or linked and named by the time this pass reads.
	 */
	pthread_rwlock_wrlock(&r->blobs->gc_lock);
	buf_init(&roots.repo_lines);
	rc = store_scan(r->api->store, "ecr/manifest/", NULL, collect_root, &roots, err);
	if (rc == 0)
		rc = store_scan(r->api->store, "ecr/blob/", NULL, collect_link, &links, err);
	if (rc < 0)
		goto out;
	roots_index(&roots);
	buf_printf(&path, "%s/blobs/sha256", r->dir);
	d = opendir(buf_str(&path));
	if (!d) {
		rc = err_set(err, -errno, E_SERVER, "reading '%s': %m", buf_str(&path));
		goto out;
	}
	/* garbage: a blob no manifest anywhere is or names, older than the grace */
	while ((de = readdir(d)))
		if (is_hex64(de->d_name) && !set_has(&roots.all, de->d_name) &&
		    file_mtime_ms(dirfd(d), de->d_name) < cutoff)
			buf_printf(&dead, "%s\n", de->d_name);
	/* every link to garbage is stale too: it goes first */
	rc = drop_stale_links(r, &roots, &links, dirfd(d), cutoff, err);
	if (rc < 0)
		goto out;
	for (const char *p = dead.data; p && *p; p += 65) {
		char hex[65];

		memcpy(hex, p, 64);
		hex[64] = 0;
		if (unlinkat(dirfd(d), hex, 0) == 0)
			removed++;
	}
out:
	pthread_rwlock_unlock(&r->blobs->gc_lock);
	if (d)
		closedir(d);
	free(roots.all.hex);
	free(roots.repo_pairs);
	buf_release(&roots.repo_lines);
	if (rc == 0 && ret_removed)
		*ret_removed = removed;
	return rc;
}
