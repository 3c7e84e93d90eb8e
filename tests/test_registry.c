/*
 * test_registry.c: names tables, stage and unit-kind lists, the in-memory
 * registry (lookups, replacement, growth) and registry_within.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "util.h"

static struct unit
mk(int id, const char *code, enum unit_kind kind, int parent)
{
	struct unit u = {
		.id = id,
		.code = (char *)code,
		.name = (char *)"名称",
		.kind = kind,
		.parent_id = parent,
		.stages = 0,
		.urban = true,
		.is_public = true,
		.active = true,
	};

	return u;
}

Test(registry, unit_kind_names_round_trip)
{
	for (int k = 0; k < UNIT_KIND_COUNT; k++) {
		enum unit_kind back;

		cr_assert_eq(unit_kind_parse(unit_kind_name(k), &back), 0, "kind %d", k);
		cr_assert_eq(back, (enum unit_kind)k);
	}
	cr_assert_str_eq(unit_kind_name(UNIT_GUIDANCE_POINT), "guidance_point");
	cr_assert_str_eq(unit_kind_name(UNIT_KIND_COUNT), "unknown");
}

Test(registry, unit_kind_parse_rejects)
{
	static const char *const bad[] = {"", "School", "schools", "guidance point", "unknown",
		"district "};
	enum unit_kind k = UNIT_CITY;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_assert_eq(unit_kind_parse(bad[i], &k), -1, "\"%s\"", bad[i]);
		cr_assert_eq(k, UNIT_CITY);
	}
}

Test(registry, stage_names_round_trip)
{
	for (int s = 0; s < STAGE_COUNT; s++) {
		enum stage back;

		cr_assert_eq(stage_parse(stage_name(s), &back), 0);
		cr_assert_eq(back, (enum stage)s);
	}
	cr_assert_str_eq(stage_name(STAGE_VOCATIONAL), "vocational");
	cr_assert_str_eq(stage_name(STAGE_COUNT), "unknown");
	cr_assert_eq(stage_parse("Primary", &(enum stage){0}), -1);
}

struct list_case {
	const char *text;
	char sep;
	int rc;
	unsigned mask;
	const char *cause; /* substring, for rc -1 */
};

static const struct list_case stage_cases[] = {
	{"", '|', 0, 0, NULL},
	{"primary", '|', 0, STAGE_BIT(STAGE_PRIMARY), NULL},
	{"primary|junior", '|', 0, STAGE_BIT(STAGE_PRIMARY) | STAGE_BIT(STAGE_JUNIOR), NULL},
	{"junior,senior", ',', 0, STAGE_BIT(STAGE_JUNIOR) | STAGE_BIT(STAGE_SENIOR), NULL},
	{"preschool|primary|junior|senior|special|vocational", '|', 0, 0x3f, NULL},
	{"junior|junior", '|', 0, STAGE_BIT(STAGE_JUNIOR), NULL},
	{"primary|middle", '|', -1, 0, "unknown stage \"middle\""},
	{"primary,junior", '|', -1, 0, "unknown stage \"primary,junior\""},
	{"primary||junior", '|', -1, 0, "empty stage name"},
	{"primary|", '|', -1, 0, "empty stage name"},
	{"|primary", '|', -1, 0, "empty stage name"},
	{" primary", '|', -1, 0, "unknown stage \" primary\""},
	{"PRIMARY", ',', -1, 0, "expected preschool, primary, junior, senior, special, vocational"},
};

Test(registry, stages_parse_table)
{
	for (size_t i = 0; i < ARRAY_LEN(stage_cases); i++) {
		const struct list_case *c = &stage_cases[i];
		unsigned mask = 0xdead;
		char *cause = NULL;
		int rc = stages_parse(c->text, c->sep, &mask, &cause);

		cr_assert_eq(rc, c->rc, "case %zu \"%s\"", i, c->text);
		if (rc == 0) {
			cr_assert_eq(mask, c->mask, "case %zu", i);
			cr_assert_null(cause);
		} else {
			cr_assert_eq(mask, 0xdead, "mask untouched on failure");
			cr_assert_not_null(cause);
			cr_assert(strstr(cause, c->cause) != NULL, "case %zu: got \"%s\"", i, cause);
			free(cause);
		}
	}
}

Test(registry, unit_kinds_parse_table)
{
	unsigned mask;
	char *cause = NULL;

	cr_assert_eq(unit_kinds_parse("school|childcare|guidance_point", '|', &mask, &cause), 0);
	cr_assert_eq(mask, UNIT_KIND_BIT(UNIT_SCHOOL) | UNIT_KIND_BIT(UNIT_CHILDCARE) |
	    UNIT_KIND_BIT(UNIT_GUIDANCE_POINT));
	cr_assert_eq(unit_kinds_parse("district", ',', &mask, &cause), 0);
	cr_assert_eq(mask, UNIT_KIND_BIT(UNIT_DISTRICT));
	cr_assert_eq(unit_kinds_parse("", ',', &mask, &cause), 0);
	cr_assert_eq(mask, 0);
	cr_assert_eq(unit_kinds_parse("school|county", '|', &mask, &cause), -1);
	cr_assert_str_eq(cause, "unknown unit kind \"county\" (expected province, city, "
				"district, school, childcare, guidance_point)");
	free(cause);
}

Test(registry, stages_format_round_trip_every_mask)
{
	for (unsigned m = 0; m < (1u << STAGE_COUNT); m++) {
		char out[128];
		unsigned back = 0xffff;
		char *cause = NULL;

		stages_format(m, '|', out, sizeof out);
		cr_assert_eq(stages_parse(out, '|', &back, &cause), 0, "mask %u -> \"%s\"", m, out);
		cr_assert_eq(back, m);
		stages_format(m, ',', out, sizeof out);
		cr_assert_eq(stages_parse(out, ',', &back, &cause), 0);
		cr_assert_eq(back, m);
	}
}

Test(registry, stages_format_truncates_on_whole_names)
{
	char out[16];
	unsigned all = (1u << STAGE_COUNT) - 1;

	/* "preschool|primary" is 17 bytes: only the first name fits. */
	cr_assert_str_eq(stages_format(all, '|', out, sizeof out), "preschool");
	cr_assert_str_eq(stages_format(STAGE_BIT(STAGE_JUNIOR), ',', out, 7), "junior");
	cr_assert_str_eq(stages_format(STAGE_BIT(STAGE_JUNIOR), ',', out, 6), "");
	cr_assert_str_eq(stages_format(0, ',', out, sizeof out), "");
	out[0] = 'x';
	stages_format(all, ',', out, 0);
	cr_assert_eq(out[0], 'x', "len 0 writes nothing");
}

Test(registry, add_and_lookup)
{
	struct registry *reg = registry_new();
	struct unit u = mk(1, "32", UNIT_PROVINCE, 0);
	char code[16], name[16];
	const struct unit *got;

	cr_assert_eq(registry_count(reg), 0);
	cr_assert_null(registry_by_code(reg, "32"));
	cr_assert_null(registry_by_id(reg, 1));
	registry_add(reg, &u);
	/* Strings are copied: scribbling on the source changes nothing. */
	strcpy(code, "3207");
	strcpy(name, "连云港市");
	u = mk(2, code, UNIT_CITY, 1);
	u.name = name;
	u.stages = STAGE_BIT(STAGE_JUNIOR);
	u.urban = false;
	registry_add(reg, &u);
	memset(code, 'x', sizeof code - 1);
	memset(name, 'x', sizeof name - 1);

	cr_assert_eq(registry_count(reg), 2);
	got = registry_by_code(reg, "3207");
	cr_assert_not_null(got);
	cr_assert_eq(got->id, 2);
	cr_assert_str_eq(got->name, "连云港市");
	cr_assert_eq(got->kind, UNIT_CITY);
	cr_assert_eq(got->parent_id, 1);
	cr_assert_eq(got->stages, STAGE_BIT(STAGE_JUNIOR));
	cr_assert_not(got->urban);
	cr_assert_eq(registry_by_id(reg, 2), got);
	cr_assert_str_eq(registry_by_id(reg, 1)->code, "32");
	cr_assert_null(registry_by_id(reg, 3));
	cr_assert_null(registry_by_code(reg, "320"));
	registry_free(reg);
	registry_free(NULL);
}

Test(registry, repeated_id_replaces)
{
	struct registry *reg = registry_new();
	struct unit a = mk(10, "3207030001", UNIT_SCHOOL, 0);
	struct unit b = mk(10, "3207030009", UNIT_SCHOOL, 0);

	registry_add(reg, &a);
	b.active = false;
	registry_add(reg, &b);
	cr_assert_eq(registry_count(reg), 1);
	cr_assert_null(registry_by_code(reg, "3207030001"), "old code gone");
	cr_assert_str_eq(registry_by_id(reg, 10)->code, "3207030009");
	cr_assert_not(registry_by_code(reg, "3207030009")->active);
	registry_free(reg);
}

Test(registry, repeated_code_replaces)
{
	struct registry *reg = registry_new();
	struct unit a = mk(10, "3207030001", UNIT_SCHOOL, 0);
	struct unit b = mk(11, "3207030001", UNIT_CHILDCARE, 0);

	registry_add(reg, &a);
	registry_add(reg, &b);
	cr_assert_eq(registry_count(reg), 1);
	cr_assert_null(registry_by_id(reg, 10), "old id gone");
	cr_assert_eq(registry_by_id(reg, 11)->kind, UNIT_CHILDCARE);
	cr_assert_eq(registry_by_code(reg, "3207030001")->id, 11);
	registry_free(reg);
}

Test(registry, id_of_one_and_code_of_another_replace_both)
{
	struct registry *reg = registry_new();
	struct unit a = mk(1, "A", UNIT_SCHOOL, 0);
	struct unit b = mk(2, "B", UNIT_SCHOOL, 0);
	struct unit c = mk(3, "C", UNIT_SCHOOL, 0);
	struct unit n = mk(1, "B", UNIT_DISTRICT, 0);

	registry_add(reg, &a);
	registry_add(reg, &b);
	registry_add(reg, &c);
	registry_add(reg, &n);
	cr_assert_eq(registry_count(reg), 2);
	cr_assert_null(registry_by_code(reg, "A"));
	cr_assert_null(registry_by_id(reg, 2));
	cr_assert_eq(registry_by_id(reg, 1)->kind, UNIT_DISTRICT);
	cr_assert_eq(registry_by_code(reg, "B")->id, 1);
	cr_assert_eq(registry_by_code(reg, "C")->id, 3);
	/* Same id and code again: a plain in-place replacement. */
	n.kind = UNIT_CITY;
	registry_add(reg, &n);
	cr_assert_eq(registry_count(reg), 2);
	cr_assert_eq(registry_by_code(reg, "B")->kind, UNIT_CITY);
	registry_free(reg);
}

Test(registry, grows_to_many_units_and_survives_churn)
{
	struct registry *reg = registry_new();
	enum { N = 20000 };
	char code[32];

	for (int i = 1; i <= N; i++) {
		struct unit u;

		snprintf(code, sizeof code, "32070%05d", i);
		u = mk(i, code, UNIT_SCHOOL, i > 1 ? i - 1 : 0);
		registry_add(reg, &u);
	}
	cr_assert_eq(registry_count(reg), N);
	/* Replace every other unit under a new code (tombstones, rebuilds). */
	for (int i = 2; i <= N; i += 2) {
		struct unit u;

		snprintf(code, sizeof code, "NEW%d", i);
		u = mk(i, code, UNIT_SCHOOL, i - 1);
		registry_add(reg, &u);
	}
	cr_assert_eq(registry_count(reg), N);
	for (int i = 1; i <= N; i++) {
		const struct unit *u = registry_by_id(reg, i);

		cr_assert_not_null(u, "id %d", i);
		if (i % 2 == 0) {
			snprintf(code, sizeof code, "NEW%d", i);
			cr_assert_str_eq(u->code, code);
			snprintf(code, sizeof code, "32070%05d", i);
			cr_assert_null(registry_by_code(reg, code));
		} else {
			snprintf(code, sizeof code, "32070%05d", i);
			cr_assert_eq(registry_by_code(reg, code), u);
		}
	}
	registry_free(reg);
}

/* province 1 > city 2 > district 3 > school 4; district 5 under the city. */
static struct registry *
tree(void)
{
	struct registry *reg = registry_new();
	struct unit us[] = {
		mk(1, "32", UNIT_PROVINCE, 0),
		mk(2, "3207", UNIT_CITY, 1),
		mk(3, "320703", UNIT_DISTRICT, 2),
		mk(4, "3207030001", UNIT_SCHOOL, 3),
		mk(5, "320706", UNIT_DISTRICT, 2),
		mk(6, "3207060001", UNIT_SCHOOL, 5),
	};

	for (size_t i = 0; i < ARRAY_LEN(us); i++)
		registry_add(reg, &us[i]);
	return reg;
}

Test(registry, within_walks_parents)
{
	struct registry *reg = tree();

	cr_assert(registry_within(reg, 4, 4), "a unit is within itself");
	cr_assert(registry_within(reg, 4, 3));
	cr_assert(registry_within(reg, 4, 2));
	cr_assert(registry_within(reg, 4, 1));
	cr_assert(registry_within(reg, 3, 1));
	cr_assert_not(registry_within(reg, 4, 5), "other district");
	cr_assert_not(registry_within(reg, 6, 3));
	cr_assert_not(registry_within(reg, 3, 4), "a parent is not within its child");
	cr_assert_not(registry_within(reg, 99, 1), "unknown unit");
	cr_assert_not(registry_within(reg, 99, 99), "unknown unit, even as itself");
	cr_assert_not(registry_within(reg, 4, 0), "0 is no unit");
	cr_assert_not(registry_within(reg, 4, 99));
	registry_free(reg);
}

Test(registry, within_stops_on_a_cycle)
{
	struct registry *reg = registry_new();
	struct unit a = mk(1, "A", UNIT_DISTRICT, 2);
	struct unit b = mk(2, "B", UNIT_DISTRICT, 1);
	struct unit s = mk(3, "S", UNIT_SCHOOL, 1);

	registry_add(reg, &a);
	registry_add(reg, &b);
	registry_add(reg, &s);
	cr_assert(registry_within(reg, 3, 2), "found before the loop matters");
	cr_assert_not(registry_within(reg, 3, 77), "cycle: gives up, false");
	cr_assert_not(registry_within(reg, 1, 3));
	registry_free(reg);
}

Test(registry, within_gives_up_after_16_steps)
{
	struct registry *reg = registry_new();
	char code[16];

	/* A chain 1 <- 2 <- ... <- 40 (unit i's parent is i - 1). */
	for (int i = 1; i <= 40; i++) {
		struct unit u;

		snprintf(code, sizeof code, "U%d", i);
		u = mk(i, code, UNIT_DISTRICT, i - 1);
		registry_add(reg, &u);
	}
	cr_assert(registry_within(reg, 10, 1), "9 steps up");
	cr_assert(registry_within(reg, 16, 1), "15 steps up");
	cr_assert_not(registry_within(reg, 40, 1), "39 steps up is too deep");
	cr_assert_not(registry_within(reg, 17, 1), "16 steps up is too deep");
	registry_free(reg);
}
