/*
 * ruleeval.h: the pure evaluation core of rules and alerts.
 *
 * Every function here works on plain structs: no sockets, no PGconn, no
 * event base, no clock ("today" is a parameter, in days since 1970-01-01 of
 * the deployment's time zone). The daemon gathers figures, calls these
 * functions and stores what they decide.
 *
 * The flow for one (rule, scope unit, period) episode:
 *   1. figures: a school's own value, or a struct agg of the scope's schools
 *      (running sums, section 3);
 *   2. a judgement (struct judgement): severity, value and bound, from the
 *      rule kind's function (rule_judge_*), or "no judgement" when the
 *      figure is provisional or history is missing;
 *   3. alert_step moves the episode's struct alert_state and says what
 *      happened (fired, escalated, de-escalated, resolved, nothing);
 *   4. alert_fingerprint names the episode, alert_message renders the text.
 *
 * Comparisons are exact: 49/50 is the same double as 0.98, so a ">= 98%"
 * target is met by 49 of 50. A NaN value is in no band.
 *
 * Functions here do not use rules.c (cmp_apply, severity_name_zh ...): the
 * module needs only the struct definitions of rules.h.
 */
#ifndef EDUMON_RULEEVAL_H
#define EDUMON_RULEEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "catalog.h"
#include "period.h"
#include "rules.h"

/* ---- 1. Bands ---- */

/*
 * The most severe of r's bands that holds for value ("value OP bound"), or
 * SEV_OK when none does.
 */
enum severity rule_band_severity(const struct rule *r, double value);

/*
 * Like rule_band_severity, with hysteresis from prev, the severity in force.
 * Escalation is immediate. A band of severity s <= prev stays in force until
 * value is on the good side of that band's bound by at least
 * r->resolve_margin: for < and <= the good side is above the bound, for >
 * and >= below it; == and != have no margin. The result is the highest
 * severity whose band holds or is kept, SEV_OK if none. Distances within
 * 1e-9 of the margin (relative to the bound's magnitude, at least 1) count
 * as the margin, so "0.985 clears 0.98 with margin 0.005" despite binary
 * rounding.
 */
enum severity rule_severity_with_hysteresis(const struct rule *r, enum severity prev,
    double value);

/* ---- 2. Judgements and the alert state machine ---- */

/*
 * What a rule kind's function decided about one figure. When judged is
 * false (a provisional aggregate, no figure last year, a deadline not yet
 * passed), the figure must neither fire nor resolve anything and the other
 * fields are unspecified. value and bound are in the units of the judged
 * quantity (a fraction for rates, a coefficient of variation for
 * dispersion, days overdue for missing); op is the comparison that makes
 * value a breach of bound, for messages.
 */
struct judgement {
	bool judged;
	enum severity severity;
	double value;
	double bound;
	enum cmp_op op;
};

/*
 * The state of one (rule, scope unit, period) episode, kept by the caller
 * (in memory and in the alert table). Zero-initialised is "never fired".
 * firing: an alert is open; severity: the severity in force (SEV_OK when
 * not firing); value and bound: the last judged value and the bound it was
 * judged against (after a resolution, the value that cleared it and the
 * bound of the band that was in force); streak: consecutive periods in
 * breach including this one (0 when the last judgement was no breach).
 */
struct alert_state {
	bool firing;
	enum severity severity;
	double value;
	double bound;
	int streak;
};

enum alert_transition {
	ALERT_NONE,
	ALERT_FIRED,
	ALERT_ESCALATED,
	ALERT_DEESCALATED,
	ALERT_RESOLVED,
	ALERT_TRANSITION_COUNT
};

/* "none", "fired", "escalated", "deescalated", "resolved". Static string. */
const char *alert_transition_name(enum alert_transition t);

/*
 * Step st by judgement j. prior_breaches is the number of immediately
 * preceding consecutive periods (of the rule's metric, same scope unit)
 * already in breach; a breach fires only when prior_breaches + 1 >=
 * r->for_periods (values below 1 count as 1). Once firing, `for` no longer
 * matters: severity changes and the resolution are immediate (hysteresis is
 * the judgement's business: pass st->severity as prev to the judging
 * function). A judgement with judged false changes nothing and returns
 * ALERT_NONE. Re-evaluating the same judgement returns ALERT_NONE
 * (idempotent). While firing, value and bound are refreshed even when the
 * transition is ALERT_NONE. Never fails.
 */
enum alert_transition alert_step(const struct rule *r, struct alert_state *st,
    const struct judgement *j, int prior_breaches);

/* ---- 3. Aggregates with running sums ---- */

/*
 * One school's contribution to an aggregate: num/den for rates (value is
 * then num/den), num for counts (den unused), value for everything (the
 * per-school figure the dispersion is computed over).
 */
struct agg_item {
	int64_t num;
	int64_t den;
	double value;
};

/*
 * Running sums for one (rule or metric, scope unit, period). Zero-initialised
 * is empty. num, den and count are exact integers. sum and sumsq are kept as
 * unevaluated pairs (hi + lo, error-free TwoSum/TwoProduct transformations),
 * so each add or remove loses only about u * |lo| (u = 2^-53, |lo| <= half an
 * ulp of the sum) instead of u * |sum|. Precision guarantee: num, den, count
 * and so every rate are exact; sums of integer values (below 2^53) are exact
 * whatever the history; for other finite values the running sum and sum of
 * squares stay within 1e-15 times the sum of the current values' magnitudes
 * (squares') of a from-scratch recomputation (the mean likewise, scaled by
 * the count), and the coefficient of variation within 1e-12 relative of a
 * fresh two-pass computation (the randomised test checks all of this after
 * 20,000 add/replace/remove steps).
 * Rebuilding an aggregate from its items (agg_add over a zeroed struct) is
 * always safe and gives the same result as any history, to that precision.
 */
struct agg {
	int64_t num;   /* sum of numerators */
	int64_t den;   /* sum of denominators */
	int64_t count; /* reporting schools */
	double sum, sum_lo;
	double sumsq, sumsq_lo;
};

/* A rate item: value = num/den (0 when den is 0). */
struct agg_item agg_item_rate(int64_t num, int64_t den);
/* A count item: num = n, den = 1, value = n. */
struct agg_item agg_item_count(int64_t n);
/* A plain value item (num = den = 0). */
struct agg_item agg_item_value(double v);

/* Add a school's contribution. */
void agg_add(struct agg *a, const struct agg_item *it);
/* Remove a contribution added earlier (the caller keeps the old item). */
void agg_remove(struct agg *a, const struct agg_item *it);
/* A correction: agg_remove(old) then agg_add(new). */
void agg_replace(struct agg *a, const struct agg_item *old, const struct agg_item *new_item);

/*
 * The aggregate figure of a metric kind: rates sum(num)/sum(den) (never the
 * mean of the schools' rates), counts sum(num), values the mean of the
 * values. Returns 0 and sets *out, or -1 when undefined (no denominator, no
 * school).
 */
int agg_value(const struct agg *a, enum metric_kind kind, double *out);

/* Mean of the values; -1 with no school. */
int agg_mean(const struct agg *a, double *out);

/*
 * How many reports make a scope complete: ceil(completeness * expected),
 * computed so that 0.9 * 10 is 9 (a tolerance of 1e-9 absorbs the binary
 * rounding of the product); completeness outside (0, 1] counts as 1.
 */
int64_t agg_required(double completeness, int64_t expected);

/*
 * True when the aggregate may be judged: a->count >= agg_required(
 * completeness, expected), or the deadline has passed. Before that it is
 * provisional.
 */
bool agg_judgeable(const struct agg *a, double completeness, int64_t expected,
    bool deadline_passed);

/* ---- 4. Dispersion ---- */

/*
 * Coefficient of variation (population standard deviation / mean) of the
 * values in a. Returns 0 and sets *out, or -1 with fewer than 2 schools or a
 * mean <= 0.
 */
int agg_cv(const struct agg *a, double *out);

/* The same over an array, computed in two passes (the reference). */
int dispersion_cv(const double *values, size_t n, double *out);

/* ---- 5-7. Judging each rule kind ---- */

/*
 * The severity a kind without its own scale fires at (missing, trend,
 * dispersion without bands): the severity of r's first band if it has one,
 * else SEV_WARNING.
 */
enum severity rule_breach_severity(const struct rule *r);

/*
 * threshold: value against r's bands with hysteresis from prev. judged is
 * copied to out->judged (false for a provisional aggregate). bound and op
 * are those of the band in force, or of r's first band when none is.
 */
void rule_judge_threshold(const struct rule *r, enum severity prev, double value, bool judged,
    struct judgement *out);

/*
 * dispersion: the aggregate's coefficient of variation against r's bands
 * if it has any, else against r->limit (a breach when cv > limit, at
 * rule_breach_severity), with hysteresis from prev. Not judged when judged
 * is false or the coefficient is undefined (agg_cv fails).
 */
void rule_judge_dispersion(const struct rule *r, enum severity prev, const struct agg *a,
    bool judged, struct judgement *out);

/*
 * quota: a cumulative count in period p (of kind r->quota_period), as of
 * today. expected-so-far = r->quota * elapsed / total, where elapsed =
 * today - p->start clamped to [0, total] (whole days gone) and total is the
 * period's length in days. Once count >= quota: SEV_OK. Before p has ended:
 * SEV_WARNING when count < floor(expected-so-far), bound that floor. From
 * p->end on: SEV_CRITICAL when count < quota, bound the quota. The floor is
 * exact integer arithmetic when the quota is a whole number. Not judged
 * before p starts.
 */
void rule_judge_quota(const struct rule *r, const struct period *p, int32_t today, double count,
    struct judgement *out);

/*
 * trend, mode yoy: value against last_year (NULL: no figure last year, not
 * judged, which is not a breach). Direction decrease: a breach when value
 * is not below last year's (value >= last_year, op ">="); increase: when
 * not above it. bound is last year's figure.
 */
void rule_judge_yoy(const struct rule *r, double value, const double *last_year,
    struct judgement *out);

/*
 * trend, mode baseline: value against the mean of the last r->baseline_days
 * school-day values hist[0..n) (most recent first; extra entries beyond
 * baseline_days are ignored). Fewer than baseline_days / 2 values: not
 * judged. A breach when value > spike_factor * baseline and value - baseline
 * >= min_delta (within 1e-9, so 0.03 - 0.01 meets 0.02). bound is
 * spike_factor * baseline, op ">".
 */
void rule_judge_baseline(const struct rule *r, double value, const double *hist, size_t n,
    struct judgement *out);

/*
 * The deadline of p with grace_days of grace: the first day on which a
 * report for p is late, p->end + grace_days (p->end is already the day
 * after the period). The deadline has passed when today >= the deadline.
 */
int32_t missing_deadline(const struct period *p, int grace_days);

/*
 * True if a unit following calendar cal (NULL: Monday to Friday) is
 * expected to report for p: daily periods on school days only, weekly
 * periods when the week holds a school day, every other period always.
 */
bool missing_expected(const struct calendar *cal, const struct period *p);

/*
 * missing: a report for p, of a unit following cal, as of today. Not judged
 * before the deadline (missing_deadline(p, r->grace_days)). SEV_OK when the
 * report is there or p is not expected (so a firing alert resolves); else a
 * breach at rule_breach_severity with value = days overdue (1 on the
 * deadline day), bound = r->grace_days, op ">".
 */
void rule_judge_missing(const struct rule *r, const struct calendar *cal, const struct period *p,
    int32_t today, bool reported, struct judgement *out);

/* Asked by missing_due whether the unit has reported for p. */
typedef bool (*missing_reported_cb)(const struct period *p, void *arg);

/*
 * Periods of kind whose deadline (grace_days of grace) lies in [from, to],
 * that are expected under cal and for which reported (when not NULL) says
 * no: what a restart must catch up on when the daemon was down from `from`
 * to `to`. Returns the count and sets *out to a caller-freed array in
 * ascending order (NULL when the count is 0). from > to gives 0.
 */
size_t missing_due(enum period_kind kind, int grace_days, const struct calendar *cal,
    int32_t from, int32_t to, missing_reported_cb reported, void *arg, struct period **out);

/* ---- 8. Fingerprint and message ---- */

#define ALERT_FINGERPRINT_LEN 64

/*
 * Lower-case hex SHA-256 (64 characters and NUL into out) of the bytes
 * rule_id NUL unit_code NUL period, where period is the canonical period
 * string (period_format). Stable across restarts and versions: the bytes
 * hashed are part of the contract.
 */
void alert_fingerprint(const char *rule_id, const char *unit_code, const struct period *p,
    char out[ALERT_FINGERPRINT_LEN + 1]);

/* What alert_message fills into a template. All strings are borrowed. */
struct alert_message_ctx {
	const char *unit;         /* {unit}: the school's or district's name */
	const char *metric;       /* {metric}: the metric's Chinese name */
	enum metric_kind kind;    /* how {value} and {bound} are written */
	double value;             /* {value} */
	double bound;             /* {bound} */
	enum cmp_op op;           /* {op}: 低于, 不高于, 超过, 达到, 等于, 不等于 */
	const struct period *period; /* {period}: canonical string */
	enum severity severity;   /* {severity}: 正常, 提示, 预警, 严重 */
};

/*
 * How a rule's judged quantity is written: dispersion as a plain value (a
 * coefficient), missing and quota as counts (days, sessions), threshold and
 * trend as the metric's own kind.
 */
enum metric_kind rule_value_kind(const struct rule *r, enum metric_kind metric_kind);

/*
 * Write x as a message shows it: rates as a percentage with one decimal
 * ("97.0%"), counts as integers ("56"), other values with up to two
 * decimals, trailing zeros dropped ("0.5", "1234.57"). Returns out (len
 * bytes, 32 is always enough).
 */
char *alert_format_value(enum metric_kind kind, double x, char *out, size_t len);

/* The default Chinese message template of a rule kind. Static string. */
const char *alert_default_template(enum rule_kind kind);

/*
 * Render r's message template (or alert_default_template(r->kind) when r has
 * none) with ctx. Placeholders: {unit} {metric} {value} {bound} {op}
 * {period} {severity}; an unknown {name} or a lone brace is copied as it
 * is. A NULL string in ctx renders as "". Returns a new string the caller
 * frees; never fails.
 */
char *alert_message(const struct rule *r, const struct alert_message_ctx *ctx);

#endif
