/*
 * index.c: see index.h.
 *
 * Linear probing over a power-of-two array of slots. A slot's pos is the
 * position + 1, 0 for an empty slot or SLOT_DELETED for a tombstone, so a
 * removal never breaks a probe chain. Invariant: live entries plus
 * tombstones stay at or below half the capacity; a put that would pass it
 * first rehashes the live entries, without tombstones, into a table sized
 * for them.
 */
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SLOT_DELETED SIZE_MAX

struct slot {
	struct index_key key;
	size_t pos; /* position + 1, 0, or SLOT_DELETED */
};

struct index {
	struct slot *slots;
	size_t cap;  /* power of two */
	size_t used; /* live + tombstones */
	size_t live;
};

/* FNV-1a for a string; a multiplicative mix so that sequential ids spread. */
static size_t
hash_key(struct index_key key)
{
	uint64_t h;

	if (key.s == NULL) {
		h = (uint64_t)(uint32_t)key.i * 0x9e3779b97f4a7c15ull;
		return (size_t)(h ^ (h >> 29));
	}
	h = 14695981039346656037ull;
	for (const char *s = key.s; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

/* Slot number holding key, or SIZE_MAX. */
static size_t
find(const struct index *ix, struct index_key key)
{
	size_t mask = ix->cap - 1;

	for (size_t k = hash_key(key) & mask;; k = (k + 1) & mask) {
		const struct slot *sl = &ix->slots[k];

		if (sl->pos == 0)
			return SIZE_MAX;
		if (sl->pos != SLOT_DELETED &&
		    (key.s != NULL ? strcmp(sl->key.s, key.s) == 0 : sl->key.i == key.i))
			return k;
	}
}

/* Put a key known to be absent at the first free or deleted slot; room is known. */
static void
insert(struct index *ix, struct index_key key, size_t pos)
{
	size_t mask = ix->cap - 1, k;

	for (k = hash_key(key) & mask;
	     ix->slots[k].pos != 0 && ix->slots[k].pos != SLOT_DELETED; k = (k + 1) & mask)
		;
	if (ix->slots[k].pos == 0)
		ix->used++;
	ix->slots[k] = (struct slot){.key = key, .pos = pos + 1};
	ix->live++;
}

/* Rehash the live entries, dropping tombstones, into room for want entries. */
static void
rehash(struct index *ix, size_t want)
{
	struct slot *old = ix->slots;
	size_t oldcap = ix->cap, cap = 16;

	while (cap < want * 2 + 2)
		cap *= 2;
	ix->slots = xcalloc(cap, sizeof *ix->slots);
	ix->cap = cap;
	ix->used = ix->live = 0;
	for (size_t k = 0; k < oldcap; k++)
		if (old[k].pos != 0 && old[k].pos != SLOT_DELETED)
			insert(ix, old[k].key, old[k].pos - 1);
	free(old);
}

/* See index.h. */
struct index *
index_new(void)
{
	struct index *ix = xcalloc(1, sizeof *ix);

	rehash(ix, 0);
	return ix;
}

/* See index.h. */
void
index_free(struct index *ix)
{
	if (ix == NULL)
		return;
	free(ix->slots);
	free(ix);
}

/* See index.h. */
size_t
index_get(const struct index *ix, struct index_key key)
{
	size_t k = find(ix, key);

	return k == SIZE_MAX ? INDEX_NONE : ix->slots[k].pos - 1;
}

/* See index.h. An existing entry takes the new key pointer too. */
void
index_put(struct index *ix, struct index_key key, size_t pos)
{
	size_t k = find(ix, key);

	if (k != SIZE_MAX) {
		ix->slots[k] = (struct slot){.key = key, .pos = pos + 1};
		return;
	}
	if ((ix->used + 1) * 2 > ix->cap)
		rehash(ix, ix->live + 1);
	insert(ix, key, pos);
}

/* See index.h. */
void
index_del(struct index *ix, struct index_key key)
{
	size_t k = find(ix, key);

	if (k != SIZE_MAX) {
		ix->slots[k].pos = SLOT_DELETED;
		ix->live--;
	}
}
