/*
 * test_rules.c: the rule model's names and cmp_apply, the rules-file parser
 * (a table of bad rule texts with the exact error each must give),
 * comments, duplicate keys, the version hash, rules_load_dir, and the
 * shipped default pack deploy/rules against deploy/metrics.csv and every
 * target in TARGETS.md. Run from the repository root.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "registry.h"
#include "rules.h"
#include "util.h"

/* ---- helpers ---- */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	cr_assert_not_null(f, "cannot open %s (run the tests from the repository root)", path);
	buf_init(&b);
	buf_reserve(&b, 1);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

/* The shipped catalog; the caller frees it. */
static struct catalog *
shipped_catalog(void)
{
	struct catalog *cat = NULL;
	char *cause = NULL, *data;
	size_t len;

	data = slurp("deploy/metrics.csv", &len);
	cr_assert_eq(catalog_parse_csv(data, len, &cat, &cause), 0, "metrics.csv: %s", cause);
	free(data);
	return cat;
}

/* Write text to dir/name. */
static void
write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "cannot create %s", path);
	cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	cr_assert_eq(fclose(f), 0);
	free(path);
}

/* A new empty temporary directory; the caller removes it with rm_dir. */
static char *
make_dir(void)
{
	char *d = xstrdup("/tmp/edumon-test-rules-XXXXXX");

	cr_assert_not_null(mkdtemp(d));
	return d;
}

/* Remove dir and the files in it (no subdirectories), and free dir. */
static void
rm_dir(char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	cr_assert_eq(system(cmd), 0);
	free(cmd);
	free(dir);
}

/* Parse text as one file "t.json"; the set (caller frees) and *errors. */
static struct ruleset *
parse(const char *text, const struct catalog *cat, int *rc, char **errors)
{
	struct ruleset *set = ruleset_new();

	*errors = NULL;
	*rc = rules_parse(set, "t.json", text, strlen(text), cat, errors);
	return set;
}

/* ---- names and cmp_apply ---- */

Test(rules, names)
{
	static const char *const kinds[] = {"threshold", "missing", "trend", "dispersion", "quota"};
	static const char *const ops[] = {"<", "<=", ">", ">=", "==", "!="};
	static const char *const sev[] = {"ok", "info", "warning", "critical"};
	static const char *const sev_zh[] = {"正常", "提示", "预警", "严重"};

	for (int k = 0; k < RULE_KIND_COUNT; k++)
		cr_expect_str_eq(rule_kind_name((enum rule_kind)k), kinds[k]);
	for (int o = 0; o < OP_COUNT; o++)
		cr_expect_str_eq(cmp_op_name((enum cmp_op)o), ops[o]);
	for (int s = 0; s < SEV_COUNT; s++) {
		cr_expect_str_eq(severity_name((enum severity)s), sev[s]);
		cr_expect_str_eq(severity_name_zh((enum severity)s), sev_zh[s]);
	}
	cr_expect_str_eq(rule_scope_name(SCOPE_SCHOOL), "school");
	cr_expect_str_eq(rule_scope_name(SCOPE_DISTRICT), "district");
	cr_expect_str_eq(rule_scope_name(SCOPE_CITY), "city");
	cr_expect_str_eq(rule_kind_name(RULE_KIND_COUNT), "unknown");
	cr_expect_str_eq(rule_scope_name(SCOPE_COUNT), "unknown");
	cr_expect_str_eq(cmp_op_name(OP_COUNT), "?");
	cr_expect_str_eq(severity_name(SEV_COUNT), "unknown");
	cr_expect_str_eq(severity_name_zh(SEV_COUNT), "未知");
}

struct cmp_case {
	enum cmp_op op;
	double value;
	double bound;
	bool holds;
};

/* The truth table, with the boundaries the targets depend on. */
static const struct cmp_case cmp_cases[] = {
	/* ">= 98%" is met by exactly 49 of 50 */
	{OP_GE, 49.0 / 50.0, 0.98, true},
	{OP_LT, 49.0 / 50.0, 0.98, false},
	{OP_GE, 48.0 / 50.0, 0.98, false},
	{OP_LT, 48.0 / 50.0, 0.98, true},
	{OP_GE, 98.0 / 100.0, 0.98, true},
	{OP_EQ, 49.0 / 50.0, 0.98, true},
	/* class size: 55 fine, 56 warning, 66 critical */
	{OP_GE, 55, 56, false},
	{OP_GE, 56, 56, true},
	{OP_GE, 65, 66, false},
	{OP_GE, 66, 66, true},
	{OP_GT, 56, 56, false},
	{OP_GT, 57, 56, true},
	/* coverage floors */
	{OP_LT, 0.90, 0.90, false},
	{OP_LT, 9.0 / 10.0, 0.90, false},
	{OP_LT, 0.8999, 0.90, true},
	{OP_LE, 0.90, 0.90, true},
	{OP_LE, 0.9001, 0.90, false},
	/* a ceiling of 5% */
	{OP_GT, 0.05, 0.05, false},
	{OP_GT, 1.0 / 20.0, 0.05, false},
	{OP_GT, 0.0501, 0.05, true},
	/* counts that must be 0 */
	{OP_GT, 0, 0, false},
	{OP_GT, 1, 0, true},
	{OP_EQ, 0, 0, true},
	{OP_EQ, 1, 0, false},
	{OP_NE, 1, 0, true},
	{OP_NE, 0, 0, false},
	{OP_EQ, -0.0, 0.0, true},
	/* NaN never compares, not even with != */
	{OP_LT, NAN, 1, false},
	{OP_GE, NAN, 1, false},
	{OP_EQ, NAN, NAN, false},
	{OP_NE, NAN, 1, false},
	{OP_NE, 1, NAN, false},
	{OP_GT, INFINITY, 1e300, true},
	{OP_LT, -INFINITY, -1e300, true},
	/* not an operator */
	{OP_COUNT, 1, 0, false},
};

ParameterizedTestParameters(rules, cmp_apply)
{
	static int idx[ARRAY_LEN(cmp_cases)];

	for (size_t i = 0; i < ARRAY_LEN(cmp_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, rules, cmp_apply)
{
	const struct cmp_case *c = &cmp_cases[*i];

	cr_expect_eq(cmp_apply(c->op, c->value, c->bound), c->holds, "case %d: %.17g %s %.17g",
	    *i, c->value, cmp_op_name(c->op), c->bound);
}

/* ---- bad rule texts ---- */

/* One rule object in a file. */
#define FILE1(members) "{\"rules\": [{" members "}]}"
/* The members every rule needs, for kind K, metric M and scope S. */
#define BASE(k, m, s) \
	"\"id\": \"x\", \"title\": \"测试规则\", \"source\": \"001 §三 3\", \"kind\": \"" k \
	"\", \"metric\": \"" m "\", \"scope\": \"" s "\""
/* A valid threshold rule on class_size_max at school scope, and more members. */
#define CLASS(more) BASE("threshold", "class_size_max", "school") ", " more
#define WARN56 "\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 56}]"
#define RATE(more) BASE("threshold", "junior_progression_rate", "school") ", " more
#define RATE_DISTRICT(more) BASE("threshold", "junior_progression_rate", "district") ", " more
#define MISSING(more) BASE("missing", "sick_absence_rate", "school") more
#define TREND(more) BASE("trend", "sick_absence_rate", "school") ", " more
#define DISP(scope, more) BASE("dispersion", "equipment_value_per_pupil", scope) more
#define QUOTA(more) BASE("quota", "parent_school_sessions", "school") more

struct bad_case {
	const char *text;
	const char *error; /* a fragment of the errors */
};

static const struct bad_case bad_cases[] = {
	/* 0: typos must not pass silently */
	{FILE1(CLASS(WARN56 ", \"titel\": \"大班额\"")),
	    "t.json: rule x: \"titel\": unknown field (did you mean \"title\"?)"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \"=>\", \"value\": 56}]")),
	    "t.json: rule x: bands[0].op: \"=>\": expected one of <, <=, >, >=, ==, !="},
	{FILE1(RATE("\"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": 98}]")),
	    "t.json: rule x: bands[0].value: 98: 0.98 expected; rates are fractions"},
	{FILE1(RATE("\"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": -0.1}]")),
	    "t.json: rule x: bands[0].value: -0.1: rates are fractions in [0, 1]"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 560}]")),
	    "t.json: rule x: bands[0].value: 560: outside the range [0, 200] of metric "
	    "class_size_max"},
	/* 5: bands */
	{FILE1(CLASS("\"for\": 1")), "t.json: rule x: bands: missing: threshold rules need"},
	{FILE1(CLASS("\"bands\": []")), "t.json: rule x: bands: 0 bands: expected 1 to 4"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"info\", \"op\": \">=\", \"value\": 50}, "
	    "{\"severity\": \"warning\", \"op\": \">=\", \"value\": 56}, "
	    "{\"severity\": \"critical\", \"op\": \">=\", \"value\": 66}, "
	    "{\"severity\": \"critical\", \"op\": \">=\", \"value\": 70}, "
	    "{\"severity\": \"critical\", \"op\": \">=\", \"value\": 80}]")),
	    "t.json: rule x: bands: 5 bands: expected 1 to 4"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"ok\", \"op\": \">=\", \"value\": 56}]")),
	    "t.json: rule x: bands[0].severity: \"ok\" is not a breach"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"high\", \"op\": \">=\", \"value\": 56}]")),
	    "t.json: rule x: bands[0].severity: \"high\": expected one of info, warning, critical"},
	/* 10 */
	{FILE1(CLASS("\"bands\": [{\"severity\": \"critical\", \"op\": \">=\", \"value\": 66}, "
	    "{\"severity\": \"warning\", \"op\": \">=\", \"value\": 56}]")),
	    "t.json: rule x: bands[1].severity: warning after critical: list bands from the least "
	    "to the most severe"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 56}, "
	    "{\"severity\": \"warning\", \"op\": \">=\", \"value\": 66}]")),
	    "t.json: rule x: bands[1].severity: a second band of severity warning"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 66}, "
	    "{\"severity\": \"critical\", \"op\": \">=\", \"value\": 56}]")),
	    "t.json: rule x: bands[1].value: >= 56 is not inside bands[0] (>= 66)"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 56}, "
	    "{\"severity\": \"critical\", \"op\": \"<\", \"value\": 10}]")),
	    "t.json: rule x: bands[1].op: < after >=: bands of one rule use"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \"==\", \"value\": 56}, "
	    "{\"severity\": \"critical\", \"op\": \"==\", \"value\": 66}]")),
	    "t.json: rule x: bands[1].op: == after ==: bands of one rule use"},
	/* 15 */
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\"}]")),
	    "t.json: rule x: bands[0].value: missing"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"bound\": 56}]")),
	    "t.json: rule x: bands[0].\"bound\": unknown field"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": \"56\"}]")),
	    "t.json: rule x: bands[0].value: expected a number, got a string"},
	{FILE1(CLASS("\"bands\": [56]")),
	    "t.json: rule x: bands[0]: expected an object {\"severity\", \"op\", \"value\"}, got a "
	    "number"},
	{FILE1(CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 1e999}]")),
	    "t.json: rule x: bands[0].value: not a finite number"},
	/* 20: missing */
	{FILE1(MISSING(", \"grace_days\": 0, " WARN56)),
	    "t.json: rule x: bands: not used by missing rules"},
	{FILE1(MISSING("")), "t.json: rule x: grace_days: missing: missing rules need"},
	{FILE1(MISSING(", \"grace_days\": -1")),
	    "t.json: rule x: grace_days: -1: expected an integer from 0 to 366"},
	{FILE1("\"id\": \"x\", \"title\": \"缺报\", \"source\": \"s\", \"kind\": \"missing\", "
	    "\"scope\": \"school\", \"grace_days\": 0"),
	    "t.json: rule x: metric: missing: a code of the metric catalog"},
	{FILE1(BASE("missing", "dropout_return_rate", "district") ", \"grace_days\": 5"),
	    "t.json: rule x: scope: district: missing rules fire per reporting unit: expected "
	    "school"},
	/* 25: trend */
	{FILE1(BASE("trend", "myopia_rate", "school")), "t.json: rule x: trend: missing"},
	{FILE1(TREND("\"trend\": {\"mode\": \"weekly\"}")),
	    "t.json: rule x: trend.mode: \"weekly\": expected one of yoy, baseline"},
	{FILE1(TREND("\"trend\": {\"mode\": \"baseline\", \"factor\": 2}")),
	    "t.json: rule x: trend.days: missing (baseline mode needs it)"},
	{FILE1(TREND("\"trend\": {\"mode\": \"yoy\", \"direction\": \"decrease\", \"factor\": 2}")),
	    "t.json: rule x: trend.factor: not used in yoy mode"},
	{FILE1(TREND("\"trend\": {\"mode\": \"yoy\"}")),
	    "t.json: rule x: trend.direction: missing (yoy mode needs it)"},
	/* 30 */
	{FILE1(BASE("trend", "myopia_rate", "school")
	    ", \"trend\": {\"mode\": \"baseline\", \"days\": 14, \"factor\": 2}"),
	    "t.json: rule x: trend.mode: baseline compares a unit's recent days, but metric "
	    "myopia_rate is reported per school_year"},
	{FILE1(TREND("\"trend\": {\"mode\": \"baseline\", \"days\": 14, \"factor\": 2, "
	    "\"min_delta\": 2}")),
	    "t.json: rule x: trend.min_delta: 2: 0.02 expected; rates are fractions"},
	{FILE1(TREND("\"trend\": {\"mode\": \"baseline\", \"days\": 14, \"factor\": 0.5}")),
	    "t.json: rule x: trend.factor: 0.5: a spike is a rise: expected >= 1"},
	{FILE1(TREND("\"trend\": {\"mode\": \"yoy\", \"direction\": \"down\"}")),
	    "t.json: rule x: trend.direction: \"down\": expected one of decrease, increase"},
	/* dispersion */
	{FILE1(DISP("district", ", \"limit\": 0")),
	    "t.json: rule x: limit: 0: expected a coefficient of variation > 0"},
	/* 35 */
	{FILE1(DISP("school", ", \"limit\": 0.5")),
	    "t.json: rule x: scope: school: dispersion is across a district's or city's schools"},
	{FILE1(DISP("district", "")), "t.json: rule x: limit: missing: dispersion rules need"},
	{FILE1(BASE("dispersion", "junior_progression_rate", "district") ", \"limit\": 0.5"),
	    "t.json: rule x: metric: junior_progression_rate is a rate: dispersion is over"},
	/* quota */
	{FILE1(QUOTA(", \"quota\": 0")), "t.json: rule x: quota: 0: expected a count > 0"},
	{FILE1(QUOTA("")), "t.json: rule x: quota: missing: quota rules need"},
	/* 40 */
	{FILE1(BASE("quota", "myopia_rate", "school") ", \"quota\": 3"),
	    "t.json: rule x: metric: myopia_rate is a rate: quota rules add up a count"},
	{FILE1(QUOTA(", \"quota\": 3, \"quota_period\": \"yearly\"")),
	    "t.json: rule x: quota_period: \"yearly\": expected one of day, week, month, quarter, "
	    "term, school_year, year"},
	{FILE1(BASE("quota", "emergency_drills", "school") ", \"quota\": 1, \"quota_period\": "
	    "\"week\""),
	    "t.json: rule x: quota_period: week: metric emergency_drills is reported per month, "
	    "which does not fit in a week"},
	{FILE1(QUOTA(", \"quota\": 3, \"for\": 2")), "t.json: rule x: for: not used by quota rules"},
	/* metric and scope */
	{FILE1(BASE("threshold", "class_size", "school") ", " WARN56),
	    "t.json: rule x: metric: \"class_size\": not in the metric catalog (did you mean "
	    "class_size_max?)"},
	/* 45 */
	{FILE1(BASE("threshold", "standard_school_rate", "school")
	    ", \"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": 1}]"),
	    "t.json: rule x: scope: school: metric standard_school_rate is reported by offices "
	    "only"},
	{FILE1(BASE("threshold", "class_size_max", "county") ", " WARN56),
	    "t.json: rule x: scope: \"county\": expected one of school, district, city"},
	{FILE1(BASE("threshold", "class_size_max", "school") ", \"metric\": 7, " WARN56),
	    "t.json: line 1, column"},
	{FILE1("\"id\": \"x\", \"title\": \"测试\", \"source\": \"s\", \"kind\": \"threshold\", "
	    "\"metric\": 7, \"scope\": \"school\", " WARN56),
	    "t.json: rule x: metric: expected a string, got a number"},
	/* filters */
	{FILE1(CLASS(WARN56 ", \"filters\": {\"stages\": [\"middle\"]}")),
	    "t.json: rule x: filters.stages[0]: \"middle\": expected one of preschool, primary, "
	    "junior, senior, special, vocational"},
	/* 50 */
	{FILE1(RATE("\"filters\": {\"stages\": [\"primary\"]}, "
	    "\"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": 0.98}]")),
	    "t.json: rule x: filters.stages: primary: metric junior_progression_rate is reported "
	    "by junior only"},
	{FILE1(CLASS(WARN56 ", \"filters\": {\"stages\": [\"junior\", \"junior\"]}")),
	    "t.json: rule x: filters.stages[1]: \"junior\" listed twice"},
	{FILE1(CLASS(WARN56 ", \"filters\": {\"stages\": []}")),
	    "t.json: rule x: filters.stages: empty"},
	{FILE1(CLASS(WARN56 ", \"filters\": {\"urban\": \"yes\"}")),
	    "t.json: rule x: filters.urban: expected true or false, got a string"},
	{FILE1(CLASS(WARN56 ", \"filters\": {\"stage\": [\"junior\"]}")),
	    "t.json: rule x: filters.\"stage\": unknown field (did you mean \"stages\"?)"},
	/* 55: for, resolve_margin, completeness */
	{FILE1(CLASS(WARN56 ", \"for\": 0")),
	    "t.json: rule x: for: 0: expected an integer from 1 to 1000"},
	{FILE1(CLASS(WARN56 ", \"for\": 1.5")),
	    "t.json: rule x: for: 1.5: expected an integer from 1 to 1000"},
	{FILE1(CLASS(WARN56 ", \"resolve_margin\": -1")),
	    "t.json: rule x: resolve_margin: -1: must be >= 0"},
	{FILE1(RATE("\"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": 0.98}], "
	    "\"resolve_margin\": 5")),
	    "t.json: rule x: resolve_margin: 5: 0.05 expected; rates are fractions"},
	{FILE1(RATE_DISTRICT("\"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": "
	    "0.98}], \"completeness\": 0")),
	    "t.json: rule x: completeness: 0: expected a share in (0, 1]"},
	/* 60 */
	{FILE1(RATE_DISTRICT("\"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": "
	    "0.98}], \"completeness\": 1.5")),
	    "t.json: rule x: completeness: 1.5: expected a share in (0, 1]"},
	{FILE1(CLASS(WARN56 ", \"completeness\": 0.9")),
	    "t.json: rule x: completeness: only for district or city scope"},
	/* labels and message */
	{FILE1(CLASS(WARN56 ", \"labels\": {\"team\": 3}")),
	    "t.json: rule x: labels.\"team\": expected a string, got a number"},
	{FILE1(CLASS(WARN56 ", \"labels\": {\"Team\": \"safety\"}")),
	    "t.json: rule x: labels.\"Team\": label names are 1 to 64 of a-z 0-9 _"},
	{FILE1(CLASS(WARN56 ", \"labels\": [\"safety\"]")),
	    "t.json: rule x: labels: expected an object of strings, got an array"},
	/* 65 */
	{FILE1(CLASS(WARN56 ", \"message\": \"{school}的{metric}为{value}\"")),
	    "t.json: rule x: message: unknown placeholder {school} (known: unit, metric, value, "
	    "bound, op, period, severity)"},
	{FILE1(CLASS(WARN56 ", \"message\": \"班额{value\"")),
	    "t.json: rule x: message: \"{\" at byte 6 is not closed by \"}\""},
	{FILE1(CLASS(WARN56 ", \"message\": \"\"")), "t.json: rule x: message: empty string"},
	/* title, source, id, kind */
	{FILE1("\"id\": \"x\", \"title\": \"Large class\", \"source\": \"s\", \"kind\": "
	    "\"threshold\", \"metric\": \"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule x: title: \"Large class\": expected a Chinese title district staff "
	    "recognise"},
	{FILE1("\"id\": \"x\", \"source\": \"s\", \"kind\": \"threshold\", \"metric\": "
	    "\"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule x: title: missing"},
	/* 70 */
	{FILE1("\"id\": \"x\", \"title\": \"大\\n班额\", \"source\": \"s\", \"kind\": "
	    "\"threshold\", \"metric\": \"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule x: title: \"大\\n班额\": contains a control character"},
	{FILE1("\"id\": \"x\", \"title\": null, \"source\": \"s\", \"kind\": "
	    "\"threshold\", \"metric\": \"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule x: title: expected a string, got null"},
	{FILE1("\"id\": \"x\", \"title\": \"大班额\", \"source\": \"\", \"kind\": "
	    "\"threshold\", \"metric\": \"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule x: source: empty string"},
	{FILE1("\"id\": \"Class Size\", \"title\": \"大班额\", \"source\": \"s\", \"kind\": "
	    "\"threshold\", \"metric\": \"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule #1: id: \"Class Size\": expected 1 to 64 of a-z 0-9 _ . -"},
	{FILE1("\"id\": \"x0123456789012345678901234567890123456789012345678901234567890123\", "
	    "\"title\": \"大班额\", \"source\": \"s\", \"kind\": \"threshold\", \"metric\": "
	    "\"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule #1: id: \"x01234567890"},
	/* 75 */
	{FILE1("\"title\": \"大班额\", \"source\": \"s\", \"kind\": \"threshold\", \"metric\": "
	    "\"class_size_max\", \"scope\": \"school\", " WARN56),
	    "t.json: rule #1: id: missing"},
	{FILE1(BASE("thresh", "class_size_max", "school") ", " WARN56),
	    "t.json: rule x: kind: \"thresh\": expected one of threshold, missing, trend, "
	    "dispersion, quota"},
	/* the file as a whole */
	{"{\"rules\": [42]}", "t.json: rule #1: expected an object, got a number"},
	{"\"rules\"", "t.json: expected {\"rules\": [RULE, ...]} or [RULE, ...], got a string"},
	{"{\"rule\": []}", "t.json: \"rule\": unknown field (expected only \"rules\")"},
	/* 80 */
	{"{}", "t.json: rules: missing"},
	{"{\"rules\": {}}", "t.json: rules: expected an array of rules, got an object"},
	{"{\"rules\": [{\"id\": \"x\", \"id\": \"y\"}]}",
	    "t.json: line 1, column 24 (byte 23): duplicate key \"id\""},
	{"{\"rules\": [],}", "t.json: line 1, column 13 (byte 12): trailing comma"},
	{"{\"rules\": [\n/* never closed\n]}", "t.json: line 2, column 1 (byte 12): /* comment not "
	    "closed by */"},
	/* 85 */
	{FILE1("\"id\": \"x\", \"title\": \"大\\u0000\", \"source\": \"s\""),
	    "\\u0000 (NUL) in a string is not accepted"},
	{"{\"rules\": [1.00000000000000000000000000000000000000000000000000000000000000001]}",
	    "number longer than 63 characters"},
	{"", "t.json: line 1, column 1 (byte 0): "},
	{"{\"rules\": [{" CLASS(WARN56) "}, {" CLASS(WARN56) "}]}",
	    "t.json: rule x: id: rule id x defined twice in t.json"},
	{"[1, 2] // one line\n[3]", "t.json: line 2, column 1 (byte 19): "},
};

ParameterizedTestParameters(rules, bad_rule)
{
	static int idx[ARRAY_LEN(bad_cases)];

	for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, rules, bad_rule)
{
	const struct bad_case *c = &bad_cases[*i];
	struct catalog *cat = shipped_catalog();
	char *errors;
	int rc;
	struct ruleset *set = parse(c->text, cat, &rc, &errors);

	cr_expect_eq(rc, -1, "case %d: accepted: %s", *i, c->text);
	cr_expect_eq(set->nrules, 0, "case %d: the set changed", *i);
	cr_assert_not_null(errors, "case %d: no errors", *i);
	cr_expect_not_null(strstr(errors, c->error), "case %d: expected \"%s\" in:\n%s", *i,
	    c->error, errors);
	cr_expect_eq(errors[strlen(errors) - 1], '\n', "case %d: errors end with a newline", *i);
	free(errors);
	ruleset_free(set);
	catalog_free(cat);
}

Test(rules, bad_case_table_is_large)
{
	cr_expect_geq(ARRAY_LEN(bad_cases), 40);
}

/* Every problem of every rule is reported, not only the first. */
Test(rules, all_errors_collected)
{
	static const char text[] =
	    "{\"rules\": ["
	    "{" CLASS("\"bands\": [{\"severity\": \"warning\", \"op\": \"=>\", \"value\": 56}], "
	    "\"for\": 0") "},"
	    "{\"id\": \"y\", \"title\": \"Y\", \"source\": \"s\", \"kind\": \"quota\", \"metric\": "
	    "\"nope\", \"scope\": \"school\"},"
	    "7]}";
	struct catalog *cat = shipped_catalog();
	char *errors;
	int rc;
	struct ruleset *set = parse(text, cat, &rc, &errors);
	size_t lines = 0;

	cr_assert_eq(rc, -1);
	for (const char *p = errors; *p != '\0'; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 6, "%s", errors);
	cr_expect_not_null(strstr(errors, "t.json: rule x: bands[0].op: "));
	cr_expect_not_null(strstr(errors, "t.json: rule x: for: 0: "));
	cr_expect_not_null(strstr(errors, "t.json: rule y: metric: \"nope\": not in the metric "
	    "catalog"));
	cr_expect_not_null(strstr(errors, "t.json: rule y: title: \"Y\": "));
	cr_expect_not_null(strstr(errors, "t.json: rule y: quota: missing"));
	cr_expect_not_null(strstr(errors, "t.json: rule #3: expected an object, got a number"));
	free(errors);
	ruleset_free(set);
	catalog_free(cat);
}

/* Errors of a second call are appended to those of the first. */
Test(rules, errors_appended)
{
	struct ruleset *set = ruleset_new();
	char *errors = NULL;

	cr_assert_eq(rules_parse(set, "a.json", "{}", 2, NULL, &errors), -1);
	cr_assert_eq(rules_parse(set, "b.json", "[1]", 3, NULL, &errors), -1);
	cr_expect_str_eq(errors, "a.json: rules: missing (expected {\"rules\": [RULE, ...]})\n"
	    "b.json: rule #1: expected an object, got a number\n");
	free(errors);
	ruleset_free(set);
}

/* ---- good rules ---- */

Test(rules, parse_fields_and_defaults)
{
	static const char text[] =
	    "[{\"id\": \"b.two\", \"title\": \"初中毕业生升学率低于98%\", \"source\": \"001 §三 3\","
	    " \"kind\": \"threshold\", \"metric\": \"junior_progression_rate\", \"scope\": "
	    "\"district\", \"filters\": {\"stages\": [\"junior\"], \"urban\": false, \"public\": "
	    "true}, \"bands\": [{\"severity\": \"warning\", \"op\": \"<\", \"value\": 0.98}, "
	    "{\"severity\": \"critical\", \"op\": \"<\", \"value\": 0.9}], \"for\": 2, "
	    "\"resolve_margin\": 0.005, \"completeness\": 0.9, \"grace_days\": 30, "
	    "\"labels\": {\"team\": \"compulsory\", \"a\": \"1\"}, \"message\": \"{unit}{metric}为"
	    "{value}，{op}{bound}（{period}，{severity}）\"},"
	    " {\"id\": \"a.one\", \"title\": \"因病缺课率异常升高\", \"source\": \"002 §29\","
	    " \"kind\": \"trend\", \"metric\": \"sick_absence_rate\", \"scope\": \"school\","
	    " \"trend\": {\"mode\": \"baseline\", \"days\": 14, \"factor\": 2, \"min_delta\": 0.02}}]";
	struct catalog *cat = shipped_catalog();
	char *errors;
	int rc;
	struct ruleset *set = parse(text, cat, &rc, &errors);
	const struct rule *a, *b;

	cr_assert_eq(rc, 0, "%s", errors);
	cr_assert_null(errors);
	cr_assert_eq(set->nrules, 2);
	/* sorted by id */
	cr_expect_str_eq(set->rules[0].id, "a.one");
	cr_expect_str_eq(set->rules[1].id, "b.two");
	b = ruleset_find(set, "b.two");
	cr_assert_not_null(b);
	cr_expect_str_eq(b->title, "初中毕业生升学率低于98%");
	cr_expect_str_eq(b->source, "001 §三 3");
	cr_expect_str_eq(b->file, "t.json");
	cr_expect_eq(b->kind, RULE_THRESHOLD);
	cr_expect_str_eq(b->metric, "junior_progression_rate");
	cr_expect_eq(b->scope, SCOPE_DISTRICT);
	cr_expect_eq(b->stages, STAGE_BIT(STAGE_JUNIOR));
	cr_expect_eq(b->urban, 0);
	cr_expect_eq(b->is_public, 1);
	cr_expect_eq(b->nbands, 2);
	cr_expect_eq(b->bands[0].severity, SEV_WARNING);
	cr_expect_eq(b->bands[0].op, OP_LT);
	cr_expect_eq(b->bands[0].bound, 0.98);
	cr_expect_eq(b->bands[1].severity, SEV_CRITICAL);
	cr_expect_eq(b->bands[1].bound, 0.9);
	cr_expect_eq(b->for_periods, 2);
	cr_expect_eq(b->resolve_margin, 0.005);
	cr_expect_eq(b->completeness, 0.9);
	cr_expect_eq(b->grace_days, 30);
	cr_expect_eq(b->nlabels, 2);
	cr_expect_str_eq(b->labels[0].key, "team");
	cr_expect_str_eq(b->labels[0].value, "compulsory");
	cr_expect_str_eq(b->message, "{unit}{metric}为{value}，{op}{bound}（{period}，{severity}）");

	a = ruleset_find(set, "a.one");
	cr_assert_not_null(a);
	cr_expect_eq(a->kind, RULE_TREND);
	cr_expect_eq(a->trend_mode, TREND_BASELINE);
	cr_expect_eq(a->baseline_days, 14);
	cr_expect_eq(a->spike_factor, 2.0);
	cr_expect_eq(a->min_delta, 0.02);
	/* defaults */
	cr_expect_eq(a->nbands, 0);
	cr_expect_eq(a->stages, 0);
	cr_expect_eq(a->urban, -1);
	cr_expect_eq(a->is_public, -1);
	cr_expect_eq(a->for_periods, 1);
	cr_expect_eq(a->resolve_margin, 0);
	cr_expect_eq(a->completeness, 1);
	cr_expect_eq(a->grace_days, 0);
	cr_expect_eq(a->quota_period, PERIOD_YEAR);
	cr_expect_eq(a->nlabels, 0);
	cr_expect_null(a->message);
	cr_expect_null(ruleset_find(set, "c"));
	ruleset_free(set);
	catalog_free(cat);
}

/* Without a catalog, metric codes are not checked. */
Test(rules, no_catalog)
{
	static const char text[] = FILE1(BASE("threshold", "anything", "school") ", "
	    "\"bands\": [{\"severity\": \"warning\", \"op\": \">\", \"value\": 98}]");
	char *errors;
	int rc;
	struct ruleset *set = parse(text, NULL, &rc, &errors);

	cr_expect_eq(rc, 0, "%s", errors);
	cr_expect_eq(set->nrules, 1);
	ruleset_free(set);
}

/* A rules_parse that fails leaves the set as it was; one id twice is refused. */
Test(rules, parse_is_atomic)
{
	static const char good[] = FILE1(CLASS(WARN56));
	static const char bad[] = "{\"rules\": [{" BASE("threshold", "class_size_max", "school")
	    ", \"id\": \"y\"}]}";
	struct catalog *cat = shipped_catalog();
	struct ruleset *set = ruleset_new();
	char *errors = NULL, version[65];

	cr_assert_eq(rules_parse(set, "a.json", good, strlen(good), cat, &errors), 0);
	memcpy(version, set->version, sizeof version);
	cr_assert_eq(rules_parse(set, "b.json", good, strlen(good), cat, &errors), -1);
	cr_expect_str_eq(errors, "b.json: rule x: id: rule id x defined in a.json and b.json\n");
	cr_expect_eq(set->nrules, 1);
	cr_expect_str_eq(set->version, version);
	free(errors);
	errors = NULL;
	cr_assert_eq(rules_parse(set, "c.json", bad, strlen(bad), cat, &errors), -1);
	cr_expect_eq(set->nrules, 1);
	free(errors);
	ruleset_free(set);
	catalog_free(cat);
	ruleset_free(NULL);
}

/* ---- comments ---- */

Test(rules, comments)
{
	static const char text[] =
	    "// a rule file\n"
	    "{ /* block\n   over lines */ \"rules\": [ // the list\n"
	    "  {\"id\": \"x\", \"title\": \"大班额//不是注释\", \"source\": "
	    "\"http://example.org/*not*/a//comment\", // tail\n"
	    "   \"kind\": /**/ \"threshold\", \"metric\": \"class_size_max\", \"scope\": \"school\","
	    "   \"message\": \"{unit}\\\"//\\\"{value}\","
	    "   \"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 56}]}\n"
	    " ]\n} // trailing comment without a newline";
	struct catalog *cat = shipped_catalog();
	char *errors;
	int rc;
	struct ruleset *set = parse(text, cat, &rc, &errors);

	cr_assert_eq(rc, 0, "%s", errors);
	cr_assert_eq(set->nrules, 1);
	cr_expect_str_eq(set->rules[0].title, "大班额//不是注释");
	cr_expect_str_eq(set->rules[0].source, "http://example.org/*not*/a//comment");
	cr_expect_str_eq(set->rules[0].message, "{unit}\"//\"{value}");
	ruleset_free(set);
	catalog_free(cat);
}

/* Offsets, lines and columns are those of the file as written. */
Test(rules, comment_offsets_kept)
{
	static const char text[] =
	    "/* line 1\n line 2 汉字 */\n"
	    "{\"rules\": [ // line 3\n"
	    "  {\"id\": \"x\", \"id\": \"x\"}]}\n";
	char *errors;
	int rc;
	struct ruleset *set = parse(text, NULL, &rc, &errors);
	size_t off = (size_t)(strstr(text, "\"id\": \"x\"}") - text);
	char *want = xasprintf("t.json: line 4, column 15 (byte %zu): duplicate key \"id\"\n", off);

	cr_assert_eq(rc, -1);
	cr_expect_str_eq(errors, want);
	free(want);
	free(errors);
	ruleset_free(set);
}

/* A UTF-8 byte order mark (Windows editors) is accepted; a lone / is not. */
Test(rules, bom_and_stray_slash)
{
	static const char bom[] = "\xef\xbb\xbf{\"rules\": []}";
	static const char slash[] = "{\"rules\": [] / }";
	char *errors;
	int rc;
	struct ruleset *set = parse(bom, NULL, &rc, &errors);

	cr_expect_eq(rc, 0, "%s", errors);
	ruleset_free(set);
	set = parse(slash, NULL, &rc, &errors);
	cr_expect_eq(rc, -1);
	cr_expect_not_null(strstr(errors, "t.json: line 1, column 14 (byte 13): "), "%s", errors);
	free(errors);
	ruleset_free(set);
}

/* Duplicate keys are refused at every level, with their position. */
Test(rules, duplicate_keys)
{
	static const char *const texts[] = {
		"{\"rules\": [], \"rules\": []}",
		"{\"rules\": [{\"id\": \"x\", \"bands\": [{\"op\": \"<\", \"op\": \">\"}]}]}",
		"{\"rules\": [{\"id\": \"x\", \"labels\": {\"a\": \"1\", \"a\": \"2\"}}]}",
		"{\"rules\": [{\"id\": \"x\", \"i\\u0064\": \"y\"}]}",
	};
	static const char *const keys[] = {"rules", "op", "a", "id"};

	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		char *errors, *want = xasprintf("duplicate key \"%s\"", keys[i]);
		int rc;
		struct ruleset *set = parse(texts[i], NULL, &rc, &errors);

		cr_expect_eq(rc, -1, "%s", texts[i]);
		cr_expect_not_null(errors != NULL ? strstr(errors, want) : NULL, "%s: %s", texts[i],
		    errors);
		cr_expect_not_null(errors != NULL ? strstr(errors, "t.json: line 1, column ") : NULL);
		free(want);
		free(errors);
		ruleset_free(set);
	}
}

/* ---- the version hash ---- */

#define R_CLASS \
	"{\"id\": \"class_size.school\", \"title\": \"出现大班额\", \"source\": \"001 §三 3\"," \
	" \"kind\": \"threshold\", \"metric\": \"class_size_max\", \"scope\": \"school\"," \
	" \"bands\": [{\"severity\": \"warning\", \"op\": \">=\", \"value\": 56}," \
	" {\"severity\": \"critical\", \"op\": \">=\", \"value\": 66}]," \
	" \"labels\": {\"theme\": \"compulsory\", \"area\": \"class\"}}"
/* The same rule, members in another order, defaults written out, other layout. */
#define R_CLASS_SAME \
	"{\n\t\"scope\":\"school\",\"kind\":\"threshold\", // same rule\n" \
	"\t\"id\":\"class_size.school\",\"metric\":\"class_size_max\",\"for\":1," \
	"\"resolve_margin\":0,\"grace_days\":0,\"filters\":{}," \
	"\"labels\":{\"area\":\"class\",\"theme\":\"compulsory\"}," \
	"\"bands\":[{\"value\":56.0,\"op\":\">=\",\"severity\":\"warning\"}," \
	"{\"op\":\">=\",\"severity\":\"critical\",\"value\":6.6e1}]," \
	"\"title\":\"出现大班额\",\"source\":\"001 §三 3\"}"
#define R_DRILLS \
	"{\"id\": \"emergency_drills.quota\", \"title\": \"应急演练次数不足\", \"source\": " \
	"\"004 §26\", \"kind\": \"quota\", \"metric\": \"emergency_drills\", \"scope\": " \
	"\"school\", \"quota\": 1, \"quota_period\": \"month\"}"

/* The version of the rules in files names[i] = texts[i] loaded as a directory. */
static void
dir_version(const char *const *names, const char *const *texts, size_t n,
    const struct catalog *cat, char out[65])
{
	char *dir = make_dir(), *errors = NULL;
	struct ruleset *set;

	for (size_t i = 0; i < n; i++)
		write_file(dir, names[i], texts[i]);
	set = rules_load_dir(dir, cat, &errors);
	cr_assert_not_null(set, "%s", errors);
	cr_assert_eq(strlen(set->version), 64);
	memcpy(out, set->version, 65);
	ruleset_free(set);
	rm_dir(dir);
}

Test(rules, version_stable_and_sensitive)
{
	static const char *const one_name[] = {"all.json"};
	static const char *const one[] = {"{\"rules\": [" R_CLASS ", " R_DRILLS "]}"};
	static const char *const two_names[] = {"a.json", "b.json"};
	static const char *const two[] = {"[" R_DRILLS "]", "/* c */ [" R_CLASS_SAME "]\n"};
	static const char *const swapped[] = {
	    "{\"rules\": [" R_DRILLS ", " R_CLASS "]}"};
	struct catalog *cat = shipped_catalog();
	char v1[65], v2[65], v3[65];
	char *changed;

	dir_version(one_name, one, 1, cat, v1);
	dir_version(two_names, two, 2, cat, v2);
	cr_expect_str_eq(v1, v2, "same rules, other layout: the version must not change");

	/* the order of the rules within a file does not matter either */
	dir_version(one_name, swapped, 1, cat, v3);
	cr_expect_str_eq(v1, v3);

	/* a bound changes: 56 -> 57 */
	changed = xstrdup(one[0]);
	memcpy(strstr(changed, "56"), "57", 2);
	dir_version(one_name, (const char *const *)&changed, 1, cat, v3);
	cr_expect_str_neq(v1, v3, "a bound changed: the version must change");
	free(changed);

	/* the title changes */
	changed = xstrdup(one[0]);
	memcpy(strstr(changed, "出现"), "发现", strlen("发现"));
	dir_version(one_name, (const char *const *)&changed, 1, cat, v3);
	cr_expect_str_neq(v1, v3, "a title changed: the version must change");
	free(changed);

	/* a label value changes */
	changed = xstrdup(one[0]);
	memcpy(strstr(changed, "\"class\""), "\"clazz\"", 7);
	dir_version(one_name, (const char *const *)&changed, 1, cat, v3);
	cr_expect_str_neq(v1, v3);
	free(changed);
	catalog_free(cat);
}

/* rules_parse and rules_load_dir agree; the empty set has a fixed version. */
Test(rules, version_parse_equals_load)
{
	static const char *const names[] = {"x.json"};
	static const char *const texts[] = {"[" R_CLASS "," R_DRILLS "]"};
	struct catalog *cat = shipped_catalog();
	struct ruleset *set = ruleset_new(), *empty = ruleset_new();
	char *errors = NULL, v[65];

	cr_expect_eq(strlen(empty->version), 64);
	cr_assert_eq(rules_parse(set, "y.json", texts[0], strlen(texts[0]), cat, &errors), 0);
	cr_expect_str_neq(set->version, empty->version);
	dir_version(names, texts, 1, cat, v);
	cr_expect_str_eq(set->version, v);
	ruleset_free(set);
	ruleset_free(empty);
	catalog_free(cat);
}

Test(rules, canonical_form)
{
	static const char text[] = "[" R_CLASS_SAME "]";
	struct catalog *cat = shipped_catalog();
	char *errors, *line;
	int rc;
	struct ruleset *set = parse(text, cat, &rc, &errors);

	cr_assert_eq(rc, 0, "%s", errors);
	line = rule_canonical(&set->rules[0]);
	cr_expect_str_eq(line,
	    "{\"id\":\"class_size.school\",\"title\":\"出现大班额\",\"source\":\"001 §三 3\","
	    "\"kind\":\"threshold\",\"metric\":\"class_size_max\",\"scope\":\"school\","
	    "\"stages\":\"\",\"urban\":-1,\"public\":-1,"
	    "\"bands\":[[\"warning\",\">=\",56],[\"critical\",\">=\",66]],\"for\":1,"
	    "\"resolve_margin\":0,\"completeness\":1,\"grace_days\":0,"
	    "\"trend\":{\"mode\":\"yoy\",\"direction\":\"decrease\",\"days\":0,\"factor\":0,"
	    "\"min_delta\":0},\"limit\":0,\"quota\":0,\"quota_period\":\"year\","
	    "\"labels\":[[\"area\",\"class\"],[\"theme\",\"compulsory\"]],\"message\":null}");
	free(line);
	ruleset_free(set);
	catalog_free(cat);
}

/* ---- rules_load_dir ---- */

Test(rules, load_dir_duplicates_across_files)
{
	char *dir = make_dir(), *errors = NULL;
	struct catalog *cat = shipped_catalog();

	write_file(dir, "b.json", "[" R_CLASS "]");
	write_file(dir, "a.json", "[" R_CLASS_SAME "]");
	write_file(dir, "notes.txt", "not a rule file");
	write_file(dir, ".hidden.json", "not json");
	cr_expect_null(rules_load_dir(dir, cat, &errors));
	cr_expect_str_eq(errors, "b.json: rule class_size.school: id: rule id class_size.school "
	    "defined in a.json and b.json\n");
	free(errors);
	rm_dir(dir);
	catalog_free(cat);
}

/* Every file is read in name order and every problem reported; a bad rule's id still counts. */
Test(rules, load_dir_collects_everything)
{
	char *dir = make_dir(), *errors = NULL;
	struct catalog *cat = shipped_catalog();
	const char *a, *b, *c;

	write_file(dir, "c.json", "[" R_DRILLS ", {\"id\": \"emergency_drills.quota\"}]");
	write_file(dir, "a.json", "{\"rules\": [,]}");
	write_file(dir, "b.json", "[{\"id\": \"q\", \"kind\": \"quota\"}]");
	cr_expect_null(rules_load_dir(dir, cat, &errors));
	cr_assert_not_null(errors);
	a = strstr(errors, "a.json: line 1, column 12 (byte 11): ");
	b = strstr(errors, "b.json: rule q: quota: missing");
	c = strstr(errors, "c.json: rule emergency_drills.quota: id: rule id "
	    "emergency_drills.quota defined twice in c.json");
	cr_expect(a != NULL && b != NULL && c != NULL && a < b && b < c, "%s", errors);
	free(errors);
	rm_dir(dir);
	catalog_free(cat);
}

Test(rules, load_dir_no_files)
{
	char *dir = make_dir(), *errors = NULL, *want;

	write_file(dir, "README", "rules go in *.json");
	cr_expect_null(rules_load_dir(dir, NULL, &errors));
	want = xasprintf("%s: no rule files (*.json)\n", dir);
	cr_expect_str_eq(errors, want);
	free(want);
	free(errors);
	errors = NULL;
	cr_expect_null(rules_load_dir("/nonexistent/rules", NULL, &errors));
	cr_expect_str_eq(errors, "/nonexistent/rules: No such file or directory\n");
	free(errors);
	rm_dir(dir);
}

Test(rules, load_dir_counts_files)
{
	char *dir = make_dir(), *errors = NULL;
	struct ruleset *set;

	write_file(dir, "a.json", "[]");
	write_file(dir, "b.json", "{\"rules\": [" R_DRILLS "]}");
	set = rules_load_dir(dir, NULL, &errors);
	cr_assert_not_null(set, "%s", errors);
	cr_expect_eq(set->nfiles, 2);
	cr_expect_eq(set->nrules, 1);
	cr_expect_str_eq(set->rules[0].file, "b.json");
	ruleset_free(set);
	rm_dir(dir);
}

/* ---- the shipped pack ---- */

/* Every metric code TARGETS.md names; the pack must judge each of them. */
static const char *const target_codes[] = {
	/* rates with a floor */
	"preschool_inclusive_coverage", "quality_kindergarten_coverage", "standard_school_rate",
	"junior_progression_rate", "dropout_return_rate", "migrant_children_public_rate",
	"after_school_service_coverage", "disabled_compulsory_enrolment_rate",
	"childcare_staff_certified_rate", "parent_school_coverage",
	"special_needs_record_coverage",
	/* rates with a ceiling */
	"home_delivered_special_ed_share", "myopia_rate",
	/* counts and sizes */
	"class_size_max", "large_classes", "super_large_classes", "classes_total",
	"large_classes_starting_grade", "out_of_school_registered_poor", "parent_school_sessions",
	"parenting_guidance_sessions", "emergency_drills", "pairing_leader_visits",
	"pairing_teacher_exchanges", "pairing_class_pairs", "new_school_places",
	"daily_exercise_minutes", "pe_lessons_per_week", "modernisation_score",
	"star_guidance_centres_new",
	/* history and many schools */
	"sick_absence_rate", "equipment_value_per_pupil", "multimedia_classrooms_per_100",
	"qualified_teachers_per_100",
};

static struct ruleset *
shipped_rules(struct catalog **cat)
{
	char *errors = NULL;
	struct ruleset *set;

	*cat = shipped_catalog();
	set = rules_load_dir("deploy/rules", *cat, &errors);
	cr_assert_not_null(set, "deploy/rules:\n%s", errors);
	cr_assert_null(errors);
	return set;
}

/* The rule of this id, or the test fails. */
static const struct rule *
must_find(const struct ruleset *set, const char *id)
{
	const struct rule *r = ruleset_find(set, id);

	cr_assert_not_null(r, "the pack has no rule %s", id);
	return r;
}

Test(rules, shipped_pack_loads)
{
	struct catalog *cat;
	struct ruleset *set = shipped_rules(&cat);
	unsigned kinds = 0;

	cr_expect_geq(set->nrules, ARRAY_LEN(target_codes));
	cr_expect_geq(set->nfiles, 6);
	for (size_t i = 0; i < set->nrules; i++) {
		const struct rule *r = &set->rules[i];

		kinds |= 1u << r->kind;
		cr_expect_not_null(catalog_by_code(cat, r->metric), "%s", r->id);
		cr_expect_not_null(r->title, "%s", r->id);
		cr_expect_not_null(r->source, "%s", r->id);
		cr_expect(r->nlabels > 0, "%s has no theme label", r->id);
		if (i > 0)
			cr_expect_lt(strcmp(set->rules[i - 1].id, r->id), 0);
	}
	cr_expect_eq(kinds, (1u << RULE_KIND_COUNT) - 1, "the pack uses every rule kind");
	ruleset_free(set);
	catalog_free(cat);
}

Test(rules, shipped_pack_covers_targets)
{
	struct catalog *cat;
	struct ruleset *set = shipped_rules(&cat);

	for (size_t i = 0; i < ARRAY_LEN(target_codes); i++) {
		bool found = false;

		cr_expect_not_null(catalog_by_code(cat, target_codes[i]), "catalog lacks %s",
		    target_codes[i]);
		for (size_t k = 0; k < set->nrules && !found; k++)
			found = strcmp(set->rules[k].metric, target_codes[i]) == 0;
		cr_expect(found, "no rule judges %s", target_codes[i]);
	}
	ruleset_free(set);
	catalog_free(cat);
}

/* The bands and quotas TARGETS.md gives, rule by rule. */
Test(rules, shipped_pack_bounds)
{
	static const struct {
		const char *id;
		enum rule_scope scope;
		size_t nbands;
		enum severity sev[2];
		enum cmp_op op[2];
		double bound[2];
	} thresholds[] = {
		{"class_size.school", SCOPE_SCHOOL, 2, {SEV_WARNING, SEV_CRITICAL}, {OP_GE, OP_GE},
		    {56, 66}},
		{"preschool_inclusive_coverage.district", SCOPE_DISTRICT, 2,
		    {SEV_WARNING, SEV_CRITICAL}, {OP_LT, OP_LT}, {0.90, 0.85}},
		{"junior_progression.school", SCOPE_SCHOOL, 1, {SEV_WARNING}, {OP_LT}, {0.98}},
		{"junior_progression.district", SCOPE_DISTRICT, 1, {SEV_WARNING}, {OP_LT}, {0.98}},
		{"super_large_classes.school", SCOPE_SCHOOL, 1, {SEV_CRITICAL}, {OP_GT}, {0}},
		{"super_large_classes.district", SCOPE_DISTRICT, 1, {SEV_CRITICAL}, {OP_GT}, {0}},
		{"home_delivered_special_ed.district", SCOPE_DISTRICT, 1, {SEV_WARNING}, {OP_GT},
		    {0.05}},
		{"quality_kindergarten_coverage.district", SCOPE_DISTRICT, 1, {SEV_WARNING}, {OP_LT},
		    {0.90}},
		{"daily_exercise.school", SCOPE_SCHOOL, 1, {SEV_WARNING}, {OP_LT}, {60}},
		{"modernisation_score.district", SCOPE_DISTRICT, 1, {SEV_WARNING}, {OP_LT}, {90}},
	};
	static const struct {
		const char *id;
		double quota;
		enum period_kind period;
	} quotas[] = {
		{"parent_school_sessions.quota", 3, PERIOD_YEAR},
		{"parenting_guidance_sessions.quota", 7, PERIOD_YEAR},
		{"emergency_drills.quota", 1, PERIOD_MONTH},
		{"pairing_leader_visits.quota", 1, PERIOD_YEAR},
		{"pairing_teacher_exchanges.quota", 2, PERIOD_YEAR},
		{"pairing_class_pairs.quota", 3, PERIOD_YEAR},
		{"new_school_places.quota", 6590, PERIOD_YEAR},
		{"star_guidance_centres.quota", 2, PERIOD_YEAR},
	};
	static const struct {
		const char *metric;
	} dispersed[] = {
		{"equipment_value_per_pupil"},
		{"multimedia_classrooms_per_100"},
		{"qualified_teachers_per_100"},
	};
	struct catalog *cat;
	struct ruleset *set = shipped_rules(&cat);
	const struct rule *r;

	for (size_t i = 0; i < ARRAY_LEN(thresholds); i++) {
		r = must_find(set, thresholds[i].id);
		cr_expect_eq(r->kind, RULE_THRESHOLD, "%s", r->id);
		cr_expect_eq(r->scope, thresholds[i].scope, "%s", r->id);
		cr_assert_eq(r->nbands, thresholds[i].nbands, "%s", r->id);
		for (size_t b = 0; b < r->nbands; b++) {
			cr_expect_eq(r->bands[b].severity, thresholds[i].sev[b], "%s", r->id);
			cr_expect_eq(r->bands[b].op, thresholds[i].op[b], "%s", r->id);
			cr_expect_eq(r->bands[b].bound, thresholds[i].bound[b], "%s", r->id);
		}
	}
	cr_expect_eq(must_find(set, "junior_progression.school")->stages, STAGE_BIT(STAGE_JUNIOR));
	cr_expect_eq(must_find(set, "junior_progression.district")->stages,
	    STAGE_BIT(STAGE_JUNIOR));
	cr_expect_str_eq(must_find(set, "junior_progression.school")->title, "初中毕业生升学率低于98%");
	cr_expect_str_eq(must_find(set, "class_size.school")->title, "出现大班额");
	cr_expect_str_eq(must_find(set, "super_large_classes.school")->title, "出现超大班额");
	cr_expect_str_eq(must_find(set, "preschool_inclusive_coverage.district")->title,
	    "普惠性幼儿园覆盖率低于90%");
	cr_expect_str_eq(must_find(set, "emergency_drills.quota")->title, "应急演练次数不足");

	for (size_t i = 0; i < ARRAY_LEN(quotas); i++) {
		r = must_find(set, quotas[i].id);
		cr_expect_eq(r->kind, RULE_QUOTA, "%s", r->id);
		cr_expect_eq(r->quota, quotas[i].quota, "%s", r->id);
		cr_expect_eq(r->quota_period, quotas[i].period, "%s", r->id);
	}

	/* 校际差异系数: 0.50 for primary, 0.45 for junior, per indicator */
	for (size_t i = 0; i < ARRAY_LEN(dispersed); i++) {
		bool primary = false, junior = false;

		for (size_t k = 0; k < set->nrules; k++) {
			r = &set->rules[k];
			if (r->kind != RULE_DISPERSION || strcmp(r->metric, dispersed[i].metric) != 0)
				continue;
			cr_expect_eq(r->scope, SCOPE_DISTRICT, "%s", r->id);
			if (r->stages == STAGE_BIT(STAGE_PRIMARY)) {
				primary = true;
				cr_expect_eq(r->limit, 0.50, "%s", r->id);
			} else if (r->stages == STAGE_BIT(STAGE_JUNIOR)) {
				junior = true;
				cr_expect_eq(r->limit, 0.45, "%s", r->id);
			} else
				cr_expect_fail("%s: stages %#x", r->id, r->stages);
		}
		cr_expect(primary && junior, "%s: primary and junior", dispersed[i].metric);
	}

	/* history: myopia must fall, sickness absence spikes and daily reports */
	r = must_find(set, "myopia.school");
	cr_expect_eq(r->kind, RULE_TREND);
	cr_expect_eq(r->trend_mode, TREND_YOY);
	cr_expect_eq(r->trend_direction, TREND_DECREASE);
	r = must_find(set, "myopia.district");
	cr_expect_eq(r->scope, SCOPE_DISTRICT);
	r = must_find(set, "sick_absence.spike");
	cr_expect_eq(r->trend_mode, TREND_BASELINE);
	cr_expect_gt(r->baseline_days, 0);
	cr_expect_geq(r->spike_factor, 1);
	r = must_find(set, "sick_absence.missing");
	cr_expect_eq(r->kind, RULE_MISSING);
	cr_expect_str_eq(r->metric, "sick_absence_rate");
	r = must_find(set, "out_of_school_poor.missing");
	cr_expect_eq(r->kind, RULE_MISSING);
	ruleset_free(set);
	catalog_free(cat);
}
