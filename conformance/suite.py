"""Run the conformance check: per cassette, replay against the target, compare, find beta shapes, classify,
apply the allowlist; over a run, collect the results and the stale allowlist entries.

A cassette's status is `passed` (no unexplained finding), `failed`, `skipped: ...` (a URL target without
an API key) or `error: ...` (the cassette cannot be read, the target cannot be reached).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from conformance import cassette as cassettes
from conformance.allowlist import Allowlist, Entry
from conformance.beta import beta_findings
from conformance.cassette import Cassette
from conformance.classify import classify
from conformance.compare import compare, schema_findings
from conformance.findings import Finding
from conformance.target import MOCK, Replay, ReplayOptions, Tick, run
from mockserver.protocol.faults import Fault
from mockserver.protocol.responder import Responder


@dataclass
class CassetteResult:
    name: str
    status: str  # "passed", "failed", "skipped: ...", "error: ..."
    findings: list[Finding] = field(default_factory=list)
    replay: Replay = field(default_factory=Replay)
    path: str = ""
    seconds: float = 0.0
    recorded_events: int = 0  # server events in the cassette: what the target's events are compared with

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if f.unexplained]

    @property
    def allowed(self) -> list[Finding]:
        return [f for f in self.findings if not f.unexplained]

    @property
    def ran(self) -> bool:
        return self.status in ("passed", "failed")

    @property
    def coverage(self) -> str:
        """How much of the recording the run compared: events received of those recorded (a replay cut short
        passes with few findings, which is not a full pass)."""
        return f"{len(self.replay.events)}/{self.recorded_events}"


@dataclass
class SuiteResult:
    target: str
    results: list[CassetteResult] = field(default_factory=list)
    stale: list[Entry] = field(default_factory=list)
    allowlist: str = "<none>"

    @property
    def unexplained(self) -> int:
        return sum(len(r.unexplained) for r in self.results)

    @property
    def ok(self) -> bool:
        """No unexplained drift and no cassette in error (skipped ones are fine)."""
        return all(r.status == "passed" or r.status.startswith("skipped") for r in self.results)


class Progress(Protocol):
    """Told of each cassette as it starts (result None) and ends, and of each frame and event in between."""

    def __call__(self, done: int, total: int, name: str, result: CassetteResult | None) -> None: ...

    def tick(self, sent: int, frames: int, received: int) -> None: ...


def findings_for(cassette: Cassette, replay: Replay, *, target_is_mock: bool) -> list[Finding]:
    """Every finding of one replay, classified (not yet allowlisted)."""
    recorded = [(index, f.event) for index, f in enumerate(cassette.frames) if f.direction == "server"]
    found = [*beta_findings(cassette),
             *schema_findings(cassette.name, cassette.frames, replay.events, cassette.endpoint),
             *compare(cassette.name, recorded, replay.events)]
    return classify(found, target_is_mock=target_is_mock)


def check(cassette: Cassette, target: str, *, api_key: str | None = None, options: ReplayOptions | None = None,
          allowlist: Allowlist | None = None, faults: Iterable[Fault] = (),
          responder: Callable[[], Responder] | None = None, tick: Tick | None = None) -> CassetteResult:
    """Replay one cassette against `target` (`mock` or a URL) and judge what came back."""
    started = time.monotonic()
    replay = run(cassette, target, api_key=api_key, options=options, faults=faults, responder=responder, tick=tick)
    path = str(cassette.path) if cassette.path else ""
    recorded = len(cassette.server_events())
    if replay.status != "ok":
        return CassetteResult(cassette.name, replay.status, [], replay, path, time.monotonic() - started, recorded)
    findings = findings_for(cassette, replay, target_is_mock=target == MOCK)
    (allowlist or Allowlist()).apply(findings)
    status = "failed" if any(f.unexplained for f in findings) else "passed"
    return CassetteResult(cassette.name, status, findings, replay, path, time.monotonic() - started, recorded)


def run_suite(paths: Iterable[Path], target: str, *, api_key: str | None = None,
              options: ReplayOptions | None = None, allowlist: Allowlist | None = None,
              progress: Progress | None = None) -> SuiteResult:
    """Check every cassette among `paths` (folders are searched) against `target`, one after another."""
    allowlist = allowlist or Allowlist()
    files = list(cassettes.find(list(paths)))
    suite = SuiteResult(target, allowlist=allowlist.source)
    for done, path in enumerate(files):
        name = path.name
        if progress is not None:
            progress(done, len(files), name, None)
        try:
            cassette = cassettes.read(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            result = CassetteResult(name, f"error: cannot read the cassette: {exc}", path=str(path))
        else:
            result = check(cassette, target, api_key=api_key, options=options, allowlist=allowlist,
                           tick=progress.tick if progress is not None else None)
        suite.results.append(result)
        if progress is not None:
            progress(done + 1, len(files), result.name, result)
    suite.stale = allowlist.stale([r.name for r in suite.results if r.ran], target_is_mock=target == MOCK)
    return suite
