/*
 * test_api_rules.c - the rules endpoints of the REST API against a real
 * redis-server and nginx with the module: CRUD, filters, validate, the
 * README's curl example verbatim, bad input on every endpoint, auth on
 * every route, Redis down (503 quickly) and durability across restarts.
 */

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t/lib/harness.h"

/* the keys and the SHA-256 hex the key file holds for them */
#define WRITE_KEY   "bt-test-write-key"
#define READ_KEY    "bt-test-read-key"
#define INGEST_KEY  "bt-test-ingest-key"

static const char *const key_file =
    "# test keys\n"
    "383c2698a9e574b0fc6f97ad64354677b5e64a860a9fd0d68726842683e5efe1"
    " write admin\n"
    "43acb708494e2d938174d5c622a79cadc12dd2b6b58b2a50436f37d13de3fbe5"
    " read viewer\n"
    "4ee12387feb5dcdc7cdb45842ec74f2996c7ce52a4f316c83fc44f507e1b93c8"
    " ingest collector\n";

/* the product's own example, as README.md and issue 4 write it */
#define CURL_EXAMPLE \
    "{\"name\": \"Detect payment timeout cascade\",\n" \
    "         \"dsl\": \"trace.where(span => span.name.startsWith(" \
    "\\\"payment\\\")).has(span => span.status === \\\"TIMEOUT\\\")\",\n" \
    "         \"severity\": \"critical\"}"

static h_env_t *env;
static char     http_extra[PATH_MAX * 4 + 512];

static const char *const server_extra =
    "location /api/v1/ { betrace_api; }";

/*
 * Redis and nginx (no engine: the rules API needs none), with the key
 * file written into the temp dir first.  extra, when not NULL, is added
 * to the http block.
 */
static void
start_with(const char *extra)
{
    char  path[PATH_MAX + 16];
    FILE *f;

    env = h_env_new(NULL);
    cr_assert_not_null(env);

    snprintf(path, sizeof(path), "%s/api-keys", env->dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(key_file, f);
    fclose(f);

    snprintf(http_extra, sizeof(http_extra),
             "betrace_redis unix:%s; betrace_api_keys %s; "
             "betrace_redis_timeout 500ms; "
             "log_format bt_keys '$request_method $uri $status "
             "$betrace_api_key'; "
             "access_log %s/keys.log bt_keys; %s",
             env->redis_sock, path, env->dir, extra ? extra : "");
    env->opts.http_extra = http_extra;
    env->opts.server_extra = server_extra;

    cr_assert_eq(h_redis_start(env), 0);
    cr_assert_eq(h_nginx_start(env), 0);
}

static void
setup(void)
{
    start_with(NULL);
}

static void
teardown(void)
{
    h_env_free(env);
    env = NULL;
}

/*
 * One API call.  key NULL: no Authorization header.  body NULL: none;
 * otherwise sent as application/json.  Returns the parsed reply (NULL if
 * it is not JSON) and fills *r.
 */
static json_t *
api(const char *method, const char *path, const char *key, const char *body,
    h_resp_t *r)
{
    char        auth[128];
    const char *hdrs[3];
    int         n = 0;

    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        hdrs[n++] = auth;
    }
    if (body) {
        hdrs[n++] = "Content-Type: application/json";
    }
    hdrs[n] = NULL;

    h_http(env, method, path, hdrs, body, body ? strlen(body) : 0, r);
    return json_loads(r->body, 0, NULL);
}

/* api() that asserts the status and returns the JSON (never NULL) */
static json_t *
call(const char *method, const char *path, const char *body, long status)
{
    h_resp_t  r;
    json_t   *j;

    j = api(method, path, WRITE_KEY, body, &r);
    cr_assert_eq(r.status, status, "%s %s: %ld, not %ld: %s", method, path,
                 r.status, status, r.body);
    if (status != 204) {
        cr_assert_not_null(j, "%s %s: not JSON: %s", method, path, r.body);
        cr_assert(strncmp(r.content_type, "application/json", 16) == 0,
                  "content type %s", r.content_type);
    }
    h_resp_free(&r);
    return j ? j : json_null();
}

static const char *
str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));

    cr_assert_not_null(s, "no string \"%s\" in %s", key,
                       json_dumps(j, JSON_COMPACT));
    return s;
}

/* asserts {"error": {"code": code, ...}} and returns the error object */
static json_t *
expect_error(json_t *j, const char *code)
{
    json_t *e = json_object_get(j, "error");

    cr_assert(json_is_object(e), "no error object in %s",
              json_dumps(j, JSON_COMPACT));
    cr_assert_str_eq(str(e, "code"), code, "%s",
                     json_dumps(j, JSON_COMPACT));
    cr_assert_not_null(json_string_value(json_object_get(e, "message")));
    return e;
}

static char *
create(const char *body)
{
    json_t *j = call("POST", "/api/v1/rules", body, 201);
    char   *id = strdup(str(j, "id"));

    json_decref(j);
    /* the list is in creation order by the millisecond: no ties here */
    usleep(3000);
    return id;
}

/* sends a GET and closes the connection without reading the answer */
static void
send_and_close(const char *path)
{
    struct sockaddr_in  sa;
    char                req[256];
    int                 fd, n;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) env->http_port);
    cr_assert_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer " WRITE_KEY "\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t) n), n);
    usleep(100 * 1000);
    close(fd);
}

static redisContext *
redis(void)
{
    redisContext *c = redisConnectUnix(env->redis_sock);

    cr_assert(c && !c->err, "redis connect");
    return c;
}

static long long
rules_version(void)
{
    redisContext *c = redis();
    redisReply   *rep = redisCommand(c, "GET betrace:rules:version");
    long long     v = 0;

    cr_assert_not_null(rep);
    if (rep->type == REDIS_REPLY_STRING) {
        v = atoll(rep->str);
    }
    freeReplyObject(rep);
    redisFree(c);
    return v;
}


Test(api_rules, curl_example_verbatim, .init = setup, .fini = teardown)
{
    h_resp_t  r;
    json_t   *j, *w;
    char      loc[128], path[64];

    j = api("POST", "/api/v1/rules", WRITE_KEY, CURL_EXAMPLE, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_not_null(j);
    cr_assert_str_eq(str(j, "name"), "Detect payment timeout cascade");
    cr_assert_str_eq(str(j, "severity"), "critical");
    cr_assert(json_is_true(json_object_get(j, "enabled")));
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 1);
    cr_assert_eq(strlen(str(j, "id")), 16);
    cr_assert_eq(strlen(str(j, "created_at")), 24);     /* ...00.123Z */
    cr_assert_str_eq(str(j, "created_at"), str(j, "updated_at"));
    cr_assert(json_array_size(json_object_get(j, "tags")) == 0);
    cr_assert(strncmp(r.body, "{\"id\":", 6) == 0, "id first: %s", r.body);

    /* the checker's warning: TIMEOUT is not a span status */
    w = json_array_get(json_object_get(j, "warnings"), 0);
    cr_assert_not_null(w, "no warning in %s", r.body);
    cr_assert_str_eq(str(w, "severity"), "warning");
    cr_assert(strstr(str(w, "message"), "TIMEOUT") != NULL);
    cr_assert_eq(json_integer_value(json_object_get(w, "line")), 1);
    cr_assert_eq(json_integer_value(json_object_get(w, "column")), 82);
    cr_assert(strstr(str(w, "excerpt"), "\n") != NULL);

    cr_assert(h_resp_header(&r, "Location", loc, sizeof(loc)));
    snprintf(path, sizeof(path), "/api/v1/rules/%s", str(j, "id"));
    cr_assert_str_eq(loc, path);
    cr_assert_eq(rules_version(), 1);

    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(h_pass(env), 0);
}

Test(api_rules, crud_round_trip, .init = setup, .fini = teardown)
{
    char      path[64], *id;
    json_t   *j;
    h_resp_t  r;

    id = create("{\"name\": \"slow db\", \"description\": \"d\","
                " \"dsl\": \"trace.has(span => span.duration > 100)\","
                " \"severity\": \"high\", \"tags\": [\"db\", \"perf\"]}");
    snprintf(path, sizeof(path), "/api/v1/rules/%s", id);

    j = call("GET", path, NULL, 200);
    cr_assert_str_eq(str(j, "id"), id);
    cr_assert_str_eq(str(j, "name"), "slow db");
    cr_assert_str_eq(str(j, "description"), "d");
    cr_assert_eq(json_array_size(json_object_get(j, "tags")), 2);
    cr_assert_str_eq(str(json_object_get(j, "status"), "state"), "pending");
    json_decref(j);

    /* the engine's status is reported as it wrote it */
    {
        redisContext *c = redis();
        redisReply   *rep = redisCommand(c, "SET betrace:rule:%s:status %s",
                                         id, "{\"state\":\"active\","
                                         "\"version\":1}");
        freeReplyObject(rep);
        redisFree(c);
    }
    j = call("GET", path, NULL, 200);
    cr_assert_str_eq(str(json_object_get(j, "status"), "state"), "active");
    json_decref(j);

    /* PATCH changes only what it names; version and rules:version move */
    j = call("PATCH", path, "{\"enabled\": false}", 200);
    cr_assert(json_is_false(json_object_get(j, "enabled")));
    cr_assert_str_eq(str(j, "name"), "slow db");
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 2);
    /* the engine's "active" was for version 1: this one is pending */
    cr_assert_str_eq(str(json_object_get(j, "status"), "state"), "pending");
    json_decref(j);
    cr_assert_eq(rules_version(), 2);

    /* PUT replaces: omitted fields return to their defaults */
    j = call("PUT", path, "{\"name\": \"renamed\","
             " \"dsl\": \"trace.has(span => span.name == \\\"x\\\")\"}", 200);
    cr_assert_str_eq(str(j, "name"), "renamed");
    cr_assert_str_eq(str(j, "severity"), "medium");
    cr_assert(json_is_true(json_object_get(j, "enabled")));
    cr_assert_str_eq(str(j, "description"), "");
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 3);
    json_decref(j);

    /* a stale version is a conflict, the current one goes through */
    j = call("PATCH", path, "{\"severity\": \"low\", \"version\": 2}", 409);
    expect_error(j, "version_conflict");
    json_decref(j);
    j = call("PATCH", path, "{\"severity\": \"low\", \"version\": 3}", 200);
    cr_assert_str_eq(str(j, "severity"), "low");
    json_decref(j);

    /* a GET reply sent back as a PUT is accepted (read-only fields) */
    j = call("GET", path, NULL, 200);
    {
        char *s = json_dumps(j, JSON_COMPACT);
        json_t *k = call("PUT", path, s, 200);

        cr_assert_eq(json_integer_value(json_object_get(k, "version")), 5);
        json_decref(k);
        free(s);
    }
    json_decref(j);

    /* deleting a rule keeps its signals */
    {
        redisContext *c = redis();
        redisReply   *rep;

        rep = redisCommand(c, "SET betrace:signal:00ff00ff00ff00ff {}");
        freeReplyObject(rep);
        rep = redisCommand(c, "ZADD betrace:signals:rule:%s 1 "
                           "00ff00ff00ff00ff", id);
        freeReplyObject(rep);
        redisFree(c);
    }
    j = call("DELETE", path, NULL, 204);
    json_decref(j);
    {
        redisContext *c = redis();
        redisReply   *rep;

        rep = redisCommand(c, "EXISTS betrace:signal:00ff00ff00ff00ff "
                           "betrace:signals:rule:%s", id);
        cr_assert_eq(rep->integer, 2);
        freeReplyObject(rep);
        rep = redisCommand(c, "EXISTS betrace:rule:%s betrace:rule:%s:status",
                           id, id);
        cr_assert_eq(rep->integer, 0);
        freeReplyObject(rep);
        redisFree(c);
    }
    j = call("GET", path, NULL, 404);
    expect_error(j, "not_found");
    json_decref(j);
    j = call("DELETE", path, NULL, 404);
    json_decref(j);
    j = call("PATCH", path, "{\"enabled\": true}", 404);
    json_decref(j);
    cr_assert_eq(rules_version(), 6);

    /* the list no longer has it */
    j = api("GET", "/api/v1/rules", READ_KEY, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 0);
    h_resp_free(&r);
    json_decref(j);

    free(id);
    cr_assert_eq(h_pass(env), 0);
}

Test(api_rules, list_filters, .init = setup, .fini = teardown)
{
    static const struct {
        const char *query;
        int         count;
    } cases[] = {
        { "", 4 },
        { "?enabled=true", 3 },
        { "?enabled=false", 1 },
        { "?severity=critical", 2 },
        { "?severity=info", 0 },
        { "?tag=payments", 2 },
        { "?tag=pay", 0 },                  /* tags match whole */
        { "?text=AUDIT", 1 },               /* name, case-insensitive */
        { "?text=retries%20exhausted", 1 }, /* description, escaped */
        { "?text=db.system", 1 },           /* dsl */
        { "?severity=critical&enabled=true&tag=payments", 1 },
    };
    json_t *j, *rules, *e;
    char    path[128];
    size_t  i;

    free(create("{\"name\": \"Payment timeout\", \"severity\": \"critical\","
                " \"tags\": [\"payments\"],"
                " \"dsl\": \"trace.has(span =>"
                " span.status == \\\"ERROR\\\")\"}"));
    free(create("{\"name\": \"Payment retries\", \"severity\": \"critical\","
                " \"enabled\": false, \"tags\": [\"payments\", \"retry\"],"
                " \"description\": \"Retries exhausted\","
                " \"dsl\": \"trace.has(span =>"
                " span.name == \\\"retry\\\")\"}"));
    free(create("{\"name\": \"Missing audit log\", \"severity\": \"high\","
                " \"dsl\": \"trace.has(span => span.name == \\\"pii\\\")"
                " && trace.missing(span => span.name == \\\"audit\\\")\"}"));
    free(create("{\"name\": \"Slow query\", \"severity\": \"low\","
                " \"dsl\": \"trace.has(span => span.attributes"
                "[\\\"db.system\\\"] == \\\"pg\\\")\"}"));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/rules%s", cases[i].query);
        j = call("GET", path, NULL, 200);
        rules = json_object_get(j, "rules");
        cr_assert(json_is_array(rules));
        cr_assert_eq(json_array_size(rules), (size_t) cases[i].count,
                     "%s: %zu rules", cases[i].query,
                     json_array_size(rules));
        cr_assert_eq(json_integer_value(json_object_get(j, "count")),
                     cases[i].count);
        json_decref(j);
    }

    /* oldest first, each with a status */
    j = call("GET", "/api/v1/rules", NULL, 200);
    rules = json_object_get(j, "rules");
    cr_assert_str_eq(str(json_array_get(rules, 0), "name"),
                     "Payment timeout");
    cr_assert_str_eq(str(json_array_get(rules, 3), "name"), "Slow query");
    cr_assert(json_is_object(json_object_get(json_array_get(rules, 2),
                                             "status")));
    snprintf(path, sizeof(path), "/api/v1/rules/%s?verbose=1",
             str(json_array_get(rules, 0), "id"));
    json_decref(j);

    /* bad query parameters: one code, the parameter always named */
    j = call("GET", "/api/v1/rules?enabled=yes", NULL, 400);
    cr_assert_str_eq(str(expect_error(j, "invalid_parameter"), "parameter"),
                     "enabled");
    json_decref(j);
    j = call("GET", "/api/v1/rules?severity=urgent", NULL, 400);
    cr_assert_str_eq(str(expect_error(j, "invalid_parameter"), "parameter"),
                     "severity");
    json_decref(j);
    j = call("GET", "/api/v1/rules?severty=high", NULL, 400);
    e = expect_error(j, "invalid_parameter");
    cr_assert_str_eq(str(e, "parameter"), "severty");
    cr_assert_not_null(strstr(str(e, "message"), "enabled, severity, tag, "
                              "text"), "%s", str(e, "message"));
    json_decref(j);
    j = call("GET", path, NULL, 400);
    cr_assert_str_eq(str(expect_error(j, "invalid_parameter"), "parameter"),
                     "verbose");
    json_decref(j);
    j = call("GET", "/api/v1/health?verbose=1", NULL, 400);
    cr_assert_str_eq(str(expect_error(j, "invalid_parameter"), "parameter"),
                     "verbose");
    json_decref(j);

    cr_assert_eq(h_pass(env), 0);
}

Test(api_rules, validate, .init = setup, .fini = teardown)
{
    json_t *j, *e;

    j = call("POST", "/api/v1/rules/validate",
             "{\"dsl\": \"trace.has(span => span.name == \\\"a\\\")\"}", 200);
    cr_assert(json_is_true(json_object_get(j, "valid")));
    cr_assert_eq(json_array_size(json_object_get(j, "errors")), 0);
    json_decref(j);

    /* the error on line 2, column 8, with the source line and a caret */
    j = call("POST", "/api/v1/rules/validate",
             "{\"dsl\": \"trace.has(span =>\\n  span.nmae == \\\"x\\\")\"}",
             200);
    cr_assert(json_is_false(json_object_get(j, "valid")));
    e = json_array_get(json_object_get(j, "errors"), 0);
    cr_assert_not_null(e);
    cr_assert_eq(json_integer_value(json_object_get(e, "line")), 2);
    cr_assert_eq(json_integer_value(json_object_get(e, "column")), 8);
    cr_assert(strstr(str(e, "message"), "nmae") != NULL);
    cr_assert_str_eq(str(e, "excerpt"),
                     "  span.nmae == \"x\")\n       ^~~~");
    json_decref(j);

    /* warnings are reported while valid stays true */
    j = call("POST", "/api/v1/rules/validate",
             "{\"dsl\": \"trace.has(span =>"
             " span.status === \\\"TIMEOUT\\\")\"}",
             200);
    cr_assert(json_is_true(json_object_get(j, "valid")));
    cr_assert_eq(json_array_size(json_object_get(j, "warnings")), 1);
    json_decref(j);

    /* validate needs no Redis and writes nothing */
    cr_assert_eq(h_proc_stop(&env->redis), 0);
    j = call("POST", "/api/v1/rules/validate",
             "{\"dsl\": \"trace.has(span => true)\"}", 200);
    json_decref(j);
    cr_assert_eq(h_redis_start(env), 0);
    cr_assert_eq(rules_version(), 0);

    cr_assert_eq(h_pass(env), 0);
}

/* every body-taking endpoint refuses every kind of bad input */
Test(api_rules, bad_input, .init = setup, .fini = teardown)
{
    static const struct {
        const char *body;
        const char *code;
        const char *field;      /* NULL: not a field error */
        const char *in_message;
    } cases[] = {
        { "{\"name\": \"a\",", "invalid_json", NULL, "line 1, column 13" },
        { "[1, 2]", "invalid_body", NULL, "an array" },
        { "{\"name\": \"a\", \"dsl\": \"trace.has(span => true)\","
          " \"colour\": \"red\"}", "invalid_field", "colour", "colour" },
        { "{\"name\": 7, \"dsl\": \"x\"}", "invalid_field", "name",
          "must be a string, not a number" },
        { "{\"name\": \"a\", \"dsl\": \"trace.has(span => true)\","
          " \"enabled\": \"yes\"}", "invalid_field", "enabled",
          "must be a boolean, not a string" },
        { "{\"name\": \"a\", \"dsl\": \"trace.has(span => true)\","
          " \"tags\": \"x\"}", "invalid_field", "tags", "array" },
        { "{\"name\": \"a\", \"dsl\": \"trace.has(span => true)\","
          " \"tags\": [1]}", "invalid_field", "tags[]", "string" },
        { "{\"name\": \"a\", \"dsl\": \"trace.has(span => true)\","
          " \"severity\": \"urgent\"}", "invalid_field", "severity",
          "urgent" },
        { "{\"name\": \"a\", \"dsl\": [\"x\"]}", "invalid_field", "dsl",
          "must be a string, not an array" },
        { "{\"name\": \"a\", \"dsl\": \"trace.has(span => true)\","
          " \"name\": \"b\"}", "invalid_json", NULL, "duplicate" },
    };
    static const struct {
        const char *method;
        const char *path;       /* %s: the rule's id */
    } endpoints[] = {
        { "POST", "/api/v1/rules" },
        { "PUT", "/api/v1/rules/%s" },
        { "PATCH", "/api/v1/rules/%s" },
        { "POST", "/api/v1/rules/validate" },
    };
    char    *id, path[128], *big;
    json_t  *j, *e, *d;
    size_t   i, k;
    h_resp_t r;

    id = create("{\"name\": \"x\", \"dsl\": \"trace.has(span => true)\"}");

    for (k = 0; k < sizeof(endpoints) / sizeof(endpoints[0]); k++) {
        snprintf(path, sizeof(path), endpoints[k].path, id);

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            j = call(endpoints[k].method, path, cases[i].body, 400);
            e = expect_error(j, cases[i].code);
            if (cases[i].field) {
                cr_assert_str_eq(str(e, "field"), cases[i].field);
            }
            cr_assert(strstr(str(e, "message"), cases[i].in_message),
                      "%s %s: %s", endpoints[k].method, cases[i].body,
                      str(e, "message"));
            json_decref(j);
        }

        /* broken DSL: 400 with the exact position (validate: 200) */
        j = call(endpoints[k].method, path,
                 "{\"name\": \"n\", \"dsl\": \"trace.has(span =>\\n"
                 "   span.duration > )\"}", k == 3 ? 200 : 400);
        if (k == 3) {
            d = json_object_get(j, "errors");
        } else {
            e = expect_error(j, "invalid_rule");
            cr_assert(strstr(str(e, "message"), "line 2, column 20"),
                      "%s", str(e, "message"));
            d = json_object_get(e, "diagnostics");
        }
        e = json_array_get(d, 0);
        cr_assert_not_null(e);
        cr_assert_str_eq(str(e, "severity"), "error");
        cr_assert_eq(json_integer_value(json_object_get(e, "line")), 2);
        cr_assert_eq(json_integer_value(json_object_get(e, "column")), 20);
        cr_assert_str_eq(str(e, "excerpt"),
                         "   span.duration > )\n                   ^");
        json_decref(j);

        /* oversize: 413 JSON, with and without Content-Length */
        big = malloc(2 * 1024 * 1024 + 1);
        memset(big, ' ', 2 * 1024 * 1024);
        big[2 * 1024 * 1024] = '\0';
        j = call(endpoints[k].method, path, big, 413);
        cr_assert_str_eq(str(expect_error(j, "body_too_large"), "message"),
                         "the request body is larger than 1m");
        json_decref(j);
        {
            const char *h[] = { "Authorization: Bearer " WRITE_KEY,
                                "Content-Type: application/json",
                                "Transfer-Encoding: chunked", NULL };
            h_http(env, endpoints[k].method, path, h, big, strlen(big), &r);
            cr_assert_eq(r.status, 413);
            j = json_loads(r.body, 0, NULL);
            /* nginx's own limit fired: a clean message naming it */
            cr_assert_str_eq(str(expect_error(j, "body_too_large"),
                                 "message"),
                             "the request body is larger than 1m");
            json_decref(j);
            h_resp_free(&r);
        }
        free(big);

        /* JSON is required: a form post (no CORS preflight) is refused */
        {
            const char *h[] = { "Authorization: Bearer " WRITE_KEY,
                                "Content-Type: application/x-www-form-"
                                "urlencoded", NULL };
            h_http(env, endpoints[k].method, path, h, "{}", 2, &r);
            cr_assert_eq(r.status, 415);
            j = json_loads(r.body, 0, NULL);
            expect_error(j, "unsupported_media_type");
            json_decref(j);
            h_resp_free(&r);
        }
    }

    /* required fields */
    j = call("POST", "/api/v1/rules", "{\"dsl\": \"trace.has(span => true)\"}",
             400);
    cr_assert_str_eq(str(expect_error(j, "invalid_field"), "field"), "name");
    json_decref(j);
    j = call("PUT", "/api/v1/rules/0123456789abcdef", "{\"name\": \"a\"}",
             400);
    cr_assert_str_eq(str(expect_error(j, "invalid_field"), "field"), "dsl");
    json_decref(j);
    j = call("POST", "/api/v1/rules", "{\"name\": \"\", \"dsl\": \"x\"}", 400);
    cr_assert_str_eq(str(expect_error(j, "invalid_field"), "field"), "name");
    json_decref(j);

    /* routing errors are JSON too */
    j = call("DELETE", "/api/v1/rules", NULL, 405);
    expect_error(j, "method_not_allowed");
    json_decref(j);
    h_http(env, "DELETE", "/api/v1/rules", (const char *[]) {
           "Authorization: Bearer " WRITE_KEY, NULL }, NULL, 0, &r);
    {
        char allow[64];

        cr_assert(h_resp_header(&r, "Allow", allow, sizeof(allow)));
        cr_assert_str_eq(allow, "GET, HEAD, POST");
    }
    h_resp_free(&r);
    j = call("GET", "/api/v1/nothing", NULL, 404);
    expect_error(j, "not_found");
    json_decref(j);
    j = call("GET", "/api/v1/rules/a/b", NULL, 404);
    json_decref(j);

    /* ids are 16 hex digits: a path can't reach another key */
    {
        static const char *bad[] = { "x", "0123456789ABCDEF",
                                     "0123456789abcdef0", "abc:status",
                                     "0123456789abcde%3A" };
        size_t b;

        for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            snprintf(path, sizeof(path), "/api/v1/rules/%s", bad[b]);
            j = call("GET", path, NULL, 404);
            expect_error(j, "not_found");
            json_decref(j);
            j = call("DELETE", path, NULL, 404);
            json_decref(j);
            j = call("PATCH", path, "{\"enabled\": true}", 404);
            json_decref(j);
        }
    }

    /* nothing above wrote: one create, one bump */
    cr_assert_eq(rules_version(), 1);

    free(id);
    cr_assert_eq(h_pass(env), 0);
}

/* each route with no key, an unknown key, a read key and a write key */
Test(api_rules, auth_on_every_route, .init = setup, .fini = teardown)
{
    static const struct {
        const char *method;
        const char *path;
        const char *body;
        int         write;      /* needs the write role */
        long        ok;         /* status with the write key */
    } routes[] = {
        { "GET", "/api/v1/rules", NULL, 0, 200 },
        { "POST", "/api/v1/rules/validate",
          "{\"dsl\": \"trace.has(span => true)\"}", 0, 200 },
        { "GET", "/api/v1/rules/%s", NULL, 0, 200 },
        { "PATCH", "/api/v1/rules/%s", "{\"enabled\": false}", 1, 200 },
        { "PUT", "/api/v1/rules/%s",
          "{\"name\": \"p\", \"dsl\": \"trace.has(span => true)\"}", 1, 200 },
        { "POST", "/api/v1/rules",
          "{\"name\": \"n\", \"dsl\": \"trace.has(span => true)\"}", 1, 201 },
        { "DELETE", "/api/v1/rules/%s", NULL, 1, 204 },
    };
    char      path[128], *id, www[128];
    size_t    i;
    json_t   *j;
    h_resp_t  r;

    id = create("{\"name\": \"x\", \"dsl\": \"trace.has(span => true)\"}");

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        snprintf(path, sizeof(path), routes[i].path, id);

        j = api(routes[i].method, path, NULL, routes[i].body, &r);
        cr_assert_eq(r.status, 401, "%s %s: %ld", routes[i].method, path,
                     r.status);
        expect_error(j, "unauthorized");
        cr_assert(h_resp_header(&r, "WWW-Authenticate", www, sizeof(www)));
        cr_assert(strncmp(www, "Bearer", 6) == 0);
        json_decref(j);
        h_resp_free(&r);

        j = api(routes[i].method, path, "not-a-key", routes[i].body, &r);
        cr_assert_eq(r.status, 401);
        expect_error(j, "unauthorized");
        json_decref(j);
        h_resp_free(&r);

        /* an ingest key is for OTLP only */
        j = api(routes[i].method, path, INGEST_KEY, routes[i].body, &r);
        cr_assert_eq(r.status, 403, "%s %s: %ld", routes[i].method, path,
                     r.status);
        expect_error(j, "forbidden");
        json_decref(j);
        h_resp_free(&r);

        j = api(routes[i].method, path, READ_KEY, routes[i].body, &r);
        if (routes[i].write) {
            cr_assert_eq(r.status, 403, "%s %s: %ld", routes[i].method, path,
                         r.status);
            expect_error(j, "forbidden");
        } else {
            cr_assert_eq(r.status, routes[i].ok, "%s %s: %ld",
                         routes[i].method, path, r.status);
        }
        json_decref(j);
        h_resp_free(&r);

        j = api(routes[i].method, path, WRITE_KEY, routes[i].body, &r);
        cr_assert_eq(r.status, routes[i].ok, "%s %s: %ld %s",
                     routes[i].method, path, r.status, r.body);
        json_decref(j);
        h_resp_free(&r);
    }

    /* the stats location wants a read key too */
    j = api("GET", "/api/v1/stats", NULL, NULL, &r);
    cr_assert_eq(r.status, 401);
    json_decref(j);
    h_resp_free(&r);

    /* $betrace_api_key names the key in access logs */
    {
        char  log[PATH_MAX + 16], *text;

        snprintf(log, sizeof(log), "%s/keys.log", env->dir);
        text = h_read_file(log, NULL);
        cr_assert_not_null(text);
        cr_assert(strstr(text, "POST /api/v1/rules 201 admin\n"), "%s",
                  text);
        cr_assert(strstr(text, "GET /api/v1/rules 200 viewer\n"));
        cr_assert(strstr(text, "GET /api/v1/rules 401 -\n"));
        free(text);
    }

    free(id);
    cr_assert_eq(h_pass(env), 0);
}

static void
setup_auth_off(void)
{
    start_with("betrace_auth off;");
}

Test(api_rules, auth_off, .init = setup_auth_off, .fini = teardown)
{
    h_resp_t  r;
    json_t   *j;

    j = api("POST", "/api/v1/rules", NULL,
            "{\"name\": \"n\", \"dsl\": \"trace.has(span => true)\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    json_decref(j);
    h_resp_free(&r);

    cr_assert_eq(h_pass(env), 0);
}

static void
setup_otlp_auth(void)
{
    start_with("betrace_otlp_auth on;");
}

Test(api_rules, otlp_ingest_key, .init = setup_otlp_auth, .fini = teardown)
{
    h_resp_t    r;
    const char *none[] = { "Content-Type: application/json", NULL };
    const char *read[] = { "Content-Type: application/json",
                           "Authorization: Bearer " READ_KEY, NULL };
    const char *ingest[] = { "Content-Type: application/json",
                             "Authorization: Bearer " INGEST_KEY, NULL };

    h_http(env, "POST", "/v1/traces", none, "{}", 2, &r);
    cr_assert_eq(r.status, 401);
    h_resp_free(&r);
    h_http(env, "POST", "/v1/traces", read, "{}", 2, &r);
    cr_assert_eq(r.status, 403);
    h_resp_free(&r);
    h_http(env, "POST", "/v1/traces", ingest, "{}", 2, &r);
    cr_assert_neq(r.status, 401);
    cr_assert_neq(r.status, 403);
    h_resp_free(&r);

    cr_assert_eq(h_pass(env), 0);
}

/* GET /api/v1/rules that must get 503; returns the milliseconds taken */
static void *
stuck_get(void *arg)
{
    const char *h[] = { "Authorization: Bearer " WRITE_KEY, NULL };
    h_resp_t    r;
    int64_t     t0 = h_now_ms();
    long        ms;

    h_http(env, "GET", "/api/v1/rules", h, NULL, 0, &r);
    ms = (long) (h_now_ms() - t0);
    if (r.status != 503) {
        ms = 100000;
    }
    h_resp_free(&r);
    return (void *) ms;
}

/* Redis gone: 503 redis_unavailable at once; back: everything works */
Test(api_rules, redis_down_503_fast, .init = setup, .fini = teardown)
{
    static const struct {
        const char *method;
        const char *path;
        const char *body;
    } routes[] = {
        { "GET", "/api/v1/rules", NULL },
        { "GET", "/api/v1/rules/0123456789abcdef", NULL },
        { "POST", "/api/v1/rules",
          "{\"name\": \"n\", \"dsl\": \"trace.has(span => true)\"}" },
        { "PATCH", "/api/v1/rules/0123456789abcdef", "{\"enabled\": true}" },
        { "DELETE", "/api/v1/rules/0123456789abcdef", NULL },
    };
    size_t    i;
    int64_t   t0, took;
    json_t   *j;
    h_resp_t  r;

    free(create("{\"name\": \"kept\", \"dsl\": \"trace.has(span => true)\"}"));
    cr_assert_eq(h_proc_stop(&env->redis), 0);

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        t0 = h_now_ms();
        j = api(routes[i].method, routes[i].path, WRITE_KEY, routes[i].body,
                &r);
        took = h_now_ms() - t0;
        cr_assert_eq(r.status, 503, "%s %s: %ld", routes[i].method,
                     routes[i].path, r.status);
        expect_error(j, "redis_unavailable");
        cr_assert_lt(took, 1000, "%s took %lld ms", routes[i].path,
                     (long long) took);
        json_decref(j);
        h_resp_free(&r);
    }

    /* a Redis that accepts but never answers: 503 after the timeout */
    cr_assert_eq(h_redis_start(env), 0);
    j = call("GET", "/api/v1/rules", NULL, 200);
    json_decref(j);
    cr_assert_eq(kill(env->redis.pid, SIGSTOP), 0);
    t0 = h_now_ms();
    j = api("GET", "/api/v1/rules", WRITE_KEY, NULL, &r);
    took = h_now_ms() - t0;
    cr_assert_eq(r.status, 503, "%ld", r.status);
    cr_assert_lt(took, 2000, "%lld ms", (long long) took);
    json_decref(j);
    h_resp_free(&r);

    /*
     * 32 requests behind a Redis that does not answer, with 4 threads and
     * a 500 ms timeout: each gets its 503 within about twice the timeout
     * instead of queueing for 8 timeouts.
     */
    {
        pthread_t t[32];
        void     *ms;

        for (i = 0; i < 32; i++) {
            cr_assert_eq(pthread_create(&t[i], NULL, stuck_get, NULL), 0);
        }
        for (i = 0; i < 32; i++) {
            pthread_join(t[i], &ms);
            cr_assert_lt((long) ms, 1600, "a request took %ld ms",
                         (long) ms);
        }
    }

    /* clients that leave while their job waits on Redis harm nothing */
    for (i = 0; i < 8; i++) {
        send_and_close("/api/v1/rules");
    }
    cr_assert_eq(kill(env->redis.pid, SIGCONT), 0);

    /* the threads reconnect: the rule from before is there (AOF) */
    j = call("GET", "/api/v1/rules", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1);
    json_decref(j);

    /*
     * Redis restarted under connections the threads keep: not one request
     * after it is back fails (a thread finds its connection closed before
     * using it).
     */
    for (i = 0; i < 16; i++) {
        j = call("GET", "/api/v1/rules", NULL, 200);
        json_decref(j);
    }
    cr_assert_eq(h_proc_stop(&env->redis), 0);
    cr_assert_eq(h_redis_start(env), 0);
    for (i = 0; i < 16; i++) {
        j = call("GET", "/api/v1/rules", NULL, 200);
        cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1);
        json_decref(j);
    }

    cr_assert_eq(h_pass(env), 0);
}

Test(api_rules, rules_survive_restarts, .init = setup, .fini = teardown)
{
    char   *id, path[64];
    json_t *j;

    id = create(CURL_EXAMPLE);
    snprintf(path, sizeof(path), "/api/v1/rules/%s", id);
    j = call("PATCH", path, "{\"tags\": [\"kept\"]}", 200);
    json_decref(j);

    /* a reload makes new workers and a new thread pool */
    cr_assert_eq(h_nginx_reload(env), 0);
    j = call("GET", path, NULL, 200);
    json_decref(j);

    cr_assert_eq(h_proc_stop(&env->nginx), 0);
    cr_assert_eq(h_proc_stop(&env->redis), 0);
    cr_assert_eq(h_redis_start(env), 0);
    cr_assert_eq(h_nginx_start(env), 0);

    j = call("GET", path, NULL, 200);
    cr_assert_str_eq(str(j, "name"), "Detect payment timeout cascade");
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j,
                         "tags"), 0)), "kept");
    json_decref(j);
    cr_assert_eq(rules_version(), 2);

    free(id);
    cr_assert_eq(h_pass(env), 0);
}

static void *
patcher(void *arg)
{
    const char *path = arg;
    const char *h[] = { "Authorization: Bearer " WRITE_KEY,
                        "Content-Type: application/json", NULL };
    h_resp_t    r;
    long        bad = 0;
    int         i;

    for (i = 0; i < 10; i++) {
        const char *body = i % 2 ? "{\"enabled\": true}"
                                 : "{\"severity\": \"low\"}";

        h_http(env, "PATCH", path, h, body, strlen(body), &r);
        if (r.status != 200) {
            fprintf(stderr, "PATCH: %ld %s\n", r.status, r.body);
            bad++;
        }
        h_resp_free(&r);
    }
    return (void *) bad;
}

/* concurrent PATCHes on one rule: every one applied, none lost */
Test(api_rules, concurrent_patches, .init = setup, .fini = teardown)
{
    pthread_t  t[4];
    char      *id, path[64];
    json_t    *j;
    void      *bad;
    int        i;

    id = create("{\"name\": \"x\", \"dsl\": \"trace.has(span => true)\"}");
    snprintf(path, sizeof(path), "/api/v1/rules/%s", id);

    for (i = 0; i < 4; i++) {
        cr_assert_eq(pthread_create(&t[i], NULL, patcher, path), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], &bad);
        cr_assert_eq((long) bad, 0, "failed PATCHes");
    }

    j = call("GET", path, NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 41);
    json_decref(j);
    cr_assert_eq(rules_version(), 41);

    free(id);
    cr_assert_eq(h_pass(env), 0);
}

/* configuration mistakes stop nginx with a message naming them */
Test(api_rules, config_errors)
{
    static const struct {
        const char *keys;       /* key file text, NULL: no betrace_api_keys */
        const char *extra;
        const char *message;
    } cases[] = {
        { "383c2698a9e574b0fc6f97ad64354677b5e64a860a9fd0d68726842683e5efe1"
          " admin root\n", "", "invalid role \"admin\"" },
        { "383c2698a9e5 write short\n", "", "api-keys:1: invalid line" },
        { NULL, "", "\"betrace_api\" needs \"betrace_api_keys\"" },
        { "", "betrace_redis localhost;",
          "invalid Redis address \"localhost\"" },
        { "", "betrace_redis_threads 0;", "between 1 and 64" },
    };
    char    path[PATH_MAX + 16], *text;
    size_t  i;
    FILE   *f;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        env = h_env_new(NULL);
        cr_assert_not_null(env);

        snprintf(path, sizeof(path), "%s/api-keys", env->dir);
        if (cases[i].keys) {
            f = fopen(path, "w");
            cr_assert_not_null(f);
            fputs(cases[i].keys, f);
            fclose(f);
            snprintf(http_extra, sizeof(http_extra),
                     "betrace_api_keys %s; %s", path, cases[i].extra);
        } else {
            snprintf(http_extra, sizeof(http_extra), "%s", cases[i].extra);
        }
        env->opts.http_extra = http_extra;
        env->opts.server_extra = server_extra;

        cr_assert_neq(h_nginx_start(env), 0, "case %zu started", i);

        snprintf(path, sizeof(path), "%s/error.log", env->dir);
        text = h_read_file(path, NULL);
        cr_assert_not_null(text);
        cr_assert(strstr(text, cases[i].message), "case %zu: %s", i, text);
        free(text);

        cr_assert_eq(h_pass(env), 0);
        h_env_free(env);
        env = NULL;
    }
}
