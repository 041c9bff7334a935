"""Folder and archive submissions: a valid set is accepted, stored under $FERBENCH_HOME and
served as a generator; each kind of bad or unsafe input is refused with a clear message."""

from __future__ import annotations

import csv
import io
import os
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from ferbench.api.generator import GENERATORS, Budget
from ferbench.data.base import FaceData, TrainSet
from ferbench.errors import DataError
from ferbench.labels import INDEX
from ferbench.submit.folder_generator import register_submissions
from ferbench.submit.manifest import SubmissionError
from ferbench.submit.store import report_lines, submit

LABELS = ["happy", "sad", "anger"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("FERBENCH_HOME", str(h))
    yield h
    for name in ("suba", "subarch", "tarsub"):
        GENERATORS.unregister(name)


def make_folder(root, n_per_class=4, size=16, extra_rows=(), header=("path", "label", "AU12")):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for c in LABELS:
        for i in range(n_per_class):
            name = f"img/{c}_{i}.png"
            (root / "img").mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(root / name)
            rows.append({"path": name, "label": c, "AU12": "2.5"})
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
        for r in extra_rows:
            w.writerow(r)
    return root


def test_valid_folder_is_stored_and_served(tmp_path, home):
    src = make_folder(tmp_path / "sub")
    dest, info, written = submit(src, "suba", version="1")
    assert written and dest.is_relative_to(home / "submissions")
    assert info["counts"] == {"anger": 4, "happy": 4, "sad": 4} and info["size"] == [16, 16]
    assert submit(src, "suba", version="1")[2] is False  # same content: no-op
    lines = report_lines(info, real_per_class=2, resolution=8, channels=1)
    assert any("mixes up to 0x" in ln and "neutral" in ln for ln in lines)  # toyfaces has 7
    assert any("resized to 8x8x1" in ln for ln in lines)

    GENERATORS.unregister("suba")
    assert "suba" in register_submissions()
    cls = GENERATORS.get("suba")
    assert cls.meta.family == "submission" and cls.meta.version.startswith("1+")
    gen = GENERATORS.create("suba")
    train = FaceData(name="t", split="train", images=np.zeros((3, 8, 8, 1), np.uint8),
                     labels=np.array([1, 2, 6]), classes=("happy", "sad", "anger"))
    assert gen.fit(TrainSet(train), seed=0, budget=Budget("smoke")) is gen
    want = np.array([INDEX["happy"]] * 3 + [INDEX["sad"]] * 2)
    a = gen.generate(want, seed=1)
    assert a.images.shape == (5, 8, 8, 1) and a.images.dtype == np.uint8
    assert np.array_equal(a.labels, want)
    flat = a.images.reshape(5, -1)
    assert len({r.tobytes() for r in flat}) == 5  # without replacement within a call
    assert np.array_equal(gen.generate(want, seed=1).images, a.images)
    with pytest.raises(Exception, match="holds 4 'happy'"):
        gen.generate(np.array([INDEX["happy"]] * 5), seed=0)
    GENERATORS.unregister("suba")


def test_same_version_different_content_refused(tmp_path):
    submit(make_folder(tmp_path / "a"), "suba", version="1")
    with pytest.raises(DataError, match="immutable"):
        submit(make_folder(tmp_path / "b", n_per_class=5), "suba", version="1")


def _zip(folder, out, extra=None):
    with zipfile.ZipFile(out, "w") as zf:
        for p in folder.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
        if extra:
            extra(zf)
    return out


def test_valid_zip_and_tar(tmp_path, home):
    folder = make_folder(tmp_path / "sub")
    dest, info, _ = submit(_zip(folder, tmp_path / "s.zip"), "subarch")
    assert info["n"] == 12
    tgz = tmp_path / "s.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(folder, arcname="top")  # one top-level folder holding manifest.csv
    assert submit(tgz, "tarsub")[1]["sha256"] == info["sha256"]
    assert not list((home / "submissions" / ".staging").iterdir())  # staging cleaned


def test_corrupt_image(tmp_path):
    folder = make_folder(tmp_path / "sub")
    (folder / "img" / "sad_1.png").write_bytes(b"not a png at all")
    with pytest.raises(SubmissionError) as e:
        submit(folder, "suba")
    assert any("img/sad_1.png: does not decode" in p for p in e.value.problems)
    assert not (tmp_path / "home" / "submissions" / "suba").exists()  # nothing stored


def test_unknown_label_and_inconsistent_size_by_line(tmp_path):
    folder = make_folder(tmp_path / "sub", extra_rows=[("img/extra.png", "joyous", "1")])
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "img" / "extra.png")
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(folder / "img" / "sad_0.png")
    with pytest.raises(SubmissionError) as e:
        submit(folder, "suba")
    probs = e.value.problems
    assert any(p.startswith("manifest.csv:14:") and "joyous" in p for p in probs)
    assert any("img/sad_0.png: 12x12 L" in p for p in probs)


def test_missing_column(tmp_path):
    folder = make_folder(tmp_path / "sub", header=("path", "AU12"))
    with pytest.raises(SubmissionError, match=r"manifest.csv:1: missing column\(s\) label"):
        submit(folder, "suba")


def test_traversal_in_manifest_and_archive(tmp_path):
    folder = make_folder(tmp_path / "sub", extra_rows=[("../../etc/passwd", "happy", "1")])
    with pytest.raises(SubmissionError, match=r"manifest.csv:14: path '../../etc/passwd' escapes"):
        submit(folder, "suba")
    good = make_folder(tmp_path / "good")
    z = _zip(good, tmp_path / "evil.zip", lambda zf: zf.writestr("../evil.txt", "x"))
    with pytest.raises(DataError, match=r"'\.\./evil\.txt' escapes"):
        submit(z, "suba")
    assert not (tmp_path / "evil.txt").exists()
    t = tmp_path / "abs.tar"
    with tarfile.open(t, "w") as tf:
        info = tarfile.TarInfo("/tmp/abs.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(DataError, match="absolute path"):
        submit(t, "suba")


def test_symlinks_refused(tmp_path):
    folder = make_folder(tmp_path / "sub")
    os.symlink("/etc/hostname", folder / "img" / "link.png")
    with pytest.raises(DataError, match="symlinks are not allowed"):
        submit(folder, "suba")
    t = tmp_path / "link.tar"
    with tarfile.open(t, "w") as tf:
        info = tarfile.TarInfo("img/x.png")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(DataError, match="is a link"):
        submit(t, "suba")
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zi = zipfile.ZipInfo("img/x.png")
        zi.external_attr = (0o120777 << 16)
        zf.writestr(zi, "/etc/passwd")
    with pytest.raises(DataError, match="is a symlink"):
        submit(z, "suba")


def test_oversized_archive_and_file_cap(tmp_path):
    folder = make_folder(tmp_path / "sub")
    z = _zip(folder, tmp_path / "big.zip",
             lambda zf: zf.writestr("pad.bin", b"\0" * 200_000, zipfile.ZIP_DEFLATED))
    assert z.stat().st_size < 50_000  # compresses well: a (small) zip bomb
    with pytest.raises(DataError, match="more than 100000 uncompressed bytes"):
        submit(z, "suba", max_bytes=100_000)
    with pytest.raises(DataError, match="more than the cap of 5"):
        submit(z, "suba", max_files=5)


def test_decompression_bomb_image(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "sub")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 16x16 = 256 px > 100: PIL warns
    with pytest.raises(SubmissionError, match="decompression bomb"):
        submit(folder, "suba")


def test_cli_submit_reports_and_fails_in_one_line(tmp_path, capsys):
    from ferbench.cli import main

    folder = make_folder(tmp_path / "sub")
    assert main(["submit", str(folder), "--name", "suba", "--real-per-class", "2"]) == 0
    out = capsys.readouterr().out
    assert "per class: happy 4, sad 4, anger 4" in out and "mixes up to 0x" in out
    assert "suba" in GENERATORS
    (folder / "img" / "sad_1.png").write_bytes(b"junk")
    assert main(["submit", str(folder), "--name", "subarch"]) == 2
    err = capsys.readouterr().err
    assert "img/sad_1.png: does not decode" in err and "manifest.csv:" in err


ALL7 = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"]


def _seven_class_submission(tmp_path, n_per_class):
    global LABELS
    saved, LABELS = LABELS, ALL7
    try:
        return make_folder(tmp_path / "sub7", n_per_class=n_per_class, size=12)
    finally:
        LABELS = saved


def test_submission_passes_conformance_check(tmp_path):
    from ferbench.api.conformance import check_generator

    submit(_seven_class_submission(tmp_path, 4), "subarch")
    GENERATORS.unregister("subarch")  # found again through the submissions folder
    results = check_generator("subarch")
    assert all(r.ok for r in results)


@pytest.mark.slow
def test_submission_runs_smoke_mix(tmp_path):
    """A submission enters the plan like any generator (trivial fit) and runs the smoke mix:
    30 real images per class, ratios 1 and 2 (each block is one call, 30 per class)."""
    from ferbench.engine import Context, run_protocol
    from ferbench.protocol import load_protocol
    from ferbench.results.store import ResultStore

    submit(_seven_class_submission(tmp_path, 30), "subarch")
    register_submissions()
    spec = load_protocol("mix").override(budget="smoke", ratios=(1, 2))
    out = run_protocol(spec, "subarch", {}, ResultStore(tmp_path / "r.duckdb"),
                       Context(progress=False, n_boot=100))
    assert len(out.records) == 3
    assert {r["generator"] for r in out.records if r["ratio"] > 0} == {"subarch"}
