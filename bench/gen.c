/*
 * gen.c - the ingest benchmark's load generator: prebuilds OTLP/HTTP request
 * bodies for every workload of BENCHMARKS.md and writes them to disk, so the
 * replay tool (wrk with bench/otlp.lua) spends its time sending, not encoding.
 *
 *   build/bench/gen [-k BODIES] [-s SEED] [-w W1,W3,...] OUTDIR
 *   build/bench/gen -T FILE
 *
 * For each workload it writes OUTDIR/<name>/bodies.bin (the bodies back to
 * back) and OUTDIR/<name>/manifest (text, read by the Lua script and run.sh):
 *
 *   workload w3
 *   content_type application/x-protobuf
 *   content_encoding identity
 *   group 1
 *   bodies 1000
 *   spans 100000
 *   bytes 44003211
 *   body LEN SPANS IDOFFS          one line per body, in file order
 *
 * IDOFFS lists, comma-separated, the byte offsets in the body where a span's
 * trace id starts (16 raw bytes in protobuf, 32 hex digits in JSON; "-" for
 * gzip).  The Lua script rewrites the first 4 bytes / 8 hex digits of each
 * one to make every pass over the bodies carry new trace ids when it is asked
 * to (the engine measurement needs traces that are really distinct).
 *
 * "group G" says that bodies come in groups of G that must be sent in order
 * (W3-split: a trace's spans are spread over the G bodies of its group and
 * its root span is in the last one).
 *
 * Bodies are encoded with the protobuf-c generated types, the reference
 * encoder of the project, so they are exactly what an SDK would send.  The
 * spans look like a small shop's traffic: an HTTP server root per trace,
 * then database, cache, HTTP client, messaging and internal spans with the
 * OpenTelemetry semantic-convention attributes those carry, under realistic
 * resources (service, host, pod, SDK).  Trace and span ids are random.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    req_t;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans  rspans_t;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans     sspans_t;
typedef Opentelemetry__Proto__Trace__V1__Span           span_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Event    event_t;
typedef Opentelemetry__Proto__Trace__V1__Status         status_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue      kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue      anyval_t;
typedef Opentelemetry__Proto__Common__V1__ArrayValue    arrval_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope scope_t;
typedef Opentelemetry__Proto__Resource__V1__Resource    resource_t;

#define VCASE(x)  OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ ## x
#define KIND(x)   OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_ ## x
#define SCODE(x)  \
    OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ ## x

#define MAX_SPANS_PER_BODY  1024
#define ARENA_BYTES         (32u << 20)


/* --- workloads ------------------------------------------------------------ */

enum { ENC_PROTO, ENC_JSON, ENC_GZIP };

typedef struct {
    const char  *name;
    int          spans;             /* spans per body */
    int          attrs;             /* attributes per span */
    int          per_trace;         /* spans per trace */
    int          enc;
    int          split;             /* bodies per group, 1 = not split */
    int          default_bodies;    /* ~20-50 MB of bodies each */
} workload_t;

static const workload_t workloads[] = {
    { "w1",       1,   10, 1,  ENC_PROTO, 1, 20000 },
    { "w2",       10,  4,  5,  ENC_PROTO, 1, 5000 },
    { "w3",       100, 10, 10, ENC_PROTO, 1, 1000 },
    { "w4",       512, 10, 10, ENC_PROTO, 1, 200 },
    { "w5",       100, 30, 10, ENC_PROTO, 1, 300 },
    { "w3-json",  100, 10, 10, ENC_JSON,  1, 500 },
    { "w3-gzip",  100, 10, 10, ENC_GZIP,  1, 1000 },
    { "w3-split", 100, 10, 10, ENC_PROTO, 5, 1000 },
};

#define NWORKLOADS  (sizeof(workloads) / sizeof(workloads[0]))


/* --- random numbers (xoshiro256**; fast and good enough for ids) -------- */

static uint64_t  rng_s[4];

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rnd(void)
{
    uint64_t  r, t;

    r = rotl(rng_s[1] * 5, 7) * 9;
    t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

static void
rnd_seed(uint64_t seed)
{
    int  i;

    /* splitmix64 expands the seed so that small seeds give good states */
    for (i = 0; i < 4; i++) {
        uint64_t  z;

        seed += 0x9e3779b97f4a7c15ull;
        z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        rng_s[i] = z ^ (z >> 31);
    }
}

/* Uniform in [0, n). */
static uint32_t
rnd_below(uint32_t n)
{
    return (uint32_t) (((rnd() >> 32) * (uint64_t) n) >> 32);
}

/* Random bytes with at least one non-zero byte (OTLP forbids zero ids). */
static void
rnd_id(uint8_t *id, size_t n)
{
    size_t    i;
    uint64_t  r;

    r = 0;
    do {
        for (i = 0; i < n; i++) {
            if (i % 8 == 0) {
                r = rnd();
            }
            id[i] = (uint8_t) r;
            r >>= 8;
        }
    } while (id[0] == 0 && memcmp(id, id + 1, n - 1) == 0);
}


/* --- arena: one per body, reset after the body is encoded ---------------- */

static char    *arena;
static size_t   arena_used;

static void *
aalloc(size_t n)
{
    void  *p;

    n = (n + 15) & ~(size_t) 15;
    if (arena_used + n > ARENA_BYTES) {
        fprintf(stderr, "gen: arena of %u bytes exhausted\n", ARENA_BYTES);
        exit(1);
    }
    p = arena + arena_used;
    arena_used += n;
    memset(p, 0, n);
    return p;
}

static char *
astrdup(const char *s)
{
    size_t  n;
    char   *p;

    n = strlen(s);
    p = aalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

static char *
astrf(const char *fmt, ...)
{
    va_list  ap;
    char     buf[512];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return astrdup(buf);
}

/*
 * Copies a template, replacing each '#' with a random decimal digit and each
 * '^' with a random lowercase hex digit, so ids, paths and addresses vary
 * from span to span the way real ones do.
 */
static char *
afill(const char *tpl)
{
    char    *p, *s;

    s = astrdup(tpl);
    for (p = s; *p; p++) {
        if (*p == '#') {
            *p = (char) ('0' + rnd_below(10));
        } else if (*p == '^') {
            *p = "0123456789abcdef"[rnd_below(16)];
        }
    }
    return s;
}


/* --- attribute templates -------------------------------------------------- */

/*
 * An attribute: key, type ('s' string, 'i' int, 'd' double, 'b' bool, 'a'
 * array of strings) and either choices (strings; for 'i' parsed as numbers)
 * or a range [lo, hi].  'S' is a string whose choice follows the span's
 * theme, so that attributes that go together agree (url.path with
 * http.route, db.statement with db.operation and db.sql.table).
 */
typedef struct {
    const char  *key;
    char         type;
    const char  *choices[6];
    int64_t      lo, hi;
} attr_tpl_t;

#define NCHOICES(t)  ncount((t)->choices)

static int
ncount(const char *const *c)
{
    int  n;

    for (n = 0; n < 6 && c[n] != NULL; n++) {
        /* count */
    }
    return n;
}

/* Kinds of span in a trace, each with its own first ten attributes. */
enum {
    SK_HTTP_SERVER, SK_HTTP_CLIENT, SK_DB, SK_CACHE, SK_PRODUCER,
    SK_INTERNAL, SK_COUNT
};

static const attr_tpl_t  kind_attrs[SK_COUNT][10] = {
    [SK_HTTP_SERVER] = {
        { "http.request.method", 's', { "GET", "GET", "POST", "PUT",
          "DELETE" }, 0, 0 },
        { "url.path", 'S', { "/api/v1/orders/######",
          "/api/v1/cart/######/items", "/api/v1/products/####",
          "/api/v1/checkout", "/api/v1/users/######/profile" }, 0, 0 },
        { "url.scheme", 's', { "https", "http" }, 0, 0 },
        { "http.route", 'S', { "/api/v1/orders/{id}",
          "/api/v1/cart/{id}/items", "/api/v1/products/{sku}",
          "/api/v1/checkout", "/api/v1/users/{id}/profile" }, 0, 0 },
        { "server.address", 's', { "shop.example.com",
          "api.shop.example.com" }, 0, 0 },
        { "server.port", 'i', { "443", "8080" }, 0, 0 },
        { "http.response.status_code", 'i', { "200", "200", "200", "201",
          "404", "500" }, 0, 0 },
        { "user_agent.original", 's', { "Mozilla/5.0 (X11; Linux x86_64) "
          "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
          "Safari/537.36", "okhttp/4.12.0", "python-requests/2.31.0",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
          "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148" }, 0, 0 },
        { "client.address", 's', { "10.#.##.###", "192.168.#.##" }, 0, 0 },
        { "network.protocol.version", 's', { "1.1", "2" }, 0, 0 },
    },
    [SK_HTTP_CLIENT] = {
        { "http.request.method", 's', { "GET", "POST" }, 0, 0 },
        { "url.full", 'S', {
          "http://inventory.shop.svc.cluster.local:8080/v2/stock/####",
          "http://pricing.shop.svc.cluster.local:8080/v1/quote/######",
          "http://users.shop.svc.cluster.local:8080/v1/users/######" },
          0, 0 },
        { "server.address", 'S', { "inventory.shop.svc.cluster.local",
          "pricing.shop.svc.cluster.local",
          "users.shop.svc.cluster.local" }, 0, 0 },
        { "server.port", 'i', { "8080" }, 0, 0 },
        { "http.response.status_code", 'i', { "200", "200", "200", "404",
          "503" }, 0, 0 },
        { "network.protocol.version", 's', { "1.1", "2" }, 0, 0 },
        { "network.peer.address", 's', { "10.4.##.###" }, 0, 0 },
        { "network.peer.port", 'i', { "8080" }, 0, 0 },
        { "http.request.resend_count", 'i', { "0", "0", "0", "1" }, 0, 0 },
        { "user_agent.original", 's', { "Go-http-client/1.1",
          "Apache-HttpClient/5.2.1 (Java/17.0.9)" }, 0, 0 },
    },
    [SK_DB] = {
        { "db.system", 's', { "postgresql", "postgresql", "mysql" }, 0, 0 },
        { "db.name", 's', { "shop", "orders" }, 0, 0 },
        { "db.statement", 'S', { "SELECT id, status, total, currency FROM "
          "orders WHERE customer_id = $1 AND created_at > $2 ORDER BY "
          "created_at DESC LIMIT 50", "INSERT INTO order_items (order_id, "
          "sku, qty, price) VALUES ($1, $2, $3, $4)", "UPDATE carts SET "
          "updated_at = now(), version = version + 1 WHERE id = $1",
          "SELECT sku, name, price FROM products WHERE sku = ANY($1)" },
          0, 0 },
        { "db.operation", 'S', { "SELECT", "INSERT", "UPDATE", "SELECT" },
          0, 0 },
        { "db.sql.table", 'S', { "orders", "order_items", "carts",
          "products" }, 0, 0 },
        { "db.user", 's', { "shop_app", "orders_rw" }, 0, 0 },
        { "server.address", 's', { "orders-db.internal",
          "shop-db-replica-#.internal" }, 0, 0 },
        { "server.port", 'i', { "5432", "3306" }, 0, 0 },
        { "network.peer.address", 's', { "10.8.#.##" }, 0, 0 },
        { "db.rows_affected", 'i', { NULL }, 0, 200 },
    },
    [SK_CACHE] = {
        { "db.system", 's', { "redis" }, 0, 0 },
        { "db.statement", 'S', { "GET cart:######", "HGETALL session:^^^^^^^^",
          "SET price:####:EUR", "EXPIRE session:^^^^^^^^ 1800" }, 0, 0 },
        { "db.operation", 'S', { "GET", "HGETALL", "SET", "EXPIRE" }, 0, 0 },
        { "db.redis.database_index", 'i', { "0", "1" }, 0, 0 },
        { "server.address", 's', { "redis-master.cache.svc.cluster.local" },
          0, 0 },
        { "server.port", 'i', { "6379" }, 0, 0 },
        { "network.peer.address", 's', { "10.9.#.##" }, 0, 0 },
        { "network.peer.port", 'i', { "6379" }, 0, 0 },
        { "network.transport", 's', { "tcp" }, 0, 0 },
        { "app.cache.hit", 'b', { NULL }, 0, 0 },
    },
    [SK_PRODUCER] = {
        { "messaging.system", 's', { "kafka" }, 0, 0 },
        { "messaging.destination.name", 's', { "orders", "payments",
          "shipments" }, 0, 0 },
        { "messaging.operation", 's', { "publish" }, 0, 0 },
        { "messaging.message.id", 's', {
          "^^^^^^^^-^^^^-4^^^-a^^^-^^^^^^^^^^^^" }, 0, 0 },
        { "messaging.kafka.destination.partition", 'i', { NULL }, 0, 11 },
        { "messaging.kafka.message.key", 's', { "order-######" }, 0, 0 },
        { "messaging.client_id", 's', { "checkout-producer-#" }, 0, 0 },
        { "messaging.message.body.size", 'i', { NULL }, 200, 4000 },
        { "server.address", 's', { "kafka-#.kafka.svc.cluster.local" },
          0, 0 },
        { "server.port", 'i', { "9092" }, 0, 0 },
    },
    [SK_INTERNAL] = {
        { "code.function", 'S', { "placeOrder", "computeTax", "validateCart",
          "renderInvoice", "applyPromotions" }, 0, 0 },
        { "code.namespace", 's', { "com.example.shop.checkout.OrderService",
          "com.example.shop.pricing.TaxCalculator",
          "com.example.shop.cart.CartValidator" }, 0, 0 },
        { "code.filepath", 's', { "src/main/java/com/example/shop/checkout/"
          "OrderService.java", "src/main/java/com/example/shop/pricing/"
          "TaxCalculator.java" }, 0, 0 },
        { "code.lineno", 'i', { NULL }, 20, 900 },
        { "thread.id", 'i', { NULL }, 1, 400 },
        { "thread.name", 's', { "http-nio-8080-exec-##", "ForkJoinPool-1-"
          "worker-#" }, 0, 0 },
        { "app.items", 'i', { NULL }, 1, 30 },
        { "app.amount", 'd', { NULL }, 1, 2000 },
        { "app.currency", 's', { "EUR", "USD", "GBP" }, 0, 0 },
        { "app.promotion.applied", 'b', { NULL }, 0, 0 },
    },
};

/* Attributes 11..30 (W5): what applications add on top of the conventions. */
static const attr_tpl_t  extra_attrs[20] = {
    { "app.tenant_id", 's', { "tenant-####" }, 0, 0 },
    { "app.user_id", 's', { "u-#########" }, 0, 0 },
    { "app.request_id", 's', { "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^" }, 0, 0 },
    { "app.session_id", 's', { "sess_^^^^^^^^^^^^^^^^" }, 0, 0 },
    { "app.region", 's', { "eu-west-1", "eu-central-1", "us-east-1" }, 0, 0 },
    { "app.shard", 'i', { NULL }, 0, 63 },
    { "app.feature.new_checkout", 'b', { NULL }, 0, 0 },
    { "app.feature.fast_pricing", 'b', { NULL }, 0, 0 },
    { "app.cart.items", 'i', { NULL }, 0, 40 },
    { "app.cart.total", 'd', { NULL }, 0, 5000 },
    { "app.experiment", 's', { "exp-2024-11-banner-b", "control" }, 0, 0 },
    { "app.retry", 'i', { "0", "0", "0", "1", "2" }, 0, 0 },
    { "app.priority", 's', { "normal", "normal", "high", "low" }, 0, 0 },
    { "app.tags", 'a', { "web", "mobile", "promo", "returning", "vip" },
      0, 0 },
    { "enduser.id", 's', { "customer-#######" }, 0, 0 },
    { "enduser.role", 's', { "customer", "guest", "admin" }, 0, 0 },
    { "app.locale", 's', { "en-GB", "de-DE", "fr-FR", "en-US" }, 0, 0 },
    { "app.queue_ms", 'd', { NULL }, 0, 50 },
    { "app.build", 's', { "2024.11.##-^^^^^^^" }, 0, 0 },
    { "app.canary", 'b', { NULL }, 0, 0 },
};

static const char *const  services[] = {
    "frontend", "checkout", "cart", "payment", "inventory", "shipping",
    "pricing", "users"
};

static const char *const  sdk_langs[] = { "java", "go", "nodejs", "python" };

#define NSERVICES  (sizeof(services) / sizeof(services[0]))


static anyval_t *
new_val(void)
{
    anyval_t  *v;

    v = aalloc(sizeof(*v));
    opentelemetry__proto__common__v1__any_value__init(v);
    return v;
}

static anyval_t *
str_val(char *s)
{
    anyval_t  *v;

    v = new_val();
    v->value_case = VCASE(STRING_VALUE);
    v->string_value = s;
    return v;
}

static anyval_t *
int_val(int64_t i)
{
    anyval_t  *v;

    v = new_val();
    v->value_case = VCASE(INT_VALUE);
    v->int_value = i;
    return v;
}

static kv_t *
new_kv(const char *key, anyval_t *v)
{
    kv_t  *kv;

    kv = aalloc(sizeof(*kv));
    opentelemetry__proto__common__v1__key_value__init(kv);
    kv->key = astrdup(key);
    kv->value = v;
    return kv;
}

/* An attribute with a value drawn from its template. */
static kv_t *
make_attr(const attr_tpl_t *t, uint32_t theme)
{
    int        n, i;
    anyval_t  *v;
    arrval_t  *a;

    n = NCHOICES(t);

    switch (t->type) {

    case 'S':
        v = str_val(afill(t->choices[theme % (uint32_t) n]));
        break;

    case 's':
        v = str_val(afill(t->choices[rnd_below(n)]));
        break;

    case 'i':
        if (n > 0) {
            v = int_val(strtoll(t->choices[rnd_below(n)], NULL, 10));
        } else {
            v = int_val(t->lo + rnd_below((uint32_t) (t->hi - t->lo + 1)));
        }
        break;

    case 'd':
        v = new_val();
        v->value_case = VCASE(DOUBLE_VALUE);
        v->double_value = (double) t->lo
                          + (double) (t->hi - t->lo)
                            * (double) (rnd() >> 11) / 9007199254740992.0;
        break;

    case 'b':
        v = new_val();
        v->value_case = VCASE(BOOL_VALUE);
        v->bool_value = (rnd() & 1) != 0;
        break;

    default: /* 'a' */
        a = aalloc(sizeof(*a));
        opentelemetry__proto__common__v1__array_value__init(a);
        a->n_values = 3;
        a->values = aalloc(3 * sizeof(anyval_t *));
        for (i = 0; i < 3; i++) {
            a->values[i] = str_val(astrdup(t->choices[rnd_below(n)]));
        }
        v = new_val();
        v->value_case = VCASE(ARRAY_VALUE);
        v->array_value = a;
        break;
    }

    return new_kv(t->key, v);
}


/* --- bodies ---------------------------------------------------------------- */

/* A span in the making, before it is placed into its body. */
typedef struct {
    span_t  *span;
    int      scope;             /* 0: HTTP instrumentation, 1: application */
} gspan_t;

typedef struct {
    uint8_t   trace_id[16];
    uint8_t   span_ids[16][8];  /* at most 16 spans per trace */
    uint64_t  start[16];
    uint64_t  end[16];
} gtrace_t;

static uint64_t  base_ns;

/* The span name the semantic conventions give a span of this role. */
static char *
span_name(int sk, kv_t **attrs, int nattrs)
{
    static const char *const  ops[] = {
        "placeOrder", "computeTax", "validateCart", "renderInvoice",
        "applyPromotions"
    };

    switch (sk) {
    case SK_HTTP_SERVER:
        /* "{method} {route}" */
        if (nattrs >= 4) {
            return astrf("%s %s", attrs[0]->value->string_value,
                         attrs[3]->value->string_value);
        }
        return astrdup("GET /api/v1/orders/{id}");
    case SK_HTTP_CLIENT:
        /* just "{method}": the URL has too many values to be a name */
        return nattrs >= 1 ? attrs[0]->value->string_value : astrdup("GET");
    case SK_DB:
        /* "{operation} {db}.{table}" */
        return nattrs >= 5 ? astrf("%s shop.%s",
                                   attrs[3]->value->string_value,
                                   attrs[4]->value->string_value)
                           : astrdup("SELECT shop.orders");
    case SK_CACHE:
        return nattrs >= 3 ? attrs[2]->value->string_value : astrdup("GET");
    case SK_PRODUCER:
        /* "{destination} publish" */
        return nattrs >= 2 ? astrf("%s publish",
                                   attrs[1]->value->string_value)
                           : astrdup("orders publish");
    default:
        /* the function's name, as manual instrumentation usually does */
        return nattrs >= 1 ? attrs[0]->value->string_value
                           : astrdup(ops[rnd_below(5)]);
    }
}

/*
 * Makes span i of trace tr: kind and attributes by role, a parent among the
 * earlier spans (span 0 is the root), times inside the parent's interval,
 * and now and then an error with an exception event.
 */
static gspan_t
make_span(gtrace_t *tr, int i, int nattrs)
{
    static const int  mix[10] = {
        SK_DB, SK_DB, SK_DB, SK_HTTP_CLIENT, SK_HTTP_CLIENT, SK_INTERNAL,
        SK_INTERNAL, SK_CACHE, SK_CACHE, SK_PRODUCER
    };
    static const int  kinds[SK_COUNT] = {
        [SK_HTTP_SERVER] = KIND(SERVER), [SK_HTTP_CLIENT] = KIND(CLIENT),
        [SK_DB] = KIND(CLIENT), [SK_CACHE] = KIND(CLIENT),
        [SK_PRODUCER] = KIND(PRODUCER), [SK_INTERNAL] = KIND(INTERNAL)
    };

    int        sk, p, a;
    uint32_t   theme;
    uint64_t   dur, pdur;
    span_t    *s;
    status_t  *st;
    event_t   *ev;
    gspan_t    g;

    sk = (i == 0) ? SK_HTTP_SERVER : mix[rnd_below(10)];

    s = aalloc(sizeof(*s));
    opentelemetry__proto__trace__v1__span__init(s);

    rnd_id(tr->span_ids[i], 8);
    s->trace_id.len = 16;
    s->trace_id.data = tr->trace_id;
    s->span_id.len = 8;
    s->span_id.data = tr->span_ids[i];
    s->flags = 0x101;       /* sampled, parent-is-remote known */

    if (i == 0) {
        tr->start[0] = base_ns + (rnd() % 1000000000ull);
        tr->end[0] = tr->start[0] + 5000000 + rnd_below(200000000);

    } else {
        p = (int) rnd_below((uint32_t) i);
        s->parent_span_id.len = 8;
        s->parent_span_id.data = tr->span_ids[p];
        pdur = tr->end[p] - tr->start[p];
        tr->start[i] = tr->start[p] + rnd() % (pdur / 2 + 1);
        dur = 1 + rnd() % (tr->end[p] - tr->start[i]);
        tr->end[i] = tr->start[i] + dur;
    }

    s->start_time_unix_nano = tr->start[i];
    s->end_time_unix_nano = tr->end[i];
    s->kind = kinds[sk];

    s->n_attributes = (size_t) nattrs;
    s->attributes = aalloc((size_t) nattrs * sizeof(kv_t *));
    theme = (uint32_t) rnd();
    for (a = 0; a < nattrs; a++) {
        s->attributes[a] = make_attr(a < 10 ? &kind_attrs[sk][a]
                                            : &extra_attrs[(a - 10) % 20],
                                     theme);
    }

    s->name = span_name(sk, s->attributes, nattrs);

    st = aalloc(sizeof(*st));
    opentelemetry__proto__trace__v1__status__init(st);
    s->status = st;

    if (rnd_below(100) < 3) {
        st->code = SCODE(ERROR);
        st->message = astrdup("upstream request failed");

        ev = aalloc(sizeof(*ev));
        opentelemetry__proto__trace__v1__span__event__init(ev);
        ev->time_unix_nano = tr->end[i] - 1000;
        ev->name = astrdup("exception");
        ev->n_attributes = 2;
        ev->attributes = aalloc(2 * sizeof(kv_t *));
        ev->attributes[0] = new_kv("exception.type",
            str_val(astrdup("java.net.SocketTimeoutException")));
        ev->attributes[1] = new_kv("exception.message",
            str_val(afill("Read timed out after ####ms")));
        s->n_events = 1;
        s->events = aalloc(sizeof(event_t *));
        s->events[0] = ev;

    } else if (i == 0) {
        st->code = SCODE(OK);
    }

    g.span = s;
    g.scope = (sk == SK_HTTP_SERVER || sk == SK_HTTP_CLIENT) ? 0 : 1;
    return g;
}

static resource_t *
make_resource(int svc)
{
    resource_t  *r;
    const char  *lang;
    kv_t       **a;

    lang = sdk_langs[svc % 4];

    r = aalloc(sizeof(*r));
    opentelemetry__proto__resource__v1__resource__init(r);
    r->n_attributes = 10;
    r->attributes = a = aalloc(10 * sizeof(kv_t *));
    a[0] = new_kv("service.name", str_val(astrdup(services[svc])));
    a[1] = new_kv("service.namespace", str_val(astrdup("shop")));
    a[2] = new_kv("service.version", str_val(afill("1.#.#")));
    a[3] = new_kv("service.instance.id",
                  str_val(afill("^^^^^^^^-^^^^-4^^^-8^^^-^^^^^^^^^^^^")));
    a[4] = new_kv("deployment.environment", str_val(astrdup("production")));
    a[5] = new_kv("host.name", str_val(afill("ip-10-0-#-##.eu-west-1.compute"
                                             ".internal")));
    a[6] = new_kv("k8s.pod.name",
                  str_val(astrf("%s-%s", services[svc],
                                afill("^^^^^^^^^-^^^^^"))));
    a[7] = new_kv("telemetry.sdk.name", str_val(astrdup("opentelemetry")));
    a[8] = new_kv("telemetry.sdk.language", str_val(astrdup(lang)));
    a[9] = new_kv("telemetry.sdk.version", str_val(astrdup("1.28.0")));
    return r;
}

static scope_t *
make_scope(int which)
{
    scope_t  *sc;

    sc = aalloc(sizeof(*sc));
    opentelemetry__proto__common__v1__instrumentation_scope__init(sc);
    if (which == 0) {
        sc->name = astrdup("io.opentelemetry.http");
        sc->version = astrdup("1.32.0-alpha");
    } else {
        sc->name = astrdup("com.example.shop");
        sc->version = astrdup("2.4.1");
    }
    return sc;
}

/*
 * Builds a request from spans: one ResourceSpans for the service, with one
 * ScopeSpans per instrumentation library that has spans, as an SDK batch
 * looks.
 */
static req_t *
make_request(gspan_t *gs, int n, int svc)
{
    int        i, sc;
    req_t     *rq;
    rspans_t  *rs;
    sspans_t  *ss;

    rq = aalloc(sizeof(*rq));
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(rq);
    rs = aalloc(sizeof(*rs));
    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    rq->n_resource_spans = 1;
    rq->resource_spans = aalloc(sizeof(rspans_t *));
    rq->resource_spans[0] = rs;

    rs->resource = make_resource(svc);
    rs->schema_url = astrdup("https://opentelemetry.io/schemas/1.24.0");
    rs->scope_spans = aalloc(2 * sizeof(sspans_t *));

    for (sc = 0; sc < 2; sc++) {
        ss = aalloc(sizeof(*ss));
        opentelemetry__proto__trace__v1__scope_spans__init(ss);
        ss->scope = make_scope(sc);
        ss->spans = aalloc((size_t) n * sizeof(span_t *));
        for (i = 0; i < n; i++) {
            if (gs[i].scope == sc) {
                ss->spans[ss->n_spans++] = gs[i].span;
            }
        }
        if (ss->n_spans > 0) {
            rs->scope_spans[rs->n_scope_spans++] = ss;
        }
    }

    return rq;
}


/* --- output buffers ------------------------------------------------------- */

typedef struct {
    uint8_t  *p;
    size_t    n, cap;
} buf_t;

static void
buf_reserve(buf_t *b, size_t more)
{
    if (b->n + more <= b->cap) {
        return;
    }
    while (b->n + more > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 65536;
    }
    b->p = realloc(b->p, b->cap);
    if (b->p == NULL) {
        fprintf(stderr, "gen: out of memory\n");
        exit(1);
    }
}

static void
buf_add(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void
buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    char     tmp[256];
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    buf_add(b, tmp, (size_t) n);
}


/* --- protobuf: trace id offsets ------------------------------------------ */

static uint64_t
varint(const uint8_t **pp, const uint8_t *end)
{
    uint64_t  v;
    int       shift;

    v = 0;
    for (shift = 0; *pp < end && shift < 64; shift += 7) {
        v |= (uint64_t) (**pp & 0x7f) << shift;
        if ((*(*pp)++ & 0x80) == 0) {
            break;
        }
    }
    return v;
}

/*
 * Calls fn for every length-delimited field number want of the message
 * [p, end), with the field's payload; other fields are skipped.
 */
static void
walk_len_fields(const uint8_t *p, const uint8_t *end, uint32_t want,
    void (*fn)(const uint8_t *, const uint8_t *, void *), void *ctx)
{
    uint64_t  key, n;

    while (p < end) {
        key = varint(&p, end);
        switch (key & 7) {
        case 0:
            (void) varint(&p, end);
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            n = varint(&p, end);
            if ((key >> 3) == want) {
                fn(p, p + n, ctx);
            }
            p += n;
            break;
        default:
            fprintf(stderr, "gen: bad wire type in own output\n");
            exit(1);
        }
    }
}

typedef struct {
    const uint8_t  *body;
    buf_t          *out;
} idctx_t;

static void
on_trace_id(const uint8_t *p, const uint8_t *end, void *ctx)
{
    idctx_t  *c = ctx;

    buf_printf(c->out, "%s%zu", c->out->n ? "," : "",
               (size_t) (p - c->body));
}

static void
on_span(const uint8_t *p, const uint8_t *end, void *ctx)
{
    walk_len_fields(p, end, 1, on_trace_id, ctx);
}

static void
on_scope_spans(const uint8_t *p, const uint8_t *end, void *ctx)
{
    walk_len_fields(p, end, 2, on_span, ctx);
}

static void
on_resource_spans(const uint8_t *p, const uint8_t *end, void *ctx)
{
    walk_len_fields(p, end, 2, on_scope_spans, ctx);
}


/* --- OTLP/JSON ------------------------------------------------------------ */

/*
 * OTLP/JSON as the specification defines it: lowerCamelCase names, ids as
 * hex strings, enums as integers, 64-bit integers as decimal strings.
 */

static void
json_string(buf_t *b, const char *s)
{
    buf_reserve(b, 2 * strlen(s) + 2);
    b->p[b->n++] = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            b->p[b->n++] = '\\';
        }
        b->p[b->n++] = (uint8_t) *s;
    }
    b->p[b->n++] = '"';
}

static void
json_hex(buf_t *b, const uint8_t *p, size_t n)
{
    size_t  i;

    buf_reserve(b, 2 * n + 2);
    b->p[b->n++] = '"';
    for (i = 0; i < n; i++) {
        b->p[b->n++] = (uint8_t) "0123456789abcdef"[p[i] >> 4];
        b->p[b->n++] = (uint8_t) "0123456789abcdef"[p[i] & 15];
    }
    b->p[b->n++] = '"';
}

static void json_attrs(buf_t *b, kv_t **kv, size_t n);

static void
json_value(buf_t *b, const anyval_t *v)
{
    size_t  i;

    switch (v->value_case) {
    case VCASE(STRING_VALUE):
        buf_str(b, "{\"stringValue\":");
        json_string(b, v->string_value);
        buf_str(b, "}");
        break;
    case VCASE(BOOL_VALUE):
        buf_str(b, v->bool_value ? "{\"boolValue\":true}"
                                 : "{\"boolValue\":false}");
        break;
    case VCASE(INT_VALUE):
        buf_printf(b, "{\"intValue\":\"%" PRId64 "\"}", v->int_value);
        break;
    case VCASE(DOUBLE_VALUE):
        buf_printf(b, "{\"doubleValue\":%.17g}", v->double_value);
        break;
    case VCASE(ARRAY_VALUE):
        buf_str(b, "{\"arrayValue\":{\"values\":[");
        for (i = 0; i < v->array_value->n_values; i++) {
            if (i) {
                buf_str(b, ",");
            }
            json_value(b, v->array_value->values[i]);
        }
        buf_str(b, "]}}");
        break;
    case VCASE(KVLIST_VALUE):
        buf_str(b, "{\"kvlistValue\":{\"values\":");
        json_attrs(b, v->kvlist_value->values, v->kvlist_value->n_values);
        buf_str(b, "}}");
        break;
    default:
        buf_str(b, "{}");
        break;
    }
}

static void
json_attrs(buf_t *b, kv_t **kv, size_t n)
{
    size_t  i;

    buf_str(b, "[");
    for (i = 0; i < n; i++) {
        if (i) {
            buf_str(b, ",");
        }
        buf_str(b, "{\"key\":");
        json_string(b, kv[i]->key);
        buf_str(b, ",\"value\":");
        json_value(b, kv[i]->value);
        buf_str(b, "}");
    }
    buf_str(b, "]");
}

/*
 * Appends the request as OTLP/JSON to b, and to ids the offset of each span's
 * trace id digits from base (where the body starts in b).
 */
static void
json_request(buf_t *b, const req_t *rq, buf_t *ids, size_t base)
{
    size_t           r, s, i, e;
    const rspans_t  *rs;
    const sspans_t  *ss;
    const span_t    *sp;

    buf_str(b, "{\"resourceSpans\":[");
    for (r = 0; r < rq->n_resource_spans; r++) {
        rs = rq->resource_spans[r];
        buf_str(b, r ? ",{\"resource\":{\"attributes\":"
                     : "{\"resource\":{\"attributes\":");
        json_attrs(b, rs->resource->attributes, rs->resource->n_attributes);
        buf_str(b, "},\"scopeSpans\":[");

        for (s = 0; s < rs->n_scope_spans; s++) {
            ss = rs->scope_spans[s];
            buf_str(b, s ? ",{\"scope\":{\"name\":" : "{\"scope\":{\"name\":");
            json_string(b, ss->scope->name);
            buf_str(b, ",\"version\":");
            json_string(b, ss->scope->version);
            buf_str(b, "},\"spans\":[");

            for (i = 0; i < ss->n_spans; i++) {
                sp = ss->spans[i];
                buf_str(b, i ? ",{\"traceId\":" : "{\"traceId\":");
                buf_printf(ids, "%s%zu", ids->n ? "," : "", b->n + 1 - base);
                json_hex(b, sp->trace_id.data, 16);
                buf_str(b, ",\"spanId\":");
                json_hex(b, sp->span_id.data, 8);
                if (sp->parent_span_id.len) {
                    buf_str(b, ",\"parentSpanId\":");
                    json_hex(b, sp->parent_span_id.data, 8);
                }
                buf_printf(b, ",\"flags\":%u,\"name\":", sp->flags);
                json_string(b, sp->name);
                buf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%" PRIu64
                           "\",\"endTimeUnixNano\":\"%" PRIu64
                           "\",\"attributes\":", (int) sp->kind,
                           sp->start_time_unix_nano, sp->end_time_unix_nano);
                json_attrs(b, sp->attributes, sp->n_attributes);
                if (sp->n_events) {
                    buf_str(b, ",\"events\":[");
                    for (e = 0; e < sp->n_events; e++) {
                        buf_printf(b, "%s{\"timeUnixNano\":\"%" PRIu64
                                   "\",\"name\":", e ? "," : "",
                                   sp->events[e]->time_unix_nano);
                        json_string(b, sp->events[e]->name);
                        buf_str(b, ",\"attributes\":");
                        json_attrs(b, sp->events[e]->attributes,
                                   sp->events[e]->n_attributes);
                        buf_str(b, "}");
                    }
                    buf_str(b, "]");
                }
                buf_printf(b, ",\"status\":{\"code\":%d",
                           (int) sp->status->code);
                if (sp->status->message[0]) {
                    buf_str(b, ",\"message\":");
                    json_string(b, sp->status->message);
                }
                buf_str(b, "}}");
            }
            buf_str(b, "],\"schemaUrl\":\"\"}");
        }
        buf_str(b, "],\"schemaUrl\":");
        json_string(b, rs->schema_url);
        buf_str(b, "}");
    }
    buf_str(b, "]}");
}


/* --- gzip ----------------------------------------------------------------- */

/* Appends the gzip (RFC 1952) compression of [p, p+n) to b. */
static void
gzip_append(buf_t *b, const uint8_t *p, size_t n)
{
    z_stream  z;
    int       rc;

    memset(&z, 0, sizeof(z));
    /* 15 + 16: a gzip wrapper, as Content-Encoding: gzip requires */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        fprintf(stderr, "gen: deflateInit2 failed\n");
        exit(1);
    }
    buf_reserve(b, deflateBound(&z, n));
    z.next_in = (Bytef *) p;
    z.avail_in = (uInt) n;
    z.next_out = b->p + b->n;
    z.avail_out = (uInt) (b->cap - b->n);
    rc = deflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END) {
        fprintf(stderr, "gen: deflate failed (%d)\n", rc);
        exit(1);
    }
    b->n += z.total_out;
    deflateEnd(&z);
}


/* --- one workload --------------------------------------------------------- */

/*
 * Generates the spans of the bodies of group g into gs[0..G*spans): for a
 * plain workload G = 1 and the body holds whole traces; for a split one the
 * G bodies share spans/per_trace*G... traces, each trace giving per_trace/G
 * spans to every body, its root to the last.
 */
static int
make_group_spans(const workload_t *w, gspan_t *gs, int *counts)
{
    int        b, t, k, i, ntraces, per_body, idx, left;
    gtrace_t  *tr;

    if (w->split == 1) {
        ntraces = (w->spans + w->per_trace - 1) / w->per_trace;
        left = w->spans;
        idx = 0;
        for (t = 0; t < ntraces; t++) {
            tr = aalloc(sizeof(*tr));
            rnd_id(tr->trace_id, 16);
            for (i = 0; i < w->per_trace && left > 0; i++, left--) {
                gs[idx++] = make_span(tr, i, w->attrs);
            }
        }
        counts[0] = idx;
        return 1;
    }

    /* split: body b gets spans order[b*k .. b*k+k) of every trace, where
     * order puts the root last */
    per_body = w->per_trace / w->split;
    ntraces = w->spans / per_body;
    for (b = 0; b < w->split; b++) {
        counts[b] = 0;
    }
    for (t = 0; t < ntraces; t++) {
        gspan_t  made[16];

        tr = aalloc(sizeof(*tr));
        rnd_id(tr->trace_id, 16);
        for (i = 0; i < w->per_trace; i++) {
            made[i] = make_span(tr, i, w->attrs);
        }
        for (b = 0; b < w->split; b++) {
            for (k = 0; k < per_body; k++) {
                i = (b * per_body + k + 1) % w->per_trace;
                gs[b * w->spans + counts[b]++] = made[i];
            }
        }
    }
    return w->split;
}

static int
write_file(const char *path, const void *p, size_t n)
{
    FILE  *f;
    char   tmp[4096];

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (f == NULL) {
        fprintf(stderr, "gen: fopen(\"%s\"): %s\n", tmp, strerror(errno));
        return -1;
    }
    if (fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen: write \"%s\": %s\n", tmp, strerror(errno));
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "gen: rename to \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Writes nbodies bodies of workload w into dir/<w->name>/.  Returns 0, or -1
 * after printing why.
 */
static int
gen_workload(const workload_t *w, int nbodies, const char *dir)
{
    static gspan_t  gs[MAX_SPANS_PER_BODY * 8];

    int        counts[8], ngroup, b, body, svc;
    size_t     start, packed, nspans;
    char       path[4096];
    buf_t      bodies = { 0 }, manifest = { 0 }, pb = { 0 }, ids = { 0 };
    req_t     *rq;
    idctx_t    ic;

    snprintf(path, sizeof(path), "%s/%s", dir, w->name);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen: mkdir(\"%s\"): %s\n", path, strerror(errno));
        return -1;
    }

    /* whole groups only, so that every split trace is complete */
    nbodies = (nbodies + w->split - 1) / w->split * w->split;
    nspans = 0;

    for (body = 0; body < nbodies; body += ngroup) {
        arena_used = 0;
        ngroup = make_group_spans(w, gs, counts);

        for (b = 0; b < ngroup; b++) {
            /* a split trace crosses services, as a real one does */
            svc = (int) rnd_below(NSERVICES);
            rq = make_request(gs + b * w->spans, counts[b], svc);

            start = bodies.n;
            ids.n = 0;

            packed = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(rq);
            pb.n = 0;
            buf_reserve(&pb, packed);
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(rq, pb.p);
            pb.n = packed;

            switch (w->enc) {
            case ENC_PROTO:
                buf_add(&bodies, pb.p, pb.n);
                ic.body = pb.p;
                ic.out = &ids;
                walk_len_fields(pb.p, pb.p + pb.n, 1, on_resource_spans,
                                &ic);
                break;
            case ENC_JSON:
                json_request(&bodies, rq, &ids, start);
                break;
            default:
                gzip_append(&bodies, pb.p, pb.n);
                buf_str(&ids, "-");
                break;
            }

            if (ids.n == 0) {
                buf_str(&ids, "-");
            }
            buf_printf(&manifest, "body %zu %d ", bodies.n - start, counts[b]);
            buf_add(&manifest, ids.p, ids.n);
            buf_str(&manifest, "\n");
            nspans += (size_t) counts[b];
        }
    }

    {
        buf_t  head = { 0 };

        buf_printf(&head, "workload %s\ncontent_type %s\ncontent_encoding %s\n"
                   "group %d\nbodies %d\nspans %zu\nbytes %zu\n",
                   w->name,
                   w->enc == ENC_JSON ? "application/json"
                                      : "application/x-protobuf",
                   w->enc == ENC_GZIP ? "gzip" : "identity",
                   w->split, nbodies, nspans, bodies.n);
        buf_add(&head, manifest.p, manifest.n);
        free(manifest.p);
        manifest = head;
    }

    snprintf(path, sizeof(path), "%s/%s/bodies.bin", dir, w->name);
    if (write_file(path, bodies.p, bodies.n) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s/manifest", dir, w->name);
    if (write_file(path, manifest.p, manifest.n) != 0) {
        return -1;
    }

    printf("gen: %-9s %6d bodies, %8zu spans, %6.1f KB per body\n",
           w->name, nbodies, nspans,
           (double) bodies.n / nbodies / 1000.0);

    free(bodies.p);
    free(manifest.p);
    free(pb.p);
    free(ids.p);
    return 0;
}


/* Reads one byte of every page of path.  Returns 0, or -1 after saying why. */
static int
touch_file(const char *path)
{
    int                     fd;
    size_t                  off;
    struct stat             st;
    const volatile uint8_t *p;
    uint8_t                 sum;

    fd = open(path, O_RDONLY);
    if (fd == -1 || fstat(fd, &st) == -1) {
        fprintf(stderr, "gen: open(\"%s\"): %s\n", path, strerror(errno));
        return -1;
    }
    p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "gen: mmap(\"%s\"): %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    sum = 0;
    for (off = 0; off < (size_t) st.st_size; off += 4096) {
        sum += p[off];
    }
    munmap((void *) p, (size_t) st.st_size);
    close(fd);
    (void) sum;
    return 0;
}

static void
usage(void)
{
    fprintf(stderr,
        "usage: gen [-k BODIES] [-s SEED] [-w NAME,NAME...] OUTDIR\n"
        "       gen -T FILE   fault in every page of FILE (a new ring)\n"
        "  writes OUTDIR/<workload>/{bodies.bin,manifest} for each workload\n"
        "  -k BODIES  bodies per workload (default: per workload, "
        "~20-50 MB each)\n"
        "  -s SEED    random seed (default: from the clock and pid)\n"
        "  -w LIST    workloads, comma-separated (default: all):\n"
        "             w1 w2 w3 w4 w5 w3-json w3-gzip w3-split\n");
}

int
main(int argc, char **argv)
{
    int          opt, k;
    size_t       i;
    uint64_t     seed;
    const char  *list;
    char        *dir;
    struct timespec  ts;

    k = 0;
    list = NULL;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 20)
           ^ ((uint64_t) getpid() << 40);

    while ((opt = getopt(argc, argv, "k:s:w:T:h")) != -1) {
        switch (opt) {
        case 'T':
            return touch_file(optarg) == 0 ? 0 : 1;
        case 'k':
            k = atoi(optarg);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 0);
            break;
        case 'w':
            list = optarg;
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc - 1 || k < 0) {
        usage();
        return 2;
    }
    dir = argv[optind];

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen: mkdir(\"%s\"): %s\n", dir, strerror(errno));
        return 1;
    }

    rnd_seed(seed);
    arena = malloc(ARENA_BYTES);
    if (arena == NULL) {
        fprintf(stderr, "gen: out of memory\n");
        return 1;
    }
    /* spans start within the last minute, as a live export's would */
    base_ns = (uint64_t) ts.tv_sec * 1000000000ull - 60000000000ull;

    for (i = 0; i < NWORKLOADS; i++) {
        if (list != NULL) {
            const char  *p;
            size_t       n;
            int          found = 0;

            n = strlen(workloads[i].name);
            for (p = list; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1
                                                          : NULL)
            {
                if (strncasecmp(p, workloads[i].name, n) == 0
                    && (p[n] == ',' || p[n] == '\0'))
                {
                    found = 1;
                    break;
                }
            }
            if (!found) {
                continue;
            }
        }
        if (gen_workload(&workloads[i], k ? k : workloads[i].default_bodies,
                         dir) != 0)
        {
            return 1;
        }
    }

    return 0;
}
