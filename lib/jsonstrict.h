/*
 * jsonstrict.h: an RFC 8259 conformance check run before cJSON sees a body.
 *
 * cJSON accepts some invalid documents (leading zeros, raw control
 * characters in strings, NUL or form feed between tokens, trailing garbage
 * in some cases) and silently keeps the first of duplicate keys. Two parsers
 * that disagree about a body are how request smuggling starts, so edumon
 * refuses anything that is not exactly one RFC 8259 JSON text.
 */
#ifndef EDUMON_JSONSTRICT_H
#define EDUMON_JSONSTRICT_H

#include <stddef.h>

/*
 * Check that buf[0..len) is exactly one JSON text per RFC 8259:
 * - grammar exactly as the RFC (whitespace is space, tab, CR, LF only; no
 *   leading zeros, no NaN/Infinity, no trailing commas, no comments);
 * - well-formed UTF-8 throughout, no NUL bytes anywhere;
 * - string escapes valid, \u surrogates correctly paired;
 * - no object with two members of the same name (compared after
 *   unescaping);
 * - nesting of arrays and objects at most max_depth deep.
 * A leading UTF-8 byte order mark is refused too.
 *
 * Returns 0 if the text is valid. Otherwise returns -1, sets *offset to the
 * byte offset of the first offending byte and *cause to a newly allocated
 * message ("duplicate key \"school\"", "leading zero in number") that the
 * caller frees.
 */
int json_strict_check(const char *buf, size_t len, int max_depth, size_t *offset,
    char **cause);

#endif
