""":class:`FolderSubmission`: a stored folder/archive submission served as a generator.

Decisions:

* **No fit.** ``fit`` trains nothing and never looks at the training images' content: it
  only records the protocol's resolution and channels from the training view's shape, so the
  submitted images can be served at that size. ``requires_fit = False`` marks it for the
  harness; until the plan skips the fit stage for such generators, the fit job runs this
  trivial ``fit`` (milliseconds) and ``save``/``load`` store only a small config (resolution,
  channels, the submission's sha256), so the fit is cached like any other.
* **Sampling.** ``generate(labels, seed)`` returns submitted images of the requested labels,
  drawn per class with a seeded permutation, *without replacement within a call*; a request
  for more images of a class than the submission holds is an error naming the class and the
  counts. Different calls (pool blocks) draw independently, so across blocks an image can
  recur; the validation report states the largest ratio that needs no reuse.
* **Resizing.** Images are stored at their submitted size and converted/centre-cropped/
  resized to the protocol's resolution with the same rule as dataset decoding (Pillow
  bicubic); the sizes are recorded in the batch ``info`` (hence in pool statistics).
* **Identity.** ``meta.version`` is ``<version>+<sha256[:12]>`` so pools and cells are keyed
  on the exact submitted images. ``meta.family = "submission"`` marks its leaderboard rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ferbench.api.generator import (
    GENERATORS,
    Budget,
    GeneratorMeta,
    SampleBatch,
    load_fitted,
    save_fitted,
)
from ferbench.data.base import TrainSet
from ferbench.data.decode import RESAMPLE
from ferbench.errors import FerbenchError
from ferbench.labels import CANONICAL


class FolderSubmission:
    """Base class; :func:`submission_class` makes one subclass per stored submission."""

    meta = GeneratorMeta(name="folder-submission", version="0", family="submission")
    submission_dir: str = ""
    sha256: str = ""
    requires_fit = False

    def __init__(self) -> None:
        pass

    def get_params(self) -> dict:
        return {}

    # -- data -----------------------------------------------------------------------------
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_images"):
            with np.load(Path(self.submission_dir) / "images.npz") as z:
                self._images, self._labels = z["images"], z["labels"]
        return self._images, self._labels

    def fit(self, train: TrainSet, *, seed: int, budget: Budget, device: str = "cpu"
            ) -> FolderSubmission:
        """Trivial: records the protocol's image shape only (no training, see module doc)."""
        self.resolution_, self.channels_ = int(train.images.shape[1]), int(train.images.shape[3])
        return self

    def _resize(self, arr: np.ndarray) -> np.ndarray:
        res = getattr(self, "resolution_", None)
        ch = getattr(self, "channels_", None)
        if res is None:
            return arr
        im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
        mode = "L" if ch == 1 else "RGB"
        if im.mode != mode:
            im = im.convert(mode)
        w, h = im.size
        if w != h:
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        if im.size != (res, res):
            im = im.resize((res, res), RESAMPLE)
        out = np.asarray(im, dtype=np.uint8)
        return out[:, :, None] if ch == 1 else out

    def generate(self, labels: np.ndarray, *, seed: int, aus: np.ndarray | None = None
                 ) -> SampleBatch:
        images, have = self._arrays()
        labels = np.asarray(labels, dtype=np.int64)
        rng = np.random.default_rng([int(seed), 0x5B17])
        pick = np.empty(len(labels), dtype=np.int64)
        for c in np.unique(labels):
            pos = np.flatnonzero(labels == c)
            pool = np.flatnonzero(have == c)
            if len(pos) > len(pool):
                raise FerbenchError(
                    f"submission '{self.meta.name}' holds {len(pool)} '{CANONICAL[int(c)]}' "
                    f"images but {len(pos)} were requested in one call; submit more images of "
                    "that class or run a smaller real_per_class")
            pick[pos] = rng.choice(pool, size=len(pos), replace=False)
        out = np.stack([self._resize(images[i]) for i in pick]) if len(pick) else \
            np.zeros((0, getattr(self, "resolution_", 1), getattr(self, "resolution_", 1),
                      getattr(self, "channels_", 1)), np.uint8)
        info = {"submitted_size": list(images.shape[1:]), "served_size": list(out.shape[1:]),
                "submission_sha256": self.sha256}
        return SampleBatch(images=out, labels=labels.copy(), info=info)

    # -- fit cache --------------------------------------------------------------------------
    def save(self, path) -> None:
        save_fitted(path, {}, {"resolution": getattr(self, "resolution_", None),
                               "channels": getattr(self, "channels_", None),
                               "sha256": self.sha256})

    @classmethod
    def load(cls, path, *, device: str = "cpu") -> FolderSubmission:
        _, cfg = load_fitted(path, device)
        if cfg.get("sha256") != cls.sha256:
            raise FerbenchError(f"saved fit at {path} is for different submitted images")
        gen = cls()
        if cfg.get("resolution") is not None:
            gen.resolution_, gen.channels_ = int(cfg["resolution"]), int(cfg["channels"])
        return gen


def submission_class(info: dict) -> type[FolderSubmission]:
    """A FolderSubmission subclass serving the stored submission described by ``info``."""
    classes = tuple(sorted(info.get("counts", {})))
    meta = GeneratorMeta(
        name=info["name"], version=f"{info['version']}+{info['sha256'][:12]}",
        family="submission", conditioning=("label",), license=info.get("license", "unknown"),
        description=(f"folder submission: {info['n']} images {info['size'][0]}x"
                     f"{info['size'][1]} {info['mode']}; classes {', '.join(classes)}"),
        training_data="declared by the submitter", url=info.get("url", ""))
    return type(f"FolderSubmission_{info['name']}", (FolderSubmission,),
                {"meta": meta, "submission_dir": info["dir"], "sha256": info["sha256"],
                 "__module__": __name__})


def register_submissions(registry=GENERATORS) -> list[str]:
    """Register every accepted submission under ``$FERBENCH_HOME/submissions`` as a generator
    (the newest accepted version of each name wins). Returns the names registered."""
    from ferbench.submit.store import accepted

    latest: dict[str, dict] = {}
    for info in accepted():
        latest[info["name"]] = info
    names = []
    for name, info in latest.items():
        src = registry.source(name) if name in registry else None
        if src is not None and not str(src).startswith("submission"):
            continue  # a plugin or built-in of that name wins; submit refuses such names
        registry.register(name, submission_class(info), replace=True,
                          source=f"submission:{info['dir']}")
        names.append(name)
    return names
