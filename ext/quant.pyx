# cython: language_level=3
"""Thin wrappers over the C quantization kernels (gradkit._ext.quant).

Callers (gradkit.quant) have validated and allocated everything: x float32/float64, q
int8/uint8, scale float32 and zero_point int32 arrays of one entry per channel; the
(outer, channels, inner) view is given.  These check every array once more, compiled
(_common.pxi), pick the kernel by dtype and release the GIL around it."""
from libc.stdint cimport int8_t, uint8_t, int32_t, uint32_t
cimport numpy as cnp
cimport _c_quant as c
from _cgradkit cimport gk_blas_fns, GK_EVALUE, GK_DTYPE_F32

include "_common.pxi"
include "_blas.pxi"   # the GPTQ lazy updates, the dequantizing matmul, the Gram matrix


def minmax(object x, Py_ssize_t outer, Py_ssize_t channels, Py_ssize_t inner, object mins,
           object maxs):
    """Fills mins/maxs (x's dtype); returns True if x holds a NaN or an infinity."""
    cdef int dt = _float_dtype(x, "x"), err, bad = 0
    cdef const void *px = _in(x, dt, "x", _prod(_prod(outer, channels), inner))
    cdef void *pl = _out(mins, dt, "mins", channels)
    cdef void *ph = _out(maxs, dt, "maxs", channels)
    with nogil:
        err = c.gk_minmax(dt, px, outer, channels, inner, pl, ph, &bad)
    _check(err)
    return bool(bad)


cdef int _qtype(object q, str name) except -1:
    """The NumPy type number of a quantized array: int8 or uint8 (native, whole)."""
    if isinstance(q, cnp.ndarray):
        if _has_type(<cnp.ndarray>q, cnp.NPY_UINT8):
            return cnp.NPY_UINT8
        if _has_type(<cnp.ndarray>q, cnp.NPY_INT8):
            return cnp.NPY_INT8
    raise TypeError(f"{name} must be an int8 or uint8 array, got "
                    f"{getattr(q, 'dtype', type(q).__name__)}")


ctypedef struct _qparams:
    const float *scale
    const int32_t *zero_point


cdef _qparams _params(object scale, object zero_point, Py_ssize_t channels) except *:
    """The checked pointers of scale (float32) and zero_point (int32), one per channel."""
    cdef _qparams p
    p.scale = <const float *>_array(scale, cnp.NPY_FLOAT32, "scale", channels)
    p.zero_point = <const int32_t *>_array(zero_point, cnp.NPY_INT32, "zero_point", channels)
    return p


def quantize(object x, object scale, object zero_point, object q, Py_ssize_t outer,
             Py_ssize_t channels, Py_ssize_t inner):
    cdef int dt = _float_dtype(x, "x"), err
    cdef int qt = _qtype(q, "q")
    cdef Py_ssize_t n = _prod(_prod(outer, channels), inner)
    cdef const void *px = _in(x, dt, "x", n)
    cdef _qparams p = _params(scale, zero_point, channels)
    cdef void *pq = _array(q, qt, "q", n, True)
    with nogil:
        if qt == cnp.NPY_UINT8:
            err = c.gk_quantize_u8(dt, px, p.scale, p.zero_point, <uint8_t *>pq,
                                   outer, channels, inner)
        else:
            err = c.gk_quantize_s8(dt, px, p.scale, p.zero_point, <int8_t *>pq,
                                   outer, channels, inner)
    _check(err)


def dequantize(object q, object scale, object zero_point, object y, Py_ssize_t outer,
               Py_ssize_t channels, Py_ssize_t inner):
    cdef int err
    cdef int qt = _qtype(q, "q")
    cdef Py_ssize_t n = _prod(_prod(outer, channels), inner)
    cdef const void *pq = _array(q, qt, "q", n)
    cdef _qparams p = _params(scale, zero_point, channels)
    cdef float *py = <float *>_array(y, cnp.NPY_FLOAT32, "y", n, True)
    with nogil:
        if qt == cnp.NPY_UINT8:
            err = c.gk_dequantize_u8(<const uint8_t *>pq, p.scale, p.zero_point, py,
                                     outer, channels, inner)
        else:
            err = c.gk_dequantize_s8(<const int8_t *>pq, p.scale, p.zero_point, py,
                                     outer, channels, inner)
    _check(err)


# ---- low-bit weights -------------------------------------------------------------------
cdef inline float *_f32(object a, str name, Py_ssize_t size, bint writable=False,
                        bint optional=False) except? NULL:
    return <float *>_array(a, cnp.NPY_FLOAT32, name, size, writable, optional)


cdef inline uint8_t *_u8(object a, str name, Py_ssize_t size, bint writable=False) except? NULL:
    return <uint8_t *>_array(a, cnp.NPY_UINT8, name, size, writable)


def rtn(object w, int bits, Py_ssize_t group_size, bint sym, object q, object scales,
        object zeros):
    """Round to nearest per group: w (rows, cols) float32 -> q uint8, scales float32,
    zeros uint8 (rows, groups)."""
    cdef Py_ssize_t rows = 0, cols = 0, groups
    _dims2(w, "w", &rows, &cols)
    groups = 0 if cols == 0 or group_size < 1 else (cols + group_size - 1) // group_size
    cdef const float *pw = _f32(w, "w", rows * cols)
    cdef uint8_t *pq = _u8(q, "q", rows * cols, True)
    cdef float *ps = _f32(scales, "scales", rows * groups, True)
    cdef uint8_t *pz = _u8(zeros, "zeros", rows * groups, True)
    cdef int err
    with nogil:
        err = c.gk_rtn_f32(pw, rows, cols, bits, group_size, sym, pq, ps, pz)
    _check(err)


def gptq(object w, object hinv, object col_group, Py_ssize_t groups, int bits, bint sym,
         Py_ssize_t group_size, Py_ssize_t block_size, bint find_params, object q,
         object scales, object zeros):
    """GPTQ's column loop (gk_gptq_f32); w (rows, cols) float32 is used as scratch."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(w, "w", &rows, &cols)
    cdef float *pw = _f32(w, "w", rows * cols, True)
    cdef const float *ph = _f32(hinv, "hinv", cols * cols)
    cdef const int32_t *pg = <const int32_t *>_array(col_group, cnp.NPY_INT32, "col_group",
                                                     cols)
    cdef uint8_t *pq = _u8(q, "q", rows * cols, True)
    cdef float *ps = _f32(scales, "scales", rows * groups, True)
    cdef uint8_t *pz = _u8(zeros, "zeros", rows * groups, True)
    cdef c.gk_gptq_opts o
    o.bits = bits
    o.sym = sym
    o.group_size = group_size
    o.block_size = block_size
    o.find_params = find_params
    cdef int err
    with nogil:
        err = c.gk_gptq_f32(pw, rows, cols, ph, pg, groups, &o, pq, ps, pz, &_BLAS)
    _check(err)


def gptq_hinv(object h, object u):
    """u = the upper Cholesky factor of h^-1 (h float32 (n, n), overwritten); returns
    False when h is not positive definite."""
    cdef Py_ssize_t n = 0, m = 0
    _dims2(h, "h", &n, &m)
    cdef float *ph = _f32(h, "h", n * n, True)
    cdef float *pu = _f32(u, "u", n * n, True)
    cdef int err
    with nogil:
        err = c.gk_gptq_hinv_f32(ph, n, pu, &_BLAS)
    if err != 0 and (err & 0xff) == GK_EVALUE:     # not positive definite
        return False
    _check(err)
    return True


def pack(object q, int bits, object packed):
    """q (rows, cols) uint8 -> packed (rows, bits * ceil(cols / 32)) uint32."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(q, "q", &rows, &cols)
    cdef const uint8_t *pq = _u8(q, "q", rows * cols)
    cdef uint32_t *pp = <uint32_t *>_array(packed, cnp.NPY_UINT32, "packed",
                                           rows * bits * ((cols + 31) // 32), True)
    cdef int err
    with nogil:
        err = c.gk_pack_lowbit(pq, rows, cols, bits, pp)
    _check(err)


def unpack(object packed, int bits, object q):
    """packed -> q (rows, cols) uint8 (q's shape gives rows and cols)."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(q, "q", &rows, &cols)
    cdef const uint32_t *pp = <const uint32_t *>_array(
        packed, cnp.NPY_UINT32, "packed", rows * bits * ((cols + 31) // 32))
    cdef uint8_t *pq = _u8(q, "q", rows * cols, True)
    cdef int err
    with nogil:
        err = c.gk_unpack_lowbit(pp, rows, cols, bits, pq)
    _check(err)


cdef c.gk_qweight _qweight(object packed, object scales, object zeros, object g_idx,
                           Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t group_size,
                           int bits) except *:
    cdef c.gk_qweight qw
    cdef Py_ssize_t groups = 0
    if isinstance(scales, cnp.ndarray) and cnp.PyArray_NDIM(<cnp.ndarray>scales) == 2:
        groups = cnp.PyArray_DIMS(<cnp.ndarray>scales)[1]
    qw.rows = rows
    qw.cols = cols
    qw.groups = groups
    qw.group_size = group_size
    qw.bits = bits
    qw.packed = <const uint32_t *>_array(packed, cnp.NPY_UINT32, "packed",
                                         _prod(rows, bits * ((cols + 31) // 32)))
    qw.scales = _f32(scales, "scales", _prod(rows, groups))
    qw.zeros = _u8(zeros, "zeros", _prod(rows, groups))
    qw.g_idx = <const int32_t *>_array(g_idx, cnp.NPY_INT32, "g_idx", cols, False, True)
    return qw


def dequantize_weight(object packed, object scales, object zeros, object g_idx,
                      Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t group_size, int bits,
                      object out):
    """out (rows, cols) float32 = scales * (q - zeros) of each group."""
    cdef c.gk_qweight qw = _qweight(packed, scales, zeros, g_idx, rows, cols, group_size,
                                    bits)
    cdef float *po = _f32(out, "out", _prod(rows, cols), True)
    cdef int err
    with nogil:
        err = c.gk_dequantize_weight_f32(&qw, po)
    _check(err)


def qlinear(object x, object packed, object scales, object zeros, object g_idx,
            Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t group_size, int bits,
            object bias, object y):
    """y (batch, rows) = x (batch, cols) W^T (+ bias), W dequantized on the fly."""
    cdef c.gk_qweight qw = _qweight(packed, scales, zeros, g_idx, rows, cols, group_size,
                                    bits)
    cdef Py_ssize_t batch = 0, xc = 0
    _dims2(x, "x", &batch, &xc)
    if xc != cols:
        raise ValueError(f"x has {xc} columns, the weight {cols}")
    cdef const float *px = _f32(x, "x", _prod(batch, cols))
    cdef const float *pb = _f32(bias, "bias", rows, False, True)
    cdef float *py = _f32(y, "y", _prod(batch, rows), True)
    cdef int err
    with nogil:
        err = c.gk_qlinear_f32(px, batch, &qw, pb, py, &_BLAS)
    _check(err)


def gram(object x, double alpha, double beta, object h):
    """h (d, d) = beta h + alpha x^T x for x (m, d), full symmetric."""
    cdef Py_ssize_t m = 0, d = 0
    _dims2(x, "x", &m, &d)
    cdef int dt = _float_dtype(x, "x"), err
    cdef const void *px = _in(x, dt, "x", _prod(m, d))
    cdef void *ph = _out(h, dt, "h", _prod(d, d))
    with nogil:
        err = c.gk_gram(dt, px, m, d, alpha, beta, ph, &_BLAS)
    _check(err)


ctypedef fused _real:
    float
    double


cdef void _asym(const _real *h, Py_ssize_t n, double *asym, double *amax) noexcept nogil:
    # 64 x 64 tiles: the transposed element is read from a tile still in cache
    cdef Py_ssize_t i0, j0, i, j, i1, j1
    cdef double a = 0.0, m = 0.0, d, v
    for i0 in range(0, n, 64):
        i1 = min(i0 + 64, n)
        for j0 in range(i0, n, 64):
            j1 = min(j0 + 64, n)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    v = h[i * n + j]
                    d = v - h[j * n + i]
                    if d < 0:
                        d = -d
                    if d > a:
                        a = d
                    if v < 0:
                        v = -v
                    if v > m:
                        m = v
    asym[0] = a
    amax[0] = m


def asymmetry(object h):
    """(max |h - h^T|, max |h| over the upper triangle) of a square float array."""
    cdef Py_ssize_t n = 0, m = 0
    _dims2(h, "h", &n, &m)
    if n != m:
        raise ValueError(f"h must be square, got {n} x {m}")
    cdef int dt = _float_dtype(h, "h")
    cdef const void *ph = _in(h, dt, "h", n * n)
    cdef double a = 0.0, mx = 0.0
    with nogil:
        if dt == GK_DTYPE_F32:
            _asym(<const float *>ph, n, &a, &mx)
        else:
            _asym(<const double *>ph, n, &a, &mx)
    return a, mx
