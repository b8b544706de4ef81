/*
 * base64.c: base64 encoding and decoding.
 */
#include "core/base64.h"

#include <errno.h>

#include "core/banned.h"

void base64_encode(struct buf *out, const void *data, size_t n, bool url_safe)
{
	static const char std[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char url[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *a = url_safe ? url : std;
	const unsigned char *p = data;
	size_t i;

	buf_grow(out, (n + 2) / 3 * 4);
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		buf_putc(out, a[v >> 18]);
		buf_putc(out, a[(v >> 12) & 63]);
		buf_putc(out, a[(v >> 6) & 63]);
		buf_putc(out, a[v & 63]);
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);

		buf_putc(out, a[v >> 18]);
		buf_putc(out, a[(v >> 12) & 63]);
		if (i + 1 < n)
			buf_putc(out, a[(v >> 6) & 63]);
		else if (!url_safe)
			buf_putc(out, '=');
		if (!url_safe)
			buf_putc(out, '=');
	}
}

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int base64_decode(struct buf *out, const char *s, size_t n)
{
	unsigned acc = 0;
	int bits = 0;
	size_t i, pad = 0;

	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad && (n + pad) % 4))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		int v = value_of(s[i]);

		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
	return 0;
}
