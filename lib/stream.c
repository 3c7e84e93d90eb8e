/*
 * stream.c: see stream.h. The pure half first, then the hub.
 *
 * A client is a small state machine:
 *
 *   START    no Last-Event-ID; waits until the hub knows the newest event
 *            id, takes it as its cursor and only then sends its headers;
 *   BACKLOG  catching up: pages of events after its cursor, from its own
 *            queries, filtered by its scope; the next page is asked for once
 *            its output has drained, so a backlog never piles up in memory;
 *   LIVE     fed by the hub;
 *   CLOSED   ended by us or gone; freed once its connection is gone and no
 *            query of its is in flight (never inside a callback of its own:
 *            the reaper runs from an event of the loop).
 *
 * The hub knows head: every event up to head has been read and fanned out
 * to the LIVE clients. A client joins LIVE only when its cursor is at or
 * past head, and the hub sends event E to a LIVE client only when E is past
 * the client's cursor, so the hand-over from backlog to live has neither gap
 * nor duplicate. head is unknown while no client is connected (the hub does
 * not read then); the first query after that reads only the newest id.
 *
 * Each hub or backlog query is one job of two statements: the newest event
 * id, then a page of events after the cursor. The first statement's snapshot
 * is older than the second's, and ids follow commit order, so a page that is
 * not full has seen every event up to at least that newest id: the cursor
 * moves there even when no event of the page was in the client's scope.
 *
 * The wake-ups: NOTIFY edumon_alerts (the rules engine's changes), and a
 * timer every second for the writers that do not notify (acknowledgements).
 */
#include "stream.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "alertapi.h"
#include "alertsql.h"
#include "conns.h"
#include "directory.h"
#include "log.h"
#include "pgc.h"
#include "receipt.h"
#include "registry.h"
#include "stats.h"
#include "token.h"

/* Longest parameter name quoted back in a message. */
#define QUOTE_MAX 64

/* Quote s[0..n) into b for a message: printable ASCII, others as '?'. */
static void
quote_ascii(struct buf *b, const char *s, size_t n)
{
	if (n > QUOTE_MAX)
		n = QUOTE_MAX;
	for (size_t i = 0; i < n; i++)
		buf_putc(b, s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
}

/* A decimal event id, 0 to 2^63-1, digits only. */
static int
event_id_parse(const char *s, size_t n, int64_t *id)
{
	char text[24];
	long long v;

	if (n == 0 || n >= sizeof text)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	if (parse_ll(text, 0, LLONG_MAX, &v) < 0)
		return -1;
	*id = v;
	return 0;
}

int
stream_start_parse(const char *header, const char *query, int64_t *last_id, char **cause)
{
	const char *q = query != NULL ? query : "";
	bool seen = false;
	int64_t from_query = -1;
	struct buf b;

	while (*q != '\0') {
		size_t n = strcspn(q, "&"), klen = strcspn(q, "=");

		if (n == 0) {
			q++;
			continue;
		}
		if (klen > n)
			klen = n;
		buf_init(&b);
		if (klen != strlen("last_event_id") || strncmp(q, "last_event_id", klen) != 0) {
			buf_puts(&b, "unknown parameter \"");
			quote_ascii(&b, q, klen);
			buf_puts(&b, "\" (known: last_event_id)");
			*cause = buf_steal(&b);
			return -1;
		}
		if (seen) {
			*cause = xstrdup("last_event_id: given more than once");
			return -1;
		}
		seen = true;
		if (klen == n || event_id_parse(q + klen + 1, n - klen - 1, &from_query) < 0) {
			buf_puts(&b, "last_event_id: \"");
			if (klen < n)
				quote_ascii(&b, q + klen + 1, n - klen - 1);
			buf_puts(&b, "\" is not an event id (a whole number from 0)");
			*cause = buf_steal(&b);
			return -1;
		}
		q += n;
	}
	*last_id = from_query;
	if (header != NULL && header[0] != '\0' &&
	    event_id_parse(header, strlen(header), last_id) < 0) {
		buf_init(&b);
		buf_puts(&b, "Last-Event-ID: \"");
		quote_ascii(&b, header, strlen(header));
		buf_puts(&b, "\" is not an event id (a whole number from 0)");
		*cause = buf_steal(&b);
		return -1;
	}
	return 0;
}

void
stream_frame(struct buf *b, const char *const *alert, const char *const *event)
{
	buf_printf(b, "id: %s\nevent: %s\ndata: ", event[ECOL_ID], event[ECOL_KIND]);
	alert_event_with_alert_json(b, event, alert);
	buf_puts(b, "\n\n");
}

/* ------------------------------------------------------------------------ */
/* The I/O half. */

/* Events a hub or backlog query reads at once: ~1 KiB each as JSON, so a
 * page stays well below STREAM_OUTPUT_MAX for a client that keeps up. */
#define PAGE_ROWS 256
#define PAGE_ROWS_STR "256"
/* Reads are interactive: a query that takes longer is cut off. */
#define STATEMENT_TIMEOUT_MS "10000"
#define POLL_EVERY_S 1
#define STR_(x) #x
#define STR(x) STR_(x)

/* The page's columns: the alert's (enum alert_col), the event's, the unit. */
enum { COL_EVENT = ACOL_COUNT, COL_UNIT = ACOL_COUNT + ECOL_COUNT, COL_COUNT };

static const char sql_max[] = "SELECT coalesce(max(id), 0) FROM edumon.alert_event";

static const char sql_page[] =
    "SELECT" ALERT_SQL_COLUMNS "," ALERT_SQL_EVENT_COLUMNS ", a.unit_id"
    " FROM" ALERT_SQL_EVENT_ALERT ALERT_SQL_JOINS
    "WHERE e.id > $1::bigint ORDER BY e.id LIMIT " PAGE_ROWS_STR;

static const struct pgc_prepared prepared[] = {
    {"stream_max", sql_max},
    {"stream_page", sql_page},
};

static const char *const setup_sql[] = {
    "SET statement_timeout = " STATEMENT_TIMEOUT_MS,
    "LISTEN edumon_alerts",
};

enum client_state { CLIENT_START, CLIENT_BACKLOG, CLIENT_LIVE, CLIENT_CLOSED };

struct client {
	TAILQ_ENTRY(client) entry;
	struct stream *s;
	struct evhttp_request *req;      /* NULL once ended (evhttp frees it) */
	struct evhttp_connection *evcon; /* NULL once the connection is gone */
	enum client_state state;
	struct principal who;
	unsigned char token_hash[SHA256_LEN];
	int64_t cursor;   /* every event up to here was sent or is out of scope */
	size_t backlog;   /* events sent from the backlog since the last reset */
	bool querying;    /* a backlog job is in flight */
	bool draining;    /* BACKLOG: the next page waits for the output to drain */
	bool detached;    /* evhttp left req to us when the connection went */
	const char *route;
	int64_t start;
};

TAILQ_HEAD(clientq, client);

struct stream {
	struct event_base *base;
	struct stream_config cfg;
	struct pgc_config pcfg;
	struct pgc *pgc;
	struct directory *dir;
	struct conns *conns;
	struct stats *stats;
	struct snapshot *snap; /* the registry and tokens the clients were checked against */
	struct clientq clients;
	size_t nopen; /* clients not CLOSED */
	struct event *poll_ev, *keepalive_ev, *kick_ev;
	int64_t head;
	bool head_known;
	bool busy;  /* a hub job is in flight */
	bool again; /* woken while busy */
	bool stopping;
	unsigned long long events_sent;
	unsigned long long dropped;
};

static void hub_poll(struct stream *s);

/* Run the reaper and the state machine from the loop, soon. */
static void
kick(struct stream *s)
{
	event_active(s->kick_ev, EV_TIMEOUT, 0);
}

/* Unsent output of c's connection, in bytes. */
static size_t
client_pending(const struct client *c)
{
	struct bufferevent *bev =
	    c->evcon != NULL ? evhttp_connection_get_bufferevent(c->evcon) : NULL;

	return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* The output of c drained (evhttp's write callback): a backlog may go on. */
static void
written_cb(struct evhttp_connection *evcon, void *arg)
{
	struct client *c = arg;

	(void)evcon;
	if (c->draining) {
		c->draining = false;
		kick(c->s);
	}
}

/* Stop sending to c: no more output, and free it once its connection goes. */
static void
client_close(struct client *c)
{
	if (c->state == CLIENT_CLOSED)
		return;
	c->state = CLIENT_CLOSED;
	/* Nobody left: the hub stops reading and forgets head, now stale. */
	if (--c->s->nopen == 0)
		c->s->head_known = false;
	kick(c->s);
}

/*
 * Cut c off: a slow consumer, or a client that cannot be served. Shut the
 * socket down rather than free the connection here: evhttp sees the end on
 * its next read or write and frees it along its own path (as conns.c does
 * at a deadline), and the close is reported to close_cb.
 */
static void
client_drop(struct client *c)
{
	struct bufferevent *bev =
	    c->evcon != NULL ? evhttp_connection_get_bufferevent(c->evcon) : NULL;
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;

	client_close(c);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* Send text to c as one chunk; drop c if its unsent output is too large. */
static void
client_send(struct client *c, const char *text, size_t len)
{
	struct evbuffer *b;

	if (c->state == CLIENT_CLOSED || c->req == NULL)
		return;
	b = evbuffer_new();
	if (b == NULL)
		abort();
	evbuffer_add(b, text, len);
	evhttp_send_reply_chunk_with_cb(c->req, b, written_cb, c);
	evbuffer_free(b);
	if (client_pending(c) > STREAM_OUTPUT_MAX) {
		log_warn("stream: token %d does not keep up (%zu bytes unsent); disconnecting it",
		    c->who.token_id, client_pending(c));
		c->s->dropped++;
		client_drop(c);
	}
}

/* Send c's response headers and the reconnection delay. */
static void
client_begin(struct client *c)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
	static const char hello[] = "retry: " STR(STREAM_RETRY_MS) "\n\n";
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
	struct timeval wtv = {c->s->cfg.write_timeout_s, 0};

	evhttp_add_header(out, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Accel-Buffering", "no");
	evhttp_add_header(out, "Connection", "close");
	evhttp_send_reply_start(c->req, 200, "OK");
	/* evhttp's read timeout would end a stream whose client sends nothing,
	 * as an SSE client never does: keep only the write timeout. */
	if (bev != NULL)
		bufferevent_set_timeouts(bev, NULL, &wtv);
	client_send(c, hello, sizeof hello - 1);
	stats_request(c->s->stats, c->route, 200, (double)(now_usec() - c->start) / 1e6);
}

/*
 * End c's response: the last chunk goes out (or, before the headers, a
 * 503), then evhttp closes the connection (Connection: close), which
 * close_cb reports. evhttp owns and frees the request from here on.
 */
static void
client_end(struct client *c)
{
	struct evhttp_request *req = c->req;
	enum client_state was = c->state;

	if (was == CLIENT_CLOSED || req == NULL)
		return;
	client_close(c);
	c->req = NULL;
	if (was != CLIENT_START) {
		evhttp_send_reply_end(req);
		return;
	}
	{
		struct evkeyvalq *out = evhttp_request_get_output_headers(req);
		char *body = error_json("shutting_down", "edumond is stopping; retry later");
		struct evbuffer *b = evbuffer_new();

		if (b == NULL)
			abort();
		evbuffer_add(b, body, strlen(body));
		evhttp_add_header(out, "Content-Type", "application/json; charset=utf-8");
		evhttp_add_header(out, "Retry-After", "5");
		evhttp_add_header(out, "Connection", "close");
		evhttp_send_reply(req, 503, "Service Unavailable", b);
		stats_request(c->s->stats, c->route, 503, (double)(now_usec() - c->start) / 1e6);
		evbuffer_free(b);
		free(body);
	}
}

/* Is the alert's unit (decimal text) within c's reach? */
static bool
in_scope(const struct stream *s, const struct client *c, const char *unit)
{
	long long id;

	if (c->who.role == ROLE_ADMIN)
		return true;
	if (s->snap == NULL || parse_ll(unit, 1, INT_MAX, &id) < 0)
		return false;
	return registry_within(s->snap->registry, (int)id, c->who.unit_id);
}

/*
 * Follow the directory's current snapshot; when it changed, end the
 * streams whose token is no longer live or no longer grants what it did.
 */
static void
check_tokens(struct stream *s)
{
	struct snapshot *snap = directory_acquire(s->dir);
	struct client *c;
	struct principal p;

	if (snap == NULL || snap == s->snap) {
		snapshot_release(snap);
		return;
	}
	snapshot_release(s->snap);
	s->snap = snap;
	TAILQ_FOREACH(c, &s->clients, entry) {
		if (c->state == CLIENT_CLOSED)
			continue;
		if (tokens_lookup(snap->tokens, c->token_hash, &p) < 0 || p.role != c->who.role ||
		    p.unit_id != c->who.unit_id) {
			log_info("stream: token %d was revoked or changed; ending its stream",
			    c->who.token_id);
			client_end(c);
		}
	}
}

/* The row i of res as column strings (NULL for SQL NULL). */
static void
row_columns(const PGresult *res, int i, const char **col)
{
	for (int k = 0; k < COL_COUNT; k++)
		col[k] = PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);
}

/* The event id of a row; ids are positive bigints. */
static int64_t
row_id(const PGresult *res, int i)
{
	long long id;

	if (parse_ll(PQgetvalue(res, i, COL_EVENT + ECOL_ID), 1, LLONG_MAX, &id) < 0)
		abort();
	return id;
}

/* The newest event id (the first statement of a job). */
static int64_t
result_max(const PGresult *res)
{
	long long id;

	if (PQntuples(res) != 1 || parse_ll(PQgetvalue(res, 0, 0), 0, LLONG_MAX, &id) < 0)
		abort();
	return id;
}

/* Send event row i of res to c if it is past c's cursor and in scope. */
static void
client_offer(struct client *c, const PGresult *res, int i, struct buf *frame)
{
	const char *col[COL_COUNT];
	int64_t id = row_id(res, i);

	if (id <= c->cursor)
		return;
	c->cursor = id;
	if (!in_scope(c->s, c, PQgetvalue(res, i, COL_UNIT)))
		return;
	if (frame->len == 0) {
		row_columns(res, i, col);
		stream_frame(frame, col, col + COL_EVENT);
	}
	client_send(c, frame->data, frame->len);
	c->s->events_sent++;
	if (c->state == CLIENT_BACKLOG)
		c->backlog++;
}

/* Submit job [newest id, page after `after`] (or the newest id alone). */
static int
submit_page(struct stream *s, int64_t after, bool page, pgc_job_cb cb, void *arg)
{
	char text[24];
	const char *v[1] = {text};
	struct pgc_stmt st[2] = {
	    {"stream_max", NULL, 0, NULL},
	    {"stream_page", NULL, 1, v},
	};

	snprintf(text, sizeof text, "%lld", (long long)after);
	return pgc_submit(s->pgc, st, page ? 2 : 1, cb, arg);
}

/* A backlog page came back. */
static void
backlog_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct client *c = arg;
	struct stream *s = c->s;
	const PGresult *res;
	struct buf frame;
	int64_t newest;
	int n;

	c->querying = false;
	if (c->state == CLIENT_CLOSED || !out->ok) {
		if (!out->ok && c->state != CLIENT_CLOSED)
			log_warn("stream: a backlog query failed (%s); retrying", out->error);
		kick(s); /* retried by the next pass, or reaped */
		return;
	}
	check_tokens(s);
	if (c->state == CLIENT_CLOSED) {
		kick(s);
		return;
	}
	newest = result_max(out->results[0]);
	res = out->results[1];
	n = PQntuples(res);
	buf_init(&frame);
	for (int i = 0; i < n && c->state != CLIENT_CLOSED; i++) {
		buf_reset(&frame);
		client_offer(c, res, i, &frame);
	}
	buf_free(&frame);
	if (c->state == CLIENT_CLOSED) {
		kick(s);
		return;
	}
	if (n < PAGE_ROWS && newest > c->cursor)
		c->cursor = newest;
	if (n == PAGE_ROWS && c->backlog >= STREAM_BACKLOG_MAX) {
		/* Too far behind: skip to the present, and say so. */
		char *msg;
		int64_t skip_to = newest > c->cursor ? newest : c->cursor;

		msg = xasprintf("id: %lld\nevent: reset\ndata: {\"reason\":\"backlog_limit\","
				"\"limit\":%d,\"last_sent\":%lld,\"resume_at\":%lld}\n\n",
		    (long long)skip_to, STREAM_BACKLOG_MAX, (long long)c->cursor,
		    (long long)skip_to);
		client_send(c, msg, strlen(msg));
		free(msg);
		c->cursor = skip_to;
		c->backlog = 0;
	}
	if (client_pending(c) > 0)
		c->draining = true; /* written_cb kicks */
	else
		kick(s);
}

/* Free c, unlinked, and its request if evhttp left that to us (an attached
 * request is evhttp's: it goes with its connection). */
static void
client_free(struct client *c)
{
	if (c->detached && c->req != NULL)
		evhttp_request_free(c->req);
	free(c);
}

/*
 * Move every client on: reap the closed, start the new, catch up the
 * resuming, and let them join the hub's fan-out.
 */
static void
advance(struct stream *s)
{
	struct client *c, *next;

	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		switch (c->state) {
		case CLIENT_CLOSED:
			if (c->evcon != NULL || c->querying)
				break;
			TAILQ_REMOVE(&s->clients, c, entry);
			client_free(c);
			break;
		case CLIENT_START:
			if (!s->head_known)
				break;
			c->cursor = s->head;
			c->state = CLIENT_LIVE;
			client_begin(c);
			break;
		case CLIENT_BACKLOG:
			if (c->querying || c->draining)
				break;
			if (s->head_known && c->cursor >= s->head) {
				c->state = CLIENT_LIVE;
				break;
			}
			if (submit_page(s, c->cursor, true, backlog_done_cb, c) == 0)
				c->querying = true;
			/* else: the database is down; the poll timer comes back */
			break;
		case CLIENT_LIVE:
			break;
		}
	}
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	advance(arg);
}

/* The hub's read came back: fan the events out. */
static void
hub_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct stream *s = arg;
	const PGresult *res;
	struct client *c;
	struct buf frame;
	int64_t newest;
	int n = 0;

	s->busy = false;
	if (!out->ok) {
		if (s->nopen > 0)
			log_warn("stream: reading new alert events failed (%s); retrying",
			    out->error);
		return;
	}
	if (s->nopen == 0) {
		s->head_known = false;
		return;
	}
	check_tokens(s);
	newest = result_max(out->results[0]);
	if (!s->head_known) {
		s->head = newest;
		s->head_known = true;
	} else {
		res = out->results[1];
		n = PQntuples(res);
		buf_init(&frame);
		for (int i = 0; i < n; i++) {
			buf_reset(&frame);
			TAILQ_FOREACH(c, &s->clients, entry)
				if (c->state == CLIENT_LIVE)
					client_offer(c, res, i, &frame);
			s->head = row_id(res, i);
		}
		buf_free(&frame);
		if (n < PAGE_ROWS && newest > s->head)
			s->head = newest;
	}
	advance(s);
	if (n == PAGE_ROWS || s->again)
		hub_poll(s);
}

/* Read what is new, unless a read is under way (then once more after it). */
static void
hub_poll(struct stream *s)
{
	if (s->nopen == 0 || s->stopping)
		return;
	if (s->busy) {
		s->again = true;
		return;
	}
	s->again = false;
	if (submit_page(s, s->head, s->head_known, hub_done_cb, s) == 0)
		s->busy = true;
}

/* Every second while clients are connected: acknowledgements do not
 * notify, and backlogs whose query failed try again. */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hub_poll(arg);
	advance(arg);
}

static void
keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char ping[] = ": keep-alive\n\n";
	struct stream *s = arg;
	struct client *c;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(c, &s->clients, entry)
		if (c->state == CLIENT_BACKLOG || c->state == CLIENT_LIVE)
			client_send(c, ping, sizeof ping - 1);
}

static void
notify_cb(struct pgc *pgc, const char *channel, const char *payload, void *arg)
{
	(void)pgc;
	(void)channel;
	(void)payload;
	hub_poll(arg);
}

/* conns: c's connection is being freed. */
static void
close_cb(void *arg)
{
	struct client *c = arg;

	/* A request evhttp has detached from its connection is ours to free. */
	c->detached = c->req != NULL && evhttp_request_get_connection(c->req) == NULL;
	if (!c->detached)
		c->req = NULL; /* evhttp frees it with the connection */
	c->evcon = NULL;
	client_close(c);
	kick(c->s);
}

/* Start or stop the timers as the first client comes or the last goes. */
static void
timers_update(struct stream *s)
{
	struct timeval poll = {POLL_EVERY_S, 0}, ka = {STREAM_KEEPALIVE_S, 0};
	bool on = s->nopen > 0;

	if (on == (event_pending(s->poll_ev, EV_TIMEOUT, NULL) != 0))
		return;
	if (!on) {
		event_del(s->poll_ev);
		event_del(s->keepalive_ev);
	} else if (event_add(s->poll_ev, &poll) != 0 || event_add(s->keepalive_ev, &ka) != 0)
		log_error("stream: cannot arm the stream timers");
}

enum stream_open_result
stream_open(struct stream *s, struct evhttp_request *req, const struct principal *who,
    int64_t last_id, const char *route, int64_t start)
{
	const char *auth = token_from_authorization(
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct client *c;

	if (s->nopen >= s->cfg.max_streams)
		return STREAM_FULL;
	if (s->stopping || !pgc_ready(s->pgc) || evcon == NULL || auth == NULL)
		return STREAM_UNAVAILABLE;
	c = xcalloc(1, sizeof *c);
	if (conns_watch_close(s->conns, evcon, close_cb, c) < 0) {
		free(c);
		return STREAM_UNAVAILABLE;
	}
	c->s = s;
	c->req = req;
	c->evcon = evcon;
	c->who = *who;
	sha256(auth, strlen(auth), c->token_hash);
	c->route = route;
	c->start = start;
	TAILQ_INSERT_TAIL(&s->clients, c, entry);
	s->nopen++;
	timers_update(s);
	if (last_id < 0) {
		c->state = CLIENT_START; /* headers once the newest id is known */
		kick(s);
	} else {
		c->state = CLIENT_BACKLOG;
		c->cursor = last_id;
		client_begin(c);
		kick(s);
	}
	hub_poll(s);
	return STREAM_OPENED;
}

void
stream_end_all(struct stream *s)
{
	struct client *c;

	s->stopping = true;
	TAILQ_FOREACH(c, &s->clients, entry)
		client_end(c);
	timers_update(s);
}

void
stream_gauges(const struct stream *s, struct stats_gauges *g)
{
	g->streams = s->nopen;
	g->stream_events = s->events_sent;
	g->stream_dropped = s->dropped;
}

struct stream *
stream_new(struct event_base *base, const struct stream_config *cfg, struct directory *dir,
    struct conns *cs, struct stats *st)
{
	struct stream *s = xcalloc(1, sizeof *s);

	*s = (struct stream){.base = base, .cfg = *cfg, .dir = dir, .conns = cs, .stats = st};
	if (s->cfg.write_timeout_s < 1)
		s->cfg.write_timeout_s = 1;
	TAILQ_INIT(&s->clients);
	s->poll_ev = event_new(base, -1, EV_PERSIST, poll_cb, s);
	s->keepalive_ev = event_new(base, -1, EV_PERSIST, keepalive_cb, s);
	s->kick_ev = event_new(base, -1, 0, kick_cb, s);
	if (s->poll_ev == NULL || s->keepalive_ev == NULL || s->kick_ev == NULL)
		abort();
	s->pcfg = (struct pgc_config){
	    .conninfo = cfg->conninfo,
	    .name = "stream",
	    .prepared = prepared,
	    .nprepared = ARRAY_LEN(prepared),
	    .setup_sql = setup_sql,
	    .nsetup = ARRAY_LEN(setup_sql),
	    .connect_timeout_ms = 5000,
	    .on_notify = notify_cb,
	    .arg = s,
	};
	s->pgc = pgc_new(base, &s->pcfg);
	return s;
}

void
stream_free(struct stream *s)
{
	struct client *c;

	if (s == NULL)
		return;
	/* In-flight jobs fail now: their callbacks see CLOSED clients. */
	s->stopping = true;
	TAILQ_FOREACH(c, &s->clients, entry)
		client_close(c);
	pgc_free(s->pgc);
	while ((c = TAILQ_FIRST(&s->clients)) != NULL) {
		TAILQ_REMOVE(&s->clients, c, entry);
		if (c->evcon != NULL)
			conns_watch_close(s->conns, c->evcon, NULL, NULL);
		client_free(c);
	}
	event_free(s->poll_ev);
	event_free(s->keepalive_ev);
	event_free(s->kick_ev);
	snapshot_release(s->snap);
	free(s);
}
