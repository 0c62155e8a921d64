/*
 * bench_decode.c - decode + flatten speed of the OTLP protobuf walker on
 * W3 bodies (100 spans x 10 attributes), against protobuf-c's unpack (one
 * malloc per field) on the same bodies, one core.
 *
 * Build and run (after `make build/libbetrace.a build/obj/t/lib/otlp_ref.o
 * build/obj/t/lib/otlp_json_ref.o`):
 *
 *     cc -O2 -I. -Ibuild/gen bench/bench_decode.c build/obj/t/lib/otlp_ref.o \
 *         build/obj/t/lib/otlp_json_ref.o build/libbetrace.a -lprotobuf-c \
 *         -ljansson -lm -o build/bench_decode
 *     taskset -c 1 build/bench_decode [seconds [phases]]
 *
 * phases: any of s (scan), w (scan + write), p (protobuf-c), j (JSON),
 * c (JSON conversion alone), r (the old jansson + protobuf-c JSON
 * conversion, t/lib/otlp_json_ref.c, alone).  Default: swpj.
 *
 * Rates are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID), so
 * a busy machine slows the run, not the figure.  Prints spans/s and MB/s
 * for: scan only (pass 1), scan + write (what the
 * module does per request), protobuf-c unpack + free, and the JSON path
 * (conversion + scan + write) for W3-json.  64 distinct bodies are cycled
 * so the numbers are not one body sitting in L1.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "proto/otlp_decode.h"
#include "proto/otlp_json.h"
#include "t/lib/otlp_json_ref.h"
#include "t/lib/otlp_ref.h"

#define NBODIES  64
#define SPANS    100
#define ATTRS    10

static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
report(const char *what, double spans, double bytes, double secs)
{
    printf("%-34s %10.0f spans/s  %8.1f MB/s\n", what, spans / secs,
           bytes / secs / 1e6);
}


/* A JSON rendering of a W3 body, through protobuf-c's unpacked message. */
static char *
w3_json(const pbw_t *b, size_t *len)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest  *r;
    Opentelemetry__Proto__Trace__V1__ScopeSpans                           *ss;
    size_t      cap = b->len * 4 + 4096, n = 0, i, a;
    char       *out = malloc(cap);
    char        hex[33];
    static const char  *digits = "0123456789abcdef";

#define OUT(...)  (n += (size_t) snprintf(out + n, cap - n, __VA_ARGS__))
#define HEX(bd)                                                               \
    do {                                                                      \
        size_t  k_;                                                           \
        for (k_ = 0; k_ < (bd).len; k_++) {                                   \
            hex[2 * k_] = digits[(bd).data[k_] >> 4];                         \
            hex[2 * k_ + 1] = digits[(bd).data[k_] & 15];                     \
        }                                                                     \
        hex[2 * (bd).len] = '\0';                                             \
    } while (0)

    r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, b->len, b->p);
    ss = r->resource_spans[0]->scope_spans[0];

    OUT("{\"resourceSpans\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}}]},"
        "\"scopeSpans\":[{\"scope\":{\"name\":\"io.betrace.bench\"},"
        "\"spans\":[");
    for (i = 0; i < ss->n_spans; i++) {
        Opentelemetry__Proto__Trace__V1__Span  *sp = ss->spans[i];

        HEX(sp->trace_id);
        OUT("%s{\"traceId\":\"%s\",", i ? "," : "", hex);
        HEX(sp->span_id);
        OUT("\"spanId\":\"%s\",", hex);
        if (sp->parent_span_id.len) {
            HEX(sp->parent_span_id);
            OUT("\"parentSpanId\":\"%s\",", hex);
        }
        OUT("\"name\":\"%s\",\"kind\":%d,\"startTimeUnixNano\":\"%llu\","
            "\"endTimeUnixNano\":\"%llu\",\"attributes\":[", sp->name,
            sp->kind, (unsigned long long) sp->start_time_unix_nano,
            (unsigned long long) sp->end_time_unix_nano);
        for (a = 0; a < sp->n_attributes; a++) {
            Opentelemetry__Proto__Common__V1__AnyValue  *v =
                sp->attributes[a]->value;

            OUT("%s{\"key\":\"%s\",\"value\":", a ? "," : "",
                sp->attributes[a]->key);
            switch (v->value_case) {
            case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
                OUT("{\"intValue\":\"%lld\"}}", (long long) v->int_value);
                break;
            case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
                OUT("{\"doubleValue\":%g}}", v->double_value);
                break;
            case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
                OUT("{\"boolValue\":%s}}", v->bool_value ? "true" : "false");
                break;
            default:
                OUT("{\"stringValue\":\"%s\"}}", v->string_value);
                break;
            }
        }
        OUT("],\"status\":{\"code\":%d}}", sp->status ? sp->status->code : 0);
    }
    OUT("]}]}]}");

    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
        r, NULL);
    *len = n;
    return out;
}


/* Rate of one JSON converter alone over the bodies. */
static void
json_convert(const char *what, int (*conv)(const char *, size_t, uint8_t **,
    size_t *, char *, size_t), char **json, size_t *json_len, double secs)
{
    double    spans = 0, bytes = 0, t0, t;
    uint8_t  *pb;
    size_t    pb_len, i;
    char      err[256];

    t0 = now();
    while ((t = now()) - t0 < secs) {
        for (i = 0; i < NBODIES; i++) {
            if (conv(json[i], json_len[i], &pb, &pb_len, err, sizeof(err))
                != 0)
            {
                fprintf(stderr, "%s: %s\n", what, err);
                exit(1);
            }
            free(pb);
            spans += SPANS;
            bytes += json_len[i];
        }
    }
    report(what, spans, bytes, t - t0);
}


int
main(int argc, char **argv)
{
    static const bt_otlp_limits_t  lim = { 10000, 128, 65536, 8 };
    pbw_t            bodies[NBODIES];
    char            *json[NBODIES];
    size_t           json_len[NBODIES];
    uint8_t         *out;
    double           secs = argc > 1 ? atof(argv[1]) : 2.0, t0, t;
    const char      *only = argc > 2 ? argv[2] : "swpj";
    double           spans, bytes;
    bt_otlp_scan_t   s;
    size_t           i, total = 0;
    uint64_t         iters, check = 0;

    for (i = 0; i < NBODIES; i++) {
        bodies[i] = (pbw_t) PBW_INIT;
        pbw_w3(&bodies[i], SPANS, ATTRS, i + 1);
        total += bodies[i].len;
        json[i] = w3_json(&bodies[i], &json_len[i]);
    }
    printf("W3 body: %zu bytes protobuf, %zu bytes JSON, %d spans x %d "
           "attributes\n", total / NBODIES, json_len[0], SPANS, ATTRS);

    out = malloc(1 << 20);

    /* pass 1 only */
    spans = bytes = 0;
    if (strchr(only, 's') == NULL) {
        goto write;
    }
    t0 = now();
    for (iters = 0; (t = now()) - t0 < secs; iters++) {
        for (i = 0; i < NBODIES; i++) {
            bt_otlp_scan(bodies[i].p, bodies[i].len, &lim, &s);
            check += s.batch_len;
            spans += s.accepted;
            bytes += bodies[i].len;
        }
    }
    report("scan (pass 1)", spans, bytes, t - t0);

write:
    if (strchr(only, 'w') == NULL) {
        goto unpack;
    }

    /* scan + write: the module's work per request */
    spans = bytes = 0;
    t0 = now();
    for (iters = 0; (t = now()) - t0 < secs; iters++) {
        for (i = 0; i < NBODIES; i++) {
            bt_otlp_scan(bodies[i].p, bodies[i].len, &lim, &s);
            bt_otlp_write(bodies[i].p, bodies[i].len, &lim, out);
            check += out[100];
            spans += s.accepted;
            bytes += bodies[i].len;
        }
    }
    report("scan + write (decode + flatten)", spans, bytes, t - t0);

unpack:
    if (strchr(only, 'p') == NULL) {
        goto json;
    }

    /* protobuf-c unpack + free, for comparison (no flattening at all) */
    spans = bytes = 0;
    t0 = now();
    for (iters = 0; (t = now()) - t0 < secs; iters++) {
        for (i = 0; i < NBODIES; i++) {
            Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
                *r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
                    NULL, bodies[i].len, bodies[i].p);
            check += r->n_resource_spans;
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
                r, NULL);
            spans += SPANS;
            bytes += bodies[i].len;
        }
    }
    report("protobuf-c unpack + free", spans, bytes, t - t0);

json:
    if (strchr(only, 'j') == NULL) {
        goto convert;
    }

    /* JSON: convert + scan + write */
    spans = bytes = 0;
    t0 = now();
    for (iters = 0; (t = now()) - t0 < secs; iters++) {
        for (i = 0; i < NBODIES; i++) {
            uint8_t  *pb;
            size_t    pb_len;
            char      err[256];

            if (bt_otlp_json_to_pb(json[i], json_len[i], &pb, &pb_len, err,
                                   sizeof(err)) != 0)
            {
                fprintf(stderr, "json: %s\n", err);
                return 1;
            }
            bt_otlp_scan(pb, pb_len, &lim, &s);
            bt_otlp_write(pb, pb_len, &lim, out);
            free(pb);
            spans += s.accepted;
            bytes += json_len[i];
        }
    }
    report("W3-json: convert + scan + write", spans, bytes, t - t0);

convert:

    /* JSON conversion alone: the streaming reader, then the old path */
    if (strchr(only, 'c') != NULL) {
        json_convert("W3-json: convert (streaming)", bt_otlp_json_to_pb,
                     json, json_len, secs);
    }
    if (strchr(only, 'r') != NULL) {
        json_convert("W3-json: convert (old, jansson)", otlp_json_ref_to_pb,
                     json, json_len, secs);
    }

    fprintf(stderr, "(check %llu)\n", (unsigned long long) check);
    return 0;
}
