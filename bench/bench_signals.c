/*
 * bench_signals.c - the engine with rules loaded: evaluated spans per
 * second, and the time from a trace's completion to its signal being
 * stored in Redis.  bench/signals.sh runs it against a real betrace-engine
 * and redis-server (100 rules written into Redis first).
 *
 * This program is the producer, as an nginx worker would be: it claims a
 * slot of the engine's segment and commits span batches into it (W3-like
 * traces, 10 spans each, 50 traces per record), either as fast as the ring
 * takes them (--rate 0: the engine is the bottleneck) or paced at --rate
 * spans per second.  One trace in --match-every has a slow database query
 * inside its payment flow, which the rule set turns into signals.
 *
 * After --warmup seconds it measures for --seconds: the spans the engine
 * consumed (engine stats, so the figure is the engine's rate, not ours),
 * the engine's CPU time (/proc/<pid>/stat), traces evaluated and signals
 * written.  Then it stops producing, waits for the queue to drain and
 * reads the latency percentiles the engine publishes.  One JSON object
 * on stdout.
 *
 * usage: bench_signals --ring PATH [--rate SPANS_PER_S] [--seconds S]
 *                      [--warmup S] [--match-every N]
 */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/bt_ring.h"
#include "t/lib/span_build.h"

#define SPANS_PER_TRACE     10
#define TRACES_PER_RECORD   50

static const sb_attr_t  attrs[] = {
    SB_STR("http.method", "POST"), SB_STR("http.route", "/api/v1/checkout"),
    SB_INT("http.status_code", 200), SB_STR("tenant", "acme"),
    SB_BOOL("cache.hit", 0), SB_STR("region", "eu-west-1"),
    SB_DBL("load", 0.42), SB_STR("user.tier", "gold"),
    SB_STR("peer.service", "payments"), SB_INT("retry", 0), SB_END
};

static double
mono_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* utime + stime of pid in seconds, or -1. */
static double
cpu_s(pid_t pid)
{
    char                 path[64], buf[1024], *p;
    FILE                *f;
    unsigned long long   ut, st;
    size_t               n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                            "%*u %llu %llu", &ut, &st) != 2)
    {
        return -1;
    }
    return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

/*
 * A prebuilt record and where each span's trace id sits in it: building
 * records with span_build for every batch would make this program, not
 * the engine, the bottleneck, so a pool is built once and every copy put
 * into the ring gets fresh trace ids (stamp()).
 */
typedef struct {
    sb_batch_t  b;
    uint32_t    off[TRACES_PER_RECORD][SPANS_PER_TRACE];
} rec_t;

#define POOL    64

/* Gives each trace of the copy at p a new id (a counter). */
static void
stamp(void *p, const rec_t *rec, uint64_t *seq)
{
    uint8_t   id[16];
    unsigned  t, i;
    uint32_t  pid;

    /* unique across runs too: signal ids derive from trace ids */
    pid = (uint32_t) getpid();
    memset(id, 0, 8);
    id[0] = 0xbe;
    memcpy(id + 1, &pid, 4);
    for (t = 0; t < TRACES_PER_RECORD; t++) {
        (*seq)++;
        memcpy(id + 8, seq, 8);
        for (i = 0; i < SPANS_PER_TRACE; i++) {
            memcpy((uint8_t *) p + rec->off[t][i], id, 16);
        }
    }
}

/* Finds the trace ids of build()'s record in it. */
static void
locate(rec_t *rec, const char (*traces)[33])
{
    uint8_t         id[16];
    const uint8_t  *q, *from, *end;
    unsigned        t, i;

    for (t = 0; t < TRACES_PER_RECORD; t++) {
        sb_hex_id(traces[t], id, 16);
        from = rec->b.buf;
        end = rec->b.buf + rec->b.len;
        for (i = 0; i < SPANS_PER_TRACE; i++) {
            q = memmem(from, (size_t) (end - from), id, 16);
            if (q == NULL) {
                fprintf(stderr, "bench_signals: trace id not found\n");
                exit(1);
            }
            rec->off[t][i] = (uint32_t) (q - rec->b.buf);
            from = q + 16;
        }
    }
}

/* One record of TRACES_PER_RECORD traces into b; their ids into traces. */
static void
build(sb_batch_t *b, uint64_t *seq, unsigned match_every, double now_ms,
    char (*traces)[33])
{
    static const char *const  names[SPANS_PER_TRACE] = {
        "POST /api/v1/checkout", "auth.login", "cache.get",
        "payment.process", "db.query.charges", "inventory.reserve",
        "db.query.stock", "notification.send", "audit.log", "cache.set"
    };
    static const int          parents[SPANS_PER_TRACE] = {
        -1, 0, 0, 0, 3, 0, 5, 0, 0, 0
    };
    char      trace[33], ids[SPANS_PER_TRACE][17];
    unsigned  t, i;
    int       match;
    double    dur;

    sb_init(b);
    for (t = 0; t < TRACES_PER_RECORD; t++) {
        (*seq)++;
        snprintf(trace, sizeof(trace), "b%015llx%016llx",
                 (unsigned long long) getpid(), (unsigned long long) *seq);
        memcpy(traces[t], trace, 33);
        match = match_every && *seq % match_every == 0;

        for (i = 0; i < SPANS_PER_TRACE; i++) {
            snprintf(ids[i], sizeof(ids[i]), "%08llx%08x",
                     (unsigned long long) (*seq & 0xffffffff), i + 1);
            dur = (i == 4 && match) ? 1500 : 3;
            sb_add(b, &(sb_span_t) {
                .trace = trace, .id = ids[i],
                .parent = parents[i] >= 0 ? ids[parents[i]] : NULL,
                .name = names[i], .kind = i == 0 ? 2 : 1, .status = 1,
                .service = i == 0 ? "frontend" : "payments",
                .scope = "bench", .start_ms = now_ms + i, .dur_ms = dur,
                .attrs = attrs });
        }
    }
}

int
main(int argc, char **argv)
{
    const char          *ring = NULL;
    double               rate = 0, secs = 5, warmup = 1, t0, t1, tw, now;
    double               cpu0, cpu1, sent_due;
    unsigned             match_every = 20;
    bt_shm_t            *shm;
    bt_engine_stats_t   *es;
    rec_t               *pool, *rec;
    char                 traces[TRACES_PER_RECORD][33];
    uint64_t             nrec = 0;
    uint64_t             seq = 0, sent = 0, full = 0;
    uint64_t             c0 = 0, c1, e0 = 0, e1, w0 = 0, w1, pid;
    char                 err[256];
    int                  slot, i, measuring;
    void                *p;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--ring") == 0) {
            ring = argv[i + 1];
        } else if (strcmp(argv[i], "--rate") == 0) {
            rate = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            secs = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--warmup") == 0) {
            warmup = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--match-every") == 0) {
            match_every = (unsigned) atoi(argv[i + 1]);
        } else {
            break;
        }
    }
    if (ring == NULL || i < argc) {
        fprintf(stderr, "usage: bench_signals --ring PATH [--rate SPANS/S] "
                "[--seconds S] [--warmup S] [--match-every N]\n");
        return 2;
    }

    shm = bt_shm_open(ring, NULL, err, sizeof(err));
    if (shm == NULL) {
        fprintf(stderr, "bench_signals: %s\n", err);
        return 1;
    }
    es = bt_shm_engine_stats(shm);
    pid = __atomic_load_n(&es->pid, __ATOMIC_ACQUIRE);
    if (pid == 0) {
        fprintf(stderr, "bench_signals: no engine on %s\n", ring);
        return 1;
    }
    slot = bt_shm_claim(shm, getpid());
    if (slot < 0) {
        fprintf(stderr, "bench_signals: no free slot\n");
        return 1;
    }

    pool = calloc(POOL, sizeof(rec_t));
    if (pool == NULL) {
        return 1;
    }
    for (i = 0; i < POOL; i++) {
        build(&pool[i].b, &seq, match_every,
              (double) time(NULL) * 1000 - SB_EPOCH_MS,
              traces);
        locate(&pool[i], traces);
    }

    t0 = mono_s();
    tw = t0 + warmup;
    t1 = tw + secs;
    measuring = 0;
    cpu0 = 0;

    for ( ;; ) {
        now = mono_s();
        if (!measuring && now >= tw) {
            c0 = __atomic_load_n(&es->spans_consumed, __ATOMIC_RELAXED);
            e0 = __atomic_load_n(&es->evaluations, __ATOMIC_RELAXED);
            w0 = __atomic_load_n(&es->signals_written, __ATOMIC_RELAXED);
            cpu0 = cpu_s((pid_t) pid);
            tw = now;
            measuring = 1;
        }
        if (now >= t1) {
            break;
        }

        if (rate > 0) {
            sent_due = (now - t0) * rate;
            if ((double) sent >= sent_due) {
                usleep(200);
                continue;
            }
        }

        rec = &pool[nrec++ % POOL];
        p = bt_ring_reserve(shm, slot, (uint32_t) rec->b.len);
        if (p == NULL) {
            nrec--;
            full++;
            sched_yield();
            continue;
        }
        memcpy(p, rec->b.buf, rec->b.len);
        stamp(p, rec, &seq);
        bt_ring_commit(shm, slot, p, (uint32_t) rec->b.len);
        sent += (uint64_t) TRACES_PER_RECORD * SPANS_PER_TRACE;
    }

    c1 = __atomic_load_n(&es->spans_consumed, __ATOMIC_RELAXED);
    e1 = __atomic_load_n(&es->evaluations, __ATOMIC_RELAXED);
    w1 = __atomic_load_n(&es->signals_written, __ATOMIC_RELAXED);
    cpu1 = cpu_s((pid_t) pid);
    now = mono_s();

    /* let the last traces complete and their signals reach Redis */
    for (i = 0; i < 100; i++) {
        usleep(100000);
        if (__atomic_load_n(&es->traces_in_flight, __ATOMIC_RELAXED) == 0
            && __atomic_load_n(&es->signals_pending, __ATOMIC_RELAXED) == 0)
        {
            break;
        }
    }
    /* the engine publishes the percentiles every second */
    usleep(1500000);

    printf("{\"rate_target\": %.0f, \"seconds\": %.2f, "
           "\"spans_consumed_per_s\": %.0f, "
           "\"spans_per_engine_cpu_s\": %.0f, \"engine_cpu\": %.2f, "
           "\"traces_evaluated_per_s\": %.0f, \"signals_written_per_s\": "
           "%.0f, \"ring_full_waits\": %llu, \"rules_loaded\": %llu, "
           "\"signals_written\": %llu, \"signals_dropped\": %llu, "
           "\"latency_p50_us\": %llu, \"latency_p99_us\": %llu}\n",
           rate, now - tw, (double) (c1 - c0) / (now - tw),
           cpu1 > cpu0 ? (double) (c1 - c0) / (cpu1 - cpu0) : 0.0,
           (cpu1 - cpu0) / (now - tw),
           (double) (e1 - e0) / (now - tw), (double) (w1 - w0) / (now - tw),
           (unsigned long long) full,
           (unsigned long long) es->rules_loaded,
           (unsigned long long) es->signals_written,
           (unsigned long long) es->signals_dropped,
           (unsigned long long) es->signal_latency_p50_us,
           (unsigned long long) es->signal_latency_p99_us);

    bt_shm_release(shm, slot, getpid());
    bt_shm_close(shm);
    return 0;
}
