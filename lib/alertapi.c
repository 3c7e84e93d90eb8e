/*
 * alertapi.c: see alertapi.h. The pure half comes first (query strings,
 * timestamps, cursors, ack bodies, JSON), then the connection and its
 * statements.
 */
#include "alertapi.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alertsql.h"
#include "jsonstrict.h"
#include "jsonutil.h"
#include "log.h"
#include "pgc.h"
#include "receipt.h"

static const char *const severity_names[ALERT_SEV_COUNT] = {"info", "warning", "critical"};
static const char *const state_names[] = {"firing", "resolved"};

/* Longest parameter value quoted back in a message. */
#define QUOTE_MAX 64

/*
 * Percent-decode s[0..len) into a new string. NULL when an escape is
 * malformed, the result holds a NUL byte or is not UTF-8.
 */
static char *
pct_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[n++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			goto bad;
		if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
			goto bad;
		{
			char hex[3] = {s[i + 1], s[i + 2], '\0'};

			out[n] = (char)strtol(hex, NULL, 16);
		}
		if (out[n] == '\0')
			goto bad;
		n++;
		i += 2;
	}
	out[n] = '\0';
	if (!utf8_valid(out, n))
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

/* The parameters of GET /v1/alerts. */
enum qparam {
	QP_STATE,
	QP_SEVERITY,
	QP_DISTRICT,
	QP_UNIT,
	QP_SCHOOL,
	QP_METRIC,
	QP_RULE,
	QP_PERIOD,
	QP_SINCE,
	QP_ACKED,
	QP_LIMIT,
	QP_CURSOR,
	QP_COUNT
};

static const char *const qparam_names[QP_COUNT] = {
    [QP_STATE] = "state",
    [QP_SEVERITY] = "severity",
    [QP_DISTRICT] = "district",
    [QP_UNIT] = "unit",
    [QP_SCHOOL] = "school",
    [QP_METRIC] = "metric",
    [QP_RULE] = "rule",
    [QP_PERIOD] = "period",
    [QP_SINCE] = "since",
    [QP_ACKED] = "acked",
    [QP_LIMIT] = "limit",
    [QP_CURSOR] = "cursor",
};

const struct unit *
alert_reach_unit(const struct alert_reach *r, const char *code)
{
	const struct unit *u = registry_by_code(r->registry, code);

	if (u == NULL || r->who->role == ROLE_ADMIN)
		return u;
	return registry_within(r->registry, u->id, r->who->unit_id) ? u : NULL;
}

/* Parse a comma list of severities into a mask; -1 on an unknown name. */
static int
severities_parse(const char *s, unsigned *mask)
{
	*mask = 0;
	for (;;) {
		size_t n = strcspn(s, ",");
		int i = names_index(severity_names, ALERT_SEV_COUNT, s, n);

		if (i < 0)
			return -1;
		*mask |= 1u << i;
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

bool
alert_rule_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ALERT_RULE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
			s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* Apply one decoded parameter to q; -1 with *cause. */
static int
apply_param(enum qparam p, const char *v, const struct alert_reach *r, struct alert_query *q,
    char **cause)
{
	const char *name = qparam_names[p];
	const struct unit *u;
	const struct metric *m;
	struct period per;
	long long ll;
	int64_t t;
	int i;

	switch (p) {
	case QP_STATE:
		if ((i = names_index(state_names, ARRAY_LEN(state_names), v, strlen(v))) < 0)
			goto bad_enum;
		q->state = state_names[i];
		return 0;
	case QP_SEVERITY:
		if (severities_parse(v, &q->severities) < 0) {
			*cause = xasprintf("severity: \"%.*s\" is not a comma list of info, warning, "
					   "critical",
			    utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		return 0;
	case QP_DISTRICT:
	case QP_UNIT:
	case QP_SCHOOL:
		if ((u = alert_reach_unit(r, v)) == NULL) {
			*cause = xasprintf("%s: \"%.*s\" is not a unit code within the token's reach",
			    name, utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		if (p == QP_DISTRICT)
			q->scope_unit_id = u->id;
		else
			q->unit_id = u->id;
		return 0;
	case QP_METRIC:
		if ((m = catalog_by_code(r->catalog, v)) == NULL) {
			*cause = xasprintf("metric: \"%.*s\" is not a metric code of the catalog",
			    utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		q->metric_id = m->id;
		return 0;
	case QP_RULE:
		if (!alert_rule_id_valid(v)) {
			*cause = xasprintf("rule: \"%.*s\" is not a rule id (1 to 64 of a-z, 0-9, _ . -)",
			    utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		memcpy(q->rule, v, strlen(v) + 1);
		return 0;
	case QP_PERIOD:
		if (strlen(v) >= sizeof q->period || period_parse(v, &per, NULL) < 0 ||
		    strcmp(period_format(&per, q->period, sizeof q->period), v) != 0) {
			*cause = xasprintf("period: \"%.*s\" is not a canonical period (2026, 2026-Q1, "
					   "2026-03, 2026-W09, 2026-03-01, 2025-2026, 2025-2026-1)",
			    utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		return 0;
	case QP_SINCE:
		if (alert_time_parse(v, &t) < 0) {
			*cause = xasprintf("since: \"%.*s\" is not an RFC 3339 timestamp "
					   "(2026-03-01T08:00:00Z) or a date (2026-03-01)",
			    utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		alert_time_format(t, q->since);
		return 0;
	case QP_ACKED:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			*cause = xasprintf("acked: \"%.*s\" is not true or false",
			    utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		q->acked = v[0] == 't';
		return 0;
	case QP_LIMIT:
		if (!isdigit((unsigned char)v[0]) || parse_ll(v, 1, ALERT_LIMIT_MAX, &ll) < 0) {
			*cause = xasprintf("limit: \"%.*s\" is not a whole number from 1 to %d",
			    utf8_prefix_len(v, QUOTE_MAX), v, ALERT_LIMIT_MAX);
			return -1;
		}
		q->limit = (int)ll;
		return 0;
	case QP_CURSOR:
		if (alert_cursor_decode(v, &q->before_id) < 0) {
			*cause = xasprintf("cursor: \"%.*s\" is not a cursor this API gave out",
			    utf8_prefix_len(v, QUOTE_MAX), v);
			return -1;
		}
		return 0;
	case QP_COUNT:
		break;
	}
	abort();
bad_enum:
	*cause = xasprintf("%s: \"%.*s\" is not firing or resolved", name,
	    utf8_prefix_len(v, QUOTE_MAX), v);
	return -1;
}

int
alert_query_parse(const char *query, const struct alert_reach *reach, struct alert_query *q,
    char **cause)
{
	bool seen[QP_COUNT] = {false};
	const char *s = query != NULL ? query : "";

	memset(q, 0, sizeof *q);
	q->scope_unit_id = reach->who->role == ROLE_ADMIN ? 0 : reach->who->unit_id;
	q->acked = -1;
	q->limit = ALERT_LIMIT_DEFAULT;
	while (*s != '\0') {
		size_t n = strcspn(s, "&"), klen = strcspn(s, "=");
		char *key, *val;
		int p;

		if (n == 0) {
			s++;
			continue;
		}
		if (klen > n)
			klen = n;
		key = pct_decode(s, klen);
		val = pct_decode(s + klen + (klen < n), n - klen - (klen < n));
		if (key == NULL || val == NULL) {
			*cause = xstrdup("the query string has a malformed %-escape, a NUL byte or "
					 "text that is not UTF-8");
			goto fail;
		}
		if ((p = names_index(qparam_names, QP_COUNT, key, strlen(key))) < 0) {
			*cause = xasprintf("unknown parameter \"%.*s\" (known: state, severity, "
					   "district, unit, school, metric, rule, period, since, acked, "
					   "limit, cursor)",
			    utf8_prefix_len(key, QUOTE_MAX), key);
			goto fail;
		}
		if (seen[p] || (p == QP_UNIT && seen[QP_SCHOOL]) || (p == QP_SCHOOL && seen[QP_UNIT])) {
			*cause = p == QP_UNIT || p == QP_SCHOOL
			    ? xstrdup("unit: give unit (or its alias school) once")
			    : xasprintf("%s: given more than once", key);
			goto fail;
		}
		seen[p] = true;
		if (apply_param((enum qparam)p, val, reach, q, cause) < 0)
			goto fail;
		free(key);
		free(val);
		s += n;
		continue;
	fail:
		free(key);
		free(val);
		return -1;
	}
	return 0;
}

/* Parse exactly n decimal digits at s; -1 if any is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
alert_time_parse(const char *s, int64_t *usec)
{
	int y, mo, d, h, mi, sec, off = 0;
	int32_t days;
	int64_t frac = 0;
	const char *p;
	size_t len = strlen(s);

	if (len < 10 || s[4] != '-' || s[7] != '-' || (y = digits(s, 4)) < 0 ||
	    (mo = digits(s + 5, 2)) < 0 || (d = digits(s + 8, 2)) < 0 || y < PERIOD_YEAR_MIN ||
	    y > PERIOD_YEAR_MAX || date_make(y, mo, d, &days) < 0)
		return -1;
	if (len == 10) {
		/* Midnight in the deployment's time zone. */
		struct tm tm;
		time_t t;

		memset(&tm, 0, sizeof tm);
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_isdst = -1;
		if ((t = mktime(&tm)) == (time_t)-1)
			return -1;
		*usec = (int64_t)t * 1000000;
		return 0;
	}
	if (len < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
	    (h = digits(s + 11, 2)) < 0 || (mi = digits(s + 14, 2)) < 0 ||
	    (sec = digits(s + 17, 2)) < 0 || h > 23 || mi > 59 || sec > 59)
		return -1;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		for (p++; isdigit((unsigned char)*p); p++, n++)
			if (n < 6)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 6; n++)
			frac *= 10;
	}
	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0')
		off = 0;
	else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);

		if (oh < 0 || om < 0 || oh > 23 || om > 59)
			return -1;
		off = (oh * 60 + om) * (p[0] == '-' ? -1 : 1);
	} else
		return -1;
	*usec = (((int64_t)days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off * 60) * 1000000 +
	    frac;
	return 0;
}

void
alert_time_format(int64_t usec, char out[ALERT_TIME_STR])
{
	int64_t secs = usec >= 0 ? usec / 1000000 : -((-usec + 999999) / 1000000);
	int64_t us = usec - secs * 1000000;
	int64_t day = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - day * 86400;
	int y, m, d;

	date_to_civil((int32_t)day, &y, &m, &d);
	snprintf(out, ALERT_TIME_STR, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d,
	    (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)us);
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
alert_cursor_encode(int64_t id, char out[ALERT_CURSOR_STR])
{
	uint64_t v = (uint64_t)id;

	/* 64 bits as 11 base64url digits, most significant first (4 + 60 bits). */
	out[0] = 'c';
	for (int i = 11; i >= 1; i--) {
		out[i] = b64url[v & 63];
		v >>= 6;
	}
	out[12] = '\0';
}

int
alert_cursor_decode(const char *s, int64_t *id)
{
	uint64_t v = 0;

	if (strlen(s) != ALERT_CURSOR_STR - 1 || s[0] != 'c')
		return -1;
	for (int i = 1; i <= 11; i++) {
		const char *p = strchr(b64url, s[i]);

		if (p == NULL || s[i] == '\0')
			return -1;
		if (i == 1 && p - b64url > 15)
			return -1; /* more than 64 bits */
		v = v << 6 | (uint64_t)(p - b64url);
	}
	if (v == 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*id = (int64_t)v;
	return 0;
}

int
alert_id_parse(const char *s, int64_t *id)
{
	long long v;

	if (s[0] == '\0' || s[0] == '0' || !isdigit((unsigned char)s[0]) ||
	    parse_ll(s, 1, LLONG_MAX, &v) < 0)
		return -1;
	*id = v;
	return 0;
}

void
alert_ack_clear(struct alert_ack *ack)
{
	free(ack->by);
	free(ack->note);
	ack->by = ack->note = NULL;
}

int
alert_ack_parse(const char *body, size_t len, struct alert_ack *ack, const char **code,
    size_t *offset, char **cause)
{
	const cJSON *item;
	cJSON *root;

	memset(ack, 0, sizeof *ack);
	*offset = 0;
	if (len == 0)
		return 0;
	if ((root = json_parse_object(body, len, 4, code, offset, cause)) == NULL)
		return -1;
	cJSON_ArrayForEach(item, root) {
		bool is_by = strcmp(item->string, "by") == 0;
		size_t max = is_by ? ALERT_ACK_BY_MAX : ALERT_ACK_NOTE_MAX;

		if (!is_by && strcmp(item->string, "note") != 0) {
			*cause = xasprintf("unknown field \"%.*s\" (known: by, note)",
			    utf8_prefix_len(item->string, QUOTE_MAX), item->string);
			goto fail;
		}
		if (!cJSON_IsString(item)) {
			*cause = xasprintf("%s must be a string, not %s", item->string,
			    json_type_name(item));
			goto fail;
		}
		if (utf8_chars(item->valuestring) > max ||
		    (is_by && item->valuestring[0] == '\0')) {
			*cause = xasprintf("%s must be %s to %zu characters", item->string,
			    is_by ? "1" : "0", max);
			goto fail;
		}
		if (is_by)
			ack->by = xstrdup(item->valuestring);
		else if (item->valuestring[0] != '\0')
			ack->note = xstrdup(item->valuestring);
	}
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	alert_ack_clear(ack);
	return -1;
}

/* "name":"text" or "name":null, with a leading comma unless first. */
static void
put_str(struct buf *b, const char *name, const char *v, bool first)
{
	buf_printf(b, "%s\"%s\":", first ? "" : ",", name);
	if (v == NULL)
		buf_puts(b, "null");
	else
		buf_json_string(b, v);
}

/* A number as PostgreSQL printed it, or null (SQL NULL, NaN, infinities). */
static void
put_num(struct buf *b, const char *name, const char *v)
{
	buf_printf(b, ",\"%s\":", name);
	if (v == NULL || strcmp(v, "NaN") == 0 || strcmp(v, "Infinity") == 0 ||
	    strcmp(v, "-Infinity") == 0)
		buf_puts(b, "null");
	else
		buf_puts(b, v);
}

/* An alert object without its closing brace, so that members can follow. */
static void
alert_members(struct buf *b, const char *const *c)
{
	buf_printf(b, "{\"id\":%s", c[ACOL_ID]);
	put_str(b, "fingerprint", c[ACOL_FINGERPRINT], false);
	put_str(b, "rule", c[ACOL_RULE], false);
	put_str(b, "title", c[ACOL_TITLE], false);
	put_str(b, "state", c[ACOL_STATE], false);
	put_str(b, "severity", c[ACOL_SEVERITY], false);
	buf_puts(b, ",\"unit\":{");
	put_str(b, "code", c[ACOL_UNIT_CODE], true);
	put_str(b, "name", c[ACOL_UNIT_NAME], false);
	put_str(b, "kind", c[ACOL_UNIT_KIND], false);
	buf_puts(b, "},\"district\":");
	if (c[ACOL_DISTRICT_CODE] == NULL)
		buf_puts(b, "null");
	else {
		buf_putc(b, '{');
		put_str(b, "code", c[ACOL_DISTRICT_CODE], true);
		put_str(b, "name", c[ACOL_DISTRICT_NAME], false);
		buf_putc(b, '}');
	}
	buf_puts(b, ",\"metric\":{");
	put_str(b, "code", c[ACOL_METRIC_CODE], true);
	put_str(b, "name", c[ACOL_METRIC_NAME], false);
	buf_putc(b, '}');
	put_str(b, "period", c[ACOL_PERIOD], false);
	put_num(b, "value", c[ACOL_VALUE]);
	put_str(b, "op", c[ACOL_OP], false);
	put_num(b, "bound", c[ACOL_BOUND]);
	put_str(b, "message", c[ACOL_MESSAGE], false);
	put_str(b, "fired_at", c[ACOL_FIRED_AT], false);
	put_str(b, "updated_at", c[ACOL_UPDATED_AT], false);
	put_str(b, "resolved_at", c[ACOL_RESOLVED_AT], false);
	put_num(b, "resolved_value", c[ACOL_RESOLVED_VALUE]);
	buf_puts(b, ",\"acked\":");
	if (c[ACOL_ACKED_AT] == NULL)
		buf_puts(b, "null");
	else {
		buf_putc(b, '{');
		put_str(b, "at", c[ACOL_ACKED_AT], true);
		put_str(b, "by", c[ACOL_ACKED_BY], false);
		put_str(b, "note", c[ACOL_ACK_NOTE], false);
		buf_putc(b, '}');
	}
}

void
alert_json(struct buf *b, const char *const *c)
{
	alert_members(b, c);
	buf_putc(b, '}');
}

/* An event object without its closing brace; its id is called id_name. */
static void
event_members(struct buf *b, const char *const *c, const char *id_name)
{
	buf_printf(b, "{\"%s\":%s", id_name, c[ECOL_ID]);
	put_str(b, "at", c[ECOL_AT], false);
	put_str(b, "kind", c[ECOL_KIND], false);
	put_str(b, "severity", c[ECOL_SEVERITY], false);
	put_num(b, "value", c[ECOL_VALUE]);
	put_num(b, "bound", c[ECOL_BOUND]);
	put_str(b, "submission_id", c[ECOL_SUBMISSION_ID], false);
	put_str(b, "note", c[ECOL_NOTE], false);
}

void
alert_event_json(struct buf *b, const char *const *c)
{
	event_members(b, c, "id");
	buf_putc(b, '}');
}

void
alert_event_with_alert_json(struct buf *b, const char *const *event, const char *const *alert)
{
	event_members(b, event, "event_id");
	buf_puts(b, ",\"alert\":");
	alert_json(b, alert);
	buf_putc(b, '}');
}

/* ------------------------------------------------------------------------ */
/* The I/O half. */

/* Reads are interactive: a query that takes longer is cut off (503). */
#define STATEMENT_TIMEOUT_MS 10000

/*
 * The subtree of unit p (a parameter): its id and every unit beneath it,
 * walked down org_unit_parent_idx. Empty when p is NULL (admin).
 */
#define SCOPE_CTE(p)                                                                   \
	"WITH RECURSIVE scope (id) AS (SELECT id FROM edumon.org_unit WHERE id = " p      \
	" UNION ALL SELECT u.id FROM edumon.org_unit u JOIN scope s ON u.parent_id = s.id) "
#define IN_SCOPE(p) "(" p " IS NULL OR a.unit_id IN (SELECT id FROM scope))"

/* The columns of enum alert_col (alertsql.h). */
#define ALERT_FROM "SELECT" ALERT_SQL_COLUMNS "FROM edumon.alert a" ALERT_SQL_JOINS

static const char sql_list[] =
    SCOPE_CTE("$1::int") ALERT_FROM
    "WHERE " IN_SCOPE("$1::int")
    " AND ($2::int IS NULL OR a.unit_id = $2::int)"
    " AND ($3::int IS NULL OR a.metric_id = $3::int)"
    " AND ($4::text IS NULL OR a.rule_id = $4::text)"
    " AND ($5::text IS NULL OR a.period = $5::text)"
    " AND ($6::text IS NULL OR a.state = $6::text)"
    " AND ($7::text[] IS NULL OR a.severity = ANY ($7::text[]))"
    " AND ($8::timestamptz IS NULL OR a.updated_at >= $8::timestamptz)"
    " AND ($9::boolean IS NULL OR (a.acked_at IS NOT NULL) = $9::boolean)"
    " AND ($10::bigint IS NULL OR a.id < $10::bigint)"
    " ORDER BY a.id DESC LIMIT $11::int";

static const char sql_get[] =
    SCOPE_CTE("$2::int") ALERT_FROM "WHERE a.id = $1::bigint AND " IN_SCOPE("$2::int");

static const char sql_events[] =
    "SELECT" ALERT_SQL_EVENT_COLUMNS "FROM" ALERT_SQL_EVENT_ALERT
    "WHERE a.id = $1::bigint ORDER BY e.id";

/*
 * Acknowledge once: only a row in scope and not yet acknowledged changes,
 * and the event is written from the changed row, so a second (or
 * concurrent) ack writes nothing. acked_by: the name given, else the
 * token's label, else "token N". The event's note is "who: note".
 */
static const char sql_ack[] =
    SCOPE_CTE("$2::int")
    ", done AS (UPDATE edumon.alert a SET acked_at = now(), acked_token_id = $3::int,"
    " acked_by = coalesce($4::text, nullif((SELECT t.label FROM edumon.api_token t"
    " WHERE t.id = $3::int), ''), 'token ' || $3::int),"
    " ack_note = $5::text, updated_at = now()"
    " WHERE a.id = $1::bigint AND a.acked_at IS NULL AND " IN_SCOPE("$2::int")
    " RETURNING a.unit_id, a.id, a.severity, a.acked_by, a.ack_note)"
    " INSERT INTO edumon.alert_event (alert_unit_id, alert_id, kind, severity, token_id, note)"
    " SELECT unit_id, id, 'acknowledged', severity, $3::int,"
    " acked_by || coalesce(': ' || ack_note, '')"
    " FROM done";

static const struct pgc_prepared prepared[] = {
    {"alert_list", sql_list},
    {"alert_get", sql_get},
    {"alert_events", sql_events},
    {"alert_ack", sql_ack},
};

static const char *const setup_sql[] = {
    "SET statement_timeout = " STR(STATEMENT_TIMEOUT_MS),
};

struct alertapi {
	struct pgc *pgc;
	struct pgc_config cfg;
};

/* One request in flight. */
enum op { OP_LIST, OP_GET, OP_ACK };

struct job {
	enum op op;
	int limit;
	alertapi_cb cb;
	void *arg;
};

struct alertapi *
alertapi_new(struct event_base *base, const char *conninfo)
{
	struct alertapi *a = xcalloc(1, sizeof *a);

	a->cfg.conninfo = conninfo;
	a->cfg.name = "alerts-api";
	a->cfg.prepared = prepared;
	a->cfg.nprepared = ARRAY_LEN(prepared);
	a->cfg.setup_sql = setup_sql;
	a->cfg.nsetup = ARRAY_LEN(setup_sql);
	a->cfg.connect_timeout_ms = 5000;
	a->pgc = pgc_new(base, &a->cfg);
	return a;
}

void
alertapi_free(struct alertapi *a)
{
	if (a == NULL)
		return;
	pgc_free(a->pgc);
	free(a);
}

bool
alertapi_ready(const struct alertapi *a)
{
	return pgc_ready(a->pgc);
}

/* Answer with an error document. */
static void
answer_error(struct job *j, int status, const char *code, const char *message)
{
	char *body = error_json(code, message);
	struct alertapi_reply r = {status, body, status == 503 ? 2 : 0};

	j->cb(&r, j->arg);
	free(body);
}

/* The row i of res as column strings (NULL for SQL NULL) into col. */
static void
row_columns(const PGresult *res, int i, const char **col, int n)
{
	for (int k = 0; k < n; k++)
		col[k] = PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);
}

/* The list page: at most limit alerts, and a cursor when there are more. */
static void
render_list(struct buf *b, const PGresult *res, int limit)
{
	const char *col[ACOL_COUNT];
	int n = PQntuples(res), shown = n > limit ? limit : n;

	buf_puts(b, "{\"alerts\":[");
	for (int i = 0; i < shown; i++) {
		if (i > 0)
			buf_putc(b, ',');
		row_columns(res, i, col, ACOL_COUNT);
		alert_json(b, col);
	}
	buf_puts(b, "],\"next\":");
	if (n > limit) {
		char cur[ALERT_CURSOR_STR];
		long long last;

		if (parse_ll(PQgetvalue(res, shown - 1, ACOL_ID), 1, LLONG_MAX, &last) < 0)
			abort(); /* ids are positive bigints */
		alert_cursor_encode(last, cur);
		buf_printf(b, "\"%s\"}", cur);
	} else
		buf_puts(b, "null}");
}

/* One alert, with its events when events is not NULL. */
static void
render_one(struct buf *b, const PGresult *alert, const PGresult *events)
{
	const char *col[ACOL_COUNT];

	_Static_assert((int)ECOL_COUNT <= (int)ACOL_COUNT, "an event row fits in col");

	row_columns(alert, 0, col, ACOL_COUNT);
	alert_members(b, col);
	if (events == NULL) {
		buf_putc(b, '}');
		return;
	}
	buf_puts(b, ",\"events\":[");
	for (int i = 0; i < PQntuples(events); i++) {
		if (i > 0)
			buf_putc(b, ',');
		row_columns(events, i, col, ECOL_COUNT);
		alert_event_json(b, col);
	}
	buf_puts(b, "]}");
}

static void
job_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct job *j = arg;
	const PGresult *res;
	struct alertapi_reply r;
	struct buf b;

	if (!out->ok) {
		if (out->sqlstate == NULL || pgc_sqlstate_transient(out->sqlstate)) {
			log_warn("alerts-api: %s", out->error);
			answer_error(j, 503, "database_unavailable",
			    "the database did not answer; retry later");
		} else {
			log_error("alerts-api: %s (SQLSTATE %s)", out->error, out->sqlstate);
			answer_error(j, 500, "internal_error", "the database refused the query");
		}
		free(j);
		return;
	}
	/* get: alert, events; ack: the lock, the update, then the alert. */
	res = out->results[j->op == OP_ACK ? 2 : 0];
	buf_init(&b);
	if (j->op == OP_LIST)
		render_list(&b, res, j->limit);
	else if (PQntuples(res) == 1)
		render_one(&b, res, j->op == OP_GET ? out->results[1] : NULL);
	if (j->op != OP_LIST && PQntuples(res) != 1)
		answer_error(j, 404, "not_found", "no such alert");
	else {
		r = (struct alertapi_reply){200, b.data, 0};
		j->cb(&r, j->arg);
	}
	buf_free(&b);
	free(j);
}

/* Send stmts as one job answering through cb; -1 when the connection is down. */
static int
submit(struct alertapi *a, enum op op, int limit, const struct pgc_stmt *stmts, int n,
    alertapi_cb cb, void *arg)
{
	struct job *j = xcalloc(1, sizeof *j);

	j->op = op;
	j->limit = limit;
	j->cb = cb;
	j->arg = arg;
	if (pgc_submit(a->pgc, stmts, n, job_done_cb, j) < 0) {
		free(j);
		return -1;
	}
	return 0;
}

/* Decimal text of v into out, or NULL for "no filter" when v is 0. */
static const char *
int_param(long long v, char *out, size_t len)
{
	if (v == 0)
		return NULL;
	snprintf(out, len, "%lld", v);
	return out;
}

int
alertapi_list(struct alertapi *a, const struct alert_query *q, alertapi_cb cb, void *arg)
{
	char scope[16], unit[16], metric[16], before[24], limit[16];
	const char *v[11];
	struct buf sev;
	struct pgc_stmt stmt;
	size_t n = 0;
	int rc;

	buf_init(&sev);
	for (int i = 0; i < ALERT_SEV_COUNT; i++) {
		if (q->severities & (1u << i)) {
			buf_pg_array_sep(&sev, n++);
			buf_puts(&sev, severity_names[i]);
		}
	}
	buf_pg_array_end(&sev, n);
	v[0] = int_param(q->scope_unit_id, scope, sizeof scope);
	v[1] = int_param(q->unit_id, unit, sizeof unit);
	v[2] = int_param(q->metric_id, metric, sizeof metric);
	v[3] = q->rule[0] != '\0' ? q->rule : NULL;
	v[4] = q->period[0] != '\0' ? q->period : NULL;
	v[5] = q->state;
	v[6] = q->severities != 0 ? sev.data : NULL;
	v[7] = q->since[0] != '\0' ? q->since : NULL;
	v[8] = q->acked < 0 ? NULL : q->acked ? "true" : "false";
	v[9] = int_param(q->before_id, before, sizeof before);
	/* One more than the page: whether there is a next page. */
	v[10] = int_param(q->limit + 1, limit, sizeof limit);
	stmt = (struct pgc_stmt){"alert_list", NULL, 11, v};
	rc = submit(a, OP_LIST, q->limit, &stmt, 1, cb, arg);
	buf_free(&sev);
	return rc;
}

int
alertapi_get(struct alertapi *a, int64_t id, int scope_unit_id, alertapi_cb cb, void *arg)
{
	char ids[24], scope[16];
	const char *v[2];
	struct pgc_stmt stmts[3];

	v[0] = int_param(id, ids, sizeof ids);
	v[1] = int_param(scope_unit_id, scope, sizeof scope);
	stmts[0] = (struct pgc_stmt){"alert_get", NULL, 2, v};
	stmts[1] = (struct pgc_stmt){"alert_events", NULL, 1, v};
	return submit(a, OP_GET, 0, stmts, 2, cb, arg);
}

int
alertapi_ack(struct alertapi *a, int64_t id, const struct principal *who,
    const struct alert_ack *ack, alertapi_cb cb, void *arg)
{
	char ids[24], scope[16], token[16];
	const char *v[5];
	struct pgc_stmt stmts[3];

	v[0] = int_param(id, ids, sizeof ids);
	v[1] = int_param(who->role == ROLE_ADMIN ? 0 : who->unit_id, scope, sizeof scope);
	v[2] = int_param(who->token_id, token, sizeof token);
	v[3] = ack->by;
	v[4] = ack->note;
	/* One job, one implicit transaction: the event lock (event ids in
	 * commit order, schema/0006_delivery.sql), the update and event, then
	 * the row. */
	stmts[0] = (struct pgc_stmt){NULL, ALERT_SQL_EVENT_LOCK, 0, NULL};
	stmts[1] = (struct pgc_stmt){"alert_ack", NULL, 5, v};
	stmts[2] = (struct pgc_stmt){"alert_get", NULL, 2, v};
	return submit(a, OP_ACK, 0, stmts, 3, cb, arg);
}
