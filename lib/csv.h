/*
 * csv.h: RFC 4180 CSV as Excel and WPS export it.
 *
 * Accepted: an optional UTF-8 byte order mark, CRLF or LF line ends (a lone
 * CR too), quoted fields holding commas, quotes ("" inside quotes) and line
 * breaks, a final line with or without a line end. Blank lines (no
 * characters at all) are skipped. Refused, with the line number: an
 * unterminated quoted field, a quote inside an unquoted field, text after a
 * closing quote, a NUL byte, invalid UTF-8, more than CSV_MAX_FIELDS fields
 * in a row.
 */
#ifndef EDUMON_CSV_H
#define EDUMON_CSV_H

#include <stddef.h>

#define CSV_MAX_FIELDS 256

struct csv_row {
	size_t line;    /* 1-based line where the row starts */
	size_t nfields;
	char **fields;  /* nfields NUL-terminated strings */
};

struct csv_doc {
	size_t nrows;
	struct csv_row *rows;
};

/*
 * Parse buf[0..len). On success returns 0 and sets *out to a document the
 * caller frees with csv_doc_free. On failure returns -1, sets *out to NULL
 * and *cause to a newly allocated message such as
 * "line 4: unterminated quoted field".
 */
int csv_parse(const char *buf, size_t len, struct csv_doc **out, char **cause);

void csv_doc_free(struct csv_doc *doc);

#endif
