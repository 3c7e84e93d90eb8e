/*
 * silence.h: silences (edumon.silence), shared by `edumon silence ...` and
 * the silences API (silenceapi.h). A silence mutes the alert events that
 * match every matcher it has (unit and everything below it, rule, metric,
 * a rule label) between starts_at and ends_at; the dispatcher records such
 * events as silenced instead of sending them.
 *
 * Three parts: pure parsers (durations, KEY=VALUE labels, the POST body,
 * the CLI's time text) and the silence's JSON; the SQL both front ends run
 * (so the CLI and the API write and expire silences the same way); and the
 * CLI's blocking libpq actions (0, or -1 with *cause the caller frees).
 *
 * Invariants: a silence has at least one matcher and ends after it starts
 * and after it was made; expiring one that has ended changes nothing;
 * expiring one that has not started yet makes it end one microsecond after
 * its start (the daemon's role may not move starts_at, and a silence must
 * end after it starts), so it never mutes anything in practice.
 */
#ifndef EDUMON_SILENCE_H
#define EDUMON_SILENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alertapi.h"
#include "util.h"

struct pg_conn;
struct pg_result;

#define SILENCE_BY_MAX 200       /* characters */
#define SILENCE_COMMENT_MAX 2000 /* characters */
#define SILENCE_LABEL_KEY_MAX 64
#define SILENCE_LABEL_VALUE_MAX 200 /* characters */
/* A silence lasts at most this long (one year and a day). */
#define SILENCE_DURATION_MAX (366LL * 86400)

/*
 * A silence to make. Owned strings (silence_spec_clear frees them); NULL
 * and 0 mean "not given". Times are text PostgreSQL reads as timestamptz.
 */
struct silence_spec {
	int unit_id;
	char *unit_code;
	char *rule;
	int metric_id;
	char *metric_code;
	char *label_key;
	char *label_value;
	char *starts_at; /* NULL: now */
	char *ends_at;   /* NULL: starts_at + duration_s */
	long long duration_s;
	char *by;
	char *comment;
};

void silence_spec_clear(struct silence_spec *s);

/*
 * A duration: a whole number and a unit, s, m, h or d ("90s", "30m", "2h",
 * "3d"), from 1 second to SILENCE_DURATION_MAX. Returns 0 with *seconds,
 * or -1.
 */
int silence_duration_parse(const char *s, long long *seconds);

/*
 * "KEY=VALUE": KEY as rule labels allow ([A-Za-z_][A-Za-z0-9_]{0,63}),
 * VALUE 1 to 200 characters of UTF-8. New strings into *key and *value;
 * -1 with *cause otherwise.
 */
int silence_label_parse(const char *s, char **key, char **value, char **cause);

/* Whether a label key and value are ones silence_label_parse accepts. */
bool silence_label_key_valid(const char *key);

/*
 * A local time as the CLI takes it: "YYYY-MM-DD HH:MM" or "YYYY-MM-DD
 * HH:MM:SS" (a 'T' may stand for the space). PostgreSQL reads it in the
 * session's time zone. Shape only: the date itself is PostgreSQL's to
 * check.
 */
bool silence_local_time_valid(const char *s);

/*
 * The body of POST /v1/silences: a JSON object with "unit", "rule",
 * "metric" (strings), "label" (an object of one string member), "starts_at"
 * and "ends_at" (RFC 3339), "duration_seconds" (a whole number), "by" and
 * "comment" (strings); nothing else. Exactly one of ends_at and
 * duration_seconds; by and comment are required. A monitor's silence is on
 * a unit within its subtree (default: its own unit); a unit outside it is
 * refused like an unknown code. now (Unix seconds) is when the request came:
 * the silence must end after it and after its start. Returns 0 and fills
 * *spec (unit_id, metric_id resolved; times as RFC 3339 UTC). Otherwise -1,
 * *code "malformed_body" (not RFC 8259 JSON; *offset set) or "bad_body",
 * and *cause naming the field.
 */
int silence_body_parse(const char *body, size_t len, const struct alert_reach *reach, int64_t now,
    struct silence_spec *spec, const char **code, size_t *offset, char **cause);

/* ---- SQL shared by the CLI and the API ---- */

/* The columns every statement below returns, in this order. */
enum silence_col {
	SCOL_ID,
	SCOL_UNIT_CODE,
	SCOL_UNIT_NAME,
	SCOL_RULE,
	SCOL_METRIC,
	SCOL_LABEL_KEY,
	SCOL_LABEL_VALUE,
	SCOL_STARTS_AT, /* RFC 3339 UTC with microseconds */
	SCOL_ENDS_AT,
	SCOL_BY,
	SCOL_COMMENT,
	SCOL_CREATED_AT,
	SCOL_EXPIRED_AT,
	SCOL_ACTIVE, /* "t" or "f" */
	SCOL_COUNT
};

/*
 * Insert: $1 unit_id, $2 rule, $3 metric_id, $4 label_key, $5 label_value,
 * $6 starts_at (NULL: now), $7 ends_at (NULL: $6 + $8 seconds), $8
 * duration seconds, $9 by, $10 comment, $11 token_id. Returns the new
 * silence; no row when it would not end after its start and after now.
 */
extern const char silence_sql_insert[];

/*
 * Expire: $1 id, $2 scope unit id (NULL: any silence). Changes only a
 * silence that has not ended or been expired; returns its id.
 */
extern const char silence_sql_expire[];

/* One silence: $1 id, $2 scope unit id (NULL: any). */
extern const char silence_sql_get[];

/*
 * Silences, newest first, at most SILENCE_LIST_MAX: $1 scope unit id
 * (NULL: any), $2 boolean: ended and expired ones too (otherwise those in
 * force or to come).
 */
#define SILENCE_LIST_MAX 1000
extern const char silence_sql_list[];

/* Append the silence of columns col[SCOL_COUNT] (NULL for SQL NULL) as a
 * JSON object. */
void silence_json(struct buf *b, const char *const *col);

/*
 * The query string of GET /v1/silences: empty, or "all=" 1, true, 0 or
 * false. 0 and *all, or -1 with *cause.
 */
int silence_list_query_parse(const char *query, bool *all, char **cause);

/* The insert's parameters from spec into v[11] (texts in bufs). */
struct silence_params {
	const char *v[11];
	char unit[16], metric[16], duration[24], token[16];
};
void silence_params_fill(const struct silence_spec *spec, int token_id, struct silence_params *p);

/* ---- The CLI ---- */

/*
 * Check spec's times (the order of start, end and now, read by PostgreSQL),
 * resolve its unit and metric codes, insert it; *id gets its number.
 * Unknown codes and bad times are refused with a message naming the option.
 */
int silence_add_db(struct pg_conn *conn, struct silence_spec *spec, int *id, char **cause);

/*
 * Silences by id: in force or still to come (not expired), or (all) every
 * one. Columns:
 * id, unit, rule, metric, label, starts, ends, active, by, comment,
 * created, expired. The caller clears the result.
 */
struct pg_result *silence_list_db(struct pg_conn *conn, bool all, char **cause);

/* Expire silence id now; *already when it had ended. Unknown id: -1. */
int silence_expire_db(struct pg_conn *conn, long long id, bool *already, char **cause);

#endif
