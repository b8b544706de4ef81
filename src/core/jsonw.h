/*
 * jsonw.h: a streaming JSON writer straight into a buf, with no tree built in
 * between. The writer tracks nesting to place commas; the caller keeps the
 * calls balanced (an unbalanced call is a programmer error and asserts).
 *
 *   jsonw_obj_begin(w);
 *   jsonw_key_str(w, "clusterName", name);
 *   jsonw_key(w, "tags"); jsonw_arr_begin(w); ... jsonw_arr_end(w);
 *   jsonw_obj_end(w);
 */
#ifndef BERTH_JSONW_H
#define BERTH_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define JSONW_MAX_DEPTH 64

struct jsonw {
	struct buf *out; /* borrowed */
	int depth;
	bool need_comma[JSONW_MAX_DEPTH];
	bool after_key;
};

void jsonw_init(struct jsonw *w, struct buf *out);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);

void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_double(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Epoch seconds with milliseconds, the way AWS JSON carries timestamps. */
void jsonw_time_ms(struct jsonw *w, int64_t epoch_ms);
/* Splice an already-valid JSON value (a stored document) in place. */
void jsonw_raw(struct jsonw *w, const char *json, size_t n);

/* Shorthands for a key followed by its value. */
void jsonw_key_str(struct jsonw *w, const char *key, const char *s);
void jsonw_key_int(struct jsonw *w, const char *key, int64_t v);
void jsonw_key_bool(struct jsonw *w, const char *key, bool v);
void jsonw_key_time_ms(struct jsonw *w, const char *key, int64_t epoch_ms);
void jsonw_key_raw(struct jsonw *w, const char *key, const char *json, size_t n);

/* Append s to out as a JSON string literal, quotes included. */
void json_escape(struct buf *out, const char *s, size_t n);

#endif
