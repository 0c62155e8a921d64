/*
 * otlp_json_ref.c - the former OTLP/JSON converter (jansson DOM, protobuf-c
 * messages, pack), kept as the reference for proto/otlp_json.c; see
 * otlp_json_ref.h.
 *
 * jansson parses the text (its parser refuses nesting deeper than
 * JSON_PARSER_MAX_DEPTH, 2048 in Debian's build, so the parse can't exhaust
 * the stack); the converter below builds protobuf-c messages from it and
 * packs them.  AnyValue recursion is bounded again here, by
 * BT_SPAN_MAX_DEPTH, so the packed body never holds what the protobuf
 * walker would refuse as malformed anyway.
 *
 * Every message is malloc'd and attached to its parent as soon as it
 * exists, with counts bumped only after an element is stored, so one call
 * to protobuf-c's free_unpacked releases a half-built request on error.
 *
 * Mapping choices (OTLP/HTTP spec, "JSON Protobuf Encoding"):
 *  - names: lowerCamelCase, or the .proto snake_case names;
 *  - traceId, spanId, parentSpanId and link ids: hex, any case; "" is an
 *    empty id (the span is then rejected by the limits, not the request);
 *  - 64-bit integers: a JSON number or a decimal string;
 *  - enums: the number or the enum value's name;
 *  - bytesValue: base64, standard or URL-safe alphabet, padding optional;
 *  - doubleValue: a number, or "NaN", "Infinity", "-Infinity";
 *  - null means absent; unknown names are ignored;
 *  - a string holding \u0000 is cut there (protobuf-c packs C strings).
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "shm/bt_span.h"
#include "proto/otlp_json.h"
#include "t/lib/otlp_json_ref.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    req_t;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans      rs_t;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans         ss_t;
typedef Opentelemetry__Proto__Trace__V1__Span               span_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Event        event_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Link         link_t;
typedef Opentelemetry__Proto__Trace__V1__Status             status_t;
typedef Opentelemetry__Proto__Resource__V1__Resource        res_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope  scope_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue          kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue          av_t;
typedef Opentelemetry__Proto__Common__V1__ArrayValue        arr_t;
typedef Opentelemetry__Proto__Common__V1__KeyValueList      kvl_t;

#define AV(x)  OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

typedef struct {
    char        *err;
    size_t       errlen;
    char         path[1024];
    size_t       plen;
} jctx_t;


/* ---- paths and errors --------------------------------------------------------- */

/* Appends to the path; returns the old length for pop(). */
static size_t
push(jctx_t *c, const char *fmt, ...)
{
    size_t   old = c->plen;
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
    va_end(ap);

    if (n > 0) {
        c->plen += (size_t) n;
        if (c->plen >= sizeof(c->path)) {
            c->plen = sizeof(c->path) - 1;
        }
    }

    return old;
}


static void
pop(jctx_t *c, size_t old)
{
    if (old > c->plen) {
        old = c->plen;      /* the push was cut short by a full path */
    }
    c->plen = old;
    c->path[old] = '\0';
}


static int
fail(jctx_t *c, const char *name, const char *what)
{
    const char  *path = c->path + (c->path[0] == '.');
    size_t       n = strlen(path);

    if (n > 160) {
        /* a path through deep nesting: keep both ends and the reason */
        snprintf(c->err, c->errlen, "%.80s...%s%s%s: %s", path,
                 path + n - 70, name ? "." : "", name ? name : "", what);
    } else if (n) {
        snprintf(c->err, c->errlen, "%s%s%s: %s", path, name ? "." : "",
                 name ? name : "", what);
    } else {
        snprintf(c->err, c->errlen, "%s: %s", name ? name : "body", what);
    }
    return -1;
}


static void *
alloc_msg(jctx_t *c, size_t size, void (*init)(void *))
{
    void  *m = malloc(size);

    if (m == NULL) {
        fail(c, NULL, "out of memory");
        return NULL;
    }
    init(m);
    return m;
}

#define NEW(c, type, fn)                                                      \
    ((type *) alloc_msg(c, sizeof(type), (void (*)(void *)) fn))


/* The value of a field under its camelCase or snake_case name, NULL if
 * absent or null. */
static json_t *
field(json_t *o, const char *camel, const char *snake)
{
    json_t  *v = json_object_get(o, camel);

    if (v == NULL && snake != NULL) {
        v = json_object_get(o, snake);
    }
    if (v != NULL && json_is_null(v)) {
        return NULL;
    }
    return v;
}


/* ---- scalars ---------------------------------------------------------------- */

static int
get_string(jctx_t *c, json_t *v, const char *name, char **out)
{
    const char  *s;
    size_t       n;

    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        return fail(c, name, "not a string");
    }

    s = json_string_value(v);
    n = strlen(s);          /* stops at an embedded \u0000 on purpose */

    *out = malloc(n + 1);
    if (*out == NULL) {
        return fail(c, name, "out of memory");
    }
    memcpy(*out, s, n + 1);
    return 0;
}


static int
hexval(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}


static int
get_hex(jctx_t *c, json_t *v, const char *name, ProtobufCBinaryData *out)
{
    const char  *s;
    size_t       n, i;
    int          hi, lo;

    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        return fail(c, name, "not a hex string");
    }

    s = json_string_value(v);
    n = json_string_length(v);
    if (n % 2) {
        return fail(c, name, "not hex (odd length)");
    }
    if (n == 0) {
        return 0;
    }

    out->data = malloc(n / 2);
    if (out->data == NULL) {
        return fail(c, name, "out of memory");
    }
    out->len = n / 2;

    for (i = 0; i < n / 2; i++) {
        hi = hexval((unsigned char) s[2 * i]);
        lo = hexval((unsigned char) s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return fail(c, name, "not hex");
        }
        out->data[i] = (uint8_t) (hi << 4 | lo);
    }

    return 0;
}


static int
b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    if (ch == '+' || ch == '-') {
        return 62;
    }
    if (ch == '/' || ch == '_') {
        return 63;
    }
    return -1;
}


static int
get_base64(jctx_t *c, json_t *v, const char *name, ProtobufCBinaryData *out)
{
    const char  *s;
    size_t       n, i, o = 0;
    uint32_t     acc = 0;
    int          bits = 0, d;

    if (!json_is_string(v)) {
        return fail(c, name, "not a base64 string");
    }

    s = json_string_value(v);
    n = json_string_length(v);
    while (n > 0 && s[n - 1] == '=') {
        n--;
    }
    if (n % 4 == 1) {
        return fail(c, name, "not base64 (bad length)");
    }

    out->data = malloc(n * 3 / 4 + 1);
    if (out->data == NULL) {
        return fail(c, name, "out of memory");
    }

    for (i = 0; i < n; i++) {
        d = b64val((unsigned char) s[i]);
        if (d < 0) {
            return fail(c, name, "not base64");
        }
        acc = (acc << 6) | (uint32_t) d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[o++] = (uint8_t) (acc >> bits);
        }
    }

    out->len = o;
    if (o == 0) {
        free(out->data);
        out->data = NULL;
    }
    return 0;
}


/*
 * A 64-bit integer from a number or a decimal string.  is_signed allows a
 * minus sign.  Returns 0 and sets *out, or -1 after writing the error.
 */
static int
get_int64(jctx_t *c, json_t *v, const char *name, int is_signed,
    uint64_t *out)
{
    const char  *s;
    char        *end;
    double       d;

    if (json_is_integer(v)) {
        if (!is_signed && json_integer_value(v) < 0) {
            return fail(c, name, "negative");
        }
        *out = (uint64_t) json_integer_value(v);
        return 0;
    }

    if (json_is_real(v)) {
        /* big numbers jansson could not hold as integers, or 1e18 */
        d = json_real_value(v);
        if (d != floor(d) || (!is_signed && d < 0)
            || d >= 18446744073709551616.0 || d < -9223372036854775808.0)
        {
            return fail(c, name, "not an integer");
        }
        *out = d < 0 ? (uint64_t) (int64_t) d : (uint64_t) d;
        return 0;
    }

    if (!json_is_string(v)) {
        return fail(c, name, "not an integer or a string of one");
    }

    s = json_string_value(v);
    if (*s == '\0' || (*s == '-' && !is_signed) || *s == '+' || *s == ' ') {
        return fail(c, name, "not an integer");
    }

    errno = 0;
    if (*s == '-') {
        *out = (uint64_t) strtoll(s, &end, 10);
    } else {
        *out = strtoull(s, &end, 10);
    }
    if (errno != 0 || *end != '\0' || end == s) {
        return fail(c, name, "not an integer");
    }

    return 0;
}


static int
get_uint32(jctx_t *c, json_t *v, const char *name, uint32_t *out)
{
    uint64_t  u;

    if (v == NULL) {
        return 0;
    }
    if (get_int64(c, v, name, 0, &u) != 0) {
        return -1;
    }
    if (u > UINT32_MAX) {
        return fail(c, name, "out of range");
    }
    *out = (uint32_t) u;
    return 0;
}


static int
get_enum(jctx_t *c, json_t *v, const char *name, const char *const *names,
    int nnames, int *out)
{
    uint64_t  u;
    int       i;

    if (v == NULL) {
        return 0;
    }

    if (json_is_string(v)) {
        for (i = 0; i < nnames; i++) {
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = i;
                return 0;
            }
        }
    }

    if (get_int64(c, v, name, 1, &u) != 0) {
        return fail(c, name, "not an enum number or name");
    }
    if ((int64_t) u < INT32_MIN || (int64_t) u > INT32_MAX) {
        return fail(c, name, "out of range");
    }
    *out = (int) (int64_t) u;
    return 0;
}


static int
get_double(jctx_t *c, json_t *v, const char *name, double *out)
{
    const char  *s;
    char        *end;

    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (!json_is_string(v)) {
        return fail(c, name, "not a number");
    }

    s = json_string_value(v);
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
    } else if (strcmp(s, "Infinity") == 0) {
        *out = INFINITY;
    } else if (strcmp(s, "-Infinity") == 0) {
        *out = -INFINITY;
    } else {
        errno = 0;
        *out = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || errno != 0) {
            return fail(c, name, "not a number");
        }
    }
    return 0;
}


/* Checks v is an array (or absent); *n its size. */
static int
get_array(jctx_t *c, json_t *v, const char *name, size_t *n)
{
    *n = 0;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_array(v)) {
        return fail(c, name, "not an array");
    }
    *n = json_array_size(v);
    return 0;
}


/* Allocates an array of n pointers for a repeated field. */
static int
alloc_ptrs(jctx_t *c, size_t n, void *out)
{
    void  *p;

    if (n == 0) {
        return 0;
    }
    p = calloc(n, sizeof(void *));
    if (p == NULL) {
        return fail(c, NULL, "out of memory");
    }
    memcpy(out, &p, sizeof(p));
    return 0;
}


/* ---- messages ------------------------------------------------------------------ */

static int conv_kvs(jctx_t *c, json_t *arr, const char *name, kv_t ***kvs,
    size_t *n, int level);

static int
conv_av(jctx_t *c, json_t *o, av_t *av, int level)
{
    static const char *const  keys[][2] = {
        { "stringValue", "string_value" }, { "boolValue", "bool_value" },
        { "intValue", "int_value" }, { "doubleValue", "double_value" },
        { "arrayValue", "array_value" }, { "kvlistValue", "kvlist_value" },
        { "bytesValue", "bytes_value" }
    };
    json_t     *v = NULL, *x, *items;
    int         i, which = -1;
    size_t      old, mid, n, k;
    uint64_t    u;
    arr_t      *arr;
    kvl_t      *kvl;

    if (level > BT_SPAN_MAX_DEPTH) {
        return fail(c, NULL, "AnyValue nested too deep");
    }
    if (!json_is_object(o)) {
        return fail(c, NULL, "not an object");
    }

    for (i = 0; i < 7; i++) {
        x = field(o, keys[i][0], keys[i][1]);
        if (x == NULL) {
            continue;
        }
        if (which >= 0) {
            return fail(c, keys[i][0], "an AnyValue holds only one value");
        }
        which = i;
        v = x;
    }

    switch (which) {
    case 0:
        if (get_string(c, v, "stringValue", &av->string_value) != 0) {
            return -1;
        }
        av->value_case = AV(STRING_VALUE);
        return 0;

    case 1:
        if (!json_is_boolean(v)) {
            return fail(c, "boolValue", "not a boolean");
        }
        av->bool_value = json_is_true(v);
        av->value_case = AV(BOOL_VALUE);
        return 0;

    case 2:
        if (get_int64(c, v, "intValue", 1, &u) != 0) {
            return -1;
        }
        av->int_value = (int64_t) u;
        av->value_case = AV(INT_VALUE);
        return 0;

    case 3:
        if (get_double(c, v, "doubleValue", &av->double_value) != 0) {
            return -1;
        }
        av->value_case = AV(DOUBLE_VALUE);
        return 0;

    case 4:
        if (!json_is_object(v)) {
            return fail(c, "arrayValue", "not an object");
        }
        arr = NEW(c, arr_t, opentelemetry__proto__common__v1__array_value__init);
        if (arr == NULL) {
            return -1;
        }
        av->array_value = arr;
        av->value_case = AV(ARRAY_VALUE);

        items = field(v, "values", NULL);
        old = push(c, ".arrayValue");
        mid = c->plen;
        if (get_array(c, items, "values", &n) != 0
            || alloc_ptrs(c, n, &arr->values) != 0)
        {
            return -1;
        }
        for (k = 0; k < n; k++) {
            arr->values[k] = NEW(c, av_t,
                                 opentelemetry__proto__common__v1__any_value__init);
            if (arr->values[k] == NULL) {
                return -1;
            }
            arr->n_values++;
            push(c, ".values[%zu]", k);
            if (conv_av(c, json_array_get(items, k), arr->values[k],
                        level + 1) != 0)
            {
                return -1;
            }
            pop(c, mid);
        }
        pop(c, old);
        return 0;

    case 5:
        if (!json_is_object(v)) {
            return fail(c, "kvlistValue", "not an object");
        }
        kvl = NEW(c, kvl_t,
                  opentelemetry__proto__common__v1__key_value_list__init);
        if (kvl == NULL) {
            return -1;
        }
        av->kvlist_value = kvl;
        av->value_case = AV(KVLIST_VALUE);

        old = push(c, ".kvlistValue");
        if (conv_kvs(c, field(v, "values", NULL), "values", &kvl->values,
                     &kvl->n_values, level + 1) != 0)
        {
            return -1;
        }
        pop(c, old);
        return 0;

    case 6:
        av->value_case = AV(BYTES_VALUE);
        return get_base64(c, v, "bytesValue", &av->bytes_value);

    default:
        return 0;       /* an empty AnyValue */
    }
}


/* A JSON array of KeyValue objects; level is the values' nesting level. */
static int
conv_kvs(jctx_t *c, json_t *arr, const char *name, kv_t ***kvs, size_t *n,
    int level)
{
    size_t   count, i, old, mid;
    json_t  *o, *v;
    kv_t    *kv;

    if (get_array(c, arr, name, &count) != 0
        || alloc_ptrs(c, count, kvs) != 0)
    {
        return -1;
    }

    for (i = 0; i < count; i++) {
        kv = NEW(c, kv_t, opentelemetry__proto__common__v1__key_value__init);
        if (kv == NULL) {
            return -1;
        }
        (*kvs)[i] = kv;
        (*n)++;

        old = push(c, ".%s[%zu]", name, i);
        o = json_array_get(arr, i);
        if (!json_is_object(o)) {
            return fail(c, NULL, "not an object");
        }
        if (get_string(c, field(o, "key", NULL), "key", &kv->key) != 0) {
            return -1;
        }

        v = field(o, "value", NULL);
        if (v != NULL) {
            kv->value = NEW(c, av_t,
                            opentelemetry__proto__common__v1__any_value__init);
            if (kv->value == NULL) {
                return -1;
            }
            mid = push(c, ".value");
            if (conv_av(c, v, kv->value, level) != 0) {
                return -1;
            }
            pop(c, mid);
        }
        pop(c, old);
    }

    return 0;
}


static const char *const  kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"
};

static const char *const  code_names[] = {
    "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"
};


static int
conv_event(jctx_t *c, json_t *o, event_t *ev)
{
    json_t  *v;

    if (!json_is_object(o)) {
        return fail(c, NULL, "not an object");
    }

    v = field(o, "timeUnixNano", "time_unix_nano");
    if (v != NULL
        && get_int64(c, v, "timeUnixNano", 0, &ev->time_unix_nano) != 0)
    {
        return -1;
    }

    return get_string(c, field(o, "name", NULL), "name", &ev->name)
           || conv_kvs(c, field(o, "attributes", NULL), "attributes",
                       &ev->attributes, &ev->n_attributes, 1)
           || get_uint32(c, field(o, "droppedAttributesCount",
                                  "dropped_attributes_count"),
                         "droppedAttributesCount",
                         &ev->dropped_attributes_count)
           ? -1 : 0;
}


static int
conv_link(jctx_t *c, json_t *o, link_t *ln)
{
    if (!json_is_object(o)) {
        return fail(c, NULL, "not an object");
    }

    return get_hex(c, field(o, "traceId", "trace_id"), "traceId",
                   &ln->trace_id)
           || get_hex(c, field(o, "spanId", "span_id"), "spanId",
                      &ln->span_id)
           || get_string(c, field(o, "traceState", "trace_state"),
                         "traceState", &ln->trace_state)
           || conv_kvs(c, field(o, "attributes", NULL), "attributes",
                       &ln->attributes, &ln->n_attributes, 1)
           || get_uint32(c, field(o, "droppedAttributesCount",
                                  "dropped_attributes_count"),
                         "droppedAttributesCount",
                         &ln->dropped_attributes_count)
           || get_uint32(c, field(o, "flags", NULL), "flags", &ln->flags)
           ? -1 : 0;
}


/* Converts a JSON array of objects into a repeated message field. */
#define CONV_LIST(c, arr, name, ptrs, n, type, init, conv)                    \
    do {                                                                      \
        size_t  cnt_, i_, old_;                                               \
                                                                              \
        if (get_array(c, arr, name, &cnt_) != 0                               \
            || alloc_ptrs(c, cnt_, &(ptrs)) != 0)                             \
        {                                                                     \
            return -1;                                                        \
        }                                                                     \
        for (i_ = 0; i_ < cnt_; i_++) {                                       \
            (ptrs)[i_] = NEW(c, type, init);                                  \
            if ((ptrs)[i_] == NULL) {                                         \
                return -1;                                                    \
            }                                                                 \
            (n)++;                                                            \
            old_ = push(c, ".%s[%zu]", name, i_);                             \
            if (conv(c, json_array_get(arr, i_), (ptrs)[i_]) != 0) {          \
                return -1;                                                    \
            }                                                                 \
            pop(c, old_);                                                     \
        }                                                                     \
    } while (0)


static int
conv_span(jctx_t *c, json_t *o, span_t *sp)
{
    json_t  *v;
    int      e;
    size_t   old;

    if (!json_is_object(o)) {
        return fail(c, NULL, "not an object");
    }

    if (get_hex(c, field(o, "traceId", "trace_id"), "traceId",
                &sp->trace_id)
        || get_hex(c, field(o, "spanId", "span_id"), "spanId", &sp->span_id)
        || get_hex(c, field(o, "parentSpanId", "parent_span_id"),
                   "parentSpanId", &sp->parent_span_id)
        || get_string(c, field(o, "traceState", "trace_state"), "traceState",
                      &sp->trace_state)
        || get_string(c, field(o, "name", NULL), "name", &sp->name)
        || get_uint32(c, field(o, "flags", NULL), "flags", &sp->flags))
    {
        return -1;
    }

    e = 0;
    if (get_enum(c, field(o, "kind", NULL), "kind", kind_names, 6, &e) != 0) {
        return -1;
    }
    sp->kind = e;

    v = field(o, "startTimeUnixNano", "start_time_unix_nano");
    if (v != NULL && get_int64(c, v, "startTimeUnixNano", 0,
                               &sp->start_time_unix_nano) != 0)
    {
        return -1;
    }
    v = field(o, "endTimeUnixNano", "end_time_unix_nano");
    if (v != NULL && get_int64(c, v, "endTimeUnixNano", 0,
                               &sp->end_time_unix_nano) != 0)
    {
        return -1;
    }

    if (conv_kvs(c, field(o, "attributes", NULL), "attributes",
                 &sp->attributes, &sp->n_attributes, 1)
        || get_uint32(c, field(o, "droppedAttributesCount",
                               "dropped_attributes_count"),
                      "droppedAttributesCount", &sp->dropped_attributes_count)
        || get_uint32(c, field(o, "droppedEventsCount",
                               "dropped_events_count"),
                      "droppedEventsCount", &sp->dropped_events_count)
        || get_uint32(c, field(o, "droppedLinksCount", "dropped_links_count"),
                      "droppedLinksCount", &sp->dropped_links_count))
    {
        return -1;
    }

    CONV_LIST(c, field(o, "events", NULL), "events", sp->events, sp->n_events,
              event_t, opentelemetry__proto__trace__v1__span__event__init,
              conv_event);
    CONV_LIST(c, field(o, "links", NULL), "links", sp->links, sp->n_links,
              link_t, opentelemetry__proto__trace__v1__span__link__init,
              conv_link);

    v = field(o, "status", NULL);
    if (v != NULL) {
        if (!json_is_object(v)) {
            return fail(c, "status", "not an object");
        }
        sp->status = NEW(c, status_t,
                         opentelemetry__proto__trace__v1__status__init);
        if (sp->status == NULL) {
            return -1;
        }
        old = push(c, ".status");
        e = 0;
        if (get_string(c, field(v, "message", NULL), "message",
                       &sp->status->message)
            || get_enum(c, field(v, "code", NULL), "code", code_names, 3, &e))
        {
            return -1;
        }
        sp->status->code = e;
        pop(c, old);
    }

    return 0;
}


static int
conv_ss(jctx_t *c, json_t *o, ss_t *ss)
{
    json_t   *v;
    scope_t  *sc;
    size_t    old;

    if (!json_is_object(o)) {
        return fail(c, NULL, "not an object");
    }

    v = field(o, "scope", NULL);
    if (v != NULL) {
        if (!json_is_object(v)) {
            return fail(c, "scope", "not an object");
        }
        sc = NEW(c, scope_t,
                 opentelemetry__proto__common__v1__instrumentation_scope__init);
        if (sc == NULL) {
            return -1;
        }
        ss->scope = sc;
        old = push(c, ".scope");
        if (get_string(c, field(v, "name", NULL), "name", &sc->name)
            || get_string(c, field(v, "version", NULL), "version",
                          &sc->version)
            || conv_kvs(c, field(v, "attributes", NULL), "attributes",
                        &sc->attributes, &sc->n_attributes, 1)
            || get_uint32(c, field(v, "droppedAttributesCount",
                                   "dropped_attributes_count"),
                          "droppedAttributesCount",
                          &sc->dropped_attributes_count))
        {
            return -1;
        }
        pop(c, old);
    }

    if (get_string(c, field(o, "schemaUrl", "schema_url"), "schemaUrl",
                   &ss->schema_url) != 0)
    {
        return -1;
    }

    CONV_LIST(c, field(o, "spans", NULL), "spans", ss->spans, ss->n_spans,
              span_t, opentelemetry__proto__trace__v1__span__init, conv_span);

    return 0;
}


static int
conv_rs(jctx_t *c, json_t *o, rs_t *rs)
{
    json_t  *v;
    res_t   *res;
    size_t   old;

    if (!json_is_object(o)) {
        return fail(c, NULL, "not an object");
    }

    v = field(o, "resource", NULL);
    if (v != NULL) {
        if (!json_is_object(v)) {
            return fail(c, "resource", "not an object");
        }
        res = NEW(c, res_t, opentelemetry__proto__resource__v1__resource__init);
        if (res == NULL) {
            return -1;
        }
        rs->resource = res;
        old = push(c, ".resource");
        if (conv_kvs(c, field(v, "attributes", NULL), "attributes",
                     &res->attributes, &res->n_attributes, 1)
            || get_uint32(c, field(v, "droppedAttributesCount",
                                   "dropped_attributes_count"),
                          "droppedAttributesCount",
                          &res->dropped_attributes_count))
        {
            return -1;
        }
        pop(c, old);
    }

    if (get_string(c, field(o, "schemaUrl", "schema_url"), "schemaUrl",
                   &rs->schema_url) != 0)
    {
        return -1;
    }

    CONV_LIST(c, field(o, "scopeSpans", "scope_spans"), "scopeSpans",
              rs->scope_spans, rs->n_scope_spans, ss_t,
              opentelemetry__proto__trace__v1__scope_spans__init, conv_ss);

    return 0;
}


static int
conv_req(jctx_t *c, json_t *root, req_t *req)
{
    CONV_LIST(c, field(root, "resourceSpans", "resource_spans"),
              "resourceSpans", req->resource_spans, req->n_resource_spans,
              rs_t, opentelemetry__proto__trace__v1__resource_spans__init,
              conv_rs);
    return 0;
}


int
otlp_json_ref_to_pb(const char *json, size_t len, uint8_t **pb,
    size_t *pb_len, char *err, size_t errlen)
{
    json_t        *root;
    json_error_t   jerr;
    jctx_t         c;
    req_t         *req;
    size_t         n;
    int            rc = -1;

    *pb = NULL;
    *pb_len = 0;

    c.err = err;
    c.errlen = errlen;
    c.path[0] = '\0';
    c.plen = 0;

    /* NUL bytes inside strings are allowed (then cut, see the top) */
    root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return -1;
    }

    if (!json_is_object(root)) {
        snprintf(err, errlen, "body: not a JSON object");
        json_decref(root);
        return -1;
    }

    req = NEW(&c, req_t,
              opentelemetry__proto__collector__trace__v1__export_trace_service_request__init);
    if (req == NULL) {
        json_decref(root);
        return -1;
    }

    if (conv_req(&c, root, req) != 0) {
        goto done;
    }

    n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
        req);
    *pb = malloc(n ? n : 1);
    if (*pb == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    *pb_len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        req, *pb);
    rc = 0;

done:

    /* everything was malloc'd in the shapes protobuf-c frees */
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
        req, NULL);
    json_decref(root);
    return rc;
}


/* Walks pb; *batch malloc'd (NULL when nothing was accepted). */
static int
walk(const uint8_t *pb, size_t len, const bt_otlp_limits_t *lim,
    bt_otlp_scan_t *scan, uint8_t **batch)
{
    int  rc = bt_otlp_scan(pb, len, lim, scan);

    *batch = NULL;
    if (rc == BT_OTLP_OK && scan->accepted > 0) {
        *batch = malloc(scan->batch_len);
        if (*batch == NULL) {
            abort();
        }
        bt_otlp_write(pb, len, lim, *batch);
    }
    return rc;
}


int
otlp_json_ref_compare(const char *json, size_t len,
    const bt_otlp_limits_t *lim, char *why, size_t whylen)
{
    uint8_t         *pb, *rpb, *b = NULL, *rb = NULL;
    size_t           pb_len, rpb_len;
    char             err[256], rerr[256];
    int              rc, rrc, res = 0;
    bt_otlp_scan_t   s, rs;

    rc = bt_otlp_json_to_pb(json, len, &pb, &pb_len, err, sizeof(err));
    rrc = otlp_json_ref_to_pb(json, len, &rpb, &rpb_len, rerr, sizeof(rerr));

    if (rc != rrc) {
        snprintf(why, whylen, "streaming %s (%s), reference %s (%s)",
                 rc ? "refused" : "converted", rc ? err : "",
                 rrc ? "refused" : "converted", rrc ? rerr : "");
        free(pb);
        free(rpb);
        return -1;
    }
    if (rc != 0) {
        return 0;
    }

    rc = walk(pb, pb_len, lim, &s, &b);
    rrc = walk(rpb, rpb_len, lim, &rs, &rb);

    if (rc != rrc) {
        snprintf(why, whylen, "walker: %d (%s) on the streaming body, %d "
                 "(%s) on the reference's", rc, s.message, rrc, rs.message);
        res = -1;
    } else if (rc == BT_OTLP_OK
               && (s.spans != rs.spans || s.accepted != rs.accepted
                   || s.rejected != rs.rejected
                   || s.batch_len != rs.batch_len))
    {
        snprintf(why, whylen, "walker counts: spans %u/%u accepted %u/%u "
                 "rejected %u/%u batch %zu/%zu", s.spans, rs.spans,
                 s.accepted, rs.accepted, s.rejected, rs.rejected,
                 s.batch_len, rs.batch_len);
        res = -1;
    } else if (b != NULL && memcmp(b, rb, s.batch_len) != 0) {
        snprintf(why, whylen, "batches differ (%zu bytes)", s.batch_len);
        res = -1;
    }

    free(b);
    free(rb);
    free(pb);
    free(rpb);
    return res;
}
