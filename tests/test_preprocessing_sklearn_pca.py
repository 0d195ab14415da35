"""scikit-learn 1.9's PCA and IncrementalPCA on gradkit.preprocessing: every solver
against scikit-learn's same solver, the 'auto' policy, n_components as 'mle' and as a
variance fraction, the probabilistic model (score, score_samples, get_covariance,
get_precision), sparse input, copy=False, errors, parameters, IncrementalPCA.

Tolerances: float64 results agree with scikit-learn to 1e-9 relative to the largest
value of an attribute (both sides are LAPACK/ARPACK in float64 on the same data; they
differ in the order of the sums around them); float32 ones to 2e-3 (scikit-learn's
float32 fits run in float32, gradkit's statistics in float64).  Components are
compared with their signs: both sides make each one's largest entry positive."""
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from conftest import assert_bitwise_equal, run_threads
from gradkit import _pca
from gradkit import preprocessing as pp
from gradkit import reference as ref

skd = pytest.importorskip("sklearn.decomposition")
skb = pytest.importorskip("sklearn.base")
from sklearn.decomposition._pca import _infer_dimension  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

ATTRS = ("explained_variance_", "explained_variance_ratio_", "singular_values_",
         "mean_", "components_", "noise_variance_")


def _data(rng, n, d, dtype=np.float64, rank=None, noise=0.05, mean=2.0):
    """Correlated data with well-separated variances (a low-rank signal plus noise
    when `rank` is given)."""
    r = d if rank is None else rank
    scales = np.geomspace(5.0, 0.5, r)
    X = (rng.standard_normal((n, r)) * scales) @ np.linalg.qr(
        rng.standard_normal((d, r)))[0].T
    X += noise * rng.standard_normal((n, d)) + mean
    return X.astype(dtype)


def _close(ours, theirs, dtype, what="", scale=None):
    """Equal to `tol` times `scale` (default: the largest magnitude of `theirs`)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, what
    if scale is None:
        scale = float(np.max(np.abs(theirs), initial=0.0))
    tol = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol * max(scale, 1e-300),
                               err_msg=what)


def _same_fit(ours, theirs, dtype, attrs=ATTRS):
    assert ours.n_components_ == theirs.n_components_
    for a in attrs:
        # the noise variance is a difference of sums of variances: their round-off
        scale = float(np.max(theirs.explained_variance_, initial=0.0)) \
            if a == "noise_variance_" else None
        _close(getattr(ours, a), getattr(theirs, a), dtype, a, scale)


# ---- every solver against scikit-learn's --------------------------------------------------

@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "arpack"])
@pytest.mark.parametrize("shape", [(300, 12), (40, 60), (501, 30)])
@pytest.mark.parametrize("whiten", [False, True])
def test_solver_matches_sklearn(solver, shape, whiten, dtype, rng):
    n, d = shape
    X = _data(rng, n, d, dtype)
    k = min(shape) - 1 if solver == "arpack" else 5
    kw = dict(whiten=whiten, svd_solver=solver, random_state=0)
    ours, theirs = pp.PCA(k, **kw).fit(X), skd.PCA(k, **kw).fit(X)
    if solver == "covariance_eigh" and n < d:
        # documented deviation: scikit-learn's covariance route averages d - k
        # eigenvalues (the zeros beyond the rank too), gradkit min(n, d) - k
        _same_fit(ours, theirs, dtype, ATTRS[:-1])
        _close(ours.noise_variance_ * (n - k) / (d - k), theirs.noise_variance_, dtype)
    else:
        _same_fit(ours, theirs, dtype)
    assert ours._fit_svd_solver == theirs._fit_svd_solver == solver
    for a in ("components_", "explained_variance_", "mean_", "singular_values_"):
        assert getattr(ours, a).dtype == dtype
    _close(ours.transform(X), theirs.transform(X), dtype, "transform")
    _close(pp.PCA(k, **kw).fit_transform(X), skd.PCA(k, **kw).fit_transform(X), dtype,
           "fit_transform")
    Y = theirs.transform(X)
    _close(ours.inverse_transform(Y), theirs.inverse_transform(Y), dtype, "inverse")


def test_arpack_tol_and_random_state(rng):
    """ARPACK starts from scikit-learn's v0 (uniform in [-1, 1] from random_state): the
    same start, the same iterations; a RandomState is consumed as scikit-learn does."""
    X = _data(rng, 200, 30)
    for tol in (0.0, 1e-4):
        a = pp.PCA(4, svd_solver="arpack", tol=tol, random_state=7).fit(X)
        b = skd.PCA(4, svd_solver="arpack", tol=tol, random_state=7).fit(X)
        _same_fit(a, b, np.float64, ("explained_variance_", "components_"))
    ra, rb = np.random.RandomState(3), np.random.RandomState(3)
    pp.PCA(4, svd_solver="arpack", random_state=ra).fit(X)
    skd.PCA(4, svd_solver="arpack", random_state=rb).fit(X)
    assert ra.uniform() == rb.uniform()
    # scikit-learn raises its InvalidParameterError (a ValueError and a TypeError);
    # gradkit's rule for a value of the wrong type is TypeError
    with pytest.raises(TypeError, match="cannot be used to seed"):
        pp.PCA(4, svd_solver="arpack", random_state="seed").fit(X)


def test_arpack_matches_full_and_reference(rng):
    X = _data(rng, 150, 20)
    a = pp.PCA(6, svd_solver="arpack", random_state=0).fit(X)
    r = ref.PCA(6).fit(X)
    for attr in ("explained_variance_", "explained_variance_ratio_", "singular_values_",
                 "components_", "noise_variance_"):
        _close(getattr(a, attr), getattr(r, attr), np.float64, attr)


# ---- the 'auto' policy ----------------------------------------------------------------------

@pytest.mark.parametrize("shape,k", [
    ((1000, 50), None), ((1000, 50), 3), ((200, 30), None), ((300, 300), 10),
    ((400, 600), None), ((600, 400), 0.9), ((520, 60), "mle"), ((600, 400), 350),
    ((600, 400), 320), ((2000, 1001), 5), ((600, 400), 10), ((600, 400), 319)])
def test_auto_policy_is_sklearns(shape, k, rng):
    if k == "mle" and shape[0] < shape[1]:
        pytest.skip("mle needs n_samples >= n_features")
    want = _pca.choose_solver("auto", shape, k)
    X = rng.standard_normal(shape)
    theirs = skd.PCA(k, random_state=0).fit(X)
    assert theirs._fit_svd_solver == want
    if want != "randomized":   # branch rsvd provides that solver
        ours = pp.PCA(k).fit(X)
        assert ours._fit_svd_solver == want
        assert ours.n_components_ == theirs.n_components_
    assert _pca.choose_solver("auto", shape, k, sparse=True) == "arpack"
    assert _pca.choose_solver("auto", shape, k, lazy=True) == "covariance_eigh"
    assert _pca.choose_solver("full", shape, k) == "full"


def test_randomized_is_one_place_until_rsvd(rng):
    """Before branch rsvd lands, 'randomized' (and 'auto' picking it) raises
    NotImplementedError from PCA._fit_randomized alone; its parameters are stored."""
    p = pp.PCA(5, svd_solver="randomized", iterated_power=3, n_oversamples=4,
               power_iteration_normalizer="LU", random_state=1)
    assert (p.iterated_power, p.n_oversamples, p.power_iteration_normalizer,
            p.random_state) == (3, 4, "LU", 1)
    try:
        p.fit(rng.standard_normal((50, 8)))
    except NotImplementedError as e:
        assert e.__traceback__ is not None
        tb = e.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        assert tb.tb_frame.f_code.co_name == "_fit_randomized"
        assert not hasattr(p, "components_")
        return
    assert p._fit_svd_solver == "randomized" and p.components_.shape == (5, 8)


# ---- n_components: 'mle' and fractions --------------------------------------------------------

@pytest.mark.parametrize("rank", [1, 3, 7])
@pytest.mark.parametrize("solver", ["auto", "full", "covariance_eigh"])
def test_mle_matches_sklearn(rank, solver, rng):
    X = _data(rng, 500, 12, rank=rank, noise=0.01)
    ours = pp.PCA("mle", svd_solver=solver).fit(X)
    theirs = skd.PCA("mle", svd_solver=solver).fit(X)
    assert ours.n_components_ == theirs.n_components_ == rank
    _same_fit(ours, theirs, np.float64)
    assert ours._fit_svd_solver == theirs._fit_svd_solver


def test_infer_dimension_against_sklearn_and_twin(rng):
    for trial in range(40):
        d = int(rng.integers(2, 30))
        spectrum = np.sort(rng.exponential(size=d) ** rng.uniform(1, 6))[::-1]
        if trial % 4 == 0:
            spectrum[rng.integers(1, d):] *= 1e-3    # a clear elbow
        if trial % 7 == 0:
            spectrum[-1] = 0.0
        n = int(rng.integers(d, 5 * d + 50))
        got = _pca.infer_dimension(spectrum, n)
        assert got == ref.preprocessing.infer_dimension(spectrum, n)
        assert got == int(_infer_dimension(spectrum, n))


def test_infer_dimension_ties_score_minus_inf():
    """Equal eigenvalues make a log of 0 in the double sum (scikit-learn: math domain
    error); gradkit scores those ranks -inf."""
    s = np.array([5.0, 2.0, 1.0, 1.0, 0.5])
    got = _pca.infer_dimension(s, 100)
    assert got == ref.preprocessing.infer_dimension(s, 100)
    assert got in (1, 2)
    with pytest.raises(ValueError, match="math domain"):
        _infer_dimension(s, 100)


def test_mle_errors(rng):
    with pytest.raises(ValueError, match="only supported if n_samples >= n_features"):
        pp.PCA("mle").fit(rng.standard_normal((5, 8)))
    with pytest.raises(ValueError, match="n_components='mle' cannot be a string with "
                                         "svd_solver='arpack'"):
        pp.PCA("mle", svd_solver="arpack").fit(rng.standard_normal((50, 8)))
    with pytest.raises(ValueError, match="only supported if n_samples >= n_features"):
        pp.PCA("mle").partial_fit(rng.standard_normal((5, 8)))


@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
def test_variance_fraction_matches_sklearn_with_ties(solver):
    # variances exactly 2/3 and 2/3: ratios 0.5, 0.5; side='right' keeps both for 0.5
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    for frac, want in ((0.5, 2), (0.49, 1), (0.51, 2)):
        ours = pp.PCA(frac, svd_solver=solver).fit(X)
        theirs = skd.PCA(frac, svd_solver=solver).fit(X)
        assert ours.n_components_ == theirs.n_components_ == want, frac


def test_variance_fraction_never_exceeds_the_rank(rng):
    """A fraction just above a cumulative ratio that round-off left below 1: scikit-learn
    says min + 1 components (and keeps min); gradkit keeps min."""
    for seed in range(300):
        X = np.random.default_rng(seed).standard_normal((30, 7)) * np.linspace(0.1, 10, 7)
        theirs = skd.PCA(svd_solver="full").fit(X)
        total = np.cumsum(theirs.explained_variance_ratio_)[-1]
        if total < np.nextafter(1.0, 0.0):   # a fraction in (total, 1) exists
            break
    frac = float(np.nextafter(total, 2.0))
    assert skd.PCA(frac, svd_solver="full").fit(X).n_components_ == 8
    ours = pp.PCA(frac, svd_solver="full").fit(X)
    assert ours.n_components_ == ours.components_.shape[0] == 7


@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
@pytest.mark.parametrize("frac", [0.3, 0.8, 0.95, 0.999])
def test_variance_fraction_matches_sklearn(solver, frac, dtype, rng):
    X = _data(rng, 400, 15, dtype)
    ours = pp.PCA(frac, svd_solver=solver).fit(X)
    theirs = skd.PCA(frac, svd_solver=solver).fit(X)
    _same_fit(ours, theirs, dtype)


# ---- the probabilistic model --------------------------------------------------------------

@pytest.mark.parametrize("k", [0, 1, 4, 9])
@pytest.mark.parametrize("whiten", [False, True])
def test_score_and_covariance_match_sklearn_and_twin(k, whiten, dtype, rng):
    X = _data(rng, 300, 9, dtype)
    ours = pp.PCA(k, whiten=whiten, svd_solver="full").fit(X)
    theirs = skd.PCA(k, whiten=whiten, svd_solver="full").fit(X)
    twin = ref.PCA(k, whiten=whiten).fit(X.astype(np.float64))
    if k == 9:
        assert ours.noise_variance_ == 0
    for name in ("get_covariance", "get_precision"):
        got = getattr(ours, name)()
        assert got.dtype == dtype
        _close(got, getattr(theirs, name)(), dtype, name)
        _close(got, getattr(twin, name)(), dtype, name)
    Xt = _data(rng, 50, 9, dtype)
    got = ours.score_samples(Xt)
    assert got.dtype == dtype and got.shape == (50,)
    _close(got, theirs.score_samples(Xt), dtype, "score_samples")
    _close(got, twin.score_samples(Xt), dtype, "score_samples")
    assert isinstance(ours.score(Xt), float)
    _close(ours.score(Xt), theirs.score(Xt), dtype, "score")


def _plain_inverse_outcome(get_precision):
    """How a plain inverse of a singular matrix ends: "error" (LAPACK met an exact zero
    pivot: LinAlgError), "ill-conditioned" (round-off left the pivots tiny but nonzero:
    scipy's LinAlgWarning) or "fine" (no sign of singularity)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            get_precision()
        except np.linalg.LinAlgError:
            return "error"
    if any(issubclass(w.category, scipy.linalg.LinAlgWarning) for w in caught):
        return "ill-conditioned"
    return "fine"


def test_singular_model_precision_fails_as_sklearns(rng):
    """noise_variance_ 0 with fewer components than features (n_samples <= n_features):
    the covariance is singular and both libraries invert it plainly, which fails.  Which
    way it fails (an exact zero pivot, or a warning on a tiny one) depends on the CPU's
    round-off: it raised on an AMD EPYC and warned on an Intel Xeon, for both libraries
    alike, so either counts, for either."""
    X = rng.standard_normal((5, 8))
    ours, theirs = pp.PCA(svd_solver="full").fit(X), skd.PCA(svd_solver="full").fit(X)
    assert ours.noise_variance_ == theirs.noise_variance_ == 0
    _close(ours.get_covariance(), theirs.get_covariance(), np.float64)
    assert _plain_inverse_outcome(theirs.get_precision) in ("error", "ill-conditioned")
    assert _plain_inverse_outcome(ours.get_precision) in ("error", "ill-conditioned")


def test_scores_need_a_fit(rng):
    p = pp.PCA(2)
    for method, args in (("score_samples", (np.ones((3, 4)),)), ("score", (np.ones((3, 4)),)),
                         ("get_covariance", ()), ("get_precision", ())):
        with pytest.raises(NotFittedError):
            getattr(p, method)(*args)
    p.fit(rng.standard_normal((30, 4)))
    with pytest.raises(ValueError, match="X has 5 features"):
        p.score_samples(np.ones((3, 5)))


# ---- sparse input ---------------------------------------------------------------------------

def _sparse(rng, n, d, density=0.2, dtype=np.float64):
    X = sp.random(n, d, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = (X.data * 3 + 1).astype(dtype)
    return X.astype(dtype)


@pytest.mark.parametrize("solver", ["auto", "arpack", "covariance_eigh"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "csr_array"])
def test_sparse_matches_sklearn_and_dense(solver, fmt, dtype, rng):
    X = _sparse(rng, 200, 15, dtype=dtype)
    Xs = sp.csr_array(X) if fmt == "csr_array" else X.asformat(fmt)
    data_before = Xs.copy()
    k = 5
    ours = pp.PCA(k, svd_solver=solver, random_state=0).fit(Xs)
    theirs = skd.PCA(k, svd_solver=solver, random_state=0).fit(Xs)
    assert ours._fit_svd_solver == theirs._fit_svd_solver
    _same_fit(ours, theirs, dtype)
    dense = pp.PCA(k, svd_solver="full").fit(X.toarray())
    _same_fit(ours, dense, dtype)
    got = ours.transform(Xs)
    assert isinstance(got, np.ndarray) and got.dtype == dtype
    _close(got, theirs.transform(Xs), dtype, "transform")
    _close(got, dense.transform(X.toarray()), dtype, "transform")
    _close(pp.PCA(k, svd_solver=solver, random_state=0).fit_transform(Xs),
           skd.PCA(k, svd_solver=solver, random_state=0).fit_transform(Xs), dtype, "fit_tr")
    assert (Xs != data_before).nnz == 0          # X untouched
    assert Xs.format == data_before.format


def test_sparse_with_other_solvers_is_a_type_error(rng):
    X = _sparse(rng, 50, 8)
    for solver in ("full", "randomized"):
        with pytest.raises(TypeError, match='PCA only support sparse inputs with the '
                                            '"arpack" and "covariance_eigh" solvers, while '
                                            f'"{solver}" was passed'):
            pp.PCA(3, svd_solver=solver).fit(X)
        with pytest.raises(TypeError, match="PCA only support sparse"):
            skd.PCA(3, svd_solver=solver).fit(X)
    with pytest.raises(TypeError, match="sparse"):
        pp.Whitener().fit(X)
    p = pp.PCA(3).fit(X)
    with pytest.raises(TypeError, match="sparse"):
        p.inverse_transform(sp.csr_matrix(np.ones((2, 3))))
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pp.PCA(3).fit(bad)


def test_sparse_partial_fit_merges_statistics(rng):
    X = _sparse(rng, 300, 10)
    p = pp.PCA(4)
    for rows in (slice(0, 100), slice(100, 300)):
        p.partial_fit(X[rows])
    whole = pp.PCA(4, svd_solver="full").fit(X.toarray())
    _same_fit(p, whole, np.float64)


# ---- copy ------------------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["full", "arpack"])
def test_copy_false_centres_x_in_place_as_sklearn(solver, dtype, rng):
    X = _data(rng, 120, 10, dtype)
    mine, theirs = X.copy(), X.copy()
    kw = dict(svd_solver=solver, copy=False, random_state=0)
    Ya = pp.PCA(4, **kw).fit_transform(mine)
    Yb = skd.PCA(4, **kw).fit_transform(theirs)
    _close(Ya, Yb, dtype, "fit_transform")
    # scikit-learn's arpack squares the centred X in place for the total variance;
    # gradkit leaves it centred (documented)
    _close(mine ** 2 if solver == "arpack" else mine, theirs, dtype, "X after fit")
    _close(mine, X - X.astype(np.float64).mean(axis=0), dtype, "X is centred")
    # copy=True and the covariance solver leave X alone
    for kw in (dict(svd_solver=solver), dict(svd_solver="covariance_eigh", copy=False)):
        Z = X.copy()
        pp.PCA(4, random_state=0, **kw).fit(Z)
        np.testing.assert_array_equal(Z, X)


def test_copy_false_with_read_only_or_converted_input(rng):
    X = _data(rng, 60, 6)
    ro = X.copy()
    ro.flags.writeable = False
    a = pp.PCA(3, svd_solver="full", copy=False).fit(ro)
    np.testing.assert_array_equal(ro, X)
    Xi = np.round(X * 10).astype(np.int64)
    before = Xi.copy()
    pp.PCA(3, svd_solver="full", copy=False).fit(Xi)
    np.testing.assert_array_equal(Xi, before)
    _same_fit(a, pp.PCA(3, svd_solver="full").fit(X), np.float64)


# ---- errors and parameters --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["PCA", "IncrementalPCA"])
def test_one_dimensional_input_message(name):
    for mod in (pp, skd):   # the same words as scikit-learn's
        with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
            getattr(mod, name)().fit(np.arange(5.0))


@pytest.mark.parametrize("solver,k,message", [
    ("full", 7, "n_components=7 must be between 0 and min(n_samples, n_features)=6 with "
                "svd_solver='full'"),
    ("covariance_eigh", 7, "n_components=7 must be between 0 and "
                           "min(n_samples, n_features)=6 with svd_solver='covariance_eigh'"),
    ("arpack", 7, "n_components=7 must be between 1 and min(n_samples, n_features)=6 with "
                  "svd_solver='arpack'"),
    ("arpack", 6, "n_components=6 must be strictly less than min(n_samples, "
                  "n_features)=6 with svd_solver='arpack'"),
    ("arpack", 0, "n_components=0 must be between 1 and min(n_samples, n_features)=6 with "
                  "svd_solver='arpack'"),
    ("arpack", 0.5, "n_components=0.5 must be between 1 and min(n_samples, "
                    "n_features)=6 with svd_solver='arpack'"),
])
def test_n_components_out_of_range_messages(solver, k, message, rng):
    X = rng.standard_normal((30, 6))
    for cls in (pp.PCA, skd.PCA):
        with pytest.raises(ValueError) as e:
            cls(k, svd_solver=solver).fit(X)
        assert str(e.value) == message, (cls, str(e.value))


def test_not_fitted_error_is_sklearns():
    assert pp.NotFittedError is NotFittedError
    for est in (pp.PCA(), pp.IncrementalPCA()):
        for method in ("transform", "inverse_transform", "get_covariance"):
            with pytest.raises(NotFittedError):
                getattr(est, method)(*((np.ones((2, 3)),) if "transform" in method else ()))


def test_params_are_sklearns_and_clone():
    for ours, theirs in ((pp.PCA(), skd.PCA()), (pp.IncrementalPCA(), skd.IncrementalPCA())):
        assert ours.get_params() == theirs.get_params()
    p = pp.PCA(3, True, svd_solver="arpack", tol=1e-3, random_state=5, copy=False)
    c = skb.clone(p)
    assert c.get_params() == p.get_params() and c is not p
    assert c.whiten is True and c.svd_solver == "arpack"
    q = skb.clone(pp.IncrementalPCA(2, batch_size=7, whiten=True))
    assert q.get_params() == {"n_components": 2, "whiten": True, "copy": True,
                              "batch_size": 7}
    with pytest.raises(TypeError):
        pp.IncrementalPCA(2, True)          # whiten is keyword-only, as in scikit-learn


# ---- IncrementalPCA ------------------------------------------------------------------------------

@pytest.mark.parametrize("whiten", [False, True])
def test_ipca_matches_sklearn_where_sklearn_is_exact(whiten, dtype, rng):
    """n_components == n_features: scikit-learn's incremental SVD keeps everything."""
    X = _data(rng, 400, 8, dtype)
    ours = pp.IncrementalPCA(8, whiten=whiten, batch_size=50).fit(X)
    theirs = skd.IncrementalPCA(8, whiten=whiten, batch_size=50).fit(X)
    _same_fit(ours, theirs, dtype, ATTRS + ("var_",))
    assert ours.n_samples_seen_ == theirs.n_samples_seen_ == 400
    assert ours.batch_size_ == theirs.batch_size_ == 50
    _close(ours.transform(X), theirs.transform(X), dtype, "transform")
    _close(ours.fit_transform(X), theirs.fit_transform(X), dtype, "fit_transform")
    Y = theirs.transform(X)
    _close(ours.inverse_transform(Y), theirs.inverse_transform(Y), dtype, "inverse")
    _close(ours.get_covariance(), theirs.get_covariance(), dtype, "cov")
    _close(ours.get_precision(), theirs.get_precision(), dtype, "precision")


@pytest.mark.parametrize("batch_size", [None, 13, 100])
def test_ipca_is_pca_of_all_rows(batch_size, dtype, rng):
    """With fewer components than features gradkit's IncrementalPCA is still PCA on
    every row seen, where scikit-learn's drifts."""
    X = _data(rng, 500, 12, dtype)
    ours = pp.IncrementalPCA(3, batch_size=batch_size).fit(X)
    exact = skd.PCA(3, svd_solver="full").fit(X)
    _same_fit(ours, exact, dtype)
    parts = pp.IncrementalPCA(3)
    for rows in np.array_split(np.arange(500), [3, 50, 51, 300]):
        parts.partial_fit(X[rows])
    _same_fit(parts, exact, dtype)
    assert parts.n_samples_seen_ == 500
    _close(parts.var_, X.astype(np.float64).var(axis=0), dtype, "var_")
    approx = skd.IncrementalPCA(3, batch_size=13).fit(X)
    if dtype == np.float64:   # scikit-learn's is off, by more than round-off
        assert np.abs(approx.explained_variance_ - exact.explained_variance_).max() > 1e-9
    assert parts.get_feature_names_out().tolist() == ["incrementalpca0",
                                                      "incrementalpca1", "incrementalpca2"]


def test_ipca_n_components_rules_and_errors(rng):
    X = rng.standard_normal((100, 6))
    a = pp.IncrementalPCA().partial_fit(X[:4])
    b = skd.IncrementalPCA().partial_fit(X[:4])
    assert a.n_components_ == b.n_components_ == 4
    a.partial_fit(X[4:])
    assert a.n_components_ == 4
    assert pp.IncrementalPCA().fit(X).n_components_ == skd.IncrementalPCA().fit(X).n_components_
    est = pp.IncrementalPCA(3).partial_fit(X[:10])
    est.set_params(n_components=2)
    with pytest.raises(ValueError, match="Number of input features has changed from 3 to 2 "
                                         "between calls to partial_fit! Try setting "
                                         "n_components to a fixed value."):
        est.partial_fit(X[10:20])
    assert est.n_samples_seen_ == 10           # unchanged by the failed call
    with pytest.raises(ValueError, match=r"n_components=5 must be less or equal to the batch "
                                         r"number of samples 3 for the first partial_fit"):
        pp.IncrementalPCA(5).partial_fit(X[:3])
    with pytest.raises(ValueError, match="n_components=7 invalid for n_features=6, need more "
                                         "rows than columns for IncrementalPCA processing"):
        pp.IncrementalPCA(7).fit(X)
    with pytest.raises(ValueError, match="must be less or equal to the batch number of "
                                         "samples 4"):
        pp.IncrementalPCA(5, batch_size=4).fit(X[:4])
    # the last short batch joins the one before (gen_batches' min_batch_size)
    pp.IncrementalPCA(5, batch_size=5).fit(X[:9])
    with pytest.raises(TypeError, match="IncrementalPCA.partial_fit does not support sparse"):
        pp.IncrementalPCA(2).partial_fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match="batch_size"):
        pp.IncrementalPCA(batch_size=0).fit(X)


def test_ipca_sparse_fit_in_batches(rng):
    X = _sparse(rng, 120, 9)
    for fmt in ("csr", "csc", "lil"):
        ours = pp.IncrementalPCA(9, batch_size=25).fit(X.asformat(fmt))
        theirs = skd.IncrementalPCA(9, batch_size=25).fit(X.asformat(fmt))
        _same_fit(ours, theirs, np.float64)
        _close(ours.transform(X), theirs.transform(X), np.float64)


def test_ipca_score_matches_pca(rng):
    X = _data(rng, 200, 7)
    a, b = pp.IncrementalPCA(3).fit(X), pp.PCA(3, svd_solver="full").fit(X)
    _close(a.score_samples(X), b.score_samples(X), np.float64)
    _close(a.get_precision(), b.get_precision(), np.float64)


@pytest.mark.parametrize("name,kw", [
    ("IncrementalPCA", {}), ("IncrementalPCA", dict(n_components=2, whiten=True, batch_size=7)),
    ("PCA", dict(svd_solver="arpack")), ("PCA", dict(n_components="mle")),
    ("PCA", dict(n_components=0.9, svd_solver="covariance_eigh"))])
def test_check_estimator(name, kw):
    """scikit-learn's estimator checks pass, except those its own estimator of the same
    parameters fails (PCA(svd_solver='arpack') on 1 sample or 1 feature raises its
    n_components message; PCA('mle') turns into 'arpack' on sparse input)."""
    checks = pytest.importorskip("sklearn.utils.estimator_checks")

    def failures(est):
        return {r["check_name"] for r in checks.check_estimator(est, on_fail=None)
                if r["status"] == "failed"}

    ours = failures(getattr(pp, name)(**kw))
    assert ours <= failures(getattr(skd, name)(**kw)), ours


def test_results_bitwise_equal_across_threads(rng):
    """IncrementalPCA (the Scatter kernel), arpack (BLAS held to one thread) and the
    probabilistic model give the same bits for any thread count."""
    X = _data(rng, 30000, 17)
    Xs = _sparse(rng, 3000, 40)

    def run():
        ipca = pp.IncrementalPCA(5).fit(X)
        parts = pp.IncrementalPCA(5).partial_fit(X[:7000]).partial_fit(X[7000:])
        arp = pp.PCA(5, svd_solver="arpack", random_state=0).fit(X)
        sps = pp.PCA(5, svd_solver="arpack", random_state=0).fit(Xs)
        return [ipca.components_, parts.explained_variance_, ipca.score_samples(X),
                ipca.get_precision(), arp.components_, arp.transform(X),
                sps.components_, sps.transform(Xs), pp.PCA("mle").fit(X).n_components_]

    a, b = run_threads(run, counts=(1, 2))
    assert_bitwise_equal(a, b)


def test_mle_and_ipca_through_statistics(rng):
    """'mle' through partial_fit (the covariance of the merged statistics) and
    IncrementalPCA of a dask array (block statistics) equal the in-memory fits."""
    X = _data(rng, 600, 10, rank=4, noise=0.01)
    whole = pp.PCA("mle", svd_solver="covariance_eigh").fit(X)
    parts = pp.PCA("mle").partial_fit(X[:250]).partial_fit(X[250:])
    assert parts.n_components_ == whole.n_components_ == 4
    _same_fit(parts, whole, np.float64)
    da = pytest.importorskip("dask.array")
    lazy = pp.IncrementalPCA(3, batch_size=40).fit(da.from_array(X, chunks=(97, 10)))
    _same_fit(lazy, pp.IncrementalPCA(3, batch_size=40).fit(X), np.float64)
    assert lazy.n_samples_seen_ == 600 and lazy.batch_size_ == 40
    for solver in ("full", "arpack", "randomized"):
        with pytest.raises(ValueError, match=f"svd_solver='{solver}'.*needs all of X"):
            pp.PCA(3, svd_solver=solver).fit(da.from_array(X, chunks=(97, 10)))
    assert pp.PCA(3).fit(da.from_array(X, chunks=(97, 10)))._fit_svd_solver == \
        "covariance_eigh"
