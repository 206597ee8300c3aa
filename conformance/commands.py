"""The `realtime-mock conformance` and `realtime-mock migrate` commands (wired into mockserver/cli.py).

    realtime-mock conformance CASSETTE... [--target mock|URL] [--api-key KEY] [--allowlist FILE]
                              [--format table|markdown|json|junit] [--output FILE] [--pace recorded|none]
    realtime-mock migrate CASSETTE... [--output FILE]

`conformance` exits 1 when a cassette has unexplained drift (or could not be run: unreadable, target
unreachable), 0 otherwise, and 2 on usage errors and when nothing was checked: no cassette at all, or every
one skipped (a URL target without an API key skips them): a run that checks nothing fails. `migrate` prints what the
cassettes' beta traffic must change for GA, and exits 0 (2 on usage errors, or no cassette). CASSETTE may
be a folder (its `*.cassette.jsonl` and `*.yaml` files are used).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

# The parser is built on every `realtime-mock` start (serve too), so the engine is imported only when a
# command runs; these two equal conformance.target.MOCK and LIVE_URL.
MOCK = "mock"
LIVE_URL = "wss://api.openai.com/v1"


def add_conformance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cassettes", nargs="+", type=Path, metavar="CASSETTE",
                        help="cassette files (*.cassette.jsonl, or YAML recordings) or folders of them")
    parser.add_argument("--target", default=MOCK,
                        help=f"`mock` (an in-process mock scripted from each cassette; default) or a server's base "
                             f"URL as the SDKs take it, ws(s):// or http(s)://, with or without /realtime, e.g. "
                             f"{LIVE_URL}")
    parser.add_argument("--api-key", default=None,
                        help="API key for a URL target (default: $OPENAI_API_KEY); without one, every cassette is "
                             "skipped and the run fails (exit 2: nothing was checked)")
    parser.add_argument("--allowlist", type=Path, default=None,
                        help="known, explained differences (default: allowlist.yaml shipped with conformance/)")
    parser.add_argument("--format", choices=("table", "markdown", "json", "junit"), default="table",
                        help="report format (default: table)")
    parser.add_argument("--output", type=Path, default=None, help="write the report to this file (default: stdout)")
    parser.add_argument("--pace", choices=("recorded", "none"), default="recorded",
                        help="recorded: client frames no earlier than their recorded offsets; none: as soon as the "
                             "target's events allow (default: recorded)")
    parser.add_argument("--pace-scale", type=float, default=1.0,
                        help="multiply the recorded offsets by this (0.5 replays twice as fast; default 1)")
    parser.add_argument("--event-timeout", type=float, default=None,
                        help="seconds without an event before a wait gives up (default: 3 for the mock, 10 for a URL)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for each cassette (default 120)")


def add_migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cassettes", nargs="+", type=Path, metavar="CASSETTE",
                        help="cassette files (*.cassette.jsonl, or YAML recordings) or folders of them")
    parser.add_argument("--output", type=Path, default=None, help="write the report to this file (default: stdout)")


def _usage(message: str) -> int:
    print(f"realtime-mock: {message}", file=sys.stderr)
    return 2


def _cassettes_problem(paths: list[Path]) -> str | None:
    """Why these paths cannot be checked (one is missing, or they hold no cassette: a run that checks nothing
    must not pass), or None."""
    from conformance.cassette import find

    missing = [p for p in paths if not p.exists()]
    if missing:
        return f"no such cassette: {', '.join(map(str, missing))}"
    if next(find(paths), None) is None:
        return f"no cassettes (*.cassette.jsonl or *.yaml) in {', '.join(map(str, paths))}: nothing to check"
    return None


def conformance_command(args: argparse.Namespace) -> int:
    from conformance import report, urls
    from conformance.allowlist import DEFAULT, Allowlist, AllowlistError, load
    from conformance.suite import run_suite
    from conformance.target import ReplayOptions

    target: str = args.target
    if target != MOCK:
        try:
            urls.parse(target)
        except urls.UrlError as exc:
            return _usage(f"--target must be `mock` or a URL: {exc}")
    problem = _cassettes_problem(list(args.cassettes))
    if problem:
        return _usage(problem)
    fmt = getattr(args, "format", "table") or "table"
    if fmt not in report.FORMATS:
        return _usage(f"--format must be one of {', '.join(report.FORMATS)}")
    pace = getattr(args, "pace", "recorded") or "recorded"
    if pace not in ("recorded", "none"):
        return _usage("--pace must be `recorded` or `none`")
    allowlist_path: Path | None = getattr(args, "allowlist", None)
    try:
        allowlist = load(allowlist_path or DEFAULT) if allowlist_path or DEFAULT.is_file() else Allowlist()
    except AllowlistError as exc:
        return _usage(str(exc))
    options = ReplayOptions(pace=pace, pace_scale=getattr(args, "pace_scale", 1.0) or 1.0,
                            event_timeout=getattr(args, "event_timeout", None),
                            timeout=getattr(args, "timeout", 120.0) or 120.0)
    api_key = getattr(args, "api_key", None) or os.environ.get("OPENAI_API_KEY") or None
    output: Path | None = getattr(args, "output", None)
    # The progress bar shares stdout with a table; it goes to stderr when stdout carries a machine format.
    progress_stream: TextIO = sys.stdout if fmt == "table" or output is not None else sys.stderr
    suite = run_suite(args.cassettes, target, api_key=api_key, options=options, allowlist=allowlist,
                      progress=report.ProgressBar(progress_stream))
    text = report.render(suite, fmt)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote the {fmt} report to {output}")
    else:
        if fmt == "table":
            sys.stdout.write("\n")
        sys.stdout.write(text)
    if all(r.status.startswith("skipped") for r in suite.results):  # a URL without a key: nothing was checked
        print("realtime-mock conformance: nothing was checked (every cassette was skipped); a run that checks "
              "nothing fails", file=sys.stderr)
        return 2
    return 0 if suite.ok else 1


def migrate_command(args: argparse.Namespace) -> int:
    import yaml

    from conformance import cassette as cassettes
    from conformance.beta import migration_report

    problem = _cassettes_problem(list(args.cassettes))
    if problem:
        return _usage(problem)
    loaded = []
    for path in cassettes.find(list(args.cassettes)):
        try:
            loaded.append(cassettes.read(path))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            return _usage(f"cannot read {path}: {exc}")
    text = migration_report(loaded)
    output: Path | None = getattr(args, "output", None)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote the migration report to {output}")
    else:
        sys.stdout.write(text)
    return 0
