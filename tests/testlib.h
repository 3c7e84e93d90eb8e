/*
 * testlib.h: helpers for integration tests (a private PostgreSQL, the real
 * daemon, a small HTTP client). Unit tests do not use it.
 */
#ifndef EDUMON_TESTLIB_H
#define EDUMON_TESTLIB_H
#endif
