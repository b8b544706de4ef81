/*
 * libarchive.c: libarchive loaded on demand (libarchive.h): dlopen at the
 * first acquisition, dlclose at the last release, under one lock.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "agent/libarchive.h"
#include "core/banned.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned users;
static void *handle;
static struct libarchive table;

int libarchive_acquire(const struct libarchive **ret, struct err *err)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	if (users == 0) {
		const char *missing = NULL;

		handle = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
		if (!handle) {
			r = err_set(err, -ENOENT, E_SERVER,
				    "unpacking layers needs " LIBARCHIVE_SONAME
				    " (Debian's libarchive13): %.200s",
				    dlerror());
			goto out;
		}
#define LIBARCHIVE_LOAD(name)                         \
	*(void **)&table.name = dlsym(handle, #name); \
	if (!table.name && !missing)                  \
		missing = #name;
		LIBARCHIVE_FUNCTIONS(LIBARCHIVE_LOAD)
#undef LIBARCHIVE_LOAD
		if (missing) {
			dlclose(handle);
			handle = NULL;
			r = err_set(err, -ENOENT, E_SERVER, LIBARCHIVE_SONAME " has no function %s",
				    missing);
			goto out;
		}
	}
	users++;
	*ret = &table;
out:
	pthread_mutex_unlock(&lock);
	return r;
}

void libarchive_release(void)
{
	pthread_mutex_lock(&lock);
	if (users > 0 && --users == 0) {
		dlclose(handle);
		handle = NULL;
	}
	pthread_mutex_unlock(&lock);
}
