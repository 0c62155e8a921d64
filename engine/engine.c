/*
 * engine.c - the ring reader around the assembler (see engine.h).
 *
 * Each slot is read with the engine's own cursor, starting at the slot's
 * tail: whatever a previous engine read but never released is read again,
 * which is how a restart (even after SIGKILL) loses nothing.  Records are
 * handed to the assembler in place; the assembler reports back which ring
 * positions became free, and those are applied only after the output of
 * the traces that held them has been written (engine_flush) and Redis has
 * acknowledged the signals they raised (the hold FIFO below).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "log.h"
#include "signals.h"
#include "trace_json.h"

/* output is written out once this much is buffered, or at a step's end */
#define OUT_HIGH_WATER      (256 * 1024)
/* another engine whose heartbeat is younger than this is considered alive */
#define ENGINE_ALIVE_MS     3000
#define HEARTBEAT_EVERY_MS  200
/* steps whose releases wait for Redis at once; more are merged into the
   newest, which only delays the merged releases (never loses them) */
#define HOLD_MAX            64


/*
 * A step's ring releases waiting for Redis: applied once every signal
 * queued up to the step's end (snap, a bt_sig_queued() value) has been
 * acknowledged, so a SIGKILL before that leaves the trace in the ring and
 * the next engine raises the signal again (SET NX makes that harmless).
 */
typedef struct {
    uint64_t            snap;
    uint64_t           *pos;            /* release position per slot, 0: none */
} hold_t;

struct engine_s {
    engine_conf_t       conf;
    bt_shm_t           *shm;
    bt_engine_stats_t  *es;
    bt_shm_geometry_t   geo;
    bt_asm_t           *asm_;

    uint64_t           *pos;            /* read cursor per slot */
    uint64_t           *pending;        /* release position per slot, 0: none */
    uint64_t            high_bytes;     /* ring pressure threshold per slot */
    uint64_t            byte_budget;    /* bytes per slot per step */

    int                 out_fd;         /* --traces-out, -1: none */
    bt_jbuf_t           out;
    uint64_t            out_errors;

    uint64_t            records_corrupt;
    uint64_t            last_beat_ms;
    uint64_t            pressure_forced;    /* not yet logged */
    uint64_t            pressure_logged_ms;

    bt_sig_t           *sig;            /* rules and signals, NULL: none */

    hold_t              hold[HOLD_MAX]; /* FIFO, oldest at hold_first */
    uint64_t           *hold_pos;       /* HOLD_MAX x nslots, for hold[].pos */
    uint32_t            hold_first;
    uint32_t            hold_n;
    uint64_t            unprotected;        /* signals_unprotected */
    uint64_t            unprotected_upto;   /* queue position counted to */
    uint64_t            unprotected_new;    /* not yet logged */
    uint64_t            unprotected_log_ms;
};


static void
stat_store(uint64_t *field, uint64_t v)
{
    /* nginx reads these without a lock; single writer, so relaxed is
       enough for counters (pid is published with release, see open) */
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
}


static void out_write(engine_t *e);


/*
 * The one place a completed trace goes: the JSON line (--traces-out), then
 * rule evaluation and the hand-off of its signals to the Redis thread
 * (signals.c), on the same view, before the records are released.
 */
static void
engine_on_trace(void *arg, const bt_trace_t *view, const bt_done_t *done)
{
    engine_t  *e = arg;
    char       id[33];

    if (engine_log_level <= ENGINE_LOG_DEBUG) {
        *bt_hex(id, done->trace_id, 16) = '\0';
        engine_log(ENGINE_LOG_DEBUG, "trace %s complete: %s, %u spans%s", id,
                   bt_done_reason_name(done->reason), view->n,
                   done->reopened ? ", reopened" : "");
    }

    if (e->out_fd >= 0) {
        if (bt_trace_json(&e->out, view, done->trace_id,
                          bt_done_reason_name(done->reason), done->reopened)
            != 0)
        {
            e->out_errors++;
            engine_log(ENGINE_LOG_ERROR, "out of memory writing a trace "
                       "line for --traces-out (%llu lines lost so far)",
                       (unsigned long long) e->out_errors);
        }
        if (e->out.len >= OUT_HIGH_WATER) {
            out_write(e);
        }
    }

    if (e->sig) {
        bt_sig_on_trace(e->sig, view, done);
    }

    if (e->conf.on_trace) {
        e->conf.on_trace(e->conf.arg, view, done);
    }
}

static void
engine_on_release(void *arg, int slot, uint64_t pos)
{
    engine_t  *e = arg;

    e->pending[slot] = pos;
}

static hold_t *
hold_at(engine_t *e, uint32_t k)
{
    return &e->hold[(e->hold_first + k) % HOLD_MAX];
}

/* bt_ring_release only forward: pressure may have released further */
static void
release_to(engine_t *e, int slot, uint64_t pos)
{
    if (pos > bt_ring_tail(e->shm, slot)) {
        bt_ring_release(e->shm, slot, pos);
    }
}

/* The furthest release of slot waiting in the FIFO, 0: none. */
static uint64_t
hold_max(engine_t *e, uint32_t slot)
{
    uint32_t  k;

    for (k = e->hold_n; k > 0; k--) {
        if (hold_at(e, k - 1)->pos[slot]) {
            return hold_at(e, k - 1)->pos[slot];
        }
    }
    return 0;
}

/*
 * Moves this step's releases (e->pending) into the FIFO, or applies them
 * at once when no signal is waiting for Redis and nothing older is held:
 * the common path, as cheap as before.  A step that queued no signal
 * since the newest entry extends that entry instead of adding one.
 */
static void
hold_push(engine_t *e)
{
    hold_t    *h;
    uint64_t   snap;
    uint32_t   i;
    int        any;

    any = 0;
    for (i = 0; i < e->geo.nslots; i++) {
        if (e->pending[i]) {
            any = 1;
            break;
        }
    }
    if (!any) {
        return;
    }

    snap = bt_sig_queued(e->sig);

    if (e->hold_n == 0 && snap <= bt_sig_acked(e->sig)) {
        for (i = 0; i < e->geo.nslots; i++) {
            if (e->pending[i]) {
                release_to(e, (int) i, e->pending[i]);
                e->pending[i] = 0;
            }
        }
        return;
    }

    h = e->hold_n ? hold_at(e, e->hold_n - 1) : NULL;

    if (h == NULL || (h->snap != snap && e->hold_n < HOLD_MAX)) {
        h = hold_at(e, e->hold_n);
        e->hold_n++;
        memset(h->pos, 0, e->geo.nslots * sizeof(uint64_t));
    }

    /* positions only grow, and snap too: a merged entry waits for the
       later of the two */
    h->snap = snap;
    for (i = 0; i < e->geo.nslots; i++) {
        if (e->pending[i]) {
            h->pos[i] = e->pending[i];
            e->pending[i] = 0;
        }
    }
}

/* Applies the oldest entries whose signals are all acknowledged. */
static void
hold_apply(engine_t *e, uint64_t acked)
{
    hold_t    *h;
    uint32_t   i;

    while (e->hold_n) {
        h = hold_at(e, 0);
        if (h->snap > acked) {
            break;
        }
        for (i = 0; i < e->geo.nslots; i++) {
            if (h->pos[i]) {
                release_to(e, (int) i, h->pos[i]);
            }
        }
        e->hold_first = (e->hold_first + 1) % HOLD_MAX;
        e->hold_n--;
    }
}

/*
 * Ingest before protection: a slot more than ring_high_pct full gets its
 * held releases, oldest first, until it is back under the threshold, so a
 * long Redis outage never makes producers answer 429.  The signals queued
 * up to each entry so applied are counted once in signals_unprotected: a
 * SIGKILL before Redis has them would lose them.
 */
static void
hold_pressure(engine_t *e, uint64_t acked)
{
    hold_t    *h;
    uint64_t   from, now;
    uint32_t   i, k;

    for (i = 0; i < e->geo.nslots; i++) {
        for (k = 0; k < e->hold_n; k++) {
            h = hold_at(e, k);
            if (h->pos[i] == 0) {
                continue;
            }
            if (bt_ring_head(e->shm, (int) i) - bt_ring_tail(e->shm, (int) i)
                <= e->high_bytes)
            {
                break;
            }
            release_to(e, (int) i, h->pos[i]);
            h->pos[i] = 0;

            from = acked > e->unprotected_upto ? acked : e->unprotected_upto;
            if (h->snap > from) {
                e->unprotected += h->snap - from;
                e->unprotected_new += h->snap - from;
                e->unprotected_upto = h->snap;
            }
        }
    }

    if (e->unprotected_new == 0) {
        return;
    }

    /* at most one line a second: a long outage hits this on every step */
    now = bt_wall_ms();
    if (now - e->unprotected_log_ms >= 1000) {
        engine_log(ENGINE_LOG_WARN, "ring above %u%% full while Redis is "
                   "behind: gave back the ring space of traces with %llu "
                   "signals not yet in Redis since the last report (%llu "
                   "in all, signals_unprotected); a SIGKILL before Redis "
                   "has them loses them", e->conf.ring_high_pct,
                   (unsigned long long) e->unprotected_new,
                   (unsigned long long) e->unprotected);
        e->unprotected_new = 0;
        e->unprotected_log_ms = now;
    }
}

/* Writes the whole output buffer; lines are never split across calls. */
static void
out_write(engine_t *e)
{
    size_t   off;
    ssize_t  n;

    for (off = 0; off < e->out.len; ) {
        n = write(e->out_fd, e->out.p + off, e->out.len - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            e->out_errors++;
            engine_log(ENGINE_LOG_ERROR, "write(\"%s\") failed: %s",
                       e->conf.traces_out, strerror(errno));
            break;
        }
        off += (size_t) n;
    }
    e->out.len = 0;
}

void
engine_flush(engine_t *e)
{
    uint64_t  acked;

    if (e->out_fd >= 0 && e->out.len) {
        out_write(e);
    }

    hold_push(e);

    if (e->hold_n) {
        acked = bt_sig_acked(e->sig);
        hold_apply(e, acked);
        hold_pressure(e, acked);
    }
}

static void
publish(engine_t *e)
{
    bt_asm_stats_t  st;

    bt_asm_stats(e->asm_, &st);

    stat_store(&e->es->spans_consumed, st.spans);
    stat_store(&e->es->records_consumed, st.records);
    stat_store(&e->es->records_corrupt, e->records_corrupt);
    stat_store(&e->es->traces_in_flight, st.traces_in_flight);
    stat_store(&e->es->spans_in_flight, st.spans_in_flight);
    stat_store(&e->es->traces_completed, st.completed);
    stat_store(&e->es->traces_forced, st.forced);
    stat_store(&e->es->traces_reopened, st.reopened);
    stat_store(&e->es->signals_unprotected, e->unprotected);
}

static void
heartbeat(engine_t *e, uint64_t now)
{
    /* a handful of relaxed stores: cheap enough for every step, and
       nginx's stats page then never lags behind the output */
    publish(e);

    if (now - e->last_beat_ms >= HEARTBEAT_EVERY_MS) {
        e->last_beat_ms = now;
        stat_store(&e->es->heartbeat_ms, now);
    }
}

/*
 * Reads up to the budget of slot's records into the assembler.  The budget
 * (records, and 1/16 of the slot in bytes) is small on purpose: nothing is
 * released until the step ends, so a step that read a whole ring would
 * leave it looking full to the producer and to relieve_pressure().
 */
static uint64_t
read_slot(engine_t *e, int slot, uint64_t now_ms)
{
    const uint8_t  *payload;
    uint32_t        len;
    uint64_t        n, start;
    int             rc;

    start = e->pos[slot];

    for (n = 0;
         n < e->conf.read_budget && e->pos[slot] - start < e->byte_budget;
         n++)
    {
        rc = bt_ring_read(e->shm, slot, &e->pos[slot], &payload, &len);
        if (rc == 0) {
            break;
        }

        if (rc < 0) {
            /* the cursor jumped to head; the gap is released like an
               empty record once everything before it is */
            e->records_corrupt++;
            engine_log(ENGINE_LOG_WARN, "slot %d: record failed its seq/crc "
                       "check, skipping to head (%llu corrupt so far)",
                       slot, (unsigned long long) e->records_corrupt);
            payload = NULL;
            len = 0;

        } else if (bt_batch_check(payload, len) < 0) {
            e->records_corrupt++;
            engine_log(ENGINE_LOG_WARN, "slot %d: record of %u bytes is not "
                       "a valid span batch, skipped (%llu corrupt so far)",
                       slot, len, (unsigned long long) e->records_corrupt);
            payload = NULL;
            len = 0;
        }

        if (bt_asm_add(e->asm_, slot, payload, len, e->pos[slot], now_ms)
            != 0)
        {
            engine_log(ENGINE_LOG_ERROR, "slot %d: out of memory assembling "
                       "a record; some of its spans are lost", slot);
        }
    }

    return n;
}

/*
 * A slot whose ring is more than ring_high_pct full because the engine
 * holds a good part of it (at least a quarter of the slot, read but not
 * released): complete the oldest traces until the space comes back.
 * Producers would otherwise start answering 429.  When the ring is full of
 * records not read yet, the engine is lagging instead; forcing out the
 * few young traces it holds would split them for little space, so it
 * doesn't.
 */
static void
relieve_pressure(engine_t *e, uint64_t now)
{
    uint32_t  i;
    uint64_t  used, held, head, tail, forced;

    for (i = 0; i < e->geo.nslots; i++) {
        forced = 0;

        head = bt_ring_head(e->shm, (int) i);

        for ( ;; ) {
            /* the tail as it will be once pending releases are applied
               (engine_step flushes right after this) */
            tail = bt_ring_tail(e->shm, (int) i);
            if (e->pending[i] > tail) {
                tail = e->pending[i];
            }
            /* held releases too: engine_flush applies them when the
               slot is this full, rather than forcing open traces */
            if (hold_max(e, i) > tail) {
                tail = hold_max(e, i);
            }
            used = head - tail;
            held = e->pos[i] - tail;
            if (used <= e->high_bytes || held <= e->geo.slot_bytes / 4) {
                break;
            }
            if (bt_asm_force_oldest(e->asm_, 1) == 0) {
                break;
            }
            forced++;
        }

        e->pressure_forced += forced;
    }

    /* at most one line a second: under sustained pressure this runs on
       every step */
    if (e->pressure_forced && now - e->pressure_logged_ms >= 1000) {
        engine_log(ENGINE_LOG_WARN, "ring above %u%% full: completed %llu "
                   "oldest traces early (forced) since the last report; "
                   "the ring holds less than --idle-ms of traffic",
                   e->conf.ring_high_pct,
                   (unsigned long long) e->pressure_forced);
        e->pressure_forced = 0;
        e->pressure_logged_ms = now;
    }
}

uint64_t
engine_step(engine_t *e, uint64_t now_ms)
{
    uint64_t  n, wall;
    uint32_t  i;

    n = 0;
    for (i = 0; i < e->geo.nslots; i++) {
        n += read_slot(e, (int) i, now_ms);
    }

    /* one wall clock read a step, for the log rate limit and heartbeat */
    wall = bt_wall_ms();

    bt_asm_expire(e->asm_, now_ms);
    relieve_pressure(e, wall);
    engine_flush(e);
    heartbeat(e, wall);

    return n;
}

void
engine_wait(engine_t *e, uint64_t now_ms, int max_ms)
{
    uint64_t  d;
    int       timeout;

    d = bt_asm_next_deadline(e->asm_);
    if (d <= now_ms) {
        return;
    }

    timeout = max_ms;
    if (d - now_ms < (uint64_t) timeout) {
        timeout = (int) (d - now_ms);
    }

    /* counters are fresh when nothing is moving */
    publish(e);
    bt_shm_wait(e->shm, timeout);
}

void
engine_conf_default(engine_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->ring = BT_SHM_DEFAULT_PATH;
    conf->geo.nslots = BT_SHM_DEFAULT_SLOTS;
    conf->geo.slot_bytes = BT_SHM_DEFAULT_SLOT_BYTES;
    conf->idle_ms = 2000;
    conf->max_age_ms = 30000;
    conf->max_spans = 2000000;
    conf->ring_high_pct = 75;
    conf->read_budget = 64;
}

/*
 * Opens the segment.  Without explicit geometry, an existing segment is
 * taken as it is (nginx may have created it with its own), and a missing
 * one is created with the defaults; if nginx creates it in between, the
 * second attempt accepts its geometry.
 */
static bt_shm_t *
open_segment(const engine_conf_t *conf, char *err, size_t errlen)
{
    struct stat  st;
    bt_shm_t    *shm;

    if (conf->geo_given) {
        return bt_shm_open(conf->ring, &conf->geo, err, errlen);
    }

    if (stat(conf->ring, &st) == 0) {
        return bt_shm_open(conf->ring, NULL, err, errlen);
    }

    shm = bt_shm_open(conf->ring, &conf->geo, err, errlen);
    if (shm == NULL && stat(conf->ring, &st) == 0) {
        shm = bt_shm_open(conf->ring, NULL, err, errlen);
    }
    return shm;
}

/* "64 MiB", "1.5 MiB", "300 bytes": exact units when they divide. */
static void
fmt_bytes(char *buf, size_t n, uint64_t bytes)
{
    static const char  *units[] = { "KiB", "MiB", "GiB" };
    int                 u;
    uint64_t            unit;

    if (bytes < 1024) {
        snprintf(buf, n, "%llu bytes", (unsigned long long) bytes);
        return;
    }

    for (u = 2; u > 0 && bytes < (1ULL << (10 * (u + 1))); u--) {
        /* void */
    }
    unit = 1ULL << (10 * (u + 1));

    if (bytes % unit == 0) {
        snprintf(buf, n, "%llu %s", (unsigned long long) (bytes / unit),
                 units[u]);
    } else {
        snprintf(buf, n, "%.1f %s", (double) bytes / (double) unit, units[u]);
    }
}

engine_t *
engine_open(const engine_conf_t *conf, char *err, size_t errlen)
{
    engine_t       *e;
    bt_asm_conf_t   ac;
    uint64_t        pid, beat, now, backlog, tail, head;
    uint32_t        i, resumed;
    char            size[32], back[32];

    e = calloc(1, sizeof(engine_t));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    e->conf = *conf;
    e->out_fd = -1;
    if (e->conf.ring_high_pct == 0 || e->conf.ring_high_pct > 100) {
        e->conf.ring_high_pct = 75;
    }
    if (e->conf.read_budget == 0) {
        e->conf.read_budget = 64;
    }

    e->shm = open_segment(conf, err, errlen);
    if (e->shm == NULL) {
        free(e);
        return NULL;
    }
    bt_shm_geometry(e->shm, &e->geo);
    e->es = bt_shm_engine_stats(e->shm);
    e->high_bytes = e->geo.slot_bytes / 100 * e->conf.ring_high_pct;
    e->byte_budget = e->geo.slot_bytes / 16;

    /* two consumers on one SPSC ring would corrupt it: refuse */
    pid = __atomic_load_n(&e->es->pid, __ATOMIC_ACQUIRE);
    beat = __atomic_load_n(&e->es->heartbeat_ms, __ATOMIC_RELAXED);
    now = bt_wall_ms();
    if (pid != 0 && pid != (uint64_t) getpid()
        && (kill((pid_t) pid, 0) == 0 || errno == EPERM)
        && now - beat < ENGINE_ALIVE_MS)
    {
        snprintf(err, errlen, "%s: another engine (pid %llu) is running on "
                 "this segment", conf->ring, (unsigned long long) pid);
        bt_shm_close(e->shm);
        free(e);
        return NULL;
    }

    if (conf->traces_out) {
        e->out_fd = open(conf->traces_out,
                         O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (e->out_fd < 0) {
            snprintf(err, errlen, "open(\"%s\") failed: %s", conf->traces_out,
                     strerror(errno));
            bt_shm_close(e->shm);
            free(e);
            return NULL;
        }
    }

    e->pos = calloc(e->geo.nslots, sizeof(uint64_t));
    e->pending = calloc(e->geo.nslots, sizeof(uint64_t));
    e->hold_pos = calloc((size_t) HOLD_MAX * e->geo.nslots, sizeof(uint64_t));
    for (i = 0; e->hold_pos && i < HOLD_MAX; i++) {
        e->hold[i].pos = e->hold_pos + (size_t) i * e->geo.nslots;
    }

    memset(&ac, 0, sizeof(ac));
    ac.nslots = e->geo.nslots;
    ac.idle_ms = conf->idle_ms;
    ac.max_age_ms = conf->max_age_ms;
    ac.max_spans = conf->max_spans;
    ac.on_trace = engine_on_trace;
    ac.on_release = engine_on_release;
    ac.arg = e;

    e->asm_ = (e->pos && e->pending && e->hold_pos) ? bt_asm_create(&ac)
                                                    : NULL;
    if (e->asm_ == NULL) {
        snprintf(err, errlen, "out of memory");
        engine_close(e, NULL, NULL);
        return NULL;
    }

    resumed = 0;
    backlog = 0;
    for (i = 0; i < e->geo.nslots; i++) {
        tail = bt_ring_tail(e->shm, (int) i);
        head = bt_ring_head(e->shm, (int) i);
        e->pos[i] = tail;
        if (head != tail) {
            resumed++;
            backlog += head - tail;
        }
    }

    stat_store(&e->es->heartbeat_ms, now);
    e->last_beat_ms = now;

    /*
     * Register by CAS from the pid seen in the check above, so of two
     * engines starting at once only one gets the segment.  The release
     * pairs with the acquire load of pid by readers (nginx, the tests): a
     * reader that sees our pid sees a fresh heartbeat with it.
     */
    if (!__atomic_compare_exchange_n(&e->es->pid, &pid, (uint64_t) getpid(),
                                     0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
    {
        snprintf(err, errlen, "%s: another engine (pid %llu) started on "
                 "this segment at the same time", conf->ring,
                 (unsigned long long) pid);
        /* not ours: leave its stats alone */
        bt_asm_destroy(e->asm_);
        e->asm_ = NULL;
        e->es = NULL;
        engine_close(e, NULL, NULL);
        return NULL;
    }

    stat_store(&e->es->started_ms, now);
    publish(e);

    if (conf->redis) {
        bt_sig_conf_t  sc;

        memset(&sc, 0, sizeof(sc));
        sc.redis = conf->redis;
        sc.prefix = conf->redis_prefix;
        sc.queue = conf->signal_queue;
        sc.retention_signals = conf->retention_signals;
        sc.retention_age_s = conf->retention_age_s;

        e->sig = bt_sig_open(&sc, e->es, err, errlen);
        if (e->sig == NULL) {
            engine_close(e, NULL, NULL);
            return NULL;
        }
    }

    fmt_bytes(size, sizeof(size), e->geo.slot_bytes);
    fmt_bytes(back, sizeof(back), backlog);
    engine_log(ENGINE_LOG_INFO, "ring %s: %u slots x %s, resuming %u slots "
               "(%s not yet released)", conf->ring, e->geo.nslots, size,
               resumed, back);

    return e;
}

void
engine_close(engine_t *e, uint64_t *traces, uint64_t *spans)
{
    bt_asm_stats_t  st;
    uint64_t        acked;

    memset(&st, 0, sizeof(st));

    if (e->asm_) {
        engine_flush(e);
        publish(e);
        bt_asm_stats(e->asm_, &st);
        bt_asm_destroy(e->asm_);
    }

    /* after the assembler: no trace can complete any more; the queue gets
       two seconds to reach Redis, and only the releases whose signals got
       there are applied: the others' traces are read again next start */
    acked = bt_sig_close(e->sig, 2000);
    if (e->shm) {
        hold_apply(e, acked);
    }

    if (traces) {
        *traces = st.traces_in_flight;
    }
    if (spans) {
        *spans = st.spans_in_flight;
    }

    if (e->es && __atomic_load_n(&e->es->pid, __ATOMIC_RELAXED)
                 == (uint64_t) getpid())
    {
        __atomic_store_n(&e->es->pid, 0, __ATOMIC_RELEASE);
    }

    if (e->out_fd >= 0) {
        close(e->out_fd);
    }
    bt_jbuf_free(&e->out);
    if (e->shm) {
        bt_shm_close(e->shm);
    }
    free(e->pos);
    free(e->pending);
    free(e->hold_pos);
    free(e);
}

void
engine_stats(const engine_t *e, bt_asm_stats_t *st, uint64_t *records_corrupt)
{
    bt_asm_stats(e->asm_, st);
    if (records_corrupt) {
        *records_corrupt = e->records_corrupt;
    }
}
