/* The regularization family's per-ISA table (see kernels.h). */
#ifndef GK_REGULARIZATION_KERNELS_H
#define GK_REGULARIZATION_KERNELS_H
#include "gradkit/regularization.h"

#define GK_REG_SIGS(T, SFX) \
    int (*sum_squares_##SFX)(gk_index count, const T *const *x, const gk_index *size, \
                             double *out); \
    int (*sum_abs_##SFX)(gk_index count, const T *const *x, const gk_index *size, \
                         double *out); \
    int (*add_l2_##SFX)(gk_index count, T *const *grad, const T *const *param, \
                        const gk_index *size, double lam); \
    int (*add_l1_##SFX)(gk_index count, T *const *grad, const T *const *param, \
                        const gk_index *size, double lam);

typedef struct {
    GK_REG_SIGS(float, f32)
    GK_REG_SIGS(double, f64)
    GK_REG_SIGS(uint16_t, f16)   /* 16-bit storage (gk_half.h), float32 arithmetic */
    GK_REG_SIGS(uint16_t, bf16)
} gk_regularization_table;

#endif
