/*
 * assemble.h - the trace assembler: groups span records by trace id while
 * the records stay where they are (in the ring for the engine, in a file
 * buffer for an offline reader), decides when a trace is complete, and tells
 * its owner when a record is no longer referenced by any open trace.
 *
 * It knows nothing about the ring: the owner feeds it checked batches tagged
 * with (slot, end position), and gets back two calls:
 *
 *   on_trace(arg, view, done)     a trace completed; view points into the
 *                                 records and is valid only during the call
 *   on_release(arg, slot, pos)    every record of slot ending at or before
 *                                 pos is free (the engine calls
 *                                 bt_ring_release with it)
 *
 * Records of one slot are released in the order they were added, and only
 * past leading records that no open trace holds a span of.  So whatever has
 * not been released is exactly what a restarted reader must see again.
 *
 * Time is passed in by the caller (monotonic milliseconds), which keeps the
 * assembler deterministic and lets the tests drive the clock.
 *
 * Single-threaded: one assembler is used by one thread.
 */

#ifndef BT_ASSEMBLE_H
#define BT_ASSEMBLE_H

#include <stdint.h>
#include "../dsl/bt_trace.h"

typedef struct bt_asm_s  bt_asm_t;

typedef enum {
    BT_DONE_IDLE = 0,           /* no new span for idle_ms */
    BT_DONE_MAX_AGE,            /* max_age_ms since the first span */
    BT_DONE_FORCED,             /* memory cap or ring pressure */
    BT_DONE_SHUTDOWN            /* bt_asm_complete_all */
} bt_done_reason_t;

typedef struct {
    const uint8_t     *trace_id;        /* 16 bytes */
    bt_done_reason_t   reason;
    int                reopened;        /* late spans of a completed trace */
    uint64_t           first_ms;        /* first and last span seen */
    uint64_t           last_ms;
} bt_done_t;

typedef void (*bt_asm_trace_pt)(void *arg, const bt_trace_t *view,
    const bt_done_t *done);
typedef void (*bt_asm_release_pt)(void *arg, int slot, uint64_t pos);

typedef struct {
    uint32_t            nslots;         /* slots numbered 0 .. nslots-1 */
    uint64_t            idle_ms;
    uint64_t            max_age_ms;
    uint64_t            max_spans;      /* in flight; 0: no cap */
    uint32_t            recent;         /* completed ids remembered for
                                           reopening; 0: 65536 */
    bt_asm_trace_pt     on_trace;
    bt_asm_release_pt   on_release;     /* may be NULL */
    void               *arg;
} bt_asm_conf_t;

typedef struct {
    uint64_t    spans;                  /* spans added */
    uint64_t    records;                /* records added */
    uint64_t    traces_in_flight;
    uint64_t    spans_in_flight;
    uint64_t    completed;              /* every reason */
    uint64_t    forced;
    uint64_t    reopened;
    uint64_t    build_errors;           /* views that could not be built */
} bt_asm_stats_t;

/*
 * Creates an assembler.  Returns NULL on allocation failure or a zero slot
 * count.
 */
bt_asm_t *bt_asm_create(const bt_asm_conf_t *conf);

/* Frees everything; open traces are dropped without a callback. */
void bt_asm_destroy(bt_asm_t *a);

/*
 * Adds one record of slot: payload is a batch that passed bt_batch_check
 * (NULL, with len 0, for a record that holds nothing: a corrupt one the
 * reader skipped), end is the ring position just past it.  The record's
 * spans join their traces; the record is held until every trace with a span
 * in it has completed.  When the in-flight span cap is exceeded the oldest
 * traces are completed with reason forced.  Returns 0, or -1 on allocation
 * failure, in which case the spans not yet added are lost and counted as
 * such by the caller (the record still advances through release as usual).
 */
int bt_asm_add(bt_asm_t *a, int slot, const uint8_t *payload, uint32_t len,
    uint64_t end, uint64_t now_ms);

/*
 * Completes every trace whose idle or age deadline is at or before now_ms.
 * Returns the number completed.  This function can't fail.
 */
uint64_t bt_asm_expire(bt_asm_t *a, uint64_t now_ms);

/*
 * Completes up to n of the oldest traces (by first span) with reason forced.
 * Returns the number completed, 0 when nothing is in flight.
 */
uint64_t bt_asm_force_oldest(bt_asm_t *a, uint64_t n);

/*
 * Completes every open trace with the given reason (an offline reader at
 * the end of its input).  Returns the number completed.
 */
uint64_t bt_asm_complete_all(bt_asm_t *a, bt_done_reason_t reason);

/*
 * Monotonic time of the earliest idle or age deadline, or UINT64_MAX when
 * nothing is in flight.
 */
uint64_t bt_asm_next_deadline(const bt_asm_t *a);

/* Copies the counters into *st.  This function can't fail. */
void bt_asm_stats(const bt_asm_t *a, bt_asm_stats_t *st);

/* "idle", "max_age", "forced", "shutdown"; "unknown" for anything else. */
const char *bt_done_reason_name(bt_done_reason_t reason);

#endif /* BT_ASSEMBLE_H */
