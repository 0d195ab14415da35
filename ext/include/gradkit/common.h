/*
 * gradkit public C API: types, error codes, threads, build facts.
 *
 * Every function returns 0 on success and a nonzero GK_E* code on bad arguments (in
 * which case nothing was written).  Kernels run with the library's current OpenMP
 * thread setting, need no Python and no GIL, and are safe to call concurrently.
 * Arrays are C-contiguous.  Results are bitwise identical for every thread count.
 */
#ifndef GRADKIT_COMMON_H
#define GRADKIT_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GK_OK 0
#define GK_ENULL 1      /* a required pointer is NULL */
#define GK_ESIZE 2      /* a negative size */
#define GK_EVALUE 3     /* a value out of its domain (eps < 0, p outside [0, 1], ...) */
#define GK_ENOMEM 4     /* scratch memory could not be allocated */

typedef ptrdiff_t gk_index;  /* same width as Py_ssize_t */

/* ---- threads and build facts ------------------------------------------------------ */
int gk_get_num_threads(void);          /* omp_get_max_threads(), 1 without OpenMP */
void gk_set_num_threads(int n);        /* omp_set_num_threads(n) */
int gk_have_openmp(void);
const char *gk_simd_level(void);       /* the kernel table in use: "avx512", "avx2", ... */
const char *gk_simd_compiled(void);    /* the tables built, comma-separated */

/* ---- roofline probe (used by `gradkit bench`) ------------------------------------- */
/* best-of-`reps` seconds for a[i] = s*a[i] + t over n doubles, and for b[i] = a[i] */
double gk_stream_scale(double *a, gk_index n, int reps);
double gk_stream_copy(const double *a, double *b, gk_index n, int reps);

#ifdef __cplusplus
}
#endif
#endif
