/*
 * assemble.c - the trace assembler (see assemble.h for the contract).
 *
 * Data structures, and why:
 *
 * - Open traces live in an open-addressing hash table keyed by the 16-byte
 *   trace id (linear probing, backward-shift deletion so there are no
 *   tombstones to clean up).  Trace ids are meant to be random, but some
 *   generators put a timestamp in the first bytes and test tools use short
 *   ids, so both halves are mixed with a per-process seed.
 * - Each trace sits on two intrusive lists: by last activity (the head is
 *   the next idle timeout) and by creation (the head is the next max-age
 *   deadline and the victim of the memory cap).  Every deadline check looks
 *   at a list head only, so completion costs O(1) per completed trace.
 * - A trace keeps pointers to its span records, not copies, in 128-byte
 *   chunks of 14; trace objects and chunks come from slabs with free lists,
 *   so the steady state does no malloc at all.
 * - Per slot, a FIFO of the records read so far with the number of open
 *   traces that hold a span in each.  A trace records which (slot, record)
 *   pairs it holds, once per pair (spans of one trace are nearly always
 *   adjacent in a record, so comparing with the last pair is enough; a
 *   repeated pair is counted twice and dropped twice, which stays exact).
 *   Release walks from the FIFO head past records whose count is zero.
 * - A bounded FIFO of recently completed ids with its own hash index marks
 *   late spans as a reopened trace.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "assemble.h"

#define CHUNK_N         14
#define INLINE_REFS     2
#define SLAB_BYTES      (2u << 20)
#define HUGE_BYTES      (2u << 20)
#define REF_SEQ_MASK    ((1ULL << 56) - 1)
#define NO_REF          UINT64_MAX

typedef struct chunk_s  chunk_t;
typedef struct trace_s  trace_t;

struct chunk_s {
    chunk_t    *next;
    uint32_t    n;
    uint64_t    v[CHUNK_N];         /* span record pointers or refs */
};

struct trace_s {
    uint8_t     id[16];
    uint64_t    hash;
    trace_t    *idle_prev;          /* by last activity, oldest first */
    trace_t    *idle_next;
    trace_t    *age_prev;           /* by creation, oldest first */
    trace_t    *age_next;
    uint64_t    first_ms;
    uint64_t    last_ms;
    chunk_t    *spans;              /* newest chunk first */
    chunk_t    *refs_more;          /* refs beyond the inline ones */
    uint64_t    refs[INLINE_REFS];  /* slot << 56 | record seq */
    uint64_t    last_ref;
    uint32_t    nspans;
    uint32_t    nrefs;
    uint8_t     reopened;
};

typedef struct {
    uint64_t    h;
    trace_t    *t;                  /* NULL: empty */
} hent_t;

typedef struct {
    uint64_t    end;                /* ring position just past the record */
    uint32_t    refs;               /* open traces holding a span in it */
} rec_t;

typedef struct {
    rec_t      *q;                  /* indexed by seq & mask */
    uint64_t    mask;
    uint64_t    first;              /* seq of the oldest unreleased record */
    uint64_t    next;               /* seq of the next record */
    int         dirty;              /* a count fell to zero */
} slotq_t;

typedef struct {
    void       *free;
    size_t      size;
    void      **slabs;
    size_t      nslabs;
    size_t      cap;
} pool_t;

struct bt_asm_s {
    bt_asm_conf_t   conf;
    uint64_t        seed[2];

    hent_t         *tab;
    uint64_t        tmask;
    uint64_t        tcount;

    trace_t        *idle_head, *idle_tail;
    trace_t        *age_head, *age_tail;

    slotq_t        *slots;
    uint32_t       *dirty;          /* slot numbers with dirty set */
    uint32_t        ndirty;

    pool_t          traces;
    pool_t          chunks;

    uint8_t       (*rids)[16];      /* recently completed ids, a FIFO */
    uint64_t       *rhash;
    uint32_t        rcap;
    uint32_t        rcount;
    uint32_t        rnext;
    uint32_t       *rtab;           /* FIFO index + 1, 0: empty */
    uint32_t        rtmask;

    bt_trace_t      view;
    bt_asm_stats_t  st;
};


/* --- memory -------------------------------------------------------------- */

/*
 * Blocks of 2 MiB and more are aligned and advised to use transparent huge
 * pages: the trace table and the slabs are read at random, and with 4 KiB
 * pages nearly every lookup in a large table also missed the TLB.  Returns
 * NULL on failure; release with free().
 */
static void *
big_alloc(size_t n, int zero)
{
    void  *p;

    if (n < HUGE_BYTES) {
        return zero ? calloc(1, n) : malloc(n);
    }

    if (posix_memalign(&p, HUGE_BYTES, n) != 0) {
        return NULL;
    }
    (void) madvise(p, n, MADV_HUGEPAGE);    /* a hint; fine if refused */
    if (zero) {
        memset(p, 0, n);
    }
    return p;
}


/* --- pools ------------------------------------------------------------- */

static void *
pool_get(pool_t *p)
{
    void    *x, **slabs;
    char    *slab;
    size_t   i, n;

    if (p->free == NULL) {
        if (p->nslabs == p->cap) {
            n = p->cap ? p->cap * 2 : 16;
            slabs = realloc(p->slabs, n * sizeof(void *));
            if (slabs == NULL) {
                return NULL;
            }
            p->slabs = slabs;
            p->cap = n;
        }

        slab = big_alloc(SLAB_BYTES, 0);
        if (slab == NULL) {
            return NULL;
        }
        p->slabs[p->nslabs++] = slab;

        n = SLAB_BYTES / p->size;
        for (i = 0; i < n; i++) {
            *(void **) (slab + i * p->size) = p->free;
            p->free = slab + i * p->size;
        }
    }

    x = p->free;
    p->free = *(void **) x;
    return x;
}

static void
pool_put(pool_t *p, void *x)
{
    *(void **) x = p->free;
    p->free = x;
}

static void
pool_free(pool_t *p)
{
    size_t  i;

    for (i = 0; i < p->nslabs; i++) {
        free(p->slabs[i]);
    }
    free(p->slabs);
    memset(p, 0, sizeof(*p));
}


/* --- hashing ------------------------------------------------------------ */

static inline uint64_t
fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/*
 * Both halves go through the mixer with a secret seed, so an id generator
 * that is constant in one half spreads fine and crafted ids can't be made
 * to collide without knowing the seed.
 */
static inline uint64_t
id_hash(const bt_asm_t *a, const uint8_t *id)
{
    uint64_t  lo, hi;

    memcpy(&lo, id, 8);
    memcpy(&hi, id + 8, 8);

    return fmix64(fmix64(lo ^ a->seed[0]) ^ hi ^ a->seed[1]);
}

static trace_t *
tab_find(const bt_asm_t *a, const uint8_t *id, uint64_t h)
{
    uint64_t  i;
    hent_t   *e;

    for (i = h & a->tmask; ; i = (i + 1) & a->tmask) {
        e = &a->tab[i];
        if (e->t == NULL) {
            return NULL;
        }
        if (e->h == h && memcmp(e->t->id, id, 16) == 0) {
            return e->t;
        }
    }
}

static void
tab_put(hent_t *tab, uint64_t mask, uint64_t h, trace_t *t)
{
    uint64_t  i;

    for (i = h & mask; tab[i].t != NULL; i = (i + 1) & mask) {
        /* void */
    }
    tab[i].h = h;
    tab[i].t = t;
}

/* Doubles the table.  Returns 0, or -1 (the table is unchanged). */
static int
tab_grow(bt_asm_t *a)
{
    uint64_t  i, ncap;
    hent_t   *ntab;

    ncap = (a->tmask + 1) * 2;
    ntab = big_alloc(ncap * sizeof(hent_t), 1);
    if (ntab == NULL) {
        return -1;
    }

    for (i = 0; i <= a->tmask; i++) {
        if (a->tab[i].t) {
            tab_put(ntab, ncap - 1, a->tab[i].h, a->tab[i].t);
        }
    }

    free(a->tab);
    a->tab = ntab;
    a->tmask = ncap - 1;
    return 0;
}

/* Removes t, shifting later members of its probe run back into the hole. */
static void
tab_del(bt_asm_t *a, trace_t *t)
{
    uint64_t  i, j, k, mask;

    mask = a->tmask;
    for (i = t->hash & mask; a->tab[i].t != t; i = (i + 1) & mask) {
        /* void */
    }

    for (j = i; ; ) {
        j = (j + 1) & mask;
        if (a->tab[j].t == NULL) {
            break;
        }
        k = a->tab[j].h & mask;
        /* move j into the hole at i unless its home lies in (i, j] */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            a->tab[i] = a->tab[j];
            i = j;
        }
    }
    a->tab[i].t = NULL;
    a->tcount--;
}


/* --- recently completed ids -------------------------------------------- */

static int
recent_find(const bt_asm_t *a, const uint8_t *id, uint64_t h)
{
    uint32_t  i, v;

    for (i = (uint32_t) h & a->rtmask; (v = a->rtab[i]) != 0;
         i = (i + 1) & a->rtmask)
    {
        if (a->rhash[v - 1] == h && memcmp(a->rids[v - 1], id, 16) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
recent_del(bt_asm_t *a, uint32_t idx)
{
    uint32_t  i, j, k, mask;

    mask = a->rtmask;
    for (i = (uint32_t) a->rhash[idx] & mask; a->rtab[i] != idx + 1;
         i = (i + 1) & mask)
    {
        /* void */
    }

    for (j = i; ; ) {
        j = (j + 1) & mask;
        if (a->rtab[j] == 0) {
            break;
        }
        k = (uint32_t) a->rhash[a->rtab[j] - 1] & mask;
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            a->rtab[i] = a->rtab[j];
            i = j;
        }
    }
    a->rtab[i] = 0;
}

static void
recent_add(bt_asm_t *a, const uint8_t *id, uint64_t h)
{
    uint32_t  i, idx;

    if (recent_find(a, id, h)) {
        return;
    }

    idx = a->rnext;
    if (a->rcount == a->rcap) {
        recent_del(a, idx);         /* forget the oldest */
    } else {
        a->rcount++;
    }

    memcpy(a->rids[idx], id, 16);
    a->rhash[idx] = h;
    for (i = (uint32_t) h & a->rtmask; a->rtab[i] != 0;
         i = (i + 1) & a->rtmask)
    {
        /* void */
    }
    a->rtab[i] = idx + 1;

    a->rnext = (idx + 1 == a->rcap) ? 0 : idx + 1;
}


/* --- lists ---------------------------------------------------------------- */

static void
idle_unlink(bt_asm_t *a, trace_t *t)
{
    if (t->idle_prev) {
        t->idle_prev->idle_next = t->idle_next;
    } else {
        a->idle_head = t->idle_next;
    }
    if (t->idle_next) {
        t->idle_next->idle_prev = t->idle_prev;
    } else {
        a->idle_tail = t->idle_prev;
    }
}

static void
idle_append(bt_asm_t *a, trace_t *t)
{
    t->idle_next = NULL;
    t->idle_prev = a->idle_tail;
    if (a->idle_tail) {
        a->idle_tail->idle_next = t;
    } else {
        a->idle_head = t;
    }
    a->idle_tail = t;
}

static void
age_unlink(bt_asm_t *a, trace_t *t)
{
    if (t->age_prev) {
        t->age_prev->age_next = t->age_next;
    } else {
        a->age_head = t->age_next;
    }
    if (t->age_next) {
        t->age_next->age_prev = t->age_prev;
    } else {
        a->age_tail = t->age_prev;
    }
}

static void
age_append(bt_asm_t *a, trace_t *t)
{
    t->age_next = NULL;
    t->age_prev = a->age_tail;
    if (a->age_tail) {
        a->age_tail->age_next = t;
    } else {
        a->age_head = t;
    }
    a->age_tail = t;
}


/* --- slots ------------------------------------------------------------------ */

static void
mark_dirty(bt_asm_t *a, uint32_t slot)
{
    if (!a->slots[slot].dirty) {
        a->slots[slot].dirty = 1;
        a->dirty[a->ndirty++] = slot;
    }
}

/* Gives back every leading record of a dirty slot that nobody holds. */
static void
release_dirty(bt_asm_t *a)
{
    uint32_t  i, slot;
    slotq_t  *sq;
    uint64_t  first;

    for (i = 0; i < a->ndirty; i++) {
        slot = a->dirty[i];
        sq = &a->slots[slot];
        sq->dirty = 0;

        first = sq->first;
        while (first != sq->next && sq->q[first & sq->mask].refs == 0) {
            first++;
        }

        if (first != sq->first) {
            sq->first = first;
            if (a->conf.on_release) {
                a->conf.on_release(a->conf.arg, (int) slot,
                                   sq->q[(first - 1) & sq->mask].end);
            }
        }
    }
    a->ndirty = 0;
}

/* Makes room for one more record.  Returns 0, or -1 (nothing changed). */
static int
slot_reserve(slotq_t *sq)
{
    uint64_t  ncap, s;
    rec_t    *nq;

    if (sq->q && sq->next - sq->first <= sq->mask) {
        return 0;
    }

    ncap = sq->q ? (sq->mask + 1) * 2 : 1024;
    nq = malloc(ncap * sizeof(rec_t));
    if (nq == NULL) {
        return -1;
    }
    for (s = sq->first; s != sq->next; s++) {
        nq[s & (ncap - 1)] = sq->q[s & sq->mask];
    }
    free(sq->q);
    sq->q = nq;
    sq->mask = ncap - 1;
    return 0;
}


/* --- traces -------------------------------------------------------------- */

static trace_t *
trace_new(bt_asm_t *a, const uint8_t *id, uint64_t h, uint64_t now_ms)
{
    trace_t  *t;

    if ((a->tcount + 1) * 2 > a->tmask + 1 && tab_grow(a) != 0) {
        return NULL;
    }

    t = pool_get(&a->traces);
    if (t == NULL) {
        return NULL;
    }

    memcpy(t->id, id, 16);
    t->hash = h;
    t->first_ms = now_ms;
    t->last_ms = now_ms;
    t->spans = NULL;
    t->refs_more = NULL;
    t->last_ref = NO_REF;
    t->nspans = 0;
    t->nrefs = 0;
    t->reopened = 0;

    if (a->rcount && recent_find(a, id, h)) {
        t->reopened = 1;
        a->st.reopened++;
    }

    tab_put(a->tab, a->tmask, h, t);
    a->tcount++;
    idle_append(a, t);
    age_append(a, t);
    a->st.traces_in_flight++;

    return t;
}

/* Appends v to a chunk list.  Returns 0, or -1 (nothing changed). */
static int
chunk_push(bt_asm_t *a, chunk_t **head, uint64_t v)
{
    chunk_t  *c;

    c = *head;
    if (c == NULL || c->n == CHUNK_N) {
        c = pool_get(&a->chunks);
        if (c == NULL) {
            return -1;
        }
        c->next = *head;
        c->n = 0;
        *head = c;
    }
    c->v[c->n++] = v;
    return 0;
}

static void
chunks_free(bt_asm_t *a, chunk_t *c)
{
    chunk_t  *next;

    for ( ; c; c = next) {
        next = c->next;
        pool_put(&a->chunks, c);
    }
}

static void
ref_drop(bt_asm_t *a, uint64_t ref)
{
    uint32_t  slot;
    slotq_t  *sq;
    rec_t    *r;

    slot = (uint32_t) (ref >> 56);
    sq = &a->slots[slot];
    r = &sq->q[(ref & REF_SEQ_MASK) & sq->mask];
    if (--r->refs == 0) {
        mark_dirty(a, slot);
    }
}

/* Builds the view over t's span records.  Returns 0, or -1. */
static int
trace_view(bt_asm_t *a, trace_t *t)
{
    chunk_t        *c;
    uint32_t        i;
    const uint8_t  *p;
    bt_span_t       s;

    bt_trace_reset(&a->view);

    for (c = t->spans; c; c = c->next) {
        for (i = 0; i < c->n; i++) {
            p = (const uint8_t *) (uintptr_t) c->v[i];
            /* checked by bt_batch_check when it was read; the length is
               the record's own */
            if (bt_span_parse(p, bt_rd32(p), &s) < 0
                || bt_trace_add(&a->view, &s) != 0)
            {
                return -1;
            }
        }
    }

    return bt_trace_link(&a->view);
}

/* The single place a trace leaves the assembler. */
static void
trace_complete(bt_asm_t *a, trace_t *t, bt_done_reason_t reason)
{
    bt_done_t  done;
    chunk_t   *c;
    uint32_t   i, n;

    if (trace_view(a, t) == 0) {
        done.trace_id = t->id;
        done.reason = reason;
        done.reopened = t->reopened;
        done.first_ms = t->first_ms;
        done.last_ms = t->last_ms;
        a->conf.on_trace(a->conf.arg, &a->view, &done);
    } else {
        a->st.build_errors++;
    }

    /* the view points into the records: drop them only now */
    n = t->nrefs < INLINE_REFS ? t->nrefs : INLINE_REFS;
    for (i = 0; i < n; i++) {
        ref_drop(a, t->refs[i]);
    }
    for (c = t->refs_more; c; c = c->next) {
        for (i = 0; i < c->n; i++) {
            ref_drop(a, c->v[i]);
        }
    }

    tab_del(a, t);
    idle_unlink(a, t);
    age_unlink(a, t);
    recent_add(a, t->id, t->hash);

    a->st.traces_in_flight--;
    a->st.spans_in_flight -= t->nspans;
    a->st.completed++;
    if (reason == BT_DONE_FORCED) {
        a->st.forced++;
    }

    chunks_free(a, t->spans);
    chunks_free(a, t->refs_more);
    pool_put(&a->traces, t);
}

/*
 * *prev is the trace of the record's previous span: spans of one trace
 * usually come together, and nothing completes while a record is added, so
 * comparing with it first skips most hash lookups.
 */
static int
trace_add_span(bt_asm_t *a, const uint8_t *span, uint64_t ref, rec_t *rec,
    uint64_t now_ms, trace_t **prev)
{
    const uint8_t  *id;
    uint64_t        h;
    trace_t        *t;

    id = span + 4;

    if (*prev && memcmp((*prev)->id, id, 16) == 0) {
        t = *prev;
        h = t->hash;
    } else {
        h = id_hash(a, id);
        t = tab_find(a, id, h);
    }

    if (t == NULL) {
        t = trace_new(a, id, h, now_ms);
        if (t == NULL) {
            return -1;
        }

    } else if (t != a->idle_tail) {
        idle_unlink(a, t);
        idle_append(a, t);
    }

    /* a clock that went backwards must not move a deadline earlier */
    if (now_ms > t->last_ms) {
        t->last_ms = now_ms;
    }

    if (t->last_ref != ref) {
        if (t->nrefs < INLINE_REFS) {
            t->refs[t->nrefs] = ref;
        } else if (chunk_push(a, &t->refs_more, ref) != 0) {
            return -1;
        }
        t->nrefs++;
        t->last_ref = ref;
        rec->refs++;
    }

    if (chunk_push(a, &t->spans, (uint64_t) (uintptr_t) span) != 0) {
        return -1;
    }
    t->nspans++;
    a->st.spans_in_flight++;
    a->st.spans++;
    *prev = t;

    return 0;
}


/* --- public ------------------------------------------------------------------ */

bt_asm_t *
bt_asm_create(const bt_asm_conf_t *conf)
{
    bt_asm_t  *a;
    uint32_t   rcap, rtcap;

    if (conf->nslots == 0 || conf->nslots > 256 || conf->on_trace == NULL) {
        return NULL;
    }

    a = calloc(1, sizeof(bt_asm_t));
    if (a == NULL) {
        return NULL;
    }

    a->conf = *conf;

    if (getrandom(a->seed, sizeof(a->seed), GRND_NONBLOCK)
        != (ssize_t) sizeof(a->seed))
    {
        /* no entropy yet: still a fine hash, just not a secret one */
        a->seed[0] = (uint64_t) time(NULL) ^ (uint64_t) (uintptr_t) a;
        a->seed[1] = fmix64(a->seed[0]);
    }

    a->traces.size = sizeof(trace_t);
    a->chunks.size = sizeof(chunk_t);

    a->tmask = 1023;
    a->tab = calloc(a->tmask + 1, sizeof(hent_t));

    a->slots = calloc(conf->nslots, sizeof(slotq_t));
    a->dirty = calloc(conf->nslots, sizeof(uint32_t));

    rcap = conf->recent ? conf->recent : 65536;
    for (rtcap = 16; rtcap < rcap * 2; rtcap <<= 1) { /* void */ }
    a->rcap = rcap;
    a->rtmask = rtcap - 1;
    a->rids = malloc((size_t) rcap * 16);
    a->rhash = malloc((size_t) rcap * sizeof(uint64_t));
    a->rtab = calloc(rtcap, sizeof(uint32_t));

    bt_trace_init(&a->view);

    if (a->tab == NULL || a->slots == NULL || a->dirty == NULL
        || a->rids == NULL || a->rhash == NULL || a->rtab == NULL)
    {
        bt_asm_destroy(a);
        return NULL;
    }

    return a;
}

void
bt_asm_destroy(bt_asm_t *a)
{
    uint32_t  i;

    if (a == NULL) {
        return;
    }

    if (a->slots) {
        for (i = 0; i < a->conf.nslots; i++) {
            free(a->slots[i].q);
        }
    }

    pool_free(&a->traces);
    pool_free(&a->chunks);
    bt_trace_free(&a->view);
    free(a->tab);
    free(a->slots);
    free(a->dirty);
    free(a->rids);
    free(a->rhash);
    free(a->rtab);
    free(a);
}

int
bt_asm_add(bt_asm_t *a, int slot, const uint8_t *payload, uint32_t len,
    uint64_t end, uint64_t now_ms)
{
    slotq_t        *sq;
    rec_t          *rec;
    uint64_t        seq, ref;
    uint32_t        i, count;
    const uint8_t  *p;
    trace_t        *prev;
    int             rc;

    sq = &a->slots[slot];
    if (slot_reserve(sq) != 0) {
        return -1;
    }

    seq = sq->next++;
    rec = &sq->q[seq & sq->mask];
    rec->end = end;
    rec->refs = 0;
    a->st.records++;

    rc = 0;

    if (payload != NULL && len >= 8) {
        ref = ((uint64_t) slot << 56) | (seq & REF_SEQ_MASK);
        count = bt_rd32(payload + 4);
        p = bt_batch_first(payload);
        prev = NULL;

        for (i = 0; i < count; i++) {
            if (trace_add_span(a, p, ref, rec, now_ms, &prev) != 0) {
                rc = -1;
                break;
            }
            p += bt_rd32(p);
        }
    }

    if (rec->refs == 0) {
        mark_dirty(a, (uint32_t) slot);
    }

    if (a->conf.max_spans) {
        while (a->st.spans_in_flight > a->conf.max_spans && a->age_head) {
            trace_complete(a, a->age_head, BT_DONE_FORCED);
        }
    }

    release_dirty(a);

    return rc;
}

static uint64_t
deadline(uint64_t t, uint64_t d)
{
    return t + d < t ? UINT64_MAX : t + d;
}

uint64_t
bt_asm_expire(bt_asm_t *a, uint64_t now_ms)
{
    uint64_t  n;

    n = 0;

    for ( ;; ) {
        if (a->age_head
            && deadline(a->age_head->first_ms, a->conf.max_age_ms) <= now_ms)
        {
            trace_complete(a, a->age_head, BT_DONE_MAX_AGE);

        } else if (a->idle_head
                   && deadline(a->idle_head->last_ms, a->conf.idle_ms)
                      <= now_ms)
        {
            trace_complete(a, a->idle_head, BT_DONE_IDLE);

        } else {
            break;
        }
        n++;
    }

    release_dirty(a);

    return n;
}

uint64_t
bt_asm_force_oldest(bt_asm_t *a, uint64_t n)
{
    uint64_t  done;

    for (done = 0; done < n && a->age_head; done++) {
        trace_complete(a, a->age_head, BT_DONE_FORCED);
    }

    release_dirty(a);

    return done;
}

uint64_t
bt_asm_complete_all(bt_asm_t *a, bt_done_reason_t reason)
{
    uint64_t  n;

    for (n = 0; a->age_head; n++) {
        trace_complete(a, a->age_head, reason);
    }

    release_dirty(a);

    return n;
}

uint64_t
bt_asm_next_deadline(const bt_asm_t *a)
{
    uint64_t  d, i;

    d = UINT64_MAX;

    if (a->age_head) {
        d = deadline(a->age_head->first_ms, a->conf.max_age_ms);
    }
    if (a->idle_head) {
        i = deadline(a->idle_head->last_ms, a->conf.idle_ms);
        if (i < d) {
            d = i;
        }
    }

    return d;
}

void
bt_asm_stats(const bt_asm_t *a, bt_asm_stats_t *st)
{
    *st = a->st;
}

const char *
bt_done_reason_name(bt_done_reason_t reason)
{
    switch (reason) {
    case BT_DONE_IDLE:
        return "idle";
    case BT_DONE_MAX_AGE:
        return "max_age";
    case BT_DONE_FORCED:
        return "forced";
    case BT_DONE_SHUTDOWN:
        return "shutdown";
    }
    return "unknown";
}
