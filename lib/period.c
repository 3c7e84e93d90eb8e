/*
 * period.c: see period.h.
 *
 * A period is stored only as its kind and its half-open range of days; its
 * label ("2021-W37") is recomputed from the start day, so there is exactly
 * one canonical spelling and parse(format(p)) == p.
 *
 * Invariants of every period this module produces:
 *   - start < end, and start is the first day of the period's kind
 *     (a Monday for weeks, the 1st for months, Sep 1 or Feb 1 for terms);
 *   - period_parse accepts a period only if the year it is labelled with
 *     (the first four digits: the ISO week-year for weeks, the starting year
 *     for terms and school years) lies in PERIOD_YEAR_MIN..PERIOD_YEAR_MAX.
 *     So "2999-3000" is accepted (it starts in 2999) and "1899-1900" is not.
 *
 * period_containing, period_next and period_prev do not validate: near the
 * edges of the year range they may return a period that period_parse would
 * refuse (2999-W52's successor is 3000-W01); the arithmetic stays exact for
 * any day an int32_t can hold within a few million years.
 *
 * Untrusted input is echoed in error messages only through period_echo:
 * at most PERIOD_ECHO_MAX bytes, quoted, with every byte outside printable
 * ASCII written as \xNN, so a cause can go into a log line or a JSON string
 * without further care.
 */
#include "period.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* How many bytes of a rejected input are echoed back in a cause. */
#define PERIOD_ECHO_MAX 32

#define PERIOD_EXPECTED \
	"expected one of 2021-09-15, 2021-W37, 2021-09, 2021-Q3, 2021-2022-1, 2021-2022, 2021"

static const struct {
	const char *name;
	const char *name_zh;
} period_kind_names[PERIOD_KIND_COUNT] = {
	[PERIOD_DAY] = {"day", "日"},
	[PERIOD_WEEK] = {"week", "周"},
	[PERIOD_MONTH] = {"month", "月"},
	[PERIOD_QUARTER] = {"quarter", "季度"},
	[PERIOD_TERM] = {"term", "学期"},
	[PERIOD_SCHOOL_YEAR] = {"school_year", "学年"},
	[PERIOD_YEAR] = {"year", "年"},
};

/*
 * English name of kind; "unknown" (and an assertion failure in debug
 * builds) for a value outside the enum. The string is static.
 */
const char *
period_kind_name(enum period_kind kind)
{
	assert((unsigned)kind < PERIOD_KIND_COUNT);
	if ((unsigned)kind >= PERIOD_KIND_COUNT)
		return "unknown";
	return period_kind_names[kind].name;
}

/*
 * Chinese name of kind for messages; "未知" for a value outside the enum.
 * The string is static.
 */
const char *
period_kind_name_zh(enum period_kind kind)
{
	assert((unsigned)kind < PERIOD_KIND_COUNT);
	if ((unsigned)kind >= PERIOD_KIND_COUNT)
		return "未知";
	return period_kind_names[kind].name_zh;
}

/*
 * Look s up among the English kind names (exact, case-sensitive). Returns 0
 * and sets *out, or -1 (s NULL or unknown) leaving *out untouched.
 */
int
period_kind_parse(const char *s, enum period_kind *out)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(period_kind_names); i++) {
		if (strcmp(s, period_kind_names[i].name) == 0) {
			*out = (enum period_kind)i;
			return 0;
		}
	}
	return -1;
}

/*
 * Howard Hinnant's days_from_civil (public domain,
 * https://howardhinnant.github.io/date_algorithms.html): days since
 * 1970-01-01 of the proleptic Gregorian date y-m-d. No validation; exact for
 * every year whose result fits in an int32_t.
 */
int32_t
date_from_civil(int y, int m, int d)
{
	int64_t yy, era, yoe, doy, doe;

	yy = (int64_t)y - (m <= 2);
	era = (yy >= 0 ? yy : yy - 399) / 400;
	yoe = yy - era * 400; /* [0, 399] */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
	return (int32_t)(era * 146097 + doe - 719468);
}

/*
 * Hinnant's civil_from_days: the inverse of date_from_civil. Every int32_t
 * day maps to a date; all three outputs are written.
 */
void
date_to_civil(int32_t days, int *y, int *m, int *d)
{
	int64_t z, era, doe, yoe, doy, mp, yy;

	z = (int64_t)days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097; /* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	yy = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365] */
	mp = (5 * doy + 2) / 153; /* [0, 11] */
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

/* True if y is a Gregorian leap year. */
static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in month m (1..12) of year y. */
static int
days_in_month(int y, int m)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	assert(m >= 1 && m <= 12);
	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/*
 * Validate y-m-d (year within PERIOD_YEAR_MIN..PERIOD_YEAR_MAX, a real
 * month, a day that month has) and convert. Returns 0 and sets *out, or -1
 * leaving *out untouched.
 */
int
date_make(int y, int m, int d, int32_t *out)
{
	if (y < PERIOD_YEAR_MIN || y > PERIOD_YEAR_MAX || m < 1 || m > 12 || d < 1 ||
	    d > days_in_month(y, m))
		return -1;
	*out = date_from_civil(y, m, d);
	return 0;
}

/*
 * Write days as YYYY-MM-DD into out (len bytes, at least 11 for years
 * 0..9999); the result is always NUL-terminated when len > 0.
 */
void
date_format(int32_t days, char *out, size_t len)
{
	int y, m, d;

	date_to_civil(days, &y, &m, &d);
	if (len > 0)
		snprintf(out, len, "%04d-%02d-%02d", y, m, d);
}

/* True for the ASCII digits only (isdigit depends on the locale). */
static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The value of the n ASCII digits at s; the caller has checked them. */
static int
digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * True if s (n bytes) matches shape, where 'd' in the shape stands for one
 * ASCII digit and every other character stands for itself.
 */
static int
shape_match(const char *s, size_t n, const char *shape)
{
	if (strlen(shape) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
			return 0;
	}
	return 1;
}

/*
 * Parse exactly YYYY-MM-DD (year within the module's range, a real date).
 * Returns 0 and sets *out, or -1 leaving *out untouched.
 */
int
date_parse(const char *s, int32_t *out)
{
	if (s == NULL || !shape_match(s, strlen(s), "dddd-dd-dd"))
		return -1;
	return date_make(digits(s, 4), digits(s + 5, 2), digits(s + 8, 2), out);
}

/* ISO weekday of days: 1 = Monday .. 7 = Sunday. 1970-01-01 was a Thursday. */
int
date_iso_weekday(int32_t days)
{
	return (int)(((int64_t)days % 7 + 7 + 3) % 7) + 1;
}

/* The Monday that starts ISO week 1 of week-year y: the week holding Jan 4. */
static int32_t
iso_week1_start(int y)
{
	int32_t jan4 = date_from_civil(y, 1, 4);

	return jan4 - (date_iso_weekday(jan4) - 1);
}

/* Number of ISO weeks (52 or 53) in week-year y. */
static int
iso_weeks_in_year(int y)
{
	return (int)((iso_week1_start(y + 1) - iso_week1_start(y)) / 7);
}

/*
 * Set *cause (if cause is not NULL) to a newly allocated formatted message
 * and return -1, so that failure paths read "return fail(cause, ...)".
 */
static int PRINTFLIKE(2, 3)
fail(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause != NULL) {
		va_start(ap, fmt);
		*cause = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Append untrusted s to b quoted, at most PERIOD_ECHO_MAX bytes of it, with
 * '"' and '\' backslash-escaped and every byte outside printable ASCII as
 * \xNN; a truncated input is followed by "...". Only the first
 * PERIOD_ECHO_MAX + 1 bytes of s are ever read.
 */
static void
period_echo(struct buf *b, const char *s)
{
	size_t n = strnlen(s, PERIOD_ECHO_MAX + 1);

	buf_putc(b, '"');
	for (size_t i = 0; i < n && i < PERIOD_ECHO_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			buf_putc(b, (char)c);
		else
			buf_printf(b, "\\x%02x", c);
	}
	buf_putc(b, '"');
	if (n > PERIOD_ECHO_MAX)
		buf_puts(b, "...");
}

/* Fail with the echoed input followed by msg. */
static int
fail_echo(char **cause, const char *s, const char *msg)
{
	struct buf b;

	if (cause != NULL) {
		buf_init(&b);
		period_echo(&b, s);
		buf_puts(&b, msg);
		*cause = buf_steal(&b);
	}
	return -1;
}

/*
 * Check that y, written at the start of s, is a supported year. The
 * check_* and parse_* helpers below see only inputs that matched their
 * shape (digits, '-', 'W', 'Q'), so s is echoed verbatim.
 */
static int
check_year(const char *s, int y, char **cause)
{
	if (y < PERIOD_YEAR_MIN || y > PERIOD_YEAR_MAX)
		return fail(cause, "%s: year must be %d-%d", s, PERIOD_YEAR_MIN,
		    PERIOD_YEAR_MAX);
	return 0;
}

/* Check that the school year y1-y2 in s has a supported, consecutive pair. */
static int
check_school_year(const char *s, int y1, int y2, char **cause)
{
	if (check_year(s, y1, cause) != 0)
		return -1;
	if (y2 != y1 + 1)
		return fail(cause,
		    "%s: a school year spans two consecutive years (e.g. %04d-%04d)", s, y1,
		    y1 + 1);
	return 0;
}

/* "YYYY-MM-DD". */
static int
parse_day(const char *s, struct period *out, char **cause)
{
	int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2), nd;

	if (check_year(s, y, cause) != 0)
		return -1;
	if (m < 1 || m > 12)
		return fail(cause, "%s: month must be 01-12", s);
	nd = days_in_month(y, m);
	if (d < 1)
		return fail(cause, "%s: day must be 01-%02d", s, nd);
	if (d > nd)
		return fail(cause, "%s: %04d-%02d has %d days", s, y, m, nd);
	out->kind = PERIOD_DAY;
	out->start = date_from_civil(y, m, d);
	out->end = out->start + 1;
	return 0;
}

/* "YYYY-Www", an ISO 8601 week of week-year YYYY. */
static int
parse_week(const char *s, struct period *out, char **cause)
{
	int y = digits(s, 4), w = digits(s + 6, 2), nw;

	if (check_year(s, y, cause) != 0)
		return -1;
	nw = iso_weeks_in_year(y);
	if (w < 1)
		return fail(cause, "%s: week must be W01-W%02d", s, nw);
	if (w > nw)
		return fail(cause, "%s: %04d has %d ISO weeks", s, y, nw);
	out->kind = PERIOD_WEEK;
	out->start = iso_week1_start(y) + 7 * (w - 1);
	out->end = out->start + 7;
	return 0;
}

/* "YYYY-MM". */
static int
parse_month(const char *s, struct period *out, char **cause)
{
	int y = digits(s, 4), m = digits(s + 5, 2);

	if (check_year(s, y, cause) != 0)
		return -1;
	if (m < 1 || m > 12)
		return fail(cause, "%s: month must be 01-12", s);
	period_containing(PERIOD_MONTH, date_from_civil(y, m, 1), out);
	return 0;
}

/* "YYYY-Qn". */
static int
parse_quarter(const char *s, struct period *out, char **cause)
{
	int y = digits(s, 4), q = digits(s + 6, 1);

	if (check_year(s, y, cause) != 0)
		return -1;
	if (q < 1 || q > 4)
		return fail(cause, "%s: quarter must be Q1-Q4", s);
	period_containing(PERIOD_QUARTER, date_from_civil(y, 3 * (q - 1) + 1, 1), out);
	return 0;
}

/* "YYYY-YYYY-n". */
static int
parse_term(const char *s, struct period *out, char **cause)
{
	int y1 = digits(s, 4), y2 = digits(s + 5, 4), t = digits(s + 10, 1);

	if (check_school_year(s, y1, y2, cause) != 0)
		return -1;
	if (t != 1 && t != 2)
		return fail(cause, "%s: term must be 1 or 2", s);
	if (t == 1)
		period_containing(PERIOD_TERM, date_from_civil(y1, 9, 1), out);
	else
		period_containing(PERIOD_TERM, date_from_civil(y2, 2, 1), out);
	return 0;
}

/* "YYYY-YYYY". */
static int
parse_school_year(const char *s, struct period *out, char **cause)
{
	int y1 = digits(s, 4), y2 = digits(s + 5, 4);

	if (check_school_year(s, y1, y2, cause) != 0)
		return -1;
	period_containing(PERIOD_SCHOOL_YEAR, date_from_civil(y1, 9, 1), out);
	return 0;
}

/* "YYYY". */
static int
parse_year(const char *s, struct period *out, char **cause)
{
	int y = digits(s, 4);

	if (check_year(s, y, cause) != 0)
		return -1;
	period_containing(PERIOD_YEAR, date_from_civil(y, 1, 1), out);
	return 0;
}

/*
 * Near misses: shapes people plausibly type that are refused with a hint
 * instead of the generic "not a period". These never succeed.
 */

/* "2021-w37", "2021-w7", "2021-q3": lower-case letter. */
static int
hint_upper(const char *s, struct period *out, char **cause)
{
	(void)out;
	if (s[5] == 'q')
		return fail(cause, "%s: use upper case Q for quarters, as in %.4s-Q%c", s, s,
		    s[6]);
	return fail(cause, "%s: use upper case W for ISO weeks, as in %.4s-W%02d", s, s,
	    digits(s + 6, strlen(s + 6)));
}

/* "2021-W7": one-digit week. */
static int
hint_week_digits(const char *s, struct period *out, char **cause)
{
	(void)out;
	return fail(cause, "%s: week must have two digits, as in %.6s0%c", s, s, s[6]);
}

/* "2021-9": one-digit month. */
static int
hint_month_digits(const char *s, struct period *out, char **cause)
{
	(void)out;
	return fail(cause, "%s: month must have two digits, as in %.5s0%c", s, s, s[5]);
}

/* "2021-9-5", "2021-09-5", "2021-9-15": one-digit month or day. */
static int
hint_day_digits(const char *s, struct period *out, char **cause)
{
	const char *dash = strchr(s + 5, '-');
	int m = digits(s + 5, (size_t)(dash - (s + 5)));
	int d = digits(dash + 1, strlen(dash + 1));

	(void)out;
	return fail(cause, "%s: month and day must have two digits, as in %.4s-%02d-%02d", s,
	    s, m, d);
}

/* "2021-2022-01": a term number with more than one digit. */
static int
hint_term(const char *s, struct period *out, char **cause)
{
	(void)out;
	return fail(cause, "%s: term must be 1 or 2", s);
}

/* "2021/09/15", "2021.09.15", "2021/09": another separator. */
static int
hint_separator(const char *s, struct period *out, char **cause)
{
	(void)out;
	return fail(cause, "%s: separate the parts with '-', as in 2021-09-15 or 2021-09", s);
}

/*
 * The syntax table: the first shape that matches decides the kind (or the
 * hint). Shapes are disjoint, so the order only matters for readability.
 */
static const struct period_syntax {
	const char *shape;
	int (*parse)(const char *, struct period *, char **);
} period_syntaxes[] = {
	{"dddd-dd-dd", parse_day},
	{"dddd-Wdd", parse_week},
	{"dddd-dd", parse_month},
	{"dddd-Qd", parse_quarter},
	{"dddd-dddd-d", parse_term},
	{"dddd-dddd", parse_school_year},
	{"dddd", parse_year},

	{"dddd-wdd", hint_upper},
	{"dddd-wd", hint_upper},
	{"dddd-qd", hint_upper},
	{"dddd-Wd", hint_week_digits},
	{"dddd-d", hint_month_digits},
	{"dddd-d-d", hint_day_digits},
	{"dddd-d-dd", hint_day_digits},
	{"dddd-dd-d", hint_day_digits},
	{"dddd-dddd-dd", hint_term},
	{"dddd/dd/dd", hint_separator},
	{"dddd.dd.dd", hint_separator},
	{"dddd/dd", hint_separator},
	{"dddd.dd", hint_separator},
};

/*
 * Parse a period string; see period.h. Nothing is trimmed or case-folded:
 * exactly the canonical spelling is accepted. On failure *out is untouched
 * and *cause (if cause is not NULL) is a caller-freed message starting with
 * the (bounded, escaped) input. *cause is not touched on success.
 */
int
period_parse(const char *s, struct period *out, char **cause)
{
	size_t n;

	if (s == NULL)
		return fail(cause, "no period given; " PERIOD_EXPECTED);
	n = strlen(s);
	if (n == 0)
		return fail(cause, "empty string: not a period; " PERIOD_EXPECTED);
	if (strchr(" \t\n\v\f\r", s[0]) != NULL || strchr(" \t\n\v\f\r", s[n - 1]) != NULL)
		return fail_echo(cause, s, ": leading or trailing whitespace is not allowed");
	for (size_t i = 0; i < ARRAY_LEN(period_syntaxes); i++) {
		if (shape_match(s, n, period_syntaxes[i].shape))
			return period_syntaxes[i].parse(s, out, cause);
	}
	return fail_echo(cause, s, ": not a period; " PERIOD_EXPECTED);
}

/*
 * Write the canonical label of p into out (len bytes; PERIOD_STR_MAX is
 * always enough for years 0..9999) and return out. The label is derived from
 * p->start and p->kind alone. An invalid kind gives "" (and an assertion
 * failure in debug builds).
 */
char *
period_format(const struct period *p, char *out, size_t len)
{
	int y, m, d;

	if (len == 0)
		return out;
	date_to_civil(p->start, &y, &m, &d);
	switch (p->kind) {
	case PERIOD_DAY:
		snprintf(out, len, "%04d-%02d-%02d", y, m, d);
		break;
	case PERIOD_WEEK: {
		int iy, im, id;

		/* The week-year is the year of the week's Thursday. */
		date_to_civil(p->start + 3, &iy, &im, &id);
		snprintf(out, len, "%04d-W%02d", iy,
		    (int)((p->start - iso_week1_start(iy)) / 7) + 1);
		break;
	}
	case PERIOD_MONTH:
		snprintf(out, len, "%04d-%02d", y, m);
		break;
	case PERIOD_QUARTER:
		snprintf(out, len, "%04d-Q%d", y, (m - 1) / 3 + 1);
		break;
	case PERIOD_TERM:
		if (m >= 9)
			snprintf(out, len, "%04d-%04d-1", y, y + 1);
		else
			snprintf(out, len, "%04d-%04d-2", y - 1, y);
		break;
	case PERIOD_SCHOOL_YEAR:
		snprintf(out, len, "%04d-%04d", y, y + 1);
		break;
	case PERIOD_YEAR:
		snprintf(out, len, "%04d", y);
		break;
	default:
		assert(!"invalid period kind");
		out[0] = '\0';
		break;
	}
	return out;
}

/*
 * Fill *out with the period of kind that contains day. Terms: September to
 * January is term 1 of the school year starting that September; February
 * to August is term 2 of the school year that started the previous
 * September. An invalid kind asserts (debug) or yields a one-day period.
 */
void
period_containing(enum period_kind kind, int32_t day, struct period *out)
{
	int y, m, d;

	date_to_civil(day, &y, &m, &d);
	out->kind = kind;
	switch (kind) {
	case PERIOD_DAY:
		out->start = day;
		out->end = day + 1;
		break;
	case PERIOD_WEEK:
		out->start = day - (date_iso_weekday(day) - 1);
		out->end = out->start + 7;
		break;
	case PERIOD_MONTH:
		out->start = date_from_civil(y, m, 1);
		out->end = m == 12 ? date_from_civil(y + 1, 1, 1) : date_from_civil(y, m + 1, 1);
		break;
	case PERIOD_QUARTER: {
		int first = (m - 1) / 3 * 3 + 1;

		out->start = date_from_civil(y, first, 1);
		out->end = first == 10 ? date_from_civil(y + 1, 1, 1) :
		    date_from_civil(y, first + 3, 1);
		break;
	}
	case PERIOD_TERM:
		if (m >= 9) {
			out->start = date_from_civil(y, 9, 1);
			out->end = date_from_civil(y + 1, 2, 1);
		} else if (m == 1) {
			out->start = date_from_civil(y - 1, 9, 1);
			out->end = date_from_civil(y, 2, 1);
		} else {
			out->start = date_from_civil(y, 2, 1);
			out->end = date_from_civil(y, 9, 1);
		}
		break;
	case PERIOD_SCHOOL_YEAR: {
		int sy = m >= 9 ? y : y - 1;

		out->start = date_from_civil(sy, 9, 1);
		out->end = date_from_civil(sy + 1, 9, 1);
		break;
	}
	case PERIOD_YEAR:
		out->start = date_from_civil(y, 1, 1);
		out->end = date_from_civil(y + 1, 1, 1);
		break;
	default:
		assert(!"invalid period kind");
		out->start = day;
		out->end = day + 1;
		break;
	}
}

/* The period of the same kind starting at p->end. out may alias p. */
void
period_next(const struct period *p, struct period *out)
{
	period_containing(p->kind, p->end, out);
}

/* The period of the same kind ending at p->start. out may alias p. */
void
period_prev(const struct period *p, struct period *out)
{
	period_containing(p->kind, p->start - 1, out);
}

int32_t
date_today(void)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	return date_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}
