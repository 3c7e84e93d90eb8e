/*
 * test_it_ingest.c: the ingest path end to end: the real edumond, a real
 * PostgreSQL, real sockets. Each test gets a fresh database and daemon.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define SCHOOL "2132070301"      /* primary, district 320703 */
#define JUNIOR "3132070301"      /* junior, district 320703 */
#define OTHER_SCHOOL "3132070601" /* junior, district 320706 */

struct env {
	char *db;
	PGconn *pg;
	char *school_token;
	char *reporter_token;
	char *monitor_token;
	struct tl_daemon *d;
	int port;
};

static struct env E;

static void
start_env(const char *extra)
{
	memset(&E, 0, sizeof E);
	E.db = tl_db_create("ingest");
	E.pg = tl_db_connect(E.db);
	E.school_token = tl_token(E.db, "--school " SCHOOL);
	E.reporter_token = tl_token(E.db, "--reporter 320703");
	E.monitor_token = tl_token(E.db, "--monitor 320703");
	E.d = tl_daemon_start(E.db, extra);
	E.port = tl_daemon_port(E.d);
	tl_wait_ready(E.port);
}

static void
setup(void)
{
	start_env(NULL);
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.school_token);
	free(E.reporter_token);
	free(E.monitor_token);
}

/* POST body with the given token and content type; extra headers optional. */
static void
post(const char *token, const char *ctype, const char *extra, const char *body,
    struct tl_resp *r)
{
	char headers[1024];

	snprintf(headers, sizeof headers, "%s%s%s%sContent-Type: %s\r\n%s",
	    token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "", "",
	    ctype, extra ? extra : "");
	cr_assert_eq(tl_http(E.port, "POST", "/v1/submissions", headers, body, strlen(body), r), 0,
	    "request sent");
}

static long
count(const char *sql)
{
	char *v = tl_query_value(E.pg, sql);
	long n = v ? atol(v) : -1;

	free(v);
	return n;
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

static double
jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	cr_assert(cJSON_IsNumber(v), "%s is a number", key);
	return v->valuedouble;
}

TestSuite(ingest, .init = setup, .fini = teardown, .timeout = 60);

Test(ingest, health_and_readiness)
{
	struct tl_resp r;

	cr_assert_eq(tl_http(E.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 200);
	tl_resp_free(&r);
	cr_assert_eq(tl_http(E.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect(strstr(r.body, "\"database\":true") != NULL, "%s", r.body);
	tl_resp_free(&r);
	cr_assert_eq(tl_http(E.port, "GET", "/nope", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 404);
	tl_resp_free(&r);
	cr_assert_eq(tl_http(E.port, "GET", "/v1/submissions", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 405);
	tl_resp_free(&r);
}

Test(ingest, submission_is_committed_before_201)
{
	struct tl_resp r;
	cJSON *j, *items;

	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
	    "\"metrics\":{\"class_size_max\":52}}",
	    &r);
	cr_assert_eq(r.status, 201, "201, got %d: %s", r.status, r.body);
	j = json_of(&r);
	cr_expect_eq(jnum(j, "observations"), 1);
	cr_expect_eq(jnum(j, "new"), 1);
	cr_expect_eq(jnum(j, "corrections"), 0);
	items = cJSON_GetObjectItemCaseSensitive(j, "items");
	cr_assert_eq(cJSON_GetArraySize(items), 1);
	cr_expect_str_eq(jstr(cJSON_GetArrayItem(items, 0), "status"), "new");
	cr_expect_str_eq(jstr(cJSON_GetArrayItem(items, 0), "metric"), "class_size_max");
	cr_expect_str_eq(jstr(cJSON_GetArrayItem(items, 0), "period"), "2021-2022-1");
	/* The 201 came after COMMIT: another session sees the row now. */
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation o JOIN edumon.org_unit u"
			   " ON u.id = o.unit_id WHERE u.code = '" SCHOOL "' AND o.value = 52"
			   " AND o.period_start = '2021-09-01' AND o.period_end = '2022-02-01'"),
	    1);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 1);
	{
		char sql[256];

		snprintf(sql, sizeof sql,
		    "SELECT count(*) FROM edumon.observation WHERE submission_id = '%s'",
		    jstr(j, "submission_id"));
		cr_expect_eq(count(sql), 1, "the receipt names the stored submission");
	}
	cJSON_Delete(j);
	tl_resp_free(&r);
}

Test(ingest, rate_as_numerator_and_denominator)
{
	struct tl_resp r;

	post(E.reporter_token, "application/json", NULL,
	    "{\"school\":\"" JUNIOR "\",\"period\":\"2020-2021\","
	    "\"metrics\":{\"junior_progression_rate\":{\"numerator\":49,\"denominator\":50}}}",
	    &r);
	cr_assert_eq(r.status, 201, "got %d: %s", r.status, r.body);
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation WHERE numerator = 49"
			   " AND denominator = 50 AND value = 0.98"),
	    1);
}

Test(ingest, authentication_and_reach)
{
	struct tl_resp r;
	const char *body = "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
			   "\"metrics\":{\"class_size_max\":52}}";
	const char *other = "{\"school\":\"" OTHER_SCHOOL "\",\"period\":\"2021-2022-1\","
			    "\"metrics\":{\"class_size_max\":52}}";
	const char *ghost = "{\"school\":\"9999999999\",\"period\":\"2021-2022-1\","
			    "\"metrics\":{\"class_size_max\":52}}";
	char *a, *b;

	post(NULL, "application/json", NULL, body, &r);
	cr_expect_eq(r.status, 401);
	cr_expect_not_null(tl_resp_header(&r, "WWW-Authenticate"));
	tl_resp_free(&r);
	post("edm_notarealtokennotarealtokennotarealtokenxxx", "application/json", NULL, body, &r);
	cr_expect_eq(r.status, 401);
	tl_resp_free(&r);
	post(E.monitor_token, "application/json", NULL, body, &r);
	cr_expect_eq(r.status, 403);
	tl_resp_free(&r);

	post(E.school_token, "application/json", NULL, other, &r);
	cr_expect_eq(r.status, 403, "a school cannot write another school");
	a = strdup(r.body);
	tl_resp_free(&r);
	post(E.school_token, "application/json", NULL, ghost, &r);
	cr_expect_eq(r.status, 403);
	b = strdup(r.body);
	tl_resp_free(&r);
	/* Same shape of answer whether the other code exists or not. */
	cr_expect(strstr(a, OTHER_SCHOOL) != NULL && strstr(b, "9999999999") != NULL);
	{
		char *pa = strstr(a, OTHER_SCHOOL), *pb = strstr(b, "9999999999");

		cr_expect_eq(pa - a, pb - b);
		cr_expect_str_eq(pa + 10, pb + 10, "messages differ only by the code");
	}
	free(a);
	free(b);

	post(E.reporter_token, "application/json", NULL, other, &r);
	cr_expect_eq(r.status, 403, "a district reporter cannot write another district");
	tl_resp_free(&r);
	post(E.reporter_token, "application/json", NULL, body, &r);
	cr_expect_eq(r.status, 201, "a district reporter writes its schools: %s", r.body);
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), 1);
}

Test(ingest, revoked_token_is_refused_after_notify)
{
	struct tl_resp r;
	char *id, cmd[1024];
	const char *body = "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
			   "\"metrics\":{\"class_size_max\":52}}";

	post(E.school_token, "application/json", NULL, body, &r);
	cr_assert_eq(r.status, 201);
	tl_resp_free(&r);
	id = tl_query_value(E.pg, "SELECT min(id) FROM edumon.api_token WHERE role = 'school'");
	snprintf(cmd, sizeof cmd, "%s/edumon --database '%s' token revoke %s", tl_build_dir(),
	    E.db, id);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	free(id);
	for (int i = 0; i < 50; i++) {
		post(E.school_token, "application/json", NULL, body, &r);
		if (r.status == 401)
			break;
		tl_resp_free(&r);
		usleep(100000);
	}
	cr_expect_eq(r.status, 401, "revocation takes effect without a restart");
	tl_resp_free(&r);
}

Test(ingest, malformed_and_unsupported)
{
	struct tl_resp r;

	post(E.school_token, "text/plain", NULL, "hello", &r);
	cr_expect_eq(r.status, 415);
	tl_resp_free(&r);
	post(E.school_token, "application/json", NULL, "{\"school\":", &r);
	cr_expect_eq(r.status, 400);
	cr_expect(strstr(r.body, "\"offset\"") != NULL, "400 names the offset: %s", r.body);
	tl_resp_free(&r);
	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"school\":\"" OTHER_SCHOOL "\",\"period\":\"2021-2022-1\","
	    "\"metrics\":{\"class_size_max\":52}}",
	    &r);
	cr_expect_eq(r.status, 400, "duplicate keys are refused: %s", r.body);
	tl_resp_free(&r);
	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":052}}",
	    &r);
	cr_expect_eq(r.status, 400, "leading zeros are refused");
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 0);
}

Test(ingest, invalid_data_lists_every_field)
{
	struct tl_resp r;
	cJSON *j, *details;

	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-09\","
	    "\"metrics\":{\"no_such_metric\":1,\"emergency_drills\":-1,\"class_size_max\":52}}",
	    &r);
	cr_assert_eq(r.status, 422, "got %d: %s", r.status, r.body);
	j = json_of(&r);
	cr_expect_str_eq(jstr(j, "error"), "invalid_submission");
	details = cJSON_GetObjectItemCaseSensitive(j, "details");
	cr_assert(cJSON_IsArray(details));
	cr_expect_geq(cJSON_GetArraySize(details), 3, "one entry per offending field: %s", r.body);
	cr_expect(strstr(r.body, "metrics.no_such_metric") != NULL, "%s", r.body);
	cr_expect(strstr(r.body, "metrics.emergency_drills") != NULL, "%s", r.body);
	cr_expect(strstr(r.body, "metrics.class_size_max") != NULL, "wrong period kind: %s", r.body);
	cJSON_Delete(j);
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), 0);
}

Test(ingest, batch_is_all_or_nothing)
{
	struct tl_resp r;

	post(E.reporter_token, "application/json", NULL,
	    "[{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":40}},"
	    " {\"school\":\"" JUNIOR "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":9999}}]",
	    &r);
	cr_expect_eq(r.status, 422, "got %d: %s", r.status, r.body);
	cr_expect(strstr(r.body, "[1].metrics.class_size_max") != NULL, "%s", r.body);
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), 0);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 0);

	post(E.reporter_token, "application/json", NULL,
	    "[{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":40}},"
	    " {\"school\":\"" JUNIOR "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":45}}]",
	    &r);
	cr_expect_eq(r.status, 201, "got %d: %s", r.status, r.body);
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), 2);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 1, "one request, one row");
}

Test(ingest, idempotent_retry_and_conflict)
{
	struct tl_resp r1, r2, r3;
	const char *body = "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
			   "\"metrics\":{\"class_size_max\":52}}";

	post(E.school_token, "application/json", "Idempotency-Key: k-123\r\n", body, &r1);
	cr_assert_eq(r1.status, 201, "%s", r1.body);
	post(E.school_token, "application/json", "Idempotency-Key: k-123\r\n", body, &r2);
	cr_assert_eq(r2.status, 201, "%s", r2.body);
	cr_expect_str_eq(r2.body, r1.body, "the retry returns the original receipt");
	cr_expect_not_null(tl_resp_header(&r2, "Idempotent-Replayed"));
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 1);
	cr_expect_eq(count("SELECT max(revision) FROM edumon.observation"), 1, "stored once");
	post(E.school_token, "application/json", "Idempotency-Key: k-123\r\n",
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
	    "\"metrics\":{\"class_size_max\":53}}",
	    &r3);
	cr_expect_eq(r3.status, 409, "same key, other body: %s", r3.body);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 1);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation WHERE value = 52"), 1);
	tl_resp_free(&r1);
	tl_resp_free(&r2);
	tl_resp_free(&r3);
}

Test(ingest, submission_id_is_an_idempotency_key)
{
	struct tl_resp r1, r2;
	const char *body = "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
			   "\"submission_id\":\"mis-2021-0001\",\"metrics\":{\"class_size_max\":52}}";

	post(E.school_token, "application/json", NULL, body, &r1);
	cr_assert_eq(r1.status, 201, "%s", r1.body);
	post(E.school_token, "application/json", NULL, body, &r2);
	cr_assert_eq(r2.status, 201, "%s", r2.body);
	cr_expect_str_eq(r2.body, r1.body);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), 1);
	tl_resp_free(&r1);
	tl_resp_free(&r2);
}

Test(ingest, correction_keeps_history)
{
	struct tl_resp r1, r2;
	cJSON *j;
	char sql[512];

	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}",
	    &r1);
	cr_assert_eq(r1.status, 201);
	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":58}}",
	    &r2);
	cr_assert_eq(r2.status, 201);
	j = json_of(&r2);
	cr_expect_eq(jnum(j, "corrections"), 1);
	cr_expect_str_eq(jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "items"), 0),
			     "status"),
	    "correction");
	cJSON_Delete(j);
	cr_expect_eq(count("SELECT value FROM edumon.observation"), 58);
	cr_expect_eq(count("SELECT revision FROM edumon.observation"), 2);
	j = json_of(&r1);
	snprintf(sql, sizeof sql,
	    "SELECT count(*) FROM edumon.observation_revision WHERE value = 52 AND revision = 1"
	    " AND submission_id = '%s'",
	    jstr(j, "submission_id"));
	cr_expect_eq(count(sql), 1, "the replaced value is kept with its submission");
	cJSON_Delete(j);
	tl_resp_free(&r1);
	tl_resp_free(&r2);
}

Test(ingest, csv_from_a_spreadsheet)
{
	struct tl_resp r;

	post(E.reporter_token, "text/csv", NULL,
	    "\xEF\xBB\xBFschool,period,metric,value,numerator,denominator\r\n"
	    SCHOOL ",2021-2022-1,class_size_max,48,,\r\n"
	    JUNIOR ",2020-2021,junior_progression_rate,,\"98\",\"100\"\r\n",
	    &r);
	cr_expect_eq(r.status, 201, "got %d: %s", r.status, r.body);
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), 2);
}

Test(ingest, metrics_endpoint_counts)
{
	struct tl_resp r;

	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}",
	    &r);
	cr_assert_eq(r.status, 201);
	tl_resp_free(&r);
	cr_assert_eq(tl_http(E.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect(strstr(r.body, "edumon_http_requests_total{route=\"submissions\",status=\"201\"} 1")
		!= NULL,
	    "%s", r.body);
	cr_expect(strstr(r.body, "edumon_commit_batch_requests_count 1") != NULL);
	cr_expect(strstr(r.body, "edumon_db_up 1") != NULL);
	tl_resp_free(&r);
}

/* The event loop probe (lib/looplag.h) runs from the start, every 100 ms. */
Test(ingest, metrics_loop_lag)
{
	struct tl_resp r;
	long n = 0;

	/* Three periods; more only if the machine is slow (valgrind). */
	tl_sleep_ms(300);
	for (int i = 0; i < 50 && (n = tl_metric(E.port, "edumon_loop_lag_seconds_count")) <= 0;
	     i++)
		tl_sleep_ms(100);
	cr_expect_gt(n, 0, "the probe has fired");
	cr_assert_eq(tl_http(E.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	cr_expect(strstr(r.body, "\n# HELP edumon_loop_lag_seconds ") != NULL, "%s", r.body);
	cr_expect(strstr(r.body, "\n# TYPE edumon_loop_lag_seconds histogram\n") != NULL);
	cr_expect(strstr(r.body, "\n# HELP edumon_loop_lag_max_seconds ") != NULL);
	cr_expect(strstr(r.body, "\n# TYPE edumon_loop_lag_max_seconds gauge\n") != NULL);
	cr_expect_eq(tl_metric_value(r.body, "edumon_loop_lag_seconds_bucket{le=\"+Inf\"}"),
	    tl_metric_value(r.body, "edumon_loop_lag_seconds_count"));
	tl_resp_free(&r);
}

static void
setup_small_body(void)
{
	start_env("--max-body 2048");
}

/* Its own suite: a test's .init runs after the suite's, not instead. */
Test(ingest_limits, body_too_large, .init = setup_small_body, .fini = teardown, .timeout = 60)
{
	struct tl_resp r;
	char *body = malloc(8192);

	memset(body, ' ', 8191);
	body[0] = '{';
	body[8190] = '}';
	body[8191] = '\0';
	post(E.school_token, "application/json", NULL, body, &r);
	cr_expect_eq(r.status, 413, "got %d", r.status);
	tl_resp_free(&r);
	free(body);
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Open a connection and send one complete request without reading. */
static int
send_raw(int port, const char *token, const char *body)
{
	struct sockaddr_in sa;
	char head[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	snprintf(head, sizeof head,
	    "POST /v1/submissions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    token, strlen(body));
	cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
	cr_assert_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	return fd;
}

/* Read a whole response until the server closes; return its status. */
static int
read_status(int fd)
{
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	int status = -1;

	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	sscanf(buf, "HTTP/1.1 %d", &status);
	return status;
}

Test(ingest, concurrent_requests_share_transactions_and_keep_order)
{
	enum { N = 40, SAME = 10 };
	int fds[N];
	char body[256];
	struct tl_resp r;
	const char *p;
	long batches;

	/* 30 distinct months, then 10 corrections of one key sent together. */
	for (int i = 0; i < N - SAME; i++) {
		snprintf(body, sizeof body,
		    "{\"school\":\"" SCHOOL "\",\"period\":\"%d-%02d\","
		    "\"metrics\":{\"emergency_drills\":%d}}",
		    2018 + i / 12, 1 + i % 12, i);
		fds[i] = send_raw(E.port, E.school_token, body);
	}
	for (int i = N - SAME; i < N; i++) {
		snprintf(body, sizeof body,
		    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
		    "\"metrics\":{\"class_size_max\":%d}}",
		    40 + i);
		fds[i] = send_raw(E.port, E.school_token, body);
	}
	for (int i = 0; i < N; i++)
		cr_expect_eq(read_status(fds[i]), 201, "request %d", i);
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), N);
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation"), N - SAME + 1);
	cr_expect_eq(count("SELECT revision FROM edumon.observation WHERE period = '2021-2022-1'"),
	    SAME, "every correction applied once");
	cr_expect_eq(count("SELECT count(*) FROM edumon.observation_revision"), SAME - 1);
	cr_assert_eq(tl_http(E.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	p = strstr(r.body, "edumon_commit_batch_requests_count ");
	cr_assert_not_null(p);
	batches = atol(p + strlen("edumon_commit_batch_requests_count "));
	cr_expect(batches >= 1 && batches < N, "group commit: %ld transactions for %d requests",
	    batches, N);
	tl_resp_free(&r);
}

Test(ingest, token_use_is_recorded)
{
	struct tl_resp r;
	long used = 0;

	post(E.school_token, "application/json", NULL,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\",\"metrics\":{\"class_size_max\":52}}",
	    &r);
	cr_assert_eq(r.status, 201);
	tl_resp_free(&r);
	for (int i = 0; i < 150 && used == 0; i++) {
		used = count("SELECT count(*) FROM edumon.api_token WHERE role = 'school'"
			     " AND last_used_at IS NOT NULL");
		if (used == 0)
			usleep(100000);
	}
	cr_expect_eq(used, 1, "last_used_at written within the flush interval");
	cr_expect_eq(count("SELECT count(*) FROM edumon.api_token WHERE role <> 'school'"
			   " AND last_used_at IS NOT NULL"),
	    0, "unused tokens stay untouched");
}

Test(ingest, gbk_csv_from_a_chinese_excel)
{
	struct tl_resp r;
	/* gbk is plain ASCII (valid GBK too); bad starts its row with 连云 in
	 * GBK bytes, which are not UTF-8. */
	const char *gbk = "school,period,metric,value,numerator,denominator\r\n"
			  SCHOOL ",2021-2022-1,class_size_max,47,,\r\n";
	const char *bad = "school,period,metric,value,numerator,denominator\r\n"
			  "\xc1\xac\xd4\xc6," "2021-2022-1,class_size_max,47,,\r\n";

	post(E.school_token, "text/csv; charset=gbk", NULL, gbk, &r);
	cr_expect_eq(r.status, 201, "got %d: %s", r.status, r.body);
	tl_resp_free(&r);
	post(E.school_token, "text/csv", NULL, bad, &r);
	cr_expect_eq(r.status, 400, "GBK bytes without a charset: %s", r.body);
	cr_expect(strstr(r.body, "charset=gbk") != NULL, "the answer says how to send it");
	tl_resp_free(&r);
	post(E.school_token, "text/csv; charset=gbk", NULL, bad, &r);
	cr_expect_eq(r.status, 403, "converted, then refused as an unknown school: %s", r.body);
	cr_expect(strstr(r.body, "连云") != NULL, "the code is echoed as UTF-8: %s", r.body);
	tl_resp_free(&r);
	post(E.school_token, "text/csv; charset=latin1", NULL, gbk, &r);
	cr_expect_eq(r.status, 415);
	tl_resp_free(&r);
	post(E.school_token, "application/json; charset=gbk", NULL, "{}", &r);
	cr_expect_eq(r.status, 415);
	tl_resp_free(&r);
}

#include <signal.h>

Test(ingest, sigterm_drains_requests_in_flight)
{
	enum { N = 10 };
	PGconn *locker = tl_db_connect(E.db);
	PGresult *res;
	int fds[N], status;
	char body[256];

	/* Hold the submission table so that every request waits in flight. */
	res = PQexec(locker, "BEGIN; LOCK TABLE edumon.submission IN EXCLUSIVE MODE");
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(locker));
	PQclear(res);
	for (int i = 0; i < N; i++) {
		snprintf(body, sizeof body,
		    "{\"school\":\"" SCHOOL "\",\"period\":\"2019-%02d\","
		    "\"metrics\":{\"emergency_drills\":%d}}",
		    i + 1, i);
		fds[i] = send_raw(E.port, E.school_token, body);
	}
	for (int i = 0; i < 100 && tl_metric(E.port, "edumon_http_inflight") != N; i++)
		usleep(50000);
	cr_assert_eq(tl_metric(E.port, "edumon_http_inflight"), N, "all requests are in flight");

	cr_assert_eq(kill(tl_daemon_pid(E.d), SIGTERM), 0);
	usleep(300000);
	cr_expect_eq(kill(tl_daemon_pid(E.d), 0), 0, "still draining while the lock is held");
	res = PQexec(locker, "COMMIT");
	PQclear(res);
	PQfinish(locker);
	for (int i = 0; i < N; i++)
		cr_expect_eq(read_status(fds[i]), 201, "request %d finished during the drain", i);
	status = tl_daemon_stop(E.d);
	E.d = NULL;
	cr_expect_eq(status, 0, "exit 0 after draining");
	cr_expect_eq(count("SELECT count(*) FROM edumon.submission"), N);
}
