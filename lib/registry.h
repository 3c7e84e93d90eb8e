/*
 * registry.h: the org-unit hierarchy held in memory (province > city >
 * district > school, childcare centre, guidance point), loaded from the
 * org_unit table, used to resolve unit codes and to decide whether a token's
 * unit reaches another unit.
 *
 * Invariant: after registry_add of every unit, lookups by code and id are
 * O(1) (hash tables), and registry_within walks parents (depth <= 8).
 */
#ifndef EDUMON_REGISTRY_H
#define EDUMON_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

enum unit_kind {
	UNIT_PROVINCE,
	UNIT_CITY,
	UNIT_DISTRICT,
	UNIT_SCHOOL,
	UNIT_CHILDCARE,
	UNIT_GUIDANCE_POINT,
	UNIT_KIND_COUNT
};

enum stage {
	STAGE_PRESCHOOL,
	STAGE_PRIMARY,
	STAGE_JUNIOR,
	STAGE_SENIOR,
	STAGE_SPECIAL,
	STAGE_VOCATIONAL,
	STAGE_COUNT
};

#define UNIT_KIND_BIT(k) (1u << (k))
#define STAGE_BIT(s) (1u << (s))

/* "province", "city", "district", "school", "childcare", "guidance_point". */
const char *unit_kind_name(enum unit_kind kind);
int unit_kind_parse(const char *s, enum unit_kind *out);
/* "preschool", "primary", "junior", "senior", "special", "vocational". */
const char *stage_name(enum stage s);
int stage_parse(const char *s, enum stage *out);
/*
 * Parse a list of names separated by sep ('|' in import files, ',' in
 * PostgreSQL array text without braces) into a bit mask. An empty string is
 * the empty mask. 0 on success; -1 with *cause (caller frees) naming the
 * unknown entry.
 */
int stages_parse(const char *s, char sep, unsigned *mask, char **cause);
int unit_kinds_parse(const char *s, char sep, unsigned *mask, char **cause);
/* Names of the set bits joined by sep into out; returns out. */
char *stages_format(unsigned mask, char sep, char *out, size_t len);

struct unit {
	int id;
	char *code;
	char *name;
	enum unit_kind kind;
	int parent_id; /* 0 for a root */
	unsigned stages;
	bool urban;
	bool is_public;
	bool active;
};

struct registry;

struct registry *registry_new(void);
void registry_free(struct registry *reg);
/* Copy u (strings included) into the registry. A repeated id or code
 * replaces the earlier entry. */
void registry_add(struct registry *reg, const struct unit *u);
size_t registry_count(const struct registry *reg);
const struct unit *registry_by_code(const struct registry *reg, const char *code);
const struct unit *registry_by_id(const struct registry *reg, int id);
/*
 * Iterate the units: start with *pos = 0; each call returns the next unit
 * and advances *pos, or NULL at the end. Order is insertion order.
 */
const struct unit *registry_next(const struct registry *reg, size_t *pos);
/* True if unit_id is ancestor_id or lies beneath it. */
bool registry_within(const struct registry *reg, int unit_id, int ancestor_id);

#endif
