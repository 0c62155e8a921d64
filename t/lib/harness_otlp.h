/*
 * harness_otlp.h - OTLP request bodies for integration tests, built with the
 * protobuf-c generated types (the reference encoder) and with jansson for
 * OTLP/JSON, from one small description of the spans.
 *
 *     ho_span_t s[2];
 *     ho_span_init(&s[0], trace, "root");
 *     ho_span_init(&s[1], trace, "child");
 *     memcpy(s[1].parent_id, s[0].span_id, 8);
 *     body = ho_request_pb(s, 2, &len);
 *
 * Every span gets fresh random span id; a trace id comes from ho_random_id.
 * All spans of one call go into one ResourceSpans (resource service.name =
 * the first span's service) and one ScopeSpans (scope "betrace.test").
 * Functions return malloc'd memory and abort on allocation failure: these
 * are test tools.
 */

#ifndef HARNESS_OTLP_H
#define HARNESS_OTLP_H

#include <stddef.h>
#include <stdint.h>

#define HO_SCOPE    "betrace.test"

typedef struct {
    uint8_t      trace_id[16];
    uint8_t      span_id[8];
    uint8_t      parent_id[8];      /* all zero: root */
    const char  *name;
    const char  *service;           /* default "test-service" */
    int          kind;              /* OTLP SpanKind, default 2 SERVER */
    int          status;            /* OTLP StatusCode, default 0 */
    uint64_t     start_ns;          /* default: now */
    uint64_t     end_ns;            /* default: start + 1 ms */
    int          nattrs;            /* string attributes attr.0 .. attr.N-1 */
    size_t       value_len;         /* bytes of each attr.K value ("K.xxx"),
                                       0: "vK" */
    int          typed;             /* adds t.int, t.bool, t.double */
} ho_span_t;

/* Random bytes (ids), never all zero. */
void ho_random_id(uint8_t *p, size_t n);

/* Defaults as above, a random span id, the given trace id and name. */
void ho_span_init(ho_span_t *s, const uint8_t *trace_id, const char *name);

/* ExportTraceServiceRequest as protobuf bytes. */
uint8_t *ho_request_pb(const ho_span_t *spans, size_t n, size_t *len);

/* The same request as OTLP/JSON (hex ids, int64 as strings). */
char *ho_request_json(const ho_span_t *spans, size_t n, size_t *len);

/*
 * Decodes an ExportTraceServiceResponse (protobuf).  Returns 0 and sets
 * *rejected (0 without partial_success) and msg, or -1 if it does not parse.
 */
int ho_response_pb(const void *body, size_t len, int64_t *rejected,
    char *msg, size_t msglen);

/* Decodes a google.rpc.Status (protobuf); -1 if it does not parse. */
int ho_status_pb(const void *body, size_t len, int32_t *code, char *msg,
    size_t msglen);

#endif /* HARNESS_OTLP_H */
