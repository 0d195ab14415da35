"""The one place gradkit reaches mpi4py: imported lazily, so ``import gradkit`` never
needs it (it is the optional extra ``gradkit[mpi]``)."""
from __future__ import annotations

from typing import Any


def mpi() -> Any:
    """The ``mpi4py.MPI`` module, or ImportError saying how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:  # the extra is not installed
        raise ImportError(
            "gradkit's MPI features need mpi4py and an MPI library: "
            'pip install "gradkit[mpi]" (mpi4py with the mpich wheel)') from exc
    return MPI


def comm_or_world(comm: Any) -> Any:
    """``comm``, or ``MPI.COMM_WORLD`` when it is None; TypeError for anything that is
    not an mpi4py intracommunicator."""
    MPI = mpi()
    if comm is None:
        return MPI.COMM_WORLD
    if not isinstance(comm, MPI.Intracomm):
        raise TypeError(f"comm must be an mpi4py Intracomm (e.g. MPI.COMM_WORLD) or None, "
                        f"got {type(comm).__name__}")
    return comm
