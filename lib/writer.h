/*
 * writer.h: the group-commit writer. Validated submissions queue here; each
 * database connection takes everything queued (up to a batch limit) and
 * commits it as one transaction of two statements over unnest() arrays:
 * insert the submissions (ON CONFLICT on the idempotency key does nothing),
 * then write the observations of the submissions inserted: new keys are
 * inserted, existing ones updated, and each replaced version is copied into
 * observation_revision. Only after the COMMIT is each request answered.
 *
 * Invariants:
 * - a request is answered exactly once, through its done callback, from the
 *   event loop (never from inside writer_submit);
 * - 201 only after the transaction holding it committed;
 * - two batches in flight never share an observation key or an idempotency
 *   key, and requests touching the same key are committed in arrival order
 *   (the queue is blocked at its head rather than reordered);
 * - no request is held while no connection is up: they get 503 at once.
 */
#ifndef EDUMON_WRITER_H
#define EDUMON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "payload.h"
#include "token.h"

struct event_base;
struct writer;
struct stats;

struct writer_config {
	const char *conninfo;
	int connections;        /* writer connections, >= 1 */
	size_t max_batch_obs;   /* observations per transaction */
	size_t max_queue;       /* queued requests before 503 */
	int statement_timeout_ms;
};

struct write_req;

/*
 * The answer to one request: HTTP status (201, 409, 500, 503) and a JSON
 * body; replayed is true when an earlier identical submission's receipt is
 * returned. body is owned by the writer and valid during the callback.
 */
struct write_result {
	int status;
	const char *body;
	bool replayed;
	int retry_after; /* seconds, for 503 */
};

typedef void (*write_done_cb)(struct write_req *req, const struct write_result *res,
    void *arg);

/* A request handed to the writer. The caller fills these fields; the writer
 * takes ownership of payload, idempotency_key and body. */
struct write_req {
	struct payload *payload;
	int token_id;
	int unit_id;             /* unit of the submitting token (or first unit) */
	char *idempotency_key;   /* NULL: a fresh key is generated */
	char *body;
	size_t body_len;
	const char *content_type; /* static string */
	write_done_cb done;
	void *arg;
	/* Writer-private from here on. */
	unsigned char body_sha256[SHA256_LEN];
	char submission_id[37];
	int attempts;
	bool solo;
	struct write_req *next;
	int *revisions;     /* per observation, after commit */
	uint64_t *hashes;   /* observation keys, then the idempotency key */
	size_t nhashes;
	int64_t queued_at;
	char *alerts_json;  /* set by the observer: the receipt's "alerts" */
};

/*
 * Requests whose submissions a transaction has just inserted, handed to the
 * observer (if any) before they are answered. The observer may read the
 * requests (payload, revisions, submission_id, unit_id) and set each one's
 * alerts_json, and must call writer_commit_done exactly once, which answers
 * them all with their receipts and frees c. Without an observer they are
 * answered at once.
 */
struct write_commit {
	struct writer *w;
	struct write_req **reqs;
	size_t nreqs;
};

typedef void (*writer_observer_fn)(struct write_commit *c, void *arg);

void writer_set_observer(struct writer *w, writer_observer_fn fn, void *arg);
void writer_commit_done(struct write_commit *c);

struct writer *writer_new(struct event_base *base, const struct writer_config *cfg,
    struct stats *stats);
/* Fail everything queued or in flight with 503 and free the writer. */
void writer_free(struct writer *w);

/*
 * Queue req. Returns 0: done will run later. Returns -1 when no connection
 * is up or the queue is full; req is untouched and still the caller's, and
 * *retry_after says when to try again.
 */
int writer_submit(struct writer *w, struct write_req *req, int *retry_after);

/* Free a request and what it owns (payload, key, body). */
void write_req_free(struct write_req *req);

bool writer_ready(const struct writer *w);
size_t writer_queue_depth(const struct writer *w);
/* Requests queued or in flight. */
size_t writer_pending(const struct writer *w);

#endif
