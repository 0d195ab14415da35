/* Normalization kernels (LayerNorm, RMSNorm, BatchNorm), compiled once per ISA; their
 * float16/bfloat16 instantiations are in norm_half.c. */
#include "reduce.h"
#include "dropout_span.h"
#include "norm_kernels.h"

#define GK_TMPL_A "norm_tmpl.h"
#define GK_TMPL_B "batch_norm_tmpl.h"
#define GK_TMPL_C "norm_fused_tmpl.h"  /* after norm_tmpl.h: uses its row functions */
#include "gk_each_dtype.h"

#define GK_NORM_ENTRIES(SFX) \
    GK_KERNEL(layer_norm_fwd, SFX) GK_KERNEL(layer_norm_bwd, SFX) \
    GK_KERNEL(rms_norm_fwd, SFX) GK_KERNEL(rms_norm_bwd, SFX) \
    GK_KERNEL(batch_norm_fwd, SFX) GK_KERNEL(batch_norm_bwd, SFX) \
    GK_KERNEL(add_dropout_norm_fwd, SFX) GK_KERNEL(add_dropout_norm_bwd, SFX) \
    GK_KERNEL(batch_norm_stats, SFX) GK_KERNEL(batch_norm_gather, SFX) \
    GK_KERNEL(batch_norm_elemt, SFX) GK_KERNEL(batch_norm_backward_reduce, SFX) \
    GK_KERNEL(batch_norm_backward_elemt, SFX)
#define GK_NORM_COMMON .batch_norm_merge = gk_bn_merge,
GK_DEFINE_ISA_TABLE(norm, GK_NORM_ENTRIES, GK_NORM_COMMON);
