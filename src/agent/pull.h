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

#define PULL_DOC_MAX (4u << 20) /* a manifest, index or config, bytes */

struct pulled {
	char digest[LAYER_DIGEST_SIZE]; /* the platform manifest's */
	cJSON *config;			/* owned */
	cJSON *diff_ids;		/* owned: array of strings, bottom first */
	uint64_t size;			/* compressed layer bytes */
};

struct pull_target {
	const struct image_ref *ref;
	const struct image_auth *auth; /* may be NULL */
	bool insecure;		       /* plain HTTP */
	const char *store_dir;	       /* layers.h's store */
	const char *downloads_dir;     /* temporary blob files */
};

int pull_image(struct httpc *http, const struct pull_target *t, struct pulled *ret,
	       struct err *err);

void pulled_release(struct pulled *p);

/*
 * From an index or manifest list (parsed), the digest of the manifest for
 * os/architecture[/variant]; -ENOENT (E_IMAGE_NOT_FOUND) when none matches.
 */
int pull_select_platform(const cJSON *index, const char *os, const char *arch, const char *variant,
			 char ret_digest[LAYER_DIGEST_SIZE], const char **ret_media_type,
			 struct err *err);

/* This machine's architecture as OCI names it ("amd64", "arm64", ...) and its variant or NULL. */
const char *pull_machine_arch(const char **ret_variant);

#endif
