/*
 * util.h: small helpers shared by every world: clocks, random identifiers,
 * and bounded parsing of numbers.
 */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in milliseconds since the epoch. */
int64_t now_ms(void);
/* Monotonic time in nanoseconds. */
uint64_t mono_ns(void);

/* Fill buf with n random bytes from the kernel; aborts if it cannot. */
void random_bytes(void *buf, size_t n);

/* A random UUID (version 4) as 36 characters plus NUL. */
void uuid_v4(char out[37]);

/* A random lowercase hex id of 2*nbytes characters (an ECS task id is 16 bytes). */
void random_hex(char *out, size_t nbytes);

/*
 * Parse all of s as a decimal integer in [min, max]. Returns 0, or -EINVAL
 * for anything else (empty, trailing bytes, out of range).
 */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Whether s starts with prefix. */
bool startswith(const char *s, const char *prefix);

#endif
