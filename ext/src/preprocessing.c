/* Preprocessing kernels (column statistics, centring, standardization), compiled once
 * per ISA. */
#include "reduce.h"
#include "fma_tiles.h"
#include "preprocessing_kernels.h"

/* Rows per statistics chunk: about 4096 elements, so a chunk's second pass reads it from
 * L1/L2.  Depends on the width only. */
static gk_index pp_chunk_rows(gk_index cols)
{
    gk_index r = 4096 / (cols > 0 ? cols : 1);
    return r < 1 ? 1 : r;
}

/* The same merge for a lower scatter matrix s (cols x cols) instead of M2: the mean as
 * in gk_chan_merge, s_a += (n_a n_b / n) d d^T (s_b is added by the caller). */
static void merge_mean_scatter(gk_index n_a, double *mean_a, double *s_a, gk_index n_b,
                               const double *mean_b, gk_index cols)
{
    if (n_b == 0) return;
    if (n_a == 0) {
        for (gk_index j = 0; j < cols; ++j) mean_a[j] = mean_b[j];
        return;
    }
    double n = (double)(n_a + n_b);
    double f = (double)n_b / n, g = (double)n_a * f;
    if (s_a) {
        int nt = gk_threads_for(cols * cols / 2);
        #pragma omp parallel for num_threads(nt) schedule(static, 8) if(nt > 1)
        for (gk_index i = 0; i < cols; ++i) {
            double gdi = g * (mean_b[i] - mean_a[i]);
            double *GK_RESTRICT si = s_a + i * cols;
            for (gk_index j = 0; j <= i; ++j)
                si[j] += gdi * (mean_b[j] - mean_a[j]);
        }
    }
    for (gk_index j = 0; j < cols; ++j)
        mean_a[j] += (mean_b[j] - mean_a[j]) * f;
}

/* Chan's merge, column by column with weighted counts, of group b (nb, mb, qb) into
 * group a (na, ma, qa): a column of b with count 0 changes nothing; into a column of a
 * with count 0, b is copied. */
static void pp_wchan(gk_index cols, double *GK_RESTRICT na, double *GK_RESTRICT ma,
                     double *GK_RESTRICT qa, const double *GK_RESTRICT nb,
                     const double *GK_RESTRICT mb, const double *GK_RESTRICT qb)
{
    for (gk_index j = 0; j < cols; ++j) {
        if (!(nb[j] > 0.0)) continue;
        if (!(na[j] > 0.0)) {
            na[j] = nb[j], ma[j] = mb[j], qa[j] = qb[j];
            continue;
        }
        double n = na[j] + nb[j], f = nb[j] / n, d = mb[j] - ma[j];
        ma[j] += d * f;
        qa[j] += qb[j] + d * d * (na[j] * f);
        na[j] = n;
    }
}

/* Rows per BLAS chunk: about 2**18 elements, so a centred chunk stays in L2/L3 while
 * syrk reads it, but at least 512 rows: each syrk call also reads and writes its
 * cols x cols sums, which for a wide chunk must stay small next to its arithmetic.
 * Depends on the width only. */
static gk_index pp_blas_chunk_rows(gk_index cols)
{
    gk_index r = ((gk_index)1 << 18) / (cols > 0 ? cols : 1);
    return r < 512 ? 512 : r;
}

/* Rows per projection chunk: more for a wide m, whose packing by gemm is repeated for
 * every chunk (at most 2**20 elements).  Depends on the shape only. */
static gk_index pp_project_chunk_rows(gk_index cols, gk_index k)
{
    gk_index e = k * 1024;
    e = e < ((gk_index)1 << 18) ? ((gk_index)1 << 18) : e > ((gk_index)1 << 20) ? ((gk_index)1 << 20) : e;
    gk_index r = e / (cols > 0 ? cols : 1);
    return r < 1 ? 1 : r;
}

/* Tasks of the scatter: each merges a cols x cols matrix into the total, so a task
 * holds at least 8 * cols rows (the merge is then a few % of its syrk).  Depends on the
 * shape only. */
static gk_index pp_scatter_tasks(gk_index rows, gk_index cols)
{
    gk_index chunk = pp_blas_chunk_rows(cols);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    gk_index t = rows / (8 * (cols > 0 ? cols : 1));
    if (t > nchunk) t = nchunk;
    return gk_tasks(t, 0);
}

/* The largest ratio n (mean - shift)^2 / M2 of a column for which a task's scatter about
 * a shift is kept: its correction then cancels at most a factor 1 + ratio of the
 * rounding of the shifted sums (float32 sums: one more bit; float64: ~3 digits of 16).
 * Above it (data whose mean drifts within a task) the task is redone with each chunk
 * centred on its own mean. */
#define PP_SHIFT_RATIO_F32 1.0
#define PP_SHIFT_RATIO_F64 1e3

#define GK_TMPL_A "preprocessing_tmpl.h"
#include "gk_each_dtype.h"

#define GK_PREPROCESSING_ENTRIES(SFX) \
    GK_KERNEL(col_moments, SFX) GK_KERNEL(center, SFX) GK_KERNEL(scatter, SFX) \
    GK_KERNEL(project, SFX) GK_KERNEL(project_t, SFX) GK_KERNEL(standardize, SFX) \
    GK_KERNEL(csc_col_moments, SFX) GK_KERNEL(csr_col_moments, SFX) \
    GK_KERNEL(csc_col_moments_i32, SFX) GK_KERNEL(csr_col_moments_i32, SFX) \
    GK_KERNEL(col_moments_weighted, SFX)
#define GK_PREPROCESSING_COMMON \
    .merge_mean_scatter = merge_mean_scatter, .scatter_tasks = pp_scatter_tasks,
GK_DEFINE_ISA_TABLE(preprocessing, GK_PREPROCESSING_ENTRIES, GK_PREPROCESSING_COMMON);
