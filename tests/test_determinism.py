"""Bitwise determinism across kernel tables and thread counts, for every family.

The table of cases lives in tests/_harness.py (one entry per kernel-backed public
function and variant, float32 and float64).  The whole table runs once per
configuration -- each GRADKIT_SIMD table this CPU can run x 1..4 threads -- and every
case must hash the same in every configuration.  One fresh process per table (the table
is chosen once per process) runs the table at each thread count in turn (gradkit's
count and the BLAS's, so that BLAS-backed functions see the same count).  Each case is
its own test item; the runs happen once per session.
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import gradkit

import _harness

THREADS = (1, 2, 3, 4)
OPENMP = gradkit.show_config()["openmp"]
SCRIPT = Path(_harness.__file__)
# Variables that would pin the BLAS thread count whatever the harness asks for.
_PINNING = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "OMP_THREAD_LIMIT", "OMP_DYNAMIC",
            "OMP_NUM_THREADS")


def _env(simd):
    env = {k: v for k, v in os.environ.items() if k not in _PINNING}
    # passive: 3 and 4 threads on a 2-core runner must not spin against each other
    # (it changes the waiting, not the work's partition)
    env.update(GRADKIT_SIMD=simd, OMP_WAIT_POLICY="passive")
    return env


def _run(simd):
    """{(simd, threads): {case id: hash}} for one table; {} when this CPU cannot run it
    (GRADKIT_SIMD fell back to another table)."""
    proc = subprocess.run([sys.executable, str(SCRIPT), ",".join(map(str, THREADS))],
                          env=_env(simd), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{simd}:\n{proc.stderr}"
    result = json.loads(proc.stdout)
    if result["runs"] is None:
        assert result["simd"] != simd, result
        return {}
    assert result["simd"] == simd, result
    out = {}
    for n in THREADS:
        run = result["runs"][str(n)]
        assert run["threads"] == (n if OPENMP else 1), (simd, n, run["threads"])
        out[(simd, n)] = run["hashes"]
    return out


@pytest.fixture(scope="session")
def configurations():
    """{(simd, threads): {case id: hash}} for every kernel table this CPU can run."""
    tables = gradkit.show_config()["simd_compiled"]
    with ThreadPoolExecutor(len(tables)) as pool:   # the runs themselves use the cores
        configs = {k: v for found in pool.map(_run, tables) for k, v in found.items()}
    assert configs, "no kernel table runs on this CPU"
    return configs


@pytest.mark.parametrize("cid", list(_harness.CASES))
def test_bitwise_identical_across_tables_and_threads(cid, configurations):
    apart = cid.startswith(_harness.FMA_TABLES_ONLY)
    groups = {}   # the configurations that must agree: all, or (apart) baseline and not
    for (simd, n), hashes in configurations.items():
        by_hash = groups.setdefault(apart and simd == "baseline", {})
        by_hash.setdefault(hashes[cid], []).append(f"{simd}/{n}t")
    for by_hash in groups.values():
        errors = [h for h in by_hash if h.startswith("raised")]
        assert not errors, f"{cid}: {errors[0]} (in {by_hash[errors[0]]})"
        assert len(by_hash) == 1, (f"{cid} differs between configurations: " + "; ".join(
            f"{h[:12]} in {', '.join(c)}" for h, c in by_hash.items()))


def test_every_family_is_covered():
    """A family left out of the table would go unchecked silently."""
    families = {"norm", "random", "dropout", "init", "optim", "optim.functional", "clip",
                "amp", "regularization", "losses", "gradcheck", "quant", "preprocessing"}
    covered = {c.split(".")[0] for c in _harness.CASES} | {
        "optim.functional" for c in _harness.CASES if c.startswith("optim.functional.")}
    assert families <= covered, families - covered
