/*
 * gradkit public C API: include this one header.
 *
 * Every function returns 0 on success and a nonzero GK_E* code on bad arguments (in
 * which case nothing was written).  Kernels run with the library's current OpenMP
 * thread setting, need no Python and no GIL, and are safe to call concurrently.
 * Arrays are C-contiguous.  Results are bitwise identical for every thread count.
 * One header per kernel family; this one includes them all.
 */
#ifndef GRADKIT_GRADKIT_H
#define GRADKIT_GRADKIT_H
#include "gradkit/common.h"
#include "gradkit/norm.h"
#include "gradkit/clip.h"
#include "gradkit/random.h"
#include "gradkit/dropout.h"
#include "gradkit/optim.h"
#include "gradkit/regularization.h"
#include "gradkit/preprocessing.h"
#include "gradkit/losses.h"
#include "gradkit/gradcheck.h"
#include "gradkit/quant.h"
#include "gradkit/linear.h"
#endif
