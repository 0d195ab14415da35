"""Standardizer, PCA, Whitener: against gradkit.reference and scikit-learn, mergeable
statistics (partial_fit == fit), threads, float32/float64, ill-conditioned data, bad
input, scikit-learn API compatibility."""
import pickle

import numpy as np
import pytest

import gradkit
from gradkit import preprocessing as pp
from gradkit import reference as ref
from gradkit._ext import preprocessing as _k
from conftest import assert_bitwise_equal, run_threads

SHAPES = [(2, 1), (7, 13), (40, 3), (600, 67), (1500, 17), (300, 300)]


def _data(rng, shape, dtype, mean=3.0):
    """Correlated data with a non-zero mean."""
    n, d = shape
    mix = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    X = rng.standard_normal((n, d)) @ mix * rng.uniform(0.5, 3.0, d) + mean
    return X.astype(dtype)


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)


def _within_peer(ours, peer, truth, own_tol):
    """The rule for peers (scikit-learn is not pinned): gradkit is judged against the
    float64 truth with its own tolerance, and against the peer only within the peer's
    own error (measured here against the same truth) plus that tolerance."""
    ours, peer, truth = (np.asarray(a, np.float64) for a in (ours, peer, truth))
    assert ours.shape == peer.shape == truth.shape
    np.testing.assert_allclose(ours, truth, rtol=0, atol=own_tol)
    peer_err = float(np.max(np.abs(peer - truth), initial=0.0))
    np.testing.assert_allclose(ours, peer, rtol=0, atol=own_tol + peer_err)


def _pca_truth(X, k, whiten):
    """PCA of X by a float64 SVD of the centred data, scikit-learn's conventions
    (n - 1, svd_flip on V, whitening by sqrt of the variances)."""
    x = X.astype(np.float64)
    mean = x.mean(axis=0)
    _, S, Vt = np.linalg.svd(x - mean, full_matrices=False)
    idx = np.argmax(np.abs(Vt), axis=1)
    Vt *= np.sign(Vt[np.arange(len(Vt)), idx])[:, None]
    n = len(x)
    ev = S ** 2 / (n - 1)
    noise = ev[k:].mean() if k < len(ev) else 0.0
    comps = Vt[:k]
    proj = (x - mean) @ comps.T
    if whiten:
        proj /= np.sqrt(ev[:k])
    return dict(mean_=mean, explained_variance_=ev[:k],
                explained_variance_ratio_=ev[:k] / ev.sum(), singular_values_=S[:k],
                components_=comps, noise_variance_=noise, transform=proj)


def _align(A, B):
    """Sign-align the columns of A to B (components are defined up to sign)."""
    s = np.sign(np.sum(A * B, axis=0))
    s[s == 0] = 1
    return A * s


# ---- kernels ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (17, 33), (1000, 7),
                                   (70000, 3), (3, 20000), (5000, 300)])
def test_col_moments_kernel(shape, dtype, rng):
    X = (rng.standard_normal(shape) * rng.uniform(0.1, 5, shape[1]) + 1e4).astype(dtype)
    mean, m2 = np.empty(shape[1]), np.empty(shape[1])
    _k.col_moments(X, mean, m2)
    x64 = X.astype(np.float64)
    mu = x64.mean(axis=0)
    np.testing.assert_allclose(mean, mu, rtol=1e-13, atol=0)
    np.testing.assert_allclose(m2, ((x64 - mu) ** 2).sum(axis=0), rtol=1e-10,
                               atol=1e-12 * (1 + np.abs(mu).max()))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (17, 33), (1000, 7), (70000, 3),
                                   (3, 20000), (0, 4), (5000, 300)])
@pytest.mark.parametrize("weighted", [False, True])
def test_col_moments_weighted_kernel_matches_reference(shape, weighted, dtype, rng):
    X = (rng.standard_normal(shape) * rng.uniform(0.1, 5, shape[1]) + 1e4).astype(dtype)
    X[rng.random(shape) < 0.07] = np.nan
    if shape[1] >= 4 and shape[0] >= 2:
        X[:, 0] = np.nan                 # no values
        X[:, 1] = 0.1                    # constant
        X[::2, 2] = np.nan
        X[1::2, 2] = 0.1                 # constant between NaN
        X[0, 3] = np.nan                 # the first row's value missing
    w = rng.uniform(0, 3, shape[0]) if weighted else None
    got = [np.full(shape[1], -1.0) for _ in range(3)]
    _k.col_moments_weighted(X, w, *got)
    r = ref.Standardizer().fit(X, sample_weight=w)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(got[0], r.n_samples_seen_, rtol=1e-13)
        has = r.n_samples_seen_ > 0
        np.testing.assert_allclose(got[1][has], r.mean_[has], rtol=1e-13)
        np.testing.assert_allclose(got[2][has], (r.var_ * r.n_samples_seen_)[has],
                                   rtol=1e-9, atol=1e-9 * np.nanmax(np.abs(X), initial=1.0))
    assert (got[1][~has] == 0).all() and (got[2][~has] == 0).all()
    if shape[1] >= 4 and shape[0] >= 2:
        assert got[1][1] == X[0, 1] and got[2][1] == 0          # exactly
        if shape[0] >= 2:
            assert got[1][2] == X[1, 2] and got[2][2] == 0


def test_col_moments_weighted_bitwise_across_threads(dtype, rng):
    X = (rng.standard_normal((40000, 13)) + 3).astype(dtype)
    X[rng.random(X.shape) < 0.02] = np.nan
    w = rng.uniform(0, 2, 40000)

    def stats():
        out = []
        for wt in (None, w):
            s = [np.empty(13) for _ in range(3)]
            _k.col_moments_weighted(X, wt, *s)
            out += s
        return out

    a, b = run_threads(stats, counts=(1, 2))
    assert_bitwise_equal(a, b)


def _compressed(D, dtype, csr):
    """data, indptr and indices (intp) of D (dense; zeros not stored) in compressed-row
    (csr) or compressed-column form, each line's values in index order."""
    lines = D if csr else D.T
    idx = [np.flatnonzero(line != 0) for line in lines]
    indptr = np.concatenate(([0], np.cumsum([len(r) for r in idx]))).astype(np.intp)
    data = np.concatenate([line[r] for line, r in zip(lines, idx)] + [np.zeros(0)])
    indices = np.concatenate(idx + [np.zeros(0, np.intp)]).astype(np.intp)
    return np.ascontiguousarray(data.astype(dtype)), indptr, indices


def _sparse_moments(csr, data, indptr, indices, w, rows, cols):
    total = float(rows) if w is None else float(w.sum())
    out = [np.full(cols, -1.0) for _ in range(3)]
    _k.sparse_col_moments(csr, data, indptr, indices, w, rows, total, *out)
    return out


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (7, 1), (50, 9), (3000, 37), (5, 0),
                                   (0, 3), (70000, 5)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("csr", [False, True], ids=["csc", "csr"])
def test_sparse_col_moments_kernels_match_reference(shape, weighted, csr, dtype, rng):
    rows, cols = shape
    D = rng.standard_normal(shape) * 3 + 1e3
    D[rng.random(shape) < 0.6] = 0
    D[rng.random(shape) < 0.05] = np.nan
    if cols > 3 and rows > 1:
        D[:, 0] = 0                    # no values
        D[:, 1] = 7.25                 # the same value in every row
        D[:, 2] = np.nan               # only NaN
        D[: rows // 2, 3] = 1.5        # constant values and implicit zeros
        D[rows // 2:, 3] = 0
    data, indptr, indices = _compressed(D, dtype, csr)
    w = rng.uniform(0, 3, rows) if weighted else None
    got = _sparse_moments(csr, data, indptr, indices, w, rows, cols)
    want = ref.preprocessing.sparse_col_moments(csr, data, indptr, indices, w, rows, cols)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-9)
    if cols > 3 and rows > 1:
        assert got[0][2] == 0 and got[1][2] == 0 and got[2][2] == 0   # only NaN
        assert got[1][1] == 7.25 and got[2][1] == 0                  # exact
        assert got[1][0] == 0 and got[2][0] == 0
    if not csr and not weighted:   # the rows are not needed then
        assert all(np.array_equal(a, b) for a, b in zip(
            got, _sparse_moments(csr, data, indptr, None, None, rows, cols)))
    # scipy's int32 index arrays, read by the int32 kernels: the same bits
    assert_bitwise_equal(got, _sparse_moments(csr, data, indptr.astype(np.int32),
                                              indices.astype(np.int32), w, rows, cols))


@pytest.mark.parametrize("csr", [False, True], ids=["csc", "csr"])
def test_sparse_col_moments_bitwise_across_threads(csr, dtype, rng):
    D = rng.standard_normal((200000, 24)) + 5
    D[rng.random(D.shape) < 0.5] = 0
    D[rng.random(D.shape) < 0.01] = np.nan
    data, indptr, indices = _compressed(D, dtype, csr)
    w = rng.uniform(0, 2, D.shape[0])

    def stats():
        return (_sparse_moments(csr, data, indptr, indices, None, *D.shape)
                + _sparse_moments(csr, data, indptr, indices, w, *D.shape))

    a, b = run_threads(stats, counts=(1, 2))
    assert_bitwise_equal(a, b)


@pytest.mark.parametrize("csr", [False, True], ids=["csc", "csr"])
@pytest.mark.parametrize("idx", [np.intp, np.int32])
def test_sparse_col_moments_reject_bad_structure(csr, idx):
    out = [np.full(2, 7.0) for _ in range(3)]   # rows = cols = 2
    w = np.ones(2)
    for bad in ([0, 3, 2], [1, 2, 4], [0, 3, 3]):   # decreasing, not from 0, > the width
        with pytest.raises(ValueError, match="indptr"):
            _k.sparse_col_moments(csr, np.ones(bad[-1]), np.array(bad, idx),
                                  np.zeros(bad[-1], idx), w, 2, 2.0, *out)
    for bad in ([0, 2], [-1, 0], [1, -5]):   # past the width, negative
        with pytest.raises(ValueError, match="indices"):
            _k.sparse_col_moments(csr, np.ones(2), np.array([0, 1, 2], idx),
                                  np.array(bad, idx), w, 2, 2.0, *out)
    other = np.int32 if idx is np.intp else np.intp   # the two index arrays differ
    with pytest.raises(TypeError, match="indices"):
        _k.sparse_col_moments(csr, np.ones(2), np.array([0, 1, 2], idx),
                              np.zeros(2, other), w, 2, 2.0, *out)
    with pytest.raises(TypeError, match="indptr"):
        _k.sparse_col_moments(csr, np.ones(2), np.array([0, 1, 2], np.int16),
                              np.zeros(2, idx), w, 2, 2.0, *out)
    with pytest.raises(ValueError, match="data"):
        _k.sparse_col_moments(csr, np.ones(3), np.array([0, 1, 2], idx),
                              np.zeros(2, idx), w, 2, 2.0, *out)
    assert all((o == 7.0).all() for o in out)   # nothing written


# widths that end the scatter's panels (8 float64 or 16 float32 columns a panel on
# AVX-512, 4 or 8 on AVX2) part-way and leave tiles of 1, 2 and 3 panels; row counts
# that end its chains of 64 rows part-way
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (1000, 1), (777, 33), (100003, 7),
                                   (300, 300), (517, 17), (1200, 70), (4097, 130)])
def test_scatter_and_project_kernels(shape, dtype, rng):
    X = (rng.standard_normal(shape) * rng.uniform(0.1, 5, shape[1]) + 1e3).astype(dtype)
    x64 = X.astype(np.float64)
    mu = x64.mean(axis=0)
    xc = x64 - mu
    mean, S = np.empty(shape[1]), np.zeros((shape[1], shape[1]))
    assert not _k.scatter(X, mean, S)
    np.testing.assert_allclose(mean, mu, rtol=1e-13)
    ref_S = np.tril(xc.T @ xc)
    # float32 data: each chunk's scatter is a float32 syrk (summed in double over chunks)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(S, ref_S, rtol=tol, atol=tol * np.abs(ref_S).max())
    for k in (0, 1, 5, 37):   # 37: m's panels (8 or 16 columns, 4 or 8 on AVX2) 3 + 2
        M = rng.standard_normal((shape[1], k)).astype(dtype)
        Y = np.empty((shape[0], k), dtype)
        assert not _k.project(X, mean, M, Y)
        np.testing.assert_allclose(Y, xc @ M, rtol=1e-6 if dtype == np.float32 else 1e-10,
                                   atol=(1e-6 if dtype == np.float32 else 1e-10)
                                   * max(1.0, np.abs(xc @ M).max() if k else 1.0))
    X[-1, -1] = np.nan
    assert _k.scatter(X, mean, np.zeros_like(S))
    assert _k.project(X, mean, np.zeros((shape[1], 2), dtype), np.empty((shape[0], 2), dtype))


def test_scatter_bitwise_across_threads(dtype, rng):
    X = (rng.standard_normal((200003, 9)) + 5).astype(dtype)
    assert _k.scatter_tasks(*X.shape) > 2

    def run():
        mean, S = np.empty(9), np.zeros((9, 9))
        _k.scatter(X, mean, S)
        Y = np.empty((X.shape[0], 4), dtype)
        _k.project(X, mean, np.arange(36.0, dtype=dtype).reshape(9, 4), Y)
        return mean, S, Y

    a, b = run_threads(run, counts=(1, 2))
    assert_bitwise_equal(a, b)


def test_center_kernel_and_nonfinite_flag(dtype, rng):
    X = _data(rng, (300, 11), dtype)
    mean, xc = np.empty(11), np.empty((300, 11))
    assert not _k.center(X, None, mean, xc)
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(0), rtol=1e-13)
    np.testing.assert_allclose(xc, X.astype(np.float64) - mean, rtol=1e-13, atol=1e-12)
    X[7, 3] = np.inf
    assert _k.center(X, mean, None, xc)
    X[7, 3] = np.nan
    assert _k.standardize(X, np.empty_like(X), mean, None)


# ---- Standardizer ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, True),
                                                (True, False), (False, False)])
def test_standardizer_matches_reference(shape, with_mean, with_std, dtype, rng):
    X = _data(rng, shape, dtype)
    X0 = X.copy()
    s = pp.Standardizer(with_mean, with_std).fit(X)
    r = ref.Standardizer(with_mean, with_std).fit(X.astype(np.float64))
    Y = s.transform(X)
    assert Y.dtype == dtype and Y.shape == X.shape
    np.testing.assert_allclose(Y, r.transform(X), **_tol(dtype))
    np.testing.assert_array_equal(X, X0)  # input untouched
    assert s.n_samples_seen_ == shape[0] and s.n_features_in_ == shape[1]
    if with_mean or with_std:
        np.testing.assert_allclose(s.mean_, r.mean_, rtol=1e-12, atol=1e-12)
        assert s.mean_.dtype == np.float64
    else:
        assert s.mean_ is None
    if with_std:
        np.testing.assert_allclose(s.var_, r.var_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(s.scale_, r.scale_, rtol=1e-10)
    else:
        assert s.var_ is None and s.scale_ is None
    back = s.inverse_transform(Y)
    assert back.dtype == dtype
    np.testing.assert_allclose(back, X, **_tol(dtype))


def test_standardizer_constant_and_large_mean(rng):
    X = rng.standard_normal((1000, 4))
    X[:, 1] = 7.25          # constant: scale 1
    X[:, 2] += 1e8          # large mean: the variance must survive
    s = pp.Standardizer().fit(X)
    assert s.scale_[1] == 1.0 and s.var_[1] == 0.0
    np.testing.assert_allclose(s.var_[2], X[:, 2].var(), rtol=1e-9)
    Y = s.transform(X)
    np.testing.assert_allclose(Y[:, 1], 0.0)
    np.testing.assert_allclose(Y[:, 2].std(), 1.0, rtol=1e-9)


def test_standardizer_copy_false_writes_in_place(rng):
    X = rng.standard_normal((50, 6))
    s = pp.Standardizer(copy=False).fit(X)
    Y = s.transform(X)
    assert Y is X
    np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-12)


def _wide(rng, n, lo, hi):
    """Values of both signs over the binary exponents [lo, hi)."""
    return rng.choice([-1.0, 1.0], n) * (1 + rng.random(n)) * 2.0 ** rng.uniform(lo, hi, n)


def _misaligned(a, offset=3):
    """a's values in a C-contiguous array `offset` bytes off its elements' alignment (as
    a dask block deserialized where its network frame lies)."""
    m = np.frombuffer(bytearray(a.nbytes + 64), a.dtype, a.size,
                      offset=offset).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned or a.size == 0
    return m


def _same_bits_or_nan(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    assert a[~nan].tobytes() == b[~nan].tobytes()


@pytest.mark.parametrize("cols", [1, 3, 7, 16, 17, 61, 256])
@pytest.mark.parametrize("where", ["fresh", "offset", "in place", "streamed",
                                   "x misaligned", "x misaligned, streamed"])
@pytest.mark.parametrize("tables", ["in range", "huge mean", "tiny scale", "mean only"])
def test_standardize_kernel_is_the_rounded_division(cols, where, tables, dtype, rng):
    """y = (x - mean) / scale computed in double and rounded once, bit for bit: the
    kernel divides by FMAs from the reciprocal (gk_vdiv_recip; its range check, or for
    float32 x with moderate means none), by the divider for the lanes and tables
    outside the proven range: zeros of both signs, NaN, infinity, subnormal and huge
    quotients, quotients near a midpoint between doubles, columns wrapping within a
    vector, every store alignment, in place and streamed, x off its alignment (read as
    bytes through an aligned buffer)."""
    rows = max(2, 3001 // cols)
    lo, hi = (-149, 127) if dtype == np.float32 else (-1070, 1023)
    x = _wide(rng, rows * cols, lo, hi).astype(dtype)
    x[::37], x[5::41], x[7::97], x[9::101], x[11::103] = 0.0, -0.0, np.nan, np.inf, -np.inf
    mean = _wide(rng, cols, -40, 40)
    mean[::5] = 0.0
    scale = np.abs(_wide(rng, cols, -300, 300))
    if tables == "huge mean":
        mean[-1] = 2.0 ** 450
    elif tables == "tiny scale":
        scale[0] = 2.0 ** -600
    X = x.reshape(rows, cols)
    z = mean == 0.0                        # near-midpoint quotients: x = (q + ulp/2) c
    q = _wide(rng, z.sum(), -60, 60)
    with np.errstate(over="ignore"):       # float32: huge values become infinity
        X[1] = mean.astype(dtype)          # x == mean: d = 0 (float32: nearly)
        X[2, z] = ((q + np.spacing(q) / 2) * scale[z]).astype(dtype)
    mean_arg = mean
    scale_arg = None if tables == "mean only" else scale
    with np.errstate(all="ignore"):
        want = X.astype(np.float64) - mean_arg
        if scale_arg is not None:
            want = want / scale_arg
        want = want.astype(dtype)
    src = X.copy()
    if where.startswith("x misaligned"):
        X = _misaligned(X, 1 + cols % (X.itemsize - 1))
    if where == "in place":
        Y = X
    elif where == "offset":          # stores not aligned to the vector width
        Y = np.empty(X.size + 3, dtype)[3:].reshape(X.shape)
    else:
        Y = np.empty_like(X)
    before = gradkit.set_stream_threshold(1 if where.endswith("streamed") else None)
    try:
        bad = _k.standardize(X, Y, mean_arg, scale_arg)
    finally:
        gradkit.set_stream_threshold(before)
    assert bad                             # NaN and infinity in x
    _same_bits_or_nan(Y, want)
    if where != "in place":
        assert X.tobytes() == src.tobytes()


def test_standardize_kernel_flags_only_nonfinite_x(dtype, rng):
    X = rng.standard_normal((200, 19)).astype(dtype)
    mean, scale = rng.standard_normal(19), rng.uniform(0.5, 2, 19)
    for m, s in ((mean, scale), (mean, None), (None, scale), (None, None)):
        assert not _k.standardize(X, np.empty_like(X), m, s)
        bad = X.copy()
        bad[150, 18] = np.inf
        assert _k.standardize(bad, np.empty_like(bad), m, s)


@pytest.mark.parametrize("offset", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("where", [0, 2, 517, 1023, 1029, 3790, 3799])
def test_standardize_kernel_reads_misaligned_x(offset, where, dtype, rng):
    """x at any byte offset from its elements' alignment: read as bytes, in 4 KiB pieces
    through an aligned buffer; every mode gives the bits of aligned x, a non-finite
    value anywhere (the head before y's first aligned vector, a piece's first or last
    vector, the tail) is flagged, and x is untouched; 1 and 2 threads agree."""
    offset %= np.dtype(dtype).itemsize   # float32: 1, 2, 3, 1, 3
    X = rng.standard_normal((200, 19)).astype(dtype)
    mean, scale = rng.standard_normal(19), rng.uniform(0.5, 2, 19)
    Xm = _misaligned(X, offset)
    for m, s in ((mean, scale), (mean, None), (None, scale), (None, None)):
        want, got = np.empty_like(X), np.full_like(X, 7)
        assert not _k.standardize(X, want, m, s)
        assert not _k.standardize(Xm, got, m, s)
        assert got.tobytes() == want.tobytes()
    Xm.flat[where] = np.inf
    for m, s in ((mean, scale), (mean, None), (None, None)):
        assert _k.standardize(Xm, np.empty_like(X), m, s)
    assert np.isinf(Xm.flat[where]) and np.isinf(Xm).sum() == 1

    big = rng.standard_normal((3001, 61)).astype(dtype)
    bigm = _misaligned(big, offset)

    def run(x):
        y = np.empty_like(big)
        _k.standardize(x, y, mean.repeat(4)[:61], scale.repeat(4)[:61])
        return y
    a, b = run_threads(lambda: run(bigm), counts=(1, 2))
    assert_bitwise_equal(a, b)
    assert_bitwise_equal(a, run(big))


def test_project_kernels_read_misaligned_x(dtype, rng):
    """project and project_t copy each row of x into their buffer as bytes: x at any
    offset gives the bits of aligned x, and its non-finite values are flagged."""
    X = (rng.standard_normal((1003, 37)) + 4).astype(dtype)
    mean = X.astype(np.float64).mean(axis=0)
    M = rng.standard_normal((37, 5)).astype(dtype)
    Mt = rng.standard_normal((1003, 5)).astype(dtype)
    for offset in range(1, X.itemsize):
        Xm = _misaligned(X, offset)
        for kernel, m, shape in ((_k.project, M, (1003, 5)), (_k.project_t, Mt, (37, 5))):
            want, got = np.empty(shape, dtype), np.empty(shape, dtype)
            assert not kernel(X, mean, m, want)
            assert not kernel(Xm, mean, m, got)
            assert got.tobytes() == want.tobytes()
        Xm[1002, 36] = np.nan
        assert _k.project(Xm, mean, M, np.empty((1003, 5), dtype))
        assert _k.project_t(Xm, mean, Mt, np.empty((37, 5), dtype))


@pytest.mark.parametrize("cls", ["Standardizer", "PCA", "Whitener"])
def test_transforms_take_misaligned_x_as_it_lies(cls, dtype, rng, monkeypatch):
    """A C-contiguous X off its elements' alignment (a dask block received over the
    network) is transformed where it lies, not copied first, with the bits of an aligned
    X; Standardizer(copy=False) still writes the result into it."""
    X = (rng.standard_normal((501, 23)) * 2 + 1).astype(dtype)
    est = getattr(pp, cls)() if cls != "PCA" else pp.PCA(7)
    est.fit(X)
    Xm = _misaligned(X, 3)
    want = est.transform(X)
    copies = []
    real_copy = np.ndarray.copy

    class Spy(np.ndarray):
        def copy(self, *a, **k):
            copies.append(self.shape)
            return real_copy(self, *a, **k)
    got = est.transform(Xm.view(Spy))
    assert not copies
    assert np.asarray(got).tobytes() == want.tobytes()
    assert Xm.tobytes() == X.tobytes()
    if cls == "Standardizer":
        out = est.set_params(copy=False).transform(Xm)
        assert out is Xm and Xm.tobytes() == want.tobytes()


def test_standardizer_vs_sklearn(dtype, rng):
    skp = pytest.importorskip("sklearn.preprocessing")
    X = _data(rng, (700, 9), dtype, mean=50.0)
    X[:, 4] = 1.5
    a, b = pp.Standardizer().fit(X), skp.StandardScaler().fit(X)
    x = X.astype(np.float64)  # the truth: two-pass float64 statistics
    mean, var = x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).mean(axis=0)
    scale = np.where(var > 1e-20, np.sqrt(var), 1.0)
    for attr, truth in (("mean_", mean), ("var_", var), ("scale_", scale)):
        _within_peer(getattr(a, attr), getattr(b, attr), truth,
                     1e-13 * float(np.abs(truth).max()))
    assert a.n_samples_seen_ == b.n_samples_seen_
    Ya, Yb = a.fit_transform(X), b.transform(X)
    assert Ya.dtype == Yb.dtype == dtype
    z = (x - mean) / scale
    eps = np.finfo(dtype).eps
    # x - mean cancels: its rounding is eps * |x|, on the scale of each column
    _within_peer(Ya, Yb, z, 8 * eps * float(np.max(np.abs(x) / scale)))
    _within_peer(a.inverse_transform(Ya), b.inverse_transform(Yb), x,
                 8 * eps * float(np.abs(x).max()))


# ---- PCA --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("solver", ["covariance_eigh", "full"])
def test_pca_matches_reference(shape, whiten, solver, dtype, rng):
    X = _data(rng, shape, dtype)
    k = min(shape) if min(shape) < 3 else min(shape) - 1
    p = pp.PCA(k, whiten=whiten, svd_solver=solver).fit(X)
    r = ref.PCA(k, whiten=whiten).fit(X.astype(np.float64))
    tol = _tol(dtype)
    scale = r.explained_variance_[0]
    np.testing.assert_allclose(p.explained_variance_, r.explained_variance_,
                               rtol=tol["rtol"], atol=tol["atol"] * scale)
    np.testing.assert_allclose(p.explained_variance_ratio_, r.explained_variance_ratio_,
                               **tol)
    np.testing.assert_allclose(p.mean_, r.mean_, **tol)
    assert p.n_components_ == k and p.components_.shape == (k, shape[1])
    for a in ("components_", "explained_variance_", "mean_", "singular_values_"):
        assert getattr(p, a).dtype == dtype
    # components of well-separated eigenvalues agree with the same sign convention
    ev = r.explained_variance_
    gap = np.abs(np.diff(ev)) > 1e-3 * ev[0]
    sep = np.ones(k, bool)
    sep[:-1] &= gap[:k - 1] if k > 1 else True
    sep[1:] &= gap[:k - 1]
    if shape[1] <= shape[0]:
        np.testing.assert_allclose(p.components_[sep], r.components_[sep],
                                   atol=50 * tol["atol"] if dtype == np.float64 else 5e-3)
    Y = p.transform(X)
    assert Y.dtype == dtype and Y.shape == (shape[0], k)
    Yr = r.transform(X)
    atol = (2e-3 if dtype == np.float32 else 1e-7) * np.abs(Yr).max()
    if whiten:  # projections on near-zero variances are round-off: compare big ones
        ev = r.explained_variance_
        big = ev > 1e-6 * ev[0]
        Y, Yr = Y[:, big], Yr[:, big]
        # whitening divides component i by sqrt(ev_i): the fit's round-off, on the scale
        # of ev_0, grows by sqrt(ev_0 / ev_i) -- up to 10x more than at 1e-4 ev_0
        atol = atol * np.maximum(1.0, np.sqrt(1e-4 * ev[0] / ev[big]))
    np.testing.assert_array_less(np.abs(_align(Y, Yr) - Yr), atol + 0 * Yr)


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("n_components", [None, 3, 0.9])
def test_pca_vs_sklearn(whiten, n_components, dtype, rng):
    """Against a float64 SVD, and against scikit-learn within scikit-learn's own error:
    with scikit-learn 1.9.1 a float32 fit of its PCA is off by 6.5e-4 where gradkit's is
    off by 2e-8, and a fixed tolerance against the peer failed on gradkit."""
    skd = pytest.importorskip("sklearn.decomposition")
    X = _data(rng, (800, 12), dtype, mean=-4.0)
    a = pp.PCA(n_components, whiten=whiten).fit(X)
    b = skd.PCA(n_components, whiten=whiten).fit(X)
    assert a.n_components_ == b.n_components_
    t = _pca_truth(X, a.n_components_, whiten)
    eps = np.finfo(dtype).eps
    for attr in ("explained_variance_", "explained_variance_ratio_", "singular_values_",
                 "mean_", "noise_variance_", "components_"):
        truth = t[attr]
        scale = float(np.max(np.abs(truth), initial=1.0))
        _within_peer(getattr(a, attr), getattr(b, attr), truth, 8 * eps * scale + 1e-13)
        if attr != "noise_variance_":  # scikit-learn's is a Python float when 0
            assert getattr(a, attr).dtype == getattr(b, attr).dtype == dtype
    scale = float(np.abs(t["transform"]).max())
    if dtype == np.float32:
        # float32 data are projected by sgemm: its rounding, eps * |x - mean| * |v_j|
        # per product, is divided by sqrt(variance_j) when whitening
        rows = float(np.sqrt(X.shape[1])) * np.abs(X.astype(np.float64) - t["mean_"]).max()
        if whiten:
            rows /= float(np.sqrt(t["explained_variance_"].min()))
        scale = max(scale, rows)
    for ours, peer in ((a.transform(X), b.transform(X)),
                       (a.fit_transform(X), b.fit_transform(X))):
        assert ours.dtype == peer.dtype == dtype
        _within_peer(ours, peer, t["transform"], 16 * eps * scale + 1e-12)
    Y = t["transform"].astype(dtype)
    back = X.astype(np.float64)  # the projection of X onto the kept components
    back = (back - t["mean_"]) @ t["components_"].T @ t["components_"] + t["mean_"]
    _within_peer(a.inverse_transform(Y), b.inverse_transform(Y), back,
                 64 * eps * float(np.abs(X).max()))


@pytest.mark.parametrize("cls", [pp.PCA, pp.Whitener])
def test_large_mean_keeps_full_accuracy(cls, rng):
    """Data 1e7 + N(0, s^2): the scatter is formed from centred chunks, so nothing
    cancels (forming X^T X - n mu mu^T would lose ~14 of the 16 digits here)."""
    X = rng.standard_normal((20000, 8)) * np.linspace(1, 3, 8) + 1e7
    est = cls().fit(X)
    if cls is pp.PCA:
        r = ref.PCA().fit(X)
        np.testing.assert_allclose(est.explained_variance_, r.explained_variance_,
                                   rtol=1e-10)
    else:
        r = ref.Whitener().fit(X)
        np.testing.assert_allclose(est.whitening_matrix_, r.whitening_matrix_,
                                   rtol=0, atol=1e-9)
    Yr = r.transform(X)
    np.testing.assert_allclose(_align(est.transform(X), Yr), Yr, rtol=0, atol=1e-8)


def test_pca_whitened_covariance_is_identity(rng):
    X = _data(rng, (5000, 20), np.float64)
    for solver in ("covariance_eigh", "full"):
        Y = pp.PCA(whiten=True, svd_solver=solver).fit_transform(X)
        np.testing.assert_allclose(np.cov(Y.T), np.eye(20), atol=1e-10)


def test_pca_full_rank_roundtrip_and_more_features_than_samples(dtype, rng):
    X = _data(rng, (10, 30), dtype)
    p = pp.PCA().fit(X)
    assert p.n_components_ == 10 and p.noise_variance_ == 0
    np.testing.assert_allclose(p.inverse_transform(p.transform(X)), X,
                               atol=1e-9 if dtype == np.float64 else 1e-3)
    skd = pytest.importorskip("sklearn.decomposition")
    b = skd.PCA(svd_solver="full").fit(X)
    k = 8  # the last component of centred 10-sample data is noise
    truth = _pca_truth(X, 10, False)["explained_variance_"][:k]
    _within_peer(p.explained_variance_[:k], b.explained_variance_[:k], truth,
                 64 * np.finfo(dtype).eps * truth[0])


def test_pca_ill_conditioned_svd_path_is_more_accurate(rng):
    """Variances spanning 1e0..1e-24 (singular values 1..1e-12): the covariance route
    squares the condition number and loses the directions below ~eps * lambda_max;
    the SVD of the data keeps them."""
    n, d = 2000, 8
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    P, _ = np.linalg.qr(rng.standard_normal((n, d)))
    P -= P.mean(axis=0)
    P, _ = np.linalg.qr(P)  # orthonormal, centred columns
    sv = np.logspace(0, -12, d)
    X = (P * sv) @ Q.T + 5.0
    true_var = sv ** 2 / (n - 1)
    full = pp.PCA(svd_solver="full").fit(X)
    cov = pp.PCA(svd_solver="covariance_eigh").fit(X)
    err_full = np.abs(full.explained_variance_ / true_var - 1)
    err_cov = np.abs(cov.explained_variance_ / true_var - 1)
    # SVD: relative error ~ eps * (sv0 / sv_i) even for the smallest
    assert err_full[-1] < 1e-2 and err_full[:4].max() < 1e-8
    # covariance: the smallest variances (below eps * lambda_max) are lost entirely
    assert err_cov[:3].max() < 1e-8
    assert err_cov[-1] > 0.5
    assert err_full[-1] < 1e-3 * err_cov[-1]


# ---- Whitener ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(40, 3), (600, 67), (1500, 17)])
@pytest.mark.parametrize("method", ["zca", "pca"])
@pytest.mark.parametrize("solver", ["covariance_eigh", "full"])
def test_whitener_matches_reference(shape, method, solver, dtype, rng):
    X = _data(rng, shape, dtype)
    k = None if method == "zca" else shape[1] - 1
    w = pp.Whitener(method, 1e-5, k, svd_solver=solver).fit(X)
    r = ref.Whitener(method, 1e-5, k).fit(X.astype(np.float64))
    Y, Yr = w.transform(X), r.transform(X)
    assert Y.dtype == dtype and Y.shape == Yr.shape
    assert w.whitening_matrix_.shape == r.whitening_matrix_.shape
    tol = dict(rtol=0, atol=(2e-3 if dtype == np.float32 else 1e-7) * np.abs(Yr).max())
    if method == "zca":  # sign-free
        np.testing.assert_allclose(w.whitening_matrix_, r.whitening_matrix_,
                                   rtol=0, atol=tol["atol"])
        np.testing.assert_allclose(Y, Yr, **tol)
    else:
        np.testing.assert_allclose(_align(Y, Yr), Yr, **tol)
    np.testing.assert_allclose(w.eigenvalues_, r.eigenvalues_, rtol=_tol(dtype)["rtol"],
                               atol=_tol(dtype)["atol"] * r.eigenvalues_[0])
    if method == "zca":
        np.testing.assert_allclose(w.inverse_transform(Y), X, **_tol(dtype))


@pytest.mark.parametrize("method", ["zca", "pca"])
def test_whitener_solvers_agree_with_fewer_samples_than_features(method, rng):
    X = _data(rng, (12, 20), np.float64)
    a = pp.Whitener(method, eps=1e-3).fit(X)
    b = pp.Whitener(method, eps=1e-3, svd_solver="full").fit(X)
    assert a.whitening_matrix_.shape == b.whitening_matrix_.shape
    np.testing.assert_allclose(a.eigenvalues_, b.eigenvalues_, atol=1e-10)
    if method == "zca":
        np.testing.assert_allclose(a.whitening_matrix_, b.whitening_matrix_, atol=1e-6)


@pytest.mark.parametrize("method", ["zca", "pca"])
def test_whitened_covariance_is_identity(method, rng):
    X = _data(rng, (4000, 16), np.float64)
    Y = pp.Whitener(method, eps=0.0).fit_transform(X)
    np.testing.assert_allclose(Y.T @ Y / len(Y), np.eye(16), atol=1e-10)
    np.testing.assert_allclose(Y.mean(0), 0.0, atol=1e-10)
    # eps > 0 shrinks each direction by lambda / (lambda + eps)
    w = pp.Whitener(method, eps=0.1).fit(X)
    Y = w.transform(X)
    if method == "pca":
        lam = w.eigenvalues_
        np.testing.assert_allclose(np.diag(Y.T @ Y / len(Y)), lam / (lam + 0.1),
                                   rtol=1e-10)


def test_zca_is_symmetric_and_pca_vs_sklearn_whiten(rng):
    X = _data(rng, (900, 10), np.float64)
    w = pp.Whitener("zca").fit(X)
    np.testing.assert_allclose(w.whitening_matrix_, w.whitening_matrix_.T, atol=1e-12)
    skd = pytest.importorskip("sklearn.decomposition")
    # PCA whitening with eps=0 is sklearn's PCA(whiten=True) up to sqrt(n / (n - 1))
    Y = pp.Whitener("pca", eps=0.0).fit_transform(X)
    Ys = skd.PCA(whiten=True).fit_transform(X)
    truth = _pca_truth(X, 10, True)["transform"]
    _within_peer(Y * np.sqrt(899 / 900), Ys, truth, 1e-11)


# ---- mergeable statistics ---------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: pp.Standardizer(), lambda: pp.PCA(whiten=True), lambda: pp.PCA(4),
    lambda: pp.Whitener("zca"), lambda: pp.Whitener("pca", n_components=5)])
def test_partial_fit_equals_fit(make, dtype, rng):
    X = _data(rng, (3001, 9), dtype, mean=100.0)
    whole = make().fit(X)
    parts = make()
    for chunk in np.array_split(X, [1, 700, 701, 2500]):  # incl. one-row batches
        parts.partial_fit(chunk)
    attrs = [a for a in ("mean_", "var_", "scale_", "explained_variance_", "components_",
                         "whitening_matrix_", "singular_values_") if hasattr(whole, a)]
    for a in attrs:
        np.testing.assert_allclose(getattr(parts, a), getattr(whole, a),
                                   rtol=1e-10 if dtype == np.float64 else 1e-5,
                                   atol=1e-10 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(parts.transform(X), whole.transform(X),
                               rtol=1e-8 if dtype == np.float64 else 1e-4,
                               atol=1e-8 if dtype == np.float64 else 1e-4)


def test_partial_fit_after_svd_fit_continues_the_statistics(rng):
    X = _data(rng, (500, 6), np.float64)
    a = pp.PCA(svd_solver="full").fit(X[:200]).partial_fit(X[200:])
    b = pp.PCA().fit(X)
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-9)
    # a first batch of one sample is kept; the model exists from 2 samples on
    p = pp.PCA().partial_fit(X[:1])
    with pytest.raises(pp.NotFittedError):
        p.transform(X)
    p.partial_fit(X[1:])
    np.testing.assert_allclose(p.explained_variance_, b.explained_variance_, rtol=1e-10)


def test_statistics_bitwise_equal_across_threads(rng):
    X = _data(rng, (40000, 13), np.float64)   # 520k elements: well above GK_PARALLEL_MIN
    X32 = X.astype(np.float32)

    def stats():
        out = []
        for x in (X, X32):
            m, m2 = np.empty(13), np.empty(13)
            _k.col_moments(x, m, m2)
            mu, xc = np.empty(13), np.empty(x.shape)
            _k.center(x, None, mu, xc)
            s = pp.Standardizer().fit(x)
            st = pp.Scatter.from_array(x)
            out += [m, m2, mu, xc, s.var_, s.transform(x), st.mean, st.scatter]
        return out

    a, b = run_threads(stats, counts=(1, 2))
    assert_bitwise_equal(a, b)


# ---- dtypes and layouts -----------------------------------------------------------------

@pytest.mark.parametrize("make", [pp.Standardizer, pp.PCA, pp.Whitener])
def test_dtypes_and_layouts(make, rng):
    X = _data(rng, (200, 8), np.float64)
    base = make().fit(X).transform(X)
    assert make().fit(X.astype(np.float32)).transform(X.astype(np.float32)).dtype == np.float32
    Xi = np.round(X * 10).astype(np.int64)
    assert make().fit(Xi).transform(Xi).dtype == np.float64
    assert make().fit(X.tolist()).transform(X.tolist()).dtype == np.float64
    F = np.asfortranarray(X)
    np.testing.assert_allclose(make().fit(F).transform(F), base, atol=1e-10)
    wide = np.empty((200, 16))
    wide[:, ::2] = X
    strided = wide[:, ::2]
    np.testing.assert_allclose(make().fit(strided).transform(strided), base, atol=1e-10)


# ---- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("make", [pp.Standardizer, pp.PCA, pp.Whitener])
def test_bad_input(make, rng):
    X = rng.standard_normal((30, 4))
    with pytest.raises(pp.NotFittedError, match="not fitted"):
        make().transform(X)
    assert issubclass(pp.NotFittedError, (ValueError, AttributeError))
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[3, 2] = bad
        if make is pp.Standardizer and np.isnan(bad):
            continue   # NaN is ignored by its fit, kept by transform (scikit-learn's rule)
        with pytest.raises(ValueError, match="NaN|infinity"):
            make().fit(Xb)
        with pytest.raises(ValueError, match="NaN|infinity"):
            make().fit(X).transform(Xb)
    est = make().fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 4"):
        est.transform(rng.standard_normal((3, 5)))
    with pytest.raises(ValueError, match="2D"):
        make().fit(X[:, 0])
    with pytest.raises(ValueError, match="0 sample"):
        make().fit(X[:0])
    with pytest.raises(ValueError, match="0 feature"):
        make().fit(X[:, :0])
    with pytest.raises(ValueError, match="Complex"):
        make().fit(X + 1j)
    with pytest.raises((TypeError, ValueError)):
        make().fit(np.array([["a", "b"], ["c", "d"]], dtype=object))
    Xf = X.copy()
    est = make().fit(Xf)
    est.transform(Xf)
    np.testing.assert_array_equal(Xf, X)  # inputs never modified


@pytest.mark.parametrize("make", [pp.PCA, pp.Whitener])
def test_one_sample_is_rejected(make, rng):
    with pytest.raises(ValueError, match="at least 2 samples.*1 sample"):
        make().fit(rng.standard_normal((1, 5)))
    # a single sample is fine for the Standardizer (variance 0 -> scale 1)
    s = pp.Standardizer().fit(rng.standard_normal((1, 5)))
    np.testing.assert_array_equal(s.scale_, np.ones(5))


def test_bad_parameters(rng):
    X = rng.standard_normal((20, 4))
    with pytest.raises(ValueError, match="n_components"):
        pp.PCA(5).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        pp.PCA("mlx").fit(X)
    with pytest.raises(ValueError, match="svd_solver"):
        pp.PCA(svd_solver="lapack").fit(X)
    with pytest.raises(ValueError, match="method"):
        pp.Whitener("cholesky").fit(X)
    with pytest.raises(ValueError, match="eps"):
        pp.Whitener(eps=-1.0).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        pp.Whitener(n_components=0).fit(X)
    with pytest.raises(TypeError, match="with_mean"):
        pp.Standardizer(with_mean="yes").fit(X)


# ---- scikit-learn API ------------------------------------------------------------------

def test_params_repr_pickle_without_sklearn_machinery(rng):
    p = pp.PCA(3, whiten=True)
    assert p.get_params() == {"n_components": 3, "whiten": True, "copy": True,
                              "svd_solver": "auto", "tol": 0.0, "iterated_power": "auto",
                              "n_oversamples": 10, "power_iteration_normalizer": "auto",
                              "random_state": None}
    assert p.set_params(n_components=2) is p and p.n_components == 2
    with pytest.raises(ValueError):
        p.set_params(nonsense=1)
    assert "PCA(" in repr(p) and "whiten=True" in repr(p)
    X = rng.standard_normal((50, 5))
    p.fit(X)
    q = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(q.transform(X), p.transform(X))
    assert p.get_feature_names_out().tolist() == ["pca0", "pca1"]


def test_works_without_sklearn():
    """In a fresh interpreter where importing scikit-learn fails."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None          # import sklearn -> ImportError
        import numpy as np
        from gradkit import preprocessing as pp
        from gradkit import _sklearn_compat as compat
        assert not compat.HAVE_SKLEARN
        assert issubclass(pp.NotFittedError, ValueError)
        assert issubclass(pp.NotFittedError, AttributeError)
        X = np.random.default_rng(0).standard_normal((50, 4))
        p = pp.PCA(2, whiten=True)
        try:
            p.transform(X)
            raise SystemExit("no NotFittedError")
        except pp.NotFittedError:
            pass
        assert p.get_params()["svd_solver"] == "auto"
        assert sorted(p.get_params()) == sorted([
            "n_components", "whiten", "copy", "svd_solver", "tol", "iterated_power",
            "n_oversamples", "power_iteration_normalizer", "random_state"])
        assert repr(p) == "PCA(n_components=2, whiten=True)", repr(p)
        assert p.set_params(n_components=3) is p
        try:
            p.set_params(bogus=1)
            raise SystemExit("set_params accepted a bogus name")
        except ValueError:
            pass
        Y = p.fit_transform(X)
        assert Y.shape == (50, 3)
        assert np.allclose(np.cov(Y.T), np.eye(3))
        assert pp.Standardizer().fit(X).transform(X).shape == (50, 4)
        assert pp.Whitener().fit_transform(X).shape == (50, 4)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


class _Frame:
    """The dataframe protocol the estimators use: string .columns and __array__."""

    def __init__(self, data, columns):
        self.data, self.columns = np.asarray(data), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)


@pytest.mark.parametrize("make", [pp.Standardizer, pp.PCA, pp.Whitener])
def test_feature_names(make, rng):
    X = rng.standard_normal((40, 3))
    est = make().fit(_Frame(X, ["a", "b", "c"]))
    assert est.feature_names_in_.tolist() == ["a", "b", "c"]
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        plain = est.transform(X)
    np.testing.assert_allclose(est.transform(_Frame(X, ["a", "b", "c"])), plain)
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(_Frame(X, ["a", "c", "b"]))
    assert not hasattr(make().fit(X), "feature_names_in_")
    names = est.get_feature_names_out().tolist()
    assert names == (["a", "b", "c"] if make is not pp.PCA else ["pca0", "pca1", "pca2"])


def test_clone_and_pipeline(rng):
    base = pytest.importorskip("sklearn.base")
    pipeline = pytest.importorskip("sklearn.pipeline")
    lm = pytest.importorskip("sklearn.linear_model")
    X = _data(rng, (300, 6), np.float64)
    y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(300)
    p = pp.PCA(4, whiten=True)
    c = base.clone(p)
    assert c is not p and c.get_params() == p.get_params()
    assert not hasattr(c, "components_")
    pipe = pipeline.make_pipeline(pp.Standardizer(), pp.Whitener("zca"), pp.PCA(5),
                                  lm.LinearRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.9
    assert pipe[:-1].transform(X).shape == (300, 5)


@pytest.mark.parametrize("make", [
    lambda: pp.Standardizer(), lambda: pp.Standardizer(with_mean=False),
    lambda: pp.PCA(), lambda: pp.PCA(2, whiten=True), lambda: pp.PCA(svd_solver="full"),
    lambda: pp.Whitener(), lambda: pp.Whitener("pca", n_components=2)])
def test_check_estimator(make):
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    results = checks.check_estimator(make(), on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results
              if r["status"] == "failed"]
    assert not failed, failed


# ---- issue 10: BLAS thread limits, atomic fits ----------------------------------------------

def test_concurrent_fits_restore_the_blas_threads(rng):
    """PCA().fit from 4 Python threads at once left OpenBLAS at 1 thread for the rest of
    the process (each nested threadpool limit restored what it found, out of order)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import sys
    import threading
    from gradkit import _blas

    def blas_threads():
        return sorted((i["filepath"], i["num_threads"])
                      for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")

    # BLAS at 2 threads whatever the environment says (not as a context manager: an
    # active threadpool_limits context changes how threadpoolctl nests)
    outer = threadpoolctl.ThreadpoolController().limit(limits=2, user_api="blas")
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the threads' enter/exit as much as possible
    try:
        before = blas_threads()
        assert before and all(n == 2 for _, n in before)
        X = _data(rng, (20000, 12), np.float64)
        want = pp.PCA(5).fit(X).components_
        barrier = threading.Barrier(4)
        results, errors = [None] * 4, []

        def work(i):
            try:
                barrier.wait()
                for _ in range(20):
                    results[i] = pp.PCA(5).fit(X).components_
                    pp.Whitener().fit(X[:50])
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert blas_threads() == before
        assert _blas._inside == 0
        for r in results:
            assert_bitwise_equal(r, want)
    finally:
        sys.setswitchinterval(switch)
        outer.restore_original_limits()


def test_single_threaded_blas_nests_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from gradkit import _blas
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with _blas.single_threaded() as pinned:
            assert pinned
            with _blas.single_threaded():
                assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info()
                           if i["user_api"] == "blas")
            assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info()
                       if i["user_api"] == "blas")
        assert all(i["num_threads"] == 2 for i in threadpoolctl.threadpool_info()
                   if i["user_api"] == "blas")


@pytest.mark.parametrize("make,bad_kind", [
    (lambda: pp.Standardizer(), "inf"), (lambda: pp.PCA(3), "nan"),
    (lambda: pp.Whitener(n_components=3), "nan"), (lambda: pp.PCA(3), "too_many"),
    (lambda: pp.Whitener(n_components=3), "too_many"), (lambda: pp.PCA(3), "width")])
@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_failed_fit_leaves_the_estimator_unchanged(make, bad_kind, how, rng):
    X = _data(rng, (100, 6), np.float64)
    est = make().fit(X)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v)
              for k, v in vars(est).items() if k != "n_components"}
    bad = X.copy()
    if bad_kind in ("nan", "inf"):
        bad[5, 2] = np.nan if bad_kind == "nan" else np.inf
    elif bad_kind == "width":
        if how == "fit":
            pytest.skip("fit may change the width; only partial_fit must keep it")
        bad = X[:, :4]
    else:  # more components than features: found only once the data is seen
        est.set_params(n_components=50)
    with pytest.raises(ValueError):
        getattr(est, how)(bad)
    assert set(vars(est)) - {"n_components"} == set(before)
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            assert_bitwise_equal(getattr(est, k), v)
        elif k != "_stats":
            assert getattr(est, k) == v


def test_standardizer_in_place_transform_checks_before_writing(rng):
    X = _data(rng, (50, 4), np.float64)
    s = pp.Standardizer(copy=False).fit(X)
    bad = X.copy()
    bad[3, 1] = np.inf
    keep = bad.copy()
    with pytest.raises(ValueError, match="infinity"):
        s.transform(bad)
    assert_bitwise_equal(bad, keep)


_BLAS_SCRIPT = """
import hashlib
import numpy as np
from gradkit import preprocessing as pp
h = hashlib.sha256()
for shape, est in [((3000, 600), pp.PCA(10, svd_solver="covariance_eigh")),
                   ((400, 1600), pp.PCA(10, svd_solver="covariance_eigh")),
                   ((500, 300), pp.PCA(10, svd_solver="full")),
                   ((700, 530), pp.Whitener()), ((300, 200), pp.Whitener("pca", svd_solver="full"))]:
    X = np.random.default_rng(0).standard_normal(shape)
    Y = est.fit_transform(X)
    for a in (Y, est.inverse_transform(Y), est.mean_, est.components_):
        h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


def test_results_independent_of_the_blas_threads():
    """Wide data (eigh above 512 features) and the SVD solver ran LAPACK with BLAS's
    own threads: other bits under OMP_NUM_THREADS=1 and 2."""
    pytest.importorskip("threadpoolctl")
    import os
    import subprocess
    import sys
    digests = set()
    for n in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
        out = subprocess.run([sys.executable, "-c", _BLAS_SCRIPT], env=env, check=True,
                             capture_output=True, text=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


@pytest.mark.parametrize("cls", [pp.PCA, pp.Whitener])
def test_few_components_of_a_wide_covariance(cls, dtype, rng):
    """256+ features and at most a quarter kept: only the leading eigenpairs are solved
    for; the explained variance ratio and the noise variance come from the trace."""
    X = _data(rng, (8000, 300), dtype)
    k = 20
    est = cls(n_components=k) if cls is pp.PCA else cls(method="pca", n_components=k)
    Y = est.fit_transform(X)
    tol = _tol(dtype)
    if cls is pp.PCA:
        r = ref.PCA(k).fit(X.astype(np.float64))
        ev0 = r.explained_variance_[0]
        np.testing.assert_allclose(est.explained_variance_, r.explained_variance_,
                                   rtol=tol["rtol"], atol=tol["atol"] * ev0)
        np.testing.assert_allclose(est.explained_variance_ratio_,
                                   r.explained_variance_ratio_, **tol)
        np.testing.assert_allclose(est.noise_variance_, r.noise_variance_,
                                   rtol=tol["rtol"], atol=tol["atol"] * ev0)
    else:
        r = ref.Whitener(method="pca", n_components=k).fit(X.astype(np.float64))
        np.testing.assert_allclose(est.eigenvalues_, r.eigenvalues_, rtol=tol["rtol"],
                                   atol=tol["atol"] * r.eigenvalues_[0])
    Yr = r.transform(X)
    np.testing.assert_allclose(_align(Y, Yr), Yr, rtol=0,
                               atol=(2e-3 if dtype == np.float32 else 1e-7) * np.abs(Yr).max())
    assert _k.scatter_tasks(*X.shape) > 2  # several tasks, folded in order: same bits

    def run():
        e = cls(n_components=k) if cls is pp.PCA else cls(method="pca", n_components=k)
        return e.fit_transform(X), e.components_

    a, b = run_threads(run, counts=(1, 2))
    assert_bitwise_equal(a, b)


def test_scatter_of_drifting_data_stays_exact(dtype, rng):
    """A mean that drifts across the rows (sorted data): a task's shift (its first
    chunk's mean) is far from its mean, so float32 tasks are redone with each chunk
    centred on its own mean (the cancellation is bounded by the chunks per task)."""
    n, d = 12000, 300
    X = (rng.standard_normal((n, d)) + np.linspace(0, 1e4, n)[:, None]).astype(dtype)
    assert 2 < _k.scatter_tasks(n, d) < n // (2 ** 18 // d)  # tasks of several chunks
    x64 = X.astype(np.float64)
    xc = x64 - x64.mean(axis=0)
    mean, S = np.empty(d), np.zeros((d, d))
    assert not _k.scatter(X, mean, S)
    ref_S = np.tril(xc.T @ xc)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(S, ref_S, rtol=tol, atol=tol * np.abs(ref_S).max())

    def run():
        m, s = np.empty(d), np.zeros((d, d))
        _k.scatter(X, m, s)
        return m, s

    a, b = run_threads(run, counts=(1, 2))
    assert_bitwise_equal(a, b)
