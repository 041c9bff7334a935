"""``synfer(pretrained=PATH)``: start from a local diffusers Stable Diffusion folder and train
only the AU adapter, as SynFER does with SD 1.5.

What is loaded
    ``PATH`` is a diffusers Stable Diffusion folder (``model_index.json``, ``unet/``, ``vae/``,
    ``text_encoder/``, ``tokenizer/``, ``scheduler/``), read with ``local_files_only=True``:
    nothing is ever downloaded, and a missing folder, a missing part or an incompatible config
    is a one-line ``ConfigError`` naming the path. Supported: an epsilon-prediction
    ``UNet2DConditionModel`` without class/added embeddings (SD 1.x / 2.x-base shaped) whose
    ``in_channels`` is the VAE's ``latent_channels`` and whose ``cross_attention_dim`` is the
    text encoder's width; fp32 weights files (no ``variant``). v-prediction and SDXL-style
    UNets are refused.

What is trained (everything else is frozen)
    The AU adapter only: the AU MLP (:class:`AUEncoder`) and the new ``to_k_au``/``to_v_au`` of
    the decoupled AU cross-attention (:mod:`.attention`) installed on every cross-attention
    layer of the pretrained UNet. ``to_v_au`` starts at zero, so before training the adapted UNet
    computes exactly what the pretrained UNet computes (IP-Adapter initialises its new values
    from the text ones instead; zero is the choice that leaves the model unchanged whatever the
    AU tokens are). No LoRA: the UNet, the VAE and the text encoder stay bit-identical.

Latent diffusion (decisions)
    * Faces are made RGB (grey repeated to three channels), resized (bilinear, antialiased) to
      the pipeline's image size ``unet.sample_size × vae_scale_factor`` (512 for SD 1.5) and
      encoded with the VAE; the latent is the posterior *mean* times ``scaling_factor``
      (deterministic; diffusers' training scripts sample it instead). Encoding happens per
      batch, on the fly, so no latent cache of the whole training set is held.
    * Horizontal flips (same rule as the from-scratch path) are applied to the pixels before
      encoding.
    * Text: the caption synfer builds (class clause + AU clauses joined with ", ", see
      :func:`.conditioning.caption_text`) goes through the pipeline's CLIP tokenizer
      (padded to ``model_max_length``) and frozen text encoder (``last_hidden_state``). The
      null condition is the empty caption, as in Stable Diffusion: text tokens are carried as
      the *difference* to the empty-caption embedding, so the sampler's all-zero null tokens
      are exactly SD's unconditional input, and CFG dropout during training drops to it.
    * Noise schedule and timesteps come from the folder's ``scheduler/`` config; the solvers
      (DPM-Solver++ / UniPC / DDPM) are built from that config with the same options, CFG rule
      and seed rules as the from-scratch path.
    * Decoding: VAE decode, clamp to [-1, 1], resize (antialiased) to the protocol resolution,
      and for one channel the ITU-R 601 luma (what PIL's ``convert("L")`` computes).
    * Semantic guidance works on the pretrained path: x̂0 is predicted in latent space, decoded
      by the VAE (differentiably) to protocol pixels and scored by the guidance classifier,
      whose gradient moves the text tokens as in the from-scratch path. It costs a VAE-decoder
      backward per guided step.
    * The guidance classifier and the pseudo-label ensemble are the same tiny CNNs, trained on
      the protocol-resolution training faces; pseudo-labels score the decoded images.
    * Saved state: only the adapter (EMA weights), the classifiers and the training AUs; the
      config records the folder (absolute path) and the sha256 of the UNet weights file(s).
      ``load`` re-reads the folder and refuses a UNet whose fingerprint differs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attention import install_au_processors
from .conditioning import caption_text

PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_WEIGHTS = (".safetensors", ".bin")
_LUMA = (0.299, 0.587, 0.114)


def _error(msg: str) -> Exception:
    from ferbench.errors import ConfigError

    return ConfigError(msg)


def check_folder(path) -> Path:
    """The resolved SD folder, or a one-line ``ConfigError`` naming what is missing."""
    folder = Path(os.path.expanduser(str(path))).resolve()
    if not folder.is_dir():
        raise _error(f"synfer: pretrained folder '{path}' does not exist (a local diffusers "
                     "Stable Diffusion folder is needed; nothing is downloaded)")
    missing = [p + "/" for p in PARTS if not (folder / p).is_dir()]
    if not (folder / "model_index.json").is_file():
        missing.insert(0, "model_index.json")
    if missing:
        raise _error(f"synfer: pretrained folder '{folder}' is not a diffusers Stable Diffusion "
                     f"folder: missing {', '.join(missing)}")
    return folder


def unet_fingerprint(folder: Path) -> str:
    """sha256 over the UNet weights file(s) (name and content sha256 of each, sorted)."""
    files = sorted(p for p in (folder / "unet").iterdir() if p.name.endswith(_WEIGHTS))
    if not files:
        raise _error(f"synfer: pretrained folder '{folder}' has no UNet weights in unet/")
    outer = hashlib.sha256()
    for p in files:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        outer.update(f"{p.name}\0{h.hexdigest()}\n".encode())
    return outer.hexdigest()


def load_parts(folder: Path) -> dict:
    """UNet, VAE, text encoder, tokenizer and scheduler config, read locally only."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    if importlib.util.find_spec("transformers") is None:
        raise _error(f"synfer pretrained={folder} needs transformers for the CLIP text encoder: "
                     "pip install 'ferbench[pretrained]'")
    from transformers import CLIPTextModel, CLIPTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # without accelerate, diffusers falls back to a normal load anyway but warns; say it first
    low_mem = importlib.util.find_spec("accelerate") is not None
    try:
        parts = {
            "unet": UNet2DConditionModel.from_pretrained(folder, subfolder="unet",
                                                         local_files_only=True,
                                                         low_cpu_mem_usage=low_mem),
            "vae": AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True,
                                                 low_cpu_mem_usage=low_mem),
            "text_encoder": CLIPTextModel.from_pretrained(folder / "text_encoder",
                                                          local_files_only=True),
            "tokenizer": CLIPTokenizer.from_pretrained(folder / "tokenizer",
                                                       local_files_only=True),
            "scheduler": DDPMScheduler.from_pretrained(folder, subfolder="scheduler",
                                                       local_files_only=True).config,
        }
    except Exception as e:  # noqa: BLE001 - any load failure is a config problem of PATH
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _error(f"synfer: cannot load the Stable Diffusion folder '{folder}': "
                     f"{first}") from e
    u, v, te = parts["unet"].config, parts["vae"].config, parts["text_encoder"].config
    problems = []
    if u.in_channels != v.latent_channels or u.out_channels != v.latent_channels:
        problems.append(f"unet in/out channels {u.in_channels}/{u.out_channels} != vae "
                        f"latent_channels {v.latent_channels}")
    if u.cross_attention_dim != te.hidden_size:
        problems.append(f"unet cross_attention_dim {u.cross_attention_dim} != text encoder "
                        f"hidden_size {te.hidden_size}")
    if u.class_embed_type is not None or u.addition_embed_type is not None:
        problems.append("class/added embeddings (SDXL-style UNets) are not supported")
    if parts["scheduler"].prediction_type != "epsilon":
        problems.append(f"prediction_type '{parts['scheduler'].prediction_type}' (only "
                        "'epsilon' is supported)")
    if problems:
        raise _error(f"synfer: Stable Diffusion folder '{folder}' is incompatible: "
                     + "; ".join(problems))
    return parts


class AUEncoder(nn.Module):
    """AU vector (FACS 0..5, divided by 5) → ``num_tokens`` tokens of width ``dim``
    (IP-Adapter's projection: linear layers then LayerNorm)."""

    def __init__(self, n_aus: int, dim: int, num_tokens: int):
        super().__init__()
        self.n_aus, self.dim, self.num_tokens = n_aus, dim, num_tokens
        self.mlp = nn.Sequential(nn.Linear(max(n_aus, 1), dim), nn.SiLU(),
                                 nn.Linear(dim, num_tokens * dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, aus: torch.Tensor) -> torch.Tensor:
        if self.n_aus == 0:
            aus = torch.zeros(len(aus), 1, device=aus.device)
        return self.norm(self.mlp(aus / 5.0).view(len(aus), self.num_tokens, self.dim))


class PretrainedNet(nn.Module):
    """Frozen SD parts plus the trainable AU adapter, with the interface the sampler uses
    (``cond``, ``eps``) and the latent/pixel conversions."""

    is_pretrained = True

    def __init__(self, folder: Path, vocab: list[str], n_aus: int, num_au_tokens: int,
                 au_scale: float, device: str = "cpu"):
        super().__init__()
        parts = load_parts(folder)
        self.folder = folder
        self.vocab = list(vocab)
        self.tokenizer = parts["tokenizer"]
        self.scheduler_config = dict(parts["scheduler"])
        self.unet = parts["unet"].eval().requires_grad_(False)
        self.vae = parts["vae"].eval().requires_grad_(False)
        self.text_encoder = parts["text_encoder"].eval().requires_grad_(False)
        self.num_text_tokens = int(self.tokenizer.model_max_length)
        self.adapters = install_au_processors(self.unet, self.num_text_tokens, au_scale)
        for p in self.adapters.values():
            nn.init.zeros_(p.to_v_au.weight)
        dim = int(self.unet.config.cross_attention_dim)
        self.au_encoder = AUEncoder(n_aus, dim, num_au_tokens)
        vcfg = self.vae.config
        self.vae_scale = 2 ** (len(vcfg.block_out_channels) - 1)
        self.image_size = int(self.unet.config.sample_size) * self.vae_scale
        self.latent_shape = (int(vcfg.latent_channels), int(self.unet.config.sample_size),
                             int(self.unet.config.sample_size))
        self.scaling = float(vcfg.scaling_factor)
        self.shift = float(getattr(vcfg, "shift_factor", None) or 0.0)
        self.to(device)
        self.device = torch.device(device)
        self._text_cache: dict[tuple, torch.Tensor] = {}
        self.register_buffer("null_text", self._encode_captions([""])[0:1], persistent=False)

    # -- adapter state ------------------------------------------------------------------------

    def adapter_modules(self) -> dict[str, nn.Module]:
        return {"adapters": self.adapters, "au_encoder": self.au_encoder}

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.adapter_modules().values() for p in m.parameters()]

    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{k}": v.detach().cpu().contiguous()
                for name, m in self.adapter_modules().items() for k, v in m.state_dict().items()}

    def load_adapter_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, m in self.adapter_modules().items():
            m.load_state_dict({k[len(name) + 1:]: v for k, v in state.items()
                               if k.startswith(name + ".")})

    # -- conditioning -------------------------------------------------------------------------

    @torch.no_grad()
    def _encode_captions(self, captions: list[str]) -> torch.Tensor:
        tok = self.tokenizer(captions, padding="max_length", max_length=self.num_text_tokens,
                             truncation=True, return_tensors="pt")
        ids = tok.input_ids.to(next(self.text_encoder.parameters()).device)
        return self.text_encoder(ids)[0].float()

    def text_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """CLIP embeddings of the captions of clause-id rows, minus the empty caption's."""
        keys = [tuple(int(i) for i in row) for row in ids.tolist()]
        new = sorted(set(keys) - set(self._text_cache))
        for s in range(0, len(new), 64):
            chunk = new[s:s + 64]
            emb = self._encode_captions([caption_text(np.array(k), self.vocab) for k in chunk])
            for k, e in zip(chunk, emb - self.null_text, strict=True):
                self._text_cache[k] = e
        if not keys:
            return self.null_text[:0]
        return torch.stack([self._text_cache[k] for k in keys])

    def cond(self, ids: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text_tokens(ids), self.au_encoder(aus.float().to(self.device))

    def eps(self, x, t, text, au):
        hidden = torch.cat([text + self.null_text, au], 1)
        return self.unet(x, t, encoder_hidden_states=hidden).sample

    # -- schedules ----------------------------------------------------------------------------

    def noise_scheduler(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(self.scheduler_config)

    def make_solver(self, solver: str, steps: int):
        """The from-scratch path's solvers (same options), on this folder's noise schedule."""
        from diffusers import DDPMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

        c = self.scheduler_config
        if solver == "dpmsolver++":
            s = DPMSolverMultistepScheduler.from_config(c, algorithm_type="dpmsolver++",
                                                        solver_order=2, lower_order_final=True)
        elif solver == "unipc":
            s = UniPCMultistepScheduler.from_config(c, solver_order=2, lower_order_final=True)
        elif solver == "ddpm":
            s = DDPMScheduler.from_config(c)
        else:
            raise ValueError(f"unknown solver '{solver}'; choose dpmsolver++, unipc or ddpm")
        s.set_timesteps(steps)
        return s

    # -- pixels <-> latents -------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Protocol pixels ``(B, 1|3, h, w)`` in [-1, 1] → scaled latents."""
        x = x.to(self.device)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              align_corners=False, antialias=True)
        z = self.vae.encode(x).latent_dist.mean
        return (z - self.shift) * self.scaling

    def to_pixels(self, z: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """Scaled latents → protocol pixels ``(B, C, H, W)`` in [-1, 1] on the CPU
        (differentiable; callers that need no gradient wrap it in ``no_grad``)."""
        h, w, ch = shape
        x = self.vae.decode(z / self.scaling + self.shift).sample.clamp(-1, 1)
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False,
                              antialias=True)
        if ch == 1:
            luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype)[None, :, None, None]
            x = (x * luma).sum(1, keepdim=True)
        return x.float().cpu()


class PixelClassifier(nn.Module):
    """The guidance classifier applied to decoded latents (semantic guidance in latent space)."""

    def __init__(self, net: PretrainedNet, clf: nn.Module, shape: tuple[int, int, int]):
        super().__init__()
        self.net, self.clf, self.shape = net, clf, shape

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.clf(self.net.to_pixels(z, self.shape))


def train_adapter(gen, x: torch.Tensor, pos: np.ndarray, aus: np.ndarray, cfg: dict, seed: int,
                  wd: Path | None, device: str, derived_seed, caption_ids) -> PretrainedNet:
    """Train the AU adapter on the frozen pretrained UNet: :func:`.training.train_eps` on the
    VAE latents of the images (the from-scratch loop's rules)."""
    from .training import train_eps

    torch.manual_seed(derived_seed(seed, 31))
    net = PretrainedNet(gen.pretrained_folder_, gen.vocab_, len(gen.au_names_),
                        int(cfg["num_au_tokens"]), gen.au_scale, device)
    params = net.adapter_parameters()
    for m in net.adapter_modules().values():
        m.train()
    ids = torch.from_numpy(caption_ids(gen.class_idx_[pos], aus, len(gen.au_names_),
                                       gen.max_au_phrases, gen.phrase_threshold))
    gen.train_steps_done_, gen.last_loss_ = train_eps(
        net, params, x=x, ids=ids, aus=torch.from_numpy(aus), cfg=cfg, seed=seed,
        derived_seed=derived_seed, noise_sched=net.noise_scheduler(), p_uncond=gen.p_uncond,
        flip_ok="contempt" not in gen.classes_, device=device,
        ckpt=None if wd is None else wd / "adapter-ckpt.safetensors",
        state_dict=net.adapter_state_dict, load_state_dict=net.load_adapter_state_dict,
        encode=net.encode)
    net.eval()
    for p in params:
        p.requires_grad_(False)
    return net


def load_net(gen, path: str, sha256: str, tensors: dict, device: str
             ) -> tuple[Path, str, PretrainedNet]:
    """Rebuild the fitted :class:`PretrainedNet`: re-read the SD folder, refuse it when its UNet
    weights are not the ones the adapter was trained on, load the adapter weights."""
    folder = check_folder(path)
    now = unet_fingerprint(folder)
    if now != sha256:
        raise _error(f"synfer: the UNet weights in '{folder}' changed since this generator was "
                     f"fitted (sha256 {now[:12]}… != {sha256[:12]}…); re-fit it")
    net = PretrainedNet(folder, gen.vocab_, len(gen.au_names_), int(gen.cfg_["num_au_tokens"]),
                        gen.au_scale, device)
    net.load_adapter_state_dict({k[len("adapter."):]: v.to(net.device) for k, v in
                                 tensors.items() if k.startswith("adapter.")})
    net.eval()
    for p in net.adapter_parameters():
        p.requires_grad_(False)
    return folder, sha256, net
