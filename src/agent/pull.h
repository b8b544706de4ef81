/*
 * pull.h: the OCI distribution client under images.c: fetch one image's
 * manifest (choosing this machine's platform from an index), its config
 * and its layers, checking every digest, and unpack the layers into the
 * layer store.
 */
#ifndef BERTH_AGENT_PULL_H
#define BERTH_AGENT_PULL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "agent/images.h"
#include "core/httpc.h"

#define PULL_DOC_MAX	(4u << 20) /* a manifest, index or config, bytes */
#define PULL_MAX_LAYERS 256u	   /* layers of one image (Docker allows 127) */

struct pulled {
	char digest[LAYER_DIGEST_SIZE]; /* the platform manifest's */
	cJSON *config;			/* owned */
	cJSON *diff_ids;		/* owned: array of strings, bottom first */
	uint64_t size;			/* compressed layer bytes */
	/*
	 * Owned: the diff_ids of the layers this pull unpacked (not those the
	 * store had), also after a failure, so that the caller can take
	 * back what a failed pull left.
	 */
	cJSON *unpacked;
	/* the platform manifest is t->cached_digest: nothing else was fetched (config NULL) */
	bool unchanged;
};

struct pull_target {
	const struct image_ref *ref;
	const struct image_auth *auth; /* may be NULL */
	bool insecure;		       /* plain HTTP */
	const char *store_dir;	       /* layers.h's store */
	const char *downloads_dir;     /* temporary blob files */
	/*
	 * The platform manifest digest of the image the store has under this
	 * reference, or NULL. When the registry's is the same, the pull stops
	 * there (ret->unchanged), as `docker pull` of an image that is up to
	 * date does: the manifest is content-addressed, so are its config and
	 * layers.
	 */
	const char *cached_digest;
};

/*
 * Pull t->ref into ret. On failure only ret->unpacked is set. The caller
 * calls pulled_release in both cases.
 */
int pull_image(struct httpc *http, const struct pull_target *t, struct pulled *ret,
	       struct err *err);

void pulled_release(struct pulled *p);

/*
 * Whether host ("name", "name:port", "[v6]:port") is this machine:
 * "localhost", an IPv4 literal in 127.0.0.0/8 or [::1]. Such registries
 * are reached over plain HTTP.
 */
bool pull_host_is_loopback(const char *host);

/*
 * Whether a manifest's config media type is that of a container image
 * (OCI or Docker, or none given) rather than another artifact's.
 */
bool pull_config_type_ok(const char *media_type);

/*
 * From an index or manifest list (parsed), the digest of the manifest for
 * os/architecture[/variant]; -ENOENT (E_IMAGE_NOT_FOUND) when none matches.
 */
int pull_select_platform(const cJSON *index, const char *os, const char *arch, const char *variant,
			 char ret_digest[LAYER_DIGEST_SIZE], const char **ret_media_type,
			 struct err *err);

/*
 * Append to out the value of parameter name (case-insensitive) in a
 * WWW-Authenticate challenge (`Bearer realm="x",service="y"`): quoted, or
 * up to the next ',' or ' '. False when absent or its quote is not closed.
 */
bool pull_challenge_param(const char *challenge, const char *name, struct buf *out);

/* This machine's architecture as OCI names it ("amd64", "arm64", ...) and its variant or NULL. */
const char *pull_machine_arch(const char **ret_variant);

#endif
