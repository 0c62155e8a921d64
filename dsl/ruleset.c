/*
 * ruleset.c - many rules evaluated together through a span index
 * (see ruleset.h for why).
 */

#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "ruleset.h"

/* the strings span.kind and span.status evaluate to (see eval.c) */
static const char  *kind_names[] = {
    "UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"
};
static const uint32_t  kind_lens[] = { 11, 8, 6, 6, 8, 8 };
static const char  *status_names[] = { "UNSET", "OK", "ERROR" };
static const uint32_t  status_lens[] = { 5, 2, 5 };

/* bt_ruleset_t.id: never 0, never reused within a process */
static uint64_t  build_ids;


bt_ruleset_t *
bt_ruleset_new(void)
{
    return calloc(1, sizeof(bt_ruleset_t));
}


int
bt_ruleset_add(bt_ruleset_t *set, bt_rule_t *rule, void *user)
{
    bt_rule_t  **r;
    void       **u;
    uint32_t     cap;

    if (set->built) {
        return -1;
    }
    if (set->n == set->cap) {
        cap = set->cap ? set->cap * 2 : 16;
        r = realloc(set->rules, cap * sizeof(*r));
        if (r == NULL) {
            return -1;
        }
        set->rules = r;
        u = realloc(set->users, cap * sizeof(*u));
        if (u == NULL) {
            return -1;
        }
        set->users = u;
        set->cap = cap;
    }
    set->rules[set->n] = bt_rule_ref(rule);
    set->users[set->n] = user;
    return (int) set->n++;
}


static dsl_bucket_t *
table_find(const dsl_table_t *t, const char *k, uint32_t klen, uint32_t h)
{
    dsl_bucket_t  *b;
    uint32_t       i;

    if (t->slots == NULL) {
        return NULL;
    }
    for (i = h & t->mask; ; i = (i + 1) & t->mask) {
        b = &t->slots[i];
        if (b->key == NULL) {
            return NULL;
        }
        if (b->hash == h && b->klen == klen && memcmp(b->key, k, klen) == 0) {
            return b;
        }
    }
}


static int
table_grow(dsl_table_t *t)
{
    dsl_bucket_t  *old, *b;
    uint32_t       oldn, i, j, n;

    old = t->slots;
    oldn = t->slots ? t->mask + 1 : 0;
    n = oldn ? oldn * 2 : 16;
    t->slots = calloc(n, sizeof(dsl_bucket_t));
    if (t->slots == NULL) {
        t->slots = old;
        return -1;
    }
    t->mask = n - 1;
    for (i = 0; i < oldn; i++) {
        if (old[i].key == NULL) {
            continue;
        }
        for (j = old[i].hash & t->mask; t->slots[j].key; j = (j + 1) & t->mask)
        {
            /* void */
        }
        b = &t->slots[j];
        *b = old[i];
    }
    free(old);
    return 0;
}


/* the bucket of key k, created empty if missing; NULL when out of memory */
static dsl_bucket_t *
table_slot(dsl_table_t *t, const char *k, uint32_t klen)
{
    dsl_bucket_t  *b;
    uint32_t       h, i;

    h = dsl_hash(k, klen);
    b = table_find(t, k, klen, h);
    if (b != NULL) {
        return b;
    }
    if (t->slots == NULL || (t->used + 1) * 2 > t->mask + 1) {
        if (table_grow(t) != 0) {
            return NULL;
        }
    }
    for (i = h & t->mask; t->slots[i].key; i = (i + 1) & t->mask) {
        /* void */
    }
    b = &t->slots[i];
    b->key = k;
    b->klen = klen;
    b->hash = h;
    t->used++;
    return b;
}


static int
table_add(dsl_table_t *t, const char *k, uint32_t klen, uint32_t pred)
{
    dsl_bucket_t  *b;
    uint32_t      *p, cap;

    b = table_slot(t, k, klen);
    if (b == NULL) {
        return -1;
    }
    if (b->n && b->preds[b->n - 1] == pred) {
        return 0;
    }
    if (b->n == b->cap) {
        cap = b->cap ? b->cap * 2 : 4;
        p = realloc(b->preds, cap * sizeof(uint32_t));
        if (p == NULL) {
            return -1;
        }
        b->preds = p;
        b->cap = cap;
    }
    b->preds[b->n++] = pred;
    return 0;
}


/* notes that some predicate tests the value of attribute k; 0 or -1 */
static int
table_mark(dsl_table_t *t, const char *k, uint32_t klen)
{
    dsl_bucket_t  *b;

    b = table_slot(t, k, klen);
    if (b == NULL) {
        return -1;
    }
    b->vals = 1;
    return 0;
}


static void
table_free(dsl_table_t *t)
{
    uint32_t  i;

    if (t->slots == NULL) {
        return;
    }
    for (i = 0; i <= t->mask; i++) {
        free(t->slots[i].preds);
    }
    free(t->slots);
}


/* an attribute key's bit in bt_ruleset_t.akeys: length, first, last byte */
static uint32_t
akey_bit(const char *k, uint32_t n)
{
    if (n == 0) {
        return 0;
    }
    return (n * 31u + (unsigned char) k[0] * 7u + (unsigned char) k[n - 1])
           & 255;
}


/* how many prefix lengths of p the set does not probe yet */
static uint32_t
new_lengths(const bt_ruleset_t *set, const dsl_pred_t *p)
{
    uint32_t  k, j, n;

    n = 0;
    for (k = 0; k < p->nkeys; k++) {
        for (j = 0; j < set->nplens && set->plens[j] != p->klens[k]; j++) {
            /* void */
        }
        if (j < set->nplens) {
            continue;
        }
        for (j = 0; j < k && p->klens[j] != p->klens[k]; j++) {
            /* void */
        }
        n += j == k;
    }
    return n;
}


int
bt_ruleset_build(bt_ruleset_t *set)
{
    dsl_table_t        canon;
    dsl_bucket_t      *b;
    const dsl_pred_t  *p;
    bt_rule_t         *r;
    uint32_t           i, j, k, g, total, *cnt;
    int32_t            t;

    if (set->built) {
        return 0;
    }

    total = 0;
    for (i = 0; i < set->n; i++) {
        total += set->rules[i]->npreds;
    }
    set->preds = calloc(total + 1, sizeof(*set->preds));
    set->maps = calloc(set->n + 1, sizeof(*set->maps));
    set->wild = calloc(total + 1, sizeof(uint32_t));
    if (set->preds == NULL || set->maps == NULL || set->wild == NULL) {
        return -1;
    }

    /* merge identical predicates: the canonical text is the key */
    memset(&canon, 0, sizeof(canon));
    for (i = 0; i < set->n; i++) {
        r = set->rules[i];
        set->maps[i] = calloc(r->npreds + 1, sizeof(uint32_t));
        if (set->maps[i] == NULL) {
            goto failed;
        }
        for (j = 0; j < r->npreds; j++) {
            p = &r->preds[j];
            b = table_find(&canon, p->canon, (uint32_t) strlen(p->canon),
                           p->hash);
            if (b != NULL) {
                set->maps[i][j] = b->preds[0];
                continue;
            }
            g = set->npreds++;
            set->preds[g] = p;
            set->maps[i][j] = g;
            if (table_add(&canon, p->canon, (uint32_t) strlen(p->canon), g)
                != 0)
            {
                goto failed;
            }
        }
    }
    table_free(&canon);
    memset(&canon, 0, sizeof(canon));

    /* file each predicate under its keys */
    for (g = 0; g < set->npreds; g++) {
        p = set->preds[g];
        if (p->key_kind == KEY_PREFIX
            && set->nplens + new_lengths(set, p) > 32)
        {
            /* prefix lookups cost one probe per distinct length: cap them */
            set->wild[set->nwild++] = g;
            continue;
        }
        for (k = 0; k < p->nkeys; k++) {
            switch (p->key_kind) {
            case KEY_NAME:
                if (table_add(&set->names, p->keys[k], p->klens[k], g) != 0) {
                    return -1;
                }
                break;
            case KEY_PREFIX:
                for (j = 0; j < set->nplens && set->plens[j] != p->klens[k];
                     j++)
                {
                    /* void */
                }
                if (j == set->nplens) {
                    set->plens[set->nplens++] = p->klens[k];
                }
                if (table_add(&set->prefixes, p->keys[k], p->klens[k], g)
                    != 0)
                {
                    return -1;
                }
                break;
            case KEY_ATTR:
                if (table_add(&set->attrs, p->keys[k], p->klens[k], g) != 0) {
                    return -1;
                }
                break;
            case KEY_SERVICE:
                if (table_add(&set->services, p->keys[k], p->klens[k], g)
                    != 0)
                {
                    return -1;
                }
                break;
            case KEY_SUBSTR:
                if (table_add(&set->substrs, p->keys[k], p->klens[k], g)
                    != 0)
                {
                    return -1;
                }
                break;
            case KEY_ATTRVAL:
                /* the attribute name is the key up to its NUL */
                if (table_add(&set->attrvals, p->keys[k], p->klens[k], g)
                    != 0
                    || table_mark(&set->attrs, p->keys[k],
                                  (uint32_t) strlen(p->keys[k])) != 0)
                {
                    return -1;
                }
                break;
            case KEY_KIND:
            case KEY_STATUS:
                if (table_add(p->key_kind == KEY_KIND ? &set->kinds
                              : &set->statuses, p->keys[k], p->klens[k], g)
                    != 0)
                {
                    return -1;
                }
                break;
            }
        }
        if (p->key_kind == KEY_NONE || p->nkeys == 0) {
            set->wild[set->nwild++] = g;
        }
    }

    /*
     * attribute tests: each distinct key gets a slot; the attribute scan
     * (the keys are in the attrs table) fills the slots of a span
     */
    set->atoff = calloc(set->npreds + 1, sizeof(uint32_t));
    if (set->atoff == NULL) {
        return -1;
    }
    for (g = 0; g < set->npreds; g++) {
        set->atoff[g + 1] = set->atoff[g] + set->preds[g]->natests;
    }
    set->atslots = calloc(set->atoff[set->npreds] + 1, sizeof(uint32_t));
    if (set->atslots == NULL) {
        return -1;
    }
    for (g = 0; g < set->npreds; g++) {
        p = set->preds[g];
        for (k = 0; k < p->natests; k++) {
            b = table_slot(&set->attrs, p->atests[k].key, p->atests[k].klen);
            if (b == NULL) {
                return -1;
            }
            if (b->aslot == 0) {
                b->aslot = ++set->naslots;
            }
            set->atslots[set->atoff[g] + k] = b->aslot - 1;
        }
    }

    if (set->attrs.slots != NULL) {
        for (i = 0; i <= set->attrs.mask; i++) {
            b = &set->attrs.slots[i];
            if (b->key != NULL) {
                j = akey_bit(b->key, b->klen);
                set->akeys[j >> 6] |= 1ULL << (j & 63);
            }
        }
    }

    /* which rules to run when a predicate matched */
    set->toff = calloc(set->npreds + 2, sizeof(uint32_t));
    set->trig = calloc(set->n + 1, sizeof(uint32_t));
    set->always = calloc(set->n + 1, sizeof(uint32_t));
    cnt = calloc(set->npreds + 1, sizeof(uint32_t));
    if (set->toff == NULL || set->trig == NULL || set->always == NULL
        || cnt == NULL)
    {
        free(cnt);
        return -1;
    }
    for (i = 0; i < set->n; i++) {
        t = set->rules[i]->trigger;
        if (t >= 0) {
            set->toff[set->maps[i][t] + 1]++;
        }
    }
    for (g = 0; g < set->npreds; g++) {
        set->toff[g + 1] += set->toff[g];
    }
    for (i = 0; i < set->n; i++) {
        t = set->rules[i]->trigger;
        if (t < 0 && set->rules[i]->root_name != NULL) {
            if (table_add(&set->roots, set->rules[i]->root_name,
                          set->rules[i]->root_name_len, i) != 0)
            {
                free(cnt);
                return -1;
            }
        } else if (t < 0) {
            set->always[set->nalways++] = i;
        } else {
            g = set->maps[i][t];
            set->trig[set->toff[g] + cnt[g]++] = i;
        }
    }
    free(cnt);

    /* sorted, so one pass over a span name hashes every prefix */
    for (i = 1; i < set->nplens; i++) {
        for (j = i; j > 0 && set->plens[j - 1] > set->plens[j]; j--) {
            k = set->plens[j];
            set->plens[j] = set->plens[j - 1];
            set->plens[j - 1] = k;
        }
    }

    /* the tables are complete: bucket pointers stay valid from now on */
    for (i = 0; i < 6; i++) {
        set->kind_b[i] = table_find(&set->kinds, kind_names[i], kind_lens[i],
                                    dsl_hash(kind_names[i], kind_lens[i]));
    }
    for (i = 0; i < 3; i++) {
        set->status_b[i] = table_find(&set->statuses, status_names[i],
                                      status_lens[i],
                                      dsl_hash(status_names[i],
                                               status_lens[i]));
    }

    set->id = __atomic_add_fetch(&build_ids, 1, __ATOMIC_RELAXED);

    set->built = 1;
    return 0;

failed:
    table_free(&canon);
    return -1;
}


uint32_t
bt_ruleset_size(const bt_ruleset_t *set)
{
    return set->n;
}


uint32_t
bt_ruleset_npredicates(const bt_ruleset_t *set)
{
    return set->npreds;
}


static int
grow_u32(uint32_t **p, uint32_t *cap, uint32_t need)
{
    uint32_t  *np;

    if (*cap >= need) {
        return 0;
    }
    np = realloc(*p, (size_t) need * sizeof(uint32_t));
    if (np == NULL) {
        return -1;
    }
    memset(np + *cap, 0, (size_t) (need - *cap) * sizeof(uint32_t));
    *p = np;
    *cap = need;
    return 0;
}


/* a fresh stamp for deduplicating candidates */
static void
next_cstamp(bt_eval_ctx_t *ctx)
{
    if (++ctx->cstamp == 0) {
        memset(ctx->pstamp, 0, ctx->pstamp_cap * sizeof(uint32_t));
        ctx->cstamp = 1;
    }
}


/* adds the predicates of bucket b to the candidates, once each */
static uint32_t
add_cands(bt_eval_ctx_t *ctx, uint32_t *out, const dsl_bucket_t *b,
    uint32_t nc)
{
    uint32_t  k, p;

    if (b == NULL) {
        return nc;
    }
    for (k = 0; k < b->n; k++) {
        p = b->preds[k];
        if (ctx->pstamp[p] != ctx->cstamp) {
            ctx->pstamp[p] = ctx->cstamp;
            out[nc++] = p;
        }
    }
    return nc;
}


/* predicates keyed on this attribute having this value */
static uint32_t
attrval_cands(bt_eval_ctx_t *ctx, const bt_ruleset_t *set,
    const bt_str_t *key, const bt_val_t *val, uint32_t nc)
{
    char     buf[512];
    size_t   n;
    double   d;
    uint8_t  b;

    switch (val->type) {
    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        n = dsl_attrval_key(buf, sizeof(buf), key->p, key->n, 's', val->p,
                            val->n);
        break;
    case BT_VAL_INT:
        d = (double) bt_val_int(val);
        n = dsl_attrval_key(buf, sizeof(buf), key->p, key->n, 'n', &d, 8);
        break;
    case BT_VAL_DOUBLE:
        d = bt_val_double(val);
        n = dsl_attrval_key(buf, sizeof(buf), key->p, key->n, 'n', &d, 8);
        break;
    case BT_VAL_BOOL:
        b = (uint8_t) bt_val_bool(val);
        n = dsl_attrval_key(buf, sizeof(buf), key->p, key->n, 'b', &b, 1);
        break;
    default:
        return nc;
    }
    if (n == 0) {
        return nc;
    }
    return add_cands(ctx, ctx->cand, table_find(&set->attrvals, buf, (uint32_t) n,
                                     dsl_hash(buf, n)), nc);
}


/*
 * The name cache: NC_SLOTS entries, flushed whole when half full, so a
 * flood of distinct names costs a flush per NC_SLOTS / 2 names and memory
 * stays bounded.  Names and services longer than NC_MAX_KEY are not cached.
 */
#define NC_SLOTS    1024
#define NC_MAX_KEY  1024


static void
nc_flush(bt_eval_ctx_t *ctx, const bt_ruleset_t *set)
{
    memset(ctx->nc, 0, NC_SLOTS * sizeof(dsl_ncache_t));
    ctx->nc_used = 0;
    ctx->nc_bytes_n = 0;
    ctx->nc_preds_n = 0;
    ctx->nc_set = set->id;
}


static int
nc_reserve(bt_eval_ctx_t *ctx, uint32_t nbytes, uint32_t npreds)
{
    char      *b;
    uint32_t  *p, cap;

    if (ctx->nc_bytes_n + nbytes > ctx->nc_bytes_cap) {
        cap = (ctx->nc_bytes_n + nbytes) * 2;
        b = realloc(ctx->nc_bytes, cap);
        if (b == NULL) {
            return -1;
        }
        ctx->nc_bytes = b;
        ctx->nc_bytes_cap = cap;
    }
    if (ctx->nc_preds_n + npreds > ctx->nc_preds_cap) {
        cap = (ctx->nc_preds_n + npreds) * 2;
        p = realloc(ctx->nc_preds, (size_t) cap * sizeof(uint32_t));
        if (p == NULL) {
            return -1;
        }
        ctx->nc_preds = p;
        ctx->nc_preds_cap = cap;
    }
    return 0;
}


/*
 * The candidates that span s's name and service select (names, prefixes,
 * substrings and services tables), distinct.  Sets *list and returns their
 * number, or -1 when out of memory.  *list stays valid until the next call.
 */
static int32_t
name_cands(bt_eval_ctx_t *ctx, const bt_ruleset_t *set, const bt_span_t *s,
    const uint32_t **list)
{
    dsl_ncache_t  *e;
    uint32_t       h, i, k, nc, *out;
    int            cache;

    if (ctx->nc == NULL) {
        ctx->nc = calloc(NC_SLOTS, sizeof(dsl_ncache_t));
        if (ctx->nc == NULL) {
            return -1;
        }
        ctx->nc_set = 0;
    }
    if (ctx->nc_set != set->id) {
        nc_flush(ctx, set);
    }

    h = dsl_hash(s->name.p, s->name.n)
        ^ dsl_hash(s->service.p, s->service.n) * 0x9e3779b1u;

    for (i = h & (NC_SLOTS - 1); ctx->nc[i].used; i = (i + 1) & (NC_SLOTS - 1))
    {
        e = &ctx->nc[i];
        if (e->hash == h && e->nlen == s->name.n && e->slen == s->service.n
            && memcmp(ctx->nc_bytes + e->key, s->name.p, e->nlen) == 0
            && memcmp(ctx->nc_bytes + e->key + e->nlen, s->service.p,
                      e->slen) == 0)
        {
            *list = ctx->nc_preds + e->off;
            return (int32_t) e->n;
        }
    }

    /* a miss: look the name and service up in the tables */

    cache = s->name.n <= NC_MAX_KEY && s->service.n <= NC_MAX_KEY;
    if (cache && ctx->nc_used * 2 >= NC_SLOTS) {
        nc_flush(ctx, set);
        i = h & (NC_SLOTS - 1);
    }
    if (nc_reserve(ctx, cache ? s->name.n + s->service.n : 0, set->npreds)
        != 0)
    {
        return -1;
    }
    out = ctx->nc_preds + ctx->nc_preds_n;
    next_cstamp(ctx);
    nc = 0;

    if (set->names.used) {
        nc = add_cands(ctx, out, table_find(&set->names, s->name.p, s->name.n,
                                            dsl_hash(s->name.p, s->name.n)),
                       nc);
    }
    for (k = 0; k < set->nplens && set->plens[k] <= s->name.n; k++) {
        nc = add_cands(ctx, out, table_find(&set->prefixes, s->name.p,
                                            set->plens[k],
                                            dsl_hash(s->name.p,
                                                     set->plens[k])),
                       nc);
    }
    if (set->substrs.used) {
        /* one memmem per distinct substring, not per predicate */
        for (k = 0; k <= set->substrs.mask; k++) {
            const dsl_bucket_t  *sb = &set->substrs.slots[k];

            if (sb->key != NULL
                && memmem(s->name.p, s->name.n, sb->key, sb->klen))
            {
                nc = add_cands(ctx, out, sb, nc);
            }
        }
    }
    if (set->services.used) {
        nc = add_cands(ctx, out, table_find(&set->services, s->service.p,
                                            s->service.n,
                                            dsl_hash(s->service.p,
                                                     s->service.n)),
                       nc);
    }

    *list = out;
    if (!cache) {
        /* the list sits past the end: the next call overwrites it */
        return (int32_t) nc;
    }

    e = &ctx->nc[i];
    e->used = 1;
    e->hash = h;
    e->nlen = s->name.n;
    e->slen = s->service.n;
    e->key = ctx->nc_bytes_n;
    e->off = ctx->nc_preds_n;
    e->n = nc;
    memcpy(ctx->nc_bytes + ctx->nc_bytes_n, s->name.p, s->name.n);
    memcpy(ctx->nc_bytes + ctx->nc_bytes_n + s->name.n, s->service.p,
           s->service.n);
    ctx->nc_bytes_n += s->name.n + s->service.n;
    ctx->nc_preds_n += nc;
    ctx->nc_used++;

    return (int32_t) nc;
}


/*
 * Runs predicates list[0 .. n) on span i; indexed: the list came from the
 * names, prefixes, substrings, services, kinds or statuses tables under
 * span i's own value.  Returns 0, or -1 when out of memory.
 */
static int
eval_list(bt_eval_ctx_t *ctx, const bt_ruleset_t *set, const uint32_t *list,
    uint32_t n, uint32_t i, int indexed)
{
    const dsl_pred_t  *p;
    const bt_span_t   *s;
    const uint32_t    *slot;
    uint32_t           k, g, t;
    uint8_t            sbit, kbit;
    double             d;

    if (n == 0) {
        return 0;
    }

    /* dsl_pred_eval's prefilter, with the span's side computed once */
    s = &ctx->tr->spans[i].s;
    sbit = (uint8_t) (1u << (s->status < 7 ? s->status : 7));
    kbit = (uint8_t) (1u << (s->kind < 7 ? s->kind : 7));
    d = (double) ((int64_t) (s->end_ns - s->start_ns)) / 1e6;

    for (k = 0; k < n; k++) {
        g = list[k];
        p = set->preds[g];
        if (indexed && p->exact) {
            /* found under its only key: true, nothing to run */
            if (dsl_match_add(ctx, g, i) != 0) {
                return -1;
            }
            continue;
        }
        if (!(p->smask & sbit) || !(p->kmask & kbit) || !(d > p->dur_gt)
            || !(d >= p->dur_ge))
        {
            continue;
        }
        if (p->natests) {
            /* the attribute scan read the values: test them first */
            slot = set->atslots + set->atoff[g];
            for (t = 0; t < p->natests; t++) {
                if (!dsl_atest(&p->atests[t],
                               ctx->astamp[slot[t]] == ctx->aspan
                               ? &ctx->aval[slot[t]] : NULL))
                {
                    break;
                }
            }
            if (t < p->natests) {
                continue;
            }
        }
        if (dsl_pred_eval(ctx, p, i) && dsl_match_add(ctx, g, i) != 0) {
            return -1;
        }
    }
    return 0;
}


int
bt_ruleset_eval(const bt_ruleset_t *set, const bt_trace_t *trace,
    bt_eval_ctx_t *ctx, bt_fire_pt fn, void *arg)
{
    const bt_span_t     *s;
    const dsl_bucket_t  *b;
    const uint32_t      *list;
    uint32_t             i, j, k, nc, nr, nw, pcap, r, g, fired, h;
    int32_t              nl;
    uint64_t             w;
    bt_iter_t            it;
    bt_str_t             key;
    bt_val_t             val;
    bt_witness_t         wit;
    int                  rc;

    if (!set->built) {
        return -1;
    }
    if (dsl_ctx_begin(ctx, trace, set->npreds + 1) != 0) {
        return -1;
    }

    pcap = ctx->pstamp_cap;
    if (grow_u32(&ctx->pstamp, &pcap, set->npreds + 1) != 0) {
        return -1;
    }
    ctx->pstamp_cap = pcap;
    pcap = ctx->cand_cap;
    if (grow_u32(&ctx->cand, &pcap, set->npreds + 1) != 0) {
        return -1;
    }
    ctx->cand_cap = pcap;
    pcap = ctx->rules_cap;
    if (grow_u32(&ctx->rules, &pcap, set->n + 1) != 0) {
        return -1;
    }
    if (grow_u32(&ctx->rstamps, &ctx->rules_cap, set->n + 1) != 0) {
        return -1;
    }
    nw = (set->n + 63) / 64;
    if (ctx->rbits_cap < nw) {
        free(ctx->rbits);
        ctx->rbits = malloc((size_t) nw * sizeof(uint64_t));
        if (ctx->rbits == NULL) {
            ctx->rbits_cap = 0;
            return -1;
        }
        ctx->rbits_cap = nw;
    }

    if (ctx->aval_cap < set->naslots) {
        free(ctx->aval);
        free(ctx->astamp);
        ctx->aval = malloc((size_t) set->naslots * sizeof(bt_val_t));
        ctx->astamp = calloc(set->naslots, sizeof(uint32_t));
        if (ctx->aval == NULL || ctx->astamp == NULL) {
            free(ctx->aval);
            free(ctx->astamp);
            ctx->aval = NULL;
            ctx->astamp = NULL;
            ctx->aval_cap = 0;
            return -1;
        }
        ctx->aval_cap = set->naslots;
        ctx->aspan = 0;
    }

    /*
     * span level: each span meets only the predicates that could match.
     * A predicate sits in one kind of table only (see bt_ruleset_build),
     * so the lists below are disjoint and each needs no deduplication
     * against the others.
     */
    for (i = 0; i < trace->n; i++) {
        s = &trace->spans[i].s;

        /* attributes first: they give candidates and attribute values */
        nc = 0;
        if (set->attrs.used) {
            next_cstamp(ctx);
            if (++ctx->aspan == 0) {
                memset(ctx->astamp, 0, ctx->aval_cap * sizeof(uint32_t));
                ctx->aspan = 1;
            }
            bt_iter_init(&it, s->attrs.p, s->attrs.n);
            while (bt_attr_next(&it, &key, &val)) {
                h = akey_bit(key.p, key.n);
                if (!(set->akeys[h >> 6] >> (h & 63) & 1)) {
                    continue;
                }
                h = dsl_hash(key.p, key.n);
                b = table_find(&set->attrs, key.p, key.n, h);
                if (b == NULL) {
                    continue;
                }
                if (b->aslot && ctx->astamp[b->aslot - 1] != ctx->aspan) {
                    /* the first occurrence, as span.attributes[k] reads */
                    ctx->astamp[b->aslot - 1] = ctx->aspan;
                    ctx->aval[b->aslot - 1] = val;
                }
                nc = add_cands(ctx, ctx->cand, b, nc);
                /* build the key+value only for names some rule tests */
                if (b->vals && set->attrvals.used) {
                    nc = attrval_cands(ctx, set, &key, &val, nc);
                }
            }
        }

        if (eval_list(ctx, set, set->wild, set->nwild, i, 0) != 0
            || eval_list(ctx, set, ctx->cand, nc, i, 0) != 0)
        {
            return -1;
        }

        nl = name_cands(ctx, set, s, &list);
        if (nl < 0 || eval_list(ctx, set, list, (uint32_t) nl, i, 1) != 0) {
            return -1;
        }

        b = s->kind < 6 ? set->kind_b[s->kind] : NULL;
        if (b != NULL && eval_list(ctx, set, b->preds, b->n, i, 1) != 0) {
            return -1;
        }
        b = s->status < 3 ? set->status_b[s->status] : NULL;
        if (b != NULL && eval_list(ctx, set, b->preds, b->n, i, 1) != 0) {
            return -1;
        }
    }

    /*
     * trace level: rules whose trigger matched, and those without one, in
     * rule order: a bit per rule, then a pass over the words.
     */
    if (nw > 0) {
        memset(ctx->rbits, 0, (size_t) nw * sizeof(uint64_t));
    }
    for (k = 0; k < set->nalways; k++) {
        r = set->always[k];
        ctx->rbits[r >> 6] |= 1ULL << (r & 63);
    }
    if (set->roots.used && trace->root >= 0) {
        s = &trace->spans[trace->root].s;
        b = table_find(&set->roots, s->name.p, s->name.n,
                       dsl_hash(s->name.p, s->name.n));
        for (k = 0; b != NULL && k < b->n; k++) {
            r = b->preds[k];
            ctx->rbits[r >> 6] |= 1ULL << (r & 63);
        }
    }
    for (k = 0; k < ctx->nmatched; k++) {
        g = ctx->matched[k];
        for (j = set->toff[g]; j < set->toff[g + 1]; j++) {
            r = set->trig[j];
            ctx->rbits[r >> 6] |= 1ULL << (r & 63);
        }
    }
    nr = 0;
    for (k = 0; k < nw; k++) {
        for (w = ctx->rbits[k]; w != 0; w &= w - 1) {
            ctx->rules[nr++] = k * 64 + (uint32_t) __builtin_ctzll(w);
        }
    }

    fired = 0;
    for (k = 0; k < nr; k++) {
        r = ctx->rules[k];
        rc = dsl_rule_run(ctx, set->rules[r], set->maps[r]);
        if (rc < 0) {
            return -1;
        }
        if (rc == 0) {
            continue;
        }
        fired++;
        if (fn != NULL) {
            wit.nclauses = set->rules[r]->nclauses;
            wit.off = ctx->woff;
            wit.spans = ctx->wout;
            if (fn(arg, r, set->users[r], &wit) != 0) {
                break;
            }
        }
    }
    return (int) fired;
}


void
bt_ruleset_free(bt_ruleset_t *set)
{
    uint32_t  i;

    if (set == NULL) {
        return;
    }
    for (i = 0; i < set->n; i++) {
        bt_rule_free(set->rules[i]);
        if (set->maps) {
            free(set->maps[i]);
        }
    }
    free(set->rules);
    free(set->users);
    free(set->preds);
    free(set->maps);
    free(set->wild);
    table_free(&set->names);
    table_free(&set->prefixes);
    table_free(&set->attrs);
    table_free(&set->services);
    table_free(&set->substrs);
    table_free(&set->attrvals);
    table_free(&set->kinds);
    table_free(&set->statuses);
    table_free(&set->roots);
    free(set->atoff);
    free(set->atslots);
    free(set->toff);
    free(set->trig);
    free(set->always);
    free(set);
}
