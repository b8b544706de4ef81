/*
 * fs.h: small file-system helpers the agent's modules share: read a whole
 * file, replace a file atomically and durably, make a directory path.
 */
#ifndef BERTH_CORE_FS_H
#define BERTH_CORE_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

/*
 * Append the contents of path to ret. Returns 0, -EFBIG when the file holds
 * more than max bytes, or another negative errno (-ENOENT when absent).
 */
int fs_read_file(const char *path, size_t max, struct buf *ret);

/*
 * Replace path with data: written to a temporary file beside it, synced,
 * renamed into place and the directory synced, so a reader (or a crash)
 * sees the old contents or the new, never a mix. Mode 0600. Returns 0 or a
 * negative errno.
 */
int fs_write_atomic(const char *path, const void *data, size_t len);

/*
 * fs_write_atomic without the syncs: readers see the old contents or the
 * new, never a mix, but a machine crash may lose it. For files that do
 * not outlive a crash anyway (a container's).
 */
int fs_write_replace(const char *path, const void *data, size_t len);

/* mkdir -p path with mode for the directories it creates. Returns 0 or a negative errno. */
int fs_mkdir_p(const char *path, mode_t mode);

/*
 * rm -rf path, not crossing into other file systems (a mount point under it
 * is left, with what leads to it). Returns 0 or a negative errno.
 */
int fs_remove_tree(const char *path);

#endif
