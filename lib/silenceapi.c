/*
 * silenceapi.c: see silenceapi.h. One pgc connection; each request is one
 * job, so an expiry and the read of the row it changed are one implicit
 * transaction.
 */
#include "silenceapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgc.h"
#include "receipt.h"
#include "util.h"

/* Interactive requests: a query that takes longer is cut off (503). */
static const char *const setup_sql[] = {
    "SET statement_timeout = 10000",
};

static const struct pgc_prepared prepared[] = {
    {"silence_insert", silence_sql_insert},
    {"silence_expire", silence_sql_expire},
    {"silence_get", silence_sql_get},
    {"silence_list", silence_sql_list},
};

struct silenceapi {
	struct pgc *pgc;
	struct pgc_config cfg;
};

enum op { OP_LIST, OP_CREATE, OP_EXPIRE };

/* One request in flight. */
struct job {
	enum op op;
	alertapi_cb cb;
	void *arg;
};

struct silenceapi *
silenceapi_new(struct event_base *base, const char *conninfo)
{
	struct silenceapi *s = xcalloc(1, sizeof *s);

	s->cfg.conninfo = conninfo;
	s->cfg.name = "silences-api";
	s->cfg.prepared = prepared;
	s->cfg.nprepared = ARRAY_LEN(prepared);
	s->cfg.setup_sql = setup_sql;
	s->cfg.nsetup = ARRAY_LEN(setup_sql);
	s->cfg.connect_timeout_ms = 5000;
	s->pgc = pgc_new(base, &s->cfg);
	return s;
}

void
silenceapi_free(struct silenceapi *s)
{
	if (s == NULL)
		return;
	pgc_free(s->pgc);
	free(s);
}

bool
silenceapi_ready(const struct silenceapi *s)
{
	return pgc_ready(s->pgc);
}

static void
answer(struct job *j, int status, const char *body)
{
	struct alertapi_reply r = {status, body, status == 503 ? 2 : 0};

	j->cb(&r, j->arg);
}

static void
answer_error(struct job *j, int status, const char *code, const char *message)
{
	char *body = error_json(code, message);

	answer(j, status, body);
	free(body);
}

/* Rows of res as silences: a list document, or the one silence. */
static void
render(struct buf *b, const PGresult *res, bool list)
{
	const char *col[SCOL_COUNT];

	if (list)
		buf_puts(b, "{\"silences\":[");
	for (int i = 0; i < PQntuples(res); i++) {
		if (i > 0)
			buf_putc(b, ',');
		for (int k = 0; k < SCOL_COUNT; k++)
			col[k] = PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);
		silence_json(b, col);
	}
	if (list)
		buf_puts(b, "]}");
}

static void
job_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct job *j = arg;
	const PGresult *res;
	struct buf b;

	if (!out->ok) {
		if (out->sqlstate == NULL || pgc_sqlstate_transient(out->sqlstate)) {
			log_warn("silences-api: %s", out->error);
			answer_error(j, 503, "database_unavailable",
			    "the database did not answer; retry later");
		} else if (strncmp(out->sqlstate, "23", 2) == 0) {
			/* A constraint the parser should have caught first. */
			log_warn("silences-api: %s (SQLSTATE %s)", out->error, out->sqlstate);
			answer_error(j, 400, "bad_body", "the database refused the silence");
		} else {
			log_error("silences-api: %s (SQLSTATE %s)", out->error, out->sqlstate);
			answer_error(j, 500, "internal_error", "the database refused the query");
		}
		free(j);
		return;
	}
	/* expire: the update, then the row. */
	res = out->results[j->op == OP_EXPIRE ? 1 : 0];
	buf_init(&b);
	if (j->op == OP_LIST) {
		render(&b, res, true);
		answer(j, 200, b.data);
	} else if (PQntuples(res) == 1) {
		render(&b, res, false);
		answer(j, j->op == OP_CREATE ? 201 : 200, b.data);
	} else if (j->op == OP_CREATE)
		answer_error(j, 400, "bad_body",
		    "ends_at is in the past: the silence would never "
		    "be in force");
	else
		answer_error(j, 404, "not_found", "no such silence");
	buf_free(&b);
	free(j);
}

/* Send stmts as one job answering through cb; -1 when the connection is down. */
static int
submit(struct silenceapi *s, enum op op, const struct pgc_stmt *stmts, int n, alertapi_cb cb,
    void *arg)
{
	struct job *j = xcalloc(1, sizeof *j);

	j->op = op;
	j->cb = cb;
	j->arg = arg;
	if (pgc_submit(s->pgc, stmts, n, job_done_cb, j) < 0) {
		free(j);
		return -1;
	}
	return 0;
}

/* Decimal text of v into out, or NULL (no scope, admin) when v is 0. */
static const char *
scope_param(long long v, char *out, size_t len)
{
	if (v == 0)
		return NULL;
	snprintf(out, len, "%lld", v);
	return out;
}

int
silenceapi_list(struct silenceapi *s, int scope_unit_id, bool all, alertapi_cb cb, void *arg)
{
	char scope[16];
	const char *v[2];
	struct pgc_stmt stmt;

	v[0] = scope_param(scope_unit_id, scope, sizeof scope);
	v[1] = all ? "true" : "false";
	stmt = (struct pgc_stmt){"silence_list", NULL, 2, v};
	return submit(s, OP_LIST, &stmt, 1, cb, arg);
}

int
silenceapi_create(
    struct silenceapi *s, const struct silence_spec *spec, int token_id, alertapi_cb cb, void *arg)
{
	struct silence_params p;
	struct pgc_stmt stmt;

	silence_params_fill(spec, token_id, &p);
	stmt = (struct pgc_stmt){"silence_insert", NULL, 11, p.v};
	return submit(s, OP_CREATE, &stmt, 1, cb, arg);
}

int
silenceapi_expire(struct silenceapi *s, int64_t id, int scope_unit_id, alertapi_cb cb, void *arg)
{
	char ids[24], scope[16];
	const char *v[2];
	struct pgc_stmt stmts[2];

	snprintf(ids, sizeof ids, "%lld", (long long)id);
	v[0] = ids;
	v[1] = scope_param(scope_unit_id, scope, sizeof scope);
	stmts[0] = (struct pgc_stmt){"silence_expire", NULL, 2, v};
	stmts[1] = (struct pgc_stmt){"silence_get", NULL, 2, v};
	return submit(s, OP_EXPIRE, stmts, 2, cb, arg);
}
