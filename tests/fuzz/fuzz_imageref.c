/*
 * fuzz_imageref.c: libFuzzer target over what the agent reads from task
 * definitions and registries before trusting anything: image references
 * (image_ref_parse) and the platform choice in an image index
 * (pull_select_platform). Input: a reference, a newline, an index document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/images.h"
#include "agent/pull.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	char *ref = malloc(n + 1);
	struct image_ref parsed;
	struct err err = ERR_INIT;

	if (!ref)
		return 0;
	memcpy(ref, data, n);
	ref[n] = 0;
	image_ref_parse(ref, &parsed, &err);
	free(ref);
	if (nl) {
		cJSON *index = cJSON_ParseWithLength((const char *)nl + 1, size - n - 1);
		char digest[LAYER_DIGEST_SIZE];
		const char *mt;

		if (index) {
			pull_select_platform(index, "linux", "amd64", NULL, digest, &mt, &err);
			pull_select_platform(index, "linux", "arm64", "v8", digest, &mt, &err);
			cJSON_Delete(index);
		}
	}
	return 0;
}
