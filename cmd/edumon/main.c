/*
 * edumon: the operator's command-line tool. Migrates the database, loads the
 * metric catalog and the unit registry, manages API tokens, notification
 * channels and silences, and lists notifications.
 *
 * Subcommands are entries of cmd_table (name, arguments, options, handler,
 * help); main parses the global options (--database, --help, --version,
 * accepted before or after the subcommand), finds the entry, checks its
 * options and arguments, connects and runs the handler. The database work
 * itself is in lib/migrate.c, lib/channel.c and lib/silence.c.
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
#include "channel.h"
#include "httpc.h"
#include "migrate.h"
#include "migrations.h"
#include "rules.h"
#include "silence.h"
#include "token.h"
#include "util.h"

#define EDUMON_VERSION "0.1.0"
#define EXIT_USAGE 2
/* Largest input file accepted (catalog, units). */
#define INPUT_MAX (64u << 20)
/* Largest secret file accepted (the column holds 500 characters). */
#define SECRET_FILE_MAX 4096
#define NOTIFICATIONS_LIMIT_DEFAULT 50
#define NOTIFICATIONS_LIMIT_MAX 10000

/* Command options; a command lists those it accepts as a bit mask. */
enum opt_id {
	OPT_SCHOOL,
	OPT_REPORTER,
	OPT_MONITOR,
	OPT_ADMIN,
	OPT_LABEL,
	OPT_CATALOG,
	OPT_UNIT,
	OPT_KIND,
	OPT_URL,
	OPT_NAME,
	OPT_SECRET,
	OPT_SECRET_FILE,
	OPT_SECRET_ENV,
	OPT_MIN_SEVERITY,
	OPT_SUBUNITS,
	OPT_ALLOW_PRIVATE,
	OPT_RATE,
	OPT_ALL,
	OPT_FAILED,
	OPT_PENDING,
	OPT_CHANNEL,
	OPT_LIMIT,
	OPT_RULE,
	OPT_METRIC,
	OPT_FOR,
	OPT_UNTIL,
	OPT_STARTS,
	OPT_BY,
	OPT_COMMENT,
	OPT_COUNT
};
_Static_assert(OPT_COUNT <= 32, "option masks are 32 bits");

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
	[OPT_UNIT] = {"--unit", true},
	[OPT_KIND] = {"--kind", true},
	[OPT_URL] = {"--url", true},
	[OPT_NAME] = {"--name", true},
	[OPT_SECRET] = {"--secret", true},
	[OPT_SECRET_FILE] = {"--secret-file", true},
	[OPT_SECRET_ENV] = {"--secret-env", true},
	[OPT_MIN_SEVERITY] = {"--min-severity", true},
	[OPT_SUBUNITS] = {"--subunits", false},
	[OPT_ALLOW_PRIVATE] = {"--allow-private", false},
	[OPT_RATE] = {"--rate", true},
	[OPT_ALL] = {"--all", false},
	[OPT_FAILED] = {"--failed", false},
	[OPT_PENDING] = {"--pending", false},
	[OPT_CHANNEL] = {"--channel", true},
	[OPT_LIMIT] = {"--limit", true},
	[OPT_RULE] = {"--rule", true},
	[OPT_METRIC] = {"--metric", true},
	[OPT_FOR] = {"--for", true},
	[OPT_UNTIL] = {"--until", true},
	[OPT_STARTS] = {"--starts", true},
	[OPT_BY] = {"--by", true},
	[OPT_COMMENT] = {"--comment", true},
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
	unsigned required;   /* OPT_BITs that must all be given */
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
static int check_id(struct cmd_ctx *, char **);
static int cmd_rules_check(struct cmd_ctx *, char **);
static int check_channel_add(struct cmd_ctx *, char **);
static int cmd_channel_add(struct cmd_ctx *, char **);
static int cmd_channel_list(struct cmd_ctx *, char **);
static int cmd_channel_remove(struct cmd_ctx *, char **);
static int cmd_channel_test(struct cmd_ctx *, char **);
static int check_notifications_list(struct cmd_ctx *, char **);
static int cmd_notifications_list(struct cmd_ctx *, char **);
static int check_silence_add(struct cmd_ctx *, char **);
static int cmd_silence_add(struct cmd_ctx *, char **);
static int cmd_silence_list(struct cmd_ctx *, char **);
static int cmd_silence_expire(struct cmd_ctx *, char **);

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
	    .check = check_id,
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
	{
	    .name = "channel add",
	    .args = "--unit CODE --kind KIND --url URL [--name NAME] [--secret-file FILE |\n"
	            "    --secret-env VAR | --secret S] [--min-severity SEV] [--subunits]\n"
	            "    [--allow-private] [--rate N]",
	    .summary = "send a unit's alert events to a webhook, robot or Alertmanager",
	    .help = "  --unit CODE          the unit whose alerts the channel receives: its own, and\n"
	            "                       those of the units below it up to the next office\n"
	            "  --kind KIND          webhook (signed JSON), wecom (WeCom group robot),\n"
	            "                       dingtalk (DingTalk robot) or alertmanager (its base URL)\n"
	            "  --url URL            http(s) receiver; refused when it resolves to a loopback,\n"
	            "                       private or link-local address, unless --allow-private\n"
	            "  --name NAME          unique within the unit (default: the kind)\n"
	            "  --secret-file FILE   the HMAC key, read from FILE (a final newline is\n"
	            "                       dropped): required for webhook (the signature key),\n"
	            "                       optional for dingtalk (its signing secret), refused for\n"
	            "                       wecom and alertmanager\n"
	            "  --secret-env VAR     the key from environment variable VAR instead\n"
	            "  --secret S           the key itself; it shows in ps and in shell history:\n"
	            "                       prefer --secret-file or --secret-env\n"
	            "  --min-severity SEV   info, warning (default) or critical\n"
	            "  --subunits           also the alerts of the offices below (a city's districts)\n"
	            "  --allow-private      permit a receiver on a loopback or private network\n"
	            "  --rate N             messages a minute at most, 0 for no limit (default:\n"
	            "                       wecom and dingtalk 20, webhook 60, alertmanager 0)\n"
	            "The channel starts with the next alert event: it does not receive the past.\n"
	            "Prints the new channel's id alone on standard output.\n",
	    .opts = OPT_BIT(OPT_UNIT) | OPT_BIT(OPT_KIND) | OPT_BIT(OPT_URL) | OPT_BIT(OPT_NAME) |
	            OPT_BIT(OPT_SECRET) | OPT_BIT(OPT_SECRET_FILE) | OPT_BIT(OPT_SECRET_ENV) |
	            OPT_BIT(OPT_MIN_SEVERITY) | OPT_BIT(OPT_SUBUNITS) |
	            OPT_BIT(OPT_ALLOW_PRIVATE) | OPT_BIT(OPT_RATE),
	    .required = OPT_BIT(OPT_UNIT) | OPT_BIT(OPT_KIND) | OPT_BIT(OPT_URL),
	    .min_args = 0,
	    .max_args = 0,
	    .check = check_channel_add,
	    .exec = cmd_channel_add,
	},
	{
	    .name = "channel list",
	    .args = "[--unit CODE] [--all]",
	    .summary = "list channels and their notification counts",
	    .help = "Tab-separated after a header line: id, unit, kind, name, min_severity,\n"
	            "subunits, rate, url, created, removed, and the channel's notifications that\n"
	            "are pending, failed, delivered and silenced. The URL is shown without its\n"
	            "user name, password, query and fragment (robot URLs carry their key in the\n"
	            "query); secrets are never shown. --unit: that unit's channels only; --all:\n"
	            "removed channels too.\n",
	    .opts = OPT_BIT(OPT_UNIT) | OPT_BIT(OPT_ALL),
	    .min_args = 0,
	    .max_args = 0,
	    .exec = cmd_channel_list,
	},
	{
	    .name = "channel remove",
	    .args = "ID",
	    .summary = "stop sending to a channel (ID as shown by channel list)",
	    .help = "The channel and its notifications stay, marked removed. Removing a channel\n"
	            "already removed changes nothing and succeeds.\n",
	    .min_args = 1,
	    .max_args = 1,
	    .check = check_id,
	    .exec = cmd_channel_remove,
	},
	{
	    .name = "channel test",
	    .args = "ID",
	    .summary = "send a test message through a channel now",
	    .help = "Sends a sample alert event (rule test, 测试消息, severity warning, on the\n"
	            "channel's unit) with the channel's kind, URL and secret, and prints one line:\n"
	            "\"delivered: ...\", or \"failed: ...\" with the HTTP status and the robot's\n"
	            "error code. Exits 0 when delivered, 1 otherwise. Nothing is recorded.\n",
	    .min_args = 1,
	    .max_args = 1,
	    .check = check_id,
	    .exec = cmd_channel_test,
	},
	{
	    .name = "notifications list",
	    .args = "[--failed] [--pending] [--channel ID] [--limit N]",
	    .summary = "list notifications, newest first",
	    .help = "Tab-separated after a header line: id, channel, alert, rule, unit, period,\n"
	            "event, severity, state, attempts, the last HTTP status and error, created,\n"
	            "last attempt, done. --failed, --pending: only those (both: either);\n"
	            "--channel: one channel's; --limit: at most N lines (default 50).\n",
	    .opts = OPT_BIT(OPT_FAILED) | OPT_BIT(OPT_PENDING) | OPT_BIT(OPT_CHANNEL) |
	            OPT_BIT(OPT_LIMIT),
	    .min_args = 0,
	    .max_args = 0,
	    .check = check_notifications_list,
	    .exec = cmd_notifications_list,
	},
	{
	    .name = "silence add",
	    .args = "[--unit CODE] [--rule ID] [--metric CODE] [--label KEY=VALUE]\n"
	            "    (--for DURATION | --until TIME) [--starts TIME] --by WHO --comment TEXT",
	    .summary = "mute matching alert events for a while",
	    .help = "An alert event is muted (recorded as silenced, not sent) when it matches\n"
	            "every matcher given; give at least one:\n"
	            "  --unit CODE        alerts of the unit and of every unit below it\n"
	            "  --rule ID          alerts of this rule\n"
	            "  --metric CODE      alerts on this metric\n"
	            "  --label KEY=VALUE  alerts of rules with this label\n"
	            "  --for DURATION     from the start, for 90s, 30m, 2h or 3d (at most 366d)\n"
	            "  --until TIME       until TIME, \"YYYY-MM-DD HH:MM[:SS]\"\n"
	            "  --starts TIME      from TIME instead of now\n"
	            "  --by WHO           who asks (up to 200 characters)\n"
	            "  --comment TEXT     why (up to 2000 characters)\n"
	            "TIME is read by PostgreSQL in the session's time zone: the database's\n"
	            "TimeZone setting, or PGTZ when set; an explicit offset (+08:00) also works.\n"
	            "Prints the new silence's id alone on standard output.\n",
	    .opts = OPT_BIT(OPT_UNIT) | OPT_BIT(OPT_RULE) | OPT_BIT(OPT_METRIC) |
	            OPT_BIT(OPT_LABEL) | OPT_BIT(OPT_FOR) | OPT_BIT(OPT_UNTIL) |
	            OPT_BIT(OPT_STARTS) | OPT_BIT(OPT_BY) | OPT_BIT(OPT_COMMENT),
	    .one_of = OPT_BIT(OPT_FOR) | OPT_BIT(OPT_UNTIL),
	    .required = OPT_BIT(OPT_BY) | OPT_BIT(OPT_COMMENT),
	    .min_args = 0,
	    .max_args = 0,
	    .check = check_silence_add,
	    .exec = cmd_silence_add,
	},
	{
	    .name = "silence list",
	    .args = "[--all]",
	    .summary = "list silences in force or to come (--all: ended ones too)",
	    .help = "Tab-separated after a header line: id, unit, rule, metric, label, starts,\n"
	            "ends, active, by, comment, created, expired; times in the session's time\n"
	            "zone.\n",
	    .opts = OPT_BIT(OPT_ALL),
	    .min_args = 0,
	    .max_args = 0,
	    .exec = cmd_silence_list,
	},
	{
	    .name = "silence expire",
	    .args = "ID",
	    .summary = "end a silence now",
	    .help = "Sets its end to now and records the expiry. A silence that has already\n"
	            "ended is left as it is: the command says so and succeeds. An unknown ID is\n"
	            "an error.\n",
	    .min_args = 1,
	    .max_args = 1,
	    .check = check_id,
	    .exec = cmd_silence_expire,
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

/* The ID argument, a row number (checked by check_id before connecting). */
static long long
arg_id(const struct cmd_ctx *ctx)
{
	long long id;

	if (parse_ll(ctx->args[0], 1, INT_MAX, &id) != 0)
		abort();
	return id;
}

/* ID must be a row number: "token revoke: ID "x" is not a token number". */
static int
check_id(struct cmd_ctx *ctx, char **cause)
{
	long long id;
	size_t what = strcspn(ctx->cmd, " ");

	if (parse_ll(ctx->args[0], 1, INT_MAX, &id) != 0) {
		*cause = xasprintf("%s: ID \"%s\" is not a %.*s number", ctx->cmd, ctx->args[0],
		    (int)what, ctx->cmd);
		return -1;
	}
	return 0;
}

/*
 * An idempotent action on row ID (revoke, remove, expire): prints done or,
 * when it had been done before, already (formats taking the id); an
 * unknown ID is an error.
 */
static int
id_action(struct cmd_ctx *ctx, int (*fn)(PGconn *, long long, bool *, char **),
    const char *done, const char *already_done, char **cause)
{
	long long id = arg_id(ctx);
	bool already;

	if (fn(ctx->conn, id, &already, cause) != 0)
		return -1;
	printf(already ? already_done : done, id);
	return 0;
}

/* edumon token revoke ID. */
static int
cmd_token_revoke(struct cmd_ctx *ctx, char **cause)
{
	return id_action(ctx, token_revoke_db, "token %lld revoked\n",
	    "token %lld was already revoked\n", cause);
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

/*
 * Print a result as a tab-separated table: a header line of the column
 * names, then one line a row ("-" for NULL or empty). Column redact_col
 * (-1 for none) goes through channel_url_redact. Clears res. A NULL res
 * (the query failed, *cause is set) returns -1; otherwise 0.
 */
static int
print_result(PGresult *res, int redact_col)
{
	int cols;

	if (res == NULL)
		return -1;
	cols = PQnfields(res);

	for (int c = 0; c < cols; c++)
		print_field(PQfname(res, c), c + 1 < cols ? '\t' : '\n');
	for (int r = 0; r < PQntuples(res); r++) {
		for (int c = 0; c < cols; c++) {
			const char *v = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
			char sep = c + 1 < cols ? '\t' : '\n';

			if (c == redact_col && v != NULL) {
				char *shown = channel_url_redact(v);

				print_field(shown, sep);
				free(shown);
			} else
				print_field(v, sep);
		}
	}
	PQclear(res);
	return 0;
}

/* The index of s in the severities info, warning, critical; -1 if none. */
static int
severity_lookup(const char *s, enum severity *out)
{
	for (int v = SEV_INFO; v <= SEV_CRITICAL; v++) {
		if (strcmp(severity_name((enum severity)v), s) == 0) {
			*out = (enum severity)v;
			return 0;
		}
	}
	return -1;
}

/* Options of channel add that can be checked without the database. */
static int
check_channel_add(struct cmd_ctx *ctx, char **cause)
{
	const char *sev = ctx->opt[OPT_MIN_SEVERITY], *rate = ctx->opt[OPT_RATE];
	int secrets = (ctx->opt[OPT_SECRET] != NULL) + (ctx->opt[OPT_SECRET_FILE] != NULL) +
	    (ctx->opt[OPT_SECRET_ENV] != NULL);
	enum notify_channel ch;
	enum severity s;
	long long n;

	if (notify_channel_parse(ctx->opt[OPT_KIND], &ch) != 0) {
		*cause = xasprintf("channel add: --kind \"%s\" is not webhook, wecom, dingtalk or "
				   "alertmanager",
		    ctx->opt[OPT_KIND]);
		return -1;
	}
	if (sev != NULL && severity_lookup(sev, &s) != 0) {
		*cause = xasprintf("channel add: --min-severity \"%s\" is not info, warning or "
				   "critical",
		    sev);
		return -1;
	}
	if (rate != NULL && parse_ll(rate, 0, 100000, &n) != 0) {
		*cause = xasprintf("channel add: --rate \"%s\" is not a whole number from 0 to "
				   "100000",
		    rate);
		return -1;
	}
	if (secrets > 1) {
		*cause = xstrdup("channel add: give one of --secret-file, --secret-env, --secret");
		return -1;
	}
	if (ch == NOTIFY_CH_WEBHOOK && secrets == 0) {
		*cause = xstrdup("channel add: a webhook channel needs a signing key: "
				 "--secret-file FILE or --secret-env VAR");
		return -1;
	}
	if ((ch == NOTIFY_CH_WECOM || ch == NOTIFY_CH_ALERTMANAGER) && secrets > 0) {
		*cause = xasprintf("channel add: a %s channel is not signed: give no secret "
				   "(the robot's key is part of its URL)",
		    notify_channel_name(ch));
		return -1;
	}
	return 0;
}

/* The secret of channel add from --secret, --secret-file or --secret-env,
 * or NULL; -1 with *cause when it cannot be read or is empty. */
static int
read_secret(const struct cmd_ctx *ctx, char **secret, char **cause)
{
	const char *file = ctx->opt[OPT_SECRET_FILE], *env = ctx->opt[OPT_SECRET_ENV];
	size_t len;
	char *s = NULL;

	*secret = NULL;
	if (ctx->opt[OPT_SECRET] != NULL)
		s = xstrdup(ctx->opt[OPT_SECRET]);
	else if (env != NULL) {
		const char *v = getenv(env);

		if (v == NULL) {
			*cause = xasprintf("--secret-env: environment variable %s is not set", env);
			return -1;
		}
		s = xstrdup(v);
	} else if (file != NULL) {
		if (read_input(file, &s, &len, cause) != 0)
			return -1;
		if (len > SECRET_FILE_MAX || strlen(s) != len) {
			*cause = xasprintf("--secret-file: %s is not a text of at most %d bytes", file,
			    SECRET_FILE_MAX);
			explicit_bzero(s, len);
			free(s);
			return -1;
		}
		while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
			s[--len] = '\0';
	} else
		return 0;
	if (s[0] == '\0') {
		*cause = xstrdup("the secret is empty");
		free(s);
		return -1;
	}
	*secret = s;
	return 0;
}

/* edumon channel add: the id alone on stdout, the rest on stderr. */
static int
cmd_channel_add(struct cmd_ctx *ctx, char **cause)
{
	struct channel_spec spec;
	char *secret = NULL, *why = NULL;
	long long rate = -1;
	int64_t start;
	int id, rc = -1;

	memset(&spec, 0, sizeof spec);
	/* check_channel_add has vetted kind, severity and rate. */
	notify_channel_parse(ctx->opt[OPT_KIND], &spec.kind);
	spec.min_severity = SEV_WARNING;
	if (ctx->opt[OPT_MIN_SEVERITY] != NULL)
		severity_lookup(ctx->opt[OPT_MIN_SEVERITY], &spec.min_severity);
	if (ctx->opt[OPT_RATE] != NULL)
		parse_ll(ctx->opt[OPT_RATE], 0, 100000, &rate);
	spec.rate_per_min = (int)rate;
	spec.unit_code = ctx->opt[OPT_UNIT];
	spec.url = ctx->opt[OPT_URL];
	spec.name = ctx->opt[OPT_NAME];
	spec.subunits = ctx->opt[OPT_SUBUNITS] != NULL;
	spec.allow_private = ctx->opt[OPT_ALLOW_PRIVATE] != NULL;
	if (httpc_check_url(spec.url, spec.allow_private, &why) != 0) {
		*cause = xasprintf("--url: %s", why);
		free(why);
		return -1;
	}
	if (read_secret(ctx, &secret, cause) != 0)
		return -1;
	spec.secret = secret;
	if (channel_add_db(ctx->conn, &spec, &id, &start, cause) == 0) {
		printf("%d\n", id);
		fflush(stdout);
		fprintf(stderr, "edumon: channel %d added (%s on %s); it receives events after "
				"event %lld\n",
		    id, notify_channel_name(spec.kind), spec.unit_code, (long long)start);
		rc = 0;
	}
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	return rc;
}

/* edumon channel list: URLs redacted, secrets never selected for display. */
static int
cmd_channel_list(struct cmd_ctx *ctx, char **cause)
{
	return print_result(
	    channel_list_db(ctx->conn, ctx->opt[OPT_UNIT], ctx->opt[OPT_ALL] != NULL, cause),
	    CHANNEL_LIST_URL_COL);
}

/* edumon channel remove ID. */
static int
cmd_channel_remove(struct cmd_ctx *ctx, char **cause)
{
	return id_action(ctx, channel_remove_db, "channel %lld removed\n",
	    "channel %lld was already removed\n", cause);
}

/* edumon channel test ID: exit 0 when delivered, 1 otherwise. */
static int
cmd_channel_test(struct cmd_ctx *ctx, char **cause)
{
	long long id = arg_id(ctx);
	char *line = NULL;
	int rc = channel_test_db(ctx->conn, id, &line, cause);

	if (rc < 0)
		return -1;
	printf("channel %lld: %s\n", id, line);
	if (rc > 0)
		*cause = xasprintf("channel %lld: the test message was not delivered", id);
	free(line);
	return rc == 0 ? 0 : -1;
}

static int
check_notifications_list(struct cmd_ctx *ctx, char **cause)
{
	long long n;

	if (ctx->opt[OPT_CHANNEL] != NULL && parse_ll(ctx->opt[OPT_CHANNEL], 1, INT_MAX, &n) != 0) {
		*cause = xasprintf("notifications list: --channel \"%s\" is not a channel number",
		    ctx->opt[OPT_CHANNEL]);
		return -1;
	}
	if (ctx->opt[OPT_LIMIT] != NULL &&
	    parse_ll(ctx->opt[OPT_LIMIT], 1, NOTIFICATIONS_LIMIT_MAX, &n) != 0) {
		*cause = xasprintf("notifications list: --limit \"%s\" is not a whole number from 1 "
				   "to %d",
		    ctx->opt[OPT_LIMIT], NOTIFICATIONS_LIMIT_MAX);
		return -1;
	}
	return 0;
}

/* edumon notifications list: newest first. */
static int
cmd_notifications_list(struct cmd_ctx *ctx, char **cause)
{
	struct notification_filter f = {
	    .failed = ctx->opt[OPT_FAILED] != NULL,
	    .pending = ctx->opt[OPT_PENDING] != NULL,
	    .limit = NOTIFICATIONS_LIMIT_DEFAULT,
	};
	long long n;

	if (ctx->opt[OPT_CHANNEL] != NULL && parse_ll(ctx->opt[OPT_CHANNEL], 1, INT_MAX, &n) == 0)
		f.channel = n;
	if (ctx->opt[OPT_LIMIT] != NULL &&
	    parse_ll(ctx->opt[OPT_LIMIT], 1, NOTIFICATIONS_LIMIT_MAX, &n) == 0)
		f.limit = (int)n;
	return print_result(channel_notifications_db(ctx->conn, &f, cause), -1);
}

/*
 * Options of silence add into spec (owned copies), checked without the
 * database; -1 with *cause. The caller clears spec.
 */
static int
silence_spec_from(const struct cmd_ctx *ctx, struct silence_spec *spec, char **cause)
{
	const char *v;

	memset(spec, 0, sizeof *spec);
	if (ctx->opt[OPT_UNIT] == NULL && ctx->opt[OPT_RULE] == NULL &&
	    ctx->opt[OPT_METRIC] == NULL && ctx->opt[OPT_LABEL] == NULL) {
		*cause = xstrdup("silence add: give at least one of --unit, --rule, --metric, "
				 "--label");
		return -1;
	}
	if ((v = ctx->opt[OPT_RULE]) != NULL && !alert_rule_id_valid(v)) {
		*cause = xasprintf("silence add: --rule \"%s\" is not a rule id (1 to 64 of a-z, "
				   "0-9, _ . -)",
		    v);
		return -1;
	}
	if ((v = ctx->opt[OPT_LABEL]) != NULL &&
	    silence_label_parse(v, &spec->label_key, &spec->label_value, cause) != 0)
		return -1;
	if ((v = ctx->opt[OPT_FOR]) != NULL && silence_duration_parse(v, &spec->duration_s) != 0) {
		*cause = xasprintf("silence add: --for \"%s\" is not a duration from 1s to %lldd "
				   "(90s, 30m, 2h, 3d)",
		    v, SILENCE_DURATION_MAX / 86400);
		return -1;
	}
	static const enum opt_id times[] = {OPT_UNTIL, OPT_STARTS}, texts[] = {OPT_BY, OPT_COMMENT};

	for (size_t i = 0; i < ARRAY_LEN(times); i++) {
		int o = times[i];

		if ((v = ctx->opt[o]) != NULL && !silence_local_time_valid(v)) {
			*cause = xasprintf("silence add: %s \"%s\" is not a time "
					   "YYYY-MM-DD HH:MM[:SS]",
			    opt_table[o].name, v);
			return -1;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		int o = texts[i];
		size_t max = o == OPT_BY ? SILENCE_BY_MAX : SILENCE_COMMENT_MAX;
		size_t len = strlen(ctx->opt[o]);

		/* Bytes bound characters from above: a precise count is the database's. */
		if (len == 0 || !utf8_valid(ctx->opt[o], len) || len > 4 * max) {
			*cause = xasprintf("silence add: %s must be 1 to %zu characters of UTF-8",
			    opt_table[o].name, max);
			return -1;
		}
	}
#define DUP(o) (ctx->opt[o] != NULL ? xstrdup(ctx->opt[o]) : NULL)
	spec->unit_code = DUP(OPT_UNIT);
	spec->rule = DUP(OPT_RULE);
	spec->metric_code = DUP(OPT_METRIC);
	spec->starts_at = DUP(OPT_STARTS);
	spec->ends_at = DUP(OPT_UNTIL);
	spec->by = DUP(OPT_BY);
	spec->comment = DUP(OPT_COMMENT);
#undef DUP
	return 0;
}

static int
check_silence_add(struct cmd_ctx *ctx, char **cause)
{
	struct silence_spec spec;
	int rc = silence_spec_from(ctx, &spec, cause);

	silence_spec_clear(&spec);
	return rc;
}

/* edumon silence add: the id alone on stdout. */
static int
cmd_silence_add(struct cmd_ctx *ctx, char **cause)
{
	struct silence_spec spec;
	int id, rc = -1;

	if (silence_spec_from(ctx, &spec, cause) == 0 &&
	    silence_add_db(ctx->conn, &spec, &id, cause) == 0) {
		printf("%d\n", id);
		rc = 0;
	}
	silence_spec_clear(&spec);
	return rc;
}

static int
cmd_silence_list(struct cmd_ctx *ctx, char **cause)
{
	return print_result(silence_list_db(ctx->conn, ctx->opt[OPT_ALL] != NULL, cause), -1);
}

/* edumon silence expire ID: ending one that has ended is not an error. */
static int
cmd_silence_expire(struct cmd_ctx *ctx, char **cause)
{
	return id_action(ctx, silence_expire_db, "silence %lld expired\n",
	    "silence %lld had already ended\n", cause);
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

	/* "edumon help [COMMAND]" is "edumon [COMMAND] --help". */
	if (nwords > 0 && strcmp(words[0], "help") == 0) {
		help = true;
		memmove(words, words + 1, (size_t)nwords * sizeof *words);
		nwords--;
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
			struct buf names;

			buf_init(&names);
			for (int o = 0; o < OPT_COUNT; o++)
				if (ce->one_of & OPT_BIT(o))
					buf_printf(&names, "%s%s", names.len > 0 ? ", " : "", opt_table[o].name);
			rc = usage_error(ce, "%s: give exactly one of %s", ce->name, names.data);
			buf_free(&names);
			goto out;
		}
	}
	for (int o = 0; o < OPT_COUNT; o++) {
		if ((ce->required & OPT_BIT(o)) != 0 && opt[o] == NULL) {
			rc = usage_error(ce, "%s: option %s is required", ce->name, opt_table[o].name);
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
