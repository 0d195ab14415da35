/* gradkit preprocessing kernels: mergeable column statistics and fused standardization
 * (see gradkit.h for the conventions).  Statistics are accumulated in double whatever
 * the data type, over fixed row chunks that depend only on the shape, merged in a fixed
 * order (Chan, Golub & LeVeque), so they are bitwise identical for every thread count. */
#ifndef GRADKIT_PREPROCESSING_H
#define GRADKIT_PREPROCESSING_H
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Column mean and centred sum of squares of x (rows x cols):
 * mean[j] = sum_i x_ij / rows, m2[j] = sum_i (x_ij - mean[j])^2 (both double, length
 * cols).  rows >= 1. */
int gk_col_moments_f32(const float *x, gk_index rows, gk_index cols, double *mean,
                       double *m2);
int gk_col_moments_f64(const double *x, gk_index rows, gk_index cols, double *mean,
                       double *m2);

/* Column statistics of x (rows x cols) that leave out NaN values and weigh the rows:
 * w (length rows, finite, >= 0) or NULL (weight 1).  Per column, over the rows whose
 * value is not NaN: count[j] = sum w, mean[j] = sum w x / count, m2[j] = sum w (x -
 * mean)^2 (double; 0, 0, 0 for a column with count 0).  gk_col_moments' structure: fixed
 * row chunks, each centred on its first non-NaN value (so a constant column gives its
 * value and m2 = 0 exactly), its weighted mean and sum of squares from two passes over
 * the chunk while it is in cache, chunks and then tasks merged in order with Chan's
 * update (per column, with the weighted counts): bitwise the same for every thread
 * count and ISA.  Infinity gives NaN or infinity in its column's statistics. */
int gk_col_moments_weighted_f32(const float *x, gk_index rows, gk_index cols,
                                const double *w, double *count, double *mean, double *m2);
int gk_col_moments_weighted_f64(const double *x, gk_index rows, gk_index cols,
                                const double *w, double *count, double *mean, double *m2);

/* Column statistics of a sparse rows x cols matrix.  Compressed-column form (csc):
 * column j's stored values are data[indptr[j]] .. data[indptr[j + 1] - 1], indices
 * their rows (needed only with w); compressed-row form (csr): row i's stored values are
 * data[indptr[i]] .. data[indptr[i + 1] - 1], indices their columns.  No duplicates;
 * every other entry is an implicit zero.  NaN values are ignored.  w (length rows,
 * finite, >= 0) weighs the rows, or is NULL (weight 1); total is the sum of all rows'
 * weights (rows when w is NULL).  Per column, over the rows whose entry is not NaN
 * (implicit zeros included): count[j] = their weight (total less the NaN values'
 * weights; for a column stored in every row, the sum of its non-NaN values' weights),
 * mean[j] = sum w x / count, m2[j] = sum w (x - mean)^2; 0 for a column with count 0.
 * Computed as gradkit's dense kernels are: about a shift (a column's first value, in
 * row order, if it is stored in every row, else 0), the sum of squares corrected by the
 * deviations' sum.  csc: each column by one thread, its values in order in four
 * interleaved partial sums; csr: fixed row tasks (a function of the shape and nnz),
 * each summing its rows in order into per-column partials that are added in task
 * order.  Both are bitwise the same for every thread count and ISA (not the same bits
 * as each other).  indptr must be nondecreasing from 0, with at most cols (csr) or
 * rows (csc) values per line, and indices inside the matrix (GK_EVALUE otherwise). */
int gk_csc_col_moments_f32(const float *data, const gk_index *indptr,
                           const gk_index *indices, const double *w, gk_index rows,
                           gk_index cols, double total, double *count, double *mean,
                           double *m2);
int gk_csc_col_moments_f64(const double *data, const gk_index *indptr,
                           const gk_index *indices, const double *w, gk_index rows,
                           gk_index cols, double total, double *count, double *mean,
                           double *m2);
int gk_csr_col_moments_f32(const float *data, const gk_index *indptr,
                           const gk_index *indices, const double *w, gk_index rows,
                           gk_index cols, double total, double *count, double *mean,
                           double *m2);
int gk_csr_col_moments_f64(const double *data, const gk_index *indptr,
                           const gk_index *indices, const double *w, gk_index rows,
                           gk_index cols, double total, double *count, double *mean,
                           double *m2);
/* The same four with int32_t indptr and indices (scipy.sparse's own index dtype for
 * fewer than 2**31 stored values), read as they are: the same checks and the same
 * bits as the gk_index forms. */
int gk_csc_col_moments_i32_f32(const float *data, const int32_t *indptr,
                               const int32_t *indices, const double *w, gk_index rows,
                               gk_index cols, double total, double *count, double *mean,
                               double *m2);
int gk_csc_col_moments_i32_f64(const double *data, const int32_t *indptr,
                               const int32_t *indices, const double *w, gk_index rows,
                               gk_index cols, double total, double *count, double *mean,
                               double *m2);
int gk_csr_col_moments_i32_f32(const float *data, const int32_t *indptr,
                               const int32_t *indices, const double *w, gk_index rows,
                               gk_index cols, double total, double *count, double *mean,
                               double *m2);
int gk_csr_col_moments_i32_f64(const double *data, const int32_t *indptr,
                               const int32_t *indices, const double *w, gk_index rows,
                               gk_index cols, double total, double *count, double *mean,
                               double *m2);

/* Centred double copy of x (rows x cols): xc = x - mu.  If mean_in is NULL, mu is the
 * column mean of x (written to mean_out when that is not NULL); otherwise mu = mean_in
 * (mean_in may be NULL only when rows >= 1).  *nonfinite (if not NULL) is set to 1
 * when x holds a NaN or an infinity, else 0. */
int gk_center_f32(const float *x, gk_index rows, gk_index cols, const double *mean_in,
                  double *mean_out, double *xc, int *nonfinite);
int gk_center_f64(const double *x, gk_index rows, gk_index cols, const double *mean_in,
                  double *mean_out, double *xc, int *nonfinite);

/* Chan's merge of a group b (count n_b, mean mean_b) into group a (count n_a, mean
 * mean_a, scatter s_a, cols x cols, C order, lower triangle i >= j): mean_a becomes the
 * merged mean and s_a gets the between-group term (n_a n_b / n) d d^T, d = mean_b -
 * mean_a, added to its lower triangle.  The caller then adds b's own scatter.  s_a may
 * be NULL (means only). */
int gk_merge_mean_scatter(gk_index n_a, double *mean_a, double *s_a, gk_index n_b,
                          const double *mean_b, gk_index cols);

/* Tasks gk_scatter splits rows x cols data into: a function of the shape only (at most
 * 64, each of at least a few chunks). */
gk_index gk_scatter_tasks(gk_index rows, gk_index cols);

/* Count-rows statistics of x in one read: mean (cols, double) and the centred scatter
 * sum_i (x_i - mean)(x_i - mean)^T into the lower triangle (i >= j) of s (cols x cols,
 * C order, double; the upper triangle is left as it was).  Fixed row chunks (about
 * 2**18 elements) are centred on their own mean (in double) into a buffer of x's type
 * that stays in cache, their scatter is a BLAS syrk of that type (float32 data: ssyrk,
 * so a chunk's scatter carries float32 rounding; chunks are summed in double), and they
 * are merged with Chan's update, chunk by chunk within each of gk_scatter_tasks() tasks
 * (run in parallel), then task by task in order: bitwise the same for any thread
 * count.  rows >= 1. */
int gk_scatter_f32(const float *x, gk_index rows, gk_index cols, double *mean, double *s,
                   const gk_blas_fns *blas, int *nonfinite);
int gk_scatter_f64(const double *x, gk_index rows, gk_index cols, double *mean, double *s,
                   const gk_blas_fns *blas, int *nonfinite);

/* y = (x - mean) m for m (cols x k, C order, x's type), y (rows x k, x's type): each
 * fixed row chunk is centred (in double, rounded to x's type) into a cache-resident
 * buffer and multiplied by BLAS gemm of x's type writing y, chunks in parallel: one
 * read of x, one write of y.  x is read as bytes (row by row into the buffer), so it
 * may lie at any address, aligned to its elements or not. */
int gk_project_f32(const float *x, gk_index rows, gk_index cols, const double *mean,
                   const float *m, gk_index k, float *y, const gk_blas_fns *blas,
                   int *nonfinite);
int gk_project_f64(const double *x, gk_index rows, gk_index cols, const double *mean,
                   const double *m, gk_index k, double *y, const gk_blas_fns *blas,
                   int *nonfinite);

/* y = (x - mean)^T m for m (rows x k, C order, x's type), y (cols x k, C order, x's
 * type): the transposed projection, a reduction over the rows.  Fixed row chunks (those
 * of gk_project) are centred into a cache-resident buffer and multiplied by BLAS gemm of
 * x's type; each chunk's product is added in double to its task's partial sums, tasks
 * (a fixed partition of the chunks) run in parallel and are summed in task order, and
 * the sum is rounded once to x's type: bitwise the same for any thread count.  One
 * read of x (at any address, as in gk_project).  rows = 0 gives y = 0. */
int gk_project_t_f32(const float *x, gk_index rows, gk_index cols, const double *mean,
                     const float *m, gk_index k, float *y, const gk_blas_fns *blas,
                     int *nonfinite);
int gk_project_t_f64(const double *x, gk_index rows, gk_index cols, const double *mean,
                     const double *m, gk_index k, double *y, const gk_blas_fns *blas,
                     int *nonfinite);

/* y = (x - mean) / scale per column, computed in double and rounded once (the
 * division correctly rounded: by FMAs from 1 / scale where that is proven to give the
 * division's bits, else divided); mean and/or scale may be NULL (no centring / no
 * scaling; neither: a copy of the bits).  y may be x.  A large y not written over x is
 * stored with non-temporal stores.  *nonfinite as in gk_center.  x may lie at any
 * address: one not aligned to its elements is read as bytes, a few KiB at a time into
 * an aligned buffer (no T pointer into it, no copy of the whole array); y (and x when
 * y is x) must be aligned to its elements. */
int gk_standardize_f32(const float *x, float *y, gk_index rows, gk_index cols,
                       const double *mean, const double *scale, int *nonfinite);
int gk_standardize_f64(const double *x, double *y, gk_index rows, gk_index cols,
                       const double *mean, const double *scale, int *nonfinite);

#ifdef __cplusplus
}
#endif
#endif
