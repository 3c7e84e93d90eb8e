/*
 * test_it_delivery.c: alert delivery end to end: the real edumond and its
 * rules engine, a real PostgreSQL, and real HTTP receivers on loopback
 * (tests/receiver.h) standing in for webhooks, WeCom and DingTalk robots,
 * plus a real Prometheus Alertmanager (tests/alertmanager.h).
 *
 * Alerts come from class sizes posted over HTTP by district 320703's
 * reporter: 56 pupils fire class_size.school (warning), 66 escalate it
 * (critical), 60 de-escalate it, 40 resolve it. Channels are inserted with
 * SQL, the way `edumon channel add` does (start_event_id = the last event),
 * after the engine's first judgement, so they receive only what the test
 * causes.
 *
 * The daemon runs with short delays (group wait 200 ms, retries from 300 ms,
 * a 1.5 s receiver timeout, a 4 s retry horizon); every wait below is a
 * poll with a generous bound, so a slow machine makes the tests slower,
 * not red.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alertmanager.h"
#include "receiver.h"
#include "testlib.h"

#define SCHOOL "2132070301"
#define PERIOD "2026-2027-1"
#define SECRET "s3cret-Webhook"
#define DAEMON_ARGS                                                                              \
	"--notify-group-wait 200 --notify-retry-base 300 --notify-retry-cap 1000"                  \
	" --notify-timeout 1500 --notify-retry-horizon 4"

static struct {
	char *db;
	PGconn *pg;
	char *reporter; /* 320703 */
	struct tl_daemon *d;
	int port;
} E;

static void
setup(void)
{
	E.db = tl_db_create("delivery");
	E.pg = tl_db_connect(E.db);
	E.reporter = tl_token(E.db, "--reporter 320703");
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.reporter);
	E.reporter = NULL;
}

/* Start edumond with DAEMON_ARGS and extra, and wait for its engine. */
static void
start(const char *extra)
{
	char args[1024];

	snprintf(args, sizeof args, "%s %s", DAEMON_ARGS, extra != NULL ? extra : "");
	E.d = tl_daemon_start(E.db, args);
	E.port = tl_daemon_port(E.d);
	tl_wait_alerts_ready(E.port);
}

static long
qlong(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first value of a query (printf-style), as a number; -1 when NULL. */
static long
qlong(const char *fmt, ...)
{
	char sql[2048], *v;
	va_list ap;
	long n;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	v = tl_query_value(E.pg, sql);
	n = v != NULL ? atol(v) : -1;
	free(v);
	return n;
}

static void
exec_ok(const char *sql)
{
	PGresult *r = PQexec(E.pg, sql);

	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
	    "%s: %s", sql, PQerrorMessage(E.pg));
	PQclear(r);
}

/*
 * Add a channel as `edumon channel add` does; returns its id. secret may be
 * NULL.
 */
static long
add_channel(const char *unit, const char *kind, const char *name, const char *url,
    const char *secret, const char *min_severity, bool subunits, int rate)
{
	char sql[2048];

	snprintf(sql, sizeof sql,
	    "INSERT INTO edumon.channel (unit_id, kind, name, url, secret, min_severity, subunits,"
	    " allow_private, rate_per_min, start_event_id)"
	    " SELECT id, '%s', '%s', '%s', %s%s%s, '%s', %s, true, %d,"
	    " (SELECT coalesce(max(id), 0) FROM edumon.alert_event)"
	    " FROM edumon.org_unit WHERE code = '%s' RETURNING id",
	    kind, name, url, secret ? "'" : "", secret ? secret : "NULL", secret ? "'" : "",
	    min_severity, subunits ? "true" : "false", rate, unit);
	return qlong("%s", sql);
}

/* Post "SCHOOL,PERIOD,class_size_max,VALUE" rows (csv); returns the receipt. */
static cJSON *
post_csv(const char *csv)
{
	return tl_post_csv(E.port, E.reporter, csv);
}

/* Post one class size of SCHOOL; returns the alert id of the receipt's
 * single change (0 when there is none). */
static long
class_size(int pupils)
{
	char csv[128];
	cJSON *r, *a;
	long id = 0;

	snprintf(csv, sizeof csv, SCHOOL "," PERIOD ",class_size_max,%d,,\n", pupils);
	r = post_csv(csv);
	a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "alerts"), 0);
	if (a != NULL)
		id = (long)cJSON_GetObjectItemCaseSensitive(a, "id")->valuedouble;
	cJSON_Delete(r);
	return id;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll sql (a count) until it reaches want; fails after timeout_ms. */
static void
wait_count(const char *sql, long want, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	long n;

	while ((n = qlong("%s", sql)) < want && now_ms() < end)
		tl_sleep_ms(50);
	cr_assert_geq(n, want, "%s: %ld, expected %ld within %d ms", sql, n, want, timeout_ms);
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Request i of r, which must have arrived within 15 s. */
static struct receiver_request *
request(struct receiver *r, size_t i)
{
	cr_assert_geq(receiver_wait(r, i + 1, 15000), i + 1, "request %zu arrived", i);
	return receiver_request(r, i);
}

/*
 * Request i of r, a signed webhook carrying one alert: checks the
 * signature, and the alert's event, severity, rule and unit labels.
 * Returns the delivery id (caller frees).
 */
static char *
expect_webhook(struct receiver *r, size_t i, const char *event, const char *severity,
    const char *status)
{
	struct receiver_request *q = request(r, i);
	char *cause = NULL, *delivery;
	cJSON *j, *a, *labels, *ann;

	cr_assert_eq(receiver_check_webhook(q, SECRET, now_ms() / 1000, 300, &cause), 0,
	    "webhook %zu: %s", i, cause != NULL ? cause : "");
	j = receiver_request_json(q);
	cr_assert_not_null(j);
	cr_expect_str_eq(jstr(j, "status"), status);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "alerts")), 1,
	    "one alert in %s", q->body);
	a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "alerts"), 0);
	labels = cJSON_GetObjectItemCaseSensitive(a, "labels");
	ann = cJSON_GetObjectItemCaseSensitive(a, "annotations");
	cr_expect_str_eq(jstr(labels, "alertname"), "class_size.school");
	cr_expect_str_eq(jstr(labels, "unit"), SCHOOL);
	cr_expect_str_eq(jstr(labels, "district"), "320703");
	cr_expect_str_eq(jstr(labels, "severity"), severity);
	cr_expect_str_eq(jstr(labels, "theme"), "compulsory", "the rule's own label");
	cr_expect_str_eq(jstr(ann, "event"), event);
	cr_expect_str_eq(jstr(ann, "summary"), "出现大班额");
	cr_expect_str_eq(jstr(ann, "unit_name"), "连云区实验小学");
	delivery = strdup(receiver_request_header(q, "X-Edumon-Delivery"));
	cJSON_Delete(j);
	receiver_request_free(q);
	return delivery;
}

/* Request i of r, a WeCom robot message whose markdown holds want. */
static void
expect_wecom(struct receiver *r, size_t i, const char *want)
{
	struct receiver_request *q = request(r, i);
	char *cause = NULL;
	cJSON *j;
	const char *md;

	cr_assert_eq(receiver_check_wecom(q, &cause), 0, "%s", cause != NULL ? cause : "");
	j = receiver_request_json(q);
	md = jstr(cJSON_GetObjectItemCaseSensitive(j, "markdown"), "content");
	cr_expect_not_null(strstr(md, want), "\"%s\" in %s", want, md);
	cr_expect_not_null(strstr(md, "出现大班额"), "%s", md);
	cJSON_Delete(j);
	receiver_request_free(q);
}

TestSuite(delivery, .init = setup, .fini = teardown, .timeout = 180);

/* Fired, escalated, deescalated and resolved: each a signed webhook in the
 * Alertmanager format, in order, recorded as delivered once. */
Test(delivery, every_event_kind_reaches_a_webhook)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/hook"), *d[4];
	long ch, id;

	start(NULL);
	ch = add_channel("320703", "webhook", "hook", url, SECRET, "info", false, 60);
	id = class_size(56);
	cr_assert_gt(id, 0, "56 pupils fire");
	d[0] = expect_webhook(r, 0, "fired", "warning", "firing");
	class_size(66);
	d[1] = expect_webhook(r, 1, "escalated", "critical", "firing");
	class_size(60);
	d[2] = expect_webhook(r, 2, "deescalated", "warning", "firing");
	class_size(40);
	d[3] = expect_webhook(r, 3, "resolved", "warning", "resolved");
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < i; k++)
			cr_expect_str_neq(d[i], d[k], "every message has its own delivery id");
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'"
	           " AND attempts = 1", 4, 10000);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.notification WHERE channel_id = %ld", ch), 4);
	tl_sleep_ms(600);
	cr_expect_eq(receiver_count(r), 4, "nothing sent twice");
	for (int i = 0; i < 4; i++)
		free(d[i]);
	free(url);
	receiver_stop(r);
}

/* A 500, then 200: delivered once after one retry, with the same delivery
 * id both times. */
Test(delivery, server_error_then_success_is_retried)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/hook"), *a, *b;

	start(NULL);
	receiver_push_status(r, 500, "{\"error\":\"down for a moment\"}");
	add_channel("320703", "webhook", "hook", url, SECRET, "info", false, 60);
	class_size(56);
	a = expect_webhook(r, 0, "fired", "warning", "firing");
	b = expect_webhook(r, 1, "fired", "warning", "firing");
	cr_expect_str_eq(a, b, "a retry carries the same delivery id");
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'"
	           " AND attempts = 2 AND last_status = 200", 1, 10000);
	tl_sleep_ms(600);
	cr_expect_eq(receiver_count(r), 2);
	free(a);
	free(b);
	free(url);
	receiver_stop(r);
}

/* 429 with Retry-After: 2 is honoured over the 300 ms back-off. */
Test(delivery, retry_after_is_honoured)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/hook");
	struct receiver_request *q0, *q1;

	start(NULL);
	receiver_push(r, &(struct receiver_response){.status = 429, .retry_after = "2"});
	add_channel("320703", "webhook", "hook", url, SECRET, "info", false, 60);
	class_size(56);
	q0 = request(r, 0);
	q1 = request(r, 1);
	cr_expect_geq(q1->mono_ms - q0->mono_ms, 1900, "waited %lld ms for Retry-After: 2",
	    (long long)(q1->mono_ms - q0->mono_ms));
	cr_expect_eq(q1->status, 200);
	receiver_request_free(q0);
	receiver_request_free(q1);
	free(url);
	receiver_stop(r);
}

/* A receiver that never answers times out and is retried; another channel
 * is served meanwhile, at once. */
Test(delivery, hanging_receiver_slows_nothing_else)
{
	struct receiver *slow = receiver_start(), *fast = receiver_start();
	char *su = receiver_url(slow, "/hang"), *fu = receiver_url(fast, "/hook"), *d;
	struct receiver_request *q;
	long sc;

	start(NULL);
	receiver_set_default_response(slow, &(struct receiver_response){.hang = true});
	sc = add_channel("320703", "webhook", "slow", su, SECRET, "info", false, 60);
	add_channel("320703", "webhook", "fast", fu, SECRET, "info", false, 60);
	class_size(56);
	cr_assert_geq(receiver_wait(slow, 1, 15000), 1);
	/* The slow one is hanging now; the fast one is not held up by it. */
	d = expect_webhook(fast, 0, "fired", "warning", "firing");
	q = receiver_request(slow, 0);
	cr_expect(q->hung);
	receiver_request_free(q);
	receiver_set_default(slow, 200, "");
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'", 2, 15000);
	cr_expect_eq(qlong("SELECT attempts FROM edumon.notification WHERE channel_id = %ld", sc), 2,
	    "the hung attempt timed out and the second was answered");
	free(d);
	free(su);
	free(fu);
	receiver_stop(slow);
	receiver_stop(fast);
}

/* A receiver down for the whole run: given up after the retry horizon,
 * recorded as failed with the error, counted, and logged. */
Test(delivery, receiver_down_is_recorded_as_failed)
{
	char *url = receiver_dead_url("/hook"), *log, *metrics;
	struct tl_resp m;

	start(NULL);
	add_channel("320703", "webhook", "dead", url, SECRET, "info", false, 60);
	class_size(56);
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'failed'", 1, 20000);
	cr_expect_geq(qlong("SELECT attempts FROM edumon.notification WHERE state = 'failed'"), 2);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.notification WHERE state = 'failed'"
	                   " AND last_error LIKE 'connect:%%' AND done_at IS NOT NULL"), 1);
	cr_assert_eq(tl_http(E.port, "GET", "/metrics", NULL, NULL, 0, &m), 0);
	metrics = strstr(m.body, "edumon_notifications_total{outcome=\"failed\"} 1\n");
	cr_expect_not_null(metrics, "the failure is counted");
	tl_resp_free(&m);
	log = tl_file_tail(tl_daemon_log(E.d));
	cr_expect_not_null(strstr(log, "gave up on 1 events"), "the failure is logged");
	free(log);
	free(url);
}

/* Undelivered rows survive a SIGKILL and go out after the restart, once;
 * the alert itself is not raised twice. */
Test(delivery, restart_delivers_what_was_pending)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/hook"), *d;
	long id;

	/* A horizon that outlasts the restart. */
	start("--notify-retry-horizon 120");
	cr_assert_eq(receiver_close_listener(r), 0);
	add_channel("320703", "webhook", "hook", url, SECRET, "info", false, 60);
	id = class_size(56);
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'pending'"
	           " AND attempts >= 1", 1, 10000);
	tl_daemon_kill(E.d);
	E.d = NULL;
	cr_assert_eq(receiver_reopen_listener(r), 0);
	start("--notify-retry-horizon 120");
	d = expect_webhook(r, 0, "fired", "warning", "firing");
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'", 1, 10000);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert_event WHERE alert_id = %ld"
	                   " AND kind = 'fired'", id), 1, "fired once");
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.notification"), 1);
	free(d);
	free(url);
	receiver_stop(r);
}

/* SIGKILL while the receiver holds the request (no answer yet): the row
 * is still pending and the message goes out again after the restart, with
 * the same delivery id, so the receiver can drop the duplicate. */
Test(delivery, killed_mid_delivery_sends_again_after_restart)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/hook"), *a, *b;

	start(NULL);
	receiver_set_default_response(r, &(struct receiver_response){.hang = true});
	add_channel("320703", "webhook", "hook", url, SECRET, "info", false, 60);
	class_size(56);
	cr_assert_geq(receiver_wait(r, 1, 15000), 1);
	tl_daemon_kill(E.d);
	E.d = NULL;
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.notification WHERE state = 'pending'"
	                   " AND attempts = 0"), 1, "no outcome recorded for the hung attempt");
	receiver_set_default(r, 200, "");
	start(NULL);
	a = expect_webhook(r, 0, "fired", "warning", "firing");
	b = expect_webhook(r, 1, "fired", "warning", "firing");
	cr_expect_str_eq(a, b, "the same delivery id");
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'", 1, 10000);
	free(a);
	free(b);
	free(url);
	receiver_stop(r);
}

/* Five schools breaching at once are one robot message, a digest. */
Test(delivery, burst_becomes_one_digest)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/cgi-bin/webhook/send?key=k");

	start(NULL);
	receiver_set_default(r, 200, RECEIVER_ROBOT_OK);
	add_channel("320703", "wecom", "robot", url, NULL, "info", false, 20);
	cJSON_Delete(post_csv("2132070301," PERIOD ",class_size_max,70,,\n"
	                      "3132070301," PERIOD ",class_size_max,71,,\n"
	                      "2132070302," PERIOD ",class_size_max,72,,\n"
	                      "3432070301," PERIOD ",class_size_max,73,,\n"
	                      "2132070303," PERIOD ",class_size_max,74,,\n"));
	expect_wecom(r, 0, "共5条");
	expect_wecom(r, 0, "连云区实验小学");
	tl_sleep_ms(1000);
	cr_expect_eq(receiver_count(r), 1, "one message, not five");
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'", 5, 10000);
	cr_expect_eq(qlong("SELECT count(DISTINCT delivery_id) FROM edumon.notification"), 1);
	free(url);
	receiver_stop(r);
}

/* A channel allowed two messages a minute sends two, then holds what
 * follows; the held events leave together, as one message, once the limit
 * allows (here: lifted). */
Test(delivery, rate_limit_holds_and_groups)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/cgi-bin/webhook/send?key=k");
	long ch;
	char sql[128];

	start(NULL);
	receiver_set_default(r, 200, RECEIVER_ROBOT_OK);
	ch = add_channel("320703", "wecom", "robot", url, NULL, "info", false, 2);
	class_size(56);
	cr_assert_geq(receiver_wait(r, 1, 15000), 1);
	class_size(66);
	cr_assert_geq(receiver_wait(r, 2, 15000), 2);
	class_size(60);
	class_size(40);
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'pending'", 2, 10000);
	tl_sleep_ms(1500);
	cr_expect_eq(receiver_count(r), 2, "the third message waits for the rate limit");
	snprintf(sql, sizeof sql, "UPDATE edumon.channel SET rate_per_min = 0 WHERE id = %ld", ch);
	exec_ok(sql);
	expect_wecom(r, 2, "共2条"); /* the held events, in one message */
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'", 4, 10000);
	tl_sleep_ms(500);
	cr_expect_eq(receiver_count(r), 3);
	free(url);
	receiver_stop(r);
}

/* A robot answering HTTP 200 with WeCom's rate-limit errcode has not
 * delivered: tried again. */
Test(delivery, robot_throttled_is_retried)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/cgi-bin/webhook/send?key=k");

	start(NULL);
	receiver_push_status(r, 200, RECEIVER_WECOM_THROTTLED);
	receiver_set_default(r, 200, RECEIVER_ROBOT_OK);
	add_channel("320703", "wecom", "robot", url, NULL, "info", false, 20);
	class_size(56);
	cr_assert_geq(receiver_wait(r, 2, 15000), 2, "sent again after errcode 45009");
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'"
	           " AND attempts = 2", 1, 10000);
	free(url);
	receiver_stop(r);
}

/* DingTalk: the URL carries timestamp and sign made with the secret. */
Test(delivery, dingtalk_messages_are_signed)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/robot/send?access_token=t"), *cause = NULL;
	struct receiver_request *q;

	start(NULL);
	receiver_set_default(r, 200, RECEIVER_ROBOT_OK);
	add_channel("320703", "dingtalk", "ding", url, "SECdingtalk", "info", false, 20);
	class_size(66);
	q = request(r, 0);
	cr_expect_eq(receiver_check_dingtalk(q, "SECdingtalk", now_ms(), 300000, &cause), 0, "%s",
	    cause != NULL ? cause : "");
	receiver_request_free(q);
	free(cause);
	free(url);
	receiver_stop(r);
}

/* A silence on a rule label in the district: the event is recorded as
 * silenced and not sent; once the silence is expired, events go out. */
Test(delivery, silenced_events_are_recorded_not_sent)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/hook"), *d;
	long sid;

	start(NULL);
	sid = qlong("INSERT INTO edumon.silence (unit_id, label_key, label_value, ends_at,"
	            " created_by, comment) SELECT id, 'theme', 'compulsory', now() + interval '1 h',"
	            " '张老师', '学期初统一调整班额' FROM edumon.org_unit WHERE code = '320703'"
	            " RETURNING id");
	add_channel("320703", "webhook", "hook", url, SECRET, "info", false, 60);
	class_size(56);
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'silenced'", 1, 10000);
	cr_expect_eq(qlong("SELECT silence_id FROM edumon.notification"), sid);
	tl_sleep_ms(800);
	cr_expect_eq(receiver_count(r), 0, "nothing sent while silenced");
	exec_ok("UPDATE edumon.silence SET ends_at = now(), expired_at = now()");
	class_size(66);
	d = expect_webhook(r, 0, "escalated", "critical", "firing");
	free(d);
	free(url);
	receiver_stop(r);
}

/* Who hears what: a district channel its own schools, at its minimum
 * severity; a city channel only with subunits; another district nothing. */
Test(delivery, routing_by_unit_and_severity)
{
	struct receiver *r = receiver_start();
	char *other = receiver_url(r, "/other"), *city = receiver_url(r, "/city");
	char *citysub = receiver_url(r, "/citysub"), *crit = receiver_url(r, "/crit");
	long c_other, c_city, c_citysub, c_crit;

	start(NULL);
	c_other = add_channel("320706", "webhook", "other", other, SECRET, "info", false, 60);
	c_city = add_channel("3207", "webhook", "city", city, SECRET, "info", false, 60);
	c_citysub = add_channel("3207", "webhook", "citysub", citysub, SECRET, "info", true, 60);
	c_crit = add_channel("320703", "webhook", "crit", crit, SECRET, "critical", false, 60);
	class_size(56); /* warning */
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'", 1, 10000);
	class_size(66); /* critical */
	wait_count("SELECT count(*) FROM edumon.notification WHERE state = 'delivered'", 3, 10000);
	tl_sleep_ms(600);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.notification WHERE channel_id = %ld",
	    c_citysub), 2, "the city with subunits hears both");
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.notification WHERE channel_id = %ld",
	    c_crit), 1, "the critical-only channel hears the escalation only");
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.notification WHERE channel_id IN (%ld, %ld)",
	    c_other, c_city), 0, "another district, and the city without subunits, hear nothing");
	cr_expect_eq(receiver_count(r), 3);
	free(other);
	free(city);
	free(citysub);
	free(crit);
	receiver_stop(r);
}

/* A firing alert nobody acknowledges is announced again after the
 * reminder interval; acknowledging it stops the reminders. */
Test(delivery, reminders_until_acknowledged)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/hook"), *monitor = tl_token(E.db, "--monitor 320703");
	char headers[512], path[64], sql[256];
	const char *ack = "{\"by\":\"张老师\",\"note\":\"已通知学校\"}";
	struct tl_resp resp;
	long id, before;

	start("--remind-interval 2");
	add_channel("320703", "webhook", "hook", url, SECRET, "info", false, 60);
	id = class_size(56);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM edumon.alert_event WHERE alert_id = %ld"
	    " AND kind = 'reminder'", id);
	wait_count(sql, 1, 20000);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM edumon.notification n WHERE alert_id = %ld"
	    " AND kind = 'reminder' AND state = 'delivered'", id);
	wait_count(sql, 1, 10000);
	snprintf(headers, sizeof headers,
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", monitor);
	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", id);
	cr_assert_eq(tl_http(E.port, "POST", path, headers, ack, strlen(ack), &resp), 0);
	cr_assert_eq(resp.status, 200, "%s", resp.body);
	tl_resp_free(&resp);
	before = qlong("SELECT count(*) FROM edumon.alert_event WHERE alert_id = %ld"
	               " AND kind = 'reminder'", id);
	tl_sleep_ms(5000);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert_event WHERE alert_id = %ld"
	                   " AND kind = 'reminder'", id), before, "no reminder after the ack");
	free(monitor);
	free(url);
	receiver_stop(r);
}

/*
 * Reminders go only to alerts some channel carries, and count from the last
 * event: a firing figure refreshed by corrections (which moves the alert's
 * updated_at and tells nobody) does not put them off.
 */
Test(delivery, reminders_follow_coverage_and_the_last_event)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/crit");
	char sql[256];
	long id, reminders = 0;
	int pupils = 66;
	int64_t end;

	start("--remind-interval 2");
	add_channel("320703", "webhook", "crit", url, SECRET, "critical", false, 60);
	id = class_size(56); /* a warning: no channel carries it */
	cr_assert_gt(id, 0);
	tl_sleep_ms(4000);
	cr_expect_eq(qlong("SELECT count(*) FROM edumon.alert_event WHERE alert_id = %ld"
			   " AND kind = 'reminder'", id), 0, "no reminder nobody would receive");

	cr_assert_eq(class_size(pupils), id, "escalated to critical");
	/* Corrections inside the critical band every 300 ms: refreshes, no events. */
	end = now_ms() + 10000;
	while (now_ms() < end && (reminders = qlong("SELECT count(*) FROM edumon.alert_event"
						    " WHERE alert_id = %ld AND kind = 'reminder'", id)) == 0) {
		cr_assert_eq(class_size(++pupils), 0, "a refresh is no event");
		tl_sleep_ms(300);
	}
	cr_expect_geq(reminders, 1, "reminded 2 s after the escalation despite the refreshes");
	cr_expect_eq(qlong("SELECT value FROM edumon.alert WHERE id = %ld", id), pupils,
	    "the alert shows the figure in force");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM edumon.notification WHERE alert_id = %ld"
	    " AND kind = 'reminder' AND state = 'delivered'", id);
	wait_count(sql, 1, 10000);
	free(url);
	receiver_stop(r);
}

/* A real Alertmanager: the alert appears in its API with edumon's labels
 * and Chinese annotations, and is no longer active once resolved. */
Test(delivery, alertmanager_round_trip)
{
	struct am *am = am_start(NULL);
	char *body = NULL;
	int64_t end;

	start("--alertmanager-resend 1");
	add_channel("320703", "alertmanager", "am", am_url(am), NULL, "info", false, 0);
	class_size(66);
	for (end = now_ms() + 20000; now_ms() < end; tl_sleep_ms(200)) {
		free(body);
		body = am_alerts_json(am, "active=true");
		if (strstr(body, "class_size.school") != NULL)
			break;
	}
	cr_assert_not_null(strstr(body, "class_size.school"), "%s", body);
	cr_expect_not_null(strstr(body, "\"unit\":\"" SCHOOL "\""), "%s", body);
	cr_expect_not_null(strstr(body, "\"severity\":\"critical\""), "%s", body);
	cr_expect_not_null(strstr(body, "出现大班额"), "%s", body);
	/* Pushed with endsAt = now + 4 s (4 x --alertmanager-resend 1): still
	 * active 6 s later only because edumond keeps pushing it. */
	tl_sleep_ms(6000);
	free(body);
	body = am_alerts_json(am, "active=true");
	cr_expect_not_null(strstr(body, "class_size.school"), "re-pushed while firing: %s", body);
	class_size(40);
	for (end = now_ms() + 20000; now_ms() < end; tl_sleep_ms(200)) {
		free(body);
		body = am_alerts_json(am, "active=true");
		if (strstr(body, "class_size.school") == NULL)
			break;
	}
	cr_expect_null(strstr(body, "class_size.school"), "resolved in Alertmanager: %s", body);
	free(body);
	am_stop(am);
}
