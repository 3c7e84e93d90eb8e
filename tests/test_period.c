/*
 * test_period.c: Criterion suite "period" for lib/period.c.
 *
 * Reference values are written out as date strings (compared through
 * date_format) or derived independently of the module: weekdays by
 * Sakamoto's method, civil dates and ISO weeks by the C library (timegm,
 * gmtime_r, strftime %G/%V), so the tests do not merely restate the code.
 *
 * Loops over many days report only failures (CHECK): Criterion sends every
 * evaluated assertion to the runner, which would make them slow.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "period.h"
#include "util.h"

#define CHECK(cond, ...)                                                               \
	do {                                                                           \
		if (!(cond))                                                           \
			cr_assert_fail(__VA_ARGS__);                                   \
	} while (0)

/* First and last supported days. */
#define DAY_MIN date_from_civil(PERIOD_YEAR_MIN, 1, 1)
#define DAY_MAX date_from_civil(PERIOD_YEAR_MAX, 12, 31)

/* Day of week by Sakamoto's method, 0 = Sunday; independent of period.c. */
static int
sakamoto_dow(int y, int m, int d)
{
	static const int t[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};

	if (m < 3)
		y -= 1;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* Leap year by the textbook rule, independent of period.c. */
static int
ref_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Parse s, which must succeed, and check its kind and [start, end) as dates. */
static void
expect_period(const char *s, enum period_kind kind, const char *start, const char *end)
{
	struct period p;
	char *cause = NULL;
	char a[16], b[16], f[PERIOD_STR_MAX];

	cr_assert_eq(period_parse(s, &p, &cause), 0, "%s: %s", s, cause ? cause : "");
	cr_assert_null(cause, "%s: cause set on success", s);
	cr_assert_eq(p.kind, kind, "%s: kind %s, expected %s", s, period_kind_name(p.kind),
	    period_kind_name(kind));
	date_format(p.start, a, sizeof a);
	date_format(p.end, b, sizeof b);
	cr_assert_str_eq(a, start, "%s: start %s, expected %s", s, a, start);
	cr_assert_str_eq(b, end, "%s: end %s, expected %s", s, b, end);
	cr_assert_str_eq(period_format(&p, f, sizeof f), s, "%s: formats as %s", s, f);
}

/* Parse s, which must fail, and return the (non-empty) cause; caller frees. */
static char *
expect_fail(const char *s)
{
	struct period p = {PERIOD_YEAR, 12345, 67890};
	char *cause = NULL;

	cr_assert_eq(period_parse(s, &p, &cause), -1, "\"%s\" was accepted", s);
	cr_assert_not_null(cause, "\"%s\": no cause", s);
	cr_assert_neq(cause[0], '\0', "\"%s\": empty cause", s);
	cr_assert(p.kind == PERIOD_YEAR && p.start == 12345 && p.end == 67890,
	    "\"%s\": out written on failure", s);
	return cause;
}

/* Parse s, which must fail with exactly the message want. */
static void
expect_cause(const char *s, const char *want)
{
	char *cause = expect_fail(s);

	cr_expect_str_eq(cause, want, "\"%s\": cause \"%s\", expected \"%s\"", s, cause, want);
	free(cause);
}

/* True if two periods are identical. */
static int
period_eq(const struct period *a, const struct period *b)
{
	return a->kind == b->kind && a->start == b->start && a->end == b->end;
}

/* Kind names in both languages, and parsing them back. */
Test(period, kind_names)
{
	static const char *const names[PERIOD_KIND_COUNT] = {
		"day", "week", "month", "quarter", "term", "school_year", "year"};
	static const char *const zh[PERIOD_KIND_COUNT] = {
		"日", "周", "月", "季度", "学期", "学年", "年"};
	enum period_kind k;

	for (int i = 0; i < PERIOD_KIND_COUNT; i++) {
		cr_assert_str_eq(period_kind_name((enum period_kind)i), names[i]);
		cr_assert_str_eq(period_kind_name_zh((enum period_kind)i), zh[i]);
		cr_assert_eq(period_kind_parse(names[i], &k), 0);
		cr_assert_eq((int)k, i);
	}
	k = PERIOD_DAY;
	cr_assert_eq(period_kind_parse("Week", &k), -1);
	cr_assert_eq(period_kind_parse("", &k), -1);
	cr_assert_eq(period_kind_parse("school-year", &k), -1);
	cr_assert_eq(period_kind_parse(NULL, &k), -1);
	cr_assert_eq(k, PERIOD_DAY);
}

/* Each kind parses to the right kind and [start, end), and formats back. */
Test(period, every_kind_parses)
{
	expect_period("2021-09-15", PERIOD_DAY, "2021-09-15", "2021-09-16");
	expect_period("2021-12-31", PERIOD_DAY, "2021-12-31", "2022-01-01");
	expect_period("1900-01-01", PERIOD_DAY, "1900-01-01", "1900-01-02");
	expect_period("2999-12-31", PERIOD_DAY, "2999-12-31", "3000-01-01");
	expect_period("2021-W37", PERIOD_WEEK, "2021-09-13", "2021-09-20");
	expect_period("2021-W01", PERIOD_WEEK, "2021-01-04", "2021-01-11");
	expect_period("2021-W52", PERIOD_WEEK, "2021-12-27", "2022-01-03");
	expect_period("2021-09", PERIOD_MONTH, "2021-09-01", "2021-10-01");
	expect_period("2021-12", PERIOD_MONTH, "2021-12-01", "2022-01-01");
	expect_period("2021-02", PERIOD_MONTH, "2021-02-01", "2021-03-01");
	expect_period("2021-Q1", PERIOD_QUARTER, "2021-01-01", "2021-04-01");
	expect_period("2021-Q2", PERIOD_QUARTER, "2021-04-01", "2021-07-01");
	expect_period("2021-Q3", PERIOD_QUARTER, "2021-07-01", "2021-10-01");
	expect_period("2021-Q4", PERIOD_QUARTER, "2021-10-01", "2022-01-01");
	expect_period("2021-2022-1", PERIOD_TERM, "2021-09-01", "2022-02-01");
	expect_period("2021-2022-2", PERIOD_TERM, "2022-02-01", "2022-09-01");
	expect_period("2021-2022", PERIOD_SCHOOL_YEAR, "2021-09-01", "2022-09-01");
	expect_period("2021", PERIOD_YEAR, "2021-01-01", "2022-01-01");
	expect_period("1900", PERIOD_YEAR, "1900-01-01", "1901-01-01");
	expect_period("2999", PERIOD_YEAR, "2999-01-01", "3000-01-01");
	/* A school year or term is labelled by the year it starts in. */
	expect_period("2999-3000", PERIOD_SCHOOL_YEAR, "2999-09-01", "3000-09-01");
	expect_period("2999-3000-2", PERIOD_TERM, "3000-02-01", "3000-09-01");
	expect_period("1900-1901-1", PERIOD_TERM, "1900-09-01", "1901-02-01");
}

/* Gregorian leap years: 2000 and 2024 leap, 1900 and 2100 not. */
Test(period, leap_years)
{
	int32_t d;
	char *cause;

	expect_period("2000-02-29", PERIOD_DAY, "2000-02-29", "2000-03-01");
	expect_period("2024-02-29", PERIOD_DAY, "2024-02-29", "2024-03-01");
	expect_period("2000-02", PERIOD_MONTH, "2000-02-01", "2000-03-01");
	expect_period("1900-02", PERIOD_MONTH, "1900-02-01", "1900-03-01");
	expect_period("2100-02", PERIOD_MONTH, "2100-02-01", "2100-03-01");
	expect_period("2024-02", PERIOD_MONTH, "2024-02-01", "2024-03-01");
	expect_cause("1900-02-29", "1900-02-29: 1900-02 has 28 days");
	expect_cause("2100-02-29", "2100-02-29: 2100-02 has 28 days");
	expect_cause("2023-02-29", "2023-02-29: 2023-02 has 28 days");
	expect_cause("2024-02-30", "2024-02-30: 2024-02 has 29 days");
	cr_assert_eq(date_make(2000, 2, 29, &d), 0);
	cr_assert_eq(date_make(2024, 2, 29, &d), 0);
	cr_assert_eq(date_make(1900, 2, 29, &d), -1);
	cr_assert_eq(date_make(2100, 2, 29, &d), -1);
	cr_assert_eq(date_make(2400, 2, 29, &d), 0);
	/* Year lengths: 366 days exactly in leap years. */
	for (int y = PERIOD_YEAR_MIN; y <= PERIOD_YEAR_MAX; y++) {
		struct period p;
		char s[8];

		snprintf(s, sizeof s, "%d", y);
		cause = NULL;
		CHECK(period_parse(s, &p, &cause) == 0, "%s: %s", s, cause);
		CHECK(p.end - p.start == (ref_leap(y) ? 366 : 365), "%s: %d days", s,
		    (int)(p.end - p.start));
	}
}

/* ISO weeks whose week-year differs from the calendar year at the edges. */
Test(period, iso_weeks_at_year_edges)
{
	expect_period("2020-W53", PERIOD_WEEK, "2020-12-28", "2021-01-04");
	expect_period("2021-W01", PERIOD_WEEK, "2021-01-04", "2021-01-11");
	expect_period("2015-W53", PERIOD_WEEK, "2015-12-28", "2016-01-04");
	expect_period("2016-W01", PERIOD_WEEK, "2016-01-04", "2016-01-11");
	expect_period("2026-W01", PERIOD_WEEK, "2025-12-29", "2026-01-05");
	expect_period("2025-W52", PERIOD_WEEK, "2025-12-22", "2025-12-29");
	expect_period("2009-W53", PERIOD_WEEK, "2009-12-28", "2010-01-04");
	expect_period("2004-W53", PERIOD_WEEK, "2004-12-27", "2005-01-03");
	expect_period("2008-W01", PERIOD_WEEK, "2007-12-31", "2008-01-07");
	expect_period("1900-W01", PERIOD_WEEK, "1900-01-01", "1900-01-08");
	expect_cause("2021-W53", "2021-W53: 2021 has 52 ISO weeks");
	expect_cause("2021-W54", "2021-W54: 2021 has 52 ISO weeks");
	expect_cause("2020-W54", "2020-W54: 2020 has 53 ISO weeks");
	expect_cause("2025-W53", "2025-W53: 2025 has 52 ISO weeks");
	expect_cause("2021-W00", "2021-W00: week must be W01-W52");
	expect_cause("2020-W00", "2020-W00: week must be W01-W53");
}

/*
 * For every supported year, the parser accepts W53 exactly when the
 * textbook rule says the year has 53 ISO weeks: Jan 1 is a Thursday, or it
 * is a leap year and Jan 1 is a Wednesday. Weekday and leap year come from
 * the independent helpers above.
 */
Test(period, iso_week_count_reference)
{
	int n53 = 0;

	for (int y = PERIOD_YEAR_MIN; y <= PERIOD_YEAR_MAX; y++) {
		int jan1 = sakamoto_dow(y, 1, 1); /* 0 = Sunday */
		int want = jan1 == 4 || (ref_leap(y) && jan1 == 3) ? 53 : 52;
		int got;
		struct period p, q;
		char s[16], f[PERIOD_STR_MAX];
		char *cause = NULL;

		snprintf(s, sizeof s, "%04d-W52", y);
		CHECK(period_parse(s, &p, &cause) == 0, "%s: %s", s, cause);
		snprintf(s, sizeof s, "%04d-W53", y);
		got = period_parse(s, &p, &cause) == 0 ? 53 : 52;
		CHECK(got == want, "%d: parser says %d ISO weeks, reference %d", y, got, want);
		if (got == 52) {
			char want_cause[64];

			snprintf(want_cause, sizeof want_cause, "%04d-W53: %04d has 52 ISO weeks",
			    y, y);
			CHECK(strcmp(cause, want_cause) == 0, "%s: %s", s, cause);
			free(cause);
			cause = NULL;
		} else {
			n53++;
			/* Week 53 is followed by week 1 of the next year. */
			period_next(&p, &q);
			snprintf(s, sizeof s, "%04d-W01", y + 1);
			CHECK(strcmp(period_format(&q, f, sizeof f), s) == 0, "%s", f);
		}
		snprintf(s, sizeof s, "%04d-W54", y);
		CHECK(period_parse(s, &p, &cause) == -1, "%s accepted", s);
		free(cause);
		cause = NULL;
	}
	/* 71 long years in every 400-year cycle. */
	cr_assert(n53 > 1100 * 71 / 400 - 3 && n53 < 1100 * 71 / 400 + 3, "%d long years", n53);
}

/* Term 1 runs across the new year; Feb 1 and Sep 1 are the boundaries. */
Test(period, terms_across_new_year)
{
	struct period p, q;
	char f[PERIOD_STR_MAX];

	expect_period("2021-2022-1", PERIOD_TERM, "2021-09-01", "2022-02-01");
	expect_period("2021-2022-2", PERIOD_TERM, "2022-02-01", "2022-09-01");
	period_containing(PERIOD_TERM, date_from_civil(2022, 1, 31), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2021-2022-1");
	period_containing(PERIOD_TERM, date_from_civil(2022, 1, 1), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2021-2022-1");
	period_containing(PERIOD_TERM, date_from_civil(2021, 12, 31), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2021-2022-1");
	period_containing(PERIOD_TERM, date_from_civil(2021, 9, 1), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2021-2022-1");
	period_containing(PERIOD_TERM, date_from_civil(2021, 8, 31), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2020-2021-2");
	period_containing(PERIOD_TERM, date_from_civil(2022, 2, 1), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2021-2022-2");
	period_next(&p, &q);
	cr_assert_str_eq(period_format(&q, f, sizeof f), "2022-2023-1");
	period_prev(&p, &q);
	cr_assert_str_eq(period_format(&q, f, sizeof f), "2021-2022-1");
	period_containing(PERIOD_SCHOOL_YEAR, date_from_civil(2022, 1, 15), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2021-2022");
	period_containing(PERIOD_SCHOOL_YEAR, date_from_civil(2022, 8, 31), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2021-2022");
	period_containing(PERIOD_SCHOOL_YEAR, date_from_civil(2022, 9, 1), &p);
	cr_assert_str_eq(period_format(&p, f, sizeof f), "2022-2023");
}

/* The exact messages promised to users. */
Test(period, exact_causes)
{
	expect_cause("2021-13", "2021-13: month must be 01-12");
	expect_cause("2021-02-29", "2021-02-29: 2021-02 has 28 days");
	expect_cause("2021-W53", "2021-W53: 2021 has 52 ISO weeks");
	expect_cause("2021-2023",
	    "2021-2023: a school year spans two consecutive years (e.g. 2021-2022)");
	expect_cause("2021-2022-3", "2021-2022-3: term must be 1 or 2");
	expect_cause("21-09",
	    "\"21-09\": not a period; expected one of 2021-09-15, 2021-W37, 2021-09, "
	    "2021-Q3, 2021-2022-1, 2021-2022, 2021");
	expect_cause("1899", "1899: year must be 1900-2999");
	expect_cause("2021-w37", "2021-w37: use upper case W for ISO weeks, as in 2021-W37");
	expect_cause("2021-w7", "2021-w7: use upper case W for ISO weeks, as in 2021-W07");
	expect_cause("2021-q3", "2021-q3: use upper case Q for quarters, as in 2021-Q3");
	expect_cause("2021-W7", "2021-W7: week must have two digits, as in 2021-W07");
	expect_cause("2021-9", "2021-9: month must have two digits, as in 2021-09");
	expect_cause("2021-9-5", "2021-9-5: month and day must have two digits, as in 2021-09-05");
	expect_cause(" 2021", "\" 2021\": leading or trailing whitespace is not allowed");
	expect_cause("2021-09-00", "2021-09-00: day must be 01-30");
}

/*
 * Malformed inputs: each is refused, *out is untouched, and the cause is
 * non-empty and contains the key phrase. Fixed-size arrays (not pointers)
 * so the cases survive Criterion copying parameters into the worker.
 */
struct bad_case {
	char input[48];
	char phrase[64];
};

ParameterizedTestParameters(period, malformed)
{
	static struct bad_case cases[] = {
		{"", "not a period"},
		{" 2021", "whitespace"},
		{"2021 ", "whitespace"},
		{"2021\n", "whitespace"},
		{"\t2021-09", "whitespace"},
		{"21-09", "not a period"},
		{"+2021", "not a period"},
		{"-2021", "not a period"},
		{"02021", "not a period"},
		{"\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x91", "not a period"},
		{"2021\xe5\xb9\xb4", "\\xe5\\xb9\\xb4\": not a period"},
		{"2021-13", "month must be 01-12"},
		{"2021-00", "month must be 01-12"},
		{"2021-13-01", "month must be 01-12"},
		{"2021-02-29", "2021-02 has 28 days"},
		{"1900-02-29", "1900-02 has 28 days"},
		{"2021-04-31", "2021-04 has 30 days"},
		{"2021-01-32", "2021-01 has 31 days"},
		{"2021-09-00", "day must be 01-30"},
		{"2021-W53", "2021 has 52 ISO weeks"},
		{"2020-W54", "2020 has 53 ISO weeks"},
		{"2021-W00", "week must be W01-W52"},
		{"2021-W99", "2021 has 52 ISO weeks"},
		{"2021-w37", "upper case W"},
		{"2021-q3", "upper case Q"},
		{"2021-W7", "two digits"},
		{"2021-W037", "not a period"},
		{"2021-W37-3", "not a period"},
		{"2021-Q0", "quarter must be Q1-Q4"},
		{"2021-Q5", "quarter must be Q1-Q4"},
		{"2021-Q03", "not a period"},
		{"2021-2023", "two consecutive years"},
		{"2022-2021", "two consecutive years"},
		{"2021-2021", "two consecutive years"},
		{"2021-2023-1", "two consecutive years"},
		{"2021-2022-3", "term must be 1 or 2"},
		{"2021-2022-0", "term must be 1 or 2"},
		{"2021-2022-01", "term must be 1 or 2"},
		{"1899", "year must be 1900-2999"},
		{"3000", "year must be 1900-2999"},
		{"0000", "year must be 1900-2999"},
		{"3000-01", "year must be 1900-2999"},
		{"1899-12-31", "year must be 1900-2999"},
		{"3000-W01", "year must be 1900-2999"},
		{"1899-Q4", "year must be 1900-2999"},
		{"1899-1900", "year must be 1900-2999"},
		{"1899-1900-2", "year must be 1900-2999"},
		{"2021-9", "month must have two digits"},
		{"2021-09-5", "month and day must have two digits"},
		{"2021-9-15", "month and day must have two digits"},
		{"2021/09/15", "separate the parts with '-'"},
		{"2021.09", "separate the parts with '-'"},
		{"2021-09-15T00:00", "not a period"},
		{"20210915", "not a period"},
		{"2021--09", "not a period"},
		{"2021-H1", "not a period"},
		{"2021-09-15\x01", "\\x01\": not a period"},
		{"a\"b\\c", "\"a\\\"b\\\\c\": not a period"},
		{"year", "not a period"},
	};

	return cr_make_param_array(struct bad_case, cases, ARRAY_LEN(cases));
}

/* One malformed input per run; see the table above. */
ParameterizedTest(struct bad_case *c, period, malformed)
{
	char *cause = expect_fail(c->input);

	cr_expect(strstr(cause, c->phrase) != NULL, "\"%s\": cause \"%s\" lacks \"%s\"",
	    c->input, cause, c->phrase);
	free(cause);
}

/*
 * A hostile input is echoed truncated to 32 bytes and escaped, and cause
 * may be NULL.
 */
Test(period, cause_is_bounded_and_optional)
{
	char big[4096], *cause;
	struct period p;

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[5] = '\x1b';
	cause = expect_fail(big);
	cr_assert(strncmp(cause, "\"xxxxx\\x1bxxxxxxxxxxxxxxxxxxxxxxxxxx\"...: not a period",
	    strlen("\"xxxxx\\x1bxxxxxxxxxxxxxxxxxxxxxxxxxx\"...: not a period")) == 0, "%s",
	    cause);
	cr_assert(strlen(cause) < 200, "%zu", strlen(cause));
	for (const char *q = cause; *q != '\0'; q++)
		cr_assert(*q >= 0x20 && *q < 0x7f, "unprintable byte in cause");
	free(cause);
	/* Exactly 32 bytes: echoed whole, no ellipsis. */
	big[5] = 'x';
	big[32] = '\0';
	cause = expect_fail(big);
	cr_assert(strstr(cause, "\"...") == NULL && strstr(cause, "xx\": not a period") != NULL,
	    "%s", cause);
	free(cause);
	/* cause may be NULL. */
	cr_assert_eq(period_parse("2021-13", &p, NULL), -1);
	cr_assert_eq(period_parse("", &p, NULL), -1);
	cr_assert_eq(period_parse(NULL, &p, NULL), -1);
	cause = NULL;
	cr_assert_eq(period_parse(NULL, &p, &cause), -1);
	cr_assert_not_null(cause);
	free(cause);
}

/*
 * For every day of 1990..2040 and every kind: the containing period holds
 * the day, starts on the kind's first day, has a plausible length, formats
 * and parses back to itself, and steps consistently with next and prev.
 */
Test(period, containing_next_prev)
{
	static const int len_min[PERIOD_KIND_COUNT] = {1, 7, 28, 90, 151, 365, 365};
	static const int len_max[PERIOD_KIND_COUNT] = {1, 7, 31, 92, 213, 366, 366};
	int32_t from = date_from_civil(1990, 1, 1), to = date_from_civil(2041, 1, 1);

	for (int32_t day = from; day < to; day++) {
		for (int k = 0; k < PERIOD_KIND_COUNT; k++) {
			struct period p, q, r, s;
			char f[PERIOD_STR_MAX], g[PERIOD_STR_MAX], dd[16];
			char *cause = NULL;
			int len;

			period_containing((enum period_kind)k, day, &p);
			date_format(day, dd, sizeof dd);
			period_format(&p, f, sizeof f);
			CHECK((int)p.kind == k, "%s: kind", dd);
			CHECK(p.start <= day && day < p.end, "%s: %s does not contain it", dd, f);
			len = (int)(p.end - p.start);
			CHECK(len >= len_min[k] && len <= len_max[k], "%s: %s has %d days", dd, f,
			    len);
			period_containing((enum period_kind)k, p.start, &q);
			CHECK(period_eq(&p, &q), "%s: %s is not its own start's period", dd, f);
			CHECK(period_parse(f, &q, &cause) == 0, "%s: %s does not parse: %s", dd, f,
			    cause);
			CHECK(period_eq(&p, &q), "%s: %s parses to another period", dd, f);
			period_format(&q, g, sizeof g);
			CHECK(strcmp(f, g) == 0, "%s: %s formats as %s", dd, f, g);
			period_next(&p, &q);
			CHECK(q.start == p.end && q.kind == p.kind, "%s: next(%s) starts late", dd, f);
			period_prev(&p, &r);
			CHECK(r.end == p.start && r.kind == p.kind, "%s: prev(%s) ends early", dd, f);
			period_next(&r, &s);
			CHECK(period_eq(&s, &p), "%s: next(prev(%s)) differs", dd, f);
			period_prev(&q, &s);
			CHECK(period_eq(&s, &p), "%s: prev(next(%s)) differs", dd, f);
			/* out may alias the input. */
			s = p;
			period_next(&s, &s);
			CHECK(period_eq(&s, &q), "%s: aliased next(%s) differs", dd, f);
		}
	}
}

/* Every period label in the supported range round-trips, kind by kind. */
Test(period, round_trip_whole_range)
{
	for (int k = 0; k < PERIOD_KIND_COUNT; k++) {
		struct period p, q;
		char f[PERIOD_STR_MAX], first[PERIOD_STR_MAX], last[PERIOD_STR_MAX];
		char *cause = NULL;
		int n = 0;

		/* The first period labelled with PERIOD_YEAR_MIN. */
		period_containing((enum period_kind)k, DAY_MIN, &p);
		while (strncmp(period_format(&p, first, sizeof first), "1899", 4) == 0)
			period_next(&p, &p);
		CHECK(strncmp(first, "1900", 4) == 0, "first %s period %s",
		    period_kind_name((enum period_kind)k), first);
		for (;;) {
			period_format(&p, f, sizeof f);
			if (period_parse(f, &q, &cause) != 0) {
				CHECK(strncmp(f, "3000", 4) == 0, "%s: %s", f, cause);
				free(cause);
				cause = NULL;
				break;
			}
			CHECK(period_eq(&p, &q), "%s parses to another period", f);
			strcpy(last, f);
			n++;
			period_next(&p, &p);
		}
		CHECK(strncmp(last, "2999", 4) == 0, "last %s period %s",
		    period_kind_name((enum period_kind)k), last);
		CHECK(n > 1100 - 2, "%s: only %d periods", period_kind_name((enum period_kind)k), n);
	}
}

/*
 * Date conversions over the whole supported range: days are consecutive
 * civil dates, to_civil and from_civil are inverses, and both agree with
 * the C library's timegm/gmtime_r and the Sakamoto weekday.
 */
Test(period, date_conversions_whole_range)
{
	int y = PERIOD_YEAR_MIN, m = 1, d = 1;

	cr_assert_eq(date_from_civil(1970, 1, 1), 0);
	cr_assert_eq(date_from_civil(1969, 12, 31), -1);
	cr_assert_eq(date_from_civil(2000, 3, 1), 11017);
	cr_assert_eq(date_iso_weekday(0), 4);
	for (int32_t day = DAY_MIN; day <= DAY_MAX + 366; day++) {
		int yy, mm, dd;
		struct tm tm;
		time_t t;

		date_to_civil(day, &yy, &mm, &dd);
		CHECK(yy == y && mm == m && dd == d, "day %d is %d-%d-%d, expected %d-%d-%d",
		    (int)day, yy, mm, dd, y, m, d);
		CHECK(date_from_civil(y, m, d) == day, "%d-%d-%d is not day %d", y, m, d,
		    (int)day);
		CHECK(date_iso_weekday(day) == (sakamoto_dow(y, m, d) + 6) % 7 + 1,
		    "%d-%d-%d: weekday %d", y, m, d, date_iso_weekday(day));
		memset(&tm, 0, sizeof tm);
		tm.tm_year = y - 1900;
		tm.tm_mon = m - 1;
		tm.tm_mday = d;
		t = timegm(&tm);
		CHECK(t == (time_t)day * 86400, "%d-%d-%d: timegm differs", y, m, d);
		/* Step the reference civil date by hand. */
		if (++d > (m == 2 ? (ref_leap(y) ? 29 : 28) :
		    (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	cr_assert_eq(y, PERIOD_YEAR_MAX + 2);
}

/* The week containing each day agrees with strftime's %G-W%V. */
Test(period, iso_week_matches_libc)
{
	for (int32_t day = DAY_MIN; day <= DAY_MAX; day++) {
		struct period p;
		struct tm tm;
		time_t t = (time_t)day * 86400;
		char want[32], got[PERIOD_STR_MAX];

		gmtime_r(&t, &tm);
		strftime(want, sizeof want, "%G-W%V", &tm);
		period_containing(PERIOD_WEEK, day, &p);
		period_format(&p, got, sizeof got);
		CHECK(strcmp(want, got) == 0, "day %d: %s, libc says %s", (int)day, got, want);
	}
}

/* date_parse is as strict as period_parse; date_make validates. */
Test(period, date_parse_and_format)
{
	int32_t d = 42;
	char out[16];
	static const char *const bad[] = {
		"", "2021-9-15", "2021-09-15 ", " 2021-09-15", "2021-02-29", "2021-13-01",
		"2021-00-10", "2021-01-00", "1899-12-31", "3000-01-01", "2021/09/15",
		"+021-09-15", "2021-09-1a", "2021-09-150",
	};

	cr_assert_eq(date_parse("2021-09-15", &d), 0);
	cr_assert_eq(d, date_from_civil(2021, 9, 15));
	date_format(d, out, sizeof out);
	cr_assert_str_eq(out, "2021-09-15");
	date_format(date_from_civil(1900, 1, 1), out, sizeof out);
	cr_assert_str_eq(out, "1900-01-01");
	cr_assert_eq(date_parse("2024-02-29", &d), 0);
	cr_assert_eq(date_parse("2999-12-31", &d), 0);
	cr_assert_eq(date_parse("1900-01-01", &d), 0);
	d = 42;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_assert_eq(date_parse(bad[i], &d), -1, "\"%s\" accepted", bad[i]);
	cr_assert_eq(date_parse(NULL, &d), -1);
	cr_assert_eq(d, 42, "out written on failure");
	cr_assert_eq(date_make(2021, 13, 1, &d), -1);
	cr_assert_eq(date_make(2021, 0, 1, &d), -1);
	cr_assert_eq(date_make(2021, 4, 31, &d), -1);
	cr_assert_eq(date_make(2021, 4, 0, &d), -1);
	cr_assert_eq(date_make(1899, 12, 31, &d), -1);
	cr_assert_eq(date_make(3000, 1, 1, &d), -1);
	cr_assert_eq(d, 42);
	cr_assert_eq(date_make(2021, 4, 30, &d), 0);
	cr_assert_eq(d, date_from_civil(2021, 4, 30));
	/* A short buffer is truncated, still terminated. */
	memset(out, 'z', sizeof out);
	date_format(d, out, 5);
	cr_assert_str_eq(out, "2021");
}

/* The canonical label of a period built by period_containing, per kind. */
Test(period, format_each_kind)
{
	static const char *const want[PERIOD_KIND_COUNT] = {
		"2022-01-02", "2021-W52", "2022-01", "2022-Q1", "2021-2022-1", "2021-2022", "2022"};
	int32_t day = date_from_civil(2022, 1, 2); /* a Sunday, still in 2021-W52 */

	for (int k = 0; k < PERIOD_KIND_COUNT; k++) {
		struct period p;
		char f[PERIOD_STR_MAX];

		period_containing((enum period_kind)k, day, &p);
		cr_assert_str_eq(period_format(&p, f, sizeof f), want[k], "%s",
		    period_kind_name((enum period_kind)k));
	}
}
