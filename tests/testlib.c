/*
 * testlib.c: see testlib.h.
 *
 * Everything here blocks: tests are sequential within their process, and a
 * blocking helper that fails loudly is easier to read than a callback.
 * Failures inside a test end it through cr_assert_fail(); the atexit
 * handlers then kill leftover daemons and stop a private cluster, but only
 * in the process that started them (children forked by a test must _exit).
 */
#include "testlib.h"

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "util.h"

#define HTTP_TIMEOUT_MS 5000
#define DAEMON_WAIT_MS 10000
#define LOG_TAIL_BYTES 4000

/* The cluster: from the environment, or started here (pg_dir != NULL). */
static char *pg_host;
static int pg_port;
static char *pg_dir;
static pid_t pg_owner;

/* Daemons started by this process and not yet stopped. */
struct tl_daemon {
	pid_t pid;
	int port;
	char *log;
	struct tl_daemon *next;
};
static struct tl_daemon *daemons;
static pid_t daemons_owner;

static unsigned db_counter;

/* Sleep for ms milliseconds. */
static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

char *
tl_shell_quote(const char *s)
{
	struct buf b;

	buf_init(&b);
	buf_putc(&b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			buf_puts(&b, "'\\''");
		else
			buf_putc(&b, *s);
	}
	buf_putc(&b, '\'');
	return buf_steal(&b);
}

/* s as a conninfo value: bare if it can be, else quoted. Caller frees. */
static char *
conninfo_value(const char *s)
{
	struct buf b;

	if (*s != '\0' && strpbrk(s, " \t\n'\\=") == NULL)
		return xstrdup(s);
	buf_init(&b);
	buf_putc(&b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'' || *s == '\\')
			buf_putc(&b, '\\');
		buf_putc(&b, *s);
	}
	buf_putc(&b, '\'');
	return buf_steal(&b);
}

/* Conninfo of database dbname on the cluster. Caller frees. */
static char *
conninfo_for(const char *dbname)
{
	char *host = conninfo_value(pg_host);
	char *db = conninfo_value(dbname);
	char *ci = xasprintf("host=%s port=%d user=postgres dbname=%s", host, pg_port, db);

	free(host);
	free(db);
	return ci;
}

/* The last LOG_TAIL_BYTES of a file, or a note saying why not. Caller frees. */
static char *
file_tail(const char *path)
{
	struct buf b;
	char chunk[1024];
	FILE *f;
	long size;
	size_t n;

	f = fopen(path, "r");
	if (f == NULL)
		return xasprintf("(cannot read %s: %s)", path, strerror(errno));
	buf_init(&b);
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > LOG_TAIL_BYTES)
		fseek(f, size - LOG_TAIL_BYTES, SEEK_SET);
	else
		rewind(f);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_steal(&b);
}

const char *
tl_build_dir(void)
{
	const char *d = getenv("EDUMON_BUILD_DIR");

	return d != NULL && *d != '\0' ? d : "build";
}

int
tl_run(const char *cmd, char **out)
{
	struct buf b;
	char chunk[4096];
	int pfd[2] = {-1, -1};
	int status;
	pid_t pid;
	ssize_t n;

	if (out != NULL) {
		if (pipe(pfd) == -1)
			cr_assert_fail("tl_run: pipe: %s", strerror(errno));
		fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
		fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
	}
	/* Or the child would print our buffered output a second time. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == -1)
		cr_assert_fail("tl_run: fork: %s", strerror(errno));
	if (pid == 0) {
		if (out != NULL && dup2(pfd[1], STDOUT_FILENO) == -1)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	buf_init(&b);
	if (out != NULL) {
		close(pfd[1]);
		for (;;) {
			n = read(pfd[0], chunk, sizeof chunk);
			if (n > 0)
				buf_append(&b, chunk, (size_t)n);
			else if (n == 0 || errno != EINTR)
				break;
		}
		close(pfd[0]);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			cr_assert_fail("tl_run: waitpid: %s", strerror(errno));
	}
	if (out != NULL)
		*out = buf_steal(&b);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* atexit: stop and delete the private cluster, in the process that made it. */
static void
private_cluster_stop(void)
{
	char *q, *cmd;

	if (pg_dir == NULL || getpid() != pg_owner)
		return;
	q = tl_shell_quote(pg_dir);
	cmd = xasprintf("sh tools/pg-local.sh destroy %s/pg >/dev/null; rm -rf %s", q, q);
	tl_run(cmd, NULL);
	free(cmd);
	free(q);
	free(pg_dir);
	pg_dir = NULL;
}

/* Start a cluster of our own with tools/pg-local.sh (see testlib.h). */
static void
private_cluster_start(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir, *q, *cmd, *out = NULL, *host, *end;
	int rc;

	if (access("tools/pg-local.sh", R_OK) == -1)
		cr_assert_fail("tools/pg-local.sh not found: run the tests from the repository "
			       "root, or set EDUMON_TEST_PGHOST and EDUMON_TEST_PGPORT");
	dir = xasprintf("%s/edumon-tl-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		cr_assert_fail("mkdtemp %s: %s", dir, strerror(errno));
	/* The cluster may run as "postgres" (we are root): let it in. */
	chmod(dir, 0755);
	pg_dir = dir;
	pg_owner = getpid();
	atexit(private_cluster_stop);

	q = tl_shell_quote(dir);
	cmd = xasprintf("sh tools/pg-local.sh init %s/pg >&2 && "
			"sh tools/pg-local.sh start %s/pg >&2 && "
			"sh tools/pg-local.sh conninfo %s/pg",
	    q, q, q);
	rc = tl_run(cmd, &out);
	free(cmd);
	free(q);
	if (rc != 0)
		cr_assert_fail("could not start a private PostgreSQL in %s (status %d)", dir, rc);
	host = strstr(out, "host=");
	if (host == NULL)
		cr_assert_fail("pg-local.sh conninfo printed no host: %s", out);
	host += strlen("host=");
	end = host + strcspn(host, " \n");
	pg_host = xstrndup(host, (size_t)(end - host));
	pg_port = 5432;
	if ((host = strstr(out, "port=")) != NULL)
		pg_port = atoi(host + strlen("port="));
	free(out);
}

char *
tl_pg_conninfo_admin(void)
{
	const char *host, *port;

	if (pg_host == NULL) {
		host = getenv("EDUMON_TEST_PGHOST");
		port = getenv("EDUMON_TEST_PGPORT");
		if (host != NULL && *host != '\0') {
			pg_host = xstrdup(host);
			pg_port = port != NULL && *port != '\0' ? atoi(port) : 5432;
		} else
			private_cluster_start();
	}
	return conninfo_for("postgres");
}

PGconn *
tl_db_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	char *msg;

	if (PQstatus(c) != CONNECTION_OK) {
		msg = xstrdup(PQerrorMessage(c));
		PQfinish(c);
		cr_assert_fail("cannot connect to \"%s\": %s", conninfo, msg);
	}
	return c;
}

char *
tl_query_value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	char *v = NULL, *msg;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		msg = xstrdup(PQresultErrorMessage(r));
		PQclear(r);
		cr_assert_fail("query failed: %s\n  %s", sql, msg);
	}
	if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
		v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

int
tl_cli(const char *conninfo, const char *args, bool merge, char **out)
{
	char *bin = xasprintf("%s/edumon", tl_build_dir());
	char *qb = tl_shell_quote(bin), *qc = tl_shell_quote(conninfo);
	char *cmd = xasprintf("%s --database %s %s%s", qb, qc, args, merge ? " 2>&1" : "");
	int rc = tl_run(cmd, out);

	free(cmd);
	free(qc);
	free(qb);
	free(bin);
	return rc;
}

char *
tl_cli_expect(const char *conninfo, const char *args, int want)
{
	char *out = NULL;
	int rc = tl_cli(conninfo, args, true, &out);

	cr_assert_eq(rc, want, "edumon %s: exit %d, want %d:\n%s", args, rc, want, out);
	return out;
}

void
tl_cli_refused(const char *conninfo, const char *args, int want, const char *msg)
{
	char *out = tl_cli_expect(conninfo, args, want);

	cr_expect(strstr(out, msg) != NULL, "edumon %s: want \"%s\" in:\n%s", args, msg, out);
	free(out);
}

/* Run "edumon --database CI ARGS"; fail the test unless it exits 0. */
static void
run_cli(const char *conninfo, const char *args)
{
	char *out = NULL;
	int rc = tl_cli(conninfo, args, true, &out);

	if (rc != 0)
		cr_assert_fail("edumon %s: exit status %d\n%s", args, rc, out);
	free(out);
}

/* Run sql on c; fail the test unless it succeeds. */
static void
admin_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char *msg = xstrdup(PQresultErrorMessage(r));

		PQclear(r);
		PQfinish(c);
		cr_assert_fail("%s: %s", sql, msg);
	}
	PQclear(r);
}

/*
 * admin_exec for CREATE or ALTER DATABASE, which refuse while another
 * session is connected to the database they copy or rename; parallel tests
 * can briefly be that session (template1), and a client that just exited
 * leaves its backend for a moment. So try again for a while.
 */
static void
admin_exec_db(PGconn *c, const char *sql)
{
	PGresult *r;
	char *msg;

	for (int tries = 0;; tries++) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_COMMAND_OK)
			break;
		msg = xstrdup(PQresultErrorMessage(r));
		PQclear(r);
		if (tries < 50 && strstr(msg, "being accessed by other users") != NULL) {
			free(msg);
			sleep_ms(100);
			continue;
		}
		PQfinish(c);
		cr_assert_fail("%s: %s", sql, msg);
	}
	PQclear(r);
}

/* CREATE DATABASE name [TEMPLATE template]. */
static void
create_database(PGconn *c, const char *name, const char *template)
{
	char *id = PQescapeIdentifier(c, name, strlen(name)), *tid = NULL, *sql;

	cr_assert_not_null(id, "PQescapeIdentifier: %s", PQerrorMessage(c));
	if (template != NULL) {
		tid = PQescapeIdentifier(c, template, strlen(template));
		cr_assert_not_null(tid, "PQescapeIdentifier: %s", PQerrorMessage(c));
	}
	sql = xasprintf("CREATE DATABASE %s%s%s", id, tid != NULL ? " TEMPLATE " : "",
	    tid != NULL ? tid : "");
	PQfreemem(id);
	PQfreemem(tid);
	admin_exec_db(c, sql);
	free(sql);
}

/* Size and modification time of path into h, or a mark that it is missing. */
static uint64_t
hash_file_stamp(uint64_t h, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return hash_mix64(h ^ 0x5bd1e995u);
	h = hash_mix64(h ^ (uint64_t)st.st_size);
	h = hash_mix64(h ^ (uint64_t)st.st_mtim.tv_sec);
	return hash_mix64(h ^ (uint64_t)st.st_mtim.tv_nsec);
}

/*
 * The database every tl_db_create copies: migrated, with the catalog and
 * the demo registry, built once per cluster and per version of its inputs
 * (the CLI, which embeds the migrations, and the two files). Copying it
 * takes a third of the time of building each database anew, which adds
 * up over some 200 integration tests and their sanitizer run. An advisory
 * lock makes the first test build it while the others wait.
 */
static char *
db_template(PGconn *c)
{
	char *bin = xasprintf("%s/edumon", tl_build_dir());
	uint64_t h = hash_file_stamp(hash_file_stamp(hash_file_stamp(1, bin),
	    "deploy/metrics.csv"), "deploy/demo/units.csv");
	char *name = xasprintf("edumon_template_%016llx", (unsigned long long)h);
	char *sql = xasprintf("SELECT 1 FROM pg_database WHERE datname = '%s'", name);
	PGresult *r;
	bool have;

	free(bin);
	admin_exec(c, "SELECT pg_advisory_lock(74510021)");
	r = PQexec(c, sql);
	have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	free(sql);
	if (!have) {
		/* Built under another name and renamed when complete: a test
		 * that died half-way leaves no half-built template behind. */
		char *build = xasprintf("edumon_template_build_%ld", (long)getpid());
		char *ci = conninfo_for(build);

		create_database(c, build, NULL);
		run_cli(ci, "migrate");
		run_cli(ci, "catalog load deploy/metrics.csv");
		run_cli(ci, "schools import deploy/demo/units.csv");
		sql = xasprintf("ALTER DATABASE %s RENAME TO %s", build, name);
		admin_exec_db(c, sql);
		free(sql);
		free(ci);
		free(build);
	}
	admin_exec(c, "SELECT pg_advisory_unlock(74510021)");
	return name;
}

char *
tl_db_create(const char *prefix)
{
	PGconn *c;
	struct buf name;
	char *admin, *ci, *tmpl;
	const char *p;

	buf_init(&name);
	for (p = prefix; *p != '\0' && name.len < 40; p++) {
		unsigned char ch = (unsigned char)*p;

		buf_putc(&name, isalnum(ch) ? (char)tolower(ch) : '_');
	}
	if (name.len == 0 || isdigit((unsigned char)name.data[0]))
		buf_puts(&name, "db");
	buf_printf(&name, "_%ld_%u", (long)getpid(), ++db_counter);

	admin = tl_pg_conninfo_admin();
	c = tl_db_connect(admin);
	tmpl = db_template(c);
	create_database(c, name.data, tmpl);
	PQfinish(c);
	free(tmpl);
	free(admin);
	ci = conninfo_for(name.data);
	buf_free(&name);
	return ci;
}

char *
tl_token(const char *conninfo, const char *args)
{
	char *bin = xasprintf("%s/edumon", tl_build_dir());
	char *qb = tl_shell_quote(bin), *qc = tl_shell_quote(conninfo);
	char *cmd = xasprintf("%s --database %s token create %s", qb, qc, args);
	char *out = NULL, *s, *e, *tok;
	int rc;

	rc = tl_run(cmd, &out);
	if (rc != 0)
		cr_assert_fail("edumon token create %s: exit status %d\n%s", args, rc, out);
	for (s = out; *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'; s++)
		;
	e = s + strcspn(s, "\r\n");
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == s)
		cr_assert_fail("edumon token create %s printed no token", args);
	tok = xstrndup(s, (size_t)(e - s));
	free(out);
	free(cmd);
	free(qc);
	free(qb);
	free(bin);
	return tok;
}

char *
tl_token_live(int port, const char *conninfo, const char *args)
{
	char *tok = tl_token(conninfo, args);
	char *auth = xasprintf("Authorization: Bearer %s\r\n", tok);
	struct tl_resp r;
	int status = 0;

	for (int i = 0; i < 500; i++) {
		/* Authentication comes first: 401 unknown, 503 nothing loaded;
		 * anything else (200, 403 for a role that may not read) knows it. */
		if (tl_http(port, "GET", "/v1/alerts", auth, NULL, 0, &r) == 0) {
			status = r.status;
			tl_resp_free(&r);
			if (status != 401 && status != 503)
				break;
		}
		tl_sleep_ms(20);
	}
	free(auth);
	cr_assert(status != 401 && status != 503 && status != 0,
	    "the daemon on port %d still refuses a new token"
						 " (%s) after 10 s: %d", port, args, status);
	return tok;
}

/* A loopback TCP port that was free a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		cr_assert_fail("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		close(fd);
		cr_assert_fail("bind/getsockname 127.0.0.1:0: %s", strerror(errno));
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Unlink d from the list of live daemons. */
static void
daemon_forget(struct tl_daemon *d)
{
	struct tl_daemon **pp;

	for (pp = &daemons; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
}

/* Free d, deleting its log unless the runner keeps (and removes) logs. */
static void
daemon_free(struct tl_daemon *d)
{
	const char *keep = getenv("EDUMON_TEST_TMPDIR");

	if (keep == NULL || *keep == '\0')
		unlink(d->log);
	free(d->log);
	free(d);
}

/* atexit: kill what a test that ended early left running. */
static void
daemons_kill_all(void)
{
	struct tl_daemon *d;

	if (getpid() != daemons_owner)
		return;
	while ((d = daemons) != NULL) {
		daemons = d->next;
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) == -1 && errno == EINTR)
			;
		daemon_free(d);
	}
}

/* Wait up to ms for pid to exit; returns its wait status, or -1 if it did not. */
static int
wait_exit(pid_t pid, long ms)
{
	int64_t deadline = now_usec() + ms * 1000;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r == -1 && errno != EINTR)
			return -1;
		if (now_usec() >= deadline)
			return -1;
		sleep_ms(20);
	}
}

void
tl_child_redirect(int parent, int logfd)
{
	int devnull;

#ifdef __linux__
	/* Die with the test process, however it ends. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
#else
	(void)parent;
#endif
	devnull = open("/dev/null", O_RDONLY);
	if (devnull == -1 || dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(logfd, STDOUT_FILENO) == -1 || dup2(logfd, STDERR_FILENO) == -1)
		_exit(127);
}

struct tl_daemon *
tl_daemon_start(const char *conninfo, const char *extra_args)
{
	return tl_daemon_start_with(NULL, conninfo, extra_args);
}

/* The default health probe: GET /healthz over plain HTTP answers 200. */
static int
healthz_probe(int port, void *arg)
{
	struct tl_resp resp;
	int ok;

	(void)arg;
	if (tl_http(port, "GET", "/healthz", NULL, NULL, 0, &resp) != 0)
		return 0;
	ok = resp.status == 200;
	tl_resp_free(&resp);
	return ok;
}

static struct tl_daemon *daemon_start(int port, const char *shell_prefix, const char *conninfo,
    const char *extra_args, tl_probe_fn probe, void *arg);

struct tl_daemon *
tl_daemon_start_with(const char *shell_prefix, const char *conninfo, const char *extra_args)
{
	return daemon_start(0, shell_prefix, conninfo, extra_args, healthz_probe, NULL);
}

struct tl_daemon *
tl_daemon_start_probe(const char *shell_prefix, const char *conninfo, const char *extra_args,
    tl_probe_fn probe, void *arg)
{
	return daemon_start(0, shell_prefix, conninfo, extra_args, probe, arg);
}

struct tl_daemon *
tl_daemon_start_on(int port, const char *shell_prefix, const char *conninfo, const char *extra_args)
{
	return daemon_start(port, shell_prefix, conninfo, extra_args, healthz_probe, NULL);
}

/* Start edumond on port (0: a free one) and wait until probe says it is up. */
static struct tl_daemon *
daemon_start(int port, const char *shell_prefix, const char *conninfo, const char *extra_args,
    tl_probe_fn probe, void *arg)
{
	const char *dir = getenv("EDUMON_TEST_TMPDIR");
	struct tl_daemon *d;
	char *bin, *qb, *qc, *cmd, *tail;
	int64_t deadline;
	pid_t parent = getpid();
	int logfd, status;

	if (dir == NULL || *dir == '\0')
		dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	d = xcalloc(1, sizeof *d);
	d->port = port > 0 ? port : free_port();
	d->log = xasprintf("%s/edumond-%ld-XXXXXX", dir, (long)parent);
	logfd = mkstemp(d->log);
	if (logfd == -1)
		cr_assert_fail("mkstemp %s: %s", d->log, strerror(errno));

	bin = xasprintf("%s/edumond", tl_build_dir());
	if (access(bin, X_OK) == -1)
		cr_assert_fail("%s: %s (build it first: make)", bin, strerror(errno));
	qb = tl_shell_quote(bin);
	qc = tl_shell_quote(conninfo);
	/* exec, so that the pid we signal is the daemon's, not the shell's. */
	cmd = xasprintf("%s exec %s --listen 127.0.0.1:%d --database %s %s",
	    shell_prefix != NULL ? shell_prefix : "", qb, d->port, qc,
	    extra_args != NULL ? extra_args : "");
	free(qc);
	free(qb);
	free(bin);

	fflush(stdout);
	fflush(stderr);
	d->pid = fork();
	if (d->pid == -1)
		cr_assert_fail("fork: %s", strerror(errno));
	if (d->pid == 0) {
		tl_child_redirect(parent, logfd);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(logfd);
	free(cmd);
	if (daemons_owner != parent) {
		daemons_owner = parent;
		daemons = NULL;
		atexit(daemons_kill_all);
	}
	d->next = daemons;
	daemons = d;

	deadline = now_usec() + (int64_t)DAEMON_WAIT_MS * 1000;
	for (;;) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			daemon_forget(d);
			tail = file_tail(d->log);
			cr_assert_fail("edumond exited (%s %d) before answering /healthz; log %s:\n%s",
			    WIFEXITED(status) ? "status" : "signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), d->log,
			    tail);
		}
		if (probe(d->port, arg))
			return d;
		if (now_usec() >= deadline)
			break;
		sleep_ms(50);
	}
	daemon_forget(d);
	kill(d->pid, SIGKILL);
	while (waitpid(d->pid, NULL, 0) == -1 && errno == EINTR)
		;
	tail = file_tail(d->log);
	cr_assert_fail("edumond on port %d: not healthy (no 200 from /healthz) within %d s;"
		       " log %s:\n%s",
	    d->port, DAEMON_WAIT_MS / 1000, d->log, tail);
	return NULL; /* not reached */
}

void
tl_wait_ready(int port)
{
	for (int i = 0; i < 100; i++) {
		struct tl_resp r;

		if (tl_http(port, "GET", "/readyz", NULL, NULL, 0, &r) == 0 && r.status == 200) {
			tl_resp_free(&r);
			return;
		}
		tl_resp_free(&r);
		sleep_ms(100);
	}
	cr_assert_fail("edumond on port %d never became ready (GET /readyz)", port);
}

int
tl_daemon_port(const struct tl_daemon *d)
{
	return d->port;
}

int
tl_daemon_pid(const struct tl_daemon *d)
{
	return (int)d->pid;
}

const char *
tl_daemon_log(const struct tl_daemon *d)
{
	return d->log;
}

int
tl_daemon_stop(struct tl_daemon *d)
{
	int status, rc;
	char *tail;

	daemon_forget(d);
	kill(d->pid, SIGTERM);
	status = wait_exit(d->pid, DAEMON_WAIT_MS);
	if (status == -1) {
		fprintf(stderr, "tl_daemon_stop: edumond (pid %ld) still running %d s after "
				"SIGTERM; killing it\n",
		    (long)d->pid, DAEMON_WAIT_MS / 1000);
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) == -1 && errno == EINTR)
			;
		rc = -1;
	} else
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (rc != 0) {
		tail = file_tail(d->log);
		fprintf(stderr, "tl_daemon_stop: edumond ended with %d; log %s:\n%s\n", rc, d->log,
		    tail);
		free(tail);
	}
	daemon_free(d);
	return rc;
}

void
tl_daemon_kill(struct tl_daemon *d)
{
	daemon_forget(d);
	kill(d->pid, SIGKILL);
	while (waitpid(d->pid, NULL, 0) == -1 && errno == EINTR)
		;
	daemon_free(d);
}

/*
 * Find header name in the "Name: value\r\n" lines of hdrs; copy its trimmed
 * value into dst (truncated to dstlen - 1) and return true if found.
 */
static bool
header_find(const char *hdrs, const char *name, char *dst, size_t dstlen)
{
	size_t nlen = strlen(name), vlen;
	const char *line, *eol, *v;

	for (line = hdrs; line != NULL && *line != '\0'; line = eol ? eol + 1 : NULL) {
		eol = strchr(line, '\n');
		if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
			continue;
		v = line + nlen + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		vlen = eol != NULL ? (size_t)(eol - v) : strlen(v);
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (vlen >= dstlen)
			vlen = dstlen - 1;
		memcpy(dst, v, vlen);
		dst[vlen] = '\0';
		return true;
	}
	return false;
}

/*
 * Decode a chunked body from p[0..len). Returns 1 and appends the data to
 * body when the last chunk and the trailer are complete, 0 if more input is
 * needed, -1 if the encoding is malformed.
 */
static int
dechunk(const char *p, size_t len, struct buf *body)
{
	size_t off = 0, size, i;
	const char *eol;

	for (;;) {
		eol = memchr(p + off, '\n', len - off);
		if (eol == NULL)
			return 0;
		size = 0;
		for (i = off; i < len && isxdigit((unsigned char)p[i]); i++) {
			if (size > ((size_t)-1 >> 5))
				return -1;
			size = size * 16 + (size_t)(isdigit((unsigned char)p[i])
								? p[i] - '0'
								: tolower((unsigned char)p[i]) - 'a' + 10);
		}
		if (i == off)
			return -1;
		off = (size_t)(eol - p) + 1; /* chunk extensions are ignored */
		if (size == 0) {
			/* Trailer fields, then an empty line. */
			for (;;) {
				eol = memchr(p + off, '\n', len - off);
				if (eol == NULL)
					return 0;
				if (eol == p + off || (eol == p + off + 1 && p[off] == '\r'))
					return 1;
				off = (size_t)(eol - p) + 1;
			}
		}
		if (len - off < size + 2)
			return 0;
		buf_append(body, p + off, size);
		off += size;
		if (p[off] == '\r')
			off++;
		if (p[off] != '\n')
			return -1;
		off++;
	}
}

/*
 * Parse the response in raw[0..len). Returns 1 with *out filled when it is
 * complete (eof says the server closed), 0 if more input is needed, -1 if it
 * is malformed or cut short.
 */
static int
parse_response(const char *raw, size_t len, bool eof, bool head, struct tl_resp *out)
{
	const char *hend, *hstart, *bstart;
	char val[64];
	struct buf body;
	size_t blen;
	int status, rc;

	hend = NULL;
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(raw + i, "\r\n\r\n", 4) == 0) {
			hend = raw + i;
			break;
		}
	}
	if (hend == NULL)
		return eof ? -1 : 0;
	if (len < 12 || strncmp(raw, "HTTP/1.", 7) != 0 || raw[8] != ' ')
		return -1;
	if (!isdigit((unsigned char)raw[9]) || !isdigit((unsigned char)raw[10]) ||
	    !isdigit((unsigned char)raw[11]))
		return -1;
	status = (raw[9] - '0') * 100 + (raw[10] - '0') * 10 + (raw[11] - '0');
	hstart = memchr(raw, '\n', (size_t)(hend - raw));
	hstart = hstart != NULL ? hstart + 1 : hend + 2;
	bstart = hend + 4;
	blen = len - (size_t)(bstart - raw);

	out->status = status;
	out->headers = xstrndup(hstart, (size_t)(hend + 2 - hstart));
	buf_init(&body);
	if (head || status / 100 == 1 || status == 204 || status == 304) {
		rc = 1;
	} else if (header_find(out->headers, "Transfer-Encoding", val, sizeof val) &&
		   strcasecmp(val, "chunked") == 0) {
		rc = dechunk(bstart, blen, &body);
	} else if (header_find(out->headers, "Content-Length", val, sizeof val)) {
		long long cl;

		if (parse_ll(val, 0, 1LL << 40, &cl) == -1)
			rc = -1;
		else if (blen >= (size_t)cl) {
			buf_append(&body, bstart, (size_t)cl);
			rc = 1;
		} else
			rc = 0;
	} else if (eof) {
		buf_append(&body, bstart, blen);
		rc = 1;
	} else
		rc = 0;
	if (rc == 0 && eof)
		rc = -1;
	if (rc != 1) {
		buf_free(&body);
		tl_resp_free(out);
		return rc;
	}
	out->body_len = body.len;
	out->body = buf_steal(&body);
	return 1;
}

static enum tl_http_end http_exchange(int port, const char *req, size_t req_len,
    int timeout_ms, struct tl_resp *out);

int
tl_http(int port, const char *method, const char *path, const char *headers,
    const char *body, size_t body_len, struct tl_resp *out)
{
	return tl_http_ex(port, method, path, headers, body, body_len, HTTP_TIMEOUT_MS, out) ==
	               TL_HTTP_OK
	           ? 0
	           : -1;
}

enum tl_http_end
tl_http_ex(int port, const char *method, const char *path, const char *headers, const char *body,
    size_t body_len, int timeout_ms, struct tl_resp *out)
{
	struct buf req;
	enum tl_http_end end;

	buf_init(&req);
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n", method,
	    path, port);
	if (headers != NULL)
		buf_puts(&req, headers);
	if (body != NULL)
		buf_printf(&req, "Content-Length: %zu\r\n", body_len);
	buf_puts(&req, "\r\n");
	if (body != NULL)
		buf_append(&req, body, body_len);
	end = http_exchange(port, req.data, req.len, timeout_ms, out);
	buf_free(&req);
	return end;
}

int
tl_http_raw(int port, const char *req, size_t req_len, struct tl_resp *out)
{
	return http_exchange(port, req, req_len, HTTP_TIMEOUT_MS, out) == TL_HTTP_OK ? 0 : -1;
}

/*
 * Send req[0..req_len) over a new connection to 127.0.0.1:port and read
 * the response, all within timeout_ms. A HEAD request is recognised by its
 * first bytes.
 */
static enum tl_http_end
http_exchange(int port, const char *req, size_t req_len, int timeout_ms, struct tl_resp *out)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	struct buf raw;
	char chunk[16384];
	int64_t deadline = now_usec() + (int64_t)timeout_ms * 1000;
	bool head = req_len >= 5 && memcmp(req, "HEAD ", 5) == 0, eof = false;
	enum tl_http_end end = TL_HTTP_PARTIAL;
	size_t off;
	ssize_t n;
	int fd, wait_ms;

	memset(out, 0, sizeof *out);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return TL_HTTP_REFUSED;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	/* Non-blocking from the start: a full backlog must not outlast the deadline. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		int err = 0;
		socklen_t elen = sizeof err;

		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (errno != EINPROGRESS || poll(&pfd, 1, timeout_ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 || err != 0) {
			close(fd);
			return TL_HTTP_REFUSED;
		}
	}

	/*
	 * Send, but read as we go: a server may answer (413, 400) and close
	 * before taking the whole body, and that answer is what a test wants.
	 */
	buf_init(&raw);
	off = 0;
	for (;;) {
		wait_ms = (int)((deadline - now_usec()) / 1000);
		if (wait_ms <= 0)
			goto done;
		pfd.fd = fd;
		pfd.events = POLLIN | (off < req_len ? POLLOUT : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, wait_ms) == -1) {
			if (errno == EINTR)
				continue;
			goto done;
		}
		if (off < req_len && (pfd.revents & POLLOUT)) {
			n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR)
				off = req_len; /* peer gone: read what it said */
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, chunk, sizeof chunk, 0);
			if (n > 0)
				buf_append(&raw, chunk, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				eof = true;
			if (n != 0 || eof) {
				int r = parse_response(raw.data != NULL ? raw.data : "", raw.len, eof,
				    head, out);

				if (r == 1)
					end = TL_HTTP_OK;
				if (r != 0)
					goto done;
			}
		}
	}
done:
	if (end != TL_HTTP_OK && raw.len == 0)
		end = TL_HTTP_NO_ANSWER;
	close(fd);
	buf_free(&raw);
	return end;
}

void
tl_resp_free(struct tl_resp *r)
{
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}

const char *
tl_resp_header(const struct tl_resp *r, const char *name)
{
	static _Thread_local char value[8192];

	if (r->headers == NULL || !header_find(r->headers, name, value, sizeof value))
		return NULL;
	return value;
}

long
tl_metric_value(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return atol(p + n + 1);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

void
tl_wait_alerts_ready(int port)
{
	for (int i = 0; i < 400; i++) {
		struct tl_resp r;
		bool ok = tl_http(port, "GET", "/readyz", NULL, NULL, 0, &r) == 0 &&
		    r.status == 200 && strstr(r.body, "\"alerts\":true") != NULL;

		tl_resp_free(&r);
		if (ok)
			return;
		sleep_ms(50);
	}
	cr_assert_fail("the rules engine did not become ready in 20 s");
}

void
tl_fixture_end(struct tl_daemon **d, PGconn **pg, char **db)
{
	if (*d != NULL)
		cr_expect_eq(tl_daemon_stop(*d), 0, "edumond exits 0 on SIGTERM");
	*d = NULL;
	if (*pg != NULL)
		PQfinish(*pg);
	*pg = NULL;
	free(*db);
	*db = NULL;
}

int
tl_free_port(void)
{
	return free_port();
}

void
tl_sleep_ms(long ms)
{
	sleep_ms(ms);
}

int
tl_wait_exit(int pid, long ms)
{
	return wait_exit((pid_t)pid, ms);
}

char *
tl_file_tail(const char *path)
{
	return file_tail(path);
}

long
tl_metric(int port, const char *name)
{
	struct tl_resp r;
	long v = -1;

	if (tl_http(port, "GET", "/metrics", NULL, NULL, 0, &r) == 0 && r.status == 200)
		v = tl_metric_value(r.body, name);
	tl_resp_free(&r);
	return v;
}

long
tl_proc_status(int pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		cr_assert_fail("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = atol(line + n + 1);
	fclose(f);
	return v;
}

void
tl_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	char *msg;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		msg = xstrdup(PQresultErrorMessage(r));
		PQclear(r);
		cr_assert_fail("%s: %s", sql, msg);
	}
	PQclear(r);
}

cJSON *
tl_post_csv(int port, const char *token, const char *csv)
{
	char *headers = xasprintf("Authorization: Bearer %s\r\nContent-Type: text/csv\r\n", token);
	struct tl_resp r;
	cJSON *j;

	if (tl_http(port, "POST", "/v1/submissions", headers, csv, strlen(csv), &r) != 0)
		cr_assert_fail("POST /v1/submissions %s: no answer", csv);
	free(headers);
	cr_assert_eq(r.status, 201, "201 for\n%s: %s", csv, r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "%s", r.body);
	tl_resp_free(&r);
	return j;
}

long
tl_query_long(PGconn *c, const char *sql)
{
	char *v = tl_query_value(c, sql);
	long n = v != NULL ? atol(v) : -1;

	free(v);
	return n;
}
