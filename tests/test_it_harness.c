/*
 * test_it_harness.c: tests of the integration-test harness (testlib) itself:
 * the shared cluster, fresh migrated databases, tl_run, the HTTP client
 * against a one-shot server forked by the test, and the daemon lifecycle
 * against a stand-in daemon (this very binary, re-executed in a mode that
 * answers /healthz), so none of it depends on edumond.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

/* ---- a stand-in daemon: this binary with EDUMON_TL_FAKE_DAEMON=1 ---- */

static volatile sig_atomic_t fake_stop;

static void
fake_term_cb(int sig)
{
	(void)sig;
	fake_stop = 1;
}

/* Answer each request with 200 "ok" on /healthz and 404 elsewhere. */
static void
fake_daemon_serve(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct sigaction act;
	struct pollfd pfd;
	char req[4096];
	const char *listen_arg = NULL;
	int fd, c, one = 1, i;
	ssize_t n;

	for (i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0)
			listen_arg = argv[i + 1];
	}
	if (listen_arg == NULL || strncmp(listen_arg, "127.0.0.1:", 10) != 0) {
		fprintf(stderr, "fake: no --listen 127.0.0.1:PORT\n");
		_exit(2);
	}
	memset(&act, 0, sizeof act);
	act.sa_handler = fake_term_cb;
	sigaction(SIGTERM, &act, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)atoi(listen_arg + 10));
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 || listen(fd, 16) == -1) {
		fprintf(stderr, "fake: bind %s: %s\n", listen_arg, strerror(errno));
		_exit(1);
	}
	fprintf(stderr, "fake: listening on %s, args:", listen_arg);
	for (i = 1; i < argc; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
	while (!fake_stop) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		c = accept(fd, NULL, NULL);
		if (c == -1)
			continue;
		n = recv(c, req, sizeof req - 1, 0);
		if (n > 0) {
			req[n] = '\0';
			if (strncmp(req, "GET /healthz ", 13) == 0)
				dprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
			else
				dprintf(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
		}
		close(c);
	}
	fprintf(stderr, "fake: SIGTERM, exiting\n");
	exit(0);
}

/* glibc passes main's arguments to constructors. */
__attribute__((constructor)) static void
fake_daemon_ctor(int argc, char **argv, char **envp)
{
	(void)envp;
	if (getenv("EDUMON_TL_FAKE_DAEMON") != NULL)
		fake_daemon_serve(argc, argv);
}

/*
 * Write DIR/edumond that runs this binary as the stand-in daemon and point
 * tl_build_dir() at DIR. Returns DIR; caller frees.
 */
static char *
fake_build_dir(void)
{
	char self[4096], *dir, *script;
	const char *tmp;
	ssize_t n;
	FILE *f;

	n = readlink("/proc/self/exe", self, sizeof self - 1);
	cr_assert_gt(n, 0, "readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	tmp = getenv("EDUMON_TEST_TMPDIR");
	dir = xasprintf("%s/edumon-fake-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	script = xasprintf("%s/edumond", dir);
	f = fopen(script, "w");
	cr_assert_not_null(f);
	fprintf(f, "#!/bin/sh\nEDUMON_TL_FAKE_DAEMON=1 exec '%s' \"$@\"\n", self);
	fclose(f);
	chmod(script, 0755);
	free(script);
	setenv("EDUMON_BUILD_DIR", dir, 1);
	return dir;
}

/* ---- a one-shot HTTP server in a forked child ---- */

struct one_shot {
	pid_t pid;
	int port;
};

/*
 * Listen on a free loopback port and fork a child that accepts one
 * connection, reads the request (headers and Content-Length body), then
 * writes response, or, if response is NULL, echoes the request body back
 * with the method and the Content-Length it received in headers.
 */
static struct one_shot
one_shot_start(const char *response)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	struct one_shot s;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	s.port = ntohs(sa.sin_port);
	fflush(stdout);
	fflush(stderr);
	s.pid = fork();
	cr_assert_geq(s.pid, 0);
	if (s.pid == 0) {
		struct buf req, resp;
		char chunk[4096], *hend, *cl;
		size_t want = 0, blen;
		ssize_t n;
		int c;

		alarm(10);
		c = accept(fd, NULL, NULL);
		if (c == -1)
			_exit(1);
		buf_init(&req);
		for (;;) {
			n = recv(c, chunk, sizeof chunk, 0);
			if (n <= 0)
				_exit(3);
			buf_append(&req, chunk, (size_t)n);
			hend = strstr(req.data, "\r\n\r\n");
			if (hend == NULL)
				continue;
			cl = strstr(req.data, "\r\nContent-Length: ");
			want = cl != NULL && cl < hend ? (size_t)atol(cl + 18) : 0;
			if (req.len - (size_t)(hend + 4 - req.data) >= want)
				break;
		}
		if (strstr(req.data, "\r\nConnection: close\r\n") == NULL)
			_exit(4);
		buf_init(&resp);
		if (response != NULL) {
			buf_puts(&resp, response);
		} else {
			blen = req.len - (size_t)(hend + 4 - req.data);
			buf_printf(&resp,
			    "HTTP/1.1 201 Created\r\nx-method: %.*s\r\nX-Got-Length: %zu\r\n"
			    "Content-Length: %zu\r\n\r\n",
			    (int)strcspn(req.data, " "), req.data, want, blen);
			buf_append(&resp, hend + 4, blen);
		}
		if (send(c, resp.data, resp.len, MSG_NOSIGNAL) != (ssize_t)resp.len)
			_exit(5);
		close(c);
		_exit(0);
	}
	close(fd);
	return s;
}

/* Reap the server child; it must have seen a well-formed request. */
static void
one_shot_finish(struct one_shot *s)
{
	int status;

	cr_assert_eq(waitpid(s->pid, &status, 0), s->pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "one-shot server ended with wait status %d", status);
}

/* ---- tests ---- */

Test(harness, cluster_reachable)
{
	char *admin = tl_pg_conninfo_admin();
	PGconn *c = tl_db_connect(admin);
	char *v;

	v = tl_query_value(c, "SELECT 1");
	cr_assert_str_eq(v, "1");
	free(v);
	/* The test cluster keeps production's durability settings. */
	v = tl_query_value(c, "SHOW fsync");
	cr_assert_str_eq(v, "on");
	free(v);
	v = tl_query_value(c, "SHOW synchronous_commit");
	cr_assert_str_eq(v, "on");
	free(v);
	cr_assert_null(tl_query_value(c, "SELECT NULL"));
	cr_assert_null(tl_query_value(c, "SELECT 1 WHERE false"));
	PQfinish(c);
	free(admin);
}

Test(harness, run_captures_stdout_and_status)
{
	char *out = NULL;

	cr_assert_eq(tl_run("echo hello; echo err >&2; exit 3", &out), 3);
	cr_assert_str_eq(out, "hello\n");
	free(out);
	cr_assert_eq(tl_run("true", NULL), 0);
	cr_assert_eq(tl_run("kill -9 $$", &out), -1);
	cr_assert_str_eq(out, "");
	free(out);
}

Test(harness, http_content_length)
{
	struct one_shot s = one_shot_start("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
					   "Content-Length: 5\r\n\r\nhello");
	struct tl_resp r;

	cr_assert_eq(tl_http(s.port, "GET", "/x", NULL, NULL, 0, &r), 0);
	one_shot_finish(&s);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, 5);
	cr_assert_str_eq(r.body, "hello");
	cr_assert_str_eq(tl_resp_header(&r, "content-type"), "text/plain");
	cr_assert_str_eq(tl_resp_header(&r, "CONTENT-LENGTH"), "5");
	cr_assert_null(tl_resp_header(&r, "Content"));
	tl_resp_free(&r);
}

Test(harness, http_chunked)
{
	struct one_shot s = one_shot_start("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
					   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
	struct tl_resp r;

	cr_assert_eq(tl_http(s.port, "GET", "/", NULL, NULL, 0, &r), 0);
	one_shot_finish(&s);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, 11);
	cr_assert_str_eq(r.body, "hello world");
	tl_resp_free(&r);
}

Test(harness, http_until_close)
{
	struct one_shot s = one_shot_start("HTTP/1.1 503 Service Unavailable\r\n\r\ndown");
	struct tl_resp r;

	cr_assert_eq(tl_http(s.port, "GET", "/", NULL, NULL, 0, &r), 0);
	one_shot_finish(&s);
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(r.body, "down");
	tl_resp_free(&r);
}

Test(harness, http_post_sends_headers_and_body)
{
	static const char body[] = "{\"a\":1}";
	struct one_shot s = one_shot_start(NULL);
	struct tl_resp r;

	cr_assert_eq(tl_http(s.port, "POST", "/v1/submissions",
			 "Authorization: Bearer t\r\nContent-Type: application/json\r\n", body,
			 strlen(body), &r),
	    0);
	one_shot_finish(&s);
	cr_assert_eq(r.status, 201);
	cr_assert_str_eq(tl_resp_header(&r, "X-Method"), "POST");
	cr_assert_str_eq(tl_resp_header(&r, "x-got-length"), "7");
	cr_assert_eq(r.body_len, strlen(body));
	cr_assert_str_eq(r.body, body);
	tl_resp_free(&r);
}

Test(harness, http_errors)
{
	struct one_shot s = one_shot_start("garbage\r\n\r\n");
	struct tl_resp r;

	cr_assert_eq(tl_http(s.port, "GET", "/", NULL, NULL, 0, &r), -1);
	one_shot_finish(&s);
	tl_resp_free(&r);

	/* Cut short: fewer bytes than Content-Length, then close. */
	s = one_shot_start("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	cr_assert_eq(tl_http(s.port, "GET", "/", NULL, NULL, 0, &r), -1);
	one_shot_finish(&s);
	cr_assert_null(r.body);

	/* Nobody listening: the one-shot server is gone. */
	cr_assert_eq(tl_http(s.port, "GET", "/", NULL, NULL, 0, &r), -1);
}

Test(harness, daemon_lifecycle)
{
	char *dir = fake_build_dir(), *log = NULL, *cmd;
	struct tl_daemon *d;
	struct tl_resp r;

	d = tl_daemon_start("host=/nonexistent dbname=x", "--log-level debug");
	cr_assert_gt(tl_daemon_port(d), 0);
	cr_assert_eq(tl_http(tl_daemon_port(d), "GET", "/healthz", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ok\n");
	tl_resp_free(&r);
	cr_assert_eq(tl_http(tl_daemon_port(d), "GET", "/nope", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 404);
	tl_resp_free(&r);

	cmd = xasprintf("cat '%s'", tl_daemon_log(d));
	cr_assert_eq(tl_run(cmd, &log), 0);
	free(cmd);
	cr_assert(strstr(log, "--database host=/nonexistent dbname=x --log-level debug") != NULL,
	    "log: %s", log);
	free(log);
	cr_assert_eq(tl_daemon_stop(d), 0);

	d = tl_daemon_start("x", NULL);
	tl_daemon_kill(d);

	cmd = xasprintf("rm -rf '%s'", dir);
	tl_run(cmd, NULL);
	free(cmd);
	free(dir);
}

/* The pieces below need the real CLI (build/edumon). */

static bool
have_cli(void)
{
	char *bin = xasprintf("%s/edumon", tl_build_dir());
	bool ok = access(bin, X_OK) == 0;

	free(bin);
	return ok;
}

Test(harness, db_create_migrates)
{
	char *ci, *ci2, *v;
	PGconn *c;

	if (!have_cli())
		cr_skip_test("%s/edumon is not built", tl_build_dir());
	ci = tl_db_create("Harness-DB");
	ci2 = tl_db_create("harness");
	cr_assert_str_neq(ci, ci2);
	c = tl_db_connect(ci);
	v = tl_query_value(c, "SELECT count(*) FROM edumon.schema_migration");
	cr_assert_not_null(v);
	cr_assert_gt(atoi(v), 0, "schema_migration has %s rows", v);
	free(v);
	v = tl_query_value(c, "SELECT current_database()");
	cr_assert(strncmp(v, "harness_db_", 11) == 0, "database %s", v);
	free(v);
	PQfinish(c);
	free(ci2);
	free(ci);
}

Test(harness, token_create)
{
	char *ci, *tok;

	if (!have_cli())
		cr_skip_test("%s/edumon is not built", tl_build_dir());
	ci = tl_db_create("harness_tok");
	tok = tl_token(ci, "--school 2132070301");
	cr_assert_gt(strlen(tok), 0);
	cr_assert_null(strpbrk(tok, " \t\r\n"));
	free(tok);
	free(ci);
}
