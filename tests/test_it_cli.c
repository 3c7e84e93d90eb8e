/*
 * test_it_cli.c: the operator CLI (build/edumon) against a real PostgreSQL:
 * migrations, the atomic unit import, tokens, and the schema's roles,
 * views and comments. Each test gets a fresh database made by the real CLI
 * (tl_db_create: migrate, catalog load, schools import of the demo units).
 */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrations.h"
#include "testlib.h"
#include "util.h"

#define SCHOOL "2132070301"   /* 连云区实验小学, district 320703 */
#define DISTRICT "320703"     /* 连云区 */

static char *db;
static PGconn *pg;

static void
setup(void)
{
	db = tl_db_create("cli");
	pg = tl_db_connect(db);
}

static void
teardown(void)
{
	PQfinish(pg);
	free(db);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

/*
 * Run "edumon --database DB ARGS" (ARGS as shell words); stdout into *out
 * (caller frees), with stderr too if merge. Returns the exit status.
 */
static int
cli(const char *args, bool merge, char **out)
{
	return tl_cli(db, args, merge, out);
}

/* Write text to a new temporary file; returns its path (caller unlinks and
 * frees). */
static char *
temp_file(const char *text)
{
	const char *dir = getenv("EDUMON_TEST_TMPDIR");
	char *path = xasprintf("%s/cli-XXXXXX", dir != NULL && *dir != '\0' ? dir : "/tmp");
	int fd = mkstemp(path);
	size_t len = strlen(text);

	cr_assert(fd >= 0, "mkstemp %s", path);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Run an edumon subcommand on a file holding text. */
static int
cli_file(const char *subcommand, const char *text, char **out)
{
	char *path = temp_file(text), *qp = tl_shell_quote(path);
	char *args = xasprintf("%s %s", subcommand, qp);
	int rc = cli(args, true, out);

	unlink(path);
	free(args);
	free(qp);
	free(path);
	return rc;
}

static long
count(const char *sql)
{
	char *v = tl_query_value(pg, sql);
	long n;

	cr_assert_not_null(v, "%s: no value", sql);
	n = atol(v);
	free(v);
	return n;
}

/* The SQLSTATE of running sql (one parameter-less statement): "00000" on
 * success. Static buffer. */
static const char *
sqlstate(PGconn *c, const char *sql)
{
	static char state[6];
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		strcpy(state, "00000");
	else {
		const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		snprintf(state, sizeof state, "%s", s != NULL ? s : "?????");
	}
	PQclear(r);
	return state;
}

/* Names of the relations of schema edumon of the given kinds ("rp", "v"),
 * as a NULL-terminated array (free with free_names). */
static char **
relations(const char *kinds)
{
	const char *params[1] = {kinds};
	PGresult *r = PQexecParams(pg,
	    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'edumon'::regnamespace "
	    "AND strpos($1, c.relkind::text) > 0 AND NOT c.relispartition ORDER BY 1",
	    1, NULL, params, NULL, NULL, 0);
	char **names;
	int n;

	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
	n = PQntuples(r);
	names = xcalloc((size_t)n + 1, sizeof *names);
	for (int i = 0; i < n; i++)
		names[i] = xstrdup(PQgetvalue(r, i, 0));
	PQclear(r);
	return names;
}

static void
free_names(char **names)
{
	for (char **p = names; *p != NULL; p++)
		free(*p);
	free(names);
}

Test(cli, migrate_is_idempotent)
{
	char *out = NULL, *expect;

	cr_assert_eq(cli("migrate", false, &out), 0);
	expect = xasprintf("0 applied, schema version %d\n", migrations_latest());
	cr_expect_str_eq(out, expect);
	cr_expect_eq(count("SELECT count(*) FROM edumon.schema_migration"), (long)migrations_count);
	free(expect);
	free(out);
}

Test(cli, version_help_and_usage_errors)
{
	char *out = NULL;

	cr_assert_eq(cli("--version", false, &out), 0);
	cr_expect_str_eq(out, "edumon 0.1.0\n");
	free(out);
	cr_assert_eq(cli("token create --help", false, &out), 0);
	cr_expect_not_null(strstr(out, "--school CODE"));
	free(out);
	cr_expect_eq(cli("token create --frobnicate", true, &out), 2);
	free(out);
	cr_expect_eq(cli("token create --school " SCHOOL " --admin", true, &out), 2);
	free(out);
	cr_expect_eq(cli("no-such-command", true, &out), 2);
	free(out);
}

Test(cli, schools_import_is_atomic_and_names_the_line)
{
	static const char bad[] =
	    "code,name,kind,parent_code,stages,urban,public\n"
	    "2132070399,连云区新建小学,school,320703,primary,true,true\n"
	    SCHOOL ",改了名的小学,school,320703,primary,true,true\n"
	    "2132070398,坏行小学,skool,320703,primary,true,true\n"
	    "2132070397,又一所小学,school,320703,primary,true,true\n";
	long before = count("SELECT count(*) FROM edumon.org_unit");
	char *out = NULL, *name;

	cr_assert_eq(cli_file("schools import", bad, &out), 1, "%s", out);
	cr_expect_not_null(strstr(out, "line 4:"), "output: %s", out);
	cr_expect_null(strstr(out, "line 2:"), "output: %s", out);
	free(out);
	cr_expect_eq(count("SELECT count(*) FROM edumon.org_unit"), before);
	name = tl_query_value(pg, "SELECT name FROM edumon.org_unit WHERE code = '" SCHOOL "'");
	cr_expect_str_eq(name, "连云区实验小学");
	free(name);
}

Test(cli, schools_import_refuses_cycles_and_unknown_parents)
{
	static const char cycle[] =
	    "code,name,kind,parent_code,stages,urban,public\n"
	    "3207,连云港市,city,320703,,true,true\n";
	static const char orphan[] =
	    "code,name,kind,parent_code,stages,urban,public\n"
	    "2132079901,无主小学,school,329999,primary,true,true\n";
	char *out = NULL, *parent;

	cr_assert_eq(cli_file("schools import", cycle, &out), 1, "%s", out);
	cr_expect_not_null(strstr(out, "line 2:"), "%s", out);
	cr_expect_not_null(strstr(out, "cycle"), "%s", out);
	free(out);
	parent = tl_query_value(pg, "SELECT p.code FROM edumon.org_unit u JOIN edumon.org_unit p "
	                            "ON p.id = u.parent_id WHERE u.code = '3207'");
	cr_expect_str_eq(parent, "32");
	free(parent);

	cr_assert_eq(cli_file("schools import", orphan, &out), 1, "%s", out);
	cr_expect_not_null(strstr(out, "line 2:"), "%s", out);
	cr_expect_not_null(strstr(out, "329999"), "%s", out);
	free(out);
}

Test(cli, schools_reimport_updates_and_parents_may_come_later)
{
	static const char rename[] =
	    "code,name,kind,parent_code,stages,urban,public\n"
	    SCHOOL ",连云区实验小学（东校区）,school,320703,primary,true,true\n";
	static const char later[] =
	    "code,name,kind,parent_code,stages,urban,public\n"
	    "2132072401,灌云县实验小学,school,320724,primary,false,true\n"
	    "320724,灌云县,district,3207,,true,true\n";
	char *out = NULL, *v;

	cr_assert_eq(cli_file("schools import", rename, &out), 0, "%s", out);
	cr_expect_str_eq(out, "0 inserted, 1 updated\n");
	free(out);
	v = tl_query_value(pg, "SELECT name FROM edumon.org_unit WHERE code = '" SCHOOL "'");
	cr_expect_str_eq(v, "连云区实验小学（东校区）");
	free(v);

	cr_assert_eq(cli_file("schools import", later, &out), 0, "%s", out);
	cr_expect_str_eq(out, "2 inserted, 0 updated\n");
	free(out);
	v = tl_query_value(pg, "SELECT district_code FROM edumon.v_unit WHERE code = '2132072401'");
	cr_expect_str_eq(v, "320724");
	free(v);

	/* The demo file again: only the renamed school changes back. */
	cr_assert_eq(cli("schools import deploy/demo/units.csv", true, &out), 0, "%s", out);
	cr_expect_str_eq(out, "0 inserted, 1 updated\n");
	free(out);
}

Test(cli, token_create_prints_one_line_and_stores_only_the_hash)
{
	char *out = NULL, *line, *v;
	char **tables;
	regex_t re;
	const char *params[1];
	PGresult *r;

	cr_assert_eq(cli("token create --school " SCHOOL " --label 'MIS 导出'", false, &out), 0);
	cr_assert_eq(regcomp(&re, "^edm_[A-Za-z0-9_-]{43}\n$", REG_EXTENDED | REG_NOSUB), 0);
	cr_expect_eq(regexec(&re, out, 0, NULL, 0), 0, "output: [%s]", out);
	regfree(&re);
	line = xstrndup(out, strcspn(out, "\n"));
	params[0] = line;

	r = PQexecParams(pg,
	    "SELECT t.role, u.code, t.label, t.prefix = left($1, 10), "
	    "    t.token_sha256 = sha256(convert_to($1, 'UTF8')) "
	    "FROM edumon.api_token t JOIN edumon.org_unit u ON u.id = t.unit_id",
	    1, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
	cr_assert_eq(PQntuples(r), 1);
	cr_expect_str_eq(PQgetvalue(r, 0, 0), "school");
	cr_expect_str_eq(PQgetvalue(r, 0, 1), SCHOOL);
	cr_expect_str_eq(PQgetvalue(r, 0, 2), "MIS 导出");
	cr_expect_str_eq(PQgetvalue(r, 0, 3), "t");
	cr_expect_str_eq(PQgetvalue(r, 0, 4), "t");
	PQclear(r);

	/* No row of any table holds the clear token. */
	tables = relations("rp");
	for (char **t = tables; *t != NULL; t++) {
		char *sql = xasprintf("SELECT count(*) FROM edumon.%s x WHERE strpos(x::text, $1) > 0",
		    *t);

		r = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
		cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
		cr_expect_str_eq(PQgetvalue(r, 0, 0), "0", "table %s holds the token", *t);
		PQclear(r);
		free(sql);
	}
	free_names(tables);

	/* The unit must suit the role. */
	free(out);
	cr_expect_eq(cli("token create --school " DISTRICT, true, &out), 1, "%s", out);
	free(out);
	cr_expect_eq(cli("token create --reporter " SCHOOL, true, &out), 1, "%s", out);
	free(out);
	cr_expect_eq(cli("token create --monitor 32", false, &out), 0);
	free(out);
	v = tl_query_value(pg, "SELECT count(*) FROM edumon.api_token");
	cr_expect_str_eq(v, "2");
	free(v);
	free(line);
}

Test(cli, token_revoke_sets_revoked_at)
{
	char *tok = tl_token(db, "--reporter " DISTRICT), *id, *args, *out = NULL, *v;

	id = tl_query_value(pg, "SELECT id FROM edumon.api_token");
	cr_assert_not_null(id);
	cr_expect_eq(count("SELECT count(*) FROM edumon.api_token WHERE revoked_at IS NULL"), 1);
	args = xasprintf("token revoke %s", id);
	cr_assert_eq(cli(args, false, &out), 0);
	free(out);
	v = tl_query_value(pg, "SELECT revoked_at IS NOT NULL FROM edumon.api_token");
	cr_expect_str_eq(v, "t");
	free(v);
	/* Again: nothing to do, still a success. */
	cr_expect_eq(cli(args, false, &out), 0);
	free(out);
	cr_expect_eq(cli("token revoke 999999", true, &out), 1);
	free(out);
	cr_assert_eq(cli("token list", false, &out), 0);
	cr_expect_not_null(strstr(out, DISTRICT), "%s", out);
	cr_expect_null(strstr(out, tok), "token list shows the token");
	free(out);
	free(args);
	free(id);
	free(tok);
}

Test(cli, every_table_view_and_column_has_a_comment)
{
	PGresult *r = PQexec(pg,
	    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'edumon'::regnamespace "
	    "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
	    "AND coalesce(obj_description(c.oid, 'pg_class'), '') = '' "
	    "UNION ALL "
	    "SELECT c.relname || '.' || a.attname FROM pg_class c "
	    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
	    "WHERE c.relnamespace = 'edumon'::regnamespace "
	    "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
	    "AND coalesce(col_description(c.oid, a.attnum), '') = '' "
	    "ORDER BY 1");
	struct buf missing;

	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
	buf_init(&missing);
	buf_puts(&missing, "");
	for (int i = 0; i < PQntuples(r) && i < 40; i++)
		buf_printf(&missing, " %s", PQgetvalue(r, i, 0));
	cr_expect_eq(PQntuples(r), 0, "without a comment:%s", missing.data);
	buf_free(&missing);
	PQclear(r);
	cr_expect_gt(count("SELECT count(*) FROM pg_views WHERE schemaname = 'edumon'"), 5);
}

Test(cli, analyst_reads_views_only)
{
	char **views = relations("v"), **tables = relations("rp");
	PGconn *c = tl_db_connect(db);

	cr_assert_str_eq(sqlstate(c, "SET ROLE edumon_analyst"), "00000");
	for (char **v = views; *v != NULL; v++) {
		char *sql = xasprintf("SELECT * FROM edumon.%s LIMIT 1", *v);

		cr_expect_str_eq(sqlstate(c, sql), "00000", "%s", sql);
		free(sql);
	}
	cr_expect_str_eq(sqlstate(c, "SELECT token_sha256 FROM edumon.api_token"), "42501");
	for (char **t = tables; *t != NULL; t++) {
		char *sel = xasprintf("SELECT * FROM edumon.%s LIMIT 1", *t);
		char *ins = xasprintf("INSERT INTO edumon.%s DEFAULT VALUES", *t);

		cr_expect_str_eq(sqlstate(c, sel), "42501", "%s", sel);
		cr_expect_str_eq(sqlstate(c, ins), "42501", "%s", ins);
		free(ins);
		free(sel);
	}
	cr_expect_str_eq(sqlstate(c, "SELECT * FROM edumon.observation_y2021"), "42501");
	cr_expect_str_eq(sqlstate(c, "CREATE TABLE edumon.x (a int)"), "42501");
	PQfinish(c);
	free_names(tables);
	free_names(views);
}

Test(cli, daemon_cannot_drop_alter_or_delete)
{
	char **tables = relations("rp");
	PGconn *c = tl_db_connect(db);

	cr_assert_str_eq(sqlstate(c, "SET ROLE edumon_daemon"), "00000");
	/* What it needs. */
	cr_expect_str_eq(sqlstate(c, "SELECT count(*) FROM edumon.api_token"), "00000");
	cr_expect_str_eq(sqlstate(c, "UPDATE edumon.api_token SET last_used_at = now()"), "00000");
	cr_expect_str_eq(sqlstate(c, "UPDATE edumon.observation SET value = value"), "00000");
	/* And nothing more. */
	cr_expect_str_eq(sqlstate(c, "UPDATE edumon.api_token SET revoked_at = NULL"), "42501");
	cr_expect_str_eq(sqlstate(c, "UPDATE edumon.observation SET unit_id = unit_id"), "42501");
	cr_expect_str_eq(sqlstate(c, "INSERT INTO edumon.org_unit (code, name, kind) "
	                             "VALUES ('x', 'x', 'province')"),
	    "42501");
	for (char **t = tables; *t != NULL; t++) {
		char *del = xasprintf("DELETE FROM edumon.%s", *t);
		char *trunc = xasprintf("TRUNCATE edumon.%s", *t);
		char *drop = xasprintf("DROP TABLE edumon.%s", *t);
		char *alter = xasprintf("ALTER TABLE edumon.%s ADD COLUMN x integer", *t);

		cr_expect_str_eq(sqlstate(c, del), "42501", "%s", del);
		cr_expect_str_eq(sqlstate(c, trunc), "42501", "%s", trunc);
		cr_expect_str_eq(sqlstate(c, drop), "42501", "%s", drop);
		cr_expect_str_eq(sqlstate(c, alter), "42501", "%s", alter);
		free(alter);
		free(drop);
		free(trunc);
		free(del);
	}
	cr_expect_str_eq(sqlstate(c, "DROP VIEW edumon.v_observation"), "42501");
	cr_expect_str_eq(sqlstate(c, "CREATE TABLE edumon.x (a int)"), "42501");
	PQfinish(c);
	free_names(tables);
}

Test(cli, district_rate_is_weighted)
{
	/* Two schools of 320703: 10/10 and 80/100 make 90/110, not the mean 0.9. */
	static const char insert[] =
	    "INSERT INTO edumon.observation (unit_id, metric_id, period_start, period_end, period, "
	    "    value, numerator, denominator, submission_unit_id, submission_id) "
	    "SELECT u.id, m.id, '2021-09-01', '2022-09-01', '2021-2022', "
	    "    v.n::float8 / v.d, v.n, v.d, u.id, gen_random_uuid() "
	    "FROM (VALUES ('2132070301', 10, 10), ('2132070302', 80, 100), "
	    "             ('3132070601', 1, 2)) AS v (code, n, d) "
	    "JOIN edumon.org_unit u ON u.code = v.code "
	    "CROSS JOIN (SELECT id FROM edumon.metric WHERE kind = 'rate' ORDER BY id LIMIT 1) m";
	PGresult *r;

	cr_assert_str_eq(sqlstate(pg, insert), "00000", "%s", PQerrorMessage(pg));
	r = PQexec(pg, "SELECT numerator_sum, denominator_sum, rate, schools_reporting "
	               "FROM edumon.v_district_rate WHERE district_code = '" DISTRICT "'");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
	cr_assert_eq(PQntuples(r), 1);
	cr_expect_str_eq(PQgetvalue(r, 0, 0), "90");
	cr_expect_str_eq(PQgetvalue(r, 0, 1), "110");
	cr_expect_float_eq(atof(PQgetvalue(r, 0, 2)), 90.0 / 110.0, 1e-12);
	cr_expect_str_eq(PQgetvalue(r, 0, 3), "2");
	PQclear(r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.v_latest"), 3);
	cr_expect_eq(count("SELECT count(*) FROM edumon.v_observation WHERE district_code = '"
	                   DISTRICT "'"),
	    2);
}
