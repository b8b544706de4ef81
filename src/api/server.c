/*
 * server.c: `berth server`, the control plane: parses its options, opens
 * the store, loads the access keys and serves the HTTP endpoint until
 * SIGINT or SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http.h"
#include "core/log.h"
#include "core/util.h"
#include "main.h"
#include "core/banned.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: berth server [options]\n"
		"\n"
		"  --listen HOST:PORT    address to serve on (default 127.0.0.1:9400; port 0 picks one)\n"
		"  --data-dir DIR        where the state lives (default ./berth-data)\n"
		"  --credentials FILE    access keys, one 'ACCESS_KEY_ID SECRET_ACCESS_KEY' a line;\n"
		"                        without it, BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY\n"
		"  --region NAME         region in every ARN (default " API_DEFAULT_REGION ")\n"
		"  --account-id ID       12-digit account id in every ARN (default " API_DEFAULT_ACCOUNT_ID ")\n"
		"  --threads N           HTTP worker threads (default 8)\n"
		"  --log-level LEVEL     debug, info, warn or error (default info)\n");
}

static void handle(void *ctx, struct http_request *req, struct http_response *resp)
{
	struct api_server *srv = ctx;

	if (!strcmp(req->path, "/healthz") && !strcmp(req->method, "GET")) {
		resp->status = 200;
		resp->content_type = "text/plain";
		buf_puts(&resp->body, "ok\n");
		return;
	}
	if (!strcmp(req->path, "/")) {
		api_handle(srv, req, resp);
		return;
	}
	resp->status = 404;
	resp->content_type = "text/plain";
	buf_puts(&resp->body, "not found\n");
}

static int valid_region(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 25)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int cmd_server(int argc, char **argv)
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "credentials", required_argument, NULL, 'c' },
		{ "region", required_argument, NULL, 'r' },
		{ "account-id", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = "127.0.0.1:9400", *data_dir = "berth-data", *cred_file = NULL;
	const char *region = API_DEFAULT_REGION, *account = API_DEFAULT_ACCOUNT_ID;
	struct api_server srv;
	struct http_server *http = NULL;
	struct http_options hopts;
	struct err err = ERR_INIT;
	struct sigaction sa;
	int64_t threads = 8, level;
	unsigned port = 0;
	int c, r;

	if (getenv("BERTH_LOG") && (level = log_level_parse(getenv("BERTH_LOG"))) >= 0)
		log_set_level((enum log_level)level);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'c': cred_file = optarg; break;
		case 'r': region = optarg; break;
		case 'a': account = optarg; break;
		case 't':
			if (parse_int64(optarg, 1, 256, &threads) < 0) {
				fprintf(stderr, "berth server: --threads takes 1 to 256\n");
				return 2;
			}
			break;
		case 'L':
			level = log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "berth server: unknown log level '%s'\n", optarg);
				return 2;
			}
			log_set_level((enum log_level)level);
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "berth server: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!valid_region(region)) {
		fprintf(stderr, "berth server: region '%s' is not like 'us-east-1'\n", region);
		return 2;
	}
	if (strlen(account) != 12 || strspn(account, "0123456789") != 12) {
		fprintf(stderr, "berth server: account id '%s' is not 12 digits\n", account);
		return 2;
	}

	memset(&srv, 0, sizeof(srv));
	snprintf(srv.region, sizeof(srv.region), "%s", region);
	snprintf(srv.account_id, sizeof(srv.account_id), "%s", account);
	r = credentials_load(&srv.creds, cred_file, &err);
	if (r < 0) {
		fprintf(stderr, "berth server: %s\n", err.msg);
		return 1;
	}
	r = store_open_sqlite(data_dir, &srv.store, &err);
	if (r < 0) {
		fprintf(stderr, "berth server: %s\n", err.msg);
		credentials_release(&srv.creds);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	hopts = (struct http_options){
		.listen = listen,
		.threads = (unsigned)threads,
		.timeout_s = 30,
		.handler = handle,
		.ctx = &srv,
	};
	r = http_server_start(&hopts, &http, &port, &err);
	if (r < 0) {
		fprintf(stderr, "berth server: %s\n", err.msg);
		store_free(srv.store);
		credentials_release(&srv.creds);
		return 1;
	}
	log_info("berth %s serving on port %u (region %s, account %s, data in '%s')",
		 BERTH_VERSION, port, srv.region, srv.account_id, data_dir);
	printf("listening on port %u\n", port);
	fflush(stdout);

	while (!stop_requested)
		pause();

	log_info("stopping");
	http_server_stop(http);
	store_free(srv.store);
	credentials_release(&srv.creds);
	return 0;
}
