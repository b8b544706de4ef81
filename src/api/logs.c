/*
 * logs.c: the CloudWatch Logs API (`Logs_20140328.*`, signing name "logs")
 * over the log store (store/logdb.h): log groups, log streams, writing
 * events (PutLogEvents) and reading them (GetLogEvents, FilterLogEvents),
 * with AWS's names, limits and errors. docs/logs.md tells what differs.
 *
 * Tokens: GetLogEvents' are "f/TS/SEQ" (the events after that place of
 * the stream) and "b/TS/SEQ" (those before it); FilterLogEvents' nextToken
 * is "e/TS/STREAM/SEQ", the last event it looked at; the Describe
 * operations' nextToken is the base64url of the last name returned.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/logs_filter.h"
#include "api/model.h"
#include "core/base64.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "store/logdb.h"
#include "core/banned.h"

#define LOGS_BATCH_BYTES_MAX  1048576 /* a PutLogEvents batch: messages' bytes + 26 each */
#define LOGS_EVENT_OVERHEAD   26
#define LOGS_EVENT_BYTES_MAX  (LOGS_BATCH_BYTES_MAX - LOGS_EVENT_OVERHEAD)
#define LOGS_SPAN_MAX_MS      (24 * 3600 * 1000LL)
#define LOGS_TOO_NEW_MS	      (2 * 3600 * 1000LL)
#define LOGS_TOO_OLD_MS	      (14 * 24 * 3600 * 1000LL)
#define LOGS_READ_BYTES_MAX   (1 << 20) /* GetLogEvents and FilterLogEvents answer up to 1 MB */
#define LOGS_READ_EVENTS_MAX  10000
#define LOGS_DESCRIBE_MAX     50
#define LOGS_FILTER_SCAN_MAX  200000 /* events one FilterLogEvents call looks at */
#define LOGS_FILTER_NAMES_MAX 100
#define LOGS_EXPIRE_EVERY_MS  60000

/* --- names ------------------------------------------------------------- */

static bool valid_group_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 512)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._-/#", *s)))
			return false;
	return true;
}

static bool valid_stream_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 512 && !strpbrk(s, ":*");
}

static int bad_name(struct err *err, const char *what, const char *name)
{
	return err_set(err, -EINVAL, E_INVALID_PARAMETER,
		       "1 validation error detected: Value '%.200s' at '%s' failed to satisfy "
		       "constraint: Member must satisfy regular expression pattern: %s",
		       name, what,
		       !strcmp(what, "logStreamName") ? "[^:*]*" : "[\\.\\-_/#A-Za-z0-9]+");
}

/*
 * The group a request names: logGroupName, or logGroupIdentifier (a name
 * or the group's ARN, with or without ":*"), not both. ret holds 513 bytes.
 */
static int group_of(const struct api_ctx *ctx, bool required, char ret[513], struct err *err)
{
	const char *name = json_str(ctx->in, "logGroupName");
	const char *ident = json_str(ctx->in, "logGroupIdentifier");
	size_t n;

	if (name && ident)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "LogGroup name and LogGroup ARN are mutually exclusive parameters.");
	if (ident) {
		const char *res = api_arn_resource(ctx->srv, "logs", ident);

		if (!res || (res != ident && !startswith(res, "log-group:")))
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "logGroupIdentifier '%.200s' is not a log group of this "
				       "region and account",
				       ident);
		name = res == ident ? ident : res + strlen("log-group:");
	}
	if (!name) {
		if (required)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "Either logGroupName or logGroupIdentifier must be given");
		ret[0] = 0;
		return 0;
	}
	n = strlen(name);
	if (n >= 2 && !strcmp(name + n - 2, ":*"))
		n -= 2;
	if (n > 512)
		return bad_name(err, "logGroupName", name);
	memcpy(ret, name, n);
	ret[n] = 0;
	if (!valid_group_name(ret))
		return bad_name(err, "logGroupName", ret);
	return 0;
}

static int stream_name_of(const struct api_ctx *ctx, const char **ret, struct err *err)
{
	const char *s = json_str(ctx->in, "logStreamName");

	if (!s || !valid_stream_name(s))
		return bad_name(err, "logStreamName", s ? s : "");
	*ret = s;
	return 0;
}

static void group_arn(const struct api_ctx *ctx, struct buf *out, const char *group, bool star)
{
	_cleanup_buf_ struct buf res = BUF_INIT;

	buf_printf(&res, "log-group:%s%s", group, star ? ":*" : "");
	api_arn(ctx->srv, out, "logs", buf_str(&res));
}

/* Delete what retention expired, at most once a minute (from the write path). */
static void expire_now_and_then(struct api_ctx *ctx)
{
	static int64_t last_ms;
	int64_t last = __atomic_load_n(&last_ms, __ATOMIC_RELAXED);
	struct err err = ERR_INIT;

	if (ctx->now_ms - last < LOGS_EXPIRE_EVERY_MS ||
	    !__atomic_compare_exchange_n(&last_ms, &last, ctx->now_ms, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	logdb_expire(ctx->srv->logs, ctx->now_ms, &err);
}

/* --- groups ------------------------------------------------------------ */

static int create_log_group(struct api_ctx *ctx, struct err *err)
{
	const char *name = json_str(ctx->in, "logGroupName");
	const char *cls = json_str(ctx->in, "logGroupClass");

	if (!valid_group_name(name))
		return bad_name(err, "logGroupName", name);
	if (json_has(ctx->in, "tags"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth does not keep tags on log groups");
	if (json_bool(ctx->in, "deletionProtectionEnabled", false))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth does not offer deletion protection for log groups");
	return logdb_group_create(ctx->srv->logs, name, ctx->now_ms, json_str(ctx->in, "kmsKeyId"),
				  cls ? cls : "STANDARD", err);
}

static int delete_log_group(struct api_ctx *ctx, struct err *err)
{
	const char *name = json_str(ctx->in, "logGroupName");

	if (!valid_group_name(name))
		return bad_name(err, "logGroupName", name);
	return logdb_group_delete(ctx->srv->logs, name, err);
}

struct describe_groups {
	struct api_ctx *ctx;
	const cJSON *idents; /* logGroupIdentifiers, or NULL */
	const char *log_class;
	int64_t limit, n;
	char last[513];
	bool more;
};

static int describe_group(void *arg, const struct logdb_group *g)
{
	struct describe_groups *d = arg;
	struct jsonw *w = d->ctx->out;
	_cleanup_buf_ struct buf arn = BUF_INIT, plain = BUF_INIT;

	if (d->log_class && strcmp(d->log_class, g->log_class ? g->log_class : "STANDARD"))
		return 0;
	group_arn(d->ctx, &arn, g->name, true);
	group_arn(d->ctx, &plain, g->name, false);
	if (d->idents) {
		bool found = false;

		for (const cJSON *i = d->idents->child; i && !found; i = i->next)
			found = cJSON_IsString(i) && (!strcmp(i->valuestring, g->name) ||
						      !strcmp(i->valuestring, buf_str(&plain)) ||
						      !strcmp(i->valuestring, buf_str(&arn)));
		if (!found)
			return 0;
	}
	if (d->n == d->limit) {
		d->more = true;
		return 1;
	}
	jsonw_obj_begin(w);
	jsonw_key_str(w, "logGroupName", g->name);
	jsonw_key_int(w, "creationTime", g->created_ms);
	if (g->retention_days)
		jsonw_key_int(w, "retentionInDays", g->retention_days);
	jsonw_key_int(w, "metricFilterCount", 0);
	jsonw_key_str(w, "arn", buf_str(&arn));
	jsonw_key_int(w, "storedBytes", g->stored_bytes);
	if (g->kms_key_id)
		jsonw_key_str(w, "kmsKeyId", g->kms_key_id);
	jsonw_key_str(w, "logGroupClass", g->log_class ? g->log_class : "STANDARD");
	jsonw_key_str(w, "logGroupArn", buf_str(&plain));
	jsonw_obj_end(w);
	d->n++;
	snprintf(d->last, sizeof(d->last), "%s", g->name);
	return 0;
}

/* Decode a Describe operation's nextToken (the base64url of a name) into ret (513 bytes). */
static int name_token(const struct api_ctx *ctx, char ret[513], struct err *err)
{
	const char *tok = json_str(ctx->in, "nextToken");
	_cleanup_buf_ struct buf key = BUF_INIT;

	ret[0] = 0;
	if (!tok)
		return 0;
	if (api_token_decode(tok, "", &key, err) < 0 || key.len == 0 || key.len > 512)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The specified nextToken is invalid.");
	memcpy(ret, key.data, key.len + 1);
	return 0;
}

static int describe_log_groups(struct api_ctx *ctx, struct err *err)
{
	struct describe_groups d = { .ctx = ctx };
	const char *prefix = json_str(ctx->in, "logGroupNamePrefix");
	const char *pattern = json_str(ctx->in, "logGroupNamePattern");
	char after[513];
	int r;

	if (prefix && pattern)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "LogGroup name prefix and LogGroup name pattern are mutually "
			       "exclusive parameters.");
	if (json_has(ctx->in, "accountIdentifiers") ||
	    json_bool(ctx->in, "includeLinkedAccounts", false))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth has no linked accounts (accountIdentifiers, "
			       "includeLinkedAccounts)");
	d.idents = json_arr(ctx->in, "logGroupIdentifiers");
	if (d.idents && (prefix || pattern))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "logGroupIdentifiers cannot be combined with a name prefix or "
			       "pattern");
	d.log_class = json_str(ctx->in, "logGroupClass");
	d.limit = json_has(ctx->in, "limit") ? json_int(ctx->in, "limit", 50) : LOGS_DESCRIBE_MAX;
	r = name_token(ctx, after, err);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "logGroups");
	jsonw_arr_begin(ctx->out);
	r = logdb_groups_each(ctx->srv->logs, prefix, pattern, after[0] ? after : NULL,
			      describe_group, &d, err);
	if (r < 0)
		return r;
	jsonw_arr_end(ctx->out);
	if (d.more)
		api_token_write(ctx->out, d.last);
	return 0;
}

static const int retention_days[] = {
	1,   3,	  5,   7,   14,	  30,	60,   90,   120,  150,	180,
	365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
};

static int put_retention_policy(struct api_ctx *ctx, struct err *err)
{
	const char *name = json_str(ctx->in, "logGroupName");
	int64_t days = json_int(ctx->in, "retentionInDays", 0);
	bool ok = false;

	if (!valid_group_name(name))
		return bad_name(err, "logGroupName", name);
	for (size_t i = 0; i < ARRAY_SIZE(retention_days); i++)
		ok = ok || days == retention_days[i];
	if (!ok)
		return err_set(
			err, -EINVAL, E_INVALID_PARAMETER,
			"1 validation error detected: Value '%lld' at 'retentionInDays' "
			"failed to satisfy constraint: Member must satisfy enum value set: "
			"[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, "
			"1827, 2192, 2557, 2922, 3288, 3653]",
			(long long)days);
	return logdb_group_retention(ctx->srv->logs, name, days, ctx->now_ms, err);
}

static int delete_retention_policy(struct api_ctx *ctx, struct err *err)
{
	const char *name = json_str(ctx->in, "logGroupName");

	if (!valid_group_name(name))
		return bad_name(err, "logGroupName", name);
	return logdb_group_retention(ctx->srv->logs, name, 0, ctx->now_ms, err);
}

/* --- streams ----------------------------------------------------------- */

static int create_log_stream(struct api_ctx *ctx, struct err *err)
{
	const char *group = json_str(ctx->in, "logGroupName");
	const char *stream;
	int r = stream_name_of(ctx, &stream, err);

	if (r < 0)
		return r;
	if (!valid_group_name(group))
		return bad_name(err, "logGroupName", group);
	return logdb_stream_create(ctx->srv->logs, group, stream, ctx->now_ms, err);
}

static int delete_log_stream(struct api_ctx *ctx, struct err *err)
{
	const char *group = json_str(ctx->in, "logGroupName");
	const char *stream;
	int r = stream_name_of(ctx, &stream, err);

	if (r < 0)
		return r;
	if (!valid_group_name(group))
		return bad_name(err, "logGroupName", group);
	return logdb_stream_delete(ctx->srv->logs, group, stream, err);
}

struct describe_streams {
	struct api_ctx *ctx;
	const char *group;
	bool by_time;
	int64_t limit, n;
	char last[513];
	int64_t last_ts;
	bool more;
};

static int describe_stream(void *arg, const struct logdb_stream *s)
{
	struct describe_streams *d = arg;
	struct jsonw *w = d->ctx->out;
	_cleanup_buf_ struct buf arn = BUF_INIT, res = BUF_INIT;
	char token[24];

	if (d->n == d->limit) {
		d->more = true;
		return 1;
	}
	buf_printf(&res, "log-group:%s:log-stream:%s", d->group, s->name);
	api_arn(d->ctx->srv, &arn, "logs", buf_str(&res));
	jsonw_obj_begin(w);
	jsonw_key_str(w, "logStreamName", s->name);
	jsonw_key_int(w, "creationTime", s->created_ms);
	if (s->seq) {
		jsonw_key_int(w, "firstEventTimestamp", s->first_ts);
		jsonw_key_int(w, "lastEventTimestamp", s->last_ts);
		jsonw_key_int(w, "lastIngestionTime", s->last_ingest_ms);
	}
	snprintf(token, sizeof(token), "%lld", (long long)s->seq);
	jsonw_key_str(w, "uploadSequenceToken", token);
	jsonw_key_str(w, "arn", buf_str(&arn));
	jsonw_key_int(w, "storedBytes", 0); /* as AWS: always 0 for streams since 2019 */
	jsonw_obj_end(w);
	d->n++;
	snprintf(d->last, sizeof(d->last), "%s", s->name);
	d->last_ts = s->last_ts;
	return 0;
}

static int describe_log_streams(struct api_ctx *ctx, struct err *err)
{
	struct describe_streams d = { .ctx = ctx };
	const char *prefix = json_str(ctx->in, "logStreamNamePrefix");
	const char *order = json_str(ctx->in, "orderBy");
	const char *tok = json_str(ctx->in, "nextToken");
	_cleanup_buf_ struct buf key = BUF_INIT;
	const char *after = NULL;
	int64_t after_ts = 0;
	char group[513];
	int r;

	r = group_of(ctx, true, group, err);
	if (r < 0)
		return r;
	d.group = group;
	d.by_time = order && !strcmp(order, "LastEventTime");
	if (d.by_time && prefix)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Cannot order by LastEventTime with a logStreamNamePrefix.");
	d.limit = json_has(ctx->in, "limit") ? json_int(ctx->in, "limit", 50) : LOGS_DESCRIBE_MAX;
	if (tok) {
		/* "NAME" by name; "TS/NAME" by time */
		if (api_token_decode(tok, "", &key, err) < 0 || key.len == 0)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "The specified nextToken is invalid.");
		after = key.data;
		if (d.by_time) {
			char *slash = strchr(key.data, '/');

			if (!slash)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "The specified nextToken is invalid.");
			*slash = 0;
			if (parse_int64(key.data, 0, INT64_MAX, &after_ts) < 0)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "The specified nextToken is invalid.");
			after = slash + 1;
		}
	}
	jsonw_key(ctx->out, "logStreams");
	jsonw_arr_begin(ctx->out);
	r = logdb_streams_each(
		ctx->srv->logs, group, prefix, d.by_time ? LOGDB_BY_LAST_EVENT : LOGDB_BY_NAME,
		json_bool(ctx->in, "descending", false), after, after_ts, describe_stream, &d, err);
	if (r < 0)
		return r;
	jsonw_arr_end(ctx->out);
	if (d.more) {
		_cleanup_buf_ struct buf last = BUF_INIT;

		if (d.by_time)
			buf_printf(&last, "%lld/", (long long)d.last_ts);
		buf_puts(&last, d.last);
		api_token_write(ctx->out, buf_str(&last));
	}
	return 0;
}

/* --- writing ----------------------------------------------------------- */

struct sort_item {
	int64_t ts;
	size_t index;
	const char *msg;
	size_t len;
};

static int cmp_item(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int put_log_events(struct api_ctx *ctx, struct err *err)
{
	const char *group = json_str(ctx->in, "logGroupName");
	const cJSON *events = json_arr(ctx->in, "logEvents");
	const char *token = json_str(ctx->in, "sequenceToken");
	_cleanup_free_ struct sort_item *items = NULL;
	_cleanup_free_ struct logdb_input *in = NULL;
	int64_t batch_bytes = 0, seq = 0, cutoff, retention = 0;
	size_t n = 0, too_old = 0, expired = 0, too_new;
	struct logdb_stream st;
	const char *stream;
	char tok[24];
	int r;

	r = stream_name_of(ctx, &stream, err);
	if (r < 0)
		return r;
	if (!valid_group_name(group))
		return bad_name(err, "logGroupName", group);
	if (json_has(ctx->in, "entity"))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "berth does not keep entities with log events");
	n = (size_t)cJSON_GetArraySize(events);
	items = calloc(n ? n : 1, sizeof(*items));
	in = calloc(n ? n : 1, sizeof(*in));
	if (!items || !in)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	n = 0;
	for (const cJSON *e = events ? events->child : NULL; e; e = e->next, n++) {
		const char *msg = json_str(e, "message");
		size_t len = msg ? strlen(msg) : 0;

		if (len + LOGS_EVENT_OVERHEAD > LOGS_EVENT_BYTES_MAX + LOGS_EVENT_OVERHEAD)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "Log event too large: %zu bytes exceeds limit of %d", len,
				       LOGS_EVENT_BYTES_MAX);
		batch_bytes += (int64_t)len + LOGS_EVENT_OVERHEAD;
		items[n] = (struct sort_item){ json_int(e, "timestamp", 0), n, msg, len };
	}
	if (batch_bytes > LOGS_BATCH_BYTES_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "Upload too large: %lld bytes exceeds limit of %d",
			       (long long)batch_bytes, LOGS_BATCH_BYTES_MAX);
	qsort(items, n, sizeof(*items), cmp_item);
	if (n && items[n - 1].ts - items[0].ts > LOGS_SPAN_MAX_MS)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "The batch of log events in a single PutLogEvents request cannot "
			       "span more than 24 hours.");
	r = logdb_stream_get(ctx->srv->logs, group, stream, &st, err);
	if (r < 0)
		return r;
	retention = st.retention_days;
	/* sorted: too old and expired ones lead, too new ones trail */
	cutoff = logdb_retention_cutoff(retention, ctx->now_ms);
	while (too_old < n && items[too_old].ts < ctx->now_ms - LOGS_TOO_OLD_MS)
		too_old++;
	while (expired < n && items[expired].ts < cutoff)
		expired++;
	too_new = n;
	while (too_new > 0 && items[too_new - 1].ts > ctx->now_ms + LOGS_TOO_NEW_MS)
		too_new--;
	{
		size_t first = too_old > expired ? too_old : expired, k = 0;

		for (size_t i = first; i < too_new; i++)
			in[k++] = (struct logdb_input){ items[i].ts, items[i].msg, items[i].len };
		r = logdb_put(ctx->srv->logs, group, stream, token, in, k, n, ctx->now_ms, &seq,
			      err);
		if (r < 0)
			return r;
	}
	snprintf(tok, sizeof(tok), "%lld", (long long)seq);
	jsonw_key_str(ctx->out, "nextSequenceToken", tok);
	if (too_old || expired || too_new < n) {
		jsonw_key(ctx->out, "rejectedLogEventsInfo");
		jsonw_obj_begin(ctx->out);
		if (too_new < n)
			jsonw_key_int(ctx->out, "tooNewLogEventStartIndex", (int64_t)too_new);
		if (too_old)
			jsonw_key_int(ctx->out, "tooOldLogEventEndIndex", (int64_t)too_old);
		if (expired)
			jsonw_key_int(ctx->out, "expiredLogEventEndIndex", (int64_t)expired);
		jsonw_obj_end(ctx->out);
	}
	expire_now_and_then(ctx);
	return 0;
}

/* --- reading ----------------------------------------------------------- */

/* Parse "C/TS/SEQ" (C the kind letter): 0, or -1 when it is not one. */
static int parse_pos(const char *tok, char kind, struct logdb_pos *ret)
{
	char *end = NULL;
	long long ts, seq;

	if (!tok || tok[0] != kind || tok[1] != '/')
		return -1;
	errno = 0;
	ts = strtoll(tok + 2, &end, 10);
	if (errno || end == tok + 2 || *end != '/')
		return -1;
	tok = end + 1;
	seq = strtoll(tok, &end, 10);
	if (errno || end == tok || *end)
		return -1;
	ret->ts = ts;
	ret->seq = seq;
	return 0;
}

static void write_pos(struct jsonw *w, const char *key, char kind, struct logdb_pos p)
{
	char tok[64];

	snprintf(tok, sizeof(tok), "%c/%lld/%lld", kind, (long long)p.ts, (long long)p.seq);
	jsonw_key_str(w, key, tok);
}

struct read_state {
	int64_t limit, n, bytes;
	struct logdb_event *events; /* copies, for a backward read to reverse */
	char **msgs;
	bool backward;
	struct jsonw *w;
	struct logdb_pos first, last; /* of the events returned, in time order */
};

static void write_event(struct jsonw *w, int64_t ts, const char *msg, size_t len, int64_t ingest)
{
	jsonw_obj_begin(w);
	jsonw_key_int(w, "timestamp", ts);
	jsonw_key(w, "message");
	jsonw_strn(w, msg, len);
	jsonw_key_int(w, "ingestionTime", ingest);
	jsonw_obj_end(w);
}

static int read_event(void *arg, const struct logdb_event *e)
{
	struct read_state *s = arg;

	if (s->n == s->limit || (s->n > 0 && s->bytes + (int64_t)e->msg_len + LOGS_EVENT_OVERHEAD >
						     LOGS_READ_BYTES_MAX))
		return 1;
	s->bytes += (int64_t)e->msg_len + LOGS_EVENT_OVERHEAD;
	if (s->backward) {
		char *m = malloc(e->msg_len + 1);

		if (!m)
			return -ENOMEM;
		memcpy(m, e->msg, e->msg_len);
		s->events[s->n] = *e;
		s->events[s->n].msg = m;
		s->msgs[s->n] = m;
		if (s->n == 0)
			s->last = e->pos;
		s->first = e->pos;
	} else {
		write_event(s->w, e->pos.ts, e->msg, e->msg_len, e->ingest_ms);
		if (s->n == 0)
			s->first = e->pos;
		s->last = e->pos;
	}
	s->n++;
	return 0;
}

static int time_bounds(const struct api_ctx *ctx, int64_t retention, int64_t *ret_start,
		       int64_t *ret_end, struct err *err)
{
	int64_t start = json_int(ctx->in, "startTime", 0);
	int64_t end = json_has(ctx->in, "endTime") ? json_int(ctx->in, "endTime", 0) : INT64_MAX;
	int64_t cutoff = logdb_retention_cutoff(retention, ctx->now_ms);

	if (json_has(ctx->in, "startTime") && json_has(ctx->in, "endTime") && end < start)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "endTime must be greater than or equal to startTime");
	*ret_start = start > cutoff ? start : cutoff;
	*ret_end = end;
	return 0;
}

static int get_log_events(struct api_ctx *ctx, struct err *err)
{
	const char *tok = json_str(ctx->in, "nextToken");
	struct read_state s = { .w = ctx->out };
	struct logdb_pos from;
	struct logdb_stream st;
	const char *stream;
	int64_t start, end;
	char group[513];
	bool backward;
	int r;

	r = group_of(ctx, true, group, err);
	if (r == 0)
		r = stream_name_of(ctx, &stream, err);
	if (r < 0)
		return r;
	s.limit = json_has(ctx->in, "limit") ? json_int(ctx->in, "limit", 0) : LOGS_READ_EVENTS_MAX;
	if (tok) {
		if (parse_pos(tok, 'f', &from) == 0)
			backward = false;
		else if (parse_pos(tok, 'b', &from) == 0)
			backward = true;
		else
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "The specified nextToken is invalid.");
	} else {
		backward = !json_bool(ctx->in, "startFromHead", false);
		from = backward ? (struct logdb_pos){ INT64_MAX, INT64_MAX }
				: (struct logdb_pos){ INT64_MIN, INT64_MIN };
	}
	r = logdb_stream_get(ctx->srv->logs, group, stream, &st, err);
	if (r == 0)
		r = time_bounds(ctx, st.retention_days, &start, &end, err);
	if (r < 0)
		return r;
	s.backward = backward;
	if (backward) {
		s.events = calloc((size_t)s.limit, sizeof(*s.events));
		s.msgs = calloc((size_t)s.limit, sizeof(*s.msgs));
		if (!s.events || !s.msgs) {
			free(s.events);
			free(s.msgs);
			return err_set(err, -ENOMEM, E_SERVER, "out of memory");
		}
	}
	jsonw_key(ctx->out, "events");
	jsonw_arr_begin(ctx->out);
	r = logdb_read(ctx->srv->logs, st.id, start, end, from, backward, read_event, &s, err);
	if (backward) {
		for (int64_t i = s.n - 1; r == 0 && i >= 0; i--)
			write_event(ctx->out, s.events[i].pos.ts, s.events[i].msg,
				    s.events[i].msg_len, s.events[i].ingest_ms);
		for (int64_t i = 0; i < s.n; i++)
			free(s.msgs[i]);
		free(s.events);
		free(s.msgs);
	}
	if (r == -ENOMEM)
		return err_set(err, r, E_SERVER, "out of memory");
	if (r < 0)
		return r;
	jsonw_arr_end(ctx->out);
	if (s.n) {
		write_pos(ctx->out, "nextForwardToken", 'f', s.last);
		write_pos(ctx->out, "nextBackwardToken", 'b', s.first);
	} else if (backward) {
		/* nothing before `from`: going forward starts where it stands */
		write_pos(ctx->out, "nextForwardToken", 'f',
			  tok && from.seq > INT64_MIN ? (struct logdb_pos){ from.ts, from.seq - 1 }
						      : (struct logdb_pos){ INT64_MIN, INT64_MIN });
		write_pos(ctx->out, "nextBackwardToken", 'b', from);
	} else {
		/* nothing after `from` yet: the same token finds what comes later */
		write_pos(ctx->out, "nextForwardToken", 'f', from);
		write_pos(ctx->out, "nextBackwardToken", 'b',
			  (struct logdb_pos){ from.ts,
					      from.seq == INT64_MAX ? from.seq : from.seq + 1 });
	}
	return 0;
}

struct filter_state {
	struct jsonw *w;
	struct logs_filter *f;
	int64_t limit, n, scanned, bytes;
	struct logdb_filter_pos last;
	bool more;
};

static int filter_event(void *arg, const struct logdb_event *e)
{
	struct filter_state *s = arg;
	char id[72];

	if (s->n == s->limit || s->scanned == LOGS_FILTER_SCAN_MAX ||
	    (s->n > 0 &&
	     s->bytes + (int64_t)e->msg_len + LOGS_EVENT_OVERHEAD > LOGS_READ_BYTES_MAX)) {
		s->more = true;
		return 1;
	}
	s->scanned++;
	s->last = (struct logdb_filter_pos){ e->pos.ts, e->stream_id, e->pos.seq };
	if (!logs_filter_match(s->f, e->msg, e->msg_len))
		return 0;
	s->bytes += (int64_t)e->msg_len + LOGS_EVENT_OVERHEAD;
	s->n++;
	jsonw_obj_begin(s->w);
	jsonw_key_str(s->w, "logStreamName", e->stream_name ? e->stream_name : "");
	jsonw_key_int(s->w, "timestamp", e->pos.ts);
	jsonw_key(s->w, "message");
	jsonw_strn(s->w, e->msg, e->msg_len);
	jsonw_key_int(s->w, "ingestionTime", e->ingest_ms);
	snprintf(id, sizeof(id), "%020lld%010lld%020lld", (long long)e->pos.ts,
		 (long long)e->stream_id, (long long)e->pos.seq);
	jsonw_key_str(s->w, "eventId", id);
	jsonw_obj_end(s->w);
	return 0;
}

static int group_retention(void *ctx, const struct logdb_group *g)
{
	*(int64_t *)ctx = g->retention_days;
	return 0;
}

static int filter_log_events(struct api_ctx *ctx, struct err *err)
{
	const char *pattern = json_str(ctx->in, "filterPattern");
	const char *prefix = json_str(ctx->in, "logStreamNamePrefix");
	const cJSON *names = json_arr(ctx->in, "logStreamNames");
	const char *tok = json_str(ctx->in, "nextToken");
	const char *name_list[LOGS_FILTER_NAMES_MAX];
	struct logdb_filter_pos after = { INT64_MIN, INT64_MIN, INT64_MIN };
	struct logs_filter f;
	struct filter_state s = { .w = ctx->out, .f = &f };
	int64_t start, end, retention = 0;
	size_t n_names = 0;
	char group[513];
	int r;

	r = group_of(ctx, true, group, err);
	if (r < 0)
		return r;
	if (names && prefix)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "logStreamNames and logStreamNamePrefix are mutually exclusive "
			       "parameters.");
	for (const cJSON *n = names ? names->child : NULL; n; n = n->next) {
		if (n_names == LOGS_FILTER_NAMES_MAX)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "logStreamNames takes at most 100 names");
		name_list[n_names++] = n->valuestring;
	}
	if (tok) {
		char *end_p = NULL;
		long long v[3];
		const char *p = tok + 2;

		if (strncmp(tok, "e/", 2))
			goto bad_token;
		for (int i = 0; i < 3; i++) {
			errno = 0;
			v[i] = strtoll(p, &end_p, 10);
			if (errno || end_p == p || *end_p != (i < 2 ? '/' : 0))
				goto bad_token;
			p = end_p + 1;
		}
		after = (struct logdb_filter_pos){ v[0], v[1], v[2] };
	}
	s.limit = json_has(ctx->in, "limit") ? json_int(ctx->in, "limit", 0) : LOGS_READ_EVENTS_MAX;
	r = logdb_group_get(ctx->srv->logs, group, group_retention, &retention, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, E_RESOURCE_NOT_FOUND,
			       "The specified log group does not exist.");
	if (r == 0)
		r = time_bounds(ctx, retention, &start, &end, err);
	if (r == 0)
		r = logs_filter_parse(pattern ? pattern : "", pattern ? strlen(pattern) : 0, &f,
				      err);
	if (r < 0)
		return r;
	jsonw_key(ctx->out, "events");
	jsonw_arr_begin(ctx->out);
	r = logdb_filter(ctx->srv->logs, group, name_list, n_names, prefix, start, end, after,
			 filter_event, &s, err);
	logs_filter_release(&f);
	if (r < 0)
		return r;
	jsonw_arr_end(ctx->out);
	jsonw_key(ctx->out, "searchedLogStreams");
	jsonw_arr_begin(ctx->out);
	jsonw_arr_end(ctx->out);
	if (s.more) {
		char next[96];

		snprintf(next, sizeof(next), "e/%lld/%lld/%lld", (long long)s.last.ts,
			 (long long)s.last.stream, (long long)s.last.seq);
		jsonw_key_str(ctx->out, "nextToken", next);
	}
	return 0;
bad_token:
	return err_set(err, -EINVAL, E_INVALID_PARAMETER, "The specified nextToken is invalid.");
}

/* Rows sorted by name (protocol.c searches them by bisection). */
static const struct api_operation logs_ops[] = {
	{ "CreateLogGroup", create_log_group },
	{ "CreateLogStream", create_log_stream },
	{ "DeleteLogGroup", delete_log_group },
	{ "DeleteLogStream", delete_log_stream },
	{ "DeleteRetentionPolicy", delete_retention_policy },
	{ "DescribeLogGroups", describe_log_groups },
	{ "DescribeLogStreams", describe_log_streams },
	{ "FilterLogEvents", filter_log_events },
	{ "GetLogEvents", get_log_events },
	{ "PutLogEvents", put_log_events },
	{ "PutRetentionPolicy", put_retention_policy },
};

const struct api_service api_logs = {
	.target_prefix = "Logs_20140328",
	.signing_name = "logs",
	.model = &model_logs,
	.ops = logs_ops,
	.n_ops = ARRAY_SIZE(logs_ops),
};
