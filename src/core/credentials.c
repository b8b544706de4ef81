/*
 * credentials.c: loading access key pairs and looking secrets up.
 */
#include "core/credentials.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/banned.h"

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(((const struct credential *)a)->access_key,
		      ((const struct credential *)b)->access_key);
}

static int valid_field(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > CREDENTIAL_FIELD_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int add(struct credentials *c, const char *key, const char *secret, struct err *err)
{
	struct credential *p;

	if (!valid_field(key) || !valid_field(secret))
		return err_set(
			err, -EINVAL, E_CLIENT,
			"an access key id or secret is empty, too long or has odd characters");
	if (c->n >= CREDENTIALS_MAX)
		return err_set(err, -E2BIG, E_CLIENT, "more than %d key pairs", CREDENTIALS_MAX);
	p = realloc(c->pairs, (c->n + 1) * sizeof(*p));
	if (!p)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	c->pairs = p;
	snprintf(p[c->n].access_key, sizeof(p[c->n].access_key), "%s", key);
	snprintf(p[c->n].secret_key, sizeof(p[c->n].secret_key), "%s", secret);
	c->n++;
	return 0;
}

static int load_file(struct credentials *c, const char *path, struct err *err)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	int lineno = 0, r = 0;

	if (!f)
		return err_set(err, -errno, E_CLIENT, "opening credentials file '%s': %m", path);
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *key, *secret, *extra;

		lineno++;
		key = strtok_r(line, " \t\r\n", &save);
		if (!key || key[0] == '#')
			continue;
		secret = strtok_r(NULL, " \t\r\n", &save);
		extra = strtok_r(NULL, " \t\r\n", &save);
		if (!secret || extra) {
			r = err_set(err, -EINVAL, E_CLIENT,
				    "'%s' line %d: expected 'ACCESS_KEY_ID SECRET_ACCESS_KEY'",
				    path, lineno);
			break;
		}
		r = add(c, key, secret, err);
		if (r < 0) {
			err_wrap(err, "'%s' line %d", path, lineno);
			break;
		}
	}
	fclose(f);
	return r;
}

int credentials_load(struct credentials *c, const char *path, struct err *err)
{
	int r;

	c->pairs = NULL;
	c->n = 0;
	if (path) {
		r = load_file(c, path, err);
	} else {
		const char *key = getenv("BERTH_ACCESS_KEY_ID");
		const char *secret = getenv("BERTH_SECRET_ACCESS_KEY");

		r = key && secret ? add(c, key, secret, err) : 0;
	}
	if (r == 0 && c->n == 0)
		r = err_set(err, -ENOKEY, E_CLIENT,
			    "no access keys: give --credentials FILE or set "
			    "BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY");
	if (r < 0) {
		credentials_release(c);
		return r;
	}
	qsort(c->pairs, c->n, sizeof(*c->pairs), cmp_pair);
	return 0;
}

void credentials_release(struct credentials *c)
{
	free(c->pairs);
	c->pairs = NULL;
	c->n = 0;
}

const char *credentials_secret(const struct credentials *c, const char *access_key)
{
	struct credential key;
	const struct credential *p;

	if (!access_key || strlen(access_key) > CREDENTIAL_FIELD_MAX)
		return NULL;
	snprintf(key.access_key, sizeof(key.access_key), "%s", access_key);
	p = bsearch(&key, c->pairs, c->n, sizeof(*c->pairs), cmp_pair);
	return p ? p->secret_key : NULL;
}
