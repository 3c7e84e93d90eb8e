/*
 * test_it_privileges.c: edumond runs as a login role that holds only
 * edumon_daemon, and everything it does (submissions, corrections,
 * idempotent replays, token use, the rules mirror) works with those grants
 * alone; the same role cannot change the schema or delete data.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static void
exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
	    "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static void
exec_denied(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	cr_expect(state != NULL && strcmp(state, "42501") == 0,
	    "%s must be refused for lack of privilege, got %s", sql,
	    state ? state : PQresStatus(PQresultStatus(r)));
	PQclear(r);
}

static int
post(int port, const char *token, const char *key, int value, struct tl_resp *r)
{
	char headers[512], body[256];

	snprintf(headers, sizeof headers,
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: %s\r\n",
	    token, key);
	snprintf(body, sizeof body,
	    "{\"school\":\"2132070301\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":%d}}",
	    value);
	return tl_http(port, "POST", "/v1/submissions", headers, body, strlen(body), r);
}

Test(privileges, daemon_runs_with_edumon_daemon_only, .timeout = 90)
{
	char *db = tl_db_create("priv"), role[64], sql[256], *conninfo, *token, *v;
	PGconn *admin = tl_db_connect(db), *as_daemon;
	struct tl_daemon *d;
	struct tl_resp r;
	int port, status = 0;

	snprintf(role, sizeof role, "edumond_test_%d", (int)getpid());
	snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s", role);
	exec_ok(admin, sql);
	snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN IN ROLE edumon_daemon", role);
	exec_ok(admin, sql);
	conninfo = malloc(strlen(db) + 64);
	sprintf(conninfo, "%s user=%s", db, role);
	token = tl_token(db, "--school 2132070301");

	d = tl_daemon_start(conninfo, NULL);
	port = tl_daemon_port(d);
	for (int i = 0; i < 100 && status != 200; i++) {
		cr_assert_eq(tl_http(port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
		status = r.status;
		tl_resp_free(&r);
		usleep(100000);
	}
	cr_assert_eq(status, 200, "ready as %s", role);
	cr_assert_eq(post(port, token, "a", 50, &r), 0);
	cr_expect_eq(r.status, 201, "insert: %s", r.body);
	tl_resp_free(&r);
	cr_assert_eq(post(port, token, "b", 57, &r), 0);
	cr_expect_eq(r.status, 201, "correction: %s", r.body);
	tl_resp_free(&r);
	cr_assert_eq(post(port, token, "b", 57, &r), 0);
	cr_expect_eq(r.status, 201, "replay: %s", r.body);
	cr_expect_not_null(tl_resp_header(&r, "Idempotent-Replayed"));
	tl_resp_free(&r);
	for (int i = 0; i < 150; i++) {
		v = tl_query_value(admin, "SELECT count(*) FROM edumon.rule WHERE active");
		status = atoi(v);
		free(v);
		v = tl_query_value(admin, "SELECT count(*) FROM edumon.api_token"
					  " WHERE last_used_at IS NOT NULL");
		if (status > 0 && atoi(v) > 0) {
			free(v);
			break;
		}
		free(v);
		usleep(100000);
	}
	cr_expect_gt(status, 0, "the rules mirror works with the daemon's grants");
	v = tl_query_value(admin, "SELECT count(*) FROM edumon.api_token WHERE last_used_at IS NOT NULL");
	cr_expect_str_eq(v, "1", "token use is recorded with the daemon's grants");
	free(v);
	cr_expect_eq(tl_daemon_stop(d), 0);

	/* What the daemon's role must not do. */
	as_daemon = tl_db_connect(conninfo);
	exec_denied(as_daemon, "DROP TABLE edumon.observation");
	exec_denied(as_daemon, "ALTER TABLE edumon.submission ADD COLUMN x int");
	exec_denied(as_daemon, "DELETE FROM edumon.observation");
	exec_denied(as_daemon, "TRUNCATE edumon.submission");
	exec_denied(as_daemon, "UPDATE edumon.observation SET unit_id = unit_id");
	exec_denied(as_daemon, "INSERT INTO edumon.api_token (token_sha256, prefix, role)"
			       " VALUES (sha256('x'), 'edm_', 'admin')");
	exec_denied(as_daemon, "UPDATE edumon.org_unit SET name = 'x'");
	PQfinish(as_daemon);
	PQfinish(admin);
	free(conninfo);
	free(token);
	free(db);
}
