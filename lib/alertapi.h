/*
 * alertapi.h: the read and acknowledge side of alerts (GET /v1/alerts,
 * GET /v1/alerts/{id}, POST /v1/alerts/{id}/ack). The rule engine writes
 * alert rows; this module only lists them, shows one with its history and
 * records acknowledgements.
 *
 * Two halves. The pure half turns a query string or an ack body into a
 * struct (resolving codes against the registry and catalog, within the
 * caller's reach) and turns result rows into JSON; it sees no socket, no
 * PGconn, no event base. The I/O half owns one PostgreSQL connection of its
 * own ("alerts-api", pgc) and runs the prepared statements on it.
 *
 * Invariants:
 * - a monitor sees only alerts of units in its token's subtree; a unit code
 *   outside that subtree is refused exactly like a code that does not exist;
 * - listing is newest first by id (immutable), so a cursor (the last id of
 *   the page) pages without duplicates or gaps;
 * - an acknowledgement is one transaction: the alert's ack columns and one
 *   'acknowledged' event, or nothing; acknowledging twice changes nothing.
 */
#ifndef EDUMON_ALERTAPI_H
#define EDUMON_ALERTAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "payload.h"
#include "period.h"
#include "registry.h"
#include "util.h"

#define ALERT_LIMIT_DEFAULT 100
#define ALERT_LIMIT_MAX 1000
#define ALERT_RULE_MAX 64
#define ALERT_ACK_BY_MAX 200    /* characters */
#define ALERT_ACK_NOTE_MAX 2000 /* characters */
/* An RFC 3339 UTC timestamp with microseconds: 2026-03-01T08:00:00.000000Z. */
#define ALERT_TIME_STR 32
/* "c" and 11 base64url characters of the id, plus NUL. */
#define ALERT_CURSOR_STR 13

/* Bits of alert_query.severities. */
enum alert_severity { ALERT_SEV_INFO, ALERT_SEV_WARNING, ALERT_SEV_CRITICAL, ALERT_SEV_COUNT };

/* What the caller may see: the registry, the catalog and who asks. */
struct alert_reach {
	const struct registry *registry;
	const struct catalog *catalog;
	const struct principal *who;
};

/*
 * A unit code the principal may name: it exists and lies within the
 * token's unit (anything, for admin). NULL otherwise: the caller must not
 * tell the two cases apart.
 */
const struct unit *alert_reach_unit(const struct alert_reach *r, const char *code);

/* A rule id as rules.c allows them: [a-z0-9_.-]{1,64}. */
bool alert_rule_id_valid(const char *s);

/* A parsed GET /v1/alerts. Zero, "" and -1 mean "no filter". */
struct alert_query {
	int scope_unit_id; /* alerts of this unit's subtree; 0: every unit (admin) */
	int unit_id;       /* exactly this unit */
	int metric_id;
	char rule[ALERT_RULE_MAX + 1];
	char period[PERIOD_STR_MAX];
	const char *state;   /* "firing", "resolved" (static) or NULL */
	unsigned severities; /* 1 << enum alert_severity */
	char since[ALERT_TIME_STR]; /* updated_at >= since, RFC 3339 UTC */
	int acked;                  /* -1 any, 0 not acknowledged, 1 acknowledged */
	int limit;
	int64_t before_id; /* from the cursor: ids below this; 0 on the first page */
};

/*
 * Parse the raw query string of GET /v1/alerts (NULL or "" for none;
 * percent-decoded, '+' is a plus sign, not a space). Every parameter is
 * optional and may appear once. Returns 0 and fills *q; -1 with *cause
 * (caller frees) naming the parameter and what is wrong with it: an unknown
 * parameter, a repeated one, a bad value, or a unit or metric code that is
 * unknown or outside the principal's reach (the same words for both).
 */
int alert_query_parse(const char *query, const struct alert_reach *reach,
    struct alert_query *q, char **cause);

/*
 * Parse a timestamp for `since`: RFC 3339 (2026-03-01T08:00:00Z,
 * 2026-03-01T16:00:00.5+08:00) or a date (2026-03-01: midnight in the
 * process's time zone, TZ). Returns 0 and the instant in microseconds since
 * the epoch, or -1.
 */
int alert_time_parse(const char *s, int64_t *usec);
/* Format an instant as RFC 3339 UTC with microseconds into out. */
void alert_time_format(int64_t usec, char out[ALERT_TIME_STR]);

/* The opaque cursor for "ids below id" (id > 0) into out. */
void alert_cursor_encode(int64_t id, char out[ALERT_CURSOR_STR]);
/* Inverse of alert_cursor_encode; 0, or -1 if s is not such a cursor. */
int alert_cursor_decode(const char *s, int64_t *id);

/* An alert id in a path: 1 to 2^63-1 in decimal, nothing else. 0 or -1. */
int alert_id_parse(const char *s, int64_t *id);

/* A parsed acknowledgement body; NULL fields were not given. */
struct alert_ack {
	char *by;
	char *note;
};

/*
 * Parse an ack body: empty, or a JSON object with optional string members
 * "by" (1 to 200 characters) and "note" (up to 2000; empty means none), and
 * nothing else. Returns 0 and fills *ack (free with alert_ack_clear).
 * Otherwise -1, *code "malformed_body" (not JSON per RFC 8259, *offset set)
 * or "bad_body" (valid JSON of the wrong shape), and *cause (caller frees).
 */
int alert_ack_parse(const char *body, size_t len, struct alert_ack *ack, const char **code,
    size_t *offset, char **cause);
void alert_ack_clear(struct alert_ack *ack);

/* Columns of an alert row, in the order the SQL selects them. */
enum alert_col {
	ACOL_ID,
	ACOL_FINGERPRINT,
	ACOL_RULE,
	ACOL_TITLE,
	ACOL_STATE,
	ACOL_SEVERITY,
	ACOL_UNIT_CODE,
	ACOL_UNIT_NAME,
	ACOL_UNIT_KIND,
	ACOL_DISTRICT_CODE,
	ACOL_DISTRICT_NAME,
	ACOL_METRIC_CODE,
	ACOL_METRIC_NAME,
	ACOL_PERIOD,
	ACOL_VALUE,
	ACOL_OP,
	ACOL_BOUND,
	ACOL_MESSAGE,
	ACOL_FIRED_AT,
	ACOL_UPDATED_AT,
	ACOL_RESOLVED_AT,
	ACOL_RESOLVED_VALUE,
	ACOL_ACKED_AT,
	ACOL_ACKED_BY,
	ACOL_ACK_NOTE,
	ACOL_COUNT
};

/* Columns of an event row. */
enum alert_event_col {
	ECOL_ID,
	ECOL_AT,
	ECOL_KIND,
	ECOL_SEVERITY,
	ECOL_VALUE,
	ECOL_BOUND,
	ECOL_SUBMISSION_ID,
	ECOL_NOTE,
	ECOL_COUNT
};

/*
 * Append one alert (col[ACOL_COUNT], text as PostgreSQL prints it, NULL for
 * SQL NULL) as a JSON object. Numbers that are not finite become null.
 */
void alert_json(struct buf *b, const char *const *col);
/* Append one event (col[ECOL_COUNT]) as a JSON object. */
void alert_event_json(struct buf *b, const char *const *col);
/*
 * Append one event with its alert, as the event stream sends it: the
 * members of alert_event_json, its "id" called "event_id", and "alert",
 * the object of alert_json. event has ECOL_COUNT columns, alert ACOL_COUNT.
 */
void alert_event_with_alert_json(struct buf *b, const char *const *event,
    const char *const *alert);

/* ------------------------------------------------------------------------ */
/* The I/O half. */

struct event_base;
struct alertapi;

/*
 * The answer to one request: status 200, 404, 500 or 503 and a JSON body
 * (owned by the module, valid during the callback). retry_after is set for
 * 503.
 */
struct alertapi_reply {
	int status;
	const char *body;
	int retry_after;
};

typedef void (*alertapi_cb)(const struct alertapi_reply *r, void *arg);

/* A module with its own connection ("alerts-api"), connecting at once.
 * conninfo must outlive it. */
struct alertapi *alertapi_new(struct event_base *base, const char *conninfo);
/* Close; requests in flight are answered 503 before it returns. */
void alertapi_free(struct alertapi *a);
bool alertapi_ready(const struct alertapi *a);

/*
 * Start a request. Each returns 0 when the query is on its way: cb runs
 * exactly once, later, from the loop. Each returns -1 when the database
 * connection is down: cb will not run and the caller answers 503.
 *
 * scope_unit_id: the caller's unit (0 for admin): an alert outside its
 * subtree is "not found", exactly like one that does not exist.
 */
int alertapi_list(struct alertapi *a, const struct alert_query *q, alertapi_cb cb, void *arg);
int alertapi_get(struct alertapi *a, int64_t id, int scope_unit_id, alertapi_cb cb, void *arg);
int alertapi_ack(struct alertapi *a, int64_t id, const struct principal *who,
    const struct alert_ack *ack, alertapi_cb cb, void *arg);

#endif
