/* Dropout kernels over Philox4x32-10, compiled once per ISA.  Tiles of GK_TILE
 * elements (a multiple of 8, so a tile owns whole mask bytes) are fixed by the element
 * index and threads take whole tiles: the output never depends on the thread count. */
#include "gk_internal.h"
#include "philox_bulk.h"
#include "dropout_span.h"
#include "dropout_kernels.h"

#define GK_TILE GK_DROPOUT_SPAN  /* a tile is one span of dropout_span.h */

#define GK_TMPL_A "dropout_span_tmpl.h"
#define GK_TMPL_B "dropout_tmpl.h"
#include "gk_each_dtype.h"

const gk_dropout_table GK_ISA_SYM(gk_dropout_table) = {
    .fwd_f32 = dropout_fwd_f32,
    .bwd_f32 = dropout_bwd_f32,
    .fwd_f64 = dropout_fwd_f64,
    .bwd_f64 = dropout_bwd_f64,
};
