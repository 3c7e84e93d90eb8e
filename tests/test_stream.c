/*
 * test_stream.c: the pure half of the alert stream: where a client starts
 * (Last-Event-ID, ?last_event_id=) and the frames it is sent.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "alertapi.h"
#include "stream.h"

/* A start: header, query, and the last id wanted (-2: refused, with a
 * message starting so). */
struct start_case {
	const char *header;
	const char *query;
	long long want;
	const char *cause;
};

static const struct start_case starts[] = {
    {NULL, NULL, -1, NULL},
    {"", "", -1, NULL},
    {"0", NULL, 0, NULL},
    {"42", NULL, 42, NULL},
    {"9223372036854775807", NULL, 9223372036854775807LL, NULL},
    {NULL, "last_event_id=17", 17, NULL},
    {NULL, "&last_event_id=17&", 17, NULL},
    {"5", "last_event_id=17", 5, NULL},
    {"9223372036854775808", NULL, -2, "Last-Event-ID:"},
    {"-1", NULL, -2, "Last-Event-ID:"},
    {" 1", NULL, -2, "Last-Event-ID:"},
    {"1x", NULL, -2, "Last-Event-ID:"},
    {"abc\x01", NULL, -2, "Last-Event-ID:"},
    {NULL, "last_event_id=", -2, "last_event_id:"},
    {NULL, "last_event_id", -2, "last_event_id:"},
    {NULL, "last_event_id=%31", -2, "last_event_id:"},
    {NULL, "last_event_id=+1", -2, "last_event_id:"},
    {NULL, "last_event_id=1&last_event_id=1", -2, "last_event_id: given more"},
    {NULL, "since_id=1", -2, "unknown parameter \"since_id\""},
    {NULL, "x\xff=1", -2, "unknown parameter \"x?\""},
    {"1", "limit=3", -2, "unknown parameter"},
};

ParameterizedTestParameters(stream, start)
{
	static size_t idx[ARRAY_LEN(starts)];

	for (size_t i = 0; i < ARRAY_LEN(starts); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_LEN(idx));
}

ParameterizedTest(size_t *ip, stream, start)
{
	const struct start_case *c = &starts[*ip];
	int64_t id = -7;
	char *cause = NULL;
	int rc = stream_start_parse(c->header, c->query, &id, &cause);

	if (c->want == -2) {
		cr_assert_eq(rc, -1, "case %zu is refused", *ip);
		cr_expect(strncmp(cause, c->cause, strlen(c->cause)) == 0, "case %zu: %s", *ip,
		    cause);
		free(cause);
	} else {
		cr_assert_eq(rc, 0, "case %zu: %s", *ip, cause ? cause : "");
		cr_expect_eq(id, c->want, "case %zu: %lld", *ip, (long long)id);
	}
}

Test(stream, frame)
{
	static const char *const alert[ACOL_COUNT] = {
	    [ACOL_ID] = "12",
	    [ACOL_RULE] = "class_size.school",
	    [ACOL_TITLE] = "出现大班额",
	    [ACOL_STATE] = "firing",
	    [ACOL_SEVERITY] = "warning",
	    [ACOL_UNIT_CODE] = "2132070301",
	    [ACOL_METRIC_CODE] = "class_size_max",
	    [ACOL_VALUE] = "58",
	    [ACOL_MESSAGE] = "第一行\n第二行",
	};
	static const char *const event[ECOL_COUNT] = {"1043", "2026-03-01T02:00:00.000000Z",
	    "fired", "warning", "58", "56", NULL, NULL};
	static const char head[] = "id: 1043\nevent: fired\ndata: {";
	struct buf b;
	cJSON *j;
	char *data;

	buf_init(&b);
	stream_frame(&b, alert, event);
	cr_assert_eq(strncmp(b.data, head, strlen(head)), 0, "%s", b.data);
	cr_assert(b.len > 2 && strcmp(b.data + b.len - 2, "\n\n") == 0, "ends the event");
	data = b.data + strlen(head) - 1;
	cr_expect_null(memchr(data, '\n', b.len - 2 - (size_t)(data - b.data)), "one data line");
	b.data[b.len - 2] = '\0';
	j = cJSON_Parse(data);
	cr_assert_not_null(j, "%s", data);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "event_id")->valuedouble, 1043);
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(j, "id"), "event_id, not id");
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(j, "kind")->valuestring, "fired");
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "bound")->valuedouble, 56);
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "alert");

		cr_expect_eq(cJSON_GetObjectItemCaseSensitive(a, "id")->valuedouble, 12);
		cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(a, "message")->valuestring,
		    "第一行\n第二行");
	}
	cJSON_Delete(j);
	buf_free(&b);
}
