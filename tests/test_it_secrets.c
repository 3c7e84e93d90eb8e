/*
 * test_it_secrets.c: tokens and database passwords never reach a log. A
 * daemon at debug level and the CLI, both given a conninfo with a password,
 * see a valid, a revoked and a malformed token and a failing command; then
 * their whole stderr is searched for every secret.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

#define SCHOOL "2132070301"

/* The whole file at path; the caller frees. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	cr_assert_not_null(f, "%s", path);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_putc(&b, '\0');
	return buf_steal(&b);
}

/* Run the CLI with conninfo, stderr appended to errpath; stdout returned. */
static int
cli(const char *conninfo, const char *errpath, const char *args, char **out)
{
	char *cmd = xasprintf("'%s/edumon' --database \"%s\" %s 2>>'%s'", tl_build_dir(), conninfo,
	    args, errpath);
	int rc = tl_run(cmd, out);

	free(cmd);
	return rc;
}

static int
submit(int port, const char *token)
{
	char *headers = xasprintf("Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
	    token);
	const char *body =
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-09\",\"metrics\":{\"emergency_drills\":1}}";
	struct tl_resp r;
	int status = -1;

	if (tl_http(port, "POST", "/v1/submissions", headers, body, strlen(body), &r) == 0)
		status = r.status;
	tl_resp_free(&r);
	free(headers);
	return status;
}

Test(secrets, no_token_or_password_in_any_log, .timeout = 90)
{
	char *db = tl_db_create("secrets"), *conninfo, *password, *errpath, *valid = NULL,
	     *revoked = NULL, *malformed, *out = NULL, *log, *errs, sql[256], hex[33];
	unsigned char rnd[16];
	const char *dir = getenv("EDUMON_TEST_TMPDIR");
	PGconn *c = tl_db_connect(db);
	struct tl_daemon *d;
	PGresult *res;
	int port, st = 0;

	random_bytes(rnd, sizeof rnd);
	hex_encode(rnd, sizeof rnd, hex);
	password = xasprintf("pw%s", hex);
	snprintf(sql, sizeof sql,
	    "CREATE ROLE edumond_s%d LOGIN PASSWORD '%s' IN ROLE edumon_daemon", (int)getpid(),
	    password);
	res = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(res);
	/* Later keywords win in a conninfo string. */
	conninfo = xasprintf("%s user=edumond_s%d password=%s", db, (int)getpid(), password);
	errpath = xasprintf("%s/cli-stderr-%d", dir != NULL && *dir ? dir : "/tmp", (int)getpid());
	unlink(errpath);

	/* The daemon's role may not create tokens: the CLI runs as the owner. */
	cr_assert_eq(cli(db, errpath, "token create --school " SCHOOL, &valid), 0);
	valid[strcspn(valid, "\n")] = '\0';
	cr_assert_eq(cli(db, errpath, "token create --school " SCHOOL, &revoked), 0);
	revoked[strcspn(revoked, "\n")] = '\0';
	malformed = xasprintf("edumon_%s_not_a_token", hex);

	d = tl_daemon_start(conninfo, "--log-level debug");
	port = tl_daemon_port(d);
	for (int i = 0; i < 100 && (st = submit(port, valid)) != 201; i++)
		usleep(100000);
	cr_expect_eq(st, 201, "the valid token submits");
	cr_expect_eq(submit(port, malformed), 401);
	{
		char *id = tl_query_value(c, "SELECT max(id) FROM edumon.api_token");
		char *args = xasprintf("token revoke %s", id);

		cr_assert_eq(cli(db, errpath, args, NULL), 0);
		free(args);
		free(id);
	}
	PQfinish(c);
	for (int i = 0; i < 100 && (st = submit(port, revoked)) != 401; i++)
		usleep(100000);
	cr_expect_eq(st, 401, "the revoked token is refused");
	/* The CLI with the password in its conninfo, failing and succeeding. */
	cli(conninfo, errpath, "token revoke 999999", NULL);
	cli(conninfo, errpath, "token list", &out);
	free(out);
	out = NULL;
	cli("host=/nonexistent-dir port=1 user=x password=" "pwdead", errpath, "token list", NULL);
	usleep(200000);
	log = slurp(tl_daemon_log(d));
	cr_expect_eq(tl_daemon_stop(d), 0);
	errs = slurp(errpath);
	cr_expect(strlen(log) > 0, "the daemon logged something");
	{
		const char *secrets[] = {valid, revoked, malformed, password, "pwdead"};
		const char *names[] = {"valid token", "revoked token", "malformed token",
		    "database password", "CLI password"};

		for (size_t i = 0; i < ARRAY_LEN(secrets); i++) {
			cr_expect(strstr(log, secrets[i]) == NULL, "the %s is in the daemon's log",
			    names[i]);
			cr_expect(strstr(errs, secrets[i]) == NULL, "the %s is in the CLI's stderr",
			    names[i]);
		}
	}
	free(log);
	free(errs);
	unlink(errpath);
	free(errpath);
	free(malformed);
	free(valid);
	free(revoked);
	free(conninfo);
	free(password);
	free(db);
}
