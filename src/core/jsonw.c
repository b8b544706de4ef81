/*
 * jsonw.c: the streaming JSON writer.
 */
#include "core/jsonw.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

void jsonw_init(struct jsonw *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

/* Write the separator a new value needs at this point. */
static void value_start(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (w->need_comma[w->depth])
			buf_putc(w->out, ',');
		w->need_comma[w->depth] = true;
	}
}

static void nest_open(struct jsonw *w, char c)
{
	value_start(w);
	buf_putc(w->out, c);
	assert(w->depth + 1 < JSONW_MAX_DEPTH);
	w->depth++;
	w->need_comma[w->depth] = false;
}

static void nest_close(struct jsonw *w, char c)
{
	assert(w->depth > 0 && !w->after_key);
	w->depth--;
	buf_putc(w->out, c);
}

void jsonw_obj_begin(struct jsonw *w)
{
	nest_open(w, '{');
}

void jsonw_obj_end(struct jsonw *w)
{
	nest_close(w, '}');
}

void jsonw_arr_begin(struct jsonw *w)
{
	nest_open(w, '[');
}

void jsonw_arr_end(struct jsonw *w)
{
	nest_close(w, ']');
}

void jsonw_key(struct jsonw *w, const char *key)
{
	assert(!w->after_key);
	value_start(w);
	json_escape(w->out, key, strlen(key));
	buf_putc(w->out, ':');
	w->after_key = true;
}

void json_escape(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	buf_grow(out, n + 2);
	buf_putc(out, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		buf_puts(out, esc);
	}
	buf_append(out, s + run, n - run);
	buf_putc(out, '"');
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	value_start(w);
	json_escape(w->out, s, n);
}

void jsonw_str(struct jsonw *w, const char *s)
{
	if (!s) {
		jsonw_null(w);
		return;
	}
	jsonw_strn(w, s, strlen(s));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	/* by hand: printf's machinery costs more than the rest of writing an event */
	char tmp[24];
	size_t i = sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	value_start(w);
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	buf_append(w->out, tmp + i, sizeof(tmp) - i);
}

void jsonw_double(struct jsonw *w, double v)
{
	value_start(w);
	if (!isfinite(v))
		buf_puts(w->out, "0");
	else
		buf_printf(w->out, "%.17g", v);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	value_start(w);
	buf_puts(w->out, v ? "true" : "false");
}

void jsonw_null(struct jsonw *w)
{
	value_start(w);
	buf_puts(w->out, "null");
}

void jsonw_time_ms(struct jsonw *w, int64_t epoch_ms)
{
	int64_t ms = epoch_ms % 1000;

	value_start(w);
	if (ms < 0)
		ms = -ms;
	buf_printf(w->out, "%" PRId64 ".%03" PRId64, epoch_ms / 1000, ms);
}

void jsonw_raw(struct jsonw *w, const char *json, size_t n)
{
	value_start(w);
	buf_append(w->out, json, n);
}

void jsonw_key_str(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void jsonw_key_int(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void jsonw_key_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void jsonw_key_time_ms(struct jsonw *w, const char *key, int64_t epoch_ms)
{
	jsonw_key(w, key);
	jsonw_time_ms(w, epoch_ms);
}

void jsonw_key_raw(struct jsonw *w, const char *key, const char *json, size_t n)
{
	jsonw_key(w, key);
	jsonw_raw(w, json, n);
}
