/*
 * bt_crc32c.c - CRC32C with the SSE4.2 instruction and a table fallback.
 *
 * The hardware path runs three independent crc32 streams over three
 * thirds of each 3 KiB block: the instruction has a latency of 3 cycles
 * and a throughput of 1, so one stream leaves two thirds of the unit idle.
 * The three partial CRCs are merged with the "shift by N zero bytes"
 * operator (a GF(2) matrix power, precomputed once for the block size),
 * which is what Intel's white paper and the Linux kernel do.
 */

#include <stdint.h>
#include <string.h>

#include "shm/bt_crc32c.h"

#define BT_CRC32C_POLY   0x82f63b78u    /* reflected Castagnoli */
#define BT_CRC_LANE      1024u          /* bytes per stream per block */

static uint32_t  bt_crc_table[256];
static uint32_t  bt_crc_shift[4][256];  /* x * 2^(8*LANE*8) for lane merge */

/* set once, by the first caller; every caller computes the same values */
static volatile int  bt_crc_ready;

static void bt_crc_init(void);
static uint32_t bt_crc_sw_update(uint32_t crc, const uint8_t *p, size_t len);
static uint32_t bt_gf2_times(const uint32_t *mat, uint32_t vec);
static void bt_gf2_square(uint32_t *square, const uint32_t *mat);
static uint32_t bt_crc_shift_lane(uint32_t crc);


static uint32_t
bt_gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t  sum;

    sum = 0;
    while (vec) {
        if (vec & 1) {
            sum ^= *mat;
        }
        vec >>= 1;
        mat++;
    }

    return sum;
}


static void
bt_gf2_square(uint32_t *square, const uint32_t *mat)
{
    int  n;

    for (n = 0; n < 32; n++) {
        square[n] = bt_gf2_times(mat, mat[n]);
    }
}


/*
 * Builds the byte table and the tables that advance a CRC over LANE zero
 * bytes (so crc(A || B) = shift(crc(A)) ^ crc(B) with B's CRC started at
 * 0).  Idempotent: racing first callers write the same values.
 */
static void
bt_crc_init(void)
{
    uint32_t  c, odd[32], even[32], op[32];
    uint32_t  row;
    int       i, j, k;
    size_t    n;

    for (i = 0; i < 256; i++) {
        c = (uint32_t) i;
        for (j = 0; j < 8; j++) {
            c = (c & 1) ? (c >> 1) ^ BT_CRC32C_POLY : c >> 1;
        }
        bt_crc_table[i] = c;
    }

    /* operator for one zero bit, then square up to LANE bytes (zlib's
     * crc32_combine, but we keep the matrix instead of applying it) */
    odd[0] = BT_CRC32C_POLY;
    row = 1;
    for (n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    bt_gf2_square(even, odd);       /* 2 zero bits */
    bt_gf2_square(odd, even);       /* 4 zero bits */
    bt_gf2_square(even, odd);       /* 1 zero byte */

    /* even = 1 byte; square log2(LANE) times */
    memcpy(op, even, sizeof(op));
    for (n = 1; n < BT_CRC_LANE; n <<= 1) {
        bt_gf2_square(odd, op);
        memcpy(op, odd, sizeof(op));
    }

    for (k = 0; k < 4; k++) {
        for (i = 0; i < 256; i++) {
            bt_crc_shift[k][i] = bt_gf2_times(op, (uint32_t) i << (8 * k));
        }
    }

    __atomic_store_n(&bt_crc_ready, 1, __ATOMIC_RELEASE);
}


static uint32_t
bt_crc_shift_lane(uint32_t crc)
{
    return bt_crc_shift[0][crc & 0xff] ^ bt_crc_shift[1][(crc >> 8) & 0xff]
           ^ bt_crc_shift[2][(crc >> 16) & 0xff] ^ bt_crc_shift[3][crc >> 24];
}


static uint32_t
bt_crc_sw_update(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len--) {
        crc = bt_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }

    return crc;
}


uint32_t
bt_crc32c_sw(const void *p, size_t len)
{
    if (!__atomic_load_n(&bt_crc_ready, __ATOMIC_ACQUIRE)) {
        bt_crc_init();
    }

    return ~bt_crc_sw_update(~0u, p, len);
}


__attribute__((target("sse4.2")))
static uint32_t
bt_crc_hw_update(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t  c0, c1, c2, w0, w1, w2;
    size_t    i;

    while (len && ((uintptr_t) p & 7)) {
        crc = __builtin_ia32_crc32qi(crc, *p++);
        len--;
    }

    /* three interleaved streams per 3 * LANE block */
    while (len >= 3 * BT_CRC_LANE) {
        c0 = crc;
        c1 = 0;
        c2 = 0;
        for (i = 0; i < BT_CRC_LANE; i += 8) {
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p + BT_CRC_LANE + i, 8);
            memcpy(&w2, p + 2 * BT_CRC_LANE + i, 8);
            c0 = __builtin_ia32_crc32di(c0, w0);
            c1 = __builtin_ia32_crc32di(c1, w1);
            c2 = __builtin_ia32_crc32di(c2, w2);
        }
        crc = bt_crc_shift_lane((uint32_t) c0) ^ (uint32_t) c1;
        crc = bt_crc_shift_lane(crc) ^ (uint32_t) c2;
        p += 3 * BT_CRC_LANE;
        len -= 3 * BT_CRC_LANE;
    }

    c0 = crc;
    while (len >= 8) {
        memcpy(&w0, p, 8);
        c0 = __builtin_ia32_crc32di(c0, w0);
        p += 8;
        len -= 8;
    }
    crc = (uint32_t) c0;

    while (len--) {
        crc = __builtin_ia32_crc32qi(crc, *p++);
    }

    return crc;
}


uint32_t
bt_crc32c(const void *p, size_t len)
{
    if (!__atomic_load_n(&bt_crc_ready, __ATOMIC_ACQUIRE)) {
        bt_crc_init();
    }

    if (__builtin_cpu_supports("sse4.2")) {
        return ~bt_crc_hw_update(~0u, p, len);
    }

    return ~bt_crc_sw_update(~0u, p, len);
}
