"""Moments and Scatter, the public mergeable statistics of gradkit.preprocessing, and
fit_stats: against the NumPy twins (gradkit.reference), merges of shards of different
sizes in different orders and tree shapes equal to the concatenation (fit_stats == fit
to 1e-12 relative in float64), pickling, threads, bad input."""
import functools
import pickle

import numpy as np
import pytest

from gradkit import preprocessing as pp
from gradkit import reference as ref
from conftest import assert_bitwise_equal, run_threads
from _fits import assert_same_fit as _assert_same_fit, close as _close, data as _data

F32, F64 = np.float32, np.float64
KINDS = [(pp.Moments, ref.Moments, "m2"), (pp.Scatter, ref.Scatter, "scatter")]


def _shards(X, sizes):
    """X split into consecutive shards of the given sizes (summing to len(X))."""
    assert sum(sizes) == len(X)
    return np.split(X, np.cumsum(sizes)[:-1])


def _tol(dtype):
    return 2e-6 if dtype == F32 else 1e-12


# ---- from_array against the twins -------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS, ids=["Moments", "Scatter"])
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (2, 3), (37, 1), (501, 17), (4000, 33)])
def test_from_array_matches_twin(kind, dtype, shape, rng):
    cls, twin, what = kind
    X = _data(rng, shape, dtype)
    st, tw = cls.from_array(X), twin.from_array(X)
    assert st.n == tw.n == shape[0] and st.n_features == shape[1]
    assert st.dtype == dtype and st.mean.dtype == F64
    _close(st.mean, tw.mean, _tol(dtype))
    _close(getattr(st, what), getattr(tw, what), 1e3 * _tol(dtype) if dtype == F32
           else 1e-11)


@pytest.mark.parametrize("cls", [pp.Moments, pp.Scatter])
def test_from_array_layouts_and_conversions(cls, rng):
    X = _data(rng, (300, 9))
    base = cls.from_array(X)
    ro = X.copy()
    ro.flags.writeable = False
    Xf = np.asfortranarray(X)
    for other in (ro, Xf, X.tolist(), X.astype(X.dtype.newbyteorder("S"))):
        st = cls.from_array(other)
        assert st.n == base.n and st.dtype == F64
        np.testing.assert_allclose(st.mean, base.mean, rtol=1e-13)
    wide = np.zeros((300, 18))
    wide[:, ::2] = X
    st = cls.from_array(wide[:, ::2])          # non-contiguous view
    np.testing.assert_allclose(st.mean, base.mean, rtol=1e-13)
    assert cls.from_array(np.round(X).astype(np.int64)).dtype == F64
    keep = X.copy()
    cls.from_array(X)
    assert_bitwise_equal(X, keep)             # never modified


@pytest.mark.parametrize("cls", [pp.Moments, pp.Scatter])
def test_zero_rows_are_the_identity_of_merge(cls, rng):
    X = _data(rng, (50, 6))
    empty = cls.from_array(X[:0])
    assert empty.n == 0 and empty.n_features == 6
    full = cls.from_array(X)
    for m in (empty.merge(full), full.merge(empty)):
        assert m.n == 50
        assert_bitwise_equal(m.mean, full.mean)
    assert empty.merge(empty).n == 0


# ---- merge: shards in any order and tree shape == the concatenation ----------------------

SIZES = [1, 2, 7, 130, 1, 613, 64, 5, 1000, 3]   # 1826 rows, uneven


def _orders(parts):
    """Left fold, right fold, reversed, a balanced tree, a random pairing."""
    left = functools.reduce(lambda a, b: a.merge(b), parts)
    right = functools.reduce(lambda a, b: b.merge(a), parts[::-1])
    rev = functools.reduce(lambda a, b: a.merge(b), parts[::-1])

    def tree(ps):
        while len(ps) > 1:
            ps = [ps[i].merge(ps[i + 1]) if i + 1 < len(ps) else ps[i]
                  for i in range(0, len(ps), 2)]
        return ps[0]
    shuffled = list(parts)
    np.random.default_rng(5).shuffle(shuffled)
    return {"left": left, "right": right, "reversed": rev, "tree": tree(parts),
            "shuffled-tree": tree(shuffled)}


@pytest.mark.parametrize("kind", KINDS, ids=["Moments", "Scatter"])
def test_merge_any_order_equals_concatenation(kind, rng):
    cls, twin, what = kind
    X = _data(rng, (sum(SIZES), 23), mean=50.0)
    whole, truth = cls.from_array(X), twin.from_array(X)
    parts = [cls.from_array(s) for s in _shards(X, SIZES)]
    snapshots = [pickle.dumps(p) for p in parts]
    for name, m in _orders(parts).items():
        assert m.n == whole.n, name
        _close(m.mean, truth.mean, 1e-13)
        _close(getattr(m, what), getattr(truth, what), 1e-12)
        _close(getattr(m, what), getattr(whole, what), 1e-12)
    # merge never modified its arguments (nor self)
    assert [pickle.dumps(p) for p in parts] == snapshots
    # the twin's merge is the same formula
    tw = functools.reduce(lambda a, b: a.merge(b), [twin.from_array(s)
                                                  for s in _shards(X, SIZES)])
    _close(getattr(parts[0].merge(parts[1]), what),
           getattr(twin.from_array(X[:3]), what), 1e-12)
    _close(getattr(tw, what), getattr(truth, what), 1e-12)


def test_merge_is_symmetric_and_keeps_dtype(rng):
    a32 = pp.Scatter.from_array(_data(rng, (40, 5), F32))
    b32 = pp.Scatter.from_array(_data(rng, (70, 5), F32, mean=-1.0))
    b64 = pp.Scatter.from_array(_data(rng, (70, 5), F64))
    ab, ba = a32.merge(b32), b32.merge(a32)
    np.testing.assert_allclose(ab.scatter, ba.scatter, rtol=1e-14)
    np.testing.assert_allclose(ab.mean, ba.mean, rtol=1e-14, atol=1e-15)
    assert ab.dtype == F32 and a32.merge(b64).dtype == F64
    # an empty side does not decide the dtype
    assert pp.Scatter.from_array(np.zeros((0, 5))).merge(a32).dtype == F32


def test_scatter_is_symmetric_and_its_diagonal_gives_moments(rng):
    X = _data(rng, (200, 7))
    s = pp.Scatter.from_array(X)
    np.testing.assert_array_equal(s.scatter, s.scatter.T)
    m = s.moments()
    direct = pp.Moments.from_array(X)
    assert isinstance(m, pp.Moments) and m.n == 200
    np.testing.assert_allclose(m.m2, direct.m2, rtol=1e-12)
    np.testing.assert_allclose(m.var(), X.var(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.var(ddof=1), X.var(axis=0, ddof=1), rtol=1e-12)
    # the constructor takes a full symmetric matrix and reads its lower triangle
    again = pp.Scatter(s.n, s.mean, s.scatter, s.dtype)
    assert_bitwise_equal(again.scatter, s.scatter)


@pytest.mark.parametrize("cls", [pp.Moments, pp.Scatter])
def test_pickle_round_trip(cls, rng):
    st = cls.from_array(_data(rng, (90, 11), F32))
    back = pickle.loads(pickle.dumps(st))
    assert type(back) is cls and back.n == st.n and back.dtype == st.dtype
    assert_bitwise_equal(back.mean, st.mean)
    what = "m2" if cls is pp.Moments else "scatter"
    assert_bitwise_equal(getattr(back, what), getattr(st, what))
    assert repr(back) == repr(st) == f"{cls.__name__}(n=90, n_features=11, dtype=float32)"


def test_statistics_bitwise_equal_across_threads(rng):
    X = _data(rng, (30011, 19))
    parts = _shards(X, [7, 20000, 10004])

    def stats():
        out = []
        for cls, what in ((pp.Moments, "m2"), (pp.Scatter, "scatter")):
            m = functools.reduce(lambda a, b: a.merge(b), [cls.from_array(p) for p in parts])
            out += [m.mean, getattr(m, what)]
        return out
    a, b, c = run_threads(stats, counts=(1, 2, 4))
    assert_bitwise_equal(a, b)
    assert_bitwise_equal(a, c)


# ---- fit_stats == fit on the concatenation ---------------------------------------------

ESTIMATORS = [
    (pp.Standardizer, {}, pp.Moments),
    (pp.PCA, {}, pp.Scatter),
    (pp.PCA, dict(n_components=5, whiten=True), pp.Scatter),
    (pp.Whitener, {}, pp.Scatter),
    (pp.Whitener, dict(method="pca", n_components=4), pp.Scatter),
]
EST_IDS = ["Standardizer", "PCA", "PCA-5-whiten", "Whitener-zca", "Whitener-pca-4"]


@pytest.mark.parametrize("make,opts,cls", ESTIMATORS, ids=EST_IDS)
def test_fit_stats_equals_fit_on_concatenation(make, opts, cls, rng):
    X = _data(rng, (sum(SIZES), 12), mean=10.0)
    whole = make(**opts).fit(X)
    parts = [cls.from_array(s) for s in _shards(X, SIZES)]
    for name, merged in _orders(parts).items():
        est = make(**opts).fit_stats(merged)
        _assert_same_fit(est, whole, 1e-12)
        Y = _data(rng, (20, 12))
        _close(est.transform(Y), whole.transform(Y), 1e-12)


@pytest.mark.parametrize("make,opts,cls", ESTIMATORS, ids=EST_IDS)
def test_fit_stats_float32_and_partial_fit_after(make, opts, cls, rng):
    X = _data(rng, (600, 9), F32)
    est = make(**opts).fit_stats(cls.from_array(X[:250]).merge(cls.from_array(X[250:400])))
    ref_fit = make(**opts).fit(X[:400])
    _assert_same_fit(est, ref_fit, 1e-5)
    assert est.transform(X).dtype == F32
    est.partial_fit(X[400:])
    _assert_same_fit(est, make(**opts).fit(X), 1e-5)


def test_fit_stats_resets_names_and_standardizer_takes_scatter(rng):
    import pandas as pd  # scikit-learn's dataframe
    X = _data(rng, (100, 4))
    df = pd.DataFrame(X, columns=list("abcd"))
    s = pp.Standardizer().fit(df)
    assert hasattr(s, "feature_names_in_")
    s.fit_stats(pp.Scatter.from_array(X))
    assert not hasattr(s, "feature_names_in_") and s.n_features_in_ == 4
    _assert_same_fit(s, pp.Standardizer().fit(X), 1e-12)


# ---- bad input --------------------------------------------------------------------------

def test_constructors_reject_bad_values():
    with pytest.raises(ValueError, match="n must be >= 0"):
        pp.Moments(-1, [0.0], [0.0])
    with pytest.raises(TypeError, match="n must be an int"):
        pp.Moments(2.5, [0.0], [0.0])
    with pytest.raises(ValueError, match="m2 has shape"):
        pp.Moments(2, [0.0, 1.0], [0.0])
    with pytest.raises(ValueError, match="m2 .* must be >= 0"):
        pp.Moments(2, [0.0], [-1.0])
    with pytest.raises(ValueError, match="mean contains NaN"):
        pp.Moments(2, [np.nan], [0.0])
    with pytest.raises(ValueError, match="mean must be 1-D"):
        pp.Scatter(2, [[0.0]], [[0.0]])
    with pytest.raises(TypeError, match="mean must be an array of real numbers"):
        pp.Scatter(2, ["a"], [[0.0]])
    with pytest.raises(ValueError, match="scatter has shape"):
        pp.Scatter(2, [0.0, 1.0], np.eye(3))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        pp.Scatter(2, [0.0], [[1.0]], dtype=np.int32)


def test_merge_rejects_other_kinds_and_widths(rng):
    m = pp.Moments.from_array(_data(rng, (10, 3)))
    s = pp.Scatter.from_array(_data(rng, (10, 3)))
    with pytest.raises(TypeError, match="other must be a Moments"):
        m.merge(s)
    with pytest.raises(TypeError, match="other must be a Scatter"):
        s.merge(np.zeros(3))
    with pytest.raises(ValueError, match="other describes 4 features, this one 3"):
        s.merge(pp.Scatter.from_array(_data(rng, (10, 4))))


@pytest.mark.parametrize("cls", [pp.Moments, pp.Scatter])
def test_from_array_rejects_bad_data(cls):
    X = np.ones((5, 3))
    X[2, 1] = np.nan if cls is pp.Scatter else np.inf   # Moments ignore NaN
    with pytest.raises(ValueError, match="NaN|infinity"):
        cls.from_array(X)
    with pytest.raises(ValueError, match="2D"):
        cls.from_array(np.ones(3))
    with pytest.raises(ValueError, match="Complex"):
        cls.from_array(np.ones((2, 2), complex))
    with pytest.raises(TypeError, match="real numbers"):
        cls.from_array(np.array([["a", "b"]]))


def test_fit_stats_rejects_bad_statistics_and_keeps_state(rng):
    X = _data(rng, (30, 4))
    m, s = pp.Moments.from_array(X), pp.Scatter.from_array(X)
    with pytest.raises(TypeError, match="Moments hold only the diagonal"):
        pp.PCA().fit_stats(m)
    with pytest.raises(TypeError, match="stats must be a Moments or a Scatter"):
        pp.Standardizer().fit_stats(X)
    with pytest.raises(ValueError, match="0 samples"):
        pp.Standardizer().fit_stats(pp.Moments.from_array(X[:0]))
    for make in (pp.PCA, pp.Whitener):
        est = make().fit(X)
        before = pickle.dumps(est)
        with pytest.raises(ValueError, match="at least 2 samples"):
            est.fit_stats(pp.Scatter.from_array(X[:1]))
        with pytest.raises(ValueError, match="n_components=9"):
            est.set_params(n_components=9).fit_stats(s)
        est.set_params(n_components=None)
        assert pickle.dumps(est) == before


def _misaligned_round_trip(obj):
    """pickle protocol 5 with its out-of-band buffers handed back at an odd byte offset,
    as dask.distributed's frames may hold them."""
    buffers = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    shifted = []
    for b in buffers:
        raw = bytes(b.raw())
        store = bytearray(len(raw) + 1)
        store[1:] = raw
        shifted.append(memoryview(store)[1:])
    return pickle.loads(data, buffers=shifted)


def test_unpickled_from_misaligned_buffers_still_work(rng):
    X = _data(rng, (80, 6))
    s = _misaligned_round_trip(pp.Scatter.from_array(X[:30]))
    m = _misaligned_round_trip(pp.Moments.from_array(X[:30]))
    assert s.mean.flags.aligned and s._lower.flags.aligned
    merged = s.merge(pp.Scatter.from_array(X[30:]))
    np.testing.assert_allclose(merged.scatter, pp.Scatter.from_array(X).scatter, rtol=1e-12)
    np.testing.assert_allclose(m.merge(pp.Moments.from_array(X[30:])).m2,
                               pp.Moments.from_array(X).m2, rtol=1e-12)
    for make, opts, cls in ESTIMATORS:
        est = make(**opts).fit(X)
        back = _misaligned_round_trip(est)
        np.testing.assert_array_equal(back.transform(X), est.transform(X))
        back.partial_fit(X)
