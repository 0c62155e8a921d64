/*
 * dsl_fixtures.h - traces shared by the DSL tests (header-only so each
 * test_dsl_*.c stays one self-contained program).
 */

#ifndef DSL_FIXTURES_H
#define DSL_FIXTURES_H

#include "dsl/bt_dsl.h"
#include "t/lib/span_build.h"

typedef struct {
    const char       *name;
    const sb_span_t  *spans;    /* .name == NULL ends */
} fixture_t;

/* Auth retry storm: an ERROR then an OK login 2 s apart, or 10 s apart */
static const sb_span_t  auth_2s[] = {
    { .id = "1", .name = "POST /login", .kind = BT_KIND_SERVER,
      .service = "gateway", .start_ms = 0, .dur_ms = 20000 },
    { .id = "2", .parent = "1", .name = "auth.login",
      .status = BT_STATUS_ERROR, .service = "auth", .start_ms = 100,
      .dur_ms = 50 },
    { .id = "3", .parent = "1", .name = "auth.login",
      .status = BT_STATUS_OK, .service = "auth", .start_ms = 2100,
      .dur_ms = 50 },
    { .name = NULL }
};

static const sb_span_t  auth_10s[] = {
    { .id = "1", .name = "POST /login", .kind = BT_KIND_SERVER,
      .service = "gateway", .start_ms = 0, .dur_ms = 20000 },
    { .id = "2", .parent = "1", .name = "auth.login",
      .status = BT_STATUS_ERROR, .service = "auth", .start_ms = 100,
      .dur_ms = 50 },
    { .id = "3", .parent = "1", .name = "auth.login",
      .status = BT_STATUS_OK, .service = "auth", .start_ms = 10100,
      .dur_ms = 50 },
    { .name = NULL }
};

static const sb_attr_t  pii_attrs[] = {
    SB_BOOL("data.contains_pii", 1), SB_STR("user.id", "u-17"), SB_END
};
static const sb_attr_t  no_pii_attrs[] = {
    SB_BOOL("data.contains_pii", 0), SB_END
};

static const sb_span_t  pii_no_audit[] = {
    { .id = "1", .name = "GET /users", .service = "api", .start_ms = 0,
      .dur_ms = 30 },
    { .id = "2", .parent = "1", .name = "users.read", .service = "users",
      .start_ms = 5, .dur_ms = 10, .attrs = pii_attrs },
    { .name = NULL }
};

static const sb_span_t  pii_with_audit[] = {
    { .id = "1", .name = "GET /users", .service = "api", .start_ms = 0,
      .dur_ms = 30 },
    { .id = "2", .parent = "1", .name = "users.read", .service = "users",
      .start_ms = 5, .dur_ms = 10, .attrs = pii_attrs },
    { .id = "3", .parent = "1", .name = "audit.log", .service = "audit",
      .start_ms = 20, .dur_ms = 2 },
    { .name = NULL }
};

static const sb_span_t  no_pii[] = {
    { .id = "1", .name = "GET /users", .service = "api", .start_ms = 0,
      .dur_ms = 30, .attrs = no_pii_attrs },
    { .name = NULL }
};

/* Slow query inside a payment flow, fast inside, slow outside */
static const sb_span_t  pay_slow[] = {
    { .id = "1", .name = "checkout", .service = "web", .start_ms = 0,
      .dur_ms = 3000 },
    { .id = "2", .parent = "1", .name = "payment.process",
      .service = "pay", .start_ms = 10, .dur_ms = 2500 },
    { .id = "3", .parent = "2", .name = "charge", .service = "pay",
      .start_ms = 20, .dur_ms = 2000 },
    { .id = "4", .parent = "3", .name = "db.query SELECT",
      .service = "db", .start_ms = 30, .dur_ms = 1500 },
    { .name = NULL }
};

static const sb_span_t  pay_fast[] = {
    { .id = "1", .name = "checkout", .service = "web", .start_ms = 0,
      .dur_ms = 3000 },
    { .id = "2", .parent = "1", .name = "payment.process",
      .service = "pay", .start_ms = 10, .dur_ms = 2500 },
    { .id = "4", .parent = "2", .name = "db.query SELECT",
      .service = "db", .start_ms = 30, .dur_ms = 15 },
    { .name = NULL }
};

static const sb_span_t  slow_outside[] = {
    { .id = "1", .name = "checkout", .service = "web", .start_ms = 0,
      .dur_ms = 3000 },
    { .id = "2", .parent = "1", .name = "payment.process",
      .service = "pay", .start_ms = 10, .dur_ms = 20 },
    { .id = "4", .parent = "1", .name = "db.query SELECT",
      .service = "db", .start_ms = 30, .dur_ms = 1500 },
    { .name = NULL }
};

/* A rich trace: every field, nested values, events, links */
static const sb_attr_t  tags[] = {
    SB_STR(NULL, "blue"), SB_STR(NULL, "green"), SB_INT(NULL, 7), SB_END
};
static const sb_attr_t  inner[] = {
    SB_INT("x", 1), SB_STR("y", "why"), SB_END
};
static const sb_attr_t  root_attrs[] = {
    SB_STR("http.method", "GET"), SB_INT("http.status_code", 500),
    SB_DBL("ratio", 0.5), SB_ARR("tags", tags), SB_MAP("m", inner),
    SB_BYTES("raw", "ab"), SB_EMPTY("nothing"), SB_STR("Mixed", "HeLLo"),
    SB_END
};
static const sb_attr_t  root_res[] = {
    SB_STR("service.name", "api"), SB_STR("host.name", "h1"), SB_END
};
static const sb_attr_t  exc_attrs[] = {
    SB_STR("exception.type", "TimeoutError"), SB_END
};
static const sb_event_t  root_events[] = {
    { "exception", 12, exc_attrs }, { "retry", 13, NULL }, { NULL, 0, NULL }
};
static const sb_attr_t  link_attrs[] = { SB_STR("why", "batch"), SB_END };
static const sb_link_t  root_links[] = {
    { "abc", "def", link_attrs }, { NULL, NULL, NULL }
};
static const sb_attr_t  db_attrs[] = {
    SB_STR("db.statement", "SELECT * FROM users WHERE id = ?"),
    SB_INT("db.rows", 3), SB_END
};

static const sb_span_t  rich[] = {
    { .id = "a1", .name = "GET /api/users", .kind = BT_KIND_SERVER,
      .status = BT_STATUS_ERROR, .status_message = "boom",
      .service = "api", .scope = "io.opentelemetry.http", .start_ms = 10,
      .dur_ms = 250, .attrs = root_attrs, .resource = root_res,
      .events = root_events, .links = root_links },
    { .id = "b2", .parent = "a1", .name = "db.query", .kind = BT_KIND_CLIENT,
      .status = BT_STATUS_OK, .service = "db", .start_ms = 20,
      .dur_ms = 120, .attrs = db_attrs },
    { .id = "c3", .parent = "a1", .name = "cache.get",
      .kind = BT_KIND_INTERNAL, .service = "api", .start_ms = 30,
      .dur_ms = 5 },
    { .id = "d4", .parent = "b2", .name = "db.connect",
      .kind = BT_KIND_CLIENT, .status = BT_STATUS_ERROR, .service = "db",
      .start_ms = 25, .dur_ms = 300 },
    { .name = NULL }
};

/* sequences: login, then pay, then ship; and the reverse order */
static const sb_span_t  seq_ok[] = {
    { .id = "1", .name = "root", .start_ms = 0, .dur_ms = 100 },
    { .id = "2", .parent = "1", .name = "login", .start_ms = 10,
      .dur_ms = 1 },
    { .id = "3", .parent = "1", .name = "pay", .start_ms = 20, .dur_ms = 1 },
    { .id = "4", .parent = "1", .name = "ship", .start_ms = 30,
      .dur_ms = 1 },
    { .name = NULL }
};

static const sb_span_t  seq_reversed[] = {
    { .id = "1", .name = "root", .start_ms = 0, .dur_ms = 100 },
    { .id = "2", .parent = "1", .name = "ship", .start_ms = 10,
      .dur_ms = 1 },
    { .id = "3", .parent = "1", .name = "pay", .start_ms = 20, .dur_ms = 1 },
    { .id = "4", .parent = "1", .name = "login", .start_ms = 30,
      .dur_ms = 1 },
    { .name = NULL }
};

/* three spans starting at the same instant */
static const sb_span_t  ties[] = {
    { .id = "1", .name = "a", .start_ms = 5, .dur_ms = 1 },
    { .id = "2", .parent = "1", .name = "b", .start_ms = 5, .dur_ms = 1 },
    { .id = "3", .parent = "1", .name = "c", .start_ms = 5, .dur_ms = 1 },
    { .name = NULL }
};

static const sb_span_t  empty_trace[] = { { .name = NULL } };


/* Builds t from spans (b keeps the records alive). */
static inline void
fixture_build(sb_batch_t *b, bt_trace_t *t, const sb_span_t *spans)
{
    sb_init(b);
    for ( ; spans->name != NULL; spans++) {
        sb_add(b, spans);
    }
    if (sb_to_trace(b, t) != 0) {
        abort();
    }
}

#endif /* DSL_FIXTURES_H */
