/*
 * receipt.h: the JSON receipt a school gets for a committed submission.
 * Pure. The same function renders the first answer and every idempotent
 * replay, so a retry returns exactly the original receipt.
 */
#ifndef EDUMON_RECEIPT_H
#define EDUMON_RECEIPT_H

#include "payload.h"

/*
 * {"submission_id":"...","idempotency_key":"...","observations":N,
 *  "new":n,"corrections":c,
 *  "items":[{"unit":"...","metric":"...","period":"...","status":"new",
 *            "revision":1}, ...],
 *  "alerts":ALERTS}
 * revisions[i] is the stored revision of p->obs[i]: 1 is a new observation,
 * more is a correction. alerts_json is a JSON array from
 * receipt_alerts_json (NULL: "[]"). Caller frees the result.
 */
char *receipt_json(const char *submission_id, const char *idempotency_key,
    const struct payload *p, const int *revisions, const char *alerts_json);

/* An alert change a submission caused, as a receipt lists it. */
struct receipt_alert {
	long long id;         /* alert number; 0: not stored yet (omitted) */
	const char *rule;
	const char *unit;     /* unit code */
	const char *period;   /* canonical period */
	const char *event;    /* fired, escalated, deescalated, resolved */
	const char *severity; /* info, warning, critical */
};

/*
 * [{"id":12,"rule":"...","unit":"...","period":"...","event":"fired",
 *   "severity":"warning"}, ...] in the order given. Caller frees.
 */
char *receipt_alerts_json(const struct receipt_alert *a, size_t n);

/* {"error":code,"message":message} with proper escaping; caller frees. */
char *error_json(const char *code, const char *message);

#endif
