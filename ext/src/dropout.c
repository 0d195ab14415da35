/* Dropout kernels over Philox4x32-10, compiled once per ISA.  Tiles of GK_TILE
 * elements (a multiple of 8, so a tile owns whole mask bytes) are fixed by the element
 * index and threads take whole tiles: the output never depends on the thread count.
 * The mask code is dropout_span.h's, shared with the fused norm kernels. */
#include "gk_internal.h"
#include "philox_bulk.h"
#include "dropout_span.h"
#include "dropout_kernels.h"

#define GK_TILE GK_DROPOUT_SPAN  /* a tile is one span of dropout_span.h */

/* An output of at least gk_get_stream_min_bytes() and not over its input is written with
 * non-temporal stores, as the case's probe does, when the vector stores can be aligned:
 * the forward's vector stores need y aligned to their width, 32 bytes on AVX2 and 64 on
 * AVX-512 (tiles and chunks start at multiples of 16 elements, so every store is then
 * aligned: a 64-byte store 32 bytes past a line writes two half lines, and an 8192x1024
 * float32 forward into such an out= took 3.6 ms against 1.3-1.5 at the other
 * offsets from a line, AMD EPYC (Zen 5) guest); the AVX-512 passes that apply a stored
 * mask or a constant (apply_span_v, `own_align`) align their vectors on y themselves and
 * need it aligned only to its element size.  Otherwise the forward goes through its
 * chunk buffer (gk_nt_run, dropout_tmpl.h). */
static inline int drop_stream(size_t bytes, const void *y, const void *x, int own_align)
{
#if defined(__AVX512F__)
    uintptr_t need = own_align ? 7 : 63;
    return gk_stream_output(bytes, y, x, NULL) && ((uintptr_t)y & need) == 0;
#elif defined(__AVX2__)
    (void)own_align;
    return gk_stream_output(bytes, y, x, NULL) && ((uintptr_t)y & 31) == 0;
#else
    (void)bytes, (void)y, (void)x, (void)own_align;
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
