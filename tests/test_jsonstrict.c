/*
 * test_jsonstrict.c: the RFC 8259 conformance check. Invalid documents with
 * the offset and a key phrase of their message, valid documents (each also
 * parsed by cJSON, which must agree), nesting limits, and the cost of the
 * duplicate-member check on a hostile body.
 *
 * Every document is copied into a buffer of exactly its length first, so
 * that AddressSanitizer and valgrind catch any read past the end.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonstrict.h"
#include "util.h"

#define DEPTH 64

/* A string literal and its length, NUL bytes included. */
#define DOC(s) s, sizeof(s) - 1

struct bad_case {
	const char *doc;
	size_t len;
	int depth;
	size_t offset;
	const char *phrase;
};

struct good_case {
	const char *doc;
	size_t len;
};

/* Run the check on an exact-length copy of doc[0..len). */
static int
check(const char *doc, size_t len, int depth, size_t *offset, char **cause)
{
	char *copy = xmalloc(len);
	int rc;

	memcpy(copy, doc, len);
	rc = json_strict_check(copy, len, depth, offset, cause);
	free(copy);
	return rc;
}

static const struct bad_case bad_cases[] = {
    /* Empty input, whitespace only, byte order mark. */
    {DOC(""), DEPTH, 0, "empty document"},
    {DOC("   "), DEPTH, 3, "expected a value, found end of input"},
    {DOC("\xef\xbb\xbf{}"), DEPTH, 0, "byte order mark"},
    /* Numbers. */
    {DOC("01"), DEPTH, 0, "leading zero"},
    {DOC("-01"), DEPTH, 1, "leading zero"},
    {DOC("[00]"), DEPTH, 1, "leading zero"},
    {DOC("{\"n\":007}"), DEPTH, 5, "leading zero"},
    {DOC("NaN"), DEPTH, 0, "NaN is not JSON"},
    {DOC("[NaN]"), DEPTH, 1, "NaN is not JSON"},
    {DOC("Infinity"), DEPTH, 0, "Infinity is not JSON"},
    {DOC("-Infinity"), DEPTH, 0, "Infinity is not JSON"},
    {DOC("+1"), DEPTH, 0, "'+' before a number"},
    {DOC(".5"), DEPTH, 0, "without an integer part"},
    {DOC("1."), DEPTH, 2, "expected digit after decimal point, found end of input"},
    {DOC("1.e5"), DEPTH, 2, "expected digit after decimal point, found 'e'"},
    {DOC("1e"), DEPTH, 2, "expected digit in exponent"},
    {DOC("1e+"), DEPTH, 3, "expected digit in exponent"},
    {DOC("1E-x"), DEPTH, 3, "expected digit in exponent, found 'x'"},
    {DOC("0x1F"), DEPTH, 1, "unexpected 'x' in number"},
    {DOC("1.5.3"), DEPTH, 3, "unexpected '.' in number"},
    {DOC("12a"), DEPTH, 2, "unexpected 'a' in number"},
    {DOC("-"), DEPTH, 1, "expected digit after '-'"},
    {DOC("- 1"), DEPTH, 1, "expected digit after '-', found ' '"},
    /* Literals. */
    {DOC("tru"), DEPTH, 3, "invalid literal (expected true), found end of input"},
    {DOC("nulL"), DEPTH, 3, "invalid literal (expected null)"},
    {DOC("truex"), DEPTH, 4, "unexpected 'x' after true"},
    {DOC("True"), DEPTH, 0, "expected a value, found 'T'"},
    {DOC("undefined"), DEPTH, 0, "expected a value, found 'u'"},
    /* Quotes and comments. */
    {DOC("'a'"), DEPTH, 0, "single-quoted string"},
    {DOC("{'a':1}"), DEPTH, 1, "single-quoted member name"},
    {DOC("[1] // note"), DEPTH, 4, "comments are not JSON"},
    {DOC("/* c */ 1"), DEPTH, 0, "comments are not JSON"},
    {DOC("{\"a\":1 /* c */}"), DEPTH, 7, "comments are not JSON"},
    /* Structure. */
    {DOC("[1,]"), DEPTH, 2, "trailing comma before ']'"},
    {DOC("{\"a\":1,}"), DEPTH, 6, "trailing comma before '}'"},
    {DOC("[1 , \n]"), DEPTH, 3, "trailing comma"},
    {DOC("[1,,2]"), DEPTH, 3, "expected a value, found ','"},
    {DOC("[1 2]"), DEPTH, 3, "expected ',' or ']', found '2'"},
    {DOC("{\"a\" 1}"), DEPTH, 5, "expected ':' after member name"},
    {DOC("{\"a\":1 \"b\":2}"), DEPTH, 7, "expected ',' or '}'"},
    {DOC("{1:2}"), DEPTH, 1, "expected member name, found '1'"},
    {DOC("{,}"), DEPTH, 1, "expected member name, found ','"},
    {DOC("[1}"), DEPTH, 2, "expected ',' or ']', found '}'"},
    {DOC("{\"a\":1]"), DEPTH, 6, "expected ',' or '}', found ']'"},
    {DOC("]"), DEPTH, 0, "expected a value, found ']'"},
    {DOC("{\"a\":}"), DEPTH, 5, "expected a value, found '}'"},
    {DOC("["), DEPTH, 1, "expected a value, found end of input"},
    {DOC("[1"), DEPTH, 2, "expected ',' or ']', found end of input"},
    {DOC("{\"a\":"), DEPTH, 5, "expected a value, found end of input"},
    {DOC("{\"a\""), DEPTH, 4, "expected ':' after member name, found end of input"},
    /* Trailing garbage and bytes that are not whitespace. */
    {DOC("1 2"), DEPTH, 2, "trailing data after JSON value"},
    {DOC("{} x"), DEPTH, 3, "trailing data after JSON value, found 'x'"},
    {DOC("{\"a\":1}}"), DEPTH, 7, "trailing data"},
    {DOC("1\0"), DEPTH, 1, "trailing data after JSON value, found NUL byte"},
    {DOC("{}\0{\"a\":2}"), DEPTH, 2, "found NUL byte"},
    {DOC("[1,\0 2]"), DEPTH, 3, "expected a value, found NUL byte"},
    {DOC("\0"), DEPTH, 0, "found NUL byte"},
    {DOC("[1,\f2]"), DEPTH, 3, "found control character 0x0c"},
    {DOC("[1\v,2]"), DEPTH, 2, "found control character 0x0b"},
    {DOC("\f1"), DEPTH, 0, "found control character 0x0c"},
    {DOC("[\"a\"\t,\"b\"\xc2\xa0]"), DEPTH, 9, "expected ',' or ']', found byte 0xc2"},
    {DOC("1 \xef\xbb\xbf"), DEPTH, 2, "trailing data after JSON value, found byte 0xef"},
    /* Strings: raw control characters, escapes, surrogates. */
    {DOC("\"abc"), DEPTH, 0, "unterminated string"},
    {DOC("\"a\\"), DEPTH, 0, "unterminated string"},
    {DOC("\"a\0b\""), DEPTH, 2, "NUL byte in string"},
    {DOC("\"a\nb\""), DEPTH, 2, "unescaped control character 0x0a in string"},
    {DOC("\"\t\""), DEPTH, 1, "control character 0x09"},
    {DOC("\"\x1f\""), DEPTH, 1, "control character 0x1f"},
    {DOC("\"\\x41\""), DEPTH, 2, "invalid escape: backslash followed by 'x'"},
    {DOC("\"\\a\""), DEPTH, 2, "invalid escape"},
    {DOC("\"\\U0041\""), DEPTH, 2, "invalid escape"},
    {DOC("\"\\'\""), DEPTH, 2, "invalid escape"},
    {DOC("\"\\u12\""), DEPTH, 5, "expected 4 hex digits, found '\"'"},
    {DOC("\"\\u12G4\""), DEPTH, 5, "expected 4 hex digits, found 'G'"},
    {DOC("\"\\u"), DEPTH, 3, "expected 4 hex digits, found end of input"},
    {DOC("\"\\ud800\""), DEPTH, 1, "unpaired surrogate \\ud800"},
    {DOC("\"\\udc00\\ud800\""), DEPTH, 1, "unpaired surrogate \\udc00"},
    {DOC("\"\\ud800\\u0041\""), DEPTH, 1, "unpaired surrogate \\ud800"},
    {DOC("\"\\uD800\\uDBFF\""), DEPTH, 1, "unpaired surrogate \\ud800"},
    {DOC("\"\\ud800x\""), DEPTH, 1, "unpaired surrogate"},
    {DOC("\"\\ud800\\u12\""), DEPTH, 11, "expected 4 hex digits"},
    {DOC("[\"ok\",\"\\udfff\"]"), DEPTH, 7, "unpaired surrogate \\udfff"},
    /* Invalid UTF-8, inside and outside strings. */
    {DOC("\"\xc0\xaf\""), DEPTH, 1, "invalid UTF-8: overlong"},
    {DOC("\"\xe0\x80\xaf\""), DEPTH, 2, "invalid UTF-8: overlong"},
    {DOC("\"\xf0\x80\x80\xaf\""), DEPTH, 2, "invalid UTF-8: overlong"},
    {DOC("\"\xed\xa0\x80\""), DEPTH, 2, "invalid UTF-8: encoded surrogate"},
    {DOC("\"\xf4\x90\x80\x80\""), DEPTH, 2, "invalid UTF-8: code point above U+10FFFF"},
    {DOC("\"\xf5\x80\x80\x80\""), DEPTH, 1, "invalid UTF-8: byte 0xf5"},
    {DOC("\"\xe8\xbf\""), DEPTH, 3, "invalid UTF-8: truncated"},
    {DOC("\"\xe8\xbf"), DEPTH, 3, "invalid UTF-8: truncated"},
    {DOC("\"\xf0\x9f\x98"), DEPTH, 4, "invalid UTF-8: truncated"},
    {DOC("\"\x80\""), DEPTH, 1, "stray continuation byte 0x80"},
    {DOC("\"\xff\""), DEPTH, 1, "invalid UTF-8: byte 0xff"},
    {DOC("{\"k\xc3\":1}"), DEPTH, 4, "invalid UTF-8: truncated"},
    {DOC("\xe4\xb8\xad"), DEPTH, 0, "expected a value, found byte 0xe4"},
    /* Duplicate member names, compared after unescaping. */
    {DOC("{\"a\":1,\"a\":2}"), DEPTH, 7, "duplicate key \"a\""},
    {DOC("{\"a\":1,\"\\u0061\":2}"), DEPTH, 7, "duplicate key \"a\""},
    {DOC("{\"a\":{\"b\":1,\"b\":2}}"), DEPTH, 12, "duplicate key \"b\""},
    {DOC("[{\"x\":1},{\"y\":1,\"y\":2}]"), DEPTH, 16, "duplicate key \"y\""},
    {DOC("{\"a\":{\"x\":1},\"a\":2}"), DEPTH, 13, "duplicate key \"a\""},
    {DOC("{\"\\u4e2d\":1,\"\xe4\xb8\xad\":2}"), DEPTH, 12, "duplicate key \"\xe4\xb8\xad\""},
    {DOC("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"), DEPTH, 18, "duplicate key"},
    {DOC("{\"a\\/b\":1,\"a/b\":2}"), DEPTH, 10, "duplicate key \"a/b\""},
    {DOC("{\"\":1,\"\":2}"), DEPTH, 6, "duplicate key \"\""},
    {DOC("{\"t\\n\":1,\"t\\u000a\":2}"), DEPTH, 9, "duplicate key \"t\\n\""},
    {DOC("{\"a\":1,\"b\":2,\"c\":3,\"b\":4}"), DEPTH, 19, "duplicate key \"b\""},
    /* Nesting. */
    {DOC("[[[1]]]"), 2, 2, "nesting deeper than 2"},
    {DOC("{\"a\":[{}]}"), 2, 6, "nesting deeper than 2"},
    {DOC("[]"), 0, 0, "nesting deeper than 0"},
    {DOC("{}"), -1, 0, "nesting deeper than 0"},
};

ParameterizedTestParameters(jsonstrict, invalid)
{
	static size_t idx[ARRAY_LEN(bad_cases)];

	for (size_t i = 0; i < ARRAY_LEN(idx); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_LEN(idx));
}

ParameterizedTest(size_t *i, jsonstrict, invalid)
{
	const struct bad_case *c = &bad_cases[*i];
	size_t offset = 12345;
	char *cause = NULL;
	int rc = check(c->doc, c->len, c->depth, &offset, &cause);

	cr_assert_eq(rc, -1, "accepted %zu bytes: %.*s", c->len, (int)c->len, c->doc);
	cr_assert_not_null(cause);
	cr_expect_eq(offset, c->offset, "%.*s: offset %zu, want %zu (%s)", (int)c->len, c->doc,
	    offset, c->offset, cause);
	cr_expect(strstr(cause, c->phrase) != NULL, "%.*s: cause \"%s\" lacks \"%s\"",
	    (int)c->len, c->doc, cause, c->phrase);
	free(cause);
}

static const struct good_case good_cases[] = {
    {DOC("0")},
    {DOC("-0")},
    {DOC("-0.0e-0")},
    {DOC("1e400")},
    {DOC("-1.5E-10")},
    {DOC("2.5e+3")},
    {DOC("123456789012345678901234567890")},
    {DOC("[0,1,-1,0.5,10,1E2]")},
    {DOC("true")},
    {DOC("false")},
    {DOC("null")},
    {DOC("\"\"")},
    {DOC("[]")},
    {DOC("{}")},
    {DOC(" \t\r\n[ 1 , 2 ,\n\t3 ] \r\n")},
    {DOC("{ \"a\" : [ ] , \"b\" : { } }")},
    {DOC("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\u4E2D \\uFFFF\"")},
    {DOC("\"\\u0000\"")},
    {DOC("\"\x7f\"")},
    {DOC("{\"\xe5\xad\xa6\xe6\xa0\xa1\":\"\xe8\xbf\x9e\xe4\xba\x91\xe5\x8c\xba\xe5\xae\x9e"
         "\xe9\xaa\x8c\xe5\xb0\x8f\xe5\xad\xa6\",\"\xe5\x80\xbc\":98.5}")},
    {DOC("\"\xf0\x9f\x98\x80 \xf0\x9d\x84\x9e\"")},
    {DOC("\"\\ud83d\\ude00\"")},
    {DOC("\"\\uD834\\uDD1E\"")},
    {DOC("\"\\udbff\\udfff\"")},
    {DOC("\"\xc2\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf \xef\xbb\xbf\"")},
    {DOC("[{\"a\":1},{\"a\":2}]")},
    {DOC("{\"a\":{\"a\":{\"a\":1}}}")},
    {DOC("{\"x\":{\"a\":1},\"y\":{\"a\":2},\"a\":3}")},
    {DOC("{\"a\":{\"b\":1},\"b\":2}")},
    {DOC("{\"a\":1,\"A\":2,\"a \":3,\" a\":4}")},
    {DOC("{\"\":1,\" \":2}")},
    {DOC("{\"ab\":1,\"a\":2,\"abc\":3}")},
    {DOC("{\"\\u00e9\":1,\"e\\u0301\":2}")},
    {DOC("{\"school\":\"320703001\",\"period\":\"2024-09\",\"metrics\":[{\"metric\":"
         "\"attendance_rate\",\"value\":97.25},{\"metric\":\"ratio\",\"numerator\":12,"
         "\"denominator\":40}],\"note\":null,\"final\":true}")},
};

ParameterizedTestParameters(jsonstrict, valid)
{
	static size_t idx[ARRAY_LEN(good_cases)];

	for (size_t i = 0; i < ARRAY_LEN(idx); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_LEN(idx));
}

ParameterizedTest(size_t *i, jsonstrict, valid)
{
	const struct good_case *c = &good_cases[*i];
	size_t offset = 12345;
	char *cause = NULL;
	cJSON *root;
	int rc = check(c->doc, c->len, DEPTH, &offset, &cause);

	cr_expect_eq(rc, 0, "refused %.*s at %zu: %s", (int)c->len, c->doc, offset,
	    cause != NULL ? cause : "?");
	cr_expect_eq(offset, 12345, "offset written on success");
	cr_expect_null(cause, "cause set on success");
	free(cause);

	/* Whatever we accept, cJSON must accept too. */
	root = cJSON_ParseWithLength(c->doc, c->len);
	cr_expect_not_null(root, "cJSON refuses %.*s", (int)c->len, c->doc);
	cJSON_Delete(root);
}

/* depth nested pairs of open/close, e.g. "[[[]]]" or "[{"a":[{"a":[]}]}]". */
static char *
nested(int depth, bool mixed)
{
	struct buf b;

	buf_init(&b);
	for (int i = 0; i < depth; i++)
		buf_puts(&b, mixed && i % 2 == 1 ? "{\"a\":" : "[");
	if (mixed && depth % 2 == 0)
		buf_puts(&b, "1");
	for (int i = depth - 1; i >= 0; i--)
		buf_puts(&b, mixed && i % 2 == 1 ? "}" : "]");
	return buf_steal(&b);
}

Test(jsonstrict, deep_but_allowed)
{
	static const int depths[] = {1, 2, 63, 64, 500};

	for (size_t i = 0; i < ARRAY_LEN(depths); i++) {
		for (int mixed = 0; mixed <= 1; mixed++) {
			char *doc = nested(depths[i], mixed);
			size_t len = strlen(doc), offset = 0;
			char *cause = NULL;
			cJSON *root;

			cr_expect_eq(check(doc, len, depths[i], &offset, &cause), 0,
			    "depth %d (mixed %d) refused at %zu: %s", depths[i], mixed, offset,
			    cause != NULL ? cause : "?");
			free(cause);
			root = cJSON_ParseWithLength(doc, len);
			cr_expect_not_null(root, "cJSON refuses depth %d", depths[i]);
			cJSON_Delete(root);
			free(doc);
		}
	}
}

Test(jsonstrict, one_too_deep)
{
	static const int depths[] = {1, 2, 63, 64, 500};

	for (size_t i = 0; i < ARRAY_LEN(depths); i++) {
		for (int mixed = 0; mixed <= 1; mixed++) {
			char *doc = nested(depths[i] + 1, mixed);
			char *cause = NULL, want[64];
			size_t offset = 0;
			/* The opening bracket that goes one level too deep. */
			size_t at = 0;

			for (int d = 0; d < depths[i]; d++)
				at += mixed && d % 2 == 1 ? 5 : 1;
			cr_expect_eq(check(doc, strlen(doc), depths[i], &offset, &cause), -1);
			cr_expect_eq(offset, at, "depth %d mixed %d: offset %zu, want %zu", depths[i],
			    mixed, offset, at);
			snprintf(want, sizeof want, "nesting deeper than %d", depths[i]);
			cr_expect_str_eq(cause, want);
			free(cause);
			free(doc);
		}
	}
}

/* A megabyte of '[' must fail at the limit without using the C stack. */
Test(jsonstrict, hostile_nesting)
{
	size_t len = 1 << 20, offset = 0;
	char *doc = xmalloc(len), *cause = NULL;

	memset(doc, '[', len);
	cr_expect_eq(check(doc, len, DEPTH, &offset, &cause), -1);
	cr_expect_eq(offset, DEPTH);
	cr_expect(strstr(cause, "nesting deeper than 64") != NULL, "%s", cause);
	free(cause);
	cr_expect_eq(check(doc, len, 1 << 30, &offset, &cause), -1);
	cr_expect_eq(offset, len, "a huge limit: the end of input is the error");
	free(cause);
	free(doc);
}

/* {"k0":0,"k1":1,...} with n members, then extra (before the closing '}'). */
static char *
wide_object(size_t n, const char *extra)
{
	struct buf b;

	buf_init(&b);
	buf_putc(&b, '{');
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	buf_puts(&b, extra);
	buf_putc(&b, '}');
	return buf_steal(&b);
}

Test(jsonstrict, fifty_thousand_members)
{
	char *doc = wide_object(50000, "");
	size_t len = strlen(doc), offset = 0;
	char *cause = NULL;
	int64_t t0 = now_usec(), dt;

	cr_expect_eq(check(doc, len, DEPTH, &offset, &cause), 0, "%s", cause ? cause : "");
	dt = now_usec() - t0;
	cr_expect_lt(dt, 1000000, "50,000 members took %lld us", (long long)dt);
	free(doc);

	/* A duplicate of the first member, at the very end. */
	doc = wide_object(50000, ",\"k0\":1");
	len = strlen(doc);
	t0 = now_usec();
	cr_expect_eq(check(doc, len, DEPTH, &offset, &cause), -1);
	dt = now_usec() - t0;
	cr_expect_lt(dt, 1000000, "50,000 members took %lld us", (long long)dt);
	cr_expect_eq(offset, len - 7);
	cr_expect_str_eq(cause, "duplicate key \"k0\"");
	free(cause);
	free(doc);
}

/* Many sibling objects with the same names: each object's names go away. */
Test(jsonstrict, many_objects_same_names)
{
	struct buf b;
	size_t offset = 0;
	char *cause = NULL;

	buf_init(&b);
	buf_putc(&b, '[');
	for (int i = 0; i < 20000; i++)
		buf_printf(&b, "%s{\"school\":%d,\"v\":{\"school\":1}}", i ? "," : "", i);
	buf_putc(&b, ']');
	cr_expect_eq(check(b.data, b.len, DEPTH, &offset, &cause), 0, "%s", cause ? cause : "");
	free(cause);
	buf_free(&b);
}

/* Names that differ only late, and long names: the message is cut. */
Test(jsonstrict, long_duplicate_name)
{
	struct buf b;
	size_t offset = 0;
	char *cause = NULL, name[201];

	memset(name, 'n', 200);
	name[200] = '\0';
	buf_init(&b);
	buf_printf(&b, "{\"%s\":1,\"%sx\":2,\"%s\":3}", name, name, name);
	cr_expect_eq(check(b.data, b.len, DEPTH, &offset, &cause), -1);
	cr_expect_eq(offset, 2 * (200 + 5) + 1 + 1);
	cr_expect(strstr(cause, "duplicate key \"nnnn") != NULL, "%s", cause);
	cr_expect(strstr(cause, "(cut)") != NULL, "%s", cause);
	cr_expect_lt(strlen(cause), 120);
	free(cause);
	buf_free(&b);

	/* A cut must not split a UTF-8 character (3 bytes each: 64 is not a multiple). */
	buf_init(&b);
	buf_puts(&b, "{\"");
	for (int i = 0; i < 30; i++)
		buf_puts(&b, "\xe4\xb8\xad");
	buf_puts(&b, "\":1,\"");
	for (int i = 0; i < 30; i++)
		buf_puts(&b, "\xe4\xb8\xad");
	buf_puts(&b, "\":2}");
	cr_expect_eq(check(b.data, b.len, DEPTH, &offset, &cause), -1);
	cr_expect(utf8_valid(cause, strlen(cause)), "message is not UTF-8: %s", cause);
	free(cause);
	buf_free(&b);
}

/* NULL offset and cause are allowed; success writes neither. */
Test(jsonstrict, null_out_parameters)
{
	cr_expect_eq(check("[1,]", 4, DEPTH, NULL, NULL), -1);
	cr_expect_eq(check("[1]", 3, DEPTH, NULL, NULL), 0);
}

/* Every prefix of a valid document but itself is refused, without overread. */
Test(jsonstrict, prefixes_refused)
{
	static const char doc[] =
	    "{\"a\":[1,-2.5e+3,true,false,null,\"\\u00e9\\ud83d\\ude00\xe4\xb8\xad\"],\"b\":{}}";
	size_t len = sizeof doc - 1;

	cr_assert_eq(check(doc, len, DEPTH, NULL, NULL), 0);
	for (size_t n = 0; n < len; n++) {
		size_t offset = 0;
		char *cause = NULL;

		/* "{...,"b":{}" minus the last '}' etc.; numbers may end a prefix validly. */
		if (check(doc, n, DEPTH, &offset, &cause) == 0)
			cr_expect_fail("prefix of %zu bytes accepted", n);
		else
			cr_expect_leq(offset, n, "offset %zu past the end %zu", offset, n);
		free(cause);
	}
}
