/*
 * test_index.c: the hash index behind catalog and registry lookups: puts,
 * replacements, removals, growth and tombstone churn, for both key kinds.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"

Test(index, string_keys)
{
	struct index *ix = index_new();
	char a[] = "school_a", a2[] = "school_a";

	cr_expect_eq(index_get(ix, INDEX_STR("nothing")), INDEX_NONE);
	index_put(ix, INDEX_STR(a), 3);
	index_put(ix, INDEX_STR("b"), 0);
	cr_expect_eq(index_get(ix, INDEX_STR("school_a")), 3);
	cr_expect_eq(index_get(ix, INDEX_STR("b")), 0);
	/* An equal key replaces the entry and its borrowed pointer. */
	index_put(ix, INDEX_STR(a2), 7);
	memset(a, 'x', sizeof a - 1);
	cr_expect_eq(index_get(ix, INDEX_STR("school_a")), 7);
	index_del(ix, INDEX_STR("school_a"));
	index_del(ix, INDEX_STR("school_a"));
	cr_expect_eq(index_get(ix, INDEX_STR("school_a")), INDEX_NONE);
	cr_expect_eq(index_get(ix, INDEX_STR("b")), 0);
	index_free(ix);
	index_free(NULL);
}

Test(index, int_keys_grow_and_churn)
{
	struct index *ix = index_new();

	index_put(ix, INDEX_INT(0), 42);
	for (int round = 0; round < 20; round++) {
		for (int i = 1; i <= 1000; i++)
			index_put(ix, INDEX_INT(i), (size_t)(i + round));
		for (int i = 1; i <= 1000; i += 2)
			index_del(ix, INDEX_INT(i));
	}
	for (int i = 1; i <= 1000; i++)
		cr_assert_eq(index_get(ix, INDEX_INT(i)), i % 2 ? INDEX_NONE : (size_t)(i + 19),
		    "id %d", i);
	cr_expect_eq(index_get(ix, INDEX_INT(0)), 42);
	cr_expect_eq(index_get(ix, INDEX_INT(-5)), INDEX_NONE);
	index_free(ix);
}

Test(index, many_string_keys)
{
	struct index *ix = index_new();
	static char keys[5000][16];

	for (size_t i = 0; i < 5000; i++) {
		snprintf(keys[i], sizeof keys[i], "k%zu", i);
		index_put(ix, INDEX_STR(keys[i]), i);
	}
	for (size_t i = 0; i < 5000; i++)
		cr_assert_eq(index_get(ix, INDEX_STR(keys[i])), i);
	index_free(ix);
}
