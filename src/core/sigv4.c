/*
 * sigv4.c: AWS Signature Version 4 verification and signing. The canonical
 * request is built the same way for both sides (build_canonical), from the
 * method, the path, the query split into raw parameters and the signed
 * headers; the verifier parses the Authorization header or the presigned
 * query, checks the clock, derives (or finds in a small cache) the signing
 * key of the credential scope and compares signatures in constant time.
 */
#include "core/sigv4.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/cleanup.h"
#include "core/banned.h"

#define SHA256_LEN	 32
#define HEX_LEN		 64
#define SCOPE_TERMINATOR "aws4_request"
#define MAX_METHOD	 32
#define MAX_SCOPE_PART	 64
#define MAX_ACCESS_KEY	 128
/* How much of a client's bad value an error message quotes. */
#define MAX_QUOTE 160

static const char hex_digits[] = "0123456789abcdef";

/* A length-delimited piece of a string that is not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

static bool span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* ---- libcrypto ---------------------------------------------------------- */

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;
/* An HMAC context with its digest set, duplicated for each MAC: setting the
 * digest by name costs a provider fetch each time. */
static EVP_MAC_CTX *hmac_proto;

static void crypto_init(void)
{
	OSSL_PARAM params[2];
	EVP_MAC *mac;

	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return;
	hmac_proto = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (!hmac_proto)
		return;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hmac_proto, params)) {
		EVP_MAC_CTX_free(hmac_proto);
		hmac_proto = NULL;
	}
}

static int crypto_ready(struct err *err)
{
	pthread_once(&crypto_once, crypto_init);
	if (!md_sha256 || !hmac_proto)
		return err_set(err, -EIO, E_SERVER, "libcrypto offers no HMAC-SHA256");
	return 0;
}

static int sha256(const void *data, size_t n, uint8_t out[SHA256_LEN], struct err *err)
{
	if (!EVP_Digest(n ? data : "", n, out, NULL, md_sha256, NULL))
		return err_set(err, -EIO, E_SERVER, "SHA-256 failed");
	return 0;
}

static int hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t n,
		       uint8_t out[SHA256_LEN], struct err *err)
{
	EVP_MAC_CTX *ctx;
	size_t len = 0;
	int ok;

	ctx = EVP_MAC_CTX_dup(hmac_proto);
	if (!ctx)
		return err_set(err, -EIO, E_SERVER, "HMAC-SHA256 failed");
	ok = EVP_MAC_init(ctx, key, key_len, NULL) && EVP_MAC_update(ctx, n ? data : "", n) &&
	     EVP_MAC_final(ctx, out, &len, SHA256_LEN) && len == SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	if (!ok)
		return err_set(err, -EIO, E_SERVER, "HMAC-SHA256 failed");
	return 0;
}

static int hmac_str(const uint8_t *key, size_t key_len, const char *s, uint8_t out[SHA256_LEN],
		    struct err *err)
{
	return hmac_sha256(key, key_len, s, strlen(s), out, err);
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
		      uint8_t ret_key[32], struct err *err)
{
	uint8_t k[SHA256_LEN];
	struct buf ksecret = BUF_INIT;
	int r;

	r = crypto_ready(err);
	if (r < 0)
		return r;
	buf_puts(&ksecret, "AWS4");
	buf_puts(&ksecret, secret);
	r = hmac_str((const uint8_t *)ksecret.data, ksecret.len, date, k, err);
	OPENSSL_cleanse(ksecret.data, ksecret.len);
	buf_release(&ksecret);
	if (r >= 0)
		r = hmac_str(k, sizeof(k), region, k, err);
	if (r >= 0)
		r = hmac_str(k, sizeof(k), service, k, err);
	if (r >= 0)
		r = hmac_str(k, sizeof(k), SCOPE_TERMINATOR, ret_key, err);
	OPENSSL_cleanse(k, sizeof(k));
	return r;
}

/*
 * Signing keys change once a day per secret, region and service, and
 * deriving one costs four HMACs: a direct-mapped cache keeps the recent ones.
 * A slot is named by the SHA-256 of the secret and the scope, so the cache
 * holds no secret.
 */
#define KEY_CACHE_SLOTS 256

struct key_slot {
	bool used;
	uint8_t id[SHA256_LEN];
	uint8_t key[SHA256_LEN];
};

static struct key_slot key_cache[KEY_CACHE_SLOTS];
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int key_cache_id(const char *secret, const char *date, const char *region,
			const char *service, uint8_t id[SHA256_LEN], struct err *err)
{
	const char *parts[] = { secret, date, region, service };
	EVP_MD_CTX *ctx;
	int ok;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return err_set(err, -EIO, E_SERVER, "SHA-256 failed");
	ok = EVP_DigestInit_ex(ctx, md_sha256, NULL);
	/* the NULs keep ("ab", "c") apart from ("a", "bc") */
	for (size_t i = 0; ok && i < ARRAY_SIZE(parts); i++)
		ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
	ok = ok && EVP_DigestFinal_ex(ctx, id, NULL);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return err_set(err, -EIO, E_SERVER, "SHA-256 failed");
	return 0;
}

static int signing_key_cached(const char *secret, const char *date, const char *region,
			      const char *service, uint8_t ret_key[SHA256_LEN], struct err *err)
{
	uint8_t id[SHA256_LEN];
	struct key_slot *slot;
	bool hit;
	int r;

	r = key_cache_id(secret, date, region, service, id, err);
	if (r < 0)
		return r;
	slot = &key_cache[(id[0] | (unsigned)id[1] << 8) % KEY_CACHE_SLOTS];

	pthread_mutex_lock(&key_cache_lock);
	hit = slot->used && CRYPTO_memcmp(slot->id, id, sizeof(id)) == 0;
	if (hit)
		memcpy(ret_key, slot->key, SHA256_LEN);
	pthread_mutex_unlock(&key_cache_lock);
	if (hit)
		return 0;

	r = sigv4_signing_key(secret, date, region, service, ret_key, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&key_cache_lock);
	slot->used = true;
	memcpy(slot->id, id, sizeof(id));
	memcpy(slot->key, ret_key, SHA256_LEN);
	pthread_mutex_unlock(&key_cache_lock);
	return 0;
}

/* ---- dates -------------------------------------------------------------- */

static void format_amz_date(time_t t, char out[SIGV4_DATE_SIZE])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, SIGV4_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) == 0)
		snprintf(out, SIGV4_DATE_SIZE, "%s", "00000000T000000Z");
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int digits_value(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Turn broken-down UTC into a time_t, refusing dates like February 30th. */
static bool civil_to_time(int year, int mon, int mday, int hour, int min, int sec, time_t *ret)
{
	struct tm tm = { 0 }, back;
	time_t t;

	if (year < 1970 || year > 9999 || mon < 1 || mon > 12 || mday < 1 || mday > 31 ||
	    hour > 23 || min > 59 || sec > 60)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != mday ||
	    back.tm_mon != mon - 1)
		return false;
	*ret = t;
	return true;
}

/* "20150830T123600Z", exactly. */
static bool parse_amz_date(const char *s, size_t n, time_t *ret)
{
	if (n != SIGV4_DATE_SIZE - 1 || !all_digits(s, 8) || s[8] != 'T' || !all_digits(s + 9, 6) ||
	    s[15] != 'Z')
		return false;
	return civil_to_time(digits_value(s, 4), digits_value(s + 4, 2), digits_value(s + 6, 2),
			     digits_value(s + 9, 2), digits_value(s + 11, 2),
			     digits_value(s + 13, 2), ret);
}

/* RFC 7231's IMF-fixdate, "Sun, 30 Aug 2015 12:36:00 GMT", exactly. */
static bool parse_http_date(const char *s, size_t n, time_t *ret)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int mon = 0;

	if (n != 29 || s[3] != ',' || s[4] != ' ' || !all_digits(s + 5, 2) || s[7] != ' ' ||
	    s[11] != ' ' || !all_digits(s + 12, 4) || s[16] != ' ' || !all_digits(s + 17, 2) ||
	    s[19] != ':' || !all_digits(s + 20, 2) || s[22] != ':' || !all_digits(s + 23, 2) ||
	    memcmp(s + 25, " GMT", 4) != 0)
		return false;
	for (int i = 0; i < 12; i++)
		if (memcmp(s + 8, months + 3 * i, 3) == 0)
			mon = i + 1;
	if (!mon)
		return false;
	return civil_to_time(digits_value(s + 12, 4), mon, digits_value(s + 5, 2),
			     digits_value(s + 17, 2), digits_value(s + 20, 2),
			     digits_value(s + 23, 2), ret);
}

/* ---- encoding ----------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append p percent-encoded the RFC 3986 way: all but unreserved bytes. */
static void uri_encode(struct buf *out, const char *p, size_t n)
{
	char *w;

	buf_grow(out, 3 * n);
	w = out->data + out->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (is_unreserved(c)) {
			*w++ = (char)c;
		} else {
			*w++ = '%';
			*w++ = "0123456789ABCDEF"[c >> 4];
			*w++ = "0123456789ABCDEF"[c & 0xf];
		}
	}
	out->len = (size_t)(w - out->data);
	out->data[out->len] = '\0';
}

/*
 * Percent-decode p into out, which has room for n bytes; a '%' not followed by
 * two hex digits stands for itself. Returns the decoded length.
 */
static size_t uri_decode(const char *p, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (p[i] == '%' && i + 2 < n && (hi = hex_value((unsigned char)p[i + 1])) >= 0 &&
		    (lo = hex_value((unsigned char)p[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = p[i];
		}
	}
	return o;
}

/* Copy at most MAX_QUOTE bytes of s into out for an error message, with the
 * bytes that are not printable ASCII replaced by '?'. */
static void quote_for_message(const char *s, size_t n, char out[MAX_QUOTE + 4])
{
	size_t m = n > MAX_QUOTE ? MAX_QUOTE : n;

	for (size_t i = 0; i < m; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (m < n) {
		memcpy(out + m, "...", 3);
		m += 3;
	}
	out[m] = '\0';
}

/* ---- canonical request -------------------------------------------------- */

/*
 * The canonical URI for every service but S3: empty and "." segments go, ".."
 * removes the one before (RFC 3986 5.2.4, plus AWS's collapsing of "//"), and
 * each remaining segment, as sent, is percent-encoded again.
 */
static int canonical_uri(struct buf *out, const char *path, struct err *err)
{
	_cleanup_free_ struct span *segs = NULL;
	size_t len, nslash = 0, nsegs = 0, start = 0;

	len = strnlen(path, SIGV4_MAX_PATH + 1);
	if (len > SIGV4_MAX_PATH)
		return err_set(err, -E2BIG, E_INVALID_PARAMETER,
			       "request path is longer than %d bytes", SIGV4_MAX_PATH);
	if (len == 0) {
		buf_putc(out, '/');
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		nslash += path[i] == '/';
	segs = calloc(nslash + 1, sizeof(*segs));
	if (!segs)
		abort();
	for (size_t i = 0; i <= len; i++) {
		struct span s;

		if (i < len && path[i] != '/')
			continue;
		s = (struct span){ path + start, i - start };
		start = i + 1;
		if (s.n == 0 || span_is(s, "."))
			continue;
		if (span_is(s, "..")) {
			if (nsegs)
				nsegs--;
			continue;
		}
		segs[nsegs++] = s;
	}
	if (path[0] == '/')
		buf_putc(out, '/');
	for (size_t i = 0; i < nsegs; i++) {
		if (i)
			buf_putc(out, '/');
		uri_encode(out, segs[i].p, segs[i].n);
	}
	if (path[len - 1] == '/' && nsegs)
		buf_putc(out, '/');
	return 0;
}

/* One query parameter as sent, "name=value" split at the first '='. */
struct qparam {
	struct span name, value;
	bool has_value;
};

struct query {
	struct qparam params[SIGV4_MAX_QUERY_PARAMS];
	size_t n;
};

/* Split a raw query string at '&', skipping empty pieces. */
static int query_split(const char *s, struct query *q, struct err *err)
{
	size_t len, start = 0;

	q->n = 0;
	if (!s)
		return 0;
	len = strnlen(s, SIGV4_MAX_QUERY + 1);
	if (len > SIGV4_MAX_QUERY)
		return err_set(err, -E2BIG, E_INVALID_PARAMETER,
			       "query string is longer than %d bytes", SIGV4_MAX_QUERY);
	for (size_t i = 0; i <= len; i++) {
		struct qparam *p;
		const char *eq;

		if (i < len && s[i] != '&')
			continue;
		if (i > start) {
			if (q->n == SIGV4_MAX_QUERY_PARAMS)
				return err_set(err, -E2BIG, E_INVALID_PARAMETER,
					       "query string has more than %d parameters",
					       SIGV4_MAX_QUERY_PARAMS);
			p = &q->params[q->n++];
			eq = memchr(s + start, '=', i - start);
			if (eq) {
				p->name = (struct span){ s + start, (size_t)(eq - (s + start)) };
				p->value = (struct span){ eq + 1, (size_t)(s + i - eq - 1) };
				p->has_value = true;
			} else {
				p->name = (struct span){ s + start, i - start };
				p->value = (struct span){ s + i, 0 };
				p->has_value = false;
			}
		}
		start = i + 1;
	}
	return 0;
}

/* Whether the decoded name of p is name. */
static bool qparam_is(const struct qparam *p, const char *name)
{
	char tmp[64];
	size_t n;

	if (p->name.n > sizeof(tmp))
		return false;
	n = uri_decode(p->name.p, p->name.n, tmp);
	return n == strlen(name) && memcmp(tmp, name, n) == 0;
}

struct canon_param {
	const char *name, *value;
	size_t name_len, value_len;
};

static int span_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static int canon_param_cmp(const void *va, const void *vb)
{
	const struct canon_param *a = va, *b = vb;
	int c = span_cmp(a->name, a->name_len, b->name, b->name_len);

	return c ? c : span_cmp(a->value, a->value_len, b->value, b->value_len);
}

/*
 * The canonical query: each name and value decoded and encoded again the RFC
 * 3986 way, '=' always present, sorted by name then value. A presigned
 * request leaves its X-Amz-Signature out.
 */
static void canonical_query(struct buf *out, const struct query *q, bool presigned)
{
	_cleanup_free_ struct canon_param *cp = NULL;
	_cleanup_free_ size_t *offs = NULL;
	_cleanup_free_ char *tmp = NULL;
	struct buf enc = BUF_INIT;
	size_t n = 0, tmp_size = 1;

	if (q->n == 0)
		return;
	cp = calloc(q->n, sizeof(*cp));
	offs = calloc(2 * q->n, sizeof(*offs));
	for (size_t i = 0; i < q->n; i++) {
		if (q->params[i].name.n > tmp_size)
			tmp_size = q->params[i].name.n;
		if (q->params[i].value.n > tmp_size)
			tmp_size = q->params[i].value.n;
	}
	tmp = malloc(tmp_size);
	if (!cp || !offs || !tmp)
		abort();
	/* encode everything first: enc moves as it grows */
	for (size_t i = 0; i < q->n; i++) {
		const struct qparam *p = &q->params[i];

		if (presigned && qparam_is(p, "X-Amz-Signature"))
			continue;
		offs[2 * n] = enc.len;
		uri_encode(&enc, tmp, uri_decode(p->name.p, p->name.n, tmp));
		offs[2 * n + 1] = enc.len;
		uri_encode(&enc, tmp, uri_decode(p->value.p, p->value.n, tmp));
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		size_t end = i + 1 < n ? offs[2 * i + 2] : enc.len;

		cp[i].name = enc.data + offs[2 * i];
		cp[i].name_len = offs[2 * i + 1] - offs[2 * i];
		cp[i].value = enc.data + offs[2 * i + 1];
		cp[i].value_len = end - offs[2 * i + 1];
	}
	qsort(cp, n, sizeof(*cp), canon_param_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, '&');
		buf_append(out, cp[i].name, cp[i].name_len);
		buf_putc(out, '=');
		buf_append(out, cp[i].value, cp[i].value_len);
	}
	buf_release(&enc);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A header value with leading and trailing white space removed and inner
 * runs of it turned into one space (botocore's ' '.join(value.split())). */
static void put_trimmed(struct buf *out, const char *v)
{
	bool pending = false, any = false;

	for (; *v; v++) {
		if (is_space(*v)) {
			pending = any;
			continue;
		}
		if (pending)
			buf_putc(out, ' ');
		pending = false;
		any = true;
		buf_putc(out, *v);
	}
}

/* headers: lowercase names, sorted, each once. */
static int build_canonical(struct buf *out, const char *method, const char *path,
			   const struct query *q, bool presigned,
			   const struct sigv4_header *headers, size_t n_headers,
			   const char *payload_hash, struct err *err)
{
	int r;

	buf_puts(out, method);
	buf_putc(out, '\n');
	r = canonical_uri(out, path, err);
	if (r < 0)
		return r;
	buf_putc(out, '\n');
	canonical_query(out, q, presigned);
	buf_putc(out, '\n');
	for (size_t i = 0; i < n_headers; i++) {
		buf_puts(out, headers[i].name);
		buf_putc(out, ':');
		put_trimmed(out, headers[i].value ? headers[i].value : "");
		buf_putc(out, '\n');
	}
	buf_putc(out, '\n');
	for (size_t i = 0; i < n_headers; i++) {
		if (i)
			buf_putc(out, ';');
		buf_puts(out, headers[i].name);
	}
	buf_putc(out, '\n');
	buf_puts(out, payload_hash);
	return 0;
}

static int header_cmp(const void *va, const void *vb)
{
	const struct sigv4_header *a = va, *b = vb;

	return strcmp(a->name, b->name);
}

int sigv4_canonical_request(const char *method, const char *path, const char *query, bool presigned,
			    const struct sigv4_header *headers, size_t n_headers,
			    const char *payload_hash, struct buf *ret, struct err *err)
{
	_cleanup_free_ struct query *q = NULL;
	_cleanup_free_ struct sigv4_header *sorted = NULL;
	int r;

	q = malloc(sizeof(*q));
	sorted = calloc(n_headers ? n_headers : 1, sizeof(*sorted));
	if (!q || !sorted)
		abort();
	r = query_split(query, q, err);
	if (r < 0)
		return r;
	if (n_headers)
		memcpy(sorted, headers, n_headers * sizeof(*sorted));
	qsort(sorted, n_headers, sizeof(*sorted), header_cmp);
	return build_canonical(ret, method, path, q, presigned, sorted, n_headers, payload_hash,
			       err);
}

/*
 * The signature: HMAC of the string to sign, which names the algorithm, the
 * request time, the credential scope and the hash of the canonical request.
 */
static int compute_signature(const uint8_t key[SHA256_LEN], const char *amz_date, const char *scope,
			     const struct buf *creq, char ret_hex[HEX_LEN + 1], struct err *err)
{
	uint8_t digest[SHA256_LEN];
	char creq_hex[HEX_LEN + 1];
	struct buf sts = BUF_INIT;
	int r;

	r = sha256(creq->data, creq->len, digest, err);
	if (r < 0)
		return r;
	hex_encode(digest, sizeof(digest), creq_hex);
	buf_printf(&sts, "%s\n%s\n%s\n%s", SIGV4_ALGORITHM, amz_date, scope, creq_hex);
	r = hmac_sha256(key, SHA256_LEN, sts.data, sts.len, digest, err);
	buf_release(&sts);
	if (r < 0)
		return r;
	hex_encode(digest, sizeof(digest), ret_hex);
	return 0;
}

/* ---- parsing what the client sent -------------------------------------- */

/* The parts of a credential, "AKID/20150830/us-east-1/ecs/aws4_request". */
struct scope {
	char access_key[MAX_ACCESS_KEY + 1];
	char date[9];
	char region[MAX_SCOPE_PART + 1];
	char service[MAX_SCOPE_PART + 1];
};

static bool is_scope_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

static bool valid_scope_part(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_scope_char(s[i]))
			return false;
	return true;
}

static bool valid_access_key(const char *s, size_t n)
{
	if (n == 0 || n > MAX_ACCESS_KEY)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '/')
			return false;
	return true;
}

static int parse_credential(struct span cred, struct scope *ret, struct err *err)
{
	char quoted[MAX_QUOTE + 4];
	struct span parts[5];
	size_t np = 0, start = 0;

	for (size_t i = 0; i <= cred.n; i++) {
		if (i < cred.n && cred.p[i] != '/')
			continue;
		if (np == ARRAY_SIZE(parts)) {
			np++;
			break;
		}
		parts[np++] = (struct span){ cred.p + start, i - start };
		start = i + 1;
	}
	quote_for_message(cred.p, cred.n, quoted);
	if (np != ARRAY_SIZE(parts))
		return err_set(
			err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			"Credential should be of the form "
			"'<access key>/<YYYYMMDD>/<region>/<service>/aws4_request', not '%s'.",
			quoted);
	if (!valid_access_key(parts[0].p, parts[0].n))
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Credential should name a valid access key: '%s'.", quoted);
	if (parts[1].n != 8 || !all_digits(parts[1].p, 8))
		return err_set(
			err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			"Invalid credential date. Date is not the required format: yyyyMMdd.");
	if (!valid_scope_part(parts[2].p, parts[2].n, MAX_SCOPE_PART))
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Credential should be scoped to a valid region: '%s'.", quoted);
	if (!valid_scope_part(parts[3].p, parts[3].n, MAX_SCOPE_PART))
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Credential should be scoped to a valid service: '%s'.", quoted);
	if (!span_is(parts[4], SCOPE_TERMINATOR)) {
		quote_for_message(parts[4].p, parts[4].n, quoted);
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Credential should be scoped with a valid terminator: "
			       "'aws4_request', not '%s'.",
			       quoted);
	}
	memcpy(ret->access_key, parts[0].p, parts[0].n);
	ret->access_key[parts[0].n] = '\0';
	memcpy(ret->date, parts[1].p, 8);
	ret->date[8] = '\0';
	memcpy(ret->region, parts[2].p, parts[2].n);
	ret->region[parts[2].n] = '\0';
	memcpy(ret->service, parts[3].p, parts[3].n);
	ret->service[parts[3].n] = '\0';
	return 0;
}

static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The signed header names, lowercase, sorted and each once. */
struct signed_names {
	char names[SIGV4_MAX_SIGNED_HEADERS][SIGV4_MAX_HEADER_NAME + 1];
	size_t n;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int parse_signed_headers(struct span s, struct signed_names *ret, struct err *err)
{
	char quoted[MAX_QUOTE + 4];
	size_t start = 0, n = 0;

	quote_for_message(s.p, s.n, quoted);
	for (size_t i = 0; i <= s.n; i++) {
		size_t len = i - start;

		if (i < s.n && s.p[i] != ';')
			continue;
		if (len == 0 || len > SIGV4_MAX_HEADER_NAME)
			return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
				       "SignedHeaders should list header names separated by ';', "
				       "not '%s'.",
				       quoted);
		if (n == SIGV4_MAX_SIGNED_HEADERS)
			return err_set(err, -E2BIG, E_INVALID_PARAMETER,
				       "SignedHeaders lists more than %d headers",
				       SIGV4_MAX_SIGNED_HEADERS);
		for (size_t j = 0; j < len; j++) {
			char c = s.p[start + j];

			if (!is_token_char(c))
				return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
					       "SignedHeaders should list header names, not '%s'.",
					       quoted);
			ret->names[n][j] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		ret->names[n][len] = '\0';
		n++;
		start = i + 1;
	}
	qsort(ret->names, n, sizeof(ret->names[0]), name_cmp);
	ret->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (ret->n && strcmp(ret->names[ret->n - 1], ret->names[i]) == 0)
			continue;
		if (ret->n != i)
			memcpy(ret->names[ret->n], ret->names[i], sizeof(ret->names[0]));
		ret->n++;
	}
	return 0;
}

/* What either form of authentication carries. */
struct auth {
	struct span credential, signed_headers, signature;
	char amz_date[SIGV4_DATE_SIZE];
	time_t time;
	long expires; /* presigned only */
};

static struct span trim_span(struct span s)
{
	while (s.n && is_space(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n && is_space(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* Read the request time from X-Amz-Date or, failing that, Date. */
static int header_date(const struct sigv4_request *req, struct auth *a, bool *ret_found,
		       struct err *err)
{
	const char *v = req->header(req->header_ctx, "x-amz-date");
	bool ok;

	*ret_found = true;
	if (v) {
		ok = parse_amz_date(v, strnlen(v, SIGV4_DATE_SIZE), &a->time);
	} else {
		v = req->header(req->header_ctx, "date");
		if (!v) {
			*ret_found = false;
			return 0;
		}
		ok = parse_http_date(v, strnlen(v, 30), &a->time) ||
		     parse_amz_date(v, strnlen(v, SIGV4_DATE_SIZE), &a->time);
	}
	if (!ok) {
		char quoted[MAX_QUOTE + 4];

		quote_for_message(v, strnlen(v, MAX_QUOTE + 1), quoted);
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Date must be in ISO-8601 'basic format'. Got '%s'. See "
			       "http://en.wikipedia.org/wiki/ISO_8601",
			       quoted);
	}
	format_amz_date(a->time, a->amz_date);
	return 0;
}

/* Add a sentence to the ERR_MSG_MAX bytes of missing, cutting where it ends. */
static void append_missing(char *missing, size_t *len, const char *sentence)
{
	int n = snprintf(missing + *len, ERR_MSG_MAX - *len, "%s ", sentence);

	*len += n < 0 ? 0 : (size_t)n;
	if (*len >= ERR_MSG_MAX)
		*len = ERR_MSG_MAX - 1;
}

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
static int parse_authorization(const struct sigv4_request *req, const char *v, struct auth *a,
			       struct err *err)
{
	char quoted[MAX_QUOTE + 4], missing[ERR_MSG_MAX];
	struct span s, alg;
	size_t len, i = 0, start, mlen = 0;
	bool have_date;
	int r;

	len = strnlen(v, SIGV4_MAX_AUTHORIZATION + 1);
	if (len > SIGV4_MAX_AUTHORIZATION)
		return err_set(err, -E2BIG, E_INVALID_PARAMETER,
			       "Authorization header is longer than %d bytes",
			       SIGV4_MAX_AUTHORIZATION);
	quote_for_message(v, len, quoted);
	while (i < len && is_space(v[i]))
		i++;
	start = i;
	while (i < len && !is_space(v[i]))
		i++;
	alg = (struct span){ v + start, i - start };
	if (!span_is(alg, SIGV4_ALGORITHM))
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Authorization header requires the '%s' algorithm. Authorization=%s",
			       SIGV4_ALGORITHM, quoted);

	start = i;
	for (; i <= len; i++) {
		const char *eq;
		struct span key, val, *dst;

		if (i < len && v[i] != ',')
			continue;
		s = trim_span((struct span){ v + start, i - start });
		start = i + 1;
		if (s.n == 0)
			continue;
		eq = memchr(s.p, '=', s.n);
		if (!eq) {
			char pair[MAX_QUOTE + 4];

			quote_for_message(s.p, s.n, pair);
			return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
				       "'%s' not a valid key=value pair (missing equal-sign) in "
				       "Authorization header: '%s'.",
				       pair, quoted);
		}
		key = trim_span((struct span){ s.p, (size_t)(eq - s.p) });
		val = trim_span((struct span){ eq + 1, (size_t)(s.p + s.n - eq - 1) });
		if (span_is(key, "Credential"))
			dst = &a->credential;
		else if (span_is(key, "SignedHeaders"))
			dst = &a->signed_headers;
		else if (span_is(key, "Signature"))
			dst = &a->signature;
		else
			continue;
		if (dst->p)
			return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
				       "Authorization header has '%.*s' twice. Authorization=%s",
				       (int)key.n, key.p, quoted);
		*dst = val;
	}

	r = header_date(req, a, &have_date, err);
	if (r < 0)
		return r;
	/* AWS lists everything that is missing at once */
	missing[0] = '\0';
	if (!a->credential.n)
		append_missing(missing, &mlen,
			       "Authorization header requires 'Credential' parameter.");
	if (!a->signature.n)
		append_missing(missing, &mlen,
			       "Authorization header requires 'Signature' parameter.");
	if (!a->signed_headers.n)
		append_missing(missing, &mlen,
			       "Authorization header requires 'SignedHeaders' parameter.");
	if (!have_date)
		append_missing(missing, &mlen,
			       "Authorization header requires existence of either a 'X-Amz-Date' "
			       "or a 'Date' header.");
	if (mlen)
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE, "%sAuthorization=%s", missing,
			       quoted);
	return 0;
}

/*
 * Find the parameter named name in q and decode its value into out (size
 * bytes). Returns 1 if found once, 0 if absent, or an error for a repeated or
 * over-long one.
 */
static int query_get(const struct query *q, const char *name, char *out, size_t size,
		     size_t *ret_len, struct err *err)
{
	const struct qparam *found = NULL;

	for (size_t i = 0; i < q->n; i++) {
		if (!qparam_is(&q->params[i], name))
			continue;
		if (found)
			return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
				       "Query-string parameter '%s' is given more than once.",
				       name);
		found = &q->params[i];
	}
	if (!found)
		return 0;
	/* decoding never lengthens a value */
	if (found->value.n >= size)
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Query-string parameter '%s' is malformed.", name);
	*ret_len = uri_decode(found->value.p, found->value.n, out);
	out[*ret_len] = '\0';
	return 1;
}

/* The decoded X-Amz-* parameters of a presigned request. */
struct presign_params {
	char algorithm[32];
	char credential[MAX_ACCESS_KEY + MAX_SCOPE_PART * 2 + 32];
	char date[SIGV4_DATE_SIZE];
	char expires[16];
	char signed_headers[SIGV4_MAX_SIGNED_HEADERS * (SIGV4_MAX_HEADER_NAME + 1)];
	char signature[HEX_LEN + 1];
};

/* Fill a from the query of a presigned request; a's spans point into pp. */
static int parse_presigned(const struct query *q, struct presign_params *pp, struct auth *a,
			   struct err *err)
{
	struct {
		const char *name;
		char *buf;
		size_t size, len;
	} want[] = {
		{ "X-Amz-Algorithm", pp->algorithm, sizeof(pp->algorithm), 0 },
		{ "X-Amz-Credential", pp->credential, sizeof(pp->credential), 0 },
		{ "X-Amz-Date", pp->date, sizeof(pp->date), 0 },
		{ "X-Amz-Expires", pp->expires, sizeof(pp->expires), 0 },
		{ "X-Amz-SignedHeaders", pp->signed_headers, sizeof(pp->signed_headers), 0 },
		{ "X-Amz-Signature", pp->signature, sizeof(pp->signature), 0 },
	};
	bool complete = true;
	long expires = 0;

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		int r = query_get(q, want[i].name, want[i].buf, want[i].size, &want[i].len, err);

		if (r < 0)
			return r;
		complete = complete && r == 1 && want[i].len > 0;
	}
	if (!complete)
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "AWS query-string parameters must include 'X-Amz-Algorithm', "
			       "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', "
			       "'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the "
			       "query-string parameters.");
	if (!span_is((struct span){ pp->algorithm, want[0].len }, SIGV4_ALGORITHM))
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "X-Amz-Algorithm only supports '%s'.", SIGV4_ALGORITHM);
	if (!parse_amz_date(pp->date, want[2].len, &a->time))
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "X-Amz-Date must be in the ISO8601 Long Format "
			       "\"yyyyMMdd'T'HHmmss'Z'\".");
	memcpy(a->amz_date, pp->date, SIGV4_DATE_SIZE);
	if (want[3].len <= 6 && all_digits(pp->expires, want[3].len))
		expires = digits_value(pp->expires, want[3].len);
	if (expires < 1 || expires > SIGV4_MAX_EXPIRES)
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "X-Amz-Expires must be a number of seconds between 1 and %d.",
			       SIGV4_MAX_EXPIRES);
	a->expires = expires;
	a->credential = (struct span){ pp->credential, want[1].len };
	a->signed_headers = (struct span){ pp->signed_headers, want[4].len };
	a->signature = (struct span){ pp->signature, want[5].len };
	return 0;
}

static int check_clock(const struct auth *a, bool presigned, time_t now, struct err *err)
{
	char req[SIGV4_DATE_SIZE], bound[SIGV4_DATE_SIZE], cur[SIGV4_DATE_SIZE];

	memcpy(req, a->amz_date, SIGV4_DATE_SIZE);
	format_amz_date(now, cur);
	if (a->time > now + SIGV4_MAX_SKEW) {
		format_amz_date(now + SIGV4_MAX_SKEW, bound);
		return err_set(
			err, -EACCES, E_INVALID_SIGNATURE,
			"Signature not yet current: %s is still later than %s (%s + 15 min.)", req,
			bound, cur);
	}
	if (presigned) {
		if (now > a->time + a->expires) {
			format_amz_date(a->time + a->expires, bound);
			return err_set(
				err, -EACCES, E_INVALID_SIGNATURE,
				"Signature expired: %s is now earlier than %s (%s + %ld sec.)",
				bound, cur, req, a->expires);
		}
		return 0;
	}
	if (a->time < now - SIGV4_MAX_SKEW) {
		format_amz_date(now - SIGV4_MAX_SKEW, bound);
		return err_set(err, -EACCES, E_INVALID_SIGNATURE,
			       "Signature expired: %s is now earlier than %s (%s - 15 min.)", req,
			       bound, cur);
	}
	return 0;
}

static bool is_hex_hash(const char *s)
{
	size_t n = strnlen(s, HEX_LEN + 1);

	if (n != HEX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (hex_value((unsigned char)s[i]) < 0)
			return false;
	return true;
}

static int signature_mismatch(struct err *err)
{
	return err_set(err, -EACCES, E_INVALID_SIGNATURE,
		       "The request signature we calculated does not match the signature you "
		       "provided. Check your AWS Secret Access Key and signing method. Consult "
		       "the service documentation for details.");
}

int sigv4_verify(const struct sigv4_request *req, sigv4_secret_fn secret_fn, void *secret_ctx,
		 time_t now, struct sigv4_identity *ret_id, struct err *err)
{
	_cleanup_free_ struct query *q = NULL;
	_cleanup_free_ struct signed_names *names = NULL;
	_cleanup_free_ struct presign_params *pp = NULL;
	struct sigv4_header headers[SIGV4_MAX_SIGNED_HEADERS];
	const char *authz, *secret, *payload[2];
	char body_hex[HEX_LEN + 1], sig[HEX_LEN + 1], scope_str[256];
	uint8_t digest[SHA256_LEN], key[SHA256_LEN];
	struct buf creq = BUF_INIT;
	struct auth a = { 0 };
	struct scope sc;
	bool presigned = false, host = false, match = false;
	size_t npayload = 0;
	int r;

	r = crypto_ready(err);
	if (r < 0)
		return r;
	if (strnlen(req->method, MAX_METHOD + 1) > MAX_METHOD)
		return err_set(err, -E2BIG, E_INVALID_PARAMETER, "request method is too long");
	q = malloc(sizeof(*q));
	names = malloc(sizeof(*names));
	if (!q || !names)
		abort();
	r = query_split(req->query, q, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < q->n && !presigned; i++)
		presigned = qparam_is(&q->params[i], "X-Amz-Algorithm");

	authz = req->header(req->header_ctx, "authorization");
	if (authz && presigned)
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
			       "parameter or the Authorization header should be specified");
	if (!authz && !presigned)
		return err_set(err, -EACCES, E_MISSING_AUTH_TOKEN, "Missing Authentication Token");
	if (presigned) {
		pp = malloc(sizeof(*pp));
		if (!pp)
			abort();
		r = parse_presigned(q, pp, &a, err);
	} else {
		r = parse_authorization(req, authz, &a, err);
	}
	if (r < 0)
		return r;
	r = parse_credential(a.credential, &sc, err);
	if (r < 0)
		return r;
	r = parse_signed_headers(a.signed_headers, names, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < names->n; i++)
		host = host || strcmp(names->names[i], "host") == 0;
	if (!host)
		return err_set(err, -EINVAL, E_INCOMPLETE_SIGNATURE,
			       "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
			       "Authorization.");
	if (memcmp(sc.date, a.amz_date, 8) != 0)
		return err_set(err, -EACCES, E_INVALID_SIGNATURE,
			       "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
			       "version of date from HTTP: '%s' != '%.8s', from '%s'.",
			       sc.date, a.amz_date, a.amz_date);
	r = check_clock(&a, presigned, now, err);
	if (r < 0)
		return r;

	secret = secret_fn(secret_ctx, sc.access_key);
	if (!secret)
		return err_set(err, -EACCES, E_UNRECOGNIZED_CLIENT,
			       "The security token included in the request is invalid.");

	for (size_t i = 0; i < names->n; i++) {
		const char *v = req->header(req->header_ctx, names->names[i]);

		if (v && strnlen(v, SIGV4_MAX_HEADER_VALUE + 1) > SIGV4_MAX_HEADER_VALUE)
			return err_set(err, -E2BIG, E_INVALID_PARAMETER,
				       "header '%s' is longer than %d bytes", names->names[i],
				       SIGV4_MAX_HEADER_VALUE);
		headers[i] = (struct sigv4_header){ names->names[i], v };
	}

	r = sha256(req->body, req->body_len, digest, err);
	if (r < 0)
		return r;
	hex_encode(digest, sizeof(digest), body_hex);
	if (presigned) {
		/* S3 and its imitators presign UNSIGNED-PAYLOAD, botocore's
		 * other services the hash of the body */
		payload[npayload++] = SIGV4_UNSIGNED_PAYLOAD;
		payload[npayload++] = body_hex;
	} else {
		const char *h = req->header(req->header_ctx, "x-amz-content-sha256");

		if (h && is_hex_hash(h)) {
			if (strncasecmp(h, body_hex, HEX_LEN) != 0)
				return err_set(err, -EACCES, E_INVALID_SIGNATURE,
					       "The provided 'x-amz-content-sha256' header does "
					       "not match what was computed.");
			payload[npayload++] = h;
		} else {
			payload[npayload++] = body_hex;
		}
	}

	snprintf(scope_str, sizeof(scope_str), "%s/%s/%s/%s", sc.date, sc.region, sc.service,
		 SCOPE_TERMINATOR);
	r = signing_key_cached(secret, sc.date, sc.region, sc.service, key, err);
	for (size_t i = 0; r >= 0 && i < npayload && !match; i++) {
		buf_reset(&creq);
		r = build_canonical(&creq, req->method, req->path, q, presigned, headers, names->n,
				    payload[i], err);
		if (r >= 0)
			r = compute_signature(key, a.amz_date, scope_str, &creq, sig, err);
		if (r >= 0)
			match = a.signature.n == HEX_LEN &&
				CRYPTO_memcmp(sig, a.signature.p, HEX_LEN) == 0;
	}
	buf_release(&creq);
	OPENSSL_cleanse(key, sizeof(key));
	if (r < 0)
		return r;
	if (!match)
		return signature_mismatch(err);

	if (ret_id) {
		snprintf(ret_id->access_key, sizeof(ret_id->access_key), "%s", sc.access_key);
		snprintf(ret_id->region, sizeof(ret_id->region), "%s", sc.region);
		snprintf(ret_id->service, sizeof(ret_id->service), "%s", sc.service);
	}
	return 0;
}

/* ---- signing ------------------------------------------------------------ */

static bool valid_header_name(const char *s)
{
	size_t n = strnlen(s, SIGV4_MAX_HEADER_NAME + 1);

	if (n == 0 || n > SIGV4_MAX_HEADER_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_token_char(s[i]) || (s[i] >= 'A' && s[i] <= 'Z'))
			return false;
	return true;
}

/*
 * Check what the caller asks to sign and return the headers to sign, sorted,
 * with x-amz-date (and x-amz-security-token) added when signing a header.
 */
static int sign_headers(const struct sigv4_sign_request *req, const struct sigv4_credentials *cred,
			const char *region, const char *service, bool presign, const char *amz_date,
			struct sigv4_header **ret, size_t *ret_n, struct err *err)
{
	_cleanup_free_ struct sigv4_header *h = NULL;
	size_t n = 0;
	bool host = false;

	if (!req->method || !req->path || !cred->access_key || !cred->secret || !region ||
	    !service || (req->n_headers && !req->headers))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "incomplete request to sign");
	if (!valid_access_key(cred->access_key, strlen(cred->access_key)) ||
	    !valid_scope_part(region, strlen(region), MAX_SCOPE_PART) ||
	    !valid_scope_part(service, strlen(service), MAX_SCOPE_PART))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "invalid access key, region or service to sign with");
	if (req->n_headers + 2 > SIGV4_MAX_SIGNED_HEADERS)
		return err_set(err, -E2BIG, E_INVALID_PARAMETER, "more than %d headers to sign",
			       SIGV4_MAX_SIGNED_HEADERS - 2);
	h = calloc(req->n_headers + 2, sizeof(*h));
	if (!h)
		abort();
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->headers[i].name;

		if (!name || !valid_header_name(name) || !req->headers[i].value)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "header names to sign must be lowercase tokens with values");
		if (!presign &&
		    (strcmp(name, "x-amz-date") == 0 ||
		     (cred->session_token && strcmp(name, "x-amz-security-token") == 0)))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "header '%s' is added by the signer", name);
		host = host || strcmp(name, "host") == 0;
		h[n++] = req->headers[i];
	}
	if (!host)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "header 'host' must be signed");
	if (!presign) {
		h[n++] = (struct sigv4_header){ "x-amz-date", amz_date };
		if (cred->session_token)
			h[n++] = (struct sigv4_header){ "x-amz-security-token",
							cred->session_token };
	}
	qsort(h, n, sizeof(*h), header_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(h[i - 1].name, h[i].name) == 0)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "header '%s' listed twice", h[i].name);
	*ret_n = n;
	*ret = TAKE_PTR(h);
	return 0;
}

/* Compute the signature of a request whose headers and query are final. */
static int sign_final(const struct sigv4_sign_request *req, const char *query, bool presign,
		      const struct sigv4_header *h, size_t n, const char *secret,
		      const char *region, const char *service, const char *amz_date,
		      char ret_sig[HEX_LEN + 1], struct err *err)
{
	_cleanup_free_ struct query *q = NULL;
	char body_hex[HEX_LEN + 1], scope_str[256], date[9];
	const char *payload = req->payload_hash;
	uint8_t digest[SHA256_LEN], key[SHA256_LEN];
	struct buf creq = BUF_INIT;
	int r;

	q = malloc(sizeof(*q));
	if (!q)
		abort();
	r = query_split(query, q, err);
	if (r < 0)
		return r;
	if (!payload && presign) {
		payload = SIGV4_UNSIGNED_PAYLOAD;
	} else if (!payload) {
		r = sha256(req->body, req->body_len, digest, err);
		if (r < 0)
			return r;
		hex_encode(digest, sizeof(digest), body_hex);
		payload = body_hex;
	}
	snprintf(date, sizeof(date), "%.8s", amz_date);
	snprintf(scope_str, sizeof(scope_str), "%s/%s/%s/%s", date, region, service,
		 SCOPE_TERMINATOR);
	r = build_canonical(&creq, req->method, req->path, q, presign, h, n, payload, err);
	if (r >= 0)
		r = signing_key_cached(secret, date, region, service, key, err);
	if (r >= 0)
		r = compute_signature(key, amz_date, scope_str, &creq, ret_sig, err);
	OPENSSL_cleanse(key, sizeof(key));
	buf_release(&creq);
	return r;
}

int sigv4_sign(const struct sigv4_sign_request *req, const struct sigv4_credentials *cred,
	       const char *region, const char *service, time_t now,
	       char ret_amz_date[SIGV4_DATE_SIZE], struct buf *ret_authorization, struct err *err)
{
	_cleanup_free_ struct sigv4_header *h = NULL;
	char amz_date[SIGV4_DATE_SIZE], sig[HEX_LEN + 1];
	size_t n;
	int r;

	r = crypto_ready(err);
	if (r < 0)
		return r;
	format_amz_date(now, amz_date);
	r = sign_headers(req, cred, region, service, false, amz_date, &h, &n, err);
	if (r < 0)
		return r;
	r = sign_final(req, req->query, false, h, n, cred->secret, region, service, amz_date, sig,
		       err);
	if (r < 0)
		return r;
	buf_printf(ret_authorization,
		   "%s Credential=%s/%.8s/%s/%s/%s, SignedHeaders=", SIGV4_ALGORITHM,
		   cred->access_key, amz_date, region, service, SCOPE_TERMINATOR);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(ret_authorization, ';');
		buf_puts(ret_authorization, h[i].name);
	}
	buf_printf(ret_authorization, ", Signature=%s", sig);
	memcpy(ret_amz_date, amz_date, SIGV4_DATE_SIZE);
	return 0;
}

int sigv4_presign(const struct sigv4_sign_request *req, const struct sigv4_credentials *cred,
		  const char *region, const char *service, time_t now, unsigned expires,
		  struct buf *ret_query, struct err *err)
{
	_cleanup_free_ struct sigv4_header *h = NULL;
	char amz_date[SIGV4_DATE_SIZE], sig[HEX_LEN + 1];
	struct buf query = BUF_INIT, tmp = BUF_INIT;
	size_t n;
	int r;

	r = crypto_ready(err);
	if (r < 0)
		return r;
	if (expires < 1 || expires > SIGV4_MAX_EXPIRES)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "presigned requests expire after 1 to %d seconds",
			       SIGV4_MAX_EXPIRES);
	format_amz_date(now, amz_date);
	r = sign_headers(req, cred, region, service, true, amz_date, &h, &n, err);
	if (r < 0)
		return r;

	if (req->query && req->query[0]) {
		buf_puts(&query, req->query);
		buf_putc(&query, '&');
	}
	buf_printf(&tmp, "%s/%.8s/%s/%s/%s", cred->access_key, amz_date, region, service,
		   SCOPE_TERMINATOR);
	buf_printf(&query, "X-Amz-Algorithm=%s&X-Amz-Credential=", SIGV4_ALGORITHM);
	uri_encode(&query, tmp.data, tmp.len);
	buf_printf(&query, "&X-Amz-Date=%s&X-Amz-Expires=%u&X-Amz-SignedHeaders=", amz_date,
		   expires);
	buf_reset(&tmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(&tmp, ';');
		buf_puts(&tmp, h[i].name);
	}
	uri_encode(&query, tmp.data, tmp.len);
	if (cred->session_token) {
		buf_puts(&query, "&X-Amz-Security-Token=");
		uri_encode(&query, cred->session_token, strlen(cred->session_token));
	}
	buf_release(&tmp);

	r = sign_final(req, query.data, true, h, n, cred->secret, region, service, amz_date, sig,
		       err);
	if (r >= 0) {
		buf_append(ret_query, query.data, query.len);
		buf_printf(ret_query, "&X-Amz-Signature=%s", sig);
	}
	buf_release(&query);
	return r;
}
