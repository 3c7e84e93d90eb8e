/*
 * ratelimit.c: see ratelimit.h.
 *
 * The buckets sit in an open-addressing hash table (linear probing) keyed by
 * token id. Eviction is a sweep done when the table reaches half full, just
 * before it would otherwise grow: every bucket that is full again at the
 * current time is dropped, and the survivors are rehashed into a table of
 * four times their number (at least MIN_SLOTS). So:
 *
 *   - a full bucket is exactly what a key never seen gets, so dropping one
 *     changes no answer (an LRU with a fixed size would: evicting a bucket
 *     that is not yet full hands its owner a fresh burst);
 *   - after a sweep the table is at most a quarter full, so at least a
 *     quarter of its slots are inserted before the next one: each insertion
 *     pays O(1) for the sweeps, and a take is O(1) amortised;
 *   - the slots held are at most 4 * (buckets not full at the last sweep),
 *     i.e. proportional to the tokens that submitted within one refill time,
 *     and the table shrinks again when they go quiet and new ones come.
 *
 * No timer is needed (the module stays pure) and the key space is bounded
 * anyway: only authenticated tokens reach it.
 *
 * Units: one token is per_us micro-units; each microsecond adds rate of
 * them. Every quantity is at most burst * per_us <= 1e6 * 8.64e10 < 2^63.
 *
 * Invariants: nslots is a power of two >= MIN_SLOTS; count < nslots / 2
 * after every insertion; every used slot's last <= now (the latest time
 * passed in), and 0 <= units <= cap.
 */
#include "ratelimit.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MIN_SLOTS 16

struct bucket {
	int64_t units; /* micro-units of tokens, at time last */
	int64_t last;  /* when units was last brought up to date */
	int key;
	bool used;
};

struct ratelimit {
	struct ratelimit_config cfg;
	int64_t cap; /* burst * per_us */
	int64_t now; /* the latest time seen: the limiter's clock never goes back */
	struct bucket *slots;
	size_t nslots;
	size_t count;
	unsigned long refused;
};

static const struct {
	const char *name;
	int64_t us;
} units[] = {
    {"s", 1000000LL},
    {"min", 60 * 1000000LL},
    {"h", 3600 * 1000000LL},
    {"d", 86400 * 1000000LL},
};

int
ratelimit_parse_rate(const char *s, struct ratelimit_config *out, char **cause)
{
	const char *slash = strchr(s, '/');
	char *num = slash != NULL ? xstrndup(s, (size_t)(slash - s)) : xstrdup(s);
	long long n;
	int64_t per_us = 1000000LL;
	int rc = -1;

	if (parse_ll(num, 0, RATELIMIT_MAX_RATE, &n) < 0) {
		*cause = xasprintf("\"%s\": expected N or N/s, N/min, N/h, N/d with N in 0..%ld", s,
		    RATELIMIT_MAX_RATE);
		goto fail;
	}
	if (slash != NULL) {
		size_t i;

		for (i = 0; i < ARRAY_LEN(units); i++)
			if (strcmp(slash + 1, units[i].name) == 0)
				break;
		if (i == ARRAY_LEN(units)) {
			*cause = xasprintf("\"%s\": the period must be s, min, h or d", s);
			goto fail;
		}
		per_us = units[i].us;
	}
	out->rate = (long)n;
	out->per_us = per_us;
	rc = 0;
fail:
	free(num);
	return rc;
}

long
ratelimit_default_burst(long rate)
{
	return rate > 20 ? rate : 20;
}

static long
clamp_long(long v, long lo, long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

struct ratelimit *
ratelimit_new(const struct ratelimit_config *cfg)
{
	struct ratelimit *rl = xcalloc(1, sizeof *rl);

	rl->cfg.rate = clamp_long(cfg->rate, 0, RATELIMIT_MAX_RATE);
	rl->cfg.burst = clamp_long(cfg->burst, 1, RATELIMIT_MAX_BURST);
	rl->cfg.per_us = cfg->per_us < 1                         ? 1
	                 : cfg->per_us > RATELIMIT_MAX_PERIOD_US ? RATELIMIT_MAX_PERIOD_US
	                                                         : cfg->per_us;
	rl->cap = (int64_t)rl->cfg.burst * rl->cfg.per_us;
	rl->nslots = MIN_SLOTS;
	rl->slots = xcalloc(rl->nslots, sizeof *rl->slots);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slots);
	free(rl);
}

/* Bring b up to rl->now. Exact: no product can exceed cap. */
static void
refill(const struct ratelimit *rl, struct bucket *b)
{
	int64_t need = rl->cap - b->units;
	int64_t elapsed = rl->now - b->last;

	b->last = rl->now;
	if (need <= 0 || elapsed <= 0)
		return;
	if (elapsed > need / rl->cfg.rate)
		b->units = rl->cap; /* elapsed * rate > need */
	else
		b->units += elapsed * rl->cfg.rate; /* <= need */
}

/* The slot of key, or the empty slot where it would go. */
static struct bucket *
probe(struct bucket *slots, size_t nslots, int key)
{
	size_t i = (size_t)hash_mix64((uint64_t)(uint32_t)key) & (nslots - 1);

	while (slots[i].used && slots[i].key != key)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

/* Drop the buckets full again at rl->now and rehash the rest. */
static void
sweep(struct ratelimit *rl)
{
	struct bucket *old = rl->slots;
	size_t nold = rl->nslots, live = 0;

	for (size_t i = 0; i < nold; i++) {
		if (!old[i].used)
			continue;
		refill(rl, &old[i]);
		if (old[i].units < rl->cap)
			live++;
		else
			old[i].used = false;
	}
	for (rl->nslots = MIN_SLOTS; rl->nslots < 4 * live;)
		rl->nslots *= 2;
	rl->slots = xcalloc(rl->nslots, sizeof *rl->slots);
	rl->count = live;
	for (size_t i = 0; i < nold; i++)
		if (old[i].used)
			*probe(rl->slots, rl->nslots, old[i].key) = old[i];
	free(old);
}

int
ratelimit_take(struct ratelimit *rl, int key, int64_t now_us, int *retry_after_s)
{
	struct bucket *b;
	int64_t deficit, wait_us;

	if (rl->cfg.rate == 0)
		return 0;
	if (now_us > rl->now)
		rl->now = now_us;
	b = probe(rl->slots, rl->nslots, key);
	if (!b->used) {
		if (2 * (rl->count + 1) > rl->nslots) {
			sweep(rl);
			b = probe(rl->slots, rl->nslots, key);
		}
		b->used = true;
		b->key = key;
		b->units = rl->cap;
		b->last = rl->now;
		rl->count++;
	}
	refill(rl, b);
	if (b->units >= rl->cfg.per_us) {
		b->units -= rl->cfg.per_us;
		return 0;
	}
	deficit = rl->cfg.per_us - b->units;
	wait_us = (deficit + rl->cfg.rate - 1) / rl->cfg.rate;
	*retry_after_s = (int)((wait_us + 999999) / 1000000);
	assert(*retry_after_s >= 1);
	rl->refused++;
	return -1;
}

unsigned long
ratelimit_refused(const struct ratelimit *rl)
{
	return rl->refused;
}

size_t
ratelimit_buckets(const struct ratelimit *rl)
{
	return rl->count;
}

size_t
ratelimit_slots(const struct ratelimit *rl)
{
	return rl->nslots;
}
