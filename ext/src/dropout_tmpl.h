/* Dropout kernels for element type T (included by dropout.c once per dtype).
 * One pass: the words of 64 elements -> keep lanes -> y and the packed bits. */

static void GK_T(dropout_fwd)(const T *x, T *y, unsigned char *bits, gk_index n, T scale,
                              uint32_t keep_max, int none, uint32_t k0, uint32_t k1,
                              uint64_t w0)
{
#if defined(__AVX2__)
    const int nt = drop_stream((size_t)n * sizeof(T), y, x);
#endif
    GK_TILE_LOOP(n, GK_TILE, t) {
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
        gk_dropout_words wsrc;
        gk_dropout_words_init(&wsrc, k0, k1, w0 + (uint64_t)e0);
        for (gk_index c0 = 0; c0 < len; c0 += GK_DROPOUT_CHUNK) {
            const uint32_t *GK_RESTRICT ws = gk_dropout_words_next(&wsrc);
            gk_index cl = len - c0 < GK_DROPOUT_CHUNK ? len - c0 : GK_DROPOUT_CHUNK;
            const T *xc = xt + c0;
            T *yc = yt + c0;
            unsigned char *bc = bits ? bits + (e0 + c0) / 8 : NULL;
            gk_index j0 = 0;
#if defined(__AVX2__)
            {   /* the compare's sign bits are the mask byte */
                const __m256i km = _mm256_set1_epi32((int)keep_max);
                const __auto_type sc = GK_CAT(GK_VSCALE_, SFX)(scale);
                gk_index full = cl / 8;
                for (gk_index g = 0; g < full; ++g) {
                    __m256i k = gk_dropout_keep8(ws + 8 * g, km);
                    if (bc)
                        bc[g] = (unsigned char)_mm256_movemask_ps(_mm256_castsi256_ps(k));
                    GK_T(apply8)(xc + 8 * g, yc + 8 * g, k, sc, nt);
                }
                j0 = 8 * full;
            }
#endif
            for (gk_index g = j0 / 8; g < cl / 8; ++g) {
                unsigned v = gk_dropout_byte(ws + 8 * g, keep_max);
                if (bc)
                    bc[g] = (unsigned char)v;
                for (int k = 0; k < 8; ++k)
                    yc[8 * g + k] = xc[8 * g + k] * (((v >> k) & 1u) ? scale : (T)0);
            }
            if (cl % 8) {   /* the last elements of the call */
                unsigned v = 0;
                for (gk_index j = cl / 8 * 8; j < cl; ++j) {
                    int k = ws[j] <= keep_max;
                    v |= (unsigned)k << (j % 8);
                    yc[j] = xc[j] * (k ? scale : (T)0);
                }
                if (bc)
                    bc[cl / 8] = (unsigned char)v;
            }
        }
#if defined(__AVX2__)
        if (nt)
            gk_sfence();
#endif
    }
}

static void GK_T(dropout_bwd)(const T *dy, const unsigned char *bits, T *dx, gk_index n,
                              T scale)
{
#if defined(__AVX2__)
    const int nt = drop_stream((size_t)n * sizeof(T), dx, dy);
#endif
    GK_TILE_LOOP(n, GK_TILE, t) {
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const unsigned char *bt = bits + e0 / 8;
        const T *dyt = dy + e0;
        T *dxt = dx + e0;
        gk_index full = len / 8, b0 = 0;
#if defined(__AVX2__)
        {
            const __auto_type sc = GK_CAT(GK_VSCALE_, SFX)(scale);
            for (gk_index b = 0; b < full; ++b)
                GK_T(apply8)(dyt + 8 * b, dxt + 8 * b, gk_dropout_bits8(bt[b]), sc, nt);
            if (nt)
                gk_sfence();
            b0 = full;
        }
#endif
        for (gk_index b = b0; b < full; ++b) {
            unsigned v = bt[b];
            for (int k = 0; k < 8; ++k)
                dxt[8 * b + k] = dyt[8 * b + k] * (((v >> k) & 1u) ? scale : (T)0);
        }
        for (gk_index j = 8 * full; j < len; ++j)
            dxt[j] = dyt[j] * (((bt[j / 8] >> (j % 8)) & 1u) ? scale : (T)0);
    }
}
