/*
 * test_looplag.c: the event loop probe. The accounting (buckets at their
 * boundaries, cumulative counts, sum, maximum, clamping, the throttled
 * warning) and its exposition text are pure; one test runs a real event
 * base and blocks it on purpose. Only lower bounds are asserted on real
 * time: a slow machine (valgrind, sanitizers) may only make lags larger.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "looplag.h"
#include "util.h"

#define SEC 1000000LL

/* Record lag at t, which must not call for a warning. */
static void
record(struct looplag_stats *st, double lag, int64_t t)
{
	unsigned long suppressed = 12345;

	cr_expect_not(
	    looplag_stats_record(st, lag, t, &suppressed), "lag %g at %lld", lag, (long long)t);
	cr_expect_eq(suppressed, 12345, "no warning leaves *suppressed alone");
}

/* The index of the first bucket a lag lands in (LOOPLAG_NBUCKETS: +Inf only). */
struct bucket_case {
	double lag;
	size_t first;
};

ParameterizedTestParameters(looplag, bucket_boundaries)
{
	/* One case a line. */
	/* clang-format off */
	static struct bucket_case cases[] = {
	    {0, 0},
	    {0.001, 0},
	    {0.005, 0}, /* a bound belongs to its own bucket (le: less or equal) */
	    {0.0050001, 1},
	    {0.01, 1},
	    {0.025, 2},
	    {0.05, 3},
	    {0.1, 4},
	    {0.1000001, 5},
	    {0.25, 5},
	    {0.3, 6},
	    {0.5, 6},
	    {1, 7},
	    {2.5, 8},
	    {5, 9},
	    {5.000001, LOOPLAG_NBUCKETS},
	    {3600, LOOPLAG_NBUCKETS},
	    {-0.2, 0}, /* a timer that came early: no lag */
	};
	/* clang-format on */

	return cr_make_param_array(struct bucket_case, cases, ARRAY_LEN(cases));
}

ParameterizedTest(struct bucket_case *c, looplag, bucket_boundaries)
{
	struct looplag_stats st;
	unsigned long suppressed = 0;

	memset(&st, 0, sizeof st);
	(void)looplag_stats_record(&st, c->lag, 0, &suppressed);
	for (size_t i = 0; i < LOOPLAG_NBUCKETS; i++)
		cr_expect_eq(st.buckets[i], i >= c->first ? 1u : 0u, "lag %g, le=%g", c->lag,
		    looplag_bounds[i]);
	cr_expect_eq(st.count, 1);
	cr_expect_eq(st.sum, c->lag > 0 ? c->lag : 0);
	cr_expect_eq(st.max, c->lag > 0 ? c->lag : 0);
}

Test(looplag, cumulative_counts_sum_and_max)
{
	struct looplag_stats st;
	const double lags[] = {0.001, 0.003, 0.02, 0.3, 0.07, 0.004, 0.6};
	const uint64_t want[LOOPLAG_NBUCKETS] = {3, 3, 4, 4, 5, 5, 6, 7, 7, 7};
	double sum = 0;

	memset(&st, 0, sizeof st);
	for (size_t i = 0; i < ARRAY_LEN(lags); i++) {
		record(&st, lags[i], (int64_t)i * SEC);
		sum += lags[i];
	}
	for (size_t i = 0; i < LOOPLAG_NBUCKETS; i++)
		cr_expect_eq(st.buckets[i], want[i], "le=%g: %llu", looplag_bounds[i],
		    (unsigned long long)st.buckets[i]);
	cr_expect_eq(st.count, ARRAY_LEN(lags));
	cr_expect(fabs(st.sum - sum) < 1e-12, "sum %g, want %g", st.sum, sum);
	cr_expect_eq(st.max, 0.6, "the largest, not the last");
}

Test(looplag, negative_and_nan_clamp_to_zero)
{
	struct looplag_stats st;

	memset(&st, 0, sizeof st);
	record(&st, -3, 0);
	record(&st, NAN, 0);
	cr_expect_eq(st.count, 2);
	cr_expect_eq(st.buckets[0], 2);
	cr_expect_eq(st.sum, 0);
	cr_expect_eq(st.max, 0);
}

Test(looplag, warning_is_throttled_and_counts_the_rest)
{
	struct looplag_stats st;
	unsigned long suppressed = 99;

	memset(&st, 0, sizeof st);
	record(&st, 1.0, 0); /* exactly 1 s does not exceed 1 s */
	record(&st, 0.9, 0);
	cr_expect(looplag_stats_record(&st, 1.5, 0, &suppressed), "the first one is logged");
	cr_expect_eq(suppressed, 0);
	record(&st, 2, 5 * SEC);
	record(&st, 0.2, 6 * SEC); /* not a block: not counted as suppressed */
	record(&st, 1.2, 10 * SEC - 1);
	suppressed = 99;
	cr_expect(looplag_stats_record(&st, 3, 10 * SEC, &suppressed), "10 s later");
	cr_expect_eq(suppressed, 2, "the two held back in between");
	suppressed = 99;
	cr_expect(looplag_stats_record(&st, 1.1, 60 * SEC, &suppressed));
	cr_expect_eq(suppressed, 0, "the count starts again after each warning");
	cr_expect_eq(st.max, 3);
}

/* The value of the sample line "name value" in text, or NAN if absent. */
static double
sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; *p != '\0';) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		cr_assert_not_null(p, "every line ends in a newline");
		p++;
	}
	return NAN;
}

Test(looplag, renders_a_prometheus_histogram)
{
	struct looplag_stats st;
	struct buf b;
	char name[96];
	double prev = 0, count;

	memset(&st, 0, sizeof st);
	record(&st, 0.002, 0);
	record(&st, 0.04, 0);
	record(&st, 0.3, 0);
	buf_init(&b);
	looplag_stats_render(&st, 100, &b);
	cr_assert_not_null(b.data);
	cr_expect(strstr(b.data,
	              "# HELP edumon_loop_lag_seconds How late the event loop's 100 ms"
	              " probe timer fired: the time the loop was busy or blocked.\n") == b.data,
	    "%s", b.data);
	cr_expect_not_null(strstr(b.data, "\n# TYPE edumon_loop_lag_seconds histogram\n"));
	cr_expect_not_null(strstr(b.data, "\n# HELP edumon_loop_lag_max_seconds "));
	cr_expect_not_null(strstr(b.data, "\n# TYPE edumon_loop_lag_max_seconds gauge\n"));

	/* Every bucket, in order, cumulative, and +Inf equal to _count. */
	for (size_t i = 0; i < LOOPLAG_NBUCKETS; i++) {
		double v;

		snprintf(name, sizeof name, "edumon_loop_lag_seconds_bucket{le=\"%g\"}",
		    looplag_bounds[i]);
		v = sample(b.data, name);
		cr_expect_eq(v, (double)st.buckets[i], "%s: %g", name, v);
		cr_expect_geq(v, prev, "%s is cumulative", name);
		prev = v;
	}
	cr_expect_not_null(strstr(b.data, "edumon_loop_lag_seconds_bucket{le=\"0.005\"} 1\n"));
	cr_expect_not_null(strstr(b.data, "edumon_loop_lag_seconds_bucket{le=\"2.5\"} 3\n"));
	count = sample(b.data, "edumon_loop_lag_seconds_count");
	cr_expect_eq(count, 3);
	cr_expect_eq(sample(b.data, "edumon_loop_lag_seconds_bucket{le=\"+Inf\"}"), count);
	cr_expect_geq(count, prev);
	cr_expect(fabs(sample(b.data, "edumon_loop_lag_seconds_sum") - 0.342) < 1e-6);
	cr_expect(fabs(sample(b.data, "edumon_loop_lag_max_seconds") - 0.3) < 1e-6);
	buf_free(&b);
}

static void
block_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	usleep(300 * 1000); /* what the probe must see */
}

/* A real loop, blocked 300 ms inside a callback, with the probe every 20 ms:
 * the firing after the block was due at most 20 ms after it began, so its
 * lag is at least 280 ms however slow the machine is. */
Test(looplag, sees_a_blocked_loop)
{
	struct event_base *base = event_base_new();
	struct looplag *l;
	struct event *block;
	const struct looplag_stats *st;
	struct timeval at = {0, 60 * 1000}, stop = {0, 600 * 1000};
	size_t i250 = 0;

	cr_assert_not_null(base);
	l = looplag_new(base, 20);
	block = evtimer_new(base, block_cb, NULL);
	cr_assert_not_null(block);
	cr_assert_eq(event_add(block, &at), 0);
	cr_assert_eq(event_base_loopexit(base, &stop), 0);
	cr_assert_eq(event_base_dispatch(base), 0);

	st = looplag_read(l);
	while (looplag_bounds[i250] < 0.25)
		i250++;
	cr_expect_geq(st->max, 0.25, "max lag %g s", st->max);
	cr_expect_geq(st->count - st->buckets[i250], 1, "a lag counted above le=0.25");
	cr_expect_geq(st->count, 2, "the probe also fired before and after the block");
	cr_expect_geq(st->sum, 0.25);

	event_free(block);
	looplag_free(l);
	event_base_free(base);
}
