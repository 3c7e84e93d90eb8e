/*
 * jsonutil.c: see jsonutil.h.
 */
#include "jsonutil.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "jsonstrict.h"
#include "util.h"

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

/* See jsonutil.h. */
cJSON *
json_parse_object(const char *body, size_t len, int max_depth, const char **code, size_t *offset,
    char **cause)
{
	const char *why;
	cJSON *root;
	char *copy;

	*offset = 0;
	*code = "malformed_body";
	if (json_strict_check(body, len, max_depth, offset, cause) != 0)
		return NULL;
	if (json_cjson_safe(body, len, offset, &why) != 0) {
		*cause = xstrdup(why);
		return NULL;
	}
	copy = xstrndup(body, len);
	root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
	free(copy);
	if (root == NULL) {
		*cause = xstrdup("the JSON parser refused the body");
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		*code = "bad_body";
		*cause = xasprintf("the body must be a JSON object, not %s", json_type_name(root));
		cJSON_Delete(root);
		return NULL;
	}
	*code = "bad_body";
	return root;
}
