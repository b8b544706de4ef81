/*
 * test_images.c: repositories, manifests and tags: names and tags
 * validated, each manifest media type accepted when whole and refused when
 * malformed or naming a blob the repository lacks, tag immutability,
 * lookups by tag and digest, deletion, pagination, and repositories nested
 * under one another kept apart; and the garbage collector over images:
 * what deleting an image or a repository frees, and that a push racing
 * collections never loses what was accepted.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "registry/blobs.h"
#include "registry/images.h"

struct fixture {
	char dir[64];
	struct store *store;
	struct api_server api;
	struct registry r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err err = ERR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-images-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open_sqlite(f->dir, &f->store, &err), 0);
	f->api.store = f->store;
	snprintf(f->api.region, sizeof(f->api.region), "eu-west-1");
	snprintf(f->api.account_id, sizeof(f->api.account_id), "123456789012");
	assert_int_equal(registry_init(&f->r, &f->api, f->dir, &err), 0);
	snprintf(f->r.endpoint, sizeof(f->r.endpoint), "127.0.0.1:9400");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	registry_release(&f->r);
	store_free(f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static bool blob_file_exists(struct fixture *f, const char *digest)
{
	struct buf p = BUF_INIT;
	bool yes;

	registry_blob_path(&f->r, digest, &p);
	yes = access(buf_str(&p), F_OK) == 0;
	buf_release(&p);
	return yes;
}

/* Upload content as a blob of repo; its digest into ret. */
static void push_blob(struct fixture *f, const char *repo, const char *content,
		      char ret[REGISTRY_DIGEST_SIZE])
{
	struct registry_upload *u;
	struct err err = ERR_INIT;

	registry_digest_of(content, strlen(content), ret);
	assert_int_equal(registry_upload_start(&f->r, repo, now_ms(), &u, &err), 0);
	assert_int_equal(registry_upload_write(u, content, strlen(content), &err), 0);
	assert_int_equal(registry_upload_commit(u, ret, &err), 0);
}

static void make_repo(struct fixture *f, const char *name, const char *mutability)
{
	struct registry_repo_options o = { .image_tag_mutability = mutability };
	struct err err = ERR_INIT;

	assert_int_equal(registry_repo_create(&f->r, name, &o, 1700000000000, NULL, &err), 0);
}

/* An image manifest (OCI or Docker) over a config and one layer. */
static char *image_manifest(const char *media_type, const char *config, const char *layer,
			    size_t layer_size)
{
	char *s = NULL;
	bool oci = !strcmp(media_type, REGISTRY_MT_OCI_MANIFEST);

	assert_true(asprintf(&s,
			     "{\"schemaVersion\":2,\"mediaType\":\"%s\","
			     "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":6},"
			     "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
			     media_type,
			     oci ? "application/vnd.oci.image.config.v1+json"
				 : "application/vnd.docker.container.image.v1+json",
			     config,
			     oci ? "application/vnd.oci.image.layer.v1.tar+gzip"
				 : "application/vnd.docker.image.rootfs.diff.tar.gzip",
			     layer, layer_size) > 0);
	return s;
}

static char *index_of(const char *media_type, const char *child_type, const char *child,
		      size_t size)
{
	char *s = NULL;

	assert_true(asprintf(&s,
			     "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{"
			     "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,"
			     "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
			     media_type, child_type, child, size) > 0);
	return s;
}

static int put(struct fixture *f, const char *repo, const char *ref, const char *type,
	       const char *m, struct registry_image *img, struct err *err)
{
	return registry_manifest_put(&f->r, repo, ref, type, m, strlen(m), 1700000001000, img, NULL,
				     err);
}

static void test_names_and_tags(void **state)
{
	static const char *good[] = { "a",    "app",   "team/app", "a.b",   "a_b",
				      "a__b", "a---b", "x/y/z",	   "0abc/9" };
	static const char *bad[] = { "",      "A",	"a..b", "a/",	 "/a",
				     "a//b",  "-a",	"a-",	"a___b", "a b",
				     "a%2fb", "a/../b", ".a",	"a:b",	 "Team/app" };
	static const char *good_tags[] = { "v1", "latest", "_x", "1.0-rc_2", "A" };
	static const char *bad_tags[] = { "", ".v", "-v", "v/1", "v:1", "v 1" };
	char long_name[REGISTRY_NAME_MAX + 2], long_tag[REGISTRY_TAG_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(registry_name_valid(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(registry_name_valid(bad[i]));
	for (i = 0; i < sizeof(good_tags) / sizeof(good_tags[0]); i++)
		assert_true(registry_tag_valid(good_tags[i]));
	for (i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++)
		assert_false(registry_tag_valid(bad_tags[i]));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[REGISTRY_NAME_MAX] = '\0';
	assert_true(registry_name_valid(long_name));
	long_name[REGISTRY_NAME_MAX] = 'a';
	long_name[REGISTRY_NAME_MAX + 1] = '\0';
	assert_false(registry_name_valid(long_name));
	memset(long_tag, 'a', sizeof(long_tag) - 1);
	long_tag[REGISTRY_TAG_MAX] = '\0';
	assert_true(registry_tag_valid(long_tag));
	long_tag[REGISTRY_TAG_MAX] = 'a';
	long_tag[REGISTRY_TAG_MAX + 1] = '\0';
	assert_false(registry_tag_valid(long_tag));
}

static void test_repositories(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char config[REGISTRY_DIGEST_SIZE], layer[REGISTRY_DIGEST_SIZE];
	cJSON *doc = NULL, *names = NULL;
	bool more;
	char *m;

	assert_int_equal(registry_repo_create(&f->r, "team/app", NULL, 1700000000000, &doc, &err),
			 0);
	assert_string_equal(json_str(doc, "repositoryArn"),
			    "arn:aws:ecr:eu-west-1:123456789012:repository/team/app");
	assert_string_equal(json_str(doc, "repositoryUri"), "127.0.0.1:9400/team/app");
	assert_string_equal(json_str(doc, "registryId"), "123456789012");
	assert_string_equal(json_str(doc, "imageTagMutability"), "MUTABLE");
	cJSON_Delete(doc);
	assert_int_equal(registry_repo_create(&f->r, "team/app", NULL, 0, NULL, &err), -EEXIST);
	assert_int_equal(err.kind, E_REPOSITORY_ALREADY_EXISTS);
	assert_int_equal(registry_repo_create(&f->r, "Bad..Name", NULL, 0, NULL, &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_NAME_INVALID);
	assert_int_equal(registry_repo_load(&f->r, "team", NULL, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_REPOSITORY_NOT_FOUND);

	/* create on push only when configured */
	assert_int_equal(registry_repo_ensure(&f->r, "pushed", 0, &err), -ENOENT);
	f->r.create_on_push = true;
	assert_int_equal(registry_repo_ensure(&f->r, "pushed", 0, &err), 0);
	assert_int_equal(registry_repo_ensure(&f->r, "pushed", 0, &err), 0);
	assert_int_equal(registry_repo_ensure(&f->r, "bad..name", 0, &err), -EINVAL);

	/* catalog pagination */
	make_repo(f, "team", NULL);
	assert_int_equal(registry_catalog(&f->r, NULL, 2, &names, &more, &err), 0);
	assert_int_equal(cJSON_GetArraySize(names), 2);
	assert_string_equal(cJSON_GetArrayItem(names, 0)->valuestring, "pushed");
	assert_string_equal(cJSON_GetArrayItem(names, 1)->valuestring, "team");
	assert_true(more);
	cJSON_Delete(names);
	assert_int_equal(registry_catalog(&f->r, "team", 2, &names, &more, &err), 0);
	assert_int_equal(cJSON_GetArraySize(names), 1);
	assert_string_equal(cJSON_GetArrayItem(names, 0)->valuestring, "team/app");
	assert_false(more);
	cJSON_Delete(names);

	/* a repository with images is deleted only by force, with its images */
	push_blob(f, "team/app", "config", config);
	push_blob(f, "team/app", "layer", layer);
	m = image_manifest(REGISTRY_MT_OCI_MANIFEST, config, layer, 5);
	assert_int_equal(put(f, "team/app", "v1", REGISTRY_MT_OCI_MANIFEST, m, NULL, &err), 0);
	assert_int_equal(put(f, "team", "v1", REGISTRY_MT_OCI_MANIFEST, m, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_OCI_MANIFEST_BLOB_UNKNOWN);
	assert_int_equal(registry_repo_delete(&f->r, "team/app", false, NULL, &err), -ENOTEMPTY);
	assert_int_equal(err.kind, E_REPOSITORY_NOT_EMPTY);
	/* deleting "team" leaves "team/app" alone */
	assert_int_equal(registry_repo_delete(&f->r, "team", false, NULL, &err), 0);
	assert_int_equal(registry_manifest_stat(&f->r, "team/app", "v1", NULL, &err), 0);
	assert_int_equal(registry_repo_delete(&f->r, "team/app", true, NULL, &err), 0);
	assert_int_equal(store_has_prefix(f->store, "ecr/tag/team/app/", &err), 0);
	assert_int_equal(store_has_prefix(f->store, "ecr/manifest/team/app/", &err), 0);
	assert_int_equal(store_has_prefix(f->store, "ecr/blob/team/app/", &err), 0);
	assert_int_equal(registry_repo_delete(&f->r, "team/app", true, NULL, &err), -ENOENT);
	free(m);
}

static void test_manifest_types(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct registry_image img, child_img;
	char config[REGISTRY_DIGEST_SIZE], layer[REGISTRY_DIGEST_SIZE];
	char missing[REGISTRY_DIGEST_SIZE];
	char *m, *idx;
	struct buf got = BUF_INIT;

	make_repo(f, "app", NULL);
	push_blob(f, "app", "config", config);
	push_blob(f, "app", "layer", layer);
	registry_digest_of("missing", 7, missing);

	/* OCI manifest, then an OCI index over it */
	m = image_manifest(REGISTRY_MT_OCI_MANIFEST, config, layer, 5);
	assert_int_equal(put(f, "app", "oci", REGISTRY_MT_OCI_MANIFEST, m, &child_img, &err), 0);
	assert_string_equal(child_img.media_type, REGISTRY_MT_OCI_MANIFEST);
	assert_int_equal(child_img.size, strlen(m));
	assert_int_equal(child_img.image_size, 11);
	assert_int_equal(child_img.pushed_at_ms, 1700000001000);
	assert_int_equal(registry_manifest_get(&f->r, "app", "oci", &got, &img, &err), 0);
	assert_string_equal(buf_str(&got), m);
	assert_string_equal(img.digest, child_img.digest);
	idx = index_of(REGISTRY_MT_OCI_INDEX, REGISTRY_MT_OCI_MANIFEST, child_img.digest,
		       strlen(m));
	assert_int_equal(put(f, "app", "multi", NULL, idx, &img, &err), 0);
	assert_string_equal(img.media_type, REGISTRY_MT_OCI_INDEX);
	free(idx);
	/* an index naming a manifest the repository lacks */
	idx = index_of(REGISTRY_MT_OCI_INDEX, REGISTRY_MT_OCI_MANIFEST, missing, 10);
	assert_int_equal(put(f, "app", "bad", REGISTRY_MT_OCI_INDEX, idx, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_OCI_MANIFEST_BLOB_UNKNOWN);
	free(idx);
	/* a child's blob is no manifest: an index may not name it */
	idx = index_of(REGISTRY_MT_OCI_INDEX, REGISTRY_MT_OCI_MANIFEST, layer, 5);
	assert_int_equal(put(f, "app", "bad", REGISTRY_MT_OCI_INDEX, idx, NULL, &err), -ENOENT);
	free(idx);
	free(m);

	/* Docker schema 2 and a manifest list over it */
	m = image_manifest(REGISTRY_MT_DOCKER_MANIFEST, config, layer, 5);
	assert_int_equal(put(f, "app", "docker", REGISTRY_MT_DOCKER_MANIFEST, m, &child_img, &err),
			 0);
	assert_string_equal(child_img.media_type, REGISTRY_MT_DOCKER_MANIFEST);
	idx = index_of(REGISTRY_MT_DOCKER_LIST, REGISTRY_MT_DOCKER_MANIFEST, child_img.digest,
		       strlen(m));
	assert_int_equal(put(f, "app", "list", REGISTRY_MT_DOCKER_LIST, idx, &img, &err), 0);
	assert_string_equal(img.media_type, REGISTRY_MT_DOCKER_LIST);
	/* its type sent as another's */
	assert_int_equal(put(f, "app", "list", REGISTRY_MT_OCI_INDEX, idx, NULL, &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_MANIFEST_INVALID);
	free(idx);
	free(m);

	/* a layer the repository lacks */
	m = image_manifest(REGISTRY_MT_OCI_MANIFEST, config, missing, 7);
	assert_int_equal(put(f, "app", "x", REGISTRY_MT_OCI_MANIFEST, m, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_OCI_MANIFEST_BLOB_UNKNOWN);
	assert_int_equal(registry_manifest_stat(&f->r, "app", "x", NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_IMAGE_NOT_FOUND);
	free(m);
	/* a config the repository lacks, in Docker's format */
	m = image_manifest(REGISTRY_MT_DOCKER_MANIFEST, missing, layer, 5);
	assert_int_equal(put(f, "app", "x", NULL, m, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_OCI_MANIFEST_BLOB_UNKNOWN);
	free(m);
	buf_release(&got);
}

static void test_manifest_invalid(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char config[REGISTRY_DIGEST_SIZE], layer[REGISTRY_DIGEST_SIZE];
	char digest[REGISTRY_DIGEST_SIZE], *m, *big;
	static const char *invalid[] = {
		"not json",
		"[]",
		"{\"schemaVersion\":1,\"name\":\"app\",\"tag\":\"v1\",\"fsLayers\":[]}",
		"{\"schemaVersion\":2,\"mediaType\":\"application/"
		"vnd.oci.image.manifest.v1+json\"}",
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"}",
		"{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"manifests\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x/y\",\"digest\":\"sha256:1\","
		"\"size\":1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x/y\",\"digest\":\"sha256:"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":-1},"
		"\"layers\":[]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":1}]}",
	};
	size_t i;

	make_repo(f, "app", NULL);
	push_blob(f, "app", "config", config);
	push_blob(f, "app", "layer", layer);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		err = (struct err)ERR_INIT;
		assert_int_equal(put(f, "app", "v1", NULL, invalid[i], NULL, &err), -EINVAL);
		assert_int_equal(err.kind, E_OCI_MANIFEST_INVALID);
	}
	/* a Docker type must name itself */
	m = image_manifest(REGISTRY_MT_OCI_MANIFEST, config, layer, 5);
	assert_int_equal(put(f, "app", "v1", REGISTRY_MT_DOCKER_MANIFEST, m, NULL, &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_MANIFEST_INVALID);
	/* a digest reference must be the content's */
	registry_digest_of("other", 5, digest);
	assert_int_equal(put(f, "app", digest, NULL, m, NULL, &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_DIGEST_INVALID);
	registry_digest_of(m, strlen(m), digest);
	assert_int_equal(put(f, "app", digest, NULL, m, NULL, &err), 0);
	/* bad references */
	assert_int_equal(put(f, "app", "-bad", NULL, m, NULL, &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_TAG_INVALID);
	assert_int_equal(put(f, "app", "sha512:abcd", NULL, m, NULL, &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_DIGEST_INVALID);
	assert_int_equal(put(f, "nope", "v1", NULL, m, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_REPOSITORY_NOT_FOUND);
	free(m);
	/* too large */
	big = malloc(REGISTRY_MANIFEST_MAX + 2);
	memset(big, ' ', REGISTRY_MANIFEST_MAX + 1);
	big[REGISTRY_MANIFEST_MAX + 1] = '\0';
	assert_int_equal(put(f, "app", "v1", NULL, big, NULL, &err), -EFBIG);
	assert_int_equal(err.kind, E_OCI_MANIFEST_INVALID);
	free(big);
	/* nothing of the refused pushes was stored */
	assert_int_equal(registry_manifest_stat(&f->r, "app", "v1", NULL, &err), -ENOENT);
}

static void test_tag_immutability(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct registry_image a, b, img;
	char config[REGISTRY_DIGEST_SIZE], l1[REGISTRY_DIGEST_SIZE], l2[REGISTRY_DIGEST_SIZE];
	char *m1, *m2;
	bool unchanged;

	make_repo(f, "frozen", "IMMUTABLE");
	make_repo(f, "fluid", "MUTABLE");
	push_blob(f, "frozen", "config", config);
	push_blob(f, "frozen", "layer1", l1);
	push_blob(f, "frozen", "layer2", l2);
	push_blob(f, "fluid", "config", config);
	push_blob(f, "fluid", "layer1", l1);
	push_blob(f, "fluid", "layer2", l2);
	m1 = image_manifest(REGISTRY_MT_OCI_MANIFEST, config, l1, 6);
	m2 = image_manifest(REGISTRY_MT_OCI_MANIFEST, config, l2, 6);

	assert_int_equal(put(f, "frozen", "v1", NULL, m1, &a, &err), 0);
	assert_int_equal(put(f, "frozen", "v1", NULL, m2, &b, &err), -EEXIST);
	assert_int_equal(err.kind, E_IMAGE_TAG_ALREADY_EXISTS);
	assert_int_equal(registry_manifest_stat(&f->r, "frozen", "v1", &img, &err), 0);
	assert_string_equal(img.digest, a.digest);
	/* the same image again is fine, and changes nothing */
	assert_int_equal(registry_manifest_put(&f->r, "frozen", "v1", NULL, m1, strlen(m1),
					       1800000000000, &img, &unchanged, &err),
			 0);
	assert_true(unchanged);
	assert_int_equal(img.pushed_at_ms, 1700000001000);
	/* a new tag is fine; so is deleting the tag, and then reusing it */
	assert_int_equal(put(f, "frozen", "v2", NULL, m2, &b, &err), 0);
	assert_int_equal(registry_manifest_delete(&f->r, "frozen", "v1", NULL, NULL, &err), 0);
	assert_int_equal(put(f, "frozen", "v1", NULL, m2, NULL, &err), 0);

	/* a mutable repository moves the tag */
	assert_int_equal(put(f, "fluid", "v1", NULL, m1, &a, &err), 0);
	assert_int_equal(registry_manifest_put(&f->r, "fluid", "v1", NULL, m2, strlen(m2),
					       1700000001000, &b, &unchanged, &err),
			 0);
	assert_false(unchanged);
	assert_int_equal(registry_manifest_stat(&f->r, "fluid", "v1", &img, &err), 0);
	assert_string_equal(img.digest, b.digest);
	/* the old image stays, untagged, reachable by digest */
	assert_int_equal(registry_manifest_stat(&f->r, "fluid", a.digest, &img, &err), 0);
	free(m1);
	free(m2);
}

static int count_image(void *ctx, const struct registry_image *img)
{
	(void)img;
	(*(int *)ctx)++;
	return 0;
}

static void test_tags_and_deletion(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct registry_image img;
	char config[REGISTRY_DIGEST_SIZE], layer[REGISTRY_DIGEST_SIZE];
	cJSON *tags = NULL;
	bool more;
	char *m;
	int n = 0;

	make_repo(f, "a", NULL);
	make_repo(f, "a/b", NULL);
	push_blob(f, "a", "config", config);
	push_blob(f, "a", "layer", layer);
	push_blob(f, "a/b", "config", config);
	push_blob(f, "a/b", "layer", layer);
	m = image_manifest(REGISTRY_MT_OCI_MANIFEST, config, layer, 5);
	assert_int_equal(put(f, "a", "v3", NULL, m, &img, &err), 0);
	assert_int_equal(put(f, "a", "v1", NULL, m, &img, &err), 0);
	assert_int_equal(put(f, "a", "v2", NULL, m, &img, &err), 0);
	assert_int_equal(put(f, "a/b", "zz", NULL, m, &img, &err), 0);

	assert_int_equal(registry_tags_list(&f->r, "a", NULL, -1, &tags, &more, &err), 0);
	assert_int_equal(cJSON_GetArraySize(tags), 3); /* not a/b's */
	assert_string_equal(cJSON_GetArrayItem(tags, 0)->valuestring, "v1");
	assert_false(more);
	cJSON_Delete(tags);
	assert_int_equal(registry_tags_list(&f->r, "a", NULL, 2, &tags, &more, &err), 0);
	assert_int_equal(cJSON_GetArraySize(tags), 2);
	assert_true(more);
	cJSON_Delete(tags);
	assert_int_equal(registry_tags_list(&f->r, "a", "v2", 2, &tags, &more, &err), 0);
	assert_int_equal(cJSON_GetArraySize(tags), 1);
	assert_string_equal(cJSON_GetArrayItem(tags, 0)->valuestring, "v3");
	assert_false(more);
	cJSON_Delete(tags);
	assert_int_equal(registry_tags_list(&f->r, "zz", NULL, -1, &tags, &more, &err), -ENOENT);
	assert_int_equal(err.kind, E_REPOSITORY_NOT_FOUND);

	assert_int_equal(registry_manifest_tags(&f->r, "a", img.digest, &tags, &err), 0);
	assert_int_equal(cJSON_GetArraySize(tags), 3);
	cJSON_Delete(tags);
	assert_int_equal(registry_manifest_scan(&f->r, "a", NULL, count_image, &n, &err), 0);
	assert_int_equal(n, 1);

	/* untag */
	assert_int_equal(registry_manifest_delete(&f->r, "a", "v1", NULL, &tags, &err), 0);
	assert_int_equal(cJSON_GetArraySize(tags), 1);
	cJSON_Delete(tags);
	assert_int_equal(registry_manifest_delete(&f->r, "a", "v1", NULL, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_IMAGE_NOT_FOUND);
	assert_int_equal(registry_manifest_stat(&f->r, "a", img.digest, NULL, &err), 0);
	/* delete by digest takes the remaining tags along, and not a/b's */
	assert_int_equal(registry_manifest_delete(&f->r, "a", img.digest, NULL, &tags, &err), 0);
	assert_int_equal(cJSON_GetArraySize(tags), 2);
	cJSON_Delete(tags);
	assert_int_equal(registry_manifest_stat(&f->r, "a", "v2", NULL, &err), -ENOENT);
	assert_int_equal(registry_manifest_stat(&f->r, "a", img.digest, NULL, &err), -ENOENT);
	assert_int_equal(registry_manifest_stat(&f->r, "a/b", "zz", NULL, &err), 0);
	assert_int_equal(registry_tags_list(&f->r, "a", NULL, -1, &tags, &more, &err), 0);
	assert_int_equal(cJSON_GetArraySize(tags), 0);
	cJSON_Delete(tags);
	free(m);
}

/* An OCI image manifest over a 6-byte config and two layers. */
static char *two_layer_manifest(const char *config, const char *l1, size_t s1, const char *l2,
				size_t s2)
{
	char *s = NULL;

	assert_true(asprintf(&s,
			     "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
			     "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
			     "\"size\":6},\"layers\":["
			     "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
			     "\"digest\":\"%s\",\"size\":%zu},"
			     "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
			     "\"digest\":\"%s\",\"size\":%zu}]}",
			     REGISTRY_MT_OCI_MANIFEST, config, l1, s1, l2, s2) > 0);
	return s;
}

/* Number of blob files. */
static int count_blob_files(struct fixture *f)
{
	char path[128];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/registry/blobs/sha256", f->dir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * What the collector reclaims once the grace has passed: a deleted index
 * (not the image it named, which is the repository's own), a deleted
 * image's manifest, config and own layers (not a layer another
 * repository's image names, though this repository's link to it goes),
 * and all of a repository deleted with force. Within the grace, nothing.
 */
static void test_gc_reclaims_deleted_images(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct registry_image a, b, idx_img;
	char ca[REGISTRY_DIGEST_SIZE], cb[REGISTRY_DIGEST_SIZE];
	char shared_a[REGISTRY_DIGEST_SIZE], shared_b[REGISTRY_DIGEST_SIZE];
	char only_a[REGISTRY_DIGEST_SIZE], only_b[REGISTRY_DIGEST_SIZE];
	int64_t now = now_ms(), later = now + 2 * 3600 * 1000LL;
	struct buf got = BUF_INIT;
	unsigned removed = 99;
	char *ma, *mb, *idx;

	make_repo(f, "a", NULL);
	make_repo(f, "b", NULL);
	push_blob(f, "a", "cfg-aa", ca);
	push_blob(f, "a", "shared layer", shared_a);
	push_blob(f, "a", "layer of a only", only_a);
	push_blob(f, "b", "cfg-bb", cb);
	push_blob(f, "b", "shared layer", shared_b);
	push_blob(f, "b", "layer of b only", only_b);
	assert_string_equal(shared_a, shared_b);
	ma = two_layer_manifest(ca, shared_a, 12, only_a, 15);
	mb = two_layer_manifest(cb, shared_b, 12, only_b, 15);
	assert_int_equal(put(f, "a", "v1", NULL, ma, &a, &err), 0);
	assert_int_equal(put(f, "b", "v1", NULL, mb, &b, &err), 0);
	idx = index_of(REGISTRY_MT_OCI_INDEX, REGISTRY_MT_OCI_MANIFEST, a.digest, strlen(ma));
	assert_int_equal(put(f, "a", "multi", NULL, idx, &idx_img, &err), 0);
	/* 3 configs and layers of a, 2 more of b, 3 manifests */
	assert_int_equal(count_blob_files(f), 8);

	/* everything is named */
	assert_int_equal(registry_gc(&f->r, later, &removed, &err), 0);
	assert_int_equal(removed, 0);

	/* the index goes, not the image it named */
	assert_int_equal(registry_manifest_delete(&f->r, "a", idx_img.digest, NULL, NULL, &err), 0);
	assert_int_equal(registry_gc(&f->r, later, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_false(blob_file_exists(f, idx_img.digest));
	assert_int_equal(registry_manifest_get(&f->r, "a", "v1", &got, NULL, &err), 0);
	buf_reset(&got);

	/* image a goes: within the grace nothing is removed, past it its own blobs */
	assert_int_equal(registry_manifest_delete(&f->r, "a", a.digest, NULL, NULL, &err), 0);
	assert_int_equal(registry_gc(&f->r, now, &removed, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(registry_gc(&f->r, later, &removed, &err), 0);
	assert_int_equal(removed, 3);
	assert_false(blob_file_exists(f, a.digest));
	assert_false(blob_file_exists(f, ca));
	assert_false(blob_file_exists(f, only_a));
	assert_int_equal(registry_blob_in_repo(&f->r, "a", only_a, NULL, &err), -ENOENT);
	/* the shared layer stays for b, and a no longer holds it */
	assert_true(blob_file_exists(f, shared_b));
	assert_int_equal(registry_blob_in_repo(&f->r, "a", shared_a, NULL, &err), -ENOENT);
	assert_int_equal(registry_blob_in_repo(&f->r, "b", shared_b, NULL, &err), 0);
	assert_int_equal(store_has_prefix(f->store, "ecr/blob/a/", &err), 0);
	/* b reads whole */
	assert_int_equal(registry_manifest_get(&f->r, "b", "v1", &got, NULL, &err), 0);
	assert_string_equal(buf_str(&got), mb);
	buf_reset(&got);
	assert_int_equal(registry_blob_read(&f->r, shared_b, 64, &got, &err), 0);
	assert_string_equal(buf_str(&got), "shared layer");
	assert_int_equal(count_blob_files(f), 4);

	/* a repository deleted with force: everything it had goes */
	assert_int_equal(registry_repo_delete(&f->r, "b", true, NULL, &err), 0);
	assert_int_equal(registry_gc(&f->r, later, &removed, &err), 0);
	assert_int_equal(removed, 4);
	assert_int_equal(count_blob_files(f), 0);
	assert_int_equal(store_has_prefix(f->store, "ecr/blob/", &err), 0);
	buf_release(&got);
	free(ma);
	free(mb);
	free(idx);
}

/* Collections in a loop, as of `at`, until told to stop. */
struct gc_loop {
	struct registry *r;
	int64_t at;
	atomic_bool stop;
	unsigned passes;
};

static void *gc_loop_main(void *arg)
{
	struct gc_loop *g = arg;
	struct err err = ERR_INIT;

	while (!atomic_load(&g->stop)) {
		assert_int_equal(registry_gc(g->r, g->at, NULL, &err), 0);
		g->passes++;
		/* a pause of up to 50 ms, about a push: some make it between passes, some do not */
		usleep((useconds_t)(random() % 50000));
	}
	return NULL;
}

/*
 * Pushes while collections run one after another, each of them as of two
 * hours later, so that every blob of a push is past the grace and garbage
 * until its manifest names it. A push may lose its blobs before its
 * manifest (MANIFEST_BLOB_UNKNOWN, and the client uploads them again), but
 * a manifest that was accepted must never lose a blob it names, neither
 * the file nor its repository's link (half of the layers are also an image
 * of another repository's, so that only the link is at stake): the check
 * of its blobs and its commit happen under the collector's shared lock,
 * and the collector decides and deletes under it held exclusive.
 */
static void test_gc_never_races_a_push(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct gc_loop g = { .r = &f->r, .at = now_ms() + 2 * 3600 * 1000LL };
	enum { PUSHES = 100 };
	char config[PUSHES][REGISTRY_DIGEST_SIZE], layer[PUSHES][REGISTRY_DIGEST_SIZE];
	bool stored[PUSHES] = { false };
	unsigned accepted = 0, refused = 0, lost_manifests = 0, lost_files = 0, lost_links = 0;
	pthread_t t;
	int i;

	make_repo(f, "app", NULL);
	make_repo(f, "keep", NULL);
	for (i = 0; i < PUSHES; i += 2) {
		char c[32], l[32], tag[16], keep_config[REGISTRY_DIGEST_SIZE];
		char *m;

		snprintf(c, sizeof(c), "k%05d", i);
		snprintf(l, sizeof(l), "layer %d", i);
		snprintf(tag, sizeof(tag), "k%d", i);
		push_blob(f, "keep", c, keep_config);
		push_blob(f, "keep", l, layer[i]);
		m = image_manifest(REGISTRY_MT_OCI_MANIFEST, keep_config, layer[i], strlen(l));
		assert_int_equal(put(f, "keep", tag, NULL, m, NULL, &err), 0);
		free(m);
	}
	assert_int_equal(pthread_create(&t, NULL, gc_loop_main, &g), 0);
	for (i = 0; i < PUSHES; i++) {
		char c[32], l[32], tag[16];
		char *m;
		int rc;

		snprintf(c, sizeof(c), "c%05d", i); /* image_manifest's configs are 6 bytes */
		snprintf(l, sizeof(l), "layer %d", i);
		snprintf(tag, sizeof(tag), "t%d", i);
		push_blob(f, "app", c, config[i]);
		push_blob(f, "app", l, layer[i]);
		m = image_manifest(REGISTRY_MT_OCI_MANIFEST, config[i], layer[i], strlen(l));
		rc = registry_manifest_put(&f->r, "app", tag, NULL, m, strlen(m), now_ms(), NULL,
					   NULL, &err);
		if (rc == 0) {
			stored[i] = true;
			accepted++;
		} else {
			assert_int_equal(err.kind, E_OCI_MANIFEST_BLOB_UNKNOWN);
			refused++;
		}
		free(m);
	}
	atomic_store(&g.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(registry_gc(&f->r, g.at, NULL, &err), 0);
	print_message("%u pushes accepted, %u refused, over %u collections\n", accepted, refused,
		      g.passes);
	assert_true(g.passes > 0);
	assert_true(accepted > 0);
	for (i = 0; i < PUSHES; i++) {
		char tag[16];
		struct buf got = BUF_INIT;

		if (!stored[i])
			continue;
		snprintf(tag, sizeof(tag), "t%d", i);
		lost_manifests += registry_manifest_get(&f->r, "app", tag, &got, NULL, &err) != 0;
		lost_files += !blob_file_exists(f, config[i]) + !blob_file_exists(f, layer[i]);
		lost_links += (registry_blob_in_repo(&f->r, "app", config[i], NULL, &err) != 0) +
			      (registry_blob_in_repo(&f->r, "app", layer[i], NULL, &err) != 0);
		buf_release(&got);
	}
	if (lost_manifests || lost_files || lost_links)
		fail_msg("of %u accepted pushes: %u manifests, %u blob files, %u links lost",
			 accepted, lost_manifests, lost_files, lost_links);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_tags),
		cmocka_unit_test_setup_teardown(test_repositories, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_immutability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags_and_deletion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_reclaims_deleted_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_never_races_a_push, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
