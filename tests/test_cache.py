"""The prepared cache: reuse without decoding, keys, atomic writes, procedural adapters."""

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferbench.data import cache, registry
from ferbench.data import decode as D
from ferbench.data.base import FaceData
from ferbench.data.cache import cache_dir, load
from ferbench.data.splits import SPLITS
from ferbench.errors import ConfigError, DataError


@pytest.fixture
def home(tmp_path_factory, monkeypatch):
    h = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FERBENCH_HOME", str(h))
    return h


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    for c, cls in enumerate(("happy", "sad", "angry")):
        for i in range(10):
            p = root / cls / f"{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((20, 20), c * 40 + i, np.uint8)).save(p)
    return root


def _entries(home):
    return sorted((home / "prepared").glob("*.npz"))


def _no_decode(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("decoded again")
    monkeypatch.setattr(D, "decode_records", boom)
    monkeypatch.setattr(D, "decode_one", boom)


def test_second_load_never_decodes(home, folder, monkeypatch):
    first = {s: load("imagefolder", s, root=folder, resolution=16) for s in SPLITS}
    assert not any(d.meta["cache_hit"] for d in first.values())
    _no_decode(monkeypatch)
    for s in SPLITS:
        d = load("imagefolder", s, root=folder, resolution=16)
        assert d.meta["cache_hit"] and d.split == s and d.name == "imagefolder"
        np.testing.assert_array_equal(d.images, first[s].images)
        np.testing.assert_array_equal(d.labels, first[s].labels)
        assert d.ids.tolist() == first[s].ids.tolist()
        assert d.classes == first[s].classes
        assert d.meta["content_hash"] == first[s].meta["content_hash"] == d.content_hash()
    assert len(_entries(home)) == 3


def test_entry_layout_and_meta(home, folder):
    d = load("imagefolder", "train", root=folder, resolution=16, channels=3, seed=2)
    [npz] = _entries(home)
    assert npz.name.startswith("imagefolder-train-16px-c3-")
    meta = json.loads(npz.with_suffix(".json").read_text())
    assert meta["content_hash"] == d.content_hash()
    assert meta["resample"] == D.RESAMPLE_NAME and meta["seed"] == 2
    assert meta["skipped"] == [] and meta["n"] == len(d) == 24
    assert not list((home / "prepared").glob(".*"))  # no temp files left


def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("FERBENCH_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv("FERBENCH_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert cache_dir() == tmp_path / "h" / ".cache" / "ferbench"


def test_key_covers_options_and_source(home, folder, monkeypatch):
    load("imagefolder", "val", root=folder)
    load("imagefolder", "val", root=folder, resolution=32)
    load("imagefolder", "val", root=folder, channels=3)
    load("imagefolder", "val", root=folder, seed=1)
    assert len(_entries(home)) == 4
    assert load("imagefolder", "val", root=folder).meta["cache_hit"]
    # a changed source file invalidates the entry
    p = folder / "happy" / "0.png"
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    assert not load("imagefolder", "val", root=folder).meta["cache_hit"]
    # a new file too
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(folder / "sad" / "new.png")
    assert not load("imagefolder", "val", root=folder).meta["cache_hit"]


def test_moved_root_keeps_cache(home, folder, tmp_path, monkeypatch):
    a = load("imagefolder", "test", root=folder)
    moved = tmp_path / "moved"
    folder.rename(moved)
    _no_decode(monkeypatch)
    b = load("imagefolder", "test", root=moved)
    assert b.meta["cache_hit"] and b.meta["content_hash"] == a.meta["content_hash"]


def test_seed_not_in_key_for_official_splits(home, tmp_path):
    rows = ["emotion,pixels,Usage"] + [f"{c},{' '.join(['7'] * 2304)},Training" for c in range(7)]
    csv = tmp_path / "fer2013.csv"
    csv.write_text("\n".join(rows))
    load("fer2013", "train", root=csv, seed=0)
    assert load("fer2013", "train", root=csv, seed=5).meta["cache_hit"]
    assert len(_entries(home)) == 1
    csv.write_text("\n".join(rows[:-1]))  # csv content is hashed
    assert len(load("fer2013", "train", root=csv)) == 6


def test_interrupted_write_leaves_no_entry(home, folder, monkeypatch):
    def dying_savez(f, **arrays):
        f.write(b"PK\x03\x04 half an entry")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        load("imagefolder", "train", root=folder)
    assert not list((home / "prepared").iterdir())
    monkeypatch.undo()
    monkeypatch.setenv("FERBENCH_HOME", str(home))
    d = load("imagefolder", "train", root=folder)
    assert not d.meta["cache_hit"] and len(_entries(home)) == 1


def test_unreadable_entry_is_rebuilt(home, folder):
    load("imagefolder", "train", root=folder)
    [npz] = _entries(home)
    npz.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        d = load("imagefolder", "train", root=folder)
    assert not d.meta["cache_hit"] and len(d) == 24
    assert load("imagefolder", "train", root=folder).meta["cache_hit"]


def test_aus_roundtrip(home, tmp_path):
    rows = ["path,label,split,AU4,AU12"]
    for i, split in enumerate(["train", "train", "val", "test"]):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,happy,{split},{i},{i / 2}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows))
    a = load("manifest", "train", root=tmp_path, resolution=8)
    b = load("manifest", "train", root=tmp_path, resolution=8)
    assert b.meta["cache_hit"] and b.au_names == ("AU4", "AU12")
    np.testing.assert_array_equal(a.aus, b.aus)
    assert b.aus.dtype == np.float32


class _Procedural:
    name = "proc-test"
    version = "3"
    classes = ("happy", "sad")
    needs_root = False
    description = "test"
    license = "none"
    splits = ("train", "test")
    seeded = False

    def __init__(self):
        self.calls = 0

    def build(self, split, resolution, channels, seed):
        self.calls += 1
        n = 4
        return FaceData(name="proc-test", split=split,
                        images=np.full((n, resolution, resolution, channels), 9, np.uint8),
                        labels=np.array([1, 2, 1, 2]), classes=self.classes,
                        aus=np.ones((n, 2), np.float32), au_names=("AU1", "AU2"),
                        meta={"renderer": "unit-test"})


@pytest.fixture
def proc():
    a = _Procedural()
    registry.register(a.name, a, replace=True)
    yield a
    registry.unregister(a.name)


def test_procedural_adapter_goes_through_cache(home, proc):
    d = load("proc-test", "train", resolution=12, channels=3)
    assert proc.calls == 1 and d.images.shape == (4, 12, 12, 3)
    assert d.meta["renderer"] == "unit-test" and d.meta["seed"] is None
    again = load("proc-test", "train", resolution=12, channels=3, seed=7)
    assert proc.calls == 1 and again.meta["cache_hit"]
    assert again.aus.shape == (4, 2) and again.meta["content_hash"] == d.content_hash()
    with pytest.raises(DataError, match="no 'val' split"):
        load("proc-test", "val")


def test_procedural_wrong_shape_is_error(home, proc, monkeypatch):
    monkeypatch.setattr(proc, "build", lambda split, r, c, s: _Procedural.build(proc, split, 8, c, s))
    with pytest.raises(DataError, match="asked for"):
        load("proc-test", "train", resolution=16)


@pytest.mark.parametrize("kw", [{"resolution": 0}, {"resolution": 2.5}, {"channels": 2}])
def test_bad_arguments(home, folder, kw):
    with pytest.raises(ConfigError):
        load("imagefolder", "train", root=folder, **kw)


def test_clear(home, folder):
    load("imagefolder", "train", root=folder)
    load("imagefolder", "test", root=folder)
    assert cache.clear("fer2013") == 0
    assert cache.clear("imagefolder") == 2
    assert not _entries(home)


def test_toyfaces_is_registered_lazily():
    # the module may not exist yet; the registry entry must, and must not break imports
    assert "toyfaces" in registry.list_datasets()
    try:
        a = registry.get_adapter("toyfaces")
    except DataError as e:
        pytest.skip(f"toyfaces not available: {e}")
    assert a.name == "toyfaces" and a.needs_root is False and hasattr(a, "build")
    assert isinstance(Path(cache_dir()), Path)


def test_no_warning_on_clean_hit(home, folder):
    load("imagefolder", "train", root=folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load("imagefolder", "train", root=folder)
