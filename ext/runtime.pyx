# cython: language_level=3
"""Threads, build facts and the roofline probe (gradkit._ext.runtime)."""
cimport numpy as cnp
cimport _cgradkit as c
cnp.import_array()


def get_num_threads():
    return c.gk_get_num_threads()


def set_num_threads(int n):
    c.gk_set_num_threads(n)


def have_openmp():
    return bool(c.gk_have_openmp())


def simd_level():
    return c.gk_simd_level().decode()


def simd_compiled():
    return c.gk_simd_compiled().decode().split(",")


def stream_scale(cnp.ndarray[cnp.float64_t, ndim=1, mode="c"] a, int reps):
    """Best seconds of `reps` runs of a[i] = s*a[i] + t (GIL released)."""
    cdef double t
    cdef double *p = <double *>cnp.PyArray_DATA(a)
    cdef Py_ssize_t n = a.shape[0]
    with nogil:
        t = c.gk_stream_scale(p, n, reps)
    return t


def stream_copy(cnp.ndarray[cnp.float64_t, ndim=1, mode="c"] a,
                cnp.ndarray[cnp.float64_t, ndim=1, mode="c"] b, int reps):
    """Best seconds of `reps` runs of b[i] = a[i] (GIL released)."""
    cdef double t
    cdef double *pa = <double *>cnp.PyArray_DATA(a)
    cdef double *pb = <double *>cnp.PyArray_DATA(b)
    cdef Py_ssize_t n = min(a.shape[0], b.shape[0])
    with nogil:
        t = c.gk_stream_copy(pa, pb, n, reps)
    return t
