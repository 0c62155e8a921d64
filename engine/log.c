/*
 * log.c - the engine's stderr log (see log.h).
 *
 * Each line is formatted into one buffer and written with a single
 * write(2), so lines from a crashing process or a shared log file never
 * interleave mid-line.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

int  engine_log_level = ENGINE_LOG_INFO;

static const char  *level_names[] = { "debug", "info", "warn", "error" };


int
engine_log_parse_level(const char *name)
{
    int  i;

    for (i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void
engine_log(int level, const char *fmt, ...)
{
    char     line[1024];
    va_list  ap;
    size_t   n;
    int      k;

    if (level < engine_log_level) {
        return;
    }
    if (level < ENGINE_LOG_DEBUG || level > ENGINE_LOG_ERROR) {
        level = ENGINE_LOG_ERROR;
    }

    n = bt_rfc3339(bt_wall_ms(), line, sizeof(line));
    k = snprintf(line + n, sizeof(line) - n, " %s betrace-engine: ",
                 level_names[level]);
    n += (size_t) k;

    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);

    if (k < 0) {
        k = 0;
    }
    n += (size_t) k;
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;       /* truncated, still one line */
    }
    line[n++] = '\n';

    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to complain */
    }
}
