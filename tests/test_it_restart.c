/*
 * test_it_restart.c: PostgreSQL goes away under a running edumond and comes
 * back. While it is down, submissions get 503 with Retry-After and nothing is
 * acknowledged that is not stored; afterwards the daemon reconnects by
 * itself. The test runs its own cluster so that stopping it disturbs no
 * other test.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static char dir[] = "/tmp/edumon-restart-XXXXXX";

static void
pg(const char *verb)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "sh tools/pg-local.sh %s %s/pg >&2", verb, dir);
	cr_assert_eq(tl_run(cmd, NULL), 0, "pg-local.sh %s", verb);
}

static void
cleanup(void)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "sh tools/pg-local.sh destroy %s/pg >/dev/null 2>&1; rm -rf %s",
	    dir, dir);
	tl_run(cmd, NULL);
}

static int
post(int port, const char *token, int value, struct tl_resp *r, const char *key)
{
	char headers[512], body[256];

	snprintf(headers, sizeof headers,
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: %s\r\n",
	    token, key);
	snprintf(body, sizeof body,
	    "{\"school\":\"2132070301\",\"period\":\"2021-09\",\"metrics\":{\"emergency_drills\":%d}}",
	    value);
	return tl_http(port, "POST", "/v1/submissions", headers, body, strlen(body), r);
}

/* Suite-level options: Criterion's per-test ones leak under LSan. */
TestSuite(restart, .fini = cleanup, .timeout = 120);

Test(restart, database_stops_and_returns)
{
	char *conninfo, *out = NULL, *token, cmd[1024], *v;
	struct tl_daemon *d;
	struct tl_resp r;
	PGconn *c;
	int port, acked = 0, status = 0;

	cr_assert_not_null(mkdtemp(dir));
	pg("init");
	pg("start");
	snprintf(cmd, sizeof cmd, "sh tools/pg-local.sh conninfo %s/pg", dir);
	cr_assert_eq(tl_run(cmd, &out), 0);
	out[strcspn(out, "\n")] = '\0';
	conninfo = out;
	cr_assert_not_null(strstr(conninfo, "dbname="), "%s", conninfo);
	snprintf(cmd, sizeof cmd,
	    "psql -X -q '%.*s dbname=postgres' -c 'CREATE DATABASE edumon' >&2 &&"
	    " %s/edumon --database '%s' migrate >&2 &&"
	    " %s/edumon --database '%s' catalog load deploy/metrics.csv >&2 &&"
	    " %s/edumon --database '%s' schools import deploy/demo/units.csv >&2",
	    (int)(strstr(conninfo, "dbname=") - conninfo), conninfo, tl_build_dir(), conninfo,
	    tl_build_dir(), conninfo, tl_build_dir(), conninfo);
	cr_assert_eq(tl_run(cmd, NULL), 0, "database set up");
	token = tl_token(conninfo, "--school 2132070301");
	d = tl_daemon_start(conninfo, NULL);
	port = tl_daemon_port(d);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(tl_http(port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
		status = r.status;
		tl_resp_free(&r);
		if (status == 200)
			break;
		usleep(100000);
	}
	cr_assert_eq(status, 200, "ready");

	cr_assert_eq(post(port, token, 1, &r, "before"), 0);
	cr_assert_eq(r.status, 201, "%s", r.body);
	tl_resp_free(&r);
	acked++;

	pg("stop");
	/* The daemon notices the lost connection and answers 503 quickly. */
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(post(port, token, 2, &r, "during"), 0);
		status = r.status;
		if (status == 503)
			break;
		cr_assert_neq(status, 201, "a 201 while the database is down");
		tl_resp_free(&r);
		usleep(100000);
	}
	cr_assert_eq(status, 503);
	cr_expect_not_null(tl_resp_header(&r, "Retry-After"));
	tl_resp_free(&r);
	cr_assert_eq(tl_http(port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 200, "alive while the database is down");
	tl_resp_free(&r);
	cr_assert_eq(tl_http(port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 503, "not ready while the database is down");
	tl_resp_free(&r);

	pg("start");
	/* The client retries with the same key until it is acknowledged. */
	for (int i = 0; i < 150; i++) {
		cr_assert_eq(post(port, token, 2, &r, "during"), 0);
		status = r.status;
		tl_resp_free(&r);
		if (status == 201)
			break;
		cr_assert_eq(status, 503);
		usleep(100000);
	}
	cr_assert_eq(status, 201, "the daemon recovered by itself");
	acked++;
	cr_assert_eq(post(port, token, 2, &r, "during"), 0);
	cr_expect_eq(r.status, 201);
	cr_expect_not_null(tl_resp_header(&r, "Idempotent-Replayed"));
	tl_resp_free(&r);

	c = tl_db_connect(conninfo);
	v = tl_query_value(c, "SELECT count(*) FROM edumon.submission");
	cr_expect_eq(atoi(v), acked, "acknowledged == stored, no duplicates");
	free(v);
	v = tl_query_value(c, "SELECT value FROM edumon.observation");
	cr_expect_eq(atoi(v), 2);
	free(v);
	v = tl_query_value(c, "SELECT count(*) FROM edumon.observation_revision");
	cr_expect_eq(atoi(v), 1);
	free(v);
	PQfinish(c);
	cr_assert_eq(tl_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	cr_expect(strstr(r.body, "edumon_db_reconnects_total 0") == NULL, "reconnects counted");
	tl_resp_free(&r);
	cr_expect_eq(tl_daemon_stop(d), 0);
	free(token);
	free(out);
}

TestSuite(shutdown);

/*
 * SIGTERM while the rule set is being recorded in the database: the job is
 * still in flight on the directory's connection when edumond frees its
 * modules. It used to be finished (as "shutting down") after the rules
 * module was freed, writing to freed memory (found under ASan by
 * test_it_injection). A lock on edumon.rule holds the job in flight.
 */
Test(shutdown, sigterm_while_rules_are_recorded)
{
	char *db = tl_db_create("shutdown");
	PGconn *pg = tl_db_connect(db), *locker = tl_db_connect(db);
	struct tl_daemon *d;
	long waiting = 0;

	tl_exec(locker, "BEGIN; LOCK TABLE edumon.rule IN ACCESS EXCLUSIVE MODE");
	d = tl_daemon_start(db, NULL);
	for (int i = 0; i < 100 && waiting == 0; i++) {
		waiting = tl_query_long(pg, "SELECT count(*) FROM pg_stat_activity"
					    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
					    " AND query LIKE '%edumon.rule%'");
		if (waiting == 0)
			tl_sleep_ms(100);
	}
	cr_expect_gt(waiting, 0, "the rule set's recording waits for the lock");
	cr_expect_eq(tl_daemon_stop(d), 0, "a clean exit");
	tl_exec(locker, "ROLLBACK");
	PQfinish(locker);
	PQfinish(pg);
	free(db);
}
