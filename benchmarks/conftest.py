"""pytest-benchmark suite over every ``gradkit/bench/cases_*.py`` case.

Run it with ``python -m pytest benchmarks --benchmark-enable`` (the project's pytest
options disable benchmarks by default, which turns this suite into a one-call smoke
run of every callable).  Each case gives up to three tests, grouped together in
pytest-benchmark's table: ``...-gradkit``, ``...-numpy`` (the reference) and
``...-<peer>`` (e.g. ``-torch``).  Cases that ``gradkit bench --quick`` runs carry the
``quick`` marker: select them with ``-m quick`` or ``-k quick``.  Threads follow
gradkit's default (``OMP_NUM_THREADS``, else all cores); each case sets PyTorch to the
same count.  ``GRADKIT_BENCH_SCALE`` shrinks the sizes (for checking the suite only).
"""
import pytest

from gradkit.bench import runner

IMPLS = ("gradkit", "numpy", "peer")


def pytest_configure(config):
    config.addinivalue_line("markers", "quick: part of `python -m gradkit bench --quick`")


def _ident(text):
    return text.replace(" ", "_").replace("(", "").replace(")", "")


def _params():
    cases, errors = runner.discover()
    params = []
    for case in cases:
        for impl in IMPLS:
            fn = getattr(case, impl)
            name = case.peer_name if impl == "peer" else impl
            marks = [pytest.mark.quick] if case.quick else []
            if fn is None:
                reason = (f"{case.peer_name} is not installed" if impl == "peer"
                          else "the case has no NumPy reference")
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
