/*
 * test_it_durable.c: edumond warns loudly when the database would not keep
 * what it acknowledges (synchronous_commit or fsync off), and /readyz says
 * "durable": false.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

/* /readyz once the daemon is ready; the caller frees the response. */
static void
ready(int port, struct tl_resp *r)
{
	for (int i = 0; i < 100; i++) {
		if (tl_http(port, "GET", "/readyz", NULL, NULL, 0, r) == 0 && r->status == 200)
			return;
		tl_resp_free(r);
		usleep(100000);
	}
	cr_assert_fail("edumond never became ready");
}

/* True if the daemon's log holds text. */
static bool
log_has(struct tl_daemon *d, const char *text)
{
	char cmd[1024];

	snprintf(cmd, sizeof cmd, "grep -qF '%s' '%s'", text, tl_daemon_log(d));
	return tl_run(cmd, NULL) == 0;
}

Test(durable, default_settings_are_durable, .timeout = 60)
{
	char *db = tl_db_create("durable");
	struct tl_daemon *d = tl_daemon_start(db, NULL);
	struct tl_resp r;

	ready(tl_daemon_port(d), &r);
	cr_expect(strstr(r.body, "\"durable\":true") != NULL, "%s", r.body);
	tl_resp_free(&r);
	cr_expect(!log_has(d, "no-loss promise of edumon does not hold"));
	cr_expect(log_has(d, "commits are durable"));
	cr_expect_eq(tl_daemon_stop(d), 0);
	free(db);
}

Test(durable, synchronous_commit_off_is_warned_about, .timeout = 60)
{
	char *db = tl_db_create("durable"), *name, sql[256];
	PGconn *c = tl_db_connect(db);
	struct tl_daemon *d;
	struct tl_resp r;
	PGresult *res;

	name = tl_query_value(c, "SELECT current_database()");
	snprintf(sql, sizeof sql, "ALTER DATABASE \"%s\" SET synchronous_commit = off", name);
	res = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);

	d = tl_daemon_start(db, NULL);
	ready(tl_daemon_port(d), &r);
	cr_expect(strstr(r.body, "\"durable\":false") != NULL, "%s", r.body);
	tl_resp_free(&r);
	cr_expect(log_has(d, "warn database: synchronous_commit=off fsync=on: a crash can lose"
			     " committed submissions, so the no-loss promise of edumon does not hold"),
	    "the warning is in %s", tl_daemon_log(d));
	cr_expect_eq(tl_daemon_stop(d), 0);
	free(name);
	free(db);
}
