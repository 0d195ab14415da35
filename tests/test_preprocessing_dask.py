"""Standardizer, PCA and Whitener on dask arrays: fit / partial_fit reduce each block to
mergeable statistics and never materialize the array; transform / inverse_transform are
lazy; results equal the in-memory fit (threaded scheduler, and a dask.distributed
LocalCluster with 2 worker processes); dask-ml's StandardScaler and PCA agree; bad
input.  Skipped without dask."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed (gradkit[dask])")
import dask  # noqa: E402

from gradkit import preprocessing as pp  # noqa: E402
from gradkit import _dask  # noqa: E402
from conftest import assert_bitwise_equal  # noqa: E402
from _fits import assert_same_fit as _assert_same_fit, data as _data  # noqa: E402
from _fits import fitted as _fitted  # noqa: E402

F32, F64 = np.float32, np.float64
MAKERS = [(pp.Standardizer, {}), (pp.PCA, {}), (pp.PCA, dict(n_components=4, whiten=True)),
          (pp.Whitener, {}), (pp.Whitener, dict(method="pca", n_components=3))]
IDS = ["Standardizer", "PCA", "PCA-4-whiten", "Whitener-zca", "Whitener-pca-3"]


def _tol(dtype):
    return 1e-5 if dtype == F32 else 1e-12


@pytest.fixture(autouse=True)
def _threaded_scheduler():
    """The local threaded scheduler unless a test starts a client itself."""
    with dask.config.set(scheduler="threads"):
        yield


# ---- fit / partial_fit ------------------------------------------------------------------

@pytest.mark.parametrize("make,opts", MAKERS, ids=IDS)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_fit_equals_in_memory_fit(make, opts, dtype, rng):
    X = _data(rng, (3001, 13), dtype, mean=20.0)
    ref = make(**opts).fit(X)
    # uneven row chunks, more blocks than one tree level merges (3 levels)
    chunks = ((1, 7) + (40,) * 72 + (113,),)
    dX = da.from_array(X, chunks=chunks + ((13,),))
    assert dX.numblocks[0] > _dask.SPLIT_EVERY ** 2
    est = make(**opts).fit(dX)
    _assert_same_fit(est, ref, _tol(dtype))
    # one block
    _assert_same_fit(make(**opts).fit(da.from_array(X, chunks=-1)), ref, _tol(dtype))


@pytest.mark.parametrize("make,opts", MAKERS, ids=IDS)
def test_partial_fit_mixes_dask_and_numpy_batches(make, opts, rng):
    X = _data(rng, (900, 6))
    est = make(**opts)
    est.partial_fit(da.from_array(X[:300], chunks=70))
    est.partial_fit(X[300:500])
    est.partial_fit(da.from_array(X[500:], chunks=(150, 6)))
    _assert_same_fit(est, make(**opts).fit(X), 1e-12)


def test_column_chunks_are_rechunked_to_whole_rows(rng):
    X = _data(rng, (1000, 20))
    dX = da.from_array(X, chunks=(300, 7))
    rows = _dask.as_rows(dX, "PCA")
    assert rows.chunks[1] == (20,)
    assert sum(rows.chunks[0]) == 1000
    _assert_same_fit(pp.PCA().fit(dX), pp.PCA().fit(X), 1e-12)
    Y = pp.Standardizer().fit(X).transform(dX)
    assert Y.chunks[1] == (20,)
    np.testing.assert_allclose(Y.compute(), pp.Standardizer().fit(X).transform(X),
                               rtol=1e-14, atol=1e-14)


def test_unknown_row_chunks_are_fine_when_columns_are_whole(rng):
    X = _data(rng, (400, 5))
    dX = da.from_array(X, chunks=(64, 5))
    keep = X[:, 0] > 3.0
    sub = dX[da.from_array(keep, chunks=64)]       # row chunks unknown (NaN)
    assert np.isnan(sub.shape[0])
    _assert_same_fit(pp.PCA().fit(sub), pp.PCA().fit(X[keep]), 1e-12)
    _assert_same_fit(pp.Standardizer().fit(sub), pp.Standardizer().fit(X[keep]), 1e-12)


def test_integer_dask_array_is_fitted_as_float64(rng):
    X = np.round(_data(rng, (200, 4)) * 10).astype(np.int64)
    est = pp.Standardizer().fit(da.from_array(X, chunks=50))
    _assert_same_fit(est, pp.Standardizer().fit(X), 1e-12)
    assert est.transform(da.from_array(X, chunks=50)).dtype == F64


def test_fit_never_materializes_the_array(rng, monkeypatch):
    """No path turns the whole dask array into one ndarray: Array.__array__ and
    Array.compute raise; only per-block statistics come back."""
    X = _data(rng, (2000, 8))
    dX = da.from_array(X, chunks=250)

    def refuse(*a, **k):
        raise AssertionError("the dask array was materialized")
    monkeypatch.setattr(da.Array, "__array__", refuse)
    monkeypatch.setattr(da.Array, "compute", refuse)
    for make, opts in MAKERS:
        est = make(**opts).fit(dX)
        est.partial_fit(dX)
        Y = est.transform(dX)
        est.inverse_transform(Y)
    st = pp.Scatter.from_array(dX)
    assert isinstance(st, pp.Scatter) and st.n == 2000


def test_each_block_is_read_once_and_transform_reads_none(rng):
    X = _data(rng, (1200, 6))
    calls = []

    def block(block_info=None):
        calls.append(block_info[None]["chunk-location"])
        return X[block_info[None]["array-location"][0][0]:
                 block_info[None]["array-location"][0][1]]
    dX = da.map_blocks(block, dtype=F64, chunks=((300,) * 4, (6,)),
                       meta=np.empty((0, 6)))
    pca = pp.PCA().fit(dX)
    assert sorted(calls) == [(i, 0) for i in range(4)]
    calls.clear()
    Y = pca.transform(dX)
    back = pca.inverse_transform(Y)
    assert calls == []                 # lazy: nothing read yet
    np.testing.assert_allclose(back.compute(), X, rtol=1e-10, atol=1e-10)


# ---- transform / inverse_transform ------------------------------------------------------

@pytest.mark.parametrize("make,opts", MAKERS, ids=IDS)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_transforms_are_lazy_and_equal_in_memory(make, opts, dtype, rng):
    X = _data(rng, (700, 9), dtype)
    est = make(**opts).fit(X)
    dX = da.from_array(X, chunks=(123, 9))
    Y = est.transform(dX)
    assert isinstance(Y, da.Array) and Y.dtype == dtype
    assert Y.chunks[0] == dX.chunks[0]
    Ym = est.transform(X)
    assert Y.shape == Ym.shape and Y.chunks[1] == (Ym.shape[1],)
    if make is pp.Standardizer:  # the same elementwise kernel, row by row: the same bits
        np.testing.assert_array_equal(Y.compute(), Ym)
    else:  # a BLAS gemm, whose rounding may depend on where a block ends (OpenBLAS's
        # edge kernels for the last rows, seen on AVX2: 1 ulp on 19 of 6300 entries)
        np.testing.assert_allclose(Y.compute(), Ym, rtol=_tol(dtype), atol=_tol(dtype))
    back = est.inverse_transform(Y)
    assert isinstance(back, da.Array) and back.dtype == dtype and back.shape == X.shape
    np.testing.assert_allclose(back.compute(), est.inverse_transform(Ym),
                               rtol=1e-6 if dtype == F32 else 1e-13, atol=1e-5 if
                               dtype == F32 else 1e-12)
    Z = make(**opts).fit_transform(dX)
    assert isinstance(Z, da.Array)
    np.testing.assert_allclose(Z.compute(), Ym, rtol=_tol(dtype) * 100, atol=_tol(dtype) * 100)


def test_lazy_transform_uses_the_model_of_its_call(rng):
    X = _data(rng, (300, 5))
    s = pp.Standardizer().fit(X)
    Y = s.transform(da.from_array(X, chunks=100))
    s.fit(X * 3 + 1)                                # a later fit
    np.testing.assert_allclose(Y.compute(), pp.Standardizer().fit(X).transform(X))


def test_lazy_transform_holds_the_model_once_not_per_block(rng):
    """The fitted snapshot is one key of the graph that every block task depends on:
    a dask.distributed cluster ships it to a worker once, not inside each task."""
    X = _data(rng, (400, 6))
    pca = pp.PCA(3).fit(X)
    Y = pca.transform(da.from_array(X, chunks=(100, 6)))
    graph = dict(Y.__dask_graph__())
    models = [k for k, v in graph.items()
              if isinstance(getattr(v, "value", None), pp.PCA) or isinstance(v, pp.PCA)]
    assert len(models) == 1, graph
    assert len(graph) == 4 + 4 + 1                  # input blocks, output blocks, model
    np.testing.assert_allclose(Y.compute(), pca.transform(X), rtol=1e-12, atol=1e-12)


def test_standardizer_copy_false_never_writes_dask_blocks(rng):
    X = _data(rng, (200, 4))
    keep = X.copy()
    s = pp.Standardizer(copy=False).fit(X)
    s.transform(da.from_array(X, chunks=50)).compute()
    assert_bitwise_equal(X, keep)


def test_feature_names_are_checked_once_not_per_block(rng):
    pd = pytest.importorskip("pandas")
    X = _data(rng, (200, 3))
    s = pp.Standardizer().fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        Y = s.transform(da.from_array(X, chunks=20))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y.compute()
    assert hasattr(s, "feature_names_in_")           # the estimator keeps its names


# ---- the peer: dask-ml -----------------------------------------------------------------

def test_agrees_with_dask_ml(rng):
    dml_pre = pytest.importorskip("dask_ml.preprocessing", reason="dask-ml not installed")
    dml_dec = pytest.importorskip("dask_ml.decomposition", reason="dask-ml not installed")
    X = _data(rng, (4000, 12), mean=5.0)
    dX = da.from_array(X, chunks=(500, 12))
    ours, theirs = pp.Standardizer().fit(dX), dml_pre.StandardScaler().fit(dX)
    for k in ("mean_", "var_", "scale_"):
        np.testing.assert_allclose(getattr(ours, k), np.asarray(getattr(theirs, k)),
                                   rtol=1e-12)
    np.testing.assert_allclose(ours.transform(dX).compute(),
                               np.asarray(theirs.transform(dX)), rtol=1e-12, atol=1e-12)
    ours, theirs = pp.PCA(5).fit(dX), dml_dec.PCA(5, svd_solver="full").fit(dX)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_,
                               rtol=1e-10)
    np.testing.assert_allclose(ours.singular_values_, theirs.singular_values_, rtol=1e-10)
    signs = np.sign(np.sum(ours.components_ * theirs.components_, axis=1))
    np.testing.assert_allclose(ours.components_, theirs.components_ * signs[:, None],
                               atol=1e-9)
    np.testing.assert_allclose(ours.transform(dX).compute(),
                               np.asarray(theirs.transform(dX)) * signs, atol=1e-8)


# ---- bad input --------------------------------------------------------------------------

def test_nan_in_a_block_raises_and_keeps_the_model(rng):
    X = _data(rng, (400, 5))
    for make, opts in MAKERS:
        bad = X.copy()
        # the Standardizer ignores NaN (scikit-learn's rule) and raises on infinity
        bad[333, 2] = np.inf if make is pp.Standardizer else np.nan
        est = make(**opts).fit(X)
        before = {k: np.copy(v) if isinstance(v, np.ndarray) else v
                  for k, v in _fitted(est).items()}
        with pytest.raises(ValueError, match="NaN|infinity"):
            est.fit(da.from_array(bad, chunks=100))
        with pytest.raises(ValueError, match="NaN|infinity"):
            est.partial_fit(da.from_array(bad, chunks=100))
        _assert_same_fit(est, make(**opts).fit(X), 0.0)
        assert _fitted(est).keys() == before.keys()


def test_bad_shapes_dtypes_and_chunks_are_rejected(rng):
    X = _data(rng, (100, 4))
    with pytest.raises(ValueError, match="Expected 2D array"):
        pp.PCA().fit(da.ones((10,), chunks=5))
    with pytest.raises(ValueError, match="Found array with dim 3"):
        pp.Standardizer().fit(da.ones((4, 5, 6), chunks=2))
    with pytest.raises(ValueError, match="Complex data not supported"):
        pp.Standardizer().fit(da.ones((4, 5), chunks=2, dtype=complex))
    with pytest.raises(TypeError, match="real numbers"):
        pp.Standardizer().fit(da.from_array(np.array([["a", "b"]] * 4), chunks=2))
    with pytest.raises(ValueError, match="0 feature"):
        pp.PCA().fit(da.ones((4, 0), chunks=2))
    with pytest.raises(ValueError, match="minimum of 1 is required"):
        pp.Standardizer().fit(da.ones((0, 3), chunks=2))
    # row chunks unknown and columns chunked: cannot be planned -> a clear message
    dX = da.from_array(X, chunks=(25, 2))
    unknown = dX[da.from_array(X[:, 0] > 0, chunks=25)]
    with pytest.raises(ValueError, match=r"chunked along its columns .* X.compute_chunk_sizes\(\)"):
        pp.PCA().fit(unknown)
    # columns of unknown size
    with pytest.raises(ValueError, match="unknown number of columns"):
        pp.PCA().fit(dX[:, da.from_array(X[0] > -100, chunks=2)])
    # an empty selection is found once computed
    empty = da.from_array(X, chunks=(25, 4))[da.from_array(X[:, 0] > 1e9, chunks=25)]
    with pytest.raises(ValueError, match="minimum of 1 is required"):
        pp.Standardizer().fit(empty)
    with pytest.raises(ValueError, match="at least 2 samples"):
        pp.PCA().fit(da.from_array(X[:1], chunks=1))
    # the SVD route needs the data in memory
    with pytest.raises(ValueError, match="svd_solver='covariance_eigh'"):
        pp.PCA(svd_solver="full").fit(da.from_array(X, chunks=25))
    # widths
    s = pp.PCA(2).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but PCA is expecting 4"):
        s.transform(da.from_array(X[:, :3], chunks=25))
    with pytest.raises(ValueError, match="expecting 2"):
        s.inverse_transform(da.from_array(X, chunks=25))
    with pytest.raises(ValueError, match="X has 3 features"):
        pp.Standardizer().fit(X).partial_fit(da.from_array(X[:, :3], chunks=25))


# ---- gradkit without dask --------------------------------------------------------------

def test_gradkit_works_without_dask_and_does_not_import_it():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import gradkit.preprocessing as pp\n"
        "X = np.random.default_rng(0).standard_normal((50, 3))\n"
        "for cls in (pp.Standardizer, pp.PCA, pp.Whitener):\n"
        "    cls().fit(X).transform(X)\n"
        "pp.Moments.from_array(X).merge(pp.Moments.from_array(X))\n"
        "pp.PCA().fit_stats(pp.Scatter.from_array(X).merge(pp.Scatter.from_array(X)))\n"
        "assert not any(v is not None and (m == 'dask' or m.startswith('dask.'))\n"
        "               for m, v in list(sys.modules.items())), 'dask was imported'\n"
        "print('ok')\n")
    blocked = "import sys; sys.modules['dask'] = None\n" + code   # import dask fails
    for src in (code, blocked):
        r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# ---- a dask.distributed LocalCluster with 2 worker processes -----------------------------

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_local_cluster_fit_and_transform(client, rng):
    X = _data(rng, (5000, 16), mean=7.0)
    dX = da.from_array(X, chunks=(400, 16))
    with dask.config.set(scheduler=client):
        for make, opts in MAKERS:
            est = make(**opts).fit(dX)
            ref = make(**opts).fit(X)
            _assert_same_fit(est, ref, 1e-12)
            Y = est.transform(dX).compute()
            np.testing.assert_allclose(Y, ref.transform(X), rtol=1e-10, atol=1e-10)
        # the blocks' statistics were computed on both worker processes, not here
        import distributed
        with distributed.get_task_stream(client) as ts:
            st = pp.Scatter.from_array(dX)
    assert st.n == 5000
    # the tree is fixed by the blocks (not by who ran them): the same bits as here
    local = pp.Scatter.from_array(dX)
    assert_bitwise_equal([st.mean, st.scatter], [local.mean, local.scatter])
    workers = {t["worker"] for t in ts.data if str(t["key"]).startswith("from_array")}
    assert len(workers) == 2, ts.data


def test_benchmark_script_runs_and_checks_agreement(client, tmp_path):
    """benchmarks/dask_peer.py at a tiny size: it checks that gradkit and dask-ml agree
    and writes its JSON (no timing is judged here).  It runs on this module's
    LocalCluster (``--scheduler``: a second cluster's start-up is not what is tested),
    with no memory touched beforehand (``--prefault-gb 0``: at this size the default
    would touch 1 GB for nothing)."""
    pytest.importorskip("dask_ml", reason="dask-ml not installed")
    import json
    import os
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "dask_peer.py")
    out = tmp_path / "dask.json"
    r = subprocess.run([sys.executable, script, "--rows", "6000", "--cols", "12",
                        "--chunk", "1000", "--components", "4", "--repeat", "1",
                        "--prefault-gb", "0", "--scheduler", client.scheduler.address,
                        "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads(out.read_text())
    assert info["shape"] == [6000, 12] and info["workers"] == 2
    assert set(info["speedup"]) and all(v > 0 for v in info["speedup"].values())
