/*
 * fuzz_otlp_proto.c - the protobuf walker against protobuf-c.
 *
 * Every input is scanned and written under three limit sets and compared
 * with the reference flattener (t/lib/otlp_ref.c): same decision, same
 * counts, byte-identical batches.  Any disagreement aborts, as does any
 * memory error under ASan.  The write goes into an exact-size buffer, so a
 * byte written past batch_len is caught.
 *
 * The reference is included rather than linked so the replay build (see
 * the Makefile) needs no test helpers.
 */

#include <stdio.h>
#include <stdlib.h>

#include "t/lib/otlp_ref.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bt_otlp_limits_t  lims[] = {
        { 10000, 128, 65536, 8 },
        { 3, 2, 4, 2 },
        { 100000, 100000, 1u << 30, 64 }
    };
    char    why[512];
    size_t  k;

    for (k = 0; k < sizeof(lims) / sizeof(lims[0]); k++) {
        if (otlp_ref_compare(data, size, &lims[k], why, sizeof(why)) != 0) {
            fprintf(stderr, "fuzz_otlp_proto: limits %zu: %s\n", k, why);
            abort();
        }
    }

    return 0;
}
