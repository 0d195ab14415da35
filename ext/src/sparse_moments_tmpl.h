/* The sparse column statistics (gk_csc_col_moments, gk_csr_col_moments) for element
 * type T and index type GK_SIDX, named GK_SP(name).  Included by preprocessing_tmpl.h
 * twice per dtype: with gk_index (intp) indices, and with int32_t ones (the _i32
 * kernels: scipy's own index dtype below 2**31 stored values, read as they are instead
 * of converted to intp, which took 1.3 ms of an 8.9 ms CSR fit).  Every index is
 * widened to gk_index when it is read, so the two give the same bits. */
/* Sum over the non-NaN values v of column [p0, p1) of weight * F, F an expression of v
 * that is exactly 0 at v = Z: a NaN value is replaced by Z, so it adds 0 (the weights
 * are finite).  Four interleaved partial sums added at the end: a fixed order (the same
 * bits on every ISA) with four times the throughput of one dependent chain.  Why not
 * `v == v ? F * w : 0.0`: GCC 12.2's loop vectorizer, with -fno-trapping-math and
 * AVX2, drops the fourth term of a group of four that holds a NaN (a lost value in the
 * sum, checked with a standalone reproduction: baseline and clang were right). */
#define GK_CSC_SUM(OUT, F, Z) do { \
        double a0_ = 0.0, a1_ = 0.0, a2_ = 0.0, a3_ = 0.0; \
        gk_index p_ = p0; \
        for (; p_ + 4 <= p1; p_ += 4) { \
            double v, t0_, t1_, t2_, t3_; \
            v = (double)data[p_];     v = v == v ? v : (Z); t0_ = (F) * GK_CSC_W(p_); \
            v = (double)data[p_ + 1]; v = v == v ? v : (Z); t1_ = (F) * GK_CSC_W(p_ + 1); \
            v = (double)data[p_ + 2]; v = v == v ? v : (Z); t2_ = (F) * GK_CSC_W(p_ + 2); \
            v = (double)data[p_ + 3]; v = v == v ? v : (Z); t3_ = (F) * GK_CSC_W(p_ + 3); \
            a0_ += t0_; a1_ += t1_; a2_ += t2_; a3_ += t3_; \
        } \
        for (; p_ < p1; ++p_) { \
            double v = (double)data[p_]; \
            v = v == v ? v : (Z); \
            a0_ += (F) * GK_CSC_W(p_); \
        } \
        (OUT) = (a0_ + a1_) + (a2_ + a3_); \
    } while (0)
#define GK_CSC_W(p) (w ? w[indices[p]] : 1.0)

#ifndef GK_SPARSE_MOMENTS_HELPERS
#define GK_SPARSE_MOMENTS_HELPERS
/* A sparse column's weight (the CSC and CSR kernels): a column stored in every row
 * counts its values' weight (0 exactly for one of NaN only, where total - nan_w could
 * leave a rounding residue), any other the total less its NaN weight; *implicit gets
 * the weight of its implicit zeros. */
GK_INLINE double gk_sparse_count(int full, double stored, double nan_w, double total,
                                 double *implicit)
{
    const double n = full ? stored : total - nan_w;
    *implicit = full ? 0.0 : n - stored;
    return n;
}

/* M2 of a sparse column (n > 0) from its stored values' sums about mu, c1 = sum w (x -
 * mu) and s2 = sum w (x - mu)^2: the implicit zeros (weight imp, deviation -mu) added,
 * then the compensation -c1^2 / n; never negative. */
GK_INLINE double gk_sparse_m2(double c1, double s2, double imp, double mu, double n)
{
    c1 -= imp * mu;
    s2 += imp * mu * mu;
    const double r = s2 - c1 * c1 / n;
    return r > 0.0 ? r : 0.0;
}
#endif

/* gk_csc_col_moments: each column by one thread (so any thread count gives the same
 * bits), in three short passes over its values (they stay in L1): the NaN weight, the
 * stored weight and the shift; the shifted sum (the mean); the deviations' sum and sum
 * of squares.  The formulas are those of the dense NaN-aware path (gradkit/_scaler.py):
 * implicit zeros enter with their total weight. */
static int GK_SP(csc_col_moments)(const T *data, const GK_SIDX *indptr,
                                 const GK_SIDX *indices, const double *w, gk_index rows,
                                 gk_index cols, double total, double *count, double *mean,
                                 double *m2)
{
    int nt = gk_threads_for(indptr[cols] + cols);
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 16) if(nt > 1)
    for (gk_index j = 0; j < cols; ++j) {
        gk_index p0 = indptr[j], p1 = indptr[j + 1];
        double nan_w = 0.0, stored = 0.0, shift = 0.0;
        int seen = 0;
        for (gk_index p = p0; p < p1; ++p) {
            double v = (double)data[p], wp = GK_CSC_W(p);
            if (v != v) {
                nan_w += wp;
            } else {
                stored += wp;
                if (!seen) shift = v, seen = 1;
            }
        }
        int full = p1 - p0 == rows;             /* no implicit zeros */
        double implicit;
        double n = gk_sparse_count(full, stored, nan_w, total, &implicit);
        if (!full) shift = 0.0;                 /* implicit zeros: about 0 */
        if (!(n > 0.0)) {
            count[j] = 0.0, mean[j] = 0.0, m2[j] = 0.0;
            continue;
        }
        double s1, c1, s2;
        GK_CSC_SUM(s1, v - shift, shift);
        double mu = shift + s1 / n;
        GK_CSC_SUM(c1, v - mu, mu);
        GK_CSC_SUM(s2, (v - mu) * (v - mu), mu);
        count[j] = n, mean[j] = mu, m2[j] = gk_sparse_m2(c1, s2, implicit, mu, n);
    }
    return GK_OK;
}
#undef GK_CSC_SUM
#undef GK_CSC_W

/* gk_csr_col_moments: fixed row tasks (at most GK_MAX_TASKS, each of at least 2**16
 * stored values, fewer for a wide matrix: their per-column partials must fit the task
 * scratch), each summing its rows in order into its own per-column partials; two
 * passes.  The first gives each task's NaN weight, stored weight, stored count and sum
 * about its own first value of the column (f + s / weight: a constant column's task
 * mean is its value exactly); the task means, then the implicit zeros (mean 0), are
 * merged in task order with Chan's update of the mean.  The second sums the deviations
 * from that mean and their squares, added in task order. */
#define GK_CSR_NPART 6
#define GK_CSR_PASS(BODY) do { \
        _Pragma("omp parallel for num_threads(nt) schedule(static) if(nt > 1)") \
        for (gk_index t = 0; t < ntask; ++t) { \
            double *pt = part + (size_t)t * GK_CSR_NPART * cols; \
            for (gk_index e = 0; e < GK_CSR_NPART * cols; ++e) pt[e] = 0.0; \
            gk_index i0 = gk_task_begin(t, ntask, rows); \
            gk_index i1 = gk_task_begin(t + 1, ntask, rows); \
            for (gk_index i = i0; i < i1; ++i) { \
                double wi = w ? w[i] : 1.0; \
                gk_index pe = indptr[i + 1]; \
                for (gk_index p = indptr[i]; p < pe; ++p) { \
                    double *q = pt + GK_CSR_NPART * (gk_index)indices[p]; \
                    double v = (double)data[p]; \
                    BODY \
                } \
            } \
        } \
    } while (0)

static int GK_SP(csr_col_moments)(const T *data, const GK_SIDX *indptr,
                                 const GK_SIDX *indices, const double *w, gk_index rows,
                                 gk_index cols, double total, double *count, double *mean,
                                 double *m2)
{
    gk_index nnz = indptr[rows];
    gk_index ntask = gk_tasks(nnz >> 16, GK_CSR_NPART * cols + 1);
    /* per task and column (interleaved: a column's partials share a cache line):
     * q[0] NaN weight, q[1] stored weight, q[2] NaN values, q[3] sum w (x - q[4]), q[4]
     * the task's first value, q[5] the non-NaN values (q[2] + q[5] tells a column
     * stored in every row) */
    double *part = (double *)malloc(sizeof(double) * (size_t)(GK_CSR_NPART * cols * ntask));
    double *implicit = (double *)malloc(sizeof(double) * (size_t)cols);
    if (!part || !implicit) {
        free(part), free(implicit);
        return GK_ENOMEM;
    }
    int nt = gk_threads_for(nnz + cols);
    GK_CSR_PASS(
        if (v != v) {
            q[0] += wi;
            q[2] += 1.0;
        } else {
            if (q[5] == 0.0) q[4] = v;   /* the task's first value */
            q[5] += 1.0;
            q[1] += wi;
            q[3] += (v - q[4]) * wi;
        });
    for (gk_index j = 0; j < cols; ++j) {
        double nan_w = 0.0, st = 0.0, ne = 0.0, mu = 0.0, wsum = 0.0;
        for (gk_index t = 0; t < ntask; ++t) {
            const double *q = part + ((size_t)t * cols + j) * GK_CSR_NPART;
            nan_w += q[0], st += q[1], ne += q[2] + q[5];
            if (q[1] > 0.0) {   /* Chan: the task's mean into the running one */
                double mt = q[4] + q[3] / q[1];
                wsum += q[1];
                mu = wsum == q[1] ? mt : mu + (mt - mu) * (q[1] / wsum);
            }
        }
        double imp;
        double n = gk_sparse_count(ne == (double)rows, st, nan_w, total, &imp);
        if (imp > 0.0) {        /* the implicit zeros, mean 0 */
            wsum += imp;
            mu = wsum == imp ? 0.0 : mu + (0.0 - mu) * (imp / wsum);
        }
        count[j] = n > 0.0 ? n : 0.0;
        mean[j] = n > 0.0 ? mu : 0.0;
        implicit[j] = imp;
    }
    /* q[0] = sum w (x - mean), q[1] = sum w (x - mean)^2 */
    GK_CSR_PASS(
        if (v == v) {
            double d = v - mean[indices[p]];
            q[0] += d * wi;
            q[1] += d * d * wi;
        });
    for (gk_index j = 0; j < cols; ++j) {
        double c1 = 0.0, s2 = 0.0;
        for (gk_index t = 0; t < ntask; ++t) {
            const double *q = part + ((size_t)t * cols + j) * GK_CSR_NPART;
            c1 += q[0], s2 += q[1];
        }
        double n = count[j];
        m2[j] = n > 0.0 ? gk_sparse_m2(c1, s2, implicit[j], mean[j], n) : 0.0;
    }
    free(part), free(implicit);
    return GK_OK;
}
#undef GK_CSR_PASS
#undef GK_CSR_NPART

