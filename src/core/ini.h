/*
 * ini.h: the INI dialect of the aws CLI's ~/.aws/credentials and
 * ~/.aws/config, also used for berth's own CLI config: `[section]` lines,
 * `key = value` lines (whitespace around both trimmed), comments on lines
 * starting with '#' or ';', and botocore's nested values: an indented line
 * after `key =` continues it (`s3 =\n  max_concurrent_requests = 10`),
 * reported as the key "KEY.SUBKEY" (so such a block never shadows a plain
 * key). A line that is none of these is an error naming its number. The
 * input is untrusted (any file a user points at): limits are explicit.
 */
#ifndef BERTH_CORE_INI_H
#define BERTH_CORE_INI_H

#include <stddef.h>

#include "core/err.h"

#define INI_LINE_MAX	4096
#define INI_SECTION_MAX 256
#define INI_KEY_MAX	256

/*
 * Called for each key (section "" before the first [section]). A non-zero
 * return stops the parse, which then returns it.
 */
typedef int (*ini_fn)(void *ctx, const char *section, const char *key, const char *value);

/* Parse data (len bytes, need not be NUL-terminated). 0, fn's stop, or -EINVAL with err. */
int ini_parse(const char *data, size_t len, ini_fn fn, void *ctx, struct err *err);

/*
 * The value of key in section of data, copied into ret (size bytes): 1
 * found, 0 absent, -EINVAL for a malformed file, -ENAMETOOLONG when the
 * value does not fit. The last one wins when a key repeats.
 */
int ini_get(const char *data, size_t len, const char *section, const char *key, char *ret,
	    size_t size, struct err *err);

#endif
