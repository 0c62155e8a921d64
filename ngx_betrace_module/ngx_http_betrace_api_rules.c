
/*
 * BeTrace nginx module: the rules endpoints.
 *
 *     GET    /api/v1/rules              list (enabled, severity, tag, text)
 *     POST   /api/v1/rules              create
 *     POST   /api/v1/rules/validate     compile only, no Redis
 *     GET    /api/v1/rules/{id}         one rule with the engine's status
 *     PUT    /api/v1/rules/{id}         replace
 *     PATCH  /api/v1/rules/{id}         change the fields given
 *     DELETE /api/v1/rules/{id}         delete (its signals stay)
 *
 * Input is checked and the DSL compiled in the worker (CPU only, and a
 * broken rule never costs a Redis round trip); Redis work runs as a job.
 * Every write is one Lua script that also INCRs P rules:version, so the
 * engine sees the rule and the bump together (docs/internals.md).
 * Updates are compare-and-set on the stored JSON: a PATCH racing another
 * write is redone on the new value instead of losing it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_betrace_api_ops.h"
#include "dsl/bt_dsl.h"


#define NGX_HTTP_BETRACE_RULE_NAME_MAX     200
#define NGX_HTTP_BETRACE_RULE_DESC_MAX     4096
#define NGX_HTTP_BETRACE_RULE_TAGS_MAX     32
#define NGX_HTTP_BETRACE_RULE_TAG_MAX      64
#define NGX_HTTP_BETRACE_RULE_ID_LEN       16
#define NGX_HTTP_BETRACE_RULE_CAS_TRIES    8


/* what the body may be checked for */
enum {
    NGX_HTTP_BETRACE_RULE_CREATE = 0,   /* name and dsl required */
    NGX_HTTP_BETRACE_RULE_PUT,          /* same, full replacement */
    NGX_HTTP_BETRACE_RULE_PATCH,        /* every field optional */
    NGX_HTTP_BETRACE_RULE_VALIDATE      /* dsl required */
};


typedef struct {
    char             *id;           /* NUL-terminated */
    json_t           *input;        /* the writable fields given */
    json_t           *warnings;     /* diagnostics array, or NULL */
    int64_t           expect;       /* "version" given, or -1 */
    int64_t           now;          /* Unix ms */
    ngx_uint_t        mode;
    ngx_str_t         location;     /* of a created rule */

    /* list filters (NULL: not given) */
    ngx_int_t         enabled;      /* -1, 0, 1 */
    char             *severity;
    char             *tag;
    char             *text;
} ngx_http_betrace_api_rule_job_t;


static ngx_int_t ngx_http_betrace_api_rule_input(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_http_betrace_api_rule_job_t *rj,
    ngx_int_t *rc);
static ngx_int_t ngx_http_betrace_api_field_error(ngx_http_request_t *r,
    const char *field, const char *fmt, ...);
static ngx_int_t ngx_http_betrace_api_type_error(ngx_http_request_t *r,
    const char *field, const char *expected, json_t *value);
static const char *ngx_http_betrace_api_json_type(json_t *value);
static ngx_int_t ngx_http_betrace_api_string_ok(const char *s, size_t max,
    ngx_uint_t allow_newlines);
static ngx_int_t ngx_http_betrace_api_compile(ngx_http_request_t *r,
    json_t *dsl, json_t **warnings, json_t **errors, ngx_int_t *rc);
static json_t *ngx_http_betrace_api_diags(bt_diags_t *d,
    bt_diag_severity_t severity);
static ngx_int_t ngx_http_betrace_api_rule_update(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_uint_t mode);
static ngx_http_betrace_api_rule_job_t *ngx_http_betrace_api_rule_job(
    ngx_http_request_t *r);
static void ngx_http_betrace_api_rule_job_cleanup(void *data);
static ngx_int_t ngx_http_betrace_api_rule_id(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_http_betrace_api_rule_job_t *rj,
    ngx_int_t *rc);
static json_t *ngx_http_betrace_api_rule_build(json_t *id, json_t *fields,
    json_t *created_at, int64_t now, json_int_t version);

static void ngx_http_betrace_api_rules_list_job(
    ngx_http_betrace_api_job_t *job);
static ngx_uint_t ngx_http_betrace_api_rule_matches(
    ngx_http_betrace_api_rule_job_t *rj, json_t *rule);
static void ngx_http_betrace_api_rules_create_job(
    ngx_http_betrace_api_job_t *job);
static void ngx_http_betrace_api_rule_get_job(
    ngx_http_betrace_api_job_t *job);
static void ngx_http_betrace_api_rule_update_job(
    ngx_http_betrace_api_job_t *job);
static void ngx_http_betrace_api_rule_delete_job(
    ngx_http_betrace_api_job_t *job);
static json_t *ngx_http_betrace_api_rule_status(
    ngx_http_betrace_api_job_t *job, const char *id, json_int_t version);
static json_t *ngx_http_betrace_api_status_json(redisReply *reply,
    json_int_t version);


static const char  *ngx_http_betrace_api_severities[] = {
    "critical", "high", "medium", "low", "info", NULL
};


/* the writable fields; anything else but the read-only ones is refused */
static const char  *ngx_http_betrace_api_read_only[] = {
    "id", "created_at", "updated_at", "version", "status", "warnings", NULL
};


/*
 * KEYS: rule:<id>, rules, rules:version; ARGV: json, created ms, id.
 * A fresh random id never exists; refusing keeps a collision harmless.
 */
static const char  ngx_http_betrace_api_create_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1]) "
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) "
    "redis.call('INCR', KEYS[3]) "
    "return 1";

/* KEYS: rule:<id>, rules:version; ARGV: the JSON read, the new JSON */
static const char  ngx_http_betrace_api_update_lua[] =
    "local cur = redis.call('GET', KEYS[1]) "
    "if not cur then return -1 end "
    "if cur ~= ARGV[1] then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[2]) "
    "redis.call('INCR', KEYS[2]) "
    "return 1";

/*
 * KEYS: rule:<id>, rules, rules:version, rule:<id>:status; ARGV: id.
 * Signals of the rule are kept: they record what happened.
 */
static const char  ngx_http_betrace_api_delete_lua[] =
    "if redis.call('DEL', KEYS[1]) == 0 then return 0 end "
    "redis.call('ZREM', KEYS[2], ARGV[1]) "
    "redis.call('DEL', KEYS[4]) "
    "redis.call('INCR', KEYS[3]) "
    "return 1";


/* --- handlers (worker) ---------------------------------------------------- */

ngx_int_t
ngx_http_betrace_api_rules_list(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_str_t                         v;
    ngx_uint_t                        i;
    ngx_http_betrace_api_rule_job_t  *rj;

    rj = ngx_http_betrace_api_rule_job(r);
    if (rj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_betrace_api_arg(r, "enabled", &v);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        if (v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0) {
            rj->enabled = 1;

        } else if (v.len == 5 && ngx_strncmp(v.data, "false", 5) == 0) {
            rj->enabled = 0;

        } else {
            return ngx_http_betrace_api_send_invalid(r,
                       NGX_HTTP_BETRACE_API_PARAMETER, "enabled",
                       "enabled must be true or false, "
                       "not \"%.*s\"", (int) v.len, v.data);
        }
    }

    rc = ngx_http_betrace_api_arg(r, "severity", &v);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        for (i = 0; ngx_http_betrace_api_severities[i]; i++) {
            if (ngx_strcmp(v.data, ngx_http_betrace_api_severities[i]) == 0)
            {
                break;
            }
        }

        if (ngx_http_betrace_api_severities[i] == NULL) {
            return ngx_http_betrace_api_send_invalid(r,
                       NGX_HTTP_BETRACE_API_PARAMETER, "severity",
                       "severity must be one of critical, "
                       "high, medium, low, info, not \"%s\"", v.data);
        }

        rj->severity = (char *) v.data;
    }

    rc = ngx_http_betrace_api_arg(r, "tag", &v);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        rj->tag = (char *) v.data;
    }

    rc = ngx_http_betrace_api_arg(r, "text", &v);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK && v.len) {
        rj->text = (char *) v.data;
    }

    return ngx_http_betrace_api_redis(r, ngx_http_betrace_api_rules_list_job,
                                      rj);
}


ngx_int_t
ngx_http_betrace_api_rules_create(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    u_char                            rnd[NGX_HTTP_BETRACE_RULE_ID_LEN / 2];
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_http_betrace_api_rule_job_t  *rj;

    rj = ngx_http_betrace_api_rule_job(r);
    if (rj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rj->mode = NGX_HTTP_BETRACE_RULE_CREATE;

    if (ngx_http_betrace_api_rule_input(r, ctx, rj, &rc) != NGX_OK) {
        return rc;
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "betrace: RAND_bytes() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rj->id = ngx_pnalloc(r->pool, NGX_HTTP_BETRACE_RULE_ID_LEN + 1);
    if (rj->id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_hex_dump((u_char *) rj->id, rnd, sizeof(rnd));
    *p = '\0';

    rj->location.data = ngx_pnalloc(r->pool, sizeof("/api/v1/rules/") - 1
                                             + NGX_HTTP_BETRACE_RULE_ID_LEN);
    if (rj->location.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rj->location.len = ngx_sprintf(rj->location.data, "/api/v1/rules/%s",
                                   rj->id)
                       - rj->location.data;

    return ngx_http_betrace_api_redis(r,
                                      ngx_http_betrace_api_rules_create_job,
                                      rj);
}


ngx_int_t
ngx_http_betrace_api_rules_validate(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    json_t                           *errors, *res;
    ngx_int_t                         rc;
    ngx_http_betrace_api_rule_job_t  *rj;

    rj = ngx_http_betrace_api_rule_job(r);
    if (rj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rj->mode = NGX_HTTP_BETRACE_RULE_VALIDATE;

    /* field errors are 400; a rule that does not compile is an answer */

    if (ngx_http_betrace_api_rule_input(r, ctx, rj, &rc) != NGX_OK) {
        return rc;
    }

    errors = NULL;

    if (ngx_http_betrace_api_compile(r, json_object_get(rj->input, "dsl"),
                                     &rj->warnings, &errors, &rc)
        != NGX_OK)
    {
        return rc;
    }

    res = json_pack("{s:b,s:o,s:O}", "valid", errors == NULL,
                    "errors", errors ? errors : json_array(),
                    "warnings", rj->warnings);

    return ngx_http_betrace_api_send_json(r, NGX_HTTP_OK, res);
}


ngx_int_t
ngx_http_betrace_api_rule_get(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_http_betrace_api_rule_job_t  *rj;

    rj = ngx_http_betrace_api_rule_job(r);
    if (rj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_betrace_api_rule_id(r, ctx, rj, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_http_betrace_api_redis(r, ngx_http_betrace_api_rule_get_job,
                                      rj);
}


ngx_int_t
ngx_http_betrace_api_rule_put(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rule_update(r, ctx,
                                            NGX_HTTP_BETRACE_RULE_PUT);
}


ngx_int_t
ngx_http_betrace_api_rule_patch(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rule_update(r, ctx,
                                            NGX_HTTP_BETRACE_RULE_PATCH);
}


/* PUT and PATCH: the same job, told apart by mode */

static ngx_int_t
ngx_http_betrace_api_rule_update(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_uint_t mode)
{
    ngx_int_t                         rc;
    ngx_http_betrace_api_rule_job_t  *rj;

    rj = ngx_http_betrace_api_rule_job(r);
    if (rj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rj->mode = mode;

    if (ngx_http_betrace_api_rule_id(r, ctx, rj, &rc) != NGX_OK) {
        return rc;
    }

    if (ngx_http_betrace_api_rule_input(r, ctx, rj, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_http_betrace_api_redis(r,
                                      ngx_http_betrace_api_rule_update_job,
                                      rj);
}


ngx_int_t
ngx_http_betrace_api_rule_delete(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_http_betrace_api_rule_job_t  *rj;

    rj = ngx_http_betrace_api_rule_job(r);
    if (rj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_betrace_api_rule_id(r, ctx, rj, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_http_betrace_api_redis(r,
                                      ngx_http_betrace_api_rule_delete_job,
                                      rj);
}


/* --- input ---------------------------------------------------------------- */

/*
 * Checks ctx->body against rj->mode and fills rj->input with the
 * writable fields (defaults added for create and put), rj->expect and,
 * when a dsl is given (not for validate), compiles it: errors are a 400
 * invalid_rule, warnings go to rj->warnings.  Returns NGX_OK, or
 * NGX_ERROR with *rc set (a reply was sent or rc is a status).
 */

static ngx_int_t
ngx_http_betrace_api_rule_input(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_http_betrace_api_rule_job_t *rj,
    ngx_int_t *rc)
{
    size_t       i, len;
    json_t      *body, *v, *tag, *errors, *first;
    const char  *key, *s;
    ngx_uint_t   k, full;

    body = ctx->body;

    if (!json_is_object(body)) {
        *rc = ngx_http_betrace_api_send_error(r, NGX_HTTP_BAD_REQUEST,
                  "invalid_body", "the body must be a JSON object, not %s",
                  ngx_http_betrace_api_json_type(body));
        return NGX_ERROR;
    }

    rj->input = json_object();
    if (rj->input == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    json_object_foreach(body, key, v) {

        if (ngx_strcmp(key, "name") == 0) {
            if (!json_is_string(v)) {
                goto type_string;
            }

            s = json_string_value(v);
            len = json_string_length(v);

            if (len == 0 || len > NGX_HTTP_BETRACE_RULE_NAME_MAX
                || ngx_http_betrace_api_string_ok(s, len, 0) != NGX_OK)
            {
                *rc = ngx_http_betrace_api_field_error(r, key,
                          "name must be 1 to %d bytes without control "
                          "characters", NGX_HTTP_BETRACE_RULE_NAME_MAX);
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(key, "description") == 0) {
            if (!json_is_string(v)) {
                goto type_string;
            }

            if (json_string_length(v) > NGX_HTTP_BETRACE_RULE_DESC_MAX
                || ngx_http_betrace_api_string_ok(json_string_value(v),
                                                  json_string_length(v), 1)
                   != NGX_OK)
            {
                *rc = ngx_http_betrace_api_field_error(r, key,
                          "description must be at most %d bytes without "
                          "control characters other than newlines",
                          NGX_HTTP_BETRACE_RULE_DESC_MAX);
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(key, "dsl") == 0) {
            if (!json_is_string(v)) {
                goto type_string;
            }

            if (json_string_length(v) == 0
                || json_string_length(v) > BT_DSL_MAX_SOURCE)
            {
                *rc = ngx_http_betrace_api_field_error(r, key,
                          "dsl must be 1 to %d bytes", BT_DSL_MAX_SOURCE);
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(key, "severity") == 0) {
            if (!json_is_string(v)) {
                goto type_string;
            }

            for (k = 0; ngx_http_betrace_api_severities[k]; k++) {
                if (ngx_strcmp(json_string_value(v),
                               ngx_http_betrace_api_severities[k]) == 0)
                {
                    break;
                }
            }

            if (ngx_http_betrace_api_severities[k] == NULL) {
                *rc = ngx_http_betrace_api_field_error(r, key,
                          "severity must be one of critical, high, medium, "
                          "low, info, not \"%s\"", json_string_value(v));
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v)) {
                *rc = ngx_http_betrace_api_type_error(r, key, "a boolean",
                                                      v);
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(key, "tags") == 0) {
            if (!json_is_array(v)) {
                *rc = ngx_http_betrace_api_type_error(r, key,
                                                      "an array of strings",
                                                      v);
                return NGX_ERROR;
            }

            if (json_array_size(v) > NGX_HTTP_BETRACE_RULE_TAGS_MAX) {
                *rc = ngx_http_betrace_api_field_error(r, key,
                          "at most %d tags", NGX_HTTP_BETRACE_RULE_TAGS_MAX);
                return NGX_ERROR;
            }

            json_array_foreach(v, i, tag) {
                if (!json_is_string(tag)) {
                    *rc = ngx_http_betrace_api_type_error(r, "tags[]",
                                                          "a string", tag);
                    return NGX_ERROR;
                }

                len = json_string_length(tag);

                if (len == 0 || len > NGX_HTTP_BETRACE_RULE_TAG_MAX
                    || ngx_http_betrace_api_string_ok(json_string_value(tag),
                                                      len, 0) != NGX_OK)
                {
                    *rc = ngx_http_betrace_api_field_error(r, key,
                              "each tag must be 1 to %d bytes without "
                              "control characters",
                              NGX_HTTP_BETRACE_RULE_TAG_MAX);
                    return NGX_ERROR;
                }
            }

        } else {
            for (k = 0; ngx_http_betrace_api_read_only[k]; k++) {
                if (ngx_strcmp(key, ngx_http_betrace_api_read_only[k]) == 0) {
                    break;
                }
            }

            if (ngx_http_betrace_api_read_only[k] == NULL) {
                *rc = ngx_http_betrace_api_field_error(r, key,
                          "unknown field \"%s\"; the fields are name, "
                          "description, dsl, severity, enabled and tags",
                          key);
                return NGX_ERROR;
            }

            /*
             * Read-only fields are accepted so that a GET reply can be
             * sent back as a PUT; "version" there is a precondition and
             * "id" must name the rule of the path.
             */

            if (ngx_strcmp(key, "version") == 0
                && rj->mode != NGX_HTTP_BETRACE_RULE_CREATE
                && rj->mode != NGX_HTTP_BETRACE_RULE_VALIDATE)
            {
                if (!json_is_integer(v) || json_integer_value(v) < 1) {
                    *rc = ngx_http_betrace_api_type_error(r, key,
                              "a positive integer", v);
                    return NGX_ERROR;
                }

                rj->expect = json_integer_value(v);

            } else if (ngx_strcmp(key, "id") == 0 && rj->id
                       && (!json_is_string(v)
                           || ngx_strcmp(json_string_value(v), rj->id) != 0))
            {
                *rc = ngx_http_betrace_api_field_error(r, key,
                          "id does not match the rule in the path");
                return NGX_ERROR;
            }

            continue;
        }

        if (json_object_set(rj->input, key, v) != 0) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        continue;

    type_string:

        *rc = ngx_http_betrace_api_type_error(r, key, "a string", v);
        return NGX_ERROR;
    }

    full = (rj->mode == NGX_HTTP_BETRACE_RULE_CREATE
            || rj->mode == NGX_HTTP_BETRACE_RULE_PUT);

    if (full && json_object_get(rj->input, "name") == NULL) {
        *rc = ngx_http_betrace_api_field_error(r, "name",
                                               "name is required");
        return NGX_ERROR;
    }

    if ((full || rj->mode == NGX_HTTP_BETRACE_RULE_VALIDATE)
        && json_object_get(rj->input, "dsl") == NULL)
    {
        *rc = ngx_http_betrace_api_field_error(r, "dsl", "dsl is required");
        return NGX_ERROR;
    }

    if (full) {
        if (json_object_get(rj->input, "description") == NULL
            && json_object_set_new(rj->input, "description", json_string(""))
               != 0)
        {
            goto nomem;
        }

        if (json_object_get(rj->input, "severity") == NULL
            && json_object_set_new(rj->input, "severity",
                                   json_string("medium")) != 0)
        {
            goto nomem;
        }

        if (json_object_get(rj->input, "enabled") == NULL
            && json_object_set_new(rj->input, "enabled", json_true()) != 0)
        {
            goto nomem;
        }

        if (json_object_get(rj->input, "tags") == NULL
            && json_object_set_new(rj->input, "tags", json_array()) != 0)
        {
            goto nomem;
        }
    }

    if (rj->mode == NGX_HTTP_BETRACE_RULE_VALIDATE
        || json_object_get(rj->input, "dsl") == NULL)
    {
        return NGX_OK;
    }

    errors = NULL;

    if (ngx_http_betrace_api_compile(r, json_object_get(rj->input, "dsl"),
                                     &rj->warnings, &errors, rc)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (errors == NULL) {
        return NGX_OK;
    }

    first = json_array_get(errors, 0);

    *rc = ngx_http_betrace_api_send_json(r, NGX_HTTP_BAD_REQUEST,
              json_pack("{s:{s:s,s:o,s:o}}", "error",
                        "code", "invalid_rule",
                        "message",
                        json_sprintf("the rule does not compile: line "
                                     "%" JSON_INTEGER_FORMAT ", column %"
                                     JSON_INTEGER_FORMAT ": %s",
                                     json_integer_value(
                                         json_object_get(first, "line")),
                                     json_integer_value(
                                         json_object_get(first, "column")),
                                     json_string_value(
                                         json_object_get(first, "message"))),
                        "diagnostics", errors));
    return NGX_ERROR;

nomem:

    *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    return NGX_ERROR;
}


/* 400 {"error": {"code": "invalid_field", "field": ..., "message": ...}} */

static ngx_int_t
ngx_http_betrace_api_field_error(ngx_http_request_t *r, const char *field,
    const char *fmt, ...)
{
    json_t     *msg;
    va_list     ap;
    ngx_int_t   rc;

    va_start(ap, fmt);
    msg = json_vsprintf(fmt, ap);
    va_end(ap);

    rc = ngx_http_betrace_api_send_invalid(r, NGX_HTTP_BETRACE_API_FIELD,
                                           field, "%s",
                                           msg ? json_string_value(msg)
                                               : "invalid field");
    json_decref(msg);

    return rc;
}


static ngx_int_t
ngx_http_betrace_api_type_error(ngx_http_request_t *r, const char *field,
    const char *expected, json_t *value)
{
    return ngx_http_betrace_api_field_error(r, field,
               "%s must be %s, not %s", field, expected,
               ngx_http_betrace_api_json_type(value));
}


static const char *
ngx_http_betrace_api_json_type(json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}


/* no control characters (jansson already refused invalid UTF-8) */

static ngx_int_t
ngx_http_betrace_api_string_ok(const char *s, size_t max,
    ngx_uint_t allow_newlines)
{
    size_t  i;

    for (i = 0; i < max; i++) {
        if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
            if (allow_newlines && (s[i] == '\n' || s[i] == '\t'
                                   || s[i] == '\r'))
            {
                continue;
            }

            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Compiles dsl.  Sets *warnings to the warnings (an array, maybe empty)
 * and *errors to the errors or NULL when it compiled.  Returns NGX_OK, or
 * NGX_ERROR with *rc = 500 when out of memory.
 */

static ngx_int_t
ngx_http_betrace_api_compile(ngx_http_request_t *r, json_t *dsl,
    json_t **warnings, json_t **errors, ngx_int_t *rc)
{
    bt_rule_t   *rule;
    bt_diags_t   d;

    bt_diags_init(&d);

    rule = bt_rule_compile(json_string_value(dsl), json_string_length(dsl),
                           &d);

    if (rule == NULL && d.n_errors == 0) {
        bt_diags_free(&d);
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    bt_rule_free(rule);

    *warnings = ngx_http_betrace_api_diags(&d, BT_DIAG_WARNING);
    *errors = (rule == NULL)
              ? ngx_http_betrace_api_diags(&d, BT_DIAG_ERROR) : NULL;

    bt_diags_free(&d);

    if (*warnings == NULL || (rule == NULL && *errors == NULL)) {
        json_decref(*errors);
        *errors = NULL;
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The diagnostics of one severity as bt_diag_json objects plus "excerpt":
 * the source line and the caret line under it, ready to print.
 */

static json_t *
ngx_http_betrace_api_diags(bt_diags_t *d, bt_diag_severity_t severity)
{
    size_t   i;
    json_t  *arr, *o;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    for (i = 0; i < d->n; i++) {
        if (d->items[i].severity != severity) {
            continue;
        }

        o = bt_diag_json(&d->items[i]);
        if (o == NULL) {
            json_decref(arr);
            return NULL;
        }

        json_object_set_new(o, "excerpt",
                            json_sprintf("%s\n%s",
                                         d->items[i].source_line
                                         ? d->items[i].source_line : "",
                                         d->items[i].caret
                                         ? d->items[i].caret : ""));

        if (json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }

    return arr;
}


static ngx_http_betrace_api_rule_job_t *
ngx_http_betrace_api_rule_job(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_betrace_api_rule_job_t  *rj;

    rj = ngx_pcalloc(r->pool, sizeof(ngx_http_betrace_api_rule_job_t));
    if (rj == NULL) {
        return NULL;
    }

    rj->expect = -1;
    rj->enabled = -1;
    rj->now = ngx_http_betrace_clock_ms();

    /* the JSON the job holds goes with the request */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_betrace_api_rule_job_cleanup;
    cln->data = rj;

    return rj;
}


static void
ngx_http_betrace_api_rule_job_cleanup(void *data)
{
    ngx_http_betrace_api_rule_job_t *rj = data;

    json_decref(rj->input);
    json_decref(rj->warnings);
}


/*
 * The id of "rules/{id}".  Ids are 16 lowercase hex digits; anything else
 * is 404 here, so a path can never name another key ("x:status").
 */

static ngx_int_t
ngx_http_betrace_api_rule_id(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_http_betrace_api_rule_job_t *rj,
    ngx_int_t *rc)
{
    u_char      ch;
    ngx_str_t  *seg;
    ngx_uint_t  i;

    seg = &ctx->segs[1];

    for (i = 0; i < seg->len; i++) {
        ch = seg->data[i];

        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            break;
        }
    }

    if (seg->len != NGX_HTTP_BETRACE_RULE_ID_LEN || i != seg->len) {
        *rc = ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_FOUND,
                  "not_found", "no rule with id \"%.*s\" (ids are %d hex "
                  "digits)", (int) ngx_min(seg->len, 64), seg->data,
                  NGX_HTTP_BETRACE_RULE_ID_LEN);
        return NGX_ERROR;
    }

    rj->id = ngx_http_betrace_api_strdup(r, seg);
    if (rj->id == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A rule object with its fields in one order (id first), whatever order
 * they were given in: fields holds name .. tags.
 */

static json_t *
ngx_http_betrace_api_rule_build(json_t *id, json_t *fields,
    json_t *created_at, int64_t now, json_int_t version)
{
    char         at[NGX_HTTP_BETRACE_TIME_LEN];
    json_t      *rule, *v;
    ngx_uint_t   i;

    static const char  *order[] = {
        "name", "description", "dsl", "severity", "enabled", "tags"
    };

    ngx_http_betrace_format_time(now, at);

    rule = json_object();
    if (rule == NULL) {
        return NULL;
    }

    if (json_object_set(rule, "id", id) != 0) {
        goto failed;
    }

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        v = json_object_get(fields, order[i]);

        if (v && json_object_set(rule, order[i], v) != 0) {
            goto failed;
        }
    }

    if ((created_at
         ? json_object_set(rule, "created_at", created_at)
         : json_object_set_new(rule, "created_at",
                               json_string(at))) != 0
        || json_object_set_new(rule, "updated_at", json_string(at)) != 0
        || json_object_set_new(rule, "version", json_integer(version)) != 0)
    {
        goto failed;
    }

    return rule;

failed:

    json_decref(rule);
    return NULL;
}


/* --- Redis jobs (threads) ------------------------------------------------- */

static void
ngx_http_betrace_api_rules_list_job(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_api_rule_job_t *rj = job->data;

    size_t        i, n;
    json_t       *rules, *rule;
    redisReply   *ids, *vals, *stats;
    const char  **argv;
    size_t       *argvlen;

    ids = ngx_http_betrace_api_command(job, "ZRANGE %srules 0 -1",
                                       job->prefix);
    if (ids == NULL) {
        return;
    }

    rules = json_array();
    if (rules == NULL) {
        freeReplyObject(ids);
        return;
    }

    n = ids->elements;
    vals = NULL;
    stats = NULL;
    argv = NULL;
    argvlen = NULL;

    if (n == 0) {
        goto done;
    }

    argv = malloc((n + 1) * sizeof(char *));
    argvlen = malloc((n + 1) * sizeof(size_t));
    if (argv == NULL || argvlen == NULL) {
        goto failed;
    }

    /* MGET rule:<id>... then MGET rule:<id>:status... */

    argv[0] = "MGET";
    argvlen[0] = 4;

    for (i = 0; i < n; i++) {
        argv[i + 1] = NULL;
    }

    for (i = 0; i < n; i++) {
        argvlen[i + 1] = strlen(job->prefix) + 5 + ids->element[i]->len;
        argv[i + 1] = malloc(argvlen[i + 1] + sizeof(":status"));
        if (argv[i + 1] == NULL) {
            goto failed;
        }

        sprintf((char *) argv[i + 1], "%srule:%s", job->prefix,
                ids->element[i]->str);
    }

    vals = ngx_http_betrace_api_command_argv(job, (int) n + 1, argv,
                                             argvlen);
    if (vals == NULL) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        strcat((char *) argv[i + 1], ":status");
        argvlen[i + 1] += sizeof(":status") - 1;
    }

    stats = ngx_http_betrace_api_command_argv(job, (int) n + 1, argv,
                                              argvlen);
    if (stats == NULL) {
        goto failed;
    }

    for (i = 0; i < n && i < vals->elements; i++) {
        if (vals->element[i]->type != REDIS_REPLY_STRING) {
            continue;       /* deleted between ZRANGE and MGET */
        }

        rule = json_loadb(vals->element[i]->str, vals->element[i]->len, 0,
                          NULL);
        if (rule == NULL) {
            continue;
        }

        if (!ngx_http_betrace_api_rule_matches(rj, rule)) {
            json_decref(rule);
            continue;
        }

        json_object_set_new(rule, "status",
                            ngx_http_betrace_api_status_json(
                                i < stats->elements ? stats->element[i]
                                                    : NULL,
                                json_integer_value(
                                    json_object_get(rule, "version"))));

        json_array_append_new(rules, rule);
    }

done:

    json_decref(job->json);
    job->json = json_pack("{s:I,s:o}", "count",
                          (json_int_t) json_array_size(rules),
                          "rules", rules);
    rules = NULL;

failed:

    json_decref(rules);

    if (argv) {
        for (i = 0; i < n; i++) {
            free((char *) argv[i + 1]);
        }
    }

    free(argv);
    free(argvlen);

    if (vals) {
        freeReplyObject(vals);
    }

    if (stats) {
        freeReplyObject(stats);
    }

    freeReplyObject(ids);

    if (job->json == NULL) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "out of memory");
    }
}


static ngx_uint_t
ngx_http_betrace_api_rule_matches(ngx_http_betrace_api_rule_job_t *rj,
    json_t *rule)
{
    size_t       i;
    json_t      *tag;
    const char  *s;
    static const char  *fields[] = { "name", "description", "dsl" };

    if (rj->enabled != -1
        && json_is_true(json_object_get(rule, "enabled")) != rj->enabled)
    {
        return 0;
    }

    if (rj->severity) {
        s = json_string_value(json_object_get(rule, "severity"));
        if (s == NULL || strcmp(s, rj->severity) != 0) {
            return 0;
        }
    }

    if (rj->tag) {
        json_array_foreach(json_object_get(rule, "tags"), i, tag) {
            s = json_string_value(tag);
            if (s && strcmp(s, rj->tag) == 0) {
                break;
            }
        }

        if (i == json_array_size(json_object_get(rule, "tags"))) {
            return 0;
        }
    }

    if (rj->text) {
        for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            s = json_string_value(json_object_get(rule, fields[i]));
            if (s && strcasestr(s, rj->text)) {
                break;
            }
        }

        if (i == sizeof(fields) / sizeof(fields[0])) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_betrace_api_rules_create_job(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_api_rule_job_t *rj = job->data;

    char        *s;
    json_t      *rule, *res, *v;
    redisReply  *reply;

    v = json_string(rj->id);
    rule = ngx_http_betrace_api_rule_build(v, rj->input, NULL, rj->now, 1);
    json_decref(v);

    if (rule == NULL) {
        goto nomem;
    }

    s = json_dumps(rule, JSON_COMPACT);
    if (s == NULL) {
        json_decref(rule);
        goto nomem;
    }

    reply = ngx_http_betrace_api_command(job,
                "EVAL %s 3 %srule:%s %srules %srules:version %s %lld %s",
                ngx_http_betrace_api_create_lua,
                job->prefix, rj->id, job->prefix, job->prefix,
                s, (long long) rj->now, rj->id);
    free(s);

    if (reply == NULL) {
        json_decref(rule);
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        freeReplyObject(reply);
        json_decref(rule);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_CONFLICT, "conflict",
                                       "a rule with id %s exists", rj->id);
        return;
    }

    freeReplyObject(reply);

    res = rule;
    json_object_set_new(res, "status", json_pack("{s:s}", "state",
                                                 "pending"));
    json_object_set(res, "warnings", rj->warnings);

    job->status = NGX_HTTP_CREATED;
    job->json = res;

    job->location = rj->location;

    return;

nomem:

    ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "internal", "out of memory");
}


static void
ngx_http_betrace_api_rule_get_job(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_api_rule_job_t *rj = job->data;

    json_t      *rule;
    redisReply  *reply;

    reply = ngx_http_betrace_api_command(job, "MGET %srule:%s %srule:%s:status",
                                         job->prefix, rj->id,
                                         job->prefix, rj->id);
    if (reply == NULL) {
        return;
    }

    if (reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        freeReplyObject(reply);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no rule with id \"%s\"", rj->id);
        return;
    }

    rule = json_loadb(reply->element[0]->str, reply->element[0]->len, 0,
                      NULL);
    if (rule == NULL) {
        freeReplyObject(reply);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "rule %s in Redis is not "
                                       "valid JSON", rj->id);
        return;
    }

    json_object_set_new(rule, "status",
                        ngx_http_betrace_api_status_json(reply->element[1],
                            json_integer_value(json_object_get(rule,
                                                               "version"))));
    freeReplyObject(reply);

    job->json = rule;
}


static void
ngx_http_betrace_api_rule_update_job(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_api_rule_job_t *rj = job->data;

    char        *s;
    json_t      *cur, *rule;
    json_int_t   version;
    ngx_uint_t   tries;
    redisReply  *old, *reply;

    for (tries = 0; tries < NGX_HTTP_BETRACE_RULE_CAS_TRIES; tries++) {

        old = ngx_http_betrace_api_command(job, "GET %srule:%s",
                                           job->prefix, rj->id);
        if (old == NULL) {
            return;
        }

        if (old->type != REDIS_REPLY_STRING) {
            freeReplyObject(old);
            ngx_http_betrace_api_job_error(job, NGX_HTTP_NOT_FOUND,
                                           "not_found",
                                           "no rule with id \"%s\"", rj->id);
            return;
        }

        cur = json_loadb(old->str, old->len, 0, NULL);
        if (cur == NULL) {
            freeReplyObject(old);
            ngx_http_betrace_api_job_error(job,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "internal", "rule %s in Redis is "
                                           "not valid JSON", rj->id);
            return;
        }

        version = json_integer_value(json_object_get(cur, "version"));

        if (rj->expect != -1 && rj->expect != version) {
            freeReplyObject(old);
            json_decref(cur);
            ngx_http_betrace_api_job_error(job, NGX_HTTP_CONFLICT,
                                           "version_conflict",
                                           "the rule is at version %lld, "
                                           "not %lld", (long long) version,
                                           (long long) rj->expect);
            return;
        }

        /* PUT replaces the writable fields, PATCH sets those given */

        if (json_object_update(cur, rj->input) != 0) {
            goto nomem;
        }

        rule = ngx_http_betrace_api_rule_build(json_object_get(cur, "id"),
                   rj->mode == NGX_HTTP_BETRACE_RULE_PATCH ? cur : rj->input,
                   json_object_get(cur, "created_at"), rj->now,
                   version + 1);
        if (rule == NULL) {
            goto nomem;
        }

        s = json_dumps(rule, JSON_COMPACT);
        if (s == NULL) {
            json_decref(rule);
            goto nomem;
        }

        reply = ngx_http_betrace_api_command(job,
                    "EVAL %s 2 %srule:%s %srules:version %b %s",
                    ngx_http_betrace_api_update_lua,
                    job->prefix, rj->id, job->prefix,
                    old->str, old->len, s);
        free(s);
        freeReplyObject(old);
        json_decref(cur);

        if (reply == NULL) {
            json_decref(rule);
            return;
        }

        if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
            freeReplyObject(reply);

            json_object_set_new(rule, "status",
                                ngx_http_betrace_api_rule_status(job,
                                    rj->id, version + 1));
            json_object_set(rule, "warnings",
                            rj->warnings ? rj->warnings : json_array());

            job->json = rule;
            return;
        }

        json_decref(rule);

        if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
            freeReplyObject(reply);
            ngx_http_betrace_api_job_error(job, NGX_HTTP_NOT_FOUND,
                                           "not_found",
                                           "no rule with id \"%s\"", rj->id);
            return;
        }

        /* changed since it was read: redo the merge on the new value */

        freeReplyObject(reply);
    }

    ngx_http_betrace_api_job_error(job, NGX_HTTP_CONFLICT, "conflict",
                                   "the rule kept changing; try again");
    return;

nomem:

    freeReplyObject(old);
    json_decref(cur);
    ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "internal", "out of memory");
}


static void
ngx_http_betrace_api_rule_delete_job(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_api_rule_job_t *rj = job->data;

    redisReply  *reply;

    reply = ngx_http_betrace_api_command(job,
                "EVAL %s 4 %srule:%s %srules %srules:version %srule:%s:status"
                " %s",
                ngx_http_betrace_api_delete_lua,
                job->prefix, rj->id, job->prefix, job->prefix,
                job->prefix, rj->id, rj->id);
    if (reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        freeReplyObject(reply);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no rule with id \"%s\"", rj->id);
        return;
    }

    freeReplyObject(reply);

    job->status = NGX_HTTP_NO_CONTENT;
}


/* the engine's status of one rule (a new reference, never NULL on memory) */

static json_t *
ngx_http_betrace_api_rule_status(ngx_http_betrace_api_job_t *job,
    const char *id, json_int_t version)
{
    json_t      *st;
    redisReply  *reply;

    reply = ngx_http_betrace_api_command(job, "GET %srule:%s:status",
                                         job->prefix, id);

    if (reply == NULL) {
        /* the write is done: report it, not the lost status read */
        json_decref(job->json);
        job->json = NULL;
        job->status = NGX_HTTP_OK;
    }

    st = ngx_http_betrace_api_status_json(reply, version);

    if (reply) {
        freeReplyObject(reply);
    }

    return st;
}


/*
 * The engine's status as it wrote it, except that until the engine has
 * loaded this version of the rule the state is "pending": an "active"
 * of the previous version says nothing about the new DSL.
 */

static json_t *
ngx_http_betrace_api_status_json(redisReply *reply, json_int_t version)
{
    json_t  *st, *v;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        st = json_loadb(reply->str, reply->len, 0, NULL);

        if (json_is_object(st)) {
            v = json_object_get(st, "version");

            if (json_is_integer(v) && json_integer_value(v) < version) {
                json_object_set_new(st, "state", json_string("pending"));
            }

            return st;
        }

        json_decref(st);
    }

    return json_pack("{s:s}", "state", "pending");
}
