"""Build facts, threads (gradkit's own setting, OMP_NUM_THREADS, threadpoolctl), the SIMD
dispatch (GRADKIT_SIMD: every kernel table gives bitwise the same results) and the
command line (`python -m gradkit info | demo`)."""
import os
import platform
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import gradkit


def _env(**changes):
    """The current environment without gradkit's and OpenMP's knobs, plus `changes`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRADKIT_SIMD", "OMP_NUM_THREADS", "OMP_THREAD_LIMIT",
                        "GRADKIT_STREAM_MIN_BYTES")}
    env.update(changes)
    return env


def _python(args, env, timeout=300):
    proc = subprocess.run([sys.executable] + args, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# ---- show_config ------------------------------------------------------------------------
def test_show_config_keys_and_types():
    cfg = gradkit.show_config()
    types = {"version": str, "openmp": bool, "simd": str, "simd_compiled": list,
             "num_threads": int, "cpu_count": int, "compiler": str, "build_flags": str,
             "build_options": dict, "python": str, "numpy": str, "stream_min_bytes": int,
             "llc_bytes": int}
    for key, typ in types.items():
        assert isinstance(cfg[key], typ), (key, cfg[key])
    assert "simd_env" in cfg and cfg["simd_env"] in (None, os.environ.get("GRADKIT_SIMD"))
    assert cfg["version"] == gradkit.__version__
    assert cfg["simd"] in cfg["simd_compiled"]
    assert set(cfg["simd_compiled"]) <= {"baseline", "avx2", "avx512", "avx512_bf16",
                                         "native"}
    assert cfg["num_threads"] == gradkit.get_num_threads() >= 1
    assert "-ffp-contract=off" in cfg["build_flags"]  # the no-FMA-contraction rule
    assert cfg["build_options"]["simd"] in ("dispatch", "baseline", "native")
    assert cfg["build_options"]["openmp"] == cfg["openmp"]


def test_show_config_prints(capsys):
    cfg = gradkit.show_config(print_=True)
    out = capsys.readouterr().out
    assert re.search(rf"^\s*simd: {cfg['simd']}$", out, re.M)
    assert len(out.strip().splitlines()) == len(cfg)


# ---- gradkit's own thread setting -------------------------------------------------------
def test_set_num_threads_and_context_manager_restore():
    before = gradkit.get_num_threads()
    with gradkit.num_threads(1):
        assert gradkit.get_num_threads() == 1
        with gradkit.num_threads(3):
            assert gradkit.get_num_threads() == (3 if gradkit.show_config()["openmp"]
                                                 else 1)
        assert gradkit.get_num_threads() == 1
    assert gradkit.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with gradkit.num_threads(1):
            raise RuntimeError("restores on the way out of an exception too")
    assert gradkit.get_num_threads() == before
    try:
        gradkit.set_num_threads(1)
        assert gradkit.get_num_threads() == 1
    finally:
        gradkit.set_num_threads(before)
    assert gradkit.get_num_threads() == before


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-2, ValueError), (2.0, TypeError),
                                     (True, TypeError), ("2", TypeError), (None, TypeError),
                                     (2**31, ValueError), (2**40, ValueError),
                                     (-2**70, ValueError), (np.float64(2), TypeError)])
def test_set_num_threads_rejects_bad_values(bad, exc):
    before = gradkit.get_num_threads()
    with pytest.raises(exc, match="n must"):
        gradkit.set_num_threads(bad)
    with pytest.raises(exc, match="n must"):
        with gradkit.num_threads(bad):
            pass
    assert gradkit.get_num_threads() == before


def test_set_num_threads_takes_numpy_ints():
    before = gradkit.get_num_threads()
    try:
        gradkit.set_num_threads(np.int64(1))
        assert gradkit.get_num_threads() == 1
    finally:
        gradkit.set_num_threads(before)


HAVE_OPENMP = gradkit.show_config()["openmp"]
needs_openmp = pytest.mark.skipif(not HAVE_OPENMP, reason="gradkit was built without OpenMP")


def test_more_threads_without_openmp_warn_and_stay_one():
    """Without OpenMP the kernels run on one thread: asking for more warns (naming the
    caller's line) and get_num_threads() tells the truth; with OpenMP nothing warns."""
    before = gradkit.get_num_threads()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradkit.set_num_threads(1)           # always possible: never a warning
        gradkit.set_num_threads(4)
        set_to = gradkit.get_num_threads()
        with gradkit.num_threads(3):
            inside = gradkit.get_num_threads()
    gradkit.set_num_threads(before)
    ours = [w for w in caught if "without OpenMP" in str(w.message)]
    if HAVE_OPENMP:
        assert not ours and set_to == 4 and inside == 3
    else:
        assert [w.category for w in ours] == [RuntimeWarning] * 2
        assert "set_num_threads(4)" in str(ours[0].message)
        assert "num_threads(3)" in str(ours[1].message)
        assert all(w.filename == __file__ for w in ours)
        assert set_to == inside == 1


def test_build_flags_are_honest():
    """The OpenMP flag is listed exactly when OpenMP is used, and no meson boolean leaks
    into the text."""
    cfg = gradkit.show_config()
    flags = cfg["build_flags"].split()
    assert ("-fopenmp" in flags or "/openmp" in flags) == cfg["openmp"]
    assert f"-DGK_HAVE_OPENMP={int(cfg['openmp'])}" in flags
    assert not {"true", "false", "True", "False", ""} & set(flags)


@needs_openmp
def test_threadpoolctl_limits_the_kernels():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = gradkit.get_num_threads()
    assert any(p["user_api"] == "openmp" for p in threadpoolctl.threadpool_info())
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert gradkit.get_num_threads() == 1
        assert gradkit.show_config()["num_threads"] == 1
    assert gradkit.get_num_threads() == before
    with gradkit.num_threads(1):
        with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
            assert gradkit.get_num_threads() == 2
        assert gradkit.get_num_threads() == 1


@needs_openmp
@pytest.mark.parametrize("n", [1, 3])
def test_omp_num_threads_is_respected(n):
    out = _python(["-c", "import gradkit; c = gradkit.show_config(); "
                         "print(gradkit.get_num_threads(), c['num_threads'])"],
                  _env(OMP_NUM_THREADS=str(n)))
    assert out.split() == [str(n), str(n)]


# ---- the streamed-store threshold --------------------------------------------------------
def _llc_bytes():
    """the largest cache cpu0 has in sysfs (what dispatch.c reads), or None"""
    best = None
    for i in range(8):
        try:
            with open(f"/sys/devices/system/cpu/cpu0/cache/index{i}/size") as f:
                text = f.read().strip()
        except OSError:
            break
        m = re.fullmatch(r"(\d+)([KMG]?)", text)
        if m:
            b = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]
            best = max(best or 0, b)
    return best


def test_stream_threshold_default_is_half_the_last_level_cache():
    out = _python(["-c", "import gradkit; print(gradkit.show_config()['stream_min_bytes'])"],
                  _env())
    llc = _llc_bytes()
    if llc is None and not sys.platform.startswith("linux"):
        pytest.skip("the cache size comes from sysconf here; only Linux's sysfs is read back")
    expect = min(llc // 2, 16 << 20) if llc and llc >= 2 << 20 else 16 << 20
    assert int(out) == expect


def test_llc_bytes_is_what_sysfs_reports():
    llc = _llc_bytes()
    if llc is None and not sys.platform.startswith("linux"):
        pytest.skip("the cache size comes from sysconf here; only Linux's sysfs is read back")
    assert gradkit.show_config()["llc_bytes"] == (llc or 0)


def test_stream_threshold_from_the_environment():
    code = ("import gradkit; print(gradkit.show_config()['stream_min_bytes']); "
            "gradkit.set_stream_threshold(5000); gradkit.set_stream_threshold(None); "
            "print(gradkit.show_config()['stream_min_bytes'])")
    assert _python(["-c", code], _env(GRADKIT_STREAM_MIN_BYTES="123456")).split() == \
        ["123456", "123456"]


def test_set_stream_threshold_reaches_every_compiled_module():
    from gradkit import _config
    from gradkit._ext import runtime
    families = re.search(r"families = \[(.*?)\]", open(os.path.join(
        os.path.dirname(__file__), os.pardir, "ext", "meson.build")).read(), re.S).group(1)
    names = {m.__name__ for m in _config._compiled_modules()}
    assert names == {"gradkit.capi", "gradkit._ext.runtime"} | {
        f"gradkit._ext.{f}" for f in re.findall(r"'(\w+)'", families)}
    previous = gradkit.set_stream_threshold(4096)
    try:
        assert runtime.get_stream_min_bytes() == 4096
        assert gradkit.show_config()["stream_min_bytes"] == 4096
        assert gradkit.set_stream_threshold(previous) == 4096
    finally:
        gradkit.set_stream_threshold(previous)
    assert gradkit.show_config()["stream_min_bytes"] == previous


def _cpu_is_amd_family_1ah():
    """/proc/cpuinfo's word on the CPU gradkit's dispatch asks by cpuid (Linux only)"""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return None
    vendor = re.search(r"^vendor_id\s*:\s*(\S+)", info, re.M)
    family = re.search(r"^cpu family\s*:\s*(\d+)", info, re.M)
    if vendor is None or family is None:
        return None
    return vendor.group(1) == "AuthenticAMD" and int(family.group(1)) >= 0x1A


def test_alias_avoidance_default_set_and_restored_in_every_module():
    from gradkit import _config
    mods = _config._compiled_modules()
    default = {m._get_alias_avoidance() for m in mods}
    assert len(default) == 1
    amd_1ah = _cpu_is_amd_family_1ah()
    if amd_1ah is not None and platform.machine() in ("x86_64", "AMD64"):
        # on everywhere but AMD family 1Ah (Zen 5)
        assert default == {0 if amd_1ah else 1}
    try:
        for on in (True, False):
            _config.set_alias_avoidance(on)
            assert {m._get_alias_avoidance() for m in mods} == {int(on)}
            assert gradkit.show_config()["alias_avoidance"] is on
        assert _config.set_alias_avoidance(None) is False
    finally:
        _config.set_alias_avoidance(None)
    assert {m._get_alias_avoidance() for m in mods} == default
    with pytest.raises(TypeError, match="on must be"):
        _config.set_alias_avoidance(1)


@pytest.mark.parametrize("bad, exc", [(1.5, TypeError), ("1", TypeError), (True, TypeError),
                                      (0, ValueError), (-5, ValueError), (2 ** 64, ValueError)])
def test_set_stream_threshold_rejects_bad_values(bad, exc):
    before = gradkit.show_config()["stream_min_bytes"]
    with pytest.raises(exc, match="nbytes"):
        gradkit.set_stream_threshold(bad)
    assert gradkit.show_config()["stream_min_bytes"] == before


def test_streamed_and_cached_stores_give_the_same_bits():
    # every output streamed (threshold 1 byte: odd sizes, unaligned starts) against none
    from gradkit import dropout, losses, norm
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 301)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.standard_normal(301).astype(np.float32)
    labels = rng.integers(0, 301, 37)

    def run():
        y, st = norm.layer_norm(x, w, w)
        out = [y, *norm.layer_norm_backward(dy, x, st, w)]
        yd, mask = dropout.dropout(x[1:], 0.3, rng=7)
        out += [yd, mask.to_bool()]
        # in place (never streamed: past the threshold the forward prefetches y for
        # writing), seed only, and 16-bit storage
        xc = x.copy()
        out.append(dropout.dropout(xc, 0.4, rng=9, out=xc, store_mask=False)[0])
        out.append(dropout.dropout(x.astype(gradkit.bfloat16), 0.3, rng=8)[0])
        out += list(norm.add_dropout_layer_norm(x, dy, w, w, p=0.2, rng=3)[:2])
        out.append(losses.softmax_cross_entropy(x, labels)[1])
        out.append(gradkit.random.Generator(5).normal((1001,), dtype=np.float32))
        return out

    previous = gradkit.set_stream_threshold(1)
    try:
        streamed = run()
        gradkit.set_stream_threshold(1 << 62)
        cached = run()
    finally:
        gradkit.set_stream_threshold(previous)
    for a, b in zip(streamed, cached):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_rows_at_every_offset_write_their_elements_only(dtype):
    # a streamed row's first and last elements (before its first aligned vector and
    # after its last) are stored alone, not as a whole vector over the row's ends, or
    # (AVX-512) kept and streamed with the next row's as the whole line they share:
    # outputs at every element offset from a line, with guard elements on both sides
    from gradkit import norm
    rng = np.random.default_rng(8)
    size = np.dtype(dtype).itemsize
    for cols in (37, 64):
        x = rng.standard_normal((29, cols)).astype(dtype)
        dy = rng.standard_normal(x.shape).astype(dtype)
        w = rng.standard_normal(cols).astype(dtype)
        calls = [lambda out: norm.layer_norm(x, w, w, out=out)[0],
                 lambda out: norm.rms_norm(x, w, out=out)[0],
                 lambda out: norm.batch_norm(x, w, w, out=out)[0],
                 lambda out: norm.batch_norm_backward(dy, x, norm.batch_norm(x)[1], w,
                                                      out=out)[0]]
        for call in calls:
            want = call(np.empty_like(x))
            for off in range(0, 64 // size):
                buf = np.full(x.size + 64, 7.0, dtype)
                start = (-buf.ctypes.data // size) % (64 // size) + off + 8
                out = buf[start:start + x.size].reshape(x.shape)
                previous = gradkit.set_stream_threshold(1)
                try:
                    call(out)
                finally:
                    gradkit.set_stream_threshold(previous)
                np.testing.assert_array_equal(out, want)
                assert (buf[:start] == 7).all() and (buf[start + x.size:] == 7).all()


# ---- SIMD dispatch: every kernel table gives bitwise the same results -------------------
# (that every table gives the same bits is checked by tests/test_determinism.py)


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


# what each table is compiled for (ext/meson.build), as Linux names the cpuid bits
_TABLE_NEEDS = {
    "avx2": {"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "abm", "popcnt"},
    "avx512": {"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "abm", "popcnt", "avx512f",
               "avx512bw", "avx512dq", "avx512vl"},
}
# the AVX-512 table with bfloat16 rounded by AVX512_BF16 (a level of GRADKIT_SIMD)
_TABLE_NEEDS["avx512_bf16"] = _TABLE_NEEDS["avx512"] | {"avx512_bf16"}


def test_dispatch_takes_the_widest_table_the_cpu_runs():
    """The cpuid/xgetbv check agrees with the kernel's view of the CPU (/proc/cpuinfo
    lists only what the OS enabled)."""
    flags = _cpu_flags()
    cfg = gradkit.show_config()
    if flags is None or os.environ.get("GRADKIT_SIMD"):
        pytest.skip("needs /proc/cpuinfo and no GRADKIT_SIMD")
    if "native" in cfg["simd_compiled"]:
        pytest.skip("a native build has one table")
    runnable = [t for t in ("avx512_bf16", "avx512", "avx2") if t in cfg["simd_compiled"]
                and _TABLE_NEEDS[t] <= flags]
    assert cfg["simd"] == (runnable[0] if runnable else "baseline")


def test_gradkit_simd_selects_the_baseline_table():
    out = _python(["-c", "import gradkit; print(gradkit.show_config()['simd'])"],
                  _env(GRADKIT_SIMD="baseline"))
    expected = "native" if "native" in gradkit.show_config()["simd_compiled"] else "baseline"
    assert out.strip() == expected


# ---- command line ----------------------------------------------------------------------
def test_info_prints_the_simd_level():
    out = _python(["-m", "gradkit", "info"], _env())
    default = _python(["-c", "import gradkit; print(gradkit.show_config()['simd'])"], _env())
    assert re.search(rf"^\s*simd: {default.strip()}$", out, re.M), out
    assert re.search(r"^\s*openmp: (True|False)$", out, re.M), out
    assert re.search(r"^\s*num_threads: \d+$", out, re.M), out


def _accuracy(out):
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy: ") and last.endswith("%"), out
    return float(last.split(": ")[1].rstrip("%"))


@pytest.fixture(scope="module")
def demo_fp32():
    """The output of ``python -m gradkit demo`` as the README runs it (float32, the
    default 20 epochs), shared by the tests that read it."""
    return _python(["-m", "gradkit", "demo"], _env())


def _demo_in_process(capsys, *args):
    from gradkit.__main__ import main
    capsys.readouterr()
    assert main(["demo", *args]) == 0
    return capsys.readouterr().out


def test_demo_runs(demo_fp32):
    out = demo_fp32
    simd = gradkit.show_config()["simd"] if "GRADKIT_SIMD" not in os.environ else ""
    assert out.startswith(f"gradkit {gradkit.__version__}: {simd}")
    assert "gradient check of the model" in out and ": ok" in out
    assert _accuracy(out) >= 95.0


@pytest.mark.parametrize("precision,epochs", [("bf16", None), ("fp16", 5)])
def test_demo_trains_in_16_bit_within_a_point_of_float32(precision, epochs, demo_fp32,
                                                         capsys):
    """The issue's bar: 16-bit storage (fp16 with the loss scaler) reaches the float32
    demo's test accuracy within 1 point, same seed and epochs.  bf16 at the README's
    setting (the default 20 epochs, against the float32 run of test_demo_runs); fp16 at
    5 epochs (about 95%, still climbing: a loss scaler that skipped or mis-scaled steps
    falls behind there), against float32 at 5 epochs."""
    if epochs is None:
        ref = demo_fp32
        out = _demo_in_process(capsys, "--precision", precision)
    else:
        ref = _demo_in_process(capsys, "--epochs", str(epochs))
        out = _demo_in_process(capsys, "--epochs", str(epochs), "--precision", precision)
    assert "precision: " in out and ("loss scaling" in out) == (precision == "fp16")
    last_epoch = f"epoch {epochs or 20:>3}/{epochs or 20} "   # same epochs on both sides
    assert last_epoch in out and last_epoch in ref
    assert _accuracy(out) >= _accuracy(ref) - 1.0, (out, ref)


def test_demo_options_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "demo.png"
    out = _python(["-m", "gradkit", "demo", "--epochs", "2", "--seed", "3",
                   "--plot", str(png)], _env())
    assert "epoch   2/2" in out and png.stat().st_size > 1000
