/*
 * trace_json.h - one completed trace as one JSON line, the --traces-out
 * format of docs/internals.md ("Completed-trace JSON line").
 *
 * A hand-written writer rather than jansson: it runs once per completed
 * trace on the engine's only thread, and building a jansson tree would
 * allocate a node per field.  Strings are escaped and any byte sequence that
 * is not UTF-8 becomes U+FFFD, so the line is always valid JSON whatever
 * the span records hold.
 */

#ifndef BT_TRACE_JSON_H
#define BT_TRACE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "../dsl/bt_trace.h"

/* A growing output buffer; start it zeroed, free p when done. */
typedef struct {
    char       *p;
    size_t      len;
    size_t      cap;
    int         failed;         /* an allocation failed; contents invalid */
} bt_jbuf_t;

/*
 * Appends one JSON object and a '\n' to b for trace (spans in the view's
 * order, which is start-time order), with the given 16-byte trace id and
 * reason name, and "reopened": true when reopened is nonzero (an addition
 * to the documented format: late spans of a trace already written).  Returns 0, or -1 on allocation failure (b->failed is set and
 * b->len is restored to where it was).
 */
int bt_trace_json(bt_jbuf_t *b, const bt_trace_t *trace,
    const uint8_t *trace_id, const char *reason, int reopened);

/* Frees the buffer and zeroes *b, ready for reuse.  This function can't
   fail. */
void bt_jbuf_free(bt_jbuf_t *b);

#endif /* BT_TRACE_JSON_H */
