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
 *            "revision":1}, ...]}
 * revisions[i] is the stored revision of p->obs[i]: 1 is a new observation,
 * more is a correction. Caller frees the result.
 */
char *receipt_json(const char *submission_id, const char *idempotency_key,
    const struct payload *p, const int *revisions);

/* {"error":code,"message":message} with proper escaping; caller frees. */
char *error_json(const char *code, const char *message);

#endif
