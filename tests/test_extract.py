"""Content-aware reuse of an extracted archive (ferbench.data.extract) on tiny tar.gz files
that the tests build: same names and file count, different bytes -> re-extracted."""

import io
import json
import os
import tarfile

import pytest

from ferbench.data import extract as X
from ferbench.errors import DataError

FILES = ("train/happy/Training_1.jpg", "train/sad/Training_2.jpg", "test/happy/PublicTest_3.jpg")


def make_archive(path, fill: bytes, top="fer2013", mtime=None):
    """A tar.gz with ``top/<FILES>``, each file 64 bytes of ``fill``."""
    with tarfile.open(path, "w:gz") as tar:
        for name in FILES:
            data = fill * 64
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))
    return path


def contents(folder):
    return {n: (folder / n).read_bytes() for n in FILES}


def no_extraction(*a, **k):
    raise AssertionError("extracted again")


def test_extract_then_reuse_unchanged(tmp_path, monkeypatch):
    arc = make_archive(tmp_path / "a.tar.gz", b"A")
    cache = tmp_path / "cache"
    r = X.extract_cached(arc, cache, "fer2013")
    assert r.extracted and r.reason == "no extraction" and r.path == cache / "fer2013"
    assert contents(r.path) == {n: b"A" * 64 for n in FILES}
    stamp = json.loads((cache / ".fer2013.extract.json").read_text())
    assert stamp["sha256"] == X.sha256_file(arc) and stamp["size"] == arc.stat().st_size
    assert stamp["n_files"] == len(FILES) and stamp["mtime_ns"] == arc.stat().st_mtime_ns
    # nothing but the archive's files inside the extraction; no temporary folders left
    assert sorted(p.name for p in cache.iterdir()) == [".fer2013.extract.json",
                                                       ".fer2013.extract.lock", "fer2013"]

    monkeypatch.setattr(X, "_extract_all", no_extraction)
    r2 = X.extract_cached(arc, cache, "fer2013")
    assert not r2.extracted and r2.reason == "reused"
    # an identical archive copied anew (new mtime) is the same content: still reused
    os.utime(arc, ns=(1, 1))
    assert X.extract_cached(arc, cache, "fer2013").reason == "reused"


def test_replaced_archive_same_count_same_size_same_mtime_is_reextracted(tmp_path):
    """The FER2013 case: the archive at the same path is swapped for one with the same file
    names and count (here even the same size and mtime), different pixels."""
    arc = make_archive(tmp_path / "a.tar.gz", b"A", mtime=10**18)
    cache = tmp_path / "cache"
    X.extract_cached(arc, cache, "fer2013")
    size = arc.stat().st_size
    make_archive(arc, b"B", mtime=10**18)
    assert arc.stat().st_size == size and arc.stat().st_mtime_ns == 10**18
    r = X.extract_cached(arc, cache, "fer2013")
    assert r.extracted and r.reason == "archive changed"
    assert contents(r.path) == {n: b"B" * 64 for n in FILES}
    assert json.loads((cache / ".fer2013.extract.json").read_text())["sha256"] == \
        X.sha256_file(arc)
    assert not [p for p in cache.iterdir() if ".new-" in p.name or ".old-" in p.name]


def test_unstamped_old_extraction_is_replaced(tmp_path):
    """A folder extracted by hand before stamps existed (the old blurred copy in
    ~/.cache/ferbench-data) has the right file count but no stamp: it is replaced."""
    cache = tmp_path / "cache"
    for n in FILES:
        (cache / "fer2013" / n).parent.mkdir(parents=True, exist_ok=True)
        (cache / "fer2013" / n).write_bytes(b"old")
    arc = make_archive(tmp_path / "a.tar.gz", b"N")
    r = X.extract_cached(arc, cache, "fer2013")
    assert r.extracted and r.reason == "no stamp"
    assert contents(r.path) == {n: b"N" * 64 for n in FILES}


def test_failed_extraction_keeps_old_folder_and_retries(tmp_path, monkeypatch):
    arc = make_archive(tmp_path / "a.tar.gz", b"A")
    cache = tmp_path / "cache"
    X.extract_cached(arc, cache, "fer2013")
    make_archive(arc, b"B")

    def broken(archive, dest):
        (dest / "fer2013").mkdir()
        (dest / "fer2013" / "half").write_bytes(b"x")
        raise DataError(f"{archive}: cannot extract (disk full)")

    monkeypatch.setattr(X, "_extract_all", broken)
    with pytest.raises(DataError, match="disk full"):
        X.extract_cached(arc, cache, "fer2013")
    assert contents(cache / "fer2013") == {n: b"A" * 64 for n in FILES}
    assert not [p for p in cache.iterdir() if ".new-" in p.name]
    monkeypatch.undo()
    r = X.extract_cached(arc, cache, "fer2013")  # the stale stamp still does not match
    assert r.extracted and contents(r.path) == {n: b"B" * 64 for n in FILES}


def test_bad_archives_are_one_line_errors(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"missing\.tar\.gz: archive not found"):
        X.extract_cached(tmp_path / "missing.tar.gz", cache, "fer2013")
    wrong = make_archive(tmp_path / "wrong.tar.gz", b"A", top="other")
    with pytest.raises(DataError, match="no top-level folder 'fer2013'"):
        X.extract_cached(wrong, cache, "fer2013")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    with pytest.raises(DataError, match=r"junk\.tar\.gz: cannot extract"):
        X.extract_cached(junk, cache, "fer2013")
    assert not (cache / "fer2013").exists()


def test_zip_archive(tmp_path):
    import zipfile

    arc = tmp_path / "a.zip"
    with zipfile.ZipFile(arc, "w") as z:
        for n in FILES:
            z.writestr(f"fer2013/{n}", b"Z" * 64)
    r = X.extract_cached(arc, tmp_path / "cache", "fer2013")
    assert r.extracted and contents(r.path) == {n: b"Z" * 64 for n in FILES}
    assert X.extract_cached(arc, tmp_path / "cache", "fer2013").reason == "reused"
