"""The DuckDB results store: immutable records of finished cells and pool-level results.

DuckDB lets one process at a time hold a database file (several read-only processes may share
it, but never alongside a writer), so every operation here opens the file, runs one
transaction and closes it again, retrying with exponential backoff and jitter while another
process holds the lock.

Tables (``SCHEMA_VERSION`` 2; the record layout is defined once, in
:mod:`ferbench.api.results`, and the columns below are derived from it):

* ``meta(key, value)``: ``schema_version``.
* ``cells``: one row per finished classifier cell: every scalar of the cell record (its
  :class:`~ferbench.api.results.CellSpec`, counts, provenance), test and validation metrics as
  flat columns (``accuracy``..., ``val_accuracy``...), ``classes VARCHAR[]``, and JSON text
  for ``generator_params``, ``spec_json``, ``metrics_json``, ``val_metrics_json`` and
  ``extra_json`` (everything else: classifier config, data checks, pool statistics).
* ``per_class(cell_id, class_idx, class, recall, precision, f1, support)``.
* ``confusion(cell_id, true_idx, pred_idx, count)``: all n*n entries, rows = true class.
* ``predictions(cell_id, idx, y_true, y_pred)``: one row per test image, in test order.
* ``pool_results``: one row per pool-level result (a scoring protocol on one synthetic pool):
  the pool's identity, N, the scorer's config (feature extractor, weights sha256, ...) and
  provenance; ``pool_scores(result_id, metric, value, lo, hi, higher_is_better, n, note)``
  holds its open-ended named scores.

Version-1 files (before pool results, validation scores and the richer provenance) are
migrated in place, in one transaction, the first time a newer ferbench opens them
(:mod:`ferbench.results.migrate`).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ferbench.api.results import (
    CELL_METRICS,
    MODES,
    SCHEMA_VERSION,
    CellResult,
    CellSpec,
    PoolResult,
    Provenance,
)
from ferbench.errors import FerbenchError
from ferbench.paths import store_path

_SQL = {"str": ("VARCHAR", (str,)), "int": ("BIGINT", (int,)), "float": ("DOUBLE", (int, float)),
        "bool": ("BOOLEAN", (bool,))}


def _columns_of(cls, skip=()) -> list[tuple[str, str, tuple, bool]]:
    """(name, SQL type, python types, nullable) for the scalar fields of a dataclass, from its
    annotations: the store's columns are derived from ferbench.api.results, never retyped."""
    import dataclasses

    out = []
    for f in dataclasses.fields(cls):
        ann = str(f.type).replace(" ", "")
        base, _, rest = ann.partition("|")
        if f.name in skip or base not in _SQL:
            continue
        sql, types = _SQL[base]
        out.append((f.name, sql, types, rest == "None"))
    return out


# (name, SQL type, python types, nullable) for the scalar fields of a cell record.
_S, _I = (str,), (int,)
_FIELDS: list[tuple[str, str, tuple, bool]] = [
    ("cell_id", "VARCHAR PRIMARY KEY", _S, False),
    ("schema_version", "INTEGER", _I, False),
    *_columns_of(CellSpec),
    *[(k, "BIGINT", _I, k == "n_val") for k in ("n_real", "n_synthetic", "n_test", "n_val")],
    ("pool_id", "VARCHAR", _S, True),
    *_columns_of(Provenance),
]
#: columns that version-1 records lack; they may be NULL in migrated rows only
V1_MISSING = ("engine_version", "val_split", "val_dataset_hash", "epochs", "au_targets", "amp",
              "n_boot", "data_root", "test_data_root", "n_val", "git_dirty", "python_version",
              "host")
_METRICS = [f"{m}{s}" for m in CELL_METRICS for s in ("", "_lo", "_hi")]
_VAL_METRICS = [f"val_{m}" for m in _METRICS]
_NESTED = ["spec", "generator_params", "metrics", "per_class", "confusion", "classes",
           "y_true", "y_pred"]
_OPTIONAL_NESTED = ["val_metrics"]
_PER_CLASS = ["class", "recall", "precision", "f1", "support"]
_SCALARS = [f[0] for f in _FIELDS]
REQUIRED_FIELDS = _SCALARS + _NESTED
_JSON_COLS = ["generator_params", "spec_json", "metrics_json", "val_metrics_json", "extra_json"]
_CELL_COLS = _SCALARS + _METRICS + _VAL_METRICS + ["classes"] + _JSON_COLS
#: the columns of ``cells()`` rows and ``scores_frame()`` (generator_params is JSON text)
FLAT_COLUMNS = _SCALARS + _METRICS + _VAL_METRICS + ["classes", "generator_params"]

_POOL_FIELDS = [
    ("result_id", "VARCHAR PRIMARY KEY"), ("schema_version", "INTEGER"), ("pool_id", "VARCHAR"),
    ("protocol", "VARCHAR"), ("protocol_version", "INTEGER"), ("generator", "VARCHAR"),
    ("generator_version", "VARCHAR"), ("dataset", "VARCHAR"), ("dataset_hash", "VARCHAR"),
    ("resolution", "INTEGER"), ("channels", "INTEGER"), ("real_per_class", "BIGINT"),
    ("real_fraction", "DOUBLE"), ("seed", "BIGINT"), ("budget", "VARCHAR"), ("n", "BIGINT"),
    *[(n, t) for n, t, _, _ in _columns_of(Provenance)],
    ("pool_json", "VARCHAR"), ("config_json", "VARCHAR"),
]
POOL_COLUMNS = [n for n, _ in _POOL_FIELDS]
SCORE_COLUMNS = ["metric", "value", "lo", "hi", "higher_is_better", "n", "note"]

_DDL = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS cells ("
    + ", ".join(f'"{n}" {t}' for n, t, _, _ in _FIELDS)
    + ", " + ", ".join(f"{m} DOUBLE" for m in _METRICS + _VAL_METRICS)
    + ", classes VARCHAR[], " + ", ".join(f"{c} VARCHAR" for c in _JSON_COLS) + ")",
    "CREATE TABLE IF NOT EXISTS per_class (cell_id VARCHAR, class_idx INTEGER, class VARCHAR,"
    " recall DOUBLE, precision DOUBLE, f1 DOUBLE, support BIGINT)",
    "CREATE TABLE IF NOT EXISTS confusion (cell_id VARCHAR, true_idx INTEGER, pred_idx INTEGER,"
    " count BIGINT)",
    "CREATE TABLE IF NOT EXISTS predictions (cell_id VARCHAR, idx INTEGER, y_true INTEGER,"
    " y_pred INTEGER)",
    "CREATE TABLE IF NOT EXISTS pool_results ("
    + ", ".join(f'"{n}" {t}' for n, t in _POOL_FIELDS) + ")",
    "CREATE TABLE IF NOT EXISTS pool_scores (result_id VARCHAR, metric VARCHAR, value DOUBLE,"
    " lo DOUBLE, hi DOUBLE, higher_is_better BOOLEAN, n BIGINT, note VARCHAR)",
]
_RETRYABLE = ("Could not set lock", "Conflicting lock", "different configuration")


class CellNotFoundError(FerbenchError, KeyError):
    """``get_cell`` was asked for a cell_id the store does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def default_store_path() -> Path:
    """``$FERBENCH_HOME/results.duckdb``, default ``~/.cache/ferbench/results.duckdb``."""
    return store_path()


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
        isbool = isinstance(v, bool) and bool not in types
        ok = (v is None and nullable) or (isinstance(v, types) and not isbool)
        if not ok:
            raise ValueError(f"cell record field {name!r} has bad value {v!r}")
    if record["mode"] not in MODES:
        raise ValueError(f"cell record field 'mode' has bad value {record['mode']!r}")
    for name in ("spec", "generator_params", "metrics"):
        if not isinstance(record[name], dict):
            raise ValueError(f"cell record field {name!r} must be a dict")
    if record.get("val_metrics") is not None and not isinstance(record["val_metrics"], dict):
        raise ValueError("cell record field 'val_metrics' must be a dict or null")
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
    record.setdefault("val_metrics", None)
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
        """A read-only connection, or None when the store (or its tables) does not exist yet.
        An older file is migrated first (one short write)."""
        if not self.path.exists():
            yield None
            return
        con = self._open(read_only=True)
        try:
            if not self._has_meta(con):
                yield None
                return
            if self._check_version(con) < SCHEMA_VERSION:
                con.close()
                self.migrate()
                con = self._open(read_only=True)
            yield con
        finally:
            con.close()

    def _check_version(self, con: duckdb.DuckDBPyConnection) -> int:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise FerbenchError(f"results store {self.path} has schema version {row[0]}, newer than"
                                f" this ferbench supports ({SCHEMA_VERSION}); upgrade ferbench")
        return SCHEMA_VERSION if row is None else int(row[0])

    # -- writing -----------------------------------------------------------------------------
    def _begin_write(self) -> duckdb.DuckDBPyConnection:
        """Open for writing, create or migrate the schema, and begin a transaction."""
        from ferbench.results.migrate import migrate

        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only=False)
        try:
            con.begin()
            version = self._check_version(con) if self._has_meta(con) else None
            if version is not None and version < SCHEMA_VERSION:
                migrate(con, version)
            for ddl in _DDL:
                con.execute(ddl)
            if version is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                            [str(SCHEMA_VERSION)])
        except BaseException:
            con.close()
            raise
        return con

    @staticmethod
    def _has_meta(con: duckdb.DuckDBPyConnection) -> bool:
        return bool(con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'meta'"
                                " AND schema_name = 'main'").fetchall())

    def migrate(self) -> int:
        """Bring an older store file to the current schema (no-op when current); returns the
        version found."""
        if not self.path.exists():
            return SCHEMA_VERSION
        con = self._open(read_only=True)
        try:
            found = self._check_version(con) if self._has_meta(con) else SCHEMA_VERSION
        finally:
            con.close()
        if found < SCHEMA_VERSION:
            con = self._begin_write()
            try:
                con.commit()
            finally:
                con.close()
        return found

    def write_cell(self, record: dict | CellResult) -> bool:
        """Store a finished cell in one transaction. True if written, False if already stored
        (equivalently); FerbenchError if a different record is stored under the same cell_id."""
        if isinstance(record, CellResult):
            record = record.to_record()
        rec = validate_record(record)
        cid = rec["cell_id"]
        with self._writing() as con:
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

    @contextmanager
    def _writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: rolled back on any error (or Ctrl-C), always closed."""
        con = self._begin_write()
        try:
            yield con
        except BaseException:
            try:
                con.rollback()
            except duckdb.Error:
                pass  # already rolled back or committed
            raise
        finally:
            con.close()

    @staticmethod
    def _insert_cell(con: duckdb.DuckDBPyConnection, rec: dict) -> None:
        known = set(REQUIRED_FIELDS) | set(_OPTIONAL_NESTED)
        extra = {k: v for k, v in rec.items() if k not in known}
        val = rec.get("val_metrics") or {}
        values = ([rec[k] for k in _SCALARS] + [rec["metrics"][m] for m in _METRICS]
                  + [val.get(m) for m in _METRICS]
                  + [rec["classes"], json.dumps(rec["generator_params"], sort_keys=True),
                     json.dumps(rec["spec"], sort_keys=True), json.dumps(rec["metrics"]),
                     json.dumps(rec.get("val_metrics")), json.dumps(extra, sort_keys=True)])
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
    def _load(self, con: duckdb.DuckDBPyConnection, ids: list[str] | None,
              details: bool = True, predictions: list[str] | None = None) -> list[dict]:
        """Full records for ``ids`` (all cells when None), ordered by created_at, cell_id.
        ``details=False`` leaves ``per_class`` and ``confusion`` empty (a third of the read
        time; the leaderboard's overview does not need them), and ``spec`` None (its fields
        are at the record's top level too). ``predictions``: read ``y_true``/``y_pred`` only
        for these cell ids (the others get empty lists); None reads them for every cell."""
        where, params = ("WHERE cell_id IN (SELECT unnest(?::VARCHAR[]))", [ids]) if ids is not None \
            else ("", [])
        cols = ", ".join(f'"{c}"' for c in [*_SCALARS, "classes"])
        # the JSON columns of every cell are decoded in one json.loads call (10k cells: 40k
        # small calls cost about 0.8 s)
        blob = ("'[' || coalesce(extra_json, '{}') || ',' || coalesce(generator_params, '{}') ||"
                " ',' || coalesce(metrics_json, '{}') || ',' || coalesce(val_metrics_json,"
                " 'null') || ',' || " + ("coalesce(spec_json, 'null')" if details else "'null'")
                + " || ']'")
        cells = _rows(con, f"SELECT {cols}, {blob} AS _json FROM cells {where}"
                      " ORDER BY created_at, cell_id", params)
        decoded = self._decode_rows(cells)
        per_class, confusion, preds = defaultdict(list), defaultdict(list), {}
        if details:
            for r in _rows(con, f"SELECT * FROM per_class {where} ORDER BY cell_id, class_idx",
                           params):
                per_class[r["cell_id"]].append({k: r[k] for k in _PER_CLASS})
            for cid, row in con.execute(f"SELECT cell_id, list(count ORDER BY pred_idx) FROM"
                                        f" confusion {where} GROUP BY cell_id, true_idx ORDER BY"
                                        " cell_id, true_idx", params).fetchall():
                confusion[cid].append(row)
        pwhere, pparams = (where, params) if predictions is None else (
            "WHERE cell_id IN (SELECT unnest(?::VARCHAR[]))", [list(predictions)])
        if predictions is None or predictions:
            for cid, yt, yp in con.execute(
                    f"SELECT cell_id, list(y_true ORDER BY idx), list(y_pred ORDER BY idx) FROM"
                    f" predictions {pwhere} GROUP BY cell_id", pparams).fetchall():
                preds[cid] = (yt, yp)
        out = []
        for c, row in zip(cells, decoded):
            if row is None:  # malformed JSON, reported by _decode_rows
                continue
            extra, gparams, metrics, val, spec = row
            cid = c["cell_id"]
            rec = {k: c[k] for k in _SCALARS}
            rec.update(extra)
            rec["spec"] = spec if details else None
            rec["generator_params"] = gparams
            rec["metrics"] = metrics
            rec["val_metrics"] = val
            rec["classes"] = list(c["classes"])
            rec["per_class"] = per_class[cid]
            rec["confusion"] = confusion[cid]
            rec["y_true"], rec["y_pred"] = (list(y) for y in preds.get(cid, ([], [])))
            out.append(rec)
        return out

    def _decode_rows(self, cells: list[dict]) -> list:
        """Each row's ``_json`` decoded, in one ``json.loads`` call; when that fails (a cell
        whose stored JSON was damaged outside ferbench), row by row: a bad row becomes None
        and is reported in one warning naming the store and the cell ids, so one damaged
        cell does not hide every other result."""
        if not cells:
            return []
        try:
            return json.loads("[" + ",".join(c["_json"] for c in cells) + "]")
        except json.JSONDecodeError:
            pass
        out, bad = [], []
        for c in cells:
            try:
                out.append(json.loads(c["_json"]))
            except json.JSONDecodeError:
                out.append(None)
                bad.append(c["cell_id"])
        msg = (f"results store {self.path}: skipped {len(bad)} cell(s) whose stored JSON is "
               f"malformed: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")
        warnings.warn(msg, stacklevel=3)
        return out

    def finished_ids(self, cell_ids: Iterable[str]) -> set[str]:
        """The subset of ``cell_ids`` already stored."""
        ids = list(cell_ids)
        with self._read() as con:
            if con is None or not ids:
                return set()
            return {r[0] for r in con.execute("SELECT cell_id FROM cells WHERE cell_id IN"
                                              " (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}

    def get_cells(self, cell_ids: Iterable[str], details: bool = True,
                  predictions: Iterable[str] | None = None) -> list[dict]:
        """Full records of the stored cells among ``cell_ids`` (one read), in the given order;
        ``details=False``: without ``per_class``, ``confusion`` and ``spec``; ``predictions``:
        only these cells get their ``y_true``/``y_pred`` (None: all)."""
        ids = list(cell_ids)
        keep = None if predictions is None else list(predictions)
        with self._read() as con:
            recs = [] if con is None or not ids else self._load(con, ids, details, keep)
        by_id = {r["cell_id"]: r for r in recs}
        return [by_id[i] for i in ids if i in by_id]

    def finished_pool_results(self, result_ids: Iterable[str]) -> set[str]:
        """The subset of ``result_ids`` already stored as pool results."""
        ids = list(result_ids)
        with self._read() as con:
            if con is None or not ids:
                return set()
            return {r[0] for r in con.execute(
                "SELECT result_id FROM pool_results WHERE result_id IN"
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

    def _flat(self, filters: dict, columns: list[str] | None = None
              ) -> tuple[list[str], list[tuple]]:
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
        names = FLAT_COLUMNS if columns is None else list(columns)
        bad = [c for c in names if c not in FLAT_COLUMNS]
        if bad:
            raise FerbenchError(f"no such result column(s): {bad}")
        cols = ", ".join(f'"{c}"' for c in names)
        with self._read() as con:
            if con is None:
                return names, []
            rows = con.execute(f"SELECT {cols} FROM cells {where} ORDER BY created_at, cell_id",
                               params).fetchall()
        return names, rows

    def cells(self, **filters: Any) -> list[dict]:
        """Flat per-cell rows (FLAT_COLUMNS), e.g. ``cells(protocol="p", generator=None)``;
        a list/tuple/set value matches any of its items."""
        cols, rows = self._flat(filters)
        return [dict(zip(cols, r)) for r in rows]

    def scores_frame(self, columns: list[str] | None = None, **filters: Any) -> pd.DataFrame:
        """``cells()`` as a pandas DataFrame (empty, with the columns, when nothing is stored);
        ``columns``: only these of FLAT_COLUMNS (a lighter read)."""
        cols, rows = self._flat(filters, columns)
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

    # -- pool-level results --------------------------------------------------------------------
    def write_pool_result(self, result: PoolResult | dict) -> bool:
        """Store a pool-level result in one transaction (immutable, like cells)."""
        rec = result.to_record() if isinstance(result, PoolResult) else dict(result)
        rec = json.loads(json.dumps(rec, default=_jsonable))
        for k in ("result_id", "pool_id", "protocol", "protocol_version", "n", "scores"):
            if k not in rec:
                raise ValueError(f"pool result record is missing field {k!r}")
        PoolResult.from_record(rec)  # validates the scores
        rid = rec["result_id"]
        rec["scores"] = sorted(rec["scores"], key=lambda sc: sc["metric"])
        pool = rec.get("pool") or {}
        with self._writing() as con:
            if con.execute("SELECT 1 FROM pool_results WHERE result_id = ?",
                           [rid]).fetchone():
                stored = self._load_pool_results(con, [rid])[0]
                con.rollback()
                if _equivalent(stored, rec):
                    return False
                raise FerbenchError(f"pool result {rid} is already stored in {self.path} "
                                    "with a different record; results are immutable")
            row = {**{k: pool.get(k) for k in POOL_COLUMNS}, **{
                k: rec.get(k) for k in POOL_COLUMNS if k in rec}}
            row["generator"] = rec.get("generator") or pool.get("generator")
            row["pool_json"] = json.dumps(pool, sort_keys=True)
            row["config_json"] = json.dumps(rec.get("config") or {}, sort_keys=True)
            cols = ", ".join(f'"{c}"' for c in POOL_COLUMNS)
            con.execute(f"INSERT INTO pool_results ({cols}) VALUES "
                        f"({', '.join('?' * len(POOL_COLUMNS))})",
                        [row[c] for c in POOL_COLUMNS])
            rows = [[rid] + [sc.get(c) for c in SCORE_COLUMNS] for sc in rec["scores"]]
            if rows:
                con.executemany("INSERT INTO pool_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                rows)
            con.commit()
            return True

    def _load_pool_results(self, con: duckdb.DuckDBPyConnection, ids: list[str] | None
                           ) -> list[dict]:
        where, params = ("WHERE result_id IN (SELECT unnest(?::VARCHAR[]))", [ids]) \
            if ids is not None else ("", [])
        heads = _rows(con, f"SELECT * FROM pool_results {where} ORDER BY created_at, result_id",
                      params)
        scores = defaultdict(list)
        for r in _rows(con, f"SELECT * FROM pool_scores {where} ORDER BY result_id, metric",
                       params):
            scores[r.pop("result_id")].append(r)
        out = []
        prov = [f for f, _, _, _ in _columns_of(Provenance)]
        for h in heads:
            rec = {"result_id": h["result_id"], "schema_version": h["schema_version"],
                   "pool_id": h["pool_id"], "pool": json.loads(h["pool_json"]),
                   "protocol": h["protocol"], "protocol_version": h["protocol_version"],
                   "n": h["n"], "generator": h["generator"],
                   "scores": scores[h["result_id"]], "config": json.loads(h["config_json"]),
                   **{k: h[k] for k in prov}}
            out.append(rec)
        return out

    def pool_results(self, **filters: Any) -> list[dict]:
        """Full pool-level result records, optionally filtered on their scalar columns."""
        clauses, params = [], []
        for key, val in filters.items():
            if key not in POOL_COLUMNS:
                raise FerbenchError(f"cannot filter pool results on {key!r}")
            clauses.append(f'"{key}" = ?')
            params.append(val)
        with self._read() as con:
            if con is None:
                return []
            ids = [r[0] for r in con.execute(
                "SELECT result_id FROM pool_results"
                + ((" WHERE " + " AND ".join(clauses)) if clauses else ""), params).fetchall()]
            return self._load_pool_results(con, ids) if ids else []
