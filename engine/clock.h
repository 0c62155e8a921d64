/*
 * clock.h - the engine's clocks and its one timestamp format.
 *
 * Wall time (CLOCK_REALTIME) is for what leaves the process: signal and
 * status times in Redis, log lines, the heartbeat nginx compares with its
 * own clock.  Deadlines and latencies use CLOCK_MONOTONIC, which a clock
 * step cannot move.
 */

#ifndef BT_ENGINE_CLOCK_H
#define BT_ENGINE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Unix time in ms.  This function can't fail. */
uint64_t bt_wall_ms(void);

/* The monotonic clock in ns and in ms.  These functions can't fail. */
uint64_t bt_mono_ns(void);
uint64_t bt_mono_ms(void);

/*
 * Writes ms as RFC 3339 UTC with milliseconds, "2026-11-25T16:30:00.123Z"
 * (24 characters and a NUL), into buf of n bytes (32 is enough).  Returns
 * the length written, truncated to fit.  This function can't fail.
 */
size_t bt_rfc3339(uint64_t ms, char *buf, size_t n);

#endif /* BT_ENGINE_CLOCK_H */
