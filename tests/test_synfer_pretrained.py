"""synfer(pretrained=PATH): a tiny randomly initialised Stable Diffusion pipeline, saved by the
test with ``save_pretrained`` into a temp folder (nothing is downloaded; the CLIP tokenizer's
vocabulary is the 256 byte-level symbols, built here), then fit/generate/save/load at smoke."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from ferbench.api import Budget, TrainSet, create_generator
from ferbench.data.toyfaces import load_toyfaces
from ferbench.errors import ConfigError

RES = 24


def make_tiny_sd(root):
    """A real diffusers SD folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
    scheduler/) with tiny random weights: latents 4×8×8, images 16 px, CLIP width 16."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in sorted(ByteLevel.alphabet()):  # character-level BPE: no merges needed
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
        pad_token_id=1))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=2, norm_num_groups=8)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 16), latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8, sample_size=16)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer,
                            scheduler=scheduler, safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def sd(tmp_path_factory):
    return make_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="module")
def data():
    return load_toyfaces("train", resolution=RES, channels=1, n_per_class=4)


@pytest.fixture(scope="module")
def fitted(sd, data):
    return create_generator("synfer", pretrained=str(sd)).fit(
        TrainSet(data), seed=0, budget=Budget("smoke"))


def _frozen_state(module):
    """A module's own weights, without the AU processors installed on it."""
    return {k: v for k, v in module.state_dict().items() if ".processor." not in k}


def test_only_the_au_adapter_is_trained(fitted, sd):
    from ferbench_generators.synfer.pretrained import load_parts

    fresh = load_parts(sd)
    for part in ("unet", "vae", "text_encoder"):
        got, want = _frozen_state(getattr(fitted.net_, part)), fresh[part].state_dict()
        assert set(got) == set(want), part
        assert all(torch.equal(got[k], want[k]) for k in want), part
    # Everything that is not a frozen SD weight is adapter: the AU MLP and to_k_au / to_v_au.
    frozen = {id(p) for part in ("unet", "vae", "text_encoder")
              for p in fresh[part].parameters()}
    adapter = {id(p) for p in fitted.net_.adapter_parameters()}
    assert adapter.isdisjoint(frozen)
    named = dict(fitted.net_.named_parameters())
    others = {n for n, p in named.items() if id(p) not in adapter}
    assert all(".processor." not in n and not n.startswith("au_encoder.") for n in others)
    # to_v_au starts at zero; training moved it (the adapter really trained).
    assert any(p.to_v_au.weight.abs().sum() > 0 for p in fitted.net_.adapters.values())
    assert fitted.train_steps_done_ == 4 and np.isfinite(fitted.last_loss_)


def test_untrained_adapter_leaves_the_pretrained_unet_unchanged(fitted, sd):
    from ferbench_generators.synfer.pretrained import PretrainedNet, load_parts

    net = PretrainedNet(sd, fitted.vocab_, len(fitted.au_names_), 2, 1.0)
    plain = load_parts(sd)["unet"]
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 4, 8, 8, generator=g)
    text = torch.randn(3, 77, 16, generator=g)
    au = net.au_encoder(torch.rand(3, len(fitted.au_names_), generator=g) * 5)
    with torch.no_grad():
        a = net.eps(z, 500, text - net.null_text, au)
        b = plain(z, 500, encoder_hidden_states=text).sample
    assert torch.allclose(a, b, atol=1e-5)


def test_au_tokens_reach_the_trained_unet(fitted):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 4, 8, 8, generator=g)
    ids = torch.zeros(2, 4, dtype=torch.long)
    aus_a = torch.zeros(2, len(fitted.au_names_))
    aus_b = aus_a.clone()
    aus_b[:, fitted.au_names_.index("AU12")] = 4.0
    with torch.no_grad():
        ta, ua = fitted.net_.cond(ids, aus_a)
        tb, ub = fitted.net_.cond(ids, aus_b)
        assert torch.equal(ta, tb) and not torch.equal(ua, ub)
        assert not torch.equal(fitted.net_.eps(z, 500, ta, ua), fitted.net_.eps(z, 500, ta, ub))
        # the null condition is SD's empty caption: zero text tokens = embedding of ""
        empty = fitted.net_._encode_captions([""])
        assert torch.equal(fitted.net_.null_text, empty)


def test_generate_honours_labels_and_seed(fitted, data):
    want = np.repeat(data.class_indices, 2)
    a, b = fitted.generate(want, seed=4), fitted.generate(want, seed=4)
    assert a.images.shape == (len(want), RES, RES, 1) and a.images.dtype == np.uint8
    assert np.array_equal(a.requested, want)
    assert sorted(a.labels.tolist()) == sorted(want.tolist())  # balanced, exactly n
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, fitted.generate(want, seed=5).images)
    assert a.info["pseudo_label"] and a.info["generated"] >= len(want)


def test_semantic_guidance_runs_through_the_vae_decoder(fitted, data):
    labels = data.class_indices
    aus = fitted.sample_aus(np.searchsorted(fitted.class_idx_, labels), np.random.default_rng(0))
    counter = {}
    guided = fitted.render(labels, aus, seed=2, guidance=True, counter=counter)
    plain = fitted.render(labels, aus, seed=2, guidance=False)
    assert guided.shape == plain.shape == (len(labels), 1, RES, RES)
    assert guided.abs().max() <= 1.0
    assert not torch.equal(guided, plain)
    assert counter["unet_evals"] == 2 * len(labels) * 3  # 3 smoke steps, CFG or guided: 2 each


def test_save_load_round_trip_keeps_only_the_adapter(fitted, data, tmp_path):
    from safetensors import safe_open

    fitted.save(tmp_path / "fit")
    config = json.loads((tmp_path / "fit" / "config.json").read_text())
    assert config["pretrained_path"] == str(fitted.pretrained_folder_)
    assert len(config["unet_sha256"]) == 64
    with safe_open(str(tmp_path / "fit" / "state.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("adapter.") for k in keys)
    assert not any(k.startswith("net.") for k in keys)  # no SD weights copied
    loaded = type(fitted).load(tmp_path / "fit")
    want = np.repeat(data.class_indices, 1)
    a, b = fitted.generate(want, seed=7), loaded.generate(want, seed=7)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


def test_load_refuses_changed_unet_weights(fitted, sd, tmp_path):
    from diffusers import UNet2DConditionModel

    other = shutil.copytree(sd, tmp_path / "sd-copy")
    fitted.save(tmp_path / "fit")
    cfg_path = tmp_path / "fit" / "config.json"
    config = json.loads(cfg_path.read_text())
    config["pretrained_path"] = str(other)
    cfg_path.write_text(json.dumps(config))
    type(fitted).load(tmp_path / "fit")  # identical copy: accepted
    unet = UNet2DConditionModel.from_pretrained(other, subfolder="unet", local_files_only=True)
    with torch.no_grad():
        unet.conv_out.bias.add_(0.01)
    unet.save_pretrained(other / "unet")
    with pytest.raises(ConfigError, match="changed since this generator was fitted") as e:
        type(fitted).load(tmp_path / "fit")
    assert "\n" not in str(e.value) and str(other) in str(e.value)


def test_bad_folders_are_one_line_config_errors(sd, data, tmp_path):
    def fit(path):
        create_generator("synfer", pretrained=str(path)).fit(TrainSet(data), seed=0,
                                                             budget=Budget("smoke"))

    with pytest.raises(ConfigError, match="does not exist") as e:
        fit(tmp_path / "nowhere")
    assert "\n" not in str(e.value) and "nowhere" in str(e.value)
    partial = shutil.copytree(sd, tmp_path / "no-vae")
    shutil.rmtree(partial / "vae")
    with pytest.raises(ConfigError, match="missing vae/") as e:
        fit(partial)
    assert "\n" not in str(e.value) and str(partial) in str(e.value)
    broken = shutil.copytree(sd, tmp_path / "v-pred")
    sc = broken / "scheduler" / "scheduler_config.json"
    sc.write_text(json.dumps({**json.loads(sc.read_text()), "prediction_type": "v_prediction"}))
    with pytest.raises(ConfigError, match="incompatible.*prediction_type") as e:
        fit(broken)
    assert "\n" not in str(e.value) and str(broken) in str(e.value)
    corrupt = shutil.copytree(sd, tmp_path / "corrupt")
    (corrupt / "text_encoder" / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load") as e:
        fit(corrupt)
    assert "\n" not in str(e.value) and str(corrupt) in str(e.value)


def test_workdir_resume_equals_uninterrupted(sd, data, tmp_path):
    import copy

    from ferbench_generators.synfer.budgets import DEFAULT_BUDGETS

    def gen(steps):
        budgets = copy.deepcopy(DEFAULT_BUDGETS)
        budgets["smoke"]["pretrained"] = {"train_steps": steps, "checkpoint_every": 2}
        return create_generator("synfer-nopl", pretrained=str(sd), guidance=False,
                                budgets=budgets)

    fresh = gen(4).fit(TrainSet(data), seed=1, budget=Budget("smoke"))
    wd = tmp_path / "work"
    gen(2).fit(TrainSet(data), seed=1, budget=Budget("smoke"), workdir=wd)
    resumed = gen(4).fit(TrainSet(data), seed=1, budget=Budget("smoke"), workdir=wd)
    assert resumed.train_steps_done_ == 2
    sa, sb = fresh.net_.adapter_state_dict(), resumed.net_.adapter_state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)


def test_missing_transformers_is_a_one_line_config_error(sd, monkeypatch):
    import importlib.util

    from ferbench_generators.synfer import pretrained

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(ConfigError, match=r"ferbench\[pretrained\]") as e:
        pretrained.load_parts(sd)
    assert "\n" not in str(e.value) and str(sd) in str(e.value)
