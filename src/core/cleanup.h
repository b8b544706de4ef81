/*
 * cleanup.h: scope-bound cleanup for locals, so that every early return frees
 * what the function owns. `_cleanup_free_ char *s = ...;` frees s when it goes
 * out of scope; `return TAKE_PTR(s);` hands ownership to the caller instead.
 */
#ifndef BERTH_CLEANUP_H
#define BERTH_CLEANUP_H

#include <stdlib.h>

static inline void freep(void *p)
{
	free(*(void **)p);
}

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)

/* Define `name##p` that calls `func` on a pointer if it is not NULL. */
#define DEFINE_CLEANUP_FUNC(type, func)      \
	static inline void func##p(type **p) \
	{                                    \
		if (*p)                      \
			func(*p);            \
	}

/* Return the pointer and forget it, so the cleanup handler frees nothing. */
#define TAKE_PTR(p)                      \
	({                               \
		__typeof__(p) _p_ = (p); \
		(p) = NULL;              \
		_p_;                     \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
