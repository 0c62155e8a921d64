/*
 * clock.c - the engine's clocks and timestamp format (see clock.h).
 */

#include <stdio.h>
#include <time.h>

#include "clock.h"


uint64_t
bt_wall_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

uint64_t
bt_mono_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

uint64_t
bt_mono_ms(void)
{
    return bt_mono_ns() / 1000000;
}

size_t
bt_rfc3339(uint64_t ms, char *buf, size_t n)
{
    struct tm  tm;
    time_t     t;
    size_t     k;
    int        m;

    t = (time_t) (ms / 1000);
    gmtime_r(&t, &tm);
    k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    m = snprintf(buf + k, n - k, ".%03uZ", (unsigned) (ms % 1000));
    if (m > 0) {
        k += (size_t) m < n - k ? (size_t) m : n - k - 1;
    }
    return k;
}
