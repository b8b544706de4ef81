/*
 * resource_tags.c: the tag rules ECS and ECR share (see resource_tags.h),
 * in one place so that the two APIs cannot drift apart.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "api/ecs.h"
#include "api/resource_tags.h"
#include "core/json.h"
#include "core/banned.h"

/* Letters, digits, spaces and _ . : / = + - @ (UTF-8 letters let through). */
static bool valid_tag_text(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(" _.:/=+-@", c))
			continue;
		return false;
	}
	return true;
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int resource_tag_key_check(const struct resource_tag_style *style, const char *key, struct err *err)
{
	if (!key || !*key)
		return err_set(err, -EINVAL, style->invalid, "Tag keys must not be empty");
	if (utf8_len(key) > RESOURCE_TAG_KEY_MAX)
		return err_set(err, -EINVAL, style->invalid,
			       "Tag key '%.40s...' is longer than %d characters", key,
			       RESOURCE_TAG_KEY_MAX);
	if (!valid_tag_text(key))
		return err_set(err, -EINVAL, style->invalid,
			       "Tag key '%.200s' has characters outside letters, numbers, spaces "
			       "and _ . : / = + - @",
			       key);
	if (!strncasecmp(key, "aws:", 4))
		return err_set(err, -EINVAL, style->invalid,
			       "Tag keys starting with 'aws:' are reserved for AWS use: '%.200s'",
			       key);
	return 0;
}

int resource_tags_validate(const struct resource_tag_style *style, const cJSON *tags,
			   struct err *err)
{
	const cJSON *t, *u;
	int r;

	if (!tags)
		return 0;
	if (cJSON_GetArraySize(tags) > RESOURCE_TAGS_MAX)
		return err_set(err, -EINVAL, style->too_many,
			       "A resource can have at most %d tags; the request has %d",
			       RESOURCE_TAGS_MAX, cJSON_GetArraySize(tags));
	cJSON_ArrayForEach(t, tags) {
		const char *key = json_str(t, style->key);
		const char *value = json_str(t, style->value);

		r = resource_tag_key_check(style, key, err);
		if (r < 0)
			return r;
		if (!value && style->value_required)
			return err_set(err, -EINVAL, style->invalid, "Tag '%.128s' has no value",
				       key);
		if (!value)
			value = "";
		if (utf8_len(value) > RESOURCE_TAG_VALUE_MAX)
			return err_set(err, -EINVAL, style->invalid,
				       "The value of tag '%.128s' is longer than %d characters",
				       key, RESOURCE_TAG_VALUE_MAX);
		if (!valid_tag_text(value))
			return err_set(err, -EINVAL, style->invalid,
				       "The value of tag '%.128s' has characters outside letters, "
				       "numbers, spaces and _ . : / = + - @",
				       key);
		for (u = tags->child; u != t; u = u->next)
			if (!strcmp(json_str(u, style->key), key))
				return err_set(err, -EINVAL, style->invalid,
					       "Tag key '%.128s' is given more than once", key);
	}
	return 0;
}

int resource_tags_merge(const struct resource_tag_style *style, cJSON *doc, const cJSON *tags,
			struct err *err)
{
	cJSON *have = ecs_doc_array(doc, "tags");
	const cJSON *t;

	cJSON_ArrayForEach(t, tags) {
		const char *key = json_str(t, style->key);
		const char *value = json_str(t, style->value);
		cJSON *item, *found = json_array_find(have, style->key, key);

		if (found) {
			cJSON_ReplaceItemInObjectCaseSensitive(
				found, style->value, cJSON_CreateString(value ? value : ""));
			continue;
		}
		if (cJSON_GetArraySize(have) >= RESOURCE_TAGS_MAX)
			return err_set(err, -EINVAL, style->too_many,
				       "A resource can have at most %d tags", RESOURCE_TAGS_MAX);
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, style->key, key);
		cJSON_AddStringToObject(item, style->value, value ? value : "");
		cJSON_AddItemToArray(have, item);
	}
	return 0;
}

int resource_tags_remove(const struct resource_tag_style *style, cJSON *doc, const cJSON *keys,
			 struct err *err)
{
	cJSON *have = cJSON_GetObjectItemCaseSensitive(doc, "tags");
	const cJSON *k;
	int r;

	cJSON_ArrayForEach(k, keys) {
		cJSON *item, *next;

		r = resource_tag_key_check(style, cJSON_IsString(k) ? k->valuestring : NULL, err);
		if (r < 0)
			return r;
		for (item = cJSON_IsArray(have) ? have->child : NULL; item; item = next) {
			next = item->next;
			if (json_str(item, style->key) &&
			    !strcmp(json_str(item, style->key), k->valuestring))
				cJSON_Delete(cJSON_DetachItemViaPointer(have, item));
		}
	}
	return 0;
}
