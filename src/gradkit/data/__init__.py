"""Small datasets shipped inside the package (no network needed)."""
import gzip
import os

import numpy as np

__all__ = ["load_digits"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def load_digits(dtype=np.float32):
    """The UCI handwritten digits (1,797 8x8 images, CC BY 4.0; see data/README.md).

    Returns
    -------
    X : ndarray of shape (1797, 64)
        Pixel counts 0..16 as ``dtype``.
    y : ndarray of shape (1797,), int64
        The digit, 0..9.
    """
    with gzip.open(os.path.join(_HERE, "digits.csv.gz"), "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].astype(dtype), data[:, -1].astype(np.int64)
