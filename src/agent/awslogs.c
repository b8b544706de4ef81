/*
 * awslogs.c: the awslogs log driver (awslogs.h): reading a container's log
 * file, batching its lines into PutLogEvents calls, and keeping the offset
 * the server has acknowledged.
 */
#include "agent/awslogs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/runtime.h"
#include "core/buf.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/util.h"
#include "core/banned.h"

#define LOGS_TARGET(op)	   "Logs_20140328." op
#define BATCH_EVENTS_MAX   10000
#define BATCH_BYTES_MAX	   1048576 /* messages' bytes + 26 per event, as CloudWatch counts */
#define EVENT_OVERHEAD	   26
#define EVENT_BYTES_MAX	   (262144 - EVENT_OVERHEAD) /* a multiline event is cut here */
#define BATCH_SPAN_MAX_MS  (24 * 3600 * 1000LL - 1)
#define READ_CHUNK	   (4u << 20)
#define IDLE_WAIT_MS	   20
#define MULTILINE_FLUSH_MS 5000 /* a pending multiline event is sent after this long */
#define STATE_MAX	   4096
#define SAVE_EVERY_MS	   1000

struct awslogs {
	struct agent *agent;
	char id[CONTAINER_ID_MAX + 1];
	struct awslogs_config cfg;
	struct buf log_path, state_path;
	struct awsclient api;
	pthread_t thread;
	/* what the server acknowledged (and the state file says) */
	int64_t offset;
	int64_t token; /* the stream's sequence token: events it accepted */
	uint64_t shipped;
	bool dirty;	  /* offset and token are ahead of the state file */
	int64_t saved_ms; /* when the state file was last written */
};

/* --- configuration ----------------------------------------------------- */

static int config_error(struct err *err, const char *fmt, const char *arg)
{
	return err_set(err, -EINVAL, E_CLIENT, "CannotStartContainerError: awslogs: %s%.200s", fmt,
		       arg ? arg : "");
}

void awslogs_config_release(struct awslogs_config *c)
{
	if (c->multiline)
		regfree(&c->start);
	c->multiline = false;
}

int awslogs_datetime_regex(const char *f, struct buf *ret, struct err *err)
{
	static const struct {
		char c;
		const char *re;
	} conv[] = {
		{ 'Y', "[0-9]{4}" },
		{ 'y', "[0-9]{2}" },
		{ 'm', "[0-9]{2}" },
		{ 'd', "[0-9]{2}" },
		{ 'e', "[ 0-9][0-9]" },
		{ 'H', "[0-9]{2}" },
		{ 'k', "[ 0-9][0-9]" },
		{ 'I', "[0-9]{2}" },
		{ 'l', "[ 0-9][0-9]" },
		{ 'M', "[0-9]{2}" },
		{ 'S', "[0-9]{2}" },
		{ 'j', "[0-9]{3}" },
		{ 'L', "[0-9]{3}" },
		{ 'f', "[0-9]{1,9}" },
		{ 'b', "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)" },
		{ 'B', "(January|February|March|April|May|June|July|August|September|October|"
		       "November|December)" },
		{ 'a', "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)" },
		{ 'A', "(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)" },
		{ 'p', "(AM|PM)" },
		{ 'Z', "[A-Za-z_/+-]+" },
		{ 'z', "[+-][0-9]{2}:?[0-9]{2}" },
		{ 'T', "[0-9]{2}:[0-9]{2}:[0-9]{2}" },
		{ 'D', "[0-9]{2}/[0-9]{2}/[0-9]{2}" },
		{ 'F', "[0-9]{4}-[0-9]{2}-[0-9]{2}" },
		{ '%', "%" },
	};

	buf_putc(ret, '^');
	for (; *f; f++) {
		bool found = false;

		if (*f != '%') {
			if (strchr(".[]()*+?{}|^$\\", *f))
				buf_putc(ret, '\\');
			buf_putc(ret, *f);
			continue;
		}
		f++;
		for (size_t i = 0; i < ARRAY_SIZE(conv) && *f; i++)
			if (conv[i].c == *f) {
				buf_puts(ret, conv[i].re);
				found = true;
				break;
			}
		if (!found) {
			char bad[3] = { '%', *f, 0 };

			return config_error(
				err, "awslogs-datetime-format has an unknown conversion ", bad);
		}
	}
	return 0;
}

/* The stream prefix, container name and task id joined, or the runtime id. */
static int stream_name(const char *prefix, const char *container, const char *task_id,
		       const char *runtime_id, char ret[AWSLOGS_NAME_MAX + 1], struct err *err)
{
	int n;

	if (prefix)
		n = snprintf(ret, AWSLOGS_NAME_MAX + 1, "%s/%s/%s", prefix, container, task_id);
	else
		n = snprintf(ret, AWSLOGS_NAME_MAX + 1, "%s", runtime_id);
	if (n < 0 || n > AWSLOGS_NAME_MAX)
		return config_error(err, "the log stream name is longer than 512 characters", NULL);
	if (strpbrk(ret, ":*"))
		return config_error(err, "the log stream name may not hold ':' or '*': ", ret);
	return 0;
}

int awslogs_config_parse(const cJSON *def, const char *region, const char *task_id,
			 const char *runtime_id, struct awslogs_config *ret, struct err *err)
{
	static const char *const ignored[] = {
		"mode",
		"max-buffer-size",
		"awslogs-force-flush-interval-seconds",
		"awslogs-max-buffered-events",
	};
	const cJSON *lc = json_obj(def, "logConfiguration");
	const cJSON *opts = json_obj(lc, "options");
	const char *driver = json_str(lc, "logDriver");
	const char *group, *r, *create, *pattern, *datefmt;
	_cleanup_buf_ struct buf re = BUF_INIT;
	int rc;

	if (!driver || strcmp(driver, "awslogs") != 0)
		return 0;
	memset(ret, 0, sizeof(*ret));
	for (const cJSON *o = opts ? opts->child : NULL; o; o = o->next) {
		static const char *const known[] = {
			"awslogs-group",
			"awslogs-region",
			"awslogs-stream-prefix",
			"awslogs-create-group",
			"awslogs-multiline-pattern",
			"awslogs-datetime-format",
		};
		bool ok = !cJSON_IsString(o) ? false : true;

		if (!ok)
			return config_error(err, "option values must be strings: ", o->string);
		ok = false;
		for (size_t i = 0; i < ARRAY_SIZE(known) && !ok; i++)
			ok = !strcmp(o->string, known[i]);
		for (size_t i = 0; i < ARRAY_SIZE(ignored) && !ok; i++)
			ok = !strcmp(o->string, ignored[i]);
		if (!ok)
			return config_error(err, "unknown log option ", o->string);
	}
	group = json_str(opts, "awslogs-group");
	r = json_str(opts, "awslogs-region");
	create = json_str(opts, "awslogs-create-group");
	pattern = json_str(opts, "awslogs-multiline-pattern");
	datefmt = json_str(opts, "awslogs-datetime-format");
	if (!group || !*group || strlen(group) > AWSLOGS_NAME_MAX)
		return config_error(err, "awslogs-group must name a log group", NULL);
	for (const char *p = group; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-/#", *p)))
			return config_error(err,
					    "awslogs-group is not a valid log group name: ", group);
	if (r && strcmp(r, region) != 0)
		return err_set(err, -EINVAL, E_CLIENT,
			       "CannotStartContainerError: awslogs: awslogs-region '%.64s' is not "
			       "this agent's region '%.64s'",
			       r, region);
	if (create && strcmp(create, "true") && strcmp(create, "false"))
		return config_error(err, "awslogs-create-group must be true or false, not ",
				    create);
	snprintf(ret->group, sizeof(ret->group), "%s", group);
	rc = stream_name(json_str(opts, "awslogs-stream-prefix"), json_str(def, "name"), task_id,
			 runtime_id, ret->stream, err);
	if (rc < 0)
		return rc;
	ret->create_group = create && !strcmp(create, "true");
	if (datefmt) {
		rc = awslogs_datetime_regex(datefmt, &re, err);
		if (rc < 0)
			return rc;
	} else if (pattern) {
		buf_puts(&re, pattern);
	}
	if (re.len) {
		char msg[128];

		rc = regcomp(&ret->start, buf_str(&re), REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			regerror(rc, &ret->start, msg, sizeof(msg));
			return config_error(err,
					    datefmt ? "awslogs-datetime-format: "
						    : "awslogs-multiline-pattern: ",
					    msg);
		}
		ret->multiline = true;
	}
	return 1;
}

/* --- state ------------------------------------------------------------- */

static int save_state(struct awslogs *l)
{
	char data[128];
	int n = snprintf(data, sizeof(data), "{\"offset\":%lld,\"token\":\"%lld\"}",
			 (long long)l->offset, (long long)l->token);

	return fs_write_atomic(buf_str(&l->state_path), data, (size_t)n);
}

/*
 * Record what the server acknowledged, at most once a second unless forced:
 * the state file may lag behind the server by any number of batches, since
 * after a crash the server's DataAlreadyAcceptedException tells how many
 * events past the recorded token it holds. Two fsyncs less per batch.
 */
static void checkpoint(struct awslogs *l, bool force)
{
	if (!l->dirty || (!force && now_ms() - l->saved_ms < SAVE_EVERY_MS))
		return;
	if (save_state(l) < 0) {
		log_error("awslogs %s: cannot write %s", l->id, buf_str(&l->state_path));
		return;
	}
	l->dirty = false;
	l->saved_ms = now_ms();
}

/* 1 when a state was there, 0 when not. */
static int load_state(struct awslogs *l)
{
	_cleanup_buf_ struct buf data = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	int64_t token;

	if (fs_read_file(buf_str(&l->state_path), STATE_MAX, &data) < 0)
		return 0;
	doc = cJSON_ParseWithLength(data.data, data.len);
	if (!doc || !json_str(doc, "token") ||
	    parse_int64(json_str(doc, "token"), 0, INT64_MAX, &token) < 0)
		return 0;
	l->offset = json_int(doc, "offset", 0);
	l->token = token;
	return 1;
}

/* --- talking to the server --------------------------------------------- */

static int call(struct awslogs *l, const char *target, const char *body, struct buf *ret,
		struct err *err)
{
	return agent_call_service(l->agent, &l->api, "logs", target, body, 0, ret, err);
}

static void name_body(struct awslogs *l, struct buf *body, bool with_stream)
{
	buf_puts(body, "{\"logGroupName\":");
	json_escape(body, l->cfg.group, strlen(l->cfg.group));
	if (with_stream) {
		buf_puts(body, ",\"logStreamName\":");
		json_escape(body, l->cfg.stream, strlen(l->cfg.stream));
	}
}

/* The stream's sequence token as the server has it. */
static int stream_token(struct awslogs *l, int64_t *ret, struct err *err)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	const cJSON *streams;
	int r;

	name_body(l, &body, false);
	buf_puts(&body, ",\"logStreamNamePrefix\":");
	json_escape(&body, l->cfg.stream, strlen(l->cfg.stream));
	buf_puts(&body, ",\"limit\":50}");
	r = call(l, LOGS_TARGET("DescribeLogStreams"), buf_str(&body), &answer, err);
	if (r < 0)
		return r;
	doc = cJSON_ParseWithLength(answer.data, answer.len);
	streams = json_arr(doc, "logStreams");
	for (const cJSON *s = streams ? streams->child : NULL; s; s = s->next)
		if (json_str(s, "logStreamName") &&
		    !strcmp(json_str(s, "logStreamName"), l->cfg.stream) &&
		    json_str(s, "uploadSequenceToken") &&
		    parse_int64(json_str(s, "uploadSequenceToken"), 0, INT64_MAX, ret) == 0)
			return 0;
	*ret = 0;
	return 0;
}

/*
 * Make sure the stream (and, with awslogs-create-group, the group) exist.
 * *ret_existed tells whether the stream was there already.
 */
static int ensure_stream(struct awslogs *l, bool *ret_existed, struct err *err)
{
	_cleanup_buf_ struct buf body = BUF_INIT, answer = BUF_INIT;
	int r;

	*ret_existed = false;
	if (l->cfg.create_group) {
		name_body(l, &body, false);
		buf_putc(&body, '}');
		r = call(l, LOGS_TARGET("CreateLogGroup"), buf_str(&body), &answer, err);
		if (r < 0 && err->kind != E_RESOURCE_ALREADY_EXISTS)
			return r;
		buf_reset(&body);
	}
	name_body(l, &body, true);
	buf_putc(&body, '}');
	r = call(l, LOGS_TARGET("CreateLogStream"), buf_str(&body), &answer, err);
	if (r < 0 && err->kind == E_RESOURCE_ALREADY_EXISTS) {
		*ret_existed = true;
		r = 0;
	}
	return r;
}

/* The number at the end of an error message ("... sequenceToken: 42"), or -1. */
static int64_t trailing_token(const char *msg)
{
	const char *p = msg + strlen(msg);
	int64_t v;

	while (p > msg && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (!*p || parse_int64(p, 0, INT64_MAX, &v) < 0)
		return -1;
	return v;
}

/* --- reading the log --------------------------------------------------- */

/*
 * One record of the shim's log: {"t":MS,"s":"stdout"|"stderr","l":"..."}.
 * ret_raw gets the "l" value as written (a JSON string, quotes included).
 */
static bool parse_record(const char *line, size_t len, int64_t *ret_ts, const char **ret_raw,
			 size_t *ret_raw_len)
{
	const char *p = line, *end = line + len, *l;
	int64_t ts = 0;

	if (len < 30 || memcmp(p, "{\"t\":", 5) != 0)
		return false;
	p += 5;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9' && ts < INT64_MAX / 10)
		ts = ts * 10 + (*p++ - '0');
	l = memmem(p, (size_t)(end - p), ",\"l\":\"", 6);
	if (!l || end[-1] != '}' || end[-2] != '"')
		return false;
	*ret_ts = ts;
	*ret_raw = l + 5;
	*ret_raw_len = (size_t)(end - 1 - (l + 5));
	return *ret_raw_len >= 2;
}

/* Whether the raw JSON string matches the multiline start pattern. */
static bool starts_event(const struct awslogs *l, const char *raw, size_t len)
{
	_cleanup_json_ cJSON *s = cJSON_ParseWithLength(raw, len);

	return cJSON_IsString(s) && regexec(&l->cfg.start, s->valuestring, 0, NULL, 0) == 0;
}

struct batch {
	struct buf body;
	size_t n_events;
	size_t bytes;
	int64_t first_ts;
	int64_t end_offset; /* where the next batch starts */
	/* the multiline event being built */
	struct buf event;
	int64_t event_ts;
	size_t event_inner; /* bytes of its message, escaped */
	int64_t event_end;  /* the offset after its last line */
	bool have_event;
};

/* Add one event (msg_raw is a JSON string, quotes included) to the body. */
static void add_event(struct batch *b, int64_t ts, const char *raw, size_t raw_len)
{
	buf_puts(&b->body, b->n_events ? ",{\"timestamp\":" : "{\"timestamp\":");
	buf_printf(&b->body, "%lld,\"message\":", (long long)ts);
	buf_append(&b->body, raw, raw_len);
	buf_putc(&b->body, '}');
	if (b->n_events == 0)
		b->first_ts = ts;
	b->n_events++;
	b->bytes += raw_len - 2 + EVENT_OVERHEAD;
}

/* Whether an event of raw_len (escaped, with quotes) still fits the batch. */
static bool fits(const struct batch *b, int64_t ts, size_t raw_len)
{
	return b->n_events < BATCH_EVENTS_MAX &&
	       b->bytes + raw_len - 2 + EVENT_OVERHEAD <= BATCH_BYTES_MAX &&
	       (b->n_events == 0 || ts - b->first_ts <= BATCH_SPAN_MAX_MS);
}

/* Close the pending multiline event into the batch: false when it does not fit. */
static bool close_event(struct batch *b)
{
	if (!b->have_event)
		return true;
	buf_putc(&b->event, '"');
	if (!fits(b, b->event_ts, b->event.len))
		return false;
	add_event(b, b->event_ts, b->event.data, b->event.len);
	b->end_offset = b->event_end;
	buf_reset(&b->event);
	b->have_event = false;
	return true;
}

/*
 * Read from l->offset and build the next batch: events until the batch is
 * full or the complete lines run out. flush: the container has ended, so a
 * pending multiline event is complete. skip: drop this many events first
 * (a batch the server already holds).
 */
static int build_batch(struct awslogs *l, int fd, struct buf *chunk, struct batch *b, bool flush,
		       int64_t *skip)
{
	int64_t off = l->offset;
	size_t pos = 0;
	ssize_t n;

	buf_reset(chunk);
	buf_grow(chunk, READ_CHUNK);
	n = pread(fd, chunk->data, READ_CHUNK, off);
	if (n < 0)
		return -errno;
	chunk->len = (size_t)n;
	b->end_offset = off;
	while (pos < chunk->len) {
		const char *line = chunk->data + pos;
		const char *nl = memchr(line, '\n', chunk->len - pos);
		size_t len;
		const char *raw;
		size_t raw_len;
		int64_t ts;

		if (!nl)
			break; /* a record being written: next time */
		len = (size_t)(nl - line);
		if (!parse_record(line, len, &ts, &raw, &raw_len) || raw_len == 2) {
			/* empty lines (and anything not a record) are not shipped */
			pos += len + 1;
			if (!b->have_event)
				b->end_offset = off + (int64_t)pos;
			continue;
		}
		if (!l->cfg.multiline) {
			if (*skip > 0) {
				(*skip)--;
			} else {
				if (!fits(b, ts, raw_len))
					break;
				add_event(b, ts, raw, raw_len);
			}
			pos += len + 1;
			b->end_offset = off + (int64_t)pos;
			continue;
		}
		if (b->have_event && !starts_event(l, raw, raw_len) &&
		    b->event_inner + 2 + raw_len - 2 <= EVENT_BYTES_MAX) {
			/* a continuation: "...\n..." */
			buf_puts(&b->event, "\\n");
			buf_append(&b->event, raw + 1, raw_len - 2);
			b->event_inner += 2 + raw_len - 2;
			pos += len + 1;
			b->event_end = off + (int64_t)pos;
			continue;
		}
		if (b->have_event) {
			if (*skip > 0) {
				(*skip)--;
				buf_reset(&b->event);
				b->have_event = false;
				b->end_offset = b->event_end;
			} else if (!close_event(b)) {
				return 0;
			}
		}
		buf_reset(&b->event);
		buf_append(&b->event, raw, raw_len - 1); /* without the closing quote */
		b->event_inner = raw_len - 2;
		b->event_ts = ts;
		b->have_event = true;
		pos += len + 1;
		b->event_end = off + (int64_t)pos;
	}
	if (l->cfg.multiline && b->have_event &&
	    (flush || now_ms() - b->event_ts >= MULTILINE_FLUSH_MS) && pos == chunk->len) {
		if (*skip > 0) {
			(*skip)--;
			b->have_event = false;
			b->end_offset = b->event_end;
		} else {
			close_event(b);
		}
	}
	return 0;
}

/* --- the thread -------------------------------------------------------- */

static bool stopping(const struct awslogs *l)
{
	return l->agent->stopping;
}

/*
 * Send the batch. Returns 0 when the server holds it (now or from before),
 * 1 to build the batch again (after *skip events), negative to give up on
 * the log (its group is gone and may not be created).
 */
static int send_batch(struct awslogs *l, struct batch *b, int64_t *skip, struct err *err)
{
	_cleanup_buf_ struct buf answer = BUF_INIT;
	_cleanup_json_ cJSON *doc = NULL;
	int64_t expected, next;
	uint64_t t0;
	int r;

	buf_printf(&b->body, "],\"sequenceToken\":\"%lld\"}", (long long)l->token);
	t0 = mono_ns();
	r = call(l, LOGS_TARGET("PutLogEvents"), buf_str(&b->body), &answer, err);
	if (r == 0) {
		log_debug("awslogs %s: %zu events (%zu bytes) shipped in %.1f ms", l->id,
			  b->n_events, b->body.len, (double)(mono_ns() - t0) / 1e6);
		doc = cJSON_ParseWithLength(answer.data, answer.len);
		if (!json_str(doc, "nextSequenceToken") ||
		    parse_int64(json_str(doc, "nextSequenceToken"), 0, INT64_MAX, &next) < 0)
			next = l->token + (int64_t)b->n_events;
		l->token = next;
		l->offset = b->end_offset;
		l->shipped += b->n_events;
		return 0;
	}
	if (stopping(l))
		return 1;
	switch (err->kind) {
	case E_DATA_ALREADY_ACCEPTED:
		/* sent before a crash: the server holds `expected - token` of these events */
		expected = trailing_token(err->msg);
		if (expected < l->token)
			break;
		*skip = expected - l->token;
		l->token = expected;
		log_info("awslogs %s: the server already holds %lld events of this batch", l->id,
			 (long long)*skip);
		return 1;
	case E_INVALID_SEQUENCE_TOKEN:
		/* the stream is younger than the token: it was deleted and made again */
		expected = trailing_token(err->msg);
		if (expected < 0)
			break;
		l->token = expected;
		return 1;
	case E_RESOURCE_NOT_FOUND: {
		bool existed;

		log_warn("awslogs %s: %s; creating the log stream again", l->id, err->msg);
		r = ensure_stream(l, &existed, err);
		if (r < 0)
			return r;
		r = stream_token(l, &l->token, err);
		return r < 0 ? r : 1;
	}
	default: break;
	}
	/* a refusal sending it again cannot cure: drop this batch, keep the rest */
	log_error("awslogs %s: %lld log events dropped: %s", l->id, (long long)b->n_events,
		  err->msg);
	l->offset = b->end_offset;
	return 0;
}

static void *ship_main(void *arg)
{
	struct awslogs *l = arg;
	_cleanup_buf_ struct buf chunk = BUF_INIT;
	struct batch b = { 0 };
	struct err err = ERR_INIT;
	int64_t skip = 0;
	int fd = -1, r;

	if (!load_state(l)) {
		bool existed;

		if (ensure_stream(l, &existed, &err) < 0) {
			if (!stopping(l))
				log_error("awslogs %s: %s: the log is not shipped", l->id, err.msg);
			return NULL;
		}
		/* a stream that was there already holds events that are not this log's */
		if (existed && stream_token(l, &l->token, &err) < 0)
			return NULL;
		l->offset = 0;
		if (save_state(l) < 0)
			log_error("awslogs %s: cannot write %s", l->id, buf_str(&l->state_path));
	}
	while (!stopping(l)) {
		struct container_state st;
		bool exited;

		if (container_state(buf_str(&l->agent->containers_dir), l->id, &st, &err) < 0)
			break; /* removed */
		exited = st.exited;
		if (fd < 0) {
			fd = open(buf_str(&l->log_path), O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				if (exited)
					break; /* it never wrote anything */
				agent_nap(l->agent, IDLE_WAIT_MS * 10);
				continue;
			}
		}
		buf_reset(&b.body);
		name_body(l, &b.body, true);
		buf_puts(&b.body, ",\"logEvents\":[");
		b.n_events = 0;
		b.bytes = 0;
		b.have_event = false;
		buf_reset(&b.event);
		r = build_batch(l, fd, &chunk, &b, exited, &skip);
		if (r < 0) {
			log_error("awslogs %s: reading %s: %s", l->id, buf_str(&l->log_path),
				  strerror(-r));
			break;
		}
		if (b.n_events == 0) {
			if (b.end_offset > l->offset) {
				l->offset = b.end_offset; /* only empty lines, or skipped ones */
				l->dirty = true;
				checkpoint(l, false);
				continue;
			}
			if (exited)
				break; /* it ended before this read: all of it is shipped */
			agent_nap(l->agent, IDLE_WAIT_MS);
			continue;
		}
		r = send_batch(l, &b, &skip, &err);
		if (r < 0) {
			log_error("awslogs %s: %s: the rest of the log is not shipped", l->id,
				  err.msg);
			break;
		}
		if (r == 0) {
			l->dirty = true;
			checkpoint(l, false);
		}
	}
	checkpoint(l, true);
	if (fd >= 0)
		close(fd);
	buf_release(&b.body);
	buf_release(&b.event);
	return NULL;
}

int awslogs_start(struct agent *a, const char *runtime_id, struct awslogs_config *cfg,
		  struct awslogs **ret, struct err *err)
{
	struct awslogs *l = calloc(1, sizeof(*l));
	int r;

	if (!l) {
		awslogs_config_release(cfg);
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	}
	l->agent = a;
	snprintf(l->id, sizeof(l->id), "%s", runtime_id);
	l->cfg = *cfg;
	buf_printf(&l->log_path, "%s/%s/log", buf_str(&a->containers_dir), runtime_id);
	buf_printf(&l->state_path, "%s/%s/awslogs", buf_str(&a->containers_dir), runtime_id);
	r = agent_client_init(a, &l->api, err);
	if (r == 0 && pthread_create(&l->thread, NULL, ship_main, l) != 0)
		r = err_set(err, -EAGAIN, E_SERVER, "cannot start the awslogs thread");
	if (r < 0) {
		agent_client_release(&l->api);
		awslogs_config_release(&l->cfg);
		buf_release(&l->log_path);
		buf_release(&l->state_path);
		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void awslogs_join(struct awslogs *l)
{
	if (!l)
		return;
	pthread_join(l->thread, NULL);
	agent_client_release(&l->api);
	awslogs_config_release(&l->cfg);
	buf_release(&l->log_path);
	buf_release(&l->state_path);
	free(l);
}

uint64_t awslogs_shipped(const struct awslogs *l)
{
	return l ? l->shipped : 0;
}
