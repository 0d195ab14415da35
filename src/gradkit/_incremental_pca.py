r"""IncrementalPCA (scikit-learn 1.9's API) on gradkit's exact mergeable statistics.

scikit-learn's IncrementalPCA updates a truncated SVD batch by batch (Ross et al.), which
is exact only while every direction is kept (n_components == n_features); with fewer
components the discarded directions of earlier batches are lost.  Here every batch is
reduced to a :class:`~gradkit.preprocessing.Scatter` (count, mean, centred scatter)
merged by Chan's update, and the model is the covariance eigen-decomposition of all
the rows seen: ``IncrementalPCA`` equals ``PCA(svd_solver='covariance_eigh')`` on the
concatenation of the batches, up to round-off, whatever the batches.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _pca
from . import _validation as _v
from .preprocessing import PCA, Scatter, _atomic, _single_blas

__all__ = ["IncrementalPCA"]


class IncrementalPCA(PCA):
    r"""Incremental principal component analysis (scikit-learn 1.9's
    ``IncrementalPCA``), exact: the model of all rows seen.

    ``fit`` and ``partial_fit`` merge the statistics of their rows (count, mean,
    centred scatter :math:`\sum_i (x_i-\mu)(x_i-\mu)^T`, float64, Chan's update) and
    decompose the covariance :math:`S/(n-1) = V\Lambda V^T` of everything seen, so the
    fitted attributes equal :class:`PCA`'s (``svd_solver='covariance_eigh'``) on the
    concatenated batches up to round-off.  scikit-learn's incremental SVD is exact
    only when ``n_components == n_features``; with fewer components its results drift
    from PCA's, gradkit's do not.  The transform, inverse, whitening, sign convention,
    ``get_covariance`` / ``get_precision`` / ``score_samples`` / ``score`` are
    :class:`PCA`'s.

    Parameters
    ----------
    n_components : int >= 1 or None
        Components kept; None: ``min(n_samples, n_features)`` of the first batch
        (``partial_fit``) or of the first ``batch_size_`` rows (``fit``), then fixed.
    whiten : bool, default False
        Scale the projections to unit variance.
    copy : bool, default True
        Accepted for compatibility: X is never modified (the statistics are formed
        from centred chunks in a buffer).
    batch_size : int >= 1 or None
        Rows per batch of ``fit`` (None: ``5 * n_features``).  ``fit`` of an in-memory
        dense X reduces all of it in one read (the same statistics as batch by batch,
        up to round-off, in parallel); a sparse X is densified one batch at a time.

    Attributes
    ----------
    components_, explained_variance_, explained_variance_ratio_, singular_values_,
    mean_, noise_variance_, n_components_, n_features_in_, feature_names_in_
        As in :class:`PCA`, for all rows seen (``noise_variance_``: the mean of the
        discarded eigenvalues, exact; scikit-learn's sums only those its truncated
        SVD still holds).
    var_ : (n_features,) float64
        Per-feature variance (ddof=0) of all rows seen.  ``mean_`` and ``var_`` are
        float64 whatever X's dtype, as scikit-learn's.
    n_samples_seen_ : int
    batch_size_ : int
        The batch size ``fit`` used.
    """

    _fitted_attr = "components_"

    def __init__(self, n_components: Optional[int] = None, *, whiten: bool = False,
                 copy: bool = True, batch_size: Optional[int] = None) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.copy = copy
        self.batch_size = batch_size

    def _takes_sparse(self):
        return True   # fit does; partial_fit refuses sparse input (scikit-learn's tags)

    def _check_params(self):
        _v.flag(self.whiten, "whiten")
        _v.flag(self.copy, "copy")
        if self.n_components is not None:
            _v.positive_int(self.n_components, "n_components")
        if self.batch_size is not None:
            _v.positive_int(self.batch_size, "batch_size")

    def _reset(self):
        super()._reset()
        for a in ("n_components_", "n_samples_seen_", "var_"):
            if hasattr(self, a):
                delattr(self, a)

    @_single_blas
    @_atomic
    def fit(self, X: Any, y: Any = None) -> IncrementalPCA:
        """Fit the model with X, in ``batch_size_`` batches: the batches fix
        ``n_components_`` (None: the first batch's ``min(rows, n_features)``) and the
        checks of scikit-learn; the statistics of all rows are merged exactly."""
        self._check_params()
        self._reset()
        X = self._validate(X, reset=True, accept_sparse=True)
        d = X.shape[1]
        self.batch_size_ = 5 * d if self.batch_size is None else int(self.batch_size)
        stats: Optional[Scatter] = None
        if _v.is_sparse(X):
            for rows in _pca.batches(X.shape[0], self.batch_size_, self.n_components or 0):
                part = Scatter.from_array(X[rows].toarray())
                stats = part if stats is None else stats.merge(part)
        else:
            stats = self._stats_of(Scatter, X)
        assert stats is not None   # X has at least one row (validated)
        first = next(_pca.batches(stats.n, self.batch_size_, self.n_components or 0))
        self._set_n_components(first.stop, d, first=True)
        self._stats = stats
        self._from_stats(stats.dtype)
        return self

    @_single_blas
    @_atomic
    def partial_fit(self, X: Any, y: Any = None, check_input: bool = True
                    ) -> IncrementalPCA:
        """Merge X's statistics into those of the rows seen and refit (all of X is one
        batch).  ``check_input`` is accepted for compatibility (X is checked either
        way: the kernels need a finite float array, at no copy for one).  Raises as
        scikit-learn: sparse X (TypeError), n_components above n_features or (first
        call) above X's rows, n_components changed between calls (ValueError)."""
        self._check_params()
        if _v.is_sparse(X):
            raise TypeError("IncrementalPCA.partial_fit does not support sparse input. "
                            "Either convert data to dense or use IncrementalPCA.fit to "
                            "do so in batches.")
        first = getattr(self, "_stats", None) is None
        batch = self._batch_stats(Scatter, X, reset=first)
        self._set_n_components(batch.n, batch.n_features, first)
        self._stats = batch if first else self._stats.merge(batch)
        self._from_stats(batch.dtype)
        return self

    @_single_blas
    @_atomic
    def fit_stats(self, stats: Scatter) -> IncrementalPCA:
        """Fit from a :class:`Scatter` reduced elsewhere, as one batch (``partial_fit``
        of the rows it describes on an unfitted estimator)."""
        self._check_params()
        if not isinstance(stats, Scatter):
            raise TypeError(f"stats must be a Scatter, got {type(stats).__name__}")
        self._reset()
        self.n_features_in_ = stats.n_features
        self._set_n_components(stats.n, stats.n_features, first=True)
        self._stats = stats
        self._from_stats(stats.dtype)
        return self

    def _set_n_components(self, rows, d, first):
        """n_components_ for a batch of `rows` rows, with scikit-learn's errors."""
        k = self.n_components
        if k is None:
            k = min(rows, d) if first else self.n_components_
        elif k > d:
            raise ValueError(f"n_components={k!r} invalid for n_features={d}, need more "
                             "rows than columns for IncrementalPCA processing")
        elif k > rows and first:
            raise ValueError(f"n_components={k} must be less or equal to the batch "
                             f"number of samples {rows} for the first partial_fit call.")
        if not first and k != self.n_components_:
            raise ValueError(f"Number of input features has changed from "
                             f"{self.n_components_} to {k} between calls to partial_fit! "
                             "Try setting n_components to a fixed value.")
        self.n_components_ = int(k)

    def _from_stats(self, dtype, n_components=None):
        """The attributes of all rows seen; the decomposition once 2 rows are in."""
        st = self._stats
        self.n_samples_seen_ = np.int64(st.n)
        self.var_ = np.diag(st._lower) / st.n   # float64, as scikit-learn's
        if st.n >= 2:
            super()._from_stats(dtype, self.n_components_)
            self.mean_ = self._mean.copy()      # float64, as scikit-learn's

    def fit_transform(self, X: Any, y: Any = None) -> Any:  # type: ignore[override]
        """Fit, then project X."""
        return self.fit(X).transform(X)
