/*
 * dockerfile.h: the Dockerfile parser of `berth build`. It reads the text
 * (untrusted: fuzzed by tests/fuzz/fuzz_dockerfile.c) into a list of
 * instructions, each with the line it starts on, and checks what can be
 * checked before a build: known instructions, their argument counts and
 * forms, flags, JSON (exec) forms, variable syntax, a FROM before
 * everything but ARG. Every error names its line ("line 7: ...").
 *
 * What it reads: parser directives at the very top (`# escape=` with '\'
 * or '`'; `# syntax=` is accepted and ignored; any other `# x=y` ends the
 * directives and is a comment), comments (a line whose first non-blank
 * character is '#'), line continuations (the escape character last on a
 * line; comment and empty lines inside a continued instruction are
 * skipped), instruction names in any case. Variables ($NAME, ${NAME},
 * ${NAME:-default}, ${NAME:+alternative}) are expanded at build time by
 * dockerfile_words, as Docker expands them: in FROM, COPY, ADD, ENV, ARG,
 * WORKDIR, USER, EXPOSE and LABEL, not in RUN, CMD or ENTRYPOINT (the
 * shell expands those).
 *
 * Supported: FROM [--platform=P] IMAGE [AS NAME], RUN, COPY and ADD
 * [--from=STAGE] [--chown=USER[:GROUP]] [--chmod=MODE], ENV, ARG,
 * WORKDIR, USER, EXPOSE, LABEL, ENTRYPOINT, CMD. Refused with an error
 * naming the line: ONBUILD, HEALTHCHECK, SHELL, STOPSIGNAL, VOLUME,
 * MAINTAINER and anything unknown; heredocs (`<<EOF`).
 *
 * Ownership: a struct dockerfile owns everything it holds; release it with
 * dockerfile_release.
 */
#ifndef BERTH_BUILD_DOCKERFILE_H
#define BERTH_BUILD_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define DOCKERFILE_MAX_BYTES	    (1u << 20)
#define DOCKERFILE_MAX_INSTRUCTIONS 4096
#define DOCKERFILE_MAX_WORDS	    4096 /* words or JSON elements of one instruction */

enum df_kind {
	DF_FROM,
	DF_RUN,
	DF_COPY,
	DF_ADD,
	DF_ENV,
	DF_ARG,
	DF_WORKDIR,
	DF_USER,
	DF_EXPOSE,
	DF_LABEL,
	DF_ENTRYPOINT,
	DF_CMD,
};

struct df_instr {
	enum df_kind kind;
	unsigned line; /* where the instruction starts, from 1 */
	/*
	 * RUN, CMD, ENTRYPOINT: exec form (json) with its elements in args,
	 * or shell form with the command text as args[0]. Others: args[0] is
	 * the raw argument text (flags removed), for dockerfile_words.
	 */
	bool json;
	char **args;
	size_t n_args;
	char *from;  /* COPY/ADD --from, FROM's platform: NULL when not given */
	char *chown; /* COPY/ADD --chown */
	char *chmod; /* COPY/ADD --chmod (octal) */
	char *text;  /* the whole instruction, continuations joined, as written */
};

struct dockerfile {
	struct df_instr *v;
	size_t n;
	char escape; /* '\\' or '`' */
};

/* The name of an instruction kind ("COPY"). */
const char *dockerfile_kind_name(enum df_kind kind);

/*
 * Parse text (len bytes, need not be NUL-terminated) into ret. On failure
 * ret holds nothing and err says "line N: what" (E_INVALID_PARAMETER).
 */
int dockerfile_parse(const char *text, size_t len, struct dockerfile *ret, struct err *err);

void dockerfile_release(struct dockerfile *df);

/* Looks a build variable up: its value, or NULL when it is not set. */
typedef const char *(*df_lookup_fn)(const char *name, void *ctx);

/*
 * Split raw (an argument text) into words as Docker does, expanding
 * variables (lookup may be NULL: nothing is set) outside single quotes and
 * removing quotes and escapes; when split is false the whole text is one
 * word (ENV's legacy "ENV NAME value with spaces"). Appends the words to
 * *ret (malloc'ed array of malloc'ed strings, *ret_n of them; the caller
 * frees both). -EINVAL (E_INVALID_PARAMETER) for an unterminated quote or
 * a bad ${...}, naming line.
 */
int dockerfile_words(const char *raw, char escape, bool split, df_lookup_fn lookup, void *ctx,
		     unsigned line, char ***ret, size_t *ret_n, struct err *err);

/*
 * Whether ENV's raw argument is the legacy form "NAME VALUE..." (its first
 * word has no '='): then its value is the rest of the text, one word.
 */
bool dockerfile_env_legacy(const char *raw);

/* Free what dockerfile_words returned. */
void dockerfile_words_free(char **words, size_t n);

#endif
