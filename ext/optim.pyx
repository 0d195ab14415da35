# cython: language_level=3
"""Thin wrappers over the C optimizer kernels (gradkit._ext.optim).

Each update function takes aligned Python lists (params, grads, state arrays), skips the
parameters whose gradient is None, gathers the data pointers of the rest into one batch
per dtype (_common.pxi's marshaller, which checks every array once more, compiled) and
runs each batch as one multi-tensor kernel with the GIL released.  Per-parameter step
counters (int64 arrays) are advanced only after the kernels succeeded.  `coef` (a float,
or None) multiplies every gradient on the fly (clipping fused into the step, optim.h).

The fast paths of Optimizer.step are here too (fast_grads, same_values,
frozen_values): compiled tests that the parameters, gradients and options are as they
were when last checked, so a step costs ~1 us of checks instead of several; when a test
fails the caller runs the full Python checks, which raise or convert."""
cimport numpy as cnp
from libc.stdint cimport int64_t
cimport _c_optim as c

include "_common.pxi"

import numpy as np

# the names and writability of the gathered lists are tuple literals at each call:
# constants, not a concatenation per step
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


# ---- mixed precision: the storage of a step (gk_optim_storage) ---------------------------
cdef class _Mp:
    """The storage of a mixed-precision call (the `storage` argument of the update
    functions: (param, grad, state dtype codes, models or None, model dtype code,
    check_finite)) and its gathered arrays; `found` is the kernel's verdict on the
    gradients when check_finite."""
    cdef c.gk_optim_storage st
    cdef int found
    cdef void **model
    cdef tuple typenums

    def __dealloc__(self):
        free(self.model)

    cdef _Arrays gather(self, list lists, tuple names, tuple writable, object models,
                        tuple sizes=None):
        """_gather with each slot's dtype from the storage (slot 0 the parameters, 1 the
        gradients, the others states; `sizes` as _gather's); `models` (master weights:
        the 16-bit parameters written from the float32 masters, aligned with the lists)
        gathered too."""
        cdef _Arrays b = _gather(lists, names, writable, True, _GRAD, sizes,
                                 self.typenums[:len(lists)])
        cdef gk_index k
        cdef int tn
        if models is not None:
            if len(models) != len(<list>lists[0]):
                raise ValueError(f"models has {len(models)} entries, expected "
                                 f"{len(<list>lists[0])}")
            self.model = <void **>malloc(max(b.n, 1) * sizeof(void *))
            if self.model == NULL:
                raise MemoryError()
            tn = _typenum(self.st.model_dtype)
            for k in range(b.n):
                self.model[k] = _array(models[b.where[k]], tn, f"models[{b.where[k]}]",
                                       b.size[k], True)
            self.st.model = self.model
        return b


cdef _Mp _storage(tuple storage):
    cdef _Mp m = _Mp.__new__(_Mp)
    pd, gd, sd, models, md, check = storage
    m.st.param, m.st.grad, m.st.state, m.st.model_dtype = pd, gd, sd, md
    m.st.model = NULL
    m.found = 0
    m.st.found_inf = &m.found if check else NULL
    m.typenums = (_typenum(pd), _typenum(gd)) + (_typenum(sd),) * 3
    return m


cdef object _mp_done(int err, _Mp mp, _Arrays b, object steps):
    """After a mixed-precision kernel: raise its error, advance the step counters unless
    the step was skipped (an inf or NaN gradient); whether it was."""
    _check(err)
    if not mp.found and steps is not None:
        _commit_steps(b, steps)
    return mp.found != 0


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
        double dampening, double weight_decay, bint nesterov, bint maximize,
        object coef=None, tuple storage=None):
    """`storage` (every update function takes it): None, the float32/float64 kernels
    (entries grouped by dtype); or the mixed-precision step of one storage (see _Mp),
    which returns whether it found an inf or NaN gradient (and then changed nothing)."""
    cdef c.gk_sgd_options o
    cdef int err = 0, d
    cdef gk_index k
    o.lr, o.momentum, o.dampening, o.weight_decay = lr, momentum, dampening, weight_decay
    o.nesterov, o.maximize = nesterov, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef bint with_buf = momentum != 0.0
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, bufs if with_buf else None]
    names = ("params", "grads", "momentum_buffer")
    cdef _Arrays b = (_gather(lists, names, (True, False, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True), storage[3]))
    if with_buf and fresh is not None:  # None: every buffer holds a previous step's
        if len(fresh) != len(params):
            raise ValueError(f"fresh has {len(fresh)} entries, expected {len(params)}")
        for k in range(b.n):
            b.fresh[k] = 1 if fresh[b.where[k]] else 0
    if mp is not None:
        with nogil:
            err = c.gk_sgd_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                    b.at(2, 0), b.fresh, b.size, &o, &mp.st)
        _check(err)
        return mp.found != 0
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_sgd_multi(d, b.count[d], b.at(0, d), <const void *const *>b.at(1, d),
                                     b.at(2, d), b.fresh + b.first[d], b.size + b.first[d], &o)
    _check(err)


def adam(list params, list grads, list exp_avgs, list exp_avg_sqs, list max_exp_avg_sqs,
         object steps, double lr, double beta1, double beta2, double eps,
         double weight_decay, bint amsgrad, bint decoupled, bint maximize,
         object coef=None, tuple storage=None):
    cdef c.gk_adam_options o
    cdef int err = 0, d
    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay = lr, beta1, beta2, eps, weight_decay
    o.amsgrad, o.decoupled, o.maximize = amsgrad, decoupled, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs if amsgrad else None]
    names = ("params", "grads", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True, True), True, _GRAD)
                      if mp is None else
                      mp.gather(lists, names, (True, False, True, True, True), storage[3]))
    _take_steps(b, steps, len(params))
    if mp is not None:
        with nogil:
            err = c.gk_adam_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                     b.at(2, 0), b.at(3, 0), b.at(4, 0), b.size, b.step, &o,
                                     &mp.st)
        return _mp_done(err, mp, b, steps)
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
            double momentum, bint centered, bint maximize, object coef=None, tuple storage=None):
    cdef c.gk_rmsprop_options o
    cdef int err = 0, d
    o.lr, o.alpha, o.eps, o.weight_decay, o.momentum = lr, alpha, eps, weight_decay, momentum
    o.centered, o.maximize = centered, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, square_avgs, grad_avgs if centered else None,
             bufs if momentum > 0.0 else None]
    names = ("params", "grads", "square_avg", "grad_avg", "momentum_buffer")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True, True, True), storage[3]))
    if steps is not None:
        _take_steps(b, steps, len(params))
    if mp is not None:
        with nogil:
            err = c.gk_rmsprop_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                        b.at(2, 0), b.at(3, 0), b.at(4, 0), b.size, &o, &mp.st)
        return _mp_done(err, mp, b, steps)
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
            double weight_decay, double eps, bint maximize, object coef=None, tuple storage=None):
    cdef c.gk_adagrad_options o
    cdef int err = 0, d
    o.lr, o.lr_decay, o.weight_decay, o.eps, o.maximize = lr, lr_decay, weight_decay, eps, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, sums]
    names = ("params", "grads", "sum")
    cdef _Arrays b = (_gather(lists, names, (True, False, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True), storage[3]))
    _take_steps(b, steps, len(params))
    if mp is not None:
        with nogil:
            err = c.gk_adagrad_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                        b.at(2, 0), b.size, b.step, &o, &mp.st)
        return _mp_done(err, mp, b, steps)
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_adagrad_multi(d, b.count[d], b.at(0, d),
                                         <const void *const *>b.at(1, d), b.at(2, d),
                                         b.size + b.first[d], b.step + b.first[d], &o)
    _check(err)
    _commit_steps(b, steps)


def lars(list params, list grads, list traces, double lr, double momentum,
         double weight_decay, double trust_coefficient, double eps, bint nesterov,
         object coef=None, tuple storage=None):
    """Returns the trust ratio of each parameter (None where its gradient is None); with
    `storage`, (those ratios, whether the step was skipped)."""
    cdef c.gk_lars_options o
    cdef int err = 0, d
    o.lr, o.momentum, o.weight_decay = lr, momentum, weight_decay
    o.trust_coefficient, o.eps, o.nesterov = trust_coefficient, eps, nesterov
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, traces]
    names = ("params", "grads", "trace")
    cdef _Arrays b = (_gather(lists, names, (True, False, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True), storage[3]))
    cdef double[::1] ratio = np.empty(max(b.n, 1))
    if mp is not None:
        with nogil:
            err = c.gk_lars_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                     b.at(2, 0), b.size, &o, &ratio[0], &mp.st)
        found = _mp_done(err, mp, b, None)
        return _ratios(b, ratio, len(params), found), found
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_lars_multi(d, b.count[d], b.at(0, d),
                                      <const void *const *>b.at(1, d), b.at(2, d),
                                      b.size + b.first[d], &o, &ratio[b.first[d]])
    _check(err)
    return _ratios(b, ratio, len(params), False)


cdef list _ratios(_Arrays b, double[::1] ratio, Py_ssize_t n, bint skipped):
    """The trust ratios (LARS, LAMB) aligned with the n parameters: None where a
    parameter had no gradient, or everywhere when the step was skipped."""
    cdef list out = [None] * n
    cdef gk_index k
    if not skipped:
        for k in range(b.n):
            out[b.where[k]] = ratio[k]
    return out


def nadam(list params, list grads, list exp_avgs, list exp_avg_sqs, object mu_products,
          object steps, double lr, double beta1, double beta2, double eps,
          double weight_decay, double momentum_decay, bint decoupled, bint maximize,
          object coef=None, tuple storage=None):
    """`mu_products`: a float32 array aligned with params (torch's float32
    state['mu_product']), advanced, as `steps`, only after the kernels succeeded."""
    cdef c.gk_nadam_options o
    cdef int err = 0, d
    cdef gk_index k
    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay = lr, beta1, beta2, eps, weight_decay
    o.momentum_decay, o.decoupled, o.maximize = momentum_decay, decoupled, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp st = None if storage is None else _storage(storage)
    lists = [params, grads, exp_avgs, exp_avg_sqs]
    names = ("params", "grads", "exp_avg", "exp_avg_sq")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True), True, _GRAD)
                      if st is None else
                      st.gather(lists, names, (True, False, True, True), storage[3]))
    cdef float *given = <float *>_array(mu_products, cnp.NPY_FLOAT32, "mu_product",
                                        len(params), True)
    _take_steps(b, steps, len(params))
    cdef float[::1] mp = np.empty(max(b.n, 1), np.float32)
    for k in range(b.n):
        mp[k] = given[b.where[k]]
    if st is not None:
        with nogil:
            err = c.gk_nadam_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                      b.at(2, 0), b.at(3, 0), &mp[0], b.size, b.step, &o,
                                      &st.st)
        if err == 0:
            for k in range(b.n):
                given[b.where[k]] = mp[k]
        return _mp_done(err, st, b, steps)
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_nadam_multi(d, b.count[d], b.at(0, d),
                                       <const void *const *>b.at(1, d), b.at(2, d),
                                       b.at(3, d), &mp[b.first[d]], b.size + b.first[d],
                                       b.step + b.first[d], &o)
    _check(err)
    for k in range(b.n):
        given[b.where[k]] = mp[k]
    _commit_steps(b, steps)


def radam(list params, list grads, list exp_avgs, list exp_avg_sqs, object steps,
          double lr, double beta1, double beta2, double eps, double weight_decay,
          bint decoupled, bint maximize, object coef=None, tuple storage=None):
    cdef c.gk_radam_options o
    cdef int err = 0, d
    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay = lr, beta1, beta2, eps, weight_decay
    o.decoupled, o.maximize = decoupled, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, exp_avgs, exp_avg_sqs]
    names = ("params", "grads", "exp_avg", "exp_avg_sq")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True, True), storage[3]))
    _take_steps(b, steps, len(params))
    if mp is not None:
        with nogil:
            err = c.gk_radam_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                      b.at(2, 0), b.at(3, 0), b.size, b.step, &o, &mp.st)
        return _mp_done(err, mp, b, steps)
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_radam_multi(d, b.count[d], b.at(0, d),
                                       <const void *const *>b.at(1, d), b.at(2, d),
                                       b.at(3, d), b.size + b.first[d],
                                       b.step + b.first[d], &o)
    _check(err)
    _commit_steps(b, steps)


def adamax(list params, list grads, list exp_avgs, list exp_infs, object steps, double lr,
           double beta1, double beta2, double eps, double weight_decay, bint maximize,
           object coef=None, tuple storage=None):
    cdef c.gk_adamax_options o
    cdef int err = 0, d
    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay = lr, beta1, beta2, eps, weight_decay
    o.maximize = maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, exp_avgs, exp_infs]
    names = ("params", "grads", "exp_avg", "exp_inf")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True, True), storage[3]))
    _take_steps(b, steps, len(params))
    if mp is not None:
        with nogil:
            err = c.gk_adamax_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                       b.at(2, 0), b.at(3, 0), b.size, b.step, &o, &mp.st)
        return _mp_done(err, mp, b, steps)
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_adamax_multi(d, b.count[d], b.at(0, d),
                                        <const void *const *>b.at(1, d), b.at(2, d),
                                        b.at(3, d), b.size + b.first[d],
                                        b.step + b.first[d], &o)
    _check(err)
    _commit_steps(b, steps)


def adadelta(list params, list grads, list square_avgs, list acc_deltas, object steps,
             double lr, double rho, double eps, double weight_decay, bint maximize,
             object coef=None, tuple storage=None):
    """`steps` (or None) is only counted: Adadelta's formula has no step number."""
    cdef c.gk_adadelta_options o
    cdef int err = 0, d
    o.lr, o.rho, o.eps, o.weight_decay, o.maximize = lr, rho, eps, weight_decay, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, square_avgs, acc_deltas]
    names = ("params", "grads", "square_avg", "acc_delta")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True, True), storage[3]))
    if steps is not None:
        _take_steps(b, steps, len(params))
    if mp is not None:
        with nogil:
            err = c.gk_adadelta_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                         b.at(2, 0), b.at(3, 0), b.size, &o, &mp.st)
        return _mp_done(err, mp, b, steps)
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_adadelta_multi(d, b.count[d], b.at(0, d),
                                          <const void *const *>b.at(1, d), b.at(2, d),
                                          b.at(3, d), b.size + b.first[d], &o)
    _check(err)
    if steps is not None:
        _commit_steps(b, steps)


def lion(list params, list grads, list exp_avgs, double lr, double beta1, double beta2,
         double weight_decay, bint maximize, object coef=None, tuple storage=None):
    cdef c.gk_lion_options o
    cdef int err = 0, d
    o.lr, o.beta1, o.beta2, o.weight_decay, o.maximize = lr, beta1, beta2, weight_decay, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, exp_avgs]
    names = ("params", "grads", "exp_avg")
    cdef _Arrays b = (_gather(lists, names, (True, False, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True), storage[3]))
    if mp is not None:
        with nogil:
            err = c.gk_lion_multi_mp(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                     b.at(2, 0), b.size, &o, &mp.st)
        return _mp_done(err, mp, b, None)
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_lion_multi(d, b.count[d], b.at(0, d),
                                      <const void *const *>b.at(1, d), b.at(2, d),
                                      b.size + b.first[d], &o)
    _check(err)


cdef object _work_array(object work, object dt, Py_ssize_t total, str fn):
    """`work(dt, total)`, checked: a writable C-contiguous array of dt, at least total
    elements, or a ValueError before any kernel runs."""
    w = work(dt, total)
    if (not isinstance(w, np.ndarray) or w.dtype != dt or w.size < total
            or not w.flags.c_contiguous or not w.flags.writeable):
        raise ValueError(f"{fn}: work() must return a writable C-contiguous array of "
                         "the dtype and at least the size asked")
    return w


cdef list _work_ptrs(_Arrays b, object work, void **wp, str fn):
    """wp[d]: scratch of one element per element of the gathered arrays of dtype d
    (float32, float64), from `work(dtype, n)`, or NULL (no work, or nothing of that
    dtype); returns the arrays, to be kept alive through the kernel call."""
    cdef Py_ssize_t i, total
    cdef int d
    keep = []
    for d in range(2):
        wp[d] = NULL
        if work is None or not b.count[d]:
            continue
        total = 0
        for i in range(b.count[d]):
            total += b.size[b.first[d] + i]
        w = _work_array(work, np.float32 if d == 0 else np.float64, total, fn)
        keep.append(w)
        if total:
            wp[d] = cnp.PyArray_DATA(<cnp.ndarray>w)
    return keep


cdef object _mp_work(_Arrays b, object work, float **wp, str fn):
    """*wp: float32 scratch of one element per element of the mixed-precision step's
    arrays (all gathered as one list), from `work(np.float32, n)`, or NULL (no work, or
    no elements); returns the array, to be kept alive through the kernel call."""
    cdef Py_ssize_t i, total = 0
    wp[0] = NULL
    if work is None:
        return None
    for i in range(b.n):
        total += b.size[i]
    w = _work_array(work, np.float32, total, fn)
    if total:
        wp[0] = <float *>cnp.PyArray_DATA(<cnp.ndarray>w)
    return w


def lamb(list params, list grads, list exp_avgs, list exp_avg_sqs, object steps,
         double lr, double beta1, double beta2, double eps, double eps_root,
         double weight_decay, bint maximize, object coef=None, tuple storage=None,
         object work=None):
    """Returns the trust ratio of each parameter (None where its gradient is None); with
    `storage`, (those ratios, whether the step was skipped).  `work(dtype, n)`, when
    given, returns a C-contiguous writable array of at least n elements of dtype (float32
    or float64), scratch the float32 and float64 steps keep u in between their passes
    (gk_lamb_multi_work), and the mixed-precision step float32 scratch likewise
    (gk_lamb_multi_mp_work)."""
    cdef c.gk_lamb_options o
    cdef int err = 0, d
    cdef void *wp[2]
    cdef float *mw = NULL
    o.lr, o.beta1, o.beta2, o.eps, o.eps_root = lr, beta1, beta2, eps, eps_root
    o.weight_decay, o.maximize = weight_decay, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, exp_avgs, exp_avg_sqs]
    names = ("params", "grads", "exp_avg", "exp_avg_sq")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True), True, _GRAD) if mp is None
                      else mp.gather(lists, names, (True, False, True, True), storage[3]))
    _take_steps(b, steps, len(params))
    cdef double[::1] ratio = np.empty(max(b.n, 1))
    if mp is not None:
        keep = _mp_work(b, work, &mw, "lamb")
        with nogil:
            err = c.gk_lamb_multi_mp_work(b.n, b.at(0, 0), <const void *const *>b.at(1, 0),
                                          b.at(2, 0), b.at(3, 0), b.size, b.step, &o,
                                          &ratio[0], &mp.st, mw)
        found = _mp_done(err, mp, b, steps)
        return _ratios(b, ratio, len(params), found), found
    keep = _work_ptrs(b, work, wp, "lamb")  # the work arrays, alive through the call
    with nogil:
        for d in range(2):
            if err == 0 and b.count[d]:
                err = c.gk_lamb_multi_work(d, b.count[d], b.at(0, d),
                                           <const void *const *>b.at(1, d), b.at(2, d),
                                           b.at(3, d), b.size + b.first[d],
                                           b.step + b.first[d], &o, &ratio[b.first[d]],
                                           wp[d])
    _check(err)
    _commit_steps(b, steps)
    return _ratios(b, ratio, len(params), False)


def adafactor(list params, list grads, list row_vars, list col_vars, list variances,
              object steps, double lr, double beta2_decay, double eps1, double eps2,
              double d, double weight_decay, bint maximize, object coef=None,
              tuple storage=None, object work=None):
    """A parameter of 2 dims or more is factored over its last two (m, n): row_vars[i]
    and col_vars[i] have torch's shapes (..., m, 1) and (..., 1, n), variances[i] is
    None; a 0-d or 1-d one has variances[i] of its shape, and None in the others.  eps1
    is used as given (torch's None resolved by the caller).  With `storage`: whether
    the step was skipped.  `work`: as lamb's, the matrices' U kept there between the
    passes (gk_adafactor_multi_work; float32 for the mixed-precision step,
    gk_adafactor_multi_mp_work)."""
    cdef float *mw = NULL
    cdef c.gk_adafactor_options o
    cdef int err = 0, dt
    cdef void *wp[2]
    cdef gk_index k
    cdef Py_ssize_t i, n = len(params)
    o.lr, o.beta2_decay, o.eps1, o.eps2, o.d = lr, beta2_decay, eps1, eps2, d
    o.weight_decay, o.maximize = weight_decay, maximize
    o.scale, o.coef = coef is not None, (1.0 if coef is None else coef)
    # each slot's element counts, from the parameters' shapes (-1: no array there)
    # (indices from the end spelled out: the module is compiled with wraparound off)
    shapes = [p.shape if isinstance(p, cnp.ndarray) else () for p in params]
    rows = [sh[len(sh) - 2] if len(sh) >= 2 else 0 for sh in shapes]
    cols = [sh[len(sh) - 1] if len(sh) >= 2 else 0 for sh in shapes]
    lead = [_count(sh[:len(sh) - 2]) if len(sh) >= 2 else -1 for sh in shapes]
    sizes = (None, None, [-1 if x < 0 else x * y for x, y in zip(lead, rows)],
             [-1 if x < 0 else x * y for x, y in zip(lead, cols)],
             [-1 if x >= 0 else _count(sh) for x, sh in zip(lead, shapes)])
    cdef _Mp mp = None if storage is None else _storage(storage)
    lists = [params, grads, row_vars, col_vars, variances]
    names = ("params", "grads", "row_var", "col_var", "variance")
    cdef _Arrays b = (_gather(lists, names, (True, False, True, True, True), True, _GRAD,
                              sizes) if mp is None
                      else mp.gather(lists, names, (True, False, True, True, True),
                                     storage[3], sizes))
    cdef gk_index[::1] m_of = np.zeros(max(b.n, 1), np.intp)
    cdef gk_index[::1] n_of = np.zeros(max(b.n, 1), np.intp)
    for k in range(b.n):
        m_of[k], n_of[k] = rows[b.where[k]], cols[b.where[k]]
    _take_steps(b, steps, n)
    if mp is not None:
        keep = _mp_work(b, work, &mw, "adafactor")
        with nogil:
            err = c.gk_adafactor_multi_mp_work(b.n, b.at(0, 0),
                                               <const void *const *>b.at(1, 0), b.at(2, 0),
                                               b.at(3, 0), b.at(4, 0), b.size, &m_of[0],
                                               &n_of[0], b.step, &o, &mp.st, mw)
        return _mp_done(err, mp, b, steps)
    keep = _work_ptrs(b, work, wp, "adafactor")
    with nogil:
        for dt in range(2):
            if err == 0 and b.count[dt]:
                err = c.gk_adafactor_multi_work(dt, b.count[dt], b.at(0, dt),
                                                <const void *const *>b.at(1, dt),
                                                b.at(2, dt), b.at(3, dt), b.at(4, dt),
                                                b.size + b.first[dt], &m_of[b.first[dt]],
                                                &n_of[b.first[dt]], b.step + b.first[dt],
                                                &o, wp[dt])
    _check(err)
    _commit_steps(b, steps)


cdef Py_ssize_t _count(tuple shape):
    cdef Py_ssize_t out = 1
    for x in shape:
        out *= <Py_ssize_t>x
    return out


# ---- the fast paths of Optimizer.step ---------------------------------------------------
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject

cdef inline bint _same_dims(cnp.ndarray a, tuple shape):
    cdef int k, nd = cnp.PyArray_NDIM(a)
    if nd != len(shape):
        return False
    for k in range(nd):
        if cnp.PyArray_DIMS(a)[k] != <Py_ssize_t>shape[k]:
            return False
    return True


cdef enum:
    _CARRAY = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_WRITEABLE
    _CALIGNED = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED


def fast_grads(list param_groups, list entries, list params, object grads):
    """`grads` as a list when nothing needs the full checks of Optimizer.step, else None.

    Nothing needs them when every group's ``params`` is a list or tuple of the same
    parameter objects that `entries` (the optimizer's _Group records: .params,
    .signature) last checked, with their dtype object and shape, still C-contiguous,
    aligned and writable (what _Group.matches tests), and every gradient is None or an
    ndarray of exactly its parameter's dtype object and shape, C-contiguous and aligned
    (what _validation.grads_like passes without a copy).  On None the caller runs those
    checks in Python: they raise with their messages, copy, or re-sync the groups."""
    cdef Py_ssize_t n = len(params), i, j, k = 0, ng = len(entries)
    cdef object group, gp, q, g
    cdef list before, sig
    cdef cnp.ndarray p
    if len(param_groups) != ng:
        return None
    for j in range(ng):
        group = param_groups[j]
        if type(group) is not dict:
            return None
        gp = (<dict>group).get("params")
        if type(gp) is not list and type(gp) is not tuple:
            return None
        before = entries[j].params
        sig = entries[j].signature
        if len(gp) != len(before):
            return None
        for i in range(len(before)):
            q = gp[i]
            if q is not before[i]:
                return None
            p = <cnp.ndarray>q  # checked when recorded, and the same object
            dt_shape = <tuple>sig[i]
            if <object>cnp.PyArray_DESCR(p) is not dt_shape[0]:
                return None
            if (cnp.PyArray_FLAGS(p) & _CARRAY) != _CARRAY or not _same_dims(p, dt_shape[1]):
                return None
    if type(grads) is list:
        out = <list>grads
    elif type(grads) is tuple:
        out = list(<tuple>grads)
    else:
        return None
    if len(out) != n:
        return None
    for i in range(n):
        g = (<list>out)[i]
        if g is None:
            continue
        if type(g) is not cnp.ndarray:
            return None
        p = <cnp.ndarray>params[i]
        if cnp.PyArray_DESCR(<cnp.ndarray>g) is not cnp.PyArray_DESCR(p):
            return None
        if (cnp.PyArray_FLAGS(<cnp.ndarray>g) & _CALIGNED) != _CALIGNED:
            return None
        if not _same_shape(<cnp.ndarray>g, p):
            return None
    return out


cdef inline bint _immutable(object v):
    """A value whose identity fixes its value: Python and NumPy scalars, str, None,
    and tuples of those."""
    cdef object x
    if v is None or type(v) is float or type(v) is int or type(v) is bool or type(v) is str:
        return True
    if type(v) is tuple:
        for x in <tuple>v:
            if not _immutable(x):
                return False
        return True
    return isinstance(v, np.generic)


def frozen_values(dict group, tuple keys):
    """The values of `keys` in `group` (a missing key: None returned), or None when one
    of them is mutable (a list, an array): such options are checked at every step."""
    cdef object k, v
    cdef list out = []
    for k in keys:
        v = group.get(k, _MISSING)
        if v is _MISSING or not _immutable(v):
            return None
        out.append(v)
    return tuple(out)


def known_options(list param_groups, list entries, tuple keys):
    """Every group's options as last checked (entries[i].opts), or None when a group's
    option values are not all the objects they were then (entries[i].frozen): the
    caller then checks them again."""
    cdef Py_ssize_t j, n = len(entries)
    cdef list out = []
    if len(param_groups) != n:
        return None
    for j in range(n):
        entry = entries[j]
        frozen = entry.frozen
        group = param_groups[j]
        if frozen is None or type(group) is not dict or \
                not same_values(<dict>group, keys, <tuple>frozen):
            return None
        out.append(entry.opts)
    return out


def same_values(dict group, tuple keys, tuple values):
    """Whether group[k] is values[i] (the same object) for every keys[i]: the options
    are then those checked before (frozen_values kept only immutable ones)."""
    cdef Py_ssize_t i
    cdef PyObject *v
    for i in range(len(keys)):
        v = PyDict_GetItem(group, keys[i])
        if v == NULL or <object>v is not values[i]:
            return False
    return True


_MISSING = object()
