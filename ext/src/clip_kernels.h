/* The clip family's per-ISA table (see kernels.h).  The drivers take a whole list of
 * arrays (pointers, per-array dtype codes, sizes); arguments are validated by
 * clip_api.c. */
#ifndef GK_CLIP_KERNELS_H
#define GK_CLIP_KERNELS_H
#include "gradkit/common.h"

typedef struct {
    int (*grad_norm)(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                     gk_index narrays, double norm_type, double *per_array, double *total);
    int (*grad_scale)(void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays, double coef);
    int (*grad_clamp)(void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays, double clip_value);
    int (*unscale_check)(void *const *arrays, const int *dtypes, const gk_index *sizes,
                         gk_index narrays, float inv_scale, int *found_inf);
} gk_clip_table;

#endif
