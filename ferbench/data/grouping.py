"""Identity groups for seeded splits, and the warning when file names carry identities.

Why: a seeded split that ignores who is in a picture puts the same person in ``train`` and
``test`` (CK+ in the generic ``imagefolder`` adapter: 65 of 65 test subjects were also in
train, and real-only accuracy read 98 % instead of 77 %). Grouped splits keep every group —
one person — in one split (:func:`ferbench.data.splits.seeded_split` with ``groups=``).

- **Group pattern** (``imagefolder``'s ``group_pattern`` option): a regular expression
  searched (``re.search``) in each file's *name* (not its folders); the identity is its first
  capture group, or the whole match if it has none. ``r"^(S\\d+)_"`` groups CK+ by subject,
  ``r"^[AB]([FM]\\d\\d)"`` groups KDEF by actor. A file the pattern does not match is a
  DataError naming it: a silent fallback would bring the leak back.
- **Identity heuristic** (only to *warn*, never to group): a file name "looks like it carries
  an identity" when its stem starts with letters followed by digits, and something follows
  them (``S005_001_00000011``, ``subject12_happy``, ``AF01ANS``; not ``img0001``, ``0001``,
  ``Training_123``). The warning fires when at least :data:`LOOKS_SHARE` of the files look so,
  there are at least two such prefixes, and they repeat (on average two or more files per
  prefix). It is issued once per (dataset, root) per process, as
  :class:`UngroupedSplitWarning`, which users may filter.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence

from ferbench.errors import ConfigError, DataError

#: Share of file names that must look identity-prefixed before the warning fires.
LOOKS_SHARE = 0.9
_ID_PREFIX = re.compile(r"([A-Za-z]+\d+)(?!\d)[_\-. ]*(.+)")
_WARNED: set[tuple[str, str]] = set()


class UngroupedSplitWarning(UserWarning):
    """A seeded split was drawn without identity groups, but file names suggest identities."""


def compile_group_pattern(pattern: str, dataset: str) -> re.Pattern:
    """Compile a ``group_pattern`` option; ConfigError (one line) if it is not a regex."""
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{dataset}: group_pattern must be a non-empty regular expression, "
                          f"not {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"{dataset}: group_pattern {pattern!r} is not a valid regular "
                          f"expression ({e})") from None


def groups_from_pattern(names: Sequence[str], pattern: re.Pattern, dataset: str) -> list[str]:
    """The identity of each file name (basename taken here); DataError if any does not match."""
    out: list[str] = []
    misses: list[str] = []
    for n in names:
        m = pattern.search(os.path.basename(n))
        if m is None:
            misses.append(n)
            continue
        g = m.group(1) if pattern.groups else m.group(0)
        if not g:
            misses.append(n)
            continue
        out.append(g)
    if misses:
        raise DataError(f"{dataset}: group_pattern {pattern.pattern!r} does not match "
                        f"{len(misses)} of {len(names)} file name(s), e.g. {misses[0]}")
    return out


def identity_prefix(name: str) -> str | None:
    """The identity-like prefix of a file name (see the module docstring), or None."""
    stem = os.path.splitext(os.path.basename(name))[0]
    m = _ID_PREFIX.match(stem)
    return m.group(1) if m else None


def looks_identity_named(names: Sequence[str]) -> bool:
    """Whether ``names`` look like they carry identities (the heuristic above)."""
    if not names:
        return False
    prefixes = [p for p in map(identity_prefix, names) if p is not None]
    distinct = len(set(prefixes))
    return (len(prefixes) >= LOOKS_SHARE * len(names) and distinct >= 2
            and distinct * 2 <= len(prefixes))


def warn_if_identity_named(dataset: str, root, names: Sequence[str], how: str) -> None:
    """Warn once per (dataset, root) when ``names`` look identity-prefixed; ``how`` tells the
    user how to ask for grouping."""
    key = (dataset, os.fspath(root))
    if key in _WARNED or not looks_identity_named(names):
        return
    _WARNED.add(key)
    example = next(p for p in map(identity_prefix, names) if p is not None)
    warnings.warn(f"{dataset}: file names under {root} look like they carry identities "
                  f"(e.g. '{example}'), but the seeded split is not grouped, so one person can "
                  f"be in train and test; {how}", UngroupedSplitWarning, stacklevel=4)


def warn_groups_across_splits(dataset: str, root, groups: Sequence[str],
                              splits: Sequence[str]) -> None:
    """Warn once per (dataset, root) when a user-given split puts one group in two splits.

    The user's split is kept (it may be deliberate); the warning names the count and one
    example so that an accidental leak is seen."""
    key = (dataset + "#splits", os.fspath(root))
    if key in _WARNED:
        return
    where: dict[str, set[str]] = {}
    for g, s in zip(groups, splits):
        where.setdefault(g, set()).add(s)
    spread = sorted(g for g, ss in where.items() if len(ss) > 1)
    if not spread:
        return
    _WARNED.add(key)
    g = spread[0]
    warnings.warn(f"{dataset}: {len(spread)} group(s) of {root} are in more than one split "
                  f"(e.g. '{g}': {', '.join(sorted(where[g]))}); the same person is then "
                  f"trained and tested on", UngroupedSplitWarning, stacklevel=4)
