/*
 * test_trace.c - the assembled-trace view: order, parents, children, root,
 * bounds, duplicate ids and hostile parent cycles.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "t/lib/span_build.h"

static sb_batch_t  b;
static bt_trace_t  t;

static void
setup(void)
{
    sb_init(&b);
    bt_trace_init(&t);
}

static void
teardown(void)
{
    bt_trace_free(&t);
    sb_free(&b);
}

TestSuite(trace, .init = setup, .fini = teardown);

static int
find(const char *name)
{
    uint32_t  i;

    for (i = 0; i < t.n; i++) {
        if (t.spans[i].s.name.n == strlen(name)
            && memcmp(t.spans[i].s.name.p, name, t.spans[i].s.name.n) == 0)
        {
            return (int) i;
        }
    }
    return -1;
}

Test(trace, sorts_by_start_and_links_parents_and_children)
{
    int  root, a, c, d;

    sb_add(&b, &(sb_span_t) { .id = "3", .parent = "1", .name = "c",
                              .start_ms = 30, .dur_ms = 5 });
    sb_add(&b, &(sb_span_t) { .id = "1", .name = "root", .start_ms = 0,
                              .dur_ms = 100, .service = "api" });
    sb_add(&b, &(sb_span_t) { .id = "2", .parent = "1", .name = "a",
                              .start_ms = 10, .dur_ms = 50 });
    sb_add(&b, &(sb_span_t) { .id = "4", .parent = "2", .name = "d",
                              .start_ms = 20, .dur_ms = 120 });

    cr_assert_eq(sb_to_trace(&b, &t), 0);
    cr_assert_eq(t.n, 4);

    root = find("root");
    a = find("a");
    c = find("c");
    d = find("d");
    cr_assert_eq(root, 0, "sorted by start time");
    cr_assert_eq(a, 1);
    cr_assert_eq(d, 2);
    cr_assert_eq(c, 3);

    cr_assert_eq(t.root, root);
    cr_assert_eq(t.spans[a].parent, root);
    cr_assert_eq(t.spans[c].parent, root);
    cr_assert_eq(t.spans[d].parent, a);
    cr_assert_eq(t.spans[root].parent, -1);

    cr_assert_eq(t.spans[root].n_children, 2);
    cr_assert_eq(t.children[t.spans[root].first_child], (uint32_t) a);
    cr_assert_eq(t.children[t.spans[root].first_child + 1], (uint32_t) c);
    cr_assert_eq(t.spans[a].n_children, 1);
    cr_assert_eq(t.children[t.spans[a].first_child], (uint32_t) d);
    cr_assert_eq(t.spans[c].n_children, 0);

    cr_assert_eq(t.start_ns, SB_EPOCH_NS);
    cr_assert_eq(t.end_ns, SB_EPOCH_NS + 140000000ULL);
    cr_assert_eq(t.spans[root].s.service.n, 3);
}

Test(trace, missing_parent_makes_a_root_and_earliest_root_wins)
{
    sb_add(&b, &(sb_span_t) { .id = "2", .parent = "99", .name = "orphan",
                              .start_ms = 5 });
    sb_add(&b, &(sb_span_t) { .id = "1", .name = "late-root",
                              .start_ms = 7 });

    cr_assert_eq(sb_to_trace(&b, &t), 0);
    cr_assert_eq(t.spans[0].parent, -1);
    cr_assert_eq(t.spans[1].parent, -1);
    cr_assert_eq(t.root, find("orphan"));
}

Test(trace, parent_cycles_are_cut)
{
    uint32_t  i, steps;
    int32_t   p;

    sb_add(&b, &(sb_span_t) { .id = "1", .parent = "2", .name = "x",
                              .start_ms = 1 });
    sb_add(&b, &(sb_span_t) { .id = "2", .parent = "3", .name = "y",
                              .start_ms = 2 });
    sb_add(&b, &(sb_span_t) { .id = "3", .parent = "1", .name = "z",
                              .start_ms = 3 });
    sb_add(&b, &(sb_span_t) { .id = "4", .parent = "4", .name = "self",
                              .start_ms = 4 });

    cr_assert_eq(sb_to_trace(&b, &t), 0);

    for (i = 0; i < t.n; i++) {
        steps = 0;
        for (p = t.spans[i].parent; p >= 0; p = t.spans[p].parent) {
            cr_assert_lt(++steps, t.n, "parent chain of %u loops", i);
        }
    }
    cr_assert_eq(t.spans[find("self")].parent, -1);
    cr_assert_geq(t.root, 0, "a cut cycle leaves a root");
}

Test(trace, duplicate_span_ids_first_wins_and_reuse_keeps_buffers)
{
    int  child;

    sb_add(&b, &(sb_span_t) { .id = "1", .name = "first", .start_ms = 1 });
    sb_add(&b, &(sb_span_t) { .id = "1", .name = "second", .start_ms = 2 });
    sb_add(&b, &(sb_span_t) { .id = "2", .parent = "1", .name = "child",
                              .start_ms = 3 });

    cr_assert_eq(sb_to_trace(&b, &t), 0);
    child = find("child");
    cr_assert_eq(t.spans[child].parent, find("first"));

    /* a second, smaller trace reuses the same view */
    sb_free(&b);
    sb_init(&b);
    sb_add(&b, &(sb_span_t) { .id = "7", .name = "only", .start_ms = 0 });
    cr_assert_eq(sb_to_trace(&b, &t), 0);
    cr_assert_eq(t.n, 1);
    cr_assert_eq(t.root, 0);
    cr_assert_eq(t.spans[0].n_children, 0);
}

Test(trace, large_trace_links_in_bounded_time)
{
    uint32_t  i, n = 100000;
    char      id[17], parent[17], name[32];
    int       roots = 0;

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%x", i + 1);
        snprintf(parent, sizeof(parent), "%x", i / 10 + 1);
        snprintf(name, sizeof(name), "s%u", i);
        sb_add(&b, &(sb_span_t) { .id = id, .parent = i ? parent : NULL,
                                  .name = name,
                                  .start_ms = (double) ((i * 7919) % n) });
    }

    cr_assert_eq(sb_to_trace(&b, &t), 0);
    cr_assert_eq(t.n, n);
    for (i = 1; i < n; i++) {
        cr_assert_leq(t.spans[i - 1].s.start_ns, t.spans[i].s.start_ns);
        if (t.spans[i].parent < 0) {
            roots++;
        }
    }
    cr_assert_eq(t.spans[t.root].parent, -1);
    cr_assert_eq(roots + (t.spans[0].parent < 0), 1,
                 "exactly one span has no parent");
}
