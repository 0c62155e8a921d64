/*
 * bt_crc32c.h - CRC32C (Castagnoli), the checksum of ring records.
 *
 * Why CRC32C and not a cheaper sum: x86-64 has an instruction for it
 * (SSE4.2 crc32), so it costs well under a microsecond per 40 KB record
 * while catching every burst error a scribble or a torn copy produces.
 * Private to shm/; the tests include it to compare the two versions.
 */

#ifndef BT_CRC32C_H
#define BT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Returns the CRC32C of len bytes at p (initial value ~0, final xor ~0, so
 * "123456789" gives 0xe3069283).  Uses the SSE4.2 instruction when the CPU
 * has it, a table otherwise.  This function can't fail.
 */
uint32_t bt_crc32c(const void *p, size_t len);

/* The table version alone, for tests and CPUs without SSE4.2. */
uint32_t bt_crc32c_sw(const void *p, size_t len);

#endif /* BT_CRC32C_H */
