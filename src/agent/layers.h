/*
 * layers.h: the agent's content-addressed layer store. One image layer (an
 * OCI or Docker layer tar, gzip, zstd or plain) is unpacked once into
 * STORE/layers/sha256/HEX/, HEX being its diff_id (the sha256 of the
 * uncompressed tar), and shared by every image that has it; a container's
 * root is an overlayfs whose lower directories are these.
 *
 * Atomicity: a layer is unpacked into a temporary directory beside its final
 * place (STORE/layers/sha256/.tmp-*), synced, then renamed into place with
 * RENAME_NOREPLACE, so a crash never leaves a half layer visible, and of two
 * concurrent unpacks of one layer one wins the rename and the other throws
 * its copy away and reports the winner's. A layer directory that exists is
 * complete.
 *
 * Path safety: no entry can create or change anything outside the layer
 * directory. Entry names are taken relative (leading '/' and "./" are
 * stripped); a ".." component anywhere refuses the layer; every parent is
 * opened one component at a time from the layer's directory with
 * O_NOFOLLOW|O_DIRECTORY, so an entry under a symbolic link (or under a
 * non-directory) refuses the layer; hard link targets obey the same rules and
 * must already exist in the layer. Symbolic links are stored as they are,
 * whatever they point to: they are never followed while unpacking.
 *
 * What is kept: regular files (sparse ones too), directories, symbolic and
 * hard links, FIFOs; permission bits (setuid, setgid, sticky included); mtimes
 * (atime = mtime); owners when running as root. Character and block devices
 * are created only when running as root and mknod works, and skipped (and
 * counted in layer_info.skipped_devices) otherwise. Extended attributes and
 * ACLs in the tar are not restored (file capabilities among them): a known
 * gap.
 *
 * Whiteouts (overlayfs's format): `.wh.NAME` becomes a character device 0/0
 * named NAME, and `.wh..wh..opq` sets the xattr trusted.overlay.opaque=y on
 * its directory. When that cannot be done (not root, no CAP_MKNOD, a file
 * system without trusted xattrs), the whiteout is recorded instead in the
 * file `.berth-whiteouts` at the top of the layer directory: NUL-terminated
 * records "w PATH" (PATH deleted) or "o PATH" (directory PATH opaque), PATH
 * relative to the layer. The rootfs assembly must then apply them itself
 * (and hide that file); a layer tar holding a top-level `.berth-whiteouts`
 * is refused. Other `.wh..wh.*` entries (aufs metadata) are skipped.
 *
 * Ownership: strings passed in are borrowed; results are written to caller
 * storage (struct buf, struct layer_info).
 */
#ifndef BERTH_AGENT_LAYERS_H
#define BERTH_AGENT_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* "sha256:" + 64 hex digits + NUL */
#define LAYER_DIGEST_SIZE 72

/* The name of the recorded-whiteouts file at the top of a layer directory. */
#define LAYER_WHITEOUTS_FILE ".berth-whiteouts"

/* Default limits per layer. */
#define LAYER_MAX_ENTRIES 500000
#define LAYER_MAX_PATH	  4096		/* bytes of an entry's name or link target */
#define LAYER_MAX_DEPTH	  256		/* components of an entry's name */
#define LAYER_MAX_BYTES	  (32ULL << 30) /* uncompressed tar bytes */

struct layer_limits {
	uint64_t max_entries;
	uint64_t max_bytes; /* of the uncompressed stream, headers included */
	size_t max_path;
	size_t max_depth;
};

#define LAYER_LIMITS_DEFAULT                                                        \
	{                                                                           \
		LAYER_MAX_ENTRIES, LAYER_MAX_BYTES, LAYER_MAX_PATH, LAYER_MAX_DEPTH \
	}

struct layer_unpack_opts {
	/*
	 * "sha256:HEX" of the uncompressed tar, as an image config's
	 * rootfs.diff_ids lists it. When given, the unpacked stream must
	 * match it and an existing layer with it is reused without reading
	 * the input; when NULL, the layer is named by the digest computed.
	 */
	const char *diff_id;
	/* "sha256:HEX" of the compressed blob, checked when not NULL. */
	const char *digest;
	/* NULL for LAYER_LIMITS_DEFAULT. */
	const struct layer_limits *limits;
};

struct layer_info {
	char diff_id[LAYER_DIGEST_SIZE]; /* the layer's name */
	bool reused;			 /* it existed already; nothing unpacked */
	uint64_t entries;		 /* tar entries read */
	uint64_t bytes;			 /* uncompressed bytes read */
	unsigned skipped_devices;	 /* device nodes left out (not root) */
	unsigned recorded_whiteouts;	 /* whiteouts written to LAYER_WHITEOUTS_FILE */
};

/*
 * Unpack the layer read from fd (from its current offset to its end; the
 * caller keeps and closes fd) into store_dir's layer store, creating
 * STORE/layers/sha256/ as needed. On success ret_info (may be NULL) says
 * which layer it is. On failure nothing is left in the store: -EBADMSG
 * (E_INVALID_LAYER) for a digest mismatch or a tar that is not one,
 * -EPERM (E_INVALID_LAYER) for an entry that would escape, -E2BIG or
 * -EFBIG (E_LIMIT_EXCEEDED) past a limit, another negative errno
 * (E_SERVER) when the file system fails.
 */
int layer_unpack(const char *store_dir, int fd, const struct layer_unpack_opts *opts,
		 struct layer_info *ret_info, struct err *err);

/* layer_unpack of the file at path. */
int layer_unpack_file(const char *store_dir, const char *path, const struct layer_unpack_opts *opts,
		      struct layer_info *ret_info, struct err *err);

/* Whether s is "sha256:" followed by 64 lowercase hex digits. */
bool layer_digest_valid(const char *s);

/*
 * Append the directory of layer diff_id (STORE/layers/sha256/HEX) to
 * ret_path. Returns -EINVAL (E_INVALID_PARAMETER) for an invalid diff_id.
 */
int layer_path(const char *store_dir, const char *diff_id, struct buf *ret_path, struct err *err);

/* Whether layer diff_id is in the store (false for an invalid diff_id). */
bool layer_exists(const char *store_dir, const char *diff_id);

/*
 * Remove layer diff_id: it disappears at once (renamed aside), then its
 * files are deleted. -ENOENT (E_LAYERS_NOT_FOUND) when it is not there.
 * The caller makes sure no container's rootfs uses it.
 */
int layer_remove(const char *store_dir, const char *diff_id, struct err *err);

#endif
