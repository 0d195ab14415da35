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


# ---- output buffers ---------------------------------------------------------------------
# Fresh memory costs: the first write to each page of a new 32 MiB array faults it in and
# the kernel zeroes it, which takes longer (~3-4 ms here) than a LayerNorm over it.  So
# large outputs come from a small cache of freed blocks: when an array made by empty()
# (and every view of it) is gone, its block goes back to the cache, and the next output of
# that size reuses the already-mapped pages.  Only blocks of >= 1 MiB are cached, at most
# `cache_limit` bytes in all (GRADKIT_CACHE_MB, default 256; 0 turns the cache off).
from libc.stdlib cimport free
from libc.string cimport memset
import os as _os
import numpy as _np

cdef extern from "stdlib.h" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)
cdef extern from "sys/mman.h" nogil:
    int madvise(void *addr, size_t length, int advice)
    int MADV_HUGEPAGE

cdef Py_ssize_t _MIN_CACHED = 1 << 20
cdef Py_ssize_t _GRAIN = 1 << 16
cdef dict _free_blocks = {}          # rounded size -> list of addresses
cdef Py_ssize_t _cached_bytes = 0
cdef Py_ssize_t _cache_limit = <Py_ssize_t>(float(_os.environ.get("GRADKIT_CACHE_MB", "256")) * (1 << 20))


cdef class _Block:
    """Owns one cached block; the arrays made on it hold it as their base."""
    cdef void *ptr
    cdef Py_ssize_t nbytes

    def __dealloc__(self):
        global _cached_bytes
        if self.ptr == NULL:
            return
        if _cached_bytes + self.nbytes <= _cache_limit:
            _free_blocks.setdefault(self.nbytes, []).append(<size_t>self.ptr)
            _cached_bytes += self.nbytes
        else:
            free(self.ptr)


cdef void *_take(Py_ssize_t nbytes) except? NULL:
    global _cached_bytes
    cdef list blocks = _free_blocks.get(nbytes)
    cdef void *p = NULL
    if blocks:
        _cached_bytes -= nbytes
        return <void *><size_t>blocks.pop()
    if posix_memalign(&p, 1 << 21, <size_t>nbytes) != 0:
        raise MemoryError(f"gradkit: could not allocate {nbytes} bytes")
    madvise(p, <size_t>nbytes, MADV_HUGEPAGE)  # fewer, cheaper faults on first touch
    return p


def empty(shape, dtype):
    """An uninitialized C-contiguous array like ``np.empty(shape, dtype)``; large ones
    (>= 1 MiB) reuse the memory of freed gradkit outputs (see the note above)."""
    dt = _np.dtype(dtype)
    if type(shape) is not tuple:
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    cdef Py_ssize_t count = 1, k
    for k in range(len(shape)):
        count *= <Py_ssize_t>shape[k]
    cdef Py_ssize_t nbytes = count * dt.itemsize
    if nbytes < _MIN_CACHED or _cache_limit <= 0 or len(shape) > 32:
        return _np.empty(shape, dt)
    cdef Py_ssize_t rounded = (nbytes + _GRAIN - 1) // _GRAIN * _GRAIN
    cdef cnp.npy_intp dims[32]
    for k in range(len(shape)):
        dims[k] = <cnp.npy_intp>shape[k]
    block = _Block()
    block.ptr = _take(rounded)
    block.nbytes = rounded
    arr = cnp.PyArray_SimpleNewFromData(len(shape), dims, dt.num, block.ptr)
    cnp.set_array_base(arr, block)
    return arr


def cache_info():
    """(bytes held in free cached blocks, the limit)."""
    return _cached_bytes, _cache_limit


def set_cache_limit(Py_ssize_t nbytes):
    """Hold at most `nbytes` of freed output blocks (0 empties and disables the cache)."""
    global _cache_limit, _cached_bytes
    _cache_limit = nbytes
    if _cached_bytes > _cache_limit:
        for size, blocks in list(_free_blocks.items()):
            while blocks and _cached_bytes > _cache_limit:
                free(<void *><size_t>blocks.pop())
                _cached_bytes -= size
