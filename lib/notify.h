/*
 * notify.h: the pure half of alert delivery. Turns alert events into the
 * bodies, headers and URLs each channel expects, signs them, reads the
 * robots' replies and decides when to try again.
 *
 * Nothing here opens a socket or reads a clock: every time is a parameter
 * (Unix seconds, or milliseconds where a name says _ms), every random draw
 * is passed in. The delivery worker gathers events from the outbox, calls
 * these functions, sends what they return and records what they decide.
 *
 * Channels (docs/notifications.md has the formats byte by byte):
 *   webhook       Alertmanager webhook format version "4", signed with
 *                 HMAC-SHA256 over "<timestamp>.<body>";
 *   alertmanager  Prometheus Alertmanager v2 API (POST /api/v2/alerts);
 *   wecom         WeCom group robot, one markdown message;
 *   dingtalk      DingTalk custom robot, one markdown message, the URL
 *                 signed with timestamp and sign parameters.
 * One call renders a GROUP of events for one channel: a single event reads
 * as a detailed message, several as a digest (counts by kind and severity,
 * the first units of each rule) for the robots, and as several alerts of
 * one notification for webhook and Alertmanager.
 *
 * Invariants: every body is valid JSON and valid UTF-8 (invalid input bytes
 * become U+FFFD); robot markdown never exceeds its byte limit and is cut
 * only at line or character boundaries; free text never breaks out of its
 * markdown construct (markdown syntax characters in names and messages are
 * replaced by their full-width forms).
 */
#ifndef EDUMON_NOTIFY_H
#define EDUMON_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

/* ---- Events ---- */

enum notify_kind {
	NOTIFY_FIRED,
	NOTIFY_ESCALATED,
	NOTIFY_DEESCALATED,
	NOTIFY_RESOLVED,
	NOTIFY_REMINDER,
	NOTIFY_KIND_COUNT
};

/* "fired", "escalated", "deescalated", "resolved", "reminder". Static. */
const char *notify_kind_name(enum notify_kind k);
/* Chinese, as messages show it: 触发, 升级, 降级, 恢复, 提醒. Static. */
const char *notify_kind_name_zh(enum notify_kind k);
/* Parse a name of notify_kind_name; 0, or -1 when unknown. */
int notify_kind_parse(const char *s, enum notify_kind *out);

struct notify_label {
	const char *key;
	const char *value;
};

/*
 * One alert event to deliver. Every string is borrowed and may be NULL,
 * which renders as "" (empty labels are left out). value and bound are
 * already written by alert_format_value. Times are Unix seconds; 0 means
 * none.
 */
struct notify_event {
	long long alert_id;
	const char *fingerprint;   /* alert_fingerprint, 64 hex */
	const char *rule_id;
	const char *title;         /* Chinese rule title */
	enum notify_kind kind;
	enum severity severity;
	const char *unit_code;
	const char *unit_name;
	const char *unit_kind;     /* school, district, city ...: the counting word of digests */
	const char *district_code; /* may be empty (a city alert) */
	const char *district_name;
	const char *metric_code;
	const char *metric_name;
	const char *period;        /* canonical period string */
	const char *value;
	const char *bound;
	enum cmp_op op;
	const char *message;       /* Chinese message (alert_message) */
	int64_t fired_at;
	int64_t resolved_at;
	const struct notify_label *labels; /* the rule's labels */
	size_t nlabels;
	const char *link;          /* http(s) URL of the alert's page; others are left out */
};

/* ---- Channels ---- */

enum notify_channel {
	NOTIFY_CH_WEBHOOK,
	NOTIFY_CH_WECOM,
	NOTIFY_CH_DINGTALK,
	NOTIFY_CH_ALERTMANAGER,
	NOTIFY_CH_COUNT
};

/* "webhook", "wecom", "dingtalk", "alertmanager". Static. */
const char *notify_channel_name(enum notify_channel ch);
/* Parse a channel name; 0, or -1 when unknown. */
int notify_channel_parse(const char *s, enum notify_channel *out);

/* ---- Generic webhook ---- */

/*
 * The Alertmanager webhook notification (version "4") for events ev[0..n):
 * {"version":"4","groupKey":group_key,"truncatedAlerts":0,"status":S,
 *  "receiver":receiver,"groupLabels":{},"commonLabels":{...},
 *  "commonAnnotations":{...},"externalURL":external_url,"alerts":[...]}
 * S is "firing" when any event is not a resolution, else "resolved". Each
 * alert: status, labels (alertname = rule id, severity, unit, district,
 * metric, period, then the rule's labels, which never override these),
 * annotations (summary = title, description = message, value, bound, op,
 * event, unit_name, district_name, metric_name), startsAt = fired_at,
 * endsAt = resolved_at for a resolution else "0001-01-01T00:00:00Z" (RFC
 * 3339 UTC), generatorURL = link, fingerprint. commonLabels and
 * commonAnnotations are the pairs every alert shares, as Alertmanager
 * computes them. Strings may be NULL. Returns a new string; never fails.
 */
char *notify_webhook_body(const struct notify_event *ev, size_t n, const char *receiver,
    const char *group_key, const char *external_url);

#define NOTIFY_MAX_HEADERS 4
#define NOTIFY_HEADER_VALUE_MAX 128

/* Headers to send with a body; names are static strings. */
struct notify_headers {
	size_t n;
	struct {
		const char *name;
		char value[NOTIFY_HEADER_VALUE_MAX];
	} h[NOTIFY_MAX_HEADERS];
};

/* "sha256=" and 64 lower-case hex digits. */
#define NOTIFY_SIGNATURE_LEN (7 + 64)

/*
 * "sha256=" + hex HMAC-SHA256(key = secret, msg = "<timestamp>." + body)
 * into out. The timestamp is written in decimal without padding.
 */
void notify_webhook_signature(const char *secret, int64_t timestamp, const char *body,
    size_t len, char out[NOTIFY_SIGNATURE_LEN + 1]);

/*
 * The headers of a generic webhook POST: Content-Type: application/json,
 * X-Edumon-Timestamp: <timestamp>, X-Edumon-Signature: sha256=<hex>
 * (notify_webhook_signature) and X-Edumon-Delivery: <delivery_id>, which a
 * receiver uses to drop duplicates (delivery is at least once). Returns 0,
 * or -1 with *cause set (caller frees) when delivery_id is empty, longer
 * than 100 bytes or holds anything but printable ASCII (it goes into a
 * header line).
 */
int notify_webhook_headers(const char *secret, int64_t timestamp, const char *delivery_id,
    const char *body, size_t len, struct notify_headers *out, char **cause);

enum notify_verdict {
	NOTIFY_VERIFY_OK,
	NOTIFY_VERIFY_MALFORMED,     /* a header missing or not of the documented form */
	NOTIFY_VERIFY_STALE,         /* timestamp further than tolerance from now */
	NOTIFY_VERIFY_BAD_SIGNATURE, /* wrong secret, or body or timestamp altered */
	NOTIFY_VERDICT_COUNT
};

/* "ok", "malformed", "stale", "bad_signature". Static. */
const char *notify_verdict_name(enum notify_verdict v);

/*
 * What a receiver does with a signed webhook: timestamp and signature are
 * the header values as received (NULL when absent), body[0..len) the raw
 * body. The timestamp must be decimal seconds within tolerance seconds of
 * now (either side: a clock ahead is no excuse for a replay); the
 * signature is compared in constant time. Never fails otherwise.
 */
enum notify_verdict notify_webhook_verify(const char *secret, const char *timestamp,
    const char *signature, const char *body, size_t len, int64_t now, int64_t tolerance);

/* ---- Prometheus Alertmanager v2 ---- */

/*
 * The body of POST /api/v2/alerts: [{"labels":{...},"annotations":{...},
 * "startsAt":..,"endsAt":..,"generatorURL":..}, ...], labels and
 * annotations as notify_webhook_body. A firing alert (any kind but
 * resolved) ends at now + resend_horizon, so Alertmanager resolves it by
 * itself if edumon stops re-pushing; a resolved one ends at resolved_at
 * (now when that is 0). generatorURL is left out without a link.
 * Returns a new string; never fails.
 */
char *notify_alertmanager_body(const struct notify_event *ev, size_t n, int64_t now,
    int64_t resend_horizon);

/* ---- Robots ---- */

/* WeCom markdown content is limited to 4096 bytes of UTF-8. */
#define NOTIFY_WECOM_MAX_BYTES 4096
/*
 * DingTalk documents no exact limit for markdown text; messages past about
 * 20,000 bytes are refused. Kept at WeCom's size so that both robots show
 * the same message.
 */
#define NOTIFY_DINGTALK_MAX_BYTES 4096
/*
 * In robot markdown, unit, district, metric and rule names are cut to this
 * many bytes and messages to NOTIFY_MD_MESSAGE_MAX, at a character boundary
 * and ending in "…", so that one line never crowds out the others.
 */
#define NOTIFY_MD_NAME_MAX 150
#define NOTIFY_MD_MESSAGE_MAX 900
/* Units named per rule in a digest before "等N所学校". */
#define NOTIFY_DIGEST_UNITS 5

/*
 * The markdown a robot shows for ev[0..n) (n >= 1), at most max_bytes
 * bytes (at least 256), in Chinese, times in Asia/Shanghai (UTC+8, no
 * daylight saving). One event: severity, kind, title, unit and district,
 * metric, value against bound, period, time, message and link. Several: a
 * digest with counts by kind and severity and one line per (rule, kind)
 * naming its first max_units units ("连云区实验小学、…等300所学校"), most
 * severe first. Lines that do not fit are dropped whole and counted in a
 * last line "…等N条未显示". dingtalk selects DingTalk's dialect (no font
 * colour, paragraphs separated by blank lines). Returns a new string.
 */
char *notify_markdown(const struct notify_event *ev, size_t n, size_t max_units,
    size_t max_bytes, int dingtalk);

/*
 * {"msgtype":"markdown","markdown":{"content":MD}} with MD =
 * notify_markdown(ev, n, max_units, NOTIFY_WECOM_MAX_BYTES, 0). New string.
 */
char *notify_wecom_body(const struct notify_event *ev, size_t n, size_t max_units);

/*
 * {"msgtype":"markdown","markdown":{"title":T,"text":MD}}: T is the line a
 * phone notification shows ("【严重】大班额 连云区实验小学" or
 * "教育监测告警汇总 300条"), MD is notify_markdown(..., 1). New string.
 */
char *notify_dingtalk_body(const struct notify_event *ev, size_t n, size_t max_units);

/* base64 of a SHA-256 HMAC (44 characters), percent-encoded: at most 3 * 44. */
#define NOTIFY_DINGTALK_SIGN_MAX (3 * 44)

/*
 * DingTalk's sign: urlencode(base64(HMAC-SHA256(key = secret,
 * msg = "<timestamp_ms>\n<secret>"))) into out.
 */
void notify_dingtalk_sign(const char *secret, int64_t timestamp_ms,
    char out[NOTIFY_DINGTALK_SIGN_MAX + 1]);

/*
 * webhook_url with "&timestamp=<timestamp_ms>&sign=<sign>" appended ('?'
 * instead of the first '&' when the URL has no query). A NULL or empty
 * secret (a robot without signing) returns a copy of the URL. New string.
 */
char *notify_dingtalk_url(const char *webhook_url, const char *secret, int64_t timestamp_ms);

/* ---- Replies ---- */

enum notify_outcome {
	NOTIFY_OK,    /* delivered */
	NOTIFY_RETRY, /* not delivered; try again later */
	NOTIFY_FAIL,  /* not delivered; retrying will not help */
	NOTIFY_OUTCOME_COUNT
};

/* "ok", "retry", "fail". Static. */
const char *notify_outcome_name(enum notify_outcome o);

/*
 * What an HTTP status means for any channel: 2xx ok; 408, 425, 429 and 5xx
 * retry; anything else fail.
 */
enum notify_outcome notify_http_outcome(int status);

/*
 * What a robot's HTTP 200 body body[0..len) means. WeCom: errcode 0 ok,
 * 45009 (rate limited) and -1 (system busy) retry, others fail. DingTalk:
 * errcode 0 ok, 130101 (throttled) and -1 retry, 310000 (signature,
 * keyword or IP check failed) and others fail. A body that is not a JSON
 * object with a numeric errcode is retried (a proxy's page is not an
 * answer). Other channels: ok. *message (when message is not NULL) gets a
 * caller-freed line for logs, e.g. "wecom errcode 45009: api freq out of
 * limit (rate limited)".
 */
enum notify_outcome notify_robot_reply(enum notify_channel ch, const char *body, size_t len,
    char **message);

/* ---- Retries ---- */

struct notify_retry_policy {
	int64_t base_ms;    /* ceiling of the first delay */
	int64_t cap_ms;     /* largest ceiling */
	int64_t horizon_ms; /* give up when the next attempt would start later than this after the first */
};

/*
 * The ceiling of the delay after attempt `attempt` (1 = the first try
 * failed): min(cap, base * 2^(attempt - 1)), without overflow.
 * Non-decreasing in attempt.
 */
int64_t notify_backoff_ceiling(const struct notify_retry_policy *p, int attempt);

/*
 * When to try again after failed attempt `attempt` (>= 1), the first having
 * started at first_ms and now being now_ms. Without Retry-After
 * (retry_after_ms < 0): full jitter, a delay uniform in [0, ceiling]
 * drawn from rnd (a uniform 64-bit random number). With it: exactly
 * retry_after_ms, which takes precedence over the backoff and the cap (the
 * receiver knows best). Returns 0 with *delay_ms set, or -1 (give up) when
 * now_ms + delay would pass first_ms + horizon_ms.
 */
int notify_retry_next(const struct notify_retry_policy *p, int attempt, int64_t first_ms,
    int64_t now_ms, uint64_t rnd, int64_t retry_after_ms, int64_t *delay_ms);

/*
 * Parse a Retry-After value: delta-seconds ("120") or an HTTP-date in any
 * of the three forms RFC 9110 makes recipients accept (IMF-fixdate "Sun, 06
 * Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", asctime
 * "Sun Nov  6 08:49:37 1994"). A date is turned into seconds from now (0
 * when it has passed). Returns 0 with *seconds set, or -1 when value is not
 * one of these.
 */
int notify_retry_after_parse(const char *value, int64_t now, int64_t *seconds);

/* ---- Time ---- */

/* "YYYY-MM-DDTHH:MM:SSZ" for Unix seconds t (out: at least 32 bytes). */
char *notify_rfc3339(int64_t t, char *out, size_t len);

#endif
