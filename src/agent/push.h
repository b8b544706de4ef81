/*
 * push.h: the OCI distribution client's other half: push a local image
 * (one whose blobs are in the store: built, loaded, or pulled with
 * `berth image pull`; images.h) to any registry. Each blob the registry
 * lacks (HEAD answers 404) is uploaded monolithically (POST, then PUT
 * ?digest= with the whole blob), then the manifest is PUT under the tag,
 * byte for byte as stored, so the image keeps its digest. Authentication
 * as a pull's (pull_auth_answer), asking for "pull,push".
 */
#ifndef BERTH_AGENT_PUSH_H
#define BERTH_AGENT_PUSH_H

#include <stdbool.h>
#include <stdio.h>

#include "agent/images.h"

/*
 * Push the local image local (a reference or digest) as remote (a
 * reference with a tag; NULL: local itself). insecure: plain HTTP (also
 * for loopback registries always). progress (may be NULL) gets a line per
 * blob. ret_digest gets the manifest digest the registry stored.
 * E_IMAGE_NOT_FOUND when local is not here, E_CLIENT when its blobs are
 * not (an image the agent pulled), E_ACCESS_DENIED when the registry
 * refuses, E_SERVER for other failures of the registry.
 */
int image_push(struct images *s, const char *local, const char *remote,
	       const struct image_auth *auth, bool insecure, FILE *progress,
	       char ret_digest[LAYER_DIGEST_SIZE], struct err *err);

#endif
