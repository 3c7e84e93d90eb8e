/*
 * jsonutil.c: see jsonutil.h.
 */
#include "jsonutil.h"

#include <stdbool.h>
#include <string.h>

#include <cJSON.h>

/* See jsonutil.h. */
const char *
json_type_name(const cJSON *item)
{
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsNumber(item))
		return "a number";
	if (cJSON_IsObject(item))
		return "an object";
	if (cJSON_IsArray(item))
		return "an array";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNull(item))
		return "null";
	return "an invalid value";
}

/* See jsonutil.h. */
int
json_cjson_safe(const char *s, size_t len, size_t *offset, const char **why)
{
	bool in_string = false;
	size_t numstart = 0, numlen = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if (c == '"') {
				in_string = false;
			} else if (c == '\\') {
				if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
					*offset = i;
					*why = "\\u0000 (NUL) in a string is not accepted";
					return -1;
				}
				i++; /* the escaped character, so \" does not end the string */
			}
			continue;
		}
		if (c == '"') {
			in_string = true;
			numlen = 0;
		} else if (strchr("0123456789+-.eE", c) != NULL) {
			if (numlen++ == 0)
				numstart = i;
			if (numlen > JSON_CJSON_NUMBER_MAX) {
				*offset = numstart;
				*why = "number longer than 63 characters";
				return -1;
			}
		} else {
			numlen = 0;
		}
	}
	return 0;
}
