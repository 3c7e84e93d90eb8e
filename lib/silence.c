/*
 * silence.c: see silence.h. The pure parsers first, then the shared SQL,
 * then the CLI's actions.
 */
#include "silence.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "migrate.h"
#include "util.h"

/* Longest value quoted back in a message. */
#define QUOTE_MAX 64
/* The "%.*s" arguments quoting s in a message: at most QUOTE_MAX bytes, cut
 * on a character boundary so that the message stays valid UTF-8. */
#define QUOTED(s) utf8_prefix_len((s), QUOTE_MAX), (s)

void
silence_spec_clear(struct silence_spec *s)
{
	free(s->unit_code);
	free(s->rule);
	free(s->metric_code);
	free(s->label_key);
	free(s->label_value);
	free(s->starts_at);
	free(s->ends_at);
	free(s->by);
	free(s->comment);
	memset(s, 0, sizeof *s);
}

int
silence_duration_parse(const char *s, long long *seconds)
{
	static const struct {
		char unit;
		long long seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	size_t len = strlen(s);
	long long n;
	char *num;
	int rc = -1;

	if (len < 2 || !isdigit((unsigned char)s[0]))
		return -1;
	num = xstrndup(s, len - 1);
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (s[len - 1] != units[i].unit)
			continue;
		if (parse_ll(num, 1, SILENCE_DURATION_MAX / units[i].seconds, &n) == 0) {
			*seconds = n * units[i].seconds;
			rc = 0;
		}
	}
	free(num);
	return rc;
}

bool
silence_label_key_valid(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > SILENCE_LABEL_KEY_MAX || isdigit((unsigned char)key[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)key[i]) || key[i] == '_') || (key[i] & 0x80))
			return false;
	return true;
}

/* A label value: 1 to SILENCE_LABEL_VALUE_MAX characters of UTF-8. */
static bool
label_value_valid(const char *v)
{
	return v[0] != '\0' && utf8_valid(v, strlen(v)) && utf8_chars(v) <= SILENCE_LABEL_VALUE_MAX;
}

int
silence_label_parse(const char *s, char **key, char **value, char **cause)
{
	const char *eq = strchr(s, '=');
	char *k;

	if (eq == NULL) {
		*cause = xasprintf("label \"%.*s\" is not KEY=VALUE", QUOTED(s));
		return -1;
	}
	k = xstrndup(s, (size_t)(eq - s));
	if (!silence_label_key_valid(k)) {
		*cause = xasprintf("label key \"%.*s\" must be a letter or _ and up to 63 more "
		                   "letters, digits or _",
		    QUOTED(k));
		free(k);
		return -1;
	}
	if (!label_value_valid(eq + 1)) {
		*cause = xasprintf("label %s: the value must be 1 to %d characters of UTF-8", k,
		    SILENCE_LABEL_VALUE_MAX);
		free(k);
		return -1;
	}
	*key = k;
	*value = xstrdup(eq + 1);
	return 0;
}

bool
silence_local_time_valid(const char *s)
{
	/* D: digit; everything else literal; 'S' a space or a 'T'. */
	static const char shape[] = "DDDD-DD-DDSDD:DD:DD";
	size_t n = strlen(s);

	if (n != 16 && n != 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = shape[i];

		if (c == 'D'   ? !isdigit((unsigned char)s[i])
		    : c == 'S' ? s[i] != ' ' && s[i] != 'T'
		               : s[i] != c)
			return false;
	}
	return true;
}

/* The members of a POST /v1/silences body. */
enum bfield {
	BF_UNIT,
	BF_RULE,
	BF_METRIC,
	BF_LABEL,
	BF_STARTS_AT,
	BF_ENDS_AT,
	BF_DURATION,
	BF_BY,
	BF_COMMENT,
	BF_COUNT
};

static const char *const bfield_names[BF_COUNT] = {
    [BF_UNIT] = "unit",
    [BF_RULE] = "rule",
    [BF_METRIC] = "metric",
    [BF_LABEL] = "label",
    [BF_STARTS_AT] = "starts_at",
    [BF_ENDS_AT] = "ends_at",
    [BF_DURATION] = "duration_seconds",
    [BF_BY] = "by",
    [BF_COMMENT] = "comment",
};

/* A string of 1 to max characters (max 0: any length) or -1 with *cause. */
static int
text_member(const cJSON *item, size_t max, char **cause)
{
	if (!cJSON_IsString(item)) {
		*cause =
		    xasprintf("%s must be a string, not %s", item->string, json_type_name(item));
		return -1;
	}
	if (item->valuestring[0] == '\0' || (max > 0 && utf8_chars(item->valuestring) > max)) {
		*cause = max > 0 ? xasprintf("%s must be 1 to %zu characters", item->string, max)
		                 : xasprintf("%s must not be empty", item->string);
		return -1;
	}
	return 0;
}

/* An RFC 3339 member into usec; -1 with *cause. */
static int
time_member(const cJSON *item, int64_t *usec, char **cause)
{
	if (text_member(item, 0, cause) < 0)
		return -1;
	if (alert_time_parse(item->valuestring, usec) < 0 || strlen(item->valuestring) <= 10) {
		*cause = xasprintf("%s: \"%.*s\" is not an RFC 3339 timestamp "
		                   "(2026-03-01T08:00:00Z, 2026-03-01T16:00:00+08:00)",
		    item->string, QUOTED(item->valuestring));
		return -1;
	}
	return 0;
}

/* Apply one member to spec; -1 with *cause. */
static int
body_member(enum bfield f, const cJSON *item, const struct alert_reach *r,
    struct silence_spec *spec, int64_t t[2], char **cause)
{
	const struct unit *u;
	const struct metric *m;
	const cJSON *lab;

	switch (f) {
	case BF_UNIT:
		if (text_member(item, 0, cause) < 0)
			return -1;
		if ((u = alert_reach_unit(r, item->valuestring)) == NULL) {
			*cause =
			    xasprintf("unit: \"%.*s\" is not a unit code within the token's reach",
			        QUOTED(item->valuestring));
			return -1;
		}
		spec->unit_id = u->id;
		spec->unit_code = xstrdup(u->code);
		return 0;
	case BF_RULE:
		if (text_member(item, 0, cause) < 0)
			return -1;
		if (!alert_rule_id_valid(item->valuestring)) {
			*cause = xasprintf(
			    "rule: \"%.*s\" is not a rule id (1 to 64 of a-z, 0-9, _ . -)",
			    QUOTED(item->valuestring));
			return -1;
		}
		spec->rule = xstrdup(item->valuestring);
		return 0;
	case BF_METRIC:
		if (text_member(item, 0, cause) < 0)
			return -1;
		if ((m = catalog_by_code(r->catalog, item->valuestring)) == NULL) {
			*cause = xasprintf("metric: \"%.*s\" is not a metric code of the catalog",
			    QUOTED(item->valuestring));
			return -1;
		}
		spec->metric_id = m->id;
		spec->metric_code = xstrdup(m->code);
		return 0;
	case BF_LABEL:
		lab = cJSON_IsObject(item) ? item->child : NULL;
		if (lab == NULL || lab->next != NULL) {
			*cause = xasprintf(
			    "label must be an object with one member {\"key\":\"value\"}, "
			    "not %s",
			    cJSON_IsObject(item) ? "an object with 0 or several"
			                         : json_type_name(item));
			return -1;
		}
		if (!silence_label_key_valid(lab->string)) {
			*cause =
			    xasprintf("label: key \"%.*s\" must be a letter or _ and up to 63 more "
			              "letters, digits or _",
			        QUOTED(lab->string));
			return -1;
		}
		if (!cJSON_IsString(lab) || !label_value_valid(lab->valuestring)) {
			*cause = xasprintf("label: the value of %s must be a string of 1 to %d "
			                   "characters",
			    lab->string, SILENCE_LABEL_VALUE_MAX);
			return -1;
		}
		spec->label_key = xstrdup(lab->string);
		spec->label_value = xstrdup(lab->valuestring);
		return 0;
	case BF_STARTS_AT:
	case BF_ENDS_AT:
		return time_member(item, &t[f == BF_ENDS_AT], cause);
	case BF_DURATION:
		if (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
		    item->valuedouble > (double)SILENCE_DURATION_MAX ||
		    item->valuedouble != (double)(long long)item->valuedouble) {
			*cause = xasprintf("duration_seconds must be a whole number from 1 to %lld",
			    SILENCE_DURATION_MAX);
			return -1;
		}
		spec->duration_s = (long long)item->valuedouble;
		return 0;
	case BF_BY:
	case BF_COMMENT:
		if (text_member(item, f == BF_BY ? SILENCE_BY_MAX : SILENCE_COMMENT_MAX, cause) < 0)
			return -1;
		*(f == BF_BY ? &spec->by : &spec->comment) = xstrdup(item->valuestring);
		return 0;
	case BF_COUNT:
		break;
	}
	abort();
}

/* Checks across members once each is valid: times, matchers, scope. */
static int
body_check(const bool *seen, const int64_t t[2], int64_t now, const struct alert_reach *r,
    struct silence_spec *spec, char **cause)
{
	char when[ALERT_TIME_STR];
	int64_t start = seen[BF_STARTS_AT] ? t[0] : now * 1000000;
	int64_t end = seen[BF_ENDS_AT] ? t[1] : start + spec->duration_s * 1000000;

	if (!seen[BF_BY] || !seen[BF_COMMENT]) {
		*cause = xasprintf("%s is required", !seen[BF_BY] ? "by" : "comment");
		return -1;
	}
	if (seen[BF_ENDS_AT] == seen[BF_DURATION]) {
		*cause = xstrdup("give exactly one of ends_at and duration_seconds");
		return -1;
	}
	if (end <= now * 1000000) {
		*cause = xstrdup("ends_at is in the past: the silence would never be in force");
		return -1;
	}
	if (end <= start) {
		*cause = xstrdup("ends_at must be later than starts_at");
		return -1;
	}
	if (end - start > SILENCE_DURATION_MAX * 1000000) {
		*cause =
		    xasprintf("a silence lasts at most %lld days", SILENCE_DURATION_MAX / 86400);
		return -1;
	}
	if (seen[BF_STARTS_AT]) {
		alert_time_format(t[0], when);
		spec->starts_at = xstrdup(when);
	}
	if (seen[BF_ENDS_AT]) {
		alert_time_format(t[1], when);
		spec->ends_at = xstrdup(when);
	}
	if (spec->unit_id == 0 && r->who->role != ROLE_ADMIN) {
		const struct unit *u = registry_by_id(r->registry, r->who->unit_id);

		if (u == NULL) {
			*cause = xstrdup("unit: the token's unit is not in the registry");
			return -1;
		}
		spec->unit_id = u->id;
		spec->unit_code = xstrdup(u->code);
	}
	if (spec->unit_id == 0 && spec->rule == NULL && spec->metric_id == 0 &&
	    spec->label_key == NULL) {
		*cause = xstrdup("give at least one matcher: unit, rule, metric or label");
		return -1;
	}
	return 0;
}

int
silence_body_parse(const char *body, size_t len, const struct alert_reach *reach, int64_t now,
    struct silence_spec *spec, const char **code, size_t *offset, char **cause)
{
	bool seen[BF_COUNT] = {false};
	int64_t t[2] = {0, 0};
	const cJSON *item;
	cJSON *root;

	memset(spec, 0, sizeof *spec);
	if ((root = json_parse_object(body, len, 4, code, offset, cause)) == NULL)
		return -1;
	cJSON_ArrayForEach(item, root)
	{
		int f = names_index(bfield_names, BF_COUNT, item->string, strlen(item->string));

		if (f < 0) {
			*cause =
			    xasprintf("unknown field \"%.*s\" (known: unit, rule, metric, label, "
			              "starts_at, ends_at, duration_seconds, by, comment)",
			        QUOTED(item->string));
			goto fail;
		}
		seen[f] = true;
		if (body_member((enum bfield)f, item, reach, spec, t, cause) < 0)
			goto fail;
	}
	if (body_check(seen, t, now, reach, spec, cause) < 0)
		goto fail;
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	silence_spec_clear(spec);
	return -1;
}

/* ---- SQL ---- */

/* RFC 3339 UTC text of a timestamptz column. */
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* Within the subtree of scope unit p, or p is NULL (admin, the CLI). */
#define IN_SCOPE(p)                                                                                \
	"(" p " IS NULL OR (s.unit_id IS NOT NULL AND edumon.channel_covers(" p                    \
	", true, s.unit_id)))"
/* The columns of enum silence_col, from a relation aliased s. */
#define SILENCE_COLS                                                                                      \
	"SELECT s.id, u.code, u.name, s.rule_id, m.code, s.label_key, s.label_value, " TS("s."            \
	                                                                                  "starts"        \
	                                                                                  "_at") ", " TS( \
	    "s.ends_at") ", s.created_by, s.comment, " TS("s.created_at") ", " TS("s.expired_at") ","     \
	                                                                                          " s.starts_at <= now() AND now() < s.ends_at FROM "
#define SILENCE_JOINS                                                                              \
	" s LEFT JOIN edumon.org_unit u ON u.id = s.unit_id"                                       \
	" LEFT JOIN edumon.metric m ON m.id = s.metric_id "

/* The times are computed once (v) and checked again here, so that no
 * front end can store a silence that ends before it starts or has ended. */
const char silence_sql_insert[] =
    "WITH t AS (SELECT coalesce($6::timestamptz, now()) AS s),"
    " v AS (SELECT s, coalesce($7::timestamptz, s + $8::bigint * interval '1 second') AS e"
    " FROM t),"
    " ins AS (INSERT INTO edumon.silence (unit_id, rule_id, metric_id, label_key, label_value,"
    " starts_at, ends_at, created_by, comment, token_id)"
    " SELECT $1::int, $2::text, $3::smallint, $4::text, $5::text, v.s, v.e, $9::text,"
    " $10::text, $11::int FROM v WHERE v.e > v.s AND v.e > now()"
    " RETURNING *) " SILENCE_COLS "ins" SILENCE_JOINS;

const char silence_sql_expire[] =
    "UPDATE edumon.silence s SET ends_at = greatest(now(), s.starts_at + interval '1 microsecond'),"
    " expired_at = now()"
    " WHERE s.id = $1::int AND s.ends_at > now() AND s.expired_at IS NULL"
    " AND " IN_SCOPE("$2::int") " RETURNING s.id";

const char silence_sql_get[] =
    SILENCE_COLS "edumon.silence" SILENCE_JOINS "WHERE s.id = $1::int AND " IN_SCOPE("$2::int");

const char silence_sql_list[] = SILENCE_COLS "edumon.silence" SILENCE_JOINS "WHERE " IN_SCOPE(
    "$1::int") " AND ($2::boolean OR (s.ends_at > now() AND s.expired_at IS NULL))"
               " ORDER BY s.id DESC LIMIT 1000";

_Static_assert(SILENCE_LIST_MAX == 1000, "silence_sql_list's LIMIT");

/* ,"name":"text" or ,"name":null */
static void
put_member(struct buf *b, const char *name, const char *v)
{
	buf_printf(b, ",\"%s\":", name);
	if (v == NULL)
		buf_puts(b, "null");
	else
		buf_json_string(b, v);
}

void
silence_json(struct buf *b, const char *const *c)
{
	buf_printf(b, "{\"id\":%s,\"unit\":", c[SCOL_ID]);
	if (c[SCOL_UNIT_CODE] == NULL)
		buf_puts(b, "null");
	else {
		buf_puts(b, "{\"code\":");
		buf_json_string(b, c[SCOL_UNIT_CODE]);
		put_member(b, "name", c[SCOL_UNIT_NAME]);
		buf_putc(b, '}');
	}
	put_member(b, "rule", c[SCOL_RULE]);
	put_member(b, "metric", c[SCOL_METRIC]);
	buf_puts(b, ",\"label\":");
	if (c[SCOL_LABEL_KEY] == NULL)
		buf_puts(b, "null");
	else {
		buf_putc(b, '{');
		buf_json_string(b, c[SCOL_LABEL_KEY]);
		buf_putc(b, ':');
		buf_json_string(b, c[SCOL_LABEL_VALUE] != NULL ? c[SCOL_LABEL_VALUE] : "");
		buf_putc(b, '}');
	}
	put_member(b, "starts_at", c[SCOL_STARTS_AT]);
	put_member(b, "ends_at", c[SCOL_ENDS_AT]);
	put_member(b, "by", c[SCOL_BY]);
	put_member(b, "comment", c[SCOL_COMMENT]);
	put_member(b, "created_at", c[SCOL_CREATED_AT]);
	put_member(b, "expired_at", c[SCOL_EXPIRED_AT]);
	buf_printf(b, ",\"active\":%s}",
	    c[SCOL_ACTIVE] != NULL && strcmp(c[SCOL_ACTIVE], "t") == 0 ? "true" : "false");
}

int
silence_list_query_parse(const char *query, bool *all, char **cause)
{
	static const char *const yes[] = {"all=1", "all=true"}, *const no[] = {
	                                                            "all=0", "all=false"};
	const char *q = query != NULL ? query : "";

	*all = false;
	if (q[0] == '\0' || names_index(no, ARRAY_LEN(no), q, strlen(q)) >= 0)
		return 0;
	if (names_index(yes, ARRAY_LEN(yes), q, strlen(q)) >= 0) {
		*all = true;
		return 0;
	}
	*cause = strncmp(q, "all=", 4) == 0
	             ? xasprintf("all: \"%.*s\" is not 1, true, 0 or false", QUOTED(q + 4))
	             : xasprintf("the only parameter is all (all=1 lists ended silences too), not "
	                         "\"%.*s\"",
	                   QUOTED(q));
	return -1;
}

/* Decimal text of v into out, or NULL when v is 0. */
static const char *
num_or_null(long long v, char *out, size_t len)
{
	if (v == 0)
		return NULL;
	snprintf(out, len, "%lld", v);
	return out;
}

void
silence_params_fill(const struct silence_spec *spec, int token_id, struct silence_params *p)
{
	p->v[0] = num_or_null(spec->unit_id, p->unit, sizeof p->unit);
	p->v[1] = spec->rule;
	p->v[2] = num_or_null(spec->metric_id, p->metric, sizeof p->metric);
	p->v[3] = spec->label_key;
	p->v[4] = spec->label_value;
	p->v[5] = spec->starts_at;
	p->v[6] = spec->ends_at;
	p->v[7] = num_or_null(spec->duration_s, p->duration, sizeof p->duration);
	p->v[8] = spec->by;
	p->v[9] = spec->comment;
	p->v[10] = num_or_null(token_id, p->token, sizeof p->token);
}

/* ---- The CLI ---- */

/* migrate_code_id, with the option named in the message. */
static int
code_id(PGconn *conn, const char *what, const char *code, const char *option, char **cause)
{
	char *why = NULL;
	int id = migrate_code_id(conn, what, code, &why);

	if (id < 0) {
		*cause = xasprintf("%s: %s", option, why);
		free(why);
	}
	return id;
}

/* Whether PostgreSQL reads text as a timestamptz; -1 with *cause naming option. */
static int
time_readable(PGconn *conn, const char *option, const char *text, char **cause)
{
	PGresult *res;
	char *why = NULL;

	if (text == NULL)
		return 0;
	if (silence_local_time_valid(text)) {
		res = migrate_query(
		    conn, "PostgreSQL", "SELECT $1::timestamptz", 1, &text, NULL, &why);
		if (res != NULL) {
			PQclear(res);
			return 0;
		}
	}
	*cause = xasprintf("%s: \"%.*s\" is not a time YYYY-MM-DD HH:MM[:SS]%s%s%s", option,
	    QUOTED(text), why != NULL ? " (" : "", why != NULL ? why : "", why != NULL ? ")" : "");
	free(why);
	return -1;
}

int
silence_add_db(PGconn *conn, struct silence_spec *spec, int *id, char **cause)
{
	static const char order_sql[] =
	    "WITH t AS (SELECT coalesce($1::timestamptz, now()) AS s),"
	    " v AS (SELECT s, coalesce($2::timestamptz, s + $3::bigint * interval '1 second') AS e"
	    " FROM t)"
	    " SELECT v.e > v.s, v.e > now(), v.e - v.s <= $4::bigint * interval '1 second' FROM v";
	struct silence_params p;
	const char *ov[4];
	char dur[24], max[24], *msg = NULL;
	PGresult *res;
	int n;

	if (spec->unit_code != NULL &&
	    (spec->unit_id = code_id(conn, "unit", spec->unit_code, "--unit", cause)) < 0)
		return -1;
	if (spec->metric_code != NULL &&
	    (spec->metric_id = code_id(conn, "metric", spec->metric_code, "--metric", cause)) < 0)
		return -1;
	if (time_readable(conn, "--starts", spec->starts_at, cause) < 0 ||
	    time_readable(conn, "--until", spec->ends_at, cause) < 0)
		return -1;
	ov[0] = spec->starts_at;
	ov[1] = spec->ends_at;
	ov[2] = num_or_null(spec->duration_s, dur, sizeof dur);
	snprintf(max, sizeof max, "%lld", SILENCE_DURATION_MAX);
	ov[3] = max;
	if ((res = migrate_query(conn, "check times", order_sql, 4, ov, NULL, cause)) == NULL)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		msg = xstrdup("--until: that time has passed: the silence would never be in force");
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		msg = xstrdup("--until: the silence must end after it starts (--starts)");
	else if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
		msg = xasprintf("a silence lasts at most %lld days", SILENCE_DURATION_MAX / 86400);
	PQclear(res);
	if (msg != NULL) {
		*cause = msg;
		return -1;
	}
	silence_params_fill(spec, 0, &p);
	if ((res = migrate_query(conn, "add silence", silence_sql_insert, 11, p.v, NULL, cause)) ==
	    NULL)
		return -1;
	n = PQntuples(res);
	if (n == 1)
		*id = atoi(PQgetvalue(res, 0, 0));
	else
		*cause =
		    xstrdup("add silence: the silence would not be in force (its times changed "
		            "while it was checked)");
	PQclear(res);
	return n == 1 ? 0 : -1;
}

PGresult *
silence_list_db(PGconn *conn, bool all, char **cause)
{
	static const char sql[] =
	    "SELECT s.id, u.code AS unit, s.rule_id AS rule, m.code AS metric,"
	    " s.label_key || '=' || s.label_value AS label,"
	    " date_trunc('second', s.starts_at)::text AS starts,"
	    " date_trunc('second', s.ends_at)::text AS ends,"
	    " CASE WHEN s.starts_at <= now() AND now() < s.ends_at THEN 'yes' ELSE 'no' END"
	    " AS active, s.created_by AS by, s.comment,"
	    " date_trunc('second', s.created_at)::text AS created,"
	    " date_trunc('second', s.expired_at)::text AS expired"
	    " FROM edumon.silence s LEFT JOIN edumon.org_unit u ON u.id = s.unit_id"
	    " LEFT JOIN edumon.metric m ON m.id = s.metric_id"
	    " WHERE $1::boolean OR (s.ends_at > now() AND s.expired_at IS NULL) ORDER BY s.id";
	const char *params[1] = {all ? "true" : "false"};

	return migrate_query(conn, "list silences", sql, 1, params, NULL, cause);
}

int
silence_expire_db(PGconn *conn, long long id, bool *already, char **cause)
{
	static const char exists_sql[] = "SELECT 1 FROM edumon.silence WHERE id = $1::int";
	char idtext[24];
	const char *params[2] = {idtext, NULL};
	PGresult *res;
	int n;

	snprintf(idtext, sizeof idtext, "%lld", id);
	res = migrate_query(conn, "expire silence", silence_sql_expire, 2, params, NULL, cause);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	*already = n == 0;
	if (n > 0)
		return 0;
	if ((res = migrate_query(conn, "find silence", exists_sql, 1, params, NULL, cause)) == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		*cause = xasprintf("no silence with id %lld", id);
		return -1;
	}
	return 0;
}
