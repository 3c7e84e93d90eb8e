/*
 * log.h: one line per event on stderr, with a level, journald-friendly.
 * Never pass tokens or whole payloads to these functions.
 */
#ifndef EDUMON_LOG_H
#define EDUMON_LOG_H

#include "util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Parse "debug", "info", "warn" or "error"; -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) PRINTFLIKE(2, 3);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
