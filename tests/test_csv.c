/*
 * test_csv.c: CSV as Excel and WPS export it. Each case is an input and
 * either the rows it gives, rendered one per line as
 * LINE["field","field"] (fields JSON-escaped), or the exact error message.
 *
 * Inputs are copied into a buffer of exactly their length first, so that
 * AddressSanitizer and valgrind catch any read past the end.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util.h"

/* A string literal and its length, NUL bytes included. */
#define IN(s) s, sizeof(s) - 1

struct csv_case {
	const char *in;
	size_t len;
	const char *rows;  /* rendered rows, or NULL if an error is expected */
	const char *error; /* the whole message */
};

/* Parse an exact-length copy of in[0..len). */
static int
parse(const char *in, size_t len, struct csv_doc **doc, char **cause)
{
	char *copy = xmalloc(len);
	int rc;

	memcpy(copy, in, len);
	rc = csv_parse(copy, len, doc, cause);
	free(copy);
	return rc;
}

/* Render a document as LINE["f1","f2"]\n per row; the caller frees. */
static char *
render(const struct csv_doc *doc)
{
	struct buf b;

	buf_init(&b);
	for (size_t r = 0; r < doc->nrows; r++) {
		buf_printf(&b, "%zu[", doc->rows[r].line);
		for (size_t f = 0; f < doc->rows[r].nfields; f++) {
			if (f > 0)
				buf_putc(&b, ',');
			buf_json_string(&b, doc->rows[r].fields[f]);
		}
		buf_puts(&b, "]\n");
	}
	return buf_steal(&b);
}

static const struct csv_case cases[] = {
    /* Empty input and what is as good as empty. */
    {IN(""), "", NULL},
    {IN("\xef\xbb\xbf"), "", NULL},
    {IN("\n"), "", NULL},
    {IN("\r\n\r\n\r\n"), "", NULL},
    {IN("\xef\xbb\xbf\r\n"), "", NULL},
    /* Plain rows, with and without a final line end. */
    {IN("a,b,c"), "1[\"a\",\"b\",\"c\"]\n", NULL},
    {IN("a,b\n"), "1[\"a\",\"b\"]\n", NULL},
    {IN("a\nb"), "1[\"a\"]\n2[\"b\"]\n", NULL},
    /* Excel: "CSV UTF-8" is a BOM and CRLF line ends. */
    {IN("\xef\xbb\xbfschool,period,metric,value\r\n"
        "320703001,2024-09,attendance_rate,97.5\r\n"
        "320703002,2024-09,attendance_rate,96\r\n"),
        "1[\"school\",\"period\",\"metric\",\"value\"]\n"
        "2[\"320703001\",\"2024-09\",\"attendance_rate\",\"97.5\"]\n"
        "3[\"320703002\",\"2024-09\",\"attendance_rate\",\"96\"]\n",
        NULL},
    /* Excel: an empty cell at the end of a row, a cell with a comma. */
    {IN("\xef\xbb\xbf\xe5\xad\xa6\xe6\xa0\xa1,\xe5\xa4\x87\xe6\xb3\xa8\r\n"
        "\"\xe8\xbf\x9e\xe4\xba\x91\xe5\x8c\xba,\xe5\xae\x9e\xe9\xaa\x8c\xe5\xb0\x8f\xe5\xad\xa6\",\r\n"),
        "1[\"\xe5\xad\xa6\xe6\xa0\xa1\",\"\xe5\xa4\x87\xe6\xb3\xa8\"]\n"
        "2[\"\xe8\xbf\x9e\xe4\xba\x91\xe5\x8c\xba,\xe5\xae\x9e\xe9\xaa\x8c\xe5\xb0\x8f\xe5\xad\xa6\",\"\"]\n",
        NULL},
    /* WPS: every field quoted, LF line ends, no final line end. */
    {IN("\"\xe5\xad\xa6\xe6\xa0\xa1\",\"\xe6\x9c\x9f\xe9\x97\xb4\"\n"
        "\"\xe8\xbf\x9e\xe4\xba\x91\xe6\xb8\xaf\xe5\xb8\x82\xe7\xac\xac\xe4\xb8\x80\xe4\xb8\xad"
        "\xe5\xad\xa6\",\"2024-09\""),
        "1[\"\xe5\xad\xa6\xe6\xa0\xa1\",\"\xe6\x9c\x9f\xe9\x97\xb4\"]\n"
        "2[\"\xe8\xbf\x9e\xe4\xba\x91\xe6\xb8\xaf\xe5\xb8\x82\xe7\xac\xac\xe4\xb8\x80\xe4\xb8\xad"
        "\xe5\xad\xa6\",\"2024-09\"]\n",
        NULL},
    /* Chinese fields, unquoted. */
    {IN("\xe5\xad\xa6\xe6\xa0\xa1,\xe5\x9c\xb0\xe5\x8c\xba\n"
        "\xe8\xbf\x9e\xe4\xba\x91\xe6\xb8\xaf\xe5\xb8\x82\xe7\xac\xac\xe4\xb8\x80\xe4\xb8\xad"
        "\xe5\xad\xa6,\xe8\xbf\x9e\xe4\xba\x91\xe5\x8c\xba\n"),
        "1[\"\xe5\xad\xa6\xe6\xa0\xa1\",\"\xe5\x9c\xb0\xe5\x8c\xba\"]\n"
        "2[\"\xe8\xbf\x9e\xe4\xba\x91\xe6\xb8\xaf\xe5\xb8\x82\xe7\xac\xac\xe4\xb8\x80\xe4\xb8\xad"
        "\xe5\xad\xa6\",\"\xe8\xbf\x9e\xe4\xba\x91\xe5\x8c\xba\"]\n",
        NULL},
    /* Quoted fields: commas, doubled quotes, empty, only a quote. */
    {IN("\"a,b\",c"), "1[\"a,b\",\"c\"]\n", NULL},
    {IN("\"say \"\"hi\"\"\",x"), "1[\"say \\\"hi\\\"\",\"x\"]\n", NULL},
    {IN("\"\""), "1[\"\"]\n", NULL},
    {IN("\"\",\"\""), "1[\"\",\"\"]\n", NULL},
    {IN("\"\"\"\""), "1[\"\\\"\"]\n", NULL},
    {IN("\"4\xf0\x9f\x98\x80\""), "1[\"4\xf0\x9f\x98\x80\"]\n", NULL},
    /* Quoted line breaks are kept, and later rows start later. */
    {IN("\"line1\nline2\",b\nc,d\n"), "1[\"line1\\nline2\",\"b\"]\n3[\"c\",\"d\"]\n", NULL},
    {IN("\"x\r\ny\",z\r\nnext\r\n"), "1[\"x\\r\\ny\",\"z\"]\n3[\"next\"]\n", NULL},
    {IN("h\n\"1\n2\n3\",x\nlast"), "1[\"h\"]\n2[\"1\\n2\\n3\",\"x\"]\n5[\"last\"]\n", NULL},
    {IN("\"a\r\rb\"\rc"), "1[\"a\\r\\rb\"]\n4[\"c\"]\n", NULL},
    /* Line ends: CR alone, mixed; blank lines skipped but counted. */
    {IN("a\rb\rc"), "1[\"a\"]\n2[\"b\"]\n3[\"c\"]\n", NULL},
    {IN("a\r\nb\nc\rd"), "1[\"a\"]\n2[\"b\"]\n3[\"c\"]\n4[\"d\"]\n", NULL},
    {IN("a\n\n\nb\n"), "1[\"a\"]\n4[\"b\"]\n", NULL},
    {IN("\r\n\r\na\r\n\r\n"), "3[\"a\"]\n", NULL},
    {IN("a\r\r\nb"), "1[\"a\"]\n3[\"b\"]\n", NULL},
    /* A comma alone is not a blank line; spaces are data. */
    {IN(","), "1[\"\",\"\"]\n", NULL},
    {IN(",\n,,"), "1[\"\",\"\"]\n2[\"\",\"\",\"\"]\n", NULL},
    {IN("a,b,"), "1[\"a\",\"b\",\"\"]\n", NULL},
    {IN(" a , b "), "1[\" a \",\" b \"]\n", NULL},
    {IN(" \n"), "1[\" \"]\n", NULL},
    /* A byte order mark later on is data. */
    {IN("a\n\xef\xbb\xbf"), "1[\"a\"]\n2[\"\xef\xbb\xbf\"]\n", NULL},
    /* Unterminated quoted field: the line where the quote opened. */
    {IN("a,\"b"), NULL, "line 1: unterminated quoted field"},
    {IN("x\ny\n\"abc\ndef\n"), NULL, "line 3: unterminated quoted field"},
    {IN("\"a\"\""), NULL, "line 1: unterminated quoted field"},
    {IN("a,b\r\n\r\n\"c"), NULL, "line 3: unterminated quoted field"},
    {IN("\xef\xbb\xbf\"a"), NULL, "line 1: unterminated quoted field"},
    /* Quote inside an unquoted field. */
    {IN("a,b\"c\n"), NULL,
        "line 1: quote inside unquoted field (quote the whole field and double the quote)"},
    {IN("ok\nfine\nab\"c"), NULL,
        "line 3: quote inside unquoted field (quote the whole field and double the quote)"},
    {IN(" \"a\""), NULL,
        "line 1: quote inside unquoted field (quote the whole field and double the quote)"},
    {IN("\"a\r\nb\"\r\nc\"d"), NULL,
        "line 3: quote inside unquoted field (quote the whole field and double the quote)"},
    /* Text after a closing quote. */
    {IN("\"a\"b,c"), NULL,
        "line 1: unexpected character after closing quote (a quote inside a quoted field "
        "is written \"\")"},
    {IN("\"a\" ,b"), NULL,
        "line 1: unexpected character after closing quote (a quote inside a quoted field "
        "is written \"\")"},
    {IN("h\n\"multi\nline\"x"), NULL,
        "line 3: unexpected character after closing quote (a quote inside a quoted field "
        "is written \"\")"},
    /* NUL bytes and invalid UTF-8, on the line where they are. */
    {IN("a\0b"), NULL, "line 1: NUL byte"},
    {IN("a\nb\n\"c\0\""), NULL, "line 3: NUL byte"},
    {IN("a\n\"x\n\0\""), NULL, "line 3: NUL byte"},
    {IN("a\n\xff"), NULL, "line 2: invalid UTF-8"},
    {IN("\"\xc0\xaf\""), NULL, "line 1: invalid UTF-8"},
    {IN("\xed\xa0\x80"), NULL, "line 1: invalid UTF-8"},
    {IN("a\n\"x\ny\xe8\xbf\""), NULL, "line 3: invalid UTF-8"},
    {IN("\xe8\xbf"), NULL, "line 1: invalid UTF-8"},
    {IN("a,\xef\xbb"), NULL, "line 1: invalid UTF-8"},
    {IN("a\r\n\xf4\x90\x80\x80"), NULL, "line 2: invalid UTF-8"},
};

ParameterizedTestParameters(csv, cases)
{
	static size_t idx[ARRAY_LEN(cases)];

	for (size_t i = 0; i < ARRAY_LEN(idx); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_LEN(idx));
}

ParameterizedTest(size_t *i, csv, cases)
{
	const struct csv_case *c = &cases[*i];
	struct csv_doc *doc = (struct csv_doc *)1;
	char *cause = NULL, *got;
	int rc = parse(c->in, c->len, &doc, &cause);

	if (c->rows != NULL) {
		cr_assert_eq(rc, 0, "case %zu refused: %s", *i, cause != NULL ? cause : "?");
		cr_assert_null(cause);
		got = render(doc);
		cr_expect_str_eq(got, c->rows, "case %zu", *i);
		free(got);
		csv_doc_free(doc);
	} else {
		cr_assert_eq(rc, -1, "case %zu accepted", *i);
		cr_expect_null(doc, "case %zu: *out not NULL on failure", *i);
		cr_assert_not_null(cause);
		cr_expect_str_eq(cause, c->error, "case %zu", *i);
		free(cause);
	}
}

/* n fields a,a,...; CSV_MAX_FIELDS is fine, one more is refused. */
static char *
wide_row(size_t n)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_puts(&b, i ? ",a" : "a");
	return buf_steal(&b);
}

Test(csv, max_fields)
{
	char *line = wide_row(CSV_MAX_FIELDS), *more = wide_row(CSV_MAX_FIELDS + 1);
	char *in = xasprintf("x\n%s\n%s\n", line, more), *cause = NULL;
	struct csv_doc *doc = NULL;

	cr_assert_eq(parse(line, strlen(line), &doc, &cause), 0);
	cr_expect_eq(doc->nrows, 1);
	cr_expect_eq(doc->rows[0].nfields, CSV_MAX_FIELDS);
	csv_doc_free(doc);

	cr_assert_eq(parse(in, strlen(in), &doc, &cause), -1);
	cr_expect_str_eq(cause, "line 3: more than 256 fields");
	cr_expect_null(doc);
	free(cause);

	/* Empty fields count as much as any: 256 commas are 257 fields. */
	free(more);
	more = xmalloc(CSV_MAX_FIELDS + 2);
	memset(more, ',', CSV_MAX_FIELDS);
	strcpy(more + CSV_MAX_FIELDS, "\n");
	cr_assert_eq(parse(more, strlen(more), &doc, &cause), -1);
	cr_expect_str_eq(cause, "line 1: more than 256 fields");
	free(cause);
	free(more);
	free(line);
	free(in);
}

/* Fields can be edited in place (callers trim them); freeing is per row. */
Test(csv, fields_are_writable)
{
	struct csv_doc *doc = NULL;
	char *cause = NULL;

	cr_assert_eq(parse(IN(" a ,\"b\"\"\"\n c\n"), &doc, &cause), 0);
	cr_assert_eq(doc->nrows, 2);
	doc->rows[0].fields[0][2] = '\0';
	doc->rows[0].fields[1][0] = 'B';
	cr_expect_str_eq(doc->rows[0].fields[0], " a");
	cr_expect_str_eq(doc->rows[0].fields[1], "B\"");
	cr_expect_str_eq(doc->rows[1].fields[0], " c");
	csv_doc_free(doc);
	csv_doc_free(NULL);
}

/* A cause pointer is optional. */
Test(csv, null_cause)
{
	struct csv_doc *doc = NULL;

	cr_expect_eq(parse(IN("\"a"), &doc, NULL), -1);
	cr_expect_null(doc);
}

/* Many rows: the row array grows; line numbers stay right. */
Test(csv, many_rows)
{
	struct buf b;
	struct csv_doc *doc = NULL;
	char *cause = NULL;

	buf_init(&b);
	buf_puts(&b, "\xef\xbb\xbfschool,value\r\n");
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, "%d,\"%d\r\n%d\"\r\n", i, i, i);
	cr_assert_eq(parse(b.data, b.len, &doc, &cause), 0, "%s", cause ? cause : "");
	cr_assert_eq(doc->nrows, 10001);
	for (size_t r = 1; r < doc->nrows; r++) {
		char want[64];

		snprintf(want, sizeof want, "%zu\r\n%zu", r - 1, r - 1);
		cr_assert_eq(doc->rows[r].line, 2 * r, "row %zu", r);
		cr_assert_str_eq(doc->rows[r].fields[1], want);
	}
	csv_doc_free(doc);
	buf_free(&b);
}
