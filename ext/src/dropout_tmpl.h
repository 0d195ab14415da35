/* Dropout kernels for element type T (included by dropout.c once per dtype, and by
 * dropout_half.c for 16-bit storage: data arrays TS, arithmetic T = float).
 * One pass: the words of a Philox group's elements, drawn just before they are used
 * (so the rounds overlap the loads and stores of the elements around them) -> keep -> y
 * and the packed bits (the span functions of dropout_span_tmpl.h, or of
 * dropout_span_half_tmpl.h for 16-bit storage). */

/* whether an output of n elements at y, computed from x, is streamed (nt stores) */
#if GK_HALF
#define GK_DROP_NT(n, y, x, own_align) drop_stream_half((size_t)(n) * sizeof(TS), y, x)
#else
#define GK_DROP_NT(n, y, x, own_align) drop_stream((size_t)(n) * sizeof(TS), y, x, own_align)
#endif

/* Past the cache (x and y together at least the streaming size) the forward prefetches
 * each chunk's x, and its y for writing unless y is streamed, GK_DROP_PF_AHEAD bytes
 * ahead: the Philox rounds between the chunks' loads left too few lines in flight.
 * 8192x1024 float32 from memory, 2 threads, Intel Xeon guest: 2.52-2.57 -> 2.34-2.43
 * ms with the mask, 2.41-2.58 -> 2.14-2.20 ms seed only (old and new builds in
 * alternation; prefetching x alone gained half as much); in L3 the same 2.0-2.2 ms,
 * bound by the rounds.  Speed only: no bit depends on it. */
#ifndef GK_DROP_PF_AHEAD
#define GK_DROP_PF_AHEAD 4096
#endif

/* prefetch the lines GK_DROP_PF_AHEAD bytes past x[0, len) (may pass the end: no
 * fault), and past y[0, len) for writing unless y is streamed */
GK_INLINE void GK_T(drop_prefetch)(const TS *x, const TS *y, gk_index len, int nt)
{
    const char *px = (const char *)x + GK_DROP_PF_AHEAD;
    const char *py = (const char *)y + GK_DROP_PF_AHEAD;
    for (size_t q = 0; q < (size_t)len * sizeof(TS); q += 64) {
        __builtin_prefetch(px + q, 0, 3);
        if (!nt)
            __builtin_prefetch(py + q, 1, 3);
    }
}

/* the backwards' pieces of a tile, each prefetched ahead (a multiple of 8: whole mask
 * bytes).  From memory the backward from the mask took 2.5 ms on 8192x1024 float32
 * without, 2.05 with, against a 1.6 ms limit (Intel Xeon guest, 2 threads, streamed). */
#define GK_DROP_BWD_PIECE ((gk_index)512)

/* a streamed output not aligned to a line, on AVX-512: its lines from the chunk buffer's
 * by one permute each (gk_nt_shift) rather than the byte copies of gk_nt_run (a call of
 * glibc's memcpy for every part's ends, loads across lines).  8192x1024 float32 from
 * memory, 2 threads, AMD EPYC (Zen 5) guest, interleaved in one process: into an output
 * 16, 32 or 48 bytes past a line 1.73-1.97 ms -> 1.13-1.14 ms seed only (aligned:
 * 1.04), the seed-only backward into NumPy's out= 1.55-1.66 -> 1.19 ms; float32 whole
 * chunks then pushed from the registers (drop_shift_chunk), the same as aligned (1.21-
 * 1.36 ms against 1.26-1.34 in that later, slower-memory run).  y must be aligned to 2
 * bytes (it is: to its elements) */
#ifndef GK_DROP_SHIFT
#if defined(__AVX512BW__)
#define GK_DROP_SHIFT 1
#else
#define GK_DROP_SHIFT 0
#endif
#endif

#if GK_DROP_SHIFT && !GK_HALF
/* float32: a whole chunk's 16-element steps (dropout_span_st's operations), each vector
 * pushed into the shifted stream from its register: no chunk buffer to store and load
 * again (in the forward from Philox, which is bound by its arithmetic, that round trip
 * cost 10%) */
GK_INLINE void GK_T(drop_shift_chunk)(const T *xt, const uint32_t *ws, unsigned char *bits,
                                      T scale, uint32_t keep_max, gk_nt_shift *run)
{
    const __m512i km = _mm512_set1_epi32((int)keep_max);
    const __m512 sc = _mm512_set1_ps((float)scale);
    const float *x = (const float *)(const void *)xt;
    for (gk_index o = 0; o < GK_DROPOUT_CHUNK; o += 16) {
        const __mmask16 k = _mm512_cmple_epu32_mask(_mm512_loadu_si512(ws + o), km);
        const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + o), _mm512_maskz_mov_ps(k, sc));
        gk_nt_shift_push(run, _mm512_castps_si512(v));
        if (bits) {
            const uint16_t kb = (uint16_t)k;
            __builtin_memcpy(bits + o / 8, &kb, sizeof kb);
        }
    }
}
#endif

static void GK_T(dropout_fwd)(const TS *x, TS *y, unsigned char *bits, gk_index n,
                              T scale, uint32_t keep_max, int none, uint32_t k0,
                              uint32_t k1, uint64_t w0)
{
    const int nt = GK_DROP_NT(n, y, x, 0);
    /* an output to stream that the vector stores cannot (not aligned for them: NumPy
     * puts large arrays 16 bytes past a line): each chunk into an L1 buffer, streamed
     * from there by whole lines (gk_nt_run).  8192x1024 float32 from memory into such
     * an out=, 2 threads, AMD EPYC (Zen 5) guest: from the seed 1.76 -> 1.52 ms, the
     * seed-only backward 1.75 -> 1.43 (into the output cache's aligned array: 1.39,
     * 1.35) */
    const int nt_run = !nt && gk_stream_output((size_t)n * sizeof(TS), y, x, NULL);
    const int pf = 2 * (size_t)n * sizeof(TS) >= gk_get_stream_min_bytes();
    GK_TILE_LOOP(n, GK_TILE, t, nt || nt_run) {
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        if (none) {
            GK_T(dropout_span_st)(x + e0, NULL, y + e0, NULL, bits ? bits + e0 / 8 : NULL,
                                  len, scale, keep_max, none, 0);
            continue;
        }
        gk_dropout_words src;
        gk_dropout_words_init(&src, k0, k1, w0 + (uint64_t)e0);
        TS cbuf[GK_DROPOUT_CHUNK] __attribute__((aligned(64)));
#if GK_DROP_SHIFT
        gk_nt_shift run;
        if (nt_run) gk_nt_shift_begin(&run, y + e0);
#else
        gk_nt_run run = {{0}, NULL, 0};
#endif
        for (gk_index c = 0; c < len; c += GK_DROPOUT_CHUNK) {
            if (pf)
                GK_T(drop_prefetch)(x + e0 + c, y + e0 + c, GK_DROPOUT_CHUNK, nt || nt_run);
            const uint32_t *ws = gk_dropout_words_next(&src);
            gk_index cl = len - c < GK_DROPOUT_CHUNK ? len - c : GK_DROPOUT_CHUNK;
#if GK_DROP_SHIFT && !GK_HALF
            if (nt_run && sizeof(T) == sizeof(float) && cl == GK_DROPOUT_CHUNK
                && c + cl < len) {   /* a whole chunk, not the tile's last: no buffer */
                GK_T(drop_shift_chunk)(x + e0 + c, ws, bits ? bits + (e0 + c) / 8 : NULL,
                                       scale, keep_max, &run);
                continue;
            }
#endif
            GK_T(dropout_span_st)(x + e0 + c, NULL, nt_run ? cbuf : y + e0 + c, ws,
                                  bits ? bits + (e0 + c) / 8 : NULL, cl, scale, keep_max, 0,
                                  nt);
            if (nt_run) {
#if GK_DROP_SHIFT
                gk_nt_shift_put(&run, cbuf, sizeof(TS) * (size_t)cl);
                if (c + cl == len) gk_nt_shift_end(&run, cbuf, sizeof(TS) * (size_t)cl);
#else
                gk_nt_run_put(&run, y + e0 + c, cbuf, sizeof(TS) * (size_t)cl);
#endif
            }
        }
#if !GK_DROP_SHIFT
        gk_nt_run_end(&run);
#endif
    }
}

static void GK_T(dropout_bwd)(const TS *dy, const unsigned char *bits, TS *dx, gk_index n,
                              T scale)
{
    const int nt = GK_DROP_NT(n, dx, dy, 1);
    const int pf = 2 * (size_t)n * sizeof(TS) >= gk_get_stream_min_bytes();
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        for (gk_index c = 0; c < len; c += GK_DROP_BWD_PIECE) {
            gk_index e = e0 + c, cl = len - c < GK_DROP_BWD_PIECE ? len - c : GK_DROP_BWD_PIECE;
            if (pf)
                GK_T(drop_prefetch)(dy + e, dx + e, cl, nt);
            GK_T(dropout_bits_span_st)(dy + e, bits + e / 8, dx + e, cl, scale, nt);
        }
    }
}

/* ---- drop_path: one keep byte per sample (row) ---------------------------------------
 * y = x * s_r on sample r, s_r = scale if kept else 0: the product dropout computes, so a
 * dropped sample gives x * 0.  Tiles of GK_TILE elements over the flat array as above
 * (a tile may hold the end of one sample and the start of the next), whatever row_len. */
static void GK_T(drop_path_bwd)(const TS *dy, const unsigned char *keep, TS *dx,
                                gk_index rows, gk_index row_len, T scale)
{
    const gk_index n = rows * row_len;
    const int nt = GK_DROP_NT(n, dx, dy, 1);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        gk_index e = t * GK_TILE, end = e + gk_tile_len(t, n, GK_TILE);
        for (gk_index r = e / row_len; e < end; ++r) {
            gk_index stop = (r + 1) * row_len < end ? (r + 1) * row_len : end;
            GK_T(scale_span_st)(dy + e, dx + e, stop - e, keep[r] ? scale : (T)0, nt);
            e = stop;
        }
    }
}

/* the keep byte of every sample (word w0 + r of the stream), then the scaling */
static void GK_T(drop_path_fwd)(const TS *x, TS *y, unsigned char *keep, gk_index rows,
                                gk_index row_len, T scale, uint32_t keep_max, int none,
                                uint32_t k0, uint32_t k1, uint64_t w0)
{
    GK_TILE_LOOP(rows, GK_TILE, t, 0) {
        gk_index r0 = t * GK_TILE, len = gk_tile_len(t, rows, GK_TILE);
        if (none) {
            memset(keep + r0, 0, (size_t)len);
            continue;
        }
        uint32_t buf[GK_STREAM_BUF(GK_TILE)];
        const uint32_t *ws = gk_stream_words(k0, k1, w0 + (uint64_t)r0, len, buf);
        for (gk_index j = 0; j < len; ++j)
            keep[r0 + j] = (unsigned char)(ws[j] <= keep_max);
    }
    GK_T(drop_path_bwd)(x, keep, y, rows, row_len, scale);
}

#undef GK_DROP_NT
