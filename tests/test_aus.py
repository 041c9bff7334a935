"""ferbench.aus: the shared AU vocabulary and the EMFACS prototype vectors."""

from __future__ import annotations

import numpy as np
import pytest

from ferbench.aus import AU_INDEX, AU_NAMES, PROTOTYPES, prototype_vector
from ferbench.errors import ConfigError
from ferbench.labels import BASIC7


def test_au_index_matches_names():
    assert [AU_NAMES[AU_INDEX[n]] for n in AU_NAMES] == list(AU_NAMES)
    assert len(AU_INDEX) == len(AU_NAMES)


def test_prototype_vector_places_each_au():
    v = prototype_vector("happy")
    assert v.dtype == np.float32 and v.shape == (len(AU_NAMES),)
    want = np.zeros(len(AU_NAMES), dtype=np.float32)
    want[AU_NAMES.index("AU6")], want[AU_NAMES.index("AU12")] = 3.0, 4.0
    np.testing.assert_array_equal(v, want)
    assert not prototype_vector("neutral").any()
    for cls in BASIC7:  # every basic class has a prototype, and every prototype AU exists
        assert prototype_vector(cls).sum() == pytest.approx(sum(PROTOTYPES[cls].values()))


def test_prototype_vector_unknown_class():
    with pytest.raises(ConfigError, match="no AU prototype for class 'contempt'"):
        prototype_vector("contempt")
