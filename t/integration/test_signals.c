/*
 * test_signals.c - rules to signals through the real parts: rules written
 * into Redis following docs/internals.md ("Redis: keys and values"), traces
 * sent as OTLP/JSON to nginx, the engine evaluating completed traces and
 * writing signals, stored traces and counts back into Redis.
 *
 * What is checked: each rule of DSL.md fires on its trace and stays quiet
 * on the near miss; changes, disables and deletes take effect within a
 * second while traffic flows; a broken rule is reported and the others
 * work; one (rule, trace) never gives two signals (reopened traces, engine
 * restarts); Redis stopped and restarted during traffic loses no rule and
 * no signal, and a tiny queue counts its overflow; retention trims by
 * count and by age.  The DSL.md traces are sent twice: built here as
 * OTLP/JSON (exact span ids, so witnesses are checked) and exported by the
 * OpenTelemetry JavaScript SDK (t/js/dsl-traces.mjs).
 */

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "shm/bt_ring.h"
#include "t/lib/harness.h"
#include "t/lib/harness_otlp.h"

#define P           "betrace:"
#define WAIT_MS     15000

static h_env_t  *env;

/* --- Redis --------------------------------------------------------------- */

static redisContext *
rconn(void)
{
    redisContext  *c;

    c = redisConnectUnix(env->redis_sock);
    cr_assert(c != NULL && c->err == 0, "connect to redis at %s",
              env->redis_sock);
    return c;
}

static redisReply *
rcmd(redisContext *c, const char *fmt, ...)
{
    redisReply  *r;
    va_list      ap;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis command %s: %s", fmt, c->errstr);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "redis %s: %s", fmt, r->str);
    return r;
}

static long long
rnum(redisContext *c, const char *fmt, const char *arg)
{
    redisReply  *r;
    long long    v;

    r = rcmd(c, fmt, arg);
    v = r->type == REDIS_REPLY_INTEGER ? r->integer
        : r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

/* GET key as parsed JSON, NULL when absent. */
static json_t *
rjson(redisContext *c, const char *key)
{
    redisReply    *r;
    json_t        *j;
    json_error_t   je;

    r = rcmd(c, "GET %s", key);
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return NULL;
    }
    j = json_loadb(r->str, r->len, 0, &je);
    cr_assert_not_null(j, "%s holds JSON: %s", key, je.text);
    freeReplyObject(r);
    return j;
}

/*
 * Creates or replaces a rule the way the REST API stores it, and bumps
 * P rules:version.
 */
static void
put_rule(redisContext *c, const char *id, const char *name, const char *dsl,
    const char *severity, int enabled, int version)
{
    json_t  *o;
    char    *js;

    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:[], s:s, s:s, s:i}",
                  "id", id, "name", name, "description", "", "dsl", dsl,
                  "severity", severity, "enabled", enabled, "tags",
                  "created_at", "2026-11-25T16:00:00.000Z",
                  "updated_at", "2026-11-25T16:00:00.000Z",
                  "version", version);
    js = json_dumps(o, JSON_COMPACT);
    freeReplyObject(rcmd(c, "SET " P "rule:%s %s", id, js));
    freeReplyObject(rcmd(c, "ZADD " P "rules NX %lld %s",
                         (long long) h_now_ms(), id));
    freeReplyObject(rcmd(c, "INCR " P "rules:version"));
    free(js);
    json_decref(o);
}

static void
del_rule(redisContext *c, const char *id)
{
    freeReplyObject(rcmd(c, "DEL " P "rule:%s " P "rule:%s:status", id, id));
    freeReplyObject(rcmd(c, "ZREM " P "rules %s", id));
    freeReplyObject(rcmd(c, "INCR " P "rules:version"));
}

/*
 * Waits until P rule:<id>:status has state (and version, if > 0).  Returns
 * the status (caller decrefs) or fails the test.
 */
static json_t *
wait_status(redisContext *c, const char *id, const char *state, int version,
    int timeout_ms)
{
    char      key[256];
    json_t   *st;
    int64_t   deadline;

    snprintf(key, sizeof(key), P "rule:%s:status", id);
    deadline = h_now_ms() + timeout_ms;
    for ( ;; ) {
        st = rjson(c, key);
        if (st && strcmp(json_string_value(json_object_get(st, "state")),
                         state) == 0
            && (version <= 0
                || json_integer_value(json_object_get(st, "version"))
                   == version))
        {
            return st;
        }
        if (h_now_ms() > deadline) {
            cr_assert_fail("rule %s: status %s, wanted %s version %d", id,
                           st ? json_dumps(st, 0) : "(none)", state,
                           version);
        }
        json_decref(st);
        usleep(20000);
    }
}

/* Signal id: first 16 hex of SHA-1(rule ":" trace), computed by Redis. */
static void
sid_of(redisContext *c, const char *rule, const char *trace, char *out)
{
    redisReply  *r;
    char         key[256];

    snprintf(key, sizeof(key), "%s:%s", rule, trace);
    r = rcmd(c, "EVAL %s 0 %s", "return redis.sha1hex(ARGV[1])", key);
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    memcpy(out, r->str, 16);
    out[16] = '\0';
    freeReplyObject(r);
}

static long long
nsignals(redisContext *c)
{
    return rnum(c, "ZCARD " P "signals%s", "");
}

static long long
wait_nsignals(redisContext *c, long long n, int timeout_ms)
{
    int64_t    deadline;
    long long  k;

    deadline = h_now_ms() + timeout_ms;
    while ((k = nsignals(c)) < n && h_now_ms() < deadline) {
        usleep(20000);
    }
    return k;
}

/* --- the engine's counters, read from the segment ------------------------ */

static bt_shm_t *
seg(void)
{
    bt_shm_t  *shm;
    char       err[256];

    shm = bt_shm_open(env->ring, NULL, err, sizeof(err));
    cr_assert_not_null(shm, "open the segment: %s", err);
    return shm;
}

#define ES(shm, f)  __atomic_load_n(&bt_shm_engine_stats(shm)->f, \
                                    __ATOMIC_RELAXED)

static uint64_t
wait_es(bt_shm_t *shm, size_t off, uint64_t want, int timeout_ms)
{
    int64_t    deadline;
    uint64_t   v;
    uint64_t  *f;

    f = (uint64_t *) ((char *) bt_shm_engine_stats(shm) + off);
    deadline = h_now_ms() + timeout_ms;
    while ((v = __atomic_load_n(f, __ATOMIC_RELAXED)) != want
           && h_now_ms() < deadline)
    {
        usleep(20000);
    }
    return v;
}

#define WAIT_ES(shm, f, want, ms) \
    wait_es(shm, offsetof(bt_engine_stats_t, f), want, ms)

/* --- traces as OTLP/JSON ------------------------------------------------- */

typedef struct {
    const char  *id;            /* 16 hex */
    const char  *parent;        /* 16 hex or NULL */
    const char  *name;
    const char  *service;       /* NULL: "shop" */
    int          status;        /* OTLP code: 0 unset, 1 ok, 2 error */
    double       start_ms;      /* from the trace's base time */
    double       dur_ms;
    const char  *bool_attr;     /* an attribute set to true, or NULL */
} t_span_t;

static uint64_t  base_ns;

static void
new_trace_id(char *out)
{
    uint8_t  id[16];

    ho_random_id(id, sizeof(id));
    h_hex(id, 16, out);
}

/* Posts spans of trace (32 hex) to /v1/traces; asserts a 200. */
static void
send_spans(const char *trace, const t_span_t *s, size_t n)
{
    json_t   *rs, *req, *span, *attrs;
    char     *body, t0[24], t1[24];
    h_resp_t  r;
    size_t    i;
    uint64_t  st;

    if (base_ns == 0) {
        base_ns = ((uint64_t) time(NULL) - 120) * 1000000000ULL;
    }

    rs = json_array();
    for (i = 0; i < n; i++) {
        st = base_ns + (uint64_t) (s[i].start_ms * 1e6);
        snprintf(t0, sizeof(t0), "%llu", (unsigned long long) st);
        snprintf(t1, sizeof(t1), "%llu",
                 (unsigned long long) (st + (uint64_t) (s[i].dur_ms * 1e6)));
        attrs = json_array();
        if (s[i].bool_attr) {
            json_array_append_new(attrs, json_pack("{s:s, s:{s:b}}",
                                  "key", s[i].bool_attr,
                                  "value", "boolValue", 1));
        }
        span = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:{s:i}}",
                         "traceId", trace, "spanId", s[i].id,
                         "parentSpanId", s[i].parent ? s[i].parent : "",
                         "name", s[i].name, "kind", 2,
                         "startTimeUnixNano", t0, "endTimeUnixNano", t1,
                         "attributes", attrs, "status", "code", s[i].status);
        json_array_append_new(rs, json_pack(
            "{s:{s:[{s:s, s:{s:s}}]}, s:[{s:{s:s}, s:[o]}]}",
            "resource", "attributes", "key", "service.name", "value",
            "stringValue", s[i].service ? s[i].service : "shop",
            "scopeSpans", "scope", "name", "test_signals", "spans", span));
    }
    req = json_pack("{s:o}", "resourceSpans", rs);
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);

    cr_assert_eq(h_post(env, "/v1/traces", "application/json", NULL, body,
                        strlen(body), &r), 0);
    cr_assert_eq(r.status, 200, "OTLP/JSON accepted: %ld %s", r.status,
                 r.body ? r.body : "");
    h_resp_free(&r);
    free(body);
}

/* A one-span trace named name; its id into trace. */
static void
send_named(const char *name, char *trace)
{
    t_span_t  s = { "00000000000000a1", NULL, name, NULL, 1, 0, 5, NULL };

    new_trace_id(trace);
    send_spans(trace, &s, 1);
}

static int
has_signal(redisContext *c, const char *rule, const char *trace)
{
    char  sid[17];

    sid_of(c, rule, trace, sid);
    return rnum(c, "EXISTS " P "signal:%s", sid) == 1;
}

/* Waits until the engine wrote the trace's line (it was evaluated). */
static void
wait_done(const char *trace, size_t nspans)
{
    json_t  *t;

    t = h_traces_wait_trace(env, trace, nspans, WAIT_MS);
    cr_assert_not_null(h_trace_find(t, trace), "trace %s completed", trace);
    json_decref(t);
}


static void
setup(void)
{
    env = h_env_start(NULL, H_ALL);
    cr_assert_not_null(env, "redis, engine and nginx start");
    base_ns = 0;
}

static void
setup_small_queue(void)
{
    h_opts_t  o;

    memset(&o, 0, sizeof(o));
    o.engine_extra = "--signal-queue 2";
    env = h_env_start(&o, H_ALL);
    cr_assert_not_null(env);
    base_ns = 0;
}

static void
setup_retention(void)
{
    h_opts_t  o;

    memset(&o, 0, sizeof(o));
    o.engine_extra = "--retention-signals 3";
    env = h_env_start(&o, H_ALL);
    cr_assert_not_null(env);
    base_ns = 0;
}

static void
teardown(void)
{
    h_env_free(env);
    env = NULL;
}


/* --- the rules of DSL.md ------------------------------------------------- */

#define R_AUTH  "auth-retry-storm"
#define R_PII   "pii-without-audit"
#define R_SLOW  "slow-payment-query"
#define R_TIME  "payment-timeout"
#define R_BAD   "broken"
#define R_JUNK  "not-json"

static const char  dsl_auth[] =
    "trace.has(span => span.name === 'auth.login' && span.status === "
    "'ERROR')\n"
    "  .and(trace.has(span => span.name === 'auth.login' && span.status "
    "=== 'OK'))\n"
    "  .within('5 seconds')";
static const char  dsl_pii[] =
    "trace.has(span => span.attributes['data.contains_pii'] === true)\n"
    "  .and(trace.missing(span => span.name === 'audit.log'))";
static const char  dsl_slow[] =
    "trace.where(span => span.name.startsWith('payment'))\n"
    "  .has(span => span.name.includes('db.query') && span.duration > 1000)";
static const char  dsl_timeout[] =
    "trace.where(span => span.name.startsWith(\"payment\")).has(span => "
    "span.status === \"TIMEOUT\")";

static void
check_signal(redisContext *c, const char *rule, const char *name,
    const char *severity, const char *trace, const char *root,
    const char *service, size_t nclauses, const char *const *wit)
{
    char         sid[17], key[128];
    json_t      *sig, *w, *stored;
    const char  *msg;
    size_t       i;

    sid_of(c, rule, trace, sid);
    snprintf(key, sizeof(key), P "signal:%s", sid);
    sig = rjson(c, key);
    cr_assert_not_null(sig, "signal of %s on %s stored", rule, trace);

    cr_assert_str_eq(json_string_value(json_object_get(sig, "id")), sid);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "rule_id")),
                     rule);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "rule_name")),
                     name);
    cr_assert_eq(json_integer_value(json_object_get(sig, "rule_version")),
                 1);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "severity")),
                     severity);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "trace_id")),
                     trace);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "root_name")),
                     root);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "root_service")),
                     service);
    cr_assert_str_eq(json_string_value(json_object_get(sig, "status")),
                     "open");
    cr_assert(json_is_null(json_object_get(sig, "acknowledged_at")));
    cr_assert(json_is_null(json_object_get(sig, "resolved_at")));
    cr_assert_eq(strlen(json_string_value(json_object_get(sig,
                 "detected_at"))), 24, "RFC 3339 with ms");
    cr_assert_eq(strlen(json_string_value(json_object_get(sig,
                 "trace_start"))), 24);

    msg = json_string_value(json_object_get(sig, "message"));
    cr_assert(msg && strstr(msg, name) && strstr(msg, root)
              && strstr(msg, service), "message: %s", msg);

    w = json_object_get(sig, "witnesses");
    cr_assert_eq(json_array_size(w), nclauses, "witness groups of %s", rule);
    for (i = 0; i < nclauses; i++) {
        cr_assert_eq(json_array_size(json_array_get(w, i)), 1);
        cr_assert_str_eq(json_string_value(json_array_get(
                         json_array_get(w, i), 0)), wit[i],
                         "%s clause %zu witness", rule, i);
    }
    json_decref(sig);

    /* indexes, stored trace, counts */
    cr_assert_neq(rnum(c, "ZSCORE " P "signals %s", sid), 0);
    snprintf(key, sizeof(key), P "signals:rule:%s", rule);
    cr_assert_eq(rnum(c, "ZCARD %s", key), 1);
    snprintf(key, sizeof(key), P "trace:%s:signals", trace);
    cr_assert_eq(rnum(c, "SCARD %s", key), 1);
    cr_assert_gt(rnum(c, "TTL %s", key), 600000);

    snprintf(key, sizeof(key), P "trace:%s", trace);
    stored = rjson(c, key);
    cr_assert_not_null(stored, "trace %s stored", trace);
    cr_assert_str_eq(json_string_value(json_object_get(stored, "trace_id")),
                     trace);
    cr_assert_gt(json_array_size(json_object_get(stored, "spans")), 0);
    cr_assert_gt(rnum(c, "TTL %s", key), 600000, "stored trace expires "
                 "after the retention age (7 days)");
    json_decref(stored);
}

Test(signals, dsl_rules_fire_and_near_misses_stay_quiet,
     .init = setup, .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    json_t        *st, *traces;
    char           t[8][33], key[128];
    long long      minute, total;
    int            i;
    redisReply    *r;

    /* root -> two logins 2 s apart, then 10 s apart */
    t_span_t  auth_hit[] = {
        { "1000000000000001", NULL, "POST /login", "auth-api", 1, 0, 3000,
          NULL },
        { "1000000000000002", "1000000000000001", "auth.login", "auth-api",
          2, 100, 50, NULL },
        { "1000000000000003", "1000000000000001", "auth.login", "auth-api",
          1, 2100, 50, NULL },
    };
    t_span_t  auth_miss[] = {
        { "1100000000000001", NULL, "POST /login", "auth-api", 1, 0, 11000,
          NULL },
        { "1100000000000002", "1100000000000001", "auth.login", "auth-api",
          2, 100, 50, NULL },
        { "1100000000000003", "1100000000000001", "auth.login", "auth-api",
          1, 10100, 50, NULL },
    };
    t_span_t  pii_hit[] = {
        { "2000000000000001", NULL, "GET /users", "api", 1, 0, 30, NULL },
        { "2000000000000002", "2000000000000001", "db.select users", "db",
          1, 5, 10, "data.contains_pii" },
    };
    t_span_t  pii_miss[] = {
        { "2100000000000001", NULL, "GET /users", "api", 1, 0, 30, NULL },
        { "2100000000000002", "2100000000000001", "db.select users", "db",
          1, 5, 10, "data.contains_pii" },
        { "2100000000000003", "2100000000000001", "audit.log", "api", 1, 20,
          2, NULL },
    };
    t_span_t  slow_hit[] = {
        { "3000000000000001", NULL, "POST /checkout", "shop", 1, 0, 2000,
          NULL },
        { "3000000000000002", "3000000000000001", "payment.process",
          "payments", 1, 10, 1800, NULL },
        { "3000000000000003", "3000000000000002", "pg db.query charge",
          "payments", 1, 20, 1500, NULL },
    };
    t_span_t  slow_fast[] = {
        { "3100000000000001", NULL, "POST /checkout", "shop", 1, 0, 2000,
          NULL },
        { "3100000000000002", "3100000000000001", "payment.process",
          "payments", 1, 10, 1800, NULL },
        { "3100000000000003", "3100000000000002", "pg db.query charge",
          "payments", 1, 20, 200, NULL },
    };
    t_span_t  slow_outside[] = {
        { "3200000000000001", NULL, "POST /checkout", "shop", 1, 0, 2000,
          NULL },
        { "3200000000000002", "3200000000000001", "inventory.check", "shop",
          1, 10, 1800, NULL },
        { "3200000000000003", "3200000000000002", "pg db.query stock",
          "shop", 1, 20, 1500, NULL },
        { "3200000000000004", "3200000000000001", "payment.process",
          "payments", 1, 1900, 50, NULL },
    };
    t_span_t  timeout[] = {
        { "4000000000000001", NULL, "POST /checkout", "shop", 1, 0, 2000,
          NULL },
        { "4000000000000002", "4000000000000001", "payment.authorize",
          "payments", 2, 10, 1800, NULL },
    };
    static const char *const  wit_auth[] = { "1000000000000002",
                                             "1000000000000003" };
    static const char *const  wit_pii[] = { "2000000000000002" };
    static const char *const  wit_slow[] = { "3000000000000003" };

    c = rconn();
    put_rule(c, R_AUTH, "Auth retry storm", dsl_auth, "high", 1, 1);
    put_rule(c, R_PII, "PII without audit", dsl_pii, "critical", 1, 1);
    put_rule(c, R_SLOW, "Slow database query in payment flow", dsl_slow,
             "medium", 1, 1);
    put_rule(c, R_TIME, "Detect payment timeout cascade", dsl_timeout,
             "critical", 1, 1);
    put_rule(c, R_BAD, "Broken", "trace.has(span => span.nmae === 'x')",
             "low", 1, 1);
    freeReplyObject(rcmd(c, "SET " P "rule:" R_JUNK " %s", "{not json"));
    freeReplyObject(rcmd(c, "ZADD " P "rules 1 " R_JUNK));
    freeReplyObject(rcmd(c, "INCR " P "rules:version"));

    /* the statuses say the set is loaded */
    json_decref(wait_status(c, R_AUTH, "active", 1, WAIT_MS));
    json_decref(wait_status(c, R_PII, "active", 1, WAIT_MS));
    json_decref(wait_status(c, R_SLOW, "active", 1, WAIT_MS));
    st = wait_status(c, R_TIME, "active", 1, WAIT_MS);
    /* accepted with its warning, reported with the status */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
                     json_object_get(st, "diagnostics"), 0), "severity")),
                     "warning");
    json_decref(st);
    st = wait_status(c, R_BAD, "error", 1, WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(st, "error")),
                     "line 1, column 24: unknown span field 'nmae'; did "
                     "you mean 'name'?");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(
                 json_object_get(st, "diagnostics"), 0), "column")), 24);
    json_decref(st);
    json_decref(wait_status(c, R_JUNK, "error", 0, WAIT_MS));

    shm = seg();
    cr_assert_eq(WAIT_ES(shm, rules_loaded, 4, WAIT_MS), 4);
    cr_assert_eq(ES(shm, rules_failed), 2);
    cr_assert_eq(ES(shm, redis_connected), 1);

    for (i = 0; i < 8; i++) {
        new_trace_id(t[i]);
    }
    send_spans(t[0], auth_hit, 3);
    send_spans(t[1], auth_miss, 3);
    send_spans(t[2], pii_hit, 2);
    send_spans(t[3], pii_miss, 3);
    send_spans(t[4], slow_hit, 3);
    send_spans(t[5], slow_fast, 3);
    send_spans(t[6], slow_outside, 4);
    send_spans(t[7], timeout, 2);

    traces = h_traces_wait(env, 8, 23, WAIT_MS);
    cr_assert_eq(json_array_size(traces), 8, "8 traces completed");
    json_decref(traces);

    cr_assert_eq(wait_nsignals(c, 3, WAIT_MS), 3);
    /* nothing else arrives late */
    cr_assert_eq(WAIT_ES(shm, signals_written, 3, WAIT_MS), 3);
    usleep(500000);
    cr_assert_eq(nsignals(c), 3, "exactly three signals");
    cr_assert_eq(ES(shm, signals_emitted), 3);
    cr_assert_eq(ES(shm, evaluations), 8);
    cr_assert_eq(ES(shm, rule_evaluations), 32);
    cr_assert_eq(ES(shm, signals_dropped), 0);
    cr_assert_eq(ES(shm, signals_pending), 0);

    cr_assert(has_signal(c, R_AUTH, t[0]));
    cr_assert(has_signal(c, R_PII, t[2]));
    cr_assert(has_signal(c, R_SLOW, t[4]));

    check_signal(c, R_AUTH, "Auth retry storm", "high", t[0], "POST /login",
                 "auth-api", 2, wit_auth);
    check_signal(c, R_PII, "PII without audit", "critical", t[2],
                 "GET /users", "api", 1, wit_pii);
    check_signal(c, R_SLOW, "Slow database query in payment flow", "medium",
                 t[4], "POST /checkout", "shop", 1, wit_slow);

    /* near misses and the never-firing TIMEOUT rule: no trace stored */
    for (i = 0; i < 8; i++) {
        if (i == 0 || i == 2 || i == 4) {
            continue;
        }
        snprintf(key, sizeof(key), P "trace:%s", t[i]);
        cr_assert_eq(rnum(c, "EXISTS %s", key), 0, "trace %d not stored", i);
    }

    /* per-minute counts (the signals may straddle a minute boundary) */
    r = rcmd(c, "KEYS " P "counts:*");
    total = 0;
    for (i = 0; i < (int) r->elements; i++) {
        /* P counts:all (never expires) is not a minute */
        if (strcmp(r->element[i]->str, P "counts:all") == 0) {
            continue;
        }
        total += rnum(c, "HGET %s total", r->element[i]->str);
        minute = atoll(r->element[i]->str + strlen(P "counts:"));
        cr_assert_lt(llabs(minute - (long long) time(NULL) / 60), 3);
        cr_assert_gt(rnum(c, "TTL %s", r->element[i]->str), 600000);
    }
    freeReplyObject(r);
    cr_assert_eq(total, 3);

    /* an unrelated change reloads the set but leaves other statuses as
       they were: updated_at says when a rule's state last changed */
    {
        json_t  *before, *after;

        before = rjson(c, P "rule:" R_AUTH ":status");
        usleep(20000);
        put_rule(c, "another", "Another", "trace.has('x')", "low", 1, 1);
        json_decref(wait_status(c, "another", "active", 1, WAIT_MS));
        cr_assert_eq(WAIT_ES(shm, rules_loaded, 5, WAIT_MS), 5);
        after = rjson(c, P "rule:" R_AUTH ":status");
        cr_assert(json_equal(before, after), "status of %s rewritten",
                  R_AUTH);
        json_decref(before);
        json_decref(after);
    }

    /* the heartbeat (refreshed every second: wait for the new set) */
    {
        int64_t  deadline = h_now_ms() + 5000;

        for ( ;; ) {
            st = rjson(c, P "engine");
            cr_assert_not_null(st, "engine heartbeat in redis");
            if (json_integer_value(json_object_get(st, "rules_loaded")) == 5
                || h_now_ms() > deadline)
            {
                break;
            }
            json_decref(st);
            usleep(50000);
        }
    }
    cr_assert_eq(json_integer_value(json_object_get(st, "pid")),
                 env->engine.pid);
    cr_assert_eq(json_integer_value(json_object_get(st, "rules_loaded")), 5);
    cr_assert_eq(json_integer_value(json_object_get(st, "rules_failed")), 2);
    cr_assert(json_is_string(json_object_get(st, "heartbeat")));
    cr_assert_gt(rnum(c, "PTTL %s", P "engine"), 3000);
    json_decref(st);

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}


/* --- live changes -------------------------------------------------------- */

static volatile int  traffic_stop;

/* Background traffic: a trace every 20 ms that no rule matches. */
static void *
traffic(void *arg)
{
    char  trace[33];

    (void) arg;
    while (!traffic_stop) {
        send_named("background.work", trace);
        usleep(20000);
    }
    return NULL;
}

/* Change, then wait for the engine's status; returns the ms it took. */
static int64_t
took(redisContext *c, int64_t t0, const char *id, const char *state,
    int version)
{
    json_decref(wait_status(c, id, state, version, 5000));
    return h_now_ms() - t0;
}

Test(signals, live_change_disable_delete, .init = setup, .fini = teardown,
     .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    pthread_t      th;
    char           t1[33], t2[33], t3[33], t4[33], t5[33], t6[33];
    int64_t        t0, ms;

    c = rconn();
    shm = seg();
    traffic_stop = 0;
    cr_assert_eq(pthread_create(&th, NULL, traffic, NULL), 0);

    put_rule(c, "live", "Live", "trace.has('ping')", "low", 1, 1);
    json_decref(wait_status(c, "live", "active", 1, WAIT_MS));

    send_named("ping", t1);
    wait_done(t1, 1);
    cr_assert_eq(wait_nsignals(c, 1, WAIT_MS), 1);
    cr_assert(has_signal(c, "live", t1));

    /* changed: now pong, not ping */
    t0 = h_now_ms();
    put_rule(c, "live", "Live", "trace.has('pong')", "low", 1, 2);
    ms = took(c, t0, "live", "active", 2);
    cr_assert_lt(ms, 1000, "change took effect in %lld ms", (long long) ms);
    send_named("ping", t2);
    send_named("pong", t3);
    wait_done(t2, 1);
    wait_done(t3, 1);
    cr_assert_eq(wait_nsignals(c, 2, WAIT_MS), 2);
    cr_assert(!has_signal(c, "live", t2), "old version no longer fires");
    cr_assert(has_signal(c, "live", t3), "new version fires");

    /* disabled */
    t0 = h_now_ms();
    put_rule(c, "live", "Live", "trace.has('pong')", "low", 0, 3);
    ms = took(c, t0, "live", "disabled", 3);
    cr_assert_lt(ms, 1000, "disable took effect in %lld ms", (long long) ms);
    cr_assert_eq(WAIT_ES(shm, rules_loaded, 0, 1000), 0);
    send_named("pong", t4);
    wait_done(t4, 1);

    /* enabled again, then deleted */
    t0 = h_now_ms();
    put_rule(c, "live", "Live", "trace.has('pong')", "low", 1, 4);
    ms = took(c, t0, "live", "active", 4);
    cr_assert_lt(ms, 1000, "enable took effect in %lld ms", (long long) ms);
    send_named("pong", t5);
    wait_done(t5, 1);
    cr_assert_eq(wait_nsignals(c, 3, WAIT_MS), 3);
    cr_assert(has_signal(c, "live", t5));

    t0 = h_now_ms();
    del_rule(c, "live");
    cr_assert_eq(WAIT_ES(shm, rules_loaded, 0, 1000), 0);
    ms = h_now_ms() - t0;
    cr_assert_lt(ms, 1000, "delete took effect in %lld ms", (long long) ms);
    send_named("pong", t6);
    wait_done(t6, 1);

    traffic_stop = 1;
    pthread_join(th, NULL);

    usleep(500000);
    cr_assert(!has_signal(c, "live", t4), "disabled rule stays quiet");
    cr_assert(!has_signal(c, "live", t6), "deleted rule stays quiet");
    cr_assert_eq(nsignals(c), 3);
    cr_assert_gt(ES(shm, evaluations), 20, "traffic flowed meanwhile");

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}


/* --- one (rule, trace), one signal --------------------------------------- */

Test(signals, reopened_trace_and_restart_give_one_signal, .init = setup,
     .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    json_t        *traces;
    char           t[33], sid[17], key[64];
    t_span_t       first[] = {
        { "5000000000000001", NULL, "job", NULL, 1, 0, 10, NULL },
        { "5000000000000002", "5000000000000001", "late.match", NULL, 1, 1,
          2, NULL },
    };
    t_span_t       late[] = {
        { "5000000000000003", "5000000000000001", "late.match", NULL, 1, 5,
          2, NULL },
    };

    c = rconn();
    put_rule(c, "once", "Once", "trace.has('late.match')", "info", 1, 1);
    json_decref(wait_status(c, "once", "active", 1, WAIT_MS));

    new_trace_id(t);
    send_spans(t, first, 2);
    wait_done(t, 2);
    cr_assert_eq(wait_nsignals(c, 1, WAIT_MS), 1);

    /* a late span re-opens the trace; the rule fires again on it */
    send_spans(t, late, 1);
    traces = h_traces_wait(env, 2, 3, WAIT_MS);
    cr_assert_eq(json_array_size(traces), 2, "the reopened trace completed");
    json_decref(traces);

    shm = seg();
    cr_assert_eq(WAIT_ES(shm, signals_emitted, 2, WAIT_MS), 2,
                 "fired on the reopened trace too");
    usleep(500000);
    cr_assert_eq(ES(shm, signals_pending), 0);
    cr_assert_eq(ES(shm, signals_written), 1, "written once");
    cr_assert_eq(nsignals(c), 1);
    bt_shm_close(shm);

    /* a new engine sees the same trace again (as after a crash that
       lost its release): still the same single signal */
    cr_assert_eq(h_proc_stop(&env->engine), 0);
    cr_assert_eq(h_engine_start(env), 0);
    shm = seg();
    json_decref(wait_status(c, "once", "active", 1, WAIT_MS));
    cr_assert_eq(WAIT_ES(shm, rules_loaded, 1, WAIT_MS), 1);
    send_spans(t, first, 2);
    cr_assert_eq(WAIT_ES(shm, signals_emitted, 1, WAIT_MS), 1);
    usleep(500000);
    cr_assert_eq(ES(shm, signals_pending), 0);
    cr_assert_eq(ES(shm, signals_written), 0);
    cr_assert_eq(nsignals(c), 1);

    sid_of(c, "once", t, sid);
    snprintf(key, sizeof(key), P "trace:%s:signals", t);
    cr_assert_eq(rnum(c, "SCARD %s", key), 1);
    cr_assert_eq(rnum(c, "ZCARD " P "signals:rule:once%s", ""), 1);

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}


/*
 * A reopened trace holds only its late spans: a rule with a negative
 * clause must not fire on that fragment (the audit log it "misses" came
 * with the first part), while a monotone rule still may.
 */
Test(signals, reopened_fragment_fires_only_monotone_rules, .init = setup,
     .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    json_t        *traces;
    char           t[33];
    t_span_t       first[] = {
        { "6000000000000001", NULL, "GET /users", NULL, 1, 0, 10, NULL },
        { "6000000000000002", "6000000000000001", "audit.log", NULL, 1, 1,
          2, NULL },
    };
    t_span_t       late[] = {
        { "6000000000000003", "6000000000000001", "users.read", NULL, 1, 5,
          2, "data.contains_pii" },
    };

    c = rconn();
    put_rule(c, "pii", "PII without audit",
             "trace.has(span => span.attributes['data.contains_pii'] === true)"
             ".and(trace.missing(span => span.name === 'audit.log'))",
             "critical", 1, 1);
    put_rule(c, "piiany", "Any PII read",
             "trace.has(span => span.attributes['data.contains_pii'] === true)",
             "info", 1, 1);
    json_decref(wait_status(c, "pii", "active", 1, WAIT_MS));
    json_decref(wait_status(c, "piiany", "active", 1, WAIT_MS));

    new_trace_id(t);
    send_spans(t, first, 2);
    wait_done(t, 2);

    send_spans(t, late, 1);
    traces = h_traces_wait(env, 2, 3, WAIT_MS);
    cr_assert_eq(json_array_size(traces), 2, "the reopened trace completed");
    json_decref(traces);

    shm = seg();
    cr_assert_eq(WAIT_ES(shm, signals_written, 1, WAIT_MS), 1);
    usleep(500000);
    cr_assert_eq(ES(shm, signals_emitted), 1,
                 "only the monotone rule fired on the fragment");
    cr_assert_eq(rnum(c, "ZCARD " P "signals:rule:piiany%s", ""), 1);
    cr_assert_eq(rnum(c, "ZCARD " P "signals:rule:pii%s", ""), 0);
    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}


/* --- Redis down ---------------------------------------------------------- */

Test(signals, redis_restart_during_traffic, .init = setup, .fini = teardown,
     .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    json_t        *traces;
    char           t[6][33];
    int            i;

    c = rconn();
    put_rule(c, "down", "Down", "trace.has('while.down')", "high", 1, 1);
    json_decref(wait_status(c, "down", "active", 1, WAIT_MS));
    shm = seg();

    send_named("while.down", t[0]);
    cr_assert_eq(wait_nsignals(c, 1, WAIT_MS), 1);
    redisFree(c);

    cr_assert_eq(h_proc_stop(&env->redis), 0, "redis stops cleanly");

    /* ingest and evaluation go on; the signals wait */
    for (i = 1; i < 6; i++) {
        send_named("while.down", t[i]);
    }
    traces = h_traces_wait(env, 6, 6, WAIT_MS);
    cr_assert_eq(json_array_size(traces), 6, "traces complete without redis");
    json_decref(traces);
    cr_assert_eq(WAIT_ES(shm, signals_pending, 5, WAIT_MS), 5);
    cr_assert_eq(ES(shm, redis_connected), 0);
    cr_assert_eq(ES(shm, rules_loaded), 1, "the rule set stays loaded");
    cr_assert_gt(ES(shm, redis_errors), 0);

    cr_assert_eq(h_redis_start(env), 0, "redis restarts (AOF)");
    c = rconn();
    cr_assert_eq(wait_nsignals(c, 6, WAIT_MS), 6, "delivered after return");
    for (i = 0; i < 6; i++) {
        cr_assert(has_signal(c, "down", t[i]));
    }
    cr_assert_eq(WAIT_ES(shm, redis_connected, 1, WAIT_MS), 1);
    cr_assert_eq(ES(shm, signals_pending), 0);
    cr_assert_eq(ES(shm, signals_dropped), 0);
    json_decref(wait_status(c, "down", "active", 1, WAIT_MS));
    cr_assert_eq(rnum(c, "ZCARD " P "rules%s", ""), 1, "no rule lost");

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}

Test(signals, tiny_queue_counts_overflow, .init = setup_small_queue,
     .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    json_t        *traces;
    char           t[33], *log;
    int            i;

    c = rconn();
    put_rule(c, "q", "Queue", "trace.has('overflow')", "low", 1, 1);
    json_decref(wait_status(c, "q", "active", 1, WAIT_MS));
    redisFree(c);
    shm = seg();

    cr_assert_eq(h_proc_stop(&env->redis), 0);
    for (i = 0; i < 5; i++) {
        send_named("overflow", t);
    }
    traces = h_traces_wait(env, 5, 5, WAIT_MS);
    cr_assert_eq(json_array_size(traces), 5);
    json_decref(traces);
    cr_assert_eq(WAIT_ES(shm, signals_dropped, 3, WAIT_MS), 3);
    cr_assert_eq(ES(shm, signals_pending), 2);
    cr_assert_eq(ES(shm, signals_emitted), 2);

    log = h_read_file(env->engine.log, NULL);
    cr_assert(log && strstr(log, "signal dropped: queue full"),
              "the overflow is logged");
    free(log);

    cr_assert_eq(h_redis_start(env), 0);
    c = rconn();
    cr_assert_eq(wait_nsignals(c, 2, WAIT_MS), 2, "the queued two arrive");
    usleep(300000);
    cr_assert_eq(nsignals(c), 2);

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}


/* --- retention ----------------------------------------------------------- */

Test(signals, retention_by_count, .init = setup_retention, .fini = teardown,
     .timeout = 120)
{
    redisContext  *c;
    char           t[6][33], sid[17], key[64];
    int            i;
    int64_t        deadline;

    c = rconn();
    put_rule(c, "ret", "Retention", "trace.has('keep')", "low", 1, 1);
    json_decref(wait_status(c, "ret", "active", 1, WAIT_MS));

    for (i = 0; i < 6; i++) {
        send_named("keep", t[i]);
        wait_done(t[i], 1);
        deadline = h_now_ms() + WAIT_MS;
        while (!has_signal(c, "ret", t[i]) && h_now_ms() < deadline) {
            usleep(20000);
        }
        cr_assert(has_signal(c, "ret", t[i]), "signal %d written", i);
    }

    /* trimmed to the 3 newest within a few rounds */
    deadline = h_now_ms() + WAIT_MS;
    while (nsignals(c) > 3 && h_now_ms() < deadline) {
        usleep(50000);
    }
    cr_assert_eq(nsignals(c), 3);
    usleep(300000);

    for (i = 0; i < 6; i++) {
        sid_of(c, "ret", t[i], sid);
        snprintf(key, sizeof(key), P "signal:%s", sid);
        if (i < 3) {
            cr_assert_eq(rnum(c, "EXISTS %s", key), 0, "old %d removed", i);
            snprintf(key, sizeof(key), P "trace:%s", t[i]);
            cr_assert_eq(rnum(c, "EXISTS %s", key), 0, "its trace too");
        } else {
            cr_assert_eq(rnum(c, "EXISTS %s", key), 1, "new %d kept", i);
            snprintf(key, sizeof(key), P "trace:%s", t[i]);
            cr_assert_eq(rnum(c, "EXISTS %s", key), 1);
        }
    }
    cr_assert_eq(rnum(c, "ZCARD " P "signals:rule:ret%s", ""), 3);

    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}

static void
setup_retention_age(void)
{
    h_opts_t  o;

    memset(&o, 0, sizeof(o));
    o.engine_extra = "--retention-age 2";
    env = h_env_start(&o, H_ALL);
    cr_assert_not_null(env);
    base_ns = 0;
}

Test(signals, retention_by_age, .init = setup_retention_age,
     .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    char           t[33], sid[17], key[64];
    int64_t        deadline;
    long long      ttl;

    c = rconn();
    put_rule(c, "age", "Age", "trace.has('old')", "low", 1, 1);
    json_decref(wait_status(c, "age", "active", 1, WAIT_MS));

    send_named("old", t);
    cr_assert_eq(wait_nsignals(c, 1, WAIT_MS), 1);
    snprintf(key, sizeof(key), P "trace:%s", t);
    ttl = rnum(c, "TTL %s", key);
    cr_assert(ttl >= 1 && ttl <= 2, "stored trace expires with the age: %lld",
              ttl);

    /* gone 2 s after detection, within a retention round or two */
    deadline = h_now_ms() + 8000;
    while (nsignals(c) > 0 && h_now_ms() < deadline) {
        usleep(50000);
    }
    cr_assert_eq(nsignals(c), 0, "the signal aged out");
    sid_of(c, "age", t, sid);
    snprintf(key, sizeof(key), P "signal:%s", sid);
    cr_assert_eq(rnum(c, "EXISTS %s", key), 0);
    cr_assert_eq(rnum(c, "ZCARD " P "signals:rule:age%s", ""), 0);
    snprintf(key, sizeof(key), P "trace:%s", t);
    cr_assert_eq(rnum(c, "EXISTS %s", key), 0);

    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}


/* --- the same through the OpenTelemetry JavaScript SDK ------------------ */

/* Runs t/js/dsl-traces.mjs against nginx; returns its "traces" object. */
static json_t *
run_dsl_traces(void)
{
    char          cmd[PATH_MAX * 2 + 128], *out;
    FILE         *p;
    size_t        len, n;
    int           st;
    json_t       *j, *t;
    json_error_t  je;

    snprintf(cmd, sizeof(cmd), "%s/t/js/node_modules", env->root);
    cr_assert_eq(access(cmd, R_OK), 0, "%s is missing: run scripts/deps.sh "
                 "--test", cmd);
    snprintf(cmd, sizeof(cmd), "node '%s/t/js/dsl-traces.mjs' "
             "http://127.0.0.1:%d/v1/traces", env->root, env->http_port);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    out = malloc(65536);
    cr_assert_not_null(out);
    len = 0;
    while (len < 65535 && (n = fread(out + len, 1, 65535 - len, p)) > 0) {
        len += n;
    }
    out[len] = '\0';
    st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "dsl-traces.mjs failed (status %d): %.500s", st, out);
    j = json_loadb(out, len, 0, &je);
    cr_assert_not_null(j, "dsl-traces.mjs output: %s", je.text);
    free(out);
    cr_assert(json_is_true(json_object_get(j, "ok")));
    t = json_incref(json_object_get(j, "traces"));
    json_decref(j);
    cr_assert_eq(json_object_size(t), 8);
    return t;
}

Test(signals, sdk_traces_give_exactly_the_expected_signals, .init = setup,
     .fini = teardown, .timeout = 180)
{
    static const struct {
        const char  *trace;
        const char  *rule;          /* the rule that fires, or NULL */
    } want[] = {
        { "auth_hit", R_AUTH }, { "auth_miss", NULL },
        { "pii_hit", R_PII }, { "pii_miss", NULL },
        { "slow_hit", R_SLOW }, { "slow_fast", NULL },
        { "slow_outside", NULL }, { "timeout", NULL },
    };
    static const char *const  rules[] = { R_AUTH, R_PII, R_SLOW, R_TIME };

    redisContext  *c;
    json_t        *ids, *traces;
    const char    *t;
    size_t        i, k;

    c = rconn();
    put_rule(c, R_AUTH, "Auth retry storm", dsl_auth, "high", 1, 1);
    put_rule(c, R_PII, "PII without audit", dsl_pii, "critical", 1, 1);
    put_rule(c, R_SLOW, "Slow database query in payment flow", dsl_slow,
             "medium", 1, 1);
    put_rule(c, R_TIME, "Detect payment timeout cascade", dsl_timeout,
             "critical", 1, 1);
    for (k = 0; k < 4; k++) {
        json_decref(wait_status(c, rules[k], "active", 1, WAIT_MS));
    }

    ids = run_dsl_traces();

    traces = h_traces_wait(env, 8, 23, WAIT_MS);
    cr_assert_eq(json_array_size(traces), 8, "8 traces completed");
    json_decref(traces);
    cr_assert_eq(wait_nsignals(c, 3, WAIT_MS), 3);
    usleep(500000);
    cr_assert_eq(nsignals(c), 3, "exactly three signals");

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        t = json_string_value(json_object_get(ids, want[i].trace));
        cr_assert_not_null(t, "trace id of %s", want[i].trace);
        for (k = 0; k < 4; k++) {
            cr_assert_eq(has_signal(c, rules[k], t),
                         want[i].rule != NULL
                         && strcmp(want[i].rule, rules[k]) == 0,
                         "rule %s on trace %s", rules[k], want[i].trace);
        }
    }

    json_decref(ids);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}

/* A hung Redis (SIGSTOP) must not stall ingest or evaluation either. */
Test(signals, redis_hung_does_not_block_evaluation, .init = setup,
     .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    json_t        *traces;
    char           t[4][33];
    int            i;

    c = rconn();
    put_rule(c, "hung", "Hung", "trace.has('while.hung')", "high", 1, 1);
    json_decref(wait_status(c, "hung", "active", 1, WAIT_MS));
    shm = seg();

    cr_assert_eq(kill(env->redis.pid, SIGSTOP), 0);
    for (i = 0; i < 4; i++) {
        send_named("while.hung", t[i]);
    }
    /* completed (idle 300 ms) and evaluated while Redis hangs */
    traces = h_traces_wait(env, 4, 4, 5000);
    cr_assert_eq(json_array_size(traces), 4);
    json_decref(traces);
    cr_assert_eq(WAIT_ES(shm, signals_emitted, 4, 2000), 4);
    cr_assert_eq(ES(shm, evaluations), 4);
    cr_assert_eq(ES(shm, signals_written), 0);

    cr_assert_eq(kill(env->redis.pid, SIGCONT), 0);
    cr_assert_eq(wait_nsignals(c, 4, WAIT_MS), 4);
    for (i = 0; i < 4; i++) {
        cr_assert(has_signal(c, "hung", t[i]));
    }
    cr_assert_eq(WAIT_ES(shm, signals_pending, 0, WAIT_MS), 0);

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}

/* Redis refusing writes (out of memory) keeps signals queued, not lost. */
Test(signals, redis_oom_keeps_signals_queued, .init = setup,
     .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    char           t[3][33];
    int            i;

    c = rconn();
    put_rule(c, "oom", "Oom", "trace.has('while.oom')", "high", 1, 1);
    json_decref(wait_status(c, "oom", "active", 1, WAIT_MS));
    shm = seg();

    freeReplyObject(rcmd(c, "CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(rcmd(c, "CONFIG SET maxmemory 1"));
    for (i = 0; i < 3; i++) {
        send_named("while.oom", t[i]);
    }
    cr_assert_eq(WAIT_ES(shm, signals_emitted, 3, WAIT_MS), 3);
    usleep(1000000);
    cr_assert_eq(nsignals(c), 0);
    cr_assert_eq(ES(shm, signals_pending), 3, "kept while Redis refuses");
    cr_assert_eq(ES(shm, signals_dropped), 0);

    freeReplyObject(rcmd(c, "CONFIG SET maxmemory 0"));
    cr_assert_eq(wait_nsignals(c, 3, WAIT_MS), 3);
    for (i = 0; i < 3; i++) {
        cr_assert(has_signal(c, "oom", t[i]));
    }
    cr_assert_eq(WAIT_ES(shm, signals_pending, 0, WAIT_MS), 0);

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}

/*
 * A signal still waiting for Redis when the engine is SIGKILLed is not
 * lost: the trace's ring space is held until Redis acknowledged its
 * signals, so the restarted engine reads the trace again and raises the
 * signal, once.  Redis is hung (SIGSTOP) and the engine has noticed it
 * before the trace is sent, so the signal's script never reaches Redis's
 * socket (reconnects stop at SCRIPT LOAD): without the hold nothing would
 * bring it back.
 */
Test(signals, sigkill_with_signals_pending_loses_none, .init = setup,
     .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    bt_shm_t      *shm;
    char           t[33], key[64];

    c = rconn();
    put_rule(c, "kill9", "Kill9", "trace.has('before.kill')", "high", 1, 1);
    json_decref(wait_status(c, "kill9", "active", 1, WAIT_MS));
    shm = seg();
    cr_assert_eq(WAIT_ES(shm, rules_loaded, 1, WAIT_MS), 1);

    cr_assert_eq(kill(env->redis.pid, SIGSTOP), 0);
    /* the 250 ms rules poll times out after the 2 s command timeout */
    cr_assert_eq(WAIT_ES(shm, redis_connected, 0, WAIT_MS), 0,
                 "the engine saw Redis hang");

    send_named("before.kill", t);
    wait_done(t, 1);
    cr_assert_eq(WAIT_ES(shm, signals_pending, 1, WAIT_MS), 1,
                 "completed, its signal waits for Redis");
    cr_assert_eq(ES(shm, signals_written), 0);
    cr_assert_eq(ES(shm, signals_unprotected), 0);

    cr_assert_eq(h_engine_kill9(env), 0);
    cr_assert_eq(kill(env->redis.pid, SIGCONT), 0);
    cr_assert_eq(nsignals(c), 0, "nothing reached Redis before the kill");

    cr_assert_eq(h_engine_start(env), 0);
    cr_assert_eq(wait_nsignals(c, 1, WAIT_MS), 1,
                 "the restarted engine raised the signal");
    cr_assert(has_signal(c, "kill9", t));
    cr_assert_eq(WAIT_ES(shm, signals_written, 1, WAIT_MS), 1,
                 "written by the restarted engine");
    cr_assert_eq(WAIT_ES(shm, signals_pending, 0, WAIT_MS), 0);

    /* exactly one, however long we wait */
    usleep(1000000);
    cr_assert_eq(nsignals(c), 1);
    cr_assert_eq(rnum(c, "ZCARD " P "signals:rule:kill9%s", ""), 1);
    snprintf(key, sizeof(key), P "trace:%s:signals", t);
    cr_assert_eq(rnum(c, "SCARD %s", key), 1);

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}

static void
setup_small_ring(void)
{
    h_opts_t  o;

    memset(&o, 0, sizeof(o));
    o.ring_slot_size = "64k";
    env = h_env_start(&o, H_ALL);
    cr_assert_not_null(env);
    base_ns = 0;
}

/*
 * The other side of the hold: a hung Redis must not make the ring fill
 * with traces whose signals wait.  Above 75% the held space is given back
 * (counted in signals_unprotected), every request is still answered 200,
 * and once Redis is back every signal is written.
 */
Test(signals, hung_redis_never_fills_the_ring, .init = setup_small_ring,
     .fini = teardown, .timeout = 120)
{
    redisContext         *c;
    bt_shm_t             *shm;
    bt_producer_stats_t   ps;
    char                  t[33];
    int                   n;
    int64_t               deadline;
    uint64_t              used, total;
    json_t               *st;

    c = rconn();
    put_rule(c, "press", "Press", "trace.has('under.pressure')", "low", 1, 1);
    json_decref(wait_status(c, "press", "active", 1, WAIT_MS));
    shm = seg();
    cr_assert_eq(WAIT_ES(shm, rules_loaded, 1, WAIT_MS), 1);

    cr_assert_eq(kill(env->redis.pid, SIGSTOP), 0);

    /* far more than a 64 KiB slot holds; send_named asserts each 200.
       Paced, so most traces complete (idle 300 ms) and are held for
       their signals rather than open */
    for (n = 0; n < 3000 && ES(shm, signals_unprotected) == 0; n++) {
        send_named("under.pressure", t);
        usleep(5000);
    }
    cr_assert_gt(ES(shm, signals_unprotected), 0,
                 "held releases given back under pressure (%d traces)", n);
    bt_shm_producer_totals(shm, &ps);
    cr_log_info("hung Redis: %d traces sent, %llu signals unprotected, "
                "%llu traces forced", n,
                (unsigned long long) ES(shm, signals_unprotected),
                (unsigned long long) ES(shm, traces_forced));
    cr_assert_eq(ps.ring_full, 0, "no request refused for lack of space");
    /* held releases count as free space: open traces are not forced */
    cr_assert_eq(ES(shm, traces_forced), 0);
    /* and nginx's stats page shows the counter */
    st = h_stats(env, NULL);
    cr_assert_not_null(st);
    cr_assert_gt(json_integer_value(json_object_get(st,
                                    "signals_unprotected")), 0);
    json_decref(st);
    cr_assert_eq(ES(shm, signals_written), 0);

    cr_assert_eq(kill(env->redis.pid, SIGCONT), 0);
    cr_assert_eq(wait_nsignals(c, n, WAIT_MS), n, "every signal written");
    cr_assert_eq(WAIT_ES(shm, signals_pending, 0, WAIT_MS), 0);
    cr_assert_eq(ES(shm, signals_dropped), 0);
    cr_assert_leq(ES(shm, signals_unprotected), (uint64_t) n);
    /* the rest of the hold is applied once Redis acknowledged: the ring
       empties */
    deadline = h_now_ms() + WAIT_MS;
    do {
        usleep(20000);
        bt_shm_usage(shm, &used, &total);
    } while (used != 0 && h_now_ms() < deadline);
    cr_assert_eq(used, 0, "ring released after Redis came back");

    bt_shm_close(shm);
    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}
