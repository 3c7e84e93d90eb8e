/*
 * period.h: reporting periods as Chinese schools write them, each mapped to
 * a half-open range of calendar dates [start, end).
 *
 *   kind         example        range
 *   day          2021-09-15     that day
 *   week         2021-W37       ISO 8601 week (Monday to Monday)
 *   month        2021-09        calendar month
 *   quarter      2021-Q3        calendar quarter
 *   term         2021-2022-1    first term Sep 1 to Feb 1 (exclusive);
 *                2021-2022-2    second term Feb 1 to Sep 1 (exclusive)
 *   school_year  2021-2022      Sep 1 to Sep 1 of the next year
 *   year         2021           calendar year
 *
 * Dates are days since 1970-01-01 (proleptic Gregorian), so arithmetic is
 * integer arithmetic. Years are limited to 1900..2999. The module is pure:
 * "today" is always a parameter, never read from a clock, except for
 * date_today, which the daemon's I/O modules call to obtain it.
 */
#ifndef EDUMON_PERIOD_H
#define EDUMON_PERIOD_H

#include <stddef.h>
#include <stdint.h>

enum period_kind {
	PERIOD_DAY,
	PERIOD_WEEK,
	PERIOD_MONTH,
	PERIOD_QUARTER,
	PERIOD_TERM,
	PERIOD_SCHOOL_YEAR,
	PERIOD_YEAR,
	PERIOD_KIND_COUNT
};

#define PERIOD_YEAR_MIN 1900
#define PERIOD_YEAR_MAX 2999
/* Longest canonical period string ("2021-2022-1") plus NUL, with room. */
#define PERIOD_STR_MAX 16

struct period {
	enum period_kind kind;
	int32_t start; /* first day, days since 1970-01-01 */
	int32_t end;   /* first day after the period */
};

/* "day", "week", "month", "quarter", "term", "school_year", "year". */
const char *period_kind_name(enum period_kind kind);
/* Chinese name for messages: 日, 周, 月, 季度, 学期, 学年, 年. */
const char *period_kind_name_zh(enum period_kind kind);
/* Inverse of period_kind_name; 0 on success, -1 if unknown. */
int period_kind_parse(const char *s, enum period_kind *out);

/* Days since 1970-01-01 of a valid civil date (no validation). */
int32_t date_from_civil(int y, int m, int d);
void date_to_civil(int32_t days, int *y, int *m, int *d);
/* Validate y-m-d and convert; 0 on success, -1 if not a real date. */
int date_make(int y, int m, int d, int32_t *out);
/* Format as YYYY-MM-DD into out (at least 11 bytes). */
void date_format(int32_t days, char *out, size_t len);
/* Parse exactly YYYY-MM-DD; 0 or -1. */
int date_parse(const char *s, int32_t *out);
/* ISO weekday, 1 = Monday .. 7 = Sunday. */
int date_iso_weekday(int32_t days);

/*
 * Parse a period string; the kind follows from the syntax. On success
 * returns 0 and fills *out. On failure returns -1 and, if cause is not
 * NULL, sets *cause to a newly allocated message the caller frees, e.g.
 * "month must be 01-12" or "2021-W54: 2021 has 52 ISO weeks".
 */
int period_parse(const char *s, struct period *out, char **cause);

/* Canonical string of p into out (PERIOD_STR_MAX bytes); returns out. */
char *period_format(const struct period *p, char *out, size_t len);

/* Today in the process's time zone (edumond sets TZ from --timezone). */
int32_t date_today(void);

/* The period of the given kind that contains day. */
void period_containing(enum period_kind kind, int32_t day, struct period *out);

/* The next / previous period of the same kind. */
void period_next(const struct period *p, struct period *out);
void period_prev(const struct period *p, struct period *out);

#endif
