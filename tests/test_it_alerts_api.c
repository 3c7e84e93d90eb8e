/*
 * test_it_alerts_api.c: GET /v1/alerts, GET /v1/alerts/{id} and POST
 * /v1/alerts/{id}/ack end to end: the real edumond, a real PostgreSQL,
 * real sockets. Alerts are inserted with SQL as the superuser (the rule
 * engine is not involved); each test gets a fresh database and daemon.
 *
 * Fixture (deploy/demo/units.csv: city 3207 > districts 320703, 320706):
 *   #  unit        rule         metric                   period       state     severity updated (UTC)
 *   1  2132070301  class_size   class_size_max           2025-2026-1  firing    warning  03-01
 *   2  3132070301  class_size   class_size_max           2025-2026-1  resolved  critical 03-02
 *   3  320703      progression  junior_progression_rate  2024-2025    firing    critical 03-03, acked
 *   4  3132070601  class_size   class_size_max           2025-2026-1  firing    warning  03-04
 *   5  3207        progression  junior_progression_rate  2024-2025    firing    info     03-05
 *   6  2132070301  drills       emergency_drills         2026-02      firing    info     03-06
 * Alerts 1-3 and 6 lie in 320703, 4 in 320706, 5 is the city's own.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

#define NALERTS 6
#define TITLE6 "应急演练\"次数\"不足"
#define MESSAGE6 "连云区实验小学 2026-02 应急演练 0 次，\n应不少于 1 次"

struct env {
	char *db;
	PGconn *pg;
	char *school, *reporter, *monitor, *city, *other, *admin;
	long monitor_id, admin_id;
	long id[NALERTS + 1]; /* alert ids by fixture number */
	struct tl_daemon *d;
	int port;
};

static struct env E;

/* Run sql on c; fails the test unless it succeeds. */
static void
exec_on(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
	    "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static void
exec_ok(const char *sql)
{
	exec_on(E.pg, sql);
}

static long
count(const char *sql)
{
	char *v = tl_query_value(E.pg, sql);
	long n = v ? atol(v) : -1;

	free(v);
	return n;
}

/* Insert fixture alert n; returns its id. */
static long
insert_alert(int n, const char *unit, const char *rule, const char *metric, const char *period,
    const char *start, const char *end, const char *state, const char *severity,
    const char *updated, const char *title, const char *message)
{
	char sql[2048];
	bool resolved = strcmp(state, "resolved") == 0;

	snprintf(sql, sizeof sql,
	    "INSERT INTO edumon.alert (fingerprint, rule_id, rule_sha256, unit_id, metric_id,"
	    " period, period_start, period_end, state, severity, value, bound, op, title, message,"
	    " fired_at, updated_at, resolved_at, resolved_value)"
	    " SELECT encode(sha256('%d'::bytea), 'hex'), '%s', repeat('0', 64), u.id, m.id,"
	    " '%s', '%s', '%s', '%s', '%s', 0.5, 0.98, '<', $t$%s$t$, $m$%s$m$,"
	    " '%sT00:00:00Z'::timestamptz - interval '1 day', '%sT00:00:00Z', %s, %s"
	    " FROM edumon.org_unit u, edumon.metric m WHERE u.code = '%s' AND m.code = '%s'"
	    " RETURNING id",
	    n, rule, period, start, end, state, severity, title, message, updated, updated,
	    resolved ? "'2026-03-02T00:00:00Z'" : "NULL", resolved ? "0.99" : "NULL", unit, metric);
	return count(sql);
}

static void
insert_fixture(void)
{
	char sql[512];

	E.id[1] = insert_alert(1, "2132070301", "class_size", "class_size_max", "2025-2026-1",
	    "2025-09-01", "2026-02-01", "firing", "warning", "2026-03-01", "大班额", "班额超标");
	E.id[2] = insert_alert(2, "3132070301", "class_size", "class_size_max", "2025-2026-1",
	    "2025-09-01", "2026-02-01", "resolved", "critical", "2026-03-02", "大班额", "班额超标");
	E.id[3] = insert_alert(3, "320703", "progression", "junior_progression_rate", "2024-2025",
	    "2024-09-01", "2025-09-01", "firing", "critical", "2026-03-03", "升学率", "升学率偏低");
	E.id[4] = insert_alert(4, "3132070601", "class_size", "class_size_max", "2025-2026-1",
	    "2025-09-01", "2026-02-01", "firing", "warning", "2026-03-04", "大班额", "班额超标");
	E.id[5] = insert_alert(5, "3207", "progression", "junior_progression_rate", "2024-2025",
	    "2024-09-01", "2025-09-01", "firing", "info", "2026-03-05", "升学率", "全市升学率");
	E.id[6] = insert_alert(6, "2132070301", "drills", "emergency_drills", "2026-02",
	    "2026-02-01", "2026-03-01", "firing", "info", "2026-03-06", TITLE6, MESSAGE6);
	for (int i = 1; i <= NALERTS; i++)
		cr_assert_gt(E.id[i], 0, "alert %d inserted", i);
	snprintf(sql, sizeof sql,
	    "UPDATE edumon.alert SET acked_at = '2026-03-03T01:00:00Z', acked_by = '王五',"
	    " ack_note = '已知' WHERE id = %ld",
	    E.id[3]);
	exec_ok(sql);
	snprintf(sql, sizeof sql,
	    "INSERT INTO edumon.alert_event (alert_unit_id, alert_id, at, kind, severity, value,"
	    " bound) SELECT a.unit_id, a.id, v.at::timestamptz, v.kind, v.severity, v.value,"
	    " v.bound FROM edumon.alert a, (VALUES ('2026-02-28T00:00:00Z', 'fired', 'info', 0.5, 0.98),"
	    " ('2026-03-01T00:00:00Z', 'escalated', 'warning', 0.4, 0.98))"
	    " AS v(at, kind, severity, value, bound) WHERE a.id = %ld",
	    E.id[1]);
	exec_ok(sql);
}

/*
 * A fresh database, tokens and fixture, and a daemon connected as the
 * superuser or (as_daemon_role) as a login role holding only edumon_daemon.
 */
static void
start_env(bool as_daemon_role)
{
	char *conninfo = NULL;

	memset(&E, 0, sizeof E);
	E.db = tl_db_create("alerts");
	E.pg = tl_db_connect(E.db);
	E.school = tl_token(E.db, "--school 2132070301");
	E.reporter = tl_token(E.db, "--reporter 320703");
	E.monitor = tl_token(E.db, "--monitor 320703 --label 张老师");
	E.city = tl_token(E.db, "--monitor 3207");
	E.other = tl_token(E.db, "--monitor 320706");
	E.admin = tl_token(E.db, "--admin");
	E.monitor_id = count("SELECT id FROM edumon.api_token WHERE label = '张老师'");
	E.admin_id = count("SELECT id FROM edumon.api_token WHERE role = 'admin'");
	insert_fixture();
	if (as_daemon_role) {
		char role[64], sql[256];

		snprintf(role, sizeof role, "edumond_alerts_%d", (int)getpid());
		snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s", role);
		exec_ok(sql);
		snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN IN ROLE edumon_daemon", role);
		exec_ok(sql);
		conninfo = malloc(strlen(E.db) + sizeof role + 8);
		sprintf(conninfo, "%s user=%s", E.db, role);
	}
	/* The alerts here are written by the test; the rules engine (tested in
	 * test_it_alerts.c) would add its own at start-up: keep it off. */
	E.d = tl_daemon_start(conninfo != NULL ? conninfo : E.db, "--alerts 0");
	free(conninfo);
	E.port = tl_daemon_port(E.d);
	tl_wait_ready(E.port);
}

static void
setup(void)
{
	start_env(false);
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.school);
	free(E.reporter);
	free(E.monitor);
	free(E.city);
	free(E.other);
	free(E.admin);
}

/* One request with a bearer token (NULL: none) and an optional JSON body. */
static void
call(const char *method, const char *path, const char *token, const char *body,
    struct tl_resp *r)
{
	char headers[512];

	snprintf(headers, sizeof headers, "%s%s%s%s", token ? "Authorization: Bearer " : "",
	    token ? token : "", token ? "\r\n" : "",
	    body ? "Content-Type: application/json\r\n" : "");
	cr_assert_eq(tl_http(E.port, method, path, headers, body, body ? strlen(body) : 0, r), 0,
	    "%s %s answered", method, path);
}

/* One request; expect status. */
static void
expect_status(const char *method, const char *path, const char *token, const char *body,
    int status)
{
	struct tl_resp r;

	call(method, path, token, body, &r);
	cr_expect_eq(r.status, status, "%s %s: %d, want %d: %s", method, path, r.status, status,
	    r.body);
	tl_resp_free(&r);
}

static cJSON *
json_of(const struct tl_resp *r)
{
	cJSON *j = cJSON_Parse(r->body);

	cr_assert_not_null(j, "response is JSON: %s", r->body);
	return j;
}

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The fixture number of an alert id, or 0. */
static int
fixture_of(long id)
{
	for (int i = 1; i <= NALERTS; i++)
		if (E.id[i] == id)
			return i;
	return 0;
}

/*
 * GET /v1/alerts?query as token; expect 200 and return the fixture numbers
 * listed, as "6,3,2,1", into out. *next gets the cursor (caller frees) or
 * NULL, when next is not NULL.
 */
static void
list(const char *token, const char *query, char *out, size_t len, char **next)
{
	struct tl_resp r;
	char path[512];
	cJSON *j, *item;
	const cJSON *n;
	size_t off = 0;

	snprintf(path, sizeof path, "/v1/alerts%s%s", query[0] ? "?" : "", query);
	call("GET", path, token, NULL, &r);
	cr_assert_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
	j = json_of(&r);
	out[0] = '\0';
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(j, "alerts"))
	{
		off += (size_t)snprintf(out + off, len - off, "%s%d", off ? "," : "",
		    fixture_of((long)cJSON_GetObjectItemCaseSensitive(item, "id")->valuedouble));
	}
	n = cJSON_GetObjectItemCaseSensitive(j, "next");
	cr_assert(cJSON_IsNull(n) || cJSON_IsString(n), "next is null or a string: %s", r.body);
	if (next != NULL)
		*next = cJSON_IsString(n) ? strdup(n->valuestring) : NULL;
	cJSON_Delete(j);
	tl_resp_free(&r);
}

static void
expect_list(const char *token, const char *query, const char *want)
{
	char got[128];

	list(token, query, got, sizeof got, NULL);
	cr_expect_str_eq(got, want, "?%s lists %s, got %s", query, want, got);
}

TestSuite(alerts_api, .init = setup, .fini = teardown, .timeout = 60);

Test(alerts_api, roles_and_reach)
{
	struct tl_resp r;

	expect_list(E.monitor, "", "6,3,2,1");
	expect_list(E.other, "", "4");
	expect_list(E.city, "", "6,5,4,3,2,1");
	expect_list(E.admin, "", "6,5,4,3,2,1");
	call("GET", "/v1/alerts", E.school, NULL, &r);
	cr_expect_eq(r.status, 403, "a school token: %s", r.body);
	cr_expect(strstr(r.body, "\"forbidden\"") != NULL, "%s", r.body);
	tl_resp_free(&r);
	expect_status("GET", "/v1/alerts", E.reporter, NULL, 403);
	expect_status("GET", "/v1/alerts/1", E.reporter, NULL, 403);
	expect_status("POST", "/v1/alerts/1/ack", E.school, NULL, 403);
	cr_expect_eq(count("SELECT count(*) FROM edumon.alert_event WHERE kind = 'acknowledged'"),
	    0);
}

Test(alerts_api, unauthorized)
{
	static const char *const paths[][2] = {
	    {"GET", "/v1/alerts"}, {"GET", "/v1/alerts/1"}, {"POST", "/v1/alerts/1/ack"}};
	struct tl_resp r;
	char cmd[1024];

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		call(paths[i][0], paths[i][1], NULL, NULL, &r);
		cr_expect_eq(r.status, 401, "%s without a token", paths[i][1]);
		cr_expect_not_null(tl_resp_header(&r, "WWW-Authenticate"));
		tl_resp_free(&r);
		call(paths[i][0], paths[i][1], "edm_notarealtokennotarealtokennotarealtokenxxx", NULL,
		    &r);
		cr_expect_eq(r.status, 401, "%s with an unknown token", paths[i][1]);
		tl_resp_free(&r);
		cr_assert_eq(tl_http(E.port, paths[i][0], paths[i][1],
				 "Authorization: Basic dXNlcjpwYXNz\r\n", NULL, 0, &r),
		    0);
		cr_expect_eq(r.status, 401, "%s with Basic", paths[i][1]);
		tl_resp_free(&r);
	}
	/* A revoked token is refused once the daemon reloads (NOTIFY). */
	snprintf(cmd, sizeof cmd, "%s/edumon --database '%s' token revoke %ld", tl_build_dir(),
	    E.db, E.monitor_id);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	for (int i = 0; i < 50; i++) {
		call("GET", "/v1/alerts", E.monitor, NULL, &r);
		if (r.status == 401)
			break;
		tl_resp_free(&r);
		usleep(100000);
	}
	cr_expect_eq(r.status, 401, "a revoked token is refused");
	tl_resp_free(&r);
}

Test(alerts_api, every_filter)
{
	expect_list(E.admin, "state=resolved", "2");
	expect_list(E.admin, "state=firing", "6,5,4,3,1");
	expect_list(E.admin, "severity=critical", "3,2");
	expect_list(E.admin, "severity=info,warning", "6,5,4,1");
	expect_list(E.admin, "district=320703", "6,3,2,1");
	expect_list(E.admin, "district=320706", "4");
	expect_list(E.admin, "district=3207", "6,5,4,3,2,1");
	expect_list(E.admin, "unit=2132070301", "6,1");
	expect_list(E.admin, "school=3132070601", "4");
	expect_list(E.admin, "unit=3207", "5");
	expect_list(E.admin, "metric=junior_progression_rate", "5,3");
	expect_list(E.admin, "rule=class_size", "4,2,1");
	expect_list(E.admin, "rule=no_such_rule", "");
	expect_list(E.admin, "period=2024-2025", "5,3");
	expect_list(E.admin, "period=2026-02", "6");
	expect_list(E.admin, "since=2026-03-04T00:00:00Z", "6,5,4");
	expect_list(E.admin, "since=2026-03-04T08:00:00%2B08:00", "6,5,4");
	expect_list(E.admin, "since=2026-03-04T08:00:00+08:00", "6,5,4");
	/* A date is midnight in the daemon's time zone (Asia/Shanghai: 03-03T16:00Z). */
	expect_list(E.admin, "since=2026-03-04", "6,5,4");
	expect_list(E.admin, "since=2026-03-03", "6,5,4,3");
	expect_list(E.admin, "acked=true", "3");
	expect_list(E.admin, "acked=false", "6,5,4,2,1");
	expect_list(E.admin, "state=firing&severity=warning&district=320703", "1");
	expect_list(E.city, "district=320706&state=firing", "4");
	expect_list(E.monitor, "severity=critical", "3,2");
	expect_list(E.monitor, "unit=3132070301&acked=false", "2");
	expect_list(E.monitor, "metric=class_size_max&period=2025-2026-1&rule=class_size", "2,1");
}

Test(alerts_api, bad_parameters)
{
	static const char *const bad[][2] = {
	    {"colour=red", "unknown parameter"},
	    {"state=open", "state:"},
	    {"state=firing&state=firing", "state:"},
	    {"severity=fatal", "severity:"},
	    {"district=999999", "district:"},
	    {"unit=9999999999", "unit:"},
	    {"school=nope", "school:"},
	    {"metric=nope", "metric:"},
	    {"rule=Bad%20Rule", "rule:"},
	    {"period=2026-13", "period:"},
	    {"period=2026-2", "period:"},
	    {"since=tomorrow", "since:"},
	    {"acked=maybe", "acked:"},
	    {"limit=0", "limit:"},
	    {"limit=1001", "limit:"},
	    {"limit=x", "limit:"},
	    {"cursor=abc", "cursor:"},
	};
	struct tl_resp r;
	char path[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cJSON *j;

		snprintf(path, sizeof path, "/v1/alerts?%s", bad[i][0]);
		call("GET", path, E.admin, NULL, &r);
		cr_expect_eq(r.status, 400, "%s: %d %s", bad[i][0], r.status, r.body);
		j = json_of(&r);
		cr_expect_str_eq(jstr(j, "error"), "bad_parameter");
		cr_expect(jstr(j, "message") != NULL &&
			strncmp(jstr(j, "message"), bad[i][1], strlen(bad[i][1])) == 0,
		    "%s: the message names the parameter: %s", bad[i][0], r.body);
		cJSON_Delete(j);
		tl_resp_free(&r);
	}
}

Test(alerts_api, out_of_reach_codes_look_unknown)
{
	static const char *const params[] = {"district", "unit", "school"};
	struct tl_resp a, b;
	char path[128];

	for (size_t i = 0; i < 3; i++) {
		char *pa, *pb;

		snprintf(path, sizeof path, "/v1/alerts?%s=3132070601", params[i]);
		call("GET", path, E.monitor, NULL, &a);
		snprintf(path, sizeof path, "/v1/alerts?%s=3132079999", params[i]);
		call("GET", path, E.monitor, NULL, &b);
		cr_expect_eq(a.status, 400, "%s", a.body);
		cr_expect_eq(b.status, 400, "%s", b.body);
		pa = strstr(a.body, "3132070601");
		pb = strstr(b.body, "3132079999");
		cr_assert(pa != NULL && pb != NULL);
		cr_expect_eq(pa - a.body, pb - b.body);
		cr_expect_str_eq(pa + 10, pb + 10, "the answers differ only by the code");
		tl_resp_free(&a);
		tl_resp_free(&b);
	}
	call("GET", "/v1/alerts?district=320706", E.monitor, NULL, &a);
	cr_expect_eq(a.status, 400, "another district is out of reach: %s", a.body);
	tl_resp_free(&a);
}

Test(alerts_api, pages)
{
	char got[64], *next = NULL, query[64], all[64] = "";
	int pages = 0;

	do {
		snprintf(query, sizeof query, "limit=2%s%s", next ? "&cursor=" : "", next ? next : "");
		free(next);
		list(E.admin, query, got, sizeof got, &next);
		cr_expect_eq(strlen(got), 3, "two alerts a page: %s", got);
		strcat(all, all[0] ? "," : "");
		strcat(all, got);
		pages++;
	} while (next != NULL && pages < 5);
	cr_expect_eq(pages, 3, "three pages, next null on the last");
	cr_expect_str_eq(all, "6,5,4,3,2,1", "no duplicates, no gaps");

	/* A page boundary that is not a multiple; filters hold across pages. */
	list(E.monitor, "limit=3", got, sizeof got, &next);
	cr_expect_str_eq(got, "6,3,2");
	cr_assert_not_null(next);
	snprintf(query, sizeof query, "limit=3&cursor=%s", next);
	free(next);
	list(E.monitor, query, got, sizeof got, &next);
	cr_expect_str_eq(got, "1");
	cr_expect_null(next);
	list(E.admin, "limit=6", got, sizeof got, &next);
	cr_expect_str_eq(got, "6,5,4,3,2,1");
	cr_expect_null(next, "exactly a full page has no next");
}

Test(alerts_api, one_alert_with_events)
{
	struct tl_resp r;
	char path[64];
	cJSON *j, *events, *e;

	snprintf(path, sizeof path, "/v1/alerts/%ld", E.id[1]);
	call("GET", path, E.monitor, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = json_of(&r);
	cr_expect_str_eq(jstr(j, "rule"), "class_size");
	cr_expect_str_eq(jstr(j, "state"), "firing");
	cr_expect_str_eq(jstr(j, "severity"), "warning");
	cr_expect_str_eq(jstr(j, "period"), "2025-2026-1");
	cr_expect_str_eq(jstr(j, "op"), "<");
	cr_expect_str_eq(jstr(j, "fired_at"), "2026-02-28T00:00:00.000000Z");
	cr_expect_str_eq(jstr(j, "updated_at"), "2026-03-01T00:00:00.000000Z");
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "resolved_at")));
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "acked")));
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "value")->valuedouble, 0.5);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "bound")->valuedouble, 0.98);
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "unit"), "name"), "连云区实验小学");
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "unit"), "kind"), "school");
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "district"), "code"), "320703");
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "district"), "name"), "连云区");
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "metric"), "name"), "最大班额");
	events = cJSON_GetObjectItemCaseSensitive(j, "events");
	cr_assert_eq(cJSON_GetArraySize(events), 2, "%s", r.body);
	e = cJSON_GetArrayItem(events, 0);
	cr_expect_str_eq(jstr(e, "kind"), "fired", "oldest first");
	cr_expect_str_eq(jstr(e, "at"), "2026-02-28T00:00:00.000000Z");
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "submission_id")));
	cr_expect_str_eq(jstr(cJSON_GetArrayItem(events, 1), "kind"), "escalated");
	cJSON_Delete(j);
	tl_resp_free(&r);

	/* The city's own alert has no district; a resolved one has its fields. */
	snprintf(path, sizeof path, "/v1/alerts/%ld", E.id[5]);
	call("GET", path, E.city, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = json_of(&r);
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "district")), "%s", r.body);
	cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")), 0);
	cJSON_Delete(j);
	tl_resp_free(&r);
	snprintf(path, sizeof path, "/v1/alerts/%ld", E.id[2]);
	call("GET", path, E.monitor, NULL, &r);
	j = json_of(&r);
	cr_expect_str_eq(jstr(j, "resolved_at"), "2026-03-02T00:00:00.000000Z");
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "resolved_value")->valuedouble, 0.99);
	cJSON_Delete(j);
	tl_resp_free(&r);
}

Test(alerts_api, not_found_hides_other_subtrees)
{
	struct tl_resp out, none, word;
	char path[64];

	snprintf(path, sizeof path, "/v1/alerts/%ld", E.id[4]);
	call("GET", path, E.monitor, NULL, &out);
	call("GET", "/v1/alerts/999999", E.monitor, NULL, &none);
	call("GET", "/v1/alerts/abc", E.monitor, NULL, &word);
	cr_expect_eq(out.status, 404);
	cr_expect_eq(none.status, 404);
	cr_expect_eq(word.status, 404);
	cr_expect_str_eq(out.body, none.body, "the same body whether the alert exists or not");
	cr_expect_str_eq(word.body, none.body);
	tl_resp_free(&out);
	tl_resp_free(&none);
	tl_resp_free(&word);
	expect_status("GET", path, E.other, NULL, 200);
	expect_status("GET", "/v1/alerts/", E.admin, NULL, 404);
	expect_status("GET", "/v1/alerts/1/ack/x", E.admin, NULL, 404);
}

Test(alerts_api, methods)
{
	struct tl_resp r;

	call("POST", "/v1/alerts", E.admin, "{}", &r);
	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(tl_resp_header(&r, "Allow"), "GET");
	tl_resp_free(&r);
	call("GET", "/v1/alerts/1/ack", E.admin, NULL, &r);
	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(tl_resp_header(&r, "Allow"), "POST");
	tl_resp_free(&r);
	expect_status("POST", "/v1/alerts/1", E.admin, "{}", 405);
	/* Counted in /metrics under their routes. */
	call("GET", "/v1/alerts", E.admin, NULL, &r);
	tl_resp_free(&r);
	call("GET", "/metrics", NULL, NULL, &r);
	cr_expect(strstr(r.body, "route=\"alerts\",status=\"200\"") != NULL, "%s", r.body);
	tl_resp_free(&r);
}

/* The ack columns and ack events of alert n, as one string. */
static char *
ack_state(int n)
{
	char sql[512];

	snprintf(sql, sizeof sql,
	    "SELECT coalesce(acked_at::text, '-') || '|' || coalesce(acked_token_id::text, '-')"
	    " || '|' || coalesce(acked_by, '-') || '|' || coalesce(ack_note, '-') || '|' ||"
	    " updated_at || '|' || (SELECT count(*) FROM edumon.alert_event e"
	    " WHERE e.alert_id = a.id AND e.kind = 'acknowledged')"
	    " FROM edumon.alert a WHERE id = %ld",
	    E.id[n]);
	return tl_query_value(E.pg, sql);
}

Test(alerts_api, acknowledge)
{
	struct tl_resp r;
	char path[64], sql[512], *before, *after;
	cJSON *j, *acked;

	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", E.id[1]);
	call("POST", path, E.monitor, "{\"by\":\"李四\",\"note\":\"已电话核实，周五前分班\"}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = json_of(&r);
	acked = cJSON_GetObjectItemCaseSensitive(j, "acked");
	cr_assert(cJSON_IsObject(acked), "%s", r.body);
	cr_expect_str_eq(jstr(acked, "by"), "李四");
	cr_expect_str_eq(jstr(acked, "note"), "已电话核实，周五前分班");
	cr_expect_not_null(jstr(acked, "at"));
	cr_expect_str_eq(jstr(acked, "at"), jstr(j, "updated_at"), "updated_at moves with the ack");
	cr_expect_str_eq(jstr(j, "state"), "firing", "an ack does not resolve");
	cJSON_Delete(j);
	tl_resp_free(&r);
	snprintf(sql, sizeof sql,
	    "SELECT count(*) FROM edumon.alert WHERE id = %ld AND acked_at IS NOT NULL"
	    " AND acked_token_id = %ld AND acked_by = '李四' AND ack_note = '已电话核实，周五前分班'",
	    E.id[1], E.monitor_id);
	cr_expect_eq(count(sql), 1, "the row records the ack");
	snprintf(sql, sizeof sql,
	    "SELECT count(*) FROM edumon.alert_event WHERE alert_id = %ld AND kind = 'acknowledged'"
	    " AND severity = 'warning' AND token_id = %ld AND note = '李四: 已电话核实，周五前分班'",
	    E.id[1], E.monitor_id);
	cr_expect_eq(count(sql), 1, "one event, with the alert's severity");

	/* A second ack (a double click) answers the current alert and writes nothing. */
	before = ack_state(1);
	call("POST", path, E.city, "{\"note\":\"again\"}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = json_of(&r);
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "acked"), "by"), "李四");
	cJSON_Delete(j);
	tl_resp_free(&r);
	after = ack_state(1);
	cr_expect_str_eq(after, before, "nothing changed");
	free(before);
	free(after);

	/* The event shows in the alert's history, last. */
	snprintf(path, sizeof path, "/v1/alerts/%ld", E.id[1]);
	call("GET", path, E.monitor, NULL, &r);
	j = json_of(&r);
	cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")), 3);
	cr_expect_str_eq(
	    jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "events"), 2), "kind"),
	    "acknowledged");
	cJSON_Delete(j);
	tl_resp_free(&r);
	expect_list(E.monitor, "acked=true", "3,1");
}

Test(alerts_api, acked_by_defaults)
{
	struct tl_resp r;
	char path[64], want[32];
	cJSON *j;

	/* No body: the token's label. */
	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", E.id[6]);
	call("POST", path, E.monitor, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = json_of(&r);
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "acked"), "by"), "张老师");
	cr_expect(cJSON_IsNull(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "acked"), "note")));
	cJSON_Delete(j);
	tl_resp_free(&r);
	/* No label: "token N". */
	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", E.id[5]);
	call("POST", path, E.admin, "{}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = json_of(&r);
	snprintf(want, sizeof want, "token %ld", E.admin_id);
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "acked"), "by"), want);
	cJSON_Delete(j);
	tl_resp_free(&r);
}

Test(alerts_api, ack_out_of_reach_changes_nothing)
{
	struct tl_resp out, none;
	char path[64], *before, *after;

	before = ack_state(4);
	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", E.id[4]);
	call("POST", path, E.monitor, "{\"note\":\"x\"}", &out);
	call("POST", "/v1/alerts/999999/ack", E.monitor, "{\"note\":\"x\"}", &none);
	cr_expect_eq(out.status, 404, "%s", out.body);
	cr_expect_eq(none.status, 404);
	cr_expect_str_eq(out.body, none.body);
	tl_resp_free(&out);
	tl_resp_free(&none);
	call("POST", "/v1/alerts/abc/ack", E.monitor, NULL, &none);
	cr_expect_eq(none.status, 404);
	tl_resp_free(&none);
	after = ack_state(4);
	cr_expect_str_eq(after, before, "the other district's alert is untouched");
	cr_expect(strncmp(after, "-|-|-|-|", 8) == 0, "%s", after);
	free(before);
	free(after);
	cr_expect_eq(count("SELECT count(*) FROM edumon.alert_event WHERE kind = 'acknowledged'"),
	    0);
}

Test(alerts_api, ack_body_validation)
{
	static const char *const bodies[][2] = {
	    {"{\"note\":", "malformed_body"},
	    {"{\"note\":\"a\",\"note\":\"b\"}", "malformed_body"},
	    {"[1]", "bad_body"},
	    {"{\"who\":\"x\"}", "bad_body"},
	    {"{\"by\":7}", "bad_body"},
	    {"{\"by\":\"\"}", "bad_body"},
	};
	struct tl_resp r;
	char path[64], *big, *before, *after;
	size_t n = 0;

	before = ack_state(1);
	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", E.id[1]);
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		call("POST", path, E.monitor, bodies[i][0], &r);
		cr_expect_eq(r.status, 400, "%s: %s", bodies[i][0], r.body);
		cr_expect(strstr(r.body, bodies[i][1]) != NULL, "%s: %s", bodies[i][0], r.body);
		tl_resp_free(&r);
	}
	/* 2001 characters of note, 201 of by. */
	big = malloc(16 + 2001 * 3 + 4);
	n = (size_t)sprintf(big, "{\"note\":\"");
	for (int i = 0; i < 2001; i++)
		n += (size_t)sprintf(big + n, "注");
	strcpy(big + n, "\"}");
	call("POST", path, E.monitor, big, &r);
	cr_expect_eq(r.status, 400, "%s", r.body);
	cr_expect(strstr(r.body, "note") != NULL, "%s", r.body);
	tl_resp_free(&r);
	n = (size_t)sprintf(big, "{\"by\":\"");
	for (int i = 0; i < 201; i++)
		big[n++] = 'b';
	strcpy(big + n, "\"}");
	expect_status("POST", path, E.monitor, big, 400);
	free(big);
	cr_assert_eq(tl_http(E.port, "POST", path,
			 "Authorization: Bearer x\r\nContent-Type: text/plain\r\n", "hi", 2, &r),
	    0);
	cr_expect_eq(r.status, 401);
	tl_resp_free(&r);
	{
		char headers[256];

		snprintf(headers, sizeof headers,
		    "Authorization: Bearer %s\r\nContent-Type: text/plain\r\n", E.monitor);
		cr_assert_eq(tl_http(E.port, "POST", path, headers, "hi", 2, &r), 0);
		cr_expect_eq(r.status, 415, "%s", r.body);
		tl_resp_free(&r);
	}
	after = ack_state(1);
	cr_expect_str_eq(after, before, "a refused body changes nothing");
	free(before);
	free(after);
}

Test(alerts_api, chinese_text_round_trips)
{
	struct tl_resp r;
	char path[64];
	cJSON *j;

	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", E.id[6]);
	call("POST", path, E.monitor, "{\"by\":\"赵六\",\"note\":\"「已处理」\\n第二行 \\u00e9\"}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	tl_resp_free(&r);
	call("GET", "/v1/alerts?rule=drills", E.monitor, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_expect(strstr(r.body, "应急演练") != NULL, "UTF-8 as is, not \\u escapes: %s", r.body);
	j = json_of(&r);
	{
		const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "alerts"), 0);
		const cJSON *acked = cJSON_GetObjectItemCaseSensitive(a, "acked");

		cr_expect_str_eq(jstr(a, "title"), TITLE6);
		cr_expect_str_eq(jstr(a, "message"), MESSAGE6);
		cr_expect_str_eq(jstr(acked, "by"), "赵六");
		cr_expect_str_eq(jstr(acked, "note"), "「已处理」\n第二行 é");
		cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(a, "metric"), "name"),
		    "应急演练次数");
	}
	cJSON_Delete(j);
	tl_resp_free(&r);
}

/* Requests whose client hangs up before the answer: the daemon carries on. */
Test(alerts_api, client_goes_away)
{
	struct sockaddr_in sa;
	char req[512];

	snprintf(req, sizeof req,
	    "GET /v1/alerts?limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n",
	    E.admin);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)E.port);
	for (int i = 0; i < 20; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		cr_assert_neq(fd, -1);
		cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
		cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
		close(fd);
	}
	expect_list(E.admin, "", "6,5,4,3,2,1");
	expect_status("GET", "/healthz", NULL, NULL, 200);
}

/* With the database gone the API answers 503 with Retry-After, then recovers. */
Test(alerts_api, database_down)
{
	struct tl_resp r;
	char sql[512], *name = tl_query_value(E.pg, "SELECT current_database()");
	char *admin = tl_pg_conninfo_admin();
	PGconn *c = tl_db_connect(admin);
	int status = 0;

	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", name);
	exec_on(c, sql);
	snprintf(sql, sizeof sql,
	    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
	    " WHERE datname = '%s' AND pid <> %d",
	    name, PQbackendPID(E.pg));
	exec_on(c, sql);
	call("GET", "/v1/alerts", E.monitor, NULL, &r);
	cr_expect_eq(r.status, 503, "%s", r.body);
	cr_expect(strstr(r.body, "database_unavailable") != NULL, "%s", r.body);
	cr_expect_not_null(tl_resp_header(&r, "Retry-After"));
	tl_resp_free(&r);
	expect_status("POST", "/v1/alerts/1/ack", E.monitor, NULL, 503);
	cr_expect_eq(count("SELECT count(*) FROM edumon.alert WHERE acked_at IS NOT NULL"), 1,
	    "nothing was acknowledged");

	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", name);
	exec_on(c, sql);
	PQfinish(c);
	free(admin);
	free(name);
	for (int i = 0; i < 150 && status != 200; i++) {
		call("GET", "/v1/alerts", E.monitor, NULL, &r);
		status = r.status;
		tl_resp_free(&r);
		if (status != 200)
			usleep(100000);
	}
	cr_expect_eq(status, 200, "the API reconnects");
}

static void
setup_as_daemon_role(void)
{
	start_env(true);
}

/* The daemon's grants (edumon_daemon alone) suffice for every endpoint. */
Test(alerts_api_role, grants_suffice, .init = setup_as_daemon_role, .fini = teardown,
    .timeout = 60)
{
	char path[64], sql[256];

	expect_list(E.monitor, "severity=critical", "3,2");
	snprintf(path, sizeof path, "/v1/alerts/%ld", E.id[1]);
	expect_status("GET", path, E.monitor, NULL, 200);
	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", E.id[1]);
	expect_status("POST", path, E.monitor, "{\"note\":\"ok\"}", 200);
	snprintf(sql, sizeof sql,
	    "SELECT count(*) FROM edumon.alert_event WHERE alert_id = %ld AND kind = 'acknowledged'",
	    E.id[1]);
	cr_expect_eq(count(sql), 1);
}
