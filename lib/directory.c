/*
 * directory.c: see directory.h.
 */
#include "directory.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgc.h"
#include "util.h"

#define RELOAD_EVERY_S 60
#define TOUCH_EVERY_S 10

struct token_entry {
	unsigned char hash[SHA256_LEN];
	int token_id;
	enum role role;
	int unit_id;
	bool used;
};

/* Open addressing keyed by the digest's first bytes. */
struct tokens {
	struct token_entry *slots;
	size_t cap;
	size_t n;
};

struct directory {
	struct event_base *base;
	struct pgc *pgc;
	struct pgc_config cfg;
	struct snapshot *current;
	struct event *timer;
	struct event *retry;
	struct event *touch;
	int *used;       /* token ids used since the last write, unique */
	size_t nused, capused;
	bool loading;
	bool again; /* a reload was asked for while loading */
	int durable; /* -1 not yet known, 0 no, 1 yes */
};

static const char *const setup_sql[] = {"LISTEN edumon_registry"};

static const struct pgc_stmt load_stmts[] = {
    {NULL, "SELECT coalesce(max(version), 0) FROM edumon.schema_migration", 0, NULL},
    {NULL,
        "SELECT id, code, name, kind, coalesce(parent_id, 0), array_to_string(stages, ','),"
        " urban, public, active FROM edumon.org_unit",
        0, NULL},
    {NULL,
        "SELECT id, code, name_zh, name_en, unit, kind, period_kind, min_value, max_value,"
        " array_to_string(stages, ','), array_to_string(unit_kinds, ','), description"
        " FROM edumon.metric ORDER BY id",
        0, NULL},
    {NULL,
        "SELECT id, encode(token_sha256, 'hex'), role, coalesce(unit_id, 0)"
        " FROM edumon.api_token WHERE revoked_at IS NULL",
        0, NULL},
};

static size_t
slot_of(const unsigned char *hash, size_t cap)
{
	uint64_t h;

	memcpy(&h, hash, sizeof h);
	return (size_t)(h & (cap - 1));
}

struct tokens *
tokens_new(void)
{
	struct tokens *t = xcalloc(1, sizeof *t);

	t->cap = 64;
	t->slots = xcalloc(t->cap, sizeof *t->slots);
	return t;
}

void
tokens_free(struct tokens *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t);
}

static void
tokens_put(struct token_entry *slots, size_t cap, const struct token_entry *e)
{
	size_t i = slot_of(e->hash, cap);

	while (slots[i].used && memcmp(slots[i].hash, e->hash, SHA256_LEN) != 0)
		i = (i + 1) & (cap - 1);
	slots[i] = *e;
	slots[i].used = true;
}

void
tokens_add(struct tokens *t, const unsigned char hash[SHA256_LEN], int token_id,
    enum role role, int unit_id)
{
	struct token_entry e;

	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap * 2;
		struct token_entry *slots = xcalloc(cap, sizeof *slots);

		for (size_t i = 0; i < t->cap; i++)
			if (t->slots[i].used)
				tokens_put(slots, cap, &t->slots[i]);
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	memset(&e, 0, sizeof e);
	memcpy(e.hash, hash, SHA256_LEN);
	e.token_id = token_id;
	e.role = role;
	e.unit_id = unit_id;
	tokens_put(t->slots, t->cap, &e);
	t->n++;
}

int
tokens_lookup(const struct tokens *t, const unsigned char hash[SHA256_LEN], struct principal *p)
{
	size_t i = slot_of(hash, t->cap);

	for (; t->slots[i].used; i = (i + 1) & (t->cap - 1)) {
		if (digest_equal(t->slots[i].hash, hash)) {
			p->token_id = t->slots[i].token_id;
			p->role = t->slots[i].role;
			p->unit_id = t->slots[i].unit_id;
			return 0;
		}
	}
	return -1;
}

int
snapshot_authenticate(const struct snapshot *s, const char *token, size_t len,
    struct principal *p)
{
	unsigned char hash[SHA256_LEN];

	if (!token_well_formed(token, len))
		return -1;
	sha256(token, len, hash);
	return tokens_lookup(s->tokens, hash, p);
}

static void
snapshot_free(struct snapshot *s)
{
	catalog_free(s->catalog);
	registry_free(s->registry);
	tokens_free(s->tokens);
	free(s);
}

void
snapshot_release(struct snapshot *s)
{
	if (s != NULL && --s->refs == 0)
		snapshot_free(s);
}

struct snapshot *
directory_acquire(struct directory *d)
{
	if (d->current == NULL)
		return NULL;
	d->current->refs++;
	return d->current;
}

bool
directory_connected(const struct directory *d)
{
	return pgc_ready(d->pgc);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A hash of every cell of res, for the snapshot's content_version. */
static uint64_t
result_hash(uint64_t h, const PGresult *res)
{
	for (int i = 0; i < PQntuples(res); i++) {
		for (int j = 0; j < PQnfields(res); j++) {
			const char *v = PQgetvalue(res, i, j);
			int len = PQgetlength(res, i, j);

			for (int k = 0; k < len; k++)
				h = (h ^ (unsigned char)v[k]) * 0x100000001b3ull;
			h = hash_mix64(h ^ (uint64_t)(len + 1) ^ (PQgetisnull(res, i, j) ? 1u << 31 : 0));
		}
	}
	return h;
}

/* Build a snapshot from the four result sets; NULL with *cause on bad data. */
static struct snapshot *
snapshot_build(PGresult *const *r, char **cause)
{
	struct snapshot *s = xcalloc(1, sizeof *s);

	s->refs = 1;
	s->schema_version = atoi(PQgetvalue(r[0], 0, 0));
	s->content_version = result_hash(result_hash(0xcbf29ce484222325ull, r[1]), r[2]);
	s->registry = registry_new();
	s->catalog = catalog_new();
	s->tokens = tokens_new();
	for (int i = 0; i < PQntuples(r[1]); i++) {
		struct unit u;

		memset(&u, 0, sizeof u);
		u.id = atoi(PQgetvalue(r[1], i, 0));
		u.code = PQgetvalue(r[1], i, 1);
		u.name = PQgetvalue(r[1], i, 2);
		if (unit_kind_parse(PQgetvalue(r[1], i, 3), &u.kind) < 0 ||
		    stages_parse(PQgetvalue(r[1], i, 5), ',', &u.stages, cause) < 0) {
			if (*cause == NULL)
				*cause = xasprintf("unit %s: unknown kind", u.code);
			goto fail;
		}
		u.parent_id = atoi(PQgetvalue(r[1], i, 4));
		u.urban = PQgetvalue(r[1], i, 6)[0] == 't';
		u.is_public = PQgetvalue(r[1], i, 7)[0] == 't';
		u.active = PQgetvalue(r[1], i, 8)[0] == 't';
		registry_add(s->registry, &u);
	}
	for (int i = 0; i < PQntuples(r[2]); i++) {
		struct metric m;

		memset(&m, 0, sizeof m);
		m.id = atoi(PQgetvalue(r[2], i, 0));
		m.code = PQgetvalue(r[2], i, 1);
		m.name_zh = PQgetvalue(r[2], i, 2);
		m.name_en = PQgetvalue(r[2], i, 3);
		m.unit = PQgetvalue(r[2], i, 4);
		m.min = strtod(PQgetvalue(r[2], i, 7), NULL);
		m.max = strtod(PQgetvalue(r[2], i, 8), NULL);
		m.description = PQgetvalue(r[2], i, 11);
		if (metric_kind_parse(PQgetvalue(r[2], i, 5), &m.kind) < 0 ||
		    period_kind_parse(PQgetvalue(r[2], i, 6), &m.period_kind) < 0 ||
		    stages_parse(PQgetvalue(r[2], i, 9), ',', &m.stages, cause) < 0 ||
		    unit_kinds_parse(PQgetvalue(r[2], i, 10), ',', &m.unit_kinds, cause) < 0) {
			if (*cause == NULL)
				*cause = xasprintf("metric %s: unknown kind or period kind", m.code);
			goto fail;
		}
		catalog_add(s->catalog, &m);
	}
	for (int i = 0; i < PQntuples(r[3]); i++) {
		const char *hex = PQgetvalue(r[3], i, 1);
		unsigned char hash[SHA256_LEN];
		enum role role;

		if (strlen(hex) != 2 * SHA256_LEN || role_parse(PQgetvalue(r[3], i, 2), &role) < 0)
			continue;
		for (size_t k = 0; k < SHA256_LEN; k++)
			hash[k] = (unsigned char)(hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]));
		tokens_add(s->tokens, hash, atoi(PQgetvalue(r[3], i, 0)), role,
		    atoi(PQgetvalue(r[3], i, 3)));
	}
	return s;
fail:
	snapshot_free(s);
	return NULL;
}

static void directory_load(struct directory *d);

void
directory_note_use(struct directory *d, int token_id)
{
	/* A handful of tokens are active at once: a linear scan is enough. */
	for (size_t i = 0; i < d->nused; i++)
		if (d->used[i] == token_id)
			return;
	if (d->nused == d->capused) {
		d->capused = d->capused ? d->capused * 2 : 16;
		d->used = xreallocarray(d->used, d->capused, sizeof *d->used);
	}
	d->used[d->nused++] = token_id;
}

static void
touch_done_cb(const struct pgc_outcome *out, void *arg)
{
	(void)arg;
	if (!out->ok)
		log_warn("directory: cannot record token use: %s", out->error);
}

/* Write last_used_at for the tokens used since the last call. */
static void
touch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct directory *d = arg;
	struct buf ids;
	const char *v[1];
	struct pgc_stmt stmt;

	(void)fd;
	(void)what;
	if (d->nused == 0 || !pgc_ready(d->pgc))
		return;
	buf_init(&ids);
	for (size_t i = 0; i < d->nused; i++) {
		buf_pg_array_sep(&ids, i);
		buf_printf(&ids, "%d", d->used[i]);
	}
	buf_pg_array_end(&ids, d->nused);
	v[0] = ids.data;
	stmt = (struct pgc_stmt){NULL,
	    "UPDATE edumon.api_token SET last_used_at = now() WHERE id = ANY($1::int[])", 1, v};
	if (pgc_submit(d->pgc, &stmt, 1, touch_done_cb, NULL) == 0)
		d->nused = 0;
	buf_free(&ids);
}

static void
load_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct directory *d = arg;
	struct snapshot *s;
	char *cause = NULL;

	d->loading = false;
	if (!out->ok) {
		if (out->sqlstate != NULL && strcmp(out->sqlstate, "42P01") == 0)
			log_error("directory: the edumon schema is missing: run `edumon migrate`");
		else
			log_warn("directory: load failed: %s", out->error);
		if (out->sqlstate != NULL) {
			struct timeval soon = {2, 0};

			evtimer_add(d->retry, &soon);
		}
		return; /* a lost connection reloads once it is back */
	}
	s = snapshot_build(out->results, &cause);
	if (s == NULL) {
		log_error("directory: refusing a bad registry: %s", cause);
		free(cause);
		return;
	}
	if (d->current == NULL || d->current->schema_version != s->schema_version ||
	    registry_count(d->current->registry) != registry_count(s->registry))
		log_info("directory: loaded schema %d, %zu units, %zu metrics", s->schema_version,
		    registry_count(s->registry), catalog_count(s->catalog));
	snapshot_release(d->current);
	d->current = s;
	if (d->again) {
		d->again = false;
		directory_load(d);
	}
}

static void
directory_load(struct directory *d)
{
	if (d->loading) {
		d->again = true;
		return;
	}
	if (pgc_submit(d->pgc, load_stmts, (int)ARRAY_LEN(load_stmts), load_done_cb, d) == 0)
		d->loading = true;
}

static const struct pgc_stmt durability_stmt = {NULL,
    "SELECT current_setting('synchronous_commit'), current_setting('fsync')", 0, NULL};

/*
 * A 201 promises the submission is on disk only if PostgreSQL's COMMIT waits
 * for its WAL flush. Say so loudly, once per change, when it does not.
 */
static void
durability_done_cb(const struct pgc_outcome *out, void *arg)
{
	struct directory *d = arg;
	const char *sc, *fs;
	int durable;

	if (!out->ok || out->nresults < 1 || out->results[0] == NULL ||
	    PQntuples(out->results[0]) != 1) {
		if (out->sqlstate != NULL)
			log_warn("directory: cannot read synchronous_commit and fsync: %s", out->error);
		return;
	}
	sc = PQgetvalue(out->results[0], 0, 0);
	fs = PQgetvalue(out->results[0], 0, 1);
	durable = strcmp(sc, "off") != 0 && strcmp(fs, "off") != 0;
	if (durable == d->durable)
		return;
	d->durable = durable;
	if (!durable)
		log_warn("database: synchronous_commit=%s fsync=%s: a crash can lose committed"
			 " submissions, so the no-loss promise of edumon does not hold; set both on", sc, fs);
	else
		log_info("database: synchronous_commit=%s fsync=%s: commits are durable", sc, fs);
}

static void
state_cb(struct pgc *c, bool ready, void *arg)
{
	struct directory *d = arg;

	(void)c;
	if (!ready)
		return;
	/* Before the load: /readyz is ready only after it, and durability is known. */
	pgc_submit(d->pgc, &durability_stmt, 1, durability_done_cb, d);
	directory_load(d);
}

static void
notify_cb(struct pgc *c, const char *channel, const char *payload, void *arg)
{
	(void)c;
	(void)channel;
	(void)payload;
	directory_load(arg);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	directory_load(arg);
}

int
directory_submit(struct directory *d, const struct pgc_stmt *stmts, int n, pgc_job_cb cb,
    void *arg)
{
	return pgc_submit(d->pgc, stmts, n, cb, arg);
}

bool
directory_durable(const struct directory *d)
{
	return d->durable == 1;
}

void
directory_reload(struct directory *d)
{
	directory_load(d);
}

struct directory *
directory_new(struct event_base *base, const char *conninfo)
{
	struct directory *d = xcalloc(1, sizeof *d);
	struct timeval every = {RELOAD_EVERY_S, 0};
	struct timeval touch_every = {TOUCH_EVERY_S, 0};

	d->base = base;
	d->durable = -1;
	d->cfg.conninfo = conninfo;
	d->cfg.name = "control";
	d->cfg.setup_sql = setup_sql;
	d->cfg.nsetup = ARRAY_LEN(setup_sql);
	d->cfg.connect_timeout_ms = 5000;
	d->cfg.on_state = state_cb;
	d->cfg.on_notify = notify_cb;
	d->cfg.arg = d;
	d->timer = event_new(base, -1, EV_PERSIST, timer_cb, d);
	d->retry = evtimer_new(base, timer_cb, d);
	d->touch = event_new(base, -1, EV_PERSIST, touch_cb, d);
	if (d->timer == NULL || d->retry == NULL || d->touch == NULL ||
	    event_add(d->timer, &every) != 0 || event_add(d->touch, &touch_every) != 0)
		abort();
	d->pgc = pgc_new(base, &d->cfg);
	return d;
}

void
directory_free(struct directory *d)
{
	if (d == NULL)
		return;
	event_free(d->timer);
	event_free(d->retry);
	event_free(d->touch);
	pgc_free(d->pgc);
	free(d->used);
	snapshot_release(d->current);
	free(d);
}
