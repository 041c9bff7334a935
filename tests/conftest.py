import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory):
    """One FERBENCH_HOME for the integration tests, so toyfaces is rendered once per session.
    Each test still uses its own results store."""
    home = tmp_path_factory.mktemp("ferbench_home")
    old = os.environ.get("FERBENCH_HOME")
    os.environ["FERBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("FERBENCH_HOME", None)
    else:
        os.environ["FERBENCH_HOME"] = old


def run_cli(*args, env_home=None, check=True, timeout=600):
    """Run the real console entry (``python -m ferbench.cli``) in a subprocess."""
    env = dict(os.environ)
    if env_home is not None:
        env["FERBENCH_HOME"] = str(env_home)
    proc = subprocess.run([sys.executable, "-m", "ferbench.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ferbench {' '.join(map(str, args))} failed "
                             f"({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
