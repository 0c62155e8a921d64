/*
 * sha1.h - SHA-1 of a short byte string, for signal ids (first 16 hex
 * digits of SHA-1(rule id ":" trace id), docs/internals.md).  Not for
 * security: only a stable, well-known hash that the module, the tests and
 * any script can recompute.
 */

#ifndef BT_SHA1_H
#define BT_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* The 20-byte digest of data[0 .. len).  This function can't fail. */
void bt_sha1(const void *data, size_t len, uint8_t out[20]);

#endif /* BT_SHA1_H */
