/*
 * test_it_alerts.c: rules and alerts end to end: the real edumond with the
 * shipped rule pack, a real PostgreSQL, submissions over HTTP; alerts,
 * events and figures read back with SQL.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define SCHOOL "2132070301"       /* primary, district 320703 */
#define JUNIOR "3132070301"       /* junior, district 320703 */
#define NINE_YEAR "2132070302"    /* primary and junior, district 320703 */
#define OTHER_JUNIOR "3132070601" /* junior, district 320706 */

static struct {
	char *db;
	PGconn *pg;
	char *reporter;      /* reporter 320703 */
	char *reporter_city; /* reporter 3207: both districts */
	struct tl_daemon *d;
	int port;
} E;

static void
start_daemon(void)
{
	/* A generous alert wait: receipts must list their alerts even on a
	 * loaded machine. Tiny store chunks: every job that changes more
	 * than 7 alerts spans several transactions. */
	E.d = tl_daemon_start(E.db, "--alert-wait 60000 --alert-chunk 7");
	E.port = tl_daemon_port(E.d);
	tl_wait_alerts_ready(E.port);
}

static void
setup(void)
{
	E.db = tl_db_create("alerts");
	E.pg = tl_db_connect(E.db);
	E.reporter = tl_token(E.db, "--reporter 320703");
	E.reporter_city = tl_token(E.db, "--reporter 3207");
	start_daemon();
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.reporter);
	free(E.reporter_city);
	memset(&E, 0, sizeof E);
}

/* POST a CSV body; asserts 201 and returns the receipt. */
static cJSON *
post_csv(const char *token, const char *csv)
{
	return tl_post_csv(E.port, token, csv);
}

static long
qlong(const char *sql)
{
	return tl_query_long(E.pg, sql);
}

/* Expect the first value of sql to be want. */
static void
expect_value(const char *sql, const char *want)
{
	char *v = tl_query_value(E.pg, sql);

	cr_expect_str_eq(v != NULL ? v : "(null)", want, "%s", sql);
	free(v);
}

/* True if the receipt's alerts, as JSON text, contain s. */
static bool
alerts_mention(const cJSON *receipt, const char *s)
{
	char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(receipt, "alerts"));
	bool found = text != NULL && strstr(text, s) != NULL;

	free(text);
	return found;
}

/* The receipt's alerts array, asserted to be an array. */
static const cJSON *
alerts_of(const cJSON *receipt)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(receipt, "alerts");

	cr_assert(cJSON_IsArray(a), "receipt has an alerts array");
	return a;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Exactly one alert in the receipt, with this rule, unit, event, severity. */
static long
expect_one_alert(const cJSON *receipt, const char *rule, const char *unit, const char *event,
    const char *severity)
{
	const cJSON *a = alerts_of(receipt), *x = cJSON_GetArrayItem(a, 0);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "id");

	cr_assert_eq(cJSON_GetArraySize(a), 1, "one alert, not %d", cJSON_GetArraySize(a));
	cr_expect_str_eq(jstr(x, "rule"), rule);
	cr_expect_str_eq(jstr(x, "unit"), unit);
	cr_expect_str_eq(jstr(x, "event"), event);
	cr_expect_str_eq(jstr(x, "severity"), severity);
	cr_assert(cJSON_IsNumber(id) && id->valuedouble > 0, "the alert has its number");
	return (long)id->valuedouble;
}

/* POST a CSV body that must change exactly one alert; returns its id. */
static long
post_one(
    const char *csv, const char *rule, const char *unit, const char *event, const char *severity)
{
	cJSON *r = post_csv(E.reporter, csv);
	long id = expect_one_alert(r, rule, unit, event, severity);

	cJSON_Delete(r);
	return id;
}

/* POST a CSV body that must change no alert. */
static void
post_quiet(const char *csv, const char *why)
{
	cJSON *r = post_csv(E.reporter, csv);

	cr_expect_eq(cJSON_GetArraySize(alerts_of(r)), 0, "%s", why);
	cJSON_Delete(r);
}

TestSuite(alerts, .init = setup, .fini = teardown, .timeout = 240);

/* A school's class size: fired, escalated, resolved, fired again; each step
 * in the receipt, the row and the history. */
Test(alerts, school_threshold_lifecycle)
{
	cJSON *r;
	long id, id2;
	char sql[256];

	post_quiet(SCHOOL ",2026-2027-1,class_size_max,55,,\n", "55 pupils is fine");

	id = post_one(SCHOOL ",2026-2027-1,class_size_max,56,,\n", "class_size.school", SCHOOL,
	    "fired", "warning");

	r = post_csv(E.reporter, SCHOOL ",2026-2027-1,class_size_max,66,,\n");
	id2 = expect_one_alert(r, "class_size.school", SCHOOL, "escalated", "critical");
	cr_expect_eq(id2, id, "the same alert escalates");
	cJSON_Delete(r);

	post_quiet(
	    SCHOOL ",2026-2027-1,class_size_max,66,,\n", "the same figure again changes nothing");

	snprintf(sql, sizeof sql,
	    "SELECT state || ' ' || severity || ' ' || value || ' ' || bound FROM edumon.alert"
	    " WHERE id = %ld",
	    id);
	expect_value(sql, "firing critical 66 66");

	post_one(SCHOOL ",2026-2027-1,class_size_max,50,,\n", "class_size.school", SCHOOL,
	    "resolved", "critical");
	snprintf(sql, sizeof sql,
	    "SELECT state || ' ' || resolved_value || ' ' || (resolved_at IS NOT NULL)"
	    " FROM edumon.alert WHERE id = %ld",
	    id);
	expect_value(sql, "resolved 50 true");

	r = post_csv(E.reporter, SCHOOL ",2026-2027-1,class_size_max,60,,\n");
	cr_expect_eq(expect_one_alert(r, "class_size.school", SCHOOL, "fired", "warning"), id,
	    "a new episode reopens the same (rule, unit, period) alert");
	cJSON_Delete(r);

	snprintf(sql, sizeof sql,
	    "SELECT string_agg(kind || ':' || severity, ',' ORDER BY id) FROM edumon.alert_event"
	    " WHERE alert_id = %ld AND submission_id IS NOT NULL",
	    id);
	expect_value(sql, "fired:warning,escalated:critical,resolved:critical,fired:warning");
	{
		struct tl_resp m;

		cr_assert_eq(tl_http(E.port, "GET", "/metrics", NULL, NULL, 0, &m), 0);
		cr_expect(strstr(m.body, "\nedumon_alerts_ready 1\n") != NULL, "%s", m.body);
		cr_expect(strstr(m.body, "\nedumon_alert_changes_total 0\n") == NULL &&
		              strstr(m.body, "\nedumon_alert_changes_total ") != NULL,
		    "changes counted");
		tl_resp_free(&m);
	}
	snprintf(sql, sizeof sql,
	    "SELECT message FROM edumon.v_alert WHERE id = %ld AND rule_title = '出现大班额'", id);
	expect_value(sql, "连云区实验小学最大班额60人，达到56人（2026-2027-1，预警）");
}

/* 10/10 and 80/100 is 90/110 = 81.8%, a breach of 98%, judged only once both
 * junior schools of the district reported; the first is provisional. The
 * school year 2026-2027 is under way, its deadline far off. */
Test(alerts, district_rate_is_weighted_and_provisional_until_complete)
{
	cJSON *r;

	post_quiet(JUNIOR ",2026-2027,junior_progression_rate,,10,10\n", "no alert changes");
	expect_value(
	    "SELECT numerator || '/' || denominator || ' ' || reported || ' of ' || expected || ' '"
	    " || judged FROM edumon.v_rule_figure WHERE rule_id = 'junior_progression.district'"
	    " AND unit_code = '320703' AND period = '2026-2027'",
	    "10/10 1 of 2 false");

	r = post_csv(E.reporter, NINE_YEAR ",2026-2027,junior_progression_rate,,80,100\n");
	cr_assert_eq(cJSON_GetArraySize(alerts_of(r)), 2, "two alerts: school and district");
	cJSON_Delete(r);
	cr_expect_eq(
	    qlong("SELECT count(*) FROM edumon.alert WHERE state = 'firing'"
	          " AND rule_id = 'junior_progression.district' AND unit_id = (SELECT id FROM"
	          " edumon.org_unit WHERE code = '320703') AND abs(value - 90.0 / 110) < 1e-12"),
	    1);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert WHERE state = 'firing'"
	                   " AND rule_id = 'junior_progression.school'"),
	    1, "and the school's own 80%%");

	/* A correction that clears the breach resolves it. */
	r = post_csv(E.reporter, NINE_YEAR ",2026-2027,junior_progression_rate,,100,100\n");
	cJSON_Delete(r);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert WHERE state = 'resolved'"
	                   " AND rule_id = 'junior_progression.district' AND resolved_value = 1"),
	    1);
}

/* Restarting re-judges everything from the database and duplicates
 * nothing; replaying a submission returns the same receipt, alerts and all. */
Test(alerts, restart_and_replay_duplicate_nothing)
{
	const char *csv = SCHOOL ",2026-2027-1,class_size_max,70,,\n";
	char headers[512];
	struct tl_resp r1, r2;
	long alerts, events;

	snprintf(headers, sizeof headers,
	    "Authorization: Bearer %s\r\nContent-Type: text/csv\r\n"
	    "Idempotency-Key: replay-1\r\n",
	    E.reporter);
	cr_assert_eq(tl_http(E.port, "POST", "/v1/submissions", headers, csv, strlen(csv), &r1), 0);
	cr_assert_eq(r1.status, 201);
	cr_assert(strstr(r1.body, "\"event\":\"fired\"") != NULL, "%s", r1.body);
	alerts = qlong("SELECT count(*) FROM edumon.alert");
	events = qlong("SELECT count(*) FROM edumon.alert_event");

	cr_assert_eq(tl_daemon_stop(E.d), 0);
	start_daemon();
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert"), alerts);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert_event"), events,
	    "a restart records no change");

	cr_assert_eq(tl_http(E.port, "POST", "/v1/submissions", headers, csv, strlen(csv), &r2), 0);
	cr_expect_eq(r2.status, 201);
	cr_expect_str_eq(r2.body, r1.body, "the replay is the original receipt");
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert_event"), events);
	tl_resp_free(&r1);
	tl_resp_free(&r2);
}

/* A quota met clears the pro-rated warning; a missing daily report is
 * answered by the report. The clock ran at start: both fired then. */
Test(alerts, quota_and_missing_resolve_when_the_figure_arrives)
{
	cJSON *r;
	char *today = tl_query_value(
	    E.pg, "SELECT to_char((now() AT TIME ZONE 'Asia/Shanghai')::date, 'YYYY-MM-DD')");
	char csv[256];
	int ndays = (int)qlong("SELECT extract(doy FROM (now() AT TIME ZONE 'Asia/Shanghai'))");

	/* Pro-rated quota of 3 a year: behind only once a third of the year is
	 * gone, as it is after day 122. */
	if (ndays > 122) {
		cr_expect_eq(
		    qlong("SELECT count(*) FROM edumon.v_alert WHERE state = 'firing'"
		          " AND rule_id = 'parent_school_sessions.quota' AND unit_code = '" SCHOOL
		          "'"),
		    1, "behind the pro-rated quota from the start");
		snprintf(csv, sizeof csv, SCHOOL ",%.4s,parent_school_sessions,3,,\n", today);
		r = post_csv(E.reporter, csv);
		cr_expect(alerts_mention(r, "\"parent_school_sessions.quota\"") &&
		              alerts_mention(r, "\"resolved\""),
		    "the quota alert resolves");
		cJSON_Delete(r);
	}
	/* Yesterday's sickness-absence report is due (grace 0) on a school day. */
	if (qlong("SELECT count(*) FROM edumon.v_alert WHERE rule_id = 'sick_absence.missing'"
	          " AND unit_code = '" SCHOOL "' AND state = 'firing'") == 1) {
		char *per = tl_query_value(E.pg,
		    "SELECT period FROM edumon.v_alert WHERE rule_id ="
		    " 'sick_absence.missing' AND unit_code = '" SCHOOL "' AND state = 'firing'");

		snprintf(csv, sizeof csv, SCHOOL ",%s,sick_absence_rate,,3,500\n", per);
		r = post_csv(E.reporter, csv);
		cr_expect(alerts_mention(r, "\"resolved\""), "the missing report resolves");
		cJSON_Delete(r);
		free(per);
	}
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert a JOIN edumon.org_unit u ON"
	                   " u.id = a.unit_id WHERE u.code = '" SCHOOL
	                   "' AND a.state = 'firing' AND a.rule_id IN"
	                   " ('sick_absence.missing', 'parent_school_sessions.quota')"),
	    0);
	free(today);
}

/*
 * The running aggregates equal what SQL computes over the stored
 * observations: 60 more junior schools over two districts, 400 random
 * figures and corrections, then every district figure of two rules (a
 * weighted rate and a dispersion) compared with SQL.
 */
Test(alerts, running_aggregates_equal_sql_on_random_data)
{
	char path[512], line[256];
	const char *dir = getenv("EDUMON_TEST_TMPDIR");
	FILE *f;
	char cmd[1024];
	cJSON *r;
	unsigned seed = 12345;

	snprintf(
	    path, sizeof path, "%s/more-units-%d.csv", dir != NULL ? dir : "/tmp", (int)getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("code,name,kind,parent_code,stages,urban,public\n", f);
	for (int i = 0; i < 60; i++)
		fprintf(f, "99%08d,测试初中%d,school,%s,%s,%s,%s\n", i, i,
		    i % 2 ? "320703" : "320706", i % 3 ? "junior" : "primary|junior",
		    i % 4 ? "true" : "false", i % 5 ? "true" : "false");
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s/edumon --database '%s' schools import '%s' >/dev/null",
	    tl_build_dir(), E.db, path);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	unlink(path);
	/* The daemon hears of the new schools (NOTIFY) and rebinds. */
	for (int i = 0; i < 200 && qlong("SELECT count(*) FROM edumon.org_unit") < 74; i++)
		usleep(50 * 1000);

	for (int round = 0; round < 20; round++) {
		char body[8192] = "";
		size_t len = 0;

		int order[60];

		/* 20 distinct schools a request: a request may not name one twice. */
		for (int k = 0; k < 60; k++)
			order[k] = k;
		for (int k = 59; k > 0; k--) {
			int x = (int)(rand_r(&seed) % (unsigned)(k + 1)), t = order[k];

			order[k] = order[x];
			order[x] = t;
		}
		for (int k = 0; k < 20; k++) {
			int s = order[k];
			int den = 1 + (int)(rand_r(&seed) % 300);
			int num = (int)(rand_r(&seed) % (unsigned)(den + 1));
			double eq = (double)(rand_r(&seed) % 100000) / 7.0;

			len += (size_t)snprintf(line, sizeof line,
			    "99%08d,2025-2026,junior_progression_rate,,%d,%d\n"
			    "99%08d,2025-2026,equipment_value_per_pupil,%.6f,,\n",
			    s, num, den, s, eq);
			cr_assert_lt(len, sizeof body);
			strcat(body, line);
		}
		r = post_csv(E.reporter_city, body);
		cJSON_Delete(r);
	}
	/* A rebind after the import may lag the first posts: wait for the
	 * figures to settle (the engine counts 60 + 3 junior schools). */
	cr_expect_eq(
	    qlong(
	        "WITH s AS (SELECT vu.district_code AS d, sum(o.numerator) AS n, "
	        "sum(o.denominator) AS"
	        " den, count(*) AS c FROM edumon.observation o JOIN edumon.org_unit u ON u.id = "
	        "o.unit_id"
	        " JOIN edumon.v_unit vu ON vu.code = u.code JOIN edumon.metric m ON m.id = "
	        "o.metric_id"
	        " WHERE m.code = 'junior_progression_rate' AND o.period = '2025-2026' AND u.active"
	        " AND 'junior' = ANY (u.stages) GROUP BY 1)"
	        " SELECT count(*) FROM s JOIN edumon.v_rule_figure f ON f.unit_code = s.d"
	        " AND f.rule_id = 'junior_progression.district' AND f.period = '2025-2026'"
	        " AND f.numerator = s.n AND f.denominator = s.den AND f.reported = s.c"
	        " AND abs(f.value - s.n::float8 / s.den) < 1e-15"),
	    2, "both districts' rate figures equal SQL's sums");
	cr_expect_eq(
	    qlong(
	        "WITH s AS (SELECT vu.district_code AS d, stddev_pop(o.value) / avg(o.value) AS cv,"
	        " count(*) AS c FROM edumon.observation o JOIN edumon.org_unit u ON u.id = "
	        "o.unit_id"
	        " JOIN edumon.v_unit vu ON vu.code = u.code JOIN edumon.metric m ON m.id = "
	        "o.metric_id"
	        " WHERE m.code = 'equipment_value_per_pupil' AND o.period = '2025-2026' AND "
	        "u.active"
	        " AND 'junior' = ANY (u.stages) GROUP BY 1)"
	        " SELECT count(*) FROM s JOIN edumon.v_rule_figure f ON f.unit_code = s.d"
	        " AND f.rule_id = 'equipment_value_dispersion.junior' AND f.period = '2025-2026'"
	        " AND f.reported = s.c AND abs(f.value - s.cv) < 1e-9 * s.cv"),
	    2, "both districts' coefficients of variation equal SQL's");

	/* The firing school alerts are exactly the schools below 98%. */
	cr_expect_eq(
	    qlong("SELECT count(*) FROM edumon.v_alert WHERE rule_id ="
	          " 'junior_progression.school' AND period = '2025-2026' AND state = 'firing'"),
	    qlong(
	        "SELECT count(*) FROM edumon.observation o JOIN edumon.metric m ON"
	        " m.id = o.metric_id JOIN edumon.org_unit u ON u.id = o.unit_id WHERE m.code ="
	        " 'junior_progression_rate' AND o.period = '2025-2026' AND u.active AND 'junior' ="
	        " ANY (u.stages) AND o.numerator::float8 / o.denominator < 0.98"));
}

/*
 * The incremental evaluation equals a fresh one: after random figures and
 * corrections, a daemon killed with SIGKILL and started again judges every
 * figure from the database and finds nothing to change: the same alerts,
 * states and severities, no new event.
 */
Test(alerts, kill_and_restart_finds_nothing_to_change)
{
	const char *snapshot_sql =
	    "SELECT count(*) || ':' || coalesce(md5(string_agg(fingerprint || state || severity ||"
	    " coalesce(value::text, ''), ',' ORDER BY fingerprint)), '') FROM edumon.alert";
	char *before, *after;
	unsigned seed = 777;
	long events;

	for (int round = 0; round < 10; round++) {
		char body[4096] = "", line[160];
		const char *schools[] = {SCHOOL, JUNIOR, NINE_YEAR, "2132070303"};

		for (size_t k = 0; k < 4; k++) {
			snprintf(line, sizeof line, "%s,2026-2027-1,class_size_max,%u,,\n",
			    schools[k], 40 + rand_r(&seed) % 35);
			strcat(body, line);
		}
		cJSON_Delete(post_csv(E.reporter, body));
	}
	before = tl_query_value(E.pg, snapshot_sql);
	events = qlong("SELECT count(*) FROM edumon.alert_event");
	tl_daemon_kill(E.d);
	start_daemon();
	after = tl_query_value(E.pg, snapshot_sql);
	cr_expect_str_eq(after, before, "the same alerts after a restart");
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert_event"), events, "no new event");
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.v_alert WHERE rule_id = 'class_size.school'"
	                   " AND state = 'firing'"),
	    qlong("SELECT count(*) FROM edumon.observation o JOIN edumon.metric m ON m.id ="
	          " o.metric_id WHERE m.code = 'class_size_max' AND o.period = '2026-2027-1'"
	          " AND o.value >= 56"),
	    "firing exactly where the stored figure is 56 or more");
	free(before);
	free(after);
}

/* GET a path with a token; asserts the request went through. */
static cJSON *
get_json(const char *token, const char *method, const char *path, int want)
{
	char headers[512];
	struct tl_resp r;
	cJSON *j;

	snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", token);
	cr_assert_eq(tl_http(E.port, method, path, headers, NULL, 0, &r), 0);
	cr_assert_eq(r.status, want, "%s %s: %d %s", method, path, r.status, r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "%s", r.body);
	tl_resp_free(&r);
	return j;
}

/* The whole loop: a submission raises an alert, the district's monitor
 * finds it with GET /v1/alerts, acknowledges it, another district's monitor
 * does not see it, and a new episode clears the acknowledgement. */
Test(alerts, monitor_sees_and_acknowledges_a_raised_alert)
{
	char *monitor = tl_token_live(E.port, E.db, "--monitor 320703 --label 李老师");
	char *other = tl_token_live(E.port, E.db, "--monitor 320706");
	char path[512];
	cJSON *r, *list, *one;
	const cJSON *a;
	long id;

	id = post_one(SCHOOL ",2026-2027-1,class_size_max,58,,\n", "class_size.school", SCHOOL,
	    "fired", "warning");

	list = get_json(monitor, "GET", "/v1/alerts?rule=class_size.school&state=firing", 200);
	a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "alerts"), 0);
	cr_assert_not_null(a, "the monitor lists the alert");
	cr_expect_eq((long)cJSON_GetObjectItemCaseSensitive(a, "id")->valuedouble, id);
	cr_expect_str_eq(jstr(a, "title"), "出现大班额");
	cJSON_Delete(list);

	list = get_json(other, "GET", "/v1/alerts?rule=class_size.school", 200);
	cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "alerts")), 0,
	    "another district's monitor sees nothing of it");
	cJSON_Delete(list);

	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", id);
	one = get_json(monitor, "POST", path, 200);
	cr_expect(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(one, "acked")), "acknowledged");
	cJSON_Delete(one);
	snprintf(path, sizeof path, "SELECT acked_by FROM edumon.alert WHERE id = %ld", id);
	expect_value(path, "李老师");

	/* Resolve and fire again: a new episode, unacknowledged. */
	cJSON_Delete(post_csv(E.reporter, SCHOOL ",2026-2027-1,class_size_max,50,,\n"));
	r = post_csv(E.reporter, SCHOOL ",2026-2027-1,class_size_max,57,,\n");
	cr_expect_eq(expect_one_alert(r, "class_size.school", SCHOOL, "fired", "warning"), id);
	cJSON_Delete(r);
	snprintf(path, sizeof path,
	    "SELECT (acked_at IS NULL) || ' ' || (SELECT string_agg(kind, ',' ORDER BY id)"
	    " FROM edumon.alert_event WHERE alert_id = %ld) FROM edumon.alert WHERE id = %ld",
	    id, id);
	expect_value(path, "true fired,acknowledged,resolved,fired");
	free(monitor);
	free(other);
}

/* A correction inside the same band tells nobody, but the stored alert,
 * its message and the API show the figure in force. */
Test(alerts, firing_alert_shows_the_figure_in_force)
{
	char *monitor = tl_token_live(E.port, E.db, "--monitor 320703");
	cJSON *one;
	const cJSON *v;
	long id;
	char sql[256];

	id = post_one(SCHOOL ",2026-2027-1,class_size_max,58,,\n", "class_size.school", SCHOOL,
	    "fired", "warning");
	snprintf(sql, sizeof sql,
	    "UPDATE edumon.alert SET updated_at = updated_at - interval '1 hour'"
	    " WHERE id = %ld",
	    id);
	tl_exec(E.pg, sql);

	post_quiet(SCHOOL ",2026-2027-1,class_size_max,60,,\n", "58 to 60 is no new event");
	snprintf(sql, sizeof sql,
	    "SELECT state || ' ' || severity || ' ' || value || ' ' || bound || ' ' ||"
	    " (updated_at > now() - interval '1 minute') FROM edumon.alert WHERE id = %ld",
	    id);
	expect_value(sql, "firing warning 60 56 true");
	snprintf(sql, sizeof sql, "SELECT message FROM edumon.alert WHERE id = %ld", id);
	expect_value(sql, "连云区实验小学最大班额60人，达到56人（2026-2027-1，预警）");
	snprintf(sql, sizeof sql,
	    "SELECT string_agg(kind || ':' || coalesce(value::text, '-'), ',' ORDER BY id)"
	    " FROM edumon.alert_event WHERE alert_id = %ld",
	    id);
	expect_value(sql, "fired:58");
	snprintf(sql, sizeof sql, "/v1/alerts/%ld", id);
	one = get_json(monitor, "GET", sql, 200);
	v = cJSON_GetObjectItemCaseSensitive(one, "value");
	cr_expect(cJSON_IsNumber(v) && v->valuedouble == 60, "the API shows 60");
	cJSON_Delete(one);

	/* Resolved: the message stays that of the breach, with its last figure. */
	post_one(SCHOOL ",2026-2027-1,class_size_max,50,,\n", "class_size.school", SCHOOL,
	    "resolved", "warning");
	snprintf(sql, sizeof sql,
	    "SELECT state || ' ' || resolved_value || ' ' || message FROM edumon.alert"
	    " WHERE id = %ld",
	    id);
	expect_value(sql, "resolved 50 连云区实验小学最大班额60人，达到56人（2026-2027-1，预警）");
	free(monitor);
}

/*
 * A daemon that was down catches up on the deadlines it missed: with the
 * evaluation clock set back ten days, a restart fires the missing daily
 * reports of every school day in between (Monday to Friday without a
 * calendar), not only yesterday's.
 */
Test(alerts, restart_catches_up_on_missed_deadlines)
{
	long school_days, fired;

	cr_assert_eq(tl_daemon_stop(E.d), 0);
	E.d = NULL;
	cr_assert_eq(
	    qlong("SELECT count(*) FROM edumon.alert WHERE rule_id = 'sick_absence.missing'"
	          " AND period_start < (now() AT TIME ZONE 'Asia/Shanghai')::date - 1"),
	    0, "a first start judges only what fell due today");
	PQclear(PQexec(E.pg, "UPDATE edumon.evaluation_clock SET last_day = last_day - 10"));
	start_daemon();
	/* Days whose report fell due in the ten days: school days d with
	 * d + 1 in (last_day - 10, today]. */
	school_days = qlong("SELECT count(*) FROM generate_series("
	                    "(SELECT last_day FROM edumon.evaluation_clock) - 10,"
	                    " (SELECT last_day FROM edumon.evaluation_clock) - 1, '1 day') AS d"
	                    " WHERE extract(isodow FROM d) < 6");
	fired = qlong("SELECT count(DISTINCT period) FROM edumon.v_alert WHERE rule_id ="
	              " 'sick_absence.missing' AND unit_code = '" SCHOOL "' AND state = 'firing'");
	cr_expect_eq(fired, school_days, "one missing-report alert per school day caught up on");
	cr_expect_gt(fired, 5, "ten days hold at least six school days");
}

/* Every alert change is announced on NOTIFY edumon_alerts when it commits,
 * before the receipt goes out. */
Test(alerts, changes_are_announced_on_notify)
{
	PGconn *listener = tl_db_connect(E.db);
	PGnotify *n;
	cJSON *payload;
	long id;
	int got = 0;
	const char *kinds[2] = {"fired", "resolved"};

	PQclear(PQexec(listener, "LISTEN edumon_alerts"));
	id = post_one(SCHOOL ",2026-2027-1,class_size_max,61,,\n", "class_size.school", SCHOOL,
	    "fired", "warning");
	cJSON_Delete(post_csv(E.reporter, SCHOOL ",2026-2027-1,class_size_max,40,,\n"));
	/* Both were committed before their receipts: they are waiting. */
	for (int tries = 0; tries < 50 && got < 2; tries++) {
		PQconsumeInput(listener);
		while (got < 2 && (n = PQnotifies(listener)) != NULL) {
			cr_expect_str_eq(n->relname, "edumon_alerts");
			payload = cJSON_Parse(n->extra);
			cr_assert_not_null(payload, "%s", n->extra);
			if (strcmp(jstr(payload, "rule"), "class_size.school") == 0) {
				cr_expect_eq(
				    (long)cJSON_GetObjectItemCaseSensitive(payload, "alert")
				        ->valuedouble,
				    id);
				cr_expect_str_eq(jstr(payload, "unit"), SCHOOL);
				cr_expect_str_eq(jstr(payload, "period"), "2026-2027-1");
				cr_expect_str_eq(jstr(payload, "event"), kinds[got], "in order");
				got++;
			}
			cJSON_Delete(payload);
			PQfreemem(n);
		}
		if (got < 2)
			usleep(100 * 1000);
	}
	cr_expect_eq(got, 2, "fired and resolved were announced");
	PQfinish(listener);
}
