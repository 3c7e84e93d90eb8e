/*
 * stats.h: the daemon's own metrics, rendered in the Prometheus text
 * exposition format at GET /metrics. Single-threaded: called from the loop.
 */
#ifndef EDUMON_STATS_H
#define EDUMON_STATS_H

#include <stddef.h>

#include "util.h"

struct stats;

struct stats *stats_new(void);
void stats_free(struct stats *s);
/* One answered HTTP request: route label (static string), status, latency. */
void stats_request(struct stats *s, const char *route, int status, double seconds);
/* One committed group-commit transaction. */
void stats_batch(struct stats *s, size_t requests, size_t observations, double seconds);
/* A database connection (re-)established after the first. */
void stats_db_reconnect(struct stats *s);
/* A transaction that failed (server error or lost connection). */
void stats_batch_failed(struct stats *s);

struct stats_gauges {
	size_t queue_depth;
	size_t pending;
	int db_up;
	size_t inflight; /* submissions received and not yet answered */
	size_t connections;     /* HTTP connections open */
	size_t connections_max; /* --max-connections */
	unsigned long deadline_closed;        /* cut off at --request-deadline */
	unsigned long connection_cap_reached; /* times accepting stopped at the cap */
	unsigned long rate_limited;           /* submissions refused 429 */
	size_t rules;
	int rules_mirrored;
	unsigned long rule_reload_failures;
	/* The rules engine (lib/alerter.h); all zero when alerts are off. */
	int alerts_ready;
	size_t alerts_firing;
	size_t alert_jobs_queued;
	size_t engine_figures;            /* unit figures held in memory */
	unsigned long long alert_changes; /* alert events stored */
	unsigned long long alert_stores;  /* evaluation transactions committed */
	unsigned long long alert_store_failures;
	unsigned long long alert_early_answers; /* receipts sent with "alerts": null */
	double alert_store_seconds;
	/* Delivery (lib/dispatch.h); all zero when it is off. */
	int notify_ready;
	size_t notify_pending;    /* notification rows waiting to be sent */
	size_t notify_in_flight;  /* HTTP requests running */
	unsigned long long notify_matched;   /* notification rows made (event x channel) */
	unsigned long long notify_silenced;  /* ... of which muted by a silence */
	unsigned long long notify_delivered; /* events delivered */
	unsigned long long notify_failed;    /* events given up */
	unsigned long long notify_messages;  /* HTTP messages sent (any outcome) */
	unsigned long long notify_retries;   /* messages to be tried again */
	unsigned long long notify_reminders; /* reminder events added */
	unsigned long long notify_repush_failures; /* Alertmanager re-pushes that failed */
	/* The alert event stream (lib/stream.h). */
	size_t streams;                    /* open now */
	unsigned long long stream_events;  /* events sent, counted per client */
	unsigned long long stream_dropped; /* slow consumers disconnected */
};

/* Append the exposition text to out. */
void stats_render(const struct stats *s, const struct stats_gauges *g, struct buf *out);

#endif
