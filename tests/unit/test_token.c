/*
 * test_token.c: ECR authorization tokens: issued, checked, expired, forged,
 * revoked with their key, and sent as HTTP basic auth.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/base64.h"
#include "registry/registry.h"

static struct credential pairs[] = {
	{ "AKIDONE", "secret-one" },
	{ "AKIDTWO", "secret-two" },
};

static void setup_registry(struct registry *r, struct api_server *api, size_t n_keys)
{
	memset(api, 0, sizeof(*api));
	memset(r, 0, sizeof(*r));
	api->creds.pairs = pairs;
	api->creds.n = n_keys;
	r->api = api;
}

/* The password inside a token: what follows "AWS:" in its base64. */
static char *password_of(const struct buf *token)
{
	struct buf d = BUF_INIT;
	char *p;

	assert_int_equal(base64_decode(&d, token->data, token->len), 0);
	assert_true(strncmp(buf_str(&d), "AWS:", 4) == 0);
	p = strdup(buf_str(&d) + 4);
	buf_release(&d);
	return p;
}

static void test_round_trip_and_expiry(void **state)
{
	struct api_server api;
	struct registry r;
	struct buf token = BUF_INIT;
	struct err err = ERR_INIT;
	char key[CREDENTIAL_FIELD_MAX + 1];
	char *pw;

	(void)state;
	setup_registry(&r, &api, 2);
	assert_int_equal(registry_token_new(&r, "AKIDTWO", 1000, &token, &err), 0);
	pw = password_of(&token);
	assert_int_equal(registry_token_check(&r, pw, 999, key, &err), 0);
	assert_string_equal(key, "AKIDTWO");
	assert_int_equal(registry_token_check(&r, pw, 1000, key, &err), -EACCES);
	assert_int_equal(err.kind, E_OCI_UNAUTHORIZED);
	assert_non_null(strstr(err.msg, "expired"));
	free(pw);
	buf_release(&token);
}

static void test_forged_and_revoked(void **state)
{
	struct api_server api;
	struct registry r;
	struct buf token = BUF_INIT;
	struct err err = ERR_INIT;
	char *pw, last;
	size_t n;

	(void)state;
	setup_registry(&r, &api, 2);
	assert_int_equal(registry_token_new(&r, "AKIDTWO", 5000, &token, &err), 0);
	pw = password_of(&token);
	n = strlen(pw);
	/* a changed signature */
	last = pw[n - 1];
	pw[n - 1] = last == '0' ? '1' : '0';
	assert_int_equal(registry_token_check(&r, pw, 10, NULL, &err), -EACCES);
	pw[n - 1] = last;
	assert_int_equal(registry_token_check(&r, pw, 10, NULL, &err), 0);
	/* the key leaves the server's credentials: its tokens stop working */
	setup_registry(&r, &api, 1);
	assert_int_equal(registry_token_check(&r, pw, 10, NULL, &err), -EACCES);
	/* unknown keys get no token */
	assert_int_equal(registry_token_new(&r, "AKIDNOPE", 5000, &token, &err), -EACCES);
	/* garbage */
	assert_int_equal(registry_token_check(&r, "", 10, NULL, &err), -EACCES);
	assert_int_equal(registry_token_check(&r, "a.b", 10, NULL, &err), -EACCES);
	assert_int_equal(registry_token_check(&r, NULL, 10, NULL, &err), -EACCES);
	free(pw);
	buf_release(&token);
}

static void test_basic_auth(void **state)
{
	struct api_server api;
	struct registry r;
	struct buf token = BUF_INIT, header = BUF_INIT, other = BUF_INIT;
	struct err err = ERR_INIT;

	(void)state;
	setup_registry(&r, &api, 2);
	assert_int_equal(registry_token_new(&r, "AKIDONE", 5000, &token, &err), 0);
	buf_printf(&header, "Basic %s", buf_str(&token));
	assert_int_equal(registry_auth_basic(&r, buf_str(&header), 10, &err), 0);
	assert_int_equal(registry_auth_basic(&r, NULL, 10, &err), -EACCES);
	assert_int_equal(registry_auth_basic(&r, "Bearer x", 10, &err), -EACCES);
	/* another user name */
	base64_encode(&other, "bob:x", 5, false);
	buf_reset(&header);
	buf_printf(&header, "Basic %s", buf_str(&other));
	assert_int_equal(registry_auth_basic(&r, buf_str(&header), 10, &err), -EACCES);
	assert_int_equal(err.kind, E_OCI_UNAUTHORIZED);
	buf_release(&token);
	buf_release(&header);
	buf_release(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_expiry),
		cmocka_unit_test(test_forged_and_revoked),
		cmocka_unit_test(test_basic_auth),
	};

	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
