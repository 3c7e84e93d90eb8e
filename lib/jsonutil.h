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

/*
 * A request body as a JSON object, for the small API bodies: check it with
 * json_strict_check (nesting at most max_depth) and json_cjson_safe, then
 * parse it with cJSON. Returns the root (the caller cJSON_Deletes it), or
 * NULL with *code "malformed_body" (not RFC 8259 JSON: *offset is where)
 * or "bad_body" (valid JSON but not an object), and *cause (caller frees).
 */
struct cJSON *json_parse_object(const char *body, size_t len, int max_depth, const char **code,
    size_t *offset, char **cause);

#endif
