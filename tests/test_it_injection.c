/*
 * test_it_injection.c: SQL injection attempts in every string a client can
 * send are stored as data or refused, never run (issue 5, "Access").
 *
 * The real edumond (connected as the superuser, the worst case) and a real
 * PostgreSQL. Every string field that reaches SQL, a message or a log is a
 * row of `fields`: which endpoint, where the payload goes (a JSON string or
 * key, a CSV field, the query string, a path segment, a header), who asks,
 * and what must happen. Each row is sent with each of `payloads`, and each
 * answer must be exactly the status the row names:
 *   - a field that stores text (submission_id, Idempotency-Key, an ack's by
 *     and note) stores an admissible payload verbatim: read back with SQL
 *     and compared byte for byte;
 *   - anything else is refused with a precise 4xx whose body is JSON in
 *     valid UTF-8 (a payload quoted back cut on a character boundary);
 *   - a NUL byte in a header is refused (400): evhttp would cut the value
 *     at the NUL and the daemon would act on a prefix of what was sent.
 * Each request must take well under the 5 s a pg_sleep(5) would add; the
 * daemon must answer /healthz after each row and exit 0 on SIGTERM; and a
 * canary table, the edumon tables and their row counts must be intact.
 *
 * Alerts are inserted with SQL and the rule engine is off (--alerts 0), so
 * the counts checked are those of the requests alone.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib.h"
#include "util.h"

#define SCHOOL "2132070301" /* primary, district 320703 */
#define JUNIOR "3132070301" /* junior, district 320703 */
#define MONITOR_LABEL "值班员"
#define MAX_MS 4000 /* pg_sleep(5) would show as >= 5000 */

/* The payloads; len counts every byte (two hold a NUL). */
struct payload {
	const char *name;
	const char *s;
	size_t len;
};

#define LONG_REPEAT 1050 /* of "＇" then of "'": 2100 characters, 4200 bytes */

static char long_text[LONG_REPEAT * 4 + 1];

static struct payload payloads[] = {
    {"drop", "'; DROP TABLE edumon.observation; --", 0},
    {"or", "' OR '1'='1", 0},
    {"sleep", "1); SELECT pg_sleep(5); --", 0},
    {"dollar", "$$; SELECT pg_sleep(5); $$", 0},
    {"backslash_quote", "\\'", 0},
    {"nul_inside", "1\0' OR 1=1", 10},
    {"nul_first", "\0' OR 1=1", 9},
    {"percent", "%27 OR %271%27=%271", 0},
    {"backslashes", "\\\\'\\\"\\x27\\u0027\\", 0},
    {"unicode_quotes", "＇ OR ＇1＇=＇1 ’ʼ′", 0},
    {"array_literal", "x\"},{\"y\",NULL}'); --", 0},
    {"newline", "x'\r\n; DROP TABLE public.canary; --", 0},
    {"long", long_text, 0},
};

#define NPAYLOADS (sizeof payloads / sizeof payloads[0])

static bool
has_nul(const struct payload *p)
{
	return memchr(p->s, '\0', p->len) != NULL;
}

static bool
has_line_end(const struct payload *p)
{
	return memchr(p->s, '\r', p->len) != NULL || memchr(p->s, '\n', p->len) != NULL;
}

/* Bytes in [lo, hi] only, 1 to max of them. */
static bool
ascii_between(const struct payload *p, char lo, char hi, size_t max)
{
	if (p->len == 0 || p->len > max)
		return false;
	for (size_t i = 0; i < p->len; i++)
		if (p->s[i] < lo || p->s[i] > hi)
			return false;
	return true;
}

/* Valid UTF-8 without NUL, min to max characters. */
static bool
text_between(const struct payload *p, size_t min, size_t max)
{
	size_t chars = 0;

	if (has_nul(p) || !utf8_valid(p->s, p->len))
		return false;
	for (size_t i = 0; i < p->len; i++)
		chars += ((unsigned char)p->s[i] & 0xc0) != 0x80;
	return chars >= min && chars <= max;
}

static bool
sid_ok(const struct payload *p)
{
	return ascii_between(p, 0x20, 0x7e, 128);
}

static bool
key_ok(const struct payload *p)
{
	return ascii_between(p, 0x21, 0x7e, 200);
}

static bool
by_ok(const struct payload *p)
{
	return text_between(p, 1, 200);
}

static bool
note_ok(const struct payload *p)
{
	return text_between(p, 1, 2000);
}

enum place {
	PL_JSON,   /* a JSON string (escaped as a client would) in the body */
	PL_CSV,    /* a quoted CSV field in the body */
	PL_QUERY,  /* percent-encoded in the query string */
	PL_PATH,   /* percent-encoded as a path segment */
	PL_HEADER, /* the raw bytes in a header value */
};

enum who { W_SCHOOL, W_REPORTER, W_MONITOR, W_COUNT };

enum check {
	CK_NONE,
	CK_SUBMISSION_KEY,
	CK_ACK_BY,
	CK_ACK_NOTE,
	CK_SILENCE_BY,
	CK_SILENCE_COMMENT,
	CK_SILENCE_LABEL
};

/*
 * One string field. "@P@" in path, header or body marks where the encoded
 * payload goes; "@A@" in a path is the fixture alert's id. An admissible
 * payload (admit) must get `ok` and be stored verbatim (check); any other
 * gets `want`, or want_long for the long payload, or want_nul for one
 * holding a NUL (a header with a NUL always gets 400).
 */
struct field {
	const char *name;
	const char *method;
	const char *path;
	const char *header; /* one "Name: value\r\n" line, or NULL */
	const char *ctype;
	const char *body;
	enum place place;
	enum who who;
	bool (*admit)(const struct payload *);
	int ok;
	enum check check;
	int want, want_long, want_nul;
};

#define SUB "/v1/submissions"
#define JSON "application/json"
#define CSV "text/csv"
#define CSV_HEAD "school,period,metric,value,numerator,denominator\r\n"
#define OBS "\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}"
#define SCHOOL_OBS "{\"school\":\"" SCHOOL "\"," OBS
#define JUNIOR_OBS "{\"school\":\"" JUNIOR "\"," OBS "}"
#define SIL_BODY(members) "{\"duration_seconds\":3600," members "}"
#define ALERTS_Q(p) {"alerts." p, "GET", "/v1/alerts?" p "=@P@", NULL, NULL, NULL, PL_QUERY, \
	    W_MONITOR, NULL, 0, CK_NONE, 400, 400, 400}

static const struct field fields[] = {
    /* POST /v1/submissions, JSON. */
    {"json.school", "POST", SUB, NULL, JSON, "{\"school\":@P@," OBS "}", PL_JSON, W_SCHOOL, NULL,
	0, CK_NONE, 403, 422, 400},
    {"json.unit", "POST", SUB, NULL, JSON,
	"{\"unit\":@P@,\"period\":\"2021\",\"metrics\":{\"modernisation_score\":80}}", PL_JSON,
	W_REPORTER, NULL, 0, CK_NONE, 403, 422, 400},
    {"json.period", "POST", SUB, NULL, JSON,
	"{\"school\":\"" SCHOOL "\",\"period\":@P@,\"metrics\":{\"class_size_max\":52}}", PL_JSON,
	W_SCHOOL, NULL, 0, CK_NONE, 422, 422, 400},
    {"json.metric_code", "POST", SUB, NULL, JSON,
	"{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{@P@:52}}", PL_JSON,
	W_SCHOOL, NULL, 0, CK_NONE, 422, 422, 400},
    {"json.value", "POST", SUB, NULL, JSON,
	"{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":@P@}}",
	PL_JSON, W_SCHOOL, NULL, 0, CK_NONE, 422, 422, 400},
    {"json.field_name", "POST", SUB, NULL, JSON, SCHOOL_OBS ",@P@:1}", PL_JSON, W_SCHOOL, NULL,
	0, CK_NONE, 422, 422, 400},
    {"json.rate_field", "POST", SUB, NULL, JSON,
	"{\"school\":\"" JUNIOR "\",\"period\":\"2020-2021\",\"metrics\":{\"junior_progression_rate\":"
	"{\"numerator\":49,\"denominator\":50,@P@:1}}}",
	PL_JSON, W_REPORTER, NULL, 0, CK_NONE, 422, 422, 400},
    {"json.batch_school", "POST", SUB, NULL, JSON,
	"[" SCHOOL_OBS "},{\"school\":@P@,\"period\":\"2021-2022-2\","
	"\"metrics\":{\"class_size_max\":52}}]",
	PL_JSON, W_SCHOOL, NULL, 0, CK_NONE, 403, 422, 400},
    {"json.submission_id", "POST", SUB, NULL, JSON, SCHOOL_OBS ",\"submission_id\":@P@}",
	PL_JSON, W_SCHOOL, sid_ok, 201, CK_SUBMISSION_KEY, 422, 422, 400},
    /* POST /v1/submissions, headers. */
    {"header.idempotency_key", "POST", SUB, "Idempotency-Key: @P@\r\n", JSON, JUNIOR_OBS,
	PL_HEADER, W_REPORTER, key_ok, 201, CK_SUBMISSION_KEY, 400, 400, 400},
    {"header.content_type", "POST", SUB, NULL, "application/json; charset=@P@", SCHOOL_OBS "}",
	PL_HEADER, W_SCHOOL, NULL, 0, CK_NONE, 415, 415, 400},
    {"header.authorization", "POST", SUB, "Authorization: Bearer @P@\r\n", JSON,
	SCHOOL_OBS "}", PL_HEADER, W_COUNT, NULL, 0, CK_NONE, 401, 401, 400},
    /* A valid token followed by the payload: still not that token. */
    {"header.authorization_suffix", "POST", SUB, "Authorization: Bearer @T@@P@\r\n", JSON,
	SCHOOL_OBS "}", PL_HEADER, W_COUNT, NULL, 0, CK_NONE, 401, 401, 400},
    /* POST /v1/submissions, CSV. */
    {"csv.school", "POST", SUB, NULL, CSV, CSV_HEAD "@P@,2021-2022-1,class_size_max,48,,\r\n",
	PL_CSV, W_SCHOOL, NULL, 0, CK_NONE, 403, 422, 400},
    {"csv.period", "POST", SUB, NULL, CSV, CSV_HEAD SCHOOL ",@P@,class_size_max,48,,\r\n", PL_CSV,
	W_SCHOOL, NULL, 0, CK_NONE, 422, 422, 400},
    {"csv.metric", "POST", SUB, NULL, CSV, CSV_HEAD SCHOOL ",2021-2022-1,@P@,48,,\r\n", PL_CSV,
	W_SCHOOL, NULL, 0, CK_NONE, 422, 422, 400},
    {"csv.value", "POST", SUB, NULL, CSV, CSV_HEAD SCHOOL ",2021-2022-1,class_size_max,@P@,,\r\n",
	PL_CSV, W_SCHOOL, NULL, 0, CK_NONE, 422, 422, 400},
    {"csv.numerator", "POST", SUB, NULL, CSV,
	CSV_HEAD JUNIOR ",2020-2021,junior_progression_rate,,@P@,100\r\n", PL_CSV, W_REPORTER, NULL,
	0, CK_NONE, 422, 422, 400},
    {"csv.denominator", "POST", SUB, NULL, CSV,
	CSV_HEAD JUNIOR ",2020-2021,junior_progression_rate,,98,@P@\r\n", PL_CSV, W_REPORTER, NULL,
	0, CK_NONE, 422, 422, 400},
    /* GET /v1/alerts: every parameter, and a parameter's name. */
    ALERTS_Q("state"), ALERTS_Q("severity"), ALERTS_Q("district"), ALERTS_Q("unit"),
    ALERTS_Q("school"), ALERTS_Q("metric"), ALERTS_Q("rule"), ALERTS_Q("period"),
    ALERTS_Q("since"), ALERTS_Q("acked"), ALERTS_Q("limit"), ALERTS_Q("cursor"),
    {"alerts.name", "GET", "/v1/alerts?@P@=1", NULL, NULL, NULL, PL_QUERY, W_MONITOR, NULL, 0,
	CK_NONE, 400, 400, 400},
    /* GET /v1/alerts/{id}, POST /v1/alerts/{id}/ack: the id. */
    {"alert.id", "GET", "/v1/alerts/@P@", NULL, NULL, NULL, PL_PATH, W_MONITOR, NULL, 0, CK_NONE,
	404, 404, 404},
    {"ack.id", "POST", "/v1/alerts/@P@/ack", NULL, NULL, NULL, PL_PATH, W_MONITOR, NULL, 0,
	CK_NONE, 404, 404, 404},
    /* POST /v1/alerts/{id}/ack: the body. */
    {"ack.by", "POST", "/v1/alerts/@A@/ack", NULL, JSON, "{\"by\":@P@}", PL_JSON, W_MONITOR,
	by_ok, 200, CK_ACK_BY, 400, 400, 400},
    {"ack.note", "POST", "/v1/alerts/@A@/ack", NULL, JSON, "{\"note\":@P@}", PL_JSON, W_MONITOR,
	note_ok, 200, CK_ACK_NOTE, 400, 400, 400},
    {"ack.member_name", "POST", "/v1/alerts/@A@/ack", NULL, JSON, "{@P@:\"x\"}", PL_JSON,
	W_MONITOR, NULL, 0, CK_NONE, 400, 400, 400},
    /* GET /v1/alerts/stream. */
    {"stream.last_event_id_header", "GET", "/v1/alerts/stream", "Last-Event-ID: @P@\r\n", NULL,
	NULL, PL_HEADER, W_MONITOR, NULL, 0, CK_NONE, 400, 400, 400},
    {"stream.last_event_id", "GET", "/v1/alerts/stream?last_event_id=@P@", NULL, NULL, NULL,
	PL_QUERY, W_MONITOR, NULL, 0, CK_NONE, 400, 400, 400},
    {"stream.name", "GET", "/v1/alerts/stream?@P@=1", NULL, NULL, NULL, PL_QUERY, W_MONITOR, NULL,
	0, CK_NONE, 400, 400, 400},
    /* The silences API: the body's members, the list's query, the id. */
    {"silence.by", "POST", "/v1/silences", NULL, JSON, SIL_BODY("\"comment\":\"c\",\"by\":@P@"),
	PL_JSON, W_MONITOR, by_ok, 201, CK_SILENCE_BY, 400, 400, 400},
    {"silence.comment", "POST", "/v1/silences", NULL, JSON,
	SIL_BODY("\"by\":\"b\",\"comment\":@P@"), PL_JSON, W_MONITOR, note_ok, 201,
	CK_SILENCE_COMMENT, 400, 400, 400},
    {"silence.label_value", "POST", "/v1/silences", NULL, JSON,
	SIL_BODY("\"by\":\"b\",\"comment\":\"c\",\"label\":{\"team\":@P@}"), PL_JSON, W_MONITOR,
	by_ok, 201, CK_SILENCE_LABEL, 400, 400, 400},
    {"silence.label_key", "POST", "/v1/silences", NULL, JSON,
	SIL_BODY("\"by\":\"b\",\"comment\":\"c\",\"label\":{@P@:\"x\"}"), PL_JSON, W_MONITOR,
	NULL, 0, CK_NONE, 400, 400, 400},
    {"silence.unit", "POST", "/v1/silences", NULL, JSON,
	SIL_BODY("\"by\":\"b\",\"comment\":\"c\",\"unit\":@P@"), PL_JSON, W_MONITOR, NULL, 0,
	CK_NONE, 400, 400, 400},
    {"silence.rule", "POST", "/v1/silences", NULL, JSON,
	SIL_BODY("\"by\":\"b\",\"comment\":\"c\",\"rule\":@P@"), PL_JSON, W_MONITOR, NULL, 0,
	CK_NONE, 400, 400, 400},
    {"silence.metric", "POST", "/v1/silences", NULL, JSON,
	SIL_BODY("\"by\":\"b\",\"comment\":\"c\",\"metric\":@P@"), PL_JSON, W_MONITOR, NULL, 0,
	CK_NONE, 400, 400, 400},
    {"silence.member_name", "POST", "/v1/silences", NULL, JSON,
	SIL_BODY("\"by\":\"b\",\"comment\":\"c\",@P@:1"), PL_JSON, W_MONITOR, NULL, 0, CK_NONE,
	400, 400, 400},
    {"silence.list_all", "GET", "/v1/silences?all=@P@", NULL, NULL, NULL, PL_QUERY, W_MONITOR,
	NULL, 0, CK_NONE, 400, 400, 400},
    {"silence.list_name", "GET", "/v1/silences?@P@=1", NULL, NULL, NULL, PL_QUERY, W_MONITOR,
	NULL, 0, CK_NONE, 400, 400, 400},
    {"silence.expire_id", "POST", "/v1/silences/@P@/expire", NULL, NULL, NULL, PL_PATH,
	W_MONITOR, NULL, 0, CK_NONE, 404, 404, 404},
};

#define NFIELDS (sizeof fields / sizeof fields[0])

struct env {
	char *db;
	PGconn *pg;
	char *token[W_COUNT];
	long alert_id;
	long canary_tables, units, tokens, alerts;
	long submissions, observations; /* what the requests should have left */
	unsigned long cases;
	struct tl_daemon *d;
	int port;
};

static struct env E;

static void
exec_ok(const char *sql)
{
	tl_exec(E.pg, sql);
}

static long
count(const char *sql)
{
	return tl_query_long(E.pg, sql);
}

/* An alert of SCHOOL, within the monitor's reach, for the ack rows. */
static void
insert_alert(void)
{
	E.alert_id = count(
	    "INSERT INTO edumon.alert (fingerprint, rule_id, rule_sha256, unit_id, metric_id,"
	    " period, period_start, period_end, state, severity, value, bound, op, title, message,"
	    " fired_at, updated_at) SELECT repeat('f', 64), 'class_size', repeat('0', 64), u.id,"
	    " m.id, '2025-2026-1', '2025-09-01', '2026-02-01', 'firing', 'warning', 60, 56, '>=',"
	    " 't', 'm', now(), now() FROM edumon.org_unit u, edumon.metric m"
	    " WHERE u.code = '" SCHOOL "' AND m.code = 'class_size_max' RETURNING id");
	cr_assert_gt(E.alert_id, 0);
}

/* What the injection payloads must not have touched. */
static void
snapshot_counts(void)
{
	E.canary_tables = count("SELECT count(*) FROM pg_tables WHERE schemaname IN"
				" ('edumon', 'public')");
	E.units = count("SELECT count(*) FROM edumon.org_unit");
	E.tokens = count("SELECT count(*) FROM edumon.api_token WHERE revoked_at IS NULL");
	E.alerts = count("SELECT count(*) FROM edumon.alert");
	E.submissions = count("SELECT count(*) FROM edumon.submission");
	E.observations = count("SELECT count(*) FROM edumon.observation");
}

static void
setup(void)
{
	static const char *const args[W_COUNT] = {"--school " SCHOOL, "--reporter 320703",
	    "--monitor 320703 --label " MONITOR_LABEL};
	struct tl_resp r;
	char headers[256];

	memset(&E, 0, sizeof E);
	for (size_t i = 0, n = 0; i < LONG_REPEAT; i++, n += 3)
		memcpy(long_text + n, "＇", 3);
	memset(long_text + LONG_REPEAT * 3, '\'', LONG_REPEAT);
	for (size_t i = 0; i < NPAYLOADS; i++)
		if (payloads[i].len == 0)
			payloads[i].len = strlen(payloads[i].s);
	E.db = tl_db_create("inject");
	E.pg = tl_db_connect(E.db);
	for (int w = 0; w < W_COUNT; w++)
		E.token[w] = tl_token(E.db, args[w]);
	exec_ok("CREATE TABLE public.canary (x int); INSERT INTO public.canary VALUES (42)");
	insert_alert();
	E.d = tl_daemon_start(E.db, "--alerts 0");
	E.port = tl_daemon_port(E.d);
	tl_wait_ready(E.port);
	/* One stored observation a payload could destroy. */
	snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\nContent-Type: " JSON "\r\n",
	    E.token[W_SCHOOL]);
	cr_assert_eq(tl_http(E.port, "POST", SUB, headers, SCHOOL_OBS "}", strlen(SCHOOL_OBS "}"), &r),
	    0);
	cr_assert_eq(r.status, 201, "%s", r.body);
	tl_resp_free(&r);
	snapshot_counts();
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	for (int w = 0; w < W_COUNT; w++)
		free(E.token[w]);
}

/* The payload encoded for its place, into b. */
static void
encode(struct buf *b, enum place place, const struct payload *p)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < p->len; i++) {
		unsigned char c = (unsigned char)p->s[i];

		switch (place) {
		case PL_JSON:
			if (i == 0)
				buf_putc(b, '"');
			if (c == '"' || c == '\\')
				buf_printf(b, "\\%c", c);
			else if (c < 0x20)
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, (char)c);
			if (i + 1 == p->len)
				buf_putc(b, '"');
			break;
		case PL_CSV:
			if (i == 0)
				buf_putc(b, '"');
			if (c == '"')
				buf_putc(b, '"');
			buf_putc(b, (char)c);
			if (i + 1 == p->len)
				buf_putc(b, '"');
			break;
		case PL_QUERY:
		case PL_PATH:
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.' || c == '~')
				buf_putc(b, (char)c);
			else
				buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
			break;
		case PL_HEADER:
			buf_putc(b, (char)c);
			break;
		}
	}
}

/* Append tmpl to b with "@P@" replaced by the encoded payload and the
 * other markers by the fixture's alert id and a valid school token. */
static void
fill(struct buf *b, const char *tmpl, enum place place, const struct payload *p)
{
	while (*tmpl != '\0') {
		if (strncmp(tmpl, "@P@", 3) == 0)
			encode(b, place, p);
		else if (strncmp(tmpl, "@A@", 3) == 0)
			buf_printf(b, "%ld", E.alert_id);
		else if (strncmp(tmpl, "@T@", 3) == 0)
			buf_puts(b, E.token[W_SCHOOL]);
		else {
			buf_putc(b, *tmpl++);
			continue;
		}
		tmpl += 3;
	}
}

/* The request of field f with payload p, whole; its body into *body. */
static void
build(struct buf *req, struct buf *body, const struct field *f, const struct payload *p)
{
	buf_puts(req, f->method);
	buf_putc(req, ' ');
	fill(req, f->path, f->place, p);
	buf_puts(req, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
	if (f->who != W_COUNT)
		buf_printf(req, "Authorization: Bearer %s\r\n", E.token[f->who]);
	if (f->header != NULL)
		fill(req, f->header, f->place, p);
	if (f->ctype != NULL) {
		buf_puts(req, "Content-Type: ");
		fill(req, f->ctype, f->place, p);
		buf_puts(req, "\r\n");
	}
	if (f->body != NULL)
		fill(body, f->body, f->place, p);
	buf_printf(req, "Content-Length: %zu\r\n\r\n", body->len);
	buf_append(req, body->data != NULL ? body->data : "", body->len);
}

/* Whether the value of sql's first row and column is exactly want[0..len). */
static bool
stored_is(const char *sql, const char *want, size_t len, char **got)
{
	PGresult *r = PQexec(E.pg, sql);
	bool same;

	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(E.pg));
	cr_assert_eq(PQntuples(r), 1, "%s: one row", sql);
	same = !PQgetisnull(r, 0, 0) && (size_t)PQgetlength(r, 0, 0) == len &&
	    memcmp(PQgetvalue(r, 0, 0), want, len) == 0;
	*got = strdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return same;
}

static void
expect_stored(const char *what, const char *sql, const char *want, size_t len)
{
	char *got;

	cr_expect(stored_is(sql, want, len, &got), "%s: stored \"%s\", sent \"%.*s\"", what, got,
	    (int)len, want);
	free(got);
}

/* Read back what an accepted request stored, byte for byte. */
static void
verify_stored(const struct field *f, const struct payload *p, const struct buf *body,
    const struct tl_resp *r)
{
	char sql[512];
	struct buf note;

	switch (f->check) {
	case CK_NONE:
		return;
	case CK_SUBMISSION_KEY: {
		cJSON *j = cJSON_Parse(r->body);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "submission_id");
		const cJSON *added = cJSON_GetObjectItemCaseSensitive(j, "new");

		cr_assert(cJSON_IsString(id) && cJSON_IsNumber(added), "%s: a receipt: %s", f->name,
		    r->body);
		E.submissions++;
		E.observations += (long)added->valuedouble;
		snprintf(sql, sizeof sql, "SELECT idempotency_key FROM edumon.submission WHERE id = '%s'",
		    id->valuestring);
		expect_stored(f->name, sql, p->s, p->len);
		snprintf(sql, sizeof sql, "SELECT body FROM edumon.submission WHERE id = '%s'",
		    id->valuestring);
		expect_stored(f->name, sql, body->data, body->len);
		cJSON_Delete(j);
		return;
	}
	case CK_ACK_BY:
	case CK_ACK_NOTE:
		snprintf(sql, sizeof sql, "SELECT %s FROM edumon.alert WHERE id = %ld",
		    f->check == CK_ACK_BY ? "acked_by" : "ack_note", E.alert_id);
		expect_stored(f->name, sql, p->s, p->len);
		buf_init(&note);
		if (f->check == CK_ACK_NOTE)
			buf_puts(&note, MONITOR_LABEL ": ");
		buf_append(&note, p->s, p->len);
		snprintf(sql, sizeof sql,
		    "SELECT note FROM edumon.alert_event WHERE alert_id = %ld AND kind = 'acknowledged'"
		    " ORDER BY id DESC LIMIT 1",
		    E.alert_id);
		expect_stored("the acknowledged event's note", sql, note.data, note.len);
		buf_free(&note);
		return;
	case CK_SILENCE_BY:
	case CK_SILENCE_COMMENT:
	case CK_SILENCE_LABEL: {
		cJSON *j = cJSON_Parse(r->body);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");

		cr_assert(cJSON_IsNumber(id), "%s: a silence: %s", f->name, r->body);
		snprintf(sql, sizeof sql, "SELECT %s FROM edumon.silence WHERE id = %ld",
		    f->check == CK_SILENCE_BY ? "created_by" :
		    f->check == CK_SILENCE_COMMENT ? "comment" : "label_value",
		    (long)id->valuedouble);
		expect_stored(f->name, sql, p->s, p->len);
		cJSON_Delete(j);
		return;
	}
	}
}

static double
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The status field f must answer for payload p. */
static int
want_status(const struct field *f, const struct payload *p)
{
	if (has_nul(p) && f->place == PL_HEADER)
		return 400;
	if (f->admit != NULL && f->admit(p))
		return f->ok;
	if (has_nul(p))
		return f->want_nul;
	if (p == &payloads[NPAYLOADS - 1])
		return f->want_long;
	return f->want;
}

/* Send field f with payload p and check the answer and what was stored. */
static void
run_case(const struct field *f, const struct payload *p)
{
	struct buf req, body;
	struct tl_resp r;
	struct timespec t0;
	int want = want_status(f, p);
	double ms;

	if (f->check == CK_ACK_BY || f->check == CK_ACK_NOTE) {
		char sql[256];

		snprintf(sql, sizeof sql,
		    "UPDATE edumon.alert SET acked_at = NULL, acked_by = NULL, ack_note = NULL,"
		    " acked_token_id = NULL WHERE id = %ld",
		    E.alert_id);
		exec_ok(sql);
	}
	buf_init(&req);
	buf_init(&body);
	build(&req, &body, f, p);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(tl_http_raw(E.port, req.data, req.len, &r), 0,
	    "%s with %s: an answer within 5 s", f->name, p->name);
	ms = elapsed_ms(&t0);
	E.cases++;
	cr_expect_lt(ms, MAX_MS, "%s with %s took %.0f ms", f->name, p->name, ms);
	cr_expect_eq(r.status, want, "%s with %s: %d, want %d: %s", f->name, p->name, r.status,
	    want, r.body);
	cr_expect(utf8_valid(r.body, r.body_len), "%s with %s: the answer is UTF-8: %s", f->name,
	    p->name, r.body);
	if (r.status >= 400) {
		cJSON *j = cJSON_Parse(r.body);

		cr_expect(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")),
		    "%s with %s: a JSON error document: %s", f->name, p->name, r.body);
		cJSON_Delete(j);
	} else if (r.status == want) {
		verify_stored(f, p, &body, &r);
	}
	tl_resp_free(&r);
	buf_free(&req);
	buf_free(&body);
}

/* Nothing ran: the canary and every table are there, the counts as expected. */
static void
expect_intact(void)
{
	cr_expect_eq(count("SELECT count(*) FROM public.canary WHERE x = 42"), 1, "the canary");
	cr_expect_eq(count("SELECT count(*) FROM public.canary"), 1);
	cr_expect_eq(count("SELECT count(*) FROM pg_tables WHERE schemaname IN"
			   " ('edumon', 'public')"),
	    E.canary_tables, "no table dropped or created");
	cr_expect_eq(count("SELECT count(*) FROM edumon.org_unit"), E.units);
	cr_expect_eq(count("SELECT count(*) FROM edumon.api_token WHERE revoked_at IS NULL"),
	    E.tokens);
	cr_expect_eq(count("SELECT count(*) FROM edumon.alert"), E.alerts);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), E.submissions,
	    "only the accepted submissions were stored");
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), E.observations);
	cr_expect_eq(count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
			   " AND state = 'active' AND pid <> pg_backend_pid()"),
	    0, "no statement of the daemon's still running (a pg_sleep)");
}

/* Every payload in every field whose name starts with prefix. */
static void
run_fields(const char *prefix)
{
	struct tl_resp r;
	unsigned long before = E.cases;

	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];

		if (strncmp(f->name, prefix, strlen(prefix)) != 0)
			continue;
		for (size_t k = 0; k < NPAYLOADS; k++) {
			/* A header cannot hold a line end: the client would be writing
			 * headers of its own, not a value. */
			if (f->place == PL_HEADER && has_line_end(&payloads[k]))
				continue;
			run_case(f, &payloads[k]);
		}
		cr_assert_eq(tl_http(E.port, "GET", "/healthz", NULL, NULL, 0, &r), 0,
		    "the daemon is alive after %s", f->name);
		cr_expect_eq(r.status, 200);
		tl_resp_free(&r);
	}
	cr_assert_gt(E.cases, before, "fields named %s*", prefix);
	cr_log_info("%s: %lu cases", prefix, E.cases - before);
	expect_intact();
}

TestSuite(injection, .init = setup, .fini = teardown, .timeout = 60);

Test(injection, submission_json)
{
	run_fields("json.");
}

Test(injection, submission_headers)
{
	run_fields("header.");
}

Test(injection, submission_csv)
{
	run_fields("csv.");
}

Test(injection, alert_queries_and_ids)
{
	run_fields("alerts.");
	run_fields("alert.");
	run_fields("ack.id");
}

Test(injection, silences_api)
{
	run_fields("silence.");
}

Test(injection, ack_body)
{
	run_fields("ack.by");
	run_fields("ack.note");
	run_fields("ack.member_name");
}

Test(injection, stream)
{
	run_fields("stream.");
}

/* The table itself: every field is run by some test above. */
Test(injection_table, every_field_is_run)
{
	static const char *const prefixes[] = {"json.", "header.", "csv.", "alerts.", "alert.",
	    "ack.", "stream.", "silence."};
	size_t covered = 0;

	for (size_t i = 0; i < NFIELDS; i++)
		for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
			if (strncmp(fields[i].name, prefixes[k], strlen(prefixes[k])) == 0) {
				covered++;
				break;
			}
	cr_expect_eq(covered, NFIELDS);
}
