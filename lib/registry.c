/*
 * registry.c: the org-unit hierarchy in memory, see registry.h.
 *
 * Units live in an array of owned pointers (a replaced unit keeps its slot;
 * a unit displaced by a second replacement, which takes inconsistent data,
 * leaves a NULL hole: a registry is built once per load, so holes are few).
 * Two hash indexes (index.h) map a code and an id to an array index.
 *
 * Invariants: every live unit is in both indexes exactly once; no two live
 * units share a code or an id.
 */
#include "registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "util.h"

/* registry_within gives up after this many steps (a cycle in bad data). */
#define WITHIN_MAX_STEPS 16

struct registry {
	struct unit **units; /* nunits slots, some NULL after replacements */
	size_t nunits;
	size_t unitcap;
	size_t count; /* live units */

	struct index *by_code; /* code -> index in units */
	struct index *by_id;   /* id -> index in units */
};

static const char *const unit_kind_names[UNIT_KIND_COUNT] = {
	[UNIT_PROVINCE] = "province",
	[UNIT_CITY] = "city",
	[UNIT_DISTRICT] = "district",
	[UNIT_SCHOOL] = "school",
	[UNIT_CHILDCARE] = "childcare",
	[UNIT_GUIDANCE_POINT] = "guidance_point",
};

static const char *const stage_names[STAGE_COUNT] = {
	[STAGE_PRESCHOOL] = "preschool",
	[STAGE_PRIMARY] = "primary",
	[STAGE_JUNIOR] = "junior",
	[STAGE_SENIOR] = "senior",
	[STAGE_SPECIAL] = "special",
	[STAGE_VOCATIONAL] = "vocational",
};

/* Name of kind, or "unknown" for a value outside the enum. */
const char *
unit_kind_name(enum unit_kind kind)
{
	if ((unsigned)kind >= UNIT_KIND_COUNT)
		return "unknown";
	return unit_kind_names[kind];
}

/* Inverse of unit_kind_name: 0, or -1 if s names no kind. */
int
unit_kind_parse(const char *s, enum unit_kind *out)
{
	int i = names_index(unit_kind_names, UNIT_KIND_COUNT, s, strlen(s));

	if (i < 0)
		return -1;
	*out = (enum unit_kind)i;
	return 0;
}

/* Name of stage s, or "unknown" for a value outside the enum. */
const char *
stage_name(enum stage s)
{
	if ((unsigned)s >= STAGE_COUNT)
		return "unknown";
	return stage_names[s];
}

/* Inverse of stage_name: 0, or -1 if s names no stage. */
int
stage_parse(const char *s, enum stage *out)
{
	int i = names_index(stage_names, STAGE_COUNT, s, strlen(s));

	if (i < 0)
		return -1;
	*out = (enum stage)i;
	return 0;
}

/*
 * Parse a sep-separated list of names from names[0..n) into a bit mask.
 * what is "stage" or "unit kind" for messages. 0, or -1 with *cause set
 * (caller frees) and *mask untouched.
 */
static int
names_parse(const char *const *names, size_t n, const char *what, const char *s, char sep,
    unsigned *mask, char **cause)
{
	unsigned m = 0;
	const char *p = s, *end;
	struct buf expected;

	if (*s == '\0') {
		*mask = 0;
		return 0;
	}
	for (;;) {
		int i;

		end = strchr(p, sep);
		if (end == NULL)
			end = p + strlen(p);
		i = names_index(names, n, p, (size_t)(end - p));
		if (i < 0)
			goto fail;
		m |= 1u << i;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	*mask = m;
	return 0;

fail:
	buf_init(&expected);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_puts(&expected, ", ");
		buf_puts(&expected, names[i]);
	}
	if (end == p)
		*cause = xasprintf("empty %s name in \"%s\" (expected %s)", what, s,
		    expected.data);
	else
		*cause = xasprintf("unknown %s \"%.*s\" (expected %s)", what, (int)(end - p), p,
		    expected.data);
	buf_free(&expected);
	return -1;
}

/* See registry.h. */
int
stages_parse(const char *s, char sep, unsigned *mask, char **cause)
{
	return names_parse(stage_names, STAGE_COUNT, "stage", s, sep, mask, cause);
}

/* See registry.h. */
int
unit_kinds_parse(const char *s, char sep, unsigned *mask, char **cause)
{
	return names_parse(unit_kind_names, UNIT_KIND_COUNT, "unit kind", s, sep, mask, cause);
}

/*
 * Names of the stages in mask joined by sep into out[0..len). If out is too
 * small the list stops after the last name that fits whole (out is always
 * NUL-terminated when len > 0). Returns out.
 */
char *
stages_format(unsigned mask, char sep, char *out, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return out;
	out[0] = '\0';
	for (int i = 0; i < STAGE_COUNT; i++) {
		size_t n, extra;

		if (!(mask & STAGE_BIT(i)))
			continue;
		n = strlen(stage_names[i]);
		extra = (used > 0 ? 1 : 0) + n;
		if (used + extra >= len)
			break;
		if (used > 0)
			out[used++] = sep;
		memcpy(out + used, stage_names[i], n);
		used += n;
		out[used] = '\0';
	}
	return out;
}

/* Create an empty registry; never NULL. Free with registry_free. */
struct registry *
registry_new(void)
{
	struct registry *reg = xcalloc(1, sizeof *reg);

	reg->by_code = index_new();
	reg->by_id = index_new();
	return reg;
}

/* Free u and its strings; NULL is a no-op. */
static void
unit_free(struct unit *u)
{
	if (u == NULL)
		return;
	free(u->code);
	free(u->name);
	free(u);
}

/* Free reg and every unit it holds; NULL is a no-op. */
void
registry_free(struct registry *reg)
{
	if (reg == NULL)
		return;
	for (size_t i = 0; i < reg->nunits; i++)
		unit_free(reg->units[i]);
	free(reg->units);
	index_free(reg->by_code);
	index_free(reg->by_id);
	free(reg);
}

/* A deep copy of u (NULL strings become ""); never NULL. */
static struct unit *
unit_copy(const struct unit *u)
{
	struct unit *c = xmalloc(sizeof *c);

	*c = *u;
	c->code = xstrdup(u->code != NULL ? u->code : "");
	c->name = xstrdup(u->name != NULL ? u->name : "");
	return c;
}

/*
 * Copy u into the registry. A unit with the same id, or the same code, is
 * replaced (both, if they are two different units). Pointers previously
 * returned for a replaced unit become invalid.
 */
void
registry_add(struct registry *reg, const struct unit *u)
{
	struct unit *c = unit_copy(u);
	size_t pid, pcode, idx;

	pid = index_get(reg->by_id, INDEX_INT(c->id));
	pcode = index_get(reg->by_code, INDEX_STR(c->code));
	if (pid != INDEX_NONE) {
		/* Same id: take over its slot; its code leaves the code index. */
		idx = pid;
		if (pcode != INDEX_NONE && pcode != idx) {
			/* A second unit holds the code: drop it entirely. */
			index_del(reg->by_id, INDEX_INT(reg->units[pcode]->id));
			index_del(reg->by_code, INDEX_STR(reg->units[pcode]->code));
			unit_free(reg->units[pcode]);
			reg->units[pcode] = NULL;
			reg->count--;
		}
		index_del(reg->by_code, INDEX_STR(reg->units[idx]->code));
		unit_free(reg->units[idx]);
		reg->units[idx] = c;
		index_put(reg->by_code, INDEX_STR(c->code), idx);
	} else if (pcode != INDEX_NONE) {
		/* Same code, new id: take over its slot; its id leaves. */
		idx = pcode;
		index_del(reg->by_id, INDEX_INT(reg->units[idx]->id));
		index_put(reg->by_code, INDEX_STR(c->code), idx); /* the key is now c's copy */
		unit_free(reg->units[idx]);
		reg->units[idx] = c;
		index_put(reg->by_id, INDEX_INT(c->id), idx);
	} else {
		if (reg->nunits == reg->unitcap) {
			reg->unitcap = reg->unitcap ? reg->unitcap * 2 : 16;
			reg->units = xreallocarray(reg->units, reg->unitcap, sizeof *reg->units);
		}
		idx = reg->nunits++;
		reg->units[idx] = c;
		reg->count++;
		index_put(reg->by_code, INDEX_STR(c->code), idx);
		index_put(reg->by_id, INDEX_INT(c->id), idx);
	}
}

/* Number of units held. */
size_t
registry_count(const struct registry *reg)
{
	return reg->count;
}

/* The unit with this code, borrowed from reg, or NULL. */
const struct unit *
registry_by_code(const struct registry *reg, const char *code)
{
	size_t p = index_get(reg->by_code, INDEX_STR(code));

	return p == INDEX_NONE ? NULL : reg->units[p];
}

/* The unit with this id, borrowed from reg, or NULL. */
const struct unit *
registry_by_id(const struct registry *reg, int id)
{
	size_t p = index_get(reg->by_id, INDEX_INT(id));

	return p == INDEX_NONE ? NULL : reg->units[p];
}

const struct unit *
registry_next(const struct registry *reg, size_t *pos)
{
	while (*pos < reg->nunits) {
		const struct unit *u = reg->units[(*pos)++];

		if (u != NULL)
			return u;
	}
	return NULL;
}

/*
 * True if unit_id names a known unit that is ancestor_id or lies beneath it.
 * Follows at most WITHIN_MAX_STEPS parent links, so a cycle or an absurdly
 * deep chain in bad data answers false rather than looping.
 */
bool
registry_within(const struct registry *reg, int unit_id, int ancestor_id)
{
	const struct unit *u = registry_by_id(reg, unit_id);

	for (int step = 0; u != NULL && step < WITHIN_MAX_STEPS; step++) {
		if (u->id == ancestor_id)
			return true;
		if (u->parent_id == 0)
			return false;
		u = registry_by_id(reg, u->parent_id);
	}
	return false;
}
