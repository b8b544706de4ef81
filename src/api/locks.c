/*
 * locks.c: striped locks that serialise read-modify-write cycles on one
 * resource within this process. The store's compare-and-swap keeps updates
 * correct on its own, but under group commit only one of N concurrent
 * writers of a key wins each batch, so N writers of one hot key would need up
 * to N rounds of retries. Taking the key's lock first makes them queue
 * instead; the compare-and-swap still guards against other processes.
 */
#include <pthread.h>
#include <stdint.h>

#include "api/api.h"
#include "core/banned.h"

#define STRIPES 256

static pthread_mutex_t stripes[STRIPES] = { [0 ... STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER };

static pthread_mutex_t *stripe(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return &stripes[h % STRIPES];
}

void api_lock(const char *key)
{
	pthread_mutex_lock(stripe(key));
}

void api_unlock(const char *key)
{
	pthread_mutex_unlock(stripe(key));
}
