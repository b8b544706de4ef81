/*
 * validate.c: walking a parsed JSON request body alongside its operation's
 * input shape from the generated model tables, and reporting the first value
 * that does not conform (see validate.h for the rules and the wordings).
 * The walk follows the shape, not the JSON: members the model does not know
 * are never descended into, and each JSON value is looked at a bounded
 * number of times, so the work is linear in the size of the body.
 */
#include "api/validate.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

/* Longest member path kept for messages; longer ones end in "...". */
#define PATH_MAX_LEN 256

/* Longest piece of a user's string (value, map key) quoted in a message. */
#define QUOTE_MAX 64

struct walk {
	const struct model_service *svc;
	struct err *err;
	size_t values; /* values checked so far */
	int depth;     /* structures, lists and maps we are inside */
	size_t len;    /* of path */
	char path[PATH_MAX_LEN];
};

const struct model_operation *model_find_operation(const struct model_service *svc,
						   const char *name)
{
	size_t lo = 0, hi;

	if (!svc || !name)
		return NULL;
	hi = svc->noperations;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, svc->operations[mid].name);

		if (c == 0)
			return &svc->operations[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * How many bytes of s, at most max, to quote without cutting a UTF-8
 * sequence in two (the message ends up in a JSON response).
 */
static int quote_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == max)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	return (int)n;
}

/* The "..." that follows a quoted string cut at QUOTE_MAX. */
static const char *quote_more(const char *s)
{
	return strnlen(s, QUOTE_MAX + 1) > QUOTE_MAX ? "..." : "";
}

/* Append a segment to the path; returns the length to restore afterwards. */
__attribute__((format(printf, 2, 3))) static size_t path_push(struct walk *w, const char *fmt, ...)
{
	size_t old = w->len, room = sizeof(w->path) - w->len;
	va_list ap;
	int r;

	if (room <= 1)
		return old; /* already cut and marked */
	va_start(ap, fmt);
	r = vsnprintf(w->path + w->len, room, fmt, ap);
	va_end(ap);
	if (r < 0) {
		w->path[w->len] = '\0';
		return old;
	}
	if ((size_t)r >= room) {
		w->len = sizeof(w->path) - 1;
		memcpy(w->path + w->len - 3, "...", 3);
	} else {
		w->len += (size_t)r;
	}
	return old;
}

static void path_pop(struct walk *w, size_t old)
{
	w->len = old;
	w->path[old] = '\0';
}

static size_t path_push_member(struct walk *w, const char *name)
{
	return w->len ? path_push(w, ".%s", name) : path_push(w, "%s", name);
}

static const char *type_noun(uint8_t type)
{
	switch (type) {
	case MODEL_STRUCTURE: return "a Structure";
	case MODEL_LIST: return "a List";
	case MODEL_MAP: return "a Map";
	case MODEL_STRING: return "a String";
	case MODEL_INTEGER: return "an Integer";
	case MODEL_LONG: return "a Long";
	case MODEL_BOOLEAN: return "a Boolean";
	case MODEL_DOUBLE: return "a Double";
	case MODEL_FLOAT: return "a Float";
	case MODEL_TIMESTAMP: return "a Timestamp";
	case MODEL_BLOB: return "a Blob";
	}
	return "a Document";
}

/* The wrong JSON type for shape s; the wording follows AWS's. */
static int type_error(struct walk *w, const cJSON *v, const struct model_shape *s)
{
	const char *kind;

	if (cJSON_IsObject(v))
		return err_set(w->err, -EINVAL, E_SERIALIZATION,
			       "Start of structure or map found where not expected at '%s'",
			       w->path);
	if (cJSON_IsArray(v))
		return err_set(w->err, -EINVAL, E_SERIALIZATION,
			       "Start of list found where not expected at '%s'", w->path);
	if (cJSON_IsString(v))
		kind = "STRING_VALUE";
	else if (cJSON_IsNumber(v))
		kind = "NUMBER_VALUE";
	else if (cJSON_IsBool(v))
		kind = "BOOLEAN_VALUE";
	else
		kind = "NULL_VALUE";
	return err_set(w->err, -EINVAL, E_SERIALIZATION, "%s can not be converted to %s at '%s'",
		       kind, type_noun(s->type), w->path);
}

/* min/max of a length; unit and units name what is counted (one, many). */
static int length_error(struct walk *w, const struct model_shape *s, size_t n, const char *unit,
			const char *units)
{
	if ((s->flags & MODEL_HAS_MIN) && (int64_t)n < s->min)
		return err_set(w->err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid length %zu for '%s': must be at least %" PRId64 " %s", n,
			       w->path, s->min, s->min == 1 ? unit : units);
	if ((s->flags & MODEL_HAS_MAX) && n > (uint64_t)s->max)
		return err_set(w->err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid length %zu for '%s': must be at most %" PRId64 " %s", n,
			       w->path, s->max, s->max == 1 ? unit : units);
	return 0;
}

/*
 * Count the code points of a NUL-terminated string, refusing anything that
 * is not well-formed UTF-8 (overlong forms, surrogates, beyond U+10FFFF).
 */
static bool utf8_count(const char *str, size_t *ret_n)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t n = 0;

	while (*p) {
		uint32_t cp, min;
		int len, i;

		if (*p < 0x80) {
			p++;
			n++;
			continue;
		}
		if ((*p & 0xE0) == 0xC0) {
			len = 2;
			cp = *p & 0x1F;
			min = 0x80;
		} else if ((*p & 0xF0) == 0xE0) {
			len = 3;
			cp = *p & 0x0F;
			min = 0x800;
		} else if ((*p & 0xF8) == 0xF0) {
			len = 4;
			cp = *p & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		/* the terminating NUL is not a continuation byte: no overread */
		for (i = 1; i < len; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += len;
		n++;
	}
	*ret_n = n;
	return true;
}

static int check_string(struct walk *w, const struct model_shape *s, const char *str)
{
	size_t n;

	if (!utf8_count(str, &n))
		return err_set(w->err, -EINVAL, E_SERIALIZATION, "Invalid UTF-8 in string at '%s'",
			       w->path);
	if (s->enums.count && s->type == MODEL_STRING) {
		const char *const *vals = &w->svc->enums[s->enums.first];
		char list[ERR_MSG_MAX / 2];
		size_t used = 0;
		uint16_t i;

		for (i = 0; i < s->enums.count; i++)
			if (strcmp(str, vals[i]) == 0)
				break;
		if (i == s->enums.count) {
			list[0] = '\0';
			for (i = 0; i < s->enums.count; i++) {
				int r = snprintf(list + used, sizeof(list) - used, "%s%s",
						 i ? ", " : "", vals[i]);

				if (r < 0 || (size_t)r >= sizeof(list) - used) {
					/* cut: end the list with "..." */
					memcpy(list + sizeof(list) - 4, "...", 4);
					break;
				}
				used += (size_t)r;
			}
			return err_set(w->err, -EINVAL, E_INVALID_PARAMETER,
				       "Invalid value '%.*s%s' for '%s': must be one of: %s",
				       quote_len(str, QUOTE_MAX), str, quote_more(str), w->path,
				       list);
		}
	}
	return length_error(w, s, n, "character", "characters");
}

/* The decoded length of base64 text, or false if it is not base64. */
static bool base64_len(const char *s, size_t *ret_n)
{
	size_t len = strlen(s), pad = 0, body, i;

	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	body = len - pad;
	for (i = 0; i < body; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	if (pad ? len % 4 != 0 : body % 4 == 1)
		return false;
	*ret_n = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
	return true;
}

/* min/max of a number shape; integral says whether to print i or d. */
static int check_range(struct walk *w, const struct model_shape *s, bool integral, int64_t i,
		       double d)
{
	bool low, high;
	char val[32];

	if (integral) {
		low = (s->flags & MODEL_HAS_MIN) && i < s->min;
		high = (s->flags & MODEL_HAS_MAX) && i > s->max;
		snprintf(val, sizeof(val), "%" PRId64, i);
	} else {
		low = (s->flags & MODEL_HAS_MIN) && d < (double)s->min;
		high = (s->flags & MODEL_HAS_MAX) && d > (double)s->max;
		snprintf(val, sizeof(val), "%.15g", d);
	}
	if (low)
		return err_set(w->err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid value %s for '%s': must be at least %" PRId64, val, w->path,
			       s->min);
	if (high)
		return err_set(w->err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid value %s for '%s': must be at most %" PRId64, val, w->path,
			       s->max);
	return 0;
}

static int check_number(struct walk *w, const struct model_shape *s, const cJSON *v)
{
	double d = v->valuedouble;

	if (s->type == MODEL_INTEGER || s->type == MODEL_LONG) {
		/* 2^31 and 2^63 are exact doubles; NaN fails both comparisons */
		double lo = s->type == MODEL_INTEGER ? -2147483648.0 : -9223372036854775808.0;
		double hi = s->type == MODEL_INTEGER ? 2147483648.0 : 9223372036854775808.0;
		int64_t i;

		if (!(d >= lo && d < hi) || (double)(i = (int64_t)d) != d)
			return err_set(w->err, -EINVAL, E_SERIALIZATION,
				       "NUMBER_VALUE %.15g can not be converted to %s at '%s'", d,
				       type_noun(s->type), w->path);
		return check_range(w, s, true, i, d);
	}
	/* double, float, timestamp: cJSON turns 1e999 into infinity */
	if (!isfinite(d) || (s->type == MODEL_FLOAT && fabs(d) > FLT_MAX))
		return err_set(w->err, -EINVAL, E_SERIALIZATION,
			       "NUMBER_VALUE %.15g can not be converted to %s at '%s'", d,
			       type_noun(s->type), w->path);
	return check_range(w, s, false, 0, d);
}

static int check_value(struct walk *w, uint16_t shape, const cJSON *v);

static const struct model_member *find_member(const struct model_member *first, uint16_t count,
					      const char *name)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, first[mid].name);

		if (c == 0)
			return &first[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int check_structure(struct walk *w, const struct model_shape *s, const cJSON *obj)
{
	const struct model_member *first = &w->svc->members[s->members.first];
	const cJSON *child;
	uint64_t seen = 0;
	uint16_t i;
	int r;

	assert(s->members.count <= MODEL_MAX_MEMBERS);
	/* first which members are present (null counts as absent) ... */
	cJSON_ArrayForEach(child, obj) {
		const struct model_member *m;

		if (!child->string || cJSON_IsNull(child))
			continue;
		m = find_member(first, s->members.count, child->string);
		if (m)
			seen |= UINT64_C(1) << (m - first);
	}
	for (i = 0; i < s->members.count; i++) {
		if (first[i].required && !(seen & (UINT64_C(1) << i))) {
			path_push_member(w, first[i].name);
			return err_set(w->err, -EINVAL, E_INVALID_PARAMETER,
				       "Required parameter '%s' is missing", w->path);
		}
	}
	if ((s->flags & MODEL_UNION) && __builtin_popcountll(seen) != 1)
		return err_set(w->err, -EINVAL, E_INVALID_PARAMETER,
			       "Invalid value for '%s': exactly one member must be set, got %d",
			       w->len ? w->path : "request", __builtin_popcountll(seen));
	/* ... then their values, in the order the request gives them */
	cJSON_ArrayForEach(child, obj) {
		const struct model_member *m;
		size_t old;

		if (!child->string || cJSON_IsNull(child))
			continue;
		m = find_member(first, s->members.count, child->string);
		if (!m)
			continue;
		old = path_push_member(w, m->name);
		r = check_value(w, m->shape, child);
		if (r < 0)
			return r;
		path_pop(w, old);
	}
	return 0;
}

static int check_list(struct walk *w, const struct model_shape *s, const cJSON *arr)
{
	const cJSON *item;
	size_t n = 0;
	int r;

	cJSON_ArrayForEach(item, arr)
		n++;
	r = length_error(w, s, n, "item", "items");
	if (r < 0)
		return r;
	n = 0;
	cJSON_ArrayForEach(item, arr) {
		size_t old = path_push(w, "[%zu]", n++);

		r = check_value(w, s->element, item);
		if (r < 0)
			return r;
		path_pop(w, old);
	}
	return 0;
}

static int check_map(struct walk *w, const struct model_shape *s, const cJSON *obj)
{
	const struct model_shape *key = &w->svc->shapes[s->map.key];
	const cJSON *child;
	size_t n = 0;
	int r;

	cJSON_ArrayForEach(child, obj)
		n++;
	r = length_error(w, s, n, "entry", "entries");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(child, obj) {
		const char *k = child->string ? child->string : "";
		size_t old;

		/* a key is quoted in the path, so it must be UTF-8 before it is */
		if (!utf8_count(k, &n))
			return err_set(w->err, -EINVAL, E_SERIALIZATION,
				       "Invalid UTF-8 in map key at '%s'", w->path);
		old = path_push(w, "[\"%.*s%s\"]", quote_len(k, QUOTE_MAX), k, quote_more(k));
		if (key->type == MODEL_STRING) {
			r = check_string(w, key, k);
			if (r < 0)
				return r;
		}
		r = check_value(w, s->map.value, child);
		if (r < 0)
			return r;
		path_pop(w, old);
	}
	return 0;
}

/* Check v, the value at w->path, against shapes[shape]. */
static int check_value(struct walk *w, uint16_t shape, const cJSON *v)
{
	const struct model_shape *s;
	size_t n;
	int r;

	assert(shape < w->svc->nshapes);
	s = &w->svc->shapes[shape];
	if (++w->values > MODEL_MAX_VALUES)
		return err_set(w->err, -E2BIG, E_REQUEST_TOO_LARGE,
			       "Request has more than %d values", MODEL_MAX_VALUES);
	if (cJSON_IsNull(v)) {
		/* members that are null were skipped: this is a list item or map value */
		if (s->type == MODEL_DOCUMENT)
			return 0;
		return err_set(w->err, -EINVAL, E_SERIALIZATION,
			       "null can not be converted to %s at '%s'", type_noun(s->type),
			       w->path);
	}
	switch (s->type) {
	case MODEL_STRUCTURE:
	case MODEL_LIST:
	case MODEL_MAP:
		if (s->type == MODEL_LIST ? !cJSON_IsArray(v) : !cJSON_IsObject(v))
			return type_error(w, v, s);
		if (w->depth >= MODEL_MAX_DEPTH)
			return err_set(w->err, -E2BIG, E_SERIALIZATION,
				       "Request nests deeper than %d levels at '%s'",
				       MODEL_MAX_DEPTH, w->path);
		w->depth++;
		if (s->type == MODEL_STRUCTURE)
			r = check_structure(w, s, v);
		else if (s->type == MODEL_LIST)
			r = check_list(w, s, v);
		else
			r = check_map(w, s, v);
		w->depth--;
		return r;
	case MODEL_STRING:
		if (!cJSON_IsString(v))
			return type_error(w, v, s);
		return check_string(w, s, v->valuestring);
	case MODEL_BLOB:
		if (!cJSON_IsString(v))
			return type_error(w, v, s);
		if (!base64_len(v->valuestring, &n))
			return err_set(w->err, -EINVAL, E_SERIALIZATION,
				       "Invalid base64 in Blob at '%s'", w->path);
		return length_error(w, s, n, "byte", "bytes");
	case MODEL_BOOLEAN:
		if (!cJSON_IsBool(v))
			return type_error(w, v, s);
		return 0;
	case MODEL_INTEGER:
	case MODEL_LONG:
	case MODEL_DOUBLE:
	case MODEL_FLOAT:
	case MODEL_TIMESTAMP:
		if (!cJSON_IsNumber(v))
			return type_error(w, v, s);
		return check_number(w, s, v);
	case MODEL_DOCUMENT: return 0;
	}
	return err_set(w->err, -EINVAL, E_SERVER, "Unknown shape type %d in the API model",
		       s->type);
}

int model_validate(const struct model_service *svc, const struct model_operation *op,
		   const cJSON *input, struct err *err)
{
	struct walk w = { .svc = svc, .err = err };

	assert(svc && op);
	if (!cJSON_IsObject(input))
		return err_set(err, -EINVAL, E_SERIALIZATION, "Request body must be a JSON object");
	if (op->input == MODEL_NO_SHAPE)
		return 0;
	return check_value(&w, op->input, input);
}
