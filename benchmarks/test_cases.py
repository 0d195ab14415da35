"""Every benchmark case's gradkit (with its cache and with out=), limit, NumPy and peer
callables under pytest-benchmark (see conftest.py for how to run and select them).
Compare a group's ``-limit`` (or ``-limit_phased``, the faster) with its ``-gradkit``:
the share of the limit."""
from conftest import impl_callable


def test_cases_modules_load(discovery_errors):
    """Every cases_<family>.py module imports and builds its cases."""
    assert not discovery_errors, "\n".join(
        f"cases_{e['family']}.py:\n{e['error']}" for e in discovery_errors)


def test_case(benchmark, bench_case, impl):
    benchmark.group = f"{bench_case.family}: {bench_case.op} ({bench_case.size})"
    benchmark.extra_info.update(op=bench_case.op, size=bench_case.size, impl=impl,
                                bytes=bench_case.bytes, goal=bench_case.goal)
    benchmark(impl_callable(bench_case, impl))
    stats = getattr(benchmark, "stats", None)
    if stats is not None and bench_case.bytes is not None:
        benchmark.extra_info["GB/s"] = bench_case.bytes / stats.stats.median / 1e9
