/*
 * test_e2e_rules.c - the acceptance test of issue 4: rules to signals, end
 * to end, through the real parts.
 *
 * Redis, betrace-engine and nginx with the module and its REST API run on
 * loopback with API keys on.  The four rules of DSL.md are created through
 * POST /api/v1/rules (the fourth with the README's curl command, run as
 * written plus the key header); t/js/send-rule-traces.mjs exports, with the
 * OpenTelemetry JavaScript SDK, one trace each rule must fire on and the
 * near misses it must stay quiet on.  Then, through the API only:
 *
 *   - GET /api/v1/signals holds exactly one signal per expected (rule,
 *     trace), with the rule's id, name and severity, the trace id, the root
 *     span and the witness span ids, and nothing for any near miss; the
 *     TIMEOUT rule (saved with a warning) never fires on real statuses;
 *   - filters by rule, severity, status and trace id select the right ones;
 *   - GET/PATCH /api/v1/signals/{id}: open -> acknowledged -> resolved,
 *     each time recorded;
 *   - GET /api/v1/traces/{trace_id}: every span of the trace, and its
 *     signals; a near miss's trace is not stored (404);
 *   - counts by rule, by severity and per minute; /metrics per rule;
 *   - no key: 401, read key on a write route: 403;
 *   - after a restart of Redis, the engine and nginx the rules and signals
 *     are all there and the rules run again;
 *   - a rule changed, disabled, enabled and deleted over the API while
 *     traffic flows takes effect within a second, and only traces sent
 *     after each change see it;
 *   - with betrace_otlp_auth on, the SDK's JSON exporter sending an ingest
 *     key gives the same signals, and an export without a key gets 401.
 */

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <hiredis/hiredis.h>

#include "t/lib/harness.h"
#include "t/lib/harness_otlp.h"

/* Waits are long: two shared cores, and a trace completes after IDLE_MS. */
#define IDLE_MS         1000
#define WAIT_MS         45000
#define NTRACES         8

/* The keys, and the SHA-256 of each as the key file holds it. */
#define WRITE_KEY       "e2e-write-key"
#define WRITE_KEY_SHA   "dc77c4f4cfa5e1023a34a171c53f90c0" \
                        "0182d409f4d9ecdba93c261d180356a3"
#define INGEST_KEY      "e2e-ingest-key"
#define INGEST_KEY_SHA  "ed05c8e4e1e2c3e012194a11f7ce7e60" \
                        "5c1d66d566f322d3d29132b00d7b8c91"
#define READ_KEY        "e2e-read-key"
#define READ_KEY_SHA    "366c6adfb8e580cd014f081a70eb1596" \
                        "c6861eb8dfa6fdfa8c323084c47a0e14"

/* The rules of DSL.md, in its order.  R_TIMEOUT is created with curl. */
enum { R_AUTH, R_PII, R_SLOWDB, R_TIMEOUT, NRULES };

static const struct {
    const char  *name;
    const char  *severity;
    const char  *dsl;
} rules[NRULES] = {
    { "Auth retry storm", "high",
      "// Auth retry storm: a failed and a successful login within 5 s\n"
      "trace.has(span => span.name === 'auth.login' && "
      "span.status === 'ERROR')\n"
      "  .and(trace.has(span => span.name === 'auth.login' && "
      "span.status === 'OK'))\n"
      "  .within('5 seconds')" },
    { "PII accessed without audit log", "critical",
      "trace.has(span => span.attributes['data.contains_pii'] === true)\n"
      "  .and(trace.missing(span => span.name === 'audit.log'))" },
    { "Slow database query in payment flow", "medium",
      "trace.where(span => span.name.startsWith('payment'))\n"
      "  .has(span => span.name.includes('db.query') && "
      "span.duration > 1000)" },
    { "Detect payment timeout cascade", "critical", NULL },
};

/* The README's example, as written there (host and port aside). */
static const char  readme_curl[] =
    "curl -X POST http://localhost:%d/api/v1/rules \\\n"
    "  -H \"Content-Type: application/json\" \\\n"
    "  -H \"Authorization: Bearer " WRITE_KEY "\" \\\n"
    "  -d '{\"name\": \"Detect payment timeout cascade\",\n"
    "       \"dsl\": \"trace.where(span => "
    "span.name.startsWith(\\\"payment\\\"))"
    ".has(span => span.status === \\\"TIMEOUT\\\")\",\n"
    "       \"severity\": \"critical\"}'";

static h_env_t  *env;

/* What one scenario produced. */
typedef struct {
    char         rule_id[NRULES][128];
    json_t      *sent;                  /* send-rule-traces.mjs output */
    json_t      *signals;               /* GET /api/v1/signals, the array */
} scenario_t;


/* --- setup --------------------------------------------------------------- */

/* Exporter and OTLP auth of the next scenario (set by each suite's init). */
static const char  *exporter = "proto";
static int          ingest_auth;

static void
start_with(int otlp_auth)
{
    static char   http_extra[PATH_MAX * 2 + 256];
    static const h_opts_t  opts = {
        .idle_ms = IDLE_MS,
        .server_extra = "location /api/v1/ { betrace_api; }\n"
                        "        location = /metrics { betrace_metrics; }",
    };
    char          keys[PATH_MAX + 16];
    FILE         *f;

    env = h_env_new(&opts);
    cr_assert_not_null(env);

    snprintf(keys, sizeof(keys), "%s/api_keys", env->dir);
    f = fopen(keys, "w");
    cr_assert_not_null(f);
    fprintf(f, "# sha256(key) role name\n"
            WRITE_KEY_SHA " write e2e-writer\n"
            READ_KEY_SHA " read e2e-reader\n"
            INGEST_KEY_SHA " ingest e2e-collector\n");
    fclose(f);

    snprintf(http_extra, sizeof(http_extra),
             "betrace_redis unix:%s;\n"
             "    betrace_api_keys %s;\n"
             "    betrace_otlp_auth %s;", env->redis_sock, keys,
             otlp_auth ? "on" : "off");
    ingest_auth = otlp_auth;
    env->opts.http_extra = http_extra;

    if (h_redis_start(env) != 0 || h_engine_start(env) != 0
        || h_nginx_start(env) != 0)
    {
        h_env_free(env);
        env = NULL;
        cr_assert_fail("redis, engine and nginx with the API start");
    }
}

static void
start_all(void)
{
    exporter = "proto";
    start_with(0);
}

/* OTLP/JSON through the SDK's JSON exporter, with an ingest key required. */
static void
start_all_json_ingest_key(void)
{
    exporter = "json";
    start_with(1);
}

static void
stop_all(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(e2e_rules, .init = start_all, .fini = stop_all, .timeout = 240);


/* --- helpers ------------------------------------------------------------- */

static void
sleep_ms(int ms)
{
    struct timespec  ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/*
 * One API call with key (NULL: none) and a JSON body (NULL: none).  Returns
 * the parsed response body (NULL when empty or not JSON) and the status in
 * *status.  Every answer of the API must be JSON, errors included, so a
 * non-empty body that does not parse fails the test.
 */
static json_t *
api(const char *method, const char *key, const char *body, long *status,
    const char *pathfmt, ...)
{
    char          path[1024], auth[256];
    const char   *hdrs[3];
    va_list       ap;
    h_resp_t      r;
    json_t       *j = NULL;
    json_error_t  je;
    int           n = 0;

    va_start(ap, pathfmt);
    vsnprintf(path, sizeof(path), pathfmt, ap);
    va_end(ap);

    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        hdrs[n++] = auth;
    }
    if (body) {
        hdrs[n++] = "Content-Type: application/json";
    }
    hdrs[n] = NULL;

    cr_assert_eq(h_http(env, method, path, hdrs, body, body ? strlen(body) : 0,
                        &r), 0, "%s %s: no response", method, path);
    *status = r.status;
    if (r.len > 0) {
        j = json_loadb(r.body, r.len, 0, &je);
        cr_assert_not_null(j, "%s %s -> %ld: not JSON (%s): %.300s", method,
                           path, r.status, je.text, r.body);
        cr_assert(strncmp(r.content_type, "application/json", 16) == 0,
                  "%s %s: Content-Type %s", method, path, r.content_type);
    }
    h_resp_free(&r);
    return j;
}

/* api() that must answer want; returns the body (asserted non-NULL). */
static json_t *
api_ok(const char *method, const char *key, const char *body, long want,
    const char *pathfmt, ...)
{
    char     path[1024];
    va_list  ap;
    long     st;
    json_t  *j;
    char    *dump;

    va_start(ap, pathfmt);
    vsnprintf(path, sizeof(path), pathfmt, ap);
    va_end(ap);

    j = api(method, key, body, &st, "%s", path);
    if (st != want) {
        dump = j ? json_dumps(j, 0) : NULL;
        cr_assert_fail("%s %s: status %ld, expected %ld: %s", method, path,
                       st, want, dump ? dump : "(no body)");
    }
    cr_assert_not_null(j, "%s %s: no body", method, path);
    return j;
}

/* The error object of a failure answer must be {"error": {code, message}}. */
static void
expect_error(json_t *j, const char *what)
{
    json_t  *e = json_object_get(j, "error");

    cr_assert(json_is_object(e), "%s: no error object", what);
    cr_assert(json_is_string(json_object_get(e, "code")), "%s: error.code",
              what);
    cr_assert(json_is_string(json_object_get(e, "message")),
              "%s: error.message", what);
}

static const char *
jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Runs a shell command; returns its stdout (malloc'd), asserts exit 0. */
static char *
run(const char *cmd)
{
    FILE    *p;
    char    *out = NULL, chunk[4096];
    size_t   cap = 0, len = 0, n;
    int      st;

    p = popen(cmd, "r");
    cr_assert_not_null(p, "popen(%s)", cmd);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            out = realloc(out, cap);
            cr_assert_not_null(out);
        }
        memcpy(out + len, chunk, n);
        len += n;
    }
    st = pclose(p);
    if (out == NULL) {
        out = strdup("");
    }
    out[len] = '\0';
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "command failed (status %d): %s\n%.500s", st, cmd, out);
    return out;
}

/* The signal id the contract names: hex of SHA-1(rule id ":" trace id)[:8]. */
static void
signal_id(const char *rule_id, const char *trace_id, char out[17])
{
    char  cmd[512], *o;

    snprintf(cmd, sizeof(cmd), "printf '%%s' '%s:%s' | sha1sum", rule_id,
             trace_id);
    o = run(cmd);
    cr_assert(strlen(o) >= 16);
    memcpy(out, o, 16);
    out[16] = '\0';
    free(o);
}

/* Reads a key of the engine's Redis directly (NULL if absent). */
static char *
redis_get(const char *key)
{
    redisContext  *c;
    redisReply    *rep;
    char          *v = NULL;

    c = redisConnectUnix(env->redis_sock);
    cr_assert(c != NULL && c->err == 0, "connect to redis");
    rep = redisCommand(c, "GET %s", key);
    if (rep && rep->type == REDIS_REPLY_STRING) {
        v = strdup(rep->str);
    }
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

/* GET /api/v1/stats with the read key (it is an API route: auth applies). */
static json_t *
get_stats(void)
{
    long  st;

    return api("GET", READ_KEY, NULL, &st, "/api/v1/stats");
}

static uint64_t
stat_u(json_t *stats, const char *k)
{
    return (uint64_t) json_integer_value(json_object_get(stats, k));
}


/* --- the scenario -------------------------------------------------------- */

/* POST /api/v1/rules for rules[i] (i != R_TIMEOUT); keeps the id. */
static void
create_rule(scenario_t *sc, int i)
{
    json_t      *body, *j;
    char        *text;

    body = json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "name", rules[i].name,
                     "description", "DSL.md rule, end-to-end test",
                     "dsl", rules[i].dsl, "severity", rules[i].severity,
                     "tags", "e2e");
    cr_assert_not_null(body);
    text = json_dumps(body, 0);
    j = api_ok("POST", WRITE_KEY, text, 201, "/api/v1/rules");
    free(text);
    json_decref(body);

    cr_assert(json_is_string(json_object_get(j, "id")), "rule id");
    snprintf(sc->rule_id[i], sizeof(sc->rule_id[i]), "%s", jstr(j, "id"));
    cr_assert_str_eq(jstr(j, "name"), rules[i].name);
    cr_assert_str_eq(jstr(j, "dsl"), rules[i].dsl);
    cr_assert_str_eq(jstr(j, "severity"), rules[i].severity);
    cr_assert(json_is_true(json_object_get(j, "enabled")),
              "enabled by default");
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 1);
    cr_assert(json_is_string(json_object_get(j, "created_at")));
    cr_assert(json_is_string(json_object_get(j, "updated_at")));
    json_decref(j);
}

/* The README's curl command, run by the shell as a user would. */
static void
create_rule_with_curl(scenario_t *sc)
{
    char          cmd[2048], *out, *nl;
    json_t       *j, *w;
    json_error_t  je;
    long          code;
    char         *dump;

    snprintf(cmd, sizeof(cmd) - 64, readme_curl, env->http_port);
    strcat(cmd, " -s -w '\\n%{http_code}'");
    out = run(cmd);
    nl = strrchr(out, '\n');
    cr_assert_not_null(nl, "curl output: %s", out);
    *nl = '\0';
    code = strtol(nl + 1, NULL, 10);
    cr_assert_eq(code, 201, "README curl example: status %ld: %s", code, out);
    j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "README curl example: %s: %s", je.text, out);
    free(out);

    cr_assert_str_eq(jstr(j, "name"), rules[R_TIMEOUT].name);
    cr_assert_str_eq(jstr(j, "severity"), "critical");
    cr_assert_str_eq(jstr(j, "dsl"),
                     "trace.where(span => span.name.startsWith(\"payment\"))"
                     ".has(span => span.status === \"TIMEOUT\")");
    snprintf(sc->rule_id[R_TIMEOUT], sizeof(sc->rule_id[R_TIMEOUT]), "%s",
             jstr(j, "id"));
    cr_assert(sc->rule_id[R_TIMEOUT][0], "rule id");

    /* saved, with the checker's warning about TIMEOUT */
    w = json_object_get(j, "warnings");
    dump = json_dumps(j, 0);
    cr_assert(json_is_array(w) && json_array_size(w) >= 1,
              "the TIMEOUT rule is saved with a warning: %s", dump);
    cr_assert(strstr(dump, "TIMEOUT") != NULL, "the warning names TIMEOUT");
    free(dump);
    json_decref(j);
}

/*
 * Waits until the engine has loaded every rule: P rule:<id>:status says
 * "active" for each (the engine reloads within a second of a change).
 */
static void
wait_rules_active(scenario_t *sc)
{
    char          key[256], *v = NULL;
    json_t       *st;
    int64_t       deadline = h_now_ms() + WAIT_MS;
    int           i, active;

    for ( ;; ) {
        active = 0;
        for (i = 0; i < NRULES; i++) {
            snprintf(key, sizeof(key), "betrace:rule:%s:status",
                     sc->rule_id[i]);
            v = redis_get(key);
            st = v ? json_loads(v, 0, NULL) : NULL;
            if (st && strcmp(jstr(st, "state") ? jstr(st, "state") : "",
                             "active") == 0)
            {
                active++;
            }
            json_decref(st);
            free(v);
        }
        if (active == NRULES) {
            return;
        }
        cr_assert(h_now_ms() < deadline, "%d of %d rules active in the "
                  "engine after %d ms", active, NRULES, WAIT_MS);
        sleep_ms(100);
    }
}

static json_t *
run_sdk(void)
{
    char          cmd[PATH_MAX * 2 + 256], js[PATH_MAX + 32], *out;
    json_t       *j;
    json_error_t  je;

    snprintf(js, sizeof(js), "%s/t/js/node_modules", env->root);
    cr_assert_eq(access(js, R_OK), 0, "%s is missing: run scripts/deps.sh "
                 "--test", js);
    snprintf(cmd, sizeof(cmd),
             "node '%s/t/js/send-rule-traces.mjs' "
             "http://127.0.0.1:%d/v1/traces %s %s", env->root,
             env->http_port, exporter, ingest_auth ? INGEST_KEY : "");
    out = run(cmd);
    j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "send-rule-traces.mjs output: %s: %s", je.text,
                       out);
    free(out);
    cr_assert(json_is_true(json_object_get(j, "ok")));
    cr_assert_eq(json_object_size(json_object_get(j, "traces")), NTRACES);
    return j;
}

/* GET /api/v1/signals (with a query string) -> the "signals" array. */
static json_t *
list_signals(const char *query)
{
    json_t  *j, *a;

    j = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/signals%s%s",
               query ? "?" : "", query ? query : "");
    a = json_object_get(j, "signals");
    cr_assert(json_is_array(a), "GET /api/v1/signals: a \"signals\" array");
    json_incref(a);
    json_decref(j);
    return a;
}

/* GET /api/v1/signals?limit=1&cursor=C -> the "signals" array. */
static json_t *
list_signals_page(const char *cursor)
{
    char  q[512];

    snprintf(q, sizeof(q), "limit=1&cursor=%s", cursor);
    return list_signals(q);
}

/*
 * Creates the rules, waits until the engine has them, sends the traces,
 * waits until the engine has completed and evaluated all of them and the
 * signals are in Redis, and reads the signal list.
 */
static void
scenario(scenario_t *sc)
{
    json_t    *stats = NULL;
    int64_t    deadline;
    int        i;
    uint64_t   c0 = 0;

    memset(sc, 0, sizeof(*sc));
    for (i = 0; i < NRULES; i++) {
        if (i == R_TIMEOUT) {
            create_rule_with_curl(sc);
        } else {
            create_rule(sc, i);
        }
    }
    wait_rules_active(sc);

    stats = get_stats();
    cr_assert_not_null(stats);
    c0 = stat_u(stats, "traces_completed");
    json_decref(stats);

    sc->sent = run_sdk();

    /* every trace completed and evaluated, no signal still queued */
    deadline = h_now_ms() + WAIT_MS;
    for ( ;; ) {
        stats = get_stats();
        cr_assert_not_null(stats);
        if (stat_u(stats, "traces_completed") >= c0 + NTRACES
            && (json_object_get(stats, "signals_pending") == NULL
                || stat_u(stats, "signals_pending") == 0))
        {
            json_decref(stats);
            break;
        }
        cr_assert(h_now_ms() < deadline, "%llu of %d traces completed",
                  (unsigned long long) (stat_u(stats, "traces_completed")
                                        - c0), NTRACES);
        json_decref(stats);
        sleep_ms(100);
    }

    /* the I/O thread writes after the evaluation: wait for the three */
    deadline = h_now_ms() + WAIT_MS;
    for ( ;; ) {
        sc->signals = list_signals(NULL);
        if (json_array_size(sc->signals) >= 3
            || h_now_ms() > deadline)
        {
            break;
        }
        json_decref(sc->signals);
        sleep_ms(100);
    }
    /* and a little longer, so a wrong extra signal has time to show up */
    json_decref(sc->signals);
    sleep_ms(IDLE_MS);
    sc->signals = list_signals(NULL);
}

static void
scenario_free(scenario_t *sc)
{
    json_decref(sc->sent);
    json_decref(sc->signals);
}

static json_t *
sent_trace(scenario_t *sc, const char *name)
{
    json_t  *t = json_object_get(json_object_get(sc->sent, "traces"), name);

    cr_assert_not_null(t, "sent trace %s", name);
    return t;
}

static const char *
sent_tid(scenario_t *sc, const char *name)
{
    return jstr(sent_trace(sc, name), "trace_id");
}

static const char *
sent_span(scenario_t *sc, const char *name, const char *label)
{
    const char  *s;

    s = jstr(json_object_get(sent_trace(sc, name), "spans"), label);
    cr_assert_not_null(s, "span %s of %s", label, name);
    return s;
}

/* The signal of (rule, trace) in a list, or NULL. */
static json_t *
find_signal(json_t *list, const char *rule_id, const char *trace_id)
{
    json_t  *s;
    size_t   i;

    json_array_foreach(list, i, s) {
        if (strcmp(jstr(s, "rule_id") ? jstr(s, "rule_id") : "", rule_id) == 0
            && strcmp(jstr(s, "trace_id") ? jstr(s, "trace_id") : "",
                      trace_id) == 0)
        {
            return s;
        }
    }
    return NULL;
}

/* Witness group g of a signal is exactly the span ids given (NULL-ended). */
static void
expect_witnesses(json_t *sig, size_t ngroups, size_t g, ...)
{
    json_t      *w = json_object_get(sig, "witnesses"), *grp;
    va_list      ap;
    const char  *id;
    size_t       n = 0, k;
    int          found;

    cr_assert(json_is_array(w), "signal %s: witnesses", jstr(sig, "id"));
    cr_assert_eq(json_array_size(w), ngroups, "signal %s (%s): %zu witness "
                 "groups, expected %zu", jstr(sig, "id"),
                 jstr(sig, "rule_name"), json_array_size(w), ngroups);
    grp = json_array_get(w, g);
    cr_assert(json_is_array(grp));
    va_start(ap, g);
    while ((id = va_arg(ap, const char *)) != NULL) {
        n++;
        found = 0;
        for (k = 0; k < json_array_size(grp); k++) {
            if (strcmp(json_string_value(json_array_get(grp, k)), id) == 0) {
                found = 1;
            }
        }
        cr_assert(found, "signal %s (%s): span %s is a witness of clause "
                  "%zu", jstr(sig, "id"), jstr(sig, "rule_name"), id, g);
    }
    va_end(ap);
    cr_assert_eq(json_array_size(grp), n, "signal %s (%s): clause %zu has "
                 "%zu witnesses, expected %zu", jstr(sig, "id"),
                 jstr(sig, "rule_name"), g, json_array_size(grp), n);
}

/* count of rule_id in a by_rule array of {rule_id, count} (0 if absent) */
static json_int_t
rule_count(json_t *by_rule, const char *rule_id)
{
    json_t  *e;
    size_t   i;

    json_array_foreach(by_rule, i, e) {
        if (strcmp(jstr(e, "rule_id") ? jstr(e, "rule_id") : "", rule_id)
            == 0)
        {
            return json_integer_value(json_object_get(e, "count"));
        }
    }
    return 0;
}

/*
 * GET /metrics (read key): the betrace_signals_stored gauge and the
 * betrace_signals_total counter (the engine's P counts:all) of rule_id,
 * each with its severity label, are both n (0: no sample, or a 0 one):
 * nothing has been retired here, so every signal ever made is stored.
 */
static void
metrics_expect(const char *rule_id, const char *severity, int n)
{
    static const char *const  names[] = {
        "betrace_signals_stored", "betrace_signals_total"
    };
    char         auth[128], want[256];
    const char  *hdrs[] = { auth, NULL };
    const char  *p, *eol;
    h_resp_t     r;
    int          got;
    size_t       k;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", READ_KEY);
    cr_assert_eq(h_http(env, "GET", "/metrics", hdrs, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200, "GET /metrics: %ld %.200s", r.status,
                 r.body);
    cr_assert(strncmp(r.content_type, "text/plain", 10) == 0,
              "GET /metrics: %s", r.content_type);
    cr_assert_not_null(strstr(r.body, "\nbetrace_signals_written_total "),
                       "betrace_signals_written_total");
    cr_assert_not_null(strstr(r.body, "\n# TYPE betrace_signals_total "
                                      "counter\n"));
    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        snprintf(want, sizeof(want), "\n%s{rule_id=\"%s\",", names[k],
                 rule_id);
        got = 0;
        for (p = r.body; (p = strstr(p, want)) != NULL; p = eol) {
            eol = strchr(p + 1, '\n');
            cr_assert_not_null(eol);
            cr_assert(memmem(p, eol - p, severity, strlen(severity)) != NULL,
                      "severity %s in %.*s", severity, (int) (eol - p), p);
            got = atoi(memrchr(p, ' ', eol - p) + 1);
        }
        cr_assert_eq(got, n, "%s of rule %s: %d, expected %d", names[k],
                     rule_id, got, n);
    }
    h_resp_free(&r);
}

/* The fields every signal carries (DSL.md, docs/internals.md). */
static void
expect_signal(scenario_t *sc, json_t *sig, int rule, const char *trace,
    const char *root_name)
{
    char  sid[17];

    cr_assert_not_null(sig, "a signal of rule '%s' on trace %s (%s)",
                       rules[rule].name, sent_tid(sc, trace), trace);
    signal_id(sc->rule_id[rule], sent_tid(sc, trace), sid);
    cr_assert_str_eq(jstr(sig, "id"), sid, "signal id = SHA-1(rule:trace)");
    cr_assert_str_eq(jstr(sig, "rule_name"), rules[rule].name);
    cr_assert_str_eq(jstr(sig, "severity"), rules[rule].severity);
    cr_assert_eq(json_integer_value(json_object_get(sig, "rule_version")), 1);
    cr_assert_str_eq(jstr(sig, "root_name"), root_name);
    cr_assert_str_eq(jstr(sig, "root_service"),
                     jstr(sc->sent, "service"));
    cr_assert_str_eq(jstr(sig, "status"), "open");
    cr_assert(json_is_string(json_object_get(sig, "trace_start")));
    cr_assert(json_is_string(json_object_get(sig, "detected_at")));
    cr_assert(json_is_string(json_object_get(sig, "message"))
              && strlen(jstr(sig, "message")) > 0, "a message");
    cr_assert(json_is_null(json_object_get(sig, "acknowledged_at")));
    cr_assert(json_is_null(json_object_get(sig, "resolved_at")));
}


/* --- tests --------------------------------------------------------------- */

/* Exactly the three expected signals in sc->signals, right to the span. */
static void
expect_exact_signals(scenario_t *sc)
{
    json_t      *sig, *s;
    size_t       i;
    char        *dump;
    const char  *t;

    dump = json_dumps(sc->signals, JSON_INDENT(1));
    cr_assert_eq(json_array_size(sc->signals), 3, "exactly three signals "
                 "(auth storm, PII without audit, slow query in payment); "
                 "got %s", dump);
    free(dump);

    sig = find_signal(sc->signals, sc->rule_id[R_AUTH],
                      sent_tid(sc, "auth_storm"));
    expect_signal(sc, sig, R_AUTH, "auth_storm", "POST /login");
    expect_witnesses(sig, 2, 0, sent_span(sc, "auth_storm", "bad"), NULL);
    expect_witnesses(sig, 2, 1, sent_span(sc, "auth_storm", "good"), NULL);

    sig = find_signal(sc->signals, sc->rule_id[R_PII],
                      sent_tid(sc, "pii_no_audit"));
    expect_signal(sc, sig, R_PII, "pii_no_audit", "GET /customer/42");
    expect_witnesses(sig, 1, 0, sent_span(sc, "pii_no_audit", "load"), NULL);

    sig = find_signal(sc->signals, sc->rule_id[R_SLOWDB],
                      sent_tid(sc, "payment_slow_db"));
    expect_signal(sc, sig, R_SLOWDB, "payment_slow_db", "payment.process");
    expect_witnesses(sig, 1, 0, sent_span(sc, "payment_slow_db", "db"),
                     NULL);

    /* the near misses and the TIMEOUT trace: nothing, from any rule */
    json_array_foreach(sc->signals, i, s) {
        t = jstr(s, "trace_id");
        cr_assert(strcmp(t, sent_tid(sc, "auth_near_miss")) != 0,
                  "logins 10 s apart raised %s", jstr(s, "rule_name"));
        cr_assert(strcmp(t, sent_tid(sc, "pii_audited")) != 0,
                  "PII with an audit log raised %s", jstr(s, "rule_name"));
        cr_assert(strcmp(t, sent_tid(sc, "payment_fast_db")) != 0,
                  "a fast query raised %s", jstr(s, "rule_name"));
        cr_assert(strcmp(t, sent_tid(sc, "slow_db_outside")) != 0,
                  "a slow query outside the payment flow raised %s",
                  jstr(s, "rule_name"));
        cr_assert(strcmp(jstr(s, "rule_id"), sc->rule_id[R_TIMEOUT]) != 0,
                  "the TIMEOUT rule fired (on %s): no OTel status is TIMEOUT",
                  t);
    }
}

Test(e2e_rules, each_rule_fires_on_its_trace_and_never_on_a_near_miss)
{
    scenario_t   sc;
    json_t      *j;
    int64_t      deadline;

    scenario(&sc);
    expect_exact_signals(&sc);

    /* every process restarted: the rules and signals are still there,
       and the engine runs the rules again */
    cr_assert_eq(h_proc_stop(&env->nginx) >= 0
                 && h_proc_stop(&env->engine) >= 0
                 && h_proc_stop(&env->redis) >= 0, 1, "stop all");
    cr_assert_eq(h_redis_start(env), 0);
    cr_assert_eq(h_engine_start(env), 0);
    cr_assert_eq(h_nginx_start(env), 0);
    j = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/rules");
    cr_assert_eq(json_array_size(json_object_get(j, "rules")), NRULES,
                 "the rules survive a restart of every process");
    json_decref(j);
    /* the new engine's own counter: it starts at zero */
    deadline = h_now_ms() + WAIT_MS;
    for ( ;; ) {
        j = get_stats();
        cr_assert_not_null(j);
        if (stat_u(j, "rules_loaded") == NRULES) {
            json_decref(j);
            break;
        }
        cr_assert(h_now_ms() < deadline, "the restarted engine runs %llu "
                  "of %d rules", (unsigned long long) stat_u(j,
                  "rules_loaded"), NRULES);
        json_decref(j);
        sleep_ms(100);
    }
    j = list_signals(NULL);
    cr_assert(json_equal(j, sc.signals), "the signals survive a restart");
    json_decref(j);

    scenario_free(&sc);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(e2e_rules, signal_filters_lifecycle_trace_view_and_counts)
{
    scenario_t   sc;
    json_t      *sig, *list, *j, *spans, *tsigs, *s, *counts, *c;
    char         q[512], sid[17], cursor[256], *dump;
    const char  *tid, *label, *span_id, *ack;
    size_t       i;
    long         st;
    int          found;
    json_int_t   n;

    scenario(&sc);
    cr_assert_eq(json_array_size(sc.signals), 3);

    /* newest first */
    for (i = 1; i < json_array_size(sc.signals); i++) {
        cr_assert(strcmp(jstr(json_array_get(sc.signals, i - 1),
                              "detected_at"),
                         jstr(json_array_get(sc.signals, i),
                              "detected_at")) >= 0, "newest first");
    }

    /* cursor pages of one: the same three, in the same order, then none */
    cursor[0] = '\0';
    for (i = 0; i < 3; i++) {
        j = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/signals?limit=1%s%s",
                   cursor[0] ? "&cursor=" : "", cursor);
        list = json_object_get(j, "signals");
        cr_assert_eq(json_array_size(list), 1, "page %zu holds one", i);
        cr_assert_str_eq(jstr(json_array_get(list, 0), "id"),
                         jstr(json_array_get(sc.signals, i), "id"),
                         "page %zu", i);
        cr_assert(i == 2 || json_is_string(json_object_get(j,
                                                           "next_cursor")),
                  "page %zu has a next_cursor", i);
        snprintf(cursor, sizeof(cursor), "%s",
                 jstr(j, "next_cursor") ? jstr(j, "next_cursor") : "");
        json_decref(j);
    }
    if (cursor[0]) {
        list = list_signals_page(cursor);
        cr_assert_eq(json_array_size(list), 0, "nothing after the last");
        json_decref(list);
    }

    /* a time range: the signals are of the last minutes, none tomorrow */
    list = list_signals("from=2020-01-01T00:00:00Z");
    cr_assert_eq(json_array_size(list), 3, "from 2020");
    json_decref(list);
    snprintf(q, sizeof(q), "from=%lld",
             (long long) time(NULL) * 1000 + 86400000LL);
    list = list_signals(q);
    cr_assert_eq(json_array_size(list), 0, "from tomorrow");
    json_decref(list);

    /* filters */
    snprintf(q, sizeof(q), "rule_id=%s", sc.rule_id[R_PII]);
    list = list_signals(q);
    cr_assert_eq(json_array_size(list), 1, "rule_id filter");
    cr_assert_str_eq(jstr(json_array_get(list, 0), "trace_id"),
                     sent_tid(&sc, "pii_no_audit"));
    json_decref(list);

    list = list_signals("severity=medium");
    cr_assert_eq(json_array_size(list), 1, "severity filter");
    cr_assert_str_eq(jstr(json_array_get(list, 0), "rule_id"),
                     sc.rule_id[R_SLOWDB]);
    json_decref(list);

    snprintf(q, sizeof(q), "trace_id=%s", sent_tid(&sc, "auth_storm"));
    list = list_signals(q);
    cr_assert_eq(json_array_size(list), 1, "trace_id filter");
    json_decref(list);

    snprintf(q, sizeof(q), "rule_id=%s", sc.rule_id[R_TIMEOUT]);
    list = list_signals(q);
    cr_assert_eq(json_array_size(list), 0, "the TIMEOUT rule has none");
    json_decref(list);

    /* one signal: get, acknowledge, resolve */
    tid = sent_tid(&sc, "auth_storm");
    signal_id(sc.rule_id[R_AUTH], tid, sid);
    sig = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/signals/%s", sid);
    cr_assert_str_eq(jstr(sig, "trace_id"), tid);
    cr_assert_str_eq(jstr(sig, "status"), "open");
    json_decref(sig);

    j = api("PATCH", READ_KEY, "{\"status\": \"acknowledged\"}", &st,
            "/api/v1/signals/%s", sid);
    cr_assert_eq(st, 403, "a read key can't change a signal");
    expect_error(j, "PATCH with a read key");
    json_decref(j);

    sig = api_ok("PATCH", WRITE_KEY, "{\"status\": \"acknowledged\"}", 200,
                 "/api/v1/signals/%s", sid);
    cr_assert_str_eq(jstr(sig, "status"), "acknowledged");
    cr_assert(json_is_string(json_object_get(sig, "acknowledged_at")),
              "acknowledged_at recorded");
    cr_assert(json_is_null(json_object_get(sig, "resolved_at")));
    ack = jstr(sig, "acknowledged_at");
    cr_assert(strcmp(ack, jstr(sig, "detected_at")) >= 0,
              "acknowledged after detection");
    json_incref(json_object_get(sig, "acknowledged_at"));
    j = json_object_get(sig, "acknowledged_at");
    json_decref(sig);

    sig = api_ok("PATCH", WRITE_KEY, "{\"status\": \"resolved\"}", 200,
                 "/api/v1/signals/%s", sid);
    cr_assert_str_eq(jstr(sig, "status"), "resolved");
    cr_assert(json_equal(json_object_get(sig, "acknowledged_at"), j),
              "acknowledged_at kept");
    cr_assert(json_is_string(json_object_get(sig, "resolved_at")),
              "resolved_at recorded");
    cr_assert(strcmp(jstr(sig, "resolved_at"), json_string_value(j)) >= 0);
    json_decref(j);
    json_decref(sig);

    /* resolved can't be acknowledged, and a move to the same status is a
       conflict: the first client's times stay */
    j = api("PATCH", WRITE_KEY, "{\"status\": \"acknowledged\"}", &st,
            "/api/v1/signals/%s", sid);
    cr_assert_eq(st, 409, "resolved -> acknowledged");
    expect_error(j, "resolved -> acknowledged");
    json_decref(j);
    j = api("PATCH", WRITE_KEY, "{\"status\": \"resolved\"}", &st,
            "/api/v1/signals/%s", sid);
    cr_assert_eq(st, 409, "resolved -> resolved");
    json_decref(j);

    /* the change is stored: GET and the status filter see it */
    sig = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/signals/%s", sid);
    cr_assert_str_eq(jstr(sig, "status"), "resolved");
    json_decref(sig);
    list = list_signals("status=resolved");
    cr_assert_eq(json_array_size(list), 1, "status filter: resolved");
    cr_assert_str_eq(jstr(json_array_get(list, 0), "id"), sid);
    json_decref(list);
    list = list_signals("status=open");
    cr_assert_eq(json_array_size(list), 2, "status filter: open");
    json_decref(list);

    j = api("PATCH", WRITE_KEY, "{\"status\": \"escalated\"}", &st,
            "/api/v1/signals/%s", sid);
    cr_assert_eq(st, 400, "an unknown status is refused");
    expect_error(j, "PATCH status escalated");
    json_decref(j);
    j = api("GET", READ_KEY, NULL, &st, "/api/v1/signals/0123456789abcdef");
    cr_assert_eq(st, 404, "unknown signal id");
    expect_error(j, "GET unknown signal");
    json_decref(j);

    /* the trace view: every span, and the signal raised on it */
    j = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/traces/%s", tid);
    spans = json_object_get(json_object_get(j, "trace"), "spans");
    if (spans == NULL) {
        spans = json_object_get(j, "spans");
    }
    dump = json_dumps(j, 0);
    cr_assert(json_is_array(spans), "GET /api/v1/traces/{id}: spans: %.400s",
              dump);
    free(dump);
    cr_assert_eq(json_array_size(spans),
                 (size_t) json_integer_value(json_object_get(
                     sent_trace(&sc, "auth_storm"), "span_count")),
                 "every span of the trace");
    json_object_foreach(json_object_get(sent_trace(&sc, "auth_storm"),
                                        "spans"), label, c)
    {
        span_id = json_string_value(c);
        found = 0;
        json_array_foreach(spans, i, s) {
            if (strcmp(jstr(s, "span_id"), span_id) == 0) {
                found = 1;
                cr_assert_str_eq(jstr(s, "trace_id"), tid);
                cr_assert(json_is_string(json_object_get(s, "name")));
                cr_assert(json_is_string(json_object_get(s, "status")));
                cr_assert(json_is_string(json_object_get(s, "kind")));
                cr_assert(json_is_integer(json_object_get(s, "start_ns")));
                cr_assert(json_is_object(json_object_get(s, "attributes")));
                cr_assert(json_is_object(json_object_get(s, "resource")));
                cr_assert(json_is_array(json_object_get(s, "events")));
                cr_assert(json_is_array(json_object_get(s, "links")));
                cr_assert_str_eq(jstr(s, "service"), jstr(sc.sent,
                                                          "service"));
            }
        }
        cr_assert(found, "span %s (%s) in the stored trace", span_id, label);
    }
    tsigs = json_object_get(j, "signals");
    cr_assert(json_is_array(tsigs), "the trace's signals");
    cr_assert_eq(json_array_size(tsigs), 1);
    s = json_array_get(tsigs, 0);
    cr_assert_str_eq(json_is_string(s) ? json_string_value(s)
                                       : jstr(s, "id"), sid);
    json_decref(j);

    /* a near miss raised nothing, so its trace was not stored */
    j = api("GET", READ_KEY, NULL, &st, "/api/v1/traces/%s",
            sent_tid(&sc, "auth_near_miss"));
    cr_assert_eq(st, 404, "the trace of a near miss is not stored");
    expect_error(j, "GET near-miss trace");
    json_decref(j);

    /* counts by rule and by severity */
    counts = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/signals/counts");
    dump = json_dumps(counts, 0);
    c = json_object_get(counts, "by_rule");
    cr_assert(json_is_array(c), "counts by rule: %s", dump);
    cr_assert_eq(rule_count(c, sc.rule_id[R_AUTH]), 1, "%s", dump);
    cr_assert_eq(rule_count(c, sc.rule_id[R_PII]), 1);
    cr_assert_eq(rule_count(c, sc.rule_id[R_SLOWDB]), 1);
    cr_assert_eq(rule_count(c, sc.rule_id[R_TIMEOUT]), 0);
    c = json_object_get(counts, "by_severity");
    cr_assert(json_is_object(c), "counts by severity: %s", dump);
    cr_assert_eq(json_integer_value(json_object_get(c, "critical")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "high")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "medium")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "low")), 0);
    cr_assert_eq(json_integer_value(json_object_get(counts, "total")), 3,
                 "%s", dump);
    n = 0;
    json_array_foreach(json_object_get(counts, "per_minute"), i, c) {
        n += json_integer_value(json_object_get(c, "count"));
    }
    cr_assert_eq(n, 3, "per_minute adds up to the total: %s", dump);
    json_decref(counts);
    counts = api_ok("GET", READ_KEY, NULL, 200,
                    "/api/v1/signals/counts?from=2020-01-01T00:00:00Z"
                    "&to=2020-01-01T01:00:00Z");
    cr_assert_eq(json_integer_value(json_object_get(counts, "total")), 0,
                 "no signals in 2020");
    cr_assert_eq(json_array_size(json_object_get(counts, "per_minute")), 60,
                 "one entry per minute of the range");
    free(dump);
    json_decref(counts);

    /* Prometheus: signals stored per rule with its severity */
    metrics_expect(sc.rule_id[R_AUTH], "high", 1);
    metrics_expect(sc.rule_id[R_PII], "critical", 1);
    metrics_expect(sc.rule_id[R_SLOWDB], "medium", 1);
    metrics_expect(sc.rule_id[R_TIMEOUT], "critical", 0);

    /* auth: no key is 401, on reads too */
    j = api("GET", NULL, NULL, &st, "/api/v1/signals");
    cr_assert_eq(st, 401, "no key");
    expect_error(j, "GET /api/v1/signals without a key");
    json_decref(j);
    j = api("GET", "not-a-key", NULL, &st, "/api/v1/signals");
    cr_assert_eq(st, 401, "unknown key");
    json_decref(j);

    scenario_free(&sc);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}


/* --- live changes over the API ------------------------------------------- */

static volatile int  traffic_stop;

/* One single-span trace named name over OTLP/protobuf; its id into trace. */
static int
send_named(const char *name, char trace[33])
{
    ho_span_t   sp;
    uint8_t     tid[16], *body;
    size_t      len;
    h_resp_t    r;
    int         ok;

    ho_random_id(tid, 16);
    h_hex(tid, 16, trace);
    ho_span_init(&sp, tid, name);
    sp.service = "e2e-live";
    body = ho_request_pb(&sp, 1, &len);
    ok = h_post(env, "/v1/traces", "application/x-protobuf", NULL, body, len,
                &r) == 0 && r.status == 200;
    h_resp_free(&r);
    free(body);
    return ok ? 0 : -1;
}

/* Background traffic: a trace every 20 ms that no rule here matches. */
static void *
traffic(void *arg)
{
    char  trace[33];

    (void) arg;
    while (!traffic_stop) {
        (void) send_named("background.work", trace);
        sleep_ms(20);
    }
    return NULL;
}

/*
 * Polls GET /api/v1/rules/{id} until its engine status has state and
 * version; returns the ms since t0 (asserts it happens in WAIT_MS).
 */
static int64_t
status_after(const char *id, const char *state, int version, int64_t t0)
{
    json_t   *j, *st;
    int64_t   deadline = h_now_ms() + WAIT_MS;
    int       done;

    for ( ;; ) {
        j = api_ok("GET", READ_KEY, NULL, 200, "/api/v1/rules/%s", id);
        st = json_object_get(j, "status");
        done = strcmp(jstr(st, "state") ? jstr(st, "state") : "", state) == 0
               && json_integer_value(json_object_get(st, "version"))
                  == version;
        json_decref(j);
        if (done) {
            return h_now_ms() - t0;
        }
        cr_assert(h_now_ms() < deadline, "rule %s never %s at version %d",
                  id, state, version);
        sleep_ms(20);
    }
}

/*
 * Number of signals GET /api/v1/signals?trace_id= has for a trace once the
 * engine has completed it and written what it queued.  expect is what the
 * caller will assert: when it is 1 this polls until the signal shows (the
 * I/O thread writes after the evaluation); when it is 0 it waits until
 * the engine has nothing queued (signals_pending 0, every emitted signal
 * written), so a wrong signal would be there to see.
 */
static size_t
signals_of(const char *trace, size_t expect)
{
    json_t   *tr, *l, *st;
    char      q[64];
    size_t    n;
    int64_t   deadline;
    int       idle;

    tr = h_traces_wait_trace(env, trace, 1, WAIT_MS);
    cr_assert_not_null(h_trace_find(tr, trace), "trace %s completed", trace);
    json_decref(tr);
    sleep_ms(100);      /* the line can be written just before evaluation */

    snprintf(q, sizeof(q), "trace_id=%s", trace);
    deadline = h_now_ms() + 10000;
    for ( ;; ) {
        st = get_stats();
        cr_assert_not_null(st);
        idle = stat_u(st, "signals_pending") == 0
               && stat_u(st, "signals_written") + stat_u(st, "signals_dropped")
                  >= stat_u(st, "signals_emitted");
        json_decref(st);
        l = list_signals(q);
        n = json_array_size(l);
        json_decref(l);
        if ((expect > 0 && n >= expect) || (expect == 0 && idle)
            || h_now_ms() > deadline)
        {
            return n;
        }
        sleep_ms(50);
    }
}

Test(e2e_rules, change_disable_enable_delete_over_the_api_while_traffic_flows)
{
    pthread_t    th;
    json_t      *j;
    char         id[64], t1[33], t2[33], t3[33], t4[33], t5[33], t6[33];
    int64_t      t0, ms;
    long         st;

    traffic_stop = 0;
    cr_assert_eq(pthread_create(&th, NULL, traffic, NULL), 0);

    j = api_ok("POST", WRITE_KEY, "{\"name\": \"Live\", \"severity\": "
               "\"low\", \"dsl\": \"trace.has(span => span.name === "
               "'ping')\"}", 201, "/api/v1/rules");
    snprintf(id, sizeof(id), "%s", jstr(j, "id"));
    json_decref(j);
    status_after(id, "active", 1, h_now_ms());

    cr_assert_eq(send_named("ping", t1), 0);
    cr_assert_eq(signals_of(t1, 1), 1, "version 1 fires on ping");

    /* changed: pong, not ping */
    t0 = h_now_ms();
    json_decref(api_ok("PATCH", WRITE_KEY, "{\"dsl\": \"trace.has(span => "
                       "span.name === 'pong')\"}", 200, "/api/v1/rules/%s",
                       id));
    ms = status_after(id, "active", 2, t0);
    cr_assert_lt(ms, 1000, "the change took effect in %lld ms",
                 (long long) ms);
    cr_assert_eq(send_named("ping", t2), 0);
    cr_assert_eq(send_named("pong", t3), 0);
    cr_assert_eq(signals_of(t2, 0), 0, "version 2 no longer fires on ping");
    cr_assert_eq(signals_of(t3, 1), 1, "version 2 fires on pong");

    /* disabled */
    t0 = h_now_ms();
    json_decref(api_ok("PATCH", WRITE_KEY, "{\"enabled\": false}", 200,
                       "/api/v1/rules/%s", id));
    ms = status_after(id, "disabled", 3, t0);
    cr_assert_lt(ms, 1000, "disabling took effect in %lld ms",
                 (long long) ms);
    cr_assert_eq(send_named("pong", t4), 0);
    cr_assert_eq(signals_of(t4, 0), 0, "a disabled rule stays quiet");

    /* enabled again */
    t0 = h_now_ms();
    json_decref(api_ok("PATCH", WRITE_KEY, "{\"enabled\": true}", 200,
                       "/api/v1/rules/%s", id));
    ms = status_after(id, "active", 4, t0);
    cr_assert_lt(ms, 1000, "enabling took effect in %lld ms",
                 (long long) ms);
    cr_assert_eq(send_named("pong", t5), 0);
    cr_assert_eq(signals_of(t5, 1), 1, "enabled again, it fires");

    /* deleted: the engine runs no rule within a second; signals stay */
    t0 = h_now_ms();
    j = api("DELETE", WRITE_KEY, NULL, &st, "/api/v1/rules/%s", id);
    cr_assert_eq(st, 204);
    json_decref(j);
    for ( ;; ) {
        j = get_stats();
        cr_assert_not_null(j);
        if (stat_u(j, "rules_loaded") == 0) {
            json_decref(j);
            break;
        }
        json_decref(j);
        cr_assert(h_now_ms() - t0 < WAIT_MS, "the rule stays loaded");
        sleep_ms(20);
    }
    ms = h_now_ms() - t0;
    cr_assert_lt(ms, 1000, "deleting took effect in %lld ms", (long long) ms);
    cr_assert_eq(send_named("pong", t6), 0);
    cr_assert_eq(signals_of(t6, 0), 0, "a deleted rule stays quiet");

    traffic_stop = 1;
    pthread_join(th, NULL);

    j = list_signals(NULL);
    cr_assert_eq(json_array_size(j), 3, "t1, t3 and t5 only; the signals of "
                 "a deleted rule stay");
    json_decref(j);
    j = get_stats();
    cr_assert_gt(stat_u(j, "evaluations"), 20, "traffic flowed meanwhile");
    json_decref(j);

    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}


/* --- OTLP/JSON exporter, ingest key required ----------------------------- */

TestSuite(e2e_rules_ingest, .init = start_all_json_ingest_key,
          .fini = stop_all, .timeout = 240);

Test(e2e_rules_ingest, json_exporter_with_an_ingest_key_gives_the_same_signals)
{
    scenario_t   sc;
    h_resp_t     r;
    uint8_t      tid[16], *body;
    size_t       len;
    ho_span_t    sp;

    /* without the key the OTLP endpoint refuses: 401 */
    ho_random_id(tid, 16);
    ho_span_init(&sp, tid, "no.key");
    body = ho_request_pb(&sp, 1, &len);
    cr_assert_eq(h_post(env, "/v1/traces", "application/x-protobuf", NULL,
                        body, len, &r), 0);
    cr_assert_eq(r.status, 401, "OTLP without the ingest key: %ld",
                 r.status);
    h_resp_free(&r);
    free(body);

    /* the SDK sends "Authorization: Bearer <ingest key>" */
    scenario(&sc);
    expect_exact_signals(&sc);
    scenario_free(&sc);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}
