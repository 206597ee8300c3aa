"""The package stays clean under ruff and mypy --strict (run as tests so one command checks all)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "mockserver", "conformance", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy")  # files and strictness come from pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    """pyproject lists the packages by hand (schemas/ is mapped into the package): a new one must be added."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for package in ("mockserver", "conformance")
             for p in (ROOT / package).rglob("__init__.py")}
    assert found - listed == set()


# Upper bounds that test dependencies put on realtime-mock's own dependencies, each reviewed: the tests run with
# them, and so, with the SDK, does every app using it.
REVIEWED_CAPS = {
    ("openai", "httpx2"): "the SDK's own HTTP client, capped below its next major, which does not exist yet; every "
                          "app that uses the SDK has the same cap",
}


def test_no_test_dependency_holds_back_what_a_user_installs() -> None:
    """The `test` extra, all the way down, puts no upper bound on a dependency of realtime-mock (as openai-agents
    did with websockets<17, so that the tests ran on another major than `pip install realtime-mock` gives)."""
    import tomllib
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    pending = [(Requirement(r), "[test]") for r in project["optional-dependencies"]["test"]]
    seen: set[str] = set()
    caps = []
    while pending:
        requirement, via = pending.pop()
        name = canonicalize_name(requirement.name)
        capped = any(s.operator in ("<", "<=", "==", "===", "~=") for s in requirement.specifier)
        if name in runtime and capped and (canonicalize_name(via.split(" -> ")[-1]), name) not in REVIEWED_CAPS:
            caps.append(f"{via} requires {requirement}")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for text in requires:
            inner = Requirement(text)
            if inner.marker is None or inner.marker.evaluate({"extra": ""}):  # what installing it brings
                pending.append((inner, f"{via} -> {requirement.name}"))
    assert caps == []
