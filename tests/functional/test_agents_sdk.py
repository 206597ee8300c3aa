"""The Agents SDK for Python (openai-agents), run as an Agents SDK app's test suite runs: tests/agents_sdk/ is
that app's project, run with pytest and the realtime-mock plugin in an environment of its own
(tests/agents_sdk/.venv), because openai-agents 0.24.0 requires websockets<17 and the main test environment
must have the websockets a user of realtime-mock installs. `tests/install-clients` makes it (`.ci/run` does);
without it this test is skipped, except in CI (the `CI` environment variable), where that is an error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional

PROJECT = Path(__file__).resolve().parents[1] / "agents_sdk"
PYTHON = PROJECT / ".venv" / "bin" / "python"


def test_an_agents_sdk_app_runs_a_tool_round_from_a_scenario() -> None:
    if not PYTHON.is_file():
        problem = f"the Agents SDK environment is not installed ({PYTHON} missing): run `tests/install-clients`"
        if os.environ.get("CI"):  # in CI the Agents SDK must run: a lost install must not turn it into a skip
            raise RuntimeError(f"{problem} (CI is set; .ci/run installs it)")
        pytest.skip(problem)
    result = subprocess.run([str(PYTHON), "-m", "pytest", "-p", "no:cacheprovider", "-c", str(PROJECT / "pytest.ini"),
                             str(PROJECT / "agents_app_tests.py")],
                            cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
