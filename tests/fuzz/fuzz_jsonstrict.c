/*
 * fuzz_jsonstrict.c: libFuzzer harness for json_strict_check.
 *
 * Oracles beyond the sanitizers: a refusal has a message and an offset
 * inside the input (the end counts), and whatever is accepted cJSON must
 * parse too, since the check exists to stand in front of it, and no
 * object in cJSON's tree may hold two members of one name (unless a name
 * has a \u0000, where cJSON cuts it short). The first
 * byte of the input picks the depth limit, so limits are exercised too.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonstrict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True if data holds the escape \u0000 (cJSON ends a string there). */
static int
has_nul_escape(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 6 <= size; i++)
		if (memcmp(data + i, "\\u0000", 6) == 0)
			return 1;
	return 0;
}

/* True if some object under item has two members with the same name. */
static int
has_duplicate(const cJSON *item)
{
	for (const cJSON *c = item->child; c != NULL; c = c->next) {
		if (cJSON_IsObject(item)) {
			for (const cJSON *d = c->next; d != NULL; d = d->next)
				if (strcmp(c->string, d->string) == 0)
					return 1;
		}
		if (has_duplicate(c))
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t offset = (size_t)-1;
	char *cause = NULL;
	int depth = 32, rc;

	if (size > 0 && data[0] >= 0xf8) {
		/* 0xf8..0xff never start valid UTF-8, so no seed loses a byte. */
		depth = data[0] - 0xf8;
		data++;
		size--;
	}
	rc = json_strict_check((const char *)data, size, depth, &offset, &cause);
	if (rc != 0) {
		if (rc != -1 || cause == NULL || offset > size) {
			fprintf(stderr, "bad refusal: rc %d offset %zu size %zu\n", rc, offset, size);
			abort();
		}
		free(cause);
		return 0;
	}
	if (cause != NULL || offset != (size_t)-1)
		abort();
	{
		cJSON *root = cJSON_ParseWithLength((const char *)data, size);

		if (root == NULL) {
			fprintf(stderr, "accepted, but cJSON refuses: %.*s\n", (int)size, data);
			abort();
		}
		/* Pairwise comparison: only on inputs small enough for it. */
		if (size <= 4096 && !has_nul_escape(data, size) && has_duplicate(root)) {
			fprintf(stderr, "accepted a duplicate member: %.*s\n", (int)size, data);
			abort();
		}
		cJSON_Delete(root);
	}
	return 0;
}
