"""``ferbench results``: quiet pipes, empty filters that say what exists, did-you-mean, CSV."""

import csv
import io
import subprocess
import sys

import pytest

from conftest import run_cli
from factories import make_result
from ferbench.results.store import ResultStore


@pytest.fixture
def db(tmp_path):
    store = ResultStore(tmp_path / "r.duckdb")
    kw = dict(n_test=4, classes=["neutral", "happy"], y_pred=[0, 1, 0, 1], real_per_class=30,
              generator_params={})
    store.write_cell(make_result(0, acc=0.5, val_acc=0.5, ratio=0.0, mode="real",
                                 generator=None, generator_version=None, **kw))
    for i in range(40):  # enough output to overflow a pipe that head closed
        store.write_cell(make_result(0, acc=0.6, val_acc=0.6, ratio=1.0 + i, mode="mix",
                                     generator="real-augment", generator_version="1", **kw))
    return tmp_path / "r.duckdb"


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_results_into_head_ends_quietly(db, tmp_path, extra):
    cmd = [sys.executable, "-m", "ferbench.cli", "results", "--store", str(db), *extra]
    p1 = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p2 = subprocess.run(["head", "-n", "2"], stdin=p1.stdout, capture_output=True)
    p1.stdout.close()
    err = p1.stderr.read().decode()
    rc = p1.wait(timeout=300)
    assert len(p2.stdout.splitlines()) == 2
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rc == 0


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_results_into_a_closed_pipe_ends_quietly(db, extra):
    """Deterministic twin of the test above: the pipe's read end is closed before ferbench
    writes anything, so its first write fails with EPIPE whatever the output's size (with a
    small table, ``head`` may close only after everything fit into the pipe buffer)."""
    import os

    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "ferbench.cli", "results", "--store", str(db),
                            *extra], stdout=w, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(w)
    err = p.stderr.decode()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert p.returncode == 0


def test_filter_matching_nothing_lists_what_exists(db, tmp_path):
    out = run_cli("results", "--store", db, "--dataset", "fer2013", env_home=tmp_path).stdout
    assert "no stored cells match dataset=fer2013" in out
    assert "datasets stored: toyfaces" in out


def test_unknown_generator_did_you_mean(db, tmp_path):
    out = run_cli("results", "--store", db, "--generator", "real-augmnt", env_home=tmp_path).stdout
    assert "did you mean 'real-augment'?" in out


def test_results_csv(db, tmp_path):
    out = run_cli("results", "--store", db, "--csv", env_home=tmp_path).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and rows[0]["generator"] == "real-augment"
    assert float(rows[0]["real_only"]) == pytest.approx(0.5)
    assert float(rows[0]["best_accuracy"]) == pytest.approx(0.6)


def test_every_command_documents_every_option():
    from ferbench.cli import build_parser

    parser = build_parser()
    missing = [("ferbench", a.option_strings or a.dest) for a in parser._actions
               if not a.help]
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, sp in sub.choices.items():
        missing += [(name, a.option_strings or a.dest) for a in sp._actions if not a.help]
    assert not missing, f"options without help text: {missing}"
