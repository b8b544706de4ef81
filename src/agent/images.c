/*
 * images.c: the agent's image store (images.h): records of what was
 * pulled, the pull behaviours, use counts and the collector. The registry
 * protocol is pull.c's; the layer store layers.c's.
 *
 * One mutex guards the records, the use counts and the list of pulls in
 * flight; a pull runs without it. A pull of a reference already being
 * pulled joins that pull: it waits for it and takes its result, so the
 * work is done once.
 *
 * Pulls and the collector also exclude each other through a file lock,
 * DIR/images/.lock, which works across processes (`berth image pull` on
 * the agent's directory) as well as between threads (flock(2) locks
 * belong to open files, and each pull opens its own): a pull holds it
 * shared from its first layer until its record is written; the collector
 * takes it exclusively or does nothing this time, and so does a failed
 * pull that takes back the layers it unpacked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/images.h"
#include "agent/pull.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/banned.h"

#define RECORD_MAX   (8u << 20)
#define MAX_INSECURE 16

struct use {
	struct use *next;
	char digest[DIGEST_SIZE];
	unsigned count;
};

/* A pull in flight, which pulls of the same reference join. */
struct pulling {
	struct pulling *next;
	char ref[IMAGE_REF_STR_MAX]; /* canonical */
	unsigned waiters;	     /* joined pulls still to read the result */
	bool done;
	int result;
	struct err err; /* when result < 0 */
};

struct images {
	char *dir;
	struct buf images_dir, downloads_dir, lock_path;
	pthread_mutex_t lock;
	pthread_cond_t pulled; /* a pull in flight ended */
	struct use *uses;
	struct pulling *pulling;
	char *insecure[MAX_INSECURE];
	size_t n_insecure;
	int64_t pull_inactivity_s;
	bool keep_blobs;
};

int image_pull_behavior_parse(const char *s, enum image_pull_behavior *ret, struct err *err)
{
	static const struct {
		const char *name;
		enum image_pull_behavior b;
	} names[] = {
		{ "default", IMAGE_PULL_DEFAULT },
		{ "always", IMAGE_PULL_ALWAYS },
		{ "once", IMAGE_PULL_ONCE },
		{ "prefer-cached", IMAGE_PULL_PREFER_CACHED },
	};

	for (size_t i = 0; s && i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i].name)) {
			*ret = names[i].b;
			return 0;
		}
	return err_set(err, -EINVAL, E_INVALID_PARAMETER,
		       "image pull behavior '%s': expected default, always, once or prefer-cached",
		       s ? s : "");
}

enum image_pull_action image_pull_decide(enum image_pull_behavior behavior, bool cached,
					 bool by_digest)
{
	if (!cached)
		return IMAGE_PULL;
	if (by_digest)
		return IMAGE_USE_CACHED;
	switch (behavior) {
	case IMAGE_PULL_ONCE:
	case IMAGE_PULL_PREFER_CACHED: return IMAGE_USE_CACHED;
	case IMAGE_PULL_ALWAYS: return IMAGE_PULL;
	case IMAGE_PULL_DEFAULT: break;
	}
	return IMAGE_PULL_ELSE_CACHED;
}

int images_open(const char *dir, struct images **ret, struct err *err)
{
	struct images *s = calloc(1, sizeof(*s));
	int r;

	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	}
	buf_init(&s->images_dir);
	buf_init(&s->downloads_dir);
	buf_init(&s->lock_path);
	buf_printf(&s->images_dir, "%s/images", dir);
	buf_printf(&s->downloads_dir, "%s/downloads", dir);
	buf_printf(&s->lock_path, "%s/images/.lock", dir);
	r = fs_mkdir_p(buf_str(&s->images_dir), 0700);
	if (r == 0)
		r = fs_mkdir_p(buf_str(&s->downloads_dir), 0700);
	if (r < 0) {
		err_set(err, r, E_SERVER, "%s: %s", dir, strerror(-r));
		images_close(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->pulled, NULL);
	*ret = s;
	return 0;
}

void images_close(struct images *s)
{
	if (!s)
		return;
	while (s->uses) {
		struct use *u = s->uses;

		s->uses = u->next;
		free(u);
	}
	for (size_t i = 0; i < s->n_insecure; i++)
		free(s->insecure[i]);
	if (s->images_dir.data && s->downloads_dir.data) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->pulled);
	}
	buf_release(&s->images_dir);
	buf_release(&s->downloads_dir);
	buf_release(&s->lock_path);
	free(s->dir);
	free(s);
}

void images_set_pull_inactivity(struct images *s, int64_t seconds)
{
	s->pull_inactivity_s = seconds;
}

void images_set_insecure(struct images *s, const char *const *registries, size_t n)
{
	for (size_t i = 0; i < n && s->n_insecure < MAX_INSECURE; i++) {
		char *copy = strdup(registries[i]);

		if (copy)
			s->insecure[s->n_insecure++] = copy;
	}
}

void image_free(struct image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_layers; i++)
		free(img->diff_ids[i]);
	free(img->diff_ids);
	cJSON_Delete(img->config);
	free(img);
}

/* --- records ----------------------------------------------------------- */

static void record_path(const struct images *s, const char *digest, struct buf *out)
{
	buf_printf(out, "%s/%s.json", buf_str(&s->images_dir), digest + 7);
}

static cJSON *record_load(const struct images *s, const char *digest)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;

	cJSON *rec;

	record_path(s, digest, &path);
	if (fs_read_file(buf_str(&path), RECORD_MAX, &data) < 0 || !data.data)
		return NULL;
	rec = cJSON_ParseWithLength(data.data, data.len);
	/* a record is named by its digest: one that says otherwise is not one */
	if (!json_str(rec, "digest") || strcmp(json_str(rec, "digest"), digest) != 0) {
		cJSON_Delete(rec);
		return NULL;
	}
	return rec;
}

static int record_save(const struct images *s, const cJSON *rec, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	int r;

	record_path(s, json_str(rec, "digest"), &path);
	json_print(&data, rec);
	r = fs_write_atomic(buf_str(&path), data.data, data.len);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
	return 0;
}

/* Call fn on each record (under s->lock); stop when it returns non-zero. */
static void each_record(struct images *s, int (*fn)(cJSON *rec, void *ctx), void *ctx)
{
	DIR *d = opendir(buf_str(&s->images_dir));
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char digest[DIGEST_SIZE + 8];
		size_t n = strlen(e->d_name);
		cJSON *rec;
		int stop;

		if (n != 64 + 5 || strcmp(e->d_name + 64, ".json") != 0)
			continue;
		snprintf(digest, sizeof(digest), "sha256:%.64s", e->d_name);
		if (!digest_valid(digest))
			continue;
		rec = record_load(s, digest);
		if (!rec)
			continue;
		stop = fn(rec, ctx);
		cJSON_Delete(rec);
		if (stop)
			break;
	}
	closedir(d);
}

static bool has_reference(const cJSON *rec, const char *ref)
{
	const cJSON *refs = json_arr(rec, "references");

	for (const cJSON *r = refs ? refs->child : NULL; r; r = r->next)
		if (cJSON_IsString(r) && !strcmp(r->valuestring, ref))
			return true;
	return false;
}

struct find {
	const char *ref;
	char digest[DIGEST_SIZE];
};

static int find_ref(cJSON *rec, void *ctx)
{
	struct find *f = ctx;

	if (!has_reference(rec, f->ref))
		return 0;
	snprintf(f->digest, sizeof(f->digest), "%s", json_str(rec, "digest") ?: "");
	return 1;
}

static int image_from_record(const cJSON *rec, struct image **ret, struct err *err)
{
	const cJSON *ids = json_arr(rec, "diffIds");
	struct image *img = calloc(1, sizeof(*img));
	size_t n = 0;

	for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next)
		n++;
	if (!img || !(img->diff_ids = calloc(n ? n : 1, sizeof(char *))))
		goto nomem;
	for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next) {
		if (!cJSON_IsString(d) || !(img->diff_ids[img->n_layers] = strdup(d->valuestring)))
			goto nomem;
		img->n_layers++;
	}
	img->config = cJSON_Duplicate(json_obj(rec, "config"), true);
	if (!img->config)
		goto nomem;
	snprintf(img->digest, sizeof(img->digest), "%s", json_str(rec, "digest") ?: "");
	img->size = (uint64_t)json_int(rec, "size", 0);
	*ret = img;
	return 0;
nomem:
	image_free(img);
	return err_set(err, -ENOMEM, E_SERVER, "out of memory");
}

/*
 * The local image for key (a canonical reference, or a bare manifest
 * digest when parsed is NULL). Called under s->lock.
 */
static int lookup(struct images *s, const char *key, const struct image_ref *parsed,
		  struct image **ret, struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL;
	struct find f = { .ref = key };
	const cJSON *ids;

	if (parsed && parsed->digest[0])
		rec = record_load(s, parsed->digest);
	else if (!parsed)
		rec = record_load(s, key);
	if (!rec && parsed) {
		/* by tag, or by the digest of an index (recorded under the reference) */
		each_record(s, find_ref, &f);
		if (f.digest[0])
			rec = record_load(s, f.digest);
	}
	if (!rec)
		return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND, "image %s is not on this host",
			       key);
	/* an image whose layers went missing is not there */
	ids = json_arr(rec, "diffIds");
	for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next)
		if (!cJSON_IsString(d) || !layer_exists(s->dir, d->valuestring))
			return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND,
				       "image %s is missing a layer on this host", key);
	return image_from_record(rec, ret, err);
}

int image_get(struct images *s, const char *ref, struct image **ret, struct err *err)
{
	struct image_ref parsed;
	char key[IMAGE_REF_STR_MAX];
	int r;

	if (digest_valid(ref)) {
		pthread_mutex_lock(&s->lock);
		r = lookup(s, ref, NULL, ret, err);
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	r = image_ref_parse(ref, &parsed, err);
	if (r < 0)
		return r;
	image_ref_format(&parsed, key);
	pthread_mutex_lock(&s->lock);
	r = lookup(s, key, &parsed, ret, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Set the record's lastUsed to now. Called under s->lock. */
static void touch(struct images *s, const char *digest)
{
	_cleanup_json_ cJSON *rec = record_load(s, digest);
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;

	if (!rec)
		return;
	json_set_num(rec, "lastUsed", (double)now_ms());
	/*
	 * Replaced atomically but not made durable: a lastUsed lost in a crash
	 * only brings the image's clean-up closer (one in use is never
	 * removed), not worth two fsyncs at every task start.
	 */
	record_path(s, digest, &path);
	json_print(&data, rec);
	fs_write_replace(buf_str(&path), data.data, data.len);
}

/* Drop reference key from the record of digest; 1 when it was there. Called under s->lock. */
static int drop_reference(struct images *s, const char *key, const char *digest, struct err *err)
{
	_cleanup_json_ cJSON *old = record_load(s, digest);
	cJSON *old_refs = old ? cJSON_GetObjectItemCaseSensitive(old, "references") : NULL;
	int i = 0;

	for (cJSON *x = old_refs ? old_refs->child : NULL; x; x = x->next, i++)
		if (cJSON_IsString(x) && !strcmp(x->valuestring, key)) {
			cJSON_DeleteItemFromArray(old_refs, i);
			return record_save(s, old, err) < 0 ? err->code : 1;
		}
	return 0;
}

/*
 * Reference key is about to name the image digest: drop it from the image
 * it named before. Called under s->lock.
 */
static void move_reference(struct images *s, const char *key, const char *digest, struct err *err)
{
	struct find f = { .ref = key };

	each_record(s, find_ref, &f);
	if (f.digest[0] && strcmp(f.digest, digest) != 0)
		drop_reference(s, key, f.digest, err);
}

/*
 * Record what pull_image brought for key (a canonical reference), keeping
 * the references of an existing record of the same image.
 */
static int remember(struct images *s, const char *key, const struct pulled *p, struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL;
	cJSON *refs;
	int r;

	pthread_mutex_lock(&s->lock);
	move_reference(s, key, p->digest, err);
	rec = record_load(s, p->digest);
	if (!rec) {
		rec = cJSON_CreateObject();
		cJSON_AddStringToObject(rec, "digest", p->digest);
		cJSON_AddArrayToObject(rec, "references");
		cJSON_AddItemToObject(rec, "config", cJSON_Duplicate(p->config, true));
		cJSON_AddItemToObject(rec, "diffIds", cJSON_Duplicate(p->diff_ids, true));
		cJSON_AddNumberToObject(rec, "size", (double)p->size);
	}
	json_set_num(rec, "pulledAt", (double)now_ms());
	json_set_num(rec, "lastUsed", (double)now_ms());
	/* pulled with its blobs: pushable and savable from now on */
	if (p->layers && p->config_digest[0]) {
		json_set(rec, "layers", cJSON_Duplicate(p->layers, true));
		json_set_str(rec, "configDigest", p->config_digest);
	}
	refs = cJSON_GetObjectItemCaseSensitive(rec, "references");
	if (refs && !has_reference(rec, key))
		cJSON_AddItemToArray(refs, cJSON_CreateString(key));
	r = record_save(s, rec, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static bool insecure(const struct images *s, const char *registry)
{
	for (size_t i = 0; i < s->n_insecure; i++)
		if (!strcmp(s->insecure[i], registry))
			return true;
	return false;
}

/* --- the file lock between pulls and the collector ---------------------- */

/* Open DIR/images/.lock and lock it (LOCK_SH, or LOCK_EX|LOCK_NB): its fd, or a negative errno. */
static int file_lock(const struct images *s, int how)
{
	int fd = open(buf_str(&s->lock_path), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return -errno;
	do
		r = flock(fd, how);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Add the diff_ids of rec to set (an object used as a set). */
static void keep_layers(cJSON *set, const cJSON *rec)
{
	const cJSON *ids = json_arr(rec, "diffIds");

	const cJSON *layers = json_arr(rec, "layers");
	const char *blobs[] = { json_str(rec, "digest"), json_str(rec, "configDigest") };

	for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next)
		if (cJSON_IsString(d) && !json_get(set, d->valuestring))
			cJSON_AddTrueToObject(set, d->valuestring);
	/* the blobs of a local image (built, loaded, pulled for pushing) */
	for (const cJSON *l = layers ? layers->child : NULL; l; l = l->next)
		if (json_str(l, "digest") && !json_get(set, json_str(l, "digest")))
			cJSON_AddTrueToObject(set, json_str(l, "digest"));
	for (size_t i = 0; layers && i < ARRAY_SIZE(blobs); i++)
		if (blobs[i] && !json_get(set, blobs[i]))
			cJSON_AddTrueToObject(set, blobs[i]);
}

static int keep_all(cJSON *rec, void *set)
{
	keep_layers(set, rec);
	return 0;
}

/*
 * After a failed pull: remove the layers it unpacked that no image record
 * has, unless a pull or the collector runs (then the collector will).
 */
static void take_back(struct images *s, const cJSON *unpacked)
{
	cJSON *keep;
	int fd;

	if (!unpacked || !unpacked->child)
		return;
	fd = file_lock(s, LOCK_EX | LOCK_NB);
	if (fd < 0)
		return;
	keep = cJSON_CreateObject();
	pthread_mutex_lock(&s->lock);
	if (keep)
		each_record(s, keep_all, keep);
	for (const cJSON *d = unpacked->child; d && keep; d = d->next) {
		struct err ignored = ERR_INIT;

		if (cJSON_IsString(d) && !json_get(keep, d->valuestring))
			layer_remove(s->dir, d->valuestring, &ignored);
	}
	pthread_mutex_unlock(&s->lock);
	cJSON_Delete(keep);
	close(fd);
}

/* --- pulls in flight ---------------------------------------------------- */

/*
 * Join the pull of key in flight, or start one: returns the joined pull,
 * done (the caller reads its result, then calls pull_leave), or NULL
 * after making *mine (the caller's, on its stack) the pull in flight.
 */
static struct pulling *pull_join(struct images *s, const char *key, struct pulling *mine)
{
	struct pulling *p;

	pthread_mutex_lock(&s->lock);
	for (p = s->pulling; p; p = p->next)
		if (!strcmp(p->ref, key))
			break;
	if (p) {
		p->waiters++;
		while (!p->done)
			pthread_cond_wait(&s->pulled, &s->lock);
		pthread_mutex_unlock(&s->lock);
		return p;
	}
	memset(mine, 0, sizeof(*mine));
	snprintf(mine->ref, sizeof(mine->ref), "%s", key);
	mine->next = s->pulling;
	s->pulling = mine;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* A joined pull's result has been read. */
static void pull_leave(struct images *s, struct pulling *p)
{
	pthread_mutex_lock(&s->lock);
	p->waiters--;
	pthread_cond_broadcast(&s->pulled);
	pthread_mutex_unlock(&s->lock);
}

/* End the caller's pull in flight: hand the result to those who joined it. */
static void pull_finish(struct images *s, struct pulling *mine, int result, const struct err *err)
{
	pthread_mutex_lock(&s->lock);
	for (struct pulling **p = &s->pulling; *p; p = &(*p)->next)
		if (*p == mine) {
			*p = mine->next;
			break;
		}
	mine->done = true;
	mine->result = result;
	if (result < 0 && err)
		mine->err = *err;
	pthread_cond_broadcast(&s->pulled);
	/* mine lives on the caller's stack: wait until every waiter has read it */
	while (mine->waiters > 0)
		pthread_cond_wait(&s->pulled, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/* The image for key after a pull: the record, touched (a pull is a use). */
static int found(struct images *s, const char *key, const struct image_ref *parsed,
		 struct image **ret, struct err *err)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = lookup(s, key, parsed, ret, err);
	if (r == 0)
		touch(s, (*ret)->digest);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The pull itself, by the pull in flight for key. */
static int pull(struct images *s, const char *key, const struct image_ref *parsed,
		const struct image_auth *auth, enum image_pull_behavior behavior,
		struct image **ret, struct err *err)
{
	struct err local = ERR_INIT;
	struct pulled p = { 0 };
	struct httpc *http;
	struct image *cached_img = NULL;
	enum image_pull_action action;
	int fd, r;

	pthread_mutex_lock(&s->lock);
	r = lookup(s, key, parsed, &cached_img, &local);
	pthread_mutex_unlock(&s->lock);
	action = image_pull_decide(behavior, r == 0, parsed->digest[0] != 0);
	if (action == IMAGE_USE_CACHED) {
		image_free(cached_img);
		return found(s, key, parsed, ret, err);
	}

	http = httpc_new(NULL);
	if (!http) {
		image_free(cached_img);
		return err_set(err, -ENOMEM, E_SERVER, "cannot start an HTTP client");
	}
	struct pull_target t = {
		.ref = parsed,
		.auth = auth,
		.insecure = insecure(s, parsed->registry),
		.store_dir = s->dir,
		.downloads_dir = buf_str(&s->downloads_dir),
		.inactivity_s = (long)s->pull_inactivity_s,
		.keep_blobs = s->keep_blobs,
		/* a pull that keeps blobs fetches what the layers alone do not give */
		.cached_digest = cached_img && !s->keep_blobs ? cached_img->digest : NULL,
	};
	fd = file_lock(s, LOCK_SH);
	if (fd < 0)
		r = err_set(err, fd, E_SERVER, "%s: %s", buf_str(&s->lock_path), strerror(-fd));
	else
		r = pull_image(http, &t, &p, err);
	httpc_free(http);
	image_free(cached_img);
	/* up to date: the store's record of the image stands as it is */
	if (r == 0 && !p.unchanged)
		r = remember(s, key, &p, err);
	if (fd >= 0)
		close(fd);
	if (r < 0)
		take_back(s, p.unpacked);
	pulled_release(&p);
	if (r < 0 && action == IMAGE_PULL_ELSE_CACHED) {
		log_warn("images: pulling %s failed (%s); using the image on this host", key,
			 err->msg);
		r = 0;
	}
	if (r < 0)
		return r;
	return found(s, key, parsed, ret, err);
}

int image_pull(struct images *s, const char *ref, const struct image_auth *auth,
	       enum image_pull_behavior behavior, struct image **ret, struct err *err)
{
	struct image_ref parsed;
	struct pulling mine, *joined;
	char key[IMAGE_REF_STR_MAX];
	int r;

	*ret = NULL;
	r = image_ref_parse(ref, &parsed, err);
	if (r < 0)
		return r;
	image_ref_format(&parsed, key);
	joined = pull_join(s, key, &mine);
	if (joined) {
		/* the same reference was being pulled: its result is ours */
		r = joined->result;
		if (r < 0 && err)
			*err = joined->err;
		pull_leave(s, joined);
		if (r < 0)
			return r;
		return found(s, key, &parsed, ret, err);
	}
	r = pull(s, key, &parsed, auth, behavior, ret, err);
	pull_finish(s, &mine, r, err);
	return r;
}

/* --- use and collection ------------------------------------------------ */

int image_use(struct images *s, const char *digest, bool in_use, struct err *err)
{
	struct use *u;

	if (!digest_valid(digest))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "bad image digest");
	pthread_mutex_lock(&s->lock);
	for (u = s->uses; u; u = u->next)
		if (!strcmp(u->digest, digest))
			break;
	if (!u && in_use) {
		u = calloc(1, sizeof(*u));
		if (!u) {
			pthread_mutex_unlock(&s->lock);
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		}
		snprintf(u->digest, sizeof(u->digest), "%s", digest);
		u->next = s->uses;
		s->uses = u;
	}
	if (u && in_use)
		u->count++;
	else if (u && u->count > 0)
		u->count--;
	touch(s, digest);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static bool in_use(const struct images *s, const char *digest)
{
	for (const struct use *u = s->uses; u; u = u->next)
		if (!strcmp(u->digest, digest))
			return u->count > 0;
	return false;
}

struct gc {
	struct images *s;
	int64_t before;
	unsigned removed;
	cJSON *keep; /* diff_ids of the images kept: object used as a set */
};

static int gc_image(cJSON *rec, void *ctx)
{
	struct gc *g = ctx;
	const char *digest = json_str(rec, "digest");
	int64_t used = json_int(rec, "lastUsed", 0), pulled = json_int(rec, "pulledAt", 0);

	if (pulled > used)
		used = pulled;
	if (digest_valid(digest) && !in_use(g->s, digest) && used < g->before) {
		_cleanup_buf_ struct buf path = BUF_INIT;

		record_path(g->s, digest, &path);
		if (unlink(buf_str(&path)) == 0) {
			g->removed++;
			log_info("images: removed %s, unused since %lld", digest, (long long)used);
			return 0;
		}
	}
	keep_layers(g->keep, rec);
	return 0;
}

/*
 * The build cache (DIR/build-cache/HEX.json, build/build.h): the layers and
 * blobs of entries used since before are kept; older entries go.
 */
static void keep_build_cache(struct images *s, int64_t before, cJSON *keep)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	DIR *d;
	struct dirent *e;

	buf_printf(&dir, "%s/build-cache", s->dir);
	d = opendir(buf_str(&dir));
	while (d && (e = readdir(d))) {
		_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
		_cleanup_json_ cJSON *entry = NULL;
		struct stat sb;
		const char *ids[2];

		if (e->d_name[0] == '.')
			continue;
		buf_printf(&path, "%s/%s", buf_str(&dir), e->d_name);
		if (stat(buf_str(&path), &sb) < 0)
			continue;
		if ((int64_t)sb.st_mtime * 1000 < before) {
			unlink(buf_str(&path));
			continue;
		}
		if (fs_read_file(buf_str(&path), 4096, &data) < 0 || !data.data)
			continue;
		entry = cJSON_ParseWithLength(data.data, data.len);
		ids[0] = json_str(entry, "diffId");
		ids[1] = json_str(entry, "digest");
		for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
			if (ids[i] && digest_valid(ids[i]) && !json_get(keep, ids[i]))
				cJSON_AddTrueToObject(keep, ids[i]);
	}
	if (d)
		closedir(d);
}

/* Remove the blobs (DIR/blobs/sha256/HEX) not in keep. Called under s->lock. */
static void remove_blobs(struct images *s, const cJSON *keep)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	DIR *d;
	struct dirent *e;

	buf_printf(&dir, "%s/blobs/sha256", s->dir);
	d = opendir(buf_str(&dir));
	while (d && (e = readdir(d))) {
		char digest[DIGEST_SIZE + 8];

		snprintf(digest, sizeof(digest), "sha256:%.64s", e->d_name);
		if (strlen(e->d_name) != 64 || !digest_valid(digest) || json_get(keep, digest))
			continue;
		unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
}

int image_gc(struct images *s, int64_t unused_for_ms, unsigned *ret_removed, struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	struct gc g = { .s = s, .before = now_ms() - unused_for_ms, .keep = cJSON_CreateObject() };
	DIR *d;
	struct dirent *e;
	int fd;

	if (ret_removed)
		*ret_removed = 0;
	if (!g.keep)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	/* no layer is collected while a pull may be unpacking or recording one */
	fd = file_lock(s, LOCK_EX | LOCK_NB);
	if (fd == -EWOULDBLOCK) {
		cJSON_Delete(g.keep);
		return 0;
	}
	if (fd < 0) {
		cJSON_Delete(g.keep);
		return err_set(err, fd, E_SERVER, "%s: %s", buf_str(&s->lock_path), strerror(-fd));
	}
	pthread_mutex_lock(&s->lock);
	each_record(s, gc_image, &g);
	keep_build_cache(s, g.before, g.keep);
	buf_printf(&dir, "%s/layers/sha256", s->dir);
	d = opendir(buf_str(&dir));
	while (d && (e = readdir(d))) {
		char diff_id[DIGEST_SIZE + 8];
		struct err ignored = ERR_INIT;

		snprintf(diff_id, sizeof(diff_id), "sha256:%.64s", e->d_name);
		if (strlen(e->d_name) != 64 || !digest_valid(diff_id) || json_get(g.keep, diff_id))
			continue;
		layer_remove(s->dir, diff_id, &ignored);
	}
	if (d)
		closedir(d);
	remove_blobs(s, g.keep);
	pthread_mutex_unlock(&s->lock);
	close(fd);
	cJSON_Delete(g.keep);
	if (ret_removed)
		*ret_removed = g.removed;
	return 0;
}

struct list {
	void (*fn)(const cJSON *record, void *ctx);
	void *ctx;
};

static int list_one(cJSON *rec, void *ctx)
{
	struct list *l = ctx;

	l->fn(rec, l->ctx);
	return 0;
}

int image_list(struct images *s, void (*fn)(const cJSON *record, void *ctx), void *ctx,
	       struct err *err)
{
	struct list l = { fn, ctx };

	(void)err;
	pthread_mutex_lock(&s->lock);
	each_record(s, list_one, &l);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* --- local images: built, loaded, tagged, removed ------------------------ */

void images_blob_path(const char *dir, const char *digest, struct buf *ret)
{
	buf_printf(ret, "%s/blobs/sha256/%s", dir, digest + 7);
}

void images_keep_blobs(struct images *s, bool keep)
{
	s->keep_blobs = keep;
}

const char *images_dir(const struct images *s)
{
	return s->dir;
}

int image_add_local(struct images *s, const char *ref, const struct image_local *img,
		    struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL;
	struct image_ref parsed;
	char key[IMAGE_REF_STR_MAX];
	cJSON *refs;
	int r;

	if (!digest_valid(img->digest) || (img->config_digest && !digest_valid(img->config_digest)))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "bad image digest");
	if (ref) {
		r = image_ref_parse(ref, &parsed, err);
		if (r < 0)
			return r;
		if (parsed.digest[0])
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "a tag names an image, not a digest: '%s'", ref);
		image_ref_format(&parsed, key);
	}
	pthread_mutex_lock(&s->lock);
	if (ref)
		move_reference(s, key, img->digest, err);
	rec = record_load(s, img->digest);
	if (!rec) {
		rec = cJSON_CreateObject();
		cJSON_AddStringToObject(rec, "digest", img->digest);
		cJSON_AddArrayToObject(rec, "references");
		cJSON_AddItemToObject(rec, "config", cJSON_Duplicate(img->config, true));
		cJSON_AddItemToObject(rec, "diffIds", cJSON_Duplicate(img->diff_ids, true));
		cJSON_AddNumberToObject(rec, "size", (double)img->size);
	}
	if (img->config_digest)
		json_set_str(rec, "configDigest", img->config_digest);
	if (img->layers)
		json_set(rec, "layers", cJSON_Duplicate(img->layers, true));
	json_set_num(rec, "pulledAt", (double)now_ms());
	json_set_num(rec, "lastUsed", (double)now_ms());
	refs = cJSON_GetObjectItemCaseSensitive(rec, "references");
	if (ref && refs && !has_reference(rec, key))
		cJSON_AddItemToArray(refs, cJSON_CreateString(key));
	r = record_save(s, rec, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int image_record_get(struct images *s, const char *ref, cJSON **ret, struct err *err)
{
	struct image *img = NULL;
	int r = image_get(s, ref, &img, err);

	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	*ret = record_load(s, img->digest);
	pthread_mutex_unlock(&s->lock);
	image_free(img);
	if (!*ret)
		return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND, "image %s is not on this host",
			       ref);
	return 0;
}

/* Add to set the layers the containers under DIR/containers are made of (their l/N links). */
static void layers_in_containers(const struct images *s, cJSON *set)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	DIR *d;
	struct dirent *e;

	buf_printf(&dir, "%s/containers", s->dir);
	d = opendir(buf_str(&dir));
	while (d && (e = readdir(d))) {
		_cleanup_buf_ struct buf l = BUF_INIT;
		DIR *ld;
		struct dirent *le;

		if (e->d_name[0] == '.')
			continue;
		buf_printf(&l, "%s/%s/l", buf_str(&dir), e->d_name);
		ld = opendir(buf_str(&l));
		while (ld && (le = readdir(ld))) {
			char target[PATH_MAX], diff_id[DIGEST_SIZE + 8];
			ssize_t n = readlinkat(dirfd(ld), le->d_name, target, sizeof(target) - 1);
			const char *slash;

			if (n <= 0)
				continue;
			target[n] = 0;
			slash = strrchr(target, '/');
			snprintf(diff_id, sizeof(diff_id), "sha256:%.64s",
				 slash ? slash + 1 : target);
			if (digest_valid(diff_id) && !json_get(set, diff_id))
				cJSON_AddTrueToObject(set, diff_id);
		}
		if (ld)
			closedir(ld);
	}
	if (d)
		closedir(d);
}

int image_remove(struct images *s, const char *ref, char ret_digest[LAYER_DIGEST_SIZE],
		 unsigned *ret_layers, struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL;
	struct image_ref parsed;
	char key[IMAGE_REF_STR_MAX];
	const cJSON *refs, *ids;
	bool by_digest = digest_valid(ref);
	int fd, r;

	*ret_layers = 0;
	if (!by_digest) {
		r = image_ref_parse(ref, &parsed, err);
		if (r < 0)
			return r;
		image_ref_format(&parsed, key);
		by_digest = parsed.digest[0] && !parsed.tag[0];
	}
	/* nothing is removed while a pull, in any process, is unpacking or recording */
	fd = file_lock(s, LOCK_EX | LOCK_NB);
	if (fd == -EWOULDBLOCK)
		return err_set(err, -EBUSY, E_CLIENT,
			       "an image pull is running on this host; try again");
	if (fd < 0)
		return err_set(err, fd, E_SERVER, "%s: %s", buf_str(&s->lock_path), strerror(-fd));
	pthread_mutex_lock(&s->lock);
	if (digest_valid(ref)) {
		rec = record_load(s, ref);
	} else if (parsed.digest[0]) {
		rec = record_load(s, parsed.digest);
	} else {
		struct find f = { .ref = key };

		each_record(s, find_ref, &f);
		if (f.digest[0])
			rec = record_load(s, f.digest);
	}
	if (!rec) {
		r = err_set(err, -ENOENT, E_IMAGE_NOT_FOUND, "image %s is not on this host", ref);
		goto out;
	}
	snprintf(ret_digest, LAYER_DIGEST_SIZE, "%s", json_str(rec, "digest"));
	if (!by_digest) {
		r = drop_reference(s, key, ret_digest, err);
		if (r < 0)
			goto out;
		cJSON_Delete(rec);
		rec = record_load(s, ret_digest);
	}
	refs = json_arr(rec, "references");
	r = 0;
	if (rec && !by_digest && refs && refs->child)
		goto out; /* other names still name it: only the tag went */
	/* its last name went (or it was named by digest): so does the image */
	{
		_cleanup_buf_ struct buf path = BUF_INIT;
		cJSON *keep = cJSON_CreateObject();

		record_path(s, ret_digest, &path);
		if (unlink(buf_str(&path)) < 0 && errno != ENOENT) {
			r = err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path),
				    strerror(errno));
			cJSON_Delete(keep);
			goto out;
		}
		/* the layers and blobs no other image, and no container, has */
		each_record(s, keep_all, keep);
		layers_in_containers(s, keep);
		ids = json_arr(rec, "diffIds");
		for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next) {
			struct err ignored = ERR_INIT;

			if (cJSON_IsString(d) && !json_get(keep, d->valuestring) &&
			    layer_remove(s->dir, d->valuestring, &ignored) == 0)
				(*ret_layers)++;
		}
		remove_blobs(s, keep);
		cJSON_Delete(keep);
	}
out:
	pthread_mutex_unlock(&s->lock);
	close(fd);
	return r;
}

int image_hold(struct images *s, struct err *err)
{
	int fd = file_lock(s, LOCK_SH);

	if (fd < 0)
		return err_set(err, fd, E_SERVER, "%s: %s", buf_str(&s->lock_path), strerror(-fd));
	return fd;
}

void image_unhold(int fd)
{
	if (fd >= 0)
		close(fd);
}
