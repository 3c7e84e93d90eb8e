/*
 * notify.c: see notify.h. OpenSSL provides HMAC-SHA256, base64 and the
 * constant-time comparison; cJSON reads the robots' replies. Bodies are
 * written with struct buf, so every byte of the output is decided here.
 */
#include "notify.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"
#include "util.h"

#define SHA256_BYTES 32
/* Alertmanager's "no end" time. */
#define ZERO_TIME "0001-01-01T00:00:00Z"
/* Asia/Shanghai: UTC+8 since 1991, no daylight saving. */
#define SHANGHAI_OFFSET (8 * 3600)

/* ---- Names ---- */

static const char *const kind_names[NOTIFY_KIND_COUNT] = {
    "fired", "escalated", "deescalated", "resolved", "reminder"};
static const char *const kind_names_zh[NOTIFY_KIND_COUNT] = {
    "触发", "升级", "降级", "恢复", "提醒"};
static const char *const channel_names[NOTIFY_CH_COUNT] = {
    "webhook", "wecom", "dingtalk", "alertmanager"};
static const char *const verdict_names[NOTIFY_VERDICT_COUNT] = {
    "ok", "malformed", "stale", "bad_signature"};
static const char *const outcome_names[NOTIFY_OUTCOME_COUNT] = {"ok", "retry", "fail"};
/* The breach "value OP bound" in words, as alert_message writes {op}. */
static const char *const op_names_zh[OP_COUNT] = {
    "低于", "不高于", "超过", "达到", "等于", "不等于"};

/* names[i] or "?" when i is out of range: what every name function returns. */
static const char *
name_at(const char *const *names, size_t n, unsigned i)
{
	return i < n ? names[i] : "?";
}

const char *
notify_kind_name(enum notify_kind k)
{
	return name_at(kind_names, NOTIFY_KIND_COUNT, (unsigned)k);
}

const char *
notify_kind_name_zh(enum notify_kind k)
{
	return name_at(kind_names_zh, NOTIFY_KIND_COUNT, (unsigned)k);
}

int
notify_kind_parse(const char *s, enum notify_kind *out)
{
	int i = names_index(kind_names, NOTIFY_KIND_COUNT, s, strlen(s));

	if (i >= 0)
		*out = (enum notify_kind)i;
	return i >= 0 ? 0 : -1;
}

const char *
notify_channel_name(enum notify_channel ch)
{
	return name_at(channel_names, NOTIFY_CH_COUNT, (unsigned)ch);
}

int
notify_channel_parse(const char *s, enum notify_channel *out)
{
	int i = names_index(channel_names, NOTIFY_CH_COUNT, s, strlen(s));

	if (i >= 0)
		*out = (enum notify_channel)i;
	return i >= 0 ? 0 : -1;
}

const char *
notify_verdict_name(enum notify_verdict v)
{
	return name_at(verdict_names, NOTIFY_VERDICT_COUNT, (unsigned)v);
}

const char *
notify_outcome_name(enum notify_outcome o)
{
	return name_at(outcome_names, NOTIFY_OUTCOME_COUNT, (unsigned)o);
}

static const char *
op_zh(enum cmp_op op)
{
	return name_at(op_names_zh, OP_COUNT, (unsigned)op);
}

static const char *
str(const char *s)
{
	return s != NULL ? s : "";
}

/* ---- Time ---- */

/* Split Unix seconds into days and seconds of the day, flooring. */
static void
split_time(int64_t t, int32_t *days, int *sec)
{
	int64_t d = t / 86400, s = t % 86400;

	if (s < 0) {
		s += 86400;
		d--;
	}
	*days = (int32_t)d;
	*sec = (int)s;
}

char *
notify_rfc3339(int64_t t, char *out, size_t len)
{
	int32_t days;
	int sec, y, m, d;

	split_time(t, &days, &sec);
	date_to_civil(days, &y, &m, &d);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, sec / 3600, sec / 60 % 60,
	    sec % 60);
	return out;
}

/* "YYYY-MM-DD HH:MM" in Asia/Shanghai, as district staff read a time. */
static char *
shanghai_time(int64_t t, char *out, size_t len)
{
	int32_t days;
	int sec, y, m, d;

	split_time(t + SHANGHAI_OFFSET, &days, &sec);
	date_to_civil(days, &y, &m, &d);
	snprintf(out, len, "%04d-%02d-%02d %02d:%02d", y, m, d, sec / 3600, sec / 60 % 60);
	return out;
}

/* ---- UTF-8 ---- */

/*
 * Length of the character at p[0..left): its encoded length when well
 * formed, else 0 (the caller takes one byte and writes U+FFFD).
 */
static size_t
utf8_char_len(const unsigned char *p, size_t left)
{
	size_t n;

	if (p[0] < 0x80)
		return 1;
	n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	if (n > left || !utf8_valid((const char *)p, n))
		return 0;
	return n;
}

#define REPLACEMENT "\xef\xbf\xbd"

/* Append s as a JSON string, invalid UTF-8 replaced by U+FFFD. */
static void
json_str(struct buf *b, const char *s)
{
	struct buf clean;
	const unsigned char *p;
	size_t left;

	s = str(s);
	if (utf8_valid(s, strlen(s))) {
		buf_json_string(b, s);
		return;
	}
	buf_init(&clean);
	p = (const unsigned char *)s;
	left = strlen(s);
	while (left > 0) {
		size_t n = utf8_char_len(p, left);

		if (n == 0) {
			buf_puts(&clean, REPLACEMENT);
			n = 1;
		} else
			buf_append(&clean, p, n);
		p += n;
		left -= n;
	}
	buf_json_string(b, clean.data);
	buf_free(&clean);
}

/* ---- Labels and annotations ---- */

struct kv {
	const char *key;
	const char *value;
};

/* The labels edumon sets itself; a rule label of the same name is ignored. */
static const char *const builtin_labels[] = {
    "alertname", "severity", "unit", "district", "metric", "period"};

/*
 * The labels of e, empty values left out, into a new array the caller
 * frees (the strings stay borrowed). Returns the count.
 */
static size_t
event_labels(const struct notify_event *e, struct kv **out)
{
	struct kv *v = xcalloc(ARRAY_LEN(builtin_labels) + e->nlabels, sizeof *v);
	const char *builtin_values[ARRAY_LEN(builtin_labels)] = {
	    e->rule_id, severity_name(e->severity), e->unit_code, e->district_code,
	    e->metric_code, e->period};
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_LEN(builtin_labels); i++)
		if (str(builtin_values[i])[0] != '\0')
			v[n++] = (struct kv){builtin_labels[i], builtin_values[i]};
	for (size_t i = 0; i < e->nlabels; i++) {
		const char *k = str(e->labels[i].key);

		if (k[0] == '\0' || str(e->labels[i].value)[0] == '\0' ||
		    names_index(builtin_labels, ARRAY_LEN(builtin_labels), k, strlen(k)) >= 0)
			continue;
		v[n++] = (struct kv){k, e->labels[i].value};
	}
	*out = v;
	return n;
}

/* The annotations of e, empty values left out; as event_labels. */
static size_t
event_annotations(const struct notify_event *e, struct kv **out)
{
	const struct kv all[] = {
	    {"summary", e->title},
	    {"description", e->message},
	    {"value", e->value},
	    {"bound", e->bound},
	    {"op", (unsigned)e->op < OP_COUNT ? cmp_op_name(e->op) : NULL},
	    {"event", notify_kind_name(e->kind)},
	    {"unit_name", e->unit_name},
	    {"district_name", e->district_name},
	    {"metric_name", e->metric_name},
	};
	struct kv *v = xcalloc(ARRAY_LEN(all), sizeof *v);
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_LEN(all); i++)
		if (str(all[i].value)[0] != '\0')
			v[n++] = all[i];
	*out = v;
	return n;
}

static void
json_object_kv(struct buf *b, const struct kv *v, size_t n)
{
	buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(b, ',');
		json_str(b, v[i].key);
		buf_putc(b, ':');
		json_str(b, v[i].value);
	}
	buf_putc(b, '}');
}

typedef size_t (*pairs_fn)(const struct notify_event *, struct kv **);

/*
 * The pairs every event shares (same key, same value), in the order of the
 * first event's: Alertmanager's commonLabels and commonAnnotations.
 */
static void
json_common(struct buf *b, const struct notify_event *ev, size_t n, pairs_fn pairs)
{
	struct kv *first, *common;
	size_t nfirst, ncommon = 0;

	if (n == 0) {
		buf_puts(b, "{}");
		return;
	}
	nfirst = pairs(&ev[0], &first);
	common = xcalloc(nfirst, sizeof *common);
	for (size_t i = 0; i < nfirst; i++) {
		bool shared = true;

		for (size_t j = 1; j < n && shared; j++) {
			struct kv *other;
			size_t nother = pairs(&ev[j], &other);

			shared = false;
			for (size_t k = 0; k < nother; k++)
				if (strcmp(other[k].key, first[i].key) == 0 &&
				    strcmp(str(other[k].value), str(first[i].value)) == 0)
					shared = true;
			free(other);
		}
		if (shared)
			common[ncommon++] = first[i];
	}
	json_object_kv(b, common, ncommon);
	free(common);
	free(first);
}

/* "labels":{..},"annotations":{..} of one event. */
static void
json_labels_annotations(struct buf *b, const struct notify_event *e)
{
	struct kv *v;
	size_t n;

	buf_puts(b, "\"labels\":");
	n = event_labels(e, &v);
	json_object_kv(b, v, n);
	free(v);
	buf_puts(b, ",\"annotations\":");
	n = event_annotations(e, &v);
	json_object_kv(b, v, n);
	free(v);
}

static void
json_time(struct buf *b, int64_t t)
{
	char ts[32];

	buf_putc(b, '"');
	buf_puts(b, t != 0 ? notify_rfc3339(t, ts, sizeof ts) : ZERO_TIME);
	buf_putc(b, '"');
}

/* ---- Generic webhook ---- */

char *
notify_webhook_body(const struct notify_event *ev, size_t n, const char *receiver,
    const char *group_key, const char *external_url)
{
	struct buf b;
	bool firing = false;

	for (size_t i = 0; i < n; i++)
		if (ev[i].kind != NOTIFY_RESOLVED)
			firing = true;
	buf_init(&b);
	buf_puts(&b, "{\"version\":\"4\",\"groupKey\":");
	json_str(&b, group_key);
	buf_printf(&b, ",\"truncatedAlerts\":0,\"status\":\"%s\",\"receiver\":",
	    firing ? "firing" : "resolved");
	json_str(&b, receiver);
	buf_puts(&b, ",\"groupLabels\":{},\"commonLabels\":");
	json_common(&b, ev, n, event_labels);
	buf_puts(&b, ",\"commonAnnotations\":");
	json_common(&b, ev, n, event_annotations);
	buf_puts(&b, ",\"externalURL\":");
	json_str(&b, external_url);
	buf_puts(&b, ",\"alerts\":[");
	for (size_t i = 0; i < n; i++) {
		const struct notify_event *e = &ev[i];
		bool resolved = e->kind == NOTIFY_RESOLVED;

		if (i > 0)
			buf_putc(&b, ',');
		buf_printf(&b, "{\"status\":\"%s\",", resolved ? "resolved" : "firing");
		json_labels_annotations(&b, e);
		buf_puts(&b, ",\"startsAt\":");
		json_time(&b, e->fired_at);
		buf_puts(&b, ",\"endsAt\":");
		json_time(&b, resolved ? e->resolved_at : 0);
		buf_puts(&b, ",\"generatorURL\":");
		json_str(&b, e->link);
		buf_puts(&b, ",\"fingerprint\":");
		json_str(&b, e->fingerprint);
		buf_putc(&b, '}');
	}
	buf_puts(&b, "]}");
	return buf_steal(&b);
}

/* HMAC-SHA256(key, msg[0..len)) into out. */
static void
hmac_sha256(const char *key, const void *msg, size_t len, unsigned char out[SHA256_BYTES])
{
	unsigned int n = SHA256_BYTES;

	key = str(key);
	if (HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, out, &n) == NULL ||
	    n != SHA256_BYTES)
		abort();
}

/* The HMAC of "<timestamp>." + body. */
static void
webhook_mac(const char *secret, int64_t timestamp, const char *body, size_t len,
    unsigned char mac[SHA256_BYTES])
{
	struct buf msg;

	buf_init(&msg);
	buf_printf(&msg, "%lld.", (long long)timestamp);
	buf_append(&msg, body, len);
	hmac_sha256(secret, msg.data, msg.len, mac);
	buf_free(&msg);
}

void
notify_webhook_signature(const char *secret, int64_t timestamp, const char *body, size_t len,
    char out[NOTIFY_SIGNATURE_LEN + 1])
{
	unsigned char mac[SHA256_BYTES];

	webhook_mac(secret, timestamp, body, len, mac);
	memcpy(out, "sha256=", 7);
	hex_encode(mac, sizeof mac, out + 7);
}

#define DELIVERY_ID_MAX 100

static void
header_set(struct notify_headers *h, const char *name, const char *value)
{
	h->h[h->n].name = name;
	snprintf(h->h[h->n].value, sizeof h->h[h->n].value, "%s", value);
	h->n++;
}

int
notify_webhook_headers(const char *secret, int64_t timestamp, const char *delivery_id,
    const char *body, size_t len, struct notify_headers *out, char **cause)
{
	char sig[NOTIFY_SIGNATURE_LEN + 1], ts[24];
	size_t idlen = strlen(str(delivery_id));

	if (idlen == 0 || idlen > DELIVERY_ID_MAX) {
		*cause = xasprintf("delivery id: must be 1 to %d bytes, got %zu", DELIVERY_ID_MAX,
		    idlen);
		return -1;
	}
	for (size_t i = 0; i < idlen; i++) {
		if (delivery_id[i] < 0x21 || delivery_id[i] > 0x7e) {
			*cause = xasprintf("delivery id: byte %zu is not printable ASCII", i + 1);
			return -1;
		}
	}
	notify_webhook_signature(secret, timestamp, body, len, sig);
	snprintf(ts, sizeof ts, "%lld", (long long)timestamp);
	out->n = 0;
	header_set(out, "Content-Type", "application/json");
	header_set(out, "X-Edumon-Timestamp", ts);
	header_set(out, "X-Edumon-Signature", sig);
	header_set(out, "X-Edumon-Delivery", delivery_id);
	return 0;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum notify_verdict
notify_webhook_verify(const char *secret, const char *timestamp, const char *signature,
    const char *body, size_t len, int64_t now, int64_t tolerance)
{
	unsigned char want[SHA256_BYTES], got[SHA256_BYTES];
	long long ts;

	if (timestamp == NULL || signature == NULL ||
	    parse_ll(timestamp, 0, (long long)1 << 40, &ts) != 0 ||
	    strncmp(signature, "sha256=", 7) != 0 || strlen(signature) != NOTIFY_SIGNATURE_LEN)
		return NOTIFY_VERIFY_MALFORMED;
	for (size_t i = 0; i < SHA256_BYTES; i++) {
		int hi = hex_value(signature[7 + 2 * i]), lo = hex_value(signature[8 + 2 * i]);

		if (hi < 0 || lo < 0)
			return NOTIFY_VERIFY_MALFORMED;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (ts < now - tolerance || ts > now + tolerance)
		return NOTIFY_VERIFY_STALE;
	webhook_mac(secret, ts, body, len, want);
	return CRYPTO_memcmp(want, got, SHA256_BYTES) == 0 ? NOTIFY_VERIFY_OK
							   : NOTIFY_VERIFY_BAD_SIGNATURE;
}

/* ---- Alertmanager v2 ---- */

char *
notify_alertmanager_body(const struct notify_event *ev, size_t n, int64_t now,
    int64_t resend_horizon)
{
	struct buf b;

	buf_init(&b);
	buf_putc(&b, '[');
	for (size_t i = 0; i < n; i++) {
		const struct notify_event *e = &ev[i];
		int64_t ends;

		if (e->kind == NOTIFY_RESOLVED)
			ends = e->resolved_at != 0 ? e->resolved_at : now;
		else
			ends = now + resend_horizon;
		if (i > 0)
			buf_putc(&b, ',');
		buf_putc(&b, '{');
		json_labels_annotations(&b, e);
		if (e->fired_at != 0) {
			buf_puts(&b, ",\"startsAt\":");
			json_time(&b, e->fired_at);
		}
		buf_puts(&b, ",\"endsAt\":");
		json_time(&b, ends);
		if (str(e->link)[0] != '\0') {
			buf_puts(&b, ",\"generatorURL\":");
			json_str(&b, e->link);
		}
		buf_putc(&b, '}');
	}
	buf_putc(&b, ']');
	return buf_steal(&b);
}

/* ---- Markdown ---- */

/*
 * Markdown syntax characters in free text become their full-width forms:
 * the robots' renderers honour no backslash escapes, and a Chinese reader
 * reads "＊" as well as "*". Line breaks become spaces (every line of a
 * message starts with a fixed prefix, so no text starts a list or quote).
 */
static const char *
md_replacement(unsigned char c)
{
	switch (c) {
	case '*': return "＊";
	case '_': return "＿";
	case '`': return "｀";
	case '[': return "［";
	case ']': return "］";
	case '<': return "＜";
	case '>': return "＞";
	case '#': return "＃";
	case '~': return "～";
	case '|': return "｜";
	case '\\': return "＼";
	case '&': return "＆";
	case '\n':
	case '\r':
	case '\t': return " ";
	default: return c < 0x20 || c == 0x7f ? "" : NULL;
	}
}

/*
 * Append s as markdown-safe text of at most cap bytes (cap >= 3); text
 * that does not fit is cut at a character boundary and ends in "…".
 */
static void
md_text(struct buf *b, const char *s, size_t cap)
{
	static const char ellipsis[] = "…";
	const unsigned char *p = (const unsigned char *)str(s);
	size_t left = strlen((const char *)p), cut;
	struct buf t;

	buf_init(&t);
	buf_puts(&t, "");
	while (left > 0) {
		size_t n = utf8_char_len(p, left);
		const char *out = n == 0 ? REPLACEMENT : n == 1 ? md_replacement(*p) : NULL;

		if (out != NULL)
			buf_puts(&t, out);
		else
			buf_append(&t, p, n);
		n = n == 0 ? 1 : n;
		p += n;
		left -= n;
	}
	if (t.len <= cap)
		buf_append(b, t.data, t.len);
	else {
		/* t is well-formed UTF-8: back off to the start of a character. */
		cut = cap - (sizeof ellipsis - 1);
		while (cut > 0 && ((unsigned char)t.data[cut] & 0xc0) == 0x80)
			cut--;
		buf_append(b, t.data, cut);
		buf_puts(b, ellipsis);
	}
	buf_free(&t);
}

/* A link is shown only when it is http(s) and cannot break the markdown. */
static bool
md_link_ok(const char *url)
{
	url = str(url);
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return false;
	if (strlen(url) > 1000)
		return false;
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("()<>\"[]`", *p))
			return false;
	return true;
}

/* Caps of the free-text fields, in bytes: a line stays well below any limit. */
#define CAP_NAME NOTIFY_MD_NAME_MAX
#define CAP_TITLE NOTIFY_MD_NAME_MAX
#define CAP_MESSAGE NOTIFY_MD_MESSAGE_MAX
#define CAP_VALUE 40
#define LINE_UNITS_MAX 900

/* One line of a robot message. events: the events it stands for (digest lines). */
struct md_line {
	char *text;
	size_t events;
};

struct md_doc {
	struct md_line *v;
	size_t n, cap;
	int dingtalk;
};

static void
doc_add(struct md_doc *d, struct buf *line, size_t events)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		d->v = xreallocarray(d->v, d->cap, sizeof *d->v);
	}
	d->v[d->n].text = buf_steal(line);
	d->v[d->n].events = events;
	d->n++;
}

static void
doc_free(struct md_doc *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].text);
	free(d->v);
}

/*
 * Join the lines into at most max bytes: lines that do not fit are dropped
 * whole; the events of dropped lines are counted in a last line.
 */
static char *
doc_render(const struct md_doc *d, size_t max)
{
	const char *sep = d->dingtalk ? "\n\n" : "\n";
	/* Room for the note: separator, "…等", a count, "条未显示". */
	const size_t note_room = strlen(sep) + 40;
	struct buf b;
	size_t omitted = 0;

	buf_init(&b);
	for (size_t i = 0; i < d->n; i++) {
		size_t need = (b.len > 0 ? strlen(sep) : 0) + strlen(d->v[i].text);
		bool more = omitted > 0 || i + 1 < d->n;

		if (omitted > 0 || b.len + need + (more ? note_room : 0) > max) {
			omitted += d->v[i].events;
			continue;
		}
		if (b.len > 0)
			buf_puts(&b, sep);
		buf_puts(&b, d->v[i].text);
	}
	if (omitted > 0)
		buf_printf(&b, "%s…等%zu条未显示", b.len > 0 ? sep : "", omitted);
	return buf_steal(&b);
}

/* Severity as the robot shows it: coloured for WeCom, bracketed for DingTalk. */
static void
md_severity(struct buf *b, enum severity s, bool resolved, int dingtalk)
{
	const char *name = resolved ? "已恢复" : severity_name_zh(s);
	const char *color = resolved ? "info" : s >= SEV_WARNING ? "warning" : "comment";

	if (dingtalk)
		buf_printf(b, "**【%s】**", name);
	else if (s == SEV_CRITICAL && !resolved)
		buf_printf(b, "**<font color=\"%s\">%s</font>**", color, name);
	else
		buf_printf(b, "<font color=\"%s\">%s</font>", color, name);
}

static void
md_field(struct md_doc *d, const char *label, const char *text, size_t cap)
{
	struct buf line;

	if (str(text)[0] == '\0')
		return;
	buf_init(&line);
	buf_printf(&line, "> %s：", label);
	md_text(&line, text, cap);
	doc_add(d, &line, 0);
}

/* The detailed message of one event. */
static void
md_detail(struct md_doc *d, const struct notify_event *e)
{
	struct buf line;
	char t[32];
	bool resolved = e->kind == NOTIFY_RESOLVED;

	buf_init(&line);
	buf_printf(&line, "### 教育监测告警%s：", notify_kind_name_zh(e->kind));
	md_text(&line, e->title, CAP_TITLE);
	doc_add(d, &line, 0);

	buf_puts(&line, "> 级别：");
	md_severity(&line, e->severity, resolved, d->dingtalk);
	doc_add(d, &line, 0);

	if (str(e->unit_name)[0] != '\0') {
		buf_puts(&line, "> 单位：");
		md_text(&line, e->unit_name, CAP_NAME);
		if (str(e->district_name)[0] != '\0' &&
		    strcmp(str(e->district_name), str(e->unit_name)) != 0) {
			buf_puts(&line, "（");
			md_text(&line, e->district_name, CAP_NAME);
			buf_puts(&line, "）");
		}
		doc_add(d, &line, 0);
	}
	md_field(d, "指标", e->metric_name, CAP_NAME);
	if (str(e->value)[0] != '\0') {
		buf_puts(&line, "> 数值：");
		if (!resolved)
			buf_puts(&line, "**");
		md_text(&line, e->value, CAP_VALUE);
		if (!resolved)
			buf_puts(&line, "**");
		if (str(e->bound)[0] != '\0') {
			buf_printf(&line, "（%s%s", resolved ? "告警条件：" : "", op_zh(e->op));
			md_text(&line, e->bound, CAP_VALUE);
			buf_puts(&line, "）");
		}
		doc_add(d, &line, 0);
	}
	md_field(d, "周期", e->period, CAP_NAME);
	if (e->fired_at != 0)
		md_field(d, "开始", shanghai_time(e->fired_at, t, sizeof t), sizeof t);
	if (resolved && e->resolved_at != 0)
		md_field(d, "恢复", shanghai_time(e->resolved_at, t, sizeof t), sizeof t);
	md_field(d, "说明", e->message, CAP_MESSAGE);
	if (md_link_ok(e->link)) {
		buf_printf(&line, "[查看详情](%s)", e->link);
		doc_add(d, &line, 0);
	}
}

/* The counting word of a digest line: "所学校", "个区县", ... */
static const char *
unit_measure(const struct notify_event *const *v, size_t n)
{
	static const struct {
		const char *kind, *measure;
	} measures[] = {
	    {"school", "所学校"}, {"district", "个区县"}, {"city", "个市"}, {"province", "个省"}};
	const char *kind = str(v[0]->unit_kind);

	for (size_t i = 1; i < n; i++)
		if (strcmp(str(v[i]->unit_kind), kind) != 0)
			return "个单位";
	for (size_t i = 0; i < ARRAY_LEN(measures); i++)
		if (strcmp(measures[i].kind, kind) == 0)
			return measures[i].measure;
	return "个单位";
}

/* Digest order: firing before resolved, rule, kind, then input order. */
static int
digest_cmp(const void *a, const void *b)
{
	const struct notify_event *x = *(const struct notify_event *const *)a;
	const struct notify_event *y = *(const struct notify_event *const *)b;
	int c = (x->kind == NOTIFY_RESOLVED) - (y->kind == NOTIFY_RESOLVED);

	if (c == 0)
		c = strcmp(str(x->rule_id), str(y->rule_id));
	if (c == 0)
		c = (int)x->kind - (int)y->kind;
	if (c == 0)
		c = x < y ? -1 : x > y;
	return c;
}

/* A run of events with the same rule and kind. */
struct digest_group {
	const struct notify_event *const *v;
	size_t n;
	enum severity severity; /* the highest */
};

/* Most severe first, then the larger group, then the order of digest_cmp. */
static int
group_cmp(const void *a, const void *b)
{
	const struct digest_group *x = a, *y = b;
	int c = (x->v[0]->kind == NOTIFY_RESOLVED) - (y->v[0]->kind == NOTIFY_RESOLVED);

	if (c == 0)
		c = (int)y->severity - (int)x->severity;
	if (c == 0)
		c = (y->n > x->n) - (y->n < x->n);
	if (c == 0)
		c = digest_cmp(&x->v[0], &y->v[0]);
	return c;
}

/* One digest line: severity, kind, title (metric, period): units. */
static void
md_group_line(struct md_doc *d, const struct digest_group *g, size_t max_units)
{
	const struct notify_event *e = g->v[0];
	struct buf line;
	bool same_period = true;
	size_t shown = 0;

	for (size_t i = 1; i < g->n; i++)
		if (strcmp(str(g->v[i]->period), str(e->period)) != 0)
			same_period = false;
	buf_init(&line);
	buf_puts(&line, "- ");
	md_severity(&line, g->severity, e->kind == NOTIFY_RESOLVED, d->dingtalk);
	/* "已恢复" already says what happened to a resolved group. */
	if (e->kind != NOTIFY_RESOLVED)
		buf_printf(&line, " %s", notify_kind_name_zh(e->kind));
	buf_puts(&line, " **");
	md_text(&line, e->title, CAP_TITLE);
	buf_puts(&line, "**");
	if (str(e->metric_name)[0] != '\0' || (same_period && str(e->period)[0] != '\0')) {
		buf_puts(&line, "（");
		md_text(&line, e->metric_name, CAP_NAME);
		if (same_period && str(e->period)[0] != '\0') {
			if (str(e->metric_name)[0] != '\0')
				buf_puts(&line, "，");
			md_text(&line, e->period, CAP_NAME);
		}
		buf_puts(&line, "）");
	}
	buf_puts(&line, "：");
	for (size_t i = 0; i < g->n && shown < max_units; i++) {
		const char *name = str(g->v[i]->unit_name)[0] != '\0' ? g->v[i]->unit_name
								      : g->v[i]->unit_code;
		size_t before = line.len;

		if (shown > 0)
			buf_puts(&line, "、");
		md_text(&line, name, CAP_NAME);
		if (line.len > LINE_UNITS_MAX && shown > 0) {
			line.len = before;
			line.data[before] = '\0';
			break;
		}
		shown++;
	}
	if (shown < g->n)
		buf_printf(&line, "等%zu%s", g->n, unit_measure(g->v, g->n));
	doc_add(d, &line, g->n);
}

/* The digest of ev[0..n). */
static void
md_digest(struct md_doc *d, const struct notify_event *ev, size_t n, size_t max_units)
{
	const struct notify_event **v = xcalloc(n, sizeof *v);
	struct digest_group *groups = xcalloc(n, sizeof *groups);
	size_t kinds[NOTIFY_KIND_COUNT] = {0}, sevs[SEV_COUNT] = {0}, ngroups = 0;
	struct buf line;
	const char *sep = "";
	bool same_link = md_link_ok(ev[0].link);

	for (size_t i = 0; i < n; i++) {
		v[i] = &ev[i];
		if ((unsigned)ev[i].kind < NOTIFY_KIND_COUNT)
			kinds[ev[i].kind]++;
		if (ev[i].kind != NOTIFY_RESOLVED && (unsigned)ev[i].severity < SEV_COUNT)
			sevs[ev[i].severity]++;
		if (strcmp(str(ev[i].link), str(ev[0].link)) != 0)
			same_link = false;
	}
	qsort(v, n, sizeof *v, digest_cmp);
	for (size_t i = 0; i < n; i++) {
		struct digest_group *g;

		if (ngroups == 0 || strcmp(str(v[i]->rule_id), str(groups[ngroups - 1].v[0]->rule_id)) != 0 ||
		    v[i]->kind != groups[ngroups - 1].v[0]->kind)
			groups[ngroups++] = (struct digest_group){&v[i], 0, SEV_OK};
		g = &groups[ngroups - 1];
		g->n++;
		if (v[i]->severity > g->severity)
			g->severity = v[i]->severity;
	}
	qsort(groups, ngroups, sizeof *groups, group_cmp);

	buf_init(&line);
	buf_printf(&line, "### 教育监测告警汇总（共%zu条）", n);
	doc_add(d, &line, 0);
	buf_puts(&line, "> ");
	for (int k = 0; k < NOTIFY_KIND_COUNT; k++) {
		if (kinds[k] == 0)
			continue;
		buf_printf(&line, "%s%s %zu", sep, kind_names_zh[k], kinds[k]);
		sep = " · ";
	}
	doc_add(d, &line, 0);
	for (int s = SEV_COUNT - 1; s > SEV_OK; s--)
		if (sevs[s] != 0)
			buf_printf(&line, "%s%s %zu", line.len == 0 ? "> 未恢复：" : " · ",
			    severity_name_zh((enum severity)s), sevs[s]);
	if (line.len > 0)
		doc_add(d, &line, 0);
	for (size_t i = 0; i < ngroups; i++)
		md_group_line(d, &groups[i], max_units);
	if (same_link) {
		buf_printf(&line, "[查看详情](%s)", ev[0].link);
		doc_add(d, &line, 0);
	}
	buf_free(&line);
	free(groups);
	free(v);
}

char *
notify_markdown(const struct notify_event *ev, size_t n, size_t max_units, size_t max_bytes,
    int dingtalk)
{
	struct md_doc d = {NULL, 0, 0, dingtalk};
	char *out;

	if (max_bytes < 256)
		max_bytes = 256;
	if (max_units == 0)
		max_units = 1;
	if (n == 1)
		md_detail(&d, &ev[0]);
	else if (n > 1)
		md_digest(&d, ev, n, max_units);
	out = doc_render(&d, max_bytes);
	doc_free(&d);
	return out;
}

char *
notify_wecom_body(const struct notify_event *ev, size_t n, size_t max_units)
{
	char *md = notify_markdown(ev, n, max_units, NOTIFY_WECOM_MAX_BYTES, 0);
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":");
	buf_json_string(&b, md);
	buf_puts(&b, "}}");
	free(md);
	return buf_steal(&b);
}

char *
notify_dingtalk_body(const struct notify_event *ev, size_t n, size_t max_units)
{
	char *md = notify_markdown(ev, n, max_units, NOTIFY_DINGTALK_MAX_BYTES, 1);
	struct buf b, title;

	buf_init(&title);
	if (n == 1) {
		buf_printf(&title, "【%s】",
		    ev[0].kind == NOTIFY_RESOLVED ? "恢复" : severity_name_zh(ev[0].severity));
		md_text(&title, ev[0].title, CAP_TITLE);
		buf_putc(&title, ' ');
		md_text(&title, str(ev[0].unit_name)[0] != '\0' ? ev[0].unit_name : ev[0].unit_code,
		    CAP_NAME);
	} else
		buf_printf(&title, "教育监测告警汇总 %zu条", n);
	buf_init(&b);
	buf_puts(&b, "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":");
	buf_json_string(&b, title.data);
	buf_puts(&b, ",\"text\":");
	buf_json_string(&b, md);
	buf_puts(&b, "}}");
	buf_free(&title);
	free(md);
	return buf_steal(&b);
}

/* ---- DingTalk signing ---- */

/* Percent-encode everything but RFC 3986's unreserved characters. */
static void
url_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			buf_putc(b, (char)*p);
		else {
			buf_putc(b, '%');
			buf_putc(b, hex[*p >> 4]);
			buf_putc(b, hex[*p & 15]);
		}
	}
}

void
notify_dingtalk_sign(const char *secret, int64_t timestamp_ms,
    char out[NOTIFY_DINGTALK_SIGN_MAX + 1])
{
	unsigned char mac[SHA256_BYTES], b64[4 * ((SHA256_BYTES + 2) / 3) + 1];
	char *msg = xasprintf("%lld\n%s", (long long)timestamp_ms, str(secret));
	struct buf b;

	hmac_sha256(secret, msg, strlen(msg), mac);
	free(msg);
	EVP_EncodeBlock(b64, mac, SHA256_BYTES);
	buf_init(&b);
	url_encode(&b, (const char *)b64);
	snprintf(out, NOTIFY_DINGTALK_SIGN_MAX + 1, "%s", b.data);
	buf_free(&b);
}

char *
notify_dingtalk_url(const char *webhook_url, const char *secret, int64_t timestamp_ms)
{
	char sign[NOTIFY_DINGTALK_SIGN_MAX + 1];

	webhook_url = str(webhook_url);
	if (str(secret)[0] == '\0')
		return xstrdup(webhook_url);
	notify_dingtalk_sign(secret, timestamp_ms, sign);
	return xasprintf("%s%ctimestamp=%lld&sign=%s", webhook_url,
	    strchr(webhook_url, '?') != NULL ? '&' : '?', (long long)timestamp_ms, sign);
}

/* ---- Replies ---- */

enum notify_outcome
notify_http_outcome(int status)
{
	if (status >= 200 && status <= 299)
		return NOTIFY_OK;
	if (status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599))
		return NOTIFY_RETRY;
	return NOTIFY_FAIL;
}

/* What a robot's errcode means. Codes not listed here, other than 0, fail. */
static const struct {
	enum notify_channel ch;
	long code;
	enum notify_outcome outcome;
	const char *why;
} robot_codes[] = {
    {NOTIFY_CH_WECOM, 0, NOTIFY_OK, "ok"},
    {NOTIFY_CH_WECOM, 45009, NOTIFY_RETRY, "rate limited"},
    {NOTIFY_CH_WECOM, -1, NOTIFY_RETRY, "system busy"},
    {NOTIFY_CH_WECOM, 93000, NOTIFY_FAIL, "invalid webhook key"},
    {NOTIFY_CH_DINGTALK, 0, NOTIFY_OK, "ok"},
    {NOTIFY_CH_DINGTALK, 130101, NOTIFY_RETRY, "throttled"},
    {NOTIFY_CH_DINGTALK, -1, NOTIFY_RETRY, "system busy"},
    {NOTIFY_CH_DINGTALK, 310000, NOTIFY_FAIL,
	"security check failed: signature, keyword or IP"},
    {NOTIFY_CH_DINGTALK, 300001, NOTIFY_FAIL, "invalid access token"},
};

enum notify_outcome
notify_robot_reply(enum notify_channel ch, const char *body, size_t len, char **message)
{
	cJSON *root, *code, *msg;
	enum notify_outcome o = NOTIFY_FAIL;
	const char *why = "error";
	long c;

	if (ch != NOTIFY_CH_WECOM && ch != NOTIFY_CH_DINGTALK) {
		if (message != NULL)
			*message = xstrdup("ok");
		return NOTIFY_OK;
	}
	root = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	code = cJSON_GetObjectItemCaseSensitive(root, "errcode");
	/* The range check comes first: converting a huge double to long is undefined. */
	if (!cJSON_IsObject(root) || !cJSON_IsNumber(code) ||
	    !(code->valuedouble >= -1e9 && code->valuedouble <= 1e9) ||
	    code->valuedouble != (double)(long)code->valuedouble) {
		if (message != NULL)
			*message = xasprintf("%s: reply is not a JSON object with an errcode "
					     "(%zu bytes)", notify_channel_name(ch), len);
		cJSON_Delete(root);
		return NOTIFY_RETRY;
	}
	c = (long)code->valuedouble;
	for (size_t i = 0; i < ARRAY_LEN(robot_codes); i++) {
		if (robot_codes[i].ch == ch && robot_codes[i].code == c) {
			o = robot_codes[i].outcome;
			why = robot_codes[i].why;
		}
	}
	if (message != NULL) {
		msg = cJSON_GetObjectItemCaseSensitive(root, "errmsg");
		*message = xasprintf("%s errcode %ld: %.200s (%s)", notify_channel_name(ch), c,
		    cJSON_IsString(msg) ? msg->valuestring : "", why);
	}
	cJSON_Delete(root);
	return o;
}

/* ---- Retries ---- */

int64_t
notify_backoff_ceiling(const struct notify_retry_policy *p, int attempt)
{
	int64_t c = p->base_ms > 0 ? p->base_ms : 1;

	for (int i = 1; i < attempt && c < p->cap_ms; i++)
		c = c > p->cap_ms / 2 ? p->cap_ms : 2 * c;
	return c < p->cap_ms ? c : p->cap_ms;
}

int
notify_retry_next(const struct notify_retry_policy *p, int attempt, int64_t first_ms,
    int64_t now_ms, uint64_t rnd, int64_t retry_after_ms, int64_t *delay_ms)
{
	int64_t delay;

	if (retry_after_ms >= 0)
		delay = retry_after_ms;
	else {
		uint64_t ceiling = (uint64_t)notify_backoff_ceiling(p, attempt < 1 ? 1 : attempt);

		delay = (int64_t)(rnd % (ceiling + 1));
	}
	if (delay > first_ms + p->horizon_ms - now_ms)
		return -1;
	*delay_ms = delay;
	return 0;
}

static const char *const month_names[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_names_long[7] = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

/* Read exactly n digits at *s into *out, advancing *s. */
static int
digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

/* Match literal text at *s, advancing. */
static int
lit(const char **s, const char *text)
{
	size_t n = strlen(text);

	if (strncmp(*s, text, n) != 0)
		return -1;
	*s += n;
	return 0;
}

/* Match one of names[0..n) at *s; its index into *out. */
static int
name_of(const char **s, const char *const *names, int n, int *out)
{
	for (int i = 0; i < n; i++) {
		if (lit(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

/* "HH:MM:SS" */
static int
clock_time(const char **s, int *sec)
{
	int h, m, x;

	if (digits(s, 2, &h) || lit(s, ":") || digits(s, 2, &m) || lit(s, ":") ||
	    digits(s, 2, &x) || h > 23 || m > 59 || x > 60)
		return -1;
	*sec = h * 3600 + m * 60 + (x > 59 ? 59 : x);
	return 0;
}

/* An HTTP-date in any of its three forms, as Unix seconds. */
static int
http_date(const char *s, int64_t *out)
{
	int wday, d, mon, y, sec;
	int32_t days;
	const char *p = s;

	if (name_of(&p, day_names_long, 7, &wday) == 0) {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT; two-digit years within 50 years. */
		if (lit(&p, ", ") || digits(&p, 2, &d) || lit(&p, "-") ||
		    name_of(&p, month_names, 12, &mon) || lit(&p, "-") || digits(&p, 2, &y) ||
		    lit(&p, " ") || clock_time(&p, &sec) || lit(&p, " GMT") || *p != '\0')
			return -1;
		y += y < 70 ? 2000 : 1900;
	} else if (name_of(&p, day_names, 7, &wday) == 0 && *p == ',') {
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		if (lit(&p, ", ") || digits(&p, 2, &d) || lit(&p, " ") ||
		    name_of(&p, month_names, 12, &mon) || lit(&p, " ") || digits(&p, 4, &y) ||
		    lit(&p, " ") || clock_time(&p, &sec) || lit(&p, " GMT") || *p != '\0')
			return -1;
	} else if (p != s) {
		/* asctime: Sun Nov  6 08:49:37 1994 */
		if (lit(&p, " ") || name_of(&p, month_names, 12, &mon) || lit(&p, " "))
			return -1;
		if (*p == ' ')
			p++;
		if (digits(&p, p[1] >= '0' && p[1] <= '9' ? 2 : 1, &d) || lit(&p, " ") ||
		    clock_time(&p, &sec) || lit(&p, " ") || digits(&p, 4, &y) || *p != '\0')
			return -1;
	} else
		return -1;
	(void)wday; /* the weekday is redundant; a wrong one does not change the date */
	if (date_make(y, mon + 1, d, &days) != 0)
		return -1;
	*out = (int64_t)days * 86400 + sec;
	return 0;
}

int
notify_retry_after_parse(const char *value, int64_t now, int64_t *seconds)
{
	long long v;
	int64_t t;

	if (value == NULL)
		return -1;
	if (value[0] >= '0' && value[0] <= '9') {
		if (parse_ll(value, 0, (long long)1 << 40, &v) != 0)
			return -1;
		*seconds = v;
		return 0;
	}
	if (http_date(value, &t) != 0)
		return -1;
	*seconds = t > now ? t - now : 0;
	return 0;
}
