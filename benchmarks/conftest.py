"""pytest-benchmark suite over every ``gradkit/bench/cases_*.py`` case.

Run it with ``python -m pytest benchmarks --benchmark-enable`` (the project's pytest
options disable benchmarks by default, which turns this suite into a one-call smoke
run of every callable).  Each case gives up to six tests, grouped together in
pytest-benchmark's table: ``...-gradkit``, ``...-gradkit_out`` (with ``out=``),
``...-limit`` and ``...-limit_phased`` (the case's probe: its streams moved with no
arithmetic, in its two schedules; ``gradkit bench`` scores the faster), ``...-numpy``
(the reference), ``...-<peer>`` (e.g. ``-torch``) and ``...-<peer>_warm`` when the case
has a warm peer callable of its own (a peer that needs the warm-heap subprocess is
timed warm by ``gradkit bench`` only).  Cases that ``gradkit bench --quick`` runs carry the
``quick`` marker: select them with ``-m quick`` or ``-k quick``.  Threads follow
gradkit's default (``OMP_NUM_THREADS``, else all cores); each case sets PyTorch to the
same count.  ``GRADKIT_BENCH_SCALE`` shrinks the sizes (for checking the suite only).
"""
import pytest

from gradkit.bench import core, runner

IMPLS = ("gradkit", "gradkit_out", "limit", "limit_phased", "numpy", "peer", "peer_warm")


def impl_callable(case, impl):
    """The callable of ``case`` that ``impl`` names (None when the case has none)."""
    if impl == "limit_phased":
        return None if case.limit is None else core.limit_forms(case.limit)[impl]
    return getattr(case, impl)


def pytest_configure(config):
    config.addinivalue_line("markers", "quick: part of `python -m gradkit bench --quick`")


def _ident(text):
    return text.replace(" ", "_").replace("(", "").replace(")", "")


def _params():
    cases, errors = runner.discover()
    params = []
    for case in cases:
        for impl in IMPLS:
            fn = impl_callable(case, impl)
            if impl == "peer_warm" and (fn is None or fn is case.peer):
                continue            # no callable of its own (in place: the peer is warm)
            if impl in ("gradkit_out", "limit", "limit_phased") and fn is None:
                continue
            name = {"peer": case.peer_name,
                    "peer_warm": case.peer_name + " warm"}.get(impl, impl)
            marks = [pytest.mark.quick] if case.quick else []
            if fn is None:
                reason = ("the case has no NumPy reference" if impl == "numpy"
                          else "it has no peer" if case.peer_name.startswith("no ")
                          else f"{case.peer_name} is not installed")
                marks.append(pytest.mark.skip(reason=reason))
            ident = f"{case.family}-{_ident(case.op)}-{_ident(case.size)}-{name}"
            params.append(pytest.param(case, impl, id=ident, marks=marks))
    return params, errors


_PARAMS, _DISCOVERY_ERRORS = _params()


@pytest.fixture
def discovery_errors():
    """The cases_<family>.py modules that failed to import or build their cases."""
    return _DISCOVERY_ERRORS


def pytest_generate_tests(metafunc):
    if "bench_case" in metafunc.fixturenames:
        metafunc.parametrize(("bench_case", "impl"), _PARAMS)
