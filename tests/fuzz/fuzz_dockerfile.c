/*
 * fuzz_dockerfile.c: libFuzzer target over the Dockerfile parser
 * (build/dockerfile.h): the input is a Dockerfile. Whatever parses must
 * hold instructions with lines inside the text, and every instruction's
 * words must split (with variables set and unset) or fail with a message
 * naming a line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(const char *name, void *ctx)
{
	(void)ctx;
	return name[0] == 'A' ? "a value with $DOLLAR and ${BRACES}" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dockerfile df;
	struct err err = ERR_INIT;
	unsigned lines = 1;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (dockerfile_parse((const char *)data, size, &df, &err) < 0) {
		if (strncmp(err.msg, "line ", 5) != 0 &&
		    strncmp(err.msg, "the Dockerfile", 14) != 0)
			abort(); /* every error names its line */
		return 0;
	}
	for (size_t i = 0; i < df.n; i++) {
		const struct df_instr *in = &df.v[i];

		if (in->line < 1 || in->line > lines || !in->text || (in->n_args && !in->args))
			abort();
		if (in->json || !in->n_args)
			continue;
		for (int split = 0; split < 2; split++) {
			char **w = NULL;
			size_t n = 0;
			struct err e = ERR_INIT;

			if (dockerfile_words(in->args[0], df.escape, split, split ? lookup : NULL,
					     NULL, in->line, &w, &n, &e) < 0 &&
			    strncmp(e.msg, "line ", 5) != 0)
				abort();
			dockerfile_words_free(w, n);
		}
		(void)dockerfile_env_legacy(in->args[0]);
	}
	dockerfile_release(&df);
	return 0;
}
