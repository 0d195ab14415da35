/* LayerNorm and RMSNorm, the fused add + dropout + norm, and BatchNorm with the split
 * steps of a synchronized BatchNorm, in float16 and bfloat16 storage (norm_tmpl.h,
 * norm_fused_tmpl.h and batch_norm_tmpl.h on TS = uint16_t, float32 arithmetic),
 * compiled once per ISA.  A translation unit of its own, apart from
 * norm.c's float32/float64 kernels: the build compiles the two in parallel, and the 16-bit
 * instantiations take fewer variants (GK_HALF in norm_tmpl.h), so they add little to the
 * build's CPU time. */
#include <string.h>
#include "reduce.h"
#include "dropout_span_half.h"
#include "norm_kernels.h"

#define GK_TMPL_HALF_A "norm_tmpl.h"
#define GK_TMPL_HALF_B "norm_fused_tmpl.h"  /* after norm_tmpl.h: uses its row functions */
#define GK_TMPL_HALF_C "batch_norm_tmpl.h"
#include "gk_each_dtype.h"

#define GK_NORM_HALF_ENTRIES(SFX) \
    GK_KERNEL(layer_norm_fwd, SFX) GK_KERNEL(layer_norm_bwd, SFX) \
    GK_KERNEL(rms_norm_fwd, SFX) GK_KERNEL(rms_norm_bwd, SFX) \
    GK_KERNEL(add_dropout_norm_fwd, SFX) GK_KERNEL(add_dropout_norm_bwd, SFX) \
    GK_KERNEL(batch_norm_fwd, SFX) GK_KERNEL(batch_norm_bwd, SFX) \
    GK_KERNEL(batch_norm_stats, SFX) GK_KERNEL(batch_norm_elemt, SFX) \
    GK_KERNEL(batch_norm_backward_reduce, SFX) GK_KERNEL(batch_norm_backward_elemt, SFX)
GK_DEFINE_HALF_ISA_TABLE(norm_half, GK_NORM_HALF_ENTRIES);
