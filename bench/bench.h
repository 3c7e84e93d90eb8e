/*
 * bench.h: what the parts of edumon-bench share.
 */
#ifndef EDUMON_BENCH_H
#define EDUMON_BENCH_H

#include <stddef.h>

/* Read a whole file into a NUL-terminated buffer; NULL if it cannot be read. */
char *read_file(const char *path, size_t *lenp);
/* `edumon-bench engine`: see bench/engine.c. */
int engine_bench_main(int argc, char **argv);

#endif
