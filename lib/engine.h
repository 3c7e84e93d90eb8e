/*
 * engine.h: the rules engine's memory. Pure: no sockets, no PGconn, no
 * clock ("today" is a parameter, days since 1970-01-01 in the deployment's
 * time zone). lib/alerter.c feeds it from PostgreSQL and stores what it
 * decides.
 *
 * The engine holds, for every (metric, period) it has been given (a
 * "slice"), each unit's current figure with its revision, and from those:
 *   - running aggregates per (aggregate rule, district or city, period),
 *     updated by replacing one unit's contribution (ruleeval.h struct agg),
 *     never recomputed from every school on a write;
 *   - the alert state of every (rule, unit, period) episode that has ever
 *     been in breach.
 * Applying a committed observation sets the unit's figure only when its
 * revision is newer than the one held, so loading a slice from the
 * database and applying the same commits again in any order converge.
 *
 * Populations. A rule concerns the units that report its metric (the
 * catalog's unit kinds and stages), are active, and pass the rule's filters
 * (stages, urban, public). A school rule judges each such unit on its own
 * figure; a district (city) rule judges the aggregate of those units in the
 * district's (city's) subtree, the district (city) itself included.
 * "Expected" is the number of such units: an aggregate is provisional
 * until agg_judgeable says otherwise.
 *
 * What each kind needs (engine_wants lists the slices not yet held):
 *   threshold, dispersion: the period's slice; for "for" > 1, the previous
 *     periods (previous school days for daily metrics);
 *   trend yoy: the same period a year before; baseline: the previous
 *     school days;
 *   quota: every period of the metric inside the quota period (monthly
 *     counts add up to a year);
 *   missing: the slice of each period whose deadline the clock passes.
 */
#ifndef EDUMON_ENGINE_H
#define EDUMON_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "catalog.h"
#include "period.h"
#include "registry.h"
#include "ruleeval.h"
#include "rules.h"

struct engine;

/* A unit's figure for (metric, period), as committed. */
struct engine_obs {
	int unit_id;
	int metric_id;
	struct period period;
	double value;     /* count/value metrics; num/den for rates */
	int64_t num, den; /* rate metrics */
	int revision;     /* >= 1 */
	int tag;          /* caller's: which submission it came from; -1 none */
};

/* A (metric, period) the engine wants loaded. */
struct engine_slice_key {
	int metric_id;
	struct period period;
};

/* An alert change decided by the engine. */
struct engine_event {
	size_t rule;      /* index in the rule set */
	int unit_id;      /* the school, or the district/city */
	int metric_id;
	struct period period;
	enum alert_transition transition;
	struct alert_state state; /* after the change */
	enum severity severity_before; /* in force before it (SEV_OK: none) */
	double value_before, bound_before; /* the last judged before it (a
	                                    * resolution: of the breach) */
	int tag;          /* tag of the observation that caused it; -1: clock/start */
	size_t entry;     /* for engine_set_alert_id */
};

/* An aggregate figure (district/city rules), after a change. */
struct engine_figure {
	size_t rule;
	int unit_id;
	struct period period;
	bool defined;     /* value is meaningful */
	double value;     /* the judged quantity: rate, sum, mean or CV */
	int64_t num, den;
	int64_t reported, expected;
	bool judged;
};

struct engine_out {
	struct engine_event *events;
	size_t nevents, evcap;
	struct engine_figure *figures;
	size_t nfigures, figcap;
	/*
	 * Episodes still firing whose value or bound moved without a
	 * transition (a correction from 58 to 60 pupils, both a warning): their
	 * state entries, in the order seen, possibly repeated. They are no
	 * events (nobody is told), but the stored alert should show the figure
	 * in force: engine_entry reads the current state.
	 */
	size_t *refreshed;
	size_t nrefreshed, refcap;
};

void engine_out_reset(struct engine_out *o);
void engine_out_free(struct engine_out *o);

/*
 * A new engine over rules, reg, cat and cal (NULL: Monday to Friday). All
 * four are borrowed and must outlive the engine or be replaced with
 * engine_rebind before they are freed.
 */
struct engine *engine_new(const struct ruleset *rules, const struct registry *reg,
    const struct catalog *cat, const struct calendar *cal);
void engine_free(struct engine *e);

/*
 * Calendars per city or district (each names its unit: calendar_unit): a
 * unit follows the calendar of its nearest ancestor (itself included) that
 * has one, else engine_new's. The array and calendars are borrowed like
 * engine_new's arguments. Daily expectations (missing reports), `for`
 * streaks and baselines of daily metrics count that calendar's school days.
 */
void engine_set_calendars(struct engine *e, const struct calendar *const *cals, size_t n);

/*
 * Point the engine at a new registry and catalog (same rules): the
 * populations and expected counts are recomputed and every aggregate is
 * rebuilt from the figures held. Alert states are kept. Call
 * engine_evaluate_all afterwards to judge the new figures.
 */
void engine_rebind(struct engine *e, const struct registry *reg, const struct catalog *cat);

/* True if the engine has the slice. */
bool engine_has_slice(const struct engine *e, int metric_id, int32_t period_start);

/*
 * Install a slice as loaded from the database: items (of that metric and
 * period) are applied like engine_apply's, without evaluating. An empty
 * slice is valid (no unit reported).
 */
void engine_load_slice(struct engine *e, int metric_id, const struct period *p,
    const struct engine_obs *items, size_t n);

/*
 * The slices obs needs (theirs and those their rules look back at) that
 * the engine does not have, without repeats. Returns the count; *out is
 * caller-freed (NULL when 0). Metrics no rule uses need nothing.
 */
size_t engine_wants(const struct engine *e, const struct engine_obs *obs, size_t n,
    struct engine_slice_key **out);

/*
 * Apply committed observations and evaluate what they touch: each school
 * rule of their metric for their unit, each aggregate containing them (once
 * per aggregate however many of its units changed), the missing-report
 * alerts they answer, and the held periods whose judgement looks back at
 * them (the next `for` - 1 periods, next year's for year-on-year trends,
 * the following school days for baselines), so that a late or corrected
 * figure judges them as a restart would. Observations of slices the
 * engine does not have are applied to a new slice (what engine_wants lists
 * should be loaded first); those of metrics no rule judges are ignored.
 * Events and figures are appended to out.
 */
void engine_apply(struct engine *e, const struct engine_obs *obs, size_t n, int32_t today,
    struct engine_out *out);

/*
 * The state of an episode as stored (alert table), before evaluation
 * starts. Unknown rule ids are ignored (a rule removed from the set: its
 * alerts stay as they are). Returns the entry or SIZE_MAX.
 */
size_t engine_load_state(struct engine *e, const char *rule_id, int unit_id,
    const struct period *p, const struct alert_state *st, int64_t alert_id);

/* The stored alert id of an entry (0: not stored yet) and setting it. */
int64_t engine_alert_id(const struct engine *e, size_t entry);
void engine_set_alert_id(struct engine *e, size_t entry, int64_t alert_id);

/*
 * The episode of state entry as it stands now, shaped as an event with
 * transition ALERT_NONE (rule, unit, metric, period, state; severity_before
 * the severity in force; tag -1). false if there is no such entry.
 */
bool engine_entry(const struct engine *e, size_t entry, struct engine_event *out);

/*
 * Judge everything held (start-up, after engine_rebind or a rules change):
 * every school rule for every figure, every aggregate, and the clock checks
 * for today (engine_tick over [today, today]). A firing episode of a unit
 * the rule no longer concerns (closed, filtered out, a district left with
 * no unit to judge) resolves. A stored episode whose figures are not held
 * is judged only when they are loaded.
 */
void engine_evaluate_all(struct engine *e, int32_t today, struct engine_out *out);

/*
 * engine_rebind and engine_evaluate_all in steps, so that a caller on an
 * event loop can serve others between them: at 20,000 schools judging
 * everything takes long enough to stall a loop (bench/README.md, "Judging
 * everything"). A pass is begun, then stepped until engine_pass_step
 * returns true; each step does about budget units of work (a unit's
 * figure, an aggregate, an episode; engine_tick over today is one step of
 * its own). Between the begin and the last step the engine must be given
 * nothing else (no apply, load, tick, rebind or forget). Stepping a pass to
 * the end gives the same events, in the same order, as the functions
 * above; a pass that is abandoned leaves the engine to be freed.
 */
struct engine_pass {
	int phase;
	size_t i;
	int32_t today;
	bool judge; /* evaluate after rebuilding */
};

/*
 * Begin engine_rebind (registry and catalog are in force at once; the
 * aggregates are rebuilt by the steps), followed, when judge is true, by
 * engine_evaluate_all for today.
 */
void engine_pass_rebind(struct engine *e, const struct registry *reg, const struct catalog *cat,
    bool judge, int32_t today, struct engine_pass *p);
/* Begin engine_evaluate_all for today. */
void engine_pass_evaluate(struct engine *e, int32_t today, struct engine_pass *p);
/* Do about budget units of the pass (at least one); true when it is over. */
bool engine_pass_step(struct engine *e, struct engine_pass *p, size_t budget,
    struct engine_out *out);

/*
 * The slices engine_tick(from, to) needs that the engine does not have.
 */
size_t engine_tick_wants(const struct engine *e, int32_t from, int32_t to,
    struct engine_slice_key **out);

/*
 * The clock, for the days from..to (inclusive; from > to does nothing):
 * missing reports of periods whose deadline falls in [from, to]; every
 * quota rule as of `to` (its current period, and periods that ended in the
 * range); aggregates whose deadline falls in the range (no longer
 * provisional). Events are appended to out.
 */
void engine_tick(struct engine *e, int32_t from, int32_t to, struct engine_out *out);

/*
 * How many days back from today the rules on a metric look at its figures:
 * the periods whose deadline (period + grace) is still open, plus the
 * `for` - 1 periods before (daily: twice as many days and two weeks, for
 * weekends and holidays), a year and a period for year-on-year trends, twice the
 * baseline days and two weeks for baselines, the quota period for quotas.
 * -1 when no rule uses the metric.
 */
int engine_lookback_days(const struct engine *e, int metric_id);

/*
 * Forget the slices that ended more than their metric's look-back before
 * today, their aggregates, and episodes of those periods that are not in
 * breach: what a daemon holds stays bounded by the look-back, not by how
 * long it has run. A correction to a forgotten period loads it again
 * (engine_wants). Alert ids already handed out stay valid.
 */
void engine_forget(struct engine *e, int32_t today);

/* Counts for /metrics and tests. */
struct engine_counts {
	size_t slices, items, aggregates, states, firing;
};
void engine_counts(const struct engine *e, struct engine_counts *c);

/*
 * The running aggregate of (rule, scope unit, period) for tests: 0 and *out,
 * or -1 when the engine holds none.
 */
int engine_aggregate(const struct engine *e, size_t rule, int unit_id, int32_t period_start,
    struct agg *out, int64_t *expected);

#endif
