/* Public entry points of the clip family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "clip_kernels.h"

GK_DEFINE_TABLE_GETTER(clip)

/* every array non-NULL when non-empty, sizes >= 0, dtype codes known (the four float
 * dtypes: 16-bit storage is widened exactly and rounded once) */
static int check_list(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays)
{
    GK_CHECK_SIZE(narrays);
    GK_CHECK_PTR_IF(narrays > 0, arrays);
    GK_CHECK_PTR_IF(narrays > 0, dtypes);
    GK_CHECK_PTR_IF(narrays > 0, sizes);
    for (gk_index i = 0; i < narrays; ++i) {
        GK_CHECK(sizes[i] >= 0, GK_ESIZE, sizes);
        GK_CHECK(dtypes[i] >= GK_DTYPE_F32 && dtypes[i] <= GK_DTYPE_BF16, GK_EDTYPE, dtypes);
        GK_CHECK(sizes[i] == 0 || arrays[i], GK_ENULL, arrays);
    }
    return GK_OK;
}

int gk_grad_norm(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                 gk_index narrays, double norm_type, double *per_array, double *total)
{
    GK_RETURN_IF(check_list(arrays, dtypes, sizes, narrays));
    GK_CHECK_PTR(total);
    GK_CHECK_VALUE(norm_type > 0.0, norm_type);
    return clip_table()->grad_norm(arrays, dtypes, sizes, narrays, norm_type, per_array,
                                   total);
}

int gk_grad_scale_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                   gk_index narrays, double coef)
{
    GK_RETURN_IF(check_list((const void *const *)arrays, dtypes, sizes, narrays));
    return clip_table()->grad_scale(arrays, dtypes, sizes, narrays, coef);
}

int gk_grad_clamp_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                   gk_index narrays, double clip_value)
{
    GK_RETURN_IF(check_list((const void *const *)arrays, dtypes, sizes, narrays));
    GK_CHECK_VALUE(clip_value >= 0.0, clip_value);
    return clip_table()->grad_clamp(arrays, dtypes, sizes, narrays, clip_value);
}

int gk_unscale_check_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays, float inv_scale, int *found_inf)
{
    GK_RETURN_IF(check_list((const void *const *)arrays, dtypes, sizes, narrays));
    GK_CHECK_PTR(found_inf);
    return clip_table()->unscale_check(arrays, dtypes, sizes, narrays, inv_scale,
                                       found_inf);
}
