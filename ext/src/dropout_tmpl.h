/* Dropout kernels for element type T (included by dropout.c once per dtype).
 * One pass: words of a tile -> keep flags -> y and the packed bits. */

static void GK_T(dropout_fwd)(const T *x, T *y, unsigned char *bits, gk_index n, T scale,
                              uint32_t keep_max, int none, uint32_t k0, uint32_t k1,
                              uint64_t w0)
{
    GK_TILE_LOOP(n, GK_TILE, t) {
        uint32_t buf[GK_STREAM_BUF(GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const uint32_t *ws = none ? NULL : gk_stream_words(k0, k1, w0 + (uint64_t)e0, len, buf);
        GK_T(dropout_span)(x + e0, NULL, y + e0, ws, bits ? bits + e0 / 8 : NULL, len, scale,
                           keep_max, none);
    }
}

static void GK_T(dropout_bwd)(const T *dy, const unsigned char *bits, T *dx, gk_index n,
                              T scale)
{
    GK_TILE_LOOP(n, GK_TILE, t) {
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        GK_T(dropout_bits_span)(dy + e0, bits + e0 / 8, dx + e0, len, scale);
    }
}
