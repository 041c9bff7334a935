"""The prepared cache and the public :func:`load` entry point.

``load(name, split, root=..., resolution=48, channels=1, seed=0)`` decodes a dataset split
once into a compact ``uint8`` array and stores it under ``cache_dir()/prepared/``; every later
call with the same key reads that file and never decodes an image again.

- ``cache_dir()`` is ``$FERBENCH_HOME`` if set, else ``~/.cache/ferbench``.
- The key is the sha256 of: the cache format, adapter name, version and options, a cheap
  fingerprint of the source files (sorted relative paths + sizes + mtimes, and the sha256 of
  index files such as CSVs), the decoding rules (version + resample filter), resolution,
  channels, split and — for adapters whose split depends on it — the seed. The root's own
  location is not part of the key: moving a dataset folder keeps its cache.
- One entry is one uncompressed ``.npz`` (images, labels, classes, ids, optional AUs/
  landmarks, and the meta as JSON) plus a human-readable ``.json`` sidecar with the same meta.
  Uncompressed because a cache hit must be fast: measured on FER2013's 28,709 training faces,
  the entry is 70 MB and reads in 0.15 s; ``savez_compressed`` gives 47 MB but takes 3.3 s to
  write and 0.63 s to read. Writes go to a temporary file in the same folder followed by ``os.replace``,
  so a killed process never leaves a half-written entry (the ``.npz`` alone is authoritative).
- The meta holds ``content_hash`` (``FaceData.content_hash()``, computed once when the entry
  is written, exposed as ``data.meta["content_hash"]``) and ``skipped`` (files that could not be
  decoded). Skipped files are warned about on every load, cached or not.
"""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ferbench import paths
from ferbench.data import decode
from ferbench.data.base import FaceData
from ferbench.data.registry import get_adapter, with_options
from ferbench.data.splits import canonical_split
from ferbench.errors import ConfigError, DataError
from ferbench.identity import prepared_key

#: Bumped when the layout of a cache entry changes.
CACHE_FORMAT = 1


def cache_dir() -> Path:
    """``$FERBENCH_HOME`` or ``~/.cache/ferbench`` (see :mod:`ferbench.paths`)."""
    return paths.home()


def prepared_dir() -> Path:
    return paths.prepared_dir()


def _check_args(resolution: Any, channels: Any) -> tuple[int, int]:
    try:
        res = int(resolution)
    except (TypeError, ValueError):
        raise ConfigError(f"resolution must be an integer, not {resolution!r}") from None
    if res < 1 or res != resolution:
        raise ConfigError(f"resolution must be a positive integer, not {resolution!r}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels!r}")
    return res, int(channels)


def cache_key(adapter: Any, split: str, fingerprint: str, resolution: int, channels: int,
              seed: int) -> str:
    payload = {
        "format": CACHE_FORMAT,
        "name": adapter.name,
        "version": str(getattr(adapter, "version", "")),
        "options": getattr(adapter, "options", {}),
        "fingerprint": fingerprint,
        "decode": [decode.DECODE_VERSION, decode.RESAMPLE_NAME],
        "resolution": resolution,
        "channels": channels,
        "split": split,
        "seed": int(seed) if getattr(adapter, "seeded", True) else None,
    }
    return prepared_key(payload)


def _entry_path(name: str, split: str, resolution: int, channels: int, key: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return prepared_dir() / f"{safe}-{split}-{resolution}px-c{channels}-{key[:20]}.npz"


def _save(path: Path, data: FaceData, meta: dict) -> None:
    arrays: dict[str, np.ndarray] = {
        "images": np.ascontiguousarray(data.images),
        "labels": data.labels.astype(np.int64),
        "classes": np.array(data.classes, dtype=str),
        "meta_json": np.array(json.dumps(meta, sort_keys=True, default=str)),
    }
    if data.ids is not None:
        arrays["ids"] = np.asarray(data.ids, dtype=str)
    if data.aus is not None:
        arrays["aus"] = np.asarray(data.aus, dtype=np.float32)
        arrays["au_names"] = np.array(data.au_names, dtype=str)
    if data.landmarks is not None:
        arrays["landmarks"] = np.asarray(data.landmarks, dtype=np.float32)
    paths.atomic_write(path, lambda f: np.savez(f, **arrays))
    side = json.dumps(meta, indent=1, sort_keys=True, default=str).encode()
    paths.atomic_write(path.with_suffix(".json"), lambda f: f.write(side))


def _read(path: Path, name: str, split: str) -> FaceData:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta_json"]))
        files = set(z.files)
        return FaceData(
            name=name, split=split, images=z["images"], labels=z["labels"],
            classes=tuple(str(c) for c in z["classes"]),
            aus=z["aus"] if "aus" in files else None,
            au_names=tuple(str(c) for c in z["au_names"]) if "au_names" in files else (),
            landmarks=z["landmarks"] if "landmarks" in files else None,
            ids=z["ids"] if "ids" in files else None,
            meta=meta,
        )


def _build(adapter: Any, name: str, split: str, root: Any, resolution: int, channels: int,
           seed: int) -> tuple[FaceData, list[str], int, dict]:
    if hasattr(adapter, "build"):
        data = adapter.build(split, resolution, channels, seed)
        if not isinstance(data, FaceData):
            raise DataError(f"dataset '{name}': build() returned {type(data).__name__}, "
                            f"not FaceData")
        want = (resolution, resolution, channels)
        if tuple(data.images.shape[1:]) != want:
            raise DataError(f"dataset '{name}': build() returned images of shape "
                            f"{tuple(data.images.shape[1:])}, asked for {want}")
        extra = {k: v for k, v in data.meta.items() if k != "skipped"}
        skipped = [str(s) for s in data.meta.get("skipped", [])]
        data = FaceData(name=name, split=split, images=data.images, labels=data.labels,
                        classes=data.classes, aus=data.aus, au_names=data.au_names,
                        landmarks=data.landmarks, ids=data.ids)
        return data, skipped, len(data) + len(skipped), extra
    rs = adapter.records(root, split, seed)
    dec = decode.decode_records(rs, resolution, channels)
    if len(dec.labels) == 0:
        shown = ", ".join(dec.skipped[:5])
        raise DataError(f"{name}/{split}: none of {len(rs.records)} file(s) could be decoded "
                        f"(first: {shown})")
    data = FaceData(name=name, split=split, images=dec.images, labels=dec.labels,
                    classes=rs.classes, aus=dec.aus, au_names=tuple(rs.au_names),
                    ids=dec.ids)
    return data, dec.skipped, len(rs.records), {}


def load(name: str, split: str, *, root: str | os.PathLike | None = None,
         resolution: int = 48, channels: int = 1, seed: int = 0,
         options: dict[str, Any] | None = None) -> FaceData:
    """Load one split of a registered dataset as :class:`FaceData`, through the prepared cache.

    ``split`` is ``train``, ``val`` or ``test`` (aliases such as ``validation`` accepted).
    ``root`` is the dataset's location (required unless the adapter has ``needs_root=False``).
    ``seed`` only matters for datasets whose split is drawn at random (see
    :mod:`ferbench.data.splits`). ``options`` are the adapter's constructor options, e.g.
    ``{"group_pattern": r"^(S\\d+)_"}`` for ``imagefolder`` (see
    :func:`ferbench.data.registry.with_options`); they are part of the cache key. The returned
    ``meta`` holds ``content_hash``, ``skipped``,
    ``cache_hit`` and ``cache_path`` among others.
    """
    adapter = with_options(get_adapter(name), dict(options or {}))
    name = adapter.name
    split = canonical_split(split)
    if split not in tuple(adapter.splits):
        raise DataError(f"dataset '{name}' has no '{split}' split (has "
                        f"{', '.join(adapter.splits)})")
    resolution, channels = _check_args(resolution, channels)
    seed = int(seed)
    if adapter.needs_root:
        if root is None:
            raise DataError(f"dataset '{name}' needs root=<path to its files>")
        root = Path(root).expanduser()
        fingerprint = adapter.fingerprint(root, split)
        source = str(root.resolve())
    else:
        fingerprint, source = "procedural", ""
    key = cache_key(adapter, split, fingerprint, resolution, channels, seed)
    path = _entry_path(name, split, resolution, channels, key)

    if path.is_file():
        try:
            data = _read(path, name, split)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(f"prepared cache entry {path} is unreadable ({e}); rebuilding it",
                          stacklevel=2)
        else:
            skipped = data.meta.get("skipped", [])
            if skipped:
                warnings.warn(decode.skipped_message(name, split, skipped,
                                                       data.meta.get("n_source", len(data)))
                              + " [cached]", decode.SkippedFilesWarning, stacklevel=2)
            data.meta.update(cache_hit=True, cache_path=str(path))
            if source:
                data.meta["source"] = source
            return data

    data, skipped, n_source, extra = _build(adapter, name, split, root, resolution, channels, seed)
    if skipped:
        warnings.warn(decode.skipped_message(name, split, skipped, n_source),
                      decode.SkippedFilesWarning, stacklevel=2)
    meta = {
        **extra,
        "name": name, "split": split, "adapter_version": str(getattr(adapter, "version", "")),
        "options": getattr(adapter, "options", {}),
        "decode_version": decode.DECODE_VERSION, "resample": decode.RESAMPLE_NAME,
        "resolution": resolution, "channels": channels,
        "seed": seed if getattr(adapter, "seeded", True) else None,
        "source": source, "fingerprint": fingerprint, "cache_key": key,
        "n_source": n_source, "n": len(data), "skipped": list(skipped),
        "counts": data.counts(), "content_hash": data.content_hash(),
        "cache_format": CACHE_FORMAT,
    }
    data.meta = dict(meta)
    try:
        _save(path, data, meta)
    except OSError as e:
        warnings.warn(f"could not write prepared cache entry {path}: {e}", stacklevel=2)
    data.meta.update(cache_hit=False, cache_path=str(path))
    return data


def clear(name: str | None = None) -> int:
    """Delete prepared entries (all, or those of dataset ``name``); returns how many."""
    d = prepared_dir()
    if not d.is_dir():
        return 0
    n = 0
    prefix = None if name is None else re.sub(r"[^A-Za-z0-9_.-]", "_", name.lower()) + "-"
    for p in d.iterdir():
        if p.suffix in (".npz", ".json") and (prefix is None or p.name.startswith(prefix)):
            p.unlink(missing_ok=True)
            n += p.suffix == ".npz"
    return n
