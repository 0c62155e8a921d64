/*
 * compile.c - from the checked tree to predicates, lists, scopes, clause
 * numbers and index keys (see compile.h), and bt_rule_compile itself.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compile.h"
#include "diag.h"
#include "lexer.h"
#include "parser.h"

#define MAX_LISTS  (BT_DSL_MAX_CLAUSES)


typedef struct {
    bt_rule_t    *r;
    int           oom;
    uint32_t      preds_cap;
} compiler_t;


static uint64_t
rd64(const char *p)
{
    uint64_t  w;

    memcpy(&w, p, 8);
    return w;
}


static uint32_t
rd32(const char *p)
{
    uint32_t  w;

    memcpy(&w, p, 4);
    return w;
}


static uint64_t
mix64(uint64_t h)
{
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h;
}


uint32_t
dsl_hash(const char *s, size_t n)
{
    uint64_t  h, w;
    size_t    i;

    /*
     * Eight bytes at a time: the rule-set index hashes every span's name,
     * service and attribute keys, and FNV's byte loop was a third of the
     * evaluation time on attribute-heavy spans.  The tail is one
     * overlapping read, so there is no byte loop at all.
     */
    h = 0x9e3779b97f4a7c15ULL ^ (uint64_t) n;

    if (n >= 8) {
        for (i = 0; i + 8 < n; i += 8) {
            h = mix64(h ^ rd64(s + i));
        }
        w = rd64(s + n - 8);

    } else if (n >= 4) {
        w = (uint64_t) rd32(s) << 32 | rd32(s + n - 4);

    } else if (n > 0) {
        w = (uint64_t) (unsigned char) s[0] << 16
            | (uint64_t) (unsigned char) s[n >> 1] << 8
            | (unsigned char) s[n - 1];

    } else {
        w = 0;
    }

    h = mix64(h ^ w);
    h *= 0x94d049bb133111ebULL;
    return (uint32_t) (h ^ h >> 32);
}


static int
is_param(const node_t *n, int32_t slot)
{
    return n->opc == OP_PARAM && n->slot == slot;
}


/* span.attributes['k'] / span.attributes.k with a constant key: the key */
static int
attr_key(const node_t *n, int32_t slot, const char **k, uint32_t *klen)
{
    if (n->opc != OP_GET || n->a->opc != OP_F_ATTRS
        || !is_param(n->a->a, slot))
    {
        return 0;
    }
    if (n->kind == N_MEMBER) {
        *k = n->s;
        *klen = n->slen;
        return 1;
    }
    if (n->kind == N_INDEX && n->b->kind == N_STR) {
        *k = n->b->s;
        *klen = n->b->slen;
        return 1;
    }
    return 0;
}


static int
is_name(const node_t *n, int32_t slot)
{
    return n->opc == OP_F_NAME && is_param(n->a, slot);
}


static int
nonnullish_literal(const node_t *n)
{
    return n->kind == N_NUM || n->kind == N_STR || n->kind == N_BOOL;
}


static void
key1(dsl_pred_t *k, int kind, const char *s, uint32_t n)
{
    k->key_kind = (uint8_t) kind;
    k->nkeys = 1;
    k->keys[0] = s;
    k->klens[0] = n;
}


static int
key_rank(int kind)
{
    switch (kind) {
    case KEY_NAME:      return 7;
    case KEY_ATTRVAL:   return 6;
    case KEY_SERVICE:   return 5;
    case KEY_PREFIX:    return 4;
    case KEY_SUBSTR:    return 3;
    case KEY_ATTR:      return 2;
    case KEY_KIND:      return 1;
    case KEY_STATUS:    return 1;
    default:            return 0;
    }
}


size_t
dsl_attrval_key(char *out, size_t cap, const char *a, size_t alen, int tag,
    const void *v, size_t vlen)
{
    double  d;

    if (alen + 2 + vlen > cap) {
        return 0;
    }
    if (tag == 'n') {
        memcpy(&d, v, 8);
        if (d != d) {
            return 0;
        }
        if (d == 0) {
            d = 0;              /* -0 and 0 are equal */
        }
        v = &d;
    }
    memcpy(out, a, alen);
    out[alen] = '\0';
    out[alen + 1] = (char) tag;
    memcpy(out + alen + 2, v, vlen);
    return alen + 2 + vlen;
}


/* attribute === literal as a KEY_ATTRVAL key in the rule's arena */
static int
attrval(dsl_arena_t *arena, dsl_pred_t *out, const char *k, uint32_t kl,
    const node_t *lit)
{
    char     buf[512], *key;
    size_t   n;
    uint8_t  b;

    if (memchr(k, '\0', kl) != NULL) {
        return 0;               /* the index finds the name by its NUL */
    }
    switch (lit->kind) {
    case N_STR:
        n = dsl_attrval_key(buf, sizeof(buf), k, kl, 's', lit->s, lit->slen);
        break;
    case N_NUM:
        n = dsl_attrval_key(buf, sizeof(buf), k, kl, 'n', &lit->num, 8);
        break;
    case N_BOOL:
        b = lit->num != 0;
        n = dsl_attrval_key(buf, sizeof(buf), k, kl, 'b', &b, 1);
        break;
    default:
        n = 0;
    }
    if (n == 0) {
        return 0;
    }
    key = dsl_alloc(arena, n, 0);
    if (key == NULL) {
        return 0;
    }
    memcpy(key, buf, n);
    key1(out, KEY_ATTRVAL, key, (uint32_t) n);
    return 1;
}


/*
 * Keys of a span condition: a set of names (or prefixes, or attribute keys)
 * of which the span must have one for e to be true.  KEY_NONE: any span.
 */
static void
keys_of(dsl_arena_t *arena, const node_t *e, int32_t slot, dsl_pred_t *out)
{
    dsl_pred_t   a, b;
    const node_t *x, *y;
    const char  *k;
    uint32_t     kl, i;

    memset(out, 0, sizeof(*out));

    switch (e->opc) {
    case OP_AND:
    case OP_C_AND:
        keys_of(arena, e->opc == OP_AND ? e->a : e->a->a, slot, &a);
        keys_of(arena, e->opc == OP_AND ? e->b : e->args[0], slot, &b);
        *out = key_rank(a.key_kind) >= key_rank(b.key_kind) ? a : b;
        return;

    case OP_OR:
    case OP_C_OR:
        keys_of(arena, e->opc == OP_OR ? e->a : e->a->a, slot, &a);
        keys_of(arena, e->opc == OP_OR ? e->b : e->args[0], slot, &b);
        if (a.key_kind != KEY_NONE && a.key_kind == b.key_kind
            && a.nkeys + b.nkeys <= DSL_MAX_KEYS)
        {
            *out = a;
            for (i = 0; i < b.nkeys; i++) {
                out->keys[out->nkeys] = b.keys[i];
                out->klens[out->nkeys++] = b.klens[i];
            }
        }
        return;

    case OP_BIN:
        if (e->op >= OPB_ADD) {
            return;
        }
        for (i = 0; i < 2; i++) {
            x = i ? e->b : e->a;
            y = i ? e->a : e->b;
            if ((e->op == OPB_SEQ || e->op == OPB_EQ) && is_name(x, slot)
                && y->kind == N_STR)
            {
                key1(out, KEY_NAME, y->s, y->slen);
                return;
            }
            if ((e->op == OPB_SEQ || e->op == OPB_EQ)
                && x->opc == OP_F_SERVICE && is_param(x->a, slot)
                && y->kind == N_STR)
            {
                key1(out, KEY_SERVICE, y->s, y->slen);
                return;
            }
            if ((e->op == OPB_SEQ || e->op == OPB_EQ)
                && attr_key(x, slot, &k, &kl) && attrval(arena, out, k, kl, y))
            {
                return;
            }
            if ((e->op == OPB_SEQ || e->op == OPB_EQ)
                && (x->opc == OP_F_STATUS || x->opc == OP_F_KIND)
                && is_param(x->a, slot) && y->kind == N_STR)
            {
                key1(out, x->opc == OP_F_STATUS ? KEY_STATUS : KEY_KIND,
                     y->s, y->slen);
                return;
            }
            /* undefined compares false to any literal but null/undefined */
            if (e->op != OPB_SNE && e->op != OPB_NE
                && attr_key(x, slot, &k, &kl) && nonnullish_literal(y))
            {
                key1(out, KEY_ATTR, k, kl);
                return;
            }
        }
        return;

    case OP_STARTSWITH:
        if (is_name(e->a->a, slot) && e->args[0]->kind == N_STR
            && e->args[0]->slen > 0)
        {
            key1(out, KEY_PREFIX, e->args[0]->s, e->args[0]->slen);
            return;
        }
        /* fall through */
    case OP_INCLUDES:
        if (e->opc == OP_INCLUDES && is_name(e->a->a, slot)
            && e->args[0]->kind == N_STR && e->args[0]->slen > 0)
        {
            key1(out, KEY_SUBSTR, e->args[0]->s, e->args[0]->slen);
            return;
        }
        /* fall through */
    case OP_ENDSWITH:
    case OP_MATCHES:
        /* a method on a missing attribute is undefined: false */
        if (attr_key(e->a->a, slot, &k, &kl)) {
            key1(out, KEY_ATTR, k, kl);
        }
        return;

    default:
        return;
    }
}


static int
enum_bit(const node_t *lit, int status)
{
    static const char  *statuses[] = { "UNSET", "OK", "ERROR", NULL };
    static const char  *kinds[] = {
        "UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER",
        NULL
    };
    const char *const  *v;
    int                 i;

    v = status ? statuses : kinds;
    for (i = 0; v[i]; i++) {
        if (lit->slen == strlen(v[i]) && memcmp(lit->s, v[i], lit->slen) == 0)
        {
            return i;
        }
    }
    return -1;
}


/* fills p's prefilter from the conjuncts of e (see dsl_pred_t) */
static void
prefilter(dsl_pred_t *p, const node_t *e, int32_t slot)
{
    const node_t  *x, *y;
    uint8_t       *mask;
    int            bit;

    if (e->opc == OP_AND) {
        prefilter(p, e->a, slot);
        prefilter(p, e->b, slot);
        return;
    }
    if (e->opc != OP_BIN) {
        return;
    }
    x = e->a;
    y = e->b;

    if ((x->opc == OP_F_STATUS || x->opc == OP_F_KIND) && is_param(x->a, slot)
        && y->kind == N_STR)
    {
        mask = x->opc == OP_F_STATUS ? &p->smask : &p->kmask;
        bit = enum_bit(y, x->opc == OP_F_STATUS);
        if (e->op == OPB_SEQ || e->op == OPB_EQ) {
            *mask &= bit < 0 ? 0 : (uint8_t) (1u << bit);
        } else if ((e->op == OPB_SNE || e->op == OPB_NE) && bit >= 0) {
            *mask &= (uint8_t) ~(1u << bit);
        }
        return;
    }

    if (e->op <= OPB_GE && p->natests < DSL_MAX_ATESTS
        && y->opc == OP_LIT
        && (y->kind == N_NUM || y->kind == N_STR || y->kind == N_BOOL
            || y->kind == N_NULL)
        && attr_key(x, slot, &p->atests[p->natests].key,
                    &p->atests[p->natests].klen))
    {
        p->atests[p->natests].op = e->op;
        p->atests[p->natests].lit = y;
        p->natests++;
        return;
    }

    if (x->opc == OP_F_DURATION && is_param(x->a, slot) && y->kind == N_NUM) {
        if (e->op == OPB_GT && y->num > p->dur_gt) {
            p->dur_gt = y->num;
        } else if (e->op == OPB_GE && y->num > p->dur_ge) {
            p->dur_ge = y->num;
        }
    }
}


/* see dsl_pred_t.exact: e is the lambda's body, p its keys */
static int
exact_key(const node_t *e, int32_t slot, const dsl_pred_t *p)
{
    const node_t  *x, *y;
    uint32_t       i;

    if (p->nkeys != 1) {
        return 0;
    }

    switch (e->opc) {
    case OP_BIN:
        if (e->op != OPB_SEQ && e->op != OPB_EQ) {
            return 0;
        }
        for (i = 0; i < 2; i++) {
            x = i ? e->b : e->a;
            y = i ? e->a : e->b;
            if (y->opc != OP_LIT || y->kind != N_STR) {
                continue;
            }
            switch (p->key_kind) {
            case KEY_NAME:
                return is_name(x, slot);
            case KEY_SERVICE:
                return x->opc == OP_F_SERVICE && is_param(x->a, slot);
            case KEY_STATUS:
                return x->opc == OP_F_STATUS && is_param(x->a, slot);
            case KEY_KIND:
                return x->opc == OP_F_KIND && is_param(x->a, slot);
            default:
                return 0;
            }
        }
        return 0;

    case OP_STARTSWITH:
    case OP_INCLUDES:
        return p->key_kind == (e->opc == OP_STARTSWITH ? KEY_PREFIX
                                                       : KEY_SUBSTR)
               && is_name(e->a->a, slot) && e->nargs == 1
               && e->args[0]->opc == OP_LIT && e->args[0]->kind == N_STR
               && e->args[0]->slen > 0;

    default:
        return 0;
    }
}


static int32_t
add_pred(compiler_t *c, node_t *lam)
{
    bt_rule_t   *r;
    dsl_pred_t  *p;
    size_t       n;
    char        *canon;
    uint32_t     i, h;

    r = c->r;
    n = ast_canon(lam, NULL, 0);
    canon = dsl_alloc(&r->arena, n + 1, 0);
    if (canon == NULL) {
        c->oom = 1;
        return -1;
    }
    ast_canon(lam, canon, n + 1);
    h = dsl_hash(canon, n);

    for (i = 0; i < r->npreds; i++) {
        if (r->preds[i].hash == h && strcmp(r->preds[i].canon, canon) == 0) {
            return (int32_t) i;
        }
    }

    p = &r->preds[r->npreds];
    keys_of(&r->arena, lam->a, lam->slot, p);
    p->smask = 0xff;
    p->kmask = 0xff;
    p->dur_gt = -HUGE_VAL;
    p->dur_ge = -HUGE_VAL;
    p->natests = 0;
    prefilter(p, lam->a, lam->slot);
    p->exact = (uint8_t) exact_key(lam->a, lam->slot, p);
    p->lam = lam;
    p->canon = canon;
    p->hash = h;
    return (int32_t) r->npreds++;
}


static int32_t
scope_of(const node_t *clause)
{
    const node_t  *recv;

    recv = clause->a->a;
    return recv->opc == OP_T_WHERE ? recv->id : -1;
}


static int32_t
add_list(compiler_t *c, node_t *lam, int32_t scope)
{
    bt_rule_t  *r;
    int32_t     p;
    uint32_t    i;

    r = c->r;
    p = add_pred(c, lam);
    if (p < 0) {
        return -1;
    }
    for (i = 0; i < r->nlists; i++) {
        if (r->lists[i].pred == (uint32_t) p && r->lists[i].scope == scope) {
            return (int32_t) i;
        }
    }
    r->lists[r->nlists].pred = (uint32_t) p;
    r->lists[r->nlists].scope = scope;
    return (int32_t) r->nlists++;
}


/* collects the list ids of positive clauses under a within() */
typedef struct {
    uint32_t  lists[MAX_LISTS];
    uint32_t  n;
} wcollect_t;


static void
walk(compiler_t *c, node_t *n, int negated, wcollect_t *wc)
{
    bt_rule_t     *r;
    uint32_t       i, j, *ids;
    int32_t        l, s;
    wcollect_t     inner;
    dsl_within_t  *w;

    if (n == NULL || c->oom) {
        return;
    }
    r = c->r;

    switch (n->opc) {
    case OP_LAMBDA:
        /* span lambdas hold no trace clauses (the checker made sure) */
        return;

    case OP_NOT:
    case OP_C_NOT:
        walk(c, n->opc == OP_NOT ? n->a : n->a->a, 1, wc);
        return;

    case OP_BIN:
        /* a clause inside a comparison has no witness of its own */
        walk(c, n->a, 1, wc);
        walk(c, n->b, 1, wc);
        return;

    case OP_T_WHERE:
        walk(c, n->a->a, negated, wc);
        s = (int32_t) r->nscopes;
        l = add_pred(c, n->args[0]);
        if (l < 0) {
            return;
        }
        r->scopes[s].pred = (uint32_t) l;
        r->scopes[s].parent = scope_of(n);
        r->nscopes++;
        n->id = s;
        return;

    case OP_T_HAS:
    case OP_T_MISSING:
    case OP_T_COUNT:
        walk(c, n->a->a, negated, wc);
        n->id = add_list(c, n->args[0], scope_of(n));
        if (n->id < 0) {
            return;
        }
        if (n->opc == OP_T_HAS && !negated) {
            n->slot = (int32_t) r->nclauses++;
            if (wc) {
                n->flags |= NF_WINDOW;
                wc->lists[wc->n++] = (uint32_t) n->id;
            }
        } else {
            n->slot = -1;
            n->flags |= NF_NEGATED;
        }
        return;

    case OP_T_SEQ:
        walk(c, n->a->a, negated, wc);
        ids = dsl_alloc(&r->arena, n->nargs * sizeof(uint32_t), 0);
        if (ids == NULL) {
            c->oom = 1;
            return;
        }
        for (i = 0; i < n->nargs; i++) {
            l = add_list(c, n->args[i], scope_of(n));
            if (l < 0) {
                return;
            }
            ids[i] = (uint32_t) l;
        }
        n->ptr = ids;
        if (n->nargs > r->maxseq) {
            r->maxseq = n->nargs;
        }
        if (!negated) {
            n->slot = (int32_t) r->nclauses++;
            if (wc) {
                n->flags |= NF_WINDOW;
                for (i = 0; i < n->nargs; i++) {
                    for (j = 0; j < wc->n && wc->lists[j] != ids[i]; j++) {
                        /* void */
                    }
                    if (j == wc->n) {
                        wc->lists[wc->n++] = ids[i];
                    }
                }
            }
        } else {
            n->slot = -1;
            n->flags |= NF_NEGATED;
        }
        return;

    case OP_C_WITHIN:
        inner.n = 0;
        walk(c, n->a->a, negated, &inner);
        w = dsl_alloc(&r->arena, sizeof(*w), 1);
        if (w == NULL) {
            c->oom = 1;
            return;
        }
        w->nlists = inner.n;
        w->lists = dsl_alloc(&r->arena, (inner.n + 1) * sizeof(uint32_t), 0);
        if (w->lists == NULL) {
            c->oom = 1;
            return;
        }
        memcpy(w->lists, inner.lists, inner.n * sizeof(uint32_t));
        n->ptr = w;
        return;

    default:
        walk(c, n->a, negated, wc);
        walk(c, n->b, negated, wc);
        for (i = 0; i < n->nargs; i++) {
            walk(c, n->args[i], negated, wc);
        }
        return;
    }
}


/*
 * A top-level conjunct trace.rootName === 'k' (or ==): the rule can only
 * be true on traces whose root span is named k, so a rule set runs it on
 * those only.  Comparing two strings, == and === agree; without a root,
 * rootName is undefined and equals no string.
 */
static void
root_name_gate(bt_rule_t *r, const node_t *n)
{
    if (n->opc == OP_AND) {
        root_name_gate(r, n->a);
        if (r->root_name == NULL) {
            root_name_gate(r, n->b);
        }
        return;
    }
    if (n->opc == OP_BIN && (n->op == OPB_SEQ || n->op == OPB_EQ)
        && n->a->opc == OP_T_ROOTNAME && n->b->opc == OP_LIT
        && n->b->kind == N_STR)
    {
        r->root_name = n->b->s;
        r->root_name_len = n->b->slen;
    }
}


/* A predicate that must match some span for the rule to be true. */
static int32_t
trigger(bt_rule_t *r, const node_t *n)
{
    int32_t  t;

    switch (n->opc) {
    case OP_T_HAS:
        return n->slot >= 0 ? (int32_t) r->lists[n->id].pred : -1;
    case OP_T_SEQ:
        return n->slot >= 0 ? (int32_t) r->lists[((uint32_t *) n->ptr)[0]].pred
                            : -1;
    case OP_AND:
        t = trigger(r, n->a);
        return t >= 0 ? t : trigger(r, n->b);
    case OP_C_AND:
        t = trigger(r, n->a->a);
        return t >= 0 ? t : trigger(r, n->args[0]);
    case OP_C_WITHIN:
        return trigger(r, n->a->a);
    case OP_BIN:
        /* count(P) > k (k >= 0) or >= k (k > 0): P must match */
        if (n->a->opc == OP_T_COUNT && n->b->kind == N_NUM
            && ((n->op == OPB_GT && n->b->num >= 0)
                || (n->op == OPB_GE && n->b->num > 0)))
        {
            return (int32_t) r->lists[n->a->id].pred;
        }
        return -1;
    default:
        return -1;
    }
}


/* a span condition that does not look at other spans of the trace */
static int
local(const node_t *n)
{
    uint32_t  i;

    if (n == NULL) {
        return 1;
    }
    if (n->opc == OP_F_PARENT || n->opc == OP_F_CHILDREN
        || n->opc == OP_F_ISROOT)
    {
        return 0;
    }
    if (!local(n->a) || !local(n->b)) {
        return 0;
    }
    for (i = 0; i < n->nargs; i++) {
        if (!local(n->args[i])) {
            return 0;
        }
    }
    return 1;
}


/* the scope chain of a clause only grows as spans arrive */
static int
scope_grows(const node_t *recv)
{
    if (recv->opc != OP_T_WHERE) {
        return 1;
    }
    return local(recv->args[0]) && scope_grows(recv->a->a);
}


static int
monotone(const node_t *n)
{
    const node_t  *x, *y;
    uint32_t       i;

    switch (n->opc) {
    case OP_T_HAS:
    case OP_T_SEQ:
        for (i = 0; i < n->nargs; i++) {
            if (!local(n->args[i])) {
                return 0;
            }
        }
        return scope_grows(n->a->a);
    case OP_AND:
    case OP_OR:
        return monotone(n->a) && monotone(n->b);
    case OP_C_AND:
    case OP_C_OR:
        return monotone(n->a->a) && monotone(n->args[0]);
    case OP_C_WITHIN:
        return monotone(n->a->a);
    case OP_BIN:
        /* growing number > or >= a constant */
        if (n->op == OPB_GT || n->op == OPB_GE) {
            x = n->a;
            y = n->b;
        } else if (n->op == OPB_LT || n->op == OPB_LE) {
            x = n->b;
            y = n->a;
        } else {
            return 0;
        }
        if (y->kind != N_NUM) {
            return 0;
        }
        if (x->opc == OP_T_COUNT) {
            return local(x->args[0]) && scope_grows(x->a->a);
        }
        return x->opc == OP_T_SPANCOUNT || x->opc == OP_T_DURATION;
    default:
        return 0;
    }
}


int
dsl_compile(bt_rule_t *r, uint32_t nclauses)
{
    compiler_t  c;

    memset(&c, 0, sizeof(c));
    c.r = r;

    /* every clause (counted by the checker) adds at most one predicate,
       list or scope */
    r->preds = dsl_alloc(&r->arena, (nclauses + 1) * sizeof(dsl_pred_t), 1);
    r->lists = dsl_alloc(&r->arena, (nclauses + 1) * sizeof(dsl_list_t), 1);
    r->scopes = dsl_alloc(&r->arena, (nclauses + 1) * sizeof(dsl_scope_t),
                          1);
    if (r->preds == NULL || r->lists == NULL || r->scopes == NULL) {
        return -1;
    }

    walk(&c, r->root, 0, NULL);
    if (c.oom) {
        return -1;
    }
    r->trigger = trigger(r, r->root);
    r->monotone = monotone(r->root);
    if (r->trigger < 0) {
        root_name_gate(r, r->root);
    }
    return 0;
}


/* --- bt_rule_compile and the rule's life cycle -------------------------- */

static void
rule_destroy(bt_rule_t *r)
{
    uint32_t  i;

    for (i = 0; i < r->nregexes; i++) {
        dsl_regex_free(r->regexes[i]);
    }
    free(r->regexes);
    dsl_arena_free(&r->arena);
    free(r->src);
    free(r);
}


bt_rule_t *
bt_rule_compile(const char *src, size_t len, bt_diags_t *diags)
{
    bt_rule_t  *r;
    token_t    *toks;
    uint32_t    ntoks;
    int         rc, oom;
    checker_t   ck;
    size_t      before;

    if (len > BT_DSL_MAX_SOURCE) {
        bt_diag_add(diags, src, len, BT_DIAG_ERROR, 0, 0,
                    "rule is too long (%zu bytes; the limit is %u)", len,
                    BT_DSL_MAX_SOURCE);
        return NULL;
    }

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        goto nomem;
    }
    r->refs = 1;
    r->trigger = -1;
    dsl_arena_init(&r->arena);
    r->src = malloc(len + 1);
    if (r->src == NULL) {
        free(r);
        goto nomem;
    }
    memcpy(r->src, src, len);
    r->src[len] = '\0';
    r->len = len;
    src = r->src;               /* the tree points into our copy */

    rc = dsl_lex(src, len, &r->arena, diags, &toks, &ntoks);
    if (rc != 0) {
        rule_destroy(r);
        if (rc == -2) {
            goto nomem;
        }
        return NULL;
    }

    oom = 0;
    r->root = dsl_parse(src, len, toks, ntoks, &r->arena, diags, &oom);
    if (r->root == NULL) {
        rule_destroy(r);
        if (oom) {
            goto nomem;
        }
        return NULL;
    }

    memset(&ck, 0, sizeof(ck));
    ck.src = src;
    ck.len = len;
    ck.arena = &r->arena;
    ck.diags = diags;
    before = diags ? diags->n_errors : 0;
    (void) before;

    if (dsl_check(&ck, r->root) != 0 || ck.oom) {
        r->regexes = ck.regexes;
        r->nregexes = ck.nregexes;
        oom = ck.oom;
        rule_destroy(r);
        if (oom) {
            goto nomem;
        }
        return NULL;
    }
    r->regexes = ck.regexes;
    r->nregexes = ck.nregexes;

    if (dsl_compile(r, ck.clauses) != 0) {
        rule_destroy(r);
        goto nomem;
    }
    return r;

nomem:
    bt_diag_add(diags, "", 0, BT_DIAG_ERROR, 0, 0, "out of memory");
    return NULL;
}


bt_rule_t *
bt_rule_ref(bt_rule_t *rule)
{
    __atomic_add_fetch(&rule->refs, 1, __ATOMIC_RELAXED);
    return rule;
}


void
bt_rule_free(bt_rule_t *rule)
{
    if (rule == NULL) {
        return;
    }
    /* acq_rel: the last owner must see every other owner's use finished */
    if (__atomic_sub_fetch(&rule->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        rule_destroy(rule);
    }
}


uint32_t
bt_rule_nclauses(const bt_rule_t *rule)
{
    return rule->nclauses;
}


int
bt_rule_monotone(const bt_rule_t *rule)
{
    return rule->monotone;
}


const char *
bt_rule_source(const bt_rule_t *rule, size_t *len)
{
    *len = rule->len;
    return rule->src;
}
