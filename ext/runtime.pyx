# cython: language_level=3
"""Threads, build facts and the roofline probe (gradkit._ext.runtime)."""
cimport numpy as cnp
cimport _cgradkit as c
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
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


def get_stream_min_bytes():
    return c.gk_get_stream_min_bytes()


def llc_bytes():
    """The last-level cache the OS reports, in bytes (0: none reported)."""
    return c.gk_llc_bytes()


def half_path():
    """How this build and CPU convert float16/bfloat16 (gk_half_path)."""
    return c.gk_half_path().decode()


def convert(cnp.ndarray src, int src_code, cnp.ndarray dst, int dst_code):
    """src (GK_DTYPE_* code src_code) converted into dst (dst_code), one of them float32
    and the other float16/bfloat16 (gk_convert).  Both C-contiguous, aligned, of the
    same size and itemsize matching their codes, dst writable and distinct from src; the
    caller (gradkit._validation) has matched the dtypes to the codes.  GIL released."""
    cdef int err
    cdef Py_ssize_t n = cnp.PyArray_SIZE(src)
    for a, code, name in ((src, src_code, "src"), (dst, dst_code, "dst")):
        if not (a.flags.c_contiguous and a.flags.aligned):
            raise ValueError(f"{name} must be C-contiguous and aligned")
        if a.dtype.itemsize != (4 if code == c.GK_DTYPE_F32 else 2):
            raise TypeError(f"{name}: itemsize {a.dtype.itemsize} does not match its code")
    if cnp.PyArray_SIZE(dst) != n:
        raise ValueError(f"dst has {cnp.PyArray_SIZE(dst)} elements, expected {n}")
    if not dst.flags.writeable:
        raise ValueError("dst is read-only")
    if n and _np.shares_memory(src, dst):
        raise ValueError("dst overlaps src")
    cdef const void *ps = cnp.PyArray_DATA(src)
    cdef void *pd = cnp.PyArray_DATA(dst)
    with nogil:
        err = c.gk_convert(ps, src_code, pd, dst_code, n)
    if err:
        raise (TypeError if c.gk_error_kind(err) == c.GK_EDTYPE else ValueError)(
            f"gk_convert: {c.gk_arg_name(c.gk_error_arg(err)).decode()} (status {err})")


include "_stream_threshold.pxi"


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


def probe_streams(reads, writes, Py_ssize_t work, int store=-1, int schedule=0,
                  Py_ssize_t count=1):
    """One pass over the streams of a benchmark case, with no arithmetic (the per-case
    limit of ``gradkit bench``; gk_probe_streams in common.h).

    Reads every array of ``reads`` and writes every array of ``writes`` (C-contiguous;
    streams of different lengths are walked side by side in proportion; an array in
    both lists is updated in place), on the threads a kernel of ``work`` elements would
    use.  ``store``: 1 non-temporal, 0 ordinary, -1 what the kernels choose, 2 what a
    constant fill chooses (string stores in cache, non-temporal past twice the
    streaming size).  ``schedule``: 0 every stream side by side, a few vectors of each
    in turn; 1 phased, each 2 KiB step's inputs read first, then the step walked.
    ``count`` > 1: ``reads`` and ``writes`` hold ``count`` positions in turn (position
    p's streams are ``reads[p * n : (p + 1) * n]`` with ``n = len(reads) // count``),
    walked in one parallel region, as a multi-tensor kernel walks a list.  GIL
    released."""
    if count < 1 or len(reads) % count or len(writes) % count:
        raise ValueError("probe_streams: count must divide the numbers of reads and writes")
    cdef int n_in = len(reads) // count, n_out = len(writes) // count
    cdef Py_ssize_t k, total_in = len(reads), total_out = len(writes)
    cdef uint64_t word
    if n_in > 16 or n_out > 16:
        raise ValueError("probe_streams: at most 16 reads and 16 writes per position")
    if n_in + n_out == 0:
        raise ValueError("probe_streams: no stream")
    for k, a in enumerate(list(reads) + list(writes)):
        if not isinstance(a, _np.ndarray) or not a.flags.c_contiguous:
            raise TypeError("probe_streams: streams must be C-contiguous arrays")
        if k >= total_in and not a.flags.writeable:
            raise ValueError("probe_streams: written streams must be writeable")
    # the pointers and sizes in one malloc'd block (NumPy arrays here cost microseconds
    # per call, timed as part of a small case's limit)
    cdef Py_ssize_t total = total_in + total_out
    cdef void **ptrs = <void **>malloc(sizeof(void *) * total + sizeof(size_t) * total)
    if ptrs == NULL:
        raise MemoryError()
    cdef size_t *sizes = <size_t *>(ptrs + total)
    try:
        for k in range(total):
            a = reads[k] if k < total_in else writes[k - total_in]
            ptrs[k] = cnp.PyArray_DATA(a)
            sizes[k] = a.nbytes
        with nogil:
            word = c.gk_probe_streams(<const void *const *>ptrs, sizes, n_in, ptrs + total_in,
                                      sizes + total_in, n_out, count, work, store, schedule)
    finally:
        free(ptrs)
    return word


# ---- output buffers ---------------------------------------------------------------------
# Fresh memory costs: the first write to each page of a new 32 MiB array faults it in and
# the kernel zeroes it, which takes longer (~3-4 ms here) than a LayerNorm over it.  So
# large outputs come from a small cache of freed blocks: when an array made by empty()
# (and every view of it) is gone, its block goes back to the cache, and the next output of
# that size reuses the already-mapped pages.  Only blocks of >= MIN_CACHED_BYTES are
# cached, at most the limit in all (gradkit.set_cache_limit, GRADKIT_CACHE_MB; 0 turns the
# cache off); the sizes freed longest ago make room for a block that does not fit.
# Blocks handed out are reported to tracemalloc (domain TRACEMALLOC_DOMAIN), as NumPy
# reports its own data; the free blocks held are what cache_info() reports.
from cpython.ref cimport PyObject, PyTypeObject, Py_INCREF
from libc.stdint cimport uintptr_t
from operator import index as _index
import numpy as _np

cdef extern from "Python.h":
    int PyTraceMalloc_Track(unsigned int domain, uintptr_t ptr, size_t size)
    int PyTraceMalloc_Untrack(unsigned int domain, uintptr_t ptr)
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "numpy/arrayobject.h":
    ctypedef struct PyArray_Descr
    PyTypeObject PyArray_Type
    # the dtype whole (byte order, user dtypes such as bfloat16); steals a reference to it
    object PyArray_NewFromDescr(PyTypeObject *subtype, PyArray_Descr *descr, int nd,
                                cnp.npy_intp *dims, cnp.npy_intp *strides, void *data,
                                int flags, PyObject *obj)

# Block allocation, chosen at compile time by what the platform has: posix_memalign
# (POSIX) or _aligned_malloc (Windows), else malloc with the alignment done by hand
# (GRADKIT_GENERIC_ALLOC forces that path, so a Linux build can test it).  Where Linux's
# transparent huge pages exist, blocks are 2 MiB aligned and advised MADV_HUGEPAGE: fewer,
# cheaper faults on first touch; elsewhere they are cache-line aligned.
cdef extern from *:
    """
    #include <stdint.h>
    #include <stdlib.h>
    #if defined(__linux__) && !defined(GRADKIT_GENERIC_ALLOC)
    #include <sys/mman.h>
    #endif
    #if defined(MADV_HUGEPAGE)
    #define GK_BLOCK_ALIGN ((size_t)1 << 21)
    #define GK_BLOCK_ADVICE " + madvise(MADV_HUGEPAGE)"
    static void gk_block_advise(void *p, size_t n) { (void)madvise(p, n, MADV_HUGEPAGE); }
    #else
    #define GK_BLOCK_ALIGN ((size_t)64)
    #define GK_BLOCK_ADVICE ""
    static void gk_block_advise(void *p, size_t n) { (void)p; (void)n; }
    #endif

    #if defined(_WIN32) && !defined(GRADKIT_GENERIC_ALLOC)
    #include <malloc.h>
    #define GK_BLOCK_ALLOCATOR "_aligned_malloc"
    static void *gk_block_alloc(size_t n) { return _aligned_malloc(n, GK_BLOCK_ALIGN); }
    static void gk_block_free(void *p) { _aligned_free(p); }
    #elif (defined(__unix__) || defined(__APPLE__)) && !defined(GRADKIT_GENERIC_ALLOC)
    #define GK_BLOCK_ALLOCATOR "posix_memalign"
    static void *gk_block_alloc(size_t n)
    {
        void *p = NULL;
        return posix_memalign(&p, GK_BLOCK_ALIGN, n) == 0 ? p : NULL;
    }
    static void gk_block_free(void *p) { free(p); }
    #else
    /* malloc'ed with room to align; the pointer malloc gave sits just before the block
     * (there are >= sizeof(void *) bytes: malloc's result is pointer-aligned and the
     * block starts past it) */
    #define GK_BLOCK_ALLOCATOR "malloc"
    static void *gk_block_alloc(size_t n)
    {
        if (n > SIZE_MAX - GK_BLOCK_ALIGN)
            return NULL;
        char *raw = (char *)malloc(n + GK_BLOCK_ALIGN);
        if (raw == NULL)
            return NULL;
        uintptr_t at = ((uintptr_t)raw + GK_BLOCK_ALIGN) & ~(uintptr_t)(GK_BLOCK_ALIGN - 1);
        ((void **)at)[-1] = raw;
        return (void *)at;
    }
    static void gk_block_free(void *p) { if (p) free(((void **)p)[-1]); }
    #endif
    """
    const size_t GK_BLOCK_ALIGN
    const char *GK_BLOCK_ALLOCATOR
    const char *GK_BLOCK_ADVICE
    void *gk_block_alloc(size_t n) nogil
    void gk_block_free(void *p) nogil
    void gk_block_advise(void *p, size_t n) nogil

MIN_CACHED_BYTES = 1 << 20      # smaller outputs are plain np.empty
BLOCK_GRAIN = 1 << 16           # block sizes are rounded up to this, so near sizes share
DEFAULT_CACHE_MB = 256
TRACEMALLOC_DOMAIN = 0x67726b   # "grk": tracemalloc.DomainFilter picks gradkit's blocks
ALLOCATOR = (GK_BLOCK_ALLOCATOR + GK_BLOCK_ADVICE).decode()
cdef enum:
    _MAX_DIMS = 64              # NPY_MAXDIMS of NumPy 2; more dims go to np.empty

cdef Py_ssize_t _MIN_CACHED = MIN_CACHED_BYTES
cdef Py_ssize_t _GRAIN = BLOCK_GRAIN
cdef unsigned int _DOMAIN = TRACEMALLOC_DOMAIN
cdef dict _free_blocks = {}          # rounded size -> list of addresses
cdef Py_ssize_t _cached_bytes = 0, _cached_blocks = 0
cdef Py_ssize_t _in_use_bytes = 0, _in_use_blocks = 0
cdef Py_ssize_t _hits = 0, _misses = 0
cdef Py_ssize_t _cache_limit = DEFAULT_CACHE_MB << 20  # gradkit._config applies the env


cdef class _Block:
    """Owns one block; the arrays made on it hold it as their base."""
    cdef void *ptr
    cdef Py_ssize_t nbytes

    def __dealloc__(self):
        global _cached_bytes, _cached_blocks, _in_use_bytes, _in_use_blocks
        if self.ptr == NULL:
            return
        PyTraceMalloc_Untrack(_DOMAIN, <uintptr_t>self.ptr)
        _in_use_bytes -= self.nbytes
        _in_use_blocks -= 1
        # (_free_blocks is None once the module is torn down at exit)
        if _free_blocks is not None and self.nbytes <= _cache_limit:
            _keep(self.ptr, self.nbytes)
        else:
            gk_block_free(self.ptr)


cdef void _keep(void *ptr, Py_ssize_t nbytes) noexcept:
    """Hold a freed block for reuse.  Its size becomes the most recently freed one, and
    blocks of the sizes freed longest ago are let go until it fits under the limit:
    outputs whose shape a program stopped using must not fill the cache and turn every
    output of the shape it uses now into fresh memory."""
    global _cached_bytes, _cached_blocks
    blocks = _free_blocks.pop(nbytes, None)
    if blocks is None:
        blocks = []
    blocks.append(<size_t>ptr)
    _free_blocks[nbytes] = blocks       # dicts keep insertion order: last = newest
    _cached_bytes += nbytes
    _cached_blocks += 1
    _evict_above(_cache_limit)


cdef void _evict_above(Py_ssize_t limit) noexcept:
    """Free cached blocks, the least recently freed size first, until at most ``limit``
    bytes are held."""
    global _cached_bytes, _cached_blocks
    cdef Py_ssize_t size
    while _cached_bytes > limit and _free_blocks:
        size = next(iter(_free_blocks))
        blocks = _free_blocks[size]
        gk_block_free(<void *><size_t>blocks.pop(0))
        _cached_bytes -= size
        _cached_blocks -= 1
        if not blocks:
            del _free_blocks[size]


cdef _Block _take(Py_ssize_t nbytes):
    """A block of nbytes: a cached one of that size, else a fresh one."""
    global _cached_bytes, _cached_blocks, _in_use_bytes, _in_use_blocks, _hits, _misses
    cdef _Block block = _Block.__new__(_Block)     # first: nothing to leak if it fails
    cdef list blocks = _free_blocks.get(nbytes)
    cdef void *p = NULL
    if blocks:
        p = <void *><size_t>blocks.pop()
        if not blocks:
            del _free_blocks[nbytes]
        _cached_bytes -= nbytes
        _cached_blocks -= 1
        _hits += 1
    else:
        p = gk_block_alloc(<size_t>nbytes)
        if p == NULL:
            raise MemoryError(f"gradkit: could not allocate {nbytes} bytes")
        gk_block_advise(p, <size_t>nbytes)
        _misses += 1
    block.ptr = p
    block.nbytes = nbytes
    _in_use_bytes += nbytes
    _in_use_blocks += 1
    PyTraceMalloc_Track(_DOMAIN, <uintptr_t>p, <size_t>nbytes)
    return block


def empty(shape, dtype):
    """An uninitialized C-contiguous array like ``np.empty(shape, dtype)``; large ones
    (>= MIN_CACHED_BYTES) reuse the memory of freed gradkit outputs (see the note
    above)."""
    dt = _np.dtype(dtype)
    if type(shape) is not tuple:
        try:
            shape = (_index(shape),)
        except TypeError:
            shape = tuple(shape)
    cdef int nd = len(shape), k
    if nd > _MAX_DIMS or _cache_limit <= 0:
        return _np.empty(shape, dt)
    cdef cnp.npy_intp dims[_MAX_DIMS]
    cdef Py_ssize_t d, count = 1
    for k in range(nd):
        try:
            d = shape[k]
        except (TypeError, OverflowError):
            return _np.empty(shape, dt)     # NumPy says what is wrong with it
        if d < 0 or (d > 0 and count > PY_SSIZE_T_MAX // d):
            return _np.empty(shape, dt)
        dims[k] = <cnp.npy_intp>d
        count *= d
    cdef Py_ssize_t itemsize = dt.itemsize
    if itemsize == 0 or count > (PY_SSIZE_T_MAX - _GRAIN) // itemsize:
        return _np.empty(shape, dt)
    cdef Py_ssize_t nbytes = count * itemsize
    if nbytes < _MIN_CACHED:
        return _np.empty(shape, dt)
    cdef _Block block = _take((nbytes + _GRAIN - 1) // _GRAIN * _GRAIN)
    Py_INCREF(dt)
    arr = PyArray_NewFromDescr(&PyArray_Type, <PyArray_Descr *><PyObject *>dt, nd, dims,
                               NULL, block.ptr, cnp.NPY_ARRAY_CARRAY, NULL)
    cnp.set_array_base(arr, block)
    return arr


def cache_info():
    """The cache's state as a dict (gradkit.cache_info documents the keys)."""
    return {
        "limit_bytes": _cache_limit,
        "cached_bytes": _cached_bytes,
        "cached_blocks": _cached_blocks,
        "in_use_bytes": _in_use_bytes,
        "in_use_blocks": _in_use_blocks,
        "hits": _hits,
        "misses": _misses,
        "min_block_bytes": MIN_CACHED_BYTES,
        "allocator": ALLOCATOR,
        "tracemalloc_domain": TRACEMALLOC_DOMAIN,
    }


def set_cache_limit(Py_ssize_t nbytes):
    """Hold at most `nbytes` of freed output blocks, freeing what is above (0 empties
    and disables the cache).  Checked by gradkit.set_cache_limit."""
    global _cache_limit, _cached_bytes, _cached_blocks
    _cache_limit = nbytes
    _evict_above(_cache_limit)
