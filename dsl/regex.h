/*
 * regex.h - internal: regular expressions compiled once per rule with
 * PCRE2, JIT when the platform has it, and a bounded matcher.
 *
 * Why match limits: a rule author can write a pattern that backtracks
 * exponentially (/(a+)+$/) and span names come from the outside.  The match
 * limit caps the work per match; hitting it counts as "no match", so one
 * bad rule can't stall evaluation.
 */

#ifndef BT_DSL_REGEX_H
#define BT_DSL_REGEX_H

#include <stddef.h>
#include <stdint.h>

#define DSL_REGEX_MATCH_LIMIT   100000
#define DSL_REGEX_DEPTH_LIMIT   1000

typedef struct dsl_regex_s  dsl_regex_t;

/*
 * Compiles pattern (n bytes) with PCRE2 options (PCRE2_CASELESS, ...).
 * Returns the regex, or NULL with a message in err (and the byte offset of
 * the problem in the pattern in *erroff).
 */
dsl_regex_t *dsl_regex_compile(const char *pattern, size_t n,
    uint32_t options, char *err, size_t errcap, size_t *erroff);

/*
 * Matches s (n bytes) anywhere (like RegExp.test).  mdata comes from
 * dsl_regex_mdata_new (one per evaluation context).  Returns 1 on a match,
 * 0 on no match or when the match limit was hit.
 */
int dsl_regex_test(const dsl_regex_t *re, const char *s, size_t n,
    void *mdata);

void dsl_regex_free(dsl_regex_t *re);

/* Match data for dsl_regex_test, or NULL when out of memory. */
void *dsl_regex_mdata_new(void);
void dsl_regex_mdata_free(void *mdata);

#endif /* BT_DSL_REGEX_H */
