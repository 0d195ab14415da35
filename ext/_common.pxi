# Shared by the wrapper modules (included, so each module stays self-contained): the
# compiled checks of the arrays handed to a kernel, the marshaller of Python lists of
# arrays into C pointer arrays, and the map of kernel status codes to exceptions.
#
# The Python layer (gradkit.*) validates and converts first, with messages in its own
# terms; these checks are the last line of defence, so that no call of gradkit._ext can
# make a kernel read or write bytes it misunderstands: every array is checked for its
# whole dtype (byte order included: '>f4' is not float32), C-contiguity, alignment,
# element count and, when written, writability.  They cost a few nanoseconds per array.
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.float cimport PyFloat_AS_DOUBLE
from _cgradkit cimport (gk_index, GK_DTYPE_F32, GK_DTYPE_F64, GK_DTYPE_F16, GK_DTYPE_BF16,
                        GK_ENULL, GK_ESIZE, GK_EVALUE, GK_ENOMEM, GK_EDTYPE, GK_EALIAS, gk_error_kind,
                        gk_error_arg, gk_arg_name)

cnp.import_array()


include "_stream_threshold.pxi"


# ---- status codes -> exceptions ---------------------------------------------------------
# kind -> (exception type, what is wrong with the argument the status names)
_STATUS_KINDS = {
    GK_ENULL: (TypeError, "a required array is missing (NULL)"),
    GK_ESIZE: (ValueError, "a size out of range"),
    GK_EVALUE: (ValueError, "a value outside its domain"),
    GK_ENOMEM: (MemoryError, "the kernel could not allocate its scratch memory"),
    GK_EDTYPE: (TypeError, "an unknown dtype code"),
    GK_EALIAS: (ValueError, "the same memory as another array that must be distinct"),
}


def _status_error(int status):
    """The exception for a nonzero kernel status: its kind (gk_error_kind) picks the
    type, its argument id (gk_error_arg) names the argument, as the C prototype does."""
    kind = gk_error_kind(status)
    exc, what = _STATUS_KINDS.get(kind, (ValueError, f"unknown status kind {kind}"))
    name = gk_arg_name(gk_error_arg(status)).decode()
    if name:
        return exc(f"{name}: {what} (gradkit kernel status {status})")
    return exc(f"gradkit kernel: {what} (status {status})")


cdef inline int _check(int status) except -1:
    """Raise the exception of a kernel's nonzero status."""
    if status != 0:
        raise _status_error(status)
    return 0


# ---- single arrays ----------------------------------------------------------------------
cdef inline void *_ptr(object a):
    """Data pointer of an ndarray already checked (by _array or a fast path's test),
    NULL for None."""
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>a)


# bfloat16 is ml_dtypes' NumPy type: its type number is given out when ml_dtypes loads.
# gradkit does not import ml_dtypes (registering its types takes longer than the rest
# of gradkit's import): until someone has, no bfloat16 array exists, so the number is
# looked up when an array of a type registered by an extension first comes by, or when
# a bfloat16 output is asked for.
import sys as _sys
import numpy as _np_types
cdef int _NPY_BFLOAT16 = -1


cdef int _learn_bfloat16(bint load) except -2:
    """_NPY_BFLOAT16, set from ml_dtypes if it is loaded (or `load`: imported now)."""
    global _NPY_BFLOAT16
    if _NPY_BFLOAT16 < 0:
        mod = _sys.modules.get("ml_dtypes")
        if mod is None and load:
            import ml_dtypes as mod
        if mod is not None:
            _NPY_BFLOAT16 = _np_types.dtype(mod.bfloat16).num
    return _NPY_BFLOAT16


cdef inline int _typenum(int dtype) except -2:
    """The NumPy type number of a dtype code (GK_DTYPE_F32/F64/F16/BF16)."""
    if dtype == GK_DTYPE_F32:
        return cnp.NPY_FLOAT32
    if dtype == GK_DTYPE_F64:
        return cnp.NPY_FLOAT64
    if dtype == GK_DTYPE_F16:
        return cnp.NPY_FLOAT16
    return _NPY_BFLOAT16 if _NPY_BFLOAT16 >= 0 else _learn_bfloat16(True)


cdef inline int _param_dtype(int dtype) noexcept:
    """The dtype code of the float parameters and statistics that go with data of code
    `dtype`: float32 for 16-bit storage (float32 arithmetic), else the data's own."""
    return GK_DTYPE_F32 if dtype == GK_DTYPE_F16 or dtype == GK_DTYPE_BF16 else dtype


cdef extern from "numpy/arrayobject.h":
    enum: _NPY_USERDEF "NPY_USERDEF"   # the first number of a user-defined type


cdef inline bint _has_type(cnp.ndarray a, int typenum) noexcept:
    """a's dtype is the native-byte-order dtype of typenum (compared whole: a
    byte-swapped '>f4' is not float32; int64 and longlong, the same type, match).  A
    user-defined type (bfloat16) has one number of its own, compared as it is: NumPy's
    equivalence test looks a pair with one up among the registered casts (comparing
    tuples: asking float32, float64 and float16 of a bfloat16 array took a tenth of a
    compiled bfloat16 layer_norm on 32x256)."""
    cdef int t = cnp.PyArray_TYPE(a)
    if t != typenum and (t >= _NPY_USERDEF or typenum >= _NPY_USERDEF
                         or not cnp.PyArray_EquivTypenums(t, typenum)):
        return False
    return cnp.PyArray_ISNOTSWAPPED(a)


cdef inline bint _is_bfloat16(cnp.ndarray a) except -1:
    """a is a native-byte-order bfloat16 array (never imports ml_dtypes)."""
    if not cnp.PyArray_ISUSERDEF(a):
        return False
    return _learn_bfloat16(False) >= 0 and _has_type(a, _NPY_BFLOAT16)


cdef int _float_dtype(object a, str name) except -1:
    """GK_DTYPE_F32 or GK_DTYPE_F64 for a float32/float64 ndarray of native byte order,
    else TypeError naming the argument."""
    if isinstance(a, cnp.ndarray):
        if _has_type(<cnp.ndarray>a, cnp.NPY_FLOAT32):
            return GK_DTYPE_F32
        if _has_type(<cnp.ndarray>a, cnp.NPY_FLOAT64):
            return GK_DTYPE_F64
        raise TypeError(f"{name} must be a float32 or float64 array of native byte order, "
                        f"got dtype {(<object>a).dtype.str}")
    raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")


cdef int _storage_dtype(object a, str name) except -1:
    """_float_dtype, and GK_DTYPE_F16/BF16 for float16/bfloat16 (native byte order): the
    data of a family that takes 16-bit storage."""
    if isinstance(a, cnp.ndarray):
        if _has_type(<cnp.ndarray>a, cnp.NPY_FLOAT16):
            return GK_DTYPE_F16
        if _is_bfloat16(<cnp.ndarray>a):
            return GK_DTYPE_BF16
    return _float_dtype(a, name)


cdef void *_array(object a, int typenum, str name, Py_ssize_t size=-1,
                  bint writable=False, bint optional=False,
                  bint any_align=False) except? NULL:
    """The data pointer of `a` after checking it: an ndarray of dtype typenum (native
    byte order), C-contiguous, aligned (any address when `any_align`: for a kernel that
    reads it as bytes), of `size` elements (size >= 0), writable if `writable`; None
    gives NULL when `optional`.  TypeError (type, dtype) or ValueError (layout, size,
    read-only) naming the argument otherwise."""
    cdef cnp.ndarray arr
    if a is None:
        if optional:
            return NULL
        raise TypeError(f"{name} is required, got None")
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    arr = <cnp.ndarray>a
    if not _has_type(arr, typenum):
        raise TypeError(f"{name} must have dtype {cnp.PyArray_DescrFromType(typenum)} in "
                        f"native byte order, got {(<object>arr).dtype.str}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{name} must be C-contiguous")
    if not any_align and not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"{name} must be aligned to its dtype")
    if size >= 0 and cnp.PyArray_SIZE(arr) != size:
        raise ValueError(f"{name} has {cnp.PyArray_SIZE(arr)} elements, expected {size}")
    if writable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name} is read-only")
    return cnp.PyArray_DATA(arr)


cdef inline bint _ok(object a, int typenum, Py_ssize_t size, bint writable) noexcept:
    """True when _array(a, typenum, name, size, writable) would accept `a`: the test
    alone, without the argument's name, so a caller formats the name only to raise."""
    cdef int flags
    if not isinstance(a, cnp.ndarray) or not _has_type(<cnp.ndarray>a, typenum):
        return False
    flags = cnp.PyArray_FLAGS(<cnp.ndarray>a)
    if not (flags & cnp.NPY_ARRAY_C_CONTIGUOUS and flags & cnp.NPY_ARRAY_ALIGNED):
        return False
    if writable and not flags & cnp.NPY_ARRAY_WRITEABLE:
        return False
    return size < 0 or cnp.PyArray_SIZE(<cnp.ndarray>a) == size


cdef inline void *_in(object a, int dtype, str name, Py_ssize_t size=-1) except? NULL:
    """A float input of dtype code `dtype` (required)."""
    return _array(a, _typenum(dtype), name, size)


cdef inline void *_in_bytes(object a, int dtype, str name, Py_ssize_t size=-1) except? NULL:
    """A float input of dtype code `dtype` (required) at any address: for the kernels
    documented to read it as bytes (a block of a dask array received over the network
    lies where its frame lies, not aligned to its elements)."""
    return _array(a, _typenum(dtype), name, size, False, False, True)


cdef inline void *_opt(object a, int dtype, str name, Py_ssize_t size=-1) except? NULL:
    """An optional float input (None: NULL)."""
    return _array(a, _typenum(dtype), name, size, False, True)


cdef inline void *_out(object a, int dtype, str name, Py_ssize_t size=-1,
                       bint optional=False) except? NULL:
    """A float output (written), optional when `optional`."""
    return _array(a, _typenum(dtype), name, size, True, optional)


cdef int _dims2(object a, str name, Py_ssize_t *rows, Py_ssize_t *cols) except -1:
    """rows and cols of a 2-D ndarray, else TypeError/ValueError naming it."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if cnp.PyArray_NDIM(<cnp.ndarray>a) != 2:
        raise ValueError(f"{name} must be 2-D, got {cnp.PyArray_NDIM(<cnp.ndarray>a)}-D")
    rows[0] = cnp.PyArray_DIMS(<cnp.ndarray>a)[0]
    cols[0] = cnp.PyArray_DIMS(<cnp.ndarray>a)[1]
    return 0


cdef inline Py_ssize_t _prod(Py_ssize_t a, Py_ssize_t b) except -2:
    """a * b, the expected element count of an array of a x b, or -1 (no size check)
    when a size is negative: the kernel then rejects it, naming the size argument.
    ValueError when the product overflows."""
    if a < 0 or b < 0:
        return -1
    if b and a > PY_SSIZE_T_MAX // b:
        raise ValueError(f"size {a} x {b} overflows")
    return a * b


# ---- lists of arrays --------------------------------------------------------------------
cdef enum:
    _MAX_SLOTS = 5   # aligned lists per call: param, grad and up to three state lists


cdef class _Arrays:
    """Aligned Python lists of arrays as C pointer arrays (the one marshaller of the
    multi-array kernels): slot s holds the data pointers of list s, entry k of every
    slot belongs to one entry of the caller's lists.  Entries are grouped by dtype
    (float32 first, then float64, then float16 and bfloat16 when taken: the typed kernels
    take one dtype per call) or kept in the caller's order (the mixed-dtype kernels, with
    `dtype` per entry).

    Every array is checked as _array does; the arrays of one entry must have the dtype
    and the element count of its slot-0 array.  `where[k]` is the entry's index in the
    caller's lists; `step` and `fresh` are per-entry scratch for the caller."""
    cdef gk_index n                  # entries gathered
    cdef gk_index count[4]           # of them float32, float64, float16, bfloat16 (grouped)
    cdef gk_index first[4]           # where each dtype's entries start (grouped)
    cdef void **slot[_MAX_SLOTS]     # slot[s][k]: pointer of entry k in list s (or NULL)
    cdef gk_index *size
    cdef gk_index *where
    cdef int *dtype
    cdef int64_t *step
    cdef unsigned char *fresh
    cdef void *mem

    def __dealloc__(self):
        free(self.mem)

    cdef inline void **at(self, int s, int d) noexcept nogil:
        """Slot s of the dtype-d group (grouped gathers), NULL for an unused slot."""
        return self.slot[s] + self.first[d] if self.slot[s] != NULL else NULL


cdef _Arrays _gather(list lists, tuple names, tuple writable, bint grouped=True,
                     int skip=-1, tuple sizes=None, tuple typenums=None,
                     bint half=False):
    """The _Arrays of `lists` (lists[0] leads; None for an unused slot), named `names`
    in messages (as `names[s][i]`), writable[s] when written.  Entries whose array in
    slot `skip` is None are left out (a parameter without gradient).  `sizes` (or None)
    gives, per slot, None (its arrays have the element count of the entry's slot-0
    array) or a list aligned with the lists of each entry's element count in that slot,
    -1 where the entry has no array there (None, gathered as NULL): state shaped other
    than its parameter, as Adafactor's factored second moments.  half: an entry may be
    float16/bfloat16 too (16-bit storage; grouped, they come after float64).  `typenums` (or None)
    gives, per slot, the NumPy type number every array of that slot must have (the
    mixed-precision kernels: 16-bit parameters with float32 states, ...): the entries
    then form one group, in the caller's order, counted in count[0]."""
    cdef _Arrays b = _Arrays.__new__(_Arrays)
    cdef int nslot = len(lists), s, dt, tn
    cdef Py_ssize_t n, i, k, size, want, nd[4]
    cdef list lead = lists[0]
    cdef size_t per = nslot * sizeof(void *) + 2 * sizeof(gk_index) + 2 * sizeof(int) \
        + sizeof(int64_t) + 1
    cdef char *mem
    cdef int *entry_dtype
    if nslot > _MAX_SLOTS:
        raise ValueError(f"at most {_MAX_SLOTS} aligned lists")
    n = len(lead)
    for s in range(1, nslot):
        if lists[s] is not None and len(<list>lists[s]) != n:
            raise ValueError(f"{names[s]} has {len(<list>lists[s])} entries, expected {n} "
                             f"(aligned with {names[0]})")
    mem = <char *>malloc(per * (n if n > 0 else 1))
    if mem == NULL:
        raise MemoryError()
    b.mem = mem
    for s in range(_MAX_SLOTS):
        b.slot[s] = NULL
    for s in range(nslot):
        if lists[s] is not None:
            b.slot[s] = <void **>mem
            mem += n * sizeof(void *)
    b.size = <gk_index *>mem
    mem += n * sizeof(gk_index)
    b.where = <gk_index *>mem
    mem += n * sizeof(gk_index)
    b.step = <int64_t *>mem
    mem += n * sizeof(int64_t)
    b.dtype = <int *>mem
    mem += n * sizeof(int)
    entry_dtype = <int *>mem
    mem += n * sizeof(int)
    b.fresh = <unsigned char *>mem
    memset(b.fresh, 0, n)
    # the dtype of each entry first: grouping places entries by the counts
    nd[0] = nd[1] = nd[2] = nd[3] = 0
    for i in range(n):
        if skip >= 0 and (<list>lists[skip])[i] is None:
            entry_dtype[i] = -1
            continue
        # names are formatted only for the message of a bad array (a few hundred ns each)
        if typenums is not None:
            dt = 0  # one group; each slot's type number is given
        elif _ok(lead[i], cnp.NPY_FLOAT32, -1, False):
            dt = GK_DTYPE_F32
        elif _ok(lead[i], cnp.NPY_FLOAT64, -1, False):
            dt = GK_DTYPE_F64
        elif half:
            dt = _storage_dtype(lead[i], f"{names[0]}[{i}]")
        else:
            dt = _float_dtype(lead[i], f"{names[0]}[{i}]")
        entry_dtype[i] = dt
        nd[dt] += 1
    b.n = nd[0] + nd[1] + nd[2] + nd[3]
    cdef Py_ssize_t pos[4]
    for dt in range(4):
        b.count[dt] = nd[dt]
        b.first[dt] = 0 if dt == 0 else b.first[dt - 1] + nd[dt - 1]
        pos[dt] = b.first[dt] if grouped else 0
    for i in range(n):
        dt = entry_dtype[i]
        if dt < 0:
            continue
        k = pos[dt if grouped else 0]
        pos[dt if grouped else 0] += 1
        size = cnp.PyArray_SIZE(<cnp.ndarray>lead[i])
        for s in range(nslot):
            if lists[s] is not None:
                a = (<list>lists[s])[i]
                want = size
                if sizes is not None and sizes[s] is not None:
                    want = (<list>sizes[s])[i]
                    if want < 0:
                        if a is not None:
                            raise ValueError(f"{names[s]}[{i}] must be None (its "
                                             f"parameter has no {names[s]})")
                        b.slot[s][k] = NULL
                        continue
                tn = _typenum(dt) if typenums is None else typenums[s]
                if _ok(a, tn, want, writable[s]):
                    b.slot[s][k] = cnp.PyArray_DATA(<cnp.ndarray>a)
                else:  # raises, naming the entry
                    b.slot[s][k] = _array(a, tn, f"{names[s]}[{i}]", want, writable[s])
        b.size[k] = size
        b.where[k] = i
        b.dtype[k] = dt
    return b


# ---- fast paths: the common call checked whole in compiled code --------------------

cdef inline bint _usable(object a, int typenum):
    """a is an ndarray of exactly that dtype (whole: native byte order), C-contiguous and
    aligned -- what the kernels read without a copy."""
    return (type(a) is cnp.ndarray and _has_type(<cnp.ndarray>a, typenum)
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a)
            and cnp.PyArray_ISALIGNED(<cnp.ndarray>a))


cdef inline bint _dims_match(cnp.ndarray a, cnp.ndarray x, int nd):
    """a has exactly nd dims, x's first nd."""
    if cnp.PyArray_NDIM(a) != nd:
        return False
    cdef int k
    for k in range(nd):
        if cnp.PyArray_DIMS(a)[k] != cnp.PyArray_DIMS(x)[k]:
            return False
    return True


cdef inline bint _unit_float(object v, double *out):
    """v is a Python float in [0, 1] (NaN is not), its value into *out: the probability
    or fraction the compiled fast paths take (anything else goes to the checked path)."""
    if type(v) is not float:
        return False
    out[0] = PyFloat_AS_DOUBLE(v)
    return 0.0 <= out[0] <= 1.0


cdef inline int _float_typenum(object a):
    """NPY_FLOAT32 or NPY_FLOAT64 when a is a usable array (_usable) of that dtype, else
    -1: the dtypes the compiled fast paths take."""
    if _usable(a, cnp.NPY_FLOAT32):
        return cnp.NPY_FLOAT32
    if _usable(a, cnp.NPY_FLOAT64):
        return cnp.NPY_FLOAT64
    return -1


cdef inline int _storage_typenum(object a, int *dt) except -2:
    """_float_typenum, and NPY_FLOAT16 or bfloat16's number for a usable array of those
    (its dtype code into *dt either way), else -1: the dtypes of the fast paths of the
    families that take 16-bit storage (their parameters then float32, _param_typenum)."""
    cdef int t = _float_typenum(a)
    if t >= 0:
        dt[0] = GK_DTYPE_F32 if t == cnp.NPY_FLOAT32 else GK_DTYPE_F64
        return t
    if type(a) is not cnp.ndarray or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a) \
            or not cnp.PyArray_ISALIGNED(<cnp.ndarray>a):
        return -1
    if _has_type(<cnp.ndarray>a, cnp.NPY_FLOAT16):
        dt[0] = GK_DTYPE_F16
        return cnp.NPY_FLOAT16
    if _is_bfloat16(<cnp.ndarray>a):
        dt[0] = GK_DTYPE_BF16
        return _NPY_BFLOAT16
    return -1


cdef inline int _param_typenum(int dt, int typenum) noexcept:
    """The type number of the parameters and statistics of data of code dt and type
    number typenum: float32 for 16-bit storage, else the data's own (_param_dtype)."""
    return cnp.NPY_FLOAT32 if _param_dtype(dt) != dt else typenum


from gradkit._ext.runtime import empty as _cached_empty


cdef inline object _out_or_new(object out, cnp.ndarray x, int typenum):
    """out if it is a writable C-contiguous array like x, a new array if out is None,
    else None (not the fast path).  Large new outputs come from runtime.empty's cache."""
    if out is None:
        if cnp.PyArray_NBYTES(x) >= (1 << 20):
            return _cached_empty((<object>x).shape, (<object>x).dtype)
        return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), typenum, 0)
    if not _usable(out, typenum) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out):
        return None
    if not _dims_match(<cnp.ndarray>out, x, cnp.PyArray_NDIM(x)):
        return None
    return out
