/*
 * payload.c: submission bodies (JSON or CSV) to validated observations, see
 * payload.h for the rules.
 *
 * Both front ends (JSON, CSV) turn the body into the same calls on a
 * validation state: resolve a unit (reach first, then kind), parse a period,
 * check one metric figure. Every problem becomes one issue with a path;
 * nothing stops at the first. Afterwards the outcome is decided in this
 * order: any unit out of reach makes the whole request PAYLOAD_FORBIDDEN
 * (with the first such unit's message and nothing else, so that a response
 * never tells whether some other code exists); else any issue makes it
 * PAYLOAD_INVALID; else it is PAYLOAD_OK.
 *
 * Paths: in a single JSON object "school", "period", "metrics.<code>",
 * "metrics.<code>.numerator"; in a batch the same behind "[i]." with i the
 * 0-based array index; in CSV "row N", "row N.school", "row N.period",
 * "row N.metric", "row N.value", "row N.numerator", "row N.denominator"
 * with N the line number where the row starts. The path "" is the body as a
 * whole.
 *
 * JSON is checked by json_strict_check before cJSON sees it, so that both
 * parsers agree on what the body says; the two things cJSON still reads
 * differently (a \u0000 escape truncates its strings, numbers longer than 63
 * characters are cut) are refused as malformed here as well.
 */
#include "payload.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "csv.h"
#include "jsonstrict.h"
#include "jsonutil.h"
#include "util.h"

#define ISSUE_CAP 100
#define CODE_MAX 64
#define SUBMISSION_ID_MAX 128
/* Longest user string quoted in a message before it is cut with "...". */
#define SHOW_MAX 64
#define DEFAULT_MAX_DEPTH 32
/* Integers above 2^53 are no longer exact in a double. */
#define INT_EXACT_MAX 9007199254740992.0

static const char *const role_names[ROLE_COUNT] = {
	[ROLE_SCHOOL] = "school",
	[ROLE_REPORTER] = "reporter",
	[ROLE_MONITOR] = "monitor",
	[ROLE_ADMIN] = "admin",
};

/* How messages speak of a period kind, with an example of its syntax. */
static const struct {
	const char *phrase;
	const char *example;
} period_words[PERIOD_KIND_COUNT] = {
	[PERIOD_DAY] = {"day", "2021-09-15"},
	[PERIOD_WEEK] = {"week", "2021-W37"},
	[PERIOD_MONTH] = {"month", "2021-09"},
	[PERIOD_QUARTER] = {"quarter", "2021-Q3"},
	[PERIOD_TERM] = {"term", "2021-2022-1"},
	[PERIOD_SCHOOL_YEAR] = {"school year", "2021-2022"},
	[PERIOD_YEAR] = {"year", "2021"},
};

/* The CSV columns, in order. */
enum csv_column { CSV_SCHOOL, CSV_PERIOD, CSV_METRIC, CSV_VALUE, CSV_NUM, CSV_DEN, CSV_NCOLS };
static const char *const csv_columns[CSV_NCOLS] = {
	"school", "period", "metric", "value", "numerator", "denominator",
};

/* The members a JSON submission object may have. */
static const char *const json_fields[] = {"school", "unit", "period", "submission_id",
	"metrics"};

/* What a unit field must name. */
enum want_unit { WANT_SCHOOL, WANT_OFFICE, WANT_ANY };

/* One (unit, metric, period) already seen in this request. */
struct seen_key {
	const struct unit *unit;
	const struct metric *metric;
	enum period_kind kind;
	int32_t start;
	char *path;
};

struct vstate {
	const struct payload_ctx *ctx;
	const struct unit *self; /* the principal's unit; NULL for admin or unknown */

	struct payload_issue *issues; /* at most ISSUE_CAP (+1 "more" entry) */
	size_t nissues;
	size_t total; /* issues found, kept or not */
	char *forbidden; /* message for the first unit out of reach */

	struct observation *obs;
	size_t nobs;
	size_t obscap;

	struct seen_key *keys;
	size_t nkeys;
	size_t keycap;
	size_t *keytab; /* open addressing: key index + 1, 0 empty */
	size_t keytabcap;

	char *client_key;
};

/* Name of r, or "unknown" for a value outside the enum. */
const char *
role_name(enum role r)
{
	if ((unsigned)r >= ROLE_COUNT)
		return "unknown";
	return role_names[r];
}

/* Inverse of role_name: 0, or -1 if s names no role. */
int
role_parse(const char *s, enum role *out)
{
	int i = names_index(role_names, ROLE_COUNT, s, strlen(s));

	if (i < 0)
		return -1;
	*out = (enum role)i;
	return 0;
}

/*
 * Display length of a user string quoted in a message: all of it up to
 * SHOW_MAX bytes, else cut back to a UTF-8 character boundary. Use with
 * "%.*s%s" and show_more().
 */
static int
show_len(const char *s)
{
	return utf8_prefix_len(s, SHOW_MAX);
}

/* "..." if show_len cut s, else "". */
static const char *
show_more(const char *s)
{
	return strlen(s) > SHOW_MAX ? "..." : "";
}

#define SHOW(s) show_len(s), (s), show_more(s)

/*
 * A number as a person would write it: integers without a fraction,
 * anything else in the fewest digits that read back as the same double.
 */
static const char *
fmt_num(double v, char *buf, size_t len)
{
	if (isfinite(v) && v == trunc(v) && fabs(v) < 1e21) {
		snprintf(buf, len, "%.0f", v);
		return buf;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

/* Record one issue at path (copied). Beyond ISSUE_CAP only counts. */
static void PRINTFLIKE(3, 4)
issue(struct vstate *st, const char *path, const char *fmt, ...)
{
	va_list ap;
	struct payload_issue *is;

	st->total++;
	if (st->nissues >= ISSUE_CAP)
		return;
	if (st->issues == NULL)
		st->issues = xcalloc(ISSUE_CAP + 1, sizeof *st->issues);
	is = &st->issues[st->nissues++];
	is->path = xstrdup(path);
	va_start(ap, fmt);
	is->message = xvasprintf(fmt, ap);
	va_end(ap);
}

/* A newly allocated path: prefix followed by the formatted rest. */
static char *PRINTFLIKE(2, 3)
path_make(const char *prefix, const char *fmt, ...)
{
	va_list ap;
	char *rest, *p;

	va_start(ap, fmt);
	rest = xvasprintf(fmt, ap);
	va_end(ap);
	p = xasprintf("%s%s", prefix, rest);
	free(rest);
	return p;
}

/* Start a validation; resolves the principal's own unit (active only). */
static void
vstate_init(struct vstate *st, const struct payload_ctx *ctx)
{
	const struct principal *who = ctx->principal;
	const struct unit *u;

	memset(st, 0, sizeof *st);
	st->ctx = ctx;
	if (who->role == ROLE_SCHOOL || who->role == ROLE_REPORTER) {
		u = registry_by_id(ctx->registry, who->unit_id);
		if (u != NULL && u->active)
			st->self = u;
	}
}

/* Free whatever st still owns (finish() takes what it hands over). */
static void
vstate_free(struct vstate *st)
{
	for (size_t i = 0; i < st->nissues; i++) {
		free(st->issues[i].path);
		free(st->issues[i].message);
	}
	free(st->issues);
	free(st->forbidden);
	free(st->obs);
	for (size_t i = 0; i < st->nkeys; i++)
		free(st->keys[i].path);
	free(st->keys);
	free(st->keytab);
	free(st->client_key);
}

/* True if the principal may write u (an active unit). */
static bool
within_reach(const struct vstate *st, const struct unit *u)
{
	switch (st->ctx->principal->role) {
	case ROLE_ADMIN:
		return true;
	case ROLE_SCHOOL:
		return st->self != NULL && u->id == st->self->id;
	case ROLE_REPORTER:
		return st->self != NULL && registry_within(st->ctx->registry, u->id, st->self->id);
	default:
		return false;
	}
}

/* Province, city and district offices, as opposed to schools and centres. */
static bool
is_office(enum unit_kind k)
{
	return k == UNIT_PROVINCE || k == UNIT_CITY || k == UNIT_DISTRICT;
}

/*
 * Resolve the unit code at path. Reach is decided before anything that
 * depends on the unit, and unknown, inactive and foreign codes all get the
 * same forbidden message. Returns the unit, or NULL after recording a
 * forbidden unit or an issue.
 */
static const struct unit *
resolve_unit(struct vstate *st, const char *path, const char *code, enum want_unit want)
{
	const struct unit *u;
	size_t len = strlen(code);

	if (len == 0) {
		issue(st, path, "the unit code is empty");
		return NULL;
	}
	if (!utf8_valid(code, len)) {
		issue(st, path, "the unit code is not valid UTF-8");
		return NULL;
	}
	if (len > CODE_MAX) {
		issue(st, path, "unit code \"%.*s%s\" is longer than %d bytes", SHOW(code),
		    CODE_MAX);
		return NULL;
	}
	u = registry_by_code(st->ctx->registry, code);
	if (u == NULL || !u->active || !within_reach(st, u)) {
		if (st->forbidden == NULL)
			st->forbidden = xasprintf("unit \"%s\" is not within this token's reach",
			    code);
		return NULL;
	}
	if (want == WANT_SCHOOL && is_office(u->kind)) {
		issue(st, path,
		    "\"%s\" is a %s, not a school; send an office's own figures as \"unit\"", code,
		    unit_kind_name(u->kind));
		return NULL;
	}
	if (want == WANT_OFFICE && !is_office(u->kind)) {
		issue(st, path,
		    "\"%s\" is a %s, not an office (province, city or district); send its "
		    "figures as \"school\"",
		    code, unit_kind_name(u->kind));
		return NULL;
	}
	return u;
}

/*
 * Parse the period text at path into *out. False after recording an issue
 * (malformed, or not started by ctx->today).
 */
static bool
check_period(struct vstate *st, const char *path, const char *text, struct period *out)
{
	char *cause = NULL;
	const char *why;
	size_t tl = strlen(text);
	char day[16];

	if (tl == 0) {
		issue(st, path, "the period is empty");
		return false;
	}
	if (period_parse(text, out, &cause) != 0) {
		why = cause != NULL ? cause : "not a period";
		/* Do not repeat the text if the cause starts with it. */
		if (strncmp(why, text, tl) == 0 && strncmp(why + tl, ": ", 2) == 0)
			why += tl + 2;
		else if (why[0] == '"' && strncmp(why + 1, text, tl) == 0 &&
		    strncmp(why + 1 + tl, "\": ", 3) == 0)
			why += tl + 4;
		issue(st, path, "period \"%.*s%s\": %s", SHOW(text), why);
		free(cause);
		return false;
	}
	if (out->start > st->ctx->today) {
		char canon[PERIOD_STR_MAX];

		date_format(out->start, day, sizeof day);
		issue(st, path, "period %s has not started yet (it starts on %s)",
		    period_format(out, canon, sizeof canon), day);
		return false;
	}
	return true;
}

/* "school, childcare" from a unit-kind mask. */
static void
unit_kinds_text(unsigned mask, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int k = 0; k < UNIT_KIND_COUNT; k++) {
		if (!(mask & UNIT_KIND_BIT(k)))
			continue;
		snprintf(out + used, len - used, "%s%s", used ? ", " : "", unit_kind_name(k));
		used = strlen(out);
	}
}

/*
 * Whether metric m may be reported by unit u for period p (either may be
 * NULL when unknown). Records issues at unit_path (kind, stages) and
 * period_path (period kind); false if any.
 */
static bool
check_applies(struct vstate *st, const char *unit_path, const char *period_path,
    const struct metric *m, const struct unit *u, const struct period *p)
{
	bool ok = true;

	if (u != NULL && !(m->unit_kinds & UNIT_KIND_BIT(u->kind))) {
		char kinds[128];

		unit_kinds_text(m->unit_kinds, kinds, sizeof kinds);
		issue(st, unit_path, "%s is not reported by a %s (it is reported by: %s)", m->code,
		    unit_kind_name(u->kind), kinds);
		ok = false;
	} else if (u != NULL && m->stages != 0 && u->stages != 0 && !(m->stages & u->stages)) {
		char want[96], have[96];

		stages_format(m->stages, ',', want, sizeof want);
		stages_format(u->stages, ',', have, sizeof have);
		issue(st, unit_path, "%s applies to stages %s; %s has stages %s", m->code, want,
		    u->code, have);
		ok = false;
	}
	if (p != NULL && p->kind != m->period_kind) {
		issue(st, period_path, "%s is reported per %s (e.g. %s), not per %s", m->code,
		    period_words[m->period_kind].phrase, period_words[m->period_kind].example,
		    period_words[p->kind].phrase);
		ok = false;
	}
	return ok;
}

/*
 * A numerator or denominator: a finite, non-negative whole number no
 * larger than 2^53. what is "numerator" or "denominator".
 */
static bool
check_int(struct vstate *st, const char *path, const char *what, double v, int64_t *out)
{
	char nb[40];

	if (!isfinite(v)) {
		issue(st, path, "%s: number is not finite", what);
		return false;
	}
	if (v != trunc(v) || v < 0) {
		issue(st, path, "%s %s is not a non-negative whole number", what,
		    fmt_num(v, nb, sizeof nb));
		return false;
	}
	if (v > INT_EXACT_MAX) {
		issue(st, path, "%s %s is too large (at most 2^53)", what, fmt_num(v, nb, sizeof nb));
		return false;
	}
	*out = (int64_t)v;
	return true;
}

/*
 * A rate's numerator and denominator (both already whole). Issues at the
 * given paths; on success *value is numerator / denominator.
 */
static bool
check_ratio(struct vstate *st, const char *mpath, const char *npath, const char *dpath,
    const struct metric *m, int64_t n, int64_t d, double *value)
{
	char a[40], b[40], c[40];
	double r;

	if (d == 0) {
		issue(st, dpath, "denominator must be positive, not 0");
		return false;
	}
	if (n > d) {
		issue(st, npath, "numerator %lld is above denominator %lld", (long long)n,
		    (long long)d);
		return false;
	}
	r = (double)n / (double)d;
	if (r < m->min || r > m->max) {
		issue(st, mpath, "%s: %lld/%lld = %s is outside %s..%s", m->code, (long long)n,
		    (long long)d, fmt_num(r, a, sizeof a), fmt_num(m->min, b, sizeof b),
		    fmt_num(m->max, c, sizeof c));
		return false;
	}
	*value = r;
	return true;
}

/* A figure for a count or value metric. */
static bool
check_scalar(struct vstate *st, const char *path, const struct metric *m, double v, double *out)
{
	char a[40], b[40], c[40];

	if (!isfinite(v)) {
		issue(st, path, "%s: number is not finite", m->code);
		return false;
	}
	if (m->kind == METRIC_COUNT) {
		if (v < 0) {
			issue(st, path, "%s: negative count %s", m->code, fmt_num(v, a, sizeof a));
			return false;
		}
		if (v != trunc(v)) {
			issue(st, path, "%s: %s is not a whole number (it is a count)", m->code,
			    fmt_num(v, a, sizeof a));
			return false;
		}
		if (v > INT_EXACT_MAX) {
			issue(st, path, "%s: %s is too large for a count (at most 2^53)", m->code,
			    fmt_num(v, a, sizeof a));
			return false;
		}
	} else if (m->max <= 1 && v > 1 && v <= 100) {
		issue(st, path,
		    "%s: %s looks like a percent given where a fraction is expected (write %s)",
		    m->code, fmt_num(v, a, sizeof a), fmt_num(v / 100, b, sizeof b));
		return false;
	}
	if (v < m->min || v > m->max) {
		issue(st, path, "%s: %s is outside %s..%s", m->code, fmt_num(v, a, sizeof a),
		    fmt_num(m->min, b, sizeof b), fmt_num(m->max, c, sizeof c));
		return false;
	}
	*out = v == 0 ? 0 : v; /* no -0 */
	return true;
}

/* The message for a rate given as one number v. */
static void
rate_as_number(struct vstate *st, const char *path, const struct metric *m, double v)
{
	char a[40];

	if (isfinite(v) && v > 1 && v <= 100)
		issue(st, path,
		    "%s is a rate: give {\"numerator\": n, \"denominator\": d}; %s looks like a "
		    "percentage",
		    m->code, fmt_num(v, a, sizeof a));
	else
		issue(st, path,
		    "%s is a rate: give {\"numerator\": n, \"denominator\": d}, not a bare number",
		    m->code);
}

/* Hash of (unit, metric, period kind, period start); path is not part of the key. */
static size_t
key_hash(const struct seen_key *k)
{
	uint64_t h = (uint64_t)(uintptr_t)k->unit * 0x9e3779b97f4a7c15ull;

	h ^= (uint64_t)(uintptr_t)k->metric * 0xc2b2ae3d27d4eb4full;
	h ^= ((uint64_t)(uint32_t)k->start << 3 | (uint64_t)k->kind) * 0x165667b19e3779f9ull;
	return (size_t)(h ^ (h >> 31));
}

/* Same (unit, metric, period). */
static bool
key_equal(const struct seen_key *a, const struct seen_key *b)
{
	return a->unit == b->unit && a->metric == b->metric && a->kind == b->kind &&
	    a->start == b->start;
}

/* Put key index idx at its first free slot (cap is a power of two, not full). */
static void
keytab_put(size_t *tab, size_t cap, const struct seen_key *k, size_t idx)
{
	size_t mask = cap - 1, i;

	for (i = key_hash(k) & mask; tab[i] != 0; i = (i + 1) & mask)
		;
	tab[i] = idx + 1;
}

/*
 * Note (unit, metric, period) at path; if it was already seen, record an
 * issue and return false.
 */
static bool
check_duplicate(struct vstate *st, const char *path, const struct unit *u,
    const struct metric *m, const struct period *p)
{
	struct seen_key k = {.unit = u, .metric = m, .kind = p->kind, .start = p->start};
	size_t mask, i;

	if (st->keytabcap > 0) {
		mask = st->keytabcap - 1;
		for (i = key_hash(&k) & mask; st->keytab[i] != 0; i = (i + 1) & mask) {
			const struct seen_key *o = &st->keys[st->keytab[i] - 1];
			char canon[PERIOD_STR_MAX];

			if (!key_equal(o, &k))
				continue;
			issue(st, path, "%s for %s in %s is given twice (first at %s)", m->code,
			    u->code, period_format(p, canon, sizeof canon), o->path);
			return false;
		}
	}
	if ((st->nkeys + 1) * 2 > st->keytabcap) {
		size_t cap = st->keytabcap ? st->keytabcap * 2 : 64;

		free(st->keytab);
		st->keytab = xcalloc(cap, sizeof *st->keytab);
		st->keytabcap = cap;
		for (size_t j = 0; j < st->nkeys; j++)
			keytab_put(st->keytab, cap, &st->keys[j], j);
	}
	if (st->nkeys == st->keycap) {
		st->keycap = st->keycap ? st->keycap * 2 : 16;
		st->keys = xreallocarray(st->keys, st->keycap, sizeof *st->keys);
	}
	k.path = xstrdup(path);
	st->keys[st->nkeys] = k;
	keytab_put(st->keytab, st->keytabcap, &k, st->nkeys);
	st->nkeys++;
	return true;
}

/* Append a validated observation. */
static void
add_obs(struct vstate *st, const struct unit *u, const struct metric *m, const struct period *p,
    double value, bool ratio, int64_t n, int64_t d)
{
	struct observation *o;

	if (st->nobs == st->obscap) {
		st->obscap = st->obscap ? st->obscap * 2 : 16;
		st->obs = xreallocarray(st->obs, st->obscap, sizeof *st->obs);
	}
	o = &st->obs[st->nobs++];
	memset(o, 0, sizeof *o);
	o->unit = u;
	o->metric = m;
	o->period = *p;
	period_format(p, o->period_text, sizeof o->period_text);
	o->has_value = !ratio;
	o->value = value;
	o->has_ratio = ratio;
	o->numerator = n;
	o->denominator = d;
}

/* Look up a metric code; records "unknown metric" at path if absent. */
static const struct metric *
find_metric(struct vstate *st, const char *path, const char *code)
{
	const struct metric *m = NULL;
	size_t len = strlen(code);

	if (len == 0) {
		issue(st, path, "the metric code is empty");
		return NULL;
	}
	if (len <= CODE_MAX && utf8_valid(code, len))
		m = catalog_by_code(st->ctx->catalog, code);
	if (m == NULL)
		issue(st, path, "unknown metric \"%.*s%s\"", SHOW(code));
	return m;
}

/* Fill res for the outcome of st and hand over the observations. */
static enum payload_status
finish(struct vstate *st, struct payload **out, struct payload_result *res)
{
	if (st->forbidden != NULL) {
		res->status = PAYLOAD_FORBIDDEN;
		res->message = st->forbidden;
		st->forbidden = NULL;
		return res->status;
	}
	if (st->total > 0) {
		res->status = PAYLOAD_INVALID;
		res->message = xasprintf("the submission has %zu problem%s; nothing was stored",
		    st->total, st->total == 1 ? "" : "s");
		if (st->total > st->nissues) {
			struct payload_issue *more = &st->issues[st->nissues++];

			more->path = xstrdup("");
			more->message = xasprintf("... and %zu more problems not listed",
			    st->total - ISSUE_CAP);
		}
		res->issues = st->issues;
		res->nissues = st->nissues;
		st->issues = NULL;
		st->nissues = 0;
		return res->status;
	}
	*out = xcalloc(1, sizeof **out);
	(*out)->nobs = st->nobs;
	(*out)->obs = st->obs;
	(*out)->client_key = st->client_key;
	st->obs = NULL;
	st->nobs = 0;
	st->client_key = NULL;
	res->status = PAYLOAD_OK;
	return PAYLOAD_OK;
}

/* Start a result: nothing set, *out NULL. */
static void
result_init(struct payload **out, struct payload_result *res)
{
	*out = NULL;
	memset(res, 0, sizeof *res);
}

/* The checks that come before the body is read; false if res is set. */
static bool
precheck(const struct payload_ctx *ctx, struct payload_result *res)
{
	const struct principal *who = ctx->principal;

	if (who == NULL || who->role == ROLE_MONITOR || (unsigned)who->role >= ROLE_COUNT) {
		res->status = PAYLOAD_FORBIDDEN;
		res->message = xstrdup("a monitor token cannot submit figures");
		return false;
	}
	return true;
}

/* Set res to PAYLOAD_TOO_LARGE for a request of n observations. */
static enum payload_status
too_large(const struct payload_ctx *ctx, size_t n, struct payload_result *res)
{
	res->status = PAYLOAD_TOO_LARGE;
	res->message = xasprintf("the request holds %zu observations; the limit is %zu per "
				 "request",
	    n, ctx->limits.max_observations);
	return res->status;
}

/* Set res to PAYLOAD_MALFORMED at offset with a formatted message. */
static enum payload_status PRINTFLIKE(3, 4)
malformed(struct payload_result *res, size_t offset, const char *fmt, ...)
{
	va_list ap;

	res->status = PAYLOAD_MALFORMED;
	res->offset = offset;
	va_start(ap, fmt);
	res->message = xvasprintf(fmt, ap);
	va_end(ap);
	return res->status;
}

/* ---- JSON ---- */

/* One member of "metrics": code -> figure, for unit u and period p. */
static void
json_metric(struct vstate *st, const char *prefix, const cJSON *item, const struct unit *u,
    const struct period *p)
{
	const char *code = item->string;
	char *mpath = path_make(prefix, "metrics.%.*s%s", SHOW(code));
	const struct metric *m;
	size_t before = st->total;
	double value = 0;
	int64_t n = 0, d = 0;
	bool ratio = false;

	if ((m = find_metric(st, mpath, code)) == NULL)
		goto out;
	check_applies(st, mpath, mpath, m, u, p);
	if (m->kind == METRIC_RATE) {
		const cJSON *num, *den, *f;
		char *npath = path_make(mpath, ".numerator");
		char *dpath = path_make(mpath, ".denominator");
		bool ok = true;

		ratio = true;
		if (cJSON_IsNumber(item)) {
			rate_as_number(st, mpath, m, item->valuedouble);
			ok = false;
		} else if (!cJSON_IsObject(item)) {
			issue(st, mpath,
			    "%s is a rate: expected {\"numerator\": n, \"denominator\": d}, got %s",
			    m->code, json_type_name(item));
			ok = false;
		} else {
			cJSON_ArrayForEach(f, item) {
				if (strcmp(f->string, "numerator") != 0 &&
				    strcmp(f->string, "denominator") != 0) {
					char *fp = path_make(mpath, ".%.*s%s", SHOW(f->string));

					issue(st, fp,
					    "unknown field \"%.*s%s\" in a rate (only numerator and "
					    "denominator)",
					    SHOW(f->string));
					free(fp);
					ok = false;
				}
			}
			num = cJSON_GetObjectItemCaseSensitive(item, "numerator");
			den = cJSON_GetObjectItemCaseSensitive(item, "denominator");
			if (num == NULL) {
				issue(st, npath, "missing numerator");
				ok = false;
			} else if (!cJSON_IsNumber(num)) {
				issue(st, npath, "numerator must be a number, got %s", json_type_name(num));
				ok = false;
			} else if (!check_int(st, npath, "numerator", num->valuedouble, &n)) {
				ok = false;
			}
			if (den == NULL) {
				issue(st, dpath, "missing denominator");
				ok = false;
			} else if (!cJSON_IsNumber(den)) {
				issue(st, dpath, "denominator must be a number, got %s",
				    json_type_name(den));
				ok = false;
			} else if (!check_int(st, dpath, "denominator", den->valuedouble, &d)) {
				ok = false;
			}
			if (ok)
				check_ratio(st, mpath, npath, dpath, m, n, d, &value);
		}
		free(npath);
		free(dpath);
	} else if (cJSON_IsNumber(item)) {
		check_scalar(st, mpath, m, item->valuedouble, &value);
	} else {
		issue(st, mpath, "%s is a %s: expected a number, got %s", m->code,
		    metric_kind_name(m->kind), json_type_name(item));
	}
	if (u != NULL && p != NULL && check_duplicate(st, mpath, u, m, p) && st->total == before)
		add_obs(st, u, m, p, value, ratio, n, d);
out:
	free(mpath);
}

/* True if s is 1..SUBMISSION_ID_MAX printable ASCII characters. */
static bool
submission_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SUBMISSION_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* One submission object; prefix is "" or "[i].". */
static void
json_object(struct vstate *st, const char *prefix, const cJSON *obj)
{
	const cJSON *school, *unit, *period, *sid, *metrics, *f, *which = NULL;
	const struct unit *u = NULL;
	struct period per;
	bool period_ok = false;
	char *path;

	if (!cJSON_IsObject(obj)) {
		path = xstrndup(prefix, strlen(prefix) > 0 ? strlen(prefix) - 1 : 0);
		issue(st, path, "expected a submission object, got %s", json_type_name(obj));
		free(path);
		return;
	}
	cJSON_ArrayForEach(f, obj) {
		bool known = false;

		for (size_t i = 0; i < ARRAY_LEN(json_fields); i++)
			known = known || strcmp(f->string, json_fields[i]) == 0;
		if (!known) {
			path = path_make(prefix, "%.*s%s", SHOW(f->string));
			issue(st, path,
			    "unknown field \"%.*s%s\" (expected school or unit, period, metrics, "
			    "submission_id)",
			    SHOW(f->string));
			free(path);
		}
	}

	school = cJSON_GetObjectItemCaseSensitive(obj, "school");
	unit = cJSON_GetObjectItemCaseSensitive(obj, "unit");
	if (school != NULL && unit != NULL) {
		path = path_make(prefix, "unit");
		issue(st, path, "both \"school\" and \"unit\" given; use \"school\" for a school's "
				"figures or \"unit\" for an office's own");
		free(path);
	} else if (school == NULL && unit == NULL) {
		path = path_make(prefix, "school");
		issue(st, path, "missing \"school\" (or \"unit\" for an office's own figures)");
		free(path);
	} else {
		const char *name = school != NULL ? "school" : "unit";

		which = school != NULL ? school : unit;
		path = path_make(prefix, "%s", name);
		if (!cJSON_IsString(which))
			issue(st, path, "\"%s\" must be a string (a unit code), got %s", name,
			    json_type_name(which));
		else
			u = resolve_unit(st, path, which->valuestring,
			    school != NULL ? WANT_SCHOOL : WANT_OFFICE);
		free(path);
	}

	sid = cJSON_GetObjectItemCaseSensitive(obj, "submission_id");
	if (sid != NULL) {
		path = path_make(prefix, "submission_id");
		if (!cJSON_IsString(sid) || !submission_id_valid(sid->valuestring))
			issue(st, path,
			    "submission_id must be a string of 1 to %d printable ASCII characters",
			    SUBMISSION_ID_MAX);
		else if (st->client_key == NULL)
			st->client_key = xstrdup(sid->valuestring);
		free(path);
	}

	period = cJSON_GetObjectItemCaseSensitive(obj, "period");
	path = path_make(prefix, "period");
	if (period == NULL)
		issue(st, path, "missing \"period\"");
	else if (!cJSON_IsString(period))
		issue(st, path, "\"period\" must be a string such as 2021-09 or 2021-2022-1, got %s",
		    json_type_name(period));
	else
		period_ok = check_period(st, path, period->valuestring, &per);
	free(path);

	metrics = cJSON_GetObjectItemCaseSensitive(obj, "metrics");
	path = path_make(prefix, "metrics");
	if (metrics == NULL)
		issue(st, path, "missing \"metrics\"");
	else if (!cJSON_IsObject(metrics))
		issue(st, path, "\"metrics\" must be an object of metric codes and figures, got %s",
		    json_type_name(metrics));
	else if (metrics->child == NULL)
		issue(st, path, "\"metrics\" is empty; give at least one metric");
	free(path);
	if (cJSON_IsObject(metrics)) {
		cJSON_ArrayForEach(f, metrics)
			json_metric(st, prefix, f, u, period_ok ? &per : NULL);
	}
}

/* Observations a submission object would yield (its metrics members). */
static size_t
json_count(const cJSON *obj)
{
	const cJSON *m = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, "metrics")
					      : NULL;

	return cJSON_IsObject(m) ? (size_t)cJSON_GetArraySize(m) : 0;
}

/*
 * See payload.h. limits.max_observations 0 means no limit; limits.max_depth
 * 0 means DEFAULT_MAX_DEPTH.
 */
enum payload_status
payload_parse_json(const struct payload_ctx *ctx, const char *body, size_t len,
    struct payload **out, struct payload_result *res)
{
	struct vstate st;
	size_t offset = 0, n = 0;
	char *cause = NULL, *copy;
	const char *why;
	cJSON *root;
	const cJSON *item;
	int depth = ctx->limits.max_depth > 0 ? ctx->limits.max_depth : DEFAULT_MAX_DEPTH;
	enum payload_status status;

	result_init(out, res);
	if (!precheck(ctx, res))
		return res->status;
	if (json_strict_check(body, len, depth, &offset, &cause) != 0) {
		malformed(res, offset, "malformed JSON at byte %zu: %s", offset,
		    cause != NULL ? cause : "invalid JSON");
		free(cause);
		return res->status;
	}
	if (json_cjson_safe(body, len, &offset, &why) != 0)
		return malformed(res, offset, "malformed JSON at byte %zu: %s", offset, why);

	copy = xmalloc(len + 1);
	memcpy(copy, body, len);
	copy[len] = '\0';
	root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
	free(copy);
	if (root == NULL)
		return malformed(res, 0, "malformed JSON at byte 0: the JSON parser refused the body");

	if (cJSON_IsArray(root)) {
		size_t items = (size_t)cJSON_GetArraySize(root);

		cJSON_ArrayForEach(item, root)
			n += json_count(item);
		if (ctx->limits.max_observations > 0 &&
		    (n > ctx->limits.max_observations || items > ctx->limits.max_observations)) {
			status = too_large(ctx, n > items ? n : items, res);
			cJSON_Delete(root);
			return status;
		}
	} else if (ctx->limits.max_observations > 0 &&
	    (n = json_count(root)) > ctx->limits.max_observations) {
		status = too_large(ctx, n, res);
		cJSON_Delete(root);
		return status;
	}

	vstate_init(&st, ctx);
	if (cJSON_IsArray(root)) {
		size_t i = 0;

		if (root->child == NULL)
			issue(&st, "", "empty batch: send at least one submission object");
		cJSON_ArrayForEach(item, root) {
			char prefix[32];

			snprintf(prefix, sizeof prefix, "[%zu].", i++);
			json_object(&st, prefix, item);
		}
	} else if (cJSON_IsObject(root)) {
		json_object(&st, "", root);
	} else {
		issue(&st, "", "expected a submission object or an array of them, got %s",
		    json_type_name(root));
	}
	status = finish(&st, out, res);
	vstate_free(&st);
	cJSON_Delete(root);
	return status;
}

/* ---- CSV ---- */

/* Strip spaces and tabs at both ends of s, in place; returns s. */
static char *
trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	if (i > 0)
		memmove(s, s + i, n - i + 1);
	return s;
}

/*
 * A spreadsheet number: -?digits[.digits][(e|E)[+-]digits] (also ".5" and
 * "5."), nothing else. 0 with *out set (possibly infinite), or -1.
 */
static int
csv_number(const char *s, double *out)
{
	const char *p = s;
	size_t digits = 0;

	if (*p == '-')
		p++;
	for (; isdigit((unsigned char)*p); p++)
		digits++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits++;
	if (digits == 0)
		return -1;
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
	*out = strtod(s, NULL);
	return 0;
}

/* True if s reads as a percentage: a number in (1, 100], "%" allowed. */
static bool
percent_like(const char *s)
{
	size_t n = strlen(s);
	char *copy;
	double v;
	bool yes;

	if (n == 0)
		return false;
	copy = xstrndup(s, s[n - 1] == '%' ? n - 1 : n);
	yes = csv_number(copy, &v) == 0 && isfinite(v) && (v > 1 || s[n - 1] == '%') &&
	    v <= 100;
	free(copy);
	return yes;
}

/* Parse the number in field s at path; false after recording an issue. */
static bool
csv_field_number(struct vstate *st, const char *path, const char *s, double *out)
{
	if (csv_number(s, out) == 0)
		return true;
	if (strlen(s) > 0 && s[strlen(s) - 1] == '%')
		issue(st, path, "\"%.*s%s\" is not a number (write a fraction, or numerator and "
				"denominator for a rate)",
		    SHOW(s));
	else
		issue(st, path, "\"%.*s%s\" is not a number", SHOW(s));
	return false;
}

/* One data row of six fields (trimmed in place). */
static void
csv_row(struct vstate *st, struct csv_row *row)
{
	char *f[CSV_NCOLS];
	char *base = xasprintf("row %zu", row->line);
	char *spath = path_make(base, ".school"), *ppath = path_make(base, ".period");
	char *mpath = path_make(base, ".metric"), *vpath = path_make(base, ".value");
	char *npath = path_make(base, ".numerator"), *dpath = path_make(base, ".denominator");
	const struct unit *u;
	const struct metric *m;
	struct period per;
	bool period_ok;
	size_t before = st->total;
	double value = 0, v;
	int64_t n = 0, d = 0;

	if (row->nfields != CSV_NCOLS) {
		issue(st, base,
		    "expected 6 fields (school,period,metric,value,numerator,denominator), got %zu",
		    row->nfields);
		goto out;
	}
	for (size_t i = 0; i < CSV_NCOLS; i++)
		f[i] = trim(row->fields[i]);

	/* The school column may name an office for its own figures. */
	u = resolve_unit(st, spath, f[CSV_SCHOOL], WANT_ANY);
	period_ok = check_period(st, ppath, f[CSV_PERIOD], &per);
	if ((m = find_metric(st, mpath, f[CSV_METRIC])) == NULL)
		goto out;
	check_applies(st, mpath, ppath, m, u, period_ok ? &per : NULL);

	if (m->kind == METRIC_RATE) {
		bool ok = true;

		if (*f[CSV_VALUE] != '\0') {
			if (percent_like(f[CSV_VALUE]))
				issue(st, vpath,
				    "%s is a rate: leave value empty and give numerator and "
				    "denominator; %.*s%s looks like a percentage",
				    m->code, SHOW(f[CSV_VALUE]));
			else
				issue(st, vpath,
				    "%s is a rate: leave value empty and give numerator and "
				    "denominator",
				    m->code);
			ok = false;
		}
		if (*f[CSV_NUM] == '\0') {
			issue(st, npath, "missing numerator (%s is a rate)", m->code);
			ok = false;
		} else if (!csv_field_number(st, npath, f[CSV_NUM], &v) ||
		    !check_int(st, npath, "numerator", v, &n)) {
			ok = false;
		}
		if (*f[CSV_DEN] == '\0') {
			issue(st, dpath, "missing denominator (%s is a rate)", m->code);
			ok = false;
		} else if (!csv_field_number(st, dpath, f[CSV_DEN], &v) ||
		    !check_int(st, dpath, "denominator", v, &d)) {
			ok = false;
		}
		if (ok)
			check_ratio(st, base, npath, dpath, m, n, d, &value);
	} else {
		if (*f[CSV_NUM] != '\0')
			issue(st, npath, "%s is a %s: leave numerator empty and give value", m->code,
			    metric_kind_name(m->kind));
		if (*f[CSV_DEN] != '\0')
			issue(st, dpath, "%s is a %s: leave denominator empty and give value",
			    m->code, metric_kind_name(m->kind));
		if (*f[CSV_VALUE] == '\0')
			issue(st, vpath, "missing value for %s", m->code);
		else if (csv_field_number(st, vpath, f[CSV_VALUE], &v))
			check_scalar(st, vpath, m, v, &value);
	}
	if (u != NULL && period_ok && check_duplicate(st, base, u, m, &per) &&
	    st->total == before)
		add_obs(st, u, m, &per, value, m->kind == METRIC_RATE, n, d);
out:
	free(base);
	free(spath);
	free(ppath);
	free(mpath);
	free(vpath);
	free(npath);
	free(dpath);
}

/*
 * True if every field of row is empty or blank: spreadsheets export
 * formatted but empty rows as ",,,,,", which are skipped like blank lines.
 */
static bool
csv_row_blank(struct csv_row *row)
{
	for (size_t i = 0; i < row->nfields; i++)
		if (*trim(row->fields[i]) != '\0')
			return false;
	return true;
}

/* True if row is a header: its first field is "school", any case. */
static bool
csv_is_header(struct csv_row *row)
{
	return row->nfields >= 1 && strcasecmp(trim(row->fields[0]), "school") == 0;
}

/* Check a header row; records an issue at "row N" if it is not exact. */
static void
csv_header(struct vstate *st, struct csv_row *row)
{
	bool ok = row->nfields == CSV_NCOLS;
	char *path;

	for (size_t i = 0; ok && i < CSV_NCOLS; i++)
		ok = strcasecmp(trim(row->fields[i]), csv_columns[i]) == 0;
	if (ok)
		return;
	path = xasprintf("row %zu", row->line);
	issue(st, path, "the header row must be exactly "
			"school,period,metric,value,numerator,denominator");
	free(path);
}

/* Byte offset where line `line` (1-based) starts, counting CRLF, LF, CR. */
static size_t
line_offset(const char *s, size_t len, size_t line)
{
	size_t cur = 1, i = 0;

	while (i < len && cur < line) {
		if (s[i] == '\r') {
			if (i + 1 < len && s[i + 1] == '\n')
				i++;
			cur++;
		} else if (s[i] == '\n') {
			cur++;
		}
		i++;
	}
	return i;
}

/*
 * See payload.h. A CSV syntax error is PAYLOAD_MALFORMED with the offset of
 * the start of the line csv_parse names.
 */
enum payload_status
payload_parse_csv(const struct payload_ctx *ctx, const char *body, size_t len,
    struct payload **out, struct payload_result *res)
{
	struct vstate st;
	struct csv_doc *doc = NULL;
	char *cause = NULL;
	size_t first = 0, ndata;
	unsigned long line;
	enum payload_status status;

	result_init(out, res);
	if (!precheck(ctx, res))
		return res->status;
	if (csv_parse(body, len, &doc, &cause) != 0) {
		const char *c = cause != NULL ? cause : "invalid CSV";
		size_t off = 0;

		if (sscanf(c, "line %lu:", &line) == 1)
			off = line_offset(body, len, line);
		malformed(res, off, "malformed CSV at byte %zu: %s", off, c);
		free(cause);
		return res->status;
	}

	vstate_init(&st, ctx);
	if (doc->nrows > 0 && csv_is_header(&doc->rows[0])) {
		csv_header(&st, &doc->rows[0]);
		first = 1;
	}
	ndata = 0;
	for (size_t r = first; r < doc->nrows; r++)
		if (!csv_row_blank(&doc->rows[r]))
			ndata++;
	if (ctx->limits.max_observations > 0 && ndata > ctx->limits.max_observations) {
		vstate_free(&st);
		csv_doc_free(doc);
		return too_large(ctx, ndata, res);
	}
	if (ndata == 0)
		issue(&st, "", "no data rows: send one row per school, period and metric");
	for (size_t r = first; r < doc->nrows; r++)
		if (!csv_row_blank(&doc->rows[r]))
			csv_row(&st, &doc->rows[r]);
	status = finish(&st, out, res);
	vstate_free(&st);
	csv_doc_free(doc);
	return status;
}

/* ---- results ---- */

/* Free p and everything it owns; NULL is a no-op. */
void
payload_free(struct payload *p)
{
	if (p == NULL)
		return;
	free(p->obs);
	free(p->client_key);
	free(p);
}

/* Free what res holds and reset it to an empty PAYLOAD_OK result. */
void
payload_result_clear(struct payload_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->nissues; i++) {
		free(res->issues[i].path);
		free(res->issues[i].message);
	}
	free(res->issues);
	free(res->message);
	memset(res, 0, sizeof *res);
}

/* See payload.h; the caller frees the string (never NULL). */
char *
payload_result_json(const struct payload_result *res)
{
	static const char *const codes[] = {
		[PAYLOAD_OK] = "ok",
		[PAYLOAD_MALFORMED] = "malformed_body",
		[PAYLOAD_FORBIDDEN] = "forbidden",
		[PAYLOAD_INVALID] = "invalid_submission",
		[PAYLOAD_TOO_LARGE] = "too_many_observations",
	};
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\"error\":");
	buf_json_string(&b, (unsigned)res->status < ARRAY_LEN(codes) ? codes[res->status]
								      : "internal");
	buf_puts(&b, ",\"message\":");
	buf_json_string(&b, res->message != NULL ? res->message : "");
	if (res->status == PAYLOAD_MALFORMED)
		buf_printf(&b, ",\"offset\":%zu", res->offset);
	if (res->status == PAYLOAD_INVALID) {
		buf_puts(&b, ",\"details\":[");
		for (size_t i = 0; i < res->nissues; i++) {
			if (i > 0)
				buf_putc(&b, ',');
			buf_puts(&b, "{\"path\":");
			buf_json_string(&b, res->issues[i].path);
			buf_puts(&b, ",\"message\":");
			buf_json_string(&b, res->issues[i].message);
			buf_putc(&b, '}');
		}
		buf_putc(&b, ']');
	}
	buf_putc(&b, '}');
	return buf_steal(&b);
}
