/*
 * fuzz_csv.c: libFuzzer harness for csv_parse.
 *
 * Oracles beyond the sanitizers: a refusal is "line N: ..." with N at most
 * the number of lines; a document has rows with 1..CSV_MAX_FIELDS fields
 * and strictly increasing line numbers; and writing the document back out
 * (every field quoted) and parsing that gives the same fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every field quoted, quotes doubled, CRLF line ends. */
static char *
csv_write(const struct csv_doc *doc, size_t *len)
{
	struct buf b;

	buf_init(&b);
	for (size_t r = 0; r < doc->nrows; r++) {
		for (size_t f = 0; f < doc->rows[r].nfields; f++) {
			const char *s = doc->rows[r].fields[f];

			buf_puts(&b, f > 0 ? ",\"" : "\"");
			for (; *s != '\0'; s++) {
				if (*s == '"')
					buf_putc(&b, '"');
				buf_putc(&b, *s);
			}
			buf_putc(&b, '"');
		}
		buf_puts(&b, "\r\n");
	}
	*len = b.len;
	return buf_steal(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv_doc *doc = NULL, *again = NULL;
	char *cause = NULL, *text;
	size_t lines = 1, len, prev = 0;

	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n')))
			lines++;
	}
	if (csv_parse((const char *)data, size, &doc, &cause) != 0) {
		unsigned long line = 0;

		if (doc != NULL || cause == NULL || sscanf(cause, "line %lu: ", &line) != 1 ||
		    line < 1 || line > lines) {
			fprintf(stderr, "bad refusal: %s\n", cause ? cause : "(null)");
			abort();
		}
		free(cause);
		return 0;
	}
	for (size_t r = 0; r < doc->nrows; r++) {
		const struct csv_row *row = &doc->rows[r];

		if (row->line <= prev || row->line > lines || row->nfields < 1 ||
		    row->nfields > CSV_MAX_FIELDS)
			abort();
		prev = row->line;
	}
	text = csv_write(doc, &len);
	if (csv_parse(text, len, &again, &cause) != 0) {
		fprintf(stderr, "own output refused: %s\n", cause);
		abort();
	}
	if (again->nrows != doc->nrows)
		abort();
	for (size_t r = 0; r < doc->nrows; r++) {
		if (again->rows[r].nfields != doc->rows[r].nfields)
			abort();
		for (size_t f = 0; f < doc->rows[r].nfields; f++)
			if (strcmp(again->rows[r].fields[f], doc->rows[r].fields[f]) != 0)
				abort();
	}
	free(text);
	csv_doc_free(again);
	csv_doc_free(doc);
	return 0;
}
