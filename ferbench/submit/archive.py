"""Safe reading of a submission: a folder, a ``.zip`` or a ``.tar`` / ``.tar.gz``.

Archives are unpacked into a private staging directory under ``$FERBENCH_HOME`` (never
anywhere else), member by member, after checking each member: no absolute paths, no ``..``
components, no symlinks or hard links or device files, at most :data:`MAX_FILES` members
and :data:`MAX_TOTAL_BYTES` uncompressed bytes. The byte cap is checked against both the
declared sizes and the bytes actually written (a zip header can lie), so a decompression bomb
stops at the cap. Folders are read in place, with the same caps and no symlinks.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from ferbench.errors import DataError
from ferbench.paths import submissions_dir

#: at most this many files in one submission
MAX_FILES = 200_000
#: at most this many uncompressed bytes in one submission (2 GiB)
MAX_TOTAL_BYTES = 2 * 1024**3


def safe_member_name(name: str, where: str) -> PurePosixPath:
    """The relative path of an archive member or manifest entry; DataError if it escapes."""
    raw = name.replace("\\", "/")
    p = PurePosixPath(raw)
    if raw.startswith("/") or p.is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise DataError(f"{where}: absolute path '{name}' is not allowed")
    if ".." in p.parts:
        raise DataError(f"{where}: path '{name}' escapes the submission ('..')")
    return p


def _copy_capped(src, dst: Path, budget: list[int], where: str, max_bytes: int) -> None:
    with open(dst, "wb") as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                return
            budget[0] += len(chunk)
            if budget[0] > max_bytes:
                raise DataError(f"{where}: more than {max_bytes} uncompressed bytes; "
                                "refused (size cap / decompression bomb)")
            out.write(chunk)


def _extract_zip(path: Path, dest: Path, max_files: int, max_bytes: int) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise DataError(f"{path}: {len(infos)} members, more than the cap of {max_files}")
        if sum(i.file_size for i in infos) > max_bytes:
            raise DataError(f"{path}: declares more than {max_bytes} uncompressed bytes; refused")
        budget = [0]
        for info in infos:
            rel = safe_member_name(info.filename, str(path))
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise DataError(f"{path}: member '{info.filename}' is a symlink; not allowed")
            if info.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src:
                _copy_capped(src, dest / rel, budget, str(path), max_bytes)


def _extract_tar(path: Path, dest: Path, max_files: int, max_bytes: int) -> None:
    try:
        tf = tarfile.open(path, "r:*")
    except tarfile.TarError as exc:
        raise DataError(f"{path}: not a readable tar archive ({exc})") from exc
    with tf:
        budget, n = [0], 0
        declared = 0
        for m in tf:
            n += 1
            if n > max_files:
                raise DataError(f"{path}: more than the cap of {max_files} members")
            rel = safe_member_name(m.name, str(path))
            if m.issym() or m.islnk():
                raise DataError(f"{path}: member '{m.name}' is a link; not allowed")
            if m.isdir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            if not m.isfile():
                raise DataError(f"{path}: member '{m.name}' is not a regular file")
            declared += m.size
            if declared > max_bytes:
                raise DataError(f"{path}: more than {max_bytes} uncompressed bytes; refused")
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            _copy_capped(src, dest / rel, budget, str(path), max_bytes)


def _check_folder(root: Path, max_files: int, max_bytes: int) -> None:
    n = total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                raise DataError(f"{p}: symlinks are not allowed in a submission")
        for name in filenames:
            n += 1
            total += (Path(dirpath) / name).stat().st_size
            if n > max_files:
                raise DataError(f"{root}: more than the cap of {max_files} files")
            if total > max_bytes:
                raise DataError(f"{root}: more than {max_bytes} bytes; refused (size cap)")


@contextmanager
def opened(path: str | os.PathLike, *, max_files: int | None = None,
           max_bytes: int | None = None) -> Iterator[Path]:
    """Yield a folder holding the submission's files: ``path`` itself for a folder, or a
    staging copy under ``$FERBENCH_HOME/submissions/.staging`` (removed afterwards) for an
    archive. DataError on anything unsafe."""
    max_files = MAX_FILES if max_files is None else max_files
    max_bytes = MAX_TOTAL_BYTES if max_bytes is None else max_bytes
    path = Path(path)
    if path.is_symlink():
        raise DataError(f"{path}: a submission may not be a symlink")
    if path.is_dir():
        _check_folder(path, max_files, max_bytes)
        yield path
        return
    if not path.is_file():
        raise DataError(f"{path}: no such folder or archive")
    staging = submissions_dir() / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=staging, prefix="unpack-"))
    try:
        name = path.name.lower()
        if name.endswith(".zip"):
            try:
                _extract_zip(path, tmp, max_files, max_bytes)
            except zipfile.BadZipFile as exc:
                raise DataError(f"{path}: not a readable zip archive ({exc})") from exc
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            _extract_tar(path, tmp, max_files, max_bytes)
        else:
            raise DataError(f"{path}: a submission is a folder, .zip, .tar or .tar.gz")
        # an archive with one top-level folder holding manifest.csv: use that folder
        entries = list(tmp.iterdir())
        root = entries[0] if (len(entries) == 1 and entries[0].is_dir()
                              and (entries[0] / "manifest.csv").exists()) else tmp
        yield root
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
