/*
 * signals.c - the evaluation side of rules to signals (see signals.h): the
 * rule set read under RCU, the signal built from a firing, the queue to
 * the I/O thread, and the open/close of the whole.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "sha1.h"
#include "sig_impl.h"
#include "trace_json.h"

/* at most one "queue full" line per this many ms */
#define DROP_LOG_MS     1000


typedef struct {
    bt_sig_t            *s;
    bt_rules_t          *r;
    const bt_trace_t    *view;
    const bt_done_t     *done;
    char                 trace_id[33];
    bt_blob_t           *blob;          /* built on the first firing */
    int                  blob_failed;
    uint64_t             completed_ns;
    uint64_t             detected_ms;
} fire_arg_t;


static void
blob_unref(bt_blob_t *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(b);
    }
}

void
bt_sigitem_free(bt_sigitem_t *it)
{
    if (it == NULL) {
        return;
    }
    free(it->rule_id);
    free(it->severity);
    free(it->json);
    blob_unref(it->trace);
    free(it);
}

uint64_t
bt_sigq_len(bt_sig_t *s)
{
    uint64_t  h, t;

    /* pairs with the release store of qtail in write_signals(): a slot
       counted free has been emptied by the I/O thread */
    t = __atomic_load_n(&s->qtail, __ATOMIC_ACQUIRE);
    h = __atomic_load_n(&s->qhead, __ATOMIC_ACQUIRE);
    return h - t;
}

uint64_t
bt_sig_queued(bt_sig_t *s)
{
    /* only the evaluation thread writes qhead: a plain read is exact */
    return s ? s->qhead : 0;
}

uint64_t
bt_sig_acked(bt_sig_t *s)
{
    /* pairs with the release store of qtail in write_signals(): qtail
       moves only once Redis answered the items before it */
    return s ? __atomic_load_n(&s->qtail, __ATOMIC_ACQUIRE) : 0;
}

/*
 * A JSON string from span bytes.  Span names and services come from the
 * wire and need not be UTF-8; jansson refuses those, so each byte of a bad
 * sequence becomes '?' rather than losing the field.
 */
static json_t *
jstr(const char *p, size_t n)
{
    json_t  *v;
    char    *c;
    size_t   i;

    v = json_stringn(p, n);
    if (v != NULL) {
        return v;
    }
    c = malloc(n + 1);
    if (c == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        c[i] = ((unsigned char) p[i] < 0x80 && p[i] != '\0') ? p[i] : '?';
    }
    v = json_stringn(c, n);
    free(c);
    return v;
}

/* The signal object of docs/internals.md, compact JSON, malloc'd. */
static char *
signal_json(fire_arg_t *fa, const bt_srule_t *rule, const char *sid,
    const bt_witness_t *w)
{
    const bt_trace_t  *v = fa->view;
    const bt_span_t   *root;
    json_t            *o, *wit, *grp;
    char               ts[32], det[32], span[17], *msg, *out;
    uint32_t           c, k;
    size_t             mlen;

    root = v->root >= 0 ? &v->spans[v->root].s : NULL;

    o = json_object();
    wit = json_array();
    if (o == NULL || wit == NULL) {
        json_decref(o);
        json_decref(wit);
        return NULL;
    }

    for (c = 0; c < w->nclauses; c++) {
        grp = json_array();
        for (k = w->off[c]; grp && k < w->off[c + 1]; k++) {
            *bt_hex(span, v->spans[w->spans[k]].s.span_id, 8) = '\0';
            json_array_append_new(grp, json_string(span));
        }
        json_array_append_new(wit, grp ? grp : json_null());
    }

    bt_rfc3339(v->start_ns / 1000000, ts, sizeof(ts));
    bt_rfc3339(fa->detected_ms, det, sizeof(det));

    mlen = strlen(rule->name) + 128
           + (root ? root->name.n + root->service.n : 0);
    msg = malloc(mlen);
    if (msg) {
        if (root) {
            snprintf(msg, mlen, "Rule '%s' matched trace %.8s\xe2\x80\xa6 "
                     "(root '%.*s' in service '%.*s')", rule->name,
                     fa->trace_id, (int) root->name.n, root->name.p,
                     (int) root->service.n, root->service.p);
        } else {
            snprintf(msg, mlen, "Rule '%s' matched trace %.8s\xe2\x80\xa6 "
                     "(no root span)", rule->name, fa->trace_id);
        }
    }

    json_object_set_new(o, "id", json_string(sid));
    json_object_set_new(o, "rule_id", json_string(rule->id));
    json_object_set_new(o, "rule_name", json_string(rule->name));
    json_object_set_new(o, "rule_version", json_integer(rule->version));
    json_object_set_new(o, "severity", json_string(rule->severity));
    json_object_set_new(o, "trace_id", json_string(fa->trace_id));
    json_object_set_new(o, "root_name",
                        root ? jstr(root->name.p, root->name.n) : json_null());
    json_object_set_new(o, "root_service",
                        root ? jstr(root->service.p, root->service.n)
                             : json_null());
    json_object_set_new(o, "witnesses", wit);
    json_object_set_new(o, "trace_start", json_string(ts));
    json_object_set_new(o, "detected_at", json_string(det));
    json_object_set_new(o, "message", msg ? jstr(msg, strlen(msg))
                                          : json_null());
    json_object_set_new(o, "status", json_string("open"));
    json_object_set_new(o, "acknowledged_at", json_null());
    json_object_set_new(o, "resolved_at", json_null());

    out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(msg);
    return out;
}

/* The trace line, once per evaluated trace that fired (shared by items). */
static bt_blob_t *
trace_blob(fire_arg_t *fa)
{
    bt_jbuf_t   jb;
    bt_blob_t  *b;

    if (fa->blob || fa->blob_failed) {
        return fa->blob;
    }

    memset(&jb, 0, sizeof(jb));
    if (bt_trace_json(&jb, fa->view, fa->done->trace_id,
                      bt_done_reason_name(fa->done->reason),
                      fa->done->reopened) != 0)
    {
        fa->blob_failed = 1;
        bt_jbuf_free(&jb);
        return NULL;
    }
    if (jb.len && jb.p[jb.len - 1] == '\n') {
        jb.len--;
    }

    b = malloc(sizeof(bt_blob_t) + jb.len + 1);
    if (b == NULL) {
        fa->blob_failed = 1;
        bt_jbuf_free(&jb);
        return NULL;
    }
    b->refs = 1;                        /* fa's own, dropped after eval */
    b->len = jb.len;
    memcpy(b->data, jb.p, jb.len);
    b->data[jb.len] = '\0';
    bt_jbuf_free(&jb);

    fa->blob = b;
    return b;
}

static void
count_drop(bt_sig_t *s, const char *why)
{
    uint64_t  now;

    s->dropped++;
    __atomic_store_n(&s->es->signals_dropped, s->dropped, __ATOMIC_RELAXED);

    now = bt_wall_ms();
    if (now - s->dropped_log_ms >= DROP_LOG_MS) {
        engine_log(ENGINE_LOG_WARN, "signal dropped: %s (%llu dropped in "
                   "all, %llu since the last report)", why,
                   (unsigned long long) s->dropped,
                   (unsigned long long) (s->dropped - s->dropped_logged));
        s->dropped_log_ms = now;
        s->dropped_logged = s->dropped;
    }
}

static int
on_fire(void *arg, uint32_t index, void *user, const bt_witness_t *w)
{
    fire_arg_t    *fa = arg;
    bt_sig_t      *s = fa->s;
    bt_srule_t    *rule = user;
    bt_sigitem_t  *it;
    uint8_t        dig[20];
    char           key[256 + 40];
    int            n;
    uint64_t       one;

    /*
     * A reopened trace holds only the late spans.  A rule that stays true
     * as spans arrive (no missing/!/count/duration) is true of the whole
     * trace when it is true of a part; any other rule could fire on the
     * part alone (PII read late, audit log early), so it is not trusted.
     */
    if (fa->done->reopened && !rule->monotone) {
        return 0;
    }

    if (bt_sigq_len(s) >= s->qlimit) {
        count_drop(s, "queue full (Redis slow or unreachable; see "
                   "--signal-queue)");
        return 0;
    }

    it = calloc(1, sizeof(bt_sigitem_t));
    if (it == NULL) {
        count_drop(s, "out of memory");
        return 0;
    }

    n = snprintf(key, sizeof(key), "%s:%s", rule->id, fa->trace_id);
    bt_sha1(key, (size_t) n < sizeof(key) ? (size_t) n : sizeof(key) - 1,
            dig);
    *bt_hex(it->sid, dig, 8) = '\0';
    memcpy(it->trace_id, fa->trace_id, sizeof(it->trace_id));
    it->detected_ms = fa->detected_ms;
    it->completed_ns = fa->completed_ns;
    it->rule_id = strdup(rule->id);
    it->severity = strdup(rule->severity);
    it->json = signal_json(fa, rule, it->sid, w);
    it->trace = trace_blob(fa);

    if (it->rule_id == NULL || it->severity == NULL || it->json == NULL
        || it->trace == NULL)
    {
        it->trace = NULL;
        bt_sigitem_free(it);
        count_drop(s, "out of memory");
        return 0;
    }
    __atomic_add_fetch(&it->trace->refs, 1, __ATOMIC_RELAXED);

    /* the item is complete before head moves: pairs with the acquire
       load of qhead in write_signals() (seq_cst also for the Dekker
       below) */
    s->q[s->qhead & s->qmask] = it;
    __atomic_store_n(&s->qhead, s->qhead + 1, __ATOMIC_SEQ_CST);
    s->emitted++;

    /* Dekker with the I/O thread: it sets sleeping, then looks at the
       queue; we published, then look at sleeping (both seq_cst) */
    if (__atomic_load_n(&s->sleeping, __ATOMIC_SEQ_CST)) {
        one = 1;
        if (write(s->efd, &one, sizeof(one)) < 0) {
            /* the counter is huge already: the thread is awake anyway */
        }
    }

    (void) index;
    return 0;
}

void
bt_sig_on_trace(bt_sig_t *s, const bt_trace_t *view, const bt_done_t *done)
{
    fire_arg_t   fa;
    bt_rules_t  *r;
    int          rc;

    rcu_read_lock();
    r = rcu_dereference(s->rules);

    if (r != NULL && r->n > 0 && view->n > 0) {
        memset(&fa, 0, sizeof(fa));
        fa.completed_ns = bt_mono_ns();
        fa.s = s;
        fa.r = r;
        fa.view = view;
        fa.done = done;
        fa.detected_ms = bt_wall_ms();
        *bt_hex(fa.trace_id, done->trace_id, 16) = '\0';

        s->evaluations++;
        s->rule_evaluations += r->n;

        rc = bt_ruleset_eval(r->set, view, s->ctx, on_fire, &fa);
        if (rc < 0) {
            engine_log(ENGINE_LOG_ERROR, "out of memory evaluating trace "
                       "%s: its rules were not evaluated", fa.trace_id);
        }
        blob_unref(fa.blob);

        __atomic_store_n(&s->es->evaluations, s->evaluations,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&s->es->rule_evaluations, s->rule_evaluations,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&s->es->signals_emitted, s->emitted,
                         __ATOMIC_RELAXED);
    }

    rcu_read_unlock();
}

bt_sig_t *
bt_sig_open(const bt_sig_conf_t *conf, bt_engine_stats_t *es, char *err,
    size_t errlen)
{
    bt_sig_t  *s;
    uint64_t   cap;
    sigset_t   all, old;
    int        rc;

    s = calloc(1, sizeof(bt_sig_t));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->conf = *conf;
    s->es = es;
    s->efd = -1;
    s->prefix = strdup(conf->prefix ? conf->prefix : BT_SIG_DEFAULT_PREFIX);
    if (s->conf.queue == 0) {
        s->conf.queue = BT_SIG_DEFAULT_QUEUE;
    }
    if (s->conf.retention_signals == 0) {
        s->conf.retention_signals = BT_SIG_DEFAULT_RETENTION_N;
    }
    if (s->conf.retention_age_s == 0) {
        s->conf.retention_age_s = BT_SIG_DEFAULT_RETENTION_S;
    }
    s->qlimit = s->conf.queue;
    for (cap = 1; cap < s->qlimit; cap <<= 1) {
        /* void */
    }
    s->qmask = cap - 1;
    s->q = calloc(cap, sizeof(bt_sigitem_t *));
    s->ctx = bt_eval_ctx_new();
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (s->prefix == NULL || s->q == NULL || s->ctx == NULL || s->efd < 0) {
        snprintf(err, errlen, "signals: %s", s->efd < 0 ? strerror(errno)
                                                        : "out of memory");
        bt_sig_close(s, 0);
        return NULL;
    }

    /* signals_dropped and the others restart at zero with the engine */
    __atomic_store_n(&es->signals_dropped, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->evaluations, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->rule_evaluations, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->signals_emitted, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->signals_written, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->signals_pending, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->rules_loaded, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->rules_failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->rules_version, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->redis_errors, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->redis_connected, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->signal_latency_p50_us, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&es->signal_latency_p99_us, 0, __ATOMIC_RELAXED);

    rcu_register_thread();

    /* SIGTERM and SIGINT must reach the evaluation loop, whose futex
       wait they cut short: the I/O thread blocks every signal */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&s->thread, NULL, bt_redis_io_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "signals: pthread_create: %s", strerror(rc));
        rcu_unregister_thread();
        bt_sig_close(s, 0);
        return NULL;
    }
    s->started = 1;

    return s;
}

uint64_t
bt_sig_close(bt_sig_t *s, int drain_ms)
{
    uint64_t       one, left, acked;
    bt_sigitem_t  *it;
    int            waited;

    if (s == NULL) {
        return 0;
    }

    if (s->started) {
        /* drain while connected and making progress, bounded */
        for (waited = 0; waited < drain_ms && bt_sigq_len(s) > 0
                         && __atomic_load_n(&s->es->redis_connected,
                                            __ATOMIC_RELAXED);
             waited += 10)
        {
            one = 1;
            if (write(s->efd, &one, sizeof(one)) < 0) {
                /* awake anyway */
            }
            usleep(10000);
        }

        __atomic_store_n(&s->stop, 2, __ATOMIC_SEQ_CST);
        one = 1;
        if (write(s->efd, &one, sizeof(one)) < 0) {
            /* awake anyway */
        }
        pthread_join(s->thread, NULL);
        rcu_unregister_thread();
    }

    /* the I/O thread is gone: qtail is final */
    acked = s->qtail;

    left = 0;
    if (s->q) {
        while (s->qtail != s->qhead) {
            it = s->q[s->qtail & s->qmask];
            bt_sigitem_free(it);
            s->qtail++;
            left++;
        }
    }
    if (left) {
        s->dropped += left;
        engine_log(ENGINE_LOG_WARN, "stopping with %llu signals not written "
                   "to Redis: dropped here (%llu dropped in all); their "
                   "traces stay in the ring (unless ring pressure gave the "
                   "space back), so the next start raises them again", (unsigned long long) left,
                   (unsigned long long) s->dropped);
        __atomic_store_n(&s->es->signals_dropped, s->dropped,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&s->es->signals_pending, 0, __ATOMIC_RELAXED);
    }

    bt_rules_free(s->rules);
    json_decref(s->statuses);
    if (s->rc) {
        redisFree(s->rc);
    }
    if (s->ctx) {
        bt_eval_ctx_free(s->ctx);
    }
    if (s->efd >= 0) {
        close(s->efd);
    }
    free(s->q);
    free(s->prefix);
    free(s);

    return acked;
}
