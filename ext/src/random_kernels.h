/* The random family's per-ISA table (see kernels.h). */
#ifndef GK_RANDOM_KERNELS_H
#define GK_RANDOM_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"

/* Precomputed parameters of a truncated normal (random_api.c). */
typedef struct {
    double mean, std;     /* of the parent normal */
    double lo, hi;        /* absolute bounds, as clamps against rounding */
    double pa, span;      /* Phi(a'), Phi(b') - Phi(a') of the (possibly flipped) bounds */
    double sign;          /* -1 when the draw is made on [-b', -a'] and negated */
} gk_trunc_params;

typedef struct {
    void (*bits32)(uint32_t *out, gk_index n, uint32_t k0, uint32_t k1, uint64_t w0);
    void (*uniform_f32)(float *out, gk_index n, float low, float span, float below_high,
                        float high, uint32_t k0, uint32_t k1, uint64_t w0);
    void (*uniform_f64)(double *out, gk_index n, double low, double span, double below_high,
                        double high, uint32_t k0, uint32_t k1, uint64_t w0);
    void (*normal_f32)(float *out, gk_index n, float mean, float std, uint32_t k0,
                       uint32_t k1, uint64_t w0);
    void (*normal_f64)(double *out, gk_index n, double mean, double std, uint32_t k0,
                       uint32_t k1, uint64_t w0);
    void (*trunc_normal_f32)(float *out, gk_index n, const gk_trunc_params *tp, uint32_t k0,
                             uint32_t k1, uint64_t w0);
    void (*trunc_normal_f64)(double *out, gk_index n, const gk_trunc_params *tp,
                             uint32_t k0, uint32_t k1, uint64_t w0);
    void (*integers)(int64_t *out, gk_index n, int64_t low, uint64_t range, uint32_t k0,
                     uint32_t k1, uint64_t w0);
    /* value everywhere but elements k * dstep, k < ndiag, which get dvalue */
    void (*fill_f32)(float *out, gk_index n, float value, gk_index dstep, gk_index ndiag,
                     float dvalue);
    void (*fill_f64)(double *out, gk_index n, double value, gk_index dstep, gk_index ndiag,
                     double dvalue);
    /* q = gain Q from the normal draws a (m x n, m >= n >= 1; a is overwritten), the
     * BLAS on one thread (random_haar.h); -1 when scratch memory could not be had */
    int (*haar_q_f64)(double *a, gk_index m, gk_index n, double gain, double *q,
                      gk_dgemm_fn dgemm);
} gk_random_table;

#endif
