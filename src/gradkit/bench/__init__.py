"""`python -m gradkit bench`: gradkit against NumPy and PyTorch, scored on this machine's
memory roofline.  Cases live in ``cases_<family>.py`` modules (each defines
``cases() -> list[Case]``) and are found automatically."""
from .core import Case, scaled, size_scale, try_import_torch
from .runner import run as main

__all__ = ["Case", "main", "scaled", "size_scale", "try_import_torch"]
