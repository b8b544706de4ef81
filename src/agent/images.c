/*
 * images.c: the agent's image store (images.h): records of what was
 * pulled, the pull behaviours, use counts and the collector. The registry
 * protocol is pull.c's; the layer store layers.c's.
 *
 * One mutex guards the records and the use counts; a pull runs without it,
 * and pulls of one reference at once wait for the first (a list of the
 * references being pulled, with a condition variable).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

struct pulling {
	struct pulling *next;
	char ref[IMAGE_REF_MAX + 1];
};

struct images {
	char *dir;
	struct buf images_dir, downloads_dir;
	pthread_mutex_t lock;
	pthread_cond_t pulled; /* a pull ended */
	struct use *uses;
	struct pulling *pulling;
	char *insecure[MAX_INSECURE];
	size_t n_insecure;
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
	buf_printf(&s->images_dir, "%s/images", dir);
	buf_printf(&s->downloads_dir, "%s/downloads", dir);
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
	free(s->dir);
	free(s);
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

	record_path(s, digest, &path);
	if (fs_read_file(buf_str(&path), RECORD_MAX, &data) < 0 || !data.data)
		return NULL;
	return cJSON_ParseWithLength(data.data, data.len);
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

/* The local image for ref (a reference, or a bare manifest digest). Called under s->lock. */
static int lookup(struct images *s, const char *ref, const struct image_ref *parsed,
		  struct image **ret, struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL;
	struct find f = { .ref = ref };

	if (parsed && parsed->digest[0])
		rec = record_load(s, parsed->digest);
	else if (digest_valid(ref))
		rec = record_load(s, ref);
	if (!rec) {
		each_record(s, find_ref, &f);
		if (f.digest[0])
			rec = record_load(s, f.digest);
	}
	if (!rec)
		return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND, "image %s is not on this host",
			       ref);
	/* an image whose layers went missing is not there */
	for (const cJSON *d = json_arr(rec, "diffIds") ? json_arr(rec, "diffIds")->child : NULL; d;
	     d = d->next)
		if (!cJSON_IsString(d) || !layer_exists(s->dir, d->valuestring))
			return err_set(err, -ENOENT, E_IMAGE_NOT_FOUND,
				       "image %s is missing a layer on this host", ref);
	return image_from_record(rec, ret, err);
}

int image_get(struct images *s, const char *ref, struct image **ret, struct err *err)
{
	struct image_ref parsed;
	int r;

	if (!digest_valid(ref) && image_ref_parse(ref, &parsed, err) < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	r = lookup(s, ref, digest_valid(ref) ? NULL : &parsed, ret, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Record what pull_image brought for ref, keeping the references of an existing record. */
static int remember(struct images *s, const char *ref, const struct pulled *p, struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL;
	cJSON *refs;
	struct find f = { .ref = ref };
	int r;

	pthread_mutex_lock(&s->lock);
	/* the reference moves: drop it from the image it named before */
	each_record(s, find_ref, &f);
	if (f.digest[0] && strcmp(f.digest, p->digest) != 0) {
		_cleanup_json_ cJSON *old = record_load(s, f.digest);
		cJSON *old_refs = old ? cJSON_GetObjectItemCaseSensitive(old, "references") : NULL;
		int i = 0;

		for (cJSON *x = old_refs ? old_refs->child : NULL; x; x = x->next, i++)
			if (cJSON_IsString(x) && !strcmp(x->valuestring, ref)) {
				cJSON_DeleteItemFromArray(old_refs, i);
				break;
			}
		if (old)
			record_save(s, old, err);
	}
	rec = record_load(s, p->digest);
	if (!rec) {
		rec = cJSON_CreateObject();
		cJSON_AddStringToObject(rec, "digest", p->digest);
		cJSON_AddArrayToObject(rec, "references");
		cJSON_AddItemToObject(rec, "config", cJSON_Duplicate(p->config, true));
		cJSON_AddItemToObject(rec, "diffIds", cJSON_Duplicate(p->diff_ids, true));
		cJSON_AddNumberToObject(rec, "size", (double)p->size);
		cJSON_AddNumberToObject(rec, "lastUsed", (double)now_ms());
	}
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "pulledAt");
	cJSON_AddNumberToObject(rec, "pulledAt", (double)now_ms());
	refs = cJSON_GetObjectItemCaseSensitive(rec, "references");
	if (refs && !has_reference(rec, ref))
		cJSON_AddItemToArray(refs, cJSON_CreateString(ref));
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

/* Wait until nobody else pulls ref, then mark it as ours. */
static void pull_begin(struct images *s, struct pulling *me)
{
	pthread_mutex_lock(&s->lock);
	for (;;) {
		bool busy = false;

		for (struct pulling *p = s->pulling; p; p = p->next)
			busy = busy || !strcmp(p->ref, me->ref);
		if (!busy)
			break;
		pthread_cond_wait(&s->pulled, &s->lock);
	}
	me->next = s->pulling;
	s->pulling = me;
	pthread_mutex_unlock(&s->lock);
}

static void pull_end(struct images *s, struct pulling *me)
{
	pthread_mutex_lock(&s->lock);
	for (struct pulling **p = &s->pulling; *p; p = &(*p)->next)
		if (*p == me) {
			*p = me->next;
			break;
		}
	pthread_cond_broadcast(&s->pulled);
	pthread_mutex_unlock(&s->lock);
}

int image_pull(struct images *s, const char *ref, const struct image_auth *auth,
	       enum image_pull_behavior behavior, struct image **ret, struct err *err)
{
	struct image_ref parsed;
	struct pulling me = { 0 };
	struct pulled p;
	struct err local = ERR_INIT;
	struct httpc *http;
	bool cached;
	int r;

	r = image_ref_parse(ref, &parsed, err);
	if (r < 0)
		return r;
	snprintf(me.ref, sizeof(me.ref), "%s", ref);
	pull_begin(s, &me);

	/* what is already here, when the behaviour lets it be used without asking */
	pthread_mutex_lock(&s->lock);
	cached = lookup(s, ref, &parsed, ret, &local) == 0;
	pthread_mutex_unlock(&s->lock);
	if (cached && (behavior == IMAGE_PULL_ONCE || behavior == IMAGE_PULL_PREFER_CACHED ||
		       parsed.digest[0])) {
		pull_end(s, &me);
		return 0;
	}
	if (cached) {
		image_free(*ret);
		*ret = NULL;
	}

	http = httpc_new(NULL);
	if (!http) {
		pull_end(s, &me);
		return err_set(err, -ENOMEM, E_SERVER, "cannot start an HTTP client");
	}
	struct pull_target t = {
		.ref = &parsed,
		.auth = auth,
		.insecure = insecure(s, parsed.registry),
		.store_dir = s->dir,
		.downloads_dir = buf_str(&s->downloads_dir),
	};
	r = pull_image(http, &t, &p, err);
	httpc_free(http);
	if (r == 0)
		r = remember(s, ref, &p, err);
	pulled_release(&p);
	if (r < 0 && behavior == IMAGE_PULL_DEFAULT && cached) {
		log_warn("images: pulling %s failed (%s); using the image on this host", ref,
			 err->msg);
		r = 0;
	}
	if (r == 0) {
		pthread_mutex_lock(&s->lock);
		r = lookup(s, ref, &parsed, ret, err);
		pthread_mutex_unlock(&s->lock);
	}
	pull_end(s, &me);
	return r;
}

/* --- use and collection ------------------------------------------------ */

static void touch(struct images *s, const char *digest)
{
	_cleanup_json_ cJSON *rec = record_load(s, digest);
	struct err err = ERR_INIT;

	if (!rec)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "lastUsed");
	cJSON_AddNumberToObject(rec, "lastUsed", (double)now_ms());
	record_save(s, rec, &err);
}

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
	const cJSON *ids = json_arr(rec, "diffIds");

	if (digest && !in_use(g->s, digest) && json_int(rec, "lastUsed", 0) < g->before) {
		_cleanup_buf_ struct buf path = BUF_INIT;

		record_path(g->s, digest, &path);
		if (unlink(buf_str(&path)) == 0) {
			g->removed++;
			log_info("images: removed %s, unused since %lld", digest,
				 (long long)json_int(rec, "lastUsed", 0));
			return 0;
		}
	}
	for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next)
		if (cJSON_IsString(d) && !json_get(g->keep, d->valuestring))
			cJSON_AddTrueToObject(g->keep, d->valuestring);
	return 0;
}

int image_gc(struct images *s, int64_t unused_for_ms, unsigned *ret_removed, struct err *err)
{
	_cleanup_buf_ struct buf dir = BUF_INIT;
	struct gc g = { .s = s, .before = now_ms() - unused_for_ms, .keep = cJSON_CreateObject() };
	DIR *d;
	struct dirent *e;

	if (!g.keep)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	pthread_mutex_lock(&s->lock);
	/* no layer is collected while a pull may be unpacking one */
	if (s->pulling) {
		pthread_mutex_unlock(&s->lock);
		cJSON_Delete(g.keep);
		if (ret_removed)
			*ret_removed = 0;
		return 0;
	}
	each_record(s, gc_image, &g);
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
	pthread_mutex_unlock(&s->lock);
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
