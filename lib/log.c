/*
 * log.c: see log.h. Lines look like
 *   2026-11-23T16:30:00.123Z info writer: committed batch of 12 requests
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
	min_level = level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	int i = names_index(level_names, ARRAY_LEN(level_names), s, strlen(s));

	if (i < 0)
		return -1;
	*out = (enum log_level)i;
	return 0;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048], ts[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if (level < min_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof line, "%s.%03dZ %s ", ts, (int)(tv.tv_usec / 1000),
	    level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so concurrent writers do not interleave. */
	for (char *p = line; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "%s\n", line);
}
