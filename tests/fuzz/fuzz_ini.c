/*
 * fuzz_ini.c: libFuzzer target over the INI files the CLI reads
 * (~/.aws/credentials, ~/.aws/config, berth's config: any file a user or
 * an environment variable points at): ini_parse must accept or refuse
 * every input without reading outside it, every key it reports must fit
 * its limits, and ini_get must agree with what ini_parse reported.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct last {
	char section[INI_SECTION_MAX + 1];
	char key[2 * INI_KEY_MAX + 2];
	char value[INI_LINE_MAX + 1];
	size_t n;
};

static int check(void *ctx, const char *section, const char *key, const char *value)
{
	struct last *l = ctx;

	if (strlen(section) > INI_SECTION_MAX || strlen(key) == 0 ||
	    strlen(key) > 2 * INI_KEY_MAX + 1 || strlen(value) > INI_LINE_MAX)
		abort();
	memcpy(l->section, section, strlen(section) + 1);
	memcpy(l->key, key, strlen(key) + 1);
	memcpy(l->value, value, strlen(value) + 1);
	l->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct last l;
	static char got[INI_LINE_MAX + 1];
	struct err err = ERR_INIT;
	int r;

	memset(&l, 0, sizeof(l));
	r = ini_parse((const char *)data, size, check, &l, &err);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r == 0 && l.n > 0) {
		/* the last key reported is what a lookup of it finds (the last one wins) */
		if (ini_get((const char *)data, size, l.section, l.key, got, sizeof(got), &err) !=
			    1 ||
		    strcmp(got, l.value) != 0)
			abort();
	}
	return 0;
}
