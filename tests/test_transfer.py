"""Results travel: export -> import into a fresh store gives identical rows; importing twice is
a no-op; a conflicting record is reported, not overwritten."""

from __future__ import annotations

import json

import pytest

from factories import make_pool_result, make_record, make_result
from ferbench.errors import DataError
from ferbench.results.store import ResultStore
from ferbench.results.transfer import export_results, import_results


def _filled(path):
    store = ResultStore(path)
    for i in range(3):
        store.write_cell(make_result(i))
    store.write_cell(make_result(7, generator="other"))
    store.write_pool_result(make_pool_result())
    return store


def test_round_trip_identical_rows_and_idempotent(tmp_path):
    src = _filled(tmp_path / "a.duckdb")
    out = tmp_path / "export.json"
    doc = export_results(src, out)
    assert doc["schema_version"] >= 2 and len(doc["cells"]) == 4 and len(doc["pool_results"]) == 1
    assert "host" in doc["cells"][0] and "git_sha" in doc["cells"][0]  # provenance travels

    dst = ResultStore(tmp_path / "b.duckdb")
    rep = import_results(dst, out)
    assert (rep.added_cells, rep.added_pools, rep.conflicts) == (4, 1, [])
    assert dst.export_json() == src.export_json()
    assert dst.scores_frame().equals(src.scores_frame())
    assert dst.pool_results() == src.pool_results()

    again = import_results(dst, out)
    assert (again.added_cells, again.skipped_cells, again.added_pools, again.skipped_pools) == \
        (0, 4, 0, 1)
    assert len(dst) == 4 and dst.export_json() == src.export_json()


def test_export_filters_by_generator(tmp_path):
    src = _filled(tmp_path / "a.duckdb")
    doc = export_results(src, tmp_path / "o.json", generators=["other"])
    assert [c["generator"] for c in doc["cells"]] == ["other"]
    assert doc["pool_results"] == []


def test_conflict_reported_not_overwritten(tmp_path):
    src = _filled(tmp_path / "a.duckdb")
    out = tmp_path / "export.json"
    export_results(src, out)
    dst = ResultStore(tmp_path / "b.duckdb")
    local = make_record(0, host="elsewhere")  # same cell_id, different provenance
    dst.write_cell(local)
    rep = import_results(dst, out)
    assert rep.added_cells == 3 and len(rep.conflicts) == 1
    assert local["cell_id"] in rep.conflicts[0] and "conflicts" in rep.conflicts[0]
    assert dst.get_cell(local["cell_id"])["host"] == "elsewhere"


def test_bad_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        import_results(ResultStore(tmp_path / "s.duckdb"), bad)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "ferbench-results", "schema_version": 999,
                                 "cells": [], "pool_results": []}))
    with pytest.raises(DataError, match="newer"):
        import_results(ResultStore(tmp_path / "s.duckdb"), newer)


def test_cli_export_import(tmp_path, capsys):
    from ferbench.cli import main

    _filled(tmp_path / "a.duckdb")
    out = tmp_path / "e.json"
    assert main(["export", str(out), "--store", str(tmp_path / "a.duckdb")]) == 0
    assert "wrote 4 cells and 1 pool results" in capsys.readouterr().out
    assert main(["import", str(out), "--store", str(tmp_path / "b.duckdb")]) == 0
    assert "cells: 4 added" in capsys.readouterr().out
    assert main(["import", str(out), "--store", str(tmp_path / "b.duckdb")]) == 0
    assert "cells: 0 added, 4 already stored" in capsys.readouterr().out


def test_cli_results_export_import_spelling(tmp_path, capsys):
    """The issue's spelling: ``ferbench results export OUT`` / ``results import IN``."""
    from ferbench.cli import main

    src, dst = ResultStore(tmp_path / "a.duckdb"), ResultStore(tmp_path / "b.duckdb")
    src.write_cell(make_result(1))
    src.write_pool_result(make_pool_result())
    out = tmp_path / "x.json"
    assert main(["results", "export", str(out), "--store", str(src.path)]) == 0
    assert main(["results", "import", str(out), "--store", str(dst.path)]) == 0
    assert dst.export_json() == src.export_json() and len(dst.pool_results()) == 1
    assert main(["results", "import", str(out), "--store", str(dst.path)]) == 0  # a no-op
    assert len(dst) == 1
