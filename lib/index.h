/*
 * index.h: an open-addressing hash index from a key to a position in an
 * owner's array, so that lookups by code or by id are O(1). catalog.c and
 * registry.c keep one index per key.
 *
 * An index has one kind of key for its whole life: strings (INDEX_STR) or
 * ints (INDEX_INT). String keys are borrowed: the owner keeps each one alive
 * while it is in the index, and when it replaces an entry's key by an equal
 * string it puts the new pointer before it frees the old one.
 */
#ifndef EDUMON_INDEX_H
#define EDUMON_INDEX_H

#include <stddef.h>
#include <stdint.h>

/* What the lookups answer for a key that is not in the index. */
#define INDEX_NONE SIZE_MAX

struct index;

/* An empty index; never NULL. Free with index_free (NULL is a no-op). */
struct index *index_new(void);
void index_free(struct index *ix);

/*
 * A key: a string (borrowed) for a string index, an int for an int index.
 * Write INDEX_STR(code) or INDEX_INT(id).
 */
struct index_key {
	const char *s;
	int i;
};
#define INDEX_STR(str) ((struct index_key){.s = (str)})
#define INDEX_INT(id) ((struct index_key){.i = (id)})

/* The position stored for key, or INDEX_NONE. */
size_t index_get(const struct index *ix, struct index_key key);
/* Map key to pos (< INDEX_NONE), replacing any earlier mapping of key. */
void index_put(struct index *ix, struct index_key key, size_t pos);
/* Remove key; a key not in the index is a no-op. */
void index_del(struct index *ix, struct index_key key);

#endif
