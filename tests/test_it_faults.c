/*
 * test_it_faults.c: faults injected into a real edumond and a real
 * PostgreSQL while school clients keep submitting.
 *
 * The load generator is a handful of threads, each a school client that
 * posts one submission after another, each with an Idempotency-Key of its
 * own, and retries a request that got no answer or a 503 with the SAME key,
 * as a real client must. It records, per key, how every attempt ended and
 * whether (and with which submission id) it was acknowledged (201). The
 * threads never assert: they only record, and the test judges afterwards,
 * in SQL, against what the database holds:
 *   - every acknowledged key is stored exactly once, under the submission id
 *     its receipt named, and nothing unacknowledged is stored where that is
 *     the promise;
 *   - every stored submission has all its observations, as current rows or
 *     superseded revisions, with the values its body carried.
 * Each test prints one line of figures to stderr ("faults <name>: sent ...")
 * for docs/reliability.md.
 *
 * Bounds on time are generous (the machine is shared and may be slow); the
 * assertions are on correctness, and the timings are printed.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

#define MAX_THREADS 320
#define NSCHOOLS 4
/* Schools of district 320703 that report class_size_max (primary, junior, senior). */
static const char *const schools[NSCHOOLS] = {
    "2132070301", "3132070301", "2132070302", "3432070301"};
static const char *const terms[] = {"2025-2026-1", "2025-2026-2", "2026-2027-1"};

/* What became of one submission (one Idempotency-Key). */
struct key_rec {
	int seq;
	int school; /* index into schools */
	int term;   /* index into terms */
	int size;   /* class_size_max: 40..70, across the alert bands 56 and 66 */
	int month;  /* 0..33: 2024-01 .. 2026-10 */
	int drills; /* emergency_drills: 0..3 */
	int attempts;
	int last_status; /* of the last attempt; 0 if it got no response */
	double last_s;   /* how long the last attempt took */
	bool acked;
	char id[40]; /* submission id of the 201 receipt */
};

/* Attempt outcomes, summed per thread. */
struct tally {
	int created;          /* 201 */
	int replayed;         /* of which Idempotent-Replayed: stored by an earlier attempt */
	int unavailable;      /* 503 */
	int no_retry_after;   /* 503 without Retry-After */
	int refused;          /* no connection */
	int no_answer;        /* connected, not a byte back */
	int partial;          /* a response cut short or malformed */
	int other;            /* any other status: never retried */
	int last_other;       /* its status */
	char other_body[256]; /* and body */
	char last_503[256];   /* body of the last 503, for the report */
};

struct load;

struct client {
	struct load *lg;
	int no;
	bool once; /* a burst client: one key, one attempt */
	unsigned seed;
	pthread_t th;
	struct key_rec *recs;
	int n, cap;
	struct tally t;
};

struct load {
	const char *tag; /* key prefix, one per test */
	char *tokens[NSCHOOLS];
	atomic_int port;
	atomic_bool stop;       /* take no new key */
	atomic_bool give_up;    /* stop retrying the current key */
	atomic_int acked;       /* 201s so far, all clients */
	atomic_int unavailable; /* 503s so far, all clients */
	atomic_int running;
	int timeout_ms; /* per attempt */
	int pause_ms;   /* between attempts of one key */
	int nclients;
	bool joined;
	struct client c[MAX_THREADS];
};

/* The figures a test prints, and judges. */
struct figures {
	int sent, acked, retried, unacked, attempts;
	struct tally t;
	long stored, found, lost, duplicates, unacked_stored, obs_missing, obs_wrong, orphans;
};

static struct {
	char *db;
	PGconn *pg;
	struct tl_daemon *d;
	int port;
	struct load lg;
} E;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static double
elapsed_s(int64_t since_us)
{
	return (double)(now_usec() - since_us) / 1e6;
}

/* The submission body of k: a class size for a term and drills for a month. */
static void
body_of(const struct key_rec *k, char *out, size_t n)
{
	const char *s = schools[k->school];

	snprintf(out, n,
	    "[{\"school\":\"%s\",\"period\":\"%s\",\"metrics\":{\"class_size_max\":%d}},"
	    "{\"school\":\"%s\",\"period\":\"%04d-%02d\",\"metrics\":{\"emergency_drills\":%d}}]",
	    s, terms[k->term], k->size, s, 2024 + k->month / 12, 1 + k->month % 12, k->drills);
}

static void
key_of(const struct load *lg, int client, int seq, char *out, size_t n)
{
	snprintf(out, n, "%s-c%d-%d", lg->tag, client, seq);
}

/* POST k of client no as that client does, every time with the same body. */
static enum tl_http_end
post_key(struct load *lg, int no, const struct key_rec *k, int timeout_ms, struct tl_resp *r)
{
	char headers[512], key[64], body[512];

	key_of(lg, no, k->seq, key, sizeof key);
	body_of(k, body, sizeof body);
	snprintf(headers, sizeof headers,
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Idempotency-Key: %s\r\n",
	    lg->tokens[k->school], key);
	return tl_http_ex(atomic_load(&lg->port), "POST", "/v1/submissions", headers, body,
	    strlen(body), timeout_ms, r);
}

/* The submission id of a receipt, into id (37 bytes); "" if there is none. */
static void
receipt_id(const char *body, char *id, size_t n)
{
	const char *p = strstr(body, "\"submission_id\":\"");

	id[0] = '\0';
	if (p != NULL)
		snprintf(id, n, "%.36s", p + strlen("\"submission_id\":\""));
}

/* One attempt to post k; returns true when the key is settled (201 or a
 * status not worth retrying). */
static bool
attempt(struct client *c, struct key_rec *k)
{
	struct load *lg = c->lg;
	struct tl_resp r;
	enum tl_http_end end;
	int64_t t0 = now_usec();
	bool settled = false;

	k->attempts++;
	/* A burst client does not retry: it waits for its answer however long. */
	end = post_key(lg, c->no, k, c->once ? 4 * lg->timeout_ms : lg->timeout_ms, &r);
	k->last_s = elapsed_s(t0);
	k->last_status = end == TL_HTTP_OK ? r.status : 0;
	switch (end) {
	case TL_HTTP_REFUSED:
		c->t.refused++;
		break;
	case TL_HTTP_NO_ANSWER:
		c->t.no_answer++;
		break;
	case TL_HTTP_PARTIAL:
		c->t.partial++;
		break;
	case TL_HTTP_OK:
		if (r.status == 201) {
			c->t.created++;
			c->t.replayed += tl_resp_header(&r, "Idempotent-Replayed") != NULL;
			k->acked = true;
			settled = true;
			receipt_id(r.body, k->id, sizeof k->id);
			atomic_fetch_add(&lg->acked, 1);
		} else if (r.status == 503) {
			c->t.unavailable++;
			if (tl_resp_header(&r, "Retry-After") == NULL)
				c->t.no_retry_after++;
			snprintf(c->t.last_503, sizeof c->t.last_503, "%s", r.body);
			atomic_fetch_add(&lg->unavailable, 1);
		} else {
			c->t.other++;
			c->t.last_other = r.status;
			snprintf(c->t.other_body, sizeof c->t.other_body, "%s", r.body);
			settled = true;
		}
		break;
	}
	tl_resp_free(&r);
	return settled;
}

/* A school client: new keys until told to stop, each retried until settled
 * or told to give up; it stops at a refusal that retrying cannot mend. */
static void *
client_main(void *arg)
{
	struct client *c = arg;
	struct load *lg = c->lg;

	while (!atomic_load(&lg->stop)) {
		struct key_rec *k;

		if (c->n == c->cap) {
			c->cap = c->cap > 0 ? 2 * c->cap : 256;
			c->recs = xreallocarray(c->recs, (size_t)c->cap, sizeof *c->recs);
		}
		k = &c->recs[c->n++];
		memset(k, 0, sizeof *k);
		k->seq = c->n - 1;
		k->school = c->no % NSCHOOLS;
		k->term = (int)(rand_r(&c->seed) % 3);
		k->size = 40 + (int)(rand_r(&c->seed) % 31);
		k->month = (int)(rand_r(&c->seed) % 34);
		k->drills = (int)(rand_r(&c->seed) % 4);
		if (c->once) {
			attempt(c, k);
			break;
		}
		while (!attempt(c, k) && !atomic_load(&lg->give_up))
			sleep_ms(lg->pause_ms);
		/* Refused for good (4xx, 500): a real client stops and reports. */
		if (!k->acked && k->last_status != 0 && k->last_status != 503)
			break;
	}
	atomic_fetch_sub(&lg->running, 1);
	return NULL;
}

/* Start n more client threads, burst clients if once. */
static void
spawn(int n, bool once)
{
	struct load *lg = &E.lg;
	int first = lg->nclients;

	cr_assert(n > 0 && first + n <= MAX_THREADS);
	atomic_fetch_add(&lg->running, n);
	for (int i = first; i < first + n; i++) {
		lg->c[i].lg = lg;
		lg->c[i].no = i;
		lg->c[i].once = once;
		lg->c[i].seed = 1000u + (unsigned)i;
		if (pthread_create(&lg->c[i].th, NULL, client_main, &lg->c[i]) != 0) {
			atomic_fetch_sub(&lg->running, first + n - i);
			cr_assert_fail("pthread_create: client %d", i);
		}
		lg->nclients = i + 1;
	}
}

/* Start n clients against E.port, one token per school. */
static void
load_start(const char *tag, int n, int timeout_ms)
{
	struct load *lg = &E.lg;

	lg->tag = tag;
	atomic_store(&lg->port, E.port);
	lg->timeout_ms = timeout_ms;
	/* Shorter than any Retry-After: the test compresses a client's patience. */
	lg->pause_ms = 100;
	spawn(n, false);
}

/*
 * Add n burst clients that post one key each, once, all at the same moment
 * (as many schools do at a deadline). They are judged with the others.
 */
static void
load_burst(int n)
{
	spawn(n, true);
}

/* Wait up to s seconds until at least n submissions are acknowledged. */
static bool
load_wait_acked(int n, double s)
{
	int64_t t0 = now_usec();

	while (atomic_load(&E.lg.acked) < n) {
		if (elapsed_s(t0) > s)
			return false;
		sleep_ms(20);
	}
	return true;
}

/*
 * Stop the clients: no new keys; the current ones are retried for up to
 * patience_s more seconds, then given up. Joins every thread.
 */
static void
load_stop(double patience_s)
{
	struct load *lg = &E.lg;
	int64_t t0 = now_usec();

	atomic_store(&lg->stop, true);
	while (atomic_load(&lg->running) > 0 && elapsed_s(t0) < patience_s)
		sleep_ms(20);
	atomic_store(&lg->give_up, true);
	for (int i = 0; i < lg->nclients; i++)
		pthread_join(lg->c[i].th, NULL);
	lg->joined = true;
}

static void
load_free(void)
{
	for (int i = 0; i < E.lg.nclients; i++)
		free(E.lg.c[i].recs);
	for (int i = 0; i < NSCHOOLS; i++)
		free(E.lg.tokens[i]);
	memset(&E.lg, 0, sizeof E.lg);
}

static long
qlong(const char *sql)
{
	return tl_query_long(E.pg, sql);
}

/*
 * Add up the clients' records and hold them against the database (see the
 * file comment). The acknowledged keys go into a temporary table "acked".
 */
static void
figures_of(struct figures *f)
{
	struct buf keys, ids;
	const char *params[2];
	PGresult *res;
	size_t n = 0;

	memset(f, 0, sizeof *f);
	buf_init(&keys);
	buf_init(&ids);
	for (int i = 0; i < E.lg.nclients; i++) {
		const struct client *c = &E.lg.c[i];

		f->t.created += c->t.created;
		f->t.replayed += c->t.replayed;
		f->t.unavailable += c->t.unavailable;
		f->t.no_retry_after += c->t.no_retry_after;
		f->t.refused += c->t.refused;
		f->t.no_answer += c->t.no_answer;
		f->t.partial += c->t.partial;
		f->t.other += c->t.other;
		if (c->t.other > 0) {
			f->t.last_other = c->t.last_other;
			memcpy(f->t.other_body, c->t.other_body, sizeof f->t.other_body);
		}
		if (c->t.last_503[0] != '\0')
			memcpy(f->t.last_503, c->t.last_503, sizeof f->t.last_503);
		for (int j = 0; j < c->n; j++) {
			const struct key_rec *k = &c->recs[j];
			char key[64];

			f->sent++;
			f->attempts += k->attempts;
			f->retried += k->attempts > 1;
			if (!k->acked) {
				f->unacked++;
				continue;
			}
			f->acked++;
			key_of(&E.lg, c->no, k->seq, key, sizeof key);
			buf_pg_array_sep(&keys, n);
			buf_puts(&keys, key);
			buf_pg_array_sep(&ids, n);
			buf_puts(&ids,
			    k->id[0] != '\0' ? k->id : "00000000-0000-0000-0000-000000000000");
			n++;
		}
	}
	buf_pg_array_end(&keys, n);
	buf_pg_array_end(&ids, n);
	tl_exec(E.pg, "CREATE TEMP TABLE acked (key text PRIMARY KEY, id uuid NOT NULL)");
	params[0] = keys.data;
	params[1] = ids.data;
	res = PQexecParams(E.pg, "INSERT INTO acked SELECT * FROM unnest($1::text[], $2::uuid[])",
	    2, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(E.pg));
	PQclear(res);
	buf_free(&keys);
	buf_free(&ids);

	f->stored = qlong("SELECT count(*) FROM edumon.submission");
	f->duplicates = f->stored - qlong("SELECT count(DISTINCT idempotency_key)"
	                                  " FROM edumon.submission");
	f->found = qlong("SELECT count(*) FROM acked a JOIN edumon.submission s"
	                 " ON s.idempotency_key = a.key AND s.id = a.id");
	f->lost = f->acked - f->found;
	f->unacked_stored = qlong("SELECT count(*) FROM edumon.submission s WHERE NOT EXISTS"
	                          " (SELECT FROM acked a WHERE a.key = s.idempotency_key)");
	/* Every version of every observation, current or superseded. */
#define VERSIONS                                                                                   \
	"WITH v AS (SELECT submission_unit_id AS su, submission_id AS sid, unit_id,"               \
	" metric_id, period, value FROM edumon.observation UNION ALL"                              \
	" SELECT submission_unit_id, submission_id, unit_id, metric_id, period, value"             \
	" FROM edumon.observation_revision) "
	f->obs_missing = qlong(VERSIONS ", c AS (SELECT su, sid, count(*) AS n FROM v"
	                                " GROUP BY su, sid)"
	                                " SELECT count(*) FROM edumon.submission s LEFT JOIN c"
	                                " ON c.su = s.unit_id AND c.sid = s.id"
	                                " WHERE coalesce(c.n, 0) <> s.observations");
	f->orphans =
	    qlong(VERSIONS "SELECT count(*) FROM v WHERE NOT EXISTS (SELECT FROM"
	                   " edumon.submission s WHERE s.unit_id = v.su AND s.id = v.sid)");
	f->obs_wrong =
	    qlong(VERSIONS "SELECT count(*) FROM v"
	                   " JOIN edumon.submission s ON s.unit_id = v.su AND s.id = v.sid"
	                   " JOIN edumon.org_unit u ON u.id = v.unit_id"
	                   " JOIN edumon.metric m ON m.id = v.metric_id"
	                   " WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(s.body::jsonb) e"
	                   " WHERE e->>'school' = u.code AND e->>'period' = v.period"
	                   " AND (e->'metrics'->>m.code)::float8 = v.value)");
#undef VERSIONS
}

/* The figures line for docs/reliability.md. */
static void
figures_print(const char *name, const struct figures *f, const char *more)
{
	fprintf(stderr,
	    "faults %s: sent %d, acknowledged %d, retried %d, stored %ld, lost %ld, duplicates %ld"
	    " | attempts %d: 201 %d (replayed %d), 503 %d, refused %d, no answer %d, cut short %d,"
	    " other %d;"
	    " unacknowledged at the end %d%s%s\n",
	    name, f->sent, f->acked, f->retried, f->stored, f->lost, f->duplicates, f->attempts,
	    f->t.created, f->t.replayed, f->t.unavailable, f->t.refused, f->t.no_answer,
	    f->t.partial, f->t.other, f->unacked, more != NULL ? "; " : "",
	    more != NULL ? more : "");
}

/* What must hold after any fault, once the clients have settled. */
static void
expect_consistent(const struct figures *f)
{
	cr_expect_gt(f->acked, 0, "some submissions were acknowledged");
	cr_expect_eq(f->lost, 0, "every acknowledged key is stored under its receipt's id");
	cr_expect_eq(f->duplicates, 0, "no key is stored twice");
	cr_expect_eq(f->obs_missing, 0, "every stored submission has all its observations");
	cr_expect_eq(f->orphans, 0, "no observation without its submission");
	cr_expect_eq(f->obs_wrong, 0, "every observation holds its submission's value");
	cr_expect_eq(f->t.other, 0, "no status but 201 and 503 (last: %d %s)", f->t.last_other,
	    f->t.other_body);
	cr_expect_eq(f->t.no_retry_after, 0, "every 503 says when to retry");
}

/*
 * Start edumond with extra arguments. Under AddressSanitizer (make
 * SANITIZE=...) freed memory sits in a quarantine of up to 256 MB before it
 * is reused, which a test of memory bounds would take for a leak; it is cut
 * to 8 MB here (the variable is ignored by a plain build).
 */
static void receiver_stop(void);

static void
start_daemon_on(int port, const char *extra)
{
	E.d = tl_daemon_start_on(port,
	    "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8\";"
	    " export ASAN_OPTIONS;",
	    E.db, extra);
	E.port = tl_daemon_port(E.d);
	tl_wait_ready(E.port);
}

static void
start_daemon(const char *extra)
{
	start_daemon_on(0, extra);
}

static void
setup(void)
{
	memset(&E, 0, sizeof E);
	E.db = tl_db_create("faults");
	E.pg = tl_db_connect(E.db);
	/*
	 * Before the daemon starts: a token created while it runs is only
	 * known once the daemon has reloaded its registry (on the NOTIFY the
	 * CLI sends), and a client that started at once would meet 401.
	 */
	for (int i = 0; i < NSCHOOLS; i++) {
		char args[64];

		snprintf(args, sizeof args, "--school %s", schools[i]);
		E.lg.tokens[i] = tl_token(E.db, args);
	}
}

static void
teardown(void)
{
	struct load *lg = &E.lg;

	/* A test that failed with clients running: stop them before anything. */
	if (lg->nclients > 0 && !lg->joined) {
		atomic_store(&lg->stop, true);
		atomic_store(&lg->give_up, true);
		for (int i = 0; i < lg->nclients; i++)
			pthread_join(lg->c[i].th, NULL);
	}
	load_free();
	tl_fixture_end(&E.d, &E.pg, &E.db);
	receiver_stop();
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 120);

/*
 * Alert transitions recorded twice in a row for one alert: a second 'fired'
 * without a 'resolved' between (or the reverse), or the same change of
 * severity twice. A restart that re-applied changes would leave these.
 */
static long
alert_repeats(void)
{
	return qlong("SELECT count(*) FROM (SELECT kind, severity, lag(kind) OVER w AS pkind,"
	             " lag(severity) OVER w AS psev FROM edumon.alert_event"
	             " WHERE kind IN ('fired', 'escalated', 'deescalated', 'resolved')"
	             " WINDOW w AS (PARTITION BY alert_unit_id, alert_id ORDER BY id)) e"
	             " WHERE (kind IN ('fired', 'resolved') AND kind = pkind)"
	             " OR (kind = pkind AND severity = psev)");
}

/* Alerts whose last recorded transition disagrees with their state. */
static long
alert_history_disagrees(void)
{
	return qlong(
	    "SELECT count(*) FROM edumon.alert a, LATERAL (SELECT kind FROM"
	    " edumon.alert_event e WHERE e.alert_unit_id = a.unit_id AND e.alert_id = a.id"
	    " AND kind IN ('fired', 'escalated', 'deescalated', 'resolved')"
	    " ORDER BY id DESC LIMIT 1) l WHERE (l.kind = 'resolved') <> (a.state = 'resolved')");
}

/*
 * (school, term) pairs whose class_size.school alert does not match the
 * stored class size: firing at warning from 56, critical from 66, else not
 * firing. Polled: the rules engine judges committed data asynchronously.
 */
static long
class_size_alerts_wrong(double wait_s)
{
	static const char sql[] =
	    "SELECT count(*) FROM edumon.observation o"
	    " JOIN edumon.metric m ON m.id = o.metric_id AND m.code = 'class_size_max'"
	    " LEFT JOIN edumon.alert a ON a.unit_id = o.unit_id"
	    " AND a.rule_id = 'class_size.school' AND a.period = o.period"
	    " WHERE CASE WHEN o.value >= 66 THEN 'critical' WHEN o.value >= 56 THEN 'warning'"
	    " ELSE 'none' END <> CASE WHEN a.state = 'firing' THEN a.severity ELSE 'none' END";
	int64_t t0 = now_usec();
	long n;

	while ((n = qlong(sql)) != 0 && elapsed_s(t0) < wait_s)
		sleep_ms(200);
	return n;
}

/*
 * Post acknowledged keys again, as a client that never saw its receipt
 * would: the keys that needed retries first, then every other one, at most
 * max in all. Counts the replays and those answered 201 with
 * Idempotent-Replayed and the submission id of the first receipt.
 */
static void
replay_acked(int max, int *sent, int *same)
{
	*sent = *same = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < E.lg.nclients; i++) {
			struct client *c = &E.lg.c[i];

			for (int j = 0; j < c->n && *sent < max; j++) {
				const struct key_rec *k = &c->recs[j];
				struct tl_resp r;
				char id[40];

				if (!k->acked || (pass == 0) != (k->attempts > 1) ||
				    (pass == 1 && j % 4 != 0))
					continue;
				(*sent)++;
				if (post_key(&E.lg, c->no, k, E.lg.timeout_ms, &r) == TL_HTTP_OK &&
				    r.status == 201 &&
				    tl_resp_header(&r, "Idempotent-Replayed") != NULL) {
					receipt_id(r.body, id, sizeof id);
					*same += strcmp(id, k->id) == 0;
				}
				tl_resp_free(&r);
			}
		}
	}
}

/*
 * A webhook receiver on a loopback port: one thread that takes one request
 * per connection, answers 200 and records the X-Edumon-Delivery id of
 * each message (a message may carry several events).
 */
#define MAX_DELIVERIES 4096
static struct {
	int fd, port;
	pthread_t th;
	atomic_bool stop;
	pthread_mutex_t lock;
	int n;        /* messages received */
	int repeated; /* of which a delivery id seen before */
	char ids[MAX_DELIVERIES][64];
} R = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

/*
 * Read one request from fd (5 s at most) into buf (a digest of many alerts
 * is large) and return its delivery id in id.
 */
static bool
receiver_read(int fd, char *buf, size_t size, char *id, size_t idlen)
{
	char *hend, *p;
	size_t len = 0, need = 0;
	int64_t deadline = now_usec() + 5000000;

	id[0] = '\0';
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (now_usec() > deadline || poll(&pfd, 1, 100) < 0 || len == size - 1)
			return false;
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		hend = strstr(buf, "\r\n\r\n");
		if (hend == NULL)
			continue;
		if (need == 0) {
			for (p = buf; p < hend; p++)
				*p = (char)tolower((unsigned char)*p);
			p = strstr(buf, "\r\ncontent-length:");
			need = (size_t)(hend + 4 - buf) +
			       (p != NULL ? (size_t)atol(p + strlen("\r\ncontent-length:")) : 0);
			p = strstr(buf, "\r\nx-edumon-delivery:");
			if (p != NULL) {
				p += strlen("\r\nx-edumon-delivery:");
				p += strspn(p, " ");
				snprintf(id, idlen, "%.*s", (int)strcspn(p, "\r"), p);
			}
		}
		if (len >= need)
			return true;
	}
}

static void *
receiver_main(void *arg)
{
	static const char ok[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	size_t size = 16 << 20;
	char *buf = xmalloc(size);

	(void)arg;
	while (!atomic_load(&R.stop)) {
		struct pollfd pfd = {.fd = R.fd, .events = POLLIN};
		char id[64];
		int c;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		c = accept(R.fd, NULL, NULL);
		if (c < 0)
			continue;
		if (!receiver_read(c, buf, size, id, sizeof id)) {
			fprintf(stderr, "faults: the webhook receiver could not read a request\n");
			close(c);
			continue;
		}
		send(c, ok, strlen(ok), MSG_NOSIGNAL);
		close(c);
		pthread_mutex_lock(&R.lock);
		for (int i = 0; i < R.n && i < MAX_DELIVERIES; i++)
			if (id[0] != '\0' && strcmp(R.ids[i], id) == 0) {
				R.repeated++;
				break;
			}
		if (R.n < MAX_DELIVERIES)
			snprintf(R.ids[R.n], sizeof R.ids[R.n], "%s", id);
		R.n++;
		pthread_mutex_unlock(&R.lock);
	}
	free(buf);
	return NULL;
}

static void
receiver_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof sa;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	R.fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(R.fd, 0);
	cr_assert_eq(bind(R.fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
	cr_assert_eq(listen(R.fd, 64), 0);
	cr_assert_eq(getsockname(R.fd, (struct sockaddr *)&sa, &len), 0);
	R.port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&R.th, NULL, receiver_main, NULL), 0);
}

static void
receiver_stop(void)
{
	if (R.fd < 0)
		return;
	atomic_store(&R.stop, true);
	pthread_join(R.th, NULL);
	close(R.fd);
	R.fd = -1;
}

/* Delivery ids of delivered notifications that the receiver never saw. */
static long
deliveries_unseen(void)
{
	PGresult *res = PQexec(E.pg, "SELECT DISTINCT delivery_id FROM edumon.notification"
	                             " WHERE state = 'delivered'");
	long unseen = 0;

	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(E.pg));
	pthread_mutex_lock(&R.lock);
	for (int i = 0; i < PQntuples(res); i++) {
		bool seen = false;

		for (int j = 0; j < R.n && j < MAX_DELIVERIES && !seen; j++)
			seen = strcmp(R.ids[j], PQgetvalue(res, i, 0)) == 0;
		unseen += !seen;
	}
	pthread_mutex_unlock(&R.lock);
	PQclear(res);
	return unseen;
}

/*
 * kill -9 of edumond while eight clients submit, then a start on the same
 * database and port. The clients retry through the outage with the same
 * keys. Every key ends acknowledged and stored once; alerts are neither
 * repeated nor lost (they agree with the stored figures); the new daemon
 * answers replays with the first receipts' ids. A webhook channel on the
 * district, whose messages wait 3 s to be grouped, has events in its
 * outbox when the daemon dies: after the restart every event reaches it.
 */
Test(faults, kill_9_mid_load)
{
	struct figures f;
	static const char extra[] = "--notify-group-wait 3000";
	static const char outbox_sql[] =
	    "SELECT (SELECT count(*) FROM edumon.notification WHERE state = 'pending')"
	    " + (SELECT count(*) FROM edumon.alert_event WHERE kind <> 'acknowledged'"
	    " AND id > (SELECT last_event_id FROM edumon.delivery_cursor))";
	char more[768], sql[512];
	int64_t t_kill, t0;
	double outage;
	int at_kill, replays, same;
	long repeats, disagree, wrong, outbox_at_kill, outbox, unnotified, failed, unseen;

	receiver_start();
	snprintf(sql, sizeof sql,
	    "INSERT INTO edumon.channel (unit_id, kind, name, url, secret, min_severity,"
	    " allow_private, rate_per_min) SELECT id, 'webhook', 'faults', "
	    "'http://127.0.0.1:%d/hook', 'faults-secret', 'info', true, 0"
	    " FROM edumon.org_unit WHERE code = '320703'",
	    R.port);
	tl_exec(E.pg, sql);
	start_daemon(extra);
	tl_wait_alerts_ready(E.port);
	load_start("k9", 8, 5000);
	cr_assert(
	    load_wait_acked(150, 30), "the load flows: %d acknowledged", atomic_load(&E.lg.acked));
	at_kill = atomic_load(&E.lg.acked);
	tl_daemon_kill(E.d);
	E.d = NULL;
	t_kill = now_usec();
	outbox_at_kill = qlong(outbox_sql);
	sleep_ms(1000); /* the clients meet a closed port and keep trying */
	start_daemon_on(E.port, extra);
	outage = elapsed_s(t_kill);
	cr_assert(load_wait_acked(at_kill + 150, 30), "the new daemon takes submissions");
	load_stop(30);
	tl_wait_alerts_ready(E.port);

	figures_of(&f);
	expect_consistent(&f);
	cr_expect_eq(f.unacked, 0, "every key was acknowledged in the end");
	cr_expect_eq(f.stored, f.acked, "stored == acknowledged");
	cr_expect_eq(f.unacked_stored, 0);
	wrong = class_size_alerts_wrong(30);
	cr_expect_eq(wrong, 0, "the alerts agree with the stored class sizes");
	repeats = alert_repeats();
	cr_expect_eq(repeats, 0, "no alert transition recorded twice");
	disagree = alert_history_disagrees();
	cr_expect_eq(disagree, 0, "every alert's history ends in its state");
	replay_acked(400, &replays, &same);
	cr_expect_eq(same, replays, "replays answered with the first receipt's id");

	t0 = now_usec();
	while ((outbox = qlong(outbox_sql)) > 0 && elapsed_s(t0) < 30)
		sleep_ms(200);
	cr_expect_eq(outbox, 0, "the outbox empties after the restart");
	if (outbox > 0) {
		/* What is stuck, and why, for whoever reads the failure. */
		char *why = tl_query_value(E.pg,
		    "SELECT string_agg(state || ', attempt ' || attempts || ': '"
		    " || coalesce(last_error, '-') || ' (' || n || ')', '; ') FROM (SELECT state,"
		    " attempts, last_error, count(*) AS n FROM edumon.notification"
		    " WHERE state <> 'delivered' GROUP BY 1, 2, 3) q");

		fprintf(stderr, "faults: notifications not delivered: %s; log %s\n",
		    why != NULL ? why : "(none: events not matched)", tl_daemon_log(E.d));
		free(why);
	}
	/* The channel covers the district and its schools, not the city above. */
	unnotified =
	    qlong("SELECT count(*) FROM edumon.alert_event e JOIN edumon.org_unit u"
	          " ON u.id = e.alert_unit_id JOIN edumon.org_unit d ON d.code = '320703'"
	          " WHERE (u.id = d.id OR u.parent_id = d.id) AND e.kind <> 'acknowledged'"
	          " AND NOT EXISTS (SELECT FROM edumon.notification n WHERE n.event_id = e.id)");
	cr_expect_eq(unnotified, 0, "every alert event of the district has its notification");
	failed = qlong("SELECT count(*) FROM edumon.notification WHERE state <> 'delivered'");
	cr_expect_eq(failed, 0, "every notification was delivered");
	unseen = deliveries_unseen();
	cr_expect_eq(unseen, 0, "the receiver got every message recorded as delivered");
	snprintf(more, sizeof more,
	    "killed after %d acknowledged with %ld events in the outbox, outage %.1f s (restarted"
	    " on the same port); alert events %ld, repeated %ld, wrong %ld; notifications %ld,"
	    " undelivered %ld, messages received %d (%d again after the restart); replays %d,"
	    " same id %d",
	    at_kill, outbox_at_kill, outage, qlong("SELECT count(*) FROM edumon.alert_event"),
	    repeats, wrong, qlong("SELECT count(*) FROM edumon.notification"), failed + unnotified,
	    R.n, R.repeated, replays, same);
	figures_print("kill_9_mid_load", &f, more);
}

/*
 * PostgreSQL slow: a transaction holds the submission table in ACCESS
 * EXCLUSIVE mode for six seconds while 64 clients submit to a daemon whose
 * queue holds 50, and a second into it 200 more clients post at once.
 * Health checks keep answering at once; beyond the queue submissions get
 * 503 with Retry-After at once instead of waiting in memory, and a 503
 * stores nothing; the daemon's memory stays flat; after the lock goes,
 * every client's retries succeed and all that was acknowledged is stored
 * once.
 *
 * The memory bound: at most 50 queued requests, two batches in flight (each
 * at most what the queue held when it was taken) and 264 connections, each
 * request a body of ~250 bytes with its parsed payload, each connection a
 * few libevent buffers of at most a few kB: under 4 MB live. 32 MB over
 * the figure taken under the same load before the lock leaves room for
 * allocator slack (and an 8 MB AddressSanitizer quarantine, see
 * start_daemon) and still catches a daemon that holds what it should
 * refuse: 200 requests held with their connections and the retries of the
 * 64 clients every 100 ms.
 */
Test(faults, slow_database_rejects_rather_than_queues)
{
	enum { CLIENTS = 64, BURST = 200, HOLD_MS = 6000, QUEUE = 50, RSS_SLACK_KB = 32 * 1024 };
	struct figures f;
	char more[768];
	PGconn *locker;
	int64_t t_lock, t0;
	double max_health = 0, sum_health = 0, recovery;
	long rss0, rss, rss_max, q, qmax = 0, pending, pending_max = 0;
	double burst_503_max = 0;
	int pid, probes = 0, unhealthy = 0, acked_at_lock, acked_at_release, refused_at_lock,
	         refused_during, burst_503 = 0, burst_201 = 0;
	bool burst = false;

	start_daemon("--queue 50");
	pid = tl_daemon_pid(E.d);
	tl_wait_alerts_ready(E.port);
	load_start("slow", CLIENTS, 5000);
	cr_assert(
	    load_wait_acked(300, 30), "the load flows: %d acknowledged", atomic_load(&E.lg.acked));
	rss0 = rss_max = tl_proc_status(pid, "VmRSS");

	locker = tl_db_connect(E.db);
	tl_exec(locker, "BEGIN");
	tl_exec(locker, "LOCK TABLE edumon.submission IN ACCESS EXCLUSIVE MODE");
	t_lock = now_usec();
	acked_at_lock = atomic_load(&E.lg.acked);
	refused_at_lock = atomic_load(&E.lg.unavailable);
	while (elapsed_s(t_lock) * 1000 < HOLD_MS) {
		struct tl_resp r;
		double s;

		if (!burst && elapsed_s(t_lock) > 1.0) {
			load_burst(BURST);
			burst = true;
		}
		t0 = now_usec();
		if (tl_http_ex(E.port, "GET", "/healthz", NULL, NULL, 0, 10000, &r) != TL_HTTP_OK ||
		    r.status != 200)
			unhealthy++;
		tl_resp_free(&r);
		s = elapsed_s(t0);
		probes++;
		sum_health += s;
		if (s > max_health)
			max_health = s;
		if ((rss = tl_proc_status(pid, "VmRSS")) > rss_max)
			rss_max = rss;
		if ((q = tl_metric(E.port, "edumon_writer_queue_depth")) > qmax)
			qmax = q;
		if ((pending = tl_metric(E.port, "edumon_writer_pending")) > pending_max)
			pending_max = pending;
		sleep_ms(100);
	}
	refused_during = atomic_load(&E.lg.unavailable) - refused_at_lock;
	acked_at_release = atomic_load(&E.lg.acked);
	tl_exec(locker, "COMMIT");
	PQfinish(locker);
	t0 = now_usec();
	cr_assert(load_wait_acked(acked_at_release + 1, 30), "submissions commit again");
	recovery = elapsed_s(t0);
	cr_assert(load_wait_acked(acked_at_release + 300, 30), "the load flows again");
	load_stop(30);
	for (int i = CLIENTS; i < E.lg.nclients; i++) {
		const struct key_rec *k = &E.lg.c[i].recs[0];

		burst_201 += k->last_status == 201;
		if (k->last_status == 503) {
			burst_503++;
			if (k->last_s > burst_503_max)
				burst_503_max = k->last_s;
		}
	}

	figures_of(&f);
	expect_consistent(&f);
	cr_expect_eq(burst_201 + burst_503, BURST, "every burst request was answered");
	cr_expect_gt(burst_503, 0, "the burst met a full queue");
	/* "At once": well before the lock, still held for 5 s, could have let them in. */
	cr_expect_lt(burst_503_max, 3.0, "refusals came at once (slowest %.3f s)", burst_503_max);
	cr_expect_eq(f.unacked, burst_503, "every key but the refused burst was acknowledged");
	cr_expect_eq(f.stored, f.acked, "stored == acknowledged: a 503 stored nothing");
	cr_expect_eq(f.unacked_stored, 0);
	cr_expect_eq(unhealthy, 0, "/healthz answered 200 throughout");
	cr_expect_lt(max_health, 2.0, "/healthz answered within 2 s (slowest %.3f s)", max_health);
	cr_expect_gt(refused_during, 0, "a full queue refuses with 503");
	cr_expect_leq(qmax, QUEUE, "the queue stays within --queue");
	cr_expect_lt(rss_max - rss0, RSS_SLACK_KB, "memory stays bounded: %ld kB over %ld kB",
	    rss_max - rss0, rss0);
	snprintf(more, sizeof more,
	    "lock held %.1f s: %d acknowledged and %d refused with 503 meanwhile; burst of %d:"
	    " %d refused (slowest %.1f ms), %d queued and acknowledged; queue at most %ld"
	    " (--queue %d), pending at most %ld; /healthz %d probes, mean %.1f ms, slowest %.1f ms;"
	    " VmRSS %ld kB before, at most %ld kB; first commit %.2f s after the release",
	    (double)HOLD_MS / 1000, acked_at_release - acked_at_lock, refused_during, BURST,
	    burst_503, 1000 * burst_503_max, burst_201, qmax, QUEUE, pending_max, probes,
	    1000 * sum_health / probes, 1000 * max_health, rss0, rss_max, recovery);
	figures_print("slow_database", &f, more);
}

/* How many requests the daemon's log says it drained at SIGTERM; -1 if none. */
static long
drained_in_log(const char *path)
{
	char *cmd =
	    xasprintf("sed -n 's/.*draining \\([0-9]*\\) requests in flight.*/\\1/p' '%s'", path);
	char *out = NULL;
	long n = -1;

	if (tl_run(cmd, &out) == 0 && out[0] != '\0')
		n = atol(out);
	free(out);
	free(cmd);
	return n;
}

/*
 * SIGTERM while eight clients submit: the daemon stops accepting, finishes
 * what it has taken and exits 0 within --drain. Every response that came
 * was whole; what was acknowledged is stored, and nothing was stored that
 * was not acknowledged (a request dropped after its commit would show as
 * stored without its answer). Keys the clients could not deliver once the
 * port closed stay unacknowledged and unstored.
 */
Test(faults, sigterm_under_load)
{
	enum { DRAIN_S = 5 };
	struct figures f;
	char more[512], *log;
	int64_t t0;
	double took;
	int status, at_term;

	start_daemon("--drain 5");
	tl_wait_alerts_ready(E.port);
	load_start("term", 8, 5000);
	cr_assert(
	    load_wait_acked(150, 30), "the load flows: %d acknowledged", atomic_load(&E.lg.acked));
	at_term = atomic_load(&E.lg.acked);
	log = xstrdup(tl_daemon_log(E.d));
	t0 = now_usec();
	status = tl_daemon_stop(E.d);
	took = elapsed_s(t0);
	E.d = NULL;
	load_stop(0);

	figures_of(&f);
	expect_consistent(&f);
	cr_expect_eq(status, 0, "edumond exits 0 after SIGTERM");
	cr_expect_lt(took, DRAIN_S + 1.0, "and within --drain %d s (took %.2f s)", DRAIN_S, took);
	cr_expect_eq(f.t.partial, 0, "no response was cut short");
	cr_expect_eq(f.unacked_stored, 0, "nothing stored without its answer");
	cr_expect_eq(f.stored, f.acked, "stored == acknowledged");
	snprintf(more, sizeof more,
	    "SIGTERM after %d acknowledged with %ld requests in flight (daemon's log); exit status"
	    " %d after %.2f s (--drain %d)",
	    at_term, drained_in_log(log), status, took, DRAIN_S);
	figures_print("sigterm_under_load", &f, more);
	free(log);
}

/*
 * The disk-full fixture: a tmpfs of a few megabytes mounted as a
 * tablespace, owned by the cluster's user. Only root can mount; the names
 * are kept so that the fini can undo what the test did even if it failed.
 */
static struct {
	char dir[64];
	char tablespace[64];
	char dbname[128];
	bool mounted;
} F;

static void
disk_setup(void)
{
	memset(&F, 0, sizeof F);
	setup();
}

static void
disk_teardown(void)
{
	char *admin, *cmd;
	PGconn *c;

	if (E.pg != NULL)
		snprintf(F.dbname, sizeof F.dbname, "%s", PQdb(E.pg));
	teardown();
	admin = tl_pg_conninfo_admin();
	c = PQconnectdb(admin);
	if (PQstatus(c) == CONNECTION_OK) {
		char sql[256];

		if (F.dbname[0] != '\0') {
			snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
			    F.dbname);
			PQclear(PQexec(c, sql));
		}
		if (F.tablespace[0] != '\0') {
			snprintf(sql, sizeof sql, "DROP TABLESPACE IF EXISTS %s", F.tablespace);
			PQclear(PQexec(c, sql));
		}
	}
	PQfinish(c);
	free(admin);
	if (F.mounted) {
		cmd = xasprintf("umount '%s'", F.dir);
		if (tl_run(cmd, NULL) != 0)
			fprintf(stderr, "faults: could not unmount %s\n", F.dir);
		free(cmd);
	}
	if (F.dir[0] != '\0')
		rmdir(F.dir);
}

/* Mount a tmpfs of size_mb on a new directory for the cluster's user to
 * use; cr_skip (with the reason) where that is not permitted. */
static void
mount_small_disk(int size_mb)
{
	char *cmd, *out = NULL, *datadir;
	struct stat st;
	int rc;

	if (geteuid() != 0)
		cr_skip("disk full: mounting a small tmpfs needs root (CI runs as root)");
	snprintf(F.dir, sizeof F.dir, "/tmp/edumon-full-XXXXXX");
	cr_assert_not_null(mkdtemp(F.dir), "mkdtemp: %s", strerror(errno));
	cmd = xasprintf("mount -t tmpfs -o size=%dm,mode=0700 tmpfs '%s' 2>&1", size_mb, F.dir);
	rc = tl_run(cmd, &out);
	free(cmd);
	if (rc != 0) {
		char reason[512];

		snprintf(reason, sizeof reason,
		    "disk full: mount -t tmpfs is not permitted here (status %d: %.300s)", rc, out);
		free(out);
		cr_skip("%s", reason);
	}
	free(out);
	F.mounted = true;
	/* The tablespace directory must belong to whoever runs the server. */
	datadir = tl_query_value(E.pg, "SHOW data_directory");
	cr_assert_eq(stat(datadir, &st), 0, "stat %s: %s", datadir, strerror(errno));
	cr_assert_eq(chown(F.dir, st.st_uid, st.st_gid), 0, "chown %s: %s", F.dir, strerror(errno));
	free(datadir);
}

/*
 * Fill the tablespace: insert into filler until PostgreSQL says disk_full
 * (53100), first in large steps, then row by row so that no page is left.
 * Returns the rows it took.
 */
static long
fill_disk(void)
{
	static const char *const steps[] = {
	    "INSERT INTO public.filler SELECT repeat('x', 1800) FROM generate_series(1, 256)",
	    "INSERT INTO public.filler SELECT repeat('x', 1800)",
	};
	long rows = 0;

	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		for (int n = 0; n < 100000; n++) {
			PGresult *r = PQexec(E.pg, steps[i]);
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

			if (PQresultStatus(r) == PGRES_COMMAND_OK) {
				rows += atol(PQcmdTuples(r));
				PQclear(r);
				continue;
			}
			cr_assert(state != NULL && strcmp(state, "53100") == 0,
			    "filling the disk: %s", PQresultErrorMessage(r));
			PQclear(r);
			break;
		}
	}
	return rows;
}

TestSuite(faults_disk, .init = disk_setup, .fini = disk_teardown, .timeout = 120);

/*
 * Disk full: the submission table lives on a tablespace of 8 MB that a
 * filler table fills to the last page while eight clients submit.
 * Submissions get 503 with Retry-After (disk_full is a state to wait out,
 * not a bad request), nothing acknowledged is lost, the daemon stays up and
 * healthy, its log names the cause, and once the filler is dropped ingest
 * resumes by itself.
 */
Test(faults_disk, disk_full_then_freed)
{
	struct figures f;
	char sql[512], more[1024], *cmd;
	int64_t t0;
	double full_for, recovery;
	long rows;
	int pid, acked_at_full, refused_at_full, acked_at_free, unhealthy = 0, probes = 0;
	bool logged;

	mount_small_disk(8);
	snprintf(F.tablespace, sizeof F.tablespace, "edumon_full_%ld", (long)getpid());
	{
		char *admin = tl_pg_conninfo_admin();
		PGconn *c = tl_db_connect(admin);

		snprintf(
		    sql, sizeof sql, "CREATE TABLESPACE %s LOCATION '%s'", F.tablespace, F.dir);
		tl_exec(c, sql);
		PQfinish(c);
		free(admin);
	}
	snprintf(sql, sizeof sql, "ALTER TABLE edumon.submission SET TABLESPACE %s", F.tablespace);
	tl_exec(E.pg, sql);
	snprintf(
	    sql, sizeof sql, "CREATE TABLE public.filler (pad text) TABLESPACE %s", F.tablespace);
	tl_exec(E.pg, sql);
	tl_exec(E.pg, "ALTER TABLE public.filler ALTER pad SET STORAGE PLAIN");

	start_daemon(NULL);
	pid = tl_daemon_pid(E.d);
	tl_wait_alerts_ready(E.port);
	load_start("full", 8, 5000);
	cr_assert(
	    load_wait_acked(100, 30), "the load flows: %d acknowledged", atomic_load(&E.lg.acked));

	rows = fill_disk();
	t0 = now_usec();
	acked_at_full = atomic_load(&E.lg.acked);
	refused_at_full = atomic_load(&E.lg.unavailable);
	/* The last free bytes of the submission table's pages go, then 503s. */
	while (atomic_load(&E.lg.unavailable) < refused_at_full + 50 && elapsed_s(t0) < 30) {
		struct tl_resp r;

		if (tl_http_ex(E.port, "GET", "/healthz", NULL, NULL, 0, 10000, &r) != TL_HTTP_OK ||
		    r.status != 200)
			unhealthy++;
		probes++;
		tl_resp_free(&r);
		sleep_ms(100);
	}
	cr_assert_geq(atomic_load(&E.lg.unavailable), refused_at_full + 50,
	    "a full disk turns submissions away with 503");
	cr_expect_eq(kill(pid, 0), 0, "edumond is still running");
	full_for = elapsed_s(t0);
	acked_at_free = atomic_load(&E.lg.acked);
	tl_exec(E.pg, "DROP TABLE public.filler");
	t0 = now_usec();
	cr_assert(load_wait_acked(acked_at_free + 100, 30), "ingest resumes once space is freed");
	recovery = elapsed_s(t0);
	load_stop(30);

	cmd = xasprintf("grep -q 'No space left on device' '%s'", tl_daemon_log(E.d));
	logged = tl_run(cmd, NULL) == 0;
	free(cmd);
	figures_of(&f);
	expect_consistent(&f);
	cr_expect_eq(f.unacked, 0, "every key was acknowledged in the end");
	cr_expect_eq(f.stored, f.acked, "stored == acknowledged");
	cr_expect_eq(f.unacked_stored, 0);
	cr_expect_eq(
	    unhealthy, 0, "/healthz answered 200 while the disk was full (%d probes)", probes);
	cr_expect(logged, "the log names the cause (%s)", tl_daemon_log(E.d));
	snprintf(more, sizeof more,
	    "tablespace of 8 MB filled with %ld rows; %d acknowledged after the fill, then 503s"
	    " for %.1f s; /healthz %d probes, all 200: %s; first 100 acknowledged %.2f s after"
	    " the filler was dropped; 503 body: %s",
	    rows, acked_at_free - acked_at_full, full_for, probes, unhealthy == 0 ? "yes" : "no",
	    recovery, f.t.last_503);
	figures_print("disk_full", &f, more);
}
