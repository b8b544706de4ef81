/*
 * credentials.h: the access key pairs berth accepts (server) or signs with
 * (agent, CLI). Loaded from a file of `ACCESS_KEY_ID SECRET_ACCESS_KEY` lines
 * or, when no file is named, from BERTH_ACCESS_KEY_ID and
 * BERTH_SECRET_ACCESS_KEY. The set is read-only once loaded, so lookups need
 * no lock.
 */
#ifndef BERTH_CREDENTIALS_H
#define BERTH_CREDENTIALS_H

#include <stddef.h>

#include "core/err.h"

#define CREDENTIALS_MAX	     1024
#define CREDENTIAL_FIELD_MAX 128

struct credential {
	char access_key[CREDENTIAL_FIELD_MAX + 1];
	char secret_key[CREDENTIAL_FIELD_MAX + 1];
};

struct credentials {
	struct credential *pairs; /* sorted by access_key */
	size_t n;
};

/*
 * Load the pairs from path, or from the environment when path is NULL.
 * Fails when there is none at all: berth never runs open. Lines that are
 * blank or start with '#' are skipped. Release with credentials_release().
 */
int credentials_load(struct credentials *c, const char *path, struct err *err);
void credentials_release(struct credentials *c);

/* The secret for access_key, or NULL (borrowed from c). */
const char *credentials_secret(const struct credentials *c, const char *access_key);

#endif
