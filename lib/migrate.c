/*
 * migrate.c: see migrate.h. Blocking libpq, for the edumon CLI only.
 *
 * Each action follows the same shape: BEGIN, statements through
 * PQexecParams, NOTIFY, COMMIT; on any failure ROLLBACK and a one-line
 * cause. Query text sits next to the function that uses it.
 */
#include "migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "csv.h"
#include "migrations.h"
#include "period.h"
#include "registry.h"
#include "util.h"

/* pg_advisory_lock key serialising `edumon migrate` runs ("edumon" in ASCII). */
#define MIGRATE_LOCK_KEY "111482141241198"
/* Channel edumond LISTENs on; the payload says what changed. */
#define REGISTRY_CHANNEL "edumon_registry"

int
migrations_latest(void)
{
	return migrations_count == 0 ? 0 : migrations[migrations_count - 1].version;
}

/*
 * Turn a libpq message (possibly several lines, with a trailing newline)
 * into one line. Returns a new string the caller frees.
 */
static char *
one_line(const char *msg)
{
	struct buf b;
	bool space = false;

	buf_init(&b);
	for (const char *p = msg != NULL ? msg : ""; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
			space = true;
			continue;
		}
		if (space && b.len > 0)
			buf_putc(&b, ' ');
		space = false;
		buf_putc(&b, *p);
	}
	if (b.len == 0)
		buf_puts(&b, "unknown error");
	return buf_steal(&b);
}

/*
 * The message of a failed result (primary message, and the detail or hint
 * if any) as one line; the caller frees it. Falls back to the connection's
 * message when res is NULL.
 */
static char *
result_error(PGconn *conn, const PGresult *res)
{
	const char *primary, *detail, *hint;
	struct buf b;
	char *line;

	if (res == NULL)
		return one_line(PQerrorMessage(conn));
	primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (primary == NULL) {
		const char *msg = PQresultErrorMessage(res);

		return one_line(msg[0] != '\0' ? msg : PQerrorMessage(conn));
	}
	detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	buf_init(&b);
	buf_puts(&b, primary);
	if (detail != NULL)
		buf_printf(&b, " (%s)", detail);
	if (hint != NULL)
		buf_printf(&b, "; hint: %s", hint);
	line = one_line(b.data);
	buf_free(&b);
	return line;
}

PGresult *
migrate_query(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params, char sqlstate[6], char **cause)
{
	PGresult *res;
	const char *st;
	char *msg;

	if (sqlstate != NULL)
		sqlstate[0] = '\0';
	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (res != NULL &&
	    (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK))
		return res;
	st = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (sqlstate != NULL && st != NULL)
		snprintf(sqlstate, 6, "%s", st);
	msg = result_error(conn, res);
	*cause = xasprintf("%s: %s", what, msg);
	free(msg);
	PQclear(res);
	return NULL;
}

int
migrate_code_id(PGconn *conn, const char *what, const char *code, char **cause)
{
	static const char unit_sql[] = "SELECT id FROM edumon.org_unit WHERE code = $1";
	static const char metric_sql[] = "SELECT id FROM edumon.metric WHERE code = $1";
	bool unit = strcmp(what, "unit") == 0;
	PGresult *res = migrate_query(conn, what, unit ? unit_sql : metric_sql, 1, &code, NULL,
	    cause);
	int id;

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		*cause = xasprintf("no %s with code %s", what, code);
		PQclear(res);
		return -1;
	}
	id = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return id;
}

/*
 * Run sql with nparams text parameters. Returns the result if its status is
 * want; otherwise clears it, sets *cause to "what: message" and returns
 * NULL. The caller clears a returned result.
 */
static PGresult *
run(PGconn *conn, const char *what, const char *sql, int nparams, const char *const *params,
    ExecStatusType want, char **cause)
{
	PGresult *res = migrate_query(conn, what, sql, nparams, params, NULL, cause);

	if (res == NULL || PQresultStatus(res) == want)
		return res;
	*cause = xasprintf("%s: unexpected result %s", what, PQresStatus(PQresultStatus(res)));
	PQclear(res);
	return NULL;
}

/* Run a statement without parameters or rows; 0 or -1 with *cause. */
static int
run_cmd(PGconn *conn, const char *what, const char *sql, char **cause)
{
	PGresult *res = run(conn, what, sql, 0, NULL, PGRES_COMMAND_OK, cause);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Abandon the current transaction, if any; errors are moot by then. */
static void
rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

/* Queue a notification to edumond, delivered when the transaction commits. */
static int
notify_registry(PGconn *conn, const char *what_changed, char **cause)
{
	static const char sql[] = "SELECT pg_notify('" REGISTRY_CHANNEL "', $1)";
	const char *params[1] = {what_changed};
	PGresult *res;

	res = run(conn, "notify", sql, 1, params, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Commit; 0 or -1 with *cause (the transaction is then gone). */
static int
commit(PGconn *conn, char **cause)
{
	return run_cmd(conn, "commit", "COMMIT", cause);
}

/*
 * Read the recorded versions (ascending) into a new array *out of *n
 * (NULL and 0 for a fresh database). The caller frees *out.
 */
static int
recorded_versions(PGconn *conn, int **out, size_t *n, char **cause)
{
	static const char exists_sql[] =
	    "SELECT to_regclass('edumon.schema_migration') IS NOT NULL";
	static const char versions_sql[] =
	    "SELECT version FROM edumon.schema_migration ORDER BY version";
	PGresult *res;
	int *v;
	size_t rows;

	*out = NULL;
	*n = 0;
	res = run(conn, "schema version", exists_sql, 0, NULL, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		return 0;
	}
	PQclear(res);
	res = run(conn, "schema version", versions_sql, 0, NULL, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		return -1;
	rows = (size_t)PQntuples(res);
	v = xcalloc(rows, sizeof *v);
	for (size_t i = 0; i < rows; i++)
		v[i] = atoi(PQgetvalue(res, (int)i, 0));
	PQclear(res);
	*out = v;
	*n = rows;
	return 0;
}

int
migrate_current_version(PGconn *conn, int *version, char **cause)
{
	int *v;
	size_t n;

	if (recorded_versions(conn, &v, &n, cause) != 0)
		return -1;
	*version = n == 0 ? 0 : v[n - 1];
	free(v);
	return 0;
}

int
migrate_check_current(PGconn *conn, char **cause)
{
	int version, latest = migrations_latest();

	if (migrate_current_version(conn, &version, cause) != 0)
		return -1;
	if (version == latest)
		return 0;
	if (version == 0)
		*cause = xstrdup("database has no edumon schema: run edumon migrate first");
	else if (version < latest)
		*cause = xasprintf("database schema is at version %d, this edumon needs %d: run "
		                   "edumon migrate",
		    version, latest);
	else
		*cause = xasprintf("database schema version %d is newer than this edumon knows (%d): "
		                   "upgrade edumon",
		    version, latest);
	return -1;
}

/*
 * Check the recorded versions against the compiled-in ones: they must be
 * the first n of them. Returns the index of the first migration to apply,
 * or -1 with *cause.
 */
static long
first_missing(const int *recorded, size_t n, char **cause)
{
	int latest = migrations_latest();

	if (n > 0 && recorded[n - 1] > latest) {
		*cause = xasprintf("database schema version %d is newer than this edumon knows "
		                   "(%d): upgrade edumon",
		    recorded[n - 1], latest);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (i >= migrations_count || recorded[i] != migrations[i].version) {
			*cause = xasprintf("edumon.schema_migration records version %d where this "
			                   "edumon expects %d: the schema was not made by edumon migrate",
			    recorded[i], i < migrations_count ? migrations[i].version : 0);
			return -1;
		}
	}
	return (long)n;
}

/* Apply migration m in its own transaction and record it. */
static int
apply_one(PGconn *conn, const struct migration *m, char **cause)
{
	static const char record_sql[] =
	    "INSERT INTO edumon.schema_migration (version, name) VALUES ($1, $2)";
	char version[16], *msg;
	const char *params[2] = {version, m->name};
	PGresult *res;
	ExecStatusType st;

	snprintf(version, sizeof version, "%d", m->version);
	if (run_cmd(conn, "begin", "BEGIN", cause) != 0)
		return -1;
	/* A migration is several statements: the simple query protocol. */
	res = PQexec(conn, m->sql);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		msg = result_error(conn, res);
		*cause = xasprintf("migration %s: %s", m->name, msg);
		free(msg);
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	res = run(conn, "record migration", record_sql, 2, params, PGRES_COMMAND_OK, cause);
	if (res == NULL)
		goto fail;
	PQclear(res);
	if (commit(conn, cause) != 0)
		goto fail;
	return 0;

fail:
	rollback(conn);
	return -1;
}

int
migrate_apply(PGconn *conn, int *applied, char **cause)
{
	static const char lock_sql[] = "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")";
	static const char unlock_sql[] = "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")";
	PGresult *res;
	int *recorded = NULL, rc = -1;
	size_t n;
	long first;

	*applied = 0;
	res = run(conn, "advisory lock", lock_sql, 0, NULL, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		return -1;
	PQclear(res);

	/* Read the versions only once the lock is held: a concurrent run may
	 * just have applied some. */
	if (recorded_versions(conn, &recorded, &n, cause) != 0)
		goto out;
	first = first_missing(recorded, n, cause);
	if (first < 0)
		goto out;
	for (size_t i = (size_t)first; i < migrations_count; i++) {
		if (apply_one(conn, &migrations[i], cause) != 0)
			goto out;
		(*applied)++;
	}
	if (*applied > 0) {
		res = run(conn, "notify", "NOTIFY " REGISTRY_CHANNEL ", 'schema'", 0, NULL,
		    PGRES_COMMAND_OK, cause);
		if (res == NULL)
			goto out;
		PQclear(res);
	}
	rc = 0;

out:
	free(recorded);
	PQclear(PQexec(conn, unlock_sql));
	return rc;
}

/* ------------------------------------------------------------------------
 * The metric catalog.
 */

/* Format a unit-kind mask as a PostgreSQL array literal into out. */
static void
unit_kinds_array(unsigned mask, char *out, size_t len)
{
	struct buf b;

	buf_init(&b);
	buf_putc(&b, '{');
	for (int k = 0; k < UNIT_KIND_COUNT; k++) {
		if ((mask & UNIT_KIND_BIT(k)) == 0)
			continue;
		if (b.len > 1)
			buf_putc(&b, ',');
		buf_puts(&b, unit_kind_name((enum unit_kind)k));
	}
	buf_putc(&b, '}');
	snprintf(out, len, "%s", b.data);
	buf_free(&b);
}

/* Format a stage mask as a PostgreSQL array literal into out. */
static void
stages_array(unsigned mask, char *out, size_t len)
{
	char list[128];

	stages_format(mask, ',', list, sizeof list);
	snprintf(out, len, "{%s}", list);
}

int
catalog_load_db(PGconn *conn, const struct catalog *cat, int *inserted, int *updated,
    char **cause)
{
	static const char upsert_sql[] =
	    "INSERT INTO edumon.metric AS m (code, name_zh, name_en, unit, kind, period_kind, "
	    "    min_value, max_value, stages, unit_kinds, description) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
	    "ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, "
	    "    name_en = EXCLUDED.name_en, unit = EXCLUDED.unit, kind = EXCLUDED.kind, "
	    "    period_kind = EXCLUDED.period_kind, min_value = EXCLUDED.min_value, "
	    "    max_value = EXCLUDED.max_value, stages = EXCLUDED.stages, "
	    "    unit_kinds = EXCLUDED.unit_kinds, description = EXCLUDED.description "
	    "WHERE (m.name_zh, m.name_en, m.unit, m.kind, m.period_kind, m.min_value, "
	    "       m.max_value, m.stages, m.unit_kinds, m.description) "
	    "    IS DISTINCT FROM (EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.unit, "
	    "       EXCLUDED.kind, EXCLUDED.period_kind, EXCLUDED.min_value, EXCLUDED.max_value, "
	    "       EXCLUDED.stages, EXCLUDED.unit_kinds, EXCLUDED.description) "
	    "RETURNING (xmax = 0)";
	size_t n = catalog_count(cat);

	*inserted = *updated = 0;
	if (run_cmd(conn, "begin", "BEGIN", cause) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct metric *m = catalog_get(cat, i);
		char min[32], max[32], stages[160], kinds[160], *what;
		const char *params[11] = {m->code, m->name_zh, m->name_en,
		    m->unit != NULL ? m->unit : "", metric_kind_name(m->kind),
		    period_kind_name(m->period_kind), min, max, stages, kinds,
		    m->description != NULL ? m->description : ""};
		PGresult *res;

		snprintf(min, sizeof min, "%.17g", m->min);
		snprintf(max, sizeof max, "%.17g", m->max);
		stages_array(m->stages, stages, sizeof stages);
		unit_kinds_array(m->unit_kinds, kinds, sizeof kinds);
		what = xasprintf("metric %s", m->code);
		res = run(conn, what, upsert_sql, 11, params, PGRES_TUPLES_OK, cause);
		free(what);
		if (res == NULL)
			goto fail;
		if (PQntuples(res) == 1) {
			if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
				(*inserted)++;
			else
				(*updated)++;
		}
		PQclear(res);
	}
	if (*inserted + *updated > 0 && notify_registry(conn, "catalog", cause) != 0)
		goto fail;
	if (commit(conn, cause) != 0)
		goto fail;
	return 0;

fail:
	rollback(conn);
	*inserted = *updated = 0;
	return -1;
}

/* ------------------------------------------------------------------------
 * The unit registry import.
 *
 * Three phases, all before anything is written: the fields of every row
 * (pure), then, inside the transaction with org_unit locked against other
 * writers, the hierarchy the file and the database make together. Every
 * problem of every phase is collected, so one run lists them all. Only a
 * file without problems is written, parents before children.
 */

enum unit_col { COL_CODE, COL_NAME, COL_KIND, COL_PARENT, COL_STAGES, COL_URBAN, COL_PUBLIC,
	COL_COUNT };

static const struct {
	const char *name;
	bool required;
} unit_cols[COL_COUNT] = {
	[COL_CODE] = {"code", true},
	[COL_NAME] = {"name", true},
	[COL_KIND] = {"kind", true},
	[COL_PARENT] = {"parent_code", true},
	[COL_STAGES] = {"stages", false},
	[COL_URBAN] = {"urban", false},
	[COL_PUBLIC] = {"public", false},
};

#define UNIT_NAME_MAX 200 /* characters, as org_unit.name's CHECK */
#define UNIT_CODE_MAX 32

/* One unit as the import sees it: from the file, the database, or both. */
struct unode {
	const char *code;
	const char *parent_code; /* NULL for a root */
	enum unit_kind kind;
	size_t line;       /* line in the file; 0 if only in the database */
	bool in_db;
	bool kind_changed; /* in both, and the file changes the kind */
	bool bad;          /* the row has errors: kept so that others may refer to it */
	bool written;      /* set while writing, in parent-first order */
	/* The file's values, written to the database. */
	const char *name;
	unsigned stages;
	bool urban;
	bool is_public;
};

/* A problem found in the file; sorted by line before it is reported. */
struct row_error {
	size_t line;
	size_t seq;
	char *msg;
};

struct import {
	PGconn *conn;
	struct unode *nodes; /* file rows, then the database's; sorted by code */
	size_t n;
	struct row_error *errors;
	size_t nerrors;
	struct units_report *rep;
};

/* Record a problem of the given line of the file. */
static void PRINTFLIKE(3, 4)
report_error(struct import *im, size_t line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	im->errors = xreallocarray(im->errors, im->nerrors + 1, sizeof *im->errors);
	im->errors[im->nerrors].line = line;
	im->errors[im->nerrors].seq = im->nerrors;
	im->errors[im->nerrors].msg = xasprintf("line %zu: %s", line, msg);
	im->nerrors++;
	free(msg);
}

/* qsort order of problems: by line, then as found. */
static int
row_error_cmp(const void *a, const void *b)
{
	const struct row_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Move the problems, in line order, into the report. */
static void
report_move(struct import *im)
{
	struct units_report *rep = im->rep;

	qsort(im->errors, im->nerrors, sizeof *im->errors, row_error_cmp);
	rep->errors = xcalloc(im->nerrors, sizeof *rep->errors);
	for (size_t i = 0; i < im->nerrors; i++)
		rep->errors[i] = im->errors[i].msg;
	rep->nerrors = im->nerrors;
	free(im->errors);
	im->errors = NULL;
	im->nerrors = 0;
}

/* Strip ASCII blanks at both ends of s, in place; returns s. */
static char *
trim(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* True if s can be a unit code: 1 to 32 of [0-9A-Za-z_-], as org_unit.code's CHECK. */
static bool
code_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > UNIT_CODE_MAX)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		        (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '-'))
			return false;
	}
	return true;
}

/* True if s holds an ASCII control character (a line break in a name is a mistake). */
static bool
has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return true;
	}
	return false;
}

/* Parse an import boolean: true or false in any case; empty means true. */
static int
parse_flag(const char *s, bool *out)
{
	if (*s == '\0' || strcasecmp(s, "true") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* Offices rank above schools: a parent must rank strictly lower. */
static int
kind_rank(enum unit_kind kind)
{
	switch (kind) {
	case UNIT_PROVINCE:
		return 0;
	case UNIT_CITY:
		return 1;
	case UNIT_DISTRICT:
		return 2;
	default:
		return 3;
	}
}

/* qsort and bsearch order of units: by code. */
static int
unode_cmp(const void *a, const void *b)
{
	return strcmp(((const struct unode *)a)->code, ((const struct unode *)b)->code);
}

/* The unit with code (NULL: none) among im->nodes, sorted by code. */
static struct unode *
unode_find(const struct import *im, const char *code)
{
	struct unode key = {.code = code};

	if (code == NULL || im->n == 0)
		return NULL;
	return bsearch(&key, im->nodes, im->n, sizeof key, unode_cmp);
}

/* Map the header row to columns: col[c] is the field index of column c,
 * or -1 if absent. */
static void
map_header(struct import *im, const struct csv_row *hdr, int col[COL_COUNT])
{
	for (int c = 0; c < COL_COUNT; c++)
		col[c] = -1;
	for (size_t i = 0; i < hdr->nfields; i++) {
		char *name = trim(hdr->fields[i]);
		int c;

		for (c = 0; c < COL_COUNT; c++) {
			if (strcasecmp(name, unit_cols[c].name) == 0)
				break;
		}
		if (c == COL_COUNT)
			report_error(im, hdr->line,
			    "unknown column \"%s\" (expected code,name,kind,parent_code,stages,urban,"
			    "public)",
			    name);
		else if (col[c] != -1)
			report_error(im, hdr->line, "column \"%s\" appears twice", name);
		else
			col[c] = (int)i;
	}
	for (int c = 0; c < COL_COUNT; c++) {
		if (col[c] == -1 && unit_cols[c].required)
			report_error(im, hdr->line, "missing column \"%s\"", unit_cols[c].name);
	}
}

/*
 * Check one data row's fields and fill *u from it (strings point into the
 * row). Returns 0 if u was filled in (u->bad says whether the row has
 * problems, all reported); -1 if the row's fields cannot be told apart.
 */
static int
parse_unit_row(struct import *im, struct csv_row *row, const int col[COL_COUNT],
    struct unode *u)
{
	size_t before = im->nerrors;
	char *f[COL_COUNT], *cause = NULL;
	int expected = 0;

	for (int c = 0; c < COL_COUNT; c++) {
		if (col[c] >= expected)
			expected = col[c] + 1;
	}
	if (row->nfields != (size_t)expected) {
		report_error(im, row->line, "%zu fields, expected %d as in the header",
		    row->nfields, expected);
		return -1;
	}
	for (int c = 0; c < COL_COUNT; c++)
		f[c] = col[c] >= 0 ? trim(row->fields[col[c]]) : (char *)"";

	memset(u, 0, sizeof *u);
	u->line = row->line;
	u->code = f[COL_CODE];
	u->name = f[COL_NAME];
	u->parent_code = f[COL_PARENT][0] != '\0' ? f[COL_PARENT] : NULL;
	if (!code_valid(u->code))
		report_error(im, row->line, "code \"%s\": expected 1 to %d letters, digits, _ or -",
		    u->code, UNIT_CODE_MAX);
	if (u->name[0] == '\0')
		report_error(im, row->line, "unit %s: name is empty", u->code);
	else if (utf8_chars(u->name) > UNIT_NAME_MAX)
		report_error(im, row->line, "unit %s: name longer than %d characters", u->code,
		    UNIT_NAME_MAX);
	else if (has_control(u->name))
		report_error(im, row->line, "unit %s: name contains a control character", u->code);
	if (unit_kind_parse(f[COL_KIND], &u->kind) != 0)
		report_error(im, row->line,
		    "unit %s: kind \"%s\": expected province, city, district, school, childcare or "
		    "guidance_point",
		    u->code, f[COL_KIND]);
	if (u->parent_code != NULL && !code_valid(u->parent_code))
		report_error(im, row->line, "unit %s: parent_code \"%s\" is not a valid code",
		    u->code, u->parent_code);
	else if (u->parent_code != NULL && strcmp(u->parent_code, u->code) == 0)
		report_error(im, row->line, "unit %s: is its own parent", u->code);
	if (stages_parse(f[COL_STAGES], '|', &u->stages, &cause) != 0) {
		report_error(im, row->line, "unit %s: stages: %s", u->code, cause);
		free(cause);
	}
	if (parse_flag(f[COL_URBAN], &u->urban) != 0)
		report_error(im, row->line, "unit %s: urban \"%s\": expected true or false", u->code,
		    f[COL_URBAN]);
	if (parse_flag(f[COL_PUBLIC], &u->is_public) != 0)
		report_error(im, row->line, "unit %s: public \"%s\": expected true or false",
		    u->code, f[COL_PUBLIC]);
	u->bad = im->nerrors != before;
	return 0;
}

/* Report file rows sharing a code (im->nodes holds file rows, sorted). */
static void
check_duplicates(struct import *im)
{
	for (size_t i = 1; i < im->n; i++) {
		struct unode *a = &im->nodes[i - 1], *b = &im->nodes[i];

		if (strcmp(a->code, b->code) == 0) {
			struct unode *later = a->line < b->line ? b : a;

			report_error(im, later->line, "unit %s: already defined on line %zu",
			    later->code, (a->line < b->line ? a : b)->line);
			later->bad = true;
		}
	}
}

/*
 * Add the database's units to im->nodes (a file row for the same code
 * wins; its kind_changed is set) and sort by code. *db_res keeps their
 * strings alive; the caller clears it.
 */
static int
merge_database_units(struct import *im, PGresult **db_res, char **cause)
{
	static const char units_sql[] =
	    "SELECT u.code, u.kind, p.code FROM edumon.org_unit u "
	    "LEFT JOIN edumon.org_unit p ON p.id = u.parent_id";
	PGresult *res;
	size_t file_n = im->n, rows;

	res = run(im->conn, "read units", units_sql, 0, NULL, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		return -1;
	*db_res = res;
	rows = (size_t)PQntuples(res);
	im->nodes = xreallocarray(im->nodes, file_n + rows + 1, sizeof *im->nodes);
	for (size_t i = 0; i < rows; i++) {
		const char *code = PQgetvalue(res, (int)i, 0);
		struct unode key = {.code = code}, *f, *u;
		enum unit_kind kind;

		if (unit_kind_parse(PQgetvalue(res, (int)i, 1), &kind) != 0)
			kind = UNIT_SCHOOL; /* the table's CHECK makes this unreachable */
		f = file_n > 0 ? bsearch(&key, im->nodes, file_n, sizeof key, unode_cmp) : NULL;
		if (f != NULL) {
			/* Duplicates sit side by side: mark them all. */
			while (f > im->nodes && strcmp(f[-1].code, code) == 0)
				f--;
			for (; f < im->nodes + file_n && strcmp(f->code, code) == 0; f++) {
				f->in_db = true;
				f->kind_changed = f->kind != kind;
			}
			continue;
		}
		u = &im->nodes[im->n++];
		memset(u, 0, sizeof *u);
		u->code = code;
		u->kind = kind;
		u->in_db = true;
		u->parent_code = PQgetisnull(res, (int)i, 2) ? NULL : PQgetvalue(res, (int)i, 2);
	}
	qsort(im->nodes, im->n, sizeof *im->nodes, unode_cmp);
	return 0;
}

/*
 * Check the hierarchy the file and the database make together, for every
 * unit the file touches: the parent exists, there is no cycle, and the
 * parent ranks above the child (also for a database unit beneath a file
 * unit whose kind changes). Rows already known to be bad are skipped, and
 * so are checks against them.
 */
static void
check_hierarchy(struct import *im)
{
	for (size_t i = 0; i < im->n; i++) {
		struct unode *u = &im->nodes[i], *p, *q;
		size_t steps;

		if (u->parent_code == NULL || u->bad)
			continue;
		p = unode_find(im, u->parent_code);
		if (u->line == 0) {
			/* A database unit: only its parent's kind can change. */
			if (p != NULL && p->line != 0 && !p->bad && p->kind_changed &&
			    kind_rank(p->kind) >= kind_rank(u->kind))
				report_error(im, p->line,
				    "unit %s cannot become a %s: %s %s lies beneath it in the "
				    "database",
				    p->code, unit_kind_name(p->kind), unit_kind_name(u->kind), u->code);
			continue;
		}
		if (p == NULL) {
			report_error(im, u->line,
			    "unit %s: unknown parent %s (neither in the file nor in the database)",
			    u->code, u->parent_code);
			continue;
		}
		/* Walk up; a chain longer than the number of units is a cycle
		 * that does not pass through u, found from its own members. */
		q = p;
		for (steps = 0; q != NULL && q != u && steps <= im->n; steps++)
			q = unode_find(im, q->parent_code);
		if (q == u) {
			struct buf path;

			buf_init(&path);
			buf_puts(&path, u->code);
			for (q = p; q != u; q = unode_find(im, q->parent_code))
				buf_printf(&path, " -> %s", q->code);
			buf_printf(&path, " -> %s", u->code);
			report_error(im, u->line, "unit %s: parent cycle %s", u->code, path.data);
			buf_free(&path);
			continue;
		}
		if (!p->bad && kind_rank(p->kind) >= kind_rank(u->kind))
			report_error(im, u->line,
			    "unit %s (%s) cannot be under %s (%s): a parent must be an office above "
			    "it (province > city > district > school)",
			    u->code, unit_kind_name(u->kind), p->code, unit_kind_name(p->kind));
	}
}

/* Write file unit u, after its parent if the parent is in the file too. */
static int
write_unit(struct import *im, struct unode *u, char **cause)
{
	static const char upsert_sql[] =
	    "INSERT INTO edumon.org_unit AS u (code, name, kind, parent_id, stages, urban, public) "
	    "VALUES ($1, $2, $3, (SELECT p.id FROM edumon.org_unit p WHERE p.code = $4), $5, $6, "
	    "    $7) "
	    "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
	    "    parent_id = EXCLUDED.parent_id, stages = EXCLUDED.stages, "
	    "    urban = EXCLUDED.urban, public = EXCLUDED.public, updated_at = now() "
	    "WHERE (u.name, u.kind, u.parent_id, u.stages, u.urban, u.public) "
	    "    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.parent_id, "
	    "        EXCLUDED.stages, EXCLUDED.urban, EXCLUDED.public) "
	    "RETURNING (xmax = 0)";
	struct unode *p;
	char stages[160], *what;
	const char *params[7];
	PGresult *res;

	if (u->written || u->line == 0)
		return 0;
	u->written = true;
	p = unode_find(im, u->parent_code);
	if (p != NULL && write_unit(im, p, cause) != 0)
		return -1;

	stages_array(u->stages, stages, sizeof stages);
	params[0] = u->code;
	params[1] = u->name;
	params[2] = unit_kind_name(u->kind);
	params[3] = u->parent_code;
	params[4] = stages;
	params[5] = u->urban ? "true" : "false";
	params[6] = u->is_public ? "true" : "false";
	what = xasprintf("line %zu: unit %s", u->line, u->code);
	res = run(im->conn, what, upsert_sql, 7, params, PGRES_TUPLES_OK, cause);
	free(what);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		im->rep->unchanged++;
	else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		im->rep->inserted++;
	else
		im->rep->updated++;
	PQclear(res);
	return 0;
}

int
units_import(PGconn *conn, const char *buf, size_t len, struct units_report *rep, char **cause)
{
	struct import im = {.conn = conn, .rep = rep};
	struct csv_doc *doc = NULL;
	PGresult *db_res = NULL;
	int col[COL_COUNT], rc = -1;
	bool in_tx = false;

	memset(rep, 0, sizeof *rep);
	if (csv_parse(buf, len, &doc, cause) != 0)
		return -1;
	if (doc->nrows == 0) {
		*cause = xstrdup("empty file: expected the header "
		                 "code,name,kind,parent_code,stages,urban,public");
		goto out;
	}
	map_header(&im, &doc->rows[0], col);
	if (im.nerrors > 0)
		goto bad;
	im.nodes = xcalloc(doc->nrows, sizeof *im.nodes);
	for (size_t r = 1; r < doc->nrows; r++) {
		if (parse_unit_row(&im, &doc->rows[r], col, &im.nodes[im.n]) == 0)
			im.n++;
	}
	qsort(im.nodes, im.n, sizeof *im.nodes, unode_cmp);
	check_duplicates(&im);

	/* Keep other writers of units (imports, token creation) out until we
	 * commit, so that the hierarchy checked is the one written. Readers,
	 * edumond included, are not blocked. */
	if (run_cmd(conn, "begin", "BEGIN", cause) != 0)
		goto out;
	in_tx = true;
	if (run_cmd(conn, "lock units", "LOCK TABLE edumon.org_unit IN SHARE ROW EXCLUSIVE MODE",
	        cause) != 0)
		goto out;
	if (merge_database_units(&im, &db_res, cause) != 0)
		goto out;
	check_hierarchy(&im);
	if (im.nerrors > 0)
		goto bad;

	for (size_t i = 0; i < im.n; i++) {
		if (write_unit(&im, &im.nodes[i], cause) != 0)
			goto out;
	}
	if (rep->inserted + rep->updated > 0 && notify_registry(conn, "units", cause) != 0)
		goto out;
	if (commit(conn, cause) != 0)
		goto out;
	in_tx = false;
	rc = 0;
	goto out;

bad:
	*cause = xasprintf("%zu error%s; nothing was changed", im.nerrors,
	    im.nerrors == 1 ? "" : "s");
	report_move(&im);
out:
	if (in_tx)
		rollback(conn);
	if (rc != 0)
		rep->inserted = rep->updated = rep->unchanged = 0;
	for (size_t i = 0; i < im.nerrors; i++)
		free(im.errors[i].msg);
	free(im.errors);
	PQclear(db_res);
	free(im.nodes);
	csv_doc_free(doc);
	return rc;
}

void
units_report_free(struct units_report *rep)
{
	if (rep == NULL)
		return;
	for (size_t i = 0; i < rep->nerrors; i++)
		free(rep->errors[i]);
	free(rep->errors);
	memset(rep, 0, sizeof *rep);
}

/* ------------------------------------------------------------------------
 * API tokens.
 */

static const char *const token_role_names[] = {
	[TOKEN_ROLE_SCHOOL] = "school",
	[TOKEN_ROLE_REPORTER] = "reporter",
	[TOKEN_ROLE_MONITOR] = "monitor",
	[TOKEN_ROLE_ADMIN] = "admin",
};

const char *
token_role_name(enum token_role role)
{
	return (size_t)role < ARRAY_LEN(token_role_names) ? token_role_names[role] : "?";
}

/* Unit kinds a token of each role may act for. */
static unsigned
token_role_kinds(enum token_role role)
{
	switch (role) {
	case TOKEN_ROLE_SCHOOL:
		return UNIT_KIND_BIT(UNIT_SCHOOL) | UNIT_KIND_BIT(UNIT_CHILDCARE) |
		       UNIT_KIND_BIT(UNIT_GUIDANCE_POINT);
	case TOKEN_ROLE_REPORTER:
	case TOKEN_ROLE_MONITOR:
		return UNIT_KIND_BIT(UNIT_PROVINCE) | UNIT_KIND_BIT(UNIT_CITY) |
		       UNIT_KIND_BIT(UNIT_DISTRICT);
	default:
		return 0;
	}
}

int
token_create_db(PGconn *conn, enum token_role role, const char *unit_code, const char *label,
    char out[TOKEN_LEN + 1], int *id, char **cause)
{
	static const char unit_sql[] =
	    "SELECT id, kind, active, name FROM edumon.org_unit WHERE code = $1 FOR SHARE";
	static const char insert_sql[] =
	    "INSERT INTO edumon.api_token (token_sha256, prefix, role, unit_id, label) "
	    "VALUES ($1, $2, $3, $4, $5) RETURNING id";
	char token[TOKEN_LEN + 1], hash_hex[2 * SHA256_LEN + 3], prefix[TOKEN_DISPLAY_LEN + 1];
	unsigned char hash[SHA256_LEN];
	const char *params[5];
	PGresult *res;
	char *unit_id = NULL;

	if ((role == TOKEN_ROLE_ADMIN) != (unit_code == NULL)) {
		*cause = xstrdup(role == TOKEN_ROLE_ADMIN ? "an admin token has no unit"
		                                          : "this token needs a unit");
		return -1;
	}
	if (run_cmd(conn, "begin", "BEGIN", cause) != 0)
		return -1;
	if (unit_code != NULL) {
		enum unit_kind kind;

		params[0] = unit_code;
		res = run(conn, "find unit", unit_sql, 1, params, PGRES_TUPLES_OK, cause);
		if (res == NULL)
			goto fail;
		if (PQntuples(res) == 0) {
			*cause = xasprintf("no unit with code %s (import it with edumon schools import)",
			    unit_code);
			PQclear(res);
			goto fail;
		}
		if (unit_kind_parse(PQgetvalue(res, 0, 1), &kind) != 0 ||
		    (token_role_kinds(role) & UNIT_KIND_BIT(kind)) == 0) {
			*cause = xasprintf("unit %s (%s) is a %s: a %s token needs %s", unit_code,
			    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 1), token_role_name(role),
			    role == TOKEN_ROLE_SCHOOL
			        ? "a school, childcare centre or guidance point"
			        : "an office (province, city or district)");
			PQclear(res);
			goto fail;
		}
		if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
			*cause = xasprintf("unit %s (%s) is inactive", unit_code, PQgetvalue(res, 0, 3));
			PQclear(res);
			goto fail;
		}
		unit_id = xstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}

	token_generate(token);
	sha256(token, TOKEN_LEN, hash);
	memcpy(hash_hex, "\\x", 2);
	hex_encode(hash, SHA256_LEN, hash_hex + 2);
	memcpy(prefix, token, TOKEN_DISPLAY_LEN);
	prefix[TOKEN_DISPLAY_LEN] = '\0';
	params[0] = hash_hex;
	params[1] = prefix;
	params[2] = token_role_name(role);
	params[3] = unit_id;
	params[4] = label != NULL ? label : "";
	res = run(conn, "store token", insert_sql, 5, params, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		goto fail;
	*id = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (notify_registry(conn, "tokens", cause) != 0 || commit(conn, cause) != 0)
		goto fail;
	memcpy(out, token, sizeof token);
	explicit_bzero(token, sizeof token);
	free(unit_id);
	return 0;

fail:
	rollback(conn);
	explicit_bzero(token, sizeof token);
	free(unit_id);
	return -1;
}

int
token_revoke_db(PGconn *conn, long long id, bool *already, char **cause)
{
	static const char revoke_sql[] =
	    "UPDATE edumon.api_token SET revoked_at = now() "
	    "WHERE id = $1 AND revoked_at IS NULL RETURNING id";
	static const char exists_sql[] = "SELECT 1 FROM edumon.api_token WHERE id = $1";
	char idtext[24];
	const char *params[1] = {idtext};
	PGresult *res;

	*already = false;
	snprintf(idtext, sizeof idtext, "%lld", id);
	if (run_cmd(conn, "begin", "BEGIN", cause) != 0)
		return -1;
	res = run(conn, "revoke token", revoke_sql, 1, params, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		res = run(conn, "find token", exists_sql, 1, params, PGRES_TUPLES_OK, cause);
		if (res == NULL)
			goto fail;
		if (PQntuples(res) == 0) {
			*cause = xasprintf("no token with id %lld", id);
			PQclear(res);
			goto fail;
		}
		*already = true;
	}
	PQclear(res);
	if (!*already && notify_registry(conn, "tokens", cause) != 0)
		goto fail;
	if (commit(conn, cause) != 0)
		goto fail;
	return 0;

fail:
	rollback(conn);
	return -1;
}

/* A copy of a result field, or NULL if it is SQL NULL. */
static char *
field_dup(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

int
token_list_db(PGconn *conn, struct token_info **out, size_t *n, char **cause)
{
	static const char list_sql[] =
	    "SELECT t.id, t.prefix, t.role, u.code, t.label, "
	    "    date_trunc('second', t.created_at)::text, "
	    "    date_trunc('second', t.last_used_at)::text, "
	    "    date_trunc('second', t.revoked_at)::text "
	    "FROM edumon.api_token t LEFT JOIN edumon.org_unit u ON u.id = t.unit_id "
	    "ORDER BY t.id";
	struct token_info *list;
	PGresult *res;
	size_t rows;

	*out = NULL;
	*n = 0;
	res = run(conn, "list tokens", list_sql, 0, NULL, PGRES_TUPLES_OK, cause);
	if (res == NULL)
		return -1;
	rows = (size_t)PQntuples(res);
	list = xcalloc(rows, sizeof *list);
	for (size_t i = 0; i < rows; i++) {
		int r = (int)i;

		list[i].id = atoi(PQgetvalue(res, r, 0));
		list[i].prefix = field_dup(res, r, 1);
		list[i].role = field_dup(res, r, 2);
		list[i].unit_code = field_dup(res, r, 3);
		list[i].label = field_dup(res, r, 4);
		list[i].created_at = field_dup(res, r, 5);
		list[i].last_used_at = field_dup(res, r, 6);
		list[i].revoked_at = field_dup(res, r, 7);
	}
	PQclear(res);
	*out = list;
	*n = rows;
	return 0;
}

void
token_list_free(struct token_info *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(list[i].prefix);
		free(list[i].role);
		free(list[i].unit_code);
		free(list[i].label);
		free(list[i].created_at);
		free(list[i].last_used_at);
		free(list[i].revoked_at);
	}
	free(list);
}
