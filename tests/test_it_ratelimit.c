/*
 * test_it_ratelimit.c: per-token rate limiting through the real edumond and
 * a real PostgreSQL: 429 with Retry-After once a token's burst is used, other
 * tokens unaffected, the token accepted again after the server's own
 * Retry-After, and nothing of a refused request stored.
 *
 * Timing: the requests that must meet an empty bucket are sent at once on
 * their own connections (threads), so they arrive within milliseconds of
 * each other however slow the machine; the burst covers the ones that must
 * pass; the wait is the server's Retry-After, never a guess.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define SCHOOL "2132070301" /* primary, district 320703 */

struct env {
	char *db;
	PGconn *pg;
	char *token_a, *token_b, *monitor;
	struct tl_daemon *d;
	int port;
};

static struct env E;

static void
start_env(const char *args)
{
	memset(&E, 0, sizeof E);
	E.db = tl_db_create("ratelimit");
	E.pg = tl_db_connect(E.db);
	E.token_a = tl_token(E.db, "--school " SCHOOL);
	E.token_b = tl_token(E.db, "--school " SCHOOL);
	E.monitor = tl_token(E.db, "--monitor 320703");
	E.d = tl_daemon_start(E.db, args);
	E.port = tl_daemon_port(E.d);
	for (int i = 0; i < 100; i++) {
		struct tl_resp r;
		int st = tl_http(E.port, "GET", "/readyz", NULL, NULL, 0, &r) == 0 ? r.status : 0;

		tl_resp_free(&r);
		if (st == 200)
			return;
		usleep(100000);
	}
	cr_assert_fail("edumond never became ready");
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.token_a);
	free(E.token_b);
	free(E.monitor);
}

/* POST a submission of class_size_max = value (or a raw body) as token. */
struct sub {
	const char *token;
	const char *ctype;
	const char *raw; /* NULL: a valid submission of value */
	int value;
	int rc;
	struct tl_resp r;
};

static void *
submit_thread(void *arg)
{
	struct sub *s = arg;
	char headers[512], body[256];

	snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\nContent-Type: %s\r\n",
	    s->token, s->ctype != NULL ? s->ctype : "application/json");
	snprintf(body, sizeof body,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
	    "\"metrics\":{\"class_size_max\":%d}}",
	    s->value);
	if (s->raw != NULL)
		snprintf(body, sizeof body, "%s", s->raw);
	s->rc = tl_http(E.port, "POST", "/v1/submissions", headers, body, strlen(body), &s->r);
	return NULL;
}

/* Send every one of subs[0..n) at once, each on its own connection. */
static void
submit_together(struct sub *subs, size_t n)
{
	pthread_t th[8];

	cr_assert_leq(n, 8);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, submit_thread, &subs[i]), 0);
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(subs[i].rc, 0, "request %zu answered", i);
}

static int
submit(struct sub *s)
{
	submit_together(s, 1);
	return s->r.status;
}

static long
count(const char *sql)
{
	char *v = tl_query_value(E.pg, sql);
	long n = v != NULL ? atol(v) : -1;

	free(v);
	return n;
}

/*
 * Observations stored with this value: every submission here is for the
 * same school, metric and period, so all but the last are revisions.
 */
static long
stored(int value)
{
	char sql[256];

	snprintf(sql, sizeof sql,
	    "SELECT (SELECT count(*) FROM edumon.observation WHERE value = %d)"
	    " + (SELECT count(*) FROM edumon.observation_revision WHERE value = %d)",
	    value, value);
	return count(sql);
}

/* The value of an unlabelled or fully labelled series in /metrics. */
static long
metric(const char *name)
{
	struct tl_resp r;
	char line[256];
	const char *p;
	long v = -1;

	snprintf(line, sizeof line, "\n%s ", name);
	cr_assert_eq(tl_http(E.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	p = strstr(r.body, line);
	if (p != NULL)
		v = atol(p + strlen(line));
	tl_resp_free(&r);
	return v;
}

static void
rate_1_burst_2(void)
{
	start_env("--rate-limit 1 --rate-burst 2 --alerts 0");
}

Test(ratelimit, burst_then_429_then_accepted_after_retry_after, .init = rate_1_burst_2,
    .fini = teardown)
{
	struct sub three[3] = {
	    {.token = E.token_a, .value = 41},
	    {.token = E.token_a, .value = 42},
	    {.token = E.token_a, .value = 43},
	};
	struct sub other = {.token = E.token_b, .value = 50};
	struct sub again = {.token = E.token_a, .value = 60};
	int created = 0, refused = -1, retry_after;
	const char *ra;

	submit_together(three, 3);
	for (int i = 0; i < 3; i++) {
		if (three[i].r.status == 201)
			created++;
		else if (three[i].r.status == 429)
			refused = i;
		else
			cr_expect_fail("request %d: %d %s", i, three[i].r.status, three[i].r.body);
	}
	cr_assert_eq(created, 2, "the burst lets two through");
	cr_assert_geq(refused, 0, "the third is refused");
	ra = tl_resp_header(&three[refused].r, "Retry-After");
	cr_assert_not_null(ra, "429 carries Retry-After");
	retry_after = atoi(ra);
	cr_expect(retry_after >= 1 && retry_after <= 2, "Retry-After %s", ra);
	cr_expect(strstr(three[refused].r.body, "\"error\":\"rate_limited\"") != NULL, "%s",
	    three[refused].r.body);
	cr_expect(strstr(three[refused].r.body, "\"message\":") != NULL);

	cr_expect_eq(submit(&other), 201, "another token is not affected: %s", other.r.body);

	sleep((unsigned)retry_after);
	cr_expect_eq(submit(&again), 201, "accepted after Retry-After: %s", again.r.body);

	cr_expect_eq(stored(three[refused].value), 0, "nothing of the refused request");
	for (int i = 0; i < 3; i++)
		if (i != refused)
			cr_expect_eq(stored(three[i].value), 1, "request %d stored", i);
	cr_expect_eq(stored(other.value), 1);
	cr_expect_eq(stored(again.value), 1);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 4);
	cr_expect_eq(metric("edumon_rate_limited_total"), 1);
	cr_expect_eq(metric("edumon_http_requests_total{route=\"submissions\",status=\"429\"}"), 1);
	for (int i = 0; i < 3; i++)
		tl_resp_free(&three[i].r);
	tl_resp_free(&other.r);
	tl_resp_free(&again.r);
}

static void
rate_1_per_hour(void)
{
	start_env("--rate-limit 1/h --rate-burst 1 --alerts 0");
}

/*
 * The limit applies after authentication and before the body is read: a
 * refused token gets 429 whatever it sends, and requests that fail
 * authentication or are refused consume nothing.
 */
Test(ratelimit, checked_after_authentication_before_the_body, .init = rate_1_per_hour,
    .fini = teardown)
{
	struct sub bogus = {.token = "edm_notarealtokennotarealtokennotarealtokenxxx", .value = 1};
	struct sub monitor = {.token = E.monitor, .value = 2};
	struct sub first = {.token = E.token_a, .value = 3};
	struct sub malformed = {.token = E.token_a, .raw = "{\"school\":"};
	struct sub wrong_type = {.token = E.token_a, .ctype = "text/plain", .value = 4};
	struct sub valid = {.token = E.token_a, .value = 5};
	struct sub b = {.token = E.token_b, .value = 6};

	for (int i = 0; i < 3; i++) {
		cr_expect_eq(submit(&bogus), 401);
		tl_resp_free(&bogus.r);
	}
	cr_expect_eq(submit(&monitor), 403);
	cr_expect_eq(submit(&first), 201, "%s", first.r.body);
	cr_expect_eq(submit(&malformed), 429, "refused before the body is parsed");
	cr_expect_eq(submit(&wrong_type), 429);
	cr_expect_eq(submit(&valid), 429);
	cr_expect_str_eq(tl_resp_header(&valid.r, "Retry-After"), "3600");
	cr_expect_eq(submit(&b), 201, "%s", b.r.body);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 2);
	cr_expect_eq(metric("edumon_rate_limited_total"), 3);
	tl_resp_free(&monitor.r);
	tl_resp_free(&first.r);
	tl_resp_free(&malformed.r);
	tl_resp_free(&wrong_type.r);
	tl_resp_free(&valid.r);
	tl_resp_free(&b.r);
}

static void
defaults(void)
{
	start_env("--alerts 0");
}

/* Without --rate-limit nothing is limited (more than any default burst). */
Test(ratelimit, off_by_default, .init = defaults, .fini = teardown)
{
	struct sub subs[8];

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 8; i++)
			subs[i] = (struct sub){.token = E.token_a, .value = 100 + 8 * round + i};
		submit_together(subs, 8);
		for (int i = 0; i < 8; i++) {
			cr_expect_eq(subs[i].r.status, 201, "%s", subs[i].r.body);
			tl_resp_free(&subs[i].r);
		}
	}
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 32);
	cr_expect_eq(metric("edumon_rate_limited_total"), 0);
}
