"""AU estimators: measure action-unit intensities on images (real or synthetic).

Registry :data:`AU_ESTIMATORS` (plugins: entry-point group ``ferbench.au_estimators``). An AU
estimator is an object with

- ``name`` (str), ``au_names`` (tuple of AU names it outputs), ``usable_aus`` (the subset whose
  estimates are validated well enough to enter scores), ``unit`` ("facs" or another scale);
- ``fit_reference(images, labels, *, aus=None, au_names=()) -> self``: called once with the
  REAL training set (its normalisation / calibration data);
- ``__call__(images uint8 (N,H,W,C)) -> float64 (N, len(au_names))``, NaN where not measured;
- ``describe() -> dict``: provenance stored with scores.

A wrapper around OpenFace, py-feat or LibreFace weights that the user has locally can register
itself under this group and be selected by name.

Built-in: ``dlib-geometric`` (:class:`ferbench.aus_estimate.geometric.GeometricAUEstimator`):
dlib 68-point landmarks -> landmark geometry -> AU intensities.
"""

from ferbench.registry import Registry

__all__ = ["AU_ESTIMATORS"]

AU_ESTIMATORS = Registry(
    "AU estimator", group="ferbench.au_estimators",
    builtins={"dlib-geometric": "ferbench.aus_estimate.geometric:GeometricAUEstimator"},
)
