/*
 * payload.h: turn a submission body (JSON object, JSON array of objects, or
 * CSV) into validated observations, or into a precise list of what is wrong.
 *
 * Pure: no I/O. The caller supplies the catalog, the registry, who is
 * asking (the principal) and today's date in the deployment's time zone.
 *
 * JSON form (one object, or an array of such objects):
 *   {"school": "3207030001",            -- or "unit" for an office's own figures
 *    "period": "2021-09",
 *    "submission_id": "any client key", -- optional, <= 128 chars
 *    "metrics": {"class_size_max": 52,
 *                "junior_progression_rate": {"numerator": 49, "denominator": 50}}}
 *
 * CSV form: rows of school,period,metric,value,numerator,denominator, with
 * an optional header row naming exactly those columns. For a rate, value is
 * empty and numerator/denominator are given; otherwise value is given and
 * numerator/denominator are empty.
 *
 * Rules (each violation is one entry in the error list, with a path such as
 * "[2].metrics.class_size_max" or "row 4.value"):
 * - unknown top-level field; missing or non-string school/unit/period;
 *   both school and unit; empty or non-object metrics;
 * - unit not within the principal's reach (school token: its own unit only;
 *   reporter: its unit and everything beneath; admin: any existing unit):
 *   this is PAYLOAD_FORBIDDEN, never a 422, and the message must not reveal
 *   whether the code exists;
 * - unknown metric code; metric not reported by that kind of unit (unit_kinds)
 *   or by a school of those stages (stages, when both masks are non-zero and
 *   disjoint);
 * - malformed period; period of the wrong kind for the metric ("class_size_max
 *   is reported per term (e.g. 2021-2022-1), not per month"); period not yet
 *   started (start > today);
 * - numbers: not finite; counts not integral or negative ("negative count");
 *   value outside [min, max]; rate given as a bare number (a rate needs
 *   numerator and denominator; a bare number in (1, 100] is called out as "a
 *   percentage"); a value metric whose max <= 1 given a number in (1, 100]
 *   ("percent given where a fraction is expected"); numerator or denominator
 *   not a non-negative integer, denominator 0, numerator above denominator;
 *   rate outside [min, max]; extra fields in a rate object;
 * - the same (unit, metric, period) twice in one request.
 */
#ifndef EDUMON_PAYLOAD_H
#define EDUMON_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "period.h"
#include "registry.h"

enum role { ROLE_SCHOOL, ROLE_REPORTER, ROLE_MONITOR, ROLE_ADMIN, ROLE_COUNT };

/* "school", "reporter", "monitor", "admin". */
const char *role_name(enum role r);
int role_parse(const char *s, enum role *out);

/* Who is asking: resolved from the bearer token. */
struct principal {
	int token_id;
	enum role role;
	int unit_id; /* 0 for admin */
};

struct observation {
	const struct unit *unit;     /* borrowed from the registry */
	const struct metric *metric; /* borrowed from the catalog */
	struct period period;
	char period_text[PERIOD_STR_MAX]; /* canonical form */
	bool has_value;       /* count and value metrics */
	double value;         /* for rates: numerator / denominator */
	bool has_ratio;       /* rate metrics */
	int64_t numerator;
	int64_t denominator;
};

struct payload {
	size_t nobs;
	struct observation *obs;
	/* submission_id of the first object that gave one, else NULL. */
	char *client_key;
};

enum payload_status {
	PAYLOAD_OK,
	PAYLOAD_MALFORMED, /* 400: not JSON / not CSV; offset tells where */
	PAYLOAD_FORBIDDEN, /* 403: a unit outside the principal's reach */
	PAYLOAD_INVALID,   /* 422: valid syntax, invalid data; see errors */
	PAYLOAD_TOO_LARGE  /* 413: more observations than the limit */
};

struct payload_issue {
	char *path;
	char *message;
};

struct payload_result {
	enum payload_status status;
	size_t offset;     /* PAYLOAD_MALFORMED: byte offset, when known */
	char *message;     /* summary for every non-OK status */
	size_t nissues;    /* PAYLOAD_INVALID: one per offending field */
	struct payload_issue *issues;
};

struct payload_limits {
	size_t max_observations; /* per request */
	int max_depth;           /* JSON nesting */
};

struct payload_ctx {
	const struct catalog *catalog;
	const struct registry *registry;
	const struct principal *principal;
	int32_t today; /* days since 1970-01-01 in the deployment's time zone */
	struct payload_limits limits;
};

/*
 * Parse and validate. On PAYLOAD_OK sets *out (caller frees with
 * payload_free) and leaves res without message or issues. Otherwise *out is
 * NULL and res holds the status and messages (free with
 * payload_result_clear). A request is all-or-nothing: any issue rejects it.
 * Observations keep request order.
 */
enum payload_status payload_parse_json(const struct payload_ctx *ctx, const char *body,
    size_t len, struct payload **out, struct payload_result *res);
enum payload_status payload_parse_csv(const struct payload_ctx *ctx, const char *body,
    size_t len, struct payload **out, struct payload_result *res);

void payload_free(struct payload *p);
void payload_result_clear(struct payload_result *res);

/*
 * The error document for a non-OK result:
 * {"error":"invalid_submission","message":"...","details":[{"path":...,"message":...}]}
 * with error codes malformed_body, forbidden, invalid_submission,
 * too_many_observations; "offset" is included for malformed bodies. Caller
 * frees the string.
 */
char *payload_result_json(const struct payload_result *res);

#endif
