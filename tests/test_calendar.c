/*
 * test_calendar.c: Criterion suite "calendar" for lib/calendar.c.
 *
 * The shipped example deploy/calendars/3207.json (Lianyungang, school years
 * 2021-2022 and 2022-2023) is read from the repository root, where
 * tools/run-tests.sh runs the tests. The expected school days below were
 * counted independently of the module (by hand and with a short Python
 * script over the same file), and the weekdays checked against a printed
 * calendar.
 *
 * Parameterised tests take indices into file-scope tables: Criterion copies
 * parameters into a new process, so pointers would not survive.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "period.h"
#include "util.h"

#define CAL_FILE "deploy/calendars/3207.json"

/* Read a whole file; fails the test if it cannot. The caller frees. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	cr_assert_not_null(f, "%s: cannot open (run from the repository root)", path);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

/* Parse the shipped example; fails the test on any error. */
static struct calendar *
load_example(void)
{
	size_t len;
	char *text = slurp(CAL_FILE, &len);
	char *cause = NULL;
	struct calendar *cal = calendar_parse("3207.json", text, len, &cause);

	cr_assert_not_null(cal, "%s", cause ? cause : "(no cause)");
	cr_assert_null(cause);
	free(text);
	return cal;
}

/* A date that must parse. */
static int32_t
day(const char *s)
{
	int32_t d;

	cr_assert_eq(date_parse(s, &d), 0, "bad test date %s", s);
	return d;
}

Test(calendar, example_parses)
{
	struct calendar *cal = load_example();

	cr_expect_str_eq(calendar_unit(cal), "3207");
	calendar_free(cal);
	calendar_free(NULL);
	cr_expect_str_eq(calendar_unit(NULL), "");
}

struct day_case {
	const char *date;
	bool school;
	const char *why;
};

static const struct day_case day_cases[] = {
	{"2021-08-31", false, "Tuesday before the first term"},
	{"2021-09-01", true, "Wednesday, first day of term"},
	{"2021-09-17", true, "Friday"},
	{"2021-09-18", true, "Saturday, make-up day for the Mid-Autumn Festival"},
	{"2021-09-19", false, "Sunday, Mid-Autumn holiday"},
	{"2021-09-20", false, "Monday, Mid-Autumn holiday"},
	{"2021-09-21", false, "Tuesday, Mid-Autumn Festival"},
	{"2021-09-22", true, "Wednesday after the holiday"},
	{"2021-09-25", false, "an ordinary Saturday"},
	{"2021-09-26", true, "Sunday, make-up day for National Day"},
	{"2021-10-01", false, "National Day (Friday)"},
	{"2021-10-04", false, "Monday in the National Day week"},
	{"2021-10-07", false, "Thursday, last day of the National Day holiday"},
	{"2021-10-08", true, "Friday after National Day"},
	{"2021-10-09", true, "Saturday, make-up day for National Day"},
	{"2021-10-10", false, "Sunday"},
	{"2022-01-03", false, "Monday, New Year holiday"},
	{"2022-01-21", true, "Friday, last day of the first term"},
	{"2022-01-24", false, "Monday in the winter vacation"},
	{"2022-01-29", false, "Saturday make-up day, but in the winter vacation"},
	{"2022-02-14", true, "Monday, first day of the second term"},
	{"2022-04-02", true, "Saturday, make-up day for Qingming"},
	{"2022-04-04", false, "Monday, Qingming holiday"},
	{"2022-04-24", true, "Sunday, make-up day for Labour Day"},
	{"2022-05-02", false, "Monday, Labour Day holiday"},
	{"2022-05-07", true, "Saturday, make-up day for Labour Day"},
	{"2022-06-03", false, "Friday, Dragon Boat Festival"},
	{"2022-07-01", true, "Friday, last day of the second term"},
	{"2022-07-04", false, "Monday in the summer vacation"},
	{"2022-09-01", true, "Thursday, first day of term"},
	{"2022-09-12", false, "Monday, Mid-Autumn holiday"},
	{"2022-10-08", true, "Saturday, make-up day for National Day"},
	{"2022-10-09", true, "Sunday, make-up day for National Day"},
	{"2023-01-02", false, "Monday, New Year holiday"},
	{"2023-01-13", true, "Friday, last day of the first term"},
	{"2023-01-16", false, "Monday in the winter vacation"},
	{"2023-02-06", true, "Monday, first day of the second term"},
	{"2023-04-05", false, "Wednesday, Qingming"},
	{"2023-04-23", true, "Sunday, make-up day for Labour Day"},
	{"2023-05-06", true, "Saturday, make-up day for Labour Day"},
	{"2023-06-22", false, "Thursday, Dragon Boat Festival"},
	{"2023-06-25", true, "Sunday, make-up day for the Dragon Boat Festival"},
	{"2023-06-30", true, "Friday, last day of the school year"},
	{"2023-07-03", false, "Monday in the summer vacation"},
	{"2023-09-04", false, "Monday after the calendar's last school year"},
};

ParameterizedTestParameters(calendar, school_days)
{
	static int idx[ARRAY_LEN(day_cases)];

	for (size_t i = 0; i < ARRAY_LEN(day_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, calendar, school_days)
{
	const struct day_case *c = &day_cases[*i];
	struct calendar *cal = load_example();

	cr_expect_eq(calendar_is_school_day(cal, day(c->date)), c->school, "%s (%s): expected %s",
	    c->date, c->why, c->school ? "a school day" : "no school");
	calendar_free(cal);
}

/* School days per month of the example, counted outside the module. */
static const struct {
	int y, m, n;
} month_counts[] = {
	{2021, 8, 0}, {2021, 9, 22}, {2021, 10, 17}, {2021, 11, 22}, {2021, 12, 23},
	{2022, 1, 14}, {2022, 2, 11}, {2022, 3, 23}, {2022, 4, 21}, {2022, 5, 20},
	{2022, 6, 21}, {2022, 7, 1}, {2022, 8, 0}, {2022, 9, 21}, {2022, 10, 18},
	{2022, 11, 22}, {2022, 12, 22}, {2023, 1, 9}, {2023, 2, 17}, {2023, 3, 23},
	{2023, 4, 20}, {2023, 5, 21}, {2023, 6, 21}, {2023, 7, 0}, {2023, 8, 0},
	{2023, 9, 0},
};

Test(calendar, school_days_per_month)
{
	struct calendar *cal = load_example();
	int total = 0;

	for (size_t i = 0; i < ARRAY_LEN(month_counts); i++) {
		struct period p;
		int n = 0;

		period_containing(PERIOD_MONTH, date_from_civil(month_counts[i].y, month_counts[i].m, 1),
		    &p);
		for (int32_t d = p.start; d < p.end; d++)
			n += calendar_is_school_day(cal, d);
		cr_expect_eq(n, month_counts[i].n, "%d-%02d: %d school days, expected %d",
		    month_counts[i].y, month_counts[i].m, n, month_counts[i].n);
		total += n;
	}
	cr_expect_eq(total, 389);
	calendar_free(cal);
}

Test(calendar, no_calendar_is_monday_to_friday)
{
	int32_t d = day("2021-09-27"); /* a Monday */

	for (int i = 0; i < 7; i++)
		cr_expect_eq(calendar_is_school_day(NULL, d + i), i < 5, "weekday %d", i + 1);
	/* No built-in holidays: National Day is an ordinary Friday without a calendar. */
	cr_expect(calendar_is_school_day(NULL, day("2021-10-01")));
	cr_expect(calendar_covers(NULL, day("1999-01-01")));
}

Test(calendar, covers_whole_school_years)
{
	struct calendar *cal = load_example();

	cr_expect_not(calendar_covers(cal, day("2021-08-31")));
	cr_expect(calendar_covers(cal, day("2021-09-01")));
	cr_expect(calendar_covers(cal, day("2022-08-15")));
	cr_expect(calendar_covers(cal, day("2023-08-31")));
	cr_expect_not(calendar_covers(cal, day("2023-09-01")));
	calendar_free(cal);
}

/* calendar_next_school_day from a date; NULL expected means "none". */
static void
expect_next(const struct calendar *cal, const char *from, const char *want)
{
	int32_t got = 0;
	int rc = calendar_next_school_day(cal, day(from), &got);
	char s[11];

	if (want == NULL) {
		cr_expect_eq(rc, -1, "after %s: expected none", from);
		return;
	}
	cr_assert_eq(rc, 0, "after %s: expected %s, got none", from, want);
	date_format(got, s, sizeof(s));
	cr_expect_str_eq(s, want, "after %s", from);
}

Test(calendar, next_school_day)
{
	struct calendar *cal = load_example();

	expect_next(cal, "2021-09-30", "2021-10-08"); /* over National Day */
	expect_next(cal, "2021-09-17", "2021-09-18"); /* a make-up Saturday */
	expect_next(cal, "2022-01-21", "2022-02-14"); /* over the winter vacation */
	expect_next(cal, "2021-06-01", "2021-09-01"); /* before the calendar */
	expect_next(cal, "2022-07-01", "2022-09-01"); /* over the summer vacation */
	expect_next(cal, "2023-06-30", NULL);         /* after the last term */
	expect_next(NULL, "2021-10-01", "2021-10-04"); /* Friday to Monday */
	expect_next(NULL, "2021-10-02", "2021-10-04");
	expect_next(NULL, "2021-10-04", "2021-10-05");
	calendar_free(cal);
}

Test(calendar, prev_school_days)
{
	struct calendar *cal = load_example();
	int32_t out[8];
	char s[11];
	static const char *const want[] = {"2021-10-09", "2021-10-08", "2021-09-30",
		"2021-09-29"};

	cr_assert_eq(calendar_prev_school_days(cal, day("2021-10-11"), 4, out), 4);
	for (size_t i = 0; i < 4; i++) {
		date_format(out[i], s, sizeof(s));
		cr_expect_str_eq(s, want[i], "entry %zu", i);
	}
	/* Only one school day of the calendar precedes 2021-09-02. */
	cr_expect_eq(calendar_prev_school_days(cal, day("2021-09-02"), 8, out), 1);
	date_format(out[0], s, sizeof(s));
	cr_expect_str_eq(s, "2021-09-01");
	/* From far after the calendar: its last school days. */
	cr_assert_eq(calendar_prev_school_days(cal, day("2030-01-01"), 2, out), 2);
	date_format(out[0], s, sizeof(s));
	cr_expect_str_eq(s, "2023-06-30");
	date_format(out[1], s, sizeof(s));
	cr_expect_str_eq(s, "2023-06-29");
	/* Without a calendar, weekends are skipped. */
	cr_assert_eq(calendar_prev_school_days(NULL, day("2021-10-04"), 2, out), 2);
	date_format(out[0], s, sizeof(s));
	cr_expect_str_eq(s, "2021-10-01");
	date_format(out[1], s, sizeof(s));
	cr_expect_str_eq(s, "2021-09-30");
	calendar_free(cal);
}

Test(calendar, minimal_forms)
{
	static const char doc[] = "{\"unit\":\"320703\",\"terms\":[{\"start\":\"2021-09-01\","
				  "\"end\":\"2021-09-30\"}],\"holidays\":[\"2021-09-20\"],"
				  "\"school_days\":[\"2021-09-18\"]}";
	char *cause = NULL;
	struct calendar *cal = calendar_parse("x.json", doc, sizeof(doc) - 1, &cause);

	cr_assert_not_null(cal, "%s", cause);
	cr_expect_str_eq(calendar_unit(cal), "320703");
	cr_expect(calendar_is_school_day(cal, day("2021-09-18")));
	cr_expect_not(calendar_is_school_day(cal, day("2021-09-20")));
	cr_expect(calendar_is_school_day(cal, day("2021-09-30")));
	cr_expect_not(calendar_is_school_day(cal, day("2021-10-01")));
	calendar_free(cal);
	/* cause may be NULL. */
	cr_expect_null(calendar_parse("x.json", "[]", 2, NULL));
}

struct bad_case {
	const char *doc;
	const char *cause;
};

#define TERMS "\"terms\":[{\"start\":\"2021-09-01\",\"end\":\"2022-01-21\"}]"

static const struct bad_case bad_cases[] = {
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[\"2021-10-01\",\"2021-10-02\","
	 "\"2021-10-03\",\"2021-10-04\",\"2021-02-30\"]}",
	    "3207.json: holidays[4]: 2021-02-30 is not a date"},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[{\"from\":\"2021-10-07\",\"to\":\"2021-10-01\"}]}",
	    "3207.json: holidays[0]: from 2021-10-07 is after to 2021-10-01"},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[{\"from\":\"2021-10-01\"}]}",
	    "3207.json: holidays[0]: \"to\" is missing"},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[{\"date\":\"2021-10-01\",\"to\":\"2021-10-03\"}]}",
	    "3207.json: holidays[0]: give either \"date\" or \"from\" and \"to\""},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[{\"from\":\"2021-10-01\",\"to\":\"2021-1-3\"}]}",
	    "3207.json: holidays[0].to: 2021-1-3 is not a date"},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[20211001]}",
	    "3207.json: holidays[0]: expected a date (YYYY-MM-DD) or an object, got a number"},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":\"2021-10-01\"}",
	    "3207.json: holidays: expected an array, got a string"},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[{\"day\":\"2021-10-01\"}]}",
	    "3207.json: holidays[0].day: unknown member"},
	{"{\"unit\":\"3207\"," TERMS ",\"school_days\":[\"2021-09-22\"]}",
	    "3207.json: school_days[0]: 2021-09-22 is a weekday; make-up school days are "
	    "Saturdays or Sundays"},
	{"{\"unit\":\"3207\"," TERMS ",\"holidays\":[{\"from\":\"2021-10-01\",\"to\":\"2021-10-07\"}],"
	 "\"school_days\":[\"2021-09-26\",\"2021-10-02\"]}",
	    "3207.json: school_days[1]: 2021-10-02 is also a holiday (holidays[0])"},
	{"{\"unit\":\"3207\"," TERMS ",\"school_days\":[{\"from\":\"2021-09-26\",\"to\":\"2021-09-26\"}]}",
	    "3207.json: school_days[0].from: unknown member"},
	{"{\"unit\":\"3207\"," TERMS ",\"school_days\":[{\"name\":\"调休\"}]}",
	    "3207.json: school_days[0]: \"date\" is missing"},
	{"{\"unit\":\"3207\",\"terms\":[{\"start\":\"2021-09-01\",\"end\":\"2022-01-21\"},"
	 "{\"start\":\"2022-01-10\",\"end\":\"2022-06-30\"}]}",
	    "3207.json: terms[1]: 2022-01-10..2022-06-30 overlaps terms[0]"},
	{"{\"unit\":\"3207\",\"terms\":[{\"start\":\"2022-02-14\",\"end\":\"2022-07-01\"},"
	 "{\"start\":\"2021-09-01\",\"end\":\"2022-02-14\"}]}",
	    "3207.json: terms[1]: 2021-09-01..2022-02-14 overlaps terms[0]"},
	{"{\"unit\":\"3207\",\"terms\":[{\"start\":\"2022-01-21\",\"end\":\"2021-09-01\"}]}",
	    "3207.json: terms[0]: start 2022-01-21 is after end 2021-09-01"},
	{"{\"unit\":\"3207\",\"terms\":[{\"start\":\"2021-09-01\"}]}",
	    "3207.json: terms[0]: \"end\" is missing"},
	{"{\"unit\":\"3207\",\"terms\":[[\"2021-09-01\",\"2022-01-21\"]]}",
	    "3207.json: terms[0]: expected an object {\"start\", \"end\"}, got an array"},
	{"{\"unit\":\"3207\",\"terms\":[]}", "3207.json: terms: at least one term is required"},
	{"{\"unit\":\"3207\"}", "3207.json: terms: at least one term is required"},
	{"{" TERMS "}", "3207.json: unit: the code of the city or district is required"},
	{"{\"unit\":\"\"," TERMS "}",
	    "3207.json: unit: the code of the city or district is required"},
	{"{\"unit\":3207," TERMS "}", "3207.json: unit: expected a string, got a number"},
	{"{\"unit\":\"3207\",\"holiday\":[]," TERMS "}", "3207.json: holiday: unknown member"},
	{"{\"unit\":\"3207\",\"te\\u0001rms\":[]," TERMS "}",
	    "3207.json: te\\x01rms: unknown member"},
	{"[]", "3207.json: expected an object {\"unit\", \"terms\", ...}, got an array"},
	{"{\"unit\":\"3207\"," TERMS ",}", "3207.json: byte 66: trailing comma"},
	{"// 连云港\n{\"unit\":\"3207\"," TERMS "}", "3207.json: byte 0: "},
	{"{\"unit\":\"3207\",\"unit\":\"3208\"," TERMS "}", "3207.json: byte 15: duplicate key"},
	{"", "3207.json: byte 0: "},
};

ParameterizedTestParameters(calendar, parse_errors)
{
	static int idx[ARRAY_LEN(bad_cases)];

	for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

/*
 * The cause must equal c->cause; for JSON syntax errors (the message is
 * json_strict_check's) it must start with it.
 */
ParameterizedTest(int *i, calendar, parse_errors)
{
	const struct bad_case *c = &bad_cases[*i];
	char *cause = NULL;
	struct calendar *cal = calendar_parse("3207.json", c->doc, strlen(c->doc), &cause);
	size_t n = strlen(c->cause);

	cr_expect_null(cal, "case %d parsed: %s", *i, c->doc);
	calendar_free(cal);
	cr_assert_not_null(cause, "case %d: no cause", *i);
	if (strncmp(c->cause, "3207.json: byte ", 16) == 0)
		cr_expect(strncmp(cause, c->cause, n) == 0, "case %d: got \"%s\", expected \"%s...\"",
		    *i, cause, c->cause);
	else
		cr_expect_str_eq(cause, c->cause, "case %d", *i);
	free(cause);
}

/*
 * Every proper prefix of the example file's JSON text is refused with a
 * cause: no crash, no leak, no read past the end (the prefix is copied into
 * a buffer of exactly its length).
 */
Test(calendar, truncated_files_are_refused)
{
	size_t len;
	char *text = slurp(CAL_FILE, &len);
	size_t last = len;

	while (last > 0 && text[last - 1] != '}')
		last--;
	cr_assert(last > 0);
	for (size_t n = 0; n < last; n += n < 64 ? 1 : 7) {
		char *copy = xmalloc(n == 0 ? 1 : n);
		char *cause = NULL;
		struct calendar *cal;

		memcpy(copy, text, n);
		cal = calendar_parse("3207.json", copy, n, &cause);
		if (cal != NULL || cause == NULL)
			cr_assert_fail("prefix of %zu bytes: accepted or no cause", n);
		free(cause);
		free(copy);
	}
	free(text);
}
