/*
 * test_dsl_props.c - properties over many random traces:
 *   trace.missing(P) == !trace.has(P), in and out of where-scopes;
 *   within / sequence / where agree with brute-force oracles;
 *   an indexed rule set fires exactly the rules (with the same witnesses)
 *   that evaluating each rule alone fires;
 * and a 100,000-span trace evaluates within a time bound.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsl/bt_dsl.h"
#include "t/lib/span_build.h"

static const char  *names[] = {
    "auth.login", "audit.log", "db.query", "db.connect", "payment.charge",
    "payment.refund", "cache.get", "GET /", "render"
};
#define NNAMES  (sizeof(names) / sizeof(names[0]))

static const char  *preds[] = {
    "s => s.name === 'auth.login'",
    "s => s.name === 'db.query' && s.duration > 50",
    "s => s.name.startsWith('payment')",
    "s => s.status === 'ERROR'",
    "s => s.attributes.pii === true",
    "s => s.attributes.n > 5",
    "s => s.kind === 'CLIENT' || s.name === 'render'",
    "s => s.children.some(c => c.status === 'ERROR')",
    "s => s.parent !== undefined && s.parent.name === 'GET /'",
    "s => s.name.matches(/^db\\./) && !s.isRoot",
    "s => s.attributes.tag.includes('x')",
    "s => s.service === 'svc1'",
};
#define NPREDS  (sizeof(preds) / sizeof(preds[0]))


static uint32_t  seed = 12345;

static uint32_t
rnd(uint32_t n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
}


/* a random trace of n spans: random names, parents earlier, times */
static void
random_trace(sb_batch_t *b, bt_trace_t *t, uint32_t n, char ids[][8])
{
    static sb_attr_t  attrs[6][4];
    static const char *tags[] = { "x1", "yy", "zx" };
    static const char *svcs[] = { "svc0", "svc1", "svc2" };
    sb_span_t         s;
    uint32_t          i, k;

    sb_init(b);
    for (i = 0; i < 6; i++) {
        k = 0;
        if (i & 1) {
            attrs[i][k++] = (sb_attr_t) SB_BOOL("pii", 1);
        }
        if (i & 2) {
            attrs[i][k++] = (sb_attr_t) SB_INT("n", (int64_t) i * 2);
        }
        if (i >= 3) {
            attrs[i][k++] = (sb_attr_t) SB_STR("tag", tags[i % 3]);
        }
        attrs[i][k] = (sb_attr_t) SB_END;
    }

    for (i = 0; i < n; i++) {
        memset(&s, 0, sizeof(s));
        snprintf(ids[i], 8, "%x", i + 1);
        s.id = ids[i];
        s.parent = i > 0 && rnd(8) != 0 ? ids[rnd(i)] : NULL;
        s.name = names[rnd(NNAMES)];
        s.status = (int) rnd(3);
        s.kind = (int) rnd(6);
        s.service = svcs[rnd(3)];
        s.start_ms = (double) rnd(20) * 500;       /* ties happen */
        s.dur_ms = (double) rnd(100);
        s.attrs = attrs[rnd(6)];
        sb_add(b, &s);
    }
    cr_assert_eq(sb_to_trace(b, t), 0);
}


static int
fires(const char *src, const bt_trace_t *t, bt_eval_ctx_t *ctx)
{
    bt_rule_t  *r;
    int         rc;

    r = bt_rule_compile(src, strlen(src), NULL);
    cr_assert_not_null(r, "does not compile: %s", src);
    rc = bt_rule_eval(r, t, ctx, NULL, NULL);
    cr_assert_geq(rc, 0);
    bt_rule_free(r);
    return rc;
}


static int
name_is(const bt_tspan_t *s, const char *n)
{
    return s->s.name.n == strlen(n) && memcmp(s->s.name.p, n, s->s.name.n) == 0;
}


Test(dsl_props, missing_is_not_has_on_random_traces)
{
    bt_eval_ctx_t  *ctx;
    sb_batch_t      b;
    bt_trace_t      t;
    char            ids[64][8], r1[512], r2[512], r3[512];
    uint32_t        iter, p, q;
    int             has, missing, nothas;

    ctx = bt_eval_ctx_new();
    bt_trace_init(&t);
    for (iter = 0; iter < 150; iter++) {
        random_trace(&b, &t, 1 + rnd(40), ids);
        p = rnd(NPREDS);
        q = rnd(NPREDS);

        snprintf(r1, sizeof(r1), "trace.has(%s)", preds[p]);
        snprintf(r2, sizeof(r2), "trace.missing(%s)", preds[p]);
        snprintf(r3, sizeof(r3), "!trace.has(%s)", preds[p]);
        has = fires(r1, &t, ctx);
        missing = fires(r2, &t, ctx);
        nothas = fires(r3, &t, ctx);
        cr_assert_eq(missing, !has, "%s on trace %u", r2, iter);
        cr_assert_eq(nothas, missing);

        snprintf(r1, sizeof(r1), "trace.where(%s).has(%s)", preds[q],
                 preds[p]);
        snprintf(r2, sizeof(r2), "trace.where(%s).missing(%s)", preds[q],
                 preds[p]);
        cr_assert_eq(fires(r2, &t, ctx), !fires(r1, &t, ctx), "%s", r2);

        bt_trace_reset(&t);
        sb_free(&b);
    }
    bt_trace_free(&t);
    bt_eval_ctx_free(ctx);
}


/* brute force: in the scope of where(name A), is there a name B span? */
static int
in_scope(const bt_trace_t *t, uint32_t i, const char *a)
{
    int32_t  k, steps;

    for (k = (int32_t) i, steps = 0; k >= 0 && steps <= (int32_t) t->n;
         k = t->spans[k].parent, steps++)
    {
        if (name_is(&t->spans[k], a)) {
            return 1;
        }
    }
    return 0;
}


Test(dsl_props, where_within_sequence_match_brute_force)
{
    bt_eval_ctx_t  *ctx;
    sb_batch_t      b;
    bt_trace_t      t;
    char            ids[64][8], src[512];
    uint32_t        iter, i, j, a, c, cnt;
    uint64_t        d, si, sj;
    int             want;

    ctx = bt_eval_ctx_new();
    bt_trace_init(&t);
    for (iter = 0; iter < 300; iter++) {
        random_trace(&b, &t, 1 + rnd(40), ids);
        a = rnd(NNAMES);
        c = rnd(NNAMES);
        d = (uint64_t) rnd(4) * 500 + 250;

        /* where + count */
        cnt = 0;
        for (i = 0; i < t.n; i++) {
            cnt += in_scope(&t, i, names[a]) && name_is(&t.spans[i], names[c]);
        }
        snprintf(src, sizeof(src),
                 "trace.where('%s').count('%s') === %u", names[a], names[c],
                 cnt);
        cr_assert(fires(src, &t, ctx), "%s (iter %u)", src, iter);

        /* within: some A and some C start at most d apart */
        want = 0;
        for (i = 0; i < t.n && !want; i++) {
            for (j = 0; j < t.n && !want; j++) {
                si = t.spans[i].s.start_ns;
                sj = t.spans[j].s.start_ns;
                want = name_is(&t.spans[i], names[a])
                       && name_is(&t.spans[j], names[c])
                       && (si > sj ? si - sj : sj - si) <= d * 1000000;
            }
        }
        snprintf(src, sizeof(src),
                 "trace.has('%s').and(trace.has('%s')).within('%llu ms')",
                 names[a], names[c], (unsigned long long) d);
        cr_assert_eq(fires(src, &t, ctx), want, "%s (iter %u)", src, iter);

        /* sequence: distinct A then C, A starting no later */
        want = 0;
        for (i = 0; i < t.n && !want; i++) {
            for (j = 0; j < t.n && !want; j++) {
                want = i != j && name_is(&t.spans[i], names[a])
                       && name_is(&t.spans[j], names[c])
                       && t.spans[i].s.start_ns <= t.spans[j].s.start_ns;
            }
        }
        snprintf(src, sizeof(src), "trace.sequence('%s', '%s')", names[a],
                 names[c]);
        cr_assert_eq(fires(src, &t, ctx), want, "%s (iter %u)", src, iter);

        /* three steps over few start times: ties decide */
        {
            uint32_t  e = rnd(NNAMES), x;

            want = 0;
            for (i = 0; i < t.n && !want; i++) {
                for (j = 0; j < t.n && !want; j++) {
                    for (x = 0; x < t.n && !want; x++) {
                        want = i != j && j != x && i != x
                               && name_is(&t.spans[i], names[a])
                               && name_is(&t.spans[j], names[c])
                               && name_is(&t.spans[x], names[e])
                               && t.spans[i].s.start_ns
                                  <= t.spans[j].s.start_ns
                               && t.spans[j].s.start_ns
                                  <= t.spans[x].s.start_ns;
                    }
                }
            }
            snprintf(src, sizeof(src),
                     "trace.sequence('%s', s => s.name === '%s' || "
                     "s.name === '%s', '%s')", names[a], names[c], names[c],
                     names[e]);
            cr_assert_eq(fires(src, &t, ctx), want, "%s (iter %u)", src,
                         iter);
        }

        bt_trace_reset(&t);
        sb_free(&b);
    }
    bt_trace_free(&t);
    bt_eval_ctx_free(ctx);
}


typedef struct {
    uint32_t  fired[256];
    char      w[256][256];
    uint32_t  n;
} record_t;


static int
record(void *arg, uint32_t index, void *user, const bt_witness_t *w)
{
    record_t  *r = arg;
    uint32_t   k;
    size_t     len;

    r->fired[r->n] = index;
    len = 0;
    r->w[r->n][0] = '\0';
    for (k = 0; k <= w->nclauses && len < 200; k++) {
        len += (size_t) snprintf(r->w[r->n] + len, 256 - len, "%u:",
                                 w->off[k]);
    }
    for (k = 0; k < w->off[w->nclauses] && len < 240; k++) {
        len += (size_t) snprintf(r->w[r->n] + len, 256 - len, "%u,",
                                 w->spans[k]);
    }
    r->n++;
    return 0;
}


Test(dsl_props, rule_set_fires_exactly_like_rules_one_by_one)
{
    bt_eval_ctx_t  *ctx;
    bt_ruleset_t   *set;
    bt_rule_t      *rules[200];
    sb_batch_t      b;
    bt_trace_t      t;
    char            ids[64][8], src[1024];
    uint32_t        nr, i, iter;
    record_t        one, all;

    /* random rules built from the predicate list, many sharing predicates */
    nr = 0;
    while (nr < 200) {
        switch (rnd(6)) {
        case 0:
            snprintf(src, sizeof(src), "trace.has(%s)", preds[rnd(NPREDS)]);
            break;
        case 1:
            snprintf(src, sizeof(src), "trace.has(%s).and(trace.missing(%s))",
                     preds[rnd(NPREDS)], preds[rnd(NPREDS)]);
            break;
        case 2:
            snprintf(src, sizeof(src), "trace.where(%s).has(%s)",
                     preds[rnd(NPREDS)], preds[rnd(NPREDS)]);
            break;
        case 3:
            snprintf(src, sizeof(src),
                     "trace.has(%s).and(trace.has(%s)).within('%u ms')",
                     preds[rnd(NPREDS)], preds[rnd(NPREDS)], rnd(3000));
            break;
        case 4:
            snprintf(src, sizeof(src), "trace.sequence(%s, %s, '%s')",
                     preds[rnd(NPREDS)], preds[rnd(NPREDS)],
                     names[rnd(NNAMES)]);
            break;
        default:
            snprintf(src, sizeof(src), "trace.count(%s) > %u || trace.has('%s')",
                     preds[rnd(NPREDS)], rnd(4), names[rnd(NNAMES)]);
            break;
        }
        rules[nr] = bt_rule_compile(src, strlen(src), NULL);
        cr_assert_not_null(rules[nr], "%s", src);
        nr++;
    }

    set = bt_ruleset_new();
    for (i = 0; i < nr; i++) {
        cr_assert_eq(bt_ruleset_add(set, rules[i], NULL), (int) i);
    }
    cr_assert_eq(bt_ruleset_build(set), 0);
    cr_assert_lt(bt_ruleset_npredicates(set), 200,
                 "identical predicates are merged");

    ctx = bt_eval_ctx_new();
    bt_trace_init(&t);
    for (iter = 0; iter < 100; iter++) {
        random_trace(&b, &t, 1 + rnd(60), ids);

        memset(&one, 0, sizeof(one));
        for (i = 0; i < nr; i++) {
            uint32_t  before = one.n;

            cr_assert_geq(bt_rule_eval(rules[i], &t, ctx, record, &one), 0);
            if (one.n > before) {
                one.fired[before] = i;
            }
        }
        memset(&all, 0, sizeof(all));
        cr_assert_eq(bt_ruleset_eval(set, &t, ctx, record, &all),
                     (int) one.n);
        cr_assert_eq(all.n, one.n, "trace %u", iter);
        for (i = 0; i < one.n; i++) {
            cr_assert_eq(all.fired[i], one.fired[i]);
            cr_assert_str_eq(all.w[i], one.w[i], "rule %u", one.fired[i]);
        }

        bt_trace_reset(&t);
        sb_free(&b);
    }

    for (i = 0; i < nr; i++) {
        bt_rule_free(rules[i]);         /* the set keeps its references */
    }
    bt_ruleset_free(set);
    bt_trace_free(&t);
    bt_eval_ctx_free(ctx);
}


/* sanitizers slow everything down several times: the bound is for -O2 */
#if defined(__SANITIZE_ADDRESS__)
#define BOUND_MS  2000.0
#else
#define BOUND_MS  200.0
#endif


static double
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


/* 100,000 spans: a wide, deep tree with a few interesting spans */
Test(dsl_props, a_100k_span_trace_evaluates_within_200ms, .timeout = 60)
{
    static const char  *rules[] = {
        "trace.has(span => span.name === 'auth.login' && span.status === 'ERROR')"
        ".and(trace.has(span => span.name === 'auth.login' && span.status === 'OK'))"
        ".within('5 seconds')",
        "trace.has(span => span.attributes['data.contains_pii'] === true)"
        ".and(trace.missing(span => span.name === 'audit.log'))",
        "trace.where(span => span.name.startsWith('payment'))"
        ".has(span => span.name.includes('db.query') && span.duration > 1000)",
        "trace.sequence('auth.login', 'payment.charge', 'db.query')",
        "trace.where(s => s.service === 'svc1').count(s => s.children.length > 1) > 10",
        "trace.has(s => s.name.matches(/^db\\.(query|connect)$/)) && trace.duration > 1",
    };
    static const sb_attr_t  pii[] = { SB_BOOL("data.contains_pii", 1), SB_END };
    static char             ids[100000][8];
    static const char      *svcs[] = { "svc0", "svc1", "svc2", "svc3" };
    bt_eval_ctx_t          *ctx;
    bt_rule_t              *r;
    sb_batch_t              b;
    bt_trace_t              t;
    sb_span_t               s;
    uint32_t                i, k, n = 100000;
    double                  t0, ms;
    int                     rc;

    sb_init(&b);
    for (i = 0; i < n; i++) {
        memset(&s, 0, sizeof(s));
        snprintf(ids[i], 8, "%x", i + 1);
        s.id = ids[i];
        s.parent = i ? ids[rnd(i)] : NULL;
        s.name = names[rnd(NNAMES)];
        s.status = (int) rnd(3);
        s.service = svcs[rnd(4)];
        s.start_ms = (double) rnd(600000);
        s.dur_ms = (double) rnd(2000);
        s.attrs = rnd(1000) == 0 ? pii : NULL;
        sb_add(&b, &s);
    }
    bt_trace_init(&t);
    cr_assert_eq(sb_to_trace(&b, &t), 0);

    ctx = bt_eval_ctx_new();
    for (k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
        r = bt_rule_compile(rules[k], strlen(rules[k]), NULL);
        cr_assert_not_null(r);
        rc = bt_rule_eval(r, &t, ctx, NULL, NULL);     /* warm up buffers */
        /* best of 3: the machine is shared, the bound is about our code */
        ms = 1e9;
        for (i = 0; i < 3; i++) {
            t0 = now_ms();
            rc = bt_rule_eval(r, &t, ctx, NULL, NULL);
            if (now_ms() - t0 < ms) {
                ms = now_ms() - t0;
            }
        }
        cr_assert_geq(rc, 0);
        cr_log_info("rule %u: %.1f ms on %u spans (fired %d)", k, ms, n, rc);
        cr_assert_lt(ms, BOUND_MS, "rule %u took %.1f ms", k, ms);
        bt_rule_free(r);
    }

    bt_eval_ctx_free(ctx);
    bt_trace_free(&t);
    sb_free(&b);
}


/*
 * Counting allocator: the test binary's malloc family wins over libc's
 * (symbol interposition), so every allocation in the process is seen.
 * Not under ASan, which has its own allocator in the same place.
 */
#if !defined(__SANITIZE_ADDRESS__)
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

static volatile int  counting;
static volatile long allocations;

void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);

void *
malloc(size_t n)
{
    if (counting) {
        allocations++;
    }
    return __libc_malloc(n);
}


void *
calloc(size_t n, size_t m)
{
    if (counting) {
        allocations++;
    }
    return __libc_calloc(n, m);
}


void *
realloc(void *p, size_t n)
{
    if (counting) {
        allocations++;
    }
    return __libc_realloc(p, n);
}


Test(dsl_props, evaluation_allocates_nothing_in_steady_state)
{
    static const char  *rules[] = {
        "trace.has(s => s.name === 'auth.login' && s.status === 'ERROR')"
        ".and(trace.has(s => s.name === 'auth.login' && s.status === 'OK'))"
        ".within('5 seconds')",
        "trace.has(s => s.attributes.pii === true)"
        ".and(trace.missing(s => s.name === 'audit.log'))",
        "trace.where(s => s.name.startsWith('payment'))"
        ".has(s => s.name.includes('db.query') && s.duration > 10)",
        "trace.sequence('auth.login', s => s.name.matches(/^pay/i), 'render')",
        "trace.has(s => (s.name + '/' + s.service).toUpperCase().includes('DB') "
        "&& s.spanId.length === 16) && trace.services.length > 0",
        "trace.where(s => s.isRoot).count(s => s.children.some(c => "
        "c.attributes.tag.endsWith('x'))) >= 0",
    };
    bt_ruleset_t   *set;
    bt_rule_t      *r;
    bt_eval_ctx_t  *ctx;
    sb_batch_t      b[20];
    bt_trace_t      t[20];
    char            ids[64][8];
    uint32_t        i, k, round;
    int             fired;

    set = bt_ruleset_new();
    for (k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
        r = bt_rule_compile(rules[k], strlen(rules[k]), NULL);
        cr_assert_not_null(r, "%s", rules[k]);
        cr_assert_geq(bt_ruleset_add(set, r, NULL), 0);
        bt_rule_free(r);
    }
    cr_assert_eq(bt_ruleset_build(set), 0);

    for (i = 0; i < 20; i++) {
        bt_trace_init(&t[i]);
        random_trace(&b[i], &t[i], 1 + rnd(60), ids);
    }

    ctx = bt_eval_ctx_new();
    fired = 0;
    for (round = 0; round < 3; round++) {
        /* round 0 grows the buffers; rounds 1 and 2 must not allocate */
        counting = round > 0;
        for (i = 0; i < 20; i++) {
            fired += bt_ruleset_eval(set, &t[i], ctx, NULL, NULL);
        }
        counting = 0;
    }
    cr_assert_gt(fired, 0, "the rules must do some work");
    cr_assert_eq(allocations, 0, "%ld allocations in steady state",
                 allocations);

    bt_eval_ctx_free(ctx);
    bt_ruleset_free(set);
    for (i = 0; i < 20; i++) {
        bt_trace_free(&t[i]);
        sb_free(&b[i]);
    }
}
#endif


/* more distinct prefix lengths than the index probes: still exact */
Test(dsl_props, many_prefix_lengths_and_names_in_one_set)
{
    static const char  *longname =
        "payment.service.charge.card.visa.europe.retry.second.attempt";
    static const sb_span_t  spans[] = {
        { .id = "1", .name = "payment.service.charge.card.visa.europe.retry."
                             "second.attempt", .start_ms = 0, .dur_ms = 5 },
        { .id = "2", .parent = "1", .name = "db.query", .start_ms = 1,
          .dur_ms = 1 },
        { .name = NULL }
    };
    bt_ruleset_t   *set;
    bt_rule_t      *r;
    bt_eval_ctx_t  *ctx;
    sb_batch_t      b;
    bt_trace_t      t;
    char            src[256];
    uint32_t        l, n;
    int             fired;

    set = bt_ruleset_new();
    n = 0;
    for (l = 1; l <= 50; l++) {
        /* one that matches the long name, one that doesn't */
        snprintf(src, sizeof(src), "trace.has(s => s.name.startsWith('%.*s'))",
                 (int) l, longname);
        r = bt_rule_compile(src, strlen(src), NULL);
        cr_assert_not_null(r);
        bt_ruleset_add(set, r, NULL);
        bt_rule_free(r);
        snprintf(src, sizeof(src),
                 "trace.has(s => s.name.startsWith('%.*sX'))", (int) l - 1,
                 longname);
        r = bt_rule_compile(src, strlen(src), NULL);
        cr_assert_not_null(r);
        bt_ruleset_add(set, r, NULL);
        bt_rule_free(r);
        n++;
    }
    cr_assert_eq(bt_ruleset_build(set), 0);

    bt_trace_init(&t);
    sb_init(&b);
    sb_add(&b, &spans[0]);
    sb_add(&b, &spans[1]);
    cr_assert_eq(sb_to_trace(&b, &t), 0);
    ctx = bt_eval_ctx_new();
    fired = bt_ruleset_eval(set, &t, ctx, NULL, NULL);
    cr_assert_eq(fired, (int) n, "every matching prefix fires, no other");

    bt_eval_ctx_free(ctx);
    bt_ruleset_free(set);
    bt_trace_free(&t);
    sb_free(&b);
}


Test(dsl_props, monotone_rules_are_recognised)
{
    static const struct {
        const char  *src;
        int          monotone;
    } cases[] = {
        { "trace.has(s => s.name === 'a' && s.status === 'ERROR')"
          ".and(trace.has('b')).within('5s')", 1 },
        { "trace.where(s => s.name.startsWith('pay')).has(s => "
          "s.duration > 1000)", 1 },
        { "trace.sequence('a', 'b') || trace.count('c') > 3", 1 },
        { "3 < trace.spanCount && trace.duration >= 100", 1 },
        { "trace.has('a').and(trace.missing('b'))", 0 },
        { "!trace.has('a')", 0 },
        { "trace.count('a') === 2", 0 },
        { "trace.count('a') < 2", 0 },
        { "trace.has(s => s.children.length === 0)", 0 },
        { "trace.has(s => s.isRoot)", 0 },
        { "trace.where(s => s.parent === undefined).has('a')", 0 },
        { "trace.rootName === 'x'", 0 },
    };
    bt_rule_t  *r;
    size_t      i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = bt_rule_compile(cases[i].src, strlen(cases[i].src), NULL);
        cr_assert_not_null(r, "%s", cases[i].src);
        cr_expect_eq(bt_rule_monotone(r), cases[i].monotone, "%s",
                     cases[i].src);
        bt_rule_free(r);
    }
}


/* a monotone rule true on part of a trace is true on all of it */
Test(dsl_props, monotone_rules_stay_true_as_spans_arrive)
{
    static const char  *srcs[] = {
        "trace.has(s => s.name === 'auth.login' && s.status === 'ERROR')"
        ".and(trace.has(s => s.status === 'OK')).within('1s')",
        "trace.where(s => s.name.startsWith('payment')).has('db.query')",
        "trace.sequence('auth.login', 'db.query', 'render')",
        "trace.count(s => s.attributes.n > 5) >= 2 || trace.duration > 9000",
        "trace.where('GET /').where('db.query').has(s => s.kind === 'CLIENT')",
    };
    bt_eval_ctx_t  *ctx;
    bt_rule_t      *r;
    sb_batch_t      full;
    bt_trace_t      tp, tf;
    char            ids[64][8];
    uint32_t        iter, k, n, i, checked;

    ctx = bt_eval_ctx_new();
    bt_trace_init(&tp);
    bt_trace_init(&tf);
    checked = 0;
    for (iter = 0; iter < 200; iter++) {
        n = 2 + rnd(40);
        random_trace(&full, &tf, n, ids);
        k = 1 + rnd(n - 1);

        /* the first k spans (start order) as if only they had arrived */
        bt_trace_reset(&tp);
        for (i = 0; i < k; i++) {
            cr_assert_eq(bt_trace_add(&tp, &tf.spans[i].s), 0);
        }
        cr_assert_eq(bt_trace_link(&tp), 0);

        for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
            r = bt_rule_compile(srcs[i], strlen(srcs[i]), NULL);
            cr_assert_not_null(r);
            cr_assert(bt_rule_monotone(r), "%s", srcs[i]);
            if (bt_rule_eval(r, &tp, ctx, NULL, NULL) == 1) {
                checked++;
                cr_assert_eq(bt_rule_eval(r, &tf, ctx, NULL, NULL), 1,
                             "%s: true on %u of %u spans, false on all",
                             srcs[i], k, n);
            }
            bt_rule_free(r);
        }
        bt_trace_reset(&tf);
        sb_free(&full);
    }
    cr_assert_gt(checked, 50, "the property was exercised");
    bt_trace_free(&tp);
    bt_trace_free(&tf);
    bt_eval_ctx_free(ctx);
}
