/*
 * jsonutil.h: small helpers shared by the modules that read JSON with
 * cJSON after json_strict_check (payloads, calendars, rule files).
 */
#ifndef EDUMON_JSONUTIL_H
#define EDUMON_JSONUTIL_H

#include <stddef.h>

struct cJSON;

/* cJSON copies at most this many characters of a number before strtod. */
#define JSON_CJSON_NUMBER_MAX 63

/*
 * "a string", "a number", "an object", "an array", "a boolean", "null", or
 * "an invalid value" (also for NULL): the type of item for messages about a
 * wrong JSON type. A static string, never NULL.
 */
const char *json_type_name(const struct cJSON *item);

/*
 * Scan s[0..len), a text that passed json_strict_check, for what cJSON
 * would read differently: a \u0000 escape inside a string (cJSON ends the
 * string there) or a number longer than JSON_CJSON_NUMBER_MAX characters.
 * Returns 0, or -1 with *offset set to the byte where the problem starts
 * and *why to a static message.
 */
int json_cjson_safe(const char *s, size_t len, size_t *offset, const char **why);

#endif
