/* Dropout kernels over Philox4x32-10, compiled once per ISA.  Tiles of GK_TILE
 * elements (a multiple of 8, so a tile owns whole mask bytes) are fixed by the element
 * index and threads take whole tiles: the output never depends on the thread count. */
#include "gk_internal.h"
#include "philox_bulk.h"
#include "dropout_kernels.h"

#define GK_TILE ((gk_index)4096)

static inline gk_index tile_len(gk_index t, gk_index n)
{
    gk_index e0 = t * GK_TILE;
    return n - e0 < GK_TILE ? n - e0 : GK_TILE;
}

#define GK_TILE_LOOP(n) \
    gk_index ntile = ((n) + GK_TILE - 1) / GK_TILE; \
    int nt = gk_threads_for(n); \
    _Pragma("omp parallel for num_threads(nt) schedule(static) if(nt > 1)") \
    for (gk_index t = 0; t < ntile; ++t)

/* keep flags (0/1 bytes) -> bits, element j in bit j % 8 of byte j / 8 */
GK_INLINE void gk_pack_bits(const unsigned char *GK_RESTRICT keep,
                            unsigned char *GK_RESTRICT bits, gk_index len)
{
    gk_index full = len / 8;
    for (gk_index b = 0; b < full; ++b) {
        const unsigned char *k = keep + 8 * b;
        bits[b] = (unsigned char)(k[0] | (k[1] << 1) | (k[2] << 2) | (k[3] << 3) |
                                  (k[4] << 4) | (k[5] << 5) | (k[6] << 6) | (k[7] << 7));
    }
    if (len % 8) {
        unsigned v = 0;
        for (gk_index j = 8 * full; j < len; ++j)
            v |= (unsigned)keep[j] << (j % 8);
        bits[full] = (unsigned char)v;
    }
}

#define T float
#define SFX f32
#include "dropout_tmpl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "dropout_tmpl.h"
#undef T
#undef SFX

const gk_dropout_table GK_ISA_SYM(gk_dropout_table) = {
    .fwd_f32 = dropout_fwd_f32,
    .bwd_f32 = dropout_bwd_f32,
    .fwd_f64 = dropout_fwd_f64,
    .bwd_f64 = dropout_bwd_f64,
};
