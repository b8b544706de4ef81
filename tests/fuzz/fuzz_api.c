/*
 * fuzz_api.c: libFuzzer target over request handling after authentication:
 * operation routing, JSON parsing, validation against the model, and the
 * ECS handlers (cluster and task definition validation among them).
 *
 * Input: the X-Amz-Target value, a newline, then the request body. The store
 * lives in /dev/shm so commits are cheap, and is removed at exit; it is
 * shared by all runs, which also exercises handlers against whatever earlier
 * inputs stored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http.h"
#include "store/logdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api_server srv;
static char dir[] = "/dev/shm/berth-fuzz-XXXXXX";

static void cleanup(void)
{
	char cmd[64];

	store_free(srv.store);
	logdb_free(srv.logs);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void init(void)
{
	struct err err = ERR_INIT;

	if (!mkdtemp(dir))
		abort();
	snprintf(srv.region, sizeof(srv.region), "us-east-1");
	snprintf(srv.account_id, sizeof(srv.account_id), "000000000000");
	if (store_open_sqlite(dir, &srv.store, &err) < 0 || logdb_open(dir, &srv.logs, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct api_service *svc;
	struct http_response resp;
	struct err err = ERR_INIT;
	const uint8_t *nl;
	const char *op;
	char target[160];
	size_t n;

	if (!srv.store)
		init();
	nl = memchr(data, '\n', size);
	if (!nl)
		return 0;
	n = (size_t)(nl - data);
	if (n >= sizeof(target))
		return 0;
	memcpy(target, data, n);
	target[n] = '\0';
	if (api_route(target, &svc, &op, &err) < 0) {
		if (err.kind != E_UNKNOWN_OPERATION)
			abort();
		return 0;
	}
	memset(&resp, 0, sizeof(resp));
	api_dispatch(&srv, svc, op, (const char *)nl + 1, size - n - 1, "AKIDFUZZ", NULL, &resp);
	if (resp.status < 200 || resp.status >= 600)
		abort();
	/* a 5xx is a bug for any input: client mistakes must be 4xx */
	if (resp.status >= 500)
		abort();
	buf_release(&resp.body);
	return 0;
}
