/*
 * edumon: the operator's command-line tool. Migrates the database, loads the
 * metric catalog and the unit registry, and manages API tokens.
 *
 * Subcommands are entries of cmd_table (name, arguments, options, handler,
 * help); main parses the global options (--database, --help, --version,
 * accepted before or after the subcommand), finds the entry, checks its
 * options and arguments, connects and runs the handler. The database work
 * itself is in lib/migrate.c.
 *
 * Exit status: 0 success, 1 runtime error (one line "edumon: ..." on
 * stderr), 2 usage error (the usage on stderr).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "migrate.h"
#include "migrations.h"
#include "rules.h"
#include "token.h"
#include "util.h"

#define EDUMON_VERSION "0.1.0"
#define EXIT_USAGE 2
/* Largest input file accepted (catalog, units). */
#define INPUT_MAX (64u << 20)

/* Command options; a command lists those it accepts as a bit mask. */
enum opt_id {
	OPT_SCHOOL,
	OPT_REPORTER,
	OPT_MONITOR,
	OPT_ADMIN,
	OPT_LABEL,
	OPT_CATALOG,
	OPT_COUNT
};

#define OPT_BIT(o) (1u << (o))

static const struct opt_entry {
	const char *name;
	bool has_arg;
} opt_table[OPT_COUNT] = {
	[OPT_SCHOOL] = {"--school", true},
	[OPT_REPORTER] = {"--reporter", true},
	[OPT_MONITOR] = {"--monitor", true},
	[OPT_ADMIN] = {"--admin", false},
	[OPT_LABEL] = {"--label", true},
	[OPT_CATALOG] = {"--catalog", true},
};

/* What a handler gets: the connection, its arguments and option values
 * (NULL if absent; "" for a flag that is present). */
struct cmd_ctx {
	PGconn *conn;
	const char *cmd;
	char **args;
	int nargs;
	const char *opt[OPT_COUNT];
};

struct cmd_entry {
	const char *name;    /* words, e.g. "token create" */
	const char *args;    /* usage after the name */
	const char *summary; /* one line for the command list */
	const char *help;    /* more text for `edumon CMD --help`, or NULL */
	unsigned opts;       /* OPT_BITs accepted */
	unsigned one_of;     /* OPT_BITs of which exactly one is required */
	int min_args;
	int max_args;
	bool any_schema; /* runs on a database not at the current version */
	bool no_db;      /* runs without a database (conn is NULL) */
	/* Checks the arguments before connecting (usage errors), or NULL. */
	int (*check)(struct cmd_ctx *ctx, char **cause);
	int (*exec)(struct cmd_ctx *ctx, char **cause);
};

static int cmd_migrate(struct cmd_ctx *, char **);
static int cmd_catalog_load(struct cmd_ctx *, char **);
static int cmd_schools_import(struct cmd_ctx *, char **);
static int cmd_token_create(struct cmd_ctx *, char **);
static int cmd_token_list(struct cmd_ctx *, char **);
static int cmd_token_revoke(struct cmd_ctx *, char **);
static int check_token_id(struct cmd_ctx *, char **);
static int cmd_rules_check(struct cmd_ctx *, char **);

static const struct cmd_entry cmd_table[] = {
	{
	    .name = "migrate",
	    .args = "",
	    .summary = "apply the schema migrations this edumon knows",
	    .help = "Applies each missing migration in its own transaction and records it in\n"
	            "edumon.schema_migration; running it again applies nothing. Needs a role that\n"
	            "may create schemas and roles (the first run creates edumon_daemon and\n"
	            "edumon_analyst). Prints \"N applied, schema version V\".\n",
	    .min_args = 0,
	    .max_args = 0,
	    .any_schema = true,
	    .exec = cmd_migrate,
	},
	{
	    .name = "catalog load",
	    .args = "FILE",
	    .summary = "load or update the metric catalog",
	    .help = "FILE is in the format of deploy/metrics.csv (\"-\" reads standard input).\n"
	            "Metrics are matched by code and updated; none is ever deleted. Prints\n"
	            "\"N inserted, M updated\".\n",
	    .min_args = 1,
	    .max_args = 1,
	    .exec = cmd_catalog_load,
	},
	{
	    .name = "schools import",
	    .args = "FILE.csv",
	    .summary = "import or update schools and offices",
	    .help = "FILE.csv has the header code,name,kind,parent_code,stages,urban,public:\n"
	            "  kind         province, city, district, school, childcare, guidance_point\n"
	            "  parent_code  code of the unit above (in the file, even further down, or\n"
	            "               already in the database); empty for the province\n"
	            "  stages       preschool|primary|junior|senior|special|vocational, or empty\n"
	            "  urban        true or false (empty: true)\n"
	            "  public       true or false (empty: true)\n"
	            "Units are matched by code and updated. If any row is bad, every problem is\n"
	            "listed as \"line N: ...\" and nothing is changed. Prints\n"
	            "\"N inserted, M updated\".\n",
	    .min_args = 1,
	    .max_args = 1,
	    .exec = cmd_schools_import,
	},
	{
	    .name = "token create",
	    .args = "(--school CODE | --reporter CODE | --monitor CODE | --admin) [--label TEXT]",
	    .summary = "create an API token and print it",
	    .help = "  --school CODE    writes for one school, childcare centre or guidance point\n"
	            "  --reporter CODE  a district, city or province office: writes for its units\n"
	            "  --monitor CODE   an office: reads alerts and series of its units\n"
	            "  --admin          everything\n"
	            "  --label TEXT     who holds the token, for token list\n"
	            "The token is printed alone on standard output, once: only its SHA-256 is\n"
	            "stored.\n",
	    .opts = OPT_BIT(OPT_SCHOOL) | OPT_BIT(OPT_REPORTER) | OPT_BIT(OPT_MONITOR) |
	            OPT_BIT(OPT_ADMIN) | OPT_BIT(OPT_LABEL),
	    .one_of = OPT_BIT(OPT_SCHOOL) | OPT_BIT(OPT_REPORTER) | OPT_BIT(OPT_MONITOR) |
	              OPT_BIT(OPT_ADMIN),
	    .min_args = 0,
	    .max_args = 0,
	    .exec = cmd_token_create,
	},
	{
	    .name = "token list",
	    .args = "",
	    .summary = "list tokens (id, prefix, role, unit, label, created, last used, revoked)",
	    .help = "Tab-separated, one token a line after a header line; \"-\" for none.\n",
	    .min_args = 0,
	    .max_args = 0,
	    .exec = cmd_token_list,
	},
	{
	    .name = "token revoke",
	    .args = "ID",
	    .summary = "revoke a token (ID as shown by token list)",
	    .help = "Revoking a token already revoked changes nothing and succeeds.\n",
	    .min_args = 1,
	    .max_args = 1,
	    .check = check_token_id,
	    .exec = cmd_token_revoke,
	},
	{
	    .name = "rules check",
	    .args = "[--catalog FILE] [DIR]",
	    .summary = "validate the rule files of DIR (default deploy/rules)",
	    .help = "Reads every *.json file of DIR in name order (comments allowed) and checks\n"
	            "each rule against the metric catalog FILE (default deploy/metrics.csv); no\n"
	            "database is needed. Prints \"N rules in M files, version HASH\", or every\n"
	            "problem as \"FILE: rule ID: FIELD: message\" on stderr and exits 1. The\n"
	            "version is the hash edumond records for the rules in force: the same rules\n"
	            "give the same version whatever their files, order or layout.\n",
	    .opts = OPT_BIT(OPT_CATALOG),
	    .min_args = 0,
	    .max_args = 1,
	    .no_db = true,
	    .exec = cmd_rules_check,
	},
};

static const char global_usage[] =
    "Options, before or after the command:\n"
    "  --database CONNINFO  libpq connection string or URI (default: $EDUMON_DATABASE_URL,\n"
    "                       else libpq's defaults and PG* variables)\n"
    "  --help               show help, also after a command\n"
    "  --version            print the version\n";

/* Print the list of commands whose name starts with prefix ("" for all). */
static void
usage_list(FILE *f, const char *prefix)
{
	size_t plen = strlen(prefix);

	fprintf(f, "usage: edumon [--database CONNINFO] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_LEN(cmd_table); i++) {
		const struct cmd_entry *ce = &cmd_table[i];
		char *line;

		if (strncmp(ce->name, prefix, plen) != 0 ||
		    (plen > 0 && ce->name[plen] != ' ' && ce->name[plen] != '\0'))
			continue;
		line = xasprintf("%s%s%s", ce->name, ce->args[0] != '\0' ? " " : "", ce->args);
		if (strlen(line) <= 28)
			fprintf(f, "  %-28s  %s\n", line, ce->summary);
		else
			fprintf(f, "  %s\n  %-28s  %s\n", line, "", ce->summary);
		free(line);
	}
	fprintf(f, "\n%s", global_usage);
}

/* Print one command's usage and help. */
static void
usage_cmd(FILE *f, const struct cmd_entry *ce)
{
	fprintf(f, "usage: edumon [--database CONNINFO] %s%s%s\n\n%s.\n", ce->name,
	    ce->args[0] != '\0' ? " " : "", ce->args, ce->summary);
	if (ce->help != NULL)
		fprintf(f, "\n%s", ce->help);
	fprintf(f, "\n%s", global_usage);
}

/* Drop NOTICE and below; show warnings on one line. */
static void
notice_cb(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	if (sev != NULL && strcmp(sev, "WARNING") == 0 && msg != NULL)
		fprintf(stderr, "edumon: warning: %s\n", msg);
}

/* libpq's connection message as one line; the caller frees it. */
static char *
conn_error(PGconn *conn)
{
	const char *m = PQerrorMessage(conn);
	struct buf b;
	bool space = false;

	buf_init(&b);
	for (; *m != '\0'; m++) {
		if (*m == '\n' || *m == '\t' || *m == ' ') {
			space = true;
			continue;
		}
		if (space && b.len > 0)
			buf_putc(&b, ' ');
		space = false;
		buf_putc(&b, *m);
	}
	return buf_steal(&b);
}

/*
 * Connect with conninfo (a connection string or URI; NULL for libpq's
 * defaults), in UTF-8, as application "edumon". Returns the connection or
 * NULL with *cause.
 */
static PGconn *
db_connect(const char *conninfo, char **cause)
{
	const char *const keys[] = {"dbname", "client_encoding", "fallback_application_name",
	    NULL};
	const char *const values[] = {conninfo, "UTF8", "edumon", NULL};
	PGconn *conn;
	char *msg;

	conn = PQconnectdbParams(keys, values, 1);
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
		PQsetNoticeReceiver(conn, notice_cb, NULL);
		return conn;
	}
	msg = conn != NULL ? conn_error(conn) : xstrdup("out of memory");
	*cause = xasprintf("cannot connect to the database: %s", msg);
	free(msg);
	PQfinish(conn);
	return NULL;
}

/*
 * Read a whole file ("-" for standard input) into a new NUL-terminated
 * buffer *out of *len bytes; the caller frees it.
 */
static int
read_input(const char *path, char **out, size_t *len, char **cause)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&b);
	buf_reserve(&b, 1);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b.len + n > INPUT_MAX) {
			*cause = xasprintf("%s: larger than %u MiB", path, INPUT_MAX >> 20);
			goto fail;
		}
		buf_append(&b, chunk, n);
	}
	if (ferror(f)) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	*len = b.len;
	*out = buf_steal(&b);
	return 0;

fail:
	if (f != stdin)
		fclose(f);
	buf_free(&b);
	return -1;
}

/* edumon migrate: bring the schema up to date; says how many were applied. */
static int
cmd_migrate(struct cmd_ctx *ctx, char **cause)
{
	int applied, version;

	if (migrate_apply(ctx->conn, &applied, cause) != 0) {
		if (applied > 0)
			fprintf(stderr, "edumon: %d migration%s applied before the failure\n", applied,
			    applied == 1 ? "" : "s");
		return -1;
	}
	if (migrate_current_version(ctx->conn, &version, cause) != 0)
		return -1;
	printf("%d applied, schema version %d\n", applied, version);
	return 0;
}

/* edumon catalog load FILE: parse the whole file first, then upsert it. */
static int
cmd_catalog_load(struct cmd_ctx *ctx, char **cause)
{
	const char *path = ctx->args[0];
	struct catalog *cat = NULL;
	char *data, *why = NULL;
	size_t len;
	int inserted, updated, rc = -1;

	if (read_input(path, &data, &len, cause) != 0)
		return -1;
	if (catalog_parse_csv(data, len, &cat, &why) != 0) {
		*cause = xasprintf("%s: %s", path, why);
		goto out;
	}
	if (catalog_load_db(ctx->conn, cat, &inserted, &updated, &why) != 0) {
		*cause = xasprintf("%s: %s", path, why);
		goto out;
	}
	printf("%d inserted, %d updated\n", inserted, updated);
	rc = 0;
out:
	free(why);
	catalog_free(cat);
	free(data);
	return rc;
}

/* edumon schools import FILE: all rows or none; every bad row listed on stderr. */
static int
cmd_schools_import(struct cmd_ctx *ctx, char **cause)
{
	const char *path = ctx->args[0];
	struct units_report rep;
	char *data, *why = NULL;
	size_t len;
	int rc = -1;

	if (read_input(path, &data, &len, cause) != 0)
		return -1;
	if (units_import(ctx->conn, data, len, &rep, &why) != 0) {
		for (size_t i = 0; i < rep.nerrors; i++)
			fprintf(stderr, "%s\n", rep.errors[i]);
		*cause = xasprintf("%s: %s", path, why);
		goto out;
	}
	printf("%d inserted, %d updated\n", rep.inserted, rep.updated);
	rc = 0;
out:
	free(why);
	units_report_free(&rep);
	free(data);
	return rc;
}

/* edumon token create: the token alone on stdout, the rest on stderr. */
static int
cmd_token_create(struct cmd_ctx *ctx, char **cause)
{
	static const struct {
		enum opt_id opt;
		enum token_role role;
	} roles[] = {
		{OPT_SCHOOL, TOKEN_ROLE_SCHOOL},
		{OPT_REPORTER, TOKEN_ROLE_REPORTER},
		{OPT_MONITOR, TOKEN_ROLE_MONITOR},
		{OPT_ADMIN, TOKEN_ROLE_ADMIN},
	};
	char token[TOKEN_LEN + 1];
	enum token_role role = TOKEN_ROLE_ADMIN;
	const char *unit = NULL;
	int id;

	for (size_t i = 0; i < ARRAY_LEN(roles); i++) {
		if (ctx->opt[roles[i].opt] != NULL) {
			role = roles[i].role;
			unit = roles[i].role == TOKEN_ROLE_ADMIN ? NULL : ctx->opt[roles[i].opt];
		}
	}
	if (token_create_db(ctx->conn, role, unit, ctx->opt[OPT_LABEL], token, &id, cause) != 0)
		return -1;
	printf("%s\n", token);
	fflush(stdout);
	explicit_bzero(token, sizeof token);
	fprintf(stderr, "edumon: token %d created (%s%s%s); it is shown only this once\n", id,
	    token_role_name(role), unit != NULL ? " " : "", unit != NULL ? unit : "");
	return 0;
}

/* Print s for a tab-separated line: "-" if NULL, tabs and breaks as spaces. */
static void
print_field(const char *s, char sep)
{
	if (s == NULL || *s == '\0')
		fputc('-', stdout);
	else {
		for (; *s != '\0'; s++)
			fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, stdout);
	}
	fputc(sep, stdout);
}

/* edumon token list: a header line, then one tab-separated line a token. */
static int
cmd_token_list(struct cmd_ctx *ctx, char **cause)
{
	struct token_info *list;
	size_t n;

	if (token_list_db(ctx->conn, &list, &n, cause) != 0)
		return -1;
	printf("id\tprefix\trole\tunit\tlabel\tcreated\tlast_used\trevoked\n");
	for (size_t i = 0; i < n; i++) {
		printf("%d\t", list[i].id);
		print_field(list[i].prefix, '\t');
		print_field(list[i].role, '\t');
		print_field(list[i].unit_code, '\t');
		print_field(list[i].label, '\t');
		print_field(list[i].created_at, '\t');
		print_field(list[i].last_used_at, '\t');
		print_field(list[i].revoked_at, '\n');
	}
	token_list_free(list, n);
	return 0;
}

/* ID must be a token number. */
static int
check_token_id(struct cmd_ctx *ctx, char **cause)
{
	long long id;

	if (parse_ll(ctx->args[0], 1, INT_MAX, &id) != 0) {
		*cause = xasprintf("token revoke: ID \"%s\" is not a token number", ctx->args[0]);
		return -1;
	}
	return 0;
}

/* edumon token revoke ID: idempotent; an unknown ID is an error. */
static int
cmd_token_revoke(struct cmd_ctx *ctx, char **cause)
{
	long long id;
	bool already;

	if (parse_ll(ctx->args[0], 1, INT_MAX, &id) != 0) {
		*cause = xasprintf("token revoke: ID \"%s\" is not a token number", ctx->args[0]);
		return -1;
	}
	if (token_revoke_db(ctx->conn, id, &already, cause) != 0)
		return -1;
	printf(already ? "token %lld was already revoked\n" : "token %lld revoked\n", id);
	return 0;
}

/*
 * edumon rules check [DIR]: the catalog from a file and the rules from DIR;
 * every problem on stderr, the summary on stdout.
 */
static int
cmd_rules_check(struct cmd_ctx *ctx, char **cause)
{
	const char *dir = ctx->nargs > 0 ? ctx->args[0] : "deploy/rules";
	const char *catpath = ctx->opt[OPT_CATALOG] != NULL ? ctx->opt[OPT_CATALOG] :
	    "deploy/metrics.csv";
	struct catalog *cat = NULL;
	struct ruleset *set = NULL;
	char *data, *why = NULL, *errors = NULL;
	size_t len, n = 0;
	int rc = -1;

	if (read_input(catpath, &data, &len, cause) != 0)
		return -1;
	if (catalog_parse_csv(data, len, &cat, &why) != 0) {
		*cause = xasprintf("%s: %s", catpath, why);
		goto out;
	}
	set = rules_load_dir(dir, cat, &errors);
	if (set == NULL) {
		for (const char *p = errors; p != NULL && *p != '\0'; p++)
			n += *p == '\n';
		fprintf(stderr, "%s", errors != NULL ? errors : "");
		*cause = xasprintf("%s: %zu problem%s in the rules", dir, n, n == 1 ? "" : "s");
		goto out;
	}
	printf("%zu rule%s in %zu file%s, version %s\n", set->nrules, set->nrules == 1 ? "" : "s",
	    set->nfiles, set->nfiles == 1 ? "" : "s", set->version);
	rc = 0;
out:
	ruleset_free(set);
	free(errors);
	free(why);
	catalog_free(cat);
	free(data);
	return rc;
}

/* The command option named arg ("--school" or "--school=X"), or -1. */
static int
opt_lookup(const char *arg, const char **inline_value)
{
	for (int o = 0; o < OPT_COUNT; o++) {
		size_t len = strlen(opt_table[o].name);

		if (strncmp(arg, opt_table[o].name, len) != 0)
			continue;
		if (arg[len] == '\0') {
			*inline_value = NULL;
			return o;
		}
		if (arg[len] == '=' && opt_table[o].has_arg) {
			*inline_value = arg + len + 1;
			return o;
		}
	}
	return -1;
}

/* Number of words of an entry's name that match words[0..n), or 0. */
static int
cmd_match(const struct cmd_entry *ce, char **words, int n)
{
	const char *p = ce->name;
	int k = 0;

	while (*p != '\0') {
		size_t len = strcspn(p, " ");

		if (k >= n || strlen(words[k]) != len || strncmp(words[k], p, len) != 0)
			return 0;
		k++;
		p += len;
		if (*p == ' ')
			p++;
	}
	return k;
}

/* Print "edumon: msg" and a usage to stderr; returns EXIT_USAGE. */
static int PRINTFLIKE(2, 3)
usage_error(const struct cmd_entry *ce, const char *fmt, ...)
{
	va_list ap;

	fputs("edumon: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	if (ce != NULL)
		usage_cmd(stderr, ce);
	else
		usage_list(stderr, "");
	return EXIT_USAGE;
}

/* Parse, find the command in cmd_table, connect and run it (exit statuses: see the top). */
int
main(int argc, char **argv)
{
	const char *conninfo = NULL, *opt[OPT_COUNT] = {0};
	const struct cmd_entry *ce = NULL;
	char **words = xcalloc((size_t)argc + 1, sizeof *words);
	char **opts = xcalloc((size_t)argc + 1, sizeof *opts);
	int nwords = 0, nopts = 0, matched = 0, rc = EXIT_FAILURE;
	bool help = false, version = false;
	struct cmd_ctx ctx = {0};
	char *cause = NULL;

	/* Pass 1: global options anywhere; command options (with their values)
	 * and words kept in order for pass 2. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int o;

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				words[nwords++] = argv[i];
			break;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			help = true;
		else if (strcmp(a, "--version") == 0)
			version = true;
		else if (strcmp(a, "--database") == 0) {
			if (i + 1 >= argc) {
				rc = usage_error(NULL, "option --database needs a value");
				goto out;
			}
			conninfo = argv[++i];
		} else if (strncmp(a, "--database=", 11) == 0)
			conninfo = a + 11;
		else if ((o = opt_lookup(a, &v)) >= 0) {
			opts[nopts++] = argv[i];
			if (opt_table[o].has_arg && v == NULL && i + 1 < argc)
				opts[nopts++] = argv[++i];
		} else if (a[0] == '-' && a[1] != '\0')
			opts[nopts++] = argv[i];
		else
			words[nwords++] = argv[i];
	}

	if (version) {
		printf("edumon %s\n", EDUMON_VERSION);
		rc = EXIT_SUCCESS;
		goto out;
	}
	for (size_t i = 0; i < ARRAY_LEN(cmd_table); i++) {
		int k = cmd_match(&cmd_table[i], words, nwords);

		if (k > matched) {
			matched = k;
			ce = &cmd_table[i];
		}
	}
	if (ce == NULL) {
		const char *group = nwords > 0 ? words[0] : "";
		bool known = false;

		for (size_t i = 0; i < ARRAY_LEN(cmd_table) && nwords > 0; i++) {
			size_t len = strlen(group);

			if (strncmp(cmd_table[i].name, group, len) == 0 && cmd_table[i].name[len] == ' ')
				known = true;
		}
		if (help && (nwords == 0 || (known && nwords == 1))) {
			usage_list(stdout, known ? group : "");
			rc = EXIT_SUCCESS;
		} else if (nwords == 0)
			rc = usage_error(NULL, "no command given");
		else if (known) {
			fprintf(stderr, "edumon: %s: %s\n", group,
			    nwords > 1 ? "unknown subcommand" : "missing subcommand");
			usage_list(stderr, group);
			rc = EXIT_USAGE;
		} else
			rc = usage_error(NULL, "unknown command \"%s\"", words[0]);
		goto out;
	}
	if (help) {
		usage_cmd(stdout, ce);
		rc = EXIT_SUCCESS;
		goto out;
	}

	/* Pass 2: the entry's options and arguments. */
	for (int i = 0; i < nopts; i++) {
		const char *v;
		int o = opt_lookup(opts[i], &v);

		if (o < 0 || (ce->opts & OPT_BIT(o)) == 0) {
			rc = usage_error(ce, "%s: unknown option %s", ce->name, opts[i]);
			goto out;
		}
		if (opt[o] != NULL) {
			rc = usage_error(ce, "%s: option %s given twice", ce->name, opt_table[o].name);
			goto out;
		}
		if (opt_table[o].has_arg && v == NULL) {
			if (i + 1 >= nopts) {
				rc = usage_error(ce, "%s: option %s needs a value", ce->name,
				    opt_table[o].name);
				goto out;
			}
			v = opts[++i];
		}
		opt[o] = opt_table[o].has_arg ? v : "";
	}
	if (ce->one_of != 0) {
		int given = 0;

		for (int o = 0; o < OPT_COUNT; o++)
			given += (ce->one_of & OPT_BIT(o)) != 0 && opt[o] != NULL;
		if (given != 1) {
			rc = usage_error(ce, "%s: give exactly one of the role options", ce->name);
			goto out;
		}
	}
	if (nwords - matched < ce->min_args || nwords - matched > ce->max_args) {
		rc = usage_error(ce, "%s: %s", ce->name,
		    nwords - matched < ce->min_args ? "missing argument" : "too many arguments");
		goto out;
	}

	ctx.cmd = ce->name;
	ctx.args = words + matched;
	ctx.nargs = nwords - matched;
	memcpy(ctx.opt, opt, sizeof ctx.opt);
	if (ce->check != NULL && ce->check(&ctx, &cause) != 0) {
		rc = usage_error(ce, "%s", cause);
		goto out;
	}

	if (ce->no_db) {
		if (ce->exec(&ctx, &cause) != 0)
			goto fail;
		rc = EXIT_SUCCESS;
		goto out;
	}
	if (conninfo == NULL)
		conninfo = getenv("EDUMON_DATABASE_URL");
	ctx.conn = db_connect(conninfo, &cause);
	if (ctx.conn == NULL)
		goto fail;
	if (!ce->any_schema && migrate_check_current(ctx.conn, &cause) != 0)
		goto fail;
	if (ce->exec(&ctx, &cause) != 0)
		goto fail;
	rc = EXIT_SUCCESS;
	goto out;

fail:
	fprintf(stderr, "edumon: %s\n", cause);
	rc = EXIT_FAILURE;
out:
	PQfinish(ctx.conn);
	free(cause);
	free(words);
	free(opts);
	return rc;
}
