"""The benchmark machinery (``python -m gradkit bench``): discovery, timing, the derived
figures and the outputs.  These run on tiny fake or scaled-down cases: they check the
pipeline and the arithmetic, never a speed."""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from gradkit.bench import Case, core, report, roofline, runner, timing


def _args(**kw):
    base = dict(quick=False, json=None, plot=None, markdown=None, threads=1, filter=None)
    base.update(kw)
    return argparse.Namespace(**base)


def _busy(seconds):
    def fn():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    return fn


def _fake_cases():
    return [
        Case("fake copy", "4 KiB", _busy(2e-5), bytes=8192, numpy=_busy(4e-5),
             peer=_busy(6e-5), peer_name="fakepeer", quick=True, goal=">=2x fakepeer",
             goal_ratio=2.0, family="fake"),
        Case("fake rng", "1000", _busy(1e-5), bytes=None, numpy=None, peer=None,
             quick=False, family="fake"),
        Case("other op", "8", _busy(1e-5), bytes=64, numpy=_busy(1e-5), peer=None,
             quick=True, goal=">=50% roofline", goal_roofline=0.5, family="other"),
    ]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A full run of the fake cases with every output written: (status, stdout,
    stderr, JSON document, Markdown)."""
    tmp = tmp_path_factory.mktemp("bench")
    paths = {k: str(tmp / f"out.{k}") for k in ("json", "markdown")}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = runner.run(_args(**paths), cases=_fake_cases(), scale=1e-4)
    with open(paths["json"]) as f:
        doc = json.load(f)
    with open(paths["markdown"]) as f:
        md = f.read()
    return status, out.getvalue(), err.getvalue(), doc, md


def test_run_derives_figures_from_the_timings(small_run):
    status, _, _, doc, _ = small_run
    assert status == 0
    roof = doc["roofline"]["roofline_gbs"]
    assert roof == max(doc["roofline"]["scale_gbs"], doc["roofline"]["copy_gbs"]) > 0
    results = {r["op"]: r for r in doc["results"]}
    assert list(results) == ["fake copy", "fake rng", "other op"]

    r = results["fake copy"]
    t = {k: v["median"] for k, v in r["times"].items()}
    assert r["gbs"] == pytest.approx(8192 / t["gradkit"] / 1e9, rel=1e-12)
    assert r["roofline_share"] == pytest.approx(r["gbs"] / roof, rel=1e-12)
    assert r["x_numpy"] == pytest.approx(t["numpy"] / t["gradkit"], rel=1e-12)
    assert r["x_peer"] == pytest.approx(t["peer"] / t["gradkit"], rel=1e-12)
    assert r["goal_met"] == (r["x_peer"] >= 2.0)
    for v in r["times"].values():
        assert v["best"] <= v["median"] and v["rounds"] >= 3 and v["calls"] >= v["rounds"]

    r = results["fake rng"]     # compute-bound, no reference, no peer
    assert r["times"]["numpy"] is None and r["times"]["peer"] is None
    assert r["gbs"] is r["roofline_share"] is r["x_numpy"] is r["x_peer"] is None
    assert r["goal_met"] is None

    r = results["other op"]
    assert r["x_peer"] is None
    assert r["goal_met"] == (r["roofline_share"] >= 0.5)


def test_run_metadata(small_run):
    _, _, _, doc, _ = small_run
    meta = doc["metadata"]
    for key in ("date", "cpu", "cores", "threads", "simd", "gradkit", "numpy", "torch",
                "python"):
        assert key in meta
    assert meta["threads"] == 1 and meta["numpy"] == np.__version__
    assert doc["settings"]["scale"] == 1e-4
    assert doc["roofline"]["threads"] == 1


def test_tables_one_per_family(small_run):
    _, out, err, doc, md = small_run
    assert "== fake ==" in out and "== other ==" in out
    assert "[1/3] fake: fake copy (4 KiB)" in err         # progress on stderr
    assert "### fake" in md and "### other" in md
    assert "not a measurement" in md                       # scaled sizes are flagged
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 3                              # two headers, three cases
    assert all(line.count(" | ") == len(report.COLUMNS) - 1 for line in rows)
    copy = next(line for line in rows if line.startswith("| fake copy"))
    x_peer = next(r["x_peer"] for r in doc["results"] if r["op"] == "fake copy")
    assert f"{x_peer:.2f}x fakepeer" in copy


def test_quick_and_filter_select(tmp_path):
    path = str(tmp_path / "r.json")
    assert runner.run(_args(quick=True, filter="FAKE", json=path), cases=_fake_cases(),
                      scale=1e-4) == 0
    with open(path) as f:
        ops = [r["op"] for r in json.load(f)["results"]]
    assert ops == ["fake copy"]
    assert runner.run(_args(filter="no such op"), cases=_fake_cases(), scale=1e-4) == 1


def test_failing_case_is_reported_and_the_run_goes_on(tmp_path, capsys):
    def broken():
        raise RuntimeError("kernel exploded")
    cases = [Case("broken op", "1", broken, quick=True, family="fake"),
             _fake_cases()[0]]
    path = str(tmp_path / "r.json")
    assert runner.run(_args(quick=True, json=path), cases=cases, scale=1e-4) == 1
    with open(path) as f:
        results = json.load(f)["results"]
    assert "kernel exploded" in results[0]["error"]
    assert results[1]["error"] is None and results[1]["x_peer"] > 0
    assert "kernel exploded" in capsys.readouterr().err


def test_plot_without_matplotlib_fails_only_that_part(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    paths = {"json": str(tmp_path / "r.json"), "plot": str(tmp_path / "r.png")}
    assert runner.run(_args(quick=True, **paths), cases=_fake_cases(), scale=1e-4) == 1
    assert os.path.exists(paths["json"]) and not os.path.exists(paths["plot"])
    assert "needs matplotlib" in capsys.readouterr().err


def test_plot_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    path = str(tmp_path / "r.png")
    assert runner.run(_args(quick=True, plot=path), cases=_fake_cases(), scale=1e-4) == 0
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_goal_met():
    case = Case("op", "1", lambda: None, goal_ratio=5.0, goal_roofline=0.7)
    assert runner.goal_met(6.0, 0.8, case) is True
    assert runner.goal_met(4.0, 0.8, case) is False
    assert runner.goal_met(6.0, 0.6, case) is False
    assert runner.goal_met(None, 0.8, case) is None        # peer not installed
    assert runner.goal_met(6.0, 0.8, Case("op", "1", lambda: None)) is None


def test_measure_interleaves_and_counts(monkeypatch):
    """On a fake clock (each call of "a" takes 0.1 ms, of "b" 0.2 ms), so the rounds and
    batch sizes are exact whatever the load of the machine running the test."""
    now = [0.0]
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    counts = {"a": 0, "b": 0}
    order = []

    def make(name, seconds):
        def fn():
            counts[name] += 1
            now[0] += seconds
            if not order or order[-1] != name:
                order.append(name)
        return fn
    res = timing.measure({"a": make("a", 1e-4), "b": make("b", 2e-4)}, budget=0.01,
                         min_rounds=4)
    for name, seconds in (("a", 1e-4), ("b", 2e-4)):
        r = res[name]
        assert r["rounds"] == 4                 # min_rounds, the budget being spent by then
        assert r["best"] == pytest.approx(seconds) and r["median"] == pytest.approx(seconds)
        batch, rest = divmod(r["calls"], 4)      # batches last BATCH_SECONDS (+- a call)
        assert rest == 0 and abs(batch - timing.BATCH_SECONDS / seconds) <= 1
        assert counts[name] > r["calls"]                   # plus the warm-up calls
    assert order[-8:] == ["a", "b"] * 4                    # batches take turns


def test_threads_are_set_and_restored():
    import gradkit
    torch = core.try_import_torch()
    before = gradkit.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else None
    with runner.same_threads(1, torch):
        assert gradkit.get_num_threads() == 1
        if torch is not None:
            assert torch.get_num_threads() == 1
    assert gradkit.get_num_threads() == before
    if torch is not None:
        assert torch.get_num_threads() == torch_before


def test_discover_reports_broken_modules(monkeypatch):
    fake = types.ModuleType("gradkit.bench.cases_zzbroken")

    def cases():
        raise ValueError("cannot build")
    fake.cases = cases
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    real = runner.pkgutil.iter_modules

    def iter_modules(path):
        yield from real(path)
        yield types.SimpleNamespace(name="cases_zzbroken")
    monkeypatch.setattr(runner.pkgutil, "iter_modules", iter_modules)
    monkeypatch.setattr(core, "_scale_override", 1e-3)
    found, errors = runner.discover()
    assert [e["family"] for e in errors] == ["zzbroken"]
    assert "cannot build" in errors[0]["error"]
    assert any(c.family == "norm" for c in found)


def test_norm_cases_build_and_run(monkeypatch):
    """Each norm case's callables run (one call each) at a tiny scale."""
    monkeypatch.setattr(core, "_scale_override", 1e-3)
    from gradkit.bench import cases_norm
    found = cases_norm.cases()
    assert {c.op for c in found} == {
        "layer_norm forward", "layer_norm forward+backward", "rms_norm forward",
        "rms_norm forward+backward", "layer_norm forward (per-call overhead)"}
    for c in found:
        rows, cols = (int(s) for s in c.size.split()[0].split("x"))
        per_element = 20 if "backward" in c.op else 8
        assert c.bytes == per_element * rows * cols
        assert c.goal_ratio is not None
        for fn in (c.gradkit, c.numpy, c.peer):
            if fn is not None:
                fn()
    assert next(c for c in found if c.op == "layer_norm forward").size == "8x1024 f32"


def test_peer_backward_matches_gradkit(monkeypatch):
    """The torch forward+backward callables compute the same gradients as gradkit's
    (so the comparison is of like with like)."""
    pytest.importorskip("torch")
    monkeypatch.setattr(core, "_scale_override", 1e-3)
    from gradkit.bench import cases_norm
    for c in cases_norm.cases():
        if "backward" in c.op:
            mine = c.gradkit()
            theirs = [t.numpy() for t in c.peer()]
            for a, b in zip(mine, theirs):
                np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)


def test_roofline_probe_small():
    p = roofline.probe(scale=1e-4, reps=2)
    assert p["roofline_gbs"] == max(p["scale_gbs"], p["copy_gbs"]) > 0
    assert p["array_bytes"] >= 8 * 1024


def test_probe_clock_resolves_tiny_runs():
    """The probe times with a monotonic wall clock in every build (without OpenMP it used
    clock(), whose coarse ticks gave 0 s and a ZeroDivisionError)."""
    from gradkit._ext import runtime
    a, b = np.zeros(1024), np.zeros(1024)
    for seconds in (runtime.stream_scale(a, 3), runtime.stream_copy(a, b, 3)):
        assert 0 < seconds < 1


def test_runs_on_one_thread_without_openmp(tmp_path):
    """--threads 2 on a build without OpenMP runs (and reports) one thread, silently."""
    import gradkit
    import warnings
    path = str(tmp_path / "r.json")
    err = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("error")
        assert runner.run(_args(quick=True, threads=2, json=path), cases=_fake_cases(),
                          scale=1e-4) == 0
    with open(path) as f:
        doc = json.load(f)
    openmp = gradkit.show_config()["openmp"]
    assert doc["metadata"]["threads"] == doc["roofline"]["threads"] == (2 if openmp else 1)
    assert ("built without OpenMP" in err.getvalue()) == (not openmp)


def test_package_layout():
    """bench.main is the runner; core (imported by every cases module) does not import
    the runner back; shipped code carries no planning notes."""
    import ast
    import gradkit.bench
    assert gradkit.bench.main is runner.run
    tree = ast.parse(open(core.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names}
    assert not {m for m in imported if m and "runner" in m}
    folder = os.path.dirname(core.__file__)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name)) as f:
                assert "issue" not in f.read().lower(), name


def test_parse_cache_size():
    assert roofline._parse_size("32768K") == 32 << 20
    assert roofline._parse_size("32 MiB") == 32 << 20
    assert roofline._parse_size("nonsense") is None


def test_command_line_quick_run(tmp_path):
    """``python -m gradkit bench --quick --filter layer_norm --json f`` end to end, on
    shrunken sizes."""
    path = tmp_path / "r.json"
    env = dict(os.environ, GRADKIT_BENCH_SCALE="0.005")
    proc = subprocess.run(
        [sys.executable, "-m", "gradkit", "bench", "--quick", "--filter", "layer_norm",
         "--threads", "1", "--json", str(path)],
        capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(path.read_text())
    ops = [r["op"] for r in doc["results"]]
    assert ops and all("layer_norm" in op for op in ops)
    assert all(r["quick"] and r["error"] is None for r in doc["results"])
    assert "== norm ==" in proc.stdout and "[1/" in proc.stderr


def test_bad_thread_count():
    assert runner.run(_args(threads=0), cases=_fake_cases(), scale=1e-4) == 2
