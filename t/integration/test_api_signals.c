/*
 * test_api_signals.c - the REST API's read side and operations through a
 * real nginx with the module and a real redis-server: signals (filters,
 * cursor pages, status changes), traces, counts, health, stats, /metrics,
 * errors and auth on every route.
 *
 * Signals, stored traces and counts are written straight into Redis
 * following docs/internals.md ("Redis: keys and values"), so the read side
 * is tested on its own, independently of the engine.  Health starts the
 * engine too, and stops and freezes Redis to see 503 come quickly.
 */

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "t/lib/harness.h"

#define P           "betrace:"
#define NSEED        230
#define TRACE_A     "0af7651916cd43dd8448eb211c80319c"
#define TRACE_B     "4bf92f3577b34da6a3ce929d0e0e4736"

/* echo -n <key> | sha256sum */
#define READ_KEY    "readkey-0123456789"
#define WRITE_KEY   "writekey-0123456789"
#define INGEST_KEY  "ingestkey-0123456789"

static const char  keys_file[] =
    "# test keys\n"
    "2400735e323dca9c876239bdf994799171ec052ef105acf88d09688d55b9a3ff "
    "read grafana\n"
    "8203598d4223fcf91a5b465ee82567e556da6033481fcd9f218d7bba85567c4f "
    "write ops\n"
    "91712a7ccccde20ff97f3b7ab45755e8473831652ef6c4e87e3215d949a3635d "
    "ingest collector\n";

static const char *const  sevs[] = { "critical", "high", "medium", "low",
                                     "info" };
static const char *const  stats[] = { "open", "acknowledged", "resolved" };

static h_env_t   *env;
static char       http_extra[2 * PATH_MAX + 256];
static int64_t    base_ms;           /* detected time of the oldest signal */

/* what was seeded, to compute expected answers */
typedef struct {
    char        id[17];
    char        rule[8];
    const char *sev;
    const char *status;
    const char *trace;
    int64_t     score;
} seed_t;

static seed_t     seeds[NSEED + 16];
static int        nseeds;


/* --- helpers ------------------------------------------------------------ */

static int64_t
wall_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
rfc3339(int64_t ms, char *buf, size_t len)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (int) (ms % 1000));
}

static redisContext *
rconn(void)
{
    redisContext  *c;

    c = redisConnectUnix(env->redis_sock);
    cr_assert(c != NULL && c->err == 0, "connect to redis at %s",
              env->redis_sock);
    return c;
}

static void
rdo(redisContext *c, const char *fmt, ...)
{
    redisReply  *r;
    va_list      ap;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis %s: %s", fmt, c->errstr);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "redis %s: %s", fmt, r->str);
    freeReplyObject(r);
}

static void
put_rule(redisContext *c, const char *id, const char *name, const char *sev)
{
    json_t  *o;
    char    *js;

    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:[],s:s,s:s,s:i}",
                  "id", id, "name", name, "description", "",
                  "dsl", "trace.has(span => span.name === 'never-xyz')",
                  "severity", sev, "enabled", 1, "tags",
                  "created_at", "2026-11-25T16:00:00.000Z",
                  "updated_at", "2026-11-25T16:00:00.000Z", "version", 1);
    js = json_dumps(o, JSON_COMPACT);
    rdo(c, "SET " P "rule:%s %s", id, js);
    rdo(c, "ZADD " P "rules 1 %s", id);
    free(js);
    json_decref(o);
}

/* One signal, indexed as the engine's Lua script does. */
static void
put_signal(redisContext *c, const char *id, const char *rule,
    const char *sev, const char *status, const char *trace, int64_t score)
{
    char     det[32];
    json_t  *o;
    char    *js;
    seed_t  *s;

    rfc3339(score, det, sizeof(det));
    o = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:[[s],[]],s:s,s:s,"
                  "s:s,s:s,s:n,s:n}",
                  "id", id, "rule_id", rule, "rule_name", "name of rule",
                  "rule_version", 1, "severity", sev, "trace_id", trace,
                  "root_name", "GET /", "root_service", "shop",
                  "witnesses", "00f067aa0ba902b7",
                  "trace_start", det, "detected_at", det,
                  "message", "Rule matched", "status", status,
                  "acknowledged_at", "resolved_at");
    cr_assert_not_null(o);
    js = json_dumps(o, JSON_COMPACT);
    rdo(c, "SET " P "signal:%s %s", id, js);
    rdo(c, "ZADD " P "signals %lld %s", (long long) score, id);
    rdo(c, "ZADD " P "signals:rule:%s %lld %s", rule, (long long) score, id);
    rdo(c, "SADD " P "trace:%s:signals %s", trace, id);
    free(js);
    json_decref(o);

    s = &seeds[nseeds++];
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->rule, sizeof(s->rule), "%s", rule);
    s->sev = sev;
    s->status = status;
    s->trace = trace;
    s->score = score;
}

/*
 * NSEED signals over rules r1..r3, three to a millisecond (ties on the
 * score must page correctly), all severities and statuses, two traces.
 */
static void
seed_signals(void)
{
    redisContext  *c;
    char           id[17];
    int            i;

    c = rconn();
    put_rule(c, "r1", "Payment cascade", "critical");
    put_rule(c, "r2", "Login burst", "high");
    put_rule(c, "r3", "Slow query", "low");
    rdo(c, "INCR " P "rules:version");          /* the engine reloads */

    base_ms = wall_ms() - 3600 * 1000;
    nseeds = 0;

    for (i = 0; i < NSEED; i++) {
        snprintf(id, sizeof(id), "%016x", (unsigned) (0x5000 + i * 7919));
        put_signal(c, id, i % 3 == 0 ? "r1" : i % 3 == 1 ? "r2" : "r3",
                   sevs[i % 5], stats[i % 3 == 2 ? 0 : (i / 3) % 3],
                   i % 4 == 0 ? TRACE_A : TRACE_B,
                   base_ms + (i / 3) * 1000);
    }

    redisFree(c);
}

static void
start(int parts)
{
    h_opts_t  o;
    char      path[PATH_MAX + 16];
    FILE     *f;

    memset(&o, 0, sizeof(o));
    o.server_extra =
        "location /api/v1/ { betrace_api; }\n"
        "        location = /metrics { betrace_metrics; }\n"
        "        location = /open-metrics { betrace_metrics; "
        "betrace_metrics_auth off; }\n";
    o.http_extra = http_extra;

    env = h_env_new(&o);
    cr_assert_not_null(env);

    snprintf(path, sizeof(path), "%s/keys", env->dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(keys_file, f);
    fclose(f);

    snprintf(http_extra, sizeof(http_extra),
             "betrace_redis unix:%s;\n    betrace_api_keys %s;\n"
             "    betrace_redis_timeout 400ms;\n",
             env->redis_sock, path);

    cr_assert_eq(h_redis_start(env), 0);
    if (parts & H_ENGINE) {
        cr_assert_eq(h_engine_start(env), 0);
    }
    cr_assert_eq(h_nginx_start(env), 0);
}

static void
teardown(void)
{
    if (env && env->redis.pid > 0) {
        kill(env->redis.pid, SIGCONT);
    }
    h_env_free(env);
    env = NULL;
}

/*
 * A request with a key (NULL: none) and a JSON body (NULL: none).  Returns
 * the parsed body when it is JSON (caller decrefs), NULL otherwise; the
 * status goes to *status.
 */
static json_t *
api(const char *method, const char *path, const char *key,
    const char *body, long *status)
{
    h_resp_t     r;
    json_t      *j;
    char         auth[256];
    const char  *hdrs[3];
    int          n = 0;

    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        hdrs[n++] = auth;
    }
    if (body) {
        hdrs[n++] = "Content-Type: application/json";
    }
    hdrs[n] = NULL;

    cr_assert_eq(h_http(env, method, path, hdrs, body,
                        body ? strlen(body) : 0, &r), 0,
                 "%s %s answered", method, path);
    *status = r.status;
    j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    if (r.status != 204 && strcmp(method, "HEAD") != 0) {
        cr_assert(strstr(r.content_type, "json") == NULL || j != NULL,
                  "%s %s: JSON body: %s", method, path, r.body);
    }
    h_resp_free(&r);
    return j;
}

/* GET with the read key, expecting status; returns the body. */
static json_t *
get_ok(const char *path, long want)
{
    long     st;
    json_t  *j;

    j = api("GET", path, READ_KEY, NULL, &st);
    cr_assert_eq(st, want, "GET %s: %ld, want %ld (%s)", path, st, want,
                 j ? json_dumps(j, 0) : "");
    cr_assert_not_null(j, "GET %s: JSON", path);
    return j;
}

/* An error reply of that status whose message mentions what. */
static void
expect_error(const char *method, const char *path, const char *key,
    const char *body, long want, const char *what)
{
    long         st;
    json_t      *j;
    const char  *code, *msg;

    j = api(method, path, key, body, &st);
    cr_assert_eq(st, want, "%s %s: %ld, want %ld", method, path, st, want);
    cr_assert_not_null(j, "%s %s: error body is JSON", method, path);
    code = json_string_value(json_object_get(json_object_get(j, "error"),
                                             "code"));
    msg = json_string_value(json_object_get(json_object_get(j, "error"),
                                            "message"));
    cr_assert(code && msg, "%s %s: {\"error\": {code, message}}", method,
              path);
    if (what) {
        cr_assert(strstr(msg, what) != NULL, "%s %s: \"%s\" mentions %s",
                  method, path, msg, what);
    }
    json_decref(j);
}

/*
 * 400 {"error": {"code": "invalid_<member>", member: name, "message"}}:
 * the one vocabulary for bad input (member "parameter" or "field").
 */
static void
expect_invalid(const char *method, const char *path, const char *key,
    const char *body, const char *member, const char *name)
{
    long         st;
    char         code[32];
    json_t      *j, *e;

    j = api(method, path, key, body, &st);
    cr_assert_eq(st, 400, "%s %s: %ld, want 400", method, path, st);
    e = json_object_get(j, "error");
    cr_assert(json_is_object(e), "%s %s: error object", method, path);
    snprintf(code, sizeof(code), "invalid_%s", member);
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code,
                     "%s %s", method, path);
    cr_assert_str_eq(json_string_value(json_object_get(e, member)), name,
                     "%s %s: %s", method, path, member);
    cr_assert(json_is_string(json_object_get(e, "message")));
    json_decref(j);
}

/* index order: newest first, then id descending */
static int
seed_cmp(const void *a, const void *b)
{
    const seed_t  *x = a, *y = b;

    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return -strcmp(x->id, y->id);
}

/*
 * Pages through path (which has a query string) with limit per page and
 * checks that the concatenation is exactly want[0..nwant) in order.
 */
static void
check_pages(const char *path, int limit, const seed_t *want, int nwant)
{
    char         url[1024];
    json_t      *j, *sigs, *s;
    const char  *cursor;
    char         cur[256];
    int          got = 0, pages = 0;
    size_t       i;

    cur[0] = '\0';
    for (;;) {
        snprintf(url, sizeof(url), "%s&limit=%d%s%s", path, limit,
                 cur[0] ? "&cursor=" : "", cur);
        j = get_ok(url, 200);
        sigs = json_object_get(j, "signals");
        cr_assert(json_is_array(sigs));
        cr_assert_leq(json_array_size(sigs), (size_t) limit);
        json_array_foreach(sigs, i, s) {
            cr_assert_lt(got, nwant, "%s: more signals than seeded", path);
            cr_assert_str_eq(json_string_value(json_object_get(s, "id")),
                             want[got].id, "%s: signal %d in order", path,
                             got);
            got++;
        }
        pages++;
        cursor = json_string_value(json_object_get(j, "next_cursor"));
        if (cursor == NULL) {
            cr_assert(json_is_null(json_object_get(j, "next_cursor")));
            json_decref(j);
            break;
        }
        snprintf(cur, sizeof(cur), "%s", cursor);
        json_decref(j);
        cr_assert_lt(pages, 1000, "pages end");
    }
    cr_assert_eq(got, nwant, "%s: %d of %d signals over %d pages", path,
                 got, nwant, pages);
}

/* the seeds that pass a filter, in index order */
static int
expected(seed_t *out, const char *rule, const char *sev, const char *status,
    const char *trace, int64_t from, int64_t to)
{
    int  i, n = 0;

    for (i = 0; i < nseeds; i++) {
        if ((rule && strcmp(seeds[i].rule, rule) != 0)
            || (sev && strcmp(seeds[i].sev, sev) != 0)
            || (status && strcmp(seeds[i].status, status) != 0)
            || (trace && strcmp(seeds[i].trace, trace) != 0)
            || (from >= 0 && seeds[i].score < from)
            || (to >= 0 && seeds[i].score >= to))
        {
            continue;
        }
        out[n++] = seeds[i];
    }
    qsort(out, n, sizeof(seed_t), seed_cmp);
    return n;
}


/* --- signals: list ------------------------------------------------------- */

Test(api_signals, list_filters_and_pages, .fini = teardown, .timeout = 120)
{
    static seed_t  want[NSEED + 16];
    char           path[512], t1[32], t2[32];
    json_t        *j, *sigs;
    int            n;
    int64_t        from, to;

    start(H_REDIS | H_NGINX);
    seed_signals();

    /* default page: 50, newest first, a cursor to go on */
    n = expected(want, NULL, NULL, NULL, NULL, -1, -1);
    cr_assert_eq(n, NSEED);
    j = get_ok("/api/v1/signals", 200);
    sigs = json_object_get(j, "signals");
    cr_assert_eq(json_array_size(sigs), 50);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(sigs, 0), "id")), want[0].id);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(sigs, 49), "id")), want[49].id);
    cr_assert(json_is_string(json_object_get(j, "next_cursor")));
    json_decref(j);

    /* every page size walks all of them, ties on the score included */
    check_pages("/api/v1/signals?", 37, want, n);
    check_pages("/api/v1/signals?", 500, want, n);
    check_pages("/api/v1/signals?", 1, want, n);

    /* filters, alone and together, across pages */
    n = expected(want, "r2", NULL, NULL, NULL, -1, -1);
    check_pages("/api/v1/signals?rule_id=r2", 9, want, n);
    n = expected(want, NULL, "critical", NULL, NULL, -1, -1);
    cr_assert_gt(n, 10);
    check_pages("/api/v1/signals?severity=critical", 7, want, n);
    n = expected(want, NULL, NULL, "acknowledged", NULL, -1, -1);
    cr_assert_gt(n, 10);
    check_pages("/api/v1/signals?status=acknowledged", 11, want, n);
    n = expected(want, NULL, NULL, NULL, TRACE_A, -1, -1);
    check_pages("/api/v1/signals?trace_id=" TRACE_A, 5, want, n);
    n = expected(want, "r1", "high", "open", NULL, -1, -1);
    check_pages("/api/v1/signals?rule_id=r1&severity=high&status=open", 3,
                want, n);

    /* time range [from, to), RFC 3339 and Unix ms */
    from = base_ms + 10 * 1000;
    to = base_ms + 40 * 1000;
    n = expected(want, NULL, NULL, NULL, NULL, from, to);
    cr_assert_eq(n, 90);
    rfc3339(from, t1, sizeof(t1));
    rfc3339(to, t2, sizeof(t2));
    snprintf(path, sizeof(path), "/api/v1/signals?from=%s&to=%s", t1, t2);
    check_pages(path, 25, want, n);
    snprintf(path, sizeof(path), "/api/v1/signals?from=%lld&to=%lld",
             (long long) from, (long long) to);
    check_pages(path, 40, want, n);
    {
        /* the same instants written with an offset and a fraction */
        char  o1[40], o2[40];

        rfc3339(from + 3600 * 1000, o1, sizeof(o1));
        rfc3339(to - 90 * 60 * 1000, o2, sizeof(o2));
        strcpy(o1 + 23, "%2B01:00");
        strcpy(o2 + 23, "-01:30");
        snprintf(path, sizeof(path), "/api/v1/signals?from=%s&to=%s", o1,
                 o2);
        check_pages(path, 50, want, n);
    }
    n = expected(want, "r3", NULL, NULL, TRACE_B, from, to);
    snprintf(path, sizeof(path),
             "/api/v1/signals?from=%lld&to=%lld&rule_id=r3&trace_id=%s",
             (long long) from, (long long) to, TRACE_B);
    check_pages(path, 4, want, n);

    /* nothing matches: an empty page, no cursor */
    j = get_ok("/api/v1/signals?rule_id=nosuchrule", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "signals")), 0);
    cr_assert(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);

    /* bad values: 400 naming the parameter */
    expect_error("GET", "/api/v1/signals?limit=0", READ_KEY, NULL, 400,
                 "limit");
    expect_error("GET", "/api/v1/signals?limit=501", READ_KEY, NULL, 400,
                 "limit");
    expect_error("GET", "/api/v1/signals?limit=ten", READ_KEY, NULL, 400,
                 "limit");
    expect_error("GET", "/api/v1/signals?severity=urgent", READ_KEY, NULL,
                 400, "severity");
    expect_error("GET", "/api/v1/signals?status=closed", READ_KEY, NULL, 400,
                 "status");
    expect_error("GET", "/api/v1/signals?trace_id=xyz", READ_KEY, NULL, 400,
                 "trace_id");
    expect_error("GET", "/api/v1/signals?from=yesterday", READ_KEY, NULL, 400,
                 "from");
    expect_error("GET", "/api/v1/signals?to=2026-13-01T00:00:00Z", READ_KEY,
                 NULL, 400, "to");
    expect_error("GET", "/api/v1/signals?from=2000&to=1000", READ_KEY, NULL,
                 400, "from");
    expect_error("GET", "/api/v1/signals?cursor=%21%21nonsense", READ_KEY,
                 NULL, 400, "cursor");
    expect_error("GET", "/api/v1/signals?rule_id=a:b", READ_KEY, NULL, 400,
                 "rule_id");
    expect_error("GET", "/api/v1/signals?severty=high", READ_KEY, NULL, 400,
                 "severty");
    expect_error("GET", "/api/v1/signals/counts?from=0&rule_id=r1",
                 READ_KEY, NULL, 400, "rule_id");

    /* the same code and member for every one of them */
    {
        static const char *const  bad[][2] = {
            { "limit=ten", "limit" }, { "severity=urgent", "severity" },
            { "status=closed", "status" }, { "trace_id=xyz", "trace_id" },
            { "from=yesterday", "from" }, { "to=2026-13-01", "to" },
            { "from=2000&to=1000", "from" },
            { "cursor=%21%21nonsense", "cursor" },
            { "rule_id=a:b", "rule_id" }, { "severty=high", "severty" },
        };
        char    url[128];
        size_t  i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(url, sizeof(url), "/api/v1/signals?%s", bad[i][0]);
            expect_invalid("GET", url, READ_KEY, NULL, "parameter",
                           bad[i][1]);
        }
        expect_invalid("GET", "/api/v1/signals/counts?from=0&rule_id=r1",
                       READ_KEY, NULL, "parameter", "rule_id");
        expect_invalid("GET", "/api/v1/signals/0123456789abcdef?x=1",
                       READ_KEY, NULL, "parameter", "x");
    }

    cr_assert_eq(h_pass(env), 0);
}

/*
 * New signals arriving while a client pages (newer ones push every rank
 * down) and old ones removed by retention never make a page repeat or
 * skip an entry that was there all along.
 */
Test(api_signals, pages_stay_exact_while_signals_change, .fini = teardown,
     .timeout = 120)
{
    static seed_t   want[NSEED + 16];
    redisContext   *c;
    json_t         *j, *sigs, *s;
    char            url[512], cur[256], id[17];
    const char     *cursor;
    int             n, got, k;
    size_t          i;

    start(H_REDIS | H_NGINX);
    seed_signals();
    n = expected(want, NULL, NULL, NULL, NULL, -1, -1);
    c = rconn();

    got = 0;
    cur[0] = '\0';
    for (k = 0;; k++) {
        snprintf(url, sizeof(url), "/api/v1/signals?limit=20%s%s",
                 cur[0] ? "&cursor=" : "", cur);
        j = get_ok(url, 200);
        sigs = json_object_get(j, "signals");
        json_array_foreach(sigs, i, s) {
            cr_assert_str_eq(json_string_value(json_object_get(s, "id")),
                             want[got].id, "entry %d after changes", got);
            got++;
        }
        cursor = json_string_value(json_object_get(j, "next_cursor"));
        if (cursor == NULL) {
            json_decref(j);
            break;
        }
        snprintf(cur, sizeof(cur), "%s", cursor);
        json_decref(j);

        /* three newer signals, and the oldest one retention takes away */
        snprintf(id, sizeof(id), "%016x", 0xf00000 + k);
        put_signal(c, id, "r1", "info", "open", TRACE_A,
                   wall_ms() + k);
        nseeds--;                       /* not part of want[] */
        if (k % 3 == 1) {
            /* retention takes the cursor's own entry: resume by score */
            rdo(c, "ZREM " P "signals %s", want[got - 1].id);
            rdo(c, "DEL " P "signal:%s", want[got - 1].id);
        }
        if (n > got + 1) {
            n--;
            rdo(c, "ZREM " P "signals %s", want[n].id);
            rdo(c, "DEL " P "signal:%s", want[n].id);
        }
    }
    cr_assert_eq(got, n, "%d of %d", got, n);
    redisFree(c);

    cr_assert_eq(h_pass(env), 0);
}


/* --- signals: one, status changes ----------------------------------------- */

Test(api_signals, get_and_status_changes, .fini = teardown, .timeout = 120)
{
    json_t       *j;
    long          st;
    const char   *ack, *res;
    char          ack_at[64];
    const char   *id;

    start(H_REDIS | H_NGINX);
    seed_signals();
    id = seeds[2].id;                   /* i = 2: status open */
    cr_assert_str_eq(seeds[2].status, "open");

    j = get_ok("/api/v1/signals/00000000000051d2", 404);
    json_decref(j);
    expect_error("GET", "/api/v1/signals/no-such-signal", READ_KEY, NULL,
                 404, "no-such-signal");

    {
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/signals/%s", id);
        j = get_ok(path, 200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
        cr_assert_str_eq(json_string_value(json_object_get(j, "status")),
                         "open");
        cr_assert_str_eq(json_string_value(json_object_get(j, "rule_id")),
                         seeds[2].rule);
        cr_assert(json_is_array(json_object_get(j, "witnesses")));
        json_decref(j);

        /* open -> acknowledged records when */
        j = api("PATCH", path, WRITE_KEY, "{\"status\": \"acknowledged\"}",
                &st);
        cr_assert_eq(st, 200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "status")),
                         "acknowledged");
        ack = json_string_value(json_object_get(j, "acknowledged_at"));
        cr_assert_not_null(ack, "acknowledged_at set");
        cr_assert_eq(strlen(ack), 24, "RFC 3339 with ms: %s", ack);
        {
            char  lo[32], hi[32];

            rfc3339(wall_ms() - 5000, lo, sizeof(lo));
            rfc3339(wall_ms() + 5000, hi, sizeof(hi));
            cr_assert(strcmp(ack, lo) > 0 && strcmp(ack, hi) < 0,
                      "acknowledged_at %s is now", ack);
        }
        snprintf(ack_at, sizeof(ack_at), "%s", ack);
        cr_assert(json_is_null(json_object_get(j, "resolved_at")));
        json_decref(j);

        /* stored, not just answered */
        j = get_ok(path, 200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "status")),
                         "acknowledged");
        cr_assert_str_eq(json_string_value(json_object_get(j,
                                           "acknowledged_at")), ack_at);
        json_decref(j);

        /* the same again: 409, the first time is kept */
        expect_error("PATCH", path, WRITE_KEY, "{\"status\":\"acknowledged\"}",
                     409, "already acknowledged");

        /* acknowledged -> resolved */
        j = api("PATCH", path, WRITE_KEY, "{\"status\": \"resolved\"}", &st);
        cr_assert_eq(st, 200);
        res = json_string_value(json_object_get(j, "resolved_at"));
        cr_assert_not_null(res);
        cr_assert_geq(strcmp(res, ack_at), 0, "resolved after acknowledged");
        cr_assert_str_eq(json_string_value(json_object_get(j,
                                           "acknowledged_at")), ack_at);
        json_decref(j);

        /* resolved -> acknowledged is not a move */
        expect_error("PATCH", path, WRITE_KEY, "{\"status\":\"acknowledged\"}",
                     409, "reopen");

        /* resolved -> open reopens: both times cleared */
        j = api("PATCH", path, WRITE_KEY, "{\"status\": \"open\"}", &st);
        cr_assert_eq(st, 200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "status")),
                         "open");
        cr_assert(json_is_null(json_object_get(j, "acknowledged_at")));
        cr_assert(json_is_null(json_object_get(j, "resolved_at")));
        cr_assert(json_is_string(json_object_get(j, "reopened_at")));
        json_decref(j);

        /* open -> resolved directly (a false positive) */
        j = api("PATCH", path, WRITE_KEY, "{\"status\": \"resolved\"}", &st);
        cr_assert_eq(st, 200);
        cr_assert(json_is_string(json_object_get(j, "resolved_at")));
        json_decref(j);

        /* the list filter sees the new status */
        j = get_ok("/api/v1/signals?status=resolved&limit=500", 200);
        {
            size_t   i;
            json_t  *s;
            int      found = 0;

            json_array_foreach(json_object_get(j, "signals"), i, s) {
                found |= strcmp(json_string_value(json_object_get(s, "id")),
                                id) == 0;
            }
            cr_assert(found, "resolved signal listed under status=resolved");
        }
        json_decref(j);

        /* bad bodies */
        expect_error("PATCH", path, WRITE_KEY, "{\"status\": \"closed\"}",
                     400, "status");
        expect_error("PATCH", path, WRITE_KEY, "{\"status\": 3}", 400,
                     "status");
        expect_error("PATCH", path, WRITE_KEY, "{}", 400, "status");
        expect_error("PATCH", path, WRITE_KEY,
                     "{\"status\": \"open\", \"severity\": \"low\"}", 400,
                     "severity");
        expect_invalid("PATCH", path, WRITE_KEY, "{\"status\": \"closed\"}",
                       "field", "status");
        expect_invalid("PATCH", path, WRITE_KEY, "{\"status\": 3}", "field",
                       "status");
        expect_invalid("PATCH", path, WRITE_KEY, "{}", "field", "status");
        expect_invalid("PATCH", path, WRITE_KEY,
                       "{\"status\": \"open\", \"severity\": \"low\"}",
                       "field", "severity");
        expect_error("PATCH", path, WRITE_KEY, "[1]", 400, NULL);
        expect_error("PATCH", path, WRITE_KEY, "{\"status\": ", 400, NULL);
        expect_error("DELETE", path, WRITE_KEY, NULL, 405, "DELETE");
        expect_error("POST", "/api/v1/signals", WRITE_KEY, "{}", 405, NULL);
    }

    expect_error("PATCH", "/api/v1/signals/ffffffffffffffff", WRITE_KEY,
                 "{\"status\": \"acknowledged\"}", 404, "ffffffffffffffff");

    cr_assert_eq(h_pass(env), 0);
}


/* --- traces and counts ---------------------------------------------------- */

Test(api_signals, trace_and_counts, .fini = teardown, .timeout = 120)
{
    redisContext  *c;
    json_t        *j, *sp, *e, *rule;
    const char    *trace =
        "{\"trace_id\":\"" TRACE_A "\",\"reason\":\"idle\",\"spans\":["
        "{\"trace_id\":\"" TRACE_A "\",\"span_id\":\"00f067aa0ba902b7\","
        "\"parent_span_id\":\"\",\"name\":\"GET /\",\"kind\":\"SERVER\","
        "\"status\":\"OK\",\"status_message\":\"\","
        "\"start_ns\":1764087000000000000,\"end_ns\":1764087001000000000,"
        "\"service\":\"shop\",\"scope\":\"http\",\"attributes\":{\"k\":1},"
        "\"resource\":{\"service.name\":\"shop\"},\"events\":[{\"name\":"
        "\"e\",\"time_ns\":1,\"attributes\":{}}],\"links\":[]},"
        "{\"trace_id\":\"" TRACE_A "\",\"span_id\":\"53995c3f42cd8ad8\","
        "\"parent_span_id\":\"00f067aa0ba902b7\",\"name\":\"payment\","
        "\"kind\":\"CLIENT\",\"status\":\"ERROR\",\"status_message\":\"t\","
        "\"start_ns\":1764087000100000000,\"end_ns\":1764087000900000000,"
        "\"service\":\"pay\",\"scope\":\"\",\"attributes\":{},"
        "\"resource\":{},\"events\":[],\"links\":[{\"trace_id\":\""
        TRACE_B "\",\"span_id\":\"53995c3f42cd8ad8\",\"attributes\":{}}]}"
        "]}";
    int64_t        m;
    char           path[256], t1[32], t2[32];
    size_t         i, n;
    json_int_t     sum;

    start(H_REDIS | H_NGINX);
    seed_signals();
    c = rconn();
    rdo(c, "SET " P "trace:%s %s EX 3600", TRACE_A, trace);

    /* the stored trace as it is, with its signals, newest first */
    j = get_ok("/api/v1/traces/" TRACE_A, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "trace_id")),
                     TRACE_A);
    sp = json_object_get(j, "spans");
    cr_assert_eq(json_array_size(sp), 2);
    e = json_array_get(sp, 1);
    cr_assert_str_eq(json_string_value(json_object_get(e, "parent_span_id")),
                     "00f067aa0ba902b7");
    cr_assert_str_eq(json_string_value(json_object_get(e, "kind")), "CLIENT");
    cr_assert_eq(json_array_size(json_object_get(e, "links")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(
                     json_array_get(sp, 0), "attributes"), "k")), 1);
    n = 0;
    for (i = 0; i < (size_t) nseeds; i++) {
        n += strcmp(seeds[i].trace, TRACE_A) == 0;
    }
    cr_assert_eq(json_array_size(json_object_get(j, "signals")), n);
    for (i = 1; i < n; i++) {
        cr_assert_geq(strcmp(json_string_value(json_object_get(
                          json_array_get(json_object_get(j, "signals"),
                                         i - 1), "detected_at")),
                             json_string_value(json_object_get(
                          json_array_get(json_object_get(j, "signals"), i),
                                         "detected_at"))), 0);
    }
    json_decref(j);

    /* uppercase ids are the same trace; unknown 404; malformed 400 */
    j = get_ok("/api/v1/traces/0AF7651916CD43DD8448EB211C80319C", 200);
    json_decref(j);
    expect_error("GET", "/api/v1/traces/" TRACE_B, READ_KEY, NULL, 404,
                 TRACE_B);
    expect_error("GET", "/api/v1/traces/0af7651916cd43dd", READ_KEY, NULL,
                 400, "trace_id");
    expect_invalid("GET", "/api/v1/traces/0af7651916cd43dd", READ_KEY, NULL,
                   "parameter", "trace_id");
    expect_error("DELETE", "/api/v1/traces/" TRACE_A, WRITE_KEY, NULL, 405,
                 NULL);

    /* counts: three minutes of engine-style hashes */
    m = wall_ms() / 60000 - 10;
    rdo(c, "HSET " P "counts:%lld total 5 rule:r1 3 rule:r2 2 "
        "severity:critical 3 severity:high 2", (long long) m);
    rdo(c, "HSET " P "counts:%lld total 1 rule:r3 1 severity:low 1",
        (long long) (m + 2));
    rdo(c, "HSET " P "counts:%lld total 4 rule:r1 1 rule:gone 3 "
        "severity:critical 1 severity:info 3", (long long) (m + 3));
    rdo(c, "HSET " P "counts:%lld total 100 rule:r1 100",
        (long long) (m + 4));    /* outside the range asked */

    rfc3339(m * 60000, t1, sizeof(t1));
    rfc3339((m + 4) * 60000, t2, sizeof(t2));
    snprintf(path, sizeof(path), "/api/v1/signals/counts?from=%s&to=%s",
             t1, t2);
    j = get_ok(path, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "total")), 10);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j,
                     "by_severity"), "critical")), 4);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j,
                     "by_severity"), "info")), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j,
                     "by_severity"), "medium")), 0);
    cr_assert_eq(json_array_size(json_object_get(j, "per_minute")), 4);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(
                     json_object_get(j, "per_minute"), 1), "count")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(
                     json_object_get(j, "per_minute"), 3), "count")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
                         json_object_get(j, "per_minute"), 0), "minute")),
                     t1);
    sum = 0;
    json_array_foreach(json_object_get(j, "by_rule"), i, rule) {
        sum += json_integer_value(json_object_get(rule, "count"));
    }
    cr_assert_eq(sum, 10);
    rule = json_array_get(json_object_get(j, "by_rule"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(rule, "rule_id")),
                     "r1", "largest first");
    cr_assert_eq(json_integer_value(json_object_get(rule, "count")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(rule, "rule_name")),
                     "Payment cascade");
    json_array_foreach(json_object_get(j, "by_rule"), i, rule) {
        if (strcmp(json_string_value(json_object_get(rule, "rule_id")),
                   "gone") == 0)
        {
            cr_assert(json_is_null(json_object_get(rule, "rule_name")),
                      "a deleted rule keeps its count, with no name");
        }
    }
    json_decref(j);

    /* the default range is the last hour; bad ranges are 400 */
    j = get_ok("/api/v1/signals/counts", 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "total")), 110);
    n = json_array_size(json_object_get(j, "per_minute"));
    cr_assert(n == 60 || n == 61, "minutes of the last hour: %zu", n);
    json_decref(j);
    expect_error("GET", "/api/v1/signals/counts?from=0&to=999999999999",
                 READ_KEY, NULL, 400, "7 days");
    expect_error("GET", "/api/v1/signals/counts?from=later", READ_KEY, NULL,
                 400, "from");
    expect_invalid("GET", "/api/v1/signals/counts?from=0&to=999999999999",
                   READ_KEY, NULL, "parameter", "from");
    expect_invalid("GET", "/api/v1/signals/counts?from=later", READ_KEY,
                   NULL, "parameter", "from");

    redisFree(c);
    cr_assert_eq(h_pass(env), 0);
}


/* --- health, stats, metrics ---------------------------------------------- */

/*
 * Every line is a HELP, a TYPE or a sample of a metric that has both, and
 * every sample's value is a number.  Returns the value of sample (the
 * whole text before the value, e.g. "betrace_redis_up"), NAN if absent.
 */
static double
metrics_check(const char *text, const char *sample)
{
    char        *copy, *line, *save, *sp, name[256];
    char         typed[8192] = " ", helped[8192] = " ";
    double       found = NAN, v;
    size_t       k;
    int          nsamples = 0;

    copy = strdup(text);
    for (line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
    {
        if (strncmp(line, "# HELP ", 7) == 0) {
            cr_assert_eq(sscanf(line + 7, "%255s", name), 1);
            cr_assert(strlen(line + 7) > strlen(name) + 1, "help text: %s",
                      line);
            strcat(helped, name);
            strcat(helped, " ");
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char  type[32];

            cr_assert_eq(sscanf(line + 7, "%255s %31s", name, type), 2,
                         "TYPE line: %s", line);
            cr_assert(strcmp(type, "counter") == 0
                      || strcmp(type, "gauge") == 0, "type: %s", line);
            strcat(typed, name);
            strcat(typed, " ");
            continue;
        }
        cr_assert_neq(line[0], '#', "only HELP and TYPE comments: %s", line);
        sp = strrchr(line, ' ');
        cr_assert_not_null(sp, "sample: %s", line);
        {
            char  *end;

            v = strtod(sp + 1, &end);
            cr_assert(end != sp + 1 && *end == '\0', "value: %s", line);
        }
        k = strcspn(line, "{ ");
        snprintf(name, sizeof(name), " %.*s ", (int) k, line);
        cr_assert(strstr(typed, name) != NULL, "TYPE before %s", line);
        cr_assert(strstr(helped, name) != NULL, "HELP before %s", line);
        if (line[k] == '{') {
            cr_assert(strchr(line, '}') != NULL && strchr(line, '}') < sp,
                      "labels: %s", line);
        }
        if (strncmp(line, sample, strlen(sample)) == 0
            && line + strlen(sample) == sp)
        {
            found = v;
        }
        nsamples++;
    }
    free(copy);
    cr_assert_gt(nsamples, 20, "a full set of samples");
    return found;
}

static char *
metrics_get(const char *path, const char *key, long *status)
{
    h_resp_t     r;
    char         auth[256];
    const char  *hdrs[2] = { NULL, NULL };
    char        *body;

    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        hdrs[0] = auth;
    }
    cr_assert_eq(h_http(env, "GET", path, hdrs, NULL, 0, &r), 0);
    *status = r.status;
    if (r.status == 200) {
        cr_assert(strncmp(r.content_type, "text/plain", 10) == 0,
                  "content type %s", r.content_type);
        cr_assert(strstr(r.content_type, "0.0.4") != NULL);
    }
    body = strdup(r.body ? r.body : "");
    h_resp_free(&r);
    return body;
}

Test(api_signals, health_stats_metrics, .fini = teardown, .timeout = 120)
{
    json_t   *j;
    long      st;
    char     *text;
    int64_t   t0, dt;

    start(H_ALL);
    seed_signals();

    /* the engine's never-expiring per-rule counter, P counts:all, is what
       betrace_signals_total shows: here far above what is stored (77),
       as after retention; "gone" is a deleted rule, r2 has no field */
    {
        redisContext  *c = rconn();

        rdo(c, "HSET " P "counts:all rule:r1 1234 rule:r3 9 rule:gone 5 "
            "severity:critical 1000 severity:low 243");
        redisFree(c);
    }

    /* all up */
    j = api("GET", "/api/v1/health", READ_KEY, NULL, &st);
    cr_assert_eq(st, 200, "health: %s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    cr_assert(json_is_true(json_object_get(json_object_get(j, "engine"),
                                           "alive")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j,
                     "engine"), "pid")), env->engine.pid);
    cr_assert_lt(json_integer_value(json_object_get(json_object_get(j,
                     "engine"), "heartbeat_age_ms")), 5000);
    cr_assert(json_is_true(json_object_get(json_object_get(j, "redis"),
                                           "ok")));
    cr_assert(json_is_number(json_object_get(json_object_get(j, "redis"),
                                             "latency_ms")));
    cr_assert(json_is_true(json_object_get(json_object_get(j, "nginx"),
                                           "ring")));
    json_decref(j);

    /* stats through the API, with the engine's rule and signal counters:
       the engine loads the three seeded rules */
    t0 = h_now_ms();
    for (;;) {
        j = get_ok("/api/v1/stats", 200);
        if (json_integer_value(json_object_get(j, "rules_loaded")) == 3
            || h_now_ms() - t0 > 10000)
        {
            break;
        }
        json_decref(j);
        usleep(100 * 1000);
    }
    cr_assert_eq(json_integer_value(json_object_get(j, "rules_loaded")), 3,
                 "rules_loaded");
    cr_assert_eq(json_integer_value(json_object_get(j, "rules_failed")), 0);
    cr_assert(json_is_true(json_object_get(j, "redis_connected")));
    cr_assert(json_is_integer(json_object_get(j, "rules_loaded")));
    cr_assert(json_is_integer(json_object_get(j, "signals_written")));
    cr_assert(json_is_integer(json_object_get(j, "signals_dropped")));
    cr_assert(json_is_integer(json_object_get(j, "evaluations")));
    cr_assert(json_is_boolean(json_object_get(j, "redis_connected")));
    cr_assert(json_is_true(json_object_get(json_object_get(j, "engine"),
                                           "alive")));
    json_decref(j);

    /* metrics: parses; signals per rule from Redis */
    text = metrics_get("/metrics", READ_KEY, &st);
    cr_assert_eq(st, 200);
    cr_assert_eq(metrics_check(text, "betrace_redis_up"), 1);
    cr_assert_eq(metrics_check(text, "betrace_engine_up"), 1);
    cr_assert_eq(metrics_check(text, "betrace_rules_loaded"), 3);
    cr_assert_eq(metrics_check(text, "betrace_engine_redis_connected"), 1);
    cr_assert_eq(metrics_check(text,
        "betrace_signals_stored{rule_id=\"r1\",rule=\"Payment cascade\","
        "severity=\"critical\"}"), 77);
    cr_assert_not_null(strstr(text, "\n# TYPE betrace_signals_total "
                                    "counter\n"));
    cr_assert_eq(metrics_check(text,
        "betrace_signals_total{rule_id=\"r1\",rule=\"Payment cascade\","
        "severity=\"critical\"}"), 1234);
    cr_assert_eq(metrics_check(text,
        "betrace_signals_total{rule_id=\"r2\",rule=\"Login burst\","
        "severity=\"high\"}"), 0);
    cr_assert_eq(metrics_check(text,
        "betrace_signals_total{rule_id=\"r3\",rule=\"Slow query\","
        "severity=\"low\"}"), 9);
    cr_assert(strstr(text, "rule_id=\"gone\"") == NULL,
              "only rules that exist");
    cr_assert_eq(metrics_check(text,
        "betrace_signals_severity_total{severity=\"critical\"}"), 1000);
    cr_assert_eq(metrics_check(text,
        "betrace_signals_severity_total{severity=\"low\"}"), 243);
    /* the engine process's own counter keeps a name of its own */
    cr_assert(!isnan(metrics_check(text, "betrace_signals_written_total")));
    cr_assert(isnan(metrics_check(text, "betrace_signals_total")),
              "no unlabelled betrace_signals_total");
    cr_assert(!isnan(metrics_check(text, "betrace_spans_accepted_total")));
    cr_assert(!isnan(metrics_check(text, "betrace_ring_bytes_total")));
    cr_assert(!isnan(metrics_check(text,
                                   "betrace_requests_total{class=\"2xx\"}")));
    free(text);

    text = metrics_get("/metrics", NULL, &st);
    cr_assert_eq(st, 401);
    free(text);
    text = metrics_get("/metrics", INGEST_KEY, &st);
    cr_assert_eq(st, 403);
    free(text);
    text = metrics_get("/open-metrics", NULL, &st);
    cr_assert_eq(st, 200, "betrace_metrics_auth off");
    free(text);

    /* Redis frozen: health degraded within the Redis timeout (400 ms) */
    cr_assert_eq(kill(env->redis.pid, SIGSTOP), 0);
    t0 = h_now_ms();
    j = api("GET", "/api/v1/health", READ_KEY, NULL, &st);
    dt = h_now_ms() - t0;
    cr_assert_eq(st, 503);
    cr_assert_lt(dt, 1500, "health answered in %lld ms", (long long) dt);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")),
                     "degraded");
    cr_assert(json_is_false(json_object_get(json_object_get(j, "redis"),
                                            "ok")));
    cr_assert(json_is_string(json_object_get(json_object_get(j, "redis"),
                                             "error")));
    cr_assert(json_is_true(json_object_get(json_object_get(j, "engine"),
                                           "alive")), "engine from shm");
    json_decref(j);

    t0 = h_now_ms();
    text = metrics_get("/metrics", READ_KEY, &st);
    dt = h_now_ms() - t0;
    cr_assert_eq(st, 200);
    cr_assert_lt(dt, 1500, "metrics answered in %lld ms", (long long) dt);
    cr_assert_eq(metrics_check(text, "betrace_redis_up"), 0);
    cr_assert(strstr(text, "betrace_signals_stored{") == NULL);
    cr_assert(strstr(text, "betrace_signals_total{") == NULL);
    cr_assert(strstr(text, "betrace_signals_severity_total{") == NULL);
    free(text);

    t0 = h_now_ms();
    expect_error("GET", "/api/v1/signals", READ_KEY, NULL, 503, NULL);
    dt = h_now_ms() - t0;
    cr_assert_lt(dt, 1500, "signals answered in %lld ms", (long long) dt);
    cr_assert_eq(kill(env->redis.pid, SIGCONT), 0);

    /* Redis stopped: 503 at once */
    cr_assert_eq(h_proc_stop(&env->redis), 0);
    t0 = h_now_ms();
    j = api("GET", "/api/v1/health", READ_KEY, NULL, &st);
    dt = h_now_ms() - t0;
    cr_assert_eq(st, 503);
    cr_assert_lt(dt, 500, "health answered in %lld ms", (long long) dt);
    json_decref(j);
    expect_error("GET", "/api/v1/signals/counts", READ_KEY, NULL, 503,
                 "Redis");

    /* and back */
    cr_assert_eq(h_redis_start(env), 0);
    j = api("GET", "/api/v1/health", READ_KEY, NULL, &st);
    cr_assert_eq(st, 200, "healthy again: %s", json_dumps(j, 0));
    json_decref(j);

    cr_assert_eq(h_pass(env), 0);
}


/* --- auth on every route -------------------------------------------------- */

Test(api_signals, auth_on_each_route, .fini = teardown, .timeout = 120)
{
    static const char *const  reads[] = {
        "/api/v1/signals", "/api/v1/signals/counts",
        "/api/v1/signals/0000000000005000", "/api/v1/traces/" TRACE_A,
        "/api/v1/health", "/api/v1/stats", NULL
    };
    const char *const  *p;
    json_t             *j;
    long                st;
    h_resp_t            r;
    char                wa[256];
    const char         *hdrs[] = { "Authorization: Bearer wrong-key", NULL };

    start(H_REDIS | H_NGINX);
    seed_signals();

    for (p = reads; *p; p++) {
        expect_error("GET", *p, NULL, NULL, 401, "API key");
        expect_error("GET", *p, INGEST_KEY, NULL, 403, "read");

        j = api("GET", *p, READ_KEY, NULL, &st);
        cr_assert(st != 401 && st != 403, "%s with a read key: %ld", *p, st);
        json_decref(j);
        j = api("GET", *p, WRITE_KEY, NULL, &st);
        cr_assert(st != 401 && st != 403, "%s with a write key: %ld", *p,
                  st);
        json_decref(j);
    }

    cr_assert_eq(h_http(env, "GET", "/api/v1/signals", hdrs, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 401);
    cr_assert(h_resp_header(&r, "WWW-Authenticate", wa, sizeof(wa)));
    cr_assert(strstr(wa, "Bearer") != NULL);
    h_resp_free(&r);

    /* PATCH needs the write role */
    expect_error("PATCH", "/api/v1/signals/0000000000005000", NULL,
                 "{\"status\": \"acknowledged\"}", 401, NULL);
    expect_error("PATCH", "/api/v1/signals/0000000000005000", READ_KEY,
                 "{\"status\": \"acknowledged\"}", 403, "write");
    j = api("PATCH", "/api/v1/signals/0000000000005000", WRITE_KEY,
            "{\"status\": \"acknowledged\"}", &st);
    cr_assert_eq(st, 200);
    json_decref(j);

    cr_assert_eq(h_pass(env), 0);
}


/* --- bounded work --------------------------------------------------------- */

/*
 * A filter that matches only the oldest of 6,000 signals: one request
 * looks at no more than 5,000 index entries, so the first page comes back
 * early with a cursor and the next finds the rest.
 */
Test(api_signals, rare_filter_pages_in_bounded_steps, .fini = teardown,
     .timeout = 120)
{
    redisContext  *c;
    redisReply    *rep;
    json_t        *j;
    char           id[17], js[512], det[32], url[512], cur[256];
    const char    *cursor;
    int64_t        t0;
    int            i, pages, got, ncmd;

    start(H_REDIS | H_NGINX);
    c = rconn();
    base_ms = wall_ms() - 7200 * 1000;
    ncmd = 0;

    for (i = 0; i < 6000; i++) {
        snprintf(id, sizeof(id), "%016x", 0x100000 + i);
        rfc3339(base_ms + i, det, sizeof(det));
        snprintf(js, sizeof(js),
                 "{\"id\":\"%s\",\"rule_id\":\"%s\",\"severity\":\"%s\","
                 "\"trace_id\":\"" TRACE_B "\",\"detected_at\":\"%s\","
                 "\"status\":\"open\",\"acknowledged_at\":null,"
                 "\"resolved_at\":null}", id, i < 3 ? "r8" : "r9",
                 i < 3 ? "critical" : "info", det);
        redisAppendCommand(c, "SET " P "signal:%s %s", id, js);
        redisAppendCommand(c, "ZADD " P "signals %lld %s",
                           (long long) (base_ms + i), id);
        /* an index whose entries mostly name other rules' signals */
        redisAppendCommand(c, "ZADD " P "signals:rule:r8 %lld %s",
                           (long long) (base_ms + i), id);
        ncmd += 3;
    }
    for (i = 0; i < ncmd; i++) {
        cr_assert_eq(redisGetReply(c, (void **) &rep), REDIS_OK);
        cr_assert_neq(rep->type, REDIS_REPLY_ERROR);
        freeReplyObject(rep);
    }
    redisFree(c);

    /* full pages of the largest size, over more than one batch */
    for (i = 0; i < 2; i++) {
        j = get_ok(i ? "/api/v1/signals?limit=499"
                     : "/api/v1/signals?limit=500", 200);
        cr_assert_eq(json_array_size(json_object_get(j, "signals")),
                     (size_t) (i ? 499 : 500));
        cr_assert(json_is_string(json_object_get(j, "next_cursor")));
        json_decref(j);
    }

    got = 0;
    pages = 0;
    cur[0] = '\0';
    for (;;) {
        snprintf(url, sizeof(url), "/api/v1/signals?severity=critical%s%s",
                 cur[0] ? "&cursor=" : "", cur);
        t0 = h_now_ms();
        j = get_ok(url, 200);
        cr_assert_lt(h_now_ms() - t0, 3000, "a page in bounded time");
        got += (int) json_array_size(json_object_get(j, "signals"));
        pages++;
        if (pages == 1) {
            cr_assert_eq(json_array_size(json_object_get(j, "signals")), 0,
                         "5,000 newest entries hold no critical signal");
            cr_assert(json_is_string(json_object_get(j, "next_cursor")),
                      "an early page says where to go on");
        }
        cursor = json_string_value(json_object_get(j, "next_cursor"));
        if (cursor == NULL) {
            json_decref(j);
            break;
        }
        snprintf(cur, sizeof(cur), "%s", cursor);
        json_decref(j);
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(got, 3, "all three found");
    cr_assert_eq(pages, 2);

    /* the same through a rule's index, with the page-sized batches */
    got = 0;
    pages = 0;
    cur[0] = '\0';
    for (;;) {
        snprintf(url, sizeof(url), "/api/v1/signals?rule_id=r8%s%s",
                 cur[0] ? "&cursor=" : "", cur);
        j = get_ok(url, 200);
        got += (int) json_array_size(json_object_get(j, "signals"));
        pages++;
        cursor = json_string_value(json_object_get(j, "next_cursor"));
        if (cursor == NULL) {
            json_decref(j);
            break;
        }
        snprintf(cur, sizeof(cur), "%s", cursor);
        json_decref(j);
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(got, 3, "all three found through the rule index");
    cr_assert_eq(pages, 2);

    cr_assert_eq(h_pass(env), 0);
}


/* --- concurrent status changes -------------------------------------------- */

typedef struct {
    char    path[128];
    long    status;
} patch_arg_t;

static void *
patch_thread(void *p)
{
    patch_arg_t  *a = p;
    json_t       *j;

    j = api("PATCH", a->path, WRITE_KEY, "{\"status\": \"acknowledged\"}",
            &a->status);
    json_decref(j);
    return NULL;
}

/* Two people acknowledging the same signal at once: one wins, one 409. */
Test(api_signals, concurrent_acknowledge_has_one_winner, .fini = teardown,
     .timeout = 120)
{
    pthread_t    t[4];
    patch_arg_t  a[4];
    json_t      *j;
    int          i, k, ok, conflict;

    start(H_REDIS | H_NGINX);
    seed_signals();
    j = get_ok("/api/v1/signals?status=open&limit=20", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "signals")), 20);

    for (i = 0; i < 20; i++) {
        for (k = 0; k < 4; k++) {
            snprintf(a[k].path, sizeof(a[k].path), "/api/v1/signals/%s",
                     json_string_value(json_object_get(json_array_get(
                         json_object_get(j, "signals"), i), "id")));
            a[k].status = 0;
            cr_assert_eq(pthread_create(&t[k], NULL, patch_thread, &a[k]),
                         0);
        }
        ok = 0;
        conflict = 0;
        for (k = 0; k < 4; k++) {
            pthread_join(t[k], NULL);
            ok += a[k].status == 200;
            conflict += a[k].status == 409;
        }
        cr_assert_eq(ok, 1, "%s: one acknowledgement wins", a[0].path);
        cr_assert_eq(conflict, 3, "%s: the others are told", a[0].path);
    }
    json_decref(j);

    cr_assert_eq(h_pass(env), 0);
}


/* --- hostile input -------------------------------------------------------- */

/*
 * Random and malformed query strings and path ids on every read route:
 * each gets a JSON answer of 200, 400 or 404, and no nginx worker dies.
 */
Test(api_signals, hostile_queries_get_clean_answers, .fini = teardown,
     .timeout = 120)
{
    static const char *const  names[] = {
        "rule_id", "severity", "status", "trace_id", "from", "to", "limit",
        "cursor", "", "x", "limit[]", "%00", "from%3D"
    };
    static const char *const  values[] = {
        "", "0", "-1", "500", "501", "99999999999999999999", "1e3",
        "critical", "open", "r1", TRACE_A, "%00", "%ff%fe", "a%2Fb",
        "2026-02-30T00:00:00Z", "2026-11-25T16:30:00.123456789+14:00",
        "2026-11-25T16:30:00", "9999-12-31T23:59:59Z", "+", "%2B%2B",
        "MTc5NTYyNTkzOTYwMi5jYzU0NjIzYmRlNDBhYTI3", "LjE", "Ljk5OTk5OTk",
        "MTIzLg", "..", "\xc3\xa9t\xc3\xa9",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    };
    static const char *const  routes[] = {
        "/api/v1/signals", "/api/v1/signals/counts", "/api/v1/traces/",
        "/api/v1/signals/"
    };
    char          url[2048], *log, logpath[PATH_MAX + 16];
    json_t       *j;
    long          st;
    int           i, k, n, r;
    unsigned int  seed = 42;

    start(H_REDIS | H_NGINX);
    seed_signals();

    for (i = 0; i < 400; i++) {
        r = rand_r(&seed) % 4;
        n = snprintf(url, sizeof(url), "%s", routes[r]);
        if (r >= 2) {
            const char  *v;

            /* nginx itself refuses %00 in a path, before any location */
            do {
                v = values[rand_r(&seed) % (sizeof(values)
                                            / sizeof(values[0]))];
            } while (strstr(v, "%00") != NULL);
            n += snprintf(url + n, sizeof(url) - n, "%s", v);
            if (url[n - 1] == '/') {
                n += snprintf(url + n, sizeof(url) - n, "z");
            }
        }
        url[n++] = '?';
        url[n] = '\0';
        for (k = rand_r(&seed) % 5; k > 0; k--) {
            n += snprintf(url + n, sizeof(url) - n, "%s=%s&",
                          names[rand_r(&seed) % (sizeof(names)
                                                 / sizeof(names[0]))],
                          values[rand_r(&seed) % (sizeof(values)
                                                  / sizeof(values[0]))]);
        }
        for (k = 0; url[k]; k++) {
            if (url[k] == ' ') {
                url[k] = '+';
            }
        }

        j = api("GET", url, READ_KEY, NULL, &st);
        cr_assert(st == 200 || st == 400 || st == 404,
                  "GET %s: %ld", url, st);
        cr_assert_not_null(j, "GET %s: JSON", url);
        if (st != 200) {
            cr_assert(json_is_string(json_object_get(json_object_get(j,
                          "error"), "message")), "GET %s: error", url);
        }
        if (st == 400) {
            /* a bad value is named, never "(message not representable)" */
            cr_assert(strchr(json_string_value(json_object_get(
                          json_object_get(j, "error"), "message")), ':')
                      != NULL, "GET %s: %s", url,
                      json_string_value(json_object_get(
                          json_object_get(j, "error"), "message")));
        }
        json_decref(j);
    }

    snprintf(logpath, sizeof(logpath), "%s/error.log", env->dir);
    log = h_read_file(logpath, NULL);
    cr_assert_not_null(log);
    cr_assert(strstr(log, "exited on signal") == NULL,
              "no worker crashed");
    free(log);

    cr_assert_eq(h_pass(env), 0);
}
