/*
 * testlib.h: helpers for integration tests (test_it_*.c): a PostgreSQL
 * cluster and fresh migrated databases, the real CLI and daemon run as child
 * processes, and a small blocking HTTP/1.1 client. Unit tests do not use it.
 *
 * Criterion runs every test in its own process, so all state kept here
 * (the cluster handle, the database counter, the daemons started) is per
 * process. Functions documented as "fails the test" report through
 * cr_assert_fail(), which ends the current test; they never return an error.
 *
 * Paths are relative to the repository root (tools/pg-local.sh,
 * deploy/metrics.csv, ...): run the tests from there, as tools/run-tests.sh
 * does. Environment:
 *   EDUMON_BUILD_DIR      where edumon and edumond are (default "build")
 *   EDUMON_TEST_PGHOST    socket directory of a running test cluster whose
 *   EDUMON_TEST_PGPORT    superuser is "postgres"; without them each test
 *                         process starts a private cluster of its own
 *   EDUMON_TEST_TMPDIR    where daemon logs go (kept; the runner removes the
 *                         directory); without it they go to TMPDIR or /tmp
 *                         and are deleted when the daemon is stopped
 */
#ifndef EDUMON_TESTLIB_H
#define EDUMON_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* The build directory: $EDUMON_BUILD_DIR or "build". Never NULL. */
const char *tl_build_dir(void);

/*
 * Superuser conninfo (database "postgres") of the shared test cluster named
 * by EDUMON_TEST_PGHOST/EDUMON_TEST_PGPORT. If those are unset, the first
 * call starts a private cluster with tools/pg-local.sh in a temporary
 * directory, removed atexit by the process that started it. The caller
 * frees the result. Fails the test if no cluster can be had.
 */
char *tl_pg_conninfo_admin(void);

/*
 * Create a database named <prefix>_<pid>_<counter> (prefix lower-cased,
 * other characters than [a-z0-9_] replaced by '_') as brought up by the
 * real CLI: migrate, catalog load deploy/metrics.csv, schools import
 * deploy/demo/units.csv. The CLI builds that once per cluster (and per
 * version of the CLI and the two files) into a template database, which
 * every call copies. Returns its conninfo; the caller frees it. Fails the
 * test on any error, with the CLI's output.
 */
char *tl_db_create(const char *prefix);

/* Blocking connect to conninfo; the caller PQfinish()es. Fails the test. */
PGconn *tl_db_connect(const char *conninfo);

/*
 * Run cmd with "sh -c". If out is not NULL, the command's stdout is
 * captured into *out (NUL-terminated, caller frees), otherwise it is
 * inherited; stderr is always inherited. Returns the exit status, or -1 if
 * the command was killed by a signal.
 */
int tl_run(const char *cmd, char **out);

/* s quoted for sh: '...' with each ' written as '\''. Caller frees. */
char *tl_shell_quote(const char *s);

/*
 * Run "BUILD/edumon --database '<conninfo>' ARGS" (ARGS as shell words).
 * Its stdout goes into *out (caller frees; with stderr too if merge) when
 * out is not NULL. Returns the exit status as tl_run.
 */
int tl_cli(const char *conninfo, const char *args, bool merge, char **out);

/*
 * tl_cli with stderr merged; fails the test unless the exit status is want.
 * Returns the output (caller frees).
 */
char *tl_cli_expect(const char *conninfo, const char *args, int want);

/* tl_cli_expect, and expect msg somewhere in the output. */
void tl_cli_refused(const char *conninfo, const char *args, int want, const char *msg);

/*
 * Run "edumon --database '<conninfo>' token create ARGS" and return the
 * token (its first line of output, trimmed); the caller frees it. Fails the
 * test if the command fails or prints nothing.
 */
char *tl_token(const char *conninfo, const char *args);

/*
 * tl_token for a daemon already running on port: returns once the daemon
 * accepts the new token. A daemon learns of tokens by NOTIFY and reloads
 * within moments, not at once; a test that uses a token it has just made
 * must wait for that (GET /v1/alerts answers neither 401 nor 503). Fails the
 * test after 10 s.
 */
char *tl_token_live(int port, const char *conninfo, const char *args);

struct tl_daemon;

/*
 * Start BUILD/edumond --listen 127.0.0.1:PORT --database CONNINFO
 * EXTRA_ARGS (split by the shell; may be NULL) on a free loopback port, with
 * stdout and stderr going to a log file, and wait up to 10 s until GET
 * /healthz answers 200. Fails the test, printing the end of the log, if the
 * daemon exits or does not become healthy. The daemon is killed if the test
 * process exits without stopping it. Release with tl_daemon_stop() or
 * tl_daemon_kill().
 */
struct tl_daemon *tl_daemon_start(const char *conninfo, const char *extra_args);

/*
 * tl_daemon_start(), with shell_prefix (may be NULL) run by the same shell
 * just before it execs the daemon, e.g. "ulimit -n 64;" to start it under a
 * low descriptor limit.
 */
struct tl_daemon *tl_daemon_start_with(const char *shell_prefix, const char *conninfo,
    const char *extra_args);

/*
 * Whether the daemon listening on port answers its health check: non-zero
 * once it does. For a daemon that tl_http() cannot talk to (HTTPS).
 */
typedef int (*tl_probe_fn)(int port, void *arg);

/*
 * tl_daemon_start_with(), waiting for probe(port, arg) instead of a plain
 * GET /healthz (the other two call this with that probe).
 */
struct tl_daemon *tl_daemon_start_probe(const char *shell_prefix, const char *conninfo,
    const char *extra_args, tl_probe_fn probe, void *arg);
/*
 * tl_daemon_start_with() on a given port (0: a free one), e.g. to start a
 * daemon again where a killed one listened, as a supervisor would.
 */
struct tl_daemon *tl_daemon_start_on(
    int port, const char *shell_prefix, const char *conninfo, const char *extra_args);

/*
 * Poll GET /readyz on port every 100 ms until it answers 200 (the daemon has
 * its database connections and registry); fails the test after 10 s.
 */
void tl_wait_ready(int port);

/* The TCP port the daemon listens on. */
int tl_daemon_port(const struct tl_daemon *d);

/* The daemon's process id, for tests that signal it themselves. */
int tl_daemon_pid(const struct tl_daemon *d);

/* Path of the daemon's log file (its stdout and stderr); owned by d. */
const char *tl_daemon_log(const struct tl_daemon *d);

/*
 * Send SIGTERM and wait up to 10 s for the daemon to exit (then SIGKILL).
 * Returns its exit status, or -1 if it died of a signal or had to be
 * killed; the end of the log is printed to stderr unless the status is 0.
 * Frees d.
 */
int tl_daemon_stop(struct tl_daemon *d);

/*
 * The end of an integration test's fixture: stop *d and expect exit status
 * 0 (a test assertion), close *pg, free *db. Each may point at NULL; all
 * are left NULL.
 */
void tl_fixture_end(struct tl_daemon **d, PGconn **pg, char **db);

/* SIGKILL the daemon, reap it and free d. */
void tl_daemon_kill(struct tl_daemon *d);

/*
 * Wait up to 20 s until GET /readyz on port says the rules engine is built
 * ("alerts":true). Fails the test otherwise.
 */
void tl_wait_alerts_ready(int port);

/* A response read by tl_http(). body is NUL-terminated (also when empty). */
struct tl_resp {
	int status;
	char *headers; /* "Name: value\r\n" lines, status line excluded */
	char *body;    /* de-chunked */
	size_t body_len;
};

/*
 * One HTTP/1.1 request to 127.0.0.1:port over a new connection, sent with
 * "Connection: close". headers is "Name: value\r\n..." or NULL;
 * Content-Length is added when body is not NULL. Reads the whole response
 * (by Content-Length, chunked encoding, or until the server closes). At most
 * 5 s in all. Returns 0 and fills *out (release with tl_resp_free()), or -1
 * on a socket error, a timeout or a malformed response (*out is then empty
 * and safe to free).
 */
int tl_http(int port, const char *method, const char *path, const char *headers,
	    const char *body, size_t body_len, struct tl_resp *out);

/* How a request made with tl_http_ex() ended. */
enum tl_http_end {
	TL_HTTP_OK,        /* a complete, well-formed response is in *out */
	TL_HTTP_REFUSED,   /* no connection was made (refused, or connect timed out) */
	TL_HTTP_NO_ANSWER, /* connected, but not a byte of answer before EOF, reset or timeout */
	TL_HTTP_PARTIAL,   /* some of an answer, then EOF, reset or timeout; or malformed */
};

/*
 * tl_http() with a deadline of timeout_ms for the whole exchange, saying how
 * it ended: a client that retries needs to tell "never reached the server"
 * from "reached it, no answer" (the request may have been carried out), and
 * a server that cuts a response short is a bug of its own. *out is filled
 * only for TL_HTTP_OK and is safe to free in every case. Thread-safe.
 */
enum tl_http_end tl_http_ex(int port, const char *method, const char *path, const char *headers,
    const char *body, size_t body_len, int timeout_ms, struct tl_resp *out);

/*
 * tl_http() with the request given whole, byte for byte (it may hold NUL
 * bytes, bare line ends, anything): req[0..req_len) is sent as is over a
 * new connection to 127.0.0.1:port and the response read as tl_http() does.
 * A HEAD request is recognised by its first bytes.
 */
int tl_http_raw(int port, const char *req, size_t req_len, struct tl_resp *out);

/* Free what r holds and zero it; r itself is not freed. */
void tl_resp_free(struct tl_resp *r);

/*
 * Value of the first header called name (case-insensitive), with
 * surrounding blanks removed, or NULL. The result lives in a per-thread
 * static buffer overwritten by the thread's next call.
 */
const char *tl_resp_header(const struct tl_resp *r, const char *name);

/* A loopback TCP port that was free a moment ago. Fails the test. */
int tl_free_port(void);

/* Sleep for ms milliseconds (restarted after signals). */
void tl_sleep_ms(long ms);

/*
 * Wait up to ms milliseconds for child pid to exit; returns its wait
 * status, or -1 if it is still running (or cannot be waited for).
 */
int tl_wait_exit(int pid, long ms);

/*
 * In a child just forked by process parent: die with the parent (Linux),
 * read stdin from /dev/null, write stdout and stderr to logfd. Calls
 * _exit(127) when it cannot.
 */
void tl_child_redirect(int parent, int logfd);

/* The last few kilobytes of a file, or a note saying why not. Caller frees. */
char *tl_file_tail(const char *path);

/*
 * The value of the unlabelled metric name ("name 12" on a line of its own)
 * in a Prometheus text exposition, or -1 if it is not there.
 */
long tl_metric_value(const char *text, const char *name);

/*
 * Run sql and return the first column of the first row as a string (caller
 * frees), or NULL if there is no row or the value is SQL NULL. Fails the
 * test if the query fails.
 */
char *tl_query_value(PGconn *c, const char *sql);

/*
 * The value of the unlabelled metric name in GET /metrics on port, or -1 if
 * the daemon does not answer or has no such line.
 */
long tl_metric(int port, const char *name);

/*
 * A "Name: value" line of /proc/PID/status read as a number (VmRSS and
 * VmHWM are in kB), or -1 if there is no such line. Fails the test if the
 * file cannot be read (the process is gone).
 */
long tl_proc_status(int pid, const char *name);

/* Run sql, expecting a command or query to succeed; fails the test if not. */
void tl_exec(PGconn *c, const char *sql);

/* tl_query_value() read as a number; -1 when there is no row or it is NULL. */
long tl_query_long(PGconn *c, const char *sql);

struct cJSON;
/*
 * POST csv to /v1/submissions on port with token (Content-Type: text/csv),
 * expect 201, and return the receipt (caller cJSON_Delete()s). Fails the
 * test otherwise, naming the body and the answer.
 */
struct cJSON *tl_post_csv(int port, const char *token, const char *csv);

#endif
