"""One test per adapter format, on tiny fixtures written here; plus error paths and registry."""

import warnings

import numpy as np
import pytest
from PIL import Image

from ferbench.data import decode as D
from ferbench.data import registry
from ferbench.data.cache import load
from ferbench.errors import DataError
from ferbench.labels import BASIC7, CANONICAL, INDEX


@pytest.fixture(autouse=True)
def _home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FERBENCH_HOME", str(tmp_path_factory.mktemp("home")))


def img(path, value=128, size=(12, 12), rgb=False):
    """Write a flat image (or an array if ``value`` is one) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, np.ndarray):
        arr = value
    else:
        shape = (size[1], size[0], 3) if rgb else (size[1], size[0])
        arr = np.full(shape, value, np.uint8)
    Image.fromarray(arr).save(path)
    return path


def ids_of(d):
    return set(d.ids.tolist())


def all_splits(name, root, **kw):
    return {s: load(name, s, root=root, **kw) for s in ("train", "val", "test")}


# ------------------------------------------------------------------------------ FER2013

def _fer_csv(path, rows):
    lines = ["emotion,pixels,Usage"]
    for emotion, pixels, usage in rows:
        lines.append(f"{emotion},{pixels},{usage}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _pix(v, n=48 * 48):
    return " ".join([str(v)] * n)


def test_fer2013_csv(tmp_path):
    rows = [(code, _pix(code * 10 + u), usage) for code in range(7)
            for u, usage in enumerate(("Training", "PublicTest", "PrivateTest"))]
    csv = _fer_csv(tmp_path / "fer2013" / "fer2013.csv", rows)
    d = all_splits("fer2013", csv)
    order = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for u, split in enumerate(("train", "val", "test")):
        assert len(d[split]) == 7 and d[split].split == split and d[split].name == "fer2013"
        assert d[split].images.shape == (7, 48, 48, 1)
        assert [CANONICAL[i] for i in d[split].labels] == order
        # 48 -> 48: pixels pass through untouched
        assert d[split].images[:, 0, 0, 0].tolist() == [c * 10 + u for c in range(7)]
        assert d[split].classes == BASIC7
    assert d["train"].ids[0] == "fer2013.csv:2"
    # root may be the csv, its folder, or the folder holding fer2013/
    for root in (tmp_path, tmp_path / "fer2013"):
        assert load("fer2013", "val", root=root).meta["content_hash"] == \
            d["val"].meta["content_hash"]


def test_fer2013_csv_bad_rows(tmp_path):
    csv = _fer_csv(tmp_path / "a" / "fer2013.csv",
                   [(3, _pix(1), "Training"), (9, _pix(1), "Training")])
    with pytest.raises(DataError, match=r"fer2013\.csv has 1 bad row\(s\): line 3: bad emotion '9'"):
        load("fer2013", "train", root=csv)
    csv = _fer_csv(tmp_path / "b" / "fer2013.csv",
                   [(3, _pix(1), "Training"), (4, _pix(1, 2303), "Training")])
    with pytest.warns(D.SkippedFilesWarning, match=r"skipped 1 of 2 .*fer2013\.csv:3"):
        d = load("fer2013", "train", root=csv)
    assert len(d) == 1


def test_fer2013_image_folder(tmp_path):
    base = tmp_path / "fer2013"
    img(base / "train" / "angry" / "Training_1.jpg", 10, (48, 48))
    img(base / "train" / "happy" / "Training_2.jpg", 20, (48, 48))
    img(base / "test" / "angry" / "PublicTest_3.jpg", 30, (48, 48))
    img(base / "test" / "sad" / "PrivateTest_4.jpg", 40, (48, 48))
    img(base / "test" / "surprise" / "PrivateTest_5.jpg", 50, (48, 48))
    d = all_splits("fer2013", tmp_path)
    assert ids_of(d["train"]) == {"train/angry/Training_1.jpg", "train/happy/Training_2.jpg"}
    assert ids_of(d["val"]) == {"test/angry/PublicTest_3.jpg"}
    assert ids_of(d["test"]) == {"test/sad/PrivateTest_4.jpg",
                                 "test/surprise/PrivateTest_5.jpg"}
    assert sorted(d["test"].labels.tolist()) == [INDEX["sad"], INDEX["surprise"]]
    assert d["val"].labels.tolist() == [INDEX["anger"]]
    assert d["train"].images.shape == (2, 48, 48, 1)
    assert abs(int(d["val"].images.mean()) - 30) <= 2  # JPEG
    # pointing at fer2013/ itself gives the same data
    assert load("fer2013", "test", root=base).meta["content_hash"] == \
        d["test"].meta["content_hash"]


def test_fer2013_rejects_unknown_class_folder(tmp_path):
    img(tmp_path / "train" / "bored" / "Training_1.jpg")
    with pytest.raises(DataError, match=r"unknown expression class 'bored' in folder .*bored"):
        load("fer2013", "train", root=tmp_path)


# ------------------------------------------------------------------------------ image folder

def test_imagefolder_seeded_split(tmp_path):
    for c, cls in enumerate(("angry", "happy", "Sadness")):
        for i in range(10):
            img(tmp_path / cls / f"{i}.png", c * 50 + i)
    d = all_splits("imagefolder", tmp_path)
    assert d["train"].classes == ("happy", "sad", "anger")
    for split, n in (("train", 8), ("val", 1), ("test", 1)):
        assert set(d[split].counts().values()) == {n}
    sets = [ids_of(d[s]) for s in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert len(sets[0] | sets[1] | sets[2]) == 30
    again = load("imagefolder", "val", root=tmp_path, seed=0)
    assert ids_of(again) == sets[1]
    other = load("imagefolder", "val", root=tmp_path, seed=1)
    assert ids_of(other) != sets[1]


def test_imagefolder_split_folders_carve_val(tmp_path):
    for cls in ("happy", "sad"):
        for i in range(10):
            img(tmp_path / "training" / cls / f"{i}.png", i)
        for i in range(2):
            img(tmp_path / "test" / cls / f"t{i}.png", i)
    d = all_splits("imagefolder", tmp_path)
    assert d["train"].counts() == {"happy": 9, "sad": 9}
    assert d["val"].counts() == {"happy": 1, "sad": 1}
    assert d["test"].counts() == {"happy": 2, "sad": 2}
    assert all(i.startswith("training/") for i in d["val"].ids)


def test_imagefolder_rgb_center_crop_and_resize(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = (255, 0, 0)
    arr[:, 5:15] = (0, 200, 0)
    arr[:, 15:] = (0, 0, 255)
    for i in range(3):
        img(tmp_path / "train" / "happy" / f"{i}.png", arr)
        img(tmp_path / "val" / "happy" / f"{i}.png", arr)
        img(tmp_path / "test" / "happy" / f"{i}.png", arr)
    d = load("imagefolder", "test", root=tmp_path, resolution=8, channels=3)
    assert d.images.shape == (3, 8, 8, 3)
    assert (d.images == np.array([0, 200, 0], np.uint8)).all()
    g = load("imagefolder", "test", root=tmp_path, resolution=8, channels=1)
    assert g.images.shape == (3, 8, 8, 1)


def test_imagefolder_unknown_class(tmp_path):
    img(tmp_path / "happy" / "a.png")
    img(tmp_path / "boredom" / "b.png")
    with pytest.raises(DataError, match=r"'boredom' in folder .*boredom"):
        load("imagefolder", "train", root=tmp_path)


# ------------------------------------------------------------------------------ manifest

def test_manifest_with_split_and_aus(tmp_path):
    rows = ["path,label,split,AU1,AU12"]
    for i, (lab, split) in enumerate([("happiness", "train"), ("sad", "train"),
                                      ("happy", "val"), ("angry", "test"), ("sad", "train")]):
        img(tmp_path / "imgs" / f"{i}.png", i * 10)
        rows.append(f"imgs/{i}.png,{lab},{split},{i}.5,{i}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    tr = load("manifest", "train", root=tmp_path)  # folder holding manifest.csv
    assert tr.au_names == ("AU1", "AU12")
    assert tr.aus.dtype == np.float32 and tr.aus.tolist() == [[0.5, 0], [1.5, 1], [4.5, 4]]
    assert tr.labels.tolist() == [INDEX["happy"], INDEX["sad"], INDEX["sad"]]
    assert tr.classes == ("happy", "sad", "anger")
    assert tr.ids.tolist() == ["imgs/0.png", "imgs/1.png", "imgs/4.png"]
    te = load("manifest", "test", root=tmp_path / "manifest.csv")
    assert te.labels.tolist() == [INDEX["anger"]] and te.classes == tr.classes


def test_manifest_seeded_split_without_split_column(tmp_path):
    rows = ["path,label"]
    for i in range(20):
        p = img(tmp_path / "x" / f"{i}.png", i)
        rows.append(f"{p.relative_to(tmp_path).as_posix()},{'happy' if i % 2 else 'neutral'}")
    m = tmp_path / "m.csv"
    m.write_text("\n".join(rows))
    d = all_splits("manifest", m)
    assert [len(d[s]) for s in ("train", "val", "test")] == [16, 2, 2]
    assert d["train"].aus is None


@pytest.mark.parametrize("row,pattern", [
    ("a.png,3", r"numeric label '3' at .*m\.csv:3"),
    ("a.png,happy,extra", r"m\.csv:3: 3 fields"),
    (",happy", r"empty path at .*m\.csv:3"),
    ("a.png,bored", r"unknown expression class 'bored' in .*m\.csv:3"),
])
def test_manifest_bad_rows(tmp_path, row, pattern):
    img(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text(f"path,label\na.png,happy\n{row}\n")
    with pytest.raises(DataError, match=pattern):
        load("manifest", "train", root=tmp_path / "m.csv")


def test_manifest_missing_image_is_skipped(tmp_path):
    rows = ["path,label,split"] + [f"{i}.png,happy,train" for i in range(4)] + \
        ["gone.png,happy,train", "v.png,happy,val", "t.png,happy,test"]
    for name in ("0", "1", "2", "3", "v", "t"):
        img(tmp_path / f"{name}.png")
    (tmp_path / "manifest.csv").write_text("\n".join(rows))
    with pytest.warns(D.SkippedFilesWarning, match=r"gone\.png \(missing\)"):
        d = load("manifest", "train", root=tmp_path)
    assert len(d) == 4


# ------------------------------------------------------------------------------ RAF-DB

def test_rafdb(tmp_path):
    base = tmp_path / "basic"
    lines = []
    for lab in range(1, 8):
        for i in range(3):
            name = f"train_{lab}{i:04d}.jpg"
            lines.append(f"{name} {lab}")
            img(base / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg"), lab * 20,
                (100, 100), rgb=True)
        name = f"test_{lab:04d}.jpg"
        lines.append(f"{name} {lab}")
        img(base / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg"), lab * 20,
            (100, 100), rgb=True)
    (base / "EmoLabel").mkdir(parents=True)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    d = all_splits("rafdb", tmp_path, channels=3, resolution=32)
    assert [len(d[s]) for s in ("train", "val", "test")] == [14, 7, 7]
    te = d["test"]
    order = ["surprise", "fear", "disgust", "happy", "sad", "anger", "neutral"]
    assert [CANONICAL[i] for i in te.labels] == order
    assert te.ids[0] == "Image/aligned/test_0001_aligned.jpg"
    assert te.images.shape == (7, 32, 32, 3)
    assert not ids_of(d["train"]) & ids_of(d["val"])


def test_rafdb_missing_label_file(tmp_path):
    (tmp_path / "Image" / "aligned").mkdir(parents=True)
    with pytest.raises(DataError) as e:
        load("rafdb", "train", root=tmp_path)
    msg = str(e.value)
    assert "expected file not found" in msg and "list_patition_label.txt" in msg
    assert "\n" not in msg


# ------------------------------------------------------------------------------ AffectNet

def _affectnet_folder(root):
    for folder, per in (("train_set", 2), ("val_set", 1)):
        for code in range(9):  # 8 = "none": ignored
            for i in range(per):
                stem = f"{folder[0]}{code}{i}"
                img(root / folder / "images" / f"{stem}.jpg", code * 20, (24, 24), rgb=True)
                (root / folder / "annotations").mkdir(parents=True, exist_ok=True)
                np.save(root / folder / "annotations" / f"{stem}_exp.npy", np.array(str(code)))


def test_affectnet_folder_layout(tmp_path):
    _affectnet_folder(tmp_path)
    d8 = all_splits("affectnet8", tmp_path, resolution=24, channels=3)
    assert [len(d8[s]) for s in ("train", "val", "test")] == [8, 8, 8]
    assert sorted(d8["test"].labels.tolist()) == list(range(8))  # official val -> test
    assert all(i.startswith("val_set/images/") for i in d8["test"].ids)
    assert d8["test"].classes == CANONICAL
    d7 = load("affectnet7", "test", root=tmp_path, resolution=24, channels=3)
    assert sorted(d7.labels.tolist()) == list(range(7)) and d7.classes == BASIC7


def test_affectnet_csv_layout_crops_face_box(tmp_path):
    arr = np.zeros((40, 40, 3), np.uint8)
    arr[10:30, 10:30] = 200
    header = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
              "expression,valence,arousal")
    for csv_name, codes in (("training.csv", [1, 1, 2, 2, 7, 7, 9]), ("validation.csv", [0, 1])):
        rows = [header]
        for j, code in enumerate(codes):
            rel = f"{j}/{csv_name[0]}{j}.png"
            img(tmp_path / "Manually_Annotated_Images" / rel, arr)
            rows.append(f"{rel},10,10,20,20,1.0;2.0;3.0,{code},0.1,0.2")
        (tmp_path / "Manually_Annotated_file_lists").mkdir(exist_ok=True)
        (tmp_path / "Manually_Annotated_file_lists" / csv_name).write_text("\n".join(rows))
    te = load("affectnet8", "test", root=tmp_path, resolution=10, channels=3)
    assert te.labels.tolist() == [0, 1]
    assert (te.images == 200).all()
    tr = all_splits("affectnet8", tmp_path, resolution=10)
    assert len(tr["train"]) == len(tr["val"]) == 3  # code 9 ignored; val carved per class
    assert sorted(tr["val"].labels.tolist()) == [1, 2, 7]


# ------------------------------------------------------------------------------ CK+, FER+, KDEF, ExpW

def test_ckplus_subject_grouped(tmp_path):
    for s in range(1, 11):
        for cls in ("anger", "contempt", "happy"):
            img(tmp_path / cls / f"S{s:03d}_001_0000001{s % 3}.png", s)
    d = all_splits("ckplus", tmp_path)
    assert d["train"].classes == ("happy", "anger", "contempt")
    subj = {s: {i.split("/")[-1][:4] for i in d[s].ids} for s in d}
    assert not (subj["train"] & subj["val"] or subj["train"] & subj["test"]
                or subj["val"] & subj["test"])
    assert sum(len(x) for x in d.values()) == 30
    assert [len(subj[s]) for s in ("train", "val", "test")] == [8, 1, 1]


def test_ferplus(tmp_path):
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows = [header,
            "Training,fer0000000.png,0,8,1,0,0,0,1,0,0,0",   # happy
            "Training,fer0000001.png,1,0,0,0,0,0,0,0,9,0",   # unknown -> dropped
            "Training,fer0000002.png,4,4,2,0,0,0,0,0,0,0",   # no majority -> dropped
            "Training,,10,0,0,0,0,0,0,0,0,0",                # no image -> dropped
            "Training,fer0000003.png,0,0,0,0,0,0,0,0,0,10",  # NF -> dropped
            "PublicTest,fer0000004.png,2,0,0,0,0,0,0,8,0,0",  # contempt
            "PrivateTest,fer0000005.png,10,0,0,0,0,0,0,0,0,0"]  # neutral
    (tmp_path / "fer2013new.csv").write_text("\n".join(rows) + "\n")
    for i, folder in enumerate(["FER2013Train"] * 4 + ["FER2013Valid", "FER2013Test"]):
        img(tmp_path / "data" / folder / f"fer000000{i}.png", 50, (48, 48))
    d = all_splits("ferplus", tmp_path)
    assert d["train"].labels.tolist() == [INDEX["happy"]]
    assert d["val"].labels.tolist() == [INDEX["contempt"]]
    assert d["test"].labels.tolist() == [INDEX["neutral"]]
    assert d["train"].ids.tolist() == ["data/FER2013Train/fer0000000.png"]
    assert d["val"].classes == CANONICAL


def test_kdef_identity_split_straight_only(tmp_path):
    codes = ["AF", "AN", "DI", "HA", "NE", "SA", "SU"]
    for sex in "FM":
        for n in range(1, 6):
            for code in codes:
                for angle in ("S", "HL"):
                    name = f"A{sex}{n:02d}{code}{angle}.JPG"
                    img(tmp_path / "KDEF" / f"A{sex}{n:02d}" / name, 100, (15, 20))
    img(tmp_path / "KDEF" / "readme.jpg", 1)
    d = all_splits("kdef", tmp_path, resolution=16)
    assert sum(len(x) for x in d.values()) == 70
    who = {s: {i.split("/")[-1][1:4] for i in d[s].ids} for s in d}
    assert [len(who[s]) for s in ("train", "val", "test")] == [8, 1, 1]
    assert not (who["train"] & who["val"] or who["train"] & who["test"])
    assert all(i.endswith("S.JPG") for x in d.values() for i in x.ids)
    assert set(d["val"].counts().values()) == {1}
    assert d["val"].images.shape[1:] == (16, 16, 1)


def test_expw_crops_boxes(tmp_path):
    lines = []
    for k in range(7):
        for j in range(3):
            arr = np.zeros((60, 80), np.uint8)
            arr[10:30, 5:25] = 100 + k      # face 0: left=5 top=10 right=25 bottom=30
            arr[20:50, 40:70] = 200         # face 1
            name = f"img_{k}_{j}.png"
            img(tmp_path / "image" / "origin" / name, arr)
            lines.append(f"{name} 0 10 5 25 30 0.9 {k}")
            if j == 0:
                lines.append(f"{name} 1 20 40 70 50 0.8 {k}")
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "label.lst").write_text("\n".join(lines) + "\n")
    d = all_splits("expw", tmp_path, resolution=8)
    assert sum(len(x) for x in d.values()) == 28
    allf = {i: (im, lab) for x in d.values() for i, im, lab in zip(x.ids, x.images, x.labels)}
    im, lab = allf["image/origin/img_3_0.png#face0"]
    assert (im == 103).all() and lab == INDEX["happy"]
    im, lab = allf["image/origin/img_6_0.png#face1"]
    assert (im == 200).all() and lab == INDEX["neutral"]


def test_expw_bad_line(tmp_path):
    (tmp_path / "image" / "origin").mkdir(parents=True)
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "label.lst").write_text("a.jpg 0 1 2 3 4 0.9 9\n")
    with pytest.raises(DataError, match=r"label\.lst:1"):
        load("expw", "train", root=tmp_path)


# ------------------------------------------------------------------------------ corrupt / missing

def test_corrupt_files_skipped_with_one_warning(tmp_path):
    for split in ("train", "val", "test"):
        for i in range(10):
            img(tmp_path / split / "happy" / f"ok{i}.png", i)
    for i in range(7):
        (tmp_path / "train" / "happy" / f"broken{i}.jpg").write_bytes(b"not an image at all")
    (tmp_path / "train" / "happy" / "empty.png").write_bytes(b"")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        d = load("imagefolder", "train", root=tmp_path)
    msgs = [str(x.message) for x in w if issubclass(x.category, D.SkippedFilesWarning)]
    assert len(d) == 10 and len(msgs) == 1
    assert "imagefolder/train: skipped 8 of 18" in msgs[0]
    assert "train/happy/broken0.jpg" in msgs[0] and "and 3 more" in msgs[0]
    assert d.meta["skipped"][0].startswith("train/happy/broken0.jpg (")
    assert len(d.meta["skipped"]) == 8
    # never silent: a cache hit warns again
    with pytest.warns(D.SkippedFilesWarning, match=r"skipped 8 of 18 .*\[cached\]"):
        again = load("imagefolder", "train", root=tmp_path)
    assert again.meta["cache_hit"]


def test_many_skipped_names_truncated():
    msg = D.skipped_message("x", "train", [f"f{i}.jpg (bad)" for i in range(12)], 20)
    assert "skipped 12 of 20" in msg and "f4.jpg" in msg and "f5.jpg" not in msg
    assert "and 7 more" in msg


def test_all_undecodable_is_error(tmp_path):
    for i in range(3):
        (tmp_path / "happy" / f"{i}.jpg").parent.mkdir(exist_ok=True)
        (tmp_path / "happy" / f"{i}.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="none of 1 file"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load("imagefolder", "test", root=tmp_path)


def test_missing_root_one_line(tmp_path):
    missing = tmp_path / "nope"
    for name in ("fer2013", "imagefolder", "manifest", "rafdb", "affectnet8", "ckplus",
                 "ferplus", "kdef", "expw"):
        with pytest.raises(DataError) as e:
            load(name, "train", root=missing)
        assert str(missing) in str(e.value) and "\n" not in str(e.value), name


def test_root_required(tmp_path):
    with pytest.raises(DataError, match="needs root="):
        load("fer2013", "train")


def test_fer2013_root_without_data(tmp_path):
    with pytest.raises(DataError, match="no fer2013.csv and no train/ or test/ folder"):
        load("fer2013", "train", root=tmp_path)


# ------------------------------------------------------------------------------ registry

def test_registry_names_and_suggestion():
    names = registry.list_datasets()
    for n in ("fer2013", "imagefolder", "manifest", "rafdb", "affectnet7", "affectnet8",
              "ckplus", "ferplus", "kdef", "expw", "toyfaces"):
        assert n in names
    with pytest.raises(DataError, match="unknown dataset 'fer2031' \\(did you mean 'fer2013'\\?\\)"):
        registry.get_adapter("fer2031")
    with pytest.raises(DataError, match="unknown dataset"):
        load("nosuchset", "train")


def test_registry_lazy_import_failure_is_contained():
    registry.register("broken-test", "ferbench.no_such_module:Adapter")
    try:
        with pytest.raises(DataError, match="could not be loaded from ferbench.no_such_module"):
            registry.get_adapter("broken-test")
        listed = registry.list_datasets()
        assert isinstance(listed["broken-test"], registry.Unavailable)
        assert "no_such_module" in listed["broken-test"].description
        assert listed["fer2013"].needs_root is True and listed["fer2013"].license
        assert list(listed) == sorted(listed)
    finally:
        registry.unregister("broken-test")


def test_registry_rejects_incomplete_adapter():
    class Half:
        name = "half"

    registry.register("half-test", Half())
    try:
        with pytest.raises(DataError, match="lacks"):
            registry.get_adapter("half-test")
    finally:
        registry.unregister("half-test")
