/* Finite-difference helpers for gradient checking, compiled once per ISA. */
#include <string.h>
#include "gk_internal.h"
#include "gradcheck_kernels.h"

#define GK_TMPL_A "gradcheck_tmpl.h"
#include "gk_each_dtype.h"

static void difference(const double *loss, const double *step, gk_index k, double *g)
{
    for (gk_index j = 0; j < k; ++j)
        g[j] = (loss[j] - loss[k + j]) / step[j];
}

const gk_gradcheck_table GK_ISA_SYM(gk_gradcheck_table) = {
    .stack_f32 = stack_f32, .stack_dir_f32 = stack_dir_f32,
    .stack_f64 = stack_f64, .stack_dir_f64 = stack_dir_f64,
    .difference = difference,
};
