/*
 * api_fixture.h: the fixture of the unit tests that drive an API through
 * api_dispatch: a SQLite store in a temporary directory and a struct
 * api_server over it, optionally with a registry in the same directory;
 * call_status, ok, fails and count_keys over it.
 *
 * Each test file's setup calls api_fixture_setup with its options (its own
 * temporary directory prefix, the service, whether a registry is set up,
 * how fails matches messages); teardown is shared. Include it before
 * core/banned.h, from one test .c file.
 *
 * Request bodies are written with ' for " to keep them readable.
 */
#ifndef BERTH_TESTS_API_FIXTURE_H
#define BERTH_TESTS_API_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "api/http.h"
#include "core/buf.h"
#include "core/json.h"
#include "registry/registry.h"
#include "store/store.h"

struct api_fixture_opts {
	const char *dir_template;	   /* for mkdtemp: "/tmp/berth-test-xx-XXXXXX" */
	const struct api_service *service; /* what call_status dispatches to */
	bool registry;			   /* also credentials and a registry in dir */
	bool msg_substring;		   /* fails: the message need only contain msg */
};

struct fixture {
	char dir[64];
	struct store *store;
	struct api_server srv;
	struct registry reg; /* set up only with opts.registry */
	const struct api_fixture_opts *opts;
};

static struct credential api_fixture_pairs[] = {
	{ "AKID", "secret" },
};

static int api_fixture_setup(void **state, const struct api_fixture_opts *opts)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err err = ERR_INIT;

	f->opts = opts;
	snprintf(f->dir, sizeof(f->dir), "%s", opts->dir_template);
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open_sqlite(f->dir, &f->store, &err), 0);
	f->srv.store = f->store;
	if (opts->registry) {
		f->srv.creds.pairs = api_fixture_pairs;
		f->srv.creds.n = 1;
	}
	snprintf(f->srv.region, sizeof(f->srv.region), "%s", API_DEFAULT_REGION);
	snprintf(f->srv.account_id, sizeof(f->srv.account_id), "%s", API_DEFAULT_ACCOUNT_ID);
	if (opts->registry) {
		assert_int_equal(registry_init(&f->reg, &f->srv, f->dir, &err), 0);
		snprintf(f->reg.endpoint, sizeof(f->reg.endpoint), "127.0.0.1:9400");
		f->srv.registry = &f->reg;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f->opts->registry)
		registry_release(&f->reg);
	store_free(f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Call op with body (' standing for "); return the parsed answer, status in *ret_status. */
static cJSON *call_status(struct fixture *f, const char *op, const char *body, int *ret_status)
{
	struct http_response resp;
	char *json = strdup(body);
	cJSON *out;

	for (char *p = json; *p; p++)
		if (*p == '\'')
			*p = '"';
	memset(&resp, 0, sizeof(resp));
	api_dispatch(&f->srv, f->opts->service, op, json, strlen(json), "AKID", NULL, &resp);
	out = cJSON_Parse(buf_str(&resp.body));
	if (!out)
		fail_msg("%s answered non-JSON: %s", op, buf_str(&resp.body));
	*ret_status = resp.status;
	buf_release(&resp.body);
	free(json);
	return out;
}

/* The call succeeds; the answer is the caller's. */
static cJSON *ok(struct fixture *f, const char *op, const char *body)
{
	int status;
	cJSON *out = call_status(f, op, body, &status);

	if (status != 200) {
		char *s = cJSON_PrintUnformatted(out);

		fail_msg("%s %s: %d %s", op, body, status, s);
	}
	return out;
}

/*
 * The call fails with __type type and exactly msg, or with opts.msg_substring
 * a message containing msg (NULL: any message).
 */
static void fails(struct fixture *f, const char *op, const char *body, const char *type,
		  const char *msg)
{
	int status;
	cJSON *out = call_status(f, op, body, &status);

	if (status != 400 || strcmp(json_str(out, "__type"), type) ||
	    (msg && (f->opts->msg_substring ? !strstr(json_str(out, "message"), msg)
					    : strcmp(json_str(out, "message"), msg) != 0))) {
		char *s = cJSON_PrintUnformatted(out);

		fail_msg("%s %s\n  answered %d %s\n  expected %s: %s", op, body, status, s, type,
			 msg ? msg : "(any)");
	}
	cJSON_Delete(out);
}

static int count_one(void *arg, const struct store_kv *kv)
{
	(void)kv;
	(*(int *)arg)++;
	return 0;
}

/* How many keys the store holds under prefix. */
static int count_keys(struct fixture *f, const char *prefix)
{
	struct err err = ERR_INIT;
	int n = 0;

	assert_int_equal(store_scan(f->store, prefix, NULL, count_one, &n, &err), 0);
	return n;
}

#endif
