"""The public API's type hints, as a user's type checker sees them.

mypy checks a small user program against the installed gradkit: each ``# R: text`` line
must make mypy reveal a type containing ``text``, each ``# E: code`` line must be
rejected with that error code, and nothing else may be reported.  Skipped when mypy
is not installed (CI installs it).
"""
import os
import re
import site
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mypy")

import gradkit  # noqa: E402

USER_CODE = textwrap.dedent('''
    import numpy as np
    import gradkit
    from gradkit import init, nn, optim, schedules

    x = np.ones((4, 8), np.float32)
    y, stats = gradkit.layer_norm(x)
    reveal_type(y)  # R: numpy.floating
    reveal_type(stats)  # R: gradkit.norm.NormStats
    reveal_type(stats.mean)  # R: None
    dx, dw, db = gradkit.layer_norm_backward(y, x, stats, np.ones(8, np.float32))
    reveal_type(dw)  # R: None
    y2, rms_stats = gradkit.rms_norm(x.tolist())
    reveal_type(rms_stats.rstd)  # R: numpy.floating
    loss, dlogits = gradkit.softmax_cross_entropy(x, np.zeros(4, np.int64))
    reveal_type(loss)  # R: float
    rows, drows = gradkit.softmax_cross_entropy(x, [0, 1, 2, 3], reduction="none")
    reveal_type(rows)  # R: numpy.ndarray
    reveal_type(gradkit.mse(x, x)[0])  # R: float
    ymask, mask = gradkit.dropout.dropout(x, 0.1, rng=0)
    reveal_type(mask)  # R: gradkit.dropout.DropoutMask | None
    reveal_type(gradkit.Generator(0).normal((3,)))  # R: numpy.floating
    reveal_type(init.kaiming_uniform((8, 4), rng=1))  # R: numpy.floating
    reveal_type(gradkit.global_norm([x, None]))  # R: float
    q, scale, zero_point = gradkit.quantize(x, axis=0)
    reveal_type(q)  # R: numpy.integer

    model = nn.Sequential(nn.Linear(8, 4, rng=0), nn.LayerNorm(4), nn.ReLU())
    reveal_type(model.params)  # R: list[numpy.ndarray
    opt = optim.AdamW(model.params, lr=1e-3)
    out = model.forward(x)
    model.backward(out)
    opt.step(model.grads)
    sched = schedules.warmup(opt, 10, after=schedules.CosineAnnealingLR(opt, T_max=100))
    reveal_type(sched.get_last_lr())  # R: list[float]
    scaler = gradkit.LossScaler()
    reveal_type(scaler.scale(2.0))  # R: float
    reveal_type(scaler.step(opt, model.grads))  # R: bool

    reveal_type(gradkit.get_num_threads())  # R: int
    with gradkit.num_threads(1):
        previous = gradkit.set_cache_limit(64)
        reveal_type(previous)  # R: float
        gradkit.set_cache_limit(previous)
    reveal_type(gradkit.show_config())  # R: dict[str, Any]

    x64 = x.astype(np.float64)
    result = gradkit.check_grad(lambda a: float((a ** 2).sum()), x64, 2 * x64)
    reveal_type(result)  # R: gradkit.gradcheck.GradCheckResult

    gradkit.dropout(x)  # E: operator
    gradkit.layer_norm(x, eps="1e-5")  # E: arg-type
    gradkit.layer_norm(x, normalized_dim=1)  # E: call-arg
    gradkit.rms_norm_backward(x, x, (None, x), 1)  # E: arg-type
    scaler.step(object(), model.grads)  # E: arg-type
    nn.Dropout(p="0.5")  # E: arg-type
    opt.step(x, 0)  # E: call-arg
''')


def _mypy_env():
    """mypy finds gradkit on MYPYPATH when it runs from a source tree (an editable
    install is an import hook, which mypy does not follow); an installed gradkit is
    found in site-packages through its py.typed marker."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(gradkit.__file__)))
    site_dirs = {os.path.abspath(p)
                 for p in site.getsitepackages() + [site.getusersitepackages()]}
    if root not in site_dirs:
        env["MYPYPATH"] = root
    return env


def test_public_api_types(tmp_path):
    user = tmp_path / "user.py"
    user.write_text(USER_CODE)
    config = tmp_path / "mypy.ini"  # mypy's defaults, not the project's settings
    config.write_text("[mypy]\n")
    cmd = [sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-codes",
           "--follow-imports=silent", "--config-file", str(config),
           "--cache-dir", str(tmp_path / "cache"), str(user)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_mypy_env(),
                         cwd=tmp_path, timeout=600)
    assert res.returncode in (0, 1), res.stdout + res.stderr
    got = {}
    for line in res.stdout.splitlines():
        m = re.match(r".*user\.py:(\d+): (error|note): (.*)", line)
        assert m, f"unexpected mypy output: {line}\n{res.stdout}"
        got.setdefault(int(m.group(1)), []).append((m.group(2), m.group(3)))
    lines = USER_CODE.splitlines()
    for n, text in enumerate(lines, 1):
        msgs = got.pop(n, [])
        want = re.search(r"# ([RE]): (.*)$", text)
        if want is None:
            assert not msgs, f"line {n} {text!r}: {msgs}"
        elif want.group(1) == "R":
            assert any(k == "note" and "Revealed type" in m and want.group(2) in m
                       for k, m in msgs), f"line {n} {text!r}: {msgs}"
        else:
            assert any(k == "error" and m.endswith(f"[{want.group(2)}]")
                       for k, m in msgs), f"line {n} {text!r}: {msgs}"
    assert not got, got


def test_user_code_runs():
    """The checked program is a real one: it runs, except for its rejected lines (and
    leaves no global state changed: seeded generators, the cache limit restored)."""
    code = "\n".join(line for line in USER_CODE.splitlines() if "# E:" not in line)
    code = code.replace("reveal_type(", "(")
    exec(compile(code, "user.py", "exec"), {})
