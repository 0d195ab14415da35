"""`python -m gradkit bench`: gradkit against NumPy and PyTorch (cold and warm), each
memory-bound kernel scored on its own limit -- a probe moving the kernel's streams,
timed in the same run.  Cases live in ``cases_<family>.py`` modules (each defines
``cases() -> list[Case]`` and, for the size sweep, ``sweep(n) -> list[Case]``) and are
found automatically."""
from .core import Case, Lazy, passes, probe, probe_each, scaled, size_scale, try_import_torch
from .runner import run as main

__all__ = ["Case", "Lazy", "main", "passes", "probe", "probe_each", "scaled", "size_scale",
           "try_import_torch"]
