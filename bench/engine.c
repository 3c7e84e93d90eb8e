/*
 * engine.c: `edumon-bench engine`, the rules engine alone, in memory.
 *
 *   edumon-bench engine [SCHOOLS [DISTRICTS]]
 *
 * Builds the engine the daemon would hold at SCHOOLS schools (20,000 by
 * default, in SCHOOLS / 100 districts): the shipped catalog and rule pack
 * (deploy/metrics.csv, deploy/rules, read from the working directory), a
 * figure for every school and metric it reports, for the period holding
 * today and the one a year before. Then it times what edumond does on the
 * event loop when it starts and when the registry changes: judging
 * everything, and rebinding to a new registry and judging everything again;
 * each first in one piece (engine_evaluate_all, engine_rebind), then in the
 * steps the alerter takes (engine_pass_step with its budget), of which the
 * longest is what one turn of the loop can be held up by.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "catalog.h"
#include "engine.h"
#include "period.h"
#include "registry.h"
#include "rules.h"
#include "util.h"

/* lib/alerter.c's PASS_BUDGET. */
#define BENCH_PASS_BUDGET 2000

static uint64_t seed = 0x2545f4914f6cdd1dull;

static uint32_t
rnd(uint32_t n)
{
	seed ^= seed >> 12;
	seed ^= seed << 25;
	seed ^= seed >> 27;
	return (uint32_t)((seed * 0x2545f4914f6cdd1dull) >> 33) % n;
}

static struct registry *
make_registry(int schools, int districts)
{
	static const unsigned stage_sets[] = {
	    STAGE_BIT(STAGE_PRESCHOOL), STAGE_BIT(STAGE_PRIMARY), STAGE_BIT(STAGE_JUNIOR),
	    STAGE_BIT(STAGE_PRIMARY) | STAGE_BIT(STAGE_JUNIOR), STAGE_BIT(STAGE_SENIOR)};
	struct registry *reg = registry_new();
	char code[32], name[32];

	registry_add(reg, &(struct unit){.id = 1, .code = (char *)"3207", .name = (char *)"city",
	    .kind = UNIT_CITY, .active = true, .urban = true, .is_public = true});
	for (int d = 0; d < districts; d++) {
		snprintf(code, sizeof code, "32%04d", d);
		registry_add(reg, &(struct unit){.id = 2 + d, .code = code, .name = code,
		    .kind = UNIT_DISTRICT, .parent_id = 1, .active = true, .urban = true,
		    .is_public = true});
	}
	for (int i = 0; i < schools; i++) {
		snprintf(code, sizeof code, "S%08d", i);
		snprintf(name, sizeof name, "school %d", i);
		registry_add(reg, &(struct unit){.id = 100000 + i, .code = code, .name = name,
		    .kind = UNIT_SCHOOL, .parent_id = 2 + i % districts,
		    .stages = stage_sets[rnd(ARRAY_LEN(stage_sets))], .urban = rnd(2) == 0,
		    .is_public = rnd(5) != 0, .active = true});
	}
	return reg;
}

/* A figure of unit u for m, mostly fine, sometimes in breach. */
static struct engine_obs
figure(const struct metric *m, int unit, const struct period *p)
{
	struct engine_obs o = {.unit_id = unit, .metric_id = m->id, .period = *p, .revision = 1,
	    .tag = -1};
	double hi = m->max < m->min + 1000 ? m->max : m->min + 1000;

	if (m->kind == METRIC_RATE) {
		o.den = 50 + rnd(950);
		o.num = o.den - (int64_t)rnd((uint32_t)(o.den / 5 + 1));
		o.value = (double)o.num / (double)o.den;
	} else {
		o.value = m->min + (double)rnd((uint32_t)(hi - m->min + 1));
	}
	return o;
}

/* Load a slice of every reporting school for every metric, now and a year ago. */
static size_t
load(struct engine *e, const struct registry *reg, const struct catalog *cat, int32_t today)
{
	size_t total = 0, cap = registry_count(reg);
	struct engine_obs *obs = xcalloc(cap, sizeof *obs);

	for (size_t k = 0; k < catalog_count(cat); k++) {
		const struct metric *m = catalog_get(cat, k);

		for (int back = 0; back <= 365; back += 365) {
			struct period p;
			size_t n = 0, pos = 0;
			const struct unit *u;

			period_containing(m->period_kind, today - back, &p);
			while ((u = registry_next(reg, &pos)) != NULL) {
				if (u->kind != UNIT_SCHOOL || (m->unit_kinds & UNIT_KIND_BIT(u->kind)) == 0 ||
				    (m->stages != 0 && (m->stages & u->stages) == 0))
					continue;
				obs[n++] = figure(m, u->id, &p);
			}
			engine_load_slice(e, m->id, &p, obs, n);
			total += n;
		}
	}
	free(obs);
	return total;
}

struct timing {
	double total_ms, longest_ms;
	size_t steps, events;
	int longest_phase; /* engine_pass.phase before the longest step */
};

static void
whole(struct engine *e, const struct registry *reg, const struct catalog *cat, int32_t today,
    bool rebind, struct timing *t)
{
	struct engine_out out = {0};
	int64_t t0 = now_usec();

	if (rebind)
		engine_rebind(e, reg, cat);
	engine_evaluate_all(e, today, &out);
	t->total_ms = t->longest_ms = (double)(now_usec() - t0) / 1e3;
	t->steps = 1;
	t->events = out.nevents;
	engine_out_free(&out);
}

static void
stepped(struct engine *e, const struct registry *reg, const struct catalog *cat, int32_t today,
    bool rebind, struct timing *t)
{
	struct engine_out out = {0};
	struct engine_pass p;
	int64_t t0 = now_usec(), s0, dt;
	bool done;

	memset(t, 0, sizeof *t);
	if (rebind)
		engine_pass_rebind(e, reg, cat, true, today, &p);
	else
		engine_pass_evaluate(e, today, &p);
	t->longest_ms = (double)(now_usec() - t0) / 1e3; /* the begin is a step too */
	t->longest_phase = -1;
	do {
		int phase = p.phase;

		s0 = now_usec();
		done = engine_pass_step(e, &p, BENCH_PASS_BUDGET, &out);
		dt = now_usec() - s0;
		if ((double)dt / 1e3 > t->longest_ms) {
			t->longest_ms = (double)dt / 1e3;
			t->longest_phase = phase;
		}
		t->steps++;
	} while (!done);
	t->total_ms = (double)(now_usec() - t0) / 1e3;
	t->events = out.nevents;
	engine_out_free(&out);
}

static void
row(const char *what, const struct timing *w, const struct timing *s)
{
	static const char *const phases[] = {"rebuild", "figures", "aggregates", "clock", "deadlines",
	    "orphans", "done"};

	printf("| %s | %.1f | %zu | %.1f | %zu | %.2f (%s) | %zu |\n", what, w->total_ms,
	    w->events, s->total_ms, s->steps, s->longest_ms,
	    s->longest_phase < 0                            ? "begin: populations" :
	    s->longest_phase < 7                            ? phases[s->longest_phase] :
                                                              "?",
	    s->events);
}

int
engine_bench_main(int argc, char **argv)
{
	int schools = argc > 1 ? atoi(argv[1]) : 20000;
	int districts = argc > 2 ? atoi(argv[2]) : 0;
	struct catalog *cat = NULL;
	struct ruleset *rules;
	struct registry *reg, *reg2;
	struct engine *a, *b;
	struct timing w, s;
	struct engine_counts c;
	char *text, *cause = NULL;
	size_t len, figures;
	uint64_t saved;
	int32_t today = date_today();

	if (schools < 1 || schools > 1000000) {
		fprintf(stderr, "usage: edumon-bench engine [SCHOOLS [DISTRICTS]]\n");
		return 2;
	}
	if (districts < 1)
		districts = schools / 100 > 0 ? schools / 100 : 1;
	if ((text = read_file("deploy/metrics.csv", &len)) == NULL) {
		fprintf(stderr, "edumon-bench: engine: cannot read deploy/metrics.csv\n");
		return 1;
	}
	if (catalog_parse_csv(text, len, &cat, &cause) != 0) {
		fprintf(stderr, "edumon-bench: engine: deploy/metrics.csv: %s\n", cause);
		return 1;
	}
	free(text);
	{
		/* Ids as the database would give them. */
		struct catalog *c2 = catalog_new();

		for (size_t k = 0; k < catalog_count(cat); k++) {
			struct metric m = *catalog_get(cat, k);

			m.id = (int)k + 1;
			catalog_add(c2, &m);
		}
		catalog_free(cat);
		cat = c2;
	}
	if ((rules = rules_load_dir("deploy/rules", cat, &cause)) == NULL) {
		fprintf(stderr, "edumon-bench: engine: deploy/rules: %s\n", cause);
		return 1;
	}
	reg = make_registry(schools, districts);
	reg2 = make_registry(schools, districts);
	a = engine_new(rules, reg, cat, NULL);
	b = engine_new(rules, reg, cat, NULL);
	saved = seed; /* the same figures in both engines */
	figures = load(a, reg, cat, today);
	seed = saved;
	load(b, reg, cat, today);

	engine_counts(a, &c);
	printf("engine: %d schools in %d districts, %zu rules, %zu figures, %zu aggregates;"
	       " steps of %d units\n\n",
	    schools, districts, rules->nrules, figures, c.aggregates, BENCH_PASS_BUDGET);
	printf("| pass | whole: ms | events | in steps: ms | steps | longest step: ms | events "
	       "|\n|---|---:|---:|---:|---:|---:|---:|\n");
	whole(a, reg, cat, today, false, &w);
	stepped(b, reg, cat, today, false, &s);
	row("judge everything, first time (start-up)", &w, &s);
	whole(a, reg, cat, today, false, &w);
	stepped(b, reg, cat, today, false, &s);
	row("judge everything again", &w, &s);
	whole(a, reg2, cat, today, true, &w);
	stepped(b, reg2, cat, today, true, &s);
	row("rebind to a new registry and judge", &w, &s);
	if (w.events != s.events)
		fprintf(stderr, "edumon-bench: engine: whole and stepped passes disagree\n");

	engine_free(a);
	engine_free(b);
	registry_free(reg);
	registry_free(reg2);
	ruleset_free(rules);
	catalog_free(cat);
	return w.events != s.events;
}
