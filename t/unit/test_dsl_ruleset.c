/*
 * test_dsl_ruleset.c - the rule set's shortcuts change no result.
 *
 * The rule set skips work that evaluating each rule alone does: attribute
 * tests read from the index scan, predicates that are exactly their index
 * key, rules gated on trace.rootName, a per-context cache of candidates by
 * span name and service, a filter on attribute keys.  Each test here
 * drives one of them with values that could break it (an attribute of
 * several types under one key, duplicate keys, integers beyond 2^53, more
 * distinct names than the cache holds, two sets sharing one context) and
 * checks that the set fires exactly the rules, with the same witnesses,
 * that bt_rule_eval fires one by one.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/bt_dsl.h"
#include "t/lib/span_build.h"

#define MAX_RULES  256
#define MAX_SPANS  40


typedef struct {
    uint32_t  fired[MAX_RULES];
    char      w[MAX_RULES][128];
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
    for (k = 0; k <= w->nclauses && len < 60; k++) {
        len += (size_t) snprintf(r->w[r->n] + len, 128 - len, "%u:",
                                 w->off[k]);
    }
    for (k = 0; k < w->off[w->nclauses] && len < 120; k++) {
        len += (size_t) snprintf(r->w[r->n] + len, 128 - len, "%u,",
                                 w->spans[k]);
    }
    r->n++;
    return 0;
}


static uint32_t  seed = 4242;

static uint32_t
rnd(uint32_t n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
}


/* span predicates: attribute tests, exact keys, and mixes of both */
static const char  *preds[] = {
    "s => s.attributes.n >= 3",
    "s => s.attributes.n === 4",
    "s => s.attributes.n == '4'",
    "s => s.attributes.n !== 4 && s.name === 'n7'",
    "s => s.attributes.n < 2.5 && s.status === 'ERROR'",
    "s => s.attributes.n > 1 && s.attributes.v === 'x1'",
    "s => s.attributes.v == null",
    "s => s.attributes.v === undefined",
    "s => s.attributes.v < 'x2'",
    "s => s.attributes.b === true",
    "s => s.attributes.b !== false && s.kind === 'SERVER'",
    "s => s.attributes.big > 9007199254740992",
    "s => s.attributes.big === 9007199254740993",
    "s => s.attributes['n'] <= 1 || s.attributes.v === 'x3'",
    "s => s.name === 'n7'",
    "s => s.name == 'n3'",
    "s => s.name.startsWith('n1')",
    "s => s.name.startsWith('n12')",
    "s => s.name.includes('7')",
    "s => s.service === 'svc1'",
    "s => s.service == 'svc2' && s.duration > 20",
    "s => s.kind === 'SERVER'",
    "s => s.status === 'OK'",
    "s => s.status === 'BOGUS'",
    "s => s.name === 'n7' || s.name === 'n8'",
};
#define NPREDS  (sizeof(preds) / sizeof(preds[0]))


static uint32_t
random_rules(bt_rule_t **rules, uint32_t n, uint32_t nnames)
{
    char      src[512];
    uint32_t  i;

    for (i = 0; i < n; i++) {
        switch (rnd(7)) {
        case 0:
            snprintf(src, sizeof(src), "trace.has(%s)", preds[rnd(NPREDS)]);
            break;
        case 1:
            snprintf(src, sizeof(src), "trace.where(%s).has(%s)",
                     preds[rnd(NPREDS)], preds[rnd(NPREDS)]);
            break;
        case 2:
            snprintf(src, sizeof(src), "trace.count(%s) >= 2",
                     preds[rnd(NPREDS)]);
            break;
        case 3:
            snprintf(src, sizeof(src),
                     "trace.rootName === 'n%u' && trace.duration > %u",
                     rnd(nnames), rnd(60));
            break;
        case 4:
            snprintf(src, sizeof(src),
                     "trace.duration >= 0 && trace.rootName == 'n%u'",
                     rnd(nnames));
            break;
        case 5:
            /* an || : no gate may be taken from it */
            snprintf(src, sizeof(src),
                     "trace.rootName === 'n%u' || trace.has(%s)",
                     rnd(nnames), preds[rnd(NPREDS)]);
            break;
        default:
            snprintf(src, sizeof(src),
                     "trace.has(%s).and(trace.missing(%s))",
                     preds[rnd(NPREDS)], preds[rnd(NPREDS)]);
            break;
        }
        rules[i] = bt_rule_compile(src, strlen(src), NULL);
        cr_assert_not_null(rules[i], "does not compile: %s", src);
    }
    return n;
}


/*
 * A random trace: names n0 .. n(nnames - 1), so many names miss the cache;
 * attributes n, v, b, big of varying types, sometimes twice in a span.
 */
static void
random_trace(sb_batch_t *b, bt_trace_t *t, uint32_t nspans, uint32_t nnames,
    char ids[][8], char names[][8])
{
    static const char  *vs[] = { "x1", "x2", "x3", "4" };
    static const char  *svcs[] = { "svc0", "svc1", "svc2" };
    sb_attr_t           attrs[MAX_SPANS][8];
    sb_span_t           s;
    uint32_t            i, k;

    sb_init(b);
    for (i = 0; i < nspans; i++) {
        k = 0;
        switch (rnd(5)) {
        case 0:
            attrs[i][k++] = (sb_attr_t) SB_INT("n", (int64_t) rnd(7));
            break;
        case 1:
            attrs[i][k++] = (sb_attr_t) SB_DBL("n", rnd(14) / 2.0);
            break;
        case 2:
            attrs[i][k++] = (sb_attr_t) SB_STR("n", vs[rnd(4)]);
            break;
        case 3:
            attrs[i][k++] = (sb_attr_t) SB_BOOL("n", (int) rnd(2));
            break;
        default:
            break;
        }
        if (rnd(3) == 0) {
            attrs[i][k++] = (sb_attr_t) SB_STR("v", vs[rnd(4)]);
        }
        if (rnd(3) == 0) {
            attrs[i][k++] = (sb_attr_t) SB_BOOL("b", (int) rnd(2));
        }
        if (rnd(4) == 0) {
            attrs[i][k++] = (sb_attr_t) SB_INT("big",
                                               9007199254740992LL
                                               + (int64_t) rnd(3));
        }
        if (rnd(6) == 0) {
            /* a duplicate key: span.attributes.n reads the first one */
            attrs[i][k++] = (sb_attr_t) SB_INT("n", 4);
        }
        attrs[i][k] = (sb_attr_t) SB_END;

        memset(&s, 0, sizeof(s));
        snprintf(ids[i], 8, "%x", i + 1);
        snprintf(names[i], 8, "n%u", rnd(nnames));
        s.id = ids[i];
        s.parent = i > 0 ? ids[rnd(i)] : NULL;
        s.name = names[i];
        s.status = (int) rnd(3);
        s.kind = (int) rnd(6);
        s.service = svcs[rnd(3)];
        s.start_ms = (double) i * 3;
        s.dur_ms = (double) rnd(50);
        s.attrs = attrs[i];
        sb_add(b, &s);
    }
    cr_assert_eq(sb_to_trace(b, t), 0);
}


/* every rule alone, then the set: the same rules fire, same witnesses */
static void
check_trace(bt_rule_t **rules, uint32_t nr, const bt_ruleset_t *set,
    const bt_trace_t *t, bt_eval_ctx_t *ctx, uint32_t iter)
{
    static record_t  one, all;
    uint32_t         i, before;

    memset(&one, 0, sizeof(one));
    for (i = 0; i < nr; i++) {
        before = one.n;
        cr_assert_geq(bt_rule_eval(rules[i], t, ctx, record, &one), 0);
        if (one.n > before) {
            one.fired[before] = i;
        }
    }
    memset(&all, 0, sizeof(all));
    cr_assert_eq(bt_ruleset_eval(set, t, ctx, record, &all), (int) one.n,
                 "trace %u", iter);
    cr_assert_eq(all.n, one.n, "trace %u", iter);
    for (i = 0; i < one.n; i++) {
        cr_assert_eq(all.fired[i], one.fired[i], "trace %u", iter);
        cr_assert_str_eq(all.w[i], one.w[i], "trace %u rule %u", iter,
                         one.fired[i]);
    }
}


static bt_ruleset_t *
make_set(bt_rule_t **rules, uint32_t nr)
{
    bt_ruleset_t  *set;
    uint32_t       i;

    set = bt_ruleset_new();
    cr_assert_not_null(set);
    for (i = 0; i < nr; i++) {
        cr_assert_eq(bt_ruleset_add(set, rules[i], NULL), (int) i);
    }
    cr_assert_eq(bt_ruleset_build(set), 0);
    return set;
}


Test(dsl_ruleset, shortcuts_fire_exactly_like_rules_one_by_one)
{
    bt_rule_t      *rules[MAX_RULES];
    bt_ruleset_t   *set;
    bt_eval_ctx_t  *ctx;
    sb_batch_t      b;
    bt_trace_t      t;
    char            ids[MAX_SPANS][8], names[MAX_SPANS][8];
    uint32_t        nr, i, iter, fired;

    nr = random_rules(rules, 200, 20);
    set = make_set(rules, nr);
    ctx = bt_eval_ctx_new();
    bt_trace_init(&t);

    fired = 0;
    for (iter = 0; iter < 300; iter++) {
        random_trace(&b, &t, 1 + rnd(MAX_SPANS), 20, ids, names);
        check_trace(rules, nr, set, &t, ctx, iter);
        fired += (uint32_t) bt_ruleset_eval(set, &t, ctx, NULL, NULL);
        bt_trace_reset(&t);
        sb_free(&b);
    }
    /* the comparison means something only if rules do fire */
    cr_assert_gt(fired, 300, "only %u firings", fired);

    for (i = 0; i < nr; i++) {
        bt_rule_free(rules[i]);
    }
    bt_ruleset_free(set);
    bt_trace_free(&t);
    bt_eval_ctx_free(ctx);
}


Test(dsl_ruleset, many_names_and_two_sets_share_one_context)
{
    bt_rule_t      *ra[MAX_RULES], *rb[MAX_RULES];
    bt_ruleset_t   *sa, *sb;
    bt_eval_ctx_t  *ctx;
    sb_batch_t      b;
    bt_trace_t      t;
    char            ids[MAX_SPANS][8], names[MAX_SPANS][8];
    uint32_t        na, nb, i, iter;

    /* 3,000 names x 3 services: far more pairs than the name cache holds */
    na = random_rules(ra, 120, 3000);
    nb = random_rules(rb, 80, 3000);
    sa = make_set(ra, na);
    sb = make_set(rb, nb);
    ctx = bt_eval_ctx_new();
    bt_trace_init(&t);

    for (iter = 0; iter < 400; iter++) {
        random_trace(&b, &t, 1 + rnd(MAX_SPANS), 3000, ids, names);
        /* alternate sets on one context: cached candidates must not leak */
        if (iter & 1) {
            check_trace(ra, na, sa, &t, ctx, iter);
        } else {
            check_trace(rb, nb, sb, &t, ctx, iter);
        }
        if (iter == 200) {
            /* a set rebuilt (maybe at the same address) */
            bt_ruleset_free(sa);
            sa = make_set(ra, na);
        }
        bt_trace_reset(&t);
        sb_free(&b);
    }

    for (i = 0; i < na; i++) {
        bt_rule_free(ra[i]);
    }
    for (i = 0; i < nb; i++) {
        bt_rule_free(rb[i]);
    }
    bt_ruleset_free(sa);
    bt_ruleset_free(sb);
    bt_trace_free(&t);
    bt_eval_ctx_free(ctx);
}
