/*
 * test_jsonutil.c: the JSON type names used in messages and the scan for
 * what cJSON reads differently from json_strict_check.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "jsonutil.h"

Test(jsonutil, type_names)
{
	static const struct {
		const char *text;
		const char *name;
	} cases[] = {
		{"\"x\"", "a string"}, {"1.5", "a number"}, {"{}", "an object"},
		{"[]", "an array"}, {"true", "a boolean"}, {"false", "a boolean"},
		{"null", "null"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *v = cJSON_Parse(cases[i].text);

		cr_assert_not_null(v, "%s", cases[i].text);
		cr_expect_str_eq(json_type_name(v), cases[i].name, "%s", cases[i].text);
		cJSON_Delete(v);
	}
	cr_expect_str_eq(json_type_name(NULL), "an invalid value");
}

Test(jsonutil, cjson_safe)
{
	char longnum[80];
	size_t offset = 0;
	const char *why = NULL;
	const char *ok = "{\"a\": \"x\\\\u0000\", \"b\": [1e300, -0.5]}";
	const char *nul = "[\"ab\\u0000\"]";

	cr_expect_eq(json_cjson_safe(ok, strlen(ok), &offset, &why), 0);
	cr_expect_eq(json_cjson_safe(nul, strlen(nul), &offset, &why), -1);
	cr_expect_eq(offset, 4);
	cr_expect(strstr(why, "NUL") != NULL);

	memset(longnum, '1', sizeof longnum);
	longnum[0] = '[';
	longnum[JSON_CJSON_NUMBER_MAX + 1] = ']';
	cr_expect_eq(json_cjson_safe(longnum, JSON_CJSON_NUMBER_MAX + 2, &offset, &why), 0,
	    "63 digits are read whole");
	longnum[JSON_CJSON_NUMBER_MAX + 1] = '1';
	longnum[JSON_CJSON_NUMBER_MAX + 2] = ']';
	cr_expect_eq(json_cjson_safe(longnum, JSON_CJSON_NUMBER_MAX + 3, &offset, &why), -1);
	cr_expect_eq(offset, 1);
}
