/*
 * test_util.c: allocation helpers, buffers, JSON string escaping, UTF-8
 * validation, UUIDs and strict integer parsing.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "util.h"

Test(util, buf_grows_and_stays_terminated)
{
	struct buf b;

	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	cr_expect_eq(b.len, strlen(b.data));
	cr_expect(strncmp(b.data, "0,1,2,", 6) == 0);
	cr_expect(strcmp(b.data + b.len - 4, "999,") == 0);
	buf_reset(&b);
	cr_expect_eq(b.len, 0);
	cr_expect_str_eq(b.data, "");
	buf_free(&b);
	buf_init(&b);
	{
		char *s = buf_steal(&b);

		cr_expect_str_eq(s, "", "stealing an empty buffer gives an empty string");
		free(s);
	}
}

/*
 * Criterion hands parameters to a fresh process by copying bytes, so the
 * parameters are indices into file-scope tables, never pointers.
 */
struct esc_case {
	const char *in;
	const char *out;
};

static const struct esc_case esc_cases[] = {
	    {"plain", "\"plain\""},
	    {"a\"b", "\"a\\\"b\""},
	    {"back\\slash", "\"back\\\\slash\""},
	    {"line\nbreak\r\t", "\"line\\nbreak\\r\\t\""},
	    {"\x01\x1f", "\"\\u0001\\u001f\""},
	    {"连云区", "\"连云区\""},
	    {"", "\"\""},
};

ParameterizedTestParameters(util, json_string_escapes)
{
	static int idx[ARRAY_LEN(esc_cases)];

	for (size_t i = 0; i < ARRAY_LEN(esc_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, util, json_string_escapes)
{
	const struct esc_case *c = &esc_cases[*i];
	struct buf b;

	buf_init(&b);
	buf_json_string(&b, c->in);
	cr_expect_str_eq(b.data, c->out);
	buf_free(&b);
}

struct utf8_case {
	const char *s;
	size_t len;
	bool valid;
};

static const struct utf8_case utf8_cases[] = {
	    {"ascii", 5, true},
	    {"\xe8\xbf\x9e\xe4\xba\x91", 6, true},   /* 连云 */
	    {"\xf0\x9f\x98\x80", 4, true},           /* U+1F600 */
	    {"\xc0\xaf", 2, false},                  /* overlong '/' */
	    {"\xe0\x80\xaf", 3, false},              /* overlong */
	    {"\xed\xa0\x80", 3, false},              /* surrogate D800 */
	    {"\xf4\x90\x80\x80", 4, false},          /* > U+10FFFF */
	    {"\xe8\xbf", 2, false},                  /* truncated */
	    {"\x80", 1, false},                      /* lone continuation */
	    {"\xff", 1, false},
};

ParameterizedTestParameters(util, utf8)
{
	static int idx[ARRAY_LEN(utf8_cases)];

	for (size_t i = 0; i < ARRAY_LEN(utf8_cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_LEN(idx));
}

ParameterizedTest(int *i, util, utf8)
{
	const struct utf8_case *c = &utf8_cases[*i];

	cr_expect_eq(utf8_valid(c->s, c->len), c->valid, "case %s", c->s);
}

Test(util, utf8_prefix_len)
{
	cr_expect_eq(utf8_prefix_len("", 4), 0);
	cr_expect_eq(utf8_prefix_len("abc", 4), 3);
	cr_expect_eq(utf8_prefix_len("abcd", 4), 4);
	cr_expect_eq(utf8_prefix_len("abcde", 4), 4);
	/* "＇" is 3 bytes: 4 bytes of two of them keep one. */
	cr_expect_eq(utf8_prefix_len("＇＇", 4), 3);
	cr_expect_eq(utf8_prefix_len("＇＇", 6), 6);
	cr_expect_eq(utf8_prefix_len("a＇＇", 3), 1);
	cr_expect_eq(utf8_prefix_len("＇", 2), 0);
}

Test(util, uuid_v4_shape_and_uniqueness)
{
	char a[37], b[37];

	uuid_v4(a);
	uuid_v4(b);
	cr_expect_eq(strlen(a), 36);
	cr_expect_eq(a[8], '-');
	cr_expect_eq(a[14], '4', "version nibble");
	cr_expect(strchr("89ab", a[19]) != NULL, "variant bits");
	cr_expect_str_neq(a, b);
}

Test(util, parse_ll_is_strict)
{
	long long v;

	cr_expect_eq(parse_ll("42", 0, 100, &v), 0);
	cr_expect_eq(v, 42);
	cr_expect_eq(parse_ll("-5", -10, 10, &v), 0);
	cr_expect_eq(v, -5);
	cr_expect_eq(parse_ll("101", 0, 100, &v), -1);
	cr_expect_eq(parse_ll("", 0, 100, &v), -1);
	cr_expect_eq(parse_ll(" 1", 0, 100, &v), -1);
	cr_expect_eq(parse_ll("+1", 0, 100, &v), -1);
	cr_expect_eq(parse_ll("1x", 0, 100, &v), -1);
	cr_expect_eq(parse_ll("99999999999999999999", 0, 100, &v), -1);
}

Test(util, hex_encode)
{
	const unsigned char in[] = {0x00, 0xab, 0xff};
	char out[7];

	hex_encode(in, 3, out);
	cr_expect_str_eq(out, "00abff");
}

Test(util, pg_array_literals)
{
	struct buf b;

	buf_init(&b);
	buf_pg_array_end(&b, 0);
	cr_expect_str_eq(b.data, "{}");
	buf_reset(&b);
	buf_pg_array_sep(&b, 0);
	buf_pg_array_text(&b, "a\"b\\c", 5);
	buf_pg_array_sep(&b, 1);
	buf_pg_array_text(&b, NULL, 0);
	buf_pg_array_sep(&b, 2);
	buf_puts(&b, "42");
	buf_pg_array_end(&b, 3);
	cr_expect_str_eq(b.data, "{\"a\\\"b\\\\c\",NULL,42}");
	buf_free(&b);
	cr_expect_eq(hash_mix64(1), hash_mix64(1));
	cr_expect_neq(hash_mix64(1), hash_mix64(2));
}

Test(util, names_index)
{
	static const char *const names[] = {"day", NULL, "week", "weekly"};

	cr_expect_eq(names_index(names, 4, "week", 4), 2);
	cr_expect_eq(names_index(names, 4, "weekly", 6), 3);
	cr_expect_eq(names_index(names, 4, "weeks", 4), 2, "only the first len bytes count");
	cr_expect_eq(names_index(names, 4, "we", 2), -1);
	cr_expect_eq(names_index(names, 4, "", 0), -1);
	cr_expect_eq(names_index(names, 2, "week", 4), -1, "n bounds the table");
}
