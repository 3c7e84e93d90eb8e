/*
 * test_ruleeval.c: Criterion suite "ruleeval" for lib/ruleeval.c, the pure
 * evaluation core of rules and alerts.
 *
 * Rules are filled in C here (the rules-file parser is another module), one
 * per target of TARGETS.md that a case needs. Expected values are written
 * out by hand (dates as strings, severities, transitions, rendered texts);
 * fingerprints were computed with Python's hashlib over the documented
 * bytes; dispersion examples are worked in the comments.
 *
 * Parameterised tests take indices into file-scope tables: Criterion copies
 * parameters into a new process, so pointers would not survive. Loops over
 * many cases report only failures (CHECK), because Criterion sends every
 * evaluated assertion to the runner.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "period.h"
#include "ruleeval.h"
#include "util.h"

#define CHECK(cond, ...)                                                               \
	do {                                                                           \
		if (!(cond))                                                           \
			cr_assert_fail(__VA_ARGS__);                                   \
	} while (0)

/* ---- rules of the default pack, as the parser would fill them ---- */

enum {
	R_PROGRESSION, /* junior_progression_rate >= 98% */
	R_CLASS_SIZE,  /* class_size_max: 56 warning, 66 critical */
	R_COVERAGE,    /* preschool coverage: < 90% warning, < 85% critical, margin 0.5 pt */
	R_COVERAGE_NOH, /* the same without hysteresis */
	R_CLASS_FOR3,  /* class size, breach must hold for 3 terms */
	R_SUPER_LARGE, /* super_large_classes must be 0 (!=, margin has no effect) */
	R_EQ_ZERO,     /* a band with == (margin has no effect) */
	R_DISP_PRIMARY, /* 校际差异系数 <= 0.50 */
	R_DISP_JUNIOR,  /* 校际差异系数 <= 0.45 */
	R_QUOTA3,      /* parent_school_sessions >= 3 a year */
	R_QUOTA7,      /* parenting_guidance_sessions >= 7 a year */
	R_DRILLS,      /* emergency_drills >= 1 a month */
	R_MYOPIA,      /* myopia_rate must fall year on year */
	R_INCREASE,    /* a trend that must rise */
	R_SICK,        /* sick_absence_rate spike against 14 school days */
	R_MISSING_DAY, /* daily report, no grace */
	R_MISSING_MONTH, /* monthly report, 10 days of grace */
	R_COUNT
};

static struct rule rules[R_COUNT] = {
	[R_PROGRESSION] = {.id = "junior_progression.school", .kind = RULE_THRESHOLD,
	    .metric = "junior_progression_rate", .bands = {{SEV_WARNING, OP_LT, 0.98}},
	    .nbands = 1, .for_periods = 1, .completeness = 1},
	[R_CLASS_SIZE] = {.id = "class_size.school", .kind = RULE_THRESHOLD,
	    .metric = "class_size_max",
	    .bands = {{SEV_WARNING, OP_GE, 56}, {SEV_CRITICAL, OP_GE, 66}}, .nbands = 2,
	    .for_periods = 1, .completeness = 1},
	[R_COVERAGE] = {.id = "preschool_inclusive_coverage.district", .kind = RULE_THRESHOLD,
	    .metric = "preschool_inclusive_coverage", .scope = SCOPE_DISTRICT,
	    .bands = {{SEV_WARNING, OP_LT, 0.90}, {SEV_CRITICAL, OP_LT, 0.85}}, .nbands = 2,
	    .for_periods = 1, .resolve_margin = 0.005, .completeness = 0.9},
	[R_COVERAGE_NOH] = {.id = "coverage.nohyst", .kind = RULE_THRESHOLD,
	    .bands = {{SEV_WARNING, OP_LT, 0.90}, {SEV_CRITICAL, OP_LT, 0.85}}, .nbands = 2,
	    .for_periods = 1, .completeness = 1},
	[R_CLASS_FOR3] = {.id = "class_size.for3", .kind = RULE_THRESHOLD,
	    .bands = {{SEV_WARNING, OP_GE, 56}, {SEV_CRITICAL, OP_GE, 66}}, .nbands = 2,
	    .for_periods = 3, .completeness = 1},
	[R_SUPER_LARGE] = {.id = "super_large_classes.school", .kind = RULE_THRESHOLD,
	    .bands = {{SEV_CRITICAL, OP_NE, 0}}, .nbands = 1, .for_periods = 1,
	    .resolve_margin = 0.5, .completeness = 1},
	[R_EQ_ZERO] = {.id = "eq.zero", .kind = RULE_THRESHOLD,
	    .bands = {{SEV_INFO, OP_EQ, 0}}, .nbands = 1, .for_periods = 1,
	    .resolve_margin = 0.5, .completeness = 1},
	[R_DISP_PRIMARY] = {.id = "equipment_value_per_pupil.cv.primary", .kind = RULE_DISPERSION,
	    .scope = SCOPE_DISTRICT, .for_periods = 1, .limit = 0.50, .completeness = 1},
	[R_DISP_JUNIOR] = {.id = "equipment_value_per_pupil.cv.junior", .kind = RULE_DISPERSION,
	    .scope = SCOPE_DISTRICT, .for_periods = 1, .limit = 0.45, .completeness = 1},
	[R_QUOTA3] = {.id = "parent_school_sessions.quota", .kind = RULE_QUOTA, .for_periods = 1,
	    .quota = 3, .quota_period = PERIOD_YEAR, .completeness = 1},
	[R_QUOTA7] = {.id = "parenting_guidance_sessions.quota", .kind = RULE_QUOTA,
	    .for_periods = 1, .quota = 7, .quota_period = PERIOD_YEAR, .completeness = 1},
	[R_DRILLS] = {.id = "emergency_drills.quota", .kind = RULE_QUOTA, .for_periods = 1,
	    .quota = 1, .quota_period = PERIOD_MONTH, .completeness = 1},
	[R_MYOPIA] = {.id = "myopia_rate.yoy", .kind = RULE_TREND, .for_periods = 1,
	    .trend_mode = TREND_YOY, .trend_direction = TREND_DECREASE, .completeness = 1},
	[R_INCREASE] = {.id = "rise.yoy", .kind = RULE_TREND, .for_periods = 1,
	    .trend_mode = TREND_YOY, .trend_direction = TREND_INCREASE,
	    .bands = {{SEV_INFO, OP_LT, 0}}, .nbands = 1, .completeness = 1},
	[R_SICK] = {.id = "sick_absence_rate.spike", .kind = RULE_TREND, .for_periods = 1,
	    .trend_mode = TREND_BASELINE, .baseline_days = 14, .spike_factor = 2.0,
	    .min_delta = 0.02, .completeness = 1},
	[R_MISSING_DAY] = {.id = "sick_absence_rate.missing", .kind = RULE_MISSING,
	    .for_periods = 1, .grace_days = 0, .completeness = 1},
	[R_MISSING_MONTH] = {.id = "out_of_school_registered_poor.missing", .kind = RULE_MISSING,
	    .for_periods = 1, .grace_days = 10, .completeness = 1},
};

/* A date that must parse. */
static int32_t
day(const char *s)
{
	int32_t d;

	cr_assert_eq(date_parse(s, &d), 0, "bad test date %s", s);
	return d;
}

/* A period that must parse. */
static struct period
per(const char *s)
{
	struct period p;
	char *cause = NULL;

	cr_assert_eq(period_parse(s, &p, &cause), 0, "bad test period %s: %s", s, cause);
	return p;
}

/* Read a whole file; fails the test if it cannot. The caller frees. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	cr_assert_not_null(f, "%s: cannot open (run from the repository root)", path);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

/* The shipped Lianyungang calendar; fails the test on any error. */
static struct calendar *
lyg_calendar(void)
{
	size_t len;
	char *text = slurp("deploy/calendars/3207.json", &len);
	char *cause = NULL;
	struct calendar *cal = calendar_parse("3207.json", text, len, &cause);

	cr_assert_not_null(cal, "%s", cause);
	free(text);
	return cal;
}

/* ---- 1. bands: boundaries exactly on the bound ---- */

struct band_case {
	int rule;
	int64_t num; /* value = num / den, computed as the engine would */
	int64_t den;
	enum severity want;
};

static const struct band_case band_cases[] = {
	/* ">= 98%" is met by exactly 98%: 49 of 50. */
	{R_PROGRESSION, 49, 50, SEV_OK},
	{R_PROGRESSION, 48, 50, SEV_WARNING},
	{R_PROGRESSION, 50, 50, SEV_OK},
	{R_PROGRESSION, 98, 100, SEV_OK},
	{R_PROGRESSION, 979, 1000, SEV_WARNING},
	{R_PROGRESSION, 4900, 5000, SEV_OK},
	/* Class size: 55 fine, 56 warning (大班额), 66 critical (超大班额). */
	{R_CLASS_SIZE, 55, 1, SEV_OK},
	{R_CLASS_SIZE, 56, 1, SEV_WARNING},
	{R_CLASS_SIZE, 65, 1, SEV_WARNING},
	{R_CLASS_SIZE, 66, 1, SEV_CRITICAL},
	{R_CLASS_SIZE, 80, 1, SEV_CRITICAL},
	/* Coverage: 90% is fine, 85% only a warning. */
	{R_COVERAGE, 9, 10, SEV_OK},
	{R_COVERAGE, 89, 100, SEV_WARNING},
	{R_COVERAGE, 85, 100, SEV_WARNING},
	{R_COVERAGE, 17, 20, SEV_WARNING},
	{R_COVERAGE, 84, 100, SEV_CRITICAL},
	{R_SUPER_LARGE, 0, 1, SEV_OK},
	{R_SUPER_LARGE, 1, 1, SEV_CRITICAL},
	{R_EQ_ZERO, 0, 1, SEV_INFO},
	{R_EQ_ZERO, 1, 1, SEV_OK},
};

ParameterizedTestParameters(ruleeval, band_boundaries)
{
	static int idx[ARRAY_LEN(band_cases)];

	for (size_t i = 0; i < ARRAY_LEN(band_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, ruleeval, band_boundaries)
{
	const struct band_case *c = &band_cases[*i];
	const struct rule *r = &rules[c->rule];
	double v = (double)c->num / (double)c->den;
	struct judgement j;

	cr_expect_eq(rule_band_severity(r, v), c->want, "%s: %lld/%lld", r->id,
	    (long long)c->num, (long long)c->den);
	/* Without a severity in force, hysteresis changes nothing. */
	cr_expect_eq(rule_severity_with_hysteresis(r, SEV_OK, v), c->want, "%s: %lld/%lld", r->id,
	    (long long)c->num, (long long)c->den);
	rule_judge_threshold(r, SEV_OK, v, true, &j);
	cr_expect(j.judged);
	cr_expect_eq(j.severity, c->want);
	cr_expect_eq(j.value, v);
}

Test(ruleeval, judgement_names_the_band_in_force)
{
	struct judgement j;

	rule_judge_threshold(&rules[R_CLASS_SIZE], SEV_OK, 70, true, &j);
	cr_expect_eq(j.severity, SEV_CRITICAL);
	cr_expect_eq(j.bound, 66);
	cr_expect_eq(j.op, OP_GE);
	rule_judge_threshold(&rules[R_CLASS_SIZE], SEV_OK, 60, true, &j);
	cr_expect_eq(j.bound, 56);
	/* No breach: the first band, for a resolution message. */
	rule_judge_threshold(&rules[R_CLASS_SIZE], SEV_OK, 40, true, &j);
	cr_expect_eq(j.severity, SEV_OK);
	cr_expect_eq(j.bound, 56);
	rule_judge_threshold(&rules[R_CLASS_SIZE], SEV_OK, 70, false, &j);
	cr_expect_not(j.judged);
}

Test(ruleeval, nan_is_in_no_band)
{
	cr_expect_eq(rule_band_severity(&rules[R_CLASS_SIZE], NAN), SEV_OK);
	cr_expect_eq(rule_band_severity(&rules[R_SUPER_LARGE], NAN), SEV_OK, "!= with NaN");
	cr_expect_eq(rule_severity_with_hysteresis(&rules[R_COVERAGE], SEV_CRITICAL, NAN), SEV_OK);
}

/* ---- hysteresis ---- */

struct hyst_case {
	int rule;
	enum severity prev;
	double value;
	enum severity want;
};

static const struct hyst_case hyst_cases[] = {
	/* Warning below 90%, margin 0.5 points: kept until 90.5%. */
	{R_COVERAGE, SEV_WARNING, 0.90, SEV_WARNING},
	{R_COVERAGE, SEV_WARNING, 0.9049, SEV_WARNING},
	{R_COVERAGE, SEV_WARNING, 0.905, SEV_OK},
	{R_COVERAGE, SEV_WARNING, 0.95, SEV_OK},
	/* Escalation is immediate. */
	{R_COVERAGE, SEV_WARNING, 0.8499, SEV_CRITICAL},
	/* Critical below 85% is kept until 85.5%, then the warning still holds. */
	{R_COVERAGE, SEV_CRITICAL, 0.85, SEV_CRITICAL},
	{R_COVERAGE, SEV_CRITICAL, 0.8549, SEV_CRITICAL},
	{R_COVERAGE, SEV_CRITICAL, 0.855, SEV_WARNING},
	{R_COVERAGE, SEV_CRITICAL, 0.9049, SEV_WARNING},
	{R_COVERAGE, SEV_CRITICAL, 0.905, SEV_OK},
	/* Without a margin the bound itself clears. */
	{R_COVERAGE_NOH, SEV_WARNING, 0.90, SEV_OK},
	{R_COVERAGE_NOH, SEV_CRITICAL, 0.85, SEV_WARNING},
	/* >= bands: the good side is below; margin 0 means plain bands. */
	{R_CLASS_SIZE, SEV_CRITICAL, 65, SEV_WARNING},
	{R_CLASS_SIZE, SEV_CRITICAL, 55, SEV_OK},
	/* == and != have no margin. */
	{R_SUPER_LARGE, SEV_CRITICAL, 0, SEV_OK},
	{R_EQ_ZERO, SEV_INFO, 0.1, SEV_OK},
};

ParameterizedTestParameters(ruleeval, hysteresis)
{
	static int idx[ARRAY_LEN(hyst_cases)];

	for (size_t i = 0; i < ARRAY_LEN(hyst_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, ruleeval, hysteresis)
{
	const struct hyst_case *c = &hyst_cases[*i];

	cr_expect_eq(rule_severity_with_hysteresis(&rules[c->rule], c->prev, c->value), c->want,
	    "%s from %d at %.4f", rules[c->rule].id, c->prev, c->value);
}

Test(ruleeval, hysteresis_on_ge_bands)
{
	struct rule r = rules[R_CLASS_SIZE];

	/* Largest class, margin 2 pupils: 56 and 66 clear at 54 and 64. */
	r.resolve_margin = 2;
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_WARNING, 55), SEV_WARNING);
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_WARNING, 54.5), SEV_WARNING);
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_WARNING, 54), SEV_OK);
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_CRITICAL, 64.5), SEV_CRITICAL);
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_CRITICAL, 64), SEV_WARNING);
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_CRITICAL, 50), SEV_OK);
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_WARNING, 66), SEV_CRITICAL);
	/* Not yet in force: no margin. */
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_OK, 55), SEV_OK);
	cr_expect_eq(rule_severity_with_hysteresis(&r, SEV_WARNING, 65), SEV_WARNING);
}

/* ---- 2. the alert state machine ---- */

/* Judge value under rule r as a threshold and step st; returns the transition. */
static enum alert_transition
step_threshold(const struct rule *r, struct alert_state *st, double value, bool judged,
    int prior)
{
	struct judgement j;

	rule_judge_threshold(r, st->severity, value, judged, &j);
	return alert_step(r, st, &j, prior);
}

Test(ruleeval, transition_names)
{
	cr_expect_str_eq(alert_transition_name(ALERT_NONE), "none");
	cr_expect_str_eq(alert_transition_name(ALERT_FIRED), "fired");
	cr_expect_str_eq(alert_transition_name(ALERT_ESCALATED), "escalated");
	cr_expect_str_eq(alert_transition_name(ALERT_DEESCALATED), "deescalated");
	cr_expect_str_eq(alert_transition_name(ALERT_RESOLVED), "resolved");
	cr_expect_str_eq(alert_transition_name(ALERT_TRANSITION_COUNT), "unknown");
}

/* A coverage figure moving through the bands, with hysteresis. */
static const struct {
	double value;
	enum alert_transition t;
	enum severity sev;
} coverage_seq[] = {
	{0.91, ALERT_NONE, SEV_OK},
	{0.899, ALERT_FIRED, SEV_WARNING},
	{0.899, ALERT_NONE, SEV_WARNING}, /* idempotent */
	{0.90, ALERT_NONE, SEV_WARNING},  /* on the bound: kept */
	{0.9049, ALERT_NONE, SEV_WARNING},
	{0.84, ALERT_ESCALATED, SEV_CRITICAL},
	{0.84, ALERT_NONE, SEV_CRITICAL},
	{0.85, ALERT_NONE, SEV_CRITICAL},
	{0.8549, ALERT_NONE, SEV_CRITICAL},
	{0.855, ALERT_DEESCALATED, SEV_WARNING},
	{0.9, ALERT_NONE, SEV_WARNING},
	{0.905, ALERT_RESOLVED, SEV_OK},
	{0.905, ALERT_NONE, SEV_OK}, /* idempotent */
	{0.90, ALERT_NONE, SEV_OK},  /* on the bound, not firing: no breach */
	{0.80, ALERT_FIRED, SEV_CRITICAL},
	{0.95, ALERT_RESOLVED, SEV_OK},
};

Test(ruleeval, hysteresis_sequence)
{
	struct alert_state st = {0};

	for (size_t i = 0; i < ARRAY_LEN(coverage_seq); i++) {
		enum alert_transition t = step_threshold(&rules[R_COVERAGE], &st,
		    coverage_seq[i].value, true, 0);

		cr_expect_eq(t, coverage_seq[i].t, "step %zu (%.4f): %s, expected %s", i,
		    coverage_seq[i].value, alert_transition_name(t),
		    alert_transition_name(coverage_seq[i].t));
		cr_expect_eq(st.severity, coverage_seq[i].sev, "step %zu", i);
		cr_expect_eq(st.firing, coverage_seq[i].sev != SEV_OK, "step %zu", i);
		cr_expect_eq(st.value, coverage_seq[i].value, "step %zu", i);
	}
}

Test(ruleeval, hovering_at_the_bound_does_not_flap)
{
	struct alert_state with = {0}, without = {0};
	int fired = 0, resolved = 0, flaps = 0;

	/* 89.95%, 90.05%, 89.95% ... around the 90% bound. */
	for (int i = 0; i < 40; i++) {
		double v = i % 2 == 0 ? 0.8995 : 0.9005;
		enum alert_transition t = step_threshold(&rules[R_COVERAGE], &with, v, true, 0);

		fired += t == ALERT_FIRED;
		resolved += t == ALERT_RESOLVED;
		flaps += step_threshold(&rules[R_COVERAGE_NOH], &without, v, true, 0) != ALERT_NONE;
	}
	cr_expect_eq(fired, 1);
	cr_expect_eq(resolved, 0);
	cr_expect(with.firing);
	cr_expect_eq(flaps, 40, "without a margin every step is a transition");
}

Test(ruleeval, for_needs_consecutive_periods)
{
	/* A school's largest class over eight terms; each term is its own episode. */
	static const double sizes[] = {57, 58, 50, 57, 57, 57, 70, 40};
	static const enum alert_transition want[] = {ALERT_NONE, ALERT_NONE, ALERT_NONE,
		ALERT_NONE, ALERT_NONE, ALERT_FIRED, ALERT_FIRED, ALERT_NONE};
	static const int streaks[] = {1, 2, 0, 1, 2, 3, 4, 0};
	const struct rule *r = &rules[R_CLASS_FOR3];
	int prior = 0;

	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		struct alert_state st = {0};
		enum alert_transition t = step_threshold(r, &st, sizes[i], true, prior);

		cr_expect_eq(t, want[i], "term %zu: %s", i, alert_transition_name(t));
		cr_expect_eq(st.streak, streaks[i], "term %zu: streak %d", i, st.streak);
		/* Re-evaluating the same figure changes nothing. */
		cr_expect_eq(step_threshold(r, &st, sizes[i], true, prior), ALERT_NONE);
		if (i == 6)
			cr_expect_eq(st.severity, SEV_CRITICAL);
		prior = rule_band_severity(r, sizes[i]) > SEV_OK ? prior + 1 : 0;
	}
}

Test(ruleeval, for_below_one_counts_as_one)
{
	struct rule r = rules[R_CLASS_SIZE];
	struct alert_state st = {0};

	r.for_periods = 0;
	cr_expect_eq(step_threshold(&r, &st, 56, true, 0), ALERT_FIRED);
	st = (struct alert_state){0};
	cr_expect_eq(step_threshold(&r, &st, 56, true, -3), ALERT_FIRED, "a negative prior is 0");
}

Test(ruleeval, firing_ignores_for_for_changes)
{
	const struct rule *r = &rules[R_CLASS_FOR3];
	struct alert_state st = {0};

	cr_expect_eq(step_threshold(r, &st, 57, true, 2), ALERT_FIRED);
	cr_expect_eq(step_threshold(r, &st, 66, true, 0), ALERT_ESCALATED);
	cr_expect_eq(step_threshold(r, &st, 60, true, 0), ALERT_DEESCALATED);
	cr_expect_eq(st.bound, 56);
	cr_expect_eq(step_threshold(r, &st, 50, true, 0), ALERT_RESOLVED);
	cr_expect_eq(st.value, 50, "the value that cleared it");
	cr_expect_eq(st.bound, 56, "the bound of the band that was in force");
	cr_expect_eq(st.streak, 0);
}

/* ---- 3. aggregates ---- */

Test(ruleeval, weighted_not_mean_aggregation)
{
	struct agg a = {0};
	struct agg_item s1 = agg_item_rate(10, 10), s2 = agg_item_rate(80, 100);
	struct rule r90 = rules[R_PROGRESSION];
	double rate, mean;
	struct judgement j;
	char s[32];

	r90.bands[0].bound = 0.90;
	agg_add(&a, &s1);
	agg_add(&a, &s2);
	cr_assert_eq(agg_value(&a, METRIC_RATE, &rate), 0);
	cr_expect_eq(a.num, 90);
	cr_expect_eq(a.den, 110);
	cr_expect_eq(rate, 90.0 / 110.0, "sum(num)/sum(den), 81.8%%");
	cr_expect_str_eq(alert_format_value(METRIC_RATE, rate, s, sizeof(s)), "81.8%");
	/* The mean of the schools' rates would be 90% and hide the breach. */
	cr_assert_eq(agg_mean(&a, &mean), 0);
	cr_expect_float_eq(mean, 0.9, 1e-15);
	cr_expect_eq(rule_band_severity(&r90, mean), SEV_OK);
	rule_judge_threshold(&r90, SEV_OK, rate, true, &j);
	cr_expect_eq(j.severity, SEV_WARNING, "81.8%% breaches >= 90%%");
}

Test(ruleeval, agg_values_by_metric_kind)
{
	struct agg a = {0};
	struct agg_item c1 = agg_item_count(2), c2 = agg_item_count(3), r0 = agg_item_rate(0, 0);
	double v;

	cr_expect_eq(agg_value(&a, METRIC_RATE, &v), -1, "no denominator");
	cr_expect_eq(agg_value(&a, METRIC_COUNT, &v), -1, "no school");
	cr_expect_eq(agg_value(&a, METRIC_VALUE, &v), -1, "no school");
	agg_add(&a, &c1);
	agg_add(&a, &c2);
	cr_assert_eq(agg_value(&a, METRIC_COUNT, &v), 0);
	cr_expect_eq(v, 5, "counts add up");
	cr_assert_eq(agg_value(&a, METRIC_VALUE, &v), 0);
	cr_expect_eq(v, 2.5);
	/* A school with an empty denominator counts as reporting, adds nothing to the rate. */
	cr_expect_eq(r0.value, 0);
	agg_add(&a, &r0);
	cr_expect_eq(a.count, 3);
	agg_remove(&a, &r0);
	agg_remove(&a, &c1);
	agg_remove(&a, &c2);
	cr_expect_eq(a.count, 0);
	cr_expect_eq(a.num, 0);
	cr_expect_eq(a.sum + a.sum_lo, 0);
	cr_expect_eq(a.sumsq + a.sumsq_lo, 0);
}

static const struct {
	double completeness;
	int64_t expected;
	int64_t want;
} required_cases[] = {
	{1, 10, 10}, {0.9, 10, 9}, {0.7, 10, 7}, {0.3, 10, 3}, {0.95, 20, 19},
	{0.5, 3, 2}, {0.9, 0, 0}, {0.001, 10, 1}, {0, 10, 10}, {1.5, 10, 10},
	{0.9, 50000, 45000}, {0.85, 7, 6},
};

Test(ruleeval, required_reports)
{
	for (size_t i = 0; i < ARRAY_LEN(required_cases); i++)
		cr_expect_eq(agg_required(required_cases[i].completeness, required_cases[i].expected),
		    required_cases[i].want, "ceil(%g * %lld)", required_cases[i].completeness,
		    (long long)required_cases[i].expected);
}

Test(ruleeval, provisional_aggregates_neither_fire_nor_resolve)
{
	const struct rule *r = &rules[R_COVERAGE]; /* completeness 0.9 */
	struct agg a = {0};
	struct agg_item items[10];
	struct alert_state st = {0};
	double v;

	/* Ten kindergartens expected; the first three have poor coverage. */
	for (int i = 0; i < 10; i++)
		items[i] = agg_item_rate(i < 3 ? 1 : 10, 10);
	for (int i = 0; i < 3; i++)
		agg_add(&a, &items[i]);
	cr_expect_not(agg_judgeable(&a, r->completeness, 10, false));
	cr_assert_eq(agg_value(&a, METRIC_RATE, &v), 0);
	cr_expect_eq(step_threshold(r, &st, v, agg_judgeable(&a, r->completeness, 10, false), 0),
	    ALERT_NONE, "10%% coverage from 3 of 10 schools is provisional");
	cr_expect_not(st.firing);
	/* Deadline passed: judged as it is. */
	cr_expect(agg_judgeable(&a, r->completeness, 10, true));
	/* 9 of 10 is complete enough: 3 + 6 * 10 of 90 = 63/90 = 70%. */
	for (int i = 3; i < 9; i++)
		agg_add(&a, &items[i]);
	cr_assert(agg_judgeable(&a, r->completeness, 10, false));
	cr_assert_eq(agg_value(&a, METRIC_RATE, &v), 0);
	cr_expect_eq(v, 63.0 / 90.0);
	cr_expect_eq(step_threshold(r, &st, v, true, 0), ALERT_FIRED);
	cr_expect_eq(st.severity, SEV_CRITICAL);
	/* A school withdraws its figure: 8 of 10 is provisional again, even though fine now. */
	agg_remove(&a, &items[0]);
	agg_replace(&a, &items[1], &items[9]);
	agg_replace(&a, &items[2], &items[9]);
	cr_assert_eq(agg_value(&a, METRIC_RATE, &v), 0);
	cr_expect_eq(v, 1.0);
	cr_expect_not(agg_judgeable(&a, r->completeness, 10, false));
	cr_expect_eq(step_threshold(r, &st, v, false, 0), ALERT_NONE, "provisional: no resolve");
	cr_expect(st.firing);
	cr_expect_eq(st.severity, SEV_CRITICAL);
	/* Once judgeable (the deadline passed), it resolves. */
	cr_expect_eq(step_threshold(r, &st, v, agg_judgeable(&a, r->completeness, 10, true), 0),
	    ALERT_RESOLVED);
}

Test(ruleeval, correction_that_clears_a_breach_resolves_it)
{
	const struct rule *r = &rules[R_PROGRESSION];
	struct agg a = {0};
	struct agg_item s1 = agg_item_rate(49, 50), s2 = agg_item_rate(45, 50);
	struct agg_item s2fix = agg_item_rate(50, 50);
	struct alert_state st = {0};
	double v;

	agg_add(&a, &s1);
	agg_add(&a, &s2);
	cr_assert_eq(agg_value(&a, METRIC_RATE, &v), 0);
	cr_expect_eq(v, 0.94);
	cr_expect_eq(step_threshold(r, &st, v, true, 0), ALERT_FIRED);
	/* The second school corrects 45/50 to 50/50: 99/100. */
	agg_replace(&a, &s2, &s2fix);
	cr_expect_eq(a.count, 2);
	cr_assert_eq(agg_value(&a, METRIC_RATE, &v), 0);
	cr_expect_eq(v, 0.99);
	cr_expect_eq(step_threshold(r, &st, v, true, 0), ALERT_RESOLVED);
	cr_expect_eq(st.value, 0.99, "resolved with the value that cleared it");
	/* Posting the same correction again creates nothing. */
	cr_expect_eq(step_threshold(r, &st, v, true, 0), ALERT_NONE);
}

/* xorshift64*: a deterministic generator independent of the C library. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Uniform in [0, n). */
static uint64_t
rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

/* A value of widely varying magnitude and sign, or an integer, by mode. */
static double
rng_value(uint64_t *s, int mode)
{
	double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;

	if (mode == 0)
		return (double)rng_below(s, 100000);
	return (u * 2 - 0.3) * pow(10, (double)rng_below(s, 9) - 3);
}

/* Sums of a fresh aggregate over the present items. */
static void
agg_fresh(const struct agg_item *items, const bool *present, size_t n, struct agg *out)
{
	*out = (struct agg){0};
	for (size_t i = 0; i < n; i++)
		if (present[i])
			agg_add(out, &items[i]);
}

/* |a - b| within rel of scale. */
static bool
close_to(double a, double b, double rel, double scale)
{
	return fabs(a - b) <= rel * fmax(scale, 1e-300);
}

Test(ruleeval, running_aggregates_equal_recomputation)
{
	enum { SCHOOLS = 60, OPS = 20000 };

	for (uint64_t seed = 1; seed <= 12; seed++) {
		uint64_t s = seed * 0x9E3779B97F4A7C15ull;
		int mode = (int)(seed % 2); /* 0: integer values, 1: real values */
		struct agg_item items[SCHOOLS];
		bool present[SCHOOLS] = {false};
		struct agg run = {0}, fresh;

		for (int op = 0; op < OPS; op++) {
			size_t k = rng_below(&s, SCHOOLS);
			int64_t den = (int64_t)rng_below(&s, 5000) + 1;
			struct agg_item it = agg_item_rate((int64_t)rng_below(&s, (uint64_t)den + 1), den);

			it.value = rng_value(&s, mode);
			if (!present[k]) {
				agg_add(&run, &it);
				items[k] = it;
				present[k] = true;
			} else if (rng_below(&s, 3) == 0) {
				agg_remove(&run, &items[k]);
				present[k] = false;
			} else {
				agg_replace(&run, &items[k], &it);
				items[k] = it;
			}
			if (op % 997 != 0 && op != OPS - 1)
				continue;
			agg_fresh(items, present, SCHOOLS, &fresh);
			CHECK(run.num == fresh.num && run.den == fresh.den && run.count == fresh.count,
			    "seed %llu op %d: integer sums differ", (unsigned long long)seed, op);
			{
				double abs_sum = 0, abs_sq = 0, ref[SCHOOLS], cv_run, cv_ref;
				long double ld = 0;
				size_t n = 0;
				int rc_run, rc_ref;

				for (size_t i = 0; i < SCHOOLS; i++) {
					if (!present[i])
						continue;
					abs_sum += fabs(items[i].value);
					abs_sq += items[i].value * items[i].value;
					ld += items[i].value;
					ref[n++] = items[i].value;
				}
				if (mode == 0)
					CHECK(run.sum == fresh.sum && run.sum_lo == fresh.sum_lo &&
					    run.sumsq + run.sumsq_lo == fresh.sumsq + fresh.sumsq_lo,
					    "seed %llu op %d: integer values must sum exactly",
					    (unsigned long long)seed, op);
				CHECK(close_to(run.sum + run.sum_lo, fresh.sum + fresh.sum_lo, 1e-15,
				    abs_sum), "seed %llu op %d: sum %.17g vs %.17g",
				    (unsigned long long)seed, op, run.sum + run.sum_lo,
				    fresh.sum + fresh.sum_lo);
				CHECK(close_to(run.sum + run.sum_lo, (double)ld, 1e-13, abs_sum),
				    "seed %llu op %d: sum against long double", (unsigned long long)seed,
				    op);
				CHECK(close_to(run.sumsq + run.sumsq_lo, fresh.sumsq + fresh.sumsq_lo,
				    1e-15, abs_sq), "seed %llu op %d: sum of squares",
				    (unsigned long long)seed, op);
				rc_run = agg_cv(&run, &cv_run);
				rc_ref = dispersion_cv(ref, n, &cv_ref);
				CHECK(rc_run == rc_ref, "seed %llu op %d: cv defined %d vs %d",
				    (unsigned long long)seed, op, rc_run, rc_ref);
				if (rc_run == 0)
					CHECK(close_to(cv_run, cv_ref, 1e-12, cv_ref),
					    "seed %llu op %d: cv %.17g vs two-pass %.17g",
					    (unsigned long long)seed, op, cv_run, cv_ref);
			}
		}
	}
}

/* ---- 4. dispersion ---- */

/*
 * Worked by hand:
 *  {1, 2, 3, 4}: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5,
 *    variance 1.25, sd 1.1180340, cv 0.4472136.
 *  {2, 4, 4, 4, 5, 5, 7, 9}: mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32,
 *    variance 4, sd 2, cv 0.4 (below, eight values do not fit the table).
 *  {2, 4, 4, 4, 5}: mean 3.8, squared deviations 3.24 + 3 * 0.04 + 1.44 = 4.8,
 *    variance 0.96, sd 0.9797959, cv 0.2578410.
 *  {3000, 5000, 7000} yuan per pupil: mean 5000, variance 8e6 / 3,
 *    sd 1632.993, cv 0.3265986.
 *  {2800, 3500, 4200, 6100, 9000}: mean 5120, squared deviations
 *    5382400 + 2624400 + 846400 + 960400 + 15054400 = 24868000, variance
 *    4973600, sd 2230.157, cv 0.4355775.
 *  {1, 3}: mean 2, sd 1, cv exactly 0.5.
 *  {10, 10}: cv 0.
 */
static const struct {
	double v[5];
	size_t n;
	int rc;
	double cv;
} cv_cases[] = {
	{{1, 2, 3, 4}, 4, 0, 0.4472135954999579},
	{{2, 4, 4, 4, 5}, 5, 0, 0.25784102555612404},
	{{3000, 5000, 7000}, 3, 0, 0.32659863237109044},
	{{2800, 3500, 4200, 6100, 9000}, 5, 0, 0.4355775283495752},
	{{1, 3}, 2, 0, 0.5},
	{{10, 10}, 2, 0, 0},
	{{42}, 1, -1, 0},    /* one school */
	{{0, 0}, 2, -1, 0},  /* mean 0 */
	{{-1, 1}, 2, -1, 0}, /* mean 0 */
	{{-3, 1}, 2, -1, 0}, /* mean < 0 */
};

Test(ruleeval, dispersion_hand_computed)
{
	static const double eight[] = {2, 4, 4, 4, 5, 5, 7, 9};
	struct agg a = {0};
	double cv;

	for (size_t i = 0; i < ARRAY_LEN(cv_cases); i++) {
		struct agg b = {0};

		for (size_t k = 0; k < cv_cases[i].n; k++) {
			struct agg_item it = agg_item_value(cv_cases[i].v[k]);

			agg_add(&b, &it);
		}
		cv = -1;
		cr_expect_eq(dispersion_cv(cv_cases[i].v, cv_cases[i].n, &cv), cv_cases[i].rc,
		    "case %zu", i);
		if (cv_cases[i].rc == 0)
			cr_expect_float_eq(cv, cv_cases[i].cv, 1e-12, "case %zu: %.17g", i, cv);
		cv = -1;
		cr_expect_eq(agg_cv(&b, &cv), cv_cases[i].rc, "case %zu (agg)", i);
		if (cv_cases[i].rc == 0)
			cr_expect_float_eq(cv, cv_cases[i].cv, 1e-12, "case %zu (agg): %.17g", i, cv);
	}
	for (size_t k = 0; k < ARRAY_LEN(eight); k++) {
		struct agg_item it = agg_item_value(eight[k]);

		agg_add(&a, &it);
	}
	cr_assert_eq(agg_cv(&a, &cv), 0);
	cr_expect_float_eq(cv, 0.4, 1e-15);
	cr_assert_eq(dispersion_cv(eight, ARRAY_LEN(eight), &cv), 0);
	cr_expect_float_eq(cv, 0.4, 1e-15);
}

/* Add values[0..n) to a fresh aggregate. */
static struct agg
agg_of(const double *values, size_t n)
{
	struct agg a = {0};

	for (size_t i = 0; i < n; i++) {
		struct agg_item it = agg_item_value(values[i]);

		agg_add(&a, &it);
	}
	return a;
}

Test(ruleeval, dispersion_against_the_stage_limits)
{
	static const double half[] = {1, 3};            /* cv 0.5 exactly */
	static const double v4472[] = {1, 2, 3, 4};     /* cv 0.447 */
	static const double one[] = {5000};
	struct agg a = agg_of(half, 2), b = agg_of(v4472, 4), c = agg_of(one, 1);
	struct judgement j;
	struct rule banded = rules[R_DISP_JUNIOR];

	rule_judge_dispersion(&rules[R_DISP_PRIMARY], SEV_OK, &a, true, &j);
	cr_expect(j.judged);
	cr_expect_eq(j.severity, SEV_OK, "0.50 is within the primary limit of 0.50");
	cr_expect_eq(j.bound, 0.50);
	rule_judge_dispersion(&rules[R_DISP_JUNIOR], SEV_OK, &a, true, &j);
	cr_expect_eq(j.severity, SEV_WARNING, "0.50 exceeds the junior limit of 0.45");
	cr_expect_eq(j.value, 0.5);
	cr_expect_eq(j.op, OP_GT);
	rule_judge_dispersion(&rules[R_DISP_JUNIOR], SEV_OK, &b, true, &j);
	cr_expect_eq(j.severity, SEV_OK, "0.447 is within 0.45");
	rule_judge_dispersion(&rules[R_DISP_JUNIOR], SEV_OK, &c, true, &j);
	cr_expect_not(j.judged, "one school: no coefficient");
	rule_judge_dispersion(&rules[R_DISP_JUNIOR], SEV_OK, &a, false, &j);
	cr_expect_not(j.judged, "provisional");
	/* With bands, the bands decide. */
	banded.bands[0] = (struct band){SEV_WARNING, OP_GT, 0.45};
	banded.bands[1] = (struct band){SEV_CRITICAL, OP_GT, 0.49};
	banded.nbands = 2;
	rule_judge_dispersion(&banded, SEV_OK, &a, true, &j);
	cr_expect_eq(j.severity, SEV_CRITICAL);
	cr_expect_eq(j.bound, 0.49);
	/* Hysteresis applies to the limit too. */
	banded = rules[R_DISP_JUNIOR];
	banded.resolve_margin = 0.01;
	rule_judge_dispersion(&banded, SEV_WARNING, &b, true, &j);
	cr_expect_eq(j.severity, SEV_WARNING, "0.447 is within 0.01 of 0.45");
}

/* ---- 5. quota ---- */

struct quota_case {
	int rule;
	const char *period;
	const char *today;
	double count;
	bool judged;
	enum severity sev;
	double bound;
};

static const struct quota_case quota_cases[] = {
	/* >= 3 parent-school sessions in 2021 (365 days). */
	{R_QUOTA3, "2021", "2020-12-31", 0, false, SEV_OK, 3},
	{R_QUOTA3, "2021", "2021-01-01", 0, true, SEV_OK, 0},
	{R_QUOTA3, "2021", "2021-05-02", 0, true, SEV_OK, 0},       /* 3*121/365 = 0.99 */
	{R_QUOTA3, "2021", "2021-05-03", 0, true, SEV_WARNING, 1},  /* 3*122/365 = 1.003 */
	{R_QUOTA3, "2021", "2021-05-03", 1, true, SEV_OK, 1},
	{R_QUOTA3, "2021", "2021-09-01", 1, true, SEV_OK, 1},       /* 3*243/365 = 1.997 */
	{R_QUOTA3, "2021", "2021-09-02", 1, true, SEV_WARNING, 2},  /* 3*244/365 = 2.005 */
	{R_QUOTA3, "2021", "2021-12-31", 2, true, SEV_OK, 2},       /* 3*364/365 = 2.99 */
	{R_QUOTA3, "2021", "2021-02-01", 3, true, SEV_OK, 3},       /* quota met early */
	/* At year end the breach is final. */
	{R_QUOTA3, "2021", "2022-01-01", 2, true, SEV_CRITICAL, 3},
	{R_QUOTA3, "2021", "2022-03-15", 0, true, SEV_CRITICAL, 3},
	{R_QUOTA3, "2021", "2022-01-01", 3, true, SEV_OK, 3},
	{R_QUOTA3, "2021", "2022-01-01", 5, true, SEV_OK, 3},
	/* 2024 has 366 days: the first session is due after 122 days, on May 2. */
	{R_QUOTA3, "2024", "2024-05-01", 0, true, SEV_OK, 0},
	{R_QUOTA3, "2024", "2024-05-02", 0, true, SEV_WARNING, 1},
	/* >= 7 guidance sessions: 7*181/365 = 3.47 on July 1. */
	{R_QUOTA7, "2021", "2021-07-01", 3, true, SEV_OK, 3},
	{R_QUOTA7, "2021", "2021-07-01", 2, true, SEV_WARNING, 3},
	{R_QUOTA7, "2021", "2022-01-01", 6, true, SEV_CRITICAL, 7},
	/* >= 1 drill a month: no warning within the month, critical after it. */
	{R_DRILLS, "2021-09", "2021-09-30", 0, true, SEV_OK, 0},
	{R_DRILLS, "2021-09", "2021-10-01", 0, true, SEV_CRITICAL, 1},
	{R_DRILLS, "2021-09", "2021-10-01", 1, true, SEV_OK, 1},
};

ParameterizedTestParameters(ruleeval, quota_pro_rating)
{
	static int idx[ARRAY_LEN(quota_cases)];

	for (size_t i = 0; i < ARRAY_LEN(quota_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, ruleeval, quota_pro_rating)
{
	const struct quota_case *c = &quota_cases[*i];
	struct period p = per(c->period);
	struct judgement j;

	rule_judge_quota(&rules[c->rule], &p, day(c->today), c->count, &j);
	cr_expect_eq(j.judged, c->judged, "%s %s on %s", rules[c->rule].id, c->period, c->today);
	if (!c->judged)
		return;
	cr_expect_eq(j.severity, c->sev, "%s %s on %s with %g: severity %d", rules[c->rule].id,
	    c->period, c->today, c->count, j.severity);
	cr_expect_eq(j.bound, c->bound, "%s %s on %s: bound %g", rules[c->rule].id, c->period,
	    c->today, j.bound);
	cr_expect_eq(j.value, c->count);
}

Test(ruleeval, quota_fractional)
{
	struct rule r = rules[R_QUOTA3];
	struct period p = per("2021");
	struct judgement j;

	/* A non-integral quota is pro-rated in floating point: 2.5 * 219/365 = 1.5. */
	r.quota = 2.5;
	rule_judge_quota(&r, &p, day("2021-08-08"), 0, &j);
	cr_expect_eq(j.bound, 1);
	cr_expect_eq(j.severity, SEV_WARNING);
	rule_judge_quota(&r, &p, day("2022-01-01"), 2, &j);
	cr_expect_eq(j.severity, SEV_CRITICAL);
	rule_judge_quota(&r, &p, day("2022-01-01"), 2.5, &j);
	cr_expect_eq(j.severity, SEV_OK);
}

/* ---- 6. trend ---- */

Test(ruleeval, trend_year_on_year)
{
	const struct rule *r = &rules[R_MYOPIA];
	struct alert_state st = {0};
	struct judgement j;
	double last = 0.36;

	rule_judge_yoy(r, 0.35, &last, &j);
	cr_expect(j.judged);
	cr_expect_eq(j.severity, SEV_OK, "myopia fell");
	cr_expect_eq(j.bound, 0.36);
	rule_judge_yoy(r, 0.36, &last, &j);
	cr_expect_eq(j.severity, SEV_WARNING, "not below last year is a breach");
	cr_expect_eq(j.op, OP_GE);
	rule_judge_yoy(r, 0.40, &last, &j);
	cr_expect_eq(j.severity, SEV_WARNING);
	cr_expect_eq(alert_step(r, &st, &j, 0), ALERT_FIRED);
	/* No figure last year: no judgement, and an open alert stays as it is. */
	rule_judge_yoy(r, 0.40, NULL, &j);
	cr_expect_not(j.judged);
	cr_expect_eq(alert_step(r, &st, &j, 0), ALERT_NONE);
	cr_expect(st.firing);
	last = NAN;
	rule_judge_yoy(r, 0.40, &last, &j);
	cr_expect_not(j.judged);
	/* A correction of this year's figure clears it. */
	last = 0.36;
	rule_judge_yoy(r, 0.34, &last, &j);
	cr_expect_eq(alert_step(r, &st, &j, 0), ALERT_RESOLVED);
	/* Direction increase, severity from the rule's first band. */
	rule_judge_yoy(&rules[R_INCREASE], 0.5, &(double){0.5}, &j);
	cr_expect_eq(j.severity, SEV_INFO, "not above last year");
	cr_expect_eq(j.op, OP_LE);
	rule_judge_yoy(&rules[R_INCREASE], 0.51, &(double){0.5}, &j);
	cr_expect_eq(j.severity, SEV_OK);
}

Test(ruleeval, trend_baseline)
{
	const struct rule *r = &rules[R_SICK]; /* 14 days, factor 2, min_delta 0.02 */
	double hist[20];
	struct judgement j;

	for (size_t i = 0; i < 14; i++)
		hist[i] = 0.01;
	for (size_t i = 14; i < 20; i++)
		hist[i] = 0.5; /* older than the window: ignored */
	rule_judge_baseline(r, 0.025, hist, 20, &j);
	cr_expect(j.judged);
	cr_expect_float_eq(j.bound, 0.02, 1e-15);
	cr_expect_eq(j.severity, SEV_OK, "above twice the baseline but only 1.5 points up");
	rule_judge_baseline(r, 0.03, hist, 20, &j);
	cr_expect_eq(j.severity, SEV_WARNING, "3x the baseline and exactly 2 points up");
	cr_expect_eq(j.op, OP_GT);
	rule_judge_baseline(r, 0.02, hist, 14, &j);
	cr_expect_eq(j.severity, SEV_OK, "exactly twice is not above");
	/* Half the window is enough; fewer is no judgement. */
	rule_judge_baseline(r, 0.05, hist, 7, &j);
	cr_expect(j.judged);
	cr_expect_eq(j.severity, SEV_WARNING);
	rule_judge_baseline(r, 0.05, hist, 6, &j);
	cr_expect_not(j.judged);
	rule_judge_baseline(r, 0.05, NULL, 0, &j);
	cr_expect_not(j.judged);
	/* A zero baseline: any rise of min_delta is a spike. */
	for (size_t i = 0; i < 14; i++)
		hist[i] = 0;
	rule_judge_baseline(r, 0.019, hist, 14, &j);
	cr_expect_eq(j.severity, SEV_OK);
	rule_judge_baseline(r, 0.02, hist, 14, &j);
	cr_expect_eq(j.severity, SEV_WARNING);
}

Test(ruleeval, baseline_gathered_on_school_days)
{
	struct calendar *cal = lyg_calendar();
	int32_t days[14];
	size_t n;
	char s[11];

	/* On 2021-10-11, the 14 school days before skip the National Day week. */
	n = calendar_prev_school_days(cal, day("2021-10-11"), 14, days);
	cr_assert_eq(n, 14);
	date_format(days[2], s, sizeof(s));
	cr_expect_str_eq(s, "2021-09-30");
	date_format(days[13], s, sizeof(s));
	cr_expect_str_eq(s, "2021-09-15");
	calendar_free(cal);
}

/* ---- 7. missing reports ---- */

static const struct {
	const char *period;
	int grace;
	const char *deadline;
} deadline_cases[] = {
	{"2021-01", 10, "2021-02-11"},
	{"2021-02", 10, "2021-03-11"},
	{"2021-12", 10, "2022-01-11"},
	{"2024-02", 0, "2024-03-01"},
	{"2021-01", 30, "2021-03-03"},
	{"2021-Q4", 15, "2022-01-16"},
	{"2021-2022-1", 14, "2022-02-15"},
	{"2021-2022-2", 0, "2022-09-01"},
	{"2021-2022", 30, "2022-10-01"},
	{"2020-W53", 2, "2021-01-06"},
	{"2021-W52", 1, "2022-01-04"},
	{"2021-09-30", 0, "2021-10-01"},
	{"2021", 31, "2022-02-01"},
};

Test(ruleeval, missing_deadlines_across_months_terms_and_weeks)
{
	for (size_t i = 0; i < ARRAY_LEN(deadline_cases); i++) {
		struct period p = per(deadline_cases[i].period);
		char s[11];

		date_format(missing_deadline(&p, deadline_cases[i].grace), s, sizeof(s));
		cr_expect_str_eq(s, deadline_cases[i].deadline, "%s + %d days",
		    deadline_cases[i].period, deadline_cases[i].grace);
	}
}

Test(ruleeval, missing_monthly_report)
{
	const struct rule *r = &rules[R_MISSING_MONTH];
	struct period p = per("2021-09");
	struct alert_state st = {0};
	struct judgement j;

	rule_judge_missing(r, NULL, &p, day("2021-10-10"), false, &j);
	cr_expect_not(j.judged, "still within the grace");
	cr_expect_eq(alert_step(r, &st, &j, 0), ALERT_NONE);
	rule_judge_missing(r, NULL, &p, day("2021-10-11"), false, &j);
	cr_expect(j.judged);
	cr_expect_eq(j.severity, SEV_WARNING);
	cr_expect_eq(j.value, 1, "one day overdue on the deadline");
	cr_expect_eq(alert_step(r, &st, &j, 0), ALERT_FIRED);
	rule_judge_missing(r, NULL, &p, day("2021-10-20"), false, &j);
	cr_expect_eq(j.value, 10);
	cr_expect_eq(alert_step(r, &st, &j, 0), ALERT_NONE, "still missing: no new alert");
	rule_judge_missing(r, NULL, &p, day("2021-10-21"), true, &j);
	cr_expect_eq(j.severity, SEV_OK);
	cr_expect_eq(alert_step(r, &st, &j, 0), ALERT_RESOLVED, "the report arrived");
}

Test(ruleeval, a_holiday_is_not_late)
{
	const struct rule *r = &rules[R_MISSING_DAY];
	struct calendar *cal = lyg_calendar();
	struct period national_day = per("2021-10-01"), before = per("2021-09-30");
	struct period makeup = per("2021-10-09");
	struct judgement j;

	rule_judge_missing(r, cal, &national_day, day("2021-10-05"), false, &j);
	cr_expect(j.judged);
	cr_expect_eq(j.severity, SEV_OK, "National Day is no school day");
	rule_judge_missing(r, cal, &before, day("2021-10-05"), false, &j);
	cr_expect_eq(j.severity, SEV_WARNING);
	cr_expect_eq(j.value, 5);
	rule_judge_missing(r, cal, &makeup, day("2021-10-10"), false, &j);
	cr_expect_eq(j.severity, SEV_WARNING, "a make-up Saturday is a school day");
	/* Without a calendar only weekends are off (documented fallback). */
	rule_judge_missing(r, NULL, &national_day, day("2021-10-05"), false, &j);
	cr_expect_eq(j.severity, SEV_WARNING);
	rule_judge_missing(r, NULL, &makeup, day("2021-10-10"), false, &j);
	cr_expect_eq(j.severity, SEV_OK);
	calendar_free(cal);
}

/* Format periods[0..n) as "a b c" for comparison. */
static char *
periods_text(const struct period *ps, size_t n)
{
	struct buf b;
	char s[PERIOD_STR_MAX];

	buf_init(&b);
	buf_puts(&b, "");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? " " : "", period_format(&ps[i], s, sizeof(s)));
	return buf_steal(&b);
}

/* missing_reported_cb: reported when the period's label is in the list arg. */
static bool
reported_in_list_cb(const struct period *p, void *arg)
{
	char s[PERIOD_STR_MAX];

	period_format(p, s, sizeof(s));
	return strstr((const char *)arg, s) != NULL;
}

/* Expect missing_due(...) to list exactly want (space-separated labels). */
static void
expect_due(enum period_kind kind, int grace, const struct calendar *cal, const char *from,
    const char *to, const char *reported, const char *want)
{
	struct period *ps = NULL;
	size_t n = missing_due(kind, grace, cal, day(from), day(to),
	    reported != NULL ? reported_in_list_cb : NULL, (void *)reported, &ps);
	char *got = periods_text(ps, n);

	cr_expect_str_eq(got, want, "%s periods due %s..%s", period_kind_name(kind), from, to);
	if (n == 0)
		cr_expect_null(ps);
	free(got);
	free(ps);
}

Test(ruleeval, catching_up_after_a_restart)
{
	struct calendar *cal = lyg_calendar();

	/* Daily reports over the National Day week: only school days are due. */
	expect_due(PERIOD_DAY, 0, cal, "2021-09-28", "2021-10-12", NULL,
	    "2021-09-27 2021-09-28 2021-09-29 2021-09-30 2021-10-08 2021-10-09 2021-10-11");
	expect_due(PERIOD_DAY, 0, cal, "2021-09-28", "2021-10-12", "2021-09-29 2021-10-09",
	    "2021-09-27 2021-09-28 2021-09-30 2021-10-08 2021-10-11");
	expect_due(PERIOD_DAY, 1, NULL, "2021-10-01", "2021-10-05", NULL,
	    "2021-09-29 2021-09-30 2021-10-01");
	/* Months across a year end, with 10 days of grace. */
	expect_due(PERIOD_MONTH, 10, NULL, "2021-11-01", "2022-02-15", NULL,
	    "2021-10 2021-11 2021-12 2022-01");
	expect_due(PERIOD_MONTH, 10, NULL, "2021-11-12", "2022-02-10", "2021-12",
	    "2021-11");
	/* ISO weeks: the winter vacation weeks are not due. */
	expect_due(PERIOD_WEEK, 0, cal, "2022-01-17", "2022-02-21", NULL,
	    "2022-W02 2022-W03 2022-W07");
	expect_due(PERIOD_WEEK, 0, NULL, "2022-01-17", "2022-02-21", NULL,
	    "2022-W02 2022-W03 2022-W04 2022-W05 2022-W06 2022-W07");
	expect_due(PERIOD_WEEK, 2, NULL, "2020-12-30", "2021-01-06", NULL, "2020-W52 2020-W53");
	/* Terms and school years. */
	expect_due(PERIOD_TERM, 14, NULL, "2022-01-01", "2022-12-31", NULL,
	    "2021-2022-1 2021-2022-2");
	expect_due(PERIOD_SCHOOL_YEAR, 30, NULL, "2022-10-01", "2022-10-01", NULL, "2021-2022");
	expect_due(PERIOD_SCHOOL_YEAR, 30, NULL, "2022-10-02", "2023-09-30", NULL, "");
	/* An empty window. */
	expect_due(PERIOD_DAY, 0, NULL, "2021-10-05", "2021-10-04", NULL, "");
	calendar_free(cal);
}

Test(ruleeval, missing_expected_by_period_kind)
{
	struct calendar *cal = lyg_calendar();
	struct period p;

	p = per("2022-W05"); /* Spring Festival week, in the winter vacation */
	cr_expect_not(missing_expected(cal, &p));
	cr_expect(missing_expected(NULL, &p));
	p = per("2021-W40"); /* National Day week: Oct 4-8, school on Friday 8th */
	cr_expect(missing_expected(cal, &p));
	p = per("2022-08"); /* months are always expected */
	cr_expect(missing_expected(cal, &p));
	calendar_free(cal);
}

/* ---- 8. fingerprint and message ---- */

Test(ruleeval, fingerprint_is_stable)
{
	char a[ALERT_FINGERPRINT_LEN + 1], b[ALERT_FINGERPRINT_LEN + 1];
	struct period p = per("2021-2022-1"), q = per("2022-2023-1"), y = per("2021-2022");

	/* hashlib.sha256(b"class_size.school\0320703001\0" b"2021-2022-1") */
	alert_fingerprint("class_size.school", "320703001", &p, a);
	cr_expect_str_eq(a, "00a1f67bfdbb32d9b95f096a18b340500f586c609b3885a8bf2f1fe3fddbfe93");
	alert_fingerprint("class_size.school", "320703001", &p, b);
	cr_expect_str_eq(a, b, "same episode, same fingerprint");
	alert_fingerprint("class_size.school", "320703001", &q, b);
	cr_expect_str_eq(b, "3e9558755ae237ac368a83ecd5b84be2ef93d24a949e4f595f8381369025f917");
	alert_fingerprint("junior_progression.school", "3207030001", &y, b);
	cr_expect_str_eq(b, "b4f29afafaa11be446840eb72cf7fde3741fa3dc5f7c3ff6d274b3a1e723bbb9");
	/* The separators keep ("ab", "c") and ("a", "bc") apart. */
	alert_fingerprint("ab", "c", &p, a);
	alert_fingerprint("a", "bc", &p, b);
	cr_expect_str_neq(a, b);
	cr_expect_eq(strlen(a), ALERT_FINGERPRINT_LEN);
}

static const struct {
	enum metric_kind kind;
	double x;
	const char *want;
} format_cases[] = {
	{METRIC_RATE, 0.97, "97.0%"},
	{METRIC_RATE, 0.98, "98.0%"},
	{METRIC_RATE, 90.0 / 110.0, "81.8%"},
	{METRIC_RATE, 1, "100.0%"},
	{METRIC_RATE, 0, "0.0%"},
	{METRIC_RATE, -0.0, "0.0%"},
	{METRIC_RATE, 0.05, "5.0%"},
	{METRIC_RATE, 0.1234, "12.3%"},
	{METRIC_COUNT, 56, "56"},
	{METRIC_COUNT, 6590, "6590"},
	{METRIC_COUNT, 0, "0"},
	{METRIC_COUNT, -0.0, "0"},
	{METRIC_COUNT, -3, "-3"},
	{METRIC_VALUE, 0.5, "0.5"},
	{METRIC_VALUE, 0.4472135954999579, "0.45"},
	{METRIC_VALUE, 1234.567, "1234.57"},
	{METRIC_VALUE, 3, "3"},
	{METRIC_VALUE, 2.10, "2.1"},
	{METRIC_VALUE, 60, "60"},
	{METRIC_VALUE, 0.004, "0"},
	{METRIC_VALUE, -0.001, "0"},
	{METRIC_VALUE, -1.5, "-1.5"},
	{METRIC_VALUE, 100, "100"},
};

Test(ruleeval, value_formats)
{
	for (size_t i = 0; i < ARRAY_LEN(format_cases); i++) {
		char s[32];

		alert_format_value(format_cases[i].kind, format_cases[i].x, s, sizeof(s));
		cr_expect_str_eq(s, format_cases[i].want, "case %zu", i);
	}
}

struct msg_case {
	int rule;
	const char *template; /* NULL: the rule's default */
	const char *unit;
	const char *metric;
	enum metric_kind metric_kind;
	double value;
	double bound;
	enum cmp_op op;
	const char *period;
	enum severity severity;
	const char *want;
};

static const struct msg_case msg_cases[] = {
	{R_PROGRESSION, "{unit}的{metric}为{value}，{op}{bound}（{period}）", "连云港市海州区",
	    "初中毕业生升学比例", METRIC_RATE, 0.97, 0.98, OP_LT, "2021-2022", SEV_WARNING,
	    "连云港市海州区的初中毕业生升学比例为97.0%，低于98.0%（2021-2022）"},
	{R_CLASS_SIZE, NULL, "新海实验中学", "最大班额", METRIC_COUNT, 56, 56, OP_GE,
	    "2021-2022-1", SEV_WARNING, "【预警】新海实验中学最大班额为56，达到56（2021-2022-1）"},
	{R_CLASS_SIZE, NULL, "新海实验中学", "最大班额", METRIC_COUNT, 66, 66, OP_GE,
	    "2021-2022-1", SEV_CRITICAL, "【严重】新海实验中学最大班额为66，达到66（2021-2022-1）"},
	{R_MISSING_MONTH, NULL, "墟沟小学", "建档立卡贫困家庭学生失学人数", METRIC_COUNT, 3, 10,
	    OP_GT, "2021-09", SEV_WARNING,
	    "【预警】墟沟小学未按时报送建档立卡贫困家庭学生失学人数（2021-09），已逾期3天"},
	{R_DISP_JUNIOR, NULL, "连云区", "生均教学仪器设备值", METRIC_RATE, 0.5, 0.45, OP_GT,
	    "2021-2022", SEV_WARNING,
	    "【预警】连云区生均教学仪器设备值校际差异系数为0.5，超过0.45（2021-2022）"},
	{R_QUOTA3, NULL, "墟沟小学", "家长学校活动次数", METRIC_VALUE, 1, 2, OP_LT, "2021",
	    SEV_WARNING, "【预警】墟沟小学家长学校活动次数累计1，低于进度要求2（2021）"},
	{R_MYOPIA, NULL, "海州区", "学生近视率", METRIC_RATE, 0.36, 0.355, OP_GE, "2021-2022",
	    SEV_WARNING, "【预警】海州区学生近视率为36.0%，对比值为35.5%，未达到趋势要求（2021-2022）"},
	{R_CLASS_SIZE, "{unit}{foo}{ {value}{{severity}}{period", "甲校", "x", METRIC_COUNT, 70,
	    66, OP_GE, "2021-2022-1", SEV_CRITICAL, "甲校{foo}{ 70{严重}{period"},
	{R_CLASS_SIZE, "{severity}", NULL, NULL, METRIC_COUNT, 0, 0, OP_GE, NULL, SEV_OK, "正常"},
	{R_CLASS_SIZE, "{severity}{unit}{metric}{period}", NULL, NULL, METRIC_COUNT, 0, 0, OP_GE,
	    NULL, SEV_INFO, "提示"},
	{R_CLASS_SIZE, "", "甲校", NULL, METRIC_COUNT, 0, 0, OP_GE, NULL, SEV_OK, ""},
	{R_CLASS_SIZE, "}{}{", "甲校", NULL, METRIC_COUNT, 0, 0, OP_GE, NULL, SEV_OK, "}{}{"},
};

ParameterizedTestParameters(ruleeval, messages_in_chinese)
{
	static int idx[ARRAY_LEN(msg_cases)];

	for (size_t i = 0; i < ARRAY_LEN(msg_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, ruleeval, messages_in_chinese)
{
	const struct msg_case *c = &msg_cases[*i];
	struct rule r = rules[c->rule];
	struct period p;
	struct alert_message_ctx ctx = {
		.unit = c->unit,
		.metric = c->metric,
		.kind = rule_value_kind(&r, c->metric_kind),
		.value = c->value,
		.bound = c->bound,
		.op = c->op,
		.period = NULL,
		.severity = c->severity,
	};
	char *msg;

	if (c->period != NULL) {
		p = per(c->period);
		ctx.period = &p;
	}
	r.message = (char *)c->template;
	msg = alert_message(&r, &ctx);
	cr_expect_str_eq(msg, c->want);
	free(msg);
}

Test(ruleeval, message_operators_and_severities)
{
	static const char *const ops[OP_COUNT] = {"低于", "不高于", "超过", "达到", "等于",
		"不等于"};
	static const char *const sevs[SEV_COUNT] = {"正常", "提示", "预警", "严重"};
	struct rule r = rules[R_CLASS_SIZE];
	struct alert_message_ctx ctx = {0};

	r.message = "{op}";
	for (int op = 0; op < OP_COUNT; op++) {
		char *m;

		ctx.op = (enum cmp_op)op;
		m = alert_message(&r, &ctx);
		cr_expect_str_eq(m, ops[op]);
		free(m);
	}
	r.message = "{severity}";
	for (int s = 0; s < SEV_COUNT; s++) {
		char *m;

		ctx.severity = (enum severity)s;
		m = alert_message(&r, &ctx);
		cr_expect_str_eq(m, sevs[s]);
		free(m);
	}
}

Test(ruleeval, default_templates_per_kind)
{
	for (int k = 0; k < RULE_KIND_COUNT; k++) {
		const char *t = alert_default_template((enum rule_kind)k);

		cr_expect_not_null(t);
		cr_expect(strstr(t, "{unit}") != NULL, "kind %d", k);
		cr_expect(strstr(t, "{metric}") != NULL, "kind %d", k);
		cr_expect(strstr(t, "{period}") != NULL, "kind %d", k);
		cr_expect(utf8_valid(t, strlen(t)), "kind %d", k);
	}
	cr_expect_str_eq(alert_default_template(RULE_KIND_COUNT),
	    alert_default_template(RULE_THRESHOLD));
	cr_expect_eq(rule_value_kind(&rules[R_DISP_JUNIOR], METRIC_RATE), METRIC_VALUE);
	cr_expect_eq(rule_value_kind(&rules[R_MISSING_DAY], METRIC_RATE), METRIC_COUNT);
	cr_expect_eq(rule_value_kind(&rules[R_QUOTA3], METRIC_VALUE), METRIC_COUNT);
	cr_expect_eq(rule_value_kind(&rules[R_PROGRESSION], METRIC_RATE), METRIC_RATE);
	cr_expect_eq(rule_value_kind(&rules[R_SICK], METRIC_RATE), METRIC_RATE);
}

/* ---- the whole path for one school, end to end ---- */

Test(ruleeval, rate_end_to_end_message)
{
	const struct rule *r = &rules[R_PROGRESSION];
	struct agg a = {0};
	struct agg_item s1 = agg_item_rate(48, 50);
	struct alert_state st = {0};
	struct judgement j;
	struct period p = per("2021-2022");
	struct alert_message_ctx ctx;
	double v;
	char *m;

	agg_add(&a, &s1);
	cr_assert_eq(agg_value(&a, METRIC_RATE, &v), 0);
	rule_judge_threshold(r, st.severity, v, true, &j);
	cr_assert_eq(alert_step(r, &st, &j, 0), ALERT_FIRED);
	ctx = (struct alert_message_ctx){"新浦中学", "初中毕业生升学比例",
		rule_value_kind(r, METRIC_RATE), st.value, st.bound, j.op, &p, st.severity};
	m = alert_message(r, &ctx);
	cr_expect_str_eq(m, "【预警】新浦中学初中毕业生升学比例为96.0%，低于98.0%（2021-2022）");
	free(m);
}
