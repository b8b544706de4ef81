/*
 * libarchive.h: the libarchive functions layers.c unpacks with, from
 * Debian's libarchive13 loaded (dlopen) only while layers are being
 * unpacked and unloaded once the last unpack ends.
 *
 * Why: libarchive and what it alone pulls in (libxml2, ICU, libstdc++,
 * liblzma, libbz2, liblz4, libacl) are a third of berth's shared libraries
 * and about 2.2 MiB of an idle agent's resident memory, and only a pull
 * uses them: the server, the CLI and an agent between pulls no longer map
 * them, and berth starts faster. (libstdc++ stays once loaded: its unique
 * symbols pin it.) The soname is the one the headers describe.
 *
 * Ownership: libarchive_acquire() returns a table that stays valid until
 * the matching libarchive_release(); acquisitions nest and may come from
 * several threads.
 */
#ifndef BERTH_AGENT_LIBARCHIVE_H
#define BERTH_AGENT_LIBARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#include "core/err.h"

#define LIBARCHIVE_SONAME "libarchive.so.13"

#define LIBARCHIVE_FUNCTIONS(X)              \
	X(archive_entry_filetype)            \
	X(archive_entry_gid)                 \
	X(archive_entry_hardlink)            \
	X(archive_entry_mtime)               \
	X(archive_entry_mtime_nsec)          \
	X(archive_entry_pathname)            \
	X(archive_entry_perm)                \
	X(archive_entry_rdevmajor)           \
	X(archive_entry_rdevminor)           \
	X(archive_entry_size)                \
	X(archive_entry_symlink)             \
	X(archive_entry_uid)                 \
	X(archive_errno)                     \
	X(archive_error_string)              \
	X(archive_read_data)                 \
	X(archive_read_data_block)           \
	X(archive_read_free)                 \
	X(archive_read_new)                  \
	X(archive_read_next_header)          \
	X(archive_read_open)                 \
	X(archive_read_support_filter_gzip)  \
	X(archive_read_support_filter_zstd)  \
	X(archive_read_support_format_empty) \
	X(archive_read_support_format_raw)   \
	X(archive_read_support_format_tar)   \
	X(archive_set_error)

/* Each member is the function of its name: `la->archive_read_new()`. */
struct libarchive {
#define LIBARCHIVE_MEMBER(name) __typeof__(name) *name;
	LIBARCHIVE_FUNCTIONS(LIBARCHIVE_MEMBER)
#undef LIBARCHIVE_MEMBER
};

/*
 * Load libarchive (when not loaded already) and return its table in *ret;
 * E_SERVER naming the library when it cannot be loaded.
 */
int libarchive_acquire(const struct libarchive **ret, struct err *err);

/* Release one acquisition; the last one unloads the library. */
void libarchive_release(void);

#endif
