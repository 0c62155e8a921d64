/*
 * check.h - internal: name resolution, static types, errors and warnings.
 *
 * The checker walks the parsed tree once, annotating each node with its
 * static type (node.ty), the operation it resolves to (node.opc), lambda
 * slots, compiled regexes and durations.  The evaluator relies on these
 * annotations only.
 */

#ifndef BT_DSL_CHECK_H
#define BT_DSL_CHECK_H

#include "ast.h"
#include "bt_dsl.h"
#include "regex.h"

/* static types (node.ty) */
enum {
    TY_ANY,         /* known only at run time: attribute values */
    TY_UNDEF, TY_NULL, TY_BOOL, TY_NUM, TY_STR, TY_REGEX,
    TY_SPAN, TY_SPANS, TY_EVENT, TY_EVENTS, TY_LINK, TY_LINKS,
    TY_MAP, TY_ARR, TY_STRS,
    TY_LAMBDA, TY_TRACE, TY_SCOPE
};

/* resolved operations (node.opc) */
enum {
    OP_NONE,
    OP_LIT,         /* literal: N_NUM N_STR N_BOOL N_NULL N_UNDEF N_REGEX */
    OP_PARAM,       /* lambda parameter, node.slot */
    OP_TRACE,       /* the identifier trace */
    /* span fields; receiver is node.a */
    OP_F_NAME, OP_F_STATUS, OP_F_STATUSMSG, OP_F_KIND, OP_F_DURATION,
    OP_F_START, OP_F_END, OP_F_TRACEID, OP_F_SPANID, OP_F_PARENTID,
    OP_F_SERVICE, OP_F_ISROOT, OP_F_ATTRS, OP_F_RESOURCE, OP_F_SCOPE,
    OP_F_EVENTS, OP_F_LINKS, OP_F_PARENT, OP_F_CHILDREN,
    /* event and link fields */
    OP_E_NAME, OP_E_TIME, OP_E_ATTRS,
    OP_L_TRACEID, OP_L_SPANID, OP_L_ATTRS,
    OP_GET,         /* MEMBER a.s (key node.s) or INDEX a[b] on values */
    OP_LENGTH,
    /* methods: N_CALL, receiver node.a->a, arguments node.args */
    OP_STARTSWITH, OP_ENDSWITH, OP_INCLUDES, OP_TOLOWER, OP_TOUPPER,
    OP_MATCHES, OP_RETEST, OP_SOME, OP_EVERY,
    OP_NOT, OP_NEG, OP_AND, OP_OR, OP_BIN, OP_ARRAY, OP_LAMBDA,
    /* trace level */
    OP_T_HAS, OP_T_MISSING, OP_T_COUNT, OP_T_SEQ, OP_T_WHERE,
    OP_T_DURATION, OP_T_SPANCOUNT, OP_T_ROOTNAME, OP_T_ROOTSERVICE,
    OP_T_SERVICES,
    OP_C_AND, OP_C_OR, OP_C_NOT, OP_C_WITHIN
};

typedef struct {
    const char     *src;
    size_t          len;
    dsl_arena_t    *arena;
    bt_diags_t     *diags;
    size_t          errors;
    int             oom;
    /* lambda parameters in scope, innermost last */
    const node_t   *params[BT_DSL_MAX_DEPTH + 1];
    uint32_t        nparams;
    uint32_t        in_pred;        /* inside a span predicate lambda */
    uint32_t        in_within;
    uint32_t        clauses;        /* has/missing/count/where/sequence
                                       steps seen, for the limit */
    /* compiled regexes, freed with the rule */
    dsl_regex_t   **regexes;
    uint32_t        nregexes;
    uint32_t        capregexes;
} checker_t;

/*
 * Checks the tree rooted at root (the whole rule).  Records every error and
 * warning it finds in ck->diags; returns the number of errors (0: the tree
 * is fully annotated and may be compiled).  ck->oom is set on allocation
 * failure.
 */
size_t dsl_check(checker_t *ck, node_t *root);

/*
 * Parses a duration: "5 seconds", "5s", "250ms", "1.5 h"...  Returns 0 and
 * nanoseconds in *ns, or -1 when s is not a duration.
 */
int dsl_parse_duration(const char *s, size_t n, int64_t *ns);

/* Levenshtein distance, capped (returns > cap early); for suggestions. */
uint32_t dsl_edit_distance(const char *a, size_t an, const char *b,
    size_t bn);

#endif /* BT_DSL_CHECK_H */
