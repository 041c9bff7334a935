"""Schema migrations of the results store, each run inside the caller's transaction.

Version 1 -> 2 (pool-level results, validation scores, richer provenance):

- ``cells`` is rebuilt with the version-2 columns (DuckDB cannot alter a table that has a
  primary-key index): ``pool_hash`` becomes ``pool_id``; the never-filled
  ``feature_extractor``/``feature_extractor_hash`` columns go (fidelity scores are pool-level
  results now); new columns that a version-1 cell cannot know (validation scores, ``n_val``,
  ``git_dirty``, ``python_version``, ``host``, ``n_boot``...) are NULL; ``engine_version``,
  ``epochs`` and ``amp`` are recovered from the stored spec and classifier config.
- each cell's ``spec_json`` gains the data content hashes it was computed on, so that it
  reads as a :class:`ferbench.api.results.CellSpec`.
- migrated rows keep ``schema_version = 1`` and their original ``cell_id`` (version-1 ids were
  derived without the data hashes, so a version-2 run of the same settings computes a new cell
  rather than trusting an old one whose data it cannot verify).
- ``pool_results`` and ``pool_scores`` are created.
"""

from __future__ import annotations

import json

import duckdb

from ferbench.api.results import SCHEMA_VERSION


def migrate(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Migrate an open store (inside a transaction) from ``version`` to the current one."""
    if version < 2:
        _v1_to_v2(con)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])


def _v1_to_v2(con: duckdb.DuckDBPyConnection) -> None:
    from ferbench.results import store as S

    cur = con.execute("SELECT * FROM cells")
    names = [d[0] for d in cur.description]
    old = [dict(zip(names, r)) for r in cur.fetchall()]
    con.execute("DROP TABLE cells")
    con.execute(S._DDL[1])
    cols = ", ".join(f'"{c}"' for c in S._CELL_COLS)
    insert = f"INSERT INTO cells ({cols}) VALUES ({', '.join('?' * len(S._CELL_COLS))})"
    for row in old:
        spec = json.loads(row["spec_json"])
        extra = json.loads(row["extra_json"] or "{}")
        amp = (extra.get("classifier_config") or {}).get("amp")
        for k in ("feature_extractor", "feature_extractor_hash"):
            extra.pop(k, None)
        spec.update(dataset_hash=row["dataset_hash"], test_dataset_hash=row["test_dataset_hash"],
                    engine_version=spec.get("engine_version"), amp=amp)
        spec.pop("cell_id", None)
        new = {**row, "pool_id": row.get("pool_hash"), "engine_version":
               spec.get("engine_version"), "epochs": spec.get("epochs"), "amp": amp,
               "data_root": spec.get("data_root"), "test_data_root": spec.get("test_data_root")}
        values = []
        for c in S._CELL_COLS:
            if c == "spec_json":
                values.append(json.dumps(spec, sort_keys=True))
            elif c == "extra_json":
                values.append(json.dumps(extra, sort_keys=True))
            elif c == "val_metrics_json":
                values.append("null")
            else:
                values.append(new.get(c))
        con.execute(insert, values)
