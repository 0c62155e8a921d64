
/*
 * BeTrace nginx module: the rules endpoints (work in progress).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_api.h"


static ngx_int_t ngx_http_betrace_api_rules_todo(ngx_http_request_t *r);


static ngx_int_t
ngx_http_betrace_api_rules_todo(ngx_http_request_t *r)
{
    return ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                           "not_implemented",
                                           "not implemented yet");
}


ngx_int_t
ngx_http_betrace_api_rules_list(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rules_todo(r);
}


ngx_int_t
ngx_http_betrace_api_rules_create(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rules_todo(r);
}


ngx_int_t
ngx_http_betrace_api_rules_validate(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rules_todo(r);
}


ngx_int_t
ngx_http_betrace_api_rule_get(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rules_todo(r);
}


ngx_int_t
ngx_http_betrace_api_rule_put(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rules_todo(r);
}


ngx_int_t
ngx_http_betrace_api_rule_patch(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rules_todo(r);
}


ngx_int_t
ngx_http_betrace_api_rule_delete(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_api_rules_todo(r);
}
