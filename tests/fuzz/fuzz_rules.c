/*
 * fuzz_rules.c: libFuzzer harness for rules_parse.
 *
 * Every input is parsed as a rule file twice into fresh sets: without a
 * catalog and with a small fixed one (the metrics deploy/rules/ uses, from
 * deploy/metrics.csv without English names and descriptions, so the shipped
 * rules seed the success path of both).
 *
 * Oracles beyond the sanitizers and the leak checker: a refusal leaves the
 * set empty and gives errors, valid UTF-8, one "fuzz.json: ..." line per
 * problem, each ending in a newline; a success gives rules sorted by
 * strictly increasing id, a version of 64 lower-case hex digits, and for
 * every rule a canonical form that cJSON parses back (an object whose "id"
 * is the rule's id) and that is a strict RFC 8259 text; parsing the same
 * text again into that set is refused (every id is now a duplicate) and
 * leaves the set and its version as they were.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "jsonstrict.h"
#include "rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                    \
	do {                                                                         \
		fprintf(stderr, "fuzz_rules: " __VA_ARGS__);                         \
		fputc('\n', stderr);                                                 \
		abort();                                                             \
	} while (0)

#define NAME "fuzz.json"

static struct catalog *cat;

static const char catalog_csv[] =
    "code,name_zh,name_en,unit,kind,period_kind,min,max,stages,unit_kinds,description\n"
    "after_school_service_coverage,课后延时服务覆盖率,,%,rate,term,0,1,primary|junior,school,\n"
    "childcare_staff_certified_rate,托育从业人员持证上岗率,,%,rate,year,0,1,,childcare,\n"
    "class_size_max,最大班额,,人,count,term,0,200,primary|junior|senior,school,\n"
    "classes_total,班级总数,,班,count,term,0,1000,primary|junior|senior,school,\n"
    "daily_exercise_minutes,学生每天校园体育活动时间,,分钟,value,day,0,1440,,school,\n"
    "disabled_compulsory_enrolment_rate,残疾儿童义务教育入学率,,%,rate,school_year,0,1,,district,\n"
    "dropout_return_rate,辍学学生劝返复学率,,%,rate,month,0,1,,district,\n"
    "emergency_drills,应急演练次数,,次,count,month,0,100,,school,\n"
    "equipment_value_per_pupil,生均教学仪器设备值,,元,value,school_year,0,1000000,primary|junior,school,\n"
    "home_delivered_special_ed_share,送教上门学生占适龄残疾儿童少年比例,,%,rate,school_year,0,1,,district,\n"
    "junior_progression_rate,初中毕业生升入高中段学校比例,,%,rate,school_year,0,1,junior,school,\n"
    "large_classes,大班额班数,,班,count,term,0,1000,primary|junior|senior,school,\n"
    "large_classes_starting_grade,起始年级大班额班数,,班,count,term,0,1000,primary|junior|senior,school,\n"
    "migrant_children_public_rate,随迁子女入读义务教育公办学校比例,,%,rate,school_year,0,1,,district,\n"
    "modernisation_score,省教育现代化监测综合得分,,分,value,year,0,100,,district,\n"
    "multimedia_classrooms_per_100,每百名学生拥有网络多媒体教室数,,间,value,school_year,0,100,primary|junior,school,\n"
    "myopia_rate,学生近视率,,%,rate,school_year,0,1,,school,\n"
    "new_school_places,新增学位数,,个,count,year,0,1000000,,district,\n"
    "out_of_school_registered_poor,建档立卡贫困家庭学生失学人数,,人,count,month,0,100000,primary|junior|special,school,\n"
    "pairing_class_pairs,结对帮扶: 班级结对,,对,count,year,0,1000,,school,\n"
    "pairing_leader_visits,结对帮扶: 领导交流互访,,次,count,year,0,1000,,school,\n"
    "pairing_teacher_exchanges,结对帮扶: 骨干教师交流,,人次,count,year,0,1000,,school,\n"
    "parent_school_coverage,家长学校覆盖率,,%,rate,year,0,1,,district,\n"
    "parent_school_sessions,家长学校举办家庭教育指导与培训活动次数,,次,count,year,0,1000,,school,\n"
    "parenting_guidance_sessions,科学育儿指导点家庭科学育儿指导服务次数,,次,count,year,0,10000,,guidance_point,\n"
    "pe_lessons_per_week,每周体育课节数,,节,count,week,0,50,primary|junior|senior,school,\n"
    "preschool_inclusive_coverage,普惠性幼儿园覆盖率,,%,rate,year,0,1,preschool,school,\n"
    "qualified_teachers_per_100,每百名学生拥有高于规定学历教师数,,人,value,school_year,0,100,primary|junior,school,\n"
    "quality_kindergarten_coverage,优质园覆盖率,,%,rate,year,0,1,preschool,school,\n"
    "sick_absence_rate,因病缺课率,,%,rate,day,0,1,,school,\n"
    "special_needs_record_coverage,特殊学生一生一档覆盖率,,%,rate,year,0,1,,district,\n"
    "standard_school_rate,义务教育学校达省定办学标准比例,,%,rate,year,0,1,,district,\n"
    "star_guidance_centres_new,新增星级学生成长(发展)指导中心,,个,count,year,0,1000,,district,\n"
    "super_large_classes,超大班额班数,,班,count,term,0,1000,primary|junior|senior,school,\n";

/* errors: one "NAME: ..." line per problem, valid UTF-8. */
static void
check_errors(const char *errors)
{
	size_t len;

	if (errors == NULL || *errors == '\0')
		FAIL("refused without a message");
	len = strlen(errors);
	if (!utf8_valid(errors, len) || errors[len - 1] != '\n')
		FAIL("bad error text: %s", errors);
	for (const char *line = errors; *line != '\0'; line = strchr(line, '\n') + 1) {
		if (strncmp(line, NAME ": ", strlen(NAME ": ")) != 0)
			FAIL("error line without the file name: %s", line);
	}
}

static void
check_rule(const struct rule *r)
{
	char *canon = rule_canonical(r), *cause = NULL;
	size_t off;
	cJSON *root, *id;

	if (canon == NULL)
		FAIL("no canonical form for %s", r->id);
	root = cJSON_Parse(canon);
	if (root == NULL)
		FAIL("canonical form is not JSON: %s", canon);
	id = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!cJSON_IsObject(root) || !cJSON_IsString(id) || strcmp(id->valuestring, r->id) != 0)
		FAIL("canonical form without the id %s: %s", r->id, canon);
	cJSON_Delete(root);
	if (json_strict_check(canon, strlen(canon), 8, &off, &cause) != 0)
		FAIL("canonical form not strict JSON (%s at %zu): %s", cause, off, canon);
	free(canon);
}

static void
run(const char *text, size_t len, const struct catalog *c)
{
	struct ruleset *set = ruleset_new();
	char *errors = NULL;
	char version[sizeof set->version];

	if (rules_parse(set, NAME, text, len, c, &errors) != 0) {
		if (set->nrules != 0)
			FAIL("refused, but %zu rules left in the set", set->nrules);
		check_errors(errors);
		free(errors);
		ruleset_free(set);
		return;
	}
	if (errors != NULL)
		FAIL("accepted with errors: %s", errors);
	if (strlen(set->version) != 64 || strspn(set->version, "0123456789abcdef") != 64)
		FAIL("bad version \"%s\"", set->version);
	for (size_t i = 0; i < set->nrules; i++) {
		const struct rule *r = &set->rules[i];

		if (r->id == NULL || (i > 0 && strcmp(set->rules[i - 1].id, r->id) >= 0))
			FAIL("rules not sorted by unique id at %zu", i);
		if (ruleset_find(set, r->id) != r)
			FAIL("ruleset_find(%s) misses", r->id);
		check_rule(r);
	}
	if (set->nrules > 0) {
		size_t n = set->nrules;

		memcpy(version, set->version, sizeof version);
		if (rules_parse(set, NAME, text, len, c, &errors) == 0)
			FAIL("the same %zu rules accepted twice", n);
		if (set->nrules != n || strcmp(set->version, version) != 0)
			FAIL("a refused second parse changed the set");
		check_errors(errors);
		free(errors);
	}
	ruleset_free(set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (cat == NULL) {
		char *cause = NULL;

		if (catalog_parse_csv(catalog_csv, strlen(catalog_csv), &cat, &cause) != 0)
			FAIL("catalog: %s", cause);
	}
	run((const char *)data, size, NULL);
	run((const char *)data, size, cat);
	return 0;
}
