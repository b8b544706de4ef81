/*
 * test_ecr.c: the ECR API through api_dispatch, on a SQLite store and a
 * registry directory in a temporary directory: repositories (names,
 * settings, errors, pagination, deletion with and without force), their
 * tags, tag mutability, authorization tokens checked back with
 * registry_token_check, layers, and the image operations over images
 * pushed through the registry's own functions.
 *
 * Request bodies are written with ' for " to keep them readable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "api/http.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "registry/blobs.h"
#include "registry/ecr.h"
#include "registry/images.h"
#include "registry/registry.h"
#include "store/store.h"

#include "api_fixture.h"

#include "core/banned.h"

#define ARN(name) "arn:aws:ecr:us-east-1:000000000000:repository/" name
#define SHA_A	  "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B	  "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C	  "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static int setup(void **state)
{
	static const struct api_fixture_opts opts = {
		.dir_template = "/tmp/berth-test-ecr-XXXXXX",
		.service = &api_ecr,
		.registry = true,
		.msg_substring = true,
	};

	return api_fixture_setup(state, &opts);
}

static void call_ok(struct fixture *f, const char *op, const char *body)
{
	cJSON_Delete(ok(f, op, body));
}

/* v printed compactly equals want (' for "). */
static void assert_json(const cJSON *v, const char *want)
{
	char *s = cJSON_PrintUnformatted(v);
	char *w = strdup(want);

	for (char *p = w; *p; p++)
		if (*p == '\'')
			*p = '"';
	if (!s || strcmp(s, w))
		fail_msg("got %s\nwant %s", s ? s : "(null)", w);
	free(s);
	free(w);
}

/* Store value (' standing for ") under key, as a push would. */
static void put_key(struct fixture *f, const char *key, const char *value)
{
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	char *json = strdup(value);

	for (char *p = json; *p; p++)
		if (*p == '\'')
			*p = '"';
	store_txn_put(&t, key, json, strlen(json));
	free(json);
	assert_int_equal(store_commit(f->store, &t, NULL, &err), 0);
	store_txn_release(&t);
}

static void create(struct fixture *f, const char *name)
{
	char body[512];

	snprintf(body, sizeof(body), "{'repositoryName':'%s'}", name);
	call_ok(f, "CreateRepository", body);
}

static void test_names(void **state)
{
	static const char *good[] = { "ab", "web", "team/web", "a.b_c__d---e/f0", "0a/b1/c2" };
	static const char *bad[] = { "a",    "Web", "-web", "web-", "a..b", "a___b",
				     "a//b", "/ab", "ab/",  "a b",  "a_.b" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!ecr_valid_repo_name(good[i]))
			fail_msg("'%s' should be a valid repository name", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ecr_valid_repo_name(bad[i]))
			fail_msg("'%s' should not be a valid repository name", bad[i]);
	assert_true(ecr_valid_digest(SHA_A));
	assert_true(ecr_valid_digest("sha512:AB01"));
	assert_false(ecr_valid_digest("sha256"));
	assert_false(ecr_valid_digest("sha256:xyz"));
	assert_false(ecr_valid_digest(":ab"));
	assert_true(registry_digest_valid(SHA_A));
	assert_false(registry_digest_valid(
		"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	assert_true(registry_tag_valid("v1.0_rc-1"));
	assert_false(registry_tag_valid(".v1"));
	assert_false(registry_tag_valid("a/b"));
}

static void test_create(void **state)
{
	struct fixture *f = *state;
	int64_t before = now_ms() / 1000;
	cJSON *out = ok(f, "CreateRepository", "{'repositoryName':'team/web'}");
	const cJSON *repo = json_obj(out, "repository");

	assert_string_equal(json_str(repo, "repositoryArn"), ARN("team/web"));
	assert_string_equal(json_str(repo, "registryId"), "000000000000");
	assert_string_equal(json_str(repo, "repositoryName"), "team/web");
	assert_string_equal(json_str(repo, "repositoryUri"), "127.0.0.1:9400/team/web");
	assert_true(json_int(repo, "createdAt", 0) >= before);
	assert_string_equal(json_str(repo, "imageTagMutability"), "MUTABLE");
	assert_json(json_obj(repo, "imageScanningConfiguration"), "{'scanOnPush':false}");
	assert_json(json_obj(repo, "encryptionConfiguration"), "{'encryptionType':'AES256'}");
	assert_null(json_get(repo, "tags"));
	cJSON_Delete(out);

	out = ok(f, "CreateRepository",
		 "{'repositoryName':'api','imageTagMutability':'IMMUTABLE','registryId':"
		 "'000000000000','imageScanningConfiguration':{'scanOnPush':true},"
		 "'encryptionConfiguration':{'encryptionType':'AES256'},"
		 "'tags':[{'Key':'team','Value':'blue'}]}");
	repo = json_obj(out, "repository");
	assert_string_equal(json_str(repo, "imageTagMutability"), "IMMUTABLE");
	assert_json(json_obj(repo, "imageScanningConfiguration"), "{'scanOnPush':true}");
	cJSON_Delete(out);
	out = ok(f, "ListTagsForResource", "{'resourceArn':'" ARN("api") "'}");
	assert_json(json_arr(out, "tags"), "[{'Key':'team','Value':'blue'}]");
	cJSON_Delete(out);

	fails(f, "CreateRepository", "{'repositoryName':'team/web'}",
	      "RepositoryAlreadyExistsException",
	      "The repository with name 'team/web' already exists in the registry with id "
	      "'000000000000'");
	fails(f, "CreateRepository", "{'repositoryName':'Team'}", "InvalidParameterException",
	      "Invalid parameter at 'repositoryName' failed to satisfy constraint");
	fails(f, "CreateRepository", "{'repositoryName':'a..b'}", "InvalidParameterException",
	      NULL);
	fails(f, "CreateRepository", "{}", "InvalidParameterException", NULL);
	fails(f, "CreateRepository", "{'repositoryName':'x','imageTagMutability':'SOMETIMES'}",
	      "InvalidParameterException", NULL);
	fails(f, "CreateRepository", "{'repositoryName':'xy','registryId':'111111111111'}",
	      "InvalidParameterException", "registryId");
	fails(f, "CreateRepository",
	      "{'repositoryName':'xy','encryptionConfiguration':{'encryptionType':'KMS'}}",
	      "InvalidParameterException", "KMS");
	fails(f, "CreateRepository", "{'repositoryName':'xy','tags':[{'Key':'aws:x','Value':'1'}]}",
	      "InvalidTagParameterException", "reserved");
	fails(f, "CreateRepository",
	      "{'repositoryName':'xy','tags':[{'Key':'a','Value':'1'},{'Key':'a','Value':'2'}]}",
	      "InvalidTagParameterException", "more than once");
	fails(f, "CreateRepository",
	      "{'repositoryName':'xy','imageTagMutability':'IMMUTABLE_WITH_EXCLUSION',"
	      "'imageTagMutabilityExclusionFilters':[{'filterType':'WILDCARD','filter':'dev*'}]}",
	      "InvalidParameterException", "berth supports MUTABLE and IMMUTABLE");
	fails(f, "CreateRepository",
	      "{'repositoryName':'xy','imageTagMutabilityExclusionFilters':[{'filterType':"
	      "'WILDCARD','filter':'dev*'}]}",
	      "InvalidParameterException", "exclusion filters");
	/* nothing of the refused requests was stored */
	assert_int_equal(count_keys(f, "ecr/repo/"), 2);
}

static void test_too_many_tags(void **state)
{
	struct fixture *f = *state;
	struct buf body = BUF_INIT;
	int i;

	buf_puts(&body, "{'repositoryName':'many','tags':[");
	for (i = 0; i < 51; i++)
		buf_printf(&body, "%s{'Key':'k%d','Value':'v'}", i ? "," : "", i);
	buf_puts(&body, "]}");
	fails(f, "CreateRepository", buf_str(&body), "TooManyTagsException", NULL);
	create(f, "many");
	buf_reset(&body);
	buf_puts(&body, "{'resourceArn':'" ARN("many") "','tags':[");
	for (i = 0; i < 50; i++)
		buf_printf(&body, "%s{'Key':'k%d','Value':'v'}", i ? "," : "", i);
	buf_puts(&body, "]}");
	call_ok(f, "TagResource", buf_str(&body));
	fails(f, "TagResource",
	      "{'resourceArn':'" ARN("many") "','tags':[{'Key':'one','Value':'more'}]}",
	      "TooManyTagsException", NULL);
	/* replacing a value is not adding a tag */
	call_ok(f, "TagResource",
		"{'resourceArn':'" ARN("many") "','tags':[{'Key':'k3','Value':'w'}]}");
	buf_release(&body);
}

static void test_describe(void **state)
{
	struct fixture *f = *state;
	cJSON *out;
	const cJSON *repos;
	const char *token;
	char body[512];
	int i, seen = 0;

	for (i = 0; i < 7; i++) {
		char name[16];

		snprintf(name, sizeof(name), "repo%d", i);
		create(f, name);
	}
	create(f, "repo1/nested");
	out = ok(f, "DescribeRepositories", "{}");
	repos = json_arr(out, "repositories");
	assert_int_equal(cJSON_GetArraySize(repos), 8);
	assert_null(json_get(out, "nextToken"));
	cJSON_Delete(out);

	out = ok(f, "DescribeRepositories", "{'repositoryNames':['repo3','repo1/nested']}");
	repos = json_arr(out, "repositories");
	assert_int_equal(cJSON_GetArraySize(repos), 2);
	assert_string_equal(json_str(repos->child, "repositoryName"), "repo3");
	assert_string_equal(json_str(repos->child->next, "repositoryName"), "repo1/nested");
	cJSON_Delete(out);

	fails(f, "DescribeRepositories", "{'repositoryNames':['repo3','nope']}",
	      "RepositoryNotFoundException",
	      "The repository with name 'nope' does not exist in the registry with id "
	      "'000000000000'");
	fails(f, "DescribeRepositories", "{'repositoryNames':['repo3'],'maxResults':1}",
	      "InvalidParameterException", NULL);
	fails(f, "DescribeRepositories",
	      "{'repositoryNames':['repo3'],'registryId':'111111111111'}",
	      "RepositoryNotFoundException", "'111111111111'");
	out = ok(f, "DescribeRepositories", "{'registryId':'111111111111'}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "repositories")), 0);
	cJSON_Delete(out);
	fails(f, "DescribeRepositories", "{'maxResults':0}", "InvalidParameterException", NULL);
	fails(f, "DescribeRepositories", "{'nextToken':'garbage'}", "InvalidParameterException",
	      NULL);

	/* pages of 3: 3 + 3 + 2, each token different, the last page without one */
	snprintf(body, sizeof(body), "{'maxResults':3}");
	for (i = 0; i < 5; i++) {
		out = ok(f, "DescribeRepositories", body);
		seen += cJSON_GetArraySize(json_arr(out, "repositories"));
		token = json_str(out, "nextToken");
		if (!token) {
			cJSON_Delete(out);
			break;
		}
		snprintf(body, sizeof(body), "{'maxResults':3,'nextToken':'%s'}", token);
		cJSON_Delete(out);
	}
	assert_int_equal(i, 2);
	assert_int_equal(seen, 8);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	cJSON *out;

	create(f, "web");
	create(f, "web/sub");
	out = ok(f, "DeleteRepository", "{'repositoryName':'web'}");
	assert_string_equal(json_str(json_obj(out, "repository"), "repositoryArn"), ARN("web"));
	cJSON_Delete(out);
	fails(f, "DeleteRepository", "{'repositoryName':'web'}", "RepositoryNotFoundException",
	      NULL);
	fails(f, "DescribeRepositories", "{'repositoryNames':['web']}",
	      "RepositoryNotFoundException", NULL);
	fails(f, "DeleteRepository", "{'repositoryName':'web/sub','registryId':'111111111111'}",
	      "RepositoryNotFoundException", NULL);

	/* an image in the repository (the keys a push leaves) */
	put_key(f, "ecr/manifest/web/sub/" SHA_A,
		"{'mediaType':'application/vnd.oci.image.manifest.v1+json','size':10,'pushedAt':1,"
		"'references':['" SHA_B "']}");
	put_key(f, "ecr/tag/web/sub/latest", "{'digest':'" SHA_A "'}");
	put_key(f, "ecr/blob/web/sub/" SHA_B, "{'size':5}");
	create(f, "web");
	put_key(f, "ecr/blob/web/" SHA_C, "{'size':5}");
	fails(f, "DeleteRepository", "{'repositoryName':'web/sub'}", "RepositoryNotEmptyException",
	      "The repository with name 'web/sub' in registry with id '000000000000' cannot be "
	      "deleted because it still contains images");
	/* a parent holding only blobs is empty; deleting it leaves its child alone */
	call_ok(f, "DeleteRepository", "{'repositoryName':'web'}");
	assert_int_equal(count_keys(f, "ecr/blob/web/sha256"), 0);
	assert_int_equal(count_keys(f, "ecr/blob/web/sub/"), 1);
	call_ok(f, "DeleteRepository", "{'repositoryName':'web/sub','force':true}");
	assert_int_equal(count_keys(f, "ecr/"), 0);
}

static void test_mutability(void **state)
{
	struct fixture *f = *state;
	cJSON *out;

	create(f, "web");
	out = ok(f, "PutImageTagMutability",
		 "{'repositoryName':'web','imageTagMutability':'IMMUTABLE'}");
	assert_json(out, "{'registryId':'000000000000','repositoryName':'web',"
			 "'imageTagMutability':'IMMUTABLE'}");
	cJSON_Delete(out);
	out = ok(f, "DescribeRepositories", "{'repositoryNames':['web']}");
	assert_string_equal(json_str(json_arr(out, "repositories")->child, "imageTagMutability"),
			    "IMMUTABLE");
	cJSON_Delete(out);
	fails(f, "PutImageTagMutability",
	      "{'repositoryName':'nope','imageTagMutability':'IMMUTABLE'}",
	      "RepositoryNotFoundException", NULL);
	fails(f, "PutImageTagMutability", "{'repositoryName':'web'}", "InvalidParameterException",
	      NULL);

	fails(f, "PutImageTagMutability",
	      "{'repositoryName':'web','imageTagMutability':'MUTABLE_WITH_EXCLUSION',"
	      "'imageTagMutabilityExclusionFilters':[{'filterType':'WILDCARD','filter':'dev-*'}]}",
	      "InvalidParameterException", NULL);
}

static void test_tags(void **state)
{
	struct fixture *f = *state;
	cJSON *out;

	create(f, "team/web");
	call_ok(f, "TagResource",
		"{'resourceArn':'" ARN("team/web") "','tags':[{'Key':'a','Value':'1'},"
						   "{'Key':'b','Value':'2'}]}");
	call_ok(f, "TagResource",
		"{'resourceArn':'" ARN("team/web") "','tags':[{'Key':'a','Value':'3'}]}");
	out = ok(f, "ListTagsForResource", "{'resourceArn':'" ARN("team/web") "'}");
	assert_json(json_arr(out, "tags"), "[{'Key':'a','Value':'3'},{'Key':'b','Value':'2'}]");
	cJSON_Delete(out);
	call_ok(f, "UntagResource", "{'resourceArn':'" ARN("team/web") "','tagKeys':['a','zz']}");
	out = ok(f, "ListTagsForResource", "{'resourceArn':'" ARN("team/web") "'}");
	assert_json(json_arr(out, "tags"), "[{'Key':'b','Value':'2'}]");
	cJSON_Delete(out);

	fails(f, "TagResource", "{'resourceArn':'" ARN("nope") "','tags':[]}",
	      "RepositoryNotFoundException", NULL);
	fails(f, "ListTagsForResource", "{'resourceArn':'" ARN("nope") "'}",
	      "RepositoryNotFoundException", NULL);
	fails(f, "ListTagsForResource", "{'resourceArn':'team/web'}", "InvalidParameterException",
	      "Invalid ARN");
	fails(f, "ListTagsForResource",
	      "{'resourceArn':'arn:aws:ecr:eu-west-1:000000000000:repository/team/web'}",
	      "InvalidParameterException", "Invalid ARN");
	fails(f, "ListTagsForResource",
	      "{'resourceArn':'arn:aws:ecs:us-east-1:000000000000:cluster/web'}",
	      "InvalidParameterException", "Invalid ARN");
	fails(f, "TagResource",
	      "{'resourceArn':'" ARN("team/web") "','tags':[{'Key':'aws:x','Value':'1'}]}",
	      "InvalidTagParameterException", NULL);
	fails(f, "UntagResource", "{'resourceArn':'" ARN("team/web") "','tagKeys':['aws:x']}",
	      "InvalidTagParameterException", NULL);
}

static void test_authorization_token(void **state)
{
	struct fixture *f = *state;
	int64_t now = now_ms() / 1000;
	struct buf decoded = BUF_INIT;
	struct err err = ERR_INIT;
	char key[CREDENTIAL_FIELD_MAX + 1];
	const cJSON *data;
	const char *token;
	int64_t expires;
	cJSON *out;

	out = ok(f, "GetAuthorizationToken", "{}");
	data = json_arr(out, "authorizationData");
	assert_int_equal(cJSON_GetArraySize(data), 1);
	data = data->child;
	assert_string_equal(json_str(data, "proxyEndpoint"), "http://127.0.0.1:9400");
	expires = json_int(data, "expiresAt", 0);
	assert_true(expires >= now + 12 * 3600 - 1 && expires <= now + 12 * 3600 + 2);
	token = json_str(data, "authorizationToken");
	assert_int_equal(base64_decode(&decoded, token, strlen(token)), 0);
	assert_true(startswith(buf_str(&decoded), "AWS:"));
	assert_int_equal(registry_token_check(&f->reg, buf_str(&decoded) + 4, now, key, &err), 0);
	assert_string_equal(key, "AKID");
	/* it is refused once expired */
	assert_int_equal(
		registry_token_check(&f->reg, buf_str(&decoded) + 4, expires + 1, key, &err),
		-EACCES);
	buf_release(&decoded);
	cJSON_Delete(out);

	out = ok(f, "GetAuthorizationToken", "{'registryIds':['000000000000']}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "authorizationData")), 1);
	cJSON_Delete(out);
	fails(f, "GetAuthorizationToken", "{'registryIds':['111111111111']}",
	      "InvalidParameterException", NULL);
}

static void test_layers(void **state)
{
	struct fixture *f = *state;
	cJSON *out;
	const cJSON *v;

	create(f, "web");
	put_key(f, "ecr/blob/web/" SHA_A, "{'size':123}");
	put_key(f, "ecr/blob/web/" SHA_B, "{'size':7}");
	put_key(f, "ecr/manifest/web/" SHA_C,
		"{'mediaType':'application/vnd.oci.image.manifest.v1+json','size':10,'pushedAt':1,"
		"'references':['" SHA_A "']}");

	out = ok(f, "GetDownloadUrlForLayer", "{'repositoryName':'web','layerDigest':'" SHA_A "'}");
	/* a URL presigned for an hour with the caller's key, as ECR's are */
	assert_string_equal(json_str(out, "layerDigest"), SHA_A);
	assert_true(startswith(json_str(out, "downloadUrl"),
			       "http://127.0.0.1:9400/v2/web/blobs/" SHA_A
			       "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F"));
	assert_non_null(strstr(json_str(out, "downloadUrl"), "%2Fus-east-1%2Fecr%2Faws4_request"));
	assert_non_null(strstr(json_str(out, "downloadUrl"), "&X-Amz-Expires=3600&"));
	assert_non_null(strstr(json_str(out, "downloadUrl"), "&X-Amz-Signature="));
	cJSON_Delete(out);
	/* held, but no image uses it */
	fails(f, "GetDownloadUrlForLayer", "{'repositoryName':'web','layerDigest':'" SHA_B "'}",
	      "LayerInaccessibleException", "not associated with an image");
	fails(f, "GetDownloadUrlForLayer",
	      "{'repositoryName':'web','layerDigest':'sha256:dddddddddddddddddddddddddddddddddddd"
	      "dddddddddddddddddddddddddddd'}",
	      "LayersNotFoundException", NULL);
	fails(f, "GetDownloadUrlForLayer", "{'repositoryName':'web','layerDigest':'nope'}",
	      "InvalidParameterException", "layerDigest");
	fails(f, "GetDownloadUrlForLayer", "{'repositoryName':'nope','layerDigest':'" SHA_A "'}",
	      "RepositoryNotFoundException", NULL);

	out = ok(f, "BatchCheckLayerAvailability",
		 "{'repositoryName':'web','layerDigests':['" SHA_A "','" SHA_C "','bad','']}");
	v = json_arr(out, "layers");
	assert_json(v, "[{'layerDigest':'" SHA_A "','layerAvailability':'AVAILABLE',"
		       "'layerSize':123}]");
	assert_json(
		json_arr(out, "failures"),
		"[{'layerDigest':'" SHA_C "','failureCode':'MissingLayerDigest',"
		"'failureReason':'Could not find layer'},{'layerDigest':'bad','failureCode':"
		"'InvalidLayerDigest','failureReason':'Invalid layer digest'},{'layerDigest':'',"
		"'failureCode':'MissingLayerDigest','failureReason':'Missing layer digest'}]");
	cJSON_Delete(out);
	fails(f, "BatchCheckLayerAvailability", "{'repositoryName':'nope','layerDigests':['x:1']}",
	      "RepositoryNotFoundException", NULL);
}

/* Store data as a blob the repository holds (what a layer upload leaves). */
static void blob(struct fixture *f, const char *repo, const char *data,
		 char digest[REGISTRY_DIGEST_SIZE])
{
	struct err err = ERR_INIT;

	assert_int_equal(registry_blob_put(&f->reg, data, strlen(data), digest, &err), 0);
	assert_int_equal(registry_blob_link(&f->reg, repo, digest, &err), 0);
}

/* An OCI image manifest over config and two layers; note makes it distinct. */
static char *manifest_of(const char *config, const char *l1, const char *l2, const char *note)
{
	struct buf b = BUF_INIT;

	buf_printf(
		&b,
		"{\\'schemaVersion\\':2,\\'mediaType\\':\\'application/"
		"vnd.oci.image.manifest.v1+json\\',"
		"\\'config\\':{\\'mediaType\\':\\'application/"
		"vnd.oci.image.config.v1+json\\',\\'digest\\':"
		"\\'%s\\',\\'size\\':2},\\'layers\\':[{\\'mediaType\\':\\'application/"
		"vnd.oci.image.layer."
		"v1.tar+gzip\\',\\'digest\\':\\'%s\\',\\'size\\':5},{\\'mediaType\\':\\'"
		"application/vnd.oci."
		"image.layer.v1.tar+gzip\\',\\'digest\\':\\'%s\\',\\'size\\':6}],\\'annotations\\':"
		"{\\'note\\':\\'%s\\'}}",
		config, l1, l2, note);
	return buf_detach(&b, NULL);
}

/* A PutImage body: the manifest as a JSON string, and the other members. */
static char *put_body(const char *manifest, const char *extra)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "{'repositoryName':'app','imageManifest':'%s'%s}", manifest, extra);
	return buf_detach(&b, NULL);
}

static void digest_of(const char *manifest, char digest[REGISTRY_DIGEST_SIZE])
{
	char *m = strdup(manifest);

	/* the stored manifest has " where the body's escapes stand */
	for (char *p = m, *q = m;; p++) {
		if (*p == '\\' && p[1] == '\'') {
			*q++ = '"';
			p++;
			continue;
		}
		if (!(*q++ = *p))
			break;
	}
	registry_digest_of(m, strlen(m), digest);
	free(m);
}

static int page_count(struct fixture *f, const char *op, const char *array, const char *args,
		      int page)
{
	char body[1024];
	int n = 0, pages = 0;
	const char *token = NULL;
	cJSON *out = NULL;

	for (;;) {
		snprintf(body, sizeof(body), "{'repositoryName':'app','maxResults':%d%s%s%s%s}",
			 page, args, token ? ",'nextToken':'" : "", token ? token : "",
			 token ? "'" : "");
		cJSON_Delete(out);
		out = ok(f, op, body);
		n += cJSON_GetArraySize(json_arr(out, array));
		pages++;
		assert_true(cJSON_GetArraySize(json_arr(out, array)) <= page);
		token = json_str(out, "nextToken");
		if (!token)
			break;
		assert_true(pages < 20);
	}
	cJSON_Delete(out);
	return n;
}

static void test_images(void **state)
{
	struct fixture *f = *state;
	char config[REGISTRY_DIGEST_SIZE], l1[REGISTRY_DIGEST_SIZE], l2[REGISTRY_DIGEST_SIZE];
	char d1[REGISTRY_DIGEST_SIZE], d2[REGISTRY_DIGEST_SIZE], d3[REGISTRY_DIGEST_SIZE];
	char *m1, *m2, *m3, *bad, *body;
	char req[1024];
	const cJSON *v;
	cJSON *out;

	create(f, "app");
	blob(f, "app", "{}", config);
	blob(f, "app", "hello", l1);
	blob(f, "app", "world!", l2);
	m1 = manifest_of(config, l1, l2, "one");
	m2 = manifest_of(config, l1, l2, "two");
	m3 = manifest_of(config, l1, l2, "three");
	bad = manifest_of(config, l1, SHA_A, "bad");
	digest_of(m1, d1);
	digest_of(m2, d2);
	digest_of(m3, d3);

	/* PutImage */
	body = put_body(m1, ",'imageTag':'v1'");
	out = ok(f, "PutImage", body);
	v = json_obj(out, "image");
	assert_string_equal(json_str(json_obj(v, "imageId"), "imageDigest"), d1);
	assert_string_equal(json_str(json_obj(v, "imageId"), "imageTag"), "v1");
	assert_string_equal(json_str(v, "imageManifestMediaType"),
			    "application/vnd.oci.image.manifest.v1+json");
	cJSON_Delete(out);
	fails(f, "PutImage", body, "ImageAlreadyExistsException", "already exists");
	free(body);
	body = put_body(m2, ",'imageTag':'v2','imageDigest':'" SHA_A "'");
	fails(f, "PutImage", body, "ImageDigestDoesNotMatchException", NULL);
	free(body);
	body = put_body(bad, ",'imageTag':'bad'");
	fails(f, "PutImage", body, "LayersNotFoundException", NULL);
	free(body);
	body = put_body(m2, ",'imageTag':'a/b'");
	fails(f, "PutImage", body, "InvalidParameterException", "imageTag");
	free(body);
	fails(f, "PutImage", "{'repositoryName':'nope','imageManifest':'{}'}",
	      "RepositoryNotFoundException", NULL);
	body = put_body(m2, ",'imageTag':'v2'");
	call_ok(f, "PutImage", body);
	free(body);
	body = put_body(m1, ",'imageTag':'latest'");
	call_ok(f, "PutImage", body);
	free(body);
	body = put_body(m3, ""); /* untagged */
	call_ok(f, "PutImage", body);
	free(body);

	/* ListImages: one entry per tag, then the untagged */
	out = ok(f, "ListImages", "{'repositoryName':'app','filter':{'tagStatus':'UNTAGGED'}}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "imageIds")), 1);
	assert_string_equal(json_str(json_arr(out, "imageIds")->child, "imageDigest"), d3);
	cJSON_Delete(out);
	assert_int_equal(page_count(f, "ListImages", "imageIds", "", 1), 4);
	assert_int_equal(page_count(f, "ListImages", "imageIds", "", 3), 4);
	assert_int_equal(
		page_count(f, "ListImages", "imageIds", ",'filter':{'tagStatus':'TAGGED'}", 2), 3);
	fails(f, "ListImages", "{'repositoryName':'nope'}", "RepositoryNotFoundException", NULL);
	fails(f, "ListImages", "{'repositoryName':'app','nextToken':'xyz'}",
	      "InvalidParameterException", NULL);

	/* DescribeImages */
	assert_int_equal(page_count(f, "DescribeImages", "imageDetails", "", 1), 3);
	assert_int_equal(page_count(f, "DescribeImages", "imageDetails",
				    ",'filter':{'tagStatus':'TAGGED'}", 5),
			 2);
	fails(f, "DescribeImages",
	      "{'repositoryName':'app','imageIds':[{'imageTag':'v1'},{'imageDigest':'" SHA_A "'}]}",
	      "ImageNotFoundException", NULL);
	fails(f, "DescribeImages",
	      "{'repositoryName':'app','imageIds':[{'imageTag':'v1'},{'imageTag':'v9'}]}",
	      "ImageNotFoundException",
	      "The image with imageId {imageDigest:'null', imageTag:'v9'} does not exist within "
	      "the repository with name 'app' in the registry with id '000000000000'");
	snprintf(req, sizeof(req),
		 "{'repositoryName':'app','imageIds':[{'imageTag':'latest'},{'imageDigest':'%s'}]}",
		 d1);
	out = ok(f, "DescribeImages", req);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "imageDetails")), 1);
	v = json_arr(out, "imageDetails")->child;
	assert_string_equal(json_str(v, "imageDigest"), d1);
	assert_json(json_arr(v, "imageTags"), "['latest','v1']");
	assert_int_equal(json_int(v, "imageSizeInBytes", 0), 2 + 5 + 6);
	assert_string_equal(json_str(v, "artifactMediaType"),
			    "application/vnd.oci.image.config.v1+json");
	assert_string_equal(json_str(v, "repositoryName"), "app");
	assert_string_equal(json_str(v, "registryId"), "000000000000");
	assert_true(json_has(v, "imagePushedAt"));
	cJSON_Delete(out);
	fails(f, "DescribeImages",
	      "{'repositoryName':'app','imageIds':[{'imageTag':'v1'}],'maxResults':1}",
	      "InvalidParameterException", NULL);

	/* BatchGetImage */
	snprintf(
		req, sizeof(req),
		"{'repositoryName':'app','imageIds':[{'imageTag':'v2'},{'imageDigest':'%s'},"
		"{'imageDigest':'%s','imageTag':'v2'},{'imageTag':'nope'},{'imageDigest':'x'},{}]}",
		d1, d1);
	out = ok(f, "BatchGetImage", req);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "images")), 2);
	v = json_arr(out, "images")->child;
	assert_string_equal(json_str(json_obj(v, "imageId"), "imageDigest"), d2);
	assert_string_equal(json_str(json_obj(v, "imageId"), "imageTag"), "v2");
	assert_non_null(strstr(json_str(v, "imageManifest"), "\"note\":\"two\""));
	v = json_arr(out, "failures");
	assert_string_equal(json_str(v->child, "failureCode"), "ImageTagDoesNotMatchDigest");
	assert_string_equal(json_str(v->child->next, "failureCode"), "ImageNotFound");
	assert_string_equal(json_str(v->child->next, "failureReason"), "Requested image not found");
	assert_string_equal(json_str(v->child->next->next, "failureCode"), "InvalidImageDigest");
	assert_string_equal(json_str(v->child->next->next->next, "failureCode"),
			    "MissingDigestAndTag");
	cJSON_Delete(out);
	out = ok(f, "BatchGetImage",
		 "{'repositoryName':'app','imageIds':[{'imageTag':'v2'}],'acceptedMediaTypes':"
		 "['application/vnd.docker.distribution.manifest.v2+json']}");
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "images")), 0);
	assert_int_equal(cJSON_GetArraySize(json_arr(out, "failures")), 1);
	cJSON_Delete(out);

	/* an immutable tag refuses to move; a new tag is fine */
	call_ok(f, "PutImageTagMutability",
		"{'repositoryName':'app','imageTagMutability':'IMMUTABLE'}");
	body = put_body(m2, ",'imageTag':'v1'");
	fails(f, "PutImage", body, "ImageTagAlreadyExistsException",
	      "The image tag 'v1' already exists in the 'app' repository and cannot be "
	      "overwritten because the repository is immutable.");
	free(body);
	body = put_body(m2, ",'imageTag':'v2b'");
	call_ok(f, "PutImage", body);
	free(body);
	call_ok(f, "PutImageTagMutability",
		"{'repositoryName':'app','imageTagMutability':'MUTABLE'}");
	/* a mutable one moves: v2b from image 2 to image 3 */
	body = put_body(m3, ",'imageTag':'v2b'");
	call_ok(f, "PutImage", body);
	free(body);

	/* BatchDeleteImage: a tag; the last tag takes the image; a digest takes its tags */
	out = ok(f, "BatchDeleteImage",
		 "{'repositoryName':'app','imageIds':[{'imageTag':'v1'},{'imageTag':'nope'}]}");
	snprintf(req, sizeof(req), "[{'imageDigest':'%s','imageTag':'v1'}]", d1);
	assert_json(json_arr(out, "imageIds"), req);
	assert_json(json_arr(out, "failures"),
		    "[{'imageId':{'imageTag':'nope'},'failureCode':'ImageNotFound',"
		    "'failureReason':'Requested image not found'}]");
	cJSON_Delete(out);
	call_ok(f, "BatchDeleteImage",
		"{'repositoryName':'app','imageIds':[{'imageTag':'latest'}]}");
	snprintf(req, sizeof(req), "{'repositoryName':'app','imageIds':[{'imageDigest':'%s'}]}",
		 d1);
	fails(f, "DescribeImages", req, "ImageNotFoundException", NULL);
	snprintf(req, sizeof(req), "{'repositoryName':'app','imageIds':[{'imageDigest':'%s'}]}",
		 d3);
	out = ok(f, "BatchDeleteImage", req);
	snprintf(req, sizeof(req), "[{'imageDigest':'%s','imageTag':'v2b'}]", d3);
	assert_json(json_arr(out, "imageIds"), req);
	cJSON_Delete(out);

	/* image 2 (v2) is left */
	fails(f, "DeleteRepository", "{'repositoryName':'app'}", "RepositoryNotEmptyException",
	      NULL);
	call_ok(f, "DeleteRepository", "{'repositoryName':'app','force':true}");
	assert_int_equal(count_keys(f, "ecr/"), 0);
	free(m1);
	free(m2);
	free(m3);
	free(bad);
}

static void test_unsupported(void **state)
{
	struct fixture *f = *state;

	fails(f, "PutLifecyclePolicy", "{'repositoryName':'web','lifecyclePolicyText':'{}'}",
	      "UnknownOperationException", "not supported by berth");
	fails(f, "NoSuchThing", "{}", "UnknownOperationException", "Unknown operation");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorization_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported, setup, teardown),
	};

	return cmocka_run_group_tests_name("ecr", tests, NULL, NULL);
}
