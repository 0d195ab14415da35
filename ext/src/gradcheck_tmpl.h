/* Perturbed-copy stacks for element type T.  Included by gradcheck.c once per dtype.
 *
 * One thread on purpose: building a stack is a memcpy, bound by memory bandwidth, and
 * the f evaluations that follow usually run their own threads (BLAS); OpenMP workers
 * left spin-waiting after a parallel region took cycles from them (measured: +30% on
 * the harness benchmark with 2 cores, +0% with one thread). */

static void GK_T(stack)(const T *x, gk_index n, const int64_t *idx, const double *h,
                        gk_index k, T *stack, double *step)
{
    for (gk_index c = 0; c < 2 * k; ++c) {
        gk_index j = c < k ? c : c - k;
        T *dst = stack + c * n;
        memcpy(dst, x, sizeof(T) * (size_t)n);
        T xi = x[idx[j]];
        T moved = c < k ? (T)((double)xi + h[j]) : (T)((double)xi - h[j]);
        dst[idx[j]] = moved;
    }
    for (gk_index j = 0; j < k; ++j) {
        T xi = x[idx[j]];
        step[j] = (double)(T)((double)xi + h[j]) - (double)(T)((double)xi - h[j]);
    }
}

static void GK_T(stack_dir)(const T *x, gk_index n, const T *v, double h, gk_index k,
                            T *stack)
{
    for (gk_index c = 0; c < 2 * k; ++c) {
        gk_index j = c < k ? c : c - k;
        const T *vj = v + j * n;
        T *dst = stack + c * n;
        T hs = (T)(c < k ? h : -h);
        for (gk_index i = 0; i < n; ++i)
            dst[i] = x[i] + hs * vj[i];
    }
}
