/*
 * test_httpc.c: the outgoing HTTP client against real HTTP servers on
 * loopback, and its pure parts (address policy, URL check, Retry-After).
 *
 * The receiver is an evhttp server in the test process on the *same* event
 * base as the client. That makes "never blocks the loop" testable: if the
 * client ever waited on the network inside a callback, the server could
 * not answer and the test would hang (Criterion's timeout and a guard
 * timer end it). Timing assertions are loose: the hanging receiver is cut
 * by a 1 s total timeout and only has to be reported within 10 s.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc.h"
#include "util.h"

/* ---- the receiver ----------------------------------------------------- */

static struct event_base *base;
static struct evhttp *http;
static int port;
static int hits;           /* requests the receiver has seen */
static int concurrent;     /* /slow requests not yet answered */
static int max_concurrent; /* the most at once */

static void
reply(struct evhttp_request *req, int code, const char *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Status", out);
	evbuffer_free(out);
}

static void
slow_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	concurrent--;
	reply(arg, 200, "slow", 4);
}

static void
server_cb(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_request_get_uri(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);

	(void)arg;
	hits++;
	if (strcmp(path, "/echo") == 0) {
		const char *t = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Test");
		size_t len = evbuffer_get_length(in);
		char *body = xmalloc(len + 1);

		evbuffer_remove(in, body, len);
		evhttp_add_header(out, "X-Echo", t != NULL ? t : "(none)");
		reply(req, 200, body, len);
		free(body);
	} else if (strcmp(path, "/fail") == 0) {
		reply(req, 500, "boom", 4);
	} else if (strcmp(path, "/busy") == 0) {
		evhttp_add_header(out, "Retry-After", "7");
		reply(req, 429, "slow down", 9);
	} else if (strcmp(path, "/redirect") == 0) {
		evhttp_add_header(out, "Location", "/echo");
		reply(req, 302, "", 0);
	} else if (strcmp(path, "/big") == 0) {
		char body[5000];

		memset(body, 'x', sizeof body);
		reply(req, 200, body, sizeof body);
	} else if (strcmp(path, "/slow") == 0) {
		struct timeval tv = {0, 50 * 1000};

		if (++concurrent > max_concurrent)
			max_concurrent = concurrent;
		cr_assert_eq(event_base_once(base, -1, EV_TIMEOUT, slow_reply_cb, req, &tv), 0);
	} else if (strcmp(path, "/hang") == 0) {
		/* Never answered; evhttp_free drops it at teardown. */
	} else {
		reply(req, 404, "", 0);
	}
}

static void
setup(void)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	base = event_base_new();
	http = evhttp_new(base);
	cr_assert(base != NULL && http != NULL);
	evhttp_set_gencb(http, server_cb, NULL);
	bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	cr_assert(bs != NULL, "cannot bind the receiver");
	cr_assert_eq(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
}

static void
teardown(void)
{
	evhttp_free(http);
	event_base_free(base);
}

TestSuite(httpc, .init = setup, .fini = teardown, .timeout = 60);

/* ---- answers ---------------------------------------------------------- */

/* A copy of one answer, and how many times the callback ran. */
struct answer {
	int calls;
	int order; /* 1 for the first answer of the test, 2 for the next... */
	long status;
	enum httpc_fail fail;
	char *error;
	char *body;
	size_t body_len;
	bool truncated;
	char *retry_after;
	double elapsed;
};

static int answered; /* callbacks run so far */
static int wanted;   /* break the loop when answered reaches this */

static void
done_cb(const struct httpc_response *res, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	a->order = ++answered;
	a->status = res->status;
	a->fail = res->fail;
	free(a->error);
	free(a->body);
	free(a->retry_after);
	a->error = res->error != NULL ? xstrdup(res->error) : NULL;
	a->body = xstrndup(res->body, res->body_len);
	a->body_len = res->body_len;
	a->truncated = res->truncated;
	a->retry_after = res->retry_after != NULL ? xstrdup(res->retry_after) : NULL;
	a->elapsed = res->elapsed;
	if (answered >= wanted)
		event_base_loopbreak(base);
}

static void
answers_free(struct answer *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].error);
		free(a[i].body);
		free(a[i].retry_after);
	}
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
	event_base_loopbreak(base);
}

/* Run the loop until n answers in all arrived; fails the test after 30 s. */
static void
run_until(int n)
{
	struct timeval tv = {30, 0};
	bool expired = false;
	struct event *guard = evtimer_new(base, guard_cb, &expired);

	wanted = n;
	evtimer_add(guard, &tv);
	while (answered < n && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	cr_assert(!expired, "only %d of %d answers within 30 s", answered, n);
}

static char *
url(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", port, path);
}

static struct httpc *
client(int max_transfers, size_t max_body, int total_ms, bool allow_private)
{
	struct httpc_config cfg = {
		.connect_timeout_ms = 5000,
		.total_timeout_ms = total_ms,
		.max_transfers = max_transfers,
		.max_body = max_body,
		.user_agent = "edumon-test",
		.allow_private = allow_private,
	};
	struct httpc *h = httpc_new(base, &cfg);

	cr_assert(h != NULL);
	return h;
}

/* POST to path; asserts that it was accepted. */
static void
post(struct httpc *h, const char *path, const char *body, struct answer *a)
{
	char *u = url(path);

	cr_assert_eq(httpc_post(h, u, NULL, 0, body, strlen(body), done_cb, a), 0);
	free(u);
}

/* ---- responses -------------------------------------------------------- */

Test(httpc, ok_with_body_and_headers_never_answered_inside_post)
{
	struct httpc *h = client(4, 0, 10000, true);
	struct httpc_header hd[] = {{"Content-Type", "application/json"}, {"X-Test", "值 1"}};
	struct answer a = {0};
	char *u = url("/echo");

	cr_assert_eq(httpc_post(h, u, hd, ARRAY_LEN(hd), "{\"a\":1}", 7, done_cb, &a), 0);
	free(u);
	cr_expect_eq(a.calls, 0, "answered from inside httpc_post");
	cr_expect_eq(httpc_active(h) + httpc_queued(h), 1);
	run_until(1);
	cr_expect_eq(a.calls, 1);
	cr_expect_eq(a.status, 200);
	cr_expect_eq(a.fail, HTTPC_FAIL_NONE);
	cr_expect_null(a.error);
	cr_expect_str_eq(a.body, "{\"a\":1}");
	cr_expect(!a.truncated);
	cr_expect(a.elapsed >= 0 && a.elapsed < 10);
	cr_expect_eq(httpc_active(h) + httpc_queued(h), 0);
	httpc_free(h);
	cr_expect_eq(a.calls, 1, "httpc_free answered a finished request again");
	answers_free(&a, 1);
}

/* Statuses are answers, not failures; a redirect is handed back as it is. */
struct resp_case {
	const char *path;
	size_t max_body;
	long status;
	const char *body; /* NULL: max_body bytes of 'x', truncated */
	const char *retry_after;
};

static const struct resp_case resp_cases[] = {
	{"/fail", 0, 500, "boom", NULL},
	{"/busy", 0, 429, "slow down", "7"},
	{"/redirect", 0, 302, "", NULL},
	{"/big", 1000, 200, NULL, NULL},
};

Test(httpc, responses_table)
{
	for (size_t i = 0; i < ARRAY_LEN(resp_cases); i++) {
		const struct resp_case *c = &resp_cases[i];
		struct httpc *h = client(4, c->max_body, 10000, true);
		struct answer a = {0};

		post(h, c->path, "x", &a);
		run_until(answered + 1);
		cr_expect_eq(a.status, c->status, "%s", c->path);
		cr_expect_eq(a.fail, HTTPC_FAIL_NONE, "%s", c->path);
		if (c->body != NULL) {
			cr_expect_str_eq(a.body, c->body, "%s", c->path);
			cr_expect(!a.truncated, "%s", c->path);
		} else {
			cr_expect_eq(a.body_len, c->max_body, "%s", c->path);
			cr_expect_eq(strlen(a.body), c->max_body, "%s", c->path);
			cr_expect(a.truncated, "%s", c->path);
		}
		if (c->retry_after != NULL) {
			cr_assert_not_null(a.retry_after, "%s", c->path);
			cr_expect_str_eq(a.retry_after, c->retry_after, "%s", c->path);
		} else {
			cr_expect_null(a.retry_after, "%s", c->path);
		}
		httpc_free(h);
		answers_free(&a, 1);
	}
	/* One request each: the redirect was not followed. */
	cr_expect_eq(hits, (int)ARRAY_LEN(resp_cases));
}

/* ---- failures --------------------------------------------------------- */

Test(httpc, hanging_receiver_times_out_and_slows_nothing_else)
{
	struct httpc *h = client(4, 0, 1000, true);
	struct answer a[2] = {{0}};

	post(h, "/hang", "x", &a[0]);
	post(h, "/echo", "quick", &a[1]);
	run_until(2);
	cr_expect_eq(a[1].status, 200);
	cr_expect_eq(a[1].order, 1, "the healthy receiver waited for the hanging one");
	cr_expect(a[1].elapsed < a[0].elapsed);
	cr_expect_eq(a[0].status, 0);
	cr_expect_eq(a[0].fail, HTTPC_FAIL_TIMEOUT);
	cr_assert_not_null(a[0].error);
	cr_expect(strstr(a[0].error, "timed out") != NULL, "error: %s", a[0].error);
	cr_expect(a[0].elapsed >= 0.9 && a[0].elapsed < 10, "elapsed %.3f s", a[0].elapsed);
	httpc_free(h);
	answers_free(a, 2);
}

/* A loopback port that was free a moment ago and has no listener now. */
static int
closed_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/*
 * Transport failures: status 0 and a failure class. The address policy
 * cases post to the live receiver with allow_private off: it must not be
 * reached, through an address literal or a name that resolves to loopback.
 */
struct fail_case {
	const char *url; /* %d: the receiver's port, or a closed one */
	bool closed;
	bool allow_private;
	enum httpc_fail fail;
	const char *words; /* in the error text */
};

static const struct fail_case fail_cases[] = {
	{"http://127.0.0.1:%d/", true, true, HTTPC_FAIL_CONNECT, ""},
	{"ftp://127.0.0.1:%d/", false, true, HTTPC_FAIL_URL, ""},
	{"http://127.0.0.1:%d/echo", false, false, HTTPC_FAIL_REFUSED,
	    "refused to connect to 127.0.0.1: a loopback address"},
	{"http://[::1]:%d/echo", false, false, HTTPC_FAIL_REFUSED, "::1: a loopback"},
	{"http://localhost:%d/echo", false, false, HTTPC_FAIL_REFUSED, "loopback"},
};

Test(httpc, transport_failures_table)
{
	for (size_t i = 0; i < ARRAY_LEN(fail_cases); i++) {
		const struct fail_case *c = &fail_cases[i];
		struct httpc *h = client(4, 0, 10000, c->allow_private);
		struct answer a = {0};
		char *u = xasprintf(c->url, c->closed ? closed_port() : port);

		cr_assert_eq(httpc_post(h, u, NULL, 0, "x", 1, done_cb, &a), 0);
		run_until(answered + 1);
		cr_expect_eq(a.status, 0, "%s", u);
		cr_expect_eq(a.fail, c->fail, "%s: %s: %s", u, httpc_fail_name(a.fail), a.error);
		cr_assert_not_null(a.error, "%s", u);
		cr_expect(strstr(a.error, c->words) != NULL, "%s: %s", u, a.error);
		httpc_free(h);
		answers_free(&a, 1);
		free(u);
	}
	cr_expect_eq(hits, 0, "the receiver was reached");
}

Test(httpc, malformed_header_refused_at_once)
{
	struct httpc *h = client(4, 0, 10000, true);
	struct httpc_header split[] = {{"X-A", "1\r\nX-Injected: 2"}};
	struct httpc_header noname[] = {{"", "1"}};
	struct answer a = {0};
	char *u = url("/echo");

	cr_expect_eq(httpc_post(h, u, split, 1, "x", 1, done_cb, &a), -1);
	cr_expect_eq(httpc_post(h, u, noname, 1, "x", 1, done_cb, &a), -1);
	free(u);
	httpc_free(h);
	cr_expect_eq(a.calls, 0);
}

/* ---- queueing and volume ---------------------------------------------- */

Test(httpc, concurrency_is_capped_and_the_rest_queue)
{
	struct httpc *h = client(2, 0, 10000, true);
	struct answer a[10] = {{0}};

	for (size_t i = 0; i < ARRAY_LEN(a); i++)
		post(h, "/slow", "x", &a[i]);
	cr_expect_eq(httpc_active(h), 2);
	cr_expect_eq(httpc_queued(h), 8);
	run_until(10);
	for (size_t i = 0; i < ARRAY_LEN(a); i++) {
		cr_expect_eq(a[i].calls, 1);
		cr_expect_eq(a[i].status, 200);
	}
	cr_expect_eq(max_concurrent, 2, "the receiver saw %d at once", max_concurrent);
	httpc_free(h);
	answers_free(a, ARRAY_LEN(a));
}

Test(httpc, full_queue_refuses_at_once)
{
	struct httpc_config cfg = {.max_transfers = 1, .max_queued = 2, .allow_private = true};
	struct httpc *h = httpc_new(base, &cfg);
	struct answer a[4] = {{0}};
	char *u = url("/slow");

	for (int i = 0; i < 3; i++)
		cr_expect_eq(httpc_post(h, u, NULL, 0, "x", 1, done_cb, &a[i]), 0);
	cr_expect_eq(httpc_post(h, u, NULL, 0, "x", 1, done_cb, &a[3]), -1);
	free(u);
	run_until(3);
	cr_expect_eq(a[3].calls, 0);
	httpc_free(h);
	answers_free(a, ARRAY_LEN(a));
}

Test(httpc, many_requests_each_answered_once)
{
	enum { N = 200 };
	struct httpc *h = client(8, 0, 20000, true);
	struct answer *a = xcalloc(N, sizeof *a);
	char *u = url("/echo");

	for (int i = 0; i < N; i++) {
		char body[16];
		int len = snprintf(body, sizeof body, "%d", i);

		cr_assert_eq(httpc_post(h, u, NULL, 0, body, (size_t)len, done_cb, &a[i]), 0);
	}
	free(u);
	run_until(N);
	/* One more turn: a duplicate answer would arrive now. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (int i = 0; i < N; i++) {
		char body[16];

		snprintf(body, sizeof body, "%d", i);
		cr_expect_eq(a[i].calls, 1, "request %d answered %d times", i, a[i].calls);
		cr_expect_eq(a[i].status, 200);
		cr_expect_str_eq(a[i].body, body);
	}
	cr_expect_eq(answered, N);
	cr_expect_eq(hits, N);
	httpc_free(h);
	answers_free(a, N);
	free(a);
}

/* A callback that posts again, as a retrying caller does. */
struct repost {
	struct httpc *h;
	struct answer first, second;
	int posted;
};

static void
repost_cb(const struct httpc_response *res, void *arg)
{
	struct repost *rp = arg;
	char *u = url("/echo");

	done_cb(res, &rp->first);
	rp->posted = httpc_post(rp->h, u, NULL, 0, "again", 5, done_cb, &rp->second);
	free(u);
}

Test(httpc, callback_may_post_again)
{
	struct repost rp = {0};
	char *u = url("/fail");

	rp.h = client(1, 0, 10000, true);
	cr_assert_eq(httpc_post(rp.h, u, NULL, 0, "x", 1, repost_cb, &rp), 0);
	free(u);
	run_until(2);
	cr_expect_eq(rp.posted, 0);
	cr_expect_eq(rp.first.status, 500);
	cr_expect_eq(rp.second.status, 200);
	cr_expect_str_eq(rp.second.body, "again");
	httpc_free(rp.h);
	cr_expect_eq(rp.first.calls, 1);
	cr_expect_eq(rp.second.calls, 1);
	answers_free(&rp.first, 1);
	answers_free(&rp.second, 1);
}

static void
count_hits_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (hits >= *(int *)arg)
		event_base_loopbreak(base);
}

Test(httpc, free_answers_every_request_in_flight_once)
{
	struct httpc *h = client(2, 0, 30000, true);
	struct answer a[5] = {{0}};
	struct timeval tv = {0, 10 * 1000};
	int two = 2;
	struct event *poll = event_new(base, -1, EV_PERSIST, count_hits_cb, &two);

	for (size_t i = 0; i < ARRAY_LEN(a); i++)
		post(h, "/hang", "x", &a[i]);
	/* Let the first two reach the receiver; three stay queued. */
	event_add(poll, &tv);
	event_base_dispatch(base);
	event_free(poll);
	cr_assert_eq(hits, 2);
	cr_expect_eq(answered, 0);
	httpc_free(h);
	for (size_t i = 0; i < ARRAY_LEN(a); i++) {
		cr_expect_eq(a[i].calls, 1);
		cr_expect_eq(a[i].status, 0);
		cr_expect_eq(a[i].fail, HTTPC_FAIL_SHUTDOWN);
	}
	answers_free(a, ARRAY_LEN(a));
}

/* ---- the address policy ----------------------------------------------- */

struct addr_case {
	const char *addr;
	bool strict;  /* allowed with allow_private = false */
	bool relaxed; /* allowed with allow_private = true */
};

static const struct addr_case addr_cases[] = {
	{"8.8.8.8", true, true},
	{"1.1.1.1", true, true},
	{"93.184.216.34", true, true},
	{"127.0.0.1", false, true},
	{"127.255.255.254", false, true},
	{"10.0.0.1", false, true},
	{"172.16.0.1", false, true},
	{"172.31.255.255", false, true},
	{"172.32.0.1", true, true},
	{"172.15.255.255", true, true},
	{"192.168.1.1", false, true},
	{"169.254.169.254", false, true},
	{"100.64.0.1", false, true},
	{"100.127.255.255", false, true},
	{"100.128.0.1", true, true},
	{"192.0.0.8", false, true},
	{"192.0.2.1", false, true},
	{"198.18.0.1", false, true},
	{"198.19.255.255", false, true},
	{"198.20.0.1", true, true},
	{"0.0.0.0", false, false},
	{"0.1.2.3", false, false},
	{"224.0.0.1", false, false},
	{"239.255.255.250", false, false},
	{"240.0.0.1", false, false},
	{"255.255.255.255", false, false},
	{"2606:4700:4700::1111", true, true},
	{"2001:4860:4860::8888", true, true},
	{"::1", false, true},
	{"::", false, false},
	{"fe80::1", false, true},
	{"febf::1", false, true},
	{"fec0::1", false, true},
	{"fc00::1", false, true},
	{"fd12:3456:789a::1", false, true},
	{"ff02::1", false, false},
	{"2001:db8::1", false, true},
	{"2001::1", false, true},
	{"100::1", false, true},
	{"::ffff:127.0.0.1", false, true},
	{"::ffff:10.1.2.3", false, true},
	{"::ffff:8.8.8.8", true, true},
	{"::ffff:0.0.0.0", false, false},
	{"::ffff:224.0.0.1", false, false},
	{"::127.0.0.1", false, true},
	{"64:ff9b::7f00:1", false, true},
	{"64:ff9b::808:808", true, true},
	{"64:ff9b:1::1", false, true},
	{"2002:7f00:1::1", false, true},
	{"2002:0808:0808::1", true, true},
};

Test(httpc, address_policy_table)
{
	for (size_t i = 0; i < ARRAY_LEN(addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct sockaddr_storage ss;
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		const struct sockaddr *sa = (const struct sockaddr *)&ss;

		memset(&ss, 0, sizeof ss);
		if (inet_pton(AF_INET, c->addr, &in->sin_addr) == 1) {
			in->sin_family = AF_INET;
		} else {
			cr_assert_eq(inet_pton(AF_INET6, c->addr, &in6->sin6_addr), 1, "%s", c->addr);
			in6->sin6_family = AF_INET6;
		}
		cr_expect_eq(httpc_address_allowed(sa, false), c->strict, "%s strict", c->addr);
		cr_expect_eq(httpc_address_allowed(sa, true), c->relaxed, "%s relaxed", c->addr);
		cr_expect_eq(httpc_address_kind(sa) == NULL, c->strict, "%s kind %s", c->addr,
		    httpc_address_kind(sa));
	}
}

Test(httpc, non_ip_family_refused)
{
	struct sockaddr sa = {.sa_family = AF_UNIX};

	cr_expect(!httpc_address_allowed(&sa, false));
	cr_expect(!httpc_address_allowed(&sa, true));
}

/* ---- configuration-time URL check ------------------------------------- */

struct url_case {
	const char *url;
	bool allow_private;
	const char *cause; /* NULL: accepted; else a part of the message */
};

static const struct url_case url_cases[] = {
	{"https://93.184.216.34/hook", false, NULL},
	{"http://93.184.216.34:8080/hook?key=secret", false, NULL},
	{"https://[2606:4700:4700::1111]/x", false, NULL},
	{"http://127.0.0.1:9093/api", false, "loopback"},
	{"http://127.0.0.1:9093/api", true, NULL},
	{"http://localhost/", false, "loopback"},
	{"https://10.1.2.3/x", false, "private"},
	{"https://169.254.169.254/latest/meta-data", false, "link-local"},
	{"https://[::1]/x", false, "loopback"},
	{"https://[::ffff:192.168.0.1]/x", false, "private"},
	{"http://0.0.0.0/", true, "unspecified"},
	{"ftp://93.184.216.34/", false, "only http and https"},
	{"file:///etc/passwd", true, "only http and https"},
	{"gopher://93.184.216.34/", true, "only http and https"},
	{"not a url", true, "does not parse"},
	{"http://", true, "does not parse"},
};

Test(httpc, check_url_table)
{
	for (size_t i = 0; i < ARRAY_LEN(url_cases); i++) {
		const struct url_case *c = &url_cases[i];
		char *cause = NULL;
		int rc = httpc_check_url(c->url, c->allow_private, &cause);

		if (c->cause == NULL) {
			cr_expect_eq(rc, 0, "%s: %s", c->url, cause);
			cr_expect_null(cause);
		} else {
			cr_expect_eq(rc, -1, "%s accepted", c->url);
			cr_expect(cause != NULL && strstr(cause, c->cause) != NULL, "%s: %s",
			    c->url, cause);
			cr_expect(cause == NULL || strstr(cause, "secret") == NULL);
		}
		free(cause);
	}
}

/* ---- Retry-After and names -------------------------------------------- */

Test(httpc, retry_after_values)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date. */
	time_t t = 784111777;

	cr_expect_eq(httpc_retry_after_seconds("120", t), 120);
	cr_expect_eq(httpc_retry_after_seconds(" 0 ", t), 0);
	cr_expect_eq(httpc_retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT", t - 30), 30);
	cr_expect_eq(httpc_retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT", t + 30), 0);
	cr_expect_eq(httpc_retry_after_seconds("-5", t), -1);
	cr_expect_eq(httpc_retry_after_seconds("12abc", t), -1);
	cr_expect_eq(httpc_retry_after_seconds("", t), -1);
	cr_expect_eq(httpc_retry_after_seconds("soon", t), -1);
	cr_expect_eq(httpc_retry_after_seconds("99999999999999999999", t), -1);
}

Test(httpc, failure_names)
{
	cr_expect_str_eq(httpc_fail_name(HTTPC_FAIL_NONE), "none");
	cr_expect_str_eq(httpc_fail_name(HTTPC_FAIL_TIMEOUT), "timeout");
	cr_expect_str_eq(httpc_fail_name(HTTPC_FAIL_REFUSED), "refused");
	cr_expect_str_eq(httpc_fail_name(HTTPC_FAIL_SHUTDOWN), "shutdown");
	cr_expect_str_eq(httpc_fail_name(HTTPC_FAIL_OTHER), "other");
	cr_expect_str_eq(httpc_fail_name((enum httpc_fail)99), "other");
}
