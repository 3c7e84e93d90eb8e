/*
 * test_it_silences.c: silences end to end. `edumon silence add/list/expire`
 * with every refusal, and GET /v1/silences, POST /v1/silences and POST
 * /v1/silences/{id}/expire on the real edumond per role and scope.
 *
 * Units (deploy/demo/units.csv): city 3207 > districts 320703 (monitor
 * "mon"), 320706 (monitor "other"); school 2132070301 lies in 320703.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "util.h"

struct env {
	char *db;
	PGconn *pg;
	char *mon, *other, *city, *admin, *school, *reporter;
	struct tl_daemon *d;
	int port;
};

static struct env E;

static void
setup_cli(void)
{
	memset(&E, 0, sizeof E);
	E.db = tl_db_create("silences");
	E.pg = tl_db_connect(E.db);
}

static void
setup_api(void)
{
	setup_cli();
	E.mon = tl_token(E.db, "--monitor 320703 --label 张老师");
	E.other = tl_token(E.db, "--monitor 320706");
	E.city = tl_token(E.db, "--monitor 3207");
	E.admin = tl_token(E.db, "--admin");
	E.school = tl_token(E.db, "--school 2132070301");
	E.reporter = tl_token(E.db, "--reporter 320703");
	E.d = tl_daemon_start(E.db, "--alerts 0");
	E.port = tl_daemon_port(E.d);
	tl_wait_ready(E.port);
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	free(E.mon);
	free(E.other);
	free(E.city);
	free(E.admin);
	free(E.school);
	free(E.reporter);
}

TestSuite(silences, .fini = teardown, .timeout = 120);

static long
count(const char *sql)
{
	char *v = tl_query_value(E.pg, sql);
	long n = v != NULL ? atol(v) : -1;

	free(v);
	return n;
}

/* ---- the CLI ---- */

static char *
cli(const char *args, int want)
{
	return tl_cli_expect(E.db, args, want);
}

static void
refused(const char *args, int want, const char *msg)
{
	tl_cli_refused(E.db, args, want, msg);
}

/* silence add ARGS; the new id. */
static long
add(const char *args)
{
	char *cmd = xasprintf("silence add %s", args);
	char *out = cli(cmd, 0);
	long id = atol(out);

	cr_assert_gt(id, 0, "%s: %s", cmd, out);
	free(out);
	free(cmd);
	return id;
}

Test(silences, cli_add_list_expire, .init = setup_cli)
{
	long a, b, c;
	char *out, cmd[64];

	a = add("--unit 320703 --for 2h --by 张老师 --comment '停电，数据晚报'");
	b = add("--rule class_size --metric class_size_max --label team=safety"
	        " --until '2099-01-01 10:00' --starts '2098-12-31 10:00' --by a --comment b");
	c = add("--metric emergency_drills --for 30m --by a --comment b");
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE ends_at - starts_at ="
	                   " interval '2 hours' AND created_by = '张老师' AND token_id IS NULL"),
	    1);
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE label_key = 'team' AND"
	                   " label_value = 'safety' AND rule_id = 'class_size' AND"
	                   " ends_at = '2099-01-01 10:00'::timestamptz"),
	    1, "--until is read in the session's time zone");

	out = cli("silence list", 0);
	cr_expect(strncmp(out, "id\tunit\trule\tmetric\tlabel\tstarts\tends\tactive\tby\tcomment\t",
	              52) == 0,
	    "%s", out);
	cr_expect(strstr(out, "\t320703\t-\t-\t-\t") != NULL, "%s", out);
	cr_expect(
	    strstr(out, "\tclass_size\tclass_size_max\tteam=safety\t2098-12-31 10:00:00") != NULL,
	    "%s", out);
	cr_expect(strstr(out, "停电，数据晚报") != NULL, "%s", out);
	free(out);

	snprintf(cmd, sizeof cmd, "silence expire %ld", c);
	out = cli(cmd, 0);
	cr_expect(strstr(out, "expired") != NULL, "%s", out);
	free(out);
	out = cli(cmd, 0);
	cr_expect(strstr(out, "had already ended") != NULL, "%s", out);
	free(out);
	snprintf(cmd, sizeof cmd, "silence expire %ld", b);
	free(cli(cmd, 0));
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE expired_at IS NOT NULL AND"
	                   " ends_at <= now() + interval '1 second'"),
	    1, "the running one ends now");
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE expired_at IS NOT NULL AND"
	                   " ends_at = starts_at + interval '1 microsecond'"),
	    1, "the future one ends right after its start");
	refused("silence expire 999999", 1, "no silence with id 999999");
	refused("silence expire x", 2, "ID \"x\" is not a silence number");

	out = cli("silence list", 0);
	cr_expect(strstr(out, "emergency_drills") == NULL && strstr(out, "team=safety") == NULL,
	    "ended silences are not listed:\n%s", out);
	free(out);
	out = cli("silence list --all", 0);
	cr_expect(strstr(out, "emergency_drills") != NULL && strstr(out, "team=safety") != NULL,
	    "%s", out);
	free(out);
	(void)a;
}

Test(silences, cli_refusals, .init = setup_cli)
{
	refused("silence add --for 2h --by a --comment b", 2, "give at least one of --unit");
	refused("silence add --unit 999999 --for 2h --by a --comment b", 1,
	    "--unit: no unit with code 999999");
	refused("silence add --metric nope --for 2h --by a --comment b", 1,
	    "--metric: no metric with code nope");
	refused("silence add --rule 'Bad Rule' --for 2h --by a --comment b", 2,
	    "--rule \"Bad Rule\" is not a rule id");
	refused("silence add --label team --for 2h --by a --comment b", 2, "is not KEY=VALUE");
	refused("silence add --label 9x=y --for 2h --by a --comment b", 2, "label key \"9x\"");
	refused("silence add --label x= --for 2h --by a --comment b", 2, "the value must be");
	refused("silence add --unit 320703 --by a --comment b", 2,
	    "give exactly one of --for, --until");
	refused("silence add --unit 320703 --for 2h --until '2099-01-01 10:00' --by a --comment b",
	    2, "give exactly one of --for, --until");
	refused("silence add --unit 320703 --for 2w --by a --comment b", 2, "--for \"2w\"");
	refused("silence add --unit 320703 --for 0h --by a --comment b", 2, "--for \"0h\"");
	refused("silence add --unit 320703 --for 367d --by a --comment b", 2, "--for \"367d\"");
	refused("silence add --unit 320703 --until tomorrow --by a --comment b", 2,
	    "--until \"tomorrow\" is not a time");
	refused("silence add --unit 320703 --until '2099-02-30 10:00' --by a --comment b", 1,
	    "--until: \"2099-02-30 10:00\" is not a time");
	refused("silence add --unit 320703 --until '2020-01-01 10:00' --by a --comment b", 1,
	    "that time has passed");
	refused("silence add --unit 320703 --starts '2099-01-02 00:00' --until '2099-01-01 00:00'"
	        " --by a --comment b",
	    1, "must end after it starts");
	refused("silence add --unit 320703 --for 2h --comment b", 2, "option --by is required");
	refused("silence add --unit 320703 --for 2h --by a", 2, "option --comment is required");
	refused("silence add --unit 320703 --for 2h --by '' --comment b", 2,
	    "--by must be 1 to 200 characters");
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence"), 0);
}

/* ---- the API ---- */

static void
call(const char *method, const char *path, const char *token, const char *body, struct tl_resp *r)
{
	char headers[512];

	snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n%s", token,
	    body != NULL ? "Content-Type: application/json\r\n" : "");
	cr_assert_eq(tl_http(E.port, method, path, headers, body, body ? strlen(body) : 0, r), 0,
	    "%s %s answered", method, path);
}

/* One request; expect status; the parsed body (caller deletes). */
static cJSON *
expect(const char *method, const char *path, const char *token, const char *body, int status)
{
	struct tl_resp r;
	cJSON *j;

	call(method, path, token, body, &r);
	cr_expect_eq(r.status, status, "%s %s %s: %d, want %d: %s", method, path,
	    body != NULL ? body : "", r.status, status, r.body);
	j = cJSON_Parse(r.body);
	cr_assert_not_null(j, "JSON answer: %s", r.body);
	tl_resp_free(&r);
	return j;
}

/* POST /v1/silences body as token; expect 400 with error code and message part. */
static void
bad_body(const char *token, const char *body, const char *code, const char *msg)
{
	cJSON *j = expect("POST", "/v1/silences", token, body, 400);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");

	cr_expect(cJSON_IsString(e) && strcmp(e->valuestring, code) == 0, "%s: error %s", body,
	    cJSON_IsString(e) ? e->valuestring : "?");
	cr_expect(cJSON_IsString(m) && strstr(m->valuestring, msg) != NULL,
	    "%s: want \"%s\" in \"%s\"", body, msg, cJSON_IsString(m) ? m->valuestring : "?");
	cJSON_Delete(j);
}

/* Create a silence as token; its id. */
static long
create(const char *token, const char *body)
{
	cJSON *j = expect("POST", "/v1/silences", token, body, 201);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	long v = cJSON_IsNumber(id) ? (long)id->valuedouble : 0;

	cJSON_Delete(j);
	cr_assert_gt(v, 0);
	return v;
}

/* The ids GET /v1/silences[?query] lists for token, as "3,2,1". */
static void
list_ids(const char *token, const char *query, char *out, size_t len)
{
	char path[128];
	cJSON *j;
	const cJSON *item;
	size_t off = 0;

	snprintf(path, sizeof path, "/v1/silences%s", query);
	j = expect("GET", path, token, NULL, 200);
	out[0] = '\0';
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(j, "silences")) off +=
	    (size_t)snprintf(out + off, len - off, "%s%d", off > 0 ? "," : "",
	        cJSON_GetObjectItemCaseSensitive(item, "id")->valueint);
	cJSON_Delete(j);
}

Test(silences, api_create_scoped, .init = setup_api)
{
	cJSON *j;
	const cJSON *u;

	/* A monitor's silence defaults to its own unit. */
	j = expect("POST", "/v1/silences", E.mon,
	    "{\"rule\":\"class_size\",\"duration_seconds\":7200,\"by\":\"张老师\","
	    "\"comment\":\"停电\",\"label\":{\"team\":\"safety\"}}",
	    201);
	u = cJSON_GetObjectItemCaseSensitive(j, "unit");
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(u, "code")->valuestring, "320703");
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(j, "rule")->valuestring, "class_size");
	cr_expect_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "label"), "team")
	        ->valuestring,
	    "safety");
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "active")));
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "expired_at")));
	cJSON_Delete(j);
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence s JOIN edumon.api_token t"
	                   " ON t.id = s.token_id WHERE t.label = '张老师'"
	                   " AND s.ends_at - s.starts_at = interval '2 hours'"),
	    1, "the token is recorded");

	/* Within the subtree: a school of the district; a city monitor: a district. */
	create(E.mon,
	    "{\"unit\":\"2132070301\",\"metric\":\"class_size_max\","
	    "\"ends_at\":\"2099-01-01T00:00:00Z\",\"starts_at\":\"2098-12-01T00:00:00+08:00\","
	    "\"by\":\"a\",\"comment\":\"b\"}");
	create(
	    E.city, "{\"unit\":\"320706\",\"duration_seconds\":60,\"by\":\"a\",\"comment\":\"b\"}");
	/* Outside: exactly like an unknown code. */
	bad_body(E.mon,
	    "{\"unit\":\"320706\",\"duration_seconds\":60,\"by\":\"a\",\"comment\":\"b\"}",
	    "bad_body", "unit: \"320706\" is not a unit code within the token's reach");
	bad_body(E.mon,
	    "{\"unit\":\"3207\",\"duration_seconds\":60,\"by\":\"a\",\"comment\":\"b\"}",
	    "bad_body", "unit: \"3207\" is not a unit code within the token's reach");
	bad_body(E.mon,
	    "{\"unit\":\"999999\",\"duration_seconds\":60,\"by\":\"a\",\"comment\":\"b\"}",
	    "bad_body", "unit: \"999999\" is not a unit code within the token's reach");
	/* Admin: anything, also without a unit. */
	create(E.admin,
	    "{\"rule\":\"drills\",\"duration_seconds\":60,\"by\":\"a\",\"comment\":\"b\"}");
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence"), 4);
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE unit_id IS NULL"), 1);
}

Test(silences, api_roles, .init = setup_api)
{
	static const char body[] = "{\"duration_seconds\":60,\"by\":\"a\",\"comment\":\"b\"}";
	struct tl_resp r;
	const char *tokens[] = {E.school, E.reporter};

	for (size_t i = 0; i < ARRAY_LEN(tokens); i++) {
		cJSON_Delete(expect("GET", "/v1/silences", tokens[i], NULL, 403));
		cJSON_Delete(expect("POST", "/v1/silences", tokens[i], body, 403));
		cJSON_Delete(expect("POST", "/v1/silences/1/expire", tokens[i], NULL, 403));
	}
	cJSON_Delete(expect("GET", "/v1/silences", "not-a-token", NULL, 401));
	cr_assert_eq(tl_http(E.port, "GET", "/v1/silences/1/expire", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(tl_resp_header(&r, "Allow"), "POST");
	tl_resp_free(&r);
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence"), 0);
}

Test(silences, api_field_errors, .init = setup_api)
{
	static const struct {
		const char *body, *code, *msg;
	} cases[] = {
	    {"{\"unit\":", "malformed_body", "malformed JSON at byte"},
	    {"{\"by\":\"a\",\"by\":\"b\"}", "malformed_body", "duplicate"},
	    {"[1]", "bad_body", "must be a JSON object, not an array"},
	    {"{\"team\":\"x\"}", "bad_body", "unknown field \"team\""},
	    {"{\"unit\":3207}", "bad_body", "unit must be a string, not a number"},
	    {"{\"rule\":\"Bad\"}", "bad_body", "rule: \"Bad\" is not a rule id"},
	    {"{\"metric\":\"nope\"}", "bad_body", "metric: \"nope\" is not a metric code"},
	    {"{\"label\":\"team=x\"}", "bad_body", "label must be an object with one member"},
	    {"{\"label\":{\"a\":\"1\",\"b\":\"2\"}}", "bad_body", "label must be an object"},
	    {"{\"label\":{\"9a\":\"1\"}}", "bad_body", "label: key \"9a\""},
	    {"{\"label\":{\"a\":1}}", "bad_body", "label: the value of a must be a string"},
	    {"{\"starts_at\":\"2026-03-01\"}", "bad_body",
	        "starts_at: \"2026-03-01\" is not an RFC 3339"},
	    {"{\"ends_at\":\"tomorrow\"}", "bad_body", "ends_at: \"tomorrow\" is not an RFC 3339"},
	    {"{\"duration_seconds\":1.5}", "bad_body", "duration_seconds must be a whole number"},
	    {"{\"duration_seconds\":0}", "bad_body", "duration_seconds must be a whole number"},
	    {"{\"duration_seconds\":\"60\"}", "bad_body",
	        "duration_seconds must be a whole number"},
	    {"{\"by\":\"\"}", "bad_body", "by must be 1 to 200 characters"},
	    {"{\"comment\":null}", "bad_body", "comment must be a string, not null"},
	    {"{\"duration_seconds\":60,\"comment\":\"b\"}", "bad_body", "by is required"},
	    {"{\"duration_seconds\":60,\"by\":\"a\"}", "bad_body", "comment is required"},
	    {"{\"by\":\"a\",\"comment\":\"b\"}", "bad_body",
	        "give exactly one of ends_at and duration_seconds"},
	    {"{\"by\":\"a\",\"comment\":\"b\",\"duration_seconds\":60,"
	     "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
	        "bad_body", "give exactly one of ends_at and duration_seconds"},
	    {"{\"by\":\"a\",\"comment\":\"b\",\"ends_at\":\"2020-01-01T00:00:00Z\"}", "bad_body",
	        "ends_at is in the past"},
	    {"{\"by\":\"a\",\"comment\":\"b\",\"starts_at\":\"2099-01-02T00:00:00Z\","
	     "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
	        "bad_body", "ends_at must be later than starts_at"},
	    {"{\"by\":\"a\",\"comment\":\"b\",\"duration_seconds\":31708800}", "bad_body",
	        "duration_seconds must be a whole number from 1 to 31622400"},
	};
	struct tl_resp r;

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		bad_body(E.mon, cases[i].body, cases[i].code, cases[i].msg);
	/* Admin without a matcher. */
	bad_body(E.admin, "{\"by\":\"a\",\"comment\":\"b\",\"duration_seconds\":60}", "bad_body",
	    "give at least one matcher");
	/* Not JSON. */
	cr_assert_eq(tl_http(E.port, "POST", "/v1/silences",
	                 "Authorization: Bearer x\r\nContent-Type: text/plain\r\n", "a", 1, &r),
	    0);
	cr_expect_eq(r.status, 401);
	tl_resp_free(&r);
	{
		char *h =
		    xasprintf("Authorization: Bearer %s\r\nContent-Type: text/plain\r\n", E.mon);

		cr_assert_eq(tl_http(E.port, "POST", "/v1/silences", h, "{}", 2, &r), 0);
		cr_expect_eq(r.status, 415, "%s", r.body);
		tl_resp_free(&r);
		free(h);
	}
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence"), 0);
}

Test(silences, api_list_and_expire_scoped, .init = setup_api)
{
	char ids[128], path[64], expect_ids[128];
	long mine, school, theirs, global, ended;
	cJSON *j;

	mine = create(E.mon, "{\"duration_seconds\":3600,\"by\":\"a\",\"comment\":\"b\"}");
	school = create(E.mon, "{\"unit\":\"2132070301\",\"duration_seconds\":3600,\"by\":\"a\","
	                       "\"comment\":\"b\"}");
	theirs = create(E.other, "{\"duration_seconds\":3600,\"by\":\"a\",\"comment\":\"b\"}");
	global = create(E.admin, "{\"rule\":\"x\",\"duration_seconds\":3600,\"by\":\"a\","
	                         "\"comment\":\"b\"}");
	ended = create(E.mon, "{\"rule\":\"y\",\"duration_seconds\":3600,\"by\":\"a\","
	                      "\"comment\":\"b\"}");
	snprintf(path, sizeof path, "/v1/silences/%ld/expire", ended);
	j = expect("POST", path, E.mon, NULL, 200);
	cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "active")));
	cr_expect(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "expired_at")));
	cJSON_Delete(j);
	/* Again: 200, unchanged. */
	cJSON_Delete(expect("POST", path, E.mon, NULL, 200));
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE expired_at IS NOT NULL"), 1);

	list_ids(E.mon, "", ids, sizeof ids);
	snprintf(expect_ids, sizeof expect_ids, "%ld,%ld", school, mine);
	cr_expect_str_eq(ids, expect_ids, "a monitor lists its subtree, active ones");
	list_ids(E.mon, "?all=1", ids, sizeof ids);
	snprintf(expect_ids, sizeof expect_ids, "%ld,%ld,%ld", ended, school, mine);
	cr_expect_str_eq(ids, expect_ids, "all=1: ended ones too");
	list_ids(E.city, "", ids, sizeof ids);
	snprintf(expect_ids, sizeof expect_ids, "%ld,%ld,%ld", theirs, school, mine);
	cr_expect_str_eq(ids, expect_ids, "a city monitor sees both districts");
	list_ids(E.admin, "?all=true", ids, sizeof ids);
	snprintf(expect_ids, sizeof expect_ids, "%ld,%ld,%ld,%ld,%ld", ended, global, theirs,
	    school, mine);
	cr_expect_str_eq(ids, expect_ids);
	cJSON_Delete(expect("GET", "/v1/silences?all=2", E.mon, NULL, 400));
	cJSON_Delete(expect("GET", "/v1/silences?limit=2", E.mon, NULL, 400));

	/* Another district's monitor: 404, exactly like an unknown id. */
	snprintf(path, sizeof path, "/v1/silences/%ld/expire", mine);
	{
		struct tl_resp a, b;

		call("POST", path, E.other, NULL, &a);
		call("POST", "/v1/silences/999999/expire", E.other, NULL, &b);
		cr_expect_eq(a.status, 404);
		cr_expect_str_eq(a.body, b.body);
		tl_resp_free(&a);
		tl_resp_free(&b);
	}
	snprintf(path, sizeof path, "/v1/silences/%ld/expire", global);
	cJSON_Delete(expect("POST", path, E.mon, NULL, 404));
	cJSON_Delete(expect("POST", "/v1/silences/abc/expire", E.mon, NULL, 404));
	cJSON_Delete(expect("POST", "/v1/silences/99999999999/expire", E.admin, NULL, 404));
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE expired_at IS NOT NULL"), 1);

	/* The city monitor may expire its district's; admin anything. */
	snprintf(path, sizeof path, "/v1/silences/%ld/expire", school);
	cJSON_Delete(expect("POST", path, E.city, NULL, 200));
	snprintf(path, sizeof path, "/v1/silences/%ld/expire", global);
	cJSON_Delete(expect("POST", path, E.admin, NULL, 200));
	cr_expect_eq(count("SELECT count(*) FROM edumon.silence WHERE expired_at IS NOT NULL"), 3);
}
