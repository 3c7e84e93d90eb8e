/*
 * catalog.h: the metric catalog: which metrics exist, their Chinese names,
 * kind (rate / count / value), valid range, reporting period kind, and which
 * kinds of unit and which school stages report them.
 *
 * The catalog is data: deploy/metrics.csv is loaded into the metric table by
 * `edumon catalog load`, and edumond reads the table.
 * catalog_parse_csv reads that file format:
 *
 *   code,name_zh,name_en,unit,kind,period_kind,min,max,stages,unit_kinds,description
 *
 * stages and unit_kinds are '|'-separated names (registry.h); an empty
 * stages field means any stage. min/max bound the value for count and value
 * metrics; for rate metrics they bound numerator/denominator (normally 0..1).
 */
#ifndef EDUMON_CATALOG_H
#define EDUMON_CATALOG_H

#include <stddef.h>

#include "period.h"

enum metric_kind { METRIC_RATE, METRIC_COUNT, METRIC_VALUE, METRIC_KIND_COUNT };

/* "rate", "count", "value". */
const char *metric_kind_name(enum metric_kind kind);
int metric_kind_parse(const char *s, enum metric_kind *out);

struct metric {
	int id; /* database id; 0 when parsed from the file */
	char *code;
	char *name_zh;
	char *name_en;
	char *unit; /* display unit: "%", "人", "次", "分钟", "元" ... */
	enum metric_kind kind;
	enum period_kind period_kind;
	double min;
	double max;
	unsigned stages;     /* STAGE_BIT mask; 0 = any stage */
	unsigned unit_kinds; /* UNIT_KIND_BIT mask of units that report it */
	char *description;
};

struct catalog;

struct catalog *catalog_new(void);
void catalog_free(struct catalog *cat);
/* Copy m into the catalog; a repeated code replaces the earlier entry. */
void catalog_add(struct catalog *cat, const struct metric *m);
size_t catalog_count(const struct catalog *cat);
/* The i-th metric in insertion order, i < catalog_count. */
const struct metric *catalog_get(const struct catalog *cat, size_t i);
const struct metric *catalog_by_code(const struct catalog *cat, const char *code);
const struct metric *catalog_by_id(const struct catalog *cat, int id);

/*
 * Parse the catalog file format above (a header row is required). On
 * success returns 0 and sets *out (caller frees). On failure returns -1 and
 * sets *cause ("line 7: kind \"ratio\": expected rate, count or value").
 */
int catalog_parse_csv(const char *buf, size_t len, struct catalog **out, char **cause);

#endif
