"""twogan (the built-in two-GAN generator): contract, determinism, persistence, resume,
the WGAN-GP term, and (slow) that a quick fit's expressions are recognised by an independent
classifier trained on real faces."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ferbench.api import Budget, TrainSet, create_generator
from ferbench.api.conformance import check_generator
from ferbench.data.toyfaces import load_toyfaces
from ferbench_generators.twogan import SCHEDULES, TwoGAN
from ferbench_generators.twogan.budgets import resolve
from ferbench_generators.twogan.losses import gradient_penalty
from ferbench_generators.twogan.train import Trainer


@pytest.fixture(scope="module")
def tiny():
    return load_toyfaces("train", resolution=32, channels=1, n_per_class=4, progress=False)


@pytest.fixture(scope="module")
def fitted(tiny):
    return TwoGAN().fit(TrainSet(tiny), seed=0, budget=Budget("smoke"))


def test_registered_and_conformant():
    assert type(create_generator("twogan")) is TwoGAN
    assert len(check_generator("twogan")) >= 5


def test_shape_dtype_and_labels(fitted, tiny):
    want = np.array([0, 6, 1, 1, 3, 5, 2, 4, 0])
    out = fitted.generate(want, seed=3)
    assert out.images.dtype == np.uint8 and out.images.shape == (len(want), 32, 32, 1)
    assert np.array_equal(out.labels, want) and out.labels.dtype == np.int64
    assert out.images.std() > 1  # not a constant image
    assert out.info["schedule"] == SCHEDULES["smoke"].to_dict()
    assert fitted.generate(np.array([], dtype=np.int64), seed=0).images.shape == (0, 32, 32, 1)
    with pytest.raises(ValueError, match=r"labels \[7\]"):
        fitted.generate([0, 7], seed=0)


def test_seed_contract(fitted):
    want = np.repeat(np.arange(7), 3)
    a = fitted.generate(want, seed=11).images
    assert np.array_equal(a, fitted.generate(want, seed=11).images)
    assert not np.array_equal(a, fitted.generate(want, seed=12).images)
    # The label changes the face (the expression GAN acts), the seed fixes the identity.
    b = fitted.generate(np.roll(want, 1), seed=11).images
    assert not np.array_equal(a, b)


def test_fit_is_deterministic_and_leaves_global_rng_alone(tiny):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = TwoGAN(id_iters=2, expr_iters=1).fit(TrainSet(tiny), seed=5, budget=Budget("smoke"))
    assert torch.equal(before, torch.random.get_rng_state())
    b = TwoGAN(id_iters=2, expr_iters=1).fit(TrainSet(tiny), seed=5, budget=Budget("smoke"))
    want = np.arange(7)
    assert np.array_equal(a.generate(want, seed=0).images, b.generate(want, seed=0).images)


def test_save_load_roundtrip(fitted, tmp_path):
    fitted.save(tmp_path / "fit")
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == ["config.json",
                                                                   "state.safetensors"]
    cfg = json.loads((tmp_path / "fit" / "config.json").read_text())
    assert cfg["schedule"] == SCHEDULES["smoke"].to_dict() and cfg["budget"] == "smoke"
    again = TwoGAN.load(tmp_path / "fit")
    assert again.get_params() == fitted.get_params()
    want = np.repeat(np.arange(7), 2)
    assert np.array_equal(fitted.generate(want, seed=4).images,
                          again.generate(want, seed=4).images)


def test_schedule_resolution_and_params():
    g = TwoGAN()
    assert g.get_params()["id_iters"] is None  # None = the budget's value
    assert g.schedule("quick") == SCHEDULES["quick"]
    assert TwoGAN(expr_iters=7).schedule("full").expr_iters == 7
    assert resolve("smoke", width=4).width == 4
    with pytest.raises(ValueError, match="unknown budget"):
        resolve("huge")
    with pytest.raises(ValueError, match="batch_size"):
        TwoGAN(batch_size=0).schedule("smoke")
    with pytest.raises(ValueError, match="diffaugment"):
        TwoGAN(diffaugment="color,zoom").fit(
            TrainSet(load_toyfaces("train", resolution=16, channels=1, n_per_class=1,
                                   progress=False)), seed=0, budget=Budget("smoke"))


class _Killed(Exception):
    pass


def test_resume_from_workdir_checkpoint(tiny, tmp_path, monkeypatch):
    """A fit killed during the expression GAN resumes from its last checkpoint (step counters
    continue, the earlier steps are not re-run) and ends bit-identical to an uninterrupted
    fit, because optimiser moments and the random generator state are checkpointed."""
    sched = SCHEDULES["smoke"]  # checkpoint every 2 steps; 6 identity, 4 warm-up, 3 expression
    work = tmp_path / "work"
    work.mkdir()
    real_step = Trainer.step_expression
    calls = {"n": 0}

    def dying_step(self):
        if calls["n"] == 2:  # the kill comes during the third expression step
            raise _Killed
        calls["n"] += 1
        return real_step(self)

    monkeypatch.setattr(Trainer, "step_expression", dying_step)
    with pytest.raises(_Killed):
        TwoGAN().fit(TrainSet(tiny), seed=0, budget=Budget("smoke"), workdir=work)
    ckpts = [p.name for p in work.iterdir()]
    assert ckpts == [f"ckpt-{sched.id_iters + sched.cls_warmup + 2:09d}"], ckpts  # one complete

    counted = {"id": 0, "expr": 0}
    real_id = Trainer.step_identity

    def count_id(self):
        counted["id"] += 1
        return real_id(self)

    def count_expr(self):
        counted["expr"] += 1
        return real_step(self)

    monkeypatch.setattr(Trainer, "step_identity", count_id)
    monkeypatch.setattr(Trainer, "step_expression", count_expr)
    resumed = TwoGAN().fit(TrainSet(tiny), seed=0, budget=Budget("smoke"), workdir=work)
    assert resumed.fit_log_["resumed_from"] == {"id_step": sched.id_iters, "expr_step": 2}
    assert counted == {"id": 0, "expr": 1}
    assert resumed.fit_log_["expr_step"] == sched.expr_iters

    monkeypatch.setattr(Trainer, "step_identity", real_id)
    monkeypatch.setattr(Trainer, "step_expression", real_step)
    straight = TwoGAN().fit(TrainSet(tiny), seed=0, budget=Budget("smoke"))
    want = np.repeat(np.arange(7), 2)
    assert np.array_equal(resumed.generate(want, seed=1).images,
                          straight.generate(want, seed=1).images)


def test_checkpoint_of_another_fit_is_not_resumed(tiny, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    TwoGAN(expr_iters=2).fit(TrainSet(tiny), seed=0, budget=Budget("smoke"), workdir=work)
    with pytest.warns(UserWarning, match="different fit"):
        g = TwoGAN(expr_iters=2).fit(TrainSet(tiny), seed=1, budget=Budget("smoke"),
                                     workdir=work)
    assert g.fit_log_["resumed_from"] is None


def test_gradient_penalty_matches_closed_form_and_is_finite(tiny):
    # For a linear critic D(x) = <w, x> the gradient is w everywhere: GP = (||w|| - 1)^2.
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 1, 8, 8, generator=g)
    real, fake = torch.randn(5, 1, 8, 8, generator=g), torch.randn(5, 1, 8, 8, generator=g)
    gp = gradient_penalty(lambda x: (x * w).sum(dim=(1, 2, 3)), real, fake, g)
    assert torch.allclose(gp, (w.norm() - 1) ** 2, rtol=1e-5)
    # In the StarGAN critic loss it is computed, finite, and carries gradient to the critic.
    x = torch.from_numpy(np.array(tiny.images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    tr = Trainer(x, torch.from_numpy(np.array(tiny.labels)), 7, SCHEDULES["smoke"],
                 TwoGAN()._hp(), seed=0)
    real, y = tr._batch()
    loss, info = tr.critic_loss(real, y)
    assert np.isfinite(info["gp"]) and info["gp"] > 0
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in tr.dex.parameters())


def test_sample_grid_png(fitted, tmp_path):
    path = fitted.sample_grid(tmp_path / "grid.png", n_identities=3, seed=0, scale=1)
    img = Image.open(path)
    assert img.size == (8 * (32 + 2) + 2, 3 * (32 + 2) + 2)  # identity + 7 expressions
    assert img.text["columns"].split(",")[:3] == ["identity", "neutral", "happy"]
    px = np.asarray(img)
    assert px[2:34, 2:34].std() > 0  # a face, not blank


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured 19.3 % at the quick budget (chance 14.3 %): "
                   "with the critic warm-up the translator moves the evaluator, mostly towards "
                   "two classes; see benchmarks/README.md, twogan. Remove this mark when quick "
                   "passes 25 %.")
def test_quick_fit_expressions_are_recognised_by_a_real_trained_classifier():
    """The benchmark's claim in test form (see benchmarks/bench_twogan.py for the figures):
    after a quick fit on 100 toyfaces per class, a noncomplex CNN trained on REAL toyfaces
    recognises the requested labels on twogan's output clearly above chance (1/7)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import tempfile

    from bench_twogan import bench

    r = bench("quick", per_class=50, seed=0,
              cache=Path(tempfile.gettempdir()) / "ferbench_bench_twogan", params={})
    assert r["acc_requested"] > 0.25, r


def test_critic_class_warmup_learns_the_training_expressions(tiny):
    """The supervised warm-up really trains the critic's class head: on the 28 training faces
    its cross-entropy falls well below ln 7 and its accuracy rises above chance (without it, the
    quick fit's critic stayed at ln 7 and the expression GAN received no class signal)."""
    from dataclasses import replace

    from ferbench_generators.twogan.generator import _to_float

    x = _to_float(tiny.images, 32)
    y = torch.from_numpy(np.searchsorted(np.unique(tiny.labels), tiny.labels))
    sched = replace(SCHEDULES["smoke"], id_iters=0, expr_iters=0, cls_warmup=120)
    tr = Trainer(x, y, 7, sched, TwoGAN()._hp(), seed=0)

    def scores():
        with torch.no_grad():
            logits = tr.dex(x)[1]
        return (torch.nn.functional.cross_entropy(logits, y).item(),
                (logits.argmax(1) == y).float().mean().item())

    ce0, _ = scores()
    tr.run()
    ce1, acc1 = scores()
    assert tr.warm_step == 120 and tr.expr_step == 0
    assert ce0 > 1.8 and ce1 < 1.2, (ce0, ce1)
    assert acc1 > 0.5, acc1
