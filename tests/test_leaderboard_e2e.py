"""End to end in a real browser: ``ferbench leaderboard`` serves a temp store, headless
Chromium (the system one, driven by Playwright; no browser download) renders it, and the DOM
shows a generator name and a score from that store.

Needs ``/usr/bin/chromium`` (Debian: ``apt-get install -y chromium``) and the ``playwright``
Python package; skips with the reason otherwise. Every run keeps its screenshot as a test
artifact, ``test-artifacts/leaderboard.png`` at the repository root (git-ignored; another folder
with ``FERBENCH_TEST_ARTIFACTS``), and a timeout keeps ``leaderboard-timeout.png`` there. Set
``FERBENCH_SCREENSHOT=path.png`` to copy it elsewhere too (that is how ``docs/leaderboard.png``
is made).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from factories import make_result
from ferbench.results.store import ResultStore

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("FERBENCH_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / "test-artifacts")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _preds(acc: float, n: int) -> list[int]:
    """Predictions for ``_store``'s test labels (``j % 2``) that are right ``acc`` of the time,
    so that the accuracy, its CI and the paired delta on the page all agree."""
    right = round(acc * n)
    return [j % 2 if j < right else 1 - j % 2 for j in range(n)]


def _store(path: Path) -> None:
    st = ResultStore(path)
    n = 500
    kw = dict(n_test=n, classes=["neutral", "happy"], real_per_class=30, generator_params={})
    st.write_cell(make_result(0, acc=0.5, val_acc=0.5, ratio=0.0, mode="real", generator=None,
                              generator_version=None, y_pred=_preds(0.5, n), **kw))
    for k, (gen, acc, val) in enumerate([("real-augment", 0.734, 0.7), ("noise", 0.41, 0.4),
                                         ("real-augment", 0.70, 0.6)]):
        st.write_cell(make_result(0, acc=acc, val_acc=val, ratio=1.0 + (k == 2), mode="mix",
                                  generator=gen, generator_version="1", y_pred=_preds(acc, n),
                                  **kw))


def test_leaderboard_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright missing (pip install playwright)")
    db = tmp_path / "r.duckdb"
    _store(db)
    port = _free_port()
    env = {**os.environ, "FERBENCH_HOME": str(tmp_path / "home")}
    server = subprocess.Popen([sys.executable, "-m", "ferbench.cli", "leaderboard", "--store",
                               str(db), "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("leaderboard server did not start:\n"
                                         + server.stdout.read().decode()) from None
                time.sleep(0.5)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),  # fresh user-data-dir per test
                executable_path=CHROMIUM, headless=True,
                viewport={"width": 1400, "height": 900},
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            page.goto(url)
            # st.dataframe draws on a canvas; its cells are mirrored in an accessible table
            try:
                page.wait_for_function(
                    "() => document.body.innerText.includes('real-augment') &&"
                    " document.body.innerHTML.includes('73.4') &&"
                    " document.body.innerHTML.includes('23.4')",  # its paired delta, in points
                    timeout=90_000)
            except sync_api.TimeoutError:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "leaderboard-timeout.png"), full_page=True)
                raise AssertionError("generator/score not in the DOM; page text:\n"
                                     + page.inner_text("body")[:2000]) from None
            page.wait_for_selector("text=Download CSV", timeout=60_000)  # script finished
            page.wait_for_selector("[data-testid='stDataFrame'] canvas", timeout=60_000)
            page.wait_for_timeout(1000)  # let the grid paint before the screenshot
            assert "Deploy" not in page.inner_text("body")
            shot = tmp_path / "leaderboard.png"
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        assert shot.stat().st_size > 10_000
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, ARTIFACTS / "leaderboard.png")
        if os.environ.get("FERBENCH_SCREENSHOT"):
            shutil.copy(shot, os.environ["FERBENCH_SCREENSHOT"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
