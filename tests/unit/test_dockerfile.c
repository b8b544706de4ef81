/*
 * test_dockerfile.c: the Dockerfile parser: instructions with their lines
 * through continuations, comments and blank lines; parser directives
 * (escape, syntax) only at the top; exec and shell forms; flags; word
 * splitting with quotes, escapes and variables (${X:-d}, ${X:+a}); and
 * every refusal naming the line it is about.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/dockerfile.h"

static int parse(const char *text, struct dockerfile *df, struct err *err)
{
	return dockerfile_parse(text, strlen(text), df, err);
}

static void test_lines_and_continuations(void **state)
{
	struct dockerfile df;
	struct err err = ERR_INIT;
	const char *text = "# a comment\n"
			   "\n"
			   "from busybox AS base\n"
			   "RUN echo a \\\n"
			   "  # a comment inside\n"
			   "\n"
			   "    && echo b\n"
			   "  COPY --chown=1:2 --chmod=644 a b /dst/\n"
			   "CMD [\"sh\", \"-c\", \"echo hi\"]\n"
			   "ENTRYPOINT [not json\n"
			   "EXPOSE 80 443/udp";

	(void)state;
	assert_int_equal(parse(text, &df, &err), 0);
	assert_int_equal(df.n, 6);
	assert_int_equal(df.escape, '\\');
	assert_int_equal(df.v[0].kind, DF_FROM);
	assert_int_equal(df.v[0].line, 3);
	assert_string_equal(df.v[0].args[0], "busybox AS base");
	assert_int_equal(df.v[1].kind, DF_RUN);
	assert_int_equal(df.v[1].line, 4);
	assert_false(df.v[1].json);
	assert_string_equal(df.v[1].args[0], "echo a     && echo b");
	assert_int_equal(df.v[2].kind, DF_COPY);
	assert_int_equal(df.v[2].line, 8);
	assert_string_equal(df.v[2].chown, "1:2");
	assert_string_equal(df.v[2].chmod, "644");
	assert_null(df.v[2].from);
	assert_string_equal(df.v[2].args[0], "a b /dst/");
	assert_true(df.v[3].json);
	assert_int_equal(df.v[3].n_args, 3);
	assert_string_equal(df.v[3].args[2], "echo hi");
	/* not JSON: the shell form, as Docker reads it */
	assert_false(df.v[4].json);
	assert_string_equal(df.v[4].args[0], "[not json");
	assert_int_equal(df.v[5].line, 11);
	dockerfile_release(&df);
}

static void test_directives(void **state)
{
	struct dockerfile df;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(
		parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nRUN a `\n b\n", &df,
		      &err),
		0);
	assert_int_equal(df.escape, '`');
	assert_int_equal(df.n, 2);
	assert_string_equal(df.v[1].args[0], "a  b");
	dockerfile_release(&df);
	/* after anything else, a directive is a comment */
	assert_int_equal(parse("FROM scratch\n# escape=`\nRUN a \\\n b\n", &df, &err), 0);
	assert_int_equal(df.escape, '\\');
	assert_string_equal(df.v[1].args[0], "a  b");
	dockerfile_release(&df);
	assert_int_equal(parse("# escape=x\nFROM scratch\n", &df, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 1: invalid escape"));
}

static const char *vars(const char *name, void *ctx)
{
	(void)ctx;
	if (!strcmp(name, "NAME"))
		return "web app";
	if (!strcmp(name, "EMPTY"))
		return "";
	return NULL;
}

static void test_words(void **state)
{
	char **w = NULL;
	size_t n = 0;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(dockerfile_words("a \"b c\" 'd $NAME' $NAME ${NAME}x \\$NAME e\\ f", '\\',
					  true, vars, NULL, 1, &w, &n, &err),
			 0);
	assert_int_equal(n, 7);
	assert_string_equal(w[0], "a");
	assert_string_equal(w[1], "b c");
	assert_string_equal(w[2], "d $NAME");
	assert_string_equal(w[3], "web app"); /* an expansion is not split again */
	assert_string_equal(w[4], "web appx");
	assert_string_equal(w[5], "$NAME");
	assert_string_equal(w[6], "e f");
	dockerfile_words_free(w, n);

	w = NULL;
	n = 0;
	assert_int_equal(
		dockerfile_words("${MISSING:-dflt} ${EMPTY:-e} ${NAME:+set} ${MISSING:+x}y "
				 "K=\"v w\" $ lone",
				 '\\', true, vars, NULL, 1, &w, &n, &err),
		0);
	assert_int_equal(n, 7);
	assert_string_equal(w[0], "dflt");
	assert_string_equal(w[1], "e");
	assert_string_equal(w[2], "set");
	assert_string_equal(w[3], "y");
	assert_string_equal(w[4], "K=v w");
	assert_string_equal(w[5], "$");
	assert_string_equal(w[6], "lone");
	dockerfile_words_free(w, n);

	/* one word: ENV's legacy form keeps the inner blanks */
	w = NULL;
	n = 0;
	assert_int_equal(dockerfile_words("  a  b  ", '\\', false, NULL, NULL, 1, &w, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(w[0], "a  b");
	dockerfile_words_free(w, n);

	w = NULL;
	n = 0;
	assert_int_equal(dockerfile_words("\"open", '\\', true, NULL, NULL, 7, &w, &n, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "line 7: unterminated double quote");
	dockerfile_words_free(w, n);
	w = NULL;
	n = 0;
	assert_int_equal(dockerfile_words("${NAME", '\\', true, NULL, NULL, 3, &w, &n, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "line 3: missing '}' after '${NAME'");
	dockerfile_words_free(w, n);
	w = NULL;
	n = 0;
	assert_int_equal(dockerfile_words("${NAME/x/y}", '\\', true, NULL, NULL, 4, &w, &n, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "line 4: unsupported modifier"));
	dockerfile_words_free(w, n);
}

static void test_env_forms(void **state)
{
	(void)state;
	assert_true(dockerfile_env_legacy("PATH /usr/bin:/bin"));
	assert_true(dockerfile_env_legacy("X a=b"));
	assert_false(dockerfile_env_legacy("A=1 B=2"));
}

/* Each bad Dockerfile, the line its error names, and words the message has. */
static void test_errors_name_the_line(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "FROM a\nBOGUS x\n", "line 2: unknown instruction 'BOGUS'" },
		{ "RUN x\n", "line 1: RUN before the first FROM" },
		{ "# c\n\n", "line 1: the Dockerfile has no FROM" },
		{ "ARG A\n", "line 1: the Dockerfile has no FROM" },
		{ "FROM a\nRUN\n", "line 2: RUN needs an argument" },
		{ "FROM a\nRUN []\n", "line 2: RUN [] has no command" },
		{ "FROM a\nCOPY x\n", "line 2: COPY needs at least one source and a destination" },
		{ "FROM a\nCOPY [\"x\"]\n", "line 2: COPY needs at least one source" },
		{ "FROM a\nCOPY --bogus=1 x y\n", "line 2: unknown flag '--bogus' for COPY" },
		{ "FROM a\nCOPY --from=a --from=b x y\n", "line 2: flag '--from' given twice" },
		{ "FROM a\nCOPY --chown= x y\n", "line 2: flag '--chown' needs a value" },
		{ "FROM --from=x a\n", "line 1: unknown flag '--from' for FROM" },
		{ "FROM a b\n", "line 1: FROM takes IMAGE [AS NAME]" },
		{ "FROM a\nENV X\n", "line 2: ENV X has no value" },
		{ "FROM a\nLABEL nolabel\n", "line 2: LABEL expects NAME=VALUE, not 'nolabel'" },
		{ "FROM a\nARG A B\n", "line 2: ARG takes one NAME[=DEFAULT]" },
		{ "FROM a\nUSER a b\n", "line 2: USER takes one USER[:GROUP]" },
		{ "FROM a\n\nRUN \\\n echo \"x\nHEALTHCHECK NONE\n",
		  "line 5: HEALTHCHECK is not supported" },
		{ "FROM a\nRUN cat <<EOF\n", "line 2: heredocs (<<) are not supported" },
		{ "FROM a\nENV A=\"x\n", "line 2: unterminated double quote" },
		{ "FROM a\nVOLUME /x\n", "line 2: VOLUME is not supported" },
		{ "FROM a\nRUN a\0b\n", "line 2: a NUL byte" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dockerfile df = { 0 };
		struct err err = ERR_INIT;
		size_t len = strlen(cases[i].text);

		if (strstr(cases[i].msg, "NUL"))
			len = 16; /* "FROM a\nRUN a\0b\n" */
		if (dockerfile_parse(cases[i].text, len, &df, &err) == 0)
			fail_msg("case %zu parsed: %s", i, cases[i].text);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: wanted '%s', got '%s'", i, cases[i].msg, err.msg);
		assert_null(df.v);
	}
}

static void test_limits(void **state)
{
	struct dockerfile df;
	struct err err = ERR_INIT;
	size_t n = DOCKERFILE_MAX_BYTES + 1;
	char *big = malloc(n);

	(void)state;
	memset(big, '#', n);
	assert_int_equal(dockerfile_parse(big, n, &df, &err), -EFBIG);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_and_continuations),
		cmocka_unit_test(test_directives),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_env_forms),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
