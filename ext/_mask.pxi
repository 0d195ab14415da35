# Dropout masks in the compiled fast paths (included by dropout.pyx and norm.pyx, whose
# fast paths make and take gradkit.dropout.DropoutMask objects without a Python-level
# step).  Each module registers the class (set_mask_type) when gradkit imports it.

# gradkit.dropout.DropoutMask and its slots (shape, p, seed, counter, bits), and
# gradkit.random.as_generator (the fast paths that draw take an rng argument as it is)
cdef object _mask_type = None
cdef tuple _MASK_SLOTS = ()
cdef object _as_generator = None


def set_mask_type(cls, as_generator=None):
    """The class the fast paths make masks of and take (and the function that turns an
    ``rng`` argument into a Generator, for the fast paths that draw)."""
    global _mask_type, _MASK_SLOTS, _as_generator
    _mask_type = cls
    _MASK_SLOTS = tuple(cls.__slots__)
    _as_generator = as_generator


cdef inline Py_ssize_t _nbytes(Py_ssize_t n) noexcept:
    """Bytes of a bit-mask of n elements (-1: n negative, left to the kernel)."""
    return (n + 7) // 8 if n >= 0 else -1


cdef inline bint _seed_ok(object v):
    """v is an int in [0, 2**64), as the checked path's uint64."""
    return type(v) is int and 0 <= v <= 0xFFFFFFFFFFFFFFFF


cdef object _new_mask(object shape, object p, object seed, object counter, object bits):
    """The mask as DropoutMask._trusted builds it: its fields set, the bits (the
    kernel's fresh array, or None) read-only."""
    if bits is not None:
        cnp.PyArray_CLEARFLAGS(<cnp.ndarray>bits, cnp.NPY_ARRAY_WRITEABLE)
    mask = _mask_type.__new__(_mask_type)
    for k, v in zip(_MASK_SLOTS, (shape, p, seed, counter, bits)):
        object.__setattr__(mask, k, v)
    return mask


cdef tuple _mask_fields(object mask, cnp.ndarray a):
    """(p, seed, counter, bits) of a DropoutMask (the class itself) whose fields are
    plain -- a tuple of ints equal to a's shape, a float p in [0, 1], seed and counter
    ints in [0, 2**64), bits None or a usable uint8 array of the mask's bytes -- as
    gradkit.dropout._checked_mask finds them; None for anything else (the checked path
    says what is wrong)."""
    if _mask_type is None or type(mask) is not _mask_type:
        return None
    try:
        shape, p, seed, counter, bits = (mask._shape, mask._p, mask._seed, mask._counter,
                                         mask._bits)
    except AttributeError:  # not initialized: the checked path says so
        return None
    cdef int nd = cnp.PyArray_NDIM(a), k
    if type(shape) is not tuple or len(shape) != nd:
        return None
    for k in range(nd):
        d = shape[k]
        if type(d) is not int or d != cnp.PyArray_DIMS(a)[k]:
            return None
    cdef double pv
    if not _unit_float(p, &pv) or not _seed_ok(seed) or not _seed_ok(counter):
        return None
    if bits is not None and not (_usable(bits, cnp.NPY_UINT8)
                                 and cnp.PyArray_NDIM(<cnp.ndarray>bits) == 1
                                 and cnp.PyArray_DIMS(<cnp.ndarray>bits)[0]
                                 == _nbytes(cnp.PyArray_SIZE(a))):
        return None
    return p, seed, counter, bits
