/*
 * channel.h: notification channels, the operator's side (edumon channel
 * ..., edumon notifications list). Adds, lists and removes rows of
 * edumon.channel, lists edumon.v_notification, and sends a test message
 * through a channel now. The daemon's dispatcher (which reads channels and
 * writes notifications) is elsewhere.
 *
 * Everything that talks to the database is blocking libpq, for the CLI
 * only; SQL is parameterised. Errors: 0 on success, -1 with *cause (a
 * one-line message the caller frees).
 *
 * Invariants: a channel's URL and secret are never returned for display:
 * listings carry the URL without userinfo, query or fragment (robot URLs
 * carry their access key in the query); a new channel's start_event_id is
 * the newest alert event when it is added, so it never receives the past.
 */
#ifndef EDUMON_CHANNEL_H
#define EDUMON_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "notify.h"

struct pg_conn;
struct pg_result;

/* Messages a minute a channel of kind ch sends by default: 20 for the
 * robots (their documented limit), 60 for a webhook, 0 (no limit) for
 * Alertmanager. */
int channel_rate_default(enum notify_channel ch);

/*
 * url for display: scheme, host, port and path; userinfo, query and
 * fragment removed ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send"). A
 * string that is not "scheme://..." gives "-". New string; never fails.
 */
char *channel_url_redact(const char *url);

/* A channel to add. Strings are borrowed; name, secret may be NULL. */
struct channel_spec {
	const char *unit_code;
	enum notify_channel kind;
	const char *url;
	const char *name; /* NULL: the kind's name */
	const char *secret;
	enum severity min_severity;
	bool subunits;
	bool allow_private;
	int rate_per_min; /* < 0: channel_rate_default(kind) */
};

/*
 * Insert a channel in one statement, its start_event_id the largest
 * alert_event id at that moment. Refuses an unknown unit code and a name
 * already used on the unit. The URL is not checked here (httpc_check_url
 * is the caller's). *id and *start_event_id get the new row's values.
 */
int channel_add_db(struct pg_conn *conn, const struct channel_spec *spec, int *id,
    int64_t *start_event_id, char **cause);

/*
 * Channels (of unit_code only, when not NULL; removed ones too when all)
 * by id, with counts of their notifications by state. Columns: id, unit,
 * kind, name, min_severity, subunits, rate, url (redact it before
 * printing: CHANNEL_LIST_URL_COL), created, removed, pending, failed,
 * delivered, silenced. An unknown unit code is an error. The caller
 * clears the result.
 */
#define CHANNEL_LIST_URL_COL 7
struct pg_result *channel_list_db(
    struct pg_conn *conn, const char *unit_code, bool all, char **cause);

/* Set removed_at. *already when it had been removed; an unknown id is an error. */
int channel_remove_db(struct pg_conn *conn, long long id, bool *already, char **cause);

/* A filter for channel_notifications_db. */
struct notification_filter {
	bool failed;       /* state failed */
	bool pending;      /* state pending (with failed: either) */
	long long channel; /* 0: every channel */
	int limit;
};

/*
 * Notifications from edumon.v_notification, newest first: id, channel,
 * alert, rule, unit, period, event, severity, state, attempts, status,
 * error, created, last_attempt, done. The caller clears the result.
 */
struct pg_result *channel_notifications_db(
    struct pg_conn *conn, const struct notification_filter *f, char **cause);

/*
 * Send a sample event (rule "test", 测试消息, severity warning, kind fired,
 * on the channel's unit) through channel id now, with the channel's kind,
 * URL and secret, on a private event loop; the address policy is the
 * channel's allow_private. Returns 0 when it was delivered, 1 when it was
 * not; either way *result is one caller-freed line ("delivered: HTTP 200
 * in 0.01 s", "failed: HTTP 500 ...", "failed: HTTP 200, wecom errcode
 * 45009: ..."). Returns -1 with *cause when there is nothing to send
 * through (unknown or removed channel).
 */
int channel_test_db(struct pg_conn *conn, long long id, char **result, char **cause);

#endif
