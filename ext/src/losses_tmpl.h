/* Loss kernels for element type T (float or double).  Included by losses.c once per
 * dtype (gk_each_dtype.h); GK_T(gk_exp_neg) is the matching exp for arguments <= 0
 * (gk_exp.h).
 *
 * A softmax row is three sweeps over a row that stays in L1/L2 after the first: the
 * max; exp(z - max) stored into the gradient buffer while its sum (and the other sums
 * the loss needs) accumulate in double lanes; then the gradient from the stored exps.
 * So the logits are read once and the gradient written once from memory.  Rows are
 * independent and the row losses are added in a fixed order afterwards, so every
 * result is bitwise the same for any thread count. */

/* max of a row (max is exact: the grouping cannot change the result), in vectors
 * (reduce_tmpl.h; measured 4x faster than the scalar maxss GCC emits for the loop);
 * a NaN is skipped by the comparison unless an accumulator starts with it; either way
 * it reaches the row's loss and gradient through exp (its sum is NaN).
 * max_j z[j] (n > 0), by GK_T(tmax) (maxps where the ISA has it).  Four accumulators: a max's latency is four cycles, so with one
 * or two the loop waited on them (a fifth of the cross-entropy row's time on AVX-512);
 * the row's last vector is the one that ends at n, read again where it overlaps (a max
 * does not mind), so only rows shorter than a vector go element by element. */
GK_INLINE T GK_T(row_max)(const T *GK_RESTRICT z, gk_index n)
{
    typedef GK_T(tvec) V;
    const gk_index w = GK_TVLEN;
    T m = z[0];
    if (n < w) {
        for (gk_index j = 1; j < n; ++j) m = z[j] > m ? z[j] : m;
        return m;
    }
    V a[4];
    __builtin_memcpy(&a[0], z + n - w, sizeof a[0]);
    a[1] = a[2] = a[3] = a[0];
    gk_index j = 0;
    for (; j + 4 * w <= n; j += 4 * w)
        for (int k = 0; k < 4; ++k) {
            V v;
            __builtin_memcpy(&v, z + j + k * w, sizeof v);
            a[k] = GK_T(tmax)(v, a[k]);
        }
    for (; j + w <= n; j += w) {
        V v;
        __builtin_memcpy(&v, z + j, sizeof v);
        a[0] = GK_T(tmax)(v, a[0]);
    }
    a[0] = GK_T(tmax)(a[1], a[0]);
    a[2] = GK_T(tmax)(a[3], a[2]);
    a[0] = GK_T(tmax)(a[2], a[0]);
    m = a[0][0];
    for (int k = 1; k < w; ++k) m = a[0][k] > m ? a[0][k] : m;
    return m;
}

/* e[j] = exp((z[j] - m) * inv_t); returns sum_j e[j], and sum_j (z[j] - m) in
 * *sum_shift when it is not NULL.  The sums are blocked: GK_LANES accumulators of T over
 * blocks of GK_EXP_BLOCK elements (8 terms each, so float32 keeps about 1e-7 relative
 * accuracy), whose results are added into double accumulators; the grouping is fixed,
 * so the result does not depend on the ISA or the threads.
 *
 * Written on 8-lane vectors (gk_exp.h): 16 elements a step, lanes 0-7 and 8-15 of the
 * accumulators, and the last step of a row masked (its missing lanes add +0, which
 * leaves a sum of exps (>= +0) and a sum of shifts (never -0) unchanged), so no scalar
 * exp runs and the sums are bit for bit those of the lane loop this replaced.
 * inv_t == 1 (cross-entropy) skips the multiply (d * 1 = d).
 *
 * next (NULL: none): the next row of the caller's loop, n elements of next_esize bytes,
 * fetched into the cache a block at a time during these exps.  Without it a row's loop
 * reads memory (the max pass) and computes (the exps) by turns, and the two add up:
 * 8192x1000 float32 cross-entropy from memory, 2 threads, 3.3 -> 2.4 ms. */
#ifndef GK_EXP_BLOCK
#define GK_EXP_BLOCK (8 * GK_LANES)
#endif
#define GK_V8 GK_CAT(gk_v8, GK_CAT(SFX, _t))
#define GK_V8I GK_CAT(gk_v8m, GK_CAT(SFX, _t))
typedef T GK_V8 __attribute__((vector_size(8 * sizeof(T))));
typedef GK_TI GK_V8I __attribute__((vector_size(8 * sizeof(T))));

/* 8 elements from p, the lanes past `len` (< 8) zero; and the store back */
GK_INLINE GK_V8 GK_T(ld8)(const T *p, int len)
{
    GK_V8 v = {0};
    if (len >= 8)
        __builtin_memcpy(&v, p, sizeof v);
    else
        for (int k = 0; k < len; ++k) v[k] = p[k];
    return v;
}

GK_INLINE void GK_T(st8)(T *p, GK_V8 v, int len)
{
    if (len >= 8)
        __builtin_memcpy(p, &v, sizeof v);
    else
        for (int k = 0; k < len; ++k) p[k] = v[k];
}

/* one step: e of 8 elements (len valid) added to the lanes bs, their shifts to bd */
GK_INLINE void GK_T(exp8)(const T *GK_RESTRICT z, T *GK_RESTRICT e, int len, T m, T inv_t,
                          int scaled, GK_V8 *bs, GK_V8 *bd)
{
    GK_V8 d = GK_T(ld8)(z, len) - m;
    GK_V8 v = GK_CAT(gk_exp_neg_v_, SFX)(scaled ? d * inv_t : d);
    if (len < 8) {   /* the missing lanes add +0 */
        GK_V8I keep = {0};
        for (int k = 0; k < len; ++k) keep[k] = -1;
        v = (GK_V8)((GK_V8I)v & keep);
        d = (GK_V8)((GK_V8I)d & keep);
    }
    GK_T(st8)(e, v, len);
    *bs += v;
    *bd += d;
}

/* two full steps of 16 elements, inv_t = 1 */
GK_INLINE void GK_T(exp16)(const T *GK_RESTRICT z, T *GK_RESTRICT e, T m, GK_V8 *bs0,
                           GK_V8 *bd0, GK_V8 *bs1, GK_V8 *bd1)
{
    GK_V8 d0, d1;
    __builtin_memcpy(&d0, z, sizeof d0);
    __builtin_memcpy(&d1, z + 8, sizeof d1);
    d0 = d0 - m;
    d1 = d1 - m;
    GK_V8 v0 = GK_CAT(gk_exp_neg_v_, SFX)(d0), v1 = GK_CAT(gk_exp_neg_v_, SFX)(d1);
    __builtin_memcpy(e, &v0, sizeof v0);
    __builtin_memcpy(e + 8, &v1, sizeof v1);
    *bs0 += v0;
    *bd0 += d0;
    *bs1 += v1;
    *bd1 += d1;
}

GK_INLINE double GK_T(row_exp)(const T *GK_RESTRICT z, T *GK_RESTRICT e, gk_index n, T m,
                               T inv_t, double *sum_shift, const char *next,
                               size_t next_esize)
{
    /* the 16 double lanes as vectors (a scalar convert-and-add per lane and block cost
     * as much as the exps' own arithmetic on AVX-512) */
    gk_vd s[GK_NACC], sd[GK_NACC];
    GK_ZERO_ACC(s);
    GK_ZERO_ACC(sd);
    const int scaled = inv_t != (T)1;
    for (gk_index b = 0; b < n; b += GK_EXP_BLOCK) {
        gk_index len = n - b < GK_EXP_BLOCK ? n - b : GK_EXP_BLOCK;
        const T *zb = z + b;
        T *eb = e + b;
        GK_V8 bs0 = {0}, bs1 = {0}, bd0 = {0}, bd1 = {0};
        gk_index j = 0;
        if (next)
            gk_prefetch_bytes(next, (size_t)b * next_esize, (size_t)(b + len) * next_esize);
        if (scaled) {
            for (; j + 16 <= len; j += 16) {
                GK_T(exp8)(zb + j, eb + j, 8, m, inv_t, 1, &bs0, &bd0);
                GK_T(exp8)(zb + j + 8, eb + j + 8, 8, m, inv_t, 1, &bs1, &bd1);
            }
        } else {
#if defined(__AVX512F__)
            if (sizeof(T) == sizeof(float)) {  /* the 16 lanes in one register */
                gk_v16f vs = {0}, vd = {0};
                for (; j + 16 <= len; j += 16) {
                    gk_v16f d;
                    __builtin_memcpy(&d, zb + j, sizeof d);
                    d = d - (float)m;
                    gk_v16f v = gk_exp_neg_v16_f32(d);
                    __builtin_memcpy(eb + j, &v, sizeof v);
                    vs += v;
                    vd += d;
                }
                /* the halves taken in registers (copied through memory, the sums
                 * lived on the stack, a store and a load in every step) */
                __m256 h[4] = {_mm512_castps512_ps256((__m512)vs),
                               _mm512_extractf32x8_ps((__m512)vs, 1),
                               _mm512_castps512_ps256((__m512)vd),
                               _mm512_extractf32x8_ps((__m512)vd, 1)};
                __builtin_memcpy(&bs0, &h[0], sizeof h[0]);
                __builtin_memcpy(&bs1, &h[1], sizeof h[1]);
                __builtin_memcpy(&bd0, &h[2], sizeof h[2]);
                __builtin_memcpy(&bd1, &h[3], sizeof h[3]);
            }
#endif
            for (; j + 16 <= len; j += 16)
                GK_T(exp16)(zb + j, eb + j, m, &bs0, &bd0, &bs1, &bd1);
        }
        if (j < len) {   /* the row's last, partial step */
            int r = (int)(len - j);
            GK_T(exp8)(zb + j, eb + j, r < 8 ? r : 8, m, inv_t, scaled, &bs0, &bd0);
            if (r > 8)
                GK_T(exp8)(zb + j + 8, eb + j + 8, r - 8, m, inv_t, scaled, &bs1, &bd1);
        }
        T ls[GK_LANES], ld[GK_LANES];   /* lane k: bs0[k], lane k + 8: bs1[k] */
        __builtin_memcpy(ls, &bs0, sizeof bs0);
        __builtin_memcpy(ls + 8, &bs1, sizeof bs1);
        __builtin_memcpy(ld, &bd0, sizeof bd0);
        __builtin_memcpy(ld + 8, &bd1, sizeof bd1);
        for (int v = 0; v < GK_NACC; ++v) {
            s[v] += GK_T(ldv)(ls + v * GK_VW);
            sd[v] += GK_T(ldv)(ld + v * GK_VW);
        }
    }
    double l[GK_LANES];
    if (sum_shift) {
        gk_spill(sd, l);
        *sum_shift = gk_fold16(l);
    }
    gk_spill(s, l);
    return gk_fold16(l);
}
#undef GK_V8
#undef GK_V8I

/* The gradient of a row from its exps e, written straight to out with non-temporal
 * stores (a large output: gk_stream_output): out[j] = e[j] a - (c p[j] + b) with target
 * probabilities p, else e[j] a - b and yv at the label y.  The same arithmetic as the
 * in-place pass of xent_row followed by gk_copy_nt, in one pass over the row. */
#if defined(__AVX__)
typedef T GK_T(v32) __attribute__((vector_size(32)));
#define GK_V32LEN ((gk_index)(32 / sizeof(T)))
GK_INLINE void GK_T(stream32)(T *o, GK_T(v32) v)
{
    if (sizeof(T) == 4)
        _mm256_stream_ps((float *)o, (__m256)v);
    else
        _mm256_stream_pd((double *)o, (__m256d)v);
}

/* the vector of the gradient at j: e a - (c p + b), or - b with labels; times w with
 * class weights (w NULL: none), as grad_one lane by lane */
GK_INLINE GK_T(v32) GK_T(grad_vec)(const T *e, const T *p, const T *w, gk_index j, T a,
                                   T b, T c)
{
    GK_T(v32) v, u, wv;
    __builtin_memcpy(&v, e + j, sizeof v);
    if (p) {
        __builtin_memcpy(&u, p + j, sizeof u);
        u = c * u + b;
    } else {
        u = b - (GK_T(v32)){0};   /* b in every lane, a -0 kept */
    }
    if (w) {
        __builtin_memcpy(&wv, w + j, sizeof wv);
        u = wv * u;
    }
    return v * a - u;
}

/* whole vectors [j0, j1) of out (32-byte aligned); p and w are loop-invariant, so the
 * compiler unswitches the loop on them */
GK_INLINE void GK_T(grad_nt_run)(const T *GK_RESTRICT e, const T *GK_RESTRICT p,
                                 const T *GK_RESTRICT w, T *GK_RESTRICT out, gk_index j0,
                                 gk_index j1, T a, T b, T c)
{
    for (gk_index j = j0; j < j1; j += GK_V32LEN)
        GK_T(stream32)(out + j, GK_T(grad_vec)(e, p, w, j, a, b, c));
}
#endif

/* element j of the gradient: e_j a - (c p_j + b), or - b with labels; times w_j with
 * class weights (w NULL: none) */
GK_INLINE T GK_T(grad_one)(const T *e, const T *p, const T *w, gk_index j, T a, T b, T c)
{
    const T u = p ? c * p[j] + b : b;
    return e[j] * a - (w ? w[j] * u : u);
}

GK_INLINE void GK_T(xent_grad_nt)(const T *GK_RESTRICT e, const T *GK_RESTRICT p,
                                  const T *GK_RESTRICT w, T *GK_RESTRICT out, gk_index n,
                                  T a, T b, T c, int64_t y, T yv)
{
    gk_index head = n, vend = n;   /* [head, vend): whole vectors, streamed */
#if defined(__AVX__)
    head = (gk_index)(((32 - ((uintptr_t)out & 31)) & 31) / sizeof(T));
    if ((uintptr_t)out % sizeof(T) != 0 || head > n)
        head = n;
    vend = head + (n - head) / GK_V32LEN * GK_V32LEN;
    if (y >= head && y < vend) {   /* the label's vector apart */
        gk_index yb = head + (y - head) / GK_V32LEN * GK_V32LEN;
        GK_T(grad_nt_run)(e, NULL, w, out, head, yb, a, b, c);
        GK_T(v32) v = GK_T(grad_vec)(e, NULL, w, yb, a, b, c);
        v[y - yb] = yv;
        GK_T(stream32)(out + yb, v);
        GK_T(grad_nt_run)(e, NULL, w, out, yb + GK_V32LEN, vend, a, b, c);
    } else {
        GK_T(grad_nt_run)(e, p, w, out, head, vend, a, b, c);
    }
#endif
    for (gk_index j = 0; j < head; ++j)
        out[j] = GK_T(grad_one)(e, p, w, j, a, b, c);
    for (gk_index j = vend; j < n; ++j)
        out[j] = GK_T(grad_one)(e, p, w, j, a, b, c);
    if (y >= 0 && (y < head || y >= vend))   /* the label among the scalar elements */
        out[y] = yv;
}

#ifndef GK_XENT_GRAD_H
#define GK_XENT_GRAD_H
/* The 16-bit gradient of a float32 row from its exps e (16-bit storage, bf16 or float16):
 * out[j] = e_j a - (c p_j + b) with target probabilities p, else e_j a - b and yv at the
 * label y, rounded once -- xent_row's in-place loop and the rounding of
 * gk_f32_to_half_n (the same conversions, so the same bits) in one pass over the row,
 * not three (gradient, rounding into a buffer, its copy out).  stream: the whole aligned
 * vectors with non-temporal stores (the caller fences). */
/* element j of the gradient, rounded (the vectors' columns before and after them) */
GK_INLINE uint16_t gk_xent_half1(const float *e, const float *p, gk_index j, float a,
                                 float b, float c, int64_t y, float yv, const int bf16)
{
    const float g = j == y ? yv : e[j] * a - (p ? c * p[j] + b : b);
    return bf16 ? gk_f32_to_bf16(g) : gk_f32_to_f16(g);
}

/* the gradient vector at j (e_j a - (c p_j + b), or e_j a - b), rounded */
GK_INLINE gk_hs gk_xent_hvec(const float *GK_RESTRICT e, const float *GK_RESTRICT p,
                             gk_index j, float a, float b, float c, const int bf16,
                             int64_t y, float yv)
{
    gk_hf v;
    __builtin_memcpy(&v, e + j, sizeof v);
    if (p) {
        gk_hf u;
        __builtin_memcpy(&u, p + j, sizeof u);
        v = v * a - (c * u + b);
    } else {
        v = v * a - b;
    }
    if (y >= 0)   /* the label's vector (y in [j, j + GK_HLEN)) */
        v[y - j] = yv;
    return bf16 ? gk_f32v_to_bf16(v) : gk_f32v_to_f16(v);
}

/* whole vectors [j0, j1) (stream: aligned), no label among them; constant bf16, stream
 * and (p != NULL) at each call site, so every variant is a loop of its own */
GK_INLINE void gk_xent_hrun(const float *GK_RESTRICT e, const float *GK_RESTRICT p,
                            uint16_t *GK_RESTRICT out, gk_index j0, gk_index j1, float a,
                            float b, float c, const int bf16, const int stream)
{
    for (gk_index j = j0; j < j1; j += GK_HLEN) {
        const gk_hs h = gk_xent_hvec(e, p, j, a, b, c, bf16, -1, 0.0f);
        if (stream)
            gk_stream_hs(out + j, h);
        else
            __builtin_memcpy(out + j, &h, sizeof h);
    }
}

GK_INLINE void gk_xent_grad_hk(const float *GK_RESTRICT e, const float *GK_RESTRICT p,
                               uint16_t *GK_RESTRICT out, gk_index n, float a, float b,
                               float c, int64_t y, float yv, const int bf16,
                               const int stream)
{
    gk_index head = 0;   /* [head, vend): whole vectors */
    if (stream) {        /* from the first aligned one */
        head = (gk_index)((sizeof(gk_hs) - (uintptr_t)out % sizeof(gk_hs)) % sizeof(gk_hs)
                          / sizeof(uint16_t));
        if ((uintptr_t)out % sizeof(uint16_t) != 0 || head > n)
            head = n;
    }
    const gk_index vend = head + (n - head) / GK_HLEN * GK_HLEN;
    if (y >= head && y < vend) {   /* the label's vector apart */
        const gk_index yb = head + (y - head) / GK_HLEN * GK_HLEN;
        gk_xent_hrun(e, NULL, out, head, yb, a, b, c, bf16, stream);
        const gk_hs h = gk_xent_hvec(e, NULL, yb, a, b, c, bf16, y, yv);
        if (stream)
            gk_stream_hs(out + yb, h);
        else
            __builtin_memcpy(out + yb, &h, sizeof h);
        gk_xent_hrun(e, NULL, out, yb + GK_HLEN, vend, a, b, c, bf16, stream);
    } else if (p) {
        gk_xent_hrun(e, p, out, head, vend, a, b, c, bf16, stream);
    } else {
        gk_xent_hrun(e, NULL, out, head, vend, a, b, c, bf16, stream);
    }
    for (gk_index j = 0; j < head; ++j)
        out[j] = gk_xent_half1(e, p, j, a, b, c, y, yv, bf16);
    for (gk_index j = vend; j < n; ++j)
        out[j] = gk_xent_half1(e, p, j, a, b, c, y, yv, bf16);
}

static void gk_xent_grad_h(const float *GK_RESTRICT e, const float *GK_RESTRICT p,
                           uint16_t *GK_RESTRICT out, gk_index n, float a, float b, float c,
                           int64_t y, float yv, const int bf16, const int stream)
{
    if (bf16) {
        if (stream)
            gk_xent_grad_hk(e, p, out, n, a, b, c, y, yv, 1, 1);
        else
            gk_xent_grad_hk(e, p, out, n, a, b, c, y, yv, 1, 0);
    } else {
        if (stream)
            gk_xent_grad_hk(e, p, out, n, a, b, c, y, yv, 0, 1);
        else
            gk_xent_grad_hk(e, p, out, n, a, b, c, y, yv, 0, 0);
    }
}
#endif

/* One row of softmax cross-entropy (see gradkit/losses.h); returns the row loss.
 * y < 0 means target probabilities p. */
GK_INLINE double GK_T(xent_row)(const T *GK_RESTRICT z, const T *GK_RESTRICT p, int64_t y,
                                T *GK_RESTRICT dz, gk_index n, double smooth,
                                double scale, T *GK_RESTRICT out, const char *next,
                                size_t next_esize, uint16_t *GK_RESTRICT hout, int half,
                                int stream)
{
    T m = GK_T(row_max)(z, n);
    double su = smooth / (double)n;       /* the uniform part of the target */
    double sshift = 0.0;
    double S = GK_T(row_exp)(z, dz, n, m, (T)1, (p || smooth > 0.0) ? &sshift : NULL,
                             next, next_esize);
    double sp = p ? GK_T(chunk_sum)(p, n, 0.0) : 0.0;
    double spz = p ? GK_T(chunk_dot_shifted)(p, z, n, (double)m) : 0.0;
    double logS = log(S);
    /* loss = sum_c t_c (lse - z_c) = (sum t) log S - sum_c t_c (z_c - m) */
    double loss, tsum;
    if (p) {
        tsum = (1.0 - smooth) * sp + smooth;
        loss = tsum * logS - ((1.0 - smooth) * spz + su * sshift);
    } else {
        double zy = (double)(z[y] - m);
        tsum = 1.0;
        loss = logS - (1.0 - smooth) * zy - (smooth > 0.0 ? su * sshift : 0.0);
    }
    /* gradient: scale (softmax tsum - t) */
    T a = (T)(scale * tsum / S);
    T b = (T)(scale * su);
    T c = (T)(scale * (1.0 - smooth));
    if (hout) {   /* 16-bit storage (float instantiation): rounded on its way out */
        T yv = p ? (T)0 : (T)(scale * ((double)dz[y] / S - su - (1.0 - smooth)));
        gk_xent_grad_h((const float *)(const void *)dz, (const float *)(const void *)p,
                       hout, n, (float)a, (float)b, (float)c, p ? -1 : y, (float)yv,
                       half == 2, stream);
    } else if (out) {
        T yv = p ? (T)0 : (T)(scale * ((double)dz[y] / S - su - (1.0 - smooth)));
        GK_T(xent_grad_nt)(dz, p, NULL, out, n, a, b, c, p ? -1 : y, yv);
    } else if (p) {
        for (gk_index j = 0; j < n; ++j)
            dz[j] = dz[j] * a - (c * p[j] + b);
    } else {
        double ey = (double)dz[y];
        for (gk_index j = 0; j < n; ++j)
            dz[j] = dz[j] * a - b;
        dz[y] = (T)(scale * (ey / S - su - (1.0 - smooth)));
    }
    return loss;
}

/* One row of weighted softmax cross-entropy (torch's per-class `weight`): the loss is
 * U log S - sum_c u_c (z_c - m) with the effective target u (gradkit/losses.h) and
 * U = sum_c u_c; the gradient scale (U e_c / S - u_c), in T as the unweighted row's
 * (e_c a - w_c b, and w_c (c p_c + b) with probabilities).  The sums are double lanes
 * in a fixed order; sw = sum_c w_c.  Written into dz in place, or (out not NULL: a
 * large output) formed on its way out with non-temporal stores, dz holding the exps. */
GK_INLINE double GK_T(xent_row_w)(const T *GK_RESTRICT z, const T *GK_RESTRICT p,
                                  int64_t y, T *GK_RESTRICT dz, gk_index n, double smooth,
                                  double scale, const T *GK_RESTRICT w, double sw,
                                  T *GK_RESTRICT out, const char *next, size_t next_esize)
{
    T m = GK_T(row_max)(z, n);
    double S = GK_T(row_exp)(z, dz, n, m, (T)1, NULL, next, next_esize);
    double su = smooth / (double)n, dm = (double)m;
    double U, uz;   /* sum_c u_c, sum_c u_c (z_c - m) */
    gk_index j;
    if (p) {   /* u_c = w_c ((1 - s) p_c + s/C) */
        double az[GK_LANES] = {0};
        for (j = 0; j < n; ++j)
            az[j % GK_LANES] += (double)w[j] * (double)p[j] * ((double)z[j] - dm);
        U = (1.0 - smooth) * GK_T(chunk_dot)(w, p, n) + su * sw;
        uz = (1.0 - smooth) * gk_fold16(az)
           + (smooth > 0.0 ? su * GK_T(chunk_dot_shifted)(w, z, n, dm) : 0.0);
    } else {   /* u_c = (1 - s) w_y [c = y] + (s/C) w_c */
        double wy = (1.0 - smooth) * (double)w[y];
        U = wy + su * sw;
        uz = wy * ((double)z[y] - dm)
           + (smooth > 0.0 ? su * GK_T(chunk_dot_shifted)(w, z, n, dm) : 0.0);
    }
    T a = (T)(scale * U / S), b = (T)(scale * su), c = (T)(scale * (1.0 - smooth));
    double ey = p ? 0.0 : (double)dz[y];
    if (out) {   /* formed on its way out, as the unweighted row's */
        T yv = p ? (T)0 : (T)(scale * (ey * U / S - (su + (1.0 - smooth)) * (double)w[y]));
        GK_T(xent_grad_nt)(dz, p, w, out, n, a, b, c, p ? -1 : y, yv);
        return U * log(S) - uz;
    }
    if (p)
        for (j = 0; j < n; ++j)
            dz[j] = dz[j] * a - w[j] * (c * p[j] + b);
    else
        for (j = 0; j < n; ++j)
            dz[j] = dz[j] * a - w[j] * b;
    if (!p)
        dz[y] = (T)(scale * (ey * U / S - (su + (1.0 - smooth)) * (double)w[y]));
    return U * log(S) - uz;
}

/* Rows go to threads in dynamic blocks of 32: rows are independent and each writes only
 * its own outputs, so the results do not depend on which thread ran them, and a thread
 * slowed by another process does not hold the others up.
 *
 * half (float instantiation only; 0 otherwise): the logits, the target probabilities
 * and the gradient are 16-bit storage (1 float16, 2 bfloat16; zv, pv, dzv point to
 * uint16_t), weight and row_loss float32.  Each row is widened exactly into a float32
 * buffer of its thread (it stays in L1/L2), runs the float32 row above, and its
 * gradient is rounded once into dz: the float32 kernel's results on the widened
 * logits, rounded. */
static int GK_T(softmax_xent_h)(int half, const void *zv, const int64_t *labels,
                                const void *pv, const T *weight, T *row_loss,
                                double *total, void *dzv, gk_index rows, gk_index cols,
                                double smooth, int64_t ignore_index, int reduction)
{
    const T *z = (const T *)zv, *probs = (const T *)pv;
    T *dz = (T *)dzv;
    half = sizeof(T) == sizeof(float) ? half : 0;   /* 16-bit storage: float32 math */
    const size_t esize = half ? sizeof(uint16_t) : sizeof(T);
    /* the divisor of MEAN: the kept rows (class indices; with weights the sum of their
     * label's weight, as torch's nll_loss), else all rows; sums in index order */
    double counted = (double)rows, sw = 0.0;
    if (labels) {
        counted = 0.0;
        for (gk_index i = 0; i < rows; ++i)
            if (labels[i] != ignore_index)
                counted += weight ? (double)weight[labels[i]] : 1.0;
    }
    if (weight && rows > 0)
        for (gk_index j = 0; j < cols; ++j) sw += (double)weight[j];
    double scale = reduction == GK_REDUCTION_MEAN ? 1.0 / counted : 1.0;
    int nt = gk_threads_for(rows * cols);
    /* a large gradient is formed row by row in a per-thread buffer and streamed out
     * (non-temporal stores: no read of the lines it overwrites, gk_internal.h) */
    const int stream = gk_stream_output((size_t)(rows * cols) * esize, dzv, zv, pv);
    /* per thread: the gradient row (streamed or 16-bit), and for 16-bit the widened
     * logits and probabilities, and the rounded row on its way out */
    const gk_index per = half ? 3 * cols + (cols + 1) / 2 : cols;
    double *rl = (double *)malloc(sizeof(double) * (size_t)(rows > 0 ? rows : 1));
    T *scratch = (stream || half) ? (T *)malloc(sizeof(T) * (size_t)(nt * per)) : NULL;
    if (!rl || ((stream || half) && !scratch)) {
        free(rl);
        free(scratch);
        return GK_ENOMEM;
    }
    #pragma omp parallel num_threads(nt) if(nt > 1)
    {
#if GK_HAVE_OPENMP
        T *buf = scratch ? scratch + (gk_index)omp_get_thread_num() * per : NULL;
#else
        T *buf = scratch;
#endif
        #pragma omp for schedule(dynamic, 32) nowait
        for (gk_index i = 0; i < rows; ++i) {
            T *dzi = (stream || half) ? buf : dz + i * cols;
            const T *zi = z + i * cols, *pi = probs ? probs + i * cols : NULL;
            if (half) {   /* the row widened (exact) next to its gradient */
                gk_half_to_f32_n(half == 2, (const uint16_t *)zv + i * cols,
                                 (float *)(buf + cols), cols);
                zi = buf + cols;
                if (pv) {
                    gk_half_to_f32_n(half == 2, (const uint16_t *)pv + i * cols,
                                     (float *)(buf + 2 * cols), cols);
                    pi = buf + 2 * cols;
                }
            }
            /* the next row's logits fetched during this row's exps (else the row loop
             * reads memory and computes by turns) */
            const char *next = i + 1 < rows ? (const char *)zv + (size_t)((i + 1) * cols) * esize
                                            : NULL;
            const int ignored = labels && labels[i] == ignore_index;
            if (half && !ignored && !weight) {   /* exps in buf, rounded on the way out */
                rl[i] = GK_T(xent_row)(zi, pi, labels ? labels[i] : -1, dzi, cols, smooth,
                                       scale, NULL, next, esize,
                                       (uint16_t *)dzv + i * cols, half, stream);
            } else if (ignored || half || (weight && !stream)) {   /* formed in dzi, then written out */
                if (ignored) {
                    for (gk_index j = 0; j < cols; ++j) dzi[j] = 0;
                    rl[i] = 0.0;
                } else if (weight) {
                    rl[i] = GK_T(xent_row_w)(zi, pi, labels ? labels[i] : -1, dzi, cols,
                                             smooth, scale, weight, sw, NULL, next, esize);
                } else {
                    rl[i] = GK_T(xent_row)(zi, pi, labels ? labels[i] : -1, dzi, cols,
                                           smooth, scale, NULL, next, esize, NULL, 0, 0);
                }
                if (half) {   /* rounded once; streamed through the row's last buffer */
                    uint16_t *hi = (uint16_t *)dzv + i * cols;
                    uint16_t *hb = stream ? (uint16_t *)(void *)(buf + 3 * cols) : hi;
                    gk_f32_to_half_n(half == 2, (const float *)dzi, hb, cols);
                    if (stream)
                        gk_copy_nt(hi, hb, sizeof(uint16_t) * (size_t)cols);
                } else if (stream) {
                    gk_copy_nt(dz + i * cols, buf, sizeof(T) * (size_t)cols);
                }
            } else if (weight) {   /* streamed, as below */
                rl[i] = GK_T(xent_row_w)(zi, pi, labels ? labels[i] : -1, dzi, cols, smooth,
                                         scale, weight, sw, dz + i * cols, next, esize);
            } else {
                /* streamed: the exps in buf, the gradient formed on its way out */
                rl[i] = GK_T(xent_row)(zi, pi, labels ? labels[i] : -1, dzi, cols, smooth,
                                       scale, stream ? dz + i * cols : NULL, next, esize,
                                       NULL, 0, 0);
            }
            if (row_loss) row_loss[i] = (T)rl[i];
        }
        if (stream)
            gk_sfence();   /* each thread orders its own streamed rows */
    }
    if (total) {
        double s = gk_sum_f64(rl, rows);
        *total = reduction == GK_REDUCTION_MEAN ? s / counted : s;
    }
    free(rl);
    free(scratch);
    return GK_OK;
}

static int GK_T(softmax_xent)(const T *z, const int64_t *labels, const T *probs,
                              const T *weight, T *row_loss, double *total, T *dz,
                              gk_index rows, gk_index cols, double smooth,
                              int64_t ignore_index, int reduction)
{
    return GK_T(softmax_xent_h)(0, z, labels, probs, weight, row_loss, total, dz, rows,
                                cols, smooth, ignore_index, reduction);
}

/* ---- distillation KL ----------------------------------------------------------------
 * Per row, with q = softmax(s/T), p = softmax(t/T), d/ds = (q - p)/T.
 * KL is a small difference of large terms when written sum p (t - s)/T - lse(t/T) +
 * lse(s/T) (logits of 1e14 lose every digit; two near-equal rows give 0 for 1e-69), so
 * it is formed from quantities that stay accurate:
 *   delta_c = ((t_c - s_c) - (mt - ms)) / T          = log(p_c St / (q_c Ss)), exact-ish
 *   L       = log(St / Ss) = log1p(sum_c q_c expm1(delta_c))
 *   u_c     = delta_c - L = log(p_c / q_c)
 *   KL      = sum_c q_c h(u_c),  h(u) = u e^u - e^u + 1 >= 0
 * (sum_c (q_c - p_c) = 0 is what makes the last line equal to sum p log(p/q)); every term
 * is >= 0, so the sum has no cancellation, and h is a series for small |u|.  For
 * |u| >= 1/2, q h(u) = p (u - 1) + q with p, q from the stored exps.  Terms with
 * p_c = 0 add q_c and those q_c balance the other terms, as in torch's xlogy. */
#ifndef GK_KL_HELPERS
#define GK_KL_HELPERS
/* h(u) = sum_{k>=2} (k-1) u^k / k!, for |u| < 1/2 (terms past k = 17 are below 1e-17) */
GK_INLINE double gk_kl_h(double u)
{
    static const double c[] = {
        1.0 / 2, 1.0 / 3, 1.0 / 8, 1.0 / 30, 1.0 / 144, 1.0 / 840, 1.0 / 5760,
        1.0 / 45360, 1.0 / 403200, 10.0 / 39916800.0, 11.0 / 479001600.0,
        12.0 / 6227020800.0, 13.0 / 87178291200.0, 14.0 / 1307674368000.0,
        15.0 / 20922789888000.0, 16.0 / 355687428096000.0};
    double r = c[15];
    for (int k = 14; k >= 0; --k)
        r = r * u + c[k];
    return r * u * u;
}

/* expm1(u) = u sum_{k>=0} u^k / (k+1)!, for |u| < 1/2 (terms past k = 16 are below
 * 1e-20 of the sum): a polynomial, so the row loops below vectorize; libm's expm1, a
 * call per element, held the kernel at 17x the time of the cross-entropy's on
 * 8192x1000 (Intel Xeon guest).  Within 2 ulp of expm1 over the range. */
GK_INLINE double gk_kl_expm1(double u)
{
    static const double c[] = {
        1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
        1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0,
        1.0 / 87178291200.0, 1.0 / 1307674368000.0, 1.0 / 20922789888000.0,
        1.0 / 355687428096000.0};
    double r = c[16];
    for (int k = 15; k >= 0; --k)
        r = r * u + c[k];
    return r * u;
}
#endif

static int GK_T(kl_div)(const T *s, const T *t, double *total, T *ds, gk_index rows,
                        gk_index cols, double temperature)
{
    int nt = gk_threads_for(rows * cols);
    double *rl = (double *)malloc(sizeof(double) * (size_t)(rows > 0 ? rows : 1));
    T *scratch = (T *)malloc(sizeof(T) * (size_t)(nt * cols > 0 ? nt * cols : 1));
    if (!rl || !scratch) {
        free(rl);
        free(scratch);
        return GK_ENOMEM;
    }
    double inv_temp = 1.0 / temperature;
    double scale = inv_temp / (double)rows;
    #pragma omp parallel num_threads(nt) if(nt > 1)
    {
#if GK_HAVE_OPENMP
        T *et = scratch + (gk_index)omp_get_thread_num() * cols;
#else
        T *et = scratch;
#endif
        #pragma omp for schedule(dynamic, 32)
        for (gk_index i = 0; i < rows; ++i) {
            const T *si = s + i * cols, *ti = t + i * cols;
            T *dsi = ds + i * cols;
            T ms = GK_T(row_max)(si, cols), mt = GK_T(row_max)(ti, cols);
            double Ss = GK_T(row_exp)(si, dsi, cols, ms, (T)inv_temp, NULL, NULL, 0);
            double St = GK_T(row_exp)(ti, et, cols, mt, (T)inv_temp, NULL, NULL, 0);
            double shift = (double)mt - (double)ms, inv_ss = 1.0 / Ss, inv_st = 1.0 / St;
            /* St/Ss - 1, term by term without cancellation; element j adds to lane
             * j % GK_LANES.  Both sides of each choice are computed and one is taken
             * (no branch, no call), GK_LANES elements a step: the compiler runs the
             * step on vectors, the same operations as the scalar tail's */
#define GK_KL_D(j) ((((double)ti[j] - (double)si[j]) - shift) * inv_temp)
#define GK_KL_RATIO(j, d) (fabs(d) < 0.5 ? (double)dsi[j] * inv_ss * gk_kl_expm1(d) \
                                         : ((double)et[j] - (double)dsi[j]) * inv_ss)
            /* p_c = 0 (a teacher logit of -inf): no p term, as xlogy(0, .) = 0 */
#define GK_KL_TERM(j, u, q) (fabs(u) < 0.5 ? (q) * gk_kl_h(u) \
                             : (et[j] != 0 ? (double)et[j] * inv_st * ((u) - 1.0) : 0.0) + (q))
            double acc[GK_LANES] = {0};
            gk_index j;
            for (j = 0; j + GK_LANES <= cols; j += GK_LANES)
                for (int k = 0; k < GK_LANES; ++k) {
                    const double d = GK_KL_D(j + k);
                    acc[k] += GK_KL_RATIO(j + k, d);
                }
            for (; j < cols; ++j) {
                const double d = GK_KL_D(j);
                acc[j % GK_LANES] += GK_KL_RATIO(j, d);
            }
            double L = log1p(gk_fold16(acc));
            double kl[GK_LANES] = {0};
            for (j = 0; j + GK_LANES <= cols; j += GK_LANES)
                for (int k = 0; k < GK_LANES; ++k) {
                    const double u = GK_KL_D(j + k) - L, q = (double)dsi[j + k] * inv_ss;
                    kl[k] += GK_KL_TERM(j + k, u, q);
                }
            for (; j < cols; ++j) {
                const double u = GK_KL_D(j) - L, q = (double)dsi[j] * inv_ss;
                kl[j % GK_LANES] += GK_KL_TERM(j, u, q);
            }
#undef GK_KL_D
#undef GK_KL_RATIO
#undef GK_KL_TERM
            rl[i] = gk_fold16(kl);
            T a = (T)(scale / Ss), b = (T)(scale / St);
            for (j = 0; j < cols; ++j)
                dsi[j] = dsi[j] * a - et[j] * b;
        }
    }
    if (total)
        *total = gk_sum_f64(rl, rows) / (double)rows;
    free(rl);
    free(scratch);
    return GK_OK;
}

/* ---- KL divergence of log-probabilities, pointwise (torch's F.kl_div) ----------------
 * Element by element in double, rounded once: the loss xlogy(t, t) - t x (exp(t)(t - x)
 * with log_target) and the gradient -t g (-exp(t) g); the sum of the losses over fixed
 * chunks (GK_CHUNK), added in chunk order, so it is the same for any thread count.  As
 * torch's formula, a target of 0 adds -0 x: 0 for a finite x, NaN for x = -inf. */
#ifndef GK_KL_ELEM
#define GK_KL_ELEM
GK_INLINE double gk_kl_elem(double x, double t, int log_target)
{
    if (log_target)
        return exp(t) * (t - x);
    return (t == 0.0 ? 0.0 : t * log(t)) - t * x;   /* xlogy(t, t): NaN stays NaN */
}
#endif

static int GK_T(kl_pointwise)(const T *x, const T *t, T *elem, double *total, T *dx,
                              gk_index n, gk_index batch, int log_target, int reduction)
{
    gk_index nchunk = (n + GK_CHUNK - 1) / GK_CHUNK;
    double *part = (double *)malloc(sizeof(double) * (size_t)(nchunk > 0 ? nchunk : 1));
    if (!part)
        return GK_ENOMEM;
    double div = reduction == GK_REDUCTION_MEAN ? (double)n
               : reduction == GK_REDUCTION_BATCHMEAN ? (double)batch : 1.0;
    double g = 1.0 / div;
    int nt = gk_threads_for(n);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index c = 0; c < nchunk; ++c) {
        gk_index off = c * GK_CHUNK;
        gk_index len = n - off < GK_CHUNK ? n - off : GK_CHUNK;
        double acc[GK_LANES] = {0};
        for (gk_index j = 0; j < len; ++j) {
            double xv = (double)x[off + j], tv = (double)t[off + j];
            double e = gk_kl_elem(xv, tv, log_target);
            acc[j % GK_LANES] += e;
            if (elem) elem[off + j] = (T)e;
            dx[off + j] = (T)(-(log_target ? exp(tv) : tv) * g);
        }
        part[c] = gk_fold16(acc);
    }
    if (total) {
        double s = 0.0;
        for (gk_index c = 0; c < nchunk; ++c) s += part[c];
        *total = reduction == GK_REDUCTION_NONE ? s : s / div;
    }
    free(part);
    return GK_OK;
}

/* ---- mean squared error ------------------------------------------------------------ */
static int GK_T(mse)(const T *p, const T *t, T *elem, double *total, T *dp, gk_index n,
                     int reduction)
{
    gk_index nchunk = (n + GK_CHUNK - 1) / GK_CHUNK;
    double *part = (double *)malloc(sizeof(double) * (size_t)(nchunk > 0 ? nchunk : 1));
    if (!part)
        return GK_ENOMEM;
    T g = (T)(reduction == GK_REDUCTION_MEAN ? 2.0 / (double)n : 2.0);
    int nt = gk_threads_for(n);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index c = 0; c < nchunk; ++c) {
        gk_index off = c * GK_CHUNK;
        gk_index len = n - off < GK_CHUNK ? n - off : GK_CHUNK;
        const T *GK_RESTRICT pc = p + off, *GK_RESTRICT tc = t + off;
        /* sum (p - t)^2 in double */
#define GK_E_V(o) (GK_T(ldv)(pc + (o)) - GK_T(ldv)(tc + (o)))
#define GK_E2_V(o) (GK_E_V(o) * GK_E_V(o))
#define GK_E2_S(o) (((double)pc[o] - (double)tc[o]) * ((double)pc[o] - (double)tc[o]))
        GK_LANE_SUM(len, part[c], GK_E2_V, GK_E2_S);
#undef GK_E_V
#undef GK_E2_V
#undef GK_E2_S
        for (gk_index j = 0; j < len; ++j) {
            T d = p[off + j] - t[off + j];
            dp[off + j] = d * g;
            if (elem) elem[off + j] = d * d;
        }
    }
    if (total) {
        double s = 0.0;
        for (gk_index c = 0; c < nchunk; ++c) s += part[c];
        *total = reduction == GK_REDUCTION_MEAN ? s / (double)n : s;
    }
    free(part);
    return GK_OK;
}
