/*
 * csv.c: RFC 4180 CSV as Excel and WPS export it, see csv.h.
 *
 * One pass over the bytes. A line ends at CRLF, LF or a lone CR, inside
 * quotes too (the break is then part of the field, byte for byte), and the
 * line counter follows every one, so a row's line and an error's line are
 * where a text editor shows them. A blank line (a line end right at the
 * start of a line) is skipped; anything else, even a single comma, is a row.
 *
 * Memory: each row is one allocation, its field pointer array followed by
 * the NUL-terminated field texts, so freeing row.fields frees the row and
 * callers may edit a field in place (trim it) but not free it alone.
 */
#include "csv.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct csv {
	const unsigned char *p;
	size_t len;
	size_t pos;
	size_t line;        /* line of p[pos], 1-based */
	struct buf row;     /* the current row's fields, each NUL-terminated */
	size_t nfields;
	struct csv_doc *doc;
	size_t rows_cap;
	char *cause;
};

/* Set the message for an error on line; always returns -1. */
static int PRINTFLIKE(3, 4)
csv_fail(struct csv *c, size_t line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	c->cause = xasprintf("line %zu: %s", line, msg);
	free(msg);
	return -1;
}

/* True at CR or LF. */
static bool
csv_eol(const struct csv *c)
{
	return c->pos < c->len && (c->p[c->pos] == '\r' || c->p[c->pos] == '\n');
}

/*
 * Step over the line end at c->pos (CRLF counts as one), appending its bytes
 * to the current field if keep is true.
 */
static void
csv_skip_eol(struct csv *c, bool keep)
{
	size_t n = 1;

	if (c->p[c->pos] == '\r' && c->pos + 1 < c->len && c->p[c->pos + 1] == '\n')
		n = 2;
	if (keep)
		buf_append(&c->row, c->p + c->pos, n);
	c->pos += n;
	c->line++;
}

/* Bytes copied in runs: everything but separators, quotes, NUL and non-ASCII. */
static bool
csv_plain(unsigned char ch)
{
	return ch != 0 && ch < 0x80 && ch != ',' && ch != '"' && ch != '\r' && ch != '\n';
}

/*
 * Append to the current field a run of plain bytes at c->pos, or else the
 * one byte or UTF-8 sequence there; fail on a NUL byte or invalid UTF-8.
 * The caller has dealt with quotes and line ends.
 */
static int
csv_take(struct csv *c)
{
	size_t start = c->pos, n;
	unsigned ch;

	while (c->pos < c->len && csv_plain(c->p[c->pos]))
		c->pos++;
	if (c->pos > start) {
		buf_append(&c->row, c->p + start, c->pos - start);
		return 0;
	}
	ch = c->p[c->pos];
	if (ch == 0)
		return csv_fail(c, c->line, "NUL byte");
	n = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;
	if (ch >= 0x80 && (n > c->len - c->pos || !utf8_valid((const char *)c->p + c->pos, n)))
		return csv_fail(c, c->line, "invalid UTF-8");
	buf_append(&c->row, c->p + c->pos, n);
	c->pos += n;
	return 0;
}

/* A quoted field: c->pos is at its opening quote. */
static int
csv_quoted(struct csv *c)
{
	size_t opened = c->line;

	c->pos++;
	for (;;) {
		if (c->pos >= c->len)
			return csv_fail(c, opened, "unterminated quoted field");
		if (c->p[c->pos] == '"') {
			if (c->pos + 1 < c->len && c->p[c->pos + 1] == '"') {
				buf_putc(&c->row, '"');
				c->pos += 2;
				continue;
			}
			c->pos++;
			break;
		}
		if (csv_eol(c))
			csv_skip_eol(c, true);
		else if (csv_take(c) != 0)
			return -1;
	}
	if (c->pos < c->len && c->p[c->pos] != ',' && !csv_eol(c))
		return csv_fail(c, c->line,
		    "unexpected character after closing quote (a quote inside a quoted field "
		    "is written \"\")");
	return 0;
}

/* An unquoted field, up to a comma, a line end or the end of input. */
static int
csv_unquoted(struct csv *c)
{
	while (c->pos < c->len && c->p[c->pos] != ',' && !csv_eol(c)) {
		if (c->p[c->pos] == '"')
			return csv_fail(c, c->line,
			    "quote inside unquoted field (quote the whole field and "
			    "double the quote)");
		if (csv_take(c) != 0)
			return -1;
	}
	return 0;
}

/* Move the current row into the document as one allocation. */
static void
csv_emit(struct csv *c, size_t line)
{
	struct csv_doc *doc = c->doc;
	struct csv_row *r;
	char *text;
	size_t ptrs = c->nfields * sizeof(char *);

	if (doc->nrows == c->rows_cap) {
		c->rows_cap = c->rows_cap != 0 ? c->rows_cap * 2 : 16;
		doc->rows = xreallocarray(doc->rows, c->rows_cap, sizeof *doc->rows);
	}
	r = &doc->rows[doc->nrows++];
	r->line = line;
	r->nfields = c->nfields;
	r->fields = xmalloc(ptrs + c->row.len);
	text = (char *)r->fields + ptrs;
	memcpy(text, c->row.data, c->row.len);
	for (size_t i = 0; i < c->nfields; i++) {
		r->fields[i] = text;
		text += strlen(text) + 1;
	}
}

/* One row starting at c->pos, which is not at a line end. */
static int
csv_row(struct csv *c)
{
	size_t line = c->line;

	buf_reset(&c->row);
	c->nfields = 0;
	for (;;) {
		if (c->nfields == CSV_MAX_FIELDS)
			return csv_fail(c, c->line, "more than %d fields", CSV_MAX_FIELDS);
		if (c->pos < c->len && c->p[c->pos] == '"') {
			if (csv_quoted(c) != 0)
				return -1;
		} else if (csv_unquoted(c) != 0)
			return -1;
		buf_append(&c->row, "", 1);
		c->nfields++;
		if (c->pos < c->len && c->p[c->pos] == ',') {
			c->pos++;
			continue;
		}
		if (c->pos < c->len)
			csv_skip_eol(c, false);
		break;
	}
	csv_emit(c, line);
	return 0;
}

/* See csv.h. */
int
csv_parse(const char *buf, size_t len, struct csv_doc **out, char **cause)
{
	struct csv c;

	assert(buf != NULL || len == 0);
	assert(out != NULL);
	memset(&c, 0, sizeof c);
	c.p = (const unsigned char *)buf;
	c.len = len;
	c.line = 1;
	buf_init(&c.row);
	c.doc = xcalloc(1, sizeof *c.doc);
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		c.pos = 3;

	while (c.pos < c.len) {
		if (csv_eol(&c)) {
			csv_skip_eol(&c, false);
			continue;
		}
		if (csv_row(&c) != 0) {
			buf_free(&c.row);
			csv_doc_free(c.doc);
			*out = NULL;
			if (cause != NULL)
				*cause = c.cause;
			else
				free(c.cause);
			return -1;
		}
	}
	buf_free(&c.row);
	*out = c.doc;
	return 0;
}

/* See csv.h. NULL is a no-op. */
void
csv_doc_free(struct csv_doc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; i < doc->nrows; i++)
		free(doc->rows[i].fields);
	free(doc->rows);
	free(doc);
}
