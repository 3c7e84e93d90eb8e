/*
 * test_pgc.c: which server errors edumond answers 503, try again, rather
 * than 500. The writer (lib/writer.c) and the alerts API (lib/alertapi.c)
 * both decide by pgc_sqlstate_transient(); test_it_faults.c shows the disk
 * full case end to end against a real full tablespace.
 */
#include <criterion/criterion.h>
#include <stdbool.h>

#include "pgc.h"
#include "util.h"

static const struct {
	const char *sqlstate;
	const char *name;
	bool transient;
} cases[] = {
    /* Class 08, connection exception: the server went away. */
    {"08000", "connection_exception", true},
    {"08006", "connection_failure", true},
    /* Class 40, transaction rollback: try the same thing again. */
    {"40001", "serialization_failure", true},
    {"40P01", "deadlock_detected", true},
    /* Class 53, insufficient resources: clears when space or slots free up. */
    {"53000", "insufficient_resources", true},
    {"53100", "disk_full", true},
    {"53200", "out_of_memory", true},
    {"53300", "too_many_connections", true},
    /* Class 57, operator intervention: shutdown, statement timeout. */
    {"57014", "query_canceled", true},
    {"57P01", "admin_shutdown", true},
    {"57P03", "cannot_connect_now", true},
    /* Class 58, system error: I/O trouble on the server. */
    {"58030", "io_error", true},
    {"25006", "read_only_sql_transaction", true},
    {"55P03", "lock_not_available", true},
    /* The request itself is wrong, or edumon is: retrying cannot help. */
    {"23505", "unique_violation", false},
    {"23503", "foreign_key_violation", false},
    {"23514", "check_violation", false},
    {"22P02", "invalid_text_representation", false},
    {"42P01", "undefined_table", false},
    {"42501", "insufficient_privilege", false},
    {"25001", "active_sql_transaction", false},
    {"55000", "object_not_in_prerequisite_state", false},
    {"XX000", "internal_error", false},
};

Test(pgc, transient_sqlstates)
{
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		cr_expect_eq(pgc_sqlstate_transient(cases[i].sqlstate), cases[i].transient,
		    "%s (%s) should be %s", cases[i].sqlstate, cases[i].name,
		    cases[i].transient ? "503, try again" : "not worth retrying");
}
