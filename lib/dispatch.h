/*
 * dispatch.h: alert delivery, the I/O half (lib/notify.h is the pure half).
 *
 * The outbox is edumon.alert_event: every writer takes the event lock, so
 * event ids follow commit order (schema/0006_delivery.sql). On its own
 * non-blocking connection the dispatcher, in a loop woken by a timer and by
 * dispatch_nudge():
 *   1. fans out: the events past edumon.delivery_cursor become one
 *      notification row per matching channel (unit coverage, minimum
 *      severity, not before the channel existed), "silenced" when a silence
 *      is in force, and the cursor moves, in one transaction;
 *   2. now and then adds "reminder" events for firing alerts nobody has
 *      acknowledged for the reminder interval (they then fan out like any
 *      other event);
 *   3. for every channel whose oldest pending row has waited group_wait (so
 *      a burst becomes one message) and whose rate limit allows, claims up
 *      to max_batch due rows, renders them as one message (lib/notify.h) and
 *      POSTs it (lib/httpc.h, never blocking the loop), one message per
 *      channel in flight;
 *   4. records the outcome: delivered; or retried after an exponential,
 *      jittered back-off (Retry-After honoured) until the retry horizon
 *      passes; or failed (given up, or refused for good), with the last
 *      status and error kept, a metric and a log line;
 *   5. re-pushes every firing alert to each Alertmanager channel every
 *      am_resend seconds (Alertmanager resolves an alert whose endsAt
 *      passes; edumon pushes endsAt = now + 4 * am_resend).
 * Rows are marked delivered only after the receiver answered, so a daemon
 * stopped mid-delivery sends them again after restart: delivery is at least
 * once; receivers drop duplicates by the X-Edumon-Delivery id, which stays
 * the same when the same rows are retried.
 *
 * One dispatcher per database (like the rules engine): the cursor row is
 * locked while fanning out, but claims are not.
 */
#ifndef EDUMON_DISPATCH_H
#define EDUMON_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct directory;
struct rulesd;
struct stats_gauges;
struct dispatch;

struct dispatch_config {
	const char *conninfo;
	int group_wait_ms;        /* default 2000 when 0; how long a first event waits for company */
	long remind_interval_s;   /* a firing, unacknowledged alert is announced again; 0: never */
	int64_t retry_base_ms;    /* default 5000 */
	int64_t retry_cap_ms;     /* default 600000 */
	int64_t retry_horizon_ms; /* give up after; default 86400000 */
	int http_timeout_ms;      /* whole request; default 10000 */
	int am_resend_s;          /* Alertmanager re-push period; default 60 */
	int max_batch;            /* events in one message at most; default 500 */
	const char *external_url; /* base of alert links; NULL: no links */
};

/* Start at once. d and rd are borrowed (names, metric kinds, rule labels). */
struct dispatch *dispatch_new(struct event_base *base, const struct dispatch_config *cfg,
    struct directory *d, struct rulesd *rd);
/* Stop: sends in flight are abandoned (their rows stay pending). NULL is a no-op. */
void dispatch_free(struct dispatch *p);
/* New events were committed: look soon, not at the next poll. */
void dispatch_nudge(struct dispatch *p);
/* Fill the notification fields of g (for /metrics). */
void dispatch_gauges(const struct dispatch *p, struct stats_gauges *g);

#endif
