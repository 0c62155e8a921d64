
/*
 * BeTrace nginx module: the REST API's routes.
 *
 * Data, not code: the router walks this table in order, so a literal
 * segment ("rules/validate") must come before a "*" that would match it
 * ("rules/ *").  Paths are relative to /api/v1/; "*" is one segment.
 * Each endpoint file adds its lines here and declares its handlers in
 * ngx_http_betrace_api.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_api.h"
#include "ngx_http_betrace_api_ops.h"


#define R  NGX_HTTP_BETRACE_ROLE_READ
#define W  NGX_HTTP_BETRACE_ROLE_WRITE


ngx_http_betrace_api_route_t  ngx_http_betrace_api_routes[] = {

    /* rules (ngx_http_betrace_api_rules.c) */

    { NGX_HTTP_POST, ngx_string("rules/validate"), R,
      ngx_http_betrace_api_rules_validate },
    { NGX_HTTP_GET, ngx_string("rules"), R,
      ngx_http_betrace_api_rules_list },
    { NGX_HTTP_POST, ngx_string("rules"), W,
      ngx_http_betrace_api_rules_create },
    { NGX_HTTP_GET, ngx_string("rules/*"), R,
      ngx_http_betrace_api_rule_get },
    { NGX_HTTP_PUT, ngx_string("rules/*"), W,
      ngx_http_betrace_api_rule_put },
    { NGX_HTTP_PATCH, ngx_string("rules/*"), W,
      ngx_http_betrace_api_rule_patch },
    { NGX_HTTP_DELETE, ngx_string("rules/*"), W,
      ngx_http_betrace_api_rule_delete },

    /* signals, traces, operations (ngx_http_betrace_api_ops.h) */

    { NGX_HTTP_GET, ngx_string("signals/counts"), R,
      ngx_http_betrace_api_signals_counts },
    { NGX_HTTP_GET, ngx_string("signals"), R,
      ngx_http_betrace_api_signals_list },
    { NGX_HTTP_GET, ngx_string("signals/*"), R,
      ngx_http_betrace_api_signal_get },
    { NGX_HTTP_PATCH, ngx_string("signals/*"), W,
      ngx_http_betrace_api_signal_patch },
    { NGX_HTTP_GET, ngx_string("traces/*"), R,
      ngx_http_betrace_api_trace_get },
    { NGX_HTTP_GET, ngx_string("health"), R,
      ngx_http_betrace_api_health },
    { NGX_HTTP_GET, ngx_string("stats"), R,
      ngx_http_betrace_api_stats },

    { 0, ngx_null_string, 0, NULL }
};
