/*
 * otlp_ref.h - the reference OTLP flattener for tests: protobuf-c unpacks
 * the body, and plain C over the unpacked message builds the batch that
 * bt_otlp_scan/bt_otlp_write must produce byte for byte.
 *
 * It applies the same rules (otlp_decode.h) written the obvious way, with
 * mallocs everywhere, so a difference points at the fast walker or at a
 * rule written twice differently.  A custom allocator remembers allocation
 * sizes so strings with NUL bytes keep their true length.
 */

#ifndef OTLP_REF_H
#define OTLP_REF_H

#include <stddef.h>
#include <stdint.h>

#include "proto/otlp_decode.h"

typedef struct {
    int         rc;             /* BT_OTLP_* */
    uint32_t    spans;
    uint32_t    accepted;
    uint32_t    rejected;
    uint8_t    *batch;          /* malloc'd, NULL when accepted == 0 */
    size_t      batch_len;
    int         deep;           /* an effective AnyValue is nested deeper
                                   than BT_SPAN_MAX_DEPTH */
} otlp_ref_t;

/*
 * Flattens body.  rc is BT_OTLP_MALFORMED when protobuf-c refuses the body
 * or a value is nested deeper than BT_SPAN_MAX_DEPTH, BT_OTLP_TOO_MANY_SPANS
 * over lim->max_spans, else BT_OTLP_OK.  Returns rc.  Aborts on allocation
 * failure (a test tool).  Free with otlp_ref_free.
 */
int otlp_ref_flatten(const uint8_t *body, size_t len,
    const bt_otlp_limits_t *lim, otlp_ref_t *out);
void otlp_ref_free(otlp_ref_t *r);

/*
 * Runs the fast decoder (scan, then write into an exact-size heap buffer)
 * and the reference on body and compares them.  Returns 0 when they agree
 * (same decision, same counts, identical batches), else -1 with the
 * difference described in why.  Bodies the reference can't judge (nesting
 * beyond BT_SPAN_MAX_DEPTH, where protobuf-c has no bound) only require
 * the fast decoder to refuse them.
 */
int otlp_ref_compare(const uint8_t *body, size_t len,
    const bt_otlp_limits_t *lim, char *why, size_t whylen);


/*
 * A protobuf wire writer for building test bodies by hand, malformed ones
 * included.  Every function aborts on allocation failure.
 *
 *     pbw_t kv = PBW_INIT, av = PBW_INIT;
 *     pbw_str(&av, 1, "GET");             // AnyValue.string_value
 *     pbw_str(&kv, 1, "http.method");     // KeyValue.key
 *     pbw_msg(&kv, 2, &av);               // KeyValue.value (frees av)
 */
typedef struct {
    uint8_t  *p;
    size_t    len, cap;
} pbw_t;

#define PBW_INIT  { NULL, 0, 0 }

void pbw_raw(pbw_t *b, const void *p, size_t n);
void pbw_varint(pbw_t *b, uint64_t v);
void pbw_tag(pbw_t *b, uint32_t num, uint32_t wt);
void pbw_uint(pbw_t *b, uint32_t num, uint64_t v);          /* varint field */
void pbw_fixed64(pbw_t *b, uint32_t num, uint64_t v);
void pbw_fixed32(pbw_t *b, uint32_t num, uint32_t v);
void pbw_bytes(pbw_t *b, uint32_t num, const void *p, size_t n);
void pbw_str(pbw_t *b, uint32_t num, const char *s);
/* Appends sub as a length-delimited field num and frees sub. */
void pbw_msg(pbw_t *b, uint32_t num, pbw_t *sub);
void pbw_free(pbw_t *b);

/*
 * A W3-shaped request (see BENCHMARKS.md): nspans spans of one trace per
 * 10 spans, nattrs attributes each (strings, ints, a double, a bool), a
 * resource with service.name and 4 more attributes, one scope.  seed
 * makes trace ids unique across bodies.
 */
void pbw_w3(pbw_t *b, uint32_t nspans, uint32_t nattrs, uint64_t seed);

#endif /* OTLP_REF_H */
