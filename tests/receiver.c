/*
 * receiver.c: see receiver.h.
 *
 * Two threads touch a receiver: the test's (any function of receiver.h)
 * and the loop thread (every libevent object). They share only what mu
 * guards: the records, the script and default, and the command counters.
 * The test thread never touches a libevent object after receiver_start:
 * what must happen on the loop (stop, closing or reopening the listener)
 * is a one-byte command written to a pipe the loop watches, answered
 * through the condition variable.
 *
 * Requests the loop holds on to (a delayed answer or a hang) are kept on
 * the pending list. evhttp frees a request with its connection, or, when
 * the client goes away first, detaches it and leaves it to us; the
 * connection's close callback drops the pending entries of that
 * connection and frees the detached ones, so a timer never fires on a
 * freed request.
 */
#include "receiver.h"

#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "testlib.h"
#include "util.h"

/* A programmed answer, owning its strings. */
struct resp {
	int status;
	char *body;
	char *content_type;
	char *retry_after;
	int delay_ms;
	bool hang;
};

/* A request answered later (delay) or never (hang); loop thread only. */
struct pending {
	struct receiver *r;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct event *timer; /* NULL for a hang */
	struct resp resp;
	struct pending *next;
};

struct receiver {
	pthread_t thread;
	int port;

	/* Loop thread only (and the starting thread before the loop runs). */
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *listener;
	struct event *cmd_ev;
	struct pending *pending;

	int cmd_pipe[2]; /* test thread writes, loop reads */

	pthread_mutex_t mu;
	pthread_cond_t cond; /* a request recorded or a command done */
	struct receiver_request **reqs;
	size_t nreqs;
	struct resp *script;
	size_t nscript, script_head;
	struct resp dflt;
	unsigned long cmd_sent, cmd_done;
	int cmd_result;
};

enum receiver_cmd {
	CMD_QUIT = 'q',
	CMD_CLOSE = 'c',
	CMD_REOPEN = 'o',
};

static const struct {
	enum evhttp_cmd_type type;
	const char *name;
} methods[] = {
    {EVHTTP_REQ_GET, "GET"},
    {EVHTTP_REQ_POST, "POST"},
    {EVHTTP_REQ_HEAD, "HEAD"},
    {EVHTTP_REQ_PUT, "PUT"},
    {EVHTTP_REQ_DELETE, "DELETE"},
    {EVHTTP_REQ_OPTIONS, "OPTIONS"},
    {EVHTTP_REQ_TRACE, "TRACE"},
    {EVHTTP_REQ_CONNECT, "CONNECT"},
    {EVHTTP_REQ_PATCH, "PATCH"},
};

static const struct {
	int status;
	const char *reason;
} reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {425, "Too Early"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

/* Milliseconds on clock id. */
static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An owned copy of a caller's response. */
static struct resp
resp_copy(const struct receiver_response *in)
{
	struct resp out = {
	    .status = in->status > 0 ? in->status : 200,
	    .body = xstrdup(in->body != NULL ? in->body : ""),
	    .content_type = in->content_type != NULL ? xstrdup(in->content_type) : NULL,
	    .retry_after = in->retry_after != NULL ? xstrdup(in->retry_after) : NULL,
	    .delay_ms = in->delay_ms > 0 ? in->delay_ms : 0,
	    .hang = in->hang,
	};

	return out;
}

/* Another owned copy of an owned response. */
static struct resp
resp_dup(const struct resp *in)
{
	const struct receiver_response view = {
	    .status = in->status,
	    .body = in->body,
	    .content_type = in->content_type,
	    .retry_after = in->retry_after,
	    .delay_ms = in->delay_ms,
	    .hang = in->hang,
	};

	return resp_copy(&view);
}

static void
resp_clear(struct resp *p)
{
	free(p->body);
	free(p->content_type);
	free(p->retry_after);
	memset(p, 0, sizeof *p);
}

static const char *
method_name(enum evhttp_cmd_type type)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++) {
		if (methods[i].type == type)
			return methods[i].name;
	}
	return "UNKNOWN";
}

static const char *
reason_phrase(int status)
{
	for (size_t i = 0; i < ARRAY_LEN(reasons); i++) {
		if (reasons[i].status == status)
			return reasons[i].reason;
	}
	return "Status";
}

/* ---- the loop thread ------------------------------------------------ */

/* Send p's answer to req and let evhttp free req. */
static void
answer(struct evhttp_request *req, const struct resp *p)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	const char *ct = p->content_type;

	if (ct == NULL)
		ct = p->body[0] == '{' || p->body[0] == '[' ? "application/json" : "text/plain";
	evhttp_add_header(hdrs, "Content-Type", ct);
	if (p->retry_after != NULL)
		evhttp_add_header(hdrs, "Retry-After", p->retry_after);
	evbuffer_add(out, p->body, strlen(p->body));
	evhttp_send_reply(req, p->status, reason_phrase(p->status), out);
	evbuffer_free(out);
}

/* Unlink p from r's pending list and free it (not its request). */
static void
pending_drop(struct receiver *r, struct pending *p)
{
	struct pending **pp;

	for (pp = &r->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (p->timer != NULL)
		event_free(p->timer);
	resp_clear(&p->resp);
	free(p);
}

/* Timer: the delay of a pending answer is over. */
static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct evhttp_request *req = p->req;
	struct resp resp = p->resp;

	(void)fd;
	(void)what;
	memset(&p->resp, 0, sizeof p->resp);
	pending_drop(p->r, p);
	/* With the client gone (req detached), evhttp_send_reply frees req. */
	answer(req, &resp);
	resp_clear(&resp);
}

/*
 * A connection is closing: forget what is pending on it. Requests still
 * attached are freed by evhttp with the connection; detached ones are ours.
 */
static void
conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct receiver *r = arg;
	struct pending *p, *next;

	for (p = r->pending; p != NULL; p = next) {
		next = p->next;
		if (p->evcon != evcon)
			continue;
		if (evhttp_request_get_connection(p->req) == NULL)
			evhttp_request_free(p->req);
		pending_drop(r, p);
	}
}

/* A copy of what req holds, stamped now. */
static struct receiver_request *
record_new(struct evhttp_request *req)
{
	struct receiver_request *q = xcalloc(1, sizeof *q);
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *uri = evhttp_request_get_uri(req);
	const char *qm = strchr(uri, '?');
	struct evkeyval *kv;
	size_t n = 0;

	q->mono_ms = clock_ms(CLOCK_MONOTONIC);
	q->real_ms = clock_ms(CLOCK_REALTIME);
	q->method = xstrdup(method_name(evhttp_request_get_command(req)));
	q->uri = xstrdup(uri);
	q->path = qm != NULL ? xstrndup(uri, (size_t)(qm - uri)) : xstrdup(uri);
	q->query = xstrdup(qm != NULL ? qm + 1 : "");
	TAILQ_FOREACH(kv, hdrs, next)
	n++;
	q->headers = xcalloc(n > 0 ? n : 1, sizeof *q->headers);
	TAILQ_FOREACH(kv, hdrs, next)
	{
		q->headers[q->nheaders].name = xstrdup(kv->key);
		q->headers[q->nheaders].value = xstrdup(kv->value);
		q->nheaders++;
	}
	q->body_len = evbuffer_get_length(in);
	q->body = xmalloc(q->body_len + 1);
	evbuffer_copyout(in, q->body, q->body_len);
	q->body[q->body_len] = '\0';
	return q;
}

/* evhttp: a whole request has been read. Record it, then answer as scripted. */
static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct receiver *r = arg;
	struct receiver_request *q = record_new(req);
	struct pending *p;
	struct resp resp;
	struct timeval tv;

	pthread_mutex_lock(&r->mu);
	if (r->script_head < r->nscript)
		resp = resp_dup(&r->script[r->script_head++]);
	else
		resp = resp_dup(&r->dflt);
	q->index = r->nreqs;
	q->status = resp.hang ? 0 : resp.status;
	q->delay_ms = resp.hang ? 0 : resp.delay_ms;
	q->hung = resp.hang;
	r->reqs = xreallocarray(r->reqs, r->nreqs + 1, sizeof *r->reqs);
	r->reqs[r->nreqs++] = q;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);

	if (!resp.hang && resp.delay_ms == 0) {
		answer(req, &resp);
		resp_clear(&resp);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->r = r;
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	p->resp = resp;
	evhttp_connection_set_closecb(p->evcon, conn_close_cb, r);
	p->next = r->pending;
	r->pending = p;
	if (resp.hang)
		return;
	p->timer = evtimer_new(r->base, delay_cb, p);
	tv.tv_sec = resp.delay_ms / 1000;
	tv.tv_usec = (resp.delay_ms % 1000) * 1000;
	if (p->timer == NULL || evtimer_add(p->timer, &tv) == -1) {
		/* Cannot happen short of memory exhaustion; answer at once rather than hang. */
		pending_drop(r, p);
		answer(req, &resp);
		resp_clear(&resp);
	}
}

/* Bind 127.0.0.1:port (0: any); 0, or -1. */
static int
listener_open(struct receiver *r, int port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;

	r->listener = evhttp_bind_socket_with_handle(r->http, "127.0.0.1", (ev_uint16_t)port);
	if (r->listener == NULL)
		return -1;
	if (getsockname(evhttp_bound_socket_get_fd(r->listener), (struct sockaddr *)&sa, &len) ==
	    -1) {
		evhttp_del_accept_socket(r->http, r->listener);
		r->listener = NULL;
		return -1;
	}
	r->port = ntohs(sa.sin_port);
	return 0;
}

/* The command pipe is readable: run each command and report it done. */
static void
cmd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct receiver *r = arg;
	char cmds[16];
	ssize_t n;
	int rc;

	(void)what;
	while ((n = read(fd, cmds, sizeof cmds)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			rc = 0;
			switch (cmds[i]) {
			case CMD_QUIT:
				event_base_loopbreak(r->base);
				break;
			case CMD_CLOSE:
				if (r->listener == NULL)
					rc = -1;
				else
					evhttp_del_accept_socket(r->http, r->listener);
				r->listener = NULL;
				break;
			case CMD_REOPEN:
				rc = r->listener != NULL ? -1 : listener_open(r, r->port);
				break;
			}
			pthread_mutex_lock(&r->mu);
			r->cmd_result = rc;
			r->cmd_done++;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->mu);
		}
	}
}

static void *
loop_main(void *arg)
{
	struct receiver *r = arg;

	event_base_dispatch(r->base);
	return NULL;
}

/* ---- the test thread ------------------------------------------------ */

/* An absolute CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec
deadline_after(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Have the loop run cmd and wait until it has; returns its result. */
static int
command(struct receiver *r, enum receiver_cmd cmd)
{
	char c = (char)cmd;
	unsigned long seq;
	int rc;

	pthread_mutex_lock(&r->mu);
	seq = ++r->cmd_sent;
	while (write(r->cmd_pipe[1], &c, 1) == -1) {
		if (errno != EINTR)
			cr_assert_fail("receiver: command pipe: %s", strerror(errno));
	}
	while (r->cmd_done < seq)
		pthread_cond_wait(&r->cond, &r->mu);
	rc = r->cmd_result;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

struct receiver *
receiver_start(void)
{
	struct receiver *r = xcalloc(1, sizeof *r);
	struct event_config *ecfg;
	pthread_condattr_t ca;

	/* A client that gave up must not kill the test when we answer it. */
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	r->dflt = resp_copy(&(struct receiver_response){.status = 200});

	/*
	 * A precise clock: libevent's default (CLOCK_MONOTONIC_COARSE) can end
	 * a delay a few milliseconds before the test's own clock says it is due.
	 */
	if ((ecfg = event_config_new()) == NULL)
		cr_assert_fail("receiver: event_config_new failed");
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	r->base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (r->base == NULL)
		cr_assert_fail("receiver: event_base_new failed");
	r->http = evhttp_new(r->base);
	if (r->http == NULL)
		cr_assert_fail("receiver: evhttp_new failed");
	evhttp_set_allowed_methods(r->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(r->http, request_cb, r);
	if (listener_open(r, 0) == -1)
		cr_assert_fail("receiver: cannot listen on 127.0.0.1: %s", strerror(errno));
	if (pipe(r->cmd_pipe) == -1)
		cr_assert_fail("receiver: pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		fcntl(r->cmd_pipe[i], F_SETFD, FD_CLOEXEC);
		evutil_make_socket_nonblocking(r->cmd_pipe[i]);
	}
	r->cmd_ev = event_new(r->base, r->cmd_pipe[0], EV_READ | EV_PERSIST, cmd_cb, r);
	if (r->cmd_ev == NULL || event_add(r->cmd_ev, NULL) == -1)
		cr_assert_fail("receiver: cannot watch the command pipe");
	errno = pthread_create(&r->thread, NULL, loop_main, r);
	if (errno != 0)
		cr_assert_fail("receiver: pthread_create: %s", strerror(errno));
	return r;
}

void
receiver_stop(struct receiver *r)
{
	struct pending *p;

	if (r == NULL)
		return;
	command(r, CMD_QUIT);
	pthread_join(r->thread, NULL);

	/* The loop is over: this thread owns the libevent objects now. */
	while ((p = r->pending) != NULL) {
		if (evhttp_request_get_connection(p->req) == NULL)
			evhttp_request_free(p->req);
		pending_drop(r, p);
	}
	evhttp_free(r->http); /* closes every connection, hung ones too */
	event_free(r->cmd_ev);
	event_base_free(r->base);
	close(r->cmd_pipe[0]);
	close(r->cmd_pipe[1]);

	for (size_t i = 0; i < r->nreqs; i++)
		receiver_request_free(r->reqs[i]);
	free(r->reqs);
	for (size_t i = 0; i < r->nscript; i++)
		resp_clear(&r->script[i]);
	free(r->script);
	resp_clear(&r->dflt);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int
receiver_port(const struct receiver *r)
{
	return r->port;
}

char *
receiver_url(const struct receiver *r, const char *path)
{
	if (path == NULL)
		path = "/";
	return xasprintf("http://127.0.0.1:%d%s%s", r->port, path[0] == '/' ? "" : "/", path);
}

void
receiver_set_default(struct receiver *r, int status, const char *body)
{
	receiver_set_default_response(
	    r, &(struct receiver_response){.status = status, .body = body});
}

void
receiver_set_default_response(struct receiver *r, const struct receiver_response *resp)
{
	struct resp copy = resp_copy(resp), old;

	pthread_mutex_lock(&r->mu);
	old = r->dflt;
	r->dflt = copy;
	pthread_mutex_unlock(&r->mu);
	resp_clear(&old);
}

void
receiver_push(struct receiver *r, const struct receiver_response *resp)
{
	struct resp copy = resp_copy(resp);

	pthread_mutex_lock(&r->mu);
	r->script = xreallocarray(r->script, r->nscript + 1, sizeof *r->script);
	r->script[r->nscript++] = copy;
	pthread_mutex_unlock(&r->mu);
}

void
receiver_push_status(struct receiver *r, int status, const char *body)
{
	receiver_push(r, &(struct receiver_response){.status = status, .body = body});
}

size_t
receiver_script_left(struct receiver *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->nscript - r->script_head;
	pthread_mutex_unlock(&r->mu);
	return n;
}

size_t
receiver_count(struct receiver *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->nreqs;
	pthread_mutex_unlock(&r->mu);
	return n;
}

size_t
receiver_wait(struct receiver *r, size_t n, int timeout_ms)
{
	struct timespec deadline = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
	size_t got;

	pthread_mutex_lock(&r->mu);
	while (r->nreqs < n) {
		if (pthread_cond_timedwait(&r->cond, &r->mu, &deadline) == ETIMEDOUT)
			break;
	}
	got = r->nreqs;
	pthread_mutex_unlock(&r->mu);
	return got;
}

/* A deep copy of q. */
static struct receiver_request *
request_copy(const struct receiver_request *q)
{
	struct receiver_request *c = xmalloc(sizeof *c);

	*c = *q;
	c->method = xstrdup(q->method);
	c->uri = xstrdup(q->uri);
	c->path = xstrdup(q->path);
	c->query = xstrdup(q->query);
	c->headers = xcalloc(q->nheaders > 0 ? q->nheaders : 1, sizeof *c->headers);
	for (size_t i = 0; i < q->nheaders; i++) {
		c->headers[i].name = xstrdup(q->headers[i].name);
		c->headers[i].value = xstrdup(q->headers[i].value);
	}
	c->body = xmalloc(q->body_len + 1);
	memcpy(c->body, q->body, q->body_len + 1);
	return c;
}

struct receiver_request *
receiver_request(struct receiver *r, size_t i)
{
	struct receiver_request *c = NULL;

	pthread_mutex_lock(&r->mu);
	if (i < r->nreqs)
		c = request_copy(r->reqs[i]);
	pthread_mutex_unlock(&r->mu);
	return c;
}

void
receiver_request_free(struct receiver_request *q)
{
	if (q == NULL)
		return;
	free(q->method);
	free(q->uri);
	free(q->path);
	free(q->query);
	for (size_t i = 0; i < q->nheaders; i++) {
		free(q->headers[i].name);
		free(q->headers[i].value);
	}
	free(q->headers);
	free(q->body);
	free(q);
}

const char *
receiver_request_header(const struct receiver_request *q, const char *name)
{
	for (size_t i = 0; i < q->nheaders; i++) {
		if (strcasecmp(q->headers[i].name, name) == 0)
			return q->headers[i].value;
	}
	return NULL;
}

char *
receiver_request_param(const struct receiver_request *q, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = q->query, *end;
	char *raw, *value;

	while (*p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			raw = xstrndup(p + nlen + 1, (size_t)(end - p) - nlen - 1);
			value = evhttp_uridecode(raw, 1, NULL);
			free(raw);
			if (value == NULL)
				return NULL;
			/* libevent's allocator is malloc here; copy so callers free() safely. */
			raw = xstrdup(value);
			free(value);
			return raw;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return NULL;
}

struct cJSON *
receiver_request_json(const struct receiver_request *q)
{
	return cJSON_ParseWithLength(q->body, q->body_len);
}

int
receiver_close_listener(struct receiver *r)
{
	return command(r, CMD_CLOSE);
}

int
receiver_reopen_listener(struct receiver *r)
{
	return command(r, CMD_REOPEN);
}

char *
receiver_dead_url(const char *path)
{
	int port = tl_free_port();

	if (path == NULL)
		path = "/";
	return xasprintf("http://127.0.0.1:%d%s%s", port, path[0] == '/' ? "" : "/", path);
}

static const struct notify_label sample_labels[] = {{"team", "安全办"}};

struct notify_event
receiver_sample_event(int64_t fired_at)
{
	return (struct notify_event){
	    .alert_id = 12,
	    .fingerprint = "9f2c0e5d7a8b6c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
	    .rule_id = "class_size.school",
	    .title = "大班额",
	    .kind = NOTIFY_FIRED,
	    .severity = SEV_CRITICAL,
	    .unit_code = "2132070301",
	    .unit_name = "连云区实验小学",
	    .unit_kind = "school",
	    .district_code = "320703",
	    .district_name = "连云区",
	    .metric_code = "class_size_max",
	    .metric_name = "最大班额",
	    .period = "2025-2026-2",
	    .value = "67",
	    .bound = "66",
	    .op = OP_GE,
	    .message = "连云区实验小学的最大班额为67，达到66（2025-2026-2）",
	    .fired_at = fired_at,
	    .labels = sample_labels,
	    .nlabels = ARRAY_LEN(sample_labels),
	    .link = "https://edumon.example.cn/alerts/12",
	};
}

/* ---- checks --------------------------------------------------------- */

/* q is a POST of JSON; returns the parsed body, or NULL with *cause set. */
static cJSON *
posted_json(const struct receiver_request *q, char **cause)
{
	const char *ct = receiver_request_header(q, "Content-Type");
	cJSON *root;

	if (strcmp(q->method, "POST") != 0) {
		*cause = xasprintf("%s %s: not a POST", q->method, q->uri);
		return NULL;
	}
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
		*cause = xasprintf(
		    "Content-Type is %s, not application/json", ct != NULL ? ct : "absent");
		return NULL;
	}
	root = receiver_request_json(q);
	if (root == NULL)
		*cause = xasprintf("body is not JSON: %.200s", q->body);
	return root;
}

/*
 * q is a robot's markdown message; returns the parsed body and sets *md to
 * its "markdown" object, or returns NULL with *cause set.
 */
static cJSON *
markdown_message(const struct receiver_request *q, cJSON **md, char **cause)
{
	cJSON *root = posted_json(q, cause);
	const cJSON *type;

	if (root == NULL)
		return NULL;
	type = cJSON_GetObjectItemCaseSensitive(root, "msgtype");
	*md = cJSON_GetObjectItemCaseSensitive(root, "markdown");
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "markdown") != 0 ||
	    !cJSON_IsObject(*md)) {
		*cause = xasprintf("not a markdown message: %.200s", q->body);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int
receiver_check_webhook(const struct receiver_request *q, const char *secret, int64_t now,
    int64_t tolerance, char **cause)
{
	const char *delivery = receiver_request_header(q, "X-Edumon-Delivery");
	const char *ts = receiver_request_header(q, "X-Edumon-Timestamp");
	const char *sig = receiver_request_header(q, "X-Edumon-Signature");
	cJSON *root = posted_json(q, cause);
	const cJSON *version;
	enum notify_verdict v;
	int rc = -1;

	if (root == NULL)
		return -1;
	version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsString(version) || strcmp(version->valuestring, "4") != 0) {
		*cause =
		    xasprintf("not an Alertmanager webhook (version \"4\") body: %.200s", q->body);
		goto out;
	}
	if (delivery == NULL || *delivery == '\0') {
		*cause = xstrdup("no X-Edumon-Delivery header");
		goto out;
	}
	v = notify_webhook_verify(secret, ts, sig, q->body, q->body_len, now, tolerance);
	if (v != NOTIFY_VERIFY_OK) {
		*cause = xasprintf("signature check: %s (X-Edumon-Timestamp %s, now %lld, "
		                   "X-Edumon-Signature %s)",
		    notify_verdict_name(v), ts != NULL ? ts : "absent", (long long)now,
		    sig != NULL ? sig : "absent");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/* The timestamp and sign parameters of q against secret; 0, or -1 with *cause. */
static int
dingtalk_signed(const struct receiver_request *q, const char *secret, int64_t now_ms,
    int64_t tolerance_ms, char **cause)
{
	char *ts = receiver_request_param(q, "timestamp");
	char *sign = receiver_request_param(q, "sign");
	char want[NOTIFY_DINGTALK_SIGN_MAX + 1];
	char *want_dec = NULL;
	long long t;
	int rc = -1;

	if (secret == NULL) {
		if (ts != NULL || sign != NULL)
			*cause = xasprintf(
			    "unsigned robot, yet the URL has timestamp or sign: %s", q->uri);
		else
			rc = 0;
		goto out;
	}
	if (ts == NULL || sign == NULL) {
		*cause = xasprintf("URL lacks timestamp or sign: %s", q->uri);
		goto out;
	}
	if (parse_ll(ts, 0, INT64_MAX, &t) == -1) {
		*cause = xasprintf("timestamp %s is not decimal milliseconds", ts);
		goto out;
	}
	if (t < now_ms - tolerance_ms || t > now_ms + tolerance_ms) {
		*cause = xasprintf("timestamp %s is more than %lld ms away from now (%lld)", ts,
		    (long long)tolerance_ms, (long long)now_ms);
		goto out;
	}
	notify_dingtalk_sign(secret, t, want);
	want_dec = evhttp_uridecode(want, 1, NULL);
	if (want_dec == NULL || strcmp(want_dec, sign) != 0) {
		*cause = xasprintf("sign %s (decoded) is not %s for timestamp %s", sign, want, ts);
		goto out;
	}
	rc = 0;
out:
	free(want_dec);
	free(ts);
	free(sign);
	return rc;
}

int
receiver_check_dingtalk(const struct receiver_request *q, const char *secret, int64_t now_ms,
    int64_t tolerance_ms, char **cause)
{
	cJSON *md, *root;
	const cJSON *title, *text;
	int rc = -1;

	root = markdown_message(q, &md, cause);
	if (root == NULL)
		return -1;
	title = cJSON_GetObjectItemCaseSensitive(md, "title");
	text = cJSON_GetObjectItemCaseSensitive(md, "text");
	if (!cJSON_IsString(title) || !cJSON_IsString(text) || *title->valuestring == '\0' ||
	    *text->valuestring == '\0') {
		*cause = xasprintf("markdown needs a title and a text: %.200s", q->body);
		goto out;
	}
	rc = dingtalk_signed(q, secret, now_ms, tolerance_ms, cause);
out:
	cJSON_Delete(root);
	return rc;
}

int
receiver_check_wecom(const struct receiver_request *q, char **cause)
{
	cJSON *md, *root;
	const cJSON *content;
	int rc = -1;

	root = markdown_message(q, &md, cause);
	if (root == NULL)
		return -1;
	content = cJSON_GetObjectItemCaseSensitive(md, "content");
	if (!cJSON_IsString(content) || *content->valuestring == '\0')
		*cause = xasprintf("markdown needs a content: %.200s", q->body);
	else if (strlen(content->valuestring) > NOTIFY_WECOM_MAX_BYTES)
		*cause = xasprintf("content is %zu bytes, more than WeCom's %d",
		    strlen(content->valuestring), NOTIFY_WECOM_MAX_BYTES);
	else
		rc = 0;
	cJSON_Delete(root);
	return rc;
}
