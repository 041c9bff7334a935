"""Expression-space features: the reference FER evaluator's penultimate layer (1024-d).

Why: Inception features were trained on ImageNet objects; two faces with different expressions
can be close in them. The reference evaluator (:mod:`ferbench.metrics.evaluator`), trained by
ferbench on the real training split, embeds faces by expression, so a Fréchet distance in its
feature space ("expression-space FD") measures how well the synthetic set reproduces the real
expression distribution.

Decision: images must already be at the evaluator's resolution and channel count (the fidelity
protocol generates at the dataset's); there is no resize, so ``resize_mode`` is ``"none"``.
"""

from __future__ import annotations

import numpy as np

from ferbench.metrics.evaluator import ReferenceEvaluator

__all__ = ["ExpressionFeatures"]


class ExpressionFeatures:
    """Callable: uint8 ``(N,H,W,C)`` -> float64 ``(N, 1024)`` evaluator features."""

    resize_mode = "none"

    def __init__(self, evaluator: ReferenceEvaluator, *, device: str = "cpu",
                 batch_size: int = 512) -> None:
        self.evaluator = evaluator
        self.device = device
        self.batch_size = int(batch_size)
        self.dim = int(evaluator.model.classifier[1].out_features)

    @property
    def name(self) -> str:
        return f"fer-evaluator-{self.evaluator.key}"

    @property
    def weights_sha256(self) -> str:
        return self.evaluator.weights_sha256

    def describe(self) -> dict:
        return {"extractor": "fer-evaluator", "evaluator_key": self.evaluator.key,
                "weights_sha256": self.weights_sha256, "resize_mode": self.resize_mode,
                "dim": self.dim, "precision": "fp32"}

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.evaluator.features(images, device=self.device, batch_size=self.batch_size)
