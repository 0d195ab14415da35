/* Instantiates a family's templates once per float dtype.  A family file defines
 * GK_TMPL_A (and GK_TMPL_B, GK_TMPL_C when it has more) to the template's file name and includes
 * this header once; each dtype then gets reduce_tmpl.h (when reduce.h is included)
 * and the templates, with
 *   T         the element type (float, double)
 *   SFX       its suffix, for GK_T names (f32, f64)
 *   GK_TI     the signed integer type of T's width, GK_TI_MAX its largest value
 *   SQRT      T's square root
 * defined while they are read.  Everything is undefined afterwards.  No include guard:
 * the header includes itself, once per dtype. */
#ifndef GK_EACH_DTYPE_PASS
#define GK_EACH_DTYPE_PASS

#define T float
#define SFX f32
#define GK_TI int32_t
#define GK_TI_MAX INT32_MAX
#define SQRT sqrtf
#include "gk_each_dtype.h"
#undef T
#undef SFX
#undef GK_TI
#undef GK_TI_MAX
#undef SQRT

#define T double
#define SFX f64
#define GK_TI int64_t
#define GK_TI_MAX INT64_MAX
#define SQRT sqrt
#include "gk_each_dtype.h"
#undef T
#undef SFX
#undef GK_TI
#undef GK_TI_MAX
#undef SQRT

#undef GK_TMPL_A
#undef GK_TMPL_B
#undef GK_TMPL_C
#undef GK_EACH_DTYPE_PASS

#else  /* one dtype */
#ifdef GK_REDUCE_H
#include "reduce_tmpl.h"
#endif
#include GK_TMPL_A
#ifdef GK_TMPL_B
#include GK_TMPL_B
#endif
#ifdef GK_TMPL_C
#include GK_TMPL_C
#endif
#endif
