/*
 * test_config.c: where the CLI finds its endpoint, region, credentials and
 * cluster (cli/config.c), in the documented order: command line,
 * environment, ~/.aws/credentials and ~/.aws/config profiles, berth's
 * config file, a `berth dev` data directory, defaults; and its refusals.
 * Each test runs in a fresh HOME under /tmp with the variables cleared.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "core/fs.h"

static char home[64];

static const char *const vars[] = {
	"AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN",
	"AWS_PROFILE",
	"AWS_REGION",
	"AWS_DEFAULT_REGION",
	"AWS_ENDPOINT_URL",
	"AWS_ENDPOINT_URL_ECS",
	"AWS_SHARED_CREDENTIALS_FILE",
	"AWS_CONFIG_FILE",
	"BERTH_CONFIG",
	"BERTH_CLUSTER",
	"BERTH_DATA_DIR",
	"XDG_CONFIG_HOME",
	"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
};

static void put(const char *rel, const char *text)
{
	char path[256], dir[256];
	char *slash;

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = 0;
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	assert_int_equal(fs_write_replace(path, text, strlen(text)), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(home, sizeof(home), "/tmp/berth-test-config-XXXXXX");
	if (!mkdtemp(home))
		return -1;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", home, 1);
	return chdir(home);
}

static int teardown(void **state)
{
	(void)state;
	if (chdir("/") < 0)
		return -1;
	return fs_remove_tree(home);
}

static int load(const struct cli_overrides *o, struct cli_config *c, struct err *err)
{
	static const struct cli_overrides none = { 0 };

	return cli_config_load(o ? o : &none, c, err);
}

static void test_defaults_need_credentials(void **state)
{
	struct cli_config c;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(load(NULL, &c, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no credentials"));
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	assert_int_equal(load(NULL, &c, &err), -EINVAL); /* no secret */
	setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.endpoint, CLI_DEFAULT_ENDPOINT);
	assert_string_equal(c.region, "us-east-1");
	assert_string_equal(c.cluster, "default");
	assert_string_equal(c.access_key, "AKENV");
	assert_string_equal(c.secret_key, "secret-env");
	assert_string_equal(c.session_token, "");
}

static void test_environment_order(void **state)
{
	struct cli_config c;
	struct err err = ERR_INIT;
	struct cli_overrides o = { 0 };

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
	setenv("AWS_SESSION_TOKEN", "tok", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/", 1);
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	setenv("BERTH_CLUSTER", "envcluster", 1);
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.endpoint, "http://127.0.0.1:1"); /* no trailing slash */
	assert_string_equal(c.region, "eu-west-1");
	assert_string_equal(c.session_token, "tok");
	assert_string_equal(c.cluster, "envcluster");
	setenv("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:2", 1);
	setenv("AWS_REGION", "eu-central-1", 1);
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.endpoint, "http://127.0.0.1:2");
	assert_string_equal(c.endpoint_logs, "http://127.0.0.1:2");
	assert_string_equal(c.region, "eu-central-1");
	o = (struct cli_overrides){ .endpoint = "http://127.0.0.1:3",
				    .region = "ap-south-1",
				    .cluster = "flag" };
	assert_int_equal(load(&o, &c, &err), 0);
	assert_string_equal(c.endpoint, "http://127.0.0.1:3");
	assert_string_equal(c.region, "ap-south-1");
	assert_string_equal(c.cluster, "flag");
	o.endpoint = "ftp://x";
	assert_int_equal(load(&o, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ftp://x"));
}

static void test_profiles(void **state)
{
	struct cli_config c;
	struct err err = ERR_INIT;
	struct cli_overrides o = { 0 };

	(void)state;
	put(".aws/credentials", "[default]\n"
				"aws_access_key_id = AKDEF\n"
				"aws_secret_access_key = secret-def\n"
				"[dev]\n"
				"aws_access_key_id = AKDEV\n"
				"aws_secret_access_key = secret-dev\n"
				"aws_session_token = devtok\n");
	put(".aws/config", "[default]\n"
			   "region = eu-north-1\n"
			   "[profile dev]\n"
			   "region = sa-east-1\n"
			   "endpoint_url = http://127.0.0.1:9999\n"
			   "[profile conf-only]\n"
			   "aws_access_key_id = AKCONF\n"
			   "aws_secret_access_key = secret-conf\n");
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key, "AKDEF");
	assert_string_equal(c.region, "eu-north-1");
	assert_string_equal(c.endpoint, CLI_DEFAULT_ENDPOINT);
	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key, "AKDEV");
	assert_string_equal(c.session_token, "devtok");
	assert_string_equal(c.region, "sa-east-1");
	assert_string_equal(c.endpoint, "http://127.0.0.1:9999");
	/* keys in the environment win over AWS_PROFILE's ... */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key, "AKENV");
	assert_string_equal(c.session_token, "");
	/* ... but not over --profile */
	o.profile = "conf-only";
	assert_int_equal(load(&o, &c, &err), 0);
	assert_string_equal(c.access_key, "AKCONF");
	assert_string_equal(c.region, "us-east-1");
	o.profile = "missing";
	assert_int_equal(load(&o, &c, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "'missing'"));
	/* files named by the environment */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_PROFILE");
	put("elsewhere", "[default]\naws_access_key_id = AKELSE\naws_secret_access_key = s\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "elsewhere", 1);
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key, "AKELSE");
}

static void test_berth_config_and_dev(void **state)
{
	struct cli_config c;
	struct err err = ERR_INIT;

	(void)state;
	/* a berth dev data directory in the working directory */
	put("berth-data/credentials", "# berth dev's\nBERTHDEVKEY devsecret\n");
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key, "BERTHDEVKEY");
	assert_string_equal(c.secret_key, "devsecret");
	/* berth's config: its endpoint, region, cluster and data_dir */
	put("other/credentials", "OTHERKEY othersecret\n");
	put(".config/berth/config", "endpoint_url = http://127.0.0.1:7\n"
				    "[default]\n"
				    "region = us-west-2\n"
				    "cluster = mine\n"
				    "data_dir = other\n");
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.endpoint, "http://127.0.0.1:7");
	assert_string_equal(c.region, "us-west-2");
	assert_string_equal(c.cluster, "mine");
	assert_string_equal(c.access_key, "OTHERKEY");
	/* its own keys come before a data directory's */
	put(".config/berth/config", "aws_access_key_id = CFGKEY\naws_secret_access_key = cfgs\n");
	assert_int_equal(load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key, "CFGKEY");
	/* BERTH_CONFIG names another file; a broken one is an error naming it */
	put("broken", "this is not ini\n");
	setenv("BERTH_CONFIG", "broken", 1);
	assert_int_equal(load(NULL, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "broken"));
	assert_non_null(strstr(err.msg, "line 1"));
	/* a half pair is refused */
	put("half", "aws_access_key_id = K\n");
	setenv("BERTH_CONFIG", "half", 1);
	assert_int_equal(load(NULL, &c, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_need_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_environment_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_berth_config_and_dev, setup, teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
