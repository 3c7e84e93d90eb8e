/*
 * edumond: the edumon daemon. Options, wiring, the event loop. Everything
 * else lives in lib/.
 *
 * Signals only record; the loop acts: SIGHUP reloads the registry, the
 * first SIGTERM/SIGINT stops accepting and drains in-flight requests, a
 * second one exits at once.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "directory.h"
#include "log.h"
#include "looplag.h"
#include "alerter.h"
#include "dispatch.h"
#include "calendar.h"
#include "ratelimit.h"
#include "rulesd.h"
#include "server.h"
#include "stats.h"
#include "tls.h"
#include "util.h"
#include "writer.h"

#define EDUMON_VERSION "0.1.0"

/* How often the event loop probe fires (lib/looplag.h): often enough to
 * see a 100 ms stall, rarely enough to cost nothing. */
#define LOOPLAG_PERIOD_MS 100

struct options {
	char *database;
	char *listen;
	char *log_level;
	char *timezone;
	char *rules;
	char *calendar;
	char *rate_limit;
	char *tls_cert;
	char *tls_key;
	long writers;
	long alerts;
	long alert_wait_ms;
	long alert_chunk;
	long batch_obs;
	long queue;
	long max_body;
	long max_headers;
	long timeout;
	long max_conns;
	long deadline;
	long max_obs;
	long drain;
	long stmt_timeout_ms;
	long rate_burst;
	long notify;
	long group_wait_ms;
	long remind_s;
	long retry_horizon_s;
	long retry_base_ms;
	long retry_cap_ms;
	long notify_timeout_ms;
	long am_resend_s;
	char *external_url;
	long max_streams;
};

enum opt_type { OPT_STR, OPT_LONG };

/* Configuration keys: flag, environment variable, type, where, default, help. */
struct opt_def {
	const char *flag;
	const char *env;
	enum opt_type type;
	size_t offset;
	const char *def;
	long min, max;
	const char *help;
};

#define OFF(f) offsetof(struct options, f)
static const struct opt_def opt_defs[] = {
    {"database", "EDUMON_DATABASE_URL", OPT_STR, OFF(database), NULL, 0, 0,
        "PostgreSQL connection string or URL (default: libpq's PG* variables)"},
    {"listen", "EDUMON_LISTEN", OPT_STR, OFF(listen), "127.0.0.1:8080", 0, 0,
        "address and port to listen on"},
    {"tls-cert", "EDUMON_TLS_CERT", OPT_STR, OFF(tls_cert), "", 0, 0,
        "PEM certificate (the leaf, then any intermediates): the listener speaks HTTPS only;"
        " reread on SIGHUP"},
    {"tls-key", "EDUMON_TLS_KEY", OPT_STR, OFF(tls_key), "", 0, 0,
        "PEM private key of --tls-cert, unencrypted; reread on SIGHUP"},
    {"log-level", "EDUMON_LOG_LEVEL", OPT_STR, OFF(log_level), "info", 0, 0,
        "debug, info, warn or error"},
    {"timezone", "EDUMON_TIMEZONE", OPT_STR, OFF(timezone), "Asia/Shanghai", 0, 0,
        "time zone of the deployment (periods, today)"},
    {"rules", "EDUMON_RULES", OPT_STR, OFF(rules), "deploy/rules", 0, 0,
        "directory of rule files (*.json); an invalid set refuses the start"},
    {"calendar", "EDUMON_CALENDAR", OPT_STR, OFF(calendar), "", 0, 0,
        "school calendars: a file or a directory of them, one per city or district"
        " (deploy/calendars); units under none follow Monday to Friday"},
    {"alerts", "EDUMON_ALERTS", OPT_LONG, OFF(alerts), "1", 0, 1,
        "1: evaluate the rules and raise alerts; 0: ingest only (benchmarks, a standby)"},
    {"alert-wait", "EDUMON_ALERT_WAIT", OPT_LONG, OFF(alert_wait_ms), "2000", 1, 600000,
        "milliseconds a committed submission waits for its alerts before its receipt goes"
        " out with \"alerts\": null"},
    {"alert-chunk", "EDUMON_ALERT_CHUNK", OPT_LONG, OFF(alert_chunk), "5000", 1, 1000000,
        "alert changes stored per transaction at most"},
    {"writer-connections", "EDUMON_WRITER_CONNECTIONS", OPT_LONG, OFF(writers), "2", 1, 64,
        "database connections committing submissions"},
    {"batch-observations", "EDUMON_BATCH_OBSERVATIONS", OPT_LONG, OFF(batch_obs), "5000", 1,
        1000000, "observations per group-commit transaction"},
    {"queue", "EDUMON_QUEUE", OPT_LONG, OFF(queue), "2000", 1, 1000000,
        "submissions waiting for a transaction before new ones get 503"},
    {"max-body", "EDUMON_MAX_BODY", OPT_LONG, OFF(max_body), "1048576", 1024, 1L << 30,
        "largest request body, bytes"},
    {"max-headers", "EDUMON_MAX_HEADERS", OPT_LONG, OFF(max_headers), "16384", 1024,
        1L << 20, "largest request header block, bytes"},
    {"timeout", "EDUMON_TIMEOUT", OPT_LONG, OFF(timeout), "30", 1, 3600,
        "client inactivity timeout, seconds"},
    {"max-connections", "EDUMON_MAX_CONNECTIONS", OPT_LONG, OFF(max_conns), "1024", 1, 100000,
        "HTTP connections open at once; at the cap, accepting waits for one to close"},
    {"request-deadline", "EDUMON_REQUEST_DEADLINE", OPT_LONG, OFF(deadline), "30", 1, 3600,
        "seconds to receive a whole request (headers and body), however it trickles"},
    {"max-observations", "EDUMON_MAX_OBSERVATIONS", OPT_LONG, OFF(max_obs), "10000", 1,
        1000000, "observations in one request"},
    {"drain", "EDUMON_DRAIN", OPT_LONG, OFF(drain), "30", 0, 3600,
        "seconds to finish in-flight requests on SIGTERM"},
    {"statement-timeout", "EDUMON_STATEMENT_TIMEOUT", OPT_LONG, OFF(stmt_timeout_ms), "30000",
        100, 3600000, "database statement timeout, milliseconds"},
    {"rate-limit", "EDUMON_RATE_LIMIT", OPT_STR, OFF(rate_limit), "0", 0, 0,
        "submissions per token: N (a second) or N/s, N/min, N/h, N/d; 0: no limit"},
    {"rate-burst", "EDUMON_RATE_BURST", OPT_LONG, OFF(rate_burst), "0", 0, RATELIMIT_MAX_BURST,
        "submissions per token at once; 0: the larger of 20 and the N of --rate-limit"},
    {"notify", "EDUMON_NOTIFY", OPT_LONG, OFF(notify), "1", 0, 1,
        "1: deliver alert events to the configured channels (with --alerts 1); 0: do not"},
    {"notify-group-wait", "EDUMON_NOTIFY_GROUP_WAIT", OPT_LONG, OFF(group_wait_ms), "2000", 1,
        600000, "milliseconds a channel's first event waits for others to share its message"},
    {"remind-interval", "EDUMON_REMIND_INTERVAL", OPT_LONG, OFF(remind_s), "86400", 0,
        31536000, "seconds after which a firing alert nobody acknowledged is announced again;"
        " 0: never"},
    {"notify-retry-horizon", "EDUMON_NOTIFY_RETRY_HORIZON", OPT_LONG, OFF(retry_horizon_s),
        "86400", 1, 31536000, "seconds of failed attempts after which a notification is given up"},
    {"notify-retry-base", "EDUMON_NOTIFY_RETRY_BASE", OPT_LONG, OFF(retry_base_ms), "5000", 1,
        3600000, "milliseconds: the largest first delay before a failed message is tried again"
        " (full jitter; doubling each attempt)"},
    {"notify-retry-cap", "EDUMON_NOTIFY_RETRY_CAP", OPT_LONG, OFF(retry_cap_ms), "600000", 1,
        86400000, "milliseconds: the largest delay between attempts (a Retry-After answer may"
        " ask for more)"},
    {"notify-timeout", "EDUMON_NOTIFY_TIMEOUT", OPT_LONG, OFF(notify_timeout_ms), "10000", 100,
        600000, "milliseconds a receiver has to answer one message"},
    {"alertmanager-resend", "EDUMON_ALERTMANAGER_RESEND", OPT_LONG, OFF(am_resend_s), "60", 1,
        86400, "seconds between re-pushes of firing alerts to Alertmanager channels"},
    {"external-url", "EDUMON_EXTERNAL_URL", OPT_STR, OFF(external_url), "", 0, 0,
        "the address people reach edumon at (https://...), for links in notifications"},
    {"max-streams", "EDUMON_MAX_STREAMS", OPT_LONG, OFF(max_streams), "100", 1, 100000,
        "alert event streams (GET /v1/alerts/stream) open at once; more get 503"},
};

struct daemon {
	struct event_base *base;
	struct stats *stats;
	struct writer *writer;
	struct directory *dir;
	struct rulesd *rules;
	struct alerter *alerter;
	struct dispatch *dispatch;
	struct looplag *looplag;
	struct calendar **cals;
	size_t ncals;
	struct server *server;
	struct tls *tls;
	struct event *sig_term, *sig_int, *sig_hup, *drain_ev;
	int stopping;
	long drain_s;
	int64_t drain_deadline;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: edumond [options]\n\n"
		   "The edumon daemon: takes school submissions over HTTP and commits them to\n"
		   "PostgreSQL.\n\noptions (each also read from its environment variable):\n");
	for (size_t i = 0; i < ARRAY_LEN(opt_defs); i++) {
		const struct opt_def *d = &opt_defs[i];

		fprintf(f, "  --%-20s %s\n  %-22s [%s%s%s]\n", d->flag, d->help, "", d->env,
		    d->def ? ", default " : "", d->def ? d->def : "");
	}
	fprintf(f, "  --%-20s %s\n  --%-20s %s\n", "help", "show this help", "version",
	    "show the version");
}

/* Set option d from text; -1 with a message on stderr if invalid. */
static int
opt_set(struct options *o, const struct opt_def *d, const char *value)
{
	char *base = (char *)o + d->offset;

	if (d->type == OPT_STR) {
		char **p = (char **)(void *)base;

		free(*p);
		*p = xstrdup(value);
		return 0;
	} else {
		long long v;

		if (parse_ll(value, d->min, d->max, &v) < 0) {
			fprintf(stderr, "edumond: --%s: \"%s\" is not a number in %ld..%ld\n", d->flag,
			    value, d->min, d->max);
			return -1;
		}
		*(long *)(void *)base = (long)v;
		return 0;
	}
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	struct option longopts[ARRAY_LEN(opt_defs) + 3];
	size_t n = 0;
	int c;

	memset(o, 0, sizeof *o);
	for (size_t i = 0; i < ARRAY_LEN(opt_defs); i++) {
		const struct opt_def *d = &opt_defs[i];
		const char *env = getenv(d->env);

		if (d->def != NULL && opt_set(o, d, d->def) < 0)
			return -1;
		if (env != NULL && env[0] != '\0' && opt_set(o, d, env) < 0)
			return -1;
		longopts[n++] = (struct option){d->flag, required_argument, NULL, (int)(256 + i)};
	}
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n++] = (struct option){"version", no_argument, NULL, 'V'};
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		} else if (c == 'V') {
			printf("edumond %s\n", EDUMON_VERSION);
			exit(0);
		} else if (c >= 256 && (size_t)(c - 256) < ARRAY_LEN(opt_defs)) {
			if (opt_set(o, &opt_defs[c - 256], optarg) < 0)
				return -1;
		} else {
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "edumond: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
}

static void
options_free(struct options *o)
{
	for (size_t i = 0; i < ARRAY_LEN(opt_defs); i++)
		if (opt_defs[i].type == OPT_STR)
			free(*(char **)(void *)((char *)o + opt_defs[i].offset));
}

/* Split "host:port" (or "[v6]:port", or ":port"). */
static int
split_listen(const char *s, char **host, int *port)
{
	const char *colon = strrchr(s, ':');
	long long p;

	if (colon == NULL || parse_ll(colon + 1, 0, 65535, &p) < 0)
		return -1;
	if (s[0] == '[' && colon > s + 1 && colon[-1] == ']')
		*host = xstrndup(s + 1, (size_t)(colon - s - 2));
	else if (colon == s)
		*host = xstrdup("0.0.0.0");
	else
		*host = xstrndup(s, (size_t)(colon - s));
	*port = (int)p;
	return 0;
}

/* Log a multi-line message one line at a time. */
static void
log_lines(enum log_level level, const char *text)
{
	const char *p = text;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, "\n");

		log_msg(level, "  %.*s", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	/*
	 * Answered is not yet sent: an answer waits in its connection's
	 * output buffer for a later turn of the loop, and stopping now would
	 * close the connection with it (the client sees no answer to a
	 * submission that was committed).
	 */
	if ((server_inflight(d->server) == 0 && server_unflushed(d->server) == 0) ||
	    now_usec() >= d->drain_deadline) {
		if (server_inflight(d->server) > 0 || server_unflushed(d->server) > 0)
			log_warn("shutdown: %zu requests still in flight, %zu answers unsent after the"
				 " drain period",
			    server_inflight(d->server), server_unflushed(d->server));
		event_base_loopexit(d->base, NULL);
	}
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tick = {0, 50000};

	(void)what;
	if (sig == SIGHUP) {
		char *errors = NULL;

		log_info("SIGHUP: reloading the registry and the rules");
		directory_reload(d->dir);
		if (rulesd_reload(d->rules, &errors) < 0) {
			log_error("rules: the new rule set is invalid; the old one stays in force:");
			log_lines(LOG_ERROR, errors);
			free(errors);
		}
		if (d->tls != NULL && tls_reload(d->tls, &errors) < 0) {
			log_error("tls: the new certificate is refused, the old one (SHA-256 %s) stays"
				  " in force: %s",
			    tls_fingerprint(d->tls), errors);
			free(errors);
		}
		return;
	}
	if (d->stopping++) {
		log_warn("second signal: exiting now");
		event_base_loopbreak(d->base);
		return;
	}
	log_info("%s: no longer accepting; draining %zu requests in flight",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT", server_inflight(d->server));
	server_stop_accepting(d->server);
	d->drain_deadline = now_usec() + (int64_t)d->drain_s * 1000000;
	event_add(d->drain_ev, &tick);
}

/* Descriptors are the first thing a busy server runs out of. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the descriptor limit: %s", strerror(errno));
	}
}

/* Read and parse one calendar file; NULL after logging why. */
static struct calendar *
load_calendar(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;
	struct calendar *cal;
	char *cause = NULL;

	if (f == NULL) {
		log_error("calendar: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	cal = calendar_parse(path, b.data != NULL ? b.data : "", b.len, &cause);
	buf_free(&b);
	if (cal == NULL) {
		log_error("calendar: %s", cause);
		free(cause);
	}
	return cal;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Load the calendars of path: one file, or every *.json file of a directory
 * (one per city or district). Returns the count (the array in *out, caller
 * frees both), or -1 after logging why: a broken calendar refuses the start.
 */
static int
load_calendars(const char *path, struct calendar ***out)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	struct calendar **cals;
	int rc = 0;

	*out = NULL;
	if (dir == NULL && errno == ENOTDIR) {
		*out = xcalloc(1, sizeof **out);
		(*out)[0] = load_calendar(path);
		if ((*out)[0] == NULL) {
			free(*out);
			*out = NULL;
			return -1;
		}
		return 1;
	}
	if (dir == NULL) {
		log_error("calendar: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
			names = xreallocarray(names, n + 1, sizeof *names);
			names[n++] = xasprintf("%s/%s", path, de->d_name);
		}
	}
	closedir(dir);
	qsort(names, n, sizeof *names, cmp_name);
	cals = xcalloc(n + 1, sizeof *cals);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && (cals[i] = load_calendar(names[i])) == NULL)
			rc = -1;
		free(names[i]);
	}
	free(names);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			calendar_free(cals[i]);
		free(cals);
		return -1;
	}
	*out = cals;
	return (int)n;
}

static void
libevent_log_cb(int severity, const char *msg)
{
	log_msg(severity >= EVENT_LOG_ERR ? LOG_ERROR
		: severity >= EVENT_LOG_WARN ? LOG_WARN
					     : LOG_DEBUG,
	    "libevent: %s", msg);
}

/* The alerter committed alert events: the dispatcher need not wait for
 * its next poll. */
static void
stored_cb(void *arg)
{
	struct daemon *d = arg;

	dispatch_nudge(d->dispatch);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct daemon d;
	struct writer_config wcfg;
	struct alerter_config acfg;
	struct server_config scfg;
	enum log_level level;
	char *host = NULL, *cause = NULL;
	int port, rc = 1;

	if (parse_options(argc, argv, &o) < 0) {
		options_free(&o);
		return 2;
	}
	if (log_level_parse(o.log_level, &level) < 0) {
		fprintf(stderr, "edumond: unknown log level \"%s\"\n", o.log_level);
		options_free(&o);
		return 2;
	}
	if ((o.tls_cert[0] != '\0') != (o.tls_key[0] != '\0')) {
		fprintf(stderr, "edumond: --tls-cert and --tls-key go together: give both or"
				" neither\n");
		options_free(&o);
		return 2;
	}
	if (split_listen(o.listen, &host, &port) < 0) {
		fprintf(stderr, "edumond: --listen \"%s\": expected HOST:PORT\n", o.listen);
		options_free(&o);
		return 2;
	}
	memset(&scfg, 0, sizeof scfg);
	if (ratelimit_parse_rate(o.rate_limit, &scfg.rate_limit, &cause) < 0) {
		fprintf(stderr, "edumond: --rate-limit %s\n", cause);
		free(cause);
		free(host);
		options_free(&o);
		return 2;
	}
	scfg.rate_limit.burst =
	    o.rate_burst > 0 ? o.rate_burst : ratelimit_default_burst(scfg.rate_limit.rate);
	log_set_level(level);
	setenv("TZ", o.timezone, 1);
	tzset();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	event_set_log_callback(libevent_log_cb);

	memset(&d, 0, sizeof d);
	if (o.tls_cert[0] != '\0' && (d.tls = tls_new(o.tls_cert, o.tls_key, &cause)) == NULL) {
		log_error("tls: cannot start: %s", cause);
		free(cause);
		goto out;
	}
	d.base = event_base_new();
	if (d.base == NULL) {
		fprintf(stderr, "edumond: cannot create the event loop\n");
		goto out;
	}
	d.stats = stats_new();
	wcfg.conninfo = o.database;
	wcfg.connections = (int)o.writers;
	wcfg.max_batch_obs = (size_t)o.batch_obs;
	wcfg.max_queue = (size_t)o.queue;
	wcfg.statement_timeout_ms = (int)o.stmt_timeout_ms;
	d.writer = writer_new(d.base, &wcfg, d.stats);
	d.dir = directory_new(d.base, o.database);
	d.rules = rulesd_new(d.base, d.dir, o.rules, &cause);
	if (d.rules == NULL) {
		log_error("rules: cannot start with the rules in %s:", o.rules);
		log_lines(LOG_ERROR, cause);
		free(cause);
		goto out;
	}
	if (o.calendar[0] != '\0') {
		int nc = load_calendars(o.calendar, &d.cals);

		if (nc < 0)
			goto out;
		d.ncals = (size_t)nc;
		log_info("calendar: %d school calendars from %s", nc, o.calendar);
	}
	acfg.conninfo = o.database;
	acfg.cals = (const struct calendar *const *)d.cals;
	acfg.ncals = d.ncals;
	acfg.answer_timeout_ms = (int)o.alert_wait_ms;
	acfg.store_chunk = (size_t)o.alert_chunk;
	if (o.alerts) {
		struct dispatch_config dcfg = {
		    .conninfo = o.database,
		    .group_wait_ms = (int)o.group_wait_ms,
		    .remind_interval_s = o.remind_s,
		    .retry_base_ms = o.retry_base_ms,
		    .retry_cap_ms = o.retry_cap_ms,
		    .retry_horizon_ms = (int64_t)o.retry_horizon_s * 1000,
		    .http_timeout_ms = (int)o.notify_timeout_ms,
		    .am_resend_s = (int)o.am_resend_s,
		    .external_url = o.external_url[0] != '\0' ? o.external_url : NULL,
		};

		d.alerter = alerter_new(d.base, &acfg, d.dir, d.rules, d.writer);
		if (o.notify) {
			d.dispatch = dispatch_new(d.base, &dcfg, d.dir, d.rules);
			alerter_set_stored_cb(d.alerter, stored_cb, &d);
		}
	} else
		log_warn("alerts are off (--alerts 0): rules are loaded but not evaluated");
	scfg.conninfo = o.database;
	scfg.host = host;
	scfg.port = port;
	scfg.max_body = (size_t)o.max_body;
	scfg.max_headers = (size_t)o.max_headers;
	scfg.timeout_s = (int)o.timeout;
	scfg.max_connections = (size_t)o.max_conns;
	scfg.deadline_s = (int)o.deadline;
	scfg.max_observations = (size_t)o.max_obs;
	scfg.max_json_depth = 32;
	scfg.max_streams = (size_t)o.max_streams;
	scfg.tls = d.tls;
	if (scfg.rate_limit.rate > 0)
		log_info("rate limit: %ld submissions per %lld s per token, %ld at once",
		    scfg.rate_limit.rate, (long long)(scfg.rate_limit.per_us / 1000000),
		    scfg.rate_limit.burst);
	d.server = server_new(d.base, &scfg, d.writer, d.dir, d.stats);
	server_set_rules(d.server, d.rules);
	server_set_alerter(d.server, d.alerter);
	server_set_dispatch(d.server, d.dispatch);
	if (server_listen(d.server, &cause) < 0) {
		log_error("%s", cause);
		free(cause);
		goto out;
	}
	d.sig_term = evsignal_new(d.base, SIGTERM, signal_cb, &d);
	d.sig_int = evsignal_new(d.base, SIGINT, signal_cb, &d);
	d.sig_hup = evsignal_new(d.base, SIGHUP, signal_cb, &d);
	d.drain_ev = event_new(d.base, -1, EV_PERSIST, drain_cb, &d);
	if (d.sig_term == NULL || d.sig_int == NULL || d.sig_hup == NULL || d.drain_ev == NULL ||
	    event_add(d.sig_term, NULL) != 0 || event_add(d.sig_int, NULL) != 0 ||
	    event_add(d.sig_hup, NULL) != 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	d.drain_s = o.drain;
	d.drain_deadline = INT64_MAX;
	/* Last before the loop runs: start-up work done before it (rules,
	 * calendars) is not a blocked loop and must not count as one. */
	d.looplag = looplag_new(d.base, LOOPLAG_PERIOD_MS);
	server_set_looplag(d.server, d.looplag);
	log_info("edumond %s listening on %s:%d%s (time zone %s)", EDUMON_VERSION, host,
	    server_port(d.server), d.tls != NULL ? " (HTTPS only)" : "", o.timezone);
	if (event_base_dispatch(d.base) < 0) {
		log_error("event loop failed");
		goto out;
	}
	rc = 0;
	log_info("edumond stopped");
out:
	/* The alerter first (it answers the commits it holds through the
	 * writer), then the writer: it answers what it still holds through
	 * the server. */
	alerter_free(d.alerter);
	dispatch_free(d.dispatch);
	writer_free(d.writer);
	if (d.server != NULL)
		server_free(d.server);
	tls_free(d.tls); /* after the server: its connections use it */
	/* The directory before the rules: freeing it finishes the jobs still on
	 * its connection, the rules' mirror job among them, whose callback
	 * writes to the rules module. */
	directory_free(d.dir);
	rulesd_free(d.rules);
	for (size_t i = 0; i < d.ncals; i++)
		calendar_free(d.cals[i]);
	free(d.cals);
	stats_free(d.stats);
	looplag_free(d.looplag); /* after the server, which reads it; before the base */
	if (d.sig_term != NULL)
		event_free(d.sig_term);
	if (d.sig_int != NULL)
		event_free(d.sig_int);
	if (d.sig_hup != NULL)
		event_free(d.sig_hup);
	if (d.drain_ev != NULL)
		event_free(d.drain_ev);
	if (d.base != NULL)
		event_base_free(d.base);
	free(host);
	options_free(&o);
	return rc;
}
