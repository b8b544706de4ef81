/*
 * pack.h: a directory tree made into an image layer, the reverse of
 * layers.h's unpack. The tree (a RUN's overlay upper directory, or the
 * files a COPY staged) is written as a tar (pax where ustar cannot say
 * it), gzip-compressed (level 1, no name, mtime 0), into the image
 * store's blob directory STORE/blobs/sha256/HEX, and unpacked into the
 * layer store so that later steps, containers and builds can use it.
 *
 * Reproducible: entries are sorted by path (bytewise), owners are numeric
 * (no user or group names), and only the mtime is kept of the times (no
 * atime or ctime): the same tree, with the same mtimes, gives the same
 * diff_id and digest. Files keep their mtimes, as Docker keeps them.
 *
 * Overlay whiteouts (an upper directory or a layer directory of the layer
 * store, PACK_WHITEOUTS): a character
 * device 0/0 becomes the OCI whiteout `.wh.NAME`, and a directory with the
 * xattr trusted.overlay.opaque=y gets a `.wh..wh..opq` entry. What the
 * runtime itself put into a container's root is left out (PACK_RUNTIME):
 * empty regular
 * files etc/hosts, etc/hostname and etc/resolv.conf (its bind-mount
 * points) and empty top-level directories proc, sys and dev.
 *
 * Ownership: arguments are borrowed; results go to caller storage.
 */
#ifndef BERTH_BUILD_PACK_H
#define BERTH_BUILD_PACK_H

#include <stdint.h>

#include "agent/layers.h"
#include "core/err.h"

#define PACK_WHITEOUTS 1u /* the tree has overlay whiteouts (a layer directory too) */
#define PACK_RUNTIME   2u /* leave out what the runtime made (see above) */
#define PACK_OVERLAY   (PACK_WHITEOUTS | PACK_RUNTIME) /* an upper directory */

#define PACK_MEDIA_TYPE "application/vnd.oci.image.layer.v1.tar+gzip"

struct packed_layer {
	char diff_id[LAYER_DIGEST_SIZE]; /* sha256 of the tar */
	char digest[LAYER_DIGEST_SIZE];	 /* sha256 of the gzip blob */
	uint64_t size;			 /* bytes of the blob */
};

/*
 * Pack dir into a layer of the store at store_dir (its blobs/ and
 * layers/). E_SERVER for the file system's failures, E_LIMIT_EXCEEDED past
 * layers.h's limits (entries, path length).
 */
int pack_layer(const char *store_dir, const char *dir, unsigned flags, struct packed_layer *ret,
	       struct err *err);

/*
 * Write data (len bytes) as a blob of the store (a config or manifest),
 * named by its sha256, which ret_digest gets.
 */
int pack_blob_write(const char *store_dir, const void *data, size_t len,
		    char ret_digest[LAYER_DIGEST_SIZE], struct err *err);

#endif
