/*
 * test_ring.c - the shared-memory segment and its rings: records round
 * trip, wrap with padding over many laps, a full ring, two processes, a
 * producer killed mid-write, corruption caught by crc and seq, a restarted
 * consumer, refused segments, the doorbell, shared stats, CRC32C, and a
 * throughput figure (printed, not judged).
 *
 * Every test works in its own mkdtemp directory.  Children made with fork()
 * report through their exit status (0 = fine, anything else names the
 * failed step), never through Criterion asserts.
 */

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/bt_ring.h"
#include "shm/bt_ring_layout.h"
#include "shm/bt_crc32c.h"

static char  dir[PATH_MAX - 64];
static char  path[PATH_MAX + 16];
static char  err[512];

static void
setup(void)
{
    const char  *tmp;

    tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/bt_ring_XXXXXX", tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/ring", dir);
    err[0] = '\0';
}

static void
teardown(void)
{
    struct dirent  *de;
    char            p[PATH_MAX + 256];
    DIR            *d;

    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

TestSuite(ring, .init = setup, .fini = teardown);

static bt_shm_t *
open_ring(uint32_t nslots, uint64_t slot_bytes)
{
    bt_shm_geometry_t  geo = { nslots, slot_bytes };
    bt_shm_t          *shm;

    shm = bt_shm_open(path, &geo, err, sizeof(err));
    cr_assert_not_null(shm, "bt_shm_open: %s", err);
    return shm;
}

/* fork() whose child dies with the test: a producer child spinning on a
 * full ring must not outlive a consumer that failed or timed out */
static pid_t
fork_child(void)
{
    pid_t  parent, pid;

    parent = getpid();
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(99);
        }
    }
    return pid;
}

static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint64_t
cpu_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint64_t
thread_cpu_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/* payload of record number idx: the index, then bytes derived from it */
static void
fill(uint8_t *p, uint32_t len, uint64_t idx)
{
    uint32_t  i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t) (idx * 131 + i * 7 + (i >> 8));
    }
    if (len >= 8) {
        memcpy(p, &idx, 8);
    }
}

/* 1 if p/len is exactly what fill(idx) wrote */
static int
check(const uint8_t *p, uint32_t len, uint64_t idx)
{
    uint64_t  got;
    uint32_t  i;

    if (len >= 8) {
        memcpy(&got, p, 8);
        if (got != idx) {
            return 0;
        }
    }
    for (i = len >= 8 ? 8 : 0; i < len; i++) {
        if (p[i] != (uint8_t) (idx * 131 + i * 7 + (i >> 8))) {
            return 0;
        }
    }
    return 1;
}

/* reserve + fill + commit; 0 when the ring is full */
static int
put(bt_shm_t *shm, int slot, uint32_t len, uint64_t idx)
{
    uint8_t  *p;

    p = bt_ring_reserve(shm, slot, len);
    if (p == NULL) {
        return 0;
    }
    fill(p, len, idx);
    bt_ring_commit(shm, slot, p, len);
    return 1;
}

static uint32_t
lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (*s >> 33);
}

static uint64_t
rec_bytes(uint32_t len)
{
    return sizeof(bt_rec_hdr_t) + ((len + 7u) & ~7u);
}

Test(ring, round_trip)
{
    const uint8_t  *p;
    bt_shm_t       *shm;
    uint64_t        pos;
    uint32_t        len;
    int             slot;

    shm = open_ring(2, 64 << 10);
    slot = bt_shm_claim(shm, getpid());
    cr_assert_eq(slot, 0);
    cr_assert_eq(bt_shm_claim(shm, getpid()), 0, "claim is idempotent");

    cr_assert(put(shm, slot, 100, 7));
    cr_assert(put(shm, slot, 0, 8), "empty payloads are records too");
    cr_assert_eq(bt_ring_head(shm, slot), rec_bytes(100) + rec_bytes(0));

    pos = bt_ring_tail(shm, slot);
    cr_assert_eq(pos, 0);
    cr_assert_eq(bt_ring_read(shm, slot, &pos, &p, &len), 1);
    cr_assert_eq(len, 100);
    cr_assert(check(p, len, 7));
    cr_assert_eq(pos, rec_bytes(100));
    cr_assert_eq(bt_ring_read(shm, slot, &pos, &p, &len), 1);
    cr_assert_eq(len, 0);
    cr_assert_eq(bt_ring_read(shm, slot, &pos, &p, &len), 0);
    cr_assert_eq(pos, bt_ring_head(shm, slot));

    bt_ring_release(shm, slot, pos);
    cr_assert_eq(bt_ring_tail(shm, slot), pos);

    /* the other slot saw nothing */
    pos = 0;
    cr_assert_eq(bt_ring_read(shm, 1, &pos, &p, &len), 0);

    bt_shm_release(shm, slot, getpid());
    bt_shm_close(shm);
}

Test(ring, reserve_needs_a_claimed_slot)
{
    bt_shm_t  *shm;
    uint8_t   *p;

    shm = open_ring(2, 64 << 10);
    cr_assert_null(bt_ring_reserve(shm, 0, 10), "slot not claimed");
    cr_assert_eq(bt_shm_claim(shm, getpid()), 0);
    cr_assert_null(bt_ring_reserve(shm, 1, 10), "someone else's slot");
    cr_assert_null(bt_ring_reserve(shm, 2, 10), "no such slot");
    cr_assert_null(bt_ring_reserve(shm, -1, 10), "no such slot");

    /* a commit with a pointer that reserve did not return publishes nothing */
    p = bt_ring_reserve(shm, 0, 64);
    cr_assert_not_null(p);
    bt_ring_commit(shm, 0, p + 8, 32);
    cr_assert_eq(bt_ring_head(shm, 0), 0);
    bt_ring_commit(shm, 0, p, 65);
    cr_assert_eq(bt_ring_head(shm, 0), 0, "longer than reserved");
    bt_ring_commit(shm, 0, p, 40);
    cr_assert_eq(bt_ring_head(shm, 0), rec_bytes(40), "shorter is fine");
    bt_ring_commit(shm, 0, p, 40);
    cr_assert_eq(bt_ring_head(shm, 0), rec_bytes(40), "commit only once");
    bt_shm_close(shm);
}

/*
 * Random sizes over hundreds of laps of a 64 KiB ring, consuming in random
 * bursts; some records are sized to end 8 or 16 bytes before the end of
 * the ring (no room for a padding header) or exactly at it.
 */
Test(ring, wrap_many_laps_every_byte, .timeout = 60)
{
    const uint8_t  *p;
    bt_shm_t       *shm;
    uint64_t        seed, next_put, next_get, pos, head, size, to_end;
    uint64_t        pads, fragments, exact;
    uint32_t        len, max, burst, got;
    int             slot, rc;

    size = 64 << 10;
    shm = open_ring(1, size);
    slot = bt_shm_claim(shm, getpid());
    cr_assert_eq(slot, 0);
    max = bt_ring_max_record(shm);
    cr_assert_eq(max, size / 4 - sizeof(bt_rec_hdr_t));
    cr_assert_null(bt_ring_reserve(shm, slot, max + 1));

    seed = 42;
    next_put = next_get = 0;
    pos = 0;
    pads = fragments = exact = 0;

    while (bt_ring_head(shm, slot) < 300 * size) {
        head = bt_ring_head(shm, slot);
        to_end = size - (head & (size - 1));

        switch (lcg(&seed) % 8) {
        case 0:
            /* leave 8 or 16 bytes before the end */
            if (to_end > 2 * sizeof(bt_rec_hdr_t) + 16
                && to_end - sizeof(bt_rec_hdr_t) - 16 <= max)
            {
                len = (uint32_t) (to_end - sizeof(bt_rec_hdr_t)
                                  - 8 * (1 + lcg(&seed) % 2));
                break;
            }
            /* fall through */
        case 1:
            /* end exactly at the end */
            if (to_end >= sizeof(bt_rec_hdr_t)
                && to_end - sizeof(bt_rec_hdr_t) <= max)
            {
                len = (uint32_t) (to_end - sizeof(bt_rec_hdr_t))
                      - lcg(&seed) % 8;
                break;
            }
            /* fall through */
        default:
            len = lcg(&seed) % (max + 1);
        }

        if (put(shm, slot, len, next_put)) {
            if (rec_bytes(len) > to_end) {
                if (to_end >= sizeof(bt_rec_hdr_t)) {
                    pads++;
                } else {
                    fragments++;
                }
            } else if (rec_bytes(len) == to_end) {
                exact++;
            }
            next_put++;
            continue;
        }

        /* full: consume a burst, then release */
        burst = 1 + lcg(&seed) % 16;
        for (got = 0; got < burst; got++) {
            rc = bt_ring_read(shm, slot, &pos, &p, &len);
            if (rc == 0) {
                break;
            }
            cr_assert_eq(rc, 1, "record %llu refused",
                         (unsigned long long) next_get);
            cr_assert(check(p, len, next_get), "record %llu damaged",
                      (unsigned long long) next_get);
            next_get++;
        }
        bt_ring_release(shm, slot, pos);
    }

    while ((rc = bt_ring_read(shm, slot, &pos, &p, &len)) == 1) {
        cr_assert(check(p, len, next_get));
        next_get++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(next_get, next_put);
    cr_assert_gt(pads, 100, "padding records written: %llu",
                 (unsigned long long) pads);
    cr_assert_gt(fragments, 10, "unmarked tail fragments: %llu",
                 (unsigned long long) fragments);
    cr_assert_gt(exact, 10, "records ending at the end: %llu",
                 (unsigned long long) exact);
    bt_shm_close(shm);
}

Test(ring, full_ring_refuses_then_frees)
{
    const uint8_t  *p;
    bt_shm_t       *shm;
    uint64_t        pos, used, total;
    uint32_t        len;
    int             slot, n, i;

    shm = open_ring(1, 64 << 10);
    slot = bt_shm_claim(shm, getpid());

    for (n = 0; put(shm, slot, 1000, (uint64_t) n); n++) {
        cr_assert_lt(n, 1000);
    }
    cr_assert_eq(n, (64 << 10) / rec_bytes(1000), "records that fit: %d", n);

    bt_shm_usage(shm, &used, &total);
    cr_assert_eq(used, (uint64_t) n * rec_bytes(1000));
    cr_assert_eq(total, 64 << 10);

    /* reading does not free: only release does */
    pos = bt_ring_tail(shm, slot);
    for (i = 0; i < n; i++) {
        cr_assert_eq(bt_ring_read(shm, slot, &pos, &p, &len), 1);
        cr_assert(check(p, len, (uint64_t) i));
    }
    cr_assert_null(bt_ring_reserve(shm, slot, 1000));

    /* a release outside [tail, head] is ignored */
    bt_ring_release(shm, slot, pos + 8);
    cr_assert_eq(bt_ring_tail(shm, slot), 0);

    bt_ring_release(shm, slot, rec_bytes(1000));
    cr_assert(put(shm, slot, 1000, 999), "one record's room is back");
    cr_assert_null(bt_ring_reserve(shm, slot, 1000));

    bt_ring_release(shm, slot, pos);
    cr_assert(put(shm, slot, bt_ring_max_record(shm), 1000));
    cr_assert_eq(bt_ring_read(shm, slot, &pos, &p, &len), 1);
    cr_assert(check(p, len, 999));
    cr_assert_eq(bt_ring_read(shm, slot, &pos, &p, &len), 1);
    cr_assert_eq(len, bt_ring_max_record(shm));
    cr_assert(check(p, len, 1000));
    bt_shm_close(shm);
}

#define TWO_PROC_N  200000

static int
producer_child(uint64_t n, int with_sleep)
{
    bt_shm_t  *shm;
    uint64_t   i;
    int        slot;

    shm = bt_shm_open(path, NULL, err, sizeof(err));
    if (shm == NULL) {
        return 2;
    }
    slot = bt_shm_claim(shm, getpid());
    if (slot < 0) {
        return 3;
    }
    for (i = 0; i < n; i++) {
        while (!put(shm, slot, 8 + (uint32_t) (i * 37 % 3000), i)) {
            sched_yield();
        }
        if (with_sleep && i % 16 == 0) {
            usleep((useconds_t) (i * 7919 % 300));
        }
    }
    bt_shm_release(shm, slot, getpid());
    bt_shm_close(shm);
    return 0;
}

static void
consume_all(bt_shm_t *shm, uint64_t n, int *long_waits)
{
    const uint8_t  *p;
    uint64_t        pos, got, t0, deadline;
    uint32_t        len;
    int             rc;

    pos = bt_ring_tail(shm, 0);
    got = 0;
    deadline = now_ns() + 60000000000ull;
    *long_waits = 0;

    while (got < n) {
        rc = bt_ring_read(shm, 0, &pos, &p, &len);
        if (rc == 1) {
            cr_assert_eq(len, 8 + got * 37 % 3000, "record %llu length %u",
                         (unsigned long long) got, len);
            cr_assert(check(p, len, got), "record %llu damaged",
                      (unsigned long long) got);
            got++;
            if (got % 64 == 0) {
                bt_ring_release(shm, 0, pos);
            }
            continue;
        }
        cr_assert_eq(rc, 0, "record %llu refused", (unsigned long long) got);
        bt_ring_release(shm, 0, pos);
        t0 = now_ns();
        bt_shm_wait(shm, 1000);
        if (now_ns() - t0 > 900000000ull) {
            (*long_waits)++;
        }
        cr_assert_lt(now_ns(), deadline, "stuck at record %llu",
                     (unsigned long long) got);
    }
    bt_ring_release(shm, 0, pos);
}

Test(ring, two_processes_in_order_intact, .timeout = 90)
{
    bt_shm_t  *shm;
    pid_t      pid;
    int        status, long_waits;

    shm = open_ring(1, 256 << 10);
    pid = fork_child();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        _exit(producer_child(TWO_PROC_N, 0));
    }

    consume_all(shm, TWO_PROC_N, &long_waits);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "producer status %d", status);
    cr_assert_eq(bt_ring_head(shm, 0), bt_ring_tail(shm, 0));
    bt_shm_close(shm);
}

/* A producer that pauses now and then: the engine sleeps in bt_shm_wait
 * often, and no wait may run into its 1 s timeout (a lost wake-up). */
Test(ring, doorbell_loses_no_wakeup, .timeout = 90)
{
    bt_shm_t  *shm;
    pid_t      pid;
    int        status, long_waits;

    shm = open_ring(1, 256 << 10);
    pid = fork_child();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        _exit(producer_child(20000, 1));
    }

    consume_all(shm, 20000, &long_waits);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(long_waits, 0, "waits that slept through a commit: %d",
                 long_waits);
    bt_shm_close(shm);
}

Test(ring, killed_producer_leaves_nothing_and_slot_is_reclaimed)
{
    const uint8_t  *p;
    bt_shm_t       *shm;
    siginfo_t       si;
    uint64_t        pos, head, t0;
    uint32_t        len;
    uint8_t        *w;
    pid_t           pid;
    int             status, i, slot;

    shm = open_ring(1, 64 << 10);

    /* move the ring near its end, so the killed write also has a wrap
     * (padding written, never published) pending */
    cr_assert_eq(bt_shm_claim(shm, getpid()), 0);
    for (i = 0; i < 4; i++) {
        cr_assert(put(shm, 0, 15000, 0));
    }
    bt_ring_release(shm, 0, bt_ring_head(shm, 0));
    bt_shm_release(shm, 0, getpid());
    pos = bt_ring_tail(shm, 0);
    cr_assert_eq(pos, 4 * rec_bytes(15000));

    pid = fork_child();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        bt_shm_t  *c = bt_shm_open(path, NULL, err, sizeof(err));

        if (c == NULL || bt_shm_claim(c, getpid()) != 0) {
            _exit(2);
        }
        for (i = 0; i < 3; i++) {
            put(c, 0, 500, (uint64_t) i);
        }
        w = bt_ring_reserve(c, 0, 5000);
        if (w == NULL) {
            _exit(3);
        }
        fill(w, 2500, 3);
        raise(SIGKILL);
        _exit(4);
    }

    /* dead but not reaped: a zombie still owns its slot */
    cr_assert_eq(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT), 0);
    cr_assert_eq(si.si_code, CLD_KILLED);
    cr_assert_eq(bt_shm_claim(shm, getpid()), -1);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    head = bt_ring_head(shm, 0);
    cr_assert_eq(head, 4 * rec_bytes(15000) + 3 * rec_bytes(500),
                 "only committed records count");
    for (i = 0; i < 3; i++) {
        cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), 1);
        cr_assert(check(p, len, (uint64_t) i));
    }
    /* the padding the dead producer wrote at head is there, unpublished */
    cr_assert_eq(((const bt_rec_hdr_t *) (p + rec_bytes(500)
                                          - sizeof(bt_rec_hdr_t)))->magic,
                 BT_PAD_MAGIC);
    cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), 0);
    cr_assert_eq(pos, head);
    bt_ring_release(shm, 0, pos);

    /* a new pid reclaims the dead owner's slot and starts at head */
    pid = fork_child();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        bt_shm_t  *c = bt_shm_open(path, NULL, err, sizeof(err));

        if (c == NULL) {
            _exit(2);
        }
        slot = bt_shm_claim(c, getpid());
        if (slot != 0) {
            _exit(3);
        }
        for (i = 10; i < 30; i++) {
            int  tries = 0;

            while (!put(c, 0, 3000, (uint64_t) i)) {
                if (++tries > 100000) {
                    _exit(4);
                }
                usleep(50);
            }
        }
        bt_shm_release(c, 0, getpid());
        _exit(0);
    }
    t0 = now_ns();
    for (i = 10; i < 30; i++) {
        while (bt_ring_read(shm, 0, &pos, &p, &len) == 0) {
            cr_assert_lt(now_ns() - t0, 10000000000ull,
                         "record %d never came; producer: %d", i,
                         waitpid(pid, &status, WNOHANG) == pid
                         ? WEXITSTATUS(status) : -1);
            bt_shm_wait(shm, 100);
        }
        cr_assert_eq(len, 3000);
        cr_assert(check(p, len, (uint64_t) i), "record %d damaged", i);
        bt_ring_release(shm, 0, pos);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "second producer status %d", status);
    cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), 0);
    bt_shm_close(shm);
}

Test(ring, live_owner_keeps_its_slot)
{
    bt_shm_t  *shm;
    pid_t      pid;
    int        status;

    shm = open_ring(1, 64 << 10);
    cr_assert_eq(bt_shm_claim(shm, getpid()), 0);

    /* another pid gets nothing, and cannot release what it does not own */
    pid = fork_child();
    if (pid == 0) {
        bt_shm_release(shm, 0, getpid());
        _exit(bt_shm_claim(shm, getpid()) == -1 ? 0 : 1);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 0, "a live owner's slot was taken");

    bt_shm_release(shm, 0, getpid());
    pid = fork_child();
    if (pid == 0) {
        _exit(bt_shm_claim(shm, getpid()) == 0 ? 0 : 1);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 0, "a released slot was not free");
    bt_shm_close(shm);
}

Test(ring, corrupt_records_are_refused)
{
    const uint8_t  *p;
    bt_shm_t       *shm;
    bt_rec_hdr_t   *h;
    uint64_t        pos;
    uint32_t        len;
    uint8_t        *w;

    shm = open_ring(1, 64 << 10);
    cr_assert_eq(bt_shm_claim(shm, getpid()), 0);

    /* a flipped payload byte: crc */
    w = bt_ring_reserve(shm, 0, 500);
    fill(w, 500, 1);
    bt_ring_commit(shm, 0, w, 500);
    put(shm, 0, 500, 2);
    w[250] ^= 0x01;
    pos = 0;
    cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), -1);
    cr_assert_eq(pos, bt_ring_head(shm, 0), "the rest is untrusted");
    bt_ring_release(shm, 0, pos);

    /* a wrong seq (a stale record from an earlier lap looks like this) */
    w = bt_ring_reserve(shm, 0, 100);
    fill(w, 100, 3);
    bt_ring_commit(shm, 0, w, 100);
    h = (bt_rec_hdr_t *) (w - sizeof(bt_rec_hdr_t));
    h->seq -= 64 << 10;
    cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), -1);
    cr_assert_eq(pos, bt_ring_head(shm, 0));
    bt_ring_release(shm, 0, pos);

    /* a length that runs past head */
    w = bt_ring_reserve(shm, 0, 100);
    fill(w, 100, 4);
    bt_ring_commit(shm, 0, w, 100);
    h = (bt_rec_hdr_t *) (w - sizeof(bt_rec_hdr_t));
    h->len = 200;
    cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), -1);
    bt_ring_release(shm, 0, pos);

    /* a cursor outside [tail, head] */
    pos += 8;
    cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), -1);
    cr_assert_eq(pos, bt_ring_head(shm, 0));

    /* later records are fine */
    put(shm, 0, 64, 5);
    cr_assert_eq(bt_ring_read(shm, 0, &pos, &p, &len), 1);
    cr_assert(check(p, len, 5));
    bt_shm_close(shm);
}

Test(ring, restarted_consumer_resumes_at_tail)
{
    const uint8_t  *p;
    bt_shm_t       *prod, *cons;
    uint64_t        pos, mark;
    uint32_t        len;
    int             i;

    prod = open_ring(2, 64 << 10);
    cr_assert_eq(bt_shm_claim(prod, getpid()), 0);
    for (i = 0; i < 10; i++) {
        cr_assert(put(prod, 0, 200 + (uint32_t) i, (uint64_t) i));
    }

    cons = bt_shm_open(path, NULL, err, sizeof(err));
    cr_assert_not_null(cons, "%s", err);
    pos = bt_ring_tail(cons, 0);
    mark = 0;
    for (i = 0; i < 5; i++) {
        cr_assert_eq(bt_ring_read(cons, 0, &pos, &p, &len), 1);
        if (i == 2) {
            mark = pos;
        }
    }
    bt_ring_release(cons, 0, mark);
    bt_shm_close(cons);

    /* records 3 and 4 were read but not released: read again */
    cons = bt_shm_open(path, NULL, err, sizeof(err));
    cr_assert_not_null(cons, "%s", err);
    pos = bt_ring_tail(cons, 0);
    cr_assert_eq(pos, mark);
    for (i = 3; i < 10; i++) {
        cr_assert_eq(bt_ring_read(cons, 0, &pos, &p, &len), 1);
        cr_assert_eq(len, 200 + (uint32_t) i);
        cr_assert(check(p, len, (uint64_t) i));
    }
    cr_assert_eq(bt_ring_read(cons, 0, &pos, &p, &len), 0);
    bt_shm_close(cons);
    bt_shm_close(prod);
}

Test(ring, geometry_mismatch_is_refused)
{
    bt_shm_geometry_t  geo;
    bt_shm_t          *shm;
    char               want[PATH_MAX + 128];

    shm = open_ring(4, 64 << 10);
    bt_shm_close(shm);

    geo.nslots = 8;
    geo.slot_bytes = 64 << 10;
    cr_assert_null(bt_shm_open(path, &geo, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "ring %s has 4 slots of 64 KiB, expected 8 slots of 64 KiB",
             path);
    cr_assert_str_eq(err, want);

    geo.nslots = 4;
    geo.slot_bytes = 1 << 20;
    cr_assert_null(bt_shm_open(path, &geo, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "ring %s has 4 slots of 64 KiB, expected 4 slots of 1 MiB", path);
    cr_assert_str_eq(err, want);

    /* no geometry: take what is there */
    shm = bt_shm_open(path, NULL, err, sizeof(err));
    cr_assert_not_null(shm, "%s", err);
    bt_shm_geometry(shm, &geo);
    cr_assert_eq(geo.nslots, 4);
    cr_assert_eq(geo.slot_bytes, 64 << 10);
    bt_shm_close(shm);
}

static void
poke(off_t off, const void *v, size_t n)
{
    int  fd;

    fd = open(path, O_RDWR);
    cr_assert_neq(fd, -1);
    cr_assert_eq(pwrite(fd, v, n, off), (ssize_t) n);
    close(fd);
}

Test(ring, version_mismatch_is_refused)
{
    bt_shm_t  *shm;
    uint32_t   v;
    char       want[PATH_MAX + 128];

    shm = open_ring(2, 64 << 10);
    bt_shm_close(shm);

    v = BT_SHM_VERSION + 98;
    poke(offsetof(bt_shm_hdr_t, version), &v, sizeof(v));
    cr_assert_null(bt_shm_open(path, NULL, err, sizeof(err)));
    snprintf(want, sizeof(want), "ring %s has layout version %u, expected %u",
             path, BT_SHM_VERSION + 98, BT_SHM_VERSION);
    cr_assert_str_eq(err, want);
}

Test(ring, bad_segments_are_refused)
{
    bt_shm_geometry_t  geo = { 2, 64 << 10 };
    bt_shm_t          *shm;
    uint64_t           v;
    char               want[PATH_MAX + 128];
    int                fd;

    /* missing, and nobody says how to create it */
    cr_assert_null(bt_shm_open(path, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "does not exist"), "%s", err);
    cr_assert(strstr(err, path), "%s", err);

    /* not a power of two */
    geo.slot_bytes = 100000;
    cr_assert_null(bt_shm_open(path, &geo, err, sizeof(err)));
    cr_assert(strstr(err, "invalid geometry 2 slots of 100000 bytes"), "%s",
              err);
    geo.slot_bytes = 64 << 10;
    geo.nslots = 0;
    cr_assert_null(bt_shm_open(path, &geo, err, sizeof(err)));
    cr_assert_eq(access(path, F_OK), -1, "nothing created");

    /* someone else's file */
    fd = open(path, O_RDWR | O_CREAT, 0600);
    cr_assert_eq(write(fd, "hello, world\n", 13), 13);
    close(fd);
    cr_assert_null(bt_shm_open(path, NULL, err, sizeof(err)));
    snprintf(want, sizeof(want), "ring %s is not a BeTrace segment (13 bytes)",
             path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(truncate(path, 8192), 0);
    cr_assert_null(bt_shm_open(path, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "not a BeTrace segment (magic"), "%s", err);
    unlink(path);

    /* truncated */
    geo.nslots = 2;
    shm = bt_shm_open(path, &geo, err, sizeof(err));
    cr_assert_not_null(shm, "%s", err);
    bt_shm_close(shm);
    cr_assert_eq(truncate(path, 100000), 0);
    cr_assert_null(bt_shm_open(path, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "is 100000 bytes"), "%s", err);
    unlink(path);

    /* tail ahead of head in slot 1 */
    shm = bt_shm_open(path, &geo, err, sizeof(err));
    cr_assert_not_null(shm, "%s", err);
    bt_shm_close(shm);
    v = 4096;
    poke(2 * BT_SHM_PAGE + (64 << 10) + BT_SHM_PAGE
         + offsetof(bt_slot_ctl_t, tail), &v, sizeof(v));
    cr_assert_null(bt_shm_open(path, NULL, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "ring %s slot 1 is corrupt: head 0, tail 4096", path);
    cr_assert_str_eq(err, want);
}

/* Eight processes open a segment that does not exist yet, at once: one
 * creates it, all attach to the same one and get distinct slots. */
Test(ring, concurrent_creation_is_atomic, .timeout = 30)
{
    bt_shm_geometry_t  geo = { 8, 64 << 10 };
    struct dirent     *de;
    bt_shm_t          *shm;
    DIR               *d;
    pid_t              pids[8];
    int                go[2], status, i, seen, files;
    char               c;

    cr_assert_eq(pipe(go), 0);
    for (i = 0; i < 8; i++) {
        pids[i] = fork_child();
        cr_assert_neq(pids[i], -1);
        if (pids[i] == 0) {
            close(go[1]);
            if (read(go[0], &c, 1) != 0) {
                _exit(100);
            }
            shm = bt_shm_open(path, &geo, err, sizeof(err));
            if (shm == NULL) {
                fprintf(stderr, "child: %s\n", err);
                _exit(101);
            }
            /* stay alive until everyone has claimed */
            i = bt_shm_claim(shm, getpid());
            usleep(300000);
            _exit(i < 0 ? 102 : i);
        }
    }
    close(go[0]);
    close(go[1]);       /* EOF releases them all */

    seen = 0;
    for (i = 0; i < 8; i++) {
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) < 8,
                  "child status %d", status);
        cr_assert_eq(seen & (1 << WEXITSTATUS(status)), 0, "slot given twice");
        seen |= 1 << WEXITSTATUS(status);
    }
    cr_assert_eq(seen, 0xff);

    files = 0;
    d = opendir(dir);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            files++;
            cr_assert_str_eq(de->d_name, "ring", "left behind: %s",
                             de->d_name);
        }
    }
    closedir(d);
    cr_assert_eq(files, 1);
}

/* Opening checks tail <= head <= tail + size while both move: the check
 * must never refuse a healthy segment that is in use. */
Test(ring, open_while_busy_is_not_refused, .timeout = 30)
{
    bt_shm_geometry_t  geo = { 1, 64 << 10 };
    bt_shm_t          *shm;
    pid_t              pid;
    int                status, i;

    shm = open_ring(1, 64 << 10);
    pid = fork_child();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        const uint8_t  *p;
        uint64_t        pos, t0, idx;
        uint32_t        len;

        if (bt_shm_claim(shm, getpid()) != 0) {
            _exit(2);
        }
        pos = 0;
        idx = 0;
        for (t0 = now_ns(); now_ns() - t0 < 500000000ull; ) {
            while (put(shm, 0, 1000 + (uint32_t) (idx % 5000), idx)) {
                idx++;
            }
            while (bt_ring_read(shm, 0, &pos, &p, &len) == 1) {
                /* the record is done with */
            }
            bt_ring_release(shm, 0, pos);
        }
        _exit(0);
    }

    for (i = 0; i < 300; i++) {
        bt_shm_t  *o = bt_shm_open(path, &geo, err, sizeof(err));

        cr_assert_not_null(o, "open %d: %s", i, err);
        bt_shm_close(o);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 0);
    cr_assert_gt(bt_ring_head(shm, 0), 64 << 10, "the ring did move");
    bt_shm_close(shm);
}

Test(ring, wait_sleeps_when_idle_without_cpu)
{
    const uint8_t  *p;
    bt_shm_t       *shm, *cons;
    uint64_t        t0, c0, ms, pos;
    uint32_t        len;

    shm = open_ring(2, 64 << 10);
    t0 = now_ns();
    c0 = cpu_ns();
    bt_shm_wait(shm, 300);
    ms = (now_ns() - t0) / 1000000;
    cr_assert_geq(ms, 280, "woke after %llu ms", (unsigned long long) ms);
    cr_assert_lt(ms, 1000, "woke after %llu ms", (unsigned long long) ms);
    cr_assert_lt(cpu_ns() - c0, 10000000ull, "cpu %llu ns while idle",
                 (unsigned long long) (cpu_ns() - c0));

    /* pending data: at once */
    cons = bt_shm_open(path, NULL, err, sizeof(err));
    cr_assert_eq(bt_shm_claim(shm, getpid()), 0);
    put(shm, 0, 100, 1);
    t0 = now_ns();
    bt_shm_wait(cons, 5000);
    cr_assert_lt(now_ns() - t0, 200000000ull, "pending data: waited %llu ns",
                 (unsigned long long) (now_ns() - t0));

    /* read but not released: no longer pending, sleeps again */
    pos = bt_ring_tail(cons, 0);
    cr_assert_eq(bt_ring_read(cons, 0, &pos, &p, &len), 1);
    t0 = now_ns();
    bt_shm_wait(cons, 200);
    cr_assert_geq(now_ns() - t0, 180000000ull, "held data kept it awake");

    /* a zero timeout only looks */
    t0 = now_ns();
    bt_shm_wait(cons, 0);
    cr_assert_lt(now_ns() - t0, 100000000ull);
    bt_shm_close(cons);
    bt_shm_close(shm);
}

Test(ring, wait_wakes_on_commit_from_another_process, .timeout = 30)
{
    bt_shm_t  *shm;
    uint64_t   t0, ms;
    pid_t      pid;
    int        status;

    shm = open_ring(4, 64 << 10);
    pid = fork_child();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        bt_shm_t  *c = bt_shm_open(path, NULL, err, sizeof(err));
        int        slot;

        if (c == NULL) {
            _exit(2);
        }
        slot = bt_shm_claim(c, getpid());
        usleep(200000);
        put(c, slot, 100, 1);
        _exit(0);
    }

    t0 = now_ns();
    bt_shm_wait(shm, 10000);
    ms = (now_ns() - t0) / 1000000;
    cr_assert_geq(ms, 150, "returned after %llu ms, before the commit",
                  (unsigned long long) ms);
    cr_assert_lt(ms, 2000, "returned after %llu ms", (unsigned long long) ms);
    cr_assert_eq(bt_ring_head(shm, 0), rec_bytes(100));
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 0);
    bt_shm_close(shm);
}

Test(ring, stats_are_shared_between_processes)
{
    bt_producer_stats_t  sum;
    bt_engine_stats_t   *es;
    bt_shm_t            *shm;
    pid_t                pid;
    int                  status, k;

    shm = open_ring(3, 64 << 10);
    for (k = 0; k < 2; k++) {
        pid = fork_child();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            bt_producer_stats_t  *ps;
            bt_shm_t             *c;
            int                   slot;

            c = bt_shm_open(path, NULL, err, sizeof(err));
            if (c == NULL || (slot = bt_shm_claim(c, getpid())) < 0) {
                _exit(2);
            }
            ps = bt_shm_producer_stats(c, slot);
            __atomic_fetch_add(&ps->requests, 5, __ATOMIC_RELAXED);
            __atomic_fetch_add(&ps->spans_accepted, 100 + slot,
                               __ATOMIC_RELAXED);
            __atomic_fetch_add(&ps->ring_full, 1, __ATOMIC_RELAXED);
            if (slot == 0) {
                __atomic_store_n(&bt_shm_engine_stats(c)->spans_consumed, 42,
                                 __ATOMIC_RELAXED);
            }
            _exit(0);
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert_eq(WEXITSTATUS(status), 0);
    }

    cr_assert_eq(bt_shm_producer_stats(shm, 0)->spans_accepted, 100);
    cr_assert_eq(bt_shm_producer_stats(shm, 1)->spans_accepted, 101);
    cr_assert_eq(bt_shm_producer_stats(shm, 2)->spans_accepted, 0);
    cr_assert_null(bt_shm_producer_stats(shm, 3));
    bt_shm_producer_totals(shm, &sum);
    cr_assert_eq(sum.requests, 10);
    cr_assert_eq(sum.spans_accepted, 201);
    cr_assert_eq(sum.ring_full, 2);
    cr_assert_eq(sum.spans_rejected, 0);

    es = bt_shm_engine_stats(shm);
    cr_assert_eq(es->spans_consumed, 42);
    /* the areas do not overlap the rings or each other */
    cr_assert_leq((uint8_t *) (es + 1),
                  (uint8_t *) bt_shm_producer_stats(shm, 0));
    bt_shm_close(shm);
}

Test(ring, crc32c_known_values_and_both_versions_agree)
{
    static uint8_t  buf[70000];
    uint64_t        s;
    size_t          i, off, len;

    cr_assert_eq(bt_crc32c("123456789", 9), 0xe3069283u);
    cr_assert_eq(bt_crc32c_sw("123456789", 9), 0xe3069283u);
    cr_assert_eq(bt_crc32c("", 0), 0);

    s = 1;
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t) lcg(&s);
    }
    for (i = 0; i < 2000; i++) {
        off = lcg(&s) % 64;
        len = i < 200 ? i * 29 : lcg(&s) % (sizeof(buf) - 64);
        cr_assert_eq(bt_crc32c(buf + off, len), bt_crc32c_sw(buf + off, len),
                     "offset %zu length %zu", off, len);
    }
}

/* Not a pass/fail test: prints what one producer and one consumer move
 * with 40 KB records (the ring's own cost plus filling the payload). */
Test(ring, throughput_40k_records, .timeout = 60)
{
    const uint8_t  *p;
    struct rusage   ru;
    bt_shm_t       *shm;
    uint64_t        pos, got, n, t0, c0, idx;
    uint32_t        len;
    double          s, cons_cpu, prod_cpu;
    pid_t           pid;
    int             status, rc;

    n = 50000;
    len = 40 << 10;
    shm = open_ring(1, 16 << 20);
    pid = fork_child();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        bt_shm_t  *c = bt_shm_open(path, NULL, err, sizeof(err));
        uint8_t   *w;

        if (c == NULL || bt_shm_claim(c, getpid()) != 0) {
            _exit(2);
        }
        for (idx = 0; idx < n; idx++) {
            while ((w = bt_ring_reserve(c, 0, len)) == NULL) {
                sched_yield();
            }
            memset(w, (int) idx, len);
            memcpy(w, &idx, 8);
            bt_ring_commit(c, 0, w, len);
        }
        _exit(0);
    }

    t0 = now_ns();
    c0 = thread_cpu_ns();
    pos = 0;
    got = 0;
    while (got < n) {
        rc = bt_ring_read(shm, 0, &pos, &p, &len);
        if (rc == 1) {
            memcpy(&idx, p, 8);
            cr_assert_eq(idx, got);
            got++;
            if (got % 32 == 0) {
                bt_ring_release(shm, 0, pos);
            }
            continue;
        }
        cr_assert_eq(rc, 0);
        cr_assert_lt(now_ns() - t0, 30000000000ull, "stuck at %llu",
                     (unsigned long long) got);
        bt_ring_release(shm, 0, pos);
        bt_shm_wait(shm, 100);
    }
    s = (double) (now_ns() - t0) / 1e9;
    cons_cpu = (double) (thread_cpu_ns() - c0) / 1e9;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 0);
    cr_assert_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    prod_cpu = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
               + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    /* wall-clock figures depend on what else the 2 cores run; the CPU
     * time per record does not */
    fprintf(stderr, "ring throughput: %llu records of 40 KiB in %.3f s: "
            "%.0f records/s, %.2f GB/s; CPU per record: producer %.2f us "
            "(with filling the payload), consumer %.2f us (%.0f records/s "
            "per consumer core)\n", (unsigned long long) n, s,
            (double) n / s, (double) n * len / s / 1e9,
            prod_cpu / (double) n * 1e6, cons_cpu / (double) n * 1e6,
            (double) n / cons_cpu);
    bt_shm_close(shm);
}
