"""Dataset registry: name -> adapter.

Adapter interface
=================

An adapter is any object with these attributes (nothing needs to be inherited; file-backed
built-ins derive from :class:`ferbench.data.adapters.FileAdapter` for convenience):

``name: str``
    The registry name (lower case), also ``FaceData.name``.
``version: str``
    Bumped whenever the adapter's output changes; part of the prepared-cache key.
``classes: tuple[str, ...]``
    Canonical class names (see :mod:`ferbench.labels`); ``()`` when the data decide
    (``imagefolder``, ``manifest``).
``needs_root: bool``
    Whether :func:`ferbench.data.cache.load` requires ``root=``.
``description: str``, ``license: str``
    One line each, shown by ``ferbench ls datasets``.
``splits: tuple[str, ...]``
    Canonical split names offered (``"train"``, ``"val"``, ``"test"``).
``seeded: bool`` (optional, default ``True``)
    Whether ``seed`` changes the output; if ``False`` the seed is left out of the cache key.
``options: dict`` (optional)
    JSON-serialisable constructor options that change the output (part of the cache key).

and **one** of two ways to produce data:

*File-backed* (real datasets)::

    records(root, split, seed) -> ferbench.data.adapters.RecordSet
    fingerprint(root, split) -> str   # cheap: relative paths + sizes + mtimes, sha256 of CSVs

``records`` lists the split's records (file path or pixels, canonical label, optional AUs and
face box); :func:`ferbench.data.adapters.decode_records` decodes them. ``fingerprint`` must
change whenever the files that feed *any* split change (seeded splits depend on all files), and
it must not decode images. Missing roots or expected files raise ``DataError`` naming the path.

*Procedural* (built-in synthetic data such as ``toyfaces``)::

    build(split, resolution, channels, seed) -> FaceData

``build`` returns the finished split (``FaceData.name`` = the adapter name, ``split`` the
canonical split). ``needs_root`` is ``False``. Files it could not use may be listed in
``data.meta["skipped"]`` (strings), which the cache warns about.

Both kinds go through the prepared cache (:mod:`ferbench.data.cache`), so a second
``load()`` reads one ``.npz`` and never decodes or builds again.

A minimal procedural adapter (what ``ferbench.data.toyfaces`` provides)::

    class ToyFacesAdapter:
        name = "toyfaces"
        version = "1"
        classes = BASIC7
        needs_root = False
        description = "procedural cartoon faces, no download"
        license = "Apache-2.0"
        splits = ("train", "val", "test")
        seeded = False          # if build() ignores seed

        def build(self, split, resolution, channels, seed):
            return load_toyfaces(split, resolution, channels)

Registration
============

:func:`register` accepts an adapter instance, a class (instantiated without arguments on first
use) or an import path ``"package.module:Attribute"`` resolved lazily on first use, so a broken
or missing optional module only fails the dataset that needs it. ``toyfaces`` is registered
lazily as ``"ferbench.data.toyfaces:ToyFacesAdapter"``.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from ferbench.data import adapters as _adapters
from ferbench.errors import DataError

TOYFACES = "ferbench.data.toyfaces:ToyFacesAdapter"

_REGISTRY: dict[str, Any] = {}

_REQUIRED = ("name", "classes", "needs_root", "description", "license", "splits")


def _norm(name: str) -> str:
    return str(name).strip().lower()


def register(name: str, adapter: Any, *, replace: bool = False) -> None:
    """Register ``adapter`` (instance, class or ``"module:Attr"`` string) under ``name``."""
    key = _norm(name)
    if not key:
        raise DataError("a dataset needs a non-empty name")
    if key in _REGISTRY and not replace:
        raise DataError(f"dataset '{key}' is already registered (pass replace=True)")
    _REGISTRY[key] = adapter


def unregister(name: str) -> None:
    _REGISTRY.pop(_norm(name), None)


def _resolve(key: str, entry: Any) -> Any:
    if isinstance(entry, str):
        mod_name, _, attr = entry.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr) if attr else \
                importlib.import_module(mod_name)
        except Exception as e:  # any import failure is reported as one line
            raise DataError(f"dataset '{key}' could not be loaded from {entry}: "
                            f"{type(e).__name__}: {e}") from e
        entry = obj
    if isinstance(entry, type):
        entry = entry()
    missing = [a for a in _REQUIRED if not hasattr(entry, a)]
    if not (hasattr(entry, "build") or (hasattr(entry, "records")
                                        and hasattr(entry, "fingerprint"))):
        missing.append("build() or records()+fingerprint()")
    if missing:
        raise DataError(f"dataset '{key}': adapter {entry!r} lacks {', '.join(missing)}")
    _REGISTRY[key] = entry
    return entry


def get_adapter(name: str) -> Any:
    """The adapter registered under ``name``; DataError with a suggestion if unknown."""
    key = _norm(name)
    if key not in _REGISTRY:
        near = difflib.get_close_matches(key, list(_REGISTRY), n=1, cutoff=0.5)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise DataError(f"unknown dataset '{name}'{hint}; known: {', '.join(sorted(_REGISTRY))}")
    return _resolve(key, _REGISTRY[key])


class Unavailable:
    """Stands in for a lazily registered adapter whose module failed to import, so that
    listing datasets still works; using it raises the import error as a DataError."""

    classes: tuple[str, ...] = ()
    needs_root = False
    license = ""
    splits: tuple[str, ...] = ()
    version = ""

    def __init__(self, name: str, error: str) -> None:
        self.name = name
        self.error = error
        self.description = f"unavailable: {error}"

    def __repr__(self) -> str:
        return f"<Unavailable dataset {self.name!r}>"


def list_datasets() -> dict[str, Any]:
    """``{name: adapter}`` for every registered dataset, sorted by name. Lazily registered
    adapters are imported here; one whose module fails to import is listed as an
    :class:`Unavailable` stub (its ``description`` says why) instead of breaking the listing."""
    out: dict[str, Any] = {}
    for n in sorted(_REGISTRY):
        try:
            out[n] = get_adapter(n)
        except DataError as e:
            out[n] = Unavailable(n, str(e))
    return out


def _register_builtins() -> None:
    for a in _adapters.builtin_adapters():
        register(a.name, a, replace=True)
    register("toyfaces", TOYFACES, replace=True)


_register_builtins()
