/*
 * http.h: berth's HTTP server, a thin layer over libmicrohttpd. It reads a
 * request's body into memory (up to a limit), hands the whole request to one
 * handler, and sends the response the handler filled. Paths and query
 * strings are passed on raw, as the client sent them, because SigV4 signs
 * them that way.
 */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Largest request body the server reads: a larger one is refused with 413. */
#define HTTP_BODY_MAX	 (1u << 20)
#define HTTP_HEADERS_MAX 16

struct MHD_Connection;
struct http_merged;
struct http_response;

/*
 * Where a streamed body goes: called with each chunk as it arrives. A
 * negative return stops the stream (the rest of the body is read and
 * dropped, and the final handler sees sink_failed).
 */
typedef int (*http_sink_fn)(void *sink_ctx, const char *data, size_t n);

struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;  /* raw, undecoded */
	const char *query; /* raw, without '?'; "" when none */
	struct buf body;   /* the body, unless it was streamed to a sink */
	bool body_too_large;
	/*
	 * Set by http_options.begin, before the body is read: the largest body
	 * buffered (HTTP_BODY_MAX unless raised), or a sink that takes the body
	 * instead, with a function freeing sink_ctx when the request ends.
	 */
	size_t body_max;
	http_sink_fn sink;
	void *sink_ctx;
	void (*sink_free)(void *sink_ctx);
	bool sink_failed;
	uint64_t body_received; /* bytes of body read so far */
	struct buf query_buf;
	struct http_merged *merged; /* header values joined for lookups */
	/*
	 * A request answered later (a long poll): the handler sets
	 * http_response.suspend and these. Once the connection is suspended,
	 * on_suspended(resume_ctx) is called; whoever then calls http_resume()
	 * gets resume(resume_ctx, ...) called on a server thread to fill the
	 * response. resume_free(resume_ctx) runs when the request ends.
	 */
	void (*on_suspended)(void *resume_ctx, struct http_request *req);
	void (*resume)(void *resume_ctx, struct http_request *req, struct http_response *resp);
	void (*resume_free)(void *resume_ctx);
	void *resume_ctx;
	bool suspended;
	/*
	 * What the request was, for http_options.done (metrics): set by the
	 * handler to strings that live as long as the request (NULL: unnamed).
	 */
	const char *tag_service;
	const char *tag_action;
	uint64_t start_ns; /* mono_ns() when its headers were read */
};

struct http_response {
	int status;
	bool suspend;		  /* answer later: see http_request.resume */
	const char *content_type; /* static string */
	struct buf body;
	/*
	 * A body sent from a file instead: fd (which the server then owns and
	 * closes), from fd_offset, fd_length bytes. For HEAD the length is
	 * announced and nothing is sent.
	 */
	bool has_fd;
	int fd;
	uint64_t fd_offset;
	uint64_t fd_length;
	int n_headers;
	struct {
		char name[48];
		char value[512]; /* a Location or Link names a repository (256) */
	} headers[HTTP_HEADERS_MAX];
};

/*
 * Look a request header up, case-insensitively. A header sent several times
 * comes back as its values joined with ",". Borrowed: valid until the
 * request ends. NULL when absent.
 */
const char *http_header(struct http_request *req, const char *name);

/* Resume a request suspended for a long poll (any thread; once per suspension). */
void http_resume(struct http_request *req);

/* Add a response header (silently dropped past HTTP_HEADERS_MAX). */
void http_response_header(struct http_response *resp, const char *name, const char *value);

typedef void (*http_handler_fn)(void *ctx, struct http_request *req, struct http_response *resp);
/* Called once a request's headers are read, before its body (may be NULL). */
typedef void (*http_begin_fn)(void *ctx, struct http_request *req);
/*
 * Called with each final response just before it is sent (not for a
 * suspension, but for the answer given after it); may be NULL.
 */
typedef void (*http_done_fn)(void *ctx, struct http_request *req, const struct http_response *resp);

struct http_server;

struct http_options {
	const char *listen; /* "127.0.0.1:9400", "[::1]:9400" or ":9400" */
	unsigned threads;   /* worker threads, each serving many connections */
	unsigned timeout_s; /* idle connections are closed after this */
	http_handler_fn handler;
	http_begin_fn begin;
	http_done_fn done;
	void *ctx;
};

/*
 * Start serving on opts->listen; returns once the socket listens. The port
 * actually bound (for ":0") is stored in ret_port when not NULL.
 */
int http_server_start(const struct http_options *opts, struct http_server **ret, unsigned *ret_port,
		      struct err *err);
/* Stop serving, wait for the workers, free the server. NULL is fine. */
void http_server_stop(struct http_server *srv);

#endif
