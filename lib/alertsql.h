/*
 * alertsql.h: SQL text shared by the readers of alerts, the REST endpoints
 * (alertapi.c) and the event stream (stream.c), so that both select an
 * alert's columns (enum alert_col) and an event's (enum alert_event_col,
 * alertapi.h) in the same order and format, and render them with the same
 * code.
 */
#ifndef EDUMON_ALERTSQL_H
#define EDUMON_ALERTSQL_H

/*
 * Taken by every writer of edumon.alert_event, in its transaction, before
 * inserting (schema/0006_delivery.sql): event ids then follow commit order,
 * which the dispatcher's and the stream's cursors rely on.
 */
#define ALERT_SQL_EVENT_LOCK "SELECT pg_advisory_xact_lock(edumon.event_lock_key())"

/* RFC 3339 UTC text of a timestamptz column. */
#define ALERT_SQL_TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/*
 * The columns of enum alert_col, of alert a joined by ALERT_SQL_JOINS. A
 * unit's parent ranks above it (org_unit.parent_id), so the district of a
 * unit is the unit itself or its parent, or there is none (a city's own
 * alert, a school run by the city).
 */
#define ALERT_SQL_COLUMNS                                                                  \
	" a.id, a.fingerprint, a.rule_id, a.title, a.state, a.severity,"                  \
	" u.code, u.name, u.kind,"                                                         \
	" CASE WHEN u.kind = 'district' THEN u.code WHEN pu.kind = 'district' THEN pu.code END," \
	" CASE WHEN u.kind = 'district' THEN u.name WHEN pu.kind = 'district' THEN pu.name END," \
	" m.code, m.name_zh, a.period, a.value, a.op, a.bound, a.message, "               \
	ALERT_SQL_TS("a.fired_at") ", " ALERT_SQL_TS("a.updated_at") ", "                 \
	ALERT_SQL_TS("a.resolved_at") ", a.resolved_value, " ALERT_SQL_TS("a.acked_at")   \
	", a.acked_by, a.ack_note "

/* What ALERT_SQL_COLUMNS needs besides alert a. */
#define ALERT_SQL_JOINS                                                                    \
	" JOIN edumon.org_unit u ON u.id = a.unit_id"                                      \
	" LEFT JOIN edumon.org_unit pu ON pu.id = u.parent_id"                              \
	" JOIN edumon.metric m ON m.id = a.metric_id "

/* The columns of enum alert_event_col, of alert_event e. */
#define ALERT_SQL_EVENT_COLUMNS                                                            \
	" e.id, " ALERT_SQL_TS("e.at") ", e.kind, e.severity, e.value, e.bound,"          \
	" e.submission_id, e.note "

/* alert_event e joined to its alert a. */
#define ALERT_SQL_EVENT_ALERT                                                              \
	" edumon.alert_event e JOIN edumon.alert a ON a.unit_id = e.alert_unit_id"         \
	" AND a.id = e.alert_id "

#endif
