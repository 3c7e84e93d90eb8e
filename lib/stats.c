/*
 * stats.c: see stats.h. Fixed-size tables: routes are few and static, so a
 * linear search over at most STATS_MAX_SERIES series is cheaper than a hash.
 */
#include "stats.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STATS_MAX_SERIES 64

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5, 10};
#define NLAT ARRAY_LEN(latency_bounds)
static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
#define NBATCH ARRAY_LEN(batch_bounds)

struct series {
	const char *route;
	int status;
	uint64_t count;
};

struct latency {
	const char *route;
	uint64_t buckets[NLAT];
	uint64_t count;
	double sum;
};

struct stats {
	struct series series[STATS_MAX_SERIES];
	size_t nseries;
	struct latency lat[STATS_MAX_SERIES];
	size_t nlat;
	uint64_t batch_buckets[NBATCH];
	uint64_t batches;
	double batch_req_sum;
	uint64_t batch_obs;
	double batch_seconds;
	uint64_t batches_failed;
	uint64_t reconnects;
};

struct stats *
stats_new(void)
{
	return xcalloc(1, sizeof(struct stats));
}

void
stats_free(struct stats *s)
{
	free(s);
}

void
stats_request(struct stats *s, const char *route, int status, double seconds)
{
	size_t i;

	for (i = 0; i < s->nseries; i++)
		if (s->series[i].status == status && strcmp(s->series[i].route, route) == 0)
			break;
	if (i == s->nseries && s->nseries < STATS_MAX_SERIES) {
		s->series[i].route = route;
		s->series[i].status = status;
		s->nseries++;
	}
	if (i < s->nseries)
		s->series[i].count++;

	for (i = 0; i < s->nlat; i++)
		if (strcmp(s->lat[i].route, route) == 0)
			break;
	if (i == s->nlat && s->nlat < STATS_MAX_SERIES)
		s->lat[s->nlat++].route = route;
	if (i < s->nlat) {
		for (size_t b = 0; b < NLAT; b++)
			if (seconds <= latency_bounds[b])
				s->lat[i].buckets[b]++;
		s->lat[i].count++;
		s->lat[i].sum += seconds;
	}
}

void
stats_batch(struct stats *s, size_t requests, size_t observations, double seconds)
{
	for (size_t b = 0; b < NBATCH; b++)
		if ((double)requests <= batch_bounds[b])
			s->batch_buckets[b]++;
	s->batches++;
	s->batch_req_sum += (double)requests;
	s->batch_obs += observations;
	s->batch_seconds += seconds;
}

void
stats_db_reconnect(struct stats *s)
{
	s->reconnects++;
}

void
stats_batch_failed(struct stats *s)
{
	s->batches_failed++;
}

void
stats_render(const struct stats *s, const struct stats_gauges *g, struct buf *out)
{
	buf_puts(out, "# HELP edumon_http_requests_total HTTP requests answered, by route and status.\n"
		      "# TYPE edumon_http_requests_total counter\n");
	for (size_t i = 0; i < s->nseries; i++)
		buf_printf(out, "edumon_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
		    s->series[i].route, s->series[i].status,
		    (unsigned long long)s->series[i].count);

	buf_puts(out, "# HELP edumon_http_request_duration_seconds Time from request to answer.\n"
		      "# TYPE edumon_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < s->nlat; i++) {
		const struct latency *l = &s->lat[i];

		for (size_t b = 0; b < NLAT; b++)
			buf_printf(out,
			    "edumon_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
			    l->route, latency_bounds[b], (unsigned long long)l->buckets[b]);
		buf_printf(out,
		    "edumon_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
		    l->route, (unsigned long long)l->count);
		buf_printf(out, "edumon_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
		    l->route, l->sum);
		buf_printf(out, "edumon_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		    l->route, (unsigned long long)l->count);
	}

	buf_puts(out, "# HELP edumon_commit_batch_requests Requests per group-commit transaction.\n"
		      "# TYPE edumon_commit_batch_requests histogram\n");
	for (size_t b = 0; b < NBATCH; b++)
		buf_printf(out, "edumon_commit_batch_requests_bucket{le=\"%g\"} %llu\n",
		    batch_bounds[b], (unsigned long long)s->batch_buckets[b]);
	buf_printf(out, "edumon_commit_batch_requests_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)s->batches);
	buf_printf(out, "edumon_commit_batch_requests_sum %.0f\n", s->batch_req_sum);
	buf_printf(out, "edumon_commit_batch_requests_count %llu\n",
	    (unsigned long long)s->batches);
	buf_printf(out,
	    "# HELP edumon_observations_committed_total Observations committed.\n"
	    "# TYPE edumon_observations_committed_total counter\n"
	    "edumon_observations_committed_total %llu\n"
	    "# HELP edumon_commit_seconds_total Time spent in group-commit transactions.\n"
	    "# TYPE edumon_commit_seconds_total counter\n"
	    "edumon_commit_seconds_total %.6f\n"
	    "# HELP edumon_commit_failures_total Transactions that failed or were cut off.\n"
	    "# TYPE edumon_commit_failures_total counter\n"
	    "edumon_commit_failures_total %llu\n"
	    "# HELP edumon_db_reconnects_total Database connections re-established.\n"
	    "# TYPE edumon_db_reconnects_total counter\n"
	    "edumon_db_reconnects_total %llu\n"
	    "# HELP edumon_writer_queue_depth Requests waiting for a transaction.\n"
	    "# TYPE edumon_writer_queue_depth gauge\n"
	    "edumon_writer_queue_depth %zu\n"
	    "# HELP edumon_writer_pending Requests queued or in a transaction.\n"
	    "# TYPE edumon_writer_pending gauge\n"
	    "edumon_writer_pending %zu\n"
	    "# HELP edumon_db_up Whether a writer connection to PostgreSQL is up.\n"
	    "# TYPE edumon_db_up gauge\n"
	    "edumon_db_up %d\n"
	    "# HELP edumon_http_inflight Submissions and alert requests received and not yet answered.\n"
	    "# TYPE edumon_http_inflight gauge\n"
	    "edumon_http_inflight %zu\n"
	    "# HELP edumon_http_connections HTTP connections open.\n"
	    "# TYPE edumon_http_connections gauge\n"
	    "edumon_http_connections %zu\n"
	    "# HELP edumon_http_connections_max Connections allowed at once (--max-connections).\n"
	    "# TYPE edumon_http_connections_max gauge\n"
	    "edumon_http_connections_max %zu\n"
	    "# HELP edumon_http_connection_cap_reached_total Times the cap stopped accepting.\n"
	    "# TYPE edumon_http_connection_cap_reached_total counter\n"
	    "edumon_http_connection_cap_reached_total %lu\n"
	    "# HELP edumon_http_deadline_closed_total Connections cut off at --request-deadline.\n"
	    "# TYPE edumon_http_deadline_closed_total counter\n"
	    "edumon_http_deadline_closed_total %lu\n"
	    "# HELP edumon_rate_limited_total Submissions refused by the per-token rate limit.\n"
	    "# TYPE edumon_rate_limited_total counter\n"
	    "edumon_rate_limited_total %lu\n"
	    "# HELP edumon_rules_loaded Rules in force.\n"
	    "# TYPE edumon_rules_loaded gauge\n"
	    "edumon_rules_loaded %zu\n"
	    "# HELP edumon_rules_recorded Whether the rules in force are recorded in edumon.rule.\n"
	    "# TYPE edumon_rules_recorded gauge\n"
	    "edumon_rules_recorded %d\n"
	    "# HELP edumon_rule_reload_failures_total Reloads refused because the new set was invalid.\n"
	    "# TYPE edumon_rule_reload_failures_total counter\n"
	    "edumon_rule_reload_failures_total %lu\n",
	    (unsigned long long)s->batch_obs, s->batch_seconds,
	    (unsigned long long)s->batches_failed, (unsigned long long)s->reconnects,
	    g->queue_depth, g->pending, g->db_up, g->inflight, g->connections,
	    g->connections_max, g->connection_cap_reached, g->deadline_closed, g->rate_limited,
	    g->rules, g->rules_mirrored,
	    g->rule_reload_failures);
	buf_printf(out,
	    "# HELP edumon_alerts_ready Whether the rules engine is built and evaluating.\n"
	    "# TYPE edumon_alerts_ready gauge\n"
	    "edumon_alerts_ready %d\n"
	    "# HELP edumon_alerts_firing Alerts firing, as the engine holds them.\n"
	    "# TYPE edumon_alerts_firing gauge\n"
	    "edumon_alerts_firing %zu\n"
	    "# HELP edumon_alert_jobs_queued Commits and clock runs waiting for evaluation.\n"
	    "# TYPE edumon_alert_jobs_queued gauge\n"
	    "edumon_alert_jobs_queued %zu\n"
	    "# HELP edumon_engine_figures Unit figures the rules engine holds in memory.\n"
	    "# TYPE edumon_engine_figures gauge\n"
	    "edumon_engine_figures %zu\n"
	    "# HELP edumon_alert_changes_total Alert changes (fired, escalated, deescalated,"
	    " resolved) stored.\n"
	    "# TYPE edumon_alert_changes_total counter\n"
	    "edumon_alert_changes_total %llu\n"
	    "# HELP edumon_alert_stores_total Evaluation transactions committed.\n"
	    "# TYPE edumon_alert_stores_total counter\n"
	    "edumon_alert_stores_total %llu\n"
	    "# HELP edumon_alert_store_seconds_total Time spent in evaluation transactions.\n"
	    "# TYPE edumon_alert_store_seconds_total counter\n"
	    "edumon_alert_store_seconds_total %.6f\n"
	    "# HELP edumon_alert_store_failures_total Evaluation transactions that failed (the"
	    " engine is rebuilt).\n"
	    "# TYPE edumon_alert_store_failures_total counter\n"
	    "edumon_alert_store_failures_total %llu\n"
	    "# HELP edumon_alert_early_answers_total Receipts sent before their alerts were"
	    " evaluated (--alert-wait).\n"
	    "# TYPE edumon_alert_early_answers_total counter\n"
	    "edumon_alert_early_answers_total %llu\n",
	    g->alerts_ready, g->alerts_firing, g->alert_jobs_queued, g->engine_figures,
	    g->alert_changes, g->alert_stores, g->alert_store_seconds, g->alert_store_failures,
	    g->alert_early_answers);
	buf_printf(out,
	    "# HELP edumon_notify_ready Whether the notification dispatcher is connected.\n"
	    "# TYPE edumon_notify_ready gauge\n"
	    "edumon_notify_ready %d\n"
	    "# HELP edumon_notifications_pending Notifications waiting to be sent or retried.\n"
	    "# TYPE edumon_notifications_pending gauge\n"
	    "edumon_notifications_pending %zu\n"
	    "# HELP edumon_notification_requests_in_flight Outgoing HTTP requests running.\n"
	    "# TYPE edumon_notification_requests_in_flight gauge\n"
	    "edumon_notification_requests_in_flight %zu\n"
	    "# HELP edumon_notifications_total Notifications (alert event x channel) by outcome.\n"
	    "# TYPE edumon_notifications_total counter\n"
	    "edumon_notifications_total{outcome=\"matched\"} %llu\n"
	    "edumon_notifications_total{outcome=\"silenced\"} %llu\n"
	    "edumon_notifications_total{outcome=\"delivered\"} %llu\n"
	    "edumon_notifications_total{outcome=\"failed\"} %llu\n"
	    "# HELP edumon_notification_messages_total Messages sent to receivers (a digest is one).\n"
	    "# TYPE edumon_notification_messages_total counter\n"
	    "edumon_notification_messages_total %llu\n"
	    "# HELP edumon_notification_retries_total Messages not delivered and scheduled again.\n"
	    "# TYPE edumon_notification_retries_total counter\n"
	    "edumon_notification_retries_total %llu\n"
	    "# HELP edumon_notification_reminders_total Reminders added for unacknowledged alerts.\n"
	    "# TYPE edumon_notification_reminders_total counter\n"
	    "edumon_notification_reminders_total %llu\n"
	    "# HELP edumon_alertmanager_repush_failures_total Alertmanager re-pushes that failed.\n"
	    "# TYPE edumon_alertmanager_repush_failures_total counter\n"
	    "edumon_alertmanager_repush_failures_total %llu\n",
	    g->notify_ready, g->notify_pending, g->notify_in_flight, g->notify_matched,
	    g->notify_silenced, g->notify_delivered, g->notify_failed, g->notify_messages,
	    g->notify_retries, g->notify_reminders, g->notify_repush_failures);
	buf_printf(out,
	    "# HELP edumon_streams Alert event streams open (GET /v1/alerts/stream).\n"
	    "# TYPE edumon_streams gauge\n"
	    "edumon_streams %zu\n"
	    "# HELP edumon_stream_events_total Alert events sent on streams, once per client.\n"
	    "# TYPE edumon_stream_events_total counter\n"
	    "edumon_stream_events_total %llu\n"
	    "# HELP edumon_stream_dropped_total Streams cut off because the client did not keep"
	    " up.\n"
	    "# TYPE edumon_stream_dropped_total counter\n"
	    "edumon_stream_dropped_total %llu\n",
	    g->streams, g->stream_events, g->stream_dropped);
}
