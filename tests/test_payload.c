/*
 * test_payload.c: submission bodies against the shipped catalog
 * (deploy/metrics.csv, read from the repository root) and a small registry:
 *
 *   32 province (1) > 3207 city (2) > 320703 district (3):
 *       2132000001 primary (10), 3132000001 junior (11), 3432000001 senior
 *       (12), 1132000001 kindergarten (13), 2132000002 primary+junior (14),
 *       C320703001 childcare (15), G320703001 guidance point (16),
 *       2132000009 inactive primary (17)
 *   3207 > 320706 district (4): 2132000100 primary (20)
 *
 * Today is 2022-03-15. The request table holds JSON bodies written with '
 * for " (rewritten before parsing) and CSV bodies as they are.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "catalog.h"
#include "payload.h"
#include "registry.h"
#include "util.h"

enum who { W_SCHOOL, W_PRIMARY, W_REPORTER, W_CITY, W_MONITOR, W_ADMIN, W_NOUNIT };

static const struct principal principals[] = {
	[W_SCHOOL] = {.token_id = 1, .role = ROLE_SCHOOL, .unit_id = 11},
	[W_PRIMARY] = {.token_id = 2, .role = ROLE_SCHOOL, .unit_id = 10},
	[W_REPORTER] = {.token_id = 3, .role = ROLE_REPORTER, .unit_id = 3},
	[W_CITY] = {.token_id = 4, .role = ROLE_REPORTER, .unit_id = 2},
	[W_MONITOR] = {.token_id = 5, .role = ROLE_MONITOR, .unit_id = 3},
	[W_ADMIN] = {.token_id = 6, .role = ROLE_ADMIN, .unit_id = 0},
	[W_NOUNIT] = {.token_id = 7, .role = ROLE_SCHOOL, .unit_id = 999},
};

static struct catalog *cat;
static struct registry *reg;

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
setup(void)
{
	FILE *f = fopen("deploy/metrics.csv", "rb");
	struct buf b;
	char chunk[4096], *cause = NULL;
	size_t n;
	struct metric frac = {
		.code = (char *)"share_fraction",
		.name_zh = (char *)"测试比例",
		.name_en = (char *)"A fraction reported as a value",
		.unit = (char *)"",
		.kind = METRIC_VALUE,
		.period_kind = PERIOD_TERM,
		.min = 0,
		.max = 1,
		.unit_kinds = UNIT_KIND_BIT(UNIT_SCHOOL),
		.description = (char *)"test only",
	};
	struct metric bounded = {
		.code = (char *)"bounded_rate",
		.name_zh = (char *)"测试比率",
		.name_en = (char *)"A rate bounded to 0.5..0.9",
		.unit = (char *)"%",
		.kind = METRIC_RATE,
		.period_kind = PERIOD_QUARTER,
		.min = 0.5,
		.max = 0.9,
		.unit_kinds = UNIT_KIND_BIT(UNIT_SCHOOL),
		.description = (char *)"test only",
	};

	cr_assert_not_null(f, "run the tests from the repository root");
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	cr_assert_eq(catalog_parse_csv(b.data, b.len, &cat, &cause), 0, "%s", cause);
	buf_free(&b);
	catalog_add(cat, &frac);
	catalog_add(cat, &bounded);

	reg = registry_new();
	add_unit(1, "32", UNIT_PROVINCE, 0, 0, true);
	add_unit(2, "3207", UNIT_CITY, 1, 0, true);
	add_unit(3, "320703", UNIT_DISTRICT, 2, 0, true);
	add_unit(4, "320706", UNIT_DISTRICT, 2, 0, true);
	add_unit(10, "2132000001", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_PRIMARY), true);
	add_unit(11, "3132000001", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_JUNIOR), true);
	add_unit(12, "3432000001", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_SENIOR), true);
	add_unit(13, "1132000001", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_PRESCHOOL), true);
	add_unit(14, "2132000002", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_PRIMARY) | STAGE_BIT(STAGE_JUNIOR),
	    true);
	add_unit(15, "C320703001", UNIT_CHILDCARE, 3, 0, true);
	add_unit(16, "G320703001", UNIT_GUIDANCE_POINT, 3, 0, true);
	add_unit(17, "2132000009", UNIT_SCHOOL, 3, STAGE_BIT(STAGE_PRIMARY), false);
	add_unit(20, "2132000100", UNIT_SCHOOL, 4, STAGE_BIT(STAGE_PRIMARY), true);
}

static void
teardown(void)
{
	catalog_free(cat);
	registry_free(reg);
	cat = NULL;
	reg = NULL;
}

TestSuite(payload, .init = setup, .fini = teardown);

static struct payload_ctx
ctx_for(enum who w, size_t max_obs)
{
	struct payload_ctx ctx = {
		.catalog = cat,
		.registry = reg,
		.principal = &principals[w],
		.today = date_from_civil(2022, 3, 15),
		.limits = {.max_observations = max_obs, .max_depth = 16},
	};

	return ctx;
}

/* JSON written with ' for " in this file. */
static char *
unquote(const char *s)
{
	char *p = xstrdup(s);

	for (char *q = p; *q != '\0'; q++)
		if (*q == '\'')
			*q = '"';
	return p;
}

static enum payload_status
run(enum who w, bool csv, const char *body, size_t max_obs, struct payload **p,
    struct payload_result *res)
{
	struct payload_ctx ctx = ctx_for(w, max_obs);
	char *text = csv ? xstrdup(body) : unquote(body);
	enum payload_status st;

	st = csv ? payload_parse_csv(&ctx, text, strlen(text), p, res)
		 : payload_parse_json(&ctx, text, strlen(text), p, res);
	free(text);
	return st;
}

/* Issue paths joined by '|'; caller frees. */
static char *
joined_paths(const struct payload_result *res)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "");
	for (size_t i = 0; i < res->nissues; i++) {
		if (i > 0)
			buf_putc(&b, '|');
		buf_puts(&b, res->issues[i].path);
	}
	return buf_steal(&b);
}

struct pcase {
	const char *name;
	enum who who;
	bool csv;
	const char *body;
	enum payload_status status;
	size_t nobs;        /* PAYLOAD_OK */
	const char *paths;  /* PAYLOAD_INVALID: every issue path, '|'-joined, in order */
	const char *phrase; /* in the first issue's message (422) or res.message */
	size_t max_obs;     /* 0: 1000 */
};

#define OK(n) PAYLOAD_OK, (n), NULL, NULL, 0
#define BAD(paths, phrase) PAYLOAD_INVALID, 0, (paths), (phrase), 0
#define MALF(phrase) PAYLOAD_MALFORMED, 0, NULL, (phrase), 0
#define FORB(phrase) PAYLOAD_FORBIDDEN, 0, NULL, (phrase), 0
/* With a limit of 3 observations per request. */
#define BIG3 PAYLOAD_TOO_LARGE, 0, NULL, "the limit is 3 per request", 3
#define OK3(n) PAYLOAD_OK, (n), NULL, NULL, 3

#define J false
#define C true

/* A valid object for the junior school, to splice into batches. */
#define JOK "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':52}}"
#define REACH "is not within this token's reach"

static const struct pcase cases[] = {
	/* Accepted JSON. */
	{"count", W_SCHOOL, J, JOK, OK(1)},
	{"rate 49/50", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':49,'denominator':50}}}",
	    OK(1)},
	{"several metrics", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-2','metrics':{'class_size_max':55,"
	    "'large_classes':0,'super_large_classes':0,'classes_total':18,"
	    "'large_classes_starting_grade':0}}",
	    OK(5)},
	{"value with a fraction", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2022-03-14','metrics':{'daily_exercise_minutes':"
	    "75.5}}",
	    OK(1)},
	{"member order and whitespace", W_SCHOOL, J,
	    " \t\r\n{ 'metrics' : { 'emergency_drills' : 1 } , 'period' : '2022-03' , 'school' :"
	    " '3132000001' }\n",
	    OK(1)},
	{"batch", W_SCHOOL, J, "[" JOK ",{'school':'3132000001','period':'2021-2022-2','metrics':"
			      "{'class_size_max':53}}]",
	    OK(2)},
	{"submission_id", W_SCHOOL, J,
	    "{'submission_id':'mis-2022-03-15 #7','school':'3132000001','period':'2022-W10',"
	    "'metrics':{'pe_lessons_per_week':4}}",
	    OK(1)},
	{"rate 0 of n", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022','metrics':{'myopia_rate':"
	    "{'denominator':120,'numerator':0}}}",
	    OK(1)},
	{"count 0 and -0", W_SCHOOL, J,
	    "[{'school':'3132000001','period':'2022-03','metrics':{'emergency_drills':0}},"
	    "{'school':'3132000001','period':'2022-02','metrics':{'emergency_drills':-0}}]",
	    OK(2)},
	{"count written 5e1", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':5e1}}",
	    OK(1)},
	{"reporter: own district figure", W_REPORTER, J,
	    "{'unit':'320703','period':'2021','metrics':{'new_school_places':6590,"
	    "'modernisation_score':91.5,'standard_school_rate':{'numerator':40,"
	    "'denominator':40}}}",
	    OK(3)},
	{"reporter: school beneath", W_REPORTER, J, JOK, OK(1)},
	{"reporter: kindergarten, childcare, guidance point", W_REPORTER, J,
	    "[{'school':'1132000001','period':'2021','metrics':{'preschool_inclusive_coverage':"
	    "{'numerator':180,'denominator':200}}},"
	    "{'school':'C320703001','period':'2021','metrics':{'childcare_staff_certified_rate':"
	    "{'numerator':12,'denominator':12}}},"
	    "{'school':'G320703001','period':'2021','metrics':{'parenting_guidance_sessions':7}}]",
	    OK(3)},
	{"city reporter: both districts", W_CITY, J,
	    "[{'unit':'320706','period':'2021','metrics':{'new_school_places':10}},"
	    "{'school':'2132000100','period':'2021-2022-1','metrics':{'class_size_max':40}}]",
	    OK(2)},
	{"admin: any unit", W_ADMIN, J,
	    "{'school':'2132000100','period':'2021-2022-1','metrics':{'class_size_max':40}}",
	    OK(1)},
	{"nine-year school: junior metric", W_REPORTER, J,
	    "{'school':'2132000002','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':1,'denominator':1}}}",
	    OK(1)},

	/* Malformed JSON: 400 with the byte offset. */
	{"not JSON", W_SCHOOL, J, "{'school'", MALF("malformed JSON at byte")},
	{"empty body", W_SCHOOL, J, "", MALF("malformed JSON at byte 0")},
	{"duplicate key", W_SCHOOL, J,
	    "{'school':'3132000001','school':'2132000001','period':'2022-03','metrics':"
	    "{'emergency_drills':1}}",
	    MALF("malformed JSON at byte 23: duplicate key")},
	{"leading zero", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':052}}",
	    MALF("malformed JSON at byte")},
	{"NaN", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':NaN}}",
	    MALF("malformed JSON at byte")},
	{"trailing comma", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':1,}}",
	    MALF("malformed JSON at byte")},
	{"byte order mark", W_SCHOOL, J, "\xef\xbb\xbf" JOK, MALF("malformed JSON at byte 0")},
	{"NUL escape", W_SCHOOL, J,
	    "{'school':'3132000001\\u0000x','period':'2021-2022-1','metrics':{'class_size_max':1}}",
	    MALF("malformed JSON at byte 21: \\u0000 (NUL) in a string is not accepted")},
	{"number too long for cJSON", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':"
	    "1.00000000000000000000000000000000000000000000000000000000000000000000}}",
	    MALF("malformed JSON at byte 74: number longer than 63 characters")},
	{"too deep", W_SCHOOL, J, "[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]",
	    MALF("malformed JSON at byte")},

	/* Forbidden. */
	{"school: another school", W_SCHOOL, J,
	    "{'school':'2132000001','period':'2021-2022-1','metrics':{'class_size_max':40}}",
	    FORB("unit \"2132000001\" " REACH)},
	{"school: unknown code", W_SCHOOL, J,
	    "{'school':'9999999999','period':'2021-2022-1','metrics':{'class_size_max':40}}",
	    FORB("unit \"9999999999\" " REACH)},
	{"school: batch own and other", W_SCHOOL, J,
	    "[" JOK ",{'school':'2132000001','period':'2021-2022-1','metrics':"
	    "{'class_size_max':40}}]",
	    FORB("unit \"2132000001\" " REACH)},
	{"school: its district", W_SCHOOL, J,
	    "{'unit':'320703','period':'2021','metrics':{'new_school_places':1}}",
	    FORB("unit \"320703\" " REACH)},
	{"reporter: school in another district", W_REPORTER, J,
	    "{'school':'2132000100','period':'2021-2022-1','metrics':{'class_size_max':40}}",
	    FORB("unit \"2132000100\" " REACH)},
	{"reporter: its city", W_REPORTER, J,
	    "{'unit':'3207','period':'2021','metrics':{'new_school_places':1}}",
	    FORB("unit \"3207\" " REACH)},
	{"admin: inactive school", W_ADMIN, J,
	    "{'school':'2132000009','period':'2021-2022-1','metrics':{'class_size_max':40}}",
	    FORB("unit \"2132000009\" " REACH)},
	{"school token of an unknown unit", W_NOUNIT, J, JOK, FORB("unit \"3132000001\" " REACH)},
	{"forbidden wins over invalid", W_SCHOOL, J,
	    "[{'school':'3132000001','period':'2021-13','metrics':{'nope':1}},"
	    "{'school':'2132000001','period':'2021-2022-1','metrics':{'class_size_max':40}}]",
	    FORB("unit \"2132000001\" " REACH)},
	{"monitor", W_MONITOR, J, JOK, FORB("a monitor token cannot submit figures")},
	{"monitor, CSV", W_MONITOR, C, "3132000001,2021-2022-1,class_size_max,52,,\n",
	    FORB("a monitor token cannot submit figures")},
	{"CSV with one foreign row", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,52,,\n"
	    "2132000001,2021-2022-1,class_size_max,40,,\n",
	    FORB("unit \"2132000001\" " REACH)},

	/* Invalid JSON submissions: 422 with every path. */
	{"unknown field and no school", W_SCHOOL, J,
	    "{'schol':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':52}}",
	    BAD("schol|school", "unknown field \"schol\"")},
	{"missing period", W_SCHOOL, J, "{'school':'3132000001','metrics':{'class_size_max':52}}",
	    BAD("period", "missing \"period\"")},
	{"period not a string", W_SCHOOL, J,
	    "{'school':'3132000001','period':2021,'metrics':{'new_school_places':1}}",
	    BAD("period|metrics.new_school_places", "\"period\" must be a string")},
	{"malformed period", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-13','metrics':{'emergency_drills':1}}",
	    BAD("period", "period \"2021-13\"")},
	{"period not started", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2022-04','metrics':{'emergency_drills':1}}",
	    BAD("period", "period 2022-04 has not started yet (it starts on 2022-04-01)")},
	{"wrong period kind", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-09','metrics':{'class_size_max':52}}",
	    BAD("metrics.class_size_max",
		"class_size_max is reported per term (e.g. 2021-2022-1), not per month")},
	{"unknown metric", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size':52}}",
	    BAD("metrics.class_size", "unknown metric \"class_size\"")},
	{"metrics empty", W_SCHOOL, J, "{'school':'3132000001','period':'2021-2022-1','metrics':{}}",
	    BAD("metrics", "\"metrics\" is empty")},
	{"metrics an array", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':[52]}",
	    BAD("metrics", "\"metrics\" must be an object")},
	{"no metrics", W_SCHOOL, J, "{'school':'3132000001','period':'2021-2022-1'}",
	    BAD("metrics", "missing \"metrics\"")},
	{"school and unit", W_REPORTER, J,
	    "{'school':'3132000001','unit':'320703','period':'2021-2022-1','metrics':"
	    "{'class_size_max':52}}",
	    BAD("unit", "both \"school\" and \"unit\" given")},
	{"school a number", W_SCHOOL, J,
	    "{'school':3132000001,'period':'2021-2022-1','metrics':{'class_size_max':52}}",
	    BAD("school", "\"school\" must be a string (a unit code), got a number")},
	{"school empty", W_SCHOOL, J,
	    "{'school':'','period':'2021-2022-1','metrics':{'class_size_max':52}}",
	    BAD("school", "the unit code is empty")},
	{"school code too long", W_SCHOOL, J,
	    "{'school':'31320000013132000001313200000131320000013132000001313200000131320',"
	    "'period':'2021-2022-1','metrics':{'class_size_max':52}}",
	    BAD("school", "is longer than 64 bytes")},
	{"negative count", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2022-03','metrics':{'emergency_drills':-1}}",
	    BAD("metrics.emergency_drills", "emergency_drills: negative count -1")},
	{"fractional count", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':52.5}}",
	    BAD("metrics.class_size_max", "class_size_max: 52.5 is not a whole number")},
	{"count out of range", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':250}}",
	    BAD("metrics.class_size_max", "class_size_max: 250 is outside 0..200")},
	{"count not finite", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':1e400}}",
	    BAD("metrics.class_size_max", "class_size_max: number is not finite")},
	{"count as a string", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':'52'}}",
	    BAD("metrics.class_size_max", "class_size_max is a count: expected a number, got a "
					  "string")},
	{"count as an object", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':"
	    "{'numerator':1,'denominator':2}}}",
	    BAD("metrics.class_size_max", "expected a number, got an object")},
	{"rate as a percentage", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':98}}",
	    BAD("metrics.junior_progression_rate", "98 looks like a percentage")},
	{"rate as a fraction", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':"
	    "{'junior_progression_rate':0.98}}",
	    BAD("metrics.junior_progression_rate", "not a bare number")},
	{"rate as a string", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':"
	    "{'junior_progression_rate':'98%'}}",
	    BAD("metrics.junior_progression_rate", "got a string")},
	{"numerator above denominator", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':51,'denominator':50}}}",
	    BAD("metrics.junior_progression_rate.numerator", "numerator 51 is above denominator "
							     "50")},
	{"denominator 0", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':0,'denominator':0}}}",
	    BAD("metrics.junior_progression_rate.denominator", "denominator must be positive")},
	{"fractional and negative numerator", W_SCHOOL, J,
	    "[{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':2.5,'denominator':50}}},"
	    "{'school':'3132000001','period':'2019-2020','metrics':{'junior_progression_rate':"
	    "{'numerator':-1,'denominator':50}}}]",
	    BAD("[0].metrics.junior_progression_rate.numerator|"
		"[1].metrics.junior_progression_rate.numerator",
		"numerator 2.5 is not a non-negative whole number")},
	{"numerator and denominator above 2^53", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':1e16,'denominator':1e17}}}",
	    BAD("metrics.junior_progression_rate.numerator|"
		"metrics.junior_progression_rate.denominator",
		"numerator 10000000000000000 is too large (at most 2^53)")},
	{"numerator not finite", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':-1e999,'denominator':50}}}",
	    BAD("metrics.junior_progression_rate.numerator", "numerator: number is not finite")},
	{"extra field in a rate", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':49,'denominator':50,'percent':98}}}",
	    BAD("metrics.junior_progression_rate.percent", "unknown field \"percent\" in a rate")},
	{"missing denominator, numerator a string", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2020-2021','metrics':{'junior_progression_rate':"
	    "{'numerator':'49'}}}",
	    BAD("metrics.junior_progression_rate.numerator|"
		"metrics.junior_progression_rate.denominator",
		"numerator must be a number, got a string")},
	{"rate inside its bounds", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-Q4','metrics':{'bounded_rate':"
	    "{'numerator':9,'denominator':10}}}",
	    OK(1)},
	{"rate outside its bounds", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-Q4','metrics':{'bounded_rate':"
	    "{'numerator':1,'denominator':4}}}",
	    BAD("metrics.bounded_rate", "bounded_rate: 1/4 = 0.25 is outside 0.5..0.9")},
	{"CSV rate outside its bounds", W_SCHOOL, C, "3132000001,2021-Q4,bounded_rate,,19,20\n",
	    BAD("row 1", "bounded_rate: 19/20 = 0.95 is outside 0.5..0.9")},
	{"percent given for a fraction", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'share_fraction':45}}",
	    BAD("metrics.share_fraction", "45 looks like a percent given where a fraction is "
					  "expected (write 0.45)")},
	{"fraction above max", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'share_fraction':101}}",
	    BAD("metrics.share_fraction", "share_fraction: 101 is outside 0..1")},
	{"metric of another unit kind", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021','metrics':{'new_school_places':100}}",
	    BAD("metrics.new_school_places",
		"new_school_places is not reported by a school (it is reported by: district)")},
	{"metric of another stage", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021','metrics':{'preschool_inclusive_coverage':"
	    "{'numerator':1,'denominator':2}}}",
	    BAD("metrics.preschool_inclusive_coverage",
		"preschool_inclusive_coverage applies to stages preschool; 3132000001 has "
		"stages junior")},
	{"school names a district", W_REPORTER, J,
	    "{'school':'320703','period':'2021','metrics':{'new_school_places':1}}",
	    BAD("school", "\"320703\" is a district, not a school")},
	{"unit names a school", W_REPORTER, J,
	    "{'unit':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':1}}",
	    BAD("unit", "\"3132000001\" is a school, not an office")},
	{"same figure twice in a batch", W_SCHOOL, J, "[" JOK "," JOK "]",
	    BAD("[1].metrics.class_size_max",
		"class_size_max for 3132000001 in 2021-2022-1 is given twice (first at "
		"[0].metrics.class_size_max)")},
	{"submission_id empty", W_SCHOOL, J,
	    "{'submission_id':'','school':'3132000001','period':'2022-03','metrics':"
	    "{'emergency_drills':1}}",
	    BAD("submission_id", "1 to 128 printable ASCII")},
	{"submission_id not ASCII", W_SCHOOL, J,
	    "{'submission_id':'提交1','school':'3132000001','period':'2022-03','metrics':"
	    "{'emergency_drills':1}}",
	    BAD("submission_id", "1 to 128 printable ASCII")},
	{"submission_id a number", W_SCHOOL, J,
	    "{'submission_id':7,'school':'3132000001','period':'2022-03','metrics':"
	    "{'emergency_drills':1}}",
	    BAD("submission_id", "1 to 128 printable ASCII")},
	{"empty batch", W_SCHOOL, J, "[]", BAD("", "empty batch")},
	{"root a string", W_SCHOOL, J, "'3132000001'", BAD("", "got a string")},
	{"batch item not an object", W_SCHOOL, J, "[" JOK ",[1]]", BAD("[1]", "got an array")},
	{"batch all or nothing", W_SCHOOL, J,
	    "[" JOK ",{'school':'3132000001','period':'2021-2022-2','metrics':"
	    "{'class_size_max':520}}]",
	    BAD("[1].metrics.class_size_max", "520 is outside 0..200")},
	{"many problems in one object", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2022-04','extra':1,'metrics':{'emergency_drills':"
	    "-2,'nope':1,'class_size_max':1.5}}",
	    BAD("extra|period|metrics.emergency_drills|metrics.nope|metrics.class_size_max",
		"unknown field \"extra\"")},

	/* Too large. */
	{"too many metrics", W_SCHOOL, J,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'class_size_max':1,"
	    "'large_classes':0,'super_large_classes':0,'classes_total':1}}",
	    BIG3},
	{"too many objects", W_SCHOOL, J, "[" JOK "," JOK "," JOK "," JOK "]", BIG3},
	{"too many rows", W_SCHOOL, C,
	    "school,period,metric,value,numerator,denominator\n"
	    "3132000001,2021-2022-1,class_size_max,1,,\n3132000001,2021-2022-1,large_classes,0,,\n"
	    "3132000001,2021-2022-1,classes_total,1,,\n3132000001,2022-03,emergency_drills,1,,\n",
	    BIG3},
	{"three is not too many", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,1,,\n3132000001,2021-2022-1,large_classes,0,,\n"
	    "3132000001,2021-2022-1,classes_total,1,,\n",
	    OK3(3)},

	/* CSV. */
	{"CSV without header", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,52,,\n"
	    "3132000001,2020-2021,junior_progression_rate,,49,50",
	    OK(2)},
	{"CSV with header", W_SCHOOL, C,
	    "school,period,metric,value,numerator,denominator\n"
	    "3132000001,2021-2022-1,class_size_max,52,,\n",
	    OK(1)},
	{"CSV from Excel", W_SCHOOL, C,
	    "\xef\xbb\xbfSchool,Period,Metric,Value,Numerator,Denominator\r\n"
	    "\"3132000001\",2021-2022-1,class_size_max,\"52\",,\r\n"
	    "\r\n"
	    "3132000001 , 2022-03 ,emergency_drills, 2 ,,\r\n"
	    "3132000001,2020-2021,junior_progression_rate,,\"49\",\"50\"",
	    OK(3)},
	{"CSV from Excel, empty rows", W_SCHOOL, C,
	    "school,period,metric,value,numerator,denominator\r\n"
	    "3132000001,2021-2022-1,class_size_max,52,,\r\n"
	    ",,,,,\r\n"
	    " , ,,,,\r\n",
	    OK(1)},
	{"CSV from Excel, comma in a quoted field", W_SCHOOL, C,
	    "\xef\xbb\xbfschool,period,metric,value,numerator,denominator\r\n"
	    "3132000001,2021-2022-1,class_size_max,\"52,5\",,\r\n",
	    BAD("row 2.value", "\"52,5\" is not a number")},
	{"CSV reporter: own figure and a school", W_REPORTER, C,
	    "320703,2021,new_school_places,6590,,\n2132000001,2021-2022-1,class_size_max,45,,\n",
	    OK(2)},
	{"CSV reporter: other district", W_REPORTER, C,
	    "320703,2021,new_school_places,6590,,\n2132000100,2021-2022-1,class_size_max,45,,\n",
	    FORB("unit \"2132000100\" " REACH)},
	{"CSV wrong field count", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,52,,\n3132000001,2021-2022-2,class_size_max,52\n",
	    BAD("row 2", "expected 6 fields (school,period,metric,value,numerator,denominator), "
			 "got 4")},
	{"CSV wrong header", W_SCHOOL, C,
	    "school,period,metric,value,num,den\n3132000001,2021-2022-1,class_size_max,52,,\n",
	    BAD("row 1", "the header row must be exactly")},
	{"CSV rate with a percentage", W_SCHOOL, C,
	    "3132000001,2020-2021,junior_progression_rate,98,,\n",
	    BAD("row 1.value|row 1.numerator|row 1.denominator", "98 looks like a percentage")},
	{"CSV count with numerator", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,52,52,\n",
	    BAD("row 1.numerator", "class_size_max is a count: leave numerator empty")},
	{"CSV missing value", W_SCHOOL, C, "3132000001,2021-2022-1,class_size_max,,,\n",
	    BAD("row 1.value", "missing value for class_size_max")},
	{"CSV value with a percent sign", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,52%,,\n",
	    BAD("row 1.value", "\"52%\" is not a number (write a fraction")},
	{"CSV unknown metric", W_SCHOOL, C, "3132000001,2021-2022-1,class_size,52,,\n",
	    BAD("row 1.metric", "unknown metric \"class_size\"")},
	{"CSV wrong period kind", W_SCHOOL, C, "3132000001,2021-09,class_size_max,52,,\n",
	    BAD("row 1.period", "class_size_max is reported per term")},
	{"CSV empty school", W_SCHOOL, C, ",2021-2022-1,class_size_max,52,,\n",
	    BAD("row 1.school", "the unit code is empty")},
	{"CSV same figure twice", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,52,,\n3132000001,2021-2022-1,class_size_max,53,,\n",
	    BAD("row 2", "is given twice (first at row 1)")},
	{"CSV numerator above denominator", W_SCHOOL, C,
	    "3132000001,2020-2021,junior_progression_rate,,51,50\n",
	    BAD("row 1.numerator", "numerator 51 is above denominator 50")},
	{"CSV infinite value", W_SCHOOL, C, "3132000001,2021-2022-1,class_size_max,1e999,,\n",
	    BAD("row 1.value", "class_size_max: number is not finite")},
	{"CSV empty body", W_SCHOOL, C, "", BAD("", "no data rows")},
	{"CSV header only", W_SCHOOL, C, "SCHOOL,period,metric,value,numerator,denominator\r\n",
	    BAD("", "no data rows")},
	{"CSV unterminated quote", W_SCHOOL, C,
	    "3132000001,2021-2022-1,class_size_max,52,,\n3132000001,\"2021-2022-2,x\n",
	    MALF("malformed CSV at byte 43: line 2")},
};

/*
 * Criterion may run each parameter in a fresh process image, where pointers
 * into this one mean nothing: pass the index into the static table.
 */
ParameterizedTestParameters(payload, requests)
{
	static size_t idx[ARRAY_LEN(cases)];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_LEN(idx));
}

ParameterizedTest(size_t *ip, payload, requests)
{
	const struct pcase *c = &cases[*ip];
	struct payload *p = (struct payload *)&p; /* must be reset */
	struct payload_result res;
	enum payload_status st;
	char *doc;
	cJSON *parsed;

	memset(&res, 0xa5, sizeof res); /* must be reset too */
	st = run(c->who, c->csv, c->body, c->max_obs ? c->max_obs : 1000, &p, &res);
	cr_assert_eq(st, c->status, "%s: status %d, expected %d: %s%s%s", c->name, st, c->status,
	    st != PAYLOAD_OK ? res.message : "",
	    st == PAYLOAD_INVALID ? " / " : "",
	    st == PAYLOAD_INVALID ? res.issues[0].message : "");
	cr_assert_eq(res.status, st, "%s", c->name);
	if (st == PAYLOAD_OK) {
		cr_assert_not_null(p, "%s", c->name);
		cr_assert_eq(p->nobs, c->nobs, "%s: %zu observations", c->name, p->nobs);
		cr_assert_null(res.message);
		cr_assert_eq(res.nissues, 0);
		payload_free(p);
		return;
	}
	cr_assert_null(p, "%s: nothing is half-accepted", c->name);
	cr_assert_not_null(res.message, "%s", c->name);
	if (st == PAYLOAD_INVALID) {
		char *paths = joined_paths(&res);

		cr_assert_str_eq(paths, c->paths, "%s", c->name);
		cr_assert(strstr(res.issues[0].message, c->phrase) != NULL, "%s: \"%s\"", c->name,
		    res.issues[0].message);
		free(paths);
	} else {
		cr_assert_eq(res.nissues, 0, "%s", c->name);
		cr_assert(strstr(res.message, c->phrase) != NULL, "%s: \"%s\"", c->name,
		    res.message);
	}
	/* The error document is valid JSON carrying the same message. */
	doc = payload_result_json(&res);
	parsed = cJSON_Parse(doc);
	cr_assert_not_null(parsed, "%s: %s", c->name, doc);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(parsed, "message")->valuestring,
	    res.message);
	cJSON_Delete(parsed);
	free(doc);
	payload_result_clear(&res);
}

Test(payload, role_names)
{
	for (int r = 0; r < ROLE_COUNT; r++) {
		enum role back;

		cr_assert_eq(role_parse(role_name(r), &back), 0);
		cr_assert_eq(back, (enum role)r);
	}
	cr_assert_str_eq(role_name(ROLE_REPORTER), "reporter");
	cr_assert_str_eq(role_name(ROLE_COUNT), "unknown");
	cr_assert_eq(role_parse("Admin", &(enum role){0}), -1);
}

Test(payload, rate_of_49_in_50_is_stored_as_098)
{
	struct payload *p;
	struct payload_result res;
	const struct observation *o;

	cr_assert_eq(run(W_SCHOOL, J,
			 "{'school':'3132000001','period':'2020-2021','submission_id':'k1',"
			 "'metrics':{'junior_progression_rate':{'numerator':49,'denominator':50}}}",
			 1000, &p, &res),
	    PAYLOAD_OK);
	cr_assert_eq(p->nobs, 1);
	o = &p->obs[0];
	cr_assert_eq(o->unit, registry_by_code(reg, "3132000001"));
	cr_assert_eq(o->metric, catalog_by_code(cat, "junior_progression_rate"));
	cr_assert(o->has_ratio);
	cr_assert_not(o->has_value);
	cr_assert_eq(o->numerator, 49);
	cr_assert_eq(o->denominator, 50);
	cr_assert_eq(o->value, 0.98, "0.98 exactly, so that >= 98%% holds");
	cr_assert(o->value >= 0.98);
	cr_assert_str_eq(o->period_text, "2020-2021");
	cr_assert_eq(o->period.kind, PERIOD_SCHOOL_YEAR);
	cr_assert_eq(o->period.start, date_from_civil(2020, 9, 1));
	cr_assert_eq(o->period.end, date_from_civil(2021, 9, 1));
	cr_assert_str_eq(p->client_key, "k1");
	payload_free(p);
}

Test(payload, csv_rate_of_49_in_50_is_stored_as_098)
{
	struct payload *p;
	struct payload_result res;

	cr_assert_eq(run(W_SCHOOL, C, "3132000001,2020-2021,junior_progression_rate,,49,50\r\n",
			 1000, &p, &res),
	    PAYLOAD_OK);
	cr_assert_eq(p->obs[0].value, 0.98);
	cr_assert_eq(p->obs[0].numerator, 49);
	cr_assert_null(p->client_key);
	payload_free(p);
}

Test(payload, observations_keep_request_order)
{
	struct payload *p;
	struct payload_result res;

	cr_assert_eq(run(W_REPORTER, J,
			 "[{'unit':'320703','period':'2021','metrics':{'new_school_places':6590,"
			 "'star_guidance_centres_new':2}},"
			 "{'school':'2132000001','period':'2021-2022-1','metrics':"
			 "{'class_size_max':45,'classes_total':24}},"
			 "{'school':'3132000001','submission_id':'ignored','period':'2022-03-14',"
			 "'metrics':{'daily_exercise_minutes':62.5,'sick_absence_rate':"
			 "{'numerator':3,'denominator':600}}}]",
			 1000, &p, &res),
	    PAYLOAD_OK);
	cr_assert_eq(p->nobs, 6);
	cr_assert_str_eq(p->obs[0].metric->code, "new_school_places");
	cr_assert_str_eq(p->obs[0].unit->code, "320703");
	cr_assert_eq(p->obs[0].value, 6590);
	cr_assert(p->obs[0].has_value);
	cr_assert_str_eq(p->obs[1].metric->code, "star_guidance_centres_new");
	cr_assert_str_eq(p->obs[2].metric->code, "class_size_max");
	cr_assert_str_eq(p->obs[2].unit->code, "2132000001");
	cr_assert_str_eq(p->obs[2].period_text, "2021-2022-1");
	cr_assert_str_eq(p->obs[3].metric->code, "classes_total");
	cr_assert_eq(p->obs[3].value, 24);
	cr_assert_str_eq(p->obs[4].metric->code, "daily_exercise_minutes");
	cr_assert_eq(p->obs[4].value, 62.5);
	cr_assert_str_eq(p->obs[5].metric->code, "sick_absence_rate");
	cr_assert_eq(p->obs[5].value, 3.0 / 600.0);
	cr_assert_eq(p->obs[5].period.kind, PERIOD_DAY);
	cr_assert_str_eq(p->client_key, "ignored", "the first submission_id given");
	payload_free(p);
}

Test(payload, negative_zero_is_stored_as_zero)
{
	struct payload *p;
	struct payload_result res;

	cr_assert_eq(run(W_SCHOOL, J,
			 "{'school':'3132000001','period':'2022-03-14','metrics':"
			 "{'daily_exercise_minutes':-0.0}}",
			 1000, &p, &res),
	    PAYLOAD_OK);
	cr_assert_eq(p->obs[0].value, 0);
	cr_assert_not(signbit(p->obs[0].value));
	payload_free(p);
}

/* The error document with every occurrence of code replaced by "X". */
static char *
doc_without(const struct payload_result *res, const char *code)
{
	char *doc = payload_result_json(res), *hit;
	struct buf b;
	const char *p = doc;

	buf_init(&b);
	while ((hit = strstr(p, code)) != NULL) {
		buf_append(&b, p, (size_t)(hit - p));
		buf_puts(&b, "X");
		p = hit + strlen(code);
	}
	buf_puts(&b, p);
	free(doc);
	return buf_steal(&b);
}

Test(payload, unknown_and_foreign_codes_answer_alike)
{
	/* Existing foreign school, unknown code, inactive school, a district. */
	static const char *const codes[] = {"2132000001", "2132000077", "2132000009", "320706",
		"3207"};
	static const char *const shapes[] = {
		"{'school':'%s','period':'2021-2022-1','metrics':{'class_size_max':40}}",
		"{'unit':'%s','period':'2021-2022-1','metrics':{'class_size_max':40}}",
		"{'school':'%s','period':'2099-13','metrics':{'nope':-1}}",
		"[" JOK ",{'school':'%s','period':'2021','metrics':{'new_school_places':5}}]",
	};
	char *first = NULL;

	for (size_t s = 0; s < ARRAY_LEN(shapes); s++) {
		for (size_t i = 0; i < ARRAY_LEN(codes); i++) {
			char body[512];
			struct payload *p;
			struct payload_result res;
			char *doc;

			snprintf(body, sizeof body, shapes[s], codes[i]);
			cr_assert_eq(run(W_SCHOOL, J, body, 1000, &p, &res), PAYLOAD_FORBIDDEN,
			    "%s", body);
			doc = doc_without(&res, codes[i]);
			if (first == NULL)
				first = xstrdup(doc);
			cr_assert_str_eq(doc, first, "%s", body);
			free(doc);
			payload_result_clear(&res);
		}
	}
	cr_assert_str_eq(first,
	    "{\"error\":\"forbidden\",\"message\":\"unit \\\"X\\\" is not within this token's "
	    "reach\"}");
	free(first);
}

/* The registry of the fixture without 2132000001 and 2132000009. */
static struct registry *
registry_without_two(void)
{
	struct registry *r = registry_new();
	static const char *const keep[] = {"32", "3207", "320703", "320706", "3132000001",
		"2132000100"};

	for (size_t i = 0; i < ARRAY_LEN(keep); i++)
		registry_add(r, registry_by_code(reg, keep[i]));
	return r;
}

Test(payload, same_code_unknown_or_foreign_is_byte_identical)
{
	static const char *const bodies[] = {
		"{\"school\":\"2132000001\",\"period\":\"2021-2022-1\",\"metrics\":"
		"{\"class_size_max\":40}}",
		"{\"school\":\"2132000009\",\"period\":\"2021-2022-1\",\"metrics\":"
		"{\"class_size_max\":40}}",
		"2132000001,2021-2022-1,class_size_max,40,,\n",
		"2132000009,2099-13,nope,x,,\n",
	};
	struct registry *other = registry_without_two();

	for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
		struct payload_ctx known = ctx_for(W_SCHOOL, 1000), unknown = known;
		struct payload_result a, b;
		struct payload *p;
		char *da, *db;
		bool csv = bodies[i][0] != '{';
		size_t len = strlen(bodies[i]);

		unknown.registry = other;
		cr_assert_null(registry_by_code(other, "2132000001"));
		if (csv) {
			cr_assert_eq(payload_parse_csv(&known, bodies[i], len, &p, &a),
			    PAYLOAD_FORBIDDEN);
			cr_assert_eq(payload_parse_csv(&unknown, bodies[i], len, &p, &b),
			    PAYLOAD_FORBIDDEN);
		} else {
			cr_assert_eq(payload_parse_json(&known, bodies[i], len, &p, &a),
			    PAYLOAD_FORBIDDEN);
			cr_assert_eq(payload_parse_json(&unknown, bodies[i], len, &p, &b),
			    PAYLOAD_FORBIDDEN);
		}
		da = payload_result_json(&a);
		db = payload_result_json(&b);
		cr_assert_str_eq(da, db, "body %zu", i);
		free(da);
		free(db);
		payload_result_clear(&a);
		payload_result_clear(&b);
	}
	registry_free(other);
}

Test(payload, csv_unknown_and_foreign_codes_answer_alike)
{
	struct payload *p;
	struct payload_result a, b;
	char *da, *db;

	cr_assert_eq(run(W_REPORTER, C, "2132000100,2021-2022-1,class_size_max,1,,\n", 1000, &p,
			 &a),
	    PAYLOAD_FORBIDDEN);
	cr_assert_eq(run(W_REPORTER, C, "2132000177,2021-2022-1,class_size_max,1,,\n", 1000, &p,
			 &b),
	    PAYLOAD_FORBIDDEN);
	da = doc_without(&a, "2132000100");
	db = doc_without(&b, "2132000177");
	cr_assert_str_eq(da, db);
	free(da);
	free(db);
	payload_result_clear(&a);
	payload_result_clear(&b);
}

Test(payload, error_document_for_422)
{
	struct payload *p;
	struct payload_result res;
	char *doc;

	cr_assert_eq(run(W_SCHOOL, J,
			 "{'school':'3132000001','period':'2021-2022-1','metrics':"
			 "{'class_size_max':250,'x\\n':1}}",
			 1000, &p, &res),
	    PAYLOAD_INVALID);
	doc = payload_result_json(&res);
	cr_assert_str_eq(doc,
	    "{\"error\":\"invalid_submission\","
	    "\"message\":\"the submission has 2 problems; nothing was stored\","
	    "\"details\":[{\"path\":\"metrics.class_size_max\","
	    "\"message\":\"class_size_max: 250 is outside 0..200\"},"
	    "{\"path\":\"metrics.x\\n\",\"message\":\"unknown metric \\\"x\\n\\\"\"}]}");
	free(doc);
	payload_result_clear(&res);
	cr_assert_null(res.message);
	cr_assert_eq(res.nissues, 0);
	payload_result_clear(&res); /* twice is harmless */
}

Test(payload, error_documents_for_400_403_413)
{
	struct payload *p;
	struct payload_result res;
	char *doc;

	cr_assert_eq(run(W_SCHOOL, J, "{'school':'3132000001\\u0000'}", 1000, &p, &res),
	    PAYLOAD_MALFORMED);
	cr_assert_eq(res.offset, 21);
	doc = payload_result_json(&res);
	cr_assert_str_eq(doc, "{\"error\":\"malformed_body\",\"message\":\"malformed JSON at byte "
			      "21: \\\\u0000 (NUL) in a string is not accepted\",\"offset\":21}");
	free(doc);
	payload_result_clear(&res);

	cr_assert_eq(run(W_MONITOR, J, JOK, 1000, &p, &res), PAYLOAD_FORBIDDEN);
	doc = payload_result_json(&res);
	cr_assert_str_eq(doc, "{\"error\":\"forbidden\",\"message\":\"a monitor token cannot "
			      "submit figures\"}");
	free(doc);
	payload_result_clear(&res);

	cr_assert_eq(run(W_SCHOOL, J, "[" JOK "," JOK "]", 1, &p, &res), PAYLOAD_TOO_LARGE);
	doc = payload_result_json(&res);
	cr_assert_str_eq(doc, "{\"error\":\"too_many_observations\",\"message\":\"the request "
			      "holds 2 observations; the limit is 1 per request\"}");
	free(doc);
	payload_result_clear(&res);
}

Test(payload, malformed_json_offset_is_reported)
{
	struct payload *p;
	struct payload_result res;
	char want[64];

	/* The duplicate "school" key starts at byte 23. */
	cr_assert_eq(run(W_SCHOOL, J,
			 "{'school':'3132000001','school':'2132000001','period':'2022-03',"
			 "'metrics':{'emergency_drills':1}}",
			 1000, &p, &res),
	    PAYLOAD_MALFORMED);
	cr_assert_eq(res.offset, 23);
	snprintf(want, sizeof want, "malformed JSON at byte %zu: ", res.offset);
	cr_assert(strncmp(res.message, want, strlen(want)) == 0, "%s", res.message);
	payload_result_clear(&res);
}

Test(payload, issues_are_capped_at_100)
{
	struct buf b;
	struct payload *p;
	struct payload_result res;
	struct payload_ctx ctx = ctx_for(W_SCHOOL, 1000);

	buf_init(&b);
	buf_puts(&b, "{\"school\":\"3132000001\",\"period\":\"2021-2022-1\",\"metrics\":{");
	for (int i = 0; i < 150; i++)
		buf_printf(&b, "%s\"m%d\":1", i > 0 ? "," : "", i);
	buf_puts(&b, "}}");
	cr_assert_eq(payload_parse_json(&ctx, b.data, b.len, &p, &res), PAYLOAD_INVALID);
	cr_assert_eq(res.nissues, 101);
	cr_assert_str_eq(res.issues[0].path, "metrics.m0");
	cr_assert_str_eq(res.issues[99].path, "metrics.m99");
	cr_assert_str_eq(res.issues[100].path, "");
	cr_assert_str_eq(res.issues[100].message, "... and 50 more problems not listed");
	cr_assert_str_eq(res.message, "the submission has 150 problems; nothing was stored");
	payload_result_clear(&res);
	buf_free(&b);
}

Test(payload, long_codes_are_cut_in_messages)
{
	struct payload *p;
	struct payload_result res;
	char body[1024];
	char code[201];

	memset(code, 'a', 200);
	code[200] = '\0';
	snprintf(body, sizeof body,
	    "{'school':'3132000001','period':'2021-2022-1','metrics':{'%s':1}}", code);
	cr_assert_eq(run(W_SCHOOL, J, body, 1000, &p, &res), PAYLOAD_INVALID);
	cr_assert_eq(strlen(res.issues[0].path), strlen("metrics.") + 64 + 3);
	cr_assert(strstr(res.issues[0].message, "aaa...\"") != NULL, "%s", res.issues[0].message);
	payload_result_clear(&res);
}

Test(payload, every_shipped_metric_round_trips_through_csv)
{
	/* One valid row per catalog metric, written by the admin. */
	static const struct {
		enum period_kind kind;
		const char *period;
	} periods[] = {
		{PERIOD_DAY, "2022-03-14"},
		{PERIOD_WEEK, "2022-W10"},
		{PERIOD_MONTH, "2022-02"},
		{PERIOD_QUARTER, "2021-Q4"},
		{PERIOD_TERM, "2021-2022-1"},
		{PERIOD_SCHOOL_YEAR, "2020-2021"},
		{PERIOD_YEAR, "2021"},
	};
	struct buf b;
	struct payload *p;
	struct payload_result res;
	struct payload_ctx ctx = ctx_for(W_ADMIN, 1000);
	size_t n = catalog_count(cat);

	buf_init(&b);
	buf_puts(&b, "school,period,metric,value,numerator,denominator\r\n");
	for (size_t i = 0; i < n; i++) {
		const struct metric *m = catalog_get(cat, i);
		const char *unit = "2132000002";
		const char *period = NULL;

		if (m->unit_kinds & UNIT_KIND_BIT(UNIT_DISTRICT))
			unit = "320703";
		else if (m->unit_kinds & UNIT_KIND_BIT(UNIT_CHILDCARE))
			unit = "C320703001";
		else if (m->unit_kinds & UNIT_KIND_BIT(UNIT_GUIDANCE_POINT))
			unit = "G320703001";
		else if (m->stages == STAGE_BIT(STAGE_PRESCHOOL))
			unit = "1132000001";
		else if (m->stages == STAGE_BIT(STAGE_SENIOR))
			unit = "3432000001";
		for (size_t k = 0; k < ARRAY_LEN(periods); k++)
			if (periods[k].kind == m->period_kind)
				period = periods[k].period;
		cr_assert_not_null(period);
		if (m->kind == METRIC_RATE)
			buf_printf(&b, "%s,%s,%s,,1,2\r\n", unit, period, m->code);
		else
			buf_printf(&b, "%s,%s,%s,%g,,\r\n", unit, period, m->code,
			    m->max < 1 ? m->max : 1.0);
	}
	cr_assert_eq(payload_parse_csv(&ctx, b.data, b.len, &p, &res), PAYLOAD_OK, "%s: %s",
	    res.message, res.nissues ? res.issues[0].message : "");
	cr_assert_eq(p->nobs, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(p->obs[i].metric, catalog_get(cat, i));
	payload_free(p);
	buf_free(&b);
}

Test(payload, null_and_empty_results_free_cleanly)
{
	struct payload_result res;

	payload_free(NULL);
	payload_result_clear(NULL);
	memset(&res, 0, sizeof res);
	payload_result_clear(&res);
}
