/*
 * rulesd.h: the rule set in force in edumond. Loaded from the rules
 * directory at start (an invalid set refuses the start) and on SIGHUP (an
 * invalid set is refused, the old one keeps running, the log says why), and
 * mirrored into edumon.rule over the control connection after each
 * successful load, retried until the database takes it.
 *
 * Reading the rules directory is synchronous file I/O of a few small files,
 * done only at start and on SIGHUP, as pgbouncer reads its configuration.
 */
#ifndef EDUMON_RULESD_H
#define EDUMON_RULESD_H

#include <stddef.h>

struct event_base;
struct directory;
struct ruleset;
struct rulesd;

/* Load dir now. NULL with *errors (caller frees) if the set is invalid. */
struct rulesd *rulesd_new(struct event_base *base, struct directory *d, const char *dir,
    char **errors);
void rulesd_free(struct rulesd *r);
/* Reload the directory; 0, or -1 with the old set kept and *errors set. */
int rulesd_reload(struct rulesd *r, char **errors);
/*
 * The set in force. A set replaced by a reload stays allocated until
 * rulesd_free, so a borrower may keep using it until it notices the change.
 */
const struct ruleset *rulesd_current(const struct rulesd *r);
/* True once the set in force is recorded in the database. */
int rulesd_mirrored(const struct rulesd *r);
unsigned long rulesd_reload_failures(const struct rulesd *r);

#endif
