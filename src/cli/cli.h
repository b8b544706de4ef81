/*
 * cli.h: what the CLI's nouns share (cli.c, config.c, table.c): where the
 * endpoint and credentials come from, the options every verb takes, calls
 * to the server that print its error and give the exit status, aligned
 * tables, and the dispatch of a noun's verbs. One file per noun
 * (cluster.c, taskdef.c, task.c, service.c, instance.c, logs.c) holds its
 * verbs' table and functions; docs/cli.md is the user's guide.
 *
 * Exit status: 0 done, 1 the server (or the network) refused or failed, 2
 * a usage error.
 */
#ifndef BERTH_CLI_CLI_H
#define BERTH_CLI_CLI_H

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "agent/images.h"
#include "core/awsclient.h"
#include "core/buf.h"
#include "core/err.h"

#define CLI_FIELD_MAX	     2048
#define CLI_DEFAULT_ENDPOINT "http://127.0.0.1:9400"
#define CLI_DEFAULT_REGION   "us-east-1"
#define CLI_DEFAULT_CLUSTER  "default"
#define CLI_DEV_DATA_DIR     "berth-data"

#define ECS_PREFIX  "AmazonEC2ContainerServiceV20141113."
#define LOGS_PREFIX "Logs_20140328."

/* What the command line says, overriding the environment and files. */
struct cli_overrides {
	const char *endpoint;
	const char *region;
	const char *profile;
	const char *cluster;
};

/* Where the CLI goes and as whom; each field says where it was found. */
struct cli_config {
	char endpoint[CLI_FIELD_MAX];
	char endpoint_logs[CLI_FIELD_MAX];
	char region[64];
	char access_key[256];
	char secret_key[256];
	char session_token[CLI_FIELD_MAX];
	char cluster[256];
	char credentials_from[3 * CLI_FIELD_MAX]; /* for messages */
};

/*
 * Resolve the configuration in the order docs/cli.md gives (command line,
 * environment, ~/.aws, berth's config file, a `berth dev` data directory,
 * defaults). Fails when no credentials are found anywhere, when a profile
 * named on purpose is in no file, or when a file cannot be parsed.
 */
int cli_config_load(const struct cli_overrides *o, struct cli_config *ret, struct err *err);

/* --- tables (table.c) --- */

struct table {
	size_t ncols;
	char **cells; /* row-major, header row first; owned */
	size_t nrows; /* rows, the header included */
	size_t cap;
};

/* A table of ncols columns with these headers. */
void table_init(struct table *t, size_t ncols, const char *const *headers);
/*
 * Add a row of ncols cells (NULL shows as "-"). Cells are copied, with
 * control characters (a line end in a server's message) shown as spaces.
 */
void table_add(struct table *t, const char *const *cells);
/*
 * Append the table to out: columns padded to their widest cell (counted in
 * characters, not bytes, for UTF-8) and separated by two spaces, the last
 * column not padded, one row a line.
 */
void table_format(const struct table *t, struct buf *out);
void table_release(struct table *t);

/* --- a verb's run (cli.c) --- */

struct cli {
	const char *prog; /* "berth cluster ls": prefixes messages */
	struct cli_overrides o;
	struct cli_config cfg;
	struct awsclient aws;
	bool json; /* --json: print the server's answers as they are */
	bool connected;
	const char *shortopts; /* getopt's short options ("f" for logs -f); NULL: none */
	/* getopt_long's table: the verb's own options, then the common ones */
	struct option options[40];
};

/* Codes of the common options, above any verb's. */
enum {
	CLI_OPT_JSON = 1000,
	CLI_OPT_ENDPOINT,
	CLI_OPT_REGION,
	CLI_OPT_PROFILE,
	CLI_OPT_CLUSTER,
	CLI_OPT_HELP,
};

/* The common options' help, for a verb's usage text. */
#define CLI_COMMON_HELP                                                                    \
	"common options:\n"                                                                \
	"  --cluster NAME        the cluster (default: BERTH_CLUSTER, the config file's\n" \
	"                        cluster, or \"default\")\n"                               \
	"  --json                print the server's answers as JSON, for scripts\n"        \
	"  --endpoint-url URL    the berth server (default: see docs/cli.md)\n"            \
	"  --region NAME         the region to sign for\n"                                 \
	"  --profile NAME        the profile of ~/.aws/credentials and ~/.aws/config\n"    \
	"  --help                this text\n"

/*
 * Start a verb: c->prog is "berth NOUN VERB"; own is the verb's options
 * (terminated by a zero entry; codes below CLI_OPT_JSON).
 */
void cli_init(struct cli *c, const char *prog, const struct option *own);

/*
 * getopt_long over the verb's and the common options: returns the verb's
 * own codes, -1 at the end, 'h' for --help and '?' for a mistake (getopt
 * printed it); the common options are taken here.
 */
int cli_getopt(struct cli *c, int argc, char **argv);

/* Print "PROG: MESSAGE" and the usage hint to stderr; returns 2. */
int cli_usage_error(const struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Resolve the configuration and set up the client; prints why not and returns 1. */
int cli_connect(struct cli *c);

/*
 * Call op of a JSON API (target prefix and signing name: ECS_PREFIX "ecs",
 * LOGS_PREFIX "logs") with body (NULL: {}), and parse the answer into
 * *ret (owned by the caller). On an error answer, prints "PROG: TYPE:
 * MESSAGE" and returns 1; ret_err (may be NULL) gets the error.
 */
int cli_call(struct cli *c, const char *prefix, const char *service, const char *op,
	     const char *body, cJSON **ret, struct err *ret_err);
/* The same, quiet: the error is only returned (1) in ret_err. */
int cli_call_quiet(struct cli *c, const char *prefix, const char *service, const char *op,
		   const char *body, cJSON **ret, struct err *ret_err);

/* ECS calls, the usual case: with a body, or with a request object. */
int cli_ecs(struct cli *c, const char *op, const char *body, cJSON **ret);
int cli_ecs_req(struct cli *c, const char *op, const cJSON *req, cJSON **ret);

/* A verb's usage for getopt's answer opt: to stdout for --help (0), else to stderr (2). */
int cli_usage(int opt, const char *usage);

/* Print a document as indented JSON and a newline to stdout. */
void cli_print_json(const cJSON *doc);

/*
 * Print what a verb's call answered: with --json the whole answer, else
 * the string answer.OBJ.MEMBER (an ARN; its last part when short_form).
 */
void cli_print_answer(const struct cli *c, const cJSON *answer, const char *obj, const char *member,
		      bool short_form);

/* Print a table to stdout. */
void cli_print_table(const struct table *t);

/* Release what cli_connect set up. */
void cli_release(struct cli *c);

/* The part of an ARN after its last '/' (a name or an id); s itself if none. */
const char *cli_short(const char *arn);

/* Epoch seconds (a JSON number) as "2026-01-02 15:04:05" UTC into out; "-" when absent. */
void cli_time(const cJSON *v, char *out, size_t size);

/* Whether a JSON request body can be built safely: appends a JSON string literal of s. */
void cli_json_str(struct buf *b, const char *s);

#define CLI_PAGES_MAX 10000

/*
 * All the items of a paginated ECS list: calls op with req (an object;
 * nextToken is set in it while paging) until no nextToken comes back, and
 * gathers the arrays under key into *ret (owned). 1 on a failure (printed).
 */
int cli_ecs_list(struct cli *c, const char *op, cJSON *req, const char *key, cJSON **ret);

/*
 * An ECS describe of many ARNs in batches (DescribeTasks takes 100, ...):
 * req plus arns_key set to each batch; the answers' result_key arrays and
 * failures are gathered into *ret as {result_key: [...], "failures": [...]}.
 */
int cli_ecs_describe(struct cli *c, const char *op, const cJSON *req, const char *arns_key,
		     const cJSON *arns, size_t batch, const char *result_key, cJSON **ret);

/* Print each of answer's failures (arn: reason: detail); 1 when there was one. */
int cli_report_failures(struct cli *c, const cJSON *answer);

/* A number member as an integer string into out; "-" when absent. */
void cli_int(const cJSON *obj, const char *key, char *out, size_t size);

/*
 * A verb that calls one operation on one named resource and prints its
 * ARN: `berth cluster rm NAME`, `berth service rm NAME [--force]`, ...
 */
struct cli_one {
	const char *prog;  /* "berth cluster rm" */
	const char *usage; /* its --help text */
	const char *what;  /* "cluster name", for "expected one cluster name" */
	const char *op;	   /* "DeleteCluster" */
	const char *key;   /* the request member naming it: "cluster" */
	bool in_cluster;   /* the request names the cluster too */
	bool force;	   /* the verb takes --force (the request's force: true) */
	const char *obj;   /* where the answer has the ARN: answer.OBJ.MEMBER */
	const char *member;
	bool short_form; /* print the ARN's last part only */
};

int cli_one_run(const struct cli_one *v, int argc, char **argv);

/* One verb of a noun. */
struct cli_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/*
 * Run the verb argv[1] of noun (argv[0]); "help", "--help" or no verb
 * print the list of verbs.
 */
int cli_dispatch(const char *noun, const struct cli_verb *verbs, size_t n, int argc, char **argv);

/* --- registry credentials of the image verbs (images.c, build.c) --- */

#define CLI_PASSWORD_MAX 16384

/*
 * A password on standard input (--password-stdin), without its line end,
 * appended to ret: 0, -EFBIG past CLI_PASSWORD_MAX bytes, -EIO.
 */
int cli_read_password(struct buf *ret);

/*
 * --username USER --password-stdin, for the verb cmd ("berth build"):
 * both or neither; the password read into password, and ret (when a user
 * is given) pointing at both. Returns 0, or the exit status after saying
 * what is wrong: 2 for bad usage, 1 when the password cannot be read.
 */
int cli_credentials(const char *cmd, const char *username, bool password_stdin,
		    struct buf *password, struct image_auth *ret);

#endif
