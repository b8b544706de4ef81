/*
 * digest.c: sha256 digests (digest.h), with OpenSSL's libcrypto.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/banned.h"

bool digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0)
		return false;
	for (int i = 7; i < 71; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[71] == '\0';
}

void digest_format(const unsigned char md[32], char ret[DIGEST_SIZE])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(ret, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		ret[7 + 2 * i] = hex[md[i] >> 4];
		ret[8 + 2 * i] = hex[md[i] & 15];
	}
	ret[71] = '\0';
}

void digest_sha256(const void *data, size_t n, char ret[DIGEST_SIZE])
{
	unsigned char md[32];
	unsigned int len = 0;

	if (!EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) || len != 32)
		abort(); /* SHA-256 of memory cannot fail short of a broken libcrypto */
	digest_format(md, ret);
}
