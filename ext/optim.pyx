# cython: language_level=3
"""Thin wrappers over the C optimizer kernels (gradkit._ext.optim).

Each update function takes aligned Python lists (params, grads, state arrays), skips the
parameters whose gradient is None, gathers the data pointers of the rest into one batch
per dtype (_common.pxi's marshaller, which checks every array once more, compiled) and
runs each batch as one multi-tensor kernel with the GIL released.  Per-parameter step
counters (int64 arrays) are advanced only after the kernels succeeded."""
cimport numpy as cnp
from libc.stdint cimport int64_t
cimport _c_optim as c

include "_common.pxi"

import numpy as np

_NAMES = ("params", "grads")
_WRITE = (True, False)
_GRAD = 1  # the slot whose None entries are skipped


cdef int _take_steps(_Arrays b, object steps, Py_ssize_t n) except -1:
    """Each gathered entry's step number after this step (steps[i] + 1)."""
    cdef int64_t *st = <int64_t *>_array(steps, cnp.NPY_INT64, "steps", n, True)
    cdef gk_index k
    for k in range(b.n):
        b.step[k] = st[b.where[k]] + 1
    return 0


cdef inline void _commit_steps(_Arrays b, object steps) noexcept:
    cdef int64_t *st = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>steps)
    cdef gk_index k
    for k in range(b.n):
        st[b.where[k]] += 1


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
    and shape (C-contiguous and aligned; others are copied once).  Raises before anything is
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
        # dtypes compared whole: a byte-swapped gradient is not its parameter's dtype
        if not _has_type(ga, _typenum(_float_dtype(p, f"params[{i}]"))):
            raise TypeError(f"grads[{i}] has dtype {(<object>ga).dtype.str} but its "
                            f"parameter has dtype {(<object>p).dtype.str}; gradkit does not "
                            "mix dtypes or byte orders")
        if not _same_shape(ga, p):
            raise ValueError(f"grads[{i}] has shape {(<object>ga).shape} but its parameter "
                             f"has shape {(<object>p).shape}")
        if not (cnp.PyArray_IS_C_CONTIGUOUS(ga) and cnp.PyArray_ISALIGNED(ga)):
            if not copied:
                out = list(out)
                copied = True
            out[i] = np.array(ga, order="C")  # a fresh copy is contiguous and aligned
    return out


def sgd(list params, list grads, list bufs, list fresh, double lr, double momentum,
        double dampening, double weight_decay, bint nesterov, bint maximize):
    cdef c.gk_sgd_options o
    cdef int err = 0, d
    cdef gk_index k
    o.lr, o.momentum, o.dampening, o.weight_decay = lr, momentum, dampening, weight_decay
    o.nesterov, o.maximize = nesterov, maximize
    cdef bint with_buf = momentum != 0.0
    cdef _Arrays b = _gather([params, grads, bufs if with_buf else None],
                             _NAMES + ("momentum_buffer",), _WRITE + (True,), True, _GRAD)
    if with_buf and fresh is not None:  # None: every buffer holds a previous step's
        if len(fresh) != len(params):
            raise ValueError(f"fresh has {len(fresh)} entries, expected {len(params)}")
        for k in range(b.n):
            b.fresh[k] = 1 if fresh[b.where[k]] else 0
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_sgd_multi(d, b.count[d], b.at(0, d), <const void *const *>b.at(1, d),
                                     b.at(2, d), b.fresh + b.first[d], b.size + b.first[d], &o)
    _check(err)


def adam(list params, list grads, list exp_avgs, list exp_avg_sqs, list max_exp_avg_sqs,
         object steps, double lr, double beta1, double beta2, double eps,
         double weight_decay, bint amsgrad, bint decoupled, bint maximize):
    cdef c.gk_adam_options o
    cdef int err = 0, d
    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay = lr, beta1, beta2, eps, weight_decay
    o.amsgrad, o.decoupled, o.maximize = amsgrad, decoupled, maximize
    cdef _Arrays b = _gather([params, grads, exp_avgs, exp_avg_sqs,
                              max_exp_avg_sqs if amsgrad else None],
                             _NAMES + ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                             _WRITE + (True, True, True), True, _GRAD)
    _take_steps(b, steps, len(params))
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_adam_multi(d, b.count[d], b.at(0, d),
                                      <const void *const *>b.at(1, d), b.at(2, d),
                                      b.at(3, d), b.at(4, d), b.size + b.first[d],
                                      b.step + b.first[d], &o)
    _check(err)
    _commit_steps(b, steps)


def rmsprop(list params, list grads, list square_avgs, list grad_avgs, list bufs,
            object steps, double lr, double alpha, double eps, double weight_decay,
            double momentum, bint centered, bint maximize):
    cdef c.gk_rmsprop_options o
    cdef int err = 0, d
    o.lr, o.alpha, o.eps, o.weight_decay, o.momentum = lr, alpha, eps, weight_decay, momentum
    o.centered, o.maximize = centered, maximize
    cdef _Arrays b = _gather([params, grads, square_avgs, grad_avgs if centered else None,
                              bufs if momentum > 0.0 else None],
                             _NAMES + ("square_avg", "grad_avg", "momentum_buffer"),
                             _WRITE + (True, True, True), True, _GRAD)
    if steps is not None:
        _take_steps(b, steps, len(params))
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_rmsprop_multi(d, b.count[d], b.at(0, d),
                                         <const void *const *>b.at(1, d), b.at(2, d),
                                         b.at(3, d), b.at(4, d), b.size + b.first[d], &o)
    _check(err)
    if steps is not None:
        _commit_steps(b, steps)


def adagrad(list params, list grads, list sums, object steps, double lr, double lr_decay,
            double weight_decay, double eps, bint maximize):
    cdef c.gk_adagrad_options o
    cdef int err = 0, d
    o.lr, o.lr_decay, o.weight_decay, o.eps, o.maximize = lr, lr_decay, weight_decay, eps, maximize
    cdef _Arrays b = _gather([params, grads, sums], _NAMES + ("sum",), _WRITE + (True,),
                             True, _GRAD)
    _take_steps(b, steps, len(params))
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_adagrad_multi(d, b.count[d], b.at(0, d),
                                         <const void *const *>b.at(1, d), b.at(2, d),
                                         b.size + b.first[d], b.step + b.first[d], &o)
    _check(err)
    _commit_steps(b, steps)


def lars(list params, list grads, list traces, double lr, double momentum,
         double weight_decay, double trust_coefficient, double eps, bint nesterov):
    """Returns the trust ratio of each parameter (None where its gradient is None)."""
    cdef c.gk_lars_options o
    cdef int err = 0, d
    cdef gk_index k
    o.lr, o.momentum, o.weight_decay = lr, momentum, weight_decay
    o.trust_coefficient, o.eps, o.nesterov = trust_coefficient, eps, nesterov
    cdef _Arrays b = _gather([params, grads, traces], _NAMES + ("trace",),
                             _WRITE + (True,), True, _GRAD)
    cdef double[::1] ratio = np.empty(max(b.n, 1))
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_lars_multi(d, b.count[d], b.at(0, d),
                                      <const void *const *>b.at(1, d), b.at(2, d),
                                      b.size + b.first[d], &o, &ratio[b.first[d]])
    _check(err)
    ratios = [None] * len(params)
    for k in range(b.n):
        ratios[b.where[k]] = ratio[k]
    return ratios
