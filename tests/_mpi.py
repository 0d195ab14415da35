"""Running a test script under ``mpiexec -n N`` from pytest.

The script is Python text run on every rank with gradkit importable; a rank that fails
raises, and mpiexec's nonzero status fails the test with every rank's output.  Skipped
with a reason when mpi4py or mpiexec is missing (the optional extra ``gradkit[mpi]``)."""
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap

import pytest


def mpiexec():
    """The mpiexec that goes with this interpreter's mpi4py: the one beside
    ``sys.executable`` (where the mpich wheel puts it), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


def require_mpi():
    """Skip the calling test unless mpi4py and mpiexec are both there."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip('mpi4py is not installed (pip install "gradkit[mpi]")')
    if mpiexec() is None:
        pytest.skip("no mpiexec beside the interpreter or on PATH")


def run_mpi(script, n=2, *, tmp_path, timeout=120, args=()):
    """Run ``script`` (Python source) on ``n`` ranks; return the combined output.

    Fails the test, with the output, when any rank exits nonzero or the run takes more
    than ``timeout`` seconds (a hang: a collective some rank never reached)."""
    require_mpi()
    path = tmp_path / f"mpi_script_{n}.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # n ranks on 2 cores: no oversubscription
    cmd = [mpiexec(), "-n", str(n), sys.executable, str(path), *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mpiexec -n {n} timed out after {timeout} s (a hang?)\n"
                    f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}")
    if proc.returncode != 0:
        pytest.fail(f"mpiexec -n {n} exited {proc.returncode}\n"
                    f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout
