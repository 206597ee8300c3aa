"""`realtime-mock`: serve | record | replay | conformance | migrate | schemas generate | schemas check."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mockserver import __version__


def _default_schemas_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "schemas"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mockserver.protocol.responses import Pacing
    from mockserver.runner import tune_process, uvicorn_config
    from mockserver.state import ServerConfig, ServerState

    pacing = Pacing(first_delta=args.first_delta_ms / 1000, realtime_audio=args.realtime_audio)
    admin_hosts = tuple(args.admin_host)
    if not _is_ip(args.host) and args.host not in ("", "localhost"):
        admin_hosts += (args.host,)  # a name it is served under (a Docker service, say) is its own
    config = ServerConfig(seed=args.seed, session_seconds=args.session_seconds, pacing=pacing, beta=args.beta,
                          per_message_deflate=args.permessage_deflate, admin_token=args.admin_token or None,
                          admin_hosts=admin_hosts,
                          scenario_dirs=tuple(args.scenario_dir) if args.scenario_dir else None)
    if not args.admin_token and args.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"realtime-mock: serving on {args.host or 'every address'}: the admin API (/_mock/) still answers "
              "loopback clients only; give --admin-token (or REALTIME_MOCK_ADMIN_TOKEN) to reach it from elsewhere",
              file=sys.stderr)
    state = ServerState(config)
    if args.scenario:
        from mockserver.scenarios import ScenarioError, load_scenario

        try:
            state.use_scenario(load_scenario(args.scenario))
        except (ScenarioError, ValueError, OSError) as exc:
            print(f"realtime-mock: {exc}", file=sys.stderr)
            return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("realtime-mock: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.tls and args.tls_cert:
        print("realtime-mock: --tls makes its own certificate; give either --tls or --tls-cert/--tls-key",
              file=sys.stderr)
        return 2
    if args.tls_dir is not None and not args.tls:
        print("realtime-mock: --tls-dir goes with --tls", file=sys.stderr)
        return 2
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    if args.tls:
        tls = _self_signed(args)
        if tls is None:
            return 2
    tune_process()
    uvicorn.Server(uvicorn_config(state, host=args.host, port=args.port,
                                  log_level=args.log_level, tls=tls)).run()
    return 0


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _self_signed(args: argparse.Namespace) -> tuple[str, str] | None:
    """`serve --tls`: the certificate of `--tls-dir` (made, or reused while valid), and what a client needs."""
    from mockserver import tls

    folder = args.tls_dir if args.tls_dir is not None else tls.DEFAULT_DIR
    try:
        cert, key = tls.ensure_certificate(folder)
    except OSError as exc:
        print(f"realtime-mock: cannot write the TLS certificate in {folder}: {exc}", file=sys.stderr)
        return None
    cert = cert.resolve()
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(args.host, args.host)
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if host.strip("[]") not in {*tls.DNS_NAMES, *map(str, tls.IP_ADDRESSES)}:
        print(f"realtime-mock: warning: the certificate names only loopback; clients of {host} will refuse it "
              "(use --tls-cert/--tls-key with a certificate for that name)", file=sys.stderr)
    print(f"realtime-mock: serving https and wss with the self-signed certificate {cert} "
          f"(for {', '.join(tls.DNS_NAMES + tuple(map(str, tls.IP_ADDRESSES)))}; key {key.resolve()})\n"
          f"Node clients trust it with:\n"
          f"  NODE_EXTRA_CA_CERTS={cert}\n"
          f"base URL: https://{host}:{args.port}/v1\n"
          f"  (WebSocket clients that take a URL: wss://{host}:{args.port}/v1/realtime?model=gpt-realtime)",
          flush=True)
    return str(cert), str(key.resolve())


def _schemas_generate(args: argparse.Namespace) -> int:
    from mockserver import schemagen

    try:
        written = schemagen.write(args.dir)
    except schemagen.SdkMismatch as exc:
        print(f"realtime-mock: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {args.dir} from openai=={schemagen.SDK_VERSION}")
    return 0


def _schemas_check(args: argparse.Namespace) -> int:
    from mockserver import schemagen

    if not (args.dir / "manifest.json").is_file():
        print(f"realtime-mock: no schemas in {args.dir} (run `realtime-mock schemas generate`)", file=sys.stderr)
        return 2
    try:
        differences = list(schemagen.diff(args.dir))
    except schemagen.SdkMismatch as exc:
        print(f"realtime-mock: {exc}", file=sys.stderr)
        return 2
    for text in differences:
        sys.stdout.write(text)
    if differences:
        print(f"schemas check: {len(differences)} file(s) differ from what openai=={schemagen.SDK_VERSION} "
              "generates; run `realtime-mock schemas generate` and review the diff", file=sys.stderr)
        return 1
    print(f"schemas check: {args.dir} matches openai=={schemagen.SDK_VERSION}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime-mock", description=__doc__)
    parser.add_argument("--version", action="version", version=f"realtime-mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the mock server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--seed", type=int, default=0, help="seed of the id generator (default 0)")
    serve.add_argument("--session-seconds", type=float, default=3600,
                       help="maximum session duration before session_expired (default 3600, as live)")
    serve.add_argument("--realtime-audio", action="store_true",
                       help="send output audio at the rate it plays (default: as fast as the client reads)")
    serve.add_argument("--first-delta-ms", type=float, default=0.0,
                       help="hold each response's first delta this long (default 0)")
    serve.add_argument("--scenario", type=Path, help="a scenario file (YAML or JSON): what the model answers "
                       "in every scope that loads none of its own (default: the built-in echo scenario)")
    serve.add_argument("--beta", choices=["reject", "shim"], default="reject",
                       help="the retired beta interface (OpenAI-Beta: realtime=v1): reject it as live does (default), "
                            "or serve it through a translation layer over the GA session")
    serve.add_argument("--permessage-deflate", action="store_true",
                       help="offer WebSocket compression (off by default: the official SDKs do not use it, and it "
                            "costs about 50 KiB per session)")
    serve.add_argument("--admin-token", default=os.environ.get("REALTIME_MOCK_ADMIN_TOKEN"), metavar="TOKEN",
                       help="callers of the admin API (/_mock/) must present this token (Authorization: Bearer, or "
                            "X-Mock-Admin-Token), from anywhere; without one it answers loopback clients only "
                            "(default: $REALTIME_MOCK_ADMIN_TOKEN)")
    serve.add_argument("--admin-host", action="append", default=[], metavar="NAME",
                       help="a name the admin API answers as, besides localhost and the server's addresses (a "
                            "Docker service name, say); repeatable. Other Host headers are refused (DNS rebinding)")
    serve.add_argument("--scenario-dir", action="append", type=Path, default=[], metavar="DIR",
                       help="a folder PUT /_mock/scenario {\"path\": ...} may read scenario files from; repeatable "
                            "(default: the working directory)")
    serve.add_argument("--tls-cert", help="PEM certificate: serve https/wss (the Node SDK's WebSocket needs wss)")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert")
    serve.add_argument("--tls", action="store_true",
                       help="serve https/wss with a self-signed certificate for localhost, 127.0.0.1 and ::1, made "
                            "in --tls-dir (or reused from there while valid); prints the NODE_EXTRA_CA_CERTS a "
                            "Node client needs and the base URL")
    serve.add_argument("--tls-dir", type=Path, default=None,
                       help="where --tls keeps cert.pem and key.pem (default: .realtime-mock/tls in the current "
                            "directory)")
    serve.set_defaults(func=_serve)

    from conformance.recorder import add_record_arguments, record_command
    from conformance.replayer import add_replay_arguments, replay_command

    record = commands.add_parser("record", help="a recording proxy: relay an app to a Realtime server (live or a "
                                 "mock), writing one cassette per connection")
    add_record_arguments(record)
    record.set_defaults(func=record_command)

    replay = commands.add_parser("replay", help="serve recorded cassettes back to an app, reporting what differs")
    add_replay_arguments(replay)
    replay.set_defaults(func=replay_command)

    from conformance.commands import (
        add_conformance_arguments,
        add_migrate_arguments,
        conformance_command,
        migrate_command,
    )

    conformance = commands.add_parser("conformance", help="replay cassettes against the mock or a URL and report "
                                      "drift between the recording, the target and the SDK's schemas")
    add_conformance_arguments(conformance)
    conformance.set_defaults(func=conformance_command)
    migrate = commands.add_parser("migrate", help="what an app's recorded beta traffic must change for GA")
    add_migrate_arguments(migrate)
    migrate.set_defaults(func=migrate_command)

    schemas = commands.add_parser("schemas", help="generate or check schemas/ from the official SDK")
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, func, text in (("generate", _schemas_generate, "regenerate schemas/ from the pinned SDK"),
                             ("check", _schemas_check, "fail if schemas/ differs from what the SDK generates")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--dir", type=Path, default=_default_schemas_dir(), help="the schemas folder")
        action.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
