/*
 * log.h - the engine's log: one line per event on stderr,
 *
 *     2026-11-25T16:14:24.123Z info betrace-engine: ring /dev/shm/betrace: ...
 *
 * so an operator (or a test reading the log file) sees when and at which
 * level each thing happened.  Lines below the configured level are dropped.
 */

#ifndef BT_ENGINE_LOG_H
#define BT_ENGINE_LOG_H

enum {
    ENGINE_LOG_DEBUG = 0,
    ENGINE_LOG_INFO,
    ENGINE_LOG_WARN,
    ENGINE_LOG_ERROR
};

extern int  engine_log_level;

/*
 * Parses "debug", "info", "warn" or "error".  Returns the level, or -1 for
 * anything else.
 */
int engine_log_parse_level(const char *name);

/* Writes one line if level >= engine_log_level.  This function can't fail. */
void engine_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* BT_ENGINE_LOG_H */
