/*
 * rules.h: threshold rules, as declared in JSON files (comments allowed) in a
 * rules directory; deploy/rules/ ships the default pack, one rule for every
 * target in the source plans.
 *
 * This header holds the rule model shared by the parser (rules.c) and the
 * pure evaluator (ruleeval.h). Nothing here does I/O except rules_load_dir,
 * which only reads files.
 *
 * A rule file is a JSON object {"rules": [RULE, ...]} or a JSON array of
 * RULEs; line comments (// ...) and block comments (slash-star ... star-slash)
 * are allowed outside strings. A RULE:
 *
 *   {
 *     "id": "class_size.school",          unique across the set, [a-z0-9_.-]{1,64}
 *     "title": "大班额",                  Chinese title district staff recognise
 *     "source": "001 §三 3",              where the target comes from
 *     "kind": "threshold",                threshold | missing | trend | dispersion | quota
 *     "metric": "class_size_max",         a code of the metric catalog
 *     "scope": "school",                  school | district | city
 *     "filters": {"stages": ["junior"], "urban": true, "public": true},   all optional
 *     "bands": [{"severity": "warning", "op": ">=", "value": 56},
 *               {"severity": "critical", "op": ">=", "value": 66}],
 *     "for": 1,                           consecutive periods in breach before firing
 *     "resolve_margin": 0.5,              hysteresis: clears only when the value is
 *                                         this far on the good side of the bound
 *     "completeness": 0.9,                aggregates: share of expected schools that must
 *                                         have reported before the aggregate is judged
 *     "grace_days": 10,                   missing: days after the period end
 *     "trend": {"mode": "yoy", "direction": "decrease"}            trend (yoy)
 *     "trend": {"mode": "baseline", "days": 14, "factor": 2.0, "min_delta": 0.02}
 *     "limit": 0.50,                      dispersion: coefficient-of-variation limit
 *     "quota": 3, "quota_period": "year", quota: cumulative count per period
 *     "labels": {"team": "safety"},
 *     "message": "{unit}的{metric}为{value}，{op}{bound}（{period}）"
 *   }
 *
 * Rates are judged as fractions: a ">= 98%" band is {"op": ">=", "value": 0.98}.
 */
#ifndef EDUMON_RULES_H
#define EDUMON_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"
#include "period.h"

enum rule_kind {
	RULE_THRESHOLD,
	RULE_MISSING,
	RULE_TREND,
	RULE_DISPERSION,
	RULE_QUOTA,
	RULE_KIND_COUNT
};

enum rule_scope { SCOPE_SCHOOL, SCOPE_DISTRICT, SCOPE_CITY, SCOPE_COUNT };

enum cmp_op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_COUNT };

/* Ordered: a higher value is more severe. SEV_OK means no breach. */
enum severity { SEV_OK, SEV_INFO, SEV_WARNING, SEV_CRITICAL, SEV_COUNT };

enum trend_mode { TREND_YOY, TREND_BASELINE };
enum trend_direction { TREND_DECREASE, TREND_INCREASE };

#define RULE_MAX_BANDS 4

/* A breach band: the value is in breach at this severity when
 * "value OP bound" holds. */
struct band {
	enum severity severity;
	enum cmp_op op;
	double bound;
};

struct rule_label {
	char *key;
	char *value;
};

struct rule {
	char *id;
	char *title;   /* Chinese */
	char *source;
	char *file;    /* the file it came from, for messages */
	enum rule_kind kind;
	char *metric;  /* catalog code */
	enum rule_scope scope;
	unsigned stages;   /* STAGE_BIT mask filter; 0 = any */
	int urban;         /* -1 any, 0 rural only, 1 urban only */
	int is_public;     /* -1 any, 0 private only, 1 public only */
	struct band bands[RULE_MAX_BANDS]; /* sorted by severity, ascending */
	size_t nbands;
	int for_periods;        /* >= 1 */
	double resolve_margin;  /* >= 0 */
	double completeness;    /* 0 < c <= 1; default 1 */
	int grace_days;         /* missing; default 0 */
	enum trend_mode trend_mode;
	enum trend_direction trend_direction;
	int baseline_days;      /* trend baseline window */
	double spike_factor;    /* trend baseline: value > factor * baseline */
	double min_delta;       /* trend baseline: and value - baseline >= min_delta */
	double limit;           /* dispersion */
	double quota;           /* quota */
	enum period_kind quota_period;
	struct rule_label *labels;
	size_t nlabels;
	char *message;          /* template; NULL: a default per kind */
};

struct ruleset {
	struct rule *rules;   /* sorted by id after rules_parse / rules_load_dir */
	size_t nrules;
	size_t nfiles;        /* files read by rules_load_dir (0 after rules_parse) */
	char version[65]; /* hex SHA-256 over the canonical definitions */
};

const char *rule_kind_name(enum rule_kind k);
const char *rule_scope_name(enum rule_scope s);
const char *cmp_op_name(enum cmp_op op); /* "<", "<=", ">", ">=", "==", "!=" */
const char *severity_name(enum severity s); /* "ok", "info", "warning", "critical" */
const char *severity_name_zh(enum severity s); /* "正常", "提示", "预警", "严重" */
/* "value OP bound"; false whenever value or bound is NaN (even for !=). */
bool cmp_apply(enum cmp_op op, double value, double bound);

/*
 * The canonical one-line JSON form of a rule (the form the version hash is
 * computed over, see rules.c); also what is mirrored into the database.
 * The caller frees it.
 */
char *rule_canonical(const struct rule *r);

/*
 * Parse one rule file's text (name is used in messages) and append its rules
 * to set. The catalog, when not NULL, is used to check metric codes, that the
 * metric's kind suits the rule kind, and that rate bounds are fractions.
 * Returns 0 (set re-sorted by id, version recomputed), or -1 with the set
 * unchanged and one line per problem appended to *errors (NULL or a string
 * from an earlier call; caller frees): "FILE: rule ID: FIELD: message". An id
 * already in set is an error too.
 */
int rules_parse(struct ruleset *set, const char *name, const char *text, size_t len,
    const struct catalog *cat, char **errors);

/*
 * Load every *.json file of dir in name order into a new set, check
 * cross-file constraints (unique ids) and compute the version hash. Returns
 * the set, or NULL with *errors listing every problem.
 */
struct ruleset *rules_load_dir(const char *dir, const struct catalog *cat, char **errors);

/* An empty set (version of no rules) for rules_parse; free with ruleset_free. */
struct ruleset *ruleset_new(void);
/* Free set and all its rules; NULL is a no-op. */
void ruleset_free(struct ruleset *set);
/* The rule with this id, or NULL. */
const struct rule *ruleset_find(const struct ruleset *set, const char *id);

#endif
