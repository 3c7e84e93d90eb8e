/*
 * rules.c: the rules-file parser, the names of the rule model, and the rule
 * set's version hash; see rules.h for the file format.
 *
 * A file goes through four steps, each refusing with a precise message:
 *   1. comments (// to the end of the line, / * ... * / ) outside strings are
 *      replaced by spaces in a copy of the same length (newlines inside block
 *      comments are kept), so every byte offset and line number reported
 *      later is that of the file as written; a leading UTF-8 BOM is blanked
 *      the same way (Windows editors write one);
 *   2. json_strict_check: exactly one RFC 8259 text, no duplicate keys;
 *      then the two things cJSON reads differently (\u0000 in a string,
 *      numbers over 63 characters) are refused;
 *   3. cJSON, members looked up with cJSON_GetObjectItemCaseSensitive only;
 *   4. every rule is checked field by field against rule_fields[] (which
 *      fields each kind uses and needs), then across fields and against the
 *      metric catalog. All problems of all rules are collected, one line
 *      each: "FILE: rule ID: FIELD: message" (ID is "#N", the rule's 1-based
 *      position in its file, when the rule has no valid id).
 *
 * Meaning of the fields beyond rules.h, as the evaluator reads them:
 *   - scope "school" judges each reporting unit below a district on its own
 *     figure: a school, a childcare centre or a guidance point (the catalog's
 *     unit_kinds say which report a metric); "district" and "city" judge the
 *     aggregate of the units beneath (or the office's own figure for metrics
 *     offices report).
 *   - grace_days sets a period's deadline, its end plus grace_days: a missing
 *     report becomes late then, an incomplete aggregate is judged anyway
 *     then, and a quota's shortfall becomes final then.
 *   - bands are breach conditions, listed from the least to the most severe,
 *     each nested inside the one before ("warning >= 56, critical >= 66").
 *     Only threshold rules have bands; the other kinds have fixed severities
 *     decided by the evaluator (nbands is 0).
 *   - rates are fractions everywhere: bounds, resolve_margin, min_delta.
 *
 * Invariants: after a successful rules_parse or rules_load_dir the set is
 * sorted by id (strcmp order), ids are unique, every rule passed every check
 * and set->version is the hash of the canonical form (see rule_canonical).
 * On failure nothing is added to a set.
 */
#include "rules.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "jsonstrict.h"
#include "jsonutil.h"
#include "registry.h"
#include "token.h"
#include "util.h"

#define RULES_MAX_DEPTH 16
#define RULE_ID_MAX 64
#define RULE_TEXT_MAX 200    /* title, source, label values */
#define RULE_MESSAGE_MAX 1000
#define RULE_LABELS_MAX 32
#define RULE_FOR_MAX 1000
#define RULE_DAYS_MAX 366
#define RULE_FILE_MAX (4u << 20)
/* Longest string quoted back in a message, in bytes (escaped). */
#define SHOW_MAX 80
#define SHOW_SLOTS 4

#define KIND_BIT(k) (1u << (k))
#define ALL_KINDS ((1u << RULE_KIND_COUNT) - 1)
/* Unit kinds that report for themselves below a district (scope "school"). */
#define UNIT_KINDS_BELOW_DISTRICT \
	(UNIT_KIND_BIT(UNIT_SCHOOL) | UNIT_KIND_BIT(UNIT_CHILDCARE) | \
	    UNIT_KIND_BIT(UNIT_GUIDANCE_POINT))

/* The first line of the hashed text: changes when the canonical form does. */
#define CANONICAL_TAG "edumon-rules/1\n"

static const char *const kind_names[RULE_KIND_COUNT] = {
	[RULE_THRESHOLD] = "threshold",
	[RULE_MISSING] = "missing",
	[RULE_TREND] = "trend",
	[RULE_DISPERSION] = "dispersion",
	[RULE_QUOTA] = "quota",
};

static const char *const scope_names[SCOPE_COUNT] = {
	[SCOPE_SCHOOL] = "school",
	[SCOPE_DISTRICT] = "district",
	[SCOPE_CITY] = "city",
};

static const char *const op_names[OP_COUNT] = {
	[OP_LT] = "<",
	[OP_LE] = "<=",
	[OP_GT] = ">",
	[OP_GE] = ">=",
	[OP_EQ] = "==",
	[OP_NE] = "!=",
};

static const char *const severity_names[SEV_COUNT] = {
	[SEV_OK] = "ok",
	[SEV_INFO] = "info",
	[SEV_WARNING] = "warning",
	[SEV_CRITICAL] = "critical",
};

static const char *const severity_names_zh[SEV_COUNT] = {
	[SEV_OK] = "正常",
	[SEV_INFO] = "提示",
	[SEV_WARNING] = "预警",
	[SEV_CRITICAL] = "严重",
};

static const char *const trend_mode_names[] = {
	[TREND_YOY] = "yoy",
	[TREND_BASELINE] = "baseline",
};

static const char *const trend_direction_names[] = {
	[TREND_DECREASE] = "decrease",
	[TREND_INCREASE] = "increase",
};

/* Stage names as registry.h spells them, for lookups and messages. */
static const char *const stage_list[STAGE_COUNT] = {
	"preschool", "primary", "junior", "senior", "special", "vocational",
};

/* The placeholders a message template may use. */
static const char *const placeholder_names[] = {
	"unit", "metric", "value", "bound", "op", "period", "severity",
};

/* Which side of the bound a band's breach lies on, for nesting checks. */
enum band_side { SIDE_BELOW, SIDE_ABOVE, SIDE_POINT };

static const enum band_side op_side[OP_COUNT] = {
	[OP_LT] = SIDE_BELOW,
	[OP_LE] = SIDE_BELOW,
	[OP_GT] = SIDE_ABOVE,
	[OP_GE] = SIDE_ABOVE,
	[OP_EQ] = SIDE_POINT,
	[OP_NE] = SIDE_POINT,
};

/* Parse state of one file; errors accumulate in *errors. */
struct pctx {
	const char *file;
	const struct catalog *cat;
	struct buf *errors;
	size_t nerrors;
	char rule[RULE_ID_MAX + 8];  /* the id, or "#N" */
	const struct metric *metric; /* the rule's metric when known */
	bool kind_known;
	bool scope_known;
	char show[SHOW_SLOTS][SHOW_MAX + 8];
	int nshow;
};

typedef void (*field_parse_fn)(struct pctx *, const cJSON *, struct rule *);

/* One member of a rule object: which kinds use it, which need it. */
struct rule_field {
	const char *name;
	unsigned kinds;    /* KIND_BITs of the kinds that use it */
	unsigned required; /* KIND_BITs of the kinds that need it */
	field_parse_fn parse;
	const char *need;  /* why it is needed, for "missing" messages */
};

static void f_id(struct pctx *, const cJSON *, struct rule *);
static void f_kind(struct pctx *, const cJSON *, struct rule *);
static void f_metric(struct pctx *, const cJSON *, struct rule *);
static void f_scope(struct pctx *, const cJSON *, struct rule *);
static void f_title(struct pctx *, const cJSON *, struct rule *);
static void f_source(struct pctx *, const cJSON *, struct rule *);
static void f_filters(struct pctx *, const cJSON *, struct rule *);
static void f_bands(struct pctx *, const cJSON *, struct rule *);
static void f_for(struct pctx *, const cJSON *, struct rule *);
static void f_resolve_margin(struct pctx *, const cJSON *, struct rule *);
static void f_completeness(struct pctx *, const cJSON *, struct rule *);
static void f_grace_days(struct pctx *, const cJSON *, struct rule *);
static void f_trend(struct pctx *, const cJSON *, struct rule *);
static void f_limit(struct pctx *, const cJSON *, struct rule *);
static void f_quota(struct pctx *, const cJSON *, struct rule *);
static void f_quota_period(struct pctx *, const cJSON *, struct rule *);
static void f_labels(struct pctx *, const cJSON *, struct rule *);
static void f_message(struct pctx *, const cJSON *, struct rule *);

/*
 * The members of a rule, in the order they are parsed: id first (it names
 * the rule in later messages), kind before what depends on it, metric
 * before the bounds that are checked against it.
 */
static const struct rule_field rule_fields[] = {
	{"id", ALL_KINDS, ALL_KINDS, f_id, "every rule needs a unique id"},
	{"kind", ALL_KINDS, ALL_KINDS, f_kind,
	    "one of threshold, missing, trend, dispersion, quota"},
	{"metric", ALL_KINDS, ALL_KINDS, f_metric, "a code of the metric catalog"},
	{"scope", ALL_KINDS, ALL_KINDS, f_scope, "one of school, district, city"},
	{"title", ALL_KINDS, ALL_KINDS, f_title, "the Chinese title staff see in alerts"},
	{"source", ALL_KINDS, ALL_KINDS, f_source, "where the target comes from, e.g. \"001 §三 3\""},
	{"filters", ALL_KINDS, 0, f_filters, NULL},
	{"bands", KIND_BIT(RULE_THRESHOLD), KIND_BIT(RULE_THRESHOLD), f_bands,
	    "threshold rules need at least one band {\"severity\", \"op\", \"value\"}"},
	{"for", KIND_BIT(RULE_THRESHOLD) | KIND_BIT(RULE_TREND) | KIND_BIT(RULE_DISPERSION), 0,
	    f_for, NULL},
	{"resolve_margin", KIND_BIT(RULE_THRESHOLD) | KIND_BIT(RULE_DISPERSION), 0,
	    f_resolve_margin, NULL},
	{"completeness", ALL_KINDS & ~KIND_BIT(RULE_MISSING), 0, f_completeness, NULL},
	{"grace_days", ALL_KINDS, KIND_BIT(RULE_MISSING), f_grace_days,
	    "missing rules need the days after the period end before a report is late"},
	{"trend", KIND_BIT(RULE_TREND), KIND_BIT(RULE_TREND), f_trend,
	    "trend rules need {\"mode\": \"yoy\" or \"baseline\", ...}"},
	{"limit", KIND_BIT(RULE_DISPERSION), KIND_BIT(RULE_DISPERSION), f_limit,
	    "dispersion rules need the coefficient-of-variation limit"},
	{"quota", KIND_BIT(RULE_QUOTA), KIND_BIT(RULE_QUOTA), f_quota,
	    "quota rules need the count required per quota_period"},
	{"quota_period", KIND_BIT(RULE_QUOTA), 0, f_quota_period, NULL},
	{"labels", ALL_KINDS, 0, f_labels, NULL},
	{"message", ALL_KINDS, 0, f_message, NULL},
};

/* ---- names ---- */

/* Index of s in names[0..n), or -1. */
static int
name_index(const char *const *names, size_t n, const char *s)
{
	return names_index(names, n, s, strlen(s));
}

/* names[from..n) joined by ", "; the caller frees it. */
static char *
names_list(const char *const *names, size_t from, size_t n)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = from; i < n; i++) {
		if (b.len > 0)
			buf_puts(&b, ", ");
		buf_puts(&b, names[i]);
	}
	return buf_steal(&b);
}

/* Name of kind k, or "unknown" for a value outside the enum. */
const char *
rule_kind_name(enum rule_kind k)
{
	return (unsigned)k < RULE_KIND_COUNT ? kind_names[k] : "unknown";
}

/* Name of scope s, or "unknown". */
const char *
rule_scope_name(enum rule_scope s)
{
	return (unsigned)s < SCOPE_COUNT ? scope_names[s] : "unknown";
}

/* Operator as written in rule files, or "?". */
const char *
cmp_op_name(enum cmp_op op)
{
	return (unsigned)op < OP_COUNT ? op_names[op] : "?";
}

/* Severity name, or "unknown". */
const char *
severity_name(enum severity s)
{
	return (unsigned)s < SEV_COUNT ? severity_names[s] : "unknown";
}

/* Chinese severity name for alert texts, or "未知". */
const char *
severity_name_zh(enum severity s)
{
	return (unsigned)s < SEV_COUNT ? severity_names_zh[s] : "未知";
}

/*
 * "value OP bound", exactly as IEEE doubles compare: a rate computed as one
 * division of counts equals the literal bound when the fraction is the same
 * (49.0 / 50 == 0.98). NaN never compares, not even with !=, so a value that
 * could not be computed never breaches. An unknown op is false.
 */
bool
cmp_apply(enum cmp_op op, double value, double bound)
{
	if (isnan(value) || isnan(bound))
		return false;
	switch (op) {
	case OP_LT:
		return value < bound;
	case OP_LE:
		return value <= bound;
	case OP_GT:
		return value > bound;
	case OP_GE:
		return value >= bound;
	case OP_EQ:
		return value == bound;
	case OP_NE:
		return value != bound;
	default:
		return false;
	}
}

/* ---- messages ---- */

/*
 * s quoted and escaped as a JSON string, cut at SHOW_MAX bytes on a
 * character boundary, in one of pc's rotating slots (valid until SHOW_SLOTS
 * later calls).
 */
static const char *
show(struct pctx *pc, const char *s)
{
	char *out = pc->show[pc->nshow++ % SHOW_SLOTS];
	struct buf b;
	size_t n;

	buf_init(&b);
	buf_json_string(&b, s);
	n = b.len;
	if (n > SHOW_MAX) {
		n = SHOW_MAX - 4;
		while (n > 1 && ((unsigned char)b.data[n] & 0xc0) == 0x80)
			n--;
		memcpy(out, b.data, n);
		memcpy(out + n, "...\"", 5);
	} else
		memcpy(out, b.data, n + 1);
	buf_free(&b);
	return out;
}

/* Append "FILE: rule ID: FIELD: message\n" (FIELD omitted when NULL). */
static void PRINTFLIKE(3, 4)
rule_error(struct pctx *pc, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	buf_printf(pc->errors, "%s: rule %s: %s%s%s\n", pc->file, pc->rule,
	    field != NULL ? field : "", field != NULL ? ": " : "", msg);
	free(msg);
	pc->nerrors++;
}

/* Append "FILE: message\n", for problems outside any rule. */
static void PRINTFLIKE(2, 3)
file_error(struct pctx *pc, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	buf_printf(pc->errors, "%s: %s\n", pc->file, msg);
	free(msg);
	pc->nerrors++;
}

/*
 * Optimal string alignment distance between a and b (edits, adjacent
 * transpositions counting one), for "did you mean" hints. Strings longer
 * than 64 bytes are never close.
 */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d[66][66]; /* distances are at most 64 */

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1u < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1u < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1u < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = (unsigned char)v;
		}
	}
	return d[la][lb];
}

/* The candidate closest to s within a small distance, or NULL. */
static const char *
closest(const char *s, const char *const *cands, size_t n)
{
	size_t best = SIZE_MAX, limit = strlen(s) < 6 ? 1 : 2;
	const char *pick = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t d = cands[i] != NULL ? edit_distance(s, cands[i]) : SIZE_MAX;

		if (d <= limit && d < best) {
			best = d;
			pick = cands[i];
		}
	}
	return pick;
}

/*
 * Refuse the members of obj not named in names[0..n): "PREFIXNAME: unknown
 * field", with a hint when a known name is close (typos must not pass
 * silently). prefix is "" for the rule itself or e.g. "bands[1].".
 */
static void
unknown_members(struct pctx *pc, const cJSON *obj, const char *prefix,
    const char *const *names, size_t n)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, obj) {
		const char *hint;
		char *field;

		if (name_index(names, n, m->string) >= 0)
			continue;
		hint = closest(m->string, names, n);
		field = xasprintf("%s%s", prefix, show(pc, m->string));
		if (hint != NULL)
			rule_error(pc, field, "unknown field (did you mean \"%s\"?)", hint);
		else {
			char *all = names_list(names, 0, n);

			rule_error(pc, field, "unknown field (known: %s)", all);
			free(all);
		}
		free(field);
	}
}

/* ---- typed member access ---- */

/* True if s has a byte below 0x20 or DEL. */
static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/*
 * A non-empty single-line string of at most max bytes into *out (borrowed
 * from the cJSON tree); false after reporting the problem.
 */
static bool
get_string(struct pctx *pc, const char *field, const cJSON *v, size_t max, const char **out)
{
	size_t len;

	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		rule_error(pc, field, "expected a string, got %s", json_type_name(v));
		return false;
	}
	len = strlen(v->valuestring);
	if (len == 0) {
		rule_error(pc, field, "empty string");
		return false;
	}
	if (len > max) {
		rule_error(pc, field, "%zu bytes, at most %zu", len, max);
		return false;
	}
	if (has_control(v->valuestring)) {
		rule_error(pc, field, "%s: contains a control character (line break, tab ...)",
		    show(pc, v->valuestring));
		return false;
	}
	*out = v->valuestring;
	return true;
}

/* A finite number into *out; false after reporting the problem. */
static bool
get_number(struct pctx *pc, const char *field, const cJSON *v, double *out)
{
	if (!cJSON_IsNumber(v)) {
		rule_error(pc, field, "expected a number, got %s", json_type_name(v));
		return false;
	}
	if (!isfinite(v->valuedouble)) {
		rule_error(pc, field, "not a finite number");
		return false;
	}
	*out = v->valuedouble;
	return true;
}

/* An integer in [min, max] into *out; false after reporting the problem. */
static bool
get_int(struct pctx *pc, const char *field, const cJSON *v, int min, int max, int *out)
{
	double d;

	if (!get_number(pc, field, v, &d))
		return false;
	if (d != floor(d) || d < min || d > max) {
		rule_error(pc, field, "%g: expected an integer from %d to %d", d, min, max);
		return false;
	}
	*out = (int)d;
	return true;
}

/* A name of names[0..n) into *out; false after reporting the problem. */
static bool
get_name(struct pctx *pc, const char *field, const cJSON *v, const char *const *names,
    size_t n, int *out)
{
	const char *s;
	char *all;
	int i;

	if (!get_string(pc, field, v, RULE_TEXT_MAX, &s))
		return false;
	i = name_index(names, n, s);
	if (i >= 0) {
		*out = i;
		return true;
	}
	all = names_list(names, 0, n);
	rule_error(pc, field, "%s: expected one of %s", show(pc, s), all);
	free(all);
	return false;
}

/* True if the rule's metric is a rate (bounds are fractions then). */
static bool
metric_is_rate(const struct pctx *pc)
{
	return pc->metric != NULL && pc->metric->kind == METRIC_RATE;
}

/*
 * Check a bound, margin or delta d of field against a rate metric: rates
 * are fractions in [0, 1]. "98" is caught with the fraction it meant.
 */
static bool
check_fraction(struct pctx *pc, const char *field, double d)
{
	if (!metric_is_rate(pc) || (d >= 0 && d <= 1))
		return true;
	if (d > 1 && d <= 100)
		rule_error(pc, field, "%g: %g expected; rates are fractions (metric %s)", d, d / 100,
		    pc->metric->code);
	else
		rule_error(pc, field, "%g: rates are fractions in [0, 1] (metric %s)", d,
		    pc->metric->code);
	return false;
}

/* ---- the fields ---- */

/* id: [a-z0-9_.-]{1,64}; names the rule in later messages. */
static void
f_id(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const char *s;

	if (!get_string(pc, "id", v, SIZE_MAX, &s))
		return;
	if (strlen(s) > RULE_ID_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") !=
	    strlen(s)) {
		rule_error(pc, "id", "%s: expected 1 to %d of a-z 0-9 _ . -", show(pc, s),
		    RULE_ID_MAX);
		return;
	}
	r->id = xstrdup(s);
	snprintf(pc->rule, sizeof pc->rule, "%s", s);
}

/* kind: the rule kind; later fields depend on it. */
static void
f_kind(struct pctx *pc, const cJSON *v, struct rule *r)
{
	int i;

	if (get_name(pc, "kind", v, kind_names, RULE_KIND_COUNT, &i)) {
		r->kind = (enum rule_kind)i;
		pc->kind_known = true;
	}
}

/* metric: a catalog code (checked when there is a catalog). */
static void
f_metric(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const char *s;
	const struct metric *m;

	if (!get_string(pc, "metric", v, RULE_ID_MAX, &s))
		return;
	r->metric = xstrdup(s);
	if (pc->cat == NULL)
		return;
	m = catalog_by_code(pc->cat, s);
	if (m != NULL) {
		pc->metric = m;
		return;
	}
	{
		size_t n = catalog_count(pc->cat);
		const char **codes = xcalloc(n + 1, sizeof *codes);
		const char *hint;

		for (size_t i = 0; i < n; i++)
			codes[i] = catalog_get(pc->cat, i)->code;
		hint = closest(s, codes, n);
		for (size_t i = 0; i < n && hint == NULL; i++) {
			if (strncmp(codes[i], s, strlen(s)) == 0)
				hint = codes[i]; /* "class_size" for class_size_max */
		}
		if (hint != NULL)
			rule_error(pc, "metric", "%s: not in the metric catalog (did you mean %s?)",
			    show(pc, s), hint);
		else
			rule_error(pc, "metric", "%s: not in the metric catalog", show(pc, s));
		free(codes);
	}
}

/* scope: school, district or city. */
static void
f_scope(struct pctx *pc, const cJSON *v, struct rule *r)
{
	int i;

	if (get_name(pc, "scope", v, scope_names, SCOPE_COUNT, &i)) {
		r->scope = (enum rule_scope)i;
		pc->scope_known = true;
	}
}

/*
 * True if s holds a CJK ideograph (U+3400..U+9FFF, three-byte UTF-8 with a
 * lead byte E3 (from U+3400) to E9): a Chinese title.
 */
static bool
has_cjk(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (p[0] >= 0xe3 && p[0] <= 0xe9 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
		    (p[0] > 0xe3 || p[1] >= 0x90))
			return true;
	}
	return false;
}

/* title: the Chinese title district staff recognise. */
static void
f_title(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const char *s;

	if (!get_string(pc, "title", v, RULE_TEXT_MAX, &s))
		return;
	if (!has_cjk(s)) {
		rule_error(pc, "title", "%s: expected a Chinese title district staff recognise",
		    show(pc, s));
		return;
	}
	r->title = xstrdup(s);
}

/* source: reference to the plan the target comes from. */
static void
f_source(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const char *s;

	if (get_string(pc, "source", v, RULE_TEXT_MAX, &s))
		r->source = xstrdup(s);
}

/* filters.stages: a non-empty list of distinct stage names. */
static void
filter_stages(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const cJSON *e;
	unsigned mask = 0;
	size_t i = 0;
	bool ok = true;

	if (!cJSON_IsArray(v)) {
		rule_error(pc, "filters.stages", "expected an array of stage names, got %s",
		    json_type_name(v));
		return;
	}
	if (v->child == NULL) {
		rule_error(pc, "filters.stages", "empty: leave \"stages\" out to mean any stage");
		return;
	}
	cJSON_ArrayForEach(e, v) {
		char field[40];
		int st;

		snprintf(field, sizeof field, "filters.stages[%zu]", i++);
		if (!get_name(pc, field, e, stage_list, STAGE_COUNT, &st)) {
			ok = false;
			continue;
		}
		if (mask & STAGE_BIT(st)) {
			rule_error(pc, field, "\"%s\" listed twice", stage_list[st]);
			ok = false;
		}
		mask |= STAGE_BIT(st);
	}
	if (ok)
		r->stages = mask;
}

/* filters.urban / filters.public: true or false into -1/0/1 *out. */
static void
filter_bool(struct pctx *pc, const char *field, const cJSON *v, int *out)
{
	if (!cJSON_IsBool(v)) {
		rule_error(pc, field, "expected true or false, got %s", json_type_name(v));
		return;
	}
	*out = cJSON_IsTrue(v) ? 1 : 0;
}

/* filters: {"stages": [...], "urban": bool, "public": bool}, all optional. */
static void
f_filters(struct pctx *pc, const cJSON *v, struct rule *r)
{
	static const char *const names[] = {"stages", "urban", "public"};
	const cJSON *m;

	if (!cJSON_IsObject(v)) {
		rule_error(pc, "filters", "expected an object, got %s", json_type_name(v));
		return;
	}
	unknown_members(pc, v, "filters.", names, ARRAY_LEN(names));
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "stages")) != NULL)
		filter_stages(pc, m, r);
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "urban")) != NULL)
		filter_bool(pc, "filters.urban", m, &r->urban);
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "public")) != NULL)
		filter_bool(pc, "filters.public", m, &r->is_public);
}

/*
 * One band {"severity", "op", "value"}; true if all three are valid. The
 * bound of a rate metric must be a fraction; that of a count or value
 * metric within the catalog's range (a bound no report can cross is a typo).
 */
static bool
parse_band(struct pctx *pc, size_t i, const cJSON *v, struct band *b)
{
	static const char *const names[] = {"severity", "op", "value"};
	char prefix[32], field[48];
	const cJSON *m;
	bool ok = true;
	int k;

	snprintf(prefix, sizeof prefix, "bands[%zu]", i);
	if (!cJSON_IsObject(v)) {
		rule_error(pc, prefix, "expected an object {\"severity\", \"op\", \"value\"}, got %s",
		    json_type_name(v));
		return false;
	}
	snprintf(field, sizeof field, "%s.", prefix);
	unknown_members(pc, v, field, names, ARRAY_LEN(names));

	snprintf(field, sizeof field, "%s.severity", prefix);
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "severity")) == NULL) {
		rule_error(pc, field, "missing");
		ok = false;
	} else if (cJSON_IsString(m) && m->valuestring != NULL &&
	    strcmp(m->valuestring, severity_names[SEV_OK]) == 0) {
		rule_error(pc, field, "\"ok\" is not a breach: expected one of info, warning, critical");
		ok = false;
	} else if (get_name(pc, field, m, severity_names + SEV_INFO, SEV_COUNT - SEV_INFO, &k))
		b->severity = (enum severity)(k + SEV_INFO); /* the breach severities only */
	else
		ok = false;

	snprintf(field, sizeof field, "%s.op", prefix);
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "op")) == NULL) {
		rule_error(pc, field, "missing");
		ok = false;
	} else if (get_name(pc, field, m, op_names, OP_COUNT, &k))
		b->op = (enum cmp_op)k;
	else
		ok = false;

	snprintf(field, sizeof field, "%s.value", prefix);
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "value")) == NULL) {
		rule_error(pc, field, "missing");
		ok = false;
	} else if (!get_number(pc, field, m, &b->bound))
		ok = false;
	else if (!check_fraction(pc, field, b->bound))
		ok = false;
	else if (pc->metric != NULL && pc->metric->kind != METRIC_RATE &&
	    (b->bound < pc->metric->min || b->bound > pc->metric->max)) {
		rule_error(pc, field, "%g: outside the range [%g, %g] of metric %s", b->bound,
		    pc->metric->min, pc->metric->max, pc->metric->code);
		ok = false;
	}
	return ok;
}

/*
 * True if band b (more severe) lies inside band a: wherever b holds, a
 * holds too, and the two differ. Both on the same side of their bounds.
 */
static bool
band_inside(const struct band *a, const struct band *b)
{
	if (op_side[b->op] == SIDE_BELOW)
		return b->bound < a->bound || (b->bound == a->bound && b->op == OP_LT && a->op == OP_LE);
	return b->bound > a->bound || (b->bound == a->bound && b->op == OP_GT && a->op == OP_GE);
}

/*
 * bands: 1..RULE_MAX_BANDS bands, from the least to the most severe, with
 * distinct severities, each nested inside the one before; several bands
 * use < / <= or > / >= throughout (== and != only in a rule of one band).
 */
static void
f_bands(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const cJSON *e;
	bool ok = true;
	size_t n, i = 0;

	if (!cJSON_IsArray(v)) {
		rule_error(pc, "bands", "expected an array of bands, got %s", json_type_name(v));
		return;
	}
	n = (size_t)cJSON_GetArraySize(v);
	if (n == 0 || n > RULE_MAX_BANDS) {
		rule_error(pc, "bands", "%zu bands: expected 1 to %d", n, RULE_MAX_BANDS);
		return;
	}
	cJSON_ArrayForEach(e, v) {
		if (!parse_band(pc, i, e, &r->bands[i]))
			ok = false;
		i++;
	}
	if (!ok)
		return;
	for (i = 1; i < n; i++) {
		const struct band *a = &r->bands[i - 1], *b = &r->bands[i];
		char field[40];

		snprintf(field, sizeof field, "bands[%zu].severity", i);
		if (b->severity == a->severity) {
			rule_error(pc, field, "a second band of severity %s", severity_names[b->severity]);
			return;
		}
		if (b->severity < a->severity) {
			rule_error(pc, field, "%s after %s: list bands from the least to the most severe",
			    severity_names[b->severity], severity_names[a->severity]);
			return;
		}
		snprintf(field, sizeof field, "bands[%zu].op", i);
		if (op_side[a->op] == SIDE_POINT || op_side[b->op] == SIDE_POINT ||
		    op_side[a->op] != op_side[b->op]) {
			rule_error(pc, field, "%s after %s: bands of one rule use < and <= or > and >= "
			    "throughout (== and != only alone)", op_names[b->op], op_names[a->op]);
			return;
		}
		snprintf(field, sizeof field, "bands[%zu].value", i);
		if (!band_inside(a, b)) {
			rule_error(pc, field, "%s %g is not inside bands[%zu] (%s %g): a more severe "
			    "band must hold only where the one before holds", op_names[b->op], b->bound,
			    i - 1, op_names[a->op], a->bound);
			return;
		}
	}
	r->nbands = n;
}

/* for: consecutive periods in breach before firing. */
static void
f_for(struct pctx *pc, const cJSON *v, struct rule *r)
{
	get_int(pc, "for", v, 1, RULE_FOR_MAX, &r->for_periods);
}

/* resolve_margin: >= 0, a fraction for rates. */
static void
f_resolve_margin(struct pctx *pc, const cJSON *v, struct rule *r)
{
	double d;

	if (!get_number(pc, "resolve_margin", v, &d))
		return;
	if (d < 0) {
		rule_error(pc, "resolve_margin", "%g: must be >= 0", d);
		return;
	}
	if (check_fraction(pc, "resolve_margin", d))
		r->resolve_margin = d;
}

/* completeness: in (0, 1]; only aggregates have it (checked across fields). */
static void
f_completeness(struct pctx *pc, const cJSON *v, struct rule *r)
{
	double d;

	if (!get_number(pc, "completeness", v, &d))
		return;
	if (!(d > 0 && d <= 1)) {
		rule_error(pc, "completeness", "%g: expected a share in (0, 1], e.g. 0.9", d);
		return;
	}
	r->completeness = d;
}

/* grace_days: days after the period end; 0 means the end itself. */
static void
f_grace_days(struct pctx *pc, const cJSON *v, struct rule *r)
{
	get_int(pc, "grace_days", v, 0, RULE_DAYS_MAX, &r->grace_days);
}

/*
 * trend: {"mode": "yoy", "direction": "decrease" | "increase"} or
 * {"mode": "baseline", "days": N, "factor": F >= 1, "min_delta": D >= 0}.
 */
static void
f_trend(struct pctx *pc, const cJSON *v, struct rule *r)
{
	static const char *const names[] = {"mode", "direction", "days", "factor", "min_delta"};
	/* Which members each mode uses (bits over names[]) and needs. */
	static const struct {
		unsigned uses, needs;
	} modes[] = {
		[TREND_YOY] = {0x01 | 0x02, 0x01 | 0x02},
		[TREND_BASELINE] = {0x01 | 0x04 | 0x08 | 0x10, 0x01 | 0x04 | 0x08},
	};
	const cJSON *m;
	int mode, i;
	double d;

	if (!cJSON_IsObject(v)) {
		rule_error(pc, "trend", "expected an object, got %s", json_type_name(v));
		return;
	}
	unknown_members(pc, v, "trend.", names, ARRAY_LEN(names));
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "mode")) == NULL) {
		rule_error(pc, "trend.mode", "missing: \"yoy\" (same period a year before) or "
		    "\"baseline\" (the unit's own recent days)");
		return;
	}
	if (!get_name(pc, "trend.mode", m, trend_mode_names, ARRAY_LEN(trend_mode_names), &mode))
		return;
	r->trend_mode = (enum trend_mode)mode;
	for (size_t k = 1; k < ARRAY_LEN(names); k++) {
		char field[32];
		bool has = cJSON_GetObjectItemCaseSensitive(v, names[k]) != NULL;

		snprintf(field, sizeof field, "trend.%s", names[k]);
		if (has && !(modes[mode].uses & (1u << k)))
			rule_error(pc, field, "not used in %s mode", trend_mode_names[mode]);
		else if (!has && (modes[mode].needs & (1u << k)))
			rule_error(pc, field, "missing (%s mode needs it)", trend_mode_names[mode]);
	}
	if (mode == TREND_YOY) {
		m = cJSON_GetObjectItemCaseSensitive(v, "direction");
		if (m != NULL && get_name(pc, "trend.direction", m, trend_direction_names,
		    ARRAY_LEN(trend_direction_names), &i))
			r->trend_direction = (enum trend_direction)i;
		return;
	}
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "days")) != NULL)
		get_int(pc, "trend.days", m, 1, RULE_DAYS_MAX, &r->baseline_days);
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "factor")) != NULL &&
	    get_number(pc, "trend.factor", m, &d)) {
		if (d < 1)
			rule_error(pc, "trend.factor", "%g: a spike is a rise: expected >= 1", d);
		else
			r->spike_factor = d;
	}
	if ((m = cJSON_GetObjectItemCaseSensitive(v, "min_delta")) != NULL &&
	    get_number(pc, "trend.min_delta", m, &d)) {
		if (d < 0)
			rule_error(pc, "trend.min_delta", "%g: must be >= 0", d);
		else if (check_fraction(pc, "trend.min_delta", d))
			r->min_delta = d;
	}
}

/* limit: the coefficient-of-variation limit, > 0. */
static void
f_limit(struct pctx *pc, const cJSON *v, struct rule *r)
{
	double d;

	if (!get_number(pc, "limit", v, &d))
		return;
	if (d <= 0)
		rule_error(pc, "limit", "%g: expected a coefficient of variation > 0, e.g. 0.50", d);
	else
		r->limit = d;
}

/* quota: the count required per quota_period, > 0. */
static void
f_quota(struct pctx *pc, const cJSON *v, struct rule *r)
{
	double d;

	if (!get_number(pc, "quota", v, &d))
		return;
	if (d <= 0)
		rule_error(pc, "quota", "%g: expected a count > 0", d);
	else
		r->quota = d;
}

/* quota_period: a period kind name (default year). */
static void
f_quota_period(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const char *s;
	enum period_kind k;

	if (!get_string(pc, "quota_period", v, RULE_TEXT_MAX, &s))
		return;
	if (period_kind_parse(s, &k) != 0) {
		const char *names[PERIOD_KIND_COUNT];
		char *all;

		for (int i = 0; i < PERIOD_KIND_COUNT; i++)
			names[i] = period_kind_name((enum period_kind)i);
		all = names_list(names, 0, PERIOD_KIND_COUNT);
		rule_error(pc, "quota_period", "%s: expected one of %s", show(pc, s), all);
		free(all);
		return;
	}
	r->quota_period = k;
}

/* labels: {"key": "value", ...}; keys [a-z0-9_]{1,64}. */
static void
f_labels(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const cJSON *m;
	size_t n = 0;

	if (!cJSON_IsObject(v)) {
		rule_error(pc, "labels", "expected an object of strings, got %s", json_type_name(v));
		return;
	}
	if ((size_t)cJSON_GetArraySize(v) > RULE_LABELS_MAX) {
		rule_error(pc, "labels", "more than %d labels", RULE_LABELS_MAX);
		return;
	}
	r->labels = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *r->labels);
	cJSON_ArrayForEach(m, v) {
		char *field = xasprintf("labels.%s", show(pc, m->string));
		const char *s;

		if (m->string[0] == '\0' || strlen(m->string) > RULE_ID_MAX ||
		    strspn(m->string, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(m->string))
			rule_error(pc, field, "label names are 1 to %d of a-z 0-9 _", RULE_ID_MAX);
		else if (get_string(pc, field, m, RULE_TEXT_MAX, &s)) {
			r->labels[n].key = xstrdup(m->string);
			r->labels[n].value = xstrdup(s);
			n++;
		}
		free(field);
	}
	r->nlabels = n;
}

/*
 * message: a template whose only placeholders are placeholder_names in
 * braces; any other "{" is an error (a misspelt placeholder would be sent
 * to staff as is).
 */
static void
f_message(struct pctx *pc, const cJSON *v, struct rule *r)
{
	const char *s, *p;
	bool ok = true;

	if (!get_string(pc, "message", v, RULE_MESSAGE_MAX, &s))
		return;
	for (p = strchr(s, '{'); p != NULL; p = strchr(p + 1, '{')) {
		const char *end = strchr(p + 1, '}');
		char name[RULE_ID_MAX + 1];
		size_t len;

		if (end == NULL) {
			rule_error(pc, "message", "\"{\" at byte %zu is not closed by \"}\"",
			    (size_t)(p - s));
			ok = false;
			break;
		}
		len = (size_t)(end - p - 1);
		snprintf(name, sizeof name, "%.*s", (int)(len < RULE_ID_MAX ? len : RULE_ID_MAX),
		    p + 1);
		if (len > RULE_ID_MAX || name_index(placeholder_names,
		    ARRAY_LEN(placeholder_names), name) < 0) {
			char *all = names_list(placeholder_names, 0, ARRAY_LEN(placeholder_names));

			rule_error(pc, "message", "unknown placeholder {%s} (known: %s)", name, all);
			free(all);
			ok = false;
		}
	}
	if (ok)
		r->message = xstrdup(s);
}

/* ---- whole rules ---- */

/* Free what r owns (not r itself). */
static void
rule_clear(struct rule *r)
{
	free(r->id);
	free(r->title);
	free(r->source);
	free(r->file);
	free(r->metric);
	for (size_t i = 0; i < r->nlabels; i++) {
		free(r->labels[i].key);
		free(r->labels[i].value);
	}
	free(r->labels);
	free(r->message);
}

/* Defaults of the optional fields. */
static void
rule_init(struct rule *r, const char *file)
{
	memset(r, 0, sizeof *r);
	r->file = xstrdup(file);
	r->urban = -1;
	r->is_public = -1;
	r->for_periods = 1;
	r->completeness = 1;
	r->trend_mode = TREND_YOY;
	r->trend_direction = TREND_DECREASE;
	r->quota_period = PERIOD_YEAR;
}

/* A new rule at the end of set (capacity grows at powers of two, min 8). */
static struct rule *
rule_append(struct ruleset *set)
{
	size_t n = set->nrules;

	if (n < 8 ? n == 0 : (n & (n - 1)) == 0)
		set->rules = xreallocarray(set->rules, n < 8 ? 8 : 2 * n, sizeof *set->rules);
	set->nrules++;
	return &set->rules[n];
}

/*
 * True if every period of kind inner lies within one period of kind outer
 * (a quota of outer can be summed from reports of inner).
 */
static bool
period_fits(enum period_kind inner, enum period_kind outer)
{
	static const unsigned within[PERIOD_KIND_COUNT] = {
#define PB(k) (1u << (k))
		[PERIOD_DAY] = PB(PERIOD_DAY) | PB(PERIOD_WEEK) | PB(PERIOD_MONTH) |
		    PB(PERIOD_QUARTER) | PB(PERIOD_TERM) | PB(PERIOD_SCHOOL_YEAR) | PB(PERIOD_YEAR),
		[PERIOD_WEEK] = PB(PERIOD_WEEK),
		[PERIOD_MONTH] = PB(PERIOD_MONTH) | PB(PERIOD_QUARTER) | PB(PERIOD_TERM) |
		    PB(PERIOD_SCHOOL_YEAR) | PB(PERIOD_YEAR),
		[PERIOD_QUARTER] = PB(PERIOD_QUARTER) | PB(PERIOD_YEAR),
		[PERIOD_TERM] = PB(PERIOD_TERM) | PB(PERIOD_SCHOOL_YEAR),
		[PERIOD_SCHOOL_YEAR] = PB(PERIOD_SCHOOL_YEAR),
		[PERIOD_YEAR] = PB(PERIOD_YEAR),
#undef PB
	};

	return (unsigned)inner < PERIOD_KIND_COUNT && (within[inner] & (1u << outer)) != 0;
}

/*
 * Checks across fields, once each field is valid on its own: the scope each
 * kind allows, completeness only for aggregates, and what the catalog says
 * about the metric (who reports it, at which stages, its kind and period).
 */
static void
rule_cross_checks(struct pctx *pc, const cJSON *obj, struct rule *r)
{
	const struct metric *m = pc->metric;
	bool has_scope = pc->scope_known;

	if (!pc->kind_known)
		return;
	if (has_scope && r->kind == RULE_MISSING && r->scope != SCOPE_SCHOOL)
		rule_error(pc, "scope", "%s: missing rules fire per reporting unit: expected school",
		    scope_names[r->scope]);
	if (has_scope && r->kind == RULE_DISPERSION && r->scope == SCOPE_SCHOOL)
		rule_error(pc, "scope", "school: dispersion is across a district's or city's schools: "
		    "expected district or city");
	if (cJSON_GetObjectItemCaseSensitive(obj, "completeness") != NULL &&
	    r->scope == SCOPE_SCHOOL && has_scope)
		rule_error(pc, "completeness", "only for district or city scope (the share of the "
		    "scope's units that must have reported before the aggregate is judged)");
	if (m == NULL)
		return;

	if (has_scope && r->scope == SCOPE_SCHOOL && !(m->unit_kinds & UNIT_KINDS_BELOW_DISTRICT))
		rule_error(pc, "scope", "school: metric %s is reported by offices only, not by "
		    "schools; use district or city", m->code);
	if (r->kind == RULE_DISPERSION && !(m->unit_kinds & UNIT_KINDS_BELOW_DISTRICT))
		rule_error(pc, "metric", "%s: dispersion needs a figure per school, and schools do "
		    "not report this metric", m->code);
	if (r->kind == RULE_DISPERSION && m->kind == METRIC_RATE)
		rule_error(pc, "metric", "%s is a rate: dispersion is over per-pupil values or "
		    "counts", m->code);
	if (r->kind == RULE_QUOTA && m->kind != METRIC_COUNT)
		rule_error(pc, "metric", "%s is a %s: quota rules add up a count", m->code,
		    metric_kind_name(m->kind));
	if (r->kind == RULE_QUOTA && !period_fits(m->period_kind, r->quota_period))
		rule_error(pc, "quota_period", "%s: metric %s is reported per %s, which does not fit "
		    "in a %s", period_kind_name(r->quota_period), m->code,
		    period_kind_name(m->period_kind), period_kind_name(r->quota_period));
	if (r->kind == RULE_TREND && r->trend_mode == TREND_BASELINE &&
	    cJSON_GetObjectItemCaseSensitive(obj, "trend") != NULL && m->period_kind != PERIOD_DAY)
		rule_error(pc, "trend.mode", "baseline compares a unit's recent days, but metric %s "
		    "is reported per %s (use yoy)", m->code, period_kind_name(m->period_kind));
	if (r->stages != 0 && m->stages != 0 && (r->stages & ~m->stages) != 0) {
		char want[96], have[96];

		stages_format(r->stages & ~m->stages, '|', want, sizeof want);
		stages_format(m->stages, '|', have, sizeof have);
		rule_error(pc, "filters.stages", "%s: metric %s is reported by %s only", want,
		    m->code, have);
	}
}

/*
 * Parse rule object v (the pos-th of the file, 1-based) into r, reporting
 * every problem. r is left freeable whatever happens.
 */
static void
rule_from_json(struct pctx *pc, const cJSON *v, size_t pos, struct rule *r)
{
	const char *names[ARRAY_LEN(rule_fields)];

	snprintf(pc->rule, sizeof pc->rule, "#%zu", pos);
	pc->metric = NULL;
	pc->kind_known = false;
	pc->scope_known = false;
	if (!cJSON_IsObject(v)) {
		rule_error(pc, NULL, "expected an object, got %s", json_type_name(v));
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(rule_fields); i++)
		names[i] = rule_fields[i].name;

	for (size_t i = 0; i < ARRAY_LEN(rule_fields); i++) {
		const struct rule_field *f = &rule_fields[i];
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, f->name);
		unsigned kb = KIND_BIT(r->kind);

		if (i == 1) /* after the id: it names the rule in what follows */
			unknown_members(pc, v, "", names, ARRAY_LEN(names));
		if (m == NULL) {
			if (f->required == ALL_KINDS || (pc->kind_known && (f->required & kb)))
				rule_error(pc, f->name, "missing: %s", f->need);
			continue;
		}
		if (pc->kind_known && !(f->kinds & kb)) {
			rule_error(pc, f->name, "not used by %s rules", kind_names[r->kind]);
			continue;
		}
		f->parse(pc, m, r);
	}
	rule_cross_checks(pc, v, r);
}

/* ---- text ---- */

/*
 * Blank comments in a same-length copy of text (see the top of the file).
 * Returns the copy, NUL-terminated (caller frees), or NULL with *offset at
 * an unterminated block comment.
 */
static char *
strip_comments(const char *text, size_t len, size_t *offset)
{
	char *out = xmalloc(len + 1);
	size_t i = 0;
	bool in_string = false;

	memcpy(out, text, len);
	out[len] = '\0';
	if (len >= 3 && memcmp(out, "\xef\xbb\xbf", 3) == 0) {
		memset(out, ' ', 3);
		i = 3;
	}
	for (; i < len; i++) {
		char c = out[i];

		if (in_string) {
			if (c == '\\' && i + 1 < len)
				i++; /* so that \" does not end the string */
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '/' && i + 1 < len && out[i + 1] == '/') {
			for (; i < len && out[i] != '\n'; i++)
				out[i] = ' ';
		} else if (c == '/' && i + 1 < len && out[i + 1] == '*') {
			size_t start = i;

			out[i++] = ' ';
			out[i++] = ' ';
			for (;; i++) {
				if (i + 1 >= len) {
					*offset = start;
					free(out);
					return NULL;
				}
				if (out[i] == '*' && out[i + 1] == '/')
					break;
				if (out[i] != '\n')
					out[i] = ' ';
			}
			out[i++] = ' ';
			out[i] = ' ';
		}
	}
	return out;
}

/* Report a syntax problem at byte offset of text as line and column. */
static void
syntax_error(struct pctx *pc, const char *text, size_t len, size_t offset, const char *why)
{
	size_t line = 1, col = 1;

	for (size_t i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80)
			col++; /* columns count characters, not bytes */
	}
	file_error(pc, "line %zu, column %zu (byte %zu): %s", line, col, offset, why);
}

/*
 * Parse text as rule file name, appending every rule object (also the bad
 * ones, for the duplicate check across files) to set and every problem to
 * errors. Returns the number of problems.
 */
static size_t
parse_text(struct ruleset *set, const char *name, const char *text, size_t len,
    const struct catalog *cat, struct buf *errors)
{
	struct pctx pc = {.file = name, .cat = cat, .errors = errors};
	size_t offset = 0, pos = 0;
	char *copy, *cause = NULL;
	const char *why;
	cJSON *root = NULL;
	const cJSON *list, *e;

	copy = strip_comments(text, len, &offset);
	if (copy == NULL) {
		syntax_error(&pc, text, len, offset, "/* comment not closed by */");
		return pc.nerrors;
	}
	if (json_strict_check(copy, len, RULES_MAX_DEPTH, &offset, &cause) != 0) {
		syntax_error(&pc, text, len, offset, cause != NULL ? cause : "invalid JSON");
		goto out;
	}
	if (json_cjson_safe(copy, len, &offset, &why) != 0) {
		syntax_error(&pc, text, len, offset, why);
		goto out;
	}
	root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
	if (root == NULL) {
		file_error(&pc, "the JSON parser refused the file");
		goto out;
	}
	if (cJSON_IsArray(root))
		list = root;
	else if (cJSON_IsObject(root)) {
		const cJSON *m;

		cJSON_ArrayForEach(m, root) {
			if (strcmp(m->string, "rules") != 0)
				file_error(&pc, "%s: unknown field (expected only \"rules\")",
				    show(&pc, m->string));
		}
		list = cJSON_GetObjectItemCaseSensitive(root, "rules");
		if (list == NULL) {
			file_error(&pc, "rules: missing (expected {\"rules\": [RULE, ...]})");
			goto out;
		}
		if (!cJSON_IsArray(list)) {
			file_error(&pc, "rules: expected an array of rules, got %s", json_type_name(list));
			goto out;
		}
	} else {
		file_error(&pc, "expected {\"rules\": [RULE, ...]} or [RULE, ...], got %s",
		    json_type_name(root));
		goto out;
	}
	cJSON_ArrayForEach(e, list) {
		struct rule *r = rule_append(set);

		rule_init(r, name);
		rule_from_json(&pc, e, ++pos, r);
	}
out:
	cJSON_Delete(root);
	free(cause);
	free(copy);
	return pc.nerrors;
}

/* ---- sets ---- */

/* See rules.h. */
struct ruleset *
ruleset_new(void)
{
	struct ruleset *set = xcalloc(1, sizeof *set);
	unsigned char digest[SHA256_LEN];

	sha256(CANONICAL_TAG, strlen(CANONICAL_TAG), digest);
	hex_encode(digest, SHA256_LEN, set->version);
	return set;
}

/* Free the rules from index from on and shorten the set to from rules. */
static void
ruleset_truncate(struct ruleset *set, size_t from)
{
	for (size_t i = from; i < set->nrules; i++)
		rule_clear(&set->rules[i]);
	set->nrules = from;
}

/* See rules.h. */
void
ruleset_free(struct ruleset *set)
{
	if (set == NULL)
		return;
	ruleset_truncate(set, 0);
	free(set->rules);
	free(set);
}

/* See rules.h. A linear scan: sets are small and may be built by hand. */
const struct rule *
ruleset_find(const struct ruleset *set, const char *id)
{
	for (size_t i = 0; i < set->nrules; i++) {
		if (set->rules[i].id != NULL && strcmp(set->rules[i].id, id) == 0)
			return &set->rules[i];
	}
	return NULL;
}

/* Append d to b as the canonical number form (%.17g; -0 as 0). */
static void
put_number(struct buf *b, double d)
{
	buf_printf(b, "%.17g", d == 0 ? 0.0 : d);
}

/* Append s as a JSON string, or null. */
static void
put_string(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_puts(b, "null");
	else
		buf_json_string(b, s);
}

/* Order of labels by key, for the canonical form. */
static int
label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rule_label *)a)->key, ((const struct rule_label *)b)->key);
}

/*
 * The canonical form of a rule: one line of JSON with every member of the
 * model present, in this fixed order, defaults filled in (so leaving out
 * "for": 1 and writing it give the same text), without whitespace:
 *
 *   {"id":S,"title":S,"source":S,"kind":S,"metric":S,"scope":S,
 *    "stages":S (names joined by '|', "" for any),"urban":-1|0|1,
 *    "public":-1|0|1,"bands":[[SEVERITY,OP,N],...],"for":I,
 *    "resolve_margin":N,"completeness":N,"grace_days":I,
 *    "trend":{"mode":S,"direction":S,"days":I,"factor":N,"min_delta":N},
 *    "limit":N,"quota":N,"quota_period":S,"labels":[[K,V],...] (sorted by
 *    key),"message":S|null}
 *
 * Strings are JSON-escaped as buf_json_string does (UTF-8 kept as is),
 * numbers printed with %.17g (exact round trip; -0 as 0). The file a rule
 * came from is not part of it. The version hash is the hex SHA-256 of
 * CANONICAL_TAG followed by each rule's canonical line and "\n", rules in
 * id order: the same rules give the same version whatever the files,
 * their order, whitespace or comments; any change of meaning or wording
 * gives another.
 */
char *
rule_canonical(const struct rule *r)
{
	struct rule_label *labels = NULL;
	char stages[96];
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\"id\":");
	put_string(&b, r->id);
	buf_puts(&b, ",\"title\":");
	put_string(&b, r->title);
	buf_puts(&b, ",\"source\":");
	put_string(&b, r->source);
	buf_puts(&b, ",\"kind\":");
	put_string(&b, rule_kind_name(r->kind));
	buf_puts(&b, ",\"metric\":");
	put_string(&b, r->metric);
	buf_puts(&b, ",\"scope\":");
	put_string(&b, rule_scope_name(r->scope));
	buf_puts(&b, ",\"stages\":");
	put_string(&b, stages_format(r->stages, '|', stages, sizeof stages));
	buf_printf(&b, ",\"urban\":%d,\"public\":%d,\"bands\":[", r->urban, r->is_public);
	for (size_t i = 0; i < r->nbands; i++) {
		buf_puts(&b, i > 0 ? ",[" : "[");
		put_string(&b, severity_name(r->bands[i].severity));
		buf_putc(&b, ',');
		put_string(&b, cmp_op_name(r->bands[i].op));
		buf_putc(&b, ',');
		put_number(&b, r->bands[i].bound);
		buf_putc(&b, ']');
	}
	buf_printf(&b, "],\"for\":%d,\"resolve_margin\":", r->for_periods);
	put_number(&b, r->resolve_margin);
	buf_puts(&b, ",\"completeness\":");
	put_number(&b, r->completeness);
	buf_printf(&b, ",\"grace_days\":%d,\"trend\":{\"mode\":", r->grace_days);
	put_string(&b, (unsigned)r->trend_mode < ARRAY_LEN(trend_mode_names) ?
	    trend_mode_names[r->trend_mode] : "unknown");
	buf_puts(&b, ",\"direction\":");
	put_string(&b, (unsigned)r->trend_direction < ARRAY_LEN(trend_direction_names) ?
	    trend_direction_names[r->trend_direction] : "unknown");
	buf_printf(&b, ",\"days\":%d,\"factor\":", r->baseline_days);
	put_number(&b, r->spike_factor);
	buf_puts(&b, ",\"min_delta\":");
	put_number(&b, r->min_delta);
	buf_puts(&b, "},\"limit\":");
	put_number(&b, r->limit);
	buf_puts(&b, ",\"quota\":");
	put_number(&b, r->quota);
	buf_puts(&b, ",\"quota_period\":");
	put_string(&b, period_kind_name(r->quota_period));
	buf_puts(&b, ",\"labels\":[");
	if (r->nlabels > 0) {
		labels = xcalloc(r->nlabels, sizeof *labels);
		memcpy(labels, r->labels, r->nlabels * sizeof *labels);
		qsort(labels, r->nlabels, sizeof *labels, label_cmp);
	}
	for (size_t i = 0; i < r->nlabels; i++) {
		buf_puts(&b, i > 0 ? ",[" : "[");
		put_string(&b, labels[i].key);
		buf_putc(&b, ',');
		put_string(&b, labels[i].value);
		buf_putc(&b, ']');
	}
	free(labels);
	buf_puts(&b, "],\"message\":");
	put_string(&b, r->message);
	buf_putc(&b, '}');
	return buf_steal(&b);
}

/* Order of rules by id. */
static int
rule_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rule *)a)->id, ((const struct rule *)b)->id);
}

/* Sort a valid set by id and compute its version (see rule_canonical). */
static void
ruleset_finish(struct ruleset *set)
{
	unsigned char digest[SHA256_LEN];
	struct buf b;

	if (set->nrules > 1)
		qsort(set->rules, set->nrules, sizeof *set->rules, rule_cmp);
	buf_init(&b);
	buf_puts(&b, CANONICAL_TAG);
	for (size_t i = 0; i < set->nrules; i++) {
		char *line = rule_canonical(&set->rules[i]);

		buf_puts(&b, line);
		buf_putc(&b, '\n');
		free(line);
	}
	sha256(b.data, b.len, digest);
	hex_encode(digest, SHA256_LEN, set->version);
	buf_free(&b);
}

/* A rule's id and its position in the set, for the duplicate check. */
struct id_pos {
	const char *id;
	const char *file;
	size_t pos;
};

/* Order by id, then by position (earlier first). */
static int
id_pos_cmp(const void *a, const void *b)
{
	const struct id_pos *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/*
 * Report every rule from index from on whose id an earlier rule of the
 * set already has: "FILE: rule X: id: rule id X defined in A and FILE".
 * Rules without a valid id are skipped. Returns the number reported.
 */
static size_t
check_duplicates(const struct ruleset *set, size_t from, struct buf *errors)
{
	struct id_pos *v = xcalloc(set->nrules + 1, sizeof *v);
	size_t n = 0, found = 0;

	for (size_t i = 0; i < set->nrules; i++) {
		if (set->rules[i].id != NULL)
			v[n++] = (struct id_pos){set->rules[i].id, set->rules[i].file, i};
	}
	qsort(v, n, sizeof *v, id_pos_cmp);
	for (size_t k = 1, first = 0; k < n; k++) {
		const struct id_pos *a = &v[first], *b = &v[k];

		if (strcmp(a->id, b->id) != 0) {
			first = k;
			continue;
		}
		if (b->pos < from)
			continue;
		if (strcmp(a->file, b->file) == 0)
			buf_printf(errors, "%s: rule %s: id: rule id %s defined twice in %s\n", b->file,
			    b->id, b->id, b->file);
		else
			buf_printf(errors, "%s: rule %s: id: rule id %s defined in %s and %s\n", b->file,
			    b->id, b->id, a->file, b->file);
		found++;
	}
	free(v);
	return found;
}

/* Append the text of eb to *errors (which may be NULL) and free eb. */
static void
errors_give(char **errors, struct buf *eb)
{
	if (*errors == NULL)
		*errors = buf_steal(eb);
	else {
		char *all = xasprintf("%s%s", *errors, eb->data != NULL ? eb->data : "");

		free(*errors);
		*errors = all;
		buf_free(eb);
	}
}

/* See rules.h. */
int
rules_parse(struct ruleset *set, const char *name, const char *text, size_t len,
    const struct catalog *cat, char **errors)
{
	size_t from = set->nrules, problems;
	struct buf eb;

	buf_init(&eb);
	problems = parse_text(set, name, text, len, cat, &eb);
	problems += check_duplicates(set, from, &eb);
	if (problems > 0) {
		ruleset_truncate(set, from);
		errors_give(errors, &eb);
		return -1;
	}
	buf_free(&eb);
	ruleset_finish(set);
	return 0;
}

/* Order of file names (bytewise, whatever the locale). */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The *.json names in dir (hidden files skipped), sorted; *n set. NULL with
 * a line in eb if the directory cannot be read.
 */
static char **
list_rule_files(const char *dir, size_t *n, struct buf *eb)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t cap = 0;

	*n = 0;
	if (d == NULL) {
		buf_printf(eb, "%s: %s\n", dir, strerror(errno));
		return NULL;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (*n == cap) {
			cap = cap == 0 ? 16 : 2 * cap;
			names = xreallocarray(names, cap, sizeof *names);
		}
		names[(*n)++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		buf_printf(eb, "%s: %s\n", dir, strerror(errno));
		closedir(d);
		for (size_t i = 0; i < *n; i++)
			free(names[i]);
		free(names);
		*n = 0;
		return NULL;
	}
	closedir(d);
	if (*n > 1)
		qsort(names, *n, sizeof *names, name_cmp);
	return names == NULL ? xcalloc(1, sizeof *names) : names;
}

/*
 * Read a regular file of at most RULE_FILE_MAX bytes; the contents
 * (NUL-terminated, caller frees) or NULL with a line in eb ("NAME: ...").
 */
static char *
read_rule_file(const char *path, const char *name, size_t *len, struct buf *eb)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *data = NULL;

	if (f == NULL) {
		buf_printf(eb, "%s: %s\n", name, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0) {
		buf_printf(eb, "%s: %s\n", name, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_printf(eb, "%s: not a regular file\n", name);
		goto out;
	}
	if ((uintmax_t)st.st_size > RULE_FILE_MAX) {
		buf_printf(eb, "%s: larger than %u MiB\n", name, RULE_FILE_MAX >> 20);
		goto out;
	}
	data = xmalloc((size_t)st.st_size + 1);
	*len = fread(data, 1, (size_t)st.st_size, f);
	if (ferror(f) || *len != (size_t)st.st_size) {
		buf_printf(eb, "%s: read error (%s)\n", name, ferror(f) ? strerror(errno) : "file "
		    "changed while read");
		free(data);
		data = NULL;
		goto out;
	}
	data[*len] = '\0';
out:
	fclose(f);
	return data;
}

/*
 * See rules.h. Every file is parsed even after a bad one, and ids are
 * checked for duplicates across all rule objects found (valid or not), so
 * one run lists every problem.
 */
struct ruleset *
rules_load_dir(const char *dir, const struct catalog *cat, char **errors)
{
	struct ruleset *set;
	struct buf eb;
	char **names;
	size_t n, problems = 0;

	buf_init(&eb);
	names = list_rule_files(dir, &n, &eb);
	if (names == NULL) {
		errors_give(errors, &eb);
		return NULL;
	}
	set = ruleset_new();
	if (n == 0) {
		buf_printf(&eb, "%s: no rule files (*.json)\n", dir);
		problems++;
	}
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]), *text;
		size_t len = 0;

		text = read_rule_file(path, names[i], &len, &eb);
		if (text == NULL)
			problems++;
		else
			problems += parse_text(set, names[i], text, len, cat, &eb);
		free(text);
		free(path);
	}
	problems += check_duplicates(set, 0, &eb);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (problems > 0) {
		ruleset_free(set);
		errors_give(errors, &eb);
		return NULL;
	}
	buf_free(&eb);
	set->nfiles = n;
	ruleset_finish(set);
	return set;
}
