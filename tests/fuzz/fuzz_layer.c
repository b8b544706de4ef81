/*
 * fuzz_layer.c: libFuzzer target over layer unpacking (layer_unpack): the
 * input is a layer blob (a tar, plain, gzip or zstd). It is unpacked into a
 * layer store under /dev/shm, which must afterwards hold the one layer (then
 * removed with layer_remove) or, on failure, nothing at all; the directory
 * around the store, and a sibling directory an escaping entry would aim at,
 * must stay as they were. Everything is removed at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/layers.h"
#include "agent/libarchive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/dev/shm/berth-fuzz-layer-XXXXXX";
static char store[64], layers[96], outside[64];

static void cleanup(void)
{
	char cmd[80];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void init(void)
{
	const struct libarchive *la;
	struct err err = ERR_INIT;

	/* loaded once for the whole run, not at every input */
	if (!mkdtemp(dir) || libarchive_acquire(&la, &err) < 0)
		abort();
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(layers, sizeof(layers), "%s/layers/sha256", store);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	if (mkdir(store, 0755) < 0 || mkdir(outside, 0755) < 0)
		abort();
	atexit(cleanup);
}

/* Entries of path, "." and ".." left out; the one name goes to ret_name. */
static int count(const char *path, char ret_name[256])
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(path);

	if (!d)
		abort();
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ret_name)
			snprintf(ret_name, 256, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static const struct layer_limits lim = { 10000, 16u << 20, 1024, 64 };
	struct layer_unpack_opts opts = { .limits = &lim };
	struct layer_info info;
	struct err err = ERR_INIT;
	char name[256];
	int fd, r;

	if (!ready) {
		init();
		ready = 1;
	}
	fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET))
		abort();
	r = layer_unpack(store, fd, &opts, &info, &err);
	close(fd);

	/* nothing beside the store, nothing in the store but the layer */
	if (count(dir, NULL) != 2 || count(outside, NULL) != 0 || count(store, name) != 1 ||
	    strcmp(name, "layers") != 0) {
		fprintf(stderr, "something was written outside the layer store\n");
		abort();
	}
	if (r == 0) {
		if (count(layers, name) != 1 || strcmp(name, info.diff_id + 7) != 0 ||
		    !layer_exists(store, info.diff_id))
			abort();
		if (layer_remove(store, info.diff_id, &err) < 0) {
			fprintf(stderr, "layer_remove: %s\n", err.msg);
			abort();
		}
	}
	if (count(layers, NULL) != 0) {
		fprintf(stderr, "a layer or a temporary directory was left (r=%d: %s)\n", r,
			err.msg);
		abort();
	}
	return 0;
}
