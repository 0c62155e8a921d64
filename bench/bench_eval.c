/*
 * bench_eval.c - DSL evaluation throughput: evaluated spans per second on
 * one core, with rule sets of 10, 100 and 1,000 rules, on W3-shaped traces
 * (10 spans per trace, 10 attributes per span).
 *
 * What is timed is what the engine does when a trace completes: build the
 * trace view over the span records (bt_trace_add + bt_trace_link) and run
 * the whole rule set on it (bt_ruleset_eval).  Decoding and assembly are
 * measured by the ingest benchmarks, not here.  A second figure times
 * bt_ruleset_eval alone on prebuilt views.
 *
 * Traces and rules come from fixed pools with a fixed seed, so runs are
 * comparable: span names and attribute values are drawn from the kind of
 * vocabulary real services emit, and the rules are the four of DSL.md with
 * varied constants plus where/has/missing/within/count/sequence/regex
 * mixes.  Rules refer to names the traces contain and to names they don't
 * (as a real rule set does: most rules don't match most traffic).
 *
 * usage: bench_eval [--seconds S] [--runs N] [--json FILE] [--traces N]
 * Pin it to one CPU from the outside (bench/eval.sh uses taskset).  Time is
 * the thread's CPU time, so the figure is per core even on a busy machine.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsl/bt_dsl.h"
#include "dsl/bt_trace.h"
#include "t/lib/span_build.h"


#define SPANS_PER_TRACE     10
#define ATTRS_PER_SPAN      10

typedef struct {
    uint32_t    nrules;
    uint32_t    npredicates;
    double      spans_per_s;        /* view build + eval, median */
    double      spans_per_s_min;
    double      spans_per_s_max;
    double      eval_spans_per_s;   /* eval only, median */
    double      firings_per_trace;
} figure_t;


static uint64_t  rng_state = 0x9e3779b97f4a7c15ull;

static const char *const  services[] = {
    "frontend", "auth", "cart", "inventory", "payment", "notification",
    "catalog", "shipping", "users", "orders", "audit"
};

/* Names the traces contain (the templates below). */
static const char *const  span_names[] = {
    "POST /api/v1/login", "POST /api/v1/checkout", "GET /api/v2/products",
    "GET /api/v1/users/{id}", "GET /api/v1/cart", "auth.login",
    "db.query.users", "cache.get", "token.mint", "cache.set", "audit.log",
    "template.render", "cart.get", "inventory.reserve", "payment.process",
    "payment.authorize", "db.query", "fraud.check", "payment.capture",
    "email.send", "grpc.Catalog/List", "inventory.check", "shipping.quote",
    "user.read", "orders.list", "db.query.orders", "kafka.produce",
    "http.client", "coupon.apply", "tax.compute", "kafka.consume"
};

/* Names only rules mention: most rules don't match most spans. */
static const char *const  rule_only_names[] = {
    "ledger.write", "refund.issue", "sms.send", "report.build",
    "batch.export", "search.index", "pdf.render", "geo.lookup",
    "session.sweep", "consent.check", "payment.refund", "auth.mfa"
};

static const char *const  routes[] = {
    "/api/v1/cart", "/api/v1/checkout", "/api/v2/products/{id}",
    "/api/v1/users/{id}", "/health", "/api/v1/orders"
};

static const char *const  regions[] = { "eu-west-1", "us-east-1",
                                        "ap-south-1" };
static const char *const  db_systems[] = { "postgresql", "redis", "mysql" };

#define NELTS(a)  (sizeof(a) / sizeof((a)[0]))


static uint32_t
rnd(uint32_t n)
{
    /* xorshift64*: fast, seeded, the same sequence on every run */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t) (((rng_state * 0x2545f4914f6cdd1dull) >> 33) % n);
}


static double
cpu_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


/* --- traces ----------------------------------------------------------------- */

/*
 * Traces follow request-flow templates, as real traffic does: a server span
 * and nine spans below it, with services and names that belong together.
 * Anomalies (errors, slow calls, a missing audit log, retries) are injected
 * at low rates, so rules fire on a few percent of traces, not on most.
 */

typedef struct {
    const char  *name;
    const char  *service;
    int          parent;        /* index in the template, -1: root */
    int          kind;
} tpl_span_t;

#define TPL_SPANS  SPANS_PER_TRACE

static const tpl_span_t  templates[][TPL_SPANS] = {
    {   /* login */
        { "POST /api/v1/login", "frontend", -1, BT_KIND_SERVER },
        { "auth.login", "auth", 0, BT_KIND_INTERNAL },
        { "db.query.users", "auth", 1, BT_KIND_CLIENT },
        { "cache.get", "auth", 1, BT_KIND_CLIENT },
        { "auth.login", "auth", 0, BT_KIND_INTERNAL },
        { "db.query.users", "auth", 4, BT_KIND_CLIENT },
        { "token.mint", "auth", 4, BT_KIND_INTERNAL },
        { "cache.set", "auth", 4, BT_KIND_CLIENT },
        { "audit.log", "audit", 0, BT_KIND_PRODUCER },
        { "template.render", "frontend", 0, BT_KIND_INTERNAL },
    },
    {   /* checkout */
        { "POST /api/v1/checkout", "frontend", -1, BT_KIND_SERVER },
        { "cart.get", "cart", 0, BT_KIND_CLIENT },
        { "inventory.reserve", "inventory", 0, BT_KIND_CLIENT },
        { "payment.process", "payment", 0, BT_KIND_INTERNAL },
        { "payment.authorize", "payment", 3, BT_KIND_CLIENT },
        { "db.query", "payment", 3, BT_KIND_CLIENT },
        { "fraud.check", "payment", 3, BT_KIND_CLIENT },
        { "payment.capture", "payment", 3, BT_KIND_CLIENT },
        { "audit.log", "audit", 0, BT_KIND_PRODUCER },
        { "email.send", "notification", 0, BT_KIND_PRODUCER },
    },
    {   /* browse */
        { "GET /api/v2/products", "frontend", -1, BT_KIND_SERVER },
        { "cache.get", "catalog", 0, BT_KIND_CLIENT },
        { "grpc.Catalog/List", "catalog", 0, BT_KIND_CLIENT },
        { "db.query", "catalog", 2, BT_KIND_CLIENT },
        { "db.query", "catalog", 2, BT_KIND_CLIENT },
        { "cache.set", "catalog", 2, BT_KIND_CLIENT },
        { "inventory.check", "inventory", 0, BT_KIND_CLIENT },
        { "db.query", "inventory", 6, BT_KIND_CLIENT },
        { "shipping.quote", "shipping", 0, BT_KIND_CLIENT },
        { "template.render", "frontend", 0, BT_KIND_INTERNAL },
    },
    {   /* profile (reads PII) */
        { "GET /api/v1/users/{id}", "frontend", -1, BT_KIND_SERVER },
        { "user.read", "users", 0, BT_KIND_INTERNAL },
        { "db.query.users", "users", 1, BT_KIND_CLIENT },
        { "cache.get", "users", 1, BT_KIND_CLIENT },
        { "audit.log", "audit", 1, BT_KIND_PRODUCER },
        { "orders.list", "orders", 0, BT_KIND_CLIENT },
        { "db.query.orders", "orders", 5, BT_KIND_CLIENT },
        { "kafka.produce", "orders", 5, BT_KIND_PRODUCER },
        { "http.client", "frontend", 0, BT_KIND_CLIENT },
        { "template.render", "frontend", 0, BT_KIND_INTERNAL },
    },
    {   /* cart */
        { "GET /api/v1/cart", "frontend", -1, BT_KIND_SERVER },
        { "cart.get", "cart", 0, BT_KIND_INTERNAL },
        { "cache.get", "cart", 1, BT_KIND_CLIENT },
        { "db.query", "cart", 1, BT_KIND_CLIENT },
        { "grpc.Catalog/List", "catalog", 0, BT_KIND_CLIENT },
        { "cache.get", "catalog", 4, BT_KIND_CLIENT },
        { "coupon.apply", "cart", 0, BT_KIND_INTERNAL },
        { "tax.compute", "cart", 0, BT_KIND_INTERNAL },
        { "kafka.consume", "cart", 0, BT_KIND_CONSUMER },
        { "template.render", "frontend", 0, BT_KIND_INTERNAL },
    },
};

static const char *const  template_routes[] = {
    "/api/v1/login", "/api/v1/checkout", "/api/v2/products",
    "/api/v1/users/{id}", "/api/v1/cart"
};

typedef struct {
    sb_batch_t   batch;
    bt_trace_t   view;
} bench_trace_t;

/* span_build copies ids, keys and values into the records, so scratch
 * arrays reused for every span are enough. */
static char  ids[SPANS_PER_TRACE][20];
static char  users[64][16];


static void
make_trace(bench_trace_t *bt, uint32_t k)
{
    const tpl_span_t  *tpl;
    sb_attr_t          attrs[ATTRS_PER_SPAN + 1];
    sb_span_t          s;
    char               trace[40];
    uint32_t           i, t;
    double             start;
    int                slow, err, no_audit;

    sb_init(&bt->batch);
    bt_trace_init(&bt->view);

    t = rnd(NELTS(templates));
    tpl = templates[t];

    snprintf(trace, sizeof(trace), "%08x%08x", k + 1, k * 2654435761u);
    start = (double) k * 50.0;

    /* anomalies: which span (if any) is slow, fails, and whether the
     * audit log went missing */
    slow = rnd(30) == 0 ? (int) (1 + rnd(TPL_SPANS - 1)) : -1;
    err = rnd(25) == 0 ? (int) (1 + rnd(TPL_SPANS - 1)) : -1;
    no_audit = rnd(40) == 0;

    for (i = 0; i < SPANS_PER_TRACE; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%x%04x", k + 1, i + 1);

        memset(&s, 0, sizeof(s));
        s.trace = trace;
        s.id = ids[i];
        s.parent = tpl[i].parent < 0 ? NULL : ids[tpl[i].parent];
        s.name = (no_audit && strcmp(tpl[i].name, "audit.log") == 0)
                 ? "audit.skip" : tpl[i].name;
        s.kind = tpl[i].kind;
        s.service = tpl[i].service;
        s.scope = "io.opentelemetry.bench";

        /* login: the first attempt fails now and then (a retry) */
        if ((int) i == err || (t == 0 && i == 1 && rnd(10) == 0)) {
            s.status = BT_STATUS_ERROR;
        } else {
            s.status = i == 0 ? BT_STATUS_OK : BT_STATUS_UNSET;
        }

        s.start_ms = start + i * 4.0 + rnd(40) / 10.0;
        s.dur_ms = (int) i == slow ? 1000.0 + rnd(3000)
                   : i == 0 ? 40.0 + rnd(60) : rnd(300) / 10.0;

        attrs[0] = (sb_attr_t) SB_STR("http.method", t == 1 || t == 0
                                                     ? "POST" : "GET");
        attrs[1] = (sb_attr_t) SB_STR("http.route", template_routes[t]);
        attrs[2] = (sb_attr_t) SB_INT("http.status_code",
                                      s.status == BT_STATUS_ERROR
                                      ? 500 + rnd(4) : 200);
        attrs[3] = (sb_attr_t) SB_STR("db.system",
                                      db_systems[rnd(NELTS(db_systems))]);
        attrs[4] = (sb_attr_t) SB_STR("cloud.region",
                                      regions[rnd(NELTS(regions))]);
        attrs[5] = (sb_attr_t) SB_STR("user.id", users[rnd(64)]);
        attrs[6] = (sb_attr_t) SB_BOOL("data.contains_pii",
                                       t == 3 && i == 1);
        attrs[7] = (sb_attr_t) SB_INT("retry.count", rnd(50) == 0);
        attrs[8] = (sb_attr_t) SB_DBL("payment.amount", rnd(100000) / 100.0);
        attrs[9] = (sb_attr_t) SB_STR("net.peer.name", "10.0.3.17");
        attrs[10] = (sb_attr_t) SB_END;
        s.attrs = attrs;

        sb_add(&bt->batch, &s);
    }

    if (sb_to_trace(&bt->batch, &bt->view) != 0) {
        fprintf(stderr, "bench_eval: a generated trace does not parse\n");
        exit(1);
    }
}


/* --- rules ------------------------------------------------------------------ */

static const char *
any_name(void)
{
    /* Two thirds of the constants exist in the traces. */
    if (rnd(3) < 2) {
        return span_names[rnd(NELTS(span_names))];
    }
    return rule_only_names[rnd(NELTS(rule_only_names))];
}


/* Writes the rule of shape `shape` with fresh constants into buf. */
static void
make_rule(char *buf, size_t size, uint32_t shape)
{
    const char  *a, *b;

    a = any_name();
    b = any_name();

    /* Shape 12 is not in the mix: a name test that never matches, the
     * evaluator's floor (--shape 12). */
    if (shape == 12) {
        snprintf(buf, size, "trace.has('%s')",
                 rule_only_names[rnd(NELTS(rule_only_names))]);
        return;
    }

    switch (shape % 12) {

    case 0:     /* DSL.md: auth retry storm */
        snprintf(buf, size,
            "trace.has(span => span.name === '%s' && span.status === 'ERROR')\n"
            "  .and(trace.has(span => span.name === '%s' && span.status === 'OK'))\n"
            "  .within('%u seconds')", a, a, 1 + rnd(10));
        break;

    case 1:     /* DSL.md: PII without audit */
        snprintf(buf, size,
            "trace.has(span => span.attributes['data.contains_pii'] === true"
            " && span.name === '%s')\n"
            "  .and(trace.missing(span => span.name === '%s'))", a,
            rnd(4) ? "audit.log" : b);
        break;

    case 2:     /* DSL.md: slow query in a payment flow */
        snprintf(buf, size,
            "trace.where(span => span.name.startsWith('%.*s'))\n"
            "  .has(span => span.name.includes('%s') && span.duration > %u)",
            (int) (3 + rnd(4)), a, b, 1000 + rnd(2000));
        break;

    case 3:     /* DSL.md rule 4, with a status that can occur */
        snprintf(buf, size,
            "trace.where(span => span.name.startsWith(\"%.*s\"))"
            ".has(span => span.status === \"ERROR\" && span.service === '%s')",
            (int) (3 + rnd(4)), a, services[rnd(NELTS(services))]);
        break;

    case 4:
        snprintf(buf, size,
            "trace.count(s => s.name === '%s') > %u", a, 3 + rnd(5));
        break;

    case 5:
        snprintf(buf, size,
            "trace.sequence(s => s.name === '%s' && s.status === 'ERROR',"
            " s => s.name === '%s').within('%ums')", a, b, 10 + rnd(500));
        break;

    case 6:
        snprintf(buf, size,
            "trace.has(s => /^(GET|POST) \\/api\\/v%u\\//.test(s.name)"
            " && s.attributes['http.status_code'] >= 500)", 1 + rnd(2));
        break;

    case 7:
        snprintf(buf, size,
            "trace.has(s => s.kind === 'SERVER'"
            " && s.attributes['http.route'] === '%s'"
            " && s.status === 'ERROR')", routes[rnd(NELTS(routes))]);
        break;

    case 8:
        snprintf(buf, size,
            "trace.has(s => s.name === '%s' && s.kind === 'SERVER')"
            ".and(trace.missing(s => s.service === '%s'))",
            a, services[rnd(NELTS(services))]);
        break;

    case 9:
        snprintf(buf, size,
            "trace.rootName === '%s' && trace.duration > %u", a,
            100 + rnd(3000));
        break;

    case 10:
        snprintf(buf, size,
            "trace.where(s => s.service === '%s')"
            ".has(s => s.attributes['retry.count'] >= %u"
            " && s.attributes['cloud.region'] === '%s')",
            services[rnd(NELTS(services))], 1 + rnd(3),
            regions[rnd(NELTS(regions))]);
        break;

    default:
        snprintf(buf, size,
            "trace.has(s => s.name === '%s'"
            " && s.children.some(c => c.status === 'ERROR'))", a);
        break;
    }
}


/* -1: the mix of all shapes, else only that shape (to find slow ones). */
static int  only_shape = -1;


static bt_ruleset_t *
make_ruleset(uint32_t n)
{
    bt_ruleset_t  *set;
    bt_rule_t     *rule;
    bt_diags_t     diags;
    char           src[1024];
    uint32_t       i;
    size_t         k;

    set = bt_ruleset_new();
    if (set == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        make_rule(src, sizeof(src), only_shape < 0 ? i : (uint32_t) only_shape);

        bt_diags_init(&diags);
        rule = bt_rule_compile(src, strlen(src), &diags);
        if (rule == NULL) {
            fprintf(stderr, "bench_eval: generated rule %u does not "
                    "compile:\n%s\n", i, src);
            for (k = 0; k < diags.n; k++) {
                bt_diag_print(stderr, &diags.items[k], "rule");
            }
            exit(1);
        }
        bt_diags_free(&diags);

        if (bt_ruleset_add(set, rule, NULL) < 0) {
            return NULL;
        }
        bt_rule_free(rule);
    }

    if (bt_ruleset_build(set) != 0) {
        return NULL;
    }

    return set;
}


/* --- measuring -------------------------------------------------------------- */

static uint64_t  firings;

static int
on_fire(void *arg, uint32_t index, void *user, const bt_witness_t *w)
{
    firings++;
    return 0;
}


/*
 * One timed pass over all traces.  full: rebuild each view first (what the
 * engine does), else evaluate the prebuilt views.  Returns spans/s.
 */
static double
run_once(bench_trace_t *traces, uint32_t ntraces, const bt_ruleset_t *set,
    bt_eval_ctx_t *ctx, bt_trace_t *view, int full, double min_seconds)
{
    const bt_trace_t  *t;
    double             t0, dt;
    uint64_t           spans;
    uint32_t           k, i;

    spans = 0;
    t0 = cpu_now();

    do {
        for (k = 0; k < ntraces; k++) {
            if (full) {
                bt_trace_reset(view);
                for (i = 0; i < traces[k].view.n; i++) {
                    if (bt_trace_add(view, &traces[k].view.spans[i].s) != 0) {
                        exit(1);
                    }
                }
                if (bt_trace_link(view) != 0) {
                    exit(1);
                }
                t = view;

            } else {
                t = &traces[k].view;
            }

            if (bt_ruleset_eval(set, t, ctx, on_fire, NULL) < 0) {
                fprintf(stderr, "bench_eval: out of memory\n");
                exit(1);
            }
            spans += t->n;
        }
        dt = cpu_now() - t0;
    } while (dt < min_seconds);

    return (double) spans / dt;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


int
main(int argc, char **argv)
{
    static const uint32_t  sizes[] = { 10, 100, 1000 };
    bench_trace_t  *traces;
    bt_ruleset_t   *set;
    bt_eval_ctx_t  *ctx;
    bt_trace_t      view;
    figure_t        fig[3];
    const char     *json_path;
    double          seconds, r[32], e[32];
    uint32_t        ntraces, runs, s, k, only, nfig;
    FILE           *f;
    int             a;

    only = 0;
    nfig = 0;
    seconds = 0.3;
    runs = 5;
    ntraces = 10000;
    json_path = "build/bench/eval.json";

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc) {
            seconds = atof(argv[++a]);
        } else if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc) {
            runs = (uint32_t) atoi(argv[++a]);
        } else if (strcmp(argv[a], "--traces") == 0 && a + 1 < argc) {
            ntraces = (uint32_t) atoi(argv[++a]);
        } else if (strcmp(argv[a], "--rules") == 0 && a + 1 < argc) {
            only = (uint32_t) atoi(argv[++a]);
        } else if (strcmp(argv[a], "--shape") == 0 && a + 1 < argc) {
            only_shape = atoi(argv[++a]);
        } else if (strcmp(argv[a], "--json") == 0 && a + 1 < argc) {
            json_path = argv[++a];
        } else {
            fprintf(stderr, "usage: bench_eval [--seconds S] [--runs N] "
                    "[--traces N] [--rules 10|100|1000] [--shape 0..12] "
                    "[--json FILE]\n");
            return 2;
        }
    }

    if (runs < 1 || runs > 32 || ntraces < 1) {
        fprintf(stderr, "bench_eval: --runs 1..32, --traces >= 1\n");
        return 2;
    }

    for (k = 0; k < 64; k++) {
        snprintf(users[k], sizeof(users[k]), "u-%05u", k * 7919 % 100000);
    }

    traces = calloc(ntraces, sizeof(bench_trace_t));
    ctx = bt_eval_ctx_new();
    if (traces == NULL || ctx == NULL) {
        fprintf(stderr, "bench_eval: out of memory\n");
        return 1;
    }

    for (k = 0; k < ntraces; k++) {
        make_trace(&traces[k], k);
    }

    bt_trace_init(&view);

    for (s = 0; s < NELTS(sizes); s++) {
        if (only && sizes[s] != only) {
            continue;
        }

        rng_state = 0x2545f4914f6cdd1dull + sizes[s];
        set = make_ruleset(sizes[s]);
        if (set == NULL) {
            fprintf(stderr, "bench_eval: out of memory\n");
            return 1;
        }

        /* Warm up: grows the context's scratch to its steady size. */
        firings = 0;
        run_once(traces, ntraces, set, ctx, &view, 1, 0.0);
        fig[nfig].firings_per_trace = (double) firings / ntraces;

        for (k = 0; k < runs; k++) {
            r[k] = run_once(traces, ntraces, set, ctx, &view, 1, seconds);
            e[k] = run_once(traces, ntraces, set, ctx, &view, 0, seconds);
        }

        qsort(r, runs, sizeof(double), cmp_double);
        qsort(e, runs, sizeof(double), cmp_double);

        fig[nfig].nrules = sizes[s];
        fig[nfig].npredicates = bt_ruleset_npredicates(set);
        fig[nfig].spans_per_s = r[runs / 2];
        fig[nfig].spans_per_s_min = r[0];
        fig[nfig].spans_per_s_max = r[runs - 1];
        fig[nfig].eval_spans_per_s = e[runs / 2];

        printf("eval rules=%-5u spans/s/core=%.0f (min %.0f max %.0f, "
               "median of %u)  eval-only=%.0f  predicates=%u "
               "firings/trace=%.2f\n",
               fig[nfig].nrules, fig[nfig].spans_per_s, fig[nfig].spans_per_s_min,
               fig[nfig].spans_per_s_max, runs, fig[nfig].eval_spans_per_s,
               fig[nfig].npredicates, fig[nfig].firings_per_trace);
        fflush(stdout);

        bt_ruleset_free(set);
        nfig++;
    }

    f = fopen(json_path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_eval: open(\"%s\"): %s\n", json_path,
                strerror(errno));
        return 1;
    }

    fprintf(f, "{\"benchmark\": \"eval\", \"spans_per_trace\": %d, "
            "\"attrs_per_span\": %d, \"traces\": %u, \"runs\": %u, "
            "\"figures\": [", SPANS_PER_TRACE, ATTRS_PER_SPAN, ntraces, runs);

    for (s = 0; s < nfig; s++) {
        fprintf(f, "%s\n  {\"rules\": %u, \"predicates\": %u, "
                "\"spans_per_s\": %.0f, \"spans_per_s_min\": %.0f, "
                "\"spans_per_s_max\": %.0f, \"eval_only_spans_per_s\": %.0f, "
                "\"firings_per_trace\": %.3f}",
                s ? "," : "", fig[s].nrules, fig[s].npredicates,
                fig[s].spans_per_s, fig[s].spans_per_s_min,
                fig[s].spans_per_s_max, fig[s].eval_spans_per_s,
                fig[s].firings_per_trace);
    }

    fprintf(f, "\n]}\n");
    fclose(f);

    for (k = 0; k < ntraces; k++) {
        bt_trace_free(&traces[k].view);
        sb_free(&traces[k].batch);
    }

    free(traces);
    bt_trace_free(&view);
    bt_eval_ctx_free(ctx);
    return 0;
}
