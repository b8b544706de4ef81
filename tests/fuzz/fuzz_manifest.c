/*
 * fuzz_manifest.c: libFuzzer target over manifest handling: parsing and
 * validating OCI manifests and indexes and Docker schema 2 manifests and
 * lists, checking what they reference, and storing them under a tag or a
 * digest (registry_manifest_put), then reading back and deleting what was
 * stored.
 *
 * Input: the Content-Type, a newline, the reference (a tag or a digest), a
 * newline, then the manifest bytes. The registry lives in /dev/shm, holds
 * one repository with one blob (the empty JSON "{}", a valid config), and
 * is removed at exit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/blobs.h"
#include "registry/images.h"
#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api_server api;
static struct registry reg;
static char dir[] = "/dev/shm/berth-fuzz-manifest-XXXXXX";

static void cleanup(void)
{
	char cmd[80];

	registry_release(&reg);
	store_free(api.store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void init(void)
{
	char digest[REGISTRY_DIGEST_SIZE];
	struct err err = ERR_INIT;

	if (!mkdtemp(dir))
		abort();
	snprintf(api.region, sizeof(api.region), "us-east-1");
	snprintf(api.account_id, sizeof(api.account_id), "000000000000");
	if (store_open_sqlite(dir, &api.store, &err) < 0 ||
	    registry_init(&reg, &api, dir, &err) < 0)
		goto fail;
	reg.create_on_push = true;
	if (registry_repo_ensure(&reg, "fuzz/repo", 0, &err) < 0 ||
	    registry_blob_put(&reg, "{}", 2, digest, &err) < 0 ||
	    registry_blob_link(&reg, "fuzz/repo", digest, &err) < 0)
		goto fail;
	atexit(cleanup);
	return;
fail:
	fprintf(stderr, "%s\n", err.msg);
	abort();
}

/* Cut the next line off *p (up to end); NULL when there is no newline. */
static char *line(char **p, char *end)
{
	char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));

	if (!nl)
		return NULL;
	*nl = '\0';
	*p = nl + 1;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry_image image;
	struct err err = ERR_INIT;
	char *copy = malloc(size + 1), *p = copy, *ct, *ref;
	struct buf bytes = BUF_INIT;

	if (!api.store)
		init();
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	ct = line(&p, copy + size);
	ref = ct ? line(&p, copy + size) : NULL;
	if (ref && registry_manifest_put(&reg, "fuzz/repo", ref, ct, p, (size_t)(copy + size - p),
					 1, &image, NULL, &err) == 0) {
		/* what was stored reads back as the same bytes */
		if (registry_manifest_get(&reg, "fuzz/repo", image.digest, &bytes, NULL, &err) <
			    0 ||
		    bytes.len != (size_t)(copy + size - p) || memcmp(bytes.data, p, bytes.len) != 0)
			abort();
		registry_manifest_delete(&reg, "fuzz/repo", image.digest, NULL, NULL, &err);
	} else if (ref && err.kind == E_NONE) {
		abort();
	}
	buf_release(&bytes);
	free(copy);
	return 0;
}
