/*
 * rulesd.c: see rulesd.h.
 */
#include "rulesd.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "log.h"
#include "rules.h"
#include "token.h"
#include "util.h"

/* How often an unmirrored set is tried (cheap when mirrored). */
#define MIRROR_RETRY_US 200000

struct rulesd {
	struct event_base *base;
	struct directory *dir;
	char *path;
	struct ruleset *set;
	struct ruleset **retired; /* sets replaced by a reload, freed at exit */
	size_t nretired;
	struct event *timer;
	int mirrored;  /* the set in force is in the database */
	int mirroring; /* a mirror job is in flight */
	int remirror;  /* the set changed while a mirror job was in flight */
	unsigned long failures;
};

/* Deactivate versions no longer in force, then insert or refresh ours. */
static const char sql_deactivate[] =
    "UPDATE edumon.rule SET active = false WHERE active AND (id, sha256) NOT IN"
    " (SELECT * FROM unnest($1::text[], $2::text[]))";
static const char sql_upsert[] =
    "INSERT INTO edumon.rule (id, sha256, title, kind, metric_code, scope, definition,"
    " source_file, ruleset)"
    " SELECT i, s, t, k, m, sc, d, f, $9 FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[])"
    " AS x(i, s, t, k, m, sc, d, f)"
    " ON CONFLICT (id, sha256) DO UPDATE SET active = true, ruleset = EXCLUDED.ruleset,"
    " last_loaded = now()";

/* One text element of an array literal; NULL stays NULL. */
static void
arr_text(struct buf *b, size_t i, const char *s)
{
	buf_pg_array_sep(b, i);
	buf_pg_array_text(b, s, s != NULL ? strlen(s) : 0);
}

static void
mirror_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct rulesd *r = arg;

	r->mirroring = 0;
	if (r->remirror) {
		/* That job recorded the previous set; the timer sends this one. */
		r->remirror = 0;
		return;
	}
	if (!out->ok) {
		log_warn("rules: cannot record the rule set in the database: %s (will retry)",
		    out->error);
		return;
	}
	r->mirrored = 1;
	log_info("rules: %zu rules in force, version %.12s, recorded in the database",
	    r->set->nrules, r->set->version);
}

/* Warn about rules whose metric the database's catalog lacks. */
static void
check_catalog(struct rulesd *r)
{
	struct snapshot *snap = directory_acquire(r->dir);

	if (snap == NULL)
		return;
	for (size_t i = 0; i < r->set->nrules; i++) {
		const struct rule *ru = &r->set->rules[i];

		if (ru->metric != NULL && catalog_by_code(snap->catalog, ru->metric) == NULL)
			log_warn("rules: rule %s judges metric %s, which the database's catalog"
				 " lacks: run `edumon catalog load`",
			    ru->id, ru->metric);
	}
	snapshot_release(snap);
}

static void
mirror(struct rulesd *r)
{
	struct buf a[8];
	const char *v[9];
	struct pgc_stmt stmts[2];
	const struct ruleset *set = r->set;

	if (r->mirrored || r->mirroring || !directory_connected(r->dir))
		return;
	for (size_t k = 0; k < 8; k++)
		buf_init(&a[k]);
	for (size_t i = 0; i < set->nrules; i++) {
		const struct rule *ru = &set->rules[i];
		char *canon = rule_canonical(ru);
		unsigned char h[SHA256_LEN];
		char hex[2 * SHA256_LEN + 1];

		sha256(canon, strlen(canon), h);
		hex_encode(h, SHA256_LEN, hex);
		arr_text(&a[0], i, ru->id);
		arr_text(&a[1], i, hex);
		arr_text(&a[2], i, ru->title);
		arr_text(&a[3], i, rule_kind_name(ru->kind));
		arr_text(&a[4], i, ru->metric);
		arr_text(&a[5], i, rule_scope_name(ru->scope));
		arr_text(&a[6], i, canon);
		arr_text(&a[7], i, ru->file != NULL ? ru->file : "");
		free(canon);
	}
	for (size_t k = 0; k < 8; k++) {
		buf_pg_array_end(&a[k], set->nrules);
		v[k] = a[k].data;
	}
	v[8] = set->version;
	stmts[0] = (struct pgc_stmt){NULL, sql_deactivate, 2, v};
	stmts[1] = (struct pgc_stmt){NULL, sql_upsert, 9, v};
	if (directory_submit(r->dir, stmts, 2, mirror_done_cb, r) == 0) {
		r->mirroring = 1;
		check_catalog(r);
	}
	for (size_t k = 0; k < 8; k++)
		buf_free(&a[k]);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mirror(arg);
}

struct rulesd *
rulesd_new(struct event_base *base, struct directory *d, const char *dir, char **errors)
{
	struct ruleset *set = rules_load_dir(dir, NULL, errors);
	struct rulesd *r;
	struct timeval every = {0, MIRROR_RETRY_US};

	if (set == NULL)
		return NULL;
	r = xcalloc(1, sizeof *r);
	r->base = base;
	r->dir = d;
	r->path = xstrdup(dir);
	r->set = set;
	r->timer = event_new(base, -1, EV_PERSIST, timer_cb, r);
	if (r->timer == NULL || event_add(r->timer, &every) != 0)
		abort();
	log_info("rules: loaded %zu rules from %zu files in %s, version %.12s", set->nrules,
	    set->nfiles, dir, set->version);
	return r;
}

int
rulesd_reload(struct rulesd *r, char **errors)
{
	struct ruleset *set = rules_load_dir(r->path, NULL, errors);

	if (set == NULL) {
		r->failures++;
		return -1;
	}
	if (strcmp(set->version, r->set->version) != 0) {
		/* The alerter may still be judging with the old set (it
		 * notices the change on its next clock tick): keep it until
		 * exit. A reload is a manual act; each costs a few kilobytes. */
		r->retired = xreallocarray(r->retired, r->nretired + 1, sizeof *r->retired);
		r->retired[r->nretired++] = r->set;
		r->set = set;
		r->mirrored = 0;
		if (r->mirroring)
			r->remirror = 1;
		else
			mirror(r);
	} else
		ruleset_free(set);
	log_info("rules: reloaded %zu rules from %s, version %.12s", r->set->nrules, r->path,
	    r->set->version);
	return 0;
}

const struct ruleset *
rulesd_current(const struct rulesd *r)
{
	return r->set;
}

int
rulesd_mirrored(const struct rulesd *r)
{
	return r->mirrored;
}

unsigned long
rulesd_reload_failures(const struct rulesd *r)
{
	return r->failures;
}

void
rulesd_free(struct rulesd *r)
{
	if (r == NULL)
		return;
	event_free(r->timer);
	ruleset_free(r->set);
	for (size_t i = 0; i < r->nretired; i++)
		ruleset_free(r->retired[i]);
	free(r->retired);
	free(r->path);
	free(r);
}
