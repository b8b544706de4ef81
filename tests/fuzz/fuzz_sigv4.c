/*
 * fuzz_sigv4.c: libFuzzer target over SigV4 verification, the first code
 * that reads an unauthenticated request: the Authorization header parser,
 * the presigned query parser, path and query canonicalisation and date
 * parsing.
 *
 * Input: fields separated by newlines: method, path, query, Authorization,
 * X-Amz-Date, X-Amz-Content-Sha256, then the body (the rest).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fields {
	char *v[6];
};

static const char *header(void *ctx, const char *name)
{
	struct fields *f = ctx;

	if (!strcasecmp(name, "authorization"))
		return f->v[3];
	if (!strcasecmp(name, "x-amz-date"))
		return f->v[4];
	if (!strcasecmp(name, "x-amz-content-sha256"))
		return f->v[5][0] ? f->v[5] : NULL;
	if (!strcasecmp(name, "host"))
		return "127.0.0.1:9400";
	if (!strcasecmp(name, "content-type"))
		return "application/x-amz-json-1.1";
	return NULL;
}

static const char *secret(void *ctx, const char *access_key)
{
	(void)ctx;
	return !strcmp(access_key, "AKIDEXAMPLE") ? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
						  : NULL;
}

/*
 * The clock: the request's own X-Amz-Date when it parses, so that the
 * corpus' validly signed seeds get past the freshness check forever; the
 * staleness checks are still reached through mutated dates.
 */
static time_t clock_for(const char *amz_date)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(amz_date, "%Y%m%dT%H%M%SZ", &tm);
	if (!end || *end)
		return 1704067200; /* 20240101T000000Z */
	return timegm(&tm) + 60;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *p, *body;
	struct fields f;
	struct sigv4_request req;
	struct sigv4_identity id;
	struct err err = ERR_INIT;
	int i;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	p = copy;
	for (i = 0; i < 6; i++) {
		char *nl = strchr(p, '\n');

		f.v[i] = p;
		if (nl) {
			*nl = '\0';
			p = nl + 1;
		} else {
			p += strlen(p);
		}
	}
	body = p;
	req = (struct sigv4_request){
		.method = f.v[0],
		.path = f.v[1][0] ? f.v[1] : "/",
		.query = f.v[2],
		.header = header,
		.header_ctx = &f,
		.body = body,
		.body_len = size - (size_t)(body - copy),
	};
	if (sigv4_verify(&req, secret, NULL, clock_for(f.v[4]), &id, &err) < 0 &&
	    err.kind == E_NONE)
		abort();
	free(copy);
	return 0;
}
