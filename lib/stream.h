/*
 * stream.h: the alert event stream, Server-Sent Events at
 * GET /v1/alerts/stream. Every alert change (edumon.alert_event: fired,
 * escalated, deescalated, resolved, acknowledged, reminder) is sent to each
 * connected monitor or admin whose token reaches the alert's unit, as
 *
 *   id: <event id>
 *   event: <kind>
 *   data: <one line of JSON: alert_event_with_alert_json, alertapi.h>
 *
 * Two halves, as in alertapi.h. The pure half parses where a client starts
 * and renders frames. The I/O half is one hub with a PostgreSQL connection
 * of its own ("stream", LISTEN edumon_alerts) that reads new events for all
 * clients at once and fans them out; each client has a cursor.
 *
 * Invariants:
 * - event ids increase in commit order (every writer of alert_event takes
 *   edumon.event_lock_key(), schema/0006_delivery.sql), so "every event up
 *   to id N has been seen" is one number, the cursor;
 * - a client is sent each event in its scope at most once, in id order,
 *   with no gap: a resuming client catches up with queries of its own
 *   (the backlog) and joins the hub's fan-out only once its cursor has
 *   reached the hub's; the hub skips events at or below a client's cursor;
 * - a client without Last-Event-ID is sent every event committed after it
 *   received the response headers (possibly a few committed a moment
 *   before), and nothing older;
 * - no query runs while no client is connected.
 */
#ifndef EDUMON_STREAM_H
#define EDUMON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "payload.h"
#include "util.h"

/* Sent as "retry:" first: how long an EventSource waits to reconnect. */
#define STREAM_RETRY_MS 5000
/* A comment line is sent this often, so that proxies and clients see life. */
#define STREAM_KEEPALIVE_S 15
/* Events a resuming client is sent from the database before an event:
 * reset skips it to the present. */
#define STREAM_BACKLOG_MAX 10000
/* Unsent output above which a client is disconnected (a slow consumer). */
#define STREAM_OUTPUT_MAX (1024 * 1024)

/* ------------------------------------------------------------------------ */
/* The pure half. */

/*
 * Where a stream starts, from the Last-Event-ID header (NULL or "" when
 * absent) and the raw query string (NULL or ""; its one parameter,
 * last_event_id, is for clients that cannot set headers; the header wins
 * when both are given). Each is a decimal event id, 0 to 2^63-1. Returns 0
 * and *last_id: the last event the client has, or -1 when it named none.
 * Returns -1 with *cause (caller frees) for a bad value or an unknown or
 * repeated parameter.
 */
int stream_start_parse(const char *header, const char *query, int64_t *last_id, char **cause);

/*
 * Append one event as an SSE frame ("id:", "event:", "data:", blank line).
 * alert has ACOL_COUNT columns, event ECOL_COUNT (alertapi.h), as the
 * database prints them; the kind must be one line (it is a database enum).
 */
void stream_frame(struct buf *b, const char *const *alert, const char *const *event);

/* ------------------------------------------------------------------------ */
/* The I/O half. */

struct event_base;
struct evhttp_request;
struct conns;
struct directory;
struct stats;
struct stats_gauges;
struct stream;

struct stream_config {
	const char *conninfo; /* database; must outlive the stream */
	size_t max_streams;   /* open at once; more are refused */
	int write_timeout_s;  /* a client that takes nothing this long is closed */
};

enum stream_open_result {
	STREAM_OPENED,      /* the stream owns the request now */
	STREAM_FULL,        /* max_streams are open: answer 503 */
	STREAM_UNAVAILABLE, /* no database connection, or shutting down: answer 503 */
};

/*
 * The hub. It connects at once; dir gives the registry for scopes and the
 * tokens that are re-checked at every registry reload (a revoked token's
 * streams end); conns reports the clients' connections closing; stats
 * counts the streams' requests. All must outlive it.
 */
struct stream *stream_new(struct event_base *base, const struct stream_config *cfg,
    struct directory *dir, struct conns *cs, struct stats *st);

/*
 * Start streaming to req, which passed authentication as who (a monitor or
 * admin) with its Authorization header; last_id as from
 * stream_start_parse. On STREAM_OPENED the stream answers req (now or, for
 * a client without Last-Event-ID on an idle hub, once it knows the newest
 * event id) and counts it under route (a static string) with start
 * (now_usec()). Otherwise the caller answers.
 */
enum stream_open_result stream_open(struct stream *s, struct evhttp_request *req,
    const struct principal *who, int64_t last_id, const char *route, int64_t start);

/* End every stream (the last chunk goes out) and refuse new ones: SIGTERM. */
void stream_end_all(struct stream *s);

/* Streams open, events sent and slow consumers dropped into g. */
void stream_gauges(const struct stream *s, struct stats_gauges *g);

/*
 * Close the connection and free; the clients' requests are left to evhttp
 * (call before evhttp_free). NULL is a no-op.
 */
void stream_free(struct stream *s);

#endif
