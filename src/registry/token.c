/*
 * token.c: ECR authorization tokens. GetAuthorizationToken hands out
 * base64("AWS:" + password), and registry clients send the password back
 * as HTTP basic auth for user "AWS". The password carries who it was issued
 * to and until when, signed with that key's secret:
 *
 *   base64url("ACCESS_KEY:EXPIRES_AT") "." hex(HMAC-SHA256(secret, "berth-ecr-token:" payload))
 *
 * so the server checks it without storing tokens, and removing a key from
 * the server's credentials revokes every token issued to it.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/sigv4.h"
#include "core/util.h"
#include "registry/registry.h"
#include "core/banned.h"

#define TOKEN_MAX 1024

static int sign(const char *secret, const char *payload, char ret_hex[65], struct err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	struct buf data = BUF_INIT;
	unsigned i;

	buf_printf(&data, "berth-ecr-token:%s", payload);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)data.data,
		  data.len, mac, &len) ||
	    len != 32) {
		buf_release(&data);
		return err_set(err, -EIO, E_SERVER, "HMAC-SHA256 failed");
	}
	buf_release(&data);
	for (i = 0; i < 32; i++) {
		ret_hex[2 * i] = hex[mac[i] >> 4];
		ret_hex[2 * i + 1] = hex[mac[i] & 15];
	}
	ret_hex[64] = '\0';
	return 0;
}

int registry_token_new(const struct registry *r, const char *access_key, int64_t expires_at,
		       struct buf *ret_token, struct err *err)
{
	const char *secret = credentials_secret(&r->api->creds, access_key);
	struct buf payload = BUF_INIT, password = BUF_INIT;
	char mac[65];
	int ret;

	if (!secret)
		return err_set(err, -EACCES, E_UNRECOGNIZED_CLIENT,
			       "The security token included in the request is invalid.");
	buf_printf(&payload, "%s:%lld", access_key, (long long)expires_at);
	ret = sign(secret, buf_str(&payload), mac, err);
	if (ret == 0) {
		buf_puts(&password, "AWS:");
		base64_encode(&password, payload.data, payload.len, true);
		buf_printf(&password, ".%s", mac);
		base64_encode(ret_token, password.data, password.len, false);
	}
	buf_release(&payload);
	buf_release(&password);
	return ret;
}

int registry_token_check(const struct registry *r, const char *password, int64_t now,
			 char *ret_access_key, struct err *err)
{
	const char *dot = password ? strrchr(password, '.') : NULL;
	struct buf payload = BUF_INIT;
	const char *secret, *colon;
	char mac[65], key[CREDENTIAL_FIELD_MAX + 1];
	int64_t expires;
	size_t klen;
	int ret = -EACCES;

	if (!dot || strlen(password) > TOKEN_MAX || strlen(dot + 1) != 64 ||
	    base64_decode(&payload, password, (size_t)(dot - password)) < 0 ||
	    strlen(buf_str(&payload)) != payload.len)
		goto bad;
	colon = strrchr(buf_str(&payload), ':');
	if (!colon || parse_int64(colon + 1, 0, INT64_MAX, &expires) < 0)
		goto bad;
	klen = (size_t)(colon - payload.data);
	if (klen == 0 || klen > CREDENTIAL_FIELD_MAX)
		goto bad;
	memcpy(key, payload.data, klen);
	key[klen] = '\0';
	secret = credentials_secret(&r->api->creds, key);
	if (!secret || sign(secret, buf_str(&payload), mac, err) < 0 ||
	    CRYPTO_memcmp(mac, dot + 1, 64) != 0)
		goto bad;
	if (expires <= now) {
		buf_release(&payload);
		return err_set(err, -EACCES, E_OCI_UNAUTHORIZED,
			       "authentication required: the authorization token has expired");
	}
	if (ret_access_key)
		memcpy(ret_access_key, key, klen + 1);
	ret = 0;
bad:
	buf_release(&payload);
	if (ret < 0)
		return err_set(err, ret, E_OCI_UNAUTHORIZED,
			       "authentication required: the credentials are not a valid "
			       "authorization token");
	return 0;
}

int registry_auth_basic(const struct registry *r, const char *authorization, int64_t now,
			struct err *err)
{
	struct buf decoded = BUF_INIT;
	const char *p;
	int ret;

	if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
		return err_set(err, -EACCES, E_OCI_UNAUTHORIZED, "authentication required");
	p = authorization + 6;
	while (*p == ' ')
		p++;
	if (strlen(p) > 2 * TOKEN_MAX || base64_decode(&decoded, p, strlen(p)) < 0 ||
	    strlen(buf_str(&decoded)) != decoded.len || strncmp(buf_str(&decoded), "AWS:", 4)) {
		buf_release(&decoded);
		return err_set(err, -EACCES, E_OCI_UNAUTHORIZED,
			       "authentication required: user must be 'AWS' with an ECR "
			       "authorization token as password");
	}
	ret = registry_token_check(r, buf_str(&decoded) + 4, now, NULL, err);
	buf_release(&decoded);
	return ret;
}

static const char *request_header(void *ctx, const char *name)
{
	return http_header(ctx, name);
}

static const char *lookup_secret(void *ctx, const char *access_key)
{
	return credentials_secret(ctx, access_key);
}

int registry_auth_request(const struct registry *r, struct http_request *req, int64_t now,
			  bool *ret_presigned, struct err *err)
{
	const char *authorization = http_header(req, "Authorization");
	struct sigv4_request sreq;
	struct sigv4_identity id;
	int ret;

	*ret_presigned = false;
	if (authorization || !req->query || !strstr(req->query, "X-Amz-Signature="))
		return registry_auth_basic(r, authorization, now, err);
	sreq = (struct sigv4_request){
		.method = req->method,
		.path = req->path,
		.query = req->query,
		.header = request_header,
		.header_ctx = req,
		.body = "",
		.body_len = 0,
	};
	ret = sigv4_verify(&sreq, lookup_secret, (void *)&r->api->creds, (time_t)now, &id, err);
	if (ret == 0 && (strcmp(id.service, "ecr") || strcmp(id.region, r->api->region)))
		ret = -EACCES;
	if (ret < 0)
		return err_set(err, -EACCES, E_OCI_UNAUTHORIZED,
			       "authentication required: the presigned URL is not valid (%s)",
			       ret == -EACCES && err->kind == E_NONE ? "wrong scope" : err->msg);
	*ret_presigned = true;
	return 0;
}

int registry_presign_url(const struct registry *r, const char *access_key, const char *path,
			 int64_t now, unsigned expires, struct buf *ret_url, struct err *err)
{
	const char *secret = credentials_secret(&r->api->creds, access_key);
	const struct sigv4_header host = { "host", r->endpoint };
	struct sigv4_sign_request sreq = {
		.method = "GET",
		.path = path,
		.headers = &host,
		.n_headers = 1,
	};
	struct sigv4_credentials cred = { .access_key = access_key, .secret = secret };
	struct buf query = BUF_INIT;
	int ret;

	if (!secret)
		return err_set(err, -EACCES, E_UNRECOGNIZED_CLIENT,
			       "The security token included in the request is invalid.");
	ret = sigv4_presign(&sreq, &cred, r->api->region, "ecr", (time_t)now, expires, &query, err);
	if (ret == 0)
		buf_printf(ret_url, "http://%s%s?%s", r->endpoint, path, buf_str(&query));
	buf_release(&query);
	return ret;
}
