"""Show a conformance run: a progress bar while cassettes run, then the report as a terminal table,
Markdown, JSON or JUnit XML (one testcase per cassette; unexplained findings are its failure).

Everything is plain text: the progress bar redraws its line with `\\r` only when its stream is a TTY;
otherwise it prints a line when a cassette starts, one every few seconds while it runs (frames sent, events
received) and one when it ends.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any, TextIO

from conformance.findings import Finding
from conformance.suite import CassetteResult, SuiteResult

FORMATS = ("table", "markdown", "json", "junit")


class ProgressBar:
    """A `suite.Progress`: a line per cassette as it starts, runs and ends."""

    def __init__(self, stream: TextIO, width: int = 20, every: float | None = None) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.every = every if every is not None else (0.2 if self.tty else 5.0)  # seconds between two ticks shown
        self._drawn = 0
        self._head = ""
        self._shown = 0.0

    def __call__(self, done: int, total: int, name: str, result: CassetteResult | None) -> None:
        filled = self.width * done // total if total else self.width
        head = f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{total}"
        if result is None:
            self._head, self._shown = f"{head} {name}", time.monotonic()
            self._draw(f"{self._head} ...", end="" if self.tty else "\n")
            return
        self._draw(f"{head} {name}: {summary(result)}", end="\n")

    def tick(self, sent: int, frames: int, received: int) -> None:
        """A frame went out or an event came in: shown at most every `every` seconds."""
        if time.monotonic() - self._shown < self.every:
            return
        self._shown = time.monotonic()
        self._draw(f"{self._head}: {sent}/{frames} client frames sent, {received} events received",
                   end="" if self.tty else "\n")

    def _draw(self, text: str, end: str) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(self._drawn) + end)
            self._drawn = 0 if end else len(text)
        else:
            self.stream.write(text + end)
        self.stream.flush()


def summary(result: CassetteResult) -> str:
    if not result.ran:
        return result.status
    return (f"{result.status} ({result.coverage} events received/recorded, {len(result.unexplained)} unexplained, "
            f"{len(result.allowed)} allowed, {result.seconds:.1f} s)")


def totals(suite: SuiteResult) -> dict[str, int]:
    statuses = Counter(r.status.split(":")[0] for r in suite.results)
    return {"cassettes": len(suite.results), "passed": statuses["passed"], "failed": statuses["failed"],
            "skipped": statuses["skipped"], "errors": statuses["error"], "unexplained": suite.unexplained,
            "allowed": sum(len(r.allowed) for r in suite.results), "stale_allowlist_entries": len(suite.stale)}


def _totals_line(suite: SuiteResult) -> str:
    t = totals(suite)
    return (f"{t['cassettes']} cassette(s): {t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped, "
            f"{t['errors']} error(s); {t['unexplained']} unexplained finding(s), {t['allowed']} allowed, "
            f"{t['stale_allowlist_entries']} stale allowlist entr{'y' if t['stale_allowlist_entries'] == 1 else 'ies'}")


def _where(finding: Finding) -> str:
    parts = []
    if finding.index is not None:
        parts.append(f"frame #{finding.index}")
    if finding.target_index is not None:
        parts.append(f"target event #{finding.target_index}")
    return ", ".join(parts) or "-"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _reasons(results: list[CassetteResult]) -> Counter[tuple[str, str]]:
    return Counter((r.name, f.allowed_reason or "") for r in results for f in r.allowed)


def table(suite: SuiteResult) -> str:
    lines = [f"realtime-mock conformance: target {suite.target}, allowlist {suite.allowlist}", ""]
    rows = [["cassette", "status", "unexplained", "allowed", "events received/recorded", "seconds"]]
    for r in suite.results:
        rows.append([r.name, r.status if r.ran else r.status.split(":")[0], str(len(r.unexplained)),
                     str(len(r.allowed)), r.coverage, f"{r.seconds:.1f}"])
    lines += _columns(rows)
    for r in suite.results:
        if not r.ran:
            lines += ["", f"{r.name}: {r.status}"]
    unexplained = [(r, f) for r in suite.results for f in r.unexplained]
    if unexplained:
        lines += ["", "Unexplained findings:"]
        for r, f in unexplained:
            lines.append(f"  {r.name}  {f.category}  {f.kind}  {f.event or '-'}  {_where(f)}  {f.path}")
            lines.append(f"      {f.message}")
            if f.recorded is not None or f.target is not None:
                lines.append(f"      recorded: {f.recorded or '-'}   target: {f.target or '-'}")
    reasons = _reasons(suite.results)
    if reasons:
        lines += ["", "Allowed findings:"]
        lines += [f"  {name}: {count} x {_short(reason)}" for (name, reason), count in sorted(reasons.items())]
    notes = [(r.name, n) for r in suite.results for n in r.replay.notes]
    if notes:
        lines += ["", "Replay notes:"] + [f"  {name}: {note}" for name, note in notes]
    if suite.stale:
        lines += ["", "Stale allowlist entries (they explained nothing in this run):"]
        lines += [f"  {e.describe()}: {_short(e.reason)}" for e in suite.stale]
    lines += ["", _totals_line(suite)]
    return "\n".join(lines) + "\n"


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(suite: SuiteResult) -> str:
    lines = ["# realtime-mock conformance", "", f"Target: `{suite.target}`; allowlist: `{suite.allowlist}`.", "",
             _totals_line(suite) + ".", "",
             "| cassette | status | unexplained | allowed | events received/recorded | seconds |",
             "|---|---|---|---|---|---|"]
    for r in suite.results:
        lines.append(f"| {_cell(r.name)} | {_cell(r.status)} | {len(r.unexplained)} | {len(r.allowed)} | "
                     f"{r.coverage} | {r.seconds:.1f} |")
    unexplained = [(r, f) for r in suite.results for f in r.unexplained]
    if unexplained:
        lines += ["", "## Unexplained findings", "",
                  "| cassette | class | kind | event | where | path | recorded | target | message |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r, f in unexplained:
            lines.append("| " + " | ".join(_cell(v) for v in (r.name, f.category, f.kind, f.event, _where(f), f.path,
                                                                f.recorded, f.target, f.message)) + " |")
    reasons = _reasons(suite.results)
    if reasons:
        lines += ["", "## Allowed findings", "", "| cassette | findings | reason |", "|---|---|---|"]
        lines += [f"| {_cell(name)} | {count} | {_cell(reason)} |" for (name, reason), count in sorted(reasons.items())]
    notes = [(r.name, n) for r in suite.results for n in r.replay.notes]
    if notes:
        lines += ["", "## Replay notes", ""] + [f"- `{name}`: {note}" for name, note in notes]
    if suite.stale:
        lines += ["", "## Stale allowlist entries", ""] + [f"- {e.describe()}: {e.reason}" for e in suite.stale]
    return "\n".join(lines) + "\n"


def as_dict(suite: SuiteResult) -> dict[str, Any]:
    return {
        "target": suite.target, "allowlist": suite.allowlist, "ok": suite.ok, "totals": totals(suite),
        "cassettes": [{"name": r.name, "path": r.path, "status": r.status, "seconds": round(r.seconds, 3),
                       "events_received": len(r.replay.events), "events_recorded": r.recorded_events,
                       "frames_sent": len(r.replay.sent),
                       "close_code": r.replay.close_code, "close_reason": r.replay.close_reason,
                       "notes": r.replay.notes, "findings": [f.as_dict() for f in r.findings]}
                      for r in suite.results],
        "stale_allowlist_entries": [{"number": e.number, "cassette": e.cassette, "kind": e.kind, "event": e.event,
                                     "path": e.path, "reason": e.reason} for e in suite.stale],
    }


def as_json(suite: SuiteResult) -> str:
    return json.dumps(as_dict(suite), indent=2, ensure_ascii=False) + "\n"


def junit(suite: SuiteResult) -> str:
    t = totals(suite)
    seconds = f"{sum(r.seconds for r in suite.results):.3f}"
    counts = {"tests": str(t["cassettes"]), "failures": str(t["failed"]), "errors": str(t["errors"]),
              "skipped": str(t["skipped"]), "time": seconds}
    root = ET.Element("testsuites", {"name": "realtime-mock conformance", **counts})
    group = ET.SubElement(root, "testsuite", {"name": f"conformance against {suite.target}", **counts})
    properties = ET.SubElement(group, "properties")
    ET.SubElement(properties, "property", {"name": "target", "value": suite.target})
    ET.SubElement(properties, "property", {"name": "allowlist", "value": suite.allowlist})
    for r in suite.results:
        case = ET.SubElement(group, "testcase", {"classname": "conformance", "name": r.name,
                                                 "time": f"{r.seconds:.3f}"})
        if r.status.startswith("skipped"):
            ET.SubElement(case, "skipped", {"message": r.status})
        elif r.status.startswith("error"):
            ET.SubElement(case, "error", {"message": r.status})
        elif r.unexplained:
            kinds = ", ".join(sorted({f.category for f in r.unexplained}))
            failure = ET.SubElement(case, "failure", {"message": f"{len(r.unexplained)} unexplained finding(s)",
                                                      "type": kinds})
            failure.text = "\n".join(f"{f.category} {f.kind} {f.event or '-'} {_where(f)} {f.path}: {f.message}"
                                     for f in r.unexplained)
        out = [f"allowed: {f.kind} {f.event or '-'} {f.path}: {f.allowed_reason}" for f in r.allowed]
        out += [f"note: {n}" for n in r.replay.notes]
        if out:
            ET.SubElement(case, "system-out").text = "\n".join(out)
    if suite.stale:
        ET.SubElement(group, "system-err").text = "\n".join(
            f"stale allowlist entry {e.describe()}: {e.reason}" for e in suite.stale)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def render(suite: SuiteResult, fmt: str) -> str:
    renderers = {"table": table, "markdown": markdown, "json": as_json, "junit": junit}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    return renderers[fmt](suite)
