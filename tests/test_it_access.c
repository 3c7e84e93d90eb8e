/*
 * test_it_access.c: who may use which endpoint, and what a token cannot
 * reach (issue 5, "Access"), against the real edumond and PostgreSQL.
 *
 * The matrix: every route of lib/server.c's route table x every kind of
 * credential -> the status. The routes are not listed by hand: the test
 * reads the table itself (server_route_count, server_route, linked from
 * libedumon) and fails if a route has no row here, or a row names no
 * route, so a route added later without its row makes this test fail.
 * (Probing /v1 paths for 404s would only find routes that someone thought
 * to probe.) A request that passes authentication meets a deliberately
 * empty or wrong body or parameter where a 2xx would need one, so the
 * status shows that the handler was reached (400, not 401 or 403).
 *
 * Also covered elsewhere, not repeated here:
 *   test_it_ingest.c authentication_and_reach: a school token writing
 *     another school by JSON (403, messages differing only by the code);
 *   test_it_ingest.c / test_it_alerts_api.c unauthorized /
 *     test_it_stream.c revoked_token_ends_stream: revocation takes effect
 *     without a restart (here the token is revoked before the start);
 *   test_it_alerts_api.c out_of_reach_codes_look_unknown: filter codes out
 *     of reach read like unknown ones; not_found_hides_other_subtrees and
 *     ack_out_of_reach_changes_nothing: the bodies of a foreign and an
 *     unknown alert id are equal (here the whole responses are compared);
 *   test_it_stream.c lifecycle_in_scope_only: a stream carries only its
 *     subtree; who_may_stream: a monitor or admin stream opens (200).
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"
#include "testlib.h"
#include "util.h"

#define SCHOOL "2132070301"  /* primary, district 320703 */
#define FOREIGN "3132070601" /* junior, district 320706 */
#define UNKNOWN "3132079999" /* no such unit; as long as FOREIGN */

enum cred {
	C_NONE,      /* no Authorization header */
	C_MALFORMED, /* Bearer, but not a token's shape */
	C_SCHEME,    /* the admin token under another scheme */
	C_PREFIX,    /* the admin token with another prefix */
	C_UNKNOWN,   /* a token's shape, never issued */
	C_REVOKED,   /* an admin token, revoked */
	C_SCHOOL,
	C_REPORTER,
	C_MONITOR,
	C_ADMIN,
	C_COUNT
};

static const char *const cred_names[C_COUNT] = {"none", "malformed", "scheme", "prefix",
    "unknown", "revoked", "school", "reporter", "monitor", "admin"};

/* One route of the table; "{id}" is replaced by an alert of the monitor's
 * (under /v1/silences/, a silence of the monitor's). */
struct row {
	const char *method;
	const char *path;
	const char *suffix; /* appended to the path */
	const char *body;   /* sent as application/json when not NULL */
	int want[C_COUNT];
};

#define DENIED 401, 401, 401, 401, 401, 401
#define PUBLIC {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}

static const struct row matrix[] = {
    /* Health and metrics are for the operator's probes: no token asked. */
    {"GET", "/healthz", "", NULL, PUBLIC},
    {"GET", "/readyz", "", NULL, PUBLIC},
    {"GET", "/metrics", "", NULL, PUBLIC},
    /* An empty JSON body: 400 once past authentication and role. */
    {"POST", "/v1/submissions", "", "", {DENIED, 400, 400, 403, 400}},
    {"GET", "/v1/alerts", "", NULL, {DENIED, 403, 403, 200, 200}},
    /* A bad last_event_id, so that an allowed stream answers 400, not 200
     * and an endless body. */
    {"GET", "/v1/alerts/stream", "?last_event_id=x", NULL, {DENIED, 403, 403, 400, 400}},
    {"GET", "/v1/alerts/{id}", "", NULL, {DENIED, 403, 403, 200, 200}},
    {"POST", "/v1/alerts/{id}/ack", "", NULL, {DENIED, 403, 403, 200, 200}},
    {"GET", "/v1/silences", "", NULL, {DENIED, 403, 403, 200, 200}},
    {"POST", "/v1/silences", "", "", {DENIED, 403, 403, 400, 400}},
    /* Expiring twice is no error: the second answers the silence as it is. */
    {"POST", "/v1/silences/{id}/expire", "", NULL, {DENIED, 403, 403, 200, 200}},
};

struct env {
	char *db;
	PGconn *pg;
	char *token[C_COUNT]; /* the Authorization header line, or NULL */
	char *school, *reporter, *admin;
	long alert_own, alert_foreign, silence_own;
	struct tl_daemon *d;
	int port;
};

static struct env E;

static long
count(const char *sql)
{
	return tl_query_long(E.pg, sql);
}

/* A firing alert of unit code; returns its id. */
static long
insert_alert(const char *code, int n)
{
	char sql[1024];

	snprintf(sql, sizeof sql,
	    "INSERT INTO edumon.alert (fingerprint, rule_id, rule_sha256, unit_id, metric_id,"
	    " period, period_start, period_end, state, severity, value, bound, op, title, message,"
	    " fired_at, updated_at) SELECT repeat('%d', 64), 'class_size', repeat('0', 64), u.id,"
	    " m.id, '2025-2026-1', '2025-09-01', '2026-02-01', 'firing', 'warning', 60, 56, '>=',"
	    " 't', 'm', now(), now() FROM edumon.org_unit u, edumon.metric m"
	    " WHERE u.code = '%s' AND m.code = 'class_size_max' RETURNING id",
	    n, code);
	return count(sql);
}

static char *
bearer(const char *scheme, const char *token)
{
	char *h = malloc(strlen(scheme) + strlen(token) + 32);

	sprintf(h, "Authorization: %s %s\r\n", scheme, token);
	return h;
}

static void
setup(void)
{
	char *revoked, *monitor, *cmd, *id, *prefixed;

	memset(&E, 0, sizeof E);
	E.db = tl_db_create("access");
	E.pg = tl_db_connect(E.db);
	revoked = tl_token(E.db, "--admin --label gone");
	id = tl_query_value(E.pg, "SELECT id FROM edumon.api_token WHERE label = 'gone'");
	cmd = malloc(strlen(E.db) + 256);
	sprintf(cmd, "%s/edumon --database '%s' token revoke %s", tl_build_dir(), E.db, id);
	cr_assert_eq(tl_run(cmd, NULL), 0, "%s", cmd);
	free(cmd);
	free(id);
	E.school = tl_token(E.db, "--school " SCHOOL);
	E.reporter = tl_token(E.db, "--reporter 320703");
	monitor = tl_token(E.db, "--monitor 320703");
	E.admin = tl_token(E.db, "--admin");
	prefixed = strdup(E.admin);
	memcpy(prefixed, "edx_", 4);
	E.token[C_MALFORMED] = strdup("Authorization: Bearer edm_' OR '1'='1\r\n");
	E.token[C_SCHEME] = bearer("Token", E.admin);
	E.token[C_PREFIX] = bearer("Bearer", prefixed);
	E.token[C_UNKNOWN] = bearer("Bearer", "edm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	E.token[C_REVOKED] = bearer("Bearer", revoked);
	E.token[C_SCHOOL] = bearer("Bearer", E.school);
	/* The scheme is case-insensitive (RFC 7235 section 2.1): two roles spell it otherwise. */
	E.token[C_REPORTER] = bearer("bearer", E.reporter);
	E.token[C_MONITOR] = bearer("BEARER", monitor);
	E.token[C_ADMIN] = bearer("Bearer", E.admin);
	free(prefixed);
	free(monitor);
	free(revoked);
	E.alert_own = insert_alert(SCHOOL, 1);
	E.alert_foreign = insert_alert(FOREIGN, 2);
	cr_assert(E.alert_own > 0 && E.alert_foreign > 0);
	E.silence_own = count("INSERT INTO edumon.silence (unit_id, ends_at, created_by, comment)"
	                      " SELECT id, now() + interval '1 day', 'test', 'access matrix'"
	                      " FROM edumon.org_unit WHERE code = '320703' RETURNING id");
	cr_assert_gt(E.silence_own, 0);
	E.d = tl_daemon_start(E.db, "--alerts 0");
	E.port = tl_daemon_port(E.d);
	tl_wait_ready(E.port);
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	for (int c = 0; c < C_COUNT; c++)
		free(E.token[c]);
	free(E.school);
	free(E.reporter);
	free(E.admin);
}

TestSuite(access, .init = setup, .fini = teardown, .timeout = 60);

/* The path of row r, with {id} made the monitor's own alert or silence. */
static void
row_path(const struct row *r, char *out, size_t len)
{
	const char *brace = strstr(r->path, "{id}");
	long id = strncmp(r->path, "/v1/silences/", 13) == 0 ? E.silence_own : E.alert_own;

	if (brace == NULL)
		snprintf(out, len, "%s%s", r->path, r->suffix);
	else
		snprintf(out, len, "%.*s%ld%s%s", (int)(brace - r->path), r->path, id, brace + 4,
		    r->suffix);
}

/* Every route of the table has exactly one row, and every row is a route. */
Test(access, matrix_covers_the_route_table)
{
	size_t n = server_route_count();
	bool seen[sizeof matrix / sizeof matrix[0]] = {false};

	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		const char *method, *path;
		size_t rows = 0;

		server_route(i, &method, &path);
		for (size_t k = 0; k < sizeof matrix / sizeof matrix[0]; k++)
			if (strcmp(matrix[k].method, method) == 0 && strcmp(matrix[k].path, path) == 0) {
				rows++;
				seen[k] = true;
			}
		cr_expect_eq(rows, 1, "route %s %s: %zu rows in the access matrix, want 1", method,
		    path, rows);
	}
	for (size_t k = 0; k < sizeof matrix / sizeof matrix[0]; k++)
		cr_expect(seen[k], "matrix row %s %s is no route", matrix[k].method, matrix[k].path);
}

Test(access, every_route_by_every_credential)
{
	char path[128], headers[512], *denied = NULL;
	size_t cells = 0;

	for (size_t k = 0; k < sizeof matrix / sizeof matrix[0]; k++) {
		const struct row *r = &matrix[k];

		row_path(r, path, sizeof path);
		for (int c = 0; c < C_COUNT; c++) {
			struct tl_resp resp;

			snprintf(headers, sizeof headers, "%s%s", E.token[c] != NULL ? E.token[c] : "",
			    r->body != NULL ? "Content-Type: application/json\r\n" : "");
			cr_assert_eq(tl_http(E.port, r->method, path, headers, r->body,
					 r->body != NULL ? strlen(r->body) : 0, &resp),
			    0, "%s %s as %s: answered", r->method, path, cred_names[c]);
			cr_expect_eq(resp.status, r->want[c], "%s %s as %s: %d, want %d: %s", r->method,
			    path, cred_names[c], resp.status, r->want[c], resp.body);
			if (resp.status == 401) {
				cr_expect_not_null(tl_resp_header(&resp, "WWW-Authenticate"), "%s %s as %s",
				    r->method, path, cred_names[c]);
				/* Malformed, unknown, revoked: one answer, so that none
				 * tells a token that existed from one that never did. */
				if (c != C_NONE && c != C_SCHEME) {
					if (denied == NULL)
						denied = strdup(resp.body);
					cr_expect_str_eq(resp.body, denied, "%s %s as %s", r->method, path,
					    cred_names[c]);
				}
			}
			tl_resp_free(&resp);
			cells++;
		}
	}
	cr_log_info("access matrix: %zu routes x %d credentials = %zu cells",
	    sizeof matrix / sizeof matrix[0], C_COUNT, cells);
	free(denied);
}

/* POST a submission as token; the response into *r. */
static void
submit(const char *token, const char *ctype, const char *body, struct tl_resp *r)
{
	char headers[256];

	snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\nContent-Type: %s\r\n", token,
	    ctype);
	cr_assert_eq(tl_http(E.port, "POST", "/v1/submissions", headers, body, strlen(body), r), 0);
}

/* body with every "@C@" made code. */
static char *
with_code(const char *body, const char *code)
{
	struct buf b;

	buf_init(&b);
	for (const char *p = body; *p != '\0';) {
		if (strncmp(p, "@C@", 3) == 0) {
			buf_puts(&b, code);
			p += 3;
		} else {
			buf_putc(&b, *p++);
		}
	}
	return buf_steal(&b);
}

/* The headers of r without Date (it may tick between two requests). */
static char *
headers_but_date(const struct tl_resp *r)
{
	struct buf b;

	buf_init(&b);
	for (const char *p = r->headers; *p != '\0';) {
		size_t n = strcspn(p, "\n") + (p[strcspn(p, "\n")] == '\n');

		if (strncasecmp(p, "Date:", 5) != 0)
			buf_append(&b, p, n);
		p += n;
	}
	return buf_steal(&b);
}

/*
 * The responses a and b are the same bytes (but for Date), after the code
 * each was asked about (ca in a, cb in b, of equal length; NULL: none) is
 * masked in its body.
 */
static void
expect_same_response(struct tl_resp *a, const char *ca, struct tl_resp *b, const char *cb,
    const char *what)
{
	char *ha = headers_but_date(a), *hb = headers_but_date(b);

	if (ca != NULL) {
		cr_assert_eq(strlen(ca), strlen(cb));
		for (char *p = a->body; (p = strstr(p, ca)) != NULL; p++)
			memset(p, '#', strlen(ca));
		for (char *p = b->body; (p = strstr(p, cb)) != NULL; p++)
			memset(p, '#', strlen(cb));
	}
	cr_expect_eq(a->status, b->status, "%s", what);
	cr_expect_str_eq(ha, hb, "%s: the same headers", what);
	cr_expect_eq(a->body_len, b->body_len, "%s", what);
	cr_expect_str_eq(a->body, b->body, "%s: the same body", what);
	free(ha);
	free(hb);
}

/*
 * A school token (and a district reporter) cannot write outside its reach,
 * in any form, even mixed with its own figures; nothing is stored; and the
 * answer for a foreign school is the answer for a school that does not
 * exist, byte for byte.
 */
Test(access, out_of_reach_writes_store_nothing_and_reveal_nothing)
{
	static const struct {
		const char *name;
		const char *ctype;
		const char *body;
		bool reporter; /* as the district reporter, not the school */
	} forms[] = {
	    {"json", "application/json",
		"{\"school\":\"@C@\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}", false},
	    {"json unit", "application/json",
		"{\"unit\":\"@C@\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}", false},
	    {"batch", "application/json",
		"[{\"school\":\"@C@\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}]", false},
	    {"batch mixed", "application/json",
		"[{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
		"\"metrics\":{\"class_size_max\":52}},"
		"{\"school\":\"@C@\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}]", false},
	    {"csv", "text/csv",
		"school,period,metric,value,numerator,denominator\r\n"
		"@C@,2021-2022-1,class_size_max,48,,\r\n", false},
	    {"csv mixed", "text/csv",
		"school,period,metric,value,numerator,denominator\r\n"
		SCHOOL ",2021-2022-1,class_size_max,48,,\r\n@C@,2021-2022-1,class_size_max,48,,\r\n", false},
	    {"csv gbk mixed", "text/csv; charset=gbk",
		SCHOOL ",2021-2022-1,class_size_max,48,,\r\n@C@,2021-2022-1,class_size_max,48,,\r\n", false},
	    {"reporter batch mixed", "application/json",
		"[{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
		"\"metrics\":{\"class_size_max\":52}},"
		"{\"school\":\"@C@\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}]",
		true},
	    {"reporter csv mixed", "text/csv",
		SCHOOL ",2021-2022-1,class_size_max,48,,\r\n@C@,2021-2022-1,class_size_max,48,,\r\n",
		true},
	};

	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		const char *token = forms[i].reporter ? E.reporter : E.school;
		char *fb = with_code(forms[i].body, FOREIGN), *ub = with_code(forms[i].body, UNKNOWN);
		struct tl_resp f, u;

		submit(token, forms[i].ctype, fb, &f);
		submit(token, forms[i].ctype, ub, &u);
		cr_expect_eq(f.status, 403, "%s: %d %s", forms[i].name, f.status, f.body);
		expect_same_response(&f, FOREIGN, &u, UNKNOWN, forms[i].name);
		tl_resp_free(&f);
		tl_resp_free(&u);
		free(fb);
		free(ub);
	}
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 0, "nothing stored");
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), 0);
}

/*
 * A monitor asking for, or acknowledging, another district's alert by id
 * gets the very response of an id that does not exist; the alert is not
 * acknowledged.
 */
Test(access, foreign_alert_reads_as_no_alert)
{
	static const char *const kinds[][2] = {{"GET", ""}, {"POST", "/ack"}};
	char fpath[64], upath[64];
	struct tl_resp f, u;

	for (size_t i = 0; i < 2; i++) {
		snprintf(fpath, sizeof fpath, "/v1/alerts/%ld%s", E.alert_foreign, kinds[i][1]);
		snprintf(upath, sizeof upath, "/v1/alerts/%ld%s", E.alert_foreign + 1000000,
		    kinds[i][1]);
		cr_assert_eq(tl_http(E.port, kinds[i][0], fpath, E.token[C_MONITOR], NULL, 0, &f), 0);
		cr_assert_eq(tl_http(E.port, kinds[i][0], upath, E.token[C_MONITOR], NULL, 0, &u), 0);
		cr_expect_eq(f.status, 404, "%s %s: %s", kinds[i][0], fpath, f.body);
		expect_same_response(&f, NULL, &u, NULL, fpath);
		tl_resp_free(&f);
		tl_resp_free(&u);
	}
	cr_expect_eq(count("SELECT count(*) FROM edumon.alert WHERE acked_at IS NOT NULL"), 0);
	cr_expect_eq(count("SELECT count(*) FROM edumon.alert_event"), 0);
}
