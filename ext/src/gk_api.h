/* Argument checks of the public entry points (*_api.c).  A failed check returns the
 * status naming what is wrong and the argument at fault: GK_ARG_##arg is the id of the
 * parameter (or option field) `arg` (include/gradkit/common.h), so the name checked and
 * the name reported are one token and cannot disagree (so `arg` is a parameter's name,
 * never an expression: for an element, GK_CHECK(p[i] != NULL, GK_ENULL, p)). */
#ifndef GK_API_H
#define GK_API_H
#include "gradkit/common.h"

#define GK_CHECK(cond, kind, arg) \
    do { if (!(cond)) return GK_ERROR(kind, GK_ARG_##arg); } while (0)
/* a size or count >= 0 */
#define GK_CHECK_SIZE(n) GK_CHECK((n) >= 0, GK_ESIZE, n)
/* a pointer that must not be NULL */
#define GK_CHECK_PTR(p) GK_CHECK((p) != NULL, GK_ENULL, p)
/* a pointer that must not be NULL when `needed` */
#define GK_CHECK_PTR_IF(needed, p) GK_CHECK(!(needed) || (p) != NULL, GK_ENULL, p)
/* a value in its domain (`cond` false for NaN) */
#define GK_CHECK_VALUE(cond, arg) GK_CHECK(cond, GK_EVALUE, arg)
/* pass a nonzero status on */
#define GK_RETURN_IF(status) do { int s_ = (status); if (s_) return s_; } while (0)

#endif
