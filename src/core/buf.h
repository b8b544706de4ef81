/*
 * buf.h: a growable byte buffer that owns its memory (git's strbuf). The
 * contents are always NUL-terminated so they can be used as a C string.
 * Allocation failure aborts: a server out of memory cannot answer anyway.
 */
#ifndef BERTH_BUF_H
#define BERTH_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
};

#define BUF_INIT           \
	{                  \
		NULL, 0, 0 \
	}

void buf_init(struct buf *b);
/* Free the contents; the buf can be used again afterwards. */
void buf_release(struct buf *b);
/* Make room for n more bytes. */
void buf_grow(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Hand the contents to the caller (never NULL), leaving b empty. */
char *buf_detach(struct buf *b, size_t *ret_len);
/* The contents as a C string: "" for an empty buffer. */
const char *buf_str(const struct buf *b);

/* Release a local buf when it goes out of scope. */
#define _cleanup_buf_ __attribute__((cleanup(buf_release)))

#endif
