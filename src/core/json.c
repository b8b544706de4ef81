/*
 * json.c: typed getters over cJSON trees.
 */
#include "core/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

const cJSON *json_get(const cJSON *obj, const char *key)
{
	const cJSON *v;

	if (!obj || !cJSON_IsObject(obj))
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return v && !cJSON_IsNull(v) ? v : NULL;
}

const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t json_int(const cJSON *obj, const char *key, int64_t def)
{
	const cJSON *v = json_get(obj, key);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 9.0e18)
		return def;
	return (int64_t)v->valuedouble;
}

bool json_has(const cJSON *obj, const char *key)
{
	return json_get(obj, key) != NULL;
}

bool json_bool(const cJSON *obj, const char *key, bool def)
{
	const cJSON *v = json_get(obj, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

const cJSON *json_arr(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);

	return cJSON_IsArray(v) ? v : NULL;
}

const cJSON *json_obj(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);

	return cJSON_IsObject(v) ? v : NULL;
}

void json_write(struct jsonw *w, const char *key, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (!s)
		abort();
	if (key)
		jsonw_key(w, key);
	jsonw_raw(w, s, strlen(s));
	cJSON_free(s);
}

void json_print(struct buf *out, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (!s)
		abort();
	buf_puts(out, s);
	cJSON_free(s);
}

cJSON *json_array_find(const cJSON *array, const char *field, const char *value)
{
	if (!cJSON_IsArray(array) || !value)
		return NULL;
	for (cJSON *item = array->child; item; item = item->next) {
		const char *s = json_str(item, field);

		if (s && !strcmp(s, value))
			return item;
	}
	return NULL;
}

void json_set(cJSON *obj, const char *key, cJSON *item)
{
	if (!item)
		return;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
	else
		cJSON_AddItemToObject(obj, key, item);
}

void json_set_str(cJSON *obj, const char *key, const char *s)
{
	json_set(obj, key, cJSON_CreateString(s));
}

void json_set_num(cJSON *obj, const char *key, double v)
{
	json_set(obj, key, cJSON_CreateNumber(v));
}
