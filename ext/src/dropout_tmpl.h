/* Dropout kernels for element type T (included by dropout.c once per dtype).
 * One pass: words of a tile -> keep flags -> y and the packed bits. */

static void GK_T(dropout_fwd)(const T *x, T *y, unsigned char *bits, gk_index n, T scale,
                              uint32_t keep_max, int none, uint32_t k0, uint32_t k1,
                              uint64_t w0)
{
    GK_TILE_LOOP(n, GK_TILE, t) {
        uint32_t buf[GK_STREAM_BUF(GK_TILE)];
        unsigned char keep[GK_TILE];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const T *xt = x + e0;
        T *yt = y + e0;
        if (none) {
            for (gk_index j = 0; j < len; ++j)
                yt[j] = xt[j] * (T)0;
            if (bits)
                memset(bits + e0 / 8, 0, (size_t)((len + 7) / 8));
            continue;
        }
        const uint32_t *GK_RESTRICT ws = gk_stream_words(k0, k1, w0 + (uint64_t)e0, len, buf);
#if defined(__AVX2__)
        {   /* the compare's sign bits are the mask byte: no keep array */
            gk_index full = len / 8;
            unsigned char *bt = bits ? bits + e0 / 8 : NULL;
            GK_T(dropout_avx2)(xt, yt, ws, bt, full, scale, keep_max);
            if (len % 8 == 0)
                continue;
            for (gk_index j = 8 * full; j < len; ++j)
                keep[j] = (unsigned char)(ws[j] <= keep_max);
            for (gk_index j = 8 * full; j < len; ++j)
                yt[j] = xt[j] * (keep[j] ? scale : (T)0);
            if (bt)
                gk_pack_bits(keep + 8 * full, bt + full, len - 8 * full);
            continue;
        }
#endif
        for (gk_index j = 0; j < len; ++j) {
            int k = ws[j] <= keep_max;
            keep[j] = (unsigned char)k;
            yt[j] = xt[j] * (k ? scale : (T)0);
        }
        if (bits)
            gk_pack_bits(keep, bits + e0 / 8, len);
    }
}

static void GK_T(dropout_bwd)(const T *dy, const unsigned char *bits, T *dx, gk_index n,
                              T scale)
{
    GK_TILE_LOOP(n, GK_TILE, t) {
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const unsigned char *bt = bits + e0 / 8;
        const T *dyt = dy + e0;
        T *dxt = dx + e0;
        gk_index full = len / 8;
        for (gk_index b = 0; b < full; ++b) {
            unsigned v = bt[b];
            for (int k = 0; k < 8; ++k)
                dxt[8 * b + k] = dyt[8 * b + k] * (((v >> k) & 1u) ? scale : (T)0);
        }
        for (gk_index j = 8 * full; j < len; ++j)
            dxt[j] = dyt[j] * (((bt[j / 8] >> (j % 8)) & 1u) ? scale : (T)0);
    }
}
