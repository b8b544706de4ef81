/*
 * images.h: the agent's images. An OCI distribution client pulls an image
 * from any registry (anonymous, Basic, or Bearer tokens fetched from the
 * registry's WWW-Authenticate challenge), picks this machine's platform
 * from an index or manifest list, checks every digest, and unpacks the
 * layers into the content-addressed layer store of layers.h, shared by all
 * images. What was pulled is recorded under DIR/images/ so that a
 * restarted agent knows it; images no container used for a while are
 * removed with the layers no other image needs.
 *
 * Layout under DIR (the agent's data directory):
 *   images/HEX.json    one record per image (HEX: its manifest's sha256):
 *                      {"digest", "references": [...], "config": {...},
 *                       "diffIds": [...], "size", "pulledAt", "lastUsed"}
 *   layers/sha256/HEX  the layer store (layers.h)
 *   images/.lock       flock(2): pulls shared, the collector exclusive
 *   blobs/sha256/HEX   compressed layers, configs and manifests of local
 *                      images (built, loaded, pulled by `berth image pull`),
 *                      whose records also hold "configDigest" and "layers";
 *                      docs/images.md describes the whole store
 *   downloads/         blobs being downloaded (unlinked once opened: a
 *                      crash leaves nothing)
 *
 * Thread-safe: the agent pulls for several tasks at once; two pulls of one
 * reference at once do the work once (the second waits for the first and
 * takes its result). Other processes (`berth image pull`) may pull into
 * the same directory: the layer store is safe to share, records are
 * replaced atomically, and images/.lock keeps the collector away while
 * any pull, in any process, runs.
 *
 * Registries: "docker.io" is reached as registry-1.docker.io; loopback
 * registries (127.0.0.0/8, "localhost", [::1]) and those named by
 * images_set_insecure over plain HTTP, all others over HTTPS.
 */
#ifndef BERTH_AGENT_IMAGES_H
#define BERTH_AGENT_IMAGES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/layers.h"
#include "core/err.h"

/*
 * Bytes of a reference, as given or canonical; a canonical one is at most
 * 712 (registry 255, repository 255, tag 128, digest 71, separators), so
 * every canonical reference reads back.
 */
#define IMAGE_REF_MAX	  767
#define IMAGE_REF_STR_MAX (IMAGE_REF_MAX + 1) /* with its NUL */

/* As the ECS agent's ECS_IMAGE_PULL_BEHAVIOR. */
enum image_pull_behavior {
	IMAGE_PULL_DEFAULT,	  /* pull; when that fails, use the cached image if any */
	IMAGE_PULL_ALWAYS,	  /* pull; when that fails, fail */
	IMAGE_PULL_ONCE,	  /* pull only when not cached */
	IMAGE_PULL_PREFER_CACHED, /* use the cached image when there is one, else pull */
};

int image_pull_behavior_parse(const char *s, enum image_pull_behavior *ret, struct err *err);

/* What image_pull does; image_pull_decide is its choice, exposed for tests. */
enum image_pull_action {
	IMAGE_USE_CACHED,	/* use the image here, ask no registry */
	IMAGE_PULL,		/* pull; a failure fails */
	IMAGE_PULL_ELSE_CACHED, /* pull; on failure use the image here */
};

/*
 * The action for behavior when the image is here (cached) or not, asked
 * for by digest (content that cannot change: used when here) or by tag.
 */
enum image_pull_action image_pull_decide(enum image_pull_behavior behavior, bool cached,
					 bool by_digest);

/* A reference split as Docker splits one ("busybox" is docker.io/library/busybox:latest). */
struct image_ref {
	char registry[256];		/* "docker.io", "127.0.0.1:9400" */
	char repository[256];		/* "library/busybox", "team/web" */
	char tag[129];			/* "" when only a digest was given */
	char digest[LAYER_DIGEST_SIZE]; /* "" when none was given */
};

/* Parse s; E_INVALID_PARAMETER naming what is wrong. */
int image_ref_parse(const char *s, struct image_ref *ret, struct err *err);

/*
 * The canonical form of r, REGISTRY/REPOSITORY[:TAG][@DIGEST]
 * ("docker.io/library/busybox:latest"): how image records name what was
 * pulled, so that "busybox" and "docker.io/library/busybox:latest" are one.
 */
void image_ref_format(const struct image_ref *r, char ret[IMAGE_REF_STR_MAX]);

/*
 * Basic credentials for a registry, sent when it asks for them (a `Basic`
 * challenge) and to its token service (a `Bearer` challenge). For berth's
 * own registry: username "AWS" and, as password, the part after "AWS:" of
 * the base64-decoded authorizationToken that ECR's GetAuthorizationToken
 * answers (what `aws ecr get-login-password` prints). Borrowed for the call.
 */
struct image_auth {
	const char *username;
	const char *password;
	/*
	 * The registry is known to take Basic credentials (berth's own): they
	 * go with the first request, saving the round trip of its 401.
	 */
	bool basic_first;
};

struct images;

/*
 * Open (creating) the image store of data directory dir: DIR/images/,
 * DIR/downloads/ and the layer store DIR/layers/ (layers.h). Free with
 * images_close (NULL is fine).
 */
int images_open(const char *dir, struct images **ret, struct err *err);
void images_close(struct images *s);

/* Registries reached over plain HTTP besides loopback ones ("host:port"); may be called once, before use. */
void images_set_insecure(struct images *s, const char *const *registries, size_t n);

/*
 * Seconds a pull's request may go without a byte from the registry
 * (pull.h's inactivity_s; 0: its default); may be called once, before use.
 */
void images_set_pull_inactivity(struct images *s, int64_t seconds);

/* What the agent needs to run an image; owned by the caller (image_free). */
struct image {
	char digest[LAYER_DIGEST_SIZE]; /* the platform manifest's digest (not the index's): the
					 * container's imageDigest */
	char **diff_ids;		/* bottom first; layer_path() gives each one's directory */
	size_t n_layers;
	cJSON *config; /* the image config document */
	uint64_t size; /* compressed bytes of its layers */
};

/*
 * Make ref available locally as behavior says, and return it (the caller
 * frees it with image_free). auth may be NULL (anonymous, and Bearer
 * tokens anonymously). A reference with a digest is content-addressed: when
 * it is here it is used whatever the behaviour. Nothing is recorded unless
 * every digest checked and every layer is in the layer store: a failed
 * pull leaves no record and no download behind (layers unpacked before
 * the failure stay, for the next pull, until image_gc finds nothing uses
 * them). Failures say what failed: E_INVALID_PARAMETER for a
 * bad reference, E_IMAGE_NOT_FOUND when the registry has no such manifest,
 * E_ACCESS_DENIED when it refuses the credentials, E_INVALID_LAYER for
 * content that does not match its digest, E_SERVER otherwise.
 */
int image_pull(struct images *s, const char *ref, const struct image_auth *auth,
	       enum image_pull_behavior behavior, struct image **ret, struct err *err);

/* The image ref names in the store (by reference or digest), or -ENOENT. */
int image_get(struct images *s, const char *ref, struct image **ret, struct err *err);

void image_free(struct image *img);

/*
 * Count a container using the image with this manifest digest (in_use) or
 * one that stopped using it. An image in use is never removed; the time
 * its last user let go is when its unused period starts.
 */
int image_use(struct images *s, const char *digest, bool in_use, struct err *err);

/*
 * Remove images unused for at least unused_for_ms (since their last use,
 * or their last pull when later), then the layers and blobs no remaining
 * image and no build cache entry used in that period has (older cache
 * entries are removed: build/build.h).
 * ret_removed (may be NULL) counts the images removed. Skipped (0 removed)
 * while any pull runs, in this process or another on the same directory
 * (a file lock, DIR/images/.lock). As ECS's agent does, an agent with the
 * prefer-cached behaviour should not collect at all.
 */
int image_gc(struct images *s, int64_t unused_for_ms, unsigned *ret_removed, struct err *err);

/*
 * Call fn for every image record (a JSON document as described above,
 * borrowed for the call), in no particular order.
 */
int image_list(struct images *s, void (*fn)(const cJSON *record, void *ctx), void *ctx,
	       struct err *err);

/* --- local images ----------------------------------------------------- */

/*
 * An image made on this host (`berth build`, `berth image load`) or pulled
 * with its blobs kept: its manifest, config and compressed layers are
 * blobs under DIR/blobs/sha256/HEX, so that it can be pushed and saved.
 * Its record also holds "configDigest" and "layers" (the manifest's layer
 * descriptors). Borrowed for the call.
 */
struct image_local {
	const char *digest;	   /* the manifest's, a blob of the store */
	const char *config_digest; /* the config's, a blob of the store; NULL: no blobs */
	const cJSON *config;	   /* the config document */
	const cJSON *diff_ids;	   /* array of strings, bottom first; in the layer store */
	const cJSON *layers;	   /* the manifest's "layers" descriptors; NULL: no blobs */
	uint64_t size;		   /* compressed bytes of the layers */
};

/*
 * Keep the collector away (image_gc does nothing) until image_unhold, as a
 * pull does while it unpacks: for a build or a load, whose layers are in
 * no record until they end. Returns a file descriptor (the lock), or a
 * negative errno.
 */
int image_hold(struct images *s, struct err *err);
void image_unhold(int fd);

/* DIR/blobs/sha256/HEX of digest (a valid one), appended to ret. */
void images_blob_path(const char *dir, const char *digest, struct buf *ret);

/*
 * Pulls also keep the image's blobs (its manifest, config and compressed
 * layers: pull.h's keep_blobs), so that `berth image push` and `save` can
 * send it on as it is. The agent does not (its images are only run); the
 * CLI's `berth image pull` does. May be called once, before use.
 */
void images_keep_blobs(struct images *s, bool keep);

/* The store's data directory (borrowed). */
const char *images_dir(const struct images *s);

/*
 * Record img, named ref (a tag reference; NULL: no name) from now on (the
 * reference moves from the image it named before, as a pull moves it).
 */
int image_add_local(struct images *s, const char *ref, const struct image_local *img,
		    struct err *err);

/* The record (see the top of this file) of the image ref names; the caller frees it. */
int image_record_get(struct images *s, const char *ref, cJSON **ret, struct err *err);

/*
 * `berth image rm`: remove the name ref (a tag reference); when no name is
 * left, or ref is a digest, remove the image itself with the layers and
 * blobs that no other image and no container under DIR/containers uses.
 * ret_digest gets the image's digest, ret_layers counts layers removed.
 * -ENOENT (E_IMAGE_NOT_FOUND) when there is no such image, -EBUSY while a
 * pull runs on the store.
 */
int image_remove(struct images *s, const char *ref, char ret_digest[LAYER_DIGEST_SIZE],
		 unsigned *ret_layers, struct err *err);

#endif
