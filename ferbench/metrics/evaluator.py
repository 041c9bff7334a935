"""The reference FER evaluator: an independent scorer for label fidelity and the feature space
of the expression-space Fréchet distance.

Why: a generator's claimed labels must be checked by a model the generator never sees. ferbench
trains this model itself, with a fixed recipe, on the real dataset's TRAINING split (only),
caches it under a key derived from the data and the recipe, and keeps it in ferbench core: it is
never passed to, nor importable through, the generator API (``TrainSet`` has no reference to it).

Recipe (:data:`RECIPE_VERSION` "1"; bump it when anything below changes): the fixed classifier
``noncomplex-cnn`` trained by :func:`ferbench.classify.train_classifier` with
``train_config(budget, "noncomplex-cnn")`` (default budget ``quick``: 15 epochs, at least 600
steps, Adam 1e-3, cosine), seed 0 by default, on all training images and all classes.

Cache: ``<home>/<key>/model.safetensors`` + ``meta.json``, where ``key`` is the first 24 hex
digits of sha256 over ``(dataset content hash, resolution, channels, classes, recipe version,
classifier, budget, seed)``: derived, never user-chosen. Both files are written to a temporary
name and moved into place with ``os.replace``; ``meta.json`` is written last and marks a
complete entry. The evaluator's accuracy on a real held-out split, when one is given, is stored
in ``meta.json`` (``test_accuracy``) so that label-fidelity scores can be read against it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferbench.errors import DataError, FerbenchError
from ferbench.labels import INDEX, positions

__all__ = ["RECIPE_VERSION", "ReferenceEvaluator", "evaluator_key", "get_evaluator",
           "load_evaluator", "label_fidelity", "evaluator_at_chance"]

RECIPE_VERSION = "1"
CLASSIFIER = "noncomplex-cnn"


@dataclass
class ReferenceEvaluator:
    """A trained reference classifier with what it was trained on."""

    model: nn.Module
    classes: tuple[str, ...]
    resolution: int
    channels: int
    key: str
    path: Path
    meta: dict = field(default_factory=dict)

    @property
    def weights_sha256(self) -> str:
        return str(self.meta["weights_sha256"])

    def positions(self, canonical_labels) -> np.ndarray:
        """Canonical label indices -> positions 0..K-1 in ``classes`` (DataError if absent)."""
        return positions(canonical_labels, self.classes, owner="the evaluator")

    def check_images(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        want = (self.resolution, self.resolution, self.channels)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != want:
            raise DataError(f"images for the reference evaluator must be uint8 (N,{want[0]},"
                            f"{want[1]},{want[2]}), got {images.dtype} {images.shape}")
        return images

    def predict(self, images: np.ndarray, *, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """Class positions and probabilities (``ferbench.classify.predict``)."""
        from ferbench.classify import predict

        return predict(self.model, self.check_images(images), device=device)

    @torch.inference_mode()
    def features(self, images: np.ndarray, *, device: str = "cpu",
                 batch_size: int = 512) -> np.ndarray:
        """Penultimate-layer activations (after the 1024-unit dense layer's ReLU), float64."""
        from ferbench.classify.loop import _normalise, _to_device_uint8

        images = self.check_images(images)
        dev = torch.device(device)
        model = self.model.to(dev).eval()
        head = model.classifier[:3]  # Flatten, Linear(., 1024), ReLU
        out = []
        for s in range(0, len(images), batch_size):
            x = _normalise(_to_device_uint8(images[s:s + batch_size], dev), False)
            out.append(head(model.features(x)).double().cpu().numpy())
        width = head[1].out_features
        return np.concatenate(out) if out else np.zeros((0, width), np.float64)


def evaluator_key(content_hash: str, resolution: int, channels: int, classes,
                  *, budget: str = "quick", seed: int = 0, config: dict | None = None) -> str:
    """Cache key; ``config`` (a ``TrainConfig.to_dict()``) only when the recipe is overridden."""
    fields = {"data": content_hash, "resolution": int(resolution), "channels": int(channels),
              "classes": list(classes), "recipe": RECIPE_VERSION, "classifier": CLASSIFIER,
              "budget": budget, "seed": int(seed)}
    if config is not None:
        fields["config"] = config
    payload = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _atomic_write(path: Path, write) -> None:
    """``write(tmp_path)`` then rename (:func:`ferbench.paths.atomic_write_path`)."""
    from ferbench.paths import atomic_write_path

    atomic_write_path(path, write)


def load_evaluator(path: str | Path) -> ReferenceEvaluator:
    """Load a cached evaluator directory (``model.safetensors`` + ``meta.json``)."""
    from safetensors.torch import load_file

    from ferbench.classify import build_classifier

    path = Path(path)
    meta_file, weights = path / "meta.json", path / "model.safetensors"
    if not meta_file.is_file() or not weights.is_file():
        raise FerbenchError(f"{path}: not a complete reference-evaluator cache entry")
    meta = json.loads(meta_file.read_text())
    if meta.get("recipe") != RECIPE_VERSION:
        raise FerbenchError(f"{meta_file}: recipe {meta.get('recipe')} != {RECIPE_VERSION}")
    classes = tuple(meta["classes"])
    model = build_classifier(CLASSIFIER, len(classes), meta["channels"], meta["resolution"])
    model.load_state_dict(load_file(str(weights)))
    model.eval()
    return ReferenceEvaluator(model=model, classes=classes, resolution=meta["resolution"],
                              channels=meta["channels"], key=meta["key"], path=path, meta=meta)


def get_evaluator(train, *, home: str | Path, budget: str = "quick", seed: int = 0,
                  device: str = "cpu", test=None, progress: bool = False,
                  config=None) -> ReferenceEvaluator:
    """The reference evaluator for ``train`` (a ``FaceData`` TRAIN split): from the cache under
    ``home`` if present, else trained with the fixed recipe and cached.

    ``test`` (optional ``FaceData``): a real held-out split; the evaluator's accuracy on it is
    recorded in ``meta["test_accuracy"]`` (computed once per test content hash).
    ``config``: a ``TrainConfig`` replacing the budget's recipe (tests, experiments); it becomes
    part of the cache key. Leave it None for benchmark scores.
    """
    from safetensors.torch import save_file

    from ferbench.classify import train_classifier, train_config
    from ferbench.metrics.classification import classification_scores

    if getattr(train, "split", "train") != "train":
        raise FerbenchError(f"the reference evaluator is trained on a train split only, not "
                            f"'{train.split}'")
    h = train.content_hash()
    key = evaluator_key(h, train.resolution, train.channels, train.classes, budget=budget,
                        seed=seed, config=None if config is None else config.to_dict())
    entry = Path(home) / key
    if (entry / "meta.json").is_file():
        ev = load_evaluator(entry)
    else:
        cfg = config if config is not None else train_config(budget, CLASSIFIER)
        model = train_classifier(CLASSIFIER, train.images, train.contiguous_labels(),
                                 len(train.classes), seed=seed, config=cfg, device=device,
                                 progress=progress, desc="reference evaluator")
        model = model.cpu().eval()
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        _atomic_write(entry / "model.safetensors", lambda p: save_file(state, p))
        from ferbench.assets import file_sha256

        meta = {"key": key, "recipe": RECIPE_VERSION, "classifier": CLASSIFIER,
                "budget": budget, "recipe_overridden": config is not None,
                "seed": int(seed), "dataset": train.name,
                "dataset_hash": h, "classes": list(train.classes),
                "resolution": train.resolution, "channels": train.channels,
                "n_train": len(train), "train_config": cfg.to_dict(),
                "train_info": {k: v for k, v in model.ferbench_train_info.items()
                               if k != "config"},
                "weights_sha256": file_sha256(entry / "model.safetensors")}
        _write_meta(entry, meta)
        ev = load_evaluator(entry)
    if test is not None:
        th = test.content_hash()
        if ev.meta.get("test_hash") != th:
            keep = np.isin(test.labels, [INDEX[c] for c in ev.classes])
            y = ev.positions(test.labels[keep])
            pred, _ = ev.predict(test.images[keep], device=device)
            s = classification_scores(y, pred, list(ev.classes), n_boot=0)
            ev.meta.update(test_hash=th, test_split=f"{test.name}/{test.split}",
                           test_accuracy=s["accuracy"], test_n=int(keep.sum()))
            _write_meta(entry, ev.meta)
    return ev


def _write_meta(entry: Path, meta: dict) -> None:
    _atomic_write(entry / "meta.json",
                  lambda p: Path(p).write_text(json.dumps(meta, indent=1, sort_keys=True)))


def evaluator_at_chance(evaluator: ReferenceEvaluator, alpha: float = 0.01) -> bool | None:
    """True if the evaluator's held-out accuracy is not significantly above chance (one-sided
    exact binomial test at ``alpha``); None if no held-out accuracy is recorded.

    Why: the fixed recipe can leave the noncomplex CNN on its initial plateau (loss ln K) when
    the training set is small (observed on toyfaces at 32 px: still at chance after 220 Adam
    steps); label fidelity measured with such an evaluator would be meaningless.
    """
    from scipy.stats import binomtest

    acc, n = evaluator.meta.get("test_accuracy"), evaluator.meta.get("test_n")
    if acc is None or not n:
        return None
    k = int(round(acc * n))
    return bool(binomtest(k, int(n), 1.0 / len(evaluator.classes),
                          alternative="greater").pvalue >= alpha)


def label_fidelity(evaluator: ReferenceEvaluator, images: np.ndarray, claimed_labels,
                   classes=None, *, n_boot: int = 1000, seed: int = 0,
                   device: str = "cpu") -> dict:
    """How often the reference evaluator agrees with the labels a generator claims.

    ``claimed_labels``: canonical label indices (as in ``SampleBatch.labels``). ``classes``: the
    class names to report (default: the evaluator's); claimed labels outside them are an error.
    Returns ``accuracy`` (with a bootstrap 95% CI ``accuracy_lo``/``accuracy_hi``),
    ``per_class_recall`` ``{class: recall or None if no image claimed it}``, ``support``,
    ``n``, ``chance`` (1/K) and the evaluator's ``evaluator_key``/``evaluator_test_accuracy``/
    ``evaluator_at_chance`` (see :func:`evaluator_at_chance`; then ``note`` says so).
    """
    from ferbench.metrics.classification import classification_scores

    classes = tuple(classes or evaluator.classes)
    missing = [c for c in classes if c not in evaluator.classes]
    if missing:
        raise DataError(f"classes {missing} are not classes of the reference evaluator")
    y = evaluator.positions(claimed_labels)
    images = evaluator.check_images(images)
    if len(y) != len(images):
        raise DataError(f"{len(images)} images but {len(y)} claimed labels")
    at_chance = evaluator_at_chance(evaluator)
    base = {"chance": 1.0 / len(evaluator.classes), "evaluator_key": evaluator.key,
            "evaluator_test_accuracy": evaluator.meta.get("test_accuracy"),
            "evaluator_at_chance": at_chance,
            "note": "the reference evaluator is not above chance on the held-out split: this "
                    "label fidelity says nothing" if at_chance else ""}
    if len(y) == 0:
        return {"accuracy": float("nan"), "per_class_recall": {}, "support": {}, "n": 0,
                **base, "not_computable": "no images"}
    pred, _ = evaluator.predict(images, device=device)
    s = classification_scores(y, pred, list(evaluator.classes), n_boot=n_boot, seed=seed)
    per = {p["class"]: p for p in s["per_class"]}
    return {"accuracy": s["accuracy"], "accuracy_lo": s["accuracy_lo"],
            "accuracy_hi": s["accuracy_hi"],
            "per_class_recall": {c: (per[c]["recall"] if per[c]["support"] else None)
                                 for c in classes},
            "support": {c: per[c]["support"] for c in classes}, "n": int(len(y)), **base,
            "not_computable": None}
