/*
 * cli/images.c: `berth image VERB` and `berth images`, the CLI over an
 * agent's image store (agent/images.h) on this host:
 *
 *   berth image pull [--data-dir DIR] [--username USER --password-stdin]
 *                    [--insecure-registry HOST:PORT]... REF
 *   berth image ls [--data-dir DIR]          (also: berth images)
 *
 * They work on the store's directory directly, not through a server: the
 * store's records and layers are safe to share with a running agent (the
 * layer store renames complete layers into place; records are replaced
 * atomically; pulls and the agent's collector exclude each other with a
 * file lock). The default directory is the agent's, /var/lib/berth/agent.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/images.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/util.h"
#include "core/json.h"
#include "main.h"
#include "core/banned.h"

#define DEFAULT_DATA_DIR "/var/lib/berth/agent"
#define PASSWORD_MAX	 16384
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

/* The password on stdin, without its line end. */
static int read_password(struct buf *ret)
{
	char chunk[4096];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		buf_append(ret, chunk, n);
		if (ret->len > PASSWORD_MAX)
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
	if (password_stdin != (username != NULL)) {
		fprintf(stderr, "berth image pull: --username and --password-stdin go together\n");
		return 2;
	}
	if (password_stdin) {
		r = read_password(&password);
		if (r < 0) {
			fprintf(stderr, "berth image pull: reading the password: %s\n",
				r == -EFBIG ? "too long" : strerror(-r));
			return 1;
		}
		auth.username = username;
		auth.password = buf_str(&password);
	}

	r = images_open(data_dir, &store, &err);
	if (r == 0) {
		images_set_insecure(store, insecure, n_insecure);
		images_set_pull_inactivity(store, inactivity_s);
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

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "pull", image_pull_cmd, "pull an image into this host's image store" },
	{ "ls", image_ls_cmd, "list the images in this host's image store" },
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
