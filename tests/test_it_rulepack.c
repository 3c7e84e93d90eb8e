/*
 * test_it_rulepack.c: one scenario per rule of the shipped pack
 * (deploy/rules), each against a fresh database and the real edumond with
 * that pack: figures posted over HTTP make the rule fire and then resolve;
 * every receipt must list exactly the alert changes expected, and the
 * alert row (state, severity, value, bound, Chinese message with the unit's
 * name) and its history are read back with SQL.
 *
 * Periods are computed from today's date in Asia/Shanghai, the daemon's
 * default time zone, and written into the table as placeholders ({SY} the
 * current school year, {D0} the latest weekday, ...). The daemon runs
 * without a calendar: Monday to Friday are school days.
 *
 * Rules that the clock drives are exercised through the documented
 * catch-up: before the daemon starts, edumon.evaluation_clock is set to the
 * day before a deadline (a daemon that was down since then), so it judges at
 * start-up the deadline passed in between: a missing report of the latest
 * period that is overdue, a quota year (month) that ended short. That works
 * on any date, where "due today" alone would depend on the weekday.
 *
 * A test (rulepack.every_rule_has_a_scenario) loads the pack with
 * rules_load_dir and fails when a rule has no scenario or a scenario names
 * no rule.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "period.h"
#include "rules.h"
#include "testlib.h"
#include "util.h"

/* The demo registry (deploy/demo/units.csv), district 320703 连云区. */
#define DISTRICT "320703"     /* 连云区 */
#define SCHOOL "2132070301"   /* 连云区实验小学: primary, urban */
#define JUNIOR "3132070301"   /* 连云区新海实验中学: junior, urban */
#define NINE "2132070302"     /* 连云区港城九年制学校: primary and junior, urban */
#define RURAL "2132070303"    /* 连云区宿城中心小学: primary, rural */
#define KG "1132070301"       /* 连云区实验幼儿园: public */
#define KG2 "1132070302"      /* 连云区阳光双语幼儿园: private */
#define CENTRE "9932070301"   /* 连云区婴幼儿托育服务中心: childcare */
#define POINT "9932070302"    /* 连云区科学育儿指导站: guidance point */

#define MAX_STEPS 5

/* One submission and the alert changes its receipt must list, exactly:
 * "rule unit event severity" items separated by ';'. Beyond those, a
 * receipt may only list missing-report alerts resolved by the figures'
 * arrival (a figure posted for an earlier school day answers the start-up's
 * missing report for it). */
struct step {
	const char *csv;
	const char *expect;
};

enum clock_mode {
	CLOCK_NONE,    /* a first start: the clock judges today only */
	CLOCK_MISSING, /* since the day before the latest overdue deadline */
	CLOCK_YEAR,    /* since December 31 of last year: last year's quota ended */
	CLOCK_MONTH,   /* since the last day of last month: last month's quota ended */
};

struct scenario {
	const char *rule;
	enum clock_mode clock;
	/* The alert the rule raises: unit, period, and after it fired (at
	 * start-up when fire_step is -1, else after that step) its severity,
	 * value, bound and message. */
	const char *unit;
	const char *period;
	int fire_step;
	const char *severity;
	const char *value;
	const char *bound;
	const char *message;
	struct step steps[MAX_STEPS];
	/* A district rule's figure after the first step is provisional (too
	 * few of the expected units reported): in v_rule_figure, not judged. */
	bool first_provisional;
	/* After the last step: resolved with this value; the message stays
	 * that of the breach, with the last value judged in breach (when a
	 * step changed that value without an alert change, it is given here;
	 * else the row's message before the last step). */
	const char *cleared;
	const char *resolved_message;
	/* Quotas: the full quota for the current quota period, posted after
	 * the steps; the current period must be behind exactly when its
	 * pro-rated share is above 0. */
	const char *prorata_csv;
};

static const struct scenario scenarios[] = {
    /* ---- compulsory.json ---- */
    {
	.rule = "junior_progression.school",
	.unit = JUNIOR, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.8", .bound = "0.98",
	.message = "【预警】连云区新海实验中学初中毕业生升入高中段学校比例为80.0%，低于98.0%（{SY}）",
	.steps = {
	    /* The district stays provisional: 1 of its 2 junior schools. */
	    {JUNIOR ",{SY},junior_progression_rate,,80,100\n",
		"junior_progression.school " JUNIOR " fired warning"},
	    {JUNIOR ",{SY},junior_progression_rate,,98,100\n",
		"junior_progression.school " JUNIOR " resolved warning"},
	},
	.cleared = "0.98",
    },
    {
	.rule = "junior_progression.district",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.81818181818181818", .bound = "0.98",
	.message = "【预警】连云区初中毕业生升入高中段学校比例为81.8%，低于98.0%（{SY}）",
	.steps = {
	    /* 10/10 and 80/100 is 90/110 over both junior schools, not the
	     * mean of 100% and 80%; the senior school's figure is no junior's. */
	    {JUNIOR ",{SY},junior_progression_rate,,10,10\n"
	     NINE ",{SY},junior_progression_rate,,80,100\n",
		"junior_progression.district " DISTRICT " fired warning;"
		"junior_progression.school " NINE " fired warning"},
	    {NINE ",{SY},junior_progression_rate,,100,100\n",
		"junior_progression.district " DISTRICT " resolved warning;"
		"junior_progression.school " NINE " resolved warning"},
	},
	.cleared = "1",
    },
    {
	.rule = "class_size.school",
	.unit = SCHOOL, .period = "{T}", .fire_step = 0, .severity = "critical",
	.value = "66", .bound = "66",
	.message = "连云区实验小学最大班额66人，达到66人（{T}，严重）",
	.steps = {
	    {SCHOOL ",{T},class_size_max,66,,\n", "class_size.school " SCHOOL " fired critical"},
	    {SCHOOL ",{T},class_size_max,56,,\n",
		"class_size.school " SCHOOL " deescalated warning"},
	    {SCHOOL ",{T},class_size_max,55,,\n",
		"class_size.school " SCHOOL " resolved warning"},
	},
	.cleared = "55",
    },
    {
	.rule = "super_large_classes.school",
	.unit = SCHOOL, .period = "{T}", .fire_step = 0, .severity = "critical",
	.value = "1", .bound = "0",
	.message = "【严重】连云区实验小学超大班额班数为1，超过0（{T}）",
	.steps = {
	    /* The district sum is judged at once (completeness 0.01). */
	    {SCHOOL ",{T},super_large_classes,1,,\n",
		"super_large_classes.school " SCHOOL " fired critical;"
		"super_large_classes.district " DISTRICT " fired critical"},
	    {SCHOOL ",{T},super_large_classes,0,,\n",
		"super_large_classes.school " SCHOOL " resolved critical;"
		"super_large_classes.district " DISTRICT " resolved critical"},
	},
	.cleared = "0",
    },
    {
	.rule = "super_large_classes.district",
	.unit = DISTRICT, .period = "{T}", .fire_step = 0, .severity = "critical",
	.value = "2", .bound = "0",
	.message = "【严重】连云区超大班额班数为2，超过0（{T}）",
	.steps = {
	    {SCHOOL ",{T},super_large_classes,0,,\n" JUNIOR ",{T},super_large_classes,2,,\n",
		"super_large_classes.district " DISTRICT " fired critical;"
		"super_large_classes.school " JUNIOR " fired critical"},
	    {JUNIOR ",{T},super_large_classes,0,,\n",
		"super_large_classes.district " DISTRICT " resolved critical;"
		"super_large_classes.school " JUNIOR " resolved critical"},
	},
	.cleared = "0",
    },
    {
	.rule = "large_classes.district",
	.unit = DISTRICT, .period = "{T}", .fire_step = 0, .severity = "info",
	.value = "3", .bound = "0",
	.message = "【提示】连云区大班额班数为3，超过0（{T}）",
	.steps = {
	    {RURAL ",{T},large_classes,3,,\n", "large_classes.district " DISTRICT " fired info"},
	    {RURAL ",{T},large_classes,0,,\n",
		"large_classes.district " DISTRICT " resolved info"},
	},
	.cleared = "0",
    },
    {
	.rule = "classes_total.missing",
	.clock = CLOCK_MISSING,
	.unit = SCHOOL, .period = "{P}", .fire_step = -1, .severity = "warning",
	.value = "{LATE}", .bound = "30",
	.message = "【预警】连云区实验小学未按时报送班级总数（{P}），已逾期{LATE}天",
	.steps = {
	    {SCHOOL ",{P},classes_total,24,,\n",
		"classes_total.missing " SCHOOL " resolved warning"},
	},
	.cleared = "0",
    },
    {
	.rule = "large_classes_starting_grade.school",
	.unit = SCHOOL, .period = "{T}", .fire_step = 0, .severity = "critical",
	.value = "1", .bound = "0",
	.message = "【严重】连云区实验小学起始年级大班额班数为1，超过0（{T}）",
	.steps = {
	    {SCHOOL ",{T},large_classes_starting_grade,1,,\n",
		"large_classes_starting_grade.school " SCHOOL " fired critical"},
	    {SCHOOL ",{T},large_classes_starting_grade,0,,\n",
		"large_classes_starting_grade.school " SCHOOL " resolved critical"},
	},
	.cleared = "0",
    },
    {
	.rule = "after_school_service.school",
	.unit = SCHOOL, .period = "{T}", .fire_step = 0, .severity = "warning",
	.value = "0.9", .bound = "1",
	.message = "【预警】连云区实验小学课后延时服务覆盖率为90.0%，低于100.0%（{T}）",
	.steps = {
	    /* The rural school is outside the rule (urban schools only). */
	    {SCHOOL ",{T},after_school_service_coverage,,90,100\n"
	     RURAL ",{T},after_school_service_coverage,,50,100\n",
		"after_school_service.school " SCHOOL " fired warning"},
	    {SCHOOL ",{T},after_school_service_coverage,,100,100\n",
		"after_school_service.school " SCHOOL " resolved warning"},
	},
	.cleared = "1",
    },
    {
	.rule = "after_school_service.district",
	.first_provisional = true,
	.unit = DISTRICT, .period = "{T}", .fire_step = 1, .severity = "warning",
	.value = "0.96666666666666667", .bound = "1",
	.message = "【预警】连云区课后延时服务覆盖率为96.7%，低于100.0%（{T}）",
	.steps = {
	    /* Two of the three urban schools: provisional. */
	    {JUNIOR ",{T},after_school_service_coverage,,100,100\n"
	     NINE ",{T},after_school_service_coverage,,100,100\n"
	     RURAL ",{T},after_school_service_coverage,,10,100\n", ""},
	    /* The third: 290/300, the rural school's 10/100 not counted. */
	    {SCHOOL ",{T},after_school_service_coverage,,90,100\n",
		"after_school_service.district " DISTRICT " fired warning;"
		"after_school_service.school " SCHOOL " fired warning"},
	    {SCHOOL ",{T},after_school_service_coverage,,100,100\n",
		"after_school_service.district " DISTRICT " resolved warning;"
		"after_school_service.school " SCHOOL " resolved warning"},
	},
	.cleared = "1",
    },
    {
	.rule = "out_of_school_poor.school",
	.unit = SCHOOL, .period = "{M}", .fire_step = 0, .severity = "critical",
	.value = "1", .bound = "0",
	.message = "【严重】连云区实验小学\"建档立卡\"贫困家庭学生失学人数为1，超过0（{M}）",
	.steps = {
	    {SCHOOL ",{M},out_of_school_registered_poor,1,,\n",
		"out_of_school_poor.school " SCHOOL " fired critical;"
		"out_of_school_poor.district " DISTRICT " fired critical"},
	    {SCHOOL ",{M},out_of_school_registered_poor,0,,\n",
		"out_of_school_poor.school " SCHOOL " resolved critical;"
		"out_of_school_poor.district " DISTRICT " resolved critical"},
	},
	.cleared = "0",
    },
    {
	.rule = "out_of_school_poor.district",
	.unit = DISTRICT, .period = "{M}", .fire_step = 0, .severity = "critical",
	.value = "2", .bound = "0",
	.message = "【严重】连云区\"建档立卡\"贫困家庭学生失学人数为2，超过0（{M}）",
	.steps = {
	    {RURAL ",{M},out_of_school_registered_poor,2,,\n",
		"out_of_school_poor.district " DISTRICT " fired critical;"
		"out_of_school_poor.school " RURAL " fired critical"},
	    {RURAL ",{M},out_of_school_registered_poor,0,,\n",
		"out_of_school_poor.district " DISTRICT " resolved critical;"
		"out_of_school_poor.school " RURAL " resolved critical"},
	},
	.cleared = "0",
    },
    {
	.rule = "out_of_school_poor.missing",
	.clock = CLOCK_MISSING,
	.unit = SCHOOL, .period = "{P}", .fire_step = -1, .severity = "warning",
	.value = "{LATE}", .bound = "5",
	.message = "【预警】连云区实验小学未按时报送\"建档立卡\"贫困家庭学生失学人数（{P}），"
		   "已逾期{LATE}天",
	.steps = {
	    {SCHOOL ",{P},out_of_school_registered_poor,0,,\n",
		"out_of_school_poor.missing " SCHOOL " resolved warning"},
	},
	.cleared = "0",
    },
    {
	.rule = "dropout_return.district",
	.unit = DISTRICT, .period = "{M}", .fire_step = 0, .severity = "warning",
	.value = "0.9", .bound = "1",
	.message = "【预警】连云区辍学学生劝返复学率为90.0%，低于100.0%（{M}）",
	.steps = {
	    {DISTRICT ",{M},dropout_return_rate,,9,10\n",
		"dropout_return.district " DISTRICT " fired warning"},
	    {DISTRICT ",{M},dropout_return_rate,,10,10\n",
		"dropout_return.district " DISTRICT " resolved warning"},
	},
	.cleared = "1",
    },
    /* ---- district.json ---- */
    {
	.rule = "standard_school_rate.district",
	.unit = DISTRICT, .period = "{Y}", .fire_step = 0, .severity = "warning",
	.value = "0.9", .bound = "1",
	.message = "【预警】连云区义务教育学校达省定办学标准比例为90.0%，低于100.0%（{Y}）",
	.steps = {
	    {DISTRICT ",{Y},standard_school_rate,,45,50\n",
		"standard_school_rate.district " DISTRICT " fired warning"},
	    {DISTRICT ",{Y},standard_school_rate,,50,50\n",
		"standard_school_rate.district " DISTRICT " resolved warning"},
	},
	.cleared = "1",
    },
    {
	.rule = "modernisation_score.district",
	.unit = DISTRICT, .period = "{Y}", .fire_step = 0, .severity = "warning",
	.value = "85.5", .bound = "90",
	.message = "【预警】连云区省教育现代化监测综合得分为85.5，低于90（{Y}）",
	.steps = {
	    {DISTRICT ",{Y},modernisation_score,85.5,,\n",
		"modernisation_score.district " DISTRICT " fired warning"},
	    {DISTRICT ",{Y},modernisation_score,90,,\n",
		"modernisation_score.district " DISTRICT " resolved warning"},
	},
	.cleared = "90",
    },
    {
	.rule = "new_school_places.quota",
	.clock = CLOCK_YEAR,
	.unit = DISTRICT, .period = "{Y1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "6590",
	.message = "【严重】连云区新增学位数累计0，低于进度要求6590（{Y1}）",
	.steps = {
	    {DISTRICT ",{Y1},new_school_places,6589,,\n", ""},
	    {DISTRICT ",{Y1},new_school_places,6590,,\n",
		"new_school_places.quota " DISTRICT " resolved critical"},
	},
	.cleared = "6590",
	.resolved_message = "【严重】连云区新增学位数累计6589，低于进度要求6590（{Y1}）",
	.prorata_csv = DISTRICT ",{Y},new_school_places,6590,,\n",
    },
    {
	.rule = "star_guidance_centres.quota",
	.clock = CLOCK_YEAR,
	.unit = DISTRICT, .period = "{Y1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "2",
	.message = "【严重】连云区新增星级学生成长(发展)指导中心累计0，低于进度要求2（{Y1}）",
	.steps = {
	    {DISTRICT ",{Y1},star_guidance_centres_new,2,,\n",
		"star_guidance_centres.quota " DISTRICT " resolved critical"},
	},
	.cleared = "2",
	.prorata_csv = DISTRICT ",{Y},star_guidance_centres_new,2,,\n",
    },
    /* ---- equity.json: dispersion over all expected schools of the stage
     * (primary: SCHOOL, NINE, RURAL; junior: JUNIOR, NINE); 100, 100, 400
     * is a coefficient of variation of sqrt(0.5), 100 and 400 one of 0.6. */
    {
	.rule = "equipment_value_dispersion.primary",
	.first_provisional = true,
	.unit = DISTRICT, .period = "{SY}", .fire_step = 1, .severity = "warning",
	.value = "0.70710678118654752", .bound = "0.5",
	.message = "【预警】连云区生均教学仪器设备值校际差异系数为0.71，超过0.5（{SY}）",
	.steps = {
	    {SCHOOL ",{SY},equipment_value_per_pupil,100,,\n"
	     NINE ",{SY},equipment_value_per_pupil,100,,\n", ""},
	    {RURAL ",{SY},equipment_value_per_pupil,400,,\n",
		"equipment_value_dispersion.primary " DISTRICT " fired warning"},
	    {RURAL ",{SY},equipment_value_per_pupil,100,,\n",
		"equipment_value_dispersion.primary " DISTRICT " resolved warning"},
	},
	.cleared = "0",
    },
    {
	.rule = "equipment_value_dispersion.junior",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.6", .bound = "0.45",
	.message = "【预警】连云区生均教学仪器设备值校际差异系数为0.6，超过0.45（{SY}）",
	.steps = {
	    {JUNIOR ",{SY},equipment_value_per_pupil,100,,\n"
	     NINE ",{SY},equipment_value_per_pupil,400,,\n",
		"equipment_value_dispersion.junior " DISTRICT " fired warning"},
	    {NINE ",{SY},equipment_value_per_pupil,125,,\n",
		"equipment_value_dispersion.junior " DISTRICT " resolved warning"},
	},
	.cleared = "0.11111111111111111",
    },
    {
	.rule = "multimedia_classrooms_dispersion.primary",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.70710678118654752", .bound = "0.5",
	.message = "【预警】连云区每百名学生拥有网络多媒体教室数校际差异系数为0.71，超过0.5（{SY}）",
	.steps = {
	    {SCHOOL ",{SY},multimedia_classrooms_per_100,2,,\n"
	     NINE ",{SY},multimedia_classrooms_per_100,2,,\n"
	     RURAL ",{SY},multimedia_classrooms_per_100,8,,\n",
		"multimedia_classrooms_dispersion.primary " DISTRICT " fired warning"},
	    {RURAL ",{SY},multimedia_classrooms_per_100,2,,\n",
		"multimedia_classrooms_dispersion.primary " DISTRICT " resolved warning"},
	},
	.cleared = "0",
    },
    {
	.rule = "multimedia_classrooms_dispersion.junior",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.6", .bound = "0.45",
	.message = "【预警】连云区每百名学生拥有网络多媒体教室数校际差异系数为0.6，超过0.45（{SY}）",
	.steps = {
	    {JUNIOR ",{SY},multimedia_classrooms_per_100,2,,\n"
	     NINE ",{SY},multimedia_classrooms_per_100,8,,\n",
		"multimedia_classrooms_dispersion.junior " DISTRICT " fired warning"},
	    {NINE ",{SY},multimedia_classrooms_per_100,2,,\n",
		"multimedia_classrooms_dispersion.junior " DISTRICT " resolved warning"},
	},
	.cleared = "0",
    },
    {
	.rule = "qualified_teachers_dispersion.primary",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.70710678118654752", .bound = "0.5",
	.message = "【预警】连云区每百名学生拥有高于规定学历教师数校际差异系数为0.71，超过0.5（{SY}）",
	.steps = {
	    {SCHOOL ",{SY},qualified_teachers_per_100,5,,\n"
	     NINE ",{SY},qualified_teachers_per_100,5,,\n"
	     RURAL ",{SY},qualified_teachers_per_100,20,,\n",
		"qualified_teachers_dispersion.primary " DISTRICT " fired warning"},
	    {RURAL ",{SY},qualified_teachers_per_100,5,,\n",
		"qualified_teachers_dispersion.primary " DISTRICT " resolved warning"},
	},
	.cleared = "0",
    },
    {
	.rule = "qualified_teachers_dispersion.junior",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.6", .bound = "0.45",
	.message = "【预警】连云区每百名学生拥有高于规定学历教师数校际差异系数为0.6，超过0.45（{SY}）",
	.steps = {
	    {JUNIOR ",{SY},qualified_teachers_per_100,5,,\n"
	     NINE ",{SY},qualified_teachers_per_100,20,,\n",
		"qualified_teachers_dispersion.junior " DISTRICT " fired warning"},
	    {NINE ",{SY},qualified_teachers_per_100,5,,\n",
		"qualified_teachers_dispersion.junior " DISTRICT " resolved warning"},
	},
	.cleared = "0",
    },
    {
	.rule = "disabled_enrolment.district",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.97", .bound = "0.98",
	.message = "【预警】连云区残疾儿童义务教育入学率为97.0%，低于98.0%（{SY}）",
	.steps = {
	    {DISTRICT ",{SY},disabled_compulsory_enrolment_rate,,97,100\n",
		"disabled_enrolment.district " DISTRICT " fired warning"},
	    {DISTRICT ",{SY},disabled_compulsory_enrolment_rate,,99,100\n",
		"disabled_enrolment.district " DISTRICT " deescalated info"},
	    {DISTRICT ",{SY},disabled_compulsory_enrolment_rate,,100,100\n",
		"disabled_enrolment.district " DISTRICT " resolved info"},
	},
	.cleared = "1",
    },
    {
	.rule = "home_delivered_special_ed.district",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.06", .bound = "0.05",
	.message = "【预警】连云区送教上门学生占适龄残疾儿童少年比例为6.0%，超过5.0%（{SY}）",
	.steps = {
	    {DISTRICT ",{SY},home_delivered_special_ed_share,,6,100\n",
		"home_delivered_special_ed.district " DISTRICT " fired warning"},
	    /* A ceiling: exactly 5% is within it. */
	    {DISTRICT ",{SY},home_delivered_special_ed_share,,5,100\n",
		"home_delivered_special_ed.district " DISTRICT " resolved warning"},
	},
	.cleared = "0.05",
    },
    {
	.rule = "special_needs_record.district",
	.unit = DISTRICT, .period = "{Y}", .fire_step = 0, .severity = "warning",
	.value = "0.9", .bound = "1",
	.message = "【预警】连云区特殊学生\"一生一档\"覆盖率为90.0%，低于100.0%（{Y}）",
	.steps = {
	    {DISTRICT ",{Y},special_needs_record_coverage,,9,10\n",
		"special_needs_record.district " DISTRICT " fired warning"},
	    {DISTRICT ",{Y},special_needs_record_coverage,,10,10\n",
		"special_needs_record.district " DISTRICT " resolved warning"},
	},
	.cleared = "1",
    },
    {
	.rule = "migrant_children_public.district",
	.unit = DISTRICT, .period = "{SY}", .fire_step = 0, .severity = "warning",
	.value = "0.95", .bound = "1",
	.message = "【预警】连云区随迁子女入读义务教育公办学校比例为95.0%，低于100.0%（{SY}）",
	.steps = {
	    {DISTRICT ",{SY},migrant_children_public_rate,,95,100\n",
		"migrant_children_public.district " DISTRICT " fired warning"},
	    {DISTRICT ",{SY},migrant_children_public_rate,,100,100\n",
		"migrant_children_public.district " DISTRICT " resolved warning"},
	},
	.cleared = "1",
    },
    {
	.rule = "pairing_leader_visits.quota",
	.clock = CLOCK_YEAR,
	.unit = SCHOOL, .period = "{Y1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "1",
	.message = "【严重】连云区实验小学结对帮扶: 领导交流互访累计0，低于进度要求1（{Y1}）",
	.steps = {
	    {SCHOOL ",{Y1},pairing_leader_visits,1,,\n",
		"pairing_leader_visits.quota " SCHOOL " resolved critical"},
	},
	.cleared = "1",
	.prorata_csv = SCHOOL ",{Y},pairing_leader_visits,1,,\n",
    },
    {
	.rule = "pairing_teacher_exchanges.quota",
	.clock = CLOCK_YEAR,
	.unit = SCHOOL, .period = "{Y1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "2",
	.message = "【严重】连云区实验小学结对帮扶: 骨干教师交流累计0，低于进度要求2（{Y1}）",
	.steps = {
	    {SCHOOL ",{Y1},pairing_teacher_exchanges,1,,\n", ""},
	    {SCHOOL ",{Y1},pairing_teacher_exchanges,2,,\n",
		"pairing_teacher_exchanges.quota " SCHOOL " resolved critical"},
	},
	.cleared = "2",
	.resolved_message = "【严重】连云区实验小学结对帮扶: 骨干教师交流累计1，低于进度要求2（{Y1}）",
	.prorata_csv = SCHOOL ",{Y},pairing_teacher_exchanges,2,,\n",
    },
    {
	.rule = "pairing_class_pairs.quota",
	.clock = CLOCK_YEAR,
	.unit = SCHOOL, .period = "{Y1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "3",
	.message = "【严重】连云区实验小学结对帮扶: 班级结对累计0，低于进度要求3（{Y1}）",
	.steps = {
	    {SCHOOL ",{Y1},pairing_class_pairs,3,,\n",
		"pairing_class_pairs.quota " SCHOOL " resolved critical"},
	},
	.cleared = "3",
	.prorata_csv = SCHOOL ",{Y},pairing_class_pairs,3,,\n",
    },
    /* ---- family.json ---- */
    {
	.rule = "parent_school_sessions.quota",
	.clock = CLOCK_YEAR,
	.unit = KG, .period = "{Y1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "3",
	.message = "【严重】连云区实验幼儿园家长学校举办家庭教育指导与培训活动次数累计0，"
		   "低于进度要求3（{Y1}）",
	.steps = {
	    {KG ",{Y1},parent_school_sessions,3,,\n",
		"parent_school_sessions.quota " KG " resolved critical"},
	},
	.cleared = "3",
	.prorata_csv = KG ",{Y},parent_school_sessions,3,,\n",
    },
    {
	.rule = "parenting_guidance_sessions.quota",
	.clock = CLOCK_YEAR,
	.unit = POINT, .period = "{Y1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "7",
	.message = "【严重】连云区科学育儿指导站科学育儿指导点家庭科学育儿指导服务次数累计0，"
		   "低于进度要求7（{Y1}）",
	.steps = {
	    {POINT ",{Y1},parenting_guidance_sessions,7,,\n",
		"parenting_guidance_sessions.quota " POINT " resolved critical"},
	},
	.cleared = "7",
	.prorata_csv = POINT ",{Y},parenting_guidance_sessions,7,,\n",
    },
    {
	.rule = "parent_school_coverage.district",
	.unit = DISTRICT, .period = "{Y}", .fire_step = 0, .severity = "warning",
	.value = "0.9", .bound = "1",
	.message = "【预警】连云区家长学校覆盖率为90.0%，低于100.0%（{Y}）",
	.steps = {
	    {DISTRICT ",{Y},parent_school_coverage,,90,100\n",
		"parent_school_coverage.district " DISTRICT " fired warning"},
	    {DISTRICT ",{Y},parent_school_coverage,,100,100\n",
		"parent_school_coverage.district " DISTRICT " resolved warning"},
	},
	.cleared = "1",
    },
    /* ---- health.json ---- */
    {
	.rule = "myopia.school",
	.unit = SCHOOL, .period = "{SY}", .fire_step = 1, .severity = "warning",
	.value = "0.3", .bound = "0.3",
	.message = "【预警】连云区实验小学学生近视率为30.0%，对比值为30.0%，未达到趋势要求（{SY}）",
	.steps = {
	    /* This year's figure first: nothing to compare it with. */
	    {SCHOOL ",{SY},myopia_rate,,30,100\n", ""},
	    /* Last year's, late: this year's is not lower. */
	    {SCHOOL ",{SY1},myopia_rate,,30,100\n", "myopia.school " SCHOOL " fired warning"},
	    /* Last year's corrected to 31%: this year's 30% is a fall. */
	    {SCHOOL ",{SY1},myopia_rate,,31,100\n", "myopia.school " SCHOOL " resolved warning"},
	    {SCHOOL ",{SY},myopia_rate,,32,100\n", "myopia.school " SCHOOL " fired warning"},
	    {SCHOOL ",{SY},myopia_rate,,29,100\n", "myopia.school " SCHOOL " resolved warning"},
	},
	.cleared = "0.29",
    },
    {
	/* The district's rate waits for all 7 schools or the deadline (60
	 * days after the school year): the school year before last is past
	 * it, so one school's figures are judged. */
	.rule = "myopia.district",
	.unit = DISTRICT, .period = "{SY2}", .fire_step = 1, .severity = "warning",
	.value = "0.35", .bound = "0.3",
	.message = "【预警】连云区学生近视率为35.0%，对比值为30.0%，未达到趋势要求（{SY2}）",
	.steps = {
	    {SCHOOL ",{SY3},myopia_rate,,30,100\n", ""},
	    {SCHOOL ",{SY2},myopia_rate,,35,100\n",
		"myopia.district " DISTRICT " fired warning;myopia.school " SCHOOL " fired warning"},
	    /* The year before corrected to 40%: a fall after all. */
	    {SCHOOL ",{SY3},myopia_rate,,40,100\n",
		"myopia.district " DISTRICT " resolved warning;"
		"myopia.school " SCHOOL " resolved warning"},
	    {SCHOOL ",{SY2},myopia_rate,,45,100\n",
		"myopia.district " DISTRICT " fired warning;myopia.school " SCHOOL " fired warning"},
	    {SCHOOL ",{SY2},myopia_rate,,25,100\n",
		"myopia.district " DISTRICT " resolved warning;"
		"myopia.school " SCHOOL " resolved warning"},
	},
	.cleared = "0.25",
    },
    {
	.rule = "daily_exercise.school",
	.unit = SCHOOL, .period = "{D0}", .fire_step = 1, .severity = "warning",
	.value = "50", .bound = "60",
	.message = "【预警】连云区实验小学学生每天校园体育活动时间为50，低于60（{D0}）",
	.steps = {
	    /* Four school days in a row are not yet a pattern ... */
	    {SCHOOL ",{D4},daily_exercise_minutes,40,,\n"
	     SCHOOL ",{D3},daily_exercise_minutes,45,,\n"
	     SCHOOL ",{D2},daily_exercise_minutes,59,,\n"
	     SCHOOL ",{D1},daily_exercise_minutes,30,,\n", ""},
	    /* ... five are. */
	    {SCHOOL ",{D0},daily_exercise_minutes,50,,\n",
		"daily_exercise.school " SCHOOL " fired warning"},
	    /* It clears at 65 minutes, not at 64 (resolve margin 5). */
	    {SCHOOL ",{D0},daily_exercise_minutes,64,,\n", ""},
	    {SCHOOL ",{D0},daily_exercise_minutes,65,,\n",
		"daily_exercise.school " SCHOOL " resolved warning"},
	},
	.cleared = "65",
	/* 64 is still in breach: within the resolve margin. */
	.resolved_message = "【预警】连云区实验小学学生每天校园体育活动时间为64，低于60（{D0}）",
    },
    {
	.rule = "pe_lessons.school",
	.unit = SCHOOL, .period = "{W}", .fire_step = 0, .severity = "info",
	.value = "3", .bound = "4",
	.message = "【提示】连云区实验小学每周体育课节数为3，低于4（{W}）",
	.steps = {
	    {SCHOOL ",{W},pe_lessons_per_week,3,,\n", "pe_lessons.school " SCHOOL " fired info"},
	    {SCHOOL ",{W},pe_lessons_per_week,4,,\n", "pe_lessons.school " SCHOOL " resolved info"},
	},
	.cleared = "4",
    },
    {
	.rule = "sick_absence.spike",
	.unit = SCHOOL, .period = "{D0}", .fire_step = 1, .severity = "warning",
	.value = "0.05", .bound = "0.02",
	.message = "【预警】连云区实验小学因病缺课率为5.0%，对比值为2.0%，未达到趋势要求（{D0}）",
	.steps = {
	    /* 14 school days at 1%: the baseline. */
	    {SCHOOL ",{D14},sick_absence_rate,,10,1000\n" SCHOOL ",{D13},sick_absence_rate,,10,1000\n"
	     SCHOOL ",{D12},sick_absence_rate,,10,1000\n" SCHOOL ",{D11},sick_absence_rate,,10,1000\n"
	     SCHOOL ",{D10},sick_absence_rate,,10,1000\n" SCHOOL ",{D9},sick_absence_rate,,10,1000\n"
	     SCHOOL ",{D8},sick_absence_rate,,10,1000\n" SCHOOL ",{D7},sick_absence_rate,,10,1000\n"
	     SCHOOL ",{D6},sick_absence_rate,,10,1000\n" SCHOOL ",{D5},sick_absence_rate,,10,1000\n"
	     SCHOOL ",{D4},sick_absence_rate,,10,1000\n" SCHOOL ",{D3},sick_absence_rate,,10,1000\n"
	     SCHOOL ",{D2},sick_absence_rate,,10,1000\n" SCHOOL ",{D1},sick_absence_rate,,10,1000\n",
		""},
	    /* 5% is more than twice 1% and 4 points above it. */
	    {SCHOOL ",{D0},sick_absence_rate,,50,1000\n",
		"sick_absence.spike " SCHOOL " fired warning"},
	    {SCHOOL ",{D0},sick_absence_rate,,20,1000\n",
		"sick_absence.spike " SCHOOL " resolved warning"},
	},
	.cleared = "0.02",
    },
    {
	.rule = "sick_absence.missing",
	.clock = CLOCK_MISSING,
	.unit = SCHOOL, .period = "{P}", .fire_step = -1, .severity = "warning",
	.value = "{LATE}", .bound = "0",
	.message = "【预警】连云区实验小学未按时报送因病缺课率（{P}），已逾期{LATE}天",
	.steps = {
	    {SCHOOL ",{P},sick_absence_rate,,3,500\n",
		"sick_absence.missing " SCHOOL " resolved warning"},
	},
	.cleared = "0",
    },
    /* ---- preschool.json: the district's two kindergartens ---- */
    {
	.rule = "preschool_inclusive_coverage.district",
	.first_provisional = true,
	.unit = DISTRICT, .period = "{Y}", .fire_step = 1, .severity = "critical",
	.value = "0.82", .bound = "0.85",
	.message = "【严重】连云区普惠性幼儿园覆盖率为82.0%，低于85.0%（{Y}）",
	.steps = {
	    /* The first kindergarten alone is provisional. */
	    {KG ",{Y},preschool_inclusive_coverage,,80,100\n", ""},
	    /* 164/200: under the provincial floor of 85%. */
	    {KG2 ",{Y},preschool_inclusive_coverage,,84,100\n",
		"preschool_inclusive_coverage.district " DISTRICT " fired critical"},
	    /* 176/200: under the work target of 90% only. */
	    {KG2 ",{Y},preschool_inclusive_coverage,,96,100\n",
		"preschool_inclusive_coverage.district " DISTRICT " deescalated warning"},
	    {KG ",{Y},preschool_inclusive_coverage,,90,100\n",
		"preschool_inclusive_coverage.district " DISTRICT " resolved warning"},
	},
	.cleared = "0.93",
    },
    {
	.rule = "quality_kindergarten_coverage.district",
	.first_provisional = true,
	.unit = DISTRICT, .period = "{Y}", .fire_step = 1, .severity = "warning",
	.value = "0.85", .bound = "0.9",
	.message = "【预警】连云区优质园覆盖率为85.0%，低于90.0%（{Y}）",
	.steps = {
	    {KG ",{Y},quality_kindergarten_coverage,,80,100\n", ""},
	    {KG2 ",{Y},quality_kindergarten_coverage,,90,100\n",
		"quality_kindergarten_coverage.district " DISTRICT " fired warning"},
	    {KG ",{Y},quality_kindergarten_coverage,,100,100\n",
		"quality_kindergarten_coverage.district " DISTRICT " resolved warning"},
	},
	.cleared = "0.95",
    },
    {
	.rule = "childcare_staff_certified.centre",
	.unit = CENTRE, .period = "{Y}", .fire_step = 0, .severity = "warning",
	.value = "0.8", .bound = "1",
	.message = "【预警】连云区婴幼儿托育服务中心托育从业人员持证上岗率为80.0%，低于100.0%（{Y}）",
	.steps = {
	    /* The district's only centre: its figure is the district's. */
	    {CENTRE ",{Y},childcare_staff_certified_rate,,8,10\n",
		"childcare_staff_certified.centre " CENTRE " fired warning;"
		"childcare_staff_certified.district " DISTRICT " fired warning"},
	    {CENTRE ",{Y},childcare_staff_certified_rate,,10,10\n",
		"childcare_staff_certified.centre " CENTRE " resolved warning;"
		"childcare_staff_certified.district " DISTRICT " resolved warning"},
	},
	.cleared = "1",
    },
    {
	.rule = "childcare_staff_certified.district",
	.unit = DISTRICT, .period = "{Y}", .fire_step = 0, .severity = "warning",
	.value = "0.75", .bound = "1",
	.message = "【预警】连云区托育从业人员持证上岗率为75.0%，低于100.0%（{Y}）",
	.steps = {
	    {CENTRE ",{Y},childcare_staff_certified_rate,,15,20\n",
		"childcare_staff_certified.district " DISTRICT " fired warning;"
		"childcare_staff_certified.centre " CENTRE " fired warning"},
	    {CENTRE ",{Y},childcare_staff_certified_rate,,20,20\n",
		"childcare_staff_certified.district " DISTRICT " resolved warning;"
		"childcare_staff_certified.centre " CENTRE " resolved warning"},
	},
	.cleared = "1",
    },
    /* ---- safety.json ---- */
    {
	/* Pro-rated through the month, one drill a month is never behind
	 * before the month ends: only last month can be short. */
	.rule = "emergency_drills.quota",
	.clock = CLOCK_MONTH,
	.unit = SCHOOL, .period = "{M1}", .fire_step = -1, .severity = "critical",
	.value = "0", .bound = "1",
	.message = "【严重】连云区实验小学应急演练次数累计0，低于进度要求1（{M1}）",
	.steps = {
	    {SCHOOL ",{M1},emergency_drills,1,,\n",
		"emergency_drills.quota " SCHOOL " resolved critical"},
	},
	.cleared = "1",
	.prorata_csv = SCHOOL ",{M},emergency_drills,1,,\n",
    },
};

#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

/* ---- dates ---- */

/* Today in Asia/Shanghai (UTC+8, no daylight saving), as the daemon sees
 * it with its default --timezone. */
static int32_t
today_shanghai(void)
{
	time_t t = time(NULL) + 8 * 3600;
	struct tm tm;

	gmtime_r(&t, &tm);
	return date_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static bool
weekday(int32_t day)
{
	return date_iso_weekday(day) <= 5;
}

/* Placeholder names and their values for one test. */
struct vars {
	char name[32][8];
	char value[32][PERIOD_STR_MAX];
	size_t n;
};

static void
var_set(struct vars *v, const char *name, const char *value)
{
	cr_assert_lt(v->n, 32);
	snprintf(v->name[v->n], sizeof v->name[0], "%s", name);
	snprintf(v->value[v->n], sizeof v->value[0], "%s", value);
	v->n++;
}

static void
var_period(struct vars *v, const char *name, enum period_kind kind, int32_t day)
{
	struct period p;
	char s[PERIOD_STR_MAX];

	period_containing(kind, day, &p);
	var_set(v, name, period_format(&p, s, sizeof s));
}

static void
vars_init(struct vars *v, int32_t today)
{
	struct period p;
	char s[PERIOD_STR_MAX];
	int32_t d = today;

	memset(v, 0, sizeof *v);
	var_period(v, "Y", PERIOD_YEAR, today);
	period_containing(PERIOD_YEAR, today, &p);
	var_period(v, "Y1", PERIOD_YEAR, p.start - 1);
	var_period(v, "SY", PERIOD_SCHOOL_YEAR, today);
	period_containing(PERIOD_SCHOOL_YEAR, today, &p);
	var_period(v, "SY1", PERIOD_SCHOOL_YEAR, p.start - 1);
	var_period(v, "SY2", PERIOD_SCHOOL_YEAR, p.start - 366);
	var_period(v, "SY3", PERIOD_SCHOOL_YEAR, p.start - 731);
	var_period(v, "T", PERIOD_TERM, today);
	var_period(v, "M", PERIOD_MONTH, today);
	period_containing(PERIOD_MONTH, today, &p);
	var_period(v, "M1", PERIOD_MONTH, p.start - 1);
	var_period(v, "W", PERIOD_WEEK, today);
	/* D0: the latest school day (Monday to Friday) up to today; Dk the
	 * k-th school day before it. */
	for (int k = 0; k <= 14; k++, d--) {
		char name[8];

		while (!weekday(d))
			d--;
		snprintf(name, sizeof name, "D%d", k);
		date_format(d, s, sizeof s);
		var_set(v, name, s);
	}
}

/* tmpl with every {NAME} of v replaced; the caller frees. */
static char *
expand(const struct vars *v, const char *tmpl)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "");
	while (*tmpl != '\0') {
		const char *close = tmpl[0] == '{' ? strchr(tmpl, '}') : NULL;
		size_t i = v->n;

		if (close != NULL)
			for (i = 0; i < v->n; i++)
				if (strlen(v->name[i]) == (size_t)(close - tmpl - 1) &&
				    strncmp(v->name[i], tmpl + 1, (size_t)(close - tmpl - 1)) == 0)
					break;
		if (i < v->n) {
			buf_puts(&b, v->value[i]);
			tmpl = close + 1;
		} else {
			buf_putc(&b, *tmpl++);
		}
	}
	return buf_steal(&b);
}

/* ---- the rule pack ---- */

static struct catalog *
load_catalog(void)
{
	FILE *f = fopen("deploy/metrics.csv", "rb");
	struct buf b;
	char chunk[4096];
	size_t n;
	struct catalog *cat = NULL;
	char *cause = NULL;

	cr_assert_not_null(f, "deploy/metrics.csv");
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	cr_assert_eq(catalog_parse_csv(b.data, b.len, &cat, &cause), 0, "%s", cause);
	buf_free(&b);
	return cat;
}

static struct ruleset *
load_pack(struct catalog *cat)
{
	char *errors = NULL;
	struct ruleset *set = rules_load_dir("deploy/rules", cat, &errors);

	cr_assert_not_null(set, "deploy/rules: %s", errors != NULL ? errors : "");
	return set;
}

/* ---- the daemon ---- */

static struct {
	char *db;
	PGconn *pg;
	char *reporter;
	struct tl_daemon *d;
	int port;
	struct catalog *cat;
	struct ruleset *rules;
} E;

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.reporter);
	ruleset_free(E.rules);
	catalog_free(E.cat);
	memset(&E, 0, sizeof E);
}

static cJSON *
post_csv(const char *csv)
{
	return tl_post_csv(E.port, E.reporter, csv);
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * The receipt's alerts are exactly expect ("rule unit event severity;..."),
 * in any order, plus missing-report resolutions. Returns the number of the
 * alert of (rule, unit) if listed, else 0.
 */
static long
check_receipt(const cJSON *receipt, const char *expect, const char *rule, const char *unit,
    const char *csv)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(receipt, "alerts");
	int n = cJSON_GetArraySize(a);
	bool used[64] = {false};
	char *exp = xstrdup(expect), *save = NULL, *printed = cJSON_PrintUnformatted(a);
	long id = 0;

	cr_assert(cJSON_IsArray(a), "the receipt lists its alerts: %s", printed);
	cr_assert_lt(n, 64);
	for (char *it = strtok_r(exp, ";", &save); it != NULL; it = strtok_r(NULL, ";", &save)) {
		char r[80], u[16], ev[16], sev[16];
		int k;

		cr_assert_eq(sscanf(it, "%79s %15s %15s %15s", r, u, ev, sev), 4, "bad expect %s", it);
		for (k = 0; k < n; k++) {
			const cJSON *x = cJSON_GetArrayItem(a, k);

			if (!used[k] && strcmp(jstr(x, "rule"), r) == 0 &&
			    strcmp(jstr(x, "unit"), u) == 0 && strcmp(jstr(x, "event"), ev) == 0 &&
			    strcmp(jstr(x, "severity"), sev) == 0)
				break;
		}
		cr_assert_lt(k, n, "posting\n%sthe receipt lists %s %s %s %s: %s", csv, r, u, ev, sev,
		    printed);
		used[k] = true;
		if (strcmp(r, rule) == 0 && strcmp(u, unit) == 0) {
			const cJSON *num = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(a, k), "id");

			cr_assert(cJSON_IsNumber(num) && num->valuedouble > 0, "%s", printed);
			id = (long)num->valuedouble;
		}
	}
	for (int k = 0; k < n; k++) {
		const cJSON *x = cJSON_GetArrayItem(a, k);

		cr_assert(used[k] || (strcmp(jstr(x, "event"), "resolved") == 0 &&
		    ends_with(jstr(x, "rule"), ".missing")),
		    "posting\n%sno other alert changes than \"%s\": %s", csv, expect, printed);
	}
	free(exp);
	cJSON_free(printed);
	return id;
}

/* The alert row of (rule, unit, period) with PQexecParams; NULL if none. */
static PGresult *
alert_row(const char *rule, const char *unit, const char *period)
{
	const char *params[3] = {rule, unit, period};
	PGresult *res = PQexecParams(E.pg,
	    "SELECT id, state, severity, value, bound, message, resolved_value,"
	    " resolved_at IS NOT NULL, unit_name FROM edumon.v_alert"
	    " WHERE rule_id = $1 AND unit_code = $2 AND period = $3",
	    3, NULL, params, NULL, NULL, 0);

	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(E.pg));
	if (PQntuples(res) == 0) {
		PQclear(res);
		return NULL;
	}
	cr_assert_eq(PQntuples(res), 1);
	return res;
}

/* "judged value" of the district figure of rule for period ("f" or "t"). */
static char *
figure_of(const char *rule, const char *period)
{
	const char *params[2] = {rule, period};
	PGresult *res = PQexecParams(E.pg,
	    "SELECT CASE WHEN judged THEN 't' ELSE 'f' END || ' ' || coalesce(value::text, '')"
	    " FROM edumon.v_rule_figure WHERE rule_id = $1 AND unit_code = '" DISTRICT "'"
	    " AND period = $2",
	    2, NULL, params, NULL, NULL, 0);
	char *v;

	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(E.pg));
	cr_assert_eq(PQntuples(res), 1, "%s has a figure for %s %s", rule, DISTRICT, period);
	v = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static void
expect_close(const char *got, const char *want, const char *what, const char *rule)
{
	double g = strtod(got, NULL), w = strtod(want, NULL);

	cr_expect(got[0] != '\0' && fabs(g - w) <= 1e-12 * fmax(1, fabs(w)),
	    "%s: %s is %s, expected %s", rule, what, got, want);
}

/* ---- the tests ---- */

TestSuite(rulepack, .fini = teardown, .timeout = 120);

/* The period of kind, grace days after which it is late, that is expected
 * (weekdays only for days) and whose deadline is today or before. */
static void
latest_overdue(enum period_kind kind, int grace, int32_t today, struct period *out)
{
	struct period p;

	period_containing(kind, today, &p);
	while (p.end + grace > today || (kind == PERIOD_DAY && !weekday(p.start)))
		period_prev(&p, &p);
	*out = p;
}

ParameterizedTestParameters(rulepack, scenario)
{
	static int idx[NSCENARIOS];

	for (size_t i = 0; i < NSCENARIOS; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, NSCENARIOS);
}

ParameterizedTest(int *i, rulepack, scenario)
{
	const struct scenario *sc = &scenarios[*i];
	const struct rule *rule;
	const struct metric *m;
	int32_t today = today_shanghai(), clock = 0;
	struct vars v;
	char *unit_period, *s;
	PGresult *row;
	long id = 0;
	struct buf history;
	int nsteps = 0;
	char *breach_message = NULL;

	cr_log_info("scenario %d: %s", *i, sc->rule);
	E.cat = load_catalog();
	E.rules = load_pack(E.cat);
	rule = ruleset_find(E.rules, sc->rule);
	cr_assert_not_null(rule, "%s is a rule of the pack", sc->rule);
	m = catalog_by_code(E.cat, rule->metric);
	cr_assert_not_null(m);

	vars_init(&v, today);
	if (sc->clock == CLOCK_MISSING) {
		struct period p;
		char str[PERIOD_STR_MAX];

		cr_assert_eq(rule->kind, RULE_MISSING);
		latest_overdue(m->period_kind, rule->grace_days, today, &p);
		var_set(&v, "P", period_format(&p, str, sizeof str));
		snprintf(str, sizeof str, "%d", (int)(today - (p.end + rule->grace_days) + 1));
		var_set(&v, "LATE", str);
		clock = p.end + rule->grace_days - 1;
	} else if (sc->clock == CLOCK_YEAR || sc->clock == CLOCK_MONTH) {
		struct period p;

		period_containing(sc->clock == CLOCK_YEAR ? PERIOD_YEAR : PERIOD_MONTH, today, &p);
		clock = p.start - 1;
	}

	E.db = tl_db_create("rulepack");
	E.pg = tl_db_connect(E.db);
	E.reporter = tl_token(E.db, "--reporter " DISTRICT);
	if (clock != 0) {
		/* A daemon that last evaluated the clock on that day. */
		char sql[160], d[16];

		date_format(clock, d, sizeof d);
		snprintf(sql, sizeof sql, "INSERT INTO edumon.evaluation_clock (last_day)"
		    " VALUES ('%s')", d);
		PQclear(PQexec(E.pg, sql));
		s = tl_query_value(E.pg, "SELECT last_day::text FROM edumon.evaluation_clock");
		cr_assert_str_eq(s, d);
		free(s);
	}
	E.d = tl_daemon_start(E.db, "--alert-wait 60000");
	E.port = tl_daemon_port(E.d);
	tl_wait_alerts_ready(E.port);

	unit_period = expand(&v, sc->period);
	buf_init(&history);
	buf_puts(&history, "");
	if (sc->fire_step < 0) {
		row = alert_row(sc->rule, sc->unit, unit_period);
		cr_assert_not_null(row, "%s fired at start-up for %s %s", sc->rule, sc->unit,
		    unit_period);
		PQclear(row);
		buf_printf(&history, "fired:%s:f", sc->severity);
	} else {
		cr_assert_null(alert_row(sc->rule, sc->unit, unit_period), "no alert before the steps");
	}

	for (int k = -1; k < MAX_STEPS; k++) {
		if (k >= 0 && sc->steps[k].csv == NULL)
			break;
		if (k >= 0 && (k + 1 == MAX_STEPS || sc->steps[k + 1].csv == NULL)) {
			/* The resolving step: the row's message stays that of
			 * the breach it ends. */
			row = alert_row(sc->rule, sc->unit, unit_period);
			cr_assert_not_null(row);
			free(breach_message);
			breach_message = sc->resolved_message != NULL ?
			    expand(&v, sc->resolved_message) : xstrdup(PQgetvalue(row, 0, 5));
			PQclear(row);
		}
		if (k >= 0) {
			char *csv = expand(&v, sc->steps[k].csv);
			cJSON *receipt = post_csv(csv);
			long got;
			const char *exp = sc->steps[k].expect;

			got = check_receipt(receipt, exp, sc->rule, sc->unit, csv);
			if (got != 0) {
				cr_expect(id == 0 || got == id, "%s: one alert row throughout", sc->rule);
				id = got;
			}
			/* The rule's own event, for the history. */
			for (const char *p = strstr(exp, sc->rule); p != NULL;
			    p = strstr(p + 1, sc->rule)) {
				char r[80], u[16], ev[16], sev[16];

				if (sscanf(p, "%79s %15s %15s %15[a-z]", r, u, ev, sev) == 4 &&
				    strcmp(r, sc->rule) == 0 && strcmp(u, sc->unit) == 0)
					buf_printf(&history, "%s%s:%s:t", history.len > 0 ? "," : "", ev,
					    sev);
			}
			cJSON_Delete(receipt);
			free(csv);
			nsteps++;
		}
		if (k == 0 && sc->first_provisional) {
			char *fig = figure_of(sc->rule, unit_period);

			cr_expect(strncmp(fig, "f ", 2) == 0, "%s: provisional, not %s", sc->rule, fig);
			free(fig);
		}
		if (k != sc->fire_step)
			continue;
		if (rule->scope != SCOPE_SCHOOL && rule->kind != RULE_QUOTA) {
			/* The district figure as the rule judged it. */
			char *fig = figure_of(sc->rule, unit_period), *val = expand(&v, sc->value);

			cr_expect(strncmp(fig, "t ", 2) == 0, "%s: judged, not %s", sc->rule, fig);
			expect_close(fig + 2, val, "v_rule_figure.value", sc->rule);
			free(fig);
			free(val);
		}
		/* Firing: severity, value, bound, message with the unit's name. */
		row = alert_row(sc->rule, sc->unit, unit_period);
		cr_assert_not_null(row, "%s fired for %s %s", sc->rule, sc->unit, unit_period);
		{
			char *val = expand(&v, sc->value), *msg = expand(&v, sc->message);

			cr_expect_str_eq(PQgetvalue(row, 0, 1), "firing", "%s", sc->rule);
			cr_expect_str_eq(PQgetvalue(row, 0, 2), sc->severity, "%s", sc->rule);
			expect_close(PQgetvalue(row, 0, 3), val, "value", sc->rule);
			expect_close(PQgetvalue(row, 0, 4), sc->bound, "bound", sc->rule);
			cr_expect_str_eq(PQgetvalue(row, 0, 5), msg, "%s: message\n  %s\nexpected\n  %s",
			    sc->rule, PQgetvalue(row, 0, 5), msg);
			cr_expect(strstr(PQgetvalue(row, 0, 5), PQgetvalue(row, 0, 8)) != NULL,
			    "%s: the message names %s", sc->rule, PQgetvalue(row, 0, 8));
			free(val);
			free(msg);
		}
		PQclear(row);
	}
	cr_assert_gt(nsteps, 0);

	/* Resolved, with the value that cleared it. */
	row = alert_row(sc->rule, sc->unit, unit_period);
	cr_assert_not_null(row);
	cr_expect_str_eq(PQgetvalue(row, 0, 1), "resolved", "%s", sc->rule);
	cr_expect_str_eq(PQgetvalue(row, 0, 7), "t", "%s: resolved_at", sc->rule);
	expect_close(PQgetvalue(row, 0, 6), sc->cleared, "resolved_value", sc->rule);
	cr_expect_str_eq(PQgetvalue(row, 0, 5), breach_message, "%s: resolved, the message\n  %s\n"
	    "is no longer that of its breach\n  %s", sc->rule, PQgetvalue(row, 0, 5),
	    breach_message);
	free(breach_message);
	if (id != 0)
		cr_expect_eq(atol(PQgetvalue(row, 0, 0)), id, "%s: the receipts' alert number",
		    sc->rule);
	{
		/* Its history: each change once, linked to its submission
		 * except the clock's. */
		char sql[400];

		snprintf(sql, sizeof sql, "SELECT string_agg(kind || ':' || severity || ':' ||"
		    " CASE WHEN submission_id IS NULL THEN 'f' ELSE 't' END, ',' ORDER BY id)"
		    " FROM edumon.alert_event WHERE alert_id = %s", PQgetvalue(row, 0, 0));
		s = tl_query_value(E.pg, sql);
		cr_expect_str_eq(s != NULL ? s : "", history.data, "%s: history", sc->rule);
		free(s);
	}
	PQclear(row);

	{
		/* A restart judges everything again from the database and
		 * changes nothing. */
		const char *count = "SELECT (SELECT count(*) FROM edumon.alert_event) || ' '"
		    " || (SELECT count(*) FROM edumon.alert WHERE state = 'firing') || ' '"
		    " || (SELECT coalesce(max(updated_at)::text, '') FROM edumon.alert)";
		char *before = tl_query_value(E.pg, count), *after;

		cr_assert_eq(tl_daemon_stop(E.d), 0);
		E.d = tl_daemon_start(E.db, "--alert-wait 60000");
		E.port = tl_daemon_port(E.d);
		tl_wait_alerts_ready(E.port);
		after = tl_query_value(E.pg, count);
		cr_expect_str_eq(after, before, "%s: a restart changes no alert", sc->rule);
		free(before);
		free(after);
	}
	if (sc->prorata_csv != NULL) {
		/* The current quota period, pro-rated as of today: behind when
		 * floor(quota * days gone / days) is above 0 (never for one drill
		 * a month before the month ends; not on January 1 for a year). */
		struct period q;
		char str[PERIOD_STR_MAX], *csv, expect[160];
		long share;
		cJSON *receipt;

		period_containing(rule->quota_period, today, &q);
		share = (long)floor(rule->quota * (double)(today - q.start) / (q.end - q.start));
		period_format(&q, str, sizeof str);
		row = alert_row(sc->rule, sc->unit, str);
		if (share > 0) {
			char b[32];

			cr_assert_not_null(row, "%s: %s is behind its share %ld", sc->rule, str, share);
			cr_expect_str_eq(PQgetvalue(row, 0, 1), "firing");
			cr_expect_str_eq(PQgetvalue(row, 0, 2), "warning");
			snprintf(b, sizeof b, "%ld", share);
			expect_close(PQgetvalue(row, 0, 4), b, "pro-rated bound", sc->rule);
			PQclear(row);
			snprintf(expect, sizeof expect, "%s %s resolved warning", sc->rule, sc->unit);
		} else {
			cr_expect_null(row, "%s: %s is not behind yet", sc->rule, str);
			PQclear(row);
			expect[0] = '\0';
		}
		csv = expand(&v, sc->prorata_csv);
		receipt = post_csv(csv);
		check_receipt(receipt, expect, sc->rule, sc->unit, csv);
		cJSON_Delete(receipt);
		free(csv);
	}
	buf_free(&history);
	free(unit_period);
}

/* The table covers the pack: every rule has exactly one scenario. */
Test(rulepack, every_rule_has_a_scenario)
{
	struct catalog *cat = load_catalog();
	struct ruleset *set = load_pack(cat);

	cr_expect_eq(set->nrules, 45, "the shipped pack has 45 rules");
	for (size_t r = 0; r < set->nrules; r++) {
		int n = 0;

		for (size_t k = 0; k < NSCENARIOS; k++)
			n += strcmp(scenarios[k].rule, set->rules[r].id) == 0;
		cr_expect_eq(n, 1, "rule %s has %d scenarios", set->rules[r].id, n);
	}
	for (size_t k = 0; k < NSCENARIOS; k++)
		cr_expect_not_null(ruleset_find(set, scenarios[k].rule), "scenario of no rule: %s",
		    scenarios[k].rule);
	ruleset_free(set);
	catalog_free(cat);
}
