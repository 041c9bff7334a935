"""One registry mechanism for every pluggable kind of thing (timm's ``create_model`` /
``list_models`` in spirit).

A :class:`Registry` holds named entries from two sources:

- **built-ins**, given as lazy ``"package.module:attr"`` strings (or objects), imported on first
  use, so a broken optional module only fails the entry that needs it;
- **entry points** of one group (``ferbench.generators``, ``ferbench.datasets``, ...), read from
  installed distributions' metadata; ferbench's own generators are registered this way in its
  ``pyproject.toml``, so a built-in looks exactly like an external plugin.

Two distributions registering the same name is an error that names both. An unknown name gets a
"did you mean". The registries themselves live next to what they register
(``ferbench.api.generator.GENERATORS``, ``ferbench.data.registry.DATASETS``,
``ferbench.classify.models.CLASSIFIERS``, ``ferbench.protocol.spec.PROTOCOLS`` ...);
:func:`all_registries` lists them for the contract tests.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any

from ferbench.errors import ConfigError, FerbenchError

__all__ = ["Registry", "did_you_mean", "all_registries"]

_ALL: dict[str, Registry] = {}


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    near = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _resolve_path(path: str) -> Any:
    mod, _, attr = path.partition(":")
    obj = importlib.import_module(mod)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class Registry:
    """Named entries of one kind (``kind`` is used in messages, e.g. "generator").

    ``group``: the entry-point group read for plugins (None: built-ins only).
    ``builtins``: name -> object or lazy ``"module:attr"`` path.
    ``normalize``: maps user-given names to keys (e.g. ``str.lower``).
    """

    def __init__(self, kind: str, *, group: str | None = None,
                 builtins: dict[str, Any] | None = None,
                 normalize: Callable[[str], str] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._norm = normalize or (lambda s: s)
        self._builtins: dict[str, Any] = {}
        self._source: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}
        self._eps: dict[str, Any] | None = None
        for name, obj in (builtins or {}).items():
            self.register(name, obj, source="ferbench")
        _ALL[kind] = self

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, group={self.group!r}, {len(self.names())} entries)"

    # -- registration ---------------------------------------------------------------------
    def register(self, name: str, obj: Any, *, replace: bool = False,
                 source: str = "ferbench") -> None:
        """Register ``obj`` (an object or a lazy ``"module:attr"`` string) under ``name``."""
        key = self._norm(name)
        if key in self._builtins and not replace and self._builtins[key] is not obj:
            raise FerbenchError(f"{self.kind} '{key}' is already registered "
                                f"(by {self._source.get(key, 'ferbench')})")
        self._builtins[key] = obj
        self._source[key] = source
        self._loaded.pop(key, None)

    def unregister(self, name: str) -> None:
        key = self._norm(name)
        self._builtins.pop(key, None)
        self._source.pop(key, None)
        self._loaded.pop(key, None)

    def _entry_points(self) -> dict[str, Any]:
        if self._eps is None:
            found: dict[str, Any] = {}
            if self.group:
                for ep in entry_points(group=self.group):
                    key = self._norm(ep.name)
                    if key in found and found[key].value != ep.value:
                        a = found[key].dist.name if found[key].dist else found[key].value
                        b = ep.dist.name if ep.dist else ep.value
                        raise FerbenchError(f"{self.kind} name '{key}' is registered twice: "
                                            f"by '{a}' and by '{b}'")
                    found[key] = ep
            self._eps = found
        return self._eps

    def refresh(self) -> None:
        """Forget cached entry points (after installing a plugin in the same process)."""
        self._eps = None
        self._loaded = {k: v for k, v in self._loaded.items() if k in self._builtins}

    # -- lookup ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(set(self._builtins) | set(self._entry_points()))

    def __contains__(self, name: str) -> bool:
        return self._norm(name) in self.names()

    def __iter__(self):
        return iter(self.names())

    def source(self, name: str) -> str | None:
        """Which distribution provides ``name`` ("ferbench" for lazy built-ins)."""
        key = self._norm(name)
        if key in self._builtins:
            return self._source.get(key, "ferbench")
        ep = self._entry_points().get(key)
        if ep is None:
            return None
        return ep.dist.name if ep.dist is not None else ep.value

    def unknown(self, name: str) -> ConfigError:
        names = self.names()
        return ConfigError(f"unknown {self.kind} '{name}'{did_you_mean(self._norm(name), names)};"
                           f" available: {', '.join(names) or 'none'}")

    def get(self, name: str) -> Any:
        """The registered object (imported on first use)."""
        key = self._norm(name)
        if key in self._loaded:
            return self._loaded[key]
        if key in self._builtins:
            obj = self._builtins[key]
            where = obj if isinstance(obj, str) else None
            loader = (lambda: _resolve_path(obj)) if isinstance(obj, str) else (lambda: obj)
        else:
            ep = self._entry_points().get(key)
            if ep is None:
                raise self.unknown(name)
            where, loader = ep.value, ep.load
        try:
            obj = loader()
        except FerbenchError:
            raise
        except Exception as exc:  # a broken plugin must not take the whole CLI down silently
            raise FerbenchError(f"{self.kind} '{key}' ({where}) failed to load: "
                                f"{type(exc).__name__}: {exc}") from exc
        self._loaded[key] = obj
        return obj

    def create(self, name: str, **params: Any) -> Any:
        """Instantiate a registered class with ``params`` (timm's ``create_model``)."""
        cls = self.get(name)
        try:
            return cls(**params)
        except TypeError as exc:
            raise ConfigError(f"{self.kind} '{name}': bad parameters {params}: {exc}") from exc


def all_registries() -> dict[str, Registry]:
    """Every registry ferbench defines (importing the modules that own them)."""
    for mod in ("ferbench.api.generator", "ferbench.data.registry", "ferbench.classify",
                "ferbench.protocol.spec", "ferbench.features", "ferbench.aus_estimate"):
        try:
            importlib.import_module(mod)
        except ImportError:  # during the restructure some owners may not exist yet
            pass
    return dict(_ALL)
