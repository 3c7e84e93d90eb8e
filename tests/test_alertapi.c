/*
 * test_alertapi.c: the pure half of the alerts API: query strings, reach,
 * timestamps, cursors, path ids, ack bodies and the JSON of alerts and
 * events. The database half is tested in test_it_alerts_api.c.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alertapi.h"

/* city 3207 > districts 320703 (id 3), 320706 (id 4) > schools. */
static const struct {
	int id;
	const char *code;
	enum unit_kind kind;
	int parent;
} units[] = {
    {1, "32", UNIT_PROVINCE, 0},
    {2, "3207", UNIT_CITY, 1},
    {3, "320703", UNIT_DISTRICT, 2},
    {4, "320706", UNIT_DISTRICT, 2},
    {5, "2132070301", UNIT_SCHOOL, 3},
    {6, "3132070601", UNIT_SCHOOL, 4},
};

static struct registry *reg;
static struct catalog *cat;

static void
setup(void)
{
	struct metric m;

	reg = registry_new();
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		struct unit u;

		memset(&u, 0, sizeof u);
		u.id = units[i].id;
		u.code = (char *)units[i].code;
		u.name = (char *)"单位";
		u.kind = units[i].kind;
		u.parent_id = units[i].parent;
		u.active = true;
		registry_add(reg, &u);
	}
	cat = catalog_new();
	memset(&m, 0, sizeof m);
	m.id = 7;
	m.code = (char *)"class_size_max";
	m.name_zh = (char *)"最大班额";
	m.name_en = (char *)"largest class";
	m.unit = (char *)"人";
	m.description = (char *)"";
	m.kind = METRIC_COUNT;
	m.period_kind = PERIOD_TERM;
	catalog_add(cat, &m);
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
}

static void
teardown(void)
{
	registry_free(reg);
	catalog_free(cat);
}

TestSuite(alertapi, .init = setup, .fini = teardown);

static const struct principal monitor_703 = {1, ROLE_MONITOR, 3};
static const struct principal monitor_city = {2, ROLE_MONITOR, 2};
static const struct principal admin = {3, ROLE_ADMIN, 0};

/* Parse query as who; the cause (or NULL) is returned, caller frees. */
static char *
parse(const struct principal *who, const char *query, struct alert_query *q)
{
	struct alert_reach r = {reg, cat, who};
	char *cause = NULL;
	int rc = alert_query_parse(query, &r, q, &cause);

	cr_assert_eq(rc == 0, cause == NULL, "a cause exactly on failure (%s)", query);
	return cause;
}

Test(alertapi, defaults)
{
	struct alert_query q;

	cr_assert_null(parse(&monitor_703, NULL, &q));
	cr_expect_eq(q.scope_unit_id, 3, "a monitor is held to its subtree");
	cr_expect_eq(q.unit_id, 0);
	cr_expect_eq(q.metric_id, 0);
	cr_expect_null(q.state);
	cr_expect_eq(q.severities, 0u);
	cr_expect_eq(q.acked, -1);
	cr_expect_eq(q.limit, ALERT_LIMIT_DEFAULT);
	cr_expect_eq(q.before_id, 0);
	cr_expect_str_empty(q.since);
	cr_expect_str_empty(q.rule);
	cr_expect_str_empty(q.period);
	cr_assert_null(parse(&admin, "", &q));
	cr_expect_eq(q.scope_unit_id, 0, "an admin sees every unit");
}

Test(alertapi, every_filter)
{
	struct alert_query q;
	char cur[ALERT_CURSOR_STR], query[512];

	alert_cursor_encode(42, cur);
	snprintf(query, sizeof query,
	    "state=resolved&severity=warning,critical&district=320703&school=2132070301"
	    "&metric=class_size_max&rule=class_size.primary&period=2025-2026-1"
	    "&since=2026-03-01T08:00:00%%2B08:00&acked=true&limit=1000&cursor=%s",
	    cur);
	cr_assert_null(parse(&monitor_city, query, &q));
	cr_expect_eq(q.scope_unit_id, 3, "district narrows the scope");
	cr_expect_eq(q.unit_id, 5);
	cr_expect_eq(q.metric_id, 7);
	cr_expect_str_eq(q.state, "resolved");
	cr_expect_eq(q.severities, 1u << ALERT_SEV_WARNING | 1u << ALERT_SEV_CRITICAL);
	cr_expect_str_eq(q.rule, "class_size.primary");
	cr_expect_str_eq(q.period, "2025-2026-1");
	cr_expect_str_eq(q.since, "2026-03-01T00:00:00.000000Z");
	cr_expect_eq(q.acked, 1);
	cr_expect_eq(q.limit, 1000);
	cr_expect_eq(q.before_id, 42);
	cr_assert_null(parse(&monitor_city, "unit=320706&acked=false&severity=info", &q));
	cr_expect_eq(q.unit_id, 4);
	cr_expect_eq(q.scope_unit_id, 2);
	cr_expect_eq(q.acked, 0);
	cr_expect_eq(q.severities, 1u << ALERT_SEV_INFO);
}

Test(alertapi, plus_is_a_plus_and_escapes_decode)
{
	struct alert_query q;

	cr_assert_null(parse(&admin, "since=2026-03-01T16:00:00+08:00&st%61te=firing", &q));
	cr_expect_str_eq(q.since, "2026-03-01T08:00:00.000000Z");
	cr_expect_str_eq(q.state, "firing");
}

/* Bad queries: the parameter the message must start with. */
static const struct {
	const char *query;
	const char *names;
} bad[] = {
    {"colour=red", "unknown parameter \"colour\""},
    {"state=open", "state:"},
    {"state=", "state:"},
    {"state", "state:"},
    {"state=firing&state=resolved", "state:"},
    {"severity=fatal", "severity:"},
    {"severity=warning,", "severity:"},
    {"severity=", "severity:"},
    {"district=999999", "district:"},
    {"district=320706", "district:"},
    {"unit=3132070601", "unit:"},
    {"school=nope", "school:"},
    {"unit=2132070301&school=2132070301", "unit:"},
    {"metric=no_such_metric", "metric:"},
    {"rule=Class", "rule:"},
    {"rule=", "rule:"},
    {"period=2025-13", "period:"},
    {"period=2025-2026-3", "period:"},
    {"period=2025-Q01", "period:"},
    {"since=yesterday", "since:"},
    {"since=2026-02-30", "since:"},
    {"since=2026-03-01T25:00:00Z", "since:"},
    {"since=2026-03-01T08:00:00", "since:"},
    {"since=2026-03-01T08:00:00.Z", "since:"},
    {"acked=yes", "acked:"},
    {"limit=0", "limit:"},
    {"limit=1001", "limit:"},
    {"limit=%2010", "limit:"},
    {"limit=ten", "limit:"},
    {"cursor=42", "cursor:"},
    {"cursor=cAAAAAAAAAAA", "cursor:"},
    {"cursor=c_AAAAAAAAAA", "cursor:"},
    {"state=%ZZ", "the query string"},
    {"state=%00", "the query string"},
    {"state=%ff", "the query string"},
};

ParameterizedTestParameters(alertapi, bad_queries)
{
	static size_t idx[ARRAY_LEN(bad)];

	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_LEN(idx));
}

ParameterizedTest(size_t *ip, alertapi, bad_queries)
{
	struct alert_query q;
	char *cause = parse(&monitor_703, bad[*ip].query, &q);

	cr_assert_not_null(cause, "%s is refused", bad[*ip].query);
	cr_expect(strncmp(cause, bad[*ip].names, strlen(bad[*ip].names)) == 0,
	    "%s: the message names the parameter: %s", bad[*ip].query, cause);
	free(cause);
}

Test(alertapi, out_of_reach_reads_like_unknown)
{
	struct alert_query q;
	char *other = parse(&monitor_703, "unit=3132070601", &q);
	char *ghost = parse(&monitor_703, "unit=3132079999", &q);

	cr_assert_not_null(other);
	cr_assert_not_null(ghost);
	cr_expect_str_eq(strstr(other, "\" is"), strstr(ghost, "\" is"),
	    "same words for a code out of reach and one that does not exist");
	free(other);
	free(ghost);
	cr_expect_null(parse(&admin, "unit=3132070601", &q), "admin reaches every unit");
}

/* A long value quoted back is cut on a character boundary: the message
 * (and so the 400's JSON) stays valid UTF-8 (found by test_it_injection). */
Test(alertapi, long_values_quoted_as_utf8)
{
	static const char *const names[] = {"state", "severity", "district", "unit", "metric",
	    "rule", "period", "since", "acked", "limit", "cursor", "%EF%BC%87"};
	char query[1024];
	struct alert_query q;
	struct alert_ack a;
	const char *code;
	size_t off;
	char *cause = NULL;

	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		int n = snprintf(query, sizeof query, "%s=", names[i]);

		for (int k = 0; k < 40; k++)
			n += snprintf(query + n, sizeof query - (size_t)n, "%%EF%%BC%%87");
		cause = parse(&monitor_703, query, &q);
		cr_assert_not_null(cause, "%s", names[i]);
		cr_expect(utf8_valid(cause, strlen(cause)), "%s: %s", names[i], cause);
		free(cause);
	}
	snprintf(query, sizeof query, "{\"");
	for (int k = 0; k < 40; k++)
		strcat(query, "＇");
	strcat(query, "\":\"x\"}");
	cr_assert_eq(alert_ack_parse(query, strlen(query), &a, &code, &off, &cause), -1);
	cr_expect(utf8_valid(cause, strlen(cause)), "%s", cause);
	free(cause);
}

Test(alertapi, time_parse)
{
	int64_t t;
	char out[ALERT_TIME_STR];

	cr_assert_eq(alert_time_parse("2026-03-01T08:00:00Z", &t), 0);
	alert_time_format(t, out);
	cr_expect_str_eq(out, "2026-03-01T08:00:00.000000Z");
	cr_assert_eq(alert_time_parse("2026-03-01t08:00:00.1234567z", &t), 0);
	alert_time_format(t, out);
	cr_expect_str_eq(out, "2026-03-01T08:00:00.123456Z", "beyond microseconds is cut");
	cr_assert_eq(alert_time_parse("2026-03-01T00:30:00-01:30", &t), 0);
	alert_time_format(t, out);
	cr_expect_str_eq(out, "2026-03-01T02:00:00.000000Z");
	cr_assert_eq(alert_time_parse("2026-03-01", &t), 0);
	alert_time_format(t, out);
	cr_expect_str_eq(out, "2026-02-28T16:00:00.000000Z", "a date is local midnight (TZ)");
	cr_assert_eq(alert_time_parse("1969-12-31T23:59:59.5Z", &t), 0);
	cr_expect_eq(t, -500000);
	alert_time_format(t, out);
	cr_expect_str_eq(out, "1969-12-31T23:59:59.500000Z");
	cr_expect_eq(alert_time_parse("2026-3-01", &t), -1);
	cr_expect_eq(alert_time_parse("2026-03-01T08:00Z", &t), -1);
	cr_expect_eq(alert_time_parse("2026-03-01T08:00:60Z", &t), -1);
	cr_expect_eq(alert_time_parse("2026-03-01T08:00:00+0800", &t), -1);
	cr_expect_eq(alert_time_parse("2026-03-01T08:00:00Z ", &t), -1);
	cr_expect_eq(alert_time_parse("3026-03-01", &t), -1);
}

/* Cursor theory: decode(encode(id)) == id over a spread of ids. */
Test(alertapi, cursor_round_trip)
{
	static const int64_t ids[] = {1, 2, 63, 64, 4095, 1000000, 4294967296LL,
	    INT64_MAX - 1, INT64_MAX};

	for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
		char cur[ALERT_CURSOR_STR];
		int64_t back = 0;

		alert_cursor_encode(ids[i], cur);
		cr_expect_eq(strlen(cur), ALERT_CURSOR_STR - 1);
		cr_assert_eq(alert_cursor_decode(cur, &back), 0, "%s decodes", cur);
		cr_expect_eq(back, ids[i]);
	}
	for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
		char cur[ALERT_CURSOR_STR];
		int64_t back = 0;

		alert_cursor_encode((int64_t)v, cur);
		cr_assert_eq(alert_cursor_decode(cur, &back), 0);
		cr_assert_eq((uint64_t)back, v);
	}
}

Test(alertapi, cursor_refuses)
{
	int64_t id;

	cr_expect_eq(alert_cursor_decode("", &id), -1);
	cr_expect_eq(alert_cursor_decode("cAAAAAAAAAAA", &id), -1, "id 0");
	cr_expect_eq(alert_cursor_decode("c8AAAAAAAAAA", &id), -1, "above INT64_MAX");
	cr_expect_eq(alert_cursor_decode("c_AAAAAAAAAA", &id), -1, "above 64 bits");
	cr_expect_eq(alert_cursor_decode("dAAAAAAAAAAB", &id), -1);
	cr_expect_eq(alert_cursor_decode("cAAAAAAAAAB", &id), -1, "short");
	cr_expect_eq(alert_cursor_decode("cAAAAAAAAAAB=", &id), -1, "long");
	cr_expect_eq(alert_cursor_decode("cAAAAAAAAA+B", &id), -1, "not base64url");
}

Test(alertapi, id_parse)
{
	int64_t id;

	cr_assert_eq(alert_id_parse("17", &id), 0);
	cr_expect_eq(id, 17);
	cr_assert_eq(alert_id_parse("9223372036854775807", &id), 0);
	cr_expect_eq(id, INT64_MAX);
	cr_expect_eq(alert_id_parse("0", &id), -1);
	cr_expect_eq(alert_id_parse("017", &id), -1);
	cr_expect_eq(alert_id_parse("-1", &id), -1);
	cr_expect_eq(alert_id_parse("+1", &id), -1);
	cr_expect_eq(alert_id_parse(" 1", &id), -1);
	cr_expect_eq(alert_id_parse("1x", &id), -1);
	cr_expect_eq(alert_id_parse("abc", &id), -1);
	cr_expect_eq(alert_id_parse("9223372036854775808", &id), -1);
	cr_expect_eq(alert_id_parse("", &id), -1);
}

/* Parse an ack body; returns the code on failure, NULL on success. */
static const char *
ack(const char *body, struct alert_ack *a)
{
	const char *code = NULL;
	size_t offset;
	char *cause = NULL;
	int rc = alert_ack_parse(body, strlen(body), a, &code, &offset, &cause);

	cr_assert_eq(rc == 0, cause == NULL, "%s", body);
	free(cause);
	return rc == 0 ? NULL : code;
}

Test(alertapi, ack_bodies)
{
	struct alert_ack a;
	char big[2 * ALERT_ACK_NOTE_MAX * 3 + 64];

	cr_assert_null(ack("", &a));
	cr_expect_null(a.by);
	cr_expect_null(a.note);
	cr_assert_null(ack("{}", &a));
	cr_assert_null(ack("{\"by\":\"张老师\",\"note\":\"已电话核实\"}", &a));
	cr_expect_str_eq(a.by, "张老师");
	cr_expect_str_eq(a.note, "已电话核实");
	alert_ack_clear(&a);
	cr_assert_null(ack("{\"note\":\"\"}", &a));
	cr_expect_null(a.note, "an empty note is no note");

	cr_expect_str_eq(ack("{\"by\":", &a), "malformed_body");
	cr_expect_str_eq(ack("{\"by\":\"a\",\"by\":\"b\"}", &a), "malformed_body");
	cr_expect_str_eq(ack("{\"note\":\"a\\u0000b\"}", &a), "malformed_body");
	cr_expect_str_eq(ack("[]", &a), "bad_body");
	cr_expect_str_eq(ack("\"ok\"", &a), "bad_body");
	cr_expect_str_eq(ack("{\"who\":\"x\"}", &a), "bad_body");
	cr_expect_str_eq(ack("{\"by\":1}", &a), "bad_body");
	cr_expect_str_eq(ack("{\"note\":null}", &a), "bad_body");
	cr_expect_str_eq(ack("{\"by\":\"\"}", &a), "bad_body");

	/* Lengths count characters, not bytes. */
	strcpy(big, "{\"note\":\"");
	for (int i = 0; i < ALERT_ACK_NOTE_MAX; i++)
		strcat(big, "注");
	strcat(big, "\"}");
	cr_assert_null(ack(big, &a), "2000 Chinese characters are fine");
	alert_ack_clear(&a);
	strcpy(big + strlen(big) - 2, "x\"}");
	cr_expect_str_eq(ack(big, &a), "bad_body", "2001 are not");
}

/* An alert row as PostgreSQL prints it. */
static const char *const row[ACOL_COUNT] = {
    [ACOL_ID] = "12",
    [ACOL_FINGERPRINT] = "ab",
    [ACOL_RULE] = "class_size",
    [ACOL_TITLE] = "大班额\"引号\"",
    [ACOL_STATE] = "firing",
    [ACOL_SEVERITY] = "critical",
    [ACOL_UNIT_CODE] = "2132070301",
    [ACOL_UNIT_NAME] = "连云区实验小学",
    [ACOL_UNIT_KIND] = "school",
    [ACOL_DISTRICT_CODE] = "320703",
    [ACOL_DISTRICT_NAME] = "连云区",
    [ACOL_METRIC_CODE] = "class_size_max",
    [ACOL_METRIC_NAME] = "最大班额",
    [ACOL_PERIOD] = "2025-2026-1",
    [ACOL_VALUE] = "0.955",
    [ACOL_OP] = ">=",
    [ACOL_BOUND] = "NaN",
    [ACOL_MESSAGE] = "第一行\n第二行\t完",
    [ACOL_FIRED_AT] = "2026-03-01T08:00:00.000000Z",
    [ACOL_UPDATED_AT] = "2026-03-02T08:00:00.000000Z",
    [ACOL_RESOLVED_AT] = NULL,
    [ACOL_RESOLVED_VALUE] = NULL,
    [ACOL_ACKED_AT] = NULL,
    [ACOL_ACKED_BY] = NULL,
    [ACOL_ACK_NOTE] = NULL,
};

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

Test(alertapi, alert_json)
{
	struct buf b;
	cJSON *j;
	const cJSON *unit, *dist;
	const char *cols[ACOL_COUNT];

	buf_init(&b);
	alert_json(&b, row);
	j = cJSON_Parse(b.data);
	cr_assert_not_null(j, "valid JSON: %s", b.data);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "id")->valuedouble, 12);
	cr_expect_str_eq(jstr(j, "title"), "大班额\"引号\"");
	cr_expect_str_eq(jstr(j, "message"), "第一行\n第二行\t完");
	unit = cJSON_GetObjectItemCaseSensitive(j, "unit");
	cr_expect_str_eq(jstr(unit, "name"), "连云区实验小学");
	cr_expect_str_eq(jstr(unit, "kind"), "school");
	dist = cJSON_GetObjectItemCaseSensitive(j, "district");
	cr_expect_str_eq(jstr(dist, "code"), "320703");
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "value")->valuedouble, 0.955);
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "bound")), "NaN is null");
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "resolved_at")));
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "acked")));
	cr_expect(utf8_valid(b.data, b.len));
	cJSON_Delete(j);

	memcpy(cols, row, sizeof cols);
	cols[ACOL_DISTRICT_CODE] = cols[ACOL_DISTRICT_NAME] = NULL;
	cols[ACOL_ACKED_AT] = "2026-03-03T08:00:00.000000Z";
	cols[ACOL_ACKED_BY] = "token 4";
	buf_reset(&b);
	alert_json(&b, cols);
	j = cJSON_Parse(b.data);
	cr_assert_not_null(j, "%s", b.data);
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "district")));
	cr_expect_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(j, "acked"), "by"), "token 4");
	cr_expect(cJSON_IsNull(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "acked"), "note")));
	cJSON_Delete(j);
	buf_free(&b);
}

Test(alertapi, event_with_alert_json)
{
	static const char *const ev[ECOL_COUNT] = {"3", "2026-03-01T08:00:00.000000Z",
	    "acknowledged", "warning", NULL, NULL, NULL, "张老师: 已核实"};
	struct buf b, a;
	cJSON *j;

	buf_init(&b);
	buf_init(&a);
	alert_event_with_alert_json(&b, ev, row);
	alert_json(&a, row);
	j = cJSON_Parse(b.data);
	cr_assert_not_null(j, "%s", b.data);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "event_id")->valuedouble, 3);
	cr_expect_str_eq(jstr(j, "note"), "张老师: 已核实");
	cr_expect(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "alert")));
	cr_expect_not_null(strstr(b.data, a.data), "the alert object as alert_json renders it");
	cJSON_Delete(j);
	buf_free(&a);
	buf_free(&b);
}

Test(alertapi, event_json)
{
	static const char *const ev[ECOL_COUNT] = {"3", "2026-03-01T08:00:00.000000Z",
	    "acknowledged", "warning", NULL, "-Infinity", NULL, "张老师: 已核实"};
	struct buf b;
	cJSON *j;

	buf_init(&b);
	alert_event_json(&b, ev);
	j = cJSON_Parse(b.data);
	cr_assert_not_null(j, "%s", b.data);
	cr_expect_str_eq(jstr(j, "kind"), "acknowledged");
	cr_expect_str_eq(jstr(j, "note"), "张老师: 已核实");
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "value")));
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "bound")));
	cr_expect(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "submission_id")));
	cJSON_Delete(j);
	buf_free(&b);
}
