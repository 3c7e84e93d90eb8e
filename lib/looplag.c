/*
 * looplag.c: see looplag.h.
 *
 * Each firing is measured against the previous firing as we saw it, not
 * against libevent's schedule: libevent keeps a persistent timer on its own
 * (coarse) grid, so after a late firing the next one comes early by our
 * clock and counts as 0. A block is thus counted once, in full, by the
 * firing that ends it.
 */
#include "looplag.h"

#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"

const double looplag_bounds[LOOPLAG_NBUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

struct looplag {
	struct event *timer;
	int period_ms;
	int64_t last_us; /* now_usec() of the previous firing (or of the start) */
	struct looplag_stats st;
};

bool
looplag_stats_record(
    struct looplag_stats *st, double lag_seconds, int64_t now_us, unsigned long *suppressed)
{
	/* Written so that NaN falls to 0 as well. */
	if (!(lag_seconds > 0))
		lag_seconds = 0;
	for (size_t i = 0; i < LOOPLAG_NBUCKETS; i++)
		if (lag_seconds <= looplag_bounds[i])
			st->buckets[i]++;
	st->count++;
	st->sum += lag_seconds;
	if (lag_seconds > st->max)
		st->max = lag_seconds;

	if (lag_seconds <= LOOPLAG_WARN_S)
		return false;
	/* A loop that keeps blocking would otherwise log ten lines a second. */
	if (now_us < st->next_warn_us) {
		st->suppressed++;
		return false;
	}
	*suppressed = st->suppressed;
	st->suppressed = 0;
	st->next_warn_us = now_us + LOOPLAG_WARN_EVERY_US;
	return true;
}

void
looplag_stats_render(const struct looplag_stats *st, int period_ms, struct buf *out)
{
	buf_printf(out,
	    "# HELP edumon_loop_lag_seconds How late the event loop's %d ms probe timer fired:"
	    " the time the loop was busy or blocked.\n"
	    "# TYPE edumon_loop_lag_seconds histogram\n",
	    period_ms);
	for (size_t i = 0; i < LOOPLAG_NBUCKETS; i++)
		buf_printf(out, "edumon_loop_lag_seconds_bucket{le=\"%g\"} %llu\n",
		    looplag_bounds[i], (unsigned long long)st->buckets[i]);
	buf_printf(out,
	    "edumon_loop_lag_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "edumon_loop_lag_seconds_sum %.6f\n"
	    "edumon_loop_lag_seconds_count %llu\n"
	    "# HELP edumon_loop_lag_max_seconds The largest lag of the probe timer since start.\n"
	    "# TYPE edumon_loop_lag_max_seconds gauge\n"
	    "edumon_loop_lag_max_seconds %.6f\n",
	    (unsigned long long)st->count, st->sum, (unsigned long long)st->count, st->max);
}

static void
looplag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct looplag *l = arg;
	int64_t now = now_usec();
	double lag = (double)(now - l->last_us - (int64_t)l->period_ms * 1000) / 1e6;
	unsigned long suppressed;

	(void)fd;
	(void)what;
	l->last_us = now;
	if (!looplag_stats_record(&l->st, lag, now, &suppressed))
		return;
	if (suppressed > 0)
		log_warn("event loop blocked for %.2f s (%lu more blocks over %.0f s since the"
		         " previous warning were not logged)",
		    lag, suppressed, LOOPLAG_WARN_S);
	else
		log_warn("event loop blocked for %.2f s", lag);
}

struct looplag *
looplag_new(struct event_base *base, int period_ms)
{
	struct looplag *l = xcalloc(1, sizeof *l);
	struct timeval tv = {period_ms / 1000, (period_ms % 1000) * 1000};

	assert(period_ms > 0);
	l->period_ms = period_ms;
	l->timer = event_new(base, -1, EV_PERSIST, looplag_cb, l);
	if (l->timer == NULL || event_add(l->timer, &tv) != 0)
		abort();
	l->last_us = now_usec();
	return l;
}

void
looplag_free(struct looplag *l)
{
	if (l == NULL)
		return;
	event_free(l->timer);
	free(l);
}

const struct looplag_stats *
looplag_read(const struct looplag *l)
{
	return &l->st;
}

void
looplag_render(const struct looplag *l, struct buf *out)
{
	looplag_stats_render(&l->st, l->period_ms, out);
}
