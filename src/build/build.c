/*
 * build.c: the builder (build.h). A Dockerfile's stages are built in
 * order; each stage is a list of layers (diff_ids in the layer store, blob
 * descriptors in the image store), an image config and a cache key that
 * every layer step extends. The last stage (or --target) is written as an
 * OCI image: its config and manifest become blobs, and its record names it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "agent/pull.h"
#include "agent/rootfs.h"
#include "agent/runtime.h"
#include "build/build.h"
#include "build/dockerfile.h"
#include "build/pack.h"
#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"
#include "core/banned.h"

#define CACHE_ENTRY_MAX	 4096
#define IGNORE_MAX_BYTES (1u << 20)
#define PASSWD_MAX	 (4u << 20)
#define MAX_STAGES	 128

struct stage {
	char *name;    /* "AS name", lowercase; NULL when none */
	cJSON *config; /* the image config document: config, rootfs, history, ... */
	cJSON *layers; /* the manifest's layer descriptors, every blob in the store */
	cJSON *args;   /* ARGs in scope: name -> value */
	char key[DIGEST_SIZE];
	int64_t created; /* ms: the newest layer step's time */
};

struct builder {
	const struct build_opts *o;
	struct build_result *res;
	struct images *images;
	struct dockerfile df;
	cJSON *global_args; /* ARGs before the first FROM: name -> value */
	cJSON *build_args;  /* --build-arg: name -> value */
	struct stage stages[MAX_STAGES];
	size_t n_stages;
	char **ignore; /* .dockerignore patterns */
	size_t n_ignore;
	unsigned step, n_steps;
};

/* qsort's comparison of an array of strings. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* --- small helpers ------------------------------------------------------ */

static void say(const struct builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const struct builder *b, const char *fmt, ...)
{
	va_list ap;

	if (!b->o->out)
		return;
	va_start(ap, fmt);
	vfprintf(b->o->out, fmt, ap);
	va_end(ap);
	fflush(b->o->out);
}

struct hasher {
	EVP_MD_CTX *md;
};

static void hash_init(struct hasher *h, const char *prev)
{
	h->md = EVP_MD_CTX_new();
	if (!h->md)
		abort();
	EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
	if (prev)
		EVP_DigestUpdate(h->md, prev, strlen(prev) + 1);
}

/* A string with its NUL: "ab","c" and "a","bc" hash apart. */
static void hash_str(struct hasher *h, const char *s)
{
	s = s ? s : "";
	EVP_DigestUpdate(h->md, s, strlen(s) + 1);
}

static void hash_json(struct hasher *h, const cJSON *v)
{
	_cleanup_buf_ struct buf out = BUF_INIT;

	if (v)
		json_print(&out, v);
	hash_str(h, buf_str(&out));
}

static void hash_final(struct hasher *h, char ret[DIGEST_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n;

	EVP_DigestFinal_ex(h->md, md, &n);
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
	digest_format(md, ret);
}

static cJSON *config_obj(struct stage *st)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(st->config, "config");

	if (!cJSON_IsObject(c)) {
		c = cJSON_CreateObject();
		json_set(st->config, "config", c);
	}
	return c;
}

/* The value of NAME in an env array ["NAME=value", ...], or NULL. */
static const char *env_get(const cJSON *env, const char *name)
{
	size_t n = strlen(name);

	for (const cJSON *e = cJSON_IsArray(env) ? env->child : NULL; e; e = e->next)
		if (cJSON_IsString(e) && !strncmp(e->valuestring, name, n) &&
		    e->valuestring[n] == '=')
			return e->valuestring + n + 1;
	return NULL;
}

static void env_put(cJSON *config, const char *name, const char *value)
{
	cJSON *env = cJSON_GetObjectItemCaseSensitive(config, "Env");
	_cleanup_buf_ struct buf entry = BUF_INIT;
	size_t n = strlen(name);
	int i = 0;

	if (!cJSON_IsArray(env)) {
		env = cJSON_CreateArray();
		json_set(config, "Env", env);
	}
	buf_printf(&entry, "%s=%s", name, value);
	for (cJSON *e = env->child; e; e = e->next, i++)
		if (cJSON_IsString(e) && !strncmp(e->valuestring, name, n) &&
		    e->valuestring[n] == '=') {
			cJSON_ReplaceItemInArray(env, i, cJSON_CreateString(buf_str(&entry)));
			return;
		}
	cJSON_AddItemToArray(env, cJSON_CreateString(buf_str(&entry)));
}

/* Variables as a stage's instructions see them: its ENV, then its ARGs. */
static const char *stage_lookup(const char *name, void *ctx)
{
	struct stage *st = ctx;
	const char *v = env_get(json_get(json_obj(st->config, "config"), "Env"), name);

	return v ? v : json_str(st->args, name);
}

static const char *global_lookup(const char *name, void *ctx)
{
	return json_str(ctx, name);
}

static int words(const struct builder *b, const struct df_instr *in, struct stage *st, bool split,
		 char ***ret, size_t *ret_n, struct err *err)
{
	*ret = NULL;
	*ret_n = 0;
	return dockerfile_words(in->args[0], b->df.escape, split, st ? stage_lookup : global_lookup,
				st ? (void *)st : (void *)b->global_args, in->line, ret, ret_n,
				err);
}

/* Expand the variables of one flag value (--chown=$USER). */
static int expand_flag(const struct builder *b, const struct df_instr *in, struct stage *st,
		       const char *v, struct buf *out, struct err *err)
{
	char **w = NULL;
	size_t n = 0;
	int r = dockerfile_words(v, b->df.escape, false, stage_lookup, st, in->line, &w, &n, err);

	if (r == 0 && n)
		buf_puts(out, w[0]);
	dockerfile_words_free(w, n);
	return r;
}

static void stage_release(struct stage *st)
{
	free(st->name);
	cJSON_Delete(st->config);
	cJSON_Delete(st->layers);
	cJSON_Delete(st->args);
	memset(st, 0, sizeof(*st));
}

static void iso_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void history_add(struct stage *st, const struct df_instr *in, bool empty)
{
	cJSON *h = cJSON_GetObjectItemCaseSensitive(st->config, "history");
	cJSON *e = cJSON_CreateObject();
	char when[32];

	if (!cJSON_IsArray(h)) {
		h = cJSON_CreateArray();
		json_set(st->config, "history", h);
	}
	if (st->created) {
		iso_time(st->created, when);
		cJSON_AddStringToObject(e, "created", when);
	}
	cJSON_AddStringToObject(e, "created_by", in->text);
	if (empty)
		cJSON_AddTrueToObject(e, "empty_layer");
	cJSON_AddItemToArray(h, e);
}

/* --- the cache ---------------------------------------------------------- */

static void cache_path(const struct builder *b, const char *key, struct buf *out)
{
	buf_printf(out, "%s/build-cache/%s.json", b->o->data_dir, key + 7);
}

/* The layer of key, when cached and still in the store. */
static bool cache_get(const struct builder *b, const char *key, struct packed_layer *ret,
		      int64_t *ret_created)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT, blob = BUF_INIT;
	_cleanup_json_ cJSON *e = NULL;
	const char *diff_id, *digest;

	if (b->o->no_cache)
		return false;
	cache_path(b, key, &path);
	if (fs_read_file(buf_str(&path), CACHE_ENTRY_MAX, &data) < 0 || !data.data)
		return false;
	e = cJSON_ParseWithLength(data.data, data.len);
	diff_id = json_str(e, "diffId");
	digest = json_str(e, "digest");
	if (!diff_id || !digest || !layer_digest_valid(diff_id) || !layer_digest_valid(digest) ||
	    !layer_exists(b->o->data_dir, diff_id))
		return false;
	images_blob_path(b->o->data_dir, digest, &blob);
	if (access(buf_str(&blob), F_OK) < 0)
		return false;
	snprintf(ret->diff_id, sizeof(ret->diff_id), "%s", diff_id);
	snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
	/* a use: the collector keeps entries used lately (images.h) */
	utimensat(AT_FDCWD, buf_str(&path), NULL, 0);
	ret->size = (uint64_t)json_int(e, "size", 0);
	*ret_created = json_int(e, "created", 0);
	return true;
}

static void cache_put(const struct builder *b, const char *key, const struct packed_layer *l,
		      int64_t created)
{
	_cleanup_buf_ struct buf path = BUF_INIT, dir = BUF_INIT, data = BUF_INIT;

	buf_printf(&dir, "%s/build-cache", b->o->data_dir);
	fs_mkdir_p(buf_str(&dir), 0700);
	cache_path(b, key, &path);
	buf_printf(&data, "{\"diffId\":\"%s\",\"digest\":\"%s\",\"size\":%llu,\"created\":%lld}\n",
		   l->diff_id, l->digest, (unsigned long long)l->size, (long long)created);
	/* a lost entry costs a rebuild, nothing more: no sync */
	fs_write_replace(buf_str(&path), data.data, data.len);
}

/* Add layer l on top of st, as the step of key. */
static void stage_add_layer(struct stage *st, const struct packed_layer *l, const char *key,
			    int64_t created)
{
	cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(st->config, "rootfs");
	cJSON *ids, *d = cJSON_CreateObject();

	if (!cJSON_IsObject(rootfs)) {
		rootfs = cJSON_CreateObject();
		cJSON_AddStringToObject(rootfs, "type", "layers");
		json_set(st->config, "rootfs", rootfs);
	}
	ids = cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids");
	if (!cJSON_IsArray(ids)) {
		ids = cJSON_CreateArray();
		json_set(rootfs, "diff_ids", ids);
	}
	cJSON_AddItemToArray(ids, cJSON_CreateString(l->diff_id));
	cJSON_AddStringToObject(d, "mediaType", PACK_MEDIA_TYPE);
	cJSON_AddStringToObject(d, "digest", l->digest);
	cJSON_AddNumberToObject(d, "size", (double)l->size);
	cJSON_AddItemToArray(st->layers, d);
	snprintf(st->key, sizeof(st->key), "%s", key);
	st->created = created;
}

/* Add the cached layer of key on top of st, when there is one. */
static bool use_cached(struct builder *b, struct stage *st, const char *key)
{
	struct packed_layer l;
	int64_t created;

	if (!cache_get(b, key, &l, &created))
		return false;
	stage_add_layer(st, &l, key, created);
	b->res->cached++;
	say(b, "  cached %s\n", l.diff_id);
	return true;
}

/* The diff_ids of st (borrowed strings), bottom first; *ret_n of them. */
static const char **stage_diff_ids(struct stage *st, size_t *ret_n)
{
	const cJSON *ids = json_arr(json_obj(st->config, "rootfs"), "diff_ids");
	size_t n = (size_t)cJSON_GetArraySize(ids), i = 0;
	const char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		abort();
	for (const cJSON *d = ids ? ids->child : NULL; d; d = d->next)
		if (cJSON_IsString(d))
			v[i++] = d->valuestring;
	*ret_n = i;
	return v;
}

/*
 * The file at rel (no leading '/') as the stage's root shows it: the path
 * in the topmost layer that has it (a whiteout there hides it). False when
 * no layer has it.
 */
static bool stage_find(const struct builder *b, struct stage *st, const char *rel, struct buf *ret)
{
	size_t n;
	_cleanup_free_ const char **ids = stage_diff_ids(st, &n);

	while (n-- > 0) {
		_cleanup_buf_ struct buf path = BUF_INIT;
		struct stat sb;

		if (layer_path(b->o->data_dir, ids[n], &path, NULL) < 0)
			continue;
		buf_printf(&path, "/%s", rel);
		if (lstat(buf_str(&path), &sb) == 0) {
			if (S_ISCHR(sb.st_mode) && sb.st_rdev == 0)
				return false;
			buf_puts(ret, buf_str(&path));
			return true;
		}
	}
	return false;
}

/* --- FROM --------------------------------------------------------------- */

/*
 * A base image pulled without its blobs (by the agent, or `berth image
 * pull`): its layers are packed again from their directories in the layer
 * store, so that what is built on it can be pushed and saved. The files
 * are the same; the layer digests are new (another tar of them). Cached
 * per layer, so this is done once.
 */
static int repack_base(struct builder *b, const struct df_instr *in, struct stage *st,
		       struct err *err)
{
	size_t n;
	_cleanup_free_ const char **ids = stage_diff_ids(st, &n);
	cJSON *rootfs = cJSON_CreateObject(), *new_ids;
	int r = 0;

	say(b, "  repacking the %zu layers of a base image pulled without its blobs\n", n);
	cJSON_AddStringToObject(rootfs, "type", "layers");
	new_ids = cJSON_AddArrayToObject(rootfs, "diff_ids");
	st->layers = cJSON_CreateArray();
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_buf_ struct buf dir = BUF_INIT;
		struct packed_layer l;
		struct hasher h;
		char key[DIGEST_SIZE];
		int64_t created;
		cJSON *d;

		hash_init(&h, "repack");
		hash_str(&h, ids[i]);
		hash_final(&h, key);
		if (!cache_get(b, key, &l, &created)) {
			r = layer_path(b->o->data_dir, ids[i], &dir, err);
			if (r == 0)
				r = pack_layer(b->o->data_dir, buf_str(&dir), PACK_WHITEOUTS, &l,
					       err);
			if (r < 0)
				break;
			cache_put(b, key, &l, now_ms());
		}
		cJSON_AddItemToArray(new_ids, cJSON_CreateString(l.diff_id));
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "mediaType", PACK_MEDIA_TYPE);
		cJSON_AddStringToObject(d, "digest", l.digest);
		cJSON_AddNumberToObject(d, "size", (double)l.size);
		cJSON_AddItemToArray(st->layers, d);
	}
	/* ids borrowed the old rootfs' strings: replaced only now */
	if (r == 0) {
		json_set(st->config, "rootfs", rootfs);
	} else {
		cJSON_Delete(rootfs);
		err_wrap(err, "line %u: repacking the base image", in->line);
	}
	return r;
}

static int from_image(struct builder *b, const struct df_instr *in, const char *ref,
		      struct stage *st, struct err *err)
{
	_cleanup_json_ cJSON *rec = NULL;
	struct image *img = NULL;
	int r;

	r = image_record_get(b->images, ref, &rec, err);
	if (r == -ENOENT) {
		say(b, "  pulling %s\n", ref);
		r = image_pull(b->images, ref, b->o->auth, IMAGE_PULL_ONCE, &img, err);
		image_free(img);
		if (r == 0)
			r = image_record_get(b->images, ref, &rec, err);
	}
	if (r < 0)
		return err_wrap(err, "line %u: FROM %s", in->line, ref);
	/* the record's "config" is the whole config document */
	st->config = cJSON_Duplicate(json_obj(rec, "config"), true);
	if (!st->config)
		st->config = cJSON_CreateObject();
	st->layers = cJSON_Duplicate(json_arr(rec, "layers"), true);
	snprintf(st->key, sizeof(st->key), "%s", json_str(rec, "digest"));
	st->created = 0;
	if (!st->layers)
		return repack_base(b, in, st, err);
	return 0;
}

static int do_from(struct builder *b, const struct df_instr *in, struct err *err)
{
	char **w = NULL;
	size_t n = 0;
	struct stage *st;
	int r;

	if (b->n_stages == MAX_STAGES)
		return err_set(err, -E2BIG, E_INVALID_PARAMETER, "line %u: more than %d stages",
			       in->line, MAX_STAGES);
	r = words(b, in, NULL, true, &w, &n, err);
	if (r < 0)
		goto out;
	st = &b->stages[b->n_stages];
	memset(st, 0, sizeof(*st));
	if (n == 3) {
		for (char *p = w[2]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		for (size_t i = 0; i < b->n_stages; i++)
			if (b->stages[i].name && !strcmp(b->stages[i].name, w[2])) {
				r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
					    "line %u: a stage named '%s' exists already", in->line,
					    w[2]);
				goto out;
			}
		st->name = strdup(w[2]);
	}
	if (in->from && strcmp(in->from, "linux/amd64") && strcmp(in->from, "$BUILDPLATFORM") &&
	    strcmp(in->from, "$TARGETPLATFORM")) {
		const char *variant, *arch = pull_machine_arch(&variant);
		char want[64];

		snprintf(want, sizeof(want), "linux/%s", arch);
		if (strcmp(in->from, want)) {
			r = err_set(err, -ENOTSUP, E_INVALID_PARAMETER,
				    "line %u: --platform=%s: berth builds for this machine's "
				    "platform only (%s)",
				    in->line, in->from, want);
			goto out;
		}
	}
	st->args = cJSON_CreateObject();
	if (!strcmp(w[0], "scratch")) {
		st->config = cJSON_CreateObject();
		st->layers = cJSON_CreateArray();
		snprintf(st->key, sizeof(st->key), "%s", "scratch");
	} else {
		struct stage *prev = NULL;
		char lower[256];

		snprintf(lower, sizeof(lower), "%s", w[0]);
		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		for (size_t i = 0; i < b->n_stages; i++)
			if (b->stages[i].name && !strcmp(b->stages[i].name, lower))
				prev = &b->stages[i];
		if (prev) {
			st->config = cJSON_Duplicate(prev->config, true);
			st->layers = cJSON_Duplicate(prev->layers, true);
			snprintf(st->key, sizeof(st->key), "%s", prev->key);
			st->created = prev->created;
		} else {
			r = from_image(b, in, w[0], st, err);
			if (r < 0) {
				stage_release(st);
				goto out;
			}
		}
	}
	/* what every image config has */
	{
		const char *variant, *arch = pull_machine_arch(&variant);

		json_set_str(st->config, "architecture", arch);
	}
	json_set_str(st->config, "os", "linux");
	config_obj(st);
	b->n_stages++;
	say(b, "  from %s\n", w[0]);
out:
	dockerfile_words_free(w, n);
	return r;
}

/* --- ARG, ENV and the other settings ------------------------------------ */

static int do_arg(struct builder *b, const struct df_instr *in, struct stage *st, struct err *err)
{
	char **w = NULL;
	size_t n = 0;
	int r = words(b, in, st, true, &w, &n, err);
	char *eq;
	const char *given;
	cJSON *args = st ? st->args : b->global_args;

	if (r < 0)
		return r;
	eq = strchr(w[0], '=');
	if (eq)
		*eq++ = 0;
	given = json_str(b->build_args, w[0]);
	if (!given && !eq && st)
		given = json_str(b->global_args, w[0]); /* re-declared global ARG */
	if (given)
		json_set_str(args, w[0], given);
	else if (eq)
		json_set_str(args, w[0], eq);
	dockerfile_words_free(w, n);
	return 0;
}

static int do_env_label(struct builder *b, const struct df_instr *in, struct stage *st,
			struct err *err)
{
	cJSON *config = config_obj(st), *labels;
	char **w = NULL;
	size_t n = 0;
	int r;

	if (in->kind == DF_ENV && dockerfile_env_legacy(in->args[0])) {
		size_t nl = strcspn(in->args[0], " \t");
		_cleanup_free_ char *name = strndup(in->args[0], nl);
		const char *rest = in->args[0] + nl;

		if (!name)
			abort();
		r = dockerfile_words(rest, b->df.escape, false, stage_lookup, st, in->line, &w, &n,
				     err);
		if (r == 0)
			env_put(config, name, n ? w[0] : "");
		dockerfile_words_free(w, n);
		return r;
	}
	r = words(b, in, st, true, &w, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char *eq = strchr(w[i], '=');

		*eq++ = 0;
		if (in->kind == DF_ENV) {
			env_put(config, w[i], eq);
			continue;
		}
		labels = cJSON_GetObjectItemCaseSensitive(config, "Labels");
		if (!cJSON_IsObject(labels)) {
			labels = cJSON_CreateObject();
			json_set(config, "Labels", labels);
		}
		json_set_str(labels, w[i], eq);
	}
	dockerfile_words_free(w, n);
	return r;
}

static int do_expose(struct builder *b, const struct df_instr *in, struct stage *st,
		     struct err *err)
{
	cJSON *config = config_obj(st), *ports;
	char **w = NULL;
	size_t n = 0;
	int r = words(b, in, st, true, &w, &n, err);

	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_buf_ struct buf key = BUF_INIT;
		char *proto = strchr(w[i], '/');
		int64_t port;

		if (proto)
			*proto++ = 0;
		if (parse_int64(w[i], 1, 65535, &port) < 0 ||
		    (proto && strcasecmp(proto, "tcp") && strcasecmp(proto, "udp") &&
		     strcasecmp(proto, "sctp"))) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: EXPOSE %s%s%s: expected PORT[/tcp|udp|sctp]",
				    in->line, w[i], proto ? "/" : "", proto ? proto : "");
			break;
		}
		buf_printf(&key, "%lld/%s", (long long)port, proto ? proto : "tcp");
		for (char *p = key.data; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		ports = cJSON_GetObjectItemCaseSensitive(config, "ExposedPorts");
		if (!cJSON_IsObject(ports)) {
			ports = cJSON_CreateObject();
			json_set(config, "ExposedPorts", ports);
		}
		json_set(ports, buf_str(&key), cJSON_CreateObject());
	}
	dockerfile_words_free(w, n);
	return r;
}

static void set_command(struct stage *st, const struct df_instr *in)
{
	cJSON *config = config_obj(st), *a = cJSON_CreateArray();

	if (in->json) {
		for (size_t i = 0; i < in->n_args; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(in->args[i]));
	} else {
		cJSON_AddItemToArray(a, cJSON_CreateString("/bin/sh"));
		cJSON_AddItemToArray(a, cJSON_CreateString("-c"));
		cJSON_AddItemToArray(a, cJSON_CreateString(in->args[0]));
	}
	json_set(config, in->kind == DF_CMD ? "Cmd" : "Entrypoint", a);
	/* as Docker: a new ENTRYPOINT drops the CMD inherited so far */
	if (in->kind == DF_ENTRYPOINT)
		cJSON_DeleteItemFromObjectCaseSensitive(config, "Cmd");
}

/* An absolute, cleaned path: p made absolute against cwd, "." and ".." resolved lexically. */
static void clean_path(const char *cwd, const char *p, struct buf *out)
{
	_cleanup_buf_ struct buf in = BUF_INIT;
	const char *s;

	if (p[0] != '/')
		buf_printf(&in, "%s/%s", cwd && *cwd ? cwd : "/", p);
	else
		buf_puts(&in, p);
	buf_reset(out);
	s = buf_str(&in);
	while (*s) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (n == 0)
			break;
		if (n == 1 && s[0] == '.') {
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			char *slash = out->len ? strrchr(out->data, '/') : NULL;

			if (slash) {
				out->len = (size_t)(slash - out->data);
				out->data[out->len] = 0;
			}
		} else {
			buf_putc(out, '/');
			buf_append(out, s, n);
		}
		s += n;
	}
	if (!out->len)
		buf_putc(out, '/');
}

static int do_workdir_user(struct builder *b, const struct df_instr *in, struct stage *st,
			   struct err *err)
{
	cJSON *config = config_obj(st);
	char **w = NULL;
	size_t n = 0;
	int r = words(b, in, st, in->kind == DF_USER, &w, &n, err);

	if (r == 0 && in->kind == DF_USER) {
		json_set_str(config, "User", w[0]);
	} else if (r == 0) {
		_cleanup_buf_ struct buf path = BUF_INIT;

		clean_path(json_str(config, "WorkingDir"), w[0], &path);
		json_set_str(config, "WorkingDir", buf_str(&path));
	}
	dockerfile_words_free(w, n);
	return r;
}

/* --- users and groups for --chown --------------------------------------- */

/* The id of name in an /etc/passwd- or /etc/group-like file of the stage; -1 when absent. */
static long id_in_file(const struct builder *b, struct stage *st, const char *file,
		       const char *name, long *ret_gid)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	const char *p;
	size_t n = strlen(name);

	if (!stage_find(b, st, file, &path) ||
	    fs_read_file(buf_str(&path), PASSWD_MAX, &data) < 0 || !data.data)
		return -1;
	for (p = data.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *f2, *f3;

		if (strncmp(p, name, n) || p[n] != ':')
			continue;
		f2 = strchr(p + n + 1, ':');
		if (!f2)
			return -1;
		if (ret_gid) {
			f3 = strchr(f2 + 1, ':');
			*ret_gid = f3 ? strtol(f3 + 1, NULL, 10) : -1;
		}
		return strtol(f2 + 1, NULL, 10);
	}
	return -1;
}

static int resolve_chown(const struct builder *b, const struct df_instr *in, struct stage *st,
			 const char *spec, uid_t *ret_uid, gid_t *ret_gid, struct err *err)
{
	_cleanup_free_ char *user = strdup(spec);
	char *group = strchr(user, ':');
	int64_t v;
	long gid = -1, id;

	if (!user)
		abort();
	if (group)
		*group++ = 0;
	if (parse_int64(user, 0, UINT32_MAX - 1, &v) == 0) {
		*ret_uid = (uid_t)v;
		gid = (long)v;
	} else {
		id = id_in_file(b, st, "etc/passwd", user, &gid);
		if (id < 0)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: --chown=%s: no user '%s' in the image's "
				       "/etc/passwd",
				       in->line, spec, user);
		*ret_uid = (uid_t)id;
	}
	if (group && parse_int64(group, 0, UINT32_MAX - 1, &v) == 0) {
		gid = (long)v;
	} else if (group) {
		gid = id_in_file(b, st, "etc/group", group, NULL);
		if (gid < 0)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "line %u: --chown=%s: no group '%s' in the image's "
				       "/etc/group",
				       in->line, spec, group);
	}
	*ret_gid = gid < 0 ? 0 : (gid_t)gid;
	return 0;
}

/* --- the context: .dockerignore, sources -------------------------------- */

static void load_ignore(struct builder *b)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	char *line, *save = NULL;

	buf_printf(&path, "%s/.dockerignore", b->o->context);
	if (fs_read_file(buf_str(&path), IGNORE_MAX_BYTES, &data) < 0 || !data.data)
		return;
	for (line = strtok_r(data.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		_cleanup_buf_ struct buf clean = BUF_INIT;
		char *s = line, *e = line + strlen(line);
		bool neg;

		while (*s == ' ' || *s == '\t')
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = 0;
		if (!*s || *s == '#')
			continue;
		neg = *s == '!';
		if (neg)
			s++;
		clean_path("/", s, &clean);
		b->ignore = realloc(b->ignore, (b->n_ignore + 1) * sizeof(char *));
		if (!b->ignore)
			abort();
		/* stored as "!pattern" or "pattern", relative (no leading '/') */
		buf_reset(&path);
		buf_printf(&path, "%s%s", neg ? "!" : "", buf_str(&clean) + 1);
		b->ignore[b->n_ignore++] = buf_detach(&path, NULL);
	}
}

/* Whether rel (relative to the context) is excluded by .dockerignore. */
static bool ignored(const struct builder *b, const char *rel)
{
	bool out = false;

	for (size_t i = 0; i < b->n_ignore; i++) {
		const char *p = b->ignore[i];
		bool neg = *p == '!';
		_cleanup_buf_ struct buf prefix = BUF_INIT;
		bool match = false;

		if (neg)
			p++;
		/* a pattern matches the path or any directory above it */
		buf_puts(&prefix, rel);
		for (;;) {
			if (fnmatch(p, buf_str(&prefix), FNM_PATHNAME) == 0) {
				match = true;
				break;
			}
			char *slash = strrchr(prefix.data, '/');

			if (!slash)
				break;
			*slash = 0;
			prefix.len = (size_t)(slash - prefix.data);
		}
		if (match)
			out = !neg;
	}
	return out;
}

/* One file of a COPY: src (host path), rel its path under the source's root (for .dockerignore). */
typedef int (*visit_fn)(const char *src, const char *rel_src, const char *rel_dst,
			const struct stat *sb, void *ctx);

/*
 * Visit src and, when it is a directory, everything under it (sorted),
 * skipping what .dockerignore excludes (when check_ignore). rel_dst is
 * where each lands relative to the copy's destination. post (may be NULL)
 * is called for a directory once its entries were visited.
 */
static int visit(const struct builder *b, const char *src, const char *rel_src, const char *rel_dst,
		 bool check_ignore, visit_fn fn, visit_fn post, void *ctx, struct err *err)
{
	struct stat sb;
	struct dirent **names = NULL;
	int n, r;

	if (check_ignore && rel_src[0] && ignored(b, rel_src))
		return 0;
	if (lstat(src, &sb) < 0)
		return err_set(err, -errno, E_INVALID_PARAMETER, "%s: %s", rel_src,
			       strerror(errno));
	r = fn(src, rel_src, rel_dst, &sb, ctx);
	if (r < 0 || !S_ISDIR(sb.st_mode))
		return r;
	n = scandir(src, &names, NULL, alphasort);
	if (n < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", rel_src, strerror(errno));
	for (int i = 0; i < n; i++) {
		_cleanup_buf_ struct buf s = BUF_INIT, rs = BUF_INIT, rd = BUF_INIT;

		if (r == 0 && strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
			buf_printf(&s, "%s/%s", src, names[i]->d_name);
			buf_printf(&rs, "%s%s%s", rel_src, rel_src[0] ? "/" : "", names[i]->d_name);
			buf_printf(&rd, "%s%s%s", rel_dst, rel_dst[0] ? "/" : "", names[i]->d_name);
			r = visit(b, buf_str(&s), buf_str(&rs), buf_str(&rd), check_ignore, fn,
				  post, ctx, err);
		}
		free(names[i]);
	}
	free(names);
	if (r == 0 && post)
		r = post(src, rel_src, rel_dst, &sb, ctx);
	return r;
}

struct hash_ctx {
	struct hasher *h;
	struct err *err;
};

static int hash_one(const char *src, const char *rel_src, const char *rel_dst,
		    const struct stat *sb, void *ctx)
{
	struct hash_ctx *c = ctx;
	char meta[64];

	(void)rel_src;
	hash_str(c->h, rel_dst);
	snprintf(meta, sizeof(meta), "%o", (unsigned)sb->st_mode);
	hash_str(c->h, meta);
	if (S_ISLNK(sb->st_mode)) {
		char target[4096];
		ssize_t n = readlink(src, target, sizeof(target) - 1);

		target[n < 0 ? 0 : n] = 0;
		hash_str(c->h, target);
	} else if (S_ISREG(sb->st_mode)) {
		char chunk[65536];
		ssize_t n;
		int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0)
			return err_set(c->err, -errno, E_INVALID_PARAMETER, "%s: %s", rel_src,
				       strerror(errno));
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			EVP_DigestUpdate(c->h->md, chunk, (size_t)n);
		close(fd);
		/* the mtime is part of the layer (pack.h): a touched file is a new layer */
		snprintf(meta, sizeof(meta), "%lld", (long long)sb->st_mtim.tv_sec);
		hash_str(c->h, meta);
	}
	return 0;
}

struct copy_ctx {
	const char *dst_root; /* staging/dest */
	uid_t uid;
	gid_t gid;
	long chmod; /* -1: keep */
	struct err *err;
};

static int copy_data(int in, int out)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(in, chunk, sizeof(chunk))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, chunk + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			off += w;
		}
	}
	return n < 0 ? -errno : 0;
}

static int copy_one(const char *src, const char *rel_src, const char *rel_dst,
		    const struct stat *sb, void *ctx)
{
	struct copy_ctx *c = ctx;
	_cleanup_buf_ struct buf dst = BUF_INIT;
	mode_t mode = c->chmod >= 0 ? (mode_t)c->chmod : (sb->st_mode & 07777);
	struct timespec times[2] = { sb->st_mtim, sb->st_mtim };
	int r = 0;

	buf_printf(&dst, "%s%s%s", c->dst_root, rel_dst[0] ? "/" : "", rel_dst);
	if (S_ISDIR(sb->st_mode)) {
		if (mkdir(buf_str(&dst), 0700) < 0 && errno != EEXIST)
			r = -errno;
	} else if (S_ISREG(sb->st_mode)) {
		int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out;

		if (in < 0)
			return err_set(c->err, -errno, E_INVALID_PARAMETER, "%s: %s", rel_src,
				       strerror(errno));
		unlink(buf_str(&dst));
		out = open(buf_str(&dst), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0) {
			r = -errno;
		} else {
			r = copy_data(in, out);
			close(out);
		}
		close(in);
	} else if (S_ISLNK(sb->st_mode)) {
		char target[4096];
		ssize_t n = readlink(src, target, sizeof(target) - 1);

		if (n < 0)
			return err_set(c->err, -errno, E_SERVER, "%s: %s", rel_src,
				       strerror(errno));
		target[n] = 0;
		unlink(buf_str(&dst));
		if (symlink(target, buf_str(&dst)) < 0)
			r = -errno;
		mode = 0;
	} else {
		return 0; /* devices, fifos, sockets of a context are not copied */
	}
	if (r == 0 && lchown(buf_str(&dst), c->uid, c->gid) < 0)
		r = -errno;
	if (r == 0 && mode && chmod(buf_str(&dst), mode) < 0)
		r = -errno;
	if (r == 0)
		utimensat(AT_FDCWD, buf_str(&dst), times, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return err_set(c->err, r, E_SERVER, "copying %s: %s", rel_src, strerror(-r));
	return 0;
}

/* A copied directory's mtime, set again once its entries are in. */
static int copy_times(const char *src, const char *rel_src, const char *rel_dst,
		      const struct stat *sb, void *ctx)
{
	struct copy_ctx *c = ctx;
	_cleanup_buf_ struct buf dst = BUF_INIT;
	struct timespec times[2] = { sb->st_mtim, sb->st_mtim };

	(void)src;
	(void)rel_src;
	buf_printf(&dst, "%s%s%s", c->dst_root, rel_dst[0] ? "/" : "", rel_dst);
	utimensat(AT_FDCWD, buf_str(&dst), times, AT_SYMLINK_NOFOLLOW);
	return 0;
}

/*
 * The directories a COPY created above what it copied get a fixed mtime
 * (0, the epoch), so that the same sources give the same layer.
 */
static void settle_parents(const char *staging, const char *dst)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	const struct timespec zero[2] = { { 0, 0 }, { 0, 0 } };

	buf_puts(&path, dst);
	while (path.len > 1) {
		_cleanup_buf_ struct buf full = BUF_INIT;
		char *slash = strrchr(path.data, '/');
		struct stat sb;

		buf_printf(&full, "%s%s", staging, buf_str(&path));
		if (lstat(buf_str(&full), &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_mtim.tv_sec > 0)
			utimensat(AT_FDCWD, buf_str(&full), zero, AT_SYMLINK_NOFOLLOW);
		if (!slash)
			break;
		*slash = 0;
		path.len = (size_t)(slash - path.data);
	}
	utimensat(AT_FDCWD, staging, zero, 0);
}

/*
 * Create the directories of dst (absolute in the image) under staging,
 * 0755 and root's; with last_too its last component too, owned by
 * uid:gid (a COPY --chown's destination directory, as Docker does).
 */
static int make_parents(const char *staging, const char *dst, uid_t uid, gid_t gid, bool last_too,
			struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	const char *s = dst;

	buf_puts(&path, staging);
	for (;;) {
		size_t n;
		bool last;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (!n)
			break;
		last = !s[n + strspn(s + n, "/")];
		if (last && !last_too)
			break;
		buf_putc(&path, '/');
		buf_append(&path, s, n);
		s += n;
		if (mkdir(buf_str(&path), 0755) < 0 && errno != EEXIST)
			return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path),
				       strerror(errno));
		if (last && lchown(buf_str(&path), uid, gid) < 0)
			return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&path),
				       strerror(errno));
	}
	return 0;
}

/* --- layers from a directory --------------------------------------------- */

static int scratch_dir(const struct builder *b, struct buf *ret, struct err *err)
{
	_cleanup_buf_ struct buf base = BUF_INIT;
	char rnd[17];
	int r;

	buf_printf(&base, "%s/build", b->o->data_dir);
	r = fs_mkdir_p(buf_str(&base), 0700);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&base), strerror(-r));
	random_hex(rnd, 8);
	buf_printf(ret, "%s/tmp-%s", buf_str(&base), rnd);
	if (mkdir(buf_str(ret), 0755) < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", buf_str(ret), strerror(errno));
	return 0;
}

/* Pack dir as the step of key on top of st. */
static int commit_layer(struct builder *b, struct stage *st, const char *dir, unsigned flags,
			const char *key, struct err *err)
{
	struct packed_layer l;
	int64_t created = now_ms();
	int r = pack_layer(b->o->data_dir, dir, flags, &l, err);

	if (r < 0)
		return r;
	cache_put(b, key, &l, created);
	stage_add_layer(st, &l, key, created);
	b->res->built++;
	return 0;
}

/* --- COPY and ADD --------------------------------------------------------- */

/* A source of a COPY --from: the other stage's root, mounted read-only for the copy. */
struct from_root {
	struct buf dir;	 /* a scratch directory: the overlay's container directory */
	struct buf root; /* DIR/rootfs: the stage's root */
	bool mounted;
};

static int mount_stage(const struct builder *b, struct stage *src, struct from_root *fr,
		       struct err *err)
{
	size_t n;
	_cleanup_free_ const char **ids = stage_diff_ids(src, &n);
	int r = scratch_dir(b, &fr->dir, err);

	if (r < 0)
		return r;
	buf_printf(&fr->root, "%s/rootfs", buf_str(&fr->dir));
	if (n == 0)
		return mkdir(buf_str(&fr->root), 0755) < 0
			       ? err_set(err, -errno, E_SERVER, "%s: %s", buf_str(&fr->root),
					 strerror(errno))
			       : 0;
	r = rootfs_mount(buf_str(&fr->dir), b->o->data_dir, ids, n, err);
	if (r == 0)
		fr->mounted = true;
	return r;
}

static void unmount_stage(struct from_root *fr)
{
	struct err ignored = ERR_INIT;

	if (fr->mounted)
		rootfs_unmount(buf_str(&fr->dir), &ignored);
	if (fr->dir.len)
		fs_remove_tree(buf_str(&fr->dir));
	buf_release(&fr->dir);
	buf_release(&fr->root);
}

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || !strncmp(s, "git@", 4);
}

/* Whether path is a tar (any compression libarchive reads). */
static bool is_archive(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	bool yes;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	yes = archive_read_open_filename(a, path, 65536) == ARCHIVE_OK &&
	      archive_read_next_header(a, &e) == ARCHIVE_OK;
	archive_read_free(a);
	return yes;
}

/* ADD of a local tar: extracted into dst (safely: no "..", no absolute paths, no symlinks followed). */
static int extract_tar(const char *path, const char *dst, const char *rel, uid_t uid, gid_t gid,
		       bool chown_given, struct err *err)
{
	struct archive *a = archive_read_new(), *w = archive_write_disk_new();
	struct archive_entry *e;
	int r = 0, ar;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	/* names are made relative below, then put under dst (an absolute path of ours) */
	archive_write_disk_set_options(
		w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_OWNER |
			   ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "%s: %s", rel,
			    archive_error_string(a) ?: "not a tar");
		goto out;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		_cleanup_buf_ struct buf name = BUF_INIT;
		const char *hl = archive_entry_hardlink(e);

		const char *p = archive_entry_pathname(e);

		while (p && (*p == '/' || (p[0] == '.' && p[1] == '/')))
			p += *p == '/' ? 1 : 2;
		if (!p || !*p || !strcmp(p, "."))
			continue; /* the archive's root: dst itself */
		buf_printf(&name, "%s/%s", dst, p);
		archive_entry_copy_pathname(e, buf_str(&name));
		if (hl) {
			_cleanup_buf_ struct buf l = BUF_INIT;

			while (*hl == '/' || (hl[0] == '.' && hl[1] == '/'))
				hl += *hl == '/' ? 1 : 2;
			buf_printf(&l, "%s/%s", dst, hl);
			archive_entry_copy_hardlink(e, buf_str(&l));
		}
		if (chown_given) {
			archive_entry_set_uid(e, uid);
			archive_entry_set_gid(e, gid);
		}
		if (archive_write_header(w, e) != ARCHIVE_OK) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "%s: %s", rel,
				    archive_error_string(w) ?: "cannot extract");
			goto out;
		}
		for (;;) {
			const void *buf;
			size_t size;
			la_int64_t off;

			ar = archive_read_data_block(a, &buf, &size, &off);
			if (ar == ARCHIVE_EOF)
				break;
			if (ar != ARCHIVE_OK ||
			    archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
				r = err_set(err, -EIO, E_INVALID_PARAMETER, "%s: %s", rel,
					    archive_error_string(a) ?: "cannot extract");
				goto out;
			}
		}
		archive_write_finish_entry(w);
	}
	if (ar != ARCHIVE_EOF)
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "%s: %s", rel,
			    archive_error_string(a) ?: "a broken tar");
out:
	archive_read_free(a);
	archive_write_free(w);
	return r;
}

/* One source of a COPY, resolved: host path and its path relative to its root. */
struct source {
	char *path;
	char *rel;
};

/* Start a COPY's or ADD's key: what came before, the instruction, its destination and owner. */
static void hash_copy_head(struct hasher *h, const struct stage *st, const struct df_instr *in,
			   const char *dest, const char *dest_as_written, uid_t uid, gid_t gid,
			   long mode)
{
	char ids[64];

	hash_init(h, st->key);
	hash_str(h, dockerfile_kind_name(in->kind));
	hash_str(h, dest);
	/* "/x/" and "/x" differ: a file copied into the directory or as the file */
	hash_str(h, dest_as_written[strlen(dest_as_written) - 1] == '/' ? "dir" : "as-is");
	snprintf(ids, sizeof(ids), "%u:%u:%lo", (unsigned)uid, (unsigned)gid, mode);
	hash_str(h, ids);
}

static int do_copy(struct builder *b, const struct df_instr *in, struct stage *st, struct err *err)
{
	struct stage *src_stage = NULL, from_stage = { 0 };
	struct from_root fr = { BUF_INIT, BUF_INIT, false };
	_cleanup_buf_ struct buf root = BUF_INIT, dest = BUF_INIT, staging = BUF_INIT,
				 chown = BUF_INIT;
	char **w = NULL;
	size_t n = 0, n_src = 0;
	struct source *srcs = NULL;
	struct hasher h;
	char key[DIGEST_SIZE];
	uid_t uid = 0;
	gid_t gid = 0;
	long mode = -1;
	bool dir_dest;
	int r;

	if (in->json) {
		w = calloc(in->n_args, sizeof(char *));
		if (!w)
			abort();
		for (size_t i = 0; i < in->n_args; i++) {
			char **one = NULL;
			size_t k = 0;

			r = dockerfile_words(in->args[i], b->df.escape, false, stage_lookup, st,
					     in->line, &one, &k, err);
			if (r < 0) {
				dockerfile_words_free(one, k);
				goto out;
			}
			w[n++] = k ? one[0] : strdup("");
			for (size_t j = 1; j < k; j++)
				free(one[j]);
			free(one);
		}
	} else {
		r = words(b, in, st, true, &w, &n, err);
		if (r < 0)
			goto out;
	}
	if (in->chmod) {
		char *end;

		mode = strtol(in->chmod, &end, 8);
		if (*end || mode < 0 || mode > 07777) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: --chmod=%s: expected an octal mode", in->line,
				    in->chmod);
			goto out;
		}
	}
	if (in->chown) {
		r = expand_flag(b, in, st, in->chown, &chown, err);
		if (r == 0)
			r = resolve_chown(b, in, st, buf_str(&chown), &uid, &gid, err);
		if (r < 0)
			goto out;
	}
	/* where the sources come from: an earlier stage, or an image */
	if (in->from) {
		_cleanup_buf_ struct buf name = BUF_INIT, lower = BUF_INIT;
		int64_t idx;

		r = expand_flag(b, in, st, in->from, &name, err);
		if (r < 0)
			goto out;
		buf_puts(&lower, buf_str(&name));
		for (char *p = lower.data; p && *p; p++)
			*p = (char)tolower((unsigned char)*p);
		for (size_t i = 0; i + 1 < b->n_stages; i++)
			if (b->stages[i].name && !strcmp(b->stages[i].name, buf_str(&lower)))
				src_stage = &b->stages[i];
		if (!src_stage &&
		    parse_int64(buf_str(&lower), 0, (int64_t)b->n_stages - 2, &idx) == 0)
			src_stage = &b->stages[idx];
		/* a name with a '/' or ':' is an image (pulled when missing), not a typo */
		if (!src_stage && strpbrk(buf_str(&name), "/:")) {
			from_stage.args = cJSON_CreateObject();
			r = from_image(b, in, buf_str(&name), &from_stage, err);
			if (r < 0)
				goto out;
			src_stage = &from_stage;
		}
		if (!src_stage) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: --from=%s: no earlier stage has that name (an image "
				    "is named with its repository: --from=busybox:latest)",
				    in->line, in->from);
			goto out;
		}
		if (in->kind == DF_ADD) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "line %u: ADD takes no --from (use COPY)", in->line);
			goto out;
		}
	}
	/* the destination */
	if (!w[n - 1][0]) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "line %u: an empty destination",
			    in->line);
		goto out;
	}
	clean_path(json_str(config_obj(st), "WorkingDir"), w[n - 1], &dest);
	dir_dest = w[n - 1][strlen(w[n - 1]) - 1] == '/' || n > 2;

	/*
	 * From a stage: its key says all about its files, so the step's key
	 * needs neither its root mounted nor its files read.
	 */
	if (src_stage) {
		hash_copy_head(&h, st, in, buf_str(&dest), w[n - 1], uid, gid, mode);
		hash_str(&h, src_stage->key);
		for (size_t i = 0; i + 1 < n; i++)
			hash_str(&h, w[i]);
		hash_final(&h, key);
		if (use_cached(b, st, key)) {
			r = 0;
			goto out;
		}
	}

	/* the sources: globs under their root, none outside it */
	for (size_t i = 0; i + 1 < n; i++) {
		_cleanup_buf_ struct buf rel = BUF_INIT, pattern = BUF_INIT;
		glob_t g;
		int gr;

		if (is_url(w[i])) {
			r = err_set(err, -ENOTSUP, E_INVALID_PARAMETER,
				    "line %u: %s of a URL (%s) is not supported: download it "
				    "before the build and COPY it",
				    in->line, dockerfile_kind_name(in->kind), w[i]);
			goto out;
		}
		clean_path("/", w[i], &rel);
		if (src_stage && !fr.root.len) {
			r = mount_stage(b, src_stage, &fr, err);
			if (r < 0)
				goto out;
		}
		buf_puts(&root, src_stage ? buf_str(&fr.root) : b->o->context);
		buf_printf(&pattern, "%s%s", buf_str(&root),
			   strcmp(buf_str(&rel), "/") ? buf_str(&rel) : "");
		gr = glob(buf_str(&pattern), GLOB_NOSORT | GLOB_NOCHECK, NULL, &g);
		if (gr != 0) {
			r = err_set(err, -ENOENT, E_INVALID_PARAMETER, "line %u: %s: no such file",
				    in->line, w[i]);
			goto out;
		}
		if (g.gl_pathc)
			qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), str_cmp);
		for (size_t j = 0; j < g.gl_pathc; j++) {
			struct stat sb;
			const char *relp = g.gl_pathv[j] + root.len;

			while (*relp == '/')
				relp++;
			if (lstat(g.gl_pathv[j], &sb) < 0 ||
			    (!src_stage && ignored(b, relp) && *relp)) {
				globfree(&g);
				r = err_set(err, -ENOENT, E_INVALID_PARAMETER,
					    "line %u: %s: no such file in the %s", in->line, w[i],
					    src_stage ? "stage" : "build context");
				goto out;
			}
			srcs = realloc(srcs, (n_src + 1) * sizeof(*srcs));
			if (!srcs)
				abort();
			srcs[n_src].path = strdup(g.gl_pathv[j]);
			srcs[n_src].rel = strdup(relp);
			n_src++;
		}
		globfree(&g);
		buf_reset(&root);
	}
	if (n_src > 1)
		dir_dest = true;
	if (n_src > 1 && w[n - 1][strlen(w[n - 1]) - 1] != '/') {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "line %u: with several sources the destination must end with '/' "
			    "(%s)",
			    in->line, w[n - 1]);
		goto out;
	}

	/* from the context: the key has the content of the sources */
	if (!src_stage) {
		hash_copy_head(&h, st, in, buf_str(&dest), w[n - 1], uid, gid, mode);
		for (size_t i = 0; i < n_src; i++) {
			struct hash_ctx hc = { &h, err };
			const char *base = strrchr(srcs[i].path, '/');

			hash_str(&h, srcs[i].rel);
			r = visit(b, srcs[i].path, srcs[i].rel, base ? base + 1 : srcs[i].path,
				  true, hash_one, NULL, &hc, err);
			if (r < 0) {
				hash_final(&h, key);
				err_wrap(err, "line %u", in->line);
				goto out;
			}
		}
		hash_final(&h, key);
		if (use_cached(b, st, key)) {
			r = 0;
			goto out;
		}
	}

	/* stage the files as the image will have them, then pack them */
	r = scratch_dir(b, &staging, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_src; i++) {
		struct stat sb;
		_cleanup_buf_ struct buf target = BUF_INIT, rel_target = BUF_INIT;
		struct copy_ctx cc = { .uid = uid, .gid = gid, .chmod = mode, .err = err };
		const char *base = strrchr(srcs[i].path, '/');

		base = base ? base + 1 : srcs[i].path;
		if (lstat(srcs[i].path, &sb) < 0) {
			r = err_set(err, -errno, E_INVALID_PARAMETER, "line %u: %s: %s", in->line,
				    srcs[i].rel, strerror(errno));
			goto out;
		}
		if (S_ISDIR(sb.st_mode) || dir_dest) {
			/* into the destination directory */
			r = make_parents(buf_str(&staging), buf_str(&dest), uid, gid, true, err);
			buf_printf(&target, "%s%s", buf_str(&staging),
				   strcmp(buf_str(&dest), "/") ? buf_str(&dest) : "");
		} else {
			r = make_parents(buf_str(&staging), buf_str(&dest), uid, gid, false, err);
			buf_printf(&target, "%s%s", buf_str(&staging), buf_str(&dest));
		}
		if (r < 0)
			goto out;
		if (in->kind == DF_ADD && S_ISREG(sb.st_mode) && is_archive(srcs[i].path)) {
			r = extract_tar(srcs[i].path, buf_str(&target), srcs[i].rel, uid, gid,
					in->chown != NULL, err);
			if (r < 0) {
				err_wrap(err, "line %u: ADD", in->line);
				goto out;
			}
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			/* a directory's contents, not the directory itself */
			cc.dst_root = buf_str(&target);
			r = visit(b, srcs[i].path, srcs[i].rel, "", !src_stage, copy_one,
				  copy_times, &cc, err);
		} else if (dir_dest) {
			cc.dst_root = buf_str(&target);
			r = copy_one(srcs[i].path, srcs[i].rel, base, &sb, &cc);
		} else {
			char *slash = strrchr(target.data, '/');

			*slash = 0;
			cc.dst_root = buf_str(&target);
			buf_printf(&rel_target, "%s", slash + 1);
			r = copy_one(srcs[i].path, srcs[i].rel, buf_str(&rel_target), &sb, &cc);
		}
		if (r < 0) {
			err_wrap(err, "line %u", in->line);
			goto out;
		}
	}
	/* the destination and its parents: a fixed mtime, for a reproducible layer */
	settle_parents(buf_str(&staging), buf_str(&dest));
	r = commit_layer(b, st, buf_str(&staging), 0, key, err);
out:
	if (staging.len)
		fs_remove_tree(buf_str(&staging));
	unmount_stage(&fr);
	stage_release(&from_stage);
	for (size_t i = 0; i < n_src; i++) {
		free(srcs[i].path);
		free(srcs[i].rel);
	}
	free(srcs);
	dockerfile_words_free(w, n);
	return r;
}

/* --- WORKDIR's directory ------------------------------------------------- */

/* WORKDIR creates its directory when the image does not have it, as a layer of its own. */
static int make_workdir(struct builder *b, const struct df_instr *in, struct stage *st,
			struct err *err)
{
	const char *wd = json_str(config_obj(st), "WorkingDir");
	_cleanup_buf_ struct buf found = BUF_INIT, staging = BUF_INIT;
	struct hasher h;
	char key[DIGEST_SIZE];
	int r;

	if (!wd || !strcmp(wd, "/") || stage_find(b, st, wd + 1, &found))
		return 0;
	hash_init(&h, st->key);
	hash_str(&h, "WORKDIR");
	hash_str(&h, wd);
	hash_final(&h, key);
	if (use_cached(b, st, key)) {
		return 0;
	}
	r = scratch_dir(b, &staging, err);
	if (r == 0)
		r = make_parents(buf_str(&staging), wd, 0, 0, true, err);
	if (r == 0) {
		settle_parents(buf_str(&staging), wd);
		r = commit_layer(b, st, buf_str(&staging), 0, key, err);
	}
	(void)in;
	if (staging.len)
		fs_remove_tree(buf_str(&staging));
	return r;
}

/* --- RUN ------------------------------------------------------------------ */

/* Print the log lines of container dir from *offset on. */
static void show_log(const struct builder *b, const char *state_dir, const char *id, off_t *offset)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	if (!b->o->out)
		return;
	buf_printf(&path, "%s/%s/log", state_dir, id);
	f = fopen(buf_str(&path), "re");
	if (!f)
		return;
	fseeko(f, *offset, SEEK_SET);
	while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
		cJSON *rec = cJSON_ParseWithLength(line, (size_t)n);

		if (json_str(rec, "l"))
			fprintf(b->o->out, "  | %s\n", json_str(rec, "l"));
		cJSON_Delete(rec);
		*offset += n;
	}
	free(line);
	fclose(f);
	fflush(b->o->out);
}

static int do_run(struct builder *b, const struct df_instr *in, struct stage *st, struct err *err)
{
	_cleanup_buf_ struct buf state_dir = BUF_INIT, upper = BUF_INIT;
	_cleanup_json_ cJSON *def = cJSON_CreateObject(), *cmd = cJSON_CreateArray();
	_cleanup_free_ const char **ids = NULL;
	const char **env = NULL;
	size_t n_ids, n_env = 0;
	struct container_spec spec = { 0 };
	struct container_state cs;
	struct hasher h;
	char key[DIGEST_SIZE], id[32];
	off_t offset = 0;
	int r;

	if (in->json) {
		for (size_t i = 0; i < in->n_args; i++)
			cJSON_AddItemToArray(cmd, cJSON_CreateString(in->args[i]));
	} else {
		cJSON_AddItemToArray(cmd, cJSON_CreateString("/bin/sh"));
		cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
		cJSON_AddItemToArray(cmd, cJSON_CreateString(in->args[0]));
	}
	/* the build's ARGs are the RUN's environment too (ENV wins over them) */
	env = calloc((size_t)cJSON_GetArraySize(st->args) + 1, sizeof(*env));
	if (!env)
		abort();
	for (const cJSON *a = st->args->child; a; a = a->next)
		if (cJSON_IsString(a) &&
		    !env_get(json_get(json_obj(st->config, "config"), "Env"), a->string)) {
			struct buf e = BUF_INIT;

			buf_printf(&e, "%s=%s", a->string, a->valuestring);
			env[n_env++] = buf_detach(&e, NULL);
		}

	hash_init(&h, st->key);
	hash_str(&h, "RUN");
	hash_json(&h, cmd);
	hash_json(&h, json_get(json_obj(st->config, "config"), "Env"));
	hash_str(&h, json_str(json_obj(st->config, "config"), "User"));
	hash_str(&h, json_str(json_obj(st->config, "config"), "WorkingDir"));
	for (size_t i = 0; i < n_env; i++)
		hash_str(&h, env[i]);
	hash_final(&h, key);
	if (use_cached(b, st, key)) {
		r = 0;
		goto out;
	}

	cJSON_AddItemToObject(def, "entryPoint", cJSON_Duplicate(cmd, true));
	ids = stage_diff_ids(st, &n_ids);
	random_hex(id, 8);
	memmove(id + 6, id, 17);
	memcpy(id, "build-", 6);
	buf_printf(&state_dir, "%s/containers", b->o->data_dir);
	spec.id = id;
	spec.layers_dir = b->o->data_dir;
	spec.diff_ids = ids;
	spec.n_layers = n_ids;
	spec.image_config = st->config;
	spec.container_def = def;
	spec.hostname = "build";
	spec.network = CONTAINER_NET_PRIVATE;
	spec.extra_env = env;
	spec.runtime = b->o->runtime;
	if (n_ids == 0) {
		r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
			    "line %u: RUN in an empty image (FROM scratch with nothing copied "
			    "yet) has nothing to run",
			    in->line);
		goto out;
	}
	r = container_start(buf_str(&state_dir), &spec, &cs, err);
	if (r < 0) {
		err_wrap(err, "line %u: RUN", in->line);
		goto out;
	}
	for (;;) {
		r = container_wait(buf_str(&state_dir), id, 200, &cs, err);
		show_log(b, buf_str(&state_dir), id, &offset);
		if (r < 0 || cs.exited)
			break;
		if (b->o->cancel && *b->o->cancel) {
			r = err_set(err, -ECANCELED, E_CLIENT, "line %u: RUN interrupted",
				    in->line);
			container_stop(buf_str(&state_dir), id, 1, NULL);
			break;
		}
	}
	if (r == 0 && cs.exit_code != 0)
		r = err_set(err, -EIO, E_CLIENT, "line %u: RUN %s exited with %d%s%s", in->line,
			    in->json ? "(exec form)" : in->args[0], cs.exit_code,
			    cs.reason[0] ? ": " : "", cs.reason);
	if (r == 0) {
		buf_printf(&upper, "%s/%s/upper", buf_str(&state_dir), id);
		r = commit_layer(b, st, buf_str(&upper), PACK_OVERLAY, key, err);
	}
	{
		struct err ignored = ERR_INIT;

		container_remove(buf_str(&state_dir), id, &ignored);
	}
out:
	for (size_t i = 0; i < n_env; i++)
		free((char *)env[i]);
	free(env);
	return r;
}

/* --- the image ------------------------------------------------------------ */

static int write_image(struct builder *b, struct stage *st, struct err *err)
{
	_cleanup_buf_ struct buf config = BUF_INIT, manifest = BUF_INIT;
	_cleanup_json_ cJSON *m = cJSON_CreateObject();
	cJSON *c, *ids;
	char config_digest[DIGEST_SIZE], when[32];
	uint64_t size = 0;
	int r;

	/* a config every reader accepts: rootfs always there, times from the cache */
	ids = json_arr(json_obj(st->config, "rootfs"), "diff_ids") ? NULL : cJSON_CreateArray();
	if (ids) {
		cJSON *rootfs = cJSON_CreateObject();

		cJSON_AddStringToObject(rootfs, "type", "layers");
		cJSON_AddItemToObject(rootfs, "diff_ids", ids);
		json_set(st->config, "rootfs", rootfs);
	}
	if (st->created) {
		iso_time(st->created, when);
		json_set_str(st->config, "created", when);
	}
	json_print(&config, st->config);
	r = pack_blob_write(b->o->data_dir, config.data, config.len, config_digest, err);
	if (r < 0)
		return r;
	cJSON_AddNumberToObject(m, "schemaVersion", 2);
	cJSON_AddStringToObject(m, "mediaType", "application/vnd.oci.image.manifest.v1+json");
	c = cJSON_AddObjectToObject(m, "config");
	cJSON_AddStringToObject(c, "mediaType", "application/vnd.oci.image.config.v1+json");
	cJSON_AddStringToObject(c, "digest", config_digest);
	cJSON_AddNumberToObject(c, "size", (double)config.len);
	cJSON_AddItemToObject(m, "layers", cJSON_Duplicate(st->layers, true));
	for (const cJSON *l = st->layers->child; l; l = l->next)
		size += (uint64_t)json_int(l, "size", 0);
	json_print(&manifest, m);
	r = pack_blob_write(b->o->data_dir, manifest.data, manifest.len, b->res->digest, err);
	if (r < 0)
		return r;
	struct image_local img = {
		.digest = b->res->digest,
		.config_digest = config_digest,
		.config = st->config,
		.diff_ids = json_arr(json_obj(st->config, "rootfs"), "diff_ids"),
		.layers = st->layers,
		.size = size,
	};
	return image_add_local(b->images, b->o->tag, &img, err);
}

/* --- the whole build ---------------------------------------------------- */

static int step(struct builder *b, const struct df_instr *in, struct err *err)
{
	struct stage *st = b->n_stages ? &b->stages[b->n_stages - 1] : NULL;
	int r;

	b->step++;
	b->res->steps++;
	say(b, "STEP %u/%u: %s\n", b->step, b->n_steps, in->text);
	if (in->kind == DF_FROM)
		return do_from(b, in, err);
	if (!st)
		return do_arg(b, in, NULL, err);
	switch (in->kind) {
	case DF_ARG: r = do_arg(b, in, st, err); break;
	case DF_ENV:
	case DF_LABEL: r = do_env_label(b, in, st, err); break;
	case DF_EXPOSE: r = do_expose(b, in, st, err); break;
	case DF_CMD:
	case DF_ENTRYPOINT:
		set_command(st, in);
		r = 0;
		break;
	case DF_USER: r = do_workdir_user(b, in, st, err); break;
	case DF_WORKDIR:
		r = do_workdir_user(b, in, st, err);
		if (r == 0)
			r = make_workdir(b, in, st, err);
		break;
	case DF_COPY:
	case DF_ADD: r = do_copy(b, in, st, err); break;
	case DF_RUN: r = do_run(b, in, st, err); break;
	default: r = err_set(err, -EINVAL, E_INVALID_PARAMETER, "line %u: unexpected", in->line);
	}
	if (r == 0)
		history_add(st, in,
			    in->kind != DF_COPY && in->kind != DF_ADD && in->kind != DF_RUN &&
				    in->kind != DF_WORKDIR);
	return r;
}

int build_run(const struct build_opts *o, struct build_result *ret, struct err *err)
{
	struct builder b = { .o = o, .res = ret };
	_cleanup_buf_ struct buf path = BUF_INIT, text = BUF_INIT;
	size_t last = 0;
	int r, hold = -1;

	memset(ret, 0, sizeof(*ret));
	if (o->dockerfile)
		buf_puts(&path, o->dockerfile);
	else
		buf_printf(&path, "%s/Dockerfile", o->context);
	r = fs_read_file(buf_str(&path), DOCKERFILE_MAX_BYTES + 1, &text);
	if (r < 0)
		return err_set(err, r, E_INVALID_PARAMETER, "%s: %s", buf_str(&path),
			       r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
	r = dockerfile_parse(text.data ? text.data : "", text.len, &b.df, err);
	if (r < 0)
		return err_wrap(err, "%s", buf_str(&path));
	b.global_args = cJSON_CreateObject();
	b.build_args = cJSON_CreateObject();
	for (size_t i = 0; i < o->n_build_args; i++) {
		const char *eq = strchr(o->build_args[i], '=');
		_cleanup_free_ char *name =
			eq ? strndup(o->build_args[i], (size_t)(eq - o->build_args[i])) : NULL;

		if (!eq) {
			/* --build-arg NAME: its value from the environment, as Docker */
			const char *v = getenv(o->build_args[i]);

			if (v)
				json_set_str(b.build_args, o->build_args[i], v);
			continue;
		}
		json_set_str(b.build_args, name, eq + 1);
	}
	/* the instructions to run: up to the target stage's end */
	last = b.df.n;
	if (o->target) {
		bool found = false;

		for (size_t i = 0; i < b.df.n; i++) {
			char **w = NULL;
			size_t n = 0;

			if (b.df.v[i].kind != DF_FROM)
				continue;
			if (found) {
				last = i;
				break;
			}
			if (dockerfile_words(b.df.v[i].args[0], b.df.escape, true, NULL, NULL,
					     b.df.v[i].line, &w, &n, NULL) == 0 &&
			    n == 3 && !strcasecmp(w[2], o->target))
				found = true;
			dockerfile_words_free(w, n);
		}
		if (!found) {
			r = err_set(err, -EINVAL, E_INVALID_PARAMETER,
				    "--target %s: no stage has that name", o->target);
			goto out;
		}
	}
	b.n_steps = (unsigned)last;
	r = images_open(o->data_dir, &b.images, err);
	if (r < 0)
		goto out;
	images_set_insecure(b.images, o->insecure, o->n_insecure);
	/* the collector must not take the layers made here before the record names them */
	hold = image_hold(b.images, err);
	if (hold < 0) {
		r = hold;
		goto out;
	}
	load_ignore(&b);
	for (size_t i = 0; i < last && r == 0; i++) {
		if (o->cancel && *o->cancel) {
			r = err_set(err, -ECANCELED, E_CLIENT, "interrupted before line %u",
				    b.df.v[i].line);
			break;
		}
		r = step(&b, &b.df.v[i], err);
	}
	if (r == 0)
		r = write_image(&b, &b.stages[b.n_stages - 1], err);
out:
	for (size_t i = 0; i < b.n_stages; i++)
		stage_release(&b.stages[i]);
	for (size_t i = 0; i < b.n_ignore; i++)
		free(b.ignore[i]);
	free(b.ignore);
	cJSON_Delete(b.global_args);
	cJSON_Delete(b.build_args);
	image_unhold(hold);
	images_close(b.images);
	dockerfile_release(&b.df);
	return r;
}
