/*
 * fuzz_payload.c: libFuzzer harness for payload_parse_json and
 * payload_parse_csv against a small fixed catalog and registry.
 *
 * Every input goes through both parsers. An optional first byte 0xf8..0xff
 * (never the start of valid UTF-8, so seeds stay plain JSON or CSV) picks
 * the principal (bits 0-1: school, reporter, admin, monitor) and a limit of
 * 2 observations instead of 64 (bit 2).
 *
 * Oracles beyond the sanitizers: the result is consistent (status, *out,
 * message and issues agree; at most 100 issues plus one "more" entry; the
 * offset of a malformed body lies inside it); a monitor is always refused;
 * every accepted observation is one the principal may write (active unit
 * within reach, a unit kind and stage the metric allows, the metric's
 * period kind, a period that has started, a value inside the metric's
 * range, numerator <= denominator, no (unit, metric, period) twice); and
 * the error document is a strict RFC 8259 text.
 *
 * Needs lib/{util,period,csv,jsonstrict,registry,catalog,payload}.c and
 * libcjson, e.g.
 *   clang -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Ilib \
 *     $(pkg-config --cflags libcjson) -fsanitize=fuzzer,address,undefined \
 *     tests/fuzz/fuzz_payload.c lib/payload.c lib/catalog.c lib/registry.c \
 *     lib/period.c lib/csv.c lib/jsonstrict.c lib/util.c \
 *     $(pkg-config --libs libcjson) -lm -o build/fuzz/fuzz_payload
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "jsonstrict.h"
#include "payload.h"
#include "registry.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                    \
	do {                                                                         \
		fprintf(stderr, "fuzz_payload: " __VA_ARGS__);                       \
		fputc('\n', stderr);                                                 \
		abort();                                                             \
	} while (0)

static struct catalog *cat;
static struct registry *reg;

static const struct principal principals[] = {
	{.token_id = 1, .role = ROLE_SCHOOL, .unit_id = 11},
	{.token_id = 2, .role = ROLE_REPORTER, .unit_id = 3},
	{.token_id = 3, .role = ROLE_ADMIN, .unit_id = 0},
	{.token_id = 4, .role = ROLE_MONITOR, .unit_id = 3},
};

static const char catalog_csv[] =
    "code,name_zh,name_en,unit,kind,period_kind,min,max,stages,unit_kinds,description\n"
    "class_size_max,最大班额,Largest class,人,count,term,0,200,primary|junior|senior,school,\n"
    "junior_progression_rate,初中毕业生升入高中段学校比例,Progression,%,rate,school_year,0,1,"
    "junior,school,\n"
    "emergency_drills,应急演练次数,Drills,次,count,month,0,100,,school,\n"
    "daily_exercise_minutes,学生每天校园体育活动时间,Exercise,分钟,value,day,0,1440,,school,\n"
    "sick_absence_rate,因病缺课率,Sick absence,%,rate,day,0,1,,school,\n"
    "new_school_places,新增学位数,New places,个,count,year,0,1000000,,district,\n"
    "modernisation_score,省教育现代化监测综合得分,Score,分,value,year,0,100,,district,\n"
    "share_fraction,比例,Fraction,,value,week,0,1,,school|childcare,\n"
    "bounded_rate,比例,Bounded,%,rate,quarter,0.5,0.9,,school,\n"
    "childcare_staff_certified_rate,托育从业人员持证上岗率,Certified,%,rate,year,0,1,,"
    "childcare,\n";

static void
add_unit(int id, const char *code, enum unit_kind kind, int parent, unsigned stages, bool active)
{
	struct unit u = {
		.id = id,
		.code = (char *)code,
		.name = (char *)"单位",
		.kind = kind,
		.parent_id = parent,
		.stages = stages,
		.urban = true,
		.is_public = true,
		.active = active,
	};

	registry_add(reg, &u);
}

static void
init(void)
{
	char *cause = NULL;

	if (catalog_parse_csv(catalog_csv, strlen(catalog_csv), &cat, &cause) != 0)
		FAIL("catalog: %s", cause);
	reg = registry_new();
	add_unit(1, "32", UNIT_PROVINCE, 0, 0, true);
	add_unit(2, "3207", UNIT_CITY, 1, 0, true);
	add_unit(3, "320703", UNIT_DISTRICT, 2, 0, true);
	add_unit(4, "320706", UNIT_DISTRICT, 2, 0, true);
	add_unit(10, "2132000001", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_PRIMARY), true);
	add_unit(11, "3132000001", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_JUNIOR), true);
	add_unit(12, "1132000001", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_PRESCHOOL), true);
	add_unit(13, "C320703001", UNIT_CHILDCARE, 3, 0, true);
	add_unit(14, "2132000009", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_PRIMARY), false);
	add_unit(20, "2132000100", UNIT_SCHOOL, 4, STAGE_BIT(STAGE_PRIMARY), true);
}

static bool
may_write(const struct principal *who, const struct unit *u)
{
	if (!u->active)
		return false;
	switch (who->role) {
	case ROLE_ADMIN:
		return true;
	case ROLE_SCHOOL:
		return u->id == who->unit_id;
	case ROLE_REPORTER:
		return registry_within(reg, u->id, who->unit_id);
	default:
		return false;
	}
}

static void
check_observation(const struct payload_ctx *ctx, const struct observation *o)
{
	const struct metric *m = o->metric;
	const struct unit *u = o->unit;

	if (m == NULL || u == NULL || catalog_by_code(cat, m->code) != m ||
	    registry_by_code(reg, u->code) != u)
		FAIL("observation without a catalog metric or registry unit");
	if (!may_write(ctx->principal, u))
		FAIL("%s accepted for %s, out of reach of token %d", m->code, u->code,
		    ctx->principal->token_id);
	if (!(m->unit_kinds & UNIT_KIND_BIT(u->kind)))
		FAIL("%s accepted from a %s", m->code, unit_kind_name(u->kind));
	if (m->stages != 0 && u->stages != 0 && !(m->stages & u->stages))
		FAIL("%s accepted from stages %u", m->code, u->stages);
	if (o->period.kind != m->period_kind || o->period.start > ctx->today ||
	    o->period.end <= o->period.start)
		FAIL("%s accepted for period %s", m->code, o->period_text);
	if (!isfinite(o->value) || o->value < m->min || o->value > m->max)
		FAIL("%s accepted value %g outside %g..%g", m->code, o->value, m->min, m->max);
	if (m->kind == METRIC_RATE) {
		if (!o->has_ratio || o->has_value || o->denominator <= 0 || o->numerator < 0 ||
		    o->numerator > o->denominator ||
		    o->value != (double)o->numerator / (double)o->denominator)
			FAIL("%s: bad ratio %lld/%lld = %g", m->code, (long long)o->numerator,
			    (long long)o->denominator, o->value);
	} else {
		if (o->has_ratio || !o->has_value)
			FAIL("%s: a %s with a ratio", m->code, metric_kind_name(m->kind));
		if (m->kind == METRIC_COUNT && o->value != trunc(o->value))
			FAIL("%s: count %g", m->code, o->value);
	}
}

static void
check(const struct payload_ctx *ctx, size_t size, enum payload_status st, struct payload *p,
    struct payload_result *res)
{
	char *doc;
	size_t off;
	char *cause = NULL;

	if ((unsigned)st > PAYLOAD_TOO_LARGE || res->status != st)
		FAIL("status %d, res.status %d", st, res->status);
	if (ctx->principal->role == ROLE_MONITOR && st != PAYLOAD_FORBIDDEN)
		FAIL("a monitor got status %d", st);
	if (st == PAYLOAD_OK) {
		if (p == NULL || p->nobs == 0 || res->message != NULL || res->nissues != 0)
			FAIL("inconsistent OK result");
		if (p->nobs > ctx->limits.max_observations)
			FAIL("%zu observations over the limit", p->nobs);
		for (size_t i = 0; i < p->nobs; i++) {
			check_observation(ctx, &p->obs[i]);
			for (size_t j = 0; j < i; j++)
				if (p->obs[j].unit == p->obs[i].unit &&
				    p->obs[j].metric == p->obs[i].metric &&
				    p->obs[j].period.start == p->obs[i].period.start)
					FAIL("(unit, metric, period) accepted twice");
		}
		if (p->client_key != NULL &&
		    (strlen(p->client_key) == 0 || strlen(p->client_key) > 128))
			FAIL("bad client key");
		payload_free(p);
		return;
	}
	if (p != NULL || res->message == NULL || !utf8_valid(res->message, strlen(res->message)))
		FAIL("inconsistent refusal");
	if (st == PAYLOAD_MALFORMED && res->offset > size)
		FAIL("offset %zu beyond %zu", res->offset, size);
	if ((st == PAYLOAD_INVALID) != (res->nissues > 0) || res->nissues > 101)
		FAIL("%zu issues with status %d", res->nissues, st);
	for (size_t i = 0; i < res->nissues; i++) {
		const struct payload_issue *is = &res->issues[i];

		if (is->path == NULL || is->message == NULL || *is->message == '\0' ||
		    !utf8_valid(is->message, strlen(is->message)))
			FAIL("bad issue %zu", i);
	}
	doc = payload_result_json(res);
	if (json_strict_check(doc, strlen(doc), 4, &off, &cause) != 0)
		FAIL("error document is not strict JSON (%s at %zu): %s", cause, off, doc);
	free(doc);
	payload_result_clear(res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payload_ctx ctx;
	struct payload *p;
	struct payload_result res;
	unsigned sel = 0;
	enum payload_status st;

	if (cat == NULL)
		init();
	if (size > 0 && data[0] >= 0xf8) {
		sel = data[0] - 0xf8;
		data++;
		size--;
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.catalog = cat;
	ctx.registry = reg;
	ctx.principal = &principals[sel & 3];
	ctx.today = date_from_civil(2022, 3, 15);
	ctx.limits.max_observations = (sel & 4) ? 2 : 64;
	ctx.limits.max_depth = 16;

	st = payload_parse_json(&ctx, (const char *)data, size, &p, &res);
	check(&ctx, size, st, p, &res);
	st = payload_parse_csv(&ctx, (const char *)data, size, &p, &res);
	check(&ctx, size, st, p, &res);
	return 0;
}
