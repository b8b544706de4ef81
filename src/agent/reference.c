/*
 * reference.c: image references as Docker reads them:
 *
 *   [REGISTRY/]REPOSITORY[:TAG][@DIGEST]
 *
 * The first component is a registry when it holds a '.' or a ':' or is
 * "localhost" (and must then be HOST[:PORT], HOST dot-separated names or a
 * bracketed IPv6 literal); otherwise the registry is docker.io, where a repository of
 * one component lives under "library/". Without tag or digest the tag is
 * "latest". Repository components are lowercase letters and digits
 * separated by '.', '_', '__' or '-' runs (the distribution spec's grammar);
 * tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; digests sha256:64 hex.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/images.h"
#include "core/banned.h"

#define DEFAULT_REGISTRY "docker.io"

static bool valid_component(const char *s, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c != '.' && c != '_' && c != '-')
			return false;
		/* separators: '.', '_', "__", or any run of '-' */
		if (c == '.' && (s[i + 1] == '.' || s[i + 1] == '_' || s[i + 1] == '-'))
			return false;
		if (c == '_' && i + 2 < n && s[i + 1] == '_' && s[i + 2] == '_')
			return false;
		if (c == '_' && (s[i + 1] == '.' || s[i + 1] == '-'))
			return false;
	}
	return true;
}

static bool valid_repository(const char *s)
{
	const char *p = s;

	if (!*s || strlen(s) > 255)
		return false;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (!valid_component(p, n))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

static bool valid_tag(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* ":PORT" (1 to 5 digits) or nothing, over [s, s+n). */
static bool valid_port(const char *s, size_t n)
{
	if (n == 0)
		return true;
	if (s[0] != ':' || n < 2 || n > 6)
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * HOST[:PORT]: HOST is dot-separated components of letters, digits and
 * inner '-', or an IPv6 literal in brackets (the distribution grammar's
 * domain).
 */
static bool valid_registry(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n >= 256)
		return false;
	if (s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
				return false;
		if (i == n || i == 1)
			return false;
		return valid_port(s + i + 1, n - i - 1);
	}
	for (;;) {
		size_t start = i;

		while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-'))
			i++;
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return false;
		if (i < n && s[i] == '.') {
			i++;
			continue;
		}
		return valid_port(s + i, n - i);
	}
}

int image_ref_parse(const char *s, struct image_ref *ret, struct err *err)
{
	char rest[IMAGE_REF_MAX + 1];
	const char *at, *first_slash, *name, *prefix;
	char *colon, *last_slash;
	size_t n = s ? strlen(s) : 0;

	memset(ret, 0, sizeof(*ret));
	if (n == 0 || n > IMAGE_REF_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "invalid reference format: %s",
			       n ? "too long" : "empty");
	at = strchr(s, '@');
	if (at) {
		if (!layer_digest_valid(at + 1))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "invalid reference format: bad digest in '%.128s'", s);
		snprintf(ret->digest, sizeof(ret->digest), "%s", at + 1);
		n = (size_t)(at - s);
	}
	memcpy(rest, s, n);
	rest[n] = 0;

	/* the registry */
	first_slash = strchr(rest, '/');
	name = rest;
	if (first_slash) {
		size_t rn = (size_t)(first_slash - rest);

		if (memchr(rest, '.', rn) || memchr(rest, ':', rn) ||
		    (rn == 9 && !strncmp(rest, "localhost", 9))) {
			if (!valid_registry(rest, rn))
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "invalid reference format: bad registry in '%.128s'",
					       s);
			memcpy(ret->registry, rest, rn);
			ret->registry[rn] = 0;
			name = first_slash + 1;
		}
	}
	if (!ret->registry[0])
		snprintf(ret->registry, sizeof(ret->registry), "%s", DEFAULT_REGISTRY);

	/* the tag: after a ':' in the last component */
	last_slash = strrchr((char *)name, '/');
	colon = strchr(last_slash ? last_slash : name, ':');
	if (colon) {
		*colon = 0;
		if (!valid_tag(colon + 1))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "invalid reference format: bad tag in '%.128s'", s);
		snprintf(ret->tag, sizeof(ret->tag), "%s", colon + 1);
	} else if (!ret->digest[0]) {
		snprintf(ret->tag, sizeof(ret->tag), "latest");
	}
	prefix = !strcmp(ret->registry, DEFAULT_REGISTRY) && !strchr(name, '/') ? "library/" : "";
	/* the limit is the whole repository's, so that the canonical form reads back */
	if (strlen(prefix) + strlen(name) >= sizeof(ret->repository))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "invalid reference format: repository name too long");
	memcpy(ret->repository, prefix, strlen(prefix));
	memcpy(ret->repository + strlen(prefix), name, strlen(name) + 1);
	if (!valid_repository(ret->repository))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "invalid reference format: repository name must be lowercase "
			       "letters, digits and separators ('%.128s')",
			       s);
	return 0;
}

void image_ref_format(const struct image_ref *r, char ret[IMAGE_REF_STR_MAX])
{
	snprintf(ret, IMAGE_REF_STR_MAX, "%s/%s%s%s%s%s", r->registry, r->repository,
		 r->tag[0] ? ":" : "", r->tag, r->digest[0] ? "@" : "", r->digest);
}
