/*
 * eval.c - evaluation of compiled rules over an assembled trace.
 *
 * Two levels:
 *
 *   span level   a predicate (the lambda of has/missing/count/sequence/
 *                where) runs once per span; matches are kept as sorted
 *                span-index lists (spans are in start order, so lists are
 *                in start order too).
 *   trace level  clauses read those lists: has = non-empty inside the
 *                scope, count = size, sequence = greedy earliest match,
 *                where = matches plus descendants (one pass over a
 *                parents-first order), within = a sliding window over the
 *                start times of the positive clauses' matches.
 *
 * Nothing here calls malloc once the context's buffers have grown: strings
 * made at run time (toLowerCase, +) and per-rule lists live in arenas that
 * are rewound, not freed.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval.h"
#include "regex.h"

/* kept out of ev() so its frame, entered per node, stays small */
#define DSL_COLD  __attribute__((noinline))

static val_t ev(bt_eval_ctx_t *ctx, const node_t *n);


static const char  *status_names[] = { "UNSET", "OK", "ERROR" };
static const char  *kind_names[] = {
    "UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"
};


static val_t
v_undef(void)
{
    val_t  v;

    memset(&v, 0, sizeof(v));
    return v;
}


static val_t
v_bool(int b)
{
    val_t  v;

    memset(&v, 0, sizeof(v));
    v.t = V_BOOL;
    v.u.b = b != 0;
    return v;
}


static val_t
v_num(double d)
{
    val_t  v;

    memset(&v, 0, sizeof(v));
    v.t = V_NUM;
    v.u.d = d;
    return v;
}


static val_t
v_str(const char *s, uint32_t n)
{
    val_t  v;

    memset(&v, 0, sizeof(v));
    v.t = V_STR;
    v.u.s = s ? s : "";
    v.n = n;
    return v;
}


static val_t
v_span(uint32_t i)
{
    val_t  v;

    memset(&v, 0, sizeof(v));
    v.t = V_SPAN;
    v.u.idx = i;
    return v;
}


static int
truthy(const val_t *v)
{
    switch (v->t) {
    case V_UNDEF:
    case V_NULL:
        return 0;
    case V_BOOL:
        return v->u.b;
    case V_INT:
        return v->u.i != 0;
    case V_NUM:
        return v->u.d != 0 && !isnan(v->u.d);
    case V_STR:
        return v->n != 0;
    default:
        return 1;
    }
}


static int
is_num(const val_t *v)
{
    return v->t == V_INT || v->t == V_NUM;
}


static double
num(const val_t *v)
{
    return v->t == V_INT ? (double) v->u.i : v->u.d;
}


static val_t
from_attr(const bt_val_t *a)
{
    val_t  v;

    memset(&v, 0, sizeof(v));
    switch (a->type) {
    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        return v_str((const char *) a->p, a->n);
    case BT_VAL_BOOL:
        return v_bool(bt_val_bool(a));
    case BT_VAL_INT:
        v.t = V_INT;
        v.u.i = bt_val_int(a);
        return v;
    case BT_VAL_DOUBLE:
        return v_num(bt_val_double(a));
    case BT_VAL_ARRAY:
        v.t = V_ARR;
        v.u.p = a->p;
        v.n = a->n;
        return v;
    case BT_VAL_KVLIST:
        v.t = V_MAP;
        v.u.p = a->p;
        v.n = a->n;
        return v;
    default:
        v.t = V_NULL;
        return v;
    }
}


/* ms since the epoch, as exact as a double allows */
static double
ns_to_ms(uint64_t ns)
{
    return (double) (ns / 1000000) + (double) (ns % 1000000) / 1e6;
}


DSL_COLD static val_t
hex(bt_eval_ctx_t *ctx, const uint8_t *id, size_t n)
{
    char  *s;

    if (bt_id_is_zero(id, n)) {
        return v_str("", 0);
    }
    s = dsl_alloc(&ctx->scratch, n * 2, 0);
    if (s == NULL) {
        return v_undef();
    }
    bt_hex(s, id, n);
    return v_str(s, (uint32_t) (n * 2));
}


/* --- collections -------------------------------------------------------- */

typedef struct {
    val_t        coll;
    bt_iter_t    it;
    uint32_t     i;
} elems_t;


static int
elems_init(elems_t *e, const val_t *coll)
{
    e->coll = *coll;
    e->i = 0;
    switch (coll->t) {
    case V_ARR:
    case V_EVENTS:
    case V_LINKS:
        bt_iter_init(&e->it, coll->u.p, coll->n);
        return 1;
    case V_SPANS:
    case V_LIST:
    case V_STRS:
        return 1;
    default:
        return 0;
    }
}


static int
elems_next(bt_eval_ctx_t *ctx, elems_t *e, val_t *out)
{
    const bt_tspan_t  *ts;
    const node_t      *lit;
    const bt_str_t    *ss;
    bt_val_t           bv;
    bt_event_t         ev_;
    bt_link_t          lk;
    const uint8_t     *at;

    memset(out, 0, sizeof(*out));

    switch (e->coll.t) {
    case V_ARR:
        if (!bt_val_next(&e->it, &bv)) {
            return 0;
        }
        *out = from_attr(&bv);
        return 1;

    case V_EVENTS:
        at = e->it.p;
        if (!bt_event_next(&e->it, &ev_)) {
            return 0;
        }
        out->t = V_EVENT;
        out->u.p = at;
        out->n = (uint32_t) (e->it.end - at);
        return 1;

    case V_LINKS:
        at = e->it.p;
        if (!bt_link_next(&e->it, &lk)) {
            return 0;
        }
        out->t = V_LINK;
        out->u.p = at;
        out->n = (uint32_t) (e->it.end - at);
        return 1;

    case V_SPANS:
        ts = &ctx->tr->spans[e->coll.u.idx];
        if (e->i >= ts->n_children) {
            return 0;
        }
        *out = v_span(ctx->tr->children[ts->first_child + e->i++]);
        return 1;

    case V_LIST:
        lit = e->coll.u.ptr;
        if (e->i >= lit->nargs) {
            return 0;
        }
        *out = ev(ctx, lit->args[e->i++]);
        return 1;

    case V_STRS:
        ss = e->coll.u.ptr;
        if (e->i >= e->coll.n) {
            return 0;
        }
        *out = v_str(ss[e->i].p, ss[e->i].n);
        e->i++;
        return 1;

    default:
        return 0;
    }
}


DSL_COLD static int
count_elems(bt_eval_ctx_t *ctx, const val_t *coll, uint32_t *n)
{
    elems_t   e;
    val_t     x;
    uint32_t  k;

    switch (coll->t) {
    case V_SPANS:
        *n = ctx->tr->spans[coll->u.idx].n_children;
        return 1;
    case V_EVENTS:
    case V_LINKS:
        *n = coll->c;
        return 1;
    case V_LIST:
        *n = ((const node_t *) coll->u.ptr)->nargs;
        return 1;
    case V_STRS:
        *n = coll->n;
        return 1;
    case V_ARR:
        if (!elems_init(&e, coll)) {
            return 0;
        }
        for (k = 0; elems_next(ctx, &e, &x); k++) { /* void */ }
        *n = k;
        return 1;
    default:
        return 0;
    }
}


DSL_COLD static val_t
nth(bt_eval_ctx_t *ctx, const val_t *coll, double di)
{
    elems_t   e;
    val_t     x;
    uint32_t  i, k;

    if (!(di >= 0) || di != floor(di) || di > 4294967295.0) {
        return v_undef();
    }
    i = (uint32_t) di;

    if (coll->t == V_SPANS) {
        if (i >= ctx->tr->spans[coll->u.idx].n_children) {
            return v_undef();
        }
        return v_span(ctx->tr->children[ctx->tr->spans[coll->u.idx]
                                         .first_child + i]);
    }
    if (coll->t == V_LIST) {
        if (i >= ((const node_t *) coll->u.ptr)->nargs) {
            return v_undef();
        }
        return ev(ctx, ((const node_t *) coll->u.ptr)->args[i]);
    }
    if (!elems_init(&e, coll)) {
        return v_undef();
    }
    for (k = 0; elems_next(ctx, &e, &x); k++) {
        if (k == i) {
            return x;
        }
    }
    return v_undef();
}


DSL_COLD static val_t
map_get(const val_t *m, const char *k, uint32_t kn)
{
    bt_iter_t  it;
    bt_str_t   key;
    bt_val_t   v;

    bt_iter_init(&it, m->u.p, m->n);
    while (bt_attr_next(&it, &key, &v)) {
        if (key.n == kn && memcmp(key.p, k, kn) == 0) {
            return from_attr(&v);
        }
    }
    return v_undef();
}


/* --- operators ---------------------------------------------------------- */

static int
strict_eq(const val_t *a, const val_t *b, int loose)
{
    if (is_num(a) && is_num(b)) {
        if (a->t == V_INT && b->t == V_INT) {
            return a->u.i == b->u.i;
        }
        return num(a) == num(b);
    }
    if ((a->t == V_UNDEF || a->t == V_NULL)
        && (b->t == V_UNDEF || b->t == V_NULL))
    {
        return a->t == b->t || loose;
    }
    if (a->t != b->t) {
        return 0;
    }
    switch (a->t) {
    case V_BOOL:
        return a->u.b == b->u.b;
    case V_STR:
        return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
    case V_SPAN:
    case V_SPANS:
        return a->u.idx == b->u.idx;
    default:
        /* objects are equal only to themselves */
        return a->u.ptr == b->u.ptr && a->n == b->n;
    }
}


/* -1, 0, 1; 2 when the two can't be ordered (then every '<' is false) */
static int
order(const val_t *a, const val_t *b)
{
    double  x, y;
    int     c;

    if (is_num(a) && is_num(b)) {
        if (a->t == V_INT && b->t == V_INT) {
            return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
        }
        x = num(a);
        y = num(b);
        if (isnan(x) || isnan(y)) {
            return 2;
        }
        return x < y ? -1 : x > y;
    }
    if (a->t == V_STR && b->t == V_STR) {
        c = memcmp(a->u.s, b->u.s, a->n < b->n ? a->n : b->n);
        if (c != 0) {
            return c < 0 ? -1 : 1;
        }
        return a->n < b->n ? -1 : a->n > b->n;
    }
    return 2;
}


/* a comparison operator applied: 1 or 0; -1 when op is no comparison */
static int
compare(int op, const val_t *a, const val_t *b)
{
    int  c;

    switch (op) {
    case OPB_SEQ:
        return strict_eq(a, b, 0);
    case OPB_SNE:
        return !strict_eq(a, b, 0);
    case OPB_EQ:
        return strict_eq(a, b, 1);
    case OPB_NE:
        return !strict_eq(a, b, 1);
    case OPB_LT:
        c = order(a, b);
        return c == -1;
    case OPB_LE:
        c = order(a, b);
        return c == -1 || c == 0;
    case OPB_GT:
        c = order(a, b);
        return c == 1;
    case OPB_GE:
        c = order(a, b);
        return c == 1 || c == 0;
    default:
        return -1;
    }
}


static val_t
binary(bt_eval_ctx_t *ctx, const node_t *n)
{
    val_t   a, b;
    int     c;
    char   *s;
    double  x, y;

    a = ev(ctx, n->a);
    b = ev(ctx, n->b);

    c = compare(n->op, &a, &b);
    if (c >= 0) {
        return v_bool(c);
    }

    if (n->op == OPB_ADD && a.t == V_STR && b.t == V_STR) {
        s = dsl_alloc(&ctx->scratch, (size_t) a.n + b.n + 1, 0);
        if (s == NULL) {
            return v_undef();
        }
        memcpy(s, a.u.s, a.n);
        memcpy(s + a.n, b.u.s, b.n);
        return v_str(s, a.n + b.n);
    }
    if (!is_num(&a) || !is_num(&b)) {
        return v_undef();
    }
    x = num(&a);
    y = num(&b);
    switch (n->op) {
    case OPB_ADD: return v_num(x + y);
    case OPB_SUB: return v_num(x - y);
    case OPB_MUL: return v_num(x * y);
    case OPB_DIV: return v_num(x / y);
    default:      return v_num(fmod(x, y));
    }
}


DSL_COLD static val_t
recase(bt_eval_ctx_t *ctx, const val_t *v, int upper)
{
    char      *s;
    uint32_t   i;
    char       c;

    if (v->t != V_STR) {
        return v_undef();
    }
    s = dsl_alloc(&ctx->scratch, v->n + 1, 0);
    if (s == NULL) {
        return v_undef();
    }
    /* ASCII only: bytewise semantics, like the comparisons */
    for (i = 0; i < v->n; i++) {
        c = v->u.s[i];
        if (upper && c >= 'a' && c <= 'z') {
            c = (char) (c - 32);
        } else if (!upper && c >= 'A' && c <= 'Z') {
            c = (char) (c + 32);
        }
        s[i] = c;
    }
    return v_str(s, v->n);
}


DSL_COLD static val_t
method(bt_eval_ctx_t *ctx, const node_t *n)
{
    val_t          r, a, x;
    elems_t        e;
    const node_t  *lam;
    int            want, any;

    r = ev(ctx, n->a->a);

    switch (n->opc) {
    case OP_STARTSWITH:
    case OP_ENDSWITH:
        a = ev(ctx, n->args[0]);
        if (r.t != V_STR || a.t != V_STR) {
            return v_undef();
        }
        if (a.n > r.n) {
            return v_bool(0);
        }
        return v_bool(memcmp(n->opc == OP_STARTSWITH ? r.u.s
                             : r.u.s + r.n - a.n, a.u.s, a.n) == 0);

    case OP_INCLUDES:
        a = ev(ctx, n->args[0]);
        if (r.t == V_STR) {
            if (a.t != V_STR) {
                return v_undef();
            }
            return v_bool(a.n == 0 || memmem(r.u.s, r.n, a.u.s, a.n) != NULL);
        }
        if (!elems_init(&e, &r)) {
            return v_undef();
        }
        while (elems_next(ctx, &e, &x)) {
            if (strict_eq(&x, &a, 0)) {
                return v_bool(1);
            }
        }
        return v_bool(0);

    case OP_TOLOWER:
    case OP_TOUPPER:
        return recase(ctx, &r, n->opc == OP_TOUPPER);

    case OP_MATCHES:
        if (r.t != V_STR) {
            return v_undef();
        }
        return v_bool(dsl_regex_test(n->args[0]->ptr, r.u.s, r.n,
                                     ctx->mdata));

    case OP_RETEST:
        a = ev(ctx, n->args[0]);
        if (a.t != V_STR) {
            return v_bool(0);
        }
        return v_bool(dsl_regex_test(n->a->a->ptr, a.u.s, a.n, ctx->mdata));

    case OP_SOME:
    case OP_EVERY:
        if (!elems_init(&e, &r)) {
            return v_undef();
        }
        lam = n->args[0];
        want = n->opc == OP_SOME;
        while (elems_next(ctx, &e, &x)) {
            ctx->env[lam->slot] = x;
            a = ev(ctx, lam->a);
            any = truthy(&a);
            if (any == want) {
                return v_bool(want);
            }
        }
        return v_bool(!want);

    default:
        return v_undef();
    }
}


static val_t
span_field(bt_eval_ctx_t *ctx, const node_t *n)
{
    val_t              r, v;
    const bt_tspan_t  *ts;
    const bt_span_t   *s;

    r = ev(ctx, n->a);
    if (r.t != V_SPAN) {
        return v_undef();
    }
    ts = &ctx->tr->spans[r.u.idx];
    s = &ts->s;
    memset(&v, 0, sizeof(v));

    switch (n->opc) {
    case OP_F_NAME:
        return v_str(s->name.p, s->name.n);
    case OP_F_STATUS:
        if (s->status > 2) {
            return v_undef();
        }
        return v_str(status_names[s->status],
                     (uint32_t) strlen(status_names[s->status]));
    case OP_F_STATUSMSG:
        return v_str(s->status_message.p, s->status_message.n);
    case OP_F_KIND:
        if (s->kind > 5) {
            return v_undef();
        }
        return v_str(kind_names[s->kind],
                     (uint32_t) strlen(kind_names[s->kind]));
    case OP_F_DURATION:
        /* subtract as integers: ns since 1970 don't fit a double's 53 bits */
        return v_num((double) ((int64_t) (s->end_ns - s->start_ns)) / 1e6);
    case OP_F_START:
        return v_num(ns_to_ms(s->start_ns));
    case OP_F_END:
        return v_num(ns_to_ms(s->end_ns));
    case OP_F_TRACEID:
        return hex(ctx, s->trace_id, 16);
    case OP_F_SPANID:
        return hex(ctx, s->span_id, 8);
    case OP_F_PARENTID:
        return hex(ctx, s->parent_id, 8);
    case OP_F_SERVICE:
        return v_str(s->service.p, s->service.n);
    case OP_F_SCOPE:
        return v_str(s->scope.p, s->scope.n);
    case OP_F_ISROOT:
        return v_bool(ts->parent < 0);
    case OP_F_ATTRS:
    case OP_F_RESOURCE:
        v.t = V_MAP;
        v.u.p = n->opc == OP_F_ATTRS ? s->attrs.p : s->resource.p;
        v.n = n->opc == OP_F_ATTRS ? s->attrs.n : s->resource.n;
        return v;
    case OP_F_EVENTS:
    case OP_F_LINKS:
        v.t = n->opc == OP_F_EVENTS ? V_EVENTS : V_LINKS;
        v.u.p = n->opc == OP_F_EVENTS ? s->events.p : s->links.p;
        v.n = n->opc == OP_F_EVENTS ? s->events.n : s->links.n;
        v.c = n->opc == OP_F_EVENTS ? s->events.count : s->links.count;
        return v;
    case OP_F_PARENT:
        return ts->parent >= 0 ? v_span((uint32_t) ts->parent) : v_undef();
    case OP_F_CHILDREN:
        v.t = V_SPANS;
        v.u.idx = r.u.idx;
        v.c = ts->n_children;
        return v;
    default:
        return v_undef();
    }
}


DSL_COLD static val_t
item_field(bt_eval_ctx_t *ctx, const node_t *n)
{
    val_t       r, v;
    bt_iter_t   it;
    bt_event_t  e;
    bt_link_t   l;

    r = ev(ctx, n->a);
    memset(&v, 0, sizeof(v));

    if (n->opc <= OP_E_ATTRS) {
        if (r.t != V_EVENT) {
            return v_undef();
        }
        bt_iter_init(&it, r.u.p, r.n);
        if (!bt_event_next(&it, &e)) {
            return v_undef();
        }
        if (n->opc == OP_E_NAME) {
            return v_str(e.name.p, e.name.n);
        }
        if (n->opc == OP_E_TIME) {
            return v_num(ns_to_ms(e.time_ns));
        }
        v.t = V_MAP;
        v.u.p = e.attrs.p;
        v.n = e.attrs.n;
        return v;
    }

    if (r.t != V_LINK) {
        return v_undef();
    }
    bt_iter_init(&it, r.u.p, r.n);
    if (!bt_link_next(&it, &l)) {
        return v_undef();
    }
    if (n->opc == OP_L_TRACEID) {
        return hex(ctx, l.trace_id, 16);
    }
    if (n->opc == OP_L_SPANID) {
        return hex(ctx, l.span_id, 8);
    }
    v.t = V_MAP;
    v.u.p = l.attrs.p;
    v.n = l.attrs.n;
    return v;
}


DSL_COLD static val_t
get(bt_eval_ctx_t *ctx, const node_t *n)
{
    val_t     r, k;
    uint32_t  cnt;

    r = ev(ctx, n->a);
    if (n->kind == N_MEMBER) {
        k = v_str(n->s, n->slen);
    } else {
        k = ev(ctx, n->b);
    }

    if (r.t == V_MAP) {
        if (k.t != V_STR) {
            return v_undef();
        }
        return map_get(&r, k.u.s, k.n);
    }

    if (k.t == V_STR && k.n == 6 && memcmp(k.u.s, "length", 6) == 0) {
        if (r.t == V_STR) {
            return v_num(r.n);
        }
        if (count_elems(ctx, &r, &cnt)) {
            return v_num(cnt);
        }
        return v_undef();
    }
    if (is_num(&k)) {
        return nth(ctx, &r, num(&k));
    }
    return v_undef();
}


/* --- trace level ---------------------------------------------------------- */

/* parents before children, computed once per trace */
DSL_COLD static const uint32_t *
topo_order(bt_eval_ctx_t *ctx)
{
    const bt_trace_t  *tr;
    uint32_t           head, tail, i, j, c, *o;
    uint8_t           *seen;
    dsl_mark_t         m;

    tr = ctx->tr;
    if (ctx->order_epoch == ctx->epoch) {
        return ctx->order;
    }
    if (ctx->order_cap < tr->n) {
        o = realloc(ctx->order, (size_t) tr->n * sizeof(uint32_t));
        if (o == NULL) {
            return NULL;
        }
        ctx->order = o;
        ctx->order_cap = tr->n;
    }
    o = ctx->order;

    m = dsl_arena_mark(&ctx->scratch);
    seen = dsl_alloc(&ctx->scratch, tr->n + 1, 1);
    if (seen == NULL) {
        return NULL;
    }

    tail = 0;
    for (i = 0; i < tr->n; i++) {
        if (tr->spans[i].parent < 0) {
            o[tail++] = i;
            seen[i] = 1;
        }
    }
    /* breadth first from the roots; a cut cycle leaves spans unreached:
       they start their own walk, so every span appears once */
    head = 0;
    for (i = 0; ; ) {
        while (head < tail) {
            j = o[head++];
            for (c = 0; c < tr->spans[j].n_children; c++) {
                uint32_t  k = tr->children[tr->spans[j].first_child + c];

                if (!seen[k]) {
                    seen[k] = 1;
                    o[tail++] = k;
                }
            }
        }
        while (i < tr->n && seen[i]) {
            i++;
        }
        if (i >= tr->n) {
            break;
        }
        seen[i] = 1;
        o[tail++] = i;
    }

    dsl_arena_release(&ctx->scratch, m);
    ctx->order_epoch = ctx->epoch;
    return o;
}


static const dsl_matches_t *
matches(bt_eval_ctx_t *ctx, uint32_t local)
{
    static const dsl_matches_t  none;
    const dsl_matches_t        *m;
    uint32_t                    g;

    g = ctx->map ? ctx->map[local] : local;
    m = &ctx->pm[g];
    return m->epoch == ctx->epoch ? m : &none;
}


DSL_COLD static const uint64_t *
scope_bits(bt_eval_ctx_t *ctx, int32_t sid)
{
    const dsl_scope_t    *sc;
    const dsl_matches_t  *m;
    const uint64_t       *parent;
    const uint32_t       *o;
    uint64_t             *bits;
    uint32_t              i, k, n;
    int32_t               p;

    if (ctx->sstamp[sid] == ctx->rstamp) {
        return ctx->sbits[sid];
    }

    n = ctx->tr->n;
    sc = &ctx->rule->scopes[sid];
    parent = NULL;
    if (sc->parent >= 0) {
        parent = scope_bits(ctx, sc->parent);
        if (parent == NULL) {
            return NULL;
        }
    }
    o = topo_order(ctx);
    bits = dsl_alloc(&ctx->rscratch, ((n + 63) / 64 + 1) * 8, 1);
    if (o == NULL || bits == NULL) {
        return NULL;
    }

    m = matches(ctx, sc->pred);
    for (k = 0; k < m->n; k++) {
        i = m->idx[k];
        if (parent == NULL || (parent[i / 64] >> (i % 64) & 1)) {
            bits[i / 64] |= (uint64_t) 1 << (i % 64);
        }
    }
    /* descendants: a parent comes first in o, so one pass suffices */
    for (k = 0; k < n; k++) {
        i = o[k];
        p = ctx->tr->spans[i].parent;
        if (p >= 0 && (bits[p / 64] >> (p % 64) & 1)) {
            bits[i / 64] |= (uint64_t) 1 << (i % 64);
        }
    }

    ctx->sbits[sid] = bits;
    ctx->sstamp[sid] = ctx->rstamp;
    return bits;
}


/* the matches of list id inside its scope; NULL on out of memory */
static const uint32_t *
list(bt_eval_ctx_t *ctx, uint32_t id, uint32_t *n)
{
    const dsl_list_t     *l;
    const dsl_matches_t  *m;
    const uint64_t       *bits;
    uint32_t             *out, k, i, c;

    if (ctx->lstamp[id] == ctx->rstamp) {
        *n = ctx->ln[id];
        return ctx->lidx[id];
    }

    l = &ctx->rule->lists[id];
    m = matches(ctx, l->pred);
    if (l->scope < 0 || m->n == 0) {
        ctx->lidx[id] = m->idx ? m->idx : (const uint32_t *) ctx->woff;
        ctx->ln[id] = m->n;
    } else {
        bits = scope_bits(ctx, l->scope);
        out = dsl_alloc(&ctx->rscratch, (size_t) m->n * sizeof(uint32_t), 0);
        if (bits == NULL || out == NULL) {
            *n = 0;
            return NULL;
        }
        c = 0;
        for (k = 0; k < m->n; k++) {
            i = m->idx[k];
            if (bits[i / 64] >> (i % 64) & 1) {
                out[c++] = i;
            }
        }
        ctx->lidx[id] = out;
        ctx->ln[id] = c;
    }
    ctx->lstamp[id] = ctx->rstamp;
    *n = ctx->ln[id];
    return ctx->lidx[id];
}


static uint64_t
start_of(bt_eval_ctx_t *ctx, uint32_t i)
{
    return ctx->tr->spans[i].s.start_ns;
}


/* first position in l[0..n) whose span starts at or after t */
static uint32_t
lower_bound(bt_eval_ctx_t *ctx, const uint32_t *l, uint32_t n, uint64_t t)
{
    uint32_t  lo, hi, mid;

    lo = 0;
    hi = n;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (start_of(ctx, l[mid]) < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}


/* one sequence search: the steps' lists and who holds which span */
typedef struct {
    bt_eval_ctx_t    *ctx;
    const uint32_t   *l[BT_DSL_MAX_CLAUSES];       /* step lists */
    uint32_t          ln[BT_DSL_MAX_CLAUSES];
    uint32_t          from[BT_DSL_MAX_CLAUSES];     /* step j's spans at */
    uint32_t          to[BT_DSL_MAX_CLAUSES];       /* time T: l[from..to) */
    uint32_t          span[BT_DSL_MAX_CLAUSES];     /* step -> its span */
    uint8_t           seen[BT_DSL_MAX_CLAUSES];
    uint32_t          first;        /* steps first..j are at time T */
} seq_t;


/* the step (first.. last) holding span x at time T, or -1 */
static int32_t
seq_owner(const seq_t *q, uint32_t last, uint32_t x)
{
    uint32_t  j;

    for (j = q->first; j < last; j++) {
        if (q->span[j] == x) {
            return (int32_t) j;
        }
    }
    return -1;
}


/*
 * Gives step j a span at time T, moving other steps of this time to other
 * spans of theirs if needed (an augmenting path, as in bipartite matching).
 */
static int
seq_augment(seq_t *q, uint32_t j, uint32_t last)
{
    uint32_t  p, x, held;
    int32_t   o;

    for (p = q->from[j]; p < q->to[j]; p++) {
        if (seq_owner(q, last, q->l[j][p]) < 0) {
            q->span[j] = q->l[j][p];
            return 1;
        }
    }
    held = q->span[j];
    q->seen[j] = 1;
    for (p = q->from[j]; p < q->to[j]; p++) {
        x = q->l[j][p];
        o = seq_owner(q, last, x);
        if (o >= 0 && !q->seen[o]) {
            q->seen[o] = 1;
            q->span[j] = UINT32_MAX;        /* j is looking, not holding */
            if (seq_augment(q, (uint32_t) o, last)) {
                q->span[j] = x;
                return 1;
            }
            q->span[j] = held;
        }
    }
    return 0;
}


/*
 * sequence: distinct spans s1..sk, si matching step i, starting in
 * non-decreasing order.  Greedy over time: the next step takes the earliest
 * start time T at which it has a span; then as many following steps as
 * possible also take spans starting at T, as a matching (spans starting at
 * the same instant can be shared out in any order, so this is where
 * "earliest" needs care); the first step that can't fit at T goes on after
 * T.  Taking the earliest time for each step never hurts the later ones,
 * so a sequence is found whenever one exists.  Within a window spans must
 * start in [lo, hi].  Fills chosen (k entries) when not NULL.  Returns 1 if
 * found.
 */
DSL_COLD static int
sequence(bt_eval_ctx_t *ctx, const node_t *n, int window, uint32_t *chosen)
{
    const uint32_t  *ids;
    uint32_t         j, k, pos, m;
    uint64_t         t, lo, hi, lb;
    seq_t            q;

    ids = n->ptr;
    k = n->nargs;
    lo = window ? ctx->win_lo : 0;
    hi = window ? ctx->win_hi : UINT64_MAX;
    q.ctx = ctx;

    for (j = 0; j < k; j++) {
        q.l[j] = list(ctx, ids[j], &q.ln[j]);
        if (q.l[j] == NULL) {
            return 0;
        }
    }

    lb = lo;
    j = 0;
    while (j < k) {
        /* the earliest time step j can start at */
        pos = lower_bound(ctx, q.l[j], q.ln[j], lb);
        if (pos == q.ln[j]) {
            return 0;
        }
        t = start_of(ctx, q.l[j][pos]);
        if (t > hi) {
            return 0;
        }

        /* the longest run of steps j.. that fit at time t together */
        q.first = j;
        for (m = j; m < k; m++) {
            q.from[m] = lower_bound(ctx, q.l[m], q.ln[m], t);
            q.to[m] = t == UINT64_MAX ? q.ln[m]
                      : lower_bound(ctx, q.l[m], q.ln[m], t + 1);
            memset(q.seen + j, 0, m - j + 1);
            q.span[m] = UINT32_MAX;
            if (!seq_augment(&q, m, m)) {
                break;
            }
        }
        j = m;
        if (t == UINT64_MAX) {
            return j == k;
        }
        lb = t + 1;
    }

    if (chosen) {
        memcpy(chosen, q.span, k * sizeof(uint32_t));
    }
    return 1;
}


static int cond(bt_eval_ctx_t *ctx, const node_t *n);


/*
 * c.within(d): slide a window [t, t + d] over the start times of the
 * positive clauses' matches (every t a match starts at); c holds in some
 * window iff it holds with witnesses spread by at most d.  Each list keeps
 * two cursors that only move forward, so the cost is the number of
 * candidate starts times the size of c.  Leaves the successful window in
 * ctx (win_lo, win_hi, wlo, whi).
 */
DSL_COLD static int
within(bt_eval_ctx_t *ctx, const node_t *n)
{
    const dsl_within_t  *w;
    const node_t        *c;
    const uint32_t      *ls[BT_DSL_MAX_CLAUSES];
    uint32_t             lns[BT_DSL_MAX_CLAUSES], cur[BT_DSL_MAX_CLAUSES];
    uint32_t             j, id;
    uint64_t             t, s, d;
    int                  ok;

    w = n->ptr;
    c = n->a->a;
    d = (uint64_t) n->dur_ns;

    /* the positive parts only lose matches in a window: test once whole */
    if (!cond(ctx, c)) {
        return 0;
    }
    if (w->nlists == 0) {
        return 1;
    }

    for (j = 0; j < w->nlists; j++) {
        ls[j] = list(ctx, w->lists[j], &lns[j]);
        if (ls[j] == NULL) {
            return 0;
        }
        cur[j] = 0;
        ctx->wlo[w->lists[j]] = 0;
        ctx->whi[w->lists[j]] = 0;
    }

    for ( ;; ) {
        /* next candidate start: the smallest start under the cursors */
        t = UINT64_MAX;
        for (j = 0; j < w->nlists; j++) {
            if (cur[j] < lns[j]) {
                s = start_of(ctx, ls[j][cur[j]]);
                if (s < t) {
                    t = s;
                }
            }
        }
        if (t == UINT64_MAX) {
            return 0;
        }

        for (j = 0; j < w->nlists; j++) {
            id = w->lists[j];
            while (ctx->wlo[id] < lns[j]
                   && start_of(ctx, ls[j][ctx->wlo[id]]) < t)
            {
                ctx->wlo[id]++;
            }
            if (ctx->whi[id] < ctx->wlo[id]) {
                ctx->whi[id] = ctx->wlo[id];
            }
            while (ctx->whi[id] < lns[j]
                   && start_of(ctx, ls[j][ctx->whi[id]]) - t <= d)
            {
                ctx->whi[id]++;
            }
        }

        ctx->in_window = 1;
        ctx->win_lo = t;
        ctx->win_hi = t + d < t ? UINT64_MAX : t + d;
        ok = cond(ctx, c);
        ctx->in_window = 0;
        if (ok) {
            return 1;
        }

        for (j = 0; j < w->nlists; j++) {
            while (cur[j] < lns[j] && start_of(ctx, ls[j][cur[j]]) == t) {
                cur[j]++;
            }
        }
    }
}


static int
cond(bt_eval_ctx_t *ctx, const node_t *n)
{
    val_t  v;

    v = ev(ctx, n);
    return truthy(&v);
}


DSL_COLD static val_t
services(bt_eval_ctx_t *ctx)
{
    const bt_trace_t  *tr;
    bt_str_t          *s;
    uint32_t           i, j, n;
    val_t              v;

    tr = ctx->tr;
    if (ctx->services_epoch != ctx->epoch) {
        if (ctx->services_cap < tr->n) {
            s = realloc(ctx->services, (size_t) tr->n * sizeof(bt_str_t));
            if (s == NULL) {
                return v_undef();
            }
            ctx->services = s;
            ctx->services_cap = tr->n;
        }
        /* distinct names in order of first appearance; traces have few
           services, so the inner scan stays short */
        n = 0;
        for (i = 0; i < tr->n; i++) {
            const bt_str_t  *x = &tr->spans[i].s.service;

            for (j = 0; j < n; j++) {
                if (ctx->services[j].n == x->n
                    && memcmp(ctx->services[j].p, x->p, x->n) == 0)
                {
                    break;
                }
            }
            if (j == n && x->n > 0) {
                ctx->services[n++] = *x;
            }
        }
        ctx->nservices = n;
        ctx->services_epoch = ctx->epoch;
    }

    memset(&v, 0, sizeof(v));
    v.t = V_STRS;
    v.u.ptr = ctx->services;
    v.n = ctx->nservices;
    return v;
}


static val_t
ev(bt_eval_ctx_t *ctx, const node_t *n)
{
    const bt_trace_t  *tr;
    val_t              v;
    uint32_t           ln;
    int32_t            root;

    tr = ctx->tr;

    switch (n->opc) {
    case OP_LIT:
        switch (n->kind) {
        case N_NUM:
            return v_num(n->num);
        case N_STR:
            return v_str(n->s, n->slen);
        case N_BOOL:
            return v_bool(n->num != 0);
        case N_NULL:
            v = v_undef();
            v.t = V_NULL;
            return v;
        case N_REGEX:
            v = v_undef();
            v.t = V_REGEX;
            v.u.ptr = n->ptr;
            return v;
        default:
            return v_undef();
        }

    case OP_PARAM:
        return ctx->env[n->slot];

    case OP_F_NAME: case OP_F_STATUS: case OP_F_STATUSMSG: case OP_F_KIND:
    case OP_F_DURATION: case OP_F_START: case OP_F_END: case OP_F_TRACEID:
    case OP_F_SPANID: case OP_F_PARENTID: case OP_F_SERVICE:
    case OP_F_ISROOT: case OP_F_ATTRS: case OP_F_RESOURCE: case OP_F_SCOPE:
    case OP_F_EVENTS: case OP_F_LINKS: case OP_F_PARENT: case OP_F_CHILDREN:
        return span_field(ctx, n);

    case OP_E_NAME: case OP_E_TIME: case OP_E_ATTRS:
    case OP_L_TRACEID: case OP_L_SPANID: case OP_L_ATTRS:
        return item_field(ctx, n);

    case OP_GET:
        return get(ctx, n);

    case OP_LENGTH:
        v = ev(ctx, n->a);
        if (v.t == V_STR) {
            return v_num(v.n);
        }
        if (count_elems(ctx, &v, &ln)) {
            return v_num(ln);
        }
        return v_undef();

    case OP_STARTSWITH: case OP_ENDSWITH: case OP_INCLUDES:
    case OP_TOLOWER: case OP_TOUPPER: case OP_MATCHES: case OP_RETEST:
    case OP_SOME: case OP_EVERY:
        return method(ctx, n);

    case OP_NOT:
        v = ev(ctx, n->a);
        return v_bool(!truthy(&v));

    case OP_NEG:
        v = ev(ctx, n->a);
        return is_num(&v) ? v_num(-num(&v)) : v_undef();

    case OP_AND:
        v = ev(ctx, n->a);
        return truthy(&v) ? ev(ctx, n->b) : v;

    case OP_OR:
        v = ev(ctx, n->a);
        return truthy(&v) ? v : ev(ctx, n->b);

    case OP_BIN:
        return binary(ctx, n);

    case OP_ARRAY:
        v = v_undef();
        v.t = V_LIST;
        v.u.ptr = n;
        return v;

    /* trace level */
    case OP_T_HAS:
        if ((n->flags & NF_WINDOW) && ctx->in_window) {
            return v_bool(ctx->whi[n->id] > ctx->wlo[n->id]);
        }
        (void) list(ctx, (uint32_t) n->id, &ln);
        return v_bool(ln > 0);

    case OP_T_MISSING:
        (void) list(ctx, (uint32_t) n->id, &ln);
        return v_bool(ln == 0);

    case OP_T_COUNT:
        (void) list(ctx, (uint32_t) n->id, &ln);
        return v_num(ln);

    case OP_T_SEQ:
        return v_bool(sequence(ctx, n,
                               (n->flags & NF_WINDOW) && ctx->in_window,
                               NULL));

    case OP_T_DURATION:
        if (tr->n == 0) {
            return v_num(0);
        }
        return v_num((double) ((int64_t) (tr->end_ns - tr->start_ns)) / 1e6);

    case OP_T_SPANCOUNT:
        return v_num(tr->n);

    case OP_T_ROOTNAME:
    case OP_T_ROOTSERVICE:
        root = tr->root;
        if (root < 0) {
            return v_undef();
        }
        return n->opc == OP_T_ROOTNAME
               ? v_str(tr->spans[root].s.name.p, tr->spans[root].s.name.n)
               : v_str(tr->spans[root].s.service.p,
                       tr->spans[root].s.service.n);

    case OP_T_SERVICES:
        return services(ctx);

    case OP_C_AND:
        return v_bool(cond(ctx, n->a->a) && cond(ctx, n->args[0]));

    case OP_C_OR:
        return v_bool(cond(ctx, n->a->a) || cond(ctx, n->args[0]));

    case OP_C_NOT:
        return v_bool(!cond(ctx, n->a->a));

    case OP_C_WITHIN:
        return v_bool(within(ctx, n));

    default:
        return v_undef();
    }
}


/* --- witnesses ---------------------------------------------------------- */

static void
witness_add(bt_eval_ctx_t *ctx, int32_t slot, const uint32_t *idx,
    uint32_t n)
{
    uint32_t  cap;

    if (slot < 0) {
        return;
    }
    cap = (uint32_t) (sizeof(ctx->wbuf) / sizeof(ctx->wbuf[0])) - ctx->wused;
    if (n > BT_DSL_MAX_WITNESSES) {
        n = BT_DSL_MAX_WITNESSES;
    }
    if (n > cap) {
        n = cap;
    }
    ctx->wstart[slot] = ctx->wused;
    ctx->wn[slot] = n;
    memcpy(ctx->wbuf + ctx->wused, idx, n * sizeof(uint32_t));
    ctx->wused += n;
}


/* Walks the true, positive parts of a rule that fired, as evaluated. */
static void
witness(bt_eval_ctx_t *ctx, const node_t *n)
{
    const uint32_t  *l;
    uint32_t         ln, chosen[BT_DSL_MAX_CLAUSES];
    int              win;

    switch (n->opc) {
    case OP_AND:
        witness(ctx, n->a);
        witness(ctx, n->b);
        return;

    case OP_C_AND:
        witness(ctx, n->a->a);
        witness(ctx, n->args[0]);
        return;

    case OP_OR:
        if (cond(ctx, n->a)) {
            witness(ctx, n->a);
        }
        if (cond(ctx, n->b)) {
            witness(ctx, n->b);
        }
        return;

    case OP_C_OR:
        if (cond(ctx, n->a->a)) {
            witness(ctx, n->a->a);
        }
        if (cond(ctx, n->args[0])) {
            witness(ctx, n->args[0]);
        }
        return;

    case OP_T_HAS:
        if (n->slot < 0) {
            return;
        }
        l = list(ctx, (uint32_t) n->id, &ln);
        if (l == NULL) {
            return;
        }
        if ((n->flags & NF_WINDOW) && ctx->in_window) {
            witness_add(ctx, n->slot, l + ctx->wlo[n->id],
                        ctx->whi[n->id] - ctx->wlo[n->id]);
        } else {
            witness_add(ctx, n->slot, l, ln);
        }
        return;

    case OP_T_SEQ:
        if (n->slot < 0) {
            return;
        }
        win = (n->flags & NF_WINDOW) && ctx->in_window;
        if (sequence(ctx, n, win, chosen)) {
            witness_add(ctx, n->slot, chosen, n->nargs);
        }
        return;

    case OP_C_WITHIN:
        if (within(ctx, n)) {
            ctx->in_window = ((const dsl_within_t *) n->ptr)->nlists > 0;
            witness(ctx, n->a->a);
            ctx->in_window = 0;
        }
        return;

    default:
        return;
    }
}


/* --- entry points ----------------------------------------------------------- */

int
dsl_ctx_begin(bt_eval_ctx_t *ctx, const bt_trace_t *tr, uint32_t npreds)
{
    dsl_matches_t  *pm;
    uint32_t        i, *matched;

    if (npreds > ctx->npm) {
        matched = realloc(ctx->matched, npreds * sizeof(uint32_t));
        if (matched == NULL) {
            return -1;
        }
        ctx->matched = matched;
        pm = realloc(ctx->pm, npreds * sizeof(dsl_matches_t));
        if (pm == NULL) {
            return -1;
        }
        for (i = ctx->npm; i < npreds; i++) {
            memset(&pm[i], 0, sizeof(pm[i]));
        }
        ctx->pm = pm;
        ctx->npm = npreds;
    }

    ctx->tr = tr;
    ctx->nmatched = 0;
    ctx->epoch++;
    if (ctx->epoch == 0) {
        /* wrapped: every stale stamp must stay stale */
        for (i = 0; i < ctx->npm; i++) {
            ctx->pm[i].epoch = 0;
        }
        ctx->order_epoch = 0;
        ctx->services_epoch = 0;
        if (ctx->rstamps != NULL) {
            memset(ctx->rstamps, 0, ctx->rules_cap * sizeof(uint32_t));
        }
        ctx->epoch = 1;
    }
    dsl_arena_reset(&ctx->scratch);
    return 0;
}


int
dsl_pred_eval(bt_eval_ctx_t *ctx, const dsl_pred_t *p, uint32_t i)
{
    const bt_span_t  *s;
    const node_t     *lam;
    dsl_mark_t        m;
    val_t             v;
    double            d;

    /* implied conditions first: most spans fail them cheaply */
    s = &ctx->tr->spans[i].s;
    if (!(p->smask >> (s->status < 7 ? s->status : 7) & 1)
        || !(p->kmask >> (s->kind < 7 ? s->kind : 7) & 1))
    {
        return 0;
    }
    d = (double) ((int64_t) (s->end_ns - s->start_ns)) / 1e6;
    if (!(d > p->dur_gt) || !(d >= p->dur_ge)) {
        return 0;
    }

    lam = p->lam;
    m = dsl_arena_mark(&ctx->scratch);
    ctx->env[lam->slot] = v_span(i);
    v = ev(ctx, lam->a);
    dsl_arena_release(&ctx->scratch, m);
    return truthy(&v);
}


int
dsl_atest(const dsl_atest_t *t, const bt_val_t *v)
{
    val_t  a, b;

    /*
     * A number against a number literal (most tests): order() and
     * strict_eq() compare the two as doubles, and so does this.
     */
    if (v != NULL && t->lit->kind == N_NUM
        && (v->type == BT_VAL_INT || v->type == BT_VAL_DOUBLE))
    {
        double  x, y;

        x = v->type == BT_VAL_INT ? (double) bt_val_int(v)
                                  : bt_val_double(v);
        y = t->lit->num;
        switch (t->op) {
        case OPB_SEQ:
        case OPB_EQ:
            return x == y;
        case OPB_SNE:
        case OPB_NE:
            return !(x == y);
        case OPB_LT:
            return x < y;
        case OPB_LE:
            return x < y || x == y;
        case OPB_GT:
            return x > y;
        case OPB_GE:
            return x > y || x == y;
        default:
            break;
        }
    }

    /* exactly what binary() does with these two operands */
    a = v != NULL ? from_attr(v) : v_undef();
    switch (t->lit->kind) {
    case N_NUM:
        b = v_num(t->lit->num);
        break;
    case N_STR:
        b = v_str(t->lit->s, t->lit->slen);
        break;
    case N_BOOL:
        b = v_bool(t->lit->num != 0);
        break;
    default:
        b = v_undef();
        b.t = V_NULL;
        break;
    }
    return compare(t->op, &a, &b) == 1;
}


int
dsl_match_add(bt_eval_ctx_t *ctx, uint32_t g, uint32_t i)
{
    dsl_matches_t  *m;
    uint32_t       *idx, cap;

    m = &ctx->pm[g];
    if (m->epoch != ctx->epoch) {
        m->epoch = ctx->epoch;
        m->n = 0;
        ctx->matched[ctx->nmatched++] = g;
    }
    if (m->n == m->cap) {
        cap = m->cap ? m->cap * 2 : 16;
        idx = realloc(m->idx, (size_t) cap * sizeof(uint32_t));
        if (idx == NULL) {
            return -1;
        }
        m->idx = idx;
        m->cap = cap;
    }
    m->idx[m->n++] = i;
    return 0;
}


int
dsl_rule_run(bt_eval_ctx_t *ctx, const bt_rule_t *rule, const uint32_t *map)
{
    uint32_t  c, k;
    int       fired;

    ctx->rule = rule;
    ctx->map = map;
    ctx->in_window = 0;
    ctx->rstamp++;
    if (ctx->rstamp == 0) {
        memset(ctx->lstamp, 0, sizeof(ctx->lstamp));
        memset(ctx->sstamp, 0, sizeof(ctx->sstamp));
        ctx->rstamp = 1;
    }
    dsl_arena_reset(&ctx->rscratch);

    fired = cond(ctx, rule->root);
    if (!fired) {
        return 0;
    }

    ctx->wused = 0;
    for (c = 0; c < rule->nclauses; c++) {
        ctx->wn[c] = 0;
        ctx->wstart[c] = 0;
    }
    witness(ctx, rule->root);

    k = 0;
    for (c = 0; c < rule->nclauses; c++) {
        ctx->woff[c] = k;
        memcpy(ctx->wout + k, ctx->wbuf + ctx->wstart[c],
               ctx->wn[c] * sizeof(uint32_t));
        k += ctx->wn[c];
    }
    ctx->woff[rule->nclauses] = k;
    return 1;
}


bt_eval_ctx_t *
bt_eval_ctx_new(void)
{
    bt_eval_ctx_t  *ctx;

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return NULL;
    }
    dsl_arena_init(&ctx->scratch);
    dsl_arena_init(&ctx->rscratch);
    ctx->mdata = dsl_regex_mdata_new();
    if (ctx->mdata == NULL) {
        free(ctx);
        return NULL;
    }
    return ctx;
}


void
bt_eval_ctx_free(bt_eval_ctx_t *ctx)
{
    uint32_t  i;

    if (ctx == NULL) {
        return;
    }
    for (i = 0; i < ctx->npm; i++) {
        free(ctx->pm[i].idx);
    }
    free(ctx->pm);
    free(ctx->matched);
    free(ctx->order);
    free(ctx->services);
    free(ctx->cand);
    free(ctx->pstamp);
    free(ctx->rules);
    free(ctx->rstamps);
    free(ctx->rbits);
    free(ctx->aval);
    free(ctx->astamp);
    free(ctx->nc);
    free(ctx->nc_bytes);
    free(ctx->nc_preds);
    dsl_arena_free(&ctx->scratch);
    dsl_arena_free(&ctx->rscratch);
    dsl_regex_mdata_free(ctx->mdata);
    free(ctx);
}


int
bt_rule_eval(const bt_rule_t *rule, const bt_trace_t *trace,
    bt_eval_ctx_t *ctx, bt_fire_pt fn, void *arg)
{
    uint32_t      i, p;
    int           rc;
    bt_witness_t  w;

    if (dsl_ctx_begin(ctx, trace, rule->npreds) != 0) {
        return -1;
    }
    for (i = 0; i < trace->n; i++) {
        for (p = 0; p < rule->npreds; p++) {
            if (dsl_pred_eval(ctx, &rule->preds[p], i)
                && dsl_match_add(ctx, p, i) != 0)
            {
                return -1;
            }
        }
    }

    rc = dsl_rule_run(ctx, rule, NULL);
    if (rc == 1 && fn != NULL) {
        w.nclauses = rule->nclauses;
        w.off = ctx->woff;
        w.spans = ctx->wout;
        fn(arg, 0, NULL, &w);
    }
    return rc;
}
