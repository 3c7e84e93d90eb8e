/*
 * loadgen.c: edumon-bench, the load generator behind `make bench`.
 *
 * HTTP phase (--port): N keep-alive HTTP/1.1 connections to edumond on
 * 127.0.0.1, one request in flight on each, post submissions for a warm-up
 * and then for a fixed duration or request budget; record the latency of
 * every measured 201 and count every other status as an error (the first
 * body of each status is printed once).
 *
 * COPY phase (--copy CONNINFO): load the very same observation rows with one
 * COPY ... FROM STDIN into edumon.observation of another database of the same
 * schema, time it (COMMIT included), and print both rates and their ratio.
 *
 * What one submission holds is fixed by the catalog and the school list (see
 * plan_build): one school, one month; every monthly metric the school
 * reports, topped up to --observations with daily metrics on the first days
 * of that month. Submission n goes to school n % S and month first + n / S,
 * so no two submissions share an (school, metric, period_start) key and the
 * load measures inserts. With --corrections K, submission n reuses slot
 * n % K with new values, so every submission after the first K replaces
 * rows: the correction path.
 *
 * Invariants: single-threaded, one event loop; a submission is a pure
 * function of its index n (and --seed), so the COPY phase writes exactly the
 * rows the HTTP phase sent; the program stops by itself (duration or budget,
 * then a hard deadline); a connection object is never freed inside its own
 * bufferevent callback: failures arm a timer that frees and reconnects.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "bench.h"
#include "catalog.h"
#include "csv.h"
#include "period.h"
#include "registry.h"
#include "util.h"

#define MAX_OBS 256
#define MAX_STATUS 600
#define ERR_BODY_MAX 2000

/* One school of the load: its code and stage mask (0 = unknown, any). */
struct school {
	char *code;
	unsigned stages;
};

/* One observation slot of a submission: a metric, reported for the month
 * (day 0) or for day `day` of that month. */
struct item {
	const struct metric *m;
	int day;
};

/* The submission generator: everything that decides submission n. */
struct gen {
	struct catalog *cat;
	struct school *schools;
	size_t nschools;
	struct item items[MAX_OBS];
	size_t nitems;
	int first_month;   /* year * 12 + month - 1 */
	uint64_t max_slot; /* (school, month) slots before a month is not yet over */
	uint64_t corrections; /* 0: inserts; K: reuse slots 0..K-1 */
	uint64_t seed;
};

/* One generated observation. */
struct gen_obs {
	size_t school;
	const struct metric *m;
	char period[PERIOD_STR_MAX];
	struct period p;
	bool ratio;
	double value;
	long long num, den;
};

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };

/* A client connection's states; one request in flight at most. */
enum conn_state {
	CONN_CONNECTING, /* TCP connect in progress */
	CONN_IDLE,       /* connected, nothing in flight */
	CONN_STATUS,     /* request sent, waiting for the status line */
	CONN_HEADERS,    /* reading header lines */
	CONN_BODY,       /* reading Content-Length bytes of body */
	CONN_DEAD        /* failed or closed; the restart timer takes over */
};

struct bench;

struct conn {
	struct bench *b;
	struct bufferevent *bev;
	struct event *restart_ev;
	enum conn_state state;
	int64_t sent_at;
	bool measured;
	bool close_after;
	int status;
	long long content_length;
	bool on_idle_list;
	struct buf body;
};

struct bench {
	struct event_base *base;
	struct gen *gen;
	struct conn *conns;
	int nconns;
	int port;
	char *auth_header;
	int timeout_s;
	long long budget; /* measured requests, 0 = by duration */
	double duration_s;
	double warmup_s;
	double rate; /* submissions/s offered; 0: closed loop */

	enum phase phase;
	uint64_t next_n;
	uint64_t warm_end, measure_end_n; /* index ranges of the phases */
	long long measured_sent;
	int inflight;
	int64_t started_at, measure_start, last_done;
	struct event *phase_ev, *deadline_ev, *sigint_ev, *pace_ev;
	/* Paced mode: request k is due at pace_start + k / rate; connections
	 * with nothing due wait on the idle list. */
	int64_t pace_start;
	uint64_t paced;
	struct conn **idle;
	int nidle;
	int64_t max_lag;
	int sigints;
	bool out_of_slots;
	bool timed_out;

	/* Results of measured requests. */
	int64_t *lat;
	size_t nlat, caplat;
	long long status_count[MAX_STATUS];
	long long conn_errors, timeouts, reconnects, sent_total;
	bool status_shown[MAX_STATUS];
	bool conn_error_shown;
	struct buf req;
};

static const char *prog = "edumon-bench";

static void conn_send_next(struct conn *c);
static void conn_fail(struct conn *c, const char *why);
static void bench_check_done(struct bench *b);

static void PRINTFLIKE(1, 2) NORETURN
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}


char *
read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	if (ferror(f)) {
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	*lenp = b.len;
	buf_putc(&b, '\0');
	return buf_steal(&b);
}

/* Index of column name in a header row, or -1. */
static int
csv_col(const struct csv_row *hdr, const char *name)
{
	for (size_t i = 0; i < hdr->nfields; i++)
		if (strcmp(hdr->fields[i], name) == 0)
			return (int)i;
	return -1;
}

/*
 * Load the schools: arg is a registry CSV (header code,name,kind,...,stages;
 * rows of kind "school" are taken) or, if no such file exists, a
 * comma-separated list of school codes. Dies on error.
 */
static void
schools_load(struct gen *g, const char *arg)
{
	size_t len;
	char *text = read_file(arg, &len);
	struct csv_doc *doc;
	char *cause = NULL;

	if (text == NULL) {
		char *list = xstrdup(arg), *save = NULL;

		for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
			g->schools = xreallocarray(g->schools, g->nschools + 1, sizeof *g->schools);
			g->schools[g->nschools].code = xstrdup(t);
			g->schools[g->nschools++].stages = 0;
		}
		free(list);
		if (g->nschools == 0)
			die("--schools %s: neither a readable file nor a list of codes", arg);
		return;
	}
	if (csv_parse(text, len, &doc, &cause) < 0)
		die("%s: %s", arg, cause);
	if (doc->nrows < 2)
		die("%s: no rows", arg);
	int ccode = csv_col(&doc->rows[0], "code");
	int ckind = csv_col(&doc->rows[0], "kind");
	int cstages = csv_col(&doc->rows[0], "stages");

	if (ccode < 0)
		die("%s: no \"code\" column in the header", arg);
	for (size_t i = 1; i < doc->nrows; i++) {
		const struct csv_row *r = &doc->rows[i];
		unsigned mask = 0;

		if (ckind >= 0 && ((size_t)ckind >= r->nfields ||
		    strcmp(r->fields[ckind], "school") != 0))
			continue;
		if ((size_t)ccode >= r->nfields)
			die("%s: line %zu: too few fields", arg, r->line);
		if (cstages >= 0 && (size_t)cstages < r->nfields &&
		    stages_parse(r->fields[cstages], '|', &mask, &cause) < 0)
			die("%s: line %zu: %s", arg, r->line, cause);
		g->schools = xreallocarray(g->schools, g->nschools + 1, sizeof *g->schools);
		g->schools[g->nschools].code = xstrdup(r->fields[ccode]);
		g->schools[g->nschools++].stages = mask;
	}
	csv_doc_free(doc);
	free(text);
	if (g->nschools == 0)
		die("%s: no school rows", arg);
}

/* True if every school of the load may report m. */
static bool
metric_fits(const struct gen *g, const struct metric *m)
{
	if ((m->unit_kinds & UNIT_KIND_BIT(UNIT_SCHOOL)) == 0)
		return false;
	for (size_t i = 0; i < g->nschools; i++) {
		unsigned s = g->schools[i].stages;

		if (m->stages != 0 && s != 0 && (m->stages & s) == 0)
			return false;
	}
	return true;
}

/*
 * Decide what one submission holds: every monthly metric the schools report
 * (catalog order), then daily metrics on days 1, 2, ... of the month, round
 * robin, until nobs observations. Dies if the catalog cannot fill nobs.
 */
static void
plan_build(struct gen *g, size_t nobs)
{
	const struct metric *daily[MAX_OBS];
	size_t ndaily = 0;

	for (size_t i = 0; i < catalog_count(g->cat) && g->nitems < nobs; i++) {
		const struct metric *m = catalog_get(g->cat, i);

		if (!metric_fits(g, m))
			continue;
		if (m->period_kind == PERIOD_MONTH)
			g->items[g->nitems++] = (struct item){.m = m, .day = 0};
		else if (m->period_kind == PERIOD_DAY && ndaily < MAX_OBS)
			daily[ndaily++] = m;
	}
	for (int day = 1; day <= 28 && ndaily > 0 && g->nitems < nobs; day++)
		for (size_t i = 0; i < ndaily && g->nitems < nobs; i++)
			g->items[g->nitems++] = (struct item){.m = daily[i], .day = day};
	if (g->nitems < nobs)
		die("the catalog has only %zu monthly/daily observations a school can report "
		    "in one month; asked for %zu", g->nitems, nobs);
}

/* Print what one submission holds (for the report). */
static void
plan_print(const struct gen *g)
{
	size_t nmonth = 0;
	int maxday = 0;

	printf("submission: 1 school, 1 month: ");
	for (size_t i = 0; i < g->nitems; i++) {
		if (g->items[i].day == 0)
			nmonth++;
		if (g->items[i].day > maxday)
			maxday = g->items[i].day;
	}
	printf("%zu monthly metrics", nmonth);
	if (maxday > 0) {
		printf(" + %zu daily observations on days 1-%d of that month (",
		    g->nitems - nmonth, maxday);
		for (size_t i = 0, k = 0; i < g->nitems; i++) {
			if (g->items[i].day != 1)
				continue;
			printf("%s%s", k++ ? ", " : "", g->items[i].m->code);
		}
		printf(")");
	}
	printf(" = %zu observations\n", g->nitems);
	printf("metrics:");
	for (size_t i = 0; i < g->nitems; i++)
		if (g->items[i].day <= 1)
			printf(" %s(%s,%s)", g->items[i].m->code, metric_kind_name(g->items[i].m->kind),
			    period_kind_name(g->items[i].m->period_kind));
	printf("\n");
}

/*
 * A value of metric m from the random h, inside [min, max] and, to look like
 * real figures, near the low end: rates below a tenth of the range above
 * min, counts 0..19 above min, values within 120 above min.
 */
static void
gen_value(const struct metric *m, uint64_t h, struct gen_obs *o)
{
	switch (m->kind) {
	case METRIC_RATE: {
		long long den = 20 + (long long)(h % 981);
		long long lo = (long long)ceil(m->min * (double)den);
		long long hi = (long long)floor(m->max * (double)den);

		if (lo < 0)
			lo = 0;
		if (hi > den)
			hi = den;
		while (lo <= hi && (double)lo / (double)den < m->min)
			lo++;
		while (hi >= lo && (double)hi / (double)den > m->max)
			hi--;
		if (lo > hi)
			lo = hi = den; /* a degenerate range; the daemon will say */
		o->ratio = true;
		o->den = den;
		if (hi > lo + den / 10)
			hi = lo + den / 10;
		o->num = lo + (long long)((h >> 20) % (uint64_t)(hi - lo + 1));
		o->value = (double)o->num / (double)o->den;
		break;
	}
	case METRIC_COUNT: {
		double lo = ceil(m->min), hi = floor(m->max);
		double span = hi - lo + 1 > 20 ? 20 : hi - lo + 1;

		if (span < 1)
			span = 1;
		o->value = lo + (double)((h >> 8) % (uint64_t)span);
		break;
	}
	default: {
		/* Hundredths, so that the JSON text and the COPY value agree. */
		double lo = ceil(m->min * 100), hi = floor(m->max * 100);
		double span = hi - lo + 1 > 12000 ? 12000 : hi - lo + 1;
		double k;

		if (span < 1)
			span = 1;
		k = lo + (double)((h >> 8) % (uint64_t)span);
		o->value = k / 100.0;
		break;
	}
	}
}

/* Fill out[] with the observations of submission n; returns how many. */
static size_t
gen_submission(const struct gen *g, uint64_t n, struct gen_obs *out)
{
	uint64_t slot = g->corrections ? n % g->corrections : n;
	uint64_t round = g->corrections ? n / g->corrections : 0;
	size_t school = (size_t)(slot % g->nschools);
	int mi = g->first_month + (int)(slot / g->nschools);
	int y = mi / 12, mo = mi % 12 + 1;

	for (size_t i = 0; i < g->nitems; i++) {
		struct gen_obs *o = &out[i];
		int day = g->items[i].day;

		memset(o, 0, sizeof *o);
		o->school = school;
		o->m = g->items[i].m;
		period_containing(day == 0 ? PERIOD_MONTH : PERIOD_DAY,
		    date_from_civil(y, mo, day == 0 ? 1 : day), &o->p);
		period_format(&o->p, o->period, sizeof o->period);
		gen_value(o->m, hash_mix64(hash_mix64(slot * MAX_OBS + i) ^ (round + g->seed)), o);
	}
	return g->nitems;
}

/* The JSON body of submission n: one object per period, in an array when
 * there is more than one. */
static void
gen_body(const struct gen *g, uint64_t n, struct buf *out)
{
	struct gen_obs obs[MAX_OBS];
	size_t nobs = gen_submission(g, n, obs);
	bool multi = false;

	for (size_t i = 1; i < nobs; i++)
		if (strcmp(obs[i].period, obs[0].period) != 0)
			multi = true;
	buf_reset(out);
	if (multi)
		buf_putc(out, '[');
	for (size_t i = 0; i < nobs; i++) {
		if (i == 0 || strcmp(obs[i].period, obs[i - 1].period) != 0) {
			if (i > 0)
				buf_puts(out, "}},");
			buf_puts(out, "{\"school\":");
			buf_json_string(out, g->schools[obs[i].school].code);
			buf_puts(out, ",\"period\":");
			buf_json_string(out, obs[i].period);
			buf_puts(out, ",\"metrics\":{");
		} else {
			buf_putc(out, ',');
		}
		buf_json_string(out, obs[i].m->code);
		buf_putc(out, ':');
		if (obs[i].ratio)
			buf_printf(out, "{\"numerator\":%lld,\"denominator\":%lld}", obs[i].num,
			    obs[i].den);
		else if (obs[i].m->kind == METRIC_COUNT)
			buf_printf(out, "%.0f", obs[i].value);
		else
			buf_printf(out, "%.2f", obs[i].value);
	}
	buf_puts(out, "}}");
	if (multi)
		buf_putc(out, ']');
}

/* ---- HTTP phase ---------------------------------------------------------- */

static bool
bench_may_send(struct bench *b)
{
	if (b->phase == PHASE_DONE)
		return false;
	if (b->gen->corrections == 0 && b->next_n >= b->gen->max_slot) {
		if (!b->out_of_slots)
			fprintf(stderr, "%s: out of (school, month) slots after %llu submissions: "
					"use more schools or an earlier --first-month\n",
			    prog, (unsigned long long)b->next_n);
		b->out_of_slots = true;
		return false;
	}
	if (b->phase == PHASE_MEASURE && b->budget > 0 && b->measured_sent >= b->budget)
		return false;
	return true;
}

static void
bench_enter_done(struct bench *b)
{
	if (b->phase == PHASE_DONE)
		return;
	if (b->phase == PHASE_WARMUP) {
		b->warm_end = b->next_n;
		b->measure_start = now_usec();
	}
	b->phase = PHASE_DONE;
	b->measure_end_n = b->next_n;
	bench_check_done(b);
}

static void
bench_check_done(struct bench *b)
{
	if (b->phase != PHASE_DONE) {
		if (!bench_may_send(b))
			bench_enter_done(b);
		return;
	}
	if (b->inflight == 0)
		event_base_loopexit(b->base, NULL);
}

static void
record_latency(struct bench *b, int64_t us)
{
	if (b->nlat == b->caplat) {
		b->caplat = b->caplat ? b->caplat * 2 : 65536;
		b->lat = xreallocarray(b->lat, b->caplat, sizeof *b->lat);
	}
	b->lat[b->nlat++] = us;
}

/* A complete response has been read. */
static void
conn_response_done(struct conn *c)
{
	struct bench *b = c->b;
	int64_t now = now_usec();

	b->inflight--;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	if (c->measured) {
		int st = c->status > 0 && c->status < MAX_STATUS ? c->status : 0;

		b->status_count[st]++;
		b->last_done = now;
		if (st == 201)
			record_latency(b, now - c->sent_at);
	}
	if (c->status != 201 && c->status > 0 && c->status < MAX_STATUS &&
	    !b->status_shown[c->status]) {
		b->status_shown[c->status] = true;
		fprintf(stderr, "%s: HTTP %d (first of its kind): %.*s\n", prog, c->status,
		    (int)(c->body.len < ERR_BODY_MAX ? c->body.len : ERR_BODY_MAX),
		    c->body.data ? c->body.data : "");
	}
	c->state = CONN_IDLE;
	if (c->close_after) {
		conn_fail(c, NULL);
		return;
	}
	conn_send_next(c);
	bench_check_done(b);
}

/* Parse "HTTP/1.1 201 Created"; the status or -1. */
static int
parse_status_line(const char *line)
{
	int st;

	if (strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
		return -1;
	if (sscanf(line + 9, "%3d", &st) != 1 || st < 100 || st > 599)
		return -1;
	return st;
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		char *line;
		size_t n;

		switch (c->state) {
		case CONN_STATUS:
			if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
				return;
			c->status = parse_status_line(line);
			free(line);
			if (c->status < 0) {
				conn_fail(c, "malformed status line");
				return;
			}
			c->content_length = -1;
			c->close_after = false;
			c->state = CONN_HEADERS;
			break;
		case CONN_HEADERS:
			if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
				return;
			if (n == 0) {
				free(line);
				if (c->content_length < 0) {
					conn_fail(c, "response without Content-Length");
					return;
				}
				c->state = CONN_BODY;
				break;
			}
			if (strncasecmp(line, "Content-Length:", 15) == 0) {
				long long v;
				const char *p = line + 15;

				while (*p == ' ' || *p == '\t')
					p++;
				if (parse_ll(p, 0, 1LL << 30, &v) < 0) {
					free(line);
					conn_fail(c, "bad Content-Length");
					return;
				}
				c->content_length = v;
			} else if (strncasecmp(line, "Connection:", 11) == 0 &&
			    strstr(line + 11, "close") != NULL) {
				c->close_after = true;
			} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
				free(line);
				conn_fail(c, "chunked responses are not supported");
				return;
			}
			free(line);
			break;
		case CONN_BODY:
			if (evbuffer_get_length(in) < (size_t)c->content_length)
				return;
			buf_reset(&c->body);
			if (c->status != 201 && c->content_length > 0) {
				buf_reserve(&c->body, (size_t)c->content_length + 1);
				evbuffer_remove(in, c->body.data, (size_t)c->content_length);
				c->body.len = (size_t)c->content_length;
				c->body.data[c->body.len] = '\0';
			} else {
				evbuffer_drain(in, (size_t)c->content_length);
			}
			conn_response_done(c);
			return;
		default:
			if (evbuffer_get_length(in) > 0)
				conn_fail(c, "data without a request");
			return;
		}
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->state = CONN_IDLE;
		conn_send_next(c);
		bench_check_done(c->b);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		c->b->timeouts++;
		conn_fail(c, "request timed out");
	} else if (what & BEV_EVENT_EOF) {
		conn_fail(c, c->state == CONN_IDLE ? NULL : "connection closed mid-request");
	} else {
		char why[160];

		snprintf(why, sizeof why, "%s: %s",
		    c->state == CONN_CONNECTING ? "connect" : "socket", strerror(errno));
		conn_fail(c, why);
	}
}

/* Open the TCP connection; failures go through conn_fail. */
static void
conn_open(struct conn *c)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)c->b->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->bev = bufferevent_socket_new(c->b->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		die("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
		die("bufferevent_enable failed");
	c->state = CONN_CONNECTING;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof sin) < 0) {
		char why[160];

		snprintf(why, sizeof why, "connect: %s", strerror(errno));
		conn_fail(c, why);
	}
}

/* The restart timer: free the dead bufferevent, reconnect if still useful. */
static void
conn_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (bench_may_send(c->b)) {
		c->b->reconnects++;
		conn_open(c);
	}
	bench_check_done(c->b);
}

/*
 * The connection failed or was closed. A request in flight counts as an
 * error; why (NULL for an orderly close) is printed the first time. The
 * bufferevent is freed later, by the restart timer, never here.
 */
static void
conn_fail(struct conn *c, const char *why)
{
	struct bench *b = c->b;
	bool in_flight = c->state == CONN_STATUS || c->state == CONN_HEADERS ||
	    c->state == CONN_BODY;
	struct timeval delay = {0, c->state == CONN_CONNECTING ? 200000 : 0};

	if (c->state == CONN_DEAD)
		return;
	if (in_flight) {
		b->inflight--;
		if (c->measured)
			b->conn_errors++;
	} else if (c->state == CONN_CONNECTING) {
		b->conn_errors++;
	}
	if (why != NULL && !b->conn_error_shown) {
		b->conn_error_shown = true;
		fprintf(stderr, "%s: connection error (first of its kind): %s\n", prog, why);
	}
	c->state = CONN_DEAD;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (event_add(c->restart_ev, &delay) < 0)
		die("event_add failed");
	bench_check_done(b);
}

/* Send the next submission on an idle connection, if the phase allows. */
static void
conn_send_next(struct conn *c)
{
	struct bench *b = c->b;
	struct evbuffer *out;
	struct timeval tv = {b->timeout_s, 0};
	int64_t now = now_usec(), intended = now;

	if (c->state != CONN_IDLE || !bench_may_send(b))
		return;
	if (b->rate > 0) {
		intended = b->pace_start + (int64_t)((double)b->paced * 1e6 / b->rate);
		if (intended > now) {
			if (!c->on_idle_list) {
				c->on_idle_list = true;
				b->idle[b->nidle++] = c;
			}
			return;
		}
		b->paced++;
		if (now - intended > b->max_lag)
			b->max_lag = now - intended;
	}
	gen_body(b->gen, b->next_n, &b->req);
	b->next_n++;
	c->measured = b->phase == PHASE_MEASURE;
	if (c->measured)
		b->measured_sent++;
	b->sent_total++;
	out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out,
	    "POST /v1/submissions HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\n"
	    "%s"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "\r\n",
	    b->port, b->auth_header, b->req.len);
	evbuffer_add(out, b->req.data, b->req.len);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	c->state = CONN_STATUS;
	c->status = 0;
	/* Paced: latency counts from when the request was due, so that a
	 * server falling behind shows in the figures (no coordinated omission). */
	c->sent_at = intended;
	b->inflight++;
}

/* Paced mode: hand the requests now due to idle connections. */
static void
pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	(void)fd;
	(void)what;
	while (b->nidle > 0 && bench_may_send(b) &&
	    b->pace_start + (int64_t)((double)b->paced * 1e6 / b->rate) <= now_usec()) {
		struct conn *c = b->idle[--b->nidle];

		c->on_idle_list = false;
		conn_send_next(c);
	}
	bench_check_done(b);
}

static void
phase_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	(void)fd;
	(void)what;
	if (b->phase == PHASE_WARMUP) {
		struct timeval tv;

		b->phase = PHASE_MEASURE;
		b->warm_end = b->next_n;
		b->measure_start = now_usec();
		if (b->budget == 0) {
			tv.tv_sec = (time_t)b->duration_s;
			tv.tv_usec = (suseconds_t)((b->duration_s - (double)tv.tv_sec) * 1e6);
			if (event_add(b->phase_ev, &tv) < 0)
				die("event_add failed");
		}
		/* Idle connections (budget reached in warm-up is impossible) go on. */
		for (int i = 0; i < b->nconns; i++)
			conn_send_next(&b->conns[i]);
		bench_check_done(b);
	} else {
		bench_enter_done(b);
	}
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	(void)fd;
	(void)what;
	fprintf(stderr, "%s: hard deadline reached with %d requests in flight; giving up\n",
	    prog, b->inflight);
	b->timed_out = true;
	event_base_loopexit(b->base, NULL);
}

static void
sigint_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	(void)fd;
	(void)what;
	if (++b->sigints > 1) {
		event_base_loopexit(b->base, NULL);
		return;
	}
	fprintf(stderr, "%s: interrupted: draining %d requests\n", prog, b->inflight);
	bench_enter_done(b);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, in milliseconds. */
static double
pct_ms(const int64_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p * (double)n);
	if (k == 0)
		k = 1;
	return (double)v[k - 1] / 1000.0;
}

/* Run the HTTP phase; returns the measured observation rate (obs/s), or -1. */
static double
http_run(struct bench *b)
{
	struct timeval tv;
	double elapsed, max_s;
	long long ok, errors = 0;

	b->base = event_base_new();
	if (b->base == NULL)
		die("event_base_new failed");
	b->phase_ev = evtimer_new(b->base, phase_cb, b);
	b->deadline_ev = evtimer_new(b->base, deadline_cb, b);
	b->sigint_ev = evsignal_new(b->base, SIGINT, sigint_cb, b);
	b->pace_ev = event_new(b->base, -1, EV_PERSIST, pace_cb, b);
	if (b->phase_ev == NULL || b->deadline_ev == NULL || b->sigint_ev == NULL ||
	    b->pace_ev == NULL)
		die("event_new failed");
	if (event_add(b->sigint_ev, NULL) < 0)
		die("event_add failed");
	b->conns = xcalloc((size_t)b->nconns, sizeof *b->conns);
	b->idle = xcalloc((size_t)b->nconns, sizeof *b->idle);
	b->started_at = now_usec();
	b->pace_start = b->started_at;
	if (b->rate > 0) {
		struct timeval tick = {0, 1000};

		if (event_add(b->pace_ev, &tick) < 0)
			die("event_add failed");
	}
	if (b->warmup_s > 0) {
		b->phase = PHASE_WARMUP;
		tv.tv_sec = (time_t)b->warmup_s;
		tv.tv_usec = (suseconds_t)((b->warmup_s - (double)tv.tv_sec) * 1e6);
	} else {
		b->phase = PHASE_MEASURE;
		b->measure_start = b->started_at;
		tv.tv_sec = (time_t)b->duration_s;
		tv.tv_usec = (suseconds_t)((b->duration_s - (double)tv.tv_sec) * 1e6);
	}
	if ((b->warmup_s > 0 || b->budget == 0) && event_add(b->phase_ev, &tv) < 0)
		die("event_add failed");
	max_s = b->warmup_s + (b->budget ? 3600 : b->duration_s) + b->timeout_s + 10;
	tv.tv_sec = (time_t)max_s;
	tv.tv_usec = 0;
	if (event_add(b->deadline_ev, &tv) < 0)
		die("event_add failed");
	for (int i = 0; i < b->nconns; i++) {
		struct conn *c = &b->conns[i];

		c->b = b;
		buf_init(&c->body);
		c->restart_ev = evtimer_new(b->base, conn_restart_cb, c);
		if (c->restart_ev == NULL)
			die("evtimer_new failed");
		conn_open(c);
	}
	event_base_dispatch(b->base);
	if (b->phase != PHASE_DONE) {
		b->measure_end_n = b->next_n;
		if (b->phase == PHASE_WARMUP)
			b->warm_end = b->next_n;
	}

	for (int i = 0; i < b->nconns; i++) {
		struct conn *c = &b->conns[i];

		if (c->bev != NULL)
			bufferevent_free(c->bev);
		event_free(c->restart_ev);
		buf_free(&c->body);
	}
	free(b->conns);
	free(b->idle);
	event_free(b->pace_ev);
	event_free(b->phase_ev);
	event_free(b->deadline_ev);
	event_free(b->sigint_ev);
	event_base_free(b->base);

	ok = b->status_count[201];
	for (int s = 0; s < MAX_STATUS; s++)
		if (s != 201)
			errors += b->status_count[s];
	errors += b->conn_errors;
	elapsed = (double)((b->last_done > b->measure_start ? b->last_done : now_usec()) -
			 b->measure_start) / 1e6;
	qsort(b->lat, b->nlat, sizeof *b->lat, cmp_i64);

	printf("http: %d connections, warm-up %.0f s (%llu submissions), measured %.3f s\n",
	    b->nconns, b->warmup_s, (unsigned long long)b->warm_end, elapsed);
	if (b->rate > 0)
		printf("http: paced at %.1f submissions/s offered; latency counts from when each "
		       "request was due; worst start lag %.1f ms\n",
		    b->rate, (double)b->max_lag / 1000.0);
	printf("http: %lld measured submissions: %lld x 201, %lld errors", b->measured_sent, ok,
	    errors);
	for (int s = 0; s < MAX_STATUS; s++)
		if (s != 201 && b->status_count[s] > 0)
			printf(", %lld x %d", b->status_count[s], s);
	if (b->conn_errors)
		printf(", %lld connection errors (%lld timeouts)", b->conn_errors, b->timeouts);
	if (b->reconnects)
		printf(", %lld reconnects", b->reconnects);
	printf("\n");
	if (ok == 0 || elapsed <= 0) {
		printf("edumon: nothing committed\n");
		return -1;
	}
	double rate = (double)ok * (double)b->gen->nitems / elapsed;

	printf("edumon: %lld observations committed in %.3f s = %.0f obs/s (%.1f submissions/s)\n",
	    ok * (long long)b->gen->nitems, elapsed, rate, (double)ok / elapsed);
	printf("latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%zu samples)\n",
	    pct_ms(b->lat, b->nlat, 0.50), pct_ms(b->lat, b->nlat, 0.90),
	    pct_ms(b->lat, b->nlat, 0.99), pct_ms(b->lat, b->nlat, 1.0), b->nlat);
	return b->timed_out ? -1 : rate;
}

/* ---- COPY phase ---------------------------------------------------------- */

/* Look a code up in a (code, id) result; dies if absent. */
static int
id_of(PGresult *res, const char *code, const char *what)
{
	int lo = 0, hi = PQntuples(res) - 1;

	/* The query orders by code with COLLATE "C", hence strcmp. */
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = strcmp(PQgetvalue(res, mid, 0), code);

		if (c == 0)
			return atoi(PQgetvalue(res, mid, 1));
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	die("copy: %s \"%s\" is not in the database", what, code);
}

/* Append the COPY text rows of submissions [from, to) to out. */
static void
copy_rows(const struct gen *g, uint64_t from, uint64_t to, const int *unit_ids,
    const int *metric_ids, int submitter, struct buf *out)
{
	struct gen_obs obs[MAX_OBS];

	for (uint64_t n = from; n < to; n++) {
		size_t nobs = gen_submission(g, n, obs);
		char sid[37];

		uuid_v4(sid);
		for (size_t i = 0; i < nobs; i++) {
			const struct gen_obs *o = &obs[i];
			char ps[16], pe[16];
			size_t mi = 0;

			while (g->items[mi].m != o->m)
				mi++;
			date_format(o->p.start, ps, sizeof ps);
			date_format(o->p.end, pe, sizeof pe);
			buf_printf(out, "%d\t%d\t%s\t%s\t%s\t%.17g\t", unit_ids[o->school],
			    metric_ids[mi], ps, pe, o->period, o->value);
			if (o->ratio)
				buf_printf(out, "%lld\t%lld", o->num, o->den);
			else
				buf_puts(out, "\\N\t\\N");
			buf_printf(out, "\t1\t%d\t%s\n", submitter, sid);
		}
	}
}

static void
pq_exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		die("copy: %s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

/* One COPY of data; returns seconds from the COPY command to its commit. */
static double
copy_send(PGconn *conn, const struct buf *data)
{
	static const char copy_sql[] =
	    "COPY edumon.observation (unit_id, metric_id, period_start, period_end, period, "
	    "value, numerator, denominator, revision, submission_unit_id, submission_id) "
	    "FROM STDIN";
	int64_t t0 = now_usec();
	PGresult *res = PQexec(conn, copy_sql);

	if (PQresultStatus(res) != PGRES_COPY_IN)
		die("copy: %s", PQerrorMessage(conn));
	PQclear(res);
	for (size_t off = 0; off < data->len; off += 65536) {
		size_t n = data->len - off < 65536 ? data->len - off : 65536;

		if (PQputCopyData(conn, data->data + off, (int)n) != 1)
			die("copy: PQputCopyData: %s", PQerrorMessage(conn));
	}
	if (PQputCopyEnd(conn, NULL) != 1)
		die("copy: PQputCopyEnd: %s", PQerrorMessage(conn));
	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die("copy: %s", PQerrorMessage(conn));
		PQclear(res);
	}
	return (double)(now_usec() - t0) / 1e6;
}

/*
 * Load the rows of submissions [0, warm) untimed, then those of [warm, end)
 * timed, each with one autocommitted COPY. Returns rows per second.
 */
static double
copy_run(const struct gen *g, const char *conninfo, uint64_t warm, uint64_t end)
{
	PGconn *conn = PQconnectdb(conninfo);
	PGresult *units, *metrics, *set, *res;
	int *unit_ids, metric_ids[MAX_OBS], submitter;
	struct buf data;
	double secs, rate;
	size_t rows;

	if (PQstatus(conn) != CONNECTION_OK)
		die("copy: %s", PQerrorMessage(conn));
	pq_exec_ok(conn, "SET search_path = edumon");
	units = PQexec(conn, "SELECT code, id, parent_id FROM edumon.org_unit "
			     "ORDER BY code COLLATE \"C\"");
	metrics = PQexec(conn, "SELECT code, id FROM edumon.metric ORDER BY code COLLATE \"C\"");
	set = PQexec(conn, "SELECT current_setting('synchronous_commit'), current_setting('fsync')");
	if (PQresultStatus(units) != PGRES_TUPLES_OK || PQresultStatus(metrics) != PGRES_TUPLES_OK ||
	    PQresultStatus(set) != PGRES_TUPLES_OK)
		die("copy: %s", PQerrorMessage(conn));
	unit_ids = xcalloc(g->nschools, sizeof *unit_ids);
	for (size_t i = 0; i < g->nschools; i++)
		unit_ids[i] = id_of(units, g->schools[i].code, "school");
	for (size_t i = 0; i < g->nitems; i++)
		metric_ids[i] = id_of(metrics, g->items[i].m->code, "metric");
	/* Rows of a reporter's submissions carry the reporter's unit: the district. */
	submitter = unit_ids[0];
	for (int r = 0; r < PQntuples(units); r++)
		if (atoi(PQgetvalue(units, r, 1)) == unit_ids[0] && !PQgetisnull(units, r, 2))
			submitter = atoi(PQgetvalue(units, r, 2));

	buf_init(&data);
	if (warm > 0) {
		copy_rows(g, 0, warm, unit_ids, metric_ids, submitter, &data);
		secs = copy_send(conn, &data);
		printf("copy: warm-up %llu rows in %.3f s (untimed)\n",
		    (unsigned long long)(warm * g->nitems), secs);
	}
	buf_reset(&data);
	copy_rows(g, warm, end, unit_ids, metric_ids, submitter, &data);
	rows = (size_t)(end - warm) * g->nitems;
	/* The HTTP phase just left dirty buffers and WAL behind in the same
	 * cluster; flush them (untimed) so that the COPY does not pay for them. */
	res = PQexec(conn, "CHECKPOINT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "%s: copy: CHECKPOINT: %s", prog, PQerrorMessage(conn));
	PQclear(res);
	secs = copy_send(conn, &data);
	rate = (double)rows / secs;
	printf("copy: %zu rows (%.1f MB of COPY text) in %.3f s = %.0f rows/s "
	       "(one COPY FROM STDIN, synchronous_commit=%s, fsync=%s)\n",
	    rows, (double)data.len / 1e6, secs, rate, PQgetvalue(set, 0, 0),
	    PQgetvalue(set, 0, 1));
	buf_free(&data);
	free(unit_ids);
	PQclear(units);
	PQclear(metrics);
	PQclear(set);
	PQfinish(conn);
	return rate;
}

/* ---- main ---------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: edumon-bench --catalog FILE --schools FILE|CODES [options]\n"
	    "\n"
	    "  --catalog FILE       metric catalog (deploy/metrics.csv)\n"
	    "  --schools FILE|LIST  registry CSV (rows of kind school) or comma-separated codes\n"
	    "  --port N             edumond on 127.0.0.1:N (HTTP phase)\n"
	    "  --token T            bearer token (default: $EDUMON_TOKEN)\n"
	    "  --connections N      concurrent keep-alive connections (64)\n"
	    "  --duration S         measured seconds (20)\n"
	    "  --requests N         measured requests instead of a duration\n"
	    "  --warmup S           warm-up seconds, not measured (3)\n"
	    "  --observations N     observations per submission (20)\n"
	    "  --first-month YYYY-MM  month of the first submission of each school (2001-01)\n"
	    "  --corrections K      reuse the first K (school, month) slots: every\n"
	    "                       submission after the first K replaces rows\n"
	    "  --seed N             varies the values (for correction runs)\n"
	    "  --timeout S          per-request timeout (30)\n"
	    "  --rate N             offer N submissions/s (paced) instead of a closed\n"
	    "                       loop; latency counts from when a request was due\n"
	    "  --copy CONNINFO      then COPY the same rows into that database and\n"
	    "                       print both rates and their ratio\n"
	    "  --plan               print what a submission holds and one body, then exit\n");
}

/* ---- receive: a notification receiver for the delivery benchmark ---- */

struct receiver_counts {
	unsigned long long requests;
	unsigned long long bytes;
	unsigned long long alerts; /* items of webhook bodies ("fingerprint" keys) */
};

static void
receive_cb(struct evhttp_request *req, void *arg)
{
	struct receiver_counts *c = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body = xmalloc(len + 1);
	const char *q = body;
	struct evbuffer *out = evbuffer_new();

	evbuffer_remove(in, body, len);
	body[len] = '\0';
	c->requests++;
	c->bytes += len;
	while ((q = strstr(q, "\"fingerprint\":")) != NULL) {
		c->alerts++;
		q++;
	}
	free(body);
	evbuffer_add_printf(out, "{\"errcode\":0,\"errmsg\":\"ok\"}");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
receive_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * `edumon-bench receive`: answer every POST on 127.0.0.1 (an ephemeral
 * port, printed as "receiving on PORT") with 200 and a robot's "ok", until
 * SIGTERM or SIGINT; then print what arrived.
 */
static int
receive_main(void)
{
	struct receiver_counts c = {0};
	struct event_base *base = event_base_new();
	struct evhttp *http = base != NULL ? evhttp_new(base) : NULL;
	struct evhttp_bound_socket *bs;
	struct event *term, *intr;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;

	if (http == NULL || (bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) == NULL) {
		fprintf(stderr, "edumon-bench: receive: cannot listen on 127.0.0.1\n");
		return 1;
	}
	evhttp_set_gencb(http, receive_cb, &c);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl) != 0) {
		fprintf(stderr, "edumon-bench: receive: getsockname: %s\n", strerror(errno));
		return 1;
	}
	term = evsignal_new(base, SIGTERM, receive_stop_cb, base);
	intr = evsignal_new(base, SIGINT, receive_stop_cb, base);
	event_add(term, NULL);
	event_add(intr, NULL);
	printf("receiving on %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	printf("received: %llu requests, %llu bytes, %llu webhook alerts\n", c.requests, c.bytes,
	    c.alerts);
	event_free(term);
	event_free(intr);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"catalog", required_argument, NULL, 'C'},
	    {"schools", required_argument, NULL, 'S'},
	    {"port", required_argument, NULL, 'p'},
	    {"token", required_argument, NULL, 't'},
	    {"connections", required_argument, NULL, 'c'},
	    {"duration", required_argument, NULL, 'd'},
	    {"requests", required_argument, NULL, 'n'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"observations", required_argument, NULL, 'o'},
	    {"first-month", required_argument, NULL, 'f'},
	    {"corrections", required_argument, NULL, 'k'},
	    {"seed", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"rate", required_argument, NULL, 'r'},
	    {"copy", required_argument, NULL, 'y'},
	    {"plan", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct gen g;
	struct bench b;
	const char *catalog_path = NULL, *schools_arg = NULL, *token = getenv("EDUMON_TOKEN");
	const char *copy_conninfo = NULL, *first_month = "2001-01";
	long long v, nobs = 20;
	double http_rate = -1, copy_rate;
	bool plan_only = false;
	char *text, *cause = NULL;
	size_t len;

	if (argc == 2 && strcmp(argv[1], "receive") == 0)
		return receive_main();
	if (argc >= 2 && strcmp(argv[1], "engine") == 0)
		return engine_bench_main(argc - 1, argv + 1);
	int opt, fy, fm;
	struct rusage ru;

	memset(&g, 0, sizeof g);
	memset(&b, 0, sizeof b);
	b.nconns = 64;
	b.duration_s = 20;
	b.warmup_s = 3;
	b.timeout_s = 30;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'C': catalog_path = optarg; break;
		case 'S': schools_arg = optarg; break;
		case 't': token = optarg; break;
		case 'f': first_month = optarg; break;
		case 'y': copy_conninfo = optarg; break;
		case 'P': plan_only = true; break;
		case 'h': usage(stdout); return 0;
		case 'p': case 'c': case 'd': case 'n': case 'w': case 'o': case 'k': case 's':
		case 'T': case 'r':
			if (parse_ll(optarg, 0, 1LL << 40, &v) < 0) {
				const char *name = "?";

				for (size_t i = 0; longopts[i].name != NULL; i++)
					if (longopts[i].val == opt)
						name = longopts[i].name;
				die("--%s: \"%s\" is not a non-negative number", name, optarg);
			}
			switch (opt) {
			case 'p': b.port = (int)v; break;
			case 'c': b.nconns = (int)v; break;
			case 'd': b.duration_s = (double)v; break;
			case 'n': b.budget = v; break;
			case 'w': b.warmup_s = (double)v; break;
			case 'o': nobs = v; break;
			case 'k': g.corrections = (uint64_t)v; break;
			case 's': g.seed = (uint64_t)v; break;
			case 'T': b.timeout_s = (int)v; break;
			case 'r': b.rate = (double)v; break;
			}
			break;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || catalog_path == NULL || schools_arg == NULL) {
		usage(stderr);
		return 2;
	}
	if (nobs < 1 || nobs > MAX_OBS)
		die("--observations must be 1..%d", MAX_OBS);
	if (b.nconns < 1 || b.nconns > 10000)
		die("--connections must be 1..10000");
	if (b.port > 65535 || (b.port == 0 && copy_conninfo == NULL && !plan_only))
		die("give --port (HTTP phase) and/or --copy (COPY phase)");
	if (sscanf(first_month, "%4d-%2d", &fy, &fm) != 2 || fm < 1 || fm > 12 || fy < 1900)
		die("--first-month %s: expected YYYY-MM", first_month);
	if (b.timeout_s < 1)
		b.timeout_s = 1;

	if ((text = read_file(catalog_path, &len)) == NULL)
		die("%s: %s", catalog_path, strerror(errno));
	if (catalog_parse_csv(text, len, &g.cat, &cause) < 0)
		die("%s: %s", catalog_path, cause);
	free(text);
	schools_load(&g, schools_arg);
	plan_build(&g, (size_t)nobs);
	g.first_month = fy * 12 + fm - 1;
	{
		/* Months that are over, in UTC: the daemon refuses periods not yet begun. */
		time_t t = time(NULL);
		struct tm tm;
		int last;

		gmtime_r(&t, &tm);
		last = (tm.tm_year + 1900) * 12 + tm.tm_mon - 1;
		g.max_slot = last < g.first_month ? 0
		    : (uint64_t)(last - g.first_month + 1) * g.nschools;
	}
	if (g.corrections > g.max_slot)
		die("--corrections %llu: only %llu slots before this month",
		    (unsigned long long)g.corrections, (unsigned long long)g.max_slot);
	plan_print(&g);
	if (plan_only) {
		struct buf body;

		buf_init(&body);
		gen_body(&g, 0, &body);
		printf("%s\n", body.data);
		buf_free(&body);
		return 0;
	}
	printf("schools: %zu; %s from %s\n", g.nschools,
	    g.corrections ? "corrections of slots" : "inserts", first_month);
	fflush(stdout);

	signal(SIGPIPE, SIG_IGN);
	b.gen = &g;
	buf_init(&b.req);
	if (b.port > 0) {
		if (token == NULL || *token == '\0')
			die("no token: give --token or set EDUMON_TOKEN");
		b.auth_header = xasprintf("Authorization: Bearer %s\r\n", token);
		http_rate = http_run(&b);
		if (http_rate < 0)
			die("the HTTP phase failed (see above)");
		if (getrusage(RUSAGE_SELF, &ru) == 0)
			printf("client cpu: user %.2f s, sys %.2f s\n",
			    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
			    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	} else {
		b.warm_end = 0;
		b.measure_end_n = b.budget > 0 ? (uint64_t)b.budget : 1000;
	}
	fflush(stdout);
	if (copy_conninfo != NULL) {
		if (g.corrections)
			die("--copy measures inserts; it does not combine with --corrections");
		copy_rate = copy_run(&g, copy_conninfo, b.warm_end, b.measure_end_n);
		if (http_rate > 0) {
			printf("rates: edumon %.0f obs/s, COPY %.0f rows/s\n", http_rate, copy_rate);
			printf("ratio: %.1f%% of COPY\n", 100.0 * http_rate / copy_rate);
		}
	}
	free(b.auth_header);
	free(b.lat);
	buf_free(&b.req);
	for (size_t i = 0; i < g.nschools; i++)
		free(g.schools[i].code);
	free(g.schools);
	catalog_free(g.cat);
	return 0;
}
