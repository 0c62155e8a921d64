/*
 * regex.c - PCRE2 behind a small interface (see regex.h).
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

#include "regex.h"

struct dsl_regex_s {
    pcre2_code           *code;
    pcre2_match_context  *mctx;
};


dsl_regex_t *
dsl_regex_compile(const char *pattern, size_t n, uint32_t options,
    char *err, size_t errcap, size_t *erroff)
{
    dsl_regex_t  *re;
    int           code;
    PCRE2_SIZE    off;

    re = calloc(1, sizeof(*re));
    if (re == NULL) {
        snprintf(err, errcap, "out of memory");
        *erroff = 0;
        return NULL;
    }

    /* bytes, not UTF: span strings are not guaranteed valid UTF-8 */
    re->code = pcre2_compile((PCRE2_SPTR) pattern, n, options, &code, &off,
                             NULL);
    if (re->code == NULL) {
        pcre2_get_error_message(code, (PCRE2_UCHAR *) err, errcap);
        *erroff = off;
        free(re);
        return NULL;
    }

    /* JIT is an optimisation: without it the interpreter still works */
    (void) pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);

    re->mctx = pcre2_match_context_create(NULL);
    if (re->mctx == NULL) {
        pcre2_code_free(re->code);
        free(re);
        snprintf(err, errcap, "out of memory");
        *erroff = 0;
        return NULL;
    }
    pcre2_set_match_limit(re->mctx, DSL_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, DSL_REGEX_DEPTH_LIMIT);
    return re;
}


int
dsl_regex_test(const dsl_regex_t *re, const char *s, size_t n, void *mdata)
{
    int  rc;

    rc = pcre2_match(re->code, (PCRE2_SPTR) (s ? s : ""), n, 0, 0,
                     (pcre2_match_data *) mdata, re->mctx);
    return rc >= 0;
}


void
dsl_regex_free(dsl_regex_t *re)
{
    if (re == NULL) {
        return;
    }
    pcre2_match_context_free(re->mctx);
    pcre2_code_free(re->code);
    free(re);
}


void *
dsl_regex_mdata_new(void)
{
    return pcre2_match_data_create(1, NULL);
}


void
dsl_regex_mdata_free(void *mdata)
{
    pcre2_match_data_free((pcre2_match_data *) mdata);
}
