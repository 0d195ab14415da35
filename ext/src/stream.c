/* STREAM-like probe of this machine's memory roofline, measured in the same run as the
 * benchmarks it scores (DESIGN.md, "Performance").  Compiled per ISA like the kernels so
 * it uses the same vector width. */
#include "gk_internal.h"
#include "stream_kernels.h"

static double stream_scale(double *a, gk_index n, int reps)
{
    int nt = gk_threads_for(n);
    double best = 1e300;
    const double s = 0.999999, t = 1e-7;
    for (int r = 0; r < reps; ++r) {
        double t0 = gk_wall_seconds();
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index i = 0; i < n; ++i)
            a[i] = s * a[i] + t;
        double dt = gk_wall_seconds() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

static double stream_copy(const double *a, double *b, gk_index n, int reps)
{
    int nt = gk_threads_for(n);
    double best = 1e300;
    for (int r = 0; r < reps; ++r) {
        double t0 = gk_wall_seconds();
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index i = 0; i < n; ++i)
            b[i] = a[i];
        double dt = gk_wall_seconds() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

const gk_stream_table GK_ISA_SYM(gk_stream_table) = {
    .scale = stream_scale,
    .copy = stream_copy,
};
