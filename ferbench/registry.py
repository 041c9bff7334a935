"""Entry-point discovery for generators.

Generators register under the entry-point group ``ferbench.generators``. ferbench's own
baselines are registered the same way in its ``pyproject.toml``, so a built-in looks exactly
like an external plugin. Discovery reads entry-point metadata only; a generator's module is
imported when it is loaded (``ferbench ls generators`` imports them to show their metadata,
which by contract loads no weights).
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from ferbench.errors import ConfigError, FerbenchError

GROUP = "ferbench.generators"


def did_you_mean(name: str, choices) -> str:
    near = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{near[0]}'?)" if near else ""


@lru_cache(maxsize=1)
def _generator_eps() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            a = found[ep.name].dist.name if found[ep.name].dist else found[ep.name].value
            b = ep.dist.name if ep.dist else ep.value
            raise FerbenchError(
                f"generator name '{ep.name}' is registered twice: by '{a}' and by '{b}'"
            )
        found[ep.name] = ep
    return found


def generator_names() -> list[str]:
    return sorted(_generator_eps())


def generator_class(name: str):
    eps = _generator_eps()
    if name not in eps:
        raise ConfigError(
            f"unknown generator '{name}'{did_you_mean(name, eps)}; "
            f"available: {', '.join(sorted(eps)) or 'none'}"
        )
    try:
        return eps[name].load()
    except Exception as exc:  # a broken plugin must not take the whole CLI down silently
        raise FerbenchError(f"generator '{name}' ({eps[name].value}) failed to load: {exc}") from exc


def create_generator(name: str, **params):
    """Instantiate a registered generator with hyper-parameters (timm's ``create_model``)."""
    cls = generator_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"generator '{name}': bad parameters {params}: {exc}") from exc


def generator_distribution(name: str) -> str | None:
    ep = _generator_eps().get(name)
    return ep.dist.name if ep is not None and ep.dist is not None else None
