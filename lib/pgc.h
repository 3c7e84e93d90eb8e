/*
 * pgc.h: one PostgreSQL connection driven by libevent, never blocking.
 *
 * The connection is always in libpq pipeline mode. Work is submitted as a
 * job: a list of statements sent back to back and closed by one Sync, so a
 * job without BEGIN runs as one implicit transaction: it commits at the Sync
 * when every statement succeeded and rolls back as a whole otherwise. Several
 * jobs may be in flight; their results come back in order.
 *
 * States: DOWN -> CONNECTING -> SETUP (prepares the owner's statements, runs
 * its setup SQL) -> READY. Any failure closes the socket, fails every job in
 * flight, and retries after a back-off (100 ms doubling to 5 s). The owner is
 * told of every READY/DOWN change through the state callback.
 *
 * Invariant: a job's callback runs exactly once, from the event loop, never
 * from inside pgc_submit. The PGresults it sees are freed after it returns.
 */
#ifndef EDUMON_PGC_H
#define EDUMON_PGC_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

struct event_base;
struct pgc;

struct pgc_prepared {
	const char *name;
	const char *sql;
};

struct pgc_stmt {
	const char *prepared; /* name of a prepared statement, or NULL */
	const char *sql;      /* used when prepared is NULL */
	int nparams;
	const char *const *values; /* borrowed only during pgc_submit */
};

/*
 * The outcome of a job. ok: every statement succeeded and the Sync came
 * back (committed). Otherwise error says why; sqlstate is set when the
 * server reported the error (then nothing was committed), NULL when the
 * connection broke with the job in flight (the outcome is unknown).
 */
struct pgc_outcome {
	bool ok;
	const char *sqlstate;
	const char *error;
	PGresult *const *results; /* one per statement; NULL if not received */
	int nresults;
};

typedef void (*pgc_job_cb)(const struct pgc_outcome *out, void *arg);
typedef void (*pgc_state_cb)(struct pgc *c, bool ready, void *arg);
typedef void (*pgc_notify_cb)(struct pgc *c, const char *channel, const char *payload,
    void *arg);

struct pgc_config {
	const char *conninfo; /* connection string or URL; NULL: libpq defaults */
	const char *name;     /* for logs: "writer-1", "control" */
	const struct pgc_prepared *prepared;
	size_t nprepared;
	const char *const *setup_sql; /* run in order after connecting */
	size_t nsetup;
	int connect_timeout_ms;
	pgc_state_cb on_state;
	pgc_notify_cb on_notify;
	void *arg;
};

/*
 * Is a server error (SQLSTATE) worth answering 503, try again, rather than
 * 500: connection trouble, serialization failures and deadlocks, lack of
 * resources, operator intervention (shutdown, statement timeout), system
 * errors, a read-only transaction (a standby) or a lock not available.
 */
bool pgc_sqlstate_transient(const char *sqlstate);

/* A connection that starts connecting at once. The config's strings and
 * arrays must outlive the connection. */
struct pgc *pgc_new(struct event_base *base, const struct pgc_config *cfg);
/* Close and free; in-flight jobs fail with "shutting down". */
void pgc_free(struct pgc *c);
bool pgc_ready(const struct pgc *c);
/* Jobs sent and not yet answered. */
int pgc_inflight(const struct pgc *c);
/* Number of successful connections so far (1 after the first). */
unsigned long pgc_connects(const struct pgc *c);

/*
 * Send stmts as one job. Returns 0 when sent; the callback will run later.
 * Returns -1 when the connection is not READY or sending failed at once; the
 * callback will not run.
 */
int pgc_submit(struct pgc *c, const struct pgc_stmt *stmts, int nstmts, pgc_job_cb cb,
    void *arg);

#endif
