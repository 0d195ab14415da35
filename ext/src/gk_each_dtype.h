/* Instantiates a family's templates once per float dtype.  A family file defines
 * GK_TMPL_A (and GK_TMPL_B, GK_TMPL_C when it has more) to the template's file name and includes
 * this header once; each dtype then gets reduce_tmpl.h (when reduce.h is included)
 * and the templates, with
 *   T         the element type of the arithmetic (float, double)
 *   TS        the storage type of the data arrays (T itself, or uint16_t for 16-bit)
 *   GK_HALF   0, or the 16-bit storage type of TS: 1 float16, 2 bfloat16
 *   SFX       the dtype's suffix, for GK_T names (f32, f64, f16, bf16)
 *   GK_TI     the signed integer type of T's width, GK_TI_MAX its largest value
 *   SQRT      T's square root
 * defined while they are read.  A family that takes 16-bit storage (float32 arithmetic,
 * gk_half.h) also defines GK_TMPL_HALF_A (and GK_TMPL_HALF_B, _C): the templates written on
 * TS that are then instantiated for f16 and bf16 too; they read and write data arrays
 * through the loads and stores of reduce_tmpl.h (ld1/st1, ldtv/sttv, ldv, stream_vec),
 * so one source serves every dtype; a file that defines GK_TMPL_HALF_A without GK_TMPL_A
 * (norm_half.c, dropout_half.c) gets the 16-bit instantiations alone; one that defines
 * GK_EACH_HALF_REDUCE alone gets reduce_tmpl.h's f16 and bf16 instantiations and no
 * template (optim_half.c: Adafactor's sums read from 16-bit storage).  Everything is
 * undefined afterwards.  No include guard: the header includes itself, once per dtype. */
#ifndef GK_EACH_DTYPE_PASS
#define GK_EACH_DTYPE_PASS

#ifdef GK_TMPL_A   /* without it (a file of 16-bit instantiations only): f16 and bf16 */
#define T float
#define TS float
#define GK_HALF 0
#define SFX f32
#define GK_TI int32_t
#define GK_TI_MAX INT32_MAX
#define SQRT sqrtf
#include "gk_each_dtype.h"
#undef T
#undef TS
#undef GK_HALF
#undef SFX
#undef GK_TI
#undef GK_TI_MAX
#undef SQRT

#define T double
#define TS double
#define GK_HALF 0
#define SFX f64
#define GK_TI int64_t
#define GK_TI_MAX INT64_MAX
#define SQRT sqrt
#include "gk_each_dtype.h"
#undef T
#undef TS
#undef GK_HALF
#undef SFX
#undef GK_TI
#undef GK_TI_MAX
#undef SQRT
#endif

#if defined(GK_TMPL_HALF_A) || defined(GK_EACH_HALF_REDUCE)
#define T float
#define TS uint16_t
#define GK_TI int32_t
#define GK_TI_MAX INT32_MAX
#define SQRT sqrtf
#define GK_HALF 1
#define SFX f16
#include "gk_each_dtype.h"
#undef GK_HALF
#undef SFX
#define GK_HALF 2
#define SFX bf16
#include "gk_each_dtype.h"
#undef GK_HALF
#undef SFX
#undef T
#undef TS
#undef GK_TI
#undef GK_TI_MAX
#undef SQRT
#endif

#undef GK_TMPL_A
#undef GK_TMPL_B
#undef GK_TMPL_C
#undef GK_TMPL_HALF_A
#undef GK_TMPL_HALF_B
#undef GK_TMPL_HALF_C
#undef GK_EACH_HALF_REDUCE
#undef GK_EACH_DTYPE_PASS

#else  /* one dtype */
#ifdef GK_REDUCE_H
#include "reduce_tmpl.h"
#endif
#if GK_HALF
#ifdef GK_TMPL_HALF_A
#include GK_TMPL_HALF_A
#endif
#ifdef GK_TMPL_HALF_B
#include GK_TMPL_HALF_B
#endif
#ifdef GK_TMPL_HALF_C
#include GK_TMPL_HALF_C
#endif
#else
#include GK_TMPL_A
#ifdef GK_TMPL_B
#include GK_TMPL_B
#endif
#ifdef GK_TMPL_C
#include GK_TMPL_C
#endif
#endif
#endif
