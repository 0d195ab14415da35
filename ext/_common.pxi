# Shared by the wrapper modules (included, so each module stays self-contained).
cimport numpy as cnp
cnp.import_array()

cdef inline void *_ptr(object a):
    """Data pointer of an ndarray, NULL for None (optional weight/bias/outputs)."""
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>a)

cdef inline bint _is_f32(cnp.ndarray a):
    return cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32

cdef inline int _check(int err) except -1:
    if err == 0:
        return 0
    if err == 4:
        raise MemoryError("gradkit: could not allocate scratch memory")
    raise ValueError(f"gradkit kernel rejected its arguments (code {err})")
