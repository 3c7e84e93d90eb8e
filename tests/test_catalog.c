/*
 * test_catalog.c: metric kinds, catalog storage, the catalog file format
 * (a table of malformed files with their exact causes) and the shipped
 * deploy/metrics.csv against every target in TARGETS.md. Run from the
 * repository root.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "registry.h"
#include "util.h"

#define HEADER "code,name_zh,name_en,unit,kind,period_kind,min,max,stages,unit_kinds,description\n"

static struct metric
mk(const char *code, int id)
{
	struct metric m = {
		.id = id,
		.code = (char *)code,
		.name_zh = (char *)"最大班额",
		.name_en = (char *)"Largest class",
		.unit = (char *)"人",
		.kind = METRIC_COUNT,
		.period_kind = PERIOD_TERM,
		.min = 0,
		.max = 200,
		.stages = 0,
		.unit_kinds = UNIT_KIND_BIT(UNIT_SCHOOL),
		.description = (char *)"",
	};

	return m;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	cr_assert_not_null(f, "cannot open %s (run the tests from the repository root)", path);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

Test(catalog, metric_kind_names)
{
	for (int k = 0; k < METRIC_KIND_COUNT; k++) {
		enum metric_kind back;

		cr_assert_eq(metric_kind_parse(metric_kind_name(k), &back), 0);
		cr_assert_eq(back, (enum metric_kind)k);
	}
	cr_assert_str_eq(metric_kind_name(METRIC_RATE), "rate");
	cr_assert_str_eq(metric_kind_name(METRIC_KIND_COUNT), "unknown");
	cr_assert_eq(metric_kind_parse("Rate", &(enum metric_kind){0}), -1);
	cr_assert_eq(metric_kind_parse("", &(enum metric_kind){0}), -1);
}

Test(catalog, add_get_lookup)
{
	struct catalog *cat = catalog_new();
	struct metric m = mk("class_size_max", 7);
	char code[32];

	cr_assert_eq(catalog_count(cat), 0);
	cr_assert_null(catalog_get(cat, 0));
	catalog_add(cat, &m);
	strcpy(code, "emergency_drills");
	m = mk(code, 9);
	m.period_kind = PERIOD_MONTH;
	catalog_add(cat, &m);
	memset(code, 'x', 16);

	cr_assert_eq(catalog_count(cat), 2);
	cr_assert_str_eq(catalog_get(cat, 0)->code, "class_size_max");
	cr_assert_str_eq(catalog_get(cat, 1)->code, "emergency_drills");
	cr_assert_eq(catalog_by_code(cat, "emergency_drills"), catalog_get(cat, 1));
	cr_assert_eq(catalog_by_id(cat, 7), catalog_get(cat, 0));
	cr_assert_eq(catalog_by_id(cat, 9)->period_kind, PERIOD_MONTH);
	cr_assert_null(catalog_by_id(cat, 8));
	cr_assert_null(catalog_by_id(cat, 0));
	cr_assert_null(catalog_by_code(cat, "xxxxxxxxxxxxxxxx"));
	cr_assert_str_eq(catalog_get(cat, 0)->name_zh, "最大班额");
	catalog_free(cat);
	catalog_free(NULL);
}

Test(catalog, repeated_code_replaces_in_place)
{
	struct catalog *cat = catalog_new();
	struct metric a = mk("a", 1), b = mk("b", 2), a2 = mk("a", 3);

	catalog_add(cat, &a);
	catalog_add(cat, &b);
	a2.max = 60;
	catalog_add(cat, &a2);
	cr_assert_eq(catalog_count(cat), 2);
	cr_assert_str_eq(catalog_get(cat, 0)->code, "a", "keeps its position");
	cr_assert_eq(catalog_get(cat, 0)->max, 60);
	cr_assert_null(catalog_by_id(cat, 1), "old id gone");
	cr_assert_eq(catalog_by_id(cat, 3), catalog_get(cat, 0));
	cr_assert_eq(catalog_by_id(cat, 2), catalog_get(cat, 1));
	catalog_free(cat);
}

Test(catalog, grows)
{
	struct catalog *cat = catalog_new();
	char code[32];

	for (int i = 1; i <= 3000; i++) {
		struct metric m;

		snprintf(code, sizeof code, "m%d", i);
		m = mk(code, i);
		catalog_add(cat, &m);
	}
	for (int i = 1; i <= 3000; i += 3) {
		struct metric m;

		snprintf(code, sizeof code, "m%d", i);
		m = mk(code, i + 100000);
		catalog_add(cat, &m);
	}
	cr_assert_eq(catalog_count(cat), 3000);
	for (int i = 1; i <= 3000; i++) {
		const struct metric *m;
		int id = i % 3 == 1 ? i + 100000 : i;

		snprintf(code, sizeof code, "m%d", i);
		m = catalog_by_code(cat, code);
		cr_assert_not_null(m, "%s", code);
		cr_assert_eq(m, catalog_get(cat, (size_t)i - 1));
		cr_assert_eq(catalog_by_id(cat, id), m, "id %d", id);
		if (id != i)
			cr_assert_null(catalog_by_id(cat, i));
	}
	catalog_free(cat);
}

Test(catalog, parse_minimal)
{
	static const char text[] = HEADER
	    "class_size_max,最大班额,Largest class,人,count,term,0,200,primary|junior|senior,"
	    "school,\"Largest class, in pupils\"\n"
	    "junior_progression_rate,初中毕业生升入高中段学校比例,Junior progression,%,rate,"
	    "school_year,0,1,junior,school|childcare,\n"
	    "modernisation_score,省教育现代化监测综合得分,,分,value,year,-1.5,1e2,,district,x";
	struct catalog *cat = NULL;
	char *cause = NULL;
	const struct metric *m;

	cr_assert_eq(catalog_parse_csv(text, strlen(text), &cat, &cause), 0, "%s", cause);
	cr_assert_null(cause);
	cr_assert_eq(catalog_count(cat), 3);
	m = catalog_by_code(cat, "class_size_max");
	cr_assert_eq(m->id, 0);
	cr_assert_eq(m->kind, METRIC_COUNT);
	cr_assert_eq(m->period_kind, PERIOD_TERM);
	cr_assert_eq(m->max, 200);
	cr_assert_eq(m->stages, STAGE_BIT(STAGE_PRIMARY) | STAGE_BIT(STAGE_JUNIOR) |
	    STAGE_BIT(STAGE_SENIOR));
	cr_assert_eq(m->unit_kinds, UNIT_KIND_BIT(UNIT_SCHOOL));
	cr_assert_str_eq(m->description, "Largest class, in pupils");
	cr_assert_str_eq(m->unit, "人");
	m = catalog_get(cat, 1);
	cr_assert_str_eq(m->code, "junior_progression_rate");
	cr_assert_eq(m->kind, METRIC_RATE);
	cr_assert_eq(m->period_kind, PERIOD_SCHOOL_YEAR);
	cr_assert_eq(m->unit_kinds, UNIT_KIND_BIT(UNIT_SCHOOL) | UNIT_KIND_BIT(UNIT_CHILDCARE));
	cr_assert_str_eq(m->description, "");
	m = catalog_get(cat, 2);
	cr_assert_eq(m->min, -1.5);
	cr_assert_eq(m->max, 100);
	cr_assert_eq(m->stages, 0);
	cr_assert_str_eq(m->name_en, "");
	catalog_free(cat);
}

Test(catalog, parse_excel_export)
{
	/* BOM, CRLF, a blank line, a quoted field with a line break. */
	static const char text[] = "\xef\xbb\xbf"
				   "code,name_zh,name_en,unit,kind,period_kind,min,max,stages,"
				   "unit_kinds,description\r\n"
				   "\r\n"
				   "emergency_drills,应急演练次数,Drills,次,count,month,0,100,,school,"
				   "\"line one\r\nline two\"\r\n";
	struct catalog *cat = NULL;
	char *cause = NULL;

	cr_assert_eq(catalog_parse_csv(text, strlen(text), &cat, &cause), 0, "%s", cause);
	cr_assert_eq(catalog_count(cat), 1);
	cr_assert_str_eq(catalog_get(cat, 0)->code, "emergency_drills");
	catalog_free(cat);
}

struct bad_case {
	const char *text;
	const char *cause; /* exact */
};

#define ROW_OK "class_size_max,最大班额,Largest class,人,count,term,0,200,,school,d\n"

static const struct bad_case bad_cases[] = {
	{"", "empty catalog: a header row is required"},
	{"code,name_zh,name_en\n",
	    "line 1: header has 3 columns, expected 11: "
	    "code,name_zh,name_en,unit,kind,period_kind,min,max,stages,unit_kinds,description"},
	{"code,name_zh,name_en,unit,type,period_kind,min,max,stages,unit_kinds,description\n",
	    "line 1: header column 5 is \"type\", expected \"kind\""},
	{ROW_OK, "line 1: header column 1 is \"class_size_max\", expected \"code\""},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0,200,,school\n",
	    "line 2: expected 11 fields, got 10"},
	{HEADER ROW_OK "a,b,c,d,count,term,0,1,,school,e,f\n", "line 3: expected 11 fields, got 12"},
	{HEADER "class_size_max,最大班额,Largest class,人,ratio,term,0,200,,school,d\n",
	    "line 2: kind \"ratio\": expected rate, count or value"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,semester,0,200,,school,d\n",
	    "line 2: period_kind \"semester\": expected day, week, month, quarter, term, "
	    "school_year or year"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0,200,middle,school,d\n",
	    "line 2: stages: unknown stage \"middle\" (expected preschool, primary, junior, "
	    "senior, special, vocational)"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0,200,,school|county,d\n",
	    "line 2: unit_kinds: unknown unit kind \"county\" (expected province, city, "
	    "district, school, childcare, guidance_point)"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0,200,,,d\n",
	    "line 2: class_size_max: unit_kinds is empty; name the kinds of unit that report it"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,300,200,,school,d\n",
	    "line 2: min 300 is above max 200"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0,lots,,school,d\n",
	    "line 2: max \"lots\" is not a number"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,,200,,school,d\n",
	    "line 2: min \"\" is not a number"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0x10,200,,school,d\n",
	    "line 2: min \"0x10\" is not a number"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0,inf,,school,d\n",
	    "line 2: max \"inf\" is not a number"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term,0,1e999,,school,d\n",
	    "line 2: max \"1e999\" is not a number"},
	{HEADER "class_size_max,最大班额,Largest class,人,count,term, 0,200,,school,d\n",
	    "line 2: min \" 0\" is not a number"},
	{HEADER "r,比例,Rate,%,rate,year,0,100,,school,d\n",
	    "line 2: r is a rate: min and max bound numerator / denominator and must lie within "
	    "0..1, not 0..100"},
	{HEADER ROW_OK "x,名,n,u,count,term,0,1,,school,d\n" ROW_OK,
	    "line 4: duplicate code \"class_size_max\" (first on line 2)"},
	{HEADER "Class_size,最大班额,Largest class,人,count,term,0,200,,school,d\n",
	    "line 2: code \"Class_size\" must match ^[a-z][a-z0-9_]{0,63}$"},
	{HEADER "1class,最大班额,Largest class,人,count,term,0,200,,school,d\n",
	    "line 2: code \"1class\" must match ^[a-z][a-z0-9_]{0,63}$"},
	{HEADER "class-size,最大班额,Largest class,人,count,term,0,200,,school,d\n",
	    "line 2: code \"class-size\" must match ^[a-z][a-z0-9_]{0,63}$"},
	{HEADER ",最大班额,Largest class,人,count,term,0,200,,school,d\n",
	    "line 2: code \"\" must match ^[a-z][a-z0-9_]{0,63}$"},
	{HEADER "a23456789012345678901234567890123456789012345678901234567890123456,"
		"名,n,u,count,term,0,1,,school,d\n",
	    "line 2: code \"a23456789012345678901234567890123456789012345678901234567890123456\" "
	    "must match ^[a-z][a-z0-9_]{0,63}$"},
	{HEADER "class_size_max,,Largest class,人,count,term,0,200,,school,d\n",
	    "line 2: class_size_max: name_zh is empty"},
	{HEADER "\n\nclass_size_max,最大班额,Largest class,人,count,term,0,200,,school,d,\n",
	    "line 4: expected 11 fields, got 12"},
};

Test(catalog, parse_errors_table)
{
	for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct catalog *cat = (struct catalog *)&cat; /* must be reset */
		char *cause = NULL;

		cr_assert_eq(catalog_parse_csv(c->text, strlen(c->text), &cat, &cause), -1,
		    "case %zu parsed", i);
		cr_assert_null(cat, "case %zu", i);
		cr_assert_not_null(cause, "case %zu", i);
		cr_assert_str_eq(cause, c->cause, "case %zu", i);
		free(cause);
	}
}

Test(catalog, parse_csv_syntax_error_keeps_line)
{
	static const char text[] = HEADER "class_size_max,\"unterminated,x\n";
	struct catalog *cat = NULL;
	char *cause = NULL;

	cr_assert_eq(catalog_parse_csv(text, strlen(text), &cat, &cause), -1);
	cr_assert_null(cat);
	cr_assert(strncmp(cause, "line 2", 6) == 0, "%s", cause);
	free(cause);
}

Test(catalog, code_of_64_characters_is_accepted)
{
	static const char text[] = HEADER
	    "a234567890123456789012345678901234567890123456789012345678901234,"
	    "名,n,u,count,term,0,1,,school,d\n";
	struct catalog *cat = NULL;
	char *cause = NULL;

	cr_assert_eq(catalog_parse_csv(text, strlen(text), &cat, &cause), 0, "%s", cause);
	cr_assert_eq(strlen(catalog_get(cat, 0)->code), 64);
	catalog_free(cat);
}

/* Every target in /work/shared/TARGETS.md, as the shipped catalog must hold it. */
#define S UNIT_KIND_BIT(UNIT_SCHOOL)
#define D UNIT_KIND_BIT(UNIT_DISTRICT)
#define C UNIT_KIND_BIT(UNIT_CHILDCARE)
#define G UNIT_KIND_BIT(UNIT_GUIDANCE_POINT)
static const struct target {
	const char *code;
	const char *name_zh;
	enum metric_kind kind;
	enum period_kind period;
	unsigned unit_kinds;
} targets[] = {
	/* Rates with a floor. */
	{"preschool_inclusive_coverage", "普惠性幼儿园覆盖率", METRIC_RATE, PERIOD_YEAR, S},
	{"quality_kindergarten_coverage", "优质园覆盖率", METRIC_RATE, PERIOD_YEAR, S},
	{"standard_school_rate", "义务教育学校达省定办学标准比例", METRIC_RATE, PERIOD_YEAR, D},
	{"junior_progression_rate", "初中毕业生升入高中段学校比例", METRIC_RATE,
	    PERIOD_SCHOOL_YEAR, S},
	{"dropout_return_rate", "辍学学生劝返复学率", METRIC_RATE, PERIOD_MONTH, D},
	{"migrant_children_public_rate", "随迁子女入读义务教育公办学校比例", METRIC_RATE,
	    PERIOD_SCHOOL_YEAR, D},
	{"after_school_service_coverage", "课后延时服务覆盖率", METRIC_RATE, PERIOD_TERM, S},
	{"disabled_compulsory_enrolment_rate", "残疾儿童义务教育入学率", METRIC_RATE,
	    PERIOD_SCHOOL_YEAR, D},
	{"childcare_staff_certified_rate", "托育从业人员持证上岗率", METRIC_RATE, PERIOD_YEAR, C},
	{"parent_school_coverage", "家长学校覆盖率", METRIC_RATE, PERIOD_YEAR, D},
	{"special_needs_record_coverage", "特殊学生\"一生一档\"覆盖率", METRIC_RATE, PERIOD_YEAR,
	    D},
	/* Rates with a ceiling. */
	{"home_delivered_special_ed_share", "送教上门学生占适龄残疾儿童少年比例", METRIC_RATE,
	    PERIOD_SCHOOL_YEAR, D},
	{"myopia_rate", "学生近视率", METRIC_RATE, PERIOD_SCHOOL_YEAR, S},
	/* Counts and sizes. */
	{"class_size_max", "最大班额", METRIC_COUNT, PERIOD_TERM, S},
	{"large_classes", "大班额班数", METRIC_COUNT, PERIOD_TERM, S},
	{"super_large_classes", "超大班额班数", METRIC_COUNT, PERIOD_TERM, S},
	{"classes_total", "班级总数", METRIC_COUNT, PERIOD_TERM, S},
	{"large_classes_starting_grade", "起始年级大班额班数", METRIC_COUNT, PERIOD_TERM, S},
	{"out_of_school_registered_poor", "\"建档立卡\"贫困家庭学生失学人数", METRIC_COUNT,
	    PERIOD_MONTH, S},
	{"parent_school_sessions", "家长学校举办家庭教育指导与培训活动次数", METRIC_COUNT,
	    PERIOD_YEAR, S},
	{"parenting_guidance_sessions", "科学育儿指导点家庭科学育儿指导服务次数", METRIC_COUNT,
	    PERIOD_YEAR, G},
	{"emergency_drills", "应急演练次数", METRIC_COUNT, PERIOD_MONTH, S},
	{"pairing_leader_visits", "结对帮扶: 领导交流互访", METRIC_COUNT, PERIOD_YEAR, S},
	{"pairing_teacher_exchanges", "结对帮扶: 骨干教师交流", METRIC_COUNT, PERIOD_YEAR, S},
	{"pairing_class_pairs", "结对帮扶: 班级结对", METRIC_COUNT, PERIOD_YEAR, S},
	{"new_school_places", "新增学位数", METRIC_COUNT, PERIOD_YEAR, D},
	{"daily_exercise_minutes", "学生每天校园体育活动时间", METRIC_VALUE, PERIOD_DAY, S},
	{"pe_lessons_per_week", "每周体育课节数", METRIC_COUNT, PERIOD_WEEK, S},
	{"modernisation_score", "省教育现代化监测综合得分", METRIC_VALUE, PERIOD_YEAR, D},
	{"star_guidance_centres_new", "新增星级学生成长(发展)指导中心", METRIC_COUNT, PERIOD_YEAR,
	    D},
	/* Rules that need history or many schools. */
	{"sick_absence_rate", "因病缺课率", METRIC_RATE, PERIOD_DAY, S},
	{"equipment_value_per_pupil", "生均教学仪器设备值", METRIC_VALUE, PERIOD_SCHOOL_YEAR, S},
	{"multimedia_classrooms_per_100", "每百名学生拥有网络多媒体教室数", METRIC_VALUE,
	    PERIOD_SCHOOL_YEAR, S},
	{"qualified_teachers_per_100", "每百名学生拥有高于规定学历教师数", METRIC_VALUE,
	    PERIOD_SCHOOL_YEAR, S},
};

Test(catalog, shipped_catalog_has_every_target)
{
	size_t len;
	char *text = slurp("deploy/metrics.csv", &len);
	struct catalog *cat = NULL;
	char *cause = NULL;

	cr_assert_eq(catalog_parse_csv(text, len, &cat, &cause), 0, "deploy/metrics.csv: %s",
	    cause);
	cr_assert_eq(catalog_count(cat), ARRAY_LEN(targets), "no metric beyond TARGETS.md");
	for (size_t i = 0; i < ARRAY_LEN(targets); i++) {
		const struct target *t = &targets[i];
		const struct metric *m = catalog_by_code(cat, t->code);

		cr_assert_not_null(m, "%s missing from deploy/metrics.csv", t->code);
		cr_assert_str_eq(m->name_zh, t->name_zh, "%s", t->code);
		cr_assert_eq(m->kind, t->kind, "%s kind", t->code);
		cr_assert_eq(m->period_kind, t->period, "%s period_kind", t->code);
		cr_assert_eq(m->unit_kinds, t->unit_kinds, "%s unit_kinds", t->code);
		cr_assert_neq(strlen(m->name_en), 0, "%s name_en", t->code);
		cr_assert_neq(strlen(m->unit), 0, "%s unit", t->code);
		cr_assert(strchr(m->description, '(') != NULL, "%s cites its source", t->code);
		if (m->kind == METRIC_RATE) {
			cr_assert_str_eq(m->unit, "%", "%s", t->code);
			cr_assert_eq(m->min, 0, "%s", t->code);
			cr_assert_eq(m->max, 1, "%s", t->code);
		} else {
			cr_assert_eq(m->min, 0, "%s", t->code);
			cr_assert_gt(m->max, 1, "%s", t->code);
		}
	}
	cr_assert_eq(catalog_by_code(cat, "junior_progression_rate")->stages,
	    STAGE_BIT(STAGE_JUNIOR));
	cr_assert_eq(catalog_by_code(cat, "class_size_max")->stages,
	    STAGE_BIT(STAGE_PRIMARY) | STAGE_BIT(STAGE_JUNIOR) | STAGE_BIT(STAGE_SENIOR));
	cr_assert_eq(catalog_by_code(cat, "preschool_inclusive_coverage")->stages,
	    STAGE_BIT(STAGE_PRESCHOOL));
	cr_assert_eq(catalog_by_code(cat, "emergency_drills")->stages, 0);
	catalog_free(cat);
	free(text);
}
