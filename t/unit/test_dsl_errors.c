/*
 * test_dsl_errors.c - exact diagnostics: for each broken (or suspicious)
 * rule, the severity, line, column, message and caret; the formatted text
 * and JSON forms; the limits.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/bt_dsl.h"

typedef struct {
    const char  *src;
    int          compiles;      /* 1: a rule comes back (warnings only) */
    int          severity;
    unsigned     line;
    unsigned     col;
    const char  *message;
    const char  *caret;
} diag_case_t;

#define E  0, BT_DIAG_ERROR
#define W  1, BT_DIAG_WARNING

static const diag_case_t  cases[] = {
    /* syntax */
    { "trace.has(span => (span.name === 'x')", E, 1, 38,
      "expected ')' to close '(' at 1:10",
      "                                     ^" },
    { "trace.has(s => s.name === 'x' &&)", E, 1, 33,
      "expected an expression, found ')'",
      "                                ^" },
    { "trace.has(s => s.name = 'x')", E, 1, 23,
      "unexpected '='; use '===' to compare",
      "                      ^" },
    { "trace.has(s => s.name === 'x)", E, 1, 27,
      "unterminated string",
      "                          ^~~" },
    { "trace.has(s => s.name === 'a') @", E, 1, 32,
      "unexpected character '@'",
      "                               ^" },
    { "trace.has(s => s.name === 'a') trace", E, 1, 32,
      "unexpected name after the end of the rule",
      "                               ^~~~~" },
    { "trace.has(s => /a/x.test(s.name))", E, 1, 19,
      "unknown regular expression flag 'x' (flags are i, m, s)",
      "                  ^" },
    { "(a, b) => true", E, 1, 3,
      "a lambda takes exactly one parameter",
      "  ^" },
    { "  ", E, 1, 1, "empty rule: expected an expression", "^~" },
    { "trace.has(s => s.name === '\\q')", E, 1, 28,
      "invalid escape '\\q' in string",
      "                           ^~" },
    { "/* open", E, 1, 1, "unterminated comment", "^~" },
    { "trace.has(s => s.tags[0 === 1)", E, 1, 30,
      "expected ']' to close '[' at 1:22",
      "                             ^" },

    /* names and suggestions */
    { "trace.has(span => span.nmae === 'x')", E, 1, 24,
      "unknown span field 'nmae'; did you mean 'name'?",
      "                       ^~~~" },
    { "trace.has(s => s.children.some(c => c.nmae === s.name))", E, 1, 39,
      "unknown span field 'nmae'; did you mean 'name'?",
      "                                      ^~~~" },
    { "trace.has(s => s.name === 'a'\n  && s.nmae === 'b')", E, 2, 8,
      "unknown span field 'nmae'; did you mean 'name'?",
      "       ^~~~" },
    { "trace.hsa(s => true)", E, 1, 7,
      "unknown trace method 'hsa'; did you mean 'has'?",
      "      ^~~" },
    { "trace.has(s => s.name.startWith('x'))", E, 1, 23,
      "unknown string method 'startWith'; did you mean 'startsWith'?",
      "                      ^~~~~~~~~" },
    { "trace.has(s => s.events.some(e => e.nam === 'x'))", E, 1, 37,
      "unknown event field 'nam'; did you mean 'name'?",
      "                                    ^~~" },
    { "trace.has(s => spna.name === 'x')", E, 1, 16,
      "unknown name 'spna' (names here: the lambda parameters and trace)",
      "               ^~~~" },
    { "trce.has('x')", E, 1, 1,
      "unknown name 'trce'; did you mean 'trace'?",
      "^~~~" },
    { "trace.spancount > 3", E, 1, 7,
      "unknown trace property 'spancount'; did you mean 'spanCount'?",
      "      ^~~~~~~~~" },
    { "trace.duration() > 3", E, 1, 7,
      "'duration' is a property, not a method: write trace.duration",
      "      ^~~~~~~~" },
    { "trace.has", E, 1, 7,
      "'has' is a method: call it, e.g. trace.has(span => ...)",
      "      ^~~" },
    { "trace.has(s => trace.has('x'))", E, 1, 16,
      "'trace' can't be used inside a lambda: a lambda looks at one value "
      "(for a span: its parent, children, events...)",
      "               ^~~~~" },

    /* enum values: warnings, the rule is still accepted */
    { "trace.has(span => span.status === 'TIMEOUT')", W, 1, 35,
      "'TIMEOUT' is not a span status (UNSET, OK, ERROR)",
      "                                  ^~~~~~~~~" },
    { "trace.has(span => span.status === 'error')", W, 1, 35,
      "'error' is not a span status (UNSET, OK, ERROR); did you mean 'ERROR'?",
      "                                  ^~~~~~~" },
    { "trace.has(span => 'SERVERX' !== span.kind)", W, 1, 19,
      "'SERVERX' is not a span kind (UNSPECIFIED, INTERNAL, SERVER, CLIENT, "
      "PRODUCER, CONSUMER)",
      "                  ^~~~~~~~~" },

    /* types */
    { "trace.has(span => span.duration === 'slow')", E, 1, 19,
      "cannot compare a number with a string: they are never equal "
      "(no implicit conversion)",
      "                  ^~~~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.has(span => span.name > 3)", E, 1, 19,
      "cannot compare a string with a number",
      "                  ^~~~~~~~~~~~~" },
    { "trace.has(span => span.name)", E, 1, 19,
      "the lambda of has() must return a condition, not a string",
      "                  ^~~~~~~~~" },
    { "trace.count(s => s.isRoot)", E, 1, 1,
      "a rule must be a condition (true or false), but this is a number",
      "^~~~~~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.where(s => s.isRoot)", E, 1, 1,
      "a rule must be a condition (true or false), but this is a scope "
      "(trace.where(...))",
      "^~~~~~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.has(s => s.name + 1 === 'x1')", E, 1, 16,
      "cannot add a string and a number (no implicit conversion)",
      "               ^~~~~~~~~~" },
    { "trace.has(s => s.attributes[1] === 2)", E, 1, 29,
      "attributes are looked up by string keys, not a number",
      "                            ^" },
    { "trace.has(s => s.isRoot) && trace.count(s => s.isRoot)", E, 1, 29,
      "'&&' combines conditions, but this is a number",
      "                            ^~~~~~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.has(s => s.children)", E, 1, 16,
      "the lambda of has() must return a condition, not an array of spans",
      "               ^~~~~~~~~~" },
    { "trace.has(s => s.name === 'a').within(trace.spanCount)", E, 1, 39,
      "within() needs a constant duration such as '5 seconds', not a number",
      "                                      ^~~~~~~~~~~~~~~" },
    { "trace.has(s => s.isRoot.within('1s'))", E, 1, 25,
      "within() applies to trace conditions such as trace.has(...), not to "
      "a span condition",
      "                        ^~~~~~" },
    { "trace.has(s => s.name === 'a').and(trace.has(s => s.isRoot)"
      ".within('1s')).within('2s')", E, 1, 75,
      "within() can't be applied to a condition that already has a within()",
      "                                                                      "
      "    ^~~~~~" },
    { "trace.has(x => x)", E, 1, 16,
      "the lambda of has() must return a condition, not a span",
      "               ^" },
    { "trace.has(s => s.attributes.k.some(s.name))", E, 1, 36,
      "some() needs a lambda such as x => ..., not a string",
      "                                   ^~~~~~" },
    { "trace.has(s => s => true)", E, 1, 16,
      "a lambda is not a value here: lambdas are arguments of has, missing, "
      "count, sequence, where, some and every",
      "               ^~~~~~~~~" },
    { "trace.has(s => s.name.matches(s.service))", E, 1, 31,
      "matches() needs a regular expression literal (/.../) or a constant "
      "string, not a string",
      "                              ^~~~~~~~~" },

    /* argument counts */
    { "trace.has(s => true, s => false)", E, 1, 1,
      "has() takes 1 argument, got 2",
      "^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.sequence()", E, 1, 1,
      "sequence() takes at least 1 argument, got 0",
      "^~~~~~~~~~~~~~~~" },
    { "trace.has(s => s.name.toLowerCase('x') === 'a')", E, 1, 16,
      "toLowerCase() takes no arguments, got 1",
      "               ^~~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.has(s => s.name.startsWith())", E, 1, 16,
      "startsWith() takes 1 argument, got 0",
      "               ^~~~~~~~~~~~~~~~~~~" },

    /* regexes and durations */
    { "trace.has(s => s.name.matches(/a(b/))", E, 1, 35,
      "invalid regular expression: missing closing parenthesis",
      "                                  ^" },
    { "trace.has(s => s.name.matches('a[b'))", E, 1, 31,
      "invalid regular expression: missing terminating ] for character "
      "class",
      "                              ^~~~~" },
    { "trace.has('a').within('5 parsecs')", E, 1, 23,
      "invalid duration '5 parsecs': write a number and a unit "
      "(ns, us, ms, s, m, h), e.g. '5 seconds'",
      "                      ^~~~~~~~~~~" },

    /* always true / false */
    { "trace.has(s => 1 === 1)", W, 1, 16,
      "condition is always true",
      "               ^~~~~~~" },
    { "trace.has(s => 'a' === 'b')", W, 1, 16,
      "condition is always false",
      "               ^~~~~~~~~~~" },
    { "trace.has(s => s.name === 'a' && false)", W, 1, 16,
      "condition is always false",
      "               ^~~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.has(s => s.name === 'a' || true)", W, 1, 16,
      "condition is always true",
      "               ^~~~~~~~~~~~~~~~~~~~~~" },
    { "trace.missing(s => false)", W, 1, 20,
      "condition is always false",
      "                   ^~~~~" },
    { "true", W, 1, 1, "condition is always true", "^~~~" },
};


Test(dsl_errors, table_of_diagnostics_is_exact)
{
    bt_diags_t  d;
    bt_rule_t  *r;
    size_t      i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const diag_case_t  *c = &cases[i];

        bt_diags_init(&d);
        r = bt_rule_compile(c->src, strlen(c->src), &d);
        cr_expect_eq(r != NULL, c->compiles, "%s: compiles %d", c->src,
                     r != NULL);
        cr_assert_geq(d.n, 1, "%s: no diagnostic", c->src);
        cr_expect_eq(d.items[0].severity, c->severity, "%s: severity",
                     c->src);
        cr_expect_str_eq(d.items[0].message, c->message, "%s:\n got %s",
                         c->src, d.items[0].message);
        cr_expect_eq(d.items[0].line, c->line, "%s: line %u", c->src,
                     d.items[0].line);
        cr_expect_eq(d.items[0].col, c->col, "%s: col %u", c->src,
                     d.items[0].col);
        cr_expect_str_eq(d.items[0].caret, c->caret, "%s: caret\n'%s'",
                         c->src, d.items[0].caret);
        bt_rule_free(r);
        bt_diags_free(&d);
    }
}


Test(dsl_errors, one_run_reports_independent_errors)
{
    const char  *src = "trace.has(s => s.nmae === 'x') && trace.hsa('y')";
    bt_diags_t   d;

    bt_diags_init(&d);
    cr_assert_null(bt_rule_compile(src, strlen(src), &d));
    cr_assert_eq(d.n_errors, 2);
    cr_assert_str_eq(d.items[0].message,
                     "unknown span field 'nmae'; did you mean 'name'?");
    cr_assert_str_eq(d.items[1].message,
                     "unknown trace method 'hsa'; did you mean 'has'?");
    bt_diags_free(&d);
}


Test(dsl_errors, formats_as_text_with_source_line_and_caret)
{
    const char  *src = "trace.has(span =>\n  span.nmae === 'x')";
    bt_diags_t   d;
    char        *s;

    bt_diags_init(&d);
    cr_assert_null(bt_rule_compile(src, strlen(src), &d));
    s = bt_diag_format(&d.items[0], "rules/pii.rule");
    cr_assert_str_eq(s,
        "rules/pii.rule:2:8: error: unknown span field 'nmae'; "
        "did you mean 'name'?\n"
        "  span.nmae === 'x')\n"
        "       ^~~~\n");
    free(s);
    bt_diags_free(&d);
}


Test(dsl_errors, columns_count_characters_not_bytes)
{
    /* "é" is two bytes; the column after it is still one character on */
    const char  *src = "trace.has(s => s.name === 'é' && s.nmae)";
    bt_diags_t   d;

    bt_diags_init(&d);
    cr_assert_null(bt_rule_compile(src, strlen(src), &d));
    cr_assert_eq(d.items[0].col, 36);
    cr_assert_eq(d.items[0].offset, 36);
    cr_assert_str_eq(d.items[0].caret,
                     "                                   ^~~~");
    bt_diags_free(&d);
}


Test(dsl_errors, formats_as_json)
{
    const char  *src = "trace.has(span => span.status === 'TIMEOUT')";
    bt_diags_t   d;
    bt_rule_t   *r;
    json_t      *a, *o;

    bt_diags_init(&d);
    r = bt_rule_compile(src, strlen(src), &d);
    cr_assert_not_null(r);
    a = bt_diags_json(&d);
    cr_assert(json_is_array(a));
    cr_assert_eq(json_array_size(a), 1);
    o = json_array_get(a, 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "severity")),
                     "warning");
    cr_assert_eq(json_integer_value(json_object_get(o, "line")), 1);
    cr_assert_eq(json_integer_value(json_object_get(o, "column")), 35);
    cr_assert_eq(json_integer_value(json_object_get(o, "end_column")), 44);
    cr_assert_str_eq(json_string_value(json_object_get(o, "message")),
                     "'TIMEOUT' is not a span status (UNSET, OK, ERROR)");
    cr_assert_str_eq(json_string_value(json_object_get(o, "source_line")),
                     src);
    cr_assert_str_eq(json_string_value(json_object_get(o, "caret")),
                     "                                  ^~~~~~~~~");
    json_decref(a);
    bt_rule_free(r);
    bt_diags_free(&d);
}


Test(dsl_errors, limits_refuse_the_rule)
{
    char        *src;
    bt_diags_t   d;
    size_t       i, n;

    /* source length */
    n = BT_DSL_MAX_SOURCE + 1;
    src = malloc(n);
    memset(src, ' ', n);
    memcpy(src, "trace.has('a')", 14);
    bt_diags_init(&d);
    cr_assert_null(bt_rule_compile(src, n, &d));
    cr_assert_str_eq(d.items[0].message,
                     "rule is too long (65537 bytes; the limit is 65536)");
    bt_diags_free(&d);

    /* nesting */
    n = 0;
    n += (size_t) sprintf(src + n, "trace.has(s => ");
    for (i = 0; i < 200; i++) {
        src[n++] = '(';
    }
    n += (size_t) sprintf(src + n, "true");
    for (i = 0; i < 200; i++) {
        src[n++] = ')';
    }
    src[n++] = ')';
    bt_diags_init(&d);
    cr_assert_null(bt_rule_compile(src, n, &d));
    cr_assert_str_eq(d.items[0].message,
                     "expression nested too deeply (the limit is 128 levels)");
    bt_diags_free(&d);

    /* clauses */
    n = 0;
    for (i = 0; i < BT_DSL_MAX_CLAUSES + 1; i++) {
        n += (size_t) sprintf(src + n, "%strace.has('a%zu')",
                              i ? " || " : "", i);
    }
    bt_diags_init(&d);
    cr_assert_null(bt_rule_compile(src, n, &d));
    cr_assert_eq(d.n_errors, 1);
    cr_assert_str_eq(d.items[0].message,
                     "too many clauses (the limit is 64 per rule)");
    cr_assert_eq(d.items[0].offset, (unsigned) (strstr(src, "'a64'") - src));
    bt_diags_free(&d);

    /* exactly at the limit compiles */
    n = 0;
    for (i = 0; i < BT_DSL_MAX_CLAUSES; i++) {
        n += (size_t) sprintf(src + n, "%strace.has('a%zu')",
                              i ? " || " : "", i);
    }
    bt_diags_init(&d);
    bt_rule_free(bt_rule_compile(src, n, &d));
    cr_assert_eq(d.n_errors, 0);
    bt_diags_free(&d);
    free(src);
}


Test(dsl_errors, diags_may_be_null)
{
    cr_assert_null(bt_rule_compile("trace.", 6, NULL));
    bt_rule_free(bt_rule_compile("trace.has('x')", 14, NULL));
}


Test(dsl_errors, invalid_utf8_still_gives_json)
{
    const char  src[] = "trace.has(s => s.status === '\xff\xfe') \xc3";
    bt_diags_t   d;
    json_t      *a;

    bt_diags_init(&d);
    cr_assert_null(bt_rule_compile(src, sizeof(src) - 1, &d));
    a = bt_diags_json(&d);
    cr_assert_not_null(a, "every diagnostic must convert to JSON");
    cr_assert_str_eq(d.items[0].message, "unexpected character '?'");
    cr_assert_str_eq(d.items[0].source_line,
                     "trace.has(s => s.status === '?" "?') ?");
    json_decref(a);
    bt_diags_free(&d);
}
