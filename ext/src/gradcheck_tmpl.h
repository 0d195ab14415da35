/* Perturbed-copy stacks for element type T.  Included by gradcheck.c once per dtype.
 * Each copy is independent, so the copies are spread over threads; every element is
 * written by exactly one thread with the same arithmetic, so the stack is the same for
 * any thread count. */

static void GK_T(stack)(const T *x, gk_index n, const int64_t *idx, const double *h,
                        gk_index k, T *stack, double *step)
{
    int nt = gk_threads_for(2 * k * n);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
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
    int nt = gk_threads_for(2 * k * n);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index c = 0; c < 2 * k; ++c) {
        gk_index j = c < k ? c : c - k;
        const T *vj = v + j * n;
        T *dst = stack + c * n;
        T hs = (T)(c < k ? h : -h);
        for (gk_index i = 0; i < n; ++i)
            dst[i] = x[i] + hs * vj[i];
    }
}
