/*
 * test_it_stream.c: GET /v1/alerts/stream (Server-Sent Events) end to end:
 * the real edumond with the shipped rule pack, a real PostgreSQL, alerts
 * raised by submissions over HTTP, acknowledged through the API, and many
 * events written with SQL (as the rules engine writes them: under the event
 * lock) where a test needs volume. Streams are read by a small raw-socket
 * SSE client: chunked transfer decoding and the event-stream format.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

#define SCHOOL "2132070301"       /* primary, district 320703 */
#define OTHER_JUNIOR "3132070601" /* junior, district 320706 */

static struct {
	char *db;
	PGconn *pg;
	char *reporter, *reporter_city, *monitor, *other, *school, *admin;
	struct tl_daemon *d;
	int port;
} E;

/* ------------------------------------------------------------------------ */
/* A raw-socket SSE client. */

struct sse {
	int fd;
	int status;
	bool chunked;
	bool eof;        /* the server closed, or sent the last chunk */
	struct buf raw;  /* received, not yet decoded */
	struct buf text; /* decoded event-stream text, not yet parsed */
	int keepalives;  /* ": keep-alive" comments seen */
	int retry_ms;    /* the last "retry:" field */
};

struct sse_event {
	long long id;
	char kind[32];
	char *data; /* caller frees */
};

/* Connect to the daemon; -1 if it does not accept (fails the test otherwise). */
static int
tcp_connect(int rcvbuf)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_neq(fd, -1);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)E.port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s",
	    strerror(errno));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Read what is there, waiting up to ms; false once the server closed. */
static bool
sse_read(struct sse *c, int ms)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	char chunk[65536];
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return true;
	n = recv(c->fd, chunk, sizeof chunk, 0);
	if (n > 0)
		buf_append(&c->raw, chunk, (size_t)n);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		return false;
	return true;
}

/* Move complete chunks (or everything, unchunked) from raw to text. */
static void
sse_decode(struct sse *c)
{
	size_t off = 0;

	if (!c->chunked) {
		buf_append(&c->text, c->raw.data, c->raw.len);
		c->raw.len = 0;
		return;
	}
	for (;;) {
		char *eol = c->raw.len > off ? memchr(c->raw.data + off, '\n', c->raw.len - off) : NULL;
		size_t size, start;

		if (eol == NULL)
			break;
		size = strtoul(c->raw.data + off, NULL, 16);
		start = (size_t)(eol - c->raw.data) + 1;
		if (size == 0) {
			c->eof = true;
			off = c->raw.len;
			break;
		}
		if (c->raw.len - start < size + 2)
			break;
		buf_append(&c->text, c->raw.data + start, size);
		off = start + size + 2;
	}
	memmove(c->raw.data, c->raw.data + off, c->raw.len - off);
	c->raw.len -= off;
}

/*
 * GET /v1/alerts/stream as token (NULL: none), with a Last-Event-ID header
 * (NULL: none) and a query (NULL: none); wait up to 5 s for the response
 * headers. rcvbuf > 0 shrinks the socket's receive buffer (a slow client).
 * Returns the client; its status is the response's.
 */
static struct sse *
sse_open_with(const char *token, const char *last_id, const char *query, int rcvbuf)
{
	struct sse *c = calloc(1, sizeof *c);
	char req[1024];
	int64_t deadline = now_usec() + 5000000;
	char *end = NULL;

	c->fd = tcp_connect(rcvbuf);
	buf_init(&c->raw);
	buf_init(&c->text);
	snprintf(req, sizeof req,
	    "GET /v1/alerts/stream%s%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
	    "%s%s%s%s%s%s\r\n",
	    query ? "?" : "", query ? query : "", token ? "Authorization: Bearer " : "",
	    token ? token : "", token ? "\r\n" : "", last_id ? "Last-Event-ID: " : "",
	    last_id ? last_id : "", last_id ? "\r\n" : "");
	cr_assert_eq(send(c->fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	while (end == NULL && now_usec() < deadline) {
		if (!sse_read(c, 100))
			break;
		if (c->raw.len > 0) {
			buf_putc(&c->raw, '\0');
			c->raw.len--;
			end = strstr(c->raw.data, "\r\n\r\n");
		}
	}
	cr_assert_not_null(end, "response headers within 5 s");
	cr_assert_eq(strncmp(c->raw.data, "HTTP/1.1 ", 9), 0, "%s", c->raw.data);
	c->status = atoi(c->raw.data + 9);
	*end = '\0';
	c->chunked = strstr(c->raw.data, "Transfer-Encoding: chunked") != NULL;
	if (c->status == 200)
		cr_expect(strstr(c->raw.data, "Content-Type: text/event-stream") != NULL, "%s",
		    c->raw.data);
	end += 4;
	memmove(c->raw.data, end, c->raw.len - (size_t)(end - c->raw.data));
	c->raw.len -= (size_t)(end - c->raw.data);
	return c;
}

static struct sse *
sse_open(const char *token, const char *last_id)
{
	struct sse *c = sse_open_with(token, last_id, NULL, 0);

	cr_assert_eq(c->status, 200, "the stream answers 200");
	return c;
}

static void
sse_close(struct sse *c)
{
	close(c->fd);
	buf_free(&c->raw);
	buf_free(&c->text);
	free(c);
}

/*
 * The next event within ms: 1 and *ev (free ev->data), 0 on timeout, -1
 * once the stream ended. Comments and retry fields are counted, not
 * returned.
 */
static int
sse_next(struct sse *c, struct sse_event *ev, int ms)
{
	int64_t deadline = now_usec() + (int64_t)ms * 1000;

	for (;;) {
		char *sep, *line, *next;
		bool any = false;

		sse_decode(c);
		buf_putc(&c->text, '\0');
		c->text.len--;
		sep = c->text.len > 0 ? strstr(c->text.data, "\n\n") : NULL;
		if (sep == NULL) {
			if (c->eof || now_usec() >= deadline)
				return c->eof ? -1 : 0;
			if (!sse_read(c, 50))
				c->eof = true;
			continue;
		}
		*sep = '\0';
		memset(ev, 0, sizeof *ev);
		ev->id = -1;
		for (line = c->text.data; line != NULL; line = next) {
			next = strchr(line, '\n');
			if (next != NULL)
				*next++ = '\0';
			if (strcmp(line, ": keep-alive") == 0)
				c->keepalives++;
			else if (strncmp(line, "retry: ", 7) == 0)
				c->retry_ms = atoi(line + 7);
			else if (strncmp(line, "id: ", 4) == 0) {
				ev->id = atoll(line + 4);
				any = true;
			} else if (strncmp(line, "event: ", 7) == 0)
				snprintf(ev->kind, sizeof ev->kind, "%s", line + 7);
			else if (strncmp(line, "data: ", 6) == 0) {
				cr_assert_null(ev->data, "one data line an event");
				ev->data = strdup(line + 6);
			} else
				cr_assert(line[0] == ':', "an SSE field: \"%s\"", line);
		}
		memmove(c->text.data, sep + 2, c->text.len - (size_t)(sep + 2 - c->text.data));
		c->text.len -= (size_t)(sep + 2 - c->text.data);
		if (any)
			return 1;
		free(ev->data);
	}
}

/* The next event within 10 s, asserted to come; ev->data is parsed into *j. */
static void
expect_event(struct sse *c, struct sse_event *ev, cJSON **j)
{
	cr_assert_eq(sse_next(c, ev, 10000), 1, "an event within 10 s");
	*j = NULL;
	if (ev->data != NULL) {
		*j = cJSON_Parse(ev->data);
		cr_assert_not_null(*j, "data is JSON: %s", ev->data);
	}
}

/* ------------------------------------------------------------------------ */
/* The fixture. */

static long
qlong(const char *sql)
{
	return tl_query_long(E.pg, sql);
}

static void
start_daemon(const char *extra)
{
	char args[256];

	snprintf(args, sizeof args, "--alert-wait 60000 %s", extra != NULL ? extra : "");
	E.d = tl_daemon_start(E.db, args);
	E.port = tl_daemon_port(E.d);
	tl_wait_alerts_ready(E.port);
}

static void
setup(void)
{
	E.db = tl_db_create("stream");
	E.pg = tl_db_connect(E.db);
	E.reporter = tl_token(E.db, "--reporter 320703");
	E.reporter_city = tl_token(E.db, "--reporter 3207");
	E.monitor = tl_token(E.db, "--monitor 320703 --label 李老师");
	E.other = tl_token(E.db, "--monitor 320706");
	E.school = tl_token(E.db, "--school " SCHOOL);
	E.admin = tl_token(E.db, "--admin");
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.reporter);
	free(E.reporter_city);
	free(E.monitor);
	free(E.other);
	free(E.school);
	free(E.admin);
	memset(&E, 0, sizeof E);
}

/* One request with a token and an optional JSON or CSV body; the response. */
static void
call(const char *method, const char *path, const char *token, const char *ctype,
    const char *body, struct tl_resp *r)
{
	char headers[512];

	snprintf(headers, sizeof headers, "%s%s%s%s%s%s", token ? "Authorization: Bearer " : "",
	    token ? token : "", token ? "\r\n" : "", ctype ? "Content-Type: " : "",
	    ctype ? ctype : "", ctype ? "\r\n" : "");
	cr_assert_eq(tl_http(E.port, method, path, headers, body, body ? strlen(body) : 0, r), 0,
	    "%s %s answered", method, path);
}

/* POST one CSV line as the reporter (or city reporter); expect 201. */
static void
post(const char *token, const char *csv)
{
	cJSON_Delete(tl_post_csv(E.port, token, csv));
}

/* The class size of SCHOOL this year: 56 and up fires, 66 escalates. */
static void
class_size(int pupils)
{
	char csv[128];

	snprintf(csv, sizeof csv, SCHOOL ",2026-2027-1,class_size_max,%d,,\n", pupils);
	post(E.reporter, csv);
}

static void
ack(long alert)
{
	struct tl_resp r;
	char path[64];

	snprintf(path, sizeof path, "/v1/alerts/%ld/ack", alert);
	call("POST", path, E.monitor, "application/json", "{\"note\":\"已核实\"}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	tl_resp_free(&r);
}

/* Write n reminder events of alert id with SQL, as the engine would. */
static void
insert_events(long alert, int n)
{
	char sql[512];
	PGresult *r;

	snprintf(sql, sizeof sql,
	    "BEGIN; SELECT pg_advisory_xact_lock(edumon.event_lock_key());"
	    " INSERT INTO edumon.alert_event (alert_unit_id, alert_id, kind, severity, value, bound)"
	    " SELECT a.unit_id, a.id, 'reminder', a.severity, a.value, a.bound"
	    " FROM edumon.alert a, generate_series(1, %d) WHERE a.id = %ld; COMMIT",
	    n, alert);
	r = PQexec(E.pg, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(E.pg));
	PQclear(r);
}

/* The value of a metric line of /metrics ("name value"), or -1. */
static long
metric(const char *name)
{
	struct tl_resp r;
	char key[128];
	const char *p;
	long v = -1;

	call("GET", "/metrics", NULL, NULL, NULL, &r);
	snprintf(key, sizeof key, "\n%s ", name);
	if ((p = strstr(r.body, key)) != NULL)
		v = atol(p + strlen(key));
	tl_resp_free(&r);
	return v;
}

static long
jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/*
 * The next event of the class-size alert of SCHOOL (others in the
 * district's scope, the engine's own, are skipped): its kind is want and
 * its id above *last. Returns the alert id; *last becomes the event id.
 */
static long
expect_kind(struct sse *c, const char *want, long long *last)
{
	struct sse_event ev;
	cJSON *j;
	long alert = -1;

	for (;;) {
		const cJSON *a;

		expect_event(c, &ev, &j);
		cr_assert_gt(ev.id, *last, "ids increase: %lld after %lld", ev.id, *last);
		*last = ev.id;
		a = cJSON_GetObjectItemCaseSensitive(j, "alert");
		if (strcmp(jstr(a, "rule"), "class_size.school") == 0 &&
		    strcmp(jstr(cJSON_GetObjectItemCaseSensitive(a, "unit"), "code"), SCHOOL) == 0) {
			cr_expect_str_eq(ev.kind, want);
			cr_expect_str_eq(jstr(j, "kind"), ev.kind, "data.kind is the event: field");
			cr_expect_eq(jnum(j, "event_id"), ev.id, "data.event_id is the id: field");
			cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(a, "district"), "code"),
			    "320703");
			alert = jnum(a, "id");
		}
		cJSON_Delete(j);
		free(ev.data);
		if (alert > 0)
			return alert;
	}
}

/* No event within ms (keep-alives aside). */
static void
expect_quiet(struct sse *c, int ms, const char *why)
{
	struct sse_event ev;
	int rc = sse_next(c, &ev, ms);

	cr_expect_eq(rc, 0, "%s: got %s %lld %s", why, rc == 1 ? ev.kind : "(end)",
	    rc == 1 ? ev.id : 0, rc == 1 && ev.data ? ev.data : "");
	if (rc == 1)
		free(ev.data);
}

TestSuite(stream, .init = setup, .fini = teardown, .timeout = 240);

/* A monitor sees its district's alert fire, be acknowledged and resolve,
 * in order; another district's monitor sees none of it but its own. */
Test(stream, lifecycle_in_scope_only)
{
	struct sse *mon, *oth;
	long long last = 0, olast = 0;
	long id;
	char sql[256];

	start_daemon(NULL);
	mon = sse_open(E.monitor, NULL);
	oth = sse_open(E.other, NULL);
	class_size(58);
	id = expect_kind(mon, "fired", &last);
	snprintf(sql, sizeof sql,
	    "SELECT max(id) FROM edumon.alert_event WHERE alert_id = %ld AND kind = 'fired'", id);
	cr_expect_eq(last, qlong(sql), "the SSE id is the event id");
	ack(id);
	cr_expect_eq(expect_kind(mon, "acknowledged", &last), id,
	    "acknowledgements (no NOTIFY) arrive by the poll");
	class_size(50);
	cr_expect_eq(expect_kind(mon, "resolved", &last), id);
	cr_expect_eq(mon->retry_ms, 5000, "retry: 5000 first");

	/* The other district: its own alert, and nothing of 320703's. */
	post(E.reporter_city, OTHER_JUNIOR ",2026-2027-1,class_size_max,70,,\n");
	{
		struct sse_event ev;
		bool own = false;

		while (!own && sse_next(oth, &ev, 10000) == 1) {
			cJSON *j = cJSON_Parse(ev.data);
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "alert");
			const char *unit = jstr(cJSON_GetObjectItemCaseSensitive(a, "unit"), "code");

			cr_expect_str_neq(
			    jstr(cJSON_GetObjectItemCaseSensitive(a, "district"), "code"), "320703");
			cr_expect_gt(ev.id, olast);
			olast = ev.id;
			own = strcmp(unit, OTHER_JUNIOR) == 0 && strcmp(ev.kind, "fired") == 0;
			cJSON_Delete(j);
			free(ev.data);
		}
		cr_expect(own, "the other monitor sees its own district's alert");
		cr_expect_gt(olast, last);
	}
	expect_quiet(oth, 1500, "nothing more for 320706");
	expect_quiet(mon, 1500, "320706's alert is not shown to 320703");
	cr_expect_eq(metric("edumon_streams"), 2);
	cr_expect_geq(metric("edumon_stream_events_total"), 4);
	sse_close(mon);
	sse_close(oth);
}

Test(stream, who_may_stream)
{
	static const char *const bad[] = {"last_event_id=x", "last_event_id=-1",
	    "last_event_id=1&last_event_id=2", "since_id=3"};
	struct tl_resp r;
	struct sse *c;
	char path[128];

	start_daemon(NULL);
	call("GET", "/v1/alerts/stream", E.school, NULL, NULL, &r);
	cr_expect_eq(r.status, 403, "a school token: %s", r.body);
	cr_expect(strstr(r.body, "\"forbidden\"") != NULL, "%s", r.body);
	tl_resp_free(&r);
	call("GET", "/v1/alerts/stream", E.reporter, NULL, NULL, &r);
	cr_expect_eq(r.status, 403, "a reporter token");
	tl_resp_free(&r);
	call("GET", "/v1/alerts/stream", NULL, NULL, NULL, &r);
	cr_expect_eq(r.status, 401, "no token");
	cr_expect_not_null(tl_resp_header(&r, "WWW-Authenticate"));
	tl_resp_free(&r);
	call("GET", "/v1/alerts/stream", "edm_notarealtokennotarealtokennotarealtokenxxx", NULL,
	    NULL, &r);
	cr_expect_eq(r.status, 401, "an unknown token");
	tl_resp_free(&r);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "/v1/alerts/stream?%s", bad[i]);
		call("GET", path, E.monitor, NULL, NULL, &r);
		cr_expect_eq(r.status, 400, "%s: %s", bad[i], r.body);
		cr_expect(strstr(r.body, "bad_parameter") != NULL, "%s", r.body);
		tl_resp_free(&r);
	}
	c = sse_open_with(E.monitor, "seven", NULL, 0);
	cr_expect_eq(c->status, 400, "a Last-Event-ID that is not an id");
	sse_close(c);
	call("POST", "/v1/alerts/stream", E.monitor, "application/json", "{}", &r);
	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(tl_resp_header(&r, "Allow"), "GET");
	tl_resp_free(&r);
	/* An admin may stream; the GET route of one alert is unchanged. */
	c = sse_open(E.admin, NULL);
	sse_close(c);
	call("GET", "/v1/alerts/999999", E.monitor, NULL, NULL, &r);
	cr_expect_eq(r.status, 404);
	tl_resp_free(&r);
}

/* Disconnect, miss three events, resume: exactly those three, then live
 * ones, no duplicate; the query parameter does the same as the header. */
Test(stream, resume_with_last_event_id)
{
	struct sse *c;
	long long last = 0, seen, again;
	char lei[32], query[64];
	long id;

	start_daemon(NULL);
	c = sse_open(E.monitor, NULL);
	class_size(58);
	id = expect_kind(c, "fired", &last);
	sse_close(c);
	seen = last;

	ack(id);
	class_size(50);
	class_size(60);
	snprintf(lei, sizeof lei, "%lld", seen);
	c = sse_open(E.monitor, lei);
	cr_expect_eq(expect_kind(c, "acknowledged", &last), id);
	cr_expect_eq(expect_kind(c, "resolved", &last), id);
	cr_expect_eq(expect_kind(c, "fired", &last), id, "the missed three, in order");
	class_size(66);
	cr_expect_eq(expect_kind(c, "escalated", &last), id, "then live");
	expect_quiet(c, 2000, "no duplicate after the hand-over");
	sse_close(c);

	/* For clients that cannot set headers. */
	snprintf(query, sizeof query, "last_event_id=%lld", seen);
	c = sse_open_with(E.monitor, NULL, query, 0);
	cr_assert_eq(c->status, 200);
	again = seen;
	cr_expect_eq(expect_kind(c, "acknowledged", &again), id);
	cr_expect_eq(expect_kind(c, "resolved", &again), id);
	cr_expect_eq(expect_kind(c, "fired", &again), id);
	cr_expect_eq(expect_kind(c, "escalated", &again), id);
	cr_expect_eq(again, last, "the same events by the query parameter");
	expect_quiet(c, 1500, "and nothing else");
	sse_close(c);
}

Test(stream, max_streams)
{
	struct sse *a, *b, *c;
	struct tl_resp r;
	int status = 0;

	start_daemon("--max-streams 2");
	a = sse_open(E.monitor, NULL);
	b = sse_open(E.admin, "0");
	call("GET", "/v1/alerts/stream", E.other, NULL, NULL, &r);
	cr_expect_eq(r.status, 503, "the third: %s", r.body);
	cr_expect(strstr(r.body, "too_many_streams") != NULL, "%s", r.body);
	cr_expect_not_null(tl_resp_header(&r, "Retry-After"));
	tl_resp_free(&r);
	cr_expect_eq(metric("edumon_streams"), 2);
	cr_expect_geq(metric("edumon_http_connections"), 2, "streams are connections");
	sse_close(a);
	for (int i = 0; i < 50 && status != 200; i++) {
		c = sse_open_with(E.other, NULL, NULL, 0);
		status = c->status;
		sse_close(c);
		if (status != 200)
			usleep(100000);
	}
	cr_expect_eq(status, 200, "a closed stream frees its place");
	sse_close(b);
}

/*
 * A client that never reads does not hold the others up and is cut off
 * once 1 MiB waits for it: 6000 events of about 1 KiB each.
 */
Test(stream, slow_consumer_is_dropped)
{
	struct sse *fast, *slow;
	struct sse_event ev;
	long long last = 0;
	long id;
	int got = 0;
	char buf[256];

	start_daemon(NULL);
	fast = sse_open(E.monitor, NULL);
	slow = sse_open_with(E.admin, NULL, NULL, 4096);
	cr_assert_eq(slow->status, 200);
	class_size(58);
	id = expect_kind(fast, "fired", &last);
	insert_events(id, 6000);
	while (got < 6000) {
		cJSON *j;

		expect_event(fast, &ev, &j);
		cr_assert_gt(ev.id, last);
		last = ev.id;
		if (strcmp(ev.kind, "reminder") == 0)
			got++;
		cJSON_Delete(j);
		free(ev.data);
	}
	cr_expect_eq(got, 6000, "the reading client got every event");
	for (int i = 0; i < 100 && metric("edumon_stream_dropped_total") < 1; i++)
		usleep(100000);
	cr_expect_eq(metric("edumon_stream_dropped_total"), 1, "the slow one was dropped");
	cr_expect_eq(metric("edumon_streams"), 1);
	/* Its socket ends (after what the kernel held). */
	{
		ssize_t n;
		int64_t until = now_usec() + 10000000;

		fcntl(slow->fd, F_SETFL, fcntl(slow->fd, F_GETFL) & ~O_NONBLOCK);
		do
			n = recv(slow->fd, buf, sizeof buf, 0);
		while (n > 0 && now_usec() < until);
		cr_expect_leq(n, 0, "the slow client's connection was closed");
	}
	sse_close(slow);
	class_size(50);
	expect_kind(fast, "resolved", &last);
	sse_close(fast);
}

/* A client resuming from far behind gets STREAM_BACKLOG_MAX events, then a
 * reset to the present, then live events. */
Test(stream, backlog_is_bounded)
{
	struct sse *c;
	struct sse_event ev;
	long long last = 0, newest;
	long id;
	int n = 0;
	cJSON *j;

	start_daemon(NULL);
	c = sse_open(E.monitor, NULL);
	class_size(58);
	id = expect_kind(c, "fired", &last);
	sse_close(c);
	insert_events(id, 10600);
	newest = qlong("SELECT max(id) FROM edumon.alert_event");
	c = sse_open(E.monitor, "0");
	last = 0;
	for (;;) {
		expect_event(c, &ev, &j);
		cJSON_Delete(j);
		free(ev.data);
		if (strcmp(ev.kind, "reset") == 0)
			break;
		cr_assert_gt(ev.id, last);
		last = ev.id;
		n++;
	}
	cr_expect_geq(n, 10000, "at least the limit before the reset");
	cr_expect_lt(n, 10000 + 256, "and at most one page more");
	cr_expect_eq(ev.id, newest, "the reset names the newest event");
	last = ev.id;
	class_size(50);
	cr_expect_eq(expect_kind(c, "resolved", &last), id, "then live");
	sse_close(c);
}

/* Neither --request-deadline nor the idle --timeout ends a stream; a
 * keep-alive comment comes every 15 s. */
Test(stream, outlives_deadline_and_timeout)
{
	struct sse *c;
	struct sse_event ev;
	long long last = 0;

	start_daemon("--request-deadline 1 --timeout 1");
	c = sse_open(E.monitor, NULL);
	cr_expect_eq(sse_next(c, &ev, 16000), 0, "quiet, but open");
	cr_expect_geq(c->keepalives, 1, "a keep-alive within 16 s");
	class_size(58);
	expect_kind(c, "fired", &last);
	sse_close(c);
	cr_expect_eq(metric("edumon_http_deadline_closed_total"), 0);
}

/* SIGTERM ends open streams (the last chunk) and the daemon exits 0 at once. */
Test(stream, sigterm_ends_streams)
{
	struct sse *a, *b;
	struct sse_event ev;
	int64_t t0;

	start_daemon(NULL);
	a = sse_open(E.monitor, NULL);
	b = sse_open(E.admin, "0");
	t0 = now_usec();
	cr_expect_eq(tl_daemon_stop(E.d), 0, "exit status 0");
	E.d = NULL;
	cr_expect_lt(now_usec() - t0, 3000000, "within 3 s");
	while (sse_next(a, &ev, 2000) == 1)
		free(ev.data);
	cr_expect(a->eof, "the stream ended");
	while (sse_next(b, &ev, 2000) == 1)
		free(ev.data);
	cr_expect(b->eof, "the other too");
	sse_close(a);
	sse_close(b);
}

/* A revoked token's stream ends once the daemon reloads its tokens. */
Test(stream, revoked_token_ends_stream)
{
	struct sse *c;
	struct sse_event ev;
	char cmd[1024];
	long id;
	int rc;

	start_daemon(NULL);
	c = sse_open(E.monitor, NULL);
	id = qlong("SELECT id FROM edumon.api_token WHERE label = '李老师'");
	snprintf(cmd, sizeof cmd, "%s/edumon --database '%s' token revoke %ld >/dev/null",
	    tl_build_dir(), E.db, id);
	cr_assert_eq(tl_run(cmd, NULL), 0);
	while ((rc = sse_next(c, &ev, 10000)) == 1)
		free(ev.data);
	cr_expect_eq(rc, -1, "the stream ended within 10 s");
	sse_close(c);
	c = sse_open_with(E.monitor, "0", NULL, 0);
	cr_expect_eq(c->status, 401, "and the token cannot start another");
	sse_close(c);
}
