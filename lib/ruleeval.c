/*
 * ruleeval.c: see ruleeval.h.
 *
 * Floating point: aggregates keep their double sums as unevaluated
 * double-double pairs built from the error-free transformations TwoSum
 * (Knuth) and TwoProduct (Dekker's splitting, so no fma() is needed and the
 * result is the same with or without hardware FMA and under valgrind). This
 * relies on IEEE double arithmetic without excess precision and without
 * contraction of a * b + c into an fma, which is what -std=c11 gives on
 * x86-64 and AArch64 with GCC and Clang (ISO mode turns -ffp-contract off).
 * Values must be finite: one NaN or infinity poisons a running sum until
 * the aggregate is rebuilt.
 */
#include "ruleeval.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"
#include "util.h"

/* Slack when comparing a computed distance with a margin or a min_delta. */
#define RE_EPS 1e-9

/*
 * Per comparison: its Chinese wording in messages, and on which side of the
 * bound the good values lie (+1 above, -1 below, 0 none: no margin).
 */
static const struct {
	const char *zh;
	int good_side;
} re_ops[OP_COUNT] = {
	[OP_LT] = {"低于", +1},
	[OP_LE] = {"不高于", +1},
	[OP_GT] = {"超过", -1},
	[OP_GE] = {"达到", -1},
	[OP_EQ] = {"等于", 0},
	[OP_NE] = {"不等于", 0},
};

static const char *const re_transition_names[ALERT_TRANSITION_COUNT] = {
	[ALERT_NONE] = "none",
	[ALERT_FIRED] = "fired",
	[ALERT_ESCALATED] = "escalated",
	[ALERT_DEESCALATED] = "deescalated",
	[ALERT_RESOLVED] = "resolved",
};

/*
 * Per rule kind: the default message template and how its judged quantity
 * is written (-1: as the metric's own kind).
 */
static const struct {
	const char *template;
	int value_kind;
} re_kinds[RULE_KIND_COUNT] = {
	[RULE_THRESHOLD] = {"【{severity}】{unit}{metric}为{value}，{op}{bound}（{period}）", -1},
	[RULE_MISSING] = {"【{severity}】{unit}未按时报送{metric}（{period}），已逾期{value}天",
	    METRIC_COUNT},
	[RULE_TREND] = {"【{severity}】{unit}{metric}为{value}，对比值为{bound}，未达到趋势要求"
			"（{period}）",
	    -1},
	[RULE_DISPERSION] = {"【{severity}】{unit}{metric}校际差异系数为{value}，{op}{bound}"
			     "（{period}）",
	    METRIC_VALUE},
	[RULE_QUOTA] = {"【{severity}】{unit}{metric}累计{value}，{op}进度要求{bound}（{period}）",
	    METRIC_COUNT},
};

/* ---- comparisons and bands ---- */

/*
 * True if band b, once in force, is kept for value: it still holds, or value
 * is on the good side of the bound by less than margin.
 */
static bool
re_band_kept(const struct band *b, double margin, double value)
{
	double dist;

	if (cmp_apply(b->op, value, b->bound))
		return true;
	if (!(margin > 0) || isnan(value) || (unsigned)b->op >= OP_COUNT ||
	    re_ops[b->op].good_side == 0)
		return false;
	dist = re_ops[b->op].good_side * (value - b->bound);
	return dist < margin - RE_EPS * fmax(1.0, fabs(b->bound));
}

/*
 * The severity of value against bands b[0..n): the highest severity of a band
 * that holds, or (for severities up to prev) is kept by the margin. Sets
 * *in_force to that band, or NULL for SEV_OK.
 */
static enum severity
re_bands(const struct band *b, size_t n, double margin, enum severity prev, double value,
    const struct band **in_force)
{
	enum severity best = SEV_OK;

	*in_force = NULL;
	for (size_t i = 0; i < n; i++) {
		bool holds = b[i].severity <= prev ? re_band_kept(&b[i], margin, value) :
		    cmp_apply(b[i].op, value, b[i].bound);

		if (holds && b[i].severity > best) {
			best = b[i].severity;
			*in_force = &b[i];
		}
	}
	return best;
}

/* Most severe band of r holding for value; see ruleeval.h. */
enum severity
rule_band_severity(const struct rule *r, double value)
{
	const struct band *b;

	return re_bands(r->bands, r->nbands, 0, SEV_OK, value, &b);
}

/* Band severity with hysteresis from prev; see ruleeval.h. */
enum severity
rule_severity_with_hysteresis(const struct rule *r, enum severity prev, double value)
{
	const struct band *b;

	return re_bands(r->bands, r->nbands, r->resolve_margin, prev, value, &b);
}

/* ---- the alert state machine ---- */

/* English name of t for logs and the alert_event table; "unknown" if invalid. */
const char *
alert_transition_name(enum alert_transition t)
{
	if ((unsigned)t >= ALERT_TRANSITION_COUNT)
		return "unknown";
	return re_transition_names[t];
}

/*
 * Step one episode; see ruleeval.h. The order of the tests is the state
 * machine: no judgement, no breach (resolve if firing), breach while not
 * firing (fire once `for` is met), breach while firing (severity change).
 */
enum alert_transition
alert_step(const struct rule *r, struct alert_state *st, const struct judgement *j,
    int prior_breaches)
{
	int need = r->for_periods < 1 ? 1 : r->for_periods;

	if (!j->judged)
		return ALERT_NONE;
	st->value = j->value;
	if (j->severity == SEV_OK) {
		st->streak = 0;
		if (!st->firing) {
			st->bound = j->bound;
			return ALERT_NONE;
		}
		/* The bound stays the one of the band that was in force. */
		st->firing = false;
		st->severity = SEV_OK;
		return ALERT_RESOLVED;
	}
	st->bound = j->bound;
	st->streak = prior_breaches < 0 ? 1 : prior_breaches < INT_MAX ? prior_breaches + 1 : INT_MAX;
	if (!st->firing) {
		if (st->streak < need)
			return ALERT_NONE;
		st->firing = true;
		st->severity = j->severity;
		return ALERT_FIRED;
	}
	if (j->severity == st->severity)
		return ALERT_NONE;
	if (j->severity > st->severity) {
		st->severity = j->severity;
		return ALERT_ESCALATED;
	}
	st->severity = j->severity;
	return ALERT_DEESCALATED;
}

/* ---- double-double arithmetic for the running sums ---- */

struct dd {
	double hi;
	double lo;
};

/* Knuth's TwoSum: s + e == a + b exactly, s = fl(a + b). */
static void
re_two_sum(double a, double b, double *s, double *e)
{
	double bp;

	*s = a + b;
	bp = *s - a;
	*e = (a - (*s - bp)) + (b - bp);
}

/* Dekker's split of a into hi + lo, each with at most 26 significant bits. */
static void
re_split(double a, double *hi, double *lo)
{
	double c = 134217729.0 * a; /* 2^27 + 1 */

	*hi = c - (c - a);
	*lo = a - *hi;
}

/* Dekker's TwoProduct: p + e == a * b exactly, p = fl(a * b). */
static void
re_two_prod(double a, double b, double *p, double *e)
{
	double ah, al, bh, bl;

	*p = a * b;
	re_split(a, &ah, &al);
	re_split(b, &bh, &bl);
	*e = ((ah * bh - *p) + ah * bl + al * bh) + al * bl;
}

/* Renormalise hi + lo so that hi = fl(hi + lo). */
static struct dd
re_dd_norm(double hi, double lo)
{
	struct dd r;

	re_two_sum(hi, lo, &r.hi, &r.lo);
	return r;
}

/* a + b; the error is about u * |a.lo + b.lo|. */
static struct dd
re_dd_add(struct dd a, struct dd b)
{
	double s, e;

	re_two_sum(a.hi, b.hi, &s, &e);
	return re_dd_norm(s, e + (a.lo + b.lo));
}

/* a * b for double-doubles, to about u^2 relative. */
static struct dd
re_dd_mul(struct dd a, struct dd b)
{
	double p, e;

	re_two_prod(a.hi, b.hi, &p, &e);
	return re_dd_norm(p, e + (a.hi * b.lo + a.lo * b.hi));
}

/* x as a double-double. */
static struct dd
re_dd(double x)
{
	struct dd r = {x, 0};

	return r;
}

/* x * x exactly, as a double-double. */
static struct dd
re_dd_square(double x)
{
	struct dd r;
	double p, e;

	re_two_prod(x, x, &p, &e);
	r = re_dd_norm(p, e);
	return r;
}

/* ---- aggregates ---- */

/* A rate item; value 0 when den is 0 (such an item adds nothing to the rate). */
struct agg_item
agg_item_rate(int64_t num, int64_t den)
{
	struct agg_item it = {num, den, den != 0 ? (double)num / (double)den : 0};

	return it;
}

/* A count item: num = n, den = 1, value = n. */
struct agg_item
agg_item_count(int64_t n)
{
	struct agg_item it = {n, 1, (double)n};

	return it;
}

/* A plain value item. */
struct agg_item
agg_item_value(double v)
{
	struct agg_item it = {0, 0, v};

	return it;
}

/* Add (sign +1) or remove (sign -1) it from a. */
static void
re_agg_apply(struct agg *a, const struct agg_item *it, int sign)
{
	struct dd s = {a->sum, a->sum_lo}, q = {a->sumsq, a->sumsq_lo}, sq;

	a->num += sign * it->num;
	a->den += sign * it->den;
	a->count += sign;
	s = re_dd_add(s, re_dd(sign * it->value));
	sq = re_dd_square(it->value);
	if (sign < 0) {
		sq.hi = -sq.hi;
		sq.lo = -sq.lo;
	}
	q = re_dd_add(q, sq);
	a->sum = s.hi;
	a->sum_lo = s.lo;
	a->sumsq = q.hi;
	a->sumsq_lo = q.lo;
}

/* Add one school's contribution. */
void
agg_add(struct agg *a, const struct agg_item *it)
{
	re_agg_apply(a, it, +1);
}

/* Remove a contribution added earlier. */
void
agg_remove(struct agg *a, const struct agg_item *it)
{
	re_agg_apply(a, it, -1);
}

/* A correction: the old contribution out, the new one in. */
void
agg_replace(struct agg *a, const struct agg_item *old, const struct agg_item *new_item)
{
	re_agg_apply(a, old, -1);
	re_agg_apply(a, new_item, +1);
}

/* Mean of the values; -1 with no school. */
int
agg_mean(const struct agg *a, double *out)
{
	if (a->count <= 0)
		return -1;
	*out = (a->sum + a->sum_lo) / (double)a->count;
	return 0;
}

/* The aggregate figure of a metric kind; see ruleeval.h. */
int
agg_value(const struct agg *a, enum metric_kind kind, double *out)
{
	switch (kind) {
	case METRIC_RATE:
		if (a->den <= 0)
			return -1;
		*out = (double)a->num / (double)a->den;
		return 0;
	case METRIC_COUNT:
		if (a->count <= 0)
			return -1;
		*out = (double)a->num;
		return 0;
	case METRIC_VALUE:
		return agg_mean(a, out);
	default:
		assert(!"invalid metric kind");
		return -1;
	}
}

/* ceil(completeness * expected) with a tolerance; see ruleeval.h. */
int64_t
agg_required(double completeness, int64_t expected)
{
	double x;
	int64_t need;

	if (expected <= 0)
		return 0;
	if (!(completeness > 0 && completeness <= 1))
		completeness = 1;
	x = completeness * (double)expected;
	need = (int64_t)ceil(x - RE_EPS * fmax(1.0, x));
	if (need < 1)
		need = 1;
	return need > expected ? expected : need;
}

/* Complete enough to judge, or past the deadline. */
bool
agg_judgeable(const struct agg *a, double completeness, int64_t expected, bool deadline_passed)
{
	return deadline_passed || a->count >= agg_required(completeness, expected);
}

/* ---- dispersion ---- */

/*
 * cv = sqrt(n * sumsq - sum^2) / sum, since the population variance is
 * (n * sumsq - sum^2) / n^2 and the mean sum / n. The difference is formed
 * in double-double, so its cancellation costs nothing for any realistic
 * coefficient (the stored squares are exact).
 */
int
agg_cv(const struct agg *a, double *out)
{
	struct dd s = {a->sum, a->sum_lo}, q = {a->sumsq, a->sumsq_lo}, d;
	double sum = s.hi + s.lo, var_n2;

	if (a->count < 2 || !(sum > 0))
		return -1;
	d = re_dd_mul(re_dd((double)a->count), q);
	s = re_dd_mul(s, s);
	s.hi = -s.hi;
	s.lo = -s.lo;
	d = re_dd_add(d, s);
	var_n2 = d.hi + d.lo;
	if (var_n2 < 0)
		var_n2 = 0;
	*out = sqrt(var_n2) / sum;
	return 0;
}

/* Two-pass coefficient of variation of values[0..n); see ruleeval.h. */
int
dispersion_cv(const double *values, size_t n, double *out)
{
	double mean = 0, var = 0;

	if (n < 2)
		return -1;
	for (size_t i = 0; i < n; i++)
		mean += values[i];
	mean /= (double)n;
	if (!(mean > 0))
		return -1;
	for (size_t i = 0; i < n; i++)
		var += (values[i] - mean) * (values[i] - mean);
	var /= (double)n;
	*out = sqrt(var) / mean;
	return 0;
}

/* ---- judging each rule kind ---- */

/* The first band's severity, else SEV_WARNING. */
enum severity
rule_breach_severity(const struct rule *r)
{
	return r->nbands > 0 ? r->bands[0].severity : SEV_WARNING;
}

/*
 * Fill out from bands b[0..n) for value; bound and op of the band in force,
 * or of b[0] when none is.
 */
static void
re_judge_bands(const struct band *b, size_t n, double margin, enum severity prev, double value,
    bool judged, struct judgement *out)
{
	const struct band *in_force;

	out->judged = judged;
	out->value = value;
	out->severity = re_bands(b, n, margin, prev, value, &in_force);
	if (in_force == NULL && n > 0)
		in_force = &b[0];
	out->bound = in_force != NULL ? in_force->bound : 0;
	out->op = in_force != NULL ? in_force->op : OP_GE;
}

/* threshold: value against r's bands with hysteresis. */
void
rule_judge_threshold(const struct rule *r, enum severity prev, double value, bool judged,
    struct judgement *out)
{
	re_judge_bands(r->bands, r->nbands, r->resolve_margin, prev, value, judged, out);
}

/* dispersion: the aggregate's cv against r's bands or r->limit. */
void
rule_judge_dispersion(const struct rule *r, enum severity prev, const struct agg *a,
    bool judged, struct judgement *out)
{
	struct band limit = {rule_breach_severity(r), OP_GT, r->limit};
	double cv = NAN;

	if (agg_cv(a, &cv) != 0)
		judged = false;
	if (r->nbands > 0)
		re_judge_bands(r->bands, r->nbands, r->resolve_margin, prev, cv, judged, out);
	else
		re_judge_bands(&limit, 1, r->resolve_margin, prev, cv, judged, out);
}

/* quota: progress against a pro-rated quota; see ruleeval.h. */
void
rule_judge_quota(const struct rule *r, const struct period *p, int32_t today, double count,
    struct judgement *out)
{
	int64_t total = (int64_t)p->end - p->start;
	int64_t elapsed = (int64_t)today - p->start;
	double expected_floor;

	out->judged = today >= p->start && total > 0;
	out->value = count;
	out->op = OP_LT;
	out->bound = r->quota;
	out->severity = SEV_OK;
	if (!out->judged || count >= r->quota)
		return;
	if (today >= p->end) {
		out->severity = SEV_CRITICAL;
		return;
	}
	if (elapsed > total)
		elapsed = total;
	if (r->quota >= 0 && r->quota < 2147483648.0 && r->quota == floor(r->quota))
		expected_floor = (double)((int64_t)r->quota * elapsed / total);
	else
		expected_floor = floor(r->quota * (double)elapsed / (double)total);
	out->bound = expected_floor;
	if (count < expected_floor)
		out->severity = SEV_WARNING;
}

/* trend yoy: this period against the same period a year before. */
void
rule_judge_yoy(const struct rule *r, double value, const double *last_year,
    struct judgement *out)
{
	out->judged = last_year != NULL && !isnan(*last_year) && !isnan(value);
	out->value = value;
	out->bound = last_year != NULL ? *last_year : NAN;
	out->op = r->trend_direction == TREND_DECREASE ? OP_GE : OP_LE;
	out->severity = out->judged && cmp_apply(out->op, value, out->bound) ?
	    rule_breach_severity(r) : SEV_OK;
}

/* trend baseline: a spike above the mean of recent school days. */
void
rule_judge_baseline(const struct rule *r, double value, const double *hist, size_t n,
    struct judgement *out)
{
	size_t want = r->baseline_days > 0 ? (size_t)r->baseline_days : 0;
	size_t m = n < want ? n : want;
	double baseline = 0;
	bool breach;

	out->value = value;
	out->op = OP_GT;
	out->severity = SEV_OK;
	out->bound = NAN;
	out->judged = want > 0 && m > 0 && 2 * m >= want && !isnan(value);
	if (!out->judged)
		return;
	for (size_t i = 0; i < m; i++)
		baseline += hist[i];
	baseline /= (double)m;
	out->bound = r->spike_factor * baseline;
	breach = value > out->bound &&
	    value - baseline >= r->min_delta - RE_EPS * fmax(1.0, fabs(r->min_delta));
	if (breach)
		out->severity = rule_breach_severity(r);
}

/* ---- missing reports ---- */

/* First day on which a report for p is late. */
int32_t
missing_deadline(const struct period *p, int grace_days)
{
	return p->end + grace_days;
}

/* Whether a unit on calendar cal must report for p. */
bool
missing_expected(const struct calendar *cal, const struct period *p)
{
	switch (p->kind) {
	case PERIOD_DAY:
		return calendar_is_school_day(cal, p->start);
	case PERIOD_WEEK:
		for (int32_t d = p->start; d < p->end; d++)
			if (calendar_is_school_day(cal, d))
				return true;
		return false;
	default:
		return true;
	}
}

/* missing: a report for p that has or has not arrived, as of today. */
void
rule_judge_missing(const struct rule *r, const struct calendar *cal, const struct period *p,
    int32_t today, bool reported, struct judgement *out)
{
	int32_t deadline = missing_deadline(p, r->grace_days);

	out->judged = today >= deadline;
	out->bound = r->grace_days;
	out->op = OP_GT;
	out->value = 0;
	out->severity = SEV_OK;
	if (!out->judged || reported || !missing_expected(cal, p))
		return;
	out->value = (double)today - deadline + 1;
	out->severity = rule_breach_severity(r);
}

/* Overdue, expected, unreported periods with deadlines in [from, to]. */
size_t
missing_due(enum period_kind kind, int grace_days, const struct calendar *cal, int32_t from,
    int32_t to, missing_reported_cb reported, void *arg, struct period **out)
{
	struct period p;
	size_t n = 0;

	*out = NULL;
	if (from > to)
		return 0;
	/* The first period whose deadline is on or after from. */
	period_containing(kind, from - grace_days - 1, &p);
	while (missing_deadline(&p, grace_days) < from)
		period_next(&p, &p);
	for (; missing_deadline(&p, grace_days) <= to; period_next(&p, &p)) {
		if (!missing_expected(cal, &p) || (reported != NULL && reported(&p, arg)))
			continue;
		*out = xreallocarray(*out, n + 1, sizeof(**out));
		(*out)[n++] = p;
	}
	return n;
}

/* ---- fingerprint and message ---- */

/* Hex SHA-256 of rule_id NUL unit_code NUL period. */
void
alert_fingerprint(const char *rule_id, const char *unit_code, const struct period *p,
    char out[ALERT_FINGERPRINT_LEN + 1])
{
	unsigned char digest[SHA256_LEN];
	char ps[PERIOD_STR_MAX];
	struct buf b;

	buf_init(&b);
	buf_append(&b, rule_id, strlen(rule_id) + 1);
	buf_append(&b, unit_code, strlen(unit_code) + 1);
	buf_puts(&b, period_format(p, ps, sizeof(ps)));
	sha256(b.data, b.len, digest);
	hex_encode(digest, sizeof(digest), out);
	buf_free(&b);
}

/* The kind the judged quantity of r is written as. */
enum metric_kind
rule_value_kind(const struct rule *r, enum metric_kind metric_kind)
{
	if ((unsigned)r->kind >= RULE_KIND_COUNT || re_kinds[r->kind].value_kind < 0)
		return metric_kind;
	return (enum metric_kind)re_kinds[r->kind].value_kind;
}

/* Write x for a message; see ruleeval.h. */
char *
alert_format_value(enum metric_kind kind, double x, char *out, size_t len)
{
	char *dot;

	if (len == 0)
		return out;
	switch (kind) {
	case METRIC_RATE:
		snprintf(out, len, "%.1f%%", x * 100 + 0.0);
		break;
	case METRIC_COUNT:
		snprintf(out, len, "%.0f", x + 0.0);
		break;
	default:
		snprintf(out, len, "%.2f", x + 0.0);
		dot = strchr(out, '.');
		if (dot != NULL) {
			char *end = out + strlen(out);

			while (end > dot + 1 && end[-1] == '0')
				*--end = '\0';
			if (end == dot + 1)
				*dot = '\0';
		}
		break;
	}
	/* "-0", "-0.0%": a value that rounds to zero is written without a sign. */
	if (out[0] == '-' && strspn(out + 1, "0.%") == strlen(out + 1))
		memmove(out, out + 1, strlen(out));
	return out;
}

/* The default template of kind; the threshold one for an invalid kind. */
const char *
alert_default_template(enum rule_kind kind)
{
	if ((unsigned)kind >= RULE_KIND_COUNT)
		kind = RULE_THRESHOLD;
	return re_kinds[kind].template;
}

/* {unit}: the unit's name. */
static void
re_fill_unit(struct buf *b, const struct alert_message_ctx *c)
{
	buf_puts(b, c->unit != NULL ? c->unit : "");
}

/* {metric}: the metric's Chinese name. */
static void
re_fill_metric(struct buf *b, const struct alert_message_ctx *c)
{
	buf_puts(b, c->metric != NULL ? c->metric : "");
}

/* {value}: the judged value, written for its kind. */
static void
re_fill_value(struct buf *b, const struct alert_message_ctx *c)
{
	char s[32];

	buf_puts(b, alert_format_value(c->kind, c->value, s, sizeof(s)));
}

/* {bound}: the bound, written like the value. */
static void
re_fill_bound(struct buf *b, const struct alert_message_ctx *c)
{
	char s[32];

	buf_puts(b, alert_format_value(c->kind, c->bound, s, sizeof(s)));
}

/* {op}: the comparison in Chinese words. */
static void
re_fill_op(struct buf *b, const struct alert_message_ctx *c)
{
	buf_puts(b, (unsigned)c->op < OP_COUNT ? re_ops[c->op].zh : "");
}

/* {period}: the canonical period string. */
static void
re_fill_period(struct buf *b, const struct alert_message_ctx *c)
{
	char s[PERIOD_STR_MAX];

	if (c->period != NULL)
		buf_puts(b, period_format(c->period, s, sizeof(s)));
}

/* {severity}: the Chinese severity name. */
static void
re_fill_severity(struct buf *b, const struct alert_message_ctx *c)
{
	buf_puts(b, (unsigned)c->severity < SEV_COUNT ? severity_name_zh(c->severity) : "");
}

/* The placeholders alert_message knows, by name. */
static const struct {
	const char *name;
	void (*fill)(struct buf *, const struct alert_message_ctx *);
} re_placeholders[] = {
	{"unit", re_fill_unit},
	{"metric", re_fill_metric},
	{"value", re_fill_value},
	{"bound", re_fill_bound},
	{"op", re_fill_op},
	{"period", re_fill_period},
	{"severity", re_fill_severity},
};

/*
 * Render the message; see ruleeval.h. A '{' that does not start a known
 * placeholder is copied and scanning resumes right after it, so "{{unit}"
 * gives "{" and the unit's name.
 */
char *
alert_message(const struct rule *r, const struct alert_message_ctx *ctx)
{
	const char *t = r->message != NULL ? r->message : alert_default_template(r->kind);
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "");
	while (*t != '\0') {
		const char *open = strchr(t, '{');
		size_t i;

		if (open == NULL) {
			buf_puts(&b, t);
			break;
		}
		buf_append(&b, t, (size_t)(open - t));
		t = open + 1;
		for (i = 0; i < ARRAY_LEN(re_placeholders); i++) {
			size_t n = strlen(re_placeholders[i].name);

			if (strncmp(t, re_placeholders[i].name, n) == 0 && t[n] == '}') {
				re_placeholders[i].fill(&b, ctx);
				t += n + 1;
				break;
			}
		}
		if (i == ARRAY_LEN(re_placeholders))
			buf_putc(&b, '{');
	}
	return buf_steal(&b);
}
