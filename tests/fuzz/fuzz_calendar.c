/*
 * fuzz_calendar.c: libFuzzer harness for calendar_parse and the queries on
 * what it returns.
 *
 * Oracles beyond the sanitizers and the leak checker: a refusal gives a
 * message that starts with the file name and is valid UTF-8; a calendar has
 * a unit, and in two windows of days (around its first and around its last
 * school day, as calendar_next_school_day and calendar_prev_school_days
 * find them) calendar_is_school_day, calendar_covers,
 * calendar_next_school_day and calendar_prev_school_days agree with each
 * other: a school day is covered, the next school day after d is the first
 * day after d that is_school_day says is one, and the previous school days
 * before d are the last ones before d, the most recent first.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "period.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                    \
	do {                                                                         \
		fprintf(stderr, "fuzz_calendar: " __VA_ARGS__);                      \
		fputc('\n', stderr);                                                 \
		abort();                                                             \
	} while (0)

#define NAME "fuzz.json"
/* Days looked at around each anchor: [anchor - BEFORE, anchor + AFTER). */
#define BEFORE 40
#define AFTER 400
#define WINDOW (BEFORE + AFTER)
#define PREV_N 3

/* Check the queries on the days [lo, lo + WINDOW). */
static void
check_window(const struct calendar *cal, int32_t lo)
{
	bool school[WINDOW];
	int32_t next = -1; /* first school day after the day looked at, -1: none in the window */

	for (int32_t i = 0; i < WINDOW; i++) {
		school[i] = calendar_is_school_day(cal, lo + i);
		if (school[i] && !calendar_covers(cal, lo + i))
			FAIL("school day %d not covered", lo + i);
	}
	for (int32_t i = WINDOW - 1; i >= 0; i--) {
		int32_t d = lo + i, got = INT32_MIN, prev[PREV_N];
		int rc = calendar_next_school_day(cal, d, &got);
		size_t n, want = 0;

		if (next >= 0) {
			if (rc != 0 || got != lo + next)
				FAIL("next school day after %d: rc %d day %d, expected %d", d, rc,
				    got, lo + next);
		} else if (rc == 0 && got < lo + WINDOW) {
			FAIL("next school day after %d: %d, not one", d, got);
		} else if (rc != 0 && got != INT32_MIN) {
			FAIL("next school day after %d: -1, but *out set", d);
		}
		if (school[i])
			next = i;

		n = calendar_prev_school_days(cal, d, PREV_N, prev);
		if (n > PREV_N)
			FAIL("%zu previous school days of %d asked", n, PREV_N);
		for (int32_t j = i - 1; j >= 0 && want < PREV_N; j--) {
			if (!school[j])
				continue;
			if (want >= n || prev[want] != lo + j)
				FAIL("previous school day %zu before %d: expected %d", want, d,
				    lo + j);
			want++;
		}
		/* Beyond the window: only days before it, still in order. */
		for (size_t k = want; k < n; k++) {
			if (prev[k] >= lo || (k > 0 && prev[k] >= prev[k - 1]) ||
			    !calendar_is_school_day(cal, prev[k]))
				FAIL("previous school day %zu before %d: %d", k, d, prev[k]);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct calendar *cal;
	char *cause = NULL;
	int32_t first, last;

	cal = calendar_parse(NAME, (const char *)data, size, &cause);
	if (cal == NULL) {
		if (cause == NULL || strncmp(cause, NAME ": ", strlen(NAME ": ")) != 0 ||
		    !utf8_valid(cause, strlen(cause)))
			FAIL("bad refusal: %s", cause != NULL ? cause : "(null)");
		free(cause);
		return 0;
	}
	free(cause);
	if (calendar_unit(cal) == NULL)
		FAIL("a calendar without a unit");
	if (calendar_next_school_day(cal, date_from_civil(1800, 1, 1), &first) == 0) {
		if (!calendar_is_school_day(cal, first))
			FAIL("first school day %d is not one", first);
		if (calendar_prev_school_days(cal, date_from_civil(3100, 1, 1), 1, &last) != 1 ||
		    last < first || !calendar_is_school_day(cal, last))
			FAIL("no last school day, or before the first %d", first);
		if (calendar_prev_school_days(cal, first, 1, &last) != 0)
			FAIL("a school day before the first one %d", first);
		check_window(cal, first - BEFORE);
		calendar_prev_school_days(cal, date_from_civil(3100, 1, 1), 1, &last);
		check_window(cal, last - BEFORE - 10);
		if (calendar_next_school_day(cal, last, &first) == 0)
			FAIL("a school day %d after the last one %d", first, last);
	} else if (calendar_prev_school_days(cal, date_from_civil(3100, 1, 1), 1, &last) != 0) {
		FAIL("no first school day, but a last one %d", last);
	}
	calendar_free(cal);
	return 0;
}
