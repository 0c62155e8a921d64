/*
 * engine.h - betrace-engine's core: the ring reader, the assembler over it,
 * the completion hook and the counters it publishes into the segment.
 * engine/main.c is only options, signals and the loop around engine_step.
 *
 * One engine_t per process, used from one thread.  The loop is
 *
 *     while (running) {
 *         if (engine_step(e, now) == 0) {
 *             engine_wait(e, now);
 *         }
 *     }
 *
 * Ordering that makes a SIGKILL lose nothing: ring space is given back
 * (bt_ring_release) only after the traces that held it were completed AND
 * their output was written.  Releases found during a step are kept pending
 * and applied by engine_flush, which engine_step calls at its end; those
 * of a step that queued signals wait until Redis acknowledged them (or the
 * slot passes the ring-pressure threshold: signals_unprotected), so a
 * SIGKILL loses no signal either.
 */

#ifndef BT_ENGINE_H
#define BT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "../shm/bt_ring.h"
#include "assemble.h"

typedef struct engine_s  engine_t;

typedef struct {
    const char         *ring;           /* segment path */
    bt_shm_geometry_t   geo;            /* used when creating the segment */
    int                 geo_given;      /* geo must match an existing one */
    const char         *redis;          /* NULL: no rules, no signals */
    const char         *redis_prefix;   /* NULL: "betrace:" */
    uint32_t            signal_queue;   /* 0: 10000 */
    uint64_t            retention_signals;  /* 0: 100000 */
    uint64_t            retention_age_s;    /* 0: 7 days */
    uint64_t            idle_ms;
    uint64_t            max_age_ms;
    uint64_t            max_spans;
    const char         *traces_out;     /* NULL: no JSON lines */
    unsigned            ring_high_pct;  /* 0: 75 */
    uint32_t            read_budget;    /* records per slot per step; 0: 64 */

    /* Optional, for tests and embedders: called after the built-in
       completion work for each completed trace. */
    bt_asm_trace_pt     on_trace;
    void               *arg;
} engine_conf_t;

/* The defaults of docs/internals.md "Engine options". */
void engine_conf_default(engine_conf_t *conf);

/*
 * Opens (or creates) the segment, opens --traces-out for appending, and
 * registers this process as the segment's engine (pid, heartbeat), resuming
 * every slot from its tail.  Returns NULL and a message in err on failure:
 * a refused segment, another live engine on it, an unwritable output file.
 */
engine_t *engine_open(const engine_conf_t *conf, char *err, size_t errlen);

/*
 * Reads what the producers published (up to the read budget per slot),
 * completes due traces, relieves ring pressure, flushes output, releases
 * ring space and publishes counters.  now_ms is monotonic.  Returns the
 * number of records read; 0 means there was nothing to read.
 */
uint64_t engine_step(engine_t *e, uint64_t now_ms);

/*
 * Sleeps until a producer publishes, the next completion deadline, or
 * max_ms (a cap that keeps the heartbeat fresh), whichever is first.
 */
void engine_wait(engine_t *e, uint64_t now_ms, int max_ms);

/*
 * Writes pending output, then releases the ring space it allowed: at once
 * when no signal waits for Redis, else once Redis acknowledged the signals
 * queued so far (held releases are applied on later calls).
 */
void engine_flush(engine_t *e);

/*
 * Stops: flushes, leaves every open trace's records in the ring for the
 * next start, marks the segment as having no engine, unmaps and frees.
 * Reports what stayed in flight through *traces and *spans (may be NULL).
 */
void engine_close(engine_t *e, uint64_t *traces, uint64_t *spans);

/*
 * Copies the assembler's counters into *st and, if records_corrupt is not
 * NULL, the corrupt-record count.  This function can't fail.
 */
void engine_stats(const engine_t *e, bt_asm_stats_t *st,
    uint64_t *records_corrupt);

#endif /* BT_ENGINE_H */
