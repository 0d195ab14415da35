"""16-bit storage: the shared conversions (gk_convert, ext/src/gk_half.h) on every SIMD
path this CPU runs, the dtype, and the validation rules of 16-bit arrays.

The conversions must give the bits of NumPy's (float16) and ml_dtypes' (bfloat16)
astype: all 65,536 patterns widened, and float32 -> 16-bit on every edge value (halfway
cases, max finite, subnormal boundaries, inf, NaN payloads) and a large random sample of
float32 bit patterns (NaNs included), for the baseline, AVX2 and (where the CPU has it)
AVX-512 tables, and AVX-512 with bfloat16 rounded by AVX512_BF16 -- each in a fresh
process, as GRADKIT_SIMD is read once; and again with MXCSR.DAZ set (torch's
set_flush_denormal), under which vfpclassps no longer sees subnormals.
"""
import json
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import gradkit
from gradkit import _precision

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
HALVES = (F16, BF16)


def _edge_floats():
    """float32 bit patterns at every rounding edge of both 16-bit types."""
    top = np.arange(0x10000, dtype=np.int64) << 16        # each bf16 pattern's image
    parts = [top + d for d in (0, 0x7fff, 0x8000, 0x8001, 0xffff)]   # bf16 ties
    h = np.arange(0x10000, dtype=np.uint16).view(np.float16).astype(np.float32)
    hb = h[np.isfinite(h)].view(np.uint32).astype(np.int64)
    for d in (0, 1, 0xfff, 0x1000, 0x1001, 0x1fff):       # float16 ties (13 bits)
        parts += [hb + d, hb - d]
    for f in (65504.0, 65519.99, 65520.0, 65536.0, 2.0**-14, 2.0**-24, 2.0**-25,
              1.5 * 2.0**-25, 2.0**-26, 3.3895314e38, 3.4028235e38, 1e-45, 1.1754942e-38):
        b = int(np.float32(f).view(np.uint32))
        parts.append(np.arange(b - 2, b + 3, dtype=np.int64))
    parts.append(np.array([0x7f800000, 0x7f800001, 0x7fbfffff, 0x7fc00000, 0x7fc00001,
                           0x7fffffff, 0x7f802000, 0x7f801fff, 0x7fa00000], np.int64))
    u = (np.concatenate(parts) % 2**32).astype(np.uint32)
    return np.concatenate([u, u | np.uint32(0x80000000)])


def check_conversions():
    """{name: mismatch count} of gradkit's conversions against astype (run in the
    configuration under test)."""
    out = {}
    rng = np.random.default_rng(12)
    sample = rng.integers(0, 2**32, 3_000_001, dtype=np.uint64).astype(np.uint32)
    floats = np.concatenate([_edge_floats(), sample]).view(np.float32)
    pats = np.arange(0x10000, dtype=np.uint16)
    for dt in HALVES:
        name = str(dt)
        wide = _precision.widen(pats.view(dt))
        ref = pats.view(dt).astype(np.float32)
        out[f"{name}->float32"] = int(np.count_nonzero(wide.view(np.uint32)
                                                       != ref.view(np.uint32)))
        with np.errstate(all="ignore"):
            ref16 = floats.astype(dt).view(np.uint16)
        got = _precision.narrow(floats, dt).view(np.uint16)
        out[f"float32->{name}"] = int(np.count_nonzero(got != ref16))
        # odd lengths and offsets: vector bodies, scalar tails, unaligned starts
        for n, off in ((1, 0), (7, 1), (33, 3), (1000, 5)):
            part = floats[off:off + n].copy()
            with np.errstate(all="ignore"):
                r = part.astype(dt).view(np.uint16)
            out[f"float32->{name}[{n}@{off}]"] = int(np.count_nonzero(
                _precision.narrow(part, dt).view(np.uint16) != r))
    return out


def _simd_tables():
    return [t for t in gradkit.show_config()["simd_compiled"] if _runs(t)]


def _runs(simd):
    env = dict(os.environ, GRADKIT_SIMD=simd)
    p = subprocess.run([sys.executable, "-c", "import gradkit; "
                        "print(gradkit.show_config()['simd'])"], env=env,
                       capture_output=True, text=True, timeout=300, check=True)
    return p.stdout.strip() == simd


_DAZ = ("import torch; assert torch.set_flush_denormal(True); "
        "assert float(torch.tensor(1e-40) * 1) == 0.0; ")


@pytest.mark.parametrize("daz", [False, True], ids=["", "daz"])
@pytest.mark.parametrize("simd", ["baseline", "avx2", "avx512", "avx512_bf16"])
def test_conversions_bit_identical_to_astype_on_every_path(simd, daz):
    if simd not in gradkit.show_config()["simd_compiled"] or not _runs(simd):
        pytest.skip(f"this CPU does not run the {simd} table")
    if daz:
        torch = pytest.importorskip("torch")
        if not torch.set_flush_denormal(True):   # in this process: only asking
            pytest.skip("this CPU cannot set MXCSR.DAZ")
        torch.set_flush_denormal(False)
    env = dict(os.environ, GRADKIT_SIMD=simd, OMP_NUM_THREADS="2")
    code = ("import json, sys; sys.path.insert(0, %r); import test_half, gradkit; %s"
            "print(json.dumps([gradkit.show_config()['simd'], "
            "gradkit.show_config()['half_conversions'], test_half.check_conversions()]))"
            % (os.path.dirname(__file__), _DAZ if daz else ""))
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    used, path, counts = json.loads(p.stdout)
    assert used == simd and path.startswith(simd if simd != "baseline" else "portable")
    assert all(v == 0 for v in counts.values()), counts
    assert len(counts) == 2 * 6


def test_conversions_in_process_and_threads():
    """The default table, 1 and 3 threads (tiles fixed by index: same bits)."""
    x = np.random.default_rng(3).standard_normal(200_003).astype(np.float32) * 300
    for dt in HALVES:
        with gradkit.num_threads(1):
            a = _precision.narrow(x, dt)
        with gradkit.num_threads(3):
            b = _precision.narrow(x, dt)
        assert np.array_equal(a.view(np.uint16), b.view(np.uint16))
        assert np.array_equal(a.view(np.uint16), x.astype(dt).view(np.uint16))
        assert np.array_equal(_precision.widen(a), a.astype(np.float32))
    assert check_conversions()["float16->float32"] == 0


def test_edge_values_cover_the_cases():
    """The edge list is not vacuous: it holds ties, overflow, subnormals, NaNs."""
    f = _edge_floats().view(np.float32)
    with np.errstate(all="ignore"):
        h = f.astype(np.float16)
    assert np.isinf(h[np.isfinite(f)]).any() and np.isnan(f).sum() > 10
    assert ((np.abs(f) < 2.0**-14) & (f != 0)).sum() > 100


def test_convert_rejects_bad_arguments():
    from gradkit._ext import runtime as rt
    a = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="elements"):
        rt.convert(a, 0, np.zeros(3, np.float16), 2)
    with pytest.raises(TypeError):
        rt.convert(a, 0, np.zeros(4, np.float32), 0)     # float32 -> float32
    with pytest.raises(ValueError, match="read-only"):
        d = np.zeros(4, np.float16)
        d.flags.writeable = False
        rt.convert(a, 0, d, 2)
    b = np.zeros(8, np.float16)
    with pytest.raises(ValueError, match="overlaps"):
        rt.convert(b.view(np.float32)[:2], 0, b[:2], 2)


def test_dtype_and_config():
    assert gradkit.bfloat16 is ml_dtypes.bfloat16
    assert "bfloat16" in gradkit.__all__
    cfg = gradkit.show_config()
    assert cfg["half_conversions"].split(":")[0] in ("portable", "avx2", "avx512",
                                                    "avx512_bf16")
    if cfg["simd"] in ("avx2", "avx512", "avx512_bf16"):
        assert "F16C" in cfg["half_conversions"] or "vcvtph2ps" in cfg["half_conversions"]
