/*
 * test_it_rules.c: the rule set in the running daemon: loaded at start
 * (an invalid set refuses the start), mirrored into edumon.rule with its
 * version hash, reloaded on SIGHUP (a broken set keeps the old rules).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static char dir[] = "/tmp/edumon-rules-XXXXXX";

static void
cleanup(void)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	tl_run(cmd, NULL);
}

/* Poll sql until it returns want (as text) or 10 s pass. */
static char *
wait_value(PGconn *c, const char *sql, const char *want)
{
	char *v = NULL;

	for (int i = 0; i < 100; i++) {
		free(v);
		v = tl_query_value(c, sql);
		if (v != NULL && strcmp(v, want) == 0)
			break;
		usleep(100000);
	}
	return v;
}

/* Number of rules `edumon rules check DIR` reports. */
static int
rules_in(const char *path)
{
	char cmd[512], *out = NULL;
	int n = -1;

	snprintf(cmd, sizeof cmd, "%s/edumon rules check %s", tl_build_dir(), path);
	cr_assert_eq(tl_run(cmd, &out), 0, "the rule set is valid");
	sscanf(out, "%d rules", &n);
	free(out);
	return n;
}

Test(rules, mirrored_and_reloaded, .timeout = 90, .fini = cleanup)
{
	char *db = tl_db_create("rules"), cmd[1024], args[256], want[32], *v;
	PGconn *c = tl_db_connect(db);
	struct tl_daemon *d;
	int n;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(cmd, sizeof cmd, "cp deploy/rules/*.json %s/", dir);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	n = rules_in(dir);
	cr_assert_gt(n, 10);
	snprintf(args, sizeof args, "--rules %s", dir);
	d = tl_daemon_start(db, args);

	snprintf(want, sizeof want, "%d", n);
	v = wait_value(c, "SELECT count(*) FROM edumon.rule WHERE active", want);
	cr_expect_str_eq(v, want, "every rule is recorded");
	free(v);
	v = tl_query_value(c, "SELECT count(DISTINCT ruleset) FROM edumon.rule");
	cr_expect_str_eq(v, "1");
	free(v);
	v = tl_query_value(c, "SELECT definition->'bands'->1->>2 FROM edumon.rule"
			      " WHERE id = 'class_size.school'");
	cr_expect_str_eq(v, "66");
	free(v);

	/* A broken file: refused, the old rules stay in force. */
	snprintf(cmd, sizeof cmd, "printf '{\"rules\": [{\"id\": \"x\"' > %s/zz_broken.json", dir);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	cr_assert_eq(kill(tl_daemon_pid(d), SIGHUP), 0);
	sleep(1);
	{
		struct tl_resp r;

		cr_assert_eq(tl_http(tl_daemon_port(d), "GET", "/metrics", NULL, NULL, 0, &r), 0);
		cr_expect(strstr(r.body, "edumon_rule_reload_failures_total 1\n") != NULL, "%s",
		    r.body);
		cr_expect(strstr(r.body, "edumon_rules_loaded ") != NULL);
		tl_resp_free(&r);
	}
	v = tl_query_value(c, "SELECT count(*) FROM edumon.rule WHERE active");
	cr_expect_str_eq(v, want, "the old rules stay");
	free(v);
	{
		char *log = NULL;

		snprintf(cmd, sizeof cmd, "grep -c 'zz_broken.json' %s", tl_daemon_log(d));
		cr_expect_eq(tl_run(cmd, &log), 0, "the log names the broken file");
		free(log);
	}

	/* Fix it by changing a bound instead: a new version of one rule. */
	snprintf(cmd, sizeof cmd,
	    "rm %s/zz_broken.json && sed -i 's/\"op\": \">=\", \"value\": 66/\"op\": \">=\", \"value\": 65/'"
	    " %s/compulsory.json",
	    dir, dir);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	cr_assert_eq(kill(tl_daemon_pid(d), SIGHUP), 0);
	v = wait_value(c, "SELECT definition->'bands'->1->>2 FROM edumon.rule"
			  " WHERE id = 'class_size.school' AND active",
	    "65");
	cr_expect_str_eq(v, "65", "the new version is in force");
	free(v);
	v = tl_query_value(c, "SELECT count(*) FROM edumon.rule WHERE id = 'class_size.school'");
	cr_expect_str_eq(v, "2", "the old version is kept, inactive");
	free(v);
	v = tl_query_value(c, "SELECT count(*) FROM edumon.rule WHERE active");
	cr_expect_str_eq(v, want);
	free(v);
	v = tl_query_value(c, "SELECT count(DISTINCT ruleset) FROM edumon.rule WHERE active");
	cr_expect_str_eq(v, "1", "all active rules carry the new set's version");
	free(v);
	cr_expect_eq(tl_daemon_stop(d), 0);
	PQfinish(c);
	free(db);
}

Test(rules, invalid_set_refuses_to_start, .timeout = 60, .fini = cleanup)
{
	char *db = tl_db_create("rules"), cmd[1024], *out = NULL;
	int st;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(cmd, sizeof cmd,
	    "printf '[{\"id\": \"bad\", \"kind\": \"threshold\"}]' > %s/bad.json", dir);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	snprintf(cmd, sizeof cmd,
	    "timeout 10 %s/edumond --listen 127.0.0.1:0 --database '%s' --rules %s 2>&1",
	    tl_build_dir(), db, dir);
	st = tl_run(cmd, &out);
	cr_expect_eq(st, 1, "edumond refuses to start (status %d)", st);
	cr_expect(strstr(out, "bad.json") != NULL, "the error names the file: %s", out);
	free(out);
	free(db);
}
