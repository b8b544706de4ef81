/*
 * digest.h: content digests as OCI writes them, "sha256:" and 64 lowercase
 * hex digits: checking one, and computing one of bytes in memory.
 */
#ifndef BERTH_CORE_DIGEST_H
#define BERTH_CORE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

/* "sha256:" + 64 hex digits + NUL */
#define DIGEST_SIZE 72

/* Whether s is "sha256:" followed by 64 lowercase hex digits. */
bool digest_valid(const char *s);

/* The digest of n bytes at data. */
void digest_sha256(const void *data, size_t n, char ret[DIGEST_SIZE]);

/* The digest from a finished SHA-256 (32 bytes). */
void digest_format(const unsigned char md[32], char ret[DIGEST_SIZE]);

#endif
