/*
 * charset.h: request bodies in the character sets Chinese spreadsheets
 * export. Excel on a Chinese Windows saves "CSV" as GBK; edumon stores and
 * validates UTF-8 only, so such a body is converted once, on arrival, when
 * the client names its charset.
 */
#ifndef EDUMON_CHARSET_H
#define EDUMON_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The charset parameter of a Content-Type value, lower-cased, into out
 * (len bytes); "" when there is none. Quotes around the value are removed.
 */
void charset_param(const char *content_type, char *out, size_t len);

/* True for "", "utf-8" and "utf8". */
bool charset_is_utf8(const char *charset);

/* True for the GB family we convert: gb18030, gbk, gb2312, cp936. */
bool charset_is_gb(const char *charset);

/*
 * Convert a GB18030 (a superset of GBK and GB2312) body to UTF-8. Returns 0
 * and sets *out (caller frees, NUL-terminated) and *outlen; -1 with *cause
 * ("byte 17: not valid GB18030") when the input does not decode.
 */
int charset_gb_to_utf8(const char *in, size_t len, char **out, size_t *outlen, char **cause);

#endif
