/*
 * signals.h - rules to signals inside the engine (issue 4).
 *
 * Two threads share this state:
 *
 *   the evaluation loop (engine_step's thread): on each completed trace it
 *   reads the current rule set under rcu_read_lock, evaluates it and pushes
 *   one item per firing into a bounded single-producer / single-consumer
 *   queue.  It never takes a lock and never waits on the network: a full
 *   queue drops the firing and counts it (signals_dropped).
 *
 *   the Redis I/O thread (redis_io.c): owns the one hiredis connection,
 *   reloads rules when P rules:version changes (rules.c, published with
 *   rcu_assign_pointer), writes queued signals with one Lua script each,
 *   refreshes the P engine heartbeat and applies retention (retention.c).
 *
 * The Redis keys are those of docs/internals.md "Redis: keys and values".
 */

#ifndef BT_SIGNALS_H
#define BT_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

#include "../dsl/bt_trace.h"
#include "../shm/bt_ring.h"
#include "assemble.h"

#define BT_SIG_DEFAULT_PREFIX       "betrace:"
#define BT_SIG_DEFAULT_QUEUE        10000
#define BT_SIG_DEFAULT_RETENTION_N  100000
#define BT_SIG_DEFAULT_RETENTION_S  (7 * 24 * 3600)

typedef struct bt_sig_s  bt_sig_t;

typedef struct {
    const char     *redis;              /* host:port or unix:/path */
    const char     *prefix;             /* NULL: "betrace:" */
    uint32_t        queue;              /* signals waiting at most; 0: 10000 */
    uint64_t        retention_signals;  /* 0: 100000 */
    uint64_t        retention_age_s;    /* 0: 7 days */
} bt_sig_conf_t;

/*
 * Starts the I/O thread and registers the calling thread as the RCU reader
 * that will call bt_sig_on_trace (it must be the only caller).  es is the
 * segment's engine stats area, where the counters are published.  Returns
 * NULL with a message in err when out of memory or the thread can't start;
 * Redis being unreachable is not an error (the thread keeps retrying).
 */
bt_sig_t *bt_sig_open(const bt_sig_conf_t *conf, bt_engine_stats_t *es,
    char *err, size_t errlen);

/*
 * Evaluates the current rule set on a completed trace and queues a signal
 * per firing, with the trace as a --traces-out JSON line.  Never blocks.
 * This function can't fail: a firing that can't be queued is counted in
 * signals_dropped and logged.
 */
void bt_sig_on_trace(bt_sig_t *s, const bt_trace_t *view,
    const bt_done_t *done);

/*
 * Queue positions, free-running counts of signals since bt_sig_open, for
 * the engine's ring-release hold (engine.c): bt_sig_queued is how many
 * were queued (call it from the evaluation thread only), bt_sig_acked how
 * many left the queue because Redis answered their script (stored, already
 * there, or refused for good).  A signal queued as number n (1-based) is
 * safe in Redis once bt_sig_acked() >= n.  Both return 0 for NULL.
 */
uint64_t bt_sig_queued(bt_sig_t *s);
uint64_t bt_sig_acked(bt_sig_t *s);

/*
 * Stops: lets the I/O thread write what is queued for up to drain_ms when
 * Redis is connected, then joins it, unregisters the RCU reader and frees
 * everything.  Signals still queued are counted as dropped and logged.
 * Returns bt_sig_acked() as it was after the drain, before the drop, so
 * the caller can release only the ring space whose signals Redis has.
 * NULL is ignored (returns 0).
 */
uint64_t bt_sig_close(bt_sig_t *s, int drain_ms);

#endif /* BT_SIGNALS_H */
