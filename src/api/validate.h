/*
 * validate.h: checking a parsed request body against its operation's input
 * shape from the API model (api/model.h), before any handler sees it, so
 * that handlers can trust the types, required members, enums and limits the
 * model declares. The checks follow the way AWS's JSON 1.1 protocol servers
 * classify errors; where their behaviour is not known, the stricter choice is
 * made and said below:
 *
 *   - a value of the wrong JSON type for its shape is a SerializationException
 *     (E_SERIALIZATION): a string where an integer goes, an object where a
 *     list goes, a fractional number or one outside 32 (64) bits for an
 *     integer (long), a non-number for a timestamp (epoch seconds), a blob
 *     that is not base64, a string that is not UTF-8;
 *   - JSON null for a member means the member is absent; null as a list item
 *     or a map value is a SerializationException (handlers can then rely on
 *     every item having its shape's type);
 *   - members the model does not know are ignored, as AWS ignores them;
 *   - everything else is an InvalidParameterException (E_INVALID_PARAMETER):
 *     a missing required member, an enum value not in the model's list,
 *     a number outside the model's min/max, a string, blob, list or map whose
 *     length is outside them, a union with other than exactly one member.
 *     String lengths count code points, as Smithy's @length does. The
 *     models' regular-expression patterns are not checked.
 *
 * Messages say what is wrong first and quote the member's path, written as
 * in the request: `containerDefinitions[0].portMappings[1].containerPort`,
 * `dockerLabels["com.example"]` for a map entry (its key and its value).
 * Quoted user strings are cut, on a character boundary, after 64 bytes.
 * The wordings are:
 *
 *   STRING_VALUE can not be converted to an Integer at 'containerDefinitions[0].memory'
 *   Start of list found where not expected at 'family'
 *   Required parameter 'containerDefinitions[0].secrets[0].valueFrom' is missing
 *   Invalid value 'bogus' for 'networkMode': must be one of: bridge, host, awsvpc, none
 *   Invalid value 51 for 'limit': must be at most 50
 *   Invalid length 0 for 'logGroupName': must be at least 1 character
 *   Invalid length 51 for 'tags': must be at most 50 items
 *
 * The required-member wording is our own (AWS services word it variously);
 * it names the full path so a client can find the member in a large request.
 *
 * The input is untrusted: nesting deeper than MODEL_MAX_DEPTH (a
 * SerializationException) and more than MODEL_MAX_VALUES values in one
 * request (RequestEntityTooLargeException) are refused, with -E2BIG, rather
 * than walked. Neither happens with the models as they are (no shape is
 * recursive, and a body within the API's size limit has fewer values), so
 * they only guard against a future model or a missing size limit.
 */
#ifndef BERTH_API_VALIDATE_H
#define BERTH_API_VALIDATE_H

#include <cjson/cJSON.h>

#include "api/model.h"
#include "core/err.h"

/* Deepest nesting of structures, lists and maps walked. */
#define MODEL_MAX_DEPTH 64

/* Most values (of any type, at any depth) checked in one request. */
#define MODEL_MAX_VALUES 1000000

/*
 * The operation of svc called name (case-sensitive, as AWS matches
 * X-Amz-Target), or NULL if svc has no such operation. Borrowed from the
 * static tables: never freed.
 */
const struct model_operation *model_find_operation(const struct model_service *svc,
						   const char *name);

/*
 * Check input, the parsed JSON body of a request for op (an empty body is
 * `{}`), against op's input shape. Returns 0 if it conforms; otherwise a
 * negative errno (-EINVAL, or -E2BIG for a request over the limits above)
 * with err filled in for the first problem found (kinds as described at the
 * top of this file). err is untouched on success.
 */
int model_validate(const struct model_service *svc, const struct model_operation *op,
		   const cJSON *input, struct err *err);

#endif
