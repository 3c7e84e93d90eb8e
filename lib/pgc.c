/*
 * pgc.c: see pgc.h. The shape follows libpq's own pipeline test and
 * pgbouncer: PQconnectStartParams + PQconnectPoll driven by socket readiness,
 * PQsocket re-read after every poll, PQflush until 0, PQconsumeInput then
 * PQgetResult while !PQisBusy.
 */
#include "pgc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "util.h"

enum pgc_state { PGC_DOWN, PGC_CONNECTING, PGC_SETUP, PGC_READY };

struct pgc_job {
	TAILQ_ENTRY(pgc_job) entry;
	pgc_job_cb cb; /* NULL for the internal setup job */
	void *arg;
	int nstmts;
	int cur;         /* statement whose results are being read */
	bool got_result; /* cur has produced its result */
	char *sqlstate;
	char *error;
	PGresult **results;
};

TAILQ_HEAD(pgc_jobq, pgc_job);

struct pgc {
	struct event_base *base;
	const struct pgc_config *cfg;
	enum pgc_state state;
	PGconn *conn;
	struct event *io_ev;    /* connect polling, then persistent read */
	struct event *wr_ev;    /* write readiness while PQflush returns 1 */
	struct event *timer_ev; /* connect timeout and reconnect back-off */
	struct event *fail_ev;  /* deferred teardown */
	char *fail_reason;
	struct pgc_jobq jobs;
	int njobs;
	int backoff_ms;
	unsigned long connects;
};

static void pgc_connect(struct pgc *c);
static void pgc_teardown(struct pgc *c, const char *why);

/* Free a job and the results it still holds. */
static void
job_free(struct pgc_job *j)
{
	for (int i = 0; i < j->nstmts; i++)
		PQclear(j->results[i]);
	free(j->results);
	free(j->sqlstate);
	free(j->error);
	free(j);
}

/* Run j's callback with its outcome, then free it. j is already unlinked. */
static void
job_finish(struct pgc *c, struct pgc_job *j, bool ok, const char *conn_error)
{
	struct pgc_outcome out;

	if (j->cb == NULL) {
		/* The setup job: its success makes the connection usable. */
		if (ok && c->state == PGC_SETUP) {
			c->state = PGC_READY;
			c->backoff_ms = 100;
			c->connects++;
			log_info("db %s: connected", c->cfg->name);
			if (c->cfg->on_state != NULL)
				c->cfg->on_state(c, true, c->cfg->arg);
		} else if (!ok && c->state == PGC_SETUP) {
			log_error("db %s: setup failed: %s", c->cfg->name,
			    j->error ? j->error : conn_error);
			if (c->fail_reason == NULL)
				c->fail_reason = xstrdup("setup failed");
			event_active(c->fail_ev, 0, 0);
		}
		job_free(j);
		return;
	}
	memset(&out, 0, sizeof out);
	out.ok = ok;
	out.sqlstate = j->sqlstate;
	out.error = ok ? NULL : (j->error ? j->error : conn_error);
	out.results = j->results;
	out.nresults = j->nstmts;
	j->cb(&out, j->arg);
	job_free(j);
}

/* Push buffered output; arm the write event while libpq has more to send. */
static int
pgc_flush(struct pgc *c)
{
	int r = PQflush(c->conn);

	if (r < 0)
		return -1;
	if (r == 1)
		event_add(c->wr_ev, NULL);
	else
		event_del(c->wr_ev);
	return 0;
}

/* Read every complete result and dispatch finished jobs. */
static void
pgc_drain(struct pgc *c)
{
	struct pgc_job *j;

	while ((j = TAILQ_FIRST(&c->jobs)) != NULL && c->conn != NULL) {
		PGresult *r;
		ExecStatusType st;

		if (PQisBusy(c->conn))
			break;
		r = PQgetResult(c->conn);
		if (r == NULL) {
			/* End of one statement's results. */
			if (!j->got_result)
				break;
			j->cur++;
			j->got_result = false;
			continue;
		}
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			bool ok = j->error == NULL && j->cur == j->nstmts;

			PQclear(r);
			TAILQ_REMOVE(&c->jobs, j, entry);
			c->njobs--;
			job_finish(c, j, ok, "statement results missing");
			continue;
		}
		if (st == PGRES_FATAL_ERROR && j->error == NULL) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

			j->sqlstate = xstrdup(state ? state : "XX000");
			j->error = xstrdup(msg ? msg : PQresultErrorMessage(r));
		}
		if (j->cur < j->nstmts && j->results[j->cur] == NULL)
			j->results[j->cur] = r;
		else
			PQclear(r);
		j->got_result = true;
	}
}

/* Hand every notification libpq has parsed to the owner. */
static void
pgc_notifies(struct pgc *c)
{
	PGnotify *n;

	while (c->conn != NULL && (n = PQnotifies(c->conn)) != NULL) {
		if (c->cfg->on_notify != NULL)
			c->cfg->on_notify(c, n->relname, n->extra, c->cfg->arg);
		PQfreemem(n);
	}
}

/* Socket readable after connecting: input, notifications, results. */
static void
pgc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgc *c = arg;

	(void)fd;
	(void)what;
	if (!PQconsumeInput(c->conn)) {
		pgc_teardown(c, PQerrorMessage(c->conn));
		return;
	}
	pgc_notifies(c);
	pgc_drain(c);
	/*
	 * libpq parses a NotificationResponse only once the results before it
	 * in the buffer have been taken, so one that arrived behind a job's
	 * results surfaces during the drain. Without this second look it would
	 * wait for the next byte on the socket, which may be minutes away.
	 */
	pgc_notifies(c);
	if (c->conn != NULL && pgc_flush(c) < 0)
		pgc_teardown(c, PQerrorMessage(c->conn));
}

/* Socket writable while output was pending. */
static void
pgc_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgc *c = arg;

	(void)fd;
	(void)what;
	if (pgc_flush(c) < 0)
		pgc_teardown(c, PQerrorMessage(c->conn));
}

static void
pgc_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgc *c = arg;
	char *why = c->fail_reason;

	(void)fd;
	(void)what;
	c->fail_reason = NULL;
	pgc_teardown(c, why ? why : "connection failed");
	free(why);
}

/* Queue the internal setup job: prepares and setup statements. */
static int
pgc_send_setup(struct pgc *c)
{
	const struct pgc_config *cfg = c->cfg;
	struct pgc_job *j = xcalloc(1, sizeof *j);

	j->nstmts = (int)(cfg->nprepared + cfg->nsetup);
	j->results = xcalloc((size_t)j->nstmts + 1, sizeof *j->results);
	for (size_t i = 0; i < cfg->nsetup; i++) {
		if (!PQsendQueryParams(c->conn, cfg->setup_sql[i], 0, NULL, NULL, NULL, NULL, 0))
			goto fail;
	}
	for (size_t i = 0; i < cfg->nprepared; i++) {
		if (!PQsendPrepare(c->conn, cfg->prepared[i].name, cfg->prepared[i].sql, 0, NULL))
			goto fail;
	}
	if (!PQpipelineSync(c->conn))
		goto fail;
	TAILQ_INSERT_TAIL(&c->jobs, j, entry);
	c->njobs++;
	return pgc_flush(c);
fail:
	job_free(j);
	return -1;
}

/* Connection established: switch to pipeline mode and start setup. */
static void
pgc_connected(struct pgc *c)
{
	evtimer_del(c->timer_ev);
	if (PQsetnonblocking(c->conn, 1) != 0 || !PQenterPipelineMode(c->conn)) {
		pgc_teardown(c, PQerrorMessage(c->conn));
		return;
	}
	event_free(c->io_ev);
	c->io_ev = event_new(c->base, PQsocket(c->conn), EV_READ | EV_PERSIST, pgc_read_cb, c);
	c->wr_ev = event_new(c->base, PQsocket(c->conn), EV_WRITE, pgc_write_cb, c);
	if (c->io_ev == NULL || c->wr_ev == NULL || event_add(c->io_ev, NULL) != 0) {
		pgc_teardown(c, "cannot register socket events");
		return;
	}
	c->state = PGC_SETUP;
	if (pgc_send_setup(c) < 0)
		pgc_teardown(c, PQerrorMessage(c->conn));
}

static void pgc_poll_cb(evutil_socket_t fd, short what, void *arg);

/* Advance PQconnectPoll and wait for the socket state it asks for. */
static void
pgc_poll(struct pgc *c)
{
	PostgresPollingStatusType st = PQconnectPoll(c->conn);
	short what;

	switch (st) {
	case PGRES_POLLING_OK:
		pgc_connected(c);
		return;
	case PGRES_POLLING_READING:
		what = EV_READ;
		break;
	case PGRES_POLLING_WRITING:
		what = EV_WRITE;
		break;
	default:
		pgc_teardown(c, PQerrorMessage(c->conn));
		return;
	}
	/* The socket can change between polls (multi-host strings, SSL retry). */
	if (c->io_ev != NULL)
		event_free(c->io_ev);
	c->io_ev = event_new(c->base, PQsocket(c->conn), what, pgc_poll_cb, c);
	if (c->io_ev == NULL || event_add(c->io_ev, NULL) != 0)
		pgc_teardown(c, "cannot register socket event");
}

static void
pgc_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pgc_poll(arg);
}

/* Timer: in CONNECTING it is the connect timeout, in DOWN the back-off. */
static void
pgc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgc *c = arg;

	(void)fd;
	(void)what;
	if (c->state == PGC_DOWN)
		pgc_connect(c);
	else if (c->state == PGC_CONNECTING || c->state == PGC_SETUP)
		pgc_teardown(c, "connect timeout");
}

static void
pgc_arm_timer(struct pgc *c, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(c->timer_ev, &tv);
}

static void
pgc_connect(struct pgc *c)
{
	const char *keys[8], *vals[8];
	int n = 0;

	if (c->cfg->conninfo != NULL && c->cfg->conninfo[0] != '\0') {
		keys[n] = "dbname";
		vals[n++] = c->cfg->conninfo;
	}
	keys[n] = "fallback_application_name";
	vals[n++] = "edumond";
	keys[n] = "keepalives";
	vals[n++] = "1";
	keys[n] = "keepalives_idle";
	vals[n++] = "30";
	keys[n] = NULL;
	vals[n] = NULL;

	c->state = PGC_CONNECTING;
	c->conn = PQconnectStartParams(keys, vals, 1);
	if (c->conn == NULL || PQstatus(c->conn) == CONNECTION_BAD) {
		pgc_teardown(c, c->conn ? PQerrorMessage(c->conn) : "out of memory");
		return;
	}
	pgc_arm_timer(c, c->cfg->connect_timeout_ms > 0 ? c->cfg->connect_timeout_ms : 5000);
	pgc_poll(c);
}

/*
 * Close the connection, fail every job in flight (their outcome is unknown:
 * the server may have committed), and schedule a reconnect.
 */
static void
pgc_teardown(struct pgc *c, const char *why)
{
	struct pgc_jobq failed;
	struct pgc_job *j;
	bool was_ready = c->state == PGC_READY;
	char *reason = xstrdup(why ? why : "connection failed");
	size_t len = strlen(reason);

	while (len > 0 && (reason[len - 1] == '\n' || reason[len - 1] == ' '))
		reason[--len] = '\0';
	if (c->io_ev != NULL) {
		event_free(c->io_ev);
		c->io_ev = NULL;
	}
	if (c->wr_ev != NULL) {
		event_free(c->wr_ev);
		c->wr_ev = NULL;
	}
	event_del(c->fail_ev);
	if (c->conn != NULL) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
	c->state = PGC_DOWN;
	TAILQ_INIT(&failed);
	TAILQ_CONCAT(&failed, &c->jobs, entry);
	c->njobs = 0;
	if (was_ready)
		log_warn("db %s: connection lost: %s", c->cfg->name, reason);
	else
		log_warn("db %s: cannot connect: %s (retry in %d ms)", c->cfg->name, reason,
		    c->backoff_ms);
	pgc_arm_timer(c, c->backoff_ms);
	c->backoff_ms = c->backoff_ms * 2 > 5000 ? 5000 : c->backoff_ms * 2;
	if (was_ready && c->cfg->on_state != NULL)
		c->cfg->on_state(c, false, c->cfg->arg);
	while ((j = TAILQ_FIRST(&failed)) != NULL) {
		TAILQ_REMOVE(&failed, j, entry);
		job_finish(c, j, false, reason);
	}
	free(reason);
}

struct pgc *
pgc_new(struct event_base *base, const struct pgc_config *cfg)
{
	struct pgc *c = xcalloc(1, sizeof *c);

	c->base = base;
	c->cfg = cfg;
	c->state = PGC_DOWN;
	c->backoff_ms = 100;
	TAILQ_INIT(&c->jobs);
	c->timer_ev = evtimer_new(base, pgc_timer_cb, c);
	c->fail_ev = event_new(base, -1, 0, pgc_fail_cb, c);
	if (c->timer_ev == NULL || c->fail_ev == NULL)
		abort();
	pgc_connect(c);
	return c;
}

void
pgc_free(struct pgc *c)
{
	struct pgc_job *j;

	if (c == NULL)
		return;
	if (c->io_ev != NULL)
		event_free(c->io_ev);
	if (c->wr_ev != NULL)
		event_free(c->wr_ev);
	event_free(c->timer_ev);
	event_free(c->fail_ev);
	if (c->conn != NULL)
		PQfinish(c->conn);
	c->conn = NULL;
	c->state = PGC_DOWN;
	while ((j = TAILQ_FIRST(&c->jobs)) != NULL) {
		TAILQ_REMOVE(&c->jobs, j, entry);
		job_finish(c, j, false, "shutting down");
	}
	free(c->fail_reason);
	free(c);
}

bool
pgc_sqlstate_transient(const char *st)
{
	return strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strncmp(st, "58", 2) == 0 || strcmp(st, "25006") == 0 || strcmp(st, "55P03") == 0;
}

bool
pgc_ready(const struct pgc *c)
{
	return c->state == PGC_READY && c->fail_reason == NULL;
}

int
pgc_inflight(const struct pgc *c)
{
	return c->njobs;
}

unsigned long
pgc_connects(const struct pgc *c)
{
	return c->connects;
}

int
pgc_submit(struct pgc *c, const struct pgc_stmt *stmts, int nstmts, pgc_job_cb cb, void *arg)
{
	struct pgc_job *j;

	if (!pgc_ready(c))
		return -1;
	for (int i = 0; i < nstmts; i++) {
		int ok = stmts[i].prepared != NULL
		    ? PQsendQueryPrepared(c->conn, stmts[i].prepared, stmts[i].nparams,
		          stmts[i].values, NULL, NULL, 0)
		    : PQsendQueryParams(c->conn, stmts[i].sql, stmts[i].nparams, NULL,
		          stmts[i].values, NULL, NULL, 0);

		if (!ok)
			goto broken;
	}
	if (!PQpipelineSync(c->conn))
		goto broken;
	j = xcalloc(1, sizeof *j);
	j->cb = cb;
	j->arg = arg;
	j->nstmts = nstmts;
	j->results = xcalloc((size_t)nstmts + 1, sizeof *j->results);
	TAILQ_INSERT_TAIL(&c->jobs, j, entry);
	c->njobs++;
	if (pgc_flush(c) < 0) {
		/* The job is queued: the deferred teardown will fail it. */
		if (c->fail_reason == NULL)
			c->fail_reason = xstrdup(PQerrorMessage(c->conn));
		event_active(c->fail_ev, 0, 0);
	}
	return 0;
broken:
	/* Part of a job may sit in the pipeline: the connection is unusable. */
	if (c->fail_reason == NULL)
		c->fail_reason = xstrdup(PQerrorMessage(c->conn));
	event_active(c->fail_ev, 0, 0);
	return -1;
}
