/*
 * registry.c: the org-unit hierarchy in memory, see registry.h.
 *
 * Units live in an array of owned pointers (a replaced unit keeps its slot;
 * a unit displaced by a second replacement leaves a NULL hole until the next
 * rebuild). Two open-addressing hash tables with linear probing map a code
 * and an id to an array index. A table slot holds index + 1, 0 for empty and
 * SLOT_DELETED for a tombstone; the tables are rebuilt (and the array
 * compacted) when live entries plus tombstones would pass half the capacity.
 *
 * Invariants: every live unit is in both tables exactly once; no two live
 * units share a code or an id.
 */
#include "registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SLOT_DELETED SIZE_MAX
/* registry_within gives up after this many steps (a cycle in bad data). */
#define WITHIN_MAX_STEPS 16

struct registry {
	struct unit **units; /* nunits slots, some NULL after replacements */
	size_t nunits;
	size_t unitcap;
	size_t count; /* live units */

	size_t *by_code; /* tabcap slots each: index + 1, 0, or SLOT_DELETED */
	size_t *by_id;
	size_t tabcap; /* power of two */
	size_t code_used; /* live + tombstones in by_code */
	size_t id_used;
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

/* Index of s in names[0..n), or -1. */
static int
name_index(const char *const *names, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return (int)i;
	return -1;
}

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
	int i = name_index(unit_kind_names, UNIT_KIND_COUNT, s, strlen(s));

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
	int i = name_index(stage_names, STAGE_COUNT, s, strlen(s));

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
		i = name_index(names, n, p, (size_t)(end - p));
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

/* FNV-1a over a NUL-terminated string. */
static size_t
hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

/* A multiplicative mix so that sequential ids spread over the table. */
static size_t
hash_id(int id)
{
	uint64_t h = (uint64_t)(uint32_t)id * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ (h >> 29));
}

/* Table position holding the unit with this code, or SIZE_MAX. */
static size_t
find_code(const struct registry *reg, const char *code)
{
	size_t mask = reg->tabcap - 1, i;

	if (reg->tabcap == 0)
		return SIZE_MAX;
	for (i = hash_str(code) & mask;; i = (i + 1) & mask) {
		size_t s = reg->by_code[i];

		if (s == 0)
			return SIZE_MAX;
		if (s != SLOT_DELETED && strcmp(reg->units[s - 1]->code, code) == 0)
			return i;
	}
}

/* Table position holding the unit with this id, or SIZE_MAX. */
static size_t
find_id(const struct registry *reg, int id)
{
	size_t mask = reg->tabcap - 1, i;

	if (reg->tabcap == 0)
		return SIZE_MAX;
	for (i = hash_id(id) & mask;; i = (i + 1) & mask) {
		size_t s = reg->by_id[i];

		if (s == 0)
			return SIZE_MAX;
		if (s != SLOT_DELETED && reg->units[s - 1]->id == id)
			return i;
	}
}

/*
 * Put index idx into a table at the first free or deleted slot from home.
 * The caller guarantees the key is not already present and that the table
 * has room. *used counts live entries and tombstones.
 */
static void
table_put(size_t *tab, size_t cap, size_t home, size_t idx, size_t *used)
{
	size_t mask = cap - 1, i;

	for (i = home & mask; tab[i] != 0 && tab[i] != SLOT_DELETED; i = (i + 1) & mask)
		;
	if (tab[i] == 0)
		(*used)++;
	tab[i] = idx + 1;
}

/* Compact the unit array and rebuild both tables with capacity for want. */
static void
rebuild(struct registry *reg, size_t want)
{
	size_t cap = 16, j = 0;

	while (cap < want * 2 + 2)
		cap *= 2;
	for (size_t i = 0; i < reg->nunits; i++)
		if (reg->units[i] != NULL)
			reg->units[j++] = reg->units[i];
	reg->nunits = j;
	free(reg->by_code);
	free(reg->by_id);
	reg->by_code = xcalloc(cap, sizeof *reg->by_code);
	reg->by_id = xcalloc(cap, sizeof *reg->by_id);
	reg->tabcap = cap;
	reg->code_used = reg->id_used = 0;
	for (size_t i = 0; i < reg->nunits; i++) {
		table_put(reg->by_code, cap, hash_str(reg->units[i]->code), i, &reg->code_used);
		table_put(reg->by_id, cap, hash_id(reg->units[i]->id), i, &reg->id_used);
	}
}

/* Create an empty registry; never NULL. Free with registry_free. */
struct registry *
registry_new(void)
{
	struct registry *reg = xcalloc(1, sizeof *reg);

	rebuild(reg, 0);
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
	free(reg->by_code);
	free(reg->by_id);
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

	/* Room for one more live entry, counting tombstones, at load <= 1/2. */
	if ((reg->code_used + 1) * 2 > reg->tabcap || (reg->id_used + 1) * 2 > reg->tabcap)
		rebuild(reg, reg->count + 1);

	pid = find_id(reg, c->id);
	pcode = find_code(reg, c->code);
	if (pid != SIZE_MAX) {
		/* Same id: take over its slot; its code leaves the code table. */
		idx = reg->by_id[pid] - 1;
		if (pcode != SIZE_MAX && reg->by_code[pcode] - 1 != idx) {
			/* A second unit holds the code: drop it entirely. */
			size_t other = reg->by_code[pcode] - 1;

			reg->by_id[find_id(reg, reg->units[other]->id)] = SLOT_DELETED;
			reg->by_code[pcode] = SLOT_DELETED;
			unit_free(reg->units[other]);
			reg->units[other] = NULL;
			reg->count--;
		}
		reg->by_code[find_code(reg, reg->units[idx]->code)] = SLOT_DELETED;
		unit_free(reg->units[idx]);
		reg->units[idx] = c;
		table_put(reg->by_code, reg->tabcap, hash_str(c->code), idx, &reg->code_used);
	} else if (pcode != SIZE_MAX) {
		/* Same code, new id: take over its slot; its id leaves. */
		idx = reg->by_code[pcode] - 1;
		reg->by_id[find_id(reg, reg->units[idx]->id)] = SLOT_DELETED;
		unit_free(reg->units[idx]);
		reg->units[idx] = c;
		table_put(reg->by_id, reg->tabcap, hash_id(c->id), idx, &reg->id_used);
	} else {
		if (reg->nunits == reg->unitcap) {
			reg->unitcap = reg->unitcap ? reg->unitcap * 2 : 16;
			reg->units = xreallocarray(reg->units, reg->unitcap, sizeof *reg->units);
		}
		idx = reg->nunits++;
		reg->units[idx] = c;
		reg->count++;
		table_put(reg->by_code, reg->tabcap, hash_str(c->code), idx, &reg->code_used);
		table_put(reg->by_id, reg->tabcap, hash_id(c->id), idx, &reg->id_used);
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
	size_t p = find_code(reg, code);

	return p == SIZE_MAX ? NULL : reg->units[reg->by_code[p] - 1];
}

/* The unit with this id, borrowed from reg, or NULL. */
const struct unit *
registry_by_id(const struct registry *reg, int id)
{
	size_t p = find_id(reg, id);

	return p == SIZE_MAX ? NULL : reg->units[reg->by_id[p] - 1];
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
