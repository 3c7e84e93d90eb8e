/*
 * migrate.h: the operator's database actions, for the edumon CLI only:
 * schema migrations, loading the metric catalog, importing the unit
 * registry, and managing API tokens.
 *
 * Everything here is blocking libpq (PQexec/PQexecParams) and must never run
 * on the daemon's event loop. Every action is atomic: it runs in one
 * transaction (a migration in one transaction each) and either commits all
 * its changes or none. Actions that change units, the catalog or tokens
 * also NOTIFY edumon_registry in that transaction, so a running edumond
 * reloads once they commit. SQL is always parameterised.
 *
 * Errors: 0 on success, -1 on failure with *cause set to a one-line message
 * the caller frees.
 */
#ifndef EDUMON_MIGRATE_H
#define EDUMON_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "token.h"

struct pg_conn;   /* PGconn */
struct pg_result; /* PGresult */
struct catalog;

/*
 * Bring the database up to the latest migration compiled in (migrations.h).
 * Holds a session advisory lock for the duration so that concurrent runs
 * serialise; applies each missing migration in its own transaction and
 * records it in edumon.schema_migration. A fresh database (no
 * schema_migration table) starts from 0001, which creates the table. Refuses
 * a database whose recorded version is newer than this binary knows, or
 * whose recorded versions are not a prefix of the known ones. *applied is the
 * number of migrations applied, also when one fails (the earlier ones stay
 * committed).
 */
int migrate_apply(struct pg_conn *conn, int *applied, char **cause);

/*
 * Run sql with nparams text parameters (blocking). Returns the result (the
 * caller clears it) when the statement succeeded, with or without rows.
 * Otherwise returns NULL with *cause "what: message" (the server's primary
 * message, detail and hint on one line) and, when sqlstate is not NULL,
 * the SQLSTATE in sqlstate ("" when the connection failed).
 */
struct pg_result *migrate_query(struct pg_conn *conn, const char *what, const char *sql,
    int nparams, const char *const *params, char sqlstate[6], char **cause);

/*
 * The id of the unit (what "unit") or metric (what "metric") with code.
 * Returns it, or -1 with *cause ("no unit with code X" when there is none).
 */
int migrate_code_id(struct pg_conn *conn, const char *what, const char *code, char **cause);

/* Highest recorded migration version into *version; 0 for a fresh database. */
int migrate_current_version(struct pg_conn *conn, int *version, char **cause);

/*
 * 0 if the database is at exactly migrations_latest(); otherwise -1 with a
 * cause telling the operator what to do ("run edumon migrate", or that the
 * binary is older than the database).
 */
int migrate_check_current(struct pg_conn *conn, char **cause);

/*
 * Upsert every metric of cat into edumon.metric by code, in one
 * transaction. Metrics absent from cat are left alone (never deleted:
 * observations reference them). *inserted and *updated count new and
 * changed rows; unchanged rows count in neither.
 */
int catalog_load_db(struct pg_conn *conn, const struct catalog *cat, int *inserted,
    int *updated, char **cause);

/* Outcome of units_import. errors holds one "line N: ..." per bad row. */
struct units_report {
	int inserted;
	int updated;
	int unchanged;
	char **errors;
	size_t nerrors;
};

/*
 * Import units from CSV text buf[0..len) with the header
 *   code,name,kind,parent_code,stages,urban,public
 * (columns in any order; stages '|'-separated; urban and public true or
 * false, empty meaning true). Rows are matched to existing units by code and
 * updated; a parent may be defined later in the file or already exist in the
 * database. Every row is checked before anything is written: on any bad row
 * (unknown parent, a cycle, a parent that does not rank above its child, a
 * duplicate code, a bad field) every problem is listed in rep->errors,
 * nothing is changed and -1 is returned with *cause summarising. Otherwise
 * all rows are written in one transaction. rep is always filled in; release
 * it with units_report_free.
 */
int units_import(struct pg_conn *conn, const char *buf, size_t len, struct units_report *rep,
    char **cause);
void units_report_free(struct units_report *rep);

/* Token roles as stored in api_token.role. */
enum token_role { TOKEN_ROLE_SCHOOL, TOKEN_ROLE_REPORTER, TOKEN_ROLE_MONITOR, TOKEN_ROLE_ADMIN };

/* "school", "reporter", "monitor", "admin". */
const char *token_role_name(enum token_role role);

/*
 * Create a token for role acting for the unit unit_code (NULL for admin),
 * with a free-text label (may be NULL). The unit must exist, be active and
 * suit the role: a school token needs a school, childcare centre or guidance
 * point; reporter and monitor tokens an office (province, city, district).
 * Only the token's SHA-256 and its first TOKEN_DISPLAY_LEN characters are
 * stored. On success out holds the clear token (to be shown once) and *id
 * its number.
 */
int token_create_db(struct pg_conn *conn, enum token_role role, const char *unit_code,
    const char *label, char out[TOKEN_LEN + 1], int *id, char **cause);

/*
 * Revoke token id. Revoking a token already revoked succeeds and sets
 * *already; an unknown id is an error.
 */
int token_revoke_db(struct pg_conn *conn, long long id, bool *already, char **cause);

/* One row of token_list_db. Times are text in the session's time zone; NULL
 * when not set. unit_code is NULL for admin tokens. */
struct token_info {
	int id;
	char *prefix;
	char *role;
	char *unit_code;
	char *label;
	char *created_at;
	char *last_used_at;
	char *revoked_at;
};

/* Every token, by id, into a new array *out of *n rows (free with
 * token_list_free). */
int token_list_db(struct pg_conn *conn, struct token_info **out, size_t *n, char **cause);
void token_list_free(struct token_info *list, size_t n);

#endif
