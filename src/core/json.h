/*
 * json.h: reading parsed request bodies (cJSON trees). The getters return
 * the member when it is present with the right type and a fallback
 * otherwise; requests are checked against the API model before handlers
 * read them, so a wrong type here means "absent". JSON null counts as absent.
 */
#ifndef BERTH_JSON_H
#define BERTH_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/jsonw.h"

const cJSON *json_get(const cJSON *obj, const char *key);
/* The string member, or NULL. */
const char *json_str(const cJSON *obj, const char *key);
/* The number member as an integer, or def. */
int64_t json_int(const cJSON *obj, const char *key, int64_t def);
/* Whether the member is present (and not null). */
bool json_has(const cJSON *obj, const char *key);
bool json_bool(const cJSON *obj, const char *key, bool def);
/* The array member, or NULL. */
const cJSON *json_arr(const cJSON *obj, const char *key);
/* The object member, or NULL. */
const cJSON *json_obj(const cJSON *obj, const char *key);

/*
 * The first object of array whose string member field equals value, or
 * NULL (also for an array that is NULL or not an array). The result
 * belongs to array; it is not const so that a caller holding a mutable
 * array may change it (as strchr does).
 */
cJSON *json_array_find(const cJSON *array, const char *field, const char *value);

/*
 * Write v into w as the value of key (NULL: as the next value), printed
 * compactly and spliced in: how stored JSON goes into a response.
 */
void json_write(struct jsonw *w, const char *key, const cJSON *v);

/*
 * Set member key of obj to item (which obj then owns), in the place of a
 * member of that name, or at the end. Nothing happens when item is NULL.
 */
void json_set(cJSON *obj, const char *key, cJSON *item);
void json_set_str(cJSON *obj, const char *key, const char *s);
void json_set_num(cJSON *obj, const char *key, double v);

/* Append v printed compactly to out. */
void json_print(struct buf *out, const cJSON *v);

/* cJSON_Delete as a cleanup function. */
static inline void json_freep(cJSON **p)
{
	if (*p)
		cJSON_Delete(*p);
}
#define _cleanup_json_ __attribute__((cleanup(json_freep)))

#endif
