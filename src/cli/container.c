/*
 * container.c: `berth container`, an internal debugging verb (not listed
 * by `berth help`) that drives the container runtime (agent/runtime.h)
 * directly, without a server or an agent: the integration tests use it,
 * and so can a developer looking at one container. DIR is laid out as an
 * agent's data directory (layers under DIR/layers, containers under
 * DIR/containers, runc's state under DIR/runc), so it also reads the
 * containers of an agent that uses DIR.
 *
 *   berth container run --data-dir DIR [--id ID] [--def JSON] [--network host|none]
 *                       [--mount SRC:DST[:ro]]... [--env K=V]... [--runtime BIN]
 *                       LAYOUT[:TAG] [-- COMMAND...]
 *       unpack the image TAG (default: the layout's only or "latest" one) of
 *       the OCI image layout LAYOUT into DIR's layer store and start a
 *       container of it; JSON is an ECS container definition (COMMAND, when
 *       given, is its "command"). Prints the state as JSON.
 *   berth container state|wait|stop|rm --data-dir DIR ID
 *       [--timeout N: wait's in ms (default: none), stop's in s (default 30)]
 *   berth container ls --data-dir DIR
 *
 * Exit status: 0, 1 for a failure (its message on stderr), 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/layers.h"
#include "agent/runtime.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

#define LAYOUT_FILE_MAX (4u << 20)
#define MAX_MOUNTS	64
#define MAX_ENV		256

static int usage(void)
{
	fprintf(stderr,
		"usage: berth container run --data-dir DIR [--id ID] [--def JSON] "
		"[--network host|none]\n"
		"                           [--mount SRC:DST[:ro]]... [--env K=V]... "
		"[--runtime BIN] LAYOUT[:TAG] [-- COMMAND...]\n"
		"       berth container state|wait|stop|rm --data-dir DIR [--timeout N] ID\n"
		"       berth container ls --data-dir DIR\n"
		"(internal: a debugging tool of berth's container runtime)\n");
	return 2;
}

static int fail(const struct err *err)
{
	fprintf(stderr, "berth container: %s\n", err->msg);
	return 1;
}

/* The JSON document in the layout's blob digest. */
static cJSON *read_blob(const char *layout, const char *digest, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	cJSON *doc;
	int r;

	if (!digest || !layer_digest_valid(digest)) {
		err_set(err, -EINVAL, E_CLIENT, "bad digest '%s' in the layout",
			digest ? digest : "");
		return NULL;
	}
	buf_printf(&path, "%s/blobs/sha256/%s", layout, digest + 7);
	r = fs_read_file(buf_str(&path), LAYOUT_FILE_MAX, &data);
	if (r < 0) {
		err_set(err, r, E_CLIENT, "%s: %s", buf_str(&path), strerror(-r));
		return NULL;
	}
	doc = cJSON_ParseWithLength(buf_str(&data), data.len);
	if (!doc)
		err_set(err, -EBADMSG, E_CLIENT, "%s: not JSON", buf_str(&path));
	return doc;
}

/* The manifest of tag (NULL: "latest", or the only one) in the layout's index.json. */
static cJSON *read_manifest(const char *layout, const char *tag, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	_cleanup_json_ cJSON *index = NULL;
	const cJSON *ms, *pick = NULL;
	cJSON *m;
	int r;

	buf_printf(&path, "%s/index.json", layout);
	r = fs_read_file(buf_str(&path), LAYOUT_FILE_MAX, &data);
	if (r < 0) {
		err_set(err, r, E_CLIENT, "%s: %s", buf_str(&path), strerror(-r));
		return NULL;
	}
	index = cJSON_ParseWithLength(buf_str(&data), data.len);
	ms = json_arr(index, "manifests");
	for (const cJSON *d = ms ? ms->child : NULL; d; d = d->next) {
		const char *name =
			json_str(json_obj(d, "annotations"), "org.opencontainers.image.ref.name");

		if ((name && !strcmp(name, tag ? tag : "latest")) || (!tag && !d->next && !pick))
			pick = d;
	}
	if (!pick) {
		err_set(err, -ENOENT, E_CLIENT, "%s: no image '%s'", layout, tag ? tag : "latest");
		return NULL;
	}
	m = read_blob(layout, json_str(pick, "digest"), err);
	/* an index: take its linux/amd64 (or first) manifest */
	while (m && json_arr(m, "manifests")) {
		const cJSON *c = json_arr(m, "manifests")->child, *best = c;

		for (; c; c = c->next)
			if (json_str(json_obj(c, "platform"), "architecture") &&
			    !strcmp(json_str(json_obj(c, "platform"), "architecture"), "amd64")) {
				best = c;
				break;
			}
		cJSON *child = best ? read_blob(layout, json_str(best, "digest"), err) : NULL;

		cJSON_Delete(m);
		m = child;
	}
	return m;
}

struct run_opts {
	const char *data_dir, *id, *def, *network, *runtime, *image;
	struct container_mount mounts[MAX_MOUNTS];
	size_t n_mounts;
	const char *env[MAX_ENV + 1];
	size_t n_env;
	char **command;
	int n_command;
};

static int print_state(const char *id, const struct container_state *st)
{
	_cleanup_buf_ struct buf out = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &out);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "id", id);
	jsonw_key_int(&w, "pid", st->pid);
	jsonw_key_bool(&w, "running", st->running);
	jsonw_key_bool(&w, "exited", st->exited);
	if (st->exited) {
		jsonw_key_int(&w, "exitCode", st->exit_code);
		jsonw_key_int(&w, "signal", st->signal);
		jsonw_key_bool(&w, "oomKilled", st->oom_killed);
	}
	jsonw_key_int(&w, "startedAt", st->started_at_ms);
	jsonw_key_int(&w, "finishedAt", st->finished_at_ms);
	jsonw_key_str(&w, "reason", st->reason);
	jsonw_obj_end(&w);
	printf("%s\n", buf_str(&out));
	return 0;
}

static int do_run(struct run_opts *o)
{
	_cleanup_buf_ struct buf state_dir = BUF_INIT, layout = BUF_INIT;
	_cleanup_json_ cJSON *manifest = NULL, *config = NULL, *def = NULL;
	_cleanup_free_ const char **diff_ids = NULL;
	const char *colon = strrchr(o->image, ':'), *tag = NULL;
	const cJSON *layers, *ids;
	struct container_spec spec = { 0 };
	struct container_state st;
	struct err err = ERR_INIT;
	char id[CONTAINER_ID_MAX + 1];
	size_t n = 0;
	int r;

	if (colon && !strchr(colon, '/')) {
		buf_append(&layout, o->image, (size_t)(colon - o->image));
		tag = colon + 1;
	} else {
		buf_puts(&layout, o->image);
	}
	manifest = read_manifest(buf_str(&layout), tag, &err);
	if (!manifest)
		return fail(&err);
	config =
		read_blob(buf_str(&layout), json_str(json_obj(manifest, "config"), "digest"), &err);
	if (!config)
		return fail(&err);
	layers = json_arr(manifest, "layers");
	ids = json_arr(json_obj(config, "rootfs"), "diff_ids");
	n = (size_t)cJSON_GetArraySize(layers);
	if (!ids || (size_t)cJSON_GetArraySize(ids) != n || n == 0) {
		fprintf(stderr, "berth container: the manifest's layers and the config's "
				"diff_ids differ\n");
		return 1;
	}
	diff_ids = calloc(n, sizeof(*diff_ids));
	if (!diff_ids)
		abort();
	n = 0;
	for (const cJSON *l = layers->child, *d = ids->child; l && d; l = l->next, d = d->next) {
		_cleanup_buf_ struct buf blob = BUF_INIT;
		struct layer_unpack_opts uo = { .diff_id = d->valuestring,
						.digest = json_str(l, "digest") };

		if (!cJSON_IsString(d) || !uo.digest || !layer_digest_valid(uo.digest)) {
			fprintf(stderr, "berth container: a bad layer in the manifest\n");
			return 1;
		}
		buf_printf(&blob, "%s/blobs/sha256/%s", buf_str(&layout), uo.digest + 7);
		r = layer_unpack_file(o->data_dir, buf_str(&blob), &uo, NULL, &err);
		if (r < 0)
			return fail(&err);
		diff_ids[n++] = d->valuestring;
	}

	def = o->def ? cJSON_Parse(o->def) : cJSON_CreateObject();
	if (!cJSON_IsObject(def)) {
		fprintf(stderr, "berth container: --def is not a JSON object\n");
		return 2;
	}
	if (o->n_command) {
		cJSON *cmd = cJSON_CreateArray();

		for (int i = 0; i < o->n_command; i++)
			cJSON_AddItemToArray(cmd, cJSON_CreateString(o->command[i]));
		cJSON_DeleteItemFromObjectCaseSensitive(def, "command");
		cJSON_AddItemToObject(def, "command", cmd);
	}
	if (o->id) {
		snprintf(id, sizeof(id), "%s", o->id);
	} else {
		random_hex(id, 8);
	}
	buf_printf(&state_dir, "%s/containers", o->data_dir);
	spec.id = id;
	spec.layers_dir = o->data_dir;
	spec.diff_ids = diff_ids;
	spec.n_layers = n;
	spec.image_config = config;
	spec.container_def = def;
	spec.network = !o->network || !strcmp(o->network, "none") ? CONTAINER_NET_PRIVATE
								  : CONTAINER_NET_HOST;
	o->env[o->n_env] = NULL;
	spec.extra_env = o->env;
	spec.mounts = o->mounts;
	spec.n_mounts = o->n_mounts;
	spec.runtime = o->runtime;
	r = container_start(buf_str(&state_dir), &spec, &st, &err);
	if (r < 0)
		return fail(&err);
	return print_state(id, &st);
}

static int parse_mount(struct run_opts *o, char *arg)
{
	char *dst = strchr(arg, ':'), *ro;

	if (!dst || o->n_mounts == MAX_MOUNTS)
		return -1;
	*dst++ = 0;
	ro = strchr(dst, ':');
	if (ro)
		*ro++ = 0;
	o->mounts[o->n_mounts++] = (struct container_mount){ .source = arg,
							     .destination = dst,
							     .readonly = ro && !strcmp(ro, "ro") };
	return 0;
}

static int list_one(const char *id, void *userdata)
{
	(void)userdata;
	printf("%s\n", id);
	return 0;
}

int cmd_container(int argc, char **argv)
{
	enum {
		OPT_DATA_DIR = 256,
		OPT_ID,
		OPT_DEF,
		OPT_NETWORK,
		OPT_MOUNT,
		OPT_ENV,
		OPT_RUNTIME,
		OPT_TIMEOUT
	};
	static const struct option options[] = {
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "id", required_argument, NULL, OPT_ID },
		{ "def", required_argument, NULL, OPT_DEF },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "mount", required_argument, NULL, OPT_MOUNT },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ 0 },
	};
	static struct run_opts o; /* large: not on the stack */
	_cleanup_buf_ struct buf state_dir = BUF_INIT;
	struct container_state st;
	struct err err = ERR_INIT;
	const char *verb;
	int64_t timeout = -1;
	int opt, r;

	if (argc < 2)
		return usage();
	verb = argv[1];
	memset(&o, 0, sizeof(o));
	optind = 2;
	/* run's COMMAND keeps its own options: stop at the first operand */
	while ((opt = getopt_long(argc, argv, strcmp(verb, "run") ? "" : "+", options, NULL)) !=
	       -1) {
		switch (opt) {
		case OPT_DATA_DIR: o.data_dir = optarg; break;
		case OPT_ID: o.id = optarg; break;
		case OPT_DEF: o.def = optarg; break;
		case OPT_NETWORK: o.network = optarg; break;
		case OPT_MOUNT:
			if (parse_mount(&o, optarg) < 0)
				return usage();
			break;
		case OPT_ENV:
			if (o.n_env == MAX_ENV)
				return usage();
			o.env[o.n_env++] = optarg;
			break;
		case OPT_RUNTIME: o.runtime = optarg; break;
		case OPT_TIMEOUT:
			if (parse_int64(optarg, 0, INT32_MAX, &timeout) < 0)
				return usage();
			break;
		default: return usage();
		}
	}
	if (!o.data_dir)
		return usage();
	buf_printf(&state_dir, "%s/containers", o.data_dir);
	if (!strcmp(verb, "ls"))
		return container_list(buf_str(&state_dir), list_one, NULL, &err) < 0 ? fail(&err)
										     : 0;
	if (optind >= argc)
		return usage();
	if (!strcmp(verb, "run")) {
		o.image = argv[optind++];
		if (optind < argc && !strcmp(argv[optind], "--"))
			optind++;
		o.command = argv + optind;
		o.n_command = argc - optind;
		return do_run(&o);
	}
	if (optind + 1 != argc)
		return usage();
	if (!strcmp(verb, "state"))
		r = container_state(buf_str(&state_dir), argv[optind], &st, &err);
	else if (!strcmp(verb, "wait"))
		r = container_wait(buf_str(&state_dir), argv[optind], (int)timeout, &st, &err);
	else if (!strcmp(verb, "stop"))
		r = container_stop(buf_str(&state_dir), argv[optind],
				   timeout < 0 ? CONTAINER_STOP_TIMEOUT_DEFAULT : (int)timeout,
				   &err);
	else if (!strcmp(verb, "rm"))
		return container_remove(buf_str(&state_dir), argv[optind], &err) < 0 ? fail(&err)
										     : 0;
	else
		return usage();
	if (r < 0)
		return fail(&err);
	if (!strcmp(verb, "stop"))
		r = container_state(buf_str(&state_dir), argv[optind], &st, &err);
	return r < 0 ? fail(&err) : print_state(argv[optind], &st);
}
