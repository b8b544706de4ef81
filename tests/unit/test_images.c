/*
 * test_images.c: repositories, manifests and tags: names and tags
 * validated, each manifest media type accepted when whole and refused when
 * malformed or naming a blob the repository lacks, tag immutability,
 * lookups by tag and digest, deletion, pagination, and repositories nested
 * under one another kept apart.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_tags),
		cmocka_unit_test_setup_teardown(test_repositories, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_immutability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags_and_deletion, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
