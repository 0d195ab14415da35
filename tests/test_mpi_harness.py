"""The mpiexec harness itself: a collective across ranks comes back, and a failing rank
fails the run (so the MPI tests that use it can fail)."""
import pytest

from _mpi import run_mpi


def test_allreduce_across_two_ranks(tmp_path):
    out = run_mpi("""
        from mpi4py import MPI
        import numpy as np
        import gradkit
        comm = MPI.COMM_WORLD
        total = comm.allreduce(comm.rank + 1)
        print(f"rank {comm.rank} of {comm.size}: {total}")
    """, n=2, tmp_path=tmp_path)
    assert "rank 0 of 2: 3" in out and "rank 1 of 2: 3" in out


def test_a_failing_rank_fails_the_run(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="exited"):
        run_mpi("""
            from mpi4py import MPI
            if MPI.COMM_WORLD.rank == 1:
                raise SystemExit(3)
        """, n=2, tmp_path=tmp_path)
