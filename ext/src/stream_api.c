/* Public entry points of the roofline probe. */
#include "gk_internal.h"
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

