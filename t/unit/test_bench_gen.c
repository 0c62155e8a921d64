/*
 * test_bench_gen.c - the benchmark's body generator (bench/gen.c) makes what
 * the benchmark claims to send: bodies the decoder accepts in full, span
 * counts that match the manifest, trace ids that never repeat across bodies,
 * trace-id offsets that point at the trace ids (the wrk script rewrites
 * them), W3-split traces spread over their group with the root last, and
 * JSON and gzip bodies that carry the same spans.
 *
 * Runs build/bench/gen (under $BETRACE_ROOT, else the current directory;
 * built with make if missing) into a temporary directory.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "proto/otlp_decode.h"
#include "proto/otlp_json.h"
#include "shm/bt_span.h"

#define NBODIES  10

typedef struct {
    size_t     len;
    int        spans;
    size_t     noffs;
    size_t     offs[1024];
    uint8_t   *body;
} gbody_t;

typedef struct {
    char       content_type[64];
    char       encoding[16];
    int        group;
    int        nbodies;
    gbody_t    b[NBODIES];
} gwork_t;

static char  dir[64];
static char  root[512];

static const bt_otlp_limits_t  lim = { 10000, 128, 65536, 8 };


static void
run_gen(const char *out, const char *seed)
{
    char  cmd[2048], bin[600];

    snprintf(bin, sizeof(bin), "%s/build/bench/gen", root);
    if (access(bin, X_OK) != 0) {
        snprintf(cmd, sizeof(cmd), "make -s -C %s build/bench/gen", root);
        cr_assert_eq(system(cmd), 0, "cannot build %s", bin);
    }
    snprintf(cmd, sizeof(cmd), "%s -k %d -s %s "
             "-w w1,w2,w3,w5,w3-json,w3-gzip,w3-split %s > /dev/null",
             bin, NBODIES, seed, out);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

static void
setup(void)
{
    const char  *r;

    r = getenv("BETRACE_ROOT");
    if (r == NULL) {
        cr_assert_not_null(getcwd(root, sizeof(root)));
    } else {
        snprintf(root, sizeof(root), "%s", r);
    }
    strcpy(dir, "/tmp/bt-gen-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    run_gen(dir, "42");
}

static void
teardown(void)
{
    char  cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void) system(cmd);
}

TestSuite(bench_gen, .init = setup, .fini = teardown);


static void
unload(gwork_t *w)
{
    int  i;

    for (i = 0; i < w->nbodies; i++) {
        free(w->b[i].body);
    }
    free(w);
}


/* Reads dir/<name>/{manifest,bodies.bin}; unload() frees it. */
static gwork_t *
load(const char *base, const char *name)
{
    char      path[256], line[65536], *p;
    FILE     *m, *f;
    gwork_t  *w;
    gbody_t  *b;
    int       i;

    w = calloc(1, sizeof(*w));
    cr_assert_not_null(w);

    snprintf(path, sizeof(path), "%s/%s/manifest", base, name);
    m = fopen(path, "r");
    cr_assert_not_null(m, "no %s", path);
    snprintf(path, sizeof(path), "%s/%s/bodies.bin", base, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "no %s", path);

    while (fgets(line, sizeof(line), m) != NULL) {
        if (sscanf(line, "content_type %63s", w->content_type) == 1
            || sscanf(line, "content_encoding %15s", w->encoding) == 1
            || sscanf(line, "group %d", &w->group) == 1)
        {
            continue;
        }
        if (strncmp(line, "body ", 5) != 0) {
            continue;
        }
        cr_assert_lt(w->nbodies, NBODIES);
        b = &w->b[w->nbodies++];
        b->len = strtoul(line + 5, &p, 10);
        b->spans = (int) strtol(p, &p, 10);
        while (*p == ' ') {
            p++;
        }
        while (*p >= '0' && *p <= '9') {
            cr_assert_lt(b->noffs, 1024);
            b->offs[b->noffs++] = strtoul(p, &p, 10);
            if (*p == ',') {
                p++;
            }
        }
        b->body = malloc(b->len);
        cr_assert_not_null(b->body);
        cr_assert_eq(fread(b->body, 1, b->len, f), b->len);
    }

    cr_assert_eq(fgetc(f), EOF, "bodies.bin longer than the manifest says");
    fclose(m);
    fclose(f);
    cr_assert_eq(w->nbodies, NBODIES);
    for (i = 0; i < NBODIES; i++) {
        cr_assert_gt(w->b[i].len, 0);
    }
    return w;
}

/*
 * Decodes a protobuf body with the project's decoder; every span must be
 * accepted.  Returns the batch (malloc'd) and its span count.
 */
static uint8_t *
decode(const uint8_t *pb, size_t len, int *count)
{
    bt_otlp_scan_t   scan;
    uint8_t         *batch;
    int              rc;

    rc = bt_otlp_scan(pb, len, &lim, &scan);
    cr_assert_eq(rc, BT_OTLP_OK, "scan: %s", scan.message);
    cr_assert_eq(scan.rejected, 0, "rejected: %s", scan.message);
    batch = malloc(scan.batch_len);
    cr_assert_not_null(batch);
    bt_otlp_write(pb, len, &lim, batch);
    *count = bt_batch_check(batch, scan.batch_len);
    cr_assert_eq((uint32_t) *count, scan.accepted);
    return batch;
}

/* Calls fn for every span of a checked batch. */
#define FOR_SPANS(batch, n, sp, body)                                       \
    do {                                                                    \
        const uint8_t  *p_ = bt_batch_first(batch);                         \
        int             i_;                                                 \
        for (i_ = 0; i_ < (n); i_++) {                                      \
            int  len_ = bt_span_parse(p_, 1u << 30, &(sp));                 \
            cr_assert_gt(len_, 0);                                          \
            body                                                            \
            p_ += len_;                                                     \
        }                                                                   \
    } while (0)

static int
cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}


Test(bench_gen, protobuf_bodies_decode_in_full_and_match_the_manifest)
{
    static const char *const  names[] = { "w1", "w2", "w3", "w5" };
    static const int          spans[] = { 1, 10, 100, 100 };
    static const int          attrs[] = { 10, 4, 10, 30 };
    size_t     k;
    int        i, n;
    gwork_t   *w;
    uint8_t   *batch;
    bt_span_t  sp;

    for (k = 0; k < 4; k++) {
        w = load(dir, names[k]);
        cr_assert_str_eq(w->content_type, "application/x-protobuf");
        cr_assert_str_eq(w->encoding, "identity");
        for (i = 0; i < w->nbodies; i++) {
            cr_assert_eq(w->b[i].spans, spans[k], "%s", names[k]);
            batch = decode(w->b[i].body, w->b[i].len, &n);
            cr_assert_eq(n, spans[k]);
            cr_assert_eq(w->b[i].noffs, (size_t) n);
            FOR_SPANS(batch, n, sp, {
                cr_assert_eq(sp.attrs.count, (uint32_t) attrs[k],
                             "%s span %d", names[k], i_);
                cr_assert_gt(sp.name.n, 0);
                cr_assert_gt(sp.service.n, 0);
                cr_assert_eq(sp.resource.count, 10);
                cr_assert_lt(sp.start_ns, sp.end_ns);
                /* the offsets the wrk script rewrites are the trace ids */
                cr_assert_eq(memcmp(w->b[i].body + w->b[i].offs[i_],
                                    sp.trace_id, 16), 0,
                             "%s body %d span %d: offset is not the trace id",
                             names[k], i, i_);
            });
            free(batch);
        }
        unload(w);
    }
}

Test(bench_gen, trace_ids_never_repeat_across_bodies)
{
    gwork_t   *w;
    uint8_t   *batch, (*ids)[16], last[16];
    int        i, n, nids, distinct;
    bt_span_t  sp;

    /* W3: 10 traces of 10 spans per body; a trace lives in one body */
    w = load(dir, "w3");
    ids = malloc(NBODIES * 100 * 16);
    nids = 0;
    for (i = 0; i < w->nbodies; i++) {
        uint8_t  own[100][16];
        int      nown = 0, j, seen;

        batch = decode(w->b[i].body, w->b[i].len, &n);
        FOR_SPANS(batch, n, sp, {
            seen = 0;
            for (j = 0; j < nown; j++) {
                seen |= memcmp(own[j], sp.trace_id, 16) == 0;
            }
            if (!seen) {
                memcpy(own[nown++], sp.trace_id, 16);
            }
        });
        cr_assert_eq(nown, 10, "body %d has %d traces", i, nown);
        memcpy(ids[nids], own, (size_t) nown * 16);
        nids += nown;
        free(batch);
    }

    qsort(ids, (size_t) nids, 16, cmp_id);
    distinct = 0;
    memset(last, 0, 16);
    for (i = 0; i < nids; i++) {
        if (i == 0 || memcmp(ids[i], last, 16) != 0) {
            distinct++;
        }
        memcpy(last, ids[i], 16);
    }
    cr_assert_eq(distinct, NBODIES * 10, "%d of %d trace ids distinct",
                 distinct, NBODIES * 10);
    free(ids);
    unload(w);
}

Test(bench_gen, split_traces_cross_their_group_and_end_with_the_root)
{
    gwork_t   *w;
    uint8_t   *batch;
    int        g, b, n, t, j, found;
    bt_span_t  sp;
    struct {
        uint8_t  id[16];
        int      bodies_seen;   /* bit per body of the group */
        int      root_body;
        int      spans;
    } tr[64];
    int        ntr;

    w = load(dir, "w3-split");
    cr_assert_eq(w->group, 5);

    for (g = 0; g < NBODIES; g += 5) {
        ntr = 0;
        for (b = 0; b < 5; b++) {
            batch = decode(w->b[g + b].body, w->b[g + b].len, &n);
            cr_assert_eq(n, 100);
            FOR_SPANS(batch, n, sp, {
                found = -1;
                for (j = 0; j < ntr; j++) {
                    if (memcmp(tr[j].id, sp.trace_id, 16) == 0) {
                        found = j;
                    }
                }
                if (found < 0) {
                    cr_assert_lt(ntr, 64);
                    found = ntr++;
                    memcpy(tr[found].id, sp.trace_id, 16);
                    tr[found].bodies_seen = 0;
                    tr[found].root_body = -1;
                    tr[found].spans = 0;
                }
                tr[found].bodies_seen |= 1 << b;
                tr[found].spans++;
                if (bt_id_is_zero(sp.parent_id, 8)) {
                    tr[found].root_body = b;
                }
            });
            free(batch);
        }
        cr_assert_eq(ntr, 50, "group %d has %d traces", g / 5, ntr);
        for (t = 0; t < ntr; t++) {
            cr_assert_eq(tr[t].bodies_seen, 0x1f,
                         "trace %d is not in every body of its group", t);
            cr_assert_eq(tr[t].spans, 10);
            cr_assert_eq(tr[t].root_body, 4, "root not in the last body");
        }
    }
    unload(w);
}

Test(bench_gen, json_and_gzip_bodies_carry_w3_spans)
{
    gwork_t   *w;
    uint8_t   *pb, *batch, *raw;
    size_t     pb_len, raw_cap = 4u << 20;
    char       err[256], hex[33];
    int        i, n, k;
    z_stream   z;
    bt_span_t  sp;

    w = load(dir, "w3-json");
    cr_assert_str_eq(w->content_type, "application/json");
    for (i = 0; i < w->nbodies; i++) {
        cr_assert_eq(bt_otlp_json_to_pb((const char *) w->b[i].body,
                                        w->b[i].len, &pb, &pb_len, err,
                                        sizeof(err)), 0, "json: %s", err);
        batch = decode(pb, pb_len, &n);
        cr_assert_eq(n, 100);
        cr_assert_eq(w->b[i].noffs, 100);
        FOR_SPANS(batch, n, sp, {
            for (k = 0; k < 16; k++) {
                snprintf(hex + 2 * k, 3, "%02x", sp.trace_id[k]);
            }
            cr_assert_eq(memcmp(w->b[i].body + w->b[i].offs[i_], hex, 32), 0,
                         "json body %d span %d: offset is not the trace id",
                         i, i_);
        });
        free(batch);
        free(pb);
    }
    unload(w);

    w = load(dir, "w3-gzip");
    cr_assert_str_eq(w->encoding, "gzip");
    raw = malloc(raw_cap);
    for (i = 0; i < w->nbodies; i++) {
        memset(&z, 0, sizeof(z));
        cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = w->b[i].body;
        z.avail_in = (uInt) w->b[i].len;
        z.next_out = raw;
        z.avail_out = (uInt) raw_cap;
        cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
        cr_assert_lt(w->b[i].len * 3, z.total_out, "gzip hardly compressed");
        batch = decode(raw, z.total_out, &n);
        cr_assert_eq(n, 100);
        inflateEnd(&z);
        free(batch);
    }
    free(raw);
    unload(w);
}

Test(bench_gen, a_seed_gives_the_same_ids_and_another_seed_others)
{
    char      again[64], other[64], cmd[256];
    gwork_t  *a, *b, *c;

    strcpy(again, "/tmp/bt-gen2-XXXXXX");
    strcpy(other, "/tmp/bt-gen3-XXXXXX");
    cr_assert_not_null(mkdtemp(again));
    cr_assert_not_null(mkdtemp(other));
    run_gen(again, "42");
    run_gen(other, "43");

    /* times follow the clock; the ids and everything else the seed */
    a = load(dir, "w3");
    b = load(again, "w3");
    c = load(other, "w3");
    cr_assert_eq(a->b[0].len, b->b[0].len);
    cr_assert_eq(memcmp(a->b[0].body + a->b[0].offs[0],
                        b->b[0].body + b->b[0].offs[0], 16), 0);
    cr_assert_neq(memcmp(a->b[0].body + a->b[0].offs[0],
                         c->b[0].body + c->b[0].offs[0], 16), 0);

    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", again, other);
    (void) system(cmd);
    unload(a);
    unload(b);
    unload(c);
}
