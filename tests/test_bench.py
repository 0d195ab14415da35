"""The benchmark machinery (``python -m gradkit bench``): discovery, timing, the derived
figures and the outputs.  These run on tiny fake or scaled-down cases: they check the
pipeline and the arithmetic, never a speed."""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import gradkit
from gradkit.bench import Case, core, report, roofline, runner, timing


def _args(**kw):
    base = dict(quick=False, json=None, plot=None, markdown=None, threads=1, filter=None,
                sweep=False, sizes=None)
    base.update(kw)
    return argparse.Namespace(**base)


def _busy(seconds):
    def fn():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    return fn


def _fake_cases():
    peer = _busy(6e-5)
    return [
        Case("fake copy", "4 KiB", _busy(2e-5), bytes=8192, numpy=_busy(4e-5),
             peer=_busy(6e-5), peer_name="fakepeer", quick=True, goal=">=2x fakepeer",
             goal_ratio=2.0, goal_limit=0.5, family="fake", limit=_busy(1.5e-5),
             gradkit_out=_busy(1.8e-5), peer_warm=_busy(5e-5)),
        Case("fake rng", "1000", _busy(1e-5), bytes=None, numpy=None, peer=None,
             quick=False, family="fake"),
        Case("other op", "8", _busy(1e-5), bytes=64, numpy=_busy(1e-5), peer=peer,
             peer_warm=peer, quick=True, goal=">=50% of limit", goal_limit=0.5,
             family="other", limit=_busy(2e-5), goal_time=1.0,
             unfused=_busy(3e-5), goal_unfused=1.2),
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
    t = {k: v["median"] for k, v in r["times"].items() if v}
    assert set(t) == {"gradkit", "gradkit_out", "limit", "limit_walk", "limit_phased",
                      "numpy", "peer", "peer_warm"}
    # the limit is the faster of the probe's two schedules, both timed in the same call
    assert t["limit"] == min(t["limit_walk"], t["limit_phased"])
    assert r["times"]["limit"] == r["times"][r["limit_schedule"]]
    assert r["gbs"] == pytest.approx(8192 / t["gradkit"] / 1e9, rel=1e-12)
    assert r["limit_share"] == pytest.approx(t["limit"] / t["gradkit"], rel=1e-12)
    assert r["limit_share_out"] == pytest.approx(t["limit"] / t["gradkit_out"], rel=1e-12)
    assert r["x_numpy"] == pytest.approx(t["numpy"] / t["gradkit"], rel=1e-12)
    assert r["x_peer"] == pytest.approx(t["peer"] / t["gradkit"], rel=1e-12)
    # the warm peer against gradkit with out=, both from the same measure call
    assert r["x_peer_warm"] == pytest.approx(t["peer_warm"] / t["gradkit_out"], rel=1e-12)
    assert r["warm_how"] == "out="
    assert r["goal_met"] == (r["x_peer_warm"] >= 2.0
                             and min(r["limit_share"], r["limit_share_out"]) >= 0.5)
    for v in r["times"].values():
        if v:
            assert v["best"] <= v["median"] and v["rounds"] >= 3 and v["calls"] >= v["rounds"]
    assert set(r["faults"]) == {"gradkit", "gradkit_out", "peer"}

    r = results["fake rng"]     # compute-bound, no reference, no peer, no limit
    assert r["times"]["numpy"] is None and r["times"]["peer"] is None
    assert r["gbs"] is r["limit_share"] is r["x_numpy"] is r["x_peer"] is None
    assert r["x_peer_warm"] is None and r["goal_met"] is None and r["x_unfused"] is None

    r = results["other op"]     # a peer that works in place is its own warm peer
    assert r["times"]["peer_warm"] is None and r["warm_how"] == "in place"
    assert r["x_peer_warm"] == pytest.approx(r["x_peer"], rel=1e-12)
    assert r["limit_share_out"] is None
    # a fusion against its unfused gradkit sequence, timed in the same measure call
    assert r["x_unfused"] == pytest.approx(r["times"]["unfused"]["median"]
                                           / r["times"]["gradkit"]["median"], rel=1e-12)
    assert r["goal_met"] == (r["limit_share"] >= 0.5 and r["x_unfused"] >= 1.2)


def test_run_metadata(small_run):
    _, _, _, doc, _ = small_run
    meta = doc["metadata"]
    for key in ("date", "cpu", "cores", "threads", "simd", "simd_tables", "gradkit",
                "numpy", "torch", "sklearn", "scipy", "python", "compiler", "libc"):
        assert key in meta
    assert meta["threads"] == 1 and meta["numpy"] == np.__version__
    assert doc["settings"]["scale"] == 1e-4
    assert doc["roofline"]["threads"] == 1
    assert doc["sweep"] is None


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
    r = next(r for r in doc["results"] if r["op"] == "fake copy")
    assert f"{r['x_peer']:.2f}x fakepeer" in copy
    assert f"{r['x_peer_warm']:.2f}x (out=)" in copy
    assert f"{100 * r['limit_share']:.0f}%" in copy
    rng = next(line for line in rows if line.startswith("| fake rng"))
    assert "| no torch |" in rng                                 # says the peer is absent
    assert "STREAM roofline (information, not scored)" in md


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
    def result(**kw):
        base = dict(goal_ratio=1.5, goal_limit=0.85, goal_time=None, x_peer_warm=2.0,
                    limit_share=0.9, limit_share_out=0.95, times={})
        base.update(kw)
        return base
    assert runner.goal_met(result()) is True
    assert runner.goal_met(result(x_peer_warm=1.4)) is False
    assert runner.goal_met(result(limit_share=0.8)) is False     # the worse share counts
    assert runner.goal_met(result(limit_share_out=None)) is True
    assert runner.goal_met(result(x_peer_warm=None)) is None     # no torch, no warm run
    assert runner.goal_met(result(goal_ratio=None, goal_limit=None)) is None
    t = {"gradkit": {"median": 1e-6}, "gradkit_out": {"median": 3e-6}}
    assert runner.goal_met(result(goal_ratio=None, goal_limit=None, goal_time=2e-6,
                                  times=t)) is False


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


def test_measure_scrubs_before_every_batch(monkeypatch):
    """``between`` runs before each batch and each warm-up, never inside the timing (a
    scrub that advances the fake clock would show in the per-call times)."""
    now = [0.0]
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    log = []

    def fn():
        log.append("call")
        now[0] += 1e-3

    def scrub():
        log.append("scrub")
        now[0] += 5.0          # far longer than any call: must not be timed
    res = timing.measure({"a": fn, "b": fn}, budget=0.001, min_rounds=3, between=scrub)
    for r in res.values():
        assert r["median"] == pytest.approx(1e-3) and r["rounds"] == 3
        assert r["calls"] == 3                  # one call per batch, right after a scrub
    assert log.count("scrub") == 2 + 2 * 3      # two warm-ups, three batches each
    res = timing.measure({"a": fn}, budget=10.0, min_rounds=3, between=scrub)
    assert res["a"]["rounds"] == timing.SCRUBBED_ROUNDS    # not 10 s of 1 ms calls
    runs = " ".join(log).split("scrub")          # every run of calls follows a scrub
    assert runs[0] == "" and all(r.strip() for r in runs[1:])


def test_scrub_only_past_the_stream_threshold():
    """Cases moving at least the streaming threshold's bytes get the cache scrub (a
    read of twice the last-level cache, at least 8 times the threshold); cases in cache
    and compute-bound ones (no bytes) do not."""
    import gradkit
    previous = gradkit.set_stream_threshold(1 << 20)
    try:
        def case(nbytes):
            return Case("op", "1", lambda: None, bytes=nbytes)
        assert runner.scrub_for(case(None)) is None
        assert runner.scrub_for(case((1 << 20) - 1)) is None
        scrub = runner.scrub_for(case(1 << 20))
        scrub()
        want = max(2 * gradkit.show_config()["llc_bytes"], 8 << 20)
        assert core._SCRUB[0].nbytes == want and (core._SCRUB[0] == 1).all()
    finally:
        gradkit.set_stream_threshold(previous)
        core._SCRUB.clear()


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


def _run_every_callable(case):
    for name in ("gradkit", "gradkit_out", "limit", "numpy", "peer", "peer_warm"):
        fn = getattr(case, name)
        if fn is not None:
            fn()


def test_every_case_builds_and_runs(monkeypatch):
    """Every case of every module (the table's and a small sweep point) runs each of
    its callables once at a tiny scale; memory-bound cases carry a limit."""
    monkeypatch.setattr(core, "_scale_override", 1e-3)
    for n in (None, 3000):
        found, errors = runner.discover(n)
        assert not errors, errors
        assert found
        for c in found:
            if c.goal_limit is not None:
                assert c.limit is not None, c.op
            if n is not None:
                assert c.limit is not None and c.elements and c.elements <= 2 * n, c.op
            _run_every_callable(c)
    ops = {(c.family, c.op) for c in runner.discover()[0]}
    for family, op in [("norm", "layer_norm backward"), ("norm", "rms_norm forward+backward"),
                       ("batch_norm", "batch_norm backward (N,C,*)"),
                       ("dropout", "dropout backward (from seed)"),
                       ("dropout", "drop_path forward"), ("optim", "LARS step"),
                       ("clip", "clip_grad_value_"), ("clip", "LossScaler.unscale_"),
                       ("regularization", "add_l1_grad_"), ("init", "init orthogonal"),
                       ("preprocessing", "Whitener(method='zca').fit_transform"),
                       ("batch_norm16", "batch_norm forward+backward (N,C) bf16"),
                       ("batch_norm16", "batch_norm forward (N,C,*) f16"),
                       ("fused16", "add_dropout_layer_norm forward+backward bf16"),
                       ("fused16", "add_dropout_rms_norm forward f16"),
                       ("lamb_adafactor16", "LAMB step bf16"),
                       ("lamb_adafactor16", "Adafactor step bf16 master")]:
        assert (family, op) in ops


def test_cases_without_torch(monkeypatch, tmp_path, capsys):
    """Without torch the cases still build and run, and the table says "no torch"."""
    monkeypatch.setattr(core, "try_import_torch", lambda: None)
    for module in ("cases_norm", "cases_optim", "cases_dropout", "cases_clip", "cases_init",
                   "cases_batch_norm", "cases_losses", "cases_regularization"):
        monkeypatch.setattr(f"gradkit.bench.{module}.try_import_torch", lambda: None)
    from gradkit.bench import cases_norm
    monkeypatch.setattr(core, "_scale_override", 1e-3)
    found = [c for c in cases_norm.cases() if c.op == "rms_norm forward"]
    assert found[0].peer is None
    path = str(tmp_path / "r.md")
    assert runner.run(_args(markdown=path), cases=found, scale=1e-3) == 0
    row = next(line for line in open(path) if line.startswith("| rms_norm forward"))
    assert row.count("no torch") == 2                      # peer and warm peer columns


def test_peer_backward_matches_gradkit(monkeypatch):
    """The torch backward and forward+backward callables compute the same gradients as
    gradkit's (so the comparison is of like with like)."""
    pytest.importorskip("torch")
    monkeypatch.setattr(core, "_scale_override", 1e-3)
    from gradkit.bench import cases_batch_norm, cases_batch_norm16, cases_norm
    for c in cases_norm.cases() + cases_batch_norm.cases():
        if "backward" in c.op:
            mine = c.gradkit()
            theirs = [t.detach().numpy() for t in c.peer()]
            for a, b in zip(mine, theirs):
                np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)
    for c in cases_batch_norm16.cases():   # 16-bit dx (float32 dweight, dbias)
        if "backward" in c.op:
            mine = c.gradkit()
            theirs = [t.detach().float().numpy() for t in c.peer()]
            for a, b in zip(mine, theirs):
                np.testing.assert_allclose(a.astype(np.float32), b, rtol=2e-2, atol=3e-2)


@pytest.mark.parametrize("schedule", [0, 1])
def test_probe_streams_writes_the_or_of_its_reads(schedule):
    """gk_probe_streams moves its streams: each written byte holds every bit of the
    corresponding read bytes (the OR of equal-length streams: exactly, for constant
    streams), in place too; streams of other lengths are written whole -- in both
    schedules (the walk, and phased: each step's inputs read first)."""
    from gradkit._ext import runtime

    def probe(reads, writes, work, store=-1):
        return runtime.probe_streams(reads, writes, work, store, schedule)
    n = 100_003                                     # not a whole number of vectors
    a = np.full(n, 0x11, np.uint8)
    b = np.full(n, 0x24, np.uint8)
    y = np.zeros(n, np.uint8)
    probe([a, b], [y], n)
    assert (y == 0x35).all()
    probe([a, y], [y], n)           # in place: y is read and written
    assert (y == 0x35).all()
    rng = np.random.default_rng(0)
    r1 = rng.integers(0, 256, n, dtype=np.uint8)
    r2 = rng.integers(0, 256, n, dtype=np.uint8)
    out = [np.zeros(n, np.uint8), np.zeros(n, np.uint8)]
    probe([r1, r2], out, n)
    for o in out:
        assert ((o & r1) == r1).all() and ((o & r2) == r2).all()
    # more streams than the probe's straight-line walks take (9 reads, 5 writes)
    ins = [np.full(n, 1 << (k % 8), np.uint8) for k in range(9)]
    outs = [np.zeros(n, np.uint8) for _ in range(5)]
    probe(ins, outs, n)
    assert all((o == 0xFF).all() for o in outs)
    outs = [np.zeros(n, np.uint8) for _ in range(6)]    # few reads, many writes
    probe(ins[:2], outs, n)
    assert all((o == 0x03).all() for o in outs)
    short = np.zeros(977, np.uint8)                 # a stream of another length
    probe([a], [short, y], n, 0)
    assert (short == 0x11).all() and (y == 0x11).all()
    f = np.zeros(1 << 20, np.float32)
    probe([np.ones(1 << 20, np.float32)], [f], f.size, 1)  # non-temporal
    assert (f == 1).all()
    assert probe([a], [], n) == int.from_bytes(b"\x11" * 8, "little")
    # a fill's stores (store=2): every byte of every output written, odd lengths,
    # string stores below twice the streaming size, non-temporal past it
    fills = [np.zeros(n, np.uint8), np.zeros(977, np.uint8)]
    for threshold in (None, 1):
        previous = gradkit.set_stream_threshold(threshold)
        try:
            for o in fills:
                o[...] = 0
            probe([], fills, n, 2)
        finally:
            gradkit.set_stream_threshold(previous)
        assert all((o == 0x3F).all() for o in fills)
    probe([a], [y], n, 2)            # with a read: the walk as ever
    assert (y == 0x11).all()


@pytest.mark.parametrize("schedule", [0, 1])
def test_probe_streams_positions_in_one_region(schedule):
    """count > 1: the positions of a list (as probe_each gives them), each of its own
    length, walked in one parallel region: every output of every position holds the OR
    of that position's reads (constant streams, other bits at every position, so that
    a byte moved across positions shows), in place too, at 1 and 2 threads."""
    from gradkit._ext import runtime
    sizes = [1, 17, 4096, 100_003, 262_147]
    for threads in (1, 2):
        with gradkit.num_threads(threads):
            reads, writes, want = [], [], []
            for p, n in enumerate(sizes):
                a = np.full(n, 1 << p, np.uint8)
                inplace = np.full(n, 0x80, np.uint8)
                reads += [a, inplace]
                writes += [np.zeros(n, np.uint8), inplace]
                want.append(np.full(n, (1 << p) | 0x80, np.uint8))
            runtime.probe_streams(reads, writes, sum(sizes), -1, schedule, len(sizes))
            for p, w in enumerate(want):
                out, inplace = writes[2 * p], writes[2 * p + 1]
                np.testing.assert_array_equal(out, w)
                np.testing.assert_array_equal(inplace, w)
    with pytest.raises(ValueError, match="count"):
        runtime.probe_streams(reads[:4], writes[:3], 1, -1, schedule, 2)


def test_probe_each_is_one_call_over_the_list():
    """probe_each gives one callable that moves every position's streams (its
    outputs into buffers of its own, its in-place streams in place)."""
    from gradkit.bench import core
    ps = [np.full(n, 1, np.uint8) for n in (5, 3000, 70_001)]
    gs = [np.full(n, 2, np.uint8) for n in (5, 3000, 70_001)]
    core.probe_each([ps, gs], [ps])()
    assert all((p == 3).all() for p in ps) and all((g == 2).all() for g in gs)
    with pytest.raises(ValueError, match="no arrays"):
        core.probe_each([[], []], [[]])


def test_probe_streams_bad_arguments():
    from gradkit._ext import runtime
    a = np.zeros(64, np.float32)
    with pytest.raises(ValueError, match="no stream"):
        runtime.probe_streams([], [], 1)
    with pytest.raises(ValueError, match="at most 16"):
        runtime.probe_streams([a] * 17, [], 1)
    with pytest.raises(TypeError, match="C-contiguous"):
        runtime.probe_streams([a[::2]], [], 1)
    with pytest.raises(TypeError, match="C-contiguous"):
        runtime.probe_streams([[1.0, 2.0]], [], 1)
    ro = np.zeros(64, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        runtime.probe_streams([a], [ro], 1)
    assert (ro == 0).all()


def test_probe_helpers():
    """core.probe / probe_each / passes move the listed streams, in order; an output
    that is not also read gets a buffer of the probe's own (the case's array, shared
    with out=, is left alone), one that is read is updated in place."""
    a = [np.full(1000, 3, np.uint8) for _ in range(3)]
    b = [np.zeros(1000, np.uint8) for _ in range(3)]
    core.probe_each([a], [b])()
    assert all((x == 0).all() for x in b)
    c = [np.full(1000, 5, np.uint8) for _ in range(3)]
    core.probe_each([a, c], [c])()
    assert all((x == 7).all() for x in c)       # 3 | 5
    with pytest.raises(ValueError, match="differ in length"):
        core.probe_each([a, b[:2]], [])
    order = []
    core.passes(lambda: order.append(1), lambda: order.append(2))()
    assert order == [1, 2]
    y = np.zeros(10, np.uint8)
    core.probe([np.full(10, 7, np.uint8)], [y])()
    assert (y == 0).all()
    core.probe([np.full(10, 7, np.uint8), y], [y])()
    assert (y == 7).all()


def test_malloc_tunables_remove_page_faults(tmp_path):
    """The warm subprocess's glibc tunables: a 64 MiB array allocated, written and freed
    in a loop faults its pages in on every pass by default, and (nearly) never with
    them -- what makes the warm peer column warm."""
    if not runner.has_glibc():
        pytest.skip("not glibc")
    code = ("import resource, numpy as np\n"
            "def f(): np.empty(1 << 24, np.float32).fill(1.0)\n"
            "for _ in range(10): f()\n"
            "r = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "for _ in range(10): f()\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r) / 10)\n")

    def faults(env):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=120, check=True).stdout
        return float(out)
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    env["NUMPY_MADVISE_HUGEPAGE"] = "0"
    cold = faults(env)
    warm = faults(dict(runner.warm_env(1), NUMPY_MADVISE_HUGEPAGE="0"))
    assert cold > 1000 and warm < 100, (cold, warm)


def test_warm_pass_without_glibc(monkeypatch):
    monkeypatch.setattr(runner, "has_glibc", lambda: False)
    r = runner.new_result(_fake_cases()[0])
    r["times"]["peer"], r["x_peer"] = {"median": 1.0}, 1.0
    assert runner.warm_pass([r], 1, 1e-3, runner.QUICK)
    assert r["warm_how"] == "skipped: no glibc" and r["x_peer_warm"] is None
    assert "skipped: no glibc" in report.table_rows([r])[0]


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


def test_command_line_end_to_end(tmp_path):
    """``python -m gradkit bench --quick --sweep --sizes 1e3 --filter ... --json --markdown
    --plot`` end to end on shrunken sizes: discovery, the table cases the filter keeps,
    the warm subprocess, the sweep (with its own warm subprocess) and every output.  The
    one command-line run: the rest of the harness is tested in process."""
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "md", "png")}
    op = "rms_norm forward+backward"
    # the thread pools' spin limits: set by the command line, a value given kept
    env = dict(os.environ, GRADKIT_BENCH_SCALE="0.005", GOMP_SPINCOUNT="12345")
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    proc = subprocess.run(
        [sys.executable, "-m", "gradkit", "bench", "--quick", "--sweep", "--sizes", "1e3",
         "--filter", op, "--threads", "1", "--json", str(paths["json"]),
         "--markdown", str(paths["md"]), "--plot", str(paths["png"])],
        capture_output=True, text=True, env=env, timeout=900)
    have_mpl = importlib.util.find_spec("matplotlib") is not None
    assert proc.returncode == (0 if have_mpl else 1), proc.stderr
    if not have_mpl:
        assert "needs matplotlib" in proc.stderr
    doc = json.loads(paths["json"].read_text())
    ops = [r["op"] for r in doc["results"]]
    assert op in ops and all(op in o for o in ops), ops       # f32, bf16, f16
    assert all(r["quick"] and r["error"] is None for r in doc["results"])
    assert "== norm ==" in proc.stdout and "[1/" in proc.stderr
    timeout = runner.IDLE_POOLS["OPENBLAS_THREAD_TIMEOUT"]
    assert doc["metadata"]["idle_pools"] == {"GOMP_SPINCOUNT": "12345",
                                             "OPENBLAS_THREAD_TIMEOUT": timeout}
    assert f"GOMP_SPINCOUNT=12345, OPENBLAS_THREAD_TIMEOUT={timeout}" in proc.stdout
    r = next(r for r in doc["results"] if r["op"] == op)
    assert r["limit_share"] > 0 and r["limit_share_out"] > 0
    if doc["metadata"]["torch"] and runner.has_glibc():
        assert r["warm_how"] == "warm heap", r
        assert r["x_peer_warm"] > 0 and r["times"]["peer_warm"]["rounds"] >= 3
        assert "peer_warm" in r["faults"]
    points = doc["sweep"]
    assert [(p["op"], p["n"], p["threads"]) for p in points] == [(op, 1000, 1)]
    assert all(p["limit_share"] > 0 and p["error"] is None for p in points)
    assert doc["settings"]["sweep"]["sizes"] == [1000]
    md = paths["md"].read_text()
    assert "### Sweep, 1 thread" in md and f"| norm: {op} |" in md
    if have_mpl:
        assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_over_sizes_in_process(tmp_path, monkeypatch, capsys):
    """``--sweep --sizes`` runs the sweep at every size (in process; no glibc, so no warm
    subprocess) and writes it to the JSON and the Markdown."""
    from gradkit.__main__ import _sizes
    assert _sizes("1e3,4096") == [1000, 4096]
    monkeypatch.setattr(runner, "has_glibc", lambda: False)
    paths = {k: str(tmp_path / f"r.{k}") for k in ("json", "markdown")}
    op = "rms_norm forward+backward"
    assert runner.run(_args(quick=True, sweep=True, sizes=[1000, 4096], filter=op,
                            **paths), scale=0.005) == 0
    with open(paths["json"]) as f:
        doc = json.load(f)
    assert {(p["op"], p["n"], p["threads"]) for p in doc["sweep"]} == {
        (op, n, 1) for n in (1000, 4096)}
    assert all(p["limit_share"] > 0 and p["error"] is None for p in doc["sweep"])
    assert doc["settings"]["sweep"]["sizes"] == [1000, 4096]
    with open(paths["markdown"]) as f:
        md = f.read()
    assert "### Sweep, 1 thread" in md and f"| norm: {op} |" in md
    assert "not glibc" in capsys.readouterr().err


def test_sweep_threads():
    cores = runner.available_cores()
    ts = runner.sweep_threads(None)
    assert ts[0] == 1 and ts == sorted(set(ts)) and max(ts) <= cores
    assert runner.sweep_threads(1) == [1]


def test_bad_thread_count():
    assert runner.run(_args(threads=0), cases=_fake_cases(), scale=1e-4) == 2


def test_probe_streams_aligns_streamed_outputs_and_writes_data():
    """A streamed (non-temporal) output that is not vector-aligned is still streamed
    (from its first aligned byte; the bytes before it are stored apart) and written
    whole; an output-only probe stores a non-zero byte (zeros are written faster than
    data here)."""
    from gradkit._ext import runtime
    n = 1 << 16
    raw = np.zeros(n + 64, np.uint8)
    for off in (0, 1, 8, 16, 31):
        y = raw[off:off + n]
        src = np.full(n, 0x11, np.uint8)
        runtime.probe_streams([src], [y], n, 1)
        assert (y == 0x11).all(), off               # every byte, the first ones too
        runtime.probe_streams([], [y], n, 1)
        assert (y == y[0]).all() and y[0] != 0, off


def test_probe_streams_misaligned_streamed_float_output_is_written_whole():
    from gradkit._ext import runtime
    # (the probe's values are exact for lengths in whole vectors, as in the test above;
    # the output's start moves, so its last bytes fall short of a vector)
    raw = np.zeros((1 << 20) + 16, np.float32)
    for off in range(8):                           # every float offset from 32 bytes
        f = raw[off:off + (1 << 20)]
        f[:] = 0
        runtime.probe_streams([np.ones(f.size, np.float32)], [f], f.size, 1)
        assert (f == 1).all(), off
