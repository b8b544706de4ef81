/*
 * pull.h: the OCI distribution client under images.c: fetch one image's
 * manifest (choosing this machine's platform from an index), its config
 * and its layers, checking every digest, and unpack the layers into the
 * layer store; on request (keep_blobs), also keep the manifest, config and
 * compressed layers as blobs of the store, for push and save.
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
	/*
	 * With pull_target.keep_blobs: the manifest's layer descriptors
	 * (owned) and the config's digest, whose blobs are in the store.
	 */
	cJSON *layers;
	char config_digest[LAYER_DIGEST_SIZE];
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
	 * Seconds a request may go without a byte from the registry before it
	 * is abandoned (ECS's ECS_IMAGE_PULL_INACTIVITY_TIMEOUT); 0: the
	 * default, PULL_INACTIVITY_DEFAULT_S.
	 */
	long inactivity_s;
	/*
	 * Also keep the manifest, the config and the compressed layers as
	 * blobs of the store (STORE/blobs/sha256/HEX, images.h), so that
	 * the image can be pushed and saved: layers the store has unpacked
	 * are then downloaded (and checked) all the same, once.
	 */
	bool keep_blobs;
	/*
	 * The platform manifest digest of the image the store has under this
	 * reference, or NULL. When the registry's is the same, the pull stops
	 * there (ret->unchanged), as `docker pull` of an image that is up to
	 * date does: the manifest is content-addressed, so are its config and
	 * layers.
	 */
	const char *cached_digest;
};

#define PULL_INACTIVITY_DEFAULT_S 60

/*
 * A request that gets no answer (connection refused or broken off, a
 * stall past the inactivity timeout) or a 5xx or 429 is tried again, up to
 * PULL_ATTEMPTS times in all, after PULL_BACKOFF_MS, then twice that, and
 * so on, or after what the registry's Retry-After asks for when it says
 * (at most PULL_RETRY_AFTER_MAX_MS).
 */
#define PULL_ATTEMPTS		4
#define PULL_BACKOFF_MS		500
#define PULL_RETRY_AFTER_MAX_MS 30000

/*
 * How long to wait before attempt number `attempt` + 1 (attempt counts
 * from 1), given the Retry-After the last answer asked for in ms (-1:
 * none): the rule above.
 */
int64_t pull_retry_delay_ms(int attempt, int64_t retry_after_ms);

/*
 * Pull t->ref into ret. On failure only ret->unpacked is set. The caller
 * calls pulled_release in both cases.
 */
int pull_image(struct httpc *http, const struct pull_target *t, struct pulled *ret,
	       struct err *err);

void pulled_release(struct pulled *p);

/*
 * Layer blobs this process downloaded since it started: their count and
 * bytes (the agent's /metrics). Lock-free.
 */
uint64_t pull_layers_downloaded(void);
uint64_t pull_bytes_downloaded(void);

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

/*
 * Answer a registry's WWW-Authenticate challenge for repository on host:
 * Basic with auth, or Bearer with a token fetched from the challenge's
 * realm (with auth's Basic credentials when given) for its scope, or
 * "repository:REPOSITORY:ACTIONS" when it names none (actions: "pull",
 * "pull,push"). ret_authorization gets the "Authorization: ..." header.
 * E_ACCESS_DENIED when it cannot be answered or the token service refuses.
 */
int pull_auth_answer(struct httpc *http, const char *host, const char *repository,
		     const struct image_auth *auth, const char *challenge, const char *actions,
		     struct buf *ret_authorization, struct err *err);

/* This machine's architecture as OCI names it ("amd64", "arm64", ...) and its variant or NULL. */
const char *pull_machine_arch(const char **ret_variant);

#endif
