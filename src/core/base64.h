/*
 * base64.h: base64 (RFC 4648) in the standard and the URL-safe alphabets.
 */
#ifndef BERTH_BASE64_H
#define BERTH_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Append the encoding of data to out (padded unless url_safe). */
void base64_encode(struct buf *out, const void *data, size_t n, bool url_safe);

/*
 * Append the decoding of s (n bytes) to out. Accepts either alphabet, with
 * or without padding. Returns 0, or -EINVAL on a character outside the
 * alphabets or a bad length (out then holds a partial result).
 */
int base64_decode(struct buf *out, const char *s, size_t n);

#endif
