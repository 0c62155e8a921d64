/*
 * fuzz_otlp_json.c - OTLP/JSON conversion.
 *
 * Any input either fails with a message or converts; a converted body must
 * be well-formed protobuf for the walker (the converter bounds AnyValue
 * nesting, so it never produces what the walker calls malformed), the
 * walker and the protobuf-c reference must agree on it, and the streaming
 * reader must agree with the old jansson + protobuf-c converter
 * (t/lib/otlp_json_ref.c): same decision, same batches after the walker.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/otlp_json.h"
#include "t/lib/otlp_ref.c"
#include "t/lib/otlp_json_ref.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bt_otlp_limits_t  lim = { 10000, 128, 65536, 8 };
    uint8_t         *pb;
    size_t           pb_len;
    char             err[256], why[512];
    bt_otlp_scan_t   scan;

    if (otlp_json_ref_compare((const char *) data, size, &lim, why,
                              sizeof(why)) != 0)
    {
        fprintf(stderr, "fuzz_otlp_json: streaming vs reference: %s\n", why);
        abort();
    }

    err[0] = '\0';
    if (bt_otlp_json_to_pb((const char *) data, size, &pb, &pb_len, err,
                           sizeof(err)) != 0)
    {
        if (pb != NULL || err[0] == '\0') {
            fprintf(stderr, "fuzz_otlp_json: failure without a message "
                    "or with a body\n");
            abort();
        }
        return 0;
    }

    if (bt_otlp_scan(pb, pb_len, &lim, &scan) == BT_OTLP_MALFORMED) {
        fprintf(stderr, "fuzz_otlp_json: converted body is malformed: %s\n",
                scan.message);
        abort();
    }

    if (otlp_ref_compare(pb, pb_len, &lim, why, sizeof(why)) != 0) {
        fprintf(stderr, "fuzz_otlp_json: %s\n", why);
        abort();
    }

    free(pb);
    return 0;
}
