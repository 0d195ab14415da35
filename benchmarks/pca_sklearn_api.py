"""Short timings of the PCA/IncrementalPCA additions against scikit-learn (best of
`reps`): python benchmarks/pca_sklearn_api.py ipca arpack mle score"""
import sys, time
import numpy as np
import threadpoolctl
from gradkit import preprocessing as pp, _pca
import sklearn.decomposition as skd
from sklearn.decomposition._pca import _infer_dimension

def best(f, reps=3):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return min(t)

rng = np.random.default_rng(0)
which = sys.argv[1:]
with threadpoolctl.threadpool_limits(1, "blas"):
    if "ipca" in which:
        n, d, k = 100_000, 256, 32
        X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.1 * rng.standard_normal((d, d)))
        a = best(lambda: pp.IncrementalPCA(k).fit(X), 3)
        b = best(lambda: skd.IncrementalPCA(k).fit(X), 1)
        print(f"IncrementalPCA({k}).fit {n}x{d} f64: gradkit {a*1e3:.0f} ms, sklearn {b*1e3:.0f} ms, {b/a:.1f}x")
    if "arpack" in which:
        n, d, k = 20_000, 512, 10
        X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.1 * rng.standard_normal((d, d)))
        a = best(lambda: pp.PCA(k, svd_solver="arpack", random_state=0).fit(X))
        b = best(lambda: skd.PCA(k, svd_solver="arpack", random_state=0).fit(X))
        print(f"PCA({k}, arpack).fit {n}x{d} f64: gradkit {a*1e3:.0f} ms, sklearn {b*1e3:.0f} ms, {b/a:.2f}x")
    if "mle" in which:
        for d in (100, 300):
            s = np.sort(rng.exponential(size=d))[::-1]
            a = best(lambda: _pca.infer_dimension(s, 10 * d))
            b = best(lambda: _infer_dimension(s, 10 * d), 1)
            print(f"mle dimension d={d}: gradkit {a*1e3:.1f} ms, sklearn {b*1e3:.0f} ms, {b/a:.0f}x")
    if "score" in which:
        n, d, k = 100_000, 128, 16
        X = rng.standard_normal((n, d))
        p, q = pp.PCA(k).fit(X), skd.PCA(k).fit(X)
        a = best(lambda: p.score_samples(X)); b = best(lambda: q.score_samples(X))
        print(f"score_samples {n}x{d} k={k}: gradkit {a*1e3:.0f} ms, sklearn {b*1e3:.0f} ms, {b/a:.2f}x")
