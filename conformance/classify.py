"""Give each finding its category: whose traffic differs from what.

- `beta_shape`: the recorded traffic is in the beta shape (beta.py), and schema findings on frames that
  are beta-shaped (a client frame with a beta finding, a server event only a beta server sends).
- `mock_drift`: the target is the mock and differs from the recording (order or shape), or sends an event
  that does not match `schemas/`.
- `live_drift`: the target is a URL (the live API) and differs from the recording.
- `spec_drift`: live traffic differs from the SDK's schema: a recorded frame, or an event of a URL target.

The allowlist (allowlist.py) may then explain a finding, which makes it `allowed`.
"""

from __future__ import annotations

from collections.abc import Iterable

from conformance.beta import BETA_SERVER_EVENTS, BETA_TO_GA_EVENTS
from conformance.findings import Finding

_BETA_NAMES = BETA_SERVER_EVENTS | BETA_TO_GA_EVENTS.keys()


def category(finding: Finding, *, target_is_mock: bool, beta_frames: frozenset[int] = frozenset()) -> str:
    if finding.kind == "beta":
        return "beta_shape"
    if finding.kind == "schema":
        if finding.side == "recorded":
            beta = finding.index in beta_frames or finding.event in _BETA_NAMES
            return "beta_shape" if beta else "spec_drift"
        return "mock_drift" if target_is_mock else "spec_drift"
    return "mock_drift" if target_is_mock else "live_drift"


def classify(findings: Iterable[Finding], *, target_is_mock: bool) -> list[Finding]:
    """The findings, each with its category set (beta findings mark their frames as beta-shaped)."""
    findings = list(findings)
    beta_frames = frozenset(f.index for f in findings if f.kind == "beta" and f.index is not None)
    for finding in findings:
        finding.category = category(finding, target_is_mock=target_is_mock, beta_frames=beta_frames)
    return findings
