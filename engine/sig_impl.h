/*
 * sig_impl.h - what signals.c, rules.c, redis_io.c and retention.c share
 * (engine-private; the rest of the engine sees only signals.h).
 */

#ifndef BT_SIG_IMPL_H
#define BT_SIG_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <urcu.h>

#include "../dsl/bt_dsl.h"
#include "clock.h"
#include "signals.h"

/* One rule of a loaded set: what a signal needs besides the firing. */
typedef struct {
    char           *id;
    char           *name;
    char           *severity;
    int64_t         version;
    int             monotone;   /* bt_rule_monotone(): safe on a fragment */
} bt_srule_t;

/* A compiled rule set as published to the evaluation loop. */
typedef struct {
    struct rcu_head  rcu;
    bt_ruleset_t    *set;
    bt_srule_t      *rules;         /* index = bt_ruleset_add's index */
    uint32_t         n;
} bt_rules_t;

/* A trace's JSON line, shared by the signals of one evaluation. */
typedef struct {
    int             refs;           /* atomic */
    size_t          len;
    char            data[];
} bt_blob_t;

/* One signal on its way to Redis. */
typedef struct {
    char            sid[17];
    char            trace_id[33];
    char           *rule_id;        /* the strings are the item's own */
    char           *severity;
    char           *json;           /* the signal */
    bt_blob_t      *trace;          /* the trace line, or NULL */
    uint64_t        detected_ms;    /* wall clock: score and minute */
    uint64_t        completed_ns;   /* monotonic: latency */
} bt_sigitem_t;

struct bt_sig_s {
    bt_sig_conf_t       conf;
    char               *prefix;
    bt_engine_stats_t  *es;

    /* the current set: written by the I/O thread, read under RCU */
    bt_rules_t         *rules;

    /* single-producer / single-consumer queue of cap entries (a power of
       two at least conf.queue); head is written by the evaluation loop,
       tail by the I/O thread, both free-running */
    bt_sigitem_t      **q;
    uint64_t            qmask;
    uint64_t            qhead;
    uint64_t            qtail;
    uint32_t            qlimit;

    /* wake-up: the I/O thread sets sleeping before it waits on efd */
    int                 efd;
    int                 sleeping;
    int                 stop;           /* 1: drain then exit, 2: exit */

    /* evaluation side (one thread) */
    bt_eval_ctx_t      *ctx;
    uint64_t            evaluations;
    uint64_t            rule_evaluations;
    uint64_t            emitted;
    uint64_t            dropped;
    uint64_t            dropped_logged;
    uint64_t            dropped_log_ms;

    /* I/O side */
    pthread_t           thread;
    int                 started;
    redisContext       *rc;
    char                sha_write[41];
    char                sha_retention[41];
    uint64_t            rules_version;  /* of the loaded set */
    json_t             *statuses;       /* id -> status last written, without
                                           updated_at */
    int                 rules_loaded_once;
    uint64_t            n_loaded;
    uint64_t            n_failed;
    uint64_t            written;
    uint64_t            duplicates;
    uint64_t            redis_errors;
    uint64_t            lost;           /* refused by Redis for good */
    uint64_t            lost_log_ms;
    uint64_t            lat_hist[64 * 8];   /* log-linear, microseconds */
    uint64_t            lat_count;
};

/* Queue length now (either thread). */
uint64_t bt_sigq_len(bt_sig_t *s);

/* Frees an item and drops its trace reference.  NULL is ignored. */
void bt_sigitem_free(bt_sigitem_t *it);

/*
 * rules.c: loads every rule from Redis (P rules, P rule:<id>), compiles the
 * enabled ones, writes each rule's P rule:<id>:status and publishes the new
 * set (the old one is freed after a grace period).  A status is written
 * only when it differs from the one last written, or when force is set
 * (after a reconnect: Redis may have lost them).  Returns 0, or -1 when a
 * Redis command failed (the current set is kept; the caller reconnects).
 */
int bt_rules_reload(bt_sig_t *s, uint64_t version, int force);

/* Frees a set that no reader can see any more.  NULL is ignored. */
void bt_rules_free(bt_rules_t *r);

/*
 * retention.c: loads the script (SCRIPT LOAD) into s->sha_retention;
 * returns 0 or -1.  bt_retention_round removes at most a bounded number of
 * signals over the count or age limit (and what indexes them) and returns
 * how many, or -1 on a Redis error.
 */
int bt_retention_load(bt_sig_t *s);
long bt_retention_round(bt_sig_t *s);

/* redis_io.c: the I/O thread's body (arg: bt_sig_t). */
void *bt_redis_io_main(void *arg);

#endif /* BT_SIG_IMPL_H */
