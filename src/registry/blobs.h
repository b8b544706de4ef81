/*
 * blobs.h: the registry's content-addressed blob store and its upload
 * sessions. A blob is the file blobs/sha256/HEX under the registry's
 * directory; it only ever appears there whole, renamed into place once its
 * bytes were hashed, synced and found to match the digest, so a crash leaves
 * at most a stray temporary file in uploads/ (swept later). Which
 * repositories hold a blob is recorded in the store (ecr/blob/NAME/DIGEST);
 * the garbage collector removes the blobs no stored manifest is or names,
 * once older than the grace period, with those links.
 *
 * Errors carry the OCI distribution kinds (E_OCI_BLOB_UNKNOWN,
 * E_OCI_DIGEST_INVALID, E_OCI_BLOB_UPLOAD_UNKNOWN, ...), or E_SERVER for
 * failures of the machine (disk full, I/O errors).
 */
#ifndef BERTH_REGISTRY_BLOBS_H
#define BERTH_REGISTRY_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

/* Largest blob accepted (a layer): 64 GiB. */
#define REGISTRY_BLOB_MAX (1ull << 36)
/* Upload sessions under way at once, beyond which new ones are refused. */
#define REGISTRY_UPLOADS_MAX 4096
/* Defaults of struct registry's upload_max_age_ms and gc_grace_ms: 1 hour. */
#define REGISTRY_UPLOAD_MAX_AGE_MS (3600 * 1000LL)
#define REGISTRY_GC_GRACE_MS	   (3600 * 1000LL)
/* Largest of either a server option may set, in seconds: 30 days. */
#define REGISTRY_AGE_MAX_S 2592000

/* Set up and free the blob store's in-memory state (called by registry_init/release). */
int registry_blobs_init(struct registry *r, struct err *err);
void registry_blobs_release(struct registry *r);

/* Whether s is "sha256:" followed by 64 lowercase hex digits. */
bool registry_digest_valid(const char *s);

/* The digest of n bytes of data ("sha256:HEX"). */
void registry_digest_of(const void *data, size_t n, char ret_digest[REGISTRY_DIGEST_SIZE]);

/* Append the path of blob `digest` (which must be valid) to ret_path. */
void registry_blob_path(const struct registry *r, const char *digest, struct buf *ret_path);

/*
 * Open blob `digest` for reading: ret_fd (the caller closes it) and its size.
 * -ENOENT with E_OCI_BLOB_UNKNOWN when the file is absent. This looks at the
 * file only: whether a repository holds the blob is registry_blob_in_repo's.
 */
int registry_blob_open(const struct registry *r, const char *digest, int *ret_fd,
		       uint64_t *ret_size, struct err *err);

/* Read all of blob `digest` (at most max bytes, else -EFBIG) into ret (appended). */
int registry_blob_read(const struct registry *r, const char *digest, size_t max, struct buf *ret,
		       struct err *err);

/*
 * Hold the garbage collector off (the shared side of the lock a collection
 * holds exclusive for its whole pass). Held while a blob file is made or
 * stamped young and linked in the store, and while a manifest push checks
 * the blobs it names and commits: a collection then comes wholly before
 * or wholly after each of them. Any number of holders at once; never taken
 * twice by one thread (a waiting collection goes before new holders, so a
 * second take could deadlock), never held while calling registry_gc.
 */
void registry_gc_block(struct registry *r);
void registry_gc_unblock(struct registry *r);

/*
 * Store n bytes of data as a blob (a manifest): written to a temporary file,
 * synced, renamed into place. Its digest goes to ret_digest. Links it into
 * no repository: call it inside registry_gc_block together with the store
 * commit that links it, or a collection may remove it first.
 */
int registry_blob_put(struct registry *r, const void *data, size_t n,
		      char ret_digest[REGISTRY_DIGEST_SIZE], struct err *err);

/*
 * Whether repository `repo` holds `digest`, as a blob (ecr/blob/REPO/DIGEST)
 * or as a manifest (ecr/manifest/REPO/DIGEST): 0 and its size, or -ENOENT
 * with E_OCI_BLOB_UNKNOWN.
 */
int registry_blob_in_repo(const struct registry *r, const char *repo, const char *digest,
			  uint64_t *ret_size, struct err *err);

/*
 * Record that `repo` holds blob `digest`, whose file must exist (a
 * cross-repository mount): -ENOENT with E_OCI_BLOB_UNKNOWN otherwise. Safe
 * against a concurrent garbage collection.
 */
int registry_blob_link(struct registry *r, const char *repo, const char *digest, struct err *err);

/*
 * Forget that `repo` holds blob `digest` (DELETE /v2/REPO/blobs/DIGEST);
 * the file goes with the next garbage collection if nothing else holds it.
 * -ENOENT with E_OCI_BLOB_UNKNOWN when the repository did not hold it.
 */
int registry_blob_unlink(struct registry *r, const char *repo, const char *digest, struct err *err);

/*
 * Upload sessions. A session is uploads/UUID (the bytes so far) and
 * uploads/UUID.info (its repository and start time); its SHA-256 state is
 * kept in memory, and rebuilt from the file after a restart. One request
 * at a time holds a session: registry_upload_start/_open check it out, and
 * exactly one of _close (keep it), _commit or _cancel checks it back in.
 */
struct registry_upload;

/* Start a session for repo. E_OCI_DENIED when too many are under way. */
int registry_upload_start(struct registry *r, const char *repo, int64_t now_ms,
			  struct registry_upload **ret, struct err *err);

/*
 * Check session `uuid` of repo out. -ENOENT with E_OCI_BLOB_UPLOAD_UNKNOWN
 * when there is none (or it belongs to another repository); -EBUSY with
 * E_OCI_BLOB_UPLOAD_INVALID while another request holds it.
 */
int registry_upload_open(struct registry *r, const char *repo, const char *uuid, int64_t now_ms,
			 struct registry_upload **ret, struct err *err);

/* The session's id (borrowed) and how many bytes it holds. */
const char *registry_upload_uuid(const struct registry_upload *u);
uint64_t registry_upload_offset(const struct registry_upload *u);

/* Append bytes to the session. E_OCI_TOO_LARGE past REGISTRY_BLOB_MAX. */
int registry_upload_write(struct registry_upload *u, const void *data, size_t n, struct err *err);

/*
 * Finish the upload as blob `digest`: the bytes must hash to it
 * (E_OCI_DIGEST_INVALID otherwise). The blob is committed and linked into
 * the session's repository. The session ends whatever the outcome, and u
 * is freed.
 */
int registry_upload_commit(struct registry_upload *u, const char *digest, struct err *err);

/* Check the session back in, kept for the next request; it is idle from now. */
void registry_upload_close(struct registry_upload *u);

/* End the session and remove its files (DELETE of the upload). */
void registry_upload_cancel(struct registry_upload *u);

/*
 * Remove the sessions not written to for r->upload_max_age_ms (and stray
 * temporary files as old) at now_ms. ret_removed (may be NULL) counts them.
 */
int registry_upload_sweep(struct registry *r, int64_t now_ms, unsigned *ret_removed,
			  struct err *err);

/*
 * Garbage collection, in one pass under the lock registry_gc_block holds
 * off. Roots: every stored manifest (ecr/manifest/NAME/DIGEST), what each
 * names (its references: config and layers, an index's manifests), and
 * every blob stamped (written, mounted or looked at) less than
 * r->gc_grace_ms before now_ms (the current time, read before the call).
 * Removed: every other blob file, and every link ecr/blob/NAME/DIGEST that
 * no manifest of NAME names, to a blob that is not young (or whose file is
 * missing): a repository holds a blob an image of another repository keeps
 * only while one of its own images names it. Links are deleted (durably)
 * before files. The grace is what protects a push between its first blob
 * and its manifest. ret_removed (may be NULL) counts removed files.
 */
int registry_gc(struct registry *r, int64_t now_ms, unsigned *ret_removed, struct err *err);

#endif
