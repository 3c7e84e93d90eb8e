/*
 * receiver.h: a programmable HTTP server on loopback for tests, standing in
 * for a webhook endpoint, a WeCom or DingTalk robot, or anything else
 * edumon POSTs to.
 *
 * Each receiver binds 127.0.0.1 on an ephemeral port and runs its own
 * libevent loop (evhttp) in a thread of the test process, so a test can
 * block, start the daemon or wait for deliveries while it answers. It
 * records every request it reads and answers it from a script of responses
 * (consumed in order, one per request) and then a default: a status, a
 * body, a Retry-After header, a delay (answered from a timer: the loop
 * never sleeps, so one slow answer delays nothing else), or no answer at
 * all ("hang": the connection stays open until receiver_stop).
 *
 * Threads: every function may be called from any thread while the loop
 * runs; records are copied out under a mutex. The loop thread never calls
 * back into test code.
 *
 * Criterion runs each test in its own process: start and stop receivers
 * inside a test (or its .init/.fini), not in a constructor. SIGPIPE is set
 * to be ignored by receiver_start (answering a client that gave up must not
 * kill the test process).
 */
#ifndef EDUMON_TEST_RECEIVER_H
#define EDUMON_TEST_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify.h"

struct cJSON;
struct receiver;

/* Bodies the robots answer with: HTTP 200 and an errcode. */
#define RECEIVER_ROBOT_OK "{\"errcode\":0,\"errmsg\":\"ok\"}"
#define RECEIVER_WECOM_THROTTLED "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}"
#define RECEIVER_DINGTALK_THROTTLED                                                                \
	"{\"errcode\":130101,\"errmsg\":\"send too fast, exceed 20 times per minute\"}"
#define RECEIVER_DINGTALK_BAD_SIGN "{\"errcode\":310000,\"errmsg\":\"sign not match\"}"

/*
 * One programmed answer. Strings are copied by the functions that take a
 * response; zero-initialise and set what matters.
 */
struct receiver_response {
	int status;               /* 0: 200 */
	const char *body;         /* NULL: empty */
	const char *content_type; /* NULL: application/json when body starts with '{' or '[', else
	                             text/plain */
	const char *retry_after;  /* Retry-After value ("2", an HTTP-date), or NULL for none */
	int delay_ms;             /* answer this long after the request was read */
	bool hang;                /* never answer; the other fields are ignored */
};

struct receiver_header {
	char *name;
	char *value;
};

/*
 * A request as read, copied out for the caller (receiver_request_free).
 * Strings are NUL-terminated; body may also hold NULs (body_len counts).
 */
struct receiver_request {
	size_t index; /* arrival order, from 0 */
	char *method; /* "POST", "GET", ... */
	char *uri;    /* path and query as sent: "/robot/send?access_token=x&sign=..." */
	char *path;   /* uri up to '?', not decoded */
	char *query;  /* after '?', not decoded; "" without one */
	struct receiver_header *headers; /* in the order sent */
	size_t nheaders;
	char *body;
	size_t body_len;
	int64_t mono_ms; /* CLOCK_MONOTONIC when the whole request had been read */
	int64_t real_ms; /* CLOCK_REALTIME (Unix ms) at the same moment */
	/* What the receiver did with it: the response it was given. */
	int status; /* 0 when hung */
	int delay_ms;
	bool hung;
};

/*
 * Start a receiver on 127.0.0.1, an ephemeral port, answering 200 with an
 * empty body until told otherwise. Fails the test (cr_assert_fail) if
 * the socket, the loop or the thread cannot be had. Never NULL.
 */
struct receiver *receiver_start(void);

/*
 * Stop the loop, join its thread, drop every open connection (hung ones
 * included) and free r with all it recorded. NULL is a no-op.
 */
void receiver_stop(struct receiver *r);

/* The port it listens (or listened) on. */
int receiver_port(const struct receiver *r);

/*
 * "http://127.0.0.1:PORT" + path (a leading '/' is added when path lacks
 * one; NULL means "/"). Caller frees.
 */
char *receiver_url(const struct receiver *r, const char *path);

/*
 * The answer given once the script is used up (initially 200, empty body).
 * body is copied. receiver_set_default_response sets every field.
 */
void receiver_set_default(struct receiver *r, int status, const char *body);
void receiver_set_default_response(struct receiver *r, const struct receiver_response *resp);

/*
 * Append resp to the script: the next request not yet given a scripted
 * answer gets the first one pushed, and so on. Copied.
 */
void receiver_push(struct receiver *r, const struct receiver_response *resp);
/* receiver_push of {status, body}. */
void receiver_push_status(struct receiver *r, int status, const char *body);
/* Scripted answers not used yet. */
size_t receiver_script_left(struct receiver *r);

/* Number of requests read so far. */
size_t receiver_count(struct receiver *r);

/*
 * Block until at least n requests have been read or timeout_ms passed.
 * Returns the number read (compare with n to tell which).
 */
size_t receiver_wait(struct receiver *r, size_t n, int timeout_ms);

/*
 * A copy of request i (0 = the first to arrive), or NULL when fewer than
 * i + 1 have arrived. Release with receiver_request_free.
 */
struct receiver_request *receiver_request(struct receiver *r, size_t i);

/* Free a copy from receiver_request. NULL is a no-op. */
void receiver_request_free(struct receiver_request *q);

/* Value of the first header called name (case-insensitive), or NULL. Owned by q. */
const char *receiver_request_header(const struct receiver_request *q, const char *name);

/*
 * Query parameter name of q, percent-decoded ('+' stays '+', as DingTalk
 * reads it). Caller frees; NULL when absent or undecodable.
 */
char *receiver_request_param(const struct receiver_request *q, const char *name);

/* The body parsed by cJSON, or NULL if it is not JSON. Caller cJSON_Delete()s. */
struct cJSON *receiver_request_json(const struct receiver_request *q);

/*
 * Close the listening socket: new connections are refused, connections
 * already open keep being served. Returns 0, or -1 if it was not open.
 * receiver_reopen_listener binds the same port again (a receiver coming
 * back up); returns 0, or -1 if it is open or the port is taken.
 */
int receiver_close_listener(struct receiver *r);
int receiver_reopen_listener(struct receiver *r);

/*
 * A URL on a loopback port that was bound and closed a moment ago: a
 * receiver that is down (connection refused) for the whole test. Another
 * process could take the port in between; on a test machine it does not
 * in practice. Caller frees.
 */
char *receiver_dead_url(const char *path);

/*
 * A typical event for tests that send what edumon sends: 大班额 at
 * 连云区实验小学 (district 320703), critical, fired at fired_at (Unix
 * seconds), with a rule label team=安全办 and a link. Strings are static.
 */
struct notify_event receiver_sample_event(int64_t fired_at);

/* ---- What edumon sent: checks returning 0, or -1 with a caller-freed *cause ---- */

/*
 * A generic webhook delivery (docs/notifications.md): POST, Content-Type
 * application/json, a non-empty X-Edumon-Delivery, a body that is a JSON
 * object with "version":"4", and X-Edumon-Timestamp / X-Edumon-Signature
 * that notify_webhook_verify accepts for secret within tolerance seconds
 * of now (Unix seconds).
 */
int receiver_check_webhook(const struct receiver_request *q, const char *secret, int64_t now,
    int64_t tolerance, char **cause);

/*
 * A DingTalk robot message: POST, JSON {"msgtype":"markdown","markdown":
 * {"title":..,"text":..}}. With a secret, the query's timestamp must be
 * decimal milliseconds within tolerance_ms of now_ms and its sign must be
 * notify_dingtalk_sign(secret, timestamp) (both compared decoded); without
 * (NULL), neither parameter may be present.
 */
int receiver_check_dingtalk(const struct receiver_request *q, const char *secret, int64_t now_ms,
    int64_t tolerance_ms, char **cause);

/*
 * A WeCom robot message: POST, JSON {"msgtype":"markdown","markdown":
 * {"content":..}} with content at most NOTIFY_WECOM_MAX_BYTES bytes.
 */
int receiver_check_wecom(const struct receiver_request *q, char **cause);

#endif
