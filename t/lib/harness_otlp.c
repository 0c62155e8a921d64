/*
 * harness_otlp.c - OTLP request bodies for tests (protobuf-c and jansson).
 * See harness_otlp.h.
 */

#include "harness_otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include <jansson.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "shm/bt_span.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    ho_req_t;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
    ho_resp_t;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans   ho_rs_t;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans      ho_ss_t;
typedef Opentelemetry__Proto__Trace__V1__Span            ho_pspan_t;
typedef Opentelemetry__Proto__Trace__V1__Status          ho_status_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue       ho_kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue       ho_any_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope  ho_scope_t;
typedef Opentelemetry__Proto__Resource__V1__Resource     ho_res_t;

#define HO_ANY_INIT  OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT
#define HO_KV_INIT   OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT
#define HO_CASE(x)   OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x


static void *
ho_alloc(size_t n)
{
    void  *p = calloc(1, n ? n : 1);

    if (p == NULL) {
        abort();
    }
    return p;
}

void
ho_random_id(uint8_t *p, size_t n)
{
    size_t  i;
    int     nz = 0;

    while (!nz) {
        if (getrandom(p, n, 0) != (ssize_t) n) {
            abort();
        }
        for (i = 0; i < n; i++) {
            nz |= p[i];
        }
    }
}

void
ho_span_init(ho_span_t *s, const uint8_t *trace_id, const char *name)
{
    struct timespec  ts;

    memset(s, 0, sizeof(*s));
    memcpy(s->trace_id, trace_id, 16);
    ho_random_id(s->span_id, 8);
    s->name = name;
    s->service = "test-service";
    s->kind = 2;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->start_ns = (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
    s->end_ns = s->start_ns + 1000000;
}

static int
ho_is_zero(const uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i]) {
            return 0;
        }
    }
    return 1;
}

/* The value of attr.K: "vK", or value_len bytes: "K." then 'x'. */
static char *
ho_attr_value(const ho_span_t *s, int k)
{
    char  *v, tag[16];
    int    tl;

    if (s->value_len == 0) {
        v = ho_alloc(24);
        snprintf(v, 24, "v%d", k);
        return v;
    }
    v = ho_alloc(s->value_len + 1);
    memset(v, 'x', s->value_len);
    tl = snprintf(tag, sizeof(tag), "%d.", k);
    memcpy(v, tag, (size_t) tl < s->value_len ? (size_t) tl : s->value_len);
    return v;
}

uint8_t *
ho_request_pb(const ho_span_t *spans, size_t n, size_t *len)
{
    ho_req_t      req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    ho_rs_t       rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    ho_ss_t       ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ho_scope_t    scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    ho_res_t      res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    ho_kv_t       svc = HO_KV_INIT, *svcp = &svc;
    ho_any_t      svcv = HO_ANY_INIT;
    ho_rs_t      *rsp = &rs;
    ho_ss_t      *ssp = &ss;
    ho_pspan_t  **ps;
    ho_kv_t     **kvs;
    ho_any_t     *av;
    ho_status_t  *st;
    uint8_t      *out;
    size_t        i;
    int           k, na;
    char          key[32];

    svc.key = (char *) "service.name";
    svcv.value_case = HO_CASE(STRING_VALUE);
    svcv.string_value = (char *) (n && spans[0].service ? spans[0].service
                                                        : "test-service");
    svc.value = &svcv;
    res.n_attributes = 1;
    res.attributes = &svcp;
    rs.resource = &res;
    scope.name = (char *) HO_SCOPE;
    scope.version = (char *) "1.0";
    ss.scope = &scope;

    ps = ho_alloc(n * sizeof(*ps));
    for (i = 0; i < n; i++) {
        const ho_span_t  *s = &spans[i];

        ps[i] = ho_alloc(sizeof(ho_pspan_t));
        opentelemetry__proto__trace__v1__span__init(ps[i]);
        ps[i]->trace_id.data = (uint8_t *) s->trace_id;
        ps[i]->trace_id.len = 16;
        ps[i]->span_id.data = (uint8_t *) s->span_id;
        ps[i]->span_id.len = 8;
        if (!ho_is_zero(s->parent_id, 8)) {
            ps[i]->parent_span_id.data = (uint8_t *) s->parent_id;
            ps[i]->parent_span_id.len = 8;
        }
        ps[i]->name = (char *) s->name;
        ps[i]->kind = s->kind;
        ps[i]->start_time_unix_nano = s->start_ns;
        ps[i]->end_time_unix_nano = s->end_ns;
        if (s->status) {
            st = ho_alloc(sizeof(*st));
            opentelemetry__proto__trace__v1__status__init(st);
            st->code = s->status;
            ps[i]->status = st;
        }
        na = s->nattrs + (s->typed ? 3 : 0);
        kvs = ho_alloc(na * sizeof(*kvs));
        for (k = 0; k < na; k++) {
            kvs[k] = ho_alloc(sizeof(ho_kv_t));
            opentelemetry__proto__common__v1__key_value__init(kvs[k]);
            av = ho_alloc(sizeof(ho_any_t));
            opentelemetry__proto__common__v1__any_value__init(av);
            kvs[k]->value = av;
            if (k < s->nattrs) {
                snprintf(key, sizeof(key), "attr.%d", k);
                kvs[k]->key = strdup(key);
                av->value_case = HO_CASE(STRING_VALUE);
                av->string_value = ho_attr_value(s, k);
            } else if (k == s->nattrs) {
                kvs[k]->key = strdup("t.int");
                av->value_case = HO_CASE(INT_VALUE);
                av->int_value = -42;
            } else if (k == s->nattrs + 1) {
                kvs[k]->key = strdup("t.bool");
                av->value_case = HO_CASE(BOOL_VALUE);
                av->bool_value = 1;
            } else {
                kvs[k]->key = strdup("t.double");
                av->value_case = HO_CASE(DOUBLE_VALUE);
                av->double_value = 2.5;
            }
        }
        ps[i]->n_attributes = na;
        ps[i]->attributes = kvs;
    }
    ss.n_spans = n;
    ss.spans = ps;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;

    *len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    out = ho_alloc(*len);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, out);

    for (i = 0; i < n; i++) {
        for (k = 0; k < (int) ps[i]->n_attributes; k++) {
            free(ps[i]->attributes[k]->key);
            if (ps[i]->attributes[k]->value->value_case
                == HO_CASE(STRING_VALUE))
            {
                free(ps[i]->attributes[k]->value->string_value);
            }
            free(ps[i]->attributes[k]->value);
            free(ps[i]->attributes[k]);
        }
        free(ps[i]->attributes);
        free(ps[i]->status);
        free(ps[i]);
    }
    free(ps);
    return out;
}

static json_t *
ho_hex_json(const uint8_t *p, size_t n)
{
    char  hex[33];

    *bt_hex(hex, p, n) = '\0';
    return json_string(hex);
}

static json_t *
ho_kv_json(const char *key, json_t *value)
{
    return json_pack("{s:s, s:o}", "key", key, "value", value);
}

char *
ho_request_json(const ho_span_t *spans, size_t n, size_t *len)
{
    json_t  *arr, *span, *attrs, *root;
    char    *text, *v, num[32], key[32];
    size_t   i;
    int      k;

    arr = json_array();
    for (i = 0; i < n; i++) {
        const ho_span_t  *s = &spans[i];

        attrs = json_array();
        for (k = 0; k < s->nattrs; k++) {
            snprintf(key, sizeof(key), "attr.%d", k);
            v = ho_attr_value(s, k);
            json_array_append_new(attrs, ho_kv_json(key,
                json_pack("{s:s}", "stringValue", v)));
            free(v);
        }
        if (s->typed) {
            json_array_append_new(attrs, ho_kv_json("t.int",
                json_pack("{s:s}", "intValue", "-42")));
            json_array_append_new(attrs, ho_kv_json("t.bool",
                json_pack("{s:b}", "boolValue", 1)));
            json_array_append_new(attrs, ho_kv_json("t.double",
                json_pack("{s:f}", "doubleValue", 2.5)));
        }
        span = json_object();
        json_object_set_new(span, "traceId", ho_hex_json(s->trace_id, 16));
        json_object_set_new(span, "spanId", ho_hex_json(s->span_id, 8));
        if (!ho_is_zero(s->parent_id, 8)) {
            json_object_set_new(span, "parentSpanId",
                                ho_hex_json(s->parent_id, 8));
        }
        json_object_set_new(span, "name", json_string(s->name));
        json_object_set_new(span, "kind", json_integer(s->kind));
        snprintf(num, sizeof(num), "%llu", (unsigned long long) s->start_ns);
        json_object_set_new(span, "startTimeUnixNano", json_string(num));
        snprintf(num, sizeof(num), "%llu", (unsigned long long) s->end_ns);
        json_object_set_new(span, "endTimeUnixNano", json_string(num));
        json_object_set_new(span, "attributes", attrs);
        if (s->status) {
            json_object_set_new(span, "status",
                                json_pack("{s:i}", "code", s->status));
        }
        json_array_append_new(arr, span);
    }

    root = json_pack("{s:[{s:{s:[o]}, s:[{s:{s:s, s:s}, s:o}]}]}",
        "resourceSpans",
        "resource", "attributes",
        ho_kv_json("service.name", json_pack("{s:s}", "stringValue",
                   n && spans[0].service ? spans[0].service
                                         : "test-service")),
        "scopeSpans", "scope", "name", HO_SCOPE, "version", "1.0",
        "spans", arr);
    text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL) {
        abort();
    }
    *len = strlen(text);
    return text;
}

int
ho_response_pb(const void *body, size_t len, int64_t *rejected, char *msg,
    size_t msglen)
{
    ho_resp_t  *r;

    r = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, len, body);
    if (r == NULL) {
        return -1;
    }
    *rejected = 0;
    if (msglen) {
        msg[0] = '\0';
    }
    if (r->partial_success) {
        *rejected = r->partial_success->rejected_spans;
        if (msglen && r->partial_success->error_message) {
            snprintf(msg, msglen, "%s", r->partial_success->error_message);
        }
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r, NULL);
    return 0;
}

int
ho_status_pb(const void *body, size_t len, int32_t *code, char *msg,
    size_t msglen)
{
    Google__Rpc__Status  *st;

    st = google__rpc__status__unpack(NULL, len, body);
    if (st == NULL) {
        return -1;
    }
    *code = st->code;
    if (msglen) {
        snprintf(msg, msglen, "%s", st->message ? st->message : "");
    }
    google__rpc__status__free_unpacked(st, NULL);
    return 0;
}
