/*
 * ratelimit.h: per-token rate limiting of submissions, as token buckets.
 *
 * Each key (an api_token id) has a bucket of at most burst tokens that
 * refills at rate tokens per per_us microseconds; a submission takes one
 * token or is refused with the whole seconds until one is back. A key never
 * seen starts full.
 *
 * Pure: the caller passes the time (monotonic microseconds); nothing here
 * reads a clock, logs or does I/O. Arithmetic is exact integers: a token is
 * per_us micro-units and every microsecond adds rate of them, so no rounding
 * accumulates however many calls are made. A clock that goes backwards adds
 * nothing (the bucket keeps the latest time it has seen).
 *
 * Memory: buckets that have had time to fill up again are equal to absent
 * ones and are dropped, so what is held is bounded by the keys used within
 * one refill time (burst / rate), not by the uptime. See ratelimit.c.
 */
#ifndef EDUMON_RATELIMIT_H
#define EDUMON_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit_config {
	long rate;      /* tokens per period; 0 turns limiting off */
	int64_t per_us; /* the period, microseconds (>= 1) */
	long burst;     /* bucket capacity (>= 1) */
};

/* Bounds that keep every product within int64_t. */
#define RATELIMIT_MAX_RATE 1000000L
#define RATELIMIT_MAX_BURST 1000000L
#define RATELIMIT_MAX_PERIOD_US (86400LL * 1000000)

/*
 * Parse a rate: "N" (per second) or "N/s", "N/min", "N/h", "N/d", with N in
 * 0..RATELIMIT_MAX_RATE. Fills rate and per_us of *out. Returns 0, or -1 and
 * *cause (caller frees).
 */
int ratelimit_parse_rate(const char *s, struct ratelimit_config *out, char **cause);

/* The burst used when none is configured: the larger of 20 and rate. */
long ratelimit_default_burst(long rate);

/*
 * A limiter with cfg (copied). rate and burst are clamped to their bounds,
 * per_us to 1..RATELIMIT_MAX_PERIOD_US. Returns an owned object; aborts on
 * out of memory.
 */
struct ratelimit *ratelimit_new(const struct ratelimit_config *cfg);

/* Free rl; NULL is a no-op. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Take one token from key's bucket at time now_us. Returns 0 if it was
 * taken (always, when the rate is 0), or -1 if the bucket is empty: nothing
 * is taken and *retry_after_s is the whole seconds (>= 1, rounded up) until
 * a token will be there. O(1) amortised.
 */
int ratelimit_take(struct ratelimit *rl, int key, int64_t now_us, int *retry_after_s);

/* Takes refused so far. */
unsigned long ratelimit_refused(const struct ratelimit *rl);

/* Buckets held now (not yet full again), and the slots allocated for them. */
size_t ratelimit_buckets(const struct ratelimit *rl);
size_t ratelimit_slots(const struct ratelimit *rl);

#endif
