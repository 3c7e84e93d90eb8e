/*
 * test_it_readonly.c: operations under a running edumond.
 * - The database turns read-only (default_transaction_read_only, as an
 *   operator's safety switch or a failover to a standby would make it) and
 *   back: submissions get a clear 503, nothing is acknowledged that is not
 *   stored, the daemon keeps serving health checks, and everything works
 *   again once the switch is off.
 * - SIGHUP (reloads) while submissions flow: nothing is lost or refused.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static struct {
	char *db;
	PGconn *pg;
	char *token;
	struct tl_daemon *d;
} E;

static void
setup(void)
{
	E.db = tl_db_create("readonly");
	E.pg = tl_db_connect(E.db);
	E.token = tl_token(E.db, "--school 2132070301");
	E.d = tl_daemon_start(E.db, "--alert-wait 60000");
	tl_wait_alerts_ready(tl_daemon_port(E.d));
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.token);
}

/* Set the switch for the database and make every session of the daemon
 * start again, so that its connections see it. */
static void
read_only(bool on)
{
	char sql[512];

	snprintf(sql, sizeof sql, "ALTER DATABASE \"%s\" SET default_transaction_read_only = %s",
	    PQdb(E.pg), on ? "on" : "off");
	tl_exec(E.pg, sql);
	tl_exec(E.pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
	              " WHERE datname = current_database() AND pid <> pg_backend_pid()");
}

static int
post(int value, struct tl_resp *r)
{
	char headers[512], body[256];

	snprintf(headers, sizeof headers,
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Idempotency-Key: ro-%d\r\n", E.token, value);
	snprintf(body, sizeof body,
	    "{\"school\":\"2132070301\",\"period\":\"2026-2027-1\","
	    "\"metrics\":{\"class_size_max\":%d}}", value);
	return tl_http(tl_daemon_port(E.d), "POST", "/v1/submissions", headers, body,
	    strlen(body), r);
}

TestSuite(readonly, .init = setup, .fini = teardown, .timeout = 120);

Test(readonly, refuses_clearly_and_recovers)
{
	struct tl_resp r;
	int refused = 0, accepted = 0, v = 60;

	read_only(true);
	/* Until the daemon has reconnected, an attempt may also meet a closed
	 * connection: every answer must be a 503, none a 201. */
	for (int i = 0; i < 20; i++, v++) {
		cr_assert_eq(post(v, &r), 0, "the daemon answers");
		cr_expect_eq(r.status, 503, "read-only: %d %s", r.status, r.body);
		cr_expect_not_null(tl_resp_header(&r, "Retry-After"));
		refused += r.status == 503;
		tl_resp_free(&r);
		usleep(50 * 1000);
	}
	cr_expect_eq(refused, 20);
	cr_assert_eq(tl_http(tl_daemon_port(E.d), "GET", "/healthz", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 200, "alive while the database refuses writes");
	tl_resp_free(&r);
	cr_expect_eq(
	    tl_query_long(E.pg, "SELECT count(*) FROM edumon.submission"), 0, "nothing stored");

	read_only(false);
	/* Back: the same daemon stores again, within a generous minute. */
	for (int i = 0; i < 600 && accepted == 0; i++, v++) {
		cr_assert_eq(post(v, &r), 0);
		accepted = r.status == 201;
		if (!accepted) {
			cr_expect_eq(r.status, 503, "%d %s", r.status, r.body);
			usleep(100 * 1000);
		}
		tl_resp_free(&r);
	}
	cr_expect(accepted, "the daemon recovered by itself");
	cr_expect_eq(tl_query_long(E.pg, "SELECT count(*) FROM edumon.submission"), 1,
	    "exactly what was acknowledged is stored");
	/* The rules engine recovered too: the stored class size fires. */
	for (int i = 0;
	     i < 200 &&
	     tl_query_long(E.pg, "SELECT count(*) FROM edumon.alert"
	                         " WHERE rule_id = 'class_size.school' AND state = 'firing'") != 1;
	     i++)
		usleep(100 * 1000);
	cr_expect_eq(tl_query_long(E.pg, "SELECT count(*) FROM edumon.alert WHERE rule_id ="
	                                 " 'class_size.school' AND state = 'firing'"),
	    1);
}

/* SIGHUP (reload registry, tokens and rules) while submissions flow:
 * every submission is stored and answered 201, and the daemon stays up. */
Test(readonly, sighup_under_load)
{
	struct tl_resp r;
	int ok = 0;

	for (int i = 0; i < 60; i++) {
		if (i % 5 == 0)
			cr_assert_eq(kill(tl_daemon_pid(E.d), SIGHUP), 0);
		cr_assert_eq(post(100 + i, &r), 0, "request %d answered", i);
		cr_expect_eq(r.status, 201, "request %d: %d %s", i, r.status, r.body);
		ok += r.status == 201;
		tl_resp_free(&r);
	}
	cr_expect_eq(ok, 60);
	cr_expect_eq(tl_query_long(E.pg, "SELECT count(*) FROM edumon.submission"), 60);
	tl_wait_alerts_ready(tl_daemon_port(E.d));
}
