/*
 * fuzz_imageref.c: libFuzzer target over what the agent reads from task
 * definitions and registries before trusting anything: image references
 * (image_ref_parse, and its canonical form, which must read back as
 * itself), a registry's WWW-Authenticate challenge (pull_challenge_param),
 * the same line as a Retry-After header (httpc_retry_after_ms, and the
 * delay pull_retry_delay_ms makes of it, which must stay within its cap)
 * and the platform choice in an image index (pull_select_platform).
 * Input: a reference, a newline, a challenge, a newline, an index document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/images.h"
#include "agent/pull.h"
#include "core/httpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of [*p, end) as a new C string; *p moves past it. */
static char *line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, *p, n);
		s[n] = 0;
	}
	*p += nl ? n + 1 : n;
	return s;
}

static void reference(const char *ref)
{
	struct image_ref parsed, again;
	char canonical[IMAGE_REF_STR_MAX], twice[IMAGE_REF_STR_MAX];
	struct err err = ERR_INIT;

	if (image_ref_parse(ref, &parsed, &err) < 0)
		return;
	image_ref_format(&parsed, canonical);
	/* what the store records must name the same image when read back */
	if (image_ref_parse(canonical, &again, &err) < 0)
		abort();
	image_ref_format(&again, twice);
	if (strcmp(canonical, twice) != 0 || strcmp(parsed.registry, again.registry) != 0 ||
	    strcmp(parsed.repository, again.repository) != 0)
		abort();
	(void)pull_host_is_loopback(parsed.registry);
}

static void challenge(const char *ch)
{
	static const char *const names[] = { "realm", "service", "scope", "error" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct buf out = BUF_INIT;

		if (pull_challenge_param(ch, names[i], &out) && out.len > strlen(ch))
			abort(); /* a value is never longer than the challenge */
		buf_release(&out);
	}
}

static void retry_after(const char *value)
{
	struct httpc_response r;
	int64_t ms, delay;

	httpc_response_init(&r);
	buf_printf(&r.headers, "Retry-After: %s\r\n", value);
	ms = httpc_retry_after_ms(&r, INT64_C(1700000000000));
	if (ms < -1)
		abort();
	delay = pull_retry_delay_ms(1, ms);
	if (delay < 0 || delay > PULL_RETRY_AFTER_MAX_MS)
		abort();
	httpc_response_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *ref = line(&p, end), *ch = line(&p, end);

	if (ref)
		reference(ref);
	if (ch) {
		challenge(ch);
		retry_after(ch);
	}
	free(ref);
	free(ch);
	if (p < end) {
		cJSON *index = cJSON_ParseWithLength((const char *)p, (size_t)(end - p));
		char digest[LAYER_DIGEST_SIZE];
		const char *mt;
		struct err err = ERR_INIT;

		if (index) {
			pull_select_platform(index, "linux", "amd64", NULL, digest, &mt, &err);
			pull_select_platform(index, "linux", "arm64", "v8", digest, &mt, &err);
			cJSON_Delete(index);
		}
	}
	return 0;
}
