/*
 * redis_io.c - the engine's Redis I/O thread (see signals.h, sig_impl.h).
 *
 * It alone touches the hiredis connection, with blocking calls bounded by
 * timeouts: the evaluation loop never waits on it.  Each turn of its loop:
 * connect if needed (backoff 100 ms doubling to 2 s), poll P rules:version
 * every 250 ms and reload on change, write queued signals (pipelined, one
 * EVALSHA each), refresh the P engine heartbeat every second, run a
 * retention round every 2 s, publish counters, then sleep on an eventfd
 * that the evaluation loop pokes when it queues a signal while we sleep.
 *
 * A signal leaves the queue only once Redis answered its script, so a lost
 * connection retries it after reconnecting; the script's SET NX makes the
 * retry harmless if the first attempt did land.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "sig_impl.h"

#define POLL_RULES_MS       250
#define BEAT_MS             1000
#define BEAT_TTL_MS         5000
#define RETENTION_MS        2000
#define RETENTION_BUSY_MS   200     /* a full batch: another round soon */
#define BACKOFF_MIN_MS      100
#define BACKOFF_MAX_MS      2000
#define CONNECT_TIMEOUT_MS  1000
#define COMMAND_TIMEOUT_MS  2000
#define WRITE_BATCH         128
#define LATENCY_LOG_MS      10000
#define LATENCY_PUBLISH_MS  1000
#define DOWN_LOG_MS         30000

/*
 * KEYS: signal:<sid>, signals, signals:rule:<rule>, trace:<tid>,
 * trace:<tid>:signals, counts:<minute>, counts:all.  ARGV: signal JSON,
 * sid, score (ms), trace JSON, ttl (s), rule id, severity.  Returns 1 when
 * the signal was created, 0 when it existed (same rule and trace seen
 * before).  counts:all never expires: it is the monotonic per-rule and
 * per-severity counter behind betrace_signals_total, which retention must
 * not shrink.
 */
static const char  write_script[] =
    "if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
    "redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])\n"
    "redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[5], 'NX')\n"
    "redis.call('EXPIRE', KEYS[4], ARGV[5])\n"
    "redis.call('SADD', KEYS[5], ARGV[2])\n"
    "redis.call('EXPIRE', KEYS[5], ARGV[5])\n"
    "redis.call('HINCRBY', KEYS[6], 'total', 1)\n"
    "redis.call('HINCRBY', KEYS[6], 'rule:' .. ARGV[6], 1)\n"
    "redis.call('HINCRBY', KEYS[6], 'severity:' .. ARGV[7], 1)\n"
    "redis.call('EXPIRE', KEYS[6], ARGV[5])\n"
    "redis.call('HINCRBY', KEYS[7], 'rule:' .. ARGV[6], 1)\n"
    "redis.call('HINCRBY', KEYS[7], 'severity:' .. ARGV[7], 1)\n"
    "return 1\n";

typedef struct {
    uint64_t    backoff;
    uint64_t    connected_at;
    uint64_t    next_connect;
    uint64_t    next_poll;
    uint64_t    next_beat;
    uint64_t    next_retention;
    uint64_t    next_latency_log;
    uint64_t    down_since;
    uint64_t    down_logged;
    uint64_t    lat_seen;
    uint64_t    next_latency;
    uint64_t    lat_logged;
    int         force_reload;
} io_state_t;


/* log-linear histogram: 8 buckets per power of two */
static unsigned
lat_bucket(uint64_t us)
{
    unsigned  msb;

    if (us < 8) {
        return (unsigned) us;
    }
    msb = 63 - (unsigned) __builtin_clzll(us);
    return (msb - 2) * 8 + (unsigned) ((us >> (msb - 3)) & 7);
}

static uint64_t
lat_value(unsigned b)
{
    unsigned  msb;

    if (b < 8) {
        return b;
    }
    msb = b / 8 + 2;
    /* the middle of the bucket */
    return ((uint64_t) (8 + b % 8) << (msb - 3))
           + ((uint64_t) 1 << (msb - 3)) / 2;
}

static uint64_t
lat_pct(bt_sig_t *s, double p)
{
    uint64_t  want, acc;
    unsigned  b;

    if (s->lat_count == 0) {
        return 0;
    }
    want = (uint64_t) ((double) s->lat_count * p);
    if (want == 0) {
        want = 1;
    }
    acc = 0;
    for (b = 0; b < sizeof(s->lat_hist) / sizeof(s->lat_hist[0]); b++) {
        acc += s->lat_hist[b];
        if (acc >= want) {
            return lat_value(b);
        }
    }
    return 0;
}

static void
publish(bt_sig_t *s)
{
    bt_engine_stats_t  *es = s->es;

    __atomic_store_n(&es->signals_written, s->written, __ATOMIC_RELAXED);
    __atomic_store_n(&es->signals_pending, bt_sigq_len(s), __ATOMIC_RELAXED);
    __atomic_store_n(&es->redis_errors, s->redis_errors, __ATOMIC_RELAXED);
    __atomic_store_n(&es->redis_connected, s->rc != NULL, __ATOMIC_RELAXED);
}

static void
drop_connection(bt_sig_t *s, io_state_t *st, const char *what)
{
    engine_log(ENGINE_LOG_WARN, "redis: %s failed (%s); reconnecting, "
               "signals wait in the queue (%llu pending)", what,
               s->rc && s->rc->errstr[0] ? s->rc->errstr : "no reply",
               (unsigned long long) bt_sigq_len(s));
    redisFree(s->rc);
    s->rc = NULL;
    s->redis_errors++;
    /* a connection that failed soon after it was made (Redis loading its
       data, out of memory) backs off further each time */
    if (bt_mono_ms() - st->connected_at < 5000) {
        st->backoff = st->backoff * 2 > BACKOFF_MAX_MS
                      ? BACKOFF_MAX_MS : st->backoff * 2;
    } else {
        st->backoff = BACKOFF_MIN_MS;
    }
    st->next_connect = bt_mono_ms() + st->backoff;
    st->down_since = bt_mono_ms();
    st->down_logged = st->down_since;
    publish(s);
}

static int
load_write_script(bt_sig_t *s)
{
    redisReply  *r;

    r = redisCommand(s->rc, "SCRIPT LOAD %s", write_script);
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40) {
        if (r) {
            engine_log(ENGINE_LOG_ERROR, "redis: SCRIPT LOAD: %s",
                       r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected reply");
            freeReplyObject(r);
        }
        return -1;
    }
    memcpy(s->sha_write, r->str, 40);
    s->sha_write[40] = '\0';
    freeReplyObject(r);
    return 0;
}

static int
io_connect(bt_sig_t *s, io_state_t *st)
{
    redisContext    *c;
    struct timeval   tv;
    const char      *addr, *colon;
    char             host[256];
    size_t           hl;
    uint64_t         now;

    addr = s->conf.redis;
    tv.tv_sec = CONNECT_TIMEOUT_MS / 1000;
    tv.tv_usec = (CONNECT_TIMEOUT_MS % 1000) * 1000;

    if (strncmp(addr, "unix:", 5) == 0) {
        c = redisConnectUnixWithTimeout(addr + 5, tv);
    } else {
        colon = strrchr(addr, ':');
        hl = colon ? (size_t) (colon - addr) : strlen(addr);
        if (hl >= sizeof(host)) {
            hl = sizeof(host) - 1;
        }
        memcpy(host, addr, hl);
        host[hl] = '\0';
        c = redisConnectWithTimeout(host, colon ? atoi(colon + 1) : 6379,
                                    tv);
    }

    now = bt_mono_ms();

    if (c == NULL || c->err) {
        s->redis_errors++;
        if (st->down_logged == 0 || now - st->down_logged >= DOWN_LOG_MS) {
            engine_log(ENGINE_LOG_WARN, "redis %s: cannot connect (%s); "
                       "retrying, %llu signals pending", addr,
                       c ? c->errstr : "out of memory",
                       (unsigned long long) bt_sigq_len(s));
            st->down_logged = now;
        }
        if (c) {
            redisFree(c);
        }
        return -1;
    }

    tv.tv_sec = COMMAND_TIMEOUT_MS / 1000;
    tv.tv_usec = (COMMAND_TIMEOUT_MS % 1000) * 1000;
    redisSetTimeout(c, tv);
    s->rc = c;

    if (load_write_script(s) != 0 || bt_retention_load(s) != 0) {
        redisFree(s->rc);
        s->rc = NULL;
        s->redis_errors++;
        return -1;
    }

    engine_log(ENGINE_LOG_INFO, "redis %s: connected (prefix \"%s\"), "
               "%llu signals pending", addr, s->prefix,
               (unsigned long long) bt_sigq_len(s));
    st->down_logged = 0;
    st->down_since = 0;
    return 0;
}

/* GET P rules:version; reload when it moved (or after a reconnect). */
static int
poll_rules(bt_sig_t *s, io_state_t *st)
{
    redisReply  *r;
    uint64_t     v;

    r = redisCommand(s->rc, "GET %srules:version", s->prefix);
    if (r == NULL) {
        return -1;
    }
    v = 0;
    if (r->type == REDIS_REPLY_STRING) {
        v = strtoull(r->str, NULL, 10);
    } else if (r->type == REDIS_REPLY_ERROR) {
        engine_log(ENGINE_LOG_ERROR, "redis: GET %srules:version: %s",
                   s->prefix, r->str);
    }
    freeReplyObject(r);

    if (st->force_reload || !s->rules_loaded_once || v != s->rules_version) {
        engine_log(ENGINE_LOG_DEBUG, "rules: reload (forced %d, loaded "
                   "%d, version %llu -> %llu)", st->force_reload,
                   s->rules_loaded_once,
                   (unsigned long long) s->rules_version,
                   (unsigned long long) v);
        if (bt_rules_reload(s, v, st->force_reload) != 0) {
            return -1;
        }
        st->force_reload = 0;
    }
    return 0;
}

static int
heartbeat(bt_sig_t *s)
{
    redisReply  *r;
    json_t      *o;
    char        *js, now[32];

    bt_rfc3339(bt_wall_ms(), now, sizeof(now));
    o = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I}",
                  "pid", (json_int_t) getpid(),
                  "heartbeat", now,
                  "rules_loaded", (json_int_t) s->n_loaded,
                  "rules_failed", (json_int_t) s->n_failed,
                  "rules_version", (json_int_t) s->rules_version,
                  "signals_pending", (json_int_t) bt_sigq_len(s));
    js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (js == NULL) {
        return 0;
    }

    r = redisCommand(s->rc, "SET %sengine %s PX %d", s->prefix, js,
                     BEAT_TTL_MS);
    free(js);
    if (r == NULL) {
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static void
append_write(bt_sig_t *s, bt_sigitem_t *it)
{
    char  score[24], ttl[24], minute[24];

    snprintf(score, sizeof(score), "%llu",
             (unsigned long long) it->detected_ms);
    snprintf(ttl, sizeof(ttl), "%llu",
             (unsigned long long) s->conf.retention_age_s);
    snprintf(minute, sizeof(minute), "%llu",
             (unsigned long long) (it->detected_ms / 60000));

    redisAppendCommand(s->rc,
        "EVALSHA %s 7 %ssignal:%s %ssignals %ssignals:rule:%s %strace:%s "
        "%strace:%s:signals %scounts:%s %scounts:all %s %s %s %b %s %s %s",
        s->sha_write,
        s->prefix, it->sid, s->prefix, s->prefix, it->rule_id,
        s->prefix, it->trace_id, s->prefix, it->trace_id, s->prefix, minute,
        s->prefix,
        it->json, it->sid, score, it->trace->data, it->trace->len, ttl,
        it->rule_id, it->severity);
}

/* Errors after which the same write can succeed later. */
static int
transient(const char *err)
{
    static const char *const  codes[] = {
        "LOADING", "OOM", "MISCONF", "READONLY", "BUSY", "TRYAGAIN",
        "NOREPLICAS", "MASTERDOWN", "CLUSTERDOWN", NULL
    };
    size_t                    i, n;

    for (i = 0; codes[i]; i++) {
        n = strlen(codes[i]);
        if (strncmp(err, codes[i], n) == 0
            && (err[n] == ' ' || err[n] == '\0'))
        {
            return 1;
        }
    }
    return 0;
}

/*
 * Writes up to WRITE_BATCH queued signals, pipelined.  Items leave the
 * queue from the front as their replies say they are stored; the first
 * one that must be retried (NOSCRIPT) stops that.  Returns 0, or -1 when
 * the connection failed (what was not acknowledged stays queued).
 */
static int
write_signals(bt_sig_t *s)
{
    bt_sigitem_t  *it;
    redisReply    *r;
    uint64_t       tail, head, n, i, done, now_ns, us;
    int            blocked, lost, noscript;

    /* pairs with the store of qhead in on_fire(): items up to head are
       fully written */
    tail = s->qtail;
    head = __atomic_load_n(&s->qhead, __ATOMIC_ACQUIRE);
    n = head - tail;
    if (n == 0) {
        return 0;
    }
    if (n > WRITE_BATCH) {
        n = WRITE_BATCH;
    }

    for (i = 0; i < n; i++) {
        append_write(s, s->q[(tail + i) & s->qmask]);
    }

    done = 0;
    blocked = 0;
    lost = 0;
    noscript = 0;

    for (i = 0; i < n; i++) {
        if (redisGetReply(s->rc, (void **) &r) != REDIS_OK) {
            lost = 1;
            blocked = 1;
            break;
        }
        it = s->q[(tail + i) & s->qmask];

        if (r->type == REDIS_REPLY_INTEGER) {
            if (r->integer == 1) {
                s->written++;
            } else {
                s->duplicates++;
            }
            now_ns = bt_mono_ns();
            us = (now_ns - it->completed_ns) / 1000;
            s->lat_hist[lat_bucket(us)]++;
            s->lat_count++;

        } else if (r->type == REDIS_REPLY_ERROR
                   && strncmp(r->str, "NOSCRIPT", 8) == 0)
        {
            /* Redis lost its scripts (restart, SCRIPT FLUSH) */
            noscript = 1;
            blocked = 1;

        } else if (r->type == REDIS_REPLY_ERROR && transient(r->str)) {
            /* Redis can't take it now (loading its AOF after a restart,
               out of memory, read-only replica...): keep the signal and
               retry after a reconnect with backoff */
            if (!blocked) {
                engine_log(ENGINE_LOG_WARN, "redis: writing signals: %s; "
                           "%llu signals wait", r->str,
                           (unsigned long long) bt_sigq_len(s));
            }
            blocked = 1;
            lost = 1;

        } else {
            /* a reply no retry would change: the signal is lost (logged
               at most once a second, with the count) */
            s->redis_errors++;
            s->lost++;
            if (bt_wall_ms() - s->lost_log_ms >= 1000) {
                engine_log(ENGINE_LOG_ERROR, "redis: writing signal %s "
                           "(rule %s, trace %s) failed: %s; the signal is "
                           "lost (%llu lost in all)",
                           it->sid, it->rule_id, it->trace_id,
                           r->type == REDIS_REPLY_ERROR ? r->str
                                                        : "unexpected reply",
                           (unsigned long long) s->lost);
                s->lost_log_ms = bt_wall_ms();
            }
        }
        freeReplyObject(r);

        if (!blocked) {
            done = i + 1;
        }
    }

    for (i = 0; i < done; i++) {
        bt_sigitem_free(s->q[(tail + i) & s->qmask]);
        s->q[(tail + i) & s->qmask] = NULL;
    }
    /* pairs with the acquire load of qtail in bt_sigq_len() */
    __atomic_store_n(&s->qtail, tail + done, __ATOMIC_RELEASE);

    if (lost) {
        return -1;
    }
    if (noscript && load_write_script(s) != 0) {
        return -1;
    }
    return 0;
}

static void
log_latency(bt_sig_t *s, io_state_t *st)
{
    uint64_t  p50, p99;

    p50 = lat_pct(s, 0.50);
    p99 = lat_pct(s, 0.99);
    __atomic_store_n(&s->es->signal_latency_p50_us, p50, __ATOMIC_RELAXED);
    __atomic_store_n(&s->es->signal_latency_p99_us, p99, __ATOMIC_RELAXED);

    if (s->lat_count != st->lat_logged) {
        engine_log(ENGINE_LOG_INFO, "signals: %llu written, %llu already "
                   "there, %llu pending; completion to stored p50 %llu us, "
                   "p99 %llu us (%llu signals since start)",
                   (unsigned long long) s->written,
                   (unsigned long long) s->duplicates,
                   (unsigned long long) bt_sigq_len(s),
                   (unsigned long long) p50, (unsigned long long) p99,
                   (unsigned long long) s->lat_count);
        st->lat_logged = s->lat_count;
    }
}

/* Sleeps until a signal is queued, stop, or timeout_ms. */
static void
io_sleep(bt_sig_t *s, int timeout_ms)
{
    struct pollfd  pfd;
    uint64_t       v;

    __atomic_store_n(&s->sleeping, 1, __ATOMIC_SEQ_CST);
    if ((s->rc == NULL || bt_sigq_len(s) == 0)
        && __atomic_load_n(&s->stop, __ATOMIC_SEQ_CST) == 0)
    {
        pfd.fd = s->efd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, timeout_ms) > 0) {
            if (read(s->efd, &v, sizeof(v)) < 0) {
                /* EAGAIN: someone else drained it */
            }
        }
    }
    __atomic_store_n(&s->sleeping, 0, __ATOMIC_SEQ_CST);
}

void *
bt_redis_io_main(void *arg)
{
    bt_sig_t    *s = arg;
    io_state_t   st;
    uint64_t     now, next;
    long         removed;
    int          timeout;

    memset(&st, 0, sizeof(st));
    st.backoff = BACKOFF_MIN_MS;
    st.next_latency_log = bt_mono_ms() + LATENCY_LOG_MS;

    while (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST) != 2) {
        now = bt_mono_ms();

        if (s->rc == NULL && now >= st.next_connect) {
            if (io_connect(s, &st) == 0) {
                st.connected_at = now;
                st.force_reload = 1;
                st.next_poll = 0;
                st.next_beat = 0;
            } else {
                st.next_connect = now + st.backoff;
                st.backoff = st.backoff * 2 > BACKOFF_MAX_MS
                             ? BACKOFF_MAX_MS : st.backoff * 2;
            }
            publish(s);
        }

        if (s->rc && now >= st.next_poll) {
            st.next_poll = now + POLL_RULES_MS;
            if (poll_rules(s, &st) != 0) {
                drop_connection(s, &st, "loading rules");
            }
        }

        if (s->rc && write_signals(s) != 0) {
            drop_connection(s, &st, "writing signals");
        }

        now = bt_mono_ms();
        if (s->rc && now >= st.next_beat) {
            st.next_beat = now + BEAT_MS;
            if (heartbeat(s) != 0) {
                drop_connection(s, &st, "heartbeat");
            }
        }

        if (s->rc && now >= st.next_retention) {
            removed = bt_retention_round(s);
            if (removed < 0) {
                drop_connection(s, &st, "retention");
            }
            st.next_retention = now + (removed >= 500 ? RETENTION_BUSY_MS
                                                      : RETENTION_MS);
        }

        if (now >= st.next_latency_log) {
            st.next_latency_log = now + LATENCY_LOG_MS;
            log_latency(s, &st);
        } else if (now >= st.next_latency && s->lat_count != st.lat_seen) {
            /* fresh figures in the segment every second */
            __atomic_store_n(&s->es->signal_latency_p50_us,
                             lat_pct(s, 0.50), __ATOMIC_RELAXED);
            __atomic_store_n(&s->es->signal_latency_p99_us,
                             lat_pct(s, 0.99), __ATOMIC_RELAXED);
            st.lat_seen = s->lat_count;
            st.next_latency = now + LATENCY_PUBLISH_MS;
        }

        publish(s);

        if (s->rc && bt_sigq_len(s) > 0) {
            continue;
        }

        now = bt_mono_ms();
        next = s->rc ? st.next_poll : st.next_connect;
        if (s->rc && st.next_beat < next) {
            next = st.next_beat;
        }
        timeout = next > now ? (int) (next - now) : 0;
        if (timeout > POLL_RULES_MS) {
            timeout = POLL_RULES_MS;
        }
        if (timeout > 0) {
            io_sleep(s, timeout);
        }
    }

    log_latency(s, &st);

    if (s->rc) {
        /* the heartbeat goes at once: /api/v1/health need not wait 5 s */
        freeReplyObject(redisCommand(s->rc, "DEL %sengine", s->prefix));
    }
    publish(s);
    __atomic_store_n(&s->es->redis_connected, 0, __ATOMIC_RELAXED);

    return NULL;
}
