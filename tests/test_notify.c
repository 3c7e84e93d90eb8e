/*
 * test_notify.c: every channel's body parsed back and checked field by
 * field (Chinese intact, hostile names escaped), signatures against values
 * computed independently with openssl(1), verification, markdown limits
 * and digests, robot replies, and the retry schedule's properties.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "util.h"

/* 2026-03-02T01:00:00Z, 09:00 in Shanghai: `date -u -d "2026-03-02 01:00:00" +%s`. */
#define T_FIRED 1772413200
/* 2026-03-02T03:30:00Z, 11:30 in Shanghai. */
#define T_RESOLVED 1772422200

static const struct notify_label rule_labels[] = {
    {"team", "安全办"},
    {"severity", "overridden?"}, /* may not override edumon's own label */
};

static struct notify_event
sample(void)
{
	return (struct notify_event){
	    .alert_id = 12,
	    .fingerprint = "9f2c0e5d7a8b6c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
	    .rule_id = "class_size.school",
	    .title = "大班额",
	    .kind = NOTIFY_FIRED,
	    .severity = SEV_CRITICAL,
	    .unit_code = "2132070301",
	    .unit_name = "连云区实验小学",
	    .unit_kind = "school",
	    .district_code = "320703",
	    .district_name = "连云区",
	    .metric_code = "class_size_max",
	    .metric_name = "最大班额",
	    .period = "2025-2026-2",
	    .value = "67",
	    .bound = "66",
	    .op = OP_GE,
	    .message = "连云区实验小学的最大班额为67，达到66（2025-2026-2）",
	    .fired_at = T_FIRED,
	    .labels = rule_labels,
	    .nlabels = ARRAY_LEN(rule_labels),
	    .link = "https://edumon.example.cn/alerts/12",
	};
}

static cJSON *
parse(const char *json)
{
	cJSON *j = cJSON_Parse(json);

	cr_assert_not_null(j, "not JSON: %s", json);
	return j;
}

static cJSON *
get(const cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	cr_assert_not_null(v, "no \"%s\" in %s", key, cJSON_PrintUnformatted(o));
	return v;
}

static const char *
sget(const cJSON *o, const char *key)
{
	cJSON *v = get(o, key);

	cr_assert(cJSON_IsString(v), "\"%s\" is not a string", key);
	return v->valuestring;
}

/* ---- Names ---- */

Test(notify, names_round_trip)
{
	for (int k = 0; k < NOTIFY_KIND_COUNT; k++) {
		enum notify_kind got;

		cr_assert_eq(notify_kind_parse(notify_kind_name(k), &got), 0);
		cr_expect_eq(got, k);
	}
	for (int c = 0; c < NOTIFY_CH_COUNT; c++) {
		enum notify_channel got;

		cr_assert_eq(notify_channel_parse(notify_channel_name(c), &got), 0);
		cr_expect_eq(got, c);
	}
	enum notify_kind k;
	cr_expect_eq(notify_kind_parse("acknowledged", &k), -1);
	cr_expect_str_eq(notify_kind_name_zh(NOTIFY_RESOLVED), "恢复");
}

Test(notify, rfc3339)
{
	char t[32];

	cr_expect_str_eq(notify_rfc3339(0, t, sizeof t), "1970-01-01T00:00:00Z");
	cr_expect_str_eq(notify_rfc3339(784111777, t, sizeof t), "1994-11-06T08:49:37Z");
	cr_expect_str_eq(notify_rfc3339(T_FIRED, t, sizeof t), "2026-03-02T01:00:00Z");
	cr_expect_str_eq(notify_rfc3339(-1, t, sizeof t), "1969-12-31T23:59:59Z");
}

/* ---- Generic webhook ---- */

Test(notify, webhook_body_fields)
{
	struct notify_event e = sample();
	char *body;
	cJSON *j, *alerts, *a, *labels, *ann;

	e.unit_name = "连云区\"实验\"小学\n(东校区)\\";
	body = notify_webhook_body(&e, 1, "district-320703", "{}:{channel=\"7\"}",
	    "https://edumon.example.cn");
	j = parse(body);
	cr_expect_str_eq(sget(j, "version"), "4");
	cr_expect_str_eq(sget(j, "groupKey"), "{}:{channel=\"7\"}");
	cr_expect_eq(get(j, "truncatedAlerts")->valueint, 0);
	cr_expect_str_eq(sget(j, "status"), "firing");
	cr_expect_str_eq(sget(j, "receiver"), "district-320703");
	cr_expect_str_eq(sget(j, "externalURL"), "https://edumon.example.cn");
	cr_expect(cJSON_IsObject(get(j, "groupLabels")));
	cr_expect_eq(cJSON_GetArraySize(get(j, "groupLabels")), 0);
	/* One alert: everything is common. */
	cr_expect_str_eq(sget(get(j, "commonLabels"), "unit"), "2132070301");
	cr_expect_str_eq(sget(get(j, "commonAnnotations"), "summary"), "大班额");

	alerts = get(j, "alerts");
	cr_assert_eq(cJSON_GetArraySize(alerts), 1);
	a = cJSON_GetArrayItem(alerts, 0);
	cr_expect_str_eq(sget(a, "status"), "firing");
	labels = get(a, "labels");
	cr_expect_str_eq(sget(labels, "alertname"), "class_size.school");
	cr_expect_str_eq(sget(labels, "severity"), "critical");
	cr_expect_str_eq(sget(labels, "unit"), "2132070301");
	cr_expect_str_eq(sget(labels, "district"), "320703");
	cr_expect_str_eq(sget(labels, "metric"), "class_size_max");
	cr_expect_str_eq(sget(labels, "period"), "2025-2026-2");
	cr_expect_str_eq(sget(labels, "team"), "安全办");
	cr_expect_eq(cJSON_GetArraySize(labels), 7, "a rule label overrode a built-in one");
	ann = get(a, "annotations");
	cr_expect_str_eq(sget(ann, "summary"), "大班额");
	cr_expect_str_eq(sget(ann, "description"), e.message);
	cr_expect_str_eq(sget(ann, "value"), "67");
	cr_expect_str_eq(sget(ann, "bound"), "66");
	cr_expect_str_eq(sget(ann, "op"), ">=");
	cr_expect_str_eq(sget(ann, "event"), "fired");
	cr_expect_str_eq(sget(ann, "unit_name"), "连云区\"实验\"小学\n(东校区)\\");
	cr_expect_str_eq(sget(ann, "district_name"), "连云区");
	cr_expect_str_eq(sget(ann, "metric_name"), "最大班额");
	cr_expect_str_eq(sget(a, "startsAt"), "2026-03-02T01:00:00Z");
	cr_expect_str_eq(sget(a, "endsAt"), "0001-01-01T00:00:00Z");
	cr_expect_str_eq(sget(a, "generatorURL"), "https://edumon.example.cn/alerts/12");
	cr_expect_str_eq(sget(a, "fingerprint"), e.fingerprint);
	cJSON_Delete(j);
	free(body);
}

Test(notify, webhook_group_status_and_common_labels)
{
	struct notify_event ev[2] = {sample(), sample()};
	char *body;
	cJSON *j, *common, *a1;

	ev[1].unit_code = "2132070302";
	ev[1].unit_name = "连云区第二小学";
	ev[1].message = "连云区第二小学的最大班额为60，达到55（2025-2026-2）";
	ev[1].kind = NOTIFY_RESOLVED;
	ev[1].resolved_at = T_RESOLVED;
	body = notify_webhook_body(ev, 2, "r", "k", NULL);
	j = parse(body);
	cr_expect_str_eq(sget(j, "status"), "firing", "one alert still fires");
	cr_expect_str_eq(sget(j, "externalURL"), "");
	common = get(j, "commonLabels");
	cr_expect_str_eq(sget(common, "alertname"), "class_size.school");
	cr_expect_str_eq(sget(common, "district"), "320703");
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(common, "unit"));
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(get(j, "commonAnnotations"), "event"));
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(get(j, "commonAnnotations"), "description"));
	a1 = cJSON_GetArrayItem(get(j, "alerts"), 1);
	cr_expect_str_eq(sget(a1, "status"), "resolved");
	cr_expect_str_eq(sget(a1, "endsAt"), "2026-03-02T03:30:00Z");
	cJSON_Delete(j);
	free(body);

	ev[0].kind = NOTIFY_RESOLVED;
	ev[0].resolved_at = T_RESOLVED;
	body = notify_webhook_body(ev, 2, "r", "k", NULL);
	j = parse(body);
	cr_expect_str_eq(sget(j, "status"), "resolved");
	cJSON_Delete(j);
	free(body);
}

Test(notify, webhook_leaves_out_empty_labels_and_repairs_utf8)
{
	struct notify_event e = sample();
	char *body;
	cJSON *j, *a;

	e.district_code = "";
	e.district_name = NULL;
	e.unit_name = "坏\xff\xfe字节\xe8\xbf";
	e.nlabels = 0;
	body = notify_webhook_body(&e, 1, NULL, NULL, NULL);
	cr_assert(utf8_valid(body, strlen(body)));
	j = parse(body);
	a = cJSON_GetArrayItem(get(j, "alerts"), 0);
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(get(a, "labels"), "district"));
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(get(a, "annotations"), "district_name"));
	cr_expect_str_eq(sget(get(a, "annotations"), "unit_name"),
	    "坏\xef\xbf\xbd\xef\xbf\xbd字节\xef\xbf\xbd\xef\xbf\xbd");
	cJSON_Delete(j);
	free(body);
}

/* ---- Signing ---- */

Test(notify, webhook_signature_matches_openssl)
{
	char sig[NOTIFY_SIGNATURE_LEN + 1];
	const char *cn = "{\"summary\":\"大班额\"}";

	/* printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec' */
	notify_webhook_signature("whsec", 1700000000, "{\"a\":1}", 7, sig);
	cr_expect_str_eq(sig,
	    "sha256=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032");
	/* printf '1772413200.{"summary":"大班额"}' | openssl dgst -sha256 -hmac 's3cr3t' */
	notify_webhook_signature("s3cr3t", T_FIRED, cn, strlen(cn), sig);
	cr_expect_str_eq(sig,
	    "sha256=7ece9e26ed9b067d13827b6680e9a4017ce55ddee0f892a3e1bca2a0600cafd7");
}

Test(notify, webhook_headers)
{
	struct notify_headers h;
	char *cause = NULL;
	const char *body = "{\"a\":1}";

	cr_assert_eq(notify_webhook_headers("whsec", 1700000000,
			 "0b7f0c4e-5a7e-4c1e-9d0e-1a2b3c4d5e6f", body, 7, &h, &cause), 0);
	cr_assert_eq(h.n, 4);
	cr_expect_str_eq(h.h[0].name, "Content-Type");
	cr_expect_str_eq(h.h[0].value, "application/json");
	cr_expect_str_eq(h.h[1].name, "X-Edumon-Timestamp");
	cr_expect_str_eq(h.h[1].value, "1700000000");
	cr_expect_str_eq(h.h[2].name, "X-Edumon-Signature");
	cr_expect_str_eq(h.h[2].value,
	    "sha256=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032");
	cr_expect_str_eq(h.h[3].name, "X-Edumon-Delivery");
	cr_expect_str_eq(h.h[3].value, "0b7f0c4e-5a7e-4c1e-9d0e-1a2b3c4d5e6f");

	/* A delivery id that would split the header line. */
	cr_expect_eq(notify_webhook_headers("s", 1, "id\r\nX-Evil: 1", body, 7, &h, &cause), -1);
	cr_assert_not_null(cause);
	cr_expect(strstr(cause, "delivery id") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	cr_expect_eq(notify_webhook_headers("s", 1, "", body, 7, &h, &cause), -1);
	free(cause);
}

Test(notify, webhook_verify)
{
	const char *body = "{\"alerts\":[{\"status\":\"firing\"}]}";
	size_t len = strlen(body);
	char sig[NOTIFY_SIGNATURE_LEN + 1], upper[NOTIFY_SIGNATURE_LEN + 1];
	const int64_t now = T_FIRED, tol = 300;

	notify_webhook_signature("k3y", now - 10, body, len, sig);
	cr_expect_eq(notify_webhook_verify("k3y", "1772413190", sig, body, len, now, tol),
	    NOTIFY_VERIFY_OK);
	/* Hex digits in either case. */
	for (size_t i = 0; i <= NOTIFY_SIGNATURE_LEN; i++)
		upper[i] = i >= 7 && sig[i] >= 'a' && sig[i] <= 'f' ? (char)(sig[i] - 32) : sig[i];
	cr_expect_eq(notify_webhook_verify("k3y", "1772413190", upper, body, len, now, tol),
	    NOTIFY_VERIFY_OK);
	/* Tampered body, wrong secret, another timestamp under the same signature. */
	cr_expect_eq(notify_webhook_verify("k3y", "1772413190", sig,
			 "{\"alerts\":[{\"status\":\"resolved\"}]}", len + 1, now, tol),
	    NOTIFY_VERIFY_BAD_SIGNATURE);
	cr_expect_eq(notify_webhook_verify("k3y", "1772413190", sig, body, len - 1, now, tol),
	    NOTIFY_VERIFY_BAD_SIGNATURE);
	cr_expect_eq(notify_webhook_verify("key", "1772413190", sig, body, len, now, tol),
	    NOTIFY_VERIFY_BAD_SIGNATURE);
	cr_expect_eq(notify_webhook_verify("k3y", "1772413191", sig, body, len, now, tol),
	    NOTIFY_VERIFY_BAD_SIGNATURE);
	/* Stale either side, at the tolerance exactly accepted. */
	notify_webhook_signature("k3y", now - tol - 1, body, len, sig);
	cr_expect_eq(notify_webhook_verify("k3y", "1772412899", sig, body, len, now, tol),
	    NOTIFY_VERIFY_STALE);
	notify_webhook_signature("k3y", now - tol, body, len, sig);
	cr_expect_eq(notify_webhook_verify("k3y", "1772412900", sig, body, len, now, tol),
	    NOTIFY_VERIFY_OK);
	notify_webhook_signature("k3y", now + tol + 1, body, len, sig);
	cr_expect_eq(notify_webhook_verify("k3y", "1772413501", sig, body, len, now, tol),
	    NOTIFY_VERIFY_STALE);
	/* Malformed headers. */
	cr_expect_eq(notify_webhook_verify("k3y", NULL, sig, body, len, now, tol),
	    NOTIFY_VERIFY_MALFORMED);
	cr_expect_eq(notify_webhook_verify("k3y", "1772413501", NULL, body, len, now, tol),
	    NOTIFY_VERIFY_MALFORMED);
	cr_expect_eq(notify_webhook_verify("k3y", "17724135O1", sig, body, len, now, tol),
	    NOTIFY_VERIFY_MALFORMED);
	cr_expect_eq(notify_webhook_verify("k3y", "1772413501", sig + 7, body, len, now, tol),
	    NOTIFY_VERIFY_MALFORMED);
	sig[NOTIFY_SIGNATURE_LEN - 1] = 'g';
	cr_expect_eq(notify_webhook_verify("k3y", "1772413501", sig, body, len, now, tol),
	    NOTIFY_VERIFY_MALFORMED);
	sig[NOTIFY_SIGNATURE_LEN - 1] = '\0';
	cr_expect_eq(notify_webhook_verify("k3y", "1772413501", sig, body, len, now, tol),
	    NOTIFY_VERIFY_MALFORMED);
	cr_expect_str_eq(notify_verdict_name(NOTIFY_VERIFY_STALE), "stale");
}

Test(notify, dingtalk_sign_matches_independent_values)
{
	char sign[NOTIFY_DINGTALK_SIGN_MAX + 1];
	char *url;

	/*
	 * The test vector of the dingding crate (src/signature.rs), confirmed with
	 * printf '1700000000000\nsecret' | openssl dgst -sha256 -hmac secret -binary | base64
	 * -> OuzzJR5+xZ4/EYwqtNt6sMYZQMTa/HEGvc9miJe7XzY=, then percent-encoded.
	 */
	notify_dingtalk_sign("secret", 1700000000000LL, sign);
	cr_expect_str_eq(sign, "OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D");
	/*
	 * S=SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc
	 * printf "1700000000000\n$S" | openssl dgst -sha256 -hmac "$S" -binary | base64
	 * -> 6O5F/tvvUmbKr2ymOJ0PWyrKAGbwBxjupTxbQ4wDE5M=
	 */
	notify_dingtalk_sign("SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc",
	    1700000000000LL, sign);
	cr_expect_str_eq(sign, "6O5F%2FtvvUmbKr2ymOJ0PWyrKAGbwBxjupTxbQ4wDE5M%3D");

	url = notify_dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc",
	    "secret", 1700000000000LL);
	cr_expect_str_eq(url, "https://oapi.dingtalk.com/robot/send?access_token=abc"
			      "&timestamp=1700000000000"
			      "&sign=OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D");
	free(url);
	url = notify_dingtalk_url("http://127.0.0.1:9/robot", "secret", 1700000000000LL);
	cr_expect_str_eq(url, "http://127.0.0.1:9/robot?timestamp=1700000000000"
			      "&sign=OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D");
	free(url);
	url = notify_dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "", 1);
	cr_expect_str_eq(url, "https://oapi.dingtalk.com/robot/send?access_token=abc");
	free(url);
}

/* ---- Alertmanager ---- */

Test(notify, alertmanager_body)
{
	struct notify_event ev[3] = {sample(), sample(), sample()};
	char *body;
	cJSON *j, *a;
	const int64_t now = T_RESOLVED + 60;

	ev[1].kind = NOTIFY_RESOLVED;
	ev[1].resolved_at = T_RESOLVED;
	ev[2].kind = NOTIFY_RESOLVED;
	ev[2].link = NULL;
	ev[2].unit_name = "东海县\"石榴\"中学";
	body = notify_alertmanager_body(ev, 3, now, 3600);
	j = parse(body);
	cr_assert(cJSON_IsArray(j));
	cr_assert_eq(cJSON_GetArraySize(j), 3);
	a = cJSON_GetArrayItem(j, 0);
	cr_expect_str_eq(sget(get(a, "labels"), "alertname"), "class_size.school");
	cr_expect_str_eq(sget(get(a, "annotations"), "summary"), "大班额");
	cr_expect_str_eq(sget(a, "startsAt"), "2026-03-02T01:00:00Z");
	cr_expect_str_eq(sget(a, "endsAt"), "2026-03-02T04:31:00Z", "now + horizon");
	cr_expect_str_eq(sget(a, "generatorURL"), "https://edumon.example.cn/alerts/12");
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(a, "status"));
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(a, "fingerprint"));
	a = cJSON_GetArrayItem(j, 1);
	cr_expect_str_eq(sget(a, "endsAt"), "2026-03-02T03:30:00Z", "resolved time");
	a = cJSON_GetArrayItem(j, 2);
	cr_expect_str_eq(sget(a, "endsAt"), "2026-03-02T03:31:00Z", "now without resolved_at");
	cr_expect_null(cJSON_GetObjectItemCaseSensitive(a, "generatorURL"));
	cr_expect_str_eq(sget(get(a, "annotations"), "unit_name"), "东海县\"石榴\"中学");
	cJSON_Delete(j);
	free(body);
}

/* ---- Robots ---- */

/* The markdown of a WeCom body, checked to be the documented shape. */
static char *
wecom_content(const char *body)
{
	cJSON *j = parse(body), *md;
	char *content;

	cr_expect_str_eq(sget(j, "msgtype"), "markdown");
	md = get(j, "markdown");
	cr_expect_eq(cJSON_GetArraySize(md), 1);
	content = xstrdup(sget(md, "content"));
	cJSON_Delete(j);
	cr_expect_leq(strlen(content), NOTIFY_WECOM_MAX_BYTES);
	cr_expect(utf8_valid(content, strlen(content)));
	return content;
}

Test(notify, wecom_detail)
{
	struct notify_event e = sample();
	char *body = notify_wecom_body(&e, 1, NOTIFY_DIGEST_UNITS);
	char *md = wecom_content(body);

	cr_expect(strstr(md, "### 教育监测告警触发：大班额\n") == md, "%s", md);
	cr_expect(strstr(md, "> 级别：**<font color=\"warning\">严重</font>**\n") != NULL, "%s", md);
	cr_expect(strstr(md, "> 单位：连云区实验小学（连云区）\n") != NULL, "%s", md);
	cr_expect(strstr(md, "> 指标：最大班额\n") != NULL, "%s", md);
	cr_expect(strstr(md, "> 数值：**67**（达到66）\n") != NULL, "%s", md);
	cr_expect(strstr(md, "> 周期：2025-2026-2\n") != NULL, "%s", md);
	cr_expect(strstr(md, "> 开始：2026-03-02 09:00\n") != NULL, "Shanghai time: %s", md);
	cr_expect(strstr(md, "> 说明：连云区实验小学的最大班额为67，达到66（2025-2026-2）\n") != NULL,
	    "%s", md);
	cr_expect(strstr(md, "[查看详情](https://edumon.example.cn/alerts/12)") != NULL, "%s", md);
	free(md);
	free(body);
}

Test(notify, wecom_resolved_is_green_and_timed)
{
	struct notify_event e = sample();
	char *body, *md;

	e.kind = NOTIFY_RESOLVED;
	e.resolved_at = T_RESOLVED;
	e.value = "54";
	e.severity = SEV_WARNING;
	body = notify_wecom_body(&e, 1, NOTIFY_DIGEST_UNITS);
	md = wecom_content(body);
	cr_expect(strstr(md, "### 教育监测告警恢复：大班额") == md, "%s", md);
	cr_expect(strstr(md, "> 级别：<font color=\"info\">已恢复</font>") != NULL, "%s", md);
	cr_expect(strstr(md, "> 数值：54（告警条件：达到66）") != NULL, "%s", md);
	cr_expect(strstr(md, "> 恢复：2026-03-02 11:30") != NULL, "%s", md);
	free(md);
	free(body);
}

Test(notify, markdown_escapes_hostile_text)
{
	struct notify_event e = sample();
	char *body, *md, *line;

	e.unit_name = "<font color=\"info\">假</font>**粗**[点我](javascript:alert(1))\n# 标题";
	e.message = "第一行\n> 伪造引用 `code` _斜_ ~删~ a|b &amp;";
	e.link = "javascript:alert(1)";
	body = notify_wecom_body(&e, 1, NOTIFY_DIGEST_UNITS);
	md = wecom_content(body);
	cr_expect(strstr(md, "<font color=\"info\">假") == NULL, "%s", md);
	cr_expect(strstr(md, "](javascript") == NULL, "%s", md);
	cr_expect(strstr(md, "查看详情") == NULL, "a javascript: link is left out: %s", md);
	line = strstr(md, "> 单位：");
	cr_assert_not_null(line);
	cr_expect(strncmp(line,
		      "> 单位：＜font color=\"info\"＞假＜/font＞＊＊粗＊＊［点我］(javascript:alert(1)) "
		      "＃ 标题（连云区）\n",
		      strlen("> 单位：＜font color=\"info\"＞假＜/font＞＊＊粗＊＊［点我］"
			     "(javascript:alert(1)) ＃ 标题（连云区）\n")) == 0,
	    "%s", line);
	cr_expect(strstr(md, "> 说明：第一行 ＞ 伪造引用 ｀code｀ ＿斜＿ ～删～ a｜b ＆amp;") != NULL,
	    "%s", md);
	/* No line but the heading starts with anything other than "> " or "[". */
	for (char *p = strchr(md, '\n'); p != NULL; p = strchr(p + 1, '\n'))
		cr_expect(p[1] == '>' || p[1] == '[', "line starts with %.10s", p + 1);
	free(md);
	free(body);
}

Test(notify, dingtalk_detail)
{
	struct notify_event e = sample();
	char *body = notify_dingtalk_body(&e, 1, NOTIFY_DIGEST_UNITS);
	cJSON *j = parse(body), *md;
	const char *text;

	cr_expect_str_eq(sget(j, "msgtype"), "markdown");
	md = get(j, "markdown");
	cr_expect_str_eq(sget(md, "title"), "【严重】大班额 连云区实验小学");
	text = sget(md, "text");
	cr_expect(strstr(text, "<font") == NULL, "%s", text);
	cr_expect(strstr(text, "> 级别：**【严重】**\n\n") != NULL, "%s", text);
	cr_expect(strstr(text, "> 单位：连云区实验小学（连云区）\n\n") != NULL, "%s", text);
	cr_expect(strstr(text, "告警") != NULL, "keyword for robots with keyword security");
	cr_expect_leq(strlen(text), NOTIFY_DINGTALK_MAX_BYTES);
	cJSON_Delete(j);
	free(body);
}

Test(notify, long_message_cut_at_character_boundary)
{
	struct notify_event e = sample();
	struct buf msg;
	char *md;

	buf_init(&msg);
	for (int i = 0; i < 2000; i++)
		buf_puts(&msg, i % 7 == 0 ? "a" : "缺");
	e.message = msg.data;
	md = notify_markdown(&e, 1, NOTIFY_DIGEST_UNITS, NOTIFY_WECOM_MAX_BYTES, 0);
	cr_expect(utf8_valid(md, strlen(md)));
	cr_expect(strstr(md, "缺…\n") != NULL || strstr(md, "a…\n") != NULL, "%s", md);
	cr_expect(strstr(md, "[查看详情]") != NULL, "the link survives a long message");
	free(md);
	/* Every budget: never over, always whole characters. */
	for (size_t max = 256; max <= 1400; max += 7) {
		md = notify_markdown(&e, 1, NOTIFY_DIGEST_UNITS, max, max % 2);
		cr_assert_leq(strlen(md), max);
		cr_assert(utf8_valid(md, strlen(md)), "max %zu", max);
		free(md);
	}
	buf_free(&msg);
}

/* The unit name of a detail message, between "> 单位：" and the line's end. */
static char *
unit_line_name(const struct notify_event *e)
{
	char *md = notify_markdown(e, 1, 5, 4096, 0);
	char *p = strstr(md, "> 单位："), *end, *name;

	cr_assert_not_null(p, "%s", md);
	p += strlen("> 单位：");
	end = strchr(p, '\n');
	name = xstrndup(p, (size_t)(end - p));
	free(md);
	return name;
}

Test(notify, names_cut_at_the_documented_cap)
{
	struct notify_event e = sample();
	struct buf name;
	char *got;

	e.district_name = NULL;
	buf_init(&name);
	for (int i = 0; i < NOTIFY_MD_NAME_MAX / 3; i++)
		buf_puts(&name, "校");
	e.unit_name = name.data;
	got = unit_line_name(&e);
	cr_expect_str_eq(got, name.data, "exactly the cap: kept whole");
	free(got);
	buf_puts(&name, "校");
	e.unit_name = name.data;
	got = unit_line_name(&e);
	cr_expect_eq(strlen(got), NOTIFY_MD_NAME_MAX);
	cr_expect_eq(strncmp(got, name.data, NOTIFY_MD_NAME_MAX - 3), 0);
	cr_expect_str_eq(got + NOTIFY_MD_NAME_MAX - 3, "…");
	free(got);
	buf_reset(&name);
	buf_puts(&name, "ab");
	for (int i = 0; i < NOTIFY_MD_NAME_MAX / 3; i++)
		buf_puts(&name, "校");
	e.unit_name = name.data;
	got = unit_line_name(&e);
	cr_expect_leq(strlen(got), NOTIFY_MD_NAME_MAX);
	cr_expect(utf8_valid(got, strlen(got)), "cut inside a character: %s", got);
	cr_expect_eq(strlen(got), 2 + 3 * (NOTIFY_MD_NAME_MAX / 3 - 2) + 3, "%s", got);
	free(got);
	buf_free(&name);
}

/* n events of one rule (distinct_rules false) or of n rules. */
static struct notify_event *
many(size_t n, bool distinct_rules, struct buf *names)
{
	struct notify_event *ev = xcalloc(n, sizeof *ev);
	char **strs = xcalloc(3 * n, sizeof *strs);

	for (size_t i = 0; i < n; i++) {
		ev[i] = sample();
		strs[3 * i] = xasprintf("连云区实验小学%zu", i);
		strs[3 * i + 1] = xasprintf("2132%06zu", i);
		strs[3 * i + 2] = xasprintf("missing.rule%03zu", distinct_rules ? i : 0);
		ev[i].unit_name = strs[3 * i];
		ev[i].unit_code = strs[3 * i + 1];
		ev[i].rule_id = strs[3 * i + 2];
		ev[i].title = distinct_rules ? "一个相当长的规则标题用来撑满消息的每一行" : "未按时报送";
		ev[i].metric_name = "因病缺课率";
		ev[i].period = "2026-03-02";
		ev[i].severity = i % 10 == 0 ? SEV_CRITICAL : SEV_WARNING;
		ev[i].kind = NOTIFY_FIRED;
	}
	buf_append(names, &strs, sizeof strs);
	return ev;
}

static void
many_free(struct notify_event *ev, size_t n, struct buf *names)
{
	char **strs;

	memcpy(&strs, names->data, sizeof strs);
	for (size_t i = 0; i < 3 * n; i++)
		free(strs[i]);
	free(strs);
	buf_free(names);
	free(ev);
}

Test(notify, digest_of_two)
{
	struct notify_event ev[2] = {sample(), sample()};
	char *body, *md;

	ev[1].kind = NOTIFY_RESOLVED;
	ev[1].resolved_at = T_RESOLVED;
	ev[1].unit_name = "海州区新海小学";
	body = notify_wecom_body(ev, 2, NOTIFY_DIGEST_UNITS);
	md = wecom_content(body);
	cr_expect(strstr(md, "### 教育监测告警汇总（共2条）\n") == md, "%s", md);
	cr_expect(strstr(md, "> 触发 1 · 恢复 1\n") != NULL, "%s", md);
	cr_expect(strstr(md, "> 未恢复：严重 1\n") != NULL, "%s", md);
	cr_expect(strstr(md,
		      "- **<font color=\"warning\">严重</font>** 触发 **大班额**（最大班额，2025-2026-2）："
		      "连云区实验小学\n") != NULL,
	    "%s", md);
	cr_expect(strstr(md,
		      "- <font color=\"info\">已恢复</font> **大班额**（最大班额，2025-2026-2）："
		      "海州区新海小学\n") != NULL,
	    "%s", md);
	cr_expect(strstr(md, "[查看详情](https://edumon.example.cn/alerts/12)") != NULL, "%s", md);
	cr_expect(strstr(md, "未显示") == NULL, "%s", md);
	free(md);
	free(body);
}

Test(notify, reminders_and_escalations_read_as_firing)
{
	struct notify_event ev[2] = {sample(), sample()};
	char *md, *body;
	cJSON *j;

	ev[0].kind = NOTIFY_REMINDER;
	ev[1].kind = NOTIFY_ESCALATED;
	ev[1].unit_name = "海州区新海小学";
	md = notify_markdown(&ev[0], 1, 5, 4096, 0);
	cr_expect(strstr(md, "### 教育监测告警提醒：大班额\n") == md, "%s", md);
	cr_expect(strstr(md, "> 数值：**67**") != NULL, "%s", md);
	free(md);
	md = notify_markdown(ev, 2, 5, 4096, 0);
	cr_expect(strstr(md, "> 升级 1 · 提醒 1\n") != NULL, "%s", md);
	free(md);
	body = notify_webhook_body(ev, 2, "r", "k", NULL);
	j = parse(body);
	cr_expect_str_eq(sget(j, "status"), "firing");
	cr_expect_str_eq(sget(cJSON_GetArrayItem(get(j, "alerts"), 0), "status"), "firing");
	cr_expect_str_eq(sget(get(cJSON_GetArrayItem(get(j, "alerts"), 0), "annotations"), "event"),
	    "reminder");
	cJSON_Delete(j);
	free(body);
	body = notify_alertmanager_body(&ev[0], 1, T_FIRED, 60);
	j = parse(body);
	cr_expect_str_eq(sget(cJSON_GetArrayItem(j, 0), "endsAt"), "2026-03-02T01:01:00Z");
	cJSON_Delete(j);
	free(body);
}

Test(notify, digest_of_one_is_the_detail)
{
	struct notify_event e = sample();
	char *one = notify_markdown(&e, 1, 5, 4096, 0);

	cr_expect(strstr(one, "汇总") == NULL, "%s", one);
	free(one);
}

Test(notify, digest_of_300_late_schools_is_one_line)
{
	struct buf names;
	struct notify_event *ev;
	char *body, *md;
	cJSON *j;

	buf_init(&names);
	ev = many(300, false, &names);
	body = notify_wecom_body(ev, 300, 3);
	md = wecom_content(body);
	cr_expect(strstr(md, "### 教育监测告警汇总（共300条）\n") == md, "%s", md);
	cr_expect(strstr(md, "> 触发 300\n") != NULL, "%s", md);
	cr_expect(strstr(md, "> 未恢复：严重 30 · 预警 270\n") != NULL, "%s", md);
	cr_expect(strstr(md, "**未按时报送**（因病缺课率，2026-03-02）："
			     "连云区实验小学0、连云区实验小学1、连云区实验小学2等300所学校") != NULL,
	    "%s", md);
	free(md);
	free(body);

	body = notify_dingtalk_body(ev, 300, 3);
	j = parse(body);
	cr_expect_str_eq(sget(get(j, "markdown"), "title"), "教育监测告警汇总 300条");
	cr_expect(strstr(sget(get(j, "markdown"), "text"), "等300所学校") != NULL);
	cJSON_Delete(j);
	free(body);
	many_free(ev, 300, &names);
}

Test(notify, digest_of_300_rules_is_cut_with_a_count)
{
	struct buf names;
	struct notify_event *ev;
	char *body, *md, *note;
	size_t shown = 0, omitted = 0;

	buf_init(&names);
	ev = many(300, true, &names);
	for (int dingtalk = 0; dingtalk <= 1; dingtalk++) {
		md = notify_markdown(ev, 300, 5, 4096, dingtalk);
		cr_assert_leq(strlen(md), 4096);
		cr_assert(utf8_valid(md, strlen(md)));
		note = strstr(md, "…等");
		cr_assert_not_null(note, "%s", md);
		cr_expect_eq(sscanf(note, "…等%zu条未显示", &omitted), 1);
		cr_expect_str_eq(note + strlen("…等") + (size_t)snprintf(NULL, 0, "%zu", omitted),
		    "条未显示");
		shown = 0;
		for (char *p = strstr(md, "- "); p != NULL; p = strstr(p + 1, "\n- "))
			shown++;
		cr_expect_eq(shown + omitted, 300, "%zu shown + %zu omitted", shown, omitted);
		cr_expect_gt(shown, 5);
		/* Critical rules come first. */
		cr_expect(strstr(md, "严重</font>** 触发 **一个相当长的规则标题") != NULL ||
			      strstr(md, "**【严重】** 触发") != NULL,
		    "%s", md);
		free(md);
	}
	body = notify_wecom_body(ev, 300, 5);
	md = wecom_content(body);
	free(md);
	free(body);
	many_free(ev, 300, &names);
}

Test(notify, digest_counting_word_follows_unit_kind)
{
	struct buf names;
	struct notify_event *ev;
	char *md;

	buf_init(&names);
	ev = many(4, false, &names);
	for (size_t i = 0; i < 4; i++)
		ev[i].unit_kind = "district";
	md = notify_markdown(ev, 4, 2, 4096, 0);
	cr_expect(strstr(md, "等4个区县") != NULL, "%s", md);
	free(md);
	ev[3].unit_kind = "school";
	md = notify_markdown(ev, 4, 2, 4096, 0);
	cr_expect(strstr(md, "等4个单位") != NULL, "%s", md);
	free(md);
	md = notify_markdown(ev, 4, 4, 4096, 0);
	cr_expect(strstr(md, "等4") == NULL, "all four named: %s", md);
	free(md);
	many_free(ev, 4, &names);
}

/* ---- Replies ---- */

struct reply_case {
	enum notify_channel ch;
	const char *body;
	enum notify_outcome want;
	const char *in_message;
};

static const struct reply_case reply_cases[] = {
    {NOTIFY_CH_WECOM, "{\"errcode\":0,\"errmsg\":\"ok\"}", NOTIFY_OK, "errcode 0"},
    {NOTIFY_CH_WECOM, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}",
	NOTIFY_RETRY, "api freq out of limit"},
    {NOTIFY_CH_WECOM, "{\"errcode\":-1,\"errmsg\":\"system busy\"}", NOTIFY_RETRY, "-1"},
    {NOTIFY_CH_WECOM, "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}", NOTIFY_FAIL,
	"93000"},
    {NOTIFY_CH_WECOM, "{\"errcode\":40058,\"errmsg\":\"content exceed max length\"}",
	NOTIFY_FAIL, "40058"},
    {NOTIFY_CH_DINGTALK, "{\"errcode\":0,\"errmsg\":\"ok\"}", NOTIFY_OK, "ok"},
    {NOTIFY_CH_DINGTALK, "{\"errcode\":130101,\"errmsg\":\"send too fast\"}", NOTIFY_RETRY,
	"throttled"},
    {NOTIFY_CH_DINGTALK, "{\"errcode\":310000,\"errmsg\":\"sign not match\"}", NOTIFY_FAIL,
	"sign not match"},
    {NOTIFY_CH_DINGTALK, "{\"errcode\":400013}", NOTIFY_FAIL, "400013"},
    {NOTIFY_CH_DINGTALK, "<html>gateway</html>", NOTIFY_RETRY, "not a JSON object"},
    {NOTIFY_CH_DINGTALK, "{\"errmsg\":\"ok\"}", NOTIFY_RETRY, "errcode"},
    {NOTIFY_CH_WECOM, "{\"errcode\":\"0\"}", NOTIFY_RETRY, "errcode"},
    {NOTIFY_CH_WECOM, "[0]", NOTIFY_RETRY, "errcode"},
    {NOTIFY_CH_WECOM, "{\"errcode\":1e300}", NOTIFY_RETRY, "errcode"},
    {NOTIFY_CH_DINGTALK, "{\"errcode\":130101.5}", NOTIFY_RETRY, "errcode"},
    {NOTIFY_CH_WEBHOOK, "anything", NOTIFY_OK, "ok"},
    {NOTIFY_CH_ALERTMANAGER, "", NOTIFY_OK, "ok"},
};

ParameterizedTestParameters(notify, robot_reply)
{
	static size_t idx[ARRAY_LEN(reply_cases)];

	for (size_t i = 0; i < ARRAY_LEN(reply_cases); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_LEN(idx));
}

ParameterizedTest(size_t *ip, notify, robot_reply)
{
	const struct reply_case *c = &reply_cases[*ip];
	char *message = NULL;
	enum notify_outcome o = notify_robot_reply(c->ch, c->body, strlen(c->body), &message);

	cr_expect_eq(o, c->want, "%s: got %s", c->body, notify_outcome_name(o));
	cr_assert_not_null(message);
	cr_expect(strstr(message, c->in_message) != NULL, "%s", message);
	free(message);
	cr_expect_eq(notify_robot_reply(c->ch, c->body, strlen(c->body), NULL), c->want);
}

Test(notify, http_outcome)
{
	static const struct {
		int status;
		enum notify_outcome want;
	} cases[] = {
	    {200, NOTIFY_OK}, {202, NOTIFY_OK}, {204, NOTIFY_OK}, {301, NOTIFY_FAIL},
	    {400, NOTIFY_FAIL}, {401, NOTIFY_FAIL}, {404, NOTIFY_FAIL}, {408, NOTIFY_RETRY},
	    {413, NOTIFY_FAIL}, {425, NOTIFY_RETRY}, {429, NOTIFY_RETRY}, {500, NOTIFY_RETRY},
	    {502, NOTIFY_RETRY}, {503, NOTIFY_RETRY}, {599, NOTIFY_RETRY}, {0, NOTIFY_FAIL},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		cr_expect_eq(notify_http_outcome(cases[i].status), cases[i].want, "%d",
		    cases[i].status);
}

/* ---- Retries ---- */

static const struct notify_retry_policy policy = {
    .base_ms = 1000, .cap_ms = 300000, .horizon_ms = 6 * 3600 * 1000LL};

Test(notify, backoff_ceiling_doubles_to_the_cap)
{
	int64_t prev = 0;

	cr_expect_eq(notify_backoff_ceiling(&policy, 1), 1000);
	cr_expect_eq(notify_backoff_ceiling(&policy, 2), 2000);
	cr_expect_eq(notify_backoff_ceiling(&policy, 9), 256000);
	cr_expect_eq(notify_backoff_ceiling(&policy, 10), 300000);
	for (int n = 1; n <= 1000; n++) {
		int64_t c = notify_backoff_ceiling(&policy, n);

		cr_assert_geq(c, prev, "attempt %d", n);
		cr_assert_leq(c, policy.cap_ms);
		prev = c;
	}
	/* A cap near the top of int64_t does not overflow. */
	struct notify_retry_policy huge = {3, INT64_MAX - 1, INT64_MAX};
	prev = 0;
	for (int n = 1; n <= 200; n++) {
		int64_t c = notify_backoff_ceiling(&huge, n);

		cr_assert_geq(c, prev, "attempt %d", n);
		prev = c;
	}
	cr_expect_eq(prev, INT64_MAX - 1);
}

Test(notify, full_jitter_stays_within_the_ceiling)
{
	uint64_t x = 42;
	int64_t d, lo = INT64_MAX, hi = 0;

	cr_assert_eq(notify_retry_next(&policy, 3, 0, 0, 0, -1, &d), 0);
	cr_expect_eq(d, 0);
	cr_assert_eq(notify_retry_next(&policy, 3, 0, 0, 4000, -1, &d), 0);
	cr_expect_eq(d, 4000);
	cr_assert_eq(notify_retry_next(&policy, 3, 0, 0, UINT64_MAX, -1, &d), 0);
	cr_expect_leq(d, 4000);
	for (int i = 0; i < 10000; i++) {
		x = hash_mix64(x);
		cr_assert_eq(notify_retry_next(&policy, 20, 0, 0, x, -1, &d), 0);
		cr_assert_geq(d, 0);
		cr_assert_leq(d, policy.cap_ms);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* Spread over the whole range, not clustered. */
	cr_expect_lt(lo, policy.cap_ms / 100);
	cr_expect_gt(hi, policy.cap_ms - policy.cap_ms / 100);
}

Test(notify, retry_after_takes_precedence)
{
	int64_t d;

	cr_assert_eq(notify_retry_next(&policy, 1, 0, 0, 999, 120000, &d), 0);
	cr_expect_eq(d, 120000);
	/* Beyond the cap too: the receiver asked for it. */
	cr_assert_eq(notify_retry_next(&policy, 1, 0, 0, 999, 3600000, &d), 0);
	cr_expect_eq(d, 3600000);
	cr_assert_eq(notify_retry_next(&policy, 7, 0, 0, 999, 0, &d), 0);
	cr_expect_eq(d, 0);
}

Test(notify, retry_gives_up_past_the_horizon)
{
	int64_t d = -5;
	const int64_t first = 1000000, h = policy.horizon_ms;

	/* Exactly at the horizon is still allowed, a millisecond later is not. */
	cr_expect_eq(notify_retry_next(&policy, 4, first, first + h - 8000, 8000, -1, &d), 0);
	cr_expect_eq(d, 8000);
	d = -5;
	cr_expect_eq(notify_retry_next(&policy, 4, first, first + h - 7999, 8000, -1, &d), -1);
	cr_expect_eq(d, -5, "untouched on give-up");
	cr_expect_eq(notify_retry_next(&policy, 1, first, first + h - 10, 0, 11, &d), -1);
	cr_expect_eq(notify_retry_next(&policy, 1, first, first + h + 1, 0, -1, &d), -1);
}

Test(notify, retry_after_parse)
{
	int64_t s;
	const int64_t now = 784111777 - 100; /* 100 s before the example date */

	cr_assert_eq(notify_retry_after_parse("120", now, &s), 0);
	cr_expect_eq(s, 120);
	cr_assert_eq(notify_retry_after_parse("0", now, &s), 0);
	cr_expect_eq(s, 0);
	cr_assert_eq(notify_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now, &s), 0);
	cr_expect_eq(s, 100);
	cr_assert_eq(notify_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", now, &s), 0);
	cr_expect_eq(s, 100);
	cr_assert_eq(notify_retry_after_parse("Sun Nov  6 08:49:37 1994", now, &s), 0);
	cr_expect_eq(s, 100);
	cr_assert_eq(notify_retry_after_parse("Thu, 01 Jan 2026 00:00:00 GMT", T_FIRED, &s), 0);
	cr_expect_eq(s, 0, "a date passed means now");
	cr_assert_eq(notify_retry_after_parse("Tue, 10 Mar 2026 16:00:00 GMT", T_FIRED, &s), 0);
	cr_expect_eq(s, 8 * 86400 + 15 * 3600);

	static const char *const bad[] = {
	    "", "-1", "+5", "12a", "1.5", " 120", "Sun, 06 Nov 1994 08:49:37 UTC",
	    "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
	    "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ", "Sunday",
	    "Sun Nov 6 08:49:37", "tomorrow",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_expect_eq(notify_retry_after_parse(bad[i], now, &s), -1, "\"%s\"", bad[i]);
	cr_expect_eq(notify_retry_after_parse(NULL, now, &s), -1);
}
