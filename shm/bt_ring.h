/*
 * bt_ring.h - the named shared-memory segment between nginx workers
 * (producers) and betrace-engine (the one consumer).
 *
 * The segment is a file (under /dev/shm by default, any path works) holding
 * a versioned header, a stats area, and nslots single-producer /
 * single-consumer byte rings.  A producer process claims one slot by CAS on
 * its owner-pid field; the engine reads every slot.  Offsets only, never
 * pointers, so each process may map it anywhere.
 *
 * Who may call what concurrently:
 *
 *   function                 caller            concurrent with
 *   bt_shm_open/close        anyone            anything
 *   bt_shm_claim/release     producer process  other producers, consumer
 *   bt_ring_reserve/commit   slot owner only   the consumer of that slot
 *   bt_ring_read/release     the engine only   the producer of that slot
 *   bt_shm_wait              the engine only   producers (they wake it)
 *
 * Record positions are free-running u64 byte counters; a ring's used bytes
 * are head - tail.  The engine reads records ahead of tail with its own
 * cursor (bt_ring_read) and only gives space back with bt_ring_release once
 * the spans in them are no longer needed, so a restarted engine re-reads
 * everything that was acknowledged but not yet fully processed.
 */

#ifndef BT_RING_H
#define BT_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* layout version of the segment (shm/bt_ring_layout.h); bumped on change */
#define BT_SHM_VERSION          1

#define BT_SHM_DEFAULT_PATH     "/dev/shm/betrace"
#define BT_SHM_DEFAULT_SLOTS    8
#define BT_SHM_DEFAULT_SLOT_BYTES  (64u << 20)

typedef struct bt_shm_s  bt_shm_t;

typedef struct {
    uint32_t    nslots;         /* 1..256 */
    uint64_t    slot_bytes;     /* power of two, >= 64 KiB */
} bt_shm_geometry_t;

/*
 * Counters written by producers, one block per slot (single writer each, so
 * plain relaxed atomics; readers sum the slots).
 */
typedef struct {
    uint64_t    requests;           /* OTLP requests answered */
    uint64_t    requests_rejected;  /* answered with a non-2xx status */
    uint64_t    spans_accepted;     /* spans written to the ring */
    uint64_t    spans_rejected;     /* spans refused (partial success) */
    uint64_t    bytes_received;     /* request bodies, after decompression */
    uint64_t    ring_full;          /* requests refused for lack of space */
    uint64_t    reserved[10];
} bt_producer_stats_t;

/* Counters written by the engine only. */
typedef struct {
    uint64_t    pid;
    uint64_t    heartbeat_ms;       /* wall clock, updated at least 1/s */
    uint64_t    started_ms;
    uint64_t    spans_consumed;
    uint64_t    records_consumed;
    uint64_t    records_corrupt;    /* records skipped: bad seq/crc/format */
    uint64_t    traces_in_flight;
    uint64_t    spans_in_flight;
    uint64_t    traces_completed;
    uint64_t    traces_forced;      /* completed early by the memory cap */
    uint64_t    traces_reopened;    /* late spans of a completed trace */
    /* rules and signals (issue 4); the engine's I/O thread writes the
       rules_*, signals_written/pending, redis_* and latency fields, its
       evaluation loop the others: one writer per field */
    uint64_t    rules_loaded;       /* enabled rules in the current set */
    uint64_t    rules_failed;       /* enabled rules that did not compile */
    uint64_t    rules_version;      /* P rules:version of the current set */
    uint64_t    evaluations;        /* completed traces evaluated */
    uint64_t    rule_evaluations;   /* sum of rules per evaluated trace */
    uint64_t    signals_emitted;    /* firings queued for Redis */
    uint64_t    signals_written;    /* signals created in Redis */
    uint64_t    signals_dropped;    /* firings lost: queue full */
    uint64_t    signals_pending;    /* in the queue now */
    uint64_t    redis_errors;       /* failed connects and commands */
    uint64_t    redis_connected;    /* 1 while connected */
    uint64_t    signal_latency_p50_us;  /* completion -> stored */
    uint64_t    signal_latency_p99_us;
    uint64_t    signals_unprotected;    /* queued signals whose trace's
                                           ring space was given back before
                                           Redis had them (ring pressure):
                                           a SIGKILL would lose them */
    uint64_t    reserved[23];       /* room for more counters */
} bt_engine_stats_t;


/*
 * Opens the segment at path, creating and initialising it with geo if it
 * does not exist (creation is atomic: a half-initialised segment is never
 * visible).  If it exists, its header must match BT_SHM_VERSION and geo
 * (pass geo = NULL to accept the existing geometry).  On error returns NULL
 * and writes a message naming the path and the mismatch into err.
 */
bt_shm_t *bt_shm_open(const char *path, const bt_shm_geometry_t *geo,
    char *err, size_t errlen);
void bt_shm_close(bt_shm_t *shm);
void bt_shm_geometry(const bt_shm_t *shm, bt_shm_geometry_t *geo);

/*
 * Producer: claims a free slot for pid, reclaiming slots whose owner pid is
 * dead.  Returns the slot index, or -1 when every slot is owned by a live
 * process.  bt_shm_release gives the slot back (only if pid still owns it).
 */
int bt_shm_claim(bt_shm_t *shm, pid_t pid);
void bt_shm_release(bt_shm_t *shm, int slot, pid_t pid);

/*
 * Producer: returns a pointer where len payload bytes can be written, or
 * NULL if the ring has no room (the caller answers 429/503).  Nothing is
 * visible to the consumer until bt_ring_commit; a producer that dies in
 * between leaves no record.  len must be <= bt_ring_max_record().
 */
void *bt_ring_reserve(bt_shm_t *shm, int slot, uint32_t len);
void bt_ring_commit(bt_shm_t *shm, int slot, void *payload, uint32_t len);
uint32_t bt_ring_max_record(const bt_shm_t *shm);

/*
 * Consumer: reads the record at *pos (tail <= *pos <= head).  Returns 1 and
 * sets *payload, *len and advances *pos past the record; 0 when *pos is at
 * head; -1 when the record at *pos fails its seq/crc check, in which case
 * *pos is moved to head (the rest of the ring is untrusted) and the caller
 * counts it.
 */
int bt_ring_read(bt_shm_t *shm, int slot, uint64_t *pos,
    const uint8_t **payload, uint32_t *len);
uint64_t bt_ring_tail(bt_shm_t *shm, int slot);
uint64_t bt_ring_head(bt_shm_t *shm, int slot);
/* Gives back the space before new_tail (tail <= new_tail <= head). */
void bt_ring_release(bt_shm_t *shm, int slot, uint64_t new_tail);

/* Used and total bytes over all slots. */
void bt_shm_usage(bt_shm_t *shm, uint64_t *used, uint64_t *total);

/*
 * Consumer: sleeps until a producer commits or timeout_ms passes (futex on
 * a word in the segment; producers only make the wake syscall when the
 * consumer announced that it sleeps).  Returns at once if data is pending.
 * "Pending" means a slot's head differs from where this process's last
 * bt_ring_read on that slot left *pos (from its tail at bt_shm_open if it
 * has not read that slot yet), so records held behind tail on purpose do
 * not keep the engine awake.
 */
void bt_shm_wait(bt_shm_t *shm, int timeout_ms);

/* Stats areas inside the segment. */
bt_producer_stats_t *bt_shm_producer_stats(bt_shm_t *shm, int slot);
bt_engine_stats_t *bt_shm_engine_stats(bt_shm_t *shm);
/* Sum of every slot's producer counters. */
void bt_shm_producer_totals(bt_shm_t *shm, bt_producer_stats_t *sum);

#endif /* BT_RING_H */
