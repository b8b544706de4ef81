/*
 * rootfs.h: a container's root file system, an overlayfs whose lower
 * directories are image layers of the layer store (layers.h), top first,
 * and whose upper and work directories belong to the container.
 *
 * Option length: the kernel takes the mount options in one page, which
 * absolute layer paths would fill after a few dozen layers. The container
 * directory holds l/0, l/1, ... symbolic links to its layers, and the
 * mount is made from a child process that changed into that directory, so
 * the options read "lowerdir=l/2:l/1:l/0,upperdir=upper,workdir=work"
 * (what Docker's overlay2 driver does): ROOTFS_MAX_LAYERS layers fit, the
 * kernel's own limit on an overlay's stack.
 *
 * Recorded whiteouts: a layer unpacked where device nodes or trusted
 * xattrs could not be made keeps its whiteouts in LAYER_WHITEOUTS_FILE
 * (layers.h) instead. Before mounting, each recorded whiteout is carried
 * out in the upper directory: a deleted path becomes a whiteout (char
 * device 0/0) there unless a higher layer brings it back, and an opaque
 * directory's entries from the layers below it are whited out one by one
 * (an opaque upper directory would hide the higher layers' entries too).
 * The record files themselves are whited out, so the container never sees
 * them.
 *
 * Ownership: arguments are borrowed.
 */
#ifndef BERTH_AGENT_ROOTFS_H
#define BERTH_AGENT_ROOTFS_H

#include <stddef.h>

#include "core/err.h"

/* The kernel's overlayfs stack limit (OVL_MAX_STACK). */
#define ROOTFS_MAX_LAYERS 500

/*
 * Mount the overlay of layers diff_ids (bottom first) of the layer store
 * layers_dir at DIR/rootfs, creating DIR/rootfs, DIR/upper, DIR/work and
 * DIR/l (DIR must exist). -ENOENT (E_CLIENT, "CannotCreateContainerError:
 * ...") when a layer is not in the store, -E2BIG past ROOTFS_MAX_LAYERS,
 * E_SERVER when the mount fails. The calling thread is left with file
 * system attributes of its own (unshare(CLONE_FS)), its working directory
 * what it was: a later chdir of another thread no longer moves it.
 */
int rootfs_mount(const char *dir, const char *layers_dir, const char *const *diff_ids,
		 size_t n_layers, struct err *err);

/*
 * Unmount DIR/rootfs (lazily, so a process still inside does not keep it
 * busy). 0 also when it was not mounted.
 */
int rootfs_unmount(const char *dir, struct err *err);

#endif
