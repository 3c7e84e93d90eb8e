/*
 * alerter.h: the rules engine's I/O. Feeds lib/engine.c from PostgreSQL and
 * stores what it decides, on a connection of its own, without blocking the
 * event loop.
 *
 * - At start (and after any failure to store, and when the rule set
 *   changes) it builds the engine from the database: the alert states
 *   stored, the observations of the rules' metrics over a look-back window
 *   (as far back as the rules on each metric compare: `for` streaks, a year
 *   for year-on-year trends, baselines, quota periods, deadlines still
 *   open), then judges everything and catches
 *   up on the deadlines passed since the evaluation clock's last day
 *   (edumon.evaluation_clock), storing the changes.
 * - It observes the writer: each committed batch is applied to the engine
 *   (loading first any period the rules need and the engine lacks), and the
 *   alert changes, aggregate figures and events are stored in one
 *   transaction before the batch's requests are answered, so each receipt
 *   lists the alerts its submission raised or resolved, with their numbers.
 *   A batch not evaluated within answer_timeout_ms (database slow, engine
 *   rebuilding) is answered with "alerts": null and evaluated afterwards.
 * - A clock (every 10 s) notices a new day in the deployment's time zone
 *   (TZ) and runs the deadline checks; it also notices a new directory
 *   snapshot (registry or catalog changes) and a new rule set.
 *
 * Work is done one job at a time, in arrival order.
 */
#ifndef EDUMON_ALERTER_H
#define EDUMON_ALERTER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct alerter;
struct calendar;
struct directory;
struct rulesd;
struct writer;

struct alerter_config {
	const char *conninfo;
	/* School calendars per city or district (borrowed); units under none
	 * follow Monday to Friday. */
	const struct calendar *const *cals;
	size_t ncals;
	int answer_timeout_ms;      /* default 2000 when <= 0 */
	/* Alert changes (and figures) per transaction at most (default 5000
	 * when 0): a first start on a large registry may decide hundreds of
	 * thousands at once. A job's changes then span several transactions;
	 * its requests are answered after the last. */
	size_t store_chunk;
};

/* Start at once; installs itself as the writer's observer. */
struct alerter *alerter_new(struct event_base *base, const struct alerter_config *cfg,
    struct directory *d, struct rulesd *rd, struct writer *w);
/* Answer every commit held (without alerts) and free. NULL is a no-op. */
void alerter_free(struct alerter *a);
/* Call cb(arg) after every transaction that stored alert events (the
 * dispatcher's wake-up); NULL to stop. */
void alerter_set_stored_cb(struct alerter *a, void (*cb)(void *), void *arg);
/* True once the engine is built and the connection is up. */
bool alerter_ready(const struct alerter *a);

struct stats_gauges;
/* Fill the alert fields of g (for /metrics). */
void alerter_gauges(const struct alerter *a, struct stats_gauges *g);

#endif
