/* Dropout kernels over Philox4x32-10, compiled once per ISA.  Tiles of GK_TILE
 * elements (a multiple of 8, so a tile owns whole mask bytes) are fixed by the element
 * index and threads take whole tiles: the output never depends on the thread count.
 * The mask code is dropout_span.h's, shared with the fused norm kernels. */
#include "gk_internal.h"
#include "philox_bulk.h"
#include "dropout_span.h"
#include "dropout_kernels.h"

#define GK_TILE GK_DROPOUT_SPAN  /* a tile is one span of dropout_span.h */

/* An output of at least gk_get_stream_min_bytes(), not over its input and 32-byte aligned
 * (tiles and chunks start at multiples of 8 elements, so every vector store is then
 * aligned) is written with non-temporal stores, as the case's probe does. */
static inline int drop_stream(size_t bytes, const void *y, const void *x)
{
#if defined(__AVX2__)
    return gk_stream_output(bytes, y, x, NULL) && ((uintptr_t)y & 31) == 0;
#else
    (void)bytes, (void)y, (void)x;
    return 0;
#endif
}

#define GK_TMPL_A "dropout_span_tmpl.h"
#define GK_TMPL_B "dropout_tmpl.h"
#include "gk_each_dtype.h"

const gk_dropout_table GK_ISA_SYM(gk_dropout_table) = {
    .fwd_f32 = dropout_fwd_f32,
    .bwd_f32 = dropout_bwd_f32,
    .path_fwd_f32 = drop_path_fwd_f32,
    .path_bwd_f32 = drop_path_bwd_f32,
    .fwd_f64 = dropout_fwd_f64,
    .bwd_f64 = dropout_bwd_f64,
    .path_fwd_f64 = drop_path_fwd_f64,
    .path_bwd_f64 = drop_path_bwd_f64,
};
