/*
 * config.c: where the CLI finds its endpoint, region, credentials and
 * cluster, in the aws CLI's order, then berth's own (cli.h, docs/cli.md):
 *
 *   endpoint:    --endpoint-url, AWS_ENDPOINT_URL_ECS, AWS_ENDPOINT_URL,
 *                the profile's endpoint_url in ~/.aws/config, berth's
 *                config endpoint_url, http://127.0.0.1:9400
 *   region:      --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
 *                region, berth's config region, us-east-1
 *   credentials: --profile's keys; AWS_ACCESS_KEY_ID with
 *                AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); the profile
 *                (AWS_PROFILE or "default") in ~/.aws/credentials
 *                (AWS_SHARED_CREDENTIALS_FILE), then in ~/.aws/config
 *                (AWS_CONFIG_FILE); berth's config keys; the credentials
 *                file of a `berth dev` data directory (berth's config
 *                data_dir, BERTH_DATA_DIR, or ./berth-data)
 *   cluster:     --cluster, BERTH_CLUSTER, berth's config cluster, "default"
 *
 * berth's config file is BERTH_CONFIG, or $XDG_CONFIG_HOME/berth/config,
 * or ~/.config/berth/config: the same INI, its keys at the top or in
 * [default].
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/cleanup.h"
#include "core/credentials.h"
#include "core/fs.h"
#include "core/ini.h"
#include "core/banned.h"

#define CONFIG_FILE_MAX (1u << 20)

/* One INI file read whole: absent files are empty. */
struct ini_file {
	char path[CLI_FIELD_MAX + 16];
	struct buf data;
	bool present;
};

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int read_ini(struct ini_file *f, const char *env_name, const char *home_rel, struct err *err)
{
	const char *home = env("HOME");
	int r;

	buf_init(&f->data);
	f->present = false;
	if (env(env_name))
		snprintf(f->path, sizeof(f->path), "%s", env(env_name));
	else if (home)
		snprintf(f->path, sizeof(f->path), "%s/%s", home, home_rel);
	else
		return 0;
	r = fs_read_file(f->path, CONFIG_FILE_MAX, &f->data);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r < 0)
		return err_set(err, r, E_CLIENT, "reading '%s': %s", f->path,
			       r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
	f->present = true;
	return 0;
}

/* ini_get with the file's name in the error. */
static int get(const struct ini_file *f, const char *section, const char *key, char *ret,
	       size_t size, struct err *err)
{
	int r;

	if (!f->present)
		return 0;
	r = ini_get(f->data.data, f->data.len, section, key, ret, size, err);
	if (r < 0)
		return err_wrap(err, "'%s'", f->path);
	return r;
}

static int has_section(void *ctx, const char *section, const char *key, const char *value)
{
	(void)key;
	(void)value;
	return !strcmp(section, ctx) ? 1 : 0;
}

static bool section_exists(const struct ini_file *f, const char *section)
{
	struct err err = ERR_INIT;

	return f->present &&
	       ini_parse(f->data.data, f->data.len, has_section, (void *)section, &err) == 1;
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* Keys of a profile: credentials file [NAME], then config file [profile NAME] ([default]). */
static int profile_keys(const struct ini_file *creds, const struct ini_file *conf,
			const char *conf_section, const char *profile, struct cli_config *c,
			bool *found, struct err *err)
{
	const struct {
		const struct ini_file *f;
		const char *section;
	} places[] = { { creds, profile }, { conf, conf_section } };
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(places); i++) {
		char key[sizeof(c->access_key)], secret[sizeof(c->secret_key)];

		r = get(places[i].f, places[i].section, "aws_access_key_id", key, sizeof(key), err);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		r = get(places[i].f, places[i].section, "aws_secret_access_key", secret,
			sizeof(secret), err);
		if (r < 0)
			return r;
		if (r == 0)
			return err_set(err, -EINVAL, E_CLIENT,
				       "'%s': profile '%s' has aws_access_key_id but no "
				       "aws_secret_access_key",
				       places[i].f->path, profile);
		copy(c->access_key, sizeof(c->access_key), key);
		copy(c->secret_key, sizeof(c->secret_key), secret);
		c->session_token[0] = 0;
		r = get(places[i].f, places[i].section, "aws_session_token", c->session_token,
			sizeof(c->session_token), err);
		if (r < 0)
			return r;
		snprintf(c->credentials_from, sizeof(c->credentials_from), "profile '%s' of '%s'",
			 profile, places[i].f->path);
		*found = true;
		return 0;
	}
	return 0;
}

/* The first key pair of a `berth dev` credentials file. */
static int dev_keys(const char *data_dir, struct cli_config *c, bool *found, struct err *err)
{
	struct credentials keys = { 0 };
	char path[CLI_FIELD_MAX + 16];
	struct buf probe = BUF_INIT;
	int r;

	snprintf(path, sizeof(path), "%s/credentials", data_dir);
	r = fs_read_file(path, CONFIG_FILE_MAX, &probe);
	buf_release(&probe);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	r = credentials_load(&keys, path, err);
	if (r < 0)
		return r;
	copy(c->access_key, sizeof(c->access_key), keys.pairs[0].access_key);
	copy(c->secret_key, sizeof(c->secret_key), keys.pairs[0].secret_key);
	snprintf(c->credentials_from, sizeof(c->credentials_from), "'%s'", path);
	credentials_release(&keys);
	*found = true;
	return 0;
}

/* A value of berth's config: at the top of the file or in [default]. */
static int berth_get(const struct ini_file *f, const char *key, char *ret, size_t size,
		     struct err *err)
{
	int r = get(f, "default", key, ret, size, err);

	return r != 0 ? r : get(f, "", key, ret, size, err);
}

static int resolve(const struct cli_overrides *o, struct ini_file *creds, struct ini_file *conf,
		   struct ini_file *berth, struct cli_config *c, struct err *err)
{
	const char *profile = o->profile ? o->profile : env("AWS_PROFILE");
	char conf_section[INI_SECTION_MAX + 16], data_dir[CLI_FIELD_MAX];
	bool found = false;
	int r;

	if (!profile || !strcmp(profile, "default"))
		snprintf(conf_section, sizeof(conf_section), "default");
	else
		snprintf(conf_section, sizeof(conf_section), "profile %s", profile);
	if (profile && strcmp(profile, "default") != 0 && !section_exists(creds, profile) &&
	    !section_exists(conf, conf_section))
		return err_set(err, -ENOENT, E_CLIENT,
			       "the profile '%s' is in neither '%s' nor '%s'", profile,
			       creds->path[0] ? creds->path : "~/.aws/credentials",
			       conf->path[0] ? conf->path : "~/.aws/config");
	if (!profile)
		profile = "default";

	/* endpoint */
	r = 0;
	if (o->endpoint)
		copy(c->endpoint, sizeof(c->endpoint), o->endpoint);
	else if (env("AWS_ENDPOINT_URL_ECS"))
		copy(c->endpoint, sizeof(c->endpoint), env("AWS_ENDPOINT_URL_ECS"));
	else if (env("AWS_ENDPOINT_URL"))
		copy(c->endpoint, sizeof(c->endpoint), env("AWS_ENDPOINT_URL"));
	else if ((r = get(conf, conf_section, "endpoint_url", c->endpoint, sizeof(c->endpoint),
			  err)) == 0 &&
		 (r = berth_get(berth, "endpoint_url", c->endpoint, sizeof(c->endpoint), err)) == 0)
		copy(c->endpoint, sizeof(c->endpoint), CLI_DEFAULT_ENDPOINT);
	if (r < 0)
		return r;
	/* the logs endpoint: its own variable, else the same server */
	if (!o->endpoint && env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"))
		copy(c->endpoint_logs, sizeof(c->endpoint_logs),
		     env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"));
	else
		copy(c->endpoint_logs, sizeof(c->endpoint_logs), c->endpoint);
	/* the endpoint is used as a base: no trailing '/' */
	for (size_t n = strlen(c->endpoint); n > 0 && c->endpoint[n - 1] == '/'; n--)
		c->endpoint[n - 1] = 0;
	for (size_t n = strlen(c->endpoint_logs); n > 0 && c->endpoint_logs[n - 1] == '/'; n--)
		c->endpoint_logs[n - 1] = 0;
	if (strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0)
		return err_set(err, -EINVAL, E_CLIENT,
			       "the endpoint '%s' is not an http:// or https:// URL", c->endpoint);

	/* region */
	r = 0;
	if (o->region)
		copy(c->region, sizeof(c->region), o->region);
	else if (env("AWS_REGION"))
		copy(c->region, sizeof(c->region), env("AWS_REGION"));
	else if (env("AWS_DEFAULT_REGION"))
		copy(c->region, sizeof(c->region), env("AWS_DEFAULT_REGION"));
	else if ((r = get(conf, conf_section, "region", c->region, sizeof(c->region), err)) == 0 &&
		 (r = berth_get(berth, "region", c->region, sizeof(c->region), err)) == 0)
		copy(c->region, sizeof(c->region), CLI_DEFAULT_REGION);
	if (r < 0)
		return r;

	/* cluster */
	r = 0;
	if (o->cluster)
		copy(c->cluster, sizeof(c->cluster), o->cluster);
	else if (env("BERTH_CLUSTER"))
		copy(c->cluster, sizeof(c->cluster), env("BERTH_CLUSTER"));
	else if ((r = berth_get(berth, "cluster", c->cluster, sizeof(c->cluster), err)) == 0)
		copy(c->cluster, sizeof(c->cluster), CLI_DEFAULT_CLUSTER);
	if (r < 0)
		return r;

	/* credentials: a profile named on the command line wins over the environment */
	if (o->profile) {
		r = profile_keys(creds, conf, conf_section, profile, c, &found, err);
		if (r < 0)
			return r;
	}
	if (!found && env("AWS_ACCESS_KEY_ID")) {
		if (!env("AWS_SECRET_ACCESS_KEY"))
			return err_set(err, -EINVAL, E_CLIENT,
				       "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
		copy(c->access_key, sizeof(c->access_key), env("AWS_ACCESS_KEY_ID"));
		copy(c->secret_key, sizeof(c->secret_key), env("AWS_SECRET_ACCESS_KEY"));
		copy(c->session_token, sizeof(c->session_token), env("AWS_SESSION_TOKEN") ?: "");
		copy(c->credentials_from, sizeof(c->credentials_from), "the environment");
		found = true;
	}
	if (!found) {
		r = profile_keys(creds, conf, conf_section, profile, c, &found, err);
		if (r < 0)
			return r;
	}
	if (!found) {
		r = berth_get(berth, "aws_access_key_id", c->access_key, sizeof(c->access_key),
			      err);
		if (r == 1) {
			r = berth_get(berth, "aws_secret_access_key", c->secret_key,
				      sizeof(c->secret_key), err);
			if (r == 0)
				return err_set(err, -EINVAL, E_CLIENT,
					       "'%s' has aws_access_key_id but no "
					       "aws_secret_access_key",
					       berth->path);
			snprintf(c->credentials_from, sizeof(c->credentials_from), "'%s'",
				 berth->path);
			found = r == 1;
		}
		if (r < 0)
			return r;
	}
	if (!found) {
		r = berth_get(berth, "data_dir", data_dir, sizeof(data_dir), err);
		if (r < 0)
			return r;
		if (r == 0)
			copy(data_dir, sizeof(data_dir), env("BERTH_DATA_DIR") ?: CLI_DEV_DATA_DIR);
		r = dev_keys(data_dir, c, &found, err);
		if (r < 0)
			return r;
	}
	if (!found)
		return err_set(err, -ENOENT, E_CLIENT,
			       "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
			       "a profile in ~/.aws/credentials, or run where `berth dev` keeps "
			       "its data (./" CLI_DEV_DATA_DIR "); see docs/cli.md");
	return 0;
}

int cli_config_load(const struct cli_overrides *o, struct cli_config *ret, struct err *err)
{
	struct ini_file creds, conf, berth;
	char rel[64];
	int r;

	memset(ret, 0, sizeof(*ret));
	memset(&creds, 0, sizeof(creds));
	memset(&conf, 0, sizeof(conf));
	memset(&berth, 0, sizeof(berth));
	r = read_ini(&creds, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", err);
	if (r == 0)
		r = read_ini(&conf, "AWS_CONFIG_FILE", ".aws/config", err);
	if (r == 0) {
		if (env("XDG_CONFIG_HOME") && !env("BERTH_CONFIG")) {
			snprintf(berth.path, sizeof(berth.path), "%s/berth/config",
				 env("XDG_CONFIG_HOME"));
			r = fs_read_file(berth.path, CONFIG_FILE_MAX, &berth.data);
			berth.present = r == 0;
			if (r == -ENOENT || r == -ENOTDIR)
				r = 0;
			else if (r < 0)
				err_set(err, r, E_CLIENT, "reading '%s': %s", berth.path,
					strerror(-r));
		} else {
			snprintf(rel, sizeof(rel), ".config/berth/config");
			r = read_ini(&berth, "BERTH_CONFIG", rel, err);
		}
	}
	if (r == 0)
		r = resolve(o, &creds, &conf, &berth, ret, err);
	buf_release(&creds.data);
	buf_release(&conf.data);
	buf_release(&berth.data);
	return r;
}
