"""Shared test fixtures: where the reference material lives, and hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def reference_dir() -> Path:
    """`../shared/reference` beside the checkout (override with REALTIME_MOCK_REFERENCE).

    Outside CI a missing folder skips the tests that need it; in CI it is an error, so that
    a lost folder cannot turn the conformance tests green by skipping them.
    """
    path = Path(os.environ.get("REALTIME_MOCK_REFERENCE", ROOT.parent / "shared" / "reference"))
    if not path.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(f"reference material missing at {path}")
        pytest.skip(f"reference material not found at {path}")
    return path


def reference_params(find: Callable[[Path], list[Path]]) -> list[Any]:
    """Parameters for a test per reference file: `find(reference_dir())`; when the material is missing
    (outside CI), one skipped parameter that says so, so that collecting the module never fails."""
    try:
        folder = reference_dir()
    except pytest.skip.Exception as missing:
        return [pytest.param(None, marks=pytest.mark.skip(reason=missing.msg), id="no-reference")]
    return find(folder)


@pytest.fixture(scope="session")
def reference() -> Path:
    return reference_dir()
