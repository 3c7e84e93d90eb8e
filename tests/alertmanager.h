/*
 * alertmanager.h: a real Prometheus Alertmanager on loopback for tests, to
 * push alerts to (its v2 API) and read them back, and to have it send its
 * own webhook notifications to a receiver (receiver.h).
 *
 * The binary is $EDUMON_ALERTMANAGER, else prometheus-alertmanager (the
 * Debian package tools/install-deps.sh installs) or alertmanager (upstream's
 * name) found in PATH. Each instance gets a temporary directory (under
 * $EDUMON_TEST_TMPDIR, $TMPDIR or /tmp) holding its configuration, its
 * storage and its log, clustering disabled, a free loopback port, and is
 * killed with the test process however that ends.
 *
 * Like testlib.h, functions documented as "fails the test" report through
 * cr_assert_fail() and do not return an error.
 */
#ifndef EDUMON_TEST_ALERTMANAGER_H
#define EDUMON_TEST_ALERTMANAGER_H

#include <stdint.h>

struct am;

/*
 * Path of the Alertmanager binary, or NULL when there is none. Static
 * storage, computed once.
 */
const char *am_binary(void);

/*
 * Start an Alertmanager whose only receiver, "edumon-test", sends webhook
 * notifications (send_resolved: true) to webhook_url, or does nothing when
 * webhook_url is NULL. Every alert is routed there, grouped by alertname,
 * group_wait 100ms, group_interval 1s, repeat_interval 1h. Waits up to 30 s
 * for GET /-/ready to answer 200.
 *
 * Without a binary the test is skipped (cr_skip_test) with a message that
 * says how to install one, unless $CI is set: in CI a missing Alertmanager
 * fails the test. Fails the test if it exits or is not ready in time (with
 * the end of its log). Release with am_stop().
 */
struct am *am_start(const char *webhook_url);

/* Kill it (SIGTERM, then SIGKILL after 5 s), reap it, remove its directory, free am. NULL is a
 * no-op. */
void am_stop(struct am *am);

/* "http://127.0.0.1:PORT", the base of its API. Owned by am. */
const char *am_url(const struct am *am);

/* Its port. */
int am_port(const struct am *am);

/* Milliseconds from fork to the first 200 from GET /-/ready. */
int64_t am_startup_ms(const struct am *am);

/*
 * The body of GET /api/v2/alerts, with "?" + query appended when query is
 * not NULL (already percent-encoded, e.g.
 * "active=true&filter=alertname%3D%22x%22"). Caller frees. Fails the test
 * unless the answer is 200.
 */
char *am_alerts_json(struct am *am, const char *query);

/*
 * POST body (a JSON array, notify_alertmanager_body) to /api/v2/alerts.
 * Returns the HTTP status (200 when accepted); fails the test when there is
 * no answer.
 */
int am_post_alerts(struct am *am, const char *body);

#endif
