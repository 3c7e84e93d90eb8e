/*
 * test_receipt.c: receipts and error documents are valid JSON with the
 * promised fields, and Chinese or hostile strings survive escaping.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <string.h>
#include <stdlib.h>

#include "receipt.h"

Test(receipt, new_and_corrections_are_counted)
{
	struct unit u = {.id = 7, .code = "2132070301", .name = "连云区实验小学"};
	struct metric m1 = {.id = 1, .code = "class_size_max"};
	struct metric m2 = {.id = 2, .code = "emergency_drills"};
	struct observation obs[2];
	struct payload p = {2, obs, NULL};
	int revisions[2] = {1, 3};
	char *json;
	cJSON *j, *items;

	memset(obs, 0, sizeof obs);
	obs[0].unit = &u;
	obs[0].metric = &m1;
	strcpy(obs[0].period_text, "2021-2022-1");
	obs[1].unit = &u;
	obs[1].metric = &m2;
	strcpy(obs[1].period_text, "2021-09");
	json = receipt_json("0b7f0c4e-5a7e-4c1e-9d0e-1a2b3c4d5e6f", "key \"1\"", &p, revisions, NULL);
	j = cJSON_Parse(json);
	cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "alerts")), 0);
	cr_assert_not_null(j, "%s", json);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "observations")->valueint, 2);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "new")->valueint, 1);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "corrections")->valueint, 1);
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(j, "idempotency_key")->valuestring,
	    "key \"1\"");
	items = cJSON_GetObjectItemCaseSensitive(j, "items");
	cr_assert_eq(cJSON_GetArraySize(items), 2);
	cr_expect_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, 1), "status")->valuestring,
	    "correction");
	cr_expect_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, 1), "revision")->valueint, 3);
	cr_expect_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, 0), "period")->valuestring,
	    "2021-2022-1");
	cJSON_Delete(j);
	free(json);
}

Test(receipt, error_document_escapes)
{
	char *json = error_json("invalid_submission", "unit \"连云\"\n is <bad>");
	cJSON *j = cJSON_Parse(json);

	cr_assert_not_null(j, "%s", json);
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(j, "message")->valuestring,
	    "unit \"连云\"\n is <bad>");
	cJSON_Delete(j);
	free(json);
}

Test(receipt, lists_alerts_in_order_with_ids_when_stored)
{
	struct receipt_alert a[2] = {
	    {12, "class_size.school", "2132070301", "2026", "fired", "warning"},
	    {0, "x.district", "320703", "2026-W14", "resolved", "critical"},
	};
	char *arr = receipt_alerts_json(a, 2);

	cr_expect_str_eq(arr,
	    "[{\"id\":12,\"rule\":\"class_size.school\",\"unit\":\"2132070301\","
	    "\"period\":\"2026\",\"event\":\"fired\",\"severity\":\"warning\"},"
	    "{\"rule\":\"x.district\",\"unit\":\"320703\",\"period\":\"2026-W14\","
	    "\"event\":\"resolved\",\"severity\":\"critical\"}]");
	free(arr);
	arr = receipt_alerts_json(NULL, 0);
	cr_expect_str_eq(arr, "[]");
	free(arr);
}
