/*
 * bt_trace.h - the assembled-trace view that the DSL evaluator reads.
 *
 * The engine (and the CLI) collect the span records of one trace and build
 * this view over them: an array of parsed spans (bt_span_t points into the
 * records, which stay where they are: in the ring for the engine, in file
 * buffers for the CLI), with parent and children links resolved by span id.
 * Nothing in a span is copied.
 */

#ifndef BT_TRACE_H
#define BT_TRACE_H

#include <stdint.h>
#include "../shm/bt_span.h"

typedef struct {
    bt_span_t   s;
    int32_t     parent;         /* index in bt_trace_t.spans, -1: none */
    uint32_t    first_child;    /* children: children[first_child ..] */
    uint32_t    n_children;
} bt_tspan_t;

typedef struct {
    bt_tspan_t *spans;          /* sorted by start_ns, then span id */
    uint32_t    n;
    uint32_t   *children;       /* n entries: child indexes grouped by parent */
    int32_t     root;           /* earliest span without a parent in the
                                   trace, -1 for an empty trace */
    uint64_t    start_ns;       /* earliest start */
    uint64_t    end_ns;         /* latest end */
    /* builder scratch, owned by the trace */
    uint32_t    cap;
    void       *scratch;
    size_t      scratch_cap;
} bt_trace_t;

/* Initialises an empty view; this function can't fail. */
void bt_trace_init(bt_trace_t *t);

/*
 * Appends one parsed span.  Returns 0, or -1 on allocation failure (the
 * view is unchanged).  Buffers grow and are reused across bt_trace_reset,
 * so a long-running engine stops allocating once it has seen its largest
 * trace.
 */
int bt_trace_add(bt_trace_t *t, const bt_span_t *span);

/*
 * Sorts the spans, resolves parents and children, finds the root and the
 * time bounds.  Duplicate span ids: the first one wins as a parent target.
 * Returns 0, or -1 on allocation failure.  O(n log n).
 */
int bt_trace_link(bt_trace_t *t);

/* Empties the view, keeping its buffers. */
void bt_trace_reset(bt_trace_t *t);
void bt_trace_free(bt_trace_t *t);

#endif /* BT_TRACE_H */
