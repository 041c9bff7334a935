"""Pseudo-label rectification: SynFER's label calibrator with ensemble voting.

Every synthetic candidate is scored by the ensemble of small FER models trained on the real
training split (:mod:`.classifiers`). With ``p`` the members' mean softmax and ``votes`` their
arg-maxes:

- **keep** when a majority of members vote for the requested class (confidence = ``p[req]``);
- **relabel** when all members vote for one other class and ``p`` of that class is at least
  ``relabel_threshold`` (confidence = ``p[new]``);
- **drop** otherwise (the ensemble is uncertain).

Then :func:`select` applies the harness's own keep rule (contract v2, "relabel and drop") inside
the generator: for every class it takes the requested number of candidates whose final label is
that class, highest confidence first. Decision: the generator returns exactly ``n`` balanced
candidates rather than the whole over-generated pool, because ferbench's conformance check
(``ferbench.check``) requires ``len(images) == len(labels requested)``; the harness's rule then
keeps all of them, and the relabel rate it computes from ``requested`` vs ``labels`` is the same.
Over-generation and top-up rounds (new seeds) happen here, so a short class is refilled before
returning; only if it is still short after ``max_rounds`` are dropped candidates of that class
used (lowest trust, confidence 0), counted as ``forced`` in ``info``.
"""

from __future__ import annotations

import numpy as np
import torch

KEEP, RELABEL, DROP = 0, 1, 2


def rectify(probs: torch.Tensor, requested: np.ndarray, relabel_threshold: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``probs``: ``(M, N, K)`` member probabilities over contiguous classes; ``requested``:
    ``(N,)`` contiguous positions. Returns ``(final, confidence, decision)``; ``final`` is the
    contiguous class (the requested one for dropped candidates), ``decision`` KEEP/RELABEL/DROP.
    """
    req = torch.as_tensor(np.asarray(requested, dtype=np.int64))
    mean = probs.mean(0)
    votes = probs.argmax(2)  # (M, N)
    m = probs.shape[0]
    agree_req = (votes == req[None]).sum(0) * 2 > m
    top = mean.argmax(1)
    unanimous = (votes == top[None]).all(0)
    top_p = mean.gather(1, top[:, None])[:, 0]
    relabel = ~agree_req & (top != req) & unanimous & (top_p >= relabel_threshold)
    decision = torch.full((len(req),), DROP, dtype=torch.int64)
    decision[agree_req] = KEEP
    decision[relabel] = RELABEL
    final = torch.where(relabel, top, req)
    conf = torch.where(relabel, top_p, mean.gather(1, req[:, None])[:, 0])
    return final.numpy(), conf.numpy().astype(np.float32), decision.numpy()


def select(want: np.ndarray, final: np.ndarray, conf: np.ndarray, decision: np.ndarray,
           requested: np.ndarray) -> tuple[np.ndarray, int]:
    """Indices into the candidates, one per position of ``want`` (labels requested, any label
    space): for each class, kept or relabelled candidates whose final label is that class,
    highest confidence first (stable), then dropped candidates *requested* for it if still
    short. Returns ``(index, forced)``; ``forced`` counts dropped candidates used; an index of
    -1 means none was left at all."""
    out = np.full(len(want), -1, dtype=np.int64)
    forced = 0
    ok = decision != DROP
    for c in np.unique(want):
        slots = np.flatnonzero(want == c)
        good = np.flatnonzero(ok & (final == c))
        good = good[np.argsort(-conf[good], kind="stable")]
        take = list(good[:len(slots)])
        if len(take) < len(slots):
            spare = np.flatnonzero(~ok & (requested == c))
            spare = spare[np.argsort(-conf[spare], kind="stable")]
            extra = list(spare[:len(slots) - len(take)])
            forced += len(extra)
            take += extra
        out[slots[:len(take)]] = take
    return out, forced


def shortfall(want: np.ndarray, final: np.ndarray, decision: np.ndarray) -> dict[int, int]:
    """Per class of ``want``: how many more usable candidates are needed."""
    ok = decision != DROP
    need = {}
    for c, k in zip(*np.unique(want, return_counts=True)):
        have = int((ok & (final == c)).sum())
        if have < k:
            need[int(c)] = int(k - have)
    return need
