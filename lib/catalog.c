/*
 * catalog.c: the metric catalog in memory and its CSV file format, see
 * catalog.h.
 *
 * Metrics live in an array of owned pointers in insertion order; a metric
 * replaced by code keeps its position. Two hash indexes (index.h) map a
 * code and a non-zero id to an array index. Ids of metrics parsed from the
 * file are 0 and are not indexed.
 *
 * Invariants: codes are unique; every metric is in the code table once;
 * every non-zero id maps to the last metric added with that id.
 */
#include "catalog.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "index.h"
#include "registry.h"
#include "util.h"

#define CATALOG_CODE_MAX 64

struct catalog {
	struct metric **metrics;
	size_t n;
	size_t cap;

	struct index *by_code; /* code -> index in metrics */
	struct index *by_id;   /* non-zero id -> index in metrics */
};

static const char *const metric_kind_names[METRIC_KIND_COUNT] = {
	[METRIC_RATE] = "rate",
	[METRIC_COUNT] = "count",
	[METRIC_VALUE] = "value",
};

/* The columns of the file format, in order. */
enum catalog_column {
	COL_CODE,
	COL_NAME_ZH,
	COL_NAME_EN,
	COL_UNIT,
	COL_KIND,
	COL_PERIOD_KIND,
	COL_MIN,
	COL_MAX,
	COL_STAGES,
	COL_UNIT_KINDS,
	COL_DESCRIPTION,
	COL_COUNT
};

static const char *const column_names[COL_COUNT] = {
	"code", "name_zh", "name_en", "unit", "kind", "period_kind", "min", "max", "stages",
	"unit_kinds", "description",
};

/* Name of kind, or "unknown" for a value outside the enum. */
const char *
metric_kind_name(enum metric_kind kind)
{
	if ((unsigned)kind >= METRIC_KIND_COUNT)
		return "unknown";
	return metric_kind_names[kind];
}

/* Inverse of metric_kind_name: 0, or -1 if s names no kind. */
int
metric_kind_parse(const char *s, enum metric_kind *out)
{
	int i = names_index(metric_kind_names, METRIC_KIND_COUNT, s, strlen(s));

	if (i < 0)
		return -1;
	*out = (enum metric_kind)i;
	return 0;
}

/* Create an empty catalog; never NULL. Free with catalog_free. */
struct catalog *
catalog_new(void)
{
	struct catalog *cat = xcalloc(1, sizeof *cat);

	cat->by_code = index_new();
	cat->by_id = index_new();
	return cat;
}

/* Free m and its strings; NULL is a no-op. */
static void
metric_free(struct metric *m)
{
	if (m == NULL)
		return;
	free(m->code);
	free(m->name_zh);
	free(m->name_en);
	free(m->unit);
	free(m->description);
	free(m);
}

/* Free cat and every metric in it; NULL is a no-op. */
void
catalog_free(struct catalog *cat)
{
	if (cat == NULL)
		return;
	for (size_t i = 0; i < cat->n; i++)
		metric_free(cat->metrics[i]);
	free(cat->metrics);
	index_free(cat->by_code);
	index_free(cat->by_id);
	free(cat);
}

/* A copy of s, or of "" for NULL; never NULL. */
static char *
dup_or_empty(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

/*
 * Copy m (strings included) into the catalog. A metric with the same code
 * is replaced in place (same position in catalog_get order); pointers
 * previously returned for it become invalid.
 */
void
catalog_add(struct catalog *cat, const struct metric *m)
{
	struct metric *c = xmalloc(sizeof *c);
	size_t idx;

	*c = *m;
	c->code = dup_or_empty(m->code);
	c->name_zh = dup_or_empty(m->name_zh);
	c->name_en = dup_or_empty(m->name_en);
	c->unit = dup_or_empty(m->unit);
	c->description = dup_or_empty(m->description);

	if ((idx = index_get(cat->by_code, INDEX_STR(c->code))) != INDEX_NONE) {
		struct metric *old = cat->metrics[idx];

		if (old->id != 0 && index_get(cat->by_id, INDEX_INT(old->id)) == idx)
			index_del(cat->by_id, INDEX_INT(old->id));
		index_put(cat->by_code, INDEX_STR(c->code), idx); /* the key is now c's copy */
		metric_free(old);
		cat->metrics[idx] = c;
	} else {
		if (cat->n == cat->cap) {
			cat->cap = cat->cap ? cat->cap * 2 : 16;
			cat->metrics = xreallocarray(cat->metrics, cat->cap, sizeof *cat->metrics);
		}
		idx = cat->n++;
		cat->metrics[idx] = c;
		index_put(cat->by_code, INDEX_STR(c->code), idx);
	}
	if (c->id != 0)
		index_put(cat->by_id, INDEX_INT(c->id), idx);
}

/* Number of metrics. */
size_t
catalog_count(const struct catalog *cat)
{
	return cat->n;
}

/* The i-th metric in insertion order (borrowed), NULL if i is too large. */
const struct metric *
catalog_get(const struct catalog *cat, size_t i)
{
	return i < cat->n ? cat->metrics[i] : NULL;
}

/* The metric with this code (borrowed), or NULL. */
const struct metric *
catalog_by_code(const struct catalog *cat, const char *code)
{
	size_t p = index_get(cat->by_code, INDEX_STR(code));

	return p == INDEX_NONE ? NULL : cat->metrics[p];
}

/* The metric with this database id (borrowed), or NULL; 0 is never found. */
const struct metric *
catalog_by_id(const struct catalog *cat, int id)
{
	size_t p;

	if (id == 0)
		return NULL;
	p = index_get(cat->by_id, INDEX_INT(id));
	return p == INDEX_NONE ? NULL : cat->metrics[p];
}

/* True if s matches ^[a-z][a-z0-9_]{0,63}$, the metric table's CHECK. */
static bool
code_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CATALOG_CODE_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/*
 * A plain decimal number: -?digits[.digits][(e|E)[+-]digits], finite. No
 * hex, no "inf"/"nan", no surrounding space. 0 or -1.
 */
static int
number_parse(const char *s, double *out)
{
	const char *p = s;
	char *end;
	double v;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p != '\0')
		return -1;
	v = strtod(s, &end);
	if (*end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Check the header row; 0, or -1 with *cause. */
static int
check_header(const struct csv_row *row, char **cause)
{
	if (row->nfields != COL_COUNT) {
		*cause = xasprintf("line %zu: header has %zu columns, expected %d: "
				   "code,name_zh,name_en,unit,kind,period_kind,min,max,stages,"
				   "unit_kinds,description",
		    row->line, row->nfields, COL_COUNT);
		return -1;
	}
	for (size_t i = 0; i < COL_COUNT; i++) {
		if (strcmp(row->fields[i], column_names[i]) != 0) {
			*cause = xasprintf("line %zu: header column %zu is \"%s\", expected \"%s\"",
			    row->line, i + 1, row->fields[i], column_names[i]);
			return -1;
		}
	}
	return 0;
}

/*
 * Turn one data row into *m (strings borrowed from row). 0, or -1 with
 * *cause naming the line and the rule.
 */
static int
parse_row(const struct csv_row *row, struct metric *m, char **cause)
{
	char *const *f = row->fields;
	char *sub = NULL;

	memset(m, 0, sizeof *m);
	if (row->nfields != COL_COUNT) {
		*cause = xasprintf("line %zu: expected %d fields, got %zu", row->line, COL_COUNT,
		    row->nfields);
		return -1;
	}
	if (!code_valid(f[COL_CODE])) {
		*cause = xasprintf("line %zu: code \"%s\" must match ^[a-z][a-z0-9_]{0,63}$",
		    row->line, f[COL_CODE]);
		return -1;
	}
	if (*f[COL_NAME_ZH] == '\0') {
		*cause = xasprintf("line %zu: %s: name_zh is empty", row->line, f[COL_CODE]);
		return -1;
	}
	if (metric_kind_parse(f[COL_KIND], &m->kind) != 0) {
		*cause = xasprintf("line %zu: kind \"%s\": expected rate, count or value",
		    row->line, f[COL_KIND]);
		return -1;
	}
	if (period_kind_parse(f[COL_PERIOD_KIND], &m->period_kind) != 0) {
		*cause = xasprintf("line %zu: period_kind \"%s\": expected day, week, month, "
				   "quarter, term, school_year or year",
		    row->line, f[COL_PERIOD_KIND]);
		return -1;
	}
	if (number_parse(f[COL_MIN], &m->min) != 0) {
		*cause = xasprintf("line %zu: min \"%s\" is not a number", row->line, f[COL_MIN]);
		return -1;
	}
	if (number_parse(f[COL_MAX], &m->max) != 0) {
		*cause = xasprintf("line %zu: max \"%s\" is not a number", row->line, f[COL_MAX]);
		return -1;
	}
	if (m->min > m->max) {
		*cause = xasprintf("line %zu: min %s is above max %s", row->line, f[COL_MIN],
		    f[COL_MAX]);
		return -1;
	}
	if (m->kind == METRIC_RATE && (m->min < 0 || m->max > 1)) {
		*cause = xasprintf("line %zu: %s is a rate: min and max bound numerator / "
				   "denominator and must lie within 0..1, not %s..%s",
		    row->line, f[COL_CODE], f[COL_MIN], f[COL_MAX]);
		return -1;
	}
	if (stages_parse(f[COL_STAGES], '|', &m->stages, &sub) != 0) {
		*cause = xasprintf("line %zu: stages: %s", row->line, sub);
		free(sub);
		return -1;
	}
	if (unit_kinds_parse(f[COL_UNIT_KINDS], '|', &m->unit_kinds, &sub) != 0) {
		*cause = xasprintf("line %zu: unit_kinds: %s", row->line, sub);
		free(sub);
		return -1;
	}
	if (m->unit_kinds == 0) {
		*cause = xasprintf("line %zu: %s: unit_kinds is empty; name the kinds of unit "
				   "that report it",
		    row->line, f[COL_CODE]);
		return -1;
	}
	m->code = f[COL_CODE];
	m->name_zh = f[COL_NAME_ZH];
	m->name_en = f[COL_NAME_EN];
	m->unit = f[COL_UNIT];
	m->description = f[COL_DESCRIPTION];
	return 0;
}

/*
 * Parse the catalog file (see catalog.h). On success returns 0 and *out is
 * a new catalog the caller frees. On failure returns -1, *out is NULL and
 * *cause (caller frees) names the first bad line and the rule it breaks.
 */
int
catalog_parse_csv(const char *buf, size_t len, struct catalog **out, char **cause)
{
	struct csv_doc *doc = NULL;
	struct catalog *cat = NULL;
	size_t *lines = NULL;

	*out = NULL;
	if (csv_parse(buf, len, &doc, cause) != 0)
		return -1;
	if (doc->nrows == 0) {
		*cause = xstrdup("empty catalog: a header row is required");
		goto fail;
	}
	if (check_header(&doc->rows[0], cause) != 0)
		goto fail;
	cat = catalog_new();
	lines = xcalloc(doc->nrows, sizeof *lines);
	for (size_t r = 1; r < doc->nrows; r++) {
		const struct csv_row *row = &doc->rows[r];
		const struct metric *prev;
		struct metric m;

		if (parse_row(row, &m, cause) != 0)
			goto fail;
		if ((prev = catalog_by_code(cat, m.code)) != NULL) {
			size_t first = 0;

			for (size_t i = 0; i < catalog_count(cat); i++)
				if (catalog_get(cat, i) == prev)
					first = lines[i];
			*cause = xasprintf("line %zu: duplicate code \"%s\" (first on line %zu)",
			    row->line, m.code, first);
			goto fail;
		}
		lines[catalog_count(cat)] = row->line;
		catalog_add(cat, &m);
	}
	free(lines);
	csv_doc_free(doc);
	*out = cat;
	return 0;

fail:
	free(lines);
	catalog_free(cat);
	csv_doc_free(doc);
	return -1;
}
