"""Shared conventions of the fidelity metrics: feature-array checks and "not computable".

Decision (issue 7, "report what they can, and say so"): a fidelity metric never raises because
a set is small. It returns its usual dict with the value(s) set to ``NaN`` and
``not_computable`` holding a one-line reason; when the value is computed, ``not_computable`` is
``None``. Malformed input (wrong shape, NaN features, mismatched dimensions) is still an error.
"""

from __future__ import annotations

import numpy as np

from ferbench.errors import DataError

__all__ = ["as_features", "not_computable", "NAN"]

NAN = float("nan")


def as_features(x, name: str) -> np.ndarray:
    """A finite float64 ``(N, D)`` array, or a one-line :class:`DataError` naming ``name``."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise DataError(f"{name} must be a 2-D (N, D) feature array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise DataError(f"{name} holds NaN or infinite values")
    return a


def same_dim(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise DataError(f"{names}: feature dimensions differ ({a.shape[1]} vs {b.shape[1]})")


def not_computable(reason: str, **fields) -> dict:
    """A result whose named value fields are NaN, with the reason."""
    return {**{k: NAN for k in fields.pop("values", ())}, **fields, "not_computable": reason}
