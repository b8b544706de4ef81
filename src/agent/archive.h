/*
 * archive.h: local images as OCI archives (`berth image save/load`): a
 * tar of an OCI image layout (oci-layout, index.json, blobs/sha256/HEX),
 * what `skopeo copy ... oci-archive:FILE` and podman read and write.
 *
 * save writes, deterministically (sorted entries, mtime 0, uid/gid 0),
 * the layout of one or more local images whose blobs are in the store;
 * each index entry is annotated with the image's name:
 * "org.opencontainers.image.ref.name" (its tag) and
 * "io.containerd.image.name" (the whole reference).
 *
 * load reads such a tar (untrusted: fuzzed by tests/fuzz/fuzz_archive.c):
 * every blob is checked against its name as it is written to the store;
 * entries other than oci-layout, index.json and blobs/sha256/HEX are
 * skipped; each image of the index (an image index in it: this machine's
 * platform) has its layers unpacked into the layer store and is recorded
 * under the name its annotations give (a whole reference; a bare tag
 * alone names nothing) or under the name the caller gives.
 */
#ifndef BERTH_AGENT_ARCHIVE_H
#define BERTH_AGENT_ARCHIVE_H

#include "agent/images.h"

#define ARCHIVE_DOC_MAX	   (4u << 20) /* index.json, oci-layout, a manifest or config */
#define ARCHIVE_MAX_IMAGES 256

/* Write the images refs names (n of them) as an OCI archive to fd. */
int image_save(struct images *s, const char *const *refs, size_t n, int fd, struct err *err);

/*
 * Load the OCI archive read from fd into the store. name (may be NULL)
 * names the archive's image when it holds one. loaded (may be NULL) is
 * called with each image's name (NULL: none) and digest.
 * E_INVALID_PARAMETER for what is not an OCI archive or breaks its own
 * digests, E_INVALID_LAYER for a bad layer, E_SERVER for the host's
 * failures.
 */
int image_load(struct images *s, int fd, const char *name,
	       void (*loaded)(const char *ref, const char *digest, void *ctx), void *ctx,
	       struct err *err);

#endif
