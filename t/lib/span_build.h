/*
 * span_build.h - builds span records (shm/bt_span.h format) in memory from
 * compact C descriptions, for tests and benchmarks that need traces without
 * going through OTLP.
 *
 *     static const sb_attr_t attrs[] = {
 *         SB_STR("http.method", "GET"), SB_INT("http.status", 200), SB_END
 *     };
 *     sb_batch_t b;
 *     sb_init(&b);
 *     sb_add(&b, &(sb_span_t) { .id = "1", .name = "GET /", .start_ms = 0,
 *                               .dur_ms = 12, .attrs = attrs });
 *     sb_add(&b, &(sb_span_t) { .id = "2", .parent = "1", .name = "db" });
 *     sb_to_trace(&b, &trace);
 *
 * Ids are hex and may be short: "1a" means 00..001a (left-padded).  A NULL
 * trace id means "1".  Times are milliseconds after SB_EPOCH_MS.  A span
 * with a service and no resource gets resource {service.name: service}.
 * Every function aborts on allocation failure: these are test tools.
 */

#ifndef SPAN_BUILD_H
#define SPAN_BUILD_H

#include <stdint.h>
#include "../../shm/bt_span.h"
#include "../../dsl/bt_trace.h"

#define SB_EPOCH_MS  1700000000000.0
#define SB_EPOCH_NS  1700000000000000000ULL

typedef struct sb_attr_s  sb_attr_t;

struct sb_attr_s {
    const char       *key;      /* ignored for ARRAY items */
    int               type;     /* BT_VAL_*, or -1 for the end marker */
    const char       *s;        /* STRING, BYTES (NUL-terminated) */
    int64_t           i;
    double            d;
    int               b;
    const sb_attr_t  *items;    /* ARRAY values / KVLIST attrs, SB_END ended */
};

#define SB_END          { NULL, -1, NULL, 0, 0, 0, NULL }
#define SB_STR(k, v)    { k, BT_VAL_STRING, v, 0, 0, 0, NULL }
#define SB_BYTES(k, v)  { k, BT_VAL_BYTES, v, 0, 0, 0, NULL }
#define SB_INT(k, v)    { k, BT_VAL_INT, NULL, v, 0, 0, NULL }
#define SB_DBL(k, v)    { k, BT_VAL_DOUBLE, NULL, 0, v, 0, NULL }
#define SB_BOOL(k, v)   { k, BT_VAL_BOOL, NULL, 0, 0, v, NULL }
#define SB_EMPTY(k)     { k, BT_VAL_EMPTY, NULL, 0, 0, 0, NULL }
#define SB_ARR(k, it)   { k, BT_VAL_ARRAY, NULL, 0, 0, 0, it }
#define SB_MAP(k, it)   { k, BT_VAL_KVLIST, NULL, 0, 0, 0, it }

typedef struct {
    const char       *name;     /* NULL ends a list */
    double            time_ms;
    const sb_attr_t  *attrs;
} sb_event_t;

typedef struct {
    const char       *trace;    /* NULL ends a list */
    const char       *span;
    const sb_attr_t  *attrs;
} sb_link_t;

typedef struct {
    const char        *trace;
    const char        *id;
    const char        *parent;
    const char        *name;
    int                kind;
    int                status;
    const char        *status_message;
    const char        *service;
    const char        *scope;
    double             start_ms;
    double             dur_ms;
    const sb_attr_t   *attrs;
    const sb_attr_t   *resource;
    const sb_event_t  *events;
    const sb_link_t   *links;
} sb_span_t;

typedef struct {
    uint8_t   *buf;
    size_t     len;
    size_t     cap;
    uint32_t   count;
} sb_batch_t;

/* Starts an empty batch (magic and count written). */
void sb_init(sb_batch_t *b);
/* Appends one span record and bumps the batch count. */
void sb_add(sb_batch_t *b, const sb_span_t *s);
void sb_free(sb_batch_t *b);

/*
 * Resets t, parses every span of b into it and links it.  b must outlive
 * t's use (the view points into b).  Returns 0, or -1 if a record does not
 * parse (a bug in the builder or the reader).
 */
int sb_to_trace(const sb_batch_t *b, bt_trace_t *t);

/* Parses hex (short ids left-padded) into n bytes. */
void sb_hex_id(const char *hex, uint8_t *out, size_t n);

#endif /* SPAN_BUILD_H */
