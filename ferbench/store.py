"""The DuckDB results store: one immutable row set per finished cell.

DuckDB lets one process at a time hold a database file (several read-only processes may share
it, but never alongside a writer), so every operation here opens the file, runs one
transaction and closes it again, retrying with exponential backoff and jitter while another
process holds the lock.

Tables (``SCHEMA_VERSION`` 1):

* ``meta(key, value)``: ``schema_version``.
* ``cells``: one row per finished cell: every scalar field of the cell record, the metrics as
  flat columns, ``classes VARCHAR[]``, ``generator_params`` / ``spec_json`` / ``metrics_json``
  / ``extra_json`` as JSON text (``extra_json`` keeps unknown top-level record keys).
* ``per_class(cell_id, class_idx, class, recall, precision, f1, support)``.
* ``confusion(cell_id, true_idx, pred_idx, count)``: all n*n entries, rows = true class.
* ``predictions(cell_id, idx, y_true, y_pred)``: one row per test image, in test order.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ferbench.errors import FerbenchError

SCHEMA_VERSION = 1

# (name, SQL type, python types, nullable) for the scalar fields of a cell record.
_S, _I, _F = (str,), (int,), (int, float)
_FIELDS: list[tuple[str, str, tuple, bool]] = [
    ("cell_id", "VARCHAR PRIMARY KEY", _S, False),
    ("schema_version", "INTEGER", _I, False),
    ("protocol", "VARCHAR", _S, False),
    ("protocol_version", "INTEGER", _I, False),
    ("mode", "VARCHAR", _S, False),
    ("ratio", "DOUBLE", _F, False),
    *[(k, "VARCHAR", _S, False) for k in ("dataset", "train_split", "test_dataset", "test_split",
                                          "dataset_hash", "test_dataset_hash")],
    ("resolution", "INTEGER", _I, False),
    ("channels", "INTEGER", _I, False),
    ("real_per_class", "BIGINT", _I, True),
    ("real_fraction", "DOUBLE", _F, False),
    *[(k, "BIGINT", _I, False) for k in ("n_real", "n_synthetic", "n_test")],
    ("generator", "VARCHAR", _S, True),
    ("generator_version", "VARCHAR", _S, True),
    ("pool_hash", "VARCHAR", _S, True),
    ("feature_extractor", "VARCHAR", _S, True),
    ("feature_extractor_hash", "VARCHAR", _S, True),
    ("classifier", "VARCHAR", _S, False),
    ("budget", "VARCHAR", _S, False),
    ("seed", "BIGINT", _I, False),
    ("ferbench_version", "VARCHAR", _S, False),
    ("git_sha", "VARCHAR", _S, True),
    ("torch_version", "VARCHAR", _S, False),
    ("device", "VARCHAR", _S, False),
    ("wall_time_s", "DOUBLE", _F, False),
    ("created_at", "VARCHAR", _S, False),
]
_METRICS = [f"{m}{s}" for m in ("accuracy", "balanced_accuracy", "macro_f1")
            for s in ("", "_lo", "_hi")]
_NESTED = ["spec", "generator_params", "metrics", "per_class", "confusion", "classes",
           "y_true", "y_pred"]
_PER_CLASS = ["class", "recall", "precision", "f1", "support"]
_SCALARS = [f[0] for f in _FIELDS]
REQUIRED_FIELDS = _SCALARS + _NESTED
_JSON_COLS = ["generator_params", "spec_json", "metrics_json", "extra_json"]
_CELL_COLS = _SCALARS + _METRICS + ["classes"] + _JSON_COLS
#: the columns of ``cells()`` rows and ``scores_frame()`` (generator_params is JSON text)
FLAT_COLUMNS = _SCALARS + _METRICS + ["classes", "generator_params"]

_DDL = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS cells ("
    + ", ".join(f'"{n}" {t}' for n, t, _, _ in _FIELDS)
    + ", " + ", ".join(f"{m} DOUBLE" for m in _METRICS)
    + ", classes VARCHAR[], " + ", ".join(f"{c} VARCHAR" for c in _JSON_COLS) + ")",
    "CREATE TABLE IF NOT EXISTS per_class (cell_id VARCHAR, class_idx INTEGER, class VARCHAR,"
    " recall DOUBLE, precision DOUBLE, f1 DOUBLE, support BIGINT)",
    "CREATE TABLE IF NOT EXISTS confusion (cell_id VARCHAR, true_idx INTEGER, pred_idx INTEGER,"
    " count BIGINT)",
    "CREATE TABLE IF NOT EXISTS predictions (cell_id VARCHAR, idx INTEGER, y_true INTEGER,"
    " y_pred INTEGER)",
]
_RETRYABLE = ("Could not set lock", "Conflicting lock", "different configuration")


class CellNotFoundError(FerbenchError, KeyError):
    """``get_cell`` was asked for a cell_id the store does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def default_store_path() -> Path:
    """``$FERBENCH_HOME/results.duckdb``, default ``~/.cache/ferbench/results.duckdb``."""
    home = os.environ.get("FERBENCH_HOME") or "~/.cache/ferbench"
    return Path(home).expanduser() / "results.duckdb"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _num(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def validate_record(record: dict) -> dict:
    """Check a cell record; return its JSON-normalised copy (numpy values become plain ints,
    floats and lists). Raises ValueError naming the offending field."""
    if not isinstance(record, dict):
        raise ValueError("cell record must be a dict")
    try:
        record = json.loads(json.dumps(record, default=_jsonable))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cell record is not JSON-serialisable: {exc}") from exc
    for name in REQUIRED_FIELDS:
        if name not in record:
            raise ValueError(f"cell record is missing field {name!r}")
    for name, _, types, nullable in _FIELDS:
        v = record[name]
        ok = (v is None and nullable) or (isinstance(v, types) and not isinstance(v, bool))
        if not ok:
            raise ValueError(f"cell record field {name!r} has bad value {v!r}")
    if record["mode"] not in ("real", "synthetic", "mix"):
        raise ValueError(f"cell record field 'mode' has bad value {record['mode']!r}")
    for name in ("spec", "generator_params", "metrics"):
        if not isinstance(record[name], dict):
            raise ValueError(f"cell record field {name!r} must be a dict")
    for m in _METRICS + ["n_test"]:
        if m not in record["metrics"]:
            raise ValueError(f"cell record field 'metrics.{m}' is missing")
        if not _num(record["metrics"][m]):
            raise ValueError(f"cell record field 'metrics.{m}' must be a number")
    classes = record["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ValueError("cell record field 'classes' must be a non-empty list of str")
    n = len(classes)
    pc = record["per_class"]
    if not isinstance(pc, list) or not all(isinstance(r, dict) for r in pc):
        raise ValueError("cell record field 'per_class' must be a list of dicts")
    for i, row in enumerate(pc):
        for k in _PER_CLASS:
            if k not in row or not (isinstance(row[k], str) if k == "class" else _num(row[k])):
                raise ValueError(f"cell record field 'per_class[{i}].{k}' is missing or bad")
    conf = record["confusion"]
    if (not isinstance(conf, list) or len(conf) != n
            or not all(isinstance(r, list) and len(r) == n for r in conf)
            or not all(isinstance(c, int) for r in conf for c in r)):
        raise ValueError(f"cell record field 'confusion' must be a {n}x{n} list of int lists")
    for name in ("y_true", "y_pred"):
        ys = record[name]
        if not isinstance(ys, list) or not all(isinstance(y, int) for y in ys):
            raise ValueError(f"cell record field {name!r} must be a list of int")
    if len(record["y_true"]) != len(record["y_pred"]):
        raise ValueError("cell record fields 'y_true' and 'y_pred' differ in length")
    record["per_class"] = [{k: r[k] for k in _PER_CLASS} for r in pc]
    return record


def _equivalent(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equivalent(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equivalent(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if not (_num(a) and _num(b)) or a is None or b is None:
            return False
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0)
    return a == b and type(a) is type(b)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


class ResultStore:
    """Results store at ``path`` (default :func:`default_store_path`)."""

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 60.0):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------------
    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                msg = str(exc)
                creating = "not a valid DuckDB" in msg and _size(self.path) == 0
                if not (creating or any(s in msg for s in _RETRYABLE)):
                    first = msg.splitlines()[0] if msg else type(exc).__name__
                    raise FerbenchError(f"cannot open results store {self.path}: {first}") from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FerbenchError(f"results store {self.path} is locked by another process"
                                        f" (gave up after {self.timeout:g} s)") from exc
            time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 2, 0.1)

    @contextmanager
    def _read(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection, or None when the store (or its tables) does not exist yet."""
        if not self.path.exists():
            yield None
            return
        con = self._open(read_only=True)
        try:
            if not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'meta'"
                               " AND schema_name = 'main'").fetchall():
                yield None
                return
            self._check_version(con)
            yield con
        finally:
            con.close()

    def _check_version(self, con: duckdb.DuckDBPyConnection) -> int | None:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise FerbenchError(f"results store {self.path} has schema version {row[0]}, newer than"
                                f" this ferbench supports ({SCHEMA_VERSION}); upgrade ferbench")
        return None if row is None else int(row[0])

    # -- writing -----------------------------------------------------------------------------
    def write_cell(self, record: dict) -> bool:
        """Store a finished cell in one transaction. True if written, False if already stored
        (equivalently); FerbenchError if a different record is stored under the same cell_id."""
        rec = validate_record(record)
        cid = rec["cell_id"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only=False)
        try:
            con.begin()
            try:
                for ddl in _DDL:
                    con.execute(ddl)
                if self._check_version(con) is None:
                    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
                if con.execute("SELECT 1 FROM cells WHERE cell_id = ?", [cid]).fetchone():
                    stored = self._load(con, [cid])[0]
                    con.rollback()
                    if _equivalent(stored, rec):
                        return False
                    raise FerbenchError(f"cell {cid} is already stored in {self.path} with a"
                                        " different record; finished cells are immutable")
                self._insert_cell(con, rec)
                self._insert_per_class(con, rec)
                self._insert_confusion(con, rec)
                self._insert_predictions(con, rec)
                con.commit()
                return True
            except BaseException:
                try:
                    con.rollback()
                except duckdb.Error:
                    pass  # already rolled back
                raise
        finally:
            con.close()

    @staticmethod
    def _insert_cell(con: duckdb.DuckDBPyConnection, rec: dict) -> None:
        known = set(REQUIRED_FIELDS)
        extra = {k: v for k, v in rec.items() if k not in known}
        values = ([rec[k] for k in _SCALARS] + [rec["metrics"][m] for m in _METRICS]
                  + [rec["classes"], json.dumps(rec["generator_params"], sort_keys=True),
                     json.dumps(rec["spec"], sort_keys=True), json.dumps(rec["metrics"]),
                     json.dumps(extra, sort_keys=True)])
        cols = ", ".join(f'"{c}"' for c in _CELL_COLS)
        con.execute(f"INSERT INTO cells ({cols}) VALUES ({', '.join('?' * len(values))})", values)

    @staticmethod
    def _insert_per_class(con: duckdb.DuckDBPyConnection, rec: dict) -> None:
        rows = [[rec["cell_id"], i] + [r[k] for k in _PER_CLASS]
                for i, r in enumerate(rec["per_class"])]
        if rows:
            con.executemany("INSERT INTO per_class VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    @staticmethod
    def _insert_confusion(con: duckdb.DuckDBPyConnection, rec: dict) -> None:
        n = len(rec["classes"])
        flat = [c for row in rec["confusion"] for c in row]
        con.execute("INSERT INTO confusion SELECT ?, unnest(range(?)) // ?, unnest(range(?)) % ?,"
                    " unnest(?::BIGINT[])", [rec["cell_id"], n * n, n, n * n, n, flat])

    @staticmethod
    def _insert_predictions(con: duckdb.DuckDBPyConnection, rec: dict) -> None:
        con.execute("INSERT INTO predictions SELECT ?, unnest(range(?)), unnest(?::INTEGER[]),"
                    " unnest(?::INTEGER[])",
                    [rec["cell_id"], len(rec["y_true"]), rec["y_true"], rec["y_pred"]])

    # -- reading -----------------------------------------------------------------------------
    def _load(self, con: duckdb.DuckDBPyConnection, ids: list[str] | None) -> list[dict]:
        """Full records for ``ids`` (all cells when None), ordered by created_at, cell_id."""
        where, params = ("WHERE cell_id IN (SELECT unnest(?::VARCHAR[]))", [ids]) if ids is not None \
            else ("", [])
        cols = ", ".join(f'"{c}"' for c in _CELL_COLS)
        cells = _rows(con, f"SELECT {cols} FROM cells {where} ORDER BY created_at, cell_id", params)
        per_class, confusion, preds = defaultdict(list), defaultdict(list), {}
        for r in _rows(con, f"SELECT * FROM per_class {where} ORDER BY cell_id, class_idx", params):
            per_class[r["cell_id"]].append({k: r[k] for k in _PER_CLASS})
        for cid, row in con.execute(f"SELECT cell_id, list(count ORDER BY pred_idx) FROM confusion"
                                    f" {where} GROUP BY cell_id, true_idx ORDER BY cell_id,"
                                    " true_idx", params).fetchall():
            confusion[cid].append(row)
        for cid, yt, yp in con.execute(f"SELECT cell_id, list(y_true ORDER BY idx), list(y_pred"
                                       f" ORDER BY idx) FROM predictions {where} GROUP BY cell_id",
                                       params).fetchall():
            preds[cid] = (yt, yp)
        out = []
        for c in cells:
            cid = c["cell_id"]
            rec = {k: c[k] for k in _SCALARS}
            rec.update(json.loads(c["extra_json"]))
            rec["spec"] = json.loads(c["spec_json"])
            rec["generator_params"] = json.loads(c["generator_params"])
            rec["metrics"] = json.loads(c["metrics_json"])
            rec["classes"] = list(c["classes"])
            rec["per_class"] = per_class[cid]
            rec["confusion"] = confusion[cid]
            rec["y_true"], rec["y_pred"] = (list(y) for y in preds.get(cid, ([], [])))
            out.append(rec)
        return out

    def finished_ids(self, cell_ids: Iterable[str]) -> set[str]:
        """The subset of ``cell_ids`` already stored."""
        ids = list(cell_ids)
        with self._read() as con:
            if con is None or not ids:
                return set()
            return {r[0] for r in con.execute("SELECT cell_id FROM cells WHERE cell_id IN"
                                              " (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}

    def has_cell(self, cell_id: str) -> bool:
        return bool(self.finished_ids([cell_id]))

    def get_cell(self, cell_id: str) -> dict:
        """The full record written for ``cell_id``; CellNotFoundError if absent."""
        with self._read() as con:
            recs = [] if con is None else self._load(con, [cell_id])
        if not recs:
            raise CellNotFoundError(f"no cell {cell_id} in results store {self.path}")
        return recs[0]

    def predictions(self, cell_id: str) -> tuple[list[int], list[int]]:
        """(y_true, y_pred) of a stored cell, in test order (for paired bootstrap)."""
        rec = self.get_cell(cell_id)
        return rec["y_true"], rec["y_pred"]

    def _flat(self, filters: dict) -> tuple[list[str], list[tuple]]:
        clauses, params = [], []
        for key, val in filters.items():
            if key not in FLAT_COLUMNS or key == "classes":
                raise FerbenchError(f"cannot filter results on {key!r}")
            if val is None:
                clauses.append(f'"{key}" IS NULL')
            elif isinstance(val, (list, tuple, set, frozenset)):
                clauses.append(f'"{key}" IN (SELECT unnest(?))')
                params.append(list(val))
            else:
                clauses.append(f'"{key}" = ?')
                params.append(val)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        cols = ", ".join(f'"{c}"' for c in FLAT_COLUMNS)
        with self._read() as con:
            if con is None:
                return FLAT_COLUMNS, []
            rows = con.execute(f"SELECT {cols} FROM cells {where} ORDER BY created_at, cell_id",
                               params).fetchall()
        return FLAT_COLUMNS, rows

    def cells(self, **filters: Any) -> list[dict]:
        """Flat per-cell rows (FLAT_COLUMNS), e.g. ``cells(protocol="p", generator=None)``;
        a list/tuple/set value matches any of its items."""
        cols, rows = self._flat(filters)
        return [dict(zip(cols, r)) for r in rows]

    def scores_frame(self, **filters: Any) -> pd.DataFrame:
        """``cells()`` as a pandas DataFrame (empty, with the columns, when nothing is stored)."""
        cols, rows = self._flat(filters)
        return pd.DataFrame.from_records(rows, columns=cols)

    def export_json(self, path: str | os.PathLike | None = None) -> list[dict]:
        """All full records; also written to ``path`` as a JSON list when given."""
        with self._read() as con:
            recs = [] if con is None else self._load(con, None)
        if path is not None:
            body = ",\n".join(json.dumps(r, sort_keys=True) for r in recs)
            Path(path).write_text(f"[\n{body}\n]\n" if recs else "[]\n", encoding="utf-8")
        return recs

    def __len__(self) -> int:
        with self._read() as con:
            return 0 if con is None else con.execute("SELECT count(*) FROM cells").fetchone()[0]
