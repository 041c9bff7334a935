"""Feature extractors for the fidelity metrics, one per file, registered in
:data:`FEATURE_EXTRACTORS` (plugins: entry-point group ``ferbench.feature_extractors``).

An extractor is a callable ``extractor(images_uint8_nhwc) -> float64 (N, dim)`` with attributes
``name``, ``weights_sha256``, ``resize_mode`` and ``dim`` (all stored with a score, and part of
the feature-cache key), and ``describe() -> dict``.

Built-ins:

``inception-v3``
    :class:`ferbench.features.inception.InceptionFeatures`: 2048-d pool features of the FID
    Inception network, offline, clean-fid ``mode="clean"`` resizing.
``fer-evaluator``
    :class:`ferbench.features.expression.ExpressionFeatures`: 1024-d penultimate features of
    ferbench's reference FER evaluator (create with ``evaluator=<ReferenceEvaluator>``).
"""

from ferbench.registry import Registry

__all__ = ["FEATURE_EXTRACTORS"]

FEATURE_EXTRACTORS = Registry(
    "feature extractor", group="ferbench.feature_extractors",
    builtins={
        "inception-v3": "ferbench.features.inception:InceptionFeatures",
        "fer-evaluator": "ferbench.features.expression:ExpressionFeatures",
    },
)
