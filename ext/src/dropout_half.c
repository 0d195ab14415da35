/* Dropout kernels in 16-bit storage (float16, bfloat16), compiled once per ISA in a
 * translation unit of their own (compile time: dropout.c stays float32/float64).  The
 * tile loops are dropout_tmpl.h's, the spans dropout_span_half_tmpl.h's: the same mask
 * as float32 (a function of the element index and the stream only), the product
 * computed in float32 on the exactly widened input and rounded once. */
#include "gk_internal.h"
#include "reduce.h"
#include "philox_bulk.h"
#include "dropout_span_half.h"
#include "dropout_kernels.h"

#define GK_TILE GK_DROPOUT_SPAN  /* a tile is one span of dropout_span.h */

/* An output of at least gk_get_stream_min_bytes() and not over its input is streamed,
 * as the float32 kernels do, when y is aligned to a vector of 16-bit storage (spans
 * start at multiples of 8 elements, so every vector store is then aligned).  The
 * baseline build streams 8 bytes at a time (movnti), as gk_stream_hs does. */
static inline int drop_stream_half(size_t bytes, const void *y, const void *x)
{
    return gk_stream_output(bytes, y, x, NULL) && ((uintptr_t)y % (GK_TVBYTES / 2)) == 0;
}

#define GK_TMPL_HALF_A "dropout_span_half_tmpl.h"
#define GK_TMPL_HALF_B "dropout_tmpl.h"
#include "gk_each_dtype.h"

#define GK_DROPOUT_HALF_ENTRIES(SFX) \
    GK_ENTRY(fwd, dropout_fwd, SFX) GK_ENTRY(bwd, dropout_bwd, SFX) \
    GK_ENTRY(path_fwd, drop_path_fwd, SFX) GK_ENTRY(path_bwd, drop_path_bwd, SFX)
GK_DEFINE_HALF_ISA_TABLE(dropout_half, GK_DROPOUT_HALF_ENTRIES);
