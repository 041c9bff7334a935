"""The one fixture factory for result records: every test builds records from the typed schema
(ferbench.api.results), never by hand-copying its fields."""

from __future__ import annotations

from ferbench.api.results import CellResult, CellSpec, PoolResult, PoolSpec, Provenance, Score

CLASSES3 = ["anger", "happy", "neutral"]


def make_spec(**over) -> CellSpec:
    base = dict(protocol="p1", protocol_version=1, engine_version=2, mode="mix",
                dataset="toyfaces", train_split="train", test_dataset="toyfaces",
                test_split="test", resolution=48, channels=1, real_fraction=1.0,
                real_per_class=None, classifier="noncomplex-cnn", budget="smoke", seed=0,
                ratio=0.5, dataset_hash="d" * 16, test_dataset_hash="e" * 16,
                generator="noise", generator_version="0.1",
                generator_params={"sigma": 0.1, "x": [1, 2]}, amp="off", n_boot=100)
    base.update(over)
    return CellSpec(**base)


def provenance(i: int = 0) -> Provenance:
    return Provenance(ferbench_version="0.1.0", git_sha=None, git_dirty=None,
                      python_version="3.11.7", host="testhost", torch_version="2.14.1",
                      device="cpu", wall_time_s=1.25,
                      created_at=f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z")


def make_result(i: int = 0, n_test: int = 30, classes=CLASSES3, acc: float | None = None,
                y_pred=None, val_acc: float | None = None, **spec_over) -> CellResult:
    """A valid cell result; ``i`` varies the seed (hence the cell_id) and the scores."""
    k = len(classes)
    spec_over.setdefault("seed", i)
    spec = make_spec(**spec_over)
    y_true = [(j + i) % k for j in range(n_test)]
    y_pred = list(y_pred) if y_pred is not None else [(j * 7 + i) % k for j in range(n_test)]
    conf = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred):
        conf[t][p] += 1
    a = 0.01 * (i % 50) + 1 / 3 if acc is None else acc
    metrics = dict(accuracy=a, accuracy_lo=a - 0.1, accuracy_hi=a + 0.1,
                   balanced_accuracy=0.3, balanced_accuracy_lo=0.2, balanced_accuracy_hi=0.4,
                   macro_f1=0.25, macro_f1_lo=0.1, macro_f1_hi=0.5, n_test=n_test)
    val = None
    if val_acc is not None:
        val = {**{m: val_acc for m in metrics if m != "n_test"}, "n_test": 10}
    return CellResult(
        spec=spec, n_real=100 if spec.mode != "synthetic" else 0,
        n_synthetic=int(100 * spec.ratio), n_test=n_test, metrics=metrics,
        per_class=[{"class": c, "recall": 0.5, "precision": 0.25, "f1": 1 / 3, "support": 10}
                   for c in classes],
        confusion=conf, classes=list(classes), y_true=y_true, y_pred=y_pred,
        provenance=provenance(i), val_metrics=val, n_val=10 if val else None,
        pool_id="f" * 16 if spec.ratio > 0 else None)


def make_record(i: int = 0, n_test: int = 30, **over) -> dict:
    """``make_result(i).to_record()`` with top-level fields overridden (for store tests)."""
    rec = make_result(i, n_test=n_test).to_record()
    rec.update(over)
    return rec


def make_pool_spec(**over) -> PoolSpec:
    base = dict(generator="noise", generator_version="1", generator_params={"smooth": 3},
                dataset="toyfaces", train_split="train", dataset_hash="d" * 16,
                train_hash="t" * 16, resolution=48, channels=1, real_per_class=30,
                real_fraction=1.0, seed=0, budget="smoke")
    base.update(over)
    return PoolSpec(**base)


def make_pool_result(**over) -> PoolResult:
    pool = make_pool_spec(**over.pop("pool", {}))
    base = dict(pool=pool, pool_id=pool.pool_id, protocol="fidelity", protocol_version=1, n=100,
                scores=[Score("fid", 12.5, lo=11.0, hi=14.0, higher_is_better=False, n=100),
                        Score("label_fidelity", 0.8, n=100),
                        Score("fid_class_disgust", None, higher_is_better=False, n=3,
                              note="not computable: 3 images < 10")],
                provenance=provenance(), config={"feature_extractor": "inception-v3",
                                                 "weights_sha256": "ab" * 32})
    base.update(over)
    return PoolResult(**base)
