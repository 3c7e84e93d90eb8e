/*
 * fuzz_period.c: libFuzzer harness for period_parse.
 *
 * The input, cut at its first NUL, is the period string.
 *
 * Oracles beyond the sanitizers: a refusal gives a message, valid UTF-8;
 * a period has a known kind and start < end, is the period of its kind
 * containing its first and its last day, formats to a string that fits
 * PERIOD_STR_MAX and parses back to the same period; its next period starts
 * at its end, and the one before that is the period itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                    \
	do {                                                                         \
		fprintf(stderr, "fuzz_period: " __VA_ARGS__);                        \
		fputc('\n', stderr);                                                 \
		abort();                                                             \
	} while (0)

static int
same(const struct period *a, const struct period *b)
{
	return a->kind == b->kind && a->start == b->start && a->end == b->end;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1), *cause = NULL, text[PERIOD_STR_MAX];
	struct period p, q, next;

	memcpy(s, data, size);
	s[size] = '\0';
	if (period_parse(s, &p, &cause) != 0) {
		if (cause == NULL || !utf8_valid(cause, strlen(cause)))
			FAIL("bad refusal of \"%s\"", s);
		free(cause);
		free(s);
		return 0;
	}
	if (cause != NULL)
		FAIL("\"%s\" accepted with a message: %s", s, cause);
	if ((unsigned)p.kind >= PERIOD_KIND_COUNT || p.start >= p.end)
		FAIL("\"%s\": kind %d, %d..%d", s, p.kind, p.start, p.end);
	period_containing(p.kind, p.start, &q);
	if (!same(&p, &q))
		FAIL("\"%s\": the %s containing %d is %d..%d, not %d..%d", s,
		    period_kind_name(p.kind), p.start, q.start, q.end, p.start, p.end);
	period_containing(p.kind, p.end - 1, &q);
	if (!same(&p, &q))
		FAIL("\"%s\": the %s containing its last day %d is %d..%d", s,
		    period_kind_name(p.kind), p.end - 1, q.start, q.end);
	memset(text, 'x', sizeof text);
	period_format(&p, text, sizeof text);
	if (memchr(text, '\0', sizeof text) == NULL || strlen(text) + 1 >= PERIOD_STR_MAX)
		FAIL("\"%s\": formatted too long", s);
	memset(&q, 0, sizeof q);
	if (period_parse(text, &q, &cause) != 0)
		FAIL("\"%s\" formats as \"%s\", refused: %s", s, text, cause);
	if (!same(&p, &q))
		FAIL("\"%s\" formats as \"%s\", which parses as %d %d..%d, not %d %d..%d", s,
		    text, q.kind, q.start, q.end, p.kind, p.start, p.end);
	period_next(&p, &next);
	if (next.kind != p.kind || next.start != p.end || next.end <= next.start)
		FAIL("\"%s\": next %d..%d after %d..%d", s, next.start, next.end, p.start, p.end);
	period_prev(&next, &q);
	if (!same(&p, &q))
		FAIL("\"%s\": the period before the next is %d..%d", s, q.start, q.end);
	free(s);
	return 0;
}
