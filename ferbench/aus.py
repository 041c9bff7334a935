"""FACS action units: the AU vocabulary ferbench uses and the EMFACS-style expression prototypes.

One home for what the toyfaces renderer (:mod:`ferbench.data.toyfaces`), AU-conditioned
generators and AU-fidelity metrics must agree on: the AU names and their order (the columns of
``FaceData.aus`` / ``TrainSet.aus`` for toyfaces, ``au_names == AU_NAMES``) and each basic
class's prototype intensities on the 0..5 FACS scale.
"""

from __future__ import annotations

import numpy as np

from ferbench.errors import ConfigError

__all__ = ["AU_NAMES", "AU_INDEX", "PROTOTYPES", "prototype_vector"]

AU_NAMES: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU17", "AU20",
    "AU23", "AU25", "AU26",
)
#: AU name -> column in ``AU_NAMES`` order.
AU_INDEX: dict[str, int] = {n: i for i, n in enumerate(AU_NAMES)}

#: EMFACS-style prototypes: canonical class name -> AU intensities (0..5) at full strength.
#: (Disgust uses 9+10+15+17 because AU16 is not rendered; contempt is not generated.)
PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 3.0, "AU12": 4.0},
    "sad": {"AU1": 3.5, "AU4": 2.5, "AU15": 3.5},
    "surprise": {"AU1": 4.0, "AU2": 4.0, "AU5": 2.0, "AU26": 4.0},
    "fear": {"AU1": 3.5, "AU2": 3.0, "AU4": 2.5, "AU5": 3.5, "AU7": 2.0, "AU20": 3.5, "AU26": 3.0},
    "disgust": {"AU9": 3.5, "AU10": 3.0, "AU15": 2.5, "AU17": 2.5},
    "anger": {"AU4": 4.0, "AU5": 3.0, "AU7": 3.0, "AU23": 3.5},
}


def prototype_vector(cls: str) -> np.ndarray:
    """The prototype of canonical class ``cls`` as a float32 vector in ``AU_NAMES`` order (zeros
    for AUs the prototype does not use). ConfigError for a class without a prototype (e.g.
    ``contempt``, whose unilateral AU14 is not in ``AU_NAMES``)."""
    if cls not in PROTOTYPES:
        raise ConfigError(f"no AU prototype for class '{cls}'; "
                          f"prototypes exist for {', '.join(PROTOTYPES)}")
    out = np.zeros(len(AU_NAMES), dtype=np.float32)
    for name, value in PROTOTYPES[cls].items():
        out[AU_INDEX[name]] = value
    return out
