
/*
 * BeTrace nginx module: the REST API under /api/v1 (betrace_api).
 *
 * ngx_http_betrace_api.c          directives, auth, router, body, replies
 * ngx_http_betrace_api_redis.c    Redis jobs on the "betrace" thread pool
 * ngx_http_betrace_api_routes.c   the route table (method + path -> handler)
 * ngx_http_betrace_api_rules.c    /rules, /rules/{id}, /rules/validate
 *
 * An endpoint is a function that gets the request and its parsed context
 * (path segments, JSON body, role).  It either answers at once
 * (ngx_http_betrace_api_send_json() / _send_error()) or copies what it
 * needs out of the request into pool memory and hands a function to
 * ngx_http_betrace_api_redis(): that function runs in a thread of the
 * "betrace" pool with the thread's own blocking hiredis connection and
 * fills job->status and job->json; the worker then sends them.  The
 * thread never touches the request, its pool or nginx's memory functions.
 *
 * Every handler returns what a content handler returns: an HTTP status to
 * finalize with, NGX_DONE after ngx_http_betrace_api_redis(), or the rc
 * of a send function.
 */


#ifndef _NGX_HTTP_BETRACE_API_H_INCLUDED_
#define _NGX_HTTP_BETRACE_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <hiredis/hiredis.h>


/* roles of an API key: write implies read; ingest is for OTLP only */
#define NGX_HTTP_BETRACE_ROLE_READ     0x01
#define NGX_HTTP_BETRACE_ROLE_WRITE    0x02
#define NGX_HTTP_BETRACE_ROLE_INGEST   0x04

#define NGX_HTTP_BETRACE_API_MAX_SEGS  8


typedef struct ngx_http_betrace_api_ctx_s  ngx_http_betrace_api_ctx_t;
typedef struct ngx_http_betrace_api_job_s  ngx_http_betrace_api_job_t;

typedef ngx_int_t (*ngx_http_betrace_api_handler_pt)(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);

/* runs in a Redis thread; see ngx_http_betrace_api_redis() */
typedef void (*ngx_http_betrace_api_redis_pt)(ngx_http_betrace_api_job_t *job);


/*
 * One route.  path is relative to /api/v1/ and split at '/'; a segment
 * "*" matches any one segment (the handler reads it from ctx->segs).
 * A request whose path matches but whose method does not gets 405 with
 * Allow listing the methods of every matching route; one with a query
 * parameter not in args gets 400 invalid_parameter (after auth).
 */
typedef struct {
    ngx_uint_t                        method;   /* NGX_HTTP_GET, ... */
    ngx_str_t                         path;     /* "rules/ *" (no space) */
    ngx_uint_t                        role;     /* NGX_HTTP_BETRACE_ROLE_* */
    ngx_http_betrace_api_handler_pt   handler;
    const char *const                *args;     /* query parameters it
                                                   takes, NULL-terminated;
                                                   NULL: none */
} ngx_http_betrace_api_route_t;


typedef struct {
    u_char                 hash[32];            /* SHA-256 of the key */
    ngx_uint_t             roles;
    ngx_str_t              name;
} ngx_http_betrace_api_key_t;


typedef struct {
    ngx_str_t              redis;           /* betrace_redis ADDR */
    ngx_str_t              redis_host;      /* NUL-terminated */
    ngx_int_t              redis_port;      /* 0: redis_host is a socket */
    ngx_str_t              prefix;          /* NUL-terminated */
    ngx_uint_t             threads;
    ngx_msec_t             timeout;
    ngx_thread_pool_t     *thread_pool;
    ngx_array_t           *keys;            /* ngx_http_betrace_api_key_t */
    ngx_str_t              keys_file;
} ngx_http_betrace_api_main_conf_t;


typedef struct {
    ngx_flag_t             api;             /* betrace_api in this location */
    ngx_flag_t             auth;
    ngx_flag_t             otlp_auth;
    size_t                 max_body_size;
} ngx_http_betrace_api_loc_conf_t;


struct ngx_http_betrace_api_ctx_s {
    ngx_str_t                            segs[NGX_HTTP_BETRACE_API_MAX_SEGS];
    ngx_uint_t                           nsegs;  /* after "/api/v1/" */
    json_t                              *body;   /* POST/PUT/PATCH; freed
                                                    by a pool cleanup */
    ngx_uint_t                           roles;  /* of the key; all roles
                                                    when auth is off */
    ngx_str_t                            key_name;
    const ngx_http_betrace_api_route_t  *route;
    ngx_http_betrace_api_main_conf_t    *amcf;

    /* the JSON error filter: nginx's own error pages become JSON */
    ngx_buf_t                           *error_body;
    unsigned                             json_sent:1;
    unsigned                             error_sent:1;
};


struct ngx_http_betrace_api_job_s {
    /* for the thread function */
    redisContext                   *redis;      /* connected */
    const char                     *prefix;     /* "betrace:" */
    void                           *data;       /* the endpoint's inputs */
    ngx_msec_t                      timeout;

    /* set by the thread function (status 200 and json NULL by default) */
    ngx_int_t                       status;
    json_t                         *json;       /* reference owned here */
    ngx_str_t                       location;   /* Location header; static
                                                   or data memory */

    /* private */
    ngx_http_request_t             *request;
    ngx_http_betrace_api_redis_pt   handler;
    ngx_http_betrace_api_main_conf_t  *amcf;
    ngx_uint_t                      failed;     /* redis went away */
    ngx_msec_t                      posted;     /* ngx_current_msec */
};


extern ngx_module_t                         ngx_http_betrace_api_module;
extern ngx_http_betrace_api_route_t         ngx_http_betrace_api_routes[];


/*
 * Sends json (consumes the reference, even on failure; NULL sends {}) with
 * the status and Content-Type: application/json.  Returns what to finalize
 * the request with.
 */
ngx_int_t ngx_http_betrace_api_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *json);

/*
 * Sends {"error": {"code": code, "message": message}}; message is a
 * printf-style format (jansson's json_vsprintf).  Returns what to finalize
 * the request with.
 */
ngx_int_t ngx_http_betrace_api_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *fmt, ...);

/*
 * 400 {"error": {"code": "invalid_field", "field": name, "message": ...}}
 * for a body field (member NGX_HTTP_BETRACE_API_FIELD), or "code":
 * "invalid_parameter", "parameter": name for a query parameter or a path
 * id (NGX_HTTP_BETRACE_API_PARAMETER).  Every endpoint reports bad input
 * through this, so clients match one code and always find the name.
 * Returns what to finalize the request with.
 */
#define NGX_HTTP_BETRACE_API_FIELD      "field"
#define NGX_HTTP_BETRACE_API_PARAMETER  "parameter"

ngx_int_t ngx_http_betrace_api_send_invalid(ngx_http_request_t *r,
    const char *member, const char *name, const char *fmt, ...);

/* The error object alone (new reference, NULL when out of memory). */
json_t *ngx_http_betrace_api_error_json(const char *code,
    const char *fmt, ...);

/*
 * Query argument name, URL-decoded into pool memory.  Returns NGX_OK,
 * NGX_DECLINED when absent, NGX_ERROR when out of memory.
 */
ngx_int_t ngx_http_betrace_api_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);

/* A copy of s as a NUL-terminated string in r->pool, or NULL. */
char *ngx_http_betrace_api_strdup(ngx_http_request_t *r, ngx_str_t *s);

/*
 * Looks the "Authorization: Bearer" key up in amcf->keys (not NULL) by its
 * SHA-256, in constant time.  Returns NGX_OK with the key's roles and name,
 * NGX_DECLINED when there is no Bearer key, NGX_ERROR when the key is
 * unknown.  Used by the API's router and access phase and by /metrics.
 */
ngx_int_t ngx_http_betrace_api_authenticate(ngx_http_request_t *r,
    ngx_http_betrace_api_main_conf_t *amcf, ngx_uint_t *roles,
    ngx_str_t *name);

/*
 * Sends 401 unauthorized with message and WWW-Authenticate: Bearer.
 * Returns what to finalize the request with.
 */
ngx_int_t ngx_http_betrace_api_unauthorized(ngx_http_request_t *r,
    const char *message);

/*
 * Runs handler(job) in a thread of the "betrace" pool with job->data =
 * data (pool memory the handler may read and write; the request is kept
 * alive until the reply is sent), then sends job->status and job->json
 * from the worker.  When Redis cannot be reached the handler is not
 * called and the reply is 503 redis_unavailable.  Returns NGX_DONE, or
 * an HTTP status when the task could not be posted.
 */
ngx_int_t ngx_http_betrace_api_redis(ngx_http_request_t *r,
    ngx_http_betrace_api_redis_pt handler, void *data);


/* --- for the thread function only ----------------------------------------- */

/*
 * Runs one command (hiredis format).  Returns the reply (free it with
 * freeReplyObject), or NULL after setting the job's error: 503
 * redis_unavailable on an I/O error or timeout (the connection is dropped
 * and made again by the next job), 500 redis_error on an error reply.
 */
redisReply *ngx_http_betrace_api_command(ngx_http_betrace_api_job_t *job,
    const char *fmt, ...);

/* Same with an argv vector (binary-safe arguments). */
redisReply *ngx_http_betrace_api_command_argv(ngx_http_betrace_api_job_t *job,
    int argc, const char **argv, const size_t *argvlen);

/*
 * MGET of prefix type id (type "signal:" or "rule:") for the n ids at
 * ids[0], ids[stride], ... (at most 64 bytes of each; a reply that is not
 * a string stands for ""), n > 0.  Returns the reply, or NULL with the
 * job's error set, as ngx_http_betrace_api_command() (out of memory: 500).
 */
redisReply *ngx_http_betrace_api_mget(ngx_http_betrace_api_job_t *job,
    const char *type, redisReply **ids, size_t n, size_t stride);

/* Sets job->status and an error body (replacing job->json).  Can't fail. */
void ngx_http_betrace_api_job_error(ngx_http_betrace_api_job_t *job,
    ngx_uint_t status, const char *code, const char *fmt, ...);


/* --- endpoints ------------------------------------------------------------ */

ngx_int_t ngx_http_betrace_api_rules_list(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_rules_create(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_rules_validate(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_rule_get(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_rule_put(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_rule_patch(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_rule_delete(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);


#endif /* _NGX_HTTP_BETRACE_API_H_INCLUDED_ */
