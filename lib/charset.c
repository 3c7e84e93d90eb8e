/*
 * charset.c: see charset.h. glibc's iconv does the conversion.
 */
#include "charset.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

void
charset_param(const char *ct, char *out, size_t len)
{
	const char *p = ct;
	size_t n = 0;

	out[0] = '\0';
	if (ct == NULL || len == 0)
		return;
	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "charset=", 8) != 0)
			continue;
		p += 8;
		if (*p == '"')
			p++;
		while (*p != '\0' && *p != ';' && *p != '"' && *p != ' ' && n + 1 < len)
			out[n++] = (char)tolower((unsigned char)*p++);
		out[n] = '\0';
		return;
	}
}

bool
charset_is_utf8(const char *cs)
{
	return cs[0] == '\0' || strcmp(cs, "utf-8") == 0 || strcmp(cs, "utf8") == 0;
}

bool
charset_is_gb(const char *cs)
{
	static const char *const names[] = {"gb18030", "gbk", "gb2312", "cp936"};

	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strcmp(cs, names[i]) == 0)
			return true;
	return false;
}

int
charset_gb_to_utf8(const char *in, size_t len, char **out, size_t *outlen, char **cause)
{
	iconv_t cd = iconv_open("UTF-8", "GB18030");
	size_t cap = len * 2 + 16, left = len, room = cap;
	char *buf, *src = (char *)(uintptr_t)in, *dst;

	*out = NULL;
	if (cd == (iconv_t)-1) {
		*cause = xstrdup("GB18030 conversion is not available on this system");
		return -1;
	}
	/* GB18030 uses at most 4 bytes for what UTF-8 writes in 4; 2x is ample
	 * for the 2-byte Chinese characters that dominate (3 bytes in UTF-8). */
	buf = xmalloc(cap + 1);
	dst = buf;
	while (left > 0) {
		if (iconv(cd, &src, &left, &dst, &room) == (size_t)-1) {
			if (errno == E2BIG) {
				size_t used = (size_t)(dst - buf);

				cap *= 2;
				buf = xreallocarray(buf, cap + 1, 1);
				dst = buf + used;
				room = cap - used;
				continue;
			}
			*cause = xasprintf("byte %zu: not valid GB18030 text", (size_t)(src - in));
			free(buf);
			iconv_close(cd);
			return -1;
		}
	}
	iconv_close(cd);
	*dst = '\0';
	*out = buf;
	*outlen = (size_t)(dst - buf);
	return 0;
}
