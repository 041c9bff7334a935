"""The one canonical expression label space.

Indices follow AffectNet's order, so AffectNet labels map onto themselves:
0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger, 7 contempt.
The seven basic expressions are 0..6; contempt exists only where a dataset has it.
Every adapter maps its own names/orders through :func:`canonical` so synonyms
(angry/anger, sadness, happiness, fearful, disgusted, surprised, ...) all land here, and an
unknown name is an error that names it.
"""

from __future__ import annotations

import difflib

import numpy as np

from ferbench.errors import DataError

CANONICAL: tuple[str, ...] = (
    "neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt",
)
BASIC7: tuple[str, ...] = CANONICAL[:7]
INDEX: dict[str, int] = {name: i for i, name in enumerate(CANONICAL)}

_SYNONYMS: dict[str, str] = {
    "neutral": "neutral", "neu": "neutral", "ne": "neutral", "calm": "neutral",
    "happy": "happy", "happiness": "happy", "joy": "happy", "ha": "happy", "hap": "happy",
    "sad": "sad", "sadness": "sad", "sa": "sad",
    "surprise": "surprise", "surprised": "surprise", "su": "surprise", "sur": "surprise",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear", "af": "fear",
    "disgust": "disgust", "disgusted": "disgust", "di": "disgust", "dis": "disgust",
    "anger": "anger", "angry": "anger", "an": "anger", "ang": "anger",
    "contempt": "contempt", "contemptuous": "contempt", "co": "contempt",
}


def canonical(name: str, *, where: str = "") -> str:
    """Map a dataset's class name (any case, synonyms allowed) to the canonical name."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    near = difflib.get_close_matches(key, list(_SYNONYMS), n=1)
    hint = f" (did you mean '{_SYNONYMS[near[0]]}'?)" if near else ""
    loc = f" in {where}" if where else ""
    raise DataError(f"unknown expression class '{name}'{loc}{hint}; known: {', '.join(CANONICAL)}")


def index(name: str, *, where: str = "") -> int:
    """Canonical integer index of a class name (synonyms allowed)."""
    return INDEX[canonical(name, where=where)]


def names(indices) -> list[str]:
    return [CANONICAL[int(i)] for i in indices]


def positions(canonical_labels, classes, *, owner: str = "the model") -> np.ndarray:
    """Canonical label indices -> positions 0..K-1 in ``classes`` (a scorer's output order).
    DataError for an index out of range or a class ``owner`` does not have."""
    y = np.asarray(canonical_labels, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() >= len(CANONICAL)):
        raise DataError(f"labels must be canonical indices 0..{len(CANONICAL) - 1}")
    lut = np.full(len(CANONICAL), -1, dtype=np.int64)
    for pos, c in enumerate(classes):
        lut[INDEX[c]] = pos
    out = lut[y]
    if (out < 0).any():
        bad = sorted({CANONICAL[i] for i in y[out < 0]})
        raise DataError(f"labels {bad} are not classes of {owner} {tuple(classes)}")
    return out
