"""Dataset registry: name -> adapter.

Adapter interface
=================

An adapter is any object with these attributes (nothing needs to be inherited; file-backed
built-ins derive from :class:`ferbench.data.adapters.base.FileAdapter` for convenience):

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

    records(root, split, seed) -> ferbench.data.decode.RecordSet
    fingerprint(root, split) -> str   # cheap: relative paths + sizes + mtimes, sha256 of CSVs

``records`` lists the split's records (file path or pixels, canonical label, optional AUs and
face box); :func:`ferbench.data.decode.decode_records` decodes them. ``fingerprint`` must
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

The names live in :data:`DATASETS`, a :class:`ferbench.registry.Registry` of kind ``"dataset"``
reading the entry-point group ``ferbench.datasets``, so an installed distribution can add a
dataset with ``[project.entry-points."ferbench.datasets"] mydata = "pkg.module:MyAdapter"``.
An entry point is treated like a lazily registered ``"module:Attr"`` string.
"""

from __future__ import annotations

import inspect
from typing import Any

from ferbench.data.adapters import builtin_adapters
from ferbench.errors import ConfigError, DataError, FerbenchError
from ferbench.registry import Registry, did_you_mean

TOYFACES = "ferbench.data.toyfaces:ToyFacesAdapter"

_REQUIRED = ("name", "classes", "needs_root", "description", "license", "splits")


def _norm(name: str) -> str:
    return str(name).strip().lower()


#: Every dataset: built-ins registered below plus the ``ferbench.datasets`` entry points.
DATASETS = Registry("dataset", group="ferbench.datasets", normalize=_norm)

#: Validated adapter instances, by key (a class or lazy path is resolved once).
_READY: dict[str, Any] = {}


def register(name: str, adapter: Any, *, replace: bool = False) -> None:
    """Register ``adapter`` (instance, class or ``"module:Attr"`` string) under ``name``."""
    key = _norm(name)
    if not key:
        raise DataError("a dataset needs a non-empty name")
    if key in DATASETS and not replace:
        raise DataError(f"dataset '{key}' is already registered (pass replace=True)")
    DATASETS.register(key, adapter, replace=True)
    _READY.pop(key, None)


def unregister(name: str) -> None:
    DATASETS.unregister(name)
    _READY.pop(_norm(name), None)


def _where(key: str) -> str:
    """Where a lazily registered entry comes from (its ``"module:Attr"`` path), for messages."""
    entry = DATASETS._builtins.get(key)  # the raw entry, only for the message
    return entry if isinstance(entry, str) else str(DATASETS.source(key))


def _resolve(key: str) -> Any:
    try:
        entry = DATASETS.get(key)
    except FerbenchError as e:  # any import failure is reported as one line
        cause = e.__cause__ or e
        raise DataError(f"dataset '{key}' could not be loaded from {_where(key)}: "
                        f"{type(cause).__name__}: {cause}") from cause
    if isinstance(entry, type):
        entry = entry()
    missing = [a for a in _REQUIRED if not hasattr(entry, a)]
    if not (hasattr(entry, "build") or (hasattr(entry, "records")
                                        and hasattr(entry, "fingerprint"))):
        missing.append("build() or records()+fingerprint()")
    if missing:
        raise DataError(f"dataset '{key}': adapter {entry!r} lacks {', '.join(missing)}")
    _READY[key] = entry
    return entry


def get_adapter(name: str) -> Any:
    """The adapter registered under ``name``; DataError with a suggestion if unknown."""
    key = _norm(name)
    if key in _READY:
        return _READY[key]
    if key not in DATASETS:
        names = DATASETS.names()
        raise DataError(f"unknown dataset '{name}'{did_you_mean(key, names)}; "
                        f"known: {', '.join(names)}")
    return _resolve(key)


def with_options(adapter: Any, options: dict[str, Any]) -> Any:
    """A new instance of ``adapter``'s class with ``options`` as constructor keywords.

    Why: dataset options (``imagefolder``'s ``group_pattern``, ``kdef``'s ``angles``, ...)
    are constructor arguments, and a registered adapter is one instance. The other constructor
    arguments keep the registered instance's values (read from its attributes of the same
    names, e.g. ``affectnet7``'s ``n_classes``). Options change the output, so they reach the
    prepared-cache key through the new instance's ``options``. An option the constructor does
    not take is a one-line ConfigError naming it and the options that exist.
    """
    if not options:
        return adapter
    cls = type(adapter)
    try:
        params = [p for p in inspect.signature(cls).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params]
    unknown = sorted(set(options) - set(names))
    if unknown:
        takes = ", ".join(names) if names else "none"
        raise ConfigError(f"dataset '{adapter.name}' has no option(s) {', '.join(unknown)} "
                          f"(options: {takes})")
    current = {n: getattr(adapter, n) for n in names if hasattr(adapter, n)}
    return cls(**{**current, **options})


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
    for n in DATASETS.names():
        try:
            out[n] = get_adapter(n)
        except DataError as e:
            out[n] = Unavailable(n, str(e))
    return out


def _register_builtins() -> None:
    for a in builtin_adapters():
        register(a.name, a, replace=True)
    register("toyfaces", TOYFACES, replace=True)


_register_builtins()
