/*
 * test_it_channels.c: `edumon channel ...` and `edumon notifications list`
 * against a real PostgreSQL: every refusal of channel add, listings that
 * never show a secret or a URL's query, removal, the start_event_id of a
 * new channel, and `channel test` against a real HTTP receiver on loopback
 * (a forked evhttp server that checks the webhook signature with
 * notify_webhook_verify and answers as each test asks).
 */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "testlib.h"
#include "util.h"

#define SECRET "s3cr3t-webhook-key"
#define ROBOT_KEY "ROBOTKEY693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa"

static char *db;
static PGconn *pg;

static void
setup(void)
{
	db = tl_db_create("channels");
	pg = tl_db_connect(db);
}

static void
teardown(void)
{
	struct tl_daemon *none = NULL;

	tl_fixture_end(&none, &pg, &db);
}

TestSuite(channels, .init = setup, .fini = teardown, .timeout = 120);

static long
count(const char *sql)
{
	char *v = tl_query_value(pg, sql);
	long n = v != NULL ? atol(v) : -1;

	free(v);
	return n;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *
expect_cli(const char *args, int want)
{
	return tl_cli_expect(db, args, want);
}

static void
expect_refusal(const char *args, int want, const char *msg)
{
	tl_cli_refused(db, args, want, msg);
}

/* channel add ARGS; returns the new id (the first line of stdout). */
static long
add_channel(const char *args)
{
	char *cmd = xasprintf("channel add %s 2>/dev/null", args), *out = NULL;
	int rc = tl_cli(db, cmd, false, &out);
	long id = out != NULL ? atol(out) : 0;

	cr_assert_eq(rc, 0, "edumon %s: exit %d", cmd, rc);
	cr_assert_gt(id, 0, "edumon %s printed an id: %s", cmd, out);
	free(out);
	free(cmd);
	return id;
}

/* One firing alert on a school; returns its id. */
static long
insert_alert(void)
{
	return count(
	    "INSERT INTO edumon.alert (fingerprint, rule_id, rule_sha256, unit_id,"
	    " metric_id, period, period_start, period_end, state, severity, value, bound,"
	    " op, title, message, fired_at, updated_at)"
	    " SELECT repeat('a', 64), 'class_size', repeat('0', 64), u.id, m.id,"
	    " '2025-2026-1', '2025-09-01', '2026-02-01', 'firing', 'warning', 60, 56, '>=',"
	    " '大班额', '班额超标', now(), now() FROM edumon.org_unit u, edumon.metric m"
	    " WHERE u.code = '2132070301' AND m.code = 'class_size_max' RETURNING id");
}

/* Add n 'fired' events to every alert; returns the largest event id. */
static long
insert_events(int n)
{
	char sql[256];

	snprintf(sql, sizeof sql,
	    "INSERT INTO edumon.alert_event (alert_unit_id, alert_id, kind, severity)"
	    " SELECT unit_id, id, 'fired', 'warning' FROM edumon.alert, generate_series(1, %d)",
	    n);
	tl_exec(pg, sql);
	return count("SELECT max(id) FROM edumon.alert_event");
}

Test(channels, add_refusals)
{
	expect_refusal("channel add --unit 320703 --kind sms --url https://93.184.216.34/x", 2,
	    "--kind \"sms\" is not webhook, wecom, dingtalk or alertmanager");
	expect_refusal("channel add --unit 999999 --kind wecom --url https://93.184.216.34/x", 1,
	    "no unit with code 999999");
	expect_refusal("channel add --unit 320703 --kind webhook --secret k"
	               " --url http://127.0.0.1:9/hook",
	    1, "loopback");
	expect_refusal("channel add --unit 320703 --kind wecom --url http://10.1.2.3/send?key=k", 1,
	    "private");
	expect_refusal("channel add --unit 320703 --kind wecom --url http://169.254.169.254/x", 1,
	    "link-local");
	expect_refusal(
	    "channel add --unit 320703 --kind wecom --url ftp://93.184.216.34/x", 1, "--url");
	expect_refusal("channel add --unit 320703 --kind wecom --url https://93.184.216.34/x"
	               " --min-severity urgent",
	    2, "--min-severity \"urgent\" is not info, warning or critical");
	expect_refusal("channel add --unit 320703 --kind wecom", 2, "option --url is required");
	expect_refusal("channel add --kind wecom --url https://93.184.216.34/x", 2,
	    "option --unit is required");
	expect_refusal("channel add --unit 320703 --kind webhook --url https://93.184.216.34/x", 2,
	    "needs a signing key");
	expect_refusal("channel add --unit 320703 --kind wecom --url https://93.184.216.34/x"
	               " --secret k",
	    2, "is not signed");
	expect_refusal("channel add --unit 320703 --kind dingtalk --url https://93.184.216.34/x"
	               " --secret a --secret-env B",
	    2, "give one of --secret-file, --secret-env, --secret");
	expect_refusal("channel add --unit 320703 --kind webhook --url https://93.184.216.34/x"
	               " --secret-env EDUMON_TEST_NO_SUCH_VARIABLE",
	    1, "EDUMON_TEST_NO_SUCH_VARIABLE is not set");
	expect_refusal("channel add --unit 320703 --kind wecom --url https://93.184.216.34/x"
	               " --rate -1",
	    2, "--rate");
	cr_expect_eq(count("SELECT count(*) FROM edumon.channel"), 0);

	add_channel("--unit 320703 --kind wecom --url https://93.184.216.34/x");
	expect_refusal("channel add --unit 320703 --kind wecom --url https://93.184.216.34/y", 1,
	    "unit 320703 already has a channel named \"wecom\"");
	cr_expect_eq(count("SELECT count(*) FROM edumon.channel"), 1);
}

Test(channels, add_list_remove_never_show_secrets)
{
	char *out, *path, *args;
	long wh, wc, dt, am;
	FILE *f;

	path = xasprintf("%s/secret-%d",
	    getenv("EDUMON_TEST_TMPDIR") ? getenv("EDUMON_TEST_TMPDIR") : "/tmp", (int)getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%s\n", SECRET);
	fclose(f);
	args = xasprintf("--unit 320703 --kind webhook --name 值班 --url"
	                 " 'https://ops:hunter2@93.184.216.34/hook?token=abc#frag' --secret-file %s"
	                 " --min-severity critical --subunits --rate 5",
	    path);
	wh = add_channel(args);
	free(args);
	unlink(path);
	free(path);
	wc = add_channel("--unit 320703 --kind wecom"
	                 " --url 'https://93.184.216.34/cgi-bin/webhook/send?key=" ROBOT_KEY "'");
	setenv("EDUMON_TEST_DT_SECRET", "SECdingtalk0123", 1);
	dt = add_channel("--unit 3207 --kind dingtalk --secret-env EDUMON_TEST_DT_SECRET"
	                 " --url 'https://93.184.216.34/robot/send?access_token=DTTOKEN'");
	am = add_channel("--unit 3207 --kind alertmanager --url http://93.184.216.34:9093/");

	cr_expect_eq(count("SELECT count(*) FROM edumon.channel WHERE secret = '" SECRET "'"), 1,
	    "the final newline of the secret file is dropped");
	cr_expect_eq(count("SELECT rate_per_min FROM edumon.channel WHERE kind = 'wecom'"), 20);
	cr_expect_eq(count("SELECT rate_per_min FROM edumon.channel WHERE kind = 'dingtalk'"), 20);
	cr_expect_eq(
	    count("SELECT rate_per_min FROM edumon.channel WHERE kind = 'alertmanager'"), 0);
	cr_expect_eq(count("SELECT rate_per_min FROM edumon.channel WHERE kind = 'webhook'"), 5);
	cr_expect_eq(count("SELECT count(*) FROM edumon.channel WHERE kind = 'webhook' AND"
	                   " subunits AND min_severity = 'critical' AND name = '值班'"),
	    1);

	out = expect_cli("channel list", 0);
	cr_expect(starts_with(out, "id\tunit\tkind\tname\tmin_severity\tsubunits\trate\turl\t"
	                           "created\tremoved\tpending\tfailed\tdelivered\tsilenced\n"),
	    "header: %s", out);
	cr_expect(strstr(out, "https://93.184.216.34/hook\t") != NULL, "%s", out);
	cr_expect(strstr(out, "https://93.184.216.34/cgi-bin/webhook/send\t") != NULL, "%s", out);
	cr_expect(strstr(out, "http://93.184.216.34:9093/\t") != NULL, "%s", out);
	{
		static const char *const hidden[] = {SECRET, ROBOT_KEY, "SECdingtalk0123",
		    "DTTOKEN", "hunter2", "ops:", "token=", "key=", "?", "#frag"};

		for (size_t i = 0; i < ARRAY_LEN(hidden); i++)
			cr_expect(strstr(out, hidden[i]) == NULL, "channel list shows \"%s\":\n%s",
			    hidden[i], out);
	}
	free(out);

	out = expect_cli("channel list --unit 3207", 0);
	cr_expect(strstr(out, "dingtalk") != NULL && strstr(out, "wecom") == NULL, "%s", out);
	free(out);
	expect_refusal("channel list --unit 999999", 1, "no unit with code 999999");

	args = xasprintf("channel remove %ld", wc);
	out = expect_cli(args, 0);
	cr_expect(strstr(out, "removed") != NULL && strstr(out, "already") == NULL, "%s", out);
	free(out);
	out = expect_cli(args, 0);
	cr_expect(strstr(out, "already removed") != NULL, "%s", out);
	free(out);
	free(args);
	expect_refusal("channel remove 999999", 1, "no channel with id 999999");
	expect_refusal("channel remove abc", 2, "ID \"abc\" is not a channel number");

	out = expect_cli("channel list", 0);
	cr_expect(strstr(out, "\twecom\t") == NULL, "a removed channel is not listed:\n%s", out);
	free(out);
	out = expect_cli("channel list --all", 0);
	cr_expect(strstr(out, "\twecom\t") != NULL, "--all lists removed channels:\n%s", out);
	free(out);
	(void)wh;
	(void)dt;
	(void)am;
}

Test(channels, a_new_channel_starts_after_the_last_event)
{
	long last, id;
	char sql[128];

	cr_expect_eq(
	    add_channel("--unit 320703 --kind wecom --name a --url https://93.184.216.34/"),
	    count("SELECT max(id) FROM edumon.channel"));
	cr_expect_eq(count("SELECT start_event_id FROM edumon.channel WHERE name = 'a'"), 0);
	cr_assert_gt(insert_alert(), 0);
	last = insert_events(3);
	id = add_channel("--unit 320703 --kind wecom --name b --url https://93.184.216.34/");
	snprintf(sql, sizeof sql, "SELECT start_event_id FROM edumon.channel WHERE id = %ld", id);
	cr_expect_eq(count(sql), last);
}

/* ---- a receiver for channel test ---- */

enum rx_mode { RX_OK, RX_500, RX_WECOM_BUSY };

struct rx {
	pid_t pid;
	int port;
	char *log;
	enum rx_mode mode;
};

static struct rx RX;

/*
 * Log "<uri> <verdict> <delivery> <has 测试消息>" for each request, then answer
 * as RX.mode says. Runs in the child.
 */
static void
rx_cb(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	size_t len = evbuffer_get_length(body);
	const char *text = len > 0 ? (const char *)evbuffer_pullup(body, (ev_ssize_t)len) : "";
	const char *delivery = evhttp_find_header(in, "X-Edumon-Delivery");
	enum notify_verdict v =
	    notify_webhook_verify(SECRET, evhttp_find_header(in, "X-Edumon-Timestamp"),
	        evhttp_find_header(in, "X-Edumon-Signature"), text, len, time(NULL), 300);
	char *copy = xstrndup(text, len);
	FILE *f = fopen(RX.log, "a");

	(void)arg;
	if (f != NULL) {
		fprintf(f, "%s %s %s %s\n", evhttp_request_get_uri(req), notify_verdict_name(v),
		    delivery != NULL ? delivery : "-",
		    strstr(copy, "测试消息") != NULL ? "sample" : "no-sample");
		fclose(f);
	}
	free(copy);
	switch (RX.mode) {
	case RX_OK:
		evbuffer_add_printf(out, "{\"errcode\":0,\"errmsg\":\"ok\"}");
		evhttp_send_reply(req, 200, "OK", out);
		break;
	case RX_500:
		evbuffer_add_printf(out, "upstream broken");
		evhttp_send_reply(req, 500, "Internal Server Error", out);
		break;
	case RX_WECOM_BUSY:
		evbuffer_add_printf(
		    out, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}");
		evhttp_send_reply(req, 200, "OK", out);
		break;
	}
	evbuffer_free(out);
}

/* Fork a receiver on 127.0.0.1 answering as mode says. */
static void
rx_start(enum rx_mode mode)
{
	const char *dir = getenv("EDUMON_TEST_TMPDIR");
	int fds[2];

	RX.mode = mode;
	RX.log =
	    xasprintf("%s/rx-%d.log", dir != NULL && *dir != '\0' ? dir : "/tmp", (int)getpid());
	unlink(RX.log);
	cr_assert_eq(pipe(fds), 0);
	RX.pid = fork();
	cr_assert_geq(RX.pid, 0);
	if (RX.pid == 0) {
		struct event_base *base = event_base_new();
		struct evhttp *http = evhttp_new(base);
		struct evhttp_bound_socket *sock =
		    evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
		struct sockaddr_in sin;
		socklen_t sl = sizeof sin;
		int port = 0;

		if (sock != NULL && getsockname(evhttp_bound_socket_get_fd(sock),
		                        (struct sockaddr *)&sin, &sl) == 0)
			port = ntohs(sin.sin_port);
		evhttp_set_gencb(http, rx_cb, NULL);
		if (write(fds[1], &port, sizeof port) != sizeof port)
			_exit(1);
		event_base_dispatch(base);
		_exit(0);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &RX.port, sizeof RX.port), (ssize_t)sizeof RX.port);
	close(fds[0]);
	cr_assert_gt(RX.port, 0, "the receiver listens");
}

static void
rx_stop(void)
{
	if (RX.pid > 0) {
		kill(RX.pid, SIGKILL);
		waitpid(RX.pid, NULL, 0);
	}
	if (RX.log != NULL)
		unlink(RX.log);
	free(RX.log);
	memset(&RX, 0, sizeof RX);
}

/* What the receiver logged (caller frees; "" when nothing came). */
static char *
rx_log(void)
{
	FILE *f = fopen(RX.log, "r");
	struct buf b;
	char chunk[1024];
	size_t n;

	buf_init(&b);
	buf_puts(&b, "");
	while (f != NULL && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	if (f != NULL)
		fclose(f);
	return buf_steal(&b);
}

/* channel test on a channel of kind to the receiver (path, extra options);
 * expect status want and return the output (caller frees). */
static char *
test_through(const char *kind, const char *path, const char *extra, int want)
{
	char *args = xasprintf("--unit 320703 --kind %s --allow-private --url"
	                       " 'http://127.0.0.1:%d%s' %s",
	    kind, RX.port, path, extra);
	long id = add_channel(args);
	char *cmd = xasprintf("channel test %ld", id);
	char *out = expect_cli(cmd, want);

	free(cmd);
	free(args);
	return out;
}

Test(channels, test_webhook_is_signed_and_delivered, .fini = rx_stop)
{
	char *out, *log;

	rx_start(RX_OK);
	out = test_through("webhook", "/hook", "--secret " SECRET, 0);
	cr_expect(strstr(out, "delivered: HTTP 200") != NULL, "%s", out);
	free(out);
	log = rx_log();
	cr_expect(starts_with(log, "/hook ok test-"), "signature verified: %s", log);
	cr_expect(strstr(log, " sample\n") != NULL, "the sample event was sent: %s", log);
	free(log);
}

Test(channels, test_webhook_500_fails, .fini = rx_stop)
{
	char *out;

	rx_start(RX_500);
	out = test_through("webhook", "/hook", "--secret " SECRET, 1);
	cr_expect(strstr(out, "failed: HTTP 500") != NULL, "%s", out);
	cr_expect(strstr(out, "upstream broken") != NULL, "%s", out);
	free(out);
}

Test(channels, test_wecom_errcode_fails, .fini = rx_stop)
{
	char *out, *log;

	rx_start(RX_WECOM_BUSY);
	out = test_through("wecom", "/cgi-bin/webhook/send?key=k", "", 1);
	cr_expect(
	    strstr(out, "failed: HTTP 200") != NULL && strstr(out, "45009") != NULL, "%s", out);
	free(out);
	log = rx_log();
	cr_expect(starts_with(log, "/cgi-bin/webhook/send?key=k "), "%s", log);
	cr_expect(strstr(log, " sample\n") != NULL, "%s", log);
	free(log);
}

Test(channels, test_dingtalk_and_alertmanager, .fini = rx_stop)
{
	char *out, *log;

	rx_start(RX_OK);
	out = test_through("dingtalk", "/robot/send?access_token=t", "--secret SECabc", 0);
	cr_expect(strstr(out, "delivered") != NULL, "%s", out);
	free(out);
	out = test_through("alertmanager", "/am/", "", 0);
	cr_expect(strstr(out, "delivered") != NULL, "%s", out);
	free(out);
	log = rx_log();
	cr_expect(strstr(log, "/robot/send?access_token=t&timestamp=") != NULL, "%s", log);
	cr_expect(strstr(log, "&sign=") != NULL, "%s", log);
	cr_expect(strstr(log, "\n/am/api/v2/alerts ") != NULL, "%s", log);
	free(log);
}

Test(channels, test_refusals)
{
	long id = add_channel("--unit 320703 --kind wecom --url https://93.184.216.34/");
	char cmd[64];

	expect_refusal("channel test 999999", 1, "no channel with id 999999");
	snprintf(cmd, sizeof cmd, "channel remove %ld", id);
	free(expect_cli(cmd, 0));
	snprintf(cmd, sizeof cmd, "channel test %ld", id);
	expect_refusal(cmd, 1, "was removed");
}

Test(channels, notifications_list)
{
	char *out;
	long a, c1, c2;
	char sql[1024];

	a = insert_alert();
	insert_events(1);
	c1 = add_channel("--unit 320703 --kind wecom --name one --url https://93.184.216.34/");
	c2 = add_channel("--unit 320703 --kind wecom --name two --url https://93.184.216.34/");
	snprintf(sql, sizeof sql,
	    "INSERT INTO edumon.notification (channel_id, event_id, alert_unit_id, alert_id, kind,"
	    " severity, state, attempts, last_status, last_error, created_at)"
	    " SELECT v.ch, e.id, e.alert_unit_id, e.alert_id, 'fired', 'warning', v.state, v.att,"
	    " v.st, v.err, now() - v.age * interval '1 minute' FROM edumon.alert_event e,"
	    " (VALUES (%ld, 'delivered', 1, 200, NULL, 4), (%ld, 'failed', 5, 400,"
	    " 'wecom errcode 93000: invalid webhook url', 3), (%ld, 'pending', 2, 503, 'HTTP 503', "
	    "2),"
	    " (%ld, 'pending', 0, NULL, NULL, 1)) AS v(ch, state, att, st, err, age)"
	    " WHERE e.alert_id = %ld",
	    c1, c1, c2, c2, a);
	tl_exec(pg, sql);

	out = expect_cli("notifications list", 0);
	cr_expect(
	    starts_with(out, "id\tchannel\talert\trule\tunit\tperiod\tevent\tseverity\tstate\t"
	                     "attempts\tstatus\terror\tcreated\tlast_attempt\tdone\n"),
	    "%s", out);
	/* Newest first: pending (1 min), pending, failed, delivered. */
	{
		const char *p1 = strstr(out, "\tpending\t0\t"),
		           *p2 = strstr(out, "\tpending\t2\t503\t");
		const char *f = strstr(out, "\tfailed\t5\t400\twecom errcode 93000");
		const char *d = strstr(out, "\tdelivered\t1\t200\t-\t");

		cr_expect(p1 && p2 && f && d && p1 < p2 && p2 < f && f < d, "%s", out);
	}
	cr_expect(strstr(out, "\tclass_size\t2132070301\t2025-2026-1\tfired\twarning\t") != NULL,
	    "%s", out);
	free(out);

	out = expect_cli("notifications list --failed", 0);
	cr_expect(strstr(out, "failed") && !strstr(out, "pending") && !strstr(out, "delivered"),
	    "%s", out);
	free(out);
	out = expect_cli("notifications list --failed --pending --limit 2", 0);
	cr_expect(strstr(out, "\tpending\t0\t") && strstr(out, "\tpending\t2\t") &&
	              !strstr(out, "failed\t"),
	    "%s", out);
	free(out);
	snprintf(sql, sizeof sql, "notifications list --channel %ld", c1);
	out = expect_cli(sql, 0);
	cr_expect(!strstr(out, "pending") && strstr(out, "failed") && strstr(out, "delivered"),
	    "%s", out);
	free(out);
	expect_refusal("notifications list --limit 0", 2, "--limit \"0\"");
	expect_refusal("notifications list --channel x", 2, "--channel \"x\"");
}

/*
 * edumon.channel_units() (the reminders' coverage, walking down from every
 * channel) says of every unit what edumon.channel_covers() (delivery's,
 * walking up from one unit) says: channels at every level of the demo
 * registry, with and without subunits, at several minimum severities.
 */
Test(channels, channel_units_agree_with_channel_covers)
{
	static const struct {
		const char *unit, *severity;
		bool subunits;
	} chans[] = {
	    {"32", "critical", false},        /* the province: itself only */
	    {"3207", "warning", false},       /* a city: itself and non-offices under it */
	    {"3207", "critical", true},       /* ... and everything under it */
	    {"320703", "info", false},        /* a district and its schools */
	    {"2132070301", "warning", false}, /* one school */
	};
	char sql[512];
	long carried;

	for (size_t i = 0; i < sizeof chans / sizeof chans[0]; i++) {
		snprintf(sql, sizeof sql,
		    "INSERT INTO edumon.channel (unit_id, kind, name, url, min_severity, subunits,"
		    " rate_per_min, start_event_id, created_by)"
		    " SELECT id, 'webhook', 'c%zu', 'https://example.org/hook', '%s', %s, 0, 0, 'test'"
		    " FROM edumon.org_unit WHERE code = '%s' RETURNING id",
		    i, chans[i].severity, chans[i].subunits ? "true" : "false", chans[i].unit);
		cr_assert_gt(count(sql), 0, "%s", sql);
		carried = count("SELECT count(*) FROM edumon.channel_units()");
		cr_assert_gt(carried, 0);
		cr_expect_eq(count("WITH down AS (SELECT unit_id, min_severity FROM edumon.channel_units()),"
				   " up AS (SELECT u.id, (ARRAY['info','warning','critical'])[min("
				   "  array_position(ARRAY['info','warning','critical'], c.min_severity))]"
				   "  FROM edumon.org_unit u, edumon.channel c WHERE c.removed_at IS NULL"
				   "  AND edumon.channel_covers(c.unit_id, c.subunits, u.id) GROUP BY u.id)"
				   " SELECT count(*) FROM ((TABLE down EXCEPT TABLE up)"
				   " UNION ALL (TABLE up EXCEPT TABLE down)) d"),
		    0, "after channel %zu (%s): the two disagree", i, chans[i].unit);
	}
	cr_expect_eq(carried, count("SELECT count(*) FROM edumon.org_unit"),
	    "the city with subunits and the province carry every unit");
	/* A removed channel carries nothing. */
	tl_exec(pg, "UPDATE edumon.channel SET removed_at = now()");
	cr_expect_eq(count("SELECT count(*) FROM edumon.channel_units()"), 0);
}
