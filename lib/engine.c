/*
 * engine.c: figures, running aggregates and alert states in memory, and the
 * evaluation of every rule kind over them. See engine.h.
 *
 * Storage is four growing arrays (slices, items, aggregates, states), each
 * found through an open-addressing hash map from a pair of 64-bit keys to a
 * position. Nothing is ever removed: a daemon holds the periods it has been
 * given since it started, which for a district is small; the alerter
 * rebuilds the engine on a rules change.
 */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- a map from (a, b) to a position ---- */

struct u2map {
	uint64_t *ka, *kb;
	size_t *val; /* SIZE_MAX: empty */
	size_t cap, n;
};

static size_t
u2_slot(const struct u2map *m, uint64_t a, uint64_t b)
{
	size_t i = (size_t)(hash_mix64(a * 0x9e3779b97f4a7c15ull ^ hash_mix64(b)) & (m->cap - 1));

	while (m->val[i] != SIZE_MAX && (m->ka[i] != a || m->kb[i] != b))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static size_t
u2_get(const struct u2map *m, uint64_t a, uint64_t b)
{
	if (m->cap == 0)
		return SIZE_MAX;
	return m->val[u2_slot(m, a, b)];
}

static void u2_put(struct u2map *m, uint64_t a, uint64_t b, size_t v);

static void
u2_grow(struct u2map *m)
{
	struct u2map old = *m;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->n = 0;
	m->ka = xcalloc(m->cap, sizeof *m->ka);
	m->kb = xcalloc(m->cap, sizeof *m->kb);
	m->val = xcalloc(m->cap, sizeof *m->val);
	for (size_t i = 0; i < m->cap; i++)
		m->val[i] = SIZE_MAX;
	for (size_t i = 0; i < old.cap; i++)
		if (old.val[i] != SIZE_MAX)
			u2_put(m, old.ka[i], old.kb[i], old.val[i]);
	free(old.ka);
	free(old.kb);
	free(old.val);
}

static void
u2_put(struct u2map *m, uint64_t a, uint64_t b, size_t v)
{
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3)
		u2_grow(m);
	i = u2_slot(m, a, b);
	if (m->val[i] == SIZE_MAX)
		m->n++;
	m->ka[i] = a;
	m->kb[i] = b;
	m->val[i] = v;
}

static void
u2_clear(struct u2map *m)
{
	free(m->ka);
	free(m->kb);
	free(m->val);
	memset(m, 0, sizeof *m);
}

static uint64_t
key_rp(size_t rule, int32_t start)
{
	return ((uint64_t)rule << 32) | (uint32_t)start;
}

/* ---- storage ---- */

struct slice {
	int metric_id;
	struct period p;
	bool loaded;
};

struct item {
	size_t slice;
	int unit_id;
	int revision;
	double value;
	int64_t num, den;
};

struct aggent {
	size_t rule;
	size_t slice;
	int scope;
	struct agg a;
	unsigned touched; /* generation */
	int tag;
};

struct stent {
	size_t rule;
	int unit_id;
	struct period p;
	struct alert_state st;
	int64_t alert_id;
};

/* What the engine knows of each rule. */
struct rinfo {
	const struct metric *metric; /* NULL: the catalog lacks it (rule inert) */
	enum period_kind judged_kind; /* the period an episode is about */
	bool aggregate;
};

struct engine {
	const struct ruleset *rules;
	const struct registry *reg;
	const struct catalog *cat;
	const struct calendar *cal;          /* units without a calendar of their own */
	const struct calendar *const *cals;  /* per city or district */
	size_t ncals;
	struct u2map cal_ix;                 /* unit -> index in cals + 1 */
	struct rinfo *ri;

	struct slice *slices;
	size_t nslices, slicecap;
	struct u2map slice_ix; /* (metric, start) */

	struct item *items;
	size_t nitems, itemcap;
	struct u2map item_ix; /* (slice, unit) */

	struct aggent *aggs;
	size_t naggs, aggcap;
	struct u2map agg_ix; /* (rule<<32|start, scope) */

	struct stent *states;
	size_t nstates, statecap;
	struct u2map state_ix; /* (rule<<32|start, unit) */

	struct u2map expected; /* (rule, scope) -> count */
	unsigned gen;
};

static void *
grow(void *arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 64;
	return xreallocarray(arr, *cap, size);
}

/* ---- output ---- */

void
engine_out_reset(struct engine_out *o)
{
	o->nevents = 0;
	o->nfigures = 0;
	o->nrefreshed = 0;
}

void
engine_out_free(struct engine_out *o)
{
	free(o->events);
	free(o->figures);
	free(o->refreshed);
	memset(o, 0, sizeof *o);
}

/* ---- populations ---- */

static bool
below_district(enum unit_kind k)
{
	return k == UNIT_SCHOOL || k == UNIT_CHILDCARE || k == UNIT_GUIDANCE_POINT;
}

static bool
in_population(const struct rule *r, const struct metric *m, const struct unit *u)
{
	if (u == NULL || !u->active || !(m->unit_kinds & UNIT_KIND_BIT(u->kind)))
		return false;
	if (r->scope == SCOPE_SCHOOL && !below_district(u->kind))
		return false;
	if (m->stages != 0 && u->stages != 0 && !(m->stages & u->stages))
		return false;
	if (r->stages != 0 && !(u->stages & r->stages))
		return false;
	if (r->urban >= 0 && u->urban != (r->urban != 0))
		return false;
	if (r->is_public >= 0 && u->is_public != (r->is_public != 0))
		return false;
	return true;
}

/* The district (city) a unit belongs to, the unit itself included; 0. */
static int
scope_of(const struct registry *reg, const struct unit *u, enum rule_scope scope)
{
	enum unit_kind want = scope == SCOPE_CITY ? UNIT_CITY : UNIT_DISTRICT;

	for (int step = 0; u != NULL && step < 16; step++) {
		if (u->kind == want)
			return u->id;
		if (u->parent_id == 0)
			return 0;
		u = registry_by_id(reg, u->parent_id);
	}
	return 0;
}

static void
compute_expected(struct engine *e)
{
	const struct unit *u;
	size_t pos = 0;

	u2_clear(&e->expected);
	while ((u = registry_next(e->reg, &pos)) != NULL) {
		for (size_t r = 0; r < e->rules->nrules; r++) {
			const struct rule *rule = &e->rules->rules[r];
			int scope;
			size_t cur;

			if (e->ri[r].metric == NULL || !in_population(rule, e->ri[r].metric, u))
				continue;
			scope = rule->scope == SCOPE_SCHOOL ? u->id : scope_of(e->reg, u, rule->scope);
			if (scope == 0)
				continue;
			cur = u2_get(&e->expected, r, (uint64_t)scope);
			u2_put(&e->expected, r, (uint64_t)scope, cur == SIZE_MAX ? 1 : cur + 1);
		}
	}
}

static int64_t
expected_of(const struct engine *e, size_t rule, int scope)
{
	size_t v = u2_get(&e->expected, rule, (uint64_t)scope);

	return v == SIZE_MAX ? 0 : (int64_t)v;
}

/*
 * Which calendar each unit follows: that of its nearest ancestor (itself
 * included) that has one, else the default. Computed when the registry or
 * the calendars change.
 */
static void
bind_calendars(struct engine *e)
{
	const struct unit *u;
	size_t pos = 0;

	u2_clear(&e->cal_ix);
	if (e->ncals == 0)
		return;
	while ((u = registry_next(e->reg, &pos)) != NULL) {
		const struct unit *a = u;

		for (int step = 0; a != NULL && step < 16; step++) {
			size_t c;

			for (c = 0; c < e->ncals; c++)
				if (strcmp(calendar_unit(e->cals[c]), a->code) == 0)
					break;
			if (c < e->ncals) {
				u2_put(&e->cal_ix, (uint64_t)(uint32_t)u->id, 0, c + 1);
				break;
			}
			a = a->parent_id != 0 ? registry_by_id(e->reg, a->parent_id) : NULL;
		}
	}
}

/* The calendar a unit follows (NULL: Monday to Friday). */
static const struct calendar *
cal_of(const struct engine *e, int unit_id)
{
	size_t c = u2_get(&e->cal_ix, (uint64_t)(uint32_t)unit_id, 0);

	return c == SIZE_MAX ? e->cal : e->cals[c - 1];
}

static void
bind_rules(struct engine *e)
{
	for (size_t r = 0; r < e->rules->nrules; r++) {
		const struct rule *rule = &e->rules->rules[r];
		struct rinfo *ri = &e->ri[r];

		ri->metric = catalog_by_code(e->cat, rule->metric);
		ri->aggregate = rule->scope != SCOPE_SCHOOL;
		ri->judged_kind = rule->kind == RULE_QUOTA ? rule->quota_period :
		    ri->metric != NULL ? ri->metric->period_kind : PERIOD_YEAR;
	}
	compute_expected(e);
	bind_calendars(e);
}

/* ---- slices and items ---- */

static size_t
slice_find(const struct engine *e, int metric_id, int32_t start)
{
	return u2_get(&e->slice_ix, (uint64_t)(uint32_t)metric_id, (uint64_t)(uint32_t)start);
}

static size_t
slice_get(struct engine *e, int metric_id, const struct period *p)
{
	size_t s = slice_find(e, metric_id, p->start);

	if (s != SIZE_MAX)
		return s;
	e->slices = grow(e->slices, &e->slicecap, e->nslices, sizeof *e->slices);
	s = e->nslices++;
	e->slices[s] = (struct slice){.metric_id = metric_id, .p = *p};
	u2_put(&e->slice_ix, (uint64_t)(uint32_t)metric_id, (uint64_t)(uint32_t)p->start, s);
	return s;
}

static const struct item *
item_find(const struct engine *e, size_t slice, int unit_id)
{
	size_t i = u2_get(&e->item_ix, slice, (uint64_t)(uint32_t)unit_id);

	return i == SIZE_MAX ? NULL : &e->items[i];
}

/* The unit's figure for (metric, period start), or NULL. */
static const struct item *
figure(const struct engine *e, int metric_id, int32_t start, int unit_id)
{
	size_t s = slice_find(e, metric_id, start);

	return s == SIZE_MAX ? NULL : item_find(e, s, unit_id);
}

static struct agg_item
agg_item_of(enum metric_kind kind, const struct item *it)
{
	if (kind == METRIC_RATE)
		return agg_item_rate(it->num, it->den);
	if (kind == METRIC_COUNT) {
		struct agg_item x = agg_item_count((int64_t)llround(it->value));

		x.value = it->value;
		return x;
	}
	return agg_item_value(it->value);
}

static struct aggent *
agg_get(struct engine *e, size_t rule, size_t slice, int scope, bool create)
{
	int32_t start = e->slices[slice].p.start;
	size_t a = u2_get(&e->agg_ix, key_rp(rule, start), (uint64_t)(uint32_t)scope);

	if (a != SIZE_MAX)
		return &e->aggs[a];
	if (!create)
		return NULL;
	e->aggs = grow(e->aggs, &e->aggcap, e->naggs, sizeof *e->aggs);
	a = e->naggs++;
	e->aggs[a] = (struct aggent){.rule = rule, .slice = slice, .scope = scope, .tag = -1};
	u2_put(&e->agg_ix, key_rp(rule, start), (uint64_t)(uint32_t)scope, a);
	return &e->aggs[a];
}

/* Move one unit's contribution in every aggregate of its metric. */
static void
aggs_update(struct engine *e, size_t slice, int unit_id, const struct item *old,
    const struct item *new_item, int tag)
{
	const struct unit *u = registry_by_id(e->reg, unit_id);
	int metric_id = e->slices[slice].metric_id;

	for (size_t r = 0; r < e->rules->nrules; r++) {
		const struct rule *rule = &e->rules->rules[r];
		const struct metric *m = e->ri[r].metric;
		struct aggent *ag;
		struct agg_item ni, oi;
		int scope;

		if (!e->ri[r].aggregate || m == NULL || m->id != metric_id ||
		    !in_population(rule, m, u))
			continue;
		scope = scope_of(e->reg, u, rule->scope);
		if (scope == 0)
			continue;
		ag = agg_get(e, r, slice, scope, true);
		ni = agg_item_of(m->kind, new_item);
		if (old != NULL) {
			oi = agg_item_of(m->kind, old);
			agg_replace(&ag->a, &oi, &ni);
		} else {
			agg_add(&ag->a, &ni);
		}
		ag->touched = e->gen;
		ag->tag = tag;
	}
}

/* Set a figure if newer; true when it changed. */
static bool
item_set(struct engine *e, size_t slice, const struct engine_obs *o)
{
	size_t i = u2_get(&e->item_ix, slice, (uint64_t)(uint32_t)o->unit_id);
	const struct metric *m = catalog_by_id(e->cat, e->slices[slice].metric_id);
	struct item nw = {.slice = slice, .unit_id = o->unit_id, .revision = o->revision,
	    .value = o->value, .num = o->num, .den = o->den};

	/* A rate's figure is num/den (engine_obs.value is for count and value
	 * metrics): school rules, streaks and trends judge item.value. */
	if (m != NULL && m->kind == METRIC_RATE)
		nw.value = o->den != 0 ? (double)o->num / (double)o->den : NAN;

	if (i != SIZE_MAX) {
		struct item old = e->items[i];

		if (old.revision >= o->revision)
			return false;
		e->items[i] = nw;
		aggs_update(e, slice, o->unit_id, &old, &nw, o->tag);
		return true;
	}
	e->items = grow(e->items, &e->itemcap, e->nitems, sizeof *e->items);
	i = e->nitems++;
	e->items[i] = nw;
	u2_put(&e->item_ix, slice, (uint64_t)(uint32_t)o->unit_id, i);
	aggs_update(e, slice, o->unit_id, NULL, &nw, o->tag);
	return true;
}

/* ---- lifecycle ---- */

struct engine *
engine_new(const struct ruleset *rules, const struct registry *reg, const struct catalog *cat,
    const struct calendar *cal)
{
	struct engine *e = xcalloc(1, sizeof *e);

	e->rules = rules;
	e->reg = reg;
	e->cat = cat;
	e->cal = cal;
	e->ri = xcalloc(rules->nrules + 1, sizeof *e->ri);
	bind_rules(e);
	return e;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	free(e->ri);
	free(e->slices);
	free(e->items);
	free(e->aggs);
	free(e->states);
	u2_clear(&e->slice_ix);
	u2_clear(&e->item_ix);
	u2_clear(&e->agg_ix);
	u2_clear(&e->state_ix);
	u2_clear(&e->expected);
	u2_clear(&e->cal_ix);
	free(e);
}

void
engine_rebind(struct engine *e, const struct registry *reg, const struct catalog *cat)
{
	struct engine_pass p;

	engine_pass_rebind(e, reg, cat, false, 0, &p);
	while (!engine_pass_step(e, &p, SIZE_MAX, NULL))
		;
}

bool
engine_has_slice(const struct engine *e, int metric_id, int32_t period_start)
{
	size_t s = slice_find(e, metric_id, period_start);

	return s != SIZE_MAX && e->slices[s].loaded;
}

void
engine_load_slice(struct engine *e, int metric_id, const struct period *p,
    const struct engine_obs *items, size_t n)
{
	size_t s = slice_get(e, metric_id, p);

	e->gen++;
	e->slices[s].loaded = true;
	for (size_t i = 0; i < n; i++)
		item_set(e, s, &items[i]);
}

/* ---- states ---- */

static struct stent *
state_get(struct engine *e, size_t rule, int unit_id, const struct period *p, bool create)
{
	size_t i = u2_get(&e->state_ix, key_rp(rule, p->start), (uint64_t)(uint32_t)unit_id);

	if (i != SIZE_MAX)
		return &e->states[i];
	if (!create)
		return NULL;
	e->states = grow(e->states, &e->statecap, e->nstates, sizeof *e->states);
	i = e->nstates++;
	e->states[i] = (struct stent){.rule = rule, .unit_id = unit_id, .p = *p};
	u2_put(&e->state_ix, key_rp(rule, p->start), (uint64_t)(uint32_t)unit_id, i);
	return &e->states[i];
}

size_t
engine_load_state(struct engine *e, const char *rule_id, int unit_id, const struct period *p,
    const struct alert_state *st, int64_t alert_id)
{
	const struct rule *r = ruleset_find(e->rules, rule_id);
	struct stent *se;
	size_t rule;

	if (r == NULL)
		return SIZE_MAX;
	rule = (size_t)(r - e->rules->rules);
	se = state_get(e, rule, unit_id, p, true);
	se->st = *st;
	se->alert_id = alert_id;
	return (size_t)(se - e->states);
}

int64_t
engine_alert_id(const struct engine *e, size_t entry)
{
	return entry < e->nstates ? e->states[entry].alert_id : 0;
}

void
engine_set_alert_id(struct engine *e, size_t entry, int64_t alert_id)
{
	if (entry < e->nstates)
		e->states[entry].alert_id = alert_id;
}

bool
engine_entry(const struct engine *e, size_t entry, struct engine_event *out)
{
	const struct stent *se;

	if (entry >= e->nstates)
		return false;
	se = &e->states[entry];
	*out = (struct engine_event){
	    .rule = se->rule,
	    .unit_id = se->unit_id,
	    .metric_id = e->ri[se->rule].metric != NULL ? e->ri[se->rule].metric->id : 0,
	    .period = se->p,
	    .transition = ALERT_NONE,
	    .state = se->st,
	    .severity_before = se->st.firing ? se->st.severity : SEV_OK,
	    .value_before = se->st.value,
	    .bound_before = se->st.bound,
	    .tag = -1,
	    .entry = entry,
	};
	return true;
}

/* Equal figures, NaN (no figure) equal to itself. */
static bool
same_figure(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

/* Step an episode by a judgement and record what happened. */
static void
step(struct engine *e, size_t rule, int unit_id, const struct period *p,
    const struct judgement *j, int prior, int tag, struct engine_out *out)
{
	const struct rule *r = &e->rules->rules[rule];
	struct stent *se;
	enum alert_transition t;
	enum severity before;
	double value_before, bound_before;

	if (!j->judged)
		return;
	se = state_get(e, rule, unit_id, p, j->severity != SEV_OK);
	if (se == NULL)
		return; /* never in breach and still fine */
	before = se->st.firing ? se->st.severity : SEV_OK;
	value_before = se->st.value;
	bound_before = se->st.bound;
	t = alert_step(r, &se->st, j, prior);
	if (t == ALERT_NONE) {
		if (se->st.firing &&
		    (!same_figure(se->st.value, value_before) || !same_figure(se->st.bound, bound_before))) {
			out->refreshed = grow(out->refreshed, &out->refcap, out->nrefreshed,
			    sizeof *out->refreshed);
			out->refreshed[out->nrefreshed++] = (size_t)(se - e->states);
		}
		return;
	}
	out->events = grow(out->events, &out->evcap, out->nevents, sizeof *out->events);
	out->events[out->nevents++] = (struct engine_event){
	    .rule = rule,
	    .unit_id = unit_id,
	    .metric_id = e->ri[rule].metric != NULL ? e->ri[rule].metric->id : 0,
	    .period = *p,
	    .transition = t,
	    .state = se->st,
	    .severity_before = before,
	    .value_before = value_before,
	    .bound_before = bound_before,
	    .tag = tag,
	    .entry = (size_t)(se - e->states),
	};
}

static enum severity
prev_severity(struct engine *e, size_t rule, int unit_id, const struct period *p)
{
	struct stent *se = state_get(e, rule, unit_id, p, false);

	return se != NULL && se->st.firing ? se->st.severity : SEV_OK;
}

/* ---- looking back ---- */

/* The period before p for "for" streaks: the previous school day for
 * daily metrics, else the previous period. false when there is none. */
static bool
previous_period(const struct engine *e, int unit_id, const struct period *p, struct period *out)
{
	if (p->kind == PERIOD_DAY) {
		int32_t d;

		if (calendar_prev_school_days(cal_of(e, unit_id), p->start, 1, &d) != 1)
			return false;
		period_containing(PERIOD_DAY, d, out);
		return true;
	}
	period_prev(p, out);
	return true;
}

/* The same kind of period a year before p. */
static void
year_before(const struct period *p, struct period *out)
{
	int y, m, d;
	int32_t day;

	date_to_civil(p->start, &y, &m, &d);
	if (m == 2 && d == 29)
		d = 28;
	day = date_from_civil(y - 1, m, d);
	period_containing(p->kind, day, out);
}

/* How many periods just before p the unit's own figure was in breach. */
static int
prior_breaches(const struct engine *e, size_t rule, int unit_id, const struct period *p)
{
	const struct rule *r = &e->rules->rules[rule];
	const struct metric *m = e->ri[rule].metric;
	struct period cur = *p, prev;
	int n = 0;

	while (n + 1 < r->for_periods && previous_period(e, unit_id, &cur, &prev)) {
		const struct item *it = figure(e, m->id, prev.start, unit_id);

		if (it == NULL || rule_band_severity(r, it->value) == SEV_OK)
			break;
		n++;
		cur = prev;
	}
	return n;
}

/* The same for an aggregate: its judged value in the periods before. */
static int
prior_breaches_agg(struct engine *e, const struct aggent *ag)
{
	const struct rule *r = &e->rules->rules[ag->rule];
	const struct metric *m = e->ri[ag->rule].metric;
	struct period cur = e->slices[ag->slice].p, prev;
	int n = 0;

	while (n + 1 < r->for_periods && previous_period(e, ag->scope, &cur, &prev)) {
		size_t s = slice_find(e, m->id, prev.start);
		struct aggent *pa = s == SIZE_MAX ? NULL : agg_get(e, ag->rule, s, ag->scope, false);
		double v;

		if (pa == NULL || agg_value(&pa->a, m->kind, &v) != 0 ||
		    rule_band_severity(r, v) == SEV_OK)
			break;
		n++;
		cur = prev;
	}
	return n;
}

/*
 * The periods other than p whose judgement by rule looks at p's figures
 * (up to max, ascending): the for - 1 periods after p (school days for daily
 * metrics), whose streaks count p; for year-on-year trends the period whose
 * year before is p; for baselines the school days whose baseline holds p.
 * A figure that arrives late or is corrected changes their judgement too,
 * exactly as a restart (engine_evaluate_all) would judge them.
 */
static size_t
dependents(const struct engine *e, size_t rule, int unit_id, const struct period *p,
    struct period *out, size_t max)
{
	const struct rule *r = &e->rules->rules[rule];
	struct period cur = *p, q, y;
	size_t n = 0;
	int follow = 0;

	if (r->kind == RULE_THRESHOLD && r->for_periods > 1)
		follow = r->for_periods - 1;
	else if (r->kind == RULE_TREND && r->trend_mode == TREND_BASELINE &&
	    p->kind == PERIOD_DAY)
		follow = r->baseline_days;
	for (int k = 0; k < follow && n < max; k++) {
		if (cur.kind == PERIOD_DAY) {
			int32_t d;

			if (calendar_next_school_day(cal_of(e, unit_id), cur.start, &d) != 0)
				break;
			period_containing(PERIOD_DAY, d, &q);
		} else {
			period_next(&cur, &q);
		}
		out[n++] = q;
		cur = q;
	}
	if (r->kind == RULE_TREND && r->trend_mode == TREND_YOY) {
		int yy, mm, dd;

		/* year_before maps a year's periods onto this one: for weeks
		 * and days the one or two just after a year later. */
		date_to_civil(p->start, &yy, &mm, &dd);
		if (mm == 2 && dd == 29)
			dd = 28;
		period_containing(p->kind, date_from_civil(yy + 1, mm, dd) - 1, &q);
		for (int k = 0; k < 3 && n < max; k++, period_next(&q, &q)) {
			year_before(&q, &y);
			if (y.start == p->start)
				out[n++] = q;
		}
	}
	return n;
}

/* ---- judging ---- */

/* The unit's count for quota period q: its figures of every period of the
 * metric inside q. */
static double
quota_count(const struct engine *e, const struct metric *m, const struct period *q, int unit_id)
{
	struct period p;
	double sum = 0;

	period_containing(m->period_kind, q->start, &p);
	while (p.start < q->end) {
		const struct item *it = figure(e, m->id, p.start, unit_id);

		if (it != NULL)
			sum += it->value;
		period_next(&p, &p);
	}
	return sum;
}

/* The same for an aggregate: sums of counts over the scope. */
static double
quota_count_agg(struct engine *e, size_t rule, const struct period *q, int scope)
{
	const struct metric *m = e->ri[rule].metric;
	struct period p;
	double sum = 0;

	period_containing(m->period_kind, q->start, &p);
	while (p.start < q->end) {
		size_t s = slice_find(e, m->id, p.start);
		struct aggent *ag = s == SIZE_MAX ? NULL : agg_get(e, rule, s, scope, false);

		if (ag != NULL)
			sum += (double)ag->a.num;
		period_next(&p, &p);
	}
	return sum;
}

static void
judge_school(struct engine *e, size_t rule, int unit_id, const struct period *p,
    int32_t today, int tag, struct engine_out *out)
{
	const struct rule *r = &e->rules->rules[rule];
	const struct metric *m = e->ri[rule].metric;
	const struct item *it = figure(e, m->id, p->start, unit_id);
	struct judgement j = {0};
	struct period q;
	double hist[64];
	int32_t days[64];
	size_t n = 0;

	switch (r->kind) {
	case RULE_THRESHOLD:
		if (it == NULL)
			return;
		rule_judge_threshold(r, prev_severity(e, rule, unit_id, p), it->value, true, &j);
		step(e, rule, unit_id, p, &j, r->for_periods > 1 ?
		    prior_breaches(e, rule, unit_id, p) : 0, tag, out);
		return;
	case RULE_TREND:
		if (it == NULL)
			return;
		if (r->trend_mode == TREND_YOY) {
			struct period y;
			const struct item *last;

			year_before(p, &y);
			last = figure(e, m->id, y.start, unit_id);
			rule_judge_yoy(r, it->value, last != NULL ? &last->value : NULL, &j);
		} else {
			size_t want = (size_t)r->baseline_days < 64 ? (size_t)r->baseline_days : 64;
			size_t nd = calendar_prev_school_days(cal_of(e, unit_id), p->start, want,
			    days);

			for (size_t k = 0; k < nd; k++) {
				const struct item *h = figure(e, m->id, days[k], unit_id);

				if (h != NULL)
					hist[n++] = h->value;
			}
			rule_judge_baseline(r, it->value, hist, n, &j);
		}
		step(e, rule, unit_id, p, &j, 0, tag, out);
		return;
	case RULE_QUOTA:
		period_containing(r->quota_period, p->start, &q);
		rule_judge_quota(r, &q, today, quota_count(e, m, &q, unit_id), &j);
		step(e, rule, unit_id, &q, &j, 0, tag, out);
		return;
	case RULE_MISSING:
		rule_judge_missing(r, cal_of(e, unit_id), p, today, it != NULL, &j);
		step(e, rule, unit_id, p, &j, 0, tag, out);
		return;
	case RULE_DISPERSION:
	case RULE_KIND_COUNT:
		return;
	}
}

static void
push_figure(struct engine_out *out, const struct engine_figure *f)
{
	out->figures = grow(out->figures, &out->figcap, out->nfigures, sizeof *out->figures);
	out->figures[out->nfigures++] = *f;
}

static void
judge_aggregate(struct engine *e, struct aggent *ag, int32_t today, struct engine_out *out)
{
	size_t rule = ag->rule;
	const struct rule *r = &e->rules->rules[rule];
	const struct metric *m = e->ri[rule].metric;
	const struct period *p = &e->slices[ag->slice].p;
	int64_t expected = expected_of(e, rule, ag->scope);
	bool deadline = today >= missing_deadline(p, r->grace_days);
	bool judgeable = agg_judgeable(&ag->a, r->completeness, expected, deadline);
	struct engine_figure f = {.rule = rule, .unit_id = ag->scope, .period = *p,
	    .num = ag->a.num, .den = ag->a.den, .reported = ag->a.count, .expected = expected,
	    .judged = judgeable};
	struct judgement j = {0};
	enum severity prev;
	struct period q;
	int tag = ag->tag;

	switch (r->kind) {
	case RULE_THRESHOLD:
		f.defined = agg_value(&ag->a, m->kind, &f.value) == 0;
		prev = prev_severity(e, rule, ag->scope, p);
		rule_judge_threshold(r, prev, f.value, judgeable && f.defined, &j);
		break;
	case RULE_DISPERSION:
		f.defined = agg_cv(&ag->a, &f.value) == 0;
		prev = prev_severity(e, rule, ag->scope, p);
		rule_judge_dispersion(r, prev, &ag->a, judgeable, &j);
		break;
	case RULE_TREND:
		f.defined = agg_value(&ag->a, m->kind, &f.value) == 0;
		if (r->trend_mode == TREND_YOY && f.defined) {
			struct period y;
			size_t s;
			struct aggent *last;
			double lv;

			year_before(p, &y);
			s = slice_find(e, m->id, y.start);
			last = s == SIZE_MAX ? NULL : agg_get(e, rule, s, ag->scope, false);
			if (last != NULL && agg_value(&last->a, m->kind, &lv) == 0)
				rule_judge_yoy(r, f.value, &lv, &j);
			else
				rule_judge_yoy(r, f.value, NULL, &j);
			j.judged = j.judged && judgeable;
		}
		break;
	case RULE_QUOTA:
		period_containing(r->quota_period, p->start, &q);
		f.defined = true;
		f.value = quota_count_agg(e, rule, &q, ag->scope);
		push_figure(out, &f);
		rule_judge_quota(r, &q, today, f.value, &j);
		step(e, rule, ag->scope, &q, &j, 0, tag, out);
		return;
	case RULE_MISSING:
	case RULE_KIND_COUNT:
		return;
	}
	push_figure(out, &f);
	step(e, rule, ag->scope, p, &j,
	    r->kind == RULE_THRESHOLD && r->for_periods > 1 ? prior_breaches_agg(e, ag) : 0, tag,
	    out);
}

/* ---- applying commits ---- */

/* Periods dependents() lists at most: a baseline's 64 days and a year. */
#define DEPENDENTS_MAX 72

/*
 * Mark for judging, with the tag of the change, the held aggregates whose
 * judgement looks at an aggregate touched in generation gen (dependents()),
 * once each: those touched by the commit itself are the sources.
 */
static void
touch_dependent_aggs(struct engine *e, unsigned gen)
{
	size_t nsrc = 0, *src = xcalloc(e->naggs + 1, sizeof *src);

	for (size_t a = 0; a < e->naggs; a++)
		if (e->aggs[a].touched == gen)
			src[nsrc++] = a;
	for (size_t k = 0; k < nsrc; k++) {
		const struct aggent *ag = &e->aggs[src[k]];
		struct period dep[DEPENDENTS_MAX];
		size_t nd = dependents(e, ag->rule, ag->scope, &e->slices[ag->slice].p, dep,
		    DEPENDENTS_MAX);

		for (size_t d = 0; d < nd; d++) {
			size_t s = slice_find(e, e->slices[ag->slice].metric_id, dep[d].start);
			struct aggent *da = s == SIZE_MAX ? NULL :
			    agg_get(e, ag->rule, s, ag->scope, false);

			if (da != NULL && da->touched != gen) {
				da->touched = gen;
				da->tag = ag->tag;
			}
		}
	}
	free(src);
}

static bool
rule_on_metric(const struct engine *e, size_t rule, int metric_id)
{
	return e->ri[rule].metric != NULL && e->ri[rule].metric->id == metric_id;
}

void
engine_apply(struct engine *e, const struct engine_obs *obs, size_t n, int32_t today,
    struct engine_out *out)
{
	unsigned gen = ++e->gen;

	for (size_t i = 0; i < n; i++) {
		size_t s;

		/* Figures of metrics no rule judges are not kept. */
		if (engine_lookback_days(e, obs[i].metric_id) < 0)
			continue;
		s = slice_get(e, obs[i].metric_id, &obs[i].period);
		item_set(e, s, &obs[i]);
	}
	for (size_t i = 0; i < n; i++) {
		const struct unit *u = registry_by_id(e->reg, obs[i].unit_id);

		for (size_t r = 0; r < e->rules->nrules; r++) {
			const struct rule *rule = &e->rules->rules[r];
			struct period dep[DEPENDENTS_MAX];
			size_t nd;

			if (e->ri[r].aggregate || !rule_on_metric(e, r, obs[i].metric_id) ||
			    !in_population(rule, e->ri[r].metric, u))
				continue;
			judge_school(e, r, obs[i].unit_id, &obs[i].period, today, obs[i].tag, out);
			nd = dependents(e, r, obs[i].unit_id, &obs[i].period, dep, DEPENDENTS_MAX);
			for (size_t k = 0; k < nd; k++)
				if (figure(e, obs[i].metric_id, dep[k].start, obs[i].unit_id) != NULL)
					judge_school(e, r, obs[i].unit_id, &dep[k], today,
					    obs[i].tag, out);
		}
	}
	touch_dependent_aggs(e, gen);
	for (size_t a = 0; a < e->naggs; a++) {
		if (e->aggs[a].touched == gen)
			judge_aggregate(e, &e->aggs[a], today, out);
	}
}

/* ---- what needs loading ---- */

struct keyset {
	struct engine_slice_key *keys;
	size_t n, cap;
	struct u2map seen;
};

static void
want(const struct engine *e, struct keyset *ks, int metric_id, const struct period *p)
{
	if (engine_has_slice(e, metric_id, p->start) ||
	    u2_get(&ks->seen, (uint64_t)(uint32_t)metric_id, (uint64_t)(uint32_t)p->start) !=
		SIZE_MAX)
		return;
	u2_put(&ks->seen, (uint64_t)(uint32_t)metric_id, (uint64_t)(uint32_t)p->start, 1);
	ks->keys = grow(ks->keys, &ks->cap, ks->n, sizeof *ks->keys);
	ks->keys[ks->n++] = (struct engine_slice_key){metric_id, *p};
}

/* The slices judging rule r for period p needs. */
static void
want_rule(const struct engine *e, struct keyset *ks, size_t rule, int unit_id,
    const struct period *p)
{
	const struct rule *r = &e->rules->rules[rule];
	const struct metric *m = e->ri[rule].metric;
	struct period q, cur;
	int32_t days[64];

	want(e, ks, m->id, p);
	switch (r->kind) {
	case RULE_THRESHOLD:
		cur = *p;
		for (int k = 1; k < r->for_periods && previous_period(e, unit_id, &cur, &q); k++) {
			want(e, ks, m->id, &q);
			cur = q;
		}
		break;
	case RULE_TREND:
		if (r->trend_mode == TREND_YOY) {
			year_before(p, &q);
			want(e, ks, m->id, &q);
		} else {
			size_t nd = calendar_prev_school_days(cal_of(e, unit_id), p->start,
			    (size_t)r->baseline_days < 64 ? (size_t)r->baseline_days : 64, days);

			for (size_t k = 0; k < nd; k++) {
				period_containing(PERIOD_DAY, days[k], &q);
				want(e, ks, m->id, &q);
			}
		}
		break;
	case RULE_QUOTA: {
		struct period big;

		period_containing(r->quota_period, p->start, &big);
		period_containing(m->period_kind, big.start, &cur);
		while (cur.start < big.end) {
			want(e, ks, m->id, &cur);
			period_next(&cur, &cur);
		}
		break;
	}
	case RULE_MISSING:
	case RULE_DISPERSION:
	case RULE_KIND_COUNT:
		break;
	}
}

static size_t
keyset_take(struct keyset *ks, struct engine_slice_key **out)
{
	u2_clear(&ks->seen);
	*out = ks->keys;
	return ks->n;
}

size_t
engine_wants(const struct engine *e, const struct engine_obs *obs, size_t n,
    struct engine_slice_key **out)
{
	struct keyset ks = {0};

	for (size_t i = 0; i < n; i++)
		for (size_t r = 0; r < e->rules->nrules; r++)
			if (rule_on_metric(e, r, obs[i].metric_id))
				want_rule(e, &ks, r, obs[i].unit_id, &obs[i].period);
	return keyset_take(&ks, out);
}

/* ---- the clock ---- */

/* Days of a catch-up beyond which older deadlines are not revisited. */
#define TICK_MAX_DAYS 400

/* Quota periods a tick over [from, to] judges: the one holding `to` and
 * those that ended in the range. Returns the count (<= 2 + range). */
static size_t
quota_periods(enum period_kind kind, int32_t from, int32_t to, struct period *out, size_t max)
{
	size_t n = 0;
	struct period p;

	period_containing(kind, to, &p);
	out[n++] = p;
	for (int32_t d = from; d <= to && n < max; d++) {
		period_containing(kind, d, &p);
		if (p.start == d) {
			struct period prev;

			period_prev(&p, &prev);
			if (prev.end >= from)
				out[n++] = prev;
		}
	}
	return n;
}

static void
clamp_range(int32_t *from, int32_t to)
{
	if (to - *from > TICK_MAX_DAYS)
		*from = to - TICK_MAX_DAYS;
}

size_t
engine_tick_wants(const struct engine *e, int32_t from, int32_t to,
    struct engine_slice_key **out)
{
	struct keyset ks = {0};

	clamp_range(&from, to);
	for (size_t r = 0; r < e->rules->nrules && from <= to; r++) {
		const struct rule *rule = &e->rules->rules[r];
		const struct metric *m = e->ri[r].metric;

		if (m == NULL)
			continue;
		if (rule->kind == RULE_MISSING) {
			for (size_t c = 0; c <= e->ncals; c++) {
				struct period *ps = NULL;
				size_t np = missing_due(m->period_kind, rule->grace_days,
				    c == 0 ? e->cal : e->cals[c - 1], from, to, NULL, NULL, &ps);

				for (size_t k = 0; k < np; k++)
					want(e, &ks, m->id, &ps[k]);
				free(ps);
			}
		} else if (rule->kind == RULE_QUOTA) {
			struct period qs[TICK_MAX_DAYS + 2];
			size_t nq = quota_periods(rule->quota_period, from, to, qs,
			    sizeof qs / sizeof qs[0]);

			/* want_rule takes a period of the metric, not the quota
			 * period: a year slice of a monthly metric would share
			 * January's key. */
			for (size_t k = 0; k < nq; k++) {
				struct period first;

				period_containing(m->period_kind, qs[k].start, &first);
				want_rule(e, &ks, r, 0, &first);
			}
		}
	}
	return keyset_take(&ks, out);
}

static void
tick_missing(struct engine *e, size_t rule, int32_t from, int32_t to, struct engine_out *out)
{
	const struct rule *r = &e->rules->rules[rule];
	const struct metric *m = e->ri[rule].metric;
	const struct unit *u;

	/* The periods due differ by calendar: each unit is judged on those of
	 * the calendar it follows. */
	for (size_t c = 0; c <= e->ncals; c++) {
		const struct calendar *cal = c == 0 ? e->cal : e->cals[c - 1];
		struct period *ps = NULL;
		size_t np = missing_due(m->period_kind, r->grace_days, cal, from, to, NULL, NULL,
		    &ps);

		for (size_t k = 0; k < np; k++) {
			size_t pos = 0;

			while ((u = registry_next(e->reg, &pos)) != NULL)
				if (cal_of(e, u->id) == cal && in_population(r, m, u))
					judge_school(e, rule, u->id, &ps[k], to, -1, out);
		}
		free(ps);
	}
}

static void
tick_quota(struct engine *e, size_t rule, int32_t from, int32_t to, struct engine_out *out)
{
	const struct rule *r = &e->rules->rules[rule];
	const struct metric *m = e->ri[rule].metric;
	struct period qs[TICK_MAX_DAYS + 2], first;
	size_t nq = quota_periods(r->quota_period, from, to, qs, sizeof qs / sizeof qs[0]);
	const struct unit *u;

	for (size_t k = 0; k < nq; k++) {
		size_t pos = 0;

		period_containing(m->period_kind, qs[k].start, &first);
		if (!e->ri[rule].aggregate) {
			while ((u = registry_next(e->reg, &pos)) != NULL)
				if (in_population(r, m, u))
					judge_school(e, rule, u->id, &first, to, -1, out);
			continue;
		}
		while ((u = registry_next(e->reg, &pos)) != NULL) {
			enum unit_kind want_kind = r->scope == SCOPE_CITY ? UNIT_CITY : UNIT_DISTRICT;

			if (u->kind == want_kind && expected_of(e, rule, u->id) > 0) {
				size_t s = slice_get(e, m->id, &first);

				judge_aggregate(e, agg_get(e, rule, s, u->id, true), to, out);
			}
		}
	}
}

/* The clock checks of rule r over [from, to] (missing reports, quotas). */
static void
tick_rule(struct engine *e, size_t r, int32_t from, int32_t to, struct engine_out *out)
{
	const struct rule *rule = &e->rules->rules[r];

	if (e->ri[r].metric == NULL)
		return;
	if (rule->kind == RULE_MISSING && !e->ri[r].aggregate)
		tick_missing(e, r, from, to, out);
	else if (rule->kind == RULE_QUOTA)
		tick_quota(e, r, from, to, out);
}

/* Aggregate a, if its deadline is in [from, to]: no longer provisional. */
static void
tick_deadline(struct engine *e, size_t a, int32_t from, int32_t to, struct engine_out *out)
{
	const struct rule *rule = &e->rules->rules[e->aggs[a].rule];
	int32_t dl = missing_deadline(&e->slices[e->aggs[a].slice].p, rule->grace_days);

	if (rule->kind != RULE_QUOTA && dl >= from && dl <= to)
		judge_aggregate(e, &e->aggs[a], to, out);
}

void
engine_tick(struct engine *e, int32_t from, int32_t to, struct engine_out *out)
{
	if (from > to)
		return;
	clamp_range(&from, to);
	for (size_t r = 0; r < e->rules->nrules; r++)
		tick_rule(e, r, from, to, out);
	for (size_t a = 0; a < e->naggs; a++)
		tick_deadline(e, a, from, to, out);
}

static void resolve_orphan(struct engine *e, size_t i, struct engine_out *out);

void
engine_evaluate_all(struct engine *e, int32_t today, struct engine_out *out)
{
	struct engine_pass p;

	engine_pass_evaluate(e, today, &p);
	while (!engine_pass_step(e, &p, SIZE_MAX, out))
		;
}

/* ---- passes ---- */

enum {
	PASS_REBUILD, /* aggregates from the figures held (rebind) */
	PASS_ITEMS,   /* school rules, per figure */
	PASS_AGGS,    /* aggregate rules */
	PASS_TICK,    /* today's clock checks, a rule a step */
	PASS_DEADLINES, /* ... and the aggregates whose deadline is today */
	PASS_ORPHANS, /* episodes nobody is concerned by any more */
	PASS_DONE
};

void
engine_pass_rebind(struct engine *e, const struct registry *reg, const struct catalog *cat,
    bool judge, int32_t today, struct engine_pass *p)
{
	e->reg = reg;
	e->cat = cat;
	bind_rules(e);
	e->naggs = 0;
	u2_clear(&e->agg_ix);
	e->gen++;
	*p = (struct engine_pass){.phase = PASS_REBUILD, .today = today, .judge = judge};
}

void
engine_pass_evaluate(struct engine *e, int32_t today, struct engine_pass *p)
{
	e->gen++;
	*p = (struct engine_pass){.phase = PASS_ITEMS, .today = today, .judge = true};
}

/* Judge the school rules on one held figure. */
static void
judge_item(struct engine *e, size_t i, int32_t today, struct engine_out *out)
{
	const struct item it = e->items[i];
	const struct slice *s = &e->slices[it.slice];
	const struct unit *u = registry_by_id(e->reg, it.unit_id);

	for (size_t r = 0; r < e->rules->nrules; r++) {
		const struct rule *rule = &e->rules->rules[r];

		if (e->ri[r].aggregate || !rule_on_metric(e, r, s->metric_id) ||
		    !in_population(rule, e->ri[r].metric, u))
			continue;
		judge_school(e, r, it.unit_id, &e->slices[it.slice].p, today, -1, out);
	}
}

/* The units of work of a phase: figures, aggregates, rules or episodes. */
static size_t
pass_units(const struct engine *e, int phase)
{
	switch (phase) {
	case PASS_REBUILD:
	case PASS_ITEMS:
		return e->nitems;
	case PASS_AGGS:
	case PASS_DEADLINES:
		return e->naggs;
	case PASS_TICK:
		return e->rules->nrules;
	case PASS_ORPHANS:
		return e->nstates;
	}
	return 0;
}

/* Unit i of the pass's phase. */
static void
pass_unit(struct engine *e, const struct engine_pass *p, size_t i, struct engine_out *out)
{
	switch (p->phase) {
	case PASS_REBUILD:
		aggs_update(e, e->items[i].slice, e->items[i].unit_id, NULL, &e->items[i], -1);
		break;
	case PASS_ITEMS:
		judge_item(e, i, p->today, out);
		break;
	case PASS_AGGS:
		judge_aggregate(e, &e->aggs[i], p->today, out);
		break;
	case PASS_TICK:
		tick_rule(e, i, p->today, p->today, out);
		break;
	case PASS_DEADLINES:
		tick_deadline(e, i, p->today, p->today, out);
		break;
	case PASS_ORPHANS:
		resolve_orphan(e, i, out);
		break;
	}
}

bool
engine_pass_step(struct engine *e, struct engine_pass *p, size_t budget, struct engine_out *out)
{
	size_t done = 0;

	if (budget == 0)
		budget = 1;
	while (p->phase != PASS_DONE && done < budget) {
		size_t n = pass_units(e, p->phase);

		for (; p->i < n && done < budget; p->i++) {
			if (p->phase == PASS_TICK) {
				/* A rule's clock checks visit every school it concerns:
				 * a step of their own, not added to one that did other
				 * work. */
				if (done > 0)
					return false;
				done = budget;
			} else
				done++;
			pass_unit(e, p, p->i, out);
		}
		if (p->i < n)
			break;
		p->i = 0;
		if (p->phase == PASS_REBUILD && !p->judge) {
			p->phase = PASS_DONE;
		} else {
			if (p->phase == PASS_REBUILD)
				e->gen++; /* a new evaluation, as engine_pass_evaluate begins one */
			p->phase++;
		}
	}
	return p->phase == PASS_DONE;
}

/*
 * Firing alerts of units the rule no longer concerns (a school closed or
 * moved out of the rule's filters, a district with no unit left to judge)
 * resolve: nobody is in breach any more. The value is the last judged.
 */
static void
resolve_orphan(struct engine *e, size_t i, struct engine_out *out)
{
	struct stent *se = &e->states[i];
	const struct rule *r = &e->rules->rules[se->rule];
	const struct metric *m = e->ri[se->rule].metric;
	const struct unit *u = registry_by_id(e->reg, se->unit_id);
	struct judgement j = {true, SEV_OK, se->st.value, se->st.bound, OP_LT};
	bool gone;
	struct period p;

	if (!se->st.firing)
		return;
	if (m == NULL)
		gone = true;
	else if (e->ri[se->rule].aggregate)
		gone = expected_of(e, se->rule, se->unit_id) == 0;
	else
		gone = !in_population(r, m, u);
	if (!gone)
		return;
	p = se->p;
	step(e, se->rule, se->unit_id, &p, &j, 0, -1, out);
}

/* ---- introspection ---- */

void
engine_counts(const struct engine *e, struct engine_counts *c)
{
	c->slices = e->nslices;
	c->items = e->nitems;
	c->aggregates = e->naggs;
	c->states = e->nstates;
	c->firing = 0;
	for (size_t i = 0; i < e->nstates; i++)
		c->firing += e->states[i].st.firing;
}

int
engine_aggregate(const struct engine *e, size_t rule, int unit_id, int32_t period_start,
    struct agg *out, int64_t *expected)
{
	size_t a = u2_get(&e->agg_ix, key_rp(rule, period_start), (uint64_t)(uint32_t)unit_id);

	if (a == SIZE_MAX)
		return -1;
	*out = e->aggs[a].a;
	*expected = expected_of(e, rule, unit_id);
	return 0;
}

/* ---- how far back, and forgetting ---- */

/* The longest a period of kind k lasts, in days. */
static int
period_days(enum period_kind k)
{
	static const int days[PERIOD_KIND_COUNT] = {
	    [PERIOD_DAY] = 1, [PERIOD_WEEK] = 7, [PERIOD_MONTH] = 31, [PERIOD_QUARTER] = 92,
	    [PERIOD_TERM] = 184, [PERIOD_SCHOOL_YEAR] = 366, [PERIOD_YEAR] = 366,
	};

	return (unsigned)k < PERIOD_KIND_COUNT ? days[k] : 366;
}

/* How far back rule r looks at figures of its metric (kind k), in days. */
static int
rule_lookback(const struct rule *r, enum period_kind k)
{
	int len = period_days(k), back = len + r->grace_days;

	switch (r->kind) {
	case RULE_THRESHOLD:
	case RULE_DISPERSION:
		if (r->for_periods > 1)
			back += k == PERIOD_DAY ? 2 * (r->for_periods - 1) + 14 :
			    (r->for_periods - 1) * len;
		break;
	case RULE_TREND:
		back += r->trend_mode == TREND_YOY ? 366 + len : 2 * r->baseline_days + 14;
		break;
	case RULE_QUOTA:
		back += period_days(r->quota_period);
		break;
	case RULE_MISSING:
	case RULE_KIND_COUNT:
		break;
	}
	return back;
}

int
engine_lookback_days(const struct engine *e, int metric_id)
{
	int back = -1;

	for (size_t r = 0; r < e->rules->nrules; r++) {
		const struct metric *m = e->ri[r].metric;

		if (m != NULL && m->id == metric_id) {
			int b = rule_lookback(&e->rules->rules[r], m->period_kind);

			if (b > back)
				back = b;
		}
	}
	return back;
}

void
engine_forget(struct engine *e, int32_t today)
{
	size_t *map = xcalloc(e->nslices + 1, sizeof *map);
	size_t ns = 0, ni = 0, na = 0, nst = 0;
	int32_t oldest = INT32_MAX;

	for (size_t s = 0; s < e->nslices; s++) {
		int back = engine_lookback_days(e, e->slices[s].metric_id);

		map[s] = SIZE_MAX;
		if (back >= 0 && e->slices[s].p.end + back >= today) {
			map[s] = ns;
			e->slices[ns++] = e->slices[s];
			if (e->slices[map[s]].p.start < oldest)
				oldest = e->slices[map[s]].p.start;
		}
	}
	if (ns == e->nslices) {
		free(map);
		return;
	}
	u2_clear(&e->slice_ix);
	for (size_t s = 0; s < ns; s++)
		u2_put(&e->slice_ix, (uint64_t)(uint32_t)e->slices[s].metric_id,
		    (uint64_t)(uint32_t)e->slices[s].p.start, s);
	u2_clear(&e->item_ix);
	for (size_t i = 0; i < e->nitems; i++) {
		struct item it = e->items[i];

		if (map[it.slice] == SIZE_MAX)
			continue;
		it.slice = map[it.slice];
		e->items[ni] = it;
		u2_put(&e->item_ix, it.slice, (uint64_t)(uint32_t)it.unit_id, ni);
		ni++;
	}
	u2_clear(&e->agg_ix);
	for (size_t a = 0; a < e->naggs; a++) {
		struct aggent ag = e->aggs[a];

		if (map[ag.slice] == SIZE_MAX)
			continue;
		ag.slice = map[ag.slice];
		e->aggs[na] = ag;
		u2_put(&e->agg_ix, key_rp(ag.rule, e->slices[ag.slice].p.start),
		    (uint64_t)(uint32_t)ag.scope, na);
		na++;
	}
	/* Episodes no longer firing of periods older than anything held go
	 * too; a firing one stays until it resolves. */
	u2_clear(&e->state_ix);
	for (size_t i = 0; i < e->nstates; i++) {
		struct stent st = e->states[i];

		if (!st.st.firing && st.st.streak == 0 && st.p.end < oldest)
			continue;
		e->states[nst] = st;
		u2_put(&e->state_ix, key_rp(st.rule, st.p.start), (uint64_t)(uint32_t)st.unit_id,
		    nst);
		nst++;
	}
	e->nslices = ns;
	e->nitems = ni;
	e->naggs = na;
	e->nstates = nst;
	free(map);
}

void
engine_set_calendars(struct engine *e, const struct calendar *const *cals, size_t n)
{
	e->cals = cals;
	e->ncals = n;
	bind_calendars(e);
}
