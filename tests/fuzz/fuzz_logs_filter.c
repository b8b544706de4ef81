/*
 * fuzz_logs_filter.c: libFuzzer target over the CloudWatch Logs filter
 * patterns any client sends in FilterLogEvents (src/api/logs_filter.c), and
 * the awslogs-datetime-format option of a task definition turned into a
 * regular expression (src/agent/awslogs.c). The input up to its first NUL
 * is the pattern; what follows is a message matched against it.
 */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/awslogs.h"
#include "api/logs_filter.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nul = memchr(p, 0, size);
	size_t plen = nul ? (size_t)(nul - p) : size;
	const char *msg = nul ? nul + 1 : "";
	size_t mlen = nul ? size - plen - 1 : 0;
	struct logs_filter f;
	struct err err = ERR_INIT;
	struct buf re = BUF_INIT;
	char *fmt;

	if (logs_filter_parse(p, plen, &f, &err) == 0) {
		(void)logs_filter_match(&f, msg, mlen);
		logs_filter_release(&f);
	}
	fmt = malloc(plen + 1);
	if (!fmt)
		return 0;
	memcpy(fmt, p, plen);
	fmt[plen] = 0;
	if (awslogs_datetime_regex(fmt, &re, &err) == 0) {
		regex_t r;

		if (regcomp(&r, buf_str(&re), REG_EXTENDED | REG_NOSUB) == 0)
			regfree(&r);
	}
	buf_release(&re);
	free(fmt);
	return 0;
}
