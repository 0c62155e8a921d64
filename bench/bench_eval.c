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
    "frontend", "checkout", "payment", "auth", "cart", "catalog",
    "inventory", "shipping", "notification", "audit"
};

/* What traces contain. */
static const char *const  span_names[] = {
    "GET /api/v1/cart", "POST /api/v1/checkout", "GET /api/v2/products",
    "auth.login", "auth.refresh", "payment.process", "payment.authorize",
    "payment.capture", "db.query", "db.query.orders", "db.query.users",
    "cache.get", "cache.set", "kafka.produce", "kafka.consume",
    "audit.log", "user.read", "inventory.reserve", "shipping.quote",
    "fraud.check", "email.send", "grpc.Catalog/List", "http.client",
    "template.render"
};

/* Names only rules mention: most rules don't match most spans. */
static const char *const  rule_only_names[] = {
    "ledger.write", "refund.issue", "sms.send", "report.build",
    "batch.export", "search.index", "pdf.render", "geo.lookup",
    "token.mint", "session.sweep", "coupon.apply", "tax.compute"
};

static const char *const  routes[] = {
    "/api/v1/cart", "/api/v1/checkout", "/api/v2/products/{id}",
    "/api/v1/users/{id}", "/health", "/api/v1/orders"
};

static const char *const  methods[] = { "GET", "POST", "PUT", "DELETE" };
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

typedef struct {
    sb_batch_t   batch;
    bt_trace_t   view;
} bench_trace_t;

/* Attribute keys and values live as long as the program: span_build copies
 * them into the records, so one scratch array per span is enough. */
static char  ids[SPANS_PER_TRACE][20];
static char  users[64][16];


static void
make_trace(bench_trace_t *bt, uint32_t k)
{
    sb_attr_t   attrs[ATTRS_PER_SPAN + 1];
    sb_span_t   s;
    char        trace[40];
    uint32_t    i, parent, name;
    double      start;

    sb_init(&bt->batch);
    bt_trace_init(&bt->view);

    snprintf(trace, sizeof(trace), "%08x%08x", k + 1, k * 2654435761u);
    start = (double) k * 50.0;

    for (i = 0; i < SPANS_PER_TRACE; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%x%04x", k + 1, i + 1);

        memset(&s, 0, sizeof(s));
        s.trace = trace;
        s.id = ids[i];

        if (i == 0) {
            s.name = span_names[rnd(3)];
            s.kind = BT_KIND_SERVER;
            s.parent = NULL;

        } else {
            parent = rnd(i);
            s.parent = ids[parent];
            name = rnd(NELTS(span_names));
            s.name = span_names[name];
            s.kind = rnd(3) == 0 ? BT_KIND_CLIENT : BT_KIND_INTERNAL;
        }

        s.status = rnd(20) == 0 ? BT_STATUS_ERROR
                   : (rnd(2) ? BT_STATUS_OK : BT_STATUS_UNSET);
        s.service = services[rnd(NELTS(services))];
        s.scope = "io.opentelemetry.bench";
        s.start_ms = start + i * 3.0 + rnd(100) / 10.0;
        s.dur_ms = rnd(10) == 0 ? 500.0 + rnd(2000) : rnd(300) / 7.0;

        attrs[0] = (sb_attr_t) SB_STR("http.method", methods[rnd(4)]);
        attrs[1] = (sb_attr_t) SB_STR("http.route", routes[rnd(NELTS(routes))]);
        attrs[2] = (sb_attr_t) SB_INT("http.status_code",
                                      rnd(10) == 0 ? 500 + rnd(4) : 200);
        attrs[3] = (sb_attr_t) SB_STR("db.system",
                                      db_systems[rnd(NELTS(db_systems))]);
        attrs[4] = (sb_attr_t) SB_STR("cloud.region",
                                      regions[rnd(NELTS(regions))]);
        attrs[5] = (sb_attr_t) SB_STR("user.id", users[rnd(64)]);
        attrs[6] = (sb_attr_t) SB_BOOL("data.contains_pii", rnd(8) == 0);
        attrs[7] = (sb_attr_t) SB_INT("retry.count", rnd(4));
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
            "  .and(trace.missing(span => span.name === '%s'))", a, b);
        break;

    case 2:     /* DSL.md: slow query in a payment flow */
        snprintf(buf, size,
            "trace.where(span => span.name.startsWith('%.*s'))\n"
            "  .has(span => span.name.includes('%s') && span.duration > %u)",
            (int) (3 + rnd(4)), a, b, 200 + rnd(2000));
        break;

    case 3:     /* DSL.md rule 4, with a status that can occur */
        snprintf(buf, size,
            "trace.where(span => span.name.startsWith(\"%.*s\"))"
            ".has(span => span.status === \"ERROR\" && span.service === '%s')",
            (int) (3 + rnd(4)), a, services[rnd(NELTS(services))]);
        break;

    case 4:
        snprintf(buf, size,
            "trace.count(s => s.name === '%s') > %u", a, 1 + rnd(4));
        break;

    case 5:
        snprintf(buf, size,
            "trace.sequence(s => s.name === '%s', s => s.name === '%s')"
            ".within('%ums')", a, b, 10 + rnd(500));
        break;

    case 6:
        snprintf(buf, size,
            "trace.has(s => /^GET \\/api\\/v%u\\//.test(s.name)"
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
            "trace.has('%s').and(trace.missing(s => s.service === '%s'))",
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
        make_rule(src, sizeof(src), i);

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
    uint32_t        ntraces, runs, s, k;
    FILE           *f;
    int             a;

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
        } else if (strcmp(argv[a], "--json") == 0 && a + 1 < argc) {
            json_path = argv[++a];
        } else {
            fprintf(stderr, "usage: bench_eval [--seconds S] [--runs N] "
                    "[--traces N] [--json FILE]\n");
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
        rng_state = 0x2545f4914f6cdd1dull + sizes[s];
        set = make_ruleset(sizes[s]);
        if (set == NULL) {
            fprintf(stderr, "bench_eval: out of memory\n");
            return 1;
        }

        /* Warm up: grows the context's scratch to its steady size. */
        firings = 0;
        run_once(traces, ntraces, set, ctx, &view, 1, 0.0);
        fig[s].firings_per_trace = (double) firings / ntraces;

        for (k = 0; k < runs; k++) {
            r[k] = run_once(traces, ntraces, set, ctx, &view, 1, seconds);
            e[k] = run_once(traces, ntraces, set, ctx, &view, 0, seconds);
        }

        qsort(r, runs, sizeof(double), cmp_double);
        qsort(e, runs, sizeof(double), cmp_double);

        fig[s].nrules = sizes[s];
        fig[s].npredicates = bt_ruleset_npredicates(set);
        fig[s].spans_per_s = r[runs / 2];
        fig[s].spans_per_s_min = r[0];
        fig[s].spans_per_s_max = r[runs - 1];
        fig[s].eval_spans_per_s = e[runs / 2];

        printf("eval rules=%-5u spans/s/core=%.0f (min %.0f max %.0f, "
               "median of %u)  eval-only=%.0f  predicates=%u "
               "firings/trace=%.2f\n",
               fig[s].nrules, fig[s].spans_per_s, fig[s].spans_per_s_min,
               fig[s].spans_per_s_max, runs, fig[s].eval_spans_per_s,
               fig[s].npredicates, fig[s].firings_per_trace);
        fflush(stdout);

        bt_ruleset_free(set);
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

    for (s = 0; s < NELTS(sizes); s++) {
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
