/* Public entry points of the roofline probe. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "stream_kernels.h"

GK_DEFINE_TABLE_GETTER(stream)

/* ---- roofline probe --------------------------------------------------------------- */
double gk_stream_scale(double *a, gk_index n, int reps)
{
    return stream_table()->scale(a, n, reps);
}

double gk_stream_copy(const double *a, double *b, gk_index n, int reps)
{
    return stream_table()->copy(a, b, n, reps);
}


uint64_t gk_probe_streams(const void *const *reads, const size_t *read_bytes, int n_reads,
                          void *const *writes, const size_t *write_bytes, int n_writes,
                          gk_index count, gk_index work, int store, int schedule)
{
    if (n_reads < 0 || n_writes < 0 || count < 1 || (n_reads && (!reads || !read_bytes))
        || (n_writes && (!writes || !write_bytes)))
        return 0;
    return stream_table()->probe(reads, read_bytes, n_reads, writes, write_bytes, n_writes,
                                 count, work, store, schedule);
}

/* ---- 16-bit storage conversions ---------------------------------------------------- */
int gk_convert(const void *src, int src_dtype, void *dst, int dst_dtype, gk_index n)
{
    GK_CHECK_SIZE(n);
    GK_CHECK_PTR_IF(n > 0, src);
    GK_CHECK_PTR_IF(n > 0, dst);
    const int half_in = src_dtype == GK_DTYPE_F16 || src_dtype == GK_DTYPE_BF16;
    const int half_out = dst_dtype == GK_DTYPE_F16 || dst_dtype == GK_DTYPE_BF16;
    if (!(half_in ? dst_dtype == GK_DTYPE_F32 : src_dtype == GK_DTYPE_F32))
        return GK_ERROR(GK_EDTYPE, GK_ARG_src_dtype);
    if (!(half_in || half_out))
        return GK_ERROR(GK_EDTYPE, GK_ARG_dst_dtype);
    if (n == 0)
        return GK_OK;
    if (half_in)
        stream_table()->half_to_f32(src_dtype == GK_DTYPE_BF16, (const uint16_t *)src,
                                    (float *)dst, n);
    else
        stream_table()->f32_to_half(dst_dtype == GK_DTYPE_BF16, (const float *)src,
                                    (uint16_t *)dst, n);
    return GK_OK;
}

const char *gk_half_path(void)
{
    const gk_stream_table *t = stream_table();  /* chooses the table and gk_bf16_hw_flag */
    return t->half_path_hw_bf16 && gk_bf16_hw_flag ? t->half_path_hw_bf16 : t->half_path;
}
