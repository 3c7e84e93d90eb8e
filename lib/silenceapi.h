/*
 * silenceapi.h: the I/O half of the silences API (GET /v1/silences, POST
 * /v1/silences, POST /v1/silences/{id}/expire). Parsing and JSON are in
 * silence.h; this module owns one PostgreSQL connection of its own
 * ("silences-api", pgc) and runs silence.h's statements on it.
 *
 * Answers go through alertapi's reply type, so the server answers silences
 * and alerts alike.
 *
 * Invariants: scope_unit_id is the caller's unit (0 for admin); a silence
 * whose unit lies outside that subtree, or that has no unit, is "not found"
 * for a monitor, exactly like one that does not exist.
 */
#ifndef EDUMON_SILENCEAPI_H
#define EDUMON_SILENCEAPI_H

#include <stdbool.h>
#include <stdint.h>

#include "alertapi.h"
#include "silence.h"

struct event_base;
struct silenceapi;

/* A module with its own connection, connecting at once. conninfo must
 * outlive it. */
struct silenceapi *silenceapi_new(struct event_base *base, const char *conninfo);
/* Close; requests in flight are answered 503 before it returns. NULL is a no-op. */
void silenceapi_free(struct silenceapi *s);
bool silenceapi_ready(const struct silenceapi *s);

/*
 * Start a request. Each returns 0 when the query is on its way: cb runs
 * exactly once, later, from the loop, with 200 (list, expire), 201
 * (create), 400, 404, 500 or 503. Each returns -1 when the connection is
 * down: cb will not run and the caller answers 503.
 */
int silenceapi_list(struct silenceapi *s, int scope_unit_id, bool all, alertapi_cb cb, void *arg);
/* spec as silence_body_parse made it (already checked against the caller's
 * reach); token_id is recorded with it. */
int silenceapi_create(
    struct silenceapi *s, const struct silence_spec *spec, int token_id, alertapi_cb cb, void *arg);
/* Expire silence id; one that has ended is answered as it is (200). */
int silenceapi_expire(
    struct silenceapi *s, int64_t id, int scope_unit_id, alertapi_cb cb, void *arg);

#endif
