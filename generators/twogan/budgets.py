"""The one place where twogan's compute per budget is decided.

Every iteration count, batch size and network width that depends on the budget lives in
:data:`SCHEDULES`. The generator's hyper-parameters (``get_params()``) hold ``None`` for these
fields by default, meaning "the budget's value"; ``fit`` resolves them with
:func:`resolve` and records the resolved :class:`Schedule` in the saved config and in every
``SampleBatch.info``, so the numbers that produced a fit are in the results' provenance.

Why these numbers
-----------------
``smoke``
    Seconds on a few dozen faces, worked at 16 px: a handful of steps of each GAN, narrow nets.
    It proves the code paths (including the gradient penalty and checkpointing), not image
    quality.
``quick``
    The default ``ferbench run --generator twogan --protocol mix`` on toyfaces must fit in
    15 minutes on 2 shared CPU cores, of which ~12 go to the classifier cells; the fit plus
    sampling of 3,500 faces therefore gets about 3 minutes. Measured on the shared 2-core
    development VM (one torch thread, load ~8): an identity step (batch 16, 32 px, width 16)
    costs ~0.25 s of CPU and an expression step (5 critic updates with the double-backward
    gradient penalty, plus one generator update with the cycle pass) ~2 s, so quick works at
    32 px (upsampled to the 48 px output; 2.25x cheaper than 48 px) with batch 16, and
    spends ~75 s on 300 identity steps and ~120 s on 60 expression steps: roughly a third on
    the identity GAN and two thirds on the expression GAN, because the
    expression GAN is what makes the labels true (the benchmark's question) while a blurry but
    varied identity is still a face the translator can act on. Both GANs are far from
    converged at this budget (paper A trains for ~100k+ iterations); the trade-off is written
    down, not hidden: quality at ``quick`` is low and the benchmark figures say so.
Critic warm-up (``cls_warmup``, all budgets)
    Measured at quick without it (benchmarks/README.md): after 300 critic updates of 16
    images at StarGAN's learning rate 1e-4 the critic's class loss was still ln 7 (it had
    learnt nothing about expressions), so the generator's classification loss carried no
    signal and the cycle loss held the translator at the identity map. Before the GAN phase
    the critic's trunk and class head are therefore trained as a plain expression classifier
    on the real labelled faces (cross-entropy, Adam 1e-3; a supervised step costs about a
    twentieth of a WGAN-GP critic step). StarGAN's critic learns this same classification
    loss from the start of its training; the warm-up only front-loads it. The adversarial
    head is untouched.
``full``
    GPU scale, towards paper A's schedule (StarGAN's 200k generator steps are cut to 100k:
    the nets here are smaller and the images 48-64 px), with wider nets. Checkpoints every
    2,000 steps so a killed fit resumes (``fit(..., workdir=...)``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Schedule:
    """Resolved compute for one fit."""

    id_iters: int          # identity-GAN steps (one D and one G update each)
    expr_iters: int        # expression-GAN generator steps (n_critic critic updates each)
    batch_size: int        # images per update, both GANs
    width: int             # base channel count of all four networks
    n_res: int             # residual blocks in the expression generator's bottleneck
    checkpoint_every: int  # steps between workdir checkpoints (each GAN counts its own steps)
    resolution: int = 0    # working resolution (multiple of 8); 0 = the training resolution
    cls_warmup: int = 0    # supervised steps of the critic's class head before the GAN phase

    def to_dict(self) -> dict:
        return asdict(self)


SCHEDULES: dict[str, Schedule] = {
    "smoke": Schedule(id_iters=6, expr_iters=3, batch_size=8, width=8, n_res=1,
                      checkpoint_every=2, resolution=16, cls_warmup=4),
    "quick": Schedule(id_iters=300, expr_iters=60, batch_size=16, width=16, n_res=2,
                      checkpoint_every=50, resolution=32, cls_warmup=400),
    "full": Schedule(id_iters=60_000, expr_iters=100_000, batch_size=64, width=64, n_res=6,
                     checkpoint_every=2_000, cls_warmup=5_000),
}

#: The fields of :class:`Schedule` a user may override through the generator's parameters.
OVERRIDABLE = ("id_iters", "expr_iters", "batch_size", "width", "n_res", "checkpoint_every",
               "resolution", "cls_warmup")


def resolve(budget_name: str, **overrides) -> Schedule:
    """The budget's schedule with every non-``None`` override applied."""
    if budget_name not in SCHEDULES:
        raise ValueError(f"twogan: unknown budget '{budget_name}'; choose one of "
                         f"{', '.join(SCHEDULES)}")
    given = {k: int(v) for k, v in overrides.items() if v is not None}
    unknown = set(given) - set(OVERRIDABLE)
    if unknown:
        raise ValueError(f"twogan: unknown schedule field(s) {sorted(unknown)}")
    for k, v in given.items():
        if v < (0 if k.endswith("iters") or k in ("resolution", "cls_warmup") else 1):
            raise ValueError(f"twogan: parameter '{k}' must be positive, got {v}")
    return replace(SCHEDULES[budget_name], **given)
