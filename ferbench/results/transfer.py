"""Results that travel between machines: export to versioned JSON, import into a local store.

A lab runs on its cluster, exports, and the shared leaderboard imports. The file is one JSON
object ``{"format": "ferbench-results", "schema_version", "exported_at", "cells": [...],
"pool_results": [...]}`` holding the *full* records (spec, provenance, per-class scores,
confusion, predictions), exactly as the store returns them, so an import rebuilds identical rows.

Decisions: records are immutable and keyed by their identity hash, so importing is a merge:
a record already stored (equivalently) is skipped, a new one is written, and one whose id
exists with a *different* record (the provenance or numbers conflict) is reported - one line
each - and never overwritten. A file written by a newer schema is refused as a whole.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ferbench.api.results import SCHEMA_VERSION
from ferbench.errors import DataError, FerbenchError
from ferbench.paths import atomic_write_text
from ferbench.results.store import ResultStore

FORMAT = "ferbench-results"


def export_results(store: ResultStore, out: str | os.PathLike,
                   generators: list[str] | None = None) -> dict:
    """Write every cell and pool result (only those of ``generators`` when given) to ``out``;
    return the document written."""
    if generators:
        ids = [r["cell_id"] for r in store.cells(generator=list(generators))]
        cells = store.get_cells(ids)
        pools = [p for g in generators for p in store.pool_results(generator=g)]
    else:
        cells = store.export_json()
        pools = store.pool_results()
    doc = {"format": FORMAT, "schema_version": SCHEMA_VERSION,
           "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "generators": sorted(generators) if generators else None,
           "cells": cells, "pool_results": pools}
    atomic_write_text(out, json.dumps(doc, sort_keys=True, indent=1) + "\n")
    return doc


@dataclass
class ImportReport:
    """What an import did: counts of records added and skipped, and one line per conflict."""

    added_cells: int = 0
    skipped_cells: int = 0
    added_pools: int = 0
    skipped_pools: int = 0
    conflicts: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"cells: {self.added_cells} added, {self.skipped_cells} already stored; "
                f"pool results: {self.added_pools} added, {self.skipped_pools} already stored; "
                f"{len(self.conflicts)} conflict(s)", *self.conflicts]


def read_export(path: str | os.PathLike) -> dict:
    """Load and check an export file; DataError naming the file on anything malformed."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable JSON results file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f"{path}: not a ferbench results export (format != '{FORMAT}')")
    ver = doc.get("schema_version")
    if not isinstance(ver, int) or ver > SCHEMA_VERSION:
        raise DataError(f"{path}: schema_version {ver!r} is newer than this ferbench's "
                        f"{SCHEMA_VERSION}; upgrade ferbench to import it")
    for key in ("cells", "pool_results"):
        if not isinstance(doc.get(key), list):
            raise DataError(f"{path}: field '{key}' must be a list")
    return doc


def import_results(store: ResultStore, path: str | os.PathLike) -> ImportReport:
    """Merge an export file into ``store`` (idempotent; conflicts reported, not overwritten)."""
    doc = read_export(path)
    rep = ImportReport()
    for i, rec in enumerate(doc["cells"]):
        cid = rec.get("cell_id", f"#{i}") if isinstance(rec, dict) else f"#{i}"
        try:
            if store.write_cell(rec):
                rep.added_cells += 1
            else:
                rep.skipped_cells += 1
        except ValueError as exc:
            rep.conflicts.append(f"{path}: cell {cid}: invalid record: {exc}")
        except FerbenchError:
            rep.conflicts.append(f"{path}: cell {cid} conflicts with the stored record "
                                 "(kept the stored one)")
    for i, rec in enumerate(doc["pool_results"]):
        rid = rec.get("result_id", f"#{i}") if isinstance(rec, dict) else f"#{i}"
        try:
            if store.write_pool_result(rec):
                rep.added_pools += 1
            else:
                rep.skipped_pools += 1
        except ValueError as exc:
            rep.conflicts.append(f"{path}: pool result {rid}: invalid record: {exc}")
        except FerbenchError:
            rep.conflicts.append(f"{path}: pool result {rid} conflicts with the stored record "
                                 "(kept the stored one)")
    return rep
