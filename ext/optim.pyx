# cython: language_level=3
"""Thin wrappers over the C optimizer kernels (gradkit._ext.optim).

Each update function takes aligned Python lists (params, grads, state arrays), skips the
parameters whose gradient is None, gathers the data pointers of the rest into one batch
per dtype and runs each batch as one multi-tensor kernel with the GIL released.  The
callers (gradkit.optim) have validated the arrays: C-contiguous, writable where written,
one dtype and size per parameter.  Per-parameter step counters (int64 arrays) are
advanced only after the kernels succeeded."""
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
cimport _c_optim as c
from _cgradkit cimport gk_index

include "_common.pxi"

import numpy as np

cdef enum:
    MAX_SLOTS = 5   # param, grad and up to three state arrays
    SMALL = 8       # batches up to this many arrays need no heap memory


cdef struct Batch:
    gk_index count
    void **slot[MAX_SLOTS]     # slot 0 param, 1 grad, 2.. states (NULL when unused)
    gk_index *size
    int64_t *step
    unsigned char *fresh
    void *heap                 # NULL while the inline storage below is used
    void *small_slot[MAX_SLOTS * SMALL]
    gk_index small_size[SMALL]
    int64_t small_step[SMALL]
    unsigned char small_fresh[SMALL]


cdef int _batch_init(Batch *b, Py_ssize_t cap) except -1:
    cdef size_t per = MAX_SLOTS * sizeof(void *) + sizeof(gk_index) + sizeof(int64_t) + 1
    cdef char *mem
    cdef int s
    b.count = 0
    b.heap = NULL
    if cap <= SMALL:
        for s in range(MAX_SLOTS):
            b.slot[s] = &b.small_slot[s * SMALL]
        b.size, b.step, b.fresh = b.small_size, b.small_step, b.small_fresh
        return 0
    mem = <char *>malloc(per * cap)
    if mem == NULL:
        raise MemoryError()
    b.heap = mem
    for s in range(MAX_SLOTS):
        b.slot[s] = <void **>(mem + s * cap * sizeof(void *))
    mem += MAX_SLOTS * cap * sizeof(void *)
    b.size = <gk_index *>mem
    mem += cap * sizeof(gk_index)
    b.step = <int64_t *>mem
    mem += cap * sizeof(int64_t)
    b.fresh = <unsigned char *>mem
    return 0


cdef inline void _batch_free(Batch *b) noexcept:
    free(b.heap)
    b.heap = NULL


cdef inline void *_data(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef int _gather(Batch *b, list params, list grads, list s0, list s1, list s2,
                 object steps, list fresh) except -1:
    """Pointers of every parameter with a gradient into its dtype's batch (b[0] float32,
    b[1] float64; both initialised by the caller).  s0..s2: state lists aligned with
    params, or None for an unused slot.  steps: int64 array (the batch gets step + 1)
    or None; fresh: list of bools or None."""
    cdef Py_ssize_t n = len(params), i, k
    cdef cnp.ndarray p
    cdef int64_t *st = NULL
    cdef Batch *bb
    cdef list states = [s0, s1, s2]
    cdef int s
    if len(grads) != n:
        raise ValueError(f"grads has {len(grads)} entries, expected {n}")
    if steps is not None:
        st = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>steps)
    for s in range(3):
        if states[s] is None:
            b[0].slot[2 + s] = NULL
            b[1].slot[2 + s] = NULL
    for i in range(n):
        g = grads[i]
        if g is None:
            continue
        p = <cnp.ndarray>params[i]
        bb = &b[0] if _is_f32(p) else &b[1]
        k = bb.count
        bb.slot[0][k] = cnp.PyArray_DATA(p)
        bb.slot[1][k] = _data(g)
        for s in range(3):
            lst = states[s]
            if lst is not None:
                a = (<list>lst)[i]
                if a is None:
                    raise ValueError(f"missing optimizer state for parameter {i}")
                bb.slot[2 + s][k] = _data(a)
        bb.size[k] = cnp.PyArray_SIZE(p)
        bb.step[k] = st[i] + 1 if st != NULL else 0
        bb.fresh[k] = 1 if (fresh is not None and fresh[i]) else 0
        bb.count = k + 1
    return 0


cdef int _batches_init(Batch *b, Py_ssize_t cap) except -1:
    b[0].heap = NULL
    b[1].heap = NULL
    _batch_init(&b[0], cap)
    try:
        _batch_init(&b[1], cap)
    except MemoryError:
        _batch_free(&b[0])
        raise
    return 0


cdef inline void _commit_steps(list grads, object steps):
    cdef int64_t *st
    cdef Py_ssize_t i
    if steps is None:
        return
    st = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>steps)
    for i in range(len(grads)):
        if grads[i] is not None:
            st[i] += 1


cdef inline bint _same_shape(cnp.ndarray a, cnp.ndarray b):
    cdef int k, nd = cnp.PyArray_NDIM(a)
    if nd != cnp.PyArray_NDIM(b):
        return False
    for k in range(nd):
        if cnp.PyArray_DIMS(a)[k] != cnp.PyArray_DIMS(b)[k]:
            return False
    return True


def check_grads(list params, object grads):
    """grads as a list aligned with params: None, or an array of its parameter's dtype
    and shape (C-contiguous; others are copied once).  Raises before anything is
    written: TypeError for a wrong type or dtype, ValueError for a wrong length or
    shape, naming the entry."""
    cdef Py_ssize_t n = len(params), i
    cdef cnp.ndarray p, ga
    cdef list out
    if type(grads) is not list:
        if not isinstance(grads, (list, tuple)):
            raise TypeError("grads must be a list of arrays (None for a parameter "
                            f"without gradient), got {type(grads).__name__}")
        grads = list(grads)
    out = <list>grads
    if len(out) != n:
        raise ValueError(f"grads has {len(out)} entries but the optimizer has {n} "
                         "parameters (grads must align with the flattened param list)")
    copied = False
    for i in range(n):
        g = out[i]
        if g is None:
            continue
        if not isinstance(g, cnp.ndarray):
            raise TypeError(f"grads[{i}] must be a numpy array or None, got "
                            f"{type(g).__name__}")
        ga = <cnp.ndarray>g
        p = <cnp.ndarray>params[i]
        if cnp.PyArray_TYPE(ga) != cnp.PyArray_TYPE(p):
            raise TypeError(f"grads[{i}] has dtype {(<object>ga).dtype} but its parameter "
                            f"has dtype {(<object>p).dtype}; gradkit does not mix float32 and float64")
        if not _same_shape(ga, p):
            raise ValueError(f"grads[{i}] has shape {(<object>ga).shape} but its parameter "
                             f"has shape {(<object>p).shape}")
        if not cnp.PyArray_IS_C_CONTIGUOUS(ga):
            if not copied:
                out = list(out)
                copied = True
            out[i] = np.ascontiguousarray(ga)
    return out


def sgd(list params, list grads, list bufs, list fresh, double lr, double momentum,
        double dampening, double weight_decay, bint nesterov, bint maximize):
    cdef c.gk_sgd_options o
    cdef Batch b[2]
    cdef int err = 0
    o.lr, o.momentum, o.dampening, o.weight_decay = lr, momentum, dampening, weight_decay
    o.nesterov, o.maximize = nesterov, maximize
    _batches_init(b, len(params))
    try:
        _gather(b, params, grads, bufs if momentum != 0.0 else None, None, None, None,
                fresh if momentum != 0.0 else None)
        with nogil:
            if b[0].count:
                err = c.gk_sgd_multi_f32(b[0].count, <float **>b[0].slot[0],
                                         <const float **>b[0].slot[1],
                                         <float **>b[0].slot[2], b[0].fresh, b[0].size, &o)
            if err == 0 and b[1].count:
                err = c.gk_sgd_multi_f64(b[1].count, <double **>b[1].slot[0],
                                         <const double **>b[1].slot[1],
                                         <double **>b[1].slot[2], b[1].fresh, b[1].size, &o)
    finally:
        _batch_free(&b[0])
        _batch_free(&b[1])
    _check(err)


def adam(list params, list grads, list exp_avgs, list exp_avg_sqs, list max_exp_avg_sqs,
         object steps, double lr, double beta1, double beta2, double eps,
         double weight_decay, bint amsgrad, bint decoupled, bint maximize):
    cdef c.gk_adam_options o
    cdef Batch b[2]
    cdef int err = 0
    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay = lr, beta1, beta2, eps, weight_decay
    o.amsgrad, o.decoupled, o.maximize = amsgrad, decoupled, maximize
    _batches_init(b, len(params))
    try:
        _gather(b, params, grads, exp_avgs, exp_avg_sqs,
                max_exp_avg_sqs if amsgrad else None, steps, None)
        with nogil:
            if b[0].count:
                err = c.gk_adam_multi_f32(b[0].count, <float **>b[0].slot[0],
                                          <const float **>b[0].slot[1],
                                          <float **>b[0].slot[2], <float **>b[0].slot[3],
                                          <float **>b[0].slot[4], b[0].size, b[0].step, &o)
            if err == 0 and b[1].count:
                err = c.gk_adam_multi_f64(b[1].count, <double **>b[1].slot[0],
                                          <const double **>b[1].slot[1],
                                          <double **>b[1].slot[2], <double **>b[1].slot[3],
                                          <double **>b[1].slot[4], b[1].size, b[1].step, &o)
    finally:
        _batch_free(&b[0])
        _batch_free(&b[1])
    _check(err)
    _commit_steps(grads, steps)


def rmsprop(list params, list grads, list square_avgs, list grad_avgs, list bufs,
            object steps, double lr, double alpha, double eps, double weight_decay,
            double momentum, bint centered, bint maximize):
    cdef c.gk_rmsprop_options o
    cdef Batch b[2]
    cdef int err = 0
    o.lr, o.alpha, o.eps, o.weight_decay, o.momentum = lr, alpha, eps, weight_decay, momentum
    o.centered, o.maximize = centered, maximize
    _batches_init(b, len(params))
    try:
        _gather(b, params, grads, square_avgs, grad_avgs if centered else None,
                bufs if momentum > 0.0 else None, None, None)
        with nogil:
            if b[0].count:
                err = c.gk_rmsprop_multi_f32(b[0].count, <float **>b[0].slot[0],
                                             <const float **>b[0].slot[1],
                                             <float **>b[0].slot[2], <float **>b[0].slot[3],
                                             <float **>b[0].slot[4], b[0].size, &o)
            if err == 0 and b[1].count:
                err = c.gk_rmsprop_multi_f64(b[1].count, <double **>b[1].slot[0],
                                             <const double **>b[1].slot[1],
                                             <double **>b[1].slot[2],
                                             <double **>b[1].slot[3],
                                             <double **>b[1].slot[4], b[1].size, &o)
    finally:
        _batch_free(&b[0])
        _batch_free(&b[1])
    _check(err)
    _commit_steps(grads, steps)


def adagrad(list params, list grads, list sums, object steps, double lr, double lr_decay,
            double weight_decay, double eps, bint maximize):
    cdef c.gk_adagrad_options o
    cdef Batch b[2]
    cdef int err = 0
    o.lr, o.lr_decay, o.weight_decay, o.eps, o.maximize = lr, lr_decay, weight_decay, eps, maximize
    _batches_init(b, len(params))
    try:
        _gather(b, params, grads, sums, None, None, steps, None)
        with nogil:
            if b[0].count:
                err = c.gk_adagrad_multi_f32(b[0].count, <float **>b[0].slot[0],
                                             <const float **>b[0].slot[1],
                                             <float **>b[0].slot[2], b[0].size, b[0].step,
                                             &o)
            if err == 0 and b[1].count:
                err = c.gk_adagrad_multi_f64(b[1].count, <double **>b[1].slot[0],
                                             <const double **>b[1].slot[1],
                                             <double **>b[1].slot[2], b[1].size, b[1].step,
                                             &o)
    finally:
        _batch_free(&b[0])
        _batch_free(&b[1])
    _check(err)
    _commit_steps(grads, steps)


def lars(list params, list grads, list traces, double lr, double momentum,
         double weight_decay, double trust_coefficient, double eps, bint nesterov):
    """Returns the trust ratio of each parameter (None where its gradient is None)."""
    cdef c.gk_lars_options o
    cdef Batch b[2]
    cdef int err = 0
    cdef Py_ssize_t i, n = len(params), k32 = 0, k64 = 0
    cdef double[::1] r32 = np.empty(max(n, 1))
    cdef double[::1] r64 = np.empty(max(n, 1))
    o.lr, o.momentum, o.weight_decay = lr, momentum, weight_decay
    o.trust_coefficient, o.eps, o.nesterov = trust_coefficient, eps, nesterov
    _batches_init(b, n)
    try:
        _gather(b, params, grads, traces, None, None, None, None)
        with nogil:
            if b[0].count:
                err = c.gk_lars_multi_f32(b[0].count, <float **>b[0].slot[0],
                                          <const float **>b[0].slot[1],
                                          <float **>b[0].slot[2], b[0].size, &o, &r32[0])
            if err == 0 and b[1].count:
                err = c.gk_lars_multi_f64(b[1].count, <double **>b[1].slot[0],
                                          <const double **>b[1].slot[1],
                                          <double **>b[1].slot[2], b[1].size, &o, &r64[0])
    finally:
        _batch_free(&b[0])
        _batch_free(&b[1])
    _check(err)
    ratios = [None] * n
    for i in range(n):
        if grads[i] is None:
            continue
        if _is_f32(<cnp.ndarray>params[i]):
            ratios[i] = r32[k32]
            k32 += 1
        else:
            ratios[i] = r64[k64]
            k64 += 1
    return ratios
