/*
 * directory.h: what edumond knows of the database's small tables (the
 * registry of units, the metric catalog, the live API tokens, the schema
 * version), loaded over its own control connection and reloaded when
 * `edumon` announces a change (NOTIFY edumon_registry), on SIGHUP, and every
 * minute as a safety net.
 *
 * A load builds a new immutable snapshot; requests hold a reference to the
 * snapshot they started with, so a reload never frees what a request in
 * flight still points at.
 */
#ifndef EDUMON_DIRECTORY_H
#define EDUMON_DIRECTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "pgc.h"
#include "payload.h"
#include "registry.h"
#include "token.h"

struct event_base;
struct directory;
struct tokens;

struct snapshot {
	int refs;
	int schema_version;
	/* A hash of every unit and metric row: equal between two snapshots
	 * when the registry and catalog did not change (tokens may have). */
	uint64_t content_version;
	struct catalog *catalog;
	struct registry *registry;
	struct tokens *tokens;
};

/* Start loading at once over a connection of its own. */
struct directory *directory_new(struct event_base *base, const char *conninfo);
void directory_free(struct directory *d);
/* Ask for a reload now (SIGHUP). */
void directory_reload(struct directory *d);

/* The current snapshot with a reference taken, or NULL before the first
 * successful load. Release it with snapshot_release. */
struct snapshot *directory_acquire(struct directory *d);
void snapshot_release(struct snapshot *s);
/*
 * Record that a token was used. The daemon writes api_token.last_used_at
 * for the tokens used since the last write about every ten seconds, in one
 * statement, off the request path.
 */
void directory_note_use(struct directory *d, int token_id);

/*
 * Run a job on the control connection (see pgc_submit): 0 when sent, -1
 * when the connection is down (the callback will not run).
 */
int directory_submit(struct directory *d, const struct pgc_stmt *stmts, int n,
    pgc_job_cb cb, void *arg);

/*
 * True once the database was seen with synchronous_commit and fsync not off
 * (checked at every connect of the control connection); false before that
 * and when either is off, which is logged as a warning.
 */
bool directory_durable(const struct directory *d);

/* True when the control connection is up. */
bool directory_connected(const struct directory *d);

/*
 * Resolve a presented bearer token against the snapshot. Returns 0 and
 * fills *p when the token is live; -1 when it is malformed, unknown or
 * revoked. The comparison of digests is constant-time.
 */
int snapshot_authenticate(const struct snapshot *s, const char *token, size_t len,
    struct principal *p);

/* Token table, exposed for tests. */
struct tokens *tokens_new(void);
void tokens_free(struct tokens *t);
void tokens_add(struct tokens *t, const unsigned char hash[SHA256_LEN], int token_id,
    enum role role, int unit_id);
int tokens_lookup(const struct tokens *t, const unsigned char hash[SHA256_LEN],
    struct principal *p);

#endif
