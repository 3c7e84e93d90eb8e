/*
 * test_engine.c: Criterion suite "engine" for lib/engine.c, the rules
 * engine's memory (figures, running aggregates, alert states), pure: no
 * database, no clock.
 *
 * Every test builds the same small registry by hand (a city, two districts,
 * schools of several stages, urban and rural, public and private, one
 * inactive school) and the same catalog, and an engine over the few rules it
 * needs, parsed from JSON text by rules_parse (written with single quotes in
 * C, turned into double quotes before parsing). Expected events and figures
 * are written out by hand: rule, unit, period, transition, severity, value
 * and bound.
 *
 * Rates are given as numerator and denominator only (engine.h: "value:
 * count/value metrics; num/den for rates"): the engine must judge num/den.
 *
 * Parameterised tests take indices into file-scope tables (Criterion copies
 * parameters into another process). Loops over many cases report only
 * failures (CHECK).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "catalog.h"
#include "engine.h"
#include "period.h"
#include "registry.h"
#include "ruleeval.h"
#include "rules.h"
#include "util.h"

#define CHECK(cond, ...)                                                               \
	do {                                                                           \
		if (!(cond))                                                           \
			cr_assert_fail(__VA_ARGS__);                                   \
	} while (0)

/* ---- the registry ---- */

#define J STAGE_BIT(STAGE_JUNIOR)
#define P STAGE_BIT(STAGE_PRIMARY)
#define S STAGE_BIT(STAGE_SENIOR)

enum { CITY = 1, D1 = 10, D2 = 20 };

struct tunit {
	int id;
	const char *code;
	enum unit_kind kind;
	int parent;
	unsigned stages;
	bool urban, is_public, active;
};

static const struct tunit tunits[] = {
	{CITY, "3207", UNIT_CITY, 0, 0, true, true, true},
	{D1, "320701", UNIT_DISTRICT, CITY, 0, true, true, true},
	{D2, "320702", UNIT_DISTRICT, CITY, 0, false, true, true},
	/* District 1. */
	{101, "S101", UNIT_SCHOOL, D1, J, true, true, true},
	{102, "S102", UNIT_SCHOOL, D1, J, false, true, true},
	{103, "S103", UNIT_SCHOOL, D1, P | J, true, false, true}, /* private nine-year */
	{104, "S104", UNIT_SCHOOL, D1, P, true, true, true},
	{105, "S105", UNIT_SCHOOL, D1, J | S, true, true, false}, /* closed */
	{106, "S106", UNIT_SCHOOL, D1, S, true, true, true},
	/* District 2: ten junior schools, odd ids urban. */
	{201, "S201", UNIT_SCHOOL, D2, J, true, true, true},
	{202, "S202", UNIT_SCHOOL, D2, J, false, true, true},
	{203, "S203", UNIT_SCHOOL, D2, J, true, true, true},
	{204, "S204", UNIT_SCHOOL, D2, J, false, true, true},
	{205, "S205", UNIT_SCHOOL, D2, J, true, true, true},
	{206, "S206", UNIT_SCHOOL, D2, J, false, true, true},
	{207, "S207", UNIT_SCHOOL, D2, J, true, true, true},
	{208, "S208", UNIT_SCHOOL, D2, J, false, true, true},
	{209, "S209", UNIT_SCHOOL, D2, J, true, true, true},
	{210, "S210", UNIT_SCHOOL, D2, J, false, true, true},
	{211, "S211", UNIT_SCHOOL, D2, P, false, true, true},
	{212, "S212", UNIT_SCHOOL, D2, S, false, true, true},
};

/* The registry of tunits; deactivate (when not 0) is made inactive. */
static struct registry *
make_registry(int deactivate)
{
	struct registry *reg = registry_new();

	for (size_t i = 0; i < ARRAY_LEN(tunits); i++) {
		const struct tunit *t = &tunits[i];
		struct unit u = {.id = t->id, .code = (char *)t->code, .name = (char *)t->code,
		    .kind = t->kind, .parent_id = t->parent, .stages = t->stages,
		    .urban = t->urban, .is_public = t->is_public,
		    .active = t->active && t->id != deactivate};

		registry_add(reg, &u);
	}
	return reg;
}

/* ---- the catalog ---- */

enum {
	M_PROG = 1,   /* rate, year, junior schools */
	M_CLASS = 2,  /* count, year: largest class */
	M_EQUIP = 3,  /* value, year: equipment value per pupil */
	M_SICK = 4,   /* rate, day */
	M_SESS = 5,   /* count, month: parent-school sessions */
	M_MYOPIA = 6, /* rate, year */
	M_UNUSED = 7, /* count, year: no rule uses it */
};

static struct catalog *
make_catalog(void)
{
	static const struct {
		int id;
		const char *code;
		enum metric_kind kind;
		enum period_kind pk;
		unsigned stages;
	} ms[] = {
		{M_PROG, "prog_rate", METRIC_RATE, PERIOD_YEAR, J},
		{M_CLASS, "class_size", METRIC_COUNT, PERIOD_YEAR, 0},
		{M_EQUIP, "equip_value", METRIC_VALUE, PERIOD_YEAR, 0},
		{M_SICK, "sick_rate", METRIC_RATE, PERIOD_DAY, 0},
		{M_SESS, "sessions", METRIC_COUNT, PERIOD_MONTH, 0},
		{M_MYOPIA, "myopia_rate", METRIC_RATE, PERIOD_YEAR, 0},
		{M_UNUSED, "unused", METRIC_COUNT, PERIOD_YEAR, 0},
	};
	struct catalog *cat = catalog_new();

	for (size_t i = 0; i < ARRAY_LEN(ms); i++) {
		struct metric m = {.id = ms[i].id, .code = (char *)ms[i].code,
		    .name_zh = (char *)ms[i].code, .name_en = (char *)ms[i].code,
		    .unit = (char *)"", .kind = ms[i].kind, .period_kind = ms[i].pk, .min = 0,
		    .max = ms[i].kind == METRIC_RATE ? 1 : 1e9, .stages = ms[i].stages,
		    .unit_kinds = UNIT_KIND_BIT(UNIT_SCHOOL), .description = (char *)""};

		catalog_add(cat, &m);
	}
	return cat;
}

/* ---- the fixture ---- */

static struct registry *reg;
static struct registry *reg2; /* a test's second registry, if any */
static struct catalog *cat;
static struct ruleset *rs;
static struct calendar *cal;
static struct engine *eng;
static struct engine_out out;

static void
setup(void)
{
	reg = make_registry(0);
	cat = make_catalog();
}

static void
teardown(void)
{
	engine_free(eng);
	engine_out_free(&out);
	ruleset_free(rs);
	calendar_free(cal);
	registry_free(reg2);
	registry_free(reg);
	catalog_free(cat);
}

TestSuite(engine, .init = setup, .fini = teardown);

/* One rule in JSON with single quotes; title and source are required. */
#define RULE(id, kind, metric, scope, rest)                                            \
	"{'id': '" id "', 'title': '测试规则', 'source': 's', 'kind': '" kind "', 'metric': '" \
	    metric "', 'scope': '" scope "'" rest "}"

/* Parse rules (single quotes for double) against the catalog and start an
 * engine over them with calendar c (NULL: Monday to Friday). */
static void
start(const char *json, struct calendar *c)
{
	char *text = xstrdup(json);
	char *errors = NULL;

	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	rs = ruleset_new();
	cr_assert_eq(rules_parse(rs, "test.json", text, strlen(text), cat, &errors), 0, "%s",
	    errors ? errors : "");
	free(text);
	cal = c;
	eng = engine_new(rs, reg, cat, cal);
}

static size_t
rix(const char *id)
{
	const struct rule *r = ruleset_find(rs, id);

	cr_assert_not_null(r, "no rule %s", id);
	return (size_t)(r - rs->rules);
}

static int32_t
day(const char *s)
{
	int32_t d;

	cr_assert_eq(date_parse(s, &d), 0, "bad test date %s", s);
	return d;
}

static struct period
per(const char *s)
{
	struct period p;
	char *cause = NULL;

	cr_assert_eq(period_parse(s, &p, &cause), 0, "bad test period %s: %s", s, cause);
	return p;
}

static struct engine_obs
rate(int unit, int metric, const char *period, int64_t num, int64_t den, int rev)
{
	return (struct engine_obs){.unit_id = unit, .metric_id = metric, .period = per(period),
	    .num = num, .den = den, .revision = rev, .tag = rev * 1000 + unit};
}

static struct engine_obs
val(int unit, int metric, const char *period, double v, int rev)
{
	return (struct engine_obs){.unit_id = unit, .metric_id = metric, .period = per(period),
	    .value = v, .revision = rev, .tag = rev * 1000 + unit};
}

/* Apply n observations as of today into a fresh out. */
static void
apply(const struct engine_obs *obs, size_t n, const char *today)
{
	engine_out_reset(&out);
	engine_apply(eng, obs, n, day(today), &out);
}

static void
apply1(struct engine_obs o, const char *today)
{
	apply(&o, 1, today);
}

static void
tick(const char *from, const char *to)
{
	engine_out_reset(&out);
	engine_tick(eng, day(from), day(to), &out);
}

static void
expect_events(size_t n)
{
	if (out.nevents != n) {
		for (size_t i = 0; i < out.nevents; i++) {
			char ps[PERIOD_STR_MAX];

			fprintf(stderr, "event %zu: %s unit %d %s %s %s %g/%g\n", i,
			    rs->rules[out.events[i].rule].id, out.events[i].unit_id,
			    period_format(&out.events[i].period, ps, sizeof ps),
			    alert_transition_name(out.events[i].transition),
			    severity_name(out.events[i].state.severity), out.events[i].state.value,
			    out.events[i].state.bound);
		}
	}
	cr_assert_eq(out.nevents, n, "%zu events, want %zu", out.nevents, n);
}

/* The event of (rule, unit); fails unless there is exactly one. */
static const struct engine_event *
event_of(const char *rule_id, int unit)
{
	const struct engine_event *found = NULL;
	size_t r = rix(rule_id);

	for (size_t i = 0; i < out.nevents; i++) {
		if (out.events[i].rule != r || out.events[i].unit_id != unit)
			continue;
		cr_assert_null(found, "two events for %s unit %d", rule_id, unit);
		found = &out.events[i];
	}
	cr_assert_not_null(found, "no event for %s unit %d", rule_id, unit);
	return found;
}

/* The event of (rule, unit) is exactly this. */
static const struct engine_event *
check_event(const char *rule_id, int unit, const char *period, enum alert_transition t,
    enum severity sev, double value, double bound)
{
	const struct engine_event *ev = event_of(rule_id, unit);
	struct period p = per(period);

	cr_assert_eq(ev->period.kind, p.kind, "%s %d: period kind", rule_id, unit);
	cr_assert_eq(ev->period.start, p.start, "%s %d: period", rule_id, unit);
	cr_assert_eq(ev->period.end, p.end, "%s %d: period end", rule_id, unit);
	cr_assert_eq(ev->transition, t, "%s %d: %s, want %s", rule_id, unit,
	    alert_transition_name(ev->transition), alert_transition_name(t));
	cr_assert_eq(ev->state.severity, sev, "%s %d: severity %s, want %s", rule_id, unit,
	    severity_name(ev->state.severity), severity_name(sev));
	cr_assert_eq(ev->state.firing, sev != SEV_OK, "%s %d: firing", rule_id, unit);
	cr_assert_eq(ev->state.value, value, "%s %d: value %.17g, want %.17g", rule_id, unit,
	    ev->state.value, value);
	cr_assert_eq(ev->state.bound, bound, "%s %d: bound %.17g, want %.17g", rule_id, unit,
	    ev->state.bound, bound);
	return ev;
}

/* The only figure of (rule, scope unit) in out. */
static const struct engine_figure *
figure_of(const char *rule_id, int unit)
{
	const struct engine_figure *found = NULL;
	size_t r = rix(rule_id);

	for (size_t i = 0; i < out.nfigures; i++) {
		if (out.figures[i].rule != r || out.figures[i].unit_id != unit)
			continue;
		cr_assert_null(found, "two figures for %s unit %d", rule_id, unit);
		found = &out.figures[i];
	}
	cr_assert_not_null(found, "no figure for %s unit %d", rule_id, unit);
	return found;
}

static void
check_figure(const char *rule_id, int unit, int64_t reported, int64_t expected, bool judged,
    int64_t num, int64_t den)
{
	const struct engine_figure *f = figure_of(rule_id, unit);

	cr_assert_eq(f->reported, reported, "%s %d: reported %lld", rule_id, unit,
	    (long long)f->reported);
	cr_assert_eq(f->expected, expected, "%s %d: expected %lld", rule_id, unit,
	    (long long)f->expected);
	cr_assert_eq(f->judged, judged, "%s %d: judged", rule_id, unit);
	cr_assert_eq(f->num, num, "%s %d: num %lld", rule_id, unit, (long long)f->num);
	cr_assert_eq(f->den, den, "%s %d: den %lld", rule_id, unit, (long long)f->den);
	if (den > 0) {
		cr_assert(f->defined);
		cr_assert_eq(f->value, (double)num / (double)den, "%s %d: value %.17g", rule_id,
		    unit, f->value);
	}
}

static int
firing_count(void)
{
	struct engine_counts c;

	engine_counts(eng, &c);
	return (int)c.firing;
}

/* ---- school threshold ---- */

#define CLASS_RULE                                                                     \
	RULE("class_size.school", "threshold", "class_size", "school",                 \
	    ", 'bands': [{'severity': 'warning', 'op': '>=', 'value': 56},"            \
	    " {'severity': 'critical', 'op': '>=', 'value': 66}]")

Test(engine, school_threshold_escalates_and_resolves)
{
	const struct engine_event *ev;

	start("[" CLASS_RULE "]", NULL);
	apply1(val(101, M_CLASS, "2021", 55, 1), "2021-10-01");
	expect_events(0);
	cr_expect_eq(firing_count(), 0);

	apply1(val(101, M_CLASS, "2021", 56, 2), "2021-10-01");
	expect_events(1);
	ev = check_event("class_size.school", 101, "2021", ALERT_FIRED, SEV_WARNING, 56, 56);
	cr_expect_eq(ev->metric_id, M_CLASS);
	cr_expect_eq(ev->tag, 2101, "the tag of the observation that caused it");
	cr_expect_eq(ev->state.streak, 1);
	cr_expect_eq(engine_alert_id(eng, ev->entry), 0, "not stored yet");
	engine_set_alert_id(eng, ev->entry, 42);
	cr_expect_eq(engine_alert_id(eng, ev->entry), 42);
	cr_expect_eq(firing_count(), 1);

	apply1(val(101, M_CLASS, "2021", 66, 3), "2021-10-01");
	expect_events(1);
	ev = check_event("class_size.school", 101, "2021", ALERT_ESCALATED, SEV_CRITICAL, 66, 66);
	cr_expect_eq(engine_alert_id(eng, ev->entry), 42, "same episode");

	apply1(val(101, M_CLASS, "2021", 60, 4), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 101, "2021", ALERT_DEESCALATED, SEV_WARNING, 60, 56);

	apply1(val(101, M_CLASS, "2021", 50, 5), "2021-10-01");
	expect_events(1);
	ev = check_event("class_size.school", 101, "2021", ALERT_RESOLVED, SEV_OK, 50, 56);
	cr_expect_eq(ev->tag, 5101);
	cr_expect(ev->value_before == 60 && ev->bound_before == 56,
	    "the breach it ends, for its message: %g/%g", ev->value_before, ev->bound_before);
	cr_expect_eq(firing_count(), 0);

	/* Other units and periods are other episodes. */
	apply1(val(102, M_CLASS, "2021", 70, 1), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 102, "2021", ALERT_FIRED, SEV_CRITICAL, 70, 66);
	apply1(val(102, M_CLASS, "2022", 70, 1), "2022-10-01");
	expect_events(1);
	check_event("class_size.school", 102, "2022", ALERT_FIRED, SEV_CRITICAL, 70, 66);
	cr_expect_eq(firing_count(), 2);
}

Test(engine, school_threshold_revision_order)
{
	start("[" CLASS_RULE "]", NULL);
	apply1(val(101, M_CLASS, "2021", 60, 2), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 101, "2021", ALERT_FIRED, SEV_WARNING, 60, 56);

	/* An older revision arriving late changes nothing. */
	apply1(val(101, M_CLASS, "2021", 40, 1), "2021-10-01");
	expect_events(0);
	cr_expect_eq(firing_count(), 1);
	/* The same observation again: no second event. */
	apply1(val(101, M_CLASS, "2021", 60, 2), "2021-10-01");
	expect_events(0);
	/* Even in one batch, twice. */
	{
		struct engine_obs two[] = {val(101, M_CLASS, "2021", 60, 2),
		    val(101, M_CLASS, "2021", 60, 2)};

		apply(two, 2, "2021-10-01");
		expect_events(0);
	}
	/* A correction that clears the breach resolves it. */
	apply1(val(101, M_CLASS, "2021", 40, 3), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 101, "2021", ALERT_RESOLVED, SEV_OK, 40, 56);
	cr_expect_eq(firing_count(), 0);
	/* And a stale breaching revision does not bring it back. */
	apply1(val(101, M_CLASS, "2021", 60, 2), "2021-10-01");
	expect_events(0);
	cr_expect_eq(firing_count(), 0);
}

/* The current state of the one refreshed episode of out. */
static struct engine_event
refreshed_one(void)
{
	struct engine_event e;

	cr_assert_eq(out.nrefreshed, 1, "%zu refreshed, want 1", out.nrefreshed);
	cr_assert(engine_entry(eng, out.refreshed[0], &e));
	return e;
}

Test(engine, firing_value_moves_without_an_event)
{
	struct engine_event e;

	start("[" CLASS_RULE "]", NULL);
	apply1(val(101, M_CLASS, "2021", 58, 1), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 101, "2021", ALERT_FIRED, SEV_WARNING, 58, 56);
	cr_expect_eq(out.nrefreshed, 0, "a transition is not also a refresh");

	/* 58 to 60 pupils: still a warning, nobody is told, the figure moves. */
	apply1(val(101, M_CLASS, "2021", 60, 2), "2021-10-01");
	expect_events(0);
	e = refreshed_one();
	cr_expect_eq(e.rule, rix("class_size.school"));
	cr_expect_eq(e.unit_id, 101);
	cr_expect_eq(e.metric_id, M_CLASS);
	cr_expect_eq(e.period.start, per("2021").start);
	cr_expect_eq(e.transition, ALERT_NONE);
	cr_expect(e.state.firing);
	cr_expect_eq(e.state.severity, SEV_WARNING);
	cr_expect(e.state.value == 60 && e.state.bound == 56, "%g/%g", e.state.value,
	    e.state.bound);
	cr_expect_eq(e.severity_before, SEV_WARNING);
	cr_expect_eq(e.tag, -1);

	/* The same figure again: nothing moved. */
	apply1(val(101, M_CLASS, "2021", 60, 2), "2021-10-01");
	expect_events(0);
	cr_expect_eq(out.nrefreshed, 0);
	apply1(val(101, M_CLASS, "2021", 60, 3), "2021-10-01");
	cr_expect_eq(out.nrefreshed, 0, "a new revision with the same figure");

	/* Moves in one batch are listed per move; the state is the last. */
	{
		struct engine_obs two[] = {val(101, M_CLASS, "2021", 61, 4),
		    val(101, M_CLASS, "2021", 62, 5)};

		apply(two, 2, "2021-10-01");
		expect_events(0);
		cr_assert_geq(out.nrefreshed, 1);
		for (size_t i = 0; i < out.nrefreshed; i++) {
			cr_assert(engine_entry(eng, out.refreshed[i], &e));
			cr_expect_eq(e.state.value, 62);
		}
	}

	/* A move across a band is an event, not a refresh. */
	apply1(val(101, M_CLASS, "2021", 70, 6), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 101, "2021", ALERT_ESCALATED, SEV_CRITICAL, 70, 66);
	cr_expect_eq(out.nrefreshed, 0);

	/* Below the alert, nothing firing, nothing refreshed. */
	apply1(val(101, M_CLASS, "2021", 40, 7), "2021-10-01");
	expect_events(1);
	cr_expect_eq(out.nrefreshed, 0);
	apply1(val(101, M_CLASS, "2021", 41, 8), "2021-10-01");
	expect_events(0);
	cr_expect_eq(out.nrefreshed, 0, "a resolved episode is not refreshed");
	cr_expect_not(engine_entry(eng, (size_t)-1, &e), "no such entry");
}

Test(engine, school_threshold_population)
{
	/* Filters: urban public junior schools only; the metric is reported by
	 * schools only; the closed school is not judged. */
	start("[" RULE("prog.school", "threshold", "prog_rate", "school",
	    ", 'filters': {'urban': true, 'public': true},"
	    " 'bands': [{'severity': 'warning', 'op': '<', 'value': 0.98}]") "]",
	    NULL);
	struct engine_obs obs[] = {
		rate(101, M_PROG, "2021", 48, 50, 1), /* urban public: judged */
		rate(102, M_PROG, "2021", 10, 50, 1), /* rural */
		rate(103, M_PROG, "2021", 10, 50, 1), /* private */
		rate(105, M_PROG, "2021", 10, 50, 1), /* inactive */
		rate(106, M_PROG, "2021", 10, 50, 1), /* senior: the metric is junior */
		rate(D1, M_PROG, "2021", 10, 50, 1),  /* a district */
		rate(203, M_PROG, "2021", 49, 50, 1), /* exactly 98%: fine */
	};

	apply(obs, ARRAY_LEN(obs), "2021-10-01");
	expect_events(1);
	check_event("prog.school", 101, "2021", ALERT_FIRED, SEV_WARNING, 48.0 / 50.0, 0.98);
}

Test(engine, school_threshold_hysteresis)
{
	start("[" RULE("prog.school", "threshold", "prog_rate", "school",
	    ", 'resolve_margin': 0.005,"
	    " 'bands': [{'severity': 'warning', 'op': '<', 'value': 0.98}]") "]",
	    NULL);
	apply1(rate(101, M_PROG, "2021", 48, 50, 1), "2021-10-01");
	expect_events(1);
	check_event("prog.school", 101, "2021", ALERT_FIRED, SEV_WARNING, 0.96, 0.98);
	/* On the bound: still inside the margin, no event. */
	apply1(rate(101, M_PROG, "2021", 49, 50, 2), "2021-10-01");
	expect_events(0);
	cr_expect_eq(firing_count(), 1);
	apply1(rate(101, M_PROG, "2021", 1969, 2000, 3), "2021-10-01"); /* 98.45% */
	expect_events(0);
	/* 98.5% clears 98% by the margin. */
	apply1(rate(101, M_PROG, "2021", 197, 200, 4), "2021-10-01");
	expect_events(1);
	check_event("prog.school", 101, "2021", ALERT_RESOLVED, SEV_OK, 197.0 / 200.0, 0.98);
	/* Not firing: the plain band again, 98% is fine and 97.9% fires. */
	apply1(rate(101, M_PROG, "2021", 49, 50, 5), "2021-10-01");
	expect_events(0);
	apply1(rate(101, M_PROG, "2021", 979, 1000, 6), "2021-10-01");
	expect_events(1);
	check_event("prog.school", 101, "2021", ALERT_FIRED, SEV_WARNING, 0.979, 0.98);
}

/* ---- for: consecutive school days ---- */

#define SICK_FOR5                                                                      \
	RULE("sick.for5", "threshold", "sick_rate", "school",                          \
	    ", 'for': 5, 'bands': [{'severity': 'warning', 'op': '>', 'value': 0.1}]")

Test(engine, for_counts_school_days)
{
	static const char *const days[] = {"2022-03-02", "2022-03-03", "2022-03-04",
	    "2022-03-07"};
	const struct engine_event *ev;

	start("[" SICK_FOR5 "]", NULL);
	cr_assert_eq(date_iso_weekday(day("2022-03-02")), 3, "a Wednesday");
	/* Tuesday fine, then Wednesday to Monday in breach: four school days. */
	apply1(rate(101, M_SICK, "2022-03-01", 5, 100, 1), "2022-03-01");
	expect_events(0);
	for (size_t i = 0; i < ARRAY_LEN(days); i++) {
		apply1(rate(101, M_SICK, days[i], 20, 100, 1), days[i]);
		expect_events(0);
	}
	/* Tuesday is the fifth consecutive school day (the weekend skipped). */
	apply1(rate(101, M_SICK, "2022-03-08", 20, 100, 1), "2022-03-08");
	expect_events(1);
	ev = check_event("sick.for5", 101, "2022-03-08", ALERT_FIRED, SEV_WARNING, 0.2, 0.1);
	cr_expect_eq(ev->state.streak, 5);

	/* Another school: a fine Monday breaks the streak. */
	for (size_t i = 0; i < 3; i++) {
		apply1(rate(102, M_SICK, days[i], 20, 100, 1), days[i]);
		expect_events(0);
	}
	apply1(rate(102, M_SICK, "2022-03-07", 10, 100, 1), "2022-03-07"); /* not > 0.1 */
	expect_events(0);
	static const char *const after[] = {"2022-03-08", "2022-03-09", "2022-03-10",
	    "2022-03-11"};
	for (size_t i = 0; i < ARRAY_LEN(after); i++) {
		apply1(rate(102, M_SICK, after[i], 20, 100, 1), after[i]);
		expect_events(0);
	}
	apply1(rate(102, M_SICK, "2022-03-14", 20, 100, 1), "2022-03-14");
	expect_events(1);
	ev = check_event("sick.for5", 102, "2022-03-14", ALERT_FIRED, SEV_WARNING, 0.2, 0.1);
	cr_expect_eq(ev->state.streak, 5);
}

/* ---- district aggregates ---- */

#define PROG_PUBLIC                                                                    \
	RULE("prog.district.public", "threshold", "prog_rate", "district",             \
	    ", 'filters': {'public': true},"                                           \
	    " 'bands': [{'severity': 'warning', 'op': '<', 'value': 0.9}]")

Test(engine, district_weighted_and_provisional)
{
	start("[" PROG_PUBLIC "]", NULL);
	/* District 1 expects 101 and 102 (103 is private, 104 primary, 105
	 * closed, 106 senior). The first school's 80% is provisional. */
	apply1(rate(101, M_PROG, "2021", 80, 100, 1), "2021-10-01");
	expect_events(0);
	cr_assert_eq(out.nfigures, 1);
	check_figure("prog.district.public", D1, 1, 2, false, 80, 100);
	/* 10/10 and 80/100 is 90/110 = 81.8%, a breach (the mean would be 90%). */
	apply1(rate(102, M_PROG, "2021", 10, 10, 1), "2021-10-01");
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_FIRED, SEV_WARNING,
	    90.0 / 110.0, 0.9);
	cr_assert_eq(out.nfigures, 1);
	check_figure("prog.district.public", D1, 2, 2, true, 90, 110);
	/* A correction that clears the breach resolves it. */
	apply1(rate(101, M_PROG, "2021", 95, 100, 2), "2021-10-01");
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_RESOLVED, SEV_OK, 105.0 / 110.0,
	    0.9);
	check_figure("prog.district.public", D1, 2, 2, true, 105, 110);
	/* Schools outside the population change no figure. */
	apply1(rate(103, M_PROG, "2021", 0, 100, 1), "2021-10-01");
	expect_events(0);
	cr_expect_eq(out.nfigures, 0);
}

/* A district rate moves with each school's correction while it stays in breach. */
Test(engine, firing_aggregate_is_refreshed)
{
	struct engine_event e;

	start("[" PROG_PUBLIC "]", NULL);
	apply1(rate(101, M_PROG, "2021", 80, 100, 1), "2021-10-01");
	apply1(rate(102, M_PROG, "2021", 10, 10, 1), "2021-10-01");
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_FIRED, SEV_WARNING, 90.0 / 110.0,
	    0.9);
	apply1(rate(101, M_PROG, "2021", 85, 100, 2), "2021-10-01");
	expect_events(0);
	e = refreshed_one();
	cr_expect_eq(e.unit_id, D1);
	cr_expect(e.state.firing);
	cr_expect(e.state.value == 95.0 / 110.0, "%.17g", e.state.value);
}

Test(engine, district_completeness_share)
{
	start("[" RULE("prog.district.c90", "threshold", "prog_rate", "district",
	    ", 'completeness': 0.9,"
	    " 'bands': [{'severity': 'warning', 'op': '<', 'value': 0.9}]") "]",
	    NULL);
	/* District 2 expects its ten junior schools: nine make it complete. */
	for (int u = 201; u <= 208; u++) {
		apply1(rate(u, M_PROG, "2021", 8, 10, 1), "2021-10-01");
		expect_events(0);
		check_figure("prog.district.c90", D2, u - 200, 10, false, 8 * (u - 200),
		    10 * (u - 200));
	}
	apply1(rate(209, M_PROG, "2021", 8, 10, 1), "2021-10-01");
	expect_events(1);
	check_event("prog.district.c90", D2, "2021", ALERT_FIRED, SEV_WARNING, 0.8, 0.9);
	check_figure("prog.district.c90", D2, 9, 10, true, 72, 90);
}

Test(engine, district_judged_after_deadline)
{
	start("[" PROG_PUBLIC "]", NULL);
	apply1(rate(101, M_PROG, "2021", 80, 100, 1), "2021-12-01");
	expect_events(0);
	check_figure("prog.district.public", D1, 1, 2, false, 80, 100);
	/* The deadline of 2021 (no grace) is 2022-01-01. */
	tick("2021-12-02", "2021-12-31");
	expect_events(0);
	tick("2021-12-31", "2022-01-01");
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_FIRED, SEV_WARNING, 0.8, 0.9);
	check_figure("prog.district.public", D1, 1, 2, true, 80, 100);
	/* The same deadline again decides nothing new. */
	tick("2022-01-01", "2022-01-01");
	expect_events(0);
	/* A late report after the deadline is judged at once. */
	apply1(rate(102, M_PROG, "2021", 100, 100, 1), "2022-01-05");
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_RESOLVED, SEV_OK, 0.9, 0.9);
	check_figure("prog.district.public", D1, 2, 2, true, 180, 200);
}

Test(engine, one_evaluation_per_aggregate_per_apply)
{
	start("[" RULE("prog.district", "threshold", "prog_rate", "district",
	    ", 'bands': [{'severity': 'warning', 'op': '<', 'value': 0.9}]") ","
	    RULE("prog.city", "threshold", "prog_rate", "city",
	    ", 'bands': [{'severity': 'warning', 'op': '<', 'value': 0.9}]") "]",
	    NULL);
	struct engine_obs obs[] = {
		rate(101, M_PROG, "2021", 1, 10, 1),
		rate(102, M_PROG, "2021", 2, 10, 1),
		rate(103, M_PROG, "2021", 3, 10, 1),
		rate(201, M_PROG, "2021", 4, 10, 1),
		rate(202, M_PROG, "2021", 5, 10, 1),
		rate(101, M_PROG, "2021", 6, 10, 2), /* a correction in the same batch */
	};

	apply(obs, ARRAY_LEN(obs), "2021-10-01");
	cr_assert_eq(out.nfigures, 3, "D1, D2 and the city once each, got %zu", out.nfigures);
	check_figure("prog.district", D1, 3, 3, true, 11, 30);
	check_figure("prog.district", D2, 2, 10, false, 9, 20);
	check_figure("prog.city", CITY, 5, 13, false, 20, 50);
	expect_events(1);
	check_event("prog.district", D1, "2021", ALERT_FIRED, SEV_WARNING, 11.0 / 30.0, 0.9);
}

/* Expected counts under each filter: (rule, scope unit, expected). */
#define PROG_BAND ", 'bands': [{'severity': 'warning', 'op': '<', 'value': 0.9}]"
static const char pop_rules[] = "["
	RULE("p.all", "threshold", "prog_rate", "district", PROG_BAND) ","
	RULE("p.urban", "threshold", "prog_rate", "district",
	    ", 'filters': {'urban': true}" PROG_BAND) ","
	RULE("p.rural", "threshold", "prog_rate", "district",
	    ", 'filters': {'urban': false}" PROG_BAND) ","
	RULE("p.private", "threshold", "prog_rate", "district",
	    ", 'filters': {'public': false}" PROG_BAND) ","
	RULE("p.city", "threshold", "prog_rate", "city", PROG_BAND) ","
	RULE("e.primary", "dispersion", "equip_value", "district",
	    ", 'filters': {'stages': ['primary']}, 'limit': 0.5") ","
	RULE("e.any", "dispersion", "equip_value", "district", ", 'limit': 0.5") ","
	RULE("e.senior.city", "dispersion", "equip_value", "city",
	    ", 'filters': {'stages': ['senior']}, 'limit': 0.5") "]";

struct pop_case {
	const char *rule;
	int scope;
	int64_t expected;
};

static const struct pop_case pop_cases[] = {
	{"p.all", D1, 3},          /* 101, 102, 103 */
	{"p.all", D2, 10},         /* 201..210 */
	{"p.urban", D1, 2},        /* 101, 103 */
	{"p.urban", D2, 5},        /* odd ids */
	{"p.rural", D1, 1},        /* 102 */
	{"p.private", D1, 1},      /* 103 */
	{"p.private", D2, 0},
	{"p.city", CITY, 13},
	{"e.primary", D1, 2},      /* 103, 104 */
	{"e.primary", D2, 1},      /* 211 */
	{"e.any", D1, 5},          /* all but the closed 105 */
	{"e.any", D2, 12},
	{"e.senior.city", CITY, 2}, /* 106, 212 */
};

ParameterizedTestParameters(engine, expected_counts)
{
	static int idx[ARRAY_LEN(pop_cases)];

	for (size_t i = 0; i < ARRAY_LEN(pop_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, engine, expected_counts)
{
	const struct pop_case *c = &pop_cases[*i];
	struct agg a;
	int64_t expected = -1;
	int metric = c->rule[0] == 'p' ? M_PROG : M_EQUIP;
	struct engine_obs obs[ARRAY_LEN(tunits)];
	size_t n = 0;

	start(pop_rules, NULL);
	/* Every unit reports, so every aggregate with a population exists. */
	for (size_t k = 0; k < ARRAY_LEN(tunits); k++)
		obs[n++] = metric == M_PROG ? rate(tunits[k].id, M_PROG, "2021", 5, 10, 1) :
					      val(tunits[k].id, M_EQUIP, "2021", 100 + (double)k, 1);
	apply(obs, n, "2021-10-01");
	if (c->expected == 0) {
		cr_expect_eq(engine_aggregate(eng, rix(c->rule), c->scope, per("2021").start, &a,
				 &expected),
		    -1, "%s %d: no aggregate without a population", c->rule, c->scope);
		return;
	}
	cr_assert_eq(engine_aggregate(eng, rix(c->rule), c->scope, per("2021").start, &a,
			 &expected),
	    0, "%s %d", c->rule, c->scope);
	cr_expect_eq(expected, c->expected, "%s %d: expected %lld, want %lld", c->rule, c->scope,
	    (long long)expected, (long long)c->expected);
	cr_expect_eq(a.count, c->expected, "%s %d: every expected unit reported, count %lld",
	    c->rule, c->scope, (long long)a.count);
	/* Every aggregate was complete, so judged. */
	cr_expect(figure_of(c->rule, c->scope)->judged);
}

/* ---- running aggregates against a recomputation ---- */

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static int
rng_below(int n)
{
	return (int)(rng() % (uint64_t)n);
}

/* What the test knows of each (unit, metric, year): the current figure. */
struct cur {
	int rev;
	int64_t num, den;
	double v;
};

/* Is the unit in the population of prog_rate (junior, active school)? */
static bool
pop_prog(const struct tunit *t)
{
	return t->kind == UNIT_SCHOOL && t->active && (t->stages & J);
}

static bool
pop_equip(const struct tunit *t)
{
	return t->kind == UNIT_SCHOOL && t->active;
}

static bool
under(const struct tunit *t, int scope)
{
	return scope == CITY || t->parent == scope;
}

/* Compare the engine's aggregates with sums over the test's figures. */
static void
compare_aggregates(struct cur (*cur)[2][2], int deactivated)
{
	static const int scopes[] = {D1, D2, CITY};
	static const char *const years[] = {"2021", "2022"};

	for (size_t y = 0; y < 2; y++) {
		for (size_t s = 0; s < ARRAY_LEN(scopes); s++) {
			for (int m = 0; m < 2; m++) {
				const char *rule = m == 0 ? (scopes[s] == CITY ? "r.city" : "r.district") :
							    (scopes[s] == CITY ? "v.city" : "v.district");
				struct agg want = {0}, got;
				double sum = 0, sumsq = 0;
				int64_t expected, pop = 0;
				int rc;

				for (size_t k = 0; k < ARRAY_LEN(tunits); k++) {
					const struct tunit *t = &tunits[k];
					bool in = (m == 0 ? pop_prog(t) : pop_equip(t)) &&
					    under(t, scopes[s]) && t->id != deactivated;
					const struct cur *c = &cur[k][m][y];

					pop += in;
					if (!in || c->rev == 0)
						continue;
					want.count++;
					want.num += m == 0 ? c->num : (int64_t)c->v;
					want.den += m == 0 ? c->den : 1;
					sum += m == 0 ? (double)c->num / (double)c->den : c->v;
					sumsq += m == 0 ? 0 : c->v * c->v;
				}
				rc = engine_aggregate(eng, rix(rule), scopes[s], per(years[y]).start,
				    &got, &expected);
				CHECK(rc == 0, "%s %d %s: no aggregate", rule, scopes[s], years[y]);
				CHECK(expected == pop, "%s %d %s: expected %lld, want %lld", rule,
				    scopes[s], years[y], (long long)expected, (long long)pop);
				CHECK(got.count == want.count, "%s %d %s: count %lld, want %lld",
				    rule, scopes[s], years[y], (long long)got.count,
				    (long long)want.count);
				if (m == 0) {
					CHECK(got.num == want.num && got.den == want.den,
					    "%s %d %s: %lld/%lld, want %lld/%lld", rule, scopes[s],
					    years[y], (long long)got.num, (long long)got.den,
					    (long long)want.num, (long long)want.den);
				} else {
					/* Integer values: sums and squares are exact. */
					CHECK(got.sum + got.sum_lo == sum, "%s %d %s: sum %.17g, want %.17g",
					    rule, scopes[s], years[y], got.sum + got.sum_lo, sum);
					CHECK(got.sumsq + got.sumsq_lo == sumsq,
					    "%s %d %s: sumsq %.17g, want %.17g", rule, scopes[s],
					    years[y], got.sumsq + got.sumsq_lo, sumsq);
				}
			}
		}
	}
}

Test(engine, running_aggregates_equal_recomputation)
{
	static const char *const years[] = {"2021", "2022"};
	static struct cur cur[ARRAY_LEN(tunits)][2][2];
	struct engine_obs batch[8];

	start("[" RULE("r.district", "threshold", "prog_rate", "district", PROG_BAND) ","
	    RULE("r.city", "threshold", "prog_rate", "city", PROG_BAND) ","
	    RULE("v.district", "dispersion", "equip_value", "district", ", 'limit': 0.5") ","
	    RULE("v.city", "dispersion", "equip_value", "city", ", 'limit': 0.5") "]",
	    NULL);
	memset(cur, 0, sizeof cur);
	rng_state = 0x853c49e6748fea9bull;
	for (int step = 0; step < 3000; step++) {
		size_t n = 1 + (size_t)rng_below(8);

		for (size_t b = 0; b < n; b++) {
			size_t k = (size_t)rng_below((int)ARRAY_LEN(tunits));
			int m = rng_below(2), y = rng_below(2);
			struct cur *c = &cur[k][m][y];
			int rev;
			struct engine_obs o;

			/* Mostly a new revision; sometimes a stale or repeated one. */
			if (c->rev > 0 && rng_below(5) == 0)
				rev = 1 + rng_below(c->rev);
			else
				rev = c->rev + 1;
			if (m == 0) {
				int64_t den = 1 + rng_below(500);

				o = rate(tunits[k].id, M_PROG, years[y], rng_below((int)den + 1), den,
				    rev);
			} else {
				o = val(tunits[k].id, M_EQUIP, years[y], 1000 + rng_below(90000), rev);
			}
			/* A revision repeated within a batch keeps the first. */
			if (rev > c->rev) {
				c->rev = rev;
				c->num = o.num;
				c->den = o.den;
				c->v = o.value;
			}
			batch[b] = o;
		}
		apply(batch, n, "2023-03-01");
		/* Each aggregate at most once per apply. */
		for (size_t i = 0; i < out.nfigures; i++)
			for (size_t j = i + 1; j < out.nfigures; j++)
				CHECK(out.figures[i].rule != out.figures[j].rule ||
					out.figures[i].unit_id != out.figures[j].unit_id ||
					out.figures[i].period.start != out.figures[j].period.start,
				    "step %d: aggregate judged twice", step);
	}
	compare_aggregates(cur, 0);

	/* Rebinding to the same registry rebuilds the same aggregates... */
	engine_rebind(eng, reg, cat);
	compare_aggregates(cur, 0);
	/* ...and to one where 201 has closed, aggregates without it. */
	reg2 = make_registry(201);
	engine_rebind(eng, reg2, cat);
	compare_aggregates(cur, 201);
}

/* ---- dispersion ---- */

Test(engine, dispersion_hand_computed)
{
	const struct engine_event *ev;
	const struct engine_figure *f;

	start("[" RULE("equip.cv.junior", "dispersion", "equip_value", "district",
	    ", 'filters': {'stages': ['junior']}, 'limit': 0.5") "]",
	    NULL);
	/* District 1's junior schools: 101, 102, 103. 2000, 4000, 9000: mean
	 * 5000, deviations -3000, -1000, 4000, variance 26e6/3, CV
	 * sqrt(26/3)/5 = 0.5888. */
	apply1(val(101, M_EQUIP, "2021", 2000, 1), "2021-10-01");
	apply1(val(102, M_EQUIP, "2021", 4000, 1), "2021-10-01");
	expect_events(0);
	f = figure_of("equip.cv.junior", D1);
	cr_expect_not(f->judged, "2 of 3: provisional");
	cr_expect(f->defined);
	cr_expect_float_eq(f->value, 1.0 / 3.0, 1e-12, "2000 and 4000: sd 1000, mean 3000");
	apply1(val(103, M_EQUIP, "2021", 9000, 1), "2021-10-01");
	expect_events(1);
	ev = event_of("equip.cv.junior", D1);
	cr_expect_eq(ev->transition, ALERT_FIRED);
	cr_expect_eq(ev->state.severity, SEV_WARNING);
	cr_expect_float_eq(ev->state.value, sqrt(26.0 / 3.0) / 5.0, 1e-12, "%.17g",
	    ev->state.value);
	cr_expect_eq(ev->state.bound, 0.5);
	f = figure_of("equip.cv.junior", D1);
	cr_expect(f->judged);
	cr_expect_eq(f->reported, 3);
	cr_expect_eq(f->expected, 3);
	cr_expect_float_eq(f->value, sqrt(26.0 / 3.0) / 5.0, 1e-12);
	/* 9000 corrected to 6000: mean 4000, deviations -2000, 0, 2000, CV
	 * sqrt(8/3)/4 = 0.408. */
	apply1(val(103, M_EQUIP, "2021", 6000, 2), "2021-10-01");
	expect_events(1);
	ev = event_of("equip.cv.junior", D1);
	cr_expect_eq(ev->transition, ALERT_RESOLVED);
	cr_expect_float_eq(ev->state.value, sqrt(8.0 / 3.0) / 4.0, 1e-12);
	/* 104 is primary: not in this population. */
	apply1(val(104, M_EQUIP, "2021", 100000, 1), "2021-10-01");
	expect_events(0);
	cr_expect_eq(out.nfigures, 0);
}

/* ---- quota ---- */

#define SESS_QUOTA                                                                     \
	RULE("sessions.quota", "quota", "sessions", "school",                          \
	    ", 'filters': {'stages': ['primary']}, 'quota': 3, 'quota_period': 'year'")

Test(engine, quota_prorated_then_year_end)
{
	start("[" SESS_QUOTA "]", NULL);
	/* Primary schools: 103, 104, 211. One session in January: by February
	 * 3 * 31/365 is below one, nothing is expected yet. */
	apply1(val(103, M_SESS, "2022-01", 1, 1), "2022-02-01");
	expect_events(0);
	/* July 1: 181 days gone, floor(3 * 181 / 365) = 1 expected. */
	tick("2022-07-01", "2022-07-01");
	expect_events(2);
	check_event("sessions.quota", 104, "2022", ALERT_FIRED, SEV_WARNING, 0, 1);
	check_event("sessions.quota", 211, "2022", ALERT_FIRED, SEV_WARNING, 0, 1);
	/* 104 holds all three in March: the quota is reached. */
	apply1(val(104, M_SESS, "2022-03", 3, 1), "2022-07-02");
	expect_events(1);
	check_event("sessions.quota", 104, "2022", ALERT_RESOLVED, SEV_OK, 3, 1);
	/* The same tick again changes nothing. */
	tick("2022-07-01", "2022-07-01");
	expect_events(0);
	/* Year end: 103 has 1 of 3, 211 none; 104 is fine. */
	tick("2022-12-31", "2023-01-01");
	expect_events(2);
	check_event("sessions.quota", 103, "2022", ALERT_FIRED, SEV_CRITICAL, 1, 3);
	check_event("sessions.quota", 211, "2022", ALERT_ESCALATED, SEV_CRITICAL, 0, 3);
	/* Monthly counts add up to the year: 211's late reports resolve it. */
	apply1(val(211, M_SESS, "2022-02", 1, 1), "2023-01-05");
	expect_events(0);
	apply1(val(211, M_SESS, "2022-11", 1, 1), "2023-01-05");
	expect_events(0);
	apply1(val(211, M_SESS, "2022-12", 1, 1), "2023-01-05");
	expect_events(1);
	check_event("sessions.quota", 211, "2022", ALERT_RESOLVED, SEV_OK, 3, 3);
	cr_expect_eq(firing_count(), 1, "only 103 still firing");
}

Test(engine, quota_district_sums_its_schools)
{
	start("[" RULE("sessions.district.quota", "quota", "sessions", "district",
	    ", 'filters': {'stages': ['primary']}, 'quota': 5, 'quota_period': 'year'") "]",
	    NULL);
	/* District 1's primary schools 103 and 104 hold 2 + 3; district 2's
	 * only primary school 211 holds 1. */
	apply1(val(103, M_SESS, "2022-01", 2, 1), "2022-02-01");
	apply1(val(104, M_SESS, "2022-06", 3, 1), "2022-07-01");
	expect_events(0);
	cr_expect_eq(figure_of("sessions.district.quota", D1)->value, 5);
	apply1(val(211, M_SESS, "2022-02", 1, 1), "2022-03-01");
	expect_events(0);
	/* Year end: district 2 is short; 2023 has just begun, nothing due. */
	tick("2022-12-31", "2023-01-01");
	expect_events(1);
	check_event("sessions.district.quota", D2, "2022", ALERT_FIRED, SEV_CRITICAL, 1, 5);
	/* A school outside the population changes nothing. */
	apply1(val(201, M_SESS, "2022-03", 10, 1), "2023-01-02");
	expect_events(0);
	apply1(val(211, M_SESS, "2022-12", 4, 1), "2023-01-02");
	expect_events(1);
	check_event("sessions.district.quota", D2, "2022", ALERT_RESOLVED, SEV_OK, 5, 5);
}

Test(engine, trend_yoy_district)
{
	/* District 1 reports myopia from 101, 102, 103, 104 and 106: a share
	 * of 0.4 makes two reports enough. */
	start("[" RULE("myopia.district.yoy", "trend", "myopia_rate", "district",
	    ", 'completeness': 0.4, 'trend': {'mode': 'yoy', 'direction': 'decrease'}") "]",
	    NULL);
	struct engine_obs y2021[] = {rate(101, M_MYOPIA, "2021", 30, 100, 1),
	    rate(102, M_MYOPIA, "2021", 10, 100, 1)};
	struct engine_obs y2022[] = {rate(101, M_MYOPIA, "2022", 25, 100, 1),
	    rate(102, M_MYOPIA, "2022", 20, 50, 1)};

	apply(y2021, 2, "2021-12-01");
	expect_events(0);
	/* 2022: 45/150 = 30% against 40/200 = 20%. */
	apply1(y2022[0], "2022-12-01");
	expect_events(0); /* 1 of 5: provisional */
	apply1(y2022[1], "2022-12-01");
	expect_events(1);
	check_event("myopia.district.yoy", D1, "2022", ALERT_FIRED, SEV_WARNING, 45.0 / 150.0,
	    40.0 / 200.0);
	check_figure("myopia.district.yoy", D1, 2, 5, true, 45, 150);
	/* 2021 corrected to 70/200: 2022's 30% is a fall; judged again at once,
	 * as a restart would. */
	apply1(rate(102, M_MYOPIA, "2021", 40, 100, 2), "2022-12-01");
	expect_events(1);
	check_event("myopia.district.yoy", D1, "2022", ALERT_RESOLVED, SEV_OK, 45.0 / 150.0,
	    40.0 / 200.0);
	cr_expect_eq(out.events[0].tag, 2102, "caused by the correction");
}

/* ---- trend ---- */

Test(engine, trend_yoy)
{
	start("[" RULE("myopia.yoy", "trend", "myopia_rate", "school",
	    ", 'trend': {'mode': 'yoy', 'direction': 'decrease'}") "]",
	    NULL);
	apply1(rate(101, M_MYOPIA, "2021", 30, 100, 1), "2021-12-01");
	expect_events(0);
	/* 2022 not below 2021: a breach at the default severity. */
	apply1(rate(101, M_MYOPIA, "2022", 32, 100, 1), "2022-12-01");
	expect_events(1);
	check_event("myopia.yoy", 101, "2022", ALERT_FIRED, SEV_WARNING, 0.32, 0.3);
	/* Without last year's figure nothing is judged. */
	apply1(rate(102, M_MYOPIA, "2022", 90, 100, 1), "2022-12-01");
	expect_events(0);
	/* Equal to last year is not a fall. */
	apply1(rate(103, M_MYOPIA, "2021", 25, 100, 1), "2022-12-01");
	apply1(rate(103, M_MYOPIA, "2022", 25, 100, 1), "2022-12-01");
	expect_events(1);
	check_event("myopia.yoy", 103, "2022", ALERT_FIRED, SEV_WARNING, 0.25, 0.25);
	/* A correction below last year resolves. */
	apply1(rate(101, M_MYOPIA, "2022", 28, 100, 2), "2022-12-01");
	expect_events(1);
	check_event("myopia.yoy", 101, "2022", ALERT_RESOLVED, SEV_OK, 0.28, 0.3);
}

/* Last year's figure arriving late, or corrected, judges this year's again,
 * as a restart would: the same figures give the same alerts. */
Test(engine, trend_yoy_rejudged_when_last_year_changes)
{
	const struct engine_event *ev;

	start("[" RULE("myopia.yoy", "trend", "myopia_rate", "school",
	    ", 'trend': {'mode': 'yoy', 'direction': 'decrease'}") "]",
	    NULL);
	apply1(rate(101, M_MYOPIA, "2022", 32, 100, 1), "2022-12-01");
	expect_events(0); /* nothing to compare with yet */
	apply1(rate(101, M_MYOPIA, "2021", 30, 100, 1), "2022-12-01");
	expect_events(1);
	ev = check_event("myopia.yoy", 101, "2022", ALERT_FIRED, SEV_WARNING, 0.32, 0.3);
	cr_expect_eq(ev->tag, 1101, "caused by last year's figure");
	/* Last year corrected upwards: this year's 32% is a fall now. */
	apply1(rate(101, M_MYOPIA, "2021", 35, 100, 2), "2022-12-01");
	expect_events(1);
	/* A resolution keeps the bound that was in force. */
	ev = check_event("myopia.yoy", 101, "2022", ALERT_RESOLVED, SEV_OK, 0.32, 0.3);
	cr_expect_eq(ev->tag, 2101);
}

/* Earlier school days reported after a later one complete its streak. */
Test(engine, for_streak_completed_by_late_reports)
{
	static const char *const days[] = {"2022-03-02", "2022-03-03", "2022-03-04"};
	const struct engine_event *ev;

	start("[" SICK_FOR5 "]", NULL);
	apply1(rate(101, M_SICK, "2022-03-08", 20, 100, 1), "2022-03-08");
	expect_events(0);
	for (size_t i = 0; i < ARRAY_LEN(days); i++) {
		apply1(rate(101, M_SICK, days[i], 20, 100, 1), "2022-03-08");
		expect_events(0);
	}
	/* Monday fills the gap: Tuesday is the fifth school day in breach. */
	apply1(rate(101, M_SICK, "2022-03-07", 30, 100, 2), "2022-03-08");
	expect_events(1);
	ev = check_event("sick.for5", 101, "2022-03-08", ALERT_FIRED, SEV_WARNING, 0.2, 0.1);
	cr_expect_eq(ev->state.streak, 5);
	cr_expect_eq(ev->tag, 2101);
}

Test(engine, trend_baseline_spike)
{
	/* The ten school days before Friday 2022-03-18: March 4..17 without
	 * the weekends. */
	static const char *const hist[] = {"2022-03-04", "2022-03-07", "2022-03-08",
	    "2022-03-09", "2022-03-10", "2022-03-11", "2022-03-14", "2022-03-15",
	    "2022-03-16", "2022-03-17"};
	const struct engine_event *ev;

	start("[" RULE("sick.spike", "trend", "sick_rate", "school",
	    ", 'trend': {'mode': 'baseline', 'days': 10, 'factor': 2, 'min_delta': 0.02}") "]",
	    NULL);
	for (size_t i = 0; i < ARRAY_LEN(hist); i++) {
		struct engine_obs o[] = {rate(101, M_SICK, hist[i], 1, 100, 1),
		    rate(102, M_SICK, hist[i], 1, 100, 1)};

		/* 102 has only the last four days: too little history. */
		engine_load_slice(eng, M_SICK, &o[0].period, o, i >= 6 ? 2 : 1);
	}
	/* 5% against a baseline of 1%: over twice and 4 points up. */
	apply1(rate(101, M_SICK, "2022-03-18", 5, 100, 1), "2022-03-18");
	expect_events(1);
	ev = event_of("sick.spike", 101);
	cr_expect_eq(ev->transition, ALERT_FIRED);
	cr_expect_eq(ev->state.severity, SEV_WARNING);
	cr_expect_eq(ev->state.value, 0.05);
	/* The mean of ten 1% is 2% up to rounding. */
	cr_expect_float_eq(ev->state.bound, 0.02, 1e-15, "%.17g", ev->state.bound);
	cr_expect_eq(ev->period.start, day("2022-03-18"));
	apply1(rate(102, M_SICK, "2022-03-18", 50, 100, 1), "2022-03-18");
	expect_events(0);
	/* 3%: three times the baseline and 2 points up (min_delta met exactly). */
	apply1(rate(101, M_SICK, "2022-03-18", 3, 100, 2), "2022-03-18");
	expect_events(0);
	/* 2%: not over twice the baseline, resolves. */
	apply1(rate(101, M_SICK, "2022-03-18", 2, 100, 3), "2022-03-18");
	expect_events(1);
	ev = event_of("sick.spike", 101);
	cr_expect_eq(ev->transition, ALERT_RESOLVED);
	cr_expect_not(ev->state.firing);
	cr_expect_eq(ev->state.value, 0.02);
}

/* ---- missing ---- */

#define SICK_MISSING                                                                   \
	RULE("sick.missing", "missing", "sick_rate", "school",                         \
	    ", 'filters': {'stages': ['senior']}, 'grace_days': 0")

Test(engine, missing_weekdays)
{
	const struct engine_event *ev;

	start("[" SICK_MISSING "]", NULL);
	/* Senior schools: 106 and 212 (105 is closed). 106 reports Friday. */
	apply1(rate(106, M_SICK, "2022-03-04", 1, 100, 1), "2022-03-04");
	expect_events(0);
	/* Friday is Thursday's deadline: neither reported Thursday. */
	tick("2022-03-04", "2022-03-04");
	expect_events(2);
	check_event("sick.missing", 106, "2022-03-03", ALERT_FIRED, SEV_WARNING, 1, 0);
	check_event("sick.missing", 212, "2022-03-03", ALERT_FIRED, SEV_WARNING, 1, 0);
	/* Saturday is Friday's deadline: only 212 is late. */
	tick("2022-03-05", "2022-03-05");
	expect_events(1);
	ev = check_event("sick.missing", 212, "2022-03-04", ALERT_FIRED, SEV_WARNING, 1, 0);
	cr_expect_eq(ev->tag, -1, "the clock");
	/* Saturday and Sunday are not school days. */
	tick("2022-03-06", "2022-03-07");
	expect_events(0);
	/* The report arrives on Monday. */
	apply1(rate(212, M_SICK, "2022-03-04", 1, 100, 1), "2022-03-07");
	expect_events(1);
	check_event("sick.missing", 212, "2022-03-04", ALERT_RESOLVED, SEV_OK, 0, 0);
	cr_expect_eq(out.events[0].tag, 1212);
	/* A catch-up over Tuesday to Thursday: Monday to Wednesday, both
	 * schools, days overdue as of Thursday. */
	tick("2022-03-08", "2022-03-10");
	expect_events(6);
	for (size_t i = 0; i < out.nevents; i++) {
		const struct engine_event *e = &out.events[i];

		cr_expect(e->unit_id == 106 || e->unit_id == 212);
		cr_expect_eq(e->transition, ALERT_FIRED);
		cr_expect_eq(e->state.value, (double)(day("2022-03-10") - e->period.end + 1),
		    "%d overdue %g", e->unit_id, e->state.value);
	}
}

/* Lianyungang in April 2022: Saturday April 2 is a make-up school day,
 * Monday and Tuesday April 4-5 are 清明 holidays. */
static const char small_calendar[] =
	"{\"unit\": \"3207\", \"terms\": [{\"name\": \"2021-2022-2\", \"start\": "
	"\"2022-02-14\", \"end\": \"2022-07-01\"}], \"holidays\": [{\"from\": \"2022-04-03\", "
	"\"to\": \"2022-04-05\", \"name\": \"清明节\"}], \"school_days\": [\"2022-04-02\"]}";

Test(engine, missing_follows_the_calendar)
{
	char *cause = NULL;
	struct calendar *c = calendar_parse("3207.json", small_calendar,
	    sizeof small_calendar - 1, &cause);

	cr_assert_not_null(c, "%s", cause);
	start("[" SICK_MISSING "]", c);
	/* Deadlines April 2..7 are those of April 1..6: Friday 1, make-up
	 * Saturday 2 and Wednesday 6 are expected; Sunday 3 and the holidays
	 * are not. */
	tick("2022-04-02", "2022-04-07");
	expect_events(6);
	for (size_t i = 0; i < out.nevents; i++) {
		char ps[PERIOD_STR_MAX];
		int32_t s = out.events[i].period.start;

		period_format(&out.events[i].period, ps, sizeof ps);
		cr_expect(s == day("2022-04-01") || s == day("2022-04-02") ||
			s == day("2022-04-06"),
		    "%s fired", ps);
		cr_expect_eq(out.events[i].transition, ALERT_FIRED);
	}
	/* Nothing on the holidays themselves either way. */
	tick("2022-04-04", "2022-04-06");
	expect_events(0);
}

/* ---- stored state ---- */

Test(engine, stored_state_resolves_without_duplicates)
{
	struct alert_state firing = {.firing = true, .severity = SEV_WARNING, .value = 58,
	    .bound = 56, .streak = 1};
	struct alert_state firing60 = {.firing = true, .severity = SEV_WARNING, .value = 60,
	    .bound = 56, .streak = 1};
	struct engine_obs items[] = {val(101, M_CLASS, "2021", 50, 3),
	    val(102, M_CLASS, "2021", 60, 1)};
	struct period y = per("2021");
	size_t e101, e102;
	const struct engine_event *ev;

	start("[" CLASS_RULE "]", NULL);
	cr_expect_eq(engine_load_state(eng, "gone.rule", 101, &y, &firing, 9), SIZE_MAX);
	e101 = engine_load_state(eng, "class_size.school", 101, &y, &firing, 7);
	e102 = engine_load_state(eng, "class_size.school", 102, &y, &firing60, 8);
	cr_assert_neq(e101, SIZE_MAX);
	cr_assert_neq(e102, SIZE_MAX);
	cr_expect_eq(engine_alert_id(eng, e101), 7);
	cr_expect_eq(engine_alert_id(eng, e102), 8);
	engine_load_slice(eng, M_CLASS, &y, items, ARRAY_LEN(items));
	cr_expect(engine_has_slice(eng, M_CLASS, y.start));
	cr_expect_eq(firing_count(), 2);

	engine_out_reset(&out);
	engine_evaluate_all(eng, day("2022-02-01"), &out);
	expect_events(1);
	ev = check_event("class_size.school", 101, "2021", ALERT_RESOLVED, SEV_OK, 50, 56);
	cr_expect_eq(ev->entry, e101);
	cr_expect_eq(ev->tag, -1);
	cr_expect_eq(engine_alert_id(eng, ev->entry), 7);
	cr_expect_eq(firing_count(), 1);
	/* Again: nothing new. */
	engine_out_reset(&out);
	engine_evaluate_all(eng, day("2022-02-01"), &out);
	expect_events(0);
	/* The same commit re-applied after the load: nothing either. */
	apply(items, ARRAY_LEN(items), "2022-02-01");
	expect_events(0);
}

Test(engine, stored_aggregate_state)
{
	struct alert_state firing = {.firing = true, .severity = SEV_WARNING, .value = 0.8,
	    .bound = 0.9, .streak = 1};
	struct engine_obs items[] = {rate(101, M_PROG, "2021", 80, 100, 1),
	    rate(102, M_PROG, "2021", 10, 10, 1)};
	struct period y = per("2021");

	start("[" PROG_PUBLIC "]", NULL);
	engine_load_state(eng, "prog.district.public", D1, &y, &firing, 3);
	engine_load_slice(eng, M_PROG, &y, items, ARRAY_LEN(items));
	engine_out_reset(&out);
	engine_evaluate_all(eng, day("2021-10-01"), &out);
	expect_events(0); /* still in breach: no second "fired" */
	check_figure("prog.district.public", D1, 2, 2, true, 90, 110);
	apply1(rate(101, M_PROG, "2021", 100, 100, 2), "2021-10-01");
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_RESOLVED, SEV_OK, 110.0 / 110.0,
	    0.9);
}

/* ---- what needs loading ---- */

static bool
has_key(const struct engine_slice_key *k, size_t n, int metric, const char *period)
{
	struct period p = per(period);

	for (size_t i = 0; i < n; i++)
		if (k[i].metric_id == metric && k[i].period.start == p.start &&
		    k[i].period.end == p.end && k[i].period.kind == p.kind)
			return true;
	return false;
}

static void
expect_keys(const struct engine_slice_key *k, size_t n, int metric,
    const char *const *periods, size_t np)
{
	for (size_t i = 0; i < np; i++)
		cr_expect(has_key(k, n, metric, periods[i]), "%s not wanted", periods[i]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			cr_expect(k[i].metric_id != k[j].metric_id ||
				k[i].period.start != k[j].period.start,
			    "repeated key");
	cr_expect_eq(n, np, "%zu keys, want %zu", n, np);
}

static void
load_all(const struct engine_slice_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		engine_load_slice(eng, k[i].metric_id, &k[i].period, NULL, 0);
}

static const char *const year2022_months[] = {"2022-01", "2022-02", "2022-03", "2022-04",
    "2022-05", "2022-06", "2022-07", "2022-08", "2022-09", "2022-10", "2022-11", "2022-12"};

Test(engine, wants_lists_exactly_the_needed_slices)
{
	struct engine_slice_key *k = NULL;
	size_t n;

	start("[" RULE("myopia.yoy", "trend", "myopia_rate", "school",
	    ", 'trend': {'mode': 'yoy', 'direction': 'decrease'}") ","
	    RULE("sick.spike", "trend", "sick_rate", "school",
	    ", 'trend': {'mode': 'baseline', 'days': 5, 'factor': 2, 'min_delta': 0.02}") ","
	    RULE("sick.for3", "threshold", "sick_rate", "school",
	    ", 'for': 3, 'bands': [{'severity': 'warning', 'op': '>', 'value': 0.1}]") ","
	    SESS_QUOTA "," CLASS_RULE "]",
	    NULL);

	{
		struct engine_obs o = rate(101, M_MYOPIA, "2022", 1, 10, 1);
		static const char *const want[] = {"2022", "2021"};

		n = engine_wants(eng, &o, 1, &k);
		expect_keys(k, n, M_MYOPIA, want, ARRAY_LEN(want));
		load_all(k, n);
		free(k);
		cr_expect_eq(engine_wants(eng, &o, 1, &k), 0);
		cr_expect_null(k);
	}
	{
		/* Wednesday March 9: for 3 wants Tuesday and Monday, the baseline
		 * the five school days before, Friday to Wednesday before. */
		struct engine_obs o[] = {rate(101, M_SICK, "2022-03-09", 1, 10, 1),
		    rate(102, M_SICK, "2022-03-09", 1, 10, 1)};
		static const char *const want[] = {"2022-03-09", "2022-03-08", "2022-03-07",
		    "2022-03-04", "2022-03-03", "2022-03-02"};

		n = engine_wants(eng, o, ARRAY_LEN(o), &k);
		expect_keys(k, n, M_SICK, want, ARRAY_LEN(want));
		load_all(k, n);
		free(k);
		cr_expect_eq(engine_wants(eng, o, ARRAY_LEN(o), &k), 0);
		cr_expect_null(k);
	}
	{
		/* A monthly count in a yearly quota: every month of the year. */
		struct engine_obs o = val(103, M_SESS, "2022-05", 1, 1);

		n = engine_wants(eng, &o, 1, &k);
		expect_keys(k, n, M_SESS, year2022_months, ARRAY_LEN(year2022_months));
		load_all(k, n);
		free(k);
		cr_expect_eq(engine_wants(eng, &o, 1, &k), 0);
		cr_expect_null(k);
	}
	{
		/* A plain threshold wants its own slice only. */
		struct engine_obs o = val(101, M_CLASS, "2021", 50, 1);
		static const char *const want[] = {"2021"};

		n = engine_wants(eng, &o, 1, &k);
		expect_keys(k, n, M_CLASS, want, 1);
		free(k);
	}
	{
		struct engine_obs o = val(101, M_UNUSED, "2021", 1, 1);

		cr_expect_eq(engine_wants(eng, &o, 1, &k), 0, "no rule uses it");
		cr_expect_null(k);
	}
}

Test(engine, tick_wants_lists_exactly_the_needed_slices)
{
	struct engine_slice_key *k = NULL;
	size_t n;

	start("[" SICK_MISSING "," SESS_QUOTA "]", NULL);
	/* Saturday to Tuesday: the deadlines of Friday and Monday; the quota
	 * of 2022, month by month. */
	{
		static const char *const want[] = {"2022-03-04", "2022-03-07"};

		n = engine_tick_wants(eng, day("2022-03-05"), day("2022-03-08"), &k);
		cr_expect(has_key(k, n, M_SESS, "2022-01"));
		for (size_t i = 0; i < n; i++)
			cr_expect(k[i].metric_id == M_SICK || k[i].metric_id == M_SESS);
		{
			struct engine_slice_key sick[8] = {{0}};
			size_t ns = 0;

			for (size_t i = 0; i < n && ns < 8; i++)
				if (k[i].metric_id == M_SICK)
					sick[ns++] = k[i];
			expect_keys(sick, ns, M_SICK, want, ARRAY_LEN(want));
		}
		cr_expect_eq(n, 2 + 12);
		load_all(k, n);
		free(k);
		cr_expect_eq(engine_tick_wants(eng, day("2022-03-05"), day("2022-03-08"), &k), 0);
		cr_expect_null(k);
	}
	/* Over the year end: both years' months (2022 loaded already). */
	{
		static const char *const want[] = {"2023-01", "2023-02", "2023-03", "2023-04",
		    "2023-05", "2023-06", "2023-07", "2023-08", "2023-09", "2023-10", "2023-11",
		    "2023-12"};

		static const char *const sick_want[] = {"2022-12-30"}; /* a Friday */
		struct engine_slice_key sess[16] = {{0}};
		size_t ns = 0;

		n = engine_tick_wants(eng, day("2022-12-31"), day("2023-01-01"), &k);
		for (size_t i = 0; i < n && ns < 16; i++)
			if (k[i].metric_id == M_SESS)
				sess[ns++] = k[i];
		expect_keys(sess, ns, M_SESS, want, ARRAY_LEN(want));
		cr_expect(has_key(k, n, M_SICK, sick_want[0]));
		cr_expect_eq(n, ns + 1);
		load_all(k, n);
		free(k);
		cr_expect_eq(engine_tick_wants(eng, day("2022-12-31"), day("2023-01-01"), &k), 0);
	}
	cr_expect_eq(engine_tick_wants(eng, day("2022-03-08"), day("2022-03-05"), &k), 0,
	    "from > to");
}

/* ---- rebinding ---- */

Test(engine, rebind_recomputes_populations)
{
	struct engine_obs obs[] = {rate(101, M_PROG, "2021", 80, 100, 1),
	    rate(102, M_PROG, "2021", 10, 10, 1)};
	struct agg a, b;
	int64_t expected;
	struct engine *fresh;

	start("[" PROG_PUBLIC "]", NULL);
	apply(obs, ARRAY_LEN(obs), "2021-10-01");
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_FIRED, SEV_WARNING, 90.0 / 110.0,
	    0.9);

	/* 101 closes. */
	reg2 = make_registry(101);
	engine_rebind(eng, reg2, cat);
	cr_assert_eq(engine_aggregate(eng, rix("prog.district.public"), D1, per("2021").start,
			 &a, &expected),
	    0);
	cr_expect_eq(expected, 1);
	cr_expect_eq(a.count, 1);
	cr_expect_eq(a.num, 10);
	cr_expect_eq(a.den, 10);
	/* The same as an engine that only ever knew the new registry. */
	fresh = engine_new(rs, reg2, cat, NULL);
	engine_out_reset(&out);
	engine_apply(fresh, obs, ARRAY_LEN(obs), day("2021-10-01"), &out);
	cr_assert_eq(engine_aggregate(fresh, rix("prog.district.public"), D1, per("2021").start,
			 &b, &expected),
	    0);
	engine_free(fresh);
	cr_expect_eq(expected, 1);
	cr_expect_eq(a.num, b.num);
	cr_expect_eq(a.den, b.den);
	cr_expect_eq(a.count, b.count);
	cr_expect_eq(a.sum + a.sum_lo, b.sum + b.sum_lo);
	/* The alert state was kept: judging the new figure resolves it. */
	cr_expect_eq(firing_count(), 1);
	engine_out_reset(&out);
	engine_evaluate_all(eng, day("2021-10-01"), &out);
	expect_events(1);
	check_event("prog.district.public", D1, "2021", ALERT_RESOLVED, SEV_OK, 1.0, 0.9);
	check_figure("prog.district.public", D1, 1, 1, true, 10, 10);
}

/* A school that closes takes its firing alerts with it. */
Test(engine, closed_school_alerts_resolve)
{
	start("[" CLASS_RULE "]", NULL);
	apply1(val(101, M_CLASS, "2021", 70, 1), "2021-10-01");
	expect_events(1);
	cr_expect_eq(firing_count(), 1);
	reg2 = make_registry(101);
	engine_rebind(eng, reg2, cat);
	engine_out_reset(&out);
	engine_evaluate_all(eng, day("2021-10-01"), &out);
	expect_events(1);
	check_event("class_size.school", 101, "2021", ALERT_RESOLVED, SEV_OK, 70, 66);
	cr_expect_eq(firing_count(), 0);
	engine_out_reset(&out);
	engine_evaluate_all(eng, day("2021-10-01"), &out);
	expect_events(0);
}

/* Forgetting keeps what the rules look back at and drops the rest; a
 * forgotten period is wanted again, and a firing episode survives. */
Test(engine, forget_bounds_memory_by_the_look_back)
{
	struct engine_counts c0, c1;
	struct engine_slice_key *keys = NULL;
	struct engine_obs o = val(101, M_CLASS, "2019", 50, 1);
	int back;

	start("[" CLASS_RULE "]", NULL);
	back = engine_lookback_days(eng, M_CLASS);
	cr_expect_eq(back, 366, "a yearly threshold looks at its own period only");
	cr_expect_eq(engine_lookback_days(eng, M_PROG), -1, "no rule uses it");
	apply1(val(101, M_CLASS, "2019", 70, 1), "2019-10-01");
	apply1(val(102, M_CLASS, "2019", 50, 1), "2019-10-01");
	apply1(val(101, M_CLASS, "2021", 50, 1), "2021-10-01");
	engine_counts(eng, &c0);
	cr_expect_eq(c0.slices, 2);
	cr_expect_eq(c0.items, 3);
	engine_forget(eng, day("2021-10-01"));
	engine_counts(eng, &c1);
	cr_expect_eq(c1.slices, 1, "2019 ended 2020-01-01, more than the look-back ago");
	cr_expect_eq(c1.items, 1);
	cr_expect_eq(c1.firing, 1, "the firing 2019 episode stays");
	cr_expect_eq(engine_wants(eng, &o, 1, &keys), 1, "2019 is wanted again");
	free(keys);
	/* The kept slice still works: a breach in 2021 fires. */
	apply1(val(101, M_CLASS, "2021", 60, 2), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 101, "2021", ALERT_FIRED, SEV_WARNING, 60, 56);
	/* Loading 2019 again resolves the firing episode with its newer figure. */
	engine_load_slice(eng, M_CLASS, &o.period, &o, 0);
	apply1(val(101, M_CLASS, "2019", 50, 2), "2021-10-01");
	expect_events(1);
	check_event("class_size.school", 101, "2019", ALERT_RESOLVED, SEV_OK, 50, 66);
}

/* A calendar per district: district 1 keeps 清明 and a make-up Saturday,
 * district 2 has none and follows Monday to Friday. */
Test(engine, calendars_per_district)
{
	static const char d1_calendar[] =
		"{\"unit\": \"320701\", \"terms\": [{\"name\": \"2021-2022-2\", \"start\": "
		"\"2022-02-14\", \"end\": \"2022-07-01\"}], \"holidays\": [{\"from\": \"2022-04-03\", "
		"\"to\": \"2022-04-05\", \"name\": \"清明节\"}], \"school_days\": [\"2022-04-02\"]}";
	char *cause = NULL;
	struct calendar *c = calendar_parse("320701.json", d1_calendar, sizeof d1_calendar - 1,
	    &cause);
	const struct calendar *cals[1];

	cr_assert_not_null(c, "%s", cause);
	cals[0] = c;
	start("[" SICK_MISSING "]", NULL);
	cal = c; /* freed by teardown */
	engine_set_calendars(eng, cals, 1);
	/* Saturday 2 April, due on the 3rd: a school day in district 1 only. */
	tick("2022-04-03", "2022-04-03");
	expect_events(1);
	check_event("sick.missing", 106, "2022-04-02", ALERT_FIRED, SEV_WARNING, 1, 0);
	/* Monday 4 April, due on the 5th: a holiday in district 1 only. */
	tick("2022-04-05", "2022-04-05");
	expect_events(1);
	check_event("sick.missing", 212, "2022-04-04", ALERT_FIRED, SEV_WARNING, 1, 0);
}

/* ---- passes in steps ---- */

/* Everything a pass can meet: school, aggregate, dispersion, quota and
 * missing rules. */
static const char pass_rules[] = "[" CLASS_RULE "," PROG_PUBLIC "," SESS_QUOTA "," SICK_MISSING
    "," RULE("e.any", "dispersion", "equip_value", "district", ", 'limit': 0.5") "]";

/* Random figures for every school and metric of 2021 (and its months and
 * a few days), the same for every seed. */
static size_t
pass_data(uint64_t seed, struct engine_obs *obs, size_t cap)
{
	size_t n = 0;

	rng_state = seed;
	for (size_t i = 0; i < ARRAY_LEN(tunits) && n + 8 <= cap; i++) {
		int u = tunits[i].id;

		if (tunits[i].kind != UNIT_SCHOOL)
			continue;
		obs[n++] = val(u, M_CLASS, "2021", 40 + rng_below(40), 1);
		obs[n++] = rate(u, M_PROG, "2021", 80 + rng_below(21), 100, 1);
		obs[n++] = val(u, M_EQUIP, "2021", 100 + rng_below(900), 1);
		if (rng_below(2))
			obs[n++] = val(u, M_SESS, "2021-03", rng_below(3), 1);
		if (rng_below(2))
			obs[n++] = rate(u, M_SICK, "2021-09-06", rng_below(5), 100, 1);
	}
	return n;
}

/* Events and figures as comparable text. */
static char *
out_text(const struct engine_out *o)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < o->nevents; i++) {
		const struct engine_event *ev = &o->events[i];
		char ps[PERIOD_STR_MAX];

		buf_printf(&b, "E %s %d %s %s %s %.17g %.17g\n", rs->rules[ev->rule].id, ev->unit_id,
		    period_format(&ev->period, ps, sizeof ps), alert_transition_name(ev->transition),
		    severity_name(ev->state.severity), ev->state.value, ev->state.bound);
	}
	for (size_t i = 0; i < o->nfigures; i++) {
		const struct engine_figure *f = &o->figures[i];

		buf_printf(&b, "F %s %d %.17g %lld/%lld %lld of %lld %d\n", rs->rules[f->rule].id,
		    f->unit_id, f->value, (long long)f->num, (long long)f->den,
		    (long long)f->reported, (long long)f->expected, f->judged);
	}
	return b.data != NULL ? b.data : xstrdup("");
}

/*
 * A rebind and a judgement of everything, stepped with small budgets, give
 * exactly what the functions that run to the end give: the same events and
 * figures in the same order, and the same engine afterwards.
 */
Test(engine, passes_in_steps_equal_the_whole)
{
	static const size_t budgets[] = {1, 2, 3, 7, 64};
	struct engine_obs obs[256];
	size_t n;
	char *want, *got;
	struct engine_out o2 = {0};

	start(pass_rules, NULL);
	for (uint64_t seed = 1; seed <= 4; seed++) {
		n = pass_data(seed * 0x9e3779b97f4a7c15ull, obs, ARRAY_LEN(obs));
		for (size_t b = 0; b < ARRAY_LEN(budgets); b++) {
			struct engine *whole = engine_new(rs, reg, cat, NULL), *stepped;
			struct engine_pass p;
			size_t steps = 0;

			stepped = engine_new(rs, reg, cat, NULL);
			engine_out_reset(&out);
			engine_out_reset(&o2);
			engine_apply(whole, obs, n, day("2021-10-01"), &out);
			engine_apply(stepped, obs, n, day("2021-10-01"), &o2);
			cr_assert_eq(out.nevents, o2.nevents);

			/* 101 closes: a rebind, then everything judged again. */
			if (reg2 == NULL)
				reg2 = make_registry(101);
			engine_out_reset(&out);
			engine_out_reset(&o2);
			engine_rebind(whole, reg2, cat);
			engine_evaluate_all(whole, day("2022-01-03"), &out);
			engine_pass_rebind(stepped, reg2, cat, true, day("2022-01-03"), &p);
			while (!engine_pass_step(stepped, &p, budgets[b], &o2))
				steps++;
			if (budgets[b] == 1)
				cr_expect_gt(steps, n, "budget 1 takes a step per figure at least");
			want = out_text(&out);
			got = out_text(&o2);
			cr_expect_str_eq(got, want, "seed %llu, budget %zu", (unsigned long long)seed,
			    budgets[b]);
			cr_expect(out.nevents > 0, "the closed school's alerts resolve, at least");
			free(want);
			free(got);

			/* And again, with nothing changed: nothing happens, in steps too. */
			engine_out_reset(&o2);
			engine_pass_evaluate(stepped, day("2022-01-03"), &p);
			while (!engine_pass_step(stepped, &p, budgets[b], &o2))
				;
			cr_expect_eq(o2.nevents, 0);
			engine_free(whole);
			engine_free(stepped);
		}
	}
	engine_out_free(&o2);
}
