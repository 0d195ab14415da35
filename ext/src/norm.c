/* Normalization kernels (LayerNorm, RMSNorm, BatchNorm), compiled once per ISA. */
#include "reduce.h"
#include "norm_kernels.h"

#define GK_TMPL_A "norm_tmpl.h"
#define GK_TMPL_B "batch_norm_tmpl.h"
#include "gk_each_dtype.h"

#define GK_NORM_ENTRIES(SFX) \
    .layer_norm_fwd_##SFX = layer_norm_fwd_##SFX, \
    .layer_norm_bwd_##SFX = layer_norm_bwd_##SFX, \
    .rms_norm_fwd_##SFX = rms_norm_fwd_##SFX, \
    .rms_norm_bwd_##SFX = rms_norm_bwd_##SFX, \
    .batch_norm_fwd_##SFX = batch_norm_fwd_##SFX, \
    .batch_norm_bwd_##SFX = batch_norm_bwd_##SFX,

const gk_norm_table GK_ISA_SYM(gk_norm_table) = {
    GK_NORM_ENTRIES(f32)
    GK_NORM_ENTRIES(f64)
};
