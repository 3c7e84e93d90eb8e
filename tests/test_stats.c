/*
 * test_stats.c: the Prometheus exposition of the daemon's own metrics.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "stats.h"

Test(stats, counters_and_histograms_render)
{
	struct stats *s = stats_new();
	struct stats_gauges g = {
	    .queue_depth = 3, .pending = 5, .db_up = 1, .inflight = 7, .rate_limited = 4, .rules = 45,
	    .streams = 2, .stream_events = 9, .stream_dropped = 1};
	struct buf b;

	stats_request(s, "submissions", 201, 0.004);
	stats_request(s, "submissions", 201, 0.2);
	stats_request(s, "submissions", 422, 0.001);
	stats_batch(s, 12, 240, 0.01);
	stats_db_reconnect(s);
	buf_init(&b);
	stats_render(s, &g, &b);
	cr_expect(strstr(b.data, "edumon_http_requests_total{route=\"submissions\",status=\"201\"} 2\n"));
	cr_expect(strstr(b.data, "edumon_http_requests_total{route=\"submissions\",status=\"422\"} 1\n"));
	cr_expect(strstr(b.data,
	    "edumon_http_request_duration_seconds_bucket{route=\"submissions\",le=\"0.005\"} 2\n"));
	cr_expect(strstr(b.data,
	    "edumon_http_request_duration_seconds_bucket{route=\"submissions\",le=\"+Inf\"} 3\n"));
	cr_expect(strstr(b.data, "edumon_commit_batch_requests_bucket{le=\"10\"} 0\n"));
	cr_expect(strstr(b.data, "edumon_commit_batch_requests_bucket{le=\"20\"} 1\n"));
	cr_expect(strstr(b.data, "edumon_observations_committed_total 240\n"));
	cr_expect(strstr(b.data, "edumon_db_reconnects_total 1\n"));
	cr_expect(strstr(b.data, "edumon_writer_queue_depth 3\n"));
	cr_expect(strstr(b.data, "edumon_rules_loaded 45\n"));
	cr_expect(strstr(b.data, "edumon_rate_limited_total 4\n"));
	cr_expect(strstr(b.data, "\nedumon_streams 2\n"));
	cr_expect(strstr(b.data, "\nedumon_stream_events_total 9\n"));
	cr_expect(strstr(b.data, "\nedumon_stream_dropped_total 1\n"));
	buf_free(&b);
	stats_free(s);
}
