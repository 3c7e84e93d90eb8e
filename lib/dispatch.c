/*
 * dispatch.c: see dispatch.h.
 *
 * One cycle at a time runs on the connection: fan out (repeated while a
 * full batch came back), reminders when due, then the channel list, from
 * which each channel's claim and Alertmanager re-push start as jobs of
 * their own. A channel has at most one message in flight: claim -> POST ->
 * record, then the next. pgc answers jobs in submission order, so a claim
 * never sees rows a record job before it has not yet updated.
 */
#include "dispatch.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alertsql.h"
#include "catalog.h"
#include "directory.h"
#include "httpc.h"
#include "log.h"
#include "notify.h"
#include "pgc.h"
#include "ratelimit.h"
#include "registry.h"
#include "ruleeval.h"
#include "rules.h"
#include "rulesd.h"
#include "stats.h"
#include "util.h"

#define FANOUT_BATCH 5000
#define REMIND_BATCH 5000
#define AM_BATCH 500

/* The alert columns of every rendering query, from column `base` on. */
enum {
	C_ALERT, C_FP, C_RULE, C_TITLE, C_UNIT, C_METRIC, C_PERIOD, C_VALUE, C_BOUND, C_OP,
	C_MESSAGE, C_FIRED, C_RESOLVED, C_LABELS, C_SEVERITY, C_NCOLS
};

#define SEV_RANK(x) "array_position(ARRAY['info','warning','critical'], " x ")"

static const char sql_fanout[] =
    "WITH cur AS (SELECT last_event_id FROM edumon.delivery_cursor FOR UPDATE),"
    " ev AS (SELECT e.id, e.alert_unit_id, e.alert_id, e.kind, e.severity"
    " FROM edumon.alert_event e, cur WHERE e.id > cur.last_event_id ORDER BY e.id LIMIT $1),"
    /* Each alert unit's chain is walked once, then joined to the channels. */
    " chain AS (SELECT u.unit_id, x.ancestor_id, x.crossed"
    " FROM (SELECT DISTINCT alert_unit_id AS unit_id FROM ev) u,"
    " LATERAL edumon.unit_chain(u.unit_id) x),"
    " m AS (SELECT c.id AS channel_id, ev.id AS event_id, ev.alert_unit_id, ev.alert_id,"
    " ev.kind, ev.severity,"
    " edumon.silence_for(a.unit_id, a.rule_id, a.metric_id, a.rule_sha256, now()) AS sid"
    " FROM ev JOIN edumon.alert a ON a.unit_id = ev.alert_unit_id AND a.id = ev.alert_id"
    " JOIN chain ON chain.unit_id = ev.alert_unit_id"
    " JOIN edumon.channel c ON c.unit_id = chain.ancestor_id"
    " AND (c.subunits OR NOT chain.crossed) AND c.removed_at IS NULL"
    " AND ev.id > c.start_event_id"
    " AND " SEV_RANK("ev.severity") " >= " SEV_RANK("c.min_severity")
    " WHERE ev.kind <> 'acknowledged'),"
    " ins AS (INSERT INTO edumon.notification (channel_id, event_id, alert_unit_id, alert_id,"
    " kind, severity, state, silence_id, done_at)"
    " SELECT channel_id, event_id, alert_unit_id, alert_id, kind, severity,"
    " CASE WHEN sid IS NULL THEN 'pending' ELSE 'silenced' END, sid,"
    " CASE WHEN sid IS NOT NULL THEN now() END"
    " FROM m ORDER BY event_id, channel_id RETURNING state),"
    " up AS (UPDATE edumon.delivery_cursor SET last_event_id = (SELECT max(id) FROM ev),"
    " updated_at = now() WHERE EXISTS (SELECT 1 FROM ev) RETURNING 1)"
    " SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM ins WHERE state = 'pending'),"
    " (SELECT count(*) FROM ins WHERE state = 'silenced'), (SELECT count(*) FROM up)";


/*
 * Reminders, in two steps. First the candidates: firing, unacknowledged
 * alerts whose last event (fired, escalated, a reminder...) is older than
 * the interval, and that some channel would carry. The last event, not
 * updated_at: a firing figure refreshed by corrections moves updated_at
 * without telling anyone. Coverage is edumon.channel_units() (0007), one
 * walk down from the channels rather than one up per alert. The search
 * visits every long-firing alert each time, so it runs without the event
 * lock; the insert then takes the lock (alertsql.h) for the candidates
 * still firing and unacknowledged.
 */
static const char sql_remind_candidates[] =
    "SELECT a.unit_id, a.id FROM edumon.alert a"
    " JOIN edumon.channel_units() cu ON cu.unit_id = a.unit_id"
    " WHERE a.state = 'firing' AND a.acked_at IS NULL"
    " AND " SEV_RANK("a.severity") " >= " SEV_RANK("cu.min_severity")
    " AND a.fired_at < now() - $1::bigint * interval '1 second'"
    " AND coalesce((SELECT e.at FROM edumon.alert_event e WHERE e.alert_unit_id = a.unit_id"
    " AND e.alert_id = a.id ORDER BY e.id DESC LIMIT 1), '-infinity')"
    " < now() - $1::bigint * interval '1 second'"
    " ORDER BY a.id LIMIT " STR(REMIND_BATCH);

static const char sql_remind[] =
    "INSERT INTO edumon.alert_event (alert_unit_id, alert_id, kind, severity, value, bound)"
    " SELECT a.unit_id, a.id, 'reminder', a.severity, a.value, a.bound"
    " FROM unnest($1::int[], $2::bigint[]) AS k(unit_id, id)"
    " JOIN edumon.alert a ON a.unit_id = k.unit_id AND a.id = k.id"
    " WHERE a.state = 'firing' AND a.acked_at IS NULL ORDER BY a.id";

static const char sql_drop_removed[] =
    "UPDATE edumon.notification SET state = 'failed', done_at = now(),"
    " last_error = 'channel removed'"
    " WHERE state = 'pending' AND channel_id IN"
    " (SELECT id FROM edumon.channel WHERE removed_at IS NOT NULL)";

static const char sql_channels[] =
    "SELECT c.id, c.kind, c.name, c.url, c.secret, c.allow_private, c.rate_per_min,"
    " c.unit_id, c.subunits, c.min_severity, coalesce(p.n, 0),"
    " coalesce(extract(epoch FROM now() - p.oldest) * 1000, 0)::bigint,"
    " coalesce(extract(epoch FROM p.next_due - now()) * 1000, 0)::bigint"
    " FROM edumon.channel c LEFT JOIN (SELECT channel_id, count(*) AS n,"
    " min(created_at) AS oldest, min(next_attempt_at) AS next_due"
    " FROM edumon.notification WHERE state = 'pending' GROUP BY channel_id) p"
    " ON p.channel_id = c.id WHERE c.removed_at IS NULL ORDER BY c.id";

/*
 * Claim: the notification columns (id, kind, attempts, first attempt or
 * now, now, in ms), then the alert's from column 5. The earliest first
 * attempt of the rows claimed is taken in C: a window function here would
 * be computed over every pending row of the channel before the LIMIT.
 */
#define CLAIM_BASE 5
static const char sql_claim[] =
    "SELECT n.id, n.kind, n.attempts,"
    " (extract(epoch FROM coalesce(n.first_attempt_at, now())) * 1000)::bigint,"
    " (extract(epoch FROM now()) * 1000)::bigint, a.id, a.fingerprint, a.rule_id, a.title,"
    " a.unit_id, a.metric_id, a.period, e.value, e.bound, a.op, a.message,"
    " extract(epoch FROM a.fired_at)::bigint,"
    " CASE WHEN n.kind = 'resolved' THEN extract(epoch FROM e.at)::bigint END,"
    " r.definition -> 'labels', n.severity"
    " FROM edumon.notification n"
    " JOIN edumon.alert_event e ON e.alert_unit_id = n.alert_unit_id AND e.id = n.event_id"
    " JOIN edumon.alert a ON a.unit_id = n.alert_unit_id AND a.id = n.alert_id"
    " LEFT JOIN edumon.rule r ON r.id = a.rule_id AND r.sha256 = a.rule_sha256"
    " WHERE n.channel_id = $1 AND n.state = 'pending' AND n.next_attempt_at <= now()"
    " ORDER BY n.id LIMIT $2";

static const char sql_record[] =
    "UPDATE edumon.notification SET state = $3, attempts = attempts + 1,"
    " first_attempt_at = coalesce(first_attempt_at, now()), last_attempt_at = now(),"
    " next_attempt_at = now() + $4::bigint * interval '1 millisecond',"
    " done_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END,"
    " last_status = $5::int, last_error = $6, delivery_id = $7"
    " WHERE channel_id = $1 AND id = ANY($2::bigint[]) AND state = 'pending'";

/* Alertmanager re-push: firing alerts the channel covers, keyset by id. */
static const char sql_am_firing[] =
    "SELECT a.id, a.fingerprint, a.rule_id, a.title, a.unit_id, a.metric_id, a.period,"
    " a.value, a.bound, a.op, a.message, extract(epoch FROM a.fired_at)::bigint, NULL,"
    " r.definition -> 'labels', a.severity"
    " FROM edumon.alert a"
    " LEFT JOIN edumon.rule r ON r.id = a.rule_id AND r.sha256 = a.rule_sha256"
    " WHERE a.state = 'firing' AND a.id > $4"
    " AND " SEV_RANK("a.severity") " >= " SEV_RANK("$3")
    " AND edumon.channel_covers($1, $2, a.unit_id)"
    " AND edumon.silence_for(a.unit_id, a.rule_id, a.metric_id, a.rule_sha256, now()) IS NULL"
    " ORDER BY a.id LIMIT " STR(AM_BATCH);

static const struct pgc_prepared prepared[] = {
    {"fanout", sql_fanout},
    {"remind_candidates", sql_remind_candidates},
    {"remind", sql_remind},
    {"drop_removed", sql_drop_removed},
    {"channels", sql_channels},
    {"claim", sql_claim},
    {"record", sql_record},
    {"am_firing", sql_am_firing},
};

/*
 * The dispatcher's own writes (notification rows, the cursor, reminders)
 * are all re-derived after a crash from what the alerter committed durably:
 * a lost cursor move fans the same events out again, a lost "delivered"
 * sends again (at least once), a lost reminder is added again. So they
 * need not wait for the disk, and do not compete with ingest for fsyncs.
 */
static const char *const setup_sql[] = {
    "SET statement_timeout = 60000",
    "SET synchronous_commit = off",
};

/* Cycles start at most this often, however often the alerter nudges. */
#define CYCLE_GAP_US 200000

struct chan {
	int id;
	enum notify_channel kind;
	char *name;
	char *url;
	char *secret;
	bool allow_private;
	int rate_per_min;
	int unit_id;
	bool subunits;
	char min_severity[16];
	struct ratelimit *rl; /* rate_per_min messages a minute, as many at once */
	bool busy;            /* claim, send or record in flight */
	bool am_busy;         /* an Alertmanager re-push in flight */
	int64_t am_next_ms;
	long long am_after;   /* keyset of the re-push in progress */
	bool listed;          /* in the last channel list */
	struct chan *next;
};

struct dispatch {
	struct event_base *base;
	struct dispatch_config cfg;
	struct directory *dir;
	struct rulesd *rd;
	struct pgc_config pcfg;
	struct pgc *pgc;
	struct httpc *http;         /* public receivers only */
	struct httpc *http_private; /* channels with allow_private */
	struct event *timer;
	struct event *kick;         /* a timer: the next cycle, CYCLE_GAP_US after the last */
	int64_t last_cycle_us;
	bool cycling;
	bool again;                 /* nudged during a cycle */
	bool closing;
	int64_t remind_next_ms;
	struct chan *chans;
	/* counters */
	unsigned long long matched, silenced, delivered, failed, messages, retries, reminders;
	unsigned long long send_failures;
	size_t pending;
};

/* A message in flight. */
struct send {
	struct dispatch *p;
	int chan_id;
	long long *ids;
	size_t n;
	int attempt;       /* this attempt's number, 1-based */
	int64_t first_ms;  /* first attempt of these rows (DB clock) */
	int64_t now_ms;    /* DB clock at claim */
	char delivery_id[64];
	bool repush;       /* an Alertmanager re-push: nothing to record */
};

static void cycle(struct dispatch *p);
static void cycle_done(struct dispatch *p);

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct chan *
chan_find(struct dispatch *p, int id)
{
	for (struct chan *c = p->chans; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void
chan_free(struct chan *c)
{
	ratelimit_free(c->rl);
	free(c->name);
	free(c->url);
	free(c->secret);
	free(c);
}

static enum severity
severity_of(const char *s)
{
	for (int v = SEV_INFO; v < SEV_COUNT; v++)
		if (strcmp(s, severity_name((enum severity)v)) == 0)
			return (enum severity)v;
	return SEV_WARNING;
}

static enum cmp_op
op_of(const char *s)
{
	for (int v = 0; v < OP_COUNT; v++)
		if (strcmp(s, cmp_op_name((enum cmp_op)v)) == 0)
			return (enum cmp_op)v;
	return OP_LT;
}

static const char *
col(const PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

/* ---- Rendering ---- */

/* Strings the events of one message point at (besides the PGresult). */
struct render_ctx {
	struct notify_event *ev;
	char (*vals)[2][32];
	char **links;
	struct notify_label **labels;
	size_t n;
};

static void
render_ctx_free(struct render_ctx *rc)
{
	for (size_t i = 0; i < rc->n; i++) {
		free(rc->links[i]);
		free(rc->labels[i]);
	}
	free(rc->ev);
	free(rc->vals);
	free(rc->links);
	free(rc->labels);
}

/*
 * Labels of a rule from its canonical definition's "labels" (JSON text: an
 * array of [key, value] pairs, see rule_canonical), into a new array whose
 * strings point into *json (kept until freed).
 */
static struct notify_label *
parse_labels(const char *text, cJSON **json, size_t *n)
{
	struct notify_label *out;
	const cJSON *it;
	size_t k = 0;

	*n = 0;
	*json = NULL;
	if (text == NULL || (*json = cJSON_Parse(text)) == NULL || !cJSON_IsArray(*json))
		return NULL;
	out = xcalloc((size_t)cJSON_GetArraySize(*json) + 1, sizeof *out);
	cJSON_ArrayForEach(it, *json) {
		const cJSON *key = cJSON_GetArrayItem(it, 0), *value = cJSON_GetArrayItem(it, 1);

		if (cJSON_IsString(key) && cJSON_IsString(value))
			out[k++] = (struct notify_label){key->valuestring, value->valuestring};
	}
	*n = k;
	return out;
}

/*
 * Fill rc with the events of rows [0, nrows) of res, alert columns from
 * `base` on, kind per row from kind_col (-1: fired). Names come from the
 * snapshot s, which must outlive the rendering; labels' JSON trees are
 * collected in *trees (freed by the caller with cJSON_Delete each).
 */
static void
build_events(struct dispatch *p, const struct snapshot *s, const PGresult *res, int base,
    int kind_col, struct render_ctx *rc, cJSON **trees)
{
	const struct ruleset *rs = rulesd_current(p->rd);
	int nrows = PQntuples(res);

	rc->n = (size_t)nrows;
	rc->ev = xcalloc(rc->n + 1, sizeof *rc->ev);
	rc->vals = xcalloc(rc->n + 1, sizeof *rc->vals);
	rc->links = xcalloc(rc->n + 1, sizeof *rc->links);
	rc->labels = xcalloc(rc->n + 1, sizeof *rc->labels);
	for (int i = 0; i < nrows; i++) {
		struct notify_event *e = &rc->ev[i];
		const struct unit *u = registry_by_id(s->registry, atoi(PQgetvalue(res, i, base + C_UNIT)));
		const struct metric *m = catalog_by_id(s->catalog, atoi(PQgetvalue(res, i, base + C_METRIC)));
		const struct unit *dist = u;
		const struct rule *r = rs != NULL ? ruleset_find(rs, PQgetvalue(res, i, base + C_RULE)) : NULL;
		enum metric_kind mk = m != NULL ? m->kind : METRIC_VALUE;
		const char *v;
		size_t nl;

		if (r != NULL)
			mk = rule_value_kind(r, mk);
		while (dist != NULL && dist->kind != UNIT_DISTRICT)
			dist = dist->parent_id != 0 ? registry_by_id(s->registry, dist->parent_id) : NULL;
		e->alert_id = atoll(PQgetvalue(res, i, base + C_ALERT));
		e->fingerprint = PQgetvalue(res, i, base + C_FP);
		e->rule_id = PQgetvalue(res, i, base + C_RULE);
		e->title = PQgetvalue(res, i, base + C_TITLE);
		e->kind = NOTIFY_FIRED;
		if (kind_col >= 0)
			(void)notify_kind_parse(PQgetvalue(res, i, kind_col), &e->kind);
		e->severity = severity_of(PQgetvalue(res, i, base + C_SEVERITY));
		e->unit_code = u != NULL ? u->code : NULL;
		e->unit_name = u != NULL ? u->name : NULL;
		e->unit_kind = u != NULL ? unit_kind_name(u->kind) : NULL;
		e->district_code = dist != NULL ? dist->code : NULL;
		e->district_name = dist != NULL ? dist->name : NULL;
		e->metric_code = m != NULL ? m->code : NULL;
		e->metric_name = m != NULL ? m->name_zh : NULL;
		e->period = PQgetvalue(res, i, base + C_PERIOD);
		if ((v = col(res, i, base + C_VALUE)) != NULL)
			e->value = alert_format_value(mk, strtod(v, NULL), rc->vals[i][0], 32);
		if ((v = col(res, i, base + C_BOUND)) != NULL)
			e->bound = alert_format_value(mk, strtod(v, NULL), rc->vals[i][1], 32);
		e->op = op_of(PQgetvalue(res, i, base + C_OP));
		e->message = PQgetvalue(res, i, base + C_MESSAGE);
		e->fired_at = atoll(PQgetvalue(res, i, base + C_FIRED));
		if ((v = col(res, i, base + C_RESOLVED)) != NULL)
			e->resolved_at = atoll(v);
		if (r != NULL) {
			/* The rule in force: its mirror in edumon.rule may lag. */
			rc->labels[i] = xcalloc(r->nlabels + 1, sizeof *rc->labels[i]);
			for (size_t k = 0; k < r->nlabels; k++)
				rc->labels[i][k] = (struct notify_label){r->labels[k].key,
				    r->labels[k].value};
			nl = r->nlabels;
		} else
			rc->labels[i] = parse_labels(col(res, i, base + C_LABELS), &trees[i], &nl);
		e->labels = rc->labels[i];
		e->nlabels = nl;
		if (p->cfg.external_url != NULL) {
			rc->links[i] = xasprintf("%s/v1/alerts/%lld", p->cfg.external_url, e->alert_id);
			e->link = rc->links[i];
		}
	}
}

/*
 * The URL, body and headers of one message to channel c. Returns 0, or -1
 * with *cause set (caller frees) when the message cannot be made.
 */
static int
render(const struct chan *c, const struct notify_event *ev, size_t n, const char *delivery_id,
    int64_t now_ms, int am_horizon_s, const char *external_url, char **url, char **body,
    struct notify_headers *h, char **cause)
{
	char group[48];

	*url = NULL;
	*body = NULL;
	h->n = 0;
	switch (c->kind) {
	case NOTIFY_CH_WEBHOOK:
		snprintf(group, sizeof group, "{}:{channel=\"%d\"}", c->id);
		*body = notify_webhook_body(ev, n, c->name, group, external_url);
		if (notify_webhook_headers(c->secret != NULL ? c->secret : "", now_ms / 1000,
		        delivery_id, *body, strlen(*body), h, cause) != 0) {
			free(*body);
			*body = NULL;
			return -1;
		}
		*url = xstrdup(c->url);
		return 0;
	case NOTIFY_CH_WECOM:
		*body = notify_wecom_body(ev, n, NOTIFY_DIGEST_UNITS);
		*url = xstrdup(c->url);
		break;
	case NOTIFY_CH_DINGTALK:
		*body = notify_dingtalk_body(ev, n, NOTIFY_DIGEST_UNITS);
		*url = notify_dingtalk_url(c->url, c->secret, now_ms);
		break;
	case NOTIFY_CH_ALERTMANAGER: {
		size_t len = strlen(c->url);

		while (len > 0 && c->url[len - 1] == '/')
			len--;
		*body = notify_alertmanager_body(ev, n, now_ms / 1000, (int64_t)am_horizon_s);
		*url = xasprintf("%.*s/api/v2/alerts", (int)len, c->url);
		break;
	}
	default:
		*cause = xstrdup("unknown channel kind");
		return -1;
	}
	h->n = 1;
	h->h[0].name = "Content-Type";
	snprintf(h->h[0].value, sizeof h->h[0].value, "application/json");
	return 0;
}

/* ---- Recording outcomes ---- */

static void
record_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct send *sd = arg;
	struct dispatch *p = sd->p;
	struct chan *c = chan_find(p, sd->chan_id);

	if (!out->ok && !p->closing)
		log_warn("dispatch: channel %d: recording a delivery failed: %s (the rows stay pending"
		    " and will be sent again)", sd->chan_id, out->error);
	if (c != NULL)
		c->busy = false;
	free(sd->ids);
	free(sd);
	if (!p->closing)
		dispatch_nudge(p);
}

static void
record(struct send *sd, const char *state, int64_t delay_ms, long status, const char *error)
{
	struct dispatch *p = sd->p;
	struct buf ids;
	char chan[16], delay[24], st[16];
	const char *v[7];
	struct pgc_stmt stmt;

	buf_init(&ids);
	buf_putc(&ids, '{');
	for (size_t i = 0; i < sd->n; i++)
		buf_printf(&ids, "%s%lld", i ? "," : "", sd->ids[i]);
	buf_putc(&ids, '}');
	snprintf(chan, sizeof chan, "%d", sd->chan_id);
	snprintf(delay, sizeof delay, "%lld", (long long)delay_ms);
	snprintf(st, sizeof st, "%ld", status);
	v[0] = chan;
	v[1] = ids.data;
	v[2] = state;
	v[3] = delay;
	v[4] = status > 0 ? st : NULL;
	v[5] = error;
	v[6] = sd->delivery_id;
	stmt = (struct pgc_stmt){"record", NULL, 7, v};
	if (p->closing || pgc_submit(p->pgc, &stmt, 1, record_done_cb, sd) != 0) {
		/* The rows stay pending: sent again once the connection is back. */
		struct chan *c = chan_find(p, sd->chan_id);

		if (c != NULL)
			c->busy = false;
		free(sd->ids);
		free(sd);
	}
	buf_free(&ids);
}

static void
send_done_cb(const struct httpc_response *res, void *arg)
{
	struct send *sd = arg;
	struct dispatch *p = sd->p;
	struct chan *c = chan_find(p, sd->chan_id);
	enum notify_outcome o;
	char *why = NULL;
	int64_t retry_after_ms = -1, delay = 0, now = sd->now_ms + (int64_t)(res->elapsed * 1000);
	struct notify_retry_policy pol = {p->cfg.retry_base_ms, p->cfg.retry_cap_ms,
	    p->cfg.retry_horizon_ms};
	uint64_t rnd;

	if (res->fail != HTTPC_FAIL_NONE) {
		o = res->fail == HTTPC_FAIL_URL || res->fail == HTTPC_FAIL_REFUSED ? NOTIFY_FAIL :
		    NOTIFY_RETRY;
		why = xasprintf("%s: %s", httpc_fail_name(res->fail),
		    res->error != NULL ? res->error : "no response");
	} else {
		o = notify_http_outcome((int)res->status);
		if (o == NOTIFY_OK && c != NULL)
			o = notify_robot_reply(c->kind, res->body, res->body_len, &why);
		else if (o != NOTIFY_OK)
			why = xasprintf("HTTP %ld", res->status);
		if (o == NOTIFY_OK) {
			free(why);
			why = NULL;
		}
	}
	if (res->retry_after != NULL) {
		int64_t secs;

		if (notify_retry_after_parse(res->retry_after, now / 1000, &secs) == 0)
			retry_after_ms = secs * 1000;
	}
	if (sd->repush) {
		if (o != NOTIFY_OK && !p->closing) {
			p->send_failures++;
			log_warn("dispatch: channel %d: Alertmanager re-push failed: %s", sd->chan_id,
			    why != NULL ? why : "?");
		}
		free(why);
		free(sd->ids);
		free(sd);
		return;
	}
	if (p->closing) {
		/* Shutting down: the rows stay pending and go out after restart. */
		free(why);
		free(sd->ids);
		free(sd);
		return;
	}
	p->messages++;
	if (o == NOTIFY_OK) {
		p->delivered += sd->n;
		record(sd, "delivered", 0, res->status, NULL);
	} else if (o == NOTIFY_RETRY) {
		random_bytes(&rnd, sizeof rnd);
		if (notify_retry_next(&pol, sd->attempt, sd->first_ms, now, rnd, retry_after_ms,
		        &delay) == 0) {
			p->retries++;
			log_info("dispatch: channel %d (%s): %zu events not delivered (%s); attempt %d,"
			    " next in %.1f s", sd->chan_id, c != NULL ? c->name : "?", sd->n, why,
			    sd->attempt, (double)delay / 1000);
			record(sd, "pending", delay, res->status, why);
		} else {
			p->failed += sd->n;
			log_warn("dispatch: channel %d (%s): gave up on %zu events after %d attempts"
			    " (retry horizon %lld s): %s", sd->chan_id, c != NULL ? c->name : "?", sd->n,
			    sd->attempt, (long long)(p->cfg.retry_horizon_ms / 1000), why);
			record(sd, "failed", 0, res->status, why);
		}
	} else {
		p->failed += sd->n;
		log_warn("dispatch: channel %d (%s): %zu events refused by the receiver, not retried:"
		    " %s", sd->chan_id, c != NULL ? c->name : "?", sd->n, why);
		record(sd, "failed", 0, res->status, why);
	}
	free(why);
}

/* POST one rendered message; takes ownership of sd. */
static void
post(struct dispatch *p, struct chan *c, struct send *sd, const struct notify_event *ev,
    size_t n)
{
	char *url, *body, *cause = NULL;
	struct notify_headers h;
	struct httpc_header hh[NOTIFY_MAX_HEADERS];
	struct httpc *client;

	if (render(c, ev, n, sd->delivery_id, sd->now_ms, 4 * p->cfg.am_resend_s,
	        p->cfg.external_url, &url, &body, &h, &cause) != 0) {
		log_error("dispatch: channel %d: cannot render a message: %s", c->id, cause);
		if (!sd->repush) {
			p->failed += sd->n;
			record(sd, "failed", 0, 0, cause);
		} else {
			free(sd->ids);
			free(sd);
		}
		free(cause);
		return;
	}
	for (size_t i = 0; i < h.n; i++)
		hh[i] = (struct httpc_header){h.h[i].name, h.h[i].value};
	if (c->allow_private) {
		if (p->http_private == NULL)
			p->http_private = httpc_new(p->base, &(struct httpc_config){
			    .total_timeout_ms = p->cfg.http_timeout_ms, .allow_private = true});
		client = p->http_private;
	} else {
		if (p->http == NULL)
			p->http = httpc_new(p->base, &(struct httpc_config){
			    .total_timeout_ms = p->cfg.http_timeout_ms});
		client = p->http;
	}
	if (client == NULL || httpc_post(client, url, hh, h.n, body, strlen(body), send_done_cb,
	        sd) != 0) {
		log_warn("dispatch: channel %d: the HTTP client refused the request; retrying later",
		    c->id);
		if (!sd->repush)
			record(sd, "pending", p->cfg.retry_base_ms, 0, "HTTP client busy");
		else {
			free(sd->ids);
			free(sd);
		}
	}
	free(url);
	free(body);
}

/* ---- Claims ---- */

static void
claim_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct send *sd = arg;
	struct dispatch *p = sd->p;
	struct chan *c = chan_find(p, sd->chan_id);
	PGresult *res = out->ok ? out->results[0] : NULL;
	struct snapshot *s;
	struct render_ctx rc = {0};
	cJSON **trees;
	int n, maxatt = 0;

	if (res == NULL || c == NULL || p->closing || PQntuples(res) == 0) {
		if (!out->ok && !p->closing)
			log_warn("dispatch: channel %d: claim failed: %s", sd->chan_id, out->error);
		if (c != NULL)
			c->busy = false;
		free(sd);
		return;
	}
	if ((s = directory_acquire(p->dir)) == NULL) {
		c->busy = false;
		free(sd);
		return;
	}
	n = PQntuples(res);
	sd->n = (size_t)n;
	sd->ids = xcalloc((size_t)n, sizeof *sd->ids);
	sd->first_ms = INT64_MAX;
	for (int i = 0; i < n; i++) {
		int att = atoi(PQgetvalue(res, i, 2));
		int64_t first = atoll(PQgetvalue(res, i, 3));

		sd->ids[i] = atoll(PQgetvalue(res, i, 0));
		if (att > maxatt)
			maxatt = att;
		if (first < sd->first_ms)
			sd->first_ms = first;
	}
	sd->attempt = maxatt + 1;
	sd->now_ms = atoll(PQgetvalue(res, 0, 4));
	snprintf(sd->delivery_id, sizeof sd->delivery_id, "%d-%lld-%lld", c->id, sd->ids[0],
	    sd->ids[n - 1]);
	trees = xcalloc((size_t)n, sizeof *trees);
	build_events(p, s, res, CLAIM_BASE, 1, &rc, trees);
	post(p, c, sd, rc.ev, rc.n);
	for (int i = 0; i < n; i++)
		cJSON_Delete(trees[i]);
	free(trees);
	render_ctx_free(&rc);
	snapshot_release(s);
}

static void
claim(struct dispatch *p, struct chan *c)
{
	struct send *sd = xcalloc(1, sizeof *sd);
	char id[16], lim[16];
	const char *v[2] = {id, lim};
	struct pgc_stmt st = {"claim", NULL, 2, v};

	snprintf(id, sizeof id, "%d", c->id);
	snprintf(lim, sizeof lim, "%d", p->cfg.max_batch);
	sd->p = p;
	sd->chan_id = c->id;
	c->busy = true;
	if (pgc_submit(p->pgc, &st, 1, claim_done_cb, sd) != 0) {
		c->busy = false;
		free(sd);
	}
}

/* ---- Alertmanager re-push ---- */

static void am_repush(struct dispatch *p, struct chan *c);

static void
am_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct send *sd = arg;
	struct dispatch *p = sd->p;
	struct chan *c = chan_find(p, sd->chan_id);
	PGresult *res = out->ok ? out->results[0] : NULL;
	struct snapshot *s = NULL;
	int n;

	free(sd);
	if (c == NULL || p->closing)
		return;
	if (res == NULL || (s = directory_acquire(p->dir)) == NULL) {
		if (res == NULL)
			log_warn("dispatch: channel %d: reading firing alerts failed: %s", c->id,
			    out->error);
		c->am_busy = false;
		return;
	}
	n = PQntuples(res);
	if (n > 0) {
		struct render_ctx rc = {0};
		cJSON **trees = xcalloc((size_t)n, sizeof *trees);
		struct send *ps = xcalloc(1, sizeof *ps);

		ps->p = p;
		ps->chan_id = c->id;
		ps->repush = true;
		ps->now_ms = wall_ms();
		snprintf(ps->delivery_id, sizeof ps->delivery_id, "%d-repush", c->id);
		build_events(p, s, res, 0, -1, &rc, trees);
		c->am_after = rc.ev[n - 1].alert_id;
		post(p, c, ps, rc.ev, rc.n);
		for (int i = 0; i < n; i++)
			cJSON_Delete(trees[i]);
		free(trees);
		render_ctx_free(&rc);
	}
	snapshot_release(s);
	if (n == AM_BATCH)
		am_repush(p, c); /* the next page */
	else
		c->am_busy = false;
}

static void
am_repush(struct dispatch *p, struct chan *c)
{
	struct send *sd = xcalloc(1, sizeof *sd);
	char unit[16], after[24];
	const char *v[4] = {unit, c->subunits ? "t" : "f", c->min_severity, after};
	struct pgc_stmt st = {"am_firing", NULL, 4, v};

	snprintf(unit, sizeof unit, "%d", c->unit_id);
	snprintf(after, sizeof after, "%lld", c->am_after);
	sd->p = p;
	sd->chan_id = c->id;
	c->am_busy = true;
	if (pgc_submit(p->pgc, &st, 1, am_done_cb, sd) != 0) {
		c->am_busy = false;
		free(sd);
	}
}

/* ---- The cycle ---- */

/* May c send a message now? Takes one from its budget if so. */
static bool
rate_take(struct chan *c)
{
	int wait_s;

	if (c->rate_per_min <= 0)
		return true;
	return ratelimit_take(c->rl, c->id, now_usec(), &wait_s) == 0;
}

/* (Re)make c's rate limiter when its rate is new. */
static void
rate_set(struct chan *c, int rate_per_min)
{
	struct ratelimit_config rc = {rate_per_min, 60LL * 1000000, rate_per_min};

	if (c->rl != NULL && c->rate_per_min == rate_per_min)
		return;
	ratelimit_free(c->rl);
	c->rl = rate_per_min > 0 ? ratelimit_new(&rc) : NULL;
	c->rate_per_min = rate_per_min;
}

static void
channels_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct dispatch *p = arg;
	PGresult *res = out->ok ? out->results[1] : NULL;
	int64_t now = wall_ms();
	struct chan **pp;
	size_t pending = 0;

	if (p->closing)
		return;
	if (res == NULL) {
		log_warn("dispatch: reading channels failed: %s", out->error);
		cycle_done(p);
		return;
	}
	for (struct chan *c = p->chans; c != NULL; c = c->next)
		c->listed = false;
	for (int i = 0; i < PQntuples(res); i++) {
		int id = atoi(PQgetvalue(res, i, 0));
		struct chan *c = chan_find(p, id);
		long long npend = atoll(PQgetvalue(res, i, 10));
		long long age = atoll(PQgetvalue(res, i, 11));
		long long due_in = atoll(PQgetvalue(res, i, 12));
		const char *secret = col(res, i, 4);

		if (c == NULL) {
			c = xcalloc(1, sizeof *c);
			c->id = id;
			c->am_next_ms = now;
			c->next = p->chans;
			p->chans = c;
		}
		c->listed = true;
		if (notify_channel_parse(PQgetvalue(res, i, 1), &c->kind) != 0)
			continue;
		free(c->name);
		free(c->url);
		free(c->secret);
		c->name = xstrdup(PQgetvalue(res, i, 2));
		c->url = xstrdup(PQgetvalue(res, i, 3));
		c->secret = secret != NULL ? xstrdup(secret) : NULL;
		c->allow_private = PQgetvalue(res, i, 5)[0] == 't';
		rate_set(c, atoi(PQgetvalue(res, i, 6)));
		c->unit_id = atoi(PQgetvalue(res, i, 7));
		c->subunits = PQgetvalue(res, i, 8)[0] == 't';
		snprintf(c->min_severity, sizeof c->min_severity, "%s", PQgetvalue(res, i, 9));
		pending += (size_t)npend;
		if (npend > 0 && !c->busy && due_in <= 0 && age >= p->cfg.group_wait_ms &&
		    rate_take(c))
			claim(p, c);
		if (c->kind == NOTIFY_CH_ALERTMANAGER && !c->am_busy && now >= c->am_next_ms) {
			c->am_next_ms = now + (int64_t)p->cfg.am_resend_s * 1000;
			c->am_after = 0;
			am_repush(p, c);
		}
	}
	p->pending = pending;
	/* Forget removed channels with nothing in flight. */
	for (pp = &p->chans; *pp != NULL;) {
		struct chan *c = *pp;

		if (!c->listed && !c->busy && !c->am_busy) {
			*pp = c->next;
			chan_free(c);
		} else
			pp = &c->next;
	}
	cycle_done(p);
}

static void
list_channels(struct dispatch *p)
{
	struct pgc_stmt st[2] = {{"drop_removed", NULL, 0, NULL}, {"channels", NULL, 0, NULL}};

	if (pgc_submit(p->pgc, st, 2, channels_done_cb, p) != 0)
		cycle_done(p);
}

static void fanout(struct dispatch *p);
static void remind_done_cb(const struct pgc_outcome *out, void *arg);

/* The candidates are known: add their reminders under the event lock. */
static void
remind_candidates_cb(const struct pgc_outcome *out, void *arg)
{
	struct dispatch *p = arg;
	struct buf units, ids;
	const char *v[2];
	struct pgc_stmt st[2];
	PGresult *res;
	int n;

	if (p->closing)
		return;
	if (!out->ok) {
		log_warn("dispatch: finding alerts to remind of failed: %s", out->error);
		list_channels(p);
		return;
	}
	res = out->results[0];
	if ((n = PQntuples(res)) == 0) {
		list_channels(p);
		return;
	}
	buf_init(&units);
	buf_init(&ids);
	for (int i = 0; i < n; i++) {
		buf_pg_array_sep(&units, (size_t)i);
		buf_puts(&units, PQgetvalue(res, i, 0));
		buf_pg_array_sep(&ids, (size_t)i);
		buf_puts(&ids, PQgetvalue(res, i, 1));
	}
	buf_pg_array_end(&units, (size_t)n);
	buf_pg_array_end(&ids, (size_t)n);
	v[0] = units.data;
	v[1] = ids.data;
	st[0] = (struct pgc_stmt){NULL, ALERT_SQL_EVENT_LOCK, 0, NULL};
	st[1] = (struct pgc_stmt){"remind", NULL, 2, v};
	if (pgc_submit(p->pgc, st, 2, remind_done_cb, p) != 0)
		cycle_done(p);
	buf_free(&units);
	buf_free(&ids);
}

static void
remind_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct dispatch *p = arg;
	long n;

	if (p->closing)
		return;
	if (!out->ok) {
		log_warn("dispatch: adding reminders failed: %s", out->error);
		list_channels(p);
		return;
	}
	n = atol(PQcmdTuples(out->results[1]));
	if (n > 0) {
		p->reminders += (unsigned long long)n;
		log_info("dispatch: %ld reminders for firing alerts nobody acknowledged", n);
		if (n == REMIND_BATCH)
			p->remind_next_ms = 0; /* more at once */
		fanout(p);
		return;
	}
	list_channels(p);
}

static void
remind(struct dispatch *p)
{
	char secs[24];
	const char *v[1] = {secs};
	struct pgc_stmt st = {"remind_candidates", NULL, 1, v};
	long every = p->cfg.remind_interval_s / 10;

	if (every < 1)
		every = 1;
	if (every > 60)
		every = 60;
	p->remind_next_ms = wall_ms() + every * 1000;
	snprintf(secs, sizeof secs, "%ld", p->cfg.remind_interval_s);
	if (pgc_submit(p->pgc, &st, 1, remind_candidates_cb, p) != 0)
		cycle_done(p);
}

static void
fanout_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct dispatch *p = arg;
	long long nev, npend, nsil;

	if (p->closing)
		return;
	if (!out->ok) {
		log_warn("dispatch: matching events to channels failed: %s", out->error);
		cycle_done(p);
		return;
	}
	nev = atoll(PQgetvalue(out->results[0], 0, 0));
	npend = atoll(PQgetvalue(out->results[0], 0, 1));
	nsil = atoll(PQgetvalue(out->results[0], 0, 2));
	p->matched += (unsigned long long)npend;
	p->silenced += (unsigned long long)nsil;
	if (nev == FANOUT_BATCH) {
		fanout(p);
		return;
	}
	if (p->cfg.remind_interval_s > 0 && wall_ms() >= p->remind_next_ms)
		remind(p);
	else
		list_channels(p);
}

static void
fanout(struct dispatch *p)
{
	static const char *const v[1] = {STR(FANOUT_BATCH)};
	struct pgc_stmt st = {"fanout", NULL, 1, v};

	if (pgc_submit(p->pgc, &st, 1, fanout_done_cb, p) != 0)
		cycle_done(p);
}

static void
cycle(struct dispatch *p)
{
	if (p->cycling || p->closing || !pgc_ready(p->pgc))
		return;
	p->cycling = true;
	p->again = false;
	p->last_cycle_us = now_usec();
	fanout(p);
}

/* Run a cycle soon: at once, or CYCLE_GAP_US after the last one began. */
static void
kick(struct dispatch *p)
{
	int64_t wait = p->last_cycle_us + CYCLE_GAP_US - now_usec();
	struct timeval tv = {0, 0};

	if (evtimer_pending(p->kick, NULL))
		return;
	if (wait > 0)
		tv = (struct timeval){(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
	evtimer_add(p->kick, &tv);
}

static void
cycle_done(struct dispatch *p)
{
	p->cycling = false;
	if (p->again)
		kick(p);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cycle(arg);
}

static void
state_cb(struct pgc *c, bool ready, void *arg)
{
	struct dispatch *p = arg;

	(void)c;
	if (!ready) {
		/* Jobs in flight failed; their callbacks cleared what they held. */
		p->cycling = false;
		return;
	}
	cycle(p);
}

void
dispatch_nudge(struct dispatch *p)
{
	if (p == NULL || p->closing)
		return;
	if (p->cycling)
		p->again = true;
	else
		kick(p);
}

struct dispatch *
dispatch_new(struct event_base *base, const struct dispatch_config *cfg, struct directory *d,
    struct rulesd *rd)
{
	struct dispatch *p = xcalloc(1, sizeof *p);
	struct timeval tv;
	int poll_ms;

	p->base = base;
	p->cfg = *cfg;
	if (p->cfg.group_wait_ms <= 0)
		p->cfg.group_wait_ms = 2000;
	if (p->cfg.retry_base_ms <= 0)
		p->cfg.retry_base_ms = 5000;
	if (p->cfg.retry_cap_ms <= 0)
		p->cfg.retry_cap_ms = 600000;
	if (p->cfg.retry_horizon_ms <= 0)
		p->cfg.retry_horizon_ms = 86400000;
	if (p->cfg.http_timeout_ms <= 0)
		p->cfg.http_timeout_ms = 10000;
	if (p->cfg.am_resend_s <= 0)
		p->cfg.am_resend_s = 60;
	if (p->cfg.max_batch <= 0)
		p->cfg.max_batch = 500;
	if (p->cfg.remind_interval_s < 0)
		p->cfg.remind_interval_s = 0;
	if (p->cfg.external_url != NULL)
		p->cfg.external_url = xstrdup(p->cfg.external_url);
	p->dir = d;
	p->rd = rd;
	p->pcfg = (struct pgc_config){
	    .conninfo = cfg->conninfo,
	    .name = "dispatch",
	    .prepared = prepared,
	    .nprepared = sizeof prepared / sizeof prepared[0],
	    .setup_sql = setup_sql,
	    .nsetup = sizeof setup_sql / sizeof setup_sql[0],
	    .connect_timeout_ms = 5000,
	    .on_state = state_cb,
	    .arg = p,
	};
	/* Poll often enough for the group window, at most once a second. */
	poll_ms = p->cfg.group_wait_ms / 2;
	if (poll_ms < 50)
		poll_ms = 50;
	if (poll_ms > 1000)
		poll_ms = 1000;
	tv = (struct timeval){poll_ms / 1000, (poll_ms % 1000) * 1000};
	p->timer = event_new(base, -1, EV_PERSIST, timer_cb, p);
	event_add(p->timer, &tv);
	p->kick = evtimer_new(base, timer_cb, p);
	p->pgc = pgc_new(base, &p->pcfg);
	return p;
}

void
dispatch_free(struct dispatch *p)
{
	if (p == NULL)
		return;
	p->closing = true;
	event_free(p->timer);
	event_free(p->kick);
	httpc_free(p->http);         /* callbacks see closing: rows stay pending */
	httpc_free(p->http_private);
	pgc_free(p->pgc);            /* fails jobs in flight; callbacks free their state */
	while (p->chans != NULL) {
		struct chan *c = p->chans;

		p->chans = c->next;
		chan_free(c);
	}
	free((char *)p->cfg.external_url);
	free(p);
}

void
dispatch_gauges(const struct dispatch *p, struct stats_gauges *g)
{
	g->notify_ready = pgc_ready(p->pgc);
	g->notify_pending = p->pending;
	g->notify_matched = p->matched;
	g->notify_silenced = p->silenced;
	g->notify_delivered = p->delivered;
	g->notify_failed = p->failed;
	g->notify_messages = p->messages;
	g->notify_retries = p->retries;
	g->notify_reminders = p->reminders;
	g->notify_repush_failures = p->send_failures;
	g->notify_in_flight = (size_t)(p->http != NULL ? httpc_active(p->http) : 0) +
	    (size_t)(p->http_private != NULL ? httpc_active(p->http_private) : 0);
}
