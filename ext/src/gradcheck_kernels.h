/* The gradcheck family's per-ISA table (see kernels.h). */
#ifndef GK_GRADCHECK_KERNELS_H
#define GK_GRADCHECK_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"

#define GK_GRADCHECK_SIGS(T, SFX) \
    void (*stack_##SFX)(const T *x, gk_index n, const int64_t *idx, const double *h, \
                        gk_index k, T *stack, double *step); \
    void (*stack_dir_##SFX)(const T *x, gk_index n, const T *v, double h, gk_index k, \
                            T *stack);

typedef struct {
    GK_GRADCHECK_SIGS(float, f32)
    GK_GRADCHECK_SIGS(double, f64)
    void (*difference)(const double *loss, const double *step, gk_index k, double *g);
} gk_gradcheck_table;

#endif
