/*
 * resource_tags.h: the tag rules the ECS and ECR APIs share. Both
 * references give the same ones: a resource has at most RESOURCE_TAGS_MAX
 * tags, a key is 1 to RESOURCE_TAG_KEY_MAX and a value 0 to
 * RESOURCE_TAG_VALUE_MAX UTF-8 characters of letters, numbers, spaces and
 * _ . : / = + - @, keys starting with "aws:" (any case) are AWS's, and a
 * request names each key once. What differs between the APIs is a
 * parameter (struct resource_tag_style): the member names of a tag ("key"
 * and "value" in ECS, "Key" and "Value" in ECR), whether the value may be
 * absent, and the error kinds of the answers.
 *
 * A resource keeps its tags in its own document, as a "tags" array of
 * tags in the order they were first set.
 */
#ifndef BERTH_API_RESOURCE_TAGS_H
#define BERTH_API_RESOURCE_TAGS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "core/err.h"

#define RESOURCE_TAGS_MAX      50
#define RESOURCE_TAG_KEY_MAX   128
#define RESOURCE_TAG_VALUE_MAX 256

/* How one API spells tags and answers about them. */
struct resource_tag_style {
	const char *key, *value; /* a tag's member names */
	bool value_required;	 /* ECR's Tag.Value is required; ECS's may be absent: "" */
	enum err_kind invalid;	 /* a key or value against the rules, a key given twice */
	enum err_kind too_many;	 /* more than RESOURCE_TAGS_MAX tags */
};

/* Check one tag key (of a request's tags or tag keys). */
int resource_tag_key_check(const struct resource_tag_style *style, const char *key,
			   struct err *err);

/* Check a request's list of tags against the rules; NULL is fine. */
int resource_tags_validate(const struct resource_tag_style *style, const cJSON *tags,
			   struct err *err);

/*
 * Merge tags (a request's list, validated) into doc's "tags" array (created
 * when missing), each copied as its key and value only: a key already there
 * takes the new value. Fails when the result would hold more than
 * RESOURCE_TAGS_MAX tags. err may be NULL.
 */
int resource_tags_merge(const struct resource_tag_style *style, cJSON *doc, const cJSON *tags,
			struct err *err);

/*
 * Remove the tags whose keys (a request's list of strings) name from doc's
 * "tags"; a key doc does not have is fine, a key against the rules is not.
 */
int resource_tags_remove(const struct resource_tag_style *style, cJSON *doc, const cJSON *keys,
			 struct err *err);

#endif
