"""Known, explained differences: a finding an allowlist entry matches is `allowed`, with the entry's reason.

The file (YAML) holds a list under `allow`:

    allow:
      - cassette: "openai_ws.test_*"          # glob on the cassette's name (required)
        kind: mock_drift                      # the finding's category (required): beta_shape, mock_drift,
                                              # live_drift or spec_drift
        event: rate_limits.updated            # optional: the event type (a glob)
        path: "$.session.audio.*"             # optional: glob on the JSON path
        reason: "why this difference is expected"   # required, and specific

Globs: `*` is any run of characters (dots and brackets included), `?` one character; everything else,
`[` and `]` too, is literal, so paths are written as they are printed (`$.response.output[0].type`).
An entry that explained nothing in a run where it could have (its cassette glob matched a cassette that
ran, and its category can occur against that target) is reported as stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import CATEGORIES, Finding

DEFAULT = Path(__file__).resolve().parent / "allowlist.yaml"
KEYS = ("cassette", "kind", "event", "path", "reason")


class AllowlistError(ValueError):
    pass


def glob(pattern: str) -> re.Pattern[str]:
    parts = {"*": ".*", "?": "."}
    return re.compile("".join(parts.get(c, re.escape(c)) for c in pattern) + r"\Z", re.DOTALL)


@dataclass
class Entry:
    cassette: str
    kind: str
    reason: str
    event: str | None = None
    path: str | None = None
    number: int = 0  # its position in the file, from 1
    used: int = 0  # how many findings it explained

    def matches(self, finding: Finding) -> bool:
        return (finding.category == self.kind and glob(self.cassette).match(finding.cassette) is not None
                and (self.event is None or glob(self.event).match(finding.event or "") is not None)
                and (self.path is None or glob(self.path).match(finding.path) is not None))

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in (("event", self.event), ("path", self.path)) if v is not None)
        return f"#{self.number} cassette={self.cassette} kind={self.kind}{', ' + where if where else ''}"


@dataclass
class Allowlist:
    entries: list[Entry] = field(default_factory=list)
    source: str = "<none>"

    def apply(self, findings: Iterable[Finding]) -> None:
        """Mark each finding the first matching entry explains."""
        for finding in findings:
            entry = next((e for e in self.entries if e.matches(finding)), None)
            if entry is not None:
                finding.allowed_reason = entry.reason
                entry.used += 1

    def stale(self, cassettes: Iterable[str], *, target_is_mock: bool) -> list[Entry]:
        """Entries that explained nothing although they applied to a cassette of the run."""
        names = list(cassettes)
        impossible = "live_drift" if target_is_mock else "mock_drift"
        return [e for e in self.entries if e.used == 0 and e.kind != impossible
                and any(glob(e.cassette).match(name) for name in names)]


def parse(data: Any, source: str = "<allowlist>") -> Allowlist:
    """An allowlist from its parsed YAML; AllowlistError names the entry and what is wrong."""
    if data is None:
        return Allowlist(source=source)
    if not isinstance(data, dict) or set(data) != {"allow"} or not isinstance(data["allow"] or [], list):
        raise AllowlistError(f"{source}: expected a mapping with one key, `allow`, holding a list of entries")
    entries = []
    for number, item in enumerate(data["allow"] or [], start=1):
        where = f"{source}: entry {number}"
        if not isinstance(item, dict):
            raise AllowlistError(f"{where}: expected a mapping")
        unknown = sorted(set(item) - set(KEYS))
        if unknown:
            raise AllowlistError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(KEYS)})")
        for key in ("cassette", "kind", "reason"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise AllowlistError(f"{where}: `{key}` is required (a non-empty string)")
        if item["kind"] not in CATEGORIES:
            raise AllowlistError(f"{where}: kind must be one of {', '.join(CATEGORIES)}, not {item['kind']!r}")
        for key in ("event", "path"):
            if key in item and not isinstance(item[key], str):
                raise AllowlistError(f"{where}: `{key}` must be a string")
        entries.append(Entry(item["cassette"], item["kind"], item["reason"].strip(), item.get("event"),
                             item.get("path"), number))
    return Allowlist(entries, source)


def load(path: Path) -> Allowlist:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AllowlistError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise AllowlistError(f"{path}: not valid YAML ({exc})") from exc
    return parse(data, str(path))
