/*
 * writer.c: see writer.h.
 *
 * One transaction per batch, sent as a pipeline job of two statements and
 * a Sync (an implicit transaction: it commits at the Sync, or rolls back as a
 * whole). Parameters are PostgreSQL array literals unnested server-side, so
 * a batch of any size is two statement executions.
 *
 * New observations are inserted in key order. Within one process no two
 * batches in flight share a key at all; between edumond processes a
 * deadlock on corrections is possible and is retried (40P01).
 */
#include "writer.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgc.h"
#include "receipt.h"
#include "stats.h"
#include "util.h"

#define MAX_ATTEMPTS 3

static const char sql_insert_submissions[] =
    "INSERT INTO edumon.submission (unit_id, id, token_id, idempotency_key, body_sha256,"
    " content_type, body, observations)"
    " SELECT * FROM unnest($1::int[], $2::uuid[], $3::int[], $4::text[], $5::bytea[],"
    " $6::text[], $7::text[], $8::int[])"
    " ON CONFLICT (unit_id, idempotency_key) DO NOTHING"
    " RETURNING id::text";

/* The submissions of this batch that were inserted (not idempotent repeats),
 * by their 1-based position in the batch. */
#define SQL_INSERTED_CTE                                                                  \
	"WITH ins AS (SELECT x.ord FROM unnest($1::int[], $2::uuid[]) WITH ORDINALITY"    \
	" AS x(unit_id, id, ord) JOIN edumon.submission s"                                \
	" ON s.unit_id = x.unit_id AND s.id = x.id)"

/*
 * One statement writes the observations: insert the new keys (ON CONFLICT
 * DO NOTHING), update the existing ones, and copy each replaced version into
 * observation_revision. The UPDATE joins the table to itself as "old": both
 * read the statement's snapshot, so "old" is the version being replaced
 * (PostgreSQL 15 has no RETURNING OLD). Rows the INSERT adds are invisible
 * to the UPDATE in the same statement, so no key is written twice; the keys
 * the INSERT took are left out of the UPDATE's join, so a new key costs one
 * index probe (the INSERT's) and no lookup of a previous version.
 */
static const char sql_write_observations[] =
    SQL_INSERTED_CTE
    ", k AS (SELECT k.*, x.unit_id AS sunit, x.id AS sid"
    " FROM unnest($3::int[], $4::int[], $5::smallint[], $6::date[], $7::date[], $8::text[],"
    " $9::float8[], $10::int8[], $11::int8[])"
    " AS k(ord, unit_id, metric_id, period_start, period_end, period, value, numerator,"
    " denominator)"
    " JOIN ins USING (ord)"
    " JOIN unnest($1::int[], $2::uuid[]) WITH ORDINALITY AS x(unit_id, id, ord)"
    " ON x.ord = k.ord),"
    " added AS (INSERT INTO edumon.observation (unit_id, metric_id, period_start, period_end,"
    " period, value, numerator, denominator, revision, submission_unit_id, submission_id)"
    " SELECT unit_id, metric_id, period_start, period_end, period, value, numerator,"
    " denominator, 1, sunit, sid FROM k ORDER BY unit_id, metric_id, period_start"
    " ON CONFLICT (unit_id, metric_id, period_start) DO NOTHING"
    " RETURNING unit_id, metric_id, period_start, revision),"
    " changed AS (UPDATE edumon.observation o SET period_end = k.period_end,"
    " period = k.period, value = k.value, numerator = k.numerator,"
    " denominator = k.denominator, revision = old.revision + 1, submission_unit_id = k.sunit,"
    " submission_id = k.sid, recorded_at = now()"
    " FROM (SELECT * FROM k WHERE NOT EXISTS (SELECT FROM added a"
    " WHERE a.unit_id = k.unit_id AND a.metric_id = k.metric_id"
    " AND a.period_start = k.period_start)) k"
    " JOIN edumon.observation old ON old.unit_id = k.unit_id"
    " AND old.metric_id = k.metric_id AND old.period_start = k.period_start"
    " WHERE o.unit_id = k.unit_id AND o.metric_id = k.metric_id"
    " AND o.period_start = k.period_start"
    " RETURNING o.unit_id, o.metric_id, o.period_start, o.revision,"
    " old.revision AS old_revision, old.period AS old_period, old.value AS old_value,"
    " old.numerator AS old_numerator, old.denominator AS old_denominator,"
    " old.submission_unit_id AS old_sunit, old.submission_id AS old_sid,"
    " old.recorded_at AS old_recorded_at),"
    " kept AS (INSERT INTO edumon.observation_revision (unit_id, metric_id, period_start,"
    " revision, period, value, numerator, denominator, submission_unit_id, submission_id,"
    " recorded_at)"
    " SELECT unit_id, metric_id, period_start, old_revision, old_period, old_value,"
    " old_numerator, old_denominator, old_sunit, old_sid, old_recorded_at FROM changed)"
    " SELECT unit_id, metric_id, period_start - DATE '1970-01-01', revision FROM added"
    " UNION ALL"
    " SELECT unit_id, metric_id, period_start - DATE '1970-01-01', revision FROM changed";

/* For an idempotent repeat: the original submission, whether its body was the
 * same, and the revision each observation got at the time. */
static const char sql_replay[] =
    "WITH s AS (SELECT id, body_sha256 FROM edumon.submission"
    " WHERE unit_id = $1 AND idempotency_key = $2)"
    " SELECT s.id::text, s.body_sha256 = $3::bytea,"
    " coalesce(o.revision, r.revision, 0)"
    " FROM s CROSS JOIN unnest($4::int[], $5::smallint[], $6::date[]) WITH ORDINALITY"
    " AS k(unit_id, metric_id, period_start, ord)"
    " LEFT JOIN edumon.observation o ON o.unit_id = k.unit_id AND o.metric_id = k.metric_id"
    " AND o.period_start = k.period_start AND o.submission_id = s.id"
    " LEFT JOIN edumon.observation_revision r ON r.unit_id = k.unit_id"
    " AND r.metric_id = k.metric_id AND r.period_start = k.period_start"
    " AND r.submission_id = s.id"
    " ORDER BY k.ord";

/* For an idempotent repeat: the alert changes the original caused, in the
 * order they were recorded (the receipt's "alerts"). */
static const char sql_replay_alerts[] =
    "SELECT a.id, a.rule_id, u.code, a.period, e.kind, e.severity"
    " FROM edumon.submission s"
    " JOIN edumon.alert_event e ON e.submission_unit_id = s.unit_id AND e.submission_id = s.id"
    " JOIN edumon.alert a ON a.unit_id = e.alert_unit_id AND a.id = e.alert_id"
    " JOIN edumon.org_unit u ON u.id = a.unit_id"
    " WHERE s.unit_id = $1 AND s.idempotency_key = $2"
    " ORDER BY e.id";

static const struct pgc_prepared prepared[] = {
    {"ins_sub", sql_insert_submissions},
    {"write_obs", sql_write_observations},
    {"replay", sql_replay},
    {"replay_alerts", sql_replay_alerts},
};

/* One observation of a batch, in key order. */
struct bobs {
	int unit_id;
	int metric_id;
	int32_t start;
	size_t req;  /* index in batch->reqs */
	size_t obs;  /* index in the request's payload */
};

struct wconn;

struct batch {
	struct writer *w;
	struct wconn *conn;
	struct write_req **reqs;
	size_t nreqs;
	struct bobs *obs;
	size_t nobs;
	uint64_t *hashes; /* sorted keys of the batch, for conflict checks */
	size_t nhashes;
	int64_t started;
};

struct wconn {
	struct writer *w;
	struct pgc *pgc;
	struct pgc_config cfg;
	char name[32];
	struct batch *inflight;
};

/* A replay lookup in flight. */
struct replay {
	struct writer *w;
	struct write_req *req;
};

struct writer {
	struct event_base *base;
	struct writer_config cfg;
	struct stats *stats;
	struct wconn *conns;
	int nconns;
	char *timeout_sql;
	const char *setup[2];
	struct write_req *qhead, *qtail;
	size_t qlen;
	size_t inflight_reqs;
	size_t replays;
	size_t observed;   /* committed requests an observer holds */
	writer_observer_fn observer;
	void *observer_arg;
	uint64_t *scratch; /* open-addressing set used while building a batch */
	size_t scratch_cap;
	bool closing;
};

static void dispatch(struct writer *w);

static uint64_t
obs_hash(int unit_id, int metric_id, int32_t start)
{
	uint64_t a = (uint64_t)(uint32_t)unit_id << 32 | (uint32_t)start;

	return hash_mix64(a ^ hash_mix64((uint64_t)(uint32_t)metric_id)) | 1;
}

static uint64_t
key_hash(int unit_id, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)(uint32_t)unit_id;

	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return hash_mix64(h ^ 0x5bd1e995ull) | 1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_bobs(const void *a, const void *b)
{
	const struct bobs *x = a, *y = b;

	if (x->unit_id != y->unit_id)
		return x->unit_id < y->unit_id ? -1 : 1;
	if (x->metric_id != y->metric_id)
		return x->metric_id < y->metric_id ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

void
write_req_free(struct write_req *req)
{
	if (req == NULL)
		return;
	payload_free(req->payload);
	free(req->idempotency_key);
	free(req->body);
	free(req->revisions);
	free(req->hashes);
	free(req->alerts_json);
	free(req);
}

/* Answer req and free it. */
static void
finish(struct writer *w, struct write_req *req, int status, const char *body, bool replayed,
    int retry_after)
{
	struct write_result res = {status, body, replayed, retry_after};

	(void)w;
	req->done(req, &res, req->arg);
	write_req_free(req);
}

static void
finish_error(struct writer *w, struct write_req *req, int status, const char *code,
    const char *message)
{
	char *body = error_json(code, message);

	finish(w, req, status, body, false, status == 503 ? 2 : 0);
	free(body);
}

static void
fail_unavailable(struct writer *w, struct write_req *req, bool unknown)
{
	finish_error(w, req, 503, "database_unavailable",
	    unknown ? "the database connection was lost while committing; the submission may or"
		      " may not be stored: retry with the same Idempotency-Key"
		    : "the database is unavailable; nothing was stored: retry later");
}

/* Fail every queued request with 503. */
static void
fail_queue(struct writer *w)
{
	struct write_req *r;

	while ((r = w->qhead) != NULL) {
		w->qhead = r->next;
		w->qlen--;
		fail_unavailable(w, r, false);
	}
	w->qtail = NULL;
}

static bool
any_ready(const struct writer *w)
{
	if (w->closing)
		return false;
	for (int i = 0; i < w->nconns; i++)
		if (pgc_ready(w->conns[i].pgc))
			return true;
	return false;
}

bool
writer_ready(const struct writer *w)
{
	return any_ready(w);
}

size_t
writer_queue_depth(const struct writer *w)
{
	return w->qlen;
}

size_t
writer_pending(const struct writer *w)
{
	return w->qlen + w->inflight_reqs + w->replays + w->observed;
}

static void
conn_state_cb(struct pgc *c, bool ready, void *arg)
{
	struct wconn *wc = arg;
	struct writer *w = wc->w;

	if (ready) {
		if (pgc_connects(c) > 1)
			stats_db_reconnect(w->stats);
		dispatch(w);
	} else if (!any_ready(w)) {
		fail_queue(w);
	}
}

/* Put reqs back at the head of the queue, in their order. */
static void
requeue_front(struct writer *w, struct write_req **reqs, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		reqs[i]->next = w->qhead;
		w->qhead = reqs[i];
		if (w->qtail == NULL)
			w->qtail = reqs[i];
		w->qlen++;
	}
}

static void
batch_free(struct batch *b)
{
	free(b->reqs);
	free(b->obs);
	free(b->hashes);
	free(b);
}

static void
arr_double(struct buf *b, double v)
{
	buf_printf(b, "%.17g", v);
}

/* Build the parameter arrays and send the batch on wc. */
static int
batch_send(struct wconn *wc, struct batch *bt);

static void batch_done_cb(const struct pgc_outcome *out, void *arg);

/* Does req collide with a batch in flight? */
static bool
conflicts_inflight(const struct writer *w, const struct write_req *req)
{
	for (int i = 0; i < w->nconns; i++) {
		const struct batch *b = w->conns[i].inflight;

		if (b == NULL)
			continue;
		for (size_t k = 0; k < req->nhashes; k++)
			if (bsearch(&req->hashes[k], b->hashes, b->nhashes, sizeof(uint64_t),
			        cmp_u64) != NULL)
				return true;
	}
	return false;
}

static void
scratch_reset(struct writer *w, size_t want)
{
	size_t cap = 64;

	while (cap < want * 2)
		cap *= 2;
	if (cap > w->scratch_cap) {
		free(w->scratch);
		w->scratch = xcalloc(cap, sizeof(uint64_t));
		w->scratch_cap = cap;
	} else
		memset(w->scratch, 0, w->scratch_cap * sizeof(uint64_t));
}

static bool
scratch_has(const struct writer *w, uint64_t h)
{
	size_t mask = w->scratch_cap - 1;

	for (size_t i = h & mask; w->scratch[i] != 0; i = (i + 1) & mask)
		if (w->scratch[i] == h)
			return true;
	return false;
}

static void
scratch_add(struct writer *w, uint64_t h)
{
	size_t mask = w->scratch_cap - 1;
	size_t i;

	for (i = h & mask; w->scratch[i] != 0; i = (i + 1) & mask)
		if (w->scratch[i] == h)
			return;
	w->scratch[i] = h;
}

/*
 * Take requests from the head of the queue for one transaction. Stops at the
 * first request that collides with a batch in flight (order is kept), that
 * collides with this batch, or that would exceed the size limit.
 */
static struct batch *
batch_build(struct writer *w)
{
	struct batch *b;
	struct write_req *r;
	size_t nobs = 0, nreqs = 0, nhashes = 0;

	/* Size the batch first so the scratch set is allocated once. */
	for (r = w->qhead; r != NULL; r = r->next) {
		if (nreqs > 0 && (nobs + r->payload->nobs > w->cfg.max_batch_obs || r->solo))
			break;
		nobs += r->payload->nobs;
		nhashes += r->nhashes;
		nreqs++;
		if (r->solo)
			break;
	}
	if (nreqs == 0)
		return NULL;
	scratch_reset(w, nhashes);
	b = xcalloc(1, sizeof *b);
	b->w = w;
	b->reqs = xcalloc(nreqs, sizeof *b->reqs);
	b->hashes = xcalloc(nhashes, sizeof *b->hashes);
	while (b->nreqs < nreqs && (r = w->qhead) != NULL) {
		bool clash = false;

		if (conflicts_inflight(w, r))
			break;
		for (size_t k = 0; k < r->nhashes && !clash; k++)
			clash = scratch_has(w, r->hashes[k]);
		if (clash)
			break;
		for (size_t k = 0; k < r->nhashes; k++) {
			scratch_add(w, r->hashes[k]);
			b->hashes[b->nhashes++] = r->hashes[k];
		}
		w->qhead = r->next;
		if (w->qhead == NULL)
			w->qtail = NULL;
		w->qlen--;
		r->next = NULL;
		b->reqs[b->nreqs++] = r;
		b->nobs += r->payload->nobs;
	}
	if (b->nreqs == 0) {
		batch_free(b);
		return NULL;
	}
	qsort(b->hashes, b->nhashes, sizeof(uint64_t), cmp_u64);
	b->obs = xcalloc(b->nobs, sizeof *b->obs);
	nobs = 0;
	for (size_t i = 0; i < b->nreqs; i++) {
		const struct payload *p = b->reqs[i]->payload;

		for (size_t k = 0; k < p->nobs; k++) {
			struct bobs *o = &b->obs[nobs++];

			o->unit_id = p->obs[k].unit->id;
			o->metric_id = p->obs[k].metric->id;
			o->start = p->obs[k].period.start;
			o->req = i;
			o->obs = k;
		}
	}
	qsort(b->obs, b->nobs, sizeof *b->obs, cmp_bobs);
	return b;
}

static void
dispatch(struct writer *w)
{
	if (w->closing)
		return;
	for (int i = 0; i < w->nconns && w->qhead != NULL; i++) {
		struct wconn *wc = &w->conns[i];
		struct batch *b;

		if (wc->inflight != NULL || !pgc_ready(wc->pgc))
			continue;
		b = batch_build(w);
		if (b == NULL)
			return;
		if (batch_send(wc, b) < 0) {
			/* The connection broke as we sent: try the next one. */
			requeue_front(w, b->reqs, b->nreqs);
			batch_free(b);
		}
	}
}

static int
batch_send(struct wconn *wc, struct batch *bt)
{
	struct buf sa[8], oa[9];
	const char *v1[8], *v3[11];
	struct pgc_stmt stmts[2];
	int rc;

	for (size_t k = 0; k < 8; k++)
		buf_init(&sa[k]);
	for (size_t k = 0; k < 9; k++)
		buf_init(&oa[k]);

	/* Submissions: unit, id, token, key, sha, content type, body, count. */
	for (size_t i = 0; i < bt->nreqs; i++) {
		const struct write_req *r = bt->reqs[i];
		char hex[2 * SHA256_LEN + 1];

		for (size_t k = 0; k < 8; k++)
			buf_pg_array_sep(&sa[k], i);
		buf_printf(&sa[0], "%d", r->unit_id);
		buf_puts(&sa[1], r->submission_id);
		buf_printf(&sa[2], "%d", r->token_id);
		buf_pg_array_text(&sa[3], r->idempotency_key, strlen(r->idempotency_key));
		hex_encode(r->body_sha256, SHA256_LEN, hex);
		buf_printf(&sa[4], "\"\\\\x%s\"", hex);
		buf_pg_array_text(&sa[5], r->content_type, strlen(r->content_type));
		buf_pg_array_text(&sa[6], r->body, r->body_len);
		buf_printf(&sa[7], "%zu", r->payload->nobs);
	}
	/* Observations, in key order: ord, unit, metric, start, end, period,
	 * value, numerator, denominator. */
	for (size_t i = 0; i < bt->nobs; i++) {
		const struct bobs *b = &bt->obs[i];
		const struct observation *o = &bt->reqs[b->req]->payload->obs[b->obs];
		char date[16];

		for (size_t k = 0; k < 9; k++)
			buf_pg_array_sep(&oa[k], i);
		buf_printf(&oa[0], "%zu", b->req + 1);
		buf_printf(&oa[1], "%d", b->unit_id);
		buf_printf(&oa[2], "%d", b->metric_id);
		date_format(o->period.start, date, sizeof date);
		buf_puts(&oa[3], date);
		date_format(o->period.end, date, sizeof date);
		buf_puts(&oa[4], date);
		buf_pg_array_text(&oa[5], o->period_text, strlen(o->period_text));
		arr_double(&oa[6], o->value);
		if (o->has_ratio) {
			buf_printf(&oa[7], "%lld", (long long)o->numerator);
			buf_printf(&oa[8], "%lld", (long long)o->denominator);
		} else {
			buf_puts(&oa[7], "NULL");
			buf_puts(&oa[8], "NULL");
		}
	}
	for (size_t k = 0; k < 8; k++) {
		buf_pg_array_end(&sa[k], bt->nreqs);
		v1[k] = sa[k].data;
	}
	for (size_t k = 0; k < 9; k++)
		buf_pg_array_end(&oa[k], bt->nobs);
	v3[0] = sa[0].data;
	v3[1] = sa[1].data;
	for (size_t k = 0; k < 9; k++)
		v3[2 + k] = oa[k].data;
	stmts[0] = (struct pgc_stmt){"ins_sub", NULL, 8, v1};
	stmts[1] = (struct pgc_stmt){"write_obs", NULL, 11, v3};

	bt->conn = wc;
	bt->started = now_usec();
	rc = pgc_submit(wc->pgc, stmts, 2, batch_done_cb, bt);
	if (rc == 0) {
		wc->inflight = bt;
		wc->w->inflight_reqs += bt->nreqs;
	}
	for (size_t k = 0; k < 8; k++)
		buf_free(&sa[k]);
	for (size_t k = 0; k < 9; k++)
		buf_free(&oa[k]);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_start(struct writer *w, struct write_req *req);

/* The commit of a batch came back: answer everyone in it. */
static void
batch_committed(struct writer *w, struct batch *bt, const struct pgc_outcome *out)
{
	PGresult *ins = out->results[0], *ups = out->results[1];
	int nins = PQntuples(ins), nups = PQntuples(ups);
	struct write_commit *c;
	char **ids = xcalloc((size_t)nins + 1, sizeof *ids);

	for (int i = 0; i < nins; i++)
		ids[i] = PQgetvalue(ins, i, 0);
	qsort(ids, (size_t)nins, sizeof *ids, cmp_str);
	for (size_t i = 0; i < bt->nreqs; i++) {
		struct write_req *r = bt->reqs[i];

		r->revisions = xcalloc(r->payload->nobs + 1, sizeof(int));
	}
	for (int i = 0; i < nups; i++) {
		struct bobs key, *hit;

		key.unit_id = atoi(PQgetvalue(ups, i, 0));
		key.metric_id = atoi(PQgetvalue(ups, i, 1));
		key.start = (int32_t)atol(PQgetvalue(ups, i, 2));
		hit = bsearch(&key, bt->obs, bt->nobs, sizeof key, cmp_bobs);
		if (hit != NULL)
			bt->reqs[hit->req]->revisions[hit->obs] = atoi(PQgetvalue(ups, i, 3));
	}
	/* Every key of an inserted submission was either added or changed. A
	 * key with neither was inserted by another process between this
	 * statement's snapshot and its INSERT (two edumond writing the same new
	 * key at once): say so loudly; the value is still in submission.body. */
	for (size_t i = 0; i < bt->nobs; i++) {
		const struct bobs *o = &bt->obs[i];
		const struct write_req *r = bt->reqs[o->req];

		if (r->revisions[o->obs] == 0 &&
		    bsearch(&(const char *){r->submission_id}, ids, (size_t)nins, sizeof *ids,
		        cmp_str) != NULL)
			log_error("writer: observation (unit %d, metric %d) of submission %s was"
				  " written concurrently by another process and not applied",
			    o->unit_id, o->metric_id, r->submission_id);
	}
	stats_batch(w->stats, bt->nreqs, (size_t)nups,
	    (double)(now_usec() - bt->started) / 1e6);
	c = xcalloc(1, sizeof *c);
	c->w = w;
	c->reqs = xcalloc(bt->nreqs, sizeof *c->reqs);
	for (size_t i = 0; i < bt->nreqs; i++) {
		struct write_req *r = bt->reqs[i];
		const char *id = r->submission_id;

		bt->reqs[i] = NULL;
		if (bsearch(&id, ids, (size_t)nins, sizeof *ids, cmp_str) != NULL)
			c->reqs[c->nreqs++] = r;
		else
			replay_start(w, r); /* the key was used before: answer from the original */
	}
	free(ids);
	w->observed += c->nreqs;
	if (w->observer != NULL && c->nreqs > 0)
		w->observer(c, w->observer_arg);
	else
		writer_commit_done(c);
}

void
writer_set_observer(struct writer *w, writer_observer_fn fn, void *arg)
{
	w->observer = fn;
	w->observer_arg = arg;
}

void
writer_commit_done(struct write_commit *c)
{
	struct writer *w = c->w;

	w->observed -= c->nreqs;
	for (size_t i = 0; i < c->nreqs; i++) {
		struct write_req *r = c->reqs[i];
		char *receipt = receipt_json(r->submission_id, r->idempotency_key, r->payload,
		    r->revisions, r->alerts_json);

		finish(w, r, 201, receipt, false, 0);
		free(receipt);
	}
	free(c->reqs);
	free(c);
}

static void
batch_failed(struct writer *w, struct batch *bt, const struct pgc_outcome *out)
{
	stats_batch_failed(w->stats);
	if (out->sqlstate == NULL) {
		/* Cut off before the Sync came back: the outcome is unknown. */
		log_warn("writer: transaction of %zu requests cut off: %s", bt->nreqs,
		    out->error);
		for (size_t i = 0; i < bt->nreqs; i++)
			fail_unavailable(w, bt->reqs[i], true);
		return;
	}
	if ((strcmp(out->sqlstate, "40001") == 0 || strcmp(out->sqlstate, "40P01") == 0) &&
	    bt->reqs[0]->attempts < MAX_ATTEMPTS) {
		log_info("writer: transaction of %zu requests retried after %s", bt->nreqs,
		    out->sqlstate);
		for (size_t i = 0; i < bt->nreqs; i++)
			bt->reqs[i]->attempts++;
		requeue_front(w, bt->reqs, bt->nreqs);
		return;
	}
	if (bt->nreqs > 1 && !pgc_sqlstate_transient(out->sqlstate)) {
		/* One request spoiled the batch: isolate them so only it fails. */
		log_warn("writer: transaction of %zu requests failed (%s: %s); retrying one by one",
		    bt->nreqs, out->sqlstate, out->error);
		for (size_t i = 0; i < bt->nreqs; i++)
			bt->reqs[i]->solo = true;
		requeue_front(w, bt->reqs, bt->nreqs);
		return;
	}
	log_error("writer: transaction of %zu requests failed: %s: %s", bt->nreqs,
	    out->sqlstate, out->error);
	for (size_t i = 0; i < bt->nreqs; i++) {
		if (pgc_sqlstate_transient(out->sqlstate))
			finish_error(w, bt->reqs[i], 503, "database_unavailable",
			    "the database refused the write for now; nothing was stored: retry later");
		else
			finish_error(w, bt->reqs[i], 500, "internal_error",
			    "the database refused the submission; nothing was stored");
	}
}

static void
batch_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct batch *bt = arg;
	struct writer *w = bt->w;

	bt->conn->inflight = NULL;
	w->inflight_reqs -= bt->nreqs;
	if (out->ok)
		batch_committed(w, bt, out);
	else
		batch_failed(w, bt, out);
	batch_free(bt);
	dispatch(w);
}

/* The receipt's alerts from replay_alerts rows. */
static char *
replay_alerts_json(const PGresult *res)
{
	int n = PQntuples(res);
	struct receipt_alert *a = xcalloc((size_t)n + 1, sizeof *a);
	char *json;

	for (int i = 0; i < n; i++) {
		a[i].id = atoll(PQgetvalue(res, i, 0));
		a[i].rule = PQgetvalue(res, i, 1);
		a[i].unit = PQgetvalue(res, i, 2);
		a[i].period = PQgetvalue(res, i, 3);
		a[i].event = PQgetvalue(res, i, 4);
		a[i].severity = PQgetvalue(res, i, 5);
	}
	json = receipt_alerts_json(a, (size_t)n);
	free(a);
	return json;
}

static void
replay_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct replay *rp = arg;
	struct writer *w = rp->w;
	struct write_req *r = rp->req;
	PGresult *res;
	int n;

	free(rp);
	w->replays--;
	if (!out->ok) {
		log_warn("writer: idempotency lookup failed: %s", out->error);
		fail_unavailable(w, r, false);
		return;
	}
	res = out->results[0];
	n = PQntuples(res);
	if (n == 0 || (size_t)n != r->payload->nobs) {
		/* The key exists but the stored submission has other observations. */
		finish_error(w, r, 409, "idempotency_key_reused",
		    "this Idempotency-Key was used for a different submission");
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		finish_error(w, r, 409, "idempotency_key_reused",
		    "this Idempotency-Key was used for a different submission body");
		return;
	}
	free(r->revisions);
	r->revisions = xcalloc(r->payload->nobs + 1, sizeof(int));
	for (int i = 0; i < n; i++)
		r->revisions[i] = atoi(PQgetvalue(res, i, 2));
	snprintf(r->submission_id, sizeof r->submission_id, "%s", PQgetvalue(res, 0, 0));
	free(r->alerts_json);
	r->alerts_json = replay_alerts_json(out->results[1]);
	{
		char *receipt = receipt_json(r->submission_id, r->idempotency_key, r->payload,
		    r->revisions, r->alerts_json);

		finish(w, r, 201, receipt, true, 0);
		free(receipt);
	}
}

static void
replay_start(struct writer *w, struct write_req *r)
{
	struct buf a[3];
	char unit[16], hex[2 * SHA256_LEN + 3];
	const char *v[6];
	struct pgc_stmt stmt[2];
	struct replay *rp;
	int sent = -1;

	snprintf(unit, sizeof unit, "%d", r->unit_id);
	hex[0] = '\\';
	hex[1] = 'x';
	hex_encode(r->body_sha256, SHA256_LEN, hex + 2);
	for (size_t k = 0; k < 3; k++)
		buf_init(&a[k]);
	for (size_t i = 0; i < r->payload->nobs; i++) {
		const struct observation *o = &r->payload->obs[i];
		char date[16];

		for (size_t k = 0; k < 3; k++)
			buf_pg_array_sep(&a[k], i);
		buf_printf(&a[0], "%d", o->unit->id);
		buf_printf(&a[1], "%d", o->metric->id);
		date_format(o->period.start, date, sizeof date);
		buf_puts(&a[2], date);
	}
	for (size_t k = 0; k < 3; k++)
		buf_pg_array_end(&a[k], r->payload->nobs);
	v[0] = unit;
	v[1] = r->idempotency_key;
	v[2] = hex;
	v[3] = a[0].data;
	v[4] = a[1].data;
	v[5] = a[2].data;
	stmt[0] = (struct pgc_stmt){"replay", NULL, 6, v};
	stmt[1] = (struct pgc_stmt){"replay_alerts", NULL, 2, v};
	rp = xcalloc(1, sizeof *rp);
	rp->w = w;
	rp->req = r;
	for (int i = 0; i < w->nconns && sent != 0 && !w->closing; i++)
		if (pgc_ready(w->conns[i].pgc))
			sent = pgc_submit(w->conns[i].pgc, stmt, 2, replay_done_cb, rp);
	for (size_t k = 0; k < 3; k++)
		buf_free(&a[k]);
	if (sent != 0) {
		free(rp);
		fail_unavailable(w, r, false);
		return;
	}
	w->replays++;
}

int
writer_submit(struct writer *w, struct write_req *req, int *retry_after)
{
	const struct payload *p = req->payload;

	*retry_after = 1;
	if (!any_ready(w))
		return -1;
	if (w->qlen >= w->cfg.max_queue)
		return -1;
	uuid_v4(req->submission_id);
	if (req->idempotency_key == NULL)
		req->idempotency_key = xstrdup(req->submission_id);
	sha256(req->body, req->body_len, req->body_sha256);
	req->nhashes = p->nobs + 1;
	req->hashes = xcalloc(req->nhashes, sizeof(uint64_t));
	for (size_t i = 0; i < p->nobs; i++)
		req->hashes[i] = obs_hash(p->obs[i].unit->id, p->obs[i].metric->id,
		    p->obs[i].period.start);
	req->hashes[p->nobs] = key_hash(req->unit_id, req->idempotency_key);
	req->queued_at = now_usec();
	req->next = NULL;
	if (w->qtail != NULL)
		w->qtail->next = req;
	else
		w->qhead = req;
	w->qtail = req;
	w->qlen++;
	dispatch(w);
	return 0;
}

struct writer *
writer_new(struct event_base *base, const struct writer_config *cfg, struct stats *stats)
{
	struct writer *w = xcalloc(1, sizeof *w);

	w->base = base;
	w->cfg = *cfg;
	if (w->cfg.connections < 1)
		w->cfg.connections = 1;
	if (w->cfg.max_batch_obs < 1)
		w->cfg.max_batch_obs = 1;
	w->stats = stats;
	w->timeout_sql = xasprintf("SET statement_timeout = %d",
	    cfg->statement_timeout_ms > 0 ? cfg->statement_timeout_ms : 30000);
	w->setup[0] = w->timeout_sql;
	w->setup[1] = "SET synchronous_commit = on";
	w->nconns = w->cfg.connections;
	w->conns = xcalloc((size_t)w->nconns, sizeof *w->conns);
	for (int i = 0; i < w->nconns; i++) {
		struct wconn *wc = &w->conns[i];

		wc->w = w;
		snprintf(wc->name, sizeof wc->name, "writer-%d", i + 1);
		wc->cfg.conninfo = cfg->conninfo;
		wc->cfg.name = wc->name;
		wc->cfg.prepared = prepared;
		wc->cfg.nprepared = ARRAY_LEN(prepared);
		wc->cfg.setup_sql = w->setup;
		wc->cfg.nsetup = ARRAY_LEN(w->setup);
		wc->cfg.connect_timeout_ms = 5000;
		wc->cfg.on_state = conn_state_cb;
		wc->cfg.arg = wc;
		wc->pgc = pgc_new(base, &wc->cfg);
	}
	return w;
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	fail_queue(w);
	w->closing = true;
	/* Freeing a connection fails its jobs, whose callbacks may dispatch:
	 * detach the connections from the writer first. */
	for (int i = 0; i < w->nconns; i++) {
		struct pgc *c = w->conns[i].pgc;

		w->conns[i].pgc = NULL;
		pgc_free(c);
	}
	free(w->conns);
	free(w->timeout_sql);
	free(w->scratch);
	free(w);
}
