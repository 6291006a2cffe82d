/* Hashing and randomness for every module, over libsodium (which only
 * common/ includes). */
#include "common.h"

#include <sodium.h>

_Static_assert(sizeof(crypto_generichash_state) <=
                   sizeof(((rz_hash_state *)0)->opaque),
               "rz_hash_state must hold libsodium's BLAKE2b state");

int rz_crypto_init(void)
{
    return sodium_init() < 0 ? RZ_EIO : 0;
}

void rz_hash(const void *p, size_t n, uint8_t *out, size_t out_bytes)
{
    int rv;
    RZ_PRE(p != NULL || n == 0);
    RZ_PRE(out_bytes >= crypto_generichash_BYTES_MIN &&
           out_bytes <= crypto_generichash_BYTES_MAX);
    rv = crypto_generichash(out, out_bytes, p, n, NULL, 0);
    RZ_ASSERT(rv == 0);
}

void rz_hash_init(rz_hash_state *st, size_t out_bytes)
{
    int rv;
    RZ_PRE(out_bytes >= crypto_generichash_BYTES_MIN &&
           out_bytes <= crypto_generichash_BYTES_MAX);
    rv = crypto_generichash_init((crypto_generichash_state *)st->opaque, NULL,
                                 0, out_bytes);
    RZ_ASSERT(rv == 0);
}

void rz_hash_update(rz_hash_state *st, const void *p, size_t n)
{
    int rv;
    RZ_PRE(p != NULL || n == 0);
    rv =
        crypto_generichash_update((crypto_generichash_state *)st->opaque, p, n);
    RZ_ASSERT(rv == 0);
}

void rz_hash_final(rz_hash_state *st, uint8_t *out, size_t out_bytes)
{
    int rv = crypto_generichash_final((crypto_generichash_state *)st->opaque,
                                      out, out_bytes);
    RZ_ASSERT(rv == 0);
}

uint64_t rz_hash64(const void *p, size_t n)
{
    uint8_t out[16];
    rz_hash(p, n, out, sizeof(out));
    return rz_get_be64(out);
}

void rz_random_bytes(void *p, size_t n)
{
    randombytes_buf(p, n);
}

uint32_t rz_random_uniform(uint32_t upper)
{
    RZ_PRE(upper > 0);
    return randombytes_uniform(upper);
}
