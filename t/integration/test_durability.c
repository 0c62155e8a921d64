/*
 * test_durability.c - a 200 means the spans are in shared memory.  While
 * requests flow: SIGKILL the engine again and again and restart it; reload
 * nginx (old and new workers hold slots at the same time).  Every span of
 * every request that got a 200 must come out of some engine run
 * (duplicates allowed, losses not).
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "t/lib/harness.h"
#include "t/lib/harness_otlp.h"

#define REQUESTS    1200
#define EVERY       200         /* one disturbance per EVERY requests */
#define WAIT_MS     60000

enum {
    KILL_ENGINE,
    RELOAD_NGINX
};

static h_env_t  *env;

static const h_opts_t  opts = {
    .workers = 2,
    .idle_ms = 300,
    .ring_slots = 8,            /* a reload needs 2 + 2 slots for a while */
    .ring_slot_size = "4m",
};

static void
start_all(void)
{
    env = h_env_start(&opts, H_ALL);
    cr_assert_not_null(env, "redis, engine and nginx start");
}

static void
stop_all(void)
{
    h_env_free(env);
    env = NULL;
}

/* Adds "trace/span" of every span in s to set. */
static void
remember(json_t *set, const ho_span_t *s, size_t n)
{
    char    key[64], t[33], id[17];
    size_t  i;

    for (i = 0; i < n; i++) {
        h_hex(s[i].trace_id, 16, t);
        h_hex(s[i].span_id, 8, id);
        snprintf(key, sizeof(key), "%s/%s", t, id);
        json_object_set_new(set, key, json_true());
    }
}

/* The disturbance number k, between request req and the next. */
static void
disturb(int what, int req, int *k)
{
    if (what == KILL_ENGINE) {
        /*
         * Kill the engine while it is busy with what was just sent, at a
         * different moment each time (0..350 ms after the last request:
         * around idle_ms the engine is completing traces, writing them out
         * and releasing ring space); send 20 requests while it is down (the
         * ring holds them), then restart it.
         */
        if (req % EVERY == EVERY / 2) {
            usleep(*k * 70000);
            cr_assert_eq(h_engine_kill9(env), 0);
            (*k)++;
        }
        if (req % EVERY == EVERY / 2 + 20) {
            cr_assert_eq(h_engine_start(env), 0, "engine restart %d", *k);
        }
    } else if (req % EVERY == EVERY / 2) {
        cr_assert_eq(h_nginx_reload(env), 0, "nginx reload %d", *k);
        (*k)++;
    }
}

static void
load_and_check(int what)
{
    json_t       *acked, *out, *seen, *t, *s, *v;
    ho_span_t     spans[8];
    uint8_t       trace[16], *body;
    size_t        len, i, k, n, missing = 0, lines = 0, total = 0;
    h_resp_t      r;
    int           req, disturbed = 0, refused = 0;
    const char   *key;
    char          buf[64];

    acked = json_object();
    for (req = 0; req < REQUESTS; req++) {
        disturb(what, req, &disturbed);

        /* 1..8 spans; every third request continues the previous trace */
        if (req % 3 != 2) {
            ho_random_id(trace, 16);
        }
        n = 1 + req % 8;
        for (i = 0; i < n; i++) {
            ho_span_init(&spans[i], trace, i ? "child" : "op");
            if (i) {
                memcpy(spans[i].parent_id, spans[0].span_id, 8);
            }
            spans[i].nattrs = i % 4;
        }
        body = ho_request_pb(spans, n, &len);
        cr_assert_eq(h_post(env, "/v1/traces", "application/x-protobuf",
                            NULL, body, len, &r), 0, "request %d", req);
        free(body);
        if (r.status == 200) {
            remember(acked, spans, n);
        } else {
            /* allowed (no room, no slot), never lost */
            cr_assert(r.status == 429 || r.status == 503,
                      "request %d: status %ld", req, r.status);
            refused++;
        }
        h_resp_free(&r);
    }
    cr_assert_geq(disturbed, REQUESTS / EVERY);
    cr_assert_lt(refused, REQUESTS / 10, "%d refused", refused);

    out = h_traces_wait(env, 0, json_object_size(acked), WAIT_MS);

    /* membership, not only the count */
    seen = json_object();
    json_array_foreach(out, i, t) {
        cr_assert(json_is_object(t), "traces-out line is JSON: %s",
                  json_string_value(t));
        lines++;
        json_array_foreach(json_object_get(t, "spans"), k, s) {
            snprintf(buf, sizeof(buf), "%s/%s",
                     json_string_value(json_object_get(s, "trace_id")),
                     json_string_value(json_object_get(s, "span_id")));
            json_object_set_new(seen, buf, json_true());
            total++;
        }
    }
    json_object_foreach(acked, key, v) {
        if (json_object_get(seen, key) == NULL) {
            if (missing < 10) {
                fprintf(stderr, "lost span %s\n", key);
            }
            missing++;
        }
    }
    json_decref(seen);

    fprintf(stderr, "durability: %zu spans acknowledged in %d requests "
            "(%d refused), %d %s; out: %zu lines, %zu spans, %zu "
            "duplicates, %zu lost\n", json_object_size(acked),
            REQUESTS - refused, refused, disturbed,
            what == KILL_ENGINE ? "engine kills" : "nginx reloads",
            lines, total, total - (json_object_size(acked) - missing),
            missing);
    cr_assert_eq(missing, 0, "%zu of %zu acknowledged spans lost",
                 missing, json_object_size(acked));
    json_decref(out);
    json_decref(acked);
}

Test(durability, no_acknowledged_span_is_lost_across_engine_kills,
     .init = start_all, .fini = stop_all, .timeout = 300)
{
    load_and_check(KILL_ENGINE);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(durability, no_acknowledged_span_is_lost_across_nginx_reloads,
     .init = start_all, .fini = stop_all, .timeout = 300)
{
    load_and_check(RELOAD_NGINX);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}
