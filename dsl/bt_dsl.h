/*
 * bt_dsl.h - BeTraceDSL: compile rules, report diagnostics, build indexed
 * rule sets and evaluate them over assembled traces (dsl/bt_trace.h).
 *
 * The language is described in docs/dsl.md (user reference) and
 * /work/shared/DSL.md (the specification).  This header is the whole public
 * API; everything else in dsl/ is internal.
 *
 * Life cycle:
 *
 *     bt_diags_t    d;
 *     bt_rule_t    *r;
 *     bt_ruleset_t *set;
 *     bt_eval_ctx_t *ctx;
 *
 *     bt_diags_init(&d);
 *     r = bt_rule_compile(src, len, &d);        NULL: d holds the errors
 *     set = bt_ruleset_new();
 *     bt_ruleset_add(set, r, user);             the set takes a reference
 *     bt_rule_free(r);                          drop ours
 *     bt_ruleset_build(set);                    builds the span index
 *     ctx = bt_eval_ctx_new();                  one per evaluating thread
 *     bt_ruleset_eval(set, &trace, ctx, on_fire, arg);   per trace
 *
 * Threads: a compiled rule and a built rule set are immutable and may be
 * shared by any number of threads (the engine swaps sets with RCU).  An
 * evaluation context belongs to one thread at a time.
 *
 * Memory: compiling allocates.  Evaluating does not allocate once the
 * context's scratch buffers have grown to the largest trace seen (they are
 * kept between traces), so a steady-state engine evaluates without malloc.
 *
 * Witnesses: the "positive clauses" of a rule are its trace.has(...) and
 * trace.sequence(...) calls that are not under a negation (!, .not()),
 * numbered 0.. in source order.  When a rule fires, each positive clause
 * that is true reports the span indexes (into trace->spans, ascending start
 * order) that made it true: every matching span in scope for has (at most
 * BT_DSL_MAX_WITNESSES), the chosen spans s1..sk for sequence, and inside
 * c.within(d) only the spans of the chosen window.  A clause that is false
 * (e.g. the losing side of ||) reports no spans.
 *
 * Decisions where the language reference leaves room (docs/dsl.md should
 * say the same):
 *
 *   - has('x') is span => span.name === 'x', and the same string shorthand
 *     works in missing, count, where and each sequence step.
 *   - 'trace' can't be used inside a lambda (a predicate sees one span, so
 *     it can be evaluated once per span and shared between rules).
 *   - c.within(d) can't contain another within(); d is a duration string
 *     or a number of milliseconds.  Window bounds are inclusive.
 *   - sequence takes, step by step, the earliest start time at which the
 *     step has a span not taken by an earlier step; spans starting at the
 *     same instant are shared out among the steps as a matching, so a
 *     sequence is found whenever one exists.  Its witnesses are the spans
 *     it chose, one per step.
 *   - where(a).where(b): spans matching b inside a's scope, plus their
 *     descendants.
 *   - Attribute values: BYTES read as a string of the raw bytes, an EMPTY
 *     value is null, a missing key is undefined.  toLowerCase and
 *     toUpperCase change ASCII letters only (strings are bytes).
 *   - && and || return an operand, as in JavaScript; a predicate is true
 *     when its value is truthy (true, a non-zero number, a non-empty
 *     string, any object).
 *   - A regex match that hits the PCRE2 match limit counts as no match.
 */

#ifndef BT_DSL_H
#define BT_DSL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "bt_trace.h"

/* Limits: a rule over any of them is refused at compile time. */
#define BT_DSL_MAX_SOURCE       65536   /* bytes of rule source */
#define BT_DSL_MAX_DEPTH        128     /* nesting of expressions (a chain
                                           a && b && ... counts one per
                                           operand) */
#define BT_DSL_MAX_CLAUSES      64      /* has/missing/count/sequence/where
                                           calls (sequence: one per step) */
#define BT_DSL_MAX_WITNESSES    256     /* span indexes reported per clause */


/* --- diagnostics ---------------------------------------------------------- */

typedef enum {
    BT_DIAG_ERROR = 0,
    BT_DIAG_WARNING = 1
} bt_diag_severity_t;

typedef struct {
    bt_diag_severity_t  severity;
    uint32_t            line;       /* 1-based */
    uint32_t            col;        /* 1-based, in characters (UTF-8) */
    uint32_t            end_line;   /* end of the range, exclusive column */
    uint32_t            end_col;
    uint32_t            offset;     /* byte range in the source */
    uint32_t            end_offset;
    char               *message;    /* "unknown span field 'nmae'; did you
                                       mean 'name'?" (no position, no
                                       severity) */
    char               *source_line;    /* the line holding (line, col),
                                           without its newline */
    char               *caret;      /* spaces (tabs kept) then '^' and '~'
                                       under the range on that line */
} bt_diag_t;

typedef struct {
    bt_diag_t  *items;              /* in source order of detection */
    size_t      n;
    size_t      cap;
    size_t      n_errors;
    size_t      n_warnings;
} bt_diags_t;

/* Initialises an empty list; this function can't fail. */
void bt_diags_init(bt_diags_t *d);

/* Frees every diagnostic and empties the list (it can be reused). */
void bt_diags_clear(bt_diags_t *d);

/* Same as bt_diags_clear; the name says what the caller means. */
void bt_diags_free(bt_diags_t *d);

/*
 * Formats one diagnostic as
 *     NAME:LINE:COL: error: MESSAGE\n<source line>\n<caret>\n
 * ("warning" for warnings; NAME is e.g. the file name, "-" or "rule").
 * Returns a malloc'd string the caller frees, or NULL when out of memory.
 */
char *bt_diag_format(const bt_diag_t *diag, const char *name);

/* Writes bt_diag_format's text to fp; returns 0, or -1 on failure. */
int bt_diag_print(FILE *fp, const bt_diag_t *diag, const char *name);

/*
 * One diagnostic as a JSON object: {"severity": "error"|"warning",
 * "line", "column", "end_line", "end_column", "offset", "end_offset",
 * "message", "source_line", "caret"}.  Returns a new reference, or NULL
 * when out of memory.
 */
json_t *bt_diag_json(const bt_diag_t *diag);

/* All diagnostics as a JSON array (new reference), or NULL. */
json_t *bt_diags_json(const bt_diags_t *diags);


/* --- rules ------------------------------------------------------------------ */

typedef struct bt_rule_s  bt_rule_t;

/*
 * Compiles one rule.  src need not be NUL-terminated.  Errors and warnings
 * are appended to diags (which may be NULL when the caller does not care).
 * Returns the rule (reference count 1), or NULL when there is any error
 * (then diags has at least one BT_DIAG_ERROR, except on out of memory,
 * where NULL is returned with an "out of memory" error when that could be
 * recorded).  Never evaluates anything.
 */
bt_rule_t *bt_rule_compile(const char *src, size_t len, bt_diags_t *diags);

/* Takes one more reference; returns rule.  This function can't fail. */
bt_rule_t *bt_rule_ref(bt_rule_t *rule);

/* Drops one reference; the last one frees the rule.  NULL is ignored. */
void bt_rule_free(bt_rule_t *rule);

/* Number of positive clauses (= witness groups a firing reports). */
uint32_t bt_rule_nclauses(const bt_rule_t *rule);

/*
 * Returns 1 when the rule, once true for some spans of a trace, stays true
 * whatever other spans of that trace arrive later, so the engine may fire
 * it before the trace is complete: it is built only from has, sequence,
 * where, within, &&, || and count / spanCount / duration compared with
 * > or >= a constant, and its span lambdas don't look at parent, children
 * or isRoot.  Returns 0 otherwise (missing, !, ===, rootName...).  This
 * function can't fail.
 */
int bt_rule_monotone(const bt_rule_t *rule);

/* The rule's source text as compiled (not NUL-terminated), and its length. */
const char *bt_rule_source(const bt_rule_t *rule, size_t *len);


/* --- evaluation --------------------------------------------------------------- */

typedef struct bt_eval_ctx_s  bt_eval_ctx_t;

/*
 * What a firing reports: clause c's witnesses are
 * spans[off[c] .. off[c + 1]), indexes into trace->spans.  Valid only
 * during the callback.
 */
typedef struct {
    uint32_t         nclauses;
    const uint32_t  *off;           /* nclauses + 1 entries */
    const uint32_t  *spans;
} bt_witness_t;

/*
 * Called once per firing rule, in rule-index order.  index and user are
 * what bt_ruleset_add returned and was given.  Return 0 to go on, non-zero
 * to stop evaluating this trace.
 */
typedef int (*bt_fire_pt)(void *arg, uint32_t index, void *user,
    const bt_witness_t *w);

/* A new context, or NULL when out of memory. */
bt_eval_ctx_t *bt_eval_ctx_new(void);
void bt_eval_ctx_free(bt_eval_ctx_t *ctx);

/*
 * Evaluates one rule on one trace (no index; for tools and tests).
 * Returns 1 if it fired (fn, when not NULL, was called with index 0 and
 * user NULL), 0 if not, -1 when out of memory (nothing was called).
 */
int bt_rule_eval(const bt_rule_t *rule, const bt_trace_t *trace,
    bt_eval_ctx_t *ctx, bt_fire_pt fn, void *arg);


/* --- rule sets ---------------------------------------------------------------- */

typedef struct bt_ruleset_s  bt_ruleset_t;

/* An empty set, or NULL when out of memory. */
bt_ruleset_t *bt_ruleset_new(void);

/*
 * Adds a rule (the set takes its own reference) with a caller pointer
 * handed back on firing.  Only before bt_ruleset_build.  Returns the rule's
 * index in the set (0, 1, ... in order of addition), or -1 when out of
 * memory or the set is already built (the set is unchanged).
 */
int bt_ruleset_add(bt_ruleset_t *set, bt_rule_t *rule, void *user);

/*
 * Builds the span index: identical span predicates of all rules are merged
 * so each is evaluated once per span, and each predicate is filed under
 * what a span needs for it to be true (a name, service, kind or status,
 * an attribute value, a name prefix or substring, an attribute key), so a
 * span meets only the predicates that could match it; conditions implied
 * by a predicate's && (status, kind, duration bounds) reject spans before
 * it runs.  At trace level only rules whose required predicate matched
 * somewhere are evaluated.  Returns 0, or -1 when out of memory (the set
 * can't be used then).
 */
int bt_ruleset_build(bt_ruleset_t *set);

/* Number of rules; distinct span predicates after merging. */
uint32_t bt_ruleset_size(const bt_ruleset_t *set);
uint32_t bt_ruleset_npredicates(const bt_ruleset_t *set);

/*
 * Evaluates every rule of a built set on a linked trace, calling fn for each
 * rule that fires.  Returns the number of rules that fired (counting the
 * one whose callback stopped the evaluation), or -1 when out of memory.
 */
int bt_ruleset_eval(const bt_ruleset_t *set, const bt_trace_t *trace,
    bt_eval_ctx_t *ctx, bt_fire_pt fn, void *arg);

/* Drops the set's rule references and frees it.  NULL is ignored. */
void bt_ruleset_free(bt_ruleset_t *set);

#endif /* BT_DSL_H */
