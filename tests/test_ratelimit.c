/*
 * test_ratelimit.c: the token buckets of per-token rate limiting: bursts,
 * refill to the microsecond, Retry-After, independence of tokens, rate 0,
 * a clock that goes back, no drift over millions of calls, and eviction
 * checked against a reference model that never forgets anything.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "util.h"

#define SEC 1000000LL

static struct ratelimit *
limiter(long rate, int64_t per_us, long burst)
{
	return ratelimit_new(&(struct ratelimit_config){rate, per_us, burst});
}

/* 1 if key may submit at t, else -(Retry-After). */
static int
take(struct ratelimit *rl, int key, int64_t t)
{
	int ra = -12345;

	if (ratelimit_take(rl, key, t, &ra) == 0) {
		cr_expect_eq(ra, -12345, "an allowed take leaves Retry-After alone");
		return 1;
	}
	cr_expect_geq(ra, 1);
	return -ra;
}

Test(ratelimit, burst_then_refusal)
{
	struct ratelimit *rl = limiter(1, SEC, 3);

	for (int i = 0; i < 3; i++)
		cr_expect_eq(take(rl, 7, 1000), 1, "take %d of the burst", i);
	cr_expect_eq(take(rl, 7, 1000), -1, "the fourth waits a second");
	cr_expect_eq(take(rl, 7, 1000), -1, "a refusal takes nothing");
	cr_expect_eq(ratelimit_refused(rl), 2);
	ratelimit_free(rl);
}

Test(ratelimit, refill_to_the_microsecond)
{
	struct ratelimit *rl = limiter(3, SEC, 2);

	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), 1);
	/* 3 per second: a token is 333333.33 us; 333333 us give 999999/1000000. */
	cr_expect_eq(take(rl, 1, 333333), -1);
	cr_expect_eq(take(rl, 1, 333334), 1);
	/* The 2 micro-units left over count towards the next token. */
	cr_expect_eq(take(rl, 1, 333334 + 333332), -1);
	cr_expect_eq(take(rl, 1, 333334 + 333333), 1);
	ratelimit_free(rl);

	rl = limiter(1, 60 * SEC, 1);
	cr_expect_eq(take(rl, 1, 5), 1);
	cr_expect_eq(take(rl, 1, 5 + 60 * SEC - 1), -1);
	cr_expect_eq(take(rl, 1, 5 + 60 * SEC), 1);
	ratelimit_free(rl);
}

Test(ratelimit, retry_after_rounds_up)
{
	struct ratelimit *rl = limiter(1, 60 * SEC, 1);

	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), -60);
	cr_expect_eq(take(rl, 1, 1), -60, "59.999999 s rounds up to 60");
	cr_expect_eq(take(rl, 1, 58 * SEC), -2);
	cr_expect_eq(take(rl, 1, 59 * SEC - 1), -2, "1.000001 s rounds up to 2");
	cr_expect_eq(take(rl, 1, 59 * SEC), -1);
	cr_expect_eq(take(rl, 1, 60 * SEC - 1), -1, "never 0");
	cr_expect_eq(take(rl, 1, 60 * SEC), 1);
	ratelimit_free(rl);

	rl = limiter(7, SEC, 2);
	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), -1, "1/7 s rounds up to 1");
	ratelimit_free(rl);

	rl = limiter(2, 3600 * SEC, 1);
	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), -1800);
	ratelimit_free(rl);
}

Test(ratelimit, tokens_are_independent)
{
	struct ratelimit *rl = limiter(1, SEC, 2);

	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), -1);
	cr_expect_eq(take(rl, 2, 0), 1, "another token has its own burst");
	cr_expect_eq(take(rl, 2, 0), 1);
	cr_expect_eq(take(rl, 2, 0), -1);
	cr_expect_eq(take(rl, -1, 0), 1, "any int is a key");
	cr_expect_eq(take(rl, 0, 0), 1);
	cr_expect_eq(take(rl, 1, SEC), 1, "the first refilled on its own");
	cr_expect_eq(ratelimit_buckets(rl), 4);
	ratelimit_free(rl);
}

Test(ratelimit, rate_zero_is_off)
{
	struct ratelimit *rl = limiter(0, SEC, 1);

	for (int i = 0; i < 100000; i++)
		cr_assert_eq(take(rl, i % 3, 0), 1);
	cr_expect_eq(ratelimit_buckets(rl), 0, "nothing is kept when off");
	cr_expect_eq(ratelimit_refused(rl), 0);
	ratelimit_free(rl);
}

Test(ratelimit, clock_going_back_adds_nothing)
{
	struct ratelimit *rl = limiter(1, SEC, 1);

	cr_expect_eq(take(rl, 1, 10 * SEC), 1);
	cr_expect_eq(take(rl, 1, 5 * SEC), -1, "going back is not time passing");
	cr_expect_eq(take(rl, 1, 0), -1);
	cr_expect_eq(take(rl, 1, 10 * SEC + SEC / 2), -1, "nor is coming forward again");
	cr_expect_eq(take(rl, 1, 11 * SEC - 1), -1);
	cr_expect_eq(take(rl, 1, 11 * SEC), 1, "a second after the latest time seen");
	/* A new key at a time behind the clock starts at the clock. */
	cr_expect_eq(take(rl, 2, 3 * SEC), 1);
	cr_expect_eq(take(rl, 2, 4 * SEC), -1);
	cr_expect_eq(take(rl, 2, 12 * SEC), 1);
	ratelimit_free(rl);
}

Test(ratelimit, no_drift_over_millions_of_calls)
{
	struct ratelimit *rl = limiter(7, SEC, 2);
	long allowed = 0;
	int64_t t;

	/* One call a microsecond for 10 s: the bucket never fills after the
	 * first two, so exactly 2 + floor(7 * T / 1e6) go through. */
	for (t = 0; t < 10 * SEC; t++)
		allowed += take(rl, 1, t) == 1;
	cr_expect_eq(allowed, 2 + (7 * (10 * SEC - 1)) / SEC);
	ratelimit_free(rl);

	/* Three an hour, polled every 997 us for ~11.6 days of clock. */
	rl = limiter(3, 3600 * SEC, 2);
	allowed = 0;
	for (t = 0; t <= 1000000000LL; t += 997)
		allowed += take(rl, 1, t) == 1;
	t -= 997;
	cr_expect_eq(allowed, 2 + (3 * t) / (3600 * SEC));
	ratelimit_free(rl);
}

/*
 * The reference: the same rules with 128-bit arithmetic and one bucket per
 * key for ever, nothing evicted.
 */
struct ref {
	long rate, burst;
	int64_t per_us, now;
	int64_t *units, *last;
	bool *seen;
};

static int
ref_take(struct ref *r, int key, int64_t t)
{
	__int128 cap = (__int128)r->burst * r->per_us, u;

	if (t > r->now)
		r->now = t;
	if (!r->seen[key]) {
		r->seen[key] = true;
		r->units[key] = (int64_t)cap;
		r->last[key] = r->now;
	}
	u = r->units[key] + (__int128)(r->now - r->last[key]) * r->rate;
	if (u > cap)
		u = cap;
	r->last[key] = r->now;
	if (u >= r->per_us) {
		r->units[key] = (int64_t)(u - r->per_us);
		return 1;
	}
	r->units[key] = (int64_t)u;
	{
		int64_t wait = (int64_t)((r->per_us - u + r->rate - 1) / r->rate);

		return -(int)((wait + SEC - 1) / SEC);
	}
}

Test(ratelimit, eviction_bounds_memory_and_changes_nothing)
{
	enum { NKEYS = 1000000, CALLS = 3000000 };
	struct ref r = {.rate = 2, .burst = 3, .per_us = SEC};
	struct ratelimit *rl = limiter(2, SEC, 3);
	size_t most = 0;
	int64_t t = 0;
	int next_fresh = 1000;
	unsigned seed = 12345;

	r.units = calloc(NKEYS, sizeof *r.units);
	r.last = calloc(NKEYS, sizeof *r.last);
	r.seen = calloc(NKEYS, sizeof *r.seen);
	cr_assert(r.units != NULL && r.last != NULL && r.seen != NULL);
	/*
	 * A mix of 1000 hot keys hammering (often refused) and a stream of
	 * fresh keys that take once and go quiet; now and then the clock
	 * steps back. Refill time is 1.5 s = ~7500 calls.
	 */
	for (int i = 0; i < CALLS; i++) {
		int key, want, got;

		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 4 == 0 && next_fresh < NKEYS)
			key = next_fresh++;
		else
			key = (int)((seed >> 8) % 1000);
		t += (seed >> 20) % 400;
		if ((seed >> 12) % 1000 == 0)
			t -= 50000; /* backwards */
		want = ref_take(&r, key, t);
		got = take(rl, key, t);
		if (got != want)
			cr_assert_fail("call %d, key %d, t %lld: %d, the reference says %d", i, key,
			    (long long)t, got, want);
		if (ratelimit_slots(rl) > most)
			most = ratelimit_slots(rl);
	}
	cr_expect_geq(next_fresh, 700000, "most of the keys were used");
	/* ~7500 calls per refill time: at most ~2 * 7500 buckets alive. */
	cr_expect_leq(most, 65536, "slots bounded by the keys active in a refill time: %zu", most);
	free(r.units);
	free(r.last);
	free(r.seen);
	ratelimit_free(rl);
}

Test(ratelimit, idle_buckets_are_dropped_at_the_next_sweep)
{
	struct ratelimit *rl = limiter(1, SEC, 1);
	size_t big;
	int k;

	for (k = 0; k < 50000; k++)
		cr_assert_eq(take(rl, k, 0), 1);
	cr_expect_eq(ratelimit_buckets(rl), 50000);
	big = ratelimit_slots(rl);
	cr_expect_eq(big, 131072);
	/*
	 * A second later every one of them is full again. The table sweeps
	 * when it would grow: within big / 2 - 50000 new keys, and then
	 * only the new keys are left, in a smaller table.
	 */
	for (k = 50000; ratelimit_buckets(rl) > (size_t)(k - 50000) && k < 50000 + 20000; k++)
		cr_assert_eq(take(rl, k, 2 * SEC), 1);
	cr_expect_eq(
	    k - 50000, 131072 / 2 - 50000 + 1, "the sweep came when the table was half full");
	cr_expect_eq(ratelimit_buckets(rl), (size_t)(k - 50000));
	cr_expect_eq(ratelimit_slots(rl), 65536, "the table shrank to four times what is left");
	cr_expect_eq(take(rl, 3, 2 * SEC), 1, "a forgotten key starts full");
	cr_expect_eq(take(rl, 3, 2 * SEC), -1);
	ratelimit_free(rl);
}

Test(ratelimit, many_tokens)
{
	enum { N = 200000 };
	struct ratelimit *rl = limiter(1, 60 * SEC, 2);

	for (int k = 0; k < N; k++) {
		cr_assert_eq(take(rl, k * 7919, 100), 1);
		cr_assert_eq(take(rl, k * 7919, 100), 1);
	}
	cr_expect_eq(ratelimit_buckets(rl), N);
	for (int k = 0; k < N; k++)
		cr_assert_eq(take(rl, k * 7919, 200), -60, "key %d", k);
	for (int k = 0; k < N; k++)
		cr_assert_eq(take(rl, k * 7919, 100 + 30 * SEC), -30);
	cr_expect_eq(take(rl, -5, 100 + 30 * SEC), 1, "a new key is not affected");
	cr_expect_eq(ratelimit_refused(rl), 2 * N);
	ratelimit_free(rl);
}

Test(ratelimit, parse_rate)
{
	static const struct {
		const char *in;
		long rate;
		int64_t per_us;
	} good[] = {
	    {"0", 0, SEC},
	    {"5", 5, SEC},
	    {"5/s", 5, SEC},
	    {"30/min", 30, 60 * SEC},
	    {"12/h", 12, 3600 * SEC},
	    {"100/d", 100, 86400 * SEC},
	    {"1000000", 1000000, SEC},
	};
	static const char *const bad[] = {
	    "", "-1", "1.5", "x", "5/", "5/m", "5/hour", "/s", "1000001", "5 /s", "5/s "};

	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		struct ratelimit_config c = {0};
		char *cause = NULL;

		cr_expect_eq(ratelimit_parse_rate(good[i].in, &c, &cause), 0, "%s", good[i].in);
		cr_expect_eq(c.rate, good[i].rate, "%s", good[i].in);
		cr_expect_eq(c.per_us, good[i].per_us, "%s", good[i].in);
		cr_expect_null(cause);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct ratelimit_config c = {.rate = 77};
		char *cause = NULL;

		cr_expect_eq(ratelimit_parse_rate(bad[i], &c, &cause), -1, "\"%s\"", bad[i]);
		cr_expect_not_null(cause, "\"%s\"", bad[i]);
		cr_expect_eq(c.rate, 77, "untouched on failure");
		free(cause);
	}
	cr_expect_eq(ratelimit_default_burst(1), 20);
	cr_expect_eq(ratelimit_default_burst(20), 20);
	cr_expect_eq(ratelimit_default_burst(500), 500);
}

Test(ratelimit, out_of_range_config_is_clamped)
{
	struct ratelimit *rl = limiter(1, 0, 0);

	/* per_us 1, burst 1: a token a microsecond. */
	cr_expect_eq(take(rl, 1, 0), 1);
	cr_expect_eq(take(rl, 1, 0), -1);
	cr_expect_eq(take(rl, 1, 1), 1);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}
