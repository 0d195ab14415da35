"""Standardizer as scikit-learn 1.9's StandardScaler (issue 15): sample_weight, NaN
ignored in fit and kept in transform, sparse CSR/CSC with with_mean=False, copy,
float16/float32/float64, constant columns with variance exactly 0, errors; against
sklearn.preprocessing.StandardScaler on the same data and against the NumPy twin."""
import pickle

import numpy as np
import pytest

from gradkit import preprocessing as pp
from gradkit import reference as ref
from gradkit._ext import preprocessing as _k
from conftest import assert_bitwise_equal, run_threads

sk_pre = pytest.importorskip("sklearn.preprocessing")
sp = pytest.importorskip("scipy.sparse")
SK = sk_pre.StandardScaler

DTYPES = [np.float16, np.float32, np.float64]


def _data(rng, shape, dtype=np.float64, nan=0.0, mean=3.0):
    X = rng.standard_normal(shape) * rng.uniform(0.5, 3.0, shape[1]) + mean
    if nan:
        X[rng.random(shape) < nan] = np.nan
    return X.astype(dtype)


def _tol(dtype):
    return {np.float16: dict(rtol=2e-3, atol=4e-3), np.float32: dict(rtol=2e-6, atol=2e-6),
            np.float64: dict(rtol=1e-12, atol=1e-12)}[np.dtype(dtype).type]


def _same_seen(ours, theirs, weighted=None, rtol=1e-12):
    """n_samples_seen_ in scikit-learn's form: scalar, or per-column array when the
    counts differ; int64 without weights and float64 with them, as its docstring says
    (scikit-learn 1.9 itself returns float64 whenever it computes a mean or variance,
    so the kind is checked against the rule, not against it)."""
    assert np.ndim(ours) == np.ndim(theirs)
    if weighted is not None:
        assert np.asarray(ours).dtype == (np.float64 if weighted else np.int64)
    np.testing.assert_allclose(ours, theirs, rtol=rtol)


def _same_fit(ours, theirs, stat_tol=1e-12, weighted=None):
    _same_seen(ours.n_samples_seen_, theirs.n_samples_seen_, weighted, stat_tol)
    for name in ("mean_", "var_", "scale_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        if b is None:
            assert a is None, name
            continue
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=stat_tol, atol=stat_tol, err_msg=name)


# ---- dense: weights, NaN, dtypes ---------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nan", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("opts", [{}, {"with_mean": False}, {"with_std": False},
                                  {"with_mean": False, "with_std": False}])
def test_dense_matches_sklearn(dtype, nan, weighted, opts, rng):
    X = _data(rng, (257, 9), dtype, nan)
    X[:, 4] = np.nan if nan else X[:, 4]       # a column without any value
    X[:, 5] = dtype(0.1)                        # a constant column
    w = rng.uniform(0.0, 3.0, 257) if weighted else None
    if weighted and not (opts.get("with_mean", True) or opts.get("with_std", True)):
        pytest.skip("scikit-learn ignores sample_weight in this case (documented)")
    ours = pp.StandardScaler(**opts).fit(X, sample_weight=w)
    theirs = SK(**opts).fit(X, sample_weight=w)
    # scikit-learn rounds the weights of float32 data to float32
    _same_fit(ours, theirs, (1e-6 if dtype == np.float32 else 1e-9) if weighted else 1e-12,
              weighted)
    T = ours.transform(X)
    assert T.dtype == dtype and T is not X
    np.testing.assert_allclose(T.astype(np.float64), theirs.transform(X).astype(np.float64),
                               **_tol(dtype))
    np.testing.assert_array_equal(np.isnan(T), np.isnan(X))     # NaN kept
    back = ours.inverse_transform(T)
    assert back.dtype == dtype
    np.testing.assert_allclose(back.astype(np.float64),
                               theirs.inverse_transform(theirs.transform(X)).astype(np.float64),
                               **_tol(dtype))
    if opts.get("with_std", True) and opts.get("with_mean", True):
        twin = ref.Standardizer().fit(X, sample_weight=w)
        np.testing.assert_allclose(ours.var_, twin.var_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.mean_, twin.mean_, rtol=1e-12)


def test_float16_is_computed_in_float64_and_rounded_once(rng):
    X = _data(rng, (300, 5), np.float16)
    s = pp.Standardizer().fit(X)
    exact = (X.astype(np.float64) - s.mean_) / s.scale_
    assert_bitwise_equal(s.transform(X), exact.astype(np.float16))
    assert_bitwise_equal(s.inverse_transform(X),
                         (X.astype(np.float64) * s.scale_ + s.mean_).astype(np.float16))
    np.testing.assert_allclose(s.mean_, X.astype(np.float64).mean(0), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, bool])
def test_integers_become_float64(dtype, rng):
    X = (rng.integers(0, 5, (40, 3))).astype(dtype)
    T = pp.Standardizer().fit(X).transform(X)
    assert T.dtype == np.float64
    np.testing.assert_allclose(T, SK().fit(X).transform(X), rtol=1e-12, atol=1e-12)


def test_weights_are_frequency_weights(rng):
    X = _data(rng, (60, 4), nan=0.1)
    w = rng.integers(0, 4, 60)
    w[0] = 2
    a = pp.Standardizer().fit(X, sample_weight=w)
    b = pp.Standardizer().fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.mean_, b.mean_, rtol=1e-13)
    np.testing.assert_allclose(a.var_, b.var_, rtol=1e-12)
    np.testing.assert_allclose(a.n_samples_seen_, b.n_samples_seen_)
    assert np.asarray(a.n_samples_seen_).dtype == np.float64
    # a number is every row's weight
    c = pp.Standardizer().fit(X, sample_weight=2.5)
    np.testing.assert_allclose(c.var_, pp.Standardizer().fit(X).var_, rtol=1e-13)
    np.testing.assert_allclose(c.n_samples_seen_, 2.5 * SK().fit(X).n_samples_seen_)


def test_weighted_partial_fit_merges_exactly(rng):
    X = _data(rng, (900, 6), nan=0.05)
    w = rng.uniform(0, 2, 900)
    whole = pp.Standardizer().fit(X, sample_weight=w)
    parts = pp.Standardizer()
    for lo, hi in ((0, 1), (1, 250), (250, 251), (251, 900)):
        parts.partial_fit(X[lo:hi], sample_weight=w[lo:hi])
    np.testing.assert_allclose(parts.mean_, whole.mean_, rtol=1e-13)
    np.testing.assert_allclose(parts.var_, whole.var_, rtol=1e-12)
    np.testing.assert_allclose(parts.n_samples_seen_, whole.n_samples_seen_, rtol=1e-14)


def test_nan_path_bitwise_across_threads(rng):
    X = _data(rng, (30011, 17), nan=0.02)
    w = rng.uniform(0, 2, 30011)

    def run():
        out = []
        for weights in (None, w):
            s = pp.Standardizer().fit(X, sample_weight=weights)
            out += [s.mean_, s.var_, s.transform(X)]
        return out

    a, b, c = run_threads(run, counts=(1, 2, 4))
    assert_bitwise_equal(a, b)
    assert_bitwise_equal(a, c)


def test_nan_counts_are_int_arrays_and_reduce_to_a_scalar(rng):
    X0 = _data(rng, (50, 3))
    s = pp.Standardizer().fit(X0)
    assert type(s.n_samples_seen_) is np.int64 and s.n_samples_seen_ == 50
    X = X0.copy()
    X[3, 1] = np.nan
    s.partial_fit(X)
    assert s.n_samples_seen_.dtype == np.int64
    np.testing.assert_array_equal(s.n_samples_seen_, [100, 99, 100])
    X2 = X.copy()
    X2[3, 1], X2[4, 0], X2[4, 2] = 1.0, np.nan, np.nan
    s.partial_fit(X2)     # counts equal again: a scalar, as scikit-learn reports it
    assert np.ndim(s.n_samples_seen_) == 0 and s.n_samples_seen_ == 149
    _same_seen(s.n_samples_seen_, SK().fit(X0).partial_fit(X).partial_fit(X2).n_samples_seen_)


# ---- constant columns -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1000, 100_003])
def test_constant_column_has_variance_exactly_zero(dtype, rows, rng):
    X = _data(rng, (rows, 4), dtype)
    for j, v in ((1, 0.1), (3, -7.3e5)):
        X[:, j] = dtype(v)

    def fits():
        out = [pp.Standardizer().fit(X)]
        out.append(pp.Standardizer().fit(X, sample_weight=rng.uniform(0.5, 1, rows)))
        Xn = X.copy()
        Xn[::7, 0] = np.nan
        out.append(pp.Standardizer().fit(Xn))
        p = pp.Standardizer()
        for lo in range(0, rows, rows // 3):
            p.partial_fit(X[lo:lo + rows // 3])
        out.append(p)
        out.append(pp.Standardizer(with_mean=False).fit(sp.csr_matrix(X)))
        out.append(pp.Standardizer(with_mean=False).fit(sp.csc_matrix(X)))
        return out

    for counts in ((1,), (2,), (4,)):
        (fitted,) = run_threads(fits, counts=counts)
        for s in fitted:
            assert s.var_[1] == 0.0 and s.var_[3] == 0.0
            assert s.scale_[1] == 1.0 and s.scale_[3] == 1.0
            assert s.mean_[1] == dtype(0.1) and s.mean_[3] == dtype(-7.3e5)
    assert SK().fit(X).var_[1] == 0.0


def test_constant_column_kernel(rng):
    for dtype in (np.float32, np.float64):
        X = np.full((50_000, 3), dtype(0.1))
        X[:, 2] = rng.standard_normal(50_000)
        mean, m2 = np.empty(3), np.empty(3)
        _k.col_moments(X, mean, m2)
        assert mean[0] == dtype(0.1) and m2[0] == 0.0
        np.testing.assert_allclose(m2[2], ((X[:, 2] - X[:, 2].mean()) ** 2).sum(),
                                   rtol=1e-6 if dtype == np.float32 else 1e-12)


# ---- sparse ------------------------------------------------------------------------------

def _sparse_data(rng, shape, nan=0.0, density=0.3):
    X = _data(rng, shape, nan=nan)
    X[rng.random(shape) > density] = 0.0
    X[:, 0] = 2.5                       # a column stored in every row, constant
    return X


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("nan", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("with_std", [True, False])
def test_sparse_matches_sklearn(fmt, nan, weighted, with_std, rng):
    D = _sparse_data(rng, (120, 7), nan)
    X = sp.csr_matrix(D).asformat(fmt)
    w = rng.uniform(0, 2, 120) if weighted else None
    ours = pp.Standardizer(with_mean=False, with_std=with_std).fit(X, sample_weight=w)
    theirs = SK(with_mean=False, with_std=with_std).fit(X, sample_weight=w)
    _same_fit(ours, theirs, 1e-10, weighted)
    if with_std:
        dense = pp.Standardizer(with_mean=False).fit(D, sample_weight=w)
        np.testing.assert_allclose(ours.var_, dense.var_, rtol=1e-12, atol=1e-14)
        assert ours.var_[0] == 0.0
    T = ours.transform(X)
    assert sp.issparse(T) and T.format == fmt and T is not X and T.dtype == np.float64
    np.testing.assert_allclose(T.toarray(), theirs.transform(X).toarray(), rtol=1e-14)
    np.testing.assert_allclose(ours.inverse_transform(T).toarray(), X.toarray(), rtol=1e-14)


def test_sparse_copy_and_in_place(rng):
    X = sp.csr_matrix(_sparse_data(rng, (50, 5)))
    s = pp.Standardizer(with_mean=False).fit(X)
    before = X.data.copy()
    T = s.transform(X)
    assert_bitwise_equal(X.data, before)
    assert not np.shares_memory(T.data, X.data)
    same = s.transform(X, copy=False)
    assert same is X
    np.testing.assert_allclose(X.data, T.data, rtol=0)
    back = s.inverse_transform(X, copy=False)
    assert back is X
    np.testing.assert_allclose(X.data, before, rtol=1e-15)
    s.set_params(copy=False)
    Xi = sp.csr_matrix(np.array([[1, 0], [0, 3]], dtype=np.int64))
    s2 = pp.Standardizer(with_mean=False, copy=False).fit(Xi)
    Ti = s2.transform(Xi)
    assert Ti is not Xi and Ti.dtype == np.float64 and Xi.dtype == np.int64
    coo = sp.coo_matrix(X)
    assert s.transform(coo).format == "csr"     # other formats as CSR, as scikit-learn
    X32 = sp.csc_matrix(_sparse_data(rng, (30, 5)).astype(np.float32))
    T32 = pp.Standardizer(with_mean=False).fit(X32).transform(X32)
    assert T32.dtype == np.float32 and T32.format == "csc"


def test_sparse_is_never_densified(rng, monkeypatch):
    X = sp.csr_matrix(_sparse_data(rng, (40, 6), nan=0.1))
    want = SK(with_mean=False).fit(X)

    def refuse(*args, **kwargs):
        raise AssertionError("densified")

    for cls in (sp.csr_matrix, sp.csc_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    s = pp.Standardizer(with_mean=False).fit(X)
    s.partial_fit(X.tocsc())
    s.transform(X)
    s.inverse_transform(X)
    np.testing.assert_allclose(s.var_, want.var_, rtol=1e-12)


def test_sparse_with_mean_raises_sklearn_message(rng):
    X = sp.csr_matrix(_sparse_data(rng, (20, 3)))
    for est in (pp.Standardizer(), SK()):
        with pytest.raises(ValueError, match="Cannot center sparse matrices: pass "
                                             "`with_mean=False` instead."):
            est.fit(X)
    s = pp.Standardizer().fit(X.toarray())
    with pytest.raises(ValueError, match="Cannot center sparse matrices"):
        s.transform(X)
    with pytest.raises(ValueError, match="Cannot uncenter sparse matrices"):
        s.inverse_transform(X)


def test_sparse_duplicates_are_summed(rng):
    X = sp.csr_matrix((np.array([1.0, 2.0, 5.0]), np.array([0, 0, 1]),
                       np.array([0, 2, 3])), shape=(2, 2))
    assert not X.has_canonical_format
    s = pp.Standardizer(with_mean=False).fit(X)
    np.testing.assert_allclose(s.mean_, [1.5, 2.5])
    np.testing.assert_allclose(s.var_, [2.25, 6.25])


# ---- partial_fit sequences mixing everything -------------------------------------------

def test_partial_fit_sequence_mixing_dense_nan_weights_sparse(rng):
    batches = []
    for k in range(6):
        D = _sparse_data(rng, (37 + 11 * k, 5), nan=0.1 if k % 2 else 0.0)
        X = sp.csr_matrix(D) if k == 2 else sp.csc_matrix(D) if k == 4 else D
        # unweighted batches first: scikit-learn casts a scalar weighted count to int
        # when an unweighted batch follows (its truncation is not reproduced)
        w = rng.uniform(0.5, 2, D.shape[0]) if k >= 3 else None
        batches.append((X, w))
    ours, theirs = pp.StandardScaler(with_mean=False), SK(with_mean=False)
    for X, w in batches:
        ours.partial_fit(X, sample_weight=w)
        theirs.partial_fit(X, sample_weight=w)
        _same_fit(ours, theirs, 1e-10)
    D = np.vstack([X.toarray() if sp.issparse(X) else X for X, _ in batches])
    W = np.concatenate([np.ones(X.shape[0]) if w is None else w for X, w in batches])
    whole = pp.Standardizer(with_mean=False).fit(D, sample_weight=W)
    np.testing.assert_allclose(ours.var_, whole.var_, rtol=1e-12)


# ---- copy semantics ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_copy_false_writes_into_x(dtype, order, rng):
    X = np.asarray(_data(rng, (40, 6), dtype, nan=0.05), order=order)
    s = pp.Standardizer(copy=False).fit(X)
    want = pp.Standardizer().fit(X).transform(X)
    orig = X.copy()
    T = s.transform(X)
    assert T is X
    assert_bitwise_equal(np.ascontiguousarray(X), want)
    B = s.inverse_transform(X)
    assert B is X
    np.testing.assert_allclose(X.astype(np.float64), orig.astype(np.float64), **_tol(dtype))
    # transform's own copy= overrides the parameter
    Y = pp.Standardizer().fit(orig).transform(orig, copy=False)
    assert Y is orig


def test_copy_true_and_inputs_that_cannot_be_written(rng):
    X = _data(rng, (30, 4))
    s = pp.Standardizer().fit(X)
    keep = X.copy()
    for out in (s.transform(X), s.inverse_transform(X)):
        assert out is not X and not np.shares_memory(out, X)
    assert_bitwise_equal(X, keep)
    ro = X.copy()
    ro.flags.writeable = False
    for method in (s.transform, s.inverse_transform):
        out = method(ro, copy=False)
        assert out is not ro
        assert_bitwise_equal(ro, keep)
    Xi = np.round(X * 10).astype(np.int64)
    Ti = s.transform(Xi, copy=False)
    assert Ti is not Xi and Ti.dtype == np.float64
    swapped = X.astype(X.dtype.newbyteorder())
    out = s.transform(swapped, copy=False)
    assert out is not swapped and out.dtype == np.float64
    assert isinstance(s.transform(X.tolist(), copy=False), np.ndarray)


def test_in_place_refuses_infinity_before_writing(rng):
    X = _data(rng, (30, 4), nan=0.1)
    s = pp.Standardizer(copy=False).fit(X)
    X[3, 2] = np.inf
    keep = X.copy()
    for method in (s.transform, s.inverse_transform):
        with pytest.raises(ValueError, match="infinity"):
            method(X)
        assert_bitwise_equal(X, keep)
    with pytest.raises(ValueError, match="infinity"):
        pp.Standardizer().fit(X)
    with pytest.raises(ValueError, match="infinity"):
        pp.Standardizer().fit(X, sample_weight=np.ones(30))
    with pytest.raises(ValueError, match="infinity"):
        pp.Standardizer(with_mean=False).fit(sp.csr_matrix(X))


# ---- errors, alias, parameters ----------------------------------------------------------

@pytest.mark.parametrize("make", [pp.Standardizer, pp.PCA, pp.Whitener])
def test_1d_input_message_is_sklearns(make):
    x = np.arange(4.0)
    with pytest.raises(ValueError) as theirs:
        SK().fit(x)
    with pytest.raises(ValueError) as ours:
        make().fit(x)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="Expected 2D array, got scalar array instead"):
        make().fit(np.float64(3.0))
    with pytest.raises(ValueError, match="Found array with dim 3"):
        make().fit(np.ones((2, 2, 2)))
    est = make().fit(np.random.default_rng(0).standard_normal((10, 4)))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        est.transform(x)


@pytest.mark.parametrize("make", [pp.Standardizer, pp.PCA, pp.Whitener])
def test_not_fitted_is_sklearns(make):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    est = make()
    assert pp.NotFittedError is NotFittedError
    with pytest.raises(NotFittedError, match="not fitted yet"):
        est.transform(np.ones((2, 3)))
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_errors_as_sklearn(rng):
    X = _data(rng, (20, 4))
    s = pp.Standardizer().fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 "
                                         "features as input"):
        s.transform(X[:, :3])
    for bad in (np.ones(19), np.ones((20, 1))):
        with pytest.raises(ValueError) as theirs:
            SK().fit(X, sample_weight=bad)
        with pytest.raises(ValueError) as ours:
            pp.Standardizer().fit(X, sample_weight=bad)
        assert str(ours.value) == str(theirs.value)
    for bad, what in ((np.zeros(20), "non-zero"), (np.full(20, np.nan), "NaN"),
                      (-np.ones(20), ">= 0")):
        with pytest.raises(ValueError, match=what):
            pp.Standardizer().fit(X, sample_weight=bad)
    with pytest.raises(TypeError, match="sample_weight"):
        pp.Standardizer().fit(X, sample_weight=np.array(["a"] * 20))
    # a failed fit leaves the estimator as it was
    before = s.var_.copy()
    with pytest.raises(ValueError):
        s.partial_fit(X, sample_weight=-np.ones(20))
    assert_bitwise_equal(s.var_, before)


def test_alias_params_clone_pickle(rng):
    from sklearn.base import clone
    assert pp.StandardScaler is pp.Standardizer
    s = pp.StandardScaler(with_mean=False, copy=False)
    assert s.get_params() == {"copy": False, "with_mean": False, "with_std": True}
    assert set(s.get_params()) == set(SK().get_params())
    c = clone(s)
    assert c is not s and c.get_params() == s.get_params()
    assert s.set_params(with_std=False) is s and not s.with_std
    X = _data(rng, (30, 3), nan=0.1)
    f = pp.StandardScaler().fit(X, sample_weight=rng.uniform(0, 1, 30))
    g = pickle.loads(pickle.dumps(f))
    assert_bitwise_equal(g.transform(X), f.transform(X))
    _same_seen(g.n_samples_seen_, f.n_samples_seen_)


def test_fit_transform_and_pipeline_pass_sample_weight(rng):
    from sklearn.pipeline import make_pipeline
    X = _data(rng, (40, 3), nan=0.1)
    w = rng.uniform(0, 2, 40)
    a = pp.StandardScaler().fit_transform(X, sample_weight=w)
    np.testing.assert_allclose(a, SK().fit_transform(X, sample_weight=w), rtol=1e-10,
                               atol=1e-12)
    pipe = make_pipeline(pp.StandardScaler())
    np.testing.assert_allclose(pipe.fit_transform(X, standardizer__sample_weight=w), a,
                               rtol=0, atol=0)


# ---- Moments with counts ----------------------------------------------------------------

def test_moments_counts_merge_and_old_pickles(rng):
    X = _data(rng, (300, 4), nan=0.1)
    m = pp.Moments.from_array(X)
    assert m.count is not None and not m.weighted
    np.testing.assert_array_equal(m.counts, (~np.isnan(X)).sum(0))
    a, b = pp.Moments.from_array(X[:100]), pp.Moments.from_array(X[100:])
    ab = a.merge(b)
    np.testing.assert_allclose(ab.mean, m.mean, rtol=1e-13)
    np.testing.assert_allclose(ab.m2, m.m2, rtol=1e-12)
    np.testing.assert_array_equal(ab.count, m.count)
    # statistics pickled before count existed: unweighted, NaN-free
    plain = pp.Moments.from_array(_data(rng, (10, 4)))
    state = {k: v for k, v in plain.__dict__.items() if k not in ("count", "weighted")}
    old = pp.Moments.__new__(pp.Moments)
    old.__setstate__(state)
    assert old.count is None and not old.weighted
    np.testing.assert_array_equal(old.counts, np.full(4, 10.0))
    assert pp.Standardizer().fit_stats(old.merge(m)).n_samples_seen_.dtype == np.int64
    with pytest.raises(ValueError, match="count"):
        pp.Moments(3, np.zeros(2), np.zeros(2), count=[1.5, 2])
    with pytest.raises(ValueError, match="count"):
        pp.Moments(3, np.zeros(2), np.zeros(2), weighted=True)
    with pytest.raises(ValueError, match="count"):
        pp.Moments(3, np.zeros(2), np.zeros(2), count=[4, 2])
    w = pp.Moments(3, np.zeros(2), np.zeros(2), count=[4.5, 2], weighted=True)
    assert w.merge(pp.Moments._empty(2, np.float64)).weighted


def test_dask_with_nan_matches_numpy(rng):
    da = pytest.importorskip("dask.array")
    X = _data(rng, (500, 5), nan=0.1)
    ours = pp.Standardizer().fit(da.from_array(X, chunks=(97, 5)))
    want = pp.Standardizer().fit(X)
    np.testing.assert_allclose(ours.var_, want.var_, rtol=1e-12)
    np.testing.assert_array_equal(ours.n_samples_seen_, want.n_samples_seen_)
    T = ours.transform(da.from_array(X, chunks=(97, 5))).compute()
    np.testing.assert_allclose(T, want.transform(X), rtol=1e-12, atol=1e-12,
                               equal_nan=True)
    with pytest.raises(TypeError, match="sample_weight"):
        pp.Standardizer().fit(da.from_array(X, chunks=(97, 5)), sample_weight=np.ones(500))
