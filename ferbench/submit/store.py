"""Accepted submissions on disk: ``$FERBENCH_HOME/submissions/<name>/<version>/``.

Each holds ``images.npz`` (``images`` uint8 (N,H,W,C) at the submitted size, ``labels``
int64 canonical, ``aus`` float32 with NaN where a column was absent) and ``submission.json``
(name, version, license, url, content sha256, size, mode, per-class counts, AU columns, the
accepted time). The directory appears atomically (:func:`ferbench.paths.atomic_dir`), and a
(name, version) is immutable: submitting the same content again is a no-op, different
content under the same version is refused (bump ``--version``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ferbench.errors import ConfigError, DataError
from ferbench.paths import atomic_dir, submissions_dir
from ferbench.submit.archive import opened
from ferbench.submit.manifest import Validated, validate

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
INFO = "submission.json"


def content_sha256(v: Validated) -> str:
    h = hashlib.sha256()
    for a in (v.images, v.labels, v.aus if v.aus is not None else np.zeros(0)):
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def submission_path(name: str, version: str) -> Path:
    return submissions_dir() / name / version


def _check_names(name: str, version: str) -> None:
    if not NAME_RE.match(name):
        raise ConfigError(f"submission name '{name}': use lowercase letters, digits, '.', '_', "
                          "'-' (at most 64, starting with a letter or digit)")
    if not NAME_RE.match(version.lower()) or version in (".", ".."):
        raise ConfigError(f"submission version '{version}': use letters, digits, '.', '_', '-'")
    from ferbench.api.generator import GENERATORS

    src = GENERATORS.source(name) if name in GENERATORS else None
    if src is not None and not str(src).startswith("submission"):
        raise ConfigError(f"submission name '{name}' is taken by the generator from "
                          f"'{GENERATORS.source(name)}'; choose another --name")


def submit(path: str | os.PathLike, name: str, *, version: str = "1", license: str = "unknown",
           url: str = "", max_files: int | None = None, max_bytes: int | None = None
           ) -> tuple[Path, dict, bool]:
    """Validate the submission at ``path`` and store it. Returns (directory, info, written);
    ``written`` is False when the identical submission was already stored."""
    _check_names(name, version)
    with opened(path, max_files=max_files, max_bytes=max_bytes) as root:
        v = validate(root)
    sha = content_sha256(v)
    dest = submission_path(name, version)
    if (dest / INFO).exists():
        old = json.loads((dest / INFO).read_text())
        if old.get("sha256") == sha:
            return dest, old, False
        raise DataError(f"submission {name} version {version} is already stored ({dest}) with "
                        "different images; submissions are immutable: pass a new --version")
    info = {"name": name, "version": version, "license": license, "url": url, "sha256": sha,
            "n": int(len(v.labels)), "size": list(v.size), "mode": v.mode,
            "channels": 1 if v.mode == "L" else 3, "counts": v.counts,
            "au_columns": v.au_columns, "source": Path(path).name,
            "accepted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with atomic_dir(dest) as tmp:
        arrays = {"images": v.images, "labels": v.labels}
        if v.aus is not None:
            arrays["aus"] = v.aus
        np.savez(tmp / "images.npz", **arrays)
        (tmp / INFO).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return dest, info, True


def accepted() -> list[dict]:
    """Info of every stored submission (each with its ``dir``), oldest first."""
    root = submissions_dir()
    out = []
    if not root.is_dir():
        return out
    for info_path in sorted(root.glob(f"*/*/{INFO}")):
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            continue  # a damaged entry is skipped, never trusted
        info["dir"] = str(info_path.parent)
        out.append(info)
    return sorted(out, key=lambda i: (i.get("accepted_at", ""), i["dir"]))


def report_lines(info: dict, *, dataset: str = "toyfaces", real_per_class: int | None = None,
                 resolution: int = 48, channels: int = 1) -> list[str]:
    """What ``ferbench submit`` prints: counts per class, the resize that will happen, and the
    mix ratios the counts allow for ``dataset`` (at ``real_per_class``, or at each budget's
    default cap when None)."""
    from ferbench.data.registry import get_adapter
    from ferbench.protocol.spec import BUDGET_REAL_PER_CLASS
    from ferbench.submit.manifest import allowed_ratios

    lines = [f"{info['name']} {info['version']}: {info['n']} images, {info['size'][0]}x"
             f"{info['size'][1]} {info['mode']}, sha256 {info['sha256'][:12]}"]
    lines.append("per class: " + ", ".join(f"{c} {n}" for c, n in info["counts"].items()))
    if tuple(info["size"]) != (resolution, resolution) or info["channels"] != channels:
        lines.append(f"served resized to {resolution}x{resolution}x{channels} for a protocol at "
                     f"that resolution (centre crop + bicubic, as dataset decoding); recorded "
                     "in each pool's info")
    classes = tuple(getattr(get_adapter(dataset), "classes", ()) or info["counts"])
    caps = {"--real-per-class": real_per_class} if real_per_class else {
        f"budget {b}": n for b, n in BUDGET_REAL_PER_CLASS.items() if n}
    for label, r in caps.items():
        ar = allowed_ratios(info["counts"], r, classes)
        miss = f"; no images of {', '.join(ar['missing_classes'])}" if ar["missing_classes"] \
            else ""
        lines.append(f"{dataset} at {r} real/class ({label}): mixes up to {ar['max_ratio']}x "
                     f"without reusing an image{miss}")
    if not real_per_class:
        lines.append(f"{dataset} with all real images (budget full): pass --real-per-class N "
                     "to compute its ratios")
    return lines
