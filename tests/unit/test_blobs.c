/*
 * test_blobs.c: the registry's blob store: digests verified before a blob
 * becomes visible, atomic commits, concurrent writers of one blob, upload
 * sessions (ownership, one request at a time, surviving a restart, swept
 * when abandoned) and the garbage collector (keeps what is referenced or
 * young, removes the rest).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "registry/blobs.h"

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

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-blobs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open_sqlite(f->dir, &f->store, &err), 0);
	f->api.store = f->store;
	snprintf(f->api.region, sizeof(f->api.region), "us-east-1");
	snprintf(f->api.account_id, sizeof(f->api.account_id), "000000000000");
	assert_int_equal(registry_init(&f->r, &f->api, f->dir, &err), 0);
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

/* Number of entries in DIR/registry/SUB. */
static int count_files(struct fixture *f, const char *sub)
{
	char path[256];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/registry/%s", f->dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
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

static bool has_key(struct fixture *f, const char *key)
{
	return store_get(f->store, key, NULL, NULL, NULL) == 0;
}

static void test_digests(void **state)
{
	char d[REGISTRY_DIGEST_SIZE];

	(void)state;
	registry_digest_of("", 0, d);
	assert_string_equal(
		d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(registry_digest_valid(d));
	assert_false(registry_digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B9"
					   "34CA495991B7852B855"));
	assert_false(registry_digest_valid("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b9"
					   "34ca495991b7852b855"));
	assert_false(registry_digest_valid("sha256:e3b0"));
	assert_false(registry_digest_valid(NULL));
}

static void test_upload_verified_and_atomic(void **state)
{
	struct fixture *f = *state;
	struct registry_upload *u;
	struct err err = ERR_INIT;
	char digest[REGISTRY_DIGEST_SIZE], key[256];
	static char data[300000];
	struct buf got = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	registry_digest_of(data, sizeof(data), digest);

	assert_int_equal(registry_upload_start(&f->r, "team/app", now_ms(), &u, &err), 0);
	for (i = 0; i < sizeof(data); i += 1000)
		assert_int_equal(registry_upload_write(u, data + i, 1000, &err), 0);
	assert_int_equal(registry_upload_offset(u), sizeof(data));
	/* nothing is visible before the commit */
	assert_false(blob_file_exists(f, digest));
	assert_int_equal(count_files(f, "blobs/sha256"), 0);
	assert_int_equal(registry_upload_commit(u, digest, &err), 0);

	assert_true(blob_file_exists(f, digest));
	assert_int_equal(count_files(f, "uploads"), 0);
	snprintf(key, sizeof(key), "ecr/blob/team/app/%s", digest);
	assert_true(has_key(f, key));
	assert_int_equal(registry_blob_in_repo(&f->r, "team/app", digest, NULL, &err), 0);
	assert_int_equal(registry_blob_in_repo(&f->r, "team", digest, NULL, &err), -ENOENT);
	assert_int_equal(err.kind, E_OCI_BLOB_UNKNOWN);
	assert_int_equal(registry_blob_read(&f->r, digest, sizeof(data), &got, &err), 0);
	assert_int_equal(got.len, sizeof(data));
	assert_memory_equal(got.data, data, sizeof(data));
	buf_release(&got);
}

static void test_wrong_digest_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct registry_upload *u;
	struct err err = ERR_INIT;
	char right[REGISTRY_DIGEST_SIZE], wrong[REGISTRY_DIGEST_SIZE];
	char uuid[37];

	registry_digest_of("hello", 5, right);
	registry_digest_of("hellO", 5, wrong);
	assert_int_equal(registry_upload_start(&f->r, "app", now_ms(), &u, &err), 0);
	snprintf(uuid, sizeof(uuid), "%s", registry_upload_uuid(u));
	assert_int_equal(registry_upload_write(u, "hello", 5, &err), 0);
	assert_int_equal(registry_upload_commit(u, wrong, &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_DIGEST_INVALID);
	assert_false(blob_file_exists(f, wrong));
	assert_false(blob_file_exists(f, right));
	assert_int_equal(count_files(f, "uploads"), 0);
	/* the session is gone */
	assert_int_equal(registry_upload_open(&f->r, "app", uuid, now_ms(), &u, &err), -ENOENT);
	assert_int_equal(err.kind, E_OCI_BLOB_UPLOAD_UNKNOWN);

	/* a malformed digest is refused too */
	assert_int_equal(registry_upload_start(&f->r, "app", now_ms(), &u, &err), 0);
	assert_int_equal(registry_upload_commit(u, "sha256:abc", &err), -EINVAL);
	assert_int_equal(err.kind, E_OCI_DIGEST_INVALID);
	assert_int_equal(count_files(f, "uploads"), 0);
}

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	struct registry_upload *u, *u2;
	struct err err = ERR_INIT;
	char uuid[37], digest[REGISTRY_DIGEST_SIZE];

	assert_int_equal(registry_upload_start(&f->r, "app", now_ms(), &u, &err), 0);
	snprintf(uuid, sizeof(uuid), "%s", registry_upload_uuid(u));
	assert_int_equal(registry_upload_write(u, "abc", 3, &err), 0);
	/* held by one request at a time */
	assert_int_equal(registry_upload_open(&f->r, "app", uuid, now_ms(), &u2, &err), -EBUSY);
	registry_upload_close(u);
	/* another repository's upload is unknown here, and so is a made-up id */
	assert_int_equal(registry_upload_open(&f->r, "other", uuid, now_ms(), &u2, &err), -ENOENT);
	assert_int_equal(
		registry_upload_open(&f->r, "app", "../../etc/passwd", now_ms(), &u2, &err),
		-ENOENT);

	/* a restart keeps the session: its hash is rebuilt from its file */
	registry_blobs_release(&f->r);
	assert_int_equal(registry_blobs_init(&f->r, &err), 0);
	assert_int_equal(registry_upload_open(&f->r, "app", uuid, now_ms(), &u, &err), 0);
	assert_int_equal(registry_upload_offset(u), 3);
	assert_int_equal(registry_upload_write(u, "def", 3, &err), 0);
	registry_digest_of("abcdef", 6, digest);
	assert_int_equal(registry_upload_commit(u, digest, &err), 0);
	assert_true(blob_file_exists(f, digest));

	/* cancel removes its files */
	assert_int_equal(registry_upload_start(&f->r, "app", now_ms(), &u, &err), 0);
	assert_int_equal(count_files(f, "uploads"), 2);
	registry_upload_cancel(u);
	assert_int_equal(count_files(f, "uploads"), 0);
}

static void test_sweep_abandoned(void **state)
{
	struct fixture *f = *state;
	struct registry_upload *u;
	struct err err = ERR_INIT;
	unsigned removed = 0;
	char old_uuid[37];
	int64_t now = now_ms();

	assert_int_equal(registry_upload_start(&f->r, "app", now - 2 * 3600 * 1000LL, &u, &err), 0);
	snprintf(old_uuid, sizeof(old_uuid), "%s", registry_upload_uuid(u));
	registry_upload_close(u);
	assert_int_equal(registry_upload_start(&f->r, "app", now, &u, &err), 0);
	registry_upload_close(u);
	assert_int_equal(registry_upload_sweep(&f->r, now, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(count_files(f, "uploads"), 2);
	assert_int_equal(registry_upload_open(&f->r, "app", old_uuid, now, &u, &err), -ENOENT);
	/* an hour later the other one goes too, files of no session included */
	registry_blobs_release(&f->r);
	assert_int_equal(registry_blobs_init(&f->r, &err), 0);
	assert_int_equal(registry_upload_sweep(&f->r, now + 2 * 3600 * 1000LL, &removed, &err), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(count_files(f, "uploads"), 0);
}

struct writer {
	struct registry *r;
	const char *data;
	size_t n;
	const char *digest;
	int rc;
};

static void *write_blob(void *arg)
{
	struct writer *w = arg;
	struct registry_upload *u;
	struct err err = ERR_INIT;
	size_t i;

	w->rc = registry_upload_start(w->r, "app", now_ms(), &u, &err);
	for (i = 0; w->rc == 0 && i < w->n; i += 4096)
		w->rc = registry_upload_write(u, w->data + i, w->n - i < 4096 ? w->n - i : 4096,
					      &err);
	if (w->rc == 0)
		w->rc = registry_upload_commit(u, w->digest, &err);
	return NULL;
}

static void test_concurrent_writers_of_one_blob(void **state)
{
	struct fixture *f = *state;
	enum { N = 8, SIZE = 1 << 20 };
	struct writer w[N];
	pthread_t t[N];
	char digest[REGISTRY_DIGEST_SIZE];
	struct buf got = BUF_INIT;
	struct err err = ERR_INIT;
	char *data = malloc(SIZE);
	int i;

	random_bytes(data, SIZE);
	registry_digest_of(data, SIZE, digest);
	for (i = 0; i < N; i++) {
		w[i] = (struct writer){ &f->r, data, SIZE, digest, -1 };
		assert_int_equal(pthread_create(&t[i], NULL, write_blob, &w[i]), 0);
	}
	for (i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	assert_int_equal(count_files(f, "blobs/sha256"), 1);
	assert_int_equal(count_files(f, "uploads"), 0);
	assert_int_equal(registry_blob_read(&f->r, digest, SIZE, &got, &err), 0);
	assert_int_equal(got.len, SIZE);
	assert_memory_equal(got.data, data, SIZE);
	buf_release(&got);
	free(data);
}

static void link_manifest(struct fixture *f, const char *repo, const char *digest)
{
	struct store_txn t = STORE_TXN_INIT;
	struct err err = ERR_INIT;
	char key[256];

	snprintf(key, sizeof(key), "ecr/manifest/%s/%s", repo, digest);
	store_txn_put(&t, key, "{}", 2);
	assert_int_equal(store_commit(f->store, &t, NULL, &err), 0);
	store_txn_release(&t);
}

static void test_gc(void **state)
{
	struct fixture *f = *state;
	char linked[REGISTRY_DIGEST_SIZE], manifest[REGISTRY_DIGEST_SIZE];
	char young[REGISTRY_DIGEST_SIZE], old[REGISTRY_DIGEST_SIZE];
	char mounted[REGISTRY_DIGEST_SIZE];
	struct registry_upload *u;
	struct err err = ERR_INIT;
	unsigned removed = 99;
	int64_t now = now_ms(), hour = 3600 * 1000LL;

	/* a blob an upload linked to "app" */
	registry_digest_of("linked", 6, linked);
	assert_int_equal(registry_upload_start(&f->r, "app", now, &u, &err), 0);
	assert_int_equal(registry_upload_write(u, "linked", 6, &err), 0);
	assert_int_equal(registry_upload_commit(u, linked, &err), 0);
	/* a manifest a repository holds, young and old blobs nobody holds */
	assert_int_equal(registry_blob_put(&f->r, "manifest", 8, manifest, &err), 0);
	link_manifest(f, "app", manifest);
	assert_int_equal(registry_blob_put(&f->r, "young", 5, young, &err), 0);
	assert_int_equal(registry_blob_put(&f->r, "old", 3, old, &err), 0);
	assert_int_equal(registry_blob_put(&f->r, "mounted", 7, mounted, &err), 0);
	{
		struct timespec ts[2] = { { (now - 2 * hour) / 1000, 0 },
					  { (now - 2 * hour) / 1000, 0 } };
		struct buf p = BUF_INIT;

		registry_blob_path(&f->r, old, &p);
		assert_int_equal(utimensat(AT_FDCWD, buf_str(&p), ts, 0), 0);
		buf_reset(&p);
		registry_blob_path(&f->r, mounted, &p);
		assert_int_equal(utimensat(AT_FDCWD, buf_str(&p), ts, 0), 0);
		buf_release(&p);
	}
	/* mounting an old blob into a repository makes it young and held */
	assert_int_equal(registry_blob_link(&f->r, "other", mounted, &err), 0);

	assert_int_equal(registry_gc(&f->r, now, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_false(blob_file_exists(f, old));
	assert_true(blob_file_exists(f, young));
	assert_true(blob_file_exists(f, linked));
	assert_true(blob_file_exists(f, manifest));
	assert_true(blob_file_exists(f, mounted));

	/*
	 * Past the grace period only what a manifest is or names stays: the
	 * uploaded and the mounted blobs no manifest names go, with their
	 * repositories' links.
	 */
	assert_int_equal(registry_gc(&f->r, now + 2 * hour, &removed, &err), 0);
	assert_int_equal(removed, 3);
	assert_false(blob_file_exists(f, young));
	assert_false(blob_file_exists(f, linked));
	assert_false(blob_file_exists(f, mounted));
	assert_true(blob_file_exists(f, manifest));
	assert_int_equal(registry_blob_in_repo(&f->r, "app", linked, NULL, &err), -ENOENT);
	assert_int_equal(registry_blob_in_repo(&f->r, "other", mounted, NULL, &err), -ENOENT);
	assert_int_equal(registry_blob_in_repo(&f->r, "app", manifest, NULL, &err), 0);
	/* and a blob that is gone cannot be mounted */
	assert_int_equal(registry_blob_link(&f->r, "other", linked, &err), -ENOENT);
	assert_int_equal(err.kind, E_OCI_BLOB_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digests),
		cmocka_unit_test_setup_teardown(test_upload_verified_and_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_digest_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_abandoned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers_of_one_blob, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
