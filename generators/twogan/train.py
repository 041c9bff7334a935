"""Training of the two GANs, with exact checkpoint/resume.

:class:`Trainer` owns the four networks, their Adam optimisers, one ``torch.Generator`` that
draws every random number of the fit (batches, z, augmentation, interpolation weights) and two
step counters. The identity GAN is trained first, then the expression GAN (they are
independent: the expression GAN learns on real labelled faces, as in paper A).

Checkpoints: every ``checkpoint_every`` steps (and at the end of each phase) the full state,
i.e. weights, optimiser moments, the random generator's state and the counters, is written
with :func:`ferbench.api.save_fitted` (safetensors + JSON) into ``workdir/ckpt-<n>.tmp`` and
then renamed to ``workdir/ckpt-<n>``; older checkpoints are removed after the rename. A kill
at any moment therefore leaves the previous complete checkpoint, and a restarted fit with
the same fingerprint continues from it. Because the random generator's state is part of the
checkpoint, a resumed fit on CPU ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import torch
from torch.nn import functional as F

from ferbench.api import load_fitted, save_fitted

from .budgets import Schedule
from .losses import diff_augment, gradient_penalty, hinge_d, hinge_g
from .nets import ExpressionD, ExpressionG, IdentityD, IdentityG

MODULES = ("gid", "did", "gex", "dex")
OPTIMISERS = ("opt_gid", "opt_did", "opt_warm", "opt_gex", "opt_dex")


def fingerprint(images: torch.Tensor, labels: torch.Tensor, hp: dict, sched: Schedule,
                seed: int) -> str:
    """Identity of a fit: data, hyper-parameters, schedule and seed (checkpoints must match)."""
    h = hashlib.sha256()
    h.update(json.dumps([hp, sched.to_dict(), int(seed)], sort_keys=True).encode())
    h.update(images.cpu().numpy().tobytes())
    h.update(labels.cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class Trainer:
    """Both GANs and their training state. ``images``: float ``(N,C,R,R)`` in [-1, 1];
    ``labels``: int64 positions ``0..n_classes-1``; ``hp``: the loss/optimiser
    hyper-parameters (``z_dim``, ``n_critic``, ``lambda_*``, ``lr_*``, ``policy``)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, n_classes: int,
                 sched: Schedule, hp: dict, seed: int, device: str = "cpu"):
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.n_classes = n_classes
        self.sched = sched
        self.hp = hp
        self.seed = int(seed)
        _, c, r, _ = images.shape
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # weight init (and spectral-norm vectors) from the seed
            self.gid = IdentityG(hp["z_dim"], r, c, sched.width)
            self.did = IdentityD(r, c, sched.width)
            self.gex = ExpressionG(r, c, n_classes, sched.width, sched.n_res)
            self.dex = ExpressionD(r, c, n_classes, sched.width)
        for m in MODULES:
            getattr(self, m).to(self.device)
        self.opt_gid = torch.optim.Adam(self.gid.parameters(), hp["lr_id"], betas=(0.5, 0.999))
        self.opt_did = torch.optim.Adam(self.did.parameters(), hp["lr_id"], betas=(0.5, 0.999))
        self.opt_gex = torch.optim.Adam(self.gex.parameters(), hp["lr_expr"], betas=(0.5, 0.999))
        self.opt_dex = torch.optim.Adam(self.dex.parameters(), hp["lr_expr"], betas=(0.5, 0.999))
        # the critic's supervised class warm-up (see budgets: "Critic warm-up")
        self.opt_warm = torch.optim.Adam(self.dex.parameters(), hp.get("lr_warmup", 1e-3))
        self.rng = torch.Generator().manual_seed(self.seed + 0x7A0)
        self.id_step = 0
        self.warm_step = 0
        self.expr_step = 0
        self.log: dict = {"resumed_from": None, "seconds": {"identity": 0.0, "warmup": 0.0,
                                                             "expression": 0.0},
                          "last": {}}

    # -- batches ----------------------------------------------------------------------------
    def _batch(self):
        idx = torch.randint(len(self.images), (self.sched.batch_size,), generator=self.rng)
        idx = idx.to(self.device)
        return self.images[idx], self.labels[idx]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hp["z_dim"], generator=self.rng).to(self.device)

    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.n_classes).float()

    # -- one step of each GAN --------------------------------------------------------------
    def step_identity(self) -> dict:
        """One hinge-loss D update and one G update, both on DiffAugment-ed images."""
        pol, b = self.hp["policy"], self.sched.batch_size
        real, _ = self._batch()
        fake = self.gid(self._z(b))
        d_loss = hinge_d(self.did(diff_augment(real, pol, self.rng)),
                         self.did(diff_augment(fake.detach(), pol, self.rng)))
        self.opt_did.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_did.step()
        g_loss = hinge_g(self.did(diff_augment(self.gid(self._z(b)), pol, self.rng)))
        self.opt_gid.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_gid.step()
        self.id_step += 1
        return {"d": d_loss.item(), "g": g_loss.item()}

    def step_warmup(self) -> dict:
        """One supervised update of the critic's trunk and class head on real faces (flipped
        at random): cross-entropy only, no adversarial term."""
        real, y = self._batch()
        flip = torch.rand(len(y), generator=self.rng).to(self.device) < 0.5
        real = torch.where(flip[:, None, None, None], real.flip(3), real)
        _, cls = self.dex(real)
        loss = F.cross_entropy(cls, y)
        self.opt_warm.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_warm.step()
        self.warm_step += 1
        return {"warm_cls": loss.item(),
                "warm_acc": (cls.argmax(1) == y).float().mean().item()}

    def critic_loss(self, real: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """StarGAN critic loss: WGAN + lambda_cls * CE on real + lambda_gp * GP."""
        hp = self.hp
        trg = torch.randint(self.n_classes, (len(y),), generator=self.rng).to(self.device)
        with torch.no_grad():
            fake = self.gex(real, self._onehot(trg))
        src_real, cls_real = self.dex(real)
        src_fake, _ = self.dex(fake)
        gp = gradient_penalty(lambda x: self.dex(x)[0], real, fake, self.rng)
        cls = F.cross_entropy(cls_real, y)
        loss = (src_fake.mean() - src_real.mean() + hp["lambda_cls"] * cls
                + hp["lambda_gp"] * gp)
        return loss, {"d_adv": (src_fake.mean() - src_real.mean()).item(), "d_cls": cls.item(),
                      "gp": gp.item()}

    def generator_loss(self, real: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """StarGAN generator loss: -D(G(x,c')) + lambda_cls * CE(c') + lambda_rec * L1 cycle."""
        hp = self.hp
        trg = torch.randint(self.n_classes, (len(y),), generator=self.rng).to(self.device)
        fake = self.gex(real, self._onehot(trg))
        src, cls = self.dex(fake)
        rec = self.gex(fake, self._onehot(y))
        cls_loss = F.cross_entropy(cls, trg)
        rec_loss = (real - rec).abs().mean()
        loss = -src.mean() + hp["lambda_cls"] * cls_loss + hp["lambda_rec"] * rec_loss
        return loss, {"g_adv": -src.mean().item(), "g_cls": cls_loss.item(),
                      "rec": rec_loss.item()}

    def step_expression(self) -> dict:
        """``n_critic`` critic updates, then one generator update (one "step")."""
        for _ in range(self.hp["n_critic"]):
            real, y = self._batch()
            d_loss, info = self.critic_loss(real, y)
            self.opt_dex.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_dex.step()
        real, y = self._batch()
        g_loss, ginfo = self.generator_loss(real, y)
        self.opt_gex.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_gex.step()
        self.expr_step += 1
        return {**info, **ginfo}

    # -- the loop --------------------------------------------------------------------------
    def run(self, workdir: str | os.PathLike | None = None, fp: str = "") -> None:
        every = self.sched.checkpoint_every
        if workdir is not None:
            self.try_resume(workdir, fp)
        for m in MODULES:
            getattr(self, m).train()
        t0 = time.perf_counter()
        while self.id_step < self.sched.id_iters:
            self.log["last"]["identity"] = self.step_identity()
            if workdir is not None and (self.id_step % every == 0
                                        or self.id_step == self.sched.id_iters):
                self.checkpoint(workdir, fp)
        t1 = time.perf_counter()
        while self.warm_step < self.sched.cls_warmup:
            self.log["last"]["warmup"] = self.step_warmup()
            if workdir is not None and (self.warm_step % every == 0
                                        or self.warm_step == self.sched.cls_warmup):
                self.checkpoint(workdir, fp)
        tw = time.perf_counter()
        while self.expr_step < self.sched.expr_iters:
            self.log["last"]["expression"] = self.step_expression()
            if workdir is not None and (self.expr_step % every == 0
                                        or self.expr_step == self.sched.expr_iters):
                self.checkpoint(workdir, fp)
        t2 = time.perf_counter()
        self.log["seconds"]["identity"] += t1 - t0
        self.log["seconds"]["warmup"] = self.log["seconds"].get("warmup", 0.0) + tw - t1
        self.log["seconds"]["expression"] += t2 - tw

    # -- state -----------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        """All training state as (flat tensors, JSON config)."""
        tensors, groups = {}, {}
        for m in MODULES:
            for k, v in getattr(self, m).state_dict().items():
                tensors[f"{m}.{k}"] = v
        for o in OPTIMISERS:
            sd = getattr(self, o).state_dict()
            groups[o] = sd["param_groups"]
            for pid, st in sd["state"].items():
                for k, v in st.items():
                    tensors[f"{o}.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
        tensors["rng"] = self.rng.get_state()
        config = {"id_step": self.id_step, "warm_step": self.warm_step,
                  "expr_step": self.expr_step,
                  "param_groups": groups, "log": self.log}
        return tensors, config

    def load_state(self, tensors: dict, config: dict) -> None:
        for m in MODULES:
            pre = f"{m}."
            getattr(self, m).load_state_dict(
                {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)})
        for o in OPTIMISERS:
            state: dict = {}
            pre = f"{o}."
            for k, v in tensors.items():
                if k.startswith(pre):
                    pid, name = k[len(pre):].split(".", 1)
                    state.setdefault(int(pid), {})[name] = v
            getattr(self, o).load_state_dict({"state": state,
                                              "param_groups": config["param_groups"][o]})
        self.rng.set_state(tensors["rng"].cpu())
        self.id_step = int(config["id_step"])
        self.warm_step = int(config.get("warm_step", 0))
        self.expr_step = int(config["expr_step"])
        self.log = config["log"]

    def checkpoint(self, workdir, fp: str) -> Path:
        workdir = Path(workdir)
        n = self.id_step + self.warm_step + self.expr_step
        final = workdir / f"ckpt-{n:09d}"
        tmp = workdir / f"ckpt-{n:09d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tensors, config = self.state()
        config["fingerprint"] = fp
        save_fitted(tmp, tensors, config)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in workdir.glob("ckpt-*"):
            if old != final and not old.name.endswith(".tmp"):
                shutil.rmtree(old, ignore_errors=True)
        return final

    def try_resume(self, workdir, fp: str) -> bool:
        """Load the newest complete checkpoint in ``workdir`` whose fingerprint matches."""
        done = sorted(p for p in Path(workdir).glob("ckpt-*")
                      if p.is_dir() and not p.name.endswith(".tmp"))
        if not done:
            return False
        tensors, config = load_fitted(done[-1], device="cpu")  # Adam wants CPU steps
        if config.get("fingerprint") != fp:
            warnings.warn(f"twogan: ignoring checkpoint {done[-1]} from a different fit "
                          "(data, parameters, schedule or seed differ)", stacklevel=2)
            return False
        self.load_state(tensors, config)
        self.log["resumed_from"] = {"id_step": self.id_step, "expr_step": self.expr_step}
        return True
