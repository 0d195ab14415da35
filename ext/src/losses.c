/* Loss kernels (softmax cross-entropy, distillation KL, MSE), compiled once per ISA. */
#include "reduce.h"
#include "gk_exp.h"
#include "losses_kernels.h"

/* sum of n doubles with the fixed 16-lane grouping over GK_CHUNK chunks: the order of
 * the row losses' sum depends only on n, never on the threads */
static double gk_sum_doubles(const double *v, gk_index n)
{
    double s = 0.0;
    for (gk_index c = 0; c < n; c += GK_CHUNK) {
        gk_index len = n - c < GK_CHUNK ? n - c : GK_CHUNK;
        double acc[GK_LANES] = {0};
        gk_index j = 0;
        for (; j + GK_LANES <= len; j += GK_LANES)
            for (int k = 0; k < GK_LANES; ++k)
                acc[k] += v[c + j + k];
        for (int k = 0; j + k < len; ++k)
            acc[k] += v[c + j + k];
        s += gk_fold16(acc);
    }
    return s;
}

#define T float
#define SFX f32
#define GK_EXPNEG gk_exp_neg_f32
#define GK_TI int32_t
#include "losses_tmpl.h"
#undef T
#undef SFX
#undef GK_EXPNEG
#undef GK_TI

#define T double
#define SFX f64
#define GK_EXPNEG gk_exp_neg_f64
#define GK_TI int64_t
#include "losses_tmpl.h"
#undef T
#undef SFX
#undef GK_EXPNEG
#undef GK_TI

#define GK_LOSSES_ENTRIES(SFX) \
    .softmax_xent_##SFX = softmax_xent_##SFX, \
    .kl_div_##SFX = kl_div_##SFX, \
    .mse_##SFX = mse_##SFX,

const gk_losses_table GK_ISA_SYM(gk_losses_table) = {
    GK_LOSSES_ENTRIES(f32)
    GK_LOSSES_ENTRIES(f64)
};
