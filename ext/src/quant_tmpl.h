/* Quantization kernels for element type T (float or double).  Included by quant.c once
 * per dtype (gk_each_dtype.h).
 *
 * Work is split into tasks of one (outer, channel) row and at most GK_QCHUNK of its
 * inner elements, so per-tensor data (one long row) and per-channel data of any layout
 * spread over threads; a row of few inner elements (the channel axis last) is handled
 * by whole outer slices instead.  min and max are exact and every q is computed by
 * one thread, so the results are the same for any thread count. */

/* min, max and "saw a NaN" of n contiguous elements, in vectors (reduce_tmpl.h's tmin
 * and tmax), four of each: one accumulator waits on its compare and select
 * (latency-bound: 8M float32 elements took 1.39 ms at 1 thread where reading them
 * takes 0.76).  min and max do not depend on the order (v < a ? v : a skips a NaN,
 * which sets the flag instead; only a zero's sign could, and no result reads it: the
 * scale takes |min| and |max|). */
static void GK_T(span_minmax)(const T *x, gk_index n, int far, T *mn, T *mx, int *nan)
{
    typedef GK_T(tvec) V;
    V lo[4], hi[4];
    GK_T(tmask) bad = (GK_T(tmask)){0};
    for (int a = 0; a < 4; ++a) {
        lo[a] = (V){0} + (T)INFINITY;
        hi[a] = (V){0} - (T)INFINITY;
    }
    gk_index j = 0;
    for (; j + 4 * GK_TVLEN <= n; j += 4 * GK_TVLEN)
        for (int a = 0; a < 4; ++a) {
            if (far)
                __builtin_prefetch((const char *)(x + j + a * GK_TVLEN) + GK_Q_AHEAD, 0, 3);
            V v;
            __builtin_memcpy(&v, x + j + a * GK_TVLEN, sizeof v);
            lo[a] = GK_T(tmin)(v, lo[a]);
            hi[a] = GK_T(tmax)(v, hi[a]);
            bad |= v != v;
        }
    for (; j + GK_TVLEN <= n; j += GK_TVLEN) {
        V v;
        __builtin_memcpy(&v, x + j, sizeof v);
        lo[0] = GK_T(tmin)(v, lo[0]);
        hi[0] = GK_T(tmax)(v, hi[0]);
        bad |= v != v;
    }
    T a = *mn, b = *mx;
    int nn = 0;
    for (int c = 0; c < 4; ++c)
        for (int k = 0; k < GK_TVLEN; ++k) {
            a = lo[c][k] < a ? lo[c][k] : a;
            b = hi[c][k] > b ? hi[c][k] : b;
        }
    for (int k = 0; k < GK_TVLEN; ++k) nn |= bad[k] != 0;
    for (; j < n; ++j) {
        T v = x[j];
        a = v < a ? v : a;
        b = v > b ? v : b;
        nn |= v != v;
    }
    *mn = a;
    *mx = b;
    *nan |= nn;
}

static int GK_T(minmax)(const T *x, gk_index outer, gk_index channels, gk_index inner,
                        T *mins, T *maxs, int *nonfinite)
{
    int nan = 0;
    for (gk_index c = 0; c < channels; ++c) {
        mins[c] = (T)INFINITY;
        maxs[c] = -(T)INFINITY;
    }
    gk_index n = outer * channels * inner;
    int nt = gk_threads_for(n);
    const int far = GK_Q_FAR(n, T);
    if (inner < GK_QROW_MIN && channels > 1) {
        /* few inner elements per row: tasks over outer slices, partial per channel */
        gk_index ntask = gk_row_tasks(outer, 2 * channels);
        T *part = (T *)malloc(sizeof(T) * (size_t)(2 * ntask * channels));
        if (!part)
            return GK_ENOMEM;
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1) reduction(|:nan)
        for (gk_index t = 0; t < ntask; ++t) {
            T *pl = part + 2 * t * channels, *ph = pl + channels;
            for (gk_index c = 0; c < channels; ++c) {
                pl[c] = (T)INFINITY;
                ph[c] = -(T)INFINITY;
            }
            gk_index o1 = gk_task_begin(t + 1, ntask, outer);
            for (gk_index o = gk_task_begin(t, ntask, outer); o < o1; ++o)
                for (gk_index c = 0; c < channels; ++c)
                    GK_T(span_minmax)(x + (o * channels + c) * inner, inner, far, pl + c, ph + c,
                                      &nan);
        }
        for (gk_index t = 0; t < ntask; ++t)
            for (gk_index c = 0; c < channels; ++c) {
                T a = part[2 * t * channels + c], b = part[(2 * t + 1) * channels + c];
                mins[c] = a < mins[c] ? a : mins[c];
                maxs[c] = b > maxs[c] ? b : maxs[c];
            }
        free(part);
    } else {
        gk_index rows = outer * channels;
        gk_index nck = (inner + GK_QCHUNK - 1) / GK_QCHUNK;
        gk_index ntask = rows * nck;
        T *part = (T *)malloc(sizeof(T) * (size_t)(2 * (ntask > 0 ? ntask : 1)));
        if (!part)
            return GK_ENOMEM;
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1) reduction(|:nan)
        for (gk_index t = 0; t < ntask; ++t) {
            gk_index r = t / nck, off = (t % nck) * GK_QCHUNK;
            gk_index len = inner - off < GK_QCHUNK ? inner - off : GK_QCHUNK;
            part[2 * t] = (T)INFINITY;
            part[2 * t + 1] = -(T)INFINITY;
            GK_T(span_minmax)(x + r * inner + off, len, far, part + 2 * t, part + 2 * t + 1,
                              &nan);
        }
        for (gk_index t = 0; t < ntask; ++t) {
            gk_index c = (t / nck) % channels;
            mins[c] = part[2 * t] < mins[c] ? part[2 * t] : mins[c];
            maxs[c] = part[2 * t + 1] > maxs[c] ? part[2 * t + 1] : maxs[c];
        }
        free(part);
    }
    int inf = 0;
    for (gk_index c = 0; c < channels; ++c)
        if (n > 0 && outer * inner > 0 &&
            (mins[c] == -(T)INFINITY || maxs[c] == (T)INFINITY))
            inf = 1;
    *nonfinite = nan || inf;
    return GK_OK;
}

/* quantize: one writer per integer type, GK_T(quantize)_s8 and _u8 */
#define GK_QUANTIZE_FN(QT, QN, QMIN, QMAX) \
static void GK_CAT(GK_T(quantize), QN)(const T *x, const float *scale, const int32_t *zp, \
                                       QT *q, gk_index outer, gk_index channels, \
                                       gk_index inner) \
{ \
    const int far = GK_Q_FAR(outer * channels * inner, T); \
    GK_QUANT_FOR_SPANS(outer, channels, inner, c, at, len, { \
        double inv = (double)(1.0f / scale[c]), z = (double)zp[c]; \
        const T *xs = x + at; \
        QT *qs = q + at; \
        if (sizeof(T) == sizeof(float) && zp[c] == 0) \
            GK_CAT(quantize_z0, QN)((const float *)(const void *)xs, (float)inv, qs, len, \
                                    far); \
        else \
            for (gk_index i = 0; i < len; ++i) \
                qs[i] = (QT)GK_T(qval)(xs[i], inv, z, QMIN, QMAX); \
    }); \
}
GK_QUANTIZE_FN(int8_t, _s8, -128, 127)
GK_QUANTIZE_FN(uint8_t, _u8, 0, 255)
#undef GK_QUANTIZE_FN
