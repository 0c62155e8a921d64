/*
 * ruleset.h - internal: the rule-set index (the public API is in bt_dsl.h).
 *
 * Why an index: with a thousand rules, running every rule's predicates on
 * every span costs thousands of evaluations per span.  Instead identical
 * predicates are merged across rules, and each predicate is filed under
 * what a span must have for it to be true: an exact name
 * (span.name === 'x'), a service (span.service === 'x'), an attribute
 * with a value (span.attributes['k'] === 'v'), a name prefix
 * (span.name.startsWith('x')), a name substring (span.name.includes('x'))
 * or an attribute key (span.attributes['k'] > 3).  A span looks up its
 * name, service, attributes, name prefixes and substrings and evaluates
 * only those predicates plus the unindexable ones.  Then only rules whose trigger
 * predicate (one that must match for the rule to fire) matched somewhere
 * are evaluated at trace level, plus rules without a trigger (those gated
 * on trace.rootName === 'k' only on traces whose root is named k).
 *
 * Shortcuts that keep per-span work small, each giving the same result as
 * running the predicate (test_dsl_ruleset checks it):
 *   - the candidates of a (name, service) pair are cached in the evaluation
 *     context, so prefix hashing and substring scans run once per distinct
 *     name, not once per span;
 *   - attribute keys no rule reads are skipped by a 256-bit filter before
 *     hashing;
 *   - attribute tests (span.attributes[k] OP literal in a predicate's
 *     top-level &&) are applied to the values the attribute scan read;
 *   - a predicate that is exactly its index key (span.name === 'k', ...)
 *     is a match when found under that key, without running.
 */

#ifndef BT_DSL_RULESET_H
#define BT_DSL_RULESET_H

#include "compile.h"

typedef struct {
    const char  *key;
    uint32_t     klen;
    uint32_t     hash;
    uint32_t    *preds;         /* global predicate ids */
    uint32_t     n;
    uint32_t     cap;
    uint32_t     vals;          /* attrs: some predicate tests this
                                   attribute's value (see attrvals) */
    uint32_t     aslot;         /* attrs: 1 + the attribute-test slot of
                                   this key, 0: no predicate tests it */
} dsl_bucket_t;

typedef struct {
    dsl_bucket_t  *slots;       /* open addressing, power of two */
    uint32_t       mask;
    uint32_t       used;
} dsl_table_t;

struct bt_ruleset_s {
    bt_rule_t        **rules;
    void             **users;
    uint32_t           n;
    uint32_t           cap;
    int                built;

    const dsl_pred_t **preds;   /* global predicates */
    uint32_t           npreds;
    uint32_t         **maps;    /* per rule: local -> global predicate */

    uint32_t          *wild;    /* predicates without keys */
    uint32_t           nwild;
    dsl_table_t        names;
    dsl_table_t        services;
    dsl_table_t        prefixes;
    dsl_table_t        substrs;
    dsl_table_t        attrs;
    dsl_table_t        attrvals;
    dsl_table_t        kinds;
    dsl_table_t        statuses;
    const dsl_bucket_t *kind_b[6];      /* kinds' bucket per span kind */
    const dsl_bucket_t *status_b[3];
    uint32_t           plens[32];   /* distinct prefix lengths, sorted */
    uint32_t           nplens;

    uint32_t          *toff;    /* rules triggered by predicate p:
                                   trig[toff[p] .. toff[p + 1]) */
    uint32_t          *trig;
    uint32_t          *always;  /* rules without a trigger nor a root
                                   name gate */
    uint32_t           nalways;
    dsl_table_t        roots;   /* root span name -> rules gated on it
                                   (rule indexes in the buckets) */

    uint64_t           akeys[4];    /* a bit per akey_bit() of each key
                                       in attrs: most span attributes no
                                       rule reads are skipped unhashed */
    uint32_t          *atoff;   /* attribute tests of predicate g read
                                   slots atslots[atoff[g] ..] */
    uint32_t          *atslots;
    uint32_t           naslots;

    uint64_t           id;      /* unique per build: tells an evaluation
                                   context's name cache which set it holds */
};

#endif /* BT_DSL_RULESET_H */
