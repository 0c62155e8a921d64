/*
 * bt_ring.c - the named shared-memory segment: creation and validation,
 * slot ownership, the single-producer/single-consumer byte rings, the
 * engine's doorbell and the stats areas.  The bytes are described in
 * bt_ring_layout.h, the contracts in bt_ring.h.
 *
 * Who may run what at the same time (per slot; "P" is the process that
 * owns the slot, "E" the engine):
 *
 *   operation              runs concurrently with          synchronised by
 *   bt_shm_open (create)   any open of the same path       link() is atomic
 *   bt_shm_claim/release   claims of other producers, E    CAS on owner
 *   bt_ring_reserve  (P)   bt_ring_read/release (E)        tail: R2 -> A2
 *   bt_ring_commit   (P)   bt_ring_read, bt_shm_wait (E)   head: R1 -> A1,
 *                                                          F1 <-> F2, bell
 *   bt_ring_read     (E)   reserve/commit (P)              head: R1 -> A1
 *   bt_ring_release  (E)   reserve (P)                     tail: R2 -> A2
 *   bt_shm_wait      (E)   commits of every producer       F1 <-> F2, bell
 *   stats counters         readers of any process          relaxed, one
 *                                                          writer each
 *
 * Never concurrently: two producers on one slot (the owner CAS excludes
 * it; a process must not share its slot with threads or forked children),
 * two consumers (there is one engine).
 *
 * The pairs named in comments below:
 *
 *   R1  release store of head in bt_ring_commit
 *   A1  acquire load of head in bt_ring_read (and bt_shm_pending)
 *       -> the record bytes written before R1 are visible after A1
 *   R2  release store of tail in bt_ring_release
 *   A2  acquire load of tail in bt_ring_reserve
 *       -> the engine's reads of released bytes finished before the
 *          producer overwrites them
 *   F1  seq_cst fence in bt_ring_commit, between R1 and reading "sleeping"
 *   F2  seq_cst fence in bt_shm_wait, between setting "sleeping" and
 *       re-reading every head
 *       -> at least one side sees the other's store (see bt_shm_wait)
 *   R3  release fetch_add of doorbell in bt_shm_ring_bell
 *   A3  acquire load of doorbell in bt_shm_wait
 *   R4  release CAS of owner in bt_shm_release
 *   A4  acquire CAS of owner in bt_shm_claim
 *
 * Hot path: reserve and commit touch only the slot's head line and local
 * state (the tail line only when the cached tail says the ring looks full),
 * take no lock and make no system call unless the engine is asleep, except
 * on this process's first lap over the slot: one madvise per
 * BT_RING_MAP_AHEAD bytes (bt_ring_map_ahead).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "shm/bt_ring.h"
#include "shm/bt_ring_layout.h"
#include "shm/bt_crc32c.h"

/* per-process state of one slot; never in the segment */
typedef struct {
    /* producer side, valid while this process owns the slot */
    uint64_t        head;           /* copy of ctl->head: we are its writer */
    uint64_t        cached_tail;    /* tail only grows: a safe lower bound */
    uint64_t        resv_pos;       /* position of the reserved record */
    uint32_t        resv_len;
    uint64_t        mapped;         /* page tables filled up to here ... */
    uint64_t        mapped_from;    /* ... from here (first lap only) */
    uint8_t         owned;
    uint8_t         reserved;

    /* consumer side: where the last bt_ring_read left its cursor */
    uint64_t        seen;
} bt_slot_local_t;

struct bt_shm_s {
    uint8_t            *base;
    size_t              map_bytes;
    bt_shm_hdr_t       *hdr;
    uint32_t            nslots;
    uint64_t            size;           /* slot_bytes */
    uint64_t            mask;
    uint64_t            slots_off;
    uint64_t            slot_stride;
    uint64_t            data_off;
    uint32_t            max_record;
    bt_slot_local_t    *local;
};

typedef struct {
    uint64_t        stats_off;
    uint64_t        slots_off;
    uint64_t        slot_stride;
    uint64_t        data_off;
    uint64_t        total_bytes;
} bt_shm_plan_t;

static int bt_geo_valid(uint32_t nslots, uint64_t slot_bytes);
static void bt_plan(uint32_t nslots, uint64_t slot_bytes, bt_shm_plan_t *pl);
static const char *bt_fmt_size(uint64_t v, char *buf, size_t len);
static int bt_shm_create(const char *path, const bt_shm_geometry_t *geo,
    char *err, size_t errlen);
static int bt_shm_validate(const uint8_t *base, off_t fsize, const char *path,
    const bt_shm_geometry_t *geo, char *err, size_t errlen);
static bt_slot_ctl_t *bt_ctl(bt_shm_t *shm, int slot);
static uint8_t *bt_data(bt_shm_t *shm, int slot);
static void bt_slot_take(bt_shm_t *shm, int slot);
static int bt_pid_dead(pid_t pid);
static int bt_shm_pending(bt_shm_t *shm);
static void bt_shm_ring_bell(bt_shm_hdr_t *hdr);
static uint64_t bt_now_ms(void);

#define bt_align8(n)    (((uint64_t) (n) + BT_REC_ALIGN - 1) & ~7ull)
#define bt_round_up(n, a)   (((n) + (a) - 1) / (a) * (a))


static int
bt_geo_valid(uint32_t nslots, uint64_t slot_bytes)
{
    return nslots >= 1 && nslots <= BT_SHM_MAX_SLOTS
           && slot_bytes >= BT_SHM_MIN_SLOT_BYTES
           && slot_bytes <= BT_SHM_MAX_SLOT_BYTES
           && (slot_bytes & (slot_bytes - 1)) == 0;
}


/* Where everything goes for a geometry; both creator and checker use it. */
static void
bt_plan(uint32_t nslots, uint64_t slot_bytes, bt_shm_plan_t *pl)
{
    uint64_t  stats;

    stats = sizeof(bt_engine_stats_t)
            + (uint64_t) nslots * sizeof(bt_producer_stats_t);

    pl->stats_off = BT_SHM_PAGE;
    pl->slots_off = pl->stats_off + bt_round_up(stats, BT_SHM_PAGE);
    pl->data_off = BT_SHM_PAGE;
    pl->slot_stride = pl->data_off + slot_bytes;
    pl->total_bytes = pl->slots_off + (uint64_t) nslots * pl->slot_stride;
}


static const char *
bt_fmt_size(uint64_t v, char *buf, size_t len)
{
    if (v != 0 && v % (1ull << 30) == 0) {
        snprintf(buf, len, "%llu GiB", (unsigned long long) (v >> 30));
    } else if (v != 0 && v % (1ull << 20) == 0) {
        snprintf(buf, len, "%llu MiB", (unsigned long long) (v >> 20));
    } else if (v != 0 && v % (1ull << 10) == 0) {
        snprintf(buf, len, "%llu KiB", (unsigned long long) (v >> 10));
    } else {
        snprintf(buf, len, "%llu bytes", (unsigned long long) v);
    }

    return buf;
}


static uint64_t
bt_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/*
 * Creates the segment under a temporary name in the same directory, sizes
 * and initialises it, then link()s it to path, so no process ever sees a
 * half-built segment under the real name.  Returns 0 when our file now has
 * the name, 1 when another process got there first (ours is removed), -1
 * on error with err set.
 */
static int
bt_shm_create(const char *path, const bt_shm_geometry_t *geo, char *err,
    size_t errlen)
{
    static unsigned  counter;
    bt_shm_plan_t    pl;
    bt_shm_hdr_t    *hdr;
    struct timespec  ts;
    char             sz[32];
    char            *tmp;
    void            *map;
    size_t           tmplen;
    int              fd, rc, i;

    bt_plan(geo->nslots, geo->slot_bytes, &pl);

    tmplen = strlen(path) + 64;
    tmp = malloc(tmplen);
    if (tmp == NULL) {
        snprintf(err, errlen, "ring %s: out of memory", path);
        return -1;
    }

    fd = -1;
    for (i = 0; i < 100 && fd == -1; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        snprintf(tmp, tmplen, "%s.tmp.%ld.%u.%ld", path, (long) getpid(),
                 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED),
                 (long) ts.tv_nsec);

        /* 0666 less the umask, like any file the user creates: nginx
         * workers and the engine may run as different users of a group */
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd == -1 && errno != EEXIST) {
            snprintf(err, errlen, "ring %s: open(\"%s\") failed: %s",
                     path, tmp, strerror(errno));
            free(tmp);
            return -1;
        }
    }

    if (fd == -1) {
        snprintf(err, errlen, "ring %s: no free temporary name", path);
        free(tmp);
        return -1;
    }

    if (ftruncate(fd, (off_t) pl.total_bytes) == -1) {
        snprintf(err, errlen, "ring %s: ftruncate(%s) failed: %s", path,
                 bt_fmt_size(pl.total_bytes, sz, sizeof(sz)),
                 strerror(errno));
        goto failed;
    }

    /*
     * Reserve every page now.  On tmpfs a sparse file that later runs out
     * of room kills whoever touches the missing page with SIGBUS (an nginx
     * worker, in the middle of a request); refusing to start with a clear
     * message is the better failure.
     */
    rc = posix_fallocate(fd, 0, (off_t) pl.total_bytes);
    if (rc != 0) {
        snprintf(err, errlen, "ring %s: cannot allocate %s: %s", path,
                 bt_fmt_size(pl.total_bytes, sz, sizeof(sz)), strerror(rc));
        goto failed;
    }

    map = mmap(NULL, BT_SHM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "ring %s: mmap() failed: %s", path,
                 strerror(errno));
        goto failed;
    }

    /* the rest of the file is zero: every head, tail and owner is 0 */
    hdr = map;
    hdr->magic = BT_SHM_MAGIC;
    hdr->version = BT_SHM_VERSION;
    hdr->header_size = sizeof(bt_shm_hdr_t);
    hdr->nslots = geo->nslots;
    hdr->slot_bytes = geo->slot_bytes;
    hdr->created_ms = bt_now_ms();
    hdr->total_bytes = pl.total_bytes;
    hdr->stats_off = pl.stats_off;
    hdr->slots_off = pl.slots_off;
    hdr->slot_stride = pl.slot_stride;
    hdr->data_off = pl.data_off;
    munmap(map, BT_SHM_PAGE);

    if (link(tmp, path) == -1) {
        if (errno == EEXIST) {
            unlink(tmp);
            close(fd);
            free(tmp);
            return 1;
        }

        snprintf(err, errlen, "ring %s: link(\"%s\") failed: %s", path, tmp,
                 strerror(errno));
        goto failed;
    }

    unlink(tmp);
    close(fd);
    free(tmp);

    return 0;

failed:

    unlink(tmp);
    close(fd);
    free(tmp);

    return -1;
}


/*
 * Checks an existing segment: identity, version, geometry (against geo if
 * given), size, and that every ring's counters are sane.  Returns 0, or -1
 * with a message naming the path and the mismatch.
 */
static int
bt_shm_validate(const uint8_t *base, off_t fsize, const char *path,
    const bt_shm_geometry_t *geo, char *err, size_t errlen)
{
    const bt_shm_hdr_t   *hdr;
    const bt_slot_ctl_t  *ctl;
    bt_shm_plan_t         pl;
    uint64_t              head, tail, tail2;
    uint32_t              i;
    char                  a[32], b[32];
    int                   tries;

    hdr = (const bt_shm_hdr_t *) base;

    if ((uint64_t) fsize < sizeof(bt_shm_hdr_t)) {
        snprintf(err, errlen, "ring %s is not a BeTrace segment (%lld bytes)",
                 path, (long long) fsize);
        return -1;
    }

    if (hdr->magic != BT_SHM_MAGIC) {
        snprintf(err, errlen,
                 "ring %s is not a BeTrace segment (magic 0x%08x)",
                 path, hdr->magic);
        return -1;
    }

    if (hdr->version != BT_SHM_VERSION) {
        snprintf(err, errlen, "ring %s has layout version %u, expected %u",
                 path, hdr->version, BT_SHM_VERSION);
        return -1;
    }

    if (hdr->header_size != sizeof(bt_shm_hdr_t)
        || !bt_geo_valid(hdr->nslots, hdr->slot_bytes))
    {
        snprintf(err, errlen, "ring %s has a corrupt header (header %u bytes, "
                 "%u slots of %llu bytes)", path, hdr->header_size,
                 hdr->nslots, (unsigned long long) hdr->slot_bytes);
        return -1;
    }

    if (geo != NULL
        && (geo->nslots != hdr->nslots || geo->slot_bytes != hdr->slot_bytes))
    {
        snprintf(err, errlen, "ring %s has %u slot%s of %s, expected %u "
                 "slot%s of %s", path,
                 hdr->nslots, hdr->nslots == 1 ? "" : "s",
                 bt_fmt_size(hdr->slot_bytes, a, sizeof(a)),
                 geo->nslots, geo->nslots == 1 ? "" : "s",
                 bt_fmt_size(geo->slot_bytes, b, sizeof(b)));
        return -1;
    }

    bt_plan(hdr->nslots, hdr->slot_bytes, &pl);

    if (hdr->total_bytes != pl.total_bytes || hdr->stats_off != pl.stats_off
        || hdr->slots_off != pl.slots_off
        || hdr->slot_stride != pl.slot_stride || hdr->data_off != pl.data_off)
    {
        snprintf(err, errlen, "ring %s has a corrupt header (offsets do not "
                 "match %u slots of %s)", path, hdr->nslots,
                 bt_fmt_size(hdr->slot_bytes, a, sizeof(a)));
        return -1;
    }

    if ((uint64_t) fsize < pl.total_bytes) {
        snprintf(err, errlen, "ring %s is %lld bytes, its header needs %llu",
                 path, (long long) fsize, (unsigned long long) pl.total_bytes);
        return -1;
    }

    for (i = 0; i < hdr->nslots; i++) {
        ctl = (const bt_slot_ctl_t *) (base + pl.slots_off
                                       + (uint64_t) i * pl.slot_stride);

        /*
         * A producer and the engine may be running: take head between two
         * equal reads of tail, so the pair existed at one moment (both
         * only grow, so equal reads mean tail did not move meanwhile).
         */
        tries = 0;
        do {
            tail = atomic_load_explicit(&ctl->tail, memory_order_acquire);
            head = atomic_load_explicit(&ctl->head, memory_order_acquire);
            tail2 = atomic_load_explicit(&ctl->tail, memory_order_acquire);
        } while (tail != tail2 && ++tries < 1000);

        if (tail != tail2 || head - tail > hdr->slot_bytes
            || (head | tail) % BT_REC_ALIGN != 0)
        {
            snprintf(err, errlen, "ring %s slot %u is corrupt: head %llu, "
                     "tail %llu", path, i, (unsigned long long) head,
                     (unsigned long long) tail);
            return -1;
        }
    }

    return 0;
}


/*
 * Opens or creates the segment (see bt_ring.h).  Returns NULL with err set
 * on any failure; nothing is left mapped or open then.  When geo is NULL a
 * missing segment is an error: only a side that knows the geometry creates.
 */
bt_shm_t *
bt_shm_open(const char *path, const bt_shm_geometry_t *geo, char *err,
    size_t errlen)
{
    const bt_shm_hdr_t  *hdr;
    struct stat          st;
    bt_shm_t            *shm;
    uint64_t             maxrec;
    uint8_t             *base;
    char                 dummy[1], a[32];
    uint32_t             i;
    int                  fd, rc, attempt;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';

    if (geo != NULL && !bt_geo_valid(geo->nslots, geo->slot_bytes)) {
        snprintf(err, errlen, "ring %s: invalid geometry %u slots of %s "
                 "(slots 1..%u, slot size a power of two from 64 KiB)", path,
                 geo->nslots, bt_fmt_size(geo->slot_bytes, a, sizeof(a)),
                 BT_SHM_MAX_SLOTS);
        return NULL;
    }

    fd = -1;
    for (attempt = 0; attempt < 3 && fd == -1; attempt++) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd != -1) {
            break;
        }

        if (errno != ENOENT) {
            snprintf(err, errlen, "ring %s: open() failed: %s", path,
                     strerror(errno));
            return NULL;
        }

        if (geo == NULL) {
            snprintf(err, errlen, "ring %s does not exist and no geometry "
                     "was given to create it", path);
            return NULL;
        }

        /* created (0) or lost the race (1): either way open by name */
        rc = bt_shm_create(path, geo, err, errlen);
        if (rc == -1) {
            return NULL;
        }
    }

    if (fd == -1) {
        snprintf(err, errlen, "ring %s: appears and disappears, giving up",
                 path);
        return NULL;
    }

    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "ring %s: fstat() failed: %s", path,
                 strerror(errno));
        close(fd);
        return NULL;
    }

    if (st.st_size < (off_t) sizeof(bt_shm_hdr_t)) {
        snprintf(err, errlen, "ring %s is not a BeTrace segment (%lld bytes)",
                 path, (long long) st.st_size);
        close(fd);
        return NULL;
    }

    base = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                fd, 0);
    close(fd);

    if (base == MAP_FAILED) {
        snprintf(err, errlen, "ring %s: mmap() failed: %s", path,
                 strerror(errno));
        return NULL;
    }

    if (bt_shm_validate(base, st.st_size, path, geo, err, errlen) != 0) {
        munmap(base, (size_t) st.st_size);
        return NULL;
    }

    shm = calloc(1, sizeof(bt_shm_t));
    if (shm == NULL) {
        snprintf(err, errlen, "ring %s: out of memory", path);
        munmap(base, (size_t) st.st_size);
        return NULL;
    }

    hdr = (const bt_shm_hdr_t *) base;

    shm->base = base;
    shm->map_bytes = (size_t) st.st_size;
    shm->hdr = (bt_shm_hdr_t *) base;
    shm->nslots = hdr->nslots;
    shm->size = hdr->slot_bytes;
    shm->mask = hdr->slot_bytes - 1;
    shm->slots_off = hdr->slots_off;
    shm->slot_stride = hdr->slot_stride;
    shm->data_off = hdr->data_off;

    /* a quarter of the ring: a record and the padding before it always
     * fit in an empty ring, with room for the engine to lag a little */
    maxrec = (shm->size / 4 - BT_REC_HDR) & ~7ull;
    shm->max_record = maxrec > (UINT32_MAX & ~7u) ? (UINT32_MAX & ~7u)
                                                  : (uint32_t) maxrec;

    shm->local = calloc(shm->nslots, sizeof(bt_slot_local_t));
    if (shm->local == NULL) {
        snprintf(err, errlen, "ring %s: out of memory", path);
        munmap(base, shm->map_bytes);
        free(shm);
        return NULL;
    }

    for (i = 0; i < shm->nslots; i++) {
        shm->local[i].seen = atomic_load_explicit(&bt_ctl(shm, i)->tail,
                                                  memory_order_acquire);
    }

    return shm;
}


/* Unmaps the segment; slots this process claimed stay claimed. */
void
bt_shm_close(bt_shm_t *shm)
{
    if (shm == NULL) {
        return;
    }

    munmap(shm->base, shm->map_bytes);
    free(shm->local);
    free(shm);
}


/* Fills geo from the segment's header.  This function can't fail. */
void
bt_shm_geometry(const bt_shm_t *shm, bt_shm_geometry_t *geo)
{
    geo->nslots = shm->nslots;
    geo->slot_bytes = shm->size;
}


static bt_slot_ctl_t *
bt_ctl(bt_shm_t *shm, int slot)
{
    return (bt_slot_ctl_t *) (shm->base + shm->slots_off
                              + (uint64_t) slot * shm->slot_stride);
}


static uint8_t *
bt_data(bt_shm_t *shm, int slot)
{
    return shm->base + shm->slots_off + (uint64_t) slot * shm->slot_stride
           + shm->data_off;
}


/* A pid we may take a slot from: kill() says it does not exist.  EPERM
 * means alive under another user; a zombie counts as alive until reaped. */
static int
bt_pid_dead(pid_t pid)
{
    return kill(pid, 0) == -1 && errno == ESRCH;
}


/* This process now owns slot: start writing where the last owner's last
 * committed record ended, whatever it left half-written after it. */
static void
bt_slot_take(bt_shm_t *shm, int slot)
{
    bt_slot_local_t  *loc;
    bt_slot_ctl_t    *ctl;

    ctl = bt_ctl(shm, slot);
    loc = &shm->local[slot];

    /* pairs with R1 of the previous owner's last commit */
    loc->head = atomic_load_explicit(&ctl->head, memory_order_acquire);
    /* pairs with R2 */
    loc->cached_tail = atomic_load_explicit(&ctl->tail, memory_order_acquire);
    loc->reserved = 0;
    loc->mapped = loc->head;
    loc->mapped_from = loc->head;
    loc->owned = 1;

    atomic_fetch_add_explicit(&ctl->claims, 1, memory_order_relaxed);
}


/*
 * Claims a slot for pid: one pid already owns (idempotent), else a free
 * one, else one whose owner is dead.  Returns the index or -1 when every
 * slot belongs to a live process.  A pid that is reused by an unrelated
 * process keeps its slot until that process exits.
 */
int
bt_shm_claim(bt_shm_t *shm, pid_t pid)
{
    bt_slot_ctl_t  *ctl;
    uint32_t        want, old;
    uint32_t        i;

    if (pid <= 0) {
        return -1;
    }

    want = (uint32_t) pid;

    for (i = 0; i < shm->nslots; i++) {
        ctl = bt_ctl(shm, (int) i);
        if (atomic_load_explicit(&ctl->owner, memory_order_acquire) == want) {
            if (!shm->local[i].owned) {
                bt_slot_take(shm, (int) i);
            }
            return (int) i;
        }
    }

    for (i = 0; i < shm->nslots; i++) {
        ctl = bt_ctl(shm, (int) i);
        old = 0;
        /* A4: pairs with R4 of the last owner's release */
        if (atomic_compare_exchange_strong_explicit(&ctl->owner, &old, want,
                memory_order_acq_rel, memory_order_relaxed))
        {
            bt_slot_take(shm, (int) i);
            return (int) i;
        }
    }

    for (i = 0; i < shm->nslots; i++) {
        ctl = bt_ctl(shm, (int) i);
        old = atomic_load_explicit(&ctl->owner, memory_order_relaxed);
        if (old == 0 || old == want || !bt_pid_dead((pid_t) old)) {
            continue;
        }

        /* the CAS makes one of several reclaimers win */
        if (atomic_compare_exchange_strong_explicit(&ctl->owner, &old, want,
                memory_order_acq_rel, memory_order_relaxed))
        {
            bt_slot_take(shm, (int) i);
            return (int) i;
        }
    }

    return -1;
}


/* Gives slot back if pid owns it; otherwise does nothing. */
void
bt_shm_release(bt_shm_t *shm, int slot, pid_t pid)
{
    uint32_t  old;

    if (slot < 0 || (uint32_t) slot >= shm->nslots || pid <= 0) {
        return;
    }

    old = (uint32_t) pid;
    /* R4: pairs with A4 of the next claim */
    if (atomic_compare_exchange_strong_explicit(&bt_ctl(shm, slot)->owner,
            &old, 0, memory_order_release, memory_order_relaxed))
    {
        shm->local[slot].owned = 0;
        shm->local[slot].reserved = 0;
    }
}


/* The largest payload bt_ring_reserve accepts.  This function can't fail. */
uint32_t
bt_ring_max_record(const bt_shm_t *shm)
{
    return shm->max_record;
}


/*
 * The first write to each page of a fresh mapping takes a page fault, one
 * per 4 KiB: on W3 that was about 15% of a worker's time on its first lap
 * over the ring.  MADV_POPULATE_READ fills the page tables BT_RING_MAP_AHEAD
 * bytes at a time instead, and for a shared tmpfs mapping it maps up to 16
 * pages per fault (fault-around) with write permission, so the writes that
 * follow take no fault at all (measured: ~4x less time per MiB).  It only
 * reads: the bytes are untouched, the consumer may still be reading them.
 * Once the whole slot is mapped this is never called again.  A failure
 * (an old kernel without MADV_POPULATE_READ, no memory) is ignored: the
 * writes then fault as before.
 */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#endif
#define BT_RING_MAP_AHEAD   (2u << 20)

static void
bt_ring_map_ahead(bt_shm_t *shm, bt_slot_local_t *loc, uint8_t *data,
    uint64_t upto)
{
    uint64_t   from, to, off, n;
    uintptr_t  a, b;

    from = loc->mapped;
    to = upto + BT_RING_MAP_AHEAD;
    if (to - loc->mapped_from > shm->size) {
        to = loc->mapped_from + shm->size;
    }
    loc->mapped = to;

    while (from < to) {
        off = from & shm->mask;
        n = shm->size - off;
        if (n > to - from) {
            n = to - from;
        }
        a = (uintptr_t) (data + off) & ~(uintptr_t) 4095;
        b = ((uintptr_t) (data + off + n) + 4095) & ~(uintptr_t) 4095;
        (void) madvise((void *) a, b - a, MADV_POPULATE_READ);
        from += n;
    }
}

/*
 * Reserves room for a len-byte record in a slot this process claimed.
 * Returns where to write the payload, or NULL when the ring is full, len
 * is over bt_ring_max_record() or the slot is not ours.  A padding record
 * may be written past head; it stays invisible until the commit.  A new
 * reserve replaces an uncommitted one.
 */
void *
bt_ring_reserve(bt_shm_t *shm, int slot, uint32_t len)
{
    bt_slot_local_t  *loc;
    bt_rec_hdr_t     *pad;
    uint64_t          head, pos, rec, to_end;
    uint8_t          *data;

    if (slot < 0 || (uint32_t) slot >= shm->nslots || len > shm->max_record) {
        return NULL;
    }

    loc = &shm->local[slot];
    if (!loc->owned) {
        return NULL;
    }

    head = loc->head;
    rec = BT_REC_HDR + bt_align8(len);
    to_end = shm->size - (head & shm->mask);
    pos = rec <= to_end ? head : head + to_end;

    if (pos + rec - loc->cached_tail > shm->size) {
        /* A2: pairs with R2 in bt_ring_release: the engine is done with
         * everything before this tail */
        loc->cached_tail = atomic_load_explicit(&bt_ctl(shm, slot)->tail,
                                                memory_order_acquire);
        if (pos + rec - loc->cached_tail > shm->size) {
            return NULL;
        }
    }

    data = bt_data(shm, slot);

    if (pos + rec > loc->mapped
        && loc->mapped - loc->mapped_from < shm->size)
    {
        bt_ring_map_ahead(shm, loc, data, pos + rec);
    }

    if (pos != head && to_end >= BT_REC_HDR) {
        pad = (bt_rec_hdr_t *) (data + (head & shm->mask));
        pad->magic = BT_PAD_MAGIC;
        pad->len = (uint32_t) (to_end - BT_REC_HDR);
        pad->seq = head;
        pad->crc = 0;
        pad->flags = 0;
    }

    loc->resv_pos = pos;
    loc->resv_len = len;
    loc->reserved = 1;

    return data + (pos & shm->mask) + BT_REC_HDR;
}


/*
 * Publishes the reserved record with its first len bytes (len may be less
 * than reserved).  Does nothing if payload is not what bt_ring_reserve
 * returned or len is larger than reserved.  Wakes the engine if it sleeps.
 */
void
bt_ring_commit(bt_shm_t *shm, int slot, void *payload, uint32_t len)
{
    bt_slot_local_t  *loc;
    bt_rec_hdr_t     *h;
    uint8_t          *data;

    if (slot < 0 || (uint32_t) slot >= shm->nslots) {
        return;
    }

    loc = &shm->local[slot];
    data = bt_data(shm, slot);

    if (!loc->reserved || len > loc->resv_len
        || payload != data + (loc->resv_pos & shm->mask) + BT_REC_HDR)
    {
        return;
    }

    h = (bt_rec_hdr_t *) (data + (loc->resv_pos & shm->mask));
    h->magic = BT_REC_MAGIC;
    h->len = len;
    h->seq = loc->resv_pos;
    h->crc = bt_crc32c(payload, len);
    h->flags = 0;

    loc->head = loc->resv_pos + BT_REC_HDR + bt_align8(len);
    loc->reserved = 0;

    /* R1: pairs with A1 in bt_ring_read: header and payload are visible
     * to whoever sees the new head */
    atomic_store_explicit(&bt_ctl(shm, slot)->head, loc->head,
                          memory_order_release);

    /* F1: pairs with F2 in bt_shm_wait (store head; load sleeping there
     * store sleeping; load head) */
    atomic_thread_fence(memory_order_seq_cst);

    if (atomic_load_explicit(&shm->hdr->sleeping, memory_order_relaxed)) {
        bt_shm_ring_bell(shm->hdr);
    }
}


/*
 * Reads the record at *pos (see bt_ring.h): 1 with the record, 0 at head,
 * -1 when the record is malformed (or *pos is outside [tail, head]), with
 * *pos moved to head.  Padding is skipped.
 */
int
bt_ring_read(bt_shm_t *shm, int slot, uint64_t *pos, const uint8_t **payload,
    uint32_t *len)
{
    const bt_rec_hdr_t  *h;
    bt_slot_ctl_t       *ctl;
    uint64_t             head, tail, p, off, to_end, rec;
    uint8_t             *data;
    int                  rc;

    if (slot < 0 || (uint32_t) slot >= shm->nslots) {
        return -1;
    }

    ctl = bt_ctl(shm, slot);
    data = bt_data(shm, slot);

    /* A1: pairs with R1 in bt_ring_commit */
    head = atomic_load_explicit(&ctl->head, memory_order_acquire);
    /* we are tail's only writer */
    tail = atomic_load_explicit(&ctl->tail, memory_order_relaxed);
    p = *pos;

    if (head - tail > shm->size || p - tail > head - tail) {
        goto bad;
    }

    for ( ;; ) {
        if (p == head) {
            rc = 0;
            goto done;
        }

        off = p & shm->mask;
        to_end = shm->size - off;

        if (to_end < BT_REC_HDR) {
            /* too short for a padding header: skipped by both sides */
            p += to_end;
            continue;
        }

        if (head - p < BT_REC_HDR) {
            goto bad;
        }

        h = (const bt_rec_hdr_t *) (data + off);

        if (h->seq != p) {
            goto bad;
        }

        if (h->magic == BT_PAD_MAGIC) {
            if (h->len != to_end - BT_REC_HDR || head - p <= to_end) {
                goto bad;
            }
            p += to_end;
            continue;
        }

        rec = BT_REC_HDR + bt_align8(h->len);

        if (h->magic != BT_REC_MAGIC || h->len > shm->max_record
            || rec > to_end || rec > head - p
            || bt_crc32c(data + off + BT_REC_HDR, h->len) != h->crc)
        {
            goto bad;
        }

        *payload = data + off + BT_REC_HDR;
        *len = h->len;
        p += rec;
        rc = 1;
        goto done;
    }

bad:

    p = head;
    rc = -1;

done:

    *pos = p;
    shm->local[slot].seen = p;

    return rc;
}


/* The slot's consumer position (records before it may be overwritten). */
uint64_t
bt_ring_tail(bt_shm_t *shm, int slot)
{
    if (slot < 0 || (uint32_t) slot >= shm->nslots) {
        return 0;
    }

    return atomic_load_explicit(&bt_ctl(shm, slot)->tail,
                                memory_order_acquire);
}


/* The end of the slot's last committed record. */
uint64_t
bt_ring_head(bt_shm_t *shm, int slot)
{
    if (slot < 0 || (uint32_t) slot >= shm->nslots) {
        return 0;
    }

    /* pairs with R1 */
    return atomic_load_explicit(&bt_ctl(shm, slot)->head,
                                memory_order_acquire);
}


/* Moves tail to new_tail; ignored unless tail <= new_tail <= head. */
void
bt_ring_release(bt_shm_t *shm, int slot, uint64_t new_tail)
{
    bt_slot_ctl_t  *ctl;
    uint64_t        head, tail;

    if (slot < 0 || (uint32_t) slot >= shm->nslots) {
        return;
    }

    ctl = bt_ctl(shm, slot);
    tail = atomic_load_explicit(&ctl->tail, memory_order_relaxed);
    head = atomic_load_explicit(&ctl->head, memory_order_acquire);

    if (new_tail - tail > head - tail || new_tail % BT_REC_ALIGN != 0) {
        return;
    }

    /* R2: pairs with A2 in bt_ring_reserve */
    atomic_store_explicit(&ctl->tail, new_tail, memory_order_release);
}


/* Sums head - tail over the slots.  This function can't fail. */
void
bt_shm_usage(bt_shm_t *shm, uint64_t *used, uint64_t *total)
{
    bt_slot_ctl_t  *ctl;
    uint64_t        sum, head, tail;
    uint32_t        i;

    sum = 0;
    for (i = 0; i < shm->nslots; i++) {
        ctl = bt_ctl(shm, (int) i);
        tail = atomic_load_explicit(&ctl->tail, memory_order_acquire);
        head = atomic_load_explicit(&ctl->head, memory_order_acquire);
        /* the two loads are not one snapshot: clamp a momentary overshoot */
        sum += head - tail > shm->size ? shm->size : head - tail;
    }

    *used = sum;
    *total = (uint64_t) shm->nslots * shm->size;
}


/* Whether a head moved past where this process last read that slot. */
static int
bt_shm_pending(bt_shm_t *shm)
{
    uint32_t  i;

    for (i = 0; i < shm->nslots; i++) {
        /* A1 */
        if (atomic_load_explicit(&bt_ctl(shm, (int) i)->head,
                                 memory_order_acquire)
            != shm->local[i].seen)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Producer side of the doorbell.  Every producer that sees "sleeping" set
 * bumps the word and wakes; only the engine clears the flag.  (Letting the
 * first producer clear it would save syscalls but lose a wake-up: a second
 * producer could see the flag already cleared while the engine, having
 * read the first one's bump, goes to sleep without seeing the second
 * one's head.)  A dead engine leaves the flag set, which costs each commit
 * one futex syscall until a new engine waits once.
 */
static void
bt_shm_ring_bell(bt_shm_hdr_t *hdr)
{
    /* R3: pairs with A3 in bt_shm_wait: the head stored before this is
     * visible to an engine that reads the new doorbell value */
    atomic_fetch_add_explicit(&hdr->doorbell, 1, memory_order_release);

    /* not FUTEX_PRIVATE_FLAG: the word is shared between processes */
    syscall(SYS_futex, &hdr->doorbell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}


/*
 * Consumer: waits for a commit, at most timeout_ms (< 0: no limit).
 *
 * Why no wake-up is lost.  The engine stores sleeping = 1, then F2, then
 * reads doorbell and every head; a producer stores head, then F1, then
 * reads sleeping.  The two seq_cst fences are ordered one way or the other:
 * if F1 comes first the engine's re-check sees the new head and does not
 * sleep; if F2 comes first the producer sees sleeping = 1 and rings.  Its
 * bump of doorbell lands either before the engine reads the word (then the
 * engine also sees the head, through R3/A3, and returns) or after it (then
 * FUTEX_WAIT finds a different value and returns at once, or is already
 * waiting and gets woken).
 */
void
bt_shm_wait(bt_shm_t *shm, int timeout_ms)
{
    bt_shm_hdr_t     *hdr;
    struct timespec   ts;
    uint32_t          bell;

    hdr = shm->hdr;

    if (timeout_ms == 0 || bt_shm_pending(shm)) {
        return;
    }

    atomic_store_explicit(&hdr->sleeping, 1, memory_order_relaxed);

    /* F2: pairs with F1 in bt_ring_commit */
    atomic_thread_fence(memory_order_seq_cst);

    /* A3: pairs with R3 in bt_shm_ring_bell */
    bell = atomic_load_explicit(&hdr->doorbell, memory_order_acquire);

    if (!bt_shm_pending(shm)) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long) (timeout_ms % 1000) * 1000000;

        /* EINTR, EAGAIN and ETIMEDOUT all mean "go and look" */
        syscall(SYS_futex, &hdr->doorbell, FUTEX_WAIT, bell,
                timeout_ms < 0 ? NULL : &ts, NULL, 0);
    }

    atomic_store_explicit(&hdr->sleeping, 0, memory_order_relaxed);
}


/* The slot's producer counters, or NULL for a bad index. */
bt_producer_stats_t *
bt_shm_producer_stats(bt_shm_t *shm, int slot)
{
    if (slot < 0 || (uint32_t) slot >= shm->nslots) {
        return NULL;
    }

    return (bt_producer_stats_t *) (shm->base + shm->hdr->stats_off
                                    + sizeof(bt_engine_stats_t)
                                    + (uint64_t) slot
                                      * sizeof(bt_producer_stats_t));
}


/* The engine's counters.  This function can't fail. */
bt_engine_stats_t *
bt_shm_engine_stats(bt_shm_t *shm)
{
    return (bt_engine_stats_t *) (shm->base + shm->hdr->stats_off);
}


/* Sums every slot's producer counters into sum.  This function can't
 * fail; each counter is read atomically, the sum is not one snapshot. */
void
bt_shm_producer_totals(bt_shm_t *shm, bt_producer_stats_t *sum)
{
    uint64_t  *dst, *src;
    uint32_t   i;
    size_t     k;

    memset(sum, 0, sizeof(*sum));
    dst = (uint64_t *) sum;

    for (i = 0; i < shm->nslots; i++) {
        src = (uint64_t *) bt_shm_producer_stats(shm, (int) i);
        for (k = 0; k < sizeof(*sum) / sizeof(uint64_t); k++) {
            dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
        }
    }
}
