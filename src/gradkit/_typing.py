"""Type aliases of the public signatures, written once.

Imported by the modules only under ``typing.TYPE_CHECKING`` (their annotations are
strings, ``from __future__ import annotations``), so this costs nothing at import time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Protocol, Sequence, SupportsIndex, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

if TYPE_CHECKING:
    from .random import Generator

__all__ = ["Array", "ArrayLike", "Arrays", "DTypeLike", "FloatArray", "NDArray", "RNG",
           "ParamsArg", "Shape", "Steps", "Stepper"]

# any ndarray, and the float32/float64 arrays the kernels return
Array = NDArray[Any]
FloatArray = NDArray[np.floating[Any]]
# one array or a list of them (the list functions take a single ndarray as a list of one;
# None entries are skipped)
Arrays = Union[NDArray[Any], Sequence[Union[NDArray[Any], None]]]
Shape = Union[SupportsIndex, Sequence[SupportsIndex]]
# what as_generator accepts: a Generator, a seed, or None for the default generator
RNG = Union["Generator", int, None]
# an optimizer's params: arrays, or param groups {"params": [...], **options}
ParamsArg = Iterable[Union[NDArray[Any], dict[str, Any]]]
# a step counter per parameter (optim.functional): one int, or one per array of a list
Steps = Union[int, Sequence[int]]


class Stepper(Protocol):
    """What LossScaler.step drives: anything with ``step(grads)`` (a gradkit optimizer)."""
    def step(self, grads: Any, /) -> Any: ...
