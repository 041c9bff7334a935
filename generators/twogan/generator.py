"""``TwoGAN``: paper A's two-GAN pipeline as a ferbench generator (contract v2).

Pipeline (Gholipour Picha, Al Chanti & Caplier, VISAPP 2023): draw ``z`` -> the identity GAN
invents a face -> the expression GAN (StarGAN) translates it to the requested expression ->
the face is returned with the requested label. Both GANs are fitted on the benchmark's real
training faces only; the expression GAN uses their labels.

Decisions (the task was silent on these)
----------------------------------------
- Conditioning is the one-hot label only (``meta.conditioning == ("label",)``); ``aus`` passed
  to ``generate`` are ignored. A GANimation-style AU target would need an AU regression head
  and datasets with AUs; it is left for later.
- The working resolution is the schedule's ``resolution`` (quick: 32 px, for CPU cost; see
  :mod:`.budgets`) or, when that is 0 (full), the training resolution rounded up to a
  multiple of 8 (the nets halve it three times). Training images are resized to it and the
  output is resized back to the training resolution (antialiased bilinear).
- Per-budget compute lives in :mod:`.budgets` (``SCHEDULES``). The parameters ``id_iters``,
  ``expr_iters``, ``batch_size``, ``width``, ``n_res`` and ``checkpoint_every`` default to
  ``None`` = "the budget's value"; the resolved schedule is stored in the saved config, in
  ``fit_log_`` and in every ``SampleBatch.info``.
- Reproducibility: one ``torch.Generator`` seeded from ``fit``'s seed drives all training
  randomness, weight init runs under ``torch.manual_seed(seed)`` inside ``fork_rng`` (the
  caller's global RNG is untouched), and ``generate`` draws ``z`` from a generator seeded
  with its own seed, in fixed chunks, with both nets in eval mode (the identity generator's
  batch norm uses standing statistics), so the same seed gives bit-identical images on CPU.
- ``generate`` returns exactly the request (no relabelling, no dropping): the label is the
  requested one by construction, as in paper A.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ferbench.api import (
    Budget,
    GeneratorMeta,
    SampleBatch,
    TrainSet,
    init_params,
    load_fitted,
    save_fitted,
)

from .budgets import OVERRIDABLE, Schedule, resolve
from .losses import parse_policy
from .nets import ExpressionG, IdentityG
from .train import Trainer, fingerprint

#: Images per forward pass in ``generate`` (fixed, so output never depends on request size).
CHUNK = 256
#: Batches of 64 used to re-estimate the identity generator's batch-norm statistics.
STANDING_BATCHES = 16


def _to_float(images: np.ndarray, res: int) -> torch.Tensor:
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    if x.shape[-1] != res:
        x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True,
                          align_corners=False).clamp(-1, 1)
    return x


def _to_uint8(x: torch.Tensor, res: int) -> np.ndarray:
    if x.shape[-1] != res:
        x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True,
                          align_corners=False)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def standing_stats(gid: IdentityG, z_dim: int, seed: int, device) -> None:
    """Re-estimate the generator's batch-norm statistics as an exact average over
    ``STANDING_BATCHES`` batches of generated images (BigGAN's "standing statistics")."""
    g = torch.Generator().manual_seed(int(seed) + 0x57A)
    bns = [m for m in gid.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    gid.train()
    for _ in range(STANDING_BATCHES):
        gid(torch.randn(64, z_dim, generator=g).to(device))
    for m in bns:
        m.momentum = 0.1
    gid.eval()


class TwoGAN:
    """Identity GAN (DCGAN-class, spectral norm, hinge, DiffAugment) followed by an
    expression GAN (StarGAN, WGAN-GP, lambda_cls=1, lambda_rec=10, lambda_gp=10,
    n_critic=5), as in paper A. See the package docstring and :mod:`.nets` for why."""

    meta = GeneratorMeta(
        name="twogan", version="1", family="gan", conditioning=("label",),
        license="Apache-2.0",
        description=("Paper A's pipeline: an unconditional identity GAN (SN-DCGAN, hinge, "
                     "DiffAugment) then a StarGAN expression translator (WGAN-GP)."),
        training_data="the benchmark's real training split (images and expression labels)",
        url="https://doi.org/10.5220/0011623700003417",
    )

    def __init__(self, id_iters: int | None = None, expr_iters: int | None = None,
                 batch_size: int | None = None, width: int | None = None,
                 n_res: int | None = None, checkpoint_every: int | None = None,
                 resolution: int | None = None,
                 z_dim: int = 64, n_critic: int = 5, lambda_cls: float = 1.0,
                 lambda_rec: float = 10.0, lambda_gp: float = 10.0, lr_id: float = 2e-4,
                 lr_expr: float = 1e-4, diffaugment: str = "color,translation,cutout",
                 lr_warmup: float = 1e-3, cls_warmup: int | None = None):
        self.id_iters = id_iters
        self.expr_iters = expr_iters
        self.batch_size = batch_size
        self.width = width
        self.n_res = n_res
        self.checkpoint_every = checkpoint_every
        self.resolution = resolution
        self.z_dim = z_dim
        self.n_critic = n_critic
        self.lambda_cls = lambda_cls
        self.lambda_rec = lambda_rec
        self.lambda_gp = lambda_gp
        self.lr_id = lr_id
        self.lr_expr = lr_expr
        self.lr_warmup = lr_warmup
        self.cls_warmup = cls_warmup
        self.diffaugment = diffaugment

    def get_params(self) -> dict:
        return init_params(self)

    # -- fitting ---------------------------------------------------------------------------
    def schedule(self, budget: Budget | str) -> Schedule:
        """The schedule a fit at ``budget`` uses (the budget's defaults + overrides)."""
        name = budget if isinstance(budget, str) else budget.name
        return resolve(name, **{k: getattr(self, k) for k in OVERRIDABLE})

    def _hp(self) -> dict:
        for k in ("z_dim", "n_critic"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"twogan: parameter '{k}' must be >= 1, got {getattr(self, k)}")
        return {"z_dim": int(self.z_dim), "n_critic": int(self.n_critic),
                "lambda_cls": float(self.lambda_cls), "lambda_rec": float(self.lambda_rec),
                "lambda_gp": float(self.lambda_gp), "lr_id": float(self.lr_id),
                "lr_expr": float(self.lr_expr), "lr_warmup": float(self.lr_warmup),
                "policy": parse_policy(self.diffaugment)}

    def fit(self, train: TrainSet, *, seed: int, budget: Budget, device: str = "cpu",
            workdir=None) -> TwoGAN:
        if len(train) == 0:
            raise ValueError("twogan: the training set is empty")
        hp, sched = self._hp(), self.schedule(budget)
        _, h, w, c = train.images.shape
        if h != w:
            raise ValueError(f"twogan: needs square images, got {h}x{w}")
        classes = np.array(sorted(set(np.asarray(train.labels).tolist())), dtype=np.int64)
        if len(classes) < 2:
            raise ValueError("twogan: the expression GAN needs at least two classes")
        work_res = sched.resolution or max(16, -(-h // 8) * 8)
        x = _to_float(train.images, work_res)
        y = torch.from_numpy(np.searchsorted(classes, np.asarray(train.labels)))
        trainer = Trainer(x, y, len(classes), sched, hp, seed, device)
        fp = fingerprint(x, y, {**hp, "policy": list(hp["policy"])}, sched, seed)
        trainer.run(workdir, fp)
        standing_stats(trainer.gid, hp["z_dim"], seed, trainer.device)
        trainer.gex.eval()
        self.gid_, self.gex_ = trainer.gid, trainer.gex
        self.classes_ = classes
        self.shape_ = (int(h), int(w), int(c))
        self.work_res_ = work_res
        self.budget_ = budget.name
        self.schedule_ = sched
        self.device_ = str(trainer.device)
        self.fit_log_ = {**trainer.log, "id_step": trainer.id_step,
                         "warm_step": trainer.warm_step, "expr_step": trainer.expr_step}
        return self

    # -- sampling --------------------------------------------------------------------------
    def _positions(self, labels: np.ndarray) -> torch.Tensor:
        bad = sorted(set(labels.tolist()) - set(self.classes_.tolist()))
        if bad:
            raise ValueError(f"twogan: labels {bad} were not among the training classes "
                             f"{self.classes_.tolist()}")
        return torch.from_numpy(np.searchsorted(self.classes_, labels))

    @torch.no_grad()
    def identities(self, n: int, *, seed: int) -> torch.Tensor:
        """``n`` identity faces (float, working resolution, [-1, 1]) from ``seed``."""
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, int(self.z_dim), generator=g)
        out = [self.gid_(z[i:i + CHUNK].to(self.device_)) for i in range(0, n, CHUNK)]
        return torch.cat(out) if out else torch.zeros(0, self.shape_[2], self.work_res_,
                                                      self.work_res_)

    @torch.no_grad()
    def translate(self, faces: torch.Tensor, labels: np.ndarray) -> torch.Tensor:
        """Apply the expression GAN to ``faces`` with target canonical ``labels``."""
        pos = self._positions(np.asarray(labels, dtype=np.int64)).to(self.device_)
        onehot = F.one_hot(pos, len(self.classes_)).float()
        out = [self.gex_(faces[i:i + CHUNK], onehot[i:i + CHUNK])
               for i in range(0, len(faces), CHUNK)]
        return torch.cat(out) if out else faces

    def generate(self, labels, *, seed: int, aus=None) -> SampleBatch:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self._positions(labels)  # fail before any work
        faces = self.translate(self.identities(len(labels), seed=seed), labels)
        return SampleBatch(images=np.ascontiguousarray(_to_uint8(faces, self.shape_[0])),
                           labels=labels.copy(),
                           info={"budget": self.budget_, "schedule": self.schedule_.to_dict()})

    def sample_grid(self, path, *, n_identities: int = 8, seed: int = 0, scale: int = 2):
        """Write a PNG grid (rows: identities; columns: the raw identity face, then each
        training class). See :func:`ferbench_generators.twogan.grid.sample_grid`."""
        from .grid import sample_grid

        return sample_grid(self, path, n_identities=n_identities, seed=seed, scale=scale)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path) -> None:
        tensors = {f"gid.{k}": v for k, v in self.gid_.state_dict().items()}
        tensors.update({f"gex.{k}": v for k, v in self.gex_.state_dict().items()})
        save_fitted(path, tensors, {
            "version": self.meta.version, "params": self.get_params(),
            "classes": self.classes_.tolist(), "shape": list(self.shape_),
            "work_res": self.work_res_, "budget": self.budget_,
            "schedule": self.schedule_.to_dict(), "fit_log": self.fit_log_})

    @classmethod
    def load(cls, path, *, device: str = "cpu") -> TwoGAN:
        tensors, cfg = load_fitted(path, device=device)
        gen = cls(**cfg["params"])
        sched = Schedule(**cfg["schedule"])
        h, w, c = cfg["shape"]
        n_classes = len(cfg["classes"])
        gen.gid_ = IdentityG(int(gen.z_dim), cfg["work_res"], c, sched.width)
        gen.gex_ = ExpressionG(cfg["work_res"], c, n_classes, sched.width, sched.n_res)
        for name, net in (("gid", gen.gid_), ("gex", gen.gex_)):
            net.load_state_dict({k[len(name) + 1:]: v for k, v in tensors.items()
                                 if k.startswith(name + ".")})
            net.to(device).eval()
        gen.classes_ = np.array(cfg["classes"], dtype=np.int64)
        gen.shape_ = (h, w, c)
        gen.work_res_ = cfg["work_res"]
        gen.budget_ = cfg["budget"]
        gen.schedule_ = sched
        gen.device_ = str(device)
        gen.fit_log_ = cfg["fit_log"]
        return gen
