/*
 * server.c: see server.h. Routes are a table; each handler gathers what it
 * needs from the evhttp request, calls pure code, and sends one reply.
 */
#include "server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alertapi.h"
#include "charset.h"
#include "conns.h"
#include "directory.h"
#include "log.h"
#include "looplag.h"
#include "migrations.h"
#include "payload.h"
#include "ratelimit.h"
#include "receipt.h"
#include "silenceapi.h"
#include "rules.h"
#include "alerter.h"
#include "dispatch.h"
#include "rulesd.h"
#include "stats.h"
#include "stream.h"
#include "token.h"
#include "util.h"
#include "writer.h"

struct server {
	struct event_base *base;
	struct server_config cfg;
	struct writer *writer;
	struct directory *dir;
	struct rulesd *rules;
	struct alerter *alerter;
	struct dispatch *dispatch;
	struct looplag *looplag;
	struct alertapi *alerts;
	struct silenceapi *silences;
	struct stream *streams;
	struct stats *stats;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct conns *conns;
	struct ratelimit *rl;
	int64_t rl_logged; /* now_usec() of the last warning about a refusal */
	size_t inflight;
	int port;
};

/* One request waiting for the writer. */
struct rctx {
	struct server *s;
	struct evhttp_request *req;
	const char *route;
	int64_t start;
	struct snapshot *snap;
};

/* One alerts request waiting for the database. */
struct actx {
	struct server *s;
	struct evhttp_request *req;
	const char *route;
	int64_t start;
};

typedef void (*handler_fn)(struct server *s, struct evhttp_request *req, const char *route);

struct route {
	enum evhttp_cmd_type method;
	const char *path;
	const char *label;
	handler_fn fn;
};

static void handle_healthz(struct server *, struct evhttp_request *, const char *);
static void handle_readyz(struct server *, struct evhttp_request *, const char *);
static void handle_metrics(struct server *, struct evhttp_request *, const char *);
static void handle_submit(struct server *, struct evhttp_request *, const char *);
static void handle_alerts(struct server *, struct evhttp_request *, const char *);
static void handle_alert(struct server *, struct evhttp_request *, const char *);
static void handle_alert_ack(struct server *, struct evhttp_request *, const char *);
static void handle_silences(struct server *, struct evhttp_request *, const char *);
static void handle_silence_create(struct server *, struct evhttp_request *, const char *);
static void handle_silence_expire(struct server *, struct evhttp_request *, const char *);
static void handle_alerts_stream(struct server *, struct evhttp_request *, const char *);

/* Paths with a parameter: "{id}" stands for one non-empty path segment. */
#define ALERT_PATH "/v1/alerts/{id}"
#define ALERT_ACK_PATH "/v1/alerts/{id}/ack"
#define SILENCE_EXPIRE_PATH "/v1/silences/{id}/expire"

static const struct route routes[] = {
    {EVHTTP_REQ_GET, "/healthz", "healthz", handle_healthz},
    {EVHTTP_REQ_GET, "/readyz", "readyz", handle_readyz},
    {EVHTTP_REQ_GET, "/metrics", "metrics", handle_metrics},
    {EVHTTP_REQ_POST, "/v1/submissions", "submissions", handle_submit},
    {EVHTTP_REQ_GET, "/v1/alerts", "alerts", handle_alerts},
    /* Before ALERT_PATH, whose {id} would match "stream". */
    {EVHTTP_REQ_GET, "/v1/alerts/stream", "alerts_stream", handle_alerts_stream},
    {EVHTTP_REQ_GET, ALERT_PATH, "alert", handle_alert},
    {EVHTTP_REQ_POST, ALERT_ACK_PATH, "alert_ack", handle_alert_ack},
    {EVHTTP_REQ_GET, "/v1/silences", "silences", handle_silences},
    {EVHTTP_REQ_POST, "/v1/silences", "silence_create", handle_silence_create},
    {EVHTTP_REQ_POST, SILENCE_EXPIRE_PATH, "silence_expire", handle_silence_expire},
};

static const char *
method_name(enum evhttp_cmd_type m)
{
	return m == EVHTTP_REQ_GET ? "GET" : "POST";
}

size_t
server_route_count(void)
{
	return ARRAY_LEN(routes);
}

void
server_route(size_t i, const char **method, const char **path)
{
	assert(i < ARRAY_LEN(routes));
	*method = method_name(routes[i].method);
	*path = routes[i].path;
}

static const char *
reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* Send the one reply of a request and count it. */
static void
reply(struct server *s, struct evhttp_request *req, const char *route, int64_t start,
    int status, const char *content_type, const char *body, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL)
		abort();
	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evbuffer_add(buf, body, len);
	evhttp_send_reply(req, status, reason_of(status), buf);
	evbuffer_free(buf);
	stats_request(s->stats, route, status, (double)(now_usec() - start) / 1e6);
}

static void
reply_json(struct server *s, struct evhttp_request *req, const char *route, int64_t start,
    int status, const char *body)
{
	reply(s, req, route, start, status, "application/json; charset=utf-8", body,
	    strlen(body));
}

static void
reply_error(struct server *s, struct evhttp_request *req, const char *route, int64_t start,
    int status, const char *code, const char *message)
{
	char *body = error_json(code, message);

	reply_json(s, req, route, start, status, body);
	free(body);
}

static void
handle_healthz(struct server *s, struct evhttp_request *req, const char *route)
{
	reply_json(s, req, route, now_usec(), 200, "{\"status\":\"ok\"}");
}

static void
handle_readyz(struct server *s, struct evhttp_request *req, const char *route)
{
	struct snapshot *snap = directory_acquire(s->dir);
	int version = snap != NULL ? snap->schema_version : 0;
	int want = migrations_latest();
	bool db = writer_ready(s->writer) && directory_connected(s->dir) &&
	    alertapi_ready(s->alerts) && silenceapi_ready(s->silences);
	bool ok = db && snap != NULL && version == want;
	const struct ruleset *rs = s->rules != NULL ? rulesd_current(s->rules) : NULL;
	char *body = xasprintf("{\"status\":\"%s\",\"database\":%s,\"durable\":%s,"
			       "\"schema_version\":%d,\"schema_expected\":%d,\"rules\":%zu,"
			       "\"rules_version\":\"%s\",\"alerts\":%s}",
	    ok ? "ready" : "not_ready", db ? "true" : "false",
	    directory_durable(s->dir) ? "true" : "false", version, want,
	    rs != NULL ? rs->nrules : 0, rs != NULL ? rs->version : "",
	    s->alerter != NULL && alerter_ready(s->alerter) ? "true" : "false");

	if (!ok)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
	reply_json(s, req, route, now_usec(), ok ? 200 : 503, body);
	free(body);
	snapshot_release(snap);
}

static void
handle_metrics(struct server *s, struct evhttp_request *req, const char *route)
{
	struct stats_gauges g;
	struct buf b;

	memset(&g, 0, sizeof g);
	g.queue_depth = writer_queue_depth(s->writer);
	g.pending = writer_pending(s->writer);
	g.db_up = writer_ready(s->writer);
	g.inflight = s->inflight;
	g.connections = conns_open(s->conns);
	g.connections_max = s->cfg.max_connections;
	g.deadline_closed = conns_deadline_closed(s->conns);
	g.connection_cap_reached = conns_cap_reached(s->conns);
	g.rate_limited = ratelimit_refused(s->rl);
	if (s->rules != NULL) {
		g.rules = rulesd_current(s->rules)->nrules;
		g.rules_mirrored = rulesd_mirrored(s->rules);
		g.rule_reload_failures = rulesd_reload_failures(s->rules);
	}
	if (s->alerter != NULL)
		alerter_gauges(s->alerter, &g);
	if (s->dispatch != NULL)
		dispatch_gauges(s->dispatch, &g);
	stream_gauges(s->streams, &g);
	buf_init(&b);
	stats_render(s->stats, &g, &b);
	if (s->looplag != NULL)
		looplag_render(s->looplag, &b);
	reply(s, req, route, now_usec(), 200, "text/plain; version=0.0.4; charset=utf-8", b.data,
	    b.len);
	buf_free(&b);
}

/* The media type of a Content-Type header without parameters. */
static bool
media_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * Resolve the bearer token of req. Returns the current snapshot (a
 * reference the caller releases) and fills *who; or NULL once it has
 * answered 503 (no registry loaded yet) or 401 (no, malformed, unknown or
 * revoked token).
 */
static struct snapshot *
authenticate(struct server *s, struct evhttp_request *req, const char *route, int64_t start,
    struct principal *who)
{
	const char *auth = token_from_authorization(
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"));
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct snapshot *snap = directory_acquire(s->dir);

	if (snap == NULL) {
		evhttp_add_header(out, "Retry-After", "2");
		reply_error(s, req, route, start, 503, "database_unavailable",
		    "edumond has not yet loaded its registry from the database; retry later");
		return NULL;
	}
	if (auth == NULL) {
		evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"edumon\"");
		reply_error(s, req, route, start, 401, "unauthorized",
		    "an Authorization: Bearer <token> header is required");
		snapshot_release(snap);
		return NULL;
	}
	if (snapshot_authenticate(snap, auth, strlen(auth), who) < 0) {
		evhttp_add_header(out, "WWW-Authenticate",
		    "Bearer realm=\"edumon\", error=\"invalid_token\"");
		reply_error(s, req, route, start, 401, "unauthorized",
		    "the token is malformed, unknown or revoked");
		snapshot_release(snap);
		return NULL;
	}
	directory_note_use(s->dir, who->token_id);
	return snap;
}

static void
submit_done_cb(struct write_req *wr, const struct write_result *res, void *arg)
{
	struct rctx *rc = arg;
	struct server *s = rc->s;
	struct evkeyvalq *out = evhttp_request_get_output_headers(rc->req);

	(void)wr;
	if (res->replayed)
		evhttp_add_header(out, "Idempotent-Replayed", "true");
	if (res->status == 503) {
		char ra[16];

		snprintf(ra, sizeof ra, "%d", res->retry_after > 0 ? res->retry_after : 1);
		evhttp_add_header(out, "Retry-After", ra);
	}
	reply_json(s, rc->req, rc->route, rc->start, res->status, res->body);
	snapshot_release(rc->snap);
	s->inflight--;
	free(rc);
}

/* Validate an Idempotency-Key: 1..200 printable ASCII characters. */
static bool
key_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return false;
	return true;
}

/* Answer 429: token_id has used up its submissions for now. */
static void
reply_rate_limited(struct server *s, struct evhttp_request *req, const char *route,
    int64_t start, int token_id, int retry_after)
{
	const struct ratelimit_config *c = &s->cfg.rate_limit;
	char ra[16], *msg;

	/* A client looping on 429 would fill the log: once a minute at most. */
	if (s->rl_logged == 0 || start - s->rl_logged >= 60 * 1000000LL) {
		log_warn("rate limit: token %d refused for %d s (%lu refused in all; logged once"
			 " a minute at most)",
		    token_id, retry_after, ratelimit_refused(s->rl));
		s->rl_logged = start;
	}
	snprintf(ra, sizeof ra, "%d", retry_after);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
	msg = xasprintf("this token may submit %ld times per %lld s (%ld at once); nothing was"
			" stored: retry in %d s",
	    c->rate, (long long)(c->per_us / 1000000), c->burst, retry_after);
	reply_error(s, req, route, start, 429, "rate_limited", msg);
	free(msg);
}

static void
handle_submit(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec();
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(in, "Content-Type");
	const char *key = evhttp_find_header(in, "Idempotency-Key");
	struct snapshot *snap;
	struct principal who;
	struct payload_ctx pctx;
	struct payload_result pres;
	struct payload *p = NULL;
	struct write_req *wr;
	struct rctx *rc;
	enum payload_status st;
	size_t len;
	char *text, charset[32];
	bool csv;
	int retry_after;

	if ((snap = authenticate(s, req, route, start, &who)) == NULL)
		return;
	if (who.role == ROLE_MONITOR) {
		reply_error(s, req, route, start, 403, "forbidden",
		    "a monitor token cannot submit figures");
		goto out;
	}
	if (ratelimit_take(s->rl, who.token_id, start, &retry_after) < 0) {
		reply_rate_limited(s, req, route, start, who.token_id, retry_after);
		goto out;
	}
	if (ct == NULL || !(media_is(ct, "application/json") || media_is(ct, "text/csv"))) {
		reply_error(s, req, route, start, 415, "unsupported_media_type",
		    "send Content-Type: application/json or text/csv");
		goto out;
	}
	csv = media_is(ct, "text/csv");
	charset_param(ct, charset, sizeof charset);
	if (!charset_is_utf8(charset) && !(csv && charset_is_gb(charset))) {
		reply_error(s, req, route, start, 415, "unsupported_media_type",
		    csv ? "CSV must be UTF-8 or GB18030/GBK (charset=gbk)" : "JSON must be UTF-8");
		goto out;
	}
	if (key != NULL && !key_valid(key)) {
		reply_error(s, req, route, start, 400, "bad_idempotency_key",
		    "Idempotency-Key must be 1 to 200 printable ASCII characters");
		goto out;
	}
	len = evbuffer_get_length(body);
	text = xmalloc(len + 1);
	evbuffer_remove(body, text, len);
	text[len] = '\0';
	if (csv && charset_is_gb(charset)) {
		char *utf8, *why = NULL;
		size_t ulen;

		if (charset_gb_to_utf8(text, len, &utf8, &ulen, &why) < 0) {
			reply_error(s, req, route, start, 400, "malformed_body", why);
			free(why);
			free(text);
			goto out;
		}
		free(text);
		text = utf8;
		len = ulen;
	} else if (csv && !utf8_valid(text, len)) {
		reply_error(s, req, route, start, 400, "malformed_body",
		    "the body is not UTF-8 text; a spreadsheet saved as GBK can be sent with"
		    " Content-Type: text/csv; charset=gbk");
		free(text);
		goto out;
	}

	memset(&pres, 0, sizeof pres);
	pctx.catalog = snap->catalog;
	pctx.registry = snap->registry;
	pctx.principal = &who;
	pctx.today = date_today();
	pctx.limits.max_observations = s->cfg.max_observations;
	pctx.limits.max_depth = s->cfg.max_json_depth;
	st = csv ? payload_parse_csv(&pctx, text, len, &p, &pres)
		 : payload_parse_json(&pctx, text, len, &p, &pres);
	if (st != PAYLOAD_OK) {
		static const int status[] = {
		    [PAYLOAD_MALFORMED] = 400,
		    [PAYLOAD_FORBIDDEN] = 403,
		    [PAYLOAD_INVALID] = 422,
		    [PAYLOAD_TOO_LARGE] = 413,
		};
		char *doc = payload_result_json(&pres);

		reply_json(s, req, route, start, status[st], doc);
		free(doc);
		payload_result_clear(&pres);
		free(text);
		goto out;
	}
	if (key != NULL && p->client_key != NULL && strcmp(key, p->client_key) != 0) {
		reply_error(s, req, route, start, 422, "invalid_submission",
		    "the Idempotency-Key header and submission_id differ; send one or make them equal");
		payload_free(p);
		free(text);
		goto out;
	}

	wr = xcalloc(1, sizeof *wr);
	wr->payload = p;
	wr->token_id = who.token_id;
	wr->unit_id = who.unit_id != 0 ? who.unit_id : p->obs[0].unit->id;
	wr->idempotency_key = key != NULL ? xstrdup(key)
	    : p->client_key != NULL	      ? xstrdup(p->client_key)
					      : NULL;
	wr->body = text;
	wr->body_len = len;
	wr->content_type = csv ? "text/csv" : "application/json";
	rc = xcalloc(1, sizeof *rc);
	rc->s = s;
	rc->req = req;
	rc->route = route;
	rc->start = start;
	rc->snap = snap;
	wr->done = submit_done_cb;
	wr->arg = rc;
	if (writer_submit(s->writer, wr, &retry_after) < 0) {
		char ra[16];

		free(rc);
		write_req_free(wr);
		snprintf(ra, sizeof ra, "%d", retry_after);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
		reply_error(s, req, route, start, 503, "database_unavailable",
		    writer_ready(s->writer)
			? "too many submissions are waiting; nothing was stored: retry shortly"
			: "the database is unavailable; nothing was stored: retry later");
		goto out;
	}
	s->inflight++;
	return; /* the writer answers; rc owns the snapshot reference */
out:
	snapshot_release(snap);
}

/*
 * False if the request's length is ambiguous: two Content-Length headers, or
 * Content-Length with Transfer-Encoding. libevent reads the body by the first
 * Content-Length (or the chunks) and would take the rest for a next request;
 * a proxy in front may have read it differently. That is how requests are
 * smuggled, so such a request is refused and its connection closed.
 */
static bool
framing_ok(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *h;
	int lengths = 0, encodings = 0;

	for (h = in->tqh_first; h != NULL; h = h->next.tqe_next) {
		if (strcasecmp(h->key, "Content-Length") == 0)
			lengths++;
		else if (strcasecmp(h->key, "Transfer-Encoding") == 0)
			encodings++;
	}
	return lengths <= 1 && !(lengths == 1 && encodings > 0);
}

/*
 * Whether path matches pattern, where "{id}" in pattern stands for one
 * non-empty segment; that segment is copied into param (when not NULL;
 * truncated to plen - 1 bytes, and a longer one does not match).
 */
static bool
path_match(const char *pattern, const char *path, char *param, size_t plen)
{
	const char *brace = strstr(pattern, "{id}");
	size_t pre, seg;

	if (brace == NULL)
		return strcmp(pattern, path) == 0;
	pre = (size_t)(brace - pattern);
	if (strncmp(pattern, path, pre) != 0)
		return false;
	seg = strcspn(path + pre, "/");
	if (seg == 0 || seg >= 32 || strcmp(brace + 4, path + pre + seg) != 0)
		return false;
	if (param != NULL) {
		if (seg >= plen)
			return false;
		memcpy(param, path + pre, seg);
		param[seg] = '\0';
	}
	return true;
}

/* The path of req, without the query. */
static const char *
request_path(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	const char *uri = evhttp_request_get_uri(req);

	return path != NULL ? path : uri != NULL ? uri : "";
}

static void
alerts_done_cb(const struct alertapi_reply *r, void *arg)
{
	struct actx *ac = arg;

	if (r->status == 503) {
		char ra[16];

		snprintf(ra, sizeof ra, "%d", r->retry_after > 0 ? r->retry_after : 1);
		evhttp_add_header(evhttp_request_get_output_headers(ac->req), "Retry-After", ra);
	}
	reply_json(ac->s, ac->req, ac->route, ac->start, r->status, r->body);
	ac->s->inflight--;
	free(ac);
}

/*
 * Authenticate for the alert endpoints: monitor and admin tokens only.
 * NULL once answered (503, 401, 403); otherwise as authenticate().
 */
static struct snapshot *
alerts_authenticate(struct server *s, struct evhttp_request *req, const char *route,
    int64_t start, struct principal *who)
{
	struct snapshot *snap = authenticate(s, req, route, start, who);

	if (snap != NULL && who->role != ROLE_MONITOR && who->role != ROLE_ADMIN) {
		reply_error(s, req, route, start, 403, "forbidden",
		    "only monitor and admin tokens may use the alert and silence endpoints");
		snapshot_release(snap);
		return NULL;
	}
	return snap;
}

/*
 * rc is what the alertapi call that took ac returned: on 0 the module
 * answers later through alerts_done_cb; on -1 (no connection) answer 503 now.
 */
static void
alerts_sent(struct server *s, struct actx *ac, int rc)
{
	if (rc == 0) {
		s->inflight++;
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(ac->req), "Retry-After", "2");
	reply_error(s, ac->req, ac->route, ac->start, 503, "database_unavailable",
	    "the database is unavailable; retry later");
	free(ac);
}

static struct actx *
actx_new(struct server *s, struct evhttp_request *req, const char *route, int64_t start)
{
	struct actx *ac = xcalloc(1, sizeof *ac);

	ac->s = s;
	ac->req = req;
	ac->route = route;
	ac->start = start;
	return ac;
}

static void
handle_alerts(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec();
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	struct principal who;
	struct alert_query q;
	struct alert_reach reach;
	struct snapshot *snap;
	struct actx *ac;
	char *cause = NULL;

	if ((snap = alerts_authenticate(s, req, route, start, &who)) == NULL)
		return;
	reach = (struct alert_reach){snap->registry, snap->catalog, &who};
	if (alert_query_parse(u != NULL ? evhttp_uri_get_query(u) : NULL, &reach, &q, &cause) < 0) {
		reply_error(s, req, route, start, 400, "bad_parameter", cause);
		free(cause);
	} else {
		ac = actx_new(s, req, route, start);
		alerts_sent(s, ac, alertapi_list(s->alerts, &q, alerts_done_cb, ac));
	}
	snapshot_release(snap);
}

/*
 * The id of a path matching pattern, at most max; -1 (answered 404 with
 * message) if it is not one.
 */
static int
alert_path_id(struct server *s, struct evhttp_request *req, const char *route, int64_t start,
    const char *pattern, int64_t max, const char *message, int64_t *id)
{
	char param[32];

	if (!path_match(pattern, request_path(req), param, sizeof param) ||
	    alert_id_parse(param, id) < 0 || *id > max) {
		reply_error(s, req, route, start, 404, "not_found", message);
		return -1;
	}
	return 0;
}

static void
handle_alert(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec(), id;
	struct principal who;
	struct snapshot *snap;
	struct actx *ac;

	if ((snap = alerts_authenticate(s, req, route, start, &who)) == NULL)
		return;
	snapshot_release(snap);
	if (alert_path_id(s, req, route, start, ALERT_PATH, INT64_MAX, "no such alert", &id) < 0)
		return;
	ac = actx_new(s, req, route, start);
	alerts_sent(s, ac, alertapi_get(s->alerts, id, who.unit_id, alerts_done_cb, ac));
}

static void
handle_alert_ack(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec(), id;
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	size_t len = evbuffer_get_length(body), offset;
	struct principal who;
	struct alert_ack ack;
	struct snapshot *snap;
	struct actx *ac;
	const char *code;
	const char *text;
	char *cause = NULL;

	if ((snap = alerts_authenticate(s, req, route, start, &who)) == NULL)
		return;
	snapshot_release(snap);
	if (alert_path_id(s, req, route, start, ALERT_ACK_PATH, INT64_MAX, "no such alert", &id) <
	    0)
		return;
	if (len > 0 && (ct == NULL || !media_is(ct, "application/json"))) {
		reply_error(s, req, route, start, 415, "unsupported_media_type",
		    "send the acknowledgement as Content-Type: application/json (or no body)");
		return;
	}
	text = len > 0 ? (const char *)evbuffer_pullup(body, (ev_ssize_t)len) : "";
	if (alert_ack_parse(text, len, &ack, &code, &offset, &cause) < 0) {
		char *msg = strcmp(code, "malformed_body") == 0
		    ? xasprintf("malformed JSON at byte %zu: %s", offset, cause)
		    : xstrdup(cause);

		reply_error(s, req, route, start, 400, code, msg);
		free(msg);
		free(cause);
		return;
	}
	ac = actx_new(s, req, route, start);
	alerts_sent(s, ac, alertapi_ack(s->alerts, id, &who, &ack, alerts_done_cb, ac));
	alert_ack_clear(&ack);
}

/* Server-Sent Events of alert changes: lib/stream.h answers. */
static void
handle_alerts_stream(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec(), last_id;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *lei = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
	struct principal who;
	struct snapshot *snap;
	char *cause = NULL;

	if ((snap = alerts_authenticate(s, req, route, start, &who)) == NULL)
		return;
	snapshot_release(snap);
	if (stream_start_parse(lei, u != NULL ? evhttp_uri_get_query(u) : NULL, &last_id,
		&cause) < 0) {
		reply_error(s, req, route, start, 400, "bad_parameter", cause);
		free(cause);
		return;
	}
	switch (stream_open(s->streams, req, &who, last_id, route, start)) {
	case STREAM_OPENED:
		return;
	case STREAM_FULL:
		evhttp_add_header(out, "Retry-After", "5");
		reply_error(s, req, route, start, 503, "too_many_streams",
		    "the most alert streams allowed (--max-streams) are open; retry later");
		return;
	case STREAM_UNAVAILABLE:
		break;
	}
	evhttp_add_header(out, "Retry-After", "2");
	reply_error(s, req, route, start, 503, "database_unavailable",
	    "the database is unavailable; retry later");
}

static void
handle_silences(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec();
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	struct principal who;
	struct snapshot *snap;
	struct actx *ac;
	char *cause = NULL;
	bool all;

	if ((snap = alerts_authenticate(s, req, route, start, &who)) == NULL)
		return;
	snapshot_release(snap);
	if (silence_list_query_parse(u != NULL ? evhttp_uri_get_query(u) : NULL, &all, &cause) < 0) {
		reply_error(s, req, route, start, 400, "bad_parameter", cause);
		free(cause);
		return;
	}
	ac = actx_new(s, req, route, start);
	alerts_sent(s, ac, silenceapi_list(s->silences, who.unit_id, all, alerts_done_cb, ac));
}

static void
handle_silence_create(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec();
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	size_t len = evbuffer_get_length(body), offset;
	struct principal who;
	struct alert_reach reach;
	struct silence_spec spec;
	struct snapshot *snap;
	struct actx *ac;
	const char *code;
	char *cause = NULL;

	if ((snap = alerts_authenticate(s, req, route, start, &who)) == NULL)
		return;
	if (ct == NULL || !media_is(ct, "application/json")) {
		reply_error(s, req, route, start, 415, "unsupported_media_type",
		    "send the silence as Content-Type: application/json");
		snapshot_release(snap);
		return;
	}
	reach = (struct alert_reach){snap->registry, snap->catalog, &who};
	if (silence_body_parse(len > 0 ? (const char *)evbuffer_pullup(body, (ev_ssize_t)len) : "",
		len, &reach, (int64_t)time(NULL), &spec, &code, &offset, &cause) < 0) {
		char *msg = strcmp(code, "malformed_body") == 0
		    ? xasprintf("malformed JSON at byte %zu: %s", offset, cause)
		    : xstrdup(cause);

		reply_error(s, req, route, start, 400, code, msg);
		free(msg);
		free(cause);
		snapshot_release(snap);
		return;
	}
	snapshot_release(snap);
	ac = actx_new(s, req, route, start);
	alerts_sent(s, ac, silenceapi_create(s->silences, &spec, who.token_id, alerts_done_cb, ac));
	silence_spec_clear(&spec);
}

static void
handle_silence_expire(struct server *s, struct evhttp_request *req, const char *route)
{
	int64_t start = now_usec(), id;
	struct principal who;
	struct snapshot *snap;
	struct actx *ac;

	if ((snap = alerts_authenticate(s, req, route, start, &who)) == NULL)
		return;
	snapshot_release(snap);
	if (alert_path_id(s, req, route, start, SILENCE_EXPIRE_PATH, INT32_MAX, "no such silence",
		&id) < 0)
		return;
	ac = actx_new(s, req, route, start);
	alerts_sent(s, ac, silenceapi_expire(s->silences, id, who.unit_id, alerts_done_cb, ac));
}

/* Every request enters here; dispatch by the route table. */
static void
gen_cb(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const char *path = request_path(req);
	bool path_known = false;

	conns_request_read(s->conns, req);
	if (!framing_ok(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		reply_error(s, req, "other", now_usec(), 400, "ambiguous_length",
		    "send one Content-Length, or Transfer-Encoding: chunked alone");
		return;
	}
	if (conns_request_has_nul(s->conns, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		reply_error(s, req, "other", now_usec(), 400, "nul_byte",
		    "a NUL byte in the request line or a header");
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
		if (!path_match(routes[i].path, path, NULL, 0))
			continue;
		path_known = true;
		if (routes[i].method == method) {
			routes[i].fn(s, req, routes[i].label);
			return;
		}
	}
	if (path_known) {
		struct buf allow;

		buf_init(&allow);
		for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
			const char *m = method_name(routes[i].method);

			/* /v1/alerts/stream matches two GET routes: name it once. */
			if (path_match(routes[i].path, path, NULL, 0) &&
			    (allow.data == NULL || strstr(allow.data, m) == NULL))
				buf_printf(&allow, "%s%s", allow.len > 0 ? ", " : "", m);
		}
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow.data);
		buf_free(&allow);
		reply_error(s, req, "other", now_usec(), 405, "method_not_allowed",
		    "method not allowed on this path");
		return;
	}
	reply_error(s, req, "other", now_usec(), 404, "not_found", "no such endpoint");
}

struct server *
server_new(struct event_base *base, const struct server_config *cfg, struct writer *w,
    struct directory *d, struct stats *st)
{
	struct server *s = xcalloc(1, sizeof *s);

	s->base = base;
	s->cfg = *cfg;
	s->writer = w;
	s->dir = d;
	s->stats = st;
	s->alerts = alertapi_new(base, cfg->conninfo);
	s->silences = silenceapi_new(base, cfg->conninfo);
	s->http = evhttp_new(base);
	if (s->http == NULL)
		abort();
	s->conns = conns_new(base, s->http,
	    &(struct conns_config){
		.max = cfg->max_connections, .deadline_s = cfg->deadline_s, .tls = cfg->tls});
	s->rl = ratelimit_new(&cfg->rate_limit);
	s->streams = stream_new(base,
	    &(struct stream_config){.conninfo = cfg->conninfo, .max_streams = cfg->max_streams,
		.write_timeout_s = cfg->timeout_s},
	    d, s->conns, st);
	evhttp_set_max_body_size(s->http, (ev_ssize_t)cfg->max_body);
	evhttp_set_max_headers_size(s->http, (ev_ssize_t)cfg->max_headers);
	evhttp_set_timeout(s->http, cfg->timeout_s);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(s->http, gen_cb, s);
	return s;
}

int
server_listen(struct server *s, char **cause)
{
	struct evconnlistener *l;
	evutil_socket_t fd;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	s->sock = evhttp_bind_socket_with_handle(s->http, s->cfg.host, (ev_uint16_t)s->cfg.port);
	if (s->sock == NULL) {
		*cause = xasprintf("cannot listen on %s:%d: %s", s->cfg.host, s->cfg.port,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	l = evhttp_bound_socket_get_listener(s->sock);
	conns_set_listener(s->conns, l);
	fd = evhttp_bound_socket_get_fd(s->sock);
	s->port = s->cfg.port;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return 0;
}

void
server_set_alerter(struct server *s, struct alerter *a)
{
	s->alerter = a;
}

void
server_set_dispatch(struct server *s, struct dispatch *p)
{
	s->dispatch = p;
}

void
server_set_looplag(struct server *s, struct looplag *l)
{
	s->looplag = l;
}

void
server_set_rules(struct server *s, struct rulesd *r)
{
	s->rules = r;
}

int
server_port(const struct server *s)
{
	return s->port;
}

void
server_stop_accepting(struct server *s)
{
	stream_end_all(s->streams);
	if (s->sock != NULL) {
		conns_set_listener(s->conns, NULL);
		evhttp_del_accept_socket(s->http, s->sock);
		s->sock = NULL;
	}
}

size_t
server_inflight(const struct server *s)
{
	return s->inflight;
}

size_t
server_unflushed(const struct server *s)
{
	return conns_unflushed(s->conns);
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	/* Answers what is still waiting for the database while evhttp is alive. */
	alertapi_free(s->alerts);
	silenceapi_free(s->silences);
	stream_free(s->streams); /* before evhttp_free: its requests are evhttp's */
	conns_set_listener(s->conns, NULL);
	evhttp_free(s->http); /* closes every connection: conns sees them go */
	conns_free(s->conns);
	ratelimit_free(s->rl);
	free(s);
}
