"""Canonical label space, synonyms, and every adapter's explicit label order."""

import pytest

from ferbench.data import adapters as A
from ferbench.data.splits import canonical_split
from ferbench.errors import DataError
from ferbench.labels import BASIC7, CANONICAL, INDEX, canonical, index, names


@pytest.mark.parametrize("raw,want", [
    ("angry", "anger"), ("Anger", "anger"), ("sadness", "sad"), ("happiness", "happy"),
    ("fearful", "fear"), ("afraid", "fear"), ("disgusted", "disgust"), ("surprised", "surprise"),
    ("NEUTRAL", "neutral"), ("contempt", "contempt"), (" Happy ", "happy"),
])
def test_synonyms_map_to_canonical(raw, want):
    assert canonical(raw) == want
    assert index(raw) == INDEX[want]


def test_unknown_name_is_error_naming_it_and_where():
    with pytest.raises(DataError) as e:
        canonical("boredom", where="/data/x/boredom")
    msg = str(e.value)
    assert "'boredom'" in msg and "/data/x/boredom" in msg
    with pytest.raises(DataError, match="did you mean 'happy'"):
        canonical("hapy")


def test_canonical_order_is_affectnet_order():
    assert CANONICAL == ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger",
                         "contempt")
    assert BASIC7 == CANONICAL[:7]
    assert names([6, 0]) == ["anger", "neutral"]


def test_fer2013_order():
    # 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral
    assert names(A.FER2013Adapter.label_map) == [
        "anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert names(A.ExpWAdapter.label_map) == names(A.FER2013Adapter.label_map)


def test_rafdb_order():
    m = A.RAFDBAdapter.label_map  # 1-based
    assert [CANONICAL[m[i]] for i in range(1, 8)] == [
        "surprise", "fear", "disgust", "happy", "sad", "anger", "neutral"]


def test_affectnet_order_and_variants():
    a8, a7 = A.AffectNetAdapter(8), A.AffectNetAdapter(7)
    assert [CANONICAL[a8.label_map[i]] for i in range(8)] == list(CANONICAL)
    assert 7 not in a7.label_map and a7.classes == BASIC7
    assert a8.classes == CANONICAL


def test_ferplus_and_kdef_orders():
    assert names(A.FERPlusAdapter.vote_map) == [
        "neutral", "happy", "surprise", "sad", "anger", "disgust", "fear", "contempt"]
    assert {k: canonical(v) for k, v in A.KDEF_CODES.items()} == {
        "AF": "fear", "AN": "anger", "DI": "disgust", "HA": "happy", "NE": "neutral",
        "SA": "sad", "SU": "surprise"}


def test_ferplus_majority_rule():
    maj = A.FERPlusAdapter.majority
    assert maj([6, 2, 1, 0, 0, 0, 0, 0, 1, 0]) == 0          # single votes dropped, 6/8
    assert maj([4, 4, 2, 0, 0, 0, 0, 0, 0, 0]) is None        # no strict majority
    assert maj([0, 0, 0, 0, 0, 0, 0, 0, 7, 3]) == 8           # unknown -> caller drops
    assert maj([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]) is None        # all outliers


@pytest.mark.parametrize("raw,want", [("training", "train"), ("Validation", "val"),
                                      ("valid", "val"), ("test", "test"), ("dev", "val")])
def test_split_aliases(raw, want):
    assert canonical_split(raw) == want


def test_unknown_split():
    with pytest.raises(DataError, match="unknown split 'holdout'"):
        canonical_split("holdout")
