"""synfer: conditioning paths, CFG, semantic guidance, pseudo-labelling, seeds, save/load,
resume and conformance, all at the ``smoke`` budget on tiny toyfaces."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ferbench.api import Budget, TrainSet, create_generator
from ferbench.data.toyfaces import load_toyfaces
from ferbench_generators.synfer.budgets import DEFAULT_BUDGETS
from ferbench_generators.synfer.model import guidance_step
from ferbench_generators.synfer.pseudolabel import DROP, KEEP, RELABEL, rectify, select

RES = 24


@pytest.fixture(scope="module")
def data():
    return load_toyfaces("train", resolution=RES, channels=1, n_per_class=4)


@pytest.fixture(scope="module")
def fitted(data):
    gen = create_generator("synfer", text_encoder="learned")
    return gen.fit(TrainSet(data), seed=0, budget=Budget("smoke"))


def test_variants_differ_only_in_their_defaults():
    full = create_generator("synfer").get_params()
    noguide = create_generator("synfer-noguide").get_params()
    nopl = create_generator("synfer-nopl").get_params()
    assert set(full) == set(noguide) == set(nopl)
    assert {k for k in full if full[k] != noguide[k]} == {"guidance"}
    assert {k for k in full if full[k] != nopl[k]} == {"pseudo_label"}
    assert full["budgets"]["quick"]["sample_steps"] == DEFAULT_BUDGETS["quick"]["sample_steps"]


def test_changing_the_au_vector_changes_the_output(fitted, data):
    labels = np.repeat(data.class_indices[:3], 2)
    aus_a = np.zeros((len(labels), len(fitted.au_names_)), np.float32)
    aus_b = aus_a.copy()
    aus_b[:, fitted.au_names_.index("AU12")] = 4.0
    assert fitted.captions(labels, aus_a) != fitted.captions(labels, aus_b)
    a = fitted.render(labels, aus_a, seed=3, guidance=False)
    b = fitted.render(labels, aus_b, seed=3, guidance=False)
    assert not torch.equal(a, b)
    # The AU path alone (text held fixed): AU tokens change, text tokens do not.
    ta, ua = fitted.net_.cond(torch.zeros(1, 4, dtype=torch.long), torch.from_numpy(aus_a[:1]))
    tb, ub = fitted.net_.cond(torch.zeros(1, 4, dtype=torch.long), torch.from_numpy(aus_b[:1]))
    assert torch.equal(ta, tb) and not torch.equal(ua, ub)
    x = torch.randn(1, 1, RES, RES)
    with torch.no_grad():
        assert not torch.equal(fitted.net_.eps(x, 500, ta, ua), fitted.net_.eps(x, 500, ta, ub))


def test_cfg_scale_zero_ignores_the_condition(fitted, data):
    n = len(data.class_indices)
    rng = np.random.default_rng(0)
    aus_a = rng.uniform(0, 5, (n, len(fitted.au_names_))).astype(np.float32)
    aus_b = rng.uniform(0, 5, (n, len(fitted.au_names_))).astype(np.float32)
    la, lb = data.class_indices, data.class_indices[::-1].copy()
    a = fitted.render(la, aus_a, seed=5, guidance=False, cfg_scale=0.0)
    b = fitted.render(lb, aus_b, seed=5, guidance=False, cfg_scale=0.0)
    assert torch.equal(a, b)
    c = fitted.render(lb, aus_b, seed=5, guidance=False, cfg_scale=2.0)
    assert not torch.equal(a, c)


def test_guidance_step_moves_the_embedding_downhill(fitted, data):
    labels = np.repeat(data.class_indices, 2)
    aus = fitted.sample_aus(np.searchsorted(fitted.class_idx_, labels), np.random.default_rng(1))
    text, au = fitted.conditions(labels, aus)
    target = torch.from_numpy(np.searchsorted(fitted.class_idx_, labels))
    x = torch.randn(len(labels), 1, RES, RES, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(300)
    ab = make_ab(t)
    _, moved, before = guidance_step(fitted.net_, fitted.clf_, x, t, text, au, target, 2.0,
                                     1e-2, ab)
    assert not torch.equal(moved, text)
    # Each image's step has norm lambda (normalised gradient).
    step = (moved - text).flatten(1).norm(dim=1)
    assert torch.allclose(step, torch.full_like(step, 1e-2), rtol=1e-3)
    _, _, after = guidance_step(fitted.net_, fitted.clf_, x, t, moved, au, target, 2.0, 1e-2, ab)
    assert after.sum() < before.sum()
    # And the opposite direction raises it (the move is not just any change).
    _, _, worse = guidance_step(fitted.net_, fitted.clf_, x, t, 2 * text - moved, au, target,
                                2.0, 1e-2, ab)
    assert worse.sum() > before.sum()


def test_guided_sampling_differs_from_unguided_at_the_same_seed(fitted, data):
    """End to end, semantic guidance must reach the samples (in version 1 the model ignored its
    text tokens and guided and unguided samples were bit-identical)."""
    labels = np.repeat(data.class_indices, 2)
    aus = fitted.sample_aus(np.searchsorted(fitted.class_idx_, labels), np.random.default_rng(1))
    guided = fitted.render(labels, aus, seed=3, guidance=True)
    plain = fitted.render(labels, aus, seed=3, guidance=False)
    assert (guided - plain).abs().max() > 1e-3


def make_ab(t):
    from ferbench_generators.synfer.model import make_noise_scheduler

    return make_noise_scheduler().alphas_cumprod[int(t)]


def test_rectify_rule_keeps_relabels_and_drops():
    # 3 members, 4 candidates, 3 classes; requested class 0 for all.
    p = torch.tensor([
        [[.8, .1, .1], [.1, .8, .1], [.4, .3, .3], [.2, .5, .3]],
        [[.7, .2, .1], [.1, .9, .0], [.3, .4, .3], [.2, .3, .5]],
        [[.2, .7, .1], [.2, .7, .1], [.3, .3, .4], [.6, .2, .2]],
    ])
    final, conf, dec = rectify(p, np.zeros(4, np.int64), relabel_threshold=0.6)
    assert dec.tolist() == [KEEP, RELABEL, DROP, DROP]
    assert final.tolist() == [0, 1, 0, 0]
    assert conf[0] == pytest.approx((.8 + .7 + .2) / 3) and conf[1] == pytest.approx(0.8)


def test_select_follows_the_harness_keep_rule():
    want = np.array([0, 0, 1, 1])
    final = np.array([0, 1, 0, 1, 1, 0])
    conf = np.array([.9, .8, .5, .7, .6, .95], np.float32)
    dec = np.array([KEEP, RELABEL, KEEP, KEEP, DROP, KEEP])
    req = np.array([0, 0, 0, 1, 1, 1])
    pick, forced = select(want, final, conf, dec, req)
    # class 0: 0.95 (idx 5), 0.9 (idx 0); class 1: 0.8 (idx 1), 0.7 (idx 3)
    assert pick.tolist() == [5, 0, 1, 3] and forced == 0


def test_pseudo_labelling_keeps_count_and_balance_and_records_rates(fitted, data):
    want = np.repeat(data.class_indices, 2)
    batch = fitted.generate(want, seed=11)
    assert len(batch.images) == len(want)
    assert np.array_equal(np.sort(batch.labels), np.sort(want))  # same per-class counts
    assert batch.requested is not None and batch.confidence is not None
    info = batch.info
    assert info["generated"] >= int(np.ceil(1.25 * len(want)))
    assert info["kept_as_requested"] + info["relabelled"] + info["dropped"] == info["generated"]
    assert info["drop_rate"] == pytest.approx(info["dropped"] / info["generated"])
    assert info["relabel_rate"] == pytest.approx(info["relabelled"] / info["generated"])
    assert info["returned_relabelled"] == int((batch.labels != batch.requested).sum())


def test_same_seed_same_images_other_seed_other_images(fitted, data):
    want = np.repeat(data.class_indices, 1)
    a, b = fitted.generate(want, seed=4), fitted.generate(want, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, fitted.generate(want, seed=5).images)


def test_refit_same_seed_is_identical(data, fitted):
    again = create_generator("synfer", text_encoder="learned").fit(
        TrainSet(data), seed=0, budget=Budget("smoke"))
    sa, sb = fitted.net_.state_dict(), again.net_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_load_gives_identical_samples(fitted, data, tmp_path):
    fitted.save(tmp_path / "fit")
    assert not list((tmp_path / "fit").glob("*.pt")) and not list((tmp_path / "fit").glob("*.pkl"))
    loaded = type(fitted).load(tmp_path / "fit")
    want = np.repeat(data.class_indices, 1)
    a, b = fitted.generate(want, seed=7), loaded.generate(want, seed=7)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert loaded.au_source_ == "dataset" and loaded.text_encoder_.startswith("learned")


def test_workdir_checkpoint_is_reused_and_resume_equals_uninterrupted(data, tmp_path):
    budgets = copy.deepcopy(DEFAULT_BUDGETS)
    budgets["smoke"].update(train_steps=4, checkpoint_every=2)
    fresh = create_generator("synfer-noguide", text_encoder="learned", pseudo_label=False,
                             budgets=budgets).fit(TrainSet(data), seed=1, budget=Budget("smoke"))
    # "Killed" after 2 steps: a fit whose budget stops there, same workdir.
    short = copy.deepcopy(budgets)
    short["smoke"]["train_steps"] = 2
    wd = tmp_path / "work"
    create_generator("synfer-noguide", text_encoder="learned", pseudo_label=False,
                     budgets=short).fit(TrainSet(data), seed=1, budget=Budget("smoke"), workdir=wd)
    resumed = create_generator("synfer-noguide", text_encoder="learned", pseudo_label=False,
                               budgets=budgets).fit(TrainSet(data), seed=1,
                                                    budget=Budget("smoke"), workdir=wd)
    assert resumed.train_steps_done_ == 2  # only the missing steps ran
    sa, sb = fresh.net_.state_dict(), resumed.net_.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)
    # A finished checkpoint is reused as is: nothing is trained again.
    again = create_generator("synfer-noguide", text_encoder="learned", pseudo_label=False,
                             budgets=budgets).fit(TrainSet(data), seed=1,
                                                  budget=Budget("smoke"), workdir=wd)
    assert again.train_steps_done_ == 0
    # A checkpoint from other settings (here another learning rate) is never continued.
    other = copy.deepcopy(budgets)
    other["smoke"]["lr"] = 2 * float(budgets["smoke"]["lr"])
    changed = create_generator("synfer-noguide", text_encoder="learned", pseudo_label=False,
                               budgets=other).fit(TrainSet(data), seed=1,
                                                  budget=Budget("smoke"), workdir=wd)
    assert changed.train_steps_done_ == 4  # trained from step 0
    # ... nor one from another seed (other batches and noise)
    reseeded = create_generator("synfer-noguide", text_encoder="learned", pseudo_label=False,
                                budgets=other).fit(TrainSet(data), seed=2,
                                                   budget=Budget("smoke"), workdir=wd)
    assert reseeded.train_steps_done_ == 4


def test_without_dataset_aus_prototypes_are_used_and_recorded(data):
    no_aus = copy.copy(data)
    no_aus.aus = None
    gen = create_generator("synfer-nopl", text_encoder="learned", guidance=False).fit(
        TrainSet(no_aus), seed=0, budget=Budget("smoke"))
    assert gen.au_source_ == "emfacs-prototypes"
    out = gen.generate(data.class_indices, seed=0)
    assert out.images.shape == (len(data.class_indices), RES, RES, 1)


def test_bad_aus_shape_and_unknown_label_are_config_errors(fitted, data):
    from ferbench.errors import ConfigError

    with pytest.raises(ConfigError, match="aus must have shape"):
        fitted.generate(data.class_indices, seed=0, aus=np.zeros((1, 2)))
    with pytest.raises(ConfigError, match="not among the fitted classes"):
        fitted.generate(np.array([7]), seed=0)


@pytest.mark.slow  # tests/test_generators.py already runs it over every registered generator
def test_conformance_check_passes():
    from ferbench.api.conformance import check_generator

    passed = check_generator("synfer")
    assert len(passed) >= 7 and all(r.ok for r in passed)


@pytest.mark.parametrize("solver", ["dpmsolver++", "unipc", "ddpm"])
def test_sampler_is_stable_under_an_imperfect_denoiser(solver):
    """x0 is clipped at every solver step: with a denoiser that knows the one training image up
    to a small error, every solver lands near it in 8 steps. Without the clip the cosine
    schedule's first step (ᾱ = 2.4e-9 at t = 999) multiplies the error by ~2e4 and the samples
    saturate (this was synfer version 1's failure)."""
    from ferbench_generators.synfer.model import make_noise_scheduler, sample

    target = torch.linspace(-0.8, 0.8, 16 * 16).reshape(1, 1, 16, 16)
    ac = make_noise_scheduler().alphas_cumprod
    g = torch.Generator().manual_seed(0)

    class NoisyOracle:
        def eps(self, x, t, text, au):
            ab = ac[int(t)]
            exact = (x - ab.sqrt() * target) / (1 - ab).sqrt()
            # like a trained net: a slightly wrong estimate of bounded size
            return exact.clamp(-4, 4) + 0.05 * torch.randn(x.shape, generator=g)

    noise = torch.randn((4, 1, 16, 16), generator=torch.Generator().manual_seed(1))
    tokens = torch.zeros((4, 2, 8))
    out = sample(NoisyOracle(), tokens, tokens, noise, steps=8, cfg_scale=1.0, solver=solver,
                 generator=torch.Generator().manual_seed(2))
    assert (out - target).abs().mean() < 0.1


def test_variants_share_one_fit_but_not_their_pools():
    """synfer's ablations switch sampling steps off, so they share synfer's fit (one UNet, so
    the ablation isolates the step); a fit param gives another fit; every variant has its own
    pool; a generator without ``fit_key`` keeps the ids it always had."""
    from ferbench.api import shared_fit_key
    from ferbench.api.results import PoolSpec
    from ferbench.identity import fit_id, pool_id

    def pool(name, **params):
        gen = create_generator(name, **params)
        return PoolSpec(generator=name, generator_version="2", generator_params=gen.get_params(),
                        dataset="toyfaces", train_split="train", dataset_hash="d",
                        train_hash="t", resolution=48, channels=1, real_per_class=100,
                        real_fraction=1.0, seed=0, budget="quick", fit_key=shared_fit_key(gen))

    full, noguide, nopl = pool("synfer"), pool("synfer-noguide"), pool("synfer-nopl")
    assert full.fit_id == noguide.fit_id == nopl.fit_id
    assert len({full.pool_id, noguide.pool_id, nopl.pool_id}) == 3
    assert pool("synfer", cfg_scale=3.0).fit_id == full.fit_id  # sample-time
    assert pool("synfer", p_uncond=0.2).fit_id != full.fit_id  # trains differently
    assert pool("synfer-noguide", max_au_phrases=2).fit_id != noguide.fit_id
    noise = pool("noise")
    assert noise.fit_key is None
    assert noise.fit_id == fit_id(generator="noise", generator_version="2",
                                  generator_params=noise.generator_params, train_hash="t",
                                  resolution=48, channels=1, seed=0, budget="quick")
    assert noise.pool_id == pool_id(noise.fit_id, None)


def test_mix_smoke_runs_and_the_ablations_reuse_synfer_s_fit(shared_home, tmp_path,
                                                             monkeypatch):
    """`ferbench run -g synfer -p mix` at smoke completes and is stored; then the two ablations
    at the same setting load synfer's saved fit (no second fit), each with its own sampling
    switches, into their own pools."""
    from ferbench.engine import Context, run_protocol
    from ferbench.protocol import load_protocol
    from ferbench.results.store import ResultStore
    from ferbench_generators.synfer.generator import SynFER

    fits = []
    real_fit = SynFER.fit

    def counting_fit(self, *a, **k):
        fits.append(self.meta.name)
        return real_fit(self, *a, **k)

    monkeypatch.setattr(SynFER, "fit", counting_fit)
    spec = load_protocol("mix").override(budget="smoke", ratios=[1], real_per_class=6,
                                         resolution=RES)
    store = ResultStore(tmp_path / "r.duckdb")
    pools, infos = {}, {}
    for name in ("synfer", "synfer-noguide", "synfer-nopl"):
        out = run_protocol(spec, name, {"text_encoder": "learned"}, store,
                           Context(progress=False, n_boot=50))
        (mixed,) = [r for r in out.records if r["ratio"] == 1]
        assert mixed["generator"] == name and mixed["n_synthetic"] == mixed["n_real"]
        pools[name] = mixed["pool_id"]
        infos[name] = mixed["pool_stats"]["generator_info"]
    assert fits == ["synfer"]  # fitted once, loaded twice
    assert len(set(pools.values())) == 3
    # the pseudo-labeller ran (its rounds are counted) except where the variant switched it off
    assert infos["synfer"]["rounds"] >= 1 and infos["synfer-noguide"]["rounds"] >= 1
    assert "rounds" not in infos["synfer-nopl"]
    # same fit, same seed, pseudo-labels on in both: only guidance differs, and it acts
    # (were the loaded fit left with synfer's own params, these pools would be identical)
    from ferbench.engine.artifacts import read_block

    a, b = (read_block(pools[n], 0)[0]["images"] for n in ("synfer", "synfer-noguide"))
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert len(store) == 4  # one shared real-only cell + three mixed cells


def test_checkpoint_fingerprint_is_the_same_in_every_process():
    """The fingerprint that lets a killed fit resume must not change between processes: the
    diffusers scheduler config carries a list built from a set (``_use_default_values``), whose
    order follows Python's per-process string hashing. With it, a restarted fit ignored its
    own checkpoint and trained from step 0."""
    import os
    import subprocess
    import sys

    code = ("import torch\n"
            "from ferbench_generators.synfer.model import make_noise_scheduler\n"
            "from ferbench_generators.synfer.train_state import fingerprint, schedule_config\n"
            "print(fingerprint({'lr': 1e-3}, {'x': torch.zeros(2, 3)}, "
            "{'noise_schedule': schedule_config(make_noise_scheduler())}, {}))\n")
    fps = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": str(h)}
                          ).stdout.strip() for h in range(3)}
    assert len(fps) == 1, fps
