/* Dropout kernels for element type T (included by dropout.c once per dtype).
 * One pass: the words of 64 elements, drawn just before they are used (so the Philox
 * rounds overlap the loads and stores of the elements around them) -> keep lanes -> y
 * and the packed bits (dropout_span_tmpl.h). */

static void GK_T(dropout_fwd)(const T *x, T *y, unsigned char *bits, gk_index n, T scale,
                              uint32_t keep_max, int none, uint32_t k0, uint32_t k1,
                              uint64_t w0)
{
    const int nt = drop_stream((size_t)n * sizeof(T), y, x);
    GK_TILE_LOOP(n, GK_TILE, t) {
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        if (none) {
            GK_T(dropout_span)(x + e0, NULL, y + e0, NULL, bits ? bits + e0 / 8 : NULL, len,
                               scale, keep_max, none);
            continue;
        }
        gk_dropout_words src;
        gk_dropout_words_init(&src, k0, k1, w0 + (uint64_t)e0);
        for (gk_index c = 0; c < len; c += GK_DROPOUT_CHUNK) {
            const uint32_t *ws = gk_dropout_words_next(&src);
            gk_index cl = len - c < GK_DROPOUT_CHUNK ? len - c : GK_DROPOUT_CHUNK;
            GK_T(dropout_span_st)(x + e0 + c, NULL, y + e0 + c, ws,
                                  bits ? bits + (e0 + c) / 8 : NULL, cl, scale, keep_max, 0,
                                  nt);
        }
        if (nt)
            gk_sfence();
    }
}

static void GK_T(dropout_bwd)(const T *dy, const unsigned char *bits, T *dx, gk_index n,
                              T scale)
{
    const int nt = drop_stream((size_t)n * sizeof(T), dx, dy);
    GK_TILE_LOOP(n, GK_TILE, t) {
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        GK_T(dropout_bits_span_st)(dy + e0, bits + e0 / 8, dx + e0, len, scale, nt);
        if (nt)
            gk_sfence();
    }
}
