/*
 * bt_ring_layout.h - the bytes of the shared segment.  Private to shm/
 * (and the ring's tests, which corrupt it on purpose).  Changing anything
 * here means bumping BT_SHM_VERSION in bt_ring.h.
 *
 *   offset 0            bt_shm_hdr_t      identity, geometry, wake word
 *   stats_off (4096)    bt_engine_stats_t, then nslots bt_producer_stats_t
 *   slots_off           nslots slots, slot_stride bytes apart:
 *                         bt_slot_ctl_t   owner, head, tail (one line each)
 *                         ...padding to BT_SHM_PAGE
 *                         slot_bytes of record data
 *
 * Everything is located by offsets from the start of the file, so each
 * process may map it at any address.  The read-only identity part of the
 * header and the wake word are on different cache lines: producers read
 * "sleeping" on every commit and the engine writes it only when it idles.
 *
 * Records are 8-byte aligned and never wrap:
 *
 *   bt_rec_hdr_t {magic, len, seq, crc, flags}, len payload bytes, pad to 8
 *
 * A record that does not fit before the end of the data area is preceded
 * by a padding record (magic BT_PAD_MAGIC, len = bytes to the end minus
 * the header) and starts at offset 0 of the next lap.  If fewer than
 * sizeof(bt_rec_hdr_t) bytes are left before the end, there is no room for
 * a padding header; both sides then skip those bytes without a marker.
 */

#ifndef BT_RING_LAYOUT_H
#define BT_RING_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/bt_ring.h"

#define BT_SHM_MAGIC        0x47525442u     /* "BTRG" */
#define BT_REC_MAGIC        0x31435242u     /* "BRC1" */
#define BT_PAD_MAGIC        0x31445042u     /* "BPD1" */

#define BT_SHM_PAGE         4096u
#define BT_CACHE_LINE       64
#define BT_REC_ALIGN        8u
#define BT_SHM_MAX_SLOTS    256u
#define BT_SHM_MIN_SLOT_BYTES  (64u << 10)
#define BT_SHM_MAX_SLOT_BYTES  (1ull << 40)

typedef struct {
    /* identity and geometry: written once before the file gets its name */
    uint32_t            magic;
    uint32_t            version;
    uint32_t            header_size;    /* sizeof(bt_shm_hdr_t) */
    uint32_t            nslots;
    uint64_t            slot_bytes;
    uint64_t            created_ms;     /* wall clock */
    uint64_t            total_bytes;    /* file size */
    uint64_t            stats_off;
    uint64_t            slots_off;
    uint64_t            slot_stride;
    uint64_t            data_off;       /* from a slot's start to its data */

    /*
     * The engine's doorbell (see bt_shm_wait): "sleeping" is set by the
     * engine before it re-checks the rings and waits; a producer that sees
     * it clears it and bumps "doorbell", the futex word.
     */
    alignas(BT_CACHE_LINE) _Atomic uint32_t  doorbell;
    _Atomic uint32_t    sleeping;
} bt_shm_hdr_t;

typedef struct {
    /* claimed by CAS 0 -> pid, reclaimed by CAS dead pid -> pid */
    alignas(BT_CACHE_LINE) _Atomic uint32_t  owner;
    uint32_t            reserved0;
    _Atomic uint64_t    claims;         /* times this slot was claimed */

    /* written by the owner only: end of the last committed record */
    alignas(BT_CACHE_LINE) _Atomic uint64_t  head;

    /* written by the engine only: everything before tail may be reused */
    alignas(BT_CACHE_LINE) _Atomic uint64_t  tail;
} bt_slot_ctl_t;

typedef struct {
    uint32_t            magic;          /* BT_REC_MAGIC or BT_PAD_MAGIC */
    uint32_t            len;            /* payload bytes, before padding */
    uint64_t            seq;            /* position of this header */
    uint32_t            crc;            /* CRC32C of the payload; 0 for pad */
    uint32_t            flags;          /* 0 */
} bt_rec_hdr_t;

#define BT_REC_HDR          ((uint64_t) sizeof(bt_rec_hdr_t))

_Static_assert(sizeof(bt_rec_hdr_t) == 24, "record header is 24 bytes");
_Static_assert(sizeof(bt_rec_hdr_t) % BT_REC_ALIGN == 0, "aligned header");
_Static_assert(sizeof(bt_shm_hdr_t) <= BT_SHM_PAGE, "header fits a page");
_Static_assert(sizeof(bt_slot_ctl_t) <= BT_SHM_PAGE, "control fits a page");
_Static_assert(offsetof(bt_slot_ctl_t, tail) - offsetof(bt_slot_ctl_t, head)
               >= BT_CACHE_LINE, "head and tail on separate lines");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "shared-memory atomics must be lock-free");

#endif /* BT_RING_LAYOUT_H */
