/*
 * otlp_ref.c - see otlp_ref.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "shm/bt_span.h"
#include "otlp_ref.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    req_t;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans      rs_t;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans         ss_t;
typedef Opentelemetry__Proto__Trace__V1__Span               span_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Event        event_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Link         link_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue          kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue          av_t;

#define AV(x)  OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x


/* ---- an allocator that remembers sizes ----------------------------------- */

static void *
ref_alloc(void *data, size_t n)
{
    size_t  *p = malloc(n + 16);

    (void) data;
    if (p == NULL) {
        abort();
    }
    p[0] = n;
    return (char *) p + 16;
}


static void
ref_free(void *data, void *ptr)
{
    (void) data;
    if (ptr) {
        free((char *) ptr - 16);
    }
}


static ProtobufCAllocator  allocator = { ref_alloc, ref_free, NULL };


/* A protobuf-c string's true length (it may hold NUL bytes). */
static size_t
slen(const char *s)
{
    if (s == NULL || s == protobuf_c_empty_string) {
        return 0;
    }
    return ((const size_t *) (const void *) (s - 16))[0] - 1;
}


/* ---- a growable buffer ------------------------------------------------------ */

typedef struct {
    uint8_t  *p;
    size_t    len, cap;
} buf_t;


static void
put(buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            abort();
        }
    }
    if (n) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
}


static void
put32(buf_t *b, uint32_t v)
{
    put(b, &v, 4);
}


static void
put_str(buf_t *b, const void *p, size_t n)
{
    put32(b, (uint32_t) n);
    put(b, p, n);
}


static void
patch32(buf_t *b, size_t at, uint32_t v)
{
    memcpy(b->p + at, &v, 4);
}


/* ---- flattening ---------------------------------------------------------------- */

typedef struct {
    const bt_otlp_limits_t  *lim;
    uint32_t                 max_depth;
    int                      bad;       /* a limit broken in this span */
    int                      deep;      /* beyond BT_SPAN_MAX_DEPTH */
} ctx_t;


static void put_kv(ctx_t *c, buf_t *b, const kv_t *kv, uint32_t level);

static void
put_value(ctx_t *c, buf_t *b, const av_t *v, uint32_t level)
{
    uint8_t   type, one;
    size_t    at, i, n;
    int64_t   iv;
    double    dv;

    if (level > BT_SPAN_MAX_DEPTH) {
        c->deep = 1;
    }
    if (level > c->max_depth) {
        c->bad = 1;
    }

    if (v == NULL) {
        type = BT_VAL_EMPTY;
        put(b, &type, 1);
        put32(b, 0);
        return;
    }

    switch (v->value_case) {
    case AV(STRING_VALUE):
        type = BT_VAL_STRING;
        n = slen(v->string_value);
        put(b, &type, 1);
        put_str(b, v->string_value, n);
        if (n > c->lim->max_value_len) {
            c->bad = 1;
        }
        return;

    case AV(BYTES_VALUE):
        type = BT_VAL_BYTES;
        put(b, &type, 1);
        put_str(b, v->bytes_value.data, v->bytes_value.len);
        if (v->bytes_value.len > c->lim->max_value_len) {
            c->bad = 1;
        }
        return;

    case AV(BOOL_VALUE):
        type = BT_VAL_BOOL;
        one = v->bool_value ? 1 : 0;
        put(b, &type, 1);
        put32(b, 1);
        put(b, &one, 1);
        return;

    case AV(INT_VALUE):
        type = BT_VAL_INT;
        iv = v->int_value;
        put(b, &type, 1);
        put32(b, 8);
        put(b, &iv, 8);
        return;

    case AV(DOUBLE_VALUE):
        type = BT_VAL_DOUBLE;
        dv = v->double_value;
        put(b, &type, 1);
        put32(b, 8);
        put(b, &dv, 8);
        return;

    case AV(ARRAY_VALUE):
        type = BT_VAL_ARRAY;
        put(b, &type, 1);
        at = b->len;
        put32(b, 0);
        for (i = 0; v->array_value && i < v->array_value->n_values; i++) {
            put_value(c, b, v->array_value->values[i], level + 1);
        }
        patch32(b, at, (uint32_t) (b->len - at - 4));
        return;

    case AV(KVLIST_VALUE):
        type = BT_VAL_KVLIST;
        put(b, &type, 1);
        at = b->len;
        put32(b, 0);
        for (i = 0; v->kvlist_value && i < v->kvlist_value->n_values; i++) {
            put_kv(c, b, v->kvlist_value->values[i], level + 1);
        }
        patch32(b, at, (uint32_t) (b->len - at - 4));
        return;

    default:
        type = BT_VAL_EMPTY;
        put(b, &type, 1);
        put32(b, 0);
        return;
    }
}


static void
put_kv(ctx_t *c, buf_t *b, const kv_t *kv, uint32_t level)
{
    size_t  n = slen(kv->key);

    if (n > c->lim->max_value_len) {
        c->bad = 1;
    }
    put_str(b, kv->key, n);
    put_value(c, b, kv->value, level);
}


static void
put_attrs(ctx_t *c, buf_t *b, kv_t **kvs, size_t n)
{
    size_t  at = b->len, i;

    if (n > c->lim->max_attrs) {
        c->bad = 1;
    }

    put32(b, (uint32_t) n);
    put32(b, 0);
    for (i = 0; i < n; i++) {
        put_kv(c, b, kvs[i], 1);
    }
    patch32(b, at + 4, (uint32_t) (b->len - at - 8));
}


static void
put_span(ctx_t *c, buf_t *b, const rs_t *rs, const ss_t *ss,
    const span_t *sp)
{
    size_t          at, sect, i, n;
    uint8_t         zero[8] = { 0 }, kind, status;
    uint16_t        flags = 0;
    uint32_t        code;
    const char     *service = NULL, *scope = NULL, *msg = NULL;
    const event_t  *ev;
    const link_t   *ln;

    at = b->len;
    put32(b, 0);
    put(b, sp->trace_id.data, 16);
    put(b, sp->span_id.data, 8);
    put(b, sp->parent_span_id.len == 8 ? sp->parent_span_id.data : zero, 8);
    put(b, &sp->start_time_unix_nano, 8);
    put(b, &sp->end_time_unix_nano, 8);

    kind = (uint32_t) sp->kind <= BT_KIND_CONSUMER ? (uint8_t) sp->kind : 0;
    code = sp->status ? (uint32_t) sp->status->code : 0;
    status = code <= BT_STATUS_ERROR ? (uint8_t) code : 0;
    put(b, &kind, 1);
    put(b, &status, 1);
    put(b, &flags, 2);

    n = slen(sp->name);
    if (n > c->lim->max_value_len) {
        c->bad = 1;
    }
    put_str(b, sp->name, n);

    msg = sp->status ? sp->status->message : NULL;
    if (slen(msg) > c->lim->max_value_len) {
        c->bad = 1;
    }
    put_str(b, msg, slen(msg));

    if (rs->resource) {
        for (i = 0; i < rs->resource->n_attributes; i++) {
            const kv_t  *kv = rs->resource->attributes[i];

            if (slen(kv->key) == 12 && memcmp(kv->key, "service.name", 12) == 0)
            {
                if (kv->value && kv->value->value_case == AV(STRING_VALUE)) {
                    service = kv->value->string_value;
                }
                break;
            }
        }
    }
    put_str(b, service, slen(service));

    scope = ss->scope ? ss->scope->name : NULL;
    if (slen(scope) > c->lim->max_value_len) {
        c->bad = 1;
    }
    put_str(b, scope, slen(scope));

    if (rs->resource) {
        put_attrs(c, b, rs->resource->attributes, rs->resource->n_attributes);
    } else {
        put_attrs(c, b, NULL, 0);
    }

    put_attrs(c, b, sp->attributes, sp->n_attributes);

    sect = b->len;
    put32(b, (uint32_t) sp->n_events);
    put32(b, 0);
    for (i = 0; i < sp->n_events; i++) {
        ev = sp->events[i];
        put(b, &ev->time_unix_nano, 8);
        n = slen(ev->name);
        if (n > c->lim->max_value_len) {
            c->bad = 1;
        }
        put_str(b, ev->name, n);
        put_attrs(c, b, ev->attributes, ev->n_attributes);
    }
    patch32(b, sect + 4, (uint32_t) (b->len - sect - 8));

    sect = b->len;
    put32(b, (uint32_t) sp->n_links);
    put32(b, 0);
    for (i = 0; i < sp->n_links; i++) {
        ln = sp->links[i];
        if (ln->trace_id.len != 16 || ln->span_id.len != 8) {
            c->bad = 1;
            put(b, zero, 8);
            put(b, zero, 8);
            put(b, zero, 8);
        } else {
            put(b, ln->trace_id.data, 16);
            put(b, ln->span_id.data, 8);
        }
        put_attrs(c, b, ln->attributes, ln->n_attributes);
    }
    patch32(b, sect + 4, (uint32_t) (b->len - sect - 8));

    if (b->len - at > INT32_MAX) {
        c->bad = 1;
    }
    patch32(b, at, (uint32_t) (b->len - at));
}


static int
span_ids_ok(const span_t *sp)
{
    return sp->trace_id.len == 16 && !bt_id_is_zero(sp->trace_id.data, 16)
           && sp->span_id.len == 8 && !bt_id_is_zero(sp->span_id.data, 8)
           && (sp->parent_span_id.len == 0 || sp->parent_span_id.len == 8);
}


int
otlp_ref_flatten(const uint8_t *body, size_t len, const bt_otlp_limits_t *lim,
    otlp_ref_t *out)
{
    req_t     *req;
    buf_t      b = { NULL, 0, 0 };
    ctx_t      c;
    size_t     i, j, k, at;
    uint32_t   magic = BT_BATCH_MAGIC, total = 0;

    memset(out, 0, sizeof(*out));

    req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        &allocator, len, body);
    if (req == NULL) {
        out->rc = BT_OTLP_MALFORMED;
        return out->rc;
    }

    for (i = 0; i < req->n_resource_spans; i++) {
        for (j = 0; j < req->resource_spans[i]->n_scope_spans; j++) {
            total += (uint32_t)
                     req->resource_spans[i]->scope_spans[j]->n_spans;
        }
    }

    c.lim = lim;
    c.max_depth = lim->max_depth < BT_SPAN_MAX_DEPTH ? lim->max_depth
                                                     : BT_SPAN_MAX_DEPTH;
    c.deep = 0;

    put32(&b, magic);
    put32(&b, 0);

    for (i = 0; i < req->n_resource_spans; i++) {
        const rs_t  *rs = req->resource_spans[i];

        for (j = 0; j < rs->n_scope_spans; j++) {
            const ss_t  *ss = rs->scope_spans[j];

            for (k = 0; k < ss->n_spans; k++) {
                out->spans++;
                if (!span_ids_ok(ss->spans[k])) {
                    out->rejected++;
                    continue;
                }
                at = b.len;
                c.bad = 0;
                put_span(&c, &b, rs, ss, ss->spans[k]);
                if (c.bad) {
                    b.len = at;
                    out->rejected++;
                } else {
                    out->accepted++;
                }
            }
        }
    }

    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
        req, &allocator);

    if (c.deep) {
        free(b.p);
        memset(out, 0, sizeof(*out));
        out->deep = 1;
        out->rc = BT_OTLP_MALFORMED;
        return out->rc;
    }

    if (total > lim->max_spans) {
        free(b.p);
        memset(out, 0, sizeof(*out));
        out->spans = total;
        out->rc = BT_OTLP_TOO_MANY_SPANS;
        return out->rc;
    }

    if (out->accepted == 0) {
        free(b.p);
        out->rc = BT_OTLP_OK;
        return out->rc;
    }

    patch32(&b, 4, out->accepted);
    out->batch = b.p;
    out->batch_len = b.len;
    out->rc = BT_OTLP_OK;
    return out->rc;
}


void
otlp_ref_free(otlp_ref_t *r)
{
    free(r->batch);
    memset(r, 0, sizeof(*r));
}


int
otlp_ref_compare(const uint8_t *body, size_t len, const bt_otlp_limits_t *lim,
    char *why, size_t whylen)
{
    bt_otlp_scan_t   scan;
    otlp_ref_t       ref;
    uint8_t         *batch;
    int              rc, result = -1;
    size_t           i;

    rc = bt_otlp_scan(body, len, lim, &scan);

    if (rc == BT_OTLP_MALFORMED && strstr(scan.message, "nested deeper")) {
        /* protobuf-c has no nesting bound: nothing to compare with */
        snprintf(why, whylen, "ok");
        return 0;
    }

    otlp_ref_flatten(body, len, lim, &ref);

    if (rc == BT_OTLP_TOO_MANY_SPANS) {
        /* the walker stops counting at the limit; the reference unpacks
           everything first, so it may find the body malformed instead */
        if (ref.rc == BT_OTLP_TOO_MANY_SPANS || ref.rc == BT_OTLP_MALFORMED) {
            result = 0;
        } else {
            snprintf(why, whylen, "walker: too many spans (%s), reference: "
                     "ok with %u spans", scan.message, ref.spans);
        }
        goto done;
    }

    if (rc != ref.rc) {
        snprintf(why, whylen, "walker rc %d (%s), reference rc %d%s", rc,
                 scan.message, ref.rc, ref.deep ? " (too deep)" : "");
        goto done;
    }

    if (rc != BT_OTLP_OK) {
        result = 0;
        goto done;
    }

    if (scan.spans != ref.spans || scan.accepted != ref.accepted
        || scan.rejected != ref.rejected)
    {
        snprintf(why, whylen, "spans/accepted/rejected: walker %u/%u/%u "
                 "(%s), reference %u/%u/%u", scan.spans, scan.accepted,
                 scan.rejected, scan.message, ref.spans, ref.accepted,
                 ref.rejected);
        goto done;
    }

    if (scan.batch_len != ref.batch_len) {
        snprintf(why, whylen, "batch_len: walker %zu, reference %zu",
                 scan.batch_len, ref.batch_len);
        goto done;
    }

    if (scan.accepted == 0) {
        result = 0;
        goto done;
    }

    /* exact size, so ASan sees any write past batch_len */
    batch = malloc(scan.batch_len);
    if (batch == NULL) {
        abort();
    }
    bt_otlp_write(body, len, lim, batch);

    for (i = 0; i < scan.batch_len; i++) {
        if (batch[i] != ref.batch[i]) {
            break;
        }
    }

    if (i < scan.batch_len) {
        snprintf(why, whylen, "batches differ at byte %zu of %zu", i,
                 scan.batch_len);
    } else if (bt_batch_check(batch, scan.batch_len) != (int) scan.accepted) {
        snprintf(why, whylen, "the batch does not pass bt_batch_check");
    } else {
        result = 0;
    }

    free(batch);

done:

    if (result == 0) {
        snprintf(why, whylen, "ok");
    }
    otlp_ref_free(&ref);
    return result;
}


/* ---- the wire writer ----------------------------------------------------- */

void
pbw_raw(pbw_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            abort();
        }
    }
    if (n) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
}


void
pbw_varint(pbw_t *b, uint64_t v)
{
    uint8_t  tmp[10];
    size_t   n = 0;

    do {
        tmp[n] = (uint8_t) (v & 0x7f);
        v >>= 7;
        if (v) {
            tmp[n] |= 0x80;
        }
        n++;
    } while (v);

    pbw_raw(b, tmp, n);
}


void
pbw_tag(pbw_t *b, uint32_t num, uint32_t wt)
{
    pbw_varint(b, ((uint64_t) num << 3) | wt);
}


void
pbw_uint(pbw_t *b, uint32_t num, uint64_t v)
{
    pbw_tag(b, num, 0);
    pbw_varint(b, v);
}


void
pbw_fixed64(pbw_t *b, uint32_t num, uint64_t v)
{
    pbw_tag(b, num, 1);
    pbw_raw(b, &v, 8);
}


void
pbw_fixed32(pbw_t *b, uint32_t num, uint32_t v)
{
    pbw_tag(b, num, 5);
    pbw_raw(b, &v, 4);
}


void
pbw_bytes(pbw_t *b, uint32_t num, const void *p, size_t n)
{
    pbw_tag(b, num, 2);
    pbw_varint(b, n);
    pbw_raw(b, p, n);
}


void
pbw_str(pbw_t *b, uint32_t num, const char *s)
{
    pbw_bytes(b, num, s, strlen(s));
}


void
pbw_msg(pbw_t *b, uint32_t num, pbw_t *sub)
{
    pbw_bytes(b, num, sub->p, sub->len);
    pbw_free(sub);
}


void
pbw_free(pbw_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}


static void
w3_attr_str(pbw_t *to, uint32_t num, const char *key, const char *val)
{
    pbw_t  kv = PBW_INIT, av = PBW_INIT;

    pbw_str(&av, 1, val);
    pbw_str(&kv, 1, key);
    pbw_msg(&kv, 2, &av);
    pbw_msg(to, num, &kv);
}


static void
w3_attr_int(pbw_t *to, uint32_t num, const char *key, int64_t val)
{
    pbw_t  kv = PBW_INIT, av = PBW_INIT;

    pbw_uint(&av, 3, (uint64_t) val);
    pbw_str(&kv, 1, key);
    pbw_msg(&kv, 2, &av);
    pbw_msg(to, num, &kv);
}


void
pbw_w3(pbw_t *b, uint32_t nspans, uint32_t nattrs, uint64_t seed)
{
    static const char *const  keys[] = {
        "http.method", "http.route", "http.status_code", "net.peer.name",
        "db.system", "user.id", "retry.count", "cache.hit", "latency.ratio",
        "component"
    };
    pbw_t     rs = PBW_INIT, res = PBW_INIT, ss = PBW_INIT, scope = PBW_INIT;
    pbw_t     span, kv, av;
    uint8_t   tid[16], sid[8], pid[8];
    uint64_t  t0 = 1700000000000000000ull + seed * 1000000000ull, x;
    uint32_t  i, a;
    char      val[32];

    w3_attr_str(&res, 1, "service.name", "checkout");
    w3_attr_str(&res, 1, "service.version", "1.4.2");
    w3_attr_str(&res, 1, "host.name", "web-7f9c");
    w3_attr_str(&res, 1, "telemetry.sdk.language", "go");
    w3_attr_str(&res, 1, "deployment.environment", "prod");
    pbw_msg(&rs, 1, &res);

    pbw_str(&scope, 1, "io.betrace.bench");
    pbw_str(&scope, 2, "1.0.0");
    pbw_msg(&ss, 1, &scope);

    for (i = 0; i < nspans; i++) {
        span = (pbw_t) PBW_INIT;

        x = seed * 1000003u + i / 10 + 1;
        memcpy(tid, &x, 8);
        x = ~x;
        memcpy(tid + 8, &x, 8);
        x = seed * 7919u + i + 1;
        memcpy(sid, &x, 8);
        x = seed * 7919u + (i / 10) * 10 + 1;
        memcpy(pid, &x, 8);

        pbw_bytes(&span, 1, tid, 16);
        pbw_bytes(&span, 2, sid, 8);
        if (i % 10) {
            pbw_bytes(&span, 4, pid, 8);
        }
        pbw_str(&span, 5, i % 10 ? "SELECT orders" : "GET /api/orders");
        pbw_uint(&span, 6, i % 10 ? 3 : 2);
        pbw_fixed64(&span, 7, t0 + i * 1000);
        pbw_fixed64(&span, 8, t0 + i * 1000 + 500000);

        for (a = 0; a < nattrs; a++) {
            const char  *key = keys[a % 10];

            switch (a % 5) {
            case 2:
                w3_attr_int(&span, 9, key, 200 + a);
                break;
            case 3:
                kv = (pbw_t) PBW_INIT;
                av = (pbw_t) PBW_INIT;
                pbw_tag(&av, 4, 1);
                {
                    double  d = 0.25 * a;
                    pbw_raw(&av, &d, 8);
                }
                pbw_str(&kv, 1, key);
                pbw_msg(&kv, 2, &av);
                pbw_msg(&span, 9, &kv);
                break;
            case 4:
                kv = (pbw_t) PBW_INIT;
                av = (pbw_t) PBW_INIT;
                pbw_uint(&av, 2, 1);
                pbw_str(&kv, 1, key);
                pbw_msg(&kv, 2, &av);
                pbw_msg(&span, 9, &kv);
                break;
            default:
                snprintf(val, sizeof(val), "value-%u-%u", i, a);
                w3_attr_str(&span, 9, key, val);
                break;
            }
        }

        av = (pbw_t) PBW_INIT;
        pbw_uint(&av, 3, i % 17 == 0 ? 2 : 1);
        pbw_msg(&span, 15, &av);

        pbw_msg(&ss, 2, &span);
    }

    pbw_msg(&rs, 2, &ss);
    pbw_msg(b, 1, &rs);
}
