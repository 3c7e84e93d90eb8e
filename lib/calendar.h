/*
 * calendar.h: a school calendar (校历) for a city or district: which days
 * are school days, so that daily reports are expected on school days only
 * and nobody is told a school is late on a holiday.
 *
 * A calendar is data, one JSON file per city or district
 * (deploy/calendars/<unit code>.json), strict RFC 8259 (no comments):
 *
 *   {
 *     "unit": "3207",                     code of the city or district
 *     "name": "连云港市",                 optional, for people
 *     "note": "...",                      optional, free text (provenance)
 *     "terms": [                          at least one; must not overlap
 *       {"name": "2021-2022-1", "start": "2021-09-01", "end": "2022-01-21"}
 *     ],
 *     "holidays": [                       optional: days off inside terms
 *       "2021-09-20",
 *       {"from": "2021-10-01", "to": "2021-10-07", "name": "国庆节"},
 *       {"date": "2022-01-03", "name": "元旦"}
 *     ],
 *     "school_days": [                    optional: make-up school days
 *       "2021-09-18",                     (调休上课日), Saturdays or Sundays
 *       {"date": "2021-09-26", "name": "国庆节调休"}
 *     ]
 *   }
 *
 * Every date is YYYY-MM-DD; term "start"/"end" and holiday "from"/"to" are
 * inclusive (a term's "end" is its last school day). Unknown members are
 * refused, so a misspelt "holiday" is an error rather than a silent no-op.
 *
 * A day is a school day when it lies inside a term and is either a Monday
 * to Friday that is not a holiday, or a make-up school day. Days between
 * terms (winter and summer vacations) are never school days; a make-up day
 * listed in a vacation therefore has no effect (it may still be listed, as
 * the official holiday notice lists it).
 *
 * Units without a calendar (cal == NULL in every function below) fall back
 * to Monday to Friday with no holidays at all: there is no built-in list of
 * public holidays. Deploy a calendar for every city that has daily metrics.
 *
 * The module is pure: parsing works on a buffer (the caller reads the file)
 * and "today" is always a parameter.
 */
#ifndef EDUMON_CALENDAR_H
#define EDUMON_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;

/*
 * Parse a calendar file's text (len bytes; name is the file name used to
 * prefix messages). Returns a new calendar the caller frees with
 * calendar_free, or NULL with *cause (caller frees) naming the file, the
 * place and the problem: "3207.json: holidays[4]: 2021-02-30 is not a
 * date", "3207.json: terms[1]: 2022-01-10..2022-06-30 overlaps terms[0]".
 * The first problem found is reported.
 */
struct calendar *calendar_parse(const char *name, const char *text, size_t len, char **cause);

/* Release cal; NULL is a no-op. */
void calendar_free(struct calendar *cal);

/* The "unit" code of cal (owned by cal); "" for NULL. */
const char *calendar_unit(const struct calendar *cal);

/*
 * True if day (days since 1970-01-01) is a school day of cal; with cal NULL,
 * true for Monday to Friday.
 */
bool calendar_is_school_day(const struct calendar *cal, int32_t day);

/*
 * True if cal says something about day: day lies in a school year
 * (September 1 to August 31) that holds one of its terms. Outside that range
 * calendar_is_school_day is false for every day, which for a calendar that
 * has not been renewed silently stops daily expectations: callers should
 * warn when today is not covered. Always true for NULL.
 */
bool calendar_covers(const struct calendar *cal, int32_t day);

/*
 * The first school day strictly after day. Returns 0 and sets *out, or -1
 * (*out untouched) when cal has no school day after day. Never -1 for NULL.
 */
int calendar_next_school_day(const struct calendar *cal, int32_t day, int32_t *out);

/*
 * Fill out[0..n) with the school days strictly before day, the most recent
 * first, and return how many were found: fewer than n only when cal has no
 * earlier school day. Used to gather a trailing baseline of school days.
 */
size_t calendar_prev_school_days(const struct calendar *cal, int32_t day, size_t n,
    int32_t *out);

#endif
