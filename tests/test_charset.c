/*
 * test_charset.c: Content-Type charset parameters and GB18030 bodies from
 * Chinese spreadsheets.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "charset.h"

Test(charset, param_parsing)
{
	char cs[32];

	charset_param("text/csv", cs, sizeof cs);
	cr_expect_str_eq(cs, "");
	charset_param("text/csv; charset=GBK", cs, sizeof cs);
	cr_expect_str_eq(cs, "gbk");
	charset_param("text/csv;charset=\"UTF-8\"", cs, sizeof cs);
	cr_expect_str_eq(cs, "utf-8");
	charset_param("text/csv; header=present; charset=gb18030", cs, sizeof cs);
	cr_expect_str_eq(cs, "gb18030");
	charset_param("text/csv; charset=averyveryveryverylongcharsetnamethatistruncated", cs,
	    sizeof cs);
	cr_expect_eq(strlen(cs), sizeof cs - 1);
	cr_expect(charset_is_utf8(""));
	cr_expect(charset_is_utf8("utf8"));
	cr_expect_not(charset_is_utf8("gbk"));
	cr_expect(charset_is_gb("gb2312"));
	cr_expect_not(charset_is_gb("latin1"));
}

Test(charset, gbk_to_utf8)
{
	/* "连云区,52\r\n" in GBK: 连 C1AC, 云 D4C6, 区 C7F8. */
	const char gbk[] = "\xc1\xac\xd4\xc6\xc7\xf8,52\r\n";
	char *out = NULL, *cause = NULL;
	size_t n = 0;

	cr_assert_eq(charset_gb_to_utf8(gbk, strlen(gbk), &out, &n, &cause), 0);
	cr_expect_str_eq(out, "连云区,52\r\n");
	cr_expect_eq(n, strlen("连云区,52\r\n"));
	free(out);
}

Test(charset, invalid_gb_is_refused_with_offset)
{
	const char bad[] = "ab\xc1"; /* a lead byte with no trail byte */
	char *out = NULL, *cause = NULL;
	size_t n = 0;

	cr_assert_eq(charset_gb_to_utf8(bad, 3, &out, &n, &cause), -1);
	cr_expect_null(out);
	cr_expect(strstr(cause, "byte 2") != NULL, "%s", cause);
	free(cause);
}

Test(charset, long_input_grows_the_buffer)
{
	size_t reps = 10000, len = reps * 2;
	char *in = malloc(len), *out = NULL, *cause = NULL;
	size_t n = 0;

	for (size_t i = 0; i < reps; i++)
		memcpy(in + 2 * i, "\xc7\xf8", 2); /* 区 */
	cr_assert_eq(charset_gb_to_utf8(in, len, &out, &n, &cause), 0);
	cr_expect_eq(n, reps * 3);
	cr_expect(memcmp(out + n - 3, "区", 3) == 0);
	free(in);
	free(out);
}
