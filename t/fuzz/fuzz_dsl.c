/*
 * fuzz_dsl.c - libFuzzer target for the DSL: compile any input (lexer,
 * parser, checker, compiler), format its diagnostics as text and JSON, and
 * when it compiles, evaluate it alone and through a rule set on a small
 * fixed trace.  Built as build/t/replay_fuzz_dsl (replays t/corpus/dsl/)
 * and by `make fuzz` with -fsanitize=fuzzer.
 *
 * The trace is encoded here by hand (no test helpers are linked into fuzz
 * targets): a root, two children, a grandchild, with attributes of every
 * type, an event and a link.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/bt_dsl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t      rec[4096];
static size_t       len;
static bt_trace_t   trace;
static int          ready;


static void
put(const void *p, size_t n)
{
    memcpy(rec + len, p, n);
    len += n;
}


static void
put32(uint32_t v)
{
    put(&v, 4);
}


static void
patch32(size_t at, uint32_t v)
{
    memcpy(rec + at, &v, 4);
}


static void
put_str(const char *s)
{
    put32((uint32_t) strlen(s));
    put(s, strlen(s));
}


/* value = u8 type, u32 n, payload */
static void
put_val_str(const char *k, const char *v)
{
    uint8_t  t = BT_VAL_STRING;

    put_str(k);
    put(&t, 1);
    put_str(v);
}


static void
put_val_i64(const char *k, uint8_t type, int64_t v)
{
    put_str(k);
    put(&type, 1);
    put32(8);
    put(&v, 8);
}


static size_t
begin_sect(void)
{
    size_t  at = len;

    put32(0);
    put32(0);
    return at;
}


static void
end_sect(size_t at, uint32_t count)
{
    uint32_t  n = (uint32_t) (len - at - 8);

    memcpy(rec + at, &count, 4);
    memcpy(rec + at + 4, &n, 4);
}


static void
add_span(uint8_t id, uint8_t parent, const char *name, uint8_t kind,
    uint8_t status, uint64_t start_ms, uint64_t dur_ms, int rich)
{
    size_t    at, s, arr;
    uint8_t   tid[16] = { 0 }, sid[8] = { 0 }, pid[8] = { 0 }, b;
    uint64_t  t0, t1;
    uint16_t  flags = 0;
    double    d = 0.25;

    at = len;
    tid[15] = 1;
    sid[7] = id;
    pid[7] = parent;
    t0 = (1700000000000ull + start_ms) * 1000000ull;
    t1 = t0 + dur_ms * 1000000ull;

    put32(0);
    put(tid, 16);
    put(sid, 8);
    put(pid, 8);
    put(&t0, 8);
    put(&t1, 8);
    put(&kind, 1);
    put(&status, 1);
    put(&flags, 2);
    put_str(name);
    put_str(status ? "msg" : "");
    put_str(id & 1 ? "api" : "db");
    put_str("scope");

    s = begin_sect();                           /* resource */
    put_val_str("service.name", id & 1 ? "api" : "db");
    end_sect(s, 1);

    s = begin_sect();                           /* attributes */
    put_val_str("http.method", "GET");
    put_val_i64("n", BT_VAL_INT, id);
    if (rich) {
        put_str("ratio");
        b = BT_VAL_DOUBLE;
        put(&b, 1);
        put32(8);
        put(&d, 8);
        put_str("flag");
        b = BT_VAL_BOOL;
        put(&b, 1);
        put32(1);
        b = 1;
        put(&b, 1);
        put_str("tags");                        /* ARRAY of two strings */
        b = BT_VAL_ARRAY;
        put(&b, 1);
        arr = len;
        put32(0);
        b = BT_VAL_STRING;
        put(&b, 1);
        put_str("x");
        put(&b, 1);
        put_str("y");
        patch32(arr, (uint32_t) (len - arr - 4));
        put_str("m");                           /* KVLIST {k: "v"} */
        b = BT_VAL_KVLIST;
        put(&b, 1);
        arr = len;
        put32(0);
        put_val_str("k", "v");
        patch32(arr, (uint32_t) (len - arr - 4));
    }
    end_sect(s, rich ? 6 : 2);

    s = begin_sect();                           /* events */
    if (rich) {
        size_t  e;

        put(&t0, 8);
        put_str("exception");
        e = begin_sect();
        put_val_str("exception.type", "Timeout");
        end_sect(e, 1);
    }
    end_sect(s, rich ? 1 : 0);

    s = begin_sect();                           /* links */
    if (rich) {
        size_t  e;

        put(tid, 16);
        put(sid, 8);
        e = begin_sect();
        end_sect(e, 0);
    }
    end_sect(s, rich ? 1 : 0);

    memcpy(rec + at, &(uint32_t) { (uint32_t) (len - at) }, 4);
}


static void
setup(void)
{
    bt_span_t  sp;
    size_t     off;
    int        n;

    add_span(1, 0, "GET /pay", BT_KIND_SERVER, BT_STATUS_OK, 0, 900, 1);
    add_span(2, 1, "payment.charge", BT_KIND_INTERNAL, BT_STATUS_ERROR, 10,
             500, 0);
    add_span(3, 2, "db.query", BT_KIND_CLIENT, BT_STATUS_UNSET, 20, 1200, 1);
    add_span(4, 1, "audit.log", BT_KIND_PRODUCER, BT_STATUS_OK, 2000, 1, 0);

    bt_trace_init(&trace);
    for (off = 0; off < len; off += (size_t) n) {
        n = bt_span_parse(rec + off, len - off, &sp);
        if (n <= 0 || bt_trace_add(&trace, &sp) != 0) {
            abort();
        }
    }
    if (bt_trace_link(&trace) != 0) {
        abort();
    }
    ready = 1;
}


static int
on_fire(void *arg, uint32_t index, void *user, const bt_witness_t *w)
{
    uint32_t  c, k;

    /* witnesses must be valid span indexes, in order per clause */
    for (c = 0; c < w->nclauses; c++) {
        for (k = w->off[c]; k < w->off[c + 1]; k++) {
            if (w->spans[k] >= trace.n) {
                abort();
            }
        }
    }
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bt_eval_ctx_t  *ctx;
    bt_diags_t             d;
    bt_rule_t             *r;
    bt_ruleset_t          *set;
    json_t                *j;
    char                  *s;
    size_t                 i;
    int                    a, b;

    if (!ready) {
        setup();
        ctx = bt_eval_ctx_new();
    }

    bt_diags_init(&d);
    r = bt_rule_compile((const char *) data, size, &d);
    if (r == NULL && d.n_errors == 0) {
        abort();                    /* a refused rule must say why */
    }
    for (i = 0; i < d.n; i++) {
        s = bt_diag_format(&d.items[i], "fuzz");
        free(s);
    }
    j = bt_diags_json(&d);
    if (j == NULL) {
        abort();                    /* any source must give valid JSON */
    }
    json_decref(j);

    if (r != NULL) {
        a = bt_rule_eval(r, &trace, ctx, on_fire, NULL);
        set = bt_ruleset_new();
        if (set && bt_ruleset_add(set, r, NULL) == 0
            && bt_ruleset_build(set) == 0)
        {
            b = bt_ruleset_eval(set, &trace, ctx, on_fire, NULL);
            if (a >= 0 && b >= 0 && a != b) {
                abort();            /* the index must not change meaning */
            }
        }
        bt_ruleset_free(set);
        bt_rule_free(r);
    }
    bt_diags_free(&d);
    return 0;
}
