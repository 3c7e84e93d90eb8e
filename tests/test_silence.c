/*
 * test_silence.c: the pure parsers of lib/silence.c (durations, labels,
 * the CLI's local times, the list query) and the JSON of a silence. The
 * POST body, which needs a registry, is tested end to end in
 * test_it_silences.c.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "silence.h"

TestSuite(silence);

Test(silence, durations)
{
	static const struct {
		const char *s;
		long long seconds; /* -1: refused */
	} cases[] = {
	    {"90s", 90},
	    {"30m", 1800},
	    {"2h", 7200},
	    {"3d", 259200},
	    {"366d", 31622400},
	    {"1s", 1},
	    {"0s", -1},
	    {"367d", -1},
	    {"2w", -1},
	    {"h", -1},
	    {"", -1},
	    {"-1h", -1},
	    {"1.5h", -1},
	    {" 2h", -1},
	    {"2 h", -1},
	    {"8784h", 31622400},
	    {"8785h", -1},
	    {"99999999999999999999d", -1},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		long long got = -7;
		int rc = silence_duration_parse(cases[i].s, &got);

		if (cases[i].seconds < 0)
			cr_expect_eq(rc, -1, "\"%s\" refused", cases[i].s);
		else {
			cr_expect_eq(rc, 0, "\"%s\" accepted", cases[i].s);
			cr_expect_eq(got, cases[i].seconds, "\"%s\"", cases[i].s);
		}
	}
}

Test(silence, labels)
{
	static const struct {
		const char *s, *key, *value; /* key NULL: refused */
	} cases[] = {
	    {"team=safety", "team", "safety"},
	    {"_x=a=b", "_x", "a=b"},
	    {"k=值", "k", "值"},
	    {"team", NULL, NULL},
	    {"=x", NULL, NULL},
	    {"9a=x", NULL, NULL},
	    {"a-b=x", NULL, NULL},
	    {"a=", NULL, NULL},
	    {"é=x", NULL, NULL},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *k = NULL, *v = NULL, *cause = NULL;
		int rc = silence_label_parse(cases[i].s, &k, &v, &cause);

		if (cases[i].key == NULL) {
			cr_expect_eq(rc, -1, "\"%s\" refused", cases[i].s);
			cr_expect_not_null(cause);
		} else {
			cr_assert_eq(rc, 0, "\"%s\": %s", cases[i].s, cause);
			cr_expect_str_eq(k, cases[i].key);
			cr_expect_str_eq(v, cases[i].value);
		}
		free(k);
		free(v);
		free(cause);
	}
}

Test(silence, local_times)
{
	static const char *const good[] = {
	    "2026-03-01 08:00", "2026-03-01 08:00:30", "2026-03-01T08:00"};
	static const char *const bad[] = {"2026-03-01", "2026-03-01 8:00", "tomorrow",
	    "2026-03-01 08:00:00+08", "2026/03/01 08:00", "2026-03-01  08:00", ""};

	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		cr_expect(silence_local_time_valid(good[i]), "%s", good[i]);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_expect(!silence_local_time_valid(bad[i]), "%s", bad[i]);
}

Test(silence, list_query)
{
	static const struct {
		const char *q;
		int all; /* -1: refused */
	} cases[] = {
	    {NULL, 0},
	    {"", 0},
	    {"all=1", 1},
	    {"all=true", 1},
	    {"all=0", 0},
	    {"all=false", 0},
	    {"all=2", -1},
	    {"all", -1},
	    {"limit=3", -1},
	    {"all=1&all=1", -1},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		bool all = true;
		char *cause = NULL;
		int rc = silence_list_query_parse(cases[i].q, &all, &cause);

		if (cases[i].all < 0)
			cr_expect(rc == -1 && cause != NULL, "%s refused", cases[i].q);
		else
			cr_expect(rc == 0 && all == (cases[i].all == 1), "%s", cases[i].q);
		free(cause);
	}
}

Test(silence, json)
{
	const char *col[SCOL_COUNT] = {
	    [SCOL_ID] = "7",
	    [SCOL_UNIT_CODE] = "320703",
	    [SCOL_UNIT_NAME] = "连云\"区",
	    [SCOL_LABEL_KEY] = "team",
	    [SCOL_LABEL_VALUE] = "safety",
	    [SCOL_STARTS_AT] = "2026-03-01T00:00:00.000000Z",
	    [SCOL_ENDS_AT] = "2026-03-01T02:00:00.000000Z",
	    [SCOL_BY] = "张",
	    [SCOL_COMMENT] = "x",
	    [SCOL_CREATED_AT] = "2026-03-01T00:00:00.000000Z",
	    [SCOL_ACTIVE] = "t",
	};
	struct buf b;
	cJSON *j;

	buf_init(&b);
	silence_json(&b, col);
	j = cJSON_Parse(b.data);
	cr_assert_not_null(j, "%s", b.data);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "id")->valueint, 7);
	cr_expect_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "unit"), "name")
	        ->valuestring,
	    "连云\"区");
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "rule")));
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "expired_at")));
	cr_expect_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "label"), "team")
	        ->valuestring,
	    "safety");
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "active")));
	cJSON_Delete(j);
	buf_free(&b);
}
