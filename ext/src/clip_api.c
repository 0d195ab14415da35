/* Public entry points of the clip family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "kernels.h"
#include "clip_kernels.h"

GK_DEFINE_TABLE_GETTER(clip)

/* every array non-NULL when non-empty, sizes >= 0, dtype codes known */
static int check_list(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays)
{
    if (narrays < 0)
        return GK_ESIZE;
    if (narrays > 0 && (!arrays || !dtypes || !sizes))
        return GK_ENULL;
    for (gk_index i = 0; i < narrays; ++i) {
        if (sizes[i] < 0)
            return GK_ESIZE;
        if (dtypes[i] != GK_DTYPE_F32 && dtypes[i] != GK_DTYPE_F64)
            return GK_EVALUE;
        if (sizes[i] > 0 && !arrays[i])
            return GK_ENULL;
    }
    return GK_OK;
}

int gk_grad_norm(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                 gk_index narrays, double norm_type, double *per_array, double *total)
{
    int err = check_list(arrays, dtypes, sizes, narrays);
    if (err) return err;
    if (!total) return GK_ENULL;
    if (!(norm_type > 0.0)) return GK_EVALUE;
    return clip_table()->grad_norm(arrays, dtypes, sizes, narrays, norm_type, per_array,
                                   total);
}

int gk_grad_scale_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                   gk_index narrays, double coef)
{
    int err = check_list((const void *const *)arrays, dtypes, sizes, narrays);
    if (err) return err;
    return clip_table()->grad_scale(arrays, dtypes, sizes, narrays, coef);
}

int gk_grad_clamp_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                   gk_index narrays, double clip_value)
{
    int err = check_list((const void *const *)arrays, dtypes, sizes, narrays);
    if (err) return err;
    if (!(clip_value >= 0.0)) return GK_EVALUE;
    return clip_table()->grad_clamp(arrays, dtypes, sizes, narrays, clip_value);
}

int gk_unscale_check_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays, float inv_scale, int *found_inf)
{
    int err = check_list((const void *const *)arrays, dtypes, sizes, narrays);
    if (err) return err;
    if (!found_inf) return GK_ENULL;
    return clip_table()->unscale_check(arrays, dtypes, sizes, narrays, inv_scale,
                                       found_inf);
}
