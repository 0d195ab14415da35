/* BatchNorm, plane layout (inner >= GK_BN_ROW_MIN), for element type T.  Included by
 * batch_norm_tmpl.h, which describes the layouts.
 *
 * Each (n, c) plane of `inner` contiguous elements is cut into segments of GK_CHUNK
 * elements; a segment is reduced from L1 (reduce_tmpl.h), and a channel merges its
 * segments in (n, segment) order. */

/* ---- forward: mean (relative to the pivot pv) and M2 of one segment -----------------
 * float32: one pass of shifted sums, kept under gk_shifted_ok (reduce.h); else the
 * exact two passes.  far: from memory, prefetched ahead (bn_plane_reduce). */
GK_INLINE void GK_T(bn_seg_stats)(const TS *x, gk_index n, double pv, int far,
                                  double *mean, double *m2)
{
    if (sizeof(T) == sizeof(float)) {
        double sd, sd2;
        if (far)
            GK_T(chunk_shifted_far)(x, n, pv, &sd, &sd2);
        else
            GK_T(chunk_shifted)(x, n, pv, &sd, &sd2);
        double mb = sd / (double)n, q = sd2 - sd * mb;
        if (gk_shifted_ok(mb * mb * (double)n, q)) {
            *mean = mb;
            *m2 = q;
            return;
        }
    }
    double m = GK_T(chunk_sum)(x, n, pv) / (double)n;
    *mean = m;
    *m2 = GK_T(chunk_sumsq)(x, n, pv + m);
}

/* ---- both directions: segments, then channels ---------------------------------------
 * Into (ca, cb), per channel: forward (!grad) the mean relative to ref[c] (the pivot)
 * and M2, merged with Chan's formula; backward sum dy and sum dy (x - ref[c]) (ref the
 * saved mean), added.  seg holds 2 N C nseg doubles. */
GK_INLINE void GK_T(bn_plane_reduce)(const int grad, const TS *dy, const TS *x, gk_index N,
                                     gk_index C, gk_index inner, double *seg,
                                     const double *ref, double *ca, double *cb)
{
    gk_index nseg = (inner + GK_CHUNK - 1) / GK_CHUNK;
    gk_index total = N * C * nseg;
    int nt = gk_threads_for(N * C * inner);
    /* past the cache: prefetched ahead, the segments following one another in memory
     * (32x64x56x56 float32 from memory, 2 threads: the forward 1.56 -> 1.29 ms, the
     * backward 2.36 -> 1.84, Intel Xeon guest) */
    const int far = (size_t)(N * C * inner) * sizeof(TS) >= gk_get_stream_min_bytes();
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index sg = 0; sg < total; ++sg) {
        gk_index plane = sg / nseg, off = (sg % nseg) * GK_CHUNK;
        gk_index len = inner - off < GK_CHUNK ? inner - off : GK_CHUNK;
        const TS *xs = x + plane * inner + off;
        if (grad && far)
            GK_T(chunk_grad_sums_far)(dy + plane * inner + off, xs, len, ref[plane % C],
                                      &seg[2 * sg], &seg[2 * sg + 1]);
        else if (grad)
            GK_T(chunk_grad_sums)(dy + plane * inner + off, xs, len, ref[plane % C],
                                  &seg[2 * sg], &seg[2 * sg + 1]);
        else
            GK_T(bn_seg_stats)(xs, len, ref[plane % C], far, &seg[2 * sg],
                               &seg[2 * sg + 1]);
    }
    /* merge in (n, segment) order; every channel holds the same counts, so the merge
     * runs across channels */
    double na = 0.0;
    for (gk_index n = 0; n < N; ++n)
        for (gk_index s = 0; s < nseg; ++s) {
            gk_index off = s * GK_CHUNK;
            double nb = (double)(inner - off < GK_CHUNK ? inner - off : GK_CHUNK);
            const double *sg = seg + 2 * (n * C * nseg + s);
            gk_merge_pair(!grad, C, na, nb, ca, cb, sg, sg + 1, 2 * nseg);
            na += nb;
        }
}

/* ---- both directions: output, segment by segment with the channel's constants ------ */
GK_INLINE void GK_T(bn_plane_apply)(const int grad, const TS *dy, const TS *x, TS *out,
                                    gk_index N, gk_index C, gk_index inner,
                                    GK_T(bn_coef) cf)
{
    gk_index nseg = (inner + GK_CHUNK - 1) / GK_CHUNK;
    gk_index total = N * C * nseg;
    int nt = gk_threads_for(N * C * inner);
    const int stream = gk_stream_output((size_t)(N * C * inner) * sizeof(TS), out, x, dy);
    if (nt > total) nt = total > 0 ? (int)total : 1;
    /* each thread a contiguous run of segments, fenced once at its end (bn_col_apply) */
    GK_PARALLEL_FOR(nt, t, nt,
        const gk_index s1 = gk_task_begin(t + 1, nt, total);
        GK_T(carry) cy = {0};   /* the segments follow one another: as bn_col_apply's rows */
        for (gk_index sg = gk_task_begin(t, nt, total); sg < s1; ++sg) {
            gk_index plane = sg / nseg, at = plane * inner + (sg % nseg) * GK_CHUNK;
            gk_index n = inner - (sg % nseg) * GK_CHUNK < GK_CHUNK
                         ? inner - (sg % nseg) * GK_CHUNK : GK_CHUNK;
            const TS *gs = grad ? dy + at : NULL;
            cy.keep = sg + 1 < s1;
            if (stream)
                GK_T(bn_out_a)(grad, 0, 1, gs, x + at, out + at, n, cf, plane % C, &cy);
            else
                GK_T(bn_out_a)(grad, 0, 0, gs, x + at, out + at, n, cf, plane % C, NULL);
        }
        GK_T(carry_flush)(&cy);
        if (stream) gk_sfence();
    );
}
