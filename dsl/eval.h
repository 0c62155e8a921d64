/*
 * eval.h - internal: the evaluation context and the per-rule evaluator
 * shared by bt_rule_eval and the rule set.
 */

#ifndef BT_DSL_EVAL_H
#define BT_DSL_EVAL_H

#include "ast.h"
#include "compile.h"

/* run-time values */
enum {
    V_UNDEF, V_NULL, V_BOOL, V_INT, V_NUM, V_STR,
    V_SPAN,         /* u.idx */
    V_SPANS,        /* children of span u.idx, c of them */
    V_EVENTS, V_LINKS,  /* section: u.p, n bytes, c items */
    V_EVENT, V_LINK,    /* item at u.p, n bytes left in its section */
    V_MAP,          /* attr* at u.p, n bytes */
    V_ARR,          /* value* at u.p, n bytes (an ARRAY attribute) */
    V_LIST,         /* array literal: node u.ptr */
    V_STRS,         /* bt_str_t[n] at u.ptr */
    V_REGEX         /* dsl_regex_t at u.ptr */
};

typedef struct {
    uint8_t     t;
    uint32_t    n;
    uint32_t    c;
    union {
        double           d;
        int64_t          i;
        int              b;
        const char      *s;
        const uint8_t   *p;
        const void      *ptr;
        uint32_t         idx;
    } u;
} val_t;

/*
 * Name cache entry: the candidate predicates of a span name and service
 * pair (names, prefixes, substrings and services tables together).
 */
typedef struct {
    uint32_t    hash;
    uint32_t    nlen;
    uint32_t    slen;
    uint32_t    key;            /* name then service bytes in nc_bytes */
    uint32_t    off;            /* candidates: nc_preds[off .. off + n) */
    uint32_t    n;
    uint32_t    used;           /* 1: slot taken */
} dsl_ncache_t;

/* matches of one predicate in the current trace */
typedef struct {
    uint32_t   *idx;
    uint32_t    n;
    uint32_t    cap;
    uint32_t    epoch;          /* == ctx->epoch: valid for this trace */
} dsl_matches_t;

struct bt_eval_ctx_s {
    const bt_trace_t   *tr;
    uint32_t            epoch;          /* bumped per trace */

    /* predicate matches, by (global) predicate id */
    dsl_matches_t      *pm;
    uint32_t            npm;
    uint32_t           *matched;        /* predicates with a match in this
                                           trace, in first-match order */
    uint32_t            nmatched;

    /* the rule being evaluated */
    const bt_rule_t    *rule;
    const uint32_t     *map;            /* local -> global predicate ids,
                                           NULL: identity */
    uint32_t            rstamp;         /* bumped per rule evaluation */
    const uint32_t     *lidx[BT_DSL_MAX_CLAUSES];
    uint32_t            ln[BT_DSL_MAX_CLAUSES];
    uint32_t            lstamp[BT_DSL_MAX_CLAUSES];
    uint64_t           *sbits[BT_DSL_MAX_CLAUSES];
    uint32_t            sstamp[BT_DSL_MAX_CLAUSES];

    /* within(): the window being tried */
    int                 in_window;
    uint64_t            win_lo;
    uint64_t            win_hi;
    uint32_t            wlo[BT_DSL_MAX_CLAUSES];
    uint32_t            whi[BT_DSL_MAX_CLAUSES];

    /* lambda parameters */
    val_t               env[BT_DSL_MAX_DEPTH + 2];

    dsl_arena_t         scratch;        /* strings made while evaluating */
    dsl_arena_t         rscratch;       /* per rule: lists, scope bits */
    void               *mdata;          /* PCRE2 match data */

    /* per trace, computed on first use */
    uint32_t           *order;          /* parents before children */
    uint32_t            order_cap;
    uint32_t            order_epoch;
    bt_str_t           *services;
    uint32_t            nservices;
    uint32_t            services_cap;
    uint32_t            services_epoch;

    /* witnesses of a firing */
    uint32_t            woff[BT_DSL_MAX_CLAUSES + 1];
    uint32_t            wstart[BT_DSL_MAX_CLAUSES];
    uint32_t            wn[BT_DSL_MAX_CLAUSES];
    uint32_t            wbuf[BT_DSL_MAX_CLAUSES * BT_DSL_MAX_WITNESSES];
    uint32_t            wout[BT_DSL_MAX_CLAUSES * BT_DSL_MAX_WITNESSES];
    uint32_t            wused;

    /* rule set scratch: candidate predicates and rules of this trace */
    uint32_t           *cand;
    uint32_t            cand_cap;
    uint32_t           *pstamp;         /* per global predicate */
    uint32_t           *rules;
    uint32_t           *rstamps;        /* per rule */
    uint32_t            rules_cap;
    uint32_t            pstamp_cap;
    uint32_t            cstamp;
    uint64_t           *rbits;          /* rules to run, a bit each */
    bt_val_t           *aval;           /* attribute-test values of this
                                           span, by slot (first occurrence) */
    uint32_t           *astamp;         /* aval[k] valid: == aspan */
    uint32_t            aval_cap;
    uint32_t            aspan;
    uint32_t            rbits_cap;      /* in words */

    /*
     * rule set: candidates by span name and service, so the name and
     * prefix hashing and the substring scans run once per distinct name,
     * not once per span.  Flushed when full or when another set is used.
     */
    uint64_t            nc_set;         /* bt_ruleset_t.id, 0: none */
    dsl_ncache_t       *nc;
    uint32_t            nc_used;
    char               *nc_bytes;
    uint32_t            nc_bytes_n;
    uint32_t            nc_bytes_cap;
    uint32_t           *nc_preds;
    uint32_t            nc_preds_n;
    uint32_t            nc_preds_cap;
};

/* Starts a new trace: forgets all matches.  Returns 0 or -1 (memory). */
int dsl_ctx_begin(bt_eval_ctx_t *ctx, const bt_trace_t *tr, uint32_t npreds);

/* Runs predicate p on span i; returns 1 if true. */
int dsl_pred_eval(bt_eval_ctx_t *ctx, const dsl_pred_t *p, uint32_t i);

/*
 * Applies attribute test t to the attribute's value v (NULL: the span has
 * no such attribute), exactly as the predicate's comparison would.
 * Returns 1 if the comparison is true, else 0.
 */
int dsl_atest(const dsl_atest_t *t, const bt_val_t *v);

/* Records span i as a match of global predicate g; 0 or -1 (memory). */
int dsl_match_add(bt_eval_ctx_t *ctx, uint32_t g, uint32_t i);

/*
 * With all predicates of rule evaluated into the context (map gives their
 * global ids), evaluates the rule's trace expression.  Returns 1 if it
 * fires (the witnesses are then in ctx->woff / ctx->wout), 0 if not, -1 on
 * out of memory.
 */
int dsl_rule_run(bt_eval_ctx_t *ctx, const bt_rule_t *rule,
    const uint32_t *map);

#endif /* BT_DSL_EVAL_H */
