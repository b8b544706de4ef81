/*
 * cli/images.c: `berth image VERB` and `berth images`, the CLI over an
 * agent's image store (agent/images.h) on this host:
 *
 *   berth image pull [--data-dir DIR] [--username USER --password-stdin]
 *                    [--insecure-registry HOST:PORT]... REF
 *   berth image ls [--data-dir DIR]          (also: berth images)
 *   berth image push [--data-dir DIR] [--username USER --password-stdin]
 *                    [--insecure-registry HOST:PORT]... LOCAL [REMOTE]
 *   berth image tag [--data-dir DIR] SOURCE TARGET
 *   berth image rm [--data-dir DIR] REF...
 *   berth image save [--data-dir DIR] -o FILE REF...
 *   berth image load [--data-dir DIR] -i FILE [-t NAME]
 *
 * They work on the store's directory directly, not through a server: the
 * store's records and layers are safe to share with a running agent (the
 * layer store renames complete layers into place; records are replaced
 * atomically; pulls and the agent's collector exclude each other with a
 * file lock). The default directory is the agent's, /var/lib/berth/agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/archive.h"
#include "agent/images.h"
#include "agent/pull.h"
#include "agent/push.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/util.h"
#include "core/json.h"
#include "main.h"
#include "core/banned.h"

#define DEFAULT_DATA_DIR "/var/lib/berth/agent"
#define MAX_INSECURE	 16

static void pull_usage(FILE *f)
{
	fprintf(f,
		"usage: berth image pull [options] REFERENCE\n"
		"\n"
		"Pull an image into an agent's image store and print its digest.\n"
		"\n"
		"  --data-dir DIR             the agent's data directory (default " DEFAULT_DATA_DIR
		")\n"
		"  --username USER            the registry user (for berth's registry: AWS)\n"
		"  --password-stdin           read the password from standard input\n"
		"                             (for berth's registry: aws ecr get-login-password)\n"
		"  --insecure-registry HOST:PORT\n"
		"                             reach this registry over plain HTTP (repeatable;\n"
		"                             loopback registries always are)\n"
		"  --inactivity-timeout SECONDS\n"
		"                             a registry that sends nothing for this long fails\n"
		"                             the request, which is tried again (default 60)\n");
}

static void ls_usage(FILE *f, const char *name)
{
	fprintf(f,
		"usage: %s [--data-dir DIR]\n"
		"\n"
		"List the images in an agent's image store: REPOSITORY TAG DIGEST SIZE.\n"
		"\n"
		"  --data-dir DIR   the agent's data directory (default " DEFAULT_DATA_DIR ")\n",
		name);
}

int cli_credentials(const char *cmd, const char *username, bool password_stdin,
		    struct buf *password, struct image_auth *ret)
{
	int r;

	if (password_stdin != (username != NULL)) {
		fprintf(stderr, "%s: --username and --password-stdin go together\n", cmd);
		return 2;
	}
	if (!password_stdin)
		return 0;
	r = cli_read_password(password);
	if (r < 0) {
		fprintf(stderr, "%s: reading the password: %s\n", cmd,
			r == -EFBIG ? "too long" : strerror(-r));
		return 1;
	}
	ret->username = username;
	ret->password = buf_str(password);
	return 0;
}

int cli_read_password(struct buf *ret)
{
	char chunk[4096];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		buf_append(ret, chunk, n);
		if (ret->len > CLI_PASSWORD_MAX)
			return -EFBIG;
	}
	if (ferror(stdin))
		return -EIO;
	while (ret->len && (ret->data[ret->len - 1] == '\n' || ret->data[ret->len - 1] == '\r'))
		ret->data[--ret->len] = 0;
	return 0;
}

static int image_pull_cmd(int argc, char **argv)
{
	enum {
		OPT_DATA_DIR = 1,
		OPT_USERNAME,
		OPT_PASSWORD_STDIN,
		OPT_INSECURE,
		OPT_INACTIVITY,
		OPT_HELP
	};
	static const struct option options[] = {
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "username", required_argument, NULL, OPT_USERNAME },
		{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
		{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
		{ "inactivity-timeout", required_argument, NULL, OPT_INACTIVITY },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	const char *data_dir = DEFAULT_DATA_DIR, *username = NULL;
	const char *insecure[MAX_INSECURE];
	size_t n_insecure = 0;
	int64_t inactivity_s = 0;
	bool password_stdin = false;
	_cleanup_buf_ struct buf password = BUF_INIT;
	struct image_auth auth = { 0 };
	struct images *store = NULL;
	struct image *img = NULL;
	struct err err = ERR_INIT;
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_DATA_DIR: data_dir = optarg; break;
		case OPT_USERNAME: username = optarg; break;
		case OPT_PASSWORD_STDIN: password_stdin = true; break;
		case OPT_INSECURE:
			if (n_insecure == MAX_INSECURE) {
				fprintf(stderr,
					"berth image pull: at most %d --insecure-registry\n",
					MAX_INSECURE);
				return 2;
			}
			insecure[n_insecure++] = optarg;
			break;
		case OPT_INACTIVITY:
			if (parse_int64(optarg, 1, 3600, &inactivity_s) < 0) {
				fprintf(stderr,
					"berth image pull: --inactivity-timeout takes 1 to 3600 "
					"seconds, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_HELP: pull_usage(stdout); return 0;
		default: pull_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		pull_usage(stderr);
		return 2;
	}
	r = cli_credentials("berth image pull", username, password_stdin, &password, &auth);
	if (r)
		return r;

	r = images_open(data_dir, &store, &err);
	if (r == 0) {
		images_set_insecure(store, insecure, n_insecure);
		images_set_pull_inactivity(store, inactivity_s);
		/* kept, so that what is pulled here can be pushed and saved */
		images_keep_blobs(store, true);
		r = image_pull(store, argv[optind], username ? &auth : NULL, IMAGE_PULL_ALWAYS,
			       &img, &err);
	}
	if (r < 0) {
		fprintf(stderr, "berth image pull: %s\n", err.msg);
		images_close(store);
		return 1;
	}
	printf("%s\n", img->digest);
	image_free(img);
	images_close(store);
	return 0;
}

/* One line of the listing. */
struct row {
	char repository[IMAGE_REF_STR_MAX];
	char tag[160];
	char digest[LAYER_DIGEST_SIZE];
	uint64_t size;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static void add_row(struct rows *rows, const struct row *r)
{
	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 16;
		struct row *v = realloc(rows->v, cap * sizeof(*v));

		if (!v)
			abort(); /* as buf.h: out of memory ends the CLI */
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n++] = *r;
}

static void collect(const cJSON *rec, void *ctx)
{
	const cJSON *refs = json_arr(rec, "references");
	struct row row = { 0 };
	bool any = false;

	snprintf(row.digest, sizeof(row.digest), "%s", json_str(rec, "digest") ?: "");
	row.size = (uint64_t)json_int(rec, "size", 0);
	for (const cJSON *x = refs ? refs->child : NULL; x; x = x->next) {
		struct image_ref ref;

		if (!cJSON_IsString(x) || image_ref_parse(x->valuestring, &ref, NULL) < 0)
			continue;
		snprintf(row.repository, sizeof(row.repository), "%s/%s", ref.registry,
			 ref.repository);
		snprintf(row.tag, sizeof(row.tag), "%s", ref.tag[0] ? ref.tag : "<none>");
		add_row(ctx, &row);
		any = true;
	}
	if (!any) {
		snprintf(row.repository, sizeof(row.repository), "<none>");
		snprintf(row.tag, sizeof(row.tag), "<none>");
		add_row(ctx, &row);
	}
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->repository, y->repository);

	if (c == 0)
		c = strcmp(x->tag, y->tag);
	return c ? c : strcmp(x->digest, y->digest);
}

/* Sizes as docker prints them: decimal units, three significant digits. */
static void human_size(uint64_t n, char *out, size_t len)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%lluB", (unsigned long long)n);
	else
		snprintf(out, len, "%.3g%s", v, units[u]);
}

static int image_ls_cmd(int argc, char **argv)
{
	enum { OPT_DATA_DIR = 1, OPT_HELP };
	static const struct option options[] = {
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	const char *data_dir = DEFAULT_DATA_DIR;
	const char *name = strcmp(argv[0], "images") ? "berth image ls" : "berth images";
	struct rows rows = { 0 };
	struct images *store = NULL;
	struct err err = ERR_INIT;
	size_t wr = strlen("REPOSITORY"), wt = strlen("TAG");
	int opt, r = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_DATA_DIR: data_dir = optarg; break;
		case OPT_HELP: ls_usage(stdout, name); return 0;
		default: ls_usage(stderr, name); return 2;
		}
	}
	if (optind != argc) {
		ls_usage(stderr, name);
		return 2;
	}
	/* a directory where nothing was pulled yet lists nothing, and is not created */
	if (access(data_dir, F_OK) == 0) {
		r = images_open(data_dir, &store, &err);
		if (r == 0)
			r = image_list(store, collect, &rows, &err);
		images_close(store);
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", name, err.msg);
		free(rows.v);
		return 1;
	}
	if (rows.n) /* qsort's array may not be NULL, even empty (UBSan) */
		qsort(rows.v, rows.n, sizeof(*rows.v), row_cmp);
	for (size_t i = 0; i < rows.n; i++) {
		if (strlen(rows.v[i].repository) > wr)
			wr = strlen(rows.v[i].repository);
		if (strlen(rows.v[i].tag) > wt)
			wt = strlen(rows.v[i].tag);
	}
	printf("%-*s  %-*s  %-71s  %s\n", (int)wr, "REPOSITORY", (int)wt, "TAG", "DIGEST", "SIZE");
	for (size_t i = 0; i < rows.n; i++) {
		char size[32];

		human_size(rows.v[i].size, size, sizeof(size));
		printf("%-*s  %-*s  %-71s  %s\n", (int)wr, rows.v[i].repository, (int)wt,
		       rows.v[i].tag, rows.v[i].digest, size);
	}
	free(rows.v);
	return 0;
}

/* --- push, tag, rm, save, load ------------------------------------------ */

/* The options every verb below shares; returns the first operand's index, or -1 after usage. */
struct verb_opts {
	const char *data_dir, *username, *file, *name;
	bool password_stdin;
	const char *insecure[MAX_INSECURE];
	size_t n_insecure;
};

static int verb_usage(FILE *f, const char *verb)
{
	static const struct {
		const char *verb, *text;
	} texts[] = {
		{ "push",
		  "push [--username USER --password-stdin] [--insecure-registry HOST:PORT]... "
		  "LOCAL [REMOTE]\n\nPush a local image (built, loaded, or pulled with "
		  "`berth image pull`) to\nits registry, or as REMOTE. For berth's "
		  "registry: --username AWS and the\npassword of `aws ecr "
		  "get-login-password` on stdin." },
		{ "tag", "tag SOURCE TARGET\n\nName the local image SOURCE also TARGET." },
		{ "rm", "rm REF...\n\nRemove names (the image, with the layers and blobs "
			"nothing else uses,\nwhen its last name goes; a digest removes the image "
			"whatever its names)." },
		{ "save", "save -o FILE REF...\n\nWrite local images as an OCI archive "
			  "(skopeo's oci-archive: transport)." },
		{ "load", "load -i FILE [-t NAME]\n\nLoad the images of an OCI archive, under "
			  "the names it gives them or NAME." },
	};

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
		if (!strcmp(texts[i].verb, verb))
			fprintf(f,
				"usage: berth image %s\n\n  --data-dir DIR   the image store "
				"(default " DEFAULT_DATA_DIR ")\n",
				texts[i].text);
	return f == stdout ? 0 : 2;
}

static int parse_verb(int argc, char **argv, struct verb_opts *o, int *ret_exit)
{
	enum { OPT_DATA_DIR = 256, OPT_USERNAME, OPT_PASSWORD_STDIN, OPT_INSECURE, OPT_HELP };
	static const struct option options[] = {
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "username", required_argument, NULL, OPT_USERNAME },
		{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
		{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
		{ "output", required_argument, NULL, 'o' },
		{ "input", required_argument, NULL, 'i' },
		{ "tag", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	int opt;

	memset(o, 0, sizeof(*o));
	o->data_dir = DEFAULT_DATA_DIR;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:i:t:", options, NULL)) != -1) {
		switch (opt) {
		case OPT_DATA_DIR: o->data_dir = optarg; break;
		case OPT_USERNAME: o->username = optarg; break;
		case OPT_PASSWORD_STDIN: o->password_stdin = true; break;
		case OPT_INSECURE:
			if (o->n_insecure == MAX_INSECURE) {
				*ret_exit = verb_usage(stderr, argv[0]);
				return -1;
			}
			o->insecure[o->n_insecure++] = optarg;
			break;
		case 'o':
		case 'i': o->file = optarg; break;
		case 't': o->name = optarg; break;
		case OPT_HELP: *ret_exit = verb_usage(stdout, argv[0]); return -1;
		default: *ret_exit = verb_usage(stderr, argv[0]); return -1;
		}
	}
	if (o->password_stdin != (o->username != NULL)) {
		fprintf(stderr, "berth image %s: --username and --password-stdin go together\n",
			argv[0]);
		*ret_exit = 2;
		return -1;
	}
	return optind;
}

static int verb_fail(const char *verb, struct images *store, const struct err *err)
{
	fprintf(stderr, "berth image %s: %s\n", verb, err->msg);
	images_close(store);
	return 1;
}

static int image_push_cmd(int argc, char **argv)
{
	struct verb_opts o;
	_cleanup_buf_ struct buf password = BUF_INIT;
	struct image_auth auth = { 0 };
	struct images *store = NULL;
	struct err err = ERR_INIT;
	struct image_ref ref;
	char digest[LAYER_DIGEST_SIZE];
	bool insecure = false;
	int code, i = parse_verb(argc, argv, &o, &code), r;

	if (i < 0)
		return code;
	if (argc - i < 1 || argc - i > 2)
		return verb_usage(stderr, "push");
	r = cli_credentials("berth image push", o.username, o.password_stdin, &password, &auth);
	if (r)
		return r;
	if (image_ref_parse(argv[argc - 1], &ref, &err) < 0)
		return verb_fail("push", NULL, &err);
	for (size_t k = 0; k < o.n_insecure; k++)
		insecure |= !strcmp(o.insecure[k], ref.registry);
	r = images_open(o.data_dir, &store, &err);
	if (r == 0)
		r = image_push(store, argv[i], argc - i == 2 ? argv[i + 1] : NULL,
			       o.username ? &auth : NULL, insecure, stdout, digest, &err);
	if (r < 0)
		return verb_fail("push", store, &err);
	printf("%s\n", digest);
	images_close(store);
	return 0;
}

static int image_tag_cmd(int argc, char **argv)
{
	struct verb_opts o;
	_cleanup_json_ cJSON *rec = NULL;
	struct images *store = NULL;
	struct err err = ERR_INIT;
	int code, i = parse_verb(argc, argv, &o, &code), r;

	if (i < 0)
		return code;
	if (argc - i != 2)
		return verb_usage(stderr, "tag");
	r = images_open(o.data_dir, &store, &err);
	if (r == 0)
		r = image_record_get(store, argv[i], &rec, &err);
	if (r == 0) {
		struct image_local img = {
			.digest = json_str(rec, "digest"),
			.config_digest = json_str(rec, "configDigest"),
			.config = json_obj(rec, "config"),
			.diff_ids = json_arr(rec, "diffIds"),
			.layers = json_arr(rec, "layers"),
			.size = (uint64_t)json_int(rec, "size", 0),
		};

		r = image_add_local(store, argv[i + 1], &img, &err);
	}
	if (r < 0)
		return verb_fail("tag", store, &err);
	images_close(store);
	return 0;
}

static int image_rm_cmd(int argc, char **argv)
{
	struct verb_opts o;
	struct images *store = NULL;
	struct err err = ERR_INIT;
	int code, i = parse_verb(argc, argv, &o, &code), r, status = 0;

	if (i < 0)
		return code;
	if (argc - i < 1)
		return verb_usage(stderr, "rm");
	r = images_open(o.data_dir, &store, &err);
	if (r < 0)
		return verb_fail("rm", store, &err);
	for (; i < argc; i++) {
		char digest[LAYER_DIGEST_SIZE];
		unsigned layers;

		err_clear(&err);
		r = image_remove(store, argv[i], digest, &layers, &err);
		if (r < 0) {
			fprintf(stderr, "berth image rm: %s\n", err.msg);
			status = 1;
			continue;
		}
		printf("removed %s (%s), %u layers deleted\n", argv[i], digest, layers);
	}
	images_close(store);
	return status;
}

static int image_save_cmd(int argc, char **argv)
{
	struct verb_opts o;
	struct images *store = NULL;
	struct err err = ERR_INIT;
	_cleanup_buf_ struct buf tmp = BUF_INIT;
	int code, i = parse_verb(argc, argv, &o, &code), r, fd;

	if (i < 0)
		return code;
	if (argc - i < 1 || !o.file)
		return verb_usage(stderr, "save");
	r = images_open(o.data_dir, &store, &err);
	if (r < 0)
		return verb_fail("save", store, &err);
	/* written beside, renamed once complete: a failed save leaves no half archive */
	buf_printf(&tmp, "%s.tmp", o.file);
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "berth image save: %s: %s\n", buf_str(&tmp), strerror(errno));
		images_close(store);
		return 1;
	}
	r = image_save(store, (const char *const *)argv + i, (size_t)(argc - i), fd, &err);
	if (r == 0 && fsync(fd) < 0)
		r = err_set(&err, -errno, E_SERVER, "%s: %s", o.file, strerror(errno));
	close(fd);
	if (r == 0 && rename(buf_str(&tmp), o.file) < 0)
		r = err_set(&err, -errno, E_SERVER, "%s: %s", o.file, strerror(errno));
	if (r < 0) {
		unlink(buf_str(&tmp));
		return verb_fail("save", store, &err);
	}
	images_close(store);
	return 0;
}

static void print_loaded(const char *ref, const char *digest, void *ctx)
{
	(void)ctx;
	printf("loaded %s%s%s\n", digest, ref ? " as " : "", ref ? ref : "");
}

static int image_load_cmd(int argc, char **argv)
{
	struct verb_opts o;
	struct images *store = NULL;
	struct err err = ERR_INIT;
	int code, i = parse_verb(argc, argv, &o, &code), r, fd;

	if (i < 0)
		return code;
	if (argc != i || !o.file)
		return verb_usage(stderr, "load");
	fd = open(o.file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "berth image load: %s: %s\n", o.file, strerror(errno));
		return 1;
	}
	r = images_open(o.data_dir, &store, &err);
	if (r == 0)
		r = image_load(store, fd, o.name, print_loaded, NULL, &err);
	close(fd);
	if (r < 0)
		return verb_fail("load", store, &err);
	images_close(store);
	return 0;
}

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "pull", image_pull_cmd, "pull an image into this host's image store" },
	{ "push", image_push_cmd, "push a local image to a registry" },
	{ "ls", image_ls_cmd, "list the images in this host's image store" },
	{ "tag", image_tag_cmd, "give a local image another name" },
	{ "rm", image_rm_cmd, "remove local images" },
	{ "save", image_save_cmd, "write local images as an OCI archive" },
	{ "load", image_load_cmd, "load the images of an OCI archive" },
};

static void image_usage(FILE *f)
{
	fprintf(f, "usage: berth image <verb> [options]\n\nverbs:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %-6s %s\n", verbs[i].name, verbs[i].help);
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2) {
		image_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
		image_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "berth image: '%s' is not a verb; see 'berth image help'\n", argv[1]);
	return 2;
}

int cmd_images(int argc, char **argv)
{
	return image_ls_cmd(argc, argv);
}
