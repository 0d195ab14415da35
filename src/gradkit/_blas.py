"""One process-wide limit of the BLAS thread pools to a single thread.

threadpoolctl's limits are process-wide state.  Taken from several Python threads at
once, each ``with threadpool_limits(...)`` saves what it found and restores it on exit;
exits in another order than the entries put back a limit that another caller had set,
and BLAS stays single-threaded for the rest of the process.  Here the first entrant
sets the limit and the last one out restores the original, under one lock (a count
of the callers inside).  Used where a result must not depend on the BLAS threads
(OpenBLAS splits products differently for different thread counts: the bits change),
or where gradkit's own threads each call BLAS.
"""
import contextlib
import threading

_lock = threading.Lock()
_inside = 0          # callers inside single_threaded()
_restore = None      # what the first of them must hand back
_controller: list = []   # [ThreadpoolController or None], made on first use


def _get_controller():
    if not _controller:
        try:
            from threadpoolctl import ThreadpoolController
            import scipy.linalg  # noqa: F401  (load scipy's BLAS so it is seen too)
            _controller.append(ThreadpoolController())
        except Exception:  # not installed (it is optional), or no BLAS found
            _controller.append(None)
    return _controller[0]


def available():
    """Whether the BLAS threads can be limited (threadpoolctl is importable)."""
    return _get_controller() is not None


@contextlib.contextmanager
def single_threaded():
    """Inside, every BLAS library of the process runs on one thread (when threadpoolctl
    is importable; otherwise nothing changes).  Re-entrant and thread-safe: the
    original limits come back when the last caller leaves."""
    global _inside, _restore
    ctl = _get_controller()
    if ctl is None:
        yield False
        return
    with _lock:
        if _inside == 0:
            _restore = ctl.limit(limits=1, user_api="blas")
        _inside += 1
    try:
        yield True
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                _restore.restore_original_limits()
                _restore = None
