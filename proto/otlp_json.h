/*
 * otlp_json.h - OTLP/JSON request bodies.
 *
 * A JSON ExportTraceServiceRequest is read by a streaming reader (one pass,
 * no DOM, no allocation per value, bounded depth) that writes the protobuf
 * bytes of the request into one buffer, which then goes through
 * bt_otlp_scan / bt_otlp_write like any protobuf body: one decoder for the
 * flattening keeps both paths identical.  It takes the decisions of the
 * jansson + protobuf-c converter it replaced (t/lib/otlp_json_ref.c), which
 * the tests and the fuzz target hold it to.
 *
 * The JSON mapping follows the OTLP/HTTP specification: lowerCamelCase field
 * names (snake_case accepted too), trace and span ids as hex (any case),
 * 64-bit integers as strings or numbers, enums as integers or names,
 * bytesValue as base64, unknown fields ignored, a repeated name: the later
 * one wins.
 */

#ifndef OTLP_JSON_H
#define OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>

/*
 * Converts len bytes of JSON into a packed ExportTraceServiceRequest.
 * Returns 0 with *pb (malloc'd, the caller frees it; never NULL on success,
 * even when *pb_len is 0) and *pb_len set.  Returns -1 when the JSON is
 * invalid or does not fit the OTLP mapping (or on allocation failure), with
 * a message in err naming the place, e.g.
 * "resourceSpans[0].scopeSpans[0].spans[3].traceId: not hex"; *pb is NULL.
 */
int bt_otlp_json_to_pb(const char *json, size_t len, uint8_t **pb,
    size_t *pb_len, char *err, size_t errlen);

#endif /* OTLP_JSON_H */
