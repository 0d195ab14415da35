# Declarations of the C core's common part (include/gradkit/common.h).
# Each family has its own _c_<family>.pxd.
cdef extern from "gradkit/common.h" nogil:
    ctypedef Py_ssize_t gk_index
    int GK_OK, GK_ENULL, GK_ESIZE, GK_EVALUE, GK_ENOMEM

    int gk_get_num_threads()
    void gk_set_num_threads(int n)
    int gk_have_openmp()
    const char *gk_simd_level()
    const char *gk_simd_compiled()

    double gk_stream_scale(double *a, gk_index n, int reps)
    double gk_stream_copy(const double *a, double *b, gk_index n, int reps)
