/*
 * test_receiver.c: the loopback HTTP receiver of tests/receiver.h, driven
 * by libcurl (and a raw socket where a client must stay connected).
 *
 * Timing assertions are one-sided or loose: a delayed answer must take at
 * least its delay, and concurrent delayed answers must overlap (64 answers
 * of 300 ms in well under 64 * 300 ms), so a loaded machine slows the tests
 * but does not fail them.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "receiver.h"
#include "testlib.h"
#include "util.h"

#define SECRET "whsec-test"
#define DINGTALK_SECRET "SECb6f1e0c2d3"

static struct receiver *r;

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = receiver_start();
}

static void
teardown(void)
{
	receiver_stop(r);
	r = NULL;
	curl_global_cleanup();
}

TestSuite(receiver, .init = setup, .fini = teardown, .timeout = 60);

/* ---- a small libcurl client ------------------------------------------ */

struct call {
	CURLcode rc;
	long status;
	struct buf body;
	char retry_after[64];
	double seconds;
	struct curl_slist *headers;
};

static size_t
body_cb(char *p, size_t size, size_t n, void *arg)
{
	buf_append(&((struct call *)arg)->body, p, size * n);
	return size * n;
}

static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n;
	size_t a = 12, b = len;

	if (len <= a || strncasecmp(p, "Retry-After:", a) != 0)
		return len;
	while (a < b && p[a] == ' ')
		a++;
	while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n'))
		b--;
	snprintf(c->retry_after, sizeof c->retry_after, "%.*s", (int)(b - a), p + a);
	return len;
}

/* An easy handle for one request; headers is NULL-terminated or NULL. */
static CURL *
easy(struct call *c, const char *method, const char *url, const char *const *headers,
    const char *body, long timeout_ms)
{
	CURL *h = curl_easy_init();

	memset(c, 0, sizeof *c);
	buf_init(&c->body);
	cr_assert_not_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	for (; headers != NULL && *headers != NULL; headers++)
		c->headers = curl_slist_append(c->headers, *headers);
	/* No "Expect: 100-continue" pause on larger bodies. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	return h;
}

/* Fill c's status and time from a finished handle, and free the handle. */
static void
easy_done(struct call *c, CURL *h, CURLcode rc)
{
	c->rc = rc;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &c->seconds);
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	curl_easy_cleanup(h);
	if (c->body.data == NULL)
		buf_puts(&c->body, "");
}

/* One blocking request. Release with call_free. */
static void
call(struct call *c, const char *method, const char *url, const char *const *headers,
    const char *body, long timeout_ms)
{
	CURL *h = easy(c, method, url, headers, body, timeout_ms);

	easy_done(c, h, curl_easy_perform(h));
}

static void
call_free(struct call *c)
{
	buf_free(&c->body);
}

/* POST body to path on r; expects an HTTP answer and returns its status. */
static long
post(const char *path, const char *const *headers, const char *body)
{
	char *url = receiver_url(r, path);
	struct call c;
	long status;

	call(&c, "POST", url, headers, body, 5000);
	cr_assert_eq(c.rc, CURLE_OK, "POST %s: %s", url, curl_easy_strerror(c.rc));
	status = c.status;
	call_free(&c);
	free(url);
	return status;
}

/* Run n prepared handles at once until all finish (or 30 s). */
static void
run_all(CURL **h, struct call *c, size_t n)
{
	CURLM *m = curl_multi_init();
	int running = 1, left;
	CURLMsg *msg;

	for (size_t i = 0; i < n; i++) {
		curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)&c[i]);
		curl_multi_add_handle(m, h[i]);
	}
	while (running > 0) {
		cr_assert_eq(curl_multi_perform(m, &running), CURLM_OK);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct call *ci;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ci);
			curl_multi_remove_handle(m, msg->easy_handle);
			easy_done(ci, msg->easy_handle, msg->data.result);
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	curl_multi_cleanup(m);
}

/* A raw connection to port with one request written; the caller closes it. */
static int
raw_request(int port, const char *req)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	return fd;
}

/* Read until EOF or 5 s; true on EOF. */
static bool
reads_eof(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char chunk[512];

	while (poll(&pfd, 1, 5000) == 1) {
		ssize_t n = recv(fd, chunk, sizeof chunk, 0);

		if (n <= 0)
			return true;
	}
	return false;
}

static int64_t
mono_ms(void)
{
	return now_usec() / 1000;
}

/* ---- recording ------------------------------------------------------ */

Test(receiver, records_method_uri_headers_body_and_times)
{
	const char *hdrs[] = {
	    "Content-Type: application/json", "X-Edumon-Delivery: d-1", "X-Custom: 汉字", NULL};
	struct receiver_request *q;
	int64_t before = mono_ms(), real = (int64_t)time(NULL) * 1000;

	cr_assert_eq(post("/hook/a?x=1&y=%E6%B1%89", hdrs, "{\"a\":1}"), 200);
	cr_assert_eq(receiver_count(r), 1);
	q = receiver_request(r, 0);
	cr_assert_not_null(q);
	cr_assert_null(receiver_request(r, 1));
	cr_assert_eq(q->index, 0);
	cr_assert_str_eq(q->method, "POST");
	cr_assert_str_eq(q->uri, "/hook/a?x=1&y=%E6%B1%89");
	cr_assert_str_eq(q->path, "/hook/a");
	cr_assert_str_eq(q->query, "x=1&y=%E6%B1%89");
	cr_assert_str_eq(receiver_request_header(q, "content-type"), "application/json");
	cr_assert_str_eq(receiver_request_header(q, "X-EDUMON-DELIVERY"), "d-1");
	cr_assert_str_eq(receiver_request_header(q, "X-Custom"), "汉字");
	cr_assert_null(receiver_request_header(q, "X-Absent"));
	cr_assert_eq(q->body_len, 7);
	cr_assert_str_eq(q->body, "{\"a\":1}");
	cr_assert_geq(q->mono_ms, before);
	cr_assert_leq(q->mono_ms, mono_ms());
	cr_assert_geq(q->real_ms, real - 1000);
	cr_assert_leq(q->real_ms, real + 2000);
	cr_assert_eq(q->status, 200);
	cr_assert_not(q->hung);
	receiver_request_free(q);
	receiver_request_free(NULL);
}

Test(receiver, query_parameters_are_decoded)
{
	static const struct {
		const char *name, *want; /* want NULL: absent */
	} cases[] = {
	    {"sign", "ab+c/="},
	    {"plus", "a b"},
	    {"empty", ""},
	    {"a", "1"},
	    {"ab", "no"},
	    {"b", NULL},
	};
	struct receiver_request *q;

	cr_assert_eq(post("/p?a=1&sign=ab%2Bc%2F%3D&plus=a+b&empty=&ab=no", NULL, "x"), 200);
	q = receiver_request(r, 0);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *v = receiver_request_param(q, cases[i].name);

		if (cases[i].want == NULL)
			cr_assert_null(v, "%s", cases[i].name);
		else
			cr_assert_str_eq(v, cases[i].want, "%s", cases[i].name);
		free(v);
	}
	receiver_request_free(q);
}

Test(receiver, any_method_and_an_empty_body)
{
	static const char *const ms[] = {"GET", "PUT", "DELETE", "PATCH"};
	char *url = receiver_url(r, "x");
	struct receiver_request *q;
	struct call c;

	cr_assert(strstr(url, "/x") != NULL);
	for (size_t i = 0; i < ARRAY_LEN(ms); i++) {
		call(&c, ms[i], url, NULL, NULL, 5000);
		cr_assert_eq(c.rc, CURLE_OK);
		cr_assert_eq(c.status, 200);
		call_free(&c);
		q = receiver_request(r, i);
		cr_assert_str_eq(q->method, ms[i]);
		cr_assert_eq(q->body_len, 0);
		cr_assert_str_eq(q->body, "");
		receiver_request_free(q);
	}
	free(url);
}

Test(receiver, json_body)
{
	struct receiver_request *q;
	cJSON *j;

	post("/", NULL, "{\"msg\":\"告警\"}");
	post("/", NULL, "not json");
	q = receiver_request(r, 0);
	j = receiver_request_json(q);
	cr_assert_not_null(j);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, "告警");
	cJSON_Delete(j);
	receiver_request_free(q);
	q = receiver_request(r, 1);
	cr_assert_null(receiver_request_json(q));
	receiver_request_free(q);
}

/* ---- programmed answers --------------------------------------------- */

Test(receiver, script_500_then_200)
{
	char *url = receiver_url(r, "/hook");
	struct receiver_request *q;
	struct call c;

	receiver_push(r, &(struct receiver_response){
	                     .status = 500, .body = "{\"error\":\"boom\"}", .retry_after = "2"});
	receiver_set_default(r, 200, "ok");
	cr_assert_eq(receiver_script_left(r), 1);

	call(&c, "POST", url, NULL, "{}", 5000);
	cr_assert_eq(c.status, 500);
	cr_assert_str_eq(c.body.data, "{\"error\":\"boom\"}");
	cr_assert_str_eq(c.retry_after, "2");
	call_free(&c);
	cr_assert_eq(receiver_script_left(r), 0);

	for (int i = 0; i < 2; i++) {
		call(&c, "POST", url, NULL, "{}", 5000);
		cr_assert_eq(c.status, 200);
		cr_assert_str_eq(c.body.data, "ok");
		cr_assert_str_eq(c.retry_after, "");
		call_free(&c);
	}
	q = receiver_request(r, 0);
	cr_assert_eq(q->status, 500);
	receiver_request_free(q);
	q = receiver_request(r, 2);
	cr_assert_eq(q->status, 200);
	receiver_request_free(q);
	free(url);
}

Test(receiver, script_in_order_then_default_changed_while_running)
{
	static const int want[] = {503, 429, 200, 201, 201};
	const char *const body = "{}";

	receiver_push_status(r, 503, NULL);
	receiver_push_status(r, 429, RECEIVER_WECOM_THROTTLED);
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		if (i == 3)
			receiver_set_default(r, 201, NULL);
		cr_assert_eq(post("/", NULL, body), want[i], "request %zu", i);
	}
}

Test(receiver, robot_reply_bodies_mean_what_notify_reads)
{
	static const struct {
		enum notify_channel ch;
		const char *body;
		enum notify_outcome want;
	} cases[] = {
	    {NOTIFY_CH_WECOM, RECEIVER_ROBOT_OK, NOTIFY_OK},
	    {NOTIFY_CH_WECOM, RECEIVER_WECOM_THROTTLED, NOTIFY_RETRY},
	    {NOTIFY_CH_DINGTALK, RECEIVER_ROBOT_OK, NOTIFY_OK},
	    {NOTIFY_CH_DINGTALK, RECEIVER_DINGTALK_THROTTLED, NOTIFY_RETRY},
	    {NOTIFY_CH_DINGTALK, RECEIVER_DINGTALK_BAD_SIGN, NOTIFY_FAIL},
	};
	char *url = receiver_url(r, "/robot");

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct call c;

		receiver_set_default(r, 200, cases[i].body);
		call(&c, "POST", url, NULL, "{}", 5000);
		cr_assert_eq(c.status, 200);
		cr_assert_eq(notify_robot_reply(cases[i].ch, c.body.data, c.body.len, NULL),
		    cases[i].want, "%s", cases[i].body);
		call_free(&c);
	}
	free(url);
}

Test(receiver, delay_answers_late_without_holding_up_others)
{
	static const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nslow";
	char *url = receiver_url(r, "/");
	struct receiver_request *q;
	struct pollfd pfd;
	struct call c;
	char got[64] = "";
	int64_t t0;
	int fd;

	receiver_push(r, &(struct receiver_response){.status = 202, .delay_ms = 600});
	call(&c, "POST", url, NULL, "slow", 5000);
	cr_assert_eq(c.status, 202);
	cr_assert_geq(c.seconds, 0.6);
	call_free(&c);
	q = receiver_request(r, 0);
	cr_assert_eq(q->delay_ms, 600);
	receiver_request_free(q);

	/* A delayed answer in flight; an immediate one on another connection is not held up. */
	receiver_push(r, &(struct receiver_response){.status = 200, .delay_ms = 1500});
	t0 = mono_ms();
	fd = raw_request(receiver_port(r), req);
	cr_assert_eq(receiver_wait(r, 2, 5000), 2);
	call(&c, "POST", url, NULL, "fast", 5000);
	cr_assert_eq(c.status, 200);
	cr_assert_lt(c.seconds, 1.0, "the fast request took %.3f s", c.seconds);
	call_free(&c);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	cr_assert_eq(poll(&pfd, 1, 5000), 1);
	cr_assert_gt(recv(fd, got, sizeof got - 1, 0), 0);
	cr_assert(strncmp(got, "HTTP/1.1 200", 12) == 0, "%s", got);
	cr_assert_geq(mono_ms() - t0, 1500);
	close(fd);
	free(url);
}

Test(receiver, hang_until_the_client_gives_up)
{
	char *url = receiver_url(r, "/");
	struct receiver_request *q;
	struct call c;

	receiver_push(r, &(struct receiver_response){.hang = true});
	call(&c, "POST", url, NULL, "{}", 1000);
	cr_assert_eq(c.rc, CURLE_OPERATION_TIMEDOUT, "%s", curl_easy_strerror(c.rc));
	cr_assert_geq(c.seconds, 0.99);
	call_free(&c);
	cr_assert_eq(receiver_wait(r, 1, 5000), 1, "the request never arrived");
	q = receiver_request(r, 0);
	cr_assert(q->hung);
	cr_assert_eq(q->status, 0);
	receiver_request_free(q);

	/* The hung connection does not stop the next request. */
	cr_assert_eq(post("/", NULL, "{}"), 200);
	free(url);
}

Test(receiver, client_gone_before_a_delayed_answer)
{
	static const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
	int fd;

	receiver_push(r, &(struct receiver_response){.status = 200, .body = "late", .delay_ms = 300});
	fd = raw_request(receiver_port(r), req);
	cr_assert_eq(receiver_wait(r, 1, 5000), 1);
	close(fd);
	/* The timer fires for a client that has gone: no crash, no leak. */
	tl_sleep_ms(600);
	cr_assert_eq(post("/", NULL, "{}"), 200);
	cr_assert_eq(receiver_count(r), 2);
}

/* ---- waiting -------------------------------------------------------- */

struct later {
	long delay_ms;
	int n;
};

static void *
post_later(void *arg)
{
	struct later *l = arg;

	tl_sleep_ms(l->delay_ms);
	for (int i = 0; i < l->n; i++)
		post("/", NULL, "{}");
	return NULL;
}

Test(receiver, wait_blocks_until_enough_requests_or_the_timeout)
{
	struct later l = {.delay_ms = 200, .n = 3};
	pthread_t t;
	int64_t t0;

	t0 = mono_ms();
	cr_assert_eq(receiver_wait(r, 1, 250), 0);
	cr_assert_geq(mono_ms() - t0, 240);
	cr_assert_eq(receiver_wait(r, 0, 0), 0);

	cr_assert_eq(pthread_create(&t, NULL, post_later, &l), 0);
	t0 = mono_ms();
	cr_assert_eq(receiver_wait(r, 3, 10000), 3);
	cr_assert_lt(mono_ms() - t0, 9000);
	pthread_join(t, NULL);
	/* Already there: returns at once with what there is. */
	t0 = mono_ms();
	cr_assert_eq(receiver_wait(r, 2, 10000), 3);
	cr_assert_lt(mono_ms() - t0, 1000);
}

/* ---- many at once --------------------------------------------------- */

#define MANY 64

Test(receiver, many_concurrent_delayed_requests_overlap)
{
	static struct call c[MANY];
	CURL *h[MANY];
	char *url = receiver_url(r, "/many");
	bool seen[MANY] = {false};
	int64_t t0;

	receiver_set_default_response(r,
	    &(struct receiver_response){.status = 200, .body = RECEIVER_ROBOT_OK, .delay_ms = 300});
	for (int i = 0; i < MANY; i++) {
		char body[32];

		snprintf(body, sizeof body, "{\"i\":%d}", i);
		h[i] = easy(&c[i], "POST", url, NULL, body, 20000);
		/* POSTFIELDS is not copied: make curl copy it. */
		curl_easy_setopt(h[i], CURLOPT_COPYPOSTFIELDS, body);
	}
	t0 = mono_ms();
	run_all(h, c, MANY);
	for (int i = 0; i < MANY; i++) {
		cr_assert_eq(c[i].rc, CURLE_OK, "request %d: %s", i, curl_easy_strerror(c[i].rc));
		cr_assert_eq(c[i].status, 200);
		cr_assert_str_eq(c[i].body.data, RECEIVER_ROBOT_OK);
		call_free(&c[i]);
	}
	/* One after another would take 19 s. */
	cr_assert_lt(mono_ms() - t0, 6000, "took %lld ms", (long long)(mono_ms() - t0));
	cr_assert_eq(receiver_count(r), MANY);
	for (size_t i = 0; i < MANY; i++) {
		struct receiver_request *q = receiver_request(r, i);
		cJSON *j = receiver_request_json(q);
		int k = cJSON_GetObjectItemCaseSensitive(j, "i")->valueint;

		cr_assert_eq(q->index, i);
		cr_assert(k >= 0 && k < MANY && !seen[k], "body %s twice", q->body);
		seen[k] = true;
		cJSON_Delete(j);
		receiver_request_free(q);
	}
	free(url);
}

/* ---- stopping and being down ---------------------------------------- */

Test(receiver, stop_with_a_hung_and_a_delayed_connection_open)
{
	static const char req[] = "POST /h HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
	struct receiver *other = receiver_start();
	int hung, delayed;

	receiver_push(other, &(struct receiver_response){.hang = true});
	receiver_push(other, &(struct receiver_response){.status = 200, .delay_ms = 60000});
	hung = raw_request(receiver_port(other), req);
	delayed = raw_request(receiver_port(other), req);
	cr_assert_eq(receiver_wait(other, 2, 5000), 2);
	receiver_stop(other);
	/* Stopping closed both connections without answering. */
	cr_assert(reads_eof(hung));
	cr_assert(reads_eof(delayed));
	close(hung);
	close(delayed);
}

Test(receiver, stop_right_after_start)
{
	receiver_stop(receiver_start());
	receiver_stop(NULL);
}

Test(receiver, closed_listener_refuses_then_reopens_on_the_same_port)
{
	char *url = receiver_url(r, "/");
	int port = receiver_port(r);
	struct call c;

	cr_assert_eq(receiver_close_listener(r), 0);
	cr_assert_eq(receiver_close_listener(r), -1);
	call(&c, "POST", url, NULL, "{}", 2000);
	cr_assert_eq(c.rc, CURLE_COULDNT_CONNECT, "%s", curl_easy_strerror(c.rc));
	call_free(&c);
	cr_assert_eq(receiver_reopen_listener(r), 0);
	cr_assert_eq(receiver_reopen_listener(r), -1);
	cr_assert_eq(receiver_port(r), port);
	cr_assert_eq(post("/", NULL, "{}"), 200);
	cr_assert_eq(receiver_count(r), 1);
	free(url);
}

Test(receiver, dead_url_refuses)
{
	char *url = receiver_dead_url("hook");
	struct call c;

	cr_assert(strncmp(url, "http://127.0.0.1:", 17) == 0);
	cr_assert(strstr(url, "/hook") != NULL);
	call(&c, "POST", url, NULL, "{}", 2000);
	cr_assert_eq(c.rc, CURLE_COULDNT_CONNECT, "%s", curl_easy_strerror(c.rc));
	call_free(&c);
	free(url);
}

/* ---- checks of what edumon sends ------------------------------------ */

/* POST a signed webhook of the sample event, signed at ts. */
static void
post_webhook(const char *secret, int64_t ts)
{
	struct notify_event ev = receiver_sample_event(ts - 3600);
	char *body = notify_webhook_body(
	    &ev, 1, "district-320703", "{}:{channel=\"7\"}", "https://edumon.example.cn");
	struct notify_headers nh;
	char lines[NOTIFY_MAX_HEADERS][NOTIFY_HEADER_VALUE_MAX + 64];
	const char *hdrs[NOTIFY_MAX_HEADERS + 1] = {NULL};
	char *cause = NULL;

	cr_assert_eq(notify_webhook_headers(
	                 secret, ts, "0b6e3c1e-delivery", body, strlen(body), &nh, &cause),
	    0, "%s", cause);
	for (size_t i = 0; i < nh.n; i++) {
		snprintf(lines[i], sizeof lines[i], "%s: %s", nh.h[i].name, nh.h[i].value);
		hdrs[i] = lines[i];
	}
	cr_assert_eq(post("/hook", hdrs, body), 200);
	free(body);
}

Test(receiver, webhook_check_accepts_a_signed_delivery)
{
	int64_t now = time(NULL);
	struct receiver_request *q;
	char *cause = NULL;

	post_webhook(SECRET, now);
	q = receiver_request(r, 0);
	cr_assert_eq(receiver_check_webhook(q, SECRET, now, 300, &cause), 0, "%s", cause);
	cr_assert_str_eq(receiver_request_header(q, "X-Edumon-Delivery"), "0b6e3c1e-delivery");

	cr_assert_eq(receiver_check_webhook(q, "other-secret", now, 300, &cause), -1);
	cr_assert(strstr(cause, "bad_signature") != NULL, "%s", cause);
	free(cause);
	cr_assert_eq(receiver_check_webhook(q, SECRET, now + 301, 300, &cause), -1);
	cr_assert(strstr(cause, "stale") != NULL, "%s", cause);
	free(cause);
	receiver_request_free(q);
}

Test(receiver, webhook_check_refuses_unsigned_and_non_webhook_bodies)
{
	const char *json[] = {"Content-Type: application/json", NULL};
	int64_t now = time(NULL);
	struct receiver_request *q;
	char *cause = NULL;

	post("/hook", json, "{\"version\":\"4\",\"alerts\":[]}");
	post("/hook", json, "[1]");
	post("/hook", NULL, "{\"version\":\"4\"}");
	q = receiver_request(r, 0);
	cr_assert_eq(receiver_check_webhook(q, SECRET, now, 300, &cause), -1);
	cr_assert(strstr(cause, "X-Edumon-Delivery") != NULL, "%s", cause);
	free(cause);
	receiver_request_free(q);
	q = receiver_request(r, 1);
	cr_assert_eq(receiver_check_webhook(q, SECRET, now, 300, &cause), -1);
	cr_assert(strstr(cause, "version") != NULL, "%s", cause);
	free(cause);
	receiver_request_free(q);
	q = receiver_request(r, 2);
	cr_assert_eq(receiver_check_webhook(q, SECRET, now, 300, &cause), -1);
	cr_assert(strstr(cause, "Content-Type") != NULL, "%s", cause);
	free(cause);
	receiver_request_free(q);
}

/* POST the sample event as a DingTalk message to a URL signed with secret at ts_ms. */
static void
post_dingtalk(const char *secret, int64_t ts_ms)
{
	struct notify_event ev = receiver_sample_event(ts_ms / 1000);
	const char *json[] = {"Content-Type: application/json", NULL};
	char *base = receiver_url(r, "/robot/send?access_token=tok");
	char *url = notify_dingtalk_url(base, secret, ts_ms);
	char *body = notify_dingtalk_body(&ev, 1, NOTIFY_DIGEST_UNITS);
	struct call c;

	call(&c, "POST", url, json, body, 5000);
	cr_assert_eq(c.status, 200);
	call_free(&c);
	free(body);
	free(url);
	free(base);
}

Test(receiver, dingtalk_check_verifies_the_url_signature)
{
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	struct receiver_request *q;
	char *cause = NULL, *tok;

	receiver_set_default(r, 200, RECEIVER_ROBOT_OK);
	post_dingtalk(DINGTALK_SECRET, now_ms);
	post_dingtalk(NULL, now_ms);
	q = receiver_request(r, 0);
	cr_assert_str_eq(q->path, "/robot/send");
	tok = receiver_request_param(q, "access_token");
	cr_assert_str_eq(tok, "tok");
	free(tok);
	cr_assert_eq(
	    receiver_check_dingtalk(q, DINGTALK_SECRET, now_ms, 3600000, &cause), 0, "%s", cause);
	cr_assert_eq(receiver_check_dingtalk(q, "SECother", now_ms, 3600000, &cause), -1);
	cr_assert(strstr(cause, "sign") != NULL, "%s", cause);
	free(cause);
	cr_assert_eq(
	    receiver_check_dingtalk(q, DINGTALK_SECRET, now_ms + 3600001, 3600000, &cause), -1);
	cr_assert(strstr(cause, "away") != NULL, "%s", cause);
	free(cause);
	cr_assert_eq(receiver_check_dingtalk(q, NULL, now_ms, 3600000, &cause), -1);
	free(cause);
	receiver_request_free(q);

	q = receiver_request(r, 1);
	cr_assert_eq(receiver_check_dingtalk(q, NULL, now_ms, 3600000, &cause), 0, "%s", cause);
	cr_assert_eq(receiver_check_dingtalk(q, DINGTALK_SECRET, now_ms, 3600000, &cause), -1);
	free(cause);
	receiver_request_free(q);
}

Test(receiver, wecom_check_reads_the_markdown)
{
	struct notify_event ev = receiver_sample_event(time(NULL));
	const char *json[] = {"Content-Type: application/json", NULL};
	char *body = notify_wecom_body(&ev, 1, NOTIFY_DIGEST_UNITS);
	struct receiver_request *q;
	char *cause = NULL;
	cJSON *j;

	post("/cgi-bin/webhook/send?key=k", json, body);
	post("/cgi-bin/webhook/send?key=k", json, "{\"msgtype\":\"text\",\"text\":{}}");
	q = receiver_request(r, 0);
	cr_assert_eq(receiver_check_wecom(q, &cause), 0, "%s", cause);
	j = receiver_request_json(q);
	cr_assert(strstr(cJSON_GetObjectItemCaseSensitive(
	                     cJSON_GetObjectItemCaseSensitive(j, "markdown"), "content")
	                     ->valuestring,
	              "连云区实验小学") != NULL);
	cJSON_Delete(j);
	receiver_request_free(q);
	q = receiver_request(r, 1);
	cr_assert_eq(receiver_check_wecom(q, &cause), -1);
	cr_assert(strstr(cause, "markdown") != NULL, "%s", cause);
	free(cause);
	receiver_request_free(q);
	free(body);
}
