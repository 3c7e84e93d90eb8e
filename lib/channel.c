/*
 * channel.c: see channel.h. Blocking libpq for the CLI; the test send runs
 * httpc on an event base of its own until its one answer arrives.
 */
#include "channel.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpc.h"
#include "migrate.h"
#include "util.h"

/* Delivery ids of test messages: "test-<channel>-<unix time>". */
#define TEST_ID_MAX 64
/* A test alert pushed to Alertmanager resolves itself after this long. */
#define TEST_AM_HORIZON_S 300

int
channel_rate_default(enum notify_channel ch)
{
	switch (ch) {
	case NOTIFY_CH_WECOM:
	case NOTIFY_CH_DINGTALK:
		return 20;
	case NOTIFY_CH_WEBHOOK:
		return 60;
	case NOTIFY_CH_ALERTMANAGER:
	case NOTIFY_CH_COUNT:
		break;
	}
	return 0;
}

char *
channel_url_redact(const char *url)
{
	const char *sep = strstr(url, "://"), *auth, *at, *end;
	struct buf b;

	if (sep == NULL || sep == url)
		return xstrdup("-");
	auth = sep + 3;
	end = auth + strcspn(auth, "/?#");
	/* The userinfo ends at the authority's last '@'. */
	at = NULL;
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	buf_init(&b);
	buf_append(&b, url, (size_t)(auth - url));
	if (at != NULL)
		auth = at + 1;
	buf_append(&b, auth, (size_t)(end - auth));
	buf_append(&b, end, strcspn(end, "?#"));
	return buf_steal(&b);
}

int
channel_add_db(
    PGconn *conn, const struct channel_spec *spec, int *id, int64_t *start_event_id, char **cause)
{
	/* One statement: the max is read in the same snapshot as the insert. */
	static const char sql[] =
	    "INSERT INTO edumon.channel (unit_id, kind, name, url, secret, min_severity,"
	    " subunits, allow_private, rate_per_min, start_event_id)"
	    " SELECT u.id, $2, $3, $4, $5, $6, $7::boolean, $8::boolean, $9::int,"
	    " (SELECT coalesce(max(e.id), 0) FROM edumon.alert_event e)"
	    " FROM edumon.org_unit u WHERE u.code = $1"
	    " RETURNING id, start_event_id";
	const char *kind = notify_channel_name(spec->kind);
	int rate = spec->rate_per_min >= 0 ? spec->rate_per_min : channel_rate_default(spec->kind);
	char ratetext[16], state[6], *why = NULL;
	const char *params[9];
	PGresult *res;

	snprintf(ratetext, sizeof ratetext, "%d", rate);
	params[0] = spec->unit_code;
	params[1] = kind;
	params[2] = spec->name != NULL ? spec->name : kind;
	params[3] = spec->url;
	params[4] = spec->secret;
	params[5] = severity_name(spec->min_severity);
	params[6] = spec->subunits ? "true" : "false";
	params[7] = spec->allow_private ? "true" : "false";
	params[8] = ratetext;
	res = migrate_query(conn, "add channel", sql, 9, params, state, &why);
	if (res == NULL) {
		if (strcmp(state, "23505") == 0) {
			*cause = xasprintf("unit %s already has a channel named \"%s\" (choose "
			                   "another with --name)",
			    spec->unit_code, params[2]);
			free(why);
		} else
			*cause = why;
		return -1;
	}
	if (PQntuples(res) != 1) {
		*cause = xasprintf(
		    "no unit with code %s (import it with edumon schools import)", spec->unit_code);
		PQclear(res);
		return -1;
	}
	*id = atoi(PQgetvalue(res, 0, 0));
	*start_event_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return 0;
}

PGresult *
channel_list_db(PGconn *conn, const char *unit_code, bool all, char **cause)
{
	static const char sql[] =
	    "SELECT c.id, u.code AS unit, c.kind, c.name, c.min_severity,"
	    " CASE WHEN c.subunits THEN 'yes' ELSE 'no' END AS subunits, c.rate_per_min AS rate,"
	    " c.url, date_trunc('second', c.created_at)::text AS created,"
	    " date_trunc('second', c.removed_at)::text AS removed,"
	    " count(*) FILTER (WHERE n.state = 'pending') AS pending,"
	    " count(*) FILTER (WHERE n.state = 'failed') AS failed,"
	    " count(*) FILTER (WHERE n.state = 'delivered') AS delivered,"
	    " count(*) FILTER (WHERE n.state = 'silenced') AS silenced"
	    " FROM edumon.channel c JOIN edumon.org_unit u ON u.id = c.unit_id"
	    " LEFT JOIN edumon.notification n ON n.channel_id = c.id"
	    " WHERE ($1::text IS NULL OR u.code = $1::text)"
	    " AND ($2::boolean OR c.removed_at IS NULL)"
	    " GROUP BY c.id, u.code ORDER BY c.id";
	const char *params[2] = {unit_code, all ? "true" : "false"};

	if (unit_code != NULL && migrate_code_id(conn, "unit", unit_code, cause) < 0)
		return NULL;
	return migrate_query(conn, "list channels", sql, 2, params, NULL, cause);
}

int
channel_remove_db(PGconn *conn, long long id, bool *already, char **cause)
{
	static const char sql[] = "WITH done AS (UPDATE edumon.channel SET removed_at = now()"
	                          " WHERE id = $1::int AND removed_at IS NULL RETURNING id)"
	                          " SELECT (SELECT count(*) FROM done), c.removed_at IS NOT NULL"
	                          " FROM edumon.channel c WHERE c.id = $1::int";
	char idtext[24];
	const char *params[1] = {idtext};
	PGresult *res;

	snprintf(idtext, sizeof idtext, "%lld", id);
	res = migrate_query(conn, "remove channel", sql, 1, params, NULL, cause);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		*cause = xasprintf("no channel with id %lld", id);
		PQclear(res);
		return -1;
	}
	/* The outer query sees the row as it was before the update. */
	*already = strcmp(PQgetvalue(res, 0, 0), "0") == 0;
	PQclear(res);
	return 0;
}

PGresult *
channel_notifications_db(PGconn *conn, const struct notification_filter *f, char **cause)
{
	static const char sql[] =
	    "SELECT n.id, n.channel_id AS channel, n.alert_id AS alert, n.rule_id AS rule,"
	    " n.unit_code AS unit, n.period, n.kind AS event, n.severity, n.state, n.attempts,"
	    " n.last_status AS status, n.last_error AS error,"
	    " date_trunc('second', n.created_at)::text AS created,"
	    " date_trunc('second', n.last_attempt_at)::text AS last_attempt,"
	    " date_trunc('second', n.done_at)::text AS done"
	    " FROM edumon.v_notification n"
	    " WHERE ($1::text[] IS NULL OR n.state = ANY ($1::text[]))"
	    " AND ($2::int IS NULL OR n.channel_id = $2::int)"
	    " ORDER BY n.created_at DESC, n.id DESC LIMIT $3::int";
	char chan[24], limit[16];
	const char *params[3];

	params[0] = f->failed && f->pending ? "{failed,pending}"
	            : f->failed             ? "{failed}"
	            : f->pending            ? "{pending}"
	                                    : NULL;
	snprintf(chan, sizeof chan, "%lld", f->channel);
	params[1] = f->channel > 0 ? chan : NULL;
	snprintf(limit, sizeof limit, "%d", f->limit);
	params[2] = limit;
	return migrate_query(conn, "list notifications", sql, 3, params, NULL, cause);
}

/* ---- channel test ---- */

/* What came back for the one request of a test. */
struct test_answer {
	bool done;
	long status;
	enum httpc_fail fail;
	char *error;
	char *body;
	size_t body_len;
	double elapsed;
};

static void
test_done_cb(const struct httpc_response *r, void *arg)
{
	struct test_answer *a = arg;

	a->done = true;
	a->status = r->status;
	a->fail = r->fail;
	a->error = r->error != NULL ? xstrdup(r->error) : NULL;
	a->body = xstrndup(r->body, r->body_len);
	a->body_len = r->body_len;
	a->elapsed = r->elapsed;
}

/* The channel row a test sends through. */
enum test_col {
	TC_KIND,
	TC_URL,
	TC_SECRET,
	TC_PRIVATE,
	TC_CODE,
	TC_NAME,
	TC_UNIT_KIND,
	TC_REMOVED
};

/*
 * The request for ev through the channel: *url (new), headers into *h and
 * a new body. -1 with *cause if the delivery id is refused.
 */
static char *
test_request(enum notify_channel ch, const char *url, const char *secret,
    const struct notify_event *ev, const char *delivery_id, time_t now, char **out_url,
    struct notify_headers *h, char **cause)
{
	char *body = NULL;
	size_t ulen;

	h->n = 1;
	h->h[0].name = "Content-Type";
	snprintf(h->h[0].value, sizeof h->h[0].value, "application/json");
	switch (ch) {
	case NOTIFY_CH_WEBHOOK:
		body = notify_webhook_body(ev, 1, "edumon-test", delivery_id, NULL);
		if (notify_webhook_headers(secret, now, delivery_id, body, strlen(body), h, cause) <
		    0) {
			free(body);
			return NULL;
		}
		*out_url = xstrdup(url);
		break;
	case NOTIFY_CH_WECOM:
		body = notify_wecom_body(ev, 1, NOTIFY_DIGEST_UNITS);
		*out_url = xstrdup(url);
		break;
	case NOTIFY_CH_DINGTALK:
		body = notify_dingtalk_body(ev, 1, NOTIFY_DIGEST_UNITS);
		*out_url = notify_dingtalk_url(url, secret, (int64_t)now * 1000);
		break;
	case NOTIFY_CH_ALERTMANAGER:
		body = notify_alertmanager_body(ev, 1, now, TEST_AM_HORIZON_S);
		ulen = strlen(url);
		while (ulen > 0 && url[ulen - 1] == '/')
			ulen--;
		*out_url = xasprintf("%.*s/api/v2/alerts", (int)ulen, url);
		break;
	case NOTIFY_CH_COUNT:
		abort();
	}
	return body;
}

/* The verdict line on an answer; 0 delivered, 1 not. */
static int
test_verdict(enum notify_channel ch, const struct test_answer *a, char **result)
{
	enum notify_outcome o;
	char *msg = NULL;

	if (a->status == 0) {
		*result = xasprintf("failed: %s: %s", httpc_fail_name(a->fail),
		    a->error != NULL ? a->error : "no answer");
		return 1;
	}
	o = notify_http_outcome((int)a->status);
	if (o != NOTIFY_OK) {
		*result = xasprintf("failed: HTTP %ld (%s)%s%.200s", a->status,
		    o == NOTIFY_RETRY ? "the dispatcher would retry"
		                      : "the dispatcher would give up",
		    a->body_len > 0 ? ": " : "", a->body);
		return 1;
	}
	o = notify_robot_reply(ch, a->body, a->body_len, &msg);
	if (o != NOTIFY_OK) {
		*result = xasprintf("failed: HTTP %ld, %s", a->status,
		    msg != NULL ? msg : "the reply is not a success");
		free(msg);
		return 1;
	}
	free(msg);
	*result = xasprintf("delivered: HTTP %ld in %.3f s", a->status, a->elapsed);
	return 0;
}

int
channel_test_db(PGconn *conn, long long id, char **result, char **cause)
{
	static const char sql[] =
	    "SELECT c.kind, c.url, c.secret, c.allow_private, u.code, u.name, u.kind,"
	    " c.removed_at IS NOT NULL"
	    " FROM edumon.channel c JOIN edumon.org_unit u ON u.id = c.unit_id WHERE c.id = "
	    "$1::int";
	char idtext[24], delivery_id[TEST_ID_MAX], period[16], *url = NULL, *body = NULL;
	const char *params[1] = {idtext};
	struct httpc_config cfg;
	struct notify_headers nh;
	struct httpc_header hh[NOTIFY_MAX_HEADERS];
	struct test_answer ans;
	struct notify_event ev;
	struct event_base *base = NULL;
	struct httpc *h = NULL;
	enum notify_channel ch;
	time_t now = time(NULL);
	struct tm tm;
	PGresult *res;
	int rc = -1;

	memset(&ans, 0, sizeof ans);
	snprintf(idtext, sizeof idtext, "%lld", id);
	res = migrate_query(conn, "find channel", sql, 1, params, NULL, cause);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		*cause = xasprintf("no channel with id %lld", id);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, TC_REMOVED), "t") == 0) {
		*cause = xasprintf("channel %lld was removed", id);
		goto out;
	}
	if (notify_channel_parse(PQgetvalue(res, 0, TC_KIND), &ch) < 0) {
		*cause =
		    xasprintf("channel %lld: unknown kind %s", id, PQgetvalue(res, 0, TC_KIND));
		goto out;
	}

	localtime_r(&now, &tm);
	strftime(period, sizeof period, "%Y-%m", &tm);
	memset(&ev, 0, sizeof ev);
	ev.fingerprint = "0000000000000000000000000000000000000000000000000000000000000000";
	ev.rule_id = "test";
	ev.title = "测试消息";
	ev.kind = NOTIFY_FIRED;
	ev.severity = SEV_WARNING;
	ev.unit_code = PQgetvalue(res, 0, TC_CODE);
	ev.unit_name = PQgetvalue(res, 0, TC_NAME);
	ev.unit_kind = PQgetvalue(res, 0, TC_UNIT_KIND);
	ev.period = period;
	ev.op = OP_GT;
	ev.message = "这是一条来自 edumon 的测试消息";
	ev.fired_at = now;
	snprintf(delivery_id, sizeof delivery_id, "test-%lld-%lld", id, (long long)now);
	body = test_request(ch, PQgetvalue(res, 0, TC_URL),
	    PQgetisnull(res, 0, TC_SECRET) ? NULL : PQgetvalue(res, 0, TC_SECRET), &ev, delivery_id,
	    now, &url, &nh, cause);
	if (body == NULL)
		goto out;
	for (size_t i = 0; i < nh.n; i++)
		hh[i] = (struct httpc_header){nh.h[i].name, nh.h[i].value};

	memset(&cfg, 0, sizeof cfg);
	cfg.allow_private = strcmp(PQgetvalue(res, 0, TC_PRIVATE), "t") == 0;
	cfg.user_agent = "edumon-channel-test";
	if ((base = event_base_new()) == NULL || (h = httpc_new(base, &cfg)) == NULL) {
		*cause = xstrdup("cannot set up the HTTP client");
		goto out;
	}
	if (httpc_post(h, url, hh, nh.n, body, strlen(body), test_done_cb, &ans) < 0) {
		*cause = xasprintf("channel %lld: the HTTP client refused the request", id);
		goto out;
	}
	/* httpc answers from the loop; 1 would mean nothing is left to wait for. */
	while (!ans.done)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	if (!ans.done) {
		*cause = xstrdup("the event loop failed before an answer came");
		goto out;
	}
	rc = test_verdict(ch, &ans, result);
out:
	httpc_free(h);
	if (base != NULL)
		event_base_free(base);
	PQclear(res);
	free(url);
	free(body);
	free(ans.error);
	free(ans.body);
	return rc;
}
