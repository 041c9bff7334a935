"""Every third-party module that ferbench's core imports (at the top or lazily) is a declared
dependency, so that a plain ``pip install -e .`` (no extras) runs ``ferbench run``. (A CI
install without extras would copy torch a second time, several minutes on 2 cores; this scan
catches the same mistake: pandas was once imported by the store but arrived only through
streamlit.)"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"ferbench", "ferbench_generators", "ferbench_protocols", "ferbench_leaderboard"}
#: import names whose distribution metadata does not say which PyPI project provides them
ALIASES = {"dlib": {"dlib-bin"}}


def _imports(folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for py in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(), str(py))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                found.setdefault(n.split(".")[0], str(py.relative_to(REPO)))
    return found


def _declared(extra: str | None = None) -> set[str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    if extra:
        reqs += meta["optional-dependencies"][extra]
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


@pytest.mark.parametrize("folder,extra", [("ferbench", None), ("generators", "text"),
                                          ("leaderboard", "leaderboard")])
def test_third_party_imports_are_declared(folder, extra):
    dists = packages_distributions()
    declared = _declared(extra)
    missing = []
    for mod, where in sorted(_imports(REPO / folder).items()):
        if mod in FIRST_PARTY or mod in sys.stdlib_module_names:
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [mod])} | ALIASES.get(
            mod, set())
        if not names & declared:
            missing.append(f"{mod} (imported in {where}; distribution {sorted(names)})")
    assert not missing, "undeclared dependencies: " + "; ".join(missing)
