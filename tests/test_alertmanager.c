/*
 * test_alertmanager.c: what notify_alertmanager_body renders, pushed to a
 * real Prometheus Alertmanager (tests/alertmanager.h) and read back from
 * its v2 API; and Alertmanager's own webhook notifications, caught by a
 * receiver (tests/receiver.h), against the shape notify_webhook_body
 * claims to share with them.
 *
 * No PostgreSQL, no daemon: the integration tests of delivery build on the
 * helpers tested here. Skipped without an Alertmanager binary, unless CI is
 * set (then it fails).
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alertmanager.h"
#include "notify.h"
#include "receiver.h"
#include "testlib.h"
#include "util.h"

#define RULE_FILTER "filter=alertname%3D%22class_size.school%22"

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
teardown(void)
{
	curl_global_cleanup();
}

TestSuite(alertmanager, .init = setup, .fini = teardown, .timeout = 120);

/* POST body to Alertmanager's /api/v2/alerts with libcurl; returns the status. */
static long
curl_post_alerts(struct am *am, const char *body)
{
	char *url = xasprintf("%s/api/v2/alerts", am_url(am));
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = curl_easy_init();
	CURLcode rc;
	long status = 0;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	rc = curl_easy_perform(h);
	cr_assert_eq(rc, CURLE_OK, "POST %s: %s", url, curl_easy_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(url);
	return status;
}

static cJSON *
parse(const char *json)
{
	cJSON *j = cJSON_Parse(json);

	cr_assert_not_null(j, "not JSON: %s", json);
	return j;
}

/* o[key], which must be a string. */
static const char *
str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	cr_assert(cJSON_IsString(v), "\"%s\" is not a string", key);
	return v->valuestring;
}

/* The element of array arr whose labels[key] is value, or NULL. */
static const cJSON *
with_label(const cJSON *arr, const char *key, const char *value)
{
	const cJSON *a, *v;

	cJSON_ArrayForEach(a, arr)
	{
		v = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(a, "labels"), key);
		if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0)
			return a;
	}
	return NULL;
}

/* Labels and annotations of receiver_sample_event, as Alertmanager must keep them. */
static const struct {
	const char *member, *key, *value;
} sample_pairs[] = {
    {"labels", "alertname", "class_size.school"},
    {"labels", "severity", "critical"},
    {"labels", "unit", "2132070301"},
    {"labels", "district", "320703"},
    {"labels", "metric", "class_size_max"},
    {"labels", "period", "2025-2026-2"},
    {"labels", "team", "安全办"},
    {"annotations", "summary", "大班额"},
    {"annotations", "description", "连云区实验小学的最大班额为67，达到66（2025-2026-2）"},
    {"annotations", "unit_name", "连云区实验小学"},
    {"annotations", "district_name", "连云区"},
    {"annotations", "metric_name", "最大班额"},
    {"annotations", "value", "67"},
    {"annotations", "bound", "66"},
    {"annotations", "op", ">="},
    {"annotations", "event", "fired"},
};

/* How many alerts GET /api/v2/alerts?query lists. */
static int
count(struct am *am, const char *query)
{
	char *json = am_alerts_json(am, query);
	cJSON *arr = parse(json);
	int n;

	cr_assert(cJSON_IsArray(arr), "%s", json);
	n = cJSON_GetArraySize(arr);
	cJSON_Delete(arr);
	free(json);
	return n;
}

/* The sample event and a second one for another school, both fired at fired_at. */
static void
two_events(struct notify_event ev[2], int64_t fired_at)
{
	ev[0] = receiver_sample_event(fired_at);
	ev[1] = receiver_sample_event(fired_at);
	ev[1].alert_id = 13;
	ev[1].fingerprint = "0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c";
	ev[1].unit_code = "2132070302";
	ev[1].unit_name = "连云区海滨小学";
	ev[1].value = "70";
	ev[1].message = "连云区海滨小学的最大班额为70，达到66（2025-2026-2）";
}

Test(alertmanager, push_read_back_and_resolve)
{
	struct am *am = am_start(NULL);
	int64_t now = time(NULL);
	struct notify_event ev[2];
	const cJSON *a;
	char *body, *json, when[32];
	cJSON *arr;

	fprintf(stderr, "Alertmanager ready in %lld ms\n", (long long)am_startup_ms(am));
	two_events(ev, now - 600);
	body = notify_alertmanager_body(ev, 2, now, 3600);
	cr_assert_eq(curl_post_alerts(am, body), 200);
	free(body);

	json = am_alerts_json(am, RULE_FILTER);
	arr = parse(json);
	cr_assert_eq(cJSON_GetArraySize(arr), 2, "%s", json);
	a = with_label(arr, "unit", "2132070301");
	cr_assert_not_null(a, "%s", json);
	for (size_t i = 0; i < ARRAY_LEN(sample_pairs); i++) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, sample_pairs[i].member);

		cr_assert_str_eq(str(o, sample_pairs[i].key), sample_pairs[i].value, "%s.%s",
		    sample_pairs[i].member, sample_pairs[i].key);
	}
	cr_assert_str_eq(str(a, "generatorURL"), "https://edumon.example.cn/alerts/12");
	/* Alertmanager writes milliseconds: compare up to the seconds. */
	notify_rfc3339(now - 600, when, sizeof when);
	cr_assert(strncmp(str(a, "startsAt"), when, 19) == 0, "startsAt %s, want %s",
	    str(a, "startsAt"), when);
	notify_rfc3339(now + 3600, when, sizeof when);
	cr_assert(
	    strncmp(str(a, "endsAt"), when, 19) == 0, "endsAt %s, want %s", str(a, "endsAt"), when);
	cr_assert_str_eq(
	    str(cJSON_GetObjectItemCaseSensitive(a, "status"), "state"), "active", "%s", json);
	cr_assert_not_null(with_label(arr, "unit", "2132070302"));
	cJSON_Delete(arr);
	free(json);

	/* The first school recovered a minute ago: its endsAt is in the past. */
	ev[0].kind = NOTIFY_RESOLVED;
	ev[0].resolved_at = now - 60;
	body = notify_alertmanager_body(ev, 1, now, 3600);
	cr_assert_eq(curl_post_alerts(am, body), 200);
	free(body);

	cr_assert_eq(count(am, "active=true&" RULE_FILTER "&filter=unit%3D%222132070301%22"), 0);
	/* Resolved alerts are not listed at all, whatever the state filters say. */
	cr_assert_eq(count(am, "active=true&silenced=true&inhibited=true&unprocessed=true&"
	                       "filter=unit%3D%222132070301%22"),
	    0);
	json = am_alerts_json(am, "active=true&" RULE_FILTER);
	arr = parse(json);
	cr_assert_eq(cJSON_GetArraySize(arr), 1, "%s", json);
	cr_assert_not_null(with_label(arr, "unit", "2132070302"), "%s", json);
	cJSON_Delete(arr);
	free(json);
	am_stop(am);
}

/* The names of o's members, sorted, one per line. Caller frees. */
static char *
keys(const cJSON *o)
{
	const char *names[32];
	size_t n = 0;
	const cJSON *m;
	struct buf b;

	cJSON_ArrayForEach(m, o)
	{
		cr_assert_lt(n, ARRAY_LEN(names));
		names[n++] = m->string;
	}
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	}
	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s\n", names[i]);
	return buf_steal(&b);
}

/* The n-th request r got, parsed; waits up to 15 s for it. */
static cJSON *
nth_notification(struct receiver *r, size_t n)
{
	struct receiver_request *q;
	cJSON *j;

	cr_assert_geq(
	    receiver_wait(r, n + 1, 15000), n + 1, "no notification %zu from Alertmanager", n + 1);
	q = receiver_request(r, n);
	cr_assert_str_eq(q->method, "POST");
	cr_assert_str_eq(q->path, "/am");
	cr_assert_str_eq(receiver_request_header(q, "Content-Type"), "application/json");
	j = receiver_request_json(q);
	cr_assert_not_null(j, "%s", q->body);
	receiver_request_free(q);
	return j;
}

Test(alertmanager, its_webhook_has_the_shape_of_ours)
{
	struct receiver *r = receiver_start();
	char *url = receiver_url(r, "/am");
	struct am *am = am_start(url);
	int64_t now = time(NULL);
	struct notify_event ev = receiver_sample_event(now - 600);
	char *body, *ka, *ko;
	cJSON *got, *ours;
	const cJSON *alert;

	body = notify_alertmanager_body(&ev, 1, now, 3600);
	cr_assert_eq(am_post_alerts(am, body), 200);
	free(body);

	got = nth_notification(r, 0);
	cr_assert_str_eq(str(got, "version"), "4");
	cr_assert_str_eq(str(got, "status"), "firing");
	cr_assert_str_eq(str(got, "receiver"), "edumon-test");
	alert = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "alerts"), 0);
	cr_assert_str_eq(
	    str(cJSON_GetObjectItemCaseSensitive(alert, "labels"), "unit"), "2132070301");
	cr_assert_str_eq(
	    str(cJSON_GetObjectItemCaseSensitive(alert, "annotations"), "summary"), "大班额");

	/* Same members at both levels as notify_webhook_body writes. */
	body = notify_webhook_body(&ev, 1, "edumon-test", "{}:{}", "https://edumon.example.cn");
	ours = parse(body);
	ka = keys(got);
	ko = keys(ours);
	cr_assert_str_eq(ka, ko);
	free(ka);
	free(ko);
	ka = keys(alert);
	ko = keys(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ours, "alerts"), 0));
	cr_assert_str_eq(ka, ko);
	free(ka);
	free(ko);
	cJSON_Delete(ours);
	free(body);
	cJSON_Delete(got);

	/* Resolved: Alertmanager says so in its next notification (send_resolved). */
	ev.kind = NOTIFY_RESOLVED;
	ev.resolved_at = now - 1;
	body = notify_alertmanager_body(&ev, 1, now, 3600);
	cr_assert_eq(am_post_alerts(am, body), 200);
	free(body);
	got = nth_notification(r, 1);
	cr_assert_str_eq(str(got, "status"), "resolved");
	cJSON_Delete(got);

	am_stop(am);
	receiver_stop(r);
	free(url);
}
