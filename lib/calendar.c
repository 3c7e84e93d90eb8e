/*
 * calendar.c: see calendar.h.
 *
 * A parsed calendar keeps one bit per day from the first day of its first
 * term to the last day of its last term, set for school days, so a lookup is
 * O(1) and the parsed lists need not be kept. Two school years of terms are
 * about 700 bits; the widest calendar period.h dates allow is ~50 KB.
 *
 * Invariants of a struct calendar: lo < hi; bits holds (hi - lo) bits; no
 * bit is set outside a term; cover_lo <= lo and hi <= cover_hi.
 */
#include "calendar.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonstrict.h"
#include "jsonutil.h"
#include "period.h"
#include "util.h"

/* Nesting of a calendar file: root, a list, an entry object. */
#define CAL_JSON_DEPTH 8
/* How many bytes of a bad value are echoed back in a message. */
#define CAL_ECHO_MAX 32

struct calendar {
	char *unit;
	int32_t lo;       /* first day of the first term */
	int32_t hi;       /* day after the last day of the last term */
	int32_t cover_lo; /* Sep 1 of the first term's school year */
	int32_t cover_hi; /* Sep 1 after the last term's school year */
	unsigned char *bits;
};

/* An inclusive range of days, with the index it had in its JSON list. */
struct cal_range {
	int32_t from;
	int32_t to;
	int index;
};

/* Parser state: the file name for messages and the ranges read so far. */
struct cal_parse {
	const char *name;
	char **cause;
	struct cal_range *terms;
	size_t nterms;
	struct cal_range *holidays;
	size_t nholidays;
	struct cal_range *makeups; /* from == to */
	size_t nmakeups;
};

/*
 * Set *cause (if cause is not NULL) to "NAME: " followed by the formatted
 * message and return -1, so that failure paths read "return fail(...)".
 */
static int PRINTFLIKE(2, 3)
fail(struct cal_parse *cp, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (cp->cause == NULL)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	*cp->cause = xasprintf("%s: %s", cp->name, msg);
	free(msg);
	return -1;
}

/*
 * Append s to b for a message: at most CAL_ECHO_MAX bytes, every byte outside
 * printable ASCII as \xNN, so a hostile file cannot put control characters
 * into a log line.
 */
static void
cal_echo(struct buf *b, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < CAL_ECHO_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			buf_putc(b, (char)c);
		else
			buf_printf(b, "\\x%02x", c);
	}
	if (s[i] != '\0')
		buf_puts(b, "...");
}

/*
 * Read item, a YYYY-MM-DD string found at where ("holidays[4]",
 * "terms[0].start"), into *out. 0, or -1 with the message set.
 */
static int
cal_date(struct cal_parse *cp, const char *where, const cJSON *item, int32_t *out)
{
	struct buf b;
	int rc;

	if (!cJSON_IsString(item))
		return fail(cp, "%s: expected a date (YYYY-MM-DD), got %s", where,
		    json_type_name(item));
	if (date_parse(item->valuestring, out) == 0)
		return 0;
	buf_init(&b);
	cal_echo(&b, item->valuestring);
	rc = fail(cp, "%s: %s is not a date", where, b.data);
	buf_free(&b);
	return rc;
}

/*
 * Check that every member of obj (found at where) is one of the names in
 * known (NULL-terminated) and that name is a string when present. 0 or -1.
 */
static int
cal_members(struct cal_parse *cp, const char *where, const cJSON *obj, const char *const *known)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, obj) {
		size_t i;

		for (i = 0; known[i] != NULL; i++)
			if (strcmp(m->string, known[i]) == 0)
				break;
		if (known[i] == NULL) {
			struct buf b;
			int rc;

			buf_init(&b);
			cal_echo(&b, m->string);
			rc = fail(cp, "%s%s%s: unknown member", where, *where ? "." : "", b.data);
			buf_free(&b);
			return rc;
		}
		if ((strcmp(m->string, "name") == 0 || strcmp(m->string, "note") == 0 ||
		    strcmp(m->string, "unit") == 0) && !cJSON_IsString(m))
			return fail(cp, "%s%s%s: expected a string, got %s", where,
			    *where ? "." : "", m->string, json_type_name(m));
	}
	return 0;
}

/*
 * Read the inclusive range of obj's members a and b (found at where) into
 * *r; both must be present and a <= b. 0 or -1.
 */
static int
cal_object_range(struct cal_parse *cp, const char *where, const cJSON *obj, const char *a,
    const char *b, struct cal_range *r)
{
	const cJSON *ia = cJSON_GetObjectItemCaseSensitive(obj, a);
	const cJSON *ib = cJSON_GetObjectItemCaseSensitive(obj, b);
	char *wa, *wb;
	int rc = -1;

	if (ia == NULL)
		return fail(cp, "%s: \"%s\" is missing", where, a);
	if (ib == NULL)
		return fail(cp, "%s: \"%s\" is missing", where, b);
	wa = xasprintf("%s.%s", where, a);
	wb = xasprintf("%s.%s", where, b);
	if (cal_date(cp, wa, ia, &r->from) == 0 && cal_date(cp, wb, ib, &r->to) == 0) {
		if (r->from > r->to) {
			char da[11], db[11];

			date_format(r->from, da, sizeof(da));
			date_format(r->to, db, sizeof(db));
			fail(cp, "%s: %s %s is after %s %s", where, a, da, b, db);
		} else {
			rc = 0;
		}
	}
	free(wa);
	free(wb);
	return rc;
}

/* Append r to the list *v of *n ranges. */
static void
cal_push(struct cal_range **v, size_t *n, const struct cal_range *r)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = *r;
}

static const char *const cal_root_members[] = {"unit", "name", "note", "terms", "holidays",
	"school_days", NULL};
static const char *const cal_term_members[] = {"name", "start", "end", NULL};
static const char *const cal_holiday_members[] = {"name", "date", "from", "to", NULL};
static const char *const cal_makeup_members[] = {"name", "date", NULL};

/* "terms": a non-empty array of {"start", "end"} objects. 0 or -1. */
static int
cal_terms(struct cal_parse *cp, const cJSON *arr)
{
	const cJSON *t;
	int i = 0;

	if (arr == NULL)
		return fail(cp, "terms: at least one term is required");
	if (!cJSON_IsArray(arr))
		return fail(cp, "terms: expected an array, got %s", json_type_name(arr));
	cJSON_ArrayForEach(t, arr) {
		char where[32];
		struct cal_range r;

		snprintf(where, sizeof(where), "terms[%d]", i);
		if (!cJSON_IsObject(t))
			return fail(cp, "%s: expected an object {\"start\", \"end\"}, got %s", where,
			    json_type_name(t));
		if (cal_members(cp, where, t, cal_term_members) != 0 ||
		    cal_object_range(cp, where, t, "start", "end", &r) != 0)
			return -1;
		r.index = i++;
		cal_push(&cp->terms, &cp->nterms, &r);
	}
	if (cp->nterms == 0)
		return fail(cp, "terms: at least one term is required");
	return 0;
}

/*
 * "holidays" (a date, {"date"} or {"from", "to"}) or "school_days" (a date
 * or {"date"}), selected by ranges_ok; appended to *v. 0 or -1.
 */
static int
cal_days(struct cal_parse *cp, const char *list, const cJSON *arr, bool ranges_ok,
    struct cal_range **v, size_t *n)
{
	const cJSON *e;
	int i = 0;

	if (arr == NULL)
		return 0;
	if (!cJSON_IsArray(arr))
		return fail(cp, "%s: expected an array, got %s", list, json_type_name(arr));
	cJSON_ArrayForEach(e, arr) {
		char where[40];
		struct cal_range r;

		snprintf(where, sizeof(where), "%s[%d]", list, i);
		r.index = i++;
		if (cJSON_IsString(e)) {
			if (cal_date(cp, where, e, &r.from) != 0)
				return -1;
			r.to = r.from;
		} else if (cJSON_IsObject(e)) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "date");

			if (cal_members(cp, where, e,
			    ranges_ok ? cal_holiday_members : cal_makeup_members) != 0)
				return -1;
			if (d != NULL) {
				char *w;
				int rc;

				if (cJSON_GetObjectItemCaseSensitive(e, "from") != NULL ||
				    cJSON_GetObjectItemCaseSensitive(e, "to") != NULL)
					return fail(cp, "%s: give either \"date\" or \"from\" and \"to\"",
					    where);
				w = xasprintf("%s.date", where);
				rc = cal_date(cp, w, d, &r.from);
				free(w);
				if (rc != 0)
					return -1;
				r.to = r.from;
			} else if (!ranges_ok) {
				return fail(cp, "%s: \"date\" is missing", where);
			} else if (cal_object_range(cp, where, e, "from", "to", &r) != 0) {
				return -1;
			}
		} else {
			return fail(cp, "%s: expected a date (YYYY-MM-DD) or an object, got %s",
			    where, json_type_name(e));
		}
		cal_push(v, n, &r);
	}
	return 0;
}

/* qsort order of ranges by first day. */
static int
cal_range_cmp(const void *a, const void *b)
{
	const struct cal_range *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Index into cp->terms of the term holding day, or -1. */
static long
cal_term_of(const struct cal_parse *cp, int32_t day)
{
	for (size_t i = 0; i < cp->nterms; i++)
		if (cp->terms[i].from <= day && day <= cp->terms[i].to)
			return (long)i;
	return -1;
}

/*
 * Cross-checks once every list is read: terms do not overlap; a make-up
 * day is a Saturday or Sunday and not also a holiday. 0 or -1.
 */
static int
cal_check(struct cal_parse *cp)
{
	qsort(cp->terms, cp->nterms, sizeof(*cp->terms), cal_range_cmp);
	for (size_t i = 1; i < cp->nterms; i++) {
		const struct cal_range *a = &cp->terms[i - 1], *b = &cp->terms[i];

		if (b->from <= a->to) {
			const struct cal_range *late = a->index > b->index ? a : b;
			const struct cal_range *early = late == a ? b : a;
			char f[11], t[11];

			date_format(late->from, f, sizeof(f));
			date_format(late->to, t, sizeof(t));
			return fail(cp, "terms[%d]: %s..%s overlaps terms[%d]", late->index, f, t,
			    early->index);
		}
	}
	for (size_t i = 0; i < cp->nmakeups; i++) {
		const struct cal_range *m = &cp->makeups[i];
		char d[11];

		date_format(m->from, d, sizeof(d));
		if (date_iso_weekday(m->from) < 6)
			return fail(cp,
			    "school_days[%d]: %s is a weekday; make-up school days are Saturdays "
			    "or Sundays",
			    m->index, d);
		for (size_t j = 0; j < cp->nholidays; j++) {
			const struct cal_range *h = &cp->holidays[j];

			if (h->from <= m->from && m->from <= h->to)
				return fail(cp, "school_days[%d]: %s is also a holiday (holidays[%d])",
				    m->index, d, h->index);
		}
	}
	return 0;
}

/* Set or clear the bit of day in cal (day within [lo, hi)). */
static void
cal_bit_set(struct calendar *cal, int32_t day, bool on)
{
	uint32_t k = (uint32_t)(day - cal->lo);

	if (on)
		cal->bits[k / 8] |= (unsigned char)(1u << (k % 8));
	else
		cal->bits[k / 8] &= (unsigned char)~(1u << (k % 8));
}

/* Build the day bitmap of cal from the checked lists in cp. */
static void
cal_build(struct calendar *cal, const struct cal_parse *cp)
{
	struct period sy;
	size_t nbits;

	cal->lo = cp->terms[0].from;
	cal->hi = cp->terms[cp->nterms - 1].to + 1;
	period_containing(PERIOD_SCHOOL_YEAR, cal->lo, &sy);
	cal->cover_lo = sy.start;
	period_containing(PERIOD_SCHOOL_YEAR, cal->hi - 1, &sy);
	cal->cover_hi = sy.end;
	nbits = (size_t)(cal->hi - cal->lo);
	cal->bits = xcalloc(nbits / 8 + 1, 1);
	for (size_t i = 0; i < cp->nterms; i++)
		for (int32_t d = cp->terms[i].from; d <= cp->terms[i].to; d++)
			if (date_iso_weekday(d) <= 5)
				cal_bit_set(cal, d, true);
	for (size_t i = 0; i < cp->nholidays; i++) {
		int32_t from = cp->holidays[i].from < cal->lo ? cal->lo : cp->holidays[i].from;
		int32_t to = cp->holidays[i].to >= cal->hi ? cal->hi - 1 : cp->holidays[i].to;

		for (int32_t d = from; d <= to; d++)
			cal_bit_set(cal, d, false);
	}
	for (size_t i = 0; i < cp->nmakeups; i++)
		if (cal_term_of(cp, cp->makeups[i].from) >= 0)
			cal_bit_set(cal, cp->makeups[i].from, true);
}

/*
 * Parse a calendar file; see calendar.h. The text is checked by
 * json_strict_check first so that cJSON and the check agree on what the
 * file says (cJSON would silently keep the first of two "holidays").
 */
struct calendar *
calendar_parse(const char *name, const char *text, size_t len, char **cause)
{
	struct cal_parse cp = {.name = name, .cause = cause};
	struct calendar *cal = NULL;
	cJSON *root = NULL;
	const cJSON *unit;
	size_t offset;
	char *why = NULL;

	if (cause != NULL)
		*cause = NULL;
	if (json_strict_check(text, len, CAL_JSON_DEPTH, &offset, &why) != 0) {
		fail(&cp, "byte %zu: %s", offset, why);
		free(why);
		return NULL;
	}
	root = cJSON_ParseWithLength(text, len);
	if (root == NULL) {
		fail(&cp, "not a JSON document");
		goto fail;
	}
	if (!cJSON_IsObject(root)) {
		fail(&cp, "expected an object {\"unit\", \"terms\", ...}, got %s",
		    json_type_name(root));
		goto fail;
	}
	if (cal_members(&cp, "", root, cal_root_members) != 0)
		goto fail;
	unit = cJSON_GetObjectItemCaseSensitive(root, "unit");
	if (unit == NULL || unit->valuestring[0] == '\0') {
		fail(&cp, "unit: the code of the city or district is required");
		goto fail;
	}
	if (cal_terms(&cp, cJSON_GetObjectItemCaseSensitive(root, "terms")) != 0 ||
	    cal_days(&cp, "holidays", cJSON_GetObjectItemCaseSensitive(root, "holidays"), true,
		&cp.holidays, &cp.nholidays) != 0 ||
	    cal_days(&cp, "school_days", cJSON_GetObjectItemCaseSensitive(root, "school_days"),
		false, &cp.makeups, &cp.nmakeups) != 0 ||
	    cal_check(&cp) != 0)
		goto fail;
	cal = xcalloc(1, sizeof(*cal));
	cal->unit = xstrdup(unit->valuestring);
	cal_build(cal, &cp);
fail:
	cJSON_Delete(root);
	free(cp.terms);
	free(cp.holidays);
	free(cp.makeups);
	return cal;
}

/* Release cal and everything it owns; NULL is a no-op. */
void
calendar_free(struct calendar *cal)
{
	if (cal == NULL)
		return;
	free(cal->unit);
	free(cal->bits);
	free(cal);
}

/* The unit code cal applies to, owned by cal; "" for NULL. */
const char *
calendar_unit(const struct calendar *cal)
{
	return cal == NULL ? "" : cal->unit;
}

/* School day per cal, or Monday to Friday without a calendar. */
bool
calendar_is_school_day(const struct calendar *cal, int32_t day)
{
	uint32_t k;

	if (cal == NULL)
		return date_iso_weekday(day) <= 5;
	if (day < cal->lo || day >= cal->hi)
		return false;
	k = (uint32_t)(day - cal->lo);
	return (cal->bits[k / 8] >> (k % 8)) & 1u;
}

/* True if day lies in a school year that holds one of cal's terms. */
bool
calendar_covers(const struct calendar *cal, int32_t day)
{
	return cal == NULL || (day >= cal->cover_lo && day < cal->cover_hi);
}

/*
 * First school day after day: a linear scan, bounded by the calendar's last
 * term (a vacation is a few dozen days); at most 3 steps without one.
 */
int
calendar_next_school_day(const struct calendar *cal, int32_t day, int32_t *out)
{
	int32_t d = day + 1;

	if (cal != NULL) {
		if (d < cal->lo)
			d = cal->lo;
		for (; d < cal->hi; d++) {
			if (calendar_is_school_day(cal, d)) {
				*out = d;
				return 0;
			}
		}
		return -1;
	}
	while (!calendar_is_school_day(NULL, d))
		d++;
	*out = d;
	return 0;
}

/* Up to n school days before day, most recent first; see calendar.h. */
size_t
calendar_prev_school_days(const struct calendar *cal, int32_t day, size_t n, int32_t *out)
{
	size_t found = 0;
	int32_t d = day - 1;

	if (cal != NULL && d >= cal->hi)
		d = cal->hi - 1;
	for (; found < n; d--) {
		if (cal != NULL && d < cal->lo)
			break;
		if (calendar_is_school_day(cal, d))
			out[found++] = d;
	}
	return found;
}
