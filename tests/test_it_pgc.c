/*
 * test_it_pgc.c: lib/pgc.c against a real PostgreSQL.
 *
 * edumond learns of new tokens, units and rules through LISTEN/NOTIFY on
 * its control connection. libpq parses a NotificationResponse only after
 * the results queued before it have been taken, so a notification that
 * arrives in the same read as a job's results surfaces only during the
 * drain. CI once saw a token created just after start stay unknown to the
 * daemon (401) because that notification then sat in libpq until the next
 * byte on the socket. These tests pin the order down.
 */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgc.h"
#include "testlib.h"
#include "util.h"

TestSuite(it_pgc, .timeout = 60);

/*
 * Each test process listens on a channel of its own: Criterion runs tests
 * in parallel against one database, and one test's notifications must not
 * reach another.
 */
static char channel[64];

struct probe {
	struct event_base *base;
	struct pgc *pgc;
	struct event *deadline;
	int jobs_done;
	int notifies;
	char payload[64];
	bool job_ok;
	const char *sql; /* submitted once the connection is ready */
};

static void
job_cb(const struct pgc_outcome *out, void *arg)
{
	struct probe *p = arg;

	p->job_ok = out->ok;
	p->jobs_done++;
}

static void
state_cb(struct pgc *c, bool ready, void *arg)
{
	struct probe *p = arg;
	/*
	 * Two statements in one pipeline: PostgreSQL sends the notification at
	 * commit, behind the second statement's results, and libpq's parser
	 * stops at that second result until the first has been taken.
	 */
	struct pgc_stmt st[2] = {{NULL, p->sql, 0, NULL}, {NULL, "SELECT 1", 0, NULL}};

	if (ready && p->jobs_done == 0)
		cr_assert_eq(pgc_submit(c, st, 2, job_cb, p), 0);
}

static void
notify_cb(struct pgc *c, const char *got, const char *payload, void *arg)
{
	struct probe *p = arg;

	(void)c;
	cr_expect_str_eq(got, channel);
	snprintf(p->payload, sizeof p->payload, "%s", payload);
	p->notifies++;
	event_base_loopbreak(p->base);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * Run the loop until a notification arrives or ms pass. sql is a format
 * with one %s, the channel.
 */
static void
run_probe(struct probe *p, const char *fmt, long ms)
{
	char *conninfo = tl_pg_conninfo_admin();
	char *listen = NULL, *sql;
	const char *listen_sql[1];
	struct pgc_config cfg = {
	    .conninfo = conninfo,
	    .name = "test",
	    .setup_sql = listen_sql,
	    .nsetup = 1,
	    .connect_timeout_ms = 5000,
	    .on_state = state_cb,
	    .on_notify = notify_cb,
	    .arg = p,
	};
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	snprintf(channel, sizeof channel, "edumon_test_%ld", (long)getpid());
	listen = xasprintf("LISTEN %s", channel);
	listen_sql[0] = listen;
	sql = xasprintf(fmt, channel);
	memset(p, 0, sizeof *p);
	p->sql = sql;
	p->base = event_base_new();
	cr_assert_not_null(p->base);
	p->deadline = evtimer_new(p->base, deadline_cb, p->base);
	evtimer_add(p->deadline, &tv);
	p->pgc = pgc_new(p->base, &cfg);
	event_base_dispatch(p->base);
	pgc_free(p->pgc);
	event_free(p->deadline);
	event_base_free(p->base);
	free(sql);
	free(listen);
	free(conninfo);
}

/*
 * The session notifies itself: PostgreSQL sends the notification right
 * behind the job's results, in one packet. Nothing else will
 * ever arrive on this socket, so the notification must surface from the
 * read that carried it.
 */
Test(it_pgc, notification_behind_results_is_delivered)
{
	struct probe p;

	run_probe(&p, "SELECT pg_notify('%s', 'behind-results')", 5000);
	cr_assert_eq(p.jobs_done, 1, "the job finished");
	cr_expect(p.job_ok);
	cr_assert_eq(p.notifies, 1, "the notification was handed over without further traffic");
	cr_expect_str_eq(p.payload, "behind-results");
}

/* Several notifications in one transaction, behind a multi-row result. */
Test(it_pgc, every_notification_of_a_transaction_is_delivered)
{
	struct probe p;

	run_probe(&p,
	    "SELECT g, pg_notify('%s', 'n' || g) FROM generate_series(1, 3) g", 5000);
	cr_assert_eq(p.jobs_done, 1);
	cr_expect(p.job_ok);
	/* The loop stops at the first; the rest are delivered in the same pass. */
	cr_expect_eq(p.notifies, 3, "all three notifications, got %d", p.notifies);
	cr_expect_str_eq(p.payload, "n3");
}
