/*
 * bt_trace.c - builds the assembled-trace view: sorted spans, parent and
 * children links, root and time bounds.
 *
 * Spans are sorted through an index permutation rather than moving the
 * ~200-byte bt_tspan_t around inside qsort, then permuted once.  Parents are
 * found through an open-addressing table keyed by span id; children are
 * grouped with a counting sort, so linking is O(n log n) for the sort and
 * O(n) for the rest.  Parent cycles (possible only in hostile input) are cut,
 * so every consumer may walk parents and children without a visited set.
 */

#include <stdlib.h>
#include <string.h>

#include "bt_trace.h"


void
bt_trace_init(bt_trace_t *t)
{
    memset(t, 0, sizeof(*t));
    t->root = -1;
}


void
bt_trace_reset(bt_trace_t *t)
{
    t->n = 0;
    t->root = -1;
    t->start_ns = 0;
    t->end_ns = 0;
}


void
bt_trace_free(bt_trace_t *t)
{
    free(t->spans);
    free(t->children);
    free(t->scratch);
    bt_trace_init(t);
}


int
bt_trace_add(bt_trace_t *t, const bt_span_t *span)
{
    bt_tspan_t  *spans;
    uint32_t    *children;
    uint32_t     cap;

    if (t->n == t->cap) {
        cap = t->cap ? t->cap * 2 : 64;

        spans = realloc(t->spans, (size_t) cap * sizeof(bt_tspan_t));
        if (spans == NULL) {
            return -1;
        }
        t->spans = spans;

        children = realloc(t->children, (size_t) cap * sizeof(uint32_t));
        if (children == NULL) {
            return -1;
        }
        t->children = children;
        t->cap = cap;
    }

    t->spans[t->n].s = *span;
    t->spans[t->n].parent = -1;
    t->spans[t->n].first_child = 0;
    t->spans[t->n].n_children = 0;
    t->n++;

    return 0;
}


static int
cmp_start(const void *a, const void *b, void *arg)
{
    const bt_tspan_t  *base = arg;
    const bt_span_t   *x = &base[*(const uint32_t *) a].s;
    const bt_span_t   *y = &base[*(const uint32_t *) b].s;

    if (x->start_ns != y->start_ns) {
        return x->start_ns < y->start_ns ? -1 : 1;
    }

    return memcmp(x->span_id, y->span_id, 8);
}


static uint64_t
id_hash(const uint8_t *id)
{
    uint64_t  h;

    /* span ids are random; mix anyway so crafted ids can't cluster */
    memcpy(&h, id, 8);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;

    return h;
}


/*
 * Scratch layout: order[n] | table[tcap] (int32, -1 empty) | state[n].
 * Returns 0, or -1 on allocation failure.
 */
static int
scratch_reserve(bt_trace_t *t, uint32_t tcap)
{
    size_t  need;
    void   *p;

    need = (size_t) t->n * sizeof(uint32_t) + (size_t) tcap * sizeof(int32_t)
           + (size_t) t->n;

    if (need <= t->scratch_cap) {
        return 0;
    }

    p = realloc(t->scratch, need);
    if (p == NULL) {
        return -1;
    }

    t->scratch = p;
    t->scratch_cap = need;

    return 0;
}


static void
cut_cycles(bt_trace_t *t, uint8_t *state, uint32_t *stack)
{
    uint32_t  i, depth, j;
    int32_t   p;

    /* state: 0 unseen, 1 on the current path, 2 known to reach a root */
    memset(state, 0, t->n);

    for (i = 0; i < t->n; i++) {
        depth = 0;
        j = i;

        while (state[j] == 0) {
            state[j] = 1;
            stack[depth++] = j;
            p = t->spans[j].parent;
            if (p < 0) {
                break;
            }
            if (state[p] == 1) {
                /* j's parent is on this path: a cycle; j becomes a root */
                t->spans[j].parent = -1;
                break;
            }
            j = (uint32_t) p;
        }

        while (depth) {
            state[stack[--depth]] = 2;
        }
    }
}


int
bt_trace_link(bt_trace_t *t)
{
    uint32_t     i, n, tcap, mask, slot, *order, *count;
    int32_t     *table, idx;
    uint8_t     *state;
    bt_tspan_t   tmp, *s;

    n = t->n;
    t->root = -1;

    if (n == 0) {
        t->start_ns = 0;
        t->end_ns = 0;
        return 0;
    }

    for (tcap = 16; tcap < n * 2; tcap <<= 1) { /* void */ }
    mask = tcap - 1;

    if (scratch_reserve(t, tcap) != 0) {
        return -1;
    }

    order = t->scratch;
    table = (int32_t *) (order + n);
    state = (uint8_t *) (table + tcap);

    /* sort by start time through an index, then apply the permutation */

    for (i = 0; i < n; i++) {
        order[i] = i;
    }

    if (n <= 32) {
        /* small traces (most): insertion sort, no qsort_r call overhead */
        for (i = 1; i < n; i++) {
            uint32_t  j, v;

            v = order[i];
            for (j = i; j > 0 && cmp_start(&v, &order[j - 1], t->spans) < 0;
                 j--)
            {
                order[j] = order[j - 1];
            }
            order[j] = v;
        }

    } else {
        qsort_r(order, n, sizeof(uint32_t), cmp_start, t->spans);
    }

    for (i = 0; i < n; i++) {
        uint32_t  j, k;

        if (order[i] == i) {
            continue;
        }

        /* follow the cycle of the permutation starting at i */
        tmp = t->spans[i];
        j = i;
        for ( ;; ) {
            k = order[j];
            order[j] = j;
            if (k == i) {
                t->spans[j] = tmp;
                break;
            }
            t->spans[j] = t->spans[k];
            j = k;
        }
    }

    /* span id -> index; the first occurrence wins */

    memset(table, 0xff, (size_t) tcap * sizeof(int32_t));

    for (i = 0; i < n; i++) {
        slot = (uint32_t) id_hash(t->spans[i].s.span_id) & mask;
        while ((idx = table[slot]) >= 0) {
            if (memcmp(t->spans[idx].s.span_id, t->spans[i].s.span_id, 8)
                == 0)
            {
                break;
            }
            slot = (slot + 1) & mask;
        }
        if (idx < 0) {
            table[slot] = (int32_t) i;
        }
    }

    t->start_ns = t->spans[0].s.start_ns;
    t->end_ns = 0;

    for (i = 0; i < n; i++) {
        s = &t->spans[i];
        s->parent = -1;
        s->n_children = 0;

        if (s->s.end_ns > t->end_ns) {
            t->end_ns = s->s.end_ns;
        }

        if (bt_id_is_zero(s->s.parent_id, 8)) {
            continue;
        }

        slot = (uint32_t) id_hash(s->s.parent_id) & mask;
        while ((idx = table[slot]) >= 0) {
            if (memcmp(t->spans[idx].s.span_id, s->s.parent_id, 8) == 0) {
                if ((uint32_t) idx != i) {
                    s->parent = idx;
                }
                break;
            }
            slot = (slot + 1) & mask;
        }
    }

    if (t->end_ns < t->start_ns) {
        t->end_ns = t->start_ns;
    }

    cut_cycles(t, state, order);

    /* children grouped by parent, in start order: a counting sort */

    count = order;          /* reuse: order is free again */
    memset(count, 0, (size_t) n * sizeof(uint32_t));

    for (i = 0; i < n; i++) {
        if (t->spans[i].parent >= 0) {
            t->spans[t->spans[i].parent].n_children++;
        }
    }

    slot = 0;
    for (i = 0; i < n; i++) {
        t->spans[i].first_child = slot;
        count[i] = slot;
        slot += t->spans[i].n_children;
    }

    for (i = 0; i < n; i++) {
        idx = t->spans[i].parent;
        if (idx >= 0) {
            t->children[count[idx]++] = i;
        } else if (t->root < 0) {
            t->root = (int32_t) i;
        }
    }

    return 0;
}
