/*
 * registry.c: setting the registry up over a data directory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry/blobs.h"
#include "registry/registry.h"
#include "core/banned.h"

static int make_dir(const char *path, struct err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_set(err, -errno, E_SERVER, "creating '%s': %m", path);
	return 0;
}

int registry_init(struct registry *r, struct api_server *api, const char *data_dir, struct err *err)
{
	static const char *subdirs[] = { "", "/blobs", "/blobs/sha256", "/uploads" };
	struct buf path = BUF_INIT;
	size_t i;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	r->api = api;
	ret = make_dir(data_dir, err);
	for (i = 0; ret == 0 && i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		buf_reset(&path);
		buf_printf(&path, "%s/registry%s", data_dir, subdirs[i]);
		ret = make_dir(buf_str(&path), err);
	}
	if (ret < 0) {
		buf_release(&path);
		return ret;
	}
	buf_reset(&path);
	buf_printf(&path, "%s/registry", data_dir);
	r->dir = buf_detach(&path, NULL);
	r->upload_max_age_ms = REGISTRY_UPLOAD_MAX_AGE_MS;
	r->gc_grace_ms = REGISTRY_GC_GRACE_MS;
	ret = registry_blobs_init(r, err);
	if (ret < 0) {
		free(r->dir);
		r->dir = NULL;
	}
	return ret;
}

void registry_release(struct registry *r)
{
	registry_blobs_release(r);
	free(r->dir);
	r->dir = NULL;
}
