/*
 * looplag.h: a probe of how long edumond's event loop is blocked.
 *
 * Nothing may block the libevent loop: one slow callback delays every
 * connection, timer and database reply behind it. The probe proves it in
 * production and in benchmarks: a persistent timer fires every period, and
 * each firing measures (CLOCK_MONOTONIC) how late it came compared to when
 * it was due, the previous firing plus the period. That lateness is the time
 * the loop spent busy or blocked elsewhere, within the few milliseconds of
 * jitter that libevent's coarse timer clock adds (hence buckets from 5 ms).
 *
 * The accounting is pure (struct looplag_stats: a lag in seconds in, a
 * histogram, a maximum and a throttled warning decision out), so it is
 * tested without a loop; struct looplag adds the timer and the log line.
 * Single-threaded: everything runs on the loop.
 */
#ifndef EDUMON_LOOPLAG_H
#define EDUMON_LOOPLAG_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct event_base;
struct looplag;

/* Upper bounds (le) of the histogram's buckets, seconds; +Inf is implied. */
#define LOOPLAG_NBUCKETS 10
extern const double looplag_bounds[LOOPLAG_NBUCKETS];

/* A lag above this many seconds is logged as a warning... */
#define LOOPLAG_WARN_S 1.0
/* ... at most once per this many microseconds. */
#define LOOPLAG_WARN_EVERY_US (10 * 1000000LL)

/* The figures of the probe. All zero is a valid empty start. */
struct looplag_stats {
	uint64_t buckets[LOOPLAG_NBUCKETS]; /* cumulative: lags <= looplag_bounds[i] */
	uint64_t count;                     /* lags recorded (the +Inf bucket) */
	double sum;                         /* seconds */
	double max;                         /* seconds, the largest since start */
	int64_t next_warn_us;               /* no warning before this monotonic time */
	unsigned long suppressed;           /* lags over LOOPLAG_WARN_S not logged since the last */
};

/*
 * Record one lag of lag_seconds (negative or NaN counts as 0) observed at
 * now_us (monotonic microseconds, only used to throttle warnings). Returns
 * true when the caller should log a warning about this lag now: it is above
 * LOOPLAG_WARN_S and none was logged in the last LOOPLAG_WARN_EVERY_US; then
 * *suppressed is how many such lags went unlogged since the previous one.
 */
bool looplag_stats_record(
    struct looplag_stats *st, double lag_seconds, int64_t now_us, unsigned long *suppressed);

/*
 * Append the exposition text of st to out: the histogram
 * edumon_loop_lag_seconds and the gauge edumon_loop_lag_max_seconds.
 * period_ms is named in the help text.
 */
void looplag_stats_render(const struct looplag_stats *st, int period_ms, struct buf *out);

/*
 * Start probing base every period_ms (> 0) milliseconds. Returns an owned
 * object; aborts if libevent cannot make or schedule the timer (start-up
 * only). Free it before the base.
 */
struct looplag *looplag_new(struct event_base *base, int period_ms);
/* Stop the probe and free it; NULL is a no-op. */
void looplag_free(struct looplag *l);
/* The figures so far; valid until looplag_free. */
const struct looplag_stats *looplag_read(const struct looplag *l);
/* looplag_stats_render of the probe's figures, for GET /metrics. */
void looplag_render(const struct looplag *l, struct buf *out);

#endif
