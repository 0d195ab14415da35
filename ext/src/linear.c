/* Matrix products of the linear layer, compiled once per ISA: gradkit's tiles of fused
 * multiply-adds where the table has FMA (fma_tiles.h), BLAS gemm on the baseline
 * table. */
#include "gk_internal.h"
#include "gk_gemm.h"
#include "fma_tiles.h"
#include "linear_kernels.h"

static inline gk_sgemm_fn lin_gemm_of_f32(const gk_blas_fns *b) { return b->sgemm; }
static inline gk_dgemm_fn lin_gemm_of_f64(const gk_blas_fns *b) { return b->dgemm; }

#define GK_TMPL_A "linear_tmpl.h"
#include "gk_each_dtype.h"

#define GK_LINEAR_ENTRIES(SFX) GK_KERNEL(matmul, SFX)
GK_DEFINE_ISA_TABLE(linear, GK_LINEAR_ENTRIES, );
