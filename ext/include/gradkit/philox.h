/*
 * Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw,
 * "Parallel random numbers: as easy as 1, 2, 3" (SC'11), header-only and portable C.
 *
 * A block maps a 128-bit counter (c0, c1, c2, c3) and a 64-bit key (k0, k1) to four
 * 32-bit words through ten rounds of
 *     (c0, c1, c2, c3) <- (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0))
 * with the key bumped by the Weyl constants (W0, W1) after every round but the last.
 * It reproduces the Random123 known-answer vectors (tests/test_random.py).
 *
 * gradkit's stream of 32-bit words.  A generator is a key, (k0, k1) = (seed mod 2**32,
 * seed >> 32), and a 64-bit position `w` in an endless stream of 32-bit words: word w
 * is word (w % 4) of the block with counter (lo32(w / 4), hi32(w / 4), 0, 0).  Every
 * gradkit kernel reads word `counter + j` for the j-th word it needs, so its output
 * depends on (seed, counter, element index) only -- never on threads or chunking.
 * Counters with c2 != 0 are outside that stream; gradkit uses c2 = t (t = 1, 2, ...)
 * for the t-th retry of a rejected integer draw, and c3 = 0x5350574e ("SPWN") to
 * derive the keys of spawned generators.
 */
#ifndef GRADKIT_PHILOX_H
#define GRADKIT_PHILOX_H

#include <stdint.h>

#define GK_PHILOX_M0 0xD2511F53u
#define GK_PHILOX_M1 0xCD9E8D57u
#define GK_PHILOX_W0 0x9E3779B9u
#define GK_PHILOX_W1 0xBB67AE85u
#define GK_PHILOX_ROUNDS 10

#ifdef __cplusplus
extern "C" {
#endif

/* One Philox4x32-10 block: out = philox(ctr, key).  out may alias ctr. */
static inline void gk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                                    uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < GK_PHILOX_ROUNDS; ++r) {
        uint64_t p0 = (uint64_t)GK_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)GK_PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += GK_PHILOX_W0;
        k1 += GK_PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The key of a 64-bit seed. */
static inline void gk_philox_key(uint64_t seed, uint32_t key[2])
{
    key[0] = (uint32_t)seed;
    key[1] = (uint32_t)(seed >> 32);
}

/* Word w of gradkit's stream for `seed` (see above); one block per call, so use it for
 * a few words -- the kernels generate whole runs of blocks at once. */
static inline uint32_t gk_philox_word(uint64_t seed, uint64_t w)
{
    uint32_t key[2], ctr[4], out[4];
    gk_philox_key(seed, key);
    ctr[0] = (uint32_t)(w >> 2);
    ctr[1] = (uint32_t)(w >> 34);
    ctr[2] = 0;
    ctr[3] = 0;
    gk_philox4x32_10(ctr, key, out);
    return out[w & 3];
}

#ifdef __cplusplus
}
#endif
#endif
