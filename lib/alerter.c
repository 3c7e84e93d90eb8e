/*
 * alerter.c: see alerter.h.
 *
 * One job runs at a time. A job moves through phases, each waiting for one
 * round trip on the alerter's connection:
 *   build:  states and clock -> window slices -> tick slices -> judge, store
 *   commit: [slices it needs] -> apply, store -> answer the requests
 *   tick:   [slices the deadlines need] -> tick, store
 *   rebind: rebind to the new snapshot, judge everything, store (every job
 *           but a build first follows the directory this way)
 * When storing fails the engine is thrown away and rebuilt from the
 * database: what is stored is the truth, and judging again from it yields
 * every change that was lost (without its submission link).
 */
#include "alerter.h"

#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alertsql.h"
#include "directory.h"
#include "engine.h"
#include "log.h"
#include "pgc.h"
#include "receipt.h"
#include "rulesd.h"
#include "stats.h"
#include "util.h"
#include "writer.h"

#define TICK_SECONDS 10
/* Observations of commits judged and stored together at most. */
#define MERGE_MAX_OBS 50000

static const char sql_states[] =
    "SELECT rule_id, unit_id, period, state = 'firing', severity, value, bound, id"
    " FROM edumon.alert WHERE state = 'firing' OR period_end >= current_date - 800";

static const char sql_clock[] =
    "SELECT last_day - DATE '1970-01-01' FROM edumon.evaluation_clock";

static const char sql_slices[] =
    "SELECT k.ord, o.unit_id, o.value, coalesce(o.numerator, 0), coalesce(o.denominator, 0),"
    " o.revision"
    " FROM unnest($1::smallint[], $2::date[]) WITH ORDINALITY AS k(metric_id, period_start, ord)"
    " JOIN edumon.observation o ON o.metric_id = k.metric_id AND o.period_start = k.period_start"
    " ORDER BY k.ord";

/*
 * Store alert changes and their events. Several changes of one alert in one
 * call (fired then resolved) update the row once, with the last; every
 * change becomes an event, in order. A row that fires again after being
 * resolved starts a new episode: fired_at is reset and the acknowledgement
 * cleared. Every change is also announced on the NOTIFY channel
 * edumon_alerts (delivered on commit, in order; see docs/analysts.md).
 * Returns (ord, alert id) for every event.
 */
static const char sql_store_alerts[] =
    "WITH ev AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[],"
    " $5::smallint[], $6::text[], $7::date[], $8::date[], $9::text[], $10::text[],"
    " $11::float8[], $12::float8[], $13::text[], $14::text[], $15::text[], $16::text[],"
    " $17::int[], $18::uuid[]) WITH ORDINALITY AS e(fingerprint, rule_id, rule_sha256, unit_id,"
    " metric_id, period, period_start, period_end, state, severity, value, bound, op, title,"
    " message, kind, sub_unit, sub_id, ord)),"
    " last AS (SELECT DISTINCT ON (fingerprint) * FROM ev ORDER BY fingerprint, ord DESC),"
    " up AS (INSERT INTO edumon.alert AS a (fingerprint, rule_id, rule_sha256, unit_id, metric_id,"
    " period, period_start, period_end, state, severity, value, bound, op, title, message,"
    " fired_at, updated_at, resolved_at, resolved_value)"
    " SELECT fingerprint, rule_id, rule_sha256, unit_id, metric_id, period, period_start,"
    " period_end, state, severity, value, bound, op, title, message, now(), now(),"
    " CASE WHEN state = 'resolved' THEN now() END,"
    " CASE WHEN state = 'resolved' THEN value END FROM last"
    " ON CONFLICT (unit_id, fingerprint) DO UPDATE SET rule_sha256 = EXCLUDED.rule_sha256,"
    " period = EXCLUDED.period, period_end = EXCLUDED.period_end, state = EXCLUDED.state,"
    " severity = EXCLUDED.severity, value = EXCLUDED.value, bound = EXCLUDED.bound,"
    " op = EXCLUDED.op, title = EXCLUDED.title, message = EXCLUDED.message,"
    " updated_at = now(), resolved_at = EXCLUDED.resolved_at,"
    " resolved_value = EXCLUDED.resolved_value,"
    " fired_at = CASE WHEN a.state = 'resolved' AND EXCLUDED.state = 'firing' THEN now()"
    " ELSE a.fired_at END,"
    " acked_at = CASE WHEN a.state = 'resolved' AND EXCLUDED.state = 'firing' THEN NULL"
    " ELSE a.acked_at END,"
    " acked_token_id = CASE WHEN a.state = 'resolved' AND EXCLUDED.state = 'firing' THEN NULL"
    " ELSE a.acked_token_id END,"
    " acked_by = CASE WHEN a.state = 'resolved' AND EXCLUDED.state = 'firing' THEN NULL"
    " ELSE a.acked_by END,"
    " ack_note = CASE WHEN a.state = 'resolved' AND EXCLUDED.state = 'firing' THEN NULL"
    " ELSE a.ack_note END"
    " RETURNING a.id, a.unit_id, a.fingerprint),"
    " evs AS (INSERT INTO edumon.alert_event (alert_unit_id, alert_id, kind, severity, value,"
    " bound, submission_unit_id, submission_id)"
    " SELECT up.unit_id, up.id, ev.kind, ev.severity, ev.value, ev.bound, ev.sub_unit,"
    " ev.sub_id"
    " FROM ev JOIN up USING (fingerprint) ORDER BY ev.ord)"
    " SELECT ord, id, pg_notify('edumon_alerts', json_build_object('alert', id, 'rule', rule_id,"
    " 'unit', code, 'period', period, 'event', kind, 'severity', severity, 'state', state,"
    " 'fingerprint', fingerprint)::text)"
    " FROM (SELECT ev.ord, up.id, ev.rule_id, u.code, ev.period, ev.kind, ev.severity, ev.state,"
    " ev.fingerprint FROM ev JOIN up USING (fingerprint) JOIN edumon.org_unit u"
    " ON u.id = ev.unit_id ORDER BY ev.ord) s";


/*
 * Refresh firing alerts whose figure moved without a transition: the row
 * shows the value in force, and its message says so. No event: nobody is
 * told of a breach that merely changed its size. Runs after store_alerts
 * in the same transaction, and only on rows still firing, so a resolution
 * stored with it stands.
 */
static const char sql_refresh_alerts[] =
    "UPDATE edumon.alert AS a SET value = r.value, bound = r.bound, message = r.message,"
    " updated_at = now()"
    " FROM unnest($1::int[], $2::text[], $3::float8[], $4::float8[], $5::text[])"
    " AS r(unit_id, fingerprint, value, bound, message)"
    " WHERE a.unit_id = r.unit_id AND a.fingerprint = r.fingerprint AND a.state = 'firing'"
    " AND (a.value, a.bound, a.message) IS DISTINCT FROM (r.value, r.bound, r.message)";

static const char sql_store_figures[] =
    "INSERT INTO edumon.rule_figure AS f (rule_id, unit_id, period_start, period, value,"
    " numerator, denominator, reported, expected, judged, updated_at)"
    " SELECT DISTINCT ON (rule_id, unit_id, period_start) rule_id, unit_id, period_start,"
    " period, value, numerator, denominator, reported, expected, judged, now()"
    " FROM unnest($1::text[], $2::int[], $3::date[], $4::text[], $5::float8[], $6::int8[],"
    " $7::int8[], $8::int[], $9::int[], $10::bool[]) WITH ORDINALITY"
    " AS x(rule_id, unit_id, period_start, period, value, numerator, denominator, reported,"
    " expected, judged, ord)"
    " ORDER BY rule_id, unit_id, period_start, ord DESC"
    " ON CONFLICT (rule_id, unit_id, period_start) DO UPDATE SET period = EXCLUDED.period,"
    " value = EXCLUDED.value, numerator = EXCLUDED.numerator,"
    " denominator = EXCLUDED.denominator, reported = EXCLUDED.reported,"
    " expected = EXCLUDED.expected, judged = EXCLUDED.judged, updated_at = now()";

static const char sql_store_clock[] =
    "INSERT INTO edumon.evaluation_clock (id, last_day) VALUES (true, DATE '1970-01-01' + $1::int)"
    " ON CONFLICT (id) DO UPDATE SET last_day = greatest(evaluation_clock.last_day,"
    " EXCLUDED.last_day), updated_at = now()";

static const struct pgc_prepared prepared[] = {
    {"states", sql_states},
    {"clock", sql_clock},
    {"slices", sql_slices},
    {"store_alerts", sql_store_alerts},
    {"refresh_alerts", sql_refresh_alerts},
    {"store_figures", sql_store_figures},
    {"store_clock", sql_store_clock},
};

enum job_kind { JOB_BUILD, JOB_COMMIT, JOB_TICK, JOB_REBIND };

/* The submission a request of a commit job stored (kept after answering). */
struct subref {
	int unit_id;
	char id[37];
};

/* A batch of committed requests waiting for its alerts. */
struct held {
	struct alerter *a;
	struct write_commit *c; /* NULL once answered */
	struct event *deadline;
	size_t first;           /* index of its first request in the job's subs */
};

struct ajob {
	enum job_kind kind;
	struct alerter *a;
	struct held **held;     /* JOB_COMMIT: the batches it answers */
	size_t nheld;
	struct subref *subs;    /* per request of every batch; obs tags index it */
	size_t nsubs;
	struct engine_obs *obs;
	size_t nobs;
	struct ajob *next;
};

struct alerter {
	struct event_base *base;
	struct alerter_config cfg;
	void (*stored_cb)(void *);
	void *stored_arg;
	struct directory *dir;
	struct rulesd *rd;
	struct writer *writer;
	struct pgc *pgc;
	struct pgc_config pcfg;
	struct event *tick;
	struct event *retry;          /* a build that could not start yet */

	struct engine *eng;
	struct snapshot *snap;        /* the engine's registry and catalog */
	const struct ruleset *rules;  /* the engine's rules */
	int32_t clock_day;            /* last day evaluated */
	int32_t tick_from;            /* running tick: its range */

	struct ajob *head, *tail;
	struct ajob *cur;             /* running, or NULL */
	bool busy;                    /* a round trip is out */
	/* A long engine pass, stepped between turns of the loop. */
	struct event *step_ev;
	struct engine_pass pass;
	void (*after_pass)(struct alerter *);
	int64_t pass_started;
	int64_t pass_longest; /* usec, the longest step */
	size_t pass_steps;
	struct engine_slice_key *keys; /* slices being loaded */
	size_t nkeys;
	void (*after_load)(struct alerter *);
	struct engine_out out;
	bool store_clock;
	bool build_wait; /* a build or store failed: wait for the clock */
	bool built;      /* the engine is built and its start-up changes stored */
	bool rebuild;    /* the rule set changed: rebuild between two jobs */
	bool closing;
	int64_t store_started;
	size_t ev_done, fig_done, ref_done; /* stored so far of a->out (chunks) */
	size_t chunk_events, chunk_figures, chunk_refreshed; /* in the transaction in flight */
	char (*shas)[65];             /* per rule: SHA-256 of its definition */
	unsigned long long changes, stores, store_failures, early_answers;
	double store_seconds;
};

static void pump(struct alerter *a);
static void job_finish(struct alerter *a, bool stored);

/* ---- jobs ---- */

/* Answer one batch; alerts[i] is request i's "alerts" (NULL: null). */
static void
held_answer(struct held *h, char *const *alerts)
{
	if (h->c == NULL)
		return;
	for (size_t i = 0; i < h->c->nreqs; i++) {
		free(h->c->reqs[i]->alerts_json);
		h->c->reqs[i]->alerts_json = alerts != NULL ? xstrdup(alerts[i]) : xstrdup("null");
	}
	writer_commit_done(h->c);
	h->c = NULL;
	event_free(h->deadline);
	h->deadline = NULL;
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;

	(void)fd;
	(void)what;
	log_warn("alerter: %zu committed requests answered before their alerts were evaluated",
	    h->c != NULL ? h->c->nreqs : 0);
	h->a->early_answers++;
	held_answer(h, NULL);
}

/* Answer every batch of j not answered yet with "alerts": null. */
static void
answer_unknown(struct ajob *j)
{
	for (size_t i = 0; i < j->nheld; i++)
		held_answer(j->held[i], NULL);
}

static void
job_free(struct ajob *j)
{
	answer_unknown(j);
	for (size_t i = 0; i < j->nheld; i++)
		free(j->held[i]);
	free(j->held);
	free(j->obs);
	free(j->subs);
	free(j);
}

/* Fold commit job b into a (both queued in this order): one evaluation and
 * one transaction for both. Frees b. */
static void
job_merge(struct ajob *a, struct ajob *b)
{
	size_t base = a->nsubs;

	a->held = xreallocarray(a->held, a->nheld + b->nheld, sizeof *a->held);
	for (size_t i = 0; i < b->nheld; i++) {
		b->held[i]->first += base;
		a->held[a->nheld++] = b->held[i];
	}
	a->subs = xreallocarray(a->subs, a->nsubs + b->nsubs + 1, sizeof *a->subs);
	memcpy(a->subs + a->nsubs, b->subs, b->nsubs * sizeof *b->subs);
	a->nsubs += b->nsubs;
	a->obs = xreallocarray(a->obs, a->nobs + b->nobs + 1, sizeof *a->obs);
	for (size_t i = 0; i < b->nobs; i++) {
		a->obs[a->nobs] = b->obs[i];
		a->obs[a->nobs++].tag += (int)base;
	}
	b->nheld = 0;
	job_free(b);
}

static void
enqueue(struct alerter *a, struct ajob *j)
{
	j->a = a;
	if (a->tail != NULL)
		a->tail->next = j;
	else
		a->head = j;
	a->tail = j;
	pump(a);
}

static bool
queued(const struct alerter *a, enum job_kind kind)
{
	for (const struct ajob *j = a->head; j != NULL; j = j->next)
		if (j->kind == kind)
			return true;
	return a->cur != NULL && a->cur->kind == kind;
}

/* The writer's hook: a batch committed. */
static void
observe(struct write_commit *c, void *arg)
{
	struct alerter *a = arg;
	struct ajob *j = xcalloc(1, sizeof *j);
	struct held *h = xcalloc(1, sizeof *h);
	size_t n = 0;
	struct timeval tv;

	for (size_t i = 0; i < c->nreqs; i++)
		n += c->reqs[i]->payload->nobs;
	j->kind = JOB_COMMIT;
	h->a = a;
	h->c = c;
	j->held = xcalloc(1, sizeof *j->held);
	j->held[j->nheld++] = h;
	j->obs = xcalloc(n + 1, sizeof *j->obs);
	j->subs = xcalloc(c->nreqs + 1, sizeof *j->subs);
	j->nsubs = c->nreqs;
	for (size_t i = 0; i < c->nreqs; i++) {
		const struct write_req *r = c->reqs[i];

		j->subs[i].unit_id = r->unit_id;
		snprintf(j->subs[i].id, sizeof j->subs[i].id, "%s", r->submission_id);
		for (size_t k = 0; k < r->payload->nobs; k++) {
			const struct observation *o = &r->payload->obs[k];

			if (r->revisions[k] <= 0)
				continue;
			j->obs[j->nobs++] = (struct engine_obs){
			    .unit_id = o->unit->id,
			    .metric_id = o->metric->id,
			    .period = o->period,
			    .value = o->value,
			    .num = o->has_ratio ? o->numerator : 0,
			    .den = o->has_ratio ? o->denominator : 0,
			    .revision = r->revisions[k],
			    .tag = (int)i,
			};
		}
	}
	tv.tv_sec = a->cfg.answer_timeout_ms / 1000;
	tv.tv_usec = (a->cfg.answer_timeout_ms % 1000) * 1000;
	h->deadline = evtimer_new(a->base, deadline_cb, h);
	evtimer_add(h->deadline, &tv);
	enqueue(a, j);
}

/* ---- storing ---- */

struct arrays {
	struct buf b[18];
	size_t n;
};

static void
arrays_init(struct arrays *x, size_t k)
{
	for (size_t i = 0; i < k; i++)
		buf_init(&x->b[i]);
	x->n = 0;
}

static void
arr_text(struct arrays *x, size_t col, const char *s)
{
	buf_pg_array_sep(&x->b[col], x->n);
	buf_pg_array_text(&x->b[col], s, s != NULL ? strlen(s) : 0);
}

static void
arr_num(struct arrays *x, size_t col, const char *fmt, double v, bool defined)
{
	buf_pg_array_sep(&x->b[col], x->n);
	if (defined)
		buf_printf(&x->b[col], fmt, v);
	else
		buf_puts(&x->b[col], "NULL");
}

static void
arr_int(struct arrays *x, size_t col, long long v)
{
	buf_pg_array_sep(&x->b[col], x->n);
	buf_printf(&x->b[col], "%lld", v);
}

static void
arr_date(struct arrays *x, size_t col, int32_t day)
{
	char d[16];

	date_format(day, d, sizeof d);
	arr_text(x, col, d);
}

static void
arrays_end(struct arrays *x, size_t k, const char **v)
{
	for (size_t i = 0; i < k; i++) {
		buf_pg_array_end(&x->b[i], x->n);
		v[i] = x->b[i].data;
	}
}

static void
arrays_free(struct arrays *x, size_t k)
{
	for (size_t i = 0; i < k; i++)
		buf_free(&x->b[i]);
}

/* The comparison a breach of r at sev is written with. */
static enum cmp_op
event_op(const struct rule *r, enum severity sev)
{
	switch (r->kind) {
	case RULE_THRESHOLD:
	case RULE_DISPERSION:
		for (size_t i = 0; i < r->nbands; i++)
			if (r->bands[i].severity == sev)
				return r->bands[i].op;
		return r->nbands > 0 ? r->bands[0].op : OP_GT;
	case RULE_QUOTA:
		return OP_LT;
	case RULE_TREND:
		if (r->trend_mode == TREND_YOY)
			return r->trend_direction == TREND_DECREASE ? OP_GE : OP_LE;
		return OP_GT;
	case RULE_MISSING:
	case RULE_KIND_COUNT:
		break;
	}
	return OP_GT;
}

/* The severity an event is stored with: for a resolution, the one that was
 * in force. */
static enum severity
event_severity(const struct engine_event *ev)
{
	enum severity s = ev->transition == ALERT_RESOLVED ? ev->severity_before : ev->state.severity;

	return s == SEV_OK ? SEV_WARNING : s;
}

/* The SHA-256 of rule i's canonical definition, computed once per rule set. */
static const char *
rule_sha(struct alerter *a, size_t i)
{
	if (a->shas == NULL) {
		a->shas = xcalloc(a->rules->nrules + 1, sizeof *a->shas);
		for (size_t k = 0; k < a->rules->nrules; k++) {
			char *canon = rule_canonical(&a->rules->rules[k]);
			unsigned char d[SHA256_LEN];

			sha256(canon, strlen(canon), d);
			hex_encode(d, SHA256_LEN, a->shas[k]);
			free(canon);
		}
	}
	return a->shas[i];
}

/*
 * The message stored with e, and the comparison it is written with. A
 * resolved alert keeps the message of its breach: rendered with the value
 * that cleared it, it would claim "55 reaches 56". The caller frees it.
 */
static char *
event_message(struct alerter *a, const struct engine_event *e, enum cmp_op *op)
{
	const struct rule *r = &a->rules->rules[e->rule];
	const struct unit *u = registry_by_id(a->snap->registry, e->unit_id);
	const struct metric *m = catalog_by_id(a->snap->catalog, e->metric_id);
	enum severity sev = event_severity(e);
	bool resolved = e->transition == ALERT_RESOLVED;
	struct alert_message_ctx ctx = {
	    .unit = u != NULL ? u->name : "",
	    .metric = m != NULL ? m->name_zh : "",
	    .kind = rule_value_kind(r, m != NULL ? m->kind : METRIC_VALUE),
	    .value = resolved ? e->value_before : e->state.value,
	    .bound = resolved ? e->bound_before : e->state.bound,
	    .op = event_op(r, sev),
	    .period = &e->period,
	    .severity = sev,
	};

	*op = ctx.op;
	return alert_message(r, &ctx);
}

static int
cmp_size(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;

	return a < b ? -1 : a > b;
}

/* Each refreshed episode once: the store reads its current state anyway. */
static void
refreshed_unique(struct engine_out *o)
{
	size_t n = 0;

	if (o->nrefreshed < 2)
		return;
	qsort(o->refreshed, o->nrefreshed, sizeof *o->refreshed, cmp_size);
	for (size_t i = 0; i < o->nrefreshed; i++)
		if (n == 0 || o->refreshed[i] != o->refreshed[n - 1])
			o->refreshed[n++] = o->refreshed[i];
	o->nrefreshed = n;
}

/*
 * Fill x (5 columns of sql_refresh_alerts) with the refreshed episodes
 * [from, to) of a->out, as they stand now; those no longer firing (resolved
 * later in the same job) are left out.
 */
static void
refresh_arrays(struct alerter *a, size_t from, size_t to, struct arrays *x)
{
	for (size_t i = from; i < to; i++) {
		struct engine_event e;
		const struct unit *u;
		char fp[ALERT_FINGERPRINT_LEN + 1];
		enum cmp_op op;
		char *msg;

		if (!engine_entry(a->eng, a->out.refreshed[i], &e) || !e.state.firing ||
		    (u = registry_by_id(a->snap->registry, e.unit_id)) == NULL)
			continue;
		alert_fingerprint(a->rules->rules[e.rule].id, u->code, &e.period, fp);
		msg = event_message(a, &e, &op);
		arr_int(x, 0, e.unit_id);
		arr_text(x, 1, fp);
		arr_num(x, 2, "%.17g", e.state.value, isfinite(e.state.value));
		arr_num(x, 3, "%.17g", e.state.bound, isfinite(e.state.bound));
		arr_text(x, 4, msg);
		x->n++;
		free(msg);
	}
}

static void store_done_cb(const struct pgc_outcome *out, void *arg);
static void answer_events(struct alerter *a, struct ajob *j);

/* Store a->out (and the clock when asked) in one transaction. */
static void
store(struct alerter *a)
{
	const struct engine_out *o = &a->out;
	const struct registry *reg = a->snap->registry;
	struct arrays ev, fg, rf;
	const char *v1[18], *v2[10], *v3[1], *v4[5];
	struct pgc_stmt st[5];
	int ns = 0;
	char day[16];
	size_t chunk = a->cfg.store_chunk;
	size_t ev_end = o->nevents - a->ev_done > chunk ? a->ev_done + chunk : o->nevents;
	size_t fig_end = o->nfigures - a->fig_done > chunk ? a->fig_done + chunk : o->nfigures;
	size_t ref_end;
	bool last;

	if (a->ev_done == 0 && a->fig_done == 0 && a->ref_done == 0)
		refreshed_unique(&a->out);
	ref_end = o->nrefreshed - a->ref_done > chunk ? a->ref_done + chunk : o->nrefreshed;
	last = ev_end == o->nevents && fig_end == o->nfigures && ref_end == o->nrefreshed;
	if (o->nevents == 0 && o->nfigures == 0 && o->nrefreshed == 0 && !a->store_clock) {
		answer_events(a, a->cur);
		job_finish(a, true);
		return;
	}
	arrays_init(&ev, 18);
	for (size_t i = a->ev_done; i < ev_end; i++, ev.n++) {
		const struct engine_event *e = &o->events[i];
		const struct rule *r = &a->rules->rules[e->rule];
		const struct unit *u = registry_by_id(reg, e->unit_id);
		char fp[ALERT_FINGERPRINT_LEN + 1], per[PERIOD_STR_MAX];
		enum severity sev = event_severity(e);
		enum cmp_op op;
		char *msg = event_message(a, e, &op);
		const struct subref *sub = e->tag >= 0 && (size_t)e->tag < a->cur->nsubs ?
		    &a->cur->subs[e->tag] : NULL;

		period_format(&e->period, per, sizeof per);
		alert_fingerprint(r->id, u != NULL ? u->code : "", &e->period, fp);
		arr_text(&ev, 0, fp);
		arr_text(&ev, 1, r->id);
		arr_text(&ev, 2, rule_sha(a, e->rule));
		arr_int(&ev, 3, e->unit_id);
		arr_int(&ev, 4, e->metric_id);
		arr_text(&ev, 5, per);
		arr_date(&ev, 6, e->period.start);
		arr_date(&ev, 7, e->period.end);
		arr_text(&ev, 8, e->state.firing ? "firing" : "resolved");
		arr_text(&ev, 9, severity_name(sev));
		arr_num(&ev, 10, "%.17g", e->state.value, isfinite(e->state.value));
		arr_num(&ev, 11, "%.17g", e->state.bound, isfinite(e->state.bound));
		arr_text(&ev, 12, cmp_op_name(op));
		arr_text(&ev, 13, r->title);
		arr_text(&ev, 14, msg);
		arr_text(&ev, 15, alert_transition_name(e->transition));
		if (sub != NULL) {
			arr_int(&ev, 16, sub->unit_id);
			arr_text(&ev, 17, sub->id);
		} else {
			arr_text(&ev, 16, NULL);
			arr_text(&ev, 17, NULL);
		}
		free(msg);
	}
	arrays_end(&ev, 18, v1);
	if (ev_end > a->ev_done) {
		/* Event ids in commit order (0006_delivery): the dispatcher's and
		 * the stream's cursors must never pass an uncommitted id. */
		st[ns++] = (struct pgc_stmt){NULL, ALERT_SQL_EVENT_LOCK, 0, NULL};
		st[ns++] = (struct pgc_stmt){"store_alerts", NULL, 18, v1};
	}
	arrays_init(&rf, 5);
	refresh_arrays(a, a->ref_done, ref_end, &rf);
	arrays_end(&rf, 5, v4);
	if (rf.n > 0)
		st[ns++] = (struct pgc_stmt){"refresh_alerts", NULL, 5, v4};

	arrays_init(&fg, 10);
	for (size_t i = a->fig_done; i < fig_end; i++, fg.n++) {
		const struct engine_figure *f = &o->figures[i];
		char per[PERIOD_STR_MAX];

		period_format(&f->period, per, sizeof per);
		arr_text(&fg, 0, a->rules->rules[f->rule].id);
		arr_int(&fg, 1, f->unit_id);
		arr_date(&fg, 2, f->period.start);
		arr_text(&fg, 3, per);
		arr_num(&fg, 4, "%.17g", f->value, f->defined && isfinite(f->value));
		arr_int(&fg, 5, f->num);
		arr_int(&fg, 6, f->den);
		arr_int(&fg, 7, f->reported);
		arr_int(&fg, 8, f->expected);
		arr_text(&fg, 9, f->judged ? "t" : "f");
	}
	arrays_end(&fg, 10, v2);
	if (fig_end > a->fig_done)
		st[ns++] = (struct pgc_stmt){"store_figures", NULL, 10, v2};

	snprintf(day, sizeof day, "%d", (int)a->clock_day);
	v3[0] = day;
	if (a->store_clock && last)
		st[ns++] = (struct pgc_stmt){"store_clock", NULL, 1, v3};
	if (ns == 0 && !last) {
		/* A chunk of refreshed episodes all resolved since: the next one. */
		a->ref_done = ref_end;
		arrays_free(&ev, 18);
		arrays_free(&fg, 10);
		arrays_free(&rf, 5);
		store(a);
		return;
	}
	if (ns == 0) {
		/* Nothing left but a clock that is not ours to store. */
		answer_events(a, a->cur);
		job_finish(a, true);
		arrays_free(&ev, 18);
		arrays_free(&fg, 10);
		arrays_free(&rf, 5);
		return;
	}
	a->chunk_events = ev_end - a->ev_done;
	a->chunk_figures = fig_end - a->fig_done;
	a->chunk_refreshed = ref_end - a->ref_done;

	a->busy = true;
	a->store_started = now_usec();
	if (pgc_submit(a->pgc, st, ns, store_done_cb, a) != 0) {
		a->busy = false;
		log_warn("alerter: cannot store %zu alert changes now: connection down",
		    o->nevents);
		job_finish(a, false);
	}
	arrays_free(&ev, 18);
	arrays_free(&fg, 10);
	arrays_free(&rf, 5);
}

static void
store_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct alerter *a = arg;
	struct ajob *j = a->cur;
	const struct engine_out *o = &a->out;

	a->busy = false;
	if (!out->ok) {
		log_error("alerter: storing %zu alert changes failed: %s", o->nevents, out->error);
		a->store_failures++;
		job_finish(a, false);
		return;
	}
	a->stores++;
	a->changes += a->chunk_events;
	a->store_seconds += (double)(now_usec() - a->store_started) / 1e6;
	if (a->chunk_events > 0) {
		PGresult *res = out->results[1]; /* after the event lock */

		for (int i = 0; i < PQntuples(res); i++) {
			long ord = atol(PQgetvalue(res, i, 0));

			if (ord >= 1 && (size_t)ord <= a->chunk_events)
				engine_set_alert_id(a->eng, o->events[a->ev_done + ord - 1].entry,
				    atoll(PQgetvalue(res, i, 1)));
		}
	}
	if (a->chunk_events > 0 && a->stored_cb != NULL)
		a->stored_cb(a->stored_arg);
	a->ev_done += a->chunk_events;
	a->fig_done += a->chunk_figures;
	a->ref_done += a->chunk_refreshed;
	if (a->ev_done < o->nevents || a->fig_done < o->nfigures || a->ref_done < o->nrefreshed) {
		store(a); /* the next chunk */
		return;
	}
	answer_events(a, j);
	job_finish(a, true);
}

/* Answer a commit job's batches with the alert changes each request
 * caused (events bucketed by request, in their order). */
static void
answer_events(struct alerter *a, struct ajob *j)
{
	const struct engine_out *o = &a->out;
	size_t *count, *start;
	struct receipt_alert *ra;
	char (*pers)[PERIOD_STR_MAX];

	if (j->nheld == 0)
		return;
	count = xcalloc(j->nsubs + 1, sizeof *count);
	start = xcalloc(j->nsubs + 2, sizeof *start);
	ra = xcalloc(o->nevents + 1, sizeof *ra);
	pers = xcalloc(o->nevents + 1, sizeof *pers);
	for (size_t k = 0; k < o->nevents; k++)
		if (o->events[k].tag >= 0 && (size_t)o->events[k].tag < j->nsubs)
			count[o->events[k].tag]++;
	for (size_t i = 0; i < j->nsubs; i++)
		start[i + 1] = start[i] + count[i];
	memset(count, 0, (j->nsubs + 1) * sizeof *count);
	for (size_t k = 0; k < o->nevents; k++) {
		const struct engine_event *e = &o->events[k];
		const struct unit *u;
		size_t at;

		if (e->tag < 0 || (size_t)e->tag >= j->nsubs)
			continue;
		at = start[e->tag] + count[e->tag]++;
		u = registry_by_id(a->snap->registry, e->unit_id);
		period_format(&e->period, pers[at], PERIOD_STR_MAX);
		ra[at] = (struct receipt_alert){
		    .id = engine_alert_id(a->eng, e->entry),
		    .rule = a->rules->rules[e->rule].id,
		    .unit = u != NULL ? u->code : "",
		    .period = pers[at],
		    .event = alert_transition_name(e->transition),
		    .severity = severity_name(event_severity(e)),
		};
	}
	for (size_t h = 0; h < j->nheld; h++) {
		struct held *hd = j->held[h];
		char **per_req;
		size_t n;

		if (hd->c == NULL)
			continue;
		n = hd->c->nreqs;
		per_req = xcalloc(n + 1, sizeof *per_req);
		for (size_t i = 0; i < n; i++) {
			size_t g = hd->first + i;

			per_req[i] = receipt_alerts_json(ra + start[g], start[g + 1] - start[g]);
		}
		held_answer(hd, per_req);
		for (size_t i = 0; i < n; i++)
			free(per_req[i]);
		free(per_req);
	}
	free(count);
	free(start);
	free(ra);
	free(pers);
}

/* ---- loading slices ---- */

static void slices_done_cb(const struct pgc_outcome *out, void *arg);

/* Load a->keys, then call next. */
static void
load_slices(struct alerter *a, void (*next)(struct alerter *))
{
	struct buf m, d;
	const char *v[2];
	struct pgc_stmt st;

	if (a->nkeys == 0) {
		next(a);
		return;
	}
	buf_init(&m);
	buf_init(&d);
	for (size_t i = 0; i < a->nkeys; i++) {
		char day[16];

		buf_pg_array_sep(&m, i);
		buf_printf(&m, "%d", a->keys[i].metric_id);
		buf_pg_array_sep(&d, i);
		date_format(a->keys[i].period.start, day, sizeof day);
		buf_puts(&d, day);
	}
	buf_pg_array_end(&m, a->nkeys);
	buf_pg_array_end(&d, a->nkeys);
	v[0] = m.data;
	v[1] = d.data;
	st = (struct pgc_stmt){"slices", NULL, 2, v};
	a->after_load = next;
	a->busy = true;
	if (pgc_submit(a->pgc, &st, 1, slices_done_cb, a) != 0) {
		a->busy = false;
		job_finish(a, false);
	}
	buf_free(&m);
	buf_free(&d);
}

static void
slices_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct alerter *a = arg;
	PGresult *res;
	int n, row = 0;
	struct engine_obs *items;

	a->busy = false;
	if (!out->ok) {
		log_warn("alerter: loading figures failed: %s", out->error);
		job_finish(a, false);
		return;
	}
	res = out->results[0];
	n = PQntuples(res);
	items = xcalloc((size_t)n + 1, sizeof *items);
	for (size_t k = 0; k < a->nkeys; k++) {
		size_t ni = 0;

		while (row < n && (size_t)atol(PQgetvalue(res, row, 0)) == k + 1) {
			items[ni++] = (struct engine_obs){
			    .unit_id = atoi(PQgetvalue(res, row, 1)),
			    .metric_id = a->keys[k].metric_id,
			    .period = a->keys[k].period,
			    .value = strtod(PQgetvalue(res, row, 2), NULL),
			    .num = atoll(PQgetvalue(res, row, 3)),
			    .den = atoll(PQgetvalue(res, row, 4)),
			    .revision = atoi(PQgetvalue(res, row, 5)),
			    .tag = -1,
			};
			row++;
		}
		engine_load_slice(a->eng, a->keys[k].metric_id, &a->keys[k].period, items, ni);
	}
	free(items);
	free(a->keys);
	a->keys = NULL;
	a->nkeys = 0;
	a->after_load(a);
}

/* ---- build ---- */

/*
 * Units of engine work per step of a pass (engine_pass_step): a few
 * milliseconds at 20,000 schools (bench/README.md, "Judging everything").
 */
#define PASS_BUDGET 2000

static void
step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct alerter *a = arg;
	static const struct timeval now = {0, 0};
	int64_t t0 = now_usec(), dt;
	bool done;

	(void)fd;
	(void)what;
	done = engine_pass_step(a->eng, &a->pass, PASS_BUDGET, &a->out);
	dt = now_usec() - t0;
	a->pass_steps++;
	if (dt > a->pass_longest)
		a->pass_longest = dt;
	if (!done) {
		/* A zero timer, not event_active: the loop polls its sockets
		 * before running it, so requests are served between steps. */
		evtimer_add(a->step_ev, &now);
		return;
	}
	a->after_pass(a);
}

/* Step the pass begun in a->pass between turns of the loop, then call next. */
static void
run_pass(struct alerter *a, void (*next)(struct alerter *))
{
	static const struct timeval now = {0, 0};

	a->after_pass = next;
	a->pass_started = now_usec();
	a->pass_longest = 0;
	a->pass_steps = 0;
	evtimer_add(a->step_ev, &now);
}

/* Log what a pass did: its changes, its time, its steps and the longest. */
static void
pass_log(const struct alerter *a, const char *what, size_t changes)
{
	log_info("alerter: %s: %zu alert changes (judged in %.3f s, %zu steps, the longest %.1f ms)",
	    what, changes, (double)(now_usec() - a->pass_started) / 1e6, a->pass_steps,
	    (double)a->pass_longest / 1e3);
}

/* Say loudly when a calendar does not cover today: under it no daily
 * report is expected, so missing reports go unnoticed. */
static void
warn_calendars(const struct alerter *a, int32_t t)
{
	for (size_t i = 0; i < a->cfg.ncals; i++)
		if (!calendar_covers(a->cfg.cals[i], t))
			log_warn("calendar of %s does not cover today: no daily report is expected"
				 " from its schools until it is renewed (--calendar)",
			    calendar_unit(a->cfg.cals[i]));
}

static void
build_judged(struct alerter *a)
{
	char what[64];

	a->clock_day = a->pass.today;
	a->store_clock = true;
	snprintf(what, sizeof what, "engine built: %zu rules", a->rules->nrules);
	pass_log(a, what, a->out.nevents);
	store(a);
}

static void
build_judge(struct alerter *a)
{
	int32_t t = date_today();

	warn_calendars(a, t);
	engine_out_reset(&a->out);
	/* Deadlines passed while edumond was down: bounded by TICK_MAX_DAYS. */
	engine_tick(a->eng, a->clock_day + 1, t, &a->out);
	engine_pass_evaluate(a->eng, t, &a->pass);
	run_pass(a, build_judged);
}

static void
build_ticks(struct alerter *a)
{
	a->nkeys = engine_tick_wants(a->eng, a->clock_day + 1, date_today(), &a->keys);
	load_slices(a, build_judge);
}

static void
build_window(struct alerter *a)
{
	struct engine_slice_key *keys = NULL;
	size_t n = 0, cap = 0;
	int32_t t = date_today();

	for (size_t r = 0; r < a->rules->nrules; r++) {
		const struct metric *m = catalog_by_code(a->snap->catalog, a->rules->rules[r].metric);
		struct period p;
		int back;
		bool seen = false;

		if (m == NULL)
			continue;
		for (size_t k = 0; k < n; k++)
			seen = seen || keys[k].metric_id == m->id;
		if (seen)
			continue;
		back = engine_lookback_days(a->eng, m->id);
		period_containing(m->period_kind, t - back, &p);
		while (p.start <= t) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				keys = xreallocarray(keys, cap, sizeof *keys);
			}
			keys[n++] = (struct engine_slice_key){m->id, p};
			period_next(&p, &p);
		}
	}
	a->keys = keys;
	a->nkeys = n;
	load_slices(a, build_ticks);
}

static void
states_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct alerter *a = arg;
	PGresult *res, *clk;

	a->busy = false;
	if (!out->ok) {
		log_warn("alerter: loading alerts failed: %s", out->error);
		job_finish(a, false);
		return;
	}
	res = out->results[0];
	for (int i = 0; i < PQntuples(res); i++) {
		struct period p;
		struct alert_state st = {0};
		char *cause = NULL;
		const char *sev = PQgetvalue(res, i, 4);

		if (period_parse(PQgetvalue(res, i, 2), &p, &cause) != 0) {
			free(cause);
			continue;
		}
		st.firing = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		st.severity = !st.firing ? SEV_OK : strcmp(sev, "critical") == 0 ? SEV_CRITICAL :
		    strcmp(sev, "info") == 0 ? SEV_INFO : SEV_WARNING;
		st.value = strtod(PQgetvalue(res, i, 5), NULL);
		st.bound = strtod(PQgetvalue(res, i, 6), NULL);
		st.streak = st.firing ? 1 : 0;
		engine_load_state(a->eng, PQgetvalue(res, i, 0), atoi(PQgetvalue(res, i, 1)), &p,
		    &st, atoll(PQgetvalue(res, i, 7)));
	}
	clk = out->results[1];
	/* A first start judges today only: there is no past to catch up on. */
	a->clock_day = PQntuples(clk) == 1 ? (int32_t)atol(PQgetvalue(clk, 0, 0)) :
	    date_today() - 1;
	build_window(a);
}

static void
start_build(struct alerter *a)
{
	struct snapshot *s = directory_acquire(a->dir);
	const struct ruleset *rules = rulesd_current(a->rd);
	struct pgc_stmt st[2] = {{"states", NULL, 0, NULL}, {"clock", NULL, 0, NULL}};

	if (s == NULL || rules == NULL) {
		/* The directory has not loaded yet: try again shortly. */
		struct timeval tv = {0, 100 * 1000};

		if (s != NULL)
			snapshot_release(s);
		evtimer_add(a->retry, &tv);
		job_finish(a, true);
		return;
	}
	engine_free(a->eng);
	if (a->snap != NULL)
		snapshot_release(a->snap);
	a->snap = s;
	if (a->rules != rules) {
		free(a->shas);
		a->shas = NULL;
	}
	a->rules = rules;
	a->eng = engine_new(rules, s->registry, s->catalog, NULL);
	engine_set_calendars(a->eng, a->cfg.cals, a->cfg.ncals);
	a->busy = true;
	if (pgc_submit(a->pgc, st, 2, states_done_cb, a) != 0) {
		a->busy = false;
		job_finish(a, false);
	}
}

/* ---- commits, ticks, rebinds ---- */

static void
commit_apply(struct alerter *a)
{
	struct ajob *j = a->cur;

	engine_apply(a->eng, j->obs, j->nobs, date_today(), &a->out);
	store(a);
}

static void
tick_run(struct alerter *a)
{
	int32_t t = date_today();

	warn_calendars(a, t);
	engine_tick(a->eng, a->tick_from, t, &a->out);
	a->clock_day = t;
	a->store_clock = true;
	store(a);
}

static void run_job(struct alerter *a);

static void
directory_followed(struct alerter *a)
{
	char what[128];

	snprintf(what, sizeof what, "registry or catalog changed: %zu units, %zu metrics",
	    registry_count(a->snap->registry), catalog_count(a->snap->catalog));
	pass_log(a, what, a->out.nevents);
	run_job(a);
}

/*
 * Follow the directory: when the registry or catalog changed (a school
 * imported, deactivated, a metric added), rebind the engine and judge
 * everything again before going on, so that a commit of a new school's
 * figures counts it. Appends to a->out. true if a pass was started (it
 * runs the job when it is over).
 */
static bool
follow_directory(struct alerter *a)
{
	struct snapshot *s = directory_acquire(a->dir);

	if (s == NULL)
		return false;
	/* A reload that changed no unit or metric (a token created, the
	 * minutely safety reload) keeps the engine as it is. */
	if (s == a->snap || s->content_version == a->snap->content_version) {
		snapshot_release(s);
		return false;
	}
	engine_pass_rebind(a->eng, s->registry, s->catalog, true, date_today(), &a->pass);
	snapshot_release(a->snap);
	a->snap = s;
	run_pass(a, directory_followed);
	return true;
}

static void
start_job(struct alerter *a)
{
	struct ajob *j = a->cur;

	a->store_clock = false;
	a->ev_done = a->fig_done = a->ref_done = 0;
	engine_out_reset(&a->out);
	if (j->kind == JOB_TICK)
		engine_forget(a->eng, date_today()); /* before any event names an entry */
	if (j->kind != JOB_BUILD && follow_directory(a))
		return;
	run_job(a);
}

/* The job's own work, once the engine follows the directory. */
static void
run_job(struct alerter *a)
{
	struct ajob *j = a->cur;

	switch (j->kind) {
	case JOB_BUILD:
		start_build(a);
		return;
	case JOB_COMMIT:
		a->nkeys = engine_wants(a->eng, j->obs, j->nobs, &a->keys);
		load_slices(a, commit_apply);
		return;
	case JOB_TICK:
		a->tick_from = a->clock_day + 1;
		a->nkeys = engine_tick_wants(a->eng, a->tick_from, date_today(), &a->keys);
		load_slices(a, tick_run);
		return;
	case JOB_REBIND:
		store(a); /* follow_directory did the work */
		return;
	}
}

/* The running job is over: stored tells whether its changes are in the
 * database; when not, the engine is rebuilt from what is. */
static void
job_finish(struct alerter *a, bool stored)
{
	struct ajob *j = a->cur;

	a->cur = NULL;
	free(a->keys);
	a->keys = NULL;
	a->nkeys = 0;
	if (!stored || a->eng == NULL)
		a->build_wait = true; /* try again on the next clock tick */
	if (j != NULL && j->kind == JOB_BUILD && stored && a->eng != NULL)
		a->built = true;
	if (!stored) {
		engine_free(a->eng);
		a->eng = NULL;
		a->built = false;
		if (j != NULL) {
			/* Answer now: the rebuild will judge these figures again. */
			answer_unknown(j);
		}
	}
	if (j != NULL)
		job_free(j);
	pump(a);
}

static void
pump(struct alerter *a)
{
	if (a->closing || a->cur != NULL || a->busy || !pgc_ready(a->pgc))
		return;
	if (a->rebuild) {
		a->rebuild = false;
		engine_free(a->eng);
		a->eng = NULL;
		a->built = false;
	}
	if (a->eng == NULL) {
		if (a->build_wait)
			return;
		/* Commits queued before the engine exists are in the database
		 * already: the build reads them, applying them again is a no-op. */
		a->cur = xcalloc(1, sizeof *a->cur);
		a->cur->kind = JOB_BUILD;
		a->cur->a = a;
		start_job(a);
		return;
	}
	if (a->head == NULL)
		return;
	a->cur = a->head;
	a->head = a->head->next;
	/* Commits queued back to back are judged and stored together. */
	while (a->cur->kind == JOB_COMMIT && a->head != NULL && a->head->kind == JOB_COMMIT &&
	    a->cur->nobs + a->head->nobs <= MERGE_MAX_OBS) {
		struct ajob *b = a->head;

		a->head = b->next;
		job_merge(a->cur, b);
	}
	if (a->head == NULL)
		a->tail = NULL;
	a->cur->next = NULL;
	start_job(a);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct alerter *a = arg;
	struct snapshot *s;

	(void)fd;
	(void)what;
	a->build_wait = false;
	if (a->eng != NULL) {
		if (rulesd_current(a->rd) != a->rules && !a->rebuild) {
			log_info("alerter: rule set changed: rebuilding the engine");
			a->rebuild = true;
		}
		if (date_today() != a->clock_day && !queued(a, JOB_TICK)) {
			struct ajob *j = xcalloc(1, sizeof *j);

			j->kind = JOB_TICK;
			enqueue(a, j);
		} else if ((s = directory_acquire(a->dir)) != NULL) {
			if (s != a->snap && s->content_version != a->snap->content_version &&
			    !queued(a, JOB_REBIND)) {
				struct ajob *j = xcalloc(1, sizeof *j);

				j->kind = JOB_REBIND;
				enqueue(a, j);
			}
			snapshot_release(s);
		}
	}
	pump(a);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct alerter *a = arg;

	(void)fd;
	(void)what;
	a->build_wait = false;
	pump(a);
}

static void
state_cb(struct pgc *c, bool ready, void *arg)
{
	struct alerter *a = arg;

	(void)c;
	if (ready) {
		a->build_wait = false;
		pump(a);
	}
}

struct alerter *
alerter_new(struct event_base *base, const struct alerter_config *cfg, struct directory *d,
    struct rulesd *rd, struct writer *w)
{
	struct alerter *a = xcalloc(1, sizeof *a);
	struct timeval tv = {TICK_SECONDS, 0};

	a->base = base;
	a->cfg = *cfg;
	if (a->cfg.answer_timeout_ms <= 0)
		a->cfg.answer_timeout_ms = 2000;
	if (a->cfg.store_chunk == 0)
		a->cfg.store_chunk = 5000;
	a->dir = d;
	a->rd = rd;
	a->writer = w;
	a->pcfg = (struct pgc_config){
	    .conninfo = cfg->conninfo,
	    .name = "alerter",
	    .prepared = prepared,
	    .nprepared = sizeof prepared / sizeof prepared[0],
	    .connect_timeout_ms = 5000,
	    .on_state = state_cb,
	    .arg = a,
	};
	a->pgc = pgc_new(base, &a->pcfg);
	a->tick = event_new(base, -1, EV_PERSIST, tick_cb, a);
	event_add(a->tick, &tv);
	a->retry = evtimer_new(base, retry_cb, a);
	a->step_ev = evtimer_new(base, step_cb, a);
	writer_set_observer(w, observe, a);
	return a;
}

void
alerter_free(struct alerter *a)
{
	struct ajob *j;

	if (a == NULL)
		return;
	writer_set_observer(a->writer, NULL, NULL);
	event_free(a->tick);
	event_free(a->retry);
	event_free(a->step_ev); /* a pass under way is abandoned with the engine */
	a->closing = true;
	pgc_free(a->pgc); /* fails the job in flight: its callback finishes it */
	a->pgc = NULL;
	if (a->cur != NULL) {
		j = a->cur;
		a->cur = NULL;
		job_free(j);
	}
	while ((j = a->head) != NULL) {
		a->head = j->next;
		job_free(j);
	}
	free(a->keys);
	free(a->shas);
	engine_out_free(&a->out);
	engine_free(a->eng);
	if (a->snap != NULL)
		snapshot_release(a->snap);
	free(a);
}

void
alerter_set_stored_cb(struct alerter *a, void (*cb)(void *), void *arg)
{
	a->stored_cb = cb;
	a->stored_arg = arg;
}

bool
alerter_ready(const struct alerter *a)
{
	return a->built && pgc_ready(a->pgc);
}

void
alerter_gauges(const struct alerter *a, struct stats_gauges *g)
{
	struct engine_counts c = {0};
	size_t queued_jobs = 0;

	if (a->eng != NULL)
		engine_counts(a->eng, &c);
	for (const struct ajob *j = a->head; j != NULL; j = j->next)
		queued_jobs++;
	g->alerts_ready = alerter_ready(a);
	g->alerts_firing = c.firing;
	g->alert_jobs_queued = queued_jobs;
	g->engine_figures = c.items;
	g->alert_changes = a->changes;
	g->alert_stores = a->stores;
	g->alert_store_failures = a->store_failures;
	g->alert_early_answers = a->early_answers;
	g->alert_store_seconds = a->store_seconds;
}
