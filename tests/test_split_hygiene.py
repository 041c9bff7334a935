"""Split hygiene (identity-grouped seeded splits, the identity-name warning) and the bad inputs
of issue 6: non-CSV manifest roots, every bad FER2013 row, whole decode reasons, and
scikit-learn's note on classes absent from y_true. Fixtures are written here, in tmp_path."""

import tarfile
import warnings

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import balanced_accuracy_score

from ferbench.data import decode as D
from ferbench.data import grouping, registry
from ferbench.data.adapters import CKPlusAdapter, ImageFolderAdapter
from ferbench.data.cache import load
from ferbench.errors import ConfigError, DataError
from ferbench.metrics import classification_scores

SPLITS = ("train", "val", "test")


@pytest.fixture(autouse=True)
def _home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FERBENCH_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setattr(grouping, "_WARNED", set())  # "once" is per process; tests start fresh


@pytest.fixture
def grouped():
    """Register an imagefolder adapter grouped by CK+ subject for the test's duration."""
    registry.register("ck-grouped", ImageFolderAdapter(group_pattern=r"^(S\d+)_"))
    yield "ck-grouped"
    registry.unregister("ck-grouped")


def img(path, value=128, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0]), value, np.uint8)).save(path)
    return path


def ck_folder(root, subjects=20, classes=("anger", "happy", "surprise"), frames=2):
    """CK+-style class folders: every subject in every class, several frames each."""
    for s in range(1, subjects + 1):
        for c, cls in enumerate(classes):
            for f in range(frames):
                img(root / cls / f"S{s:03d}_{c + 1:03d}_{f:08d}.png", (s * 7 + c + f) % 256)
    return root


def subjects(d):
    return {i.split("/")[-1][:4] for i in d.ids.tolist()}


def identity_warnings(w):
    return [str(x.message) for x in w if issubclass(x.category, grouping.UngroupedSplitWarning)]


# ------------------------------------------------------------------------------ grouping

def test_imagefolder_group_pattern_keeps_subjects_in_one_split(tmp_path, grouped):
    root = ck_folder(tmp_path / "ck")
    # the leak this fixes: the ungrouped split shares subjects between train and test
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        plain = {s: load("imagefolder", s, root=root) for s in SPLITS}
    assert subjects(plain["train"]) & subjects(plain["test"])
    msgs = identity_warnings(w)
    assert len(msgs) == 1 and "\n" not in msgs[0]  # once over three splits, one line
    assert "'S001'" in msgs[0] and "group_pattern" in msgs[0]

    for seed in range(4):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            d = {s: load(grouped, s, root=root, seed=seed) for s in SPLITS}
        assert not identity_warnings(w)
        subj = {s: subjects(d[s]) for s in SPLITS}
        assert not (subj["train"] & subj["val"] or subj["train"] & subj["test"]
                    or subj["val"] & subj["test"])
        assert [len(subj[s]) for s in SPLITS] == [16, 2, 2]
        assert sum(len(d[s]) for s in SPLITS) == 20 * 3 * 2
        # a different cache entry from the ungrouped one (the option is in the key)
        assert d["test"].meta["options"] == {"group_pattern": r"^(S\d+)_"}
        assert d["test"].meta["cache_key"] != plain["test"].meta["cache_key"]


def test_load_options_reach_the_adapter_and_the_cache_key(tmp_path, grouped):
    root = ck_folder(tmp_path / "ck", subjects=10)
    opt = {"group_pattern": r"^(S\d+)_"}
    d = {s: load("imagefolder", s, root=root, options=opt) for s in SPLITS}
    subj = {s: subjects(d[s]) for s in SPLITS}
    assert not (subj["train"] & subj["test"] or subj["train"] & subj["val"])
    # same split as a registered, pre-configured instance; the default instance is untouched
    assert d["test"].meta["content_hash"] == load(grouped, "test", root=root).meta["content_hash"]
    assert registry.get_adapter("imagefolder").group_pattern is None
    with pytest.raises(ConfigError, match=r"dataset 'imagefolder' has no option\(s\) groups "
                                          r"\(options: group_pattern\)"):
        load("imagefolder", "test", root=root, options={"groups": "x"})


def test_with_options_keeps_the_other_constructor_values():
    class TwoOptions(ImageFolderAdapter):
        def __init__(self, group_pattern=None, extra="a"):
            super().__init__(group_pattern)
            self.extra = extra

    two = registry.with_options(TwoOptions(extra="b"), {"group_pattern": "^(x)"})
    assert (type(two), two.extra, two.group_pattern) == (TwoOptions, "b", "^(x)")
    a7 = registry.with_options(registry.get_adapter("affectnet7"), {})
    assert a7 is registry.get_adapter("affectnet7")
    raf = registry.with_options(registry.get_adapter("rafdb"), {"prefer": "original"})
    assert raf.options == {"prefer": "original"}
    kdef = registry.with_options(registry.get_adapter("kdef"), {"angles": "S, hl"})
    assert kdef.options == {"angles": ["S", "HL"]}
    with pytest.raises(ConfigError, match=r"affectnet: n_classes must be 7 or 8"):
        registry.with_options(registry.get_adapter("affectnet7"), {"n_classes": 5})


def test_group_pattern_without_capture_group_uses_whole_match(tmp_path):
    root = ck_folder(tmp_path / "ck", subjects=10)
    a = ImageFolderAdapter(group_pattern=r"^S\d+")
    test = {r.id.split("/")[-1][:4] for r in a.records(root, "test", 0).records}
    train = {r.id.split("/")[-1][:4] for r in a.records(root, "train", 0).records}
    assert test and not test & train


def test_group_pattern_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"imagefolder: group_pattern '\(S' is not a valid"):
        ImageFolderAdapter(group_pattern="(S")
    root = ck_folder(tmp_path / "ck", subjects=4)
    img(root / "happy" / "stray.png")
    a = ImageFolderAdapter(group_pattern=r"^(S\d+)_")
    with pytest.raises(DataError, match=r"does not match 1 of 25 file name\(s\), e\.g\. "
                                        r"happy/stray\.png"):
        a.records(root, "train", 0)


def test_grouped_val_carved_from_train_folder(tmp_path):
    for split, subj in (("train", range(1, 21)), ("test", range(21, 25))):
        for s in subj:
            for cls in ("happy", "sad"):
                img(tmp_path / split / cls / f"S{s:03d}_001_{cls}.png", s)
    a = ImageFolderAdapter(group_pattern=r"^(S\d+)_")
    tr = {r.id.split("/")[-1][:4] for r in a.records(tmp_path, "train", 0).records}
    va = {r.id.split("/")[-1][:4] for r in a.records(tmp_path, "val", 0).records}
    assert len(va) == 2 and not tr & va
    # ungrouped, the carve is stratified by class and splits subjects
    b = ImageFolderAdapter()
    tr = {r.id.split("/")[-1][:4] for r in b.records(tmp_path, "train", 0).records}
    va = {r.id.split("/")[-1][:4] for r in b.records(tmp_path, "val", 0).records}
    assert tr & va


def test_ckplus_explicit_pattern_overrides_default(tmp_path):
    # subject ids only after a prefix: the built-in S### rule does not apply, a pattern does
    for s in range(1, 11):
        for cls in ("happy", "anger"):
            img(tmp_path / cls / f"cam1_P{s:02d}_{cls}.png", s)
    a = CKPlusAdapter(group_pattern=r"_(P\d+)_")
    test = {r.id.split("_")[1] for r in a.records(tmp_path, "test", 0).records}
    train = {r.id.split("_")[1] for r in a.records(tmp_path, "train", 0).records}
    assert test and not test & train


def _manifest(path, rows, header="path,label,group"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_manifest_group_column(tmp_path):
    rows = []
    for p in range(20):
        for cls in ("happy", "sad", "anger"):
            name = f"img/{p}_{cls}.png"
            img(tmp_path / name, p)
            rows.append((name, cls, f"person{p}"))
    m = _manifest(tmp_path / "m.csv", rows)
    for seed in range(3):
        d = {s: load("manifest", s, root=m, seed=seed) for s in SPLITS}
        who = {s: {i.split("/")[1].split("_")[0] for i in d[s].ids.tolist()} for s in SPLITS}
        assert not (who["train"] & who["val"] or who["train"] & who["test"]
                    or who["val"] & who["test"])
        assert [len(who[s]) for s in SPLITS] == [16, 2, 2]


def test_manifest_group_with_split_column_carves_val_by_group(tmp_path):
    rows = []
    for p in range(24):
        for cls in ("happy", "sad"):
            name = f"img/{p}_{cls}.png"
            img(tmp_path / name, p)
            rows.append((name, cls, "train" if p < 20 else "test", f"p{p}"))
    m = _manifest(tmp_path / "m.csv", rows, header="path,label,split,group")
    tr = {i.split("/")[1].split("_")[0] for i in load("manifest", "train", root=m).ids}
    va = {i.split("/")[1].split("_")[0] for i in load("manifest", "val", root=m).ids}
    assert len(va) == 2 and not tr & va


def test_manifest_group_in_two_given_splits_warns(tmp_path):
    rows = []
    for p in range(4):
        for cls, split in (("happy", "train"), ("sad", "test" if p == 2 else "train")):
            img(tmp_path / f"{p}_{cls}.png", p)
            rows.append((f"{p}_{cls}.png", cls, split, f"p{p}"))
    m = _manifest(tmp_path / "m.csv", rows, header="path,label,split,group")
    with pytest.warns(grouping.UngroupedSplitWarning,
                      match=r"1 group\(s\) of .* are in more than one split \(e\.g\. 'p2': "
                            r"test, train\)"):
        d = load("manifest", "test", root=m)
    assert d.ids.tolist() == ["2_sad.png"]  # the user's split is kept


def test_manifest_empty_group_and_identity_warning(tmp_path):
    img(tmp_path / "a.png")
    m = _manifest(tmp_path / "bad" / "m.csv", [("../a.png", "happy", "")])
    with pytest.raises(DataError, match=r"manifest: empty group at .*m\.csv:2"):
        load("manifest", "train", root=m)
    rows = []
    for p in range(10):
        for cls in ("happy", "sad"):
            rows.append((f"subject{p}_{cls}.png", cls))
            img(tmp_path / "w" / f"subject{p}_{cls}.png", p)
    m = _manifest(tmp_path / "w" / "m.csv", rows, header="path,label")
    with pytest.warns(grouping.UngroupedSplitWarning, match=r"'subject0'.*'group' column"):
        load("manifest", "train", root=m)


@pytest.mark.parametrize("names, expected", [
    ([f"S{s:03d}_001_{f:08d}.png" for s in range(5) for f in range(3)], True),
    ([f"subject{s}_{e}.jpg" for s in range(5) for e in ("happy", "sad")], True),
    ([f"{k}F{s:02d}{e}S.JPG" for k in "AB" for s in range(5) for e in ("HA", "SA")], True),
    ([f"{i:04d}.png" for i in range(20)] * 3, False),           # numbers repeated per class
    ([f"img{i:04d}.png" for i in range(20)] * 3, False),        # nothing after the number
    ([f"Training_{i}.jpg" for i in range(30)], False),          # FER2013 export
    ([f"S{s:03d}_001.png" for s in range(30)], False),          # one file per prefix
    ([f"S{s:03d}_{f}.png" for s in range(5) for f in range(4)] + ["x.png"] * 4, False),
])
def test_identity_heuristic(names, expected):
    assert grouping.looks_identity_named(names) is expected


# ------------------------------------------------------------------------------ bad inputs

def test_manifest_root_archive_or_image_is_one_line(tmp_path):
    csv = _manifest(tmp_path / "data" / "m.csv", [("a.png", "happy")], header="path,label")
    img(tmp_path / "data" / "a.png")
    tgz = tmp_path / "data.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        t.add(csv, arcname="m.csv")
    png = img(tmp_path / "face.png")
    for root, kind in ((tgz, "a .tar.gz archive"), (png, r"an image \(\.png\)")):
        with pytest.raises(DataError, match=rf"manifest: root .*{root.name} is {kind}") as e:
            load("manifest", "train", root=root)
        assert "\n" not in str(e.value)
    # binary content behind a CSV name (found through the folder) is caught when read
    disguised = tmp_path / "disguised"
    disguised.mkdir()
    (disguised / "manifest.csv").write_bytes(tgz.read_bytes())
    with pytest.raises(DataError, match=r"manifest: .*manifest\.csv is not a UTF-8 text file") \
            as e:
        load("manifest", "train", root=disguised)
    assert "\n" not in str(e.value)
    (disguised / "manifest.csv").write_text("path,label\n" + "a" * 200_000 + "\n")
    with pytest.raises(DataError, match=r"manifest\.csv is not a readable CSV \(field larger"):
        load("manifest", "train", root=disguised)


def test_fer2013_lists_every_bad_row(tmp_path):
    pix = " ".join(["7"] * 48 * 48)
    lines = ["emotion,pixels,Usage", f"3,{pix},Training"]
    lines += [f"9,{pix},Training"] * 22          # lines 3..24: bad emotion
    lines += [f"-1,{pix},Training"]              # line 25: negative code (indexed from the end)
    lines += [f"2,{pix},Trainng"]                # line 26: bad Usage
    lines += [f"x,{pix},Nope"]                   # line 27: both
    lines += [f"1,{pix}"]                        # line 28: missing field
    csv = tmp_path / "fer2013.csv"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        load("fer2013", "train", root=csv)
    msg = str(e.value)
    assert "\n" not in msg and "fer2013.csv has 26 bad row(s)" in msg
    assert "line 3: bad emotion '9'" in msg and "line 22:" in msg and "line 23:" not in msg
    assert msg.count("line ") == 20 and msg.endswith("; and 6 more")
    # each kind of problem, with the line it is on
    csv.write_text("\n".join([lines[0], lines[1], *lines[24:]]) + "\n")
    with pytest.raises(DataError) as e:
        load("fer2013", "train", root=csv)
    msg = str(e.value)
    assert "has 4 bad row(s)" in msg and "line 3: bad emotion '-1'" in msg
    assert "line 4: bad Usage 'Trainng'" in msg
    assert "line 5: bad emotion 'x' (expected 0..6), bad Usage 'Nope'" in msg
    assert "line 6: 2 fields, header has 3" in msg and "more" not in msg


def test_decompression_bomb_reason_is_whole(tmp_path, monkeypatch):
    for i in range(4):
        img(tmp_path / "happy" / f"ok{i}.png", i)              # 64 pixels
    img(tmp_path / "happy" / "bomb.png", size=(40, 40))        # 1600 > 2 x 100: an error
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.warns(D.SkippedFilesWarning) as w:
        d = load("imagefolder", "train", root=tmp_path)
    (reason,) = [s for s in d.meta["skipped"] if "bomb" in s]
    assert reason.endswith("could be decompression bomb DOS attack.)")
    assert "exceeds limit of 200 pixels" in reason
    assert any("decompression bomb DOS attack." in str(x.message) for x in w)


def test_short_reason_drops_sentences_not_characters():
    long = "First sentence is here. " + "Second one is rather long " * 5 + "end."
    assert D.short_reason(long, limit=40) == "First sentence is here."
    one = "word " * 40
    assert D.short_reason(one, limit=40) == one.strip()   # never cut inside a sentence
    assert D.short_reason("line one\nline two") == "line one"


def test_scores_do_not_warn_on_classes_absent_from_truth():
    y_true = np.array([0, 0, 1, 1, 1, 0])
    y_pred = np.array([0, 2, 1, 1, 2, 0])  # class 2 never occurs in y_true
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = classification_scores(y_true, y_pred, ["a", "b", "c"], n_boot=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = balanced_accuracy_score(y_true, y_pred)
    assert s["balanced_accuracy"] == pytest.approx(ref) == pytest.approx((2 / 3 + 2 / 3) / 2)
