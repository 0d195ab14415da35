"""Dask glue of gradkit.preprocessing: lazy input checks, the tree reduction of
per-block statistics, lazy transforms.

Imported only when a dask array is passed (gradkit imports without dask;
``preprocessing._is_dask`` recognizes a dask array without importing it).  gradkit
writes no scheduler: the reduction is a graph of ordinary tasks that runs on whatever
dask runs (the threaded scheduler, or a ``dask.distributed`` client's cluster).

* Fitting: each row block is reduced to :class:`~gradkit.preprocessing.Moments` or
  :class:`~gradkit.preprocessing.Scatter` by gradkit's compiled kernels where the block
  lives; the statistics (O(d^2) bytes each, never the data) are merged by Chan's update
  in a tree, ``SPLIT_EVERY`` at a node, as ``dask.array.reduction`` combines; one
  object comes back.  The tree depends on the blocks only, so the result is bitwise the
  same on any scheduler and any number of workers.  The array is never materialized.
* Transforming: ``map_blocks`` of the fitted estimator (one key of the graph) over row
  blocks: lazy.
* A block must hold whole rows (the statistics of a row need all its columns): an
  array chunked along its columns is rechunked to whole rows, its row chunks chosen by
  dask's ``"auto"`` rule (``array.chunk-size``, 128 MiB by default), so a block stays
  as small as dask's own default.  When its row chunks are unknown (NaN, e.g. after
  boolean indexing) that cannot be planned: ValueError.
"""
import functools
import math

import dask
import numpy as np

from . import _validation as _v

# Statistics merged at each node of the reduction tree (dask.array.reduction's
# split_every; its default is 4).  A merge costs O(d^2), nothing next to a block's
# O(rows d^2) syrk, so a wider node just means fewer tasks and levels; a node still
# holds at most this many d x d matrices.
SPLIT_EVERY = 8


def as_rows(X, who, name="X", min_samples=1):
    """X (a dask array) checked lazily: 2-D, a known number of columns, a real dtype
    (float32/float64 kept, others cast lazily to float64, as ``as_2d_float``), blocks
    of whole rows (rechunked when chunked along the columns).  ``min_samples`` is
    checked when the row count is known; otherwise by the caller after the reduction."""
    _v.check_2d_shape(X.shape, who, name, min_samples)
    if math.isnan(X.shape[1]):
        raise ValueError(f"{name} has an unknown number of columns; call "
                         f"{name}.compute_chunk_sizes() first")
    target = _v.estimator_dtype(X.dtype, name)
    if X.dtype != target:
        X = X.astype(target)
    if len(X.chunks[1]) > 1:
        if any(math.isnan(c) for c in X.chunks[0]):
            raise ValueError(
                f"{name} is chunked along its columns ({len(X.chunks[1])} column chunks) "
                "and its row chunks are unknown, so it cannot be rechunked to whole rows; "
                f"call {name}.compute_chunk_sizes() or {name}.rechunk({{1: -1}}) first")
        X = X.rechunk({0: "auto", 1: -1})
    return X


def _merge_all(*parts):
    return functools.reduce(lambda a, b: a.merge(b), parts)


def reduce_stats(X, cls, split_every=SPLIT_EVERY):
    """`cls` statistics (Moments or Scatter) of the rows of X (from ``as_rows``): one
    ``cls.from_array`` task per block, merged ``split_every`` at a time up a tree, one
    ``dask.compute`` on the current scheduler."""
    parts = [dask.delayed(cls.from_array, pure=True)(block)
             for block in X.to_delayed().ravel()]
    while len(parts) > 1:
        parts = [dask.delayed(_merge_all, pure=True)(*parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    (stats,) = dask.compute(parts[0])
    return stats


def _apply(block, est, method, kwargs):
    return getattr(est, method)(block, **kwargs)


def map_rows(X, est, method, width, kwargs):
    """Lazy ``est.method(block, **kwargs)`` over the row blocks of X (from ``as_rows``):
    X's dtype and row chunks, `width` columns.  `est` is the caller's snapshot; its
    feature names are dropped (they were compared once, on X) so that blocks, plain
    arrays, do not warn about them.  It enters the graph once, as one key every block
    task depends on (a fitted PCA pickles to 0.7 MB at 256 features: embedded in each
    task it was sent with every block; as a key it goes to each worker once)."""
    est.__dict__.pop("feature_names_in_", None)
    est = dask.delayed(est, pure=True)
    return X.map_blocks(_apply, est, method, kwargs, dtype=X.dtype,
                        chunks=(X.chunks[0], (width,)),
                        meta=np.empty((0, width), X.dtype),
                        token=f"{type(est).__name__.lower()}-{method.replace('_', '-')}")
