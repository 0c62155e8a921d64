/*
 * compile.h - internal: a compiled rule.
 *
 * Compiling turns the checked tree into what evaluation needs:
 *
 *   predicates  the distinct span lambdas of trace-level clauses (has,
 *               missing, count, sequence steps, where), each evaluated once
 *               per span into a sorted list of matching span indexes;
 *   lists       (predicate, scope) pairs: a clause's matches inside its
 *               where-scope;
 *   scopes      trace.where(...) nodes: (predicate, parent scope);
 *   clauses     positive has/sequence nodes, numbered for witnesses;
 *   keys        for each predicate, span names / name prefixes / attribute
 *               keys without which it can't be true, for the rule-set index.
 */

#ifndef BT_DSL_COMPILE_H
#define BT_DSL_COMPILE_H

#include "ast.h"
#include "bt_dsl.h"
#include "regex.h"

#define DSL_MAX_KEYS  8

enum {
    KEY_NONE = 0,
    KEY_NAME,           /* span.name === 'k' */
    KEY_SERVICE,        /* span.service === 'k' */
    KEY_PREFIX,         /* span.name.startsWith('k') */
    KEY_SUBSTR,         /* span.name.includes('k') */
    KEY_ATTRVAL,        /* span.attributes[a] === v: dsl_attrval_key */
    KEY_ATTR,           /* span attribute 'k' must be present */
    KEY_KIND,           /* span.kind === 'K' */
    KEY_STATUS          /* span.status === 'S' (a value that is no status
                           never meets a span: the predicate never runs) */
};

/*
 * The KEY_ATTRVAL key of attribute a with value v: a, '\0', a type tag and
 * the value's bytes ('s' + bytes for strings and bytes, 'n' + the double
 * for numbers, so INT 5 and DOUBLE 5.0 meet, 'b' + 0/1).  Writes at most
 * cap bytes; returns the length, or 0 when v can't be a key (too long,
 * NaN, another type).
 */
size_t dsl_attrval_key(char *out, size_t cap, const char *a, size_t alen,
    int tag, const void *v, size_t vlen);

/*
 * An attribute test: a top-level conjunct `span.attributes[key] OP literal`
 * of a predicate.  The rule set reads the attribute's value while it scans
 * the span's attributes for the index, so a span failing the test is
 * rejected without running the predicate.
 */
#define DSL_MAX_ATESTS  4

typedef struct {
    const char     *key;
    uint32_t        klen;
    uint8_t         op;         /* OPB_SEQ .. OPB_GE */
    const node_t   *lit;        /* N_NUM, N_STR, N_BOOL or N_NULL */
} dsl_atest_t;

typedef struct {
    node_t      *lam;           /* the lambda; its body reads env[slot] */
    char        *canon;         /* canonical text: equal texts, same
                                   predicate, across rules */
    uint32_t     hash;
    uint8_t      key_kind;      /* KEY_* */
    uint8_t      nkeys;
    const char  *keys[DSL_MAX_KEYS];
    uint32_t     klens[DSL_MAX_KEYS];
    /*
     * Prefilter: conditions implied by the predicate's top-level &&, so a
     * span that fails them is rejected without running the predicate:
     * allowed statuses and kinds (bit min(value, 7)) and duration bounds.
     */
    uint8_t      smask;
    uint8_t      kmask;
    double       dur_gt;        /* duration > dur_gt (ms) */
    double       dur_ge;        /* duration >= dur_ge */
    uint32_t     natests;
    dsl_atest_t  atests[DSL_MAX_ATESTS];
    /*
     * 1: the predicate is exactly its one key (span.name === 'k',
     * span.service === 'k', startsWith('k'), includes('k'), kind or
     * status === 'K'), so a span the index found under that key matches
     * without running it.
     */
    uint8_t      exact;
} dsl_pred_t;

typedef struct {
    uint32_t     pred;
    int32_t      scope;         /* -1: the whole trace */
} dsl_list_t;

typedef struct {
    uint32_t     pred;
    int32_t      parent;        /* -1: the whole trace */
} dsl_scope_t;

/* what a within() node needs: its windowed lists (positive clauses) */
typedef struct {
    uint32_t    *lists;
    uint32_t     nlists;
} dsl_within_t;

struct bt_rule_s {
    int             refs;
    char           *src;
    size_t          len;
    dsl_arena_t     arena;
    node_t         *root;
    dsl_regex_t   **regexes;
    uint32_t        nregexes;
    dsl_pred_t     *preds;
    uint32_t        npreds;
    dsl_list_t     *lists;
    uint32_t        nlists;
    dsl_scope_t    *scopes;
    uint32_t        nscopes;
    uint32_t        nclauses;   /* positive clauses: witness groups */
    uint32_t        maxseq;     /* longest sequence */
    int32_t         trigger;    /* a predicate that must match somewhere
                                   for the rule to fire, or -1 */
    int             monotone;   /* see bt_rule_monotone */
    const char     *root_name;  /* without a trigger: the root span name
                                   the rule needs (trace.rootName ===), or
                                   NULL */
    uint32_t        root_name_len;
};

/*
 * Fills rule's predicates, lists, scopes, clause numbers and keys from the
 * checked tree rule->root, which has nclauses trace-level clauses (as the
 * checker counted them).  Returns 0, or -1 when out of memory.
 */
int dsl_compile(bt_rule_t *rule, uint32_t nclauses);

/*
 * A fast string hash (eight bytes at a time) for the canonical texts and
 * the rule-set index.  Not keyed: the index tolerates collisions, it only
 * gets slower.
 */
uint32_t dsl_hash(const char *s, size_t n);

#endif /* BT_DSL_COMPILE_H */
