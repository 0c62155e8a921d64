/*
 * check.c - resolves names, computes static types and reports the errors
 * and warnings of the language reference (docs/dsl.md), each pointing at
 * the exact source range.  Checking goes on after an error where it can,
 * so one run reports every independent mistake; a subtree with an error
 * gets the type TY_ERR, which silences follow-on errors about it.
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diag.h"

#define TY_ERR  255


typedef struct {
    const char  *name;
    uint8_t      ty;
    uint16_t     opc;
} field_t;

static const field_t  span_fields[] = {
    { "name", TY_STR, OP_F_NAME },
    { "status", TY_STR, OP_F_STATUS },
    { "statusMessage", TY_STR, OP_F_STATUSMSG },
    { "kind", TY_STR, OP_F_KIND },
    { "duration", TY_NUM, OP_F_DURATION },
    { "startTime", TY_NUM, OP_F_START },
    { "endTime", TY_NUM, OP_F_END },
    { "traceId", TY_STR, OP_F_TRACEID },
    { "spanId", TY_STR, OP_F_SPANID },
    { "parentSpanId", TY_STR, OP_F_PARENTID },
    { "service", TY_STR, OP_F_SERVICE },
    { "isRoot", TY_BOOL, OP_F_ISROOT },
    { "attributes", TY_MAP, OP_F_ATTRS },
    { "resource", TY_MAP, OP_F_RESOURCE },
    { "scope", TY_STR, OP_F_SCOPE },
    { "events", TY_EVENTS, OP_F_EVENTS },
    { "links", TY_LINKS, OP_F_LINKS },
    { "parent", TY_SPAN, OP_F_PARENT },
    { "children", TY_SPANS, OP_F_CHILDREN },
    { NULL, 0, 0 }
};

static const field_t  event_fields[] = {
    { "name", TY_STR, OP_E_NAME },
    { "time", TY_NUM, OP_E_TIME },
    { "attributes", TY_MAP, OP_E_ATTRS },
    { NULL, 0, 0 }
};

static const field_t  link_fields[] = {
    { "traceId", TY_STR, OP_L_TRACEID },
    { "spanId", TY_STR, OP_L_SPANID },
    { "attributes", TY_MAP, OP_L_ATTRS },
    { NULL, 0, 0 }
};

static const field_t  trace_fields[] = {
    { "duration", TY_NUM, OP_T_DURATION },
    { "spanCount", TY_NUM, OP_T_SPANCOUNT },
    { "rootName", TY_STR, OP_T_ROOTNAME },
    { "rootService", TY_STR, OP_T_ROOTSERVICE },
    { "services", TY_STRS, OP_T_SERVICES },
    { NULL, 0, 0 }
};

static const char  *trace_methods[] = {
    "has", "missing", "count", "sequence", "where", NULL
};
static const char  *cond_methods[] = { "and", "or", "not", "within", NULL };
static const char  *string_methods[] = {
    "startsWith", "endsWith", "includes", "toLowerCase", "toUpperCase",
    "matches", NULL
};
static const char  *array_methods[] = { "includes", "some", "every", NULL };
static const char  *any_methods[] = {
    "startsWith", "endsWith", "includes", "toLowerCase", "toUpperCase",
    "matches", "some", "every", NULL
};

static const char  *statuses[] = { "UNSET", "OK", "ERROR", NULL };
static const char  *kinds[] = {
    "UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER",
    NULL
};


static int check(checker_t *ck, node_t *n);


static const char *
ty_name(int ty)
{
    switch (ty) {
    case TY_UNDEF:  return "undefined";
    case TY_NULL:   return "null";
    case TY_BOOL:   return "a boolean";
    case TY_NUM:    return "a number";
    case TY_STR:    return "a string";
    case TY_REGEX:  return "a regular expression";
    case TY_SPAN:   return "a span";
    case TY_SPANS:  return "an array of spans";
    case TY_EVENT:  return "an event";
    case TY_EVENTS: return "an array of events";
    case TY_LINK:   return "a link";
    case TY_LINKS:  return "an array of links";
    case TY_MAP:    return "a map";
    case TY_ARR:    return "an array";
    case TY_STRS:   return "an array of strings";
    case TY_LAMBDA: return "a lambda";
    case TY_TRACE:  return "the trace";
    case TY_SCOPE:  return "a scope (trace.where(...))";
    default:        return "a value";
    }
}


static int
is_array(int ty)
{
    return ty == TY_ARR || ty == TY_STRS || ty == TY_SPANS
           || ty == TY_EVENTS || ty == TY_LINKS;
}


static int
elem_type(int ty)
{
    switch (ty) {
    case TY_STRS:   return TY_STR;
    case TY_SPANS:  return TY_SPAN;
    case TY_EVENTS: return TY_EVENT;
    case TY_LINKS:  return TY_LINK;
    default:        return TY_ANY;
    }
}


static int
is_value(int ty)
{
    return ty != TY_LAMBDA && ty != TY_TRACE && ty != TY_SCOPE;
}


static void
note(checker_t *ck, bt_diag_severity_t sev, uint32_t start, uint32_t end,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
note(checker_t *ck, bt_diag_severity_t sev, uint32_t start, uint32_t end,
    const char *fmt, ...)
{
    va_list   ap;
    char     *msg;

    if (sev == BT_DIAG_ERROR) {
        ck->errors++;
    }

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0) {
        va_end(ap);
        ck->oom = 1;
        return;
    }
    va_end(ap);

    if (bt_diag_add(ck->diags, ck->src, ck->len, sev, start, end, "%s", msg)
        != 0)
    {
        ck->oom = 1;
    }
    free(msg);
}


#define ERR(ck, s, e, ...)   note(ck, BT_DIAG_ERROR, s, e, __VA_ARGS__)
#define WARN(ck, s, e, ...)  note(ck, BT_DIAG_WARNING, s, e, __VA_ARGS__)


uint32_t
dsl_edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
    uint32_t  d[64][64], i, j, best;

    /* optimal string alignment: swapping two letters is one edit */
    if (an >= 63 || bn >= 63) {
        return 99;
    }

    for (i = 0; i <= an; i++) {
        d[i][0] = i;
    }
    for (j = 0; j <= bn; j++) {
        d[0][j] = j;
    }
    for (i = 1; i <= an; i++) {
        for (j = 1; j <= bn; j++) {
            best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) {
                best = d[i - 1][j] + 1;
            }
            if (d[i][j - 1] + 1 < best) {
                best = d[i][j - 1] + 1;
            }
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && d[i - 2][j - 2] + 1 < best)
            {
                best = d[i - 2][j - 2] + 1;
            }
            d[i][j] = best;
        }
    }
    return d[an][bn];
}


/* The closest name within a small distance, or NULL. */
static const char *
nearest(const char *s, size_t n, const char *const *names,
    const field_t *fields)
{
    const char  *best, *cand;
    uint32_t     d, bestd, limit;
    size_t       i;

    best = NULL;
    bestd = 99;
    limit = n <= 3 ? 1 : (n <= 6 ? 2 : 3);

    for (i = 0; ; i++) {
        cand = names ? names[i] : fields[i].name;
        if (cand == NULL) {
            break;
        }
        d = dsl_edit_distance(s, n, cand, strlen(cand));
        if (d < bestd) {
            bestd = d;
            best = cand;
        }
    }
    return bestd <= limit ? best : NULL;
}


static int
name_is(const node_t *n, const char *s)
{
    return n->slen == strlen(s) && memcmp(n->s, s, n->slen) == 0;
}


static int
in_list(const node_t *n, const char *const *names)
{
    size_t  i;

    for (i = 0; names[i]; i++) {
        if (name_is(n, names[i])) {
            return 1;
        }
    }
    return 0;
}


static const field_t *
find_field(const field_t *f, const node_t *n)
{
    for ( ; f->name; f++) {
        if (name_is(n, f->name)) {
            return f;
        }
    }
    return NULL;
}


/* "unknown span field 'nmae'; did you mean 'name'?" */
static int
unknown(checker_t *ck, const node_t *n, const char *what,
    const char *const *names, const field_t *fields,
    const char *const *names2, const field_t *fields2)
{
    const char  *s;

    s = nearest(n->s, n->slen, names, fields);
    if (s == NULL && (names2 || fields2)) {
        s = nearest(n->s, n->slen, names2, fields2);
    }
    if (s) {
        ERR(ck, n->nstart, n->nend, "unknown %s '%.*s'; did you mean '%s'?",
            what, (int) n->slen, n->s, s);
    } else {
        ERR(ck, n->nstart, n->nend, "unknown %s '%.*s'", what,
            (int) n->slen, n->s);
    }
    return TY_ERR;
}


static int
set(node_t *n, int ty, int opc)
{
    n->ty = (uint8_t) ty;
    n->opc = (uint16_t) opc;
    return ty;
}


static void
add_regex(checker_t *ck, dsl_regex_t *re)
{
    dsl_regex_t  **nr;
    uint32_t       cap;

    if (ck->nregexes == ck->capregexes) {
        cap = ck->capregexes ? ck->capregexes * 2 : 4;
        nr = realloc(ck->regexes, cap * sizeof(*nr));
        if (nr == NULL) {
            dsl_regex_free(re);
            ck->oom = 1;
            return;
        }
        ck->regexes = nr;
        ck->capregexes = cap;
    }
    ck->regexes[ck->nregexes++] = re;
}


/* Compiles the pattern of a regex literal or constant string into n->ptr. */
static int
compile_regex(checker_t *ck, node_t *n, uint32_t options)
{
    char          msg[256];
    size_t        off;
    dsl_regex_t  *re;
    uint32_t      at;

    re = dsl_regex_compile(n->s, n->slen, options, msg, sizeof(msg), &off);
    if (re == NULL) {
        /* point into the pattern when the offset maps to the source */
        at = n->kind == N_REGEX ? n->start + 1 + (uint32_t) off : n->start;
        if (at >= n->end) {
            at = n->start;
        }
        ERR(ck, at, n->kind == N_REGEX ? at + 1 : n->end,
            "invalid regular expression: %s", msg);
        return -1;
    }
    add_regex(ck, re);
    n->ptr = re;
    return 0;
}


int
dsl_parse_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char  *unit;
        double       scale;
    } units[] = {
        { "ns", 1 }, { "nanosecond", 1 }, { "nanoseconds", 1 },
        { "us", 1e3 }, { "microsecond", 1e3 }, { "microseconds", 1e3 },
        { "ms", 1e6 }, { "millisecond", 1e6 }, { "milliseconds", 1e6 },
        { "s", 1e9 }, { "sec", 1e9 }, { "secs", 1e9 }, { "second", 1e9 },
        { "seconds", 1e9 },
        { "m", 60e9 }, { "min", 60e9 }, { "mins", 60e9 },
        { "minute", 60e9 }, { "minutes", 60e9 },
        { "h", 3600e9 }, { "hour", 3600e9 }, { "hours", 3600e9 },
        { NULL, 0 }
    };
    char     buf[64], *end;
    double   v;
    size_t   i, ulen;

    if (n == 0 || n >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';

    if (!(buf[0] >= '0' && buf[0] <= '9')) {
        return -1;
    }
    v = strtod(buf, &end);
    while (*end == ' ') {
        end++;
    }
    ulen = strlen(end);
    while (ulen > 0 && end[ulen - 1] == ' ') {
        ulen--;
    }

    for (i = 0; units[i].unit; i++) {
        if (strlen(units[i].unit) == ulen
            && memcmp(units[i].unit, end, ulen) == 0)
        {
            v *= units[i].scale;
            if (!(v >= 0) || v > 9.2e18) {
                return -1;
            }
            *ns = (int64_t) v;
            return 0;
        }
    }
    return -1;
}


/* A literal's value for compile-time comparison; 0 if n is no literal. */
static int
literal(const node_t *n)
{
    return n->kind == N_NUM || n->kind == N_STR || n->kind == N_BOOL
           || n->kind == N_NULL || n->kind == N_UNDEF
           || (n->kind == N_NEG && n->a->kind == N_NUM);
}


static double
lit_num(const node_t *n)
{
    return n->kind == N_NEG ? -n->a->num : n->num;
}


/* Result of comparing two literals, as the evaluator would compute it. */
static int
lit_compare(const node_t *a, const node_t *b, int op)
{
    int     ka, kb, eq, c;
    double  x, y;

    ka = a->kind == N_NEG ? N_NUM : a->kind;
    kb = b->kind == N_NEG ? N_NUM : b->kind;

    if (op <= OPB_NE) {
        if (ka == kb) {
            if (ka == N_NUM || ka == N_BOOL) {
                eq = lit_num(a) == lit_num(b);
            } else if (ka == N_STR) {
                eq = a->slen == b->slen && memcmp(a->s, b->s, a->slen) == 0;
            } else {
                eq = 1;
            }
        } else {
            eq = (op == OPB_EQ || op == OPB_NE)
                 && (ka == N_NULL || ka == N_UNDEF)
                 && (kb == N_NULL || kb == N_UNDEF);
        }
        return (op == OPB_SEQ || op == OPB_EQ) ? eq : !eq;
    }

    if (ka == N_NUM && kb == N_NUM) {
        x = lit_num(a);
        y = lit_num(b);
        c = x < y ? -1 : (x > y ? 1 : 0);
        if (isnan(x) || isnan(y)) {
            return 0;
        }
    } else if (ka == N_STR && kb == N_STR) {
        c = memcmp(a->s, b->s, a->slen < b->slen ? a->slen : b->slen);
        if (c == 0) {
            c = a->slen < b->slen ? -1 : (a->slen > b->slen);
        }
    } else {
        return 0;
    }
    switch (op) {
    case OPB_LT: return c < 0;
    case OPB_LE: return c <= 0;
    case OPB_GT: return c > 0;
    default:     return c >= 0;
    }
}


/* 'TIMEOUT' is not a span status (UNSET, OK, ERROR) */
static void
check_enum(checker_t *ck, const node_t *field, const node_t *lit)
{
    const char *const  *names;
    const char         *what, *list, *hint;
    size_t              i;

    if (lit->kind != N_STR) {
        return;
    }
    if (field->opc == OP_F_STATUS) {
        names = statuses;
        what = "status";
        list = "UNSET, OK, ERROR";
    } else if (field->opc == OP_F_KIND) {
        names = kinds;
        what = "kind";
        list = "UNSPECIFIED, INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER";
    } else {
        return;
    }

    hint = NULL;
    for (i = 0; names[i]; i++) {
        if (lit->slen == strlen(names[i])) {
            if (memcmp(lit->s, names[i], lit->slen) == 0) {
                return;
            }
            if (strncasecmp(lit->s, names[i], lit->slen) == 0) {
                hint = names[i];
            }
        }
    }

    if (hint) {
        WARN(ck, lit->start, lit->end,
             "'%.*s' is not a span %s (%s); did you mean '%s'?",
             (int) lit->slen, lit->s, what, list, hint);
    } else {
        WARN(ck, lit->start, lit->end, "'%.*s' is not a span %s (%s)",
             (int) lit->slen, lit->s, what, list);
    }
}


/* comparison and arithmetic: a op b */
static int
check_bin(checker_t *ck, node_t *n)
{
    int          ta, tb, ca, cb, r;
    static const char  *opnames[] = {
        "===", "!==", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/",
        "%"
    };
    const char  *op;

    ta = check(ck, n->a);
    tb = check(ck, n->b);
    n->flags |= (n->a->flags | n->b->flags) & NF_TRACE;
    set(n, TY_BOOL, OP_BIN);
    op = opnames[n->op];

    if (ta == TY_ERR || tb == TY_ERR) {
        return set(n, TY_ERR, OP_BIN);
    }
    if (!is_value(ta) || !is_value(tb)) {
        ERR(ck, !is_value(ta) ? n->a->start : n->b->start,
            !is_value(ta) ? n->a->end : n->b->end,
            "'%s' needs values, but this is %s", op,
            ty_name(!is_value(ta) ? ta : tb));
        return set(n, TY_ERR, OP_BIN);
    }

    if (n->op <= OPB_NE) {
        /* equality: classes that can never be equal are a type error */
        ca = ta == TY_UNDEF || ta == TY_NULL ? TY_ANY : ta;
        cb = tb == TY_UNDEF || tb == TY_NULL ? TY_ANY : tb;
        if (ca != TY_ANY && cb != TY_ANY && ca != cb
            && (ca == TY_NUM || ca == TY_STR || ca == TY_BOOL
                || cb == TY_NUM || cb == TY_STR || cb == TY_BOOL))
        {
            ERR(ck, n->start, n->end,
                "cannot compare %s with %s: they are never equal "
                "(no implicit conversion)", ty_name(ta), ty_name(tb));
            return set(n, TY_ERR, OP_BIN);
        }
        check_enum(ck, n->a, n->b);
        check_enum(ck, n->b, n->a);

    } else if (n->op <= OPB_GE) {
        if ((ta != TY_NUM && ta != TY_STR && ta != TY_ANY)
            || (tb != TY_NUM && tb != TY_STR && tb != TY_ANY))
        {
            ERR(ck, n->start, n->end,
                "'%s' compares numbers or strings, not %s", op,
                ty_name(ta != TY_NUM && ta != TY_STR && ta != TY_ANY
                        ? ta : tb));
            return set(n, TY_ERR, OP_BIN);
        }
        if (ta != TY_ANY && tb != TY_ANY && ta != tb) {
            ERR(ck, n->start, n->end, "cannot compare %s with %s",
                ty_name(ta), ty_name(tb));
            return set(n, TY_ERR, OP_BIN);
        }

    } else {
        /* arithmetic: numbers, and + also joins two strings */
        if (n->op == OPB_ADD && (ta == TY_STR || tb == TY_STR)) {
            if ((ta != TY_STR && ta != TY_ANY)
                || (tb != TY_STR && tb != TY_ANY))
            {
                ERR(ck, n->start, n->end,
                    "cannot add %s and %s (no implicit conversion)",
                    ty_name(ta), ty_name(tb));
                return set(n, TY_ERR, OP_BIN);
            }
            r = TY_STR;
        } else {
            if ((ta != TY_NUM && ta != TY_ANY)
                || (tb != TY_NUM && tb != TY_ANY))
            {
                ERR(ck, n->start, n->end, "'%s' needs numbers, not %s", op,
                    ty_name(ta != TY_NUM && ta != TY_ANY ? ta : tb));
                return set(n, TY_ERR, OP_BIN);
            }
            r = TY_NUM;
        }
        if (ta == TY_ANY || tb == TY_ANY) {
            r = TY_ANY;
        }
        return set(n, r, OP_BIN);
    }

    if (literal(n->a) && literal(n->b)) {
        r = lit_compare(n->a, n->b, n->op);
        WARN(ck, n->start, n->end, "condition is always %s",
             r ? "true" : "false");
        n->flags |= NF_CONST | (r ? NF_CONSTVAL : 0);
    }
    return TY_BOOL;
}


/* a && b, a || b */
static int
check_logic(checker_t *ck, node_t *n)
{
    int          ta, tb;
    const char  *op;
    node_t      *side;

    op = n->kind == N_AND ? "&&" : "||";
    ta = check(ck, n->a);
    tb = check(ck, n->b);
    n->flags |= (n->a->flags | n->b->flags) & NF_TRACE;

    if (ta == TY_ERR || tb == TY_ERR) {
        return set(n, TY_ERR, n->kind == N_AND ? OP_AND : OP_OR);
    }
    if (!is_value(ta) || !is_value(tb)) {
        side = !is_value(ta) ? n->a : n->b;
        ERR(ck, side->start, side->end,
            "'%s' combines conditions, but this is %s", op,
            ty_name(side->ty));
        return set(n, TY_ERR, OP_AND);
    }
    if ((n->flags & NF_TRACE) && (ta != TY_BOOL || tb != TY_BOOL)) {
        side = ta != TY_BOOL ? n->a : n->b;
        ERR(ck, side->start, side->end,
            "'%s' combines conditions, but this is %s", op,
            ty_name(side->ty));
        return set(n, TY_ERR, OP_AND);
    }

    /* x && false, x || true */
    side = n->a->kind == N_BOOL ? n->a : (n->b->kind == N_BOOL ? n->b : NULL);
    if (side != NULL) {
        if (n->kind == N_AND && side->num == 0) {
            WARN(ck, n->start, n->end, "condition is always false");
            n->flags |= NF_CONST;
        } else if (n->kind == N_OR && side->num != 0) {
            WARN(ck, n->start, n->end, "condition is always true");
            n->flags |= NF_CONST | NF_CONSTVAL;
        }
    }

    return set(n, ta == TY_BOOL && tb == TY_BOOL ? TY_BOOL : TY_ANY,
               n->kind == N_AND ? OP_AND : OP_OR);
}


/*
 * Checks a lambda argument with a parameter of type pty; returns the type
 * of its body.  pred: a span predicate at trace level (no 'trace' inside).
 */
static int
check_lambda(checker_t *ck, node_t *lam, int pty, int pred, const char *fn)
{
    int  ty;

    if (lam->kind != N_LAMBDA) {
        ty = check(ck, lam);
        if (ty != TY_ERR) {
            ERR(ck, lam->start, lam->end,
                "%s() needs a lambda such as %s, not %s", fn,
                pty == TY_SPAN ? "span => span.name === 'x'" : "x => ...",
                ty_name(ty));
        }
        return TY_ERR;
    }

    lam->op = (uint8_t) pty;                /* the parameter's type */
    lam->slot = (int32_t) ck->nparams;
    set(lam, TY_LAMBDA, OP_LAMBDA);
    ck->params[ck->nparams++] = lam;
    ck->in_pred += pred;
    ty = check(ck, lam->a);
    ck->in_pred -= pred;
    ck->nparams--;

    if (ty == TY_ERR) {
        return TY_ERR;
    }
    if (ty != TY_BOOL && ty != TY_ANY) {
        ERR(ck, lam->a->start, lam->a->end,
            "the lambda of %s() must return a condition, not %s", fn,
            ty_name(ty));
        return TY_ERR;
    }
    if (lam->a->kind == N_BOOL) {
        WARN(ck, lam->a->start, lam->a->end, "condition is always %s",
             lam->a->num ? "true" : "false");
    }
    return ty;
}


/* trace.has('x') is trace.has(span => span.name === 'x'): build that. */
static node_t *
name_lambda(checker_t *ck, node_t *str)
{
    node_t  *lam, *cmp, *mem, *id;

    lam = ast_node(ck->arena, N_LAMBDA, str->start, str->end);
    cmp = ast_node(ck->arena, N_BIN, str->start, str->end);
    mem = ast_node(ck->arena, N_MEMBER, str->start, str->end);
    id = ast_node(ck->arena, N_IDENT, str->start, str->end);
    if (lam == NULL || cmp == NULL || mem == NULL || id == NULL) {
        ck->oom = 1;
        return NULL;
    }
    id->s = "span";
    id->slen = 4;
    mem->a = id;
    mem->s = "name";
    mem->slen = 4;
    mem->nstart = str->start;
    mem->nend = str->end;
    cmp->op = OPB_SEQ;
    cmp->a = mem;
    cmp->b = str;
    lam->s = "span";
    lam->slen = 4;
    lam->a = cmp;
    return lam;
}


static int
clause_pred(checker_t *ck, node_t *call, uint32_t i, const char *fn)
{
    node_t  *arg;

    if (++ck->clauses > BT_DSL_MAX_CLAUSES) {
        if (ck->clauses == BT_DSL_MAX_CLAUSES + 1) {
            ERR(ck, call->args[i]->start, call->args[i]->end,
                "too many clauses (the limit is %u per rule)",
                BT_DSL_MAX_CLAUSES);
        }
        return TY_ERR;
    }

    arg = call->args[i];
    if (arg->kind == N_STR) {
        arg = name_lambda(ck, arg);
        if (arg == NULL) {
            return TY_ERR;
        }
        call->args[i] = arg;
    }
    return check_lambda(ck, arg, TY_SPAN, 1, fn);
}


static int
nargs_ok(checker_t *ck, node_t *call, const node_t *name, uint32_t want)
{
    if (call->nargs == want) {
        return 1;
    }
    if (want == 0) {
        ERR(ck, call->start, call->end, "%.*s() takes no arguments, got %u",
            (int) name->slen, name->s, call->nargs);
    } else {
        ERR(ck, call->start, call->end,
            "%.*s() takes %u argument%s, got %u", (int) name->slen, name->s,
            want, want == 1 ? "" : "s", call->nargs);
    }
    return 0;
}


static int
contains_within(const node_t *n)
{
    uint32_t  i;

    if (n == NULL) {
        return 0;
    }
    if (n->opc == OP_C_WITHIN) {
        return 1;
    }
    if (contains_within(n->a) || contains_within(n->b)) {
        return 1;
    }
    for (i = 0; i < n->nargs; i++) {
        if (contains_within(n->args[i])) {
            return 1;
        }
    }
    return 0;
}


static int
check_trace_call(checker_t *ck, node_t *n, node_t *m)
{
    uint32_t  i;
    int       bad;

    if (name_is(m, "has") || name_is(m, "missing") || name_is(m, "count")
        || name_is(m, "where"))
    {
        if (!nargs_ok(ck, n, m, 1)) {
            return set(n, TY_ERR, OP_NONE);
        }
        n->flags |= NF_TRACE;
        if (clause_pred(ck, n, 0, name_is(m, "has") ? "has"
                        : name_is(m, "missing") ? "missing"
                        : name_is(m, "count") ? "count" : "where")
            == TY_ERR)
        {
            return set(n, TY_ERR, OP_NONE);
        }
        if (name_is(m, "has")) {
            return set(n, TY_BOOL, OP_T_HAS);
        }
        if (name_is(m, "missing")) {
            return set(n, TY_BOOL, OP_T_MISSING);
        }
        if (name_is(m, "count")) {
            return set(n, TY_NUM, OP_T_COUNT);
        }
        return set(n, TY_SCOPE, OP_T_WHERE);
    }

    if (name_is(m, "sequence")) {
        if (n->nargs == 0) {
            ERR(ck, n->start, n->end,
                "sequence() takes at least 1 argument, got 0");
            return set(n, TY_ERR, OP_NONE);
        }
        n->flags |= NF_TRACE;
        bad = 0;
        for (i = 0; i < n->nargs; i++) {
            bad |= clause_pred(ck, n, i, "sequence") == TY_ERR;
        }
        return set(n, bad ? TY_ERR : TY_BOOL, OP_T_SEQ);
    }

    if (find_field(trace_fields, m)) {
        ERR(ck, m->nstart, m->nend,
            "'%.*s' is a property, not a method: write trace.%.*s",
            (int) m->slen, m->s, (int) m->slen, m->s);
        return set(n, TY_ERR, OP_NONE);
    }
    return set(n, unknown(ck, m, m->a->ty == TY_SCOPE ? "scope method"
                                                     : "trace method",
                          trace_methods, NULL, NULL, trace_fields),
               OP_NONE);
}


static int
check_string_arg(checker_t *ck, node_t *call, const node_t *m)
{
    int  ty;

    ty = check(ck, call->args[0]);
    if (ty == TY_ERR) {
        return TY_ERR;
    }
    if (ty != TY_STR && ty != TY_ANY) {
        ERR(ck, call->args[0]->start, call->args[0]->end,
            "%.*s() needs a string argument, not %s", (int) m->slen, m->s,
            ty_name(ty));
        return TY_ERR;
    }
    return ty;
}


static int
check_call(checker_t *ck, node_t *n)
{
    node_t       *m, *arg;
    int           rty, ty, lt, is_str, is_arr;
    int64_t       ns;

    m = n->a;
    if (m->kind != N_MEMBER) {
        ty = check(ck, m);
        if (ty != TY_ERR) {
            ERR(ck, m->start, m->end,
                "only methods can be called (e.g. span.name.startsWith('x')), "
                "not %s", ty_name(ty));
        }
        return set(n, TY_ERR, OP_NONE);
    }

    rty = check(ck, m->a);
    n->flags |= m->a->flags & NF_TRACE;
    if (rty == TY_ERR) {
        return set(n, TY_ERR, OP_NONE);
    }
    m->ty = (uint8_t) rty;

    if (rty == TY_TRACE || rty == TY_SCOPE) {
        return check_trace_call(ck, n, m);
    }

    /* conditions: c.and(c2), c.or(c2), c.not(), c.within(d) */
    if (rty == TY_BOOL && in_list(m, cond_methods)) {
        if (name_is(m, "not")) {
            if (!nargs_ok(ck, n, m, 0)) {
                return set(n, TY_ERR, OP_NONE);
            }
            return set(n, TY_BOOL, OP_C_NOT);
        }
        if (!nargs_ok(ck, n, m, 1)) {
            return set(n, TY_ERR, OP_NONE);
        }
        arg = n->args[0];

        if (name_is(m, "within")) {
            if (!(m->a->flags & NF_TRACE)) {
                ERR(ck, m->nstart, m->nend,
                    "within() applies to trace conditions such as "
                    "trace.has(...), not to a span condition");
                return set(n, TY_ERR, OP_NONE);
            }
            if (contains_within(m->a)) {
                ERR(ck, m->nstart, m->nend,
                    "within() can't be applied to a condition that already "
                    "has a within()");
                return set(n, TY_ERR, OP_NONE);
            }
            if (arg->kind == N_NUM && arg->num >= 0) {
                n->dur_ns = (int64_t) (arg->num * 1e6);     /* ms */
                set(arg, TY_NUM, OP_LIT);
            } else if (arg->kind == N_STR) {
                set(arg, TY_STR, OP_LIT);
                if (dsl_parse_duration(arg->s, arg->slen, &ns) != 0) {
                    ERR(ck, arg->start, arg->end,
                        "invalid duration '%.*s': write a number and a unit "
                        "(ns, us, ms, s, m, h), e.g. '5 seconds'",
                        (int) arg->slen, arg->s);
                    return set(n, TY_ERR, OP_NONE);
                }
                n->dur_ns = ns;
            } else {
                ty = check(ck, arg);
                if (ty != TY_ERR) {
                    ERR(ck, arg->start, arg->end,
                        "within() needs a constant duration such as "
                        "'5 seconds', not %s", ty_name(ty));
                }
                return set(n, TY_ERR, OP_NONE);
            }
            return set(n, TY_BOOL, OP_C_WITHIN);
        }

        ty = check(ck, arg);
        n->flags |= arg->flags & NF_TRACE;
        if (ty == TY_ERR) {
            return set(n, TY_ERR, OP_NONE);
        }
        if (ty != TY_BOOL) {
            ERR(ck, arg->start, arg->end,
                "%.*s() needs a condition, not %s", (int) m->slen, m->s,
                ty_name(ty));
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_BOOL, name_is(m, "and") ? OP_C_AND : OP_C_OR);
    }

    if (rty == TY_REGEX) {
        if (!name_is(m, "test")) {
            return set(n, unknown(ck, m, "regular expression method",
                                  (const char *const[]) { "test", NULL },
                                  NULL, NULL, NULL), OP_NONE);
        }
        if (!nargs_ok(ck, n, m, 1) || check_string_arg(ck, n, m) == TY_ERR) {
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_BOOL, OP_RETEST);
    }

    is_str = rty == TY_STR || rty == TY_ANY;
    is_arr = is_array(rty) || rty == TY_ANY;

    if (is_str && (name_is(m, "startsWith") || name_is(m, "endsWith")
                   || (name_is(m, "includes") && !is_arr)))
    {
        if (!nargs_ok(ck, n, m, 1) || check_string_arg(ck, n, m) == TY_ERR) {
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_BOOL, name_is(m, "startsWith") ? OP_STARTSWITH
                               : name_is(m, "endsWith") ? OP_ENDSWITH
                               : OP_INCLUDES);
    }

    if (is_str && (name_is(m, "toLowerCase") || name_is(m, "toUpperCase"))) {
        if (!nargs_ok(ck, n, m, 0)) {
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, rty == TY_STR ? TY_STR : TY_ANY,
                   name_is(m, "toLowerCase") ? OP_TOLOWER : OP_TOUPPER);
    }

    if (is_str && name_is(m, "matches")) {
        if (!nargs_ok(ck, n, m, 1)) {
            return set(n, TY_ERR, OP_NONE);
        }
        arg = n->args[0];
        if (arg->kind == N_STR) {
            set(arg, TY_REGEX, OP_LIT);
            if (compile_regex(ck, arg, 0) != 0) {
                return set(n, TY_ERR, OP_NONE);
            }
        } else if (arg->kind == N_REGEX) {
            if (check(ck, arg) == TY_ERR) {
                return set(n, TY_ERR, OP_NONE);
            }
        } else {
            ty = check(ck, arg);
            if (ty != TY_ERR) {
                ERR(ck, arg->start, arg->end,
                    "matches() needs a regular expression literal (/.../) "
                    "or a constant string, not %s", ty_name(ty));
            }
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_BOOL, OP_MATCHES);
    }

    if (is_arr && name_is(m, "includes")) {
        if (!nargs_ok(ck, n, m, 1)) {
            return set(n, TY_ERR, OP_NONE);
        }
        ty = check(ck, n->args[0]);
        if (ty == TY_ERR) {
            return set(n, TY_ERR, OP_NONE);
        }
        if (!is_value(ty)) {
            ERR(ck, n->args[0]->start, n->args[0]->end,
                "includes() needs a value, not %s", ty_name(ty));
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_BOOL, OP_INCLUDES);
    }

    if (is_arr && (name_is(m, "some") || name_is(m, "every"))) {
        if (!nargs_ok(ck, n, m, 1)) {
            return set(n, TY_ERR, OP_NONE);
        }
        lt = check_lambda(ck, n->args[0], elem_type(rty), 0,
                          name_is(m, "some") ? "some" : "every");
        if (lt == TY_ERR) {
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_BOOL, name_is(m, "some") ? OP_SOME : OP_EVERY);
    }

    /* nothing matched: explain */
    switch (rty) {
    case TY_STR:
        if (name_is(m, "length")) {
            break;
        }
        return set(n, unknown(ck, m, "string method", string_methods, NULL,
                              NULL, NULL), OP_NONE);
    case TY_ARR: case TY_STRS: case TY_SPANS: case TY_EVENTS: case TY_LINKS:
        if (name_is(m, "length")) {
            break;
        }
        return set(n, unknown(ck, m, "array method", array_methods, NULL,
                              NULL, NULL), OP_NONE);
    case TY_ANY:
        return set(n, unknown(ck, m, "method", any_methods, NULL, NULL,
                              NULL), OP_NONE);
    case TY_BOOL:
        return set(n, unknown(ck, m, "condition method", cond_methods, NULL,
                              NULL, NULL), OP_NONE);
    case TY_SPAN:
        if (find_field(span_fields, m)) {
            break;
        }
        return set(n, unknown(ck, m, "span field", NULL, span_fields, NULL,
                              NULL), OP_NONE);
    default:
        ERR(ck, m->nstart, m->nend, "%s has no method '%.*s'", ty_name(rty),
            (int) m->slen, m->s);
        return set(n, TY_ERR, OP_NONE);
    }

    ERR(ck, m->nstart, m->nend,
        "'%.*s' is a property, not a method: remove the parentheses",
        (int) m->slen, m->s);
    return set(n, TY_ERR, OP_NONE);
}


static int
check_member(checker_t *ck, node_t *n)
{
    const field_t  *f;
    int             rty;

    rty = check(ck, n->a);
    n->flags |= n->a->flags & NF_TRACE;

    switch (rty) {
    case TY_ERR:
        return set(n, TY_ERR, OP_NONE);

    case TY_TRACE:
        f = find_field(trace_fields, n);
        if (f) {
            n->flags |= NF_TRACE;
            return set(n, f->ty, f->opc);
        }
        if (in_list(n, trace_methods)) {
            ERR(ck, n->nstart, n->nend,
                "'%.*s' is a method: call it, e.g. trace.%.*s(span => ...)",
                (int) n->slen, n->s, (int) n->slen, n->s);
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, unknown(ck, n, "trace property", NULL, trace_fields,
                              trace_methods, NULL), OP_NONE);

    case TY_SPAN:
    case TY_EVENT:
    case TY_LINK:
        f = find_field(rty == TY_SPAN ? span_fields
                       : rty == TY_EVENT ? event_fields : link_fields, n);
        if (f) {
            return set(n, f->ty, f->opc);
        }
        return set(n, unknown(ck, n, rty == TY_SPAN ? "span field"
                                     : rty == TY_EVENT ? "event field"
                                     : "link field", NULL,
                              rty == TY_SPAN ? span_fields
                              : rty == TY_EVENT ? event_fields : link_fields,
                              NULL, NULL), OP_NONE);

    case TY_MAP:
    case TY_ANY:
        return set(n, TY_ANY, OP_GET);

    case TY_STR:
    case TY_ARR: case TY_STRS: case TY_SPANS: case TY_EVENTS: case TY_LINKS:
        if (name_is(n, "length")) {
            return set(n, TY_NUM, OP_LENGTH);
        }
        if (in_list(n, rty == TY_STR ? string_methods : array_methods)) {
            ERR(ck, n->nstart, n->nend,
                "'%.*s' is a method: call it with parentheses",
                (int) n->slen, n->s);
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, unknown(ck, n, rty == TY_STR ? "string property"
                                                   : "array property",
                              (const char *const[]) { "length", NULL }, NULL,
                              rty == TY_STR ? string_methods : array_methods,
                              NULL), OP_NONE);

    case TY_BOOL:
        if (in_list(n, cond_methods)) {
            ERR(ck, n->nstart, n->nend,
                "'%.*s' is a method: call it with parentheses",
                (int) n->slen, n->s);
            return set(n, TY_ERR, OP_NONE);
        }
        /* fall through */
    default:
        ERR(ck, n->nstart, n->nend, "%s has no property '%.*s'",
            ty_name(rty), (int) n->slen, n->s);
        return set(n, TY_ERR, OP_NONE);
    }
}


static int
check_index(checker_t *ck, node_t *n)
{
    int  rty, kty;

    rty = check(ck, n->a);
    kty = check(ck, n->b);
    n->flags |= (n->a->flags | n->b->flags) & NF_TRACE;
    if (rty == TY_ERR || kty == TY_ERR) {
        return set(n, TY_ERR, OP_NONE);
    }

    if (rty == TY_MAP) {
        if (kty != TY_STR && kty != TY_ANY) {
            ERR(ck, n->b->start, n->b->end,
                "attributes are looked up by string keys, not %s",
                ty_name(kty));
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_ANY, OP_GET);
    }
    if (rty == TY_ANY) {
        if (kty != TY_STR && kty != TY_NUM && kty != TY_ANY) {
            ERR(ck, n->b->start, n->b->end,
                "an index must be a string or a number, not %s",
                ty_name(kty));
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_ANY, OP_GET);
    }
    if (is_array(rty)) {
        if (kty != TY_NUM && kty != TY_ANY) {
            ERR(ck, n->b->start, n->b->end,
                "arrays are indexed by numbers, not %s", ty_name(kty));
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, elem_type(rty), OP_GET);
    }

    ERR(ck, n->a->start, n->a->end, "%s can't be indexed with [...]",
        ty_name(rty));
    return set(n, TY_ERR, OP_NONE);
}


static int
check_ident(checker_t *ck, node_t *n)
{
    const char  *names[BT_DSL_MAX_DEPTH + 3], *s;
    char        *tmp;
    uint32_t     i, k;

    for (i = ck->nparams; i-- > 0; ) {
        if (ck->params[i]->slen == n->slen
            && memcmp(ck->params[i]->s, n->s, n->slen) == 0)
        {
            n->slot = ck->params[i]->slot;
            return set(n, ck->params[i]->op, OP_PARAM);
        }
    }

    if (name_is(n, "trace")) {
        if (ck->nparams) {
            ERR(ck, n->start, n->end,
                "'trace' can't be used inside a lambda: a lambda looks at "
                "one value (for a span: its parent, children, events...)");
            return set(n, TY_ERR, OP_NONE);
        }
        return set(n, TY_TRACE, OP_TRACE);
    }

    k = 0;
    for (i = 0; i < ck->nparams; i++) {
        tmp = dsl_strndup(ck->arena, ck->params[i]->s, ck->params[i]->slen);
        if (tmp == NULL) {
            ck->oom = 1;
            return set(n, TY_ERR, OP_NONE);
        }
        names[k++] = tmp;
    }
    names[k++] = "trace";
    names[k] = NULL;

    s = nearest(n->s, n->slen, names, NULL);
    if (s) {
        ERR(ck, n->start, n->end, "unknown name '%.*s'; did you mean '%s'?",
            (int) n->slen, n->s, s);
    } else if (ck->nparams) {
        ERR(ck, n->start, n->end,
            "unknown name '%.*s' (names here: the lambda parameters and "
            "trace)", (int) n->slen, n->s);
    } else {
        ERR(ck, n->start, n->end,
            "unknown name '%.*s': a rule starts from trace",
            (int) n->slen, n->s);
    }
    return set(n, TY_ERR, OP_NONE);
}


static int
check(checker_t *ck, node_t *n)
{
    int       ty, all_str, bad;
    uint32_t  i;

    if (ck->oom) {
        return set(n, TY_ERR, OP_NONE);
    }

    switch (n->kind) {
    case N_NUM:
        n->flags |= NF_CONST;
        return set(n, TY_NUM, OP_LIT);
    case N_STR:
        n->flags |= NF_CONST;
        return set(n, TY_STR, OP_LIT);
    case N_BOOL:
        n->flags |= NF_CONST | (n->num ? NF_CONSTVAL : 0);
        return set(n, TY_BOOL, OP_LIT);
    case N_NULL:
        n->flags |= NF_CONST;
        return set(n, TY_NULL, OP_LIT);
    case N_UNDEF:
        n->flags |= NF_CONST;
        return set(n, TY_UNDEF, OP_LIT);
    case N_REGEX:
        set(n, TY_REGEX, OP_LIT);
        if (n->ptr == NULL && compile_regex(ck, n, n->rflags) != 0) {
            return set(n, TY_ERR, OP_LIT);
        }
        return TY_REGEX;
    case N_IDENT:
        return check_ident(ck, n);
    case N_MEMBER:
        return check_member(ck, n);
    case N_INDEX:
        return check_index(ck, n);
    case N_CALL:
        return check_call(ck, n);
    case N_LAMBDA:
        ERR(ck, n->start, n->end,
            "a lambda is not a value here: lambdas are arguments of has, "
            "missing, count, sequence, where, some and every");
        return set(n, TY_ERR, OP_NONE);

    case N_ARRAY:
        all_str = 1;
        bad = 0;
        for (i = 0; i < n->nargs; i++) {
            ty = check(ck, n->args[i]);
            if (ty == TY_ERR) {
                bad = 1;
            } else if (!is_value(ty)) {
                ERR(ck, n->args[i]->start, n->args[i]->end,
                    "an array holds values, not %s", ty_name(ty));
                bad = 1;
            }
            all_str &= ty == TY_STR;
            n->flags |= n->args[i]->flags & NF_TRACE;
        }
        if (bad) {
            return set(n, TY_ERR, OP_ARRAY);
        }
        return set(n, all_str && n->nargs ? TY_STRS : TY_ARR, OP_ARRAY);

    case N_NOT:
        ty = check(ck, n->a);
        n->flags |= n->a->flags & NF_TRACE;
        if (ty == TY_ERR) {
            return set(n, TY_ERR, OP_NOT);
        }
        if (!is_value(ty)) {
            ERR(ck, n->a->start, n->a->end, "'!' needs a condition, not %s",
                ty_name(ty));
            return set(n, TY_ERR, OP_NOT);
        }
        if ((n->flags & NF_TRACE) && ty != TY_BOOL) {
            ERR(ck, n->a->start, n->a->end, "'!' needs a condition, not %s",
                ty_name(ty));
            return set(n, TY_ERR, OP_NOT);
        }
        return set(n, TY_BOOL, OP_NOT);

    case N_NEG:
        ty = check(ck, n->a);
        n->flags |= n->a->flags & (NF_TRACE | NF_CONST);
        if (ty == TY_ERR) {
            return set(n, TY_ERR, OP_NEG);
        }
        if (ty != TY_NUM && ty != TY_ANY) {
            ERR(ck, n->a->start, n->a->end, "'-' needs a number, not %s",
                ty_name(ty));
            return set(n, TY_ERR, OP_NEG);
        }
        return set(n, ty, OP_NEG);

    case N_BIN:
        return check_bin(ck, n);
    case N_AND:
    case N_OR:
        return check_logic(ck, n);
    }
    return set(n, TY_ERR, OP_NONE);
}


size_t
dsl_check(checker_t *ck, node_t *root)
{
    int  ty;

    ty = check(ck, root);
    if (ty == TY_ERR || ck->oom) {
        return ck->errors ? ck->errors : 1;
    }

    if (ty != TY_BOOL) {
        ERR(ck, root->start, root->end,
            "a rule must be a condition (true or false), but this is %s",
            ty_name(ty));
    } else if (!(root->flags & NF_TRACE) && root->kind == N_BOOL) {
        WARN(ck, root->start, root->end, "condition is always %s",
             root->num ? "true" : "false");
    }
    return ck->errors;
}
