/*
 * test_assemble.c - the engine's assembler over a real ring segment in a
 * temporary directory: joining a trace across records and slots, idle and
 * max-age completion, the memory cap, ring-space release only after every
 * trace of a record completed, resuming from the tail after a restart,
 * reopened traces, corrupt records, ring pressure and the JSON line.
 *
 * The test is the producer (bt_ring_reserve/commit, as nginx does) and
 * drives the engine's clock through engine_step(e, now_ms).
 */

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "t/lib/span_build.h"

#define MAX_DONE  64

typedef struct {
    char               id[33];
    uint32_t           nspans;
    bt_done_reason_t   reason;
    int                reopened;
    char               names[256];     /* span names in view order, ',' */
} done_t;

static char            dir[64];
static char            ring[128];
static char            out[128];
static engine_conf_t   conf;
static engine_t       *eng;
static bt_shm_t       *prod;            /* the producer's own mapping */
static int             slot_a, slot_b;
static done_t          done[MAX_DONE];
static int             ndone;


static void
hex(char *dst, const uint8_t *id, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(dst + 2 * i, "%02x", id[i]);
    }
}

static void
on_trace(void *arg, const bt_trace_t *view, const bt_done_t *d)
{
    done_t    *x;
    uint32_t   i;
    size_t     len;

    cr_assert_lt(ndone, MAX_DONE);
    x = &done[ndone++];
    memset(x, 0, sizeof(*x));
    hex(x->id, d->trace_id, 16);
    x->nspans = view->n;
    x->reason = d->reason;
    x->reopened = d->reopened;

    for (i = 0; i < view->n; i++) {
        len = strlen(x->names);
        snprintf(x->names + len, sizeof(x->names) - len, "%s%.*s",
                 i ? "," : "", (int) view->spans[i].s.name.n,
                 view->spans[i].s.name.p);
    }
}

/* A short hex trace id as the builder pads it, for comparing. */
static const char *
full_id(const char *short_hex)
{
    static char  buf[33];
    uint8_t      id[16];

    sb_hex_id(short_hex, id, 16);
    hex(buf, id, 16);
    return buf;
}

static done_t *
find_done(const char *short_hex)
{
    const char  *id = full_id(short_hex);
    int          i;

    for (i = 0; i < ndone; i++) {
        if (strcmp(done[i].id, id) == 0) {
            return &done[i];
        }
    }
    return NULL;
}

static void
open_engine(void)
{
    char  err[256];

    eng = engine_open(&conf, err, sizeof(err));
    cr_assert_not_null(eng, "engine_open: %s", err);
}

static void
setup(void)
{
    char  err[256];

    strcpy(dir, "/tmp/bt-asm-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ring, sizeof(ring), "%s/ring", dir);
    snprintf(out, sizeof(out), "%s/traces.jsonl", dir);

    engine_conf_default(&conf);
    conf.ring = ring;
    conf.geo.nslots = 2;
    conf.geo.slot_bytes = 1u << 20;
    conf.geo_given = 1;
    conf.idle_ms = 100;
    conf.max_age_ms = 1000;
    conf.on_trace = on_trace;
    ndone = 0;

    open_engine();

    prod = bt_shm_open(ring, NULL, err, sizeof(err));
    cr_assert_not_null(prod, "%s", err);
    /* two producer slots, as two nginx workers would hold */
    slot_a = bt_shm_claim(prod, getpid());
    slot_b = bt_shm_claim(prod, getppid());
    cr_assert(slot_a >= 0 && slot_b >= 0 && slot_a != slot_b);
}

static void
teardown(void)
{
    char  cmd[128];

    if (eng) {
        engine_close(eng, NULL, NULL);
        eng = NULL;
    }
    if (prod) {
        bt_shm_close(prod);
        prod = NULL;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        /* leftovers in /tmp only */
    }
}

TestSuite(assemble, .init = setup, .fini = teardown);

/* Commits b as one record of slot; returns the record's end position. */
static uint64_t
produce(int slot, sb_batch_t *b)
{
    void  *p;

    p = bt_ring_reserve(prod, slot, (uint32_t) b->len);
    cr_assert_not_null(p, "ring full");
    memcpy(p, b->buf, b->len);
    bt_ring_commit(prod, slot, p, (uint32_t) b->len);
    sb_free(b);
    return bt_ring_head(prod, slot);
}

/* One record of slot with spans "trace:name" (span ids are the names). */
static uint64_t
produce_spans(int slot, const char *const *spans)
{
    sb_batch_t   b;
    char         trace[33], name[32];
    const char  *colon;

    sb_init(&b);
    for ( ; *spans; spans++) {
        colon = strchr(*spans, ':');
        snprintf(trace, sizeof(trace), "%.*s", (int) (colon - *spans), *spans);
        snprintf(name, sizeof(name), "%s", colon + 1);
        sb_add(&b, &(sb_span_t) { .trace = trace, .id = name, .name = name,
                                  .start_ms = strtol(name, NULL, 16),
                                  .dur_ms = 1 });
    }
    return produce(slot, &b);
}

#define SPANS(...)  ((const char *const []) { __VA_ARGS__, NULL })


Test(assemble, joins_a_trace_split_over_records_and_slots)
{
    done_t  *t, *u;

    /* trace a1: spans 1,2 in a record of slot A with a span of trace b2,
       span 3 in slot B, span 4 in a later record of slot A */
    produce_spans(slot_a, SPANS("a1:1", "b2:9", "a1:2"));
    produce_spans(slot_b, SPANS("a1:3"));
    engine_step(eng, 0);
    produce_spans(slot_a, SPANS("a1:4"));
    engine_step(eng, 50);

    cr_assert_eq(ndone, 0, "nothing is idle yet");

    engine_step(eng, 200);

    cr_assert_eq(ndone, 2);
    t = find_done("a1");
    u = find_done("b2");
    cr_assert_not_null(t);
    cr_assert_not_null(u);
    cr_assert_eq(t->nspans, 4);
    cr_assert_str_eq(t->names, "1,2,3,4", "one trace, in start order");
    cr_assert_eq(t->reason, BT_DONE_IDLE);
    cr_assert_eq(u->nspans, 1);
    cr_assert_str_eq(u->names, "9");
}

Test(assemble, completes_on_idle_timeout_measured_from_the_last_span)
{
    bt_asm_stats_t  st;

    produce_spans(slot_a, SPANS("c1:1"));
    engine_step(eng, 0);
    engine_step(eng, 99);
    cr_assert_eq(ndone, 0);

    produce_spans(slot_b, SPANS("c1:2"));
    engine_step(eng, 80 + 19);      /* a new span at 99 */
    engine_step(eng, 198);
    cr_assert_eq(ndone, 0, "idle counts from the last span, not the first");

    engine_step(eng, 199);
    cr_assert_eq(ndone, 1);
    cr_assert_eq(done[0].reason, BT_DONE_IDLE);
    cr_assert_eq(done[0].nspans, 2);

    engine_stats(eng, &st, NULL);
    cr_assert_eq(st.completed, 1);
    cr_assert_eq(st.traces_in_flight, 0);
    cr_assert_eq(st.spans_in_flight, 0);
    cr_assert_eq(st.spans, 2);
    cr_assert_eq(st.records, 2);
}

Test(assemble, completes_on_max_age_while_spans_keep_coming)
{
    uint64_t  now;
    char      name[8];
    int       i;

    conf.max_age_ms = 250;
    engine_close(eng, NULL, NULL);
    open_engine();

    for (i = 1, now = 0; now < 250; i++, now += 50) {
        snprintf(name, sizeof(name), "d1:%x", i);
        produce_spans(slot_a, (const char *const []) { name, NULL });
        engine_step(eng, now);
        cr_assert_eq(ndone, 0, "at %llu ms", (unsigned long long) now);
    }

    engine_step(eng, 250);
    cr_assert_eq(ndone, 1);
    cr_assert_eq(done[0].reason, BT_DONE_MAX_AGE);
    cr_assert_eq(done[0].nspans, 5);
}

Test(assemble, memory_cap_forces_the_oldest_traces_and_counts_them)
{
    bt_asm_stats_t  st;

    conf.max_spans = 10;
    engine_close(eng, NULL, NULL);
    open_engine();

    produce_spans(slot_a, SPANS("e1:1", "e1:2", "e1:3", "e1:4"));
    engine_step(eng, 0);
    produce_spans(slot_b, SPANS("e2:1", "e2:2", "e2:3", "e2:4"));
    engine_step(eng, 10);
    cr_assert_eq(ndone, 0);

    produce_spans(slot_a, SPANS("e3:1", "e3:2", "e3:3", "e3:4"));
    engine_step(eng, 20);

    cr_assert_eq(ndone, 1, "12 spans > 10: one trace goes");
    cr_assert_str_eq(done[0].id, full_id("e1"), "the oldest one");
    cr_assert_eq(done[0].reason, BT_DONE_FORCED);
    cr_assert_eq(done[0].nspans, 4);

    engine_stats(eng, &st, NULL);
    cr_assert_eq(st.forced, 1);
    cr_assert_eq(st.spans_in_flight, 8);
    cr_assert_eq(st.traces_in_flight, 2);
    cr_assert_eq(bt_shm_engine_stats(prod)->traces_forced, 1,
                 "published into the segment");
}

Test(assemble, releases_a_record_only_after_all_its_traces_completed)
{
    uint64_t  end1, end3;

    end1 = produce_spans(slot_a, SPANS("f1:1", "f2:1"));
    engine_step(eng, 0);
    produce_spans(slot_a, SPANS("f3:1"));
    engine_step(eng, 50);
    end3 = produce_spans(slot_a, SPANS("f2:2"));
    engine_step(eng, 60);

    cr_assert_eq(bt_ring_tail(prod, slot_a), 0);

    engine_step(eng, 100);          /* f1 completes; f2 holds record 1 */
    cr_assert_eq(ndone, 1);
    cr_assert_str_eq(done[0].id, full_id("f1"));
    cr_assert_eq(bt_ring_tail(prod, slot_a), 0,
                 "record 1 still holds a span of f2");

    engine_step(eng, 150);          /* f3 completes: record 2 is free but
                                       record 1 is not */
    cr_assert_eq(ndone, 2);
    cr_assert_eq(bt_ring_tail(prod, slot_a), 0);

    engine_step(eng, 160);          /* f2 completes */
    cr_assert_eq(ndone, 3);
    cr_assert_eq(find_done("f2")->nspans, 2);
    cr_assert_eq(bt_ring_tail(prod, slot_a), end3);
    cr_assert_gt(end3, end1);
}

Test(assemble, a_restarted_engine_resumes_from_the_tail)
{
    uint64_t  traces, spans, end1;
    done_t   *g2;

    end1 = produce_spans(slot_a, SPANS("71:1"));
    engine_step(eng, 0);
    produce_spans(slot_a, SPANS("72:1", "72:2"));
    produce_spans(slot_b, SPANS("72:3"));
    engine_step(eng, 60);
    engine_step(eng, 100);          /* 71 completes, 72 does not */

    cr_assert_eq(ndone, 1);
    cr_assert_eq(bt_ring_tail(prod, slot_a), end1);

    engine_close(eng, &traces, &spans);
    cr_assert_eq(traces, 1);
    cr_assert_eq(spans, 3);
    cr_assert_eq(bt_shm_engine_stats(prod)->pid, 0, "engine deregistered");

    ndone = 0;
    open_engine();
    engine_step(eng, 5000);
    cr_assert_eq(ndone, 0, "the new engine sees 72 as fresh");
    engine_step(eng, 5100);

    cr_assert_eq(ndone, 1, "71 was released and is not read again");
    g2 = find_done("72");
    cr_assert_not_null(g2);
    cr_assert_eq(g2->nspans, 3);
    cr_assert_eq(g2->reopened, 0);
    cr_assert_eq(bt_ring_tail(prod, slot_a), bt_ring_head(prod, slot_a));
    cr_assert_eq(bt_ring_tail(prod, slot_b), bt_ring_head(prod, slot_b));
}

Test(assemble, late_spans_of_a_completed_trace_reopen_it)
{
    bt_asm_stats_t  st;

    produce_spans(slot_a, SPANS("81:1", "82:1"));
    engine_step(eng, 0);
    engine_step(eng, 100);
    cr_assert_eq(ndone, 2);
    cr_assert_eq(done[0].reopened, 0);

    produce_spans(slot_b, SPANS("81:2", "83:1"));
    engine_step(eng, 150);
    engine_step(eng, 250);

    cr_assert_eq(ndone, 4);
    cr_assert_str_eq(done[2].id, full_id("81"));
    cr_assert_eq(done[2].reopened, 1);
    cr_assert_eq(done[2].nspans, 1);
    cr_assert_str_eq(done[3].id, full_id("83"));
    cr_assert_eq(done[3].reopened, 0, "a new id is not reopened");

    engine_stats(eng, &st, NULL);
    cr_assert_eq(st.reopened, 1);
    cr_assert_eq(bt_shm_engine_stats(prod)->traces_reopened, 1);
}

Test(assemble, corrupt_records_are_counted_skipped_and_released)
{
    sb_batch_t      b;
    bt_asm_stats_t  st;
    uint64_t        corrupt;

    sb_init(&b);
    sb_add(&b, &(sb_span_t) { .trace = "91", .id = "1", .name = "x" });
    b.buf[0] ^= 0xff;               /* bad batch magic, good ring record */
    produce(slot_a, &b);
    produce_spans(slot_a, SPANS("92:1"));

    engine_step(eng, 0);
    engine_stats(eng, &st, &corrupt);
    cr_assert_eq(corrupt, 1);
    cr_assert_eq(bt_shm_engine_stats(prod)->records_corrupt, 1);

    engine_step(eng, 100);
    cr_assert_eq(ndone, 1);
    cr_assert_str_eq(done[0].id, full_id("92"));
    cr_assert_eq(bt_ring_tail(prod, slot_a), bt_ring_head(prod, slot_a));
}

Test(assemble, a_full_ring_forces_the_oldest_traces_out)
{
    bt_asm_stats_t  st;
    sb_batch_t      b;
    char            trace[16];
    int             i, j;
    uint64_t        size = 1u << 20;

    /* records of ~ 6 KiB, one trace each, until the slot is 80% full */
    for (i = 0;
         bt_ring_head(prod, slot_a) - bt_ring_tail(prod, slot_a) < size * 4 / 5;
         i++)
    {
        sb_init(&b);
        snprintf(trace, sizeof(trace), "%x", 0x1000 + i);
        for (j = 0; j < 50; j++) {
            sb_add(&b, &(sb_span_t) { .trace = trace, .id = "1",
                                      .name = "padding-padding-padding" });
        }
        produce(slot_a, &b);
    }

    while (engine_step(eng, 0) > 0) {
        /* a step reads at most 1/16 of a slot */
    }

    engine_stats(eng, &st, NULL);
    cr_assert_eq(st.records, (uint64_t) i);
    cr_assert_gt(st.forced, 0);
    cr_assert_lt(st.forced, (uint64_t) i / 4, "only as many as needed");
    cr_assert_eq(st.traces_in_flight, (uint64_t) i - st.forced);
    cr_assert_leq(bt_ring_head(prod, slot_a) - bt_ring_tail(prod, slot_a),
                  size * 3 / 4);
    cr_assert_str_eq(done[0].id, full_id("1000"), "oldest first");
    cr_assert_eq(done[0].reason, BT_DONE_FORCED);
}

Test(assemble, publishes_counters_and_heartbeat_into_the_segment)
{
    bt_engine_stats_t  *es;

    produce_spans(slot_a, SPANS("a1:1", "a1:2"));
    usleep(250 * 1000);             /* past the heartbeat interval */
    engine_step(eng, 0);

    es = bt_shm_engine_stats(prod);
    cr_assert_eq(es->pid, (uint64_t) getpid());
    cr_assert_gt(es->heartbeat_ms, 0);
    cr_assert_eq(es->spans_consumed, 2);
    cr_assert_eq(es->records_consumed, 1);
    cr_assert_eq(es->traces_in_flight, 1);
    cr_assert_eq(es->spans_in_flight, 2);
}

Test(assemble, a_second_live_engine_is_refused)
{
    pid_t  child;
    int    st;

    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        char       err[256];
        engine_t  *e2;

        e2 = engine_open(&conf, err, sizeof(err));
        _exit(e2 == NULL && strstr(err, "another engine") ? 0 : 1);
    }
    cr_assert_eq(waitpid(child, &st, 0), child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}


/* --- the JSON line --------------------------------------------------------- */

static const sb_attr_t  arr[] = { SB_INT("", 7), SB_STR("", "x"), SB_END };
static const sb_attr_t  kv[] = { SB_BOOL("ok", 1), SB_END };
static const sb_attr_t  attrs[] = {
    SB_STR("s", "caf\xc3\xa9 \"q\" \\ \n\x01 bad\xff"), SB_INT("i", -42),
    SB_DBL("d", 2), SB_DBL("h", 0.1), SB_BOOL("b", 0),
    SB_BYTES("raw", "\x01\xab"), SB_ARR("a", arr), SB_MAP("m", kv), SB_END
};
static const sb_attr_t  ev_attrs[] = { SB_STR("exception.type", "E"), SB_END };
static const sb_event_t events[] = {
    { "exception", 5, ev_attrs }, { NULL, 0, NULL }
};
static const sb_link_t  links[] = {
    { "abc", "de", ev_attrs }, { NULL, NULL, NULL }
};

static json_t *
read_lines(size_t *n)
{
    json_t        *all, *line;
    json_error_t   jerr;
    FILE          *f;
    char           buf[65536];

    all = json_array();
    f = fopen(out, "r");
    cr_assert_not_null(f);
    while (fgets(buf, sizeof(buf), f)) {
        cr_assert(buf[strlen(buf) - 1] == '\n', "whole lines only");
        line = json_loads(buf, 0, &jerr);
        cr_assert_not_null(line, "line is not JSON: %s (%s)", jerr.text, buf);
        json_array_append_new(all, line);
    }
    fclose(f);
    *n = json_array_size(all);
    return all;
}

Test(assemble, writes_one_json_line_per_trace_in_the_documented_format)
{
    sb_batch_t   b;
    json_t      *all, *t, *s, *root, *a;
    size_t       n;

    conf.traces_out = out;
    engine_close(eng, NULL, NULL);
    open_engine();

    sb_init(&b);
    sb_add(&b, &(sb_span_t) { .trace = "5b8efff798038103d269b633813fc60c",
        .id = "eee19b7ec3c1b174", .parent = "aa", .name = "child",
        .kind = BT_KIND_CLIENT, .status = BT_STATUS_ERROR,
        .status_message = "boom", .service = "svc", .scope = "lib",
        .start_ms = 10, .dur_ms = 5, .attrs = attrs, .events = events,
        .links = links });
    sb_add(&b, &(sb_span_t) { .trace = "5b8efff798038103d269b633813fc60c",
        .id = "aa", .name = "GET /", .kind = BT_KIND_SERVER,
        .status = BT_STATUS_OK, .service = "svc", .start_ms = 0,
        .dur_ms = 100 });
    produce(slot_a, &b);

    engine_step(eng, 0);
    engine_step(eng, 100);

    all = read_lines(&n);
    cr_assert_eq(n, 1);
    t = json_array_get(all, 0);

    cr_assert_str_eq(json_string_value(json_object_get(t, "trace_id")),
                     "5b8efff798038103d269b633813fc60c");
    cr_assert_str_eq(json_string_value(json_object_get(t, "reason")), "idle");
    cr_assert_null(json_object_get(t, "reopened"));
    cr_assert_eq(json_array_size(json_object_get(t, "spans")), 2);

    root = json_array_get(json_object_get(t, "spans"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(root, "name")),
                     "GET /", "start-time order");
    cr_assert_str_eq(json_string_value(json_object_get(root,
                     "parent_span_id")), "", "absent id is \"\"");
    cr_assert_str_eq(json_string_value(json_object_get(root, "kind")),
                     "SERVER");
    cr_assert_str_eq(json_string_value(json_object_get(root, "status")), "OK");
    cr_assert_str_eq(json_string_value(json_object_get(root, "scope")), "");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(root,
                     "resource"), "service.name")), "svc");

    s = json_array_get(json_object_get(t, "spans"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(s, "trace_id")),
                     "5b8efff798038103d269b633813fc60c");
    cr_assert_str_eq(json_string_value(json_object_get(s, "span_id")),
                     "eee19b7ec3c1b174");
    cr_assert_str_eq(json_string_value(json_object_get(s, "parent_span_id")),
                     "00000000000000aa");
    cr_assert_str_eq(json_string_value(json_object_get(s, "kind")), "CLIENT");
    cr_assert_str_eq(json_string_value(json_object_get(s, "status")),
                     "ERROR");
    cr_assert_str_eq(json_string_value(json_object_get(s, "status_message")),
                     "boom");
    /* the builder writes exact nanoseconds from its integer epoch */
    cr_assert_eq(json_integer_value(json_object_get(s, "start_ns")),
                 (json_int_t) (SB_EPOCH_NS + 10000000ULL));
    cr_assert_eq(json_integer_value(json_object_get(s, "end_ns")),
                 (json_int_t) (SB_EPOCH_NS + 15000000ULL));
    cr_assert_str_eq(json_string_value(json_object_get(s, "service")), "svc");
    cr_assert_str_eq(json_string_value(json_object_get(s, "scope")), "lib");

    a = json_object_get(s, "attributes");
    cr_assert_str_eq(json_string_value(json_object_get(a, "s")),
                     "caf\xc3\xa9 \"q\" \\ \n\x01 bad\xef\xbf\xbd",
                     "escaped, invalid UTF-8 replaced");
    cr_assert(json_is_integer(json_object_get(a, "i")));
    cr_assert_eq(json_integer_value(json_object_get(a, "i")), -42);
    cr_assert(json_is_real(json_object_get(a, "d")), "2.0 stays a double");
    cr_assert_eq(json_real_value(json_object_get(a, "d")), 2.0);
    cr_assert_eq(json_real_value(json_object_get(a, "h")), 0.1);
    cr_assert(json_is_false(json_object_get(a, "b")));
    cr_assert_str_eq(json_string_value(json_object_get(a, "raw")), "01ab");
    cr_assert_eq(json_array_size(json_object_get(a, "a")), 2);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(a, "a"),
                 0)), 7);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(a, "a"),
                     1)), "x");
    cr_assert(json_is_true(json_object_get(json_object_get(a, "m"), "ok")));

    a = json_array_get(json_object_get(s, "events"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(a, "name")),
                     "exception");
    cr_assert_eq(json_integer_value(json_object_get(a, "time_ns")),
                 (json_int_t) (SB_EPOCH_NS + 5000000ULL));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(a,
                     "attributes"), "exception.type")), "E");

    a = json_array_get(json_object_get(s, "links"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(a, "trace_id")),
                     "00000000000000000000000000000abc");
    cr_assert_str_eq(json_string_value(json_object_get(a, "span_id")),
                     "00000000000000de");

    json_decref(all);

    /* a late span: a second line, marked reopened */
    sb_init(&b);
    sb_add(&b, &(sb_span_t) { .trace = "5b8efff798038103d269b633813fc60c",
        .id = "bb", .parent = "aa", .name = "late" });
    produce(slot_b, &b);
    engine_step(eng, 200);
    engine_step(eng, 300);

    all = read_lines(&n);
    cr_assert_eq(n, 2);
    t = json_array_get(all, 1);
    cr_assert(json_is_true(json_object_get(t, "reopened")));
    json_decref(all);
}


/* --- the assembler alone, over records in memory ----------------------- */

typedef struct {
    uint64_t   released[8];         /* last release position per slot */
    int        nrelease;
    uint32_t   spans;               /* spans over all completed traces */
    int        traces;
    int        reopened;
    int        shutdown;
} mem_t;

static void
mem_trace(void *arg, const bt_trace_t *view, const bt_done_t *d)
{
    mem_t  *m = arg;

    m->traces++;
    m->spans += view->n;
    m->reopened += d->reopened;
    m->shutdown += d->reason == BT_DONE_SHUTDOWN;
}

static void
mem_release(void *arg, int slot, uint64_t pos)
{
    mem_t  *m = arg;

    cr_assert_gt(pos, m->released[slot], "release only moves forward");
    m->released[slot] = pos;
    m->nrelease++;
}

Test(assemble_mem, spans_of_a_trace_apart_in_one_record_are_held_and_dropped_once_each)
{
    mem_t          m = { 0 };
    bt_asm_conf_t  c = { .nslots = 1, .idle_ms = 10, .max_age_ms = 1000,
                         .on_trace = mem_trace, .on_release = mem_release,
                         .arg = &m };
    bt_asm_t      *a;
    sb_batch_t     b1, b2;

    a = bt_asm_create(&c);
    cr_assert_not_null(a);

    sb_init(&b1);
    sb_add(&b1, &(sb_span_t) { .trace = "a", .id = "1" });
    sb_add(&b1, &(sb_span_t) { .trace = "b", .id = "1" });
    sb_add(&b1, &(sb_span_t) { .trace = "a", .id = "2" });
    sb_init(&b2);
    sb_add(&b2, &(sb_span_t) { .trace = "b", .id = "2" });

    cr_assert_eq(bt_asm_add(a, 0, b1.buf, (uint32_t) b1.len, 100, 0), 0);
    cr_assert_eq(bt_asm_add(a, 0, b2.buf, (uint32_t) b2.len, 200, 5), 0);

    bt_asm_expire(a, 10);           /* a completes; b holds both records */
    cr_assert_eq(m.traces, 1);
    cr_assert_eq(m.spans, 2);
    cr_assert_eq(m.nrelease, 0);

    bt_asm_expire(a, 15);
    cr_assert_eq(m.traces, 2);
    cr_assert_eq(m.nrelease, 1, "one release past both records");
    cr_assert_eq(m.released[0], 200);

    bt_asm_destroy(a);
    sb_free(&b1);
    sb_free(&b2);
}

Test(assemble_mem, complete_all_is_the_offline_end_of_input)
{
    mem_t          m = { 0 };
    bt_asm_conf_t  c = { .nslots = 2, .idle_ms = 10, .max_age_ms = 1000,
                         .on_trace = mem_trace, .arg = &m };
    bt_asm_t      *a;
    sb_batch_t     b;

    a = bt_asm_create(&c);
    sb_init(&b);
    sb_add(&b, &(sb_span_t) { .trace = "a", .id = "1" });
    sb_add(&b, &(sb_span_t) { .trace = "b", .id = "1" });
    cr_assert_eq(bt_asm_add(a, 1, b.buf, (uint32_t) b.len, 64, 0), 0);
    cr_assert_eq(bt_asm_next_deadline(a), 10);

    cr_assert_eq(bt_asm_complete_all(a, BT_DONE_SHUTDOWN), 2);
    cr_assert_eq(m.shutdown, 2);
    cr_assert_eq(bt_asm_next_deadline(a), UINT64_MAX);
    cr_assert_str_eq(bt_done_reason_name(BT_DONE_SHUTDOWN), "shutdown");

    bt_asm_destroy(a);
    sb_free(&b);
}

static void
mem_id(char *id, size_t n, int i)
{
    /* ids that differ only in their low or only in their high half */
    if (i % 2) {
        snprintf(id, n, "%x", i + 1);
    } else {
        snprintf(id, n, "%x0000000000000000", i + 1);
    }
}

/*
 * Many traces whose ids differ only in one half, completed in an order
 * unrelated to insertion: exercises table growth and backward-shift
 * deletion; every trace must come out exactly once with its spans.
 */
Test(assemble_mem, tens_of_thousands_of_traces_each_complete_once)
{
    enum { N = 40000, PER = 25 };
    mem_t           m = { 0 };
    bt_asm_conf_t   c = { .nslots = 1, .idle_ms = 1, .max_age_ms = 1000000,
                          .on_trace = mem_trace, .on_release = mem_release,
                          .arg = &m };
    bt_asm_stats_t  st;
    bt_asm_t       *a;
    sb_batch_t     *b, late[4];
    char            id[40];
    uint64_t        now, end;
    int             i, r;

    a = bt_asm_create(&c);
    b = calloc(N / PER, sizeof(sb_batch_t));

    /* record r holds the first span of traces r*PER .. r*PER+PER-1 */
    for (r = 0, end = 0; r < N / PER; r++) {
        sb_init(&b[r]);
        for (i = r * PER; i < r * PER + PER; i++) {
            mem_id(id, sizeof(id), i);
            sb_add(&b[r], &(sb_span_t) { .trace = id, .id = "1" });
        }
        end += b[r].len;
        cr_assert_eq(bt_asm_add(a, 0, b[r].buf, (uint32_t) b[r].len, end, 0),
                     0);
    }

    /* a second span of each trace at time 1..4, in a scrambled order */
    for (r = 0; r < 4; r++) {
        sb_init(&late[r]);
        for (i = 0; i < N; i++) {
            int  k = (int) ((uint64_t) i * 7919 % N);
            if (k % 4 == r) {
                mem_id(id, sizeof(id), k);
                sb_add(&late[r], &(sb_span_t) { .trace = id, .id = "2" });
            }
        }
        end += late[r].len;
        cr_assert_eq(bt_asm_add(a, 0, late[r].buf, (uint32_t) late[r].len,
                                end, (uint64_t) r + 1), 0);
    }

    bt_asm_stats(a, &st);
    cr_assert_eq(st.traces_in_flight, N);
    cr_assert_eq(st.spans_in_flight, 2 * N);

    for (now = 2; now <= 5; now++) {
        bt_asm_expire(a, now);
        cr_assert_eq(m.traces, (int) (N / 4 * (now - 1)), "at %llu",
                     (unsigned long long) now);
    }

    cr_assert_eq(m.spans, 2 * N);
    cr_assert_eq(m.reopened, 0);
    cr_assert_eq(m.released[0], end, "everything released");
    bt_asm_stats(a, &st);
    cr_assert_eq(st.traces_in_flight, 0);
    cr_assert_eq(st.spans_in_flight, 0);
    cr_assert_eq(st.completed, N);

    for (r = 0; r < N / PER; r++) {
        sb_free(&b[r]);
    }
    for (r = 0; r < 4; r++) {
        sb_free(&late[r]);
    }
    free(b);
    bt_asm_destroy(a);
}

Test(assemble_mem, only_the_most_recently_completed_ids_reopen)
{
    mem_t          m = { 0 };
    bt_asm_conf_t  c = { .nslots = 1, .idle_ms = 1, .max_age_ms = 1000,
                         .recent = 4, .on_trace = mem_trace, .arg = &m };
    bt_asm_t      *a;
    sb_batch_t     b[6];
    char           id[8];
    int            i;

    a = bt_asm_create(&c);
    for (i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "%x", i + 1);
        sb_init(&b[i]);
        sb_add(&b[i], &(sb_span_t) { .trace = id, .id = "1" });
        bt_asm_add(a, 0, b[i].buf, (uint32_t) b[i].len, (uint64_t) i + 1,
                   (uint64_t) i * 10);
        bt_asm_expire(a, (uint64_t) i * 10 + 1);
    }
    cr_assert_eq(m.traces, 6);

    for (i = 0; i < 6; i++) {
        bt_asm_add(a, 0, b[i].buf, (uint32_t) b[i].len, (uint64_t) i + 7,
                   100);
    }
    bt_asm_expire(a, 200);

    cr_assert_eq(m.traces, 12);
    cr_assert_eq(m.reopened, 4, "traces 3..6 remembered, 1 and 2 forgotten");

    for (i = 0; i < 6; i++) {
        sb_free(&b[i]);
    }
    bt_asm_destroy(a);
}
