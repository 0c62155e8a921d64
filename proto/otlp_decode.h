/*
 * otlp_decode.h - the streaming OTLP/protobuf walker on the ingest hot path.
 *
 * An ExportTraceServiceRequest body is walked once, straight from the
 * request buffer, without protobuf-c and without allocating per request:
 *
 *   pass 1, bt_otlp_scan:  validates the wire format, counts spans, applies
 *                          the limits span by span and computes the exact
 *                          size of the flattened batch (shm/bt_span.h); it
 *                          leaves what pass 2 needs (where each span's
 *                          fields are, its attributes already flattened)
 *                          in a per-thread scratch;
 *   pass 2, bt_otlp_write: writes that batch from the scratch, trusting
 *                          what pass 1 found.  A body too large for the
 *                          scratch (over 4096 spans or 1 MiB of
 *                          attributes) is walked again instead.
 *
 * The caller reserves scan.batch_len bytes (in a ring) between the two.
 *
 * A malformed body (bad varint, a length past its end, a known field with
 * the wrong wire type, AnyValue nesting beyond BT_SPAN_MAX_DEPTH) is refused
 * whole.  A span that breaks a limit or has an invalid id is only left out
 * and counted in scan.rejected (OTLP partial_success).  Unknown fields are
 * skipped by wire type.  Repeated occurrences of a scalar field: the last
 * wins; of a message field: they are merged, as protobuf does.
 *
 * What a span record holds: service = the string resource attribute
 * service.name ('' if none), scope = InstrumentationScope.name, kind and
 * status code outside the OTLP enums become 0, the span's resource
 * attributes are those of its ResourceSpans.
 */

#ifndef OTLP_DECODE_H
#define OTLP_DECODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t    max_spans;      /* spans per request; over: TOO_MANY_SPANS */
    uint32_t    max_attrs;      /* attributes of a span, its resource, each
                                   event and link */
    uint32_t    max_value_len;  /* bytes of any string, bytes value or key */
    uint32_t    max_depth;      /* AnyValue nesting, an attribute's value is
                                   level 1; clamped to BT_SPAN_MAX_DEPTH */
} bt_otlp_limits_t;

typedef struct {
    uint32_t    spans;          /* spans in the request */
    uint32_t    accepted;
    uint32_t    rejected;       /* spans refused by a limit or an invalid id:
                                   for partial_success */
    size_t      batch_len;      /* exact bytes bt_otlp_write will produce;
                                   0 when accepted == 0 */
    char        message[256];   /* why the body is malformed, or why spans
                                   were rejected ('' if neither) */
} bt_otlp_scan_t;

enum {
    BT_OTLP_OK = 0,
    BT_OTLP_MALFORMED = -1,
    BT_OTLP_TOO_MANY_SPANS = -2
};

/*
 * Pass 1.  Returns BT_OTLP_OK and fills *scan (some spans may be rejected,
 * possibly all), BT_OTLP_MALFORMED with scan->message saying what and at
 * which byte offset, or BT_OTLP_TOO_MANY_SPANS when the request holds more
 * than lim->max_spans spans (the module answers 413).  Allocates nothing
 * per call: the first call on a thread allocates that thread's scratch
 * (about 1.5 MiB, freed when the thread exits); if that fails, everything
 * still works, bt_otlp_write then walks the body again.
 */
int bt_otlp_scan(const uint8_t *body, size_t len, const bt_otlp_limits_t *lim,
    bt_otlp_scan_t *scan);

/*
 * Pass 2.  Only after bt_otlp_scan returned BT_OTLP_OK with accepted > 0 on
 * the same body and limits: writes exactly scan->batch_len bytes into out,
 * one batch (magic, count, span records) as shm/bt_span.h describes.  It
 * does not re-validate.  This function can't fail.
 *
 * Fastest right after the scan of the same body on the same thread (it
 * takes its write bound and the scratch from that scan); otherwise it
 * scans again first.
 */
void bt_otlp_write(const uint8_t *body, size_t len,
    const bt_otlp_limits_t *lim, uint8_t *out);

#endif /* OTLP_DECODE_H */
