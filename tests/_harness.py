"""The determinism table: every kernel-backed public function of every family, run on
inputs built from fixed seeds, each output hashed.

``python tests/_harness.py 1,2,3,4`` runs the whole table in this process once per
thread count and prints one JSON object ``{"simd": ..., "runs": {"1": {"threads": ...,
"hashes": {case id: sha256 or "raised ..."}}, ...}}`` (``"runs": null`` when
GRADKIT_SIMD names a table this CPU cannot run: gradkit fell back to another one).
tests/test_determinism.py runs it once per GRADKIT_SIMD table (the table is chosen once
per process) and requires every table and thread count to give the same hashes.  The
thread count of each run is set in process, for gradkit (``num_threads``) and for the
BLAS behind the BLAS-backed functions (threadpoolctl), so one process (one start-up,
one set of inputs) serves every count.

Sizes: a kernel runs single-threaded below GK_PARALLEL_MIN = 2**15 elements of work
(ext/src/gk_internal.h) and sums over fixed GK_CHUNK = 4096-element chunks, so the
main arrays have about 10**5 elements (more than 3 * 2**15: with 4 threads each gets
several chunks) with odd extents (vector tails, partitions that do not divide evenly);
a few small or awkward shapes keep the tails and special paths of the kernels (the
1e4-offset "shifted" moments, extreme logits, long rows, narrow columns) under the same
check.  The inputs are generated once per process (``data`` keeps them; every call gets
a fresh copy): drawing them cost more than the kernels.
"""
import contextlib
import hashlib
import json
import os
import sys

import ml_dtypes
import numpy as np

from conftest import placed_past

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
FLOATS = (F32, F64)
F16, BF16 = np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)
HALVES = (F16, BF16)   # 16-bit storage, where a family takes it
_SFX = {F32: "f32", F64: "f64", F16: "f16", BF16: "bf16"}

CASES = {}   # case id -> (function of dtype, dtype or None)

# Cases whose products are gradkit's own fused multiply-add tiles (fma_tiles.h: the
# preprocessing scatter and projections, init.orthogonal's reflector updates) on the
# tables that have FMA (AVX2, AVX-512: the same bits on both) and BLAS syrk / gemm on the
# baseline table (a CPU without FMA): bitwise the same across those tables and every
# thread count, and across the baseline table's thread counts (test_determinism groups
# them so).
FMA_TABLES_ONLY = ("preprocessing.Moments/Scatter", "preprocessing.PCA(",
                   "preprocessing.Whitener(", "preprocessing.project", "init.orthogonal",
                   "linear.")


def case(name, dtypes=FLOATS):
    """Register fn(dtype) -> outputs under ``name-f32``/``name-f64`` (``-f16``/``-bf16``
    for 16-bit storage; ``name`` alone when dtypes is None: the function has no float
    dtype)."""
    def register(fn):
        ids = [(name, None)] if dtypes is None else [
            (f"{name}-{_SFX[dt]}", dt) for dt in dtypes]
        for cid, dt in ids:
            CASES[cid] = (fn, dt)
        return fn
    return register


_DATA = {}   # the inputs drawn so far: one draw per process, a copy per call


def data(seed, shape, dtype, scale=1.0, offset=0.0):
    key = (seed, shape, np.dtype(dtype).str, scale, offset)
    if key not in _DATA:
        rng = np.random.default_rng(seed)
        _DATA[key] = (offset + scale * rng.standard_normal(shape)).astype(dtype)
    return _DATA[key].copy()


def grad_list(seed, dtype, shapes=((331, 307), (40_001,), (3, 5, 7))):
    """Gradient/parameter lists: one big array, one long vector, one tiny one."""
    return [data(seed + i, s, dtype) for i, s in enumerate(shapes)]


# ---- hashing ---------------------------------------------------------------------------

def _feed(h, obj):
    import gradkit
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"A{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    elif isinstance(obj, np.generic):
        _feed(h, np.asarray(obj))
    elif isinstance(obj, (bool, int, str)) or obj is None:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, float):
        h.update(f"f:{obj.hex()};".encode())
    elif isinstance(obj, (tuple, list)):
        h.update(f"{type(obj).__name__}[{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(obj, dict):
        h.update(f"dict[{len(obj)}".encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
        h.update(b"]")
    elif isinstance(obj, gradkit.DropoutMask):
        _feed(h, (obj.shape, obj.p, obj.seed, obj.counter, obj.stored, obj.bits))
    elif isinstance(obj, gradkit.GradCheckResult):
        _feed(h, {k: v for k, v in vars(obj).items()})
    else:
        raise TypeError(f"cannot hash a {type(obj).__name__}")


def digest(obj):
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


# ---- norm ------------------------------------------------------------------------------

# (rows, cols, offset): threaded and chunked rows, a long row split across threads, the
# shifted-moment path (offset 1e4), a tiny one (vector tails only)
_NORM_SHAPES = {"big": (331, 307, 0.0), "long": (2, 65_537, 0.0),
                "offset": (337, 311, 1e4), "tiny": (3, 17, 0.0), "one": (1, 1, 0.0)}


def _norm_inputs(shape, dtype):
    rows, cols, offset = _NORM_SHAPES[shape]
    x = data(1, (rows, cols), dtype, 3.0, offset)
    return x, data(2, (rows, cols), dtype), data(3, cols, dtype), data(4, cols, dtype)


for _shape in _NORM_SHAPES:
    def _layer_norm(dt, shape=_shape):
        import gradkit
        x, dy, w, b = _norm_inputs(shape, dt)
        y, st = gradkit.layer_norm(x, w, b)
        y0, st0 = gradkit.layer_norm(x)
        return (y, st, gradkit.layer_norm_backward(dy, x, st, w),
                y0, st0, gradkit.layer_norm_backward(dy, x, st0, bias=False))

    def _rms_norm(dt, shape=_shape):
        import gradkit
        x, dy, w, _ = _norm_inputs(shape, dt)
        y, st = gradkit.rms_norm(x, w)
        y0, st0 = gradkit.rms_norm(x, eps=1e-6)
        return (y, st, gradkit.rms_norm_backward(dy, x, st, w),
                y0, st0, gradkit.rms_norm_backward(dy, x, st0))

    case(f"norm.layer_norm[{_shape}]")(_layer_norm)
    case(f"norm.rms_norm[{_shape}]")(_rms_norm)


for _shape in _NORM_SHAPES:   # 16-bit x: float32 weights (LayerNorm), 16-bit (RMSNorm)
    def _layer_norm16(dt, shape=_shape):
        import gradkit
        x, dy, w, b = _norm_inputs(shape, dt)
        w, b = w.astype(F32), b.astype(F32)
        y, st = gradkit.layer_norm(x, w, b)
        return y, st, gradkit.layer_norm_backward(dy, x, st, w)

    def _rms_norm16(dt, shape=_shape):
        import gradkit
        x, dy, w, _ = _norm_inputs(shape, dt)
        y, st = gradkit.rms_norm(x, w)
        return y, st, gradkit.rms_norm_backward(dy, x, st, w)

    case(f"norm.layer_norm16[{_shape}]", HALVES)(_layer_norm16)
    case(f"norm.rms_norm16[{_shape}]", HALVES)(_rms_norm16)


@case("norm.batch_norm16", HALVES)
def _batch_norm16(dt):
    import gradkit
    x, dy = data(17, (7, 37, 23, 19), dt, 2.0, 5.0), data(18, (7, 37, 23, 19), dt)
    w, b = data(19, 37, F32), data(20, 37, F32)
    rm, rv = np.zeros(37, F32), np.ones(37, F32)
    y, st = gradkit.batch_norm(x, w, b, rm, rv)
    return y, st, rm, rv, gradkit.batch_norm_backward(dy, x, st, w)


@case("precision.convert", HALVES)
def _convert16(dt):
    """The shared 16-bit conversions (gk_convert), NaN and inf included."""
    from gradkit import _precision
    f = data(21, 100_003, F32, 1e3)
    f[::97] = np.nan
    f[5::101] = np.inf
    h = _precision.narrow(f, dt)
    return h, _precision.widen(h)


@case("norm.layer_norm[normalized_ndim=2]")
def _layer_norm_2d(dt):
    import gradkit
    x, dy = data(5, (31, 97, 103), dt), data(6, (31, 97, 103), dt)
    w, b = data(7, (97, 103), dt), data(8, (97, 103), dt)
    y, st = gradkit.layer_norm(x, w, b, normalized_ndim=2)
    return y, st, gradkit.layer_norm_backward(dy, x, st, w)


# the fused residual add + dropout + norm: rows that end on a mask byte and rows that
# do not (runs of 8 rows per thread), the seed-only mask, no dropout, p = 1, a row longer
# than the stack row buffer (4096)
_FUSED_SHAPES = {"big": (331, 307), "aligned": (97, 1024), "long": (3, 9001),
                 "tiny": (3, 17)}


def _fused(dt, shape, layer):
    import gradkit
    rows, cols = _FUSED_SHAPES[shape]
    x, r, dy = data(31, (rows, cols), dt), data(32, (rows, cols), dt, 2.0), data(33, (rows, cols), dt)
    dsn, w, b = data(34, (rows, cols), dt), data(35, cols, dt), data(36, cols, dt)
    if layer:
        fwd, bwd, wb = gradkit.add_dropout_layer_norm, gradkit.add_dropout_layer_norm_backward, (w, b)
    else:
        fwd, bwd, wb = gradkit.add_dropout_rms_norm, gradkit.add_dropout_rms_norm_backward, (w,)
    out = []
    for p, store in ((0.3, True), (0.3, False), (0.0, True), (1.0, True)):
        y, s, m, st = fwd(x, r, *wb, p=p, rng=41, store_mask=store)
        out += [y, s, m, st, bwd(dy, s, st, m, w, dresidual_out=dsn), bwd(dy, s, st, m)]
    return out


for _shape in _FUSED_SHAPES:
    case(f"norm.add_dropout_layer_norm[{_shape}]")(
        lambda dt, shape=_shape: _fused(dt, shape, True))
    case(f"norm.add_dropout_rms_norm[{_shape}]")(
        lambda dt, shape=_shape: _fused(dt, shape, False))


# (N, C) and (N, C, *spatial): the layouts batch_norm_tmpl.h treats apart (columns,
# inner planes, long planes, a few wide columns folded into rows)
_BN_SHAPES = {"NC": (503, 211), "NC-narrow": (40_009, 3), "NCHW": (7, 37, 23, 19),
              "NCL-long": (5, 3, 8_009), "NCHW-small": (40, 6, 3, 3)}


for _shape in _BN_SHAPES:
    def _batch_norm(dt, shape=_shape, momentum=0.1):
        import gradkit
        s = _BN_SHAPES[shape]
        x, dy = data(11, s, dt, 2.0, 5.0), data(12, s, dt)
        w, b = data(13, s[1], dt), data(14, s[1], dt)
        rm, rv = np.zeros(s[1], dt), np.ones(s[1], dt)
        nbt = np.zeros((), np.int64)
        out = []
        for _ in range(2):
            y, st = gradkit.batch_norm(x, w, b, rm, rv, momentum=momentum,
                                       num_batches_tracked=nbt)
            out += [y, st, rm.copy(), rv.copy(), nbt.copy()]
        out.append(gradkit.batch_norm_backward(dy, x, st, w))
        out.append(gradkit.batch_norm_backward(dy, x, st, bias=False))
        out.append(gradkit.batch_norm(x, w, b, rm, rv, training=False))
        out.append(gradkit.batch_norm(x, running_mean=rm, running_var=rv, training=False))
        y0, st0 = gradkit.batch_norm(x)
        return out + [y0, st0]

    case(f"norm.batch_norm[{_shape}]")(_batch_norm)
    case(f"norm.batch_norm[{_shape},momentum=None]")(
        lambda dt, shape=_shape: _batch_norm(dt, shape, None))

    def _batch_norm_steps(dt, shape=_shape):
        """The split kernels over two parts of the batch (a synchronized BatchNorm);
        16-bit x with float32 parameters and statistics."""
        from gradkit import norm
        s = _BN_SHAPES[shape]
        pdt = F32 if dt in HALVES else dt
        x, dy = data(11, s, dt, 2.0, 5.0), data(12, s, dt)
        w, b = data(13, s[1], pdt), data(14, s[1], pdt)
        rm, rv = np.zeros(s[1], pdt), np.ones(s[1], pdt)
        parts = [norm.batch_norm_stats(x[:s[0] // 3]), norm.batch_norm_stats(x[s[0] // 3:])]
        stacked = ([p.n for p in parts], [p.mean for p in parts], [p.m2 for p in parts])
        mean, invstd = norm.batch_norm_gather_stats(*stacked, rm, rv)
        y = norm.batch_norm_elemt(x, w, b, mean, invstd)
        m, r = mean.astype(pdt), invstd.astype(pdt)
        sums = norm.batch_norm_backward_reduce(dy, x, m, r, w)
        dx = norm.batch_norm_backward_elemt(dy, x, m, r, w, sums[0], sums[1], x.size // s[1])
        return [parts, norm.batch_norm_merge_stats(*stacked), mean, invstd, rm, rv, y,
                sums, dx]

    case(f"norm.batch_norm_steps[{_shape}]", FLOATS + HALVES)(_batch_norm_steps)


# ---- random ----------------------------------------------------------------------------

_N = 100_003


@case("random.Generator.uniform")
def _uniform(dt):
    from gradkit.random import Generator
    g = Generator(21)
    return g.uniform(_N, dtype=dt), g.uniform((7, 15_001), -3.0, 2.5, dtype=dt), g.counter


@case("random.Generator.normal")
def _normal(dt):
    from gradkit.random import Generator
    g = Generator(22)
    return g.normal(_N, dtype=dt), g.normal((5, 20_001), 1.5, 0.25, dtype=dt), g.counter


@case("random.Generator.truncated_normal")
def _truncated_normal(dt):
    from gradkit.random import Generator
    g = Generator(23)
    return (g.truncated_normal(_N, dtype=dt),
            g.truncated_normal(_N, 1.0, 2.0, 3.0, 9.0, dtype=dt),      # a' > 0: mirrored
            g.truncated_normal(_N, 0.0, 1.0, -np.inf, 0.5, dtype=dt), g.counter)


@case("random.Generator.integers", dtypes=None)
def _integers(_):
    from gradkit.random import Generator
    g = Generator(24)
    return (g.integers(_N, 17), g.integers(_N, -5, 1000),
            g.integers(_N, -(1 << 62), 1 << 62), g.integers(_N, -(1 << 63), 1 << 63),
            g.counter)


@case("random.Generator.bits32", dtypes=None)
def _bits32(_):
    from gradkit.random import Generator
    g = Generator(25)
    return g.bits32(_N), g.bits32((3, 33_337)), [k.bits32(40_000) for k in g.spawn(3)]


# ---- dropout ---------------------------------------------------------------------------

@case("dropout.dropout", FLOATS + HALVES)
def _dropout(dt):
    from gradkit import dropout as D
    x, dy = data(31, (331, 307), dt), data(32, (331, 307), dt)
    y, m = D.dropout(x, 0.3, rng=7)
    ys, ms = D.dropout(x, 0.3, rng=7, store_mask=False)   # seed-only mask
    y1, m1 = D.dropout(x, 1.0, rng=8)
    return (y, m, D.dropout_backward(dy, m), ys, ms, D.dropout_backward(dy, ms),
            y1, m1, D.dropout_backward(dy, m1))


@case("dropout.drop_path", FLOATS + HALVES)
def _drop_path(dt):
    from gradkit import dropout as D
    x, dy = data(33, (12_007, 3, 3), dt), data(34, (12_007, 3, 3), dt)
    y, keep = D.drop_path(x, 0.25, rng=9)
    return y, keep, D.drop_path_backward(dy, keep, 0.25)


@case("just_past[dropout,batch_norm]")
def _just_past(dt):
    """Outputs 16 to 64 bytes past an input modulo 4 KiB: dropout and drop_path (both
    directions), BatchNorm in both layouts."""
    from gradkit import dropout as D, norm
    x, dy = data(31, (331, 307), dt), data(32, (331, 307), dt)
    y, m = D.dropout(x, 0.3, rng=7, out=placed_past(x, 16))
    ys, _ = D.dropout(x, 0.3, rng=7, store_mask=False, out=placed_past(x, 48))
    out = [y, m, ys, D.dropout_backward(dy, m, out=placed_past(dy, 32)),
           D.drop_path_backward(dy, np.arange(331) % 3 > 0, 0.25,
                                out=placed_past(dy, 64))]
    for s in ((503, 211), (7, 37, 23, 19)):
        x, dy = data(11, s, dt, 2.0, 5.0), data(12, s, dt)
        w, b = data(13, s[1], dt), data(14, s[1], dt)
        y, st = norm.batch_norm(x, w, b, out=placed_past(x, 16))
        dx = norm.batch_norm_backward(dy, x, st, w, out=placed_past(dy, 16))[0]
        out += [y, st, dx]
    return out


@case("one_row_past[norm backward]")
def _one_row_past(dt):
    """dx one row past x or dy modulo 1 MiB: the buffered store path of the LayerNorm
    and RMSNorm backward (gk_alias_line_at)."""
    from gradkit import norm
    x, dy = data(33, (331, 307), dt, 2.0, 1.0), data(34, (331, 307), dt)
    w, b = data(35, 307, dt), data(36, 307, dt)
    row = 307 * x.dtype.itemsize
    _, st = norm.layer_norm(x, w, b)
    _, rst = norm.rms_norm(x, w)
    return [norm.layer_norm_backward(dy, x, st, w, out=placed_past(x, row, modulus=1 << 20)),
            norm.rms_norm_backward(dy, x, rst, w, out=placed_past(dy, row, modulus=1 << 20))]


@case("just_past[optim]")
def _just_past_optim(dt):
    """The parameter and its states 16 to 48 bytes past the gradient modulo 4 KiB: the
    staged kernels (optim_tmpl.h, stage_lagged)."""
    from gradkit.optim import functional as F
    p, g = data(41, (100_003,), dt), data(42, (100_003,), dt)
    out = []
    for step, nstate in ((lambda p, s: F.adam_(p, g, s[0], s[1], 3, lr=0.1), 2),
                         (lambda p, s: F.lion_(p, g, s[0], lr=0.1, weight_decay=0.1), 1)):
        q = placed_past(g, 16)
        q[...] = p
        states = []
        for k in range(nstate):
            states.append(placed_past(g, 32 + 16 * k))
            states[-1][...] = np.abs(data(43 + k, (100_003,), dt))
        step(q, states)
        out += [q] + states
    return out


# ---- init ------------------------------------------------------------------------------

_W = (331, 307)
_CONV = (67, 31, 3, 5)


def _init_case(name, *args, shape=_W, conv=_CONV, **kw):
    @case(f"init.{name}{list(args) or ''}")
    def run(dt):
        from gradkit import init
        fn = getattr(init, name)
        a = fn(shape, *args, rng=41, dtype=dt, **kw)
        out = np.empty(shape, dt)
        b = fn(shape, *args, rng=41, out=out, **kw)
        return a, b is out, out, conv and fn(conv, *args, rng=42, dtype=dt, **kw)


for _name, _args in [("zeros", ()), ("ones", ()), ("constant", (0.3,)), ("normal", ()),
                     ("normal", (0.5, 2.0)), ("uniform", ()), ("uniform", (-2.0, 3.0)),
                     ("trunc_normal", ()), ("trunc_normal", (1.0, 0.5, 0.0, 3.0)),
                     ("xavier_uniform", ()), ("xavier_normal", (2.0,)),
                     ("kaiming_uniform", ()), ("kaiming_normal", ()),
                     ("kaiming_uniform", (0.1, "fan_out", "relu")),
                     ("kaiming_normal", (0.2, "fan_in", "tanh")),
                     ("lecun_uniform", ()), ("lecun_normal", ()),
                     ("variance_scaling", ()),
                     ("variance_scaling", (2.0, "fan_avg", "untruncated_normal")),
                     ("variance_scaling", (1.0, "fan_out", "uniform"))]:
    _init_case(_name, *_args)
_init_case("eye", conv=None)
_init_case("orthogonal", shape=(301, 157), conv=(67, 7, 3, 3))
_init_case("orthogonal", 1.5, shape=(157, 301), conv=(67, 7, 3, 3))


@case("init.lora")
def _lora(dt):
    from gradkit import init
    return (init.lora(523, 613, 97, rng=43, dtype=dt),
            init.lora(523, 613, 97, method="gaussian", rng=44, dtype=dt))


@case("init.calculate_gain+fans", dtypes=None)
def _gain(_):
    from gradkit import init
    return ([init.calculate_gain(n) for n in ("linear", "tanh", "relu", "selu")],
            init.calculate_gain("leaky_relu", 0.2), init.fans(_CONV))


# ---- optim -----------------------------------------------------------------------------

_STEPS = 3


def _optimizer_case(cls_name, **options):
    tag = ",".join(f"{k}={v}" for k, v in options.items())

    @case(f"optim.{cls_name}({tag}).step")
    def run(dt):
        from gradkit import optim
        params = grad_list(51, dt)
        opt = getattr(optim, cls_name)(params, **options)
        for s in range(_STEPS):
            opt.step(grad_list(60 + 10 * s, dt))
        return params, opt.state_dict()["state"]


for _cls, _opts in [
        ("SGD", dict(lr=0.1)),
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
        ("Adam", dict(lr=0.01)),
        ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
        ("Adam", dict(lr=0.01, betas=(0.8, 0.9), maximize=True)),
        ("AdamW", dict(lr=0.01)),
        ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True)),
        ("RMSprop", dict(lr=0.01)),
        ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
        ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, maximize=True)),
        ("Adagrad", dict(lr=0.1)),
        ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01,
                         initial_accumulator_value=0.1, maximize=True)),
        ("LARS", dict(lr=0.1)),
        ("LARS", dict(lr=0.1, momentum=0.5, weight_decay=0.01, trust_coefficient=0.01,
                      eps=1e-8))]:
    _optimizer_case(_cls, **_opts)


for _cls, _opts in [
        ("NAdam", dict(lr=0.01)),
        ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01, maximize=True)),
        ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
        ("RAdam", dict(lr=0.01, betas=(0.9, 0.6))),  # rho_t > 5 from step 2
        ("RAdam", dict(lr=0.01, weight_decay=0.1, maximize=True)),
        ("RAdam", dict(lr=0.01, betas=(0.5, 0.5), weight_decay=0.1,
                       decoupled_weight_decay=True)),
        ("Adamax", dict(lr=0.01)),
        ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
        ("Adadelta", dict()),
        ("Adadelta", dict(rho=0.5, weight_decay=0.1, maximize=True)),
        ("Lion", dict(lr=0.01)),
        ("Lion", dict(lr=0.01, betas=(0.5, 0.7), weight_decay=0.1, maximize=True)),
        ("LAMB", dict(lr=0.01)),
        ("LAMB", dict(lr=0.01, eps_root=1e-8, weight_decay=0.1, maximize=True)),
        ("Adafactor", dict()),
        ("Adafactor", dict(lr=0.1, eps=(1e-6, 1e-3), d=1.5, weight_decay=0.1,
                           maximize=True))]:
    _optimizer_case(_cls, **_opts)


@case("optim.wide_range[LAMB,AdamW,AdamW16]")
def _optim_wide_range(dt):
    """Gradients over the whole exponent range (zeros and huge values included): LAMB's
    m / bc1, v / bc2 and AdamW's root / bc2s (float32 and 16-bit) are divided by fused
    multiply-adds on the AVX2 and AVX-512 tables (gk_hdiv_const), by the divider on the
    baseline one, with the same bits."""
    from gradkit import optim
    r = np.random.default_rng(71)
    n = 40_001
    g = [(r.choice([-1.0, 1.0], n) * (1 + r.random(n))
          * 2.0 ** r.uniform(-60, 60, n)).astype(dt) for _ in range(3)]
    for a in g:
        a[::89] = 0
    p = data(72, (n,), dt)
    opt = optim.LAMB([p], lr=0.01, weight_decay=0.1)
    out = []
    for s in range(3):
        opt.step([g[s]])
    out += [p, opt.state_dict()["state"]]
    pa = data(73, (n,), dt)
    opt_a = optim.AdamW([pa], lr=0.01)
    for s in range(3):
        opt_a.step([g[s]])
    out += [pa, opt_a.state_dict()["state"]]
    if dt == F32:
        q = p.astype(BF16)
        opt16 = optim.AdamW([q], lr=0.01, master_weights=True)
        for s in range(3):
            opt16.step([g[s].astype(BF16)])
        out += [q, opt16.state_dict()["state"]]
    return out


def _optimizer16_case(cls_name, variant, **options):
    """16-bit parameters: pure (states in the parameters' dtype; Adafactor's float32),
    master weights, or master weights with bfloat16 moments."""
    tag = ",".join(f"{k}={v}" for k, v in options.items())
    extra = {"pure": {}, "master": {"master_weights": True},
             "master_bf16": {"master_weights": True, "state_dtype": BF16}}[variant]

    @case(f"optim16.{cls_name}({tag}).{variant}", HALVES)
    def run(dt):
        from gradkit import optim
        params = grad_list(51, dt)
        opt = getattr(optim, cls_name)(params, **options, **extra)
        for s in range(_STEPS):
            opt.step(grad_list(60 + 10 * s, dt))
        return params, opt.state_dict()["state"]


for _cls, _opts in [
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
        ("AdamW", dict(lr=0.01)),
        ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9)),
        ("Adagrad", dict(lr=0.1)),
        ("LARS", dict(lr=0.1)),
        ("NAdam", dict(lr=0.01)),
        ("RAdam", dict(lr=0.01, betas=(0.9, 0.6))),
        ("Adamax", dict(lr=0.01)),
        ("Adadelta", dict()),
        ("Lion", dict(lr=0.01)),
        ("LAMB", dict(lr=0.01, weight_decay=0.1)),
        ("Adafactor", dict(weight_decay=0.1))]:
    for _variant in ("pure", "master", "master_bf16"):
        _optimizer16_case(_cls, _variant, **_opts)


def _fused_clip_case(cls_name, norm_type, **options):
    """step(grads, max_norm=...): the norm pass and the scaled update (and its norm)."""
    tag = ",".join(f"{k}={v}" for k, v in options.items())

    @case(f"optim.{cls_name}({tag}).step(max_norm,norm_type={norm_type})")
    def run(dt):
        from gradkit import optim
        params = grad_list(52, dt)
        opt = getattr(optim, cls_name)(params, **options)
        totals = [opt.step(grad_list(61 + 10 * s, dt), max_norm=5.0, norm_type=norm_type)
                  for s in range(_STEPS)]
        return params, opt.state_dict()["state"], totals


for _cls, _opts, _p in [
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True), 2.0),
        ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True), 2.0),
        ("AdamW", dict(lr=0.01, maximize=True), float("inf")),
        ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9), 1.0),
        ("Adagrad", dict(lr=0.1, lr_decay=0.01), 3.5),
        ("LARS", dict(lr=0.1, weight_decay=0.01), 2.0),
        ("Adafactor", dict(weight_decay=0.1), 2.0)]:
    _fused_clip_case(_cls, _p, **_opts)


def _functional_case(name, make_state, **options):
    tag = ",".join(f"{k}={v}" for k, v in options.items())

    @case(f"optim.functional.{name}({tag})")
    def run(dt):
        from gradkit.optim import functional as F
        fn = getattr(F, name)
        out = []
        for many in (True, False):
            params = grad_list(71, dt) if many else data(71, (331, 307), dt)
            state = make_state(params, many)
            for s in range(1, _STEPS + 1):
                grads = grad_list(80 + s, dt) if many else data(80 + s, (331, 307), dt)
                out.append(fn(params, grads, **state(s), **options))
            out += [params, state(_STEPS)]
        return out


def _zeros_like(params, many):
    return [np.zeros_like(p) for p in params] if many else np.zeros_like(params)


def _sgd_functional(dt, **options):
    from gradkit.optim import functional as F
    out = []
    for many in (True, False):
        params = grad_list(71, dt) if many else data(71, (331, 307), dt)
        buf = [None] * len(params) if many else None
        for s in range(1, _STEPS + 1):
            grads = grad_list(80 + s, dt) if many else data(80 + s, (331, 307), dt)
            buf = F.sgd_(params, grads, buf, **options)
            out.append(buf)
        out.append(params)
    return out


case("optim.functional.sgd_(lr=0.1)")(lambda dt: _sgd_functional(dt, lr=0.1))
case("optim.functional.sgd_(momentum,nesterov,weight_decay)")(
    lambda dt: _sgd_functional(dt, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1))
case("optim.functional.sgd_(momentum,dampening,maximize)")(
    lambda dt: _sgd_functional(dt, lr=0.1, momentum=0.9, dampening=0.2, maximize=True))


def _states(*names, step=False):
    def make(params, many):
        st = {n: _zeros_like(params, many) for n in names}

        def at(s):
            return dict(st, step=s) if step else dict(st)
        return at
    return make


_functional_case("adam_", _states("exp_avg", "exp_avg_sq", step=True), lr=0.01)
_functional_case("adam_", _states("exp_avg", "exp_avg_sq", "max_exp_avg_sq", step=True),
                 lr=0.01, amsgrad=True, decoupled=True, weight_decay=0.1, maximize=True)
_functional_case("rmsprop_", _states("square_avg"), lr=0.01)
_functional_case("rmsprop_", _states("square_avg", "grad_avg", "momentum_buffer"),
                 lr=0.01, centered=True, momentum=0.9, weight_decay=0.01, maximize=True)
_functional_case("adagrad_", _states("state_sum", step=True), lr=0.1)
_functional_case("adagrad_", _states("state_sum", step=True), lr=0.1, lr_decay=0.01,
                 weight_decay=0.01, maximize=True)
_functional_case("lars_", _states("trace"), lr=0.1)
_functional_case("lars_", _states("trace"), lr=0.1, nesterov=True, weight_decay=0.01,
                 eps=1e-8)


# ---- clip and amp ----------------------------------------------------------------------

_NORM_TYPES = (2.0, 1.0, 3.5, 0.5, float("inf"))


@case("clip.global_norm")
def _global_norm(dt):
    from gradkit import clip
    g = grad_list(91, dt)
    return [clip.global_norm(g, p) for p in _NORM_TYPES]


@case("clip.clip_grad_norm_", FLOATS + HALVES)
def _clip_grad_norm(dt):
    from gradkit import clip
    out = []
    for p in _NORM_TYPES:
        g = grad_list(92, dt)
        out += [clip.clip_grad_norm_(g, 0.5, p), g]
    return out


@case("clip.clip_grad_norm_[mixed dtypes]", dtypes=None)
def _clip_mixed(_):
    from gradkit import clip
    out = []
    for p in _NORM_TYPES:
        g = [data(95, 70_001, F32), data(96, 333, F64), data(97, 40_000, F32)]
        out += [clip.clip_grad_norm_(g, 0.5, p), g]
    return out


@case("clip.clip_grad_value_", FLOATS + HALVES)
def _clip_grad_value(dt):
    from gradkit import clip
    g = grad_list(93, dt)
    clip.clip_grad_value_(g, 0.7)
    return g


@case("amp.LossScaler.unscale_")
def _unscale(dt):
    from gradkit import amp
    out = []
    for bad in (False, True):
        g = [a * dt.type(1024) for a in grad_list(94, dt)]
        if bad:
            g[0][300, 200] = np.inf
        s = amp.LossScaler(init_scale=1024.0)
        out += [s.unscale_(g), g]
    return out


@case("amp.LossScaler.step")
def _scaler_step(dt):
    from gradkit import amp, optim
    params = grad_list(95, dt)
    opt = optim.Adam(params, lr=0.01)
    s = amp.LossScaler(init_scale=64.0, growth_interval=2)
    out = []
    for k in range(3):
        g = [a * dt.type(64) for a in grad_list(96 + k, dt)]
        if k == 1:
            g[1][7] = np.nan
        out.append(s.step(opt, g))
        s.update()
        out.append(s.get_scale())
    return out + [params]


# ---- regularization ----------------------------------------------------------------------

@case("regularization.penalties", FLOATS + HALVES)
def _penalties(dt):
    from gradkit import regularization as R
    p = grad_list(101, dt)
    return R.l2_penalty(p, 0.01), R.l1_penalty(p, 0.01)


@case("regularization.add_l2_grad_+add_l1_grad_", FLOATS + HALVES)
def _grad_adds(dt):
    from gradkit import regularization as R
    p, g = grad_list(102, dt), grad_list(103, dt)
    R.add_l2_grad_(g, p, 0.01)
    out = [a.copy() for a in g]
    R.add_l1_grad_(g, p, 0.02)
    return out, g


@case("regularization.add_grad_noise_", FLOATS + HALVES)
def _grad_noise(dt):
    from gradkit import regularization as R
    from gradkit.random import Generator
    g, rng = grad_list(104, dt), Generator(105)
    R.add_grad_noise_(g, 3, rng=rng)
    R.add_grad_noise_(g, 4, eta=0.1, gamma=0.6, rng=rng)
    return g, rng.counter


# ---- losses ----------------------------------------------------------------------------

def _logits(dt, rows=401, cols=263, seed=111):
    z = data(seed, (rows, cols), dt, 5.0)
    z[0, :] = -200.0          # extreme rows: the log-sum-exp's shift matters
    z[0, 7] = 1e4
    return z


@case("losses.softmax_cross_entropy[labels]", FLOATS + HALVES)
def _ce_labels(dt):
    from gradkit import losses
    z, y = _logits(dt), np.random.default_rng(112).integers(0, 263, 401)
    return [losses.softmax_cross_entropy(z, y, reduction=r, label_smoothing=ls)
            for r in ("mean", "sum", "none") for ls in (0.0, 0.1)]


@case("losses.softmax_cross_entropy[probs]", FLOATS + HALVES)
def _ce_probs(dt):
    from gradkit import losses
    z = _logits(dt)
    p = np.random.default_rng(113).dirichlet(np.ones(263), 401).astype(dt)
    return [losses.softmax_cross_entropy(z, p, reduction=r, label_smoothing=ls)
            for r in ("mean", "sum", "none") for ls in (0.0, 0.2)]


@case("losses.softmax_cross_entropy[wide]")
def _ce_wide(dt):
    from gradkit import losses
    z = _logits(dt, 23, 5_003, seed=114)
    y = np.random.default_rng(115).integers(0, 5_003, 23)
    return losses.softmax_cross_entropy(z, y, label_smoothing=0.1, reduction="none")


@case("losses.kl_div")
def _kl_div(dt):
    from gradkit import losses
    s, t = _logits(dt), _logits(dt, seed=116)
    return losses.kl_div(s, t), losses.kl_div(s, t, temperature=3.0)


@case("losses.distillation_loss")
def _distill(dt):
    from gradkit import losses
    s, t = _logits(dt), _logits(dt, seed=117)
    y = np.random.default_rng(118).integers(0, 263, 401)
    return (losses.distillation_loss(s, t, y),
            losses.distillation_loss(s, t, y, temperature=4.0, alpha=0.3))


@case("losses.mse")
def _mse(dt):
    from gradkit import losses
    a, b = data(119, (331, 307), dt), data(120, (331, 307), dt)
    return [losses.mse(a, b, reduction=r) for r in ("mean", "sum", "none")]


# ---- gradcheck -------------------------------------------------------------------------

def _loss_stack(stack):
    return np.sin(stack.reshape(len(stack), -1)).sum(axis=1)


@case("gradcheck.numerical_grad[batched]")
def _numerical_grad(dt):
    from gradkit.gradcheck import numerical_grad
    x = data(121, (7, 43), dt)
    return (numerical_grad(_loss_stack, x, batched=True, batch_size=150),
            numerical_grad(_loss_stack, x, batched=True, eps=1e-3))


@case("gradcheck.check_grad[fast]")
def _check_grad(dt):
    import warnings
    from gradkit.gradcheck import check_grad
    x = data(122, (101, 397), dt)
    g = np.cos(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float32 x: the advice to check in float64
        return (check_grad(_loss_stack, x, g, fast=True, batched=True, rng=5,
                           n_directions=16),
                check_grad(lambda v: float(np.sin(v).sum()), x, g, fast=True, rng=6,
                           atol=1e-3))


# ---- quant -----------------------------------------------------------------------------

@case("quant.quantize+dequantize")
def _quant(dt):
    import gradkit
    from gradkit import quant
    x = data(131, (331, 307), dt, 3.0)
    out = []
    for scheme in ("symmetric", "affine"):
        for axis in (None, 0, 1):
            for qd in ("int8", "uint8"):
                q, s, z = quant.quantize(x, scheme=scheme, axis=axis, dtype=qd)
                out += [q, s, z, quant.dequantize(q, s, z, axis=axis)]
    before = gradkit.set_stream_threshold(1)   # x "past the cache": prefetched passes
    try:
        out += list(quant.quantize(x))
    finally:
        gradkit.set_stream_threshold(before)
    return out


def _qw(qw):
    return [qw.packed, qw.scales, qw.zeros, qw.g_idx]


@case("quant.hessian")
def _hessian(dt):
    from gradkit import quant
    x = data(132, (1201, 263), dt)
    h, n = quant.hessian(x[:600])
    h, n = quant.hessian(x[600:], h, n)
    return [h, n, quant.Hessian(263, dt).add(x).h]


@case("quant.quantize_weight+qlinear", dtypes=None)
def _lowbit_rtn(_):
    from gradkit import quant
    w = data(133, (301, 517), F32)
    out = []
    for bits in (2, 3, 4, 8):
        qw = quant.quantize_weight(w, bits=bits, group_size=128)
        out += _qw(qw) + [qw.dequantize()]
        for batch in (1, 5, 16, 40):
            out.append(quant.qlinear(data(134, (batch, 517), F32), qw))
    return out


@case("quant.gptq", dtypes=None)
def _gptq(_):
    from gradkit import quant
    w = data(135, (601, 263), F32)
    x = data(136, (700, 263), F32)
    x[:, 1:] += 0.7 * x[:, :-1]
    h, _ = quant.hessian(x)
    act = quant.gptq(w, h, bits=4, group_size=64, act_order=True)
    xs = data(137, (20, 263), F32)
    return [_qw(quant.gptq(w, h, bits=4, group_size=64, block_size=32)),
            _qw(quant.gptq(w, h, bits=3, group_size=-1, act_order=True)),
            _qw(quant.gptq(w, h, bits=2, group_size=32, act_order=True, static_groups=True)),
            _qw(act), quant.qlinear(xs[:3], act), quant.qlinear(xs, act)]


# ---- preprocessing -----------------------------------------------------------------------

def _pre_data(dt, rows=1201, cols=61):
    x = data(141, (rows, cols), dt)
    x[:, 1:] += 0.5 * x[:, :-1]   # correlated features
    return x


def _fitted(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


@case("preprocessing.Standardizer")
def _standardizer(dt):
    from gradkit.preprocessing import Standardizer
    x = _pre_data(dt)
    s = Standardizer()
    y = s.fit_transform(x)
    s2 = Standardizer().partial_fit(x[:600]).partial_fit(x[600:])
    return y, s.inverse_transform(y), _fitted(s), _fitted(s2)


def _wide_values(dt):
    """Values over the whole exponent range (zeros, NaN, infinity, huge and tiny), as x
    and as a copy 3 bytes off its alignment (read as bytes through an aligned buffer),
    with the generator that drew them."""
    r = np.random.default_rng(74)
    rows, cols = 2003, 37
    lo, hi = (-149, 127) if dt == F32 else (-1070, 1023)
    x = (r.choice([-1.0, 1.0], rows * cols) * (1 + r.random(rows * cols))
         * 2.0 ** r.uniform(lo, hi, rows * cols)).astype(dt).reshape(rows, cols)
    x.flat[::89], x.flat[3::97], x.flat[5::101] = 0.0, np.nan, -np.inf
    xm = np.frombuffer(bytearray(x.nbytes + 3), dt, x.size, offset=3).reshape(x.shape)
    xm[...] = x
    return r, x, xm


@case("preprocessing.standardize_wide")
def _standardize_wide(dt):
    """The standardization kernel on values over the whole exponent range: divided by
    FMAs from the reciprocal on the AVX2 and AVX-512 tables (gk_vdiv_recip), by the
    divider on the baseline one, with the same bits; stored into cache and streamed."""
    import gradkit
    from gradkit._ext import preprocessing as kpre
    r, x, xm = _wide_values(dt)
    cols = x.shape[1]
    mean = r.standard_normal(cols) * 2.0 ** r.uniform(-40, 40, cols)
    mean[::4] = 0.0
    scale = (1 + r.random(cols)) * 2.0 ** r.uniform(-300, 300, cols)
    out = []
    for threshold in (None, 1):
        before = gradkit.set_stream_threshold(threshold)
        try:
            for m, s in ((mean, scale), (mean, None), (None, scale)):
                for src in (x, xm):
                    y = np.empty_like(x)
                    out += [y, kpre.standardize(src, y, m, s)]
        finally:
            gradkit.set_stream_threshold(before)
    return out


@case("preprocessing.project")
def _project(dt):
    """The centred projection (x - mean) m, from an aligned x and from one 3 bytes off
    (the row copies), at widths that end m's panels part-way, and its transpose; BLAS
    (the baseline table's gemm) held to one thread, as the estimators hold it."""
    from gradkit import _blas
    from gradkit._ext import preprocessing as kpre
    with _blas.single_threaded():
        return _project_calls(dt, kpre)


def _project_calls(dt, kpre):
    r, x, xm = _wide_values(dt)
    rows, cols = x.shape
    xf = np.where(np.isfinite(x) & (np.abs(x) < 1e30), x, 1).astype(dt)
    xm[...] = xf
    out = []
    for k in (5, 37):
        proj = r.standard_normal((cols, k)).astype(dt)
        for src in (xf, xm):
            y = np.empty((rows, k), dt)
            out += [y, kpre.project(src, np.zeros(cols), proj, y)]
        # the transposed projection (x - mean)^T p: 37 columns end the vectors of a row
        # part-way on every table (the rest one by one, in the tiles' operations)
        p = r.standard_normal((rows, k)).astype(dt)
        yt = np.empty((cols, k), dt)
        out += [yt, kpre.project_t(xf, np.full(cols, 0.5), p, yt)]
    return out


@case("linear.linear/backward", dtypes=FLOATS + HALVES)
def _linear(dt):
    """linear and its backward (the three products: x W^T + b, dy W, dy^T x with the bias
    sums) at extents that end panels, row groups and step blocks part-way, several tasks
    at 4 threads; matmul of transposed views.  BLAS (the baseline table's gemm) held to
    one thread."""
    from gradkit import _blas
    from gradkit import linear as L
    x, w, b = data(61, (301, 257), dt), data(62, (131, 257), dt), data(63, (131,), dt)
    dy = data(64, (301, 131), dt)
    with _blas.single_threaded():
        return [L.linear(x, w, b), L.linear_backward(dy, x, w),
                L.matmul(x[:40].T, dy[:40])]


@case("preprocessing.Moments/Scatter")
def _stats(dt):
    from gradkit.preprocessing import Moments, Scatter
    x = _pre_data(dt)
    out = []
    for cls in (Moments, Scatter):
        a, b = cls.from_array(x[:700]), cls.from_array(x[700:])
        m = a.merge(b)
        out += [m.mean, m.m2 if cls is Moments else m.scatter, b.merge(a).mean]
    return out


@case("preprocessing.col_moments_weighted")
def _weighted_moments(dt):
    from gradkit._ext import preprocessing as kpre
    x = _pre_data(dt, rows=3001, cols=37).copy()
    x[::7, 3] = np.nan
    x[::11, 1:30:3] = np.nan      # NaN at every SIMD lane position
    w = np.linspace(0.5, 2.0, x.shape[0])
    out = []
    for wt in (None, w):
        stats = [np.empty(x.shape[1]) for _ in range(3)]
        kpre.col_moments_weighted(x, wt, *stats)
        out += stats
    return out


@case("preprocessing.sparse_col_moments")
def _sparse_moments(dt):
    from gradkit._ext import preprocessing as kpre
    x = _pre_data(dt, rows=3001, cols=40).copy()
    x[np.abs(x) < 0.8] = 0          # sparse, some columns nearly empty
    x[::97, 3] = np.nan
    x[:, 5] = x[0, 5] + 1           # stored in every row
    rows, cols = x.shape
    w = np.linspace(0.5, 2.0, rows)
    out = []
    for csr, lines in ((False, x.T), (True, x)):
        idx = [np.flatnonzero(line) for line in lines]
        indptr = np.concatenate(([0], np.cumsum([len(r) for r in idx]))).astype(np.intp)
        vals = np.concatenate([line[r] for line, r in zip(lines, idx)]).astype(dt)
        indices = np.concatenate(idx).astype(np.intp)
        for wt, total in ((None, float(rows)), (w, float(w.sum()))):
            for idx in (np.intp, np.int32):   # both index forms of the kernels
                stats = [np.empty(cols) for _ in range(3)]
                kpre.sparse_col_moments(csr, vals, indptr.astype(idx), indices.astype(idx),
                                        wt, rows, total, *stats)
                out += stats
    return out


def _decomposer_case(cls_name, **options):
    tag = ",".join(f"{k}={v}" for k, v in options.items())

    @case(f"preprocessing.{cls_name}({tag})")
    def run(dt):
        from gradkit import preprocessing
        x = _pre_data(dt)
        est = getattr(preprocessing, cls_name)(**options)
        y = est.fit_transform(x)
        return y, est.transform(x[:300]), est.inverse_transform(y), _fitted(est)


for _cls, _opts in [("PCA", {}), ("PCA", dict(n_components=17, whiten=True)),
                    ("Whitener", {}), ("Whitener", dict(method="pca", n_components=40))]:
    _decomposer_case(_cls, **_opts)


# ---- nn (layers on the kernels) ----------------------------------------------------------

@case("nn.Sequential[norms,dropout]")
def _nn(dt):
    from gradkit import nn
    net = nn.Sequential(nn.LayerNorm(307, dtype=dt), nn.Dropout(0.2, rng=151),
                        nn.RMSNorm(307, dtype=dt), nn.BatchNorm(307, dtype=dt))
    x, dy = data(152, (331, 307), dt), data(153, (331, 307), dt)
    return net.forward(x), net.backward(dy), net.grads


# ---- running the table -------------------------------------------------------------------

def run_all(names=None):
    out = {}
    for cid, (fn, dt) in CASES.items():
        if names and cid not in names:
            continue
        try:
            out[cid] = digest(fn(dt))
        except Exception as e:  # reported per case, compared like a hash
            out[cid] = f"raised {type(e).__name__}: {e}"
    return out


def main():
    """``_harness.py THREADS [CASE ...]``: THREADS a comma-separated list of counts."""
    sys.modules.setdefault("sklearn", None)  # not needed here: 3 s less per process
    import gradkit
    from threadpoolctl import threadpool_limits
    cfg = gradkit.show_config()
    counts = [int(n) for n in sys.argv[1].split(",")]
    requested = os.environ.get("GRADKIT_SIMD")
    runs = None
    if not requested or requested == cfg["simd"]:
        runs = {}
        for n in counts:
            # without OpenMP the kernels run on one thread whatever is asked; the BLAS
            # threads still follow n
            threads = gradkit.num_threads(n) if cfg["openmp"] else contextlib.nullcontext()
            with threads, threadpool_limits(n, user_api="blas"):
                hashes = run_all(sys.argv[2:])
                runs[str(n)] = {"threads": gradkit.get_num_threads(), "hashes": hashes}
    json.dump({"simd": cfg["simd"], "runs": runs}, sys.stdout)


if __name__ == "__main__":
    main()
