/* Normalization kernels (LayerNorm, RMSNorm, BatchNorm), compiled once per ISA. */
#include "gk_internal.h"
#include "norm_kernels.h"

#define T float
#define SFX f32
#include "reduce_tmpl.h"
#include "norm_tmpl.h"
#include "batch_norm_tmpl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "reduce_tmpl.h"
#include "norm_tmpl.h"
#include "batch_norm_tmpl.h"
#undef T
#undef SFX

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
