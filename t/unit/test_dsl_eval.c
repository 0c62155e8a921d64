/*
 * test_dsl_eval.c - what rules mean: every construct on a trace where it
 * fires and one where it doesn't, the four rules of the language
 * reference, and witnesses.  Each case runs twice, through bt_rule_eval and
 * through an indexed rule set, and both must agree.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/unit/dsl_fixtures.h"

typedef struct {
    const char       *rule;
    const sb_span_t  *trace;
    int               fires;
    const char       *witnesses;    /* NULL: don't check */
} case_t;


/* "[2][3,4]": per clause, the span ids (hex, leading zeros dropped) */
static void
format_witnesses(const bt_trace_t *t, const bt_witness_t *w, char *out,
    size_t cap)
{
    uint32_t  c, k, j;
    size_t    len;
    char      id[17];

    len = 0;
    out[0] = '\0';
    for (c = 0; c < w->nclauses; c++) {
        len += (size_t) snprintf(out + len, cap - len, "[");
        for (k = w->off[c]; k < w->off[c + 1]; k++) {
            const uint8_t  *sid = t->spans[w->spans[k]].s.span_id;

            for (j = 0; j < 8; j++) {
                snprintf(id + 2 * j, 3, "%02x", sid[j]);
            }
            for (j = 0; j < 15 && id[j] == '0'; j++) { /* void */ }
            len += (size_t) snprintf(out + len, cap - len, "%s%s",
                                     k > w->off[c] ? "," : "", id + j);
        }
        len += (size_t) snprintf(out + len, cap - len, "]");
    }
}


typedef struct {
    const bt_trace_t  *t;
    char               w[1024];
    int                calls;
} fired_t;


static int
on_fire(void *arg, uint32_t index, void *user, const bt_witness_t *w)
{
    fired_t  *f = arg;

    f->calls++;
    format_witnesses(f->t, w, f->w, sizeof(f->w));
    return 0;
}


static void
run_case(const case_t *c)
{
    bt_diags_t      d;
    bt_rule_t      *r;
    bt_ruleset_t   *set;
    bt_eval_ctx_t  *ctx;
    sb_batch_t      b;
    bt_trace_t      t;
    fired_t         f1, f2;
    int             rc1, rc2;
    char           *msg;

    bt_diags_init(&d);
    r = bt_rule_compile(c->rule, strlen(c->rule), &d);
    if (r == NULL) {
        msg = d.n ? bt_diag_format(&d.items[0], "rule") : NULL;
        cr_assert_fail("rule does not compile: %s\n%s", c->rule,
                 msg ? msg : "(no diagnostic)");
    }

    bt_trace_init(&t);
    fixture_build(&b, &t, c->trace);
    ctx = bt_eval_ctx_new();
    cr_assert_not_null(ctx);

    memset(&f1, 0, sizeof(f1));
    f1.t = &t;
    rc1 = bt_rule_eval(r, &t, ctx, on_fire, &f1);

    set = bt_ruleset_new();
    cr_assert_eq(bt_ruleset_add(set, r, NULL), 0);
    cr_assert_eq(bt_ruleset_build(set), 0);
    memset(&f2, 0, sizeof(f2));
    f2.t = &t;
    rc2 = bt_ruleset_eval(set, &t, ctx, on_fire, &f2);

    cr_expect_eq(rc1, c->fires, "%s: fired %d, expected %d", c->rule, rc1,
                 c->fires);
    cr_expect_eq(rc2, c->fires, "%s: rule set fired %d, expected %d",
                 c->rule, rc2, c->fires);
    cr_expect_eq(f1.calls, c->fires, "%s: callback count", c->rule);
    if (c->fires && c->witnesses) {
        cr_expect_str_eq(f1.w, c->witnesses, "%s: witnesses %s, expected %s",
                         c->rule, f1.w, c->witnesses);
        cr_expect_str_eq(f2.w, c->witnesses, "%s: set witnesses %s",
                         c->rule, f2.w);
    }

    bt_ruleset_free(set);
    bt_rule_free(r);
    bt_eval_ctx_free(ctx);
    bt_trace_free(&t);
    sb_free(&b);
    bt_diags_free(&d);
}


static void
run_table(const case_t *cases, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        run_case(&cases[i]);
    }
}


/* --- the four rules of the reference ------------------------------------ */

#define RETRY_STORM \
    "trace.has(span => span.name === 'auth.login' && span.status === 'ERROR')\n" \
    "  .and(trace.has(span => span.name === 'auth.login' && span.status === 'OK'))\n" \
    "  .within('5 seconds')"

#define PII \
    "trace.has(span => span.attributes['data.contains_pii'] === true)\n" \
    "  .and(trace.missing(span => span.name === 'audit.log'))"

#define SLOW_PAYMENT \
    "trace.where(span => span.name.startsWith('payment'))\n" \
    "  .has(span => span.name.includes('db.query') && span.duration > 1000)"

#define TIMEOUT_RULE \
    "trace.where(span => span.name.startsWith(\"payment\")).has(span => span.status === \"TIMEOUT\")"

Test(dsl_eval, the_four_reference_rules_mean_what_they_say)
{
    static const case_t  cases[] = {
        { RETRY_STORM, auth_2s, 1, "[2][3]" },
        { RETRY_STORM, auth_10s, 0, NULL },
        { RETRY_STORM, pii_no_audit, 0, NULL },
        { PII, pii_no_audit, 1, "[2]" },
        { PII, pii_with_audit, 0, NULL },
        { PII, no_pii, 0, NULL },
        { SLOW_PAYMENT, pay_slow, 1, "[4]" },
        { SLOW_PAYMENT, pay_fast, 0, NULL },
        { SLOW_PAYMENT, slow_outside, 0, NULL },
        { TIMEOUT_RULE, pay_slow, 0, NULL },
    };

    run_table(cases, sizeof(cases) / sizeof(cases[0]));
}


Test(dsl_eval, the_timeout_rule_compiles_with_a_warning)
{
    bt_diags_t   d;
    bt_rule_t   *r;
    const char  *src = TIMEOUT_RULE;

    bt_diags_init(&d);
    r = bt_rule_compile(src, strlen(src), &d);
    cr_assert_not_null(r);
    cr_assert_eq(d.n_errors, 0);
    cr_assert_eq(d.n_warnings, 1);
    cr_assert_str_eq(d.items[0].message,
                     "'TIMEOUT' is not a span status (UNSET, OK, ERROR)");
    cr_assert_eq(d.items[0].line, 1);
    cr_assert_eq(d.items[0].col, 82);
    bt_rule_free(r);
    bt_diags_free(&d);
}


/* --- trace level ---------------------------------------------------------- */

Test(dsl_eval, trace_level_constructs)
{
    static const case_t  cases[] = {
        /* has, has('name') shorthand */
        { "trace.has(s => s.name === 'cache.get')", rich, 1, "[c3]" },
        { "trace.has(s => s.name === 'nope')", rich, 0, NULL },
        { "trace.has('db.query')", rich, 1, "[b2]" },
        { "trace.has('db.queries')", rich, 0, NULL },
        { "trace.has(s => s.service === 'db')", rich, 1, "[b2,d4]" },
        /* missing */
        { "trace.missing(s => s.name === 'nope')", rich, 1, "" },
        { "trace.missing(s => s.kind === 'CLIENT')", rich, 0, NULL },
        { "trace.missing('x')", empty_trace, 1, "" },
        /* count */
        { "trace.count(s => s.kind === 'CLIENT') === 2", rich, 1, "" },
        { "trace.count(s => s.kind === 'CLIENT') > 2", rich, 0, NULL },
        { "trace.count('db.query') + 1 === 2", rich, 1, NULL },
        /* sequence */
        { "trace.sequence('login', 'pay', 'ship')", seq_ok, 1, "[2,3,4]" },
        { "trace.sequence('login', 'pay', 'ship')", seq_reversed, 0, NULL },
        { "trace.sequence(s => s.name === 'ship', s => s.name === 'login')",
          seq_reversed, 1, "[2,4]" },
        { "trace.sequence('pay', 'pay')", seq_ok, 0, NULL },
        /* equal start times: step 2 must leave 'b' to step 3 */
        { "trace.sequence('a', s => s.name === 'b' || s.name === 'c', 'b')",
          ties, 1, "[1,3,2]" },
        { "trace.sequence('c', 'b', 'a')", ties, 1, "[3,2,1]" },
        { "trace.sequence('a', s => s.name !== 'c', 'b')", ties, 0, NULL },
        { "trace.sequence(s => s.name !== 'b', s => s.name !== 'b', 'b')",
          ties, 1, "[1,3,2]" },
        { "trace.sequence('a', s => s.name === 'b', 'b')", ties, 0, NULL },
        { "trace.sequence(s => s.parent !== undefined, "
          "s => s.parent !== undefined)", seq_ok, 1, "[2,3]" },
        /* where: matching spans and all their descendants */
        { "trace.where(s => s.name === 'db.query').has('db.connect')", rich,
          1, "[d4]" },
        { "trace.where(s => s.name === 'cache.get').has('db.connect')", rich,
          0, NULL },
        { "trace.where(s => s.name === 'db.query').missing('cache.get')",
          rich, 1, "" },
        { "trace.where(s => s.service === 'api').count(s => true) === 4",
          rich, 1, NULL },
        { "trace.where(s => s.name === 'db.query')"
          ".where(s => s.name === 'db.connect').count(s => true) === 1",
          rich, 1, NULL },
        { "trace.where(s => s.name === 'db.connect')"
          ".where(s => s.name === 'db.query').has(s => true)", rich, 0,
          NULL },
        { "trace.where('db.query').sequence('db.query', 'db.connect')",
          rich, 1, "[b2,d4]" },
        /* within */
        { "trace.has('login').and(trace.has('ship')).within('21ms')",
          seq_ok, 1, "[2][4]" },
        { "trace.has('login').and(trace.has('ship')).within('19ms')",
          seq_ok, 0, NULL },
        { "trace.has('login').and(trace.has('ship')).within(21)", seq_ok, 1,
          NULL },
        { "trace.sequence('login', 'ship').within('1 minute')", seq_ok, 1,
          "[2,4]" },
        { "(trace.has('login') && !trace.has('nope')).within('1s')", seq_ok,
          1, "[2]" },
        { "(trace.has('login') && trace.missing('pay')).within('1s')",
          seq_ok, 0, NULL },
        { "(trace.has('login') || trace.has('nope')).within('1s')", seq_ok,
          1, "[2][]" },
        /* combinators */
        { "trace.has('login') && trace.has('pay')", seq_ok, 1, "[2][3]" },
        { "trace.has('login') && trace.has('nope')", seq_ok, 0, NULL },
        { "trace.has('nope') || trace.has('pay')", seq_ok, 1, "[][3]" },
        { "!trace.has('nope')", seq_ok, 1, "" },
        { "trace.has('nope').not()", seq_ok, 1, "" },
        { "trace.has('pay').not()", seq_ok, 0, NULL },
        { "trace.has('nope').or(trace.has('ship'))", seq_ok, 1, "[][4]" },
        { "trace.has('login').and(trace.has('nope'))", seq_ok, 0, NULL },
        /* trace properties */
        { "trace.duration > 314.99 && trace.duration < 315.01", rich, 1, NULL },
        { "trace.duration > 315.01", rich, 0, NULL },
        { "trace.spanCount === 4", rich, 1, NULL },
        { "trace.spanCount === 0", empty_trace, 1, NULL },
        { "trace.rootName === 'GET /api/users'", rich, 1, NULL },
        { "trace.rootName.startsWith('POST')", rich, 0, NULL },
        { "trace.rootService === 'api'", rich, 1, NULL },
        { "trace.rootName === undefined", empty_trace, 1, NULL },
        { "trace.services.includes('db')", rich, 1, NULL },
        { "trace.services.includes('auth')", rich, 0, NULL },
        { "trace.services.length === 2", rich, 1, NULL },
        { "trace.services.some(x => x.startsWith('d'))", rich, 1, NULL },
        { "trace.services.every(x => x.startsWith('d'))", rich, 0, NULL },
        { "trace.services[0] === 'api'", rich, 1, NULL },
        { "trace.spanCount > 4", rich, 0, NULL },
        { "trace.rootService === 'db'", rich, 0, NULL },
        { "trace.services.length === 0", empty_trace, 1, NULL },
        { "trace.services[5] === undefined", rich, 1, NULL },
        /* lexical forms: comments, (param) =>, escapes, numbers */
        { "// leading comment\ntrace.has((s) => /* inline */ s.isRoot)",
          rich, 1, "[a1]" },
        { "trace.has(s => s.name === \"GET /api/users\" && "
          "s.statusMessage !== 'it\\'s' && s.status === \"\\u0045RROR\")",
          rich, 1, "[a1]" },
        { "trace.has(s => s.duration < 1e1 && s.duration > 4.5e0)", rich, 1,
          "[c3]" },
        { "trace.has(s => s.duration < -1)", rich, 0, NULL },
    };

    run_table(cases, sizeof(cases) / sizeof(cases[0]));
}


/* --- span level --------------------------------------------------------------- */

#define H(x)  "trace.has(s => " x ")"

Test(dsl_eval, span_fields)
{
    static const case_t  cases[] = {
        { H("s.name === 'db.query'"), rich, 1, NULL },
        { H("s.status === 'ERROR' && s.statusMessage === 'boom'"), rich, 1,
          "[a1]" },
        { H("s.statusMessage === 'nope'"), rich, 0, NULL },
        { H("s.status === 'UNSET' && s.name === 'cache.get'"), rich, 1,
          NULL },
        { H("s.kind === 'SERVER'"), rich, 1, "[a1]" },
        { H("s.kind === 'PRODUCER'"), rich, 0, NULL },
        { H("s.duration > 249.99 && s.duration < 250.01"), rich, 1, "[a1]" },
        { H("s.duration > 300"), rich, 0, NULL },
        { H("s.startTime > 1700000000009.99 && s.startTime < 1700000000010.01"), rich, 1, "[a1]" },
        { H("s.endTime - s.startTime > 4.99 && s.endTime - s.startTime < 5.01"), rich, 1, "[c3]" },
        { H("s.spanId === '00000000000000a1'"), rich, 1, "[a1]" },
        { H("s.traceId === '00000000000000000000000000000001'"), rich, 1,
          NULL },
        { H("s.parentSpanId === ''"), rich, 1, "[a1]" },
        { H("s.parentSpanId === '00000000000000b2'"), rich, 1, "[d4]" },
        { H("s.service === 'db' && s.kind === 'CLIENT'"), rich, 1,
          "[b2,d4]" },
        { H("s.scope === 'io.opentelemetry.http'"), rich, 1, "[a1]" },
        { H("s.scope === 'x'"), rich, 0, NULL },
        { H("s.isRoot && s.name === 'GET /api/users'"), rich, 1, NULL },
        { H("s.isRoot && s.name === 'db.query'"), rich, 0, NULL },
        { H("s.resource['host.name'] === 'h1'"), rich, 1, "[a1]" },
        { H("s.resource.nope === undefined && s.isRoot"), rich, 1, NULL },
        { H("s.parent.name === 'db.query'"), rich, 1, "[d4]" },
        { H("s.parent === undefined"), rich, 1, "[a1]" },
        { H("s.parent.parent.name === 'GET /api/users'"), rich, 1, "[d4]" },
        { H("s.children.length === 2"), rich, 1, "[a1]" },
        { H("s.children.length > 2"), rich, 0, NULL },
        { H("s.children.some(c => c.duration > s.duration)"), rich, 1,
          "[b2]" },
        { H("s.children.length > 0 && s.children.every(c => c.service === 'db')"),
          rich, 1, "[b2]" },
        { H("s.children[1].name === 'cache.get'"), rich, 1, "[a1]" },
        /* conditions the index and prefilters read: same meaning */
        { H("s.status !== 'OK' && s.kind === 'CLIENT'"), rich, 1, "[d4]" },
        { H("s.duration >= 300 && s.status === 'ERROR'"), rich, 1, "[d4]" },
        { H("s.duration > 300 && s.status === 'ERROR'"), rich, 0, NULL },
        { H("s.status === 'TIMEOUT' || s.isRoot"), rich, 1, "[a1]" },
        { H("s.kind !== 'SERVER' && s.kind !== 'CLIENT'"), rich, 1, "[c3]" },
        { H("s.service === 'db' && s.name.includes('conn')"), rich, 1,
          "[d4]" },
        { H("s.attributes['http.status_code'] === 500.0"), rich, 1, "[a1]" },
        { H("s.attributes['http.status_code'] == 500 && s.kind === 'SERVER'"),
          rich, 1, "[a1]" },
        { H("s.attributes.ratio === 0.5 || s.attributes['db.rows'] === 3"),
          rich, 1, "[a1,b2]" },
    };

    run_table(cases, sizeof(cases) / sizeof(cases[0]));
}


Test(dsl_eval, attributes_keep_their_types)
{
    static const case_t  cases[] = {
        { H("s.attributes['http.method'] === 'GET'"), rich, 1, "[a1]" },
        { H("s.attributes['http.status_code'] === 500"), rich, 1, NULL },
        { H("s.attributes['http.status_code'] === '500'"), rich, 0, NULL },
        { H("s.attributes['http.status_code'] >= 500.0"), rich, 1, NULL },
        { H("s.attributes['http.status_code'] == 500"), rich, 1, NULL },
        { H("s.attributes.ratio === 0.5"), rich, 1, NULL },
        { H("s.attributes.ratio < 1"), rich, 1, NULL },
        { H("s.attributes.tags[0] === 'blue'"), rich, 1, NULL },
        { H("s.attributes.tags[2] === 7"), rich, 1, NULL },
        { H("s.attributes.tags[3] === undefined"), rich, 1, NULL },
        { H("s.attributes.tags.length === 3"), rich, 1, NULL },
        { H("s.attributes.tags.includes('green')"), rich, 1, NULL },
        { H("s.attributes.tags.includes('red')"), rich, 0, NULL },
        { H("s.attributes.tags.some(t => t === 7)"), rich, 1, NULL },
        { H("s.attributes.tags.every(t => t === 7)"), rich, 0, NULL },
        { H("s.attributes.m.x === 1"), rich, 1, NULL },
        { H("s.attributes['m']['y'] === 'why'"), rich, 1, NULL },
        { H("s.attributes.m.z === undefined && s.isRoot"), rich, 1, NULL },
        { H("s.attributes.raw === 'ab'"), rich, 1, NULL },
        { H("s.attributes.nothing === null"), rich, 1, NULL },
        { H("s.attributes.missing === undefined && s.isRoot"), rich, 1,
          NULL },
        { H("s.attributes.missing == null && s.isRoot"), rich, 1, NULL },
        { H("s.attributes.missing === null"), rich, 0, NULL },
        { H("s.attributes.missing > 1"), rich, 0, NULL },
        { H("s.attributes.missing < 1"), rich, 0, NULL },
        { H("s.attributes.missing.startsWith('x') === undefined && s.isRoot"),
          rich, 1, NULL },
        { H("s.attributes['db.rows'] + 1 === 4"), rich, 1, "[b2]" },
        { H("s.attributes['db.rows'] % 2 === 1"), rich, 1, NULL },
        { H("s.attributes['db.rows'] * 2 / 3 === 2"), rich, 1, NULL },
        { H("-s.attributes['db.rows'] === -3"), rich, 1, NULL },
    };

    run_table(cases, sizeof(cases) / sizeof(cases[0]));
}


Test(dsl_eval, strings_regexes_events_and_links)
{
    static const case_t  cases[] = {
        { H("s.name.startsWith('db.')"), rich, 1, "[b2,d4]" },
        { H("s.name.endsWith('.get')"), rich, 1, "[c3]" },
        { H("s.name.includes('/api/')"), rich, 1, "[a1]" },
        { H("s.name.includes('/API/')"), rich, 0, NULL },
        { H("s.attributes.Mixed.toLowerCase() === 'hello'"), rich, 1, NULL },
        { H("s.attributes.Mixed.toUpperCase() === 'HELLO'"), rich, 1, NULL },
        { H("s.name.length === 8"), rich, 1, "[b2]" },
        { H("s.name + '!' === 'db.query!'"), rich, 1, "[b2]" },
        { H("s.name < 'C'"), rich, 0, NULL },
        { H("s.name > 'd' && s.name < 'db.r'"), rich, 1, "[b2,d4]" },
        { H("s.name.matches(/^db\\.(query|connect)$/)"), rich, 1,
          "[b2,d4]" },
        { H("s.name.matches('^DB')"), rich, 0, NULL },
        { H("s.name.matches(/^DB/i)"), rich, 1, "[b2,d4]" },
        { H("/users$/.test(s.name)"), rich, 1, "[a1]" },
        { H("/^x/.test(s.name)"), rich, 0, NULL },
        { H("s.attributes['db.statement'].matches(/WHERE\\s+id/)"), rich, 1,
          "[b2]" },
        { H("['cache.get', 'x'].includes(s.name)"), rich, 1, "[c3]" },
        { H("['a', 'b'].includes(s.name)"), rich, 0, NULL },
        { H("['a', s.name].length === 2 && s.isRoot"), rich, 1, NULL },
        { H("s.events.length === 2"), rich, 1, "[a1]" },
        { H("s.events.some(e => e.name === 'exception' && "
            "e.attributes['exception.type'] === 'TimeoutError')"), rich, 1,
          "[a1]" },
        { H("s.events.some(e => e.name === 'panic')"), rich, 0, NULL },
        { H("s.events[1].name === 'retry'"), rich, 1, NULL },
        { H("s.events[0].time - s.startTime > 1.99 && s.events[0].time - s.startTime < 2.01"), rich, 1, NULL },
        { H("s.events.every(e => e.name.length > 3)"), rich, 1, NULL },
        { H("s.links.length === 1 && s.links[0].spanId === '0000000000000def'"),
          rich, 1, "[a1]" },
        { H("s.links.some(l => l.attributes.why === 'batch' && "
            "l.traceId.endsWith('abc'))"), rich, 1, "[a1]" },
        { H("s.links.some(l => l.attributes.why === 'other')"), rich, 0,
          NULL },
        { H("s.name === 'db.query' || s.name === 'cache.get'"), rich, 1,
          "[b2,c3]" },
        { H("!(s.name === 'db.query') && s.service === 'db'"), rich, 1,
          "[d4]" },
        { H("(s.attributes.missing || 'dflt') === 'dflt' && s.isRoot"), rich,
          1, NULL },
    };

    run_table(cases, sizeof(cases) / sizeof(cases[0]));
}
